/*
 * cmd_migrate: `ivory migrate` applies the control-plane store's pending
 * schema migrations (IVORY_DB) and prints what it did. `ivory serve` applies
 * them at start too; this command is for operators who migrate explicitly
 * (several API servers / runners sharing one store).
 */
#include "cmd/cmd.h"
#include "config/config.h"
#include "store/store.h"

#include <stdio.h>
#include <string.h>

int cmd_migrate(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            printf("usage: ivory migrate\n  applies pending schema migrations to IVORY_DB\n");
            return 0;
        }
        return cmd_usage_error("migrate: unexpected argument '%s'", argv[i]);
    }
    struct iv_config cfg;
    struct iv_err e = {0};
    if (config_load(&cfg, &e) != IV_OK)
        return cmd_fail("%s", e.msg);
    struct store *st = NULL;
    int applied = 0, version = 0;
    int rc = store_open(&st, cfg.db_url, 1, false, &e);
    if (rc == IV_OK)
        rc = store_migrate(st, &applied, &version, &e);
    store_close(st);
    config_release(&cfg);
    if (rc != IV_OK)
        return cmd_fail("migrate: %s", e.msg);
    printf("{\"applied\":%d,\"schema_version\":%d}\n", applied, version);
    return 0;
}
