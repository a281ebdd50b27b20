/*
 * store: the control-plane schema and every query over it. This is the only
 * place SQL lives (the runner's job queries go in store/jobs.c, same rules).
 *
 * Tenant scoping: every function that reads or writes tenant data takes the
 * tenant id and filters by it in SQL, so no caller can forget. Another
 * tenant's object is simply "not found". The one exception is
 * store_webhook_lookup(), which maps a connector id to its tenant and sealed
 * webhook secret, because the webhook carries no JWT; everything after it is
 * scoped by the tenant it returned.
 *
 * Status changes: connector status moves only through one internal function
 * with a table of legal transitions, in the same transaction as its side
 * effects (see store.c, connector_transition).
 *
 * The store knows nothing of HTTP, cron or crypto: callers hand it already
 * computed times and already sealed secrets; the webhook's scheduling policy
 * arrives as function pointers (struct store_policy) so it runs inside the
 * store's transaction.
 *
 * Threading: a `struct store` is safe to share between threads. It keeps a
 * small pool of db connections; each call borrows one for its duration.
 *
 * Times are epoch milliseconds; STORE_NULL_TIME means SQL NULL.
 */
#ifndef IVORY_STORE_H
#define IVORY_STORE_H

#include "util/util.h"
#include "db/db.h"

#define STORE_NULL_TIME INT64_MIN
#define STORE_RUNNER_ID_MAX 128
#define STORE_ID_MAX 256

struct store;

/* Opens the store at url (see db_open) with a pool of at most pool_max
 * connections (>= 1), and applies pending migrations when migrate is true.
 * *out: caller frees with store_close. */
IV_MUST_USE int store_open(struct store **out, const char *url, int pool_max, bool migrate,
               struct iv_err *e);
void store_close(struct store *s);
/* Applies pending migrations; *applied_out / *version_out may be NULL. */
IV_MUST_USE int store_migrate(struct store *s, int *applied_out, int *version_out, struct iv_err *e);
/* The newest schema version this binary knows (its last migration). */
IV_MUST_USE int store_schema_latest(void);
/* The schema version recorded in the store (0 for an empty store), without migrating. */
IV_MUST_USE int store_schema_version(struct store *s, int *version_out, struct iv_err *e);
/* SQLite only (IV_EUNSUPPORTED otherwise, naming pg_dump): writes a consistent snapshot of
 * the whole store to dest with VACUUM INTO, one read transaction, while other connections
 * and processes keep writing. The snapshot goes to a new 0600 file beside dest, is fsynced
 * and renamed over dest, so dest is either the old file or a complete new one. */
IV_MUST_USE int store_backup_to(struct store *s, const char *dest, struct iv_err *e);
/* SQLite's PRAGMA quick_check: IV_OK when the file is sound, else IV_EDB naming the first
 * problem. PostgreSQL: IV_OK. */
IV_MUST_USE int store_quick_check(struct store *s, struct iv_err *e);
/* Cheap round trip (SELECT 1) for /readyz. */
IV_MUST_USE int store_ping(struct store *s, struct iv_err *e);
/* How many connectors and catalogs the tenant has (for the per-tenant quotas). */
IV_MUST_USE int store_tenant_usage(struct store *s, const char *tenant_id, int64_t *connectors,
                       int64_t *catalogs, struct iv_err *e);
/* IV_EIO when the store's file was deleted or replaced under the running process. */
IV_MUST_USE int store_files_ok(struct store *s, struct iv_err *e);

/* Trigger -> run start without waiting for the next poll. A write that makes a connector
 * due now (a trigger, a completed run with a queued follow-up) wakes waiting runners:
 * store_wait_for_work returns early in this process (self-pipe, both backends) and, on
 * PostgreSQL, in every process (NOTIFY ivory_work, delivered at commit to the connection
 * each waiting store LISTENs on). The runner's poll stays the safety net.
 * store_wait_for_work: one thread per store (the runner loop); returns 1 when woken, 0 at
 * timeout_ms. store_wake: any thread, never blocks. */
int store_wait_for_work(struct store *s, int timeout_ms);
void store_wake(struct store *s);

/* Borrow / return a raw connection (store/jobs.c and tests; never the API). */
struct db *store__acquire(struct store *s);
void store__release(struct store *s, struct db *d);

/* ---- tenants -------------------------------------------------------------- */
struct store_tenant {
    char id[STORE_ID_MAX];
    char slug[64];
    int64_t created_at;
};
/* IV_ECONFLICT when the id or the slug exists already. */
IV_MUST_USE int store_tenant_create(struct store *s, const char *id, const char *slug,
                        struct store_tenant *out, struct iv_err *e);
IV_MUST_USE int store_tenant_get(struct store *s, const char *id, struct store_tenant *out,
                     struct iv_err *e);                       /* IV_ENOTFOUND */
IV_MUST_USE int store_tenant_get_by_slug(struct store *s, const char *slug, struct store_tenant *out,
                             struct iv_err *e);               /* IV_ENOTFOUND */
/* "ivory_tenant_" + slug with '-' -> '_' (out >= 80 bytes). */
void store_tenant_namespace(const char *slug, char out[80]);
/* The tenant's change counter (migration 2): SQL triggers add one on every insert, update
 * or delete of the tenant's connectors, runs, field mappings and catalogs, whoever writes.
 * Equal (generation, epoch) means nothing the API shows for the tenant changed; epoch is the
 * tenant row's created_at, so a re-created tenant never repeats an old pair. One indexed
 * read on a cached statement. IV_ENOTFOUND when the tenant does not exist. */
IV_MUST_USE int store_tenant_generation(struct store *s, const char *tenant_id, int64_t *gen_out,
                            int64_t *epoch_out, struct iv_err *e);

/* ---- catalogs ------------------------------------------------------------- */
struct store_catalog {
    char *id, *tenant_id, *catalog_name, *catalog_type, *catalog_uri, *warehouse;
    char *storage_prefix, *s3_endpoint, *s3_access_key_id;
    char *s3_secret_key_enc;   /* sealed; never leaves through the API */
    char *catalog_credential_enc;  /* sealed rest token / client credentials; same rule */
    char *metadata;            /* JSON object text */
    bool active;
    int64_t created_at, updated_at;
};
void store_catalog_release(struct store_catalog *c);
/* Upsert on (tenant_id, catalog_name). in->id/created/updated are ignored.
 * When in->s3_secret_key_enc (or catalog_credential_enc) is NULL an existing sealed
 * secret is kept.
 * *created_out: true when inserted. out (may be NULL) receives the stored row;
 * caller releases it. */
IV_MUST_USE int store_catalog_upsert(struct store *s, const char *tenant_id, const struct store_catalog *in,
                         bool *created_out, struct store_catalog *out, struct iv_err *e);
/* *out: caller frees with store_catalogs_free(*out, n). Ordered by name. */
IV_MUST_USE int store_catalog_list(struct store *s, const char *tenant_id, struct store_catalog **out,
                       size_t *n_out, struct iv_err *e);
void store_catalogs_free(struct store_catalog *v, size_t n);
IV_MUST_USE int store_catalog_get(struct store *s, const char *tenant_id, const char *name,
                      struct store_catalog *out, struct iv_err *e);   /* IV_ENOTFOUND */
/* Sets active = 0. IV_ENOTFOUND when the tenant has no such catalog. */
IV_MUST_USE int store_catalog_deactivate(struct store *s, const char *tenant_id, const char *name,
                             struct iv_err *e);

/* ---- connectors ------------------------------------------------------------ */
enum store_conn_status { CONN_ACTIVE = 0, CONN_PAUSED = 1, CONN_ERROR = 2, CONN__COUNT };
const char *store_conn_status_name(enum store_conn_status st);
IV_MUST_USE int store_conn_status_parse(const char *name, enum store_conn_status *out);

struct store_connector {
    char *id, *tenant_id, *source_system, *tap_name, *connector_type;
    char *destination_catalog, *destination_table, *iomete_namespace, *sync_schedule;
    char *config_encrypted;       /* envelope text or NULL; never returned by the API */
    char *tap_version, *meltano_environment;
    char *catalog_json;           /* Singer catalog or NULL */
    char *webhook_secret_enc;     /* sealed */
    enum store_conn_status status;
    int64_t consecutive_failures, rows_total;
    int64_t last_synced_at, next_run_at;     /* STORE_NULL_TIME = NULL */
    char *tap_state;              /* JSON text or NULL */
    bool followup_queued;
    int64_t created_at, updated_at;
    /* Filled by list/get: summary of the latest run (by started_at). */
    char *last_run_status;        /* NULL before the first run */
    int64_t last_run_rows, last_run_rows_loaded;
    int64_t last_run_at;          /* completed_at, else started_at; STORE_NULL_TIME */
    char *last_error;
    bool has_last_run;
    /* Filled by get only. */
    int64_t mapping_count, run_count, total_rows_loaded;
};
void store_connector_release(struct store_connector *c);
void store_connectors_free(struct store_connector *v, size_t n);

/* Inserts a connector (in->id must be set by the caller; status active).
 * Checks in the same transaction that the tenant exists and that
 * destination_catalog is an active catalog of the tenant: IV_EINVAL with
 * e->msg naming destination_catalog otherwise. */
IV_MUST_USE int store_connector_create(struct store *s, const struct store_connector *in, struct iv_err *e);
/* status_filter may be NULL. Ordered by created_at. Caller frees *out. */
IV_MUST_USE int store_connector_list(struct store *s, const char *tenant_id, const char *status_filter,
                         struct store_connector **out, size_t *n_out, struct iv_err *e);
/* Streams the same rows as store_connector_list (same order) to fn without copying them:
 * every pointer in *c is borrowed for the duration of the call only, the get-only
 * counters are 0, and the fields no list shows are NULL (config_encrypted, catalog_json,
 * webhook_secret_enc, tap_state). All rows and *gen_out / *epoch_out (may be NULL; -1 when the tenant row
 * does not exist) come from one read snapshot, so the generation describes exactly the rows
 * seen. fn returning < 0 stops the walk; that value is returned. */
typedef int (*store_connector_visit_fn)(void *ctx, const struct store_connector *c);
IV_MUST_USE int store_connector_each(struct store *s, const char *tenant_id, const char *status_filter,
                         store_connector_visit_fn fn, void *ctx, int64_t *gen_out,
                         int64_t *epoch_out, struct iv_err *e);
/* IV_ENOTFOUND when absent or another tenant's. Caller releases out. */
IV_MUST_USE int store_connector_get(struct store *s, const char *tenant_id, const char *id,
                        struct store_connector *out, struct iv_err *e);

/* Result of a state-changing call, for the response. */
struct store_conn_change {
    enum store_conn_status status;   /* status after the call */
    bool followup;                   /* trigger: queued behind a running sync */
    char source_system[64];
};
/* trigger: active -> active with next_run_at = now_ms_at, or, when a run is in
 * progress, followup_queued = 1 (one follow-up, however many triggers).
 * IV_ECONFLICT when paused or in error; IV_ENOTFOUND. */
IV_MUST_USE int store_connector_trigger(struct store *s, const char *tenant_id, const char *id,
                            int64_t now_ms_at, struct store_conn_change *out, struct iv_err *e);
/* pause: active|error|paused -> paused, next_run_at = NULL. Idempotent. */
IV_MUST_USE int store_connector_pause(struct store *s, const char *tenant_id, const char *id,
                          struct store_conn_change *out, struct iv_err *e);
/* resume: paused|error -> active, consecutive_failures = 0, next_run_at =
 * next_run_ms. On an already active connector it changes nothing. */
IV_MUST_USE int store_connector_resume(struct store *s, const char *tenant_id, const char *id,
                           int64_t next_run_ms, struct store_conn_change *out, struct iv_err *e);
/* Deletes the connector and, in the same transaction, its field mappings,
 * runs and runner jobs (and with the row its STATE bookmark). A runner whose
 * job row disappears kills its child. IV_ENOTFOUND. */
IV_MUST_USE int store_connector_delete(struct store *s, const char *tenant_id, const char *id,
                           struct iv_err *e);

/* ---- runs ------------------------------------------------------------------- */
struct store_run {
    char *id, *connector_id, *tenant_id, *status, *trigger;
    int64_t rows_synced, rows_loaded, transform_errors;
    char *iomete_table;
    int64_t started_at, completed_at;   /* STORE_NULL_TIME */
    char *error_msg, *state_before, *state_after, *snapshot_id, *log_tail;
};
void store_run_release(struct store_run *r);
void store_runs_free(struct store_run *v, size_t n);
/* Latest first (started_at DESC). limit 1..200. Caller frees *out.
 * IV_ENOTFOUND when the connector is not the tenant's. */
IV_MUST_USE int store_run_list(struct store *s, const char *tenant_id, const char *connector_id, int limit,
                   struct store_run **out, size_t *n_out, struct iv_err *e);
/* Inserts a 'running' run (the runner's claim does this too, with its job row).
 * run_id must be set by the caller. state_before may be NULL. */
IV_MUST_USE int store_run_start(struct store *s, const char *tenant_id, const char *connector_id,
                    const char *run_id, const char *trigger, int64_t started_at,
                    const char *iomete_table, const char *state_before, struct iv_err *e);

/* ---- webhook ------------------------------------------------------------------ */
/* Unscoped lookup (see the header comment): tenant id and sealed secret of a
 * connector. IV_ENOTFOUND. tenant_out >= STORE_ID_MAX; *secret_enc_out: caller frees. */
IV_MUST_USE int store_webhook_lookup(struct store *s, const char *connector_id, char *tenant_out,
                         char **secret_enc_out, struct iv_err *e);

/* Scheduling policy applied inside the webhook transaction. Times in epoch s. */
struct store_policy {
    /* next cron fire strictly after after_s, or -1 */
    int64_t (*cron_next)(const char *schedule, int64_t after_s);
    /* retry time after the n-th consecutive failure, capped at cap_s (<= 0: none) */
    int64_t (*backoff)(int failures, int64_t now_s, int64_t cap_s);
    int breaker_failures;       /* failures that trip 'error' (3) */
};

struct store_webhook {
    const char *connector_id, *run_id;
    bool completed;                     /* else failed (or cancelled) */
    bool cancelled;                     /* ended on request: neither a success nor a failure */
    int64_t rows_synced, rows_loaded, transform_errors;
    const char *tap_state;              /* JSON text or NULL */
    int64_t started_at, completed_at;   /* ms, STORE_NULL_TIME = absent */
    const char *error_msg, *iomete_table, *snapshot_id;
};
struct store_webhook_result {
    bool replay;                         /* run already finished: nothing changed */
    enum store_conn_status status;       /* connector status afterwards */
    int64_t next_run_at;                 /* STORE_NULL_TIME */
    int64_t consecutive_failures;
};
/* Applies a verified webhook in one transaction (docs/api.md "Runner webhook"). now_ms_at is
 * the current time. IV_ENOTFOUND when the run does not exist for this
 * tenant's connector. */
IV_MUST_USE int store_webhook_apply(struct store *s, const char *tenant_id, const struct store_webhook *w,
                        const struct store_policy *pol, int64_t now_ms_at,
                        struct store_webhook_result *out, struct iv_err *e);

/* ---- transitions table (exported for tests) -------------------------------------- */
enum store_conn_event { CEV_TRIGGER, CEV_PAUSE, CEV_RESUME, CEV_BREAKER, CEV__COUNT };
/* New status for (from, event), or -1 when the transition is illegal. */
IV_MUST_USE int store_conn_next_status(enum store_conn_status from, enum store_conn_event ev);

/* ==== operations (store/ops.c) ==============================================================
 * Editing a connector without losing its bookmark, the bookmark itself, webhook-secret
 * rotation, one run's detail and cancellation, paging, and the operator's metrics. Same
 * rules as above: scoped by tenant, one transaction per call. */

/* Schema-drift policies (what a run does when a SCHEMA does not fit the table). */
bool store_schema_drift_valid(const char *policy);     /* evolve | freeze | discard_row */

/* A PATCH: NULL members are left alone; tap_version_null clears tap_version. */
struct store_connector_patch {
    const char *sync_schedule;
    int64_t next_run_at;             /* with sync_schedule: the next fire (active only) */
    const char *config_encrypted;
    bool config_clear;               /* config_encrypted: null */
    const char *tap_version;
    bool tap_version_clear;
    const char *meltano_environment;
    const char *destination_table;
    const char *schema_drift;
};
/* Applies p in one transaction. IV_ECONFLICT (e->msg names the field) when a run is in
 * progress and p changes anything but sync_schedule (the run in flight uses the old values);
 * IV_ENOTFOUND. next_run_at is only written while the connector is active (paused and error
 * keep NULL). */
IV_MUST_USE int store_connector_patch(struct store *s, const char *tenant_id, const char *id,
                          const struct store_connector_patch *p, struct iv_err *e);

/* Operations view of a connector: its drift policy and whether a run is in progress.
 * policy_out >= 16 bytes. */
IV_MUST_USE int store_connector_ops_info(struct store *s, const char *tenant_id, const char *id,
                             char policy_out[16], bool *running_out, struct iv_err *e);

/* Replaces the STATE bookmark (state_json: a JSON object's text) while the connector is
 * paused (IV_ECONFLICT otherwise, or while a run is in progress), and records the edit in the
 * run history: a run row run_id with trigger 'state_edit', status 'completed', state before
 * and after. */
IV_MUST_USE int store_connector_state_put(struct store *s, const char *tenant_id, const char *id,
                              const char *run_id, const char *state_json, struct iv_err *e);
/* Clears the bookmark and makes the connector due at now_ms_at (a full run), recorded like a
 * state edit (trigger 'resync'). IV_ECONFLICT when paused, in error or running. */
IV_MUST_USE int store_connector_resync(struct store *s, const char *tenant_id, const char *id,
                           const char *run_id, int64_t now_ms_at, struct iv_err *e);

/* Rotation: the current sealed secret becomes the previous one, verifying until prev_until
 * (ms); new_sealed becomes current. */
IV_MUST_USE int store_webhook_rotate(struct store *s, const char *tenant_id, const char *id,
                         const char *new_sealed, int64_t prev_until, struct iv_err *e);
/* The previous sealed secret of a connector while its grace period lasts at now_ms_at, else
 * *prev_out = NULL (not an error). Unscoped, like store_webhook_lookup. Caller frees. */
IV_MUST_USE int store_webhook_previous(struct store *s, const char *connector_id, int64_t now_ms_at,
                           char **prev_out, struct iv_err *e);

/* One run with its progress. IV_ENOTFOUND when the run is not this tenant's connector's. */
struct store_run_detail {
    struct store_run run;
    int64_t rows_committed;
    int64_t last_checkpoint_at;        /* STORE_NULL_TIME */
    char *stream_rows;                 /* JSON object text or NULL */
    char *transform_samples;           /* JSON array text or NULL (docs/transforms.md) */
    char *schema_changes;              /* JSON array text or NULL */
    bool has_job;                      /* an Ivory runner holds it */
    bool cancel_requested;
};
void store_run_detail_release(struct store_run_detail *d);
IV_MUST_USE int store_run_get(struct store *s, const char *tenant_id, const char *connector_id,
                  const char *run_id, struct store_run_detail *out, struct iv_err *e);
/* Asks for a running run's end: a run an Ivory runner holds gets cancel_requested (the runner
 * kills the tap's process group and reports 'cancelled'); a run nobody here holds (an
 * external runner's) is marked 'cancelled' at once. IV_ECONFLICT when it is not running. */
IV_MUST_USE int store_run_cancel(struct store *s, const char *tenant_id, const char *connector_id,
                     const char *run_id, bool *immediate_out, struct iv_err *e);
/* The runner's progress report at a checkpoint (or periodically). */
IV_MUST_USE int store_run_progress(struct store *s, const char *run_id, int64_t rows_read,
                       int64_t rows_committed, int64_t checkpoint_at, const char *stream_rows,
                       struct iv_err *e);

/* The runner's final account of what its loader did, before its webhook (any run status):
 * per-stream counts (JSON object text) and the schema changes applied (JSON array text);
 * NULL members leave the stored value. */
IV_MUST_USE int store_run_set_load_report(struct store *s, const char *tenant_id,
                                          const char *run_id, const char *stream_rows,
                                          const char *schema_changes, struct iv_err *e);

/* Paging: the tenant's connectors after the cursor (created_at, id) in that order, filtered
 * by status and source_system (each may be NULL), at most limit rows; fn as for
 * store_connector_each. *more_out: whether rows remain after the last one given. */
struct store_page_filter {
    const char *status, *source_system;
    int64_t after_created;             /* STORE_NULL_TIME: from the start */
    const char *after_id;
    int limit;
};
IV_MUST_USE int store_connector_page(struct store *s, const char *tenant_id,
                         const struct store_page_filter *f, store_connector_visit_fn fn,
                         void *ctx, bool *more_out, struct iv_err *e);

/* Operator metrics over every tenant (aggregates only: no tenant, connector or run id). */
#define STORE_DURATION_BUCKETS 9
extern const int64_t store_duration_bucket_s[STORE_DURATION_BUCKETS];   /* upper bounds */
struct store_metrics {
    int64_t connectors[CONN__COUNT];
    /* runs by status x trigger: status running|completed|failed|cancelled, trigger
     * schedule|manual|retry|state_edit|resync|other */
    int64_t runs[4][6];
    int64_t rows_synced, rows_loaded, transform_errors;
    int64_t duration_count, duration_sum_s;
    int64_t duration_le[STORE_DURATION_BUCKETS];   /* cumulative */
    int64_t running_jobs;
    int64_t claims;            /* runs claimed by Ivory runners (every runner process) */
    int64_t lease_expiries;    /* runs failed because their runner stopped renewing */
};
extern const char *const store_metric_run_status[4];
extern const char *const store_metric_run_trigger[6];
IV_MUST_USE int store_metrics_collect(struct store *s, struct store_metrics *out, struct iv_err *e);

/* ==== runner jobs ==========================================================================
 * Owned by the runner (queries in store/jobs.c). A claimed connector has one runner_jobs row
 * (runner id, child pid, lease expiry, log tail) and one sync_runs row in 'running', both
 * inserted in the claim transaction. SQLite: BEGIN IMMEDIATE serialises claimers on one file;
 * PostgreSQL: the due query takes FOR UPDATE SKIP LOCKED (see docs/runner.md). */
struct store_job {
    char job_id[37], run_id[37];
    char trigger[16];                 /* schedule | manual | retry */
    int64_t started_at;               /* ms */
    struct store_connector conn;      /* the connector as claimed (tap_state = bookmark) */
    struct store_catalog cat;         /* its destination catalog, when has_catalog */
    bool has_catalog;
    char tenant_slug[64];
};
void store_job_release(struct store_job *j);
void store_jobs_free(struct store_job *v, size_t n);

struct store_claim_limits {
    int max_total;        /* running jobs over all runners (max_concurrent_runs) */
    int max_per_tenant;   /* running jobs of one tenant (max_runs_per_tenant) */
    int max_claim;        /* at most this many now (this runner's free slots) */
};
/* Claims due connectors (status 'active', next_run_at <= now_ms_at, no job and no running
 * run) in next_run_at order within the limits: inserts their job and run rows (lease until
 * now + lease_ms). *out: caller frees with store_jobs_free(*out, *n_out). */
IV_MUST_USE int store_jobs_claim(struct store *s, const char *runner_id, int64_t now_ms_at, int64_t lease_ms,
                     const struct store_claim_limits *lim, struct store_job **out, size_t *n_out,
                     struct iv_err *e);
/* Extends this runner's lease on job_id until lease_until. *alive_out false when the job row
 * is gone (connector deleted) or cancel_requested is set: the runner kills the child.
 * *cancel_out (may be NULL) true in the second case (the run is still reported). */
IV_MUST_USE int store_job_renew(struct store *s, const char *runner_id, const char *job_id,
                    int64_t lease_until, bool *alive_out, bool *cancel_out, struct iv_err *e);
/* Records the child's pid and/or the log tail (NULL: unchanged) on the job row. */
IV_MUST_USE int store_job_update(struct store *s, const char *job_id, int64_t child_pid, const char *log_tail,
                     struct iv_err *e);
/* Sets the run's iomete_table (comma list when a run writes several tables). */
IV_MUST_USE int store_job_set_tables(struct store *s, const char *run_id, const char *iomete_table,
                         struct iv_err *e);
/* Ends a job: copies log_tail (may be NULL: the job row's) to the run, deletes the job row.
 * A missing job row is not an error (deleted connector). */
IV_MUST_USE int store_job_finish(struct store *s, const char *job_id, const char *run_id,
                     const char *log_tail, struct iv_err *e);

/* A job whose lease expired (its runner died), taken over for failing. */
struct store_dead_job {
    char job_id[37], run_id[37];
    char connector_id[STORE_ID_MAX], tenant_id[STORE_ID_MAX];
    char runner_id[128];
    int64_t started_at;
    int64_t child_pid;                /* the dead runner's tap (process group), 0 = unknown */
    int64_t rows_committed;           /* rows its checkpoints committed (store_job_set_progress) */
};
/* Re-leases to runner_id (until now + lease_ms) every job whose lease expired before
 * now_ms_at, so no other runner takes it meanwhile. *out: caller frees (plain array). */
IV_MUST_USE int store_jobs_take_expired(struct store *s, const char *runner_id, int64_t now_ms_at,
                            int64_t lease_ms, struct store_dead_job **out, size_t *n_out,
                            struct iv_err *e);

/* Bookmark reconciliation: about run_id of the connector. *exists false when the run is not
 * the connector's (e.g. written before a delete + re-register); *status_out the run status;
 * *later_completed_out whether a completed run of the connector started after it. */
IV_MUST_USE int store_job_run_info(struct store *s, const char *tenant_id, const char *connector_id,
                       const char *run_id, bool *exists, char status_out[16],
                       bool *later_completed_out, struct iv_err *e);
/* Records on the running run's row how many rows its checkpoints have committed, so a run
 * whose runner dies still accounts for them (sync_runs.rows_loaded). */
IV_MUST_USE int store_job_set_progress(struct store *s, const char *run_id, int64_t rows_committed,
                           struct iv_err *e);
/* Adds rows a failed or abandoned run committed before it ended to the connector's
 * rows_total (the webhook adds rows only for completed runs). */
IV_MUST_USE int store_job_add_rows(struct store *s, const char *tenant_id, const char *connector_id,
                       int64_t rows, struct iv_err *e);
/* Which Ivory runner holds run_id of the tenant: *held false when no runner job exists for
 * it (an external runner's run, or finished); else runner_out (NUL-terminated) names it. */
IV_MUST_USE int store_job_holder(struct store *s, const char *tenant_id, const char *run_id, bool *held,
                     char runner_out[STORE_RUNNER_ID_MAX], struct iv_err *e);
/* Replaces the connector's STATE bookmark (tap_state). */
IV_MUST_USE int store_job_set_bookmark(struct store *s, const char *tenant_id, const char *connector_id,
                           const char *state_json, struct iv_err *e);
/* ==== end of runner jobs ==================================================================== */

/* ==== discovery and the stream catalog (store/discovery.c) ===================================
 * The connector's stream catalog is one JSON document (the discovered Singer or Airbyte
 * catalog plus the user's selection; its shape belongs to src/streams). Every write bumps
 * catalog_version; writers pass the version they read and get IV_ECONFLICT when another
 * writer came first (compare-and-set), so a PATCH and a finishing discovery never lose each
 * other's change. Discovery requests: the API inserts one ('pending'), a runner claims it
 * ('running', with a lease), runs the tap and finishes it ('done' or 'failed' with an HTTP
 * status and a detail). The API waits on the row. */
struct store_stream_catalog {
    char *doc;                 /* JSON text, NULL before the first discovery (owned) */
    int64_t discovered_at;     /* ms, STORE_NULL_TIME before the first discovery */
    int64_t version;
    char *tap_state;           /* the connector's STATE bookmark (owned, may be NULL) */
    bool running;              /* a sync of the connector is running */
};
void store_stream_catalog_release(struct store_stream_catalog *c);
/* IV_ENOTFOUND when the connector is not the tenant's. */
IV_MUST_USE int store_stream_catalog_get(struct store *s, const char *tenant_id, const char *connector_id,
                             struct store_stream_catalog *out, struct iv_err *e);
struct store_stream_catalog_write {
    const char *doc;           /* new document (required) */
    int64_t expect_version;    /* the version read; IV_ECONFLICT when it moved */
    int64_t discovered_at;     /* STORE_NULL_TIME: keep */
    bool set_state;            /* replace tap_state with new_state (NULL = SQL NULL) ... */
    const char *new_state;
    bool refuse_if_running;    /* ... and refuse with IV_EAGAIN while a sync runs */
};
IV_MUST_USE int store_stream_catalog_put(struct store *s, const char *tenant_id, const char *connector_id,
                             const struct store_stream_catalog_write *w, struct iv_err *e);

struct store_discovery {
    char id[37];
    char tenant_id[STORE_ID_MAX];
    char connector_id[STORE_ID_MAX];
    char status[16];           /* pending | running | done | failed */
    int http_status;           /* failed: the status the API answers */
    char *detail;              /* failed: the reason (owned) */
    char *report;              /* done: JSON {"appeared":[..],"vanished":[..]} (owned) */
    int64_t lease_expires_at;  /* running: ms */
};
void store_discovery_release(struct store_discovery *d);
/* Inserts a pending request (id set by the caller) and calls the wake hook. IV_ENOTFOUND
 * when the connector is not the tenant's. */
IV_MUST_USE int store_discovery_request(struct store *s, const char *tenant_id, const char *connector_id,
                            const char *id, int64_t now_ms_at, struct iv_err *e);
IV_MUST_USE int store_discovery_get(struct store *s, const char *tenant_id, const char *id,
                        struct store_discovery *out, struct iv_err *e);
/* Marks a request failed unless it finished already (the API gave up waiting). */
IV_MUST_USE int store_discovery_abandon(struct store *s, const char *tenant_id, const char *id,
                            int http_status, const char *detail, struct iv_err *e);
/* Claims up to max pending requests for runner_id with a lease of lease_ms. *out: caller frees
 * with store_discoveries_free. */
IV_MUST_USE int store_discovery_claim(struct store *s, const char *runner_id, int64_t now_ms_at,
                          int64_t lease_ms, int max, struct store_discovery **out,
                          size_t *n_out, struct iv_err *e);
void store_discoveries_free(struct store_discovery *v, size_t n);
/* Finishes a running request: status "done" (report) or "failed" (http_status, detail). */
IV_MUST_USE int store_discovery_finish(struct store *s, const char *id, const char *status,
                           int http_status, const char *detail, const char *report,
                           int64_t now_ms_at, struct iv_err *e);

/* ---- field mappings (docs/transforms.md) ------------------------------------------------ */
struct store_mapping {
    char *source_stream, *source_field, *target_column, *target_type;
    char *transform_fn;        /* NULL = the value as it is */
    bool review_required;
};
void store_mappings_free(struct store_mapping *v, size_t n);
/* The connector's mappings in their saved order. IV_ENOTFOUND when the connector is not the
 * tenant's. *out: caller frees with store_mappings_free. */
int store_mappings_get(struct store *s, const char *tenant_id, const char *connector_id,
                       struct store_mapping **out, size_t *n_out, struct iv_err *e);
/* Replaces the connector's mappings in one transaction (only_stream != NULL: only that source
 * stream's mappings are replaced, the others stay). Callers validate first. IV_ENOTFOUND when
 * the connector is not the tenant's. */
int store_mappings_replace(struct store *s, const char *tenant_id, const char *connector_id,
                           const char *only_stream, const struct store_mapping *v, size_t n,
                           struct iv_err *e);
/* Saves a run's transform samples (the runner, before its webhook). */
int store_run_set_transform_samples(struct store *s, const char *tenant_id, const char *run_id,
                                    const char *samples_json, struct iv_err *e);

/* In-process wake-up: fn(ctx) is called after a write another component waits for (a
 * discovery request). One hook per store (the runner's); NULL clears it. */
void store_set_wake_hook(struct store *s, void (*fn)(void *), void *ctx);

#endif
