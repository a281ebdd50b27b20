/*
 * lake/append: the append API — rows into rolling Parquet data files, then a
 * fast-append commit (Iceberg spec §"Optimistic Concurrency"; Java FastAppend).
 *
 * DESIGN
 * Rows go straight into a Parquet writer (parquet.c) opened lazily at
 * {location}/data/<uuid>.parquet; the writer buffers one row group, so memory
 * is bounded whatever the number of rows. When pqw_bytes_estimate passes
 * target_file_bytes the file is finished (durable) and a new one starts.
 * Finished, uncommitted files are "pending".
 *
 * lake_append_commit turns the pending files into one snapshot:
 *   1. finish the open file; pick a commit uuid and a snapshot id (random,
 *      positive, unused; kept across retries);
 *   2. write ONE manifest metadata/<commit-uuid>-m0.avro (entries inherit
 *      their sequence numbers, so it is reused on every retry);
 *   3. per attempt: seq = base last-sequence-number + 1, write the manifest
 *      list metadata/snap-<id>-<attempt>-<commit-uuid>.avro (new manifest
 *      first, the parent's manifests copied verbatim), build the next metadata
 *      (snapshot, refs.main, snapshot-log, metadata-log, summary totals carried
 *      from the parent) and ask the catalog to swing the pointer;
 *   4. IV_ECONFLICT: delete this attempt's list, wait (100 ms x2, <= 60 s),
 *      reload, go to 3 (4 retries by default, or the table's commit.retry.*).
 * A definite failure removes the manifest and lists (data files stay pending
 * until the append is freed); an unknown outcome removes nothing and, unless
 * a reload shows the snapshot committed, leaves the append unusable.
 */
#include "lake/lake_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct lake_append {
    struct lake_table *t;           /* borrowed */
    struct lake_schema schema;      /* schema rows are written with */
    struct pqw_options popts;
    size_t target_file_bytes;
    struct pqw *w;                  /* open data file or NULL */
    char *w_path;                   /* local file being written (a spool file for S3) */
    char *w_dest;                   /* where it goes: local path or s3:// URI */
    char *schema_json;              /* footer "iceberg.schema" of the open file */
    bool in_row;                    /* a put happened since the last end_row */
    struct lake_data_file *files;   /* finished, uncommitted */
    int nfiles;
    bool poisoned;                  /* commit outcome unknown: touch nothing */
    char created_by[96];
};

static enum pqw_codec codec_from_table(const struct lake_table *t)
{
    const char *v = json_str(json_object_get(t->md, "properties"),
                             "write.parquet.compression-codec");
    if (v && strcmp(v, "uncompressed") == 0)
        return PQW_UNCOMPRESSED;
    if (v && strcmp(v, "snappy") == 0)
        return PQW_SNAPPY;
    return PQW_ZSTD;
}

int lake_append_begin(struct lake_table *t, const struct lake_append_options *opts,
                      struct lake_append **out, struct iv_err *e)
{
    struct lake_append *a = xcalloc(1, sizeof *a);
    a->t = t;
    lake_schema_copy(&a->schema, &t->schema);
    a->popts.codec = opts && opts->codec ? opts->codec : codec_from_table(t);
    a->popts.row_group_bytes = opts && opts->row_group_bytes ? opts->row_group_bytes
                                                              : (size_t)128 << 20;
    a->target_file_bytes = opts && opts->target_file_bytes ? opts->target_file_bytes
                                                           : (size_t)256 << 20;
    snprintf(a->created_by, sizeof a->created_by, "ivory version %s (build %s)",
             IVORY_VERSION, IVORY_GITREV);
    a->popts.created_by = a->created_by;
    *out = a;
    (void)e;
    return IV_OK;
}

const struct lake_schema *lake_append_schema(const struct lake_append *a)
{
    return &a->schema;
}

static void files_release(struct lake_append *a, bool remove)
{
    for (int i = 0; i < a->nfiles; i++) {
        if (remove)
            lake_io_remove(a->t->cat, a->files[i].path);
        free(a->files[i].path);
        pqw_file_stats_release(&a->files[i].st);
    }
    free(a->files);
    a->files = NULL;
    a->nfiles = 0;
}

static void writer_drop(struct lake_append *a)
{
    pqw_abort(a->w);
    a->w = NULL;
    FREE_NULL(a->w_path);
    FREE_NULL(a->w_dest);
    FREE_NULL(a->schema_json);
}

/* Finishes the open data file into the pending list (an empty one is dropped). */
static int writer_close(struct lake_append *a, struct iv_err *e)
{
    if (!a->w)
        return IV_OK;
    if (pqw_rows(a->w) == 0) {
        writer_drop(a);
        return IV_OK;
    }
    struct pqw_file_stats st;
    memset(&st, 0, sizeof st);
    int rc = pqw_finish(a->w, &st, e);
    a->w = NULL;
    /* Only an uploaded file becomes pending: a commit never references a missing object. */
    if (!rc)
        rc = lake_io_publish(a->t->cat, a->w_path, a->w_dest, e);
    FREE_NULL(a->w_path);
    FREE_NULL(a->schema_json);
    if (rc) {
        pqw_file_stats_release(&st);
        FREE_NULL(a->w_dest);
        return rc;
    }
    a->files = xrealloc(a->files, sizeof(*a->files) * (size_t)(a->nfiles + 1));
    a->files[a->nfiles].path = a->w_dest;
    a->files[a->nfiles].st = st;
    a->nfiles++;
    a->w_dest = NULL;
    return IV_OK;
}

static int writer_open(struct lake_append *a)
{
    char uuid[37];
    uuid_v4(uuid);
    a->w_dest = xasprintf("%s/data/%s.parquet", a->t->location_path, uuid);
    a->w_path = lake_io_spool(a->t->cat, a->w_dest);
    int rc = IV_OK;
    if (!lake_is_s3_uri(a->w_dest)) {
        char *dir = xasprintf("%s/data", a->t->location_path);
        rc = mkdir_p(dir, 0755);
        free(dir);
    }
    if (rc) {
        FREE_NULL(a->w_path);
        FREE_NULL(a->w_dest);
        return IV_EIO;
    }
    json_t *sj = lake_schema_to_json(&a->schema);
    a->schema_json = json_dumps_compact(sj);
    json_decref(sj);
    a->popts.iceberg_schema_json = a->schema_json;
    struct iv_err e;
    rc = pqw_open(&a->w, a->w_path, a->schema.fields, a->schema.nfields, &a->popts, &e);
    if (rc) {
        log_error("cannot open data file: %s", e.msg);
        a->w = NULL;
        FREE_NULL(a->w_path);
        FREE_NULL(a->w_dest);
        FREE_NULL(a->schema_json);
    }
    return rc;
}

/* Common prologue of the put functions: validates col and opens the writer. */
static int put_prep(struct lake_append *a, int col)
{
    if (a->poisoned)
        return IV_EIO;
    if (col < 0 || col >= a->schema.nfields)
        return IV_EINVAL;
    if (!a->w) {
        int rc = writer_open(a);
        if (rc)
            return rc;
    }
    a->in_row = true;
    return IV_OK;
}

int lake_put_null(struct lake_append *a, int col)
{
    int rc = put_prep(a, col);
    return rc ? rc : pqw_put_null(a->w, col);
}

int lake_put_bool(struct lake_append *a, int col, bool v)
{
    int rc = put_prep(a, col);
    return rc ? rc : pqw_put_bool(a->w, col, v);
}

int lake_put_i32(struct lake_append *a, int col, int32_t v)
{
    int rc = put_prep(a, col);
    if (rc)
        return rc;
    if (a->schema.fields[col].type == LAKE_LONG)   /* widened column */
        return pqw_put_i64(a->w, col, v);
    return pqw_put_i32(a->w, col, v);
}

int lake_put_i64(struct lake_append *a, int col, int64_t v)
{
    int rc = put_prep(a, col);
    return rc ? rc : pqw_put_i64(a->w, col, v);
}

int lake_put_float(struct lake_append *a, int col, float v)
{
    int rc = put_prep(a, col);
    if (rc)
        return rc;
    if (a->schema.fields[col].type == LAKE_DOUBLE)  /* widened column */
        return pqw_put_double(a->w, col, (double)v);
    return pqw_put_float(a->w, col, v);
}

int lake_put_double(struct lake_append *a, int col, double v)
{
    int rc = put_prep(a, col);
    return rc ? rc : pqw_put_double(a->w, col, v);
}

int lake_put_bytes(struct lake_append *a, int col, const void *p, size_t n)
{
    int rc = put_prep(a, col);
    return rc ? rc : pqw_put_bytes(a->w, col, p, n);
}

int lake_put_decimal(struct lake_append *a, int col, __int128 unscaled)
{
    int rc = put_prep(a, col);
    return rc ? rc : pqw_put_decimal(a->w, col, unscaled);
}

int lake_append_end_row(struct lake_append *a)
{
    if (a->poisoned)
        return IV_EIO;
    if (!a->w) {
        int rc = writer_open(a);     /* a row of zero puts: let the writer judge it */
        if (rc)
            return rc;
    }
    int rc = pqw_end_row(a->w);
    a->in_row = false;
    if (rc)
        return rc;
    if ((size_t)pqw_bytes_estimate(a->w) >= a->target_file_bytes) {
        struct iv_err e;
        rc = writer_close(a, &e);
        if (rc)
            log_error("cannot finish data file: %s", e.msg);
    }
    return rc;
}

int64_t lake_append_pending_rows(const struct lake_append *a)
{
    int64_t n = a->w ? pqw_rows(a->w) : 0;
    for (int i = 0; i < a->nfiles; i++)
        n += a->files[i].st.record_count;
    return n;
}

int lake_append_reschema(struct lake_append *a, struct iv_err *e)
{
    if (a->poisoned)
        return iv_err_set(e, IV_EIO, "append is in an unknown state after a failed commit");
    if (a->in_row)
        return iv_err_set(e, IV_EINVAL, "cannot change the schema in the middle of a row");
    int rc = writer_close(a, e);
    if (rc)
        return rc;
    lake_schema_release(&a->schema);
    lake_schema_copy(&a->schema, &a->t->schema);
    return IV_OK;
}

/* ---- commit ----------------------------------------------------------------------------- */

static int64_t new_snapshot_id(const json_t *md)
{
    for (;;) {
        uint8_t u[16];   /* Java: (msb ^ lsb) & Long.MAX_VALUE of a random UUID */
        random_bytes(u, sizeof u);
        uint64_t msb = 0, lsb = 0;
        for (int i = 0; i < 8; i++) {
            msb = (msb << 8) | u[i];
            lsb = (lsb << 8) | u[8 + i];
        }
        int64_t id = (int64_t)((msb ^ lsb) & INT64_MAX);
        if (id > 0 && !lake_md_snapshot(md, id))
            return id;
    }
}

static void put_total(json_t *sum, const json_t *psum, bool has_parent, const char *key,
                      int64_t added)
{
    int64_t prev = 0;
    if (has_parent) {
        const char *v = json_str(psum, key);
        if (!v)
            return;   /* parent lacks the total: omit it (Java does the same) */
        prev = strtoll(v, NULL, 10);
    }
    char num[32];
    snprintf(num, sizeof num, "%lld", (long long)(prev + added));
    json_object_set_new(sum, key, json_string(num));
}

static void put_count(json_t *sum, const char *key, int64_t v)
{
    char num[32];
    snprintf(num, sizeof num, "%lld", (long long)v);
    json_object_set_new(sum, key, json_string(num));
}

struct commit_plan {
    int64_t snapshot_id;
    char commit_uuid[37];
    char *manifest_path;            /* NULL for an empty commit */
    int64_t manifest_len;
    int64_t added_rows, added_bytes;
    int added_files;
    char *list_path;                /* this attempt's manifest list */
    const char *state, *run_id;
};

static void plan_release(struct commit_plan *p)
{
    free(p->manifest_path);
    free(p->list_path);
    memset(p, 0, sizeof *p);
}

/* Writes the manifest (once per commit). */
static int plan_prepare(struct lake_append *a, struct commit_plan *p, const char *state,
                        const char *run_id, struct iv_err *e)
{
    struct lake_table *t = a->t;
    memset(p, 0, sizeof *p);
    p->state = state;
    p->run_id = run_id;
    p->snapshot_id = new_snapshot_id(t->md);
    uuid_v4(p->commit_uuid);
    for (int i = 0; i < a->nfiles; i++) {
        p->added_rows += a->files[i].st.record_count;
        p->added_bytes += a->files[i].st.file_size;
    }
    p->added_files = a->nfiles;
    if (a->nfiles == 0)
        return IV_OK;
    p->manifest_path = xasprintf("%s/metadata/%s-m0.avro", t->location_path, p->commit_uuid);
    char *local = lake_io_spool(t->cat, p->manifest_path);
    json_t *sj = lake_schema_to_json(&t->schema);
    char *schema_json = json_dumps_compact(sj);
    json_decref(sj);
    int rc = lake_manifest_write(local, a->files, a->nfiles, p->snapshot_id,
                                 schema_json, t->schema.schema_id, &p->manifest_len, e);
    free(schema_json);
    if (!rc)
        rc = lake_io_publish(t->cat, local, p->manifest_path, e);
    else if (lake_is_s3_uri(p->manifest_path))
        lake_io_unlink(local);
    free(local);
    if (rc)
        FREE_NULL(p->manifest_path);
    return rc;
}

/* Builds this attempt's manifest list and the next metadata (new reference in *md_out). */
static int plan_attempt(struct lake_table *t, struct commit_plan *p, int attempt,
                        json_t **md_out, struct iv_err *e)
{
    const json_t *base = t->md;
    int64_t parent = lake_md_i64(base, "current-snapshot-id", -1);
    json_t *psnap = parent >= 0 ? lake_md_snapshot(base, parent) : NULL;
    if (parent >= 0 && !psnap)
        return iv_err_set(e, IV_EINVAL, "table '%s.%s': current snapshot %lld is missing",
                          t->ns, t->name, (long long)parent);
    if (lake_md_snapshot(base, p->snapshot_id))
        return iv_err_set(e, IV_ECONFLICT, "snapshot id %lld already in use",
                          (long long)p->snapshot_id);
    int64_t seq = lake_md_i64(base, "last-sequence-number", 0) + 1;
    char *parent_list = NULL;
    const char *parent_list_uri = psnap ? json_str(psnap, "manifest-list") : NULL;
    if (psnap) {
        if (!parent_list_uri)
            return iv_err_set(e, IV_EUNSUPPORTED, "parent snapshot %lld has no manifest list "
                              "(v1 'manifests' tables are not supported)", (long long)parent);
        int frc = lake_io_fetch(t->cat, parent_list_uri, &parent_list, e);
        if (frc)
            return frc;
    }
    FREE_NULL(p->list_path);
    p->list_path = xasprintf("%s/metadata/snap-%lld-%d-%s.avro", t->location_path,
                             (long long)p->snapshot_id, attempt, p->commit_uuid);
    struct lake_manifest_ref ref = { 0 };
    char *muri = NULL;
    if (p->manifest_path) {
        muri = lake_path_to_uri(p->manifest_path);
        ref.uri = muri;
        ref.length = p->manifest_len;
        ref.seq = seq;
        ref.snapshot_id = p->snapshot_id;
        ref.added_files = p->added_files;
        ref.added_rows = p->added_rows;
    }
    char *local = lake_io_spool(t->cat, p->list_path);
    int rc = lake_manifest_list_write(local, p->manifest_path ? &ref : NULL, parent_list,
                                      p->snapshot_id, parent, seq, e);
    if (!rc)
        rc = lake_io_publish(t->cat, local, p->list_path, e);
    else if (lake_is_s3_uri(p->list_path))
        lake_io_unlink(local);
    free(local);
    free(muri);
    if (parent_list_uri)
        lake_io_fetch_done(parent_list_uri, parent_list);
    if (rc) {
        FREE_NULL(p->list_path);
        return rc;
    }
    json_t *md = lake_md_next(base, t->metadata_location, now_ms());
    json_t *psum = psnap ? json_object_get(psnap, "summary") : NULL;
    json_t *sum = json_object();
    json_object_set_new(sum, "operation", json_string("append"));
    if (p->added_files > 0) {
        put_count(sum, "added-data-files", p->added_files);
        put_count(sum, "added-records", p->added_rows);
        put_count(sum, "added-files-size", p->added_bytes);
        put_count(sum, "changed-partition-count", 1);
    } else {
        put_count(sum, "changed-partition-count", 0);
    }
    put_total(sum, psum, psnap != NULL, "total-records", p->added_rows);
    put_total(sum, psum, psnap != NULL, "total-files-size", p->added_bytes);
    put_total(sum, psum, psnap != NULL, "total-data-files", p->added_files);
    put_total(sum, psum, psnap != NULL, "total-delete-files", 0);
    put_total(sum, psum, psnap != NULL, "total-position-deletes", 0);
    put_total(sum, psum, psnap != NULL, "total-equality-deletes", 0);
    json_object_set_new(sum, "engine-name", json_string("ivory"));
    json_object_set_new(sum, "engine-version", json_string(IVORY_VERSION));
    if (p->state)
        json_object_set_new(sum, "ivory.state", json_string(p->state));
    if (p->run_id)
        json_object_set_new(sum, "ivory.run-id", json_string(p->run_id));
    char *luri = lake_path_to_uri(p->list_path);
    json_t *snap = json_object();
    json_object_set_new(snap, "sequence-number", json_integer(seq));
    json_object_set_new(snap, "snapshot-id", json_integer(p->snapshot_id));
    if (psnap)
        json_object_set_new(snap, "parent-snapshot-id", json_integer(parent));
    json_object_set_new(snap, "timestamp-ms",
                        json_integer(lake_md_i64(md, "last-updated-ms", now_ms())));
    json_object_set_new(snap, "summary", sum);
    json_object_set_new(snap, "manifest-list", json_string(luri));
    json_object_set_new(snap, "schema-id", json_integer(t->schema.schema_id));
    free(luri);
    lake_md_add_snapshot(md, snap);
    *md_out = md;
    return IV_OK;
}

static void sleep_ms(int64_t ms)
{
    struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) != 0)
        ;
}

/* The committed snapshot now owns the pending files. */
static void commit_done(struct lake_append *a)
{
    files_release(a, false);
}

int lake_append_commit(struct lake_append *a, const char *state_json, const char *run_id,
                       int64_t *snapshot_id_out, struct iv_err *e)
{
    struct lake_table *t = a->t;
    if (snapshot_id_out)
        *snapshot_id_out = -1;
    if (a->poisoned)
        return iv_err_set(e, IV_EIO, "append is in an unknown state after a failed commit");
    if (a->in_row)
        return iv_err_set(e, IV_EINVAL, "cannot commit in the middle of a row");
    int rc = writer_close(a, e);
    if (rc)
        return rc;
    if (a->nfiles == 0 && !state_json && !run_id)
        return IV_OK;   /* nothing to record */
    struct commit_plan p;
    rc = plan_prepare(a, &p, state_json, run_id, e);
    if (rc)
        return rc;
    int retries = (int)lake_md_prop_i64(t->md, "commit.retry.num-retries", 4);
    int64_t wait = lake_md_prop_i64(t->md, "commit.retry.min-wait-ms", 100);
    int64_t max_wait = lake_md_prop_i64(t->md, "commit.retry.max-wait-ms", 60000);
    for (int attempt = 1;; attempt++) {
        json_t *md = NULL;
        rc = plan_attempt(t, &p, attempt, &md, e);
        if (rc)
            break;
        bool unknown = false;
        bool created = t->staged;
        if (created) {   /* the table enters the catalog with this first commit */
            char *loc = NULL;
            rc = t->cat->ops->create(t->cat, t->ns, t->name, t->location_path, md, &loc, e);
            if (rc) {
                json_decref(md);
            } else {
                t->staged = false;
                rc = lake_table_adopt(t, loc, md, e);
            }
        } else {
            rc = lake_table_swap(t, md, &unknown, e);
        }
        if (rc == IV_OK) {
            commit_done(a);
            if (snapshot_id_out)
                *snapshot_id_out = p.snapshot_id;
            plan_release(&p);
            return rc;
        }
        if (unknown) {
            struct iv_err e2;
            if (lake_table_refresh(t, &e2) == IV_OK && lake_md_snapshot(t->md, p.snapshot_id)) {
                commit_done(a);
                if (snapshot_id_out)
                    *snapshot_id_out = p.snapshot_id;
                plan_release(&p);
                return IV_OK;
            }
            a->poisoned = true;   /* keep every file: the snapshot may still appear */
            files_release(a, false);
            plan_release(&p);
            return rc;
        }
        lake_io_remove(t->cat, p.list_path);
        FREE_NULL(p.list_path);
        if (created && rc == IV_ECONFLICT) {
            rc = iv_err_set(e, IV_ECONFLICT, "table '%s.%s' was created by another writer while "
                            "this load was staging it; run the load again", t->ns, t->name);
            break;
        }
        if (rc != IV_ECONFLICT || attempt > retries)
            break;
        log_info("commit to %s.%s conflicted (attempt %d), retrying in %lld ms", t->ns,
                 t->name, attempt, (long long)wait);
        sleep_ms(wait);
        wait = wait * 2 > max_wait ? max_wait : wait * 2;
        rc = lake_table_refresh(t, e);
        if (rc)
            break;
    }
    /* Definite failure: this commit's metadata files go; data files stay pending. */
    if (p.list_path)
        lake_io_remove(t->cat, p.list_path);
    if (p.manifest_path)
        lake_io_remove(t->cat, p.manifest_path);
    plan_release(&p);
    return rc;
}

/* ---- several tables in one sql transaction ------------------------------------------ */

int lake_commit_many(struct lake_append *const *apps, int n, const char *state_json,
                     const char *run_id, int64_t *snapshot_ids_out, struct iv_err *e)
{
    if (n <= 0)
        return IV_OK;
    struct lake_catalog *cat = apps[0]->t->cat;
    for (int i = 0; i < n; i++) {
        if (snapshot_ids_out)
            snapshot_ids_out[i] = -1;
        if (apps[i]->t->cat != cat)
            return iv_err_set(e, IV_EINVAL, "multi-table commit needs one catalog for all "
                              "tables");
        for (int j = 0; j < i; j++)
            if (apps[j]->t == apps[i]->t)
                return iv_err_set(e, IV_EINVAL, "multi-table commit lists table '%s.%s' twice",
                                  apps[i]->t->ns, apps[i]->t->name);
        if (apps[i]->poisoned)
            return iv_err_set(e, IV_EIO, "append is in an unknown state after a failed commit");
        if (apps[i]->in_row)
            return iv_err_set(e, IV_EINVAL, "cannot commit in the middle of a row");
    }
    if (n == 1)
        return lake_append_commit(apps[0], state_json, run_id, snapshot_ids_out, e);
    if (cat->ops != &lake_sql_ops)
        return iv_err_set(e, IV_EUNSUPPORTED, "atomic multi-table commits need the sql catalog "
                          "(a %s catalog commits each table on its own)", cat->ops->type);
    int rc = IV_OK;
    for (int i = 0; i < n && !rc; i++)
        rc = writer_close(apps[i], e);
    for (int i = 0; i < n && !rc; i++)   /* the swap below updates rows: create them first */
        rc = lake_table_materialize(apps[i]->t, e);
    if (rc)
        return rc;
    struct commit_plan *p = xcalloc((size_t)n, sizeof *p);
    json_t **mds = xcalloc((size_t)n, sizeof *mds);
    char **locs = xcalloc((size_t)n, sizeof *locs);
    struct lake_sql_swap *sw = xcalloc((size_t)n, sizeof *sw);
    int prepared = 0;
    for (; prepared < n; prepared++) {
        rc = plan_prepare(apps[prepared], &p[prepared], state_json, run_id, e);
        if (rc)
            goto fail;
    }
    const json_t *md0 = apps[0]->t->md;
    int retries = (int)lake_md_prop_i64(md0, "commit.retry.num-retries", 4);
    int64_t wait = lake_md_prop_i64(md0, "commit.retry.min-wait-ms", 100);
    int64_t max_wait = lake_md_prop_i64(md0, "commit.retry.max-wait-ms", 60000);
    for (int attempt = 1;; attempt++) {
        for (int i = 0; i < n && !rc; i++) {
            struct lake_table *t = apps[i]->t;
            rc = plan_attempt(t, &p[i], attempt, &mds[i], e);
            if (!rc)
                rc = lake_sql_write_next(cat, t->location_path, t->metadata_location, mds[i],
                                         &locs[i], e);
            sw[i] = (struct lake_sql_swap){ t->ns, t->name, t->metadata_location, locs[i] };
        }
        bool unknown = false;
        if (!rc)
            rc = lake_sql_swap_many(cat, sw, n, &unknown, e);
        if (!rc) {
            for (int i = 0; i < n; i++) {
                int r2 = lake_table_adopt(apps[i]->t, locs[i], mds[i], e);
                locs[i] = NULL;
                mds[i] = NULL;
                if (r2)
                    rc = r2;
                commit_done(apps[i]);
                if (snapshot_ids_out)
                    snapshot_ids_out[i] = p[i].snapshot_id;
            }
            goto out;
        }
        if (unknown) {
            /* Outcome unknown: keep every file; a reload tells whether it landed. */
            bool landed = true;
            for (int i = 0; i < n; i++) {
                struct iv_err e2;
                if (lake_table_refresh(apps[i]->t, &e2) != IV_OK
                    || !lake_md_snapshot(apps[i]->t->md, p[i].snapshot_id))
                    landed = false;
            }
            for (int i = 0; i < n; i++) {
                FREE_NULL(locs[i]);
                json_decref(mds[i]);
                mds[i] = NULL;
                if (landed) {
                    commit_done(apps[i]);
                    if (snapshot_ids_out)
                        snapshot_ids_out[i] = p[i].snapshot_id;
                } else {
                    apps[i]->poisoned = true;
                    files_release(apps[i], false);
                }
            }
            if (landed)
                rc = IV_OK;
            goto out;
        }
        for (int i = 0; i < n; i++) {
            if (locs[i])
                lake_io_remove(cat, locs[i]);
            FREE_NULL(locs[i]);
            json_decref(mds[i]);
            mds[i] = NULL;
            if (p[i].list_path)
                lake_io_remove(cat, p[i].list_path);
            FREE_NULL(p[i].list_path);
        }
        if (rc != IV_ECONFLICT || attempt > retries)
            goto fail;
        sleep_ms(wait);
        wait = wait * 2 > max_wait ? max_wait : wait * 2;
        rc = IV_OK;
        for (int i = 0; i < n && !rc; i++)
            rc = lake_table_refresh(apps[i]->t, e);
        if (rc)
            goto fail;
    }
fail:
    for (int i = 0; i < prepared; i++) {
        if (p[i].list_path)
            lake_io_remove(cat, p[i].list_path);
        if (p[i].manifest_path)
            lake_io_remove(cat, p[i].manifest_path);
    }
out:
    for (int i = 0; i < n; i++) {
        plan_release(&p[i]);
        free(locs[i]);
        json_decref(mds[i]);
    }
    free(p);
    free(mds);
    free(locs);
    free(sw);
    return rc;
}

void lake_append_free(struct lake_append *a)
{
    if (!a)
        return;
    writer_drop(a);
    files_release(a, !a->poisoned);
    lake_schema_release(&a->schema);
    free(a);
}
