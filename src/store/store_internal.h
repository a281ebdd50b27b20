/*
 * store_internal.h: internal header of src/store (store.h is the module's one
 * public header): shared between the store's own files (store.c, schema.c,
 * jobs.c) and their unit tests. Not for the API or the runner.
 */
#ifndef IVORY_STORE_INTERNAL_H
#define IVORY_STORE_INTERNAL_H

#include "store/store.h"

extern const struct db_migration store_migrations[];
extern const size_t store_migrations_count;

/* Binds a time column: STORE_NULL_TIME binds NULL. */
int store__bind_time(struct db_stmt *st, int idx, int64_t ms);
/* Reads a nullable time column. */
int64_t store__col_time(struct db_stmt *st, int col);

/* Prepares sql and binds the parameters that types describes, one letter each:
 *   's' const char * (NULL binds NULL), 'i' int64_t, 't' int64_t time (STORE_NULL_TIME binds
 *   NULL). cached: on the connection's statement cache (db_prepare_cached; for SQL texts that
 * are literals, so the cache stays small), else a fresh statement. *st: caller ends it with
 * db_finalize (or store__run). */
int store__prep(struct db *d, struct db_stmt **st, bool cached, struct iv_err *e, const char *sql,
                const char *types, ...);
/* Runs a prepared statement to completion (no rows expected) and finalizes it. */
int store__run(struct db_stmt *st, struct iv_err *e);
/* One statement on a pooled connection: acquire, store__prep, store__run, release.
 * *changes_out (may be NULL): the rows it changed. */
int store__exec(struct store *s, bool cached, int64_t *changes_out, struct iv_err *e,
                const char *sql, const char *types, ...);

/* store.c's row readers and lookups, for store/ops.c (same semantics as the static ones). */
int store__connector_get(struct db *d, const char *tenant_id, const char *id,
                         struct store_connector *out, struct iv_err *e);
int store__has_running_run(struct db *d, const char *tenant_id, const char *id, bool *out,
                           struct iv_err *e);
void store__run_from_row(struct db_stmt *st, struct store_run *r);
void store__connector_borrow_row(struct db_stmt *st, struct store_connector *c);
extern const char store__run_cols[];               /* the columns store__run_from_row reads */
extern const char store__connector_list_select[];  /* SELECT ... FROM ... for borrow_row */
/* Calls the wake hook (store_set_wake_hook), if any. */
void store__wake(struct store *s);

#endif
