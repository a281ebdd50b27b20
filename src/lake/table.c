/*
 * lake/table: table handles — load, create, refresh, schema evolution, and
 * the reads the runner needs for exactly-once loads (last committed Singer
 * STATE, whether a run id was already committed).
 *
 * A handle holds the current metadata JSON and its location; every change
 * (evolve here, appends in append.c) builds the next metadata from that base
 * and asks the catalog to swing the pointer from the base's location. On
 * IV_ECONFLICT the handle refreshes and the change is re-applied (optimistic
 * concurrency, spec "Commit Conflict Resolution and Retry").
 */
#include "lake/lake_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

int lake_table_adopt(struct lake_table *t, char *loc, json_t *md, struct iv_err *e)
{
    struct lake_schema s;
    int rc = lake_md_check(md, &s, e);
    if (rc)
        goto fail;
    const char *uuid = json_str(md, "table-uuid");
    if (t->md && strcmp(uuid, json_str(t->md, "table-uuid")) != 0) {
        lake_schema_release(&s);
        rc = iv_err_set(e, IV_ECONFLICT, "table '%s.%s' was replaced (table-uuid changed)",
                        t->ns, t->name);
        goto fail;
    }
    char *lpath = lake_location_root(json_str(md, "location"));
    if (!lpath) {
        lake_schema_release(&s);
        rc = iv_err_set(e, IV_EUNSUPPORTED, "table location '%s' is neither a local file:// "
                        "path nor an s3:// URI", json_str(md, "location"));
        goto fail;
    }
    if (lake_is_s3_uri(lpath) && !t->cat->s3) {
        free(lpath);
        lake_schema_release(&s);
        rc = iv_err_set(e, IV_EUNSUPPORTED, "table location '%s' is on S3 but the catalog has "
                        "no S3 settings", json_str(md, "location"));
        goto fail;
    }
    free(t->metadata_location);
    t->metadata_location = loc;
    if (t->md)
        json_decref(t->md);
    t->md = md;
    free(t->location_path);
    t->location_path = lpath;
    free(t->location_uri);
    t->location_uri = lake_path_to_uri(lpath);
    lake_schema_release(&t->schema);
    t->schema = s;
    return IV_OK;
fail:
    free(loc);
    json_decref(md);
    return rc;
}

/* Reads the metadata at loc into t (takes loc). */
static int read_into(struct lake_table *t, char *loc, struct iv_err *e)
{
    json_t *md = NULL;
    int rc = lake_io_get_json(t->cat, loc, &md, e);
    if (rc) {
        free(loc);
        return rc;
    }
    return lake_table_adopt(t, loc, md, e);
}

int lake_table_swap(struct lake_table *t, json_t *md, bool *unknown, struct iv_err *e)
{
    struct lake_catalog *c = t->cat;
    char *loc = NULL;
    *unknown = false;
    if (c->ops->commit_md) {
        json_t *smd = NULL;
        int rc = c->ops->commit_md(c, t->ns, t->name, t->md, md, &loc, &smd, unknown, e);
        json_decref(md);
        return rc ? rc : lake_table_adopt(t, loc, smd, e);
    }
    int rc = c->ops->commit(c, t->ns, t->name, t->location_path, t->metadata_location, md,
                            &loc, unknown, e);
    if (rc) {
        json_decref(md);
        return rc;
    }
    return lake_table_adopt(t, loc, md, e);
}

/* The catalog's current pointer; a catalog that serves metadata itself (rest) also
 * fills *md. */
static int load_pointer(struct lake_catalog *c, const char *ns, const char *name, char **loc,
                        json_t **md, struct iv_err *e)
{
    *md = NULL;
    if (c->ops->load_md)
        return c->ops->load_md(c, ns, name, loc, md, e);
    return c->ops->load(c, ns, name, loc, e);
}

char *lake_location_root(const char *uri)
{
    if (!lake_is_s3_uri(uri))
        return lake_uri_to_path(uri);
    char *out = xasprintf("s3://%s", uri + (uri[2] == 'a' ? 6 : 5));
    size_t n = strlen(out);
    while (n > 5 && out[n - 1] == '/')
        out[--n] = '\0';
    return out;
}

static struct lake_table *table_new(struct lake_catalog *c, const char *ns, const char *name)
{
    struct lake_table *t = xcalloc(1, sizeof *t);
    t->cat = c;
    t->ns = xstrdup(ns);
    t->name = xstrdup(name);
    lake_schema_init(&t->schema);
    return t;
}

/* Two column names equal but for ASCII case ("id", "ID"): case-insensitive engines
 * (Spark, Trino, Hive) cannot tell them apart, so no table holds both. */
static int case_clash(const char *have, const char *add, struct iv_err *e)
{
    if (strcasecmp(have, add) != 0)
        return IV_OK;
    return iv_err_set(e, IV_EINVAL, "columns '%s' and '%s' differ only in case, which "
                      "case-insensitive engines (Spark, Trino) cannot tell apart; rename one",
                      have, add);
}

static int check_names(const char *ns, const char *name, struct iv_err *e)
{
    int rc = lake_check_name("namespace", ns, e);
    return rc ? rc : lake_check_name("table", name, e);
}

int lake_table_load(struct lake_catalog *c, const char *ns, const char *name,
                    struct lake_table **out, struct iv_err *e)
{
    *out = NULL;
    int rc = check_names(ns, name, e);
    if (rc)
        return rc;
    char *loc = NULL;
    json_t *md = NULL;
    rc = load_pointer(c, ns, name, &loc, &md, e);
    if (rc)
        return rc;
    struct lake_table *t = table_new(c, ns, name);
    rc = md ? lake_table_adopt(t, loc, md, e) : read_into(t, loc, e);
    if (rc) {
        lake_table_close(t);
        return rc;
    }
    *out = t;
    return IV_OK;
}

int lake_table_refresh(struct lake_table *t, struct iv_err *e)
{
    if (t->staged)
        return IV_OK;   /* only in memory until its first commit */
    char *loc = NULL;
    json_t *md = NULL;
    int rc = load_pointer(t->cat, t->ns, t->name, &loc, &md, e);
    if (rc)
        return rc;
    if (t->metadata_location && strcmp(loc, t->metadata_location) == 0) {
        free(loc);
        if (md)
            json_decref(md);
        return IV_OK;
    }
    return md ? lake_table_adopt(t, loc, md, e) : read_into(t, loc, e);
}

static int create_or_stage(struct lake_catalog *c, const char *ns, const char *name,
                           const char *location, const struct lake_schema *schema, bool stage,
                           struct lake_table **out, struct iv_err *e);

int lake_table_create(struct lake_catalog *c, const char *ns, const char *name,
                      const char *location, const struct lake_schema *schema,
                      struct lake_table **out, struct iv_err *e)
{
    return create_or_stage(c, ns, name, location, schema, false, out, e);
}

int lake_table_load_or_stage(struct lake_catalog *c, const char *ns, const char *name,
                             const struct lake_schema *schema, struct lake_table **out,
                             struct iv_err *e)
{
    int rc = lake_table_load(c, ns, name, out, e);
    if (rc != IV_ENOTFOUND)
        return rc;
    return create_or_stage(c, ns, name, NULL, schema, true, out, e);
}

int lake_table_materialize(struct lake_table *t, struct iv_err *e)
{
    if (!t->staged)
        return IV_OK;
    char *loc = NULL;
    int rc = t->cat->ops->create(t->cat, t->ns, t->name, t->location_path, t->md, &loc, e);
    if (rc == IV_ECONFLICT)
        return iv_err_set(e, IV_ECONFLICT, "table '%s.%s' was created by another writer while "
                          "this load was staging it; run the load again", t->ns, t->name);
    if (rc)
        return rc;
    free(t->metadata_location);
    t->metadata_location = loc;
    t->staged = false;
    return IV_OK;
}

static int create_or_stage(struct lake_catalog *c, const char *ns, const char *name,
                           const char *location, const struct lake_schema *schema, bool stage,
                           struct lake_table **out, struct iv_err *e)
{
    *out = NULL;
    int rc = check_names(ns, name, e);
    if (rc)
        return rc;
    if (!schema || schema->nfields < 1)
        return iv_err_set(e, IV_EINVAL, "table '%s.%s' needs at least one column", ns, name);
    char *lpath = NULL;
    if (location) {
        lpath = lake_location_root(location);
        if (!lpath)
            return iv_err_set(e, IV_EINVAL, "table location '%s' must be file:///absolute/dir "
                              "or s3://bucket/prefix", location);
    } else {
        lpath = lake_default_table_path(c, ns, name);
    }
    struct lake_schema s;
    lake_schema_copy(&s, schema);
    s.schema_id = 0;
    for (int i = 0; i < s.nfields; i++) {
        s.fields[i].id = i + 1;
        for (int j = 0; j < i; j++) {
            if (strcmp(s.fields[i].name, s.fields[j].name) == 0) {
                rc = iv_err_set(e, IV_EINVAL, "column '%s' appears twice", s.fields[i].name);
                goto out;
            }
            if ((rc = case_clash(s.fields[j].name, s.fields[i].name, e)))
                goto out;
        }
        if (!*s.fields[i].name) {
            rc = iv_err_set(e, IV_EINVAL, "column %d has an empty name", i + 1);
            goto out;
        }
    }
    char *uri = lake_path_to_uri(lpath);
    json_t *md = lake_md_new(uri, &s, now_ms());
    free(uri);
    char *loc = NULL;
    if (stage && (c->ops->create_md || lake_is_s3_uri(lpath)))
        stage = false;   /* staging is for local tables of catalogs we write metadata for */
    if (stage) {   /* the first commit writes its manifests here before the table exists */
        char *mdir = xasprintf("%s/metadata", lpath);
        rc = mkdir_p(mdir, 0755) ? iv_err_set(e, IV_EIO, "cannot create directory '%s'", mdir)
                                 : IV_OK;
        free(mdir);
        if (rc)
            json_decref(md);
    } else if (c->ops->create_md) {   /* the catalog assigns ids and writes the metadata (rest) */
        json_t *smd = NULL;
        rc = c->ops->create_md(c, ns, name, location ? lpath : NULL, md, &loc, &smd, e);
        json_decref(md);
        md = smd;
    } else {
        rc = c->ops->create(c, ns, name, lpath, md, &loc, e);
        if (rc)
            json_decref(md);
    }
    if (rc)
        goto out;
    struct lake_table *t = table_new(c, ns, name);
    rc = lake_table_adopt(t, loc, md, e);
    if (rc) {
        lake_table_close(t);
        goto out;
    }
    t->staged = stage;
    t->created = true;
    *out = t;
out:
    lake_schema_release(&s);
    free(lpath);
    return rc;
}

int lake_table_load_or_create(struct lake_catalog *c, const char *ns, const char *name,
                              const char *location, const struct lake_schema *schema,
                              struct lake_table **out, struct iv_err *e)
{
    int rc = lake_table_load(c, ns, name, out, e);
    if (rc != IV_ENOTFOUND)
        return rc;
    rc = lake_table_create(c, ns, name, location, schema, out, e);
    if (rc != IV_ECONFLICT)
        return rc;
    return lake_table_load(c, ns, name, out, e);   /* a concurrent creator won */
}

const struct lake_schema *lake_table_schema(const struct lake_table *t)
{
    return &t->schema;
}

const char *lake_table_location(const struct lake_table *t)
{
    return t->location_uri;
}

const char *lake_table_metadata_location(const struct lake_table *t)
{
    return t->metadata_location;
}

const json_t *lake_table_metadata(const struct lake_table *t)
{
    return t->md;
}

int64_t lake_table_current_snapshot_id(const struct lake_table *t)
{
    int64_t id = lake_md_i64(t->md, "current-snapshot-id", -1);
    return id < 0 ? -1 : id;
}

/* A staged table that never got its first commit: remove the directories staging made
 * (rmdir only removes empty ones, so nothing anyone wrote is lost). */
static void unstage_dirs(const struct lake_table *t)
{
    const char *subs[] = { "metadata", "data" };
    for (int i = 0; i < 2; i++) {
        char *d = xasprintf("%s/%s", t->location_path, subs[i]);
        rmdir(d);
        free(d);
    }
    rmdir(t->location_path);
}

void lake_table_close(struct lake_table *t)
{
    if (!t)
        return;
    if (t->staged && t->location_path)
        unstage_dirs(t);
    free(t->ns);
    free(t->name);
    free(t->metadata_location);
    if (t->md)
        json_decref(t->md);
    free(t->location_uri);
    free(t->location_path);
    lake_schema_release(&t->schema);
    free(t);
}

/* ---- schema evolution ------------------------------------------------------------- */

static bool same_type(const struct lake_field *a, const struct lake_field *b)
{
    if (a->type != b->type)
        return false;
    if (a->type == LAKE_DECIMAL)
        return a->precision == b->precision && a->scale == b->scale;
    if (a->type == LAKE_FIXED)
        return a->fixed_len == b->fixed_len;
    return true;
}

/* Computes the evolved schema of `cur` for `in`. *changed false when nothing to do; with
 * what (whatsz bytes) the first change is described there. */
static int evolve_schema(const struct lake_schema *cur, int last_col,
                         const struct lake_schema *in, struct lake_schema *out, int *last_out,
                         bool *changed, char *what, size_t whatsz, struct iv_err *e)
{
    lake_schema_copy(out, cur);
    *changed = false;
    for (int i = 0; i < in->nfields; i++) {
        const struct lake_field *f = &in->fields[i];
        char from[32], to[32];
        int k = lake_schema_find(out, f->name);
        if (k < 0) {
            for (int j = 0; j < out->nfields; j++) {
                int rc = case_clash(out->fields[j].name, f->name, e);
                if (rc) {
                    lake_schema_release(out);
                    return rc;
                }
            }
            lake_schema_add(out, f->name, f->type, false, f->precision, f->scale);
            struct lake_field *nf = &out->fields[out->nfields - 1];
            nf->id = ++last_col;
            nf->fixed_len = f->fixed_len;
            if (what && !*changed) {
                lake_type_string(nf, to);
                snprintf(what, whatsz, "new column '%s' (%s)", f->name, to);
            }
            *changed = true;
            continue;
        }
        struct lake_field *tf = &out->fields[k];
        if (same_type(tf, f)
            || (tf->type == LAKE_LONG && f->type == LAKE_INT)
            || (tf->type == LAKE_DOUBLE && f->type == LAKE_FLOAT)) {
            /* Fits as is (narrower incoming values are widened on write). */
        } else if ((tf->type == LAKE_INT && f->type == LAKE_LONG)
                   || (tf->type == LAKE_FLOAT && f->type == LAKE_DOUBLE)) {
            if (what && !*changed) {
                lake_type_string(tf, from);
                lake_type_string(f, to);
                snprintf(what, whatsz, "column '%s' widens from %s to %s", f->name, from, to);
            }
            tf->type = f->type;
            *changed = true;
        } else {
            lake_type_string(tf, from);
            lake_type_string(f, to);
            lake_schema_release(out);
            return iv_err_set(e, IV_EINVAL, "column '%s' cannot change from %s to %s", f->name,
                              from, to);
        }
        if (tf->required && !f->required) {   /* required -> optional is a legal relaxation */
            if (what && !*changed)
                snprintf(what, whatsz, "column '%s' becomes optional", f->name);
            tf->required = false;
            *changed = true;
        }
    }
    *last_out = last_col;
    return IV_OK;
}

int lake_table_schema_change(const struct lake_table *t, const struct lake_schema *incoming,
                             char *change, size_t changesz, struct iv_err *e)
{
    struct lake_schema ns;
    int last = 0;
    bool ch = false;
    change[0] = '\0';
    int rc = evolve_schema(&t->schema, (int)lake_md_i64(t->md, "last-column-id", 0), incoming,
                           &ns, &last, &ch, change, changesz, e);
    if (rc)
        return rc;
    lake_schema_release(&ns);
    return IV_OK;
}

bool lake_table_created_here(const struct lake_table *t)
{
    return t->created;
}

int lake_table_evolve(struct lake_table *t, const struct lake_schema *incoming, bool *changed,
                      struct iv_err *e)
{
    if (changed)
        *changed = false;
    int retries = (int)lake_md_prop_i64(t->md, "commit.retry.num-retries", 4);
    int64_t wait = lake_md_prop_i64(t->md, "commit.retry.min-wait-ms", 100);
    for (int attempt = 0;; attempt++) {
        struct lake_schema ns;
        int last = 0;
        bool ch = false;
        int rc = evolve_schema(&t->schema, (int)lake_md_i64(t->md, "last-column-id", 0),
                               incoming, &ns, &last, &ch, NULL, 0, e);
        if (rc)
            return rc;
        if (!ch) {
            lake_schema_release(&ns);
            return IV_OK;
        }
        json_t *md = lake_md_next(t->md, t->metadata_location, now_ms());
        lake_md_add_schema(md, &ns, last);
        lake_schema_release(&ns);
        if (t->staged) {   /* not in the catalog yet: the change stays in memory */
            rc = lake_table_adopt(t, NULL, md, e);
            if (!rc && changed)
                *changed = true;
            return rc;
        }
        bool unknown = false;
        rc = lake_table_swap(t, md, &unknown, e);
        if (rc == IV_OK) {
            if (changed)
                *changed = true;
            return rc;
        }
        if (unknown) {
            /* Outcome unknown: reload and see whether our schema is there. */
            struct iv_err e2;
            if (lake_table_refresh(t, &e2) == IV_OK) {
                struct lake_schema chk;
                int l2;
                bool still = true;
                if (evolve_schema(&t->schema, (int)lake_md_i64(t->md, "last-column-id", 0),
                                  incoming, &chk, &l2, &still, NULL, 0, NULL) == IV_OK) {
                    lake_schema_release(&chk);
                    if (!still) {
                        if (changed)
                            *changed = true;
                        return IV_OK;
                    }
                }
            }
            return rc;
        }
        if (rc != IV_ECONFLICT || attempt >= retries)
            return rc;
        struct timespec ts = { (time_t)(wait / 1000), (long)(wait % 1000) * 1000000L };
        nanosleep(&ts, NULL);
        wait = wait * 2 > 60000 ? 60000 : wait * 2;
        rc = lake_table_refresh(t, e);
        if (rc)
            return rc;
    }
}

/* ---- run bookkeeping ----------------------------------------------------------------- */

int lake_table_last_state(struct lake_table *t, char **state_json, char **run_id,
                          int64_t *snapshot_id, struct iv_err *e)
{
    if (state_json)
        *state_json = NULL;
    if (run_id)
        *run_id = NULL;
    if (snapshot_id)
        *snapshot_id = -1;
    int64_t id = lake_md_i64(t->md, "current-snapshot-id", -1);
    size_t guard = json_array_size(json_object_get(t->md, "snapshots")) + 1;
    while (id >= 0 && guard-- > 0) {
        json_t *s = lake_md_snapshot(t->md, id);
        if (!s)
            break;   /* parent expired: history ends here */
        json_t *sum = json_object_get(s, "summary");
        const char *st = json_str(sum, "ivory.state");
        if (st) {
            if (state_json)
                *state_json = xstrdup(st);
            if (run_id)
                *run_id = xstrdup(json_str(sum, "ivory.run-id"));
            if (snapshot_id)
                *snapshot_id = id;
            return IV_OK;
        }
        id = lake_md_i64(s, "parent-snapshot-id", -1);
    }
    (void)e;
    return IV_OK;
}

bool lake_table_has_run(struct lake_table *t, const char *run_id)
{
    if (!run_id)
        return false;
    size_t i;
    json_t *s;
    json_array_foreach(json_object_get(t->md, "snapshots"), i, s) {
        const char *r = json_str(json_object_get(s, "summary"), "ivory.run-id");
        if (r && strcmp(r, run_id) == 0)
            return true;
    }
    return false;
}
