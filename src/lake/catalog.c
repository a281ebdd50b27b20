/*
 * lake/catalog: opening and closing a catalog — config validation (type,
 * warehouse) and dispatch to the implementation (catalog_hadoop.c,
 * catalog_sql.c).
 *
 * Why a separate file: the choice of catalog is the only place the table
 * layer branches on catalog type; everything after lake_catalog_open goes
 * through the ops vtable in lake_int.h. hive is an accepted name that fails
 * clearly until a metastore client exists. A catalog whose warehouse is on
 * S3 (and every rest or glue catalog, whose tables may be) gets an S3 client.
 */
#include "lake/lake_int.h"

#include <stdlib.h>
#include <string.h>

/* "s3://b/p/" or "s3a://b/p" -> "s3://b/p"; "file:///d" or "/d" -> "/d"; NULL otherwise. */
static char *warehouse_root(const char *wh)
{
    if (lake_is_s3_uri(wh)) {
        const char *rest = wh + (wh[2] == 'a' ? 6 : 5);
        char *out = xasprintf("s3://%s", rest);
        size_t n = strlen(out);
        while (n > 5 && out[n - 1] == '/')
            out[--n] = '\0';
        return out;
    }
    return lake_uri_to_path(wh);
}

static int open_s3(struct lake_catalog *c, const struct lake_catalog_config *cfg,
                   struct iv_err *e)
{
    struct lake_s3_config s3 = {
        .endpoint = cfg->s3_endpoint, .region = cfg->region,
        .access_key_id = cfg->s3_access_key_id, .secret_key = cfg->s3_secret_key,
        .path_style = cfg->s3_path_style_set ? cfg->s3_path_style : -1,
    };
    return lake_s3_new(&c->s3, &s3, e);
}

static int open_impl(struct lake_catalog *c, const struct lake_catalog_config *cfg,
                     struct iv_err *e)
{
    const char *t = cfg->type;
    if (strcmp(t, "hadoop") == 0) {
        if (c->s3)
            return iv_err_set(e, IV_EUNSUPPORTED, "a hadoop catalog cannot live on S3 (its "
                              "commit needs an atomic rename); use rest, glue or sql");
        c->ops = &lake_hadoop_ops;
        return IV_OK;
    }
    if (strcmp(t, "sql") == 0) {
        c->ops = &lake_sql_ops;
        return lake_sql_open(c, cfg->uri, e);
    }
    if (strcmp(t, "glue") == 0) {
        c->ops = &lake_glue_ops;
        return lake_glue_open(c, cfg, e);
    }
    c->ops = &lake_rest_ops;
    return lake_rest_open(c, cfg, e);
}

int lake_catalog_open(struct lake_catalog **out, const struct lake_catalog_config *cfg,
                      struct iv_err *e)
{
    *out = NULL;
    if (!cfg || !cfg->type)
        return iv_err_set(e, IV_EINVAL, "catalog type is missing");
    const char *t = cfg->type;
    if (strcmp(t, "hive") == 0)
        return iv_err_set(e, IV_EUNSUPPORTED, "catalog type 'hive' is not supported (no "
                          "metastore client yet; use rest, glue, sql or hadoop)");
    if (strcmp(t, "hadoop") != 0 && strcmp(t, "sql") != 0 && strcmp(t, "rest") != 0
        && strcmp(t, "glue") != 0)
        return iv_err_set(e, IV_EINVAL, "unknown catalog type '%s' (hadoop, sql, rest, glue, "
                          "hive)", t);
    if (!cfg->warehouse || !*cfg->warehouse)
        return iv_err_set(e, IV_EINVAL, "catalog warehouse is missing");
    char *wh = warehouse_root(cfg->warehouse);
    if (!wh)
        return iv_err_set(e, IV_EINVAL, "warehouse '%s' must be file:///absolute/dir, "
                          "/absolute/dir or s3://bucket/prefix", cfg->warehouse);
    struct lake_catalog *c = xcalloc(1, sizeof *c);
    c->warehouse_path = wh;
    c->catalog_name = xstrdup(cfg->catalog_name && *cfg->catalog_name ? cfg->catalog_name
                                                                       : "default");
    int rc = IV_OK;
    if (lake_is_s3_uri(wh) || strcmp(t, "glue") == 0 || strcmp(t, "rest") == 0)
        rc = open_s3(c, cfg, e);
    if (!rc)
        rc = open_impl(c, cfg, e);
    if (rc) {
        c->ops = NULL;   /* a failed open leaves nothing for close to release */
        lake_catalog_close(c);
        return rc;
    }
    *out = c;
    return IV_OK;
}

void lake_catalog_close(struct lake_catalog *c)
{
    if (!c)
        return;
    if (c->ops && c->ops->close)
        c->ops->close(c);
    lake_s3_free(c->s3);
    free(c->warehouse_path);
    free(c->catalog_name);
    free(c);
}

static int cfg_key(const json_t *obj, const char *key, const char *alt, const char **out,
                   struct iv_err *e)
{
    const json_t *v = json_object_get(obj, key);
    if ((!v || json_is_null(v)) && alt) {
        key = alt;
        v = json_object_get(obj, alt);
    }
    if (!v || json_is_null(v))
        return IV_OK;
    if (!json_is_string(v))
        return iv_err_set(e, IV_EINVAL, "config key '%s' must be a string", key);
    *out = json_string_value(v);
    return IV_OK;
}

int lake_catalog_config_from_json(const json_t *obj, struct lake_catalog_config *cfg,
                                  struct iv_err *e)
{
    memset(cfg, 0, sizeof *cfg);
    int rc = cfg_key(obj, "catalog_type", NULL, &cfg->type, e);
    rc = rc ? rc : cfg_key(obj, "warehouse", NULL, &cfg->warehouse, e);
    rc = rc ? rc : cfg_key(obj, "catalog_uri", NULL, &cfg->uri, e);
    rc = rc ? rc : cfg_key(obj, "catalog_name", NULL, &cfg->catalog_name, e);
    rc = rc ? rc : cfg_key(obj, "s3_endpoint", NULL, &cfg->s3_endpoint, e);
    rc = rc ? rc : cfg_key(obj, "s3_access_key_id", NULL, &cfg->s3_access_key_id, e);
    rc = rc ? rc : cfg_key(obj, "s3_secret_key", "s3_secret_access_key", &cfg->s3_secret_key, e);
    rc = rc ? rc : cfg_key(obj, "region", "s3_region", &cfg->region, e);
    rc = rc ? rc : cfg_key(obj, "catalog_credential", NULL, &cfg->credential, e);
    rc = rc ? rc : cfg_key(obj, "rest_prefix", NULL, &cfg->rest_prefix, e);
    if (rc)
        return rc;
    const json_t *ps = json_object_get(obj, "s3_path_style");
    if (ps && !json_is_null(ps)) {
        if (!json_is_boolean(ps))
            return iv_err_set(e, IV_EINVAL, "config key 's3_path_style' must be true or false");
        cfg->s3_path_style = json_is_true(ps);
        cfg->s3_path_style_set = true;
    }
    return IV_OK;
}
