/*
 * test_store_upgrade: a store created at the OLDEST schema version (migration 1 only), with
 * data written the way that version's binary wrote it, is upgraded by store_open to the
 * newest version and every row reads back intact through today's store API; migrating again
 * changes nothing; a store newer than the binary is refused. Also the read-only version
 * probe of `ivory migrate --check` and the VACUUM INTO snapshot of `ivory backup`.
 * New migrations need no change here: the test always starts from version 1 and ends at
 * store_schema_latest().
 */
#include "unit.h"
#include "store/store_internal.h"

#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[64];

static const char v1_rows[] =
    "INSERT INTO tenants (id, slug, created_at) VALUES ('t1', 'acme', 1000);"
    "INSERT INTO tenant_catalogs (id, tenant_id, catalog_name, catalog_type, warehouse,"
    " storage_prefix, created_at, updated_at) VALUES ('c1', 't1', 'lake', 'hadoop',"
    " 'file:///w', 'acme', 1000, 1000);"
    "INSERT INTO connectors (id, tenant_id, source_system, tap_name, connector_type,"
    " destination_catalog, destination_table, iomete_namespace, sync_schedule,"
    " meltano_environment, webhook_secret_enc, status, rows_total, last_synced_at,"
    " next_run_at, tap_state, created_at, updated_at) VALUES ('k1', 't1', 'crm', 'tap-csv',"
    " 'singer', 'lake', 'customers', 'ivory_tenant_acme', '0 * * * *', 'dev', 'sealed',"
    " 'active', 42, 2000, 9000, '{\"bookmarks\":{\"customers\":{\"id\":42}}}', 1500, 2500);"
    "INSERT INTO sync_runs (id, connector_id, tenant_id, status, trigger, rows_synced,"
    " rows_loaded, started_at, completed_at, state_after, snapshot_id, updated_at) VALUES"
    " ('r1', 'k1', 't1', 'completed', 'manual', 42, 42, 2000, 2100,"
    " '{\"bookmarks\":{\"customers\":{\"id\":42}}}', '777', 2100);"
    "INSERT INTO field_mappings (id, connector_id, tenant_id, source_stream, source_field,"
    " target_column, target_type) VALUES ('m1', 'k1', 't1', 'customers', 'id', 'id', 'long');";

static char *path_in_dir(const char *name)
{
    return xasprintf("%s/%s", dir, name);
}

/* A SQLite file at schema version 1 holding v1_rows. */
static void make_v1_store(const char *file)
{
    struct db *d = NULL;
    struct iv_err e = {0};
    char *url = xasprintf("sqlite:%s", file);
    assert_int_equal(db_open(&d, url, &e), IV_OK);
    int applied = 0;
    assert_int_equal(db_migrate(d, store_migrations, 1, &applied, &e), IV_OK);
    assert_int_equal(applied, 1);
    assert_int_equal(db_exec(d, v1_rows, &e), IV_OK);
    db_close(d);
    free(url);
}

static void test_oldest_store_upgrades_with_data_intact(void **state)
{
    (void)state;
    char *file = path_in_dir("v1.db"), *url = xasprintf("sqlite:%s", file);
    make_v1_store(file);
    struct store *s = NULL;
    struct iv_err e = {0};
    int version = 0, applied = -1;
    assert_int_equal(store_open(&s, url, 2, false, &e), IV_OK);
    assert_int_equal(store_schema_version(s, &version, &e), IV_OK);
    assert_int_equal(version, 1);
    assert_int_equal(store_migrate(s, &applied, &version, &e), IV_OK);
    assert_int_equal(applied, store_schema_latest() - 1);
    assert_int_equal(version, store_schema_latest());

    struct store_connector c = {0};
    assert_int_equal(store_connector_get(s, "t1", "k1", &c, &e), IV_OK);
    assert_string_equal(c.tap_state, "{\"bookmarks\":{\"customers\":{\"id\":42}}}");
    assert_int_equal(c.rows_total, 42);
    assert_int_equal(c.last_synced_at, 2000);
    assert_int_equal(c.next_run_at, 9000);
    assert_string_equal(c.destination_table, "customers");
    assert_int_equal(c.status, CONN_ACTIVE);
    assert_int_equal(c.mapping_count, 1);
    assert_int_equal(c.run_count, 1);
    store_connector_release(&c);

    struct store_run *runs = NULL;
    size_t n = 0;
    assert_int_equal(store_run_list(s, "t1", "k1", 10, &runs, &n, &e), IV_OK);
    assert_int_equal(n, 1);
    assert_string_equal(runs[0].id, "r1");
    assert_string_equal(runs[0].status, "completed");
    assert_int_equal(runs[0].rows_loaded, 42);
    assert_string_equal(runs[0].snapshot_id, "777");
    store_runs_free(runs, n);

    struct store_catalog cat = {0};
    assert_int_equal(store_catalog_get(s, "t1", "lake", &cat, &e), IV_OK);
    assert_true(cat.active);
    store_catalog_release(&cat);

    /* Columns added by later migrations work on the upgraded rows: the generation counter
     * starts at its default and moves on the next write. */
    int64_t gen0 = -1, gen1 = -1, epoch = 0;
    assert_int_equal(store_tenant_generation(s, "t1", &gen0, &epoch, &e), IV_OK);
    assert_int_equal(store_connector_pause(s, "t1", "k1", NULL, &e), IV_OK);
    assert_int_equal(store_tenant_generation(s, "t1", &gen1, &epoch, &e), IV_OK);
    assert_true(gen1 > gen0);

    /* Forward-only and idempotent: a second migrate applies nothing. */
    assert_int_equal(store_migrate(s, &applied, &version, &e), IV_OK);
    assert_int_equal(applied, 0);
    assert_int_equal(version, store_schema_latest());
    store_close(s);
    free(url);
    free(file);
}

static void test_newer_store_is_refused(void **state)
{
    (void)state;
    char *file = path_in_dir("future.db"), *url = xasprintf("sqlite:%s", file);
    struct store *s = NULL;
    struct iv_err e = {0};
    assert_int_equal(store_open(&s, url, 1, true, &e), IV_OK);
    store_close(s);
    struct db *d = NULL;
    assert_int_equal(db_open(&d, url, &e), IV_OK);
    char *sql = xasprintf("INSERT INTO schema_migrations (version, name, applied_at)"
                          " VALUES (%d, 'future', 0)", store_schema_latest() + 1);
    assert_int_equal(db_exec(d, sql, &e), IV_OK);
    db_close(d);
    free(sql);
    s = NULL;
    assert_int_equal(store_open(&s, url, 1, true, &e), IV_EUNSUPPORTED);
    assert_null(s);
    assert_non_null(strstr(e.msg, "newer than this binary"));
    free(url);
    free(file);
}

static void test_version_probe_writes_nothing_and_backup_is_a_store(void **state)
{
    (void)state;
    char *file = path_in_dir("empty.db"), *url = xasprintf("sqlite:%s", file);
    struct store *s = NULL;
    struct iv_err e = {0};
    int version = -1;
    assert_int_equal(store_open(&s, url, 1, false, &e), IV_OK);
    assert_int_equal(store_schema_version(s, &version, &e), IV_OK);
    assert_int_equal(version, 0);
    assert_int_equal(store_schema_version(s, &version, &e), IV_OK);
    assert_int_equal(version, 0);   /* still no migrations table */
    assert_int_equal(store_migrate(s, NULL, NULL, &e), IV_OK);
    assert_int_equal(store_tenant_create(s, "t9", "nine", NULL, &e), IV_OK);

    char *snap = path_in_dir("snap.db"), *snap_url = xasprintf("sqlite:%s", snap);
    assert_int_equal(store_backup_to(s, snap, &e), IV_OK);
    assert_int_equal(store_backup_to(s, snap, &e), IV_OK);   /* replaces an old backup */
    struct stat sb;
    assert_int_equal(stat(snap, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    store_close(s);

    struct store *b = NULL;
    assert_int_equal(store_open(&b, snap_url, 1, false, &e), IV_OK);
    assert_int_equal(store_quick_check(b, &e), IV_OK);
    assert_int_equal(store_schema_version(b, &version, &e), IV_OK);
    assert_int_equal(version, store_schema_latest());
    struct store_tenant t;
    assert_int_equal(store_tenant_get(b, "t9", &t, &e), IV_OK);
    assert_string_equal(t.slug, "nine");
    store_close(b);
    free(snap_url);
    free(snap);
    free(url);
    free(file);
}

int main(void)
{
    iv_log_level = LOG_ERROR;
    if (unit_tmpdir_make(dir, sizeof dir, "upgrade") != 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_oldest_store_upgrades_with_data_intact),
        cmocka_unit_test(test_newer_store_is_refused),
        cmocka_unit_test(test_version_probe_writes_nothing_and_backup_is_a_store),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    unit_tmpdir_remove(dir);
    return rc;
}
