/*
 * store_internal.h: shared between the store's own files (store.c, schema.c,
 * jobs.c). Not for the API or the runner.
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

#endif
