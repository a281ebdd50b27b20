/*
 * lake/metadata: Iceberg v2 table metadata JSON — building a new table's
 * metadata, validating metadata read from a catalog, and deriving the next
 * metadata file (new snapshot, new schema, metadata-log) from a base.
 *
 * Why JSON objects rather than a C struct: a metadata file may have been
 * written by another engine and carry fields we do not model (sort orders,
 * statistics, extra refs). Every change here is applied to a deep copy of the
 * base, so whatever we do not understand is carried forward untouched.
 * Key order follows the Java writer (jansson keeps insertion order).
 */
#include "lake/lake_int.h"

#include <stdlib.h>
#include <string.h>

json_t *lake_md_new(const char *location_uri, const struct lake_schema *s, int64_t now)
{
    char uuid[37];
    uuid_v4(uuid);
    int last_col = 0;
    for (int i = 0; i < s->nfields; i++)
        if (s->fields[i].id > last_col)
            last_col = s->fields[i].id;
    json_t *md = json_object();
    json_object_set_new(md, "format-version", json_integer(2));
    json_object_set_new(md, "table-uuid", json_string(uuid));
    json_object_set_new(md, "location", json_string(location_uri));
    json_object_set_new(md, "last-sequence-number", json_integer(0));
    json_object_set_new(md, "last-updated-ms", json_integer(now));
    json_object_set_new(md, "last-column-id", json_integer(last_col));
    json_object_set_new(md, "current-schema-id", json_integer(s->schema_id));
    json_t *schemas = json_array();
    json_array_append_new(schemas, lake_schema_to_json(s));
    json_object_set_new(md, "schemas", schemas);
    json_object_set_new(md, "default-spec-id", json_integer(0));
    json_object_set_new(md, "partition-specs",
                        json_pack("[{s:i,s:[]}]", "spec-id", 0, "fields"));
    json_object_set_new(md, "last-partition-id", json_integer(999));
    json_object_set_new(md, "default-sort-order-id", json_integer(0));
    json_object_set_new(md, "sort-orders", json_pack("[{s:i,s:[]}]", "order-id", 0, "fields"));
    json_object_set_new(md, "properties",
                        json_pack("{s:s}", "write.parquet.compression-codec", "zstd"));
    json_object_set_new(md, "current-snapshot-id", json_integer(-1));
    json_object_set_new(md, "refs", json_object());
    json_object_set_new(md, "snapshots", json_array());
    json_object_set_new(md, "statistics", json_array());
    json_object_set_new(md, "partition-statistics", json_array());
    json_object_set_new(md, "snapshot-log", json_array());
    json_object_set_new(md, "metadata-log", json_array());
    return md;
}

int64_t lake_md_i64(const json_t *md, const char *key, int64_t dflt)
{
    json_t *v = json_object_get(md, key);
    return json_is_integer(v) ? (int64_t)json_integer_value(v) : dflt;
}

int64_t lake_md_prop_i64(const json_t *md, const char *key, int64_t dflt)
{
    const char *v = json_str(json_object_get(md, "properties"), key);
    if (!v || !*v)
        return dflt;
    char *end = NULL;
    long long x = strtoll(v, &end, 10);
    return (end && *end == '\0') ? (int64_t)x : dflt;
}

int lake_md_check(const json_t *md, struct lake_schema *schema_out, struct iv_err *e)
{
    if (!json_is_object(md))
        return iv_err_set(e, IV_EINVAL, "table metadata is not a JSON object");
    json_int_t fv = lake_md_i64(md, "format-version", -1);
    if (fv != 2)   /* v1 lacks sequence numbers; v3 needs row lineage we do not write */
        return iv_err_set(e, IV_EUNSUPPORTED, "table metadata format-version %lld is not "
                          "supported (only 2)", (long long)fv);
    if (!json_str(md, "location"))
        return iv_err_set(e, IV_EINVAL, "table metadata has no 'location'");
    if (!json_str(md, "table-uuid"))
        return iv_err_set(e, IV_EINVAL, "table metadata has no 'table-uuid'");
    json_t *specs = json_object_get(md, "partition-specs");
    int64_t spec_id = lake_md_i64(md, "default-spec-id", 0);
    size_t i;
    json_t *sp;
    json_array_foreach(specs, i, sp) {
        if (lake_md_i64(sp, "spec-id", -1) == spec_id
            && json_array_size(json_object_get(sp, "fields")) > 0)
            return iv_err_set(e, IV_EUNSUPPORTED, "partitioned tables are not supported by "
                              "this writer");
    }
    int64_t cur = lake_md_i64(md, "current-schema-id", -1);
    json_t *schemas = json_object_get(md, "schemas");
    json_t *sj = NULL;
    json_array_foreach(schemas, i, sj) {
        if (lake_md_i64(sj, "schema-id", -2) == cur)
            break;
        sj = NULL;
    }
    if (!sj)
        return iv_err_set(e, IV_EINVAL, "table metadata has no schema with current-schema-id "
                          "%lld", (long long)cur);
    struct lake_schema s;
    int rc = lake_schema_from_json(sj, &s, e);
    if (rc)
        return rc;
    if (schema_out)
        *schema_out = s;
    else
        lake_schema_release(&s);
    return IV_OK;
}

json_t *lake_md_snapshot(const json_t *md, int64_t id)
{
    size_t i;
    json_t *s;
    json_array_foreach(json_object_get(md, "snapshots"), i, s) {
        if (lake_md_i64(s, "snapshot-id", -1) == id)
            return s;
    }
    return NULL;
}

/* Returns the array member `key`, creating it when absent. Borrowed. */
static json_t *md_array(json_t *md, const char *key)
{
    json_t *a = json_object_get(md, key);
    if (!json_is_array(a)) {
        a = json_array();
        json_object_set_new(md, key, a);
    }
    return a;
}

json_t *lake_md_next(const json_t *base, const char *base_loc, int64_t now)
{
    json_t *md = json_deep_copy(base);
    if (!md)
        abort();
    int64_t prev_ts = lake_md_i64(base, "last-updated-ms", now);
    if (now <= prev_ts)
        now = prev_ts + 1;   /* keep last-updated-ms strictly increasing */
    json_object_set_new(md, "last-updated-ms", json_integer(now));
    json_t *log = md_array(md, "metadata-log");
    if (base_loc)
        json_array_append_new(log, json_pack("{s:I,s:s}", "timestamp-ms", (json_int_t)prev_ts,
                                             "metadata-file", base_loc));
    int64_t max = lake_md_prop_i64(md, "write.metadata.previous-versions-max", 100);
    if (max < 1)
        max = 1;
    while ((int64_t)json_array_size(log) > max)
        json_array_remove(log, 0);
    return md;
}

void lake_md_add_snapshot(json_t *md, json_t *snap)
{
    int64_t id = lake_md_i64(snap, "snapshot-id", -1);
    int64_t ts = lake_md_i64(snap, "timestamp-ms", 0);
    int64_t seq = lake_md_i64(snap, "sequence-number", 0);
    json_array_append_new(md_array(md, "snapshots"), snap);
    json_object_set_new(md, "last-sequence-number", json_integer(seq));
    json_object_set_new(md, "current-snapshot-id", json_integer(id));
    json_t *refs = json_object_get(md, "refs");
    if (!json_is_object(refs)) {
        refs = json_object();
        json_object_set_new(md, "refs", refs);
    }
    json_t *main_ref = json_object_get(refs, "main");
    if (json_is_object(main_ref)) {
        json_object_set_new(main_ref, "snapshot-id", json_integer(id));   /* keeps retention */
    } else {
        json_object_set_new(refs, "main",
                            json_pack("{s:I,s:s}", "snapshot-id", (json_int_t)id, "type",
                                      "branch"));
    }
    json_array_append_new(md_array(md, "snapshot-log"),
                          json_pack("{s:I,s:I}", "timestamp-ms", (json_int_t)ts, "snapshot-id",
                                    (json_int_t)id));
}

void lake_md_add_schema(json_t *md, struct lake_schema *s, int last_column_id)
{
    json_t *schemas = md_array(md, "schemas");
    int max_id = -1;
    size_t i;
    json_t *sj;
    json_array_foreach(schemas, i, sj) {
        int64_t id = lake_md_i64(sj, "schema-id", -1);
        if (id > max_id)
            max_id = (int)id;
    }
    s->schema_id = max_id + 1;
    json_array_append_new(schemas, lake_schema_to_json(s));
    json_object_set_new(md, "current-schema-id", json_integer(s->schema_id));
    if (last_column_id > lake_md_i64(md, "last-column-id", 0))
        json_object_set_new(md, "last-column-id", json_integer(last_column_id));
}

/* Version number of a metadata file name ("00012-<uuid>.metadata.json" -> 12), -1 if none. */
static long parse_version(const char *loc)
{
    const char *base = loc ? strrchr(loc, '/') : NULL;
    base = base ? base + 1 : loc;
    if (!base)
        return -1;
    const char *dash = strchr(base, '-');
    if (!dash || dash == base)
        return -1;
    long v = 0;
    for (const char *p = base; p < dash; p++) {
        if (*p < '0' || *p > '9' || v > 100000000)
            return -1;
        v = v * 10 + (*p - '0');
    }
    return v;
}

int lake_md_write_next(struct lake_catalog *c, const char *location_path, const char *old_loc,
                       const json_t *md, char **loc_out, struct iv_err *e)
{
    char uuid[37];
    uuid_v4(uuid);
    long v = old_loc ? parse_version(old_loc) + 1 : 0;
    char *path = xasprintf("%s/metadata/%05ld-%s.metadata.json", location_path, v, uuid);
    char *text = json_dumps_compact(md);
    int rc = lake_io_put(c, path, text, strlen(text), e);
    free(text);
    if (!rc)
        *loc_out = lake_path_to_uri(path);
    free(path);
    return rc;
}
