/*
 * config: the process configuration, read once from the environment
 * (docs/configuration.md names). One table declares every option, its default and its
 * bounds; serve, runner and the CLI receive a `const struct iv_config *`.
 */
#ifndef IVORY_CONFIG_H
#define IVORY_CONFIG_H

#include "util/util.h"

struct iv_config {
    char *db_url;               /* IVORY_DB */
    char *listen;               /* IVORY_LISTEN host:port */
    char *jwt_secret;           /* IVORY_JWT_SECRET (HS256) */
    char *jwt_public_key;       /* IVORY_JWT_PUBLIC_KEY: PEM file path */
    char *jwt_jwks;             /* IVORY_JWT_JWKS: JWKS file path */
    char *jwt_algs;             /* IVORY_JWT_ALGS comma list, or NULL = derived from keys */
    char *jwt_issuer;           /* IVORY_JWT_ISSUER */
    char *jwt_audience;         /* IVORY_JWT_AUDIENCE */
    char *master_key_b64;       /* IVORY_MASTER_KEY (else generated into data dir) */
    char *config_key_b64;       /* IVORY_CONFIG_KEY */
    char *config_private_key;   /* IVORY_CONFIG_PRIVATE_KEY: PEM path, JWE config key pair */
    char *tap_path;             /* IVORY_TAP_PATH */
    double poll_interval_s;     /* IVORY_POLL_INTERVAL */
    double first_run_delay_s;   /* IVORY_FIRST_RUN_DELAY */
    char *api_url;              /* IVORY_API_URL (default: http://<listen>) */
    bool api_url_from_env;      /* IVORY_API_URL was given (serve then keeps it as is) */
    char *data_dir;             /* IVORY_DATA_DIR */
    size_t max_body_bytes;      /* IVORY_MAX_BODY_BYTES, default 1 MiB */
    double run_timeout_s;       /* IVORY_RUN_TIMEOUT, default 6 h */
    size_t max_line_bytes;      /* IVORY_MAX_LINE_BYTES, default 16 MiB */
    double discover_timeout_s;  /* IVORY_DISCOVER_TIMEOUT, default 300 s */
    size_t discover_max_bytes;  /* IVORY_DISCOVER_MAX_BYTES, default 64 MiB */
    int max_concurrent_runs;    /* IVORY_MAX_CONCURRENT_RUNS, default 4 */
    int max_runs_per_tenant;    /* IVORY_MAX_RUNS_PER_TENANT, default 2 */
    double shutdown_grace_s;    /* IVORY_SHUTDOWN_GRACE, default 30 */
    char *meltano_project;      /* IVORY_MELTANO_PROJECT */
    int http_threads;           /* IVORY_HTTP_THREADS: polling threads, default = cores */
    int http_workers;           /* IVORY_HTTP_WORKERS: handler threads, 0 = 2 x threads + 2 */
    int http_max_connections;   /* IVORY_HTTP_MAX_CONNECTIONS, default 10,000 */
    int http_per_ip_limit;      /* IVORY_HTTP_PER_IP_LIMIT, default 256, 0 = no limit */
    double http_header_timeout_s; /* IVORY_HTTP_HEADER_TIMEOUT: whole header, default 10 */
    double http_body_timeout_s; /* IVORY_HTTP_BODY_TIMEOUT: whole body, default 30 */
    double http_idle_timeout_s; /* IVORY_HTTP_IDLE_TIMEOUT: no progress, default 30 */
    double runner_lease_s;      /* IVORY_RUNNER_LEASE, 0 = clamp(4 x poll, 3 s, 120 s) */
    double checkpoint_rows;     /* IVORY_CHECKPOINT_ROWS, default 1,000,000 */
    double checkpoint_seconds;  /* IVORY_CHECKPOINT_SECONDS, default 60 */
    int db_pool;                /* IVORY_DB_POOL: store connections per process, 0 = derived
                                   from the thread counts (docs/deploy.md) */
    double db_reconnect_wait_s; /* IVORY_DB_RECONNECT_WAIT: how long a caller waits for a lost
                                   PostgreSQL connection to come back, default 15 */
    int serve_runner;           /* IVORY_SERVE_RUNNER: 0 = `ivory serve` runs the API only */
    int webhook_max_attempts;   /* IVORY_WEBHOOK_MAX_ATTEMPTS, 0 = client default (12) */
    /* The tap sandbox (docs/security.md). */
    char *tap_sandbox;          /* IVORY_TAP_SANDBOX: "on" (default) or "off" */
    bool tap_sandbox_off;       /* derived: IVORY_TAP_SANDBOX=off */
    char *tap_data_dirs;        /* IVORY_TAP_DATA_DIRS: colon list, read-only in the sandbox */
    char *tap_writable_dirs;    /* IVORY_TAP_WRITABLE_DIRS: colon list, read-write */
    char *bwrap;                /* IVORY_BWRAP: bubblewrap executable, default "bwrap" */
    int tap_memory_mb;          /* IVORY_TAP_MEMORY_MB, default 4096 (RLIMIT_DATA) */
    double tap_cpu_s;           /* IVORY_TAP_CPU_SECONDS, 0 = IVORY_RUN_TIMEOUT */
    int tap_file_mb;            /* IVORY_TAP_FILE_MB, default 4096 (RLIMIT_FSIZE, /tmp size) */
    int tap_max_procs;          /* IVORY_TAP_MAX_PROCS, default 256 */
    /* Where tenants' catalogs may point (docs/security.md). */
    char *warehouse_root;       /* IVORY_WAREHOUSE_ROOT, default <IVORY_DATA_DIR>/warehouse */
    char *sql_catalogs;         /* IVORY_SQL_CATALOGS: colon list of allowed sql catalog_uris */
    int tenant_max_connectors;  /* IVORY_TENANT_MAX_CONNECTORS, default 1000 */
    int tenant_max_catalogs;    /* IVORY_TENANT_MAX_CATALOGS, default 50 */
    /* The optional LLM mapping proposer (docs/transforms.md, "The LLM proposer"). */
    char *mapping_llm_url;      /* IVORY_MAPPING_LLM_URL: OpenAI-compatible base URL; NULL = off */
    char *mapping_llm_model;    /* IVORY_MAPPING_LLM_MODEL (required with the URL) */
    char *mapping_llm_api_key;  /* IVORY_MAPPING_LLM_API_KEY: bearer token; never logged */
    double mapping_llm_timeout_s; /* IVORY_MAPPING_LLM_TIMEOUT, default 20 s */
};

/* Fills cfg from the environment. On a bad value returns IV_EINVAL with e->msg
 * naming the variable. cfg owns its strings; release with config_release. */
int config_load(struct iv_config *cfg, struct iv_err *e);
void config_release(struct iv_config *cfg);

/* Checks a tenant catalog's locations against the operator's policy: a file:// warehouse
 * (joined with storage_prefix when given) must resolve under IVORY_WAREHOUSE_ROOT; a sql
 * catalog_uri must be "local" (the server's own catalog file) or listed in
 * IVORY_SQL_CATALOGS, and never the control-plane store under any name. On failure
 * IV_EINVAL, *field_out names the field and e->msg is one sentence for the client. */
/* The catalog uri behind a tenant's sql catalog_uri "local": on a SQLite store the file
 * DATA_DIR/iceberg_catalog.db; on a PostgreSQL store the store's own database (IVORY_DB),
 * which every API server and runner of a multi-machine deployment shares, and which other
 * engines can open as a JDBC / SQL catalog (docs/deploy.md). Caller frees. */
char *config_local_catalog_uri(const struct iv_config *cfg);

int config_confine_catalog(const struct iv_config *cfg, const char *catalog_type,
                           const char *catalog_uri, const char *warehouse,
                           const char *storage_prefix, const char **field_out,
                           struct iv_err *e);

#endif
