/*
 * ops.c: the store side of operating a connector day to day (docs/api.md, "Operating a
 * connector"): PATCH without losing the bookmark, the bookmark itself (read, replace while
 * paused, resync), webhook-secret rotation with a grace period, one run's detail, progress
 * and cancellation, keyset paging of the list, and the operator's aggregate metrics.
 *
 * Same rules as store.c: every tenant query filters by tenant, each call is one transaction,
 * status never changes here (none of these is a status transition). Audit: a bookmark edit
 * or a resync leaves a run row (trigger 'state_edit' / 'resync', status 'completed', with the
 * state before and after), so the run history says who moved the bookmark and from what.
 * That row also tells the bookmark reconciliation before the next run (runner/sync.c) that a
 * later decision superseded whatever STATE an earlier failed run committed.
 */
#include "store/store_internal.h"

#include <stdio.h>
#include <string.h>

#define q_prep(d, st, e, ...) store__prep((d), (st), true, (e), __VA_ARGS__)

bool store_schema_drift_valid(const char *p)
{
    return p && (!strcmp(p, "evolve") || !strcmp(p, "freeze") || !strcmp(p, "discard_row"));
}

/* Begins a write transaction on a pooled connection and loads the tenant's connector. */
static int begin_with_connector(struct store *s, struct db **d_out, const char *tenant_id,
                                const char *id, struct store_connector *c, struct iv_err *e)
{
    struct db *d = store__acquire(s);
    int rc = db_begin(d, e);
    if (rc == IV_OK) {
        rc = store__connector_get(d, tenant_id, id, c, e);
        if (rc < 0)
            db_rollback(d);
    }
    if (rc < 0) {
        store__release(s, d);
        return rc;
    }
    *d_out = d;
    return IV_OK;
}

/* Commits (or, on rc < 0, rolls back) and returns the connection. */
static int end_transaction(struct store *s, struct db *d, int rc, struct iv_err *e)
{
    if (rc == IV_OK)
        rc = db_commit(d, e);
    if (rc < 0)
        db_rollback(d);
    store__release(s, d);
    return rc;
}

static int refuse_while_running(struct db *d, const char *tenant_id, const char *id,
                                const char *what, struct iv_err *e)
{
    bool running = false;
    int rc = store__has_running_run(d, tenant_id, id, &running, e);
    if (rc == IV_OK && running)
        rc = iv_err_set(e, IV_ECONFLICT, "%s cannot change while a run is in progress", what);
    return rc;
}

/* The first field of p that a run in flight depends on, or NULL. */
static const char *field_affecting_a_run(const struct store_connector_patch *p)
{
    if (p->config_encrypted || p->config_clear)
        return "config_encrypted";
    if (p->tap_version || p->tap_version_clear)
        return "tap_version";
    if (p->meltano_environment)
        return "meltano_environment";
    if (p->destination_table)
        return "destination_table";
    if (p->schema_drift)
        return "schema_drift";
    return NULL;
}

int store_connector_patch(struct store *s, const char *tenant_id, const char *id,
                          const struct store_connector_patch *p, struct iv_err *e)
{
    struct db *d = NULL;
    struct db_stmt *st = NULL;
    struct store_connector c = {0};
    int rc = begin_with_connector(s, &d, tenant_id, id, &c, e);
    if (rc < 0)
        return rc;
    const char *affecting = field_affecting_a_run(p);
    if (affecting)
        rc = refuse_while_running(d, tenant_id, id, affecting, e);
    int64_t now = now_ms();
    if (rc == IV_OK)
        rc = q_prep(d, &st, e,
                    "UPDATE connectors SET sync_schedule = COALESCE(?, sync_schedule),"
                    " next_run_at = CASE WHEN ? = 1 AND status = 'active' AND"
                    " (next_run_at IS NULL OR next_run_at > ?) THEN ? ELSE next_run_at END,"
                    " config_encrypted = CASE WHEN ? = 1 THEN NULL"
                    " ELSE COALESCE(?, config_encrypted) END,"
                    " tap_version = CASE WHEN ? = 1 THEN NULL ELSE COALESCE(?, tap_version) END,"
                    " meltano_environment = COALESCE(?, meltano_environment),"
                    " destination_table = COALESCE(?, destination_table),"
                    " schema_drift = COALESCE(?, schema_drift), updated_at = ?"
                    " WHERE tenant_id = ? AND id = ?",
                    "siitisissssiss", p->sync_schedule, (int64_t)(p->sync_schedule != NULL),
                    now, p->next_run_at, (int64_t)p->config_clear, p->config_encrypted,
                    (int64_t)p->tap_version_clear, p->tap_version, p->meltano_environment,
                    p->destination_table, p->schema_drift, now, tenant_id, id);
    if (rc == IV_OK)
        rc = store__run(st, e);
    store_connector_release(&c);
    return end_transaction(s, d, rc, e);
}

int store_connector_ops_info(struct store *s, const char *tenant_id, const char *id,
                             char policy_out[16], bool *running_out, struct iv_err *e)
{
    struct db *d = store__acquire(s);
    struct db_stmt *st = NULL;
    int rc = q_prep(d, &st, e, "SELECT schema_drift FROM connectors WHERE tenant_id = ? AND id = ?",
                    "ss", tenant_id, id);
    if (rc == IV_OK) {
        rc = db_step(st, e);
        if (rc == DB_ROW) {
            snprintf(policy_out, 16, "%s", db_col_text(st, 0) ? db_col_text(st, 0) : "evolve");
            rc = IV_OK;
        } else if (rc == DB_DONE) {
            rc = iv_err_set(e, IV_ENOTFOUND, "connector '%s' not found", id);
        }
        db_finalize(st);
    }
    if (rc == IV_OK)
        rc = store__has_running_run(d, tenant_id, id, running_out, e);
    store__release(s, d);
    return rc;
}

/* The audit row of a bookmark change: a finished run with no rows. */
static int insert_state_run(struct db *d, const char *tenant_id, const char *connector_id,
                            const char *run_id, const char *trigger, const char *before,
                            const char *after, struct iv_err *e)
{
    struct db_stmt *st = NULL;
    int64_t now = now_ms();
    int rc = q_prep(d, &st, e,
                    "INSERT INTO sync_runs (id, connector_id, tenant_id, status, trigger,"
                    " started_at, completed_at, state_before, state_after, updated_at)"
                    " VALUES (?, ?, ?, 'completed', ?, ?, ?, ?, ?, ?)",
                    "ssssiissi", run_id, connector_id, tenant_id, trigger, now, now, before,
                    after, now);
    return rc < 0 ? rc : store__run(st, e);
}

int store_connector_state_put(struct store *s, const char *tenant_id, const char *id,
                              const char *run_id, const char *state_json, struct iv_err *e)
{
    struct db *d = NULL;
    struct db_stmt *st = NULL;
    struct store_connector c = {0};
    int rc = begin_with_connector(s, &d, tenant_id, id, &c, e);
    if (rc < 0)
        return rc;
    if (c.status != CONN_PAUSED)
        rc = iv_err_set(e, IV_ECONFLICT, "the bookmark can only be replaced while the connector"
                                         " is paused (it is %s)", store_conn_status_name(c.status));
    if (rc == IV_OK)
        rc = refuse_while_running(d, tenant_id, id, "the bookmark", e);
    if (rc == IV_OK)
        rc = q_prep(d, &st, e,
                    "UPDATE connectors SET tap_state = ?, updated_at = ? WHERE tenant_id = ? AND id = ?",
                    "siss", state_json, now_ms(), tenant_id, id);
    if (rc == IV_OK)
        rc = store__run(st, e);
    if (rc == IV_OK)
        rc = insert_state_run(d, tenant_id, id, run_id, "state_edit", c.tap_state, state_json, e);
    store_connector_release(&c);
    return end_transaction(s, d, rc, e);
}

int store_connector_resync(struct store *s, const char *tenant_id, const char *id,
                           const char *run_id, int64_t now_ms_at, struct iv_err *e)
{
    struct db *d = NULL;
    struct db_stmt *st = NULL;
    struct store_connector c = {0};
    int rc = begin_with_connector(s, &d, tenant_id, id, &c, e);
    if (rc < 0)
        return rc;
    if (c.status != CONN_ACTIVE)
        rc = iv_err_set(e, IV_ECONFLICT, "connector is %s; resume it first",
                        store_conn_status_name(c.status));
    if (rc == IV_OK)
        rc = refuse_while_running(d, tenant_id, id, "the bookmark", e);
    if (rc == IV_OK)
        rc = q_prep(d, &st, e,
                    "UPDATE connectors SET tap_state = NULL, next_run_at = ?, updated_at = ?"
                    " WHERE tenant_id = ? AND id = ?",
                    "iiss", now_ms_at, now_ms(), tenant_id, id);
    if (rc == IV_OK)
        rc = store__run(st, e);
    if (rc == IV_OK)
        rc = insert_state_run(d, tenant_id, id, run_id, "resync", c.tap_state, NULL, e);
    store_connector_release(&c);
    return end_transaction(s, d, rc, e);
}

int store_webhook_rotate(struct store *s, const char *tenant_id, const char *id,
                         const char *new_sealed, int64_t prev_until, struct iv_err *e)
{
    int64_t changed = 0;
    int rc = store__exec(s, true, &changed, e,
                         "UPDATE connectors SET webhook_secret_prev_enc = webhook_secret_enc,"
                         " webhook_secret_prev_until = ?, webhook_secret_enc = ?, updated_at = ?"
                         " WHERE tenant_id = ? AND id = ?",
                         "isiss", prev_until, new_sealed, now_ms(), tenant_id, id);
    if (rc == IV_OK && changed == 0)
        rc = iv_err_set(e, IV_ENOTFOUND, "connector '%s' not found", id);
    return rc;
}

int store_webhook_previous(struct store *s, const char *connector_id, int64_t now_ms_at,
                           char **prev_out, struct iv_err *e)
{
    struct db *d = store__acquire(s);
    struct db_stmt *st = NULL;
    *prev_out = NULL;
    int rc = q_prep(d, &st, e,
                    "SELECT webhook_secret_prev_enc FROM connectors WHERE id = ?"
                    " AND webhook_secret_prev_enc IS NOT NULL AND webhook_secret_prev_until > ?",
                    "si", connector_id, now_ms_at);
    if (rc == IV_OK) {
        rc = db_step(st, e);
        if (rc == DB_ROW)
            *prev_out = db_col_strdup(st, 0);
        rc = rc < 0 ? rc : IV_OK;
        db_finalize(st);
    }
    store__release(s, d);
    return rc;
}

void store_run_detail_release(struct store_run_detail *r)
{
    if (!r)
        return;
    store_run_release(&r->run);
    free(r->stream_rows);
    free(r->transform_samples);
    free(r->schema_changes);
    memset(r, 0, sizeof *r);
}

int store_run_get(struct store *s, const char *tenant_id, const char *connector_id,
                  const char *run_id, struct store_run_detail *out, struct iv_err *e)
{
    struct db *d = store__acquire(s);
    struct db_stmt *st = NULL;
    memset(out, 0, sizeof *out);
    char *sql = xasprintf("SELECT %s, rows_committed, last_checkpoint_at, stream_rows,"
                          " transform_samples, schema_changes FROM sync_runs WHERE tenant_id = ? AND connector_id = ? AND id = ?",
                          store__run_cols);
    int rc = store__prep(d, &st, false, e, sql, "sss", tenant_id, connector_id, run_id);
    free(sql);
    if (rc == IV_OK) {
        rc = db_step(st, e);
        if (rc == DB_ROW) {
            store__run_from_row(st, &out->run);
            out->rows_committed = db_col_int64(st, 16);
            out->last_checkpoint_at = store__col_time(st, 17);
            out->stream_rows = db_col_strdup(st, 18);
            out->transform_samples = db_col_strdup(st, 19);
            out->schema_changes = db_col_strdup(st, 20);
            rc = IV_OK;
        } else if (rc == DB_DONE) {
            rc = iv_err_set(e, IV_ENOTFOUND, "run '%s' not found", run_id);
        }
        db_finalize(st);
        st = NULL;
    }
    if (rc == IV_OK)
        rc = q_prep(d, &st, e, "SELECT cancel_requested FROM runner_jobs WHERE run_id = ?"
                               " AND tenant_id = ?", "ss", run_id, tenant_id);
    if (rc == IV_OK) {
        rc = db_step(st, e);
        if (rc == DB_ROW) {
            out->has_job = true;
            out->cancel_requested = db_col_int64(st, 0) != 0;
        }
        rc = rc < 0 ? rc : IV_OK;
        db_finalize(st);
    }
    if (rc < 0)
        store_run_detail_release(out);
    store__release(s, d);
    return rc;
}

int store_run_cancel(struct store *s, const char *tenant_id, const char *connector_id,
                     const char *run_id, bool *immediate_out, struct iv_err *e)
{
    struct db *d = store__acquire(s);
    struct db_stmt *st = NULL;
    *immediate_out = false;
    int rc = db_begin(d, e);
    if (rc < 0)
        goto out;
    rc = q_prep(d, &st, e, "SELECT status FROM sync_runs WHERE tenant_id = ? AND connector_id = ?"
                           " AND id = ?", "sss", tenant_id, connector_id, run_id);
    if (rc == IV_OK) {
        rc = db_step(st, e);
        if (rc == DB_DONE)
            rc = iv_err_set(e, IV_ENOTFOUND, "run '%s' not found", run_id);
        else if (rc == DB_ROW && strcmp(db_col_text(st, 0), "running") != 0)
            rc = iv_err_set(e, IV_ECONFLICT, "the run is %s, not running", db_col_text(st, 0));
        else if (rc == DB_ROW)
            rc = IV_OK;
        db_finalize(st);
        st = NULL;
    }
    int64_t changed = 0;
    if (rc == IV_OK)
        rc = q_prep(d, &st, e, "UPDATE runner_jobs SET cancel_requested = 1 WHERE run_id = ?"
                               " AND tenant_id = ?", "ss", run_id, tenant_id);
    if (rc == IV_OK) {
        rc = store__run(st, e);
        changed = db_changes(d);
    }
    if (rc == IV_OK && changed == 0) {
        /* Nobody here runs it (an external runner created it): end it now. Its runner's
         * webhook will find it finished and change nothing. */
        int64_t now = now_ms();
        rc = q_prep(d, &st, e,
                    "UPDATE sync_runs SET status = 'cancelled', completed_at = ?, error_msg ="
                    " 'cancelled on request', updated_at = ? WHERE tenant_id = ? AND id = ?",
                    "iiss", now, now, tenant_id, run_id);
        if (rc == IV_OK)
            rc = store__run(st, e);
        *immediate_out = rc == IV_OK;
    }
    if (rc == IV_OK)
        rc = db_commit(d, e);
    if (rc < 0)
        db_rollback(d);
out:
    store__release(s, d);
    return rc;
}

int store_run_progress(struct store *s, const char *run_id, int64_t rows_read,
                       int64_t rows_committed, int64_t checkpoint_at, const char *stream_rows,
                       struct iv_err *e)
{
    return store__exec(s, true, NULL, e,
                       "UPDATE sync_runs SET rows_synced = ?, rows_committed = ?,"
                       " last_checkpoint_at = COALESCE(?, last_checkpoint_at),"
                       " stream_rows = COALESCE(?, stream_rows), updated_at = ?"
                       " WHERE id = ? AND status = 'running'",
                       "iitsis", rows_read, rows_committed, checkpoint_at, stream_rows, now_ms(),
                       run_id);
}

int store_run_set_load_report(struct store *s, const char *tenant_id, const char *run_id,
                              const char *stream_rows, const char *schema_changes,
                              struct iv_err *e)
{
    return store__exec(s, true, NULL, e,
                       "UPDATE sync_runs SET stream_rows = COALESCE(?, stream_rows),"
                       " schema_changes = COALESCE(?, schema_changes), updated_at = ?"
                       " WHERE tenant_id = ? AND id = ?",
                       "ssiss", stream_rows, schema_changes, now_ms(), tenant_id, run_id);
}

int store_connector_page(struct store *s, const char *tenant_id,
                         const struct store_page_filter *f, store_connector_visit_fn fn,
                         void *ctx, bool *more_out, struct iv_err *e)
{
    struct db *d = store__acquire(s);
    struct db_stmt *st = NULL;
    *more_out = false;
    bool from_start = f->after_created == STORE_NULL_TIME || !f->after_id;
    char *sql = xasprintf("%s WHERE c.tenant_id = ? AND (CAST(? AS TEXT) IS NULL OR c.status = ?)"
                          " AND (CAST(? AS TEXT) IS NULL OR c.source_system = ?)"
                          " AND (? = 1 OR c.created_at > ? OR (c.created_at = ? AND c.id > ?))"
                          " ORDER BY c.created_at, c.id LIMIT ?",
                          store__connector_list_select);
    int rc = store__prep(d, &st, false, e, sql, "sssssiiisi", tenant_id, f->status, f->status,
                         f->source_system, f->source_system, (int64_t)from_start,
                         from_start ? 0 : f->after_created, from_start ? 0 : f->after_created,
                         from_start ? "" : f->after_id, (int64_t)f->limit + 1);
    free(sql);
    int n = 0;
    while (rc == IV_OK && (rc = db_step(st, e)) == DB_ROW) {
        if (n == f->limit) {
            *more_out = true;
            break;
        }
        struct store_connector c;
        store__connector_borrow_row(st, &c);
        rc = fn(ctx, &c);
        n++;
    }
    if (rc == DB_ROW || rc == DB_DONE)
        rc = IV_OK;
    db_finalize(st);
    store__release(s, d);
    return rc;
}

/* ---- metrics --------------------------------------------------------------------------------- */

const int64_t store_duration_bucket_s[STORE_DURATION_BUCKETS] = {1,   5,    15,    60,   300,
                                                                 900, 3600, 10800, 43200};
const char *const store_metric_run_status[4] = {"running", "completed", "failed", "cancelled"};
const char *const store_metric_run_trigger[6] = {"schedule", "manual", "retry", "state_edit",
                                                 "resync", "other"};

static int index_of(const char *const *names, int n, const char *v, int fallback)
{
    for (int i = 0; v && i < n; i++)
        if (!strcmp(names[i], v))
            return i;
    return fallback;
}

/* Runs one aggregate query and hands each row to fn. */
static int each_row(struct db *d, const char *sql, void (*fn)(struct db_stmt *, void *),
                    void *ctx, struct iv_err *e)
{
    struct db_stmt *st = NULL;
    int rc = store__prep(d, &st, false, e, sql, "");
    while (rc == IV_OK && (rc = db_step(st, e)) == DB_ROW) {
        fn(st, ctx);
        rc = IV_OK;
    }
    db_finalize(st);
    return rc < 0 ? rc : IV_OK;
}

static void conn_row(struct db_stmt *st, void *ctx)
{
    struct store_metrics *m = ctx;
    enum store_conn_status status;
    if (store_conn_status_parse(db_col_text(st, 0), &status) == IV_OK)
        m->connectors[status] += db_col_int64(st, 1);
}

static void run_row(struct db_stmt *st, void *ctx)
{
    struct store_metrics *m = ctx;
    int si = index_of(store_metric_run_status, 4, db_col_text(st, 0), -1);
    int ti = index_of(store_metric_run_trigger, 6, db_col_text(st, 1), 5);
    if (si >= 0)
        m->runs[si][ti] += db_col_int64(st, 2);
}

static void totals_row(struct db_stmt *st, void *ctx)
{
    struct store_metrics *m = ctx;
    m->rows_synced = db_col_int64(st, 0);
    m->rows_loaded = db_col_int64(st, 1);
    m->transform_errors = db_col_int64(st, 2);
    m->running_jobs = db_col_int64(st, 3);
    m->claims = db_col_int64(st, 4);
    m->lease_expiries = db_col_int64(st, 5);
}

static void duration_row(struct db_stmt *st, void *ctx)
{
    struct store_metrics *m = ctx;
    m->duration_count = db_col_int64(st, 0);
    m->duration_sum_s = db_col_int64(st, 1) / 1000;
    for (int i = 0; i < STORE_DURATION_BUCKETS; i++)
        m->duration_le[i] = db_col_int64(st, 2 + i);
}

int store_metrics_collect(struct store *s, struct store_metrics *out, struct iv_err *e)
{
    memset(out, 0, sizeof *out);
    struct buf q;
    buf_init(&q, 4096);
    buf_append_str(&q, "SELECT COUNT(*), COALESCE(SUM(d), 0)");
    for (int i = 0; i < STORE_DURATION_BUCKETS; i++)
        buf_printf(&q, ", COALESCE(SUM(CASE WHEN d <= %lld THEN 1 ELSE 0 END), 0)",
                   (long long)store_duration_bucket_s[i] * 1000);
    buf_append_str(&q, " FROM (SELECT completed_at - started_at AS d FROM sync_runs"
                 " WHERE completed_at IS NOT NULL AND status <> 'running'"
                 " AND trigger NOT IN ('state_edit', 'resync')) durations");
    struct db *d = store__acquire(s);
    int rc = db_begin_read(d, e);
    if (rc == IV_OK)
        rc = each_row(d, "SELECT status, COUNT(*) FROM connectors GROUP BY status", conn_row, out,
                      e);
    if (rc == IV_OK)
        rc = each_row(d, "SELECT status, trigger, COUNT(*) FROM sync_runs GROUP BY status, trigger",
                      run_row, out, e);
    if (rc == IV_OK)
        rc = each_row(d, "SELECT COALESCE(SUM(rows_synced), 0), COALESCE(SUM(rows_loaded), 0),"
                         " COALESCE(SUM(transform_errors), 0), (SELECT COUNT(*) FROM runner_jobs),"
                         " COALESCE(SUM(CASE WHEN trigger IN ('schedule', 'manual', 'retry')"
                         " THEN 1 ELSE 0 END), 0),"
                         " COALESCE(SUM(CASE WHEN error_msg LIKE '%stopped renewing its lease%'"
                         " THEN 1 ELSE 0 END), 0) FROM sync_runs", totals_row, out, e);
    if (rc == IV_OK)
        rc = each_row(d, q.data, duration_row, out, e);
    db_rollback(d);
    store__release(s, d);
    buf_release(&q);
    return rc;
}
