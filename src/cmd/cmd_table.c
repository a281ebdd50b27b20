/*
 * cmd_table: `ivory table show --config FILE NAMESPACE.TABLE` — what a table
 * holds, from its metadata alone: the current schema, the snapshot list (with
 * the Singer STATE and run id each commit recorded) and the row count of the
 * current snapshot (its summary's total-records), plus its first rows
 * (`--rows N`, default 20, 0 = none) decoded by lake_table_scan (lake.h). The
 * tests' row
 * oracle stays an independent reader (tests/e2e/lib/iceberg_read.mjs); this is
 * a small inspection tool. FILE is the same JSON config `ivory target-iceberg`
 * takes (catalog_type, warehouse, catalog_uri, catalog_name and the S3 / REST keys of
 * docs/lakehouse.md); tables on S3 are read there.
 */
#include "cmd/cmd.h"
#include "lake/lake.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Builds the printed view from the metadata JSON (new reference). */
static json_t *table_view(const char *name, struct lake_table *t, const json_t *md)
{
    json_t *out = json_object();
    json_object_set_new(out, "table", json_string(name));
    json_object_set_new(out, "location", json_string(lake_table_location(t)));
    json_object_set_new(out, "metadata_location", json_string(lake_table_metadata_location(t)));
    int64_t cur = lake_table_current_snapshot_id(t);
    json_object_set_new(out, "current_snapshot_id", cur >= 0 ? json_integer(cur) : json_null());
    json_object_set_new(out, "schema", lake_schema_to_json(lake_table_schema(t)));

    json_t *snaps = json_array();
    json_int_t rows = 0;
    size_t i;
    const json_t *s;
    json_array_foreach(json_object_get(md, "snapshots"), i, s) {
        const json_t *sum = json_object_get(s, "summary");
        json_t *v = json_object();
        json_object_set(v, "snapshot_id", json_object_get(s, "snapshot-id"));
        json_t *parent = json_object_get(s, "parent-snapshot-id");
        json_object_set_new(v, "parent_snapshot_id", parent ? json_incref(parent) : json_null());
        json_object_set(v, "timestamp_ms", json_object_get(s, "timestamp-ms"));
        const char *op = json_str(sum, "operation");
        json_object_set_new(v, "operation", op ? json_string(op) : json_null());
        const char *added = json_str(sum, "added-records");
        const char *total = json_str(sum, "total-records");
        json_object_set_new(v, "added_records", json_integer(added ? strtoll(added, NULL, 10) : 0));
        json_object_set_new(v, "total_records", json_integer(total ? strtoll(total, NULL, 10) : 0));
        const char *st = json_str(sum, "ivory.state");
        json_t *stj = st ? json_loads(st, JSON_DECODE_ANY, NULL) : NULL;
        json_object_set_new(v, "state", stj ? stj : json_null());
        const char *rid = json_str(sum, "ivory.run-id");
        json_object_set_new(v, "run_id", rid ? json_string(rid) : json_null());
        if (json_integer_value(json_object_get(s, "snapshot-id")) == cur)
            rows = total ? strtoll(total, NULL, 10) : 0;
        json_array_append_new(snaps, v);
    }
    json_object_set_new(out, "row_count", json_integer(rows));
    json_object_set_new(out, "snapshots", snaps);
    return out;
}

/* Rows (added for the runner walk-through): the first N rows of the current snapshot,
 * decoded by lake/scan, under "rows" in the view. */
static int collect_row(void *ctx, const json_t *row)
{
    json_array_append((json_t *)ctx, (json_t *)row);
    return IV_OK;
}

/* NAMESPACE.TABLE where either part may hold dots ("ns.public.users" is table
 * "public.users" in namespace "ns", or table "users" in "ns.public"): tries each split,
 * the last dot first, and takes the first table that exists. */
static int load_dotted(struct lake_catalog *cat, const char *qualified, struct lake_table **t,
                       struct iv_err *e)
{
    int rc = IV_ENOTFOUND;
    for (const char *dot = strrchr(qualified, '.'); dot && dot > qualified;) {
        if (dot[1]) {
            char *ns = xstrndup(qualified, (size_t)(dot - qualified));
            rc = lake_table_load(cat, ns, dot + 1, t, e);
            free(ns);
            if (rc != IV_ENOTFOUND)
                return rc;
        }
        do
            dot--;
        while (dot > qualified && *dot != '.');
    }
    return iv_err_set(e, IV_ENOTFOUND, "no such table (tried every NAMESPACE.TABLE split of "
                      "the name)");
}

static int table_show(const char *config_path, const char *qualified, int64_t nrows)
{
    json_error_t je;
    json_t *cfg = NULL, *md = NULL, *view = NULL;
    struct lake_catalog *cat = NULL;
    struct lake_table *t = NULL;
    struct iv_err e = {0};
    char *text = NULL;
    int rc = 1;

    const char *dot = strrchr(qualified, '.');
    if (!dot || dot == qualified || !dot[1]) {
        rc = cmd_usage_error("table show: expected NAMESPACE.TABLE, got '%s'", qualified);
        goto out;
    }
    cfg = json_load_file(config_path, JSON_REJECT_DUPLICATES, &je);
    if (!json_is_object(cfg)) {
        rc = cmd_fail("table show: config %s: %s", config_path, cfg ? "not a JSON object" : je.text);
        goto out;
    }
    struct lake_catalog_config cc;
    if (lake_catalog_config_from_json(cfg, &cc, &e) || lake_catalog_open(&cat, &cc, &e)) {
        rc = cmd_fail("table show: %s", e.msg);
        goto out;
    }
    if (load_dotted(cat, qualified, &t, &e)) {
        rc = cmd_fail("table show: %s: %s", qualified, e.msg);
        goto out;
    }
    md = json_incref((json_t *)lake_table_metadata(t));
    view = table_view(qualified, t, md);
    if (nrows > 0) {
        json_t *rows = json_array();
        if (lake_table_scan(t, nrows, collect_row, rows, &e)) {
            json_decref(rows);
            rc = cmd_fail("table show: %s: reading rows: %s", qualified, e.msg);
            goto out;
        }
        json_object_set_new(view, "rows", rows);
    }
    char *s = json_dumps(view, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    if (s) {
        puts(s);
        free(s);
    }
    rc = 0;
out:
    if (view)
        json_decref(view);
    if (md)
        json_decref(md);
    if (cfg)
        json_decref(cfg);
    free(text);
    if (t)
        lake_table_close(t);
    if (cat)
        lake_catalog_close(cat);
    return rc;
}

static const char table_usage[] =
    "usage: ivory table show --config FILE [--rows N] NAMESPACE.TABLE\n"
    "  prints the table's schema, snapshots (with their Singer STATE and run id) and the first\n"
    "  N rows (default 20) as JSON; FILE is a target-iceberg config naming the catalog\n";

int cmd_table(int argc, char **argv)
{
    /* argv[0] = "table" */
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(table_usage, stdout);
            return 0;
        }
    }
    if (argc < 2 || strcmp(argv[1], "show") != 0)
        return cmd_usage_error("usage: table show --config FILE [--rows N] NAMESPACE.TABLE");
    const char *config = NULL, *name = NULL;
    int64_t nrows = 20;
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--config") && i + 1 < argc)
            config = argv[++i];
        else if (!strcmp(argv[i], "--rows") && i + 1 < argc) {
            char *end = NULL;
            long long v = strtoll(argv[++i], &end, 10);
            if (!end || *end || v < 0)
                return cmd_usage_error("table show: --rows needs a number >= 0");
            nrows = v;
        }
        else if (argv[i][0] != '-' && !name)
            name = argv[i];
        else
            return cmd_usage_error("table show: unexpected argument '%s'", argv[i]);
    }
    if (!config || !name)
        return cmd_usage_error("usage: table show --config FILE [--rows N] NAMESPACE.TABLE");
    return table_show(config, name, nrows);
}
