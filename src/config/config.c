/*
 * config: environment -> struct iv_config, one row per option.
 *
 * Every option is declared once in the table below (name, kind, target,
 * default, bounds); docs/configuration.md lists the same names.
 */
#include "config/config.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum opt_kind { OPT_STR, OPT_SECONDS, OPT_SIZE, OPT_INT };

struct opt {
    const char *env;
    enum opt_kind kind;
    size_t offset;
    const char *def;     /* NULL = unset */
    double min, max;
};

#define OFF(f) offsetof(struct iv_config, f)
static const struct opt opts[] = {
    {"IVORY_DB", OPT_STR, OFF(db_url), NULL, 0, 0},
    {"IVORY_LISTEN", OPT_STR, OFF(listen), "127.0.0.1:8080", 0, 0},
    {"IVORY_JWT_SECRET", OPT_STR, OFF(jwt_secret), NULL, 0, 0},
    {"IVORY_JWT_PUBLIC_KEY", OPT_STR, OFF(jwt_public_key), NULL, 0, 0},
    {"IVORY_JWT_JWKS", OPT_STR, OFF(jwt_jwks), NULL, 0, 0},
    {"IVORY_JWT_ALGS", OPT_STR, OFF(jwt_algs), NULL, 0, 0},
    {"IVORY_JWT_ISSUER", OPT_STR, OFF(jwt_issuer), NULL, 0, 0},
    {"IVORY_JWT_AUDIENCE", OPT_STR, OFF(jwt_audience), NULL, 0, 0},
    {"IVORY_MASTER_KEY", OPT_STR, OFF(master_key_b64), NULL, 0, 0},
    {"IVORY_CONFIG_KEY", OPT_STR, OFF(config_key_b64), NULL, 0, 0},
    {"IVORY_TAP_PATH", OPT_STR, OFF(tap_path), "", 0, 0},
    {"IVORY_POLL_INTERVAL", OPT_SECONDS, OFF(poll_interval_s), "30", 0.01, 86400},
    {"IVORY_FIRST_RUN_DELAY", OPT_SECONDS, OFF(first_run_delay_s), "300", 0, 31536000},
    {"IVORY_API_URL", OPT_STR, OFF(api_url), NULL, 0, 0},
    {"IVORY_DATA_DIR", OPT_STR, OFF(data_dir), "./var", 0, 0},
    {"IVORY_MAX_BODY_BYTES", OPT_SIZE, OFF(max_body_bytes), "1048576", 1024, 1073741824},
    {"IVORY_RUN_TIMEOUT", OPT_SECONDS, OFF(run_timeout_s), "21600", 0.1, 604800},
    {"IVORY_MAX_LINE_BYTES", OPT_SIZE, OFF(max_line_bytes), "16777216", 1024, 1073741824},
    {"IVORY_MAX_CONCURRENT_RUNS", OPT_INT, OFF(max_concurrent_runs), "4", 1, 1024},
    {"IVORY_MAX_RUNS_PER_TENANT", OPT_INT, OFF(max_runs_per_tenant), "2", 1, 1024},
    {"IVORY_SHUTDOWN_GRACE", OPT_SECONDS, OFF(shutdown_grace_s), "30", 0, 86400},
    {"IVORY_MELTANO_PROJECT", OPT_STR, OFF(meltano_project), NULL, 0, 0},
    {"IVORY_HTTP_THREADS", OPT_INT, OFF(http_threads), "0", 0, 256},
    {"IVORY_RUNNER_LEASE", OPT_SECONDS, OFF(runner_lease_s), "0", 0, 86400},
    {"IVORY_CHECKPOINT_ROWS", OPT_SECONDS, OFF(checkpoint_rows), "1000000", 1, 1e12},
    {"IVORY_CHECKPOINT_SECONDS", OPT_SECONDS, OFF(checkpoint_seconds), "60", 0.01, 86400},
    {"IVORY_WEBHOOK_MAX_ATTEMPTS", OPT_INT, OFF(webhook_max_attempts), "0", 0, 1000},
    {"IVORY_DB_POOL", OPT_INT, OFF(db_pool), "0", 0, 1024},
    {"IVORY_SERVE_RUNNER", OPT_INT, OFF(serve_runner), "1", 0, 1},
};

int config_load(struct iv_config *cfg, struct iv_err *e)
{
    memset(cfg, 0, sizeof *cfg);
    for (size_t i = 0; i < sizeof opts / sizeof opts[0]; i++) {
        const struct opt *o = &opts[i];
        const char *v = getenv(o->env);
        if (v && !*v && o->kind != OPT_STR)
            v = NULL;
        if (!v)
            v = o->def;
        char *field = (char *)cfg + o->offset;
        if (o->kind == OPT_STR) {
            *(char **)field = (v && *v) ? xstrdup(v) : NULL;
            continue;
        }
        char *end = NULL;
        double d = strtod(v, &end);
        if (end == v || *end != '\0' || d != d || d < o->min || d > o->max) {
            config_release(cfg);
            return iv_err_set(e, IV_EINVAL, "%s must be a number between %g and %g, got '%s'",
                              o->env, o->min, o->max, v);
        }
        if (o->kind == OPT_SECONDS)
            *(double *)field = d;
        else if (o->kind == OPT_SIZE)
            *(size_t *)field = (size_t)d;
        else
            *(int *)field = (int)d;
    }
    if (!cfg->db_url)
        cfg->db_url = xasprintf("sqlite:%s/ivory.db", cfg->data_dir);
    cfg->api_url_from_env = cfg->api_url != NULL;
    if (!cfg->api_url)
        cfg->api_url = xasprintf("http://%s", cfg->listen);
    if (cfg->http_threads <= 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        cfg->http_threads = n > 0 ? (int)n : 2;
    }
    return IV_OK;
}

void config_release(struct iv_config *cfg)
{
    for (size_t i = 0; i < sizeof opts / sizeof opts[0]; i++) {
        if (opts[i].kind == OPT_STR) {
            char **p = (char **)((char *)cfg + opts[i].offset);
            FREE_NULL(*p);
        }
    }
}
