/*
 * lake/catalog: opening and closing a catalog — config validation (type,
 * warehouse) and dispatch to the implementation (catalog_hadoop.c,
 * catalog_sql.c).
 *
 * Why a separate file: the choice of catalog is the only place the table
 * layer branches on catalog type; everything after lake_catalog_open goes
 * through the ops vtable in lake_int.h. rest/glue/hive are accepted names that
 * fail clearly until their clients exist (contract §4).
 */
#include "lake/lake_int.h"

#include <stdlib.h>
#include <string.h>

int lake_catalog_open(struct lake_catalog **out, const struct lake_catalog_config *cfg,
                      struct iv_err *e)
{
    *out = NULL;
    if (!cfg || !cfg->type)
        return iv_err_set(e, IV_EINVAL, "catalog type is missing");
    const char *t = cfg->type;
    if (strcmp(t, "rest") == 0 || strcmp(t, "glue") == 0 || strcmp(t, "hive") == 0)
        return iv_err_set(e, IV_EUNSUPPORTED, "catalog type '%s' is not supported yet "
                          "(use 'hadoop' or 'sql')", t);
    if (strcmp(t, "hadoop") != 0 && strcmp(t, "sql") != 0)
        return iv_err_set(e, IV_EINVAL, "unknown catalog type '%s' (hadoop, sql, rest, glue, "
                          "hive)", t);
    if (!cfg->warehouse || !*cfg->warehouse)
        return iv_err_set(e, IV_EINVAL, "catalog warehouse is missing");
    if (strncmp(cfg->warehouse, "s3://", 5) == 0 || strncmp(cfg->warehouse, "s3a://", 6) == 0)
        return iv_err_set(e, IV_EUNSUPPORTED, "warehouse '%s': S3 storage is not supported "
                          "yet", cfg->warehouse);
    char *wh = lake_uri_to_path(cfg->warehouse);
    if (!wh)
        return iv_err_set(e, IV_EINVAL, "warehouse '%s' must be file:///absolute/dir or "
                          "/absolute/dir", cfg->warehouse);
    struct lake_catalog *c = xcalloc(1, sizeof *c);
    c->warehouse_path = wh;
    c->catalog_name = xstrdup(cfg->catalog_name && *cfg->catalog_name ? cfg->catalog_name
                                                                       : "default");
    int rc;
    if (strcmp(t, "hadoop") == 0) {
        c->ops = &lake_hadoop_ops;
        rc = IV_OK;
    } else {
        c->ops = &lake_sql_ops;
        rc = lake_sql_open(c, cfg->uri, e);
    }
    if (rc) {
        free(c->warehouse_path);
        free(c->catalog_name);
        free(c);
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
    free(c->warehouse_path);
    free(c->catalog_name);
    free(c);
}
