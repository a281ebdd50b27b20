/*
 * discovery.c: the queries of discovery and stream selection (see store.h, "discovery and
 * the stream catalog"): the connector's stream catalog document with its compare-and-set
 * version, and the discovery request rows through which an API server asks a runner to run
 * a tap with --discover. Every query is scoped by tenant except the runner's claim and
 * finish, which work on request ids the claim handed out.
 *
 * The document's shape is not the store's business (src/streams owns it): here it is text.
 */
#include "store/store_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define dq_prep(d, st, e, ...) store__prep((d), (st), false, (e), __VA_ARGS__)

void store_stream_catalog_release(struct store_stream_catalog *c)
{
    if (!c)
        return;
    free(c->doc);
    free(c->tap_state);
    memset(c, 0, sizeof *c);
}

int store_stream_catalog_get(struct store *s, const char *tenant_id, const char *connector_id,
                             struct store_stream_catalog *out, struct iv_err *e)
{
    memset(out, 0, sizeof *out);
    struct db *d = store__acquire(s);
    struct db_stmt *st = NULL;
    int rc = dq_prep(d, &st, e,
                     "SELECT stream_catalog, catalog_discovered_at, catalog_version, tap_state,"
                     " (SELECT COUNT(*) FROM sync_runs r WHERE r.connector_id = c.id"
                     "  AND r.status = 'running')"
                     " FROM connectors c WHERE c.tenant_id = ? AND c.id = ?",
                     "ss", tenant_id, connector_id);
    if (rc < 0)
        goto out;
    rc = db_step(st, e);
    if (rc == DB_ROW) {
        out->doc = db_col_strdup(st, 0);
        out->discovered_at = store__col_time(st, 1);
        out->version = db_col_int64(st, 2);
        out->tap_state = db_col_strdup(st, 3);
        out->running = db_col_int64(st, 4) > 0;
        rc = IV_OK;
    } else if (rc >= 0) {
        rc = iv_err_set(e, IV_ENOTFOUND, "connector '%s' not found", connector_id);
    }
out:
    db_finalize(st);
    store__release(s, d);
    return rc;
}

int store_stream_catalog_put(struct store *s, const char *tenant_id, const char *connector_id,
                             const struct store_stream_catalog_write *w, struct iv_err *e)
{
    struct db *d = store__acquire(s);
    struct db_stmt *st = NULL;
    int rc = db_begin(d, e);
    if (rc < 0)
        goto out;
    if (w->refuse_if_running) {
        rc = dq_prep(d, &st, e,
                     "SELECT COUNT(*) FROM sync_runs WHERE tenant_id = ? AND connector_id = ?"
                     " AND status = 'running'", "ss", tenant_id, connector_id);
        if (rc < 0)
            goto fail;
        rc = db_step(st, e);
        bool running = rc == DB_ROW && db_col_int64(st, 0) > 0;
        db_finalize(st);
        st = NULL;
        if (rc < 0)
            goto fail;
        if (running) {
            rc = iv_err_set(e, IV_EAGAIN, "a sync of this connector is running");
            goto fail;
        }
    }
    if (w->set_state)
        rc = dq_prep(d, &st, e,
                     "UPDATE connectors SET stream_catalog = ?, catalog_version = catalog_version"
                     " + 1, catalog_discovered_at = COALESCE(?, catalog_discovered_at),"
                     " tap_state = ? WHERE tenant_id = ? AND id = ? AND catalog_version = ?",
                     "stsssi", w->doc, w->discovered_at, w->new_state, tenant_id, connector_id,
                     w->expect_version);
    else
        rc = dq_prep(d, &st, e,
                     "UPDATE connectors SET stream_catalog = ?, catalog_version = catalog_version"
                     " + 1, catalog_discovered_at = COALESCE(?, catalog_discovered_at)"
                     " WHERE tenant_id = ? AND id = ? AND catalog_version = ?",
                     "stssi", w->doc, w->discovered_at, tenant_id, connector_id,
                     w->expect_version);
    if (rc < 0)
        goto fail;
    rc = store__run(st, e);
    st = NULL;
    if (rc < 0)
        goto fail;
    if (db_changes(d) == 0) {
        rc = iv_err_set(e, IV_ECONFLICT, "the connector's catalog changed meanwhile (or the "
                        "connector is gone)");
        goto fail;
    }
    rc = db_commit(d, e);
    goto out;
fail:
    db_finalize(st);
    db_rollback(d);
out:
    store__release(s, d);
    return rc < 0 ? rc : IV_OK;
}

/* ---- discovery requests ------------------------------------------------------------------ */

void store_discovery_release(struct store_discovery *x)
{
    if (!x)
        return;
    free(x->detail);
    free(x->report);
    memset(x, 0, sizeof *x);
}

void store_discoveries_free(struct store_discovery *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        store_discovery_release(&v[i]);
    free(v);
}

#define DISCOVERY_COLS \
    "id, tenant_id, connector_id, status, http_status, detail, report, lease_expires_at"

static void discovery_from_row(struct db_stmt *st, struct store_discovery *x)
{
    memset(x, 0, sizeof *x);
    snprintf(x->id, sizeof x->id, "%s", db_col_text(st, 0) ? db_col_text(st, 0) : "");
    snprintf(x->tenant_id, sizeof x->tenant_id, "%s", db_col_text(st, 1) ? db_col_text(st, 1) : "");
    snprintf(x->connector_id, sizeof x->connector_id, "%s",
             db_col_text(st, 2) ? db_col_text(st, 2) : "");
    snprintf(x->status, sizeof x->status, "%s", db_col_text(st, 3) ? db_col_text(st, 3) : "");
    x->http_status = (int)db_col_int64(st, 4);
    x->detail = db_col_strdup(st, 5);
    x->report = db_col_strdup(st, 6);
    x->lease_expires_at = store__col_time(st, 7);
}

int store_discovery_request(struct store *s, const char *tenant_id, const char *connector_id,
                            const char *id, int64_t now_ms_at, struct iv_err *e)
{
    struct db *d = store__acquire(s);
    struct db_stmt *st = NULL;
    int rc = db_begin(d, e);
    if (rc < 0)
        goto out;
    /* Plain SELECT then INSERT ... VALUES: parameter types stay obvious on PostgreSQL. */
    rc = dq_prep(d, &st, e, "SELECT 1 FROM connectors WHERE tenant_id = ? AND id = ?", "ss",
                 tenant_id, connector_id);
    if (rc < 0)
        goto fail;
    rc = db_step(st, e);
    db_finalize(st);
    st = NULL;
    if (rc < 0)
        goto fail;
    if (rc != DB_ROW) {
        rc = iv_err_set(e, IV_ENOTFOUND, "connector '%s' not found", connector_id);
        goto fail;
    }
    rc = dq_prep(d, &st, e, "INSERT INTO discovery_requests (id, tenant_id, connector_id, status,"
                 " created_at) VALUES (?, ?, ?, 'pending', ?)", "sssi", id, tenant_id,
                 connector_id, now_ms_at);
    if (rc < 0)
        goto fail;
    rc = store__run(st, e);
    st = NULL;
    if (rc < 0 || (rc = db_commit(d, e)) < 0)
        goto fail;
    store__release(s, d);
    store__wake(s);
    return IV_OK;
fail:
    db_finalize(st);
    db_rollback(d);
out:
    store__release(s, d);
    return rc;
}

int store_discovery_get(struct store *s, const char *tenant_id, const char *id,
                        struct store_discovery *out, struct iv_err *e)
{
    memset(out, 0, sizeof *out);
    struct db *d = store__acquire(s);
    struct db_stmt *st = NULL;
    int rc = dq_prep(d, &st, e, "SELECT " DISCOVERY_COLS " FROM discovery_requests"
                     " WHERE tenant_id = ? AND id = ?", "ss", tenant_id, id);
    if (rc == IV_OK) {
        rc = db_step(st, e);
        if (rc == DB_ROW) {
            discovery_from_row(st, out);
            rc = IV_OK;
        } else if (rc >= 0) {
            rc = iv_err_set(e, IV_ENOTFOUND, "discovery request '%s' not found", id);
        }
    }
    db_finalize(st);
    store__release(s, d);
    return rc;
}

int store_discovery_abandon(struct store *s, const char *tenant_id, const char *id,
                            int http_status, const char *detail, struct iv_err *e)
{
    return store__exec(s, false, NULL, e,
                       "UPDATE discovery_requests SET status = 'failed', http_status = ?,"
                       " detail = ? WHERE tenant_id = ? AND id = ?"
                       " AND status IN ('pending', 'running')",
                       "isss", (int64_t)http_status, detail, tenant_id, id);
}

int store_discovery_claim(struct store *s, const char *runner_id, int64_t now_ms_at,
                          int64_t lease_ms, int max, struct store_discovery **out,
                          size_t *n_out, struct iv_err *e)
{
    *out = NULL;
    *n_out = 0;
    if (max <= 0)
        return IV_OK;
    struct db *d = store__acquire(s);
    struct db_stmt *st = NULL;
    struct store_discovery *v = NULL;
    size_t n = 0;
    int rc = db_begin(d, e);
    if (rc < 0)
        goto out;
    rc = dq_prep(d, &st, e, "SELECT " DISCOVERY_COLS " FROM discovery_requests"
                 " WHERE status = 'pending' ORDER BY created_at LIMIT ?", "i", (int64_t)max);
    if (rc < 0)
        goto fail;
    while ((rc = db_step(st, e)) == DB_ROW) {
        v = xrealloc(v, (n + 1) * sizeof *v);
        discovery_from_row(st, &v[n++]);
    }
    db_finalize(st);
    st = NULL;
    if (rc < 0)
        goto fail;
    for (size_t i = 0; i < n; i++) {
        v[i].lease_expires_at = now_ms_at + lease_ms;
        snprintf(v[i].status, sizeof v[i].status, "running");
        rc = dq_prep(d, &st, e, "UPDATE discovery_requests SET status = 'running',"
                     " runner_id = ?, lease_expires_at = ? WHERE id = ? AND status = 'pending'",
                     "sis", runner_id, v[i].lease_expires_at, v[i].id);
        if (rc < 0)
            goto fail;
        rc = store__run(st, e);
        st = NULL;
        if (rc < 0)
            goto fail;
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
    store_discoveries_free(v, n);
    store__release(s, d);
    return rc < 0 ? rc : IV_OK;
}

int store_discovery_finish(struct store *s, const char *id, const char *status,
                           int http_status, const char *detail, const char *report,
                           int64_t now_ms_at, struct iv_err *e)
{
    return store__exec(s, false, NULL, e,
                       "UPDATE discovery_requests SET status = ?, http_status = ?, detail = ?,"
                       " report = ?, finished_at = ? WHERE id = ? AND status = 'running'",
                       "sissis", status, (int64_t)http_status, detail, report, now_ms_at, id);
}
