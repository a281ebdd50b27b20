/*
 * cmd_runner: `ivory runner` runs only the runner (CONTRACT §1, §11): it polls the store for
 * due connectors, runs their taps and reports through the webhook at IVORY_API_URL, so many
 * runners can share one store. SIGTERM/SIGINT are blocked in every thread and taken by the
 * main thread with sigwait(); running syncs then get IVORY_SHUTDOWN_GRACE to finish.
 */
#include "cmd/cmd.h"
#include "config/config.h"
#include "runner/runner.h"
#include "store/store.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>

int cmd_runner(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            printf("usage: ivory runner\n  runs scheduled and triggered syncs (configuration: "
                   "IVORY_* environment variables; see docs/runner.md)\n");
            return 0;
        }
        return cmd_usage_error("runner: unexpected argument '%s'", argv[i]);
    }
    struct iv_config cfg;
    struct iv_err e = {0};
    if (config_load(&cfg, &e) != IV_OK)
        return cmd_fail("%s", e.msg);

    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    signal(SIGPIPE, SIG_IGN);

    int status = 1;
    struct store *st = NULL;
    struct runner *r = NULL;
    if (store_open(&st, cfg.db_url, cfg.max_concurrent_runs * 2 + 4, true, &e) != IV_OK) {
        cmd_fail("runner: %s", e.msg);
        goto out;
    }
    if (runner_start(&r, &cfg, st, &e) != IV_OK) {
        cmd_fail("runner: %s", e.msg);
        goto out;
    }
    int sig = 0;
    sigwait(&stop, &sig);
    log_info("received %s: stopping", sig == SIGTERM ? "SIGTERM" : "SIGINT");
    runner_stop(r, cfg.shutdown_grace_s);
    r = NULL;
    status = 0;
out:
    runner_stop(r, 0);
    store_close(st);
    config_release(&cfg);
    return status;
}
