/*
 * lake/catalog_rest: Iceberg REST catalog client (catalog_type rest).
 */
#include "lake/lake_int.h"

int lake_rest_open(struct lake_catalog *c, const struct lake_catalog_config *cfg,
                   struct iv_err *e)
{
    (void)c;
    (void)cfg;
    return iv_err_set(e, IV_EUNSUPPORTED, "catalog type 'rest' is not supported yet");
}

const struct lake_catalog_ops lake_rest_ops = {
    .type = "rest",
};
