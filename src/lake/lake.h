/*
 * lake: Ivory's Iceberg library — the public API used by `ivory
 * target-iceberg` and the runner. Tables are Iceberg format v2: Parquet data
 * files, Avro manifests and manifest lists, metadata JSON, committed by an
 * atomic catalog pointer swap (fast append, optimistic concurrency).
 *
 * The library knows nothing of tenants, connectors or HTTP; it could be
 * lifted out whole. This is the module's one public header; the others in
 * src/lake (lake_int.h, types.h, parquet.h, avro.h, thrift.h) are internal.
 *
 * Life of a load:
 *   lake_catalog_open -> lake_table_load (or lake_table_create) ->
 *   [lake_table_evolve when the incoming schema changed] ->
 *   lake_append_begin -> per row: one lake_put_* per column of the
 *   append's schema (in order) + lake_append_end_row ->
 *   lake_append_commit(state, run_id) at checkpoints (rows so far become one
 *   snapshot; the append stays open for more rows) -> lake_append_free.
 *   Freeing an append with uncommitted rows discards them (their temp and
 *   data files are removed); the table stays at its last commit.
 *
 * Durability: every file is written temp -> fsync -> rename; the catalog
 * pointer moves only after everything it references is durable.
 */
#ifndef IVORY_LAKE_H
#define IVORY_LAKE_H

#include "lake/types.h"   /* internal piece of this header: lake_type, lake_field, pqw_codec */
#include "util/util.h"

#include <jansson.h>

/* ---- schema ----------------------------------------------------------------- */
struct lake_schema {
    int schema_id;
    int nfields;
    struct lake_field *fields;   /* owned; each field's name owned */
};
void lake_schema_init(struct lake_schema *s);
void lake_schema_release(struct lake_schema *s);
/* Appends a field (name copied). For LAKE_FIXED, `precision` is the byte length. The
 * field's id is provisional (its position); tables assign real ids on create/evolve. */
void lake_schema_add(struct lake_schema *s, const char *name, enum lake_type type, bool required,
                     int precision, int scale);
void lake_schema_copy(struct lake_schema *dst, const struct lake_schema *src);
IV_MUST_USE int lake_schema_find(const struct lake_schema *s, const char *name);  /* index or -1 */
/* Iceberg schema JSON ({"type":"struct","schema-id":..,"fields":[..]}); new reference. */
json_t *lake_schema_to_json(const struct lake_schema *s);
IV_MUST_USE int lake_schema_from_json(const json_t *j, struct lake_schema *out, struct iv_err *e);

/* ---- catalogs ----------------------------------------------------------------- */
struct lake_catalog_config {
    const char *type;            /* "hadoop" | "sql" | "rest" | "glue"; "hive": IV_EUNSUPPORTED */
    const char *warehouse;       /* "file:///abs/dir", "/abs/dir" or "s3://bucket/prefix" */
    const char *uri;             /* sql: "sqlite:PATH", PATH or "postgresql://..." (src/db);
                                  * rest: the catalog's base URL (before /v1/...);
                                  * glue: the Glue endpoint (NULL: AWS regional endpoint) */
    const char *catalog_name;    /* sql: the catalog_name column; default "default" */
    const char *s3_endpoint;     /* custom S3 endpoint (MinIO, R2, Ceph); NULL: AWS */
    const char *s3_access_key_id;
    const char *s3_secret_key;   /* borrowed; copied into memory only, never logged */
    const char *region;          /* S3 and Glue region; NULL: us-east-1 */
    int s3_path_style;           /* 1 path-style, 0 virtual-host, -1 (or 0 in a zeroed
                                  * struct with s3_path_style_set false): the default */
    bool s3_path_style_set;
    const char *credential;      /* rest: bearer token or "client_id:client_secret" */
    const char *rest_prefix;     /* rest: prefix used when /v1/config gives none */
};
/* Fills cfg from a JSON object's keys (strings borrowed from obj): catalog_type,
 * warehouse, catalog_uri, catalog_name, s3_endpoint, s3_access_key_id, s3_secret_key
 * (or s3_secret_access_key), region (or s3_region), s3_path_style (boolean),
 * catalog_credential (rest: token or client_id:client_secret), rest_prefix. Missing keys
 * stay NULL; a key of the wrong type is IV_EINVAL naming it. Other keys are ignored. */
IV_MUST_USE int lake_catalog_config_from_json(const json_t *obj, struct lake_catalog_config *cfg,
                                  struct iv_err *e);
struct lake_catalog;
IV_MUST_USE int lake_catalog_open(struct lake_catalog **out, const struct lake_catalog_config *cfg,
                      struct iv_err *e);
void lake_catalog_close(struct lake_catalog *c);

/* ---- tables ------------------------------------------------------------------- */
struct lake_table;
/* IV_ENOTFOUND when the table does not exist. */
IV_MUST_USE int lake_table_load(struct lake_catalog *c, const char *ns, const char *name,
                    struct lake_table **out, struct iv_err *e);
/* Creates namespace (if needed) and table at location (NULL = {warehouse}/{ns}/{name}),
 * assigning field ids 1..n to `schema` in order. IV_ECONFLICT if it already exists. */
IV_MUST_USE int lake_table_create(struct lake_catalog *c, const char *ns, const char *name,
                      const char *location, const struct lake_schema *schema,
                      struct lake_table **out, struct iv_err *e);
/* Load, or create when absent (a concurrent creator wins and is loaded). */
IV_MUST_USE int lake_table_load_or_create(struct lake_catalog *c, const char *ns, const char *name,
                              const char *location, const struct lake_schema *schema,
                              struct lake_table **out, struct iv_err *e);
/* Load, or when absent a *staged* table: its metadata lives in memory only (evolve
 * changes it there) and the table enters the catalog with its first commit
 * (lake_append_commit) or lake_table_materialize, so a load that fails before its first
 * commit leaves no empty table behind. A concurrent creator makes that first commit fail
 * with IV_ECONFLICT and a clear message. */
int lake_table_load_or_stage(struct lake_catalog *c, const char *ns, const char *name,
                             const struct lake_schema *schema, struct lake_table **out,
                             struct iv_err *e);
/* Creates a staged table in the catalog now (no-op for a table that exists). */
int lake_table_materialize(struct lake_table *t, struct iv_err *e);
/* Reloads the current metadata from the catalog. */
IV_MUST_USE int lake_table_refresh(struct lake_table *t, struct iv_err *e);
const struct lake_schema *lake_table_schema(const struct lake_table *t);  /* borrowed */
const char *lake_table_location(const struct lake_table *t);              /* borrowed */
const char *lake_table_metadata_location(const struct lake_table *t);     /* borrowed */
const json_t *lake_table_metadata(const struct lake_table *t);            /* borrowed */
int64_t lake_table_current_snapshot_id(const struct lake_table *t);       /* -1 = none */
void lake_table_close(struct lake_table *t);

/* Schema evolution by column name: columns of `incoming` missing from the table
 * become new optional columns (new ids, new schema id); int->long and float->double
 * widen; a column the table has but `incoming` lacks stays (written as null).
 * Any other difference: IV_EINVAL naming the column, nothing written. Commits a
 * metadata-only change when needed; *changed says whether it did. */
IV_MUST_USE int lake_table_evolve(struct lake_table *t, const struct lake_schema *incoming, bool *changed,
                      struct iv_err *e);
/* What lake_table_evolve would change, without changing anything (for callers that refuse
 * schema changes): IV_OK with change[0] == '\0' when incoming fits the table as it is, else
 * a description of the first change ("new column 'x' (string)", "column 'n' widens from int
 * to long", "column 'k' becomes optional"); the errors lake_table_evolve would give for a
 * change it cannot make. change: changesz bytes. */
IV_MUST_USE int lake_table_schema_change(const struct lake_table *t,
                                         const struct lake_schema *incoming, char *change,
                                         size_t changesz, struct iv_err *e);
/* Whether this handle created the table (lake_table_create, or staged by
 * lake_table_load_or_stage) rather than loading one that existed. */
bool lake_table_created_here(const struct lake_table *t);

/* The Singer STATE and run id recorded by the most recent snapshot that has one
 * (summary keys "ivory.state" and "ivory.run-id"). Outputs are NULL / -1 when
 * none. Caller frees the strings. */
IV_MUST_USE int lake_table_last_state(struct lake_table *t, char **state_json, char **run_id,
                          int64_t *snapshot_id, struct iv_err *e);
/* Whether some snapshot of the table carries this run id (idempotent retries). */
bool lake_table_has_run(struct lake_table *t, const char *run_id);

/* ---- catalog administration (catalog_admin.c; sql catalogs) ------------------------
 * For Ivory's Iceberg REST catalog server. Lists are new JSON arrays of strings. */
IV_MUST_USE int lake_namespace_list(struct lake_catalog *c, json_t **out, struct iv_err *e);
IV_MUST_USE int lake_namespace_exists(struct lake_catalog *c, const char *ns, bool *exists,
                          struct iv_err *e);
/* IV_ECONFLICT when it exists. */
IV_MUST_USE int lake_namespace_create(struct lake_catalog *c, const char *ns, struct iv_err *e);
IV_MUST_USE int lake_table_list(struct lake_catalog *c, const char *ns, json_t **out, struct iv_err *e);
/* Removes the table from the catalog (its files stay). IV_ENOTFOUND when absent. */
IV_MUST_USE int lake_table_drop(struct lake_catalog *c, const char *ns, const char *name, struct iv_err *e);
/* Applies an Iceberg REST CommitTableRequest (requirements, updates) to t and commits.
 * IV_ECONFLICT: a requirement failed or another writer moved the table (409);
 * IV_EINVAL: an unknown or ill-formed requirement/update (400). */
IV_MUST_USE int lake_table_commit_changes(struct lake_table *t, const json_t *requirements,
                              const json_t *updates, struct iv_err *e);

/* ---- appends ------------------------------------------------------------------ */
struct lake_append_options {
    enum pqw_codec codec;        /* 0 = the table's write.parquet.compression-codec (zstd) */
    size_t target_file_bytes;    /* roll data files at about this size; default 256 MiB */
    size_t row_group_bytes;      /* default 128 MiB */
};
struct lake_append;
/* Rows use the table's current schema at begin time (column order = schema order). */
IV_MUST_USE int lake_append_begin(struct lake_table *t, const struct lake_append_options *opts,
                      struct lake_append **out, struct iv_err *e);
const struct lake_schema *lake_append_schema(const struct lake_append *a);  /* borrowed */
IV_MUST_USE int lake_put_null(struct lake_append *a, int col);
IV_MUST_USE int lake_put_bool(struct lake_append *a, int col, bool v);
IV_MUST_USE int lake_put_i32(struct lake_append *a, int col, int32_t v);
IV_MUST_USE int lake_put_i64(struct lake_append *a, int col, int64_t v);
IV_MUST_USE int lake_put_float(struct lake_append *a, int col, float v);
IV_MUST_USE int lake_put_double(struct lake_append *a, int col, double v);
IV_MUST_USE int lake_put_bytes(struct lake_append *a, int col, const void *p, size_t n);
IV_MUST_USE int lake_put_decimal(struct lake_append *a, int col, __int128 unscaled);
IV_MUST_USE int lake_append_end_row(struct lake_append *a);
int64_t lake_append_pending_rows(const struct lake_append *a);
/* After the table schema evolved (lake_table_evolve), switch the append to the
 * table's current schema: the open data file is closed (still pending) and a
 * new one is started with the new columns. */
IV_MUST_USE int lake_append_reschema(struct lake_append *a, struct iv_err *e);
/* Commits every pending row as one snapshot (operation "append") whose summary
 * carries "ivory.state" = state_json (may be NULL) and "ivory.run-id" = run_id
 * (may be NULL). With zero pending rows and a state, still commits (an empty
 * snapshot recording the state). Retries on conflict (4 retries, 100 ms -> 60 s). */
IV_MUST_USE int lake_append_commit(struct lake_append *a, const char *state_json, const char *run_id,
                       int64_t *snapshot_id_out, struct iv_err *e);
/* Commits n appends on different tables of ONE catalog atomically: one snapshot per
 * table, each carrying the same state_json / run_id, all visible or none. sql catalog
 * only (one transaction moves every pointer); a hadoop catalog has one pointer file per
 * table and cannot do this: IV_EUNSUPPORTED (commit the tables one by one instead).
 * snapshot_ids_out (n entries, may be NULL) receives each table's new snapshot id.
 * Conflicts retry as lake_append_commit does. */
IV_MUST_USE int lake_commit_many(struct lake_append *const *apps, int n, const char *state_json,
                     const char *run_id, int64_t *snapshot_ids_out, struct iv_err *e);
/* Frees; uncommitted rows are discarded and their files removed. NULL ok. */
void lake_append_free(struct lake_append *a);

/* ---- reading rows back (scan.c, parquet_read.c) --------------------------------
 * For `ivory table show` and the walk-through: lists the data files of a table's
 * current snapshot from its manifest list and manifests, and decodes the Parquet
 * subset this library writes (flat columns, data page V1, PLAIN and dictionary
 * encodings, RLE definition levels, uncompressed / snappy / zstd) into JSON rows.
 * An inspection path, not a query engine: rows come in file order, values are
 * rendered for people (dates "YYYY-MM-DD", timestamps ISO-8601, decimals as exact
 * strings, binary as base64). Independent readers (icebird, DuckDB) remain the
 * tests' oracle. */

/* Called once per row with an object keyed by the table's current column names (columns a
 * file lacks are null). row is borrowed. Return IV_OK to go on, anything else to stop (it is
 * returned by lake_table_scan). */
typedef int (*lake_row_fn)(void *ctx, const json_t *row);

/* Reads up to limit rows (< 0: all) of the current snapshot. IV_OK with no calls for a table
 * without data. Errors name the file. */
IV_MUST_USE int lake_table_scan(struct lake_table *t, int64_t limit, lake_row_fn fn, void *ctx,
                    struct iv_err *e);

/* Reads up to limit rows (< 0: all) of one Parquet file, mapping its columns to `schema` by
 * Iceberg field id (the Parquet field_id). */
IV_MUST_USE int lake_parquet_read(const char *path, const struct lake_schema *schema, int64_t limit,
                      lake_row_fn fn, void *ctx, struct iv_err *e);

#endif
