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
/* Storage-neutral helpers: `where` is a local path, a file:// URI or an s3:// URI (c->s3). */
int lake_io_put(struct lake_catalog *c, const char *where, const void *p, size_t n,
                struct iv_err *e);
int lake_io_get_json(struct lake_catalog *c, const char *where, json_t **out, struct iv_err *e);
/* Local file to write `where` through: `where` itself for local storage, a fresh spool
 * file (TMPDIR) for S3. Caller frees. lake_io_publish then uploads it (the spool file is
 * removed either way); for local storage publish does nothing. */
char *lake_io_spool(struct lake_catalog *c, const char *where);
int lake_io_publish(struct lake_catalog *c, const char *local, const char *where,
                    struct iv_err *e);
/* A local path holding `where`'s bytes (a download into the spool for S3). Caller frees
 * it with lake_io_fetch_done. */
int lake_io_fetch(struct lake_catalog *c, const char *where, char **local, struct iv_err *e);
void lake_io_fetch_done(const char *where, char *local);
/* Best-effort delete (logged, never fatal). */
void lake_io_remove(struct lake_catalog *c, const char *where);
void lake_io_unlink(const char *path);   /* best effort, quiet */
/* Same, for a file:// URI (or plain path). */
void lake_io_unlink_uri(const char *uri);
/* Names must be one path segment: non-empty, <= 255 bytes, no '/', no control chars,
 * not "." or "..". */
int lake_check_name(const char *what, const char *s, struct iv_err *e);
/* The directory segment of a namespace or table name in a default location
 * ({warehouse}/{ns}/{table}): bytes in [A-Za-z0-9._-] as they are, every other byte as
 * '~' and two upper-case hex digits ("a?b" -> "a~3Fb", "a~b" -> "a~7Eb"). The segment
 * is the same in the path and in the file:// URI (no reader has to percent-decode), and
 * distinct names get distinct segments. Caller frees. */
char *lake_name_segment(const char *name);
/* {warehouse}/{segment(ns)}/{segment(name)}. Caller frees. */
char *lake_default_table_path(const struct lake_catalog *c, const char *ns, const char *name);

/* ---- S3 object storage (s3.c) ---------------------------------------------------
 * Tables whose location is "s3://bucket/prefix" keep every file there. Inside the
 * library such a table's "location_path" is the s3:// URI itself, and the storage
 * functions below (lake_io_put, _get_json, _spool/_publish, _fetch, _remove) take a
 * local path or an s3:// URI alike and do the right thing for each. */
struct lake_s3_config {
    const char *endpoint;        /* NULL: AWS regional endpoint */
    const char *region;          /* NULL: us-east-1 */
    const char *access_key_id;
    const char *secret_key;      /* copied; wiped when the client is freed */
    int path_style;              /* -1: path-style when an endpoint is given */
};
struct lake_s3;
int lake_s3_new(struct lake_s3 **out, const struct lake_s3_config *cfg, struct iv_err *e);
void lake_s3_free(struct lake_s3 *s);
bool lake_is_s3_uri(const char *uri);
int lake_s3_put(const struct lake_s3 *s, const char *uri, const void *p, size_t n,
                struct iv_err *e);
/* Uploads a local file: one PUT up to the part size (8 MiB, IVORY_S3_PART_BYTES), a
 * multipart upload above it (aborted on failure). */
int lake_s3_put_file(const struct lake_s3 *s, const char *uri, const char *path,
                     struct iv_err *e);
/* Whole object (at most max bytes) into *out (caller frees). IV_ENOTFOUND on 404. */
int lake_s3_get(const struct lake_s3 *s, const char *uri, size_t max, char **out, size_t *len,
                struct iv_err *e);
/* Bytes [off, off+n) (off < 0: the whole object). */
int lake_s3_get_range(const struct lake_s3 *s, const char *uri, int64_t off, size_t n,
                      size_t max, char **out, size_t *len, struct iv_err *e);
/* Streams the object into fd (truncated and rewritten on a retry). */
int lake_s3_download(const struct lake_s3 *s, const char *uri, int fd, struct iv_err *e);
/* IV_ENOTFOUND when absent; *size = Content-Length. */
int lake_s3_head(const struct lake_s3 *s, const char *uri, int64_t *size, struct iv_err *e);
/* A missing object is not an error. */
int lake_s3_delete(const struct lake_s3 *s, const char *uri, struct iv_err *e);

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
    /* Catalogs that own the metadata files themselves (rest) set these instead of
     * load/create/commit: they return the server's metadata JSON (*md, new reference)
     * with its location. create_md's location_path is NULL when the server picks it.
     * commit_md derives requirements and updates from base (the table's current
     * metadata) and md (the next metadata built locally). */
    int (*load_md)(struct lake_catalog *c, const char *ns, const char *name, char **loc,
                   json_t **md, struct iv_err *e);
    int (*create_md)(struct lake_catalog *c, const char *ns, const char *name,
                     const char *location_path, const json_t *md, char **loc_out,
                     json_t **md_out, struct iv_err *e);
    int (*commit_md)(struct lake_catalog *c, const char *ns, const char *name,
                     const json_t *base, const json_t *md, char **loc_out, json_t **md_out,
                     bool *unknown, struct iv_err *e);
    /* Catalog administration for Ivory's REST catalog server (sql only; NULL elsewhere):
     * names appended to `out` (a JSON array of strings). create_namespace: IV_ECONFLICT
     * when it exists; drop_table: IV_ENOTFOUND when absent (files are kept). */
    int (*list_namespaces)(struct lake_catalog *c, json_t *out, struct iv_err *e);
    int (*list_tables)(struct lake_catalog *c, const char *ns, json_t *out, struct iv_err *e);
    int (*create_namespace)(struct lake_catalog *c, const char *ns, struct iv_err *e);
    int (*drop_table)(struct lake_catalog *c, const char *ns, const char *name,
                      struct iv_err *e);
};

struct lake_catalog {
    const struct lake_catalog_ops *ops;
    char *warehouse_path;        /* absolute local dir or s3:// URI, no trailing slash; owned */
    struct lake_s3 *s3;          /* S3 client when the warehouse is on S3, else NULL; owned */
    char *catalog_name;          /* owned */
    void *impl;                  /* catalog-private state (sql: its src/db connection) */
};

extern const struct lake_catalog_ops lake_hadoop_ops;
extern const struct lake_catalog_ops lake_sql_ops;
extern const struct lake_catalog_ops lake_glue_ops;   /* catalog_glue.c */
extern const struct lake_catalog_ops lake_rest_ops;   /* catalog_rest.c */
/* Open the implementations; on failure they leave c->impl NULL. */
int lake_glue_open(struct lake_catalog *c, const struct lake_catalog_config *cfg,
                   struct iv_err *e);
int lake_rest_open(struct lake_catalog *c, const struct lake_catalog_config *cfg,
                   struct iv_err *e);
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
int lake_sql_write_next(struct lake_catalog *c, const char *location_path, const char *old_loc, const json_t *md,
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
    bool staged;                 /* not in the catalog yet: its first commit creates it
                                  * (lake_table_load_or_stage); metadata_location NULL */
    bool created;                /* this handle created (or staged) the table */
};
/* Replaces t's metadata with (loc, md); takes loc and md. */
int lake_table_adopt(struct lake_table *t, char *loc, json_t *md, struct iv_err *e);
/* Asks the catalog to move t from its current metadata to md (takes md) and adopts
 * the result. IV_ECONFLICT: someone committed first. *unknown: the outcome cannot be
 * known (do not clean up). */
int lake_table_swap(struct lake_table *t, json_t *md, bool *unknown, struct iv_err *e);
/* A table location as the library keeps it: a local path ("file://" stripped) or an
 * "s3://" URI, without trailing slashes. NULL for anything else. Caller frees. */
char *lake_location_root(const char *uri);

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
/* Writes md as the next metastore-style metadata file after old_loc (naming
 * %05d-<uuid>.metadata.json under location_path/metadata; old_loc NULL = version 0),
 * on local disk or S3, without committing. *loc_out = its URI; caller frees. */
int lake_md_write_next(struct lake_catalog *c, const char *location_path, const char *old_loc,
                       const json_t *md, char **loc_out, struct iv_err *e);
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
