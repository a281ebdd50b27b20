/*
 * db.c: the SQL layer's front (URL parsing, migrations) and its SQLite
 * backend. A libpq backend slots in behind the same functions: it rewrites
 * `?` placeholders to $n at prepare time and maps SQLSTATE 23505/23503 to
 * IV_ECONFLICT the way this file maps SQLITE_CONSTRAINT.
 *
 * Why these SQLite settings (see docs/store.md for the long form):
 *   journal_mode=WAL    readers never block the single writer;
 *   synchronous=FULL    the WAL is fsynced at every commit, so a run that the
 *                       API acknowledged survives power loss (NORMAL may lose
 *                       the last commits, which for a job table means a run
 *                       executed twice or a webhook effect forgotten);
 *   foreign_keys=ON     ON DELETE CASCADE is how a connector's runs, mappings
 *                       and jobs disappear with it;
 *   busy handler        writers queue instead of failing under contention, for
 *                       up to ~10 s (as busy_timeout=10000 did), polling the lock
 *                       every 0.2 ms for the first 0.1 s (sqlite_busy_wait).
 */
#include "db/db_int.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int map_sqlite(struct db *d, int rc, const char *what, struct iv_err *e)
{
    int base = rc & 0xff;
    const char *msg = d && d->sq ? sqlite3_errmsg(d->sq) : sqlite3_errstr(rc);
    if (base == SQLITE_CONSTRAINT)
        return iv_err_set(e, IV_ECONFLICT, "%s: constraint violated: %s", what, msg);
    if (base == SQLITE_BUSY || base == SQLITE_LOCKED)
        return iv_err_set(e, IV_EAGAIN, "%s: database busy: %s", what, msg);
    return iv_err_set(e, IV_EDB, "%s: %s", what, msg);
}

/* SQLite's own busy_timeout sleeps 1, 2, 5, 10, 15, 20, 25, 25, 25, 50, 50, 100 ms between
 * attempts, so a writer that finds the lock held (another claim, another API write: each
 * holds it for a commit of about a millisecond) often sleeps far longer than the holder
 * needs, and N waiters take turns at that back-off's pace. Polling every 0.2 ms for the
 * first 0.1 s, then every 5 ms, takes the lock within ~0.2 ms of its release and still
 * gives up after about 10 s (docs/store.md "SQLite settings and why"; bench/scheduler). */
static int sqlite_busy_wait(void *arg, int count)
{
    (void)arg;
    if (count < 500) {
        usleep(200);
        return 1;
    }
    if (count < 500 + 1980) {
        usleep(5000);
        return 1;
    }
    return 0;
}

static int mkdir_parent(const char *path)
{
    char *dir = xstrdup(path);
    char *slash = strrchr(dir, '/');
    int rc = 0;
    if (slash && slash != dir) {
        *slash = '\0';
        rc = mkdir_p(dir, 0700);
    }
    free(dir);
    return rc;
}

char *db_sqlite_path(const char *url)
{
    if (!url || strncmp(url, "sqlite:", 7) != 0)
        return NULL;
    const char *path = url + 7;
    if (!strncmp(path, "//", 2))
        path += 2;
    if (!*path || !strcmp(path, ":memory:"))
        return NULL;
    return xstrdup(path);
}

int db_open(struct db **out, const char *url, struct iv_err *e)
{
    *out = NULL;
    if (!url || !*url)
        return iv_err_set(e, IV_EINVAL, "store url is empty");
    if (!strncmp(url, "postgresql://", 13) || !strncmp(url, "postgres://", 11))
        return pg_open(out, url, e);
    if (strncmp(url, "sqlite:", 7) != 0)
        return iv_err_set(e, IV_EINVAL, "store url must start with sqlite: or postgresql://");
    const char *path = url + 7;
    if (!strncmp(path, "//", 2))
        path += 2;               /* tolerate sqlite://PATH */
    if (!*path)
        return iv_err_set(e, IV_EINVAL, "store url: sqlite path is empty");
    if (strcmp(path, ":memory:") != 0 && mkdir_parent(path) != 0)
        return iv_err_set(e, IV_EIO, "store: cannot create the directory of '%s': %s", path,
                          strerror(errno));

    struct db *d = xcalloc(1, sizeof *d);
    d->kind = DB_SQLITE;
    int rc = sqlite3_open_v2(path, &d->sq,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                             NULL);
    if (rc != SQLITE_OK) {
        iv_err_set(e, IV_EDB, "store: cannot open '%s': %s", path,
                   d->sq ? sqlite3_errmsg(d->sq) : sqlite3_errstr(rc));
        db_close(d);
        return IV_EDB;
    }
    struct stat fst;
    if (strcmp(path, ":memory:") != 0 && stat(path, &fst) == 0) {
        d->path = xstrdup(path);
        d->dev = fst.st_dev;
        d->ino = fst.st_ino;
    }
    sqlite3_extended_result_codes(d->sq, 1);
    sqlite3_busy_handler(d->sq, sqlite_busy_wait, NULL);
    rc = db_exec(d,
                 "PRAGMA journal_mode=WAL;"
                 "PRAGMA synchronous=FULL;"
                 "PRAGMA foreign_keys=ON;",
                 e);
    if (rc < 0) {
        db_close(d);
        return rc;
    }
    *out = d;
    return IV_OK;
}

void db_url_redact(const char *url, char *out, size_t out_size)
{
    struct buf b;
    buf_init(&b, 0);
    const char *p = url;
    const char *scheme = strstr(url, "://");
    if (scheme) {
        const char *auth = scheme + 3;
        size_t auth_len = strcspn(auth, "/?");
        const char *at = memchr(auth, '@', auth_len);
        const char *colon = at ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
        if (colon) {
            buf_append(&b, url, (size_t)(colon + 1 - url));
            buf_append_str(&b, "***");
            p = at;
        }
    }
    for (; *p; p++) {
        if ((p == url || p[-1] == '?' || p[-1] == '&') && !strncmp(p, "password=", 9)) {
            buf_append_str(&b, "password=***");
            p += 9 + strcspn(p + 9, "&");
            if (!*p)
                break;
        }
        buf_append(&b, p, 1);
    }
    char *full = buf_detach(&b, NULL);
    snprintf(out, out_size, "%s", full ? full : "");
    free(full);
}

void db_close(struct db *d)
{
    if (!d)
        return;
    if (d->kind == DB_POSTGRES) {
        pg_close(d);
        return;
    }
    for (int i = 0; i < d->n_cache; i++) {
        sqlite3_finalize(d->cache[i]->st);
        free((char *)d->cache[i]->sql);
        free(d->cache[i]);
    }
    if (d->sq)
        sqlite3_close_v2(d->sq);
    free(d->path);
    free(d);
}

int db_check_file(struct db *d, struct iv_err *e)
{
    if (!d->path)
        return IV_OK;
    struct stat st;
    if (stat(d->path, &st) != 0 || st.st_dev != d->dev || st.st_ino != d->ino)
        return iv_err_set(e, IV_EIO, "the store file '%s' was deleted or replaced while the "
                          "server was running (restore the data directory and restart)",
                          d->path);
    return IV_OK;
}

enum db_kind db_get_kind(const struct db *d)
{
    return d->kind;
}

int db_exec(struct db *d, const char *sql, struct iv_err *e)
{
    if (d->kind == DB_POSTGRES)
        return pg_exec(d, sql, e);
    char *err = NULL;
    int rc = sqlite3_exec(d->sq, sql, NULL, NULL, &err);
    if (rc != SQLITE_OK) {
        int base = rc & 0xff;
        int code = base == SQLITE_CONSTRAINT ? IV_ECONFLICT
                   : (base == SQLITE_BUSY || base == SQLITE_LOCKED) ? IV_EAGAIN
                                                                     : IV_EDB;
        iv_err_set(e, code, "sql: %s", err ? err : sqlite3_errstr(rc));
        sqlite3_free(err);
        return code;
    }
    return IV_OK;
}

int db_prepare(struct db *d, const char *sql, struct db_stmt **out, struct iv_err *e)
{
    *out = NULL;
    if (d->kind == DB_POSTGRES)
        return pg_prepare(d, sql, false, out, e);
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(d->sq, sql, -1, &st, NULL);
    if (rc != SQLITE_OK)
        return map_sqlite(d, rc, "sql prepare", e);
    struct db_stmt *s = xcalloc(1, sizeof *s);
    s->db = d;
    s->st = st;
    *out = s;
    return IV_OK;
}

int db_prepare_cached(struct db *d, const char *sql, struct db_stmt **out, struct iv_err *e)
{
    *out = NULL;
    for (int i = 0; i < d->n_cache; i++) {
        struct db_stmt *s = d->cache[i];
        if (!s->in_use && (s->sql == sql || !strcmp(s->sql, sql))) {
            s->in_use = true;
            *out = s;
            return IV_OK;
        }
    }
    if (d->n_cache == DB_STMT_CACHE)
        return db_prepare(d, sql, out, e);
    if (d->kind == DB_POSTGRES) {
        int rc = pg_prepare(d, sql, true, out, e);
        if (rc < 0)
            return rc;
        struct db_stmt *s = *out;
        s->sql = xstrdup(sql);
        s->cached = true;
        s->in_use = true;
        d->cache[d->n_cache++] = s;
        return IV_OK;
    }
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v3(d->sq, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL);
    if (rc != SQLITE_OK)
        return map_sqlite(d, rc, "sql prepare", e);
    struct db_stmt *s = xcalloc(1, sizeof *s);
    s->db = d;
    s->st = st;
    s->sql = xstrdup(sql);
    s->cached = true;
    s->in_use = true;
    d->cache[d->n_cache++] = s;
    *out = s;
    return IV_OK;
}

void db_finalize(struct db_stmt *s)
{
    if (!s)
        return;
    if (s->db->kind == DB_POSTGRES) {
        if (s->cached) {
            pg_stmt_clear(s);
            s->in_use = false;
        } else {
            pg_stmt_free(s);
        }
        return;
    }
    if (s->cached) {
        /* Back to the connection's cache: reset (ends its read snapshot) and
         * forget the bindings so the next user starts clean. */
        sqlite3_reset(s->st);
        sqlite3_clear_bindings(s->st);
        s->in_use = false;
        return;
    }
    sqlite3_finalize(s->st);
    free(s);
}

int db_bind_text(struct db_stmt *s, int idx, const char *v)
{
    if (s->db->kind == DB_POSTGRES)
        return pg_bind(s, idx, v);
    int rc = v ? sqlite3_bind_text(s->st, idx, v, -1, SQLITE_TRANSIENT)
               : sqlite3_bind_null(s->st, idx);
    return rc == SQLITE_OK ? IV_OK : IV_EDB;
}

int db_bind_int64(struct db_stmt *s, int idx, int64_t v)
{
    if (s->db->kind == DB_POSTGRES) {
        char num[24];
        snprintf(num, sizeof num, "%lld", (long long)v);
        return pg_bind(s, idx, num);
    }
    return sqlite3_bind_int64(s->st, idx, v) == SQLITE_OK ? IV_OK : IV_EDB;
}

int db_bind_null(struct db_stmt *s, int idx)
{
    if (s->db->kind == DB_POSTGRES)
        return pg_bind(s, idx, NULL);
    return sqlite3_bind_null(s->st, idx) == SQLITE_OK ? IV_OK : IV_EDB;
}

int db_step(struct db_stmt *s, struct iv_err *e)
{
    if (s->db->kind == DB_POSTGRES)
        return pg_step(s, e);
    /* A write to a deleted store file would "succeed" into an unlinked inode and be lost:
     * writes are refused once the file is gone (a stat, about a microsecond). */
    if (s->db->tx_depth == 0 && !sqlite3_stmt_readonly(s->st) && !sqlite3_stmt_busy(s->st)) {
        int frc = db_check_file(s->db, e);
        if (frc != IV_OK)
            return frc;
    }
    int rc = sqlite3_step(s->st);
    if (rc == SQLITE_ROW)
        return DB_ROW;
    if (rc == SQLITE_DONE)
        return DB_DONE;
    int out = map_sqlite(s->db, rc, "sql", e);
    sqlite3_reset(s->st);
    return out;
}

void db_reset(struct db_stmt *s)
{
    if (s->db->kind == DB_POSTGRES) {
        pg_reset(s);
        return;
    }
    sqlite3_reset(s->st);
}

const char *db_col_text(struct db_stmt *s, int col)
{
    if (s->db->kind == DB_POSTGRES)
        return pg_col_text(s, col);
    if (sqlite3_column_type(s->st, col) == SQLITE_NULL)
        return NULL;
    return (const char *)sqlite3_column_text(s->st, col);
}

int64_t db_col_int64(struct db_stmt *s, int col)
{
    if (s->db->kind == DB_POSTGRES) {
        /* Text format: integers as digits, booleans (comparisons, EXISTS) as t/f. */
        const char *v = pg_col_text(s, col);
        if (!v)
            return 0;
        if (v[0] == 't' && !v[1])
            return 1;
        return strtoll(v, NULL, 10);
    }
    return sqlite3_column_int64(s->st, col);
}

bool db_col_is_null(struct db_stmt *s, int col)
{
    if (s->db->kind == DB_POSTGRES)
        return pg_col_text(s, col) == NULL;
    return sqlite3_column_type(s->st, col) == SQLITE_NULL;
}

char *db_col_strdup(struct db_stmt *s, int col)
{
    return xstrdup(db_col_text(s, col));
}

int64_t db_changes(struct db *d)
{
    if (d->kind == DB_POSTGRES)
        return d->changes;
    return sqlite3_changes64(d->sq);
}

int db_begin(struct db *d, struct iv_err *e)
{
    if (d->kind == DB_POSTGRES) {
        int prc = pg_begin(d, "BEGIN", e);
        if (prc == IV_OK)
            d->tx_depth = 1;
        return prc;
    }
    int rc = db_check_file(d, e);
    if (rc != IV_OK)
        return rc;
    rc = db_exec(d, "BEGIN IMMEDIATE", e);
    if (rc == IV_OK)
        d->tx_depth = 1;
    return rc;
}

int db_begin_read(struct db *d, struct iv_err *e)
{
    /* Deferred: the snapshot is taken by the first SELECT and kept until
     * commit/rollback, so consecutive reads agree with each other. */
    int rc = d->kind == DB_POSTGRES
                 ? pg_begin(d, "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY", e)
                 : db_exec(d, "BEGIN", e);
    if (rc == IV_OK)
        d->tx_depth = 1;
    return rc;
}

int db_commit(struct db *d, struct iv_err *e)
{
    int rc = db_exec(d, "COMMIT", e);
    if (rc == IV_OK)
        d->tx_depth = 0;
    else if (d->kind == DB_POSTGRES)
        db_rollback(d);          /* a failed COMMIT has ended the transaction */
    return rc;
}

void db_rollback(struct db *d)
{
    if (d->kind == DB_POSTGRES) {
        pg_rollback(d);
        d->tx_depth = 0;
        d->tx_broken = false;
        return;
    }
    if (!sqlite3_get_autocommit(d->sq))
        sqlite3_exec(d->sq, "ROLLBACK", NULL, NULL, NULL);
    d->tx_depth = 0;
}

/* ---- notifications -------------------------------------------------------- */

int db_listen(struct db *d, const char *channel, struct iv_err *e)
{
    if (d->kind != DB_POSTGRES)
        return iv_err_set(e, IV_EUNSUPPORTED, "LISTEN needs PostgreSQL");
    return pg_listen(d, channel, e);
}

int db_wait(struct db *d, int wake_fd, int timeout_ms, struct iv_err *e)
{
    if (d && d->kind == DB_POSTGRES)
        return pg_wait_notify(d, wake_fd, timeout_ms, e);
    struct pollfd p = {.fd = wake_fd, .events = POLLIN};
    int n = poll(&p, wake_fd >= 0 ? 1 : 0, timeout_ms);
    return n > 0 ? 1 : 0;
}

/* ---- migrations ---------------------------------------------------------- */

static const char migrations_table[] =
    "CREATE TABLE IF NOT EXISTS schema_migrations ("
    " version INTEGER PRIMARY KEY,"
    " name TEXT NOT NULL,"
    " applied_at BIGINT NOT NULL)";

int db_schema_version(struct db *d, int *version_out, struct iv_err *e)
{
    struct db_stmt *s = NULL;
    *version_out = 0;
    int rc = db_exec(d, migrations_table, e);
    if (rc < 0)
        return rc;
    rc = db_prepare(d, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations", &s, e);
    if (rc < 0)
        return rc;
    rc = db_step(s, e);
    if (rc == DB_ROW) {
        *version_out = (int)db_col_int64(s, 0);
        rc = IV_OK;
    }
    db_finalize(s);
    return rc < 0 ? rc : IV_OK;
}

int db_migrate(struct db *d, const struct db_migration *m, size_t n, int *applied_out,
               struct iv_err *e)
{
    int applied = 0, rc = IV_OK;
    struct db_stmt *s = NULL;
    struct iv_err local;
    if (!e)
        e = &local;
    if (applied_out)
        *applied_out = 0;
    for (size_t i = 0; i < n; i++) {
        rc = db_begin(d, e);
        if (rc < 0)
            goto out;
        int have = 0;
        /* Re-read inside the write transaction: two processes starting at the
         * same time must not both apply the same migration. */
        rc = db_schema_version(d, &have, e);
        if (rc < 0)
            goto fail;
        if (m[i].version <= have) {
            db_rollback(d);
            continue;
        }
        rc = db_exec(d, d->kind == DB_POSTGRES && m[i].sql_pg ? m[i].sql_pg : m[i].sql, e);
        if (rc < 0) {
            struct iv_err inner = *e;
            iv_err_set(e, rc, "migration %d (%s): %s", m[i].version, m[i].name, inner.msg);
            goto fail;
        }
        rc = db_prepare(d, "INSERT INTO schema_migrations (version, name, applied_at) "
                           "VALUES (?, ?, ?)", &s, e);
        if (rc < 0)
            goto fail;
        db_bind_int64(s, 1, m[i].version);
        db_bind_text(s, 2, m[i].name);
        db_bind_int64(s, 3, now_ms());
        rc = db_step(s, e);
        db_finalize(s);
        s = NULL;
        if (rc < 0)
            goto fail;
        rc = db_commit(d, e);
        if (rc < 0)
            goto fail;
        applied++;
    }
    rc = IV_OK;
    goto out;
fail:
    db_rollback(d);
out:
    if (applied_out)
        *applied_out = applied;
    return rc;
}
