/*
 * cmd_runner: `ivory runner` runs only the runner (docs/configuration.md): it polls the store for
 * due connectors, runs their taps and reports through the webhook at IVORY_API_URL, so many
 * runners can share one store. SIGTERM/SIGINT are blocked in every thread and taken by the
 * main thread with sigwait(); running syncs then get IVORY_SHUTDOWN_GRACE to finish.
 */
#include "cmd/cmd.h"
#include "config/config.h"
#include "runner/runner.h"
#include "store/store.h"


int cmd_runner(int argc, char **argv)
{
    struct iv_config cfg;
    sigset_t stop;
    int status = cmd_daemon_begin(argc, argv, "runner",
                                  "usage: ivory runner\n  runs scheduled and triggered syncs "
                                  "(configuration: IVORY_* environment variables; see "
                                  "docs/runner.md)\n", &cfg, &stop);
    if (status >= 0)
        return status;

    status = 1;
    struct iv_err e = {0};
    struct store *st = NULL;
    struct runner *r = NULL;
    int pool = cfg.db_pool > 0 ? cfg.db_pool : cfg.max_concurrent_runs * 2 + 4;
    if (store_open(&st, cfg.db_url, pool, true, &e) != IV_OK) {
        cmd_fail("runner: %s", e.msg);
        goto out;
    }
    if (runner_start(&r, &cfg, st, &e) != IV_OK) {
        cmd_fail("runner: %s", e.msg);
        goto out;
    }
    cmd_daemon_wait(&stop);
    runner_stop(r, cfg.shutdown_grace_s);
    r = NULL;
    status = 0;
out:
    runner_stop(r, 0);
    store_close(st);
    config_release(&cfg);
    return status;
}
