/*
 * lake/types: Iceberg primitive type strings <-> struct lake_field type
 * information ("long", "decimal(10,2)", "fixed[16]"). Parsing accepts the
 * spaces the Iceberg spec allows inside decimal(P, S) and fixed[ L ].
 */
#include "lake/types.h"
#include "util/util.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
    const char *name;
    enum lake_type type;
} lake_simple_types[] = {
    {"boolean", LAKE_BOOLEAN},   {"int", LAKE_INT},       {"long", LAKE_LONG},
    {"float", LAKE_FLOAT},       {"double", LAKE_DOUBLE}, {"date", LAKE_DATE},
    {"time", LAKE_TIME},         {"timestamp", LAKE_TIMESTAMP},
    {"timestamptz", LAKE_TIMESTAMPTZ}, {"string", LAKE_STRING}, {"binary", LAKE_BINARY},
    {"uuid", LAKE_UUID},
};

void lake_type_string(const struct lake_field *f, char out[32])
{
    if (f->type == LAKE_DECIMAL) {
        snprintf(out, 32, "decimal(%d,%d)", f->precision, f->scale);
        return;
    }
    if (f->type == LAKE_FIXED) {
        snprintf(out, 32, "fixed[%d]", f->fixed_len);
        return;
    }
    for (size_t i = 0; i < sizeof lake_simple_types / sizeof lake_simple_types[0]; i++) {
        if (lake_simple_types[i].type == f->type) {
            snprintf(out, 32, "%s", lake_simple_types[i].name);
            return;
        }
    }
    snprintf(out, 32, "unknown");
}

static const char *skip_ws(const char *p)
{
    while (*p == ' ' || *p == '\t')
        p++;
    return p;
}

/* Parses a non-negative decimal integer (at most 9 digits) after optional spaces. */
static const char *parse_uint(const char *p, int *out)
{
    p = skip_ws(p);
    if (!isdigit((unsigned char)*p))
        return NULL;
    long v = 0;
    int digits = 0;
    while (isdigit((unsigned char)*p)) {
        if (++digits > 9)
            return NULL;
        v = v * 10 + (*p++ - '0');
    }
    *out = (int)v;
    return skip_ws(p);
}

int lake_type_parse(const char *s, struct lake_field *f)
{
    if (!s)
        return IV_EINVAL;
    s = skip_ws(s);
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    for (size_t i = 0; i < sizeof lake_simple_types / sizeof lake_simple_types[0]; i++) {
        if (strlen(lake_simple_types[i].name) == n &&
            strncmp(lake_simple_types[i].name, s, n) == 0) {
            f->type = lake_simple_types[i].type;
            f->precision = f->scale = f->fixed_len = 0;
            return IV_OK;
        }
    }
    if (strncmp(s, "decimal", 7) == 0) {
        const char *p = skip_ws(s + 7);
        int prec, scale;
        if (*p++ != '(' || !(p = parse_uint(p, &prec)) || *p++ != ',' ||
            !(p = parse_uint(p, &scale)) || *p++ != ')' || (size_t)(p - s) != n)
            return IV_EINVAL;
        if (prec < 1 || prec > 38 || scale > prec)
            return IV_EINVAL;
        f->type = LAKE_DECIMAL;
        f->precision = prec;
        f->scale = scale;
        f->fixed_len = 0;
        return IV_OK;
    }
    if (strncmp(s, "fixed", 5) == 0) {
        const char *p = skip_ws(s + 5);
        int len;
        if (*p++ != '[' || !(p = parse_uint(p, &len)) || *p++ != ']' || (size_t)(p - s) != n)
            return IV_EINVAL;
        if (len < 1)
            return IV_EINVAL;
        f->type = LAKE_FIXED;
        f->fixed_len = len;
        f->precision = f->scale = 0;
        return IV_OK;
    }
    return IV_EINVAL;
}
