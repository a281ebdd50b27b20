/*
 * mapping.c: the transform stage between the tap and the loader (see mapping.h).
 */
#include "runner/mapping.h"
#include "transform/transform.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct column_rule {
    char *stream, *source_field, *target_column;
    struct tx_type type;
    struct tx_expr *expr;         /* NULL = the value as it is */
};

struct mapping_stage {
    struct column_rule *rules;
    size_t nrules;
    char *target;                 /* target stream (= destination table) */
    json_t *columns;              /* ordered target column names (array) */
    json_t *schema_props;         /* target JSON Schema properties */
    struct mapping_stats stats;
    json_t *samples;              /* array of up to MAPPING_MAX_SAMPLES objects */
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
    free(m->rules);
    free(m->target);
    json_decref(m->columns);
    json_decref(m->schema_props);
    json_decref(m->samples);
    free(m);
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
    for (size_t i = 0; i < n; i++) {
        struct column_rule *r = &m->rules[m->nrules++];
        r->stream = xstrdup(v[i].source_stream);
        r->source_field = xstrdup(v[i].source_field);
        r->target_column = xstrdup(v[i].target_column);
        if (!tx_type_parse(v[i].target_type, &r->type)) {
            iv_err_set(e, IV_EINVAL, "mapping %zu (target_column '%s'): unknown target_type "
                       "'%s'", i, v[i].target_column, v[i].target_type);
            goto fail;
        }
        if (v[i].transform_fn && *v[i].transform_fn) {
            struct tx_error err;
            if (tx_compile(v[i].transform_fn, strlen(v[i].transform_fn), &r->expr, &err)) {
                iv_err_set(e, IV_EINVAL, "mapping %zu (target_column '%s'): %s at column %d: "
                           "%s", i, v[i].target_column, err.kind, err.column, err.msg);
                goto fail;
            }
        }
        if (!json_object_get(m->schema_props, r->target_column)) {
            json_array_append_new(m->columns, json_string(r->target_column));
            json_object_set_new(m->schema_props, r->target_column,
                                tx_type_json_schema(&r->type));
        }
    }
    *out = m;
    return IV_OK;
fail:
    mapping_stage_free(m);
    return IV_EINVAL;
}

static int emit_json(json_t *msg, mapping_emit_fn emit, void *ctx, struct iv_err *e)
{
    char *txt = json_dumps(msg, JSON_COMPACT);
    int rc = emit(ctx, txt, strlen(txt), e);
    free(txt);
    return rc;
}

int mapping_stage_start(struct mapping_stage *m, mapping_emit_fn emit, void *ctx,
                        struct iv_err *e)
{
    json_t *msg = json_pack("{s:s, s:s, s:{s:s, s:O}, s:[]}", "type", "SCHEMA", "stream",
                            m->target, "schema", "type", "object", "properties",
                            m->schema_props, "key_properties");
    int rc = emit_json(msg, emit, ctx, e);
    json_decref(msg);
    return rc;
}

static bool stream_is_mapped(const struct mapping_stage *m, const char *stream)
{
    for (size_t i = 0; i < m->nrules; i++)
        if (!strcmp(m->rules[i].stream, stream))
            return true;
    return false;
}

static void add_sample(struct mapping_stage *m, const struct column_rule *r, json_t *value,
                       const char *error)
{
    if (json_array_size(m->samples) >= MAPPING_MAX_SAMPLES)
        return;
    char *vt = value ? json_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY) : xstrdup("null");
    if (vt && strlen(vt) > 200)
        strcpy(vt + 197, "...");
    json_array_append_new(m->samples, json_pack("{s:s, s:s, s:s, s:s}", "field",
                                                r->target_column, "source_field",
                                                r->source_field, "value", vt ? vt : "?",
                                                "error", error));
    free(vt);
}

/* Projects and transforms one record; NULL (and a sample) when any column fails. */
static json_t *transform_record(struct mapping_stage *m, const char *stream, json_t *rec)
{
    json_t *outrec = json_object();
    struct tx_value *row = tx_from_json(rec);
    bool ok = true;
    for (size_t i = 0; i < m->nrules && ok; i++) {
        const struct column_rule *r = &m->rules[i];
        if (strcmp(r->stream, stream))
            continue;
        json_t *src = json_object_get(rec, r->source_field);
        struct tx_value *value = src ? tx_from_json(src) : tx_none();
        struct tx_value *res = NULL;
        struct tx_error err = {0};
        char msg[520];
        if (r->expr) {
            if (tx_eval(r->expr, value, row, NULL, &res, &err) != IV_OK) {
                snprintf(msg, sizeof msg, "%s: %s", err.kind, err.msg);
                add_sample(m, r, src, msg);
                ok = false;
            }
        } else {
            res = tx_ref(value);
        }
        json_t *cell = NULL;
        if (ok && tx_coerce(res, &r->type, &cell, &err) != IV_OK) {
            snprintf(msg, sizeof msg, "%s", err.msg);
            add_sample(m, r, src, msg);
            ok = false;
        }
        if (ok)
            json_object_set_new(outrec, r->target_column, cell);
        tx_unref(res);
        tx_unref(value);
    }
    tx_unref(row);
    if (!ok) {
        json_decref(outrec);
        return NULL;
    }
    return outrec;
}

int mapping_stage_line(struct mapping_stage *m, const char *line, size_t len,
                       mapping_emit_fn emit, void *ctx, struct iv_err *e)
{
    while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == ' ' || line[len - 1] == '\t'))
        len--;
    if (len == 0)
        return IV_OK;
    json_error_t je;
    json_t *msg = json_loadb(line, len, JSON_REJECT_DUPLICATES, &je);
    if (!json_is_object(msg)) {
        json_decref(msg);
        return iv_err_set(e, IV_EINVAL, "not a Singer message (invalid JSON: %s)",
                          msg ? "not an object" : je.text);
    }
    const char *type = json_str(msg, "type");
    const char *stream = json_str(msg, "stream");
    int rc = IV_OK;
    if (!type) {
        rc = iv_err_set(e, IV_EINVAL, "Singer message without \"type\"");
    } else if (!strcmp(type, "STATE")) {
        rc = emit(ctx, line, len, e);
    } else if (!strcmp(type, "RECORD")) {
        json_t *rec = json_object_get(msg, "record");
        if (!stream || !json_is_object(rec)) {
            rc = iv_err_set(e, IV_EINVAL, "RECORD needs \"stream\" and a \"record\" object");
        } else if (!stream_is_mapped(m, stream)) {
            m->stats.dropped++;
        } else {
            m->stats.records++;
            json_t *outrec = transform_record(m, stream, rec);
            if (!outrec) {
                m->stats.transform_errors++;
            } else {
                json_t *o = json_pack("{s:s, s:s, s:o}", "type", "RECORD", "stream", m->target,
                                      "record", outrec);
                rc = emit_json(o, emit, ctx, e);
                json_decref(o);
            }
        }
    } else if (strcmp(type, "SCHEMA") && strcmp(type, "ACTIVATE_VERSION")) {
        rc = iv_err_set(e, IV_EINVAL, "unknown Singer message type \"%s\"", type);
    }
    json_decref(msg);
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
