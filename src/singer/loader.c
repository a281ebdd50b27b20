/*
 * loader.c: the Singer -> Iceberg pipeline (declared in singer.h), moved here from
 * cmd_target_iceberg.c so that the target and the runner share one implementation.
 *
 * Commits happen only at STATE boundaries (and at finish), so every snapshot's recorded
 * STATE describes exactly the rows committed up to it: a reader of the last committed STATE
 * can resume the tap from there without losing or repeating rows.
 *
 * Schema drift (docs/runner.md): a SCHEMA meeting a table that existed before this load
 * evolves it, is refused (freeze), or has its stream fitted to the table so that records
 * which do not fit are discarded, counted and sampled (discard_row). Ownership: the loader
 * owns its streams' decoders, tables, appends, the SCHEMA messages they were built from and
 * the JSON of samples and changes; accessors hand out heap copies the caller frees.
 */
#include "singer/singer.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define DEFAULT_BATCH_ROWS 1000000

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}
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
       B_BYTES = 's', B_END = 'E', B_DEC = 'D' };

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

/* The sink writes each value with one bounds check (these run ~10 times per row on
 * the decoding thread, so they stay small): tag byte, then the raw value. */
static inline char *b_room(struct buf *b, size_t n, int *rc)
{
    if (b->len + n + 1 > b->cap && (*rc = buf_reserve(b, n)))
        return NULL;
    return b->data + b->len;
}
static int b_tag(void *c, char tag)
{
    struct buf *b = &((struct batch *)c)->data;
    int rc = 0;
    char *o = b_room(b, 1, &rc);
    if (!o)
        return rc;
    *o = tag;
    b->len++;
    return IV_OK;
}
static int b_val(void *c, char tag, const void *v, size_t n)
{
    struct buf *b = &((struct batch *)c)->data;
    int rc = 0;
    char *o = b_room(b, 1 + n, &rc);
    if (!o)
        return rc;
    o[0] = tag;
    memcpy(o + 1, v, n);
    b->len += 1 + n;
    return IV_OK;
}
static int b_null(void *c, int col) { (void)col; return b_tag(c, B_NULL); }
static int b_bool(void *c, int col, bool v) { (void)col; return b_tag(c, v ? B_TRUE : B_FALSE); }
static int b_i32(void *c, int col, int32_t v) { (void)col; return b_val(c, B_I32, &v, sizeof(v)); }
static int b_i64(void *c, int col, int64_t v) { (void)col; return b_val(c, B_I64, &v, sizeof(v)); }
static int b_dbl(void *c, int col, double v) { (void)col; return b_val(c, B_F64, &v, sizeof(v)); }
static int b_bytes(void *c, int col, const void *p, size_t n)
{
    (void)col;
    struct buf *b = &((struct batch *)c)->data;
    uint64_t len = n;
    int rc = 0;
    char *o = b_room(b, 1 + sizeof(len) + n, &rc);
    if (!o)
        return rc;
    o[0] = B_BYTES;
    memcpy(o + 1, &len, sizeof(len));
    if (n)
        memcpy(o + 1 + sizeof(len), p, n);
    b->len += 1 + sizeof(len) + n;
    return IV_OK;
}
static int b_end(void *c) { return b_tag(c, B_END); }
static int b_dec(void *c, int col, __int128 v) { (void)col; return b_val(c, B_DEC, &v, sizeof(v)); }

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
        case B_DEC: { __int128 v; memcpy(&v, p, sizeof(v)); p += sizeof(v);
                      rc = lake_put_decimal(bt->a, col++, v); break; }
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

struct ld_stream {
    char *name;                   /* stream name */
    char *table_name;             /* NULL until routed */
    struct singer_stream *dec;
    struct lake_schema incoming;  /* latest SCHEMA, kept until routed */
    struct lake_table *t;
    struct lake_append *a;
    char *committed_state;        /* last state committed to this table by this loader */
    int64_t dropped;              /* undeclared values dropped by earlier decoders */
    bool skip;                    /* the route said "not loaded": its RECORDs are dropped */
    json_t *schema_msg;           /* latest SCHEMA message (owned ref): decoders are rebuilt
                                   * from it when fitted to the table (discard_row) */
    bool guarded;                 /* the table existed before this load: the drift policy
                                   * applies to it */
    int64_t read, pending, committed, discarded;   /* RECORDs of this stream */
};

struct singer_loader {
    struct singer_loader_opts o;
    char *ns, *run_id;
    struct ld_stream *streams;
    int nstreams;
    bool routed;                  /* defer_routing: routing has happened */
    char *state;                  /* latest STATE value, compact JSON */
    char *committed;              /* last STATE committed */
    int64_t pending_rows;         /* decoded since the last commit, all streams */
    int64_t last_commit_ms;
    struct singer_loader_stats st;
    struct singer_parser ps;
    struct pipe pipe;
    json_t *discards;             /* first SINGER_MAX_DISCARD_SAMPLES discarded rows */
    json_t *changes;              /* schema changes applied to existing tables */
};

static struct ld_stream *find_stream(struct singer_loader *l, const char *name)
{
    for (int i = 0; i < l->nstreams; i++)
        if (!strcmp(l->streams[i].name, name))
            return &l->streams[i];
    return NULL;
}

static void columns_to_schema(const struct singer_stream *d, struct lake_schema *out)
{
    lake_schema_init(out);
    for (int i = 0; i < singer_stream_ncols(d); i++) {
        const struct singer_column *c = singer_stream_col(d, i);
        if (!c->absent)
            lake_schema_add(out, c->name, c->type, c->required, c->precision, c->scale);
    }
}

/* Binds the decoder to the append's current schema. */
static int bind_stream(struct ld_stream *ts, struct iv_err *e)
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

/* A column the table already has as a string keeps that type when the stream now sends
 * integers, numbers, booleans, dates or decimals: their text is written (a lossless change
 * a reader expects; MeltanoLabs' column_alter cases). Other type changes are refused by
 * lake_table_evolve, naming the column. */
static void follow_string_columns(struct ld_stream *ts)
{
    const struct lake_schema *tab = lake_table_schema(ts->t);
    bool any = false;
    for (int i = 0; i < singer_stream_ncols(ts->dec); i++) {
        const struct singer_column *c = singer_stream_col(ts->dec, i);
        int k = lake_schema_find(tab, c->name);
        if (k < 0 || tab->fields[k].type != LAKE_STRING || c->type == LAKE_STRING)
            continue;
        log_info("stream %s: column %s stays a string; its %s values are written as text",
                 ts->name, c->name, singer_kind_name(c->kind));
        singer_stream_as_text(ts->dec, i, NULL);
        any = true;
    }
    if (any) {
        lake_schema_release(&ts->incoming);
        columns_to_schema(ts->dec, &ts->incoming);
    }
}

/* ---- schema drift (docs/runner.md "Schema drift") ---------------------------------- */

static bool same_lake_type(const struct lake_field *a, enum lake_type t, int precision, int scale)
{
    return a->type == t && (t != LAKE_DECIMAL || (a->precision == precision && a->scale == scale));
}

/* discard_row: makes column c read values as the table's column tf holds them; false when
 * the table's type is none a Singer stream maps to (binding then fails, naming it). */
static bool fit_column(struct singer_column *c, const struct lake_field *tf)
{
    unsigned nul = tf->required ? 0 : SINGER_J_NULL;
    switch (tf->type) {
    case LAKE_LONG: c->kind = SINGER_K_LONG; c->accept = SINGER_J_INT | nul; break;
    case LAKE_DOUBLE: c->kind = SINGER_K_DOUBLE; c->accept = SINGER_J_INT | SINGER_J_NUM | nul; break;
    case LAKE_BOOLEAN: c->kind = SINGER_K_BOOL; c->accept = SINGER_J_BOOL | nul; break;
    case LAKE_DATE: c->kind = SINGER_K_DATE; c->accept = SINGER_J_STR | nul; break;
    case LAKE_TIMESTAMPTZ: c->kind = SINGER_K_TIMESTAMPTZ; c->accept = SINGER_J_STR | nul; break;
    case LAKE_DECIMAL:
        c->kind = SINGER_K_DECIMAL;
        c->accept = SINGER_J_INT | SINGER_J_NUM | SINGER_J_STR | nul;
        c->precision = tf->precision;
        c->scale = tf->scale;
        break;
    default: return false;
    }
    c->type = tf->type;
    return true;
}

/* discard_row: the stream's columns as the table holds them. A column the table lacks
 * becomes absent (only null fits); a column of another type reads the table's type (other
 * values do not fit); a string column of the table keeps the stream's column (its values
 * are written as text, follow_string_columns). */
static void fit_columns(struct singer_column *cols, int n, const struct lake_schema *tab)
{
    for (int i = 0; i < n; i++) {
        struct singer_column *c = &cols[i];
        int k = lake_schema_find(tab, c->name);
        if (k < 0) {
            c->absent = true;
            c->accept = SINGER_J_NULL;
            c->kind = SINGER_K_STRING;
            c->type = LAKE_STRING;
            c->required = false;
            continue;
        }
        const struct lake_field *tf = &tab->fields[k];
        if (!same_lake_type(tf, c->type, c->precision, c->scale) && tf->type != LAKE_STRING)
            fit_column(c, tf);
    }
}

/* A decoder for the stream's latest SCHEMA, fitted to `fit` when given (discard_row). */
static int make_decoder(struct ld_stream *ts, const struct lake_schema *fit, struct iv_err *e)
{
    const json_t *schema = json_object_get(ts->schema_msg, "schema");
    struct singer_column *cols = NULL;
    int ncols = 0;
    int rc = singer_schema_map(schema, json_object_get(ts->schema_msg, "key_properties"), &cols,
                               &ncols, e);
    if (rc)
        return err_wrap(e, rc, "stream \"%s\"", ts->name);
    if (fit)
        fit_columns(cols, ncols, fit);
    struct singer_stream *dec = singer_stream_new(ts->name, cols, ncols);
    singer_stream_refuse_undeclared(dec, json_is_false(json_object_get(schema,
                                                                       "additionalProperties")));
    if (ts->dec)
        ts->dropped += singer_stream_dropped(ts->dec);
    singer_stream_free(ts->dec);
    ts->dec = dec;
    lake_schema_release(&ts->incoming);
    columns_to_schema(dec, &ts->incoming);
    return IV_OK;
}

/* freeze: an error when the stream's schema would change its (existing) table. */
static int refuse_change(struct ld_stream *ts, struct iv_err *e)
{
    char change[256];
    int rc = lake_table_schema_change(ts->t, &ts->incoming, change, sizeof change, e);
    if (rc || !change[0])
        return rc;
    return iv_err_set(e, IV_EINVAL, "schema_drift is 'freeze' and the SCHEMA would change the "
                      "table: %s; nothing of that change was committed", change);
}

/* Records the changes between `before` and the table's schema now. */
static void note_changes(struct singer_loader *l, struct ld_stream *ts,
                         const struct lake_schema *before)
{
    const struct lake_schema *now = lake_table_schema(ts->t);
    char *tbl = xasprintf("%s.%s", l->ns, ts->table_name);
    for (int i = 0; i < now->nfields; i++) {
        const struct lake_field *f = &now->fields[i];
        int k = lake_schema_find(before, f->name);
        char a[32], b[32], *what;
        lake_type_string(f, b);
        if (k < 0) {
            what = xasprintf("added column '%s' (%s)", f->name, b);
        } else if (!same_lake_type(&before->fields[k], f->type, f->precision, f->scale)) {
            lake_type_string(&before->fields[k], a);
            what = xasprintf("column '%s' widened from %s to %s", f->name, a, b);
        } else if (before->fields[k].required && !f->required) {
            what = xasprintf("column '%s' became optional", f->name);
        } else {
            continue;
        }
        log_info("stream %s: table %s: %s", ts->name, tbl, what);
        json_array_append_new(l->changes, json_pack("{s:s, s:s, s:s}", "stream", ts->name,
                                                    "table", tbl, "change", what));
        free(what);
    }
    free(tbl);
}

/* Brings the open table to the stream's schema as the policy says: evolve (recording what
 * changed), refuse (freeze), or leave it and fit the stream to it (discard_row). Tables
 * this load created always follow the stream. *changed: the table's schema changed. */
static int apply_policy(struct singer_loader *l, struct ld_stream *ts, bool *changed,
                        struct iv_err *e)
{
    *changed = false;
    int rc;
    if (ts->guarded && l->o.drift == SINGER_DRIFT_DISCARD_ROW) {
        if ((rc = make_decoder(ts, lake_table_schema(ts->t), e)))
            return rc;
        follow_string_columns(ts);
        return IV_OK;
    }
    follow_string_columns(ts);
    if (ts->guarded && l->o.drift == SINGER_DRIFT_FREEZE)
        return refuse_change(ts, e);
    struct lake_schema before;
    lake_schema_copy(&before, lake_table_schema(ts->t));
    rc = lake_table_evolve(ts->t, &ts->incoming, changed, e);
    if (!rc && *changed && ts->guarded)
        note_changes(l, ts, &before);
    lake_schema_release(&before);
    return rc;
}

/* Routes one stream and opens its table and append with the stream's pending schema. */
static int open_stream(struct singer_loader *l, struct ld_stream *ts, struct iv_err *e)
{
    int rc;
    char *tname = NULL;
    if (l->o.route) {
        if ((rc = l->o.route(l->o.route_ctx, ts->name, l->nstreams, &tname, e)))
            return rc;
    } else if ((rc = singer_table_name(ts->name, &tname, e))) {
        return rc;
    }
    if (!tname) {
        ts->skip = true;   /* e.g. a stream the connector's catalog does not select */
        return IV_OK;
    }
    for (int i = 0; i < l->nstreams; i++) {
        const struct ld_stream *o = &l->streams[i];
        if (o != ts && o->table_name && !strcmp(o->table_name, tname)) {
            rc = iv_err_set(e, IV_EINVAL, "streams \"%s\" and \"%s\" both map to table %s.%s; "
                            "two streams never share a table (rename one in the tap or map it "
                            "to another table)", o->name, ts->name, l->ns, tname);
            free(tname);
            return rc;
        }
    }
    ts->table_name = tname;
    if ((rc = lake_table_load_or_stage(l->o.cat, l->ns, tname, &ts->incoming, &ts->t, e)))
        goto fail;
    ts->guarded = !lake_table_created_here(ts->t);
    bool changed = false;
    if ((rc = apply_policy(l, ts, &changed, e)))
        goto fail;
    struct lake_append_options opts = {
        .codec = l->o.codec,
        .target_file_bytes = l->o.target_file_bytes,
    };
    if ((rc = lake_append_begin(ts->t, &opts, &ts->a, e)))
        goto fail;
    if ((rc = bind_stream(ts, e)))
        goto fail;
    l->st.ntables++;
    return IV_OK;
fail:
    return err_wrap(e, rc, "stream \"%s\" (table %s.%s)", ts->name, l->ns, tname);
}

/* defer_routing: routes every stream declared so far (once). */
static int route_all(struct singer_loader *l, struct iv_err *e)
{
    if (l->routed)
        return IV_OK;
    l->routed = true;
    for (int i = 0; i < l->nstreams; i++) {
        int rc = open_stream(l, &l->streams[i], e);
        if (rc)
            return rc;
    }
    return IV_OK;
}

static int on_schema(struct singer_loader *l, const struct singer_msg *m, struct iv_err *e)
{
    struct ld_stream *ts = find_stream(l, m->stream);
    bool fresh = !ts;
    if (fresh) {
        l->streams = xrealloc(l->streams, sizeof(*l->streams) * (size_t)(l->nstreams + 1));
        ts = &l->streams[l->nstreams++];
        memset(ts, 0, sizeof(*ts));
        ts->name = xstrdup(m->stream);
        lake_schema_init(&ts->incoming);
    }
    json_decref(ts->schema_msg);
    ts->schema_msg = json_incref(m->json);
    int rc = make_decoder(ts, NULL, e);
    if (rc)
        return rc;
    if (l->o.defer_routing && !l->routed)
        return IV_OK;   /* opened at the first RECORD or commit */
    if (fresh)
        return open_stream(l, ts, e);
    if (ts->skip)
        return IV_OK;
    bool changed = false;
    if ((rc = apply_policy(l, ts, &changed, e)))
        goto fail;
    if (changed && (rc = lake_append_reschema(ts->a, e)))
        goto fail;
    if (changed)
        log_info("stream %s: table %s.%s schema evolved", ts->name, l->ns, ts->table_name);
    if ((rc = bind_stream(ts, e)))
        goto fail;
    return IV_OK;
fail:
    return err_wrap(e, rc, "stream \"%s\" (table %s.%s)", m->stream, l->ns, ts->table_name);
}

static bool state_differs(const char *a, const char *b)
{
    if (!a)
        return false;   /* no state to record */
    return !b || strcmp(a, b) != 0;
}

/* Commits: with stamp_all every open table (atomically when possible), else tables with
 * pending rows (and, when `all`, tables whose recorded state is stale). */
static int commit(struct singer_loader *l, bool all, struct iv_err *e)
{
    int rc = IV_OK;
    if (l->o.defer_routing && !l->routed && l->nstreams > 0 && (rc = route_all(l, e)))
        return rc;
    struct lake_append **apps = xcalloc((size_t)l->nstreams + 1, sizeof(*apps));
    struct ld_stream **who = xcalloc((size_t)l->nstreams + 1, sizeof(*who));
    int n = 0;
    bool state_new = state_differs(l->state, l->committed);
    for (int i = 0; i < l->nstreams; i++) {
        struct ld_stream *ts = &l->streams[i];
        if (!ts->a)
            continue;
        bool pending = lake_append_pending_rows(ts->a) > 0;
        bool pick;
        if (l->o.stamp_all)
            pick = pending || l->pending_rows > 0 || state_new;
        else
            pick = pending || (all && state_differs(l->state, ts->committed_state));
        if (pick) {
            apps[n] = ts->a;
            who[n++] = ts;
        }
    }
    if (n == 0)
        goto done;
    int64_t *snaps = xcalloc((size_t)n, sizeof(int64_t));
    bool many_done = false;
    if (l->o.stamp_all && n > 1) {
        rc = lake_commit_many(apps, n, l->state, l->run_id, snaps, e);
        if (rc == IV_OK)
            many_done = true;
        else if (rc != IV_EUNSUPPORTED) {
            free(snaps);
            rc = err_wrap(e, rc, "commit of %d tables in %s failed", n, l->ns);
            goto out;
        }
        rc = IV_OK;
    }
    for (int i = 0; i < n && !many_done; i++) {
        rc = lake_append_commit(apps[i], l->state, l->run_id, &snaps[i], e);
        if (rc) {
            free(snaps);
            rc = err_wrap(e, rc, "stream \"%s\": commit to %s.%s failed", who[i]->name, l->ns,
                          who[i]->table_name);
            goto out;
        }
    }
    for (int i = 0; i < n; i++) {
        free(who[i]->committed_state);
        who[i]->committed_state = xstrdup(l->state);
    }
    for (int i = 0; i < l->nstreams; i++) {   /* every stream with rows was committed */
        l->streams[i].committed += l->streams[i].pending;
        l->streams[i].pending = 0;
    }
    l->st.last_snapshot_id = snaps[n - 1];
    free(snaps);
    l->st.commits++;
    l->st.rows_committed += l->pending_rows;
    free(l->committed);
    l->committed = xstrdup(l->state);
    if (l->o.on_commit)
        l->o.on_commit(l->o.commit_ctx, l->state, l->st.rows_committed);
done:
    l->pending_rows = 0;
    l->last_commit_ms = mono_ms();
out:
    free(apps);
    free(who);
    return rc;
}

int singer_loader_new(struct singer_loader **out, const struct singer_loader_opts *o,
                      struct iv_err *e)
{
    if (!o->cat || !o->ns || !*o->ns)
        return iv_err_set(e, IV_EINVAL, "loader: catalog and namespace are required");
    struct singer_loader *l = xcalloc(1, sizeof(*l));
    l->o = *o;
    if (l->o.batch_rows <= 0)
        l->o.batch_rows = DEFAULT_BATCH_ROWS;
    if (l->o.batch_seconds < 0)
        l->o.batch_seconds = DEFAULT_BATCH_SECONDS;
    l->ns = xstrdup(o->ns);
    l->run_id = xstrdup(o->run_id);
    l->o.ns = l->ns;
    l->o.run_id = l->run_id;
    l->st.last_snapshot_id = -1;
    l->last_commit_ms = mono_ms();
    singer_parser_init(&l->ps);
    pipe_init(&l->pipe);
    l->discards = json_array();
    l->changes = json_array();
    *out = l;
    return IV_OK;
}

/* The open stream RECORDs (or a BATCH) of `stream` go to; *out NULL when the stream is
 * not loaded (counted as skipped). */
static int stream_for_records(struct singer_loader *l, const char *what, const char *stream,
                              struct ld_stream **out, struct iv_err *e)
{
    *out = NULL;
    struct ld_stream *ts = find_stream(l, stream);
    if (!ts)
        return iv_err_set(e, IV_EINVAL, "%s for stream \"%s\" before its SCHEMA", what, stream);
    int rc;
    if (!ts->a && !ts->skip && (rc = route_all(l, e)))
        return rc;
    if (ts->skip) {
        l->st.records_skipped++;
        return IV_OK;
    }
    *out = ts;
    return IV_OK;
}

/* A row read from the tap and queued for the next commit. */
static void count_row_loaded(struct singer_loader *l, struct ld_stream *ts)
{
    l->st.records++;
    l->pending_rows++;
    ts->read++;
    ts->pending++;
}

/* A row read from the tap that the schema-drift policy keeps out of the table. */
static void count_row_discarded(struct singer_loader *l, struct ld_stream *ts)
{
    l->st.records++;
    l->st.rows_discarded++;
    ts->read++;
    ts->discarded++;
}

/* discard_row: a record whose value of the misfit field does not fit the table is counted
 * and sampled instead of loaded (e: the decoder's error). A record that is not a JSON object
 * is broken, not misfit: its error stands. */
static int discard_row(struct singer_loader *l, struct ld_stream *ts, const char *rec,
                       size_t n, struct iv_err *e)
{
    json_t *obj = json_loadb(rec, n, JSON_DISABLE_EOF_CHECK, NULL);
    if (!json_is_object(obj)) {
        json_decref(obj);
        return err_wrap(e, IV_EINVAL, "stream \"%s\"", ts->name);
    }
    count_row_discarded(l, ts);
    if (json_array_size(l->discards) < SINGER_MAX_DISCARD_SAMPLES) {
        const char *field = singer_stream_misfit(ts->dec);
        json_t *v = json_object_get(obj, field);
        char *vt = v ? json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY) : xstrdup("null");
        if (vt && strlen(vt) > 200)
            strcpy(vt + 197, "...");
        json_array_append_new(l->discards, json_pack("{s:s, s:s, s:s, s:s}", "stream", ts->name,
                                                     "field", field, "value", vt ? vt : "?",
                                                     "error", e->msg));
        free(vt);
    }
    json_decref(obj);
    return IV_OK;
}

/* One record into the stream's batch: from a RECORD message (m), or the record object
 * text of a BATCH file line (rec, n). */
static int load_record(struct singer_loader *l, struct ld_stream *ts, const struct singer_msg *m,
                       const char *rec, size_t n, struct iv_err *e)
{
    struct batch *bt;
    int rc = pipe_batch(&l->pipe, ts->a, &bt, e);
    if (rc)
        return rc;
    struct singer_sink sink = {
        .ctx = bt, .put_null = b_null, .put_bool = b_bool, .put_i32 = b_i32,
        .put_i64 = b_i64, .put_double = b_dbl, .put_bytes = b_bytes, .end_row = b_end,
        .put_decimal = b_dec,
    };
    rc = m ? singer_decode_record(ts->dec, m, &sink, e)
           : singer_stream_decode(ts->dec, rec, n, &sink, e);
    if (rc && l->o.drift == SINGER_DRIFT_DISCARD_ROW && singer_stream_misfit(ts->dec))
        return discard_row(l, ts, m ? m->record : rec, m ? m->record_len : n, e);
    if (rc)
        return err_wrap(e, rc, "stream \"%s\"", ts->name);
    count_row_loaded(l, ts);
    return IV_OK;
}

/* A typed value's text for a discard sample. */
static char *value_sample(const struct singer_value *v)
{
    switch (v->kind) {
    case SINGER_V_NULL: return xstrdup("null");
    case SINGER_V_BOOL: return xstrdup(v->b ? "true" : "false");
    case SINGER_V_F64: return xasprintf("%.17g", v->d);
    case SINGER_V_BYTES: {
        json_t *j = json_stringn(v->p, v->n > 200 ? 200 : v->n);
        char *t = j ? json_dumps(j, JSON_ENCODE_ANY) : NULL;
        json_decref(j);
        return t ? t : xstrdup("?");
    }
    default: return xasprintf("%lld", (long long)v->i64);   /* longs, days, microseconds */
    }
}

/* discard_row for a typed row: counted and sampled like a record that does not fit. */
static void discard_typed(struct singer_loader *l, struct ld_stream *ts,
                          const struct singer_value *vals, int n, const struct iv_err *e)
{
    count_row_discarded(l, ts);
    if (json_array_size(l->discards) >= SINGER_MAX_DISCARD_SAMPLES)
        return;
    const char *field = singer_stream_misfit(ts->dec);
    char *vt = xstrdup("null");
    for (int i = 0; i < n && i < singer_stream_ncols(ts->dec); i++)
        if (!strcmp(singer_stream_col(ts->dec, i)->name, field)) {
            free(vt);
            vt = value_sample(&vals[i]);
        }
    json_array_append_new(l->discards, json_pack("{s:s, s:s, s:s, s:s}", "stream", ts->name,
                                                 "field", field, "value", vt, "error", e->msg));
    free(vt);
}

int singer_loader_row(struct singer_loader *l, const char *stream,
                      const struct singer_value *vals, int n, struct iv_err *e)
{
    struct ld_stream *ts;
    int rc = stream_for_records(l, "RECORD", stream, &ts, e);
    if (rc || !ts)
        return rc;
    struct batch *bt;
    if ((rc = pipe_batch(&l->pipe, ts->a, &bt, e)))
        return rc;
    struct singer_sink sink = {
        .ctx = bt, .put_null = b_null, .put_bool = b_bool, .put_i32 = b_i32,
        .put_i64 = b_i64, .put_double = b_dbl, .put_bytes = b_bytes, .end_row = b_end,
        .put_decimal = b_dec,
    };
    rc = singer_stream_put_row(ts->dec, vals, n, &sink, e);
    if (rc && l->o.drift == SINGER_DRIFT_DISCARD_ROW && singer_stream_misfit(ts->dec)) {
        discard_typed(l, ts, vals, n, e);
        return IV_OK;
    }
    if (rc)
        return err_wrap(e, rc, "stream \"%s\"", ts->name);
    count_row_loaded(l, ts);
    return IV_OK;
}

/* "file:///a%20b/x.jsonl.gz" or "/a/x.jsonl" -> a heap path; NULL for other schemes. */
static char *batch_file_path(const char *uri)
{
    const char *p = uri;
    if (!strncmp(p, "file://", 7))
        p += 7;
    if (p[0] != '/')
        return NULL;
    size_t n = strlen(p);
    char *out = xmalloc(n + 1), *o = out;
    for (size_t i = 0; i < n; i++) {
        int hi, lo;
        if (p[i] == '%' && i + 2 < n && (hi = hexval(p[i + 1])) >= 0 &&
            (lo = hexval(p[i + 2])) >= 0 && (hi || lo)) {
            *o++ = (char)(hi * 16 + lo);
            i += 2;
        } else {
            *o++ = p[i];
        }
    }
    *o = '\0';
    return out;
}

/* Reads one BATCH file (gzip or plain; zlib tells them apart): one record object per
 * line, each loaded like a RECORD of the stream. Errors name the file and its line. */
static int load_batch_file(struct singer_loader *l, struct ld_stream *ts, const char *uri,
                           struct iv_err *e)
{
    char *path = batch_file_path(uri);
    if (!path)
        return iv_err_set(e, IV_EINVAL, "BATCH file \"%.200s\" is not a local file:// URI", uri);
    gzFile f = gzopen(path, "rb");
    if (!f) {
        int rc = iv_err_set(e, IV_EIO, "BATCH file %.200s: %s", path, strerror(errno));
        free(path);
        return rc;
    }
    struct buf b;
    buf_init(&b, SINGER_DEFAULT_MAX_LINE + 65536);
    int64_t line_no = 0;
    int rc = IV_OK;
    bool eof = false;
    size_t start = 0;
    while (!rc) {
        char *nl = memchr(b.data + start, '\n', b.len - start);
        if (!nl && !eof) {
            memmove(b.data, b.data + start, b.len - start);
            b.len -= start;
            start = 0;
            if ((rc = buf_reserve(&b, 65536))) {
                rc = iv_err_set(e, IV_ETOOBIG, "BATCH file %.200s: line %lld is too long",
                                path, (long long)line_no + 1);
                break;
            }
            int got = gzread(f, b.data + b.len, 65536);
            if (got < 0) {
                int zerr;
                rc = iv_err_set(e, IV_EIO, "BATCH file %.200s: %s", path, gzerror(f, &zerr));
                break;
            }
            b.len += (size_t)got;
            eof = got == 0;
            continue;
        }
        size_t end = nl ? (size_t)(nl - b.data) : b.len;
        if (end == start && !nl)
            break;
        line_no++;
        size_t n = end - start;
        const char *rec = b.data + start;
        start = nl ? end + 1 : end;
        if (n > 0 && rec[n - 1] == '\r')
            n--;
        size_t k = 0;
        while (k < n && (rec[k] == ' ' || rec[k] == '\t'))
            k++;
        if (k == n)
            continue;
        if ((rc = load_record(l, ts, NULL, rec, n, e)))
            err_wrap(e, rc, "BATCH file %.200s line %lld", path, (long long)line_no);
    }
    buf_release(&b);
    gzclose(f);
    free(path);
    return rc;
}

static int load_batch(struct singer_loader *l, struct ld_stream *ts, const json_t *manifest,
                      struct iv_err *e)
{
    if (!l->o.batch_files)
        return iv_err_set(e, IV_EINVAL, "BATCH messages (records in files) are not accepted "
                          "here; send RECORD messages");
    size_t i;
    const json_t *f;
    json_array_foreach(manifest, i, f) {
        int rc = load_batch_file(l, ts, json_string_value(f), e);
        if (rc)
            return rc;
    }
    return IV_OK;
}

int singer_loader_line(struct singer_loader *l, const char *line, size_t len, struct iv_err *e)
{
    if (len > 0 && line[len - 1] == '\r')
        len--;
    size_t k = 0;
    while (k < len && (line[k] == ' ' || line[k] == '\t'))
        k++;
    if (k == len)
        return IV_OK;   /* blank lines carry no message */
    struct singer_msg m = {0};
    int rc = singer_parse_line(&l->ps, line, len, &m, e);
    if (rc)
        return rc;
    switch (m.type) {
    case SINGER_MSG_RECORD: {
        struct ld_stream *ts;
        if ((rc = stream_for_records(l, "RECORD", m.stream, &ts, e)) || !ts)
            break;
        rc = load_record(l, ts, &m, NULL, 0, e);
        break;
    }
    case SINGER_MSG_BATCH: {
        struct ld_stream *ts;
        if ((rc = stream_for_records(l, "BATCH", m.stream, &ts, e)) || !ts)
            break;
        rc = load_batch(l, ts, json_object_get(m.json, "manifest"), e);
        break;
    }
    case SINGER_MSG_SCHEMA:
        if (!(rc = pipe_drain(&l->pipe, e)))
            rc = on_schema(l, &m, e);
        break;
    case SINGER_MSG_STATE: {
        free(l->state);
        l->state = json_dumps_compact(json_object_get(m.json, "value"));
        const int64_t batch_ms = (int64_t)(l->o.batch_seconds * 1000.0);
        bool due = l->pending_rows >= l->o.batch_rows ||
                   (mono_ms() - l->last_commit_ms >= batch_ms);
        if (due && !(rc = pipe_drain(&l->pipe, e)))
            rc = commit(l, false, e);
        break;
    }
    case SINGER_MSG_ACTIVATE_VERSION:
        break;
    }
    singer_msg_clear(&m);
    return rc;
}

static int64_t stream_dropped(const struct ld_stream *ts)
{
    return ts->dropped + (ts->dec ? singer_stream_dropped(ts->dec) : 0);
}

int singer_loader_finish(struct singer_loader *l, struct iv_err *e)
{
    int rc = pipe_drain(&l->pipe, e);
    if (!rc)
        rc = commit(l, true, e);
    for (int i = 0; i < l->nstreams && !rc; i++)   /* a clean run leaves its tables, rows or not */
        if (l->streams[i].t)
            rc = lake_table_materialize(l->streams[i].t, e);
    for (int i = 0; i < l->nstreams && !rc; i++) {
        int64_t n = stream_dropped(&l->streams[i]);
        if (n > 0)
            log_info("stream %s: %lld values of keys its schema does not declare were dropped",
                     l->streams[i].name, (long long)n);
    }
    return rc;
}

const char *singer_loader_state(const struct singer_loader *l) { return l->state; }
const char *singer_loader_committed_state(const struct singer_loader *l) { return l->committed; }

void singer_loader_get_stats(const struct singer_loader *l, struct singer_loader_stats *st)
{
    *st = l->st;
    st->dropped_values = 0;
    for (int i = 0; i < l->nstreams; i++)
        st->dropped_values += stream_dropped(&l->streams[i]);
}

static char *dump_or_null(const json_t *j)
{
    return json_array_size(j) || json_object_size(j) ? json_dumps(j, JSON_COMPACT) : NULL;
}

char *singer_loader_discard_samples(const struct singer_loader *l)
{
    return dump_or_null(l->discards);
}

char *singer_loader_schema_changes(const struct singer_loader *l)
{
    return dump_or_null(l->changes);
}

char *singer_loader_stream_rows(const struct singer_loader *l)
{
    json_t *o = json_object();
    for (int i = 0; i < l->nstreams; i++) {
        const struct ld_stream *ts = &l->streams[i];
        json_t *tbl = ts->table_name ? json_sprintf("%s.%s", l->ns, ts->table_name)
                                     : json_null();
        json_object_set_new(o, ts->name, json_pack("{s:o, s:I, s:I, s:I}", "table", tbl,
                                                   "rows_read", (json_int_t)ts->read,
                                                   "rows_committed", (json_int_t)ts->committed,
                                                   "rows_discarded",
                                                   (json_int_t)ts->discarded));
    }
    char *txt = dump_or_null(o);
    json_decref(o);
    return txt;
}

const char *singer_loader_table(const struct singer_loader *l, int i)
{
    int k = 0;
    for (int j = 0; j < l->nstreams; j++) {
        if (!l->streams[j].a)
            continue;
        if (k++ == i)
            return l->streams[j].table_name;
    }
    return NULL;
}

void singer_loader_free(struct singer_loader *l)
{
    if (!l)
        return;
    pipe_release(&l->pipe);   /* first: the writer thread must stop using the appends */
    for (int i = 0; i < l->nstreams; i++) {
        struct ld_stream *ts = &l->streams[i];
        lake_append_free(ts->a);   /* discards anything uncommitted */
        if (ts->t)
            lake_table_close(ts->t);
        singer_stream_free(ts->dec);
        lake_schema_release(&ts->incoming);
        free(ts->name);
        free(ts->table_name);
        free(ts->committed_state);
        json_decref(ts->schema_msg);
    }
    json_decref(l->discards);
    json_decref(l->changes);
    free(l->streams);
    free(l->state);
    free(l->committed);
    free(l->ns);
    free(l->run_id);
    singer_parser_release(&l->ps);
    free(l);
}
