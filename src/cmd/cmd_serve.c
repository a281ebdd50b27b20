/*
 * cmd_serve: `ivory serve` runs the API (and, once it exists, the runner) in
 * one process on the configured store. Startup order: config -> store (open +
 * migrate) -> API listening -> [runner]. SIGTERM/SIGINT are blocked in every
 * thread and taken synchronously by the main thread with sigwait(), so no
 * work happens in a signal handler: on the first one the API stops accepting,
 * in-flight requests finish, [the runner gets its grace period], exit 0.
 */
#include "api/api.h"
#include "cmd/cmd.h"
#include "config/config.h"
#include "store/store.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>

/* RUNNER HOOK: when src/runner/runner.h lands, include it and start/stop the
 * runner where marked below (runner_start after the API listens, runner_stop
 * with cfg.shutdown_grace_s before the store closes). */

int cmd_serve(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            printf("usage: ivory serve\n  runs the API server (configuration: IVORY_* "
                   "environment variables)\n");
            return 0;
        }
        return cmd_usage_error("serve: unexpected argument '%s'", argv[i]);
    }
    struct iv_config cfg;
    struct iv_err e = {0};
    if (config_load(&cfg, &e) != IV_OK)
        return cmd_fail("%s", e.msg);

    /* Block the stop signals before any thread exists, so every thread
     * inherits the mask and only sigwait() below sees them. */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    signal(SIGPIPE, SIG_IGN);

    int status = 1;
    struct store *st = NULL;
    struct api_server *api = NULL;
    int pool = cfg.http_threads * 2 + 2;
    if (store_open(&st, cfg.db_url, pool, true, &e) != IV_OK) {
        cmd_fail("serve: %s", e.msg);
        goto out;
    }
    if (api_server_start(&api, &cfg, st, &e) != IV_OK) {
        cmd_fail("serve: %s", e.msg);
        goto out;
    }
    char host[64];
    snprintf(host, sizeof host, "%.*s", (int)strcspn(cfg.listen, ":"), cfg.listen);
    log_info("ivory %s listening on http://%s:%d (store %s); dev token: ivory tenant create "
             "--slug SLUG (needs IVORY_JWT_SECRET)",
             IVORY_VERSION, host, api_server_port(api), cfg.db_url);
    /* RUNNER HOOK: runner_start(&cfg, st) goes here. */

    int sig = 0;
    sigwait(&stop, &sig);
    log_info("received %s: stopping", sig == SIGTERM ? "SIGTERM" : "SIGINT");
    /* RUNNER HOOK: runner_stop(runner, cfg.shutdown_grace_s) goes here. */
    status = 0;
out:
    api_server_stop(api);
    store_close(st);
    config_release(&cfg);
    if (status == 0)
        log_info("stopped");
    return status;
}
