/*
 * runner.c: the poll loop. One thread wakes every IVORY_POLL_INTERVAL (or at once when the
 * store says a connector became due: store_wait_for_work) and, in order:
 *   1. joins the run threads that finished;
 *   2. renews the lease of every job it runs; a job row that vanished (connector deleted)
 *      or carries cancel_requested gets its child cancelled (process group killed);
 *   3. takes over jobs whose lease expired (their runner died) and fails them through the
 *      store's webhook effects (counted as a failure, rescheduled with backoff);
 *   4. claims due connectors within the global and per-tenant limits and starts one thread
 *      per run (sync.c).
 * Signals are not handled here: the command that owns the process calls runner_stop.
 *
 * Leases: lease = clamp(4 x poll interval, 3 s, 120 s) (IVORY_RUNNER_LEASE overrides), so a
 * dead runner's jobs are retried within a few ticks while a live one renews in time.
 */
#include "runner/runner_int.h"
#include "crypto/crypto.h"
#include "sched/sched.h"

#include <openssl/crypto.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int64_t pol_cron_next(const char *schedule, int64_t after_s)
{
    return cron_next_text(schedule, after_s);
}

static int64_t pol_backoff(int failures, int64_t now_s_at, int64_t cap_s)
{
    return backoff_next_retry(failures, now_s_at, cap_s);
}

static void abs_deadline(struct timespec *ts, int64_t ms_from_now)
{
    clock_gettime(CLOCK_REALTIME, ts);
    ts->tv_sec += ms_from_now / 1000;
    ts->tv_nsec += (long)(ms_from_now % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

/* A dead runner on this host may leave its tap running (a tap that is not writing does not
 * get SIGPIPE). When the job's runner id names this host and a process that no longer
 * exists, its tap's process group is killed. Runner ids are "<host>:<pid>:<random>". */
static void kill_orphan_tap(const struct store_dead_job *dj)
{
    char host[64] = "";
    gethostname(host, sizeof host - 1);
    size_t hl = strlen(host);
    if (dj->child_pid <= 1 || strncmp(dj->runner_id, host, hl) != 0 || dj->runner_id[hl] != ':')
        return;
    long rpid = strtol(dj->runner_id + hl + 1, NULL, 10);
    if (rpid <= 1 || rpid == (long)getpid() || kill((pid_t)rpid, 0) == 0 || errno != ESRCH)
        return;   /* the runner still lives (it will stop its own tap), or unknown */
    if (kill(-(pid_t)dj->child_pid, SIGKILL) == 0)
        log_warn("runner: killed tap process group %lld left by dead runner %s",
                 (long long)dj->child_pid, dj->runner_id);
}

/* Fails a job whose runner died: the same effects as a failed-run webhook, applied
 * directly in the store (the job may belong to any runner), then the job row goes. */
void runner_fail_dead_job(struct runner *r, const struct store_dead_job *dj)
{
    kill_orphan_tap(dj);
    struct iv_err e = {0};
    char msg[384];
    snprintf(msg, sizeof msg, "runner %s stopped renewing its lease (it died or lost the "
             "store); the run was abandoned and is retried", dj->runner_id);
    struct store_webhook w = {
        .connector_id = dj->connector_id, .run_id = dj->run_id, .completed = false,
        .started_at = dj->started_at, .completed_at = now_ms(), .error_msg = msg,
        .rows_loaded = dj->rows_committed,
    };
    struct store_webhook_result res = {0};
    int rc = store_webhook_apply(r->st, dj->tenant_id, &w, &r->pol, now_ms(), &res, &e);
    if (rc != IV_OK && rc != IV_ENOTFOUND) {
        log_error("runner: failing abandoned run %s: %s", dj->run_id, e.msg);
        return;   /* lease expires again; retried next time */
    }
    /* Rows its checkpoints committed are in the table: count them once (not on a replay). */
    if (rc == IV_OK && !res.replay && dj->rows_committed > 0 &&
        store_job_add_rows(r->st, dj->tenant_id, dj->connector_id, dj->rows_committed, &e) !=
            IV_OK)
        log_warn("runner: adding rows of abandoned run %s: %s", dj->run_id, e.msg);
    log_warn("runner: run %s of connector %s abandoned by runner %s: failed and rescheduled",
             dj->run_id, dj->connector_id, dj->runner_id);
    if (store_job_finish(r->st, dj->job_id, dj->run_id, NULL, &e) != IV_OK)
        log_error("runner: removing job %s: %s", dj->job_id, e.msg);
}

static void start_run(struct runner *r, struct store_job *j)
{
    struct run *rn = xcalloc(1, sizeof(*rn));
    rn->r = r;
    rn->lease_ok_ms = mono_ms();
    rn->job = *j;            /* takes the job's memory */
    memset(j, 0, sizeof(*j));
    pthread_mutex_lock(&r->mu);
    rn->next = r->runs;
    r->runs = rn;
    r->nruns++;
    pthread_mutex_unlock(&r->mu);
    if (pthread_create(&rn->th, NULL, run_main, rn) != 0) {
        log_error("runner: cannot start a thread for run %s", rn->job.run_id);
        pthread_mutex_lock(&r->mu);
        rn->done = true;
        rn->th = 0;
        pthread_mutex_unlock(&r->mu);
    }
}

/* Joins a run's thread (already off the list; called without r->mu) and frees the run. */
static void run_join_free(struct run *rn)
{
    if (rn->th)
        pthread_join(rn->th, NULL);
    store_job_release(&rn->job);
    free(rn);
}

/* Joins and frees finished runs. Returns how many are still running. */
static int reap_finished(struct runner *r)
{
    pthread_mutex_lock(&r->mu);
    struct run **pp = &r->runs;
    while (*pp) {
        struct run *rn = *pp;
        if (rn->done) {
            *pp = rn->next;
            r->nruns--;
            pthread_mutex_unlock(&r->mu);
            run_join_free(rn);
            pthread_mutex_lock(&r->mu);
            pp = &r->runs;   /* the list may have changed while unlocked */
            continue;
        }
        pp = &rn->next;
    }
    int n = r->nruns;
    pthread_mutex_unlock(&r->mu);
    return n;
}

static void renew_leases(struct runner *r)
{
    /* Snapshot the job ids: runs are freed only by this thread, so pointers stay valid. */
    pthread_mutex_lock(&r->mu);
    int n = 0;
    struct run **v = xcalloc((size_t)r->nruns + 1, sizeof(*v));
    for (struct run *rn = r->runs; rn; rn = rn->next)
        if (!rn->done)
            v[n++] = rn;
    pthread_mutex_unlock(&r->mu);
    int64_t until = now_ms() + r->lease_ms;
    for (int i = 0; i < n; i++) {
        struct iv_err e = {0};
        bool alive = true, cancel = false;
        int rc = store_job_renew(r->st, r->id, v[i]->job.job_id, until, &alive, &cancel, &e);
        if (rc != IV_OK) {
            log_warn("runner: renewing lease of job %s: %s", v[i]->job.job_id, e.msg);
            if (mono_ms() - v[i]->lease_ok_ms <= r->lease_ms)
                continue;
            /* The lease has run out: another runner may take the job over now, so this
             * one must not keep loading it. */
            alive = false;
            log_error("runner: lost the lease of run %s (store unreachable): stopping it",
                      v[i]->job.run_id);
        } else if (alive) {
            v[i]->lease_ok_ms = mono_ms();
        }
        if (!alive) {
            pthread_mutex_lock(&r->mu);
            if (!v[i]->done && v[i]->cancel == RUN_CANCEL_NONE) {
                v[i]->cancel = cancel ? RUN_CANCEL_REQUESTED : RUN_CANCEL_DELETED;
                if (v[i]->child) {
                    log_info("runner: run %s %s: killing tap pid %d", v[i]->job.run_id,
                             cancel ? "was cancelled" : "is gone (connector deleted)",
                             (int)child_pid(v[i]->child));
                    child_cancel(v[i]->child);
                }
            }
            pthread_mutex_unlock(&r->mu);
        }
    }
    free(v);
}

static void reap_expired(struct runner *r)
{
    struct store_dead_job *dead = NULL;
    size_t n = 0;
    struct iv_err e = {0};
    if (store_jobs_take_expired(r->st, r->id, now_ms(), r->lease_ms, &dead, &n, &e) != IV_OK) {
        log_warn("runner: looking for expired leases: %s", e.msg);
        return;
    }
    for (size_t i = 0; i < n; i++)
        runner_fail_dead_job(r, &dead[i]);
    /* The dead runner's private run directories (decrypted configs) go too when it ran on
     * this host; on another host, the next runner started there sweeps them. */
    if (n > 0)
        run_files_sweep_stale();
    free(dead);
}

static void claim(struct runner *r, int running)
{
    struct store_claim_limits lim = {
        .max_total = r->cfg->max_concurrent_runs,
        .max_per_tenant = r->cfg->max_runs_per_tenant,
        .max_claim = r->cfg->max_concurrent_runs - running,
    };
    if (lim.max_claim <= 0)
        return;
    struct store_job *jobs = NULL;
    size_t n = 0;
    struct iv_err e = {0};
    if (store_jobs_claim(r->st, r->id, now_ms(), r->lease_ms, &lim, &jobs, &n, &e) != IV_OK) {
        log_warn("runner: claiming due connectors: %s", e.msg);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        log_info("runner: claimed connector %s (run %s, trigger %s)", jobs[i].conn.id,
                 jobs[i].run_id, jobs[i].trigger);
        start_run(r, &jobs[i]);
    }
    store_jobs_free(jobs, n);
}

/* The store's wake hook: work arrived (a discovery request), poll now. */
static void runner_wake(void *ctx)
{
    struct runner *r = ctx;
    pthread_mutex_lock(&r->mu);
    r->wake_pending = true;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
}

static void *loop_main(void *arg)
{
    struct runner *r = arg;
    int64_t poll_ms = (int64_t)(r->cfg->poll_interval_s * 1000.0);
    if (poll_ms < 10)
        poll_ms = 10;
    for (;;) {
        pthread_mutex_lock(&r->mu);
        bool stop = r->stopping;
        pthread_mutex_unlock(&r->mu);
        int running = reap_finished(r);
        renew_leases(r);
        if (stop)
            break;
        reap_expired(r);
        claim(r, running);
        discovery_reap(r, false);
        discovery_claim(r);
        /* Until the next tick, or earlier: a trigger (store_wake in this process, NOTIFY on
         * PostgreSQL from any API server), a discovery request (the wake hook), a finished
         * run, runner_stop. */
        pthread_mutex_lock(&r->mu);
        bool again = r->stopping || r->wake_pending;
        r->wake_pending = false;
        pthread_mutex_unlock(&r->mu);
        if (!again)
            store_wait_for_work(r->st, (int)poll_ms);
    }
    return NULL;
}

/* Splits a colon list into a NULL-terminated vector of strings (owned). */
static char **split_dirs(const char *list)
{
    size_t n = 0, cap = 4;
    char **v = xcalloc(cap + 1, sizeof *v);
    for (const char *p = list; p && *p;) {
        size_t len = strcspn(p, ":");
        if (len > 0) {
            if (n == cap) {
                cap *= 2;
                v = xrealloc(v, (cap + 1) * sizeof *v);
            }
            v[n++] = xasprintf("%.*s", (int)len, p);
            v[n] = NULL;
        }
        p += len;
        if (*p == ':')
            p++;
    }
    return v;
}

static void free_dirs(char **v)
{
    for (char **p = v; p && *p; p++)
        free(*p);
    free(v);
}

/* An operator-listed tap directory must exist, be absolute, and not expose Ivory's own
 * data directory (neither the directory itself nor a parent of it). */
static int check_tap_dirs(char **dirs, const char *var, const char *data_real,
                          struct iv_err *e)
{
    for (char **p = dirs; *p; p++) {
        if ((*p)[0] != '/')
            return iv_err_set(e, IV_EINVAL, "%s: '%.200s' is not an absolute path", var, *p);
        char *real = realpath(*p, NULL);
        if (!real)
            return iv_err_set(e, IV_EINVAL, "%s: '%.200s': %s", var, *p, strerror(errno));
        size_t l = strlen(real);
        bool exposes = data_real && (!strcmp(real, "/") ||
                                     (!strncmp(data_real, real, l) &&
                                      (data_real[l] == '/' || data_real[l] == '\0')));
        free(real);
        if (exposes)
            return iv_err_set(e, IV_EINVAL, "%s: '%.200s' would show taps Ivory's data "
                              "directory", var, *p);
    }
    return IV_OK;
}

/* Turns the sandbox on (or logs loudly that it is off). A bad directory list is a
 * configuration error; a machine that cannot sandbox leaves r->sandbox_err set, and
 * every run then fails with it instead of running a tap unconfined. */
static int setup_sandbox(struct runner *r, struct iv_err *e)
{
    const struct iv_config *cfg = r->cfg;
    if (cfg->tap_sandbox_off) {
        child_sandbox_disable();
        log_warn("runner: IVORY_TAP_SANDBOX=off: taps run UNCONFINED with this process's "
                 "user and can read every file it can (docs/security.md)");
        return IV_OK;
    }
    char **ro = split_dirs(cfg->tap_path);
    char **data = split_dirs(cfg->tap_data_dirs);
    char **rw = split_dirs(cfg->tap_writable_dirs);
    char *data_real = realpath(cfg->data_dir, NULL);
    int rc = check_tap_dirs(data, "IVORY_TAP_DATA_DIRS", data_real, e);
    if (rc == IV_OK)
        rc = check_tap_dirs(rw, "IVORY_TAP_WRITABLE_DIRS", data_real, e);
    size_t n = 0;
    while (ro[n])
        n++;
    for (char **p = data; *p; p++) {
        ro = xrealloc(ro, (n + 2) * sizeof *ro);
        ro[n++] = xstrdup(*p);
        ro[n] = NULL;
    }
    if (rc == IV_OK) {
        const char *deny[] = {cfg->data_dir, NULL};
        double cpu = cfg->tap_cpu_s > 0 ? cfg->tap_cpu_s : cfg->run_timeout_s;
        struct child_sandbox sb = {
            .bwrap = cfg->bwrap,
            .ro_dirs = (const char *const *)ro,
            .rw_dirs = (const char *const *)rw,
            .deny_dirs = deny,
            .memory_bytes = (uint64_t)cfg->tap_memory_mb << 20,
            .cpu_seconds = (uint64_t)(cpu + 0.999),
            .file_bytes = (uint64_t)cfg->tap_file_mb << 20,
            .max_procs = (uint64_t)cfg->tap_max_procs,
        };
        struct iv_err se = {0};
        if (child_sandbox_enable(&sb, &se) == IV_OK) {
            log_info("runner: taps run in a bubblewrap sandbox (memory %d MiB, cpu %.0f s, "
                     "files %d MiB, processes %d; data dirs: %s)", cfg->tap_memory_mb, cpu,
                     cfg->tap_file_mb, cfg->tap_max_procs,
                     cfg->tap_data_dirs ? cfg->tap_data_dirs : "none");
        } else {
            snprintf(r->sandbox_err, sizeof r->sandbox_err, "taps are not run: no sandbox is "
                     "possible on this machine (%s); install bubblewrap, or set "
                     "IVORY_TAP_SANDBOX=off to run taps unconfined", se.msg);
            log_error("runner: %s", r->sandbox_err);
        }
    }
    free(data_real);
    free_dirs(ro);
    free_dirs(data);
    free_dirs(rw);
    return rc;
}

int runner_start(struct runner **out, const struct iv_config *cfg, struct store *st,
                 struct iv_err *e)
{
    struct runner *r = xcalloc(1, sizeof(*r));
    r->cfg = cfg;
    r->st = st;
    int rc = master_key_load(cfg->master_key_b64, cfg->data_dir, r->master, e);
    if (rc == IV_OK)
        rc = setup_sandbox(r, e);
    if (rc != IV_OK) {
        free(r);
        return rc;
    }
    if (cfg->config_key_b64 && *cfg->config_key_b64) {
        struct iv_err ke = {0};
        if (key_from_base64(cfg->config_key_b64, r->config_key, &ke) == IV_OK)
            r->have_config_key = true;
        else
            snprintf(r->config_key_err, sizeof r->config_key_err, "IVORY_CONFIG_KEY is not "
                     "a base64 32-byte key (%s)", ke.msg);
    }
    if (cfg->config_private_key) {
        struct iv_err ke = {0};
        if (jwe_key_load(&r->jwe_key, cfg->config_private_key, &ke) != IV_OK)
            snprintf(r->jwe_key_err, sizeof r->jwe_key_err, "IVORY_CONFIG_PRIVATE_KEY: %s",
                     ke.msg);
        else if (!jwe_key_has_private(r->jwe_key))
            snprintf(r->jwe_key_err, sizeof r->jwe_key_err,
                     "IVORY_CONFIG_PRIVATE_KEY holds only a public key");
    }
    char host[64] = "host";
    gethostname(host, sizeof host - 1);
    uint8_t rnd[4];
    random_bytes(rnd, sizeof rnd);
    snprintf(r->id, sizeof r->id, "%.60s:%d:%02x%02x%02x%02x", host, (int)getpid(), rnd[0],
             rnd[1], rnd[2], rnd[3]);
    runner_report_key(r->master, r->id, r->report_key);
    double lease_s = cfg->poll_interval_s * 4;
    lease_s = lease_s < 3 ? 3 : lease_s > 120 ? 120 : lease_s;
    r->lease_ms = (int64_t)((cfg->runner_lease_s > 0 ? cfg->runner_lease_s : lease_s) * 1000.0);
    r->ckpt_rows = (int64_t)cfg->checkpoint_rows;
    r->ckpt_seconds = cfg->checkpoint_seconds;
    r->webhook_attempts = cfg->webhook_max_attempts;
    r->discover_timeout_s = cfg->discover_timeout_s > 0 ? cfg->discover_timeout_s : 300;
    r->discover_max_bytes = cfg->discover_max_bytes ? cfg->discover_max_bytes : 64u << 20;
    r->pol.cron_next = pol_cron_next;
    r->pol.backoff = pol_backoff;
    r->pol.breaker_failures = 3;
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv, NULL);
    run_files_sweep_stale();
    if (pthread_create(&r->loop, NULL, loop_main, r) != 0) {
        pthread_mutex_destroy(&r->mu);
        pthread_cond_destroy(&r->cv);
        free(r);
        return iv_err_set(e, IV_EIO, "runner: cannot start the poll thread");
    }
    r->loop_started = true;
    store_set_wake_hook(st, runner_wake, r);
    log_info("runner %s started: poll every %.3g s, lease %.3g s, max %d runs (%d per tenant)",
             r->id, cfg->poll_interval_s, (double)r->lease_ms / 1000.0,
             cfg->max_concurrent_runs, cfg->max_runs_per_tenant);
    *out = r;
    return IV_OK;
}

static bool all_done(struct runner *r)
{
    for (struct run *rn = r->runs; rn; rn = rn->next)
        if (!rn->done)
            return false;
    return true;
}

/* Waits (r->mu held) until every run is done or ms passed. */
static void wait_runs(struct runner *r, int64_t ms)
{
    int64_t end = mono_ms() + ms;
    while (!all_done(r)) {
        int64_t left = end - mono_ms();
        if (left <= 0)
            break;
        struct timespec ts;
        abs_deadline(&ts, left < 200 ? left : 200);
        pthread_cond_timedwait(&r->cv, &r->mu, &ts);
    }
}

void runner_stop(struct runner *r, double grace_s)
{
    if (!r)
        return;
    store_set_wake_hook(r->st, NULL, NULL);
    pthread_mutex_lock(&r->mu);
    r->stopping = true;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
    store_wake(r->st);
    if (r->loop_started)
        pthread_join(r->loop, NULL);
    discovery_reap(r, true);   /* a discovery tap is cancelled: the API answers 503 */

    /* Running syncs may finish within the grace period; leases are renewed meanwhile. */
    int64_t end = mono_ms() + (int64_t)(grace_s * 1000.0);
    pthread_mutex_lock(&r->mu);
    if (r->runs)
        log_info("runner: waiting up to %.3g s for %d running sync(s)", grace_s, r->nruns);
    while (!all_done(r) && mono_ms() < end) {
        pthread_mutex_unlock(&r->mu);
        renew_leases(r);
        pthread_mutex_lock(&r->mu);
        wait_runs(r, 1000);
    }
    /* Then cancel the rest: children killed, runs reported failed (webhooks get 5 s). */
    for (struct run *rn = r->runs; rn; rn = rn->next) {
        if (rn->done)
            continue;
        if (rn->cancel == RUN_CANCEL_NONE)
            rn->cancel = RUN_CANCEL_SHUTDOWN;
        if (rn->child)
            child_cancel(rn->child);
    }
    wait_runs(r, 5000);
    r->abort_webhooks = 1;
    pthread_mutex_unlock(&r->mu);
    reap_finished(r);
    /* Threads still inside a webhook attempt stop at its end; join them. */
    pthread_mutex_lock(&r->mu);
    while (r->runs) {
        struct run *rn = r->runs;
        r->runs = rn->next;
        pthread_mutex_unlock(&r->mu);
        run_join_free(rn);
        pthread_mutex_lock(&r->mu);
    }
    pthread_mutex_unlock(&r->mu);
    pthread_mutex_destroy(&r->mu);
    pthread_cond_destroy(&r->cv);
    log_info("runner %s stopped", r->id);
    child_sandbox_disable();
    OPENSSL_cleanse(r->master, sizeof r->master);
    OPENSSL_cleanse(r->report_key, sizeof r->report_key);
    OPENSSL_cleanse(r->config_key, sizeof r->config_key);
    jwe_key_free(r->jwe_key);
    free(r);
}
