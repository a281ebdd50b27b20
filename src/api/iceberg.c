/*
 * api/iceberg: Ivory as an Iceberg REST catalog at {server}/iceberg — the HTTP
 * side of the Iceberg REST Catalog API (config, namespaces, tables: list,
 * create, load, commit, drop) over the tenant's own `sql` catalog, so Spark,
 * Trino, PyIceberg, DuckDB or another Ivory can attach to the embedded
 * lakehouse (docs/lakehouse.md).
 *
 * Tenancy: the same JWTs as the admin API; the tenant is the token's `sub`.
 * It sees exactly one namespace, its own `ivory_tenant_{slug}` (the namespace
 * the runner writes); any other namespace is 404, as if it did not exist. The
 * catalog served is the tenant's active sql catalog named `ivory-lakehouse`,
 * else its first active sql catalog by name.
 *
 * Errors follow the spec's model {"error":{"message","type","code"}}
 * (api_error renders it for every /iceberg path). The Iceberg logic
 * (requirement checks, metadata updates, the atomic swap) is lake's
 * (lake_table_commit_changes); this file only maps HTTP to it.
 */
#include "api/api_int.h"
#include "crypto/crypto.h"
#include "lake/lake.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct ice {
    struct lake_catalog *cat;
    char ns[80];                 /* the tenant's namespace */
};

static void ice_release(struct ice *x)
{
    lake_catalog_close(x->cat);
    x->cat = NULL;
}

/* %XX-decodes a path segment in place; false on a bad escape or a NUL. */
static bool url_decode(char *s)
{
    char *o = s;
    for (const char *p = s; *p; p++) {
        if (*p != '%') {
            *o++ = *p;
            continue;
        }
        int v = 0;
        for (int k = 1; k <= 2; k++) {
            char h = p[k];
            int d = h >= '0' && h <= '9' ? h - '0' : h >= 'a' && h <= 'f' ? h - 'a' + 10
                  : h >= 'A' && h <= 'F' ? h - 'A' + 10 : -1;
            if (d < 0)
                return false;
            v = v * 16 + d;
        }
        if (v == 0)
            return false;
        *o++ = (char)v;
        p += 2;
    }
    *o = '\0';
    return true;
}

static char *join_path(const char *base, const char *rel)
{
    size_t n = strlen(base);
    while (n > 1 && base[n - 1] == '/')
        n--;
    while (rel && *rel == '/')
        rel++;
    if (!rel || !*rel)
        return xstrndup(base, n);
    return xasprintf("%.*s/%s", (int)n, base, rel);
}

static int pick_catalog(const struct store_catalog *v, size_t n)
{
    int pick = -1;
    for (size_t i = 0; i < n; i++) {
        if (!v[i].active || strcmp(v[i].catalog_type, "sql") != 0)
            continue;
        if (strcmp(v[i].catalog_name, "ivory-lakehouse") == 0)
            return (int)i;
        if (pick < 0)
            pick = (int)i;
    }
    return pick;
}

static int open_lake(struct api_ctx *c, const struct store_catalog *k, struct lake_catalog **out,
                     struct iv_err *e)
{
    /* Checked again here, as the runner does: catalogs stored before the path policy. */
    const char *bad_field = NULL;
    if (config_confine_catalog(c->srv->cfg, k->catalog_type, k->catalog_uri, k->warehouse,
                               k->storage_prefix, &bad_field, e) != IV_OK)
        return IV_EINVAL;
    char *wh = join_path(k->warehouse, k->storage_prefix);
    char *uri = NULL;
    if (k->catalog_uri && strcmp(k->catalog_uri, "local") == 0) {
        uri = config_local_catalog_uri(c->srv->cfg);
    } else {
        uri = xstrdup(k->catalog_uri);
    }
    uint8_t *secret = NULL;
    size_t sn = 0;
    int rc = IV_OK;
    if (k->s3_secret_key_enc)
        rc = secret_unseal(c->srv->master_key, k->s3_secret_key_enc, &secret, &sn, e);
    json_t *meta = k->metadata ? json_loads(k->metadata, 0, NULL) : NULL;
    const json_t *ps = json_object_get(meta, "s3_path_style");
    struct lake_catalog_config lc = {
        .type = "sql", .warehouse = wh, .uri = uri, .catalog_name = k->catalog_name,
        .s3_endpoint = k->s3_endpoint, .s3_access_key_id = k->s3_access_key_id,
        .s3_secret_key = (const char *)secret, .region = json_str(meta, "region"),
        .s3_path_style = json_is_true(ps), .s3_path_style_set = json_is_boolean(ps),
    };
    if (!rc)
        rc = lake_catalog_open(out, &lc, e);
    if (secret) {
        explicit_bzero(secret, sn);
        free(secret);
    }
    json_decref(meta);
    free(wh);
    free(uri);
    return rc;
}

/* The tenant, its namespace and its sql catalog opened; false after replying. */
static bool ice_open(struct api_ctx *c, struct ice *x, bool need_catalog)
{
    memset(x, 0, sizeof *x);
    struct iv_err e = {0};
    struct store_tenant t;
    int rc = store_tenant_get(c->srv->store, c->claims.sub, &t, &e);
    if (rc == IV_ENOTFOUND) {
        api_error(c, 403, "ForbiddenException", NULL,
                  "The token's subject is not a tenant of this server.");
        return false;
    }
    if (rc) {
        api_internal(c, "tenant lookup", &e);
        return false;
    }
    store_tenant_namespace(t.slug, x->ns);
    if (!need_catalog)
        return true;
    struct store_catalog *v = NULL;
    size_t n = 0;
    if ((rc = store_catalog_list(c->srv->store, t.id, &v, &n, &e))) {
        api_internal(c, "catalog list", &e);
        return false;
    }
    int i = pick_catalog(v, n);
    if (i < 0) {
        store_catalogs_free(v, n);
        api_error(c, 404, "NoSuchNamespaceException", NULL,
                  "The tenant has no active sql catalog to serve.");
        return false;
    }
    rc = open_lake(c, &v[i], &x->cat, &e);
    store_catalogs_free(v, n);
    if (rc == IV_EINVAL) {
        api_error(c, 403, "ForbiddenException", NULL, "The tenant's catalog is refused: %s",
                  e.msg);
        return false;
    }
    if (rc) {
        api_internal(c, "open catalog", &e);
        return false;
    }
    return true;
}

/* The {namespace} parameter, decoded and checked against the tenant's; false after
 * replying 404 (another tenant's namespace does not exist for this one). */
static bool ns_param(struct api_ctx *c, struct ice *x, char out[256])
{
    snprintf(out, 256, "%s", api_param(&c->params, "namespace"));
    if (!url_decode(out) || strchr(out, 0x1f)) {
        api_error(c, 404, "NoSuchNamespaceException", NULL, "Namespace does not exist.");
        return false;
    }
    if (strcmp(out, x->ns) != 0) {
        api_error(c, 404, "NoSuchNamespaceException", NULL, "Namespace does not exist: %.100s",
                  out);
        return false;
    }
    return true;
}

static bool table_param(struct api_ctx *c, char out[256])
{
    snprintf(out, 256, "%s", api_param(&c->params, "table"));
    if (!url_decode(out) || !*out) {
        api_error(c, 404, "NoSuchTableException", NULL, "Table does not exist.");
        return false;
    }
    return true;
}

/* 500 for storage trouble, else the matching Iceberg error. */
static void lake_error(struct api_ctx *c, int rc, const struct iv_err *e, const char *what)
{
    switch (rc) {
    case IV_ENOTFOUND:
        api_error(c, 404, "NoSuchTableException", NULL, "%s", e->msg);
        return;
    case IV_ECONFLICT:
        api_error(c, 409, strstr(what, "create") ? "AlreadyExistsException"
                                                 : "CommitFailedException", NULL, "%s", e->msg);
        return;
    case IV_EINVAL:
        api_error(c, 400, "BadRequestException", NULL, "%s", e->msg);
        return;
    default:
        api_internal(c, what, e);
    }
}

static json_t *load_result(struct lake_table *t)
{
    return json_pack("{s:s, s:O, s:{}}", "metadata-location", lake_table_metadata_location(t),
                     "metadata", lake_table_metadata(t), "config");
}

/* ---- handlers ------------------------------------------------------------------------------ */

void api_h_iceberg_config(struct api_ctx *c)
{
    struct ice x;
    if (!ice_open(c, &x, false))
        return;
    json_t *ep = json_pack("[s,s,s,s,s,s,s,s,s,s,s]", "GET /v1/{prefix}/namespaces",
                           "POST /v1/{prefix}/namespaces",
                           "GET /v1/{prefix}/namespaces/{namespace}",
                           "HEAD /v1/{prefix}/namespaces/{namespace}",
                           "GET /v1/{prefix}/namespaces/{namespace}/tables",
                           "POST /v1/{prefix}/namespaces/{namespace}/tables",
                           "GET /v1/{prefix}/namespaces/{namespace}/tables/{table}",
                           "HEAD /v1/{prefix}/namespaces/{namespace}/tables/{table}",
                           "POST /v1/{prefix}/namespaces/{namespace}/tables/{table}",
                           "DELETE /v1/{prefix}/namespaces/{namespace}/tables/{table}",
                           "GET /v1/config");
    api_reply(c, 200, json_pack("{s:{}, s:{}, s:o}", "defaults", "overrides", "endpoints", ep));
}

void api_h_iceberg_ns_list(struct api_ctx *c)
{
    struct ice x;
    if (!ice_open(c, &x, true))
        return;
    bool exists = false;
    struct iv_err e = {0};
    int rc = lake_namespace_exists(x.cat, x.ns, &exists, &e);
    ice_release(&x);
    if (rc) {
        api_internal(c, "list namespaces", &e);
        return;
    }
    const char *parent = api_query(c, "parent");
    json_t *list = json_array();
    if (exists && !parent)
        json_array_append_new(list, json_pack("[s]", x.ns));
    api_reply(c, 200, json_pack("{s:o}", "namespaces", list));
}

void api_h_iceberg_ns_create(struct api_ctx *c)
{
    struct ice x;
    if (!ice_open(c, &x, true))
        return;
    json_t *ns = json_object_get(c->json, "namespace");
    json_t *props = json_object_get(c->json, "properties");
    if (!json_is_array(ns) || json_array_size(ns) != 1
        || !json_is_string(json_array_get(ns, 0)) || (props && !json_is_object(props))) {
        ice_release(&x);
        api_error(c, 400, "BadRequestException", NULL,
                  "namespace must be an array of one string; properties an object.");
        return;
    }
    const char *name = json_string_value(json_array_get(ns, 0));
    if (strcmp(name, x.ns) != 0) {
        ice_release(&x);
        api_error(c, 403, "ForbiddenException", NULL,
                  "A tenant may only create its own namespace '%s'.", x.ns);
        return;
    }
    struct iv_err e = {0};
    int rc = lake_namespace_create(x.cat, name, &e);
    ice_release(&x);
    if (rc == IV_ECONFLICT) {
        api_error(c, 409, "AlreadyExistsException", NULL, "Namespace already exists: %s", name);
        return;
    }
    if (rc) {
        lake_error(c, rc, &e, "create namespace");
        return;
    }
    api_reply(c, 200, json_pack("{s:[s], s:{}}", "namespace", name, "properties"));
}

static void ns_load(struct api_ctx *c, bool head)
{
    struct ice x;
    char ns[256];
    if (!ice_open(c, &x, true))
        return;
    if (!ns_param(c, &x, ns)) {
        ice_release(&x);
        return;
    }
    bool exists = false;
    struct iv_err e = {0};
    int rc = lake_namespace_exists(x.cat, ns, &exists, &e);
    ice_release(&x);
    if (rc) {
        api_internal(c, "namespace lookup", &e);
        return;
    }
    if (!exists) {
        api_error(c, 404, "NoSuchNamespaceException", NULL, "Namespace does not exist: %s", ns);
        return;
    }
    if (head)
        api_reply(c, 204, NULL);
    else
        api_reply(c, 200, json_pack("{s:[s], s:{}}", "namespace", ns, "properties"));
}

void api_h_iceberg_ns_get(struct api_ctx *c)
{
    ns_load(c, false);
}

void api_h_iceberg_ns_head(struct api_ctx *c)
{
    ns_load(c, true);
}

void api_h_iceberg_table_list(struct api_ctx *c)
{
    struct ice x;
    char ns[256];
    if (!ice_open(c, &x, true))
        return;
    if (!ns_param(c, &x, ns)) {
        ice_release(&x);
        return;
    }
    json_t *names = NULL;
    struct iv_err e = {0};
    int rc = lake_table_list(x.cat, ns, &names, &e);
    ice_release(&x);
    if (rc) {
        api_internal(c, "list tables", &e);
        return;
    }
    json_t *ids = json_array();
    size_t i;
    json_t *v;
    json_array_foreach(names, i, v)
        json_array_append_new(ids, json_pack("{s:[s], s:O}", "namespace", ns, "name", v));
    json_decref(names);
    api_reply(c, 200, json_pack("{s:o}", "identifiers", ids));
}

void api_h_iceberg_table_create(struct api_ctx *c)
{
    struct ice x;
    char ns[256];
    if (!ice_open(c, &x, true))
        return;
    if (!ns_param(c, &x, ns)) {
        ice_release(&x);
        return;
    }
    const char *name = json_str(c->json, "name");
    const char *location = json_str(c->json, "location");
    json_t *stage = json_object_get(c->json, "stage-create");
    struct lake_schema s;
    struct iv_err e = {0};
    lake_schema_init(&s);
    if (!name || !*name) {
        api_error(c, 400, "BadRequestException", NULL, "name is required.");
        goto out;
    }
    if (json_is_true(stage)) {
        api_error(c, 400, "BadRequestException", NULL, "stage-create is not supported.");
        goto out;
    }
    if (location) {   /* a tenant must not place files outside its warehouse prefix */
        api_error(c, 400, "BadRequestException", NULL,
                  "location is assigned by the server ({warehouse}/{prefix}/{namespace}/{name}).");
        goto out;
    }
    if (lake_schema_from_json(json_object_get(c->json, "schema"), &s, &e) != IV_OK) {
        api_error(c, 400, "BadRequestException", NULL, "schema: %s", e.msg);
        goto out;
    }
    bool exists = false;
    if (lake_namespace_exists(x.cat, ns, &exists, &e) == IV_OK && !exists) {
        api_error(c, 404, "NoSuchNamespaceException", NULL, "Namespace does not exist: %s", ns);
        goto out;
    }
    struct lake_table *t = NULL;
    int rc = lake_table_create(x.cat, ns, name, NULL, &s, &t, &e);
    if (rc) {
        lake_error(c, rc, &e, "create table");
        goto out;
    }
    api_reply(c, 200, load_result(t));
    lake_table_close(t);
out:
    lake_schema_release(&s);
    ice_release(&x);
}

/* Loads {namespace}/{table} of the tenant; false after replying. */
static bool table_open(struct api_ctx *c, struct ice *x, struct lake_table **t)
{
    char ns[256], name[256];
    *t = NULL;
    if (!ice_open(c, x, true))
        return false;
    if (!ns_param(c, x, ns) || !table_param(c, name)) {
        ice_release(x);
        return false;
    }
    struct iv_err e = {0};
    int rc = lake_table_load(x->cat, ns, name, t, &e);
    if (rc == IV_ENOTFOUND || rc == IV_EINVAL) {
        api_error(c, 404, "NoSuchTableException", NULL, "Table does not exist: %s.%s", ns, name);
        ice_release(x);
        return false;
    }
    if (rc) {
        api_internal(c, "load table", &e);
        ice_release(x);
        return false;
    }
    return true;
}

void api_h_iceberg_table_load(struct api_ctx *c)
{
    struct ice x;
    struct lake_table *t;
    if (!table_open(c, &x, &t))
        return;
    api_reply(c, 200, load_result(t));
    lake_table_close(t);
    ice_release(&x);
}

void api_h_iceberg_table_head(struct api_ctx *c)
{
    struct ice x;
    struct lake_table *t;
    if (!table_open(c, &x, &t))
        return;
    api_reply(c, 204, NULL);
    lake_table_close(t);
    ice_release(&x);
}

void api_h_iceberg_table_commit(struct api_ctx *c)
{
    struct ice x;
    struct lake_table *t;
    if (!table_open(c, &x, &t))
        return;
    struct iv_err e = {0};
    json_t *id = json_object_get(c->json, "identifier");
    if (id && json_str(id, "name") && strcmp(json_str(id, "name"), api_param(&c->params, "table"))) {
        api_error(c, 400, "BadRequestException", NULL, "identifier does not match the path.");
        goto out;
    }
    int rc = lake_table_commit_changes(t, json_object_get(c->json, "requirements"),
                                       json_object_get(c->json, "updates"), &e);
    if (rc) {
        lake_error(c, rc, &e, "commit");
        goto out;
    }
    api_reply(c, 200, json_pack("{s:s, s:O}", "metadata-location",
                                lake_table_metadata_location(t), "metadata",
                                lake_table_metadata(t)));
out:
    lake_table_close(t);
    ice_release(&x);
}

void api_h_iceberg_table_drop(struct api_ctx *c)
{
    struct ice x;
    struct lake_table *t;
    if (!table_open(c, &x, &t))
        return;
    char ns[256], name[256];
    snprintf(ns, sizeof ns, "%s", x.ns);
    snprintf(name, sizeof name, "%s", api_param(&c->params, "table"));
    url_decode(name);
    lake_table_close(t);
    struct iv_err e = {0};
    int rc = lake_table_drop(x.cat, ns, name, &e);
    ice_release(&x);
    if (rc) {
        lake_error(c, rc, &e, "drop table");
        return;
    }
    api_reply(c, 204, NULL);
}
