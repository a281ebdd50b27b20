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
#include <sys/stat.h>
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
    {"IVORY_CONFIG_PRIVATE_KEY", OPT_STR, OFF(config_private_key), NULL, 0, 0},
    {"IVORY_TAP_PATH", OPT_STR, OFF(tap_path), "", 0, 0},
    {"IVORY_POLL_INTERVAL", OPT_SECONDS, OFF(poll_interval_s), "30", 0.01, 86400},
    {"IVORY_FIRST_RUN_DELAY", OPT_SECONDS, OFF(first_run_delay_s), "300", 0, 31536000},
    {"IVORY_API_URL", OPT_STR, OFF(api_url), NULL, 0, 0},
    {"IVORY_DATA_DIR", OPT_STR, OFF(data_dir), "./var", 0, 0},
    {"IVORY_MAX_BODY_BYTES", OPT_SIZE, OFF(max_body_bytes), "1048576", 1024, 1073741824},
    {"IVORY_RUN_TIMEOUT", OPT_SECONDS, OFF(run_timeout_s), "21600", 0.1, 604800},
    {"IVORY_MAX_LINE_BYTES", OPT_SIZE, OFF(max_line_bytes), "16777216", 1024, 1073741824},
    {"IVORY_DISCOVER_TIMEOUT", OPT_SECONDS, OFF(discover_timeout_s), "300", 0.1, 86400},
    {"IVORY_DISCOVER_MAX_BYTES", OPT_SIZE, OFF(discover_max_bytes), "67108864", 1024,
     1073741824},
    {"IVORY_MAX_CONCURRENT_RUNS", OPT_INT, OFF(max_concurrent_runs), "4", 1, 1024},
    {"IVORY_MAX_RUNS_PER_TENANT", OPT_INT, OFF(max_runs_per_tenant), "2", 1, 1024},
    {"IVORY_SHUTDOWN_GRACE", OPT_SECONDS, OFF(shutdown_grace_s), "30", 0, 86400},
    {"IVORY_MELTANO_PROJECT", OPT_STR, OFF(meltano_project), NULL, 0, 0},
    {"IVORY_HTTP_THREADS", OPT_INT, OFF(http_threads), "0", 0, 256},
    {"IVORY_HTTP_WORKERS", OPT_INT, OFF(http_workers), "0", 0, 1024},
    {"IVORY_HTTP_MAX_CONNECTIONS", OPT_INT, OFF(http_max_connections), "10000", 16, 1000000},
    {"IVORY_HTTP_PER_IP_LIMIT", OPT_INT, OFF(http_per_ip_limit), "256", 0, 1000000},
    {"IVORY_HTTP_HEADER_TIMEOUT", OPT_SECONDS, OFF(http_header_timeout_s), "10", 0.2, 3600},
    {"IVORY_HTTP_BODY_TIMEOUT", OPT_SECONDS, OFF(http_body_timeout_s), "30", 0.2, 3600},
    {"IVORY_HTTP_IDLE_TIMEOUT", OPT_SECONDS, OFF(http_idle_timeout_s), "30", 1, 3600},
    {"IVORY_RUNNER_LEASE", OPT_SECONDS, OFF(runner_lease_s), "0", 0, 86400},
    {"IVORY_CHECKPOINT_ROWS", OPT_SECONDS, OFF(checkpoint_rows), "1000000", 1, 1e12},
    {"IVORY_CHECKPOINT_SECONDS", OPT_SECONDS, OFF(checkpoint_seconds), "60", 0.01, 86400},
    {"IVORY_WEBHOOK_MAX_ATTEMPTS", OPT_INT, OFF(webhook_max_attempts), "0", 0, 1000},
    {"IVORY_DB_POOL", OPT_INT, OFF(db_pool), "0", 0, 1024},
    {"IVORY_DB_RECONNECT_WAIT", OPT_SECONDS, OFF(db_reconnect_wait_s), "15", 0, 600},
    {"IVORY_SERVE_RUNNER", OPT_INT, OFF(serve_runner), "1", 0, 1},
    {"IVORY_TAP_SANDBOX", OPT_STR, OFF(tap_sandbox), "on", 0, 0},
    {"IVORY_TAP_DATA_DIRS", OPT_STR, OFF(tap_data_dirs), NULL, 0, 0},
    {"IVORY_TAP_WRITABLE_DIRS", OPT_STR, OFF(tap_writable_dirs), NULL, 0, 0},
    {"IVORY_BWRAP", OPT_STR, OFF(bwrap), "bwrap", 0, 0},
    {"IVORY_TAP_MEMORY_MB", OPT_INT, OFF(tap_memory_mb), "4096", 16, 1048576},
    {"IVORY_TAP_CPU_SECONDS", OPT_SECONDS, OFF(tap_cpu_s), "0", 0, 604800},
    {"IVORY_TAP_FILE_MB", OPT_INT, OFF(tap_file_mb), "4096", 1, 1048576},
    {"IVORY_TAP_MAX_PROCS", OPT_INT, OFF(tap_max_procs), "256", 0, 65536},
    {"IVORY_WAREHOUSE_ROOT", OPT_STR, OFF(warehouse_root), NULL, 0, 0},
    {"IVORY_SQL_CATALOGS", OPT_STR, OFF(sql_catalogs), NULL, 0, 0},
    {"IVORY_TENANT_MAX_CONNECTORS", OPT_INT, OFF(tenant_max_connectors), "1000", 1, 10000000},
    {"IVORY_TENANT_MAX_CATALOGS", OPT_INT, OFF(tenant_max_catalogs), "50", 1, 100000},
    {"IVORY_MAPPING_LLM_URL", OPT_STR, OFF(mapping_llm_url), NULL, 0, 0},
    {"IVORY_MAPPING_LLM_MODEL", OPT_STR, OFF(mapping_llm_model), NULL, 0, 0},
    {"IVORY_MAPPING_LLM_API_KEY", OPT_STR, OFF(mapping_llm_api_key), NULL, 0, 0},
    {"IVORY_MAPPING_LLM_TIMEOUT", OPT_SECONDS, OFF(mapping_llm_timeout_s), "20", 0.1, 600},
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
    if (!cfg->tap_sandbox || (strcmp(cfg->tap_sandbox, "on") && strcmp(cfg->tap_sandbox, "off"))) {
        char *v = cfg->tap_sandbox ? xstrdup(cfg->tap_sandbox) : xstrdup("");
        config_release(cfg);
        int rc = iv_err_set(e, IV_EINVAL, "IVORY_TAP_SANDBOX must be 'on' or 'off', got '%.40s'",
                            v);
        free(v);
        return rc;
    }
    cfg->tap_sandbox_off = !strcmp(cfg->tap_sandbox, "off");
    if (cfg->mapping_llm_url && *cfg->mapping_llm_url) {
        const char *why = NULL;
        if (strncmp(cfg->mapping_llm_url, "http://", 7) && strncmp(cfg->mapping_llm_url,
                                                                    "https://", 8))
            why = "IVORY_MAPPING_LLM_URL must be an http:// or https:// base URL";
        else if (!cfg->mapping_llm_model || !*cfg->mapping_llm_model)
            why = "IVORY_MAPPING_LLM_MODEL is required when IVORY_MAPPING_LLM_URL is set";
        if (why) {
            config_release(cfg);
            return iv_err_set(e, IV_EINVAL, "%s", why);
        }
    } else if (cfg->mapping_llm_url) {
        free(cfg->mapping_llm_url);   /* empty = off */
        cfg->mapping_llm_url = NULL;
    }
    if (!cfg->warehouse_root)
        cfg->warehouse_root = xasprintf("%s/warehouse", cfg->data_dir);
    if (!cfg->db_url)
        cfg->db_url = xasprintf("sqlite:%s/ivory.db", cfg->data_dir);
    cfg->api_url_from_env = cfg->api_url != NULL;
    if (!cfg->api_url)
        cfg->api_url = xasprintf("http://%s", cfg->listen);
    if (cfg->http_threads <= 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        cfg->http_threads = n > 0 ? (int)n : 2;
    }
    if (cfg->http_workers <= 0)
        cfg->http_workers = 2 * cfg->http_threads + 2;
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

/* The file a sqlite catalog or store URI names ("sqlite:PATH", "sqlite://PATH" or PATH). */
static const char *sqlite_path(const char *uri)
{
    if (!strncmp(uri, "sqlite:", 7))
        uri += 7;
    if (!strncmp(uri, "//", 2))
        uri += 2;
    return uri;
}

/* Same file? By identity when both exist, else by resolved path (a file not created yet
 * cannot be the store, which exists). */
static bool same_file(const char *a, const char *b)
{
    struct stat sa, sb;
    if (stat(a, &sa) == 0 && stat(b, &sb) == 0)
        return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
    char *ra = realpath(a, NULL), *rb = realpath(b, NULL);
    bool same = ra && rb && !strcmp(ra, rb);
    free(ra);
    free(rb);
    return same;
}

static bool sql_catalog_listed(const struct iv_config *cfg, const char *uri)
{
    for (const char *p = cfg->sql_catalogs; p && *p;) {
        size_t n = strcspn(p, ":");
        /* entries are paths (a "sqlite:" prefix is part of the colon list's syntax problem,
         * so entries are written without it) */
        char *entry = xasprintf("%.*s", (int)n, p);
        bool hit = n > 0 && (!strcmp(entry, uri) || !strcmp(entry, sqlite_path(uri)) ||
                             same_file(entry, sqlite_path(uri)));
        free(entry);
        if (hit)
            return true;
        p += n;
        if (*p == ':')
            p++;
    }
    return false;
}

char *config_local_catalog_uri(const struct iv_config *cfg)
{
    if (cfg->db_url && !strncmp(cfg->db_url, "postgres", 8))
        return xstrdup(cfg->db_url);
    char *abs = realpath(cfg->data_dir, NULL);
    char *uri = xasprintf("%s/iceberg_catalog.db", abs ? abs : cfg->data_dir);
    free(abs);
    return uri;
}

int config_confine_catalog(const struct iv_config *cfg, const char *catalog_type,
                           const char *catalog_uri, const char *warehouse,
                           const char *storage_prefix, const char **field_out,
                           struct iv_err *e)
{
    *field_out = NULL;
    if (warehouse && !strncmp(warehouse, "file://", 7) && !cfg->warehouse_root) {
        *field_out = "warehouse";
        return iv_err_set(e, IV_EINVAL, "warehouse: this server has no warehouse root for "
                          "file:// locations");
    }
    if (warehouse && !strncmp(warehouse, "file://", 7)) {
        if (!cfg->warehouse_root || !*cfg->warehouse_root) {
            /* Fail closed: without a root nothing local is confined. */
            *field_out = "warehouse";
            return iv_err_set(e, IV_EINVAL, "warehouse cannot be a local path: the server has no "
                              "warehouse root (IVORY_WAREHOUSE_ROOT)");
        }
        char *path = storage_prefix && *storage_prefix
                         ? xasprintf("%s/%s", warehouse + 7, storage_prefix)
                         : xstrdup(warehouse + 7);
        mkdir_p(cfg->warehouse_root, 0700);   /* the default root may not exist yet */
        struct iv_err pe = {0};
        int rc = path_confined(cfg->warehouse_root, path, NULL, &pe);
        free(path);
        if (rc != IV_OK) {
            *field_out = "warehouse";
            return iv_err_set(e, IV_EINVAL, "warehouse must be a location under the server's "
                              "warehouse root file://%s (%s)", cfg->warehouse_root, pe.msg);
        }
    }
    if (catalog_type && !strcmp(catalog_type, "sql") && catalog_uri &&
        strcmp(catalog_uri, "local") != 0) {
        const char *store = cfg->db_url && !strncmp(cfg->db_url, "sqlite:", 7)
                                ? sqlite_path(cfg->db_url) : NULL;
        if (store && same_file(sqlite_path(catalog_uri), store)) {
            *field_out = "catalog_uri";
            return iv_err_set(e, IV_EINVAL, "catalog_uri names the server's own control-plane "
                              "store; use \"local\" for the server's catalog");
        }
        if (!sql_catalog_listed(cfg, catalog_uri)) {
            *field_out = "catalog_uri";
            return iv_err_set(e, IV_EINVAL, "catalog_uri of a sql catalog must be \"local\" or "
                              "a database the operator lists in IVORY_SQL_CATALOGS");
        }
    }
    return IV_OK;
}
