/*
 * pg.c: the libpq backend of src/db (db.c dispatches here when the URL is
 * postgresql:// or postgres://). Same behaviour as the SQLite backend, seen
 * from the store:
 *
 *   placeholders  `?` is rewritten to $1..$n at prepare time (outside quotes);
 *   parameters    sent as text, typed by the server from their context;
 *   results       fetched whole at the first db_step, then walked row by row
 *                 (the store's result sets are bounded: pages, claims, runs);
 *   cache         db_prepare_cached statements are server-side prepared
 *                 statements ("ivN"), re-prepared after a reconnect;
 *   errors        SQLSTATE class 23 (unique, foreign key) -> IV_ECONFLICT;
 *                 40001 serialization failure / 40P01 deadlock / a dropped
 *                 connection -> IV_EAGAIN; the rest IV_EDB;
 *   transactions  BEGIN (READ COMMITTED) for writes: row locks and
 *                 FOR UPDATE [SKIP LOCKED] in the store's SQL give the
 *                 serialisation SQLite's BEGIN IMMEDIATE gives; read
 *                 transactions are REPEATABLE READ, READ ONLY (one snapshot).
 *
 * Dropped connections (database restart, network cut, idle kill): before a
 * statement or BEGIN is sent outside a transaction, an idle socket that has
 * become readable (the server's "terminating connection" or EOF) or a
 * connection libpq already knows is bad is re-opened, retrying for up to
 * IVORY_DB_RECONNECT_WAIT (db_set_reconnect_wait_ms), so a database restart costs the
 * first caller a short wait instead of an error; once a whole wait has failed, the database
 * counts as down and later callers try once each (fail fast: the API answers 503) until a
 * connection succeeds again. Connections carry connect_timeout and TCP keepalive defaults
 * (a silent network failure is noticed in about a minute), which the URL may override.
 * A statement that fails because the connection dropped while it ran is re-run on a new
 * connection only when it is a read (SELECT / WITH ... SELECT) outside a transaction; a write's outcome is unknown, so
 * the caller gets IV_EAGAIN. Serialization failures and deadlocks of a
 * single autocommit statement are retried (the server rolled the statement
 * back, so re-running it is safe); inside a transaction the caller owns the
 * retry. See docs/store.md "PostgreSQL".
 */
#include "db/db_int.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define PG_AUTOCOMMIT_RETRIES 3

/* db_set_reconnect_wait_ms; written once at start-up, before any connection exists. */
static int reconnect_wait_ms = 15000;

void db_set_reconnect_wait_ms(int ms)
{
    reconnect_wait_ms = ms < 0 ? 0 : ms;
}

static void quiet_notices(void *arg, const char *message)
{
    (void)arg;
    (void)message;   /* "relation already exists, skipping" and the like */
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {
    }
}

/* One connection attempt; on failure e says why and d->pg is NULL. */
static int connect_once(struct db *d, struct iv_err *e)
{
    if (d->pg)
        PQfinish(d->pg);
    /* Defaults a silent network failure needs (connect timeout, TCP keepalives: a dead peer is
     * noticed in about a minute instead of never); the URL's own parameters, which come after
     * them, override any of them. */
    static const char *const keys[] = {"connect_timeout", "keepalives", "keepalives_idle",
                                       "keepalives_interval", "keepalives_count",
                                       "tcp_user_timeout", "dbname", NULL};
    const char *vals[] = {"10", "1", "30", "10", "3", "60000", d->url, NULL};
    d->pg = PQconnectdbParams(keys, vals, 1);
    if (!d->pg || PQstatus(d->pg) != CONNECTION_OK) {
        /* libpq's message names host/port, never the password. */
        const char *msg = d->pg ? PQerrorMessage(d->pg) : "out of memory";
        iv_err_set(e, IV_EAGAIN, "store: cannot connect to PostgreSQL: %.*s",
                   (int)strcspn(msg, "\n"), msg);
        if (d->pg)
            PQfinish(d->pg);
        d->pg = NULL;
        return IV_EAGAIN;
    }
    PQsetNoticeProcessor(d->pg, quiet_notices, NULL);
    d->epoch++;
    d->tx_broken = false;
    if (d->listening) {
        char *sql = xasprintf("LISTEN %s", d->listening);
        PGresult *r = PQexec(d->pg, sql);
        free(sql);
        PQclear(r);
    }
    return IV_OK;
}

/* Set (process-wide) when a reconnect gave up after its whole wait: the database is down
 * for longer than a restart. Until a connection succeeds again, callers make one attempt
 * each instead of waiting too, so a request during an outage fails fast (503) rather than
 * after one wait per statement. */
static int database_down;

/* Re-opens the connection, retrying while the server is restarting. */
static int reconnect(struct db *d, struct iv_err *e)
{
    bool known_down = __atomic_load_n(&database_down, __ATOMIC_RELAXED);
    int64_t deadline = now_ms() + (known_down ? 0 : reconnect_wait_ms);
    int wait = 50;
    for (;;) {
        int rc = connect_once(d, e);
        if (rc == IV_OK) {
            __atomic_store_n(&database_down, 0, __ATOMIC_RELAXED);
            log_info("store: reconnected to PostgreSQL");
            return IV_OK;
        }
        if (now_ms() >= deadline) {
            if (!known_down)
                __atomic_store_n(&database_down, 1, __ATOMIC_RELAXED);
            return rc;
        }
        sleep_ms(wait);
        wait = wait * 2 > 1000 ? 1000 : wait * 2;
    }
}

/* True when the connection is known or seen to be dead while idle: libpq
 * says so, or the socket is readable (the server only speaks unasked to say
 * goodbye, or to deliver a NOTIFY, which PQconsumeInput absorbs). */
static bool idle_connection_dead(struct db *d)
{
    if (!d->pg || PQstatus(d->pg) != CONNECTION_OK)
        return true;
    struct pollfd p = {.fd = PQsocket(d->pg), .events = POLLIN};
    if (p.fd < 0)
        return true;
    if (poll(&p, 1, 0) <= 0)
        return false;
    if (p.revents & (POLLERR | POLLHUP | POLLNVAL))
        return true;
    if (!PQconsumeInput(d->pg))
        return true;
    return PQstatus(d->pg) != CONNECTION_OK;
}

static int ensure_connected(struct db *d, struct iv_err *e)
{
    if (d->tx_depth > 0)
        return d->tx_broken ? iv_err_set(e, IV_EAGAIN,
                                         "store: the PostgreSQL connection dropped inside a "
                                         "transaction")
                            : IV_OK;
    return idle_connection_dead(d) ? reconnect(d, e) : IV_OK;
}

int pg_open(struct db **out, const char *url, struct iv_err *e)
{
    *out = NULL;
    struct db *d = xcalloc(1, sizeof *d);
    d->kind = DB_POSTGRES;
    d->url = xstrdup(url);
    int rc = connect_once(d, e);
    if (rc < 0) {
        pg_close(d);
        return rc;
    }
    *out = d;
    return IV_OK;
}

void pg_close(struct db *d)
{
    for (int i = 0; i < d->n_cache; i++)
        pg_stmt_free(d->cache[i]);
    d->n_cache = 0;
    if (d->pg)
        PQfinish(d->pg);
    free(d->listening);
    free(d->url);
    free(d);
}

/* Maps a failed result to an IV_* code with the server's message. */
static int map_result(struct db *d, PGresult *r, const char *what, struct iv_err *e)
{
    const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    const char *msg = r ? PQresultErrorMessage(r) : PQerrorMessage(d->pg);
    if (!msg || !*msg)
        msg = PQerrorMessage(d->pg);
    int len = (int)strcspn(msg, "\n");
    if (PQstatus(d->pg) != CONNECTION_OK || !state)
        return iv_err_set(e, IV_EAGAIN, "%s: PostgreSQL connection lost: %.*s", what, len, msg);
    if (!strncmp(state, "23", 2))
        return iv_err_set(e, IV_ECONFLICT, "%s: constraint violated: %.*s", what, len, msg);
    if (!strcmp(state, "40001") || !strcmp(state, "40P01") || !strcmp(state, "55P03"))
        return iv_err_set(e, IV_EAGAIN, "%s: database busy: %.*s", what, len, msg);
    return iv_err_set(e, IV_EDB, "%s: %.*s", what, len, msg);
}

static bool result_ok(PGresult *r)
{
    ExecStatusType st = PQresultStatus(r);
    return st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
}

static bool retryable_state(PGresult *r)
{
    const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    return state && (!strcmp(state, "40001") || !strcmp(state, "40P01"));
}

int pg_exec(struct db *d, const char *sql, struct iv_err *e)
{
    int rc = ensure_connected(d, e);
    if (rc < 0)
        return rc;
    PGresult *r = PQexec(d->pg, sql);
    if (!result_ok(r)) {
        rc = map_result(d, r, "sql", e);
        if (d->tx_depth > 0 && PQstatus(d->pg) != CONNECTION_OK)
            d->tx_broken = true;
    } else {
        const char *n = PQcmdTuples(r);
        d->changes = n && *n ? strtoll(n, NULL, 10) : 0;
    }
    PQclear(r);
    return rc;
}

/* `?` -> $n and DB_LOCK_ROWS -> FOR UPDATE outside '...' and "..." quotes;
 * *nparams_out counts the placeholders. */
static char *rewrite_placeholders(const char *sql, int *nparams_out)
{
    struct buf b;
    buf_init(&b, 0);
    char quote = 0;
    int n = 0;
    for (const char *p = sql; *p; p++) {
        if (quote) {
            if (*p == quote)
                quote = 0;
        } else if (*p == '\'' || *p == '"') {
            quote = *p;
        } else if (*p == '?') {
            buf_printf(&b, "$%d", ++n);
            continue;
        } else if (!strncmp(p, DB_LOCK_ROWS, sizeof DB_LOCK_ROWS - 1)) {
            buf_append_str(&b, "FOR UPDATE");
            p += sizeof DB_LOCK_ROWS - 2;
            continue;
        }
        buf_append(&b, p, 1);
    }
    *nparams_out = n;
    return buf_detach(&b, NULL);
}

static bool sql_is_read(const char *sql)
{
    while (*sql == ' ' || *sql == '\n' || *sql == '\t' || *sql == '(')
        sql++;
    if (strncasecmp(sql, "SELECT", 6) && strncasecmp(sql, "WITH", 4))
        return false;
    /* A locking read belongs to a write transaction; never re-run it alone. */
    return !strcasestr(sql, "FOR UPDATE") && !strcasestr(sql, "INSERT ") &&
           !strcasestr(sql, "UPDATE ") && !strcasestr(sql, "DELETE ");
}

int pg_prepare(struct db *d, const char *sql, bool cached, struct db_stmt **out,
               struct iv_err *e)
{
    (void)e;
    struct db_stmt *s = xcalloc(1, sizeof *s);
    s->db = d;
    s->pg_sql = rewrite_placeholders(sql, &s->nparams);
    s->params = xcalloc((size_t)(s->nparams ? s->nparams : 1), sizeof *s->params);
    s->is_read = sql_is_read(sql);
    if (cached) {
        static unsigned serial;   /* names only need to differ per connection */
        snprintf(s->name, sizeof s->name, "iv%u", __atomic_add_fetch(&serial, 1,
                                                                     __ATOMIC_RELAXED));
    }
    *out = s;
    return IV_OK;
}

void pg_reset(struct db_stmt *s)
{
    PQclear(s->res);
    s->res = NULL;
    s->executed = false;
    s->row = s->nrows = 0;
}

void pg_stmt_clear(struct db_stmt *s)
{
    pg_reset(s);
    for (int i = 0; i < s->nparams; i++) {
        free(s->params[i]);
        s->params[i] = NULL;
    }
}

void pg_stmt_free(struct db_stmt *s)
{
    if (!s)
        return;
    pg_stmt_clear(s);
    free(s->params);
    free(s->pg_sql);
    free((char *)s->sql);
    free(s);
}

int pg_bind(struct db_stmt *s, int idx, const char *v)
{
    if (idx < 1 || idx > s->nparams)
        return IV_EDB;
    free(s->params[idx - 1]);
    s->params[idx - 1] = v ? xstrdup(v) : NULL;
    return IV_OK;
}

static PGresult *execute_once(struct db_stmt *s)
{
    struct db *d = s->db;
    const char *const *vals = (const char *const *)s->params;
    if (!s->name[0])
        return PQexecParams(d->pg, s->pg_sql, s->nparams, NULL, vals, NULL, NULL, 0);
    if (s->prepared_epoch != d->epoch) {
        PGresult *p = PQprepare(d->pg, s->name, s->pg_sql, s->nparams, NULL);
        if (!result_ok(p))
            return p;
        PQclear(p);
        s->prepared_epoch = d->epoch;
    }
    return PQexecPrepared(d->pg, s->name, s->nparams, vals, NULL, NULL, 0);
}

static int execute(struct db_stmt *s, struct iv_err *e)
{
    struct db *d = s->db;
    for (int attempt = 0;; attempt++) {
        int rc = ensure_connected(d, e);
        if (rc < 0)
            return rc;
        PGresult *r = execute_once(s);
        if (result_ok(r)) {
            s->res = r;
            s->nrows = PQresultStatus(r) == PGRES_TUPLES_OK ? PQntuples(r) : 0;
            const char *n = PQcmdTuples(r);
            d->changes = n && *n ? strtoll(n, NULL, 10) : 0;
            return IV_OK;
        }
        bool dropped = PQstatus(d->pg) != CONNECTION_OK;
        bool again = attempt < PG_AUTOCOMMIT_RETRIES && d->tx_depth == 0 &&
                     ((dropped && s->is_read) || (!dropped && retryable_state(r)));
        rc = map_result(d, r, "sql", e);
        PQclear(r);
        if (dropped && d->tx_depth > 0)
            d->tx_broken = true;
        if (!again)
            return rc;
        log_warn("store: retrying a statement after: %s", e ? e->msg : "an error");
        if (!dropped)
            sleep_ms(5 << attempt);
    }
}

int pg_step(struct db_stmt *s, struct iv_err *e)
{
    if (!s->executed) {
        int rc = execute(s, e);
        if (rc < 0)
            return rc;
        s->executed = true;
        s->row = -1;
    }
    if (s->row + 1 < s->nrows) {
        s->row++;
        return DB_ROW;
    }
    s->row = s->nrows;
    return DB_DONE;
}

const char *pg_col_text(struct db_stmt *s, int col)
{
    if (!s->res || s->row < 0 || s->row >= s->nrows || col >= PQnfields(s->res) ||
        PQgetisnull(s->res, s->row, col))
        return NULL;
    return PQgetvalue(s->res, s->row, col);
}

int pg_begin(struct db *d, const char *sql, struct iv_err *e)
{
    /* Nothing has happened yet, so a BEGIN that finds the connection dead is
     * always safe to send again on a new one. */
    for (int attempt = 0;; attempt++) {
        int rc = pg_exec(d, sql, e);
        /* d->pg NULL: ensure_connected already tried to reconnect, and failed. */
        if (rc == IV_OK || attempt > 0 || !d->pg || PQstatus(d->pg) == CONNECTION_OK)
            return rc;
        rc = reconnect(d, e);
        if (rc < 0)
            return rc;
    }
}

void pg_rollback(struct db *d)
{
    if (!d->pg || PQstatus(d->pg) != CONNECTION_OK)
        return;
    if (PQtransactionStatus(d->pg) == PQTRANS_IDLE)
        return;
    PQclear(PQexec(d->pg, "ROLLBACK"));
}

int pg_listen(struct db *d, const char *channel, struct iv_err *e)
{
    free(d->listening);
    d->listening = xstrdup(channel);
    char *sql = xasprintf("LISTEN %s", channel);
    int rc = pg_exec(d, sql, e);
    free(sql);
    return rc;
}

static int drain_notifies(struct db *d)
{
    int got = 0;
    PGnotify *n;
    while ((n = PQnotifies(d->pg))) {
        got = 1;
        PQfreemem(n);
    }
    return got;
}

/* Waits for a NOTIFY on the channel this connection LISTENs to, or for wake_fd.
 * A dropped connection is re-opened (and LISTENs again) and counts as a
 * wake-up, since notifications sent meanwhile were lost. */
int pg_wait_notify(struct db *d, int wake_fd, int timeout_ms, struct iv_err *e)
{
    if (idle_connection_dead(d)) {
        int rc = reconnect(d, e);
        return rc < 0 ? rc : 1;
    }
    if (drain_notifies(d))
        return 1;
    struct pollfd p[2] = {{.fd = PQsocket(d->pg), .events = POLLIN},
                          {.fd = wake_fd, .events = POLLIN}};
    int pr = poll(p, wake_fd >= 0 ? 2 : 1, timeout_ms);
    if (pr <= 0)
        return 0;
    if (p[0].revents) {
        if (!PQconsumeInput(d->pg) || PQstatus(d->pg) != CONNECTION_OK) {
            int rc = reconnect(d, e);
            return rc < 0 ? rc : 1;
        }
        if (drain_notifies(d))
            return 1;
    }
    return wake_fd >= 0 && p[1].revents ? 1 : 0;
}
