/*
 * store.c: connection pool, tenants, catalogs, connectors, runs and the
 * webhook's effects. See store.h for the rules (tenant scoping, one status
 * transition function, no HTTP/cron/crypto knowledge).
 *
 * Every multi-statement change runs in one transaction (db_begin = BEGIN
 * IMMEDIATE on SQLite), so a rejected request or a crash leaves nothing
 * half-written.
 */
#include "store/store_internal.h"

#include <assert.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- pool ------------------------------------------------------------------ */

struct store {
    char *url;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct db **idle;
    int n_idle, n_open, max;
    /* Wake-ups for store_wait_for_work: a self-pipe written by store_wake (in this process)
     * and, on PostgreSQL, one extra connection that LISTENs to STORE_WORK_CHANNEL. */
    int wake[2];
    struct db *listener;
    bool listener_lost;            /* the LISTEN connection went away; re-opened by the waiter */
    void (*wake_fn)(void *);       /* store_set_wake_hook; under lock */
    void *wake_ctx;
    /* PostgreSQL: the NOTIFY after a commit that made work due, sent by one thread per store
     * (store__notify_after_commit). All under lock. */
    pthread_t notifier;
    pthread_cond_t notify_cond;
    bool notifier_running, notify_wanted, notifier_stop;
};

#define STORE_WORK_CHANNEL "ivory_work"

static void store__announce_work(struct store *s);

void store_set_wake_hook(struct store *s, void (*fn)(void *), void *ctx)
{
    pthread_mutex_lock(&s->lock);
    s->wake_fn = fn;
    s->wake_ctx = ctx;
    pthread_mutex_unlock(&s->lock);
}

void store__wake(struct store *s)
{
    pthread_mutex_lock(&s->lock);
    void (*fn)(void *) = s->wake_fn;
    void *ctx = s->wake_ctx;
    pthread_mutex_unlock(&s->lock);
    if (fn)
        fn(ctx);
    store__announce_work(s);   /* a runner waiting here, and runners in other processes */
}

/* ---- post-commit NOTIFY (PostgreSQL) ---------------------------------------------------- */

/* Why not NOTIFY inside the writing transaction, where it is delivered exactly at commit:
 * PostgreSQL serialises the commits of all notifying transactions of the cluster (a global
 * lock taken before commit and held through its WAL flush), so every trigger waited for every
 * other's fsync. Instead the writer commits, then asks this store's notifier thread for a
 * NOTIFY: one is in flight at a time, and every request made before a NOTIFY starts is covered
 * by it (the flag is cleared before sending), so triggers that arrive together share one.
 * A runner that hears it then finds the committed work. If the process dies between the
 * commit and the NOTIFY, the runners' poll is the safety net (docs/runner.md). */
static void *store__notifier_main(void *arg)
{
    struct store *s = arg;
    pthread_mutex_lock(&s->lock);
    for (;;) {
        while (!s->notify_wanted && !s->notifier_stop)
            pthread_cond_wait(&s->notify_cond, &s->lock);
        if (!s->notify_wanted)
            break;                 /* stopping, nothing left to send */
        s->notify_wanted = false;
        pthread_mutex_unlock(&s->lock);
        struct iv_err e = {0};
        struct db *d = store__acquire(s);
        if (db_exec(d, "NOTIFY " STORE_WORK_CHANNEL, &e) < 0)
            log_warn("store: NOTIFY %s failed (%s): runners find the work at their next poll",
                     STORE_WORK_CHANNEL, e.msg);
        store__release(s, d);
        pthread_mutex_lock(&s->lock);
    }
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

/* After a commit that made work due: wakes this process's runner (store_wake) and, on
 * PostgreSQL, has the notifier thread (started on first use) NOTIFY the other processes. */
static void store__announce_work(struct store *s)
{
    store_wake(s);
    if (strncmp(s->url, "postgres", 8) != 0)
        return;
    pthread_mutex_lock(&s->lock);
    s->notify_wanted = true;
    if (!s->notifier_running && !s->notifier_stop) {
        if (pthread_create(&s->notifier, NULL, store__notifier_main, s) == 0)
            s->notifier_running = true;
        else
            log_warn("store: cannot start the NOTIFY thread: runners in other processes find "
                     "the work at their next poll");
    }
    pthread_cond_signal(&s->notify_cond);
    pthread_mutex_unlock(&s->lock);
}

/* Sends what is still wanted, then ends the notifier thread (store_close). */
static void store__notifier_stop(struct store *s)
{
    pthread_mutex_lock(&s->lock);
    bool running = s->notifier_running;
    s->notifier_stop = true;
    pthread_cond_signal(&s->notify_cond);
    pthread_mutex_unlock(&s->lock);
    if (running)
        pthread_join(s->notifier, NULL);
}

int store_open(struct store **out, const char *url, int pool_max, bool migrate,
               struct iv_err *e)
{
    *out = NULL;
    struct store *s = xcalloc(1, sizeof *s);
    s->url = xstrdup(url);
    s->max = pool_max < 1 ? 1 : pool_max;
    s->idle = xcalloc((size_t)s->max, sizeof *s->idle);
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->cond, NULL);
    pthread_cond_init(&s->notify_cond, NULL);
    if (pipe2(s->wake, O_NONBLOCK | O_CLOEXEC) != 0) {
        s->wake[0] = s->wake[1] = -1;
        store_close(s);
        return iv_err_set(e, IV_EIO, "store: cannot create the wake-up pipe");
    }
    /* Open one connection now so a bad URL fails at startup, not on the
     * first request. */
    struct db *d = NULL;
    int rc = db_open(&d, url, e);
    if (rc < 0) {
        store_close(s);
        return rc;
    }
    s->idle[s->n_idle++] = d;
    s->n_open = 1;
    if (migrate) {
        rc = store_migrate(s, NULL, NULL, e);
        if (rc < 0) {
            store_close(s);
            return rc;
        }
    }
    *out = s;
    return IV_OK;
}

void store_close(struct store *s)
{
    if (!s)
        return;
    store__notifier_stop(s);
    for (int i = 0; i < s->n_idle; i++)
        db_close(s->idle[i]);
    db_close(s->listener);
    if (s->wake[0] >= 0)
        close(s->wake[0]);
    if (s->wake[1] >= 0)
        close(s->wake[1]);
    pthread_mutex_destroy(&s->lock);
    pthread_cond_destroy(&s->cond);
    pthread_cond_destroy(&s->notify_cond);
    free(s->idle);
    free(s->url);
    free(s);
}

struct db *store__acquire(struct store *s)
{
    struct db *d = NULL;
    pthread_mutex_lock(&s->lock);
    for (;;) {
        assert(s->n_idle >= 0 && s->n_idle <= s->n_open && s->n_open <= s->max);
        if (s->n_idle > 0) {
            d = s->idle[--s->n_idle];
            break;
        }
        if (s->n_open < s->max) {
            s->n_open++;
            pthread_mutex_unlock(&s->lock);
            struct iv_err e;
            if (db_open(&d, s->url, &e) < 0) {
                /* The URL opened at startup; a failure now is the environment
                 * (fd limit, disk). Log and wait for a pooled one instead. */
                log_error("store: opening an extra connection failed: %s", e.msg);
                pthread_mutex_lock(&s->lock);
                s->n_open--;
                d = NULL;
                if (s->n_open == 0) {
                    pthread_mutex_unlock(&s->lock);
                    abort();
                }
                continue;
            }
            return d;
        }
        pthread_cond_wait(&s->cond, &s->lock);
    }
    pthread_mutex_unlock(&s->lock);
    return d;
}

void store__release(struct store *s, struct db *d)
{
    if (!d)
        return;
    db_rollback(d);      /* a caller that forgot to finish its transaction */
    pthread_mutex_lock(&s->lock);
    assert(s->n_idle < s->n_open);   /* a connection released twice, or not ours */
    s->idle[s->n_idle++] = d;
    pthread_cond_signal(&s->cond);
    pthread_mutex_unlock(&s->lock);
}

/* ---- wake-ups ------------------------------------------------------------------ */

void store_wake(struct store *s)
{
    char one = 1;
    /* Non-blocking: a full pipe already holds a pending wake-up. */
    if (write(s->wake[1], &one, 1) < 0) {
    }
}

/* While the LISTEN connection cannot be opened (the database is down), the wait is cut to
 * this, so LISTEN is back within about a second of the database instead of a poll later. */
#define STORE_LISTEN_RETRY_MS 1000

/* Opens the LISTEN connection (PostgreSQL). Logs once per outage, not once per attempt. */
static bool store__listener_open(struct store *s)
{
    struct iv_err e = {0};
    if (db_open(&s->listener, s->url, &e) == IV_OK &&
        db_listen(s->listener, STORE_WORK_CHANNEL, &e) == IV_OK)
        return true;
    db_close(s->listener);
    s->listener = NULL;
    if (!s->listener_lost)
        log_warn("store: LISTEN %s failed (%s): polling, retrying every %d ms",
                 STORE_WORK_CHANNEL, e.msg, STORE_LISTEN_RETRY_MS);
    s->listener_lost = true;
    return false;
}

int store_wait_for_work(struct store *s, int timeout_ms)
{
    struct iv_err e = {0};
    int rc = 0;
    if (!s->listener && !strncmp(s->url, "postgres", 8)) {
        if (store__listener_open(s)) {
            if (s->listener_lost) {
                /* NOTIFYs sent while it was away are lost: look for work now. */
                log_info("store: LISTEN %s re-established", STORE_WORK_CHANNEL);
                s->listener_lost = false;
                rc = 1;
            }
        } else if (timeout_ms > STORE_LISTEN_RETRY_MS) {
            timeout_ms = STORE_LISTEN_RETRY_MS;
        }
    }
    if (rc == 0)
        rc = db_wait(s->listener, s->wake[0], timeout_ms, &e);
    if (rc < 0) {
        /* The database is away: its reconnect already waited; do not spin. */
        log_warn("store: waiting for work: %s", e.msg);
        db_close(s->listener);
        s->listener = NULL;
        s->listener_lost = true;
    }
    char drain[64];
    while (read(s->wake[0], drain, sizeof drain) > 0) {
    }
    return rc > 0;
}

int store_migrate(struct store *s, int *applied_out, int *version_out, struct iv_err *e)
{
    struct db *d = store__acquire(s);
    int have = 0, want = store_schema_latest();
    int rc = db_migrate(d, store_migrations, store_migrations_count, applied_out, e);
    if (rc == IV_OK)
        rc = db_schema_version(d, &have, e);
    store__release(s, d);
    /* A store written by a newer binary: its extra migrations may have changed what this
     * binary's queries mean, so it refuses rather than guess (docs/deploy.md "Upgrades"). */
    if (rc == IV_OK && have > want)
        rc = iv_err_set(e, IV_EUNSUPPORTED,
                        "the store is at schema version %d, newer than this binary's %d: "
                        "run a newer ivory (migrations are forward-only)", have, want);
    if (rc == IV_OK && version_out)
        *version_out = have;
    return rc;
}

/* ---- small query helpers --------------------------------------------------- */

int store__bind_time(struct db_stmt *st, int idx, int64_t ms)
{
    return ms == STORE_NULL_TIME ? db_bind_null(st, idx) : db_bind_int64(st, idx, ms);
}

int64_t store__col_time(struct db_stmt *st, int col)
{
    return db_col_is_null(st, col) ? STORE_NULL_TIME : db_col_int64(st, col);
}

static int store__vprep(struct db *d, struct db_stmt **st, bool cached, struct iv_err *e,
                        const char *sql, const char *types, va_list ap)
{
    int rc = cached ? db_prepare_cached(d, sql, st, e) : db_prepare(d, sql, st, e);
    if (rc < 0)
        return rc;
    for (int i = 0; types[i]; i++) {
        if (types[i] == 's')
            db_bind_text(*st, i + 1, va_arg(ap, const char *));
        else if (types[i] == 'i')
            db_bind_int64(*st, i + 1, va_arg(ap, int64_t));
        else
            store__bind_time(*st, i + 1, va_arg(ap, int64_t));
    }
    return IV_OK;
}

int store__prep(struct db *d, struct db_stmt **st, bool cached, struct iv_err *e, const char *sql,
                const char *types, ...)
{
    va_list ap;
    va_start(ap, types);
    int rc = store__vprep(d, st, cached, e, sql, types, ap);
    va_end(ap);
    return rc;
}

int store__run(struct db_stmt *st, struct iv_err *e)
{
    int rc = db_step(st, e);
    db_finalize(st);
    return rc < 0 ? rc : IV_OK;
}

int store__exec(struct store *s, bool cached, int64_t *changes_out, struct iv_err *e,
                const char *sql, const char *types, ...)
{
    struct db *d = store__acquire(s);
    struct db_stmt *st = NULL;
    va_list ap;
    va_start(ap, types);
    int rc = store__vprep(d, &st, cached, e, sql, types, ap);
    va_end(ap);
    if (rc == IV_OK)
        rc = store__run(st, e);
    if (rc == IV_OK && changes_out)
        *changes_out = db_changes(d);
    store__release(s, d);
    return rc;
}

/* Every SQL text in this file is a literal: its statements use the connection's cache. */
#define q_prep(d, st, e, ...) store__prep((d), (st), true, (e), __VA_ARGS__)
#define q_run store__run

int store_tenant_usage(struct store *s, const char *tenant_id, int64_t *connectors,
                       int64_t *catalogs, struct iv_err *e)
{
    struct db *d = store__acquire(s);
    struct db_stmt *st = NULL;
    *connectors = *catalogs = 0;
    int rc = store__prep(d, &st, true, e,
                         "SELECT (SELECT COUNT(*) FROM connectors WHERE tenant_id = ?),"
                         " (SELECT COUNT(*) FROM tenant_catalogs WHERE tenant_id = ?)", "ss",
                         tenant_id, tenant_id);
    if (rc == IV_OK) {
        rc = db_step(st, e);
        if (rc == DB_ROW) {
            *connectors = db_col_int64(st, 0);
            *catalogs = db_col_int64(st, 1);
        }
        rc = rc < 0 ? rc : IV_OK;
    }
    db_finalize(st);
    store__release(s, d);
    return rc;
}

int store_files_ok(struct store *s, struct iv_err *e)
{
    struct db *d = store__acquire(s);
    int rc = db_check_file(d, e);
    store__release(s, d);
    return rc;
}

int store_ping(struct store *s, struct iv_err *e)
{
    struct db *d = store__acquire(s);
    struct db_stmt *st = NULL;
    int rc = db_check_file(d, e);
    if (rc == IV_OK)
        rc = db_prepare(d, "SELECT 1", &st, e);
    if (rc == IV_OK) {
        rc = db_step(st, e);
        rc = rc == DB_ROW ? IV_OK : (rc < 0 ? rc : IV_EDB);
    }
    db_finalize(st);
    store__release(s, d);
    return rc;
}

/* ---- tenants ------------------------------------------------------------------ */

void store_tenant_namespace(const char *slug, char out[80])
{
    snprintf(out, 80, "ivory_tenant_%.60s", slug);
    for (char *p = out + 13; *p; p++)
        if (*p == '-')
            *p = '_';
}

static int tenant_read(struct db *d, const char *sql, const char *key, struct store_tenant *out,
                       struct iv_err *e)
{
    struct db_stmt *st = NULL;
    int rc = q_prep(d, &st, e, sql, "s", key);
    if (rc < 0)
        return rc;
    rc = db_step(st, e);
    if (rc == DB_ROW) {
        memset(out, 0, sizeof *out);
        snprintf(out->id, sizeof out->id, "%s", db_col_text(st, 0));
        snprintf(out->slug, sizeof out->slug, "%s", db_col_text(st, 1));
        out->created_at = db_col_int64(st, 2);
        rc = IV_OK;
    } else if (rc == DB_DONE) {
        rc = iv_err_set(e, IV_ENOTFOUND, "tenant '%s' not found", key);
    }
    db_finalize(st);
    return rc;
}

int store_tenant_create(struct store *s, const char *id, const char *slug,
                        struct store_tenant *out, struct iv_err *e)
{
    struct db *d = store__acquire(s);
    struct db_stmt *st = NULL;
    int64_t now = now_ms();
    int rc = db_begin(d, e);
    if (rc < 0)
        goto out;
    struct store_tenant tmp;
    if (tenant_read(d, "SELECT id, slug, created_at FROM tenants WHERE id = ?", id, &tmp,
                    NULL) == IV_OK) {
        rc = iv_err_set(e, IV_ECONFLICT, "tenant '%s' exists already", id);
        goto fail;
    }
    if (tenant_read(d, "SELECT id, slug, created_at FROM tenants WHERE slug = ?", slug, &tmp,
                    NULL) == IV_OK) {
        rc = iv_err_set(e, IV_ECONFLICT, "tenant slug '%s' is taken", slug);
        goto fail;
    }
    rc = q_prep(d, &st, e, "INSERT INTO tenants (id, slug, created_at) VALUES (?, ?, ?)", "ssi",
                id, slug, now);
    if (rc < 0)
        goto fail;
    rc = q_run(st, e);
    if (rc < 0)
        goto fail;
    rc = db_commit(d, e);
    if (rc < 0)
        goto fail;
    if (out) {
        memset(out, 0, sizeof *out);
        snprintf(out->id, sizeof out->id, "%s", id);
        snprintf(out->slug, sizeof out->slug, "%s", slug);
        out->created_at = now;
    }
    goto out;
fail:
    db_rollback(d);
out:
    store__release(s, d);
    return rc;
}

int store_tenant_get(struct store *s, const char *id, struct store_tenant *out, struct iv_err *e)
{
    struct db *d = store__acquire(s);
    int rc = tenant_read(d, "SELECT id, slug, created_at FROM tenants WHERE id = ?", id, out, e);
    store__release(s, d);
    return rc;
}

int store_tenant_get_by_slug(struct store *s, const char *slug, struct store_tenant *out,
                             struct iv_err *e)
{
    struct db *d = store__acquire(s);
    int rc = tenant_read(d, "SELECT id, slug, created_at FROM tenants WHERE slug = ?", slug, out,
                         e);
    store__release(s, d);
    return rc;
}

/* The generation: the tenant row's counter (all of it on SQLite) plus the tenant's shards
 * (PostgreSQL's triggers since migration 9; docs/store.md "Generation"). */
static const char tenant_gen_sql[] =
    "SELECT CAST(t.generation + COALESCE((SELECT SUM(g.n) FROM tenant_generations g"
    " WHERE g.tenant_id = t.id), 0) AS BIGINT), t.created_at FROM tenants t WHERE t.id = ?";

static int tenant_generation_db(struct db *d, const char *tenant_id, int64_t *gen_out,
                                int64_t *epoch_out, struct iv_err *e)
{
    struct db_stmt *st = NULL;
    int rc = q_prep(d, &st, e, tenant_gen_sql, "s", tenant_id);
    if (rc < 0)
        return rc;
    rc = db_step(st, e);
    if (rc == DB_ROW) {
        *gen_out = db_col_int64(st, 0);
        *epoch_out = db_col_int64(st, 1);
        rc = IV_OK;
    } else if (rc == DB_DONE) {
        rc = iv_err_set(e, IV_ENOTFOUND, "tenant '%s' not found", tenant_id);
    }
    db_finalize(st);
    return rc;
}

int store_tenant_generation(struct store *s, const char *tenant_id, int64_t *gen_out,
                            int64_t *epoch_out, struct iv_err *e)
{
    struct db *d = store__acquire(s);
    int rc = tenant_generation_db(d, tenant_id, gen_out, epoch_out, e);
    store__release(s, d);
    return rc;
}

/* ---- catalogs ------------------------------------------------------------------- */

#define CATALOG_COLS                                                                         \
    "id, tenant_id, catalog_name, catalog_type, catalog_uri, warehouse, storage_prefix, "    \
    "s3_endpoint, s3_access_key_id, s3_secret_key_enc, metadata, active, created_at, "       \
    "updated_at, catalog_credential_enc"

void store_catalog_release(struct store_catalog *c)
{
    if (!c)
        return;
    free(c->id);
    free(c->tenant_id);
    free(c->catalog_name);
    free(c->catalog_type);
    free(c->catalog_uri);
    free(c->warehouse);
    free(c->storage_prefix);
    free(c->s3_endpoint);
    free(c->s3_access_key_id);
    free(c->s3_secret_key_enc);
    free(c->catalog_credential_enc);
    free(c->metadata);
    memset(c, 0, sizeof *c);
}

void store_catalogs_free(struct store_catalog *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        store_catalog_release(&v[i]);
    free(v);
}

static void catalog_from_row(struct db_stmt *st, struct store_catalog *c)
{
    c->id = db_col_strdup(st, 0);
    c->tenant_id = db_col_strdup(st, 1);
    c->catalog_name = db_col_strdup(st, 2);
    c->catalog_type = db_col_strdup(st, 3);
    c->catalog_uri = db_col_strdup(st, 4);
    c->warehouse = db_col_strdup(st, 5);
    c->storage_prefix = db_col_strdup(st, 6);
    c->s3_endpoint = db_col_strdup(st, 7);
    c->s3_access_key_id = db_col_strdup(st, 8);
    c->s3_secret_key_enc = db_col_strdup(st, 9);
    c->metadata = db_col_strdup(st, 10);
    c->active = db_col_int64(st, 11) != 0;
    c->created_at = db_col_int64(st, 12);
    c->updated_at = db_col_int64(st, 13);
    c->catalog_credential_enc = db_col_strdup(st, 14);
}

static int catalog_get_db(struct db *d, const char *tenant_id, const char *name,
                          struct store_catalog *out, struct iv_err *e)
{
    struct db_stmt *st = NULL;
    int rc = q_prep(d, &st, e,
                    "SELECT " CATALOG_COLS " FROM tenant_catalogs"
                    " WHERE tenant_id = ? AND catalog_name = ?",
                    "ss", tenant_id, name);
    if (rc < 0)
        return rc;
    rc = db_step(st, e);
    if (rc == DB_ROW) {
        memset(out, 0, sizeof *out);
        catalog_from_row(st, out);
        rc = IV_OK;
    } else if (rc == DB_DONE) {
        rc = iv_err_set(e, IV_ENOTFOUND, "catalog '%s' not found", name);
    }
    db_finalize(st);
    return rc;
}

int store_catalog_get(struct store *s, const char *tenant_id, const char *name,
                      struct store_catalog *out, struct iv_err *e)
{
    struct db *d = store__acquire(s);
    int rc = catalog_get_db(d, tenant_id, name, out, e);
    store__release(s, d);
    return rc;
}

int store_catalog_upsert(struct store *s, const char *tenant_id, const struct store_catalog *in,
                         bool *created_out, struct store_catalog *out, struct iv_err *e)
{
    struct db *d = store__acquire(s);
    struct db_stmt *st = NULL;
    struct store_catalog cur = {0};
    int64_t now = now_ms();
    bool created = false;
    int rc = db_begin(d, e);
    if (rc < 0)
        goto out;
    /* Upserts of one tenant take turns on its row, so two first provisionings cannot both
     * read "missing" and both insert (PostgreSQL; SQLite's write lock does it already). */
    rc = q_prep(d, &st, e, "SELECT id FROM tenants WHERE id = ? " DB_LOCK_ROWS, "s", tenant_id);
    if (rc < 0 || (rc = q_run(st, e)) < 0) {
        st = NULL;
        goto fail;
    }
    st = NULL;
    rc = catalog_get_db(d, tenant_id, in->catalog_name, &cur, NULL);
    if (rc == IV_ENOTFOUND) {
        char id[37];
        uuid_v4(id);
        rc = q_prep(d, &st, e,
                    "INSERT INTO tenant_catalogs (" CATALOG_COLS ")"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    "sssssssssssiiis", id, tenant_id, in->catalog_name, in->catalog_type,
                    in->catalog_uri, in->warehouse, in->storage_prefix, in->s3_endpoint,
                    in->s3_access_key_id, in->s3_secret_key_enc,
                    in->metadata ? in->metadata : "{}", (int64_t)(in->active ? 1 : 0), now, now,
                    in->catalog_credential_enc);
        created = true;
    } else if (rc == IV_OK) {
        rc = q_prep(d, &st, e,
                    "UPDATE tenant_catalogs SET catalog_type = ?, catalog_uri = ?, warehouse = ?,"
                    " storage_prefix = ?, s3_endpoint = ?, s3_access_key_id = ?,"
                    " s3_secret_key_enc = COALESCE(?, s3_secret_key_enc), metadata = ?,"
                    " catalog_credential_enc = COALESCE(?, catalog_credential_enc),"
                    " active = ?, updated_at = ? WHERE tenant_id = ? AND catalog_name = ?",
                    "sssssssssiiss", in->catalog_type, in->catalog_uri, in->warehouse,
                    in->storage_prefix, in->s3_endpoint, in->s3_access_key_id,
                    in->s3_secret_key_enc, in->metadata ? in->metadata : "{}",
                    in->catalog_credential_enc,
                    (int64_t)(in->active ? 1 : 0), now, tenant_id, in->catalog_name);
    }
    if (rc < 0)
        goto fail;
    rc = q_run(st, e);
    if (rc < 0)
        goto fail;
    if (out) {
        rc = catalog_get_db(d, tenant_id, in->catalog_name, out, e);
        if (rc < 0)
            goto fail;
    }
    rc = db_commit(d, e);
    if (rc < 0) {
        if (out)
            store_catalog_release(out);
        goto fail;
    }
    if (created_out)
        *created_out = created;
    goto out;
fail:
    db_rollback(d);
out:
    store_catalog_release(&cur);
    store__release(s, d);
    return rc;
}

int store_catalog_list(struct store *s, const char *tenant_id, struct store_catalog **out,
                       size_t *n_out, struct iv_err *e)
{
    struct db *d = store__acquire(s);
    struct db_stmt *st = NULL;
    struct store_catalog *v = NULL;
    size_t n = 0, cap = 0;
    *out = NULL;
    *n_out = 0;
    int rc = q_prep(d, &st, e,
                    "SELECT " CATALOG_COLS " FROM tenant_catalogs WHERE tenant_id = ?"
                    " ORDER BY catalog_name",
                    "s", tenant_id);
    if (rc < 0)
        goto out;
    while ((rc = db_step(st, e)) == DB_ROW) {
        if (n == cap) {
            cap = cap ? cap * 2 : 4;
            v = xrealloc(v, cap * sizeof *v);
        }
        memset(&v[n], 0, sizeof v[n]);
        catalog_from_row(st, &v[n++]);
    }
    if (rc < 0) {
        store_catalogs_free(v, n);
        goto out;
    }
    rc = IV_OK;
    *out = v;
    *n_out = n;
out:
    db_finalize(st);
    store__release(s, d);
    return rc;
}

int store_catalog_deactivate(struct store *s, const char *tenant_id, const char *name,
                             struct iv_err *e)
{
    int64_t changed = 0;
    int rc = store__exec(s, true, &changed, e,
                         "UPDATE tenant_catalogs SET active = 0, updated_at = ?"
                         " WHERE tenant_id = ? AND catalog_name = ?",
                         "iss", now_ms(), tenant_id, name);
    if (rc == IV_OK && changed == 0)
        rc = iv_err_set(e, IV_ENOTFOUND, "catalog '%s' not found", name);
    return rc;
}

/* ---- connector status machine -------------------------------------------------------- */

static const char *const status_names[CONN__COUNT] = {"active", "paused", "error"};

const char *store_conn_status_name(enum store_conn_status st)
{
    return (unsigned)st < CONN__COUNT ? status_names[st] : "unknown";
}

int store_conn_status_parse(const char *name, enum store_conn_status *out)
{
    for (int i = 0; i < CONN__COUNT; i++)
        if (name && !strcmp(name, status_names[i])) {
            *out = (enum store_conn_status)i;
            return IV_OK;
        }
    return IV_EINVAL;
}

/* The legal transitions: [from][event] -> to, -1 = refused. CEV_RESUME on an
 * active connector is a no-op (idempotent), CEV_PAUSE on a paused one too. A
 * run that fails while the connector is paused does not trip the breaker:
 * the operator paused it on purpose. */
static const int transitions[CONN__COUNT][CEV__COUNT] = {
    /*               TRIGGER      PAUSE        RESUME       BREAKER    */
    [CONN_ACTIVE] = {CONN_ACTIVE, CONN_PAUSED, CONN_ACTIVE, CONN_ERROR},
    [CONN_PAUSED] = {-1,          CONN_PAUSED, CONN_ACTIVE, -1},
    [CONN_ERROR]  = {-1,          CONN_PAUSED, CONN_ACTIVE, CONN_ERROR},
};

int store_conn_next_status(enum store_conn_status from, enum store_conn_event ev)
{
    if ((unsigned)from >= CONN__COUNT || (unsigned)ev >= CEV__COUNT)
        return -1;
    int to = transitions[from][ev];
    assert(to == -1 || (to >= 0 && to < CONN__COUNT));   /* the table names only statuses */
    return to;
}

/* The one place a connector's status changes. Must run inside the caller's
 * transaction, so the caller's side effects commit or roll back with it.
 * Reads the current status (scoped by tenant), checks the table, writes the
 * new status. IV_ENOTFOUND / IV_ECONFLICT (illegal transition). */
static int connector_transition(struct db *d, const char *tenant_id, const char *id,
                                enum store_conn_event ev, enum store_conn_status *from_out,
                                enum store_conn_status *to_out, struct iv_err *e)
{
    struct db_stmt *st = NULL;
    enum store_conn_status from = CONN_ACTIVE;
    int rc = q_prep(d, &st, e, "SELECT status FROM connectors WHERE tenant_id = ? AND id = ?"
                    " " DB_LOCK_ROWS, "ss", tenant_id, id);
    if (rc < 0)
        return rc;
    rc = db_step(st, e);
    if (rc == DB_DONE)
        rc = iv_err_set(e, IV_ENOTFOUND, "connector '%s' not found", id);
    else if (rc == DB_ROW)
        rc = store_conn_status_parse(db_col_text(st, 0), &from) == IV_OK
                 ? IV_OK
                 : iv_err_set(e, IV_EDB, "connector '%s' has an unknown status", id);
    db_finalize(st);
    if (rc < 0)
        return rc;
    if (from_out)
        *from_out = from;
    int to = store_conn_next_status(from, ev);
    if (to < 0)
        return iv_err_set(e, IV_ECONFLICT, "connector is %s", store_conn_status_name(from));
    *to_out = (enum store_conn_status)to;
    if (to == (int)from)
        return IV_OK;
    rc = q_prep(d, &st, e,
                "UPDATE connectors SET status = ?, updated_at = ? WHERE tenant_id = ? AND id = ?",
                "siss", status_names[to], now_ms(), tenant_id, id);
    if (rc < 0)
        return rc;
    rc = q_run(st, e);
    if (rc == IV_OK)
        log_info("connector %s: status %s -> %s", id, status_names[from], status_names[to]);
    return rc;
}

/* ---- connectors ------------------------------------------------------------------------ */

#define CONNECTOR_COLS                                                                        \
    "c.id, c.tenant_id, c.source_system, c.tap_name, c.connector_type, c.destination_catalog," \
    " c.destination_table, c.iomete_namespace, c.sync_schedule, c.config_encrypted,"          \
    " c.tap_version, c.meltano_environment, c.catalog_json, c.webhook_secret_enc, c.status,"  \
    " c.consecutive_failures, c.rows_total, c.last_synced_at, c.next_run_at, c.tap_state,"    \
    " c.followup_queued, c.created_at, c.updated_at,"                                         \
    " r.status, r.rows_synced, r.rows_loaded, r.started_at, r.completed_at, r.error_msg"

/* The latest run of each connector, joined for the list's summary. */
#define CONNECTOR_FROM                                                                        \
    " FROM connectors c LEFT JOIN sync_runs r ON r.id = (SELECT r2.id FROM sync_runs r2"       \
    " WHERE r2.connector_id = c.id ORDER BY r2.started_at DESC, r2.updated_at DESC, r2.id DESC"  \
    " LIMIT 1)"

void store_connector_release(struct store_connector *c)
{
    if (!c)
        return;
    char **strs[] = {&c->id, &c->tenant_id, &c->source_system, &c->tap_name, &c->connector_type,
                     &c->destination_catalog, &c->destination_table, &c->iomete_namespace,
                     &c->sync_schedule, &c->config_encrypted, &c->tap_version,
                     &c->meltano_environment, &c->catalog_json, &c->webhook_secret_enc,
                     &c->tap_state, &c->last_run_status, &c->last_error};
    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++)
        free(*strs[i]);
    memset(c, 0, sizeof *c);
}

void store_connectors_free(struct store_connector *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        store_connector_release(&v[i]);
    free(v);
}

static void connector_from_row(struct db_stmt *st, struct store_connector *c)
{
    memset(c, 0, sizeof *c);
    c->id = db_col_strdup(st, 0);
    c->tenant_id = db_col_strdup(st, 1);
    c->source_system = db_col_strdup(st, 2);
    c->tap_name = db_col_strdup(st, 3);
    c->connector_type = db_col_strdup(st, 4);
    c->destination_catalog = db_col_strdup(st, 5);
    c->destination_table = db_col_strdup(st, 6);
    c->iomete_namespace = db_col_strdup(st, 7);
    c->sync_schedule = db_col_strdup(st, 8);
    c->config_encrypted = db_col_strdup(st, 9);
    c->tap_version = db_col_strdup(st, 10);
    c->meltano_environment = db_col_strdup(st, 11);
    c->catalog_json = db_col_strdup(st, 12);
    c->webhook_secret_enc = db_col_strdup(st, 13);
    if (store_conn_status_parse(db_col_text(st, 14), &c->status) < 0)
        c->status = CONN_ERROR;
    c->consecutive_failures = db_col_int64(st, 15);
    c->rows_total = db_col_int64(st, 16);
    c->last_synced_at = store__col_time(st, 17);
    c->next_run_at = store__col_time(st, 18);
    c->tap_state = db_col_strdup(st, 19);
    c->followup_queued = db_col_int64(st, 20) != 0;
    c->created_at = db_col_int64(st, 21);
    c->updated_at = db_col_int64(st, 22);
    c->has_last_run = !db_col_is_null(st, 23);
    c->last_run_status = db_col_strdup(st, 23);
    c->last_run_rows = db_col_int64(st, 24);
    c->last_run_rows_loaded = db_col_int64(st, 25);
    c->last_run_at = store__col_time(st, 27);
    if (c->last_run_at == STORE_NULL_TIME)
        c->last_run_at = store__col_time(st, 26);
    c->last_error = db_col_strdup(st, 28);
}

/* One statement, so one round trip and no explicit transaction: the row is inserted only
 * when the destination catalog is an active catalog of the tenant (INSERT ... SELECT from
 * it), and no row inserted means it is not. */
int store_connector_create(struct store *s, const struct store_connector *in, struct iv_err *e)
{
    struct db *d = store__acquire(s);
    struct db_stmt *st = NULL;
    int64_t now = now_ms();
    int rc = q_prep(d, &st, e,
                    "INSERT INTO connectors (id, tenant_id, source_system, tap_name, connector_type,"
                    " destination_catalog, destination_table, iomete_namespace, sync_schedule,"
                    " config_encrypted, tap_version, meltano_environment, catalog_json,"
                    " webhook_secret_enc, status, consecutive_failures, rows_total, last_synced_at,"
                    " next_run_at, tap_state, followup_queued, created_at, updated_at)"
                    " SELECT ?, cat.tenant_id, ?, ?, ?, cat.catalog_name, ?, ?, ?, ?, ?, ?, ?, ?,"
                    " 'active', 0, 0, NULL, CAST(? AS BIGINT), NULL, 0, CAST(? AS BIGINT),"
                    " CAST(? AS BIGINT)"
                    " FROM tenant_catalogs cat"
                    " WHERE cat.tenant_id = ? AND cat.catalog_name = ? AND cat.active <> 0",
                    "ssssssssssssiiiss", in->id, in->source_system, in->tap_name,
                    in->connector_type, in->destination_table, in->iomete_namespace,
                    in->sync_schedule, in->config_encrypted, in->tap_version,
                    in->meltano_environment, in->catalog_json, in->webhook_secret_enc,
                    in->next_run_at, now, now, in->tenant_id, in->destination_catalog);
    if (rc < 0)
        goto out;
    rc = q_run(st, e);
    if (rc < 0)
        goto out;
    if (db_changes(d) == 0)
        rc = iv_err_set(e, IV_EINVAL, "destination_catalog '%s' is not an active catalog of "
                        "this tenant", in->destination_catalog);
out:
    store__release(s, d);
    return rc;
}

static const char connector_list_sql[] =
    "SELECT " CONNECTOR_COLS CONNECTOR_FROM
    " WHERE c.tenant_id = ? AND (CAST(? AS TEXT) IS NULL OR c.status = ?)"
    " ORDER BY c.created_at, c.id";

int store_connector_list(struct store *s, const char *tenant_id, const char *status_filter,
                         struct store_connector **out, size_t *n_out, struct iv_err *e)
{
    struct db *d = store__acquire(s);
    struct db_stmt *st = NULL;
    struct store_connector *v = NULL;
    size_t n = 0, cap = 0;
    *out = NULL;
    *n_out = 0;
    int rc = q_prep(d, &st, e, connector_list_sql, "sss", tenant_id, status_filter,
                    status_filter);
    if (rc < 0)
        goto out;
    while ((rc = db_step(st, e)) == DB_ROW) {
        if (n == cap) {
            cap = cap ? cap * 2 : 8;
            v = xrealloc(v, cap * sizeof *v);
        }
        connector_from_row(st, &v[n++]);
    }
    if (rc < 0) {
        store_connectors_free(v, n);
        goto out;
    }
    rc = IV_OK;
    *out = v;
    *n_out = n;
out:
    db_finalize(st);
    store__release(s, d);
    return rc;
}

/* connector_from_row without copies: pointers into the statement's current row. */
static void connector_borrow_row(struct db_stmt *st, struct store_connector *c)
{
    memset(c, 0, sizeof *c);
    char **strs[] = {&c->id, &c->tenant_id, &c->source_system, &c->tap_name,
                     &c->connector_type, &c->destination_catalog, &c->destination_table,
                     &c->iomete_namespace, &c->sync_schedule, &c->config_encrypted,
                     &c->tap_version, &c->meltano_environment, &c->catalog_json,
                     &c->webhook_secret_enc};
    for (int i = 0; i < (int)(sizeof strs / sizeof strs[0]); i++)
        *strs[i] = (char *)db_col_text(st, i);
    if (store_conn_status_parse(db_col_text(st, 14), &c->status) < 0)
        c->status = CONN_ERROR;
    c->consecutive_failures = db_col_int64(st, 15);
    c->rows_total = db_col_int64(st, 16);
    c->last_synced_at = store__col_time(st, 17);
    c->next_run_at = store__col_time(st, 18);
    c->tap_state = (char *)db_col_text(st, 19);
    c->followup_queued = db_col_int64(st, 20) != 0;
    c->created_at = db_col_int64(st, 21);
    c->updated_at = db_col_int64(st, 22);
    c->has_last_run = !db_col_is_null(st, 23);
    c->last_run_status = (char *)db_col_text(st, 23);
    c->last_run_rows = db_col_int64(st, 24);
    c->last_run_rows_loaded = db_col_int64(st, 25);
    c->last_run_at = store__col_time(st, 27);
    if (c->last_run_at == STORE_NULL_TIME)
        c->last_run_at = store__col_time(st, 26);
    c->last_error = (char *)db_col_text(st, 28);
}

/* connector_list_sql without the columns no list shows (secrets, the Singer catalog and the
 * STATE bookmark, which can be large): NULL in their places, so connector_borrow_row reads
 * both shapes. */
static const char connector_each_sql[] =
    "SELECT c.id, c.tenant_id, c.source_system, c.tap_name, c.connector_type,"
    " c.destination_catalog, c.destination_table, c.iomete_namespace, c.sync_schedule, NULL,"
    " c.tap_version, c.meltano_environment, NULL, NULL, c.status, c.consecutive_failures,"
    " c.rows_total, c.last_synced_at, c.next_run_at, NULL, c.followup_queued, c.created_at,"
    " c.updated_at, r.status, r.rows_synced, r.rows_loaded, r.started_at, r.completed_at,"
    " r.error_msg" CONNECTOR_FROM
    " WHERE c.tenant_id = ? AND (CAST(? AS TEXT) IS NULL OR c.status = ?)"
    " ORDER BY c.created_at, c.id";

int store_connector_each(struct store *s, const char *tenant_id, const char *status_filter,
                         store_connector_visit_fn fn, void *ctx, int64_t *gen_out,
                         int64_t *epoch_out, struct iv_err *e)
{
    struct db *d = store__acquire(s);
    struct db_stmt *st = NULL;
    int64_t gen = -1, epoch = -1;
    int rc = db_begin_read(d, e);
    if (rc < 0)
        goto out;
    rc = tenant_generation_db(d, tenant_id, &gen, &epoch, NULL);
    if (rc == IV_ENOTFOUND) {
        gen = epoch = -1;
    } else if (rc < 0) {
        iv_err_set(e, rc, "tenant generation of '%s' could not be read", tenant_id);
        goto out;
    }
    rc = q_prep(d, &st, e, connector_each_sql, "sss", tenant_id, status_filter, status_filter);
    if (rc < 0)
        goto out;
    struct store_connector c;
    while ((rc = db_step(st, e)) == DB_ROW) {
        connector_borrow_row(st, &c);
        rc = fn(ctx, &c);
        if (rc < 0)
            goto out;
    }
    if (rc < 0)
        goto out;
    rc = IV_OK;
    if (gen_out)
        *gen_out = gen;
    if (epoch_out)
        *epoch_out = epoch;
out:
    db_finalize(st);
    db_rollback(d);    /* ends the read snapshot */
    store__release(s, d);
    return rc;
}

static int count_query(struct db *d, const char *sql, const char *tenant_id, const char *id,
                       int64_t *out, struct iv_err *e)
{
    struct db_stmt *st = NULL;
    int rc = q_prep(d, &st, e, sql, "ss", tenant_id, id);
    if (rc < 0)
        return rc;
    rc = db_step(st, e);
    if (rc == DB_ROW) {
        *out = db_col_int64(st, 0);
        rc = IV_OK;
    } else if (rc == DB_DONE) {
        *out = 0;
        rc = IV_OK;
    }
    db_finalize(st);
    return rc;
}

static int connector_get_db(struct db *d, const char *tenant_id, const char *id,
                            struct store_connector *out, struct iv_err *e)
{
    struct db_stmt *st = NULL;
    int rc = q_prep(d, &st, e,
                    "SELECT " CONNECTOR_COLS CONNECTOR_FROM " WHERE c.tenant_id = ? AND c.id = ?",
                    "ss", tenant_id, id);
    if (rc < 0)
        return rc;
    rc = db_step(st, e);
    if (rc == DB_ROW) {
        connector_from_row(st, out);
        rc = IV_OK;
    } else if (rc == DB_DONE) {
        rc = iv_err_set(e, IV_ENOTFOUND, "connector '%s' not found", id);
    }
    db_finalize(st);
    return rc;
}

int store_connector_get(struct store *s, const char *tenant_id, const char *id,
                        struct store_connector *out, struct iv_err *e)
{
    struct db *d = store__acquire(s);
    memset(out, 0, sizeof *out);
    int rc = connector_get_db(d, tenant_id, id, out, e);
    if (rc == IV_OK)
        rc = count_query(d, "SELECT COUNT(*) FROM field_mappings WHERE tenant_id = ?"
                            " AND connector_id = ?", tenant_id, id, &out->mapping_count, e);
    if (rc == IV_OK)
        rc = count_query(d, "SELECT COUNT(*) FROM sync_runs WHERE tenant_id = ?"
                            " AND connector_id = ?", tenant_id, id, &out->run_count, e);
    if (rc == IV_OK)
        rc = count_query(d, "SELECT COALESCE(SUM(rows_loaded), 0) FROM sync_runs"
                            " WHERE tenant_id = ? AND connector_id = ? AND status = 'completed'",
                         tenant_id, id, &out->total_rows_loaded, e);
    if (rc < 0)
        store_connector_release(out);
    store__release(s, d);
    return rc;
}

static int fill_change(struct db *d, const char *tenant_id, const char *id,
                       struct store_conn_change *out, struct iv_err *e)
{
    struct db_stmt *st = NULL;
    int rc = q_prep(d, &st, e,
                    "SELECT status, source_system FROM connectors WHERE tenant_id = ? AND id = ?",
                    "ss", tenant_id, id);
    if (rc < 0)
        return rc;
    rc = db_step(st, e);
    if (rc == DB_ROW) {
        /* the column is only ever written from the status table: a parse failure leaves
         * the zeroed status, and the next transition check refuses it */
        IV_DISCARD(store_conn_status_parse(db_col_text(st, 0), &out->status));
        snprintf(out->source_system, sizeof out->source_system, "%s", db_col_text(st, 1));
        rc = IV_OK;
    } else if (rc == DB_DONE) {
        rc = iv_err_set(e, IV_ENOTFOUND, "connector '%s' not found", id);
    }
    db_finalize(st);
    return rc;
}

static int has_running_run(struct db *d, const char *tenant_id, const char *id, bool *out,
                           struct iv_err *e)
{
    int64_t n = 0;
    int rc = count_query(d, "SELECT COUNT(*) FROM sync_runs WHERE tenant_id = ?"
                            " AND connector_id = ? AND status = 'running'",
                         tenant_id, id, &n, e);
    *out = n > 0;
    return rc;
}

/* Shared shape of trigger / pause / resume: transaction, transition, effect. */
static int connector_event(struct store *s, const char *tenant_id, const char *id,
                           enum store_conn_event ev, int64_t at_ms,
                           struct store_conn_change *out, struct iv_err *e)
{
    struct db *d = store__acquire(s);
    struct db_stmt *st = NULL;
    enum store_conn_status from, to;
    struct store_conn_change ch = {0};
    bool wake = false;
    int rc = db_begin(d, e);
    if (rc < 0)
        goto out;
    rc = connector_transition(d, tenant_id, id, ev, &from, &to, e);
    if (rc < 0)
        goto fail;
    int64_t now = now_ms();
    if (ev == CEV_TRIGGER) {
        bool running = false;
        rc = has_running_run(d, tenant_id, id, &running, e);
        if (rc < 0)
            goto fail;
        ch.followup = running;
        wake = !running;
        if (running)
            rc = q_prep(d, &st, e,
                        "UPDATE connectors SET followup_queued = 1, updated_at = ?"
                        " WHERE tenant_id = ? AND id = ?", "iss", now, tenant_id, id);
        else
            rc = q_prep(d, &st, e,
                        "UPDATE connectors SET next_run_at = ?, updated_at = ?"
                        " WHERE tenant_id = ? AND id = ?", "iiss", at_ms, now, tenant_id, id);
    } else if (ev == CEV_PAUSE) {
        rc = q_prep(d, &st, e,
                    "UPDATE connectors SET next_run_at = NULL, followup_queued = 0,"
                    " updated_at = ? WHERE tenant_id = ? AND id = ?", "iss", now, tenant_id, id);
    } else if (ev == CEV_RESUME && from != CONN_ACTIVE) {
        rc = q_prep(d, &st, e,
                    "UPDATE connectors SET consecutive_failures = 0, next_run_at = ?,"
                    " updated_at = ? WHERE tenant_id = ? AND id = ?",
                    "tiss", at_ms, now, tenant_id, id);
    }
    if (rc < 0)
        goto fail;
    if (st) {
        rc = q_run(st, e);
        st = NULL;
        if (rc < 0)
            goto fail;
    }
    rc = fill_change(d, tenant_id, id, &ch, e);
    if (rc < 0)
        goto fail;
    rc = db_commit(d, e);
    if (rc < 0)
        goto fail;
    if (wake)
        store__announce_work(s);
    if (out)
        *out = ch;
    goto out;
fail:
    db_finalize(st);
    db_rollback(d);
out:
    store__release(s, d);
    return rc;
}

int store_connector_trigger(struct store *s, const char *tenant_id, const char *id,
                            int64_t now_ms_at, struct store_conn_change *out, struct iv_err *e)
{
    return connector_event(s, tenant_id, id, CEV_TRIGGER, now_ms_at, out, e);
}

int store_connector_pause(struct store *s, const char *tenant_id, const char *id,
                          struct store_conn_change *out, struct iv_err *e)
{
    return connector_event(s, tenant_id, id, CEV_PAUSE, STORE_NULL_TIME, out, e);
}

int store_connector_resume(struct store *s, const char *tenant_id, const char *id,
                           int64_t next_run_ms, struct store_conn_change *out, struct iv_err *e)
{
    return connector_event(s, tenant_id, id, CEV_RESUME, next_run_ms, out, e);
}

int store_connector_delete(struct store *s, const char *tenant_id, const char *id,
                           struct iv_err *e)
{
    struct db *d = store__acquire(s);
    struct db_stmt *st = NULL;
    int rc = db_begin(d, e);
    if (rc < 0)
        goto out;
    /* Explicit deletes (children first) rather than relying on the cascade
     * alone: the statements say what goes, and work even on a connection
     * where foreign keys were left off. Each is scoped by tenant. */
    static const char *const dels[] = {
        "DELETE FROM runner_jobs WHERE tenant_id = ? AND connector_id = ?",
        "DELETE FROM discovery_requests WHERE tenant_id = ? AND connector_id = ?",
        "DELETE FROM sync_runs WHERE tenant_id = ? AND connector_id = ?",
        "DELETE FROM field_mappings WHERE tenant_id = ? AND connector_id = ?",
        "DELETE FROM connectors WHERE tenant_id = ? AND id = ?",
    };
    for (size_t i = 0; i < sizeof dels / sizeof dels[0]; i++) {
        rc = q_prep(d, &st, e, dels[i], "ss", tenant_id, id);
        if (rc < 0)
            goto fail;
        rc = q_run(st, e);
        if (rc < 0)
            goto fail;
    }
    if (db_changes(d) == 0) {
        rc = iv_err_set(e, IV_ENOTFOUND, "connector '%s' not found", id);
        goto fail;
    }
    rc = db_commit(d, e);
    if (rc < 0)
        goto fail;
    log_info("connector %s deleted with its runs, mappings, jobs and state", id);
    goto out;
fail:
    db_rollback(d);
out:
    store__release(s, d);
    return rc;
}

/* ---- runs --------------------------------------------------------------------------------- */

#define RUN_COLS                                                                              \
    "id, connector_id, tenant_id, status, trigger, rows_synced, rows_loaded, transform_errors," \
    " iomete_table, started_at, completed_at, error_msg, state_before, state_after,"          \
    " snapshot_id, log_tail"

void store_run_release(struct store_run *r)
{
    if (!r)
        return;
    char **strs[] = {&r->id, &r->connector_id, &r->tenant_id, &r->status, &r->trigger,
                     &r->iomete_table, &r->error_msg, &r->state_before, &r->state_after,
                     &r->snapshot_id, &r->log_tail};
    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++)
        free(*strs[i]);
    memset(r, 0, sizeof *r);
}

void store_runs_free(struct store_run *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        store_run_release(&v[i]);
    free(v);
}

static void run_from_row(struct db_stmt *st, struct store_run *r)
{
    memset(r, 0, sizeof *r);
    r->id = db_col_strdup(st, 0);
    r->connector_id = db_col_strdup(st, 1);
    r->tenant_id = db_col_strdup(st, 2);
    r->status = db_col_strdup(st, 3);
    r->trigger = db_col_strdup(st, 4);
    r->rows_synced = db_col_int64(st, 5);
    r->rows_loaded = db_col_int64(st, 6);
    r->transform_errors = db_col_int64(st, 7);
    r->iomete_table = db_col_strdup(st, 8);
    r->started_at = store__col_time(st, 9);
    r->completed_at = store__col_time(st, 10);
    r->error_msg = db_col_strdup(st, 11);
    r->state_before = db_col_strdup(st, 12);
    r->state_after = db_col_strdup(st, 13);
    r->snapshot_id = db_col_strdup(st, 14);
    r->log_tail = db_col_strdup(st, 15);
}

int store_run_list(struct store *s, const char *tenant_id, const char *connector_id, int limit,
                   struct store_run **out, size_t *n_out, struct iv_err *e)
{
    struct db *d = store__acquire(s);
    struct db_stmt *st = NULL;
    struct store_run *v = NULL;
    size_t n = 0;
    int64_t exists = 0;
    *out = NULL;
    *n_out = 0;
    if (limit < 1 || limit > 200) {
        store__release(s, d);
        return iv_err_set(e, IV_EINVAL, "limit must be between 1 and 200");
    }
    int rc = count_query(d, "SELECT COUNT(*) FROM connectors WHERE tenant_id = ? AND id = ?",
                         tenant_id, connector_id, &exists, e);
    if (rc < 0)
        goto out;
    if (!exists) {
        rc = iv_err_set(e, IV_ENOTFOUND, "connector '%s' not found", connector_id);
        goto out;
    }
    rc = q_prep(d, &st, e,
                "SELECT " RUN_COLS " FROM sync_runs WHERE tenant_id = ? AND connector_id = ?"
                " ORDER BY started_at DESC, updated_at DESC, id DESC LIMIT ?",
                "ssi", tenant_id, connector_id, (int64_t)limit);
    if (rc < 0)
        goto out;
    v = xcalloc((size_t)limit, sizeof *v);
    while ((rc = db_step(st, e)) == DB_ROW && n < (size_t)limit)
        run_from_row(st, &v[n++]);
    if (rc < 0) {
        store_runs_free(v, n);
        goto out;
    }
    rc = IV_OK;
    *out = v;
    *n_out = n;
out:
    db_finalize(st);
    store__release(s, d);
    return rc;
}

int store_run_start(struct store *s, const char *tenant_id, const char *connector_id,
                    const char *run_id, const char *trigger, int64_t started_at,
                    const char *iomete_table, const char *state_before, struct iv_err *e)
{
    struct db *d = store__acquire(s);
    struct db_stmt *st = NULL;
    int64_t exists = 0;
    int rc = db_begin(d, e);
    if (rc < 0)
        goto out;
    rc = count_query(d, "SELECT COUNT(*) FROM connectors WHERE tenant_id = ? AND id = ?",
                     tenant_id, connector_id, &exists, e);
    if (rc < 0)
        goto fail;
    if (!exists) {
        rc = iv_err_set(e, IV_ENOTFOUND, "connector '%s' not found", connector_id);
        goto fail;
    }
    rc = q_prep(d, &st, e,
                "INSERT INTO sync_runs (id, connector_id, tenant_id, status, trigger,"
                " iomete_table, started_at, state_before, updated_at)"
                " VALUES (?, ?, ?, 'running', ?, ?, ?, ?, ?)",
                "sssssisi", run_id, connector_id, tenant_id, trigger ? trigger : "schedule",
                iomete_table, started_at, state_before, now_ms());
    if (rc < 0)
        goto fail;
    rc = q_run(st, e);
    if (rc < 0)
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

/* ---- webhook --------------------------------------------------------------------------------- */

int store_webhook_lookup(struct store *s, const char *connector_id, char *tenant_out,
                         char **secret_enc_out, struct iv_err *e)
{
    struct db *d = store__acquire(s);
    struct db_stmt *st = NULL;
    *secret_enc_out = NULL;
    int rc = q_prep(d, &st, e, "SELECT tenant_id, webhook_secret_enc FROM connectors WHERE id = ?",
                    "s", connector_id);
    if (rc < 0)
        goto out;
    rc = db_step(st, e);
    if (rc == DB_ROW) {
        snprintf(tenant_out, STORE_ID_MAX, "%s", db_col_text(st, 0));
        *secret_enc_out = db_col_strdup(st, 1);
        rc = IV_OK;
    } else if (rc == DB_DONE) {
        rc = iv_err_set(e, IV_ENOTFOUND, "connector '%s' not found", connector_id);
    }
out:
    db_finalize(st);
    store__release(s, d);
    return rc;
}

int store_webhook_apply(struct store *s, const char *tenant_id, const struct store_webhook *w,
                        const struct store_policy *pol, int64_t now_ms_at,
                        struct store_webhook_result *out, struct iv_err *e)
{
    struct db *d = store__acquire(s);
    struct db_stmt *st = NULL;
    struct store_connector c = {0};
    struct store_webhook_result res = {.next_run_at = STORE_NULL_TIME};
    int64_t run_started = 0;
    bool running = false, wake = false;
    int rc = db_begin(d, e);
    if (rc < 0)
        goto out;

    /* Lock order connector, then run (as trigger/pause/resume and the claims): a concurrent
     * delivery for the same run waits here and then sees it finished (a replay). */
    rc = q_prep(d, &st, e, "SELECT id FROM connectors WHERE tenant_id = ? AND id = ? " DB_LOCK_ROWS,
                "ss", tenant_id, w->connector_id);
    if (rc < 0 || (rc = q_run(st, e)) < 0) {
        st = NULL;
        goto fail;
    }
    st = NULL;
    rc = q_prep(d, &st, e,
                "SELECT status, started_at FROM sync_runs WHERE tenant_id = ? AND connector_id = ?"
                " AND id = ? " DB_LOCK_ROWS, "sss", tenant_id, w->connector_id, w->run_id);
    if (rc < 0)
        goto fail;
    rc = db_step(st, e);
    if (rc == DB_ROW) {
        running = !strcmp(db_col_text(st, 0), "running");
        run_started = db_col_int64(st, 1);
        rc = IV_OK;
    } else if (rc == DB_DONE) {
        rc = iv_err_set(e, IV_ENOTFOUND, "run '%s' not found", w->run_id);
    }
    db_finalize(st);
    st = NULL;
    if (rc < 0)
        goto fail;

    rc = connector_get_db(d, tenant_id, w->connector_id, &c, e);
    if (rc < 0)
        goto fail;
    res.status = c.status;
    res.next_run_at = c.next_run_at;
    res.consecutive_failures = c.consecutive_failures;
    if (!running) {
        /* Replay of a delivery we already applied (or a run that was cancelled). */
        res.replay = true;
        db_rollback(d);
        goto done;
    }

    int64_t now = now_ms_at;
    int64_t started = w->started_at != STORE_NULL_TIME ? w->started_at : run_started;
    int64_t completed = w->completed_at != STORE_NULL_TIME ? w->completed_at : now;
    rc = q_prep(d, &st, e,
                "UPDATE sync_runs SET status = ?, rows_synced = ?, rows_loaded = ?,"
                " transform_errors = ?, iomete_table = COALESCE(?, iomete_table), started_at = ?,"
                " completed_at = ?, error_msg = ?, state_after = ?, snapshot_id = ?, updated_at = ?"
                " WHERE tenant_id = ? AND id = ?",
                "siiisiisssiss",
                w->completed ? "completed" : w->cancelled ? "cancelled" : "failed", w->rows_synced,
                w->rows_loaded, w->transform_errors, w->iomete_table, started, completed,
                w->error_msg, w->tap_state, w->snapshot_id, now_ms(), tenant_id, w->run_id);
    if (rc < 0)
        goto fail;
    rc = q_run(st, e);
    st = NULL;
    if (rc < 0)
        goto fail;

    int64_t now_s_at = now / 1000;
    int64_t cron_s = pol->cron_next ? pol->cron_next(c.sync_schedule, now_s_at) : -1;
    int64_t cron_ms = cron_s > 0 ? cron_s * 1000 : STORE_NULL_TIME;
    int64_t next = STORE_NULL_TIME;
    enum store_conn_status to = c.status;
    int64_t failures = c.consecutive_failures;

    if (w->cancelled) {
        /* Ended on request: the breaker does not count it and the schedule goes on (or the
         * queued trigger runs). Like a failed run's, the rows its checkpoints committed are
         * added to rows_total by the runner that holds the table's truth (runner/sync.c). */
        if (c.status == CONN_ACTIVE)
            next = c.followup_queued ? now : cron_ms;
        else
            next = c.next_run_at;
        rc = q_prep(d, &st, e,
                    "UPDATE connectors SET next_run_at = ?, followup_queued = 0, updated_at = ?"
                    " WHERE tenant_id = ? AND id = ?",
                    "tiss", next, now, tenant_id, w->connector_id);
    } else if (w->completed) {
        failures = 0;
        if (c.status == CONN_ACTIVE) {
            next = c.followup_queued ? now : cron_ms;
            wake = c.followup_queued;
        } else
            next = c.next_run_at;   /* paused stays NULL; error keeps its NULL */
        rc = q_prep(d, &st, e,
                    "UPDATE connectors SET consecutive_failures = 0, rows_total = rows_total + ?,"
                    " last_synced_at = ?, tap_state = COALESCE(?, tap_state), next_run_at = ?,"
                    " followup_queued = 0, updated_at = ? WHERE tenant_id = ? AND id = ?",
                    "iistiss", w->rows_loaded, started, w->tap_state, next, now, tenant_id,
                    w->connector_id);
    } else {
        failures = c.consecutive_failures + 1;
        if (c.status == CONN_ACTIVE) {
            int limit = pol->breaker_failures > 0 ? pol->breaker_failures : 3;
            if (failures >= limit) {
                rc = connector_transition(d, tenant_id, w->connector_id, CEV_BREAKER, NULL, &to,
                                          e);
                if (rc < 0)
                    goto fail;
                next = STORE_NULL_TIME;
            } else {
                int64_t r = pol->backoff ? pol->backoff((int)failures, now_s_at,
                                                        cron_s > 0 ? cron_s : 0)
                                         : now_s_at + 60;
                next = r * 1000;
            }
        } else {
            next = c.next_run_at;
        }
        rc = q_prep(d, &st, e,
                    "UPDATE connectors SET consecutive_failures = ?, next_run_at = ?,"
                    " followup_queued = 0, updated_at = ? WHERE tenant_id = ? AND id = ?",
                    "itiss", failures, next, now, tenant_id, w->connector_id);
    }
    if (rc < 0)
        goto fail;
    rc = q_run(st, e);
    st = NULL;
    if (rc < 0)
        goto fail;
    rc = db_commit(d, e);
    if (rc < 0)
        goto fail;
    if (wake)
        store__announce_work(s);
    res.status = to;
    res.next_run_at = next;
    res.consecutive_failures = failures;
    log_info("run %s of connector %s %s (%lld rows loaded)", w->run_id, w->connector_id,
             w->completed ? "completed" : w->cancelled ? "cancelled" : "failed",
             (long long)w->rows_loaded);
done:
    if (out)
        *out = res;
    goto out;
fail:
    db_finalize(st);
    db_rollback(d);
out:
    store_connector_release(&c);
    store__release(s, d);
    return rc;
}

/* ---- shared with store/ops.c through store_internal.h ---------------------------------------- */

int store__connector_get(struct db *d, const char *tenant_id, const char *id,
                         struct store_connector *out, struct iv_err *e)
{
    return connector_get_db(d, tenant_id, id, out, e);
}

int store__has_running_run(struct db *d, const char *tenant_id, const char *id, bool *out,
                           struct iv_err *e)
{
    return has_running_run(d, tenant_id, id, out, e);
}

void store__run_from_row(struct db_stmt *st, struct store_run *r)
{
    run_from_row(st, r);
}

void store__connector_borrow_row(struct db_stmt *st, struct store_connector *c)
{
    connector_borrow_row(st, c);
}

const char store__run_cols[] = RUN_COLS;

/* connector_each_sql's select list and join, without its WHERE: callers add their own. */
const char store__connector_list_select[] =
    "SELECT c.id, c.tenant_id, c.source_system, c.tap_name, c.connector_type,"
    " c.destination_catalog, c.destination_table, c.iomete_namespace, c.sync_schedule, NULL,"
    " c.tap_version, c.meltano_environment, NULL, NULL, c.status, c.consecutive_failures,"
    " c.rows_total, c.last_synced_at, c.next_run_at, NULL, c.followup_queued, c.created_at,"
    " c.updated_at, r.status, r.rows_synced, r.rows_loaded, r.started_at, r.completed_at,"
    " r.error_msg" CONNECTOR_FROM;
