/*
 * singer_schema: JSON Schema (a Singer SCHEMA message) -> Iceberg columns
 * (docs/runner.md). integer->long, number->double, boolean->boolean,
 * string->string, string+date-time->timestamptz, string+date->date,
 * object/array->string holding compact JSON. ["null", T] (or anyOf with one
 * non-null branch and a null branch) -> optional T; any other union -> string
 * holding JSON. A key property is required only when its schema does not
 * allow null; every other column is optional. Column order = property order.
 */
#include "singer/singer.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *singer_kind_name(enum singer_kind k)
{
    switch (k) {
    case SINGER_K_LONG: return "integer";
    case SINGER_K_DOUBLE: return "number";
    case SINGER_K_BOOL: return "boolean";
    case SINGER_K_STRING: return "string";
    case SINGER_K_TIMESTAMPTZ: return "date-time string";
    case SINGER_K_DATE: return "date string";
    case SINGER_K_JSON: return "JSON value";
    case SINGER_K_DECIMAL: return "decimal";
    case SINGER_K_TEXT: return "text";
    }
    return "?";
}

void singer_columns_free(struct singer_column *cols, int ncols)
{
    if (!cols)
        return;
    for (int i = 0; i < ncols; i++)
        free(cols[i].name);
    free(cols);
}

/* The non-null alternatives of a property schema. */
struct alt {
    unsigned jmask;       /* SINGER_J_* of this alternative */
    const char *format;   /* strings: the format; "" when branches disagree */
    const json_t *node;   /* the (sub)schema it came from: multipleOf, maximum, ... */
};
#define MAX_ALTS 16

struct collected {
    struct alt alts[MAX_ALTS];
    int nalts;
    bool nullable, any;
    json_t *keep;         /* merged allOf schemas the alternatives point into */
};

static unsigned type_mask(const char *t)
{
    if (!strcmp(t, "null")) return SINGER_J_NULL;
    if (!strcmp(t, "boolean")) return SINGER_J_BOOL;
    if (!strcmp(t, "integer")) return SINGER_J_INT;
    if (!strcmp(t, "number")) return SINGER_J_INT | SINGER_J_NUM;
    if (!strcmp(t, "string")) return SINGER_J_STR;
    if (!strcmp(t, "object")) return SINGER_J_OBJ;
    if (!strcmp(t, "array")) return SINGER_J_ARR;
    return 0;
}

/* Adds one alternative; the same JSON type twice merges (strings whose formats differ
 * become plain strings: a union maps to a type every branch fits). */
static int add_alt(struct collected *cl, unsigned m, const json_t *node, const char **why)
{
    const char *format = m == SINGER_J_STR ? json_str(node, "format") : NULL;
    for (int k = 0; k < cl->nalts; k++) {
        if (cl->alts[k].jmask != m)
            continue;
        const char *f0 = cl->alts[k].format;
        if (m == SINGER_J_STR && !(f0 && format && !strcmp(f0, format)))
            cl->alts[k].format = "";
        return 0;
    }
    if (cl->nalts >= MAX_ALTS) {
        *why = "too many types in union";
        return -1;
    }
    cl->alts[cl->nalts++] = (struct alt){ .jmask = m, .format = format, .node = node };
    return 0;
}

static int collect(const json_t *ps, struct collected *cl, const char **why, int depth);

/* allOf: one schema holding every branch's keywords ("type" lists intersected). */
static int collect_all_of(const json_t *branches, struct collected *cl, const char **why,
                          int depth)
{
    json_t *merged = json_object();
    json_array_append_new(cl->keep, merged);
    size_t i;
    const json_t *b;
    json_array_foreach(branches, i, b) {
        if (!json_is_object(b))
            continue;
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)b, k, v) {
            json_t *have = json_object_get(merged, k);
            if (!have) {
                json_object_set(merged, k, v);
            } else if (!strcmp(k, "type")) {
                json_t *both = json_array();
                json_t *a1 = json_is_string(have) ? json_pack("[O]", have) : json_incref(have);
                json_t *a2 = json_is_string(v) ? json_pack("[O]", v) : json_incref(v);
                size_t x, y;
                json_t *tx, *ty;
                json_array_foreach(a1, x, tx)
                    json_array_foreach(a2, y, ty)
                        if (json_equal(tx, ty))
                            json_array_append(both, tx);
                json_decref(a1);
                json_decref(a2);
                json_object_set_new(merged, "type", both);
            }
        }
    }
    json_t *t = json_object_get(merged, "type");
    if (json_is_array(t) && json_array_size(t) == 0) {
        *why = "allOf branches allow no common type";
        return -1;
    }
    return collect(merged, cl, why, depth + 1);
}

/* Collects alternatives; -1 with a reason for unknown type names. */
static int collect(const json_t *ps, struct collected *cl, const char **why, int depth)
{
    if (depth > 8) {
        *why = "schema nested too deep";
        return -1;
    }
    if (!json_is_object(ps)) {
        if (json_is_true(ps)) {   /* `true` schema: anything */
            cl->any = cl->nullable = true;
            return 0;
        }
        *why = "property schema is not an object";
        return -1;
    }
    const json_t *type = json_object_get(ps, "type");
    if (type) {
        if (!json_is_string(type) && !json_is_array(type)) {
            *why = "\"type\" is neither a string nor an array";
            return -1;
        }
        size_t n = json_is_string(type) ? 1 : json_array_size(type);
        for (size_t i = 0; i < n; i++) {
            const json_t *t = json_is_string(type) ? type : json_array_get(type, i);
            unsigned m = json_is_string(t) ? type_mask(json_string_value(t)) : 0;
            if (!m) {
                *why = "unknown JSON Schema type";
                return -1;
            }
            if (m == SINGER_J_NULL)
                cl->nullable = true;
            else if (add_alt(cl, m, ps, why))
                return -1;
        }
        return 0;
    }
    const json_t *branches = json_object_get(ps, "anyOf");
    if (!branches)
        branches = json_object_get(ps, "oneOf");
    if (json_is_array(branches)) {
        size_t i;
        const json_t *b;
        json_array_foreach(branches, i, b) {
            if (collect(b, cl, why, depth + 1))
                return -1;
        }
        return 0;
    }
    const json_t *all = json_object_get(ps, "allOf");
    if (json_is_array(all))
        return collect_all_of(all, cl, why, depth);
    /* no type at all: any JSON value */
    cl->any = cl->nullable = true;
    return 0;
}

/* 10^-s == m for some s in 0..38: the scale of a `multipleOf`; -1 when m is no such power. */
static int scale_of_multiple(double m)
{
    double p = 1.0;
    for (int s = 0; s <= 38; s++, p /= 10.0)
        if (fabs(m - p) <= p * 1e-9)
            return s;
    return -1;
}

/* Digits before the point that `maximum`/`minimum` allow (pipelinewise: numeric(p,s) ->
 * exclusiveMaximum 10^(p-s)); 38 - scale when the schema gives no bound. */
static int integer_digits(const json_t *node, int scale)
{
    int digits = 0;
    const char *keys[2] = { "maximum", "minimum" };
    for (int i = 0; i < 2; i++) {
        const json_t *b = json_object_get(node, keys[i]);
        if (!json_is_number(b))
            return 38 - scale;
        double v = fabs(json_number_value(b));
        int d = v < 1.0 ? 1 : (int)floor(log10(v) + 1e-9) + 1;
        double p10 = pow(10.0, d - 1);
        bool exclusive = json_is_true(json_object_get(node, i ? "exclusiveMinimum"
                                                              : "exclusiveMaximum"));
        if (exclusive && d > 1 && fabs(v - p10) <= p10 * 1e-12)
            d--;   /* < 10^k needs k digits */
        if (d > digits)
            digits = d;
    }
    return digits;
}

/* "(p,s)" of pipelinewise's additionalProperties.scale_precision. */
static bool scale_precision_hint(const json_t *node, int *p, int *s)
{
    const char *sp = json_str(json_object_get(node, "additionalProperties"), "scale_precision");
    return sp && sscanf(sp, " ( %d , %d )", p, s) == 2 && *p >= 1 && *p <= 38 && *s >= 0 &&
           *s <= *p;
}

/* The decimal(p,s) a number or string alternative asks for; false for none (or for one
 * beyond 38 digits: those stay double / string, see docs/singer.md). */
static bool decimal_of(const struct alt *a, int *precision, int *scale)
{
    if (a->jmask == SINGER_J_STR) {
        if (!a->format || strcmp(a->format, "singer.decimal"))
            return false;
        if (!scale_precision_hint(a->node, precision, scale)) {
            *precision = 38;
            *scale = 18;
        }
        return true;
    }
    const json_t *m = json_object_get(a->node, "multipleOf");
    if (a->jmask != (SINGER_J_INT | SINGER_J_NUM) || !json_is_number(m))
        return false;
    if (scale_precision_hint(a->node, precision, scale))
        return true;
    int s = scale_of_multiple(json_number_value(m));
    if (s < 0)
        return false;
    int p = integer_digits(a->node, s) + s;
    if (p > 38)
        return false;
    *precision = p < 1 ? 1 : p;
    *scale = s;
    return true;
}

/* A union of integer and number alternatives only: a double fits every branch. */
static bool numeric_union(const struct collected *cl)
{
    for (int i = 0; i < cl->nalts; i++)
        if (cl->alts[i].jmask & ~(unsigned)(SINGER_J_INT | SINGER_J_NUM))
            return false;
    return cl->nalts > 0;
}

static void map_string(struct singer_column *c, const char *format)
{
    if (format && !strcmp(format, "date-time")) {
        c->kind = SINGER_K_TIMESTAMPTZ;
        c->type = LAKE_TIMESTAMPTZ;
    } else if (format && !strcmp(format, "date")) {
        c->kind = SINGER_K_DATE;
        c->type = LAKE_DATE;
    } else {
        c->kind = SINGER_K_STRING;
        c->type = LAKE_STRING;
    }
}

static void map_collected(const struct collected *cl, struct singer_column *c)
{
    c->accept = cl->nullable ? SINGER_J_NULL : 0;
    for (int i = 0; i < cl->nalts; i++)
        c->accept |= cl->alts[i].jmask;
    if (cl->any) {
        c->accept = SINGER_J_ANY;
        c->kind = SINGER_K_JSON;
        c->type = LAKE_STRING;
        return;
    }
    if (cl->nalts == 1 && decimal_of(&cl->alts[0], &c->precision, &c->scale)) {
        c->kind = SINGER_K_DECIMAL;
        c->type = LAKE_DECIMAL;
        return;
    }
    if (cl->nalts > 1 && numeric_union(cl)) {
        c->kind = SINGER_K_DOUBLE;
        c->type = LAKE_DOUBLE;
        return;
    }
    if (cl->nalts != 1) {
        c->kind = SINGER_K_JSON;
        c->type = LAKE_STRING;
        return;
    }
    switch (cl->alts[0].jmask) {
    case SINGER_J_BOOL: c->kind = SINGER_K_BOOL; c->type = LAKE_BOOLEAN; break;
    case SINGER_J_INT: c->kind = SINGER_K_LONG; c->type = LAKE_LONG; break;
    case SINGER_J_INT | SINGER_J_NUM: c->kind = SINGER_K_DOUBLE; c->type = LAKE_DOUBLE; break;
    case SINGER_J_STR: map_string(c, cl->alts[0].format); break;
    default:   /* object, array */
        c->kind = SINGER_K_JSON;
        c->type = LAKE_STRING;
        break;
    }
}

static int map_property(const char *name, const json_t *ps, struct singer_column *c,
                        struct iv_err *e)
{
    struct collected cl = { .nalts = 0, .keep = json_array() };
    const char *why = NULL;
    int rc = IV_OK;
    if (collect(ps, &cl, &why, 0)) {
        rc = iv_err_set(e, IV_EINVAL, "property \"%s\": %s", name, why);
        goto out;
    }
    c->name = xstrdup(name);
    map_collected(&cl, c);
out:
    json_decref(cl.keep);
    return rc;
}

int singer_schema_map(const json_t *schema, const json_t *key_properties,
                      struct singer_column **cols_out, int *ncols_out, struct iv_err *e)
{
    *cols_out = NULL;
    *ncols_out = 0;
    if (!json_is_object(schema))
        return iv_err_set(e, IV_EINVAL, "schema is not an object");
    const json_t *props = json_object_get(schema, "properties");
    if (!json_is_object(props))
        return iv_err_set(e, IV_EINVAL, "schema has no \"properties\" object");
    size_t n = json_object_size(props);
    if (n == 0)
        return iv_err_set(e, IV_EINVAL, "schema has no properties");
    if (n > 10000)
        return iv_err_set(e, IV_EINVAL, "schema has %zu properties (limit 10000)", n);
    if (key_properties && !json_is_null(key_properties) && !json_is_array(key_properties))
        return iv_err_set(e, IV_EINVAL, "key_properties is not an array");

    struct singer_column *cols = xcalloc(n, sizeof(*cols));
    int nc = 0, rc = IV_OK;
    const char *name;
    const json_t *ps;
    json_object_foreach((json_t *)props, name, ps) {
        if (name[0] == '\0') {
            rc = iv_err_set(e, IV_EINVAL, "schema has a property with an empty name");
            goto fail;
        }
        if ((rc = map_property(name, ps, &cols[nc], e)))
            goto fail;
        nc++;
    }
    if (json_is_array(key_properties)) {
        size_t i;
        const json_t *k;
        json_array_foreach(key_properties, i, k) {
            const char *kn = json_string_value(k);
            if (!kn) {
                rc = iv_err_set(e, IV_EINVAL, "key_properties holds a non-string");
                goto fail;
            }
            int found = -1;
            for (int j = 0; j < nc; j++)
                if (!strcmp(cols[j].name, kn))
                    found = j;
            if (found < 0) {
                rc = iv_err_set(e, IV_EINVAL, "key property \"%s\" is not in the schema's properties",
                                kn);
                goto fail;
            }
            cols[found].key = true;
            cols[found].required = !(cols[found].accept & SINGER_J_NULL);
        }
    }
    *cols_out = cols;
    *ncols_out = nc;
    return IV_OK;
fail:
    singer_columns_free(cols, nc);
    return rc;
}
