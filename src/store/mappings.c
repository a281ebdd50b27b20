/*
 * mappings.c: the field mapping queries (see store.h, "field mappings") and the run's
 * transform samples. Every query is scoped by tenant: another tenant's connector is
 * IV_ENOTFOUND. The mapping set is replaced in one transaction, so a runner reading it at
 * the start of a run sees the old set or the new one, never a mix.
 */
#include "store/store_internal.h"

#include <stdlib.h>
#include <string.h>

#define mq_prep(d, st, e, ...) store__prep((d), (st), false, (e), __VA_ARGS__)

void store_mappings_free(struct store_mapping *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++) {
        free(v[i].source_stream);
        free(v[i].source_field);
        free(v[i].target_column);
        free(v[i].target_type);
        free(v[i].transform_fn);
    }
    free(v);
}

/* IV_OK when the connector is the tenant's, IV_ENOTFOUND when not. */
static int connector_exists(struct db *d, const char *tenant_id, const char *connector_id,
                            struct iv_err *e)
{
    struct db_stmt *st = NULL;
    int rc = mq_prep(d, &st, e, "SELECT COUNT(*) FROM connectors WHERE tenant_id = ? AND id = ?",
                     "ss", tenant_id, connector_id);
    if (rc < 0)
        return rc;
    rc = db_step(st, e);
    bool found = rc == DB_ROW && db_col_int64(st, 0) > 0;
    db_finalize(st);
    if (rc < 0)
        return rc;
    return found ? IV_OK : iv_err_set(e, IV_ENOTFOUND, "connector '%s' not found",
                                      connector_id);
}

int store_mappings_get(struct store *s, const char *tenant_id, const char *connector_id,
                       struct store_mapping **out, size_t *n_out, struct iv_err *e)
{
    struct db *d = store__acquire(s);
    struct db_stmt *st = NULL;
    struct store_mapping *v = NULL;
    size_t n = 0;
    *out = NULL;
    *n_out = 0;
    int rc = connector_exists(d, tenant_id, connector_id, e);
    if (rc < 0)
        goto out;
    rc = mq_prep(d, &st, e,
                 "SELECT source_stream, source_field, target_column, target_type, transform_fn,"
                 " review_required FROM field_mappings WHERE tenant_id = ? AND connector_id = ?"
                 " ORDER BY position, id", "ss", tenant_id, connector_id);
    if (rc < 0)
        goto out;
    while ((rc = db_step(st, e)) == DB_ROW) {
        v = xrealloc(v, sizeof *v * (n + 1));
        struct store_mapping *m = &v[n++];
        m->source_stream = db_col_strdup(st, 0);
        m->source_field = db_col_strdup(st, 1);
        m->target_column = db_col_strdup(st, 2);
        m->target_type = db_col_strdup(st, 3);
        m->transform_fn = db_col_strdup(st, 4);
        m->review_required = db_col_int64(st, 5) != 0;
    }
    if (rc < 0) {
        store_mappings_free(v, n);
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

int store_mappings_replace(struct store *s, const char *tenant_id, const char *connector_id,
                           const char *only_stream, const struct store_mapping *v, size_t n,
                           struct iv_err *e)
{
    struct db *d = store__acquire(s);
    struct db_stmt *st = NULL;
    int rc = db_begin(d, e);
    if (rc < 0)
        goto out;
    rc = connector_exists(d, tenant_id, connector_id, e);
    if (rc < 0)
        goto fail;
    if (only_stream)
        rc = mq_prep(d, &st, e, "DELETE FROM field_mappings WHERE tenant_id = ? AND"
                     " connector_id = ? AND source_stream = ?", "sss", tenant_id, connector_id,
                     only_stream);
    else
        rc = mq_prep(d, &st, e, "DELETE FROM field_mappings WHERE tenant_id = ? AND"
                     " connector_id = ?", "ss", tenant_id, connector_id);
    if (rc < 0 || (rc = store__run(st, e)) < 0)
        goto fail;
    st = NULL;
    /* Positions continue after the mappings that stay (only_stream), keeping saved order. */
    int64_t base = 0;
    if (only_stream) {
        rc = mq_prep(d, &st, e, "SELECT COALESCE(MAX(position), -1) + 1 FROM field_mappings"
                     " WHERE tenant_id = ? AND connector_id = ?", "ss", tenant_id,
                     connector_id);
        if (rc < 0)
            goto fail;
        rc = db_step(st, e);
        if (rc == DB_ROW)
            base = db_col_int64(st, 0);
        db_finalize(st);
        st = NULL;
        if (rc < 0)
            goto fail;
    }
    for (size_t i = 0; i < n; i++) {
        char id[37];
        uuid_v4(id);
        rc = mq_prep(d, &st, e,
                     "INSERT INTO field_mappings (id, connector_id, tenant_id, source_stream,"
                     " source_field, target_column, target_type, transform_fn, review_required,"
                     " position) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                     "ssssssssii", id, connector_id, tenant_id, v[i].source_stream,
                     v[i].source_field, v[i].target_column, v[i].target_type, v[i].transform_fn,
                     (int64_t)v[i].review_required, base + (int64_t)i);
        if (rc < 0 || (rc = store__run(st, e)) < 0)
            goto fail;
        st = NULL;
    }
    rc = db_commit(d, e);
    if (rc < 0)
        goto fail;
    rc = IV_OK;
    goto out;
fail:
    db_rollback(d);
out:
    store__release(s, d);
    return rc;
}

int store_run_set_transform_samples(struct store *s, const char *tenant_id, const char *run_id,
                                    const char *samples_json, struct iv_err *e)
{
    return store__exec(s, false, NULL, e,
                       "UPDATE sync_runs SET transform_samples = ? WHERE tenant_id = ? AND id = ?",
                       "sss", samples_json, tenant_id, run_id);
}
