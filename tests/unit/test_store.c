/*
 * test_store: the control-plane store against a real SQLite file: migrations,
 * tenant scoping (another tenant's id finds nothing), the connector status
 * transition table, trigger/pause/resume effects, the webhook's effects and
 * idempotency, the delete cascade, and the per-tenant generation counter
 * (every write path bumps the writer's tenant and no other; the list walk
 * reports the generation of the snapshot it read). The scheduling policy is a fake with
 * fixed answers so expected times are known without the cron code.
 */
#include "unit.h"
#include "store_fixture.h"
#include "store/store.h"
#include "store/store_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void make_connector(struct store *s, const char *tid, const char *cid, const char *sched)
{
    struct iv_err e = {0};
    struct store_connector k = {
        .id = (char *)cid, .tenant_id = (char *)tid, .source_system = "salesforce",
        .tap_name = "tap-salesforce", .connector_type = "meltano",
        .destination_catalog = "lake", .destination_table = "opps",
        .iomete_namespace = "ivory_tenant_x", .sync_schedule = (char *)sched,
        .meltano_environment = "prod", .webhook_secret_enc = "sealed",
        .next_run_at = 1000,
    };
    int rc = store_connector_create(s, &k, &e);
    if (rc != IV_OK)
        fprintf(stderr, "create: %s\n", e.msg);
    assert_int_equal(rc, IV_OK);
}

static void test_migrate_idempotent(void **state)
{
    struct fx *f = *state;
    int applied = -1, version = -1;
    struct iv_err e = {0};
    assert_int_equal(store_migrate(f->s, &applied, &version, &e), IV_OK);
    assert_int_equal(applied, 0);
    assert_int_equal(version, store_migrations[store_migrations_count - 1].version);
    assert_int_equal(store_ping(f->s, &e), IV_OK);
}

static void test_tenants(void **state)
{
    struct fx *f = *state;
    struct iv_err e = {0};
    struct store_tenant t;
    assert_int_equal(store_tenant_create(f->s, "t1", "acme-co", &t, &e), IV_OK);
    assert_string_equal(t.slug, "acme-co");
    assert_int_equal(store_tenant_create(f->s, "t1", "other", NULL, &e), IV_ECONFLICT);
    assert_int_equal(store_tenant_create(f->s, "t2", "acme-co", NULL, &e), IV_ECONFLICT);
    assert_int_equal(store_tenant_get(f->s, "t1", &t, &e), IV_OK);
    assert_string_equal(t.id, "t1");
    assert_int_equal(store_tenant_get_by_slug(f->s, "acme-co", &t, &e), IV_OK);
    assert_string_equal(t.id, "t1");
    assert_int_equal(store_tenant_get(f->s, "nope", &t, &e), IV_ENOTFOUND);
    char ns[80];
    store_tenant_namespace("acme-co-eu", ns);
    assert_string_equal(ns, "ivory_tenant_acme_co_eu");
}

static void test_catalogs_scoped(void **state)
{
    struct fx *f = *state;
    struct iv_err e = {0};
    make_tenant(f->s, "ta", "tenant-a");
    make_tenant(f->s, "tb", "tenant-b");
    struct store_catalog in = {.catalog_name = "lake", .catalog_type = "sql",
                               .catalog_uri = "local", .warehouse = "s3://bucket/x",
                               .storage_prefix = "q", .s3_secret_key_enc = "SEALED",
                               .metadata = "{\"k\":1}", .active = true};
    bool created = true;
    struct store_catalog out = {0};
    assert_int_equal(store_catalog_upsert(f->s, "ta", &in, &created, &out, &e), IV_OK);
    assert_false(created);                     /* same (tenant, name): update */
    assert_string_equal(out.catalog_type, "sql");
    assert_string_equal(out.s3_secret_key_enc, "SEALED");
    store_catalog_release(&out);
    in.s3_secret_key_enc = NULL;               /* omitted secret keeps the stored one */
    assert_int_equal(store_catalog_upsert(f->s, "ta", &in, &created, &out, &e), IV_OK);
    assert_string_equal(out.s3_secret_key_enc, "SEALED");
    store_catalog_release(&out);

    /* tenant b's catalog of the same name is untouched */
    assert_int_equal(store_catalog_get(f->s, "tb", "lake", &out, &e), IV_OK);
    assert_string_equal(out.catalog_type, "hadoop");
    assert_null(out.s3_secret_key_enc);
    store_catalog_release(&out);

    struct store_catalog *v = NULL;
    size_t n = 9;
    assert_int_equal(store_catalog_list(f->s, "ta", &v, &n, &e), IV_OK);
    assert_int_equal(n, 1);
    assert_string_equal(v[0].tenant_id, "ta");
    store_catalogs_free(v, n);
    assert_int_equal(store_catalog_list(f->s, "nobody", &v, &n, &e), IV_OK);
    assert_int_equal(n, 0);
    store_catalogs_free(v, n);

    assert_int_equal(store_catalog_deactivate(f->s, "ta", "missing", &e), IV_ENOTFOUND);
    assert_int_equal(store_catalog_deactivate(f->s, "ta", "lake", &e), IV_OK);
    assert_int_equal(store_catalog_get(f->s, "ta", "lake", &out, &e), IV_OK);
    assert_false(out.active);
    store_catalog_release(&out);
    assert_int_equal(store_catalog_get(f->s, "tb", "lake", &out, &e), IV_OK);
    assert_true(out.active);
    store_catalog_release(&out);
}

static void test_connector_scoping(void **state)
{
    struct fx *f = *state;
    struct iv_err e = {0};
    make_tenant(f->s, "ta", "tenant-a");
    make_tenant(f->s, "tb", "tenant-b");
    make_connector(f->s, "ta", "c1", "0 2 * * *");

    /* inactive or foreign catalog: refused, nothing written */
    assert_int_equal(store_catalog_deactivate(f->s, "tb", "lake", &e), IV_OK);
    struct store_connector k = {.id = "c2", .tenant_id = "tb", .source_system = "s",
                                .tap_name = "t", .connector_type = "meltano",
                                .destination_catalog = "lake", .destination_table = "x",
                                .iomete_namespace = "n", .sync_schedule = "* * * * *",
                                .meltano_environment = "prod", .webhook_secret_enc = "s",
                                .next_run_at = 1};
    assert_int_equal(store_connector_create(f->s, &k, &e), IV_EINVAL);
    assert_non_null(strstr(e.msg, "destination_catalog"));

    struct store_connector got;
    assert_int_equal(store_connector_get(f->s, "tb", "c1", &got, &e), IV_ENOTFOUND);
    assert_int_equal(store_connector_get(f->s, "ta", "c1", &got, &e), IV_OK);
    assert_string_equal(got.tenant_id, "ta");
    assert_int_equal(got.status, CONN_ACTIVE);
    assert_int_equal(got.next_run_at, 1000);
    assert_int_equal(got.last_synced_at, STORE_NULL_TIME);
    assert_false(got.has_last_run);
    assert_int_equal(got.run_count, 0);
    store_connector_release(&got);

    struct store_connector *v = NULL;
    size_t n = 9;
    assert_int_equal(store_connector_list(f->s, "tb", NULL, &v, &n, &e), IV_OK);
    assert_int_equal(n, 0);
    store_connectors_free(v, n);
    assert_int_equal(store_connector_list(f->s, "ta", NULL, &v, &n, &e), IV_OK);
    assert_int_equal(n, 1);
    store_connectors_free(v, n);
    assert_int_equal(store_connector_list(f->s, "ta", "paused", &v, &n, &e), IV_OK);
    assert_int_equal(n, 0);
    store_connectors_free(v, n);

    struct store_conn_change ch;
    assert_int_equal(store_connector_trigger(f->s, "tb", "c1", 5, &ch, &e), IV_ENOTFOUND);
    assert_int_equal(store_connector_pause(f->s, "tb", "c1", &ch, &e), IV_ENOTFOUND);
    assert_int_equal(store_connector_resume(f->s, "tb", "c1", 5, &ch, &e), IV_ENOTFOUND);
    assert_int_equal(store_connector_delete(f->s, "tb", "c1", &e), IV_ENOTFOUND);
    struct store_run *runs = NULL;
    assert_int_equal(store_run_list(f->s, "tb", "c1", 50, &runs, &n, &e), IV_ENOTFOUND);
    assert_int_equal(store_run_start(f->s, "tb", "c1", "r1", "manual", 1, NULL, NULL, &e),
                     IV_ENOTFOUND);
    /* the foreign calls changed nothing */
    assert_int_equal(store_connector_get(f->s, "ta", "c1", &got, &e), IV_OK);
    assert_int_equal(got.status, CONN_ACTIVE);
    assert_int_equal(got.next_run_at, 1000);
    store_connector_release(&got);
}

static void test_transition_table(void **state)
{
    (void)state;
    assert_int_equal(store_conn_next_status(CONN_ACTIVE, CEV_TRIGGER), CONN_ACTIVE);
    assert_int_equal(store_conn_next_status(CONN_ACTIVE, CEV_PAUSE), CONN_PAUSED);
    assert_int_equal(store_conn_next_status(CONN_ACTIVE, CEV_RESUME), CONN_ACTIVE);
    assert_int_equal(store_conn_next_status(CONN_ACTIVE, CEV_BREAKER), CONN_ERROR);
    assert_int_equal(store_conn_next_status(CONN_PAUSED, CEV_TRIGGER), -1);
    assert_int_equal(store_conn_next_status(CONN_PAUSED, CEV_PAUSE), CONN_PAUSED);
    assert_int_equal(store_conn_next_status(CONN_PAUSED, CEV_RESUME), CONN_ACTIVE);
    assert_int_equal(store_conn_next_status(CONN_PAUSED, CEV_BREAKER), -1);
    assert_int_equal(store_conn_next_status(CONN_ERROR, CEV_TRIGGER), -1);
    assert_int_equal(store_conn_next_status(CONN_ERROR, CEV_PAUSE), CONN_PAUSED);
    assert_int_equal(store_conn_next_status(CONN_ERROR, CEV_RESUME), CONN_ACTIVE);
    assert_int_equal(store_conn_next_status((enum store_conn_status)7, CEV_PAUSE), -1);
    enum store_conn_status st;
    assert_int_equal(store_conn_status_parse("error", &st), IV_OK);
    assert_int_equal(st, CONN_ERROR);
    assert_int_equal(store_conn_status_parse("deleted", &st), IV_EINVAL);
}

static void test_trigger_pause_resume(void **state)
{
    struct fx *f = *state;
    struct iv_err e = {0};
    struct store_conn_change ch;
    struct store_connector got;
    make_tenant(f->s, "ta", "tenant-a");
    make_connector(f->s, "ta", "c1", "0 2 * * *");

    assert_int_equal(store_connector_trigger(f->s, "ta", "c1", 777, &ch, &e), IV_OK);
    assert_false(ch.followup);
    assert_string_equal(ch.source_system, "salesforce");
    assert_int_equal(store_connector_get(f->s, "ta", "c1", &got, &e), IV_OK);
    assert_int_equal(got.next_run_at, 777);
    store_connector_release(&got);

    /* a trigger during a running sync queues one follow-up, next_run_at untouched */
    assert_int_equal(store_run_start(f->s, "ta", "c1", "r1", "schedule", 100, "ns.t", NULL, &e),
                     IV_OK);
    assert_int_equal(store_connector_trigger(f->s, "ta", "c1", 999, &ch, &e), IV_OK);
    assert_true(ch.followup);
    assert_int_equal(store_connector_trigger(f->s, "ta", "c1", 999, &ch, &e), IV_OK);
    assert_int_equal(store_connector_get(f->s, "ta", "c1", &got, &e), IV_OK);
    assert_true(got.followup_queued);
    assert_int_equal(got.next_run_at, 777);
    assert_true(got.has_last_run);
    assert_string_equal(got.last_run_status, "running");
    store_connector_release(&got);

    assert_int_equal(store_connector_pause(f->s, "ta", "c1", &ch, &e), IV_OK);
    assert_int_equal(ch.status, CONN_PAUSED);
    assert_int_equal(store_connector_pause(f->s, "ta", "c1", &ch, &e), IV_OK);   /* idempotent */
    assert_int_equal(store_connector_get(f->s, "ta", "c1", &got, &e), IV_OK);
    assert_int_equal(got.next_run_at, STORE_NULL_TIME);
    assert_false(got.followup_queued);
    store_connector_release(&got);
    assert_int_equal(store_connector_trigger(f->s, "ta", "c1", 5, &ch, &e), IV_ECONFLICT);

    assert_int_equal(store_connector_resume(f->s, "ta", "c1", 123456, &ch, &e), IV_OK);
    assert_int_equal(ch.status, CONN_ACTIVE);
    assert_int_equal(store_connector_get(f->s, "ta", "c1", &got, &e), IV_OK);
    assert_int_equal(got.next_run_at, 123456);
    assert_int_equal(got.status, CONN_ACTIVE);
    store_connector_release(&got);
    /* resume of an active connector changes nothing */
    assert_int_equal(store_connector_resume(f->s, "ta", "c1", 9, &ch, &e), IV_OK);
    assert_int_equal(store_connector_get(f->s, "ta", "c1", &got, &e), IV_OK);
    assert_int_equal(got.next_run_at, 123456);
    store_connector_release(&got);
}

/* Fake policy: cron fires at after + 3600; backoff = now + 60 * failures, capped. */
static int64_t fake_cron(const char *sched, int64_t after_s)
{
    (void)sched;
    return after_s + 3600;
}
static int64_t fake_backoff(int failures, int64_t now, int64_t cap)
{
    int64_t t = now + 60 * failures;
    return cap > 0 && t > cap ? cap : t;
}
static const struct store_policy policy = {fake_cron, fake_backoff, 3};

static void webhook(struct store *s, const char *run, bool ok, int64_t loaded, int64_t now_ms_at,
                    struct store_webhook_result *res, int expect)
{
    struct iv_err e = {0};
    struct store_webhook w = {
        .connector_id = "c1", .run_id = run, .completed = ok, .rows_synced = loaded + 1,
        .rows_loaded = loaded, .transform_errors = 1,
        .tap_state = ok ? "{\"bookmarks\":{\"a\":1}}" : NULL,
        .started_at = now_ms_at - 5000, .completed_at = now_ms_at,
        .error_msg = ok ? NULL : "tap exited with status 1", .iomete_table = "ns.opps",
        .snapshot_id = ok ? "42" : NULL,
    };
    int rc = store_webhook_apply(s, "ta", &w, &policy, now_ms_at, res, &e);
    if (rc != expect)
        fprintf(stderr, "webhook: %s\n", e.msg);
    assert_int_equal(rc, expect);
}

static void test_webhook_effects(void **state)
{
    struct fx *f = *state;
    struct iv_err e = {0};
    struct store_webhook_result res;
    struct store_connector got;
    const int64_t T = 1700000000000;    /* ms */
    make_tenant(f->s, "ta", "tenant-a");
    make_connector(f->s, "ta", "c1", "0 2 * * *");

    /* unknown run, and a run of the right id under the wrong tenant: not found */
    webhook(f->s, "nope", true, 10, T, &res, IV_ENOTFOUND);
    assert_int_equal(store_run_start(f->s, "ta", "c1", "r1", "schedule", T - 6000, "ns.opps",
                                     NULL, &e), IV_OK);
    struct store_webhook w = {.connector_id = "c1", .run_id = "r1", .completed = true,
                              .started_at = STORE_NULL_TIME, .completed_at = STORE_NULL_TIME};
    assert_int_equal(store_webhook_apply(f->s, "tb", &w, &policy, T, &res, &e), IV_ENOTFOUND);

    webhook(f->s, "r1", true, 117, T, &res, IV_OK);
    assert_false(res.replay);
    assert_int_equal(res.status, CONN_ACTIVE);
    assert_int_equal(res.next_run_at, (T / 1000 + 3600) * 1000);
    assert_int_equal(store_connector_get(f->s, "ta", "c1", &got, &e), IV_OK);
    assert_int_equal(got.rows_total, 117);
    assert_int_equal(got.total_rows_loaded, 117);
    assert_int_equal(got.consecutive_failures, 0);
    assert_int_equal(got.last_synced_at, T - 5000);
    assert_string_equal(got.tap_state, "{\"bookmarks\":{\"a\":1}}");
    assert_string_equal(got.last_run_status, "completed");
    assert_int_equal(got.last_run_rows, 118);
    assert_int_equal(got.last_run_at, T);
    assert_int_equal(got.run_count, 1);
    store_connector_release(&got);

    /* replay: 200-equivalent, nothing changes */
    webhook(f->s, "r1", true, 117, T + 1000, &res, IV_OK);
    assert_true(res.replay);
    assert_int_equal(store_connector_get(f->s, "ta", "c1", &got, &e), IV_OK);
    assert_int_equal(got.rows_total, 117);
    store_connector_release(&got);

    /* three failures: backoff, backoff, breaker */
    int64_t now = T + 10000;
    for (int i = 1; i <= 3; i++) {
        char run[16];
        snprintf(run, sizeof run, "f%d", i);
        assert_int_equal(store_run_start(f->s, "ta", "c1", run, "retry", now - 6000 + i, NULL,
                                         NULL, &e), IV_OK);
        webhook(f->s, run, false, 0, now, &res, IV_OK);
        assert_int_equal(res.consecutive_failures, i);
        if (i < 3) {
            assert_int_equal(res.status, CONN_ACTIVE);
            assert_int_equal(res.next_run_at, (now / 1000 + 60 * i) * 1000);
        } else {
            assert_int_equal(res.status, CONN_ERROR);
            assert_int_equal(res.next_run_at, STORE_NULL_TIME);
        }
    }
    assert_int_equal(store_connector_get(f->s, "ta", "c1", &got, &e), IV_OK);
    assert_int_equal(got.status, CONN_ERROR);
    assert_int_equal(got.rows_total, 117);               /* failures add nothing */
    assert_string_equal(got.tap_state, "{\"bookmarks\":{\"a\":1}}");   /* kept */
    assert_string_equal(got.last_error, "tap exited with status 1");
    store_connector_release(&got);

    struct store_run *runs = NULL;
    size_t n = 0;
    assert_int_equal(store_run_list(f->s, "ta", "c1", 2, &runs, &n, &e), IV_OK);
    assert_int_equal(n, 2);
    assert_string_equal(runs[0].id, "f3");               /* latest first */
    assert_string_equal(runs[1].id, "f2");
    assert_string_equal(runs[0].status, "failed");
    store_runs_free(runs, n);
    assert_int_equal(store_run_list(f->s, "ta", "c1", 0, &runs, &n, &e), IV_EINVAL);
    assert_int_equal(store_run_list(f->s, "ta", "c1", 201, &runs, &n, &e), IV_EINVAL);

    /* resume resets the failures */
    struct store_conn_change ch;
    assert_int_equal(store_connector_resume(f->s, "ta", "c1", 555, &ch, &e), IV_OK);
    assert_int_equal(store_connector_get(f->s, "ta", "c1", &got, &e), IV_OK);
    assert_int_equal(got.consecutive_failures, 0);
    assert_int_equal(got.status, CONN_ACTIVE);
    store_connector_release(&got);

    /* completion with a queued follow-up: next run now, flag cleared */
    assert_int_equal(store_run_start(f->s, "ta", "c1", "r9", "manual", now + 1, NULL, NULL, &e),
                     IV_OK);
    assert_int_equal(store_connector_trigger(f->s, "ta", "c1", now, &ch, &e), IV_OK);
    assert_true(ch.followup);
    webhook(f->s, "r9", true, 3, now + 50000, &res, IV_OK);
    assert_int_equal(res.next_run_at, now + 50000);
    assert_int_equal(store_connector_get(f->s, "ta", "c1", &got, &e), IV_OK);
    assert_false(got.followup_queued);
    assert_int_equal(got.rows_total, 120);
    store_connector_release(&got);
}

static void test_delete_cascade(void **state)
{
    struct fx *f = *state;
    struct iv_err e = {0};
    make_tenant(f->s, "ta", "tenant-a");
    make_connector(f->s, "ta", "c1", "0 2 * * *");
    make_connector(f->s, "ta", "c2", "0 2 * * *");
    assert_int_equal(store_run_start(f->s, "ta", "c1", "r1", "schedule", 1, NULL, NULL, &e), IV_OK);
    assert_int_equal(store_run_start(f->s, "ta", "c2", "r2", "schedule", 1, NULL, NULL, &e), IV_OK);
    struct db *d = store__acquire(f->s);
    assert_int_equal(db_exec(d,
        "INSERT INTO field_mappings (id, connector_id, tenant_id, source_stream, source_field,"
        " target_column, target_type) VALUES ('m1','c1','ta','s','f','col','string'),"
        " ('m2','c2','ta','s','f','col','string');"
        "INSERT INTO runner_jobs (id, connector_id, run_id, tenant_id, created_at)"
        " VALUES ('j1','c1','r1','ta',1), ('j2','c2','r2','ta',1);"
        "UPDATE connectors SET tap_state = '{\"b\":1}' WHERE id = 'c1';", &e), IV_OK);
    store__release(f->s, d);

    assert_int_equal(store_connector_delete(f->s, "ta", "c1", &e), IV_OK);
    assert_int_equal(store_connector_delete(f->s, "ta", "c1", &e), IV_ENOTFOUND);

    d = store__acquire(f->s);
    static const char *const counts[] = {
        "SELECT COUNT(*) FROM connectors WHERE id = 'c1'",
        "SELECT COUNT(*) FROM sync_runs WHERE connector_id = 'c1'",
        "SELECT COUNT(*) FROM field_mappings WHERE connector_id = 'c1'",
        "SELECT COUNT(*) FROM runner_jobs WHERE connector_id = 'c1'",
        "SELECT COUNT(*) FROM sync_runs WHERE connector_id = 'c2'",
        "SELECT COUNT(*) FROM field_mappings WHERE connector_id = 'c2'",
        "SELECT COUNT(*) FROM runner_jobs WHERE connector_id = 'c2'",
    };
    static const int64_t want[] = {0, 0, 0, 0, 1, 1, 1};
    for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++) {
        struct db_stmt *st = NULL;
        assert_int_equal(db_prepare(d, counts[i], &st, &e), IV_OK);
        assert_int_equal(db_step(st, &e), DB_ROW);
        if (db_col_int64(st, 0) != want[i])
            fprintf(stderr, "%s\n", counts[i]);
        assert_int_equal(db_col_int64(st, 0), want[i]);
        db_finalize(st);
    }
    store__release(f->s, d);
}


/* ---- generation ------------------------------------------------------------------------ */

static int64_t gen_of(struct store *s, const char *tid)
{
    int64_t g = -1, epoch = -1;
    struct iv_err e = {0};
    assert_int_equal(store_tenant_generation(s, tid, &g, &epoch, &e), IV_OK);
    assert_true(epoch > 0);
    return g;
}

static void raw_sql(struct store *s, const char *sql)
{
    struct iv_err e = {0};
    struct db *d = store__acquire(s);
    int rc = db_exec(d, sql, &e);
    if (rc != IV_OK)
        fprintf(stderr, "%s: %s\n", sql, e.msg);
    assert_int_equal(rc, IV_OK);
    store__release(s, d);
}

/* ta's generation moved (by at least one) and tb's did not. */
#define EXPECT_BUMP(what, stmt)                                                                \
    do {                                                                                       \
        int64_t a0 = gen_of(f->s, "ta"), b0 = gen_of(f->s, "tb");                              \
        stmt;                                                                                  \
        int64_t a1 = gen_of(f->s, "ta"), b1 = gen_of(f->s, "tb");                              \
        if (a1 <= a0 || b1 != b0)                                                              \
            fprintf(stderr, "%s: ta %lld -> %lld, tb %lld -> %lld\n", what, (long long)a0,    \
                    (long long)a1, (long long)b0, (long long)b1);                              \
        assert_true(a1 > a0);                                                                  \
        assert_int_equal(b1, b0);                                                              \
    } while (0)

#define EXPECT_SAME(what, stmt)                                                                \
    do {                                                                                       \
        int64_t a0 = gen_of(f->s, "ta");                                                       \
        stmt;                                                                                  \
        if (gen_of(f->s, "ta") != a0)                                                          \
            fprintf(stderr, "%s moved the generation\n", what);                                \
        assert_int_equal(gen_of(f->s, "ta"), a0);                                              \
    } while (0)

static int count_visit(void *ctx, const struct store_connector *c)
{
    (void)c;
    (*(int *)ctx)++;
    return 0;
}

static void test_generation_triggers(void **state)
{
    struct fx *f = *state;
    struct iv_err e = {0};
    struct store_conn_change ch;
    struct store_webhook_result res;
    int64_t g = -1, epoch = -1;
    assert_int_equal(store_tenant_generation(f->s, "nobody", &g, &epoch, &e), IV_ENOTFOUND);
    make_tenant(f->s, "ta", "tenant-a");
    make_tenant(f->s, "tb", "tenant-b");
    make_connector(f->s, "tb", "cb", "0 2 * * *");

    struct store_catalog cat = {.catalog_name = "lake2", .catalog_type = "hadoop",
                                .warehouse = "file:///tmp/w", .storage_prefix = "q",
                                .active = true};
    EXPECT_BUMP("catalog insert",
                assert_int_equal(store_catalog_upsert(f->s, "ta", &cat, NULL, NULL, &e), IV_OK));
    EXPECT_BUMP("catalog update",
                assert_int_equal(store_catalog_upsert(f->s, "ta", &cat, NULL, NULL, &e), IV_OK));
    EXPECT_BUMP("catalog deactivate",
                assert_int_equal(store_catalog_deactivate(f->s, "ta", "lake2", &e), IV_OK));
    EXPECT_BUMP("connector create", make_connector(f->s, "ta", "c1", "0 2 * * *"));
    EXPECT_BUMP("trigger",
                assert_int_equal(store_connector_trigger(f->s, "ta", "c1", 5, &ch, &e), IV_OK));
    EXPECT_BUMP("pause",
                assert_int_equal(store_connector_pause(f->s, "ta", "c1", &ch, &e), IV_OK));
    EXPECT_BUMP("resume", assert_int_equal(
                              store_connector_resume(f->s, "ta", "c1", 10, &ch, &e), IV_OK));
    /* The runner's claim (store/jobs.c) inserts a run: no code of its own bumps anything.
     * tb's connector is paused first so that only ta's is due. */
    assert_int_equal(store_connector_pause(f->s, "tb", "cb", &ch, &e), IV_OK);
    struct store_claim_limits lim = {.max_total = 10, .max_per_tenant = 10, .max_claim = 10};
    struct store_job *jobs = NULL;
    size_t n = 0;
    EXPECT_BUMP("runner claim", assert_int_equal(store_jobs_claim(f->s, "r1", 1000000, 60000,
                                                                  &lim, &jobs, &n, &e), IV_OK));
    char run[37] = "";
    for (size_t i = 0; i < n; i++)
        if (!strcmp(jobs[i].conn.tenant_id, "ta"))
            snprintf(run, sizeof run, "%s", jobs[i].run_id);
    assert_true(run[0]);
    store_jobs_free(jobs, n);
    EXPECT_BUMP("bookmark", assert_int_equal(
                                store_job_set_bookmark(f->s, "ta", "c1", "{\"b\":2}", &e), IV_OK));
    struct store_webhook w = {.connector_id = "c1", .run_id = run, .completed = true,
                              .rows_loaded = 3, .started_at = STORE_NULL_TIME,
                              .completed_at = STORE_NULL_TIME};
    EXPECT_BUMP("webhook", assert_int_equal(store_webhook_apply(f->s, "ta", &w, &policy, 2000000,
                                                                &res, &e), IV_OK));
    EXPECT_BUMP("run start", assert_int_equal(store_run_start(f->s, "ta", "c1", "r9", "manual",
                                                              7, NULL, NULL, &e), IV_OK));
    EXPECT_BUMP("mapping insert",
                raw_sql(f->s, "INSERT INTO field_mappings (id, connector_id, tenant_id,"
                              " source_stream, source_field, target_column, target_type)"
                              " VALUES ('m1', 'c1', 'ta', 's', 'f', 'col', 'string')"));
    EXPECT_BUMP("mapping update",
                raw_sql(f->s, "UPDATE field_mappings SET position = 2 WHERE id = 'm1'"));
    EXPECT_BUMP("mapping delete", raw_sql(f->s, "DELETE FROM field_mappings WHERE id = 'm1'"));

    /* Reads move nothing; the list walk reports the generation it read. */
    int rows = 0;
    int64_t wg = -1, we = -1;
    EXPECT_SAME("reads", {
        struct store_connector got;
        assert_int_equal(store_connector_get(f->s, "ta", "c1", &got, &e), IV_OK);
        store_connector_release(&got);
        assert_int_equal(store_connector_each(f->s, "ta", NULL, count_visit, &rows, &wg, &we,
                                              &e), IV_OK);
    });
    assert_int_equal(rows, 1);
    assert_int_equal(wg, gen_of(f->s, "ta"));
    /* A refused change (trigger while paused) writes nothing and moves nothing. */
    assert_int_equal(store_connector_pause(f->s, "ta", "c1", &ch, &e), IV_OK);
    EXPECT_SAME("refused trigger",
                assert_int_equal(store_connector_trigger(f->s, "ta", "c1", 5, &ch, &e),
                                 IV_ECONFLICT));
    EXPECT_BUMP("delete", assert_int_equal(store_connector_delete(f->s, "ta", "c1", &e), IV_OK));
    /* A tenant without a row: the walk says so with -1 and finds nothing. */
    rows = 0;
    assert_int_equal(store_connector_each(f->s, "nobody", NULL, count_visit, &rows, &wg, &we, &e),
                     IV_OK);
    assert_int_equal(rows, 0);
    assert_int_equal(wg, -1);
}

/* PostgreSQL (migration 9): open write transactions of one tenant do not wait for each
 * other — up to 16, one generation shard each — and every commit moves the generation by
 * its row count; the 17th waits (here: runs into lock_timeout) instead of taking a 17th
 * shard. SQLite serialises writers anyway, so there is nothing to show there. */
static void test_generation_concurrent_writers(void **state)
{
    struct fx *f = *state;
    if (!fixture_pg)
        return;
    enum { N = 16 };
    struct iv_err e = {0};
    make_tenant(f->s, "ta", "tenant-a");
    char id[16], sql[160];
    for (int i = 0; i <= N; i++) {
        snprintf(id, sizeof id, "c%d", i);
        make_connector(f->s, "ta", id, "0 2 * * *");
    }
    int64_t g0 = gen_of(f->s, "ta");
    struct db *d[N + 1] = {0};
    for (int i = 0; i <= N; i++) {
        assert_int_equal(db_open(&d[i], f->path, &e), IV_OK);
        assert_int_equal(db_exec(d[i], "SET lock_timeout = '1s'", &e), IV_OK);
        assert_int_equal(db_begin(d[i], &e), IV_OK);
    }
    for (int i = 0; i < N; i++) {
        /* two rows each: the second reuses the transaction's shard */
        for (int r = 0; r < 2; r++) {
            snprintf(sql, sizeof sql, "UPDATE connectors SET updated_at = %d WHERE id = 'c%d'",
                     r + 1, i);
            int rc = db_exec(d[i], sql, &e);
            if (rc != IV_OK)
                fprintf(stderr, "writer %d: %s\n", i, e.msg);
            assert_int_equal(rc, IV_OK);
        }
    }
    snprintf(sql, sizeof sql, "UPDATE connectors SET updated_at = 3 WHERE id = 'c%d'", N);
    assert_true(db_exec(d[N], sql, &e) < 0);      /* all 16 shards held: it waited */
    db_rollback(d[N]);
    assert_int_equal(gen_of(f->s, "ta"), g0);      /* nothing committed yet */
    for (int i = 0; i < N; i++) {
        assert_int_equal(db_commit(d[i], &e), IV_OK);
        assert_int_equal(gen_of(f->s, "ta"), g0 + 2 * (i + 1));
    }
    for (int i = 0; i <= N; i++)
        db_close(d[i]);
    int64_t shards = -1;
    struct db *q = store__acquire(f->s);
    struct db_stmt *st = NULL;
    assert_int_equal(db_prepare(q, "SELECT COUNT(*) FROM tenant_generations"
                                    " WHERE tenant_id = 'ta' AND n > 0", &st, &e), IV_OK);
    assert_int_equal(db_step(st, &e), DB_ROW);
    shards = db_col_int64(st, 0);
    db_finalize(st);
    store__release(f->s, q);
    assert_int_equal(shards, N);                   /* each writer had its own shard */
}

/* store_connector_each hands out the same rows as store_connector_list. */
struct each_cmp {
    struct store_connector *v;
    size_t n, i;
};

static int cmp_visit(void *ctx, const struct store_connector *c)
{
    struct each_cmp *x = ctx;
    assert_true(x->i < x->n);
    const struct store_connector *l = &x->v[x->i++];
    assert_string_equal(c->id, l->id);
    assert_string_equal(c->source_system, l->source_system);
    assert_string_equal(c->sync_schedule, l->sync_schedule);
    assert_int_equal(c->status, l->status);
    assert_int_equal(c->next_run_at, l->next_run_at);
    assert_int_equal(c->has_last_run, l->has_last_run);
    if (l->last_run_status)
        assert_string_equal(c->last_run_status, l->last_run_status);
    else
        assert_null(c->last_run_status);
    assert_int_equal(c->last_run_at, l->last_run_at);
    assert_int_equal(c->rows_total, l->rows_total);
    return 0;
}

static void test_connector_each_matches_list(void **state)
{
    struct fx *f = *state;
    struct iv_err e = {0};
    struct store_conn_change ch;
    make_tenant(f->s, "ta", "tenant-a");
    make_connector(f->s, "ta", "c1", "0 2 * * *");
    make_connector(f->s, "ta", "c2", "0 3 * * *");
    make_connector(f->s, "ta", "c3", "0 4 * * *");
    assert_int_equal(store_connector_pause(f->s, "ta", "c2", &ch, &e), IV_OK);
    assert_int_equal(store_run_start(f->s, "ta", "c3", "r1", "manual", 1000, NULL, NULL, &e),
                     IV_OK);
    assert_int_equal(store_run_start(f->s, "ta", "c3", "r2", "manual", 2000, NULL, NULL, &e),
                     IV_OK);
    const char *filters[] = {NULL, "active", "paused", "error"};
    for (size_t k = 0; k < 4; k++) {
        struct each_cmp x = {0};
        assert_int_equal(store_connector_list(f->s, "ta", filters[k], &x.v, &x.n, &e), IV_OK);
        assert_int_equal(store_connector_each(f->s, "ta", filters[k], cmp_visit, &x, NULL, NULL,
                                              &e), IV_OK);
        assert_int_equal(x.i, x.n);
        store_connectors_free(x.v, x.n);
    }
}

static void test_db_errors(void **state)
{
    (void)state;
    struct db *d = NULL;
    struct iv_err e = {0};
    /* Nothing listens on port 1: the failure names PostgreSQL and comes at once. */
    int64_t t0 = now_ms();
    assert_int_equal(db_open(&d, "postgresql://ivory@127.0.0.1:1/x?connect_timeout=2", &e),
                     IV_EAGAIN);
    assert_non_null(strstr(e.msg, "cannot connect to PostgreSQL"));
    assert_true(now_ms() - t0 < 3000);
    assert_null(d);
    assert_int_equal(db_open(&d, "mysql://x", &e), IV_EINVAL);
    assert_int_equal(db_open(&d, "sqlite:", &e), IV_EINVAL);
    assert_null(d);
}

/* Stream catalog: tenant-scoped, compare-and-set on the version; discovery requests: scoped
 * insert, claim once, finish only while running, abandon only while unfinished. */
static int wake_count;
static void count_wake(void *ctx)
{
    (void)ctx;
    wake_count++;
}

static void test_stream_catalog_and_discovery(void **state)
{
    struct fx *f = *state;
    struct iv_err e = {0};
    make_tenant(f->s, "ta", "tenant-a");
    make_tenant(f->s, "tb", "tenant-b");
    make_connector(f->s, "ta", "c1", "0 2 * * *");

    struct store_stream_catalog sc;
    assert_int_equal(store_stream_catalog_get(f->s, "tb", "c1", &sc, &e), IV_ENOTFOUND);
    assert_int_equal(store_stream_catalog_get(f->s, "ta", "c1", &sc, &e), IV_OK);
    assert_null(sc.doc);
    assert_int_equal(sc.discovered_at, STORE_NULL_TIME);
    int64_t v0 = sc.version;
    store_stream_catalog_release(&sc);

    struct store_stream_catalog_write w = {.doc = "{\"streams\":[]}", .expect_version = v0,
                                           .discovered_at = 5000};
    assert_int_equal(store_stream_catalog_put(f->s, "tb", "c1", &w, &e), IV_ECONFLICT);
    assert_int_equal(store_stream_catalog_put(f->s, "ta", "c1", &w, &e), IV_OK);
    /* a second writer that read the same version loses */
    w.doc = "{\"streams\":[1]}";
    assert_int_equal(store_stream_catalog_put(f->s, "ta", "c1", &w, &e), IV_ECONFLICT);
    w.expect_version = v0 + 1;
    w.discovered_at = STORE_NULL_TIME;
    w.set_state = true;
    w.new_state = "{\"bookmarks\":{}}";
    w.refuse_if_running = true;
    assert_int_equal(store_stream_catalog_put(f->s, "ta", "c1", &w, &e), IV_OK);
    assert_int_equal(store_stream_catalog_get(f->s, "ta", "c1", &sc, &e), IV_OK);
    assert_string_equal(sc.doc, "{\"streams\":[1]}");
    assert_int_equal(sc.discovered_at, 5000);   /* kept */
    assert_int_equal(sc.version, v0 + 2);
    assert_string_equal(sc.tap_state, "{\"bookmarks\":{}}");
    assert_false(sc.running);
    store_stream_catalog_release(&sc);

    wake_count = 0;
    store_set_wake_hook(f->s, count_wake, NULL);
    assert_int_equal(store_discovery_request(f->s, "tb", "c1", "r0", 1, &e), IV_ENOTFOUND);
    assert_int_equal(store_discovery_request(f->s, "ta", "c1", "r1", 1, &e), IV_OK);
    assert_int_equal(wake_count, 1);
    store_set_wake_hook(f->s, NULL, NULL);
    struct store_discovery d;
    assert_int_equal(store_discovery_get(f->s, "tb", "r1", &d, &e), IV_ENOTFOUND);
    struct store_discovery *v = NULL;
    size_t n = 0;
    assert_int_equal(store_discovery_claim(f->s, "runner-1", 10, 1000, 4, &v, &n, &e), IV_OK);
    assert_int_equal(n, 1);
    assert_string_equal(v[0].id, "r1");
    assert_string_equal(v[0].tenant_id, "ta");
    store_discoveries_free(v, n);
    assert_int_equal(store_discovery_claim(f->s, "runner-2", 10, 1000, 4, &v, &n, &e), IV_OK);
    assert_int_equal(n, 0);   /* claimed once */
    store_discoveries_free(v, n);
    assert_int_equal(store_discovery_finish(f->s, "r1", "failed", 502, "crash", NULL, 20, &e),
                     IV_OK);
    /* a late abandon or second finish changes nothing */
    assert_int_equal(store_discovery_abandon(f->s, "ta", "r1", 504, "late", &e), IV_OK);
    assert_int_equal(store_discovery_finish(f->s, "r1", "done", 200, NULL, "{}", 30, &e), IV_OK);
    assert_int_equal(store_discovery_get(f->s, "ta", "r1", &d, &e), IV_OK);
    assert_string_equal(d.status, "failed");
    assert_int_equal(d.http_status, 502);
    assert_string_equal(d.detail, "crash");
    store_discovery_release(&d);
    /* deleting the connector removes its requests */
    assert_int_equal(store_connector_delete(f->s, "ta", "c1", &e), IV_OK);
    assert_int_equal(store_discovery_get(f->s, "ta", "r1", &d, &e), IV_ENOTFOUND);
}

/* The store URL as logged: a password never appears. */
static void test_db_url_redact(void **state)
{
    (void)state;
    char out[256];
    db_url_redact("postgresql://ivory:s3cret@db:5432/ivory?sslmode=require&password=x2&a=b", out,
                  sizeof out);
    assert_string_equal(out, "postgresql://ivory:***@db:5432/ivory?sslmode=require&password=***&a=b");
    assert_null(strstr(out, "s3cret"));
    db_url_redact("postgresql://ivory@db/ivory", out, sizeof out);
    assert_string_equal(out, "postgresql://ivory@db/ivory");
    db_url_redact("postgres://h/db?password=zz", out, sizeof out);
    assert_string_equal(out, "postgres://h/db?password=***");
    db_url_redact("sqlite:/var/lib/ivory/ivory.db", out, sizeof out);
    assert_string_equal(out, "sqlite:/var/lib/ivory/ivory.db");
}

/* A trigger wakes a store_wait_for_work waiter at once (in-process pipe on SQLite; on
 * PostgreSQL the waiter also LISTENs), where the timeout would otherwise be 5 s. */
static void test_trigger_wakes_waiter(void **state)
{
    struct fx *f = *state;
    struct iv_err e = {0};
    make_tenant(f->s, "ta", "tenant-a");
    make_connector(f->s, "ta", "c1", "0 2 * * *");
    assert_int_equal(store_wait_for_work(f->s, 0), 0);          /* nothing pending */
    struct store_conn_change ch;
    assert_int_equal(store_connector_trigger(f->s, "ta", "c1", now_ms(), &ch, &e), IV_OK);
    int64_t t0 = now_ms();
    assert_int_equal(store_wait_for_work(f->s, 5000), 1);
    assert_true(now_ms() - t0 < 1000);
    /* On PostgreSQL the same trigger also arrives as a NOTIFY: one more wake-up at most */
    store_wait_for_work(f->s, 200);
    /* drained: the next wait times out */
    t0 = now_ms();
    assert_int_equal(store_wait_for_work(f->s, 100), 0);
    assert_true(now_ms() - t0 >= 90);
    if (!fixture_pg)
        return;
    /* PostgreSQL: a store of another process (no shared pipe) hears the NOTIFY that the
     * trigger's store sends after its commit. */
    struct store *other = NULL;
    assert_int_equal(store_open(&other, f->path, 1, false, &e), IV_OK);
    assert_int_equal(store_wait_for_work(other, 0), 0);          /* LISTENing, nothing yet */
    assert_int_equal(store_connector_trigger(f->s, "ta", "c1", now_ms(), &ch, &e), IV_OK);
    t0 = now_ms();
    assert_int_equal(store_wait_for_work(other, 5000), 1);
    assert_true(now_ms() - t0 < 1000);
    store_close(other);
}

int main(void)
{
    snprintf(dbdir, sizeof dbdir, "/tmp/ivory-test-store-%d", (int)getpid());
    mkdir_p(dbdir, 0700);
    srand((unsigned)getpid());
    iv_log_level = LOG_ERROR;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_migrate_idempotent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tenants, setup, teardown),
        cmocka_unit_test_setup_teardown(test_catalogs_scoped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_connector_scoping, setup, teardown),
        cmocka_unit_test(test_transition_table),
        cmocka_unit_test_setup_teardown(test_trigger_pause_resume, setup, teardown),
        cmocka_unit_test_setup_teardown(test_webhook_effects, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delete_cascade, setup, teardown),
        cmocka_unit_test(test_db_errors),
        cmocka_unit_test(test_db_url_redact),
        cmocka_unit_test_setup_teardown(test_trigger_wakes_waiter, setup, teardown),
        cmocka_unit_test_setup_teardown(test_generation_triggers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_generation_concurrent_writers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_connector_each_matches_list, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stream_catalog_and_discovery, setup, teardown),
    };
    int rc = store_fixture_run_groups("store", tests, sizeof tests / sizeof tests[0]);
    rmdir(dbdir);
    return rc;
}
