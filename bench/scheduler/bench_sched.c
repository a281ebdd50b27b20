/*
 * bench_sched: the scheduler's store paths, measured on one store URL (SQLite file or
 * PostgreSQL). Prints figures; asserts nothing. Usage: bench_sched URL [N]
 *
 *   1. N connectors (default 100,000) over 100 tenants, 200 due: the median of 20
 *      due-selection + claim cycles (store_jobs_claim, 8 slots), what one runner poll costs;
 *   2. 2,000 connectors made due, 4 threads (4 runners, one store each) claiming 8 at a time
 *      until none is left: claims/s;
 *   3. those 2,000 runs finished through the webhook's effects (store_webhook_apply) by 4
 *      threads: effects/s;
 *   4. trigger -> claim latency: a runner thread waits in store_wait_for_work (1 s poll as
 *      the safety net) and claims; the main thread triggers one idle connector at a time, 50
 *      times: median and max.
 * The store is filled with plain INSERTs through src/db (one transaction per 1,000 rows).
 */
#include "db/db.h"
#include "store/store.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define TENANTS 100
#define CLAIMERS 4
#define BULK_DUE 2000
#define TRIGGERS 50

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static const char *g_url;

static void die(const char *what, const struct iv_err *e)
{
    fprintf(stderr, "bench_sched: %s: %s\n", what, e->msg);
    exit(1);
}

static int cmp64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* Tenants t0..t99, connectors c0..c(n-1) round-robin over them; next_run_at far ahead except
 * the first `due` (due now). One transaction per 1,000 rows. */
static void fill(int n, int due)
{
    struct db *d = NULL;
    struct iv_err e = {0};
    if (db_open(&d, g_url, &e) < 0)
        die("open", &e);
    int64_t now = now_ms();
    struct buf b;
    buf_init(&b, 0);
    buf_append_str(&b, "INSERT INTO tenants (id, slug, created_at) VALUES ");
    for (int t = 0; t < TENANTS; t++)
        buf_printf(&b, "%s('t%d', 't%d', %lld)", t ? "," : "", t, t, (long long)now);
    char *sql = buf_detach(&b, NULL);
    if (db_exec(d, sql, &e) < 0)
        die("tenants", &e);
    free(sql);
    for (int i = 0; i < n; i += 1000) {
        buf_init(&b, 0);
        buf_append_str(&b, "INSERT INTO connectors (id, tenant_id, source_system, tap_name,"
                           " connector_type, destination_catalog, destination_table,"
                           " iomete_namespace, sync_schedule, meltano_environment,"
                           " webhook_secret_enc, status, next_run_at, created_at, updated_at)"
                           " VALUES ");
        for (int k = i; k < i + 1000 && k < n; k++)
            buf_printf(&b, "%s('c%d', 't%d', 's', 'tap-x', 'singer', 'lake', 'tbl%d', 'ns',"
                           " '@yearly', 'prod', 'x', 'active', %lld, %lld, %lld)",
                       k == i ? "" : ",", k, k % TENANTS, k,
                       (long long)(k < due ? now - 1000 : now + 86400000LL * 300),
                       (long long)now, (long long)now);
        sql = buf_detach(&b, NULL);
        if (db_begin(d, &e) < 0 || db_exec(d, sql, &e) < 0 || db_commit(d, &e) < 0)
            die("connectors", &e);
        free(sql);
    }
    db_close(d);
}

static void make_due(int from, int count)
{
    struct db *d = NULL;
    struct iv_err e = {0};
    if (db_open(&d, g_url, &e) < 0)
        die("open", &e);
    char sql[256];
    snprintf(sql, sizeof sql,
             "UPDATE connectors SET next_run_at = %lld WHERE CAST(SUBSTR(id, 2) AS INTEGER)"
             " >= %d AND CAST(SUBSTR(id, 2) AS INTEGER) < %d", (long long)(now_ms() - 1000), from,
             from + count);
    if (db_exec(d, sql, &e) < 0)
        die("make due", &e);
    db_close(d);
}

static const struct store_claim_limits many = {1000000, 1000000, 8};

/* ---- 2 + 3: claimers and webhook appliers -------------------------------------------- */

struct worker {
    int id;
    int busy;                 /* claims that failed busy and were retried */
    struct store_job *jobs;   /* claimed (phase 2), finished (phase 3) */
    size_t n, cap;
    size_t from, to;          /* phase 3: slice of all jobs */
    struct store_job **all;
};

static void *claimer(void *arg)
{
    struct worker *w = arg;
    struct store *s = NULL;
    struct iv_err e = {0};
    char rid[32];
    snprintf(rid, sizeof rid, "bench-runner-%d", w->id);
    if (store_open(&s, g_url, 2, false, &e) < 0)
        die("store", &e);
    for (int idle = 0; idle < 3;) {
        struct store_job *jobs = NULL;
        size_t n = 0;
        if (store_jobs_claim(s, rid, now_ms(), 600000, &many, &jobs, &n, &e) < 0) {
            w->busy++;          /* busy (SQLite lock wait over) or deadlock: try again */
            usleep(1000);
            continue;
        }
        idle = n ? 0 : idle + 1;
        for (size_t i = 0; i < n; i++) {
            if (w->n == w->cap) {
                w->cap = w->cap ? w->cap * 2 : 256;
                w->jobs = xrealloc(w->jobs, w->cap * sizeof *w->jobs);
            }
            w->jobs[w->n++] = jobs[i];          /* moved: not freed below */
        }
        free(jobs);
    }
    store_close(s);
    return NULL;
}

static int64_t pol_cron(const char *schedule, int64_t after_s)
{
    (void)schedule;
    return after_s + 86400 * 365;
}

static int64_t pol_backoff(int failures, int64_t now_s, int64_t cap_s)
{
    (void)failures;
    (void)cap_s;
    return now_s + 60;
}

static const struct store_policy policy = {pol_cron, pol_backoff, 3};

static void *applier(void *arg)
{
    struct worker *w = arg;
    struct store *s = NULL;
    struct iv_err e = {0};
    if (store_open(&s, g_url, 2, false, &e) < 0)
        die("store", &e);
    for (size_t i = w->from; i < w->to; i++) {
        struct store_job *j = w->all[i];
        struct store_webhook h = {.connector_id = j->conn.id, .run_id = j->run_id,
                                  .completed = true, .rows_synced = 10, .rows_loaded = 10,
                                  .tap_state = "{\"bookmarks\":{}}", .started_at = j->started_at,
                                  .completed_at = now_ms()};
        struct store_webhook_result res;
        if (store_webhook_apply(s, j->conn.tenant_id, &h, &policy, now_ms(), &res, &e) < 0)
            fprintf(stderr, "webhook: %s\n", e.msg);
    }
    store_close(s);
    return NULL;
}

/* ---- 4: trigger -> claim --------------------------------------------------------------- */

struct waiter {
    struct store *s;
    volatile int stop;
    volatile int64_t claimed_at;
    volatile int claimed;
};

static void *runner_loop(void *arg)
{
    struct waiter *w = arg;
    struct iv_err e = {0};
    while (!w->stop) {
        struct store_job *jobs = NULL;
        size_t n = 0;
        if (store_jobs_claim(w->s, "bench-wake", now_ms(), 600000, &many, &jobs, &n, &e) ==
                IV_OK && n) {
            w->claimed_at = mono_ms();
            __atomic_store_n(&w->claimed, 1, __ATOMIC_RELEASE);
        }
        store_jobs_free(jobs, n);
        store_wait_for_work(w->s, 1000);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench_sched URL [N]\n");
        return 2;
    }
    g_url = argv[1];
    setvbuf(stdout, NULL, _IOLBF, 0);
    int n = argc > 2 ? atoi(argv[2]) : 100000;
    iv_log_level = LOG_ERROR;
    struct store *s = NULL;
    struct iv_err e = {0};
    if (store_open(&s, g_url, 4, true, &e) < 0)
        die("store", &e);
    int64_t t0 = mono_ms();
    fill(n, 200);
    printf("fill: %d connectors in %.1f s\n", n, (double)(mono_ms() - t0) / 1000);

    /* 1. one poll cycle at N connectors: 8 claimed of 64 due, 20 times */
    int64_t cyc[20];
    for (int i = 0; i < 20; i++) {
        struct store_job *jobs = NULL;
        size_t got = 0;
        int64_t a = now_us();
        if (store_jobs_claim(s, "bench-cycle", now_ms(), 600000, &many, &jobs, &got, &e) < 0)
            die("claim", &e);
        cyc[i] = now_us() - a;
        store_jobs_free(jobs, got);
    }
    qsort(cyc, 20, sizeof cyc[0], cmp64);
    printf("poll cycle (due selection + claim of 8) at %d connectors: median %.2f ms, max %.2f ms\n",
           n, cyc[10] / 1000.0, cyc[19] / 1000.0);

    /* 2. claims/s, 4 claimers */
    make_due(1000, BULK_DUE);
    struct worker w[CLAIMERS];
    pthread_t th[CLAIMERS];
    memset(w, 0, sizeof w);
    t0 = now_us();
    for (int i = 0; i < CLAIMERS; i++) {
        w[i].id = i;
        pthread_create(&th[i], NULL, claimer, &w[i]);
    }
    size_t total = 0;
    int busy = 0;
    for (int i = 0; i < CLAIMERS; i++) {
        pthread_join(th[i], NULL);
        total += w[i].n;
        busy += w[i].busy;
    }
    double secs = (double)(now_us() - t0) / 1e6;
    printf("claims with %d runners: %zu in %.2f s = %.0f claims/s (%d busy retries)\n",
           CLAIMERS, total, secs, (double)total / secs, busy);

    /* 3. webhook effects/s, 4 threads */
    struct store_job **all = xcalloc(total ? total : 1, sizeof *all);
    size_t k = 0;
    for (int i = 0; i < CLAIMERS; i++)
        for (size_t j = 0; j < w[i].n; j++)
            all[k++] = &w[i].jobs[j];
    struct worker a[CLAIMERS];
    memset(a, 0, sizeof a);
    t0 = now_us();
    for (int i = 0; i < CLAIMERS; i++) {
        a[i].all = all;
        a[i].from = total * (size_t)i / CLAIMERS;
        a[i].to = total * (size_t)(i + 1) / CLAIMERS;
        pthread_create(&th[i], NULL, applier, &a[i]);
    }
    for (int i = 0; i < CLAIMERS; i++)
        pthread_join(th[i], NULL);
    secs = (double)(now_us() - t0) / 1e6;
    printf("webhook effects with %d threads: %zu in %.2f s = %.0f/s\n", CLAIMERS, total, secs,
           (double)total / secs);
    free(all);
    for (int i = 0; i < CLAIMERS; i++) {
        store_jobs_free(w[i].jobs, w[i].n);
    }

    /* 4. trigger -> claim latency (wake-up), 1 s poll as the safety net */
    /* The runner thread shares the store with the "API" (the trigger), as in `ivory serve`:
     * SQLite's wake-up is in-process; PostgreSQL's NOTIFY would reach any process. */
    struct waiter wt = {.s = s};
    pthread_t rt;
    pthread_create(&rt, NULL, runner_loop, &wt);
    usleep(200000);
    int64_t lat[TRIGGERS];
    for (int i = 0; i < TRIGGERS; i++) {
        char cid[32], tid[16];
        int c = 30000 + i;
        snprintf(cid, sizeof cid, "c%d", c);
        snprintf(tid, sizeof tid, "t%d", c % TENANTS);
        __atomic_store_n(&wt.claimed, 0, __ATOMIC_RELEASE);
        int64_t at = mono_ms();
        struct store_conn_change ch;
        if (store_connector_trigger(s, tid, cid, now_ms(), &ch, &e) < 0)
            die("trigger", &e);
        while (!__atomic_load_n(&wt.claimed, __ATOMIC_ACQUIRE))
            usleep(200);
        lat[i] = wt.claimed_at - at;
        usleep(20000);
    }
    wt.stop = 1;
    store_wake(wt.s);
    pthread_join(rt, NULL);
    qsort(lat, TRIGGERS, sizeof lat[0], cmp64);
    printf("trigger -> claim (runner waiting, 1 s poll): median %lld ms, max %lld ms over %d\n",
           (long long)lat[TRIGGERS / 2], (long long)lat[TRIGGERS - 1], TRIGGERS);
    store_close(s);
    return 0;
}
