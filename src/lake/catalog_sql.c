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
 * UPDATE ... WHERE metadata_location = <old> in its own BEGIN IMMEDIATE
 * transaction; success iff exactly one row changed. Create = INSERT (a primary
 * key violation means the table exists).
 *
 * All SQL of the lake library lives in this file. It talks to SQLite through
 * the sqlite3 C API directly (WAL, busy_timeout); PostgreSQL will come through
 * src/db with the same statements.
 */
#include "lake/lake_int.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const SQL_DDL =
    "CREATE TABLE IF NOT EXISTS iceberg_tables ("
    " catalog_name VARCHAR(255) NOT NULL,"
    " table_namespace VARCHAR(255) NOT NULL,"
    " table_name VARCHAR(255) NOT NULL,"
    " metadata_location VARCHAR(1000),"
    " previous_metadata_location VARCHAR(1000),"
    " iceberg_type VARCHAR(5),"
    " PRIMARY KEY (catalog_name, table_namespace, table_name));"
    "CREATE TABLE IF NOT EXISTS iceberg_namespace_properties ("
    " catalog_name VARCHAR(255) NOT NULL,"
    " namespace VARCHAR(255) NOT NULL,"
    " property_key VARCHAR(255),"
    " property_value VARCHAR(1000),"
    " PRIMARY KEY (catalog_name, namespace, property_key));";

static const char *const SQL_LOAD =
    "SELECT metadata_location FROM iceberg_tables WHERE catalog_name = ?1 AND"
    " table_namespace = ?2 AND table_name = ?3 AND (iceberg_type = 'TABLE' OR iceberg_type IS"
    " NULL)";
static const char *const SQL_NS =
    "INSERT OR IGNORE INTO iceberg_namespace_properties (catalog_name, namespace,"
    " property_key, property_value) VALUES (?1, ?2, 'exists', 'true')";
static const char *const SQL_CREATE =
    "INSERT INTO iceberg_tables (catalog_name, table_namespace, table_name, metadata_location,"
    " previous_metadata_location, iceberg_type) VALUES (?1, ?2, ?3, ?4, NULL, 'TABLE')";
static const char *const SQL_COMMIT =
    "UPDATE iceberg_tables SET metadata_location = ?4, previous_metadata_location = ?5"
    " WHERE catalog_name = ?1 AND table_namespace = ?2 AND table_name = ?3 AND"
    " metadata_location = ?5 AND (iceberg_type = 'TABLE' OR iceberg_type IS NULL)";

static sqlite3 *DB(struct lake_catalog *c)
{
    return (sqlite3 *)c->impl;
}

static int db_err(struct lake_catalog *c, struct iv_err *e, const char *what)
{
    return iv_err_set(e, IV_EDB, "sql catalog: %s failed: %s", what, sqlite3_errmsg(DB(c)));
}

static int exec(struct lake_catalog *c, const char *sql, struct iv_err *e)
{
    char *msg = NULL;
    if (sqlite3_exec(DB(c), sql, NULL, NULL, &msg) != SQLITE_OK) {
        int rc = iv_err_set(e, IV_EDB, "sql catalog: '%.40s' failed: %s", sql,
                            msg ? msg : "?");
        sqlite3_free(msg);
        return rc;
    }
    return IV_OK;
}

/* Adds iceberg_type to a catalog created by an older (v0) writer, as PyIceberg does. */
static int upgrade_v0(struct lake_catalog *c, struct iv_err *e)
{
    sqlite3_stmt *st = NULL;
    bool has = false;
    if (sqlite3_prepare_v2(DB(c), "PRAGMA table_info(iceberg_tables)", -1, &st, NULL))
        return db_err(c, e, "table_info");
    while (sqlite3_step(st) == SQLITE_ROW) {
        const char *col = (const char *)sqlite3_column_text(st, 1);
        if (col && strcmp(col, "iceberg_type") == 0)
            has = true;
    }
    sqlite3_finalize(st);
    if (has)
        return IV_OK;
    return exec(c, "ALTER TABLE iceberg_tables ADD COLUMN iceberg_type VARCHAR(5)", e);
}

int lake_sql_open(struct lake_catalog *c, const char *uri, struct iv_err *e)
{
    if (!uri || !*uri)
        return iv_err_set(e, IV_EINVAL, "sql catalog needs a uri (sqlite:PATH or PATH)");
    if (strncmp(uri, "postgres", 8) == 0)
        return iv_err_set(e, IV_EUNSUPPORTED, "sql catalog on PostgreSQL is not supported yet");
    const char *path = strncmp(uri, "sqlite:", 7) == 0 ? uri + 7 : uri;
    if (strncmp(path, "//", 2) == 0)   /* sqlite:///abs */
        path += 2;
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                        SQLITE_OPEN_FULLMUTEX, NULL) != SQLITE_OK) {
        int rc = iv_err_set(e, IV_EDB, "sql catalog: cannot open '%s': %s", path,
                            db ? sqlite3_errmsg(db) : "out of memory");
        sqlite3_close(db);
        return rc;
    }
    c->impl = db;
    sqlite3_busy_timeout(db, 10000);
    int rc = exec(c, "PRAGMA journal_mode=WAL", e);
    if (!rc)
        rc = exec(c, "PRAGMA synchronous=FULL", e);
    if (!rc)
        rc = exec(c, SQL_DDL, e);
    if (!rc)
        rc = upgrade_v0(c, e);
    if (rc) {
        sqlite3_close(db);
        c->impl = NULL;
    }
    return rc;
}

static void sql_close(struct lake_catalog *c)
{
    sqlite3_close(DB(c));
    c->impl = NULL;
}

static void bind3(sqlite3_stmt *st, struct lake_catalog *c, const char *ns, const char *name)
{
    sqlite3_bind_text(st, 1, c->catalog_name, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, ns, -1, SQLITE_TRANSIENT);
    if (name)
        sqlite3_bind_text(st, 3, name, -1, SQLITE_TRANSIENT);
}

static int sql_load(struct lake_catalog *c, const char *ns, const char *name, char **loc,
                    struct iv_err *e)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(DB(c), SQL_LOAD, -1, &st, NULL))
        return db_err(c, e, "load");
    bind3(st, c, ns, name);
    int rc, s = sqlite3_step(st);
    if (s == SQLITE_ROW && sqlite3_column_text(st, 0)) {
        *loc = xstrdup((const char *)sqlite3_column_text(st, 0));
        rc = IV_OK;
    } else if (s == SQLITE_ROW || s == SQLITE_DONE) {
        rc = iv_err_set(e, IV_ENOTFOUND, "table '%s.%s' does not exist", ns, name);
    } else {
        rc = db_err(c, e, "load");
    }
    sqlite3_finalize(st);
    return rc;
}

int lake_sql_write_next(struct lake_catalog *c, const char *location_path, const char *old_loc,
                        const json_t *md, char **loc_out, struct iv_err *e)
{
    return lake_md_write_next(c, location_path, old_loc, md, loc_out, e);
}

static int sql_create(struct lake_catalog *c, const char *ns, const char *name,
                      const char *location_path, const json_t *md, char **loc_out,
                      struct iv_err *e)
{
    char *loc = NULL;
    sqlite3_stmt *st = NULL;
    int rc = lake_sql_write_next(c, location_path, NULL, md, &loc, e);
    if (rc)
        return rc;
    rc = exec(c, "BEGIN IMMEDIATE", e);
    if (rc)
        goto fail;
    if (sqlite3_prepare_v2(DB(c), SQL_NS, -1, &st, NULL)) {
        rc = db_err(c, e, "create namespace");
        goto rollback;
    }
    bind3(st, c, ns, NULL);
    if (sqlite3_step(st) != SQLITE_DONE) {
        rc = db_err(c, e, "create namespace");
        goto rollback;
    }
    sqlite3_finalize(st);
    st = NULL;
    if (sqlite3_prepare_v2(DB(c), SQL_CREATE, -1, &st, NULL)) {
        rc = db_err(c, e, "create table");
        goto rollback;
    }
    bind3(st, c, ns, name);
    sqlite3_bind_text(st, 4, loc, -1, SQLITE_TRANSIENT);
    int s = sqlite3_step(st);
    if (s == SQLITE_CONSTRAINT) {
        rc = iv_err_set(e, IV_ECONFLICT, "table '%s.%s' already exists", ns, name);
        goto rollback;
    } else if (s != SQLITE_DONE) {
        rc = db_err(c, e, "create table");
        goto rollback;
    }
    sqlite3_finalize(st);
    st = NULL;
    if (sqlite3_exec(DB(c), "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        rc = db_err(c, e, "create commit");
        goto rollback;
    }
    *loc_out = loc;
    return IV_OK;
rollback:
    sqlite3_finalize(st);
    sqlite3_exec(DB(c), "ROLLBACK", NULL, NULL, NULL);
fail:
    lake_io_remove(c, loc);
    free(loc);
    return rc;
}

/* Runs the CAS for each swap inside one BEGIN IMMEDIATE transaction. */
int lake_sql_swap_many(struct lake_catalog *c, const struct lake_sql_swap *sw, int n,
                       bool *unknown, struct iv_err *e)
{
    sqlite3_stmt *st = NULL;
    int rc = exec(c, "BEGIN IMMEDIATE", e);
    if (rc)
        return rc;
    if (sqlite3_prepare_v2(DB(c), SQL_COMMIT, -1, &st, NULL)) {
        rc = db_err(c, e, "commit");
        goto rollback;
    }
    for (int i = 0; i < n; i++) {
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
        bind3(st, c, sw[i].ns, sw[i].name);
        sqlite3_bind_text(st, 4, sw[i].new_loc, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 5, sw[i].old_loc, -1, SQLITE_TRANSIENT);
        if (sqlite3_step(st) != SQLITE_DONE) {
            rc = db_err(c, e, "commit");
            goto rollback;
        }
        if (sqlite3_changes(DB(c)) != 1) {
            rc = iv_err_set(e, IV_ECONFLICT, "table '%s.%s' has been updated by another "
                            "writer", sw[i].ns, sw[i].name);
            goto rollback;
        }
    }
    sqlite3_finalize(st);
    st = NULL;
    int s = sqlite3_exec(DB(c), "COMMIT", NULL, NULL, NULL);
    if (s != SQLITE_OK) {
        rc = db_err(c, e, "commit");
        /* BUSY leaves the transaction open and nothing applied; anything else may have
         * reached the disk. */
        if ((s & 0xff) != SQLITE_BUSY && unknown)
            *unknown = true;
        goto rollback;
    }
    return IV_OK;
rollback:
    sqlite3_finalize(st);
    if (!sqlite3_get_autocommit(DB(c)))
        sqlite3_exec(DB(c), "ROLLBACK", NULL, NULL, NULL);
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
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(DB(c), sql, -1, &st, NULL))
        return db_err(c, e, "list");
    bind3(st, c, ns ? ns : "", NULL);
    int s;
    while ((s = sqlite3_step(st)) == SQLITE_ROW)
        if (sqlite3_column_text(st, 0))
            json_array_append_new(out, json_string((const char *)sqlite3_column_text(st, 0)));
    sqlite3_finalize(st);
    return s == SQLITE_DONE ? IV_OK : db_err(c, e, "list");
}

static int sql_list_namespaces(struct lake_catalog *c, json_t *out, struct iv_err *e)
{
    return sql_strings(c, "SELECT namespace FROM iceberg_namespace_properties WHERE"
                          " catalog_name = ?1 AND ?2 = ?2 UNION SELECT table_namespace FROM"
                          " iceberg_tables WHERE catalog_name = ?1 ORDER BY 1", NULL, out, e);
}

static int sql_list_tables(struct lake_catalog *c, const char *ns, json_t *out,
                           struct iv_err *e)
{
    return sql_strings(c, "SELECT table_name FROM iceberg_tables WHERE catalog_name = ?1 AND"
                          " table_namespace = ?2 AND (iceberg_type = 'TABLE' OR iceberg_type"
                          " IS NULL) ORDER BY 1", ns, out, e);
}

static int sql_create_namespace(struct lake_catalog *c, const char *ns, struct iv_err *e)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(DB(c), "INSERT OR IGNORE INTO iceberg_namespace_properties"
                           " (catalog_name, namespace, property_key, property_value)"
                           " VALUES (?1, ?2, 'exists', 'true')", -1, &st, NULL))
        return db_err(c, e, "create namespace");
    bind3(st, c, ns, NULL);
    int s = sqlite3_step(st);
    sqlite3_finalize(st);
    if (s != SQLITE_DONE)
        return db_err(c, e, "create namespace");
    if (sqlite3_changes(DB(c)) == 0)
        return iv_err_set(e, IV_ECONFLICT, "namespace '%s' already exists", ns);
    return IV_OK;
}

static int sql_drop_table(struct lake_catalog *c, const char *ns, const char *name,
                          struct iv_err *e)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(DB(c), "DELETE FROM iceberg_tables WHERE catalog_name = ?1 AND"
                           " table_namespace = ?2 AND table_name = ?3", -1, &st, NULL))
        return db_err(c, e, "drop table");
    bind3(st, c, ns, name);
    int s = sqlite3_step(st);
    sqlite3_finalize(st);
    if (s != SQLITE_DONE)
        return db_err(c, e, "drop table");
    if (sqlite3_changes(DB(c)) == 0)
        return iv_err_set(e, IV_ENOTFOUND, "table '%s.%s' does not exist", ns, name);
    return IV_OK;
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
