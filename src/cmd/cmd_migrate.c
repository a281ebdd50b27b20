/*
 * cmd_migrate: `ivory migrate` applies the control-plane store's pending
 * schema migrations (IVORY_DB) and prints what it did. `ivory serve` applies
 * them at start too; this command is for operators who migrate explicitly
 * (the packaged units run it before the service starts; several API servers /
 * runners sharing one store). Two migrates at once are safe: each migration
 * runs in a write transaction that re-reads the version first (db_migrate).
 *
 * `ivory migrate --check` changes nothing: it compares the store's schema version
 * with this binary's and exits 0 when they agree, 3 when the store is behind
 * (migrations pending), 4 when the store is ahead (written by a newer binary).
 */
#include "cmd/cmd.h"
#include "config/config.h"
#include "store/store.h"

#include <stdio.h>
#include <string.h>

enum { MIGRATE_BEHIND = 3, MIGRATE_AHEAD = 4 };

static const char migrate_usage[] =
    "usage: ivory migrate [--check]\n"
    "  applies pending schema migrations to IVORY_DB (forward-only, idempotent)\n"
    "  --check  change nothing; exit 0 when the store's schema version equals this\n"
    "           binary's, 3 when migrations are pending, 4 when the store is newer\n";

static int check_versions(struct store *st)
{
    struct iv_err e = {0};
    int have = 0, want = store_schema_latest();
    if (store_schema_version(st, &have, &e) != IV_OK)
        return cmd_fail("migrate: %s", e.msg);
    const char *state = have == want ? "current" : have < want ? "behind" : "ahead";
    printf("{\"store_schema_version\":%d,\"binary_schema_version\":%d,\"state\":\"%s\"}\n",
           have, want, state);
    if (have < want)
        fprintf(stderr, "ivory: migrate: the store is at schema version %d, this binary needs "
                        "%d: run 'ivory migrate'\n", have, want);
    else if (have > want)
        fprintf(stderr, "ivory: migrate: the store is at schema version %d, newer than this "
                        "binary's %d: run a newer ivory\n", have, want);
    return have == want ? 0 : have < want ? MIGRATE_BEHIND : MIGRATE_AHEAD;
}

int cmd_migrate(int argc, char **argv)
{
    bool check = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(migrate_usage, stdout);
            return 0;
        }
        if (!strcmp(argv[i], "--check")) {
            check = true;
            continue;
        }
        return cmd_usage_error("migrate: unexpected argument '%s'", argv[i]);
    }
    struct iv_config cfg;
    struct iv_err e = {0};
    if (config_load(&cfg, &e) != IV_OK)
        return cmd_fail("%s", e.msg);
    struct store *st = NULL;
    int applied = 0, version = 0;
    int status = cmd_hold_store_lock(&cfg, "migrate");
    if (status >= 0)
        goto out;
    status = 1;
    if (store_open(&st, cfg.db_url, 1, false, &e) != IV_OK) {
        cmd_fail("migrate: %s", e.msg);
        goto out;
    }
    if (check) {
        status = check_versions(st);
        goto out;
    }
    if (store_migrate(st, &applied, &version, &e) != IV_OK) {
        cmd_fail("migrate: %s", e.msg);
        goto out;
    }
    printf("{\"applied\":%d,\"schema_version\":%d}\n", applied, version);
    status = 0;
out:
    store_close(st);
    config_release(&cfg);
    return status;
}
