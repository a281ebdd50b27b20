/*
 * cmd_target_iceberg: `ivory target-iceberg --config FILE [--run-id ID]`, a
 * standards-following Singer target (CONTRACT §6, §10): Singer messages on
 * stdin -> Iceberg tables, one table per stream, through the same lake API
 * the runner uses.
 *
 * Commits happen only at STATE boundaries: when a STATE arrives and at least
 * batch_rows rows or batch_seconds seconds have gone by since the last
 * commit, every table with pending rows commits one snapshot whose summary
 * carries that STATE; the STATE is then printed on stdout (one JSON line), so
 * Meltano can use this as a loader. At clean EOF the remaining rows commit
 * with the latest STATE. Any bad line (non-JSON, unknown type, RECORD before
 * its SCHEMA, a record not matching its schema, a line over the cap) stops
 * the run with exit 1 and a message naming the line number; uncommitted rows
 * are discarded, so each table stays at its last good snapshot.
 * See docs/singer.md for the decisions behind this.
 */
#include "cmd/cmd.h"
#include "lake/lake.h"
#include "singer/singer.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DEFAULT_BATCH_ROWS 1000000
#define DEFAULT_BATCH_SECONDS 300.0

/* ---- pipeline: decode on the main thread, write on a second one ------------------
 * RECORD decoding and Parquet encoding each take about half the CPU of a load, so
 * they run on two threads: the main thread reads and decodes lines into a compact
 * row batch (the decoder's sink appends tagged values), and the writer thread
 * replays full batches into lake_put_* calls. Two batches alternate (double
 * buffering), so memory stays bounded. Everything else that touches the lake
 * (SCHEMA evolution, commits, EOF) first drains the writer, so the lake objects
 * are only ever used by one thread at a time (hand-offs go through the mutex). */
#define BATCH_BYTES (1u << 20)

enum { B_NULL = 'N', B_FALSE = 'f', B_TRUE = 't', B_I32 = 'i', B_I64 = 'l', B_F64 = 'd',
       B_BYTES = 's', B_END = 'E' };

struct batch {
    struct buf data;
    struct lake_append *a;        /* rows of one stream's append */
};

struct pipe {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool started, quit;
    struct batch b[2];
    int fill;                     /* batch the producer fills */
    struct batch *queued;         /* handed to the writer, NULL when none */
    bool busy;                    /* writer is replaying a batch */
    int err;                      /* first writer error (sticky) */
    char errmsg[256];
};

static int b_null(void *c, int col) { (void)col; return buf_putc(&((struct batch *)c)->data, B_NULL); }
static int b_bool(void *c, int col, bool v)
{
    (void)col;
    return buf_putc(&((struct batch *)c)->data, v ? B_TRUE : B_FALSE);
}
static int b_i32(void *c, int col, int32_t v)
{
    (void)col;
    struct buf *b = &((struct batch *)c)->data;
    int rc = buf_putc(b, B_I32);
    return rc ? rc : buf_append(b, &v, sizeof(v));
}
static int b_i64(void *c, int col, int64_t v)
{
    (void)col;
    struct buf *b = &((struct batch *)c)->data;
    int rc = buf_putc(b, B_I64);
    return rc ? rc : buf_append(b, &v, sizeof(v));
}
static int b_dbl(void *c, int col, double v)
{
    (void)col;
    struct buf *b = &((struct batch *)c)->data;
    int rc = buf_putc(b, B_F64);
    return rc ? rc : buf_append(b, &v, sizeof(v));
}
static int b_bytes(void *c, int col, const void *p, size_t n)
{
    (void)col;
    struct buf *b = &((struct batch *)c)->data;
    uint64_t len = n;
    int rc = buf_reserve(b, 1 + sizeof(len) + n);
    if (rc)
        return rc;
    buf_putc(b, B_BYTES);
    buf_append(b, &len, sizeof(len));
    return buf_append(b, p, n);
}
static int b_end(void *c) { return buf_putc(&((struct batch *)c)->data, B_END); }

/* Replays one batch into its append. */
static int batch_replay(struct batch *bt, char *msg, size_t msgsz)
{
    const char *p = bt->data.data, *end = p + bt->data.len;
    int col = 0, rc = 0;
    while (p < end && rc == 0) {
        char tag = *p++;
        switch (tag) {
        case B_NULL: rc = lake_put_null(bt->a, col++); break;
        case B_FALSE: rc = lake_put_bool(bt->a, col++, false); break;
        case B_TRUE: rc = lake_put_bool(bt->a, col++, true); break;
        case B_I32: { int32_t v; memcpy(&v, p, sizeof(v)); p += sizeof(v);
                      rc = lake_put_i32(bt->a, col++, v); break; }
        case B_I64: { int64_t v; memcpy(&v, p, sizeof(v)); p += sizeof(v);
                      rc = lake_put_i64(bt->a, col++, v); break; }
        case B_F64: { double v; memcpy(&v, p, sizeof(v)); p += sizeof(v);
                      rc = lake_put_double(bt->a, col++, v); break; }
        case B_BYTES: { uint64_t n; memcpy(&n, p, sizeof(n)); p += sizeof(n);
                        rc = lake_put_bytes(bt->a, col++, p, (size_t)n); p += n; break; }
        case B_END: rc = lake_append_end_row(bt->a); col = 0; break;
        default: rc = IV_EINVAL; break;
        }
    }
    if (rc)
        snprintf(msg, msgsz, "writing a row failed (%s)", iv_strerror(rc));
    return rc;
}

static void *writer_main(void *arg)
{
    struct pipe *pp = arg;
    pthread_mutex_lock(&pp->mu);
    for (;;) {
        while (!pp->queued && !pp->quit)
            pthread_cond_wait(&pp->cv, &pp->mu);
        if (!pp->queued && pp->quit)
            break;
        struct batch *bt = pp->queued;
        pp->busy = true;
        pthread_mutex_unlock(&pp->mu);
        char msg[256] = "";
        int rc = pp->err ? 0 : batch_replay(bt, msg, sizeof(msg));
        buf_reset(&bt->data);
        pthread_mutex_lock(&pp->mu);
        if (rc && !pp->err) {
            pp->err = rc;
            snprintf(pp->errmsg, sizeof(pp->errmsg), "%s", msg);
        }
        pp->queued = NULL;
        pp->busy = false;
        pthread_cond_broadcast(&pp->cv);
    }
    pthread_mutex_unlock(&pp->mu);
    return NULL;
}

static void pipe_init(struct pipe *pp)
{
    memset(pp, 0, sizeof(*pp));
    pthread_mutex_init(&pp->mu, NULL);
    pthread_cond_init(&pp->cv, NULL);
    for (int i = 0; i < 2; i++)
        buf_init(&pp->b[i].data, (size_t)1 << 34);
    pp->started = pthread_create(&pp->thread, NULL, writer_main, pp) == 0;
}

/* Hands the batch being filled to the writer (waiting for the other one to be
 * free) and switches to the other batch. Returns the writer's sticky error. */
static int pipe_flush(struct pipe *pp, struct iv_err *e)
{
    struct batch *cur = &pp->b[pp->fill];
    pthread_mutex_lock(&pp->mu);
    while (pp->queued)
        pthread_cond_wait(&pp->cv, &pp->mu);
    int err = pp->err;
    if (!err && cur->data.len > 0) {
        if (pp->started) {
            pp->queued = cur;
            pp->fill ^= 1;
            pthread_cond_broadcast(&pp->cv);
        } else {
            char msg[256] = "";
            err = batch_replay(cur, msg, sizeof(msg));   /* no thread: write inline */
            buf_reset(&cur->data);
            if (err) {
                pp->err = err;
                snprintf(pp->errmsg, sizeof(pp->errmsg), "%s", msg);
            }
        }
    }
    pthread_mutex_unlock(&pp->mu);
    if (err)
        return iv_err_set(e, err, "%s", pp->errmsg);
    return IV_OK;
}

/* Flushes and waits until the writer is idle: afterwards the caller may use the
 * lake objects directly. */
static int pipe_drain(struct pipe *pp, struct iv_err *e)
{
    int rc = pipe_flush(pp, e);
    pthread_mutex_lock(&pp->mu);
    while (pp->queued || pp->busy)
        pthread_cond_wait(&pp->cv, &pp->mu);
    if (!rc && pp->err)
        rc = iv_err_set(e, pp->err, "%s", pp->errmsg);
    pthread_mutex_unlock(&pp->mu);
    return rc;
}

/* Returns the batch to fill for rows of `a` (flushing when it holds another
 * stream's rows or is full). */
static int pipe_batch(struct pipe *pp, struct lake_append *a, struct batch **out, struct iv_err *e)
{
    struct batch *cur = &pp->b[pp->fill];
    if (cur->data.len > 0 && (cur->a != a || cur->data.len >= BATCH_BYTES)) {
        int rc = pipe_flush(pp, e);
        if (rc)
            return rc;
        cur = &pp->b[pp->fill];
    }
    cur->a = a;
    *out = cur;
    return IV_OK;
}

/* Stops the writer; unwritten batches are dropped. */
static void pipe_release(struct pipe *pp)
{
    pthread_mutex_lock(&pp->mu);
    pp->quit = true;
    pthread_cond_broadcast(&pp->cv);
    pthread_mutex_unlock(&pp->mu);
    if (pp->started)
        pthread_join(pp->thread, NULL);
    for (int i = 0; i < 2; i++)
        buf_release(&pp->b[i].data);
    pthread_mutex_destroy(&pp->mu);
    pthread_cond_destroy(&pp->cv);
}

/* Prefixes e->msg with a formatted context (e->msg is copied first). */
static int __attribute__((format(printf, 3, 4))) err_wrap(struct iv_err *e, int rc,
                                                            const char *fmt, ...)
{
    char inner[sizeof(e->msg)], prefix[256];
    snprintf(inner, sizeof(inner), "%s", e->msg);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof(prefix), fmt, ap);
    va_end(ap);
    return iv_err_set(e, rc, "%s: %s", prefix, inner);
}

struct tgt_config {
    json_t *root;                 /* owns the strings below */
    struct lake_catalog_config cat;
    const char *ns;
    const char *table;            /* NULL: the stream name */
    int64_t batch_rows;
    double batch_seconds;
    size_t max_line;
    enum pqw_codec codec;
    size_t target_file_bytes;
};

struct tgt_stream {
    char *name;                   /* stream name */
    char *table_name;
    struct singer_stream *dec;
    struct lake_table *t;
    struct lake_append *a;
    int64_t rows;                 /* rows written in this run */
    char *committed_state;        /* last state committed to this table in this run */
};

struct tgt {
    struct tgt_config cfg;
    struct lake_catalog *cat;
    struct tgt_stream *streams;
    int nstreams;
    char *state;                  /* latest STATE value, compact JSON (owned) */
    int64_t pending_rows;         /* since the last commit, all streams */
    int64_t last_commit_ms;
    int64_t commits;
    int64_t total_rows;
    char run_id[37];
    struct pipe pipe;
};

/* ---- config ------------------------------------------------------------------- */
static const char *cfg_str(json_t *root, const char *key, const char *dflt, int *bad,
                           struct iv_err *e)
{
    json_t *v = json_object_get(root, key);
    if (!v || json_is_null(v))
        return dflt;
    if (!json_is_string(v)) {
        *bad = iv_err_set(e, IV_EINVAL, "config key '%s' must be a string", key);
        return dflt;
    }
    return json_string_value(v);
}

static int load_config(const char *path, struct tgt_config *c, struct iv_err *e)
{
    memset(c, 0, sizeof(*c));
    json_error_t je;
    c->root = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
    if (!c->root)
        return iv_err_set(e, IV_EINVAL, "config %s: %s (line %d)", path, je.text, je.line);
    if (!json_is_object(c->root))
        return iv_err_set(e, IV_EINVAL, "config %s: not a JSON object", path);
    int bad = 0;
    c->cat.type = cfg_str(c->root, "catalog_type", NULL, &bad, e);
    c->cat.warehouse = cfg_str(c->root, "warehouse", NULL, &bad, e);
    c->cat.uri = cfg_str(c->root, "catalog_uri", NULL, &bad, e);
    c->cat.catalog_name = cfg_str(c->root, "catalog_name", NULL, &bad, e);
    c->cat.s3_endpoint = cfg_str(c->root, "s3_endpoint", NULL, &bad, e);
    c->cat.s3_access_key_id = cfg_str(c->root, "s3_access_key_id", NULL, &bad, e);
    c->cat.s3_secret_key = cfg_str(c->root, "s3_secret_key", NULL, &bad, e);
    if (!c->cat.s3_secret_key)
        c->cat.s3_secret_key = cfg_str(c->root, "s3_secret_access_key", NULL, &bad, e);
    c->ns = cfg_str(c->root, "namespace", NULL, &bad, e);
    c->table = cfg_str(c->root, "table", NULL, &bad, e);
    const char *codec = cfg_str(c->root, "compression", "zstd", &bad, e);
    if (bad)
        return bad;
    if (!c->cat.type)
        return iv_err_set(e, IV_EINVAL, "config %s: 'catalog_type' is required "
                          "(hadoop, sql, rest, glue)", path);
    if (!c->cat.warehouse)
        return iv_err_set(e, IV_EINVAL, "config %s: 'warehouse' is required", path);
    if (!c->ns || !*c->ns)
        return iv_err_set(e, IV_EINVAL, "config %s: 'namespace' is required", path);
    if (c->table && !*c->table)
        return iv_err_set(e, IV_EINVAL, "config %s: 'table' is empty", path);
    if (!strcmp(codec, "zstd"))
        c->codec = PQW_ZSTD;
    else if (!strcmp(codec, "snappy"))
        c->codec = PQW_SNAPPY;
    else if (!strcmp(codec, "none") || !strcmp(codec, "uncompressed"))
        c->codec = PQW_UNCOMPRESSED;
    else
        return iv_err_set(e, IV_EINVAL, "config %s: 'compression' must be zstd, snappy or none",
                          path);

    c->batch_rows = DEFAULT_BATCH_ROWS;
    c->batch_seconds = DEFAULT_BATCH_SECONDS;
    c->max_line = SINGER_DEFAULT_MAX_LINE;
    json_t *v;
    if ((v = json_object_get(c->root, "batch_rows")) && !json_is_null(v)) {
        if (!json_is_integer(v) || json_integer_value(v) < 1)
            return iv_err_set(e, IV_EINVAL, "config %s: 'batch_rows' must be an integer >= 1",
                              path);
        c->batch_rows = json_integer_value(v);
    }
    if ((v = json_object_get(c->root, "batch_seconds")) && !json_is_null(v)) {
        if (!json_is_number(v) || json_number_value(v) < 0)
            return iv_err_set(e, IV_EINVAL, "config %s: 'batch_seconds' must be a number >= 0",
                              path);
        c->batch_seconds = json_number_value(v);
    }
    if ((v = json_object_get(c->root, "max_line_bytes")) && !json_is_null(v)) {
        if (!json_is_integer(v) || json_integer_value(v) < 64 ||
            json_integer_value(v) > ((json_int_t)1 << 31))
            return iv_err_set(e, IV_EINVAL, "config %s: 'max_line_bytes' must be an integer "
                              "between 64 and 2^31", path);
        c->max_line = (size_t)json_integer_value(v);
    }
    if ((v = json_object_get(c->root, "target_file_bytes")) && !json_is_null(v)) {
        if (!json_is_integer(v) || json_integer_value(v) < 1024)
            return iv_err_set(e, IV_EINVAL, "config %s: 'target_file_bytes' must be an integer "
                              ">= 1024", path);
        c->target_file_bytes = (size_t)json_integer_value(v);
    }
    return IV_OK;
}

/* ---- streams ------------------------------------------------------------------ */
static struct tgt_stream *find_stream(struct tgt *t, const char *name)
{
    for (int i = 0; i < t->nstreams; i++)
        if (!strcmp(t->streams[i].name, name))
            return &t->streams[i];
    return NULL;
}

static void columns_to_schema(const struct singer_stream *d, struct lake_schema *out)
{
    lake_schema_init(out);
    for (int i = 0; i < singer_stream_ncols(d); i++) {
        const struct singer_column *c = singer_stream_col(d, i);
        lake_schema_add(out, c->name, c->type, c->required, 0, 0);
    }
}

/* Binds the decoder to the append's current schema. */
static int bind_stream(struct tgt_stream *ts, struct iv_err *e)
{
    const struct lake_schema *ls = lake_append_schema(ts->a);
    int n = ls->nfields;
    const char **names = xcalloc((size_t)n + 1, sizeof(char *));
    enum lake_type *types = xcalloc((size_t)n + 1, sizeof(*types));
    bool *req = xcalloc((size_t)n + 1, sizeof(bool));
    for (int i = 0; i < n; i++) {
        names[i] = ls->fields[i].name;
        types[i] = ls->fields[i].type;
        req[i] = ls->fields[i].required;
    }
    int rc = singer_stream_bind(ts->dec, names, types, req, n, e);
    free(names);
    free(types);
    free(req);
    return rc;
}

static int on_schema(struct tgt *t, const struct singer_msg *m, struct iv_err *e)
{
    struct singer_column *cols = NULL;
    int ncols = 0;
    struct lake_schema incoming;
    int rc = singer_schema_map(json_object_get(m->json, "schema"),
                               json_object_get(m->json, "key_properties"), &cols, &ncols, e);
    if (rc)
        return err_wrap(e, rc, "stream \"%s\"", m->stream);
    struct singer_stream *dec = singer_stream_new(m->stream, cols, ncols);
    columns_to_schema(dec, &incoming);

    struct tgt_stream *ts = find_stream(t, m->stream);
    if (!ts) {
        const char *tname = t->cfg.table ? t->cfg.table : m->stream;
        if (t->cfg.table && t->nstreams > 0) {
            rc = iv_err_set(e, IV_EINVAL, "config 'table' is set but the input has more than "
                            "one stream (\"%s\", \"%s\"); remove 'table' to write one table per "
                            "stream", t->streams[0].name, m->stream);
            goto fail;
        }
        t->streams = xrealloc(t->streams, sizeof(*t->streams) * (size_t)(t->nstreams + 1));
        ts = &t->streams[t->nstreams];
        memset(ts, 0, sizeof(*ts));
        ts->name = xstrdup(m->stream);
        ts->table_name = xstrdup(tname);
        t->nstreams++;
        if ((rc = lake_table_load_or_create(t->cat, t->cfg.ns, tname, NULL, &incoming, &ts->t,
                                            e)))
            goto fail_named;
        bool changed = false;
        if ((rc = lake_table_evolve(ts->t, &incoming, &changed, e)))
            goto fail_named;
        struct lake_append_options opts = {
            .codec = t->cfg.codec,
            .target_file_bytes = t->cfg.target_file_bytes,
        };
        if ((rc = lake_append_begin(ts->t, &opts, &ts->a, e)))
            goto fail_named;
    } else {
        bool changed = false;
        if ((rc = lake_table_evolve(ts->t, &incoming, &changed, e)))
            goto fail_named;
        if (changed && (rc = lake_append_reschema(ts->a, e)))
            goto fail_named;
        if (changed)
            log_info("stream %s: table %s.%s schema evolved", ts->name, t->cfg.ns,
                     ts->table_name);
    }
    singer_stream_free(ts->dec);
    ts->dec = dec;
    dec = NULL;
    if ((rc = bind_stream(ts, e)))
        goto fail_named;
    lake_schema_release(&incoming);
    return IV_OK;
fail_named:
    err_wrap(e, rc, "stream \"%s\" (table %s.%s)", m->stream, t->cfg.ns, ts->table_name);
fail:
    singer_stream_free(dec);
    lake_schema_release(&incoming);
    return rc;
}

/* Commits every table with pending rows (all tables when `all`) with the
 * current state, then echoes the state on stdout. */
static int commit_all(struct tgt *t, bool all, struct iv_err *e)
{
    bool any = false;
    for (int i = 0; i < t->nstreams; i++) {
        struct tgt_stream *ts = &t->streams[i];
        if (!ts->a)
            continue;
        bool pending = lake_append_pending_rows(ts->a) > 0;
        bool state_new = t->state && (!ts->committed_state ||
                                      strcmp(ts->committed_state, t->state) != 0);
        if (!pending && !(all && state_new))
            continue;
        int64_t snap = -1;
        int rc = lake_append_commit(ts->a, t->state, t->run_id, &snap, e);
        if (rc)
            return err_wrap(e, rc, "stream \"%s\": commit to %s.%s failed", ts->name,
                            t->cfg.ns, ts->table_name);
        free(ts->committed_state);
        ts->committed_state = xstrdup(t->state);
        t->commits++;
        any = true;
        log_debug("stream %s: committed snapshot %lld", ts->name, (long long)snap);
    }
    t->pending_rows = 0;
    t->last_commit_ms = mono_ms();
    if (any && t->state) {
        fputs(t->state, stdout);
        fputc('\n', stdout);
        fflush(stdout);
    }
    return IV_OK;
}

static void tgt_release(struct tgt *t)
{
    pipe_release(&t->pipe);   /* first: the writer thread must stop using the appends */
    for (int i = 0; i < t->nstreams; i++) {
        struct tgt_stream *ts = &t->streams[i];
        lake_append_free(ts->a);   /* discards anything uncommitted */
        if (ts->t)
            lake_table_close(ts->t);
        singer_stream_free(ts->dec);
        free(ts->name);
        free(ts->table_name);
        free(ts->committed_state);
    }
    free(t->streams);
    free(t->state);
    if (t->cat)
        lake_catalog_close(t->cat);
    if (t->cfg.root)
        json_decref(t->cfg.root);
}

static int run(struct tgt *t, int fd, int64_t *line_out, struct iv_err *e)
{
    struct singer_reader rd;
    struct singer_parser ps;
    struct singer_msg m = {0};
    int rc = IV_OK;
    singer_reader_init(&rd, fd, t->cfg.max_line);
    singer_parser_init(&ps);
    t->last_commit_ms = mono_ms();
    const int64_t batch_ms = (int64_t)(t->cfg.batch_seconds * 1000.0);

    for (;;) {
        char *line;
        size_t len;
        int got = singer_reader_next(&rd, &line, &len, e);
        *line_out = rd.line_no;
        if (got < 0) {
            rc = got;
            *line_out = 0;   /* message already names the line */
            goto out;
        }
        if (got == 0)
            break;
        if (len == 0)
            continue;   /* blank lines carry no message */
        if ((rc = singer_parse_line(&ps, line, len, &m, e)))
            goto out;
        switch (m.type) {
        case SINGER_MSG_RECORD: {
            struct tgt_stream *ts = find_stream(t, m.stream);
            if (!ts) {
                rc = iv_err_set(e, IV_EINVAL, "RECORD for stream \"%s\" before its SCHEMA",
                                m.stream);
                goto out;
            }
            struct batch *bt;
            if ((rc = pipe_batch(&t->pipe, ts->a, &bt, e)))
                goto out;
            struct singer_sink sink = {
                .ctx = bt, .put_null = b_null, .put_bool = b_bool, .put_i32 = b_i32,
                .put_i64 = b_i64, .put_double = b_dbl, .put_bytes = b_bytes, .end_row = b_end,
            };
            if ((rc = singer_decode_record(ts->dec, &m, &sink, e))) {
                err_wrap(e, rc, "stream \"%s\"", m.stream);
                goto out;
            }
            ts->rows++;
            t->total_rows++;
            t->pending_rows++;
            break;
        }
        case SINGER_MSG_SCHEMA:
            if ((rc = pipe_drain(&t->pipe, e)) || (rc = on_schema(t, &m, e)))
                goto out;
            break;
        case SINGER_MSG_STATE: {
            free(t->state);
            t->state = json_dumps_compact(json_object_get(m.json, "value"));
            bool due = t->pending_rows >= t->cfg.batch_rows ||
                       (mono_ms() - t->last_commit_ms >= batch_ms);
            if (due && ((rc = pipe_drain(&t->pipe, e)) || (rc = commit_all(t, false, e))))
                goto out;
            break;
        }
        case SINGER_MSG_ACTIVATE_VERSION:
            break;
        }
        singer_msg_clear(&m);
    }
    *line_out = 0;
    /* clean EOF: the remaining rows commit with the latest STATE */
    if (!(rc = pipe_drain(&t->pipe, e)))
        rc = commit_all(t, true, e);
out:
    singer_msg_clear(&m);
    singer_parser_release(&ps);
    singer_reader_release(&rd);
    return rc;
}

int cmd_target_iceberg(int argc, char **argv)
{
    const char *config_path = NULL, *run_id = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--config") && i + 1 < argc)
            config_path = argv[++i];
        else if (!strcmp(argv[i], "--run-id") && i + 1 < argc)
            run_id = argv[++i];
        else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            printf("usage: ivory target-iceberg --config FILE [--run-id ID]\n"
                   "  Singer messages on stdin -> Iceberg tables; committed STATE on stdout.\n");
            return 0;
        } else
            return cmd_usage_error("target-iceberg: unexpected argument '%s' "
                                   "(usage: target-iceberg --config FILE)", argv[i]);
    }
    if (!config_path)
        return cmd_usage_error("target-iceberg: --config FILE is required");

    struct tgt t;
    memset(&t, 0, sizeof(t));
    pipe_init(&t.pipe);
    struct iv_err e = {0};
    int64_t line = 0;
    int rc = load_config(config_path, &t.cfg, &e);
    if (rc)
        goto fail;
    if (run_id) {
        snprintf(t.run_id, sizeof(t.run_id), "%s", run_id);
    } else {
        uuid_v4(t.run_id);
    }
    if ((rc = lake_catalog_open(&t.cat, &t.cfg.cat, &e)))
        goto fail;
    if ((rc = run(&t, STDIN_FILENO, &line, &e)))
        goto fail;
    log_info("target-iceberg: %lld rows, %lld commits, run %s", (long long)t.total_rows,
             (long long)t.commits, t.run_id);
    tgt_release(&t);
    return 0;
fail:
    tgt_release(&t);
    if (line > 0)
        return cmd_fail("target-iceberg: line %lld: %s", (long long)line, e.msg);
    return cmd_fail("target-iceberg: %s", e.msg);
}
