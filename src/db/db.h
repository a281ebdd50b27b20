/*
 * db: one thin SQL layer that the store is written against, so that the
 * control plane can run on SQLite (embedded default) and, later, PostgreSQL
 * through libpq without touching any query.
 *
 * Owns: opening a connection from a URL, prepared statements with `?`
 * placeholders (a PostgreSQL backend rewrites them to $1..$n), binding
 * text / int64 / NULL, stepping rows, column getters, transactions and the
 * versioned-migrations runner.
 *
 * Threading: a `struct db` is ONE connection and is not thread-safe. Use one
 * per thread or borrow from a pool under a lock (the store keeps such a pool).
 *
 * Portability rules for SQL handed to this layer: standard types only
 * (TEXT, BIGINT, INTEGER), times as BIGINT epoch milliseconds, JSON as TEXT,
 * booleans as INTEGER 0/1, no SQLite-only syntax (no INSERT OR REPLACE, no
 * rowid, no AUTOINCREMENT). Upserts use `INSERT ... ON CONFLICT (...) DO UPDATE`,
 * which both engines understand.
 */
#ifndef IVORY_DB_H
#define IVORY_DB_H

#include "util/util.h"

enum db_kind { DB_SQLITE = 1, DB_POSTGRES = 2 };

/* Ends a SELECT that reads rows a write transaction is about to change:
 * PostgreSQL reads it as FOR UPDATE (the rows stay locked until commit, as a
 * concurrent writer would otherwise decide from a stale read); SQLite sees a
 * comment, as BEGIN IMMEDIATE already serialises writers. Not valid with
 * aggregates or on the nullable side of an outer join. */
#define DB_LOCK_ROWS "/*FOR UPDATE*/"

struct db;        /* one connection (opaque) */
struct db_stmt;   /* one prepared statement (opaque) */

/* Step results (negative values are IV_* errors). */
enum { DB_DONE = 0, DB_ROW = 1 };

/* Opens `sqlite:PATH` (the file and its directory are created when missing).
 * or a libpq URL `postgresql://` / `postgres://` (any libpq URI parameter,
 * e.g. ?options=-csearch_path%3Dschema, sslmode=...).
 * SQLite pragmas: WAL, foreign_keys=ON, busy_timeout, synchronous=FULL
 * (see docs/store.md). PostgreSQL: see src/db/pg.c (reconnects, retries).
 * *out: caller closes with db_close. */
int db_open(struct db **out, const char *url, struct iv_err *e);
void db_close(struct db *d);                 /* NULL is a no-op */
/* The URL fit for a log line: a password in the user part or a password=
 * parameter becomes "***". Writes at most out_size bytes, always terminated. */
void db_url_redact(const char *url, char *out, size_t out_size);
/* The file path of a `sqlite:` URL (caller frees), or NULL for any other URL and for
 * `sqlite::memory:`. */
char *db_sqlite_path(const char *url);
enum db_kind db_get_kind(const struct db *d);
/* PostgreSQL: how long a statement, BEGIN or wait that finds its connection dropped keeps
 * re-opening it before it gives up with IV_EAGAIN (default 15000 ms; IVORY_DB_RECONNECT_WAIT).
 * Process-wide: set once at start-up, before any thread opens a connection. */
void db_set_reconnect_wait_ms(int ms);

/* Runs SQL without parameters (may hold several statements separated by ';'). */
int db_exec(struct db *d, const char *sql, struct iv_err *e);

/* Prepares one statement; *out: caller frees with db_finalize. Errors are
 * IV_EDB with the engine's message. */
int db_prepare(struct db *d, const char *sql, struct db_stmt **out, struct iv_err *e);
void db_finalize(struct db_stmt *s);         /* NULL is a no-op */
/* Like db_prepare, but the statement is kept by the connection and reused the
 * next time the same SQL text is prepared on it (no parse, no malloc). The
 * caller still ends its use with db_finalize, which then only resets the
 * statement and clears its bindings. A statement still in use (not finalized)
 * is never handed out twice: the second caller gets a fresh uncached one. */
int db_prepare_cached(struct db *d, const char *sql, struct db_stmt **out, struct iv_err *e);

/* Binds parameter idx (1-based). Text is copied (v == NULL binds NULL). */
int db_bind_text(struct db_stmt *s, int idx, const char *v);
int db_bind_int64(struct db_stmt *s, int idx, int64_t v);
int db_bind_null(struct db_stmt *s, int idx);

/* Steps: DB_ROW when a row is available, DB_DONE when finished, or
 * IV_ECONFLICT (unique / foreign-key violation), IV_EAGAIN (database busy
 * beyond busy_timeout), IV_EDB (anything else) with e->msg set. */
int db_step(struct db_stmt *s, struct iv_err *e);
/* Resets a statement (bindings are kept) so it can be stepped again. */
void db_reset(struct db_stmt *s);

/* Column getters for the current row (0-based). Text is borrowed until the
 * next db_step/db_reset/db_finalize; NULL when the column is SQL NULL. */
const char *db_col_text(struct db_stmt *s, int col);
int64_t db_col_int64(struct db_stmt *s, int col);   /* NULL reads as 0 */
bool db_col_is_null(struct db_stmt *s, int col);
/* Heap copy of a text column (NULL stays NULL). Caller frees. */
char *db_col_strdup(struct db_stmt *s, int col);

/* Rows changed by the last INSERT/UPDATE/DELETE on this connection. */
int64_t db_changes(struct db *d);

/* IV_EIO when the database file opened by d was deleted or replaced since (SQLite would
 * keep writing into the unlinked inode and the data would be lost); IV_OK otherwise or for
 * databases without a file. Called before every write transaction and write statement. */
int db_check_file(struct db *d, struct iv_err *e);

/* Transactions. SQLite: BEGIN IMMEDIATE, so a read-then-write transaction
 * takes the write lock up front and cannot fail half-way with SQLITE_BUSY. */
int db_begin(struct db *d, struct iv_err *e);
/* A read-only transaction: every statement until commit/rollback reads the same
 * snapshot (SQLite: deferred BEGIN under WAL; PostgreSQL: REPEATABLE READ). */
int db_begin_read(struct db *d, struct iv_err *e);
int db_commit(struct db *d, struct iv_err *e);
void db_rollback(struct db *d);              /* best effort; safe when no tx is open */

/* ---- notifications ---------------------------------------------------------
 * db_listen: this connection (PostgreSQL only; keep it for the purpose) LISTENs to channel,
 * again after any reconnect. db_wait: waits up to timeout_ms for a NOTIFY on d (NULL, or a
 * SQLite connection: none) or for wake_fd (may be -1) to become readable. Returns 1 when
 * either happened (a reconnect counts, as notifications may have been missed), 0 at timeout,
 * or an error when the database stayed away. wake_fd is not read. */
int db_listen(struct db *d, const char *channel, struct iv_err *e);
int db_wait(struct db *d, int wake_fd, int timeout_ms, struct iv_err *e);

/* ---- migrations ----------------------------------------------------------
 * A migration is a numbered SQL script. db_migrate creates
 * schema_migrations(version, name, applied_at) when missing and applies, in
 * order, each migration whose version is not recorded yet, each in its own
 * transaction. *applied_out (may be NULL) receives how many ran. */
struct db_migration {
    int version;              /* strictly increasing, starting at 1 */
    const char *name;
    const char *sql;
    /* PostgreSQL's text when the portable one cannot serve both (triggers:
     * SQLite's CREATE TRIGGER ... BEGIN ... END against plpgsql). NULL: `sql`
     * runs on both engines. */
    const char *sql_pg;
};
int db_migrate(struct db *d, const struct db_migration *m, size_t n, int *applied_out,
               struct iv_err *e);
/* Highest applied version (0 when none). */
int db_schema_version(struct db *d, int *version_out, struct iv_err *e);

#endif
