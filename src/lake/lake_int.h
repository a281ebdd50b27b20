/*
 * lake/lake_int: internal header of the Iceberg table layer (not for callers
 * outside src/lake). Owns the shared shapes of the table layer: the catalog
 * vtable every catalog implementation fills, the table handle, the local file
 * I/O helpers, the metadata JSON builders and the manifest writers.
 *
 * Why a vtable: the table and append code (table.c, append.c) is identical for
 * every catalog; a catalog only decides where a metadata file goes and how the
 * table's current-metadata pointer moves atomically (hadoop: create-if-absent
 * of vN.metadata.json; sql: compare-and-swap UPDATE).
 *
 * Locations: everything written into metadata/manifests is an absolute
 * "file://" URI; inside the library files are handled by local path. A table
 * carries both (location_uri / location_path).
 */
#ifndef IVORY_LAKE_INT_H
#define IVORY_LAKE_INT_H

#include "lake/lake.h"
#include "lake/parquet.h"

#include <jansson.h>

/* ---- file I/O (fileio.c) ------------------------------------------------------- */
/* "file:///abs" or "/abs" -> "/abs" without trailing slashes; NULL for anything else
 * (s3://, relative paths). Caller frees. */
char *lake_uri_to_path(const char *uri);
/* "/abs" -> "file:///abs". Caller frees. */
char *lake_path_to_uri(const char *path);
/* Durable new file: writes "<path>.tmp-*", fsyncs, renames over path, fsyncs the dir
 * (parent dirs created). */
int lake_io_write_atomic(const char *path, const void *p, size_t n, struct iv_err *e);
/* Writes a brand-new file at path (O_EXCL) and fsyncs it; no rename. Used for the temp
 * file that a hadoop commit then links into place. */
int lake_io_write_new(const char *path, const void *p, size_t n, struct iv_err *e);
/* Atomic create-if-absent: makes `to` name the file `from` (hard link, or
 * renameat2(RENAME_NOREPLACE) where links are refused). IV_ECONFLICT if `to` exists. */
int lake_io_link_noreplace(const char *from, const char *to, struct iv_err *e);
/* Reads and parses a JSON file (max 256 MiB). Caller decrefs. */
int lake_io_read_json(const char *path, json_t **out, struct iv_err *e);
bool lake_io_exists(const char *path);
void lake_io_unlink(const char *path);   /* best effort, quiet */
/* Same, for a file:// URI (or plain path). */
void lake_io_unlink_uri(const char *uri);
/* Names must be one path segment: non-empty, <= 255 bytes, no '/', no control chars,
 * not "." or "..". */
int lake_check_name(const char *what, const char *s, struct iv_err *e);

/* ---- catalogs (catalog.c, catalog_hadoop.c, catalog_sql.c) --------------------- */
struct lake_catalog;
struct lake_catalog_ops {
    const char *type;
    /* Current metadata location (file:// URI) of the table; IV_ENOTFOUND if absent.
     * Caller frees *loc. */
    int (*load)(struct lake_catalog *c, const char *ns, const char *name, char **loc,
                struct iv_err *e);
    /* Writes `md` as the table's first metadata file under location_path/metadata and
     * registers it. IV_ECONFLICT if the table exists (nothing left behind). */
    int (*create)(struct lake_catalog *c, const char *ns, const char *name,
                  const char *location_path, const json_t *md, char **loc_out,
                  struct iv_err *e);
    /* Writes `md` as the next metadata file after `old_loc` and swings the pointer.
     * IV_ECONFLICT: someone else moved it first (our file removed). *unknown set when
     * the outcome cannot be known (pointer may have moved): the caller must not clean up. */
    int (*commit)(struct lake_catalog *c, const char *ns, const char *name,
                  const char *location_path, const char *old_loc, const json_t *md,
                  char **new_loc_out, bool *unknown, struct iv_err *e);
    void (*close)(struct lake_catalog *c);
};

struct lake_catalog {
    const struct lake_catalog_ops *ops;
    char *warehouse_path;        /* absolute local dir, no trailing slash; owned */
    char *catalog_name;          /* owned */
    void *impl;                  /* catalog-private state (sql: its src/db connection) */
};

extern const struct lake_catalog_ops lake_hadoop_ops;
extern const struct lake_catalog_ops lake_sql_ops;
int lake_sql_open(struct lake_catalog *c, const char *uri, struct iv_err *e);

/* Multi-table atomic commit support (sql only): entries prepared by append.c. */
struct lake_sql_swap {
    const char *ns, *name, *old_loc, *new_loc;
};
/* Moves every pointer in one transaction; IV_ECONFLICT if any one is stale (none move). */
int lake_sql_swap_many(struct lake_catalog *c, const struct lake_sql_swap *sw, int n,
                       bool *unknown, struct iv_err *e);
/* Writes md durably as the next metadata file after old_loc (sql naming:
 * %05d-<uuid>.metadata.json; old_loc NULL = version 0), without committing.
 * *loc_out = its file:// URI; caller frees. */
int lake_sql_write_next(const char *location_path, const char *old_loc, const json_t *md,
                        char **loc_out, struct iv_err *e);

/* ---- tables (table.c) ------------------------------------------------------------ */
struct lake_table {
    struct lake_catalog *cat;    /* borrowed */
    char *ns, *name;             /* owned */
    char *metadata_location;     /* file:// URI of the current metadata; owned */
    json_t *md;                  /* current metadata (owned reference) */
    char *location_uri;          /* md "location"; owned */
    char *location_path;         /* local path of location; owned */
    struct lake_schema schema;   /* current schema (ids from the table) */
};
/* Replaces t's metadata with (loc, md); takes md. */
int lake_table_adopt(struct lake_table *t, char *loc, json_t *md, struct iv_err *e);

/* ---- metadata JSON (metadata.c) ------------------------------------------------- */
/* Fresh v2 metadata for a new table; schema ids must already be assigned. New ref. */
json_t *lake_md_new(const char *location_uri, const struct lake_schema *s, int64_t now);
/* Validates the fields this library relies on; fills the current schema. */
int lake_md_check(const json_t *md, struct lake_schema *schema_out, struct iv_err *e);
int64_t lake_md_i64(const json_t *md, const char *key, int64_t dflt);
/* The snapshot object with this id (borrowed) or NULL. */
json_t *lake_md_snapshot(const json_t *md, int64_t id);
/* Deep copy of base prepared for a new file: last-updated-ms = now and the metadata-log
 * entry for (base, base_loc) appended (trimmed to write.metadata.previous-versions-max). */
json_t *lake_md_next(const json_t *base, const char *base_loc, int64_t now);
/* Adds the snapshot to md (a fresh copy from lake_md_next) and moves main to it. */
void lake_md_add_snapshot(json_t *md, json_t *snapshot /* takes */);
/* Adds `s` as a new schema (its schema_id is assigned here) and makes it current. */
void lake_md_add_schema(json_t *md, struct lake_schema *s, int last_column_id);
/* Integer table property (or dflt). */
int64_t lake_md_prop_i64(const json_t *md, const char *key, int64_t dflt);

/* ---- manifests (manifest.c) ------------------------------------------------------ */
struct lake_data_file {
    char *path;                  /* local path; owned */
    struct pqw_file_stats st;    /* owned */
};
/* Writes one manifest of ADDED entries (status 1, snapshot id set, sequence numbers
 * inherited). *len_out = exact size. */
int lake_manifest_write(const char *path, const struct lake_data_file *files, int nfiles,
                        int64_t snapshot_id, const char *schema_json, int schema_id,
                        int64_t *len_out, struct iv_err *e);
struct lake_manifest_ref {        /* the new manifest's manifest_file record */
    const char *uri;
    int64_t length;
    int64_t seq;
    int64_t snapshot_id;
    int added_files;
    int64_t added_rows;
};
/* Writes a manifest list: `neu` first (may be NULL for an empty commit), then every record
 * of the parent list (parent_list_path, may be NULL) re-encoded verbatim. */
int lake_manifest_list_write(const char *path, const struct lake_manifest_ref *neu,
                             const char *parent_list_path, int64_t snapshot_id,
                             int64_t parent_id, int64_t seq, struct iv_err *e);

#endif
