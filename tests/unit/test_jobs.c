/*
 * test_jobs: the runner's queries (store/jobs.c) against a real SQLite file: claim order and
 * limits (global, per tenant, per call), no second claim while a job exists, lease renewal and
 * the vanished-job signal after a delete, expired-lease takeover by exactly one runner, run
 * info for bookmark reconciliation, and several store handles (as several runner processes
 * would have) claiming concurrently from threads without claiming any connector twice.
 */
#include "unit.h"
#include "store_fixture.h"
#include "store/store.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void make_connector(struct store *s, const char *tid, const char *cid, int64_t next)
{
    struct iv_err e = {0};
    struct store_connector k = {
        .id = (char *)cid, .tenant_id = (char *)tid, .source_system = "crm",
        .tap_name = "tap-csv", .connector_type = "custom", .destination_catalog = "lake",
        .destination_table = "t", .iomete_namespace = "ivory_tenant_x",
        .sync_schedule = "@daily", .meltano_environment = "prod",
        .webhook_secret_enc = "sealed", .next_run_at = next,
    };
    int rc = store_connector_create(s, &k, &e);
    if (rc != IV_OK)
        fprintf(stderr, "create: %s\n", e.msg);
    assert_int_equal(rc, IV_OK);
    assert_int_equal(store_job_set_bookmark(s, tid, cid, "{\"b\":1}", &e), IV_OK);
}

static int claim(struct store *s, const char *runner, int64_t now, int total, int per_tenant,
                 int max_claim, char ids[][64])
{
    struct store_claim_limits lim = {total, per_tenant, max_claim};
    struct store_job *jobs = NULL;
    size_t n = 0;
    struct iv_err e = {0};
    int rc = store_jobs_claim(s, runner, now, 1000, &lim, &jobs, &n, &e);
    if (rc != IV_OK)
        fprintf(stderr, "claim: %s\n", e.msg);
    assert_int_equal(rc, IV_OK);
    for (size_t i = 0; i < n; i++) {
        if (ids)
            snprintf(ids[i], 64, "%s", jobs[i].conn.id);
        assert_non_null(jobs[i].conn.source_system);          /* full row loaded */
        assert_true(jobs[i].has_catalog);
        assert_string_equal(jobs[i].conn.tap_state, "{\"b\":1}");
    }
    store_jobs_free(jobs, n);
    return (int)n;
}

static void test_claim_order_and_limits(void **state)
{
    struct fx *f = *state;
    make_tenant(f->s, "ta", "tenant-a");
    make_tenant(f->s, "tb", "tenant-b");
    make_connector(f->s, "ta", "a1", 1000);
    make_connector(f->s, "ta", "a2", 2000);
    make_connector(f->s, "ta", "a3", 3000);
    make_connector(f->s, "tb", "b1", 1500);
    make_connector(f->s, "tb", "b-later", 50000);   /* not due */
    char ids[8][64];
    /* global 3, per tenant 2: a1, b1, a2 in next_run_at order; a3 waits for tenant a */
    assert_int_equal(claim(f->s, "r1", 10000, 3, 2, 10, ids), 3);
    assert_string_equal(ids[0], "a1");
    assert_string_equal(ids[1], "b1");
    assert_string_equal(ids[2], "a2");
    assert_int_equal(claim(f->s, "r1", 10000, 10, 2, 10, ids), 0);   /* a at its limit */
    assert_int_equal(claim(f->s, "r1", 10000, 3, 3, 10, ids), 0);    /* global limit */
    /* the run rows exist, running, with the bookmark as state_before */
    struct store_run *runs = NULL;
    size_t n = 0;
    struct iv_err e = {0};
    assert_int_equal(store_run_list(f->s, "ta", "a1", 10, &runs, &n, &e), IV_OK);
    assert_int_equal(n, 1);
    assert_string_equal(runs[0].status, "running");
    assert_string_equal(runs[0].state_before, "{\"b\":1}");
    assert_string_equal(runs[0].iomete_table, "ivory_tenant_x.t");
    char run_id[64], job_id[64];
    snprintf(run_id, sizeof run_id, "%s", runs[0].id);
    store_runs_free(runs, n);
    /* finishing a1's job and its run frees a slot for a3 */
    struct db *d = store__acquire(f->s);
    struct db_stmt *st = NULL;
    assert_int_equal(db_prepare(d, "SELECT id FROM runner_jobs WHERE run_id = ?", &st, &e), IV_OK);
    db_bind_text(st, 1, run_id);
    assert_int_equal(db_step(st, &e), DB_ROW);
    snprintf(job_id, sizeof job_id, "%s", db_col_text(st, 0));
    db_finalize(st);
    assert_int_equal(db_exec(d, "UPDATE sync_runs SET status = 'completed'", &e), IV_OK);
    store__release(f->s, d);
    assert_int_equal(store_job_finish(f->s, job_id, run_id, "tail text", &e), IV_OK);
    /* per-call limit */
    assert_int_equal(claim(f->s, "r1", 10000, 10, 2, 0, ids), 0);
    assert_int_equal(claim(f->s, "r1", 10000, 10, 2, 1, ids), 1);
    /* a1 is due again (its next_run_at was not moved: no webhook here) and comes first */
    assert_string_equal(ids[0], "a1");
    assert_int_equal(claim(f->s, "r1", 10000, 10, 3, 5, ids), 1);
    assert_string_equal(ids[0], "a3");
}

/* A backlog that fills the claim's first range (600 due connectors of one tenant, all due
 * before anyone else's) must not hide the other tenants: the claim falls back to per-tenant
 * seeks and still goes round-robin (a's first, b's, c's, then a's second ...). */
/* Inserts `count` active connectors of `tenant` named <prefix>NNNN, due from next_run_at
 * first_due on (one ms apart), in one transaction. */
static void insert_due_connectors(struct store *s, const char *tenant, const char *prefix,
                                  int count, int first_due)
{
    struct iv_err e = {0};
    struct db *d = store__acquire(s);
    assert_int_equal(db_begin(d, &e), IV_OK);
    for (int i = 0; i < count; i++) {
        char sql[640];
        snprintf(sql, sizeof sql,
                 "INSERT INTO connectors (id, tenant_id, source_system, tap_name, connector_type,"
                 " destination_catalog, destination_table, iomete_namespace, sync_schedule,"
                 " meltano_environment, webhook_secret_enc, status, next_run_at, tap_state,"
                 " created_at, updated_at) VALUES ('%s%03d', '%s', 'crm', 'tap-csv', 'custom',"
                 " 'lake', 't', 'ns', '@daily', 'prod', 'sealed', 'active', %d, '{\"b\":1}',"
                 " 1, 1)", prefix, i, tenant, first_due + i);
        assert_int_equal(db_exec(d, sql, &e), IV_OK);
    }
    assert_int_equal(db_commit(d, &e), IV_OK);
    store__release(s, d);
}

static void test_claim_fair_behind_backlog(void **state)
{
    struct fx *f = *state;
    make_tenant(f->s, "ta", "tenant-a");
    make_tenant(f->s, "tb", "tenant-b");
    make_tenant(f->s, "tc", "tenant-c");
    insert_due_connectors(f->s, "ta", "a", 600, 1000);
    make_connector(f->s, "tb", "b1", 5000);
    make_connector(f->s, "tc", "c1", 6000);
    make_connector(f->s, "tc", "c2", 6001);
    char ids[8][64];
    assert_int_equal(claim(f->s, "r1", 10000, 100, 10, 5, ids), 5);
    assert_string_equal(ids[0], "a000");
    assert_string_equal(ids[1], "b1");
    assert_string_equal(ids[2], "c1");
    assert_string_equal(ids[3], "a001");
    assert_string_equal(ids[4], "c2");
    /* per-tenant limit 3: a has 2 running so it gets one more, b and c have nothing due */
    assert_int_equal(claim(f->s, "r1", 10000, 100, 3, 5, ids), 1);
    assert_string_equal(ids[0], "a002");
}

/* One claim picks as many connectors as the runner has free slots (IVORY_MAX_CONCURRENT_RUNS
 * goes up to 1024): the claim's statements grow with that count and must not be cut short. */
static void test_claim_many_at_once(void **state)
{
    struct fx *f = *state;
    make_tenant(f->s, "ta", "tenant-a");
    insert_due_connectors(f->s, "ta", "m", 1100, 1000);
    assert_int_equal(claim(f->s, "r1", 10000, 1024, 1024, 1024, NULL), 1024);
    assert_int_equal(claim(f->s, "r2", 10000, 2048, 2048, 1024, NULL), 76);
}

static void test_renew_delete_expire(void **state)
{
    struct fx *f = *state;
    struct iv_err e = {0};
    make_tenant(f->s, "ta", "tenant-a");
    make_connector(f->s, "ta", "c1", 1000);
    make_connector(f->s, "ta", "c2", 1000);
    struct store_claim_limits lim = {10, 10, 10};
    struct store_job *jobs = NULL;
    size_t n = 0;
    assert_int_equal(store_jobs_claim(f->s, "r1", 10000, 500, &lim, &jobs, &n, &e), IV_OK);
    assert_int_equal(n, 2);
    bool alive = false;
    assert_int_equal(store_job_renew(f->s, "r1", jobs[0].job_id, 20000, &alive, NULL, &e), IV_OK);
    assert_true(alive);
    assert_int_equal(store_job_renew(f->s, "other", jobs[0].job_id, 20000, &alive, NULL, &e), IV_OK);
    assert_false(alive);                       /* not this runner's job */
    assert_int_equal(store_job_update(f->s, jobs[0].job_id, 4242, "some stderr", &e), IV_OK);
    /* delete -> the job row is gone -> renewal says so */
    const char *deleted = jobs[1].conn.id;
    assert_int_equal(store_connector_delete(f->s, "ta", deleted, &e), IV_OK);
    bool cancel = true;
    assert_int_equal(store_job_renew(f->s, "r1", jobs[1].job_id, 20000, &alive, &cancel, &e),
                     IV_OK);
    assert_false(alive);
    assert_false(cancel);                      /* gone, not cancelled */
    /* jobs[0]'s lease ends at 20000: nothing expired before, one runner takes it after */
    struct store_dead_job *dead = NULL;
    assert_int_equal(store_jobs_take_expired(f->s, "r2", 19999, 1000, &dead, &n, &e), IV_OK);
    assert_int_equal(n, 0);
    free(dead);
    assert_int_equal(store_jobs_take_expired(f->s, "r2", 20001, 1000, &dead, &n, &e), IV_OK);
    assert_int_equal(n, 1);
    assert_string_equal(dead[0].job_id, jobs[0].job_id);
    assert_string_equal(dead[0].runner_id, "r1");
    assert_string_equal(dead[0].tenant_id, "ta");
    free(dead);
    assert_int_equal(store_jobs_take_expired(f->s, "r3", 20002, 1000, &dead, &n, &e), IV_OK);
    assert_int_equal(n, 0);                    /* re-leased to r2 */
    free(dead);
    /* finish copies the job's log tail to the run */
    assert_int_equal(store_job_finish(f->s, jobs[0].job_id, jobs[0].run_id, NULL, &e), IV_OK);
    struct store_run *runs = NULL;
    assert_int_equal(store_run_list(f->s, "ta", jobs[0].conn.id, 10, &runs, &n, &e), IV_OK);
    assert_string_equal(runs[0].log_tail, "some stderr");
    store_runs_free(runs, n);
    /* run info for reconciliation */
    bool exists = false, later = true;
    char status[16];
    assert_int_equal(store_job_run_info(f->s, "ta", jobs[0].conn.id, jobs[0].run_id, &exists,
                                        status, &later, &e), IV_OK);
    assert_true(exists);
    assert_string_equal(status, "running");
    assert_false(later);
    assert_int_equal(store_job_run_info(f->s, "tb", jobs[0].conn.id, jobs[0].run_id, &exists,
                                        status, &later, &e), IV_OK);
    assert_false(exists);                      /* tenant-scoped */
    assert_int_equal(store_job_set_bookmark(f->s, "ta", jobs[0].conn.id, "{\"x\":2}", &e), IV_OK);
    struct store_connector c = {0};
    assert_int_equal(store_connector_get(f->s, "ta", jobs[0].conn.id, &c, &e), IV_OK);
    assert_string_equal(c.tap_state, "{\"x\":2}");
    store_connector_release(&c);
    store_jobs_free(jobs, 2);
}

/* Several store handles on one file claim from threads: no connector is claimed twice. */
#define NCONN 40
#define NTHREADS 4
struct worker {
    char url[512];
    char claimed[NCONN][64];
    int n;
};

static void *claimer(void *arg)
{
    struct worker *w = arg;
    struct store *s = NULL;
    struct iv_err e = {0};
    if (store_open(&s, w->url, 2, false, &e) != IV_OK)
        return NULL;
    char rid[32];
    snprintf(rid, sizeof rid, "r-%p", (void *)w);
    for (int round = 0; round < 200; round++) {
        char ids[2][64];
        struct store_claim_limits lim = {1000, 1000, 1};
        struct store_job *jobs = NULL;
        size_t n = 0;
        if (store_jobs_claim(s, rid, 10000, 1000, &lim, &jobs, &n, &e) != IV_OK)
            break;
        for (size_t i = 0; i < n && w->n < NCONN; i++)
            snprintf(w->claimed[w->n++], 64, "%s", jobs[i].conn.id);
        store_jobs_free(jobs, n);
        (void)ids;
        if (n == 0 && round > 20)
            break;
        usleep(500);   /* let the other handles in, as separate runner processes would */
    }
    store_close(s);
    return NULL;
}

static void test_concurrent_claims(void **state)
{
    struct fx *f = *state;
    make_tenant(f->s, "ta", "tenant-a");
    for (int i = 0; i < NCONN; i++) {
        char id[32];
        snprintf(id, sizeof id, "c%02d", i);
        make_connector(f->s, "ta", id, 1000 + i);
    }
    struct worker *w = calloc(NTHREADS, sizeof *w);
    pthread_t th[NTHREADS];
    for (int i = 0; i < NTHREADS; i++) {
        snprintf(w[i].url, sizeof w[i].url, "%s", f->path);
        assert_int_equal(pthread_create(&th[i], NULL, claimer, &w[i]), 0);
    }
    int total = 0, workers_with_claims = 0;
    for (int i = 0; i < NTHREADS; i++) {
        pthread_join(th[i], NULL);
        total += w[i].n;
        workers_with_claims += w[i].n > 0;
    }
    assert_int_equal(total, NCONN);
    for (int a = 0; a < NTHREADS; a++)
        for (int i = 0; i < w[a].n; i++)
            for (int b = 0; b < NTHREADS; b++)
                for (int k = 0; k < w[b].n; k++)
                    if (a != b || i != k)
                        assert_string_not_equal(w[a].claimed[i], w[b].claimed[k]);
    assert_true(workers_with_claims >= 2);
    free(w);
}

int main(void)
{
    snprintf(dbdir, sizeof dbdir, "/tmp/ivory-test-jobs-XXXXXX");
    if (!mkdtemp(dbdir))
        return 1;
    srand((unsigned)getpid());
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_claim_order_and_limits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_claim_fair_behind_backlog, setup, teardown),
        cmocka_unit_test_setup_teardown(test_claim_many_at_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_renew_delete_expire, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_claims, setup, teardown),
    };
    int rc = store_fixture_run_groups("jobs", tests, sizeof tests / sizeof tests[0]);
    rmdir(dbdir);
    return rc;
}
