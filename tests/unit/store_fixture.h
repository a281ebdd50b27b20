/*
 * store_fixture.h: the cmocka fixture shared by the store's unit tests (test_store.c,
 * test_jobs.c), so both set up and tear down a store the same way: a fresh migrated SQLite
 * file per test under `dbdir` (each test's main creates and removes that directory), and a
 * tenant with an active hadoop catalog named 'lake'. Header-only (static functions), because
 * each tests/unit/test_*.c is its own executable.
 */
#ifndef IVORY_UNIT_STORE_FIXTURE_H
#define IVORY_UNIT_STORE_FIXTURE_H

#include "unit.h"
#include "store/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static char dbdir[64];

struct fx {
    struct store *s;
    char path[128];
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    snprintf(f->path, sizeof f->path, "sqlite:%s/store-%d.db", dbdir, rand());
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

#endif
