/*
 * lake/manifest: the Avro manifest (one manifest_entry per data file) and
 * manifest list (one manifest_file per manifest) of an Iceberg v2 fast
 * append, written through the container writer in avro.c.
 *
 * The Avro schemas below are Java's V2 write schemas (V2Metadata) with every
 * field-id / element-id attribute, stored verbatim in the file header because
 * Iceberg readers match columns by id. Header keys follow the spec's
 * "Manifests" / "Manifest Lists" sections. Codec: deflate (Java's default,
 * and the codecs every reader we test with can read).
 *
 * Manifest entries are ADDED (status 1) with the snapshot id set and null
 * sequence numbers (inherited from the manifest list), so a manifest is
 * reused unchanged when a commit is retried; only the list is rewritten.
 */
#include "lake/lake_int.h"
#include "lake/avro.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KV_MAP(name, id, k, v, vt) \
    "{\"name\":\"" name "\",\"type\":[\"null\",{\"type\":\"array\",\"items\":{\"type\":" \
    "\"record\",\"name\":\"k" #k "_v" #v "\",\"fields\":[{\"name\":\"key\",\"type\":\"int\"," \
    "\"field-id\":" #k "},{\"name\":\"value\",\"type\":\"" vt "\",\"field-id\":" #v "}]}," \
    "\"logicalType\":\"map\"}],\"default\":null,\"field-id\":" #id "}"

static const char MANIFEST_SCHEMA[] =
    "{\"type\":\"record\",\"name\":\"manifest_entry\",\"fields\":["
    "{\"name\":\"status\",\"type\":\"int\",\"field-id\":0},"
    "{\"name\":\"snapshot_id\",\"type\":[\"null\",\"long\"],\"default\":null,\"field-id\":1},"
    "{\"name\":\"sequence_number\",\"type\":[\"null\",\"long\"],\"default\":null,"
    "\"field-id\":3},"
    "{\"name\":\"file_sequence_number\",\"type\":[\"null\",\"long\"],\"default\":null,"
    "\"field-id\":4},"
    "{\"name\":\"data_file\",\"type\":{\"type\":\"record\",\"name\":\"r2\",\"fields\":["
    "{\"name\":\"content\",\"type\":\"int\",\"field-id\":134},"
    "{\"name\":\"file_path\",\"type\":\"string\",\"field-id\":100},"
    "{\"name\":\"file_format\",\"type\":\"string\",\"field-id\":101},"
    "{\"name\":\"partition\",\"type\":{\"type\":\"record\",\"name\":\"r102\",\"fields\":[]},"
    "\"field-id\":102},"
    "{\"name\":\"record_count\",\"type\":\"long\",\"field-id\":103},"
    "{\"name\":\"file_size_in_bytes\",\"type\":\"long\",\"field-id\":104},"
    KV_MAP("column_sizes", 108, 117, 118, "long") ","
    KV_MAP("value_counts", 109, 119, 120, "long") ","
    KV_MAP("null_value_counts", 110, 121, 122, "long") ","
    KV_MAP("nan_value_counts", 137, 138, 139, "long") ","
    KV_MAP("lower_bounds", 125, 126, 127, "bytes") ","
    KV_MAP("upper_bounds", 128, 129, 130, "bytes") ","
    "{\"name\":\"key_metadata\",\"type\":[\"null\",\"bytes\"],\"default\":null,"
    "\"field-id\":131},"
    "{\"name\":\"split_offsets\",\"type\":[\"null\",{\"type\":\"array\",\"items\":\"long\","
    "\"element-id\":133}],\"default\":null,\"field-id\":132},"
    "{\"name\":\"equality_ids\",\"type\":[\"null\",{\"type\":\"array\",\"items\":\"int\","
    "\"element-id\":136}],\"default\":null,\"field-id\":135},"
    "{\"name\":\"sort_order_id\",\"type\":[\"null\",\"int\"],\"default\":null,"
    "\"field-id\":140},"
    "{\"name\":\"referenced_data_file\",\"type\":[\"null\",\"string\"],\"default\":null,"
    "\"field-id\":143}"
    "]},\"field-id\":2}]}";

static const char MANIFEST_LIST_SCHEMA[] =
    "{\"type\":\"record\",\"name\":\"manifest_file\",\"fields\":["
    "{\"name\":\"manifest_path\",\"type\":\"string\",\"field-id\":500},"
    "{\"name\":\"manifest_length\",\"type\":\"long\",\"field-id\":501},"
    "{\"name\":\"partition_spec_id\",\"type\":\"int\",\"field-id\":502},"
    "{\"name\":\"content\",\"type\":\"int\",\"field-id\":517},"
    "{\"name\":\"sequence_number\",\"type\":\"long\",\"field-id\":515},"
    "{\"name\":\"min_sequence_number\",\"type\":\"long\",\"field-id\":516},"
    "{\"name\":\"added_snapshot_id\",\"type\":\"long\",\"field-id\":503},"
    "{\"name\":\"added_files_count\",\"type\":\"int\",\"field-id\":504},"
    "{\"name\":\"existing_files_count\",\"type\":\"int\",\"field-id\":505},"
    "{\"name\":\"deleted_files_count\",\"type\":\"int\",\"field-id\":506},"
    "{\"name\":\"added_rows_count\",\"type\":\"long\",\"field-id\":512},"
    "{\"name\":\"existing_rows_count\",\"type\":\"long\",\"field-id\":513},"
    "{\"name\":\"deleted_rows_count\",\"type\":\"long\",\"field-id\":514},"
    "{\"name\":\"partitions\",\"type\":[\"null\",{\"type\":\"array\",\"items\":{\"type\":"
    "\"record\",\"name\":\"r508\",\"fields\":["
    "{\"name\":\"contains_null\",\"type\":\"boolean\",\"field-id\":509},"
    "{\"name\":\"contains_nan\",\"type\":[\"null\",\"boolean\"],\"default\":null,"
    "\"field-id\":518},"
    "{\"name\":\"lower_bound\",\"type\":[\"null\",\"bytes\"],\"default\":null,"
    "\"field-id\":510},"
    "{\"name\":\"upper_bound\",\"type\":[\"null\",\"bytes\"],\"default\":null,"
    "\"field-id\":511}]},\"element-id\":508}],\"default\":null,\"field-id\":507},"
    "{\"name\":\"key_metadata\",\"type\":[\"null\",\"bytes\"],\"default\":null,"
    "\"field-id\":519}]}";

enum metric { M_SIZE, M_VALUES, M_NULLS, M_NANS, M_LOWER, M_UPPER };

/* Whether column c has an entry in metric m's map: bounds only where the writer kept them,
 * NaN counts only for float and double columns. */
static bool metric_has(enum metric m, const struct pqw_column_stats *c,
                       const struct lake_schema *sch)
{
    if ((m == M_LOWER || m == M_UPPER) && !c->has_bounds)
        return false;
    if (m == M_NANS) {
        int k = -1;
        for (int j = 0; sch && j < sch->nfields; j++)
            if (sch->fields[j].id == c->field_id)
                k = j;
        if (k < 0 || (sch->fields[k].type != LAKE_FLOAT && sch->fields[k].type != LAKE_DOUBLE))
            return false;
    }
    return true;
}

/* Encodes one int-keyed metrics map (as Iceberg's array-of-records form) in a union. */
static int put_metric_map(struct buf *b, const struct pqw_file_stats *st, enum metric m,
                          const struct lake_schema *sch)
{
    int n = 0;
    for (int i = 0; i < st->ncolumns; i++) {
        const struct pqw_column_stats *c = &st->columns[i];
        if (!metric_has(m, c, sch))
            continue;
        n++;
    }
    int rc = avro_put_long(b, 1);   /* union branch: the array */
    if (!rc && n > 0)
        rc = avro_put_long(b, n);
    for (int i = 0; !rc && i < st->ncolumns; i++) {
        const struct pqw_column_stats *c = &st->columns[i];
        if (!metric_has(m, c, sch))
            continue;
        rc = avro_put_long(b, c->field_id);
        if (rc)
            break;
        switch (m) {
        case M_SIZE: rc = avro_put_long(b, c->compressed_size); break;
        case M_VALUES: rc = avro_put_long(b, c->value_count); break;
        case M_NULLS: rc = avro_put_long(b, c->null_count); break;
        case M_NANS: rc = avro_put_long(b, c->nan_count); break;
        case M_LOWER: rc = avro_put_bytes(b, c->lower, c->lower_len); break;
        case M_UPPER: rc = avro_put_bytes(b, c->upper, c->upper_len); break;
        }
    }
    if (!rc)
        rc = avro_put_long(b, 0);   /* end of array */
    return rc;
}

/* nan_value_counts are written for float/double columns only, hence the schema. */
static int encode_entry(struct buf *b, const struct lake_data_file *f, int64_t snapshot_id,
                        const struct lake_schema *sch)
{
    char *uri = lake_path_to_uri(f->path);
    int rc = avro_put_long(b, 1);                       /* status ADDED */
    rc = rc ? rc : avro_put_long(b, 1);                 /* snapshot_id: branch long */
    rc = rc ? rc : avro_put_long(b, snapshot_id);
    rc = rc ? rc : avro_put_long(b, 0);                 /* sequence_number null */
    rc = rc ? rc : avro_put_long(b, 0);                 /* file_sequence_number null */
    rc = rc ? rc : avro_put_long(b, 0);                 /* content DATA */
    rc = rc ? rc : avro_put_string(b, uri);
    rc = rc ? rc : avro_put_string(b, "PARQUET");
    /* partition: empty record, zero bytes */
    rc = rc ? rc : avro_put_long(b, f->st.record_count);
    rc = rc ? rc : avro_put_long(b, f->st.file_size);
    rc = rc ? rc : put_metric_map(b, &f->st, M_SIZE, NULL);
    rc = rc ? rc : put_metric_map(b, &f->st, M_VALUES, NULL);
    rc = rc ? rc : put_metric_map(b, &f->st, M_NULLS, NULL);
    rc = rc ? rc : put_metric_map(b, &f->st, M_NANS, sch);
    rc = rc ? rc : put_metric_map(b, &f->st, M_LOWER, NULL);
    rc = rc ? rc : put_metric_map(b, &f->st, M_UPPER, NULL);
    rc = rc ? rc : avro_put_long(b, 0);                 /* key_metadata null */
    if (!rc && f->st.nsplits > 0) {
        rc = avro_put_long(b, 1);
        rc = rc ? rc : avro_put_long(b, f->st.nsplits);
        for (int i = 0; !rc && i < f->st.nsplits; i++)
            rc = avro_put_long(b, f->st.split_offsets[i]);
        rc = rc ? rc : avro_put_long(b, 0);
    } else if (!rc) {
        rc = avro_put_long(b, 0);                       /* split_offsets null */
    }
    rc = rc ? rc : avro_put_long(b, 0);                 /* equality_ids null */
    rc = rc ? rc : avro_put_long(b, 1);                 /* sort_order_id = 0 */
    rc = rc ? rc : avro_put_long(b, 0);
    rc = rc ? rc : avro_put_long(b, 0);                 /* referenced_data_file null */
    free(uri);
    return rc;
}

int lake_manifest_write(const char *path, const struct lake_data_file *files, int nfiles,
                        int64_t snapshot_id, const char *schema_json, int schema_id,
                        int64_t *len_out, struct iv_err *e)
{
    struct lake_schema sch;
    lake_schema_init(&sch);
    json_t *sj = json_loads(schema_json, 0, NULL);
    if (sj)
        /* a manifest's schema is informational here: an unparsable one stays empty */
        IV_DISCARD(lake_schema_from_json(sj, &sch, NULL));
    json_decref(sj);
    char sid[16];
    snprintf(sid, sizeof sid, "%d", schema_id);
    const char *meta[] = {
        "schema", schema_json, "schema-id", sid, "partition-spec", "[]",
        "partition-spec-id", "0", "format-version", "2", "content", "data", NULL,
    };
    struct avro_writer *w = NULL;
    int rc = avro_writer_open(&w, path, MANIFEST_SCHEMA, meta, AVRO_DEFLATE, e);
    if (rc)
        goto out;
    for (int i = 0; i < nfiles; i++) {
        rc = encode_entry(avro_writer_record(w), &files[i], snapshot_id, &sch);
        if (rc) {
            iv_err_set(e, rc, "manifest entry for '%s' could not be encoded", files[i].path);
            break;
        }
        rc = avro_writer_end_record(w);
        if (rc) {
            iv_err_set(e, rc, "manifest '%s': record could not be added", path);
            break;
        }
    }
    if (rc) {
        avro_writer_abort(w);
        goto out;
    }
    rc = avro_writer_finish(w, len_out, e);
out:
    lake_schema_release(&sch);
    return rc;
}

/* Fills fields of our manifest_file schema that an older parent list lacks. */
static void normalise_parent_record(json_t *rec, const json_t *schema)
{
    size_t i;
    json_t *f;
    json_array_foreach(json_object_get(schema, "fields"), i, f) {
        const char *name = json_str(f, "name");
        if (!json_object_get(rec, name)) {
            if (strcmp(name, "content") == 0)
                json_object_set_new(rec, name, json_integer(0));
            else if (strcmp(name, "sequence_number") == 0
                     || strcmp(name, "min_sequence_number") == 0)
                json_object_set_new(rec, name, json_integer(0));   /* v1 manifests: seq 0 */
            else
                json_object_set_new(rec, name, json_null());
        }
    }
}

int lake_manifest_list_write(const char *path, const struct lake_manifest_ref *neu,
                             const char *parent_list_path, int64_t snapshot_id,
                             int64_t parent_id, int64_t seq, struct iv_err *e)
{
    json_t *pschema = NULL, *pmeta = NULL, *precs = NULL;
    json_t *ours = NULL;
    struct avro_writer *w = NULL;
    int rc = IV_OK;
    if (parent_list_path) {
        rc = avro_read_file(parent_list_path, &pschema, &pmeta, &precs, e);
        if (rc)
            goto out;
        ours = json_loads(MANIFEST_LIST_SCHEMA, 0, NULL);
        if (!ours)
            abort();
    }
    char sid[32], pid[32], sq[32];
    snprintf(sid, sizeof sid, "%lld", (long long)snapshot_id);
    if (parent_id >= 0)
        snprintf(pid, sizeof pid, "%lld", (long long)parent_id);
    else
        snprintf(pid, sizeof pid, "null");
    snprintf(sq, sizeof sq, "%lld", (long long)seq);
    const char *meta[] = {
        "snapshot-id", sid, "parent-snapshot-id", pid, "sequence-number", sq,
        "format-version", "2", NULL,
    };
    rc = avro_writer_open(&w, path, MANIFEST_LIST_SCHEMA, meta, AVRO_DEFLATE, e);
    if (rc)
        goto out;
    if (neu) {
        struct buf *b = avro_writer_record(w);
        rc = avro_put_string(b, neu->uri);
        rc = rc ? rc : avro_put_long(b, neu->length);
        rc = rc ? rc : avro_put_long(b, 0);               /* partition_spec_id */
        rc = rc ? rc : avro_put_long(b, 0);               /* content: data */
        rc = rc ? rc : avro_put_long(b, neu->seq);
        rc = rc ? rc : avro_put_long(b, neu->seq);        /* min_sequence_number */
        rc = rc ? rc : avro_put_long(b, neu->snapshot_id);
        rc = rc ? rc : avro_put_long(b, neu->added_files);
        rc = rc ? rc : avro_put_long(b, 0);
        rc = rc ? rc : avro_put_long(b, 0);
        rc = rc ? rc : avro_put_long(b, neu->added_rows);
        rc = rc ? rc : avro_put_long(b, 0);
        rc = rc ? rc : avro_put_long(b, 0);
        rc = rc ? rc : avro_put_long(b, 1);               /* partitions: [] */
        rc = rc ? rc : avro_put_long(b, 0);
        rc = rc ? rc : avro_put_long(b, 0);               /* key_metadata null */
        rc = rc ? rc : avro_writer_end_record(w);
        if (rc) {
            iv_err_set(e, rc, "manifest list '%s': cannot encode the new manifest", path);
            goto fail;
        }
    }
    size_t i;
    json_t *rec;
    json_array_foreach(precs, i, rec) {
        normalise_parent_record(rec, ours);
        rc = avro_encode_json(avro_writer_record(w), ours, rec, e);
        if (rc)
            goto fail;
        rc = avro_writer_end_record(w);
        if (rc) {
            iv_err_set(e, rc, "manifest list '%s': record could not be added", path);
            goto fail;
        }
    }
    rc = avro_writer_finish(w, NULL, e);
    goto out;
fail:
    avro_writer_abort(w);
out:
    json_decref(pschema);
    json_decref(pmeta);
    json_decref(precs);
    json_decref(ours);
    return rc;
}
