/*
 * catalogs.c: the tenant lakehouse catalog endpoints (docs/api.md "Catalogs"), tenant
 * creation on first provisioning (token claim `tenant_slug`), and the health
 * endpoints. An admin token (role=admin) may act on any tenant; any other
 * token only on the tenant equal to its `sub` (else 403). The S3 secret is
 * sealed with the master key on the way in and never returned.
 */
#include "api/api_int.h"

#include <string.h>

void api_h_healthz(struct api_ctx *c)
{
    /* Liveness includes the data directory: a store file deleted under the running server
     * would swallow every write, so the process is unhealthy until restarted. */
    struct iv_err e = {0};
    if (store_files_ok(c->srv->store, &e) != IV_OK) {
        log_error("healthz: %s", e.msg);
        api_reply(c, 503, json_pack("{s:s, s:s}", "error", "store_lost", "detail",
                                    "The store's data directory is gone; restart the server."));
        return;
    }
    api_reply(c, 200, json_pack("{s:s}", "status", "ok"));
}

void api_h_readyz(struct api_ctx *c)
{
    struct iv_err e = {0};
    if (store_ping(c->srv->store, &e) != IV_OK) {
        log_error("readyz: store unreachable: %s", e.msg);
        api_reply(c, 503, json_pack("{s:s, s:s}", "error", "store_unavailable", "detail",
                                    "The control-plane store is not reachable."));
        return;
    }
    api_reply(c, 200, json_pack("{s:s}", "status", "ready"));
}

static bool may_act_on(struct api_ctx *c, const char *tenant_id)
{
    if (c->claims.is_admin || !strcmp(c->claims.sub, tenant_id))
        return true;
    api_error(c, 403, "forbidden", NULL, "This token may not manage another tenant's catalogs.");
    return false;
}

static json_t *catalog_view(const struct store_catalog *k, const char *slug)
{
    json_t *j = json_object();
    json_object_set_new(j, "id", json_string(k->id));
    json_object_set_new(j, "tenant_id", json_string(k->tenant_id));
    json_object_set_new(j, "tenant_slug", json_string(slug));
    json_object_set_new(j, "catalog_name", json_string(k->catalog_name));
    json_object_set_new(j, "catalog_type", json_string(k->catalog_type));
    json_object_set_new(j, "catalog_uri", api_str_or_null(k->catalog_uri));
    json_object_set_new(j, "warehouse", json_string(k->warehouse));
    json_object_set_new(j, "storage_prefix", json_string(k->storage_prefix));
    json_object_set_new(j, "s3_endpoint", api_str_or_null(k->s3_endpoint));
    json_object_set_new(j, "s3_access_key_id", api_str_or_null(k->s3_access_key_id));
    json_object_set_new(j, "has_s3_secret_key", json_boolean(k->s3_secret_key_enc != NULL));
    json_object_set_new(j, "has_catalog_credential",
                        json_boolean(k->catalog_credential_enc != NULL));
    json_t *meta = api_json_text_or_null(k->metadata);
    json_object_set_new(j, "metadata", json_is_object(meta) ? meta : json_object());
    if (!json_is_object(meta))
        json_decref(meta);
    json_object_set_new(j, "active", json_boolean(k->active));
    json_object_set_new(j, "created_at", api_time_or_null(k->created_at));
    json_object_set_new(j, "updated_at", api_time_or_null(k->updated_at));
    return j;
}

/* The platform keys of `metadata` (region, s3_path_style, prefix) have fixed types. */
static bool valid_platform_metadata(struct api_ctx *c, const json_t *meta)
{
    const json_t *v = json_object_get(meta, "region");
    if (v && !(json_is_string(v) && str_matches_charset(json_string_value(v),
                                                        "abcdefghijklmnopqrstuvwxyz0123456789",
                                                        "abcdefghijklmnopqrstuvwxyz0123456789-",
                                                        1, 64))) {
        api_error(c, 422, "validation_error", "metadata.region",
                  "metadata.region must be an AWS region name such as us-east-1.");
        return false;
    }
    v = json_object_get(meta, "s3_path_style");
    if (v && !json_is_boolean(v)) {
        api_error(c, 422, "validation_error", "metadata.s3_path_style",
                  "metadata.s3_path_style must be a boolean.");
        return false;
    }
    v = json_object_get(meta, "prefix");
    if (v && !json_is_string(v)) {
        api_error(c, 422, "validation_error", "metadata.prefix",
                  "metadata.prefix must be a string.");
        return false;
    }
    return true;
}

/* Per-tenant quota on catalogs (IVORY_TENANT_MAX_CATALOGS): a new name past it is 429; an
 * update of an existing catalog always passes. */
static bool within_catalog_quota(struct api_ctx *c, const char *tenant_id, const char *name)
{
    int64_t nconn = 0, ncat = 0;
    struct iv_err e = {0};
    if (store_tenant_usage(c->srv->store, tenant_id, &nconn, &ncat, &e) != IV_OK) {
        api_internal(c, "tenant usage", &e);
        return false;
    }
    if (c->srv->cfg->tenant_max_catalogs <= 0 || ncat < c->srv->cfg->tenant_max_catalogs)
        return true;
    struct store_catalog existing = {0};
    int rc = store_catalog_get(c->srv->store, tenant_id, name, &existing, &e);
    store_catalog_release(&existing);
    if (rc == IV_OK)
        return true;
    api_error(c, 429, "quota_exceeded", NULL, "This tenant already has %lld catalogs, its "
              "quota (IVORY_TENANT_MAX_CATALOGS).", (long long)ncat);
    return false;
}

void api_h_catalog_upsert(struct api_ctx *c)
{
    const char *tenant_id = api_param(&c->params, "tenant_id");
    if (!may_act_on(c, tenant_id))
        return;
    struct api_field_values fv;
    if (!api_fields_parse(c, &api_catalog_resource, AF_CREATE, &fv))
        return;
    const char *name = api_fields_str_or_default(&fv, "catalog_name");
    const char *type = api_fields_str(&fv, "catalog_type");
    const char *uri = api_fields_str(&fv, "catalog_uri");
    const char *wh = api_fields_str(&fv, "warehouse");
    const char *prefix = api_fields_str(&fv, "storage_prefix");
    const char *endpoint = api_fields_str(&fv, "s3_endpoint");
    const char *key_id = api_fields_str(&fv, "s3_access_key_id");
    const char *secret = api_fields_str(&fv, "s3_secret_key_enc");
    const char *cred = api_fields_str(&fv, "catalog_credential_enc");
    if (!uri && strcmp(type, "hadoop") != 0) {
        api_error(c, 422, "validation_error", "catalog_uri",
                  "catalog_uri is required for a %s catalog.", type);
        return;
    }
    const char *bad_field = NULL;
    struct iv_err pe = {0};
    if (config_confine_catalog(c->srv->cfg, type, uri, wh, prefix, &bad_field, &pe) != IV_OK) {
        api_error(c, 422, "validation_error", bad_field, "%s.", pe.msg);
        return;
    }
    const json_t *meta = api_fields_json(&fv, "metadata");
    if (meta && json_is_object(meta) && !valid_platform_metadata(c, meta))
        return;
    const json_t *act = api_fields_json(&fv, "active");

    /* The tenant: existing, or created now from the token's tenant_slug. */
    struct iv_err e = {0};
    struct store_tenant t;
    int rc = store_tenant_get(c->srv->store, tenant_id, &t, &e);
    if (rc == IV_ENOTFOUND) {
        const char *slug = c->claims.tenant_slug;
        if (!slug[0] || strcmp(c->claims.sub, tenant_id) != 0) {
            api_error(c, 404, "not_found", NULL,
                      "Tenant not found; create it with 'ivory tenant create' or provision with "
                      "a token carrying tenant_slug.");
            return;
        }
        if (!api_valid_slug(slug)) {
            api_error(c, 422, "validation_error", "tenant_slug",
                      "The token's tenant_slug must match ^[a-z0-9-]{3,48}$.");
            return;
        }
        rc = store_tenant_create(c->srv->store, tenant_id, slug, &t, &e);
        if (rc == IV_ECONFLICT) {
            /* A concurrent first provisioning may have won the race. */
            if (store_tenant_get(c->srv->store, tenant_id, &t, NULL) != IV_OK) {
                api_error(c, 409, "conflict", "tenant_slug",
                          "The tenant slug '%s' is taken.", slug);
                return;
            }
            rc = IV_OK;
        } else if (rc == IV_OK) {
            log_info("tenant %s created on first catalog provisioning (slug %s)", tenant_id,
                     slug);
        }
    }
    if (rc < 0) {
        api_internal(c, "tenant lookup", &e);
        return;
    }

    if (!within_catalog_quota(c, tenant_id, name))
        return;
    char *meta_text = meta && json_is_object(meta) ? json_dumps_compact(meta) : NULL;
    char *sealed = secret ? secret_seal(c->srv->master_key, secret, strlen(secret)) : NULL;
    char *sealed_cred = cred ? secret_seal(c->srv->master_key, cred, strlen(cred)) : NULL;
    struct store_catalog in = {
        .catalog_name = (char *)name, .catalog_type = (char *)type, .catalog_uri = (char *)uri,
        .warehouse = (char *)wh, .storage_prefix = (char *)prefix,
        .s3_endpoint = (char *)endpoint, .s3_access_key_id = (char *)key_id,
        .s3_secret_key_enc = sealed, .metadata = meta_text,
        .catalog_credential_enc = sealed_cred,
        .active = act ? json_is_true(act) : true,
    };
    struct store_catalog out = {0};
    bool created = false;
    rc = ((secret && !sealed) || (cred && !sealed_cred))
             ? iv_err_set(&e, IV_EIO, "sealing a catalog secret failed")
                             : store_catalog_upsert(c->srv->store, tenant_id, &in, &created, &out,
                                                    &e);
    free(meta_text);
    free(sealed);
    free(sealed_cred);
    if (rc < 0) {
        api_internal(c, "catalog upsert", &e);
        return;
    }
    api_reply(c, created ? 201 : 200, catalog_view(&out, t.slug));
    store_catalog_release(&out);
}

void api_h_catalog_list(struct api_ctx *c)
{
    const char *tenant_id = api_param(&c->params, "tenant_id");
    if (!may_act_on(c, tenant_id))
        return;
    struct iv_err e = {0};
    struct store_tenant t;
    int rc = store_tenant_get(c->srv->store, tenant_id, &t, &e);
    if (rc == IV_ENOTFOUND) {
        api_reply(c, 200, json_pack("{s:[], s:i}", "catalogs", "count", 0));
        return;
    }
    struct store_catalog *v = NULL;
    size_t n = 0;
    if (rc == IV_OK)
        rc = store_catalog_list(c->srv->store, tenant_id, &v, &n, &e);
    if (rc < 0) {
        api_internal(c, "catalog list", &e);
        return;
    }
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, catalog_view(&v[i], t.slug));
    store_catalogs_free(v, n);
    api_reply(c, 200, json_pack("{s:o, s:I}", "catalogs", arr, "count", (json_int_t)n));
}

void api_h_catalog_delete(struct api_ctx *c)
{
    const char *tenant_id = api_param(&c->params, "tenant_id");
    const char *name = api_param(&c->params, "catalog_name");
    if (!may_act_on(c, tenant_id))
        return;
    struct iv_err e = {0};
    struct store_tenant t;
    int rc = store_tenant_get(c->srv->store, tenant_id, &t, &e);
    if (rc == IV_OK)
        rc = store_catalog_deactivate(c->srv->store, tenant_id, name, &e);
    struct store_catalog out = {0};
    if (rc == IV_OK)
        rc = store_catalog_get(c->srv->store, tenant_id, name, &out, &e);
    if (rc == IV_ENOTFOUND) {
        api_error(c, 404, "not_found", NULL, "Catalog not found.");
        return;
    }
    if (rc < 0) {
        api_internal(c, "catalog deactivate", &e);
        return;
    }
    api_reply(c, 200, catalog_view(&out, t.slug));
    store_catalog_release(&out);
}
