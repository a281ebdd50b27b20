/*
 * db_int.h: internal header of src/db (db.h is the module's one public header).
 * The connection and statement structs shared by the front/SQLite backend
 * (db.c) and the libpq backend (pg.c). Not for other modules.
 *
 * Ownership: a struct db owns its engine handle, its statement cache and, for
 * PostgreSQL, its URL copy (to reconnect). A struct db_stmt owns its bound
 * parameter copies and its current PGresult.
 */
#ifndef IVORY_DB_INT_H
#define IVORY_DB_INT_H

#include "db/db.h"

#include <libpq-fe.h>
#include <sqlite3.h>
#include <sys/types.h>

/* Prepared statements kept per connection (db_prepare_cached). Enough for the
 * store's hot queries; beyond it statements are prepared and freed as before. */
#define DB_STMT_CACHE 48

struct db_stmt {
    struct db *db;
    const char *sql;         /* cached: the connection's own copy of the text */
    bool cached, in_use;
    /* SQLite */
    sqlite3_stmt *st;
    /* PostgreSQL: the text with $n placeholders, text parameters, the whole
     * result of the last execution and the cursor in it. */
    char *pg_sql;
    int nparams;
    char **params;           /* nparams owned copies (NULL = SQL NULL) */
    PGresult *res;
    int row, nrows;
    bool executed;           /* res belongs to the current execution */
    bool is_read;            /* SELECT/WITH: safe to re-run on a new connection */
    char name[16];           /* server-side prepared name ("" = unnamed) */
    unsigned prepared_epoch; /* connection epoch the name was prepared on */
};

struct db {
    enum db_kind kind;
    sqlite3 *sq;
    char *path;              /* SQLite: the file, NULL for :memory: */
    dev_t dev;               /* SQLite: its identity at open: a deleted or replaced file is noticed */
    ino_t ino;
    PGconn *pg;
    char *url;               /* PostgreSQL: to reconnect after a dropped connection */
    unsigned epoch;          /* PostgreSQL: bumped at every (re)connect */
    int64_t changes;         /* PostgreSQL: rows of the last command */
    int tx_depth;            /* 0 or 1: we never nest */
    char *listening;         /* PostgreSQL: channel to LISTEN again after a reconnect */
    bool tx_broken;          /* PostgreSQL: the connection dropped inside the transaction */
    struct db_stmt *cache[DB_STMT_CACHE];
    int n_cache;
};

/* pg.c: the libpq backend behind db.c's functions. */
int pg_open(struct db **out, const char *url, struct iv_err *e);
void pg_close(struct db *d);
int pg_exec(struct db *d, const char *sql, struct iv_err *e);
int pg_prepare(struct db *d, const char *sql, bool cached, struct db_stmt **out,
               struct iv_err *e);
void pg_stmt_clear(struct db_stmt *s);        /* results and bindings */
void pg_stmt_free(struct db_stmt *s);
int pg_bind(struct db_stmt *s, int idx, const char *v);
int pg_step(struct db_stmt *s, struct iv_err *e);
void pg_reset(struct db_stmt *s);
const char *pg_col_text(struct db_stmt *s, int col);
int pg_begin(struct db *d, const char *sql, struct iv_err *e);
void pg_rollback(struct db *d);
int pg_listen(struct db *d, const char *channel, struct iv_err *e);
int pg_wait_notify(struct db *d, int wake_fd, int timeout_ms, struct iv_err *e);

#endif
