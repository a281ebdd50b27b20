/*
 * singer_schema: JSON Schema (a Singer SCHEMA message) -> Iceberg columns
 * (CONTRACT §6). integer->long, number->double, boolean->boolean,
 * string->string, string+date-time->timestamptz, string+date->date,
 * object/array->string holding compact JSON. ["null", T] (or anyOf with one
 * non-null branch and a null branch) -> optional T; any other union -> string
 * holding JSON. A key property is required only when its schema does not
 * allow null; every other column is optional. Column order = property order.
 */
#include "singer/singer.h"

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
    const char *format;   /* for strings */
};
#define MAX_ALTS 16

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

/* Collects alternatives; *nullable set when null is allowed. Returns -1 with
 * a reason for unknown type names. */
static int collect(const json_t *ps, struct alt *alts, int *nalts, bool *nullable, bool *any,
                   const char **why, int depth)
{
    if (depth > 8) {
        *why = "schema nested too deep";
        return -1;
    }
    if (!json_is_object(ps)) {
        if (json_is_true(ps)) {   /* `true` schema: anything */
            *any = true;
            *nullable = true;
            return 0;
        }
        *why = "property schema is not an object";
        return -1;
    }
    const json_t *type = json_object_get(ps, "type");
    const char *format = json_str(ps, "format");
    if (type) {
        const json_t *list = type;
        json_t *tmp = NULL;
        if (json_is_string(type)) {
            tmp = json_array();
            json_array_append(tmp, (json_t *)type);
            list = tmp;
        } else if (!json_is_array(type)) {
            *why = "\"type\" is neither a string nor an array";
            return -1;
        }
        size_t i;
        const json_t *t;
        json_array_foreach(list, i, t) {
            unsigned m = json_is_string(t) ? type_mask(json_string_value(t)) : 0;
            if (!m) {
                if (tmp)
                    json_decref(tmp);
                *why = "unknown JSON Schema type";
                return -1;
            }
            if (m == SINGER_J_NULL) {
                *nullable = true;
                continue;
            }
            bool dup = false;
            for (int k = 0; k < *nalts; k++)
                if (alts[k].jmask == m)
                    dup = true;
            if (dup)
                continue;
            if (*nalts >= MAX_ALTS) {
                if (tmp)
                    json_decref(tmp);
                *why = "too many types in union";
                return -1;
            }
            alts[*nalts].jmask = m;
            alts[*nalts].format = m == SINGER_J_STR ? format : NULL;
            (*nalts)++;
        }
        if (tmp)
            json_decref(tmp);
        return 0;
    }
    const json_t *branches = json_object_get(ps, "anyOf");
    if (!branches)
        branches = json_object_get(ps, "oneOf");
    if (json_is_array(branches)) {
        size_t i;
        const json_t *b;
        json_array_foreach(branches, i, b) {
            if (collect(b, alts, nalts, nullable, any, why, depth + 1))
                return -1;
        }
        return 0;
    }
    /* no type at all: any JSON value */
    *any = true;
    *nullable = true;
    return 0;
}

static int map_property(const char *name, const json_t *ps, struct singer_column *c,
                        struct iv_err *e)
{
    struct alt alts[MAX_ALTS];
    int nalts = 0;
    bool nullable = false, any = false;
    const char *why = NULL;
    if (collect(ps, alts, &nalts, &nullable, &any, &why, 0))
        return iv_err_set(e, IV_EINVAL, "property \"%s\": %s", name, why);
    c->name = xstrdup(name);
    c->accept = nullable ? SINGER_J_NULL : 0;
    if (any || nalts != 1) {
        c->kind = SINGER_K_JSON;
        c->type = LAKE_STRING;
        if (any)
            c->accept = SINGER_J_ANY;
        for (int i = 0; i < nalts; i++)
            c->accept |= alts[i].jmask;
        return IV_OK;
    }
    c->accept |= alts[0].jmask;
    switch (alts[0].jmask) {
    case SINGER_J_BOOL: c->kind = SINGER_K_BOOL; c->type = LAKE_BOOLEAN; break;
    case SINGER_J_INT: c->kind = SINGER_K_LONG; c->type = LAKE_LONG; break;
    case SINGER_J_INT | SINGER_J_NUM: c->kind = SINGER_K_DOUBLE; c->type = LAKE_DOUBLE; break;
    case SINGER_J_STR:
        if (alts[0].format && !strcmp(alts[0].format, "date-time")) {
            c->kind = SINGER_K_TIMESTAMPTZ;
            c->type = LAKE_TIMESTAMPTZ;
        } else if (alts[0].format && !strcmp(alts[0].format, "date")) {
            c->kind = SINGER_K_DATE;
            c->type = LAKE_DATE;
        } else {
            c->kind = SINGER_K_STRING;
            c->type = LAKE_STRING;
        }
        break;
    default:   /* object, array */
        c->kind = SINGER_K_JSON;
        c->type = LAKE_STRING;
        break;
    }
    return IV_OK;
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
