/*
 * store_fixture.h: the cmocka fixture shared by the store's unit tests (test_store.c,
 * test_jobs.c), so both set up and tear down a store the same way: a fresh migrated SQLite
 * file per test under `dbdir` (each test's main creates and removes that directory) or, when
 * `fixture_pg` is set (store_fixture_run_groups runs the group a second time when
 * IVORY_TEST_PG_URL names a PostgreSQL database), a fresh schema of that database per test,
 * dropped at teardown; and a tenant with an active hadoop catalog named 'lake'. Header-only
 * (static functions), because each tests/unit/test_*.c is its own executable.
 */
#ifndef IVORY_UNIT_STORE_FIXTURE_H
#define IVORY_UNIT_STORE_FIXTURE_H

#include "unit.h"
#include "store/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static char dbdir[64];
static const char *fixture_pg;   /* base PostgreSQL URL for this pass, NULL = SQLite */

struct fx {
    struct store *s;
    char path[512];
    char schema[48];
};

/* Runs one statement on the base PostgreSQL database (schema create/drop). */
static int fixture_pg_exec(const char *sql)
{
    struct db *d = NULL;
    struct iv_err e = {0};
    int rc = db_open(&d, fixture_pg, &e);
    if (rc == IV_OK)
        rc = db_exec(d, sql, &e);
    if (rc != IV_OK)
        fprintf(stderr, "%s: %s\n", sql, e.msg);
    db_close(d);
    return rc;
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    if (fixture_pg) {
        snprintf(f->schema, sizeof f->schema, "ut_%d_%d", (int)getpid(), rand());
        char sql[96];
        snprintf(sql, sizeof sql, "CREATE SCHEMA %s", f->schema);
        if (fixture_pg_exec(sql) != IV_OK) {
            free(f);
            return -1;
        }
        snprintf(f->path, sizeof f->path, "%s%coptions=-csearch_path%%3D%s", fixture_pg,
                 strchr(fixture_pg, '?') ? '&' : '?', f->schema);
    } else {
        snprintf(f->path, sizeof f->path, "sqlite:%s/store-%d.db", dbdir, rand());
    }
    struct iv_err e = {0};
    if (store_open(&f->s, f->path, 3, true, &e) != IV_OK) {
        fprintf(stderr, "store_open: %s\n", e.msg);
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    store_close(f->s);
    if (fixture_pg) {
        char sql[96];
        snprintf(sql, sizeof sql, "DROP SCHEMA %s CASCADE", f->schema);
        fixture_pg_exec(sql);
        free(f);
        return 0;
    }
    unlink(f->path + 7);
    char side[160];
    snprintf(side, sizeof side, "%s-wal", f->path + 7);
    unlink(side);
    snprintf(side, sizeof side, "%s-shm", f->path + 7);
    unlink(side);
    free(f);
    return 0;
}

/* A new tenant tid/slug with an active hadoop catalog 'lake' (created, not updated). */
static void make_tenant(struct store *s, const char *tid, const char *slug)
{
    struct iv_err e = {0};
    assert_int_equal(store_tenant_create(s, tid, slug, NULL, &e), IV_OK);
    struct store_catalog in = {.catalog_name = "lake", .catalog_type = "hadoop",
                               .warehouse = "file:///tmp/w", .storage_prefix = "p",
                               .active = true};
    bool created = false;
    assert_int_equal(store_catalog_upsert(s, tid, &in, &created, NULL, &e), IV_OK);
    assert_true(created);
}

/* Runs the group on SQLite, then once more on PostgreSQL when IVORY_TEST_PG_URL is set
 * (the throwaway cluster `./dev.sh test` starts). Returns the failed count of both. */
static int store_fixture_run_groups(const char *name, const struct CMUnitTest *tests, size_t n)
{
    fixture_pg = NULL;
    int rc = _cmocka_run_group_tests(name, tests, n, NULL, NULL);
    const char *pg = getenv("IVORY_TEST_PG_URL");
    if (pg && *pg) {
        fixture_pg = pg;
        char pgname[128];
        snprintf(pgname, sizeof pgname, "%s on PostgreSQL", name);
        rc += _cmocka_run_group_tests(pgname, tests, n, NULL, NULL);
        fixture_pg = NULL;
    }
    return rc;
}

#endif
