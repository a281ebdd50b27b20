/*
 * lake/catalog_rest: Iceberg REST catalog client (catalog_type rest) — the
 * protocol of the Iceberg REST OpenAPI document as Java's RESTSessionCatalog
 * and PyIceberg speak it: GET /v1/config (defaults < client < overrides, the
 * prefix), namespaces created when absent, create and load table, and commits
 * as requirements + updates.
 *
 * The server owns the metadata files: this client writes data files,
 * manifests and manifest lists (to the table location the server gives, S3 or
 * local), then sends
 *   requirements: assert-table-uuid, assert-ref-snapshot-id (main; JSON null
 *                 for the first commit), and assert-current-schema-id +
 *                 assert-last-assigned-field-id with a schema change;
 *   updates:      add-schema + set-current-schema (-1: the one just added),
 *                 add-snapshot + set-snapshot-ref (main).
 * Field ids, the schema and the location always come from the server's
 * metadata (it may reassign ids on create).
 *
 * Outcomes: 200 adopt the server's metadata; 409 IV_ECONFLICT (the table
 * layer reloads, re-applies and retries with the Iceberg defaults); 5xx or
 * no answer on a commit: the state is unknown — nothing is deleted and the
 * error says so. 401/403: the error names the catalog URL, never the secret.
 *
 * Auth (catalog_credential): a value with a ':' is OAuth2 client credentials
 * ("client_id:client_secret", exchanged at {uri}/v1/oauth/tokens, scope
 * "catalog", refreshed before expires_in runs out or after a 401); anything
 * else is a static bearer token. Both live in memory only and are wiped on
 * close.
 */
#include "lake/lake_int.h"
#include "lake/lake_http.h"

#include <stdlib.h>
#include <string.h>

struct rest {
    char *base;                  /* catalog_uri without trailing '/' */
    char *prefix;                /* "" or "<prefix>/" (already URL-safe) */
    char *token;                 /* bearer; wiped */
    char *client_id, *client_secret;   /* OAuth2; secret wiped */
    int64_t token_refresh_at_ms; /* 0: static token */
};

#define REST(c) ((struct rest *)(c)->impl)

static void wipe_free(char *s)
{
    if (s) {
        explicit_bzero(s, strlen(s));
        free(s);
    }
}

static void rest_free(struct rest *r)
{
    if (!r)
        return;
    free(r->base);
    free(r->prefix);
    wipe_free(r->token);
    free(r->client_id);
    wipe_free(r->client_secret);
    free(r);
}

static void rest_close(struct lake_catalog *c)
{
    rest_free(REST(c));
    c->impl = NULL;
}

/* The message of a REST error body ({"error":{"message","type","code"}}), or "". */
static void error_text(const struct lake_http_resp *resp, char *out, size_t n)
{
    out[0] = '\0';
    json_t *j = resp->body.len ? json_loadb(resp->body.data, resp->body.len, 0, NULL) : NULL;
    json_t *err = json_object_get(j, "error");
    const char *type = json_str(err, "type");
    const char *msg = json_str(err, "message");
    if (type || msg)
        snprintf(out, n, ": %s%s%s", type ? type : "", type && msg ? ": " : "", msg ? msg : "");
    if (j)
        json_decref(j);
}

/* ---- auth -------------------------------------------------------------------------------- */

static int fetch_token(struct lake_catalog *c, struct iv_err *e)
{
    struct rest *r = REST(c);
    char *id = lake_url_encode(r->client_id, false);
    char *sec = lake_url_encode(r->client_secret, false);
    char *body = xasprintf("grant_type=client_credentials&client_id=%s&client_secret=%s"
                           "&scope=catalog", id, sec);
    free(id);
    wipe_free(sec);
    char *url = xasprintf("%s/v1/oauth/tokens", r->base);
    static const char *const hdrs[] = { "Content-Type: application/x-www-form-urlencoded",
                                        "Accept: application/json", NULL };
    struct lake_http_req q;
    lake_http_req_init(&q, "POST", url);
    q.headers = hdrs;
    q.body = body;
    q.body_len = strlen(body);
    q.retry = true;
    q.timeout_ms = 30000;
    struct lake_http_resp resp;
    int rc = lake_http_do(&q, &resp, e);
    wipe_free(body);
    if (!rc && resp.status != 200) {
        rc = iv_err_set(e, resp.status == 400 || resp.status == 401 || resp.status == 403
                               ? IV_EAUTH : IV_EIO,
                        "REST catalog %s refused the client credentials (HTTP %ld at "
                        "/v1/oauth/tokens)", r->base, resp.status);
    }
    if (!rc) {
        json_t *j = json_loadb(resp.body.data, resp.body.len, 0, NULL);
        const char *tok = json_str(j, "access_token");
        if (!tok) {
            rc = iv_err_set(e, IV_EIO, "REST catalog %s: token response has no access_token",
                            r->base);
        } else {
            wipe_free(r->token);
            r->token = xstrdup(tok);
            json_int_t ttl = json_integer_value(json_object_get(j, "expires_in"));
            if (ttl <= 0)
                ttl = 3600;
            int64_t margin = ttl > 120 ? 60 : ttl / 2;
            r->token_refresh_at_ms = now_ms() + (ttl - margin) * 1000;
        }
        if (j) {
            json_t *at = json_object_get(j, "access_token");
            if (json_is_string(at))
                explicit_bzero((char *)json_string_value(at), strlen(json_string_value(at)));
            json_decref(j);
        }
    }
    if (resp.body.data)
        explicit_bzero(resp.body.data, resp.body.len);
    lake_http_resp_release(&resp);
    free(url);
    return rc;
}

static int ensure_token(struct lake_catalog *c, struct iv_err *e)
{
    struct rest *r = REST(c);
    if (!r->client_id || (r->token && now_ms() < r->token_refresh_at_ms))
        return IV_OK;
    return fetch_token(c, e);
}

/* One call to {base}/v1/{path}. body may be NULL. After a 401 with OAuth2 the token is
 * renewed and the call made once more. */
static int rest_call(struct lake_catalog *c, const char *method, const char *path,
                     const json_t *body, bool retry, struct lake_http_resp *resp,
                     struct iv_err *e)
{
    struct rest *r = REST(c);
    char *url = xasprintf("%s/v1/%s", r->base, path);
    char *text = body ? json_dumps_compact(body) : NULL;
    static const char *const hdrs[] = { "Content-Type: application/json",
                                        "Accept: application/json", NULL };
    int rc = IV_OK;
    for (int round = 0; round < 2; round++) {
        rc = ensure_token(c, e);
        if (rc)
            break;
        struct lake_http_req q;
        lake_http_req_init(&q, method, url);
        q.headers = hdrs;
        q.body = text;
        q.body_len = text ? strlen(text) : 0;
        q.bearer = r->token;
        q.retry = retry;
        q.timeout_ms = 60000;
        q.max_resp = (size_t)256 << 20;
        rc = lake_http_do(&q, resp, e);
        if (rc || resp->status != 401 || !r->client_id || round == 1)
            break;
        lake_http_resp_release(resp);
        r->token_refresh_at_ms = 0;   /* expired early: renew and try once more */
    }
    if (!rc && (resp->status == 401 || resp->status == 403)) {
        char msg[300];
        error_text(resp, msg, sizeof msg);
        rc = iv_err_set(e, IV_EAUTH, "REST catalog %s refused the credentials (HTTP %ld on "
                        "%s /v1/%s)%s", r->base, resp->status, method, path, msg);
    }
    free(text);
    free(url);
    return rc;
}

/* ---- open: /v1/config ---------------------------------------------------------------------- */

static int read_config(struct lake_catalog *c, const char *warehouse, const char *dflt_prefix,
                       struct iv_err *e)
{
    struct rest *r = REST(c);
    char *wh = lake_url_encode(warehouse, false);
    char *path = xasprintf("config?warehouse=%s", wh);
    free(wh);
    struct lake_http_resp resp;
    int rc = rest_call(c, "GET", path, NULL, true, &resp, e);
    free(path);
    if (!rc && resp.status != 200) {
        char msg[300];
        error_text(&resp, msg, sizeof msg);
        rc = iv_err_set(e, IV_EIO, "REST catalog %s: GET /v1/config answered HTTP %ld%s",
                        r->base, resp.status, msg);
    }
    json_t *j = NULL;
    if (!rc) {
        j = json_loadb(resp.body.data, resp.body.len, 0, NULL);
        if (!json_is_object(j))
            rc = iv_err_set(e, IV_EIO, "REST catalog %s: /v1/config is not a JSON object",
                            r->base);
    }
    if (!rc) {
        const char *p = json_str(json_object_get(j, "overrides"), "prefix");
        if (!p)
            p = dflt_prefix;
        if (!p)
            p = json_str(json_object_get(j, "defaults"), "prefix");
        r->prefix = p && *p ? xasprintf("%s/", p) : xstrdup("");
    }
    if (j)
        json_decref(j);
    lake_http_resp_release(&resp);
    return rc;
}

int lake_rest_open(struct lake_catalog *c, const struct lake_catalog_config *cfg,
                   struct iv_err *e)
{
    if (!cfg->uri || (strncmp(cfg->uri, "http://", 7) != 0 && strncmp(cfg->uri, "https://", 8)))
        return iv_err_set(e, IV_EINVAL, "a rest catalog needs catalog_uri = the catalog's "
                          "http(s):// base URL");
    struct rest *r = xcalloc(1, sizeof *r);
    r->base = xstrdup(cfg->uri);
    size_t n = strlen(r->base);
    while (n > 0 && r->base[n - 1] == '/')
        r->base[--n] = '\0';
    if (n >= 3 && strcmp(r->base + n - 3, "/v1") == 0)
        r->base[n - 3] = '\0';   /* tolerate a URI given with its /v1 */
    const char *cred = cfg->credential;
    const char *colon = cred ? strchr(cred, ':') : NULL;
    if (colon) {
        r->client_id = xstrndup(cred, (size_t)(colon - cred));
        r->client_secret = xstrdup(colon + 1);
    } else if (cred && *cred) {
        r->token = xstrdup(cred);
    }
    c->impl = r;
    int rc = read_config(c, cfg->warehouse, cfg->rest_prefix, e);
    if (rc) {
        rest_free(r);
        c->impl = NULL;
    }
    return rc;
}

/* ---- tables -------------------------------------------------------------------------------- */

static char *ns_path(struct lake_catalog *c, const char *ns)
{
    char *ens = lake_url_encode(ns, false);
    char *p = xasprintf("%snamespaces/%s", REST(c)->prefix, ens);
    free(ens);
    return p;
}

static char *table_path(struct lake_catalog *c, const char *ns, const char *name)
{
    char *np = ns_path(c, ns);
    char *en = lake_url_encode(name, false);
    char *p = xasprintf("%s/tables/%s", np, en);
    free(np);
    free(en);
    return p;
}

/* A LoadTableResult / commit response into (loc, md). */
static int take_result(struct lake_catalog *c, const struct lake_http_resp *resp,
                       const char *what, char **loc, json_t **md, struct iv_err *e)
{
    json_t *j = json_loadb(resp->body.data, resp->body.len, 0, NULL);
    const char *ml = json_str(j, "metadata-location");
    json_t *m = json_object_get(j, "metadata");
    if (!ml || !json_is_object(m)) {
        if (j)
            json_decref(j);
        return iv_err_set(e, IV_EIO, "REST catalog %s: %s reply lacks metadata-location or "
                          "metadata", REST(c)->base, what);
    }
    *loc = xstrdup(ml);
    *md = json_incref(m);
    json_decref(j);
    return IV_OK;
}

static int status_error(struct lake_catalog *c, const char *what, const char *ns,
                        const char *name, const struct lake_http_resp *resp, struct iv_err *e)
{
    char msg[300];
    error_text(resp, msg, sizeof msg);
    int code = resp->status == 404 ? IV_ENOTFOUND : resp->status == 409 ? IV_ECONFLICT
             : resp->status >= 500 ? IV_EIO : IV_EINVAL;
    return iv_err_set(e, code, "REST catalog %s: %s %s.%s: HTTP %ld%s", REST(c)->base, what, ns,
                      name, resp->status, msg);
}

static int rest_load(struct lake_catalog *c, const char *ns, const char *name, char **loc,
                     json_t **md, struct iv_err *e)
{
    char *path = table_path(c, ns, name);
    struct lake_http_resp resp;
    int rc = rest_call(c, "GET", path, NULL, true, &resp, e);
    free(path);
    if (!rc && resp.status == 404)
        rc = iv_err_set(e, IV_ENOTFOUND, "table '%s.%s' does not exist in the REST catalog",
                        ns, name);
    else if (!rc && resp.status != 200)
        rc = status_error(c, "load table", ns, name, &resp, e);
    if (!rc)
        rc = take_result(c, &resp, "load table", loc, md, e);
    lake_http_resp_release(&resp);
    return rc;
}

static int ensure_namespace(struct lake_catalog *c, const char *ns, struct iv_err *e)
{
    json_t *body = json_pack("{s:[s], s:{}}", "namespace", ns, "properties");
    char *path = xasprintf("%snamespaces", REST(c)->prefix);
    struct lake_http_resp resp;
    int rc = rest_call(c, "POST", path, body, true, &resp, e);
    free(path);
    json_decref(body);
    if (!rc && resp.status != 200 && resp.status != 204 && resp.status != 409)
        rc = status_error(c, "create namespace", ns, "*", &resp, e);
    lake_http_resp_release(&resp);
    return rc;
}

static int rest_create(struct lake_catalog *c, const char *ns, const char *name,
                       const char *location_path, const json_t *md, char **loc_out,
                       json_t **md_out, struct iv_err *e)
{
    int rc = ensure_namespace(c, ns, e);
    if (rc)
        return rc;
    json_t *schemas = json_object_get(md, "schemas");
    json_t *body = json_pack("{s:s, s:O, s:b}", "name", name, "schema",
                             json_array_get(schemas, 0), "stage-create", 0);
    if (location_path)
        json_object_set_new(body, "location", json_string(location_path));
    json_t *props = json_object_get(md, "properties");
    if (json_is_object(props))
        json_object_set(body, "properties", props);
    char *np = ns_path(c, ns);
    char *path = xasprintf("%s/tables", np);
    free(np);
    struct lake_http_resp resp;
    rc = rest_call(c, "POST", path, body, false, &resp, e);
    free(path);
    json_decref(body);
    if (!rc && resp.status == 409)
        rc = iv_err_set(e, IV_ECONFLICT, "table '%s.%s' already exists in the REST catalog",
                        ns, name);
    else if (!rc && resp.status != 200)
        rc = status_error(c, "create table", ns, name, &resp, e);
    if (!rc)
        rc = take_result(c, &resp, "create table", loc_out, md_out, e);
    lake_http_resp_release(&resp);
    return rc;
}

static bool has_schema(const json_t *md, json_int_t id)
{
    size_t i;
    json_t *s;
    json_array_foreach(json_object_get(md, "schemas"), i, s)
        if (json_integer_value(json_object_get(s, "schema-id")) == id)
            return true;
    return false;
}

/* The CommitTableRequest that takes base to md (new reference). */
static json_t *commit_request(const char *ns, const char *name, const json_t *base,
                              const json_t *md)
{
    json_t *req = json_array(), *upd = json_array();
    json_array_append_new(req, json_pack("{s:s, s:s}", "type", "assert-table-uuid", "uuid",
                                         json_str(base, "table-uuid")));
    int64_t cur = lake_md_i64(base, "current-snapshot-id", -1);
    json_array_append_new(req, json_pack("{s:s, s:s, s:o}", "type", "assert-ref-snapshot-id",
                                         "ref", "main", "snapshot-id",
                                         cur >= 0 ? json_integer(cur) : json_null()));
    bool schema_added = false;
    size_t i;
    json_t *s;
    json_array_foreach(json_object_get(md, "schemas"), i, s) {
        if (has_schema(base, json_integer_value(json_object_get(s, "schema-id"))))
            continue;
        json_array_append_new(upd, json_pack("{s:s, s:O, s:I}", "action", "add-schema",
                                             "schema", s, "last-column-id",
                                             (json_int_t)lake_md_i64(md, "last-column-id", 0)));
        schema_added = true;
    }
    if (schema_added) {
        json_array_append_new(req, json_pack("{s:s, s:I}", "type", "assert-current-schema-id",
                                             "current-schema-id",
                                             (json_int_t)lake_md_i64(base, "current-schema-id",
                                                                     0)));
        json_array_append_new(req, json_pack("{s:s, s:I}", "type",
                                             "assert-last-assigned-field-id",
                                             "last-assigned-field-id",
                                             (json_int_t)lake_md_i64(base, "last-column-id",
                                                                     0)));
        json_array_append_new(upd, json_pack("{s:s, s:i}", "action", "set-current-schema",
                                             "schema-id", -1));
    }
    int64_t new_cur = lake_md_i64(md, "current-snapshot-id", -1);
    json_array_foreach(json_object_get(md, "snapshots"), i, s) {
        int64_t id = lake_md_i64(s, "snapshot-id", -1);
        if (lake_md_snapshot(base, id))
            continue;
        json_array_append_new(upd, json_pack("{s:s, s:O}", "action", "add-snapshot",
                                             "snapshot", s));
    }
    if (new_cur >= 0 && new_cur != cur)
        json_array_append_new(upd, json_pack("{s:s, s:s, s:s, s:I}", "action",
                                             "set-snapshot-ref", "ref-name", "main", "type",
                                             "branch", "snapshot-id", (json_int_t)new_cur));
    return json_pack("{s:{s:[s], s:s}, s:o, s:o}", "identifier", "namespace", ns, "name", name,
                     "requirements", req, "updates", upd);
}

static int rest_commit(struct lake_catalog *c, const char *ns, const char *name,
                       const json_t *base, const json_t *md, char **loc_out, json_t **md_out,
                       bool *unknown, struct iv_err *e)
{
    json_t *body = commit_request(ns, name, base, md);
    char *path = table_path(c, ns, name);
    struct lake_http_resp resp;
    int rc = rest_call(c, "POST", path, body, false, &resp, e);
    free(path);
    json_decref(body);
    if (rc == IV_EIO) {
        *unknown = true;
        rc = iv_err_set(e, IV_EIO, "commit state unknown for %s.%s: %s; nothing was deleted "
                        "(the commit may still have landed)", ns, name, e ? e->msg : "");
    } else if (!rc && resp.status == 200) {
        rc = take_result(c, &resp, "commit", loc_out, md_out, e);
    } else if (!rc && resp.status == 409) {
        rc = status_error(c, "commit", ns, name, &resp, e);
    } else if (!rc && resp.status >= 500) {
        *unknown = true;
        char msg[300];
        error_text(&resp, msg, sizeof msg);
        rc = iv_err_set(e, IV_EIO, "commit state unknown for %s.%s: REST catalog %s answered "
                        "HTTP %ld%s; nothing was deleted (the commit may still have landed)",
                        ns, name, REST(c)->base, resp.status, msg);
    } else if (!rc) {
        rc = status_error(c, "commit", ns, name, &resp, e);
    }
    lake_http_resp_release(&resp);
    return rc;
}

const struct lake_catalog_ops lake_rest_ops = {
    .type = "rest",
    .close = rest_close,
    .load_md = rest_load,
    .create_md = rest_create,
    .commit_md = rest_commit,
};
