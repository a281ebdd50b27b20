/*
 * jobs.c: the runner's queries (the "runner jobs" section of store.h). The runner never
 * writes SQL; it claims, renews, finishes and reaps jobs through these functions.
 *
 * DESIGN
 * A job is one runner_jobs row plus one sync_runs row in 'running', created together in
 * the claim transaction. While a job row exists its connector is not claimable. The row's
 * lease (lease_expires_at) is extended by its runner every poll tick; when a runner dies the
 * lease runs out and any runner takes the job over (store_jobs_take_expired re-leases it to
 * itself first, so two survivors never both fail it), fails the run through the webhook
 * effects and deletes the row.
 *
 * Claiming on SQLite: db_begin is BEGIN IMMEDIATE, so claimers on one file are serialised
 * by the write lock and the due query sees every job row already claimed. On PostgreSQL a
 * transaction-scoped advisory lock (CLAIM_ADVISORY_LOCK) gives the same turn-taking, so the
 * due query's snapshot holds every earlier claim and the fairness counts are exact across
 * runners; the locked load of the picked connectors takes "FOR UPDATE OF c SKIP LOCKED" so a
 * connector row that a trigger, pause or delete holds is skipped this round instead of
 * waited for.
 *
 * Cost (docs/runner.md "Claiming", docs/performance.md "Scheduler and claims"): reading the
 * running set is O(running jobs); choosing is one index range in due order (the walk) or, when
 * one tenant's backlog fills it, one index seek per tenant; then one statement locks and loads
 * the picked connectors and two multi-row INSERTs write the run and job rows. Nothing in a
 * claim reads all connectors.
 */
#include "store/store_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* How many due connectors the claim's first query reads in due order (the walk), and how
 * many tenants the fallback looks at (enough to skip tenants at their limit). */
#define CLAIM_WALK 512
#define CLAIM_SCAN 256
/* PostgreSQL advisory lock key that serialises claim transactions ("ivory" in ASCII). */
#define CLAIM_ADVISORY_LOCK INT64_C(0x69766f7279)

/* Fresh (uncached) statements, as the claim and reap queries are built at run time. */
#define jq_prep(d, st, e, ...) store__prep((d), (st), false, (e), __VA_ARGS__)
#define jq_run store__run

void store_job_release(struct store_job *j)
{
    if (!j)
        return;
    store_connector_release(&j->conn);
    if (j->has_catalog)
        store_catalog_release(&j->cat);
    memset(j, 0, sizeof(*j));
}

void store_jobs_free(struct store_job *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        store_job_release(&v[i]);
    free(v);
}

/* A picked connector; the text fields are loaded (owned) by cands_lock_and_load. */
struct cand {
    char id[STORE_ID_MAX], tenant[STORE_ID_MAX];
    char trigger[16];
    char *tap_state, *ns, *table;
};

/* Running jobs per tenant, counted inside the claim transaction. */
struct tcount {
    char tenant[STORE_ID_MAX];
    int n;
};

static int *tcount_slot(struct tcount **v, size_t *n, const char *tenant)
{
    for (size_t i = 0; i < *n; i++)
        if (!strcmp((*v)[i].tenant, tenant))
            return &(*v)[i].n;
    *v = xrealloc(*v, sizeof(**v) * (*n + 1));
    snprintf((*v)[*n].tenant, sizeof((*v)[*n].tenant), "%s", tenant);
    (*v)[*n].n = 0;
    return &(*v)[(*n)++].n;
}

/* The due condition (c = connectors). DUE_RANGE alone is the predicate of the partial
 * indexes connectors_due_next and connectors_due_tenant (migration 8), so the walk below is
 * one index range in due order that no planner estimate can turn into a join; the running
 * checks of DUE_WHERE are applied there in C against the busy set read at the start of the
 * claim, and in SQL only where few rows are left (the locked load, the fallback). */
#define DUE_RANGE " c.status = 'active' AND c.next_run_at IS NOT NULL AND c.next_run_at <= ?"
#define DUE_WHERE                                                                       \
    DUE_RANGE                                                                           \
    " AND NOT EXISTS (SELECT 1 FROM runner_jobs j WHERE j.connector_id = c.id)"         \
    " AND NOT EXISTS (SELECT 1 FROM sync_runs r WHERE r.connector_id = c.id"            \
    "                 AND r.status = 'running')"

/* What one claim transaction knows: its limits, the running jobs per tenant and in total,
 * and the busy set (connectors with a job row or a running run, sorted for bsearch). */
struct claim_ctx {
    struct db *d;
    int64_t now;
    const struct store_claim_limits *lim;
    struct tcount *tc;
    size_t ntc;
    int total;
    int want;             /* how many this claim may take */
    char (*busy)[STORE_ID_MAX];
    size_t nbusy, busy_cap;
};

static int cmp_id(const void *a, const void *b)
{
    return strcmp(a, b);
}

static bool ctx_busy(const struct claim_ctx *x, const char *id)
{
    return x->nbusy && bsearch(id, x->busy, x->nbusy, sizeof(*x->busy), cmp_id) != NULL;
}

static void ctx_add_busy(struct claim_ctx *x, const char *id)
{
    if (x->nbusy == x->busy_cap) {
        x->busy_cap = x->busy_cap ? x->busy_cap * 2 : 64;
        x->busy = xrealloc(x->busy, sizeof(*x->busy) * x->busy_cap);
    }
    snprintf(x->busy[x->nbusy++], STORE_ID_MAX, "%s", id);
}

/* The current load over all runners (job rows per tenant) and the busy set: O(running),
 * which max_concurrent_runs bounds, never O(connectors). */
static int ctx_load_running(struct claim_ctx *x, struct iv_err *e)
{
    struct db_stmt *st = NULL;
    int rc = jq_prep(x->d, &st, e, "SELECT connector_id, tenant_id FROM runner_jobs", "");
    if (rc < 0)
        return rc;
    while ((rc = db_step(st, e)) == DB_ROW) {
        ctx_add_busy(x, db_col_text(st, 0));
        (*tcount_slot(&x->tc, &x->ntc, db_col_text(st, 1)))++;
        x->total++;
    }
    db_finalize(st);
    if (rc < 0)
        return rc;
    rc = jq_prep(x->d, &st, e, "SELECT connector_id FROM sync_runs WHERE status = 'running'", "");
    if (rc < 0)
        return rc;
    while ((rc = db_step(st, e)) == DB_ROW)
        ctx_add_busy(x, db_col_text(st, 0));
    db_finalize(st);
    if (x->nbusy)
        qsort(x->busy, x->nbusy, sizeof(*x->busy), cmp_id);
    return rc < 0 ? rc : IV_OK;
}

/* One tenant's due connectors in due order, as the round-robin sees them. `cap` is how many
 * the tenant may still get in this claim (0: at its limit, it waits). */
struct tqueue {
    char tenant[STORE_ID_MAX];
    int cap;
    size_t n;
    char (*ids)[STORE_ID_MAX];
};

struct tqueues {
    struct tqueue *v;   /* in order of each tenant's earliest due connector */
    size_t n;
    size_t with_room;   /* queues with cap > 0 */
};

static void tqueues_free(struct tqueues *q)
{
    for (size_t i = 0; i < q->n; i++)
        free(q->v[i].ids);
    free(q->v);
    memset(q, 0, sizeof(*q));
}

/* The queue of `tenant`, appended (with its cap from the running counts) when new. */
static struct tqueue *tqueue_of(struct tqueues *q, const char *tenant, struct claim_ctx *x)
{
    for (size_t i = q->n; i-- > 0;)
        if (!strcmp(q->v[i].tenant, tenant))
            return &q->v[i];
    q->v = xrealloc(q->v, sizeof(*q->v) * (q->n + 1));
    struct tqueue *t = &q->v[q->n++];
    memset(t, 0, sizeof(*t));
    snprintf(t->tenant, sizeof(t->tenant), "%s", tenant);
    int room = x->lim->max_per_tenant - *tcount_slot(&x->tc, &x->ntc, tenant);
    t->cap = room <= 0 ? 0 : room < x->want ? room : x->want;
    q->with_room += t->cap > 0;
    return t;
}

static void tqueue_push(struct tqueue *t, const char *id)
{
    if ((int)t->n >= t->cap)
        return;
    t->ids = xrealloc(t->ids, sizeof(*t->ids) * (t->n + 1));
    snprintf(t->ids[t->n++], STORE_ID_MAX, "%s", id);
}

/* The walk: the first CLAIM_WALK due connectors that are not busy, in due order (one index
 * range of at most CLAIM_WALK + busy rows, whatever the number of connectors), queued per
 * tenant. *exact: the queues are what the round-robin over all tenants needs, because the
 * walk saw every due connector, or because it already found `want` tenants with room (then
 * round 0 alone fills the claim, and round 0 takes each tenant's earliest due connector in
 * the order of those earliest connectors: the walk's own order). Otherwise one tenant's
 * backlog filled the walk and the caller falls back to per-tenant seeks. */
static int walk_due(struct claim_ctx *x, struct tqueues *q, bool *exact, struct iv_err *e)
{
    struct db_stmt *st = NULL;
    int64_t limit = CLAIM_WALK + (int64_t)x->nbusy;
    int rc = jq_prep(x->d, &st, e,
                     "SELECT c.id, c.tenant_id FROM connectors c WHERE" DUE_RANGE
                     " ORDER BY c.next_run_at, c.id LIMIT ?", "ii", x->now, limit);
    if (rc < 0)
        return rc;
    int64_t rows = 0;
    while ((rc = db_step(st, e)) == DB_ROW) {
        rows++;
        if (!ctx_busy(x, db_col_text(st, 0)))
            tqueue_push(tqueue_of(q, db_col_text(st, 1), x), db_col_text(st, 0));
    }
    db_finalize(st);
    *exact = rows < limit || (int)q->with_room >= x->want;
    return rc < 0 ? rc : IV_OK;
}

/* The fallback: tenants with due work in the order of their earliest due connector (one
 * index seek per tenant on connectors_due_tenant), then each tenant's first due connectors
 * (one index range each, busy ones skipped in C) until `want` tenants with room have work.
 * O(tenants), never O(connectors). */
static int seek_due_per_tenant(struct claim_ctx *x, struct tqueues *q, struct iv_err *e)
{
    struct db_stmt *st = NULL;
    int rc = jq_prep(x->d, &st, e,
                     "SELECT id, due FROM (SELECT t.id, (SELECT c.next_run_at FROM connectors c"
                     " WHERE c.tenant_id = t.id AND" DUE_WHERE
                     " ORDER BY c.next_run_at LIMIT 1) AS due FROM tenants t) x"
                     " WHERE due IS NOT NULL ORDER BY due, id LIMIT ?",
                     "ii", x->now, (int64_t)CLAIM_SCAN);
    if (rc < 0)
        return rc;
    while ((rc = db_step(st, e)) == DB_ROW)
        tqueue_of(q, db_col_text(st, 0), x);
    db_finalize(st);
    size_t with_work = 0;
    for (size_t i = 0; rc >= 0 && i < q->n && (int)with_work < x->want; i++) {
        struct tqueue *t = &q->v[i];
        if (t->cap <= 0)
            continue;   /* this tenant waits; the others still run */
        rc = jq_prep(x->d, &st, e,
                     "SELECT c.id FROM connectors c WHERE c.tenant_id = ? AND" DUE_RANGE
                     " ORDER BY c.next_run_at, c.id LIMIT ?",
                     "sii", t->tenant, x->now, (int64_t)t->cap + (int64_t)x->nbusy);
        if (rc < 0)
            break;
        while ((rc = db_step(st, e)) == DB_ROW)
            if (!ctx_busy(x, db_col_text(st, 0)))
                tqueue_push(t, db_col_text(st, 0));
        db_finalize(st);
        with_work += t->n > 0;
    }
    return rc < 0 ? rc : IV_OK;
}

/* The claim's SQL grows with the number of connectors it picks (IVORY_MAX_CONCURRENT_RUNS,
 * up to 1024): its buffer's limit is sized from that count, so the statement is never cut. */
static size_t sql_limit(size_t rows, size_t per_row)
{
    return 4096 + rows * (per_row + 2);
}

/* `rows` copies of `row` (e.g. "(?, ?)"), comma-separated, appended to b (IV_ETOOBIG past
 * b's limit). */
static int repeat_rows(struct buf *b, size_t rows, const char *row)
{
    int rc = IV_OK;
    for (size_t r = 0; r < rows && rc == IV_OK; r++) {
        if (r)
            rc = buf_append_str(b, ",");
        if (rc == IV_OK)
            rc = buf_append_str(b, row);
    }
    return rc;
}

/* Locks the picked connectors (PostgreSQL: FOR UPDATE, skipping a row that a trigger, pause
 * or delete holds right now) and loads what the run rows need, checking again that each is
 * due, in one statement. A connector that is no longer claimable is dropped from v (*n
 * shrinks); the order of the rest is kept. */
static int cands_lock_and_load(struct db *d, int64_t now_ms_at, struct cand *v, size_t *n,
                               struct iv_err *e)
{
    if (*n == 0)
        return IV_OK;
    struct buf sql;
    buf_init(&sql, sql_limit(*n, 2));
    int rc = buf_append_str(&sql,
                   "SELECT c.id, c.tap_state, c.iomete_namespace, c.destination_table,"
                   " CASE WHEN c.consecutive_failures > 0 THEN 'retry'"
                   "      WHEN c.updated_at > c.created_at AND c.next_run_at - c.updated_at <= 2000"
                   "           AND c.updated_at - c.next_run_at <= 2000 THEN 'manual'"
                   "      ELSE 'schedule' END"
                   " FROM connectors c WHERE c.id IN (");
    if (rc == IV_OK)
        rc = repeat_rows(&sql, *n, "?");
    if (rc == IV_OK)
        rc = buf_append_str(&sql, ") AND" DUE_WHERE);
    if (rc == IV_OK && db_get_kind(d) == DB_POSTGRES)
        rc = buf_append_str(&sql, " FOR UPDATE OF c SKIP LOCKED");
    if (rc != IV_OK) {
        buf_release(&sql);
        return iv_err_set(e, IV_ETOOBIG, "claim: the statement for %zu connectors is too long",
                          *n);
    }
    char *text = buf_detach(&sql, NULL);
    struct db_stmt *st = NULL;
    rc = db_prepare(d, text, &st, e);
    free(text);
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < *n; i++)
        db_bind_text(st, (int)i + 1, v[i].id);
    db_bind_int64(st, (int)*n + 1, now_ms_at);
    bool *taken = xcalloc(*n, sizeof(*taken));
    while ((rc = db_step(st, e)) == DB_ROW) {
        const char *id = db_col_text(st, 0);
        for (size_t i = 0; i < *n; i++) {
            if (taken[i] || strcmp(v[i].id, id) != 0)
                continue;
            taken[i] = true;
            v[i].tap_state = db_col_strdup(st, 1);
            v[i].ns = db_col_strdup(st, 2);
            v[i].table = db_col_strdup(st, 3);
            snprintf(v[i].trigger, sizeof(v[i].trigger), "%s", db_col_text(st, 4));
            break;
        }
    }
    db_finalize(st);
    size_t kept = 0;
    for (size_t i = 0; i < *n; i++)
        if (taken[i])
            v[kept++] = v[i];
    *n = kept;
    free(taken);
    return rc < 0 ? rc : IV_OK;
}

static void cand_release(struct cand *c)
{
    free(c->tap_state);
    free(c->ns);
    free(c->table);
}

/* Fair claim: tenants with due work and a free per-tenant slot, in the order of their
 * earliest due connector, then round-robin over them (each tenant's first due connector,
 * then each one's second, ...). One tenant's backlog of any size can never hold back
 * another tenant's due run while slots are free (issue 7 point 4; docs/security.md).
 * Cost: one index range of at most CLAIM_WALK rows, or (a backlog filling it) one seek per
 * tenant; then one statement locking and loading the picked connectors (docs/runner.md,
 * "Claiming"). */
static int pick_fairly(struct claim_ctx *x, struct cand **picked, size_t *npicked,
                       struct iv_err *e)
{
    int room_total = x->lim->max_total - x->total;
    x->want = x->lim->max_claim < room_total ? x->lim->max_claim : room_total;
    struct tqueues q = {0};
    bool exact = false;
    int rc = walk_due(x, &q, &exact, e);
    if (rc >= 0 && !exact) {
        tqueues_free(&q);
        rc = seek_due_per_tenant(x, &q, e);
    }
    for (size_t round = 0; rc >= 0 && (int)*npicked < x->want; round++) {
        bool any = false;
        for (size_t i = 0; i < q.n && (int)*npicked < x->want; i++) {
            if (round >= q.v[i].n)
                continue;
            any = true;
            *picked = xrealloc(*picked, sizeof(**picked) * (*npicked + 1));
            struct cand *c = &(*picked)[(*npicked)++];
            memset(c, 0, sizeof(*c));
            snprintf(c->id, sizeof(c->id), "%s", q.v[i].ids[round]);
            snprintf(c->tenant, sizeof(c->tenant), "%s", q.v[i].tenant);
        }
        if (!any)
            break;
    }
    tqueues_free(&q);
    if (rc >= 0)
        rc = cands_lock_and_load(x->d, x->now, *picked, npicked, e);
    return rc < 0 ? rc : IV_OK;
}

/* Prepares `head` followed by `n` copies of `row` (a fresh statement). */
static int prep_rows(struct db *d, struct db_stmt **st, const char *head, size_t n,
                     const char *row, struct iv_err *e)
{
    struct buf sql;
    buf_init(&sql, strlen(head) + sql_limit(n, strlen(row)));
    int rc = buf_append_str(&sql, head);
    if (rc == IV_OK)
        rc = repeat_rows(&sql, n, row);
    if (rc != IV_OK) {
        buf_release(&sql);
        return iv_err_set(e, IV_ETOOBIG, "claim: the statement for %zu rows is too long", n);
    }
    char *text = buf_detach(&sql, NULL);
    rc = db_prepare(d, text, st, e);
    free(text);
    return rc;
}

/* The run rows, then the job rows, of the n claimed connectors: two multi-row INSERTs. */
static int insert_jobs(struct db *d, const char *runner_id, int64_t now_ms_at, int64_t lease_ms,
                       const struct cand *c, const struct store_job *jobs, size_t n,
                       struct iv_err *e)
{
    struct db_stmt *st = NULL;
    int rc = prep_rows(d, &st,
                       "INSERT INTO sync_runs (id, connector_id, tenant_id, status, trigger,"
                       " iomete_table, started_at, state_before, updated_at) VALUES ",
                       n, "(?, ?, ?, 'running', ?, ?, ?, ?, ?)", e);
    if (rc < 0)
        return rc;
    int64_t updated = now_ms();
    for (size_t i = 0; i < n; i++) {
        int k = (int)i * 8;
        char *tbl = xasprintf("%s.%s", c[i].ns ? c[i].ns : "", c[i].table ? c[i].table : "");
        db_bind_text(st, k + 1, jobs[i].run_id);
        db_bind_text(st, k + 2, c[i].id);
        db_bind_text(st, k + 3, c[i].tenant);
        db_bind_text(st, k + 4, c[i].trigger);
        db_bind_text(st, k + 5, tbl);
        db_bind_int64(st, k + 6, now_ms_at);
        db_bind_text(st, k + 7, c[i].tap_state);
        db_bind_int64(st, k + 8, updated);
        free(tbl);
    }
    if ((rc = jq_run(st, e)) < 0)
        return rc;
    rc = prep_rows(d, &st,
                   "INSERT INTO runner_jobs (id, connector_id, run_id, tenant_id, runner_id,"
                   " child_pid, lease_expires_at, log_tail, cancel_requested, created_at) VALUES ",
                   n, "(?, ?, ?, ?, ?, NULL, ?, NULL, 0, ?)", e);
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < n; i++) {
        int k = (int)i * 7;
        db_bind_text(st, k + 1, jobs[i].job_id);
        db_bind_text(st, k + 2, c[i].id);
        db_bind_text(st, k + 3, jobs[i].run_id);
        db_bind_text(st, k + 4, c[i].tenant);
        db_bind_text(st, k + 5, runner_id);
        db_bind_int64(st, k + 6, now_ms_at + lease_ms);
        db_bind_int64(st, k + 7, now_ms_at);
    }
    return jq_run(st, e);
}

int store_jobs_claim(struct store *s, const char *runner_id, int64_t now_ms_at, int64_t lease_ms,
                     const struct store_claim_limits *lim, struct store_job **out, size_t *n_out,
                     struct iv_err *e)
{
    *out = NULL;
    *n_out = 0;
    if (lim->max_claim <= 0)
        return IV_OK;
    struct db *d = store__acquire(s);
    struct db_stmt *st = NULL;
    struct claim_ctx x = {.d = d, .now = now_ms_at, .lim = lim};
    struct cand *picked = NULL;
    size_t npicked = 0;
    int rc = db_begin(d, e);
    if (rc < 0)
        goto out;
    if (db_get_kind(d) == DB_POSTGRES) {
        /* Claims take turns, as on SQLite: under READ COMMITTED a claimer whose due query
         * started before another's commit would not see that claimer's job row (the lock on
         * the connector row is gone by then, so SKIP LOCKED does not help). Each statement
         * after this lock reads a snapshot that holds every earlier claim. */
        rc = jq_prep(d, &st, e, "SELECT pg_advisory_xact_lock(?)", "i", CLAIM_ADVISORY_LOCK);
        if (rc < 0 || (rc = db_step(st, e)) < 0)
            goto fail;
        db_finalize(st);
        st = NULL;
    }

    /* Current load, over all runners. */
    if ((rc = ctx_load_running(&x, e)) < 0)
        goto fail;
    if (x.total >= lim->max_total) {
        rc = IV_OK;
        db_rollback(d);
        goto out;
    }

    rc = pick_fairly(&x, &picked, &npicked, e);
    if (rc < 0)
        goto fail;

    *out = xcalloc(npicked ? npicked : 1, sizeof(**out));
    for (size_t i = 0; i < npicked; i++) {
        struct store_job *j = &(*out)[i];
        uuid_v4(j->job_id);
        uuid_v4(j->run_id);
        snprintf(j->trigger, sizeof(j->trigger), "%s", picked[i].trigger);
        j->started_at = now_ms_at;
    }
    if (npicked > 0 &&
        (rc = insert_jobs(d, runner_id, now_ms_at, lease_ms, picked, *out, npicked, e)) < 0)
        goto fail;
    rc = db_commit(d, e);
    if (rc < 0)
        goto fail;
    store__release(s, d);
    d = NULL;

    /* Outside the transaction: the full rows the run needs (tenant-scoped getters; the
     * connector row alone, without the API's mapping and run counts, which the run does not
     * read). A connector deleted in between simply yields a job whose renewal finds no row. */
    for (size_t i = 0; i < npicked; i++) {
        struct store_job *j = &(*out)[i];
        struct iv_err e2 = {0};
        d = store__acquire(s);
        int got = store__connector_get(d, picked[i].tenant, picked[i].id, &j->conn, &e2);
        store__release(s, d);
        d = NULL;
        if (got != IV_OK) {
            store_connector_release(&j->conn);
            memset(&j->conn, 0, sizeof(j->conn));
            j->conn.id = xstrdup(picked[i].id);
            j->conn.tenant_id = xstrdup(picked[i].tenant);
            continue;
        }
        j->has_catalog = store_catalog_get(s, picked[i].tenant, j->conn.destination_catalog,
                                           &j->cat, &e2) == IV_OK;
        struct store_tenant t;
        if (store_tenant_get(s, picked[i].tenant, &t, &e2) == IV_OK)
            snprintf(j->tenant_slug, sizeof(j->tenant_slug), "%s", t.slug);
    }
    *n_out = npicked;
    rc = IV_OK;
    goto out;
fail:
    db_finalize(st);
    db_rollback(d);
    free(*out);
    *out = NULL;
out:
    for (size_t i = 0; i < npicked; i++)
        cand_release(&picked[i]);
    free(picked);
    free(x.tc);
    free(x.busy);
    if (d)
        store__release(s, d);
    return rc;
}

int store_job_renew(struct store *s, const char *runner_id, const char *job_id,
                    int64_t lease_until, bool *alive_out, bool *cancel_out, struct iv_err *e)
{
    struct db *d = store__acquire(s);
    struct db_stmt *st = NULL;
    *alive_out = true;
    if (cancel_out)
        *cancel_out = false;
    int rc = jq_prep(d, &st, e,
                     "UPDATE runner_jobs SET lease_expires_at = ? WHERE id = ? AND runner_id = ?",
                     "iss", lease_until, job_id, runner_id);
    if (rc < 0 || (rc = jq_run(st, e)) < 0)
        goto out;
    if (db_changes(d) == 0) {
        *alive_out = false;
        goto out;
    }
    st = NULL;
    rc = jq_prep(d, &st, e, "SELECT cancel_requested FROM runner_jobs WHERE id = ?", "s", job_id);
    if (rc < 0)
        goto out;
    rc = db_step(st, e);
    if (rc == DB_ROW) {
        *alive_out = db_col_int64(st, 0) == 0;
        if (cancel_out)
            *cancel_out = !*alive_out;
    } else if (rc == DB_DONE)
        *alive_out = false;
    db_finalize(st);
    rc = rc < 0 ? rc : IV_OK;
out:
    store__release(s, d);
    return rc;
}

int store_job_update(struct store *s, const char *job_id, int64_t child_pid, const char *log_tail,
                     struct iv_err *e)
{
    struct db *d = store__acquire(s);
    struct db_stmt *st = NULL;
    int rc = IV_OK;
    if (child_pid > 0) {
        rc = jq_prep(d, &st, e, "UPDATE runner_jobs SET child_pid = ? WHERE id = ?", "is",
                     child_pid, job_id);
        if (rc < 0 || (rc = jq_run(st, e)) < 0)
            goto out;
    }
    if (log_tail) {
        rc = jq_prep(d, &st, e, "UPDATE runner_jobs SET log_tail = ? WHERE id = ?", "ss",
                     log_tail, job_id);
        if (rc < 0 || (rc = jq_run(st, e)) < 0)
            goto out;
    }
out:
    store__release(s, d);
    return rc;
}

int store_job_set_tables(struct store *s, const char *run_id, const char *iomete_table,
                         struct iv_err *e)
{
    return store__exec(s, false, NULL, e,
                       "UPDATE sync_runs SET iomete_table = ? WHERE id = ? AND status = 'running'",
                       "ss", iomete_table, run_id);
}

int store_job_finish(struct store *s, const char *job_id, const char *run_id,
                     const char *log_tail, struct iv_err *e)
{
    struct db *d = store__acquire(s);
    struct db_stmt *st = NULL;
    int rc = db_begin(d, e);
    if (rc < 0)
        goto out;
    if (log_tail)
        rc = jq_prep(d, &st, e, "UPDATE sync_runs SET log_tail = ? WHERE id = ?", "ss", log_tail,
                     run_id);
    else
        rc = jq_prep(d, &st, e,
                     "UPDATE sync_runs SET log_tail = (SELECT j.log_tail FROM runner_jobs j"
                     " WHERE j.id = ?) WHERE id = ? AND EXISTS (SELECT 1 FROM runner_jobs j"
                     " WHERE j.id = ? AND j.log_tail IS NOT NULL)",
                     "sss", job_id, run_id, job_id);
    if (rc < 0 || (rc = jq_run(st, e)) < 0)
        goto fail;
    rc = jq_prep(d, &st, e, "DELETE FROM runner_jobs WHERE id = ?", "s", job_id);
    if (rc < 0 || (rc = jq_run(st, e)) < 0)
        goto fail;
    rc = db_commit(d, e);
    if (rc < 0)
        goto fail;
    goto out;
fail:
    db_rollback(d);
out:
    store__release(s, d);
    return rc;
}

int store_jobs_take_expired(struct store *s, const char *runner_id, int64_t now_ms_at,
                            int64_t lease_ms, struct store_dead_job **out, size_t *n_out,
                            struct iv_err *e)
{
    *out = NULL;
    *n_out = 0;
    struct db *d = store__acquire(s);
    struct db_stmt *st = NULL;
    struct store_dead_job *v = NULL;
    size_t n = 0;
    int rc = db_begin(d, e);
    if (rc < 0)
        goto out;
    const char *lock = db_get_kind(d) == DB_POSTGRES ? " FOR UPDATE OF j SKIP LOCKED" : "";
    char *sql = xasprintf("SELECT j.id, j.run_id, j.connector_id, j.tenant_id, j.runner_id,"
                          " r.started_at, j.child_pid, r.rows_loaded"
                          " FROM runner_jobs j JOIN sync_runs r ON r.id = j.run_id"
                          " WHERE j.lease_expires_at < ? ORDER BY j.lease_expires_at LIMIT 64%s",
                          lock);
    rc = jq_prep(d, &st, e, sql, "i", now_ms_at);
    free(sql);
    if (rc < 0)
        goto fail;
    while ((rc = db_step(st, e)) == DB_ROW) {
        v = xrealloc(v, sizeof(*v) * (n + 1));
        struct store_dead_job *j = &v[n++];
        memset(j, 0, sizeof(*j));
        snprintf(j->job_id, sizeof(j->job_id), "%s", db_col_text(st, 0));
        snprintf(j->run_id, sizeof(j->run_id), "%s", db_col_text(st, 1));
        snprintf(j->connector_id, sizeof(j->connector_id), "%s", db_col_text(st, 2));
        snprintf(j->tenant_id, sizeof(j->tenant_id), "%s", db_col_text(st, 3));
        const char *rid = db_col_text(st, 4);
        snprintf(j->runner_id, sizeof(j->runner_id), "%s", rid ? rid : "?");
        j->started_at = db_col_int64(st, 5);
        j->child_pid = db_col_int64(st, 6);
        j->rows_committed = db_col_int64(st, 7);
    }
    db_finalize(st);
    st = NULL;
    if (rc < 0)
        goto fail;
    for (size_t i = 0; i < n; i++) {
        rc = jq_prep(d, &st, e,
                     "UPDATE runner_jobs SET runner_id = ?, lease_expires_at = ?, child_pid = NULL"
                     " WHERE id = ?", "sis", runner_id, now_ms_at + lease_ms, v[i].job_id);
        if (rc < 0 || (rc = jq_run(st, e)) < 0) {
            st = NULL;
            goto fail;
        }
        st = NULL;
    }
    rc = db_commit(d, e);
    if (rc < 0)
        goto fail;
    *out = v;
    *n_out = n;
    v = NULL;
    goto out;
fail:
    db_finalize(st);
    db_rollback(d);
out:
    free(v);
    store__release(s, d);
    return rc;
}

int store_job_run_info(struct store *s, const char *tenant_id, const char *connector_id,
                       const char *run_id, bool *exists, char status_out[16],
                       bool *later_completed_out, struct iv_err *e)
{
    struct db *d = store__acquire(s);
    struct db_stmt *st = NULL;
    *exists = false;
    *later_completed_out = false;
    status_out[0] = '\0';
    int rc = jq_prep(d, &st, e,
                     "SELECT r.status, (SELECT COUNT(*) FROM sync_runs l WHERE l.tenant_id = ?"
                     " AND l.connector_id = ? AND l.status = 'completed'"
                     " AND l.started_at > r.started_at)"
                     " FROM sync_runs r WHERE r.tenant_id = ? AND r.connector_id = ? AND r.id = ?",
                     "sssss", tenant_id, connector_id, tenant_id, connector_id, run_id);
    if (rc < 0)
        goto out;
    rc = db_step(st, e);
    if (rc == DB_ROW) {
        *exists = true;
        snprintf(status_out, 16, "%s", db_col_text(st, 0));
        *later_completed_out = db_col_int64(st, 1) > 0;
    }
    rc = rc < 0 ? rc : IV_OK;
out:
    db_finalize(st);
    store__release(s, d);
    return rc;
}

int store_job_set_bookmark(struct store *s, const char *tenant_id, const char *connector_id,
                           const char *state_json, struct iv_err *e)
{
    return store__exec(s, false, NULL, e,
                       "UPDATE connectors SET tap_state = ?, updated_at = updated_at"
                       " WHERE tenant_id = ? AND id = ?", "sss", state_json, tenant_id,
                       connector_id);
}

int store_job_set_progress(struct store *s, const char *run_id, int64_t rows_committed,
                           struct iv_err *e)
{
    return store__exec(s, false, NULL, e,
                       "UPDATE sync_runs SET rows_loaded = ? WHERE id = ? AND status = 'running'",
                       "is", rows_committed, run_id);
}

int store_job_add_rows(struct store *s, const char *tenant_id, const char *connector_id,
                       int64_t rows, struct iv_err *e)
{
    return store__exec(s, false, NULL, e,
                       "UPDATE connectors SET rows_total = rows_total + ?, updated_at = updated_at"
                       " WHERE tenant_id = ? AND id = ?", "iss", rows, tenant_id, connector_id);
}

int store_job_holder(struct store *s, const char *tenant_id, const char *run_id, bool *held,
                     char runner_out[STORE_RUNNER_ID_MAX], struct iv_err *e)
{
    struct db *d = store__acquire(s);
    struct db_stmt *st = NULL;
    *held = false;
    runner_out[0] = '\0';
    int rc = jq_prep(d, &st, e, "SELECT runner_id FROM runner_jobs WHERE tenant_id = ? AND"
                     " run_id = ?", "ss", tenant_id, run_id);
    if (rc < 0)
        goto out;
    rc = db_step(st, e);
    if (rc == DB_ROW) {
        *held = true;
        const char *rid = db_col_text(st, 0);
        snprintf(runner_out, STORE_RUNNER_ID_MAX, "%s", rid ? rid : "");
    }
    rc = rc < 0 ? rc : IV_OK;
out:
    db_finalize(st);
    store__release(s, d);
    return rc;
}
