/*
 * lake/catalog_sql: the Iceberg SQL catalog (Java JdbcCatalog / PyIceberg
 * SqlCatalog layout), so other engines can read tables Ivory writes.
 *
 * Tables (exactly as Iceberg defines them; created when absent):
 *   iceberg_tables(catalog_name, table_namespace, table_name, metadata_location,
 *                  previous_metadata_location, iceberg_type)
 *   iceberg_namespace_properties(catalog_name, namespace, property_key,
 *                                property_value)  -- namespace row 'exists'='true'
 * Metadata files: {location}/metadata/%05d-<uuid>.metadata.json, version = the
 * previous file's number + 1.
 *
 * Commit = write the new metadata file durably, then a compare-and-swap
 * UPDATE ... WHERE metadata_location = <old> in its own write transaction
 * (db_begin: BEGIN IMMEDIATE on SQLite; on PostgreSQL a concurrent UPDATE of
 * the row waits, then re-checks the WHERE and changes nothing); success iff
 * exactly one row changed. Create = INSERT (a primary key violation means the
 * table exists).
 *
 * The database is reached through src/db, so the catalog lives in a SQLite file
 * (`sqlite:PATH` or a bare PATH) or in PostgreSQL (`postgresql://...`, the
 * database a JdbcCatalog or PyIceberg SqlCatalog is configured with). All SQL of
 * the lake library lives in this file and is portable between the two. A
 * struct db is one connection and not thread-safe: a mutex keeps one user at a
 * time per opened catalog.
 */
#include "lake/lake_int.h"
#include "db/db.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const SQL_DDL[] = {
    "CREATE TABLE IF NOT EXISTS iceberg_tables ("
    " catalog_name VARCHAR(255) NOT NULL,"
    " table_namespace VARCHAR(255) NOT NULL,"
    " table_name VARCHAR(255) NOT NULL,"
    " metadata_location VARCHAR(1000),"
    " previous_metadata_location VARCHAR(1000),"
    " iceberg_type VARCHAR(5),"
    " PRIMARY KEY (catalog_name, table_namespace, table_name))",
    "CREATE TABLE IF NOT EXISTS iceberg_namespace_properties ("
    " catalog_name VARCHAR(255) NOT NULL,"
    " namespace VARCHAR(255) NOT NULL,"
    " property_key VARCHAR(255),"
    " property_value VARCHAR(1000),"
    " PRIMARY KEY (catalog_name, namespace, property_key))",
};

static const char *const SQL_LOAD =
    "SELECT metadata_location FROM iceberg_tables WHERE catalog_name = ? AND"
    " table_namespace = ? AND table_name = ? AND (iceberg_type = 'TABLE' OR iceberg_type IS"
    " NULL)";
static const char *const SQL_NS =
    "INSERT INTO iceberg_namespace_properties (catalog_name, namespace, property_key,"
    " property_value) VALUES (?, ?, 'exists', 'true')"
    " ON CONFLICT (catalog_name, namespace, property_key) DO NOTHING";
static const char *const SQL_CREATE =
    "INSERT INTO iceberg_tables (catalog_name, table_namespace, table_name, metadata_location,"
    " previous_metadata_location, iceberg_type) VALUES (?, ?, ?, ?, NULL, 'TABLE')";
static const char *const SQL_COMMIT =
    "UPDATE iceberg_tables SET metadata_location = ?, previous_metadata_location = ?"
    " WHERE catalog_name = ? AND table_namespace = ? AND table_name = ? AND"
    " metadata_location = ? AND (iceberg_type = 'TABLE' OR iceberg_type IS NULL)";

/* impl of an open sql catalog. Owns the connection. */
struct sqlcat {
    struct db *d;
    pthread_mutex_t mu;
};

static struct db *DB(struct lake_catalog *c)
{
    return ((struct sqlcat *)c->impl)->d;
}

static int db_fail(int rc, struct iv_err *e, const char *what)
{
    if (!e)
        return rc;
    struct iv_err inner = *e;
    return iv_err_set(e, rc == IV_ECONFLICT ? IV_ECONFLICT : rc,
                      "sql catalog: %s failed: %s", what, inner.msg);
}

/* Adds iceberg_type to a catalog created by an older (v0) writer, as PyIceberg does.
 * Portable probe: selecting the column fails when it is missing. */
static int upgrade_v0(struct db *d, struct iv_err *e)
{
    struct db_stmt *st = NULL;
    struct iv_err probe = {0};
    int rc = db_prepare(d, "SELECT iceberg_type FROM iceberg_tables WHERE 1 = 0", &st, &probe);
    if (rc == IV_OK)
        rc = db_step(st, &probe);
    db_finalize(st);
    if (rc >= 0)
        return IV_OK;
    rc = db_exec(d, "ALTER TABLE iceberg_tables ADD COLUMN iceberg_type VARCHAR(5)", e);
    return rc < 0 ? db_fail(rc, e, "adding iceberg_type") : IV_OK;
}

/* Creates the two tables when absent. Two processes creating them at once on PostgreSQL
 * can collide in the system catalog (a unique violation): the second try sees them. */
static int create_tables(struct db *d, struct iv_err *e)
{
    for (size_t i = 0; i < sizeof SQL_DDL / sizeof SQL_DDL[0]; i++) {
        int rc = db_exec(d, SQL_DDL[i], e);
        if (rc == IV_ECONFLICT)
            rc = db_exec(d, SQL_DDL[i], e);
        if (rc < 0)
            return db_fail(rc, e, "creating the catalog tables");
    }
    return upgrade_v0(d, e);
}

int lake_sql_open(struct lake_catalog *c, const char *uri, struct iv_err *e)
{
    if (!uri || !*uri)
        return iv_err_set(e, IV_EINVAL,
                          "sql catalog needs a uri (sqlite:PATH, PATH or postgresql://...)");
    char *url = strncmp(uri, "postgres", 8) == 0 || strncmp(uri, "sqlite:", 7) == 0
                    ? xstrdup(uri)
                    : xasprintf("sqlite:%s", uri);
    struct db *d = NULL;
    int rc = db_open(&d, url, e);
    free(url);
    if (rc < 0)
        return db_fail(rc, e, "opening the catalog database");
    rc = create_tables(d, e);
    if (rc < 0) {
        db_close(d);
        return rc;
    }
    struct sqlcat *sc = xcalloc(1, sizeof *sc);
    sc->d = d;
    pthread_mutex_init(&sc->mu, NULL);
    c->impl = sc;
    return IV_OK;
}

static void sql_close(struct lake_catalog *c)
{
    struct sqlcat *sc = c->impl;
    if (!sc)
        return;
    db_close(sc->d);
    pthread_mutex_destroy(&sc->mu);
    free(sc);
    c->impl = NULL;
}

static void lock(struct lake_catalog *c)
{
    pthread_mutex_lock(&((struct sqlcat *)c->impl)->mu);
}

static void unlock(struct lake_catalog *c)
{
    pthread_mutex_unlock(&((struct sqlcat *)c->impl)->mu);
}

static int sql_load(struct lake_catalog *c, const char *ns, const char *name, char **loc,
                    struct iv_err *e)
{
    struct db_stmt *st = NULL;
    lock(c);
    int rc = db_prepare(DB(c), SQL_LOAD, &st, e);
    if (rc < 0) {
        rc = db_fail(rc, e, "load");
        goto out;
    }
    db_bind_text(st, 1, c->catalog_name);
    db_bind_text(st, 2, ns);
    db_bind_text(st, 3, name);
    rc = db_step(st, e);
    if (rc == DB_ROW && db_col_text(st, 0)) {
        *loc = db_col_strdup(st, 0);
        rc = IV_OK;
    } else if (rc >= 0) {
        rc = iv_err_set(e, IV_ENOTFOUND, "table '%s.%s' does not exist", ns, name);
    } else {
        rc = db_fail(rc, e, "load");
    }
out:
    db_finalize(st);
    unlock(c);
    return rc;
}

int lake_sql_write_next(struct lake_catalog *c, const char *location_path, const char *old_loc,
                        const json_t *md, char **loc_out, struct iv_err *e)
{
    return lake_md_write_next(c, location_path, old_loc, md, loc_out, e);
}

/* One statement with text parameters (NULL-terminated list), run to completion. */
static int run_text(struct db *d, const char *sql, struct iv_err *e, const char *const *args)
{
    struct db_stmt *st = NULL;
    int rc = db_prepare(d, sql, &st, e);
    if (rc < 0)
        return rc;
    for (int i = 0; args[i]; i++)
        db_bind_text(st, i + 1, args[i]);
    rc = db_step(st, e);
    db_finalize(st);
    return rc < 0 ? rc : IV_OK;
}

static int sql_create(struct lake_catalog *c, const char *ns, const char *name,
                      const char *location_path, const json_t *md, char **loc_out,
                      struct iv_err *e)
{
    char *loc = NULL;
    int rc = lake_sql_write_next(c, location_path, NULL, md, &loc, e);
    if (rc)
        return rc;
    lock(c);
    struct db *d = DB(c);
    rc = db_begin(d, e);
    if (rc < 0) {
        rc = db_fail(rc, e, "create");
        goto fail;
    }
    rc = run_text(d, SQL_NS, e, (const char *const[]){c->catalog_name, ns, NULL});
    if (rc < 0) {
        rc = db_fail(rc, e, "create namespace");
        goto rollback;
    }
    rc = run_text(d, SQL_CREATE, e, (const char *const[]){c->catalog_name, ns, name, loc, NULL});
    if (rc == IV_ECONFLICT) {
        rc = iv_err_set(e, IV_ECONFLICT, "table '%s.%s' already exists", ns, name);
        goto rollback;
    } else if (rc < 0) {
        rc = db_fail(rc, e, "create table");
        goto rollback;
    }
    rc = db_commit(d, e);
    if (rc < 0) {
        rc = db_fail(rc, e, "create commit");
        goto rollback;
    }
    unlock(c);
    *loc_out = loc;
    return IV_OK;
rollback:
    db_rollback(d);
fail:
    unlock(c);
    lake_io_remove(c, loc);
    free(loc);
    return rc;
}

/* Runs the CAS for each swap inside one write transaction. */
int lake_sql_swap_many(struct lake_catalog *c, const struct lake_sql_swap *sw, int n,
                       bool *unknown, struct iv_err *e)
{
    lock(c);
    struct db *d = DB(c);
    int rc = db_begin(d, e);
    if (rc < 0) {
        rc = db_fail(rc, e, "commit");
        goto out;
    }
    for (int i = 0; i < n; i++) {
        rc = run_text(d, SQL_COMMIT, e,
                      (const char *const[]){sw[i].new_loc, sw[i].old_loc, c->catalog_name,
                                            sw[i].ns, sw[i].name, sw[i].old_loc, NULL});
        if (rc < 0) {
            rc = db_fail(rc, e, "commit");
            goto rollback;
        }
        if (db_changes(d) != 1) {
            rc = iv_err_set(e, IV_ECONFLICT, "table '%s.%s' has been updated by another "
                            "writer", sw[i].ns, sw[i].name);
            goto rollback;
        }
    }
    rc = db_commit(d, e);
    if (rc < 0) {
        /* SQLite busy: the transaction is still open and nothing applied. Anything else (a
         * PostgreSQL connection lost during COMMIT) may have been applied. */
        if ((rc != IV_EAGAIN || db_get_kind(d) == DB_POSTGRES) && unknown)
            *unknown = true;
        rc = db_fail(rc, e, "commit");
        goto rollback;
    }
    goto out;
rollback:
    db_rollback(d);
out:
    unlock(c);
    return rc;
}

static int sql_commit(struct lake_catalog *c, const char *ns, const char *name,
                      const char *location_path, const char *old_loc, const json_t *md,
                      char **new_loc_out, bool *unknown, struct iv_err *e)
{
    char *loc = NULL;
    int rc = lake_sql_write_next(c, location_path, old_loc, md, &loc, e);
    if (rc)
        return rc;
    struct lake_sql_swap sw = { ns, name, old_loc, loc };
    bool unk = false;
    rc = lake_sql_swap_many(c, &sw, 1, &unk, e);
    if (rc) {
        if (unk) {
            *unknown = true;
        } else {
            lake_io_remove(c, loc);
        }
        free(loc);
        return rc;
    }
    *new_loc_out = loc;
    return IV_OK;
}

/* ---- listing and dropping (the REST catalog server, docs/lakehouse.md) ---------------- */

/* Runs a one-text-column query with (catalog, [ns]) bound; appends the values to out. */
static int sql_strings(struct lake_catalog *c, const char *sql, const char *ns, json_t *out,
                       struct iv_err *e)
{
    struct db_stmt *st = NULL;
    lock(c);
    int rc = db_prepare(DB(c), sql, &st, e);
    if (rc == IV_OK) {
        db_bind_text(st, 1, c->catalog_name);
        if (ns) {
            db_bind_text(st, 2, ns);
        }
        while ((rc = db_step(st, e)) == DB_ROW)
            if (db_col_text(st, 0))
                json_array_append_new(out, json_string(db_col_text(st, 0)));
    }
    db_finalize(st);
    unlock(c);
    return rc < 0 ? db_fail(rc, e, "list") : IV_OK;
}

static int sql_list_namespaces(struct lake_catalog *c, json_t *out, struct iv_err *e)
{
    /* Both placeholders are the catalog name (sql_strings binds the second from ns). */
    return sql_strings(c, "SELECT namespace FROM iceberg_namespace_properties WHERE"
                          " catalog_name = ? UNION SELECT table_namespace FROM"
                          " iceberg_tables WHERE catalog_name = ? ORDER BY 1", c->catalog_name,
                       out, e);
}

static int sql_list_tables(struct lake_catalog *c, const char *ns, json_t *out,
                           struct iv_err *e)
{
    return sql_strings(c, "SELECT table_name FROM iceberg_tables WHERE catalog_name = ? AND"
                          " table_namespace = ? AND (iceberg_type = 'TABLE' OR iceberg_type"
                          " IS NULL) ORDER BY 1", ns, out, e);
}

/* One write statement with (catalog, ns[, name]) bound; *changed the rows it changed. */
static int sql_write(struct lake_catalog *c, const char *sql, const char *ns, const char *name,
                     int64_t *changed, const char *what, struct iv_err *e)
{
    lock(c);
    int rc = run_text(DB(c), sql, e, (const char *const[]){c->catalog_name, ns, name, NULL});
    *changed = rc == IV_OK ? db_changes(DB(c)) : 0;
    unlock(c);
    return rc < 0 ? db_fail(rc, e, what) : IV_OK;
}

static int sql_create_namespace(struct lake_catalog *c, const char *ns, struct iv_err *e)
{
    int64_t n = 0;
    int rc = sql_write(c, SQL_NS, ns, NULL, &n, "create namespace", e);
    if (rc == IV_OK && n == 0)
        return iv_err_set(e, IV_ECONFLICT, "namespace '%s' already exists", ns);
    return rc;
}

static int sql_drop_table(struct lake_catalog *c, const char *ns, const char *name,
                          struct iv_err *e)
{
    int64_t n = 0;
    int rc = sql_write(c, "DELETE FROM iceberg_tables WHERE catalog_name = ? AND"
                          " table_namespace = ? AND table_name = ?", ns, name, &n,
                       "drop table", e);
    if (rc == IV_OK && n == 0)
        return iv_err_set(e, IV_ENOTFOUND, "table '%s.%s' does not exist", ns, name);
    return rc;
}

const struct lake_catalog_ops lake_sql_ops = {
    .type = "sql",
    .load = sql_load,
    .create = sql_create,
    .commit = sql_commit,
    .close = sql_close,
    .list_namespaces = sql_list_namespaces,
    .list_tables = sql_list_tables,
    .create_namespace = sql_create_namespace,
    .drop_table = sql_drop_table,
};
