/*
 * lake/scan: the rows of a table's current snapshot (see "reading rows back" in lake.h).
 * Manifest list -> manifests (Avro, read with lake/avro) -> live data entries (status != DELETED, content = data) ->
 * lake_parquet_read with the table's current schema. Files on S3 are downloaded to the
 * spool one at a time and removed after reading.
 */
#include "lake/avro.h"
#include "lake/lake_int.h"

#include <string.h>

/* Reads an Avro file on local disk or S3 (downloaded to the spool, then removed). */
static int read_avro(struct lake_catalog *c, const char *uri, json_t **records, struct iv_err *e)
{
    char *local = NULL;
    json_t *schema = NULL, *meta = NULL;
    int rc = lake_io_fetch(c, uri, &local, e);
    if (!rc)
        rc = avro_read_file(local, &schema, &meta, records, e);
    lake_io_fetch_done(uri, local);
    json_decref(schema);
    json_decref(meta);
    return rc;
}

static int read_parquet(struct lake_table *t, const char *uri, int64_t limit, lake_row_fn fn,
                        void *ctx, struct iv_err *e)
{
    char *local = NULL;
    int rc = lake_io_fetch(t->cat, uri, &local, e);
    if (!rc)
        rc = lake_parquet_read(local, &t->schema, limit, fn, ctx, e);
    lake_io_fetch_done(uri, local);
    return rc;
}

struct scan_ctx {
    lake_row_fn fn;
    void *ctx;
    int64_t left;            /* < 0: unlimited */
};

static int count_row(void *c, const json_t *row)
{
    struct scan_ctx *s = c;
    if (s->left > 0)
        s->left--;
    return s->fn(s->ctx, row);
}

int lake_table_scan(struct lake_table *t, int64_t limit, lake_row_fn fn, void *ctx,
                    struct iv_err *e)
{
    int64_t cur = lake_md_i64(t->md, "current-snapshot-id", -1);
    json_t *snap = cur >= 0 ? lake_md_snapshot(t->md, cur) : NULL;
    if (!snap || limit == 0)
        return IV_OK;
    const char *list = json_str(snap, "manifest-list");
    if (!list)
        return iv_err_set(e, IV_EINVAL, "snapshot %lld has no manifest-list", (long long)cur);
    json_t *manifests = NULL;
    int rc = read_avro(t->cat, list, &manifests, e);
    if (rc)
        return rc;
    struct scan_ctx sc = {.fn = fn, .ctx = ctx, .left = limit};
    size_t i;
    json_t *m;
    json_array_foreach(manifests, i, m) {
        if (rc || sc.left == 0)
            break;
        json_t *content = json_object_get(m, "content");
        if (json_is_integer(content) && json_integer_value(content) != 0)
            continue;   /* delete manifests: this library writes none */
        const char *mp = json_str(m, "manifest_path");
        if (!mp) {
            rc = iv_err_set(e, IV_EINVAL, "manifest list %s: entry without manifest_path", list);
            break;
        }
        json_t *entries = NULL;
        if ((rc = read_avro(t->cat, mp, &entries, e)))
            break;
        size_t k;
        json_t *en;
        json_array_foreach(entries, k, en) {
            if (rc || sc.left == 0)
                break;
            if (json_integer_value(json_object_get(en, "status")) == 2)
                continue;   /* DELETED */
            json_t *df = json_object_get(en, "data_file");
            json_t *dc = json_object_get(df, "content");
            if (json_is_integer(dc) && json_integer_value(dc) != 0)
                continue;
            const char *fp = json_str(df, "file_path");
            if (!fp)
                continue;
            rc = read_parquet(t, fp, sc.left, count_row, &sc, e);
        }
        json_decref(entries);
    }
    json_decref(manifests);
    return rc;
}
