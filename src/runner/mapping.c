/*
 * mapping.c: the transform stage between the tap and the loader (see mapping.h).
 *
 * Per mapped RECORD: the record's members are walked once (singer_record_members); a member
 * some mapping reads becomes an expression value (and so does every member when an
 * expression of the stream reads `row`); each mapping evaluates and coerces straight to a
 * typed cell (tx_coerce_cell); the cells go to the loader as one typed row. Memory per row is
 * the row's values, released before the next row; the text of string cells lives in one
 * reused buffer.
 */
#include "runner/mapping.h"
#include "transform/transform.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct column_rule {
    char *stream, *source_field, *target_column;
    size_t field_len;
    struct tx_type type;
    struct tx_expr *expr;         /* NULL = the value as it is */
    int col;                      /* index of target_column in the target's columns */
};

/* The rules of one source stream (indexes into mapping_stage.rules), and the same rules
 * grouped by the source field they read: a member is matched to its field once (starting
 * where the previous member matched, since records usually keep their key order), then
 * feeds every rule of that field. */
struct source_field {
    const char *name;             /* borrowed from the first rule of the field */
    size_t len;
    int *rules;
    int nrules;
};

struct source_stream {
    char *name;
    int *rules;
    int nrules;
    struct source_field *fields;
    int nfields;
    bool reads_row;               /* some expression reads `row`: build it for each record */
};

struct mapping_stage {
    struct column_rule *rules;
    size_t nrules;
    struct source_stream *streams;
    int nstreams;
    char *target;                 /* target stream (= destination table) */
    json_t *columns;              /* ordered target column names (array) */
    json_t *schema_props;         /* target JSON Schema properties */
    struct mapping_stats stats;
    json_t *samples;              /* array of up to MAPPING_MAX_SAMPLES objects */
    struct singer_parser ps;
    /* per-record scratch, sized once */
    struct tx_value **vals;       /* per rule: the member it reads (NULL = absent) */
    bool *seen;                   /* per rule: its member was in the record */
    bool *direct;                 /* per rule: its cell was set from the member directly */
    struct tx_value *row;         /* the record as a dict, when reads_row */
    struct tx_cell *cells;        /* per target column */
    struct singer_value *out;     /* per target column */
    struct buf text;              /* bytes of the text cells */
};

void mapping_stage_free(struct mapping_stage *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->nrules; i++) {
        free(m->rules[i].stream);
        free(m->rules[i].source_field);
        free(m->rules[i].target_column);
        tx_expr_free(m->rules[i].expr);
    }
    for (int i = 0; i < m->nstreams; i++) {
        free(m->streams[i].name);
        free(m->streams[i].rules);
        for (int f = 0; f < m->streams[i].nfields; f++)
            free(m->streams[i].fields[f].rules);
        free(m->streams[i].fields);
    }
    free(m->streams);
    free(m->rules);
    free(m->target);
    json_decref(m->columns);
    json_decref(m->schema_props);
    json_decref(m->samples);
    singer_parser_release(&m->ps);
    free(m->vals);
    free(m->seen);
    free(m->direct);
    free(m->cells);
    free(m->out);
    buf_release(&m->text);
    free(m);
}

static struct source_stream *find_source(struct mapping_stage *m, const char *name)
{
    for (int i = 0; i < m->nstreams; i++)
        if (!strcmp(m->streams[i].name, name))
            return &m->streams[i];
    return NULL;
}

static void add_to_source(struct mapping_stage *m, int rule)
{
    const struct column_rule *r = &m->rules[rule];
    struct source_stream *ss = find_source(m, r->stream);
    if (!ss) {
        m->streams = xrealloc(m->streams, sizeof *m->streams * (size_t)(m->nstreams + 1));
        ss = &m->streams[m->nstreams++];
        memset(ss, 0, sizeof *ss);
        ss->name = xstrdup(r->stream);
    }
    ss->rules = xrealloc(ss->rules, sizeof(int) * (size_t)(ss->nrules + 1));
    ss->rules[ss->nrules++] = rule;
    ss->reads_row |= tx_expr_reads(r->expr, "row");
    struct source_field *f = NULL;
    for (int i = 0; i < ss->nfields && !f; i++)
        if (ss->fields[i].len == r->field_len && !strcmp(ss->fields[i].name, r->source_field))
            f = &ss->fields[i];
    if (!f) {
        ss->fields = xrealloc(ss->fields, sizeof *ss->fields * (size_t)(ss->nfields + 1));
        f = &ss->fields[ss->nfields++];
        *f = (struct source_field){.name = r->source_field, .len = r->field_len};
    }
    f->rules = xrealloc(f->rules, sizeof(int) * (size_t)(f->nrules + 1));
    f->rules[f->nrules++] = rule;
}

/* Compiles rule i from mapping v; IV_EINVAL naming it. */
static int compile_rule(struct mapping_stage *m, const struct store_mapping *v, size_t i,
                        struct iv_err *e)
{
    struct column_rule *r = &m->rules[m->nrules++];
    r->stream = xstrdup(v->source_stream);
    r->source_field = xstrdup(v->source_field);
    r->field_len = strlen(r->source_field);
    r->target_column = xstrdup(v->target_column);
    if (!tx_type_parse(v->target_type, &r->type))
        return iv_err_set(e, IV_EINVAL, "mapping %zu (target_column '%s'): unknown target_type "
                          "'%s'", i, v->target_column, v->target_type);
    if (v->transform_fn && *v->transform_fn) {
        struct tx_error err;
        if (tx_compile(v->transform_fn, strlen(v->transform_fn), &r->expr, &err))
            return iv_err_set(e, IV_EINVAL, "mapping %zu (target_column '%s'): %s at column %d: "
                              "%s", i, v->target_column, err.kind, err.column, err.msg);
    }
    if (!json_object_get(m->schema_props, r->target_column)) {
        json_array_append_new(m->columns, json_string(r->target_column));
        json_object_set_new(m->schema_props, r->target_column, tx_type_json_schema(&r->type));
    }
    r->col = -1;
    for (size_t c = 0; c < json_array_size(m->columns); c++)
        if (!strcmp(json_string_value(json_array_get(m->columns, c)), r->target_column))
            r->col = (int)c;
    return IV_OK;
}

int mapping_stage_new(struct mapping_stage **out, const struct store_mapping *v, size_t n,
                      const char *target_stream, struct iv_err *e)
{
    struct mapping_stage *m = xcalloc(1, sizeof *m);
    m->rules = xcalloc(n ? n : 1, sizeof *m->rules);
    m->target = xstrdup(target_stream);
    m->columns = json_array();
    m->schema_props = json_object();
    m->samples = json_array();
    singer_parser_init(&m->ps);
    buf_init(&m->text, (size_t)1 << 30);
    for (size_t i = 0; i < n; i++) {
        if (compile_rule(m, &v[i], i, e) != IV_OK) {
            mapping_stage_free(m);
            return IV_EINVAL;
        }
        add_to_source(m, (int)i);
    }
    size_t ncols = json_array_size(m->columns);
    m->vals = xcalloc(n ? n : 1, sizeof *m->vals);
    m->seen = xcalloc(n ? n : 1, sizeof *m->seen);
    m->direct = xcalloc(n ? n : 1, sizeof *m->direct);
    m->cells = xcalloc(ncols ? ncols : 1, sizeof *m->cells);
    m->out = xcalloc(ncols ? ncols : 1, sizeof *m->out);
    *out = m;
    return IV_OK;
}

int mapping_stage_start(struct mapping_stage *m, const struct mapping_out *o, struct iv_err *e)
{
    json_t *msg = json_pack("{s:s, s:s, s:{s:s, s:O}, s:[]}", "type", "SCHEMA", "stream",
                            m->target, "schema", "type", "object", "properties",
                            m->schema_props, "key_properties");
    char *txt = json_dumps(msg, JSON_COMPACT | JSON_PRESERVE_ORDER);
    int rc = o->line(o->ctx, txt, strlen(txt), e);
    free(txt);
    json_decref(msg);
    return rc;
}

/* ---- one record ------------------------------------------------------------------------- */

static void add_sample(struct mapping_stage *m, const struct column_rule *r,
                       const struct tx_value *value, const char *error)
{
    if (json_array_size(m->samples) >= MAPPING_MAX_SAMPLES)
        return;
    struct buf b;
    buf_init(&b, 1u << 20);
    struct tx_error ignored;
    if (!value || tx_to_json_text(value, &b, &ignored) != IV_OK || !b.data) {
        buf_reset(&b);
        buf_append_str(&b, "null");
    }
    if (b.len > 200) {
        b.len = 197;
        buf_append_str(&b, "...");
    }
    json_array_append_new(m->samples, json_pack("{s:s, s:s, s:s, s:s}", "field",
                                                r->target_column, "source_field",
                                                r->source_field, "value", b.data, "error",
                                                error));
    buf_release(&b);
}

/* A member's JSON value as an expression value (NULL and e set when it cannot be one). */
static struct tx_value *member_value(const struct singer_member *mb, struct iv_err *e)
{
    switch (mb->type) {
    case SINGER_JNULL: return tx_none();
    case SINGER_JBOOL: return tx_bool(mb->b);
    case SINGER_JSTR: return tx_str(mb->val, mb->val_len);
    case SINGER_JINT:
    case SINGER_JNUM: {
        int64_t i;
        double d;
        if (mb->val_len < 64) {   /* longer numbers: out of range, as always */
            if (mb->type == SINGER_JINT && singer_number_int64(mb->val, mb->val_len, &i) == 0)
                return tx_int64(i);
            if (mb->type == SINGER_JNUM && singer_number_double(mb->val, mb->val_len, &d) == 0)
                return tx_float(d);
        }
        iv_err_set(e, IV_EINVAL, "field \"%.*s\": number %.*s is out of range",
                   (int)(mb->key_len > 100 ? 100 : mb->key_len), mb->key,
                   (int)(mb->val_len > 40 ? 40 : mb->val_len), mb->val);
        return NULL;
    }
    case SINGER_JOBJ:
    case SINGER_JARR: {
        json_error_t je;
        json_t *j = json_loadb(mb->val, mb->val_len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY,
                               &je);
        if (!j) {
            iv_err_set(e, IV_EINVAL, "field \"%.*s\": %s",
                       (int)(mb->key_len > 100 ? 100 : mb->key_len), mb->key, je.text);
            return NULL;
        }
        struct tx_value *v = tx_from_json(j);
        json_decref(j);
        return v;
    }
    }
    return tx_none();
}

/* A mapping without an expression whose member converts to its column as it is (the usual
 * JSON type for the target type): the cell straight from the JSON, no expression value.
 * Gives exactly what tx_coerce_cell gives for these cases; false for any other. */
static bool direct_cell(struct mapping_stage *m, const struct column_rule *r,
                        const struct singer_member *mb, struct tx_cell *c)
{
    memset(c, 0, sizeof *c);
    switch (mb->type) {
    case SINGER_JNULL:
        c->kind = TXC_NULL;
        return true;
    case SINGER_JBOOL:
        c->kind = TXC_BOOL;
        c->b = mb->b;
        return r->type.t == TT_BOOLEAN;
    case SINGER_JSTR:
        if (r->type.t == TT_STRING) {
            c->kind = TXC_TEXT;
            c->off = m->text.len;
            c->n = mb->val_len;
            return buf_append(&m->text, mb->val, mb->val_len) == IV_OK;
        }
        return tx_cell_time_text(&r->type, mb->val, mb->val_len, c);
    case SINGER_JINT:
        if ((r->type.t != TT_LONG && r->type.t != TT_INT) || mb->val_len > 18)
            return false;   /* 18 digits always fit */
        c->kind = TXC_LONG;
        if (singer_number_int64(mb->val, mb->val_len, &c->i))
            return false;   /* cannot happen at <= 18 digits */
        return r->type.t == TT_LONG || (c->i >= INT32_MIN && c->i <= INT32_MAX);
    case SINGER_JNUM:
        if (r->type.t != TT_DOUBLE || mb->val_len >= 32)
            return false;
        c->kind = TXC_DOUBLE;
        return singer_number_double(mb->val, mb->val_len, &c->d) == 0;
    default:
        return false;
    }
}

struct record_walk {
    struct mapping_stage *m;
    const struct source_stream *ss;
    int next_field;               /* where the next member's field is looked for first */
};

/* The source field named by the member's key, or NULL (an unmapped member). */
static const struct source_field *member_field(struct record_walk *w,
                                               const struct singer_member *mb)
{
    const struct source_stream *ss = w->ss;
    int i = w->next_field;
    for (int k = 0; k < ss->nfields; k++, i = i + 1 < ss->nfields ? i + 1 : 0) {
        const struct source_field *f = &ss->fields[i];
        if (f->len == mb->key_len && !memcmp(f->name, mb->key, mb->key_len)) {
            w->next_field = i + 1 < ss->nfields ? i + 1 : 0;
            return f;
        }
    }
    return NULL;
}

static int on_member(void *ctx, const struct singer_member *mb, struct iv_err *e)
{
    struct record_walk *w = ctx;
    struct mapping_stage *m = w->m;
    struct tx_value *v = NULL;
    const struct source_field *f = member_field(w, mb);
    for (int i = 0; f && i < f->nrules; i++) {
        int ri = f->rules[i];
        const struct column_rule *r = &m->rules[ri];
        if (m->seen[ri]) {
            tx_unref(v);
            return iv_err_set(e, IV_EINVAL, "duplicate key \"%s\" in a record", r->source_field);
        }
        m->seen[ri] = true;
        if (!r->expr && direct_cell(m, r, mb, &m->cells[r->col])) {
            m->direct[ri] = true;
            continue;
        }
        if (!v && !(v = member_value(mb, e)))
            return IV_EINVAL;
        m->vals[ri] = tx_ref(v);
    }
    if (w->ss->reads_row) {
        if (!v && !(v = member_value(mb, e)))
            return IV_EINVAL;
        if (!tx_dict_add(m->row, mb->key, mb->key_len, tx_ref(v))) {
            tx_unref(v);
            return iv_err_set(e, IV_EINVAL, "duplicate key \"%.*s\" in a record",
                              (int)(mb->key_len > 100 ? 100 : mb->key_len), mb->key);
        }
    }
    tx_unref(v);
    return IV_OK;
}

/* Evaluates and coerces rule ri into its column's cell; false (and a sample) on an error. */
static bool transform_rule(struct mapping_stage *m, int ri)
{
    const struct column_rule *r = &m->rules[ri];
    if (m->direct[ri])
        return true;
    struct tx_value *value = m->vals[ri] ? m->vals[ri] : tx_none();
    struct tx_value *res = NULL;
    struct tx_error err;   /* tx_eval and tx_coerce_cell set it (no per-cell memset) */
    char msg[520];
    if (r->expr) {
        if (tx_eval(r->expr, value, m->row, NULL, &res, &err) != IV_OK) {
            snprintf(msg, sizeof msg, "%s: %s", err.kind, err.msg);
            add_sample(m, r, value, msg);
            return false;
        }
    } else {
        res = tx_ref(value);
    }
    bool ok = tx_coerce_cell(res, &r->type, &m->text, &m->cells[r->col], &err) == IV_OK;
    if (!ok)
        add_sample(m, r, value, err.msg);
    tx_unref(res);
    return ok;
}

static void cells_to_values(struct mapping_stage *m, int ncols)
{
    static const enum singer_vkind kinds[] = {
        [TXC_NULL] = SINGER_V_NULL, [TXC_BOOL] = SINGER_V_BOOL, [TXC_LONG] = SINGER_V_I64,
        [TXC_DOUBLE] = SINGER_V_F64, [TXC_TEXT] = SINGER_V_BYTES, [TXC_DATE] = SINGER_V_DATE,
        [TXC_TIMESTAMP] = SINGER_V_TIMESTAMP};
    for (int c = 0; c < ncols; c++) {
        const struct tx_cell *x = &m->cells[c];
        m->out[c] = (struct singer_value){.kind = kinds[x->kind], .b = x->b, .i64 = x->i,
                                          .d = x->d};
        if (x->kind == TXC_TEXT) {
            m->out[c].p = m->text.data + x->off;
            m->out[c].n = x->n;
        }
    }
}

static void release_record(struct mapping_stage *m, const struct source_stream *ss)
{
    for (int i = 0; i < ss->nrules; i++) {
        int ri = ss->rules[i];
        tx_unref(m->vals[ri]);
        m->vals[ri] = NULL;
        m->seen[ri] = m->direct[ri] = false;
    }
    tx_unref(m->row);
    m->row = NULL;
}

static int transform_record(struct mapping_stage *m, const struct source_stream *ss,
                            const struct singer_msg *msg, const struct mapping_out *o,
                            struct iv_err *e)
{
    int ncols = (int)json_array_size(m->columns);
    memset(m->cells, 0, sizeof *m->cells * (size_t)ncols);   /* TXC_NULL */
    buf_reset(&m->text);
    if (ss->reads_row)
        m->row = tx_dict_empty();
    struct record_walk w = {.m = m, .ss = ss};
    int rc = singer_record_members(&m->ps, msg, on_member, &w, e);
    bool ok = true;
    for (int i = 0; i < ss->nrules && ok && rc == IV_OK; i++)
        ok = transform_rule(m, ss->rules[i]);
    release_record(m, ss);
    if (rc)
        return rc;
    if (!ok) {
        m->stats.transform_errors++;
        return IV_OK;
    }
    cells_to_values(m, ncols);
    return o->row(o->ctx, m->target, m->out, ncols, e);
}

static int ignore_member(void *ctx, const struct singer_member *mb, struct iv_err *e)
{
    (void)ctx, (void)mb, (void)e;
    return IV_OK;
}

int mapping_stage_line(struct mapping_stage *m, const char *line, size_t len,
                       const struct mapping_out *o, struct iv_err *e)
{
    while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == ' ' || line[len - 1] == '\t'))
        len--;
    size_t k = 0;
    while (k < len && (line[k] == ' ' || line[k] == '\t'))
        k++;
    if (k == len)
        return IV_OK;
    struct singer_msg msg;
    int rc = singer_parse_line(&m->ps, line, len, &msg, e);
    if (rc)
        return rc;
    switch (msg.type) {
    case SINGER_MSG_STATE:
        rc = o->line(o->ctx, line, len, e);
        break;
    case SINGER_MSG_RECORD: {
        const struct source_stream *ss = find_source(m, msg.stream);
        if (!ss) {
            m->stats.dropped++;   /* still validated, as any message */
            rc = singer_record_members(&m->ps, &msg, ignore_member, NULL, e);
        } else {
            m->stats.records++;
            rc = transform_record(m, ss, &msg, o, e);
        }
        break;
    }
    case SINGER_MSG_BATCH:
        rc = iv_err_set(e, IV_EINVAL, "BATCH messages (records in files) are not accepted for "
                        "a connector with field mappings; send RECORD messages");
        break;
    case SINGER_MSG_SCHEMA:
    case SINGER_MSG_ACTIVATE_VERSION:
        break;   /* the target's own SCHEMA was sent at the start */
    }
    singer_msg_clear(&msg);
    return rc;
}

void mapping_stage_stats(const struct mapping_stage *m, struct mapping_stats *out)
{
    *out = m->stats;
}

char *mapping_stage_samples(const struct mapping_stage *m)
{
    return json_dumps(m->samples, JSON_COMPACT);
}
