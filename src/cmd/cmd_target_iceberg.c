/*
 * cmd_target_iceberg: `ivory target-iceberg --config FILE [--run-id ID]`, a
 * standards-following Singer target (docs/runner.md, docs/singer.md): Singer messages on
 * stdin -> Iceberg tables, one table per stream, through the same lake API
 * the runner uses.
 *
 * Commits happen only at STATE boundaries: when a STATE arrives and at least
 * batch_rows rows or batch_seconds seconds have gone by since the last
 * commit, every table with pending rows commits one snapshot whose summary
 * carries that STATE; the STATE is then printed on stdout (one JSON line), so
 * Meltano can use this as a loader. At clean EOF the remaining rows commit
 * with the latest STATE. Any bad line (non-JSON, unknown type, RECORD before
 * its SCHEMA, a record not matching its schema, a line over the cap) stops
 * the run with exit 1 and a message naming the line number; uncommitted rows
 * are discarded, so each table stays at its last good snapshot.
 * See docs/singer.md for the decisions behind this. The pipeline itself (decode,
 * two-thread Parquet writing, commits) is src/singer/loader.c, shared with the
 * runner; this file is configuration, stdin, stdout and error reporting.
 */
#include "cmd/cmd.h"
#include "lake/lake.h"
#include "singer/singer.h"
#include "singer/singer.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DEFAULT_BATCH_ROWS 1000000
#define DEFAULT_BATCH_SECONDS 300.0

struct tgt_config {
    json_t *root;                 /* owns the strings below */
    struct lake_catalog_config cat;
    const char *ns;
    const char *table;            /* NULL: the stream name */
    int64_t batch_rows;
    double batch_seconds;
    size_t max_line;
    enum pqw_codec codec;
    size_t target_file_bytes;
    enum singer_drift drift;      /* "schema_drift": evolve (default) | freeze | discard_row */
};

/* ---- config ------------------------------------------------------------------- */
static const char *cfg_str(json_t *root, const char *key, const char *dflt, int *bad,
                           struct iv_err *e)
{
    json_t *v = json_object_get(root, key);
    if (!v || json_is_null(v))
        return dflt;
    if (!json_is_string(v)) {
        *bad = iv_err_set(e, IV_EINVAL, "config key '%s' must be a string", key);
        return dflt;
    }
    return json_string_value(v);
}

static int load_config(const char *path, struct tgt_config *c, struct iv_err *e)
{
    memset(c, 0, sizeof(*c));
    json_error_t je;
    c->root = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
    if (!c->root)
        return iv_err_set(e, IV_EINVAL, "config %s: %s (line %d)", path, je.text, je.line);
    if (!json_is_object(c->root))
        return iv_err_set(e, IV_EINVAL, "config %s: not a JSON object", path);
    int bad = 0;
    int crc = lake_catalog_config_from_json(c->root, &c->cat, e);
    if (crc)
        return iv_err_set(e, crc, "config %s: %s", path, e->msg);
    c->ns = cfg_str(c->root, "namespace", NULL, &bad, e);
    c->table = cfg_str(c->root, "table", NULL, &bad, e);
    const char *codec = cfg_str(c->root, "compression", "zstd", &bad, e);
    const char *drift = cfg_str(c->root, "schema_drift", "evolve", &bad, e);
    if (bad)
        return bad;
    if (!strcmp(drift, "evolve"))
        c->drift = SINGER_DRIFT_EVOLVE;
    else if (!strcmp(drift, "freeze"))
        c->drift = SINGER_DRIFT_FREEZE;
    else if (!strcmp(drift, "discard_row"))
        c->drift = SINGER_DRIFT_DISCARD_ROW;
    else
        return iv_err_set(e, IV_EINVAL, "config %s: 'schema_drift' must be evolve, freeze or "
                          "discard_row", path);
    if (!c->cat.type)
        return iv_err_set(e, IV_EINVAL, "config %s: 'catalog_type' is required "
                          "(hadoop, sql, rest, glue)", path);
    if (!c->cat.warehouse)
        return iv_err_set(e, IV_EINVAL, "config %s: 'warehouse' is required", path);
    if (!c->ns || !*c->ns)
        return iv_err_set(e, IV_EINVAL, "config %s: 'namespace' is required", path);
    if (c->table && !*c->table)
        return iv_err_set(e, IV_EINVAL, "config %s: 'table' is empty", path);
    if (!strcmp(codec, "zstd"))
        c->codec = PQW_ZSTD;
    else if (!strcmp(codec, "snappy"))
        c->codec = PQW_SNAPPY;
    else
        return iv_err_set(e, IV_EINVAL, "config %s: 'compression' must be zstd or snappy", path);

    c->batch_rows = DEFAULT_BATCH_ROWS;
    c->batch_seconds = DEFAULT_BATCH_SECONDS;
    c->max_line = SINGER_DEFAULT_MAX_LINE;
    json_t *v;
    if ((v = json_object_get(c->root, "batch_rows")) && !json_is_null(v)) {
        if (!json_is_integer(v) || json_integer_value(v) < 1)
            return iv_err_set(e, IV_EINVAL, "config %s: 'batch_rows' must be an integer >= 1",
                              path);
        c->batch_rows = json_integer_value(v);
    }
    if ((v = json_object_get(c->root, "batch_seconds")) && !json_is_null(v)) {
        if (!json_is_number(v) || json_number_value(v) < 0)
            return iv_err_set(e, IV_EINVAL, "config %s: 'batch_seconds' must be a number >= 0",
                              path);
        c->batch_seconds = json_number_value(v);
    }
    if ((v = json_object_get(c->root, "max_line_bytes")) && !json_is_null(v)) {
        if (!json_is_integer(v) || json_integer_value(v) < 64 ||
            json_integer_value(v) > ((json_int_t)1 << 31))
            return iv_err_set(e, IV_EINVAL, "config %s: 'max_line_bytes' must be an integer "
                              "between 64 and 2^31", path);
        c->max_line = (size_t)json_integer_value(v);
    }
    if ((v = json_object_get(c->root, "target_file_bytes")) && !json_is_null(v)) {
        if (!json_is_integer(v) || json_integer_value(v) < 1024)
            return iv_err_set(e, IV_EINVAL, "config %s: 'target_file_bytes' must be an integer "
                              ">= 1024", path);
        c->target_file_bytes = (size_t)json_integer_value(v);
    }
    return IV_OK;
}

/* ---- routing and STATE echo ---------------------------------------------------- */
/* `table` names the table of a single-stream input; a second stream is an error
 * rather than two schemas mixed in one table. */
static int route_table(void *ctx, const char *stream, int nstreams, char **table_out,
                       struct iv_err *e)
{
    const struct tgt_config *c = ctx;
    if (!c->table)
        return singer_table_name(stream, table_out, e);
    if (nstreams > 1)
        return iv_err_set(e, IV_EINVAL, "config 'table' is set but the input has more than one "
                          "stream (\"%s\" is stream %d); remove 'table' to write one table per "
                          "stream", stream, nstreams);
    *table_out = xstrdup(c->table);
    return IV_OK;
}

/* After each commit: the committed STATE on stdout, one line, flushed (Meltano reads it). */
static void echo_state(void *ctx, const char *state_json, int64_t rows_committed)
{
    (void)ctx;
    (void)rows_committed;
    if (!state_json)
        return;
    fputs(state_json, stdout);
    fputc('\n', stdout);
    fflush(stdout);
}

/* Feeds stdin to the loader; *line_out = the line an error belongs to (0: none). */
static int run(struct singer_loader *ld, int fd, size_t max_line, int64_t *line_out,
               struct iv_err *e)
{
    struct singer_reader rd;
    int rc = IV_OK;
    singer_reader_init(&rd, fd, max_line);
    for (;;) {
        char *line;
        size_t len;
        int got = singer_reader_next(&rd, &line, &len, e);
        if (got < 0) {
            rc = got;   /* the reader's message names the line */
            goto out;
        }
        if (got == 0)
            break;
        if ((rc = singer_loader_line(ld, line, len, e))) {
            *line_out = rd.line_no;
            goto out;
        }
    }
    /* clean EOF: the remaining rows commit with the latest STATE */
    rc = singer_loader_finish(ld, e);
out:
    singer_reader_release(&rd);
    return rc;
}

int cmd_target_iceberg(int argc, char **argv)
{
    const char *config_path = NULL, *run_id_arg = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--config") && i + 1 < argc)
            config_path = argv[++i];
        else if (!strcmp(argv[i], "--run-id") && i + 1 < argc)
            run_id_arg = argv[++i];
        else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            printf("usage: ivory target-iceberg --config FILE [--run-id ID]\n"
                   "  Singer messages on stdin -> Iceberg tables; committed STATE on stdout.\n");
            return 0;
        } else
            return cmd_usage_error("target-iceberg: unexpected argument '%s' "
                                   "(usage: target-iceberg --config FILE)", argv[i]);
    }
    if (!config_path)
        return cmd_usage_error("target-iceberg: --config FILE is required");

    struct tgt_config cfg;
    struct lake_catalog *cat = NULL;
    struct singer_loader *ld = NULL;
    struct iv_err e = {0};
    int64_t line = 0;
    char run_id[37];
    int rc = load_config(config_path, &cfg, &e);
    if (rc)
        goto fail;
    if (run_id_arg)
        snprintf(run_id, sizeof(run_id), "%s", run_id_arg);
    else
        uuid_v4(run_id);
    if ((rc = lake_catalog_open(&cat, &cfg.cat, &e)))
        goto fail;
    struct singer_loader_opts lo = {
        .cat = cat,
        .ns = cfg.ns,
        .route = route_table,
        .route_ctx = &cfg,
        .batch_rows = cfg.batch_rows,
        .batch_seconds = cfg.batch_seconds,
        .codec = cfg.codec,
        .target_file_bytes = cfg.target_file_bytes,
        .run_id = run_id,
        .on_commit = echo_state,
        .batch_files = true,   /* the user's own process: BATCH files are read as that user */
        .drift = cfg.drift,
    };
    if ((rc = singer_loader_new(&ld, &lo, &e)))
        goto fail;
    if ((rc = run(ld, STDIN_FILENO, cfg.max_line, &line, &e)))
        goto fail;
    struct singer_loader_stats st;
    singer_loader_get_stats(ld, &st);
    log_info("target-iceberg: %lld rows, %lld commits, run %s", (long long)st.rows_committed,
             (long long)st.commits, run_id);
    if (st.rows_discarded) {
        char *samples = singer_loader_discard_samples(ld);
        log_warn("target-iceberg: %lld rows did not fit their table and were discarded "
                 "(schema_drift discard_row); first ones: %s", (long long)st.rows_discarded,
                 samples ? samples : "[]");
        free(samples);
    }
    singer_loader_free(ld);
    lake_catalog_close(cat);
    json_decref(cfg.root);
    return 0;
fail:
    singer_loader_free(ld);   /* discards every uncommitted row */
    if (cat)
        lake_catalog_close(cat);
    if (cfg.root)
        json_decref(cfg.root);
    if (line > 0)
        return cmd_fail("target-iceberg: line %lld: %s", (long long)line, e.msg);
    return cmd_fail("target-iceberg: %s", e.msg);
}
