/*
 * lake/catalog_glue: the AWS Glue Data Catalog as an Iceberg catalog — the
 * layout Java's GlueCatalog and PyIceberg use: one Glue table per Iceberg
 * table with Parameters table_type=ICEBERG, metadata_location and
 * previous_metadata_location; Glue databases are namespaces.
 *
 * Commit: the metadata file is written first (metastore naming, on S3), then
 * GetTable checks that metadata_location is still our base and UpdateTable
 * swaps it with the VersionId read as the compare-and-swap (Glue refuses a
 * stale VersionId with ConcurrentModificationException -> IV_ECONFLICT). A 5xx
 * or a timeout on UpdateTable leaves the outcome unknown.
 *
 * Transport: JSON 1.1 over POST with X-Amz-Target, SigV4 (service "glue") by
 * libcurl; the endpoint is catalog_uri or https://glue.{region}.amazonaws.com.
 * Credentials are the catalog's S3 key pair (one AWS identity per catalog).
 */
#include "lake/lake_int.h"
#include "lake/lake_http.h"

#include <stdlib.h>
#include <string.h>

struct glue {
    char *endpoint;
    char *sigv4;
    char *access_key, *secret_key;    /* secret wiped on close */
};

#define GLUE(c) ((struct glue *)(c)->impl)

int lake_glue_open(struct lake_catalog *c, const struct lake_catalog_config *cfg,
                   struct iv_err *e)
{
    const char *region = cfg->region && *cfg->region ? cfg->region : "us-east-1";
    if (cfg->uri && *cfg->uri && strncmp(cfg->uri, "http://", 7) != 0
        && strncmp(cfg->uri, "https://", 8) != 0)
        return iv_err_set(e, IV_EINVAL, "glue catalog_uri '%s' must be an http(s):// endpoint",
                          cfg->uri);
    if (!lake_is_s3_uri(c->warehouse_path))
        return iv_err_set(e, IV_EINVAL, "a glue catalog needs an s3:// warehouse");
    struct glue *g = xcalloc(1, sizeof *g);
    g->endpoint = cfg->uri && *cfg->uri ? xstrdup(cfg->uri)
                                        : xasprintf("https://glue.%s.amazonaws.com", region);
    g->sigv4 = xasprintf("aws:amz:%s:glue", region);
    g->access_key = xstrdup(cfg->s3_access_key_id ? cfg->s3_access_key_id : "");
    g->secret_key = xstrdup(cfg->s3_secret_key ? cfg->s3_secret_key : "");
    c->impl = g;
    return IV_OK;
}

static void glue_close(struct lake_catalog *c)
{
    struct glue *g = GLUE(c);
    if (!g)
        return;
    explicit_bzero(g->secret_key, strlen(g->secret_key));
    free(g->secret_key);
    free(g->access_key);
    free(g->sigv4);
    free(g->endpoint);
    free(g);
    c->impl = NULL;
}

/* One Glue call. *reply gets the parsed body on 200; *err_type the exception name
 * otherwise (e.g. "EntityNotFoundException"). IV_OK / IV_EIO (transport, or 5xx after
 * retries: *status tells). */
static int glue_call(struct lake_catalog *c, const char *op, json_t *body, bool retry,
                     json_t **reply, char err_type[128], long *status, struct iv_err *e)
{
    struct glue *g = GLUE(c);
    char target[128];
    snprintf(target, sizeof target, "X-Amz-Target: AWSGlue.%s", op);
    const char *hdrs[] = { target, "Content-Type: application/x-amz-json-1.1", NULL };
    char *text = json_dumps_compact(body);
    struct lake_http_req r;
    lake_http_req_init(&r, "POST", g->endpoint);
    r.headers = hdrs;
    r.body = text;
    r.body_len = strlen(text);
    r.sigv4 = g->sigv4;
    r.access_key = g->access_key;
    r.secret_key = g->secret_key;
    r.retry = retry;
    r.timeout_ms = 60000;
    struct lake_http_resp resp;
    *reply = NULL;
    err_type[0] = '\0';
    *status = 0;
    int rc = lake_http_do(&r, &resp, e);
    free(text);
    if (rc) {
        lake_http_resp_release(&resp);
        return rc;
    }
    *status = resp.status;
    json_t *j = resp.body.len ? json_loadb(resp.body.data, resp.body.len, 0, NULL) : NULL;
    if (resp.status == 200) {
        *reply = j ? j : json_object();
    } else {
        const char *t = j ? json_str(j, "__type") : NULL;
        if (!t && j)
            t = json_str(j, "code");
        const char *hash = t ? strrchr(t, '#') : NULL;
        snprintf(err_type, 128, "%s", hash ? hash + 1 : t ? t : "");
        const char *msg = j ? json_str(j, "message") : NULL;
        if (!msg && j)
            msg = json_str(j, "Message");
        rc = iv_err_set(e, resp.status >= 500 ? IV_EIO
                           : resp.status == 403 || resp.status == 401
                             || strstr(err_type, "Signature") || strstr(err_type, "Token")
                             || strstr(err_type, "AccessDenied") ? IV_EAUTH : IV_EINVAL,
                        "Glue %s at %s: HTTP %ld %s%s%s", op, g->endpoint, resp.status,
                        err_type[0] ? err_type : "error", msg ? ": " : "", msg ? msg : "");
        if (j)
            json_decref(j);
    }
    lake_http_resp_release(&resp);
    return rc;
}

/* The Glue table: *tbl (new ref) or IV_ENOTFOUND. */
static int get_table(struct lake_catalog *c, const char *ns, const char *name, json_t **tbl,
                     struct iv_err *e)
{
    json_t *body = json_pack("{s:s, s:s}", "DatabaseName", ns, "Name", name);
    json_t *reply = NULL;
    char et[128];
    long st;
    int rc = glue_call(c, "GetTable", body, true, &reply, et, &st, e);
    json_decref(body);
    if (rc && strcmp(et, "EntityNotFoundException") == 0)
        return iv_err_set(e, IV_ENOTFOUND, "table '%s.%s' does not exist in Glue", ns, name);
    if (rc)
        return rc;
    json_t *t = json_object_get(reply, "Table");
    if (!json_is_object(t)) {
        json_decref(reply);
        return iv_err_set(e, IV_EIO, "Glue GetTable %s.%s: reply has no Table", ns, name);
    }
    *tbl = json_incref(t);
    json_decref(reply);
    return IV_OK;
}

static const char *param(const json_t *tbl, const char *key)
{
    return json_str(json_object_get(tbl, "Parameters"), key);
}

static int glue_load(struct lake_catalog *c, const char *ns, const char *name, char **loc,
                     struct iv_err *e)
{
    json_t *tbl = NULL;
    int rc = get_table(c, ns, name, &tbl, e);
    if (rc)
        return rc;
    const char *tt = param(tbl, "table_type");
    const char *ml = param(tbl, "metadata_location");
    if (!tt || strcasecmp(tt, "ICEBERG") != 0 || !ml)
        rc = iv_err_set(e, IV_EINVAL, "Glue table '%s.%s' is not an Iceberg table "
                        "(table_type=%s)", ns, name, tt ? tt : "none");
    else
        *loc = xstrdup(ml);
    json_decref(tbl);
    return rc;
}

static int ensure_database(struct lake_catalog *c, const char *ns, struct iv_err *e)
{
    json_t *body = json_pack("{s:{s:s}}", "DatabaseInput", "Name", ns);
    json_t *reply = NULL;
    char et[128];
    long st;
    int rc = glue_call(c, "CreateDatabase", body, true, &reply, et, &st, e);
    json_decref(body);
    if (reply)
        json_decref(reply);
    if (rc && strcmp(et, "AlreadyExistsException") == 0)
        return IV_OK;
    return rc;
}

static json_t *table_input(const char *name, const char *location, const char *loc,
                           const char *prev)
{
    json_t *params = json_pack("{s:s, s:s}", "table_type", "ICEBERG", "metadata_location", loc);
    if (prev)
        json_object_set_new(params, "previous_metadata_location", json_string(prev));
    return json_pack("{s:s, s:s, s:o, s:{s:s}}", "Name", name, "TableType", "EXTERNAL_TABLE",
                     "Parameters", params, "StorageDescriptor", "Location", location);
}

static int glue_create(struct lake_catalog *c, const char *ns, const char *name,
                       const char *location_path, const json_t *md, char **loc_out,
                       struct iv_err *e)
{
    char *loc = NULL;
    int rc = lake_md_write_next(c, location_path, NULL, md, &loc, e);
    if (rc)
        return rc;
    rc = ensure_database(c, ns, e);
    if (!rc) {
        json_t *body = json_pack("{s:s, s:o}", "DatabaseName", ns, "TableInput",
                                 table_input(name, location_path, loc, NULL));
        json_t *reply = NULL;
        char et[128];
        long st;
        rc = glue_call(c, "CreateTable", body, false, &reply, et, &st, e);
        json_decref(body);
        if (reply)
            json_decref(reply);
        if (rc && strcmp(et, "AlreadyExistsException") == 0)
            rc = iv_err_set(e, IV_ECONFLICT, "table '%s.%s' already exists in Glue", ns, name);
    }
    if (rc) {
        lake_io_remove(c, loc);
        free(loc);
        return rc;
    }
    *loc_out = loc;
    return IV_OK;
}

static int glue_commit(struct lake_catalog *c, const char *ns, const char *name,
                       const char *location_path, const char *old_loc, const json_t *md,
                       char **new_loc_out, bool *unknown, struct iv_err *e)
{
    json_t *tbl = NULL;
    int rc = get_table(c, ns, name, &tbl, e);
    if (rc)
        return rc;
    const char *cur = param(tbl, "metadata_location");
    if (!cur || !old_loc || strcmp(cur, old_loc) != 0) {
        json_decref(tbl);
        return iv_err_set(e, IV_ECONFLICT, "table '%s.%s' was updated by another writer", ns,
                          name);
    }
    char *loc = NULL;
    rc = lake_md_write_next(c, location_path, old_loc, md, &loc, e);
    if (rc) {
        json_decref(tbl);
        return rc;
    }
    json_t *body = json_pack("{s:s, s:o}", "DatabaseName", ns, "TableInput",
                             table_input(name, location_path, loc, old_loc));
    const char *ver = json_str(tbl, "VersionId");
    if (ver)
        json_object_set_new(body, "VersionId", json_string(ver));
    json_decref(tbl);
    json_t *reply = NULL;
    char et[128];
    long st = 0;
    rc = glue_call(c, "UpdateTable", body, false, &reply, et, &st, e);
    json_decref(body);
    if (reply)
        json_decref(reply);
    if (!rc) {
        *new_loc_out = loc;
        return IV_OK;
    }
    if (st == 0 || st >= 500) {
        *unknown = true;   /* the swap may have happened: keep the file */
    } else {
        if (strcmp(et, "ConcurrentModificationException") == 0)
            rc = iv_err_set(e, IV_ECONFLICT, "table '%s.%s' was updated by another writer "
                            "(Glue VersionId moved)", ns, name);
        lake_io_remove(c, loc);
    }
    free(loc);
    return rc;
}

const struct lake_catalog_ops lake_glue_ops = {
    .type = "glue",
    .load = glue_load,
    .create = glue_create,
    .commit = glue_commit,
    .close = glue_close,
};
