/*
 * cmd_serve: `ivory serve` runs the API, the scheduler and the runner in one
 * process on the configured store. Startup order: config -> store (open +
 * migrate) -> API listening -> runner. SIGTERM/SIGINT are blocked in every
 * thread and taken synchronously by the main thread with sigwait() (the shared
 * start in cmd.c, as for `ivory runner`), so no work happens in a signal
 * handler: on the first one the runner gets its grace period, the API stops
 * accepting, in-flight requests finish, exit 0.
 */
#include "api/api.h"
#include "cmd/cmd.h"
#include "config/config.h"
#include "runner/runner.h"
#include "store/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* RUNNER HOOK: the runner starts after the API listens and stops (with
 * cfg.shutdown_grace_s for running syncs) before the API and the store close, so
 * the last webhooks still reach this server. */

int cmd_serve(int argc, char **argv)
{
    struct iv_config cfg;
    sigset_t stop;   /* blocked before any thread exists: only sigwait() below sees them */
    int status = cmd_daemon_begin(argc, argv, "serve",
                                  "usage: ivory serve\n  runs the API server (configuration: "
                                  "IVORY_* environment variables)\n", &cfg, &stop);
    if (status >= 0)
        return status;

    struct iv_err e = {0};
    status = 1;
    struct store *st = NULL;
    struct api_server *api = NULL;
    int pool = cfg.db_pool > 0 ? cfg.db_pool
                               : cfg.http_threads * 2 + 2 +
                                     (cfg.serve_runner ? cfg.max_concurrent_runs + 2 : 0);
    if (store_open(&st, cfg.db_url, pool, true, &e) != IV_OK) {
        cmd_fail("serve: %s", e.msg);
        goto out;
    }
    if (api_server_start(&api, &cfg, st, &e) != IV_OK) {
        cmd_fail("serve: %s", e.msg);
        goto out;
    }
    char host[64], db_url_shown[512];
    snprintf(host, sizeof host, "%.*s", (int)strcspn(cfg.listen, ":"), cfg.listen);
    db_url_redact(cfg.db_url, db_url_shown, sizeof db_url_shown);
    log_info("ivory %s listening on http://%s:%d (store %s); dev token: ivory tenant create "
             "--slug SLUG (needs IVORY_JWT_SECRET)",
             IVORY_VERSION, host, api_server_port(api), db_url_shown);
    /* RUNNER HOOK: start. Without IVORY_API_URL the webhook goes to this server's
     * actual address (the listen port may have been 0). */
    if (!cfg.api_url_from_env) {
        free(cfg.api_url);
        cfg.api_url = xasprintf("http://%s:%d", strcmp(host, "0.0.0.0") ? host : "127.0.0.1",
                                api_server_port(api));
    }
    struct runner *runner = NULL;
    if (!cfg.serve_runner)
        log_info("runner off (IVORY_SERVE_RUNNER=0): this server only answers the API");
    else if (runner_start(&runner, &cfg, st, &e) != IV_OK) {
        cmd_fail("serve: %s", e.msg);
        goto out;
    }

    cmd_daemon_wait(&stop);
    /* RUNNER HOOK: stop. */
    runner_stop(runner, cfg.shutdown_grace_s);
    status = 0;
out:
    api_server_stop(api);
    store_close(st);
    config_release(&cfg);
    if (status == 0)
        log_info("stopped");
    return status;
}
