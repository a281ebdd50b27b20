/*
 * coerce.c: a transform's result -> the destination column's declared type (the rules are
 * the table in docs/transforms.md, "Coercion"). Never silent: a value that does not fit
 * (a fraction into an integer, an int out of the type's range, text that is not a number
 * or a date, a non-finite float) is an error, and the row is a transform error.
 */
#include "transform/tx_int.h"

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool tx_type_parse(const char *text, struct tx_type *out)
{
    static const struct { const char *name; enum tx_target t; } names[] = {
        {"string", TT_STRING}, {"long", TT_LONG}, {"int", TT_INT}, {"double", TT_DOUBLE},
        {"float", TT_FLOAT}, {"boolean", TT_BOOLEAN}, {"date", TT_DATE},
        {"timestamp", TT_TIMESTAMP}, {"timestamptz", TT_TIMESTAMPTZ}};
    memset(out, 0, sizeof *out);
    if (!text)
        return false;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (!strcmp(text, names[i].name)) {
            out->t = names[i].t;
            return true;
        }
    int p, s, n = 0;
    if (sscanf(text, "decimal(%d,%d)%n", &p, &s, &n) == 2 && n == (int)strlen(text) &&
        p >= 1 && p <= 38 && s >= 0 && s <= p && strchr(text, ' ') == NULL) {
        out->t = TT_DECIMAL;
        out->precision = p;
        out->scale = s;
        return true;
    }
    return false;
}

json_t *tx_type_json_schema(const struct tx_type *t)
{
    switch (t->t) {
    case TT_LONG:
    case TT_INT: return json_pack("{s:[s,s]}", "type", "null", "integer");
    case TT_DOUBLE:
    case TT_FLOAT: return json_pack("{s:[s,s]}", "type", "null", "number");
    case TT_BOOLEAN: return json_pack("{s:[s,s]}", "type", "null", "boolean");
    case TT_DATE: return json_pack("{s:[s,s], s:s}", "type", "null", "string", "format", "date");
    case TT_TIMESTAMP:
    case TT_TIMESTAMPTZ:
        return json_pack("{s:[s,s], s:s}", "type", "null", "string", "format", "date-time");
    default: return json_pack("{s:[s,s]}", "type", "null", "string");
    }
}

static int cerr(struct tx_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int cerr(struct tx_error *err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    snprintf(err->kind, sizeof err->kind, "CoercionError");
    err->column = 0;
    return IV_EINVAL;
}

static const char *type_name(const struct tx_type *t)
{
    static const char *const n[] = {"string", "long", "int", "double", "float", "boolean",
                                    "date", "timestamp", "timestamptz", "decimal"};
    return n[t->t];
}

/* A short repr of the value for messages. */
static void short_repr(const struct tx_value *v, char *out, size_t n)
{
    char *r = tx_repr_of(v, NULL);
    snprintf(out, n, "%.80s%s", r ? r : "?", r && strlen(r) > 80 ? "..." : "");
    free(r);
}

static int fail_value(const struct tx_value *v, const struct tx_type *t, struct tx_error *err,
                      const char *why)
{
    char r[100];
    short_repr(v, r, sizeof r);
    return cerr(err, "cannot coerce %s (%s) to %s%s%s", r, tx_type_name(v), type_name(t),
                why ? ": " : "", why ? why : "");
}

static int to_integer(const struct tx_value *v, const struct tx_type *t, json_t **out,
                      struct tx_error *err)
{
    struct tx_ctx c = {.lim = {.max_int_bits = 4096}, .err = err};
    struct tx_value *iv = NULL;
    if (v->kind == TX_BOOL || v->kind == TX_INT) {
        iv = tx_ref((struct tx_value *)v);
    } else if (v->kind == TX_FLOAT) {
        if (!isfinite(v->u.f) || floor(v->u.f) != v->u.f)
            return fail_value(v, t, err, "not a whole number");
        mpz_t z;
        mpz_init_set_d(z, v->u.f);
        iv = tx_int_mpz(z);
        mpz_clear(z);
    } else if (v->kind == TX_STR) {
        if (tx_parse_int_text(&c, v->u.s.p, v->u.s.n, 10, &iv))
            return fail_value(v, t, err, "not an integer");
    } else {
        return fail_value(v, t, err, NULL);
    }
    int64_t x;
    bool ok = tx_get_int64(iv, &x);
    tx_unref(iv);
    if (!ok || (t->t == TT_INT && (x < INT32_MIN || x > INT32_MAX)))
        return fail_value(v, t, err, "out of range");
    *out = json_integer(x);
    return IV_OK;
}

static int to_real(const struct tx_value *v, const struct tx_type *t, json_t **out,
                   struct tx_error *err)
{
    struct tx_ctx c = {.lim = {.max_int_bits = 4096}, .err = err};
    double d;
    if (v->kind == TX_BOOL)
        d = v->u.b;
    else if (v->kind == TX_INT) {
        if (tx_int_to_double(&c, v->u.z, &d))
            return fail_value(v, t, err, "out of range");
    } else if (v->kind == TX_FLOAT)
        d = v->u.f;
    else if (v->kind == TX_STR) {
        if (tx_parse_float_text(&c, v->u.s.p, v->u.s.n, &d))
            return fail_value(v, t, err, "not a number");
    } else
        return fail_value(v, t, err, NULL);
    if (!isfinite(d))
        return fail_value(v, t, err, "not finite");
    if (t->t == TT_FLOAT && fabs(d) > 3.4028234663852886e38)
        return fail_value(v, t, err, "out of range");
    *out = json_real(d);
    return IV_OK;
}

static int to_bool(const struct tx_value *v, const struct tx_type *t, json_t **out,
                   struct tx_error *err)
{
    int64_t x;
    if (v->kind == TX_BOOL) {
        *out = json_boolean(v->u.b);
        return IV_OK;
    }
    if (v->kind == TX_INT && tx_get_int64(v, &x) && (x == 0 || x == 1)) {
        *out = json_boolean(x);
        return IV_OK;
    }
    if (v->kind == TX_STR) {
        static const char *const yes[] = {"true", "1", "yes", "y", "t", NULL};
        static const char *const no[] = {"false", "0", "no", "n", "f", NULL};
        char low[8];
        size_t n = v->u.s.n < sizeof low - 1 ? v->u.s.n : sizeof low - 1;
        for (size_t i = 0; i < n; i++)
            low[i] = (char)tolower((unsigned char)v->u.s.p[i]);
        low[n] = '\0';
        for (int i = 0; v->u.s.n < sizeof low && yes[i]; i++) {
            if (!strcmp(low, yes[i])) { *out = json_true(); return IV_OK; }
            if (!strcmp(low, no[i])) { *out = json_false(); return IV_OK; }
        }
    }
    return fail_value(v, t, err, NULL);
}

/* Dates and timestamps through the date helpers (parse_date / parse_datetime). */
static int to_time(const struct tx_value *v, const struct tx_type *t, json_t **out,
                   struct tx_error *err)
{
    struct tx_ctx c = {.lim = {.max_steps = 1000, .max_str_bytes = 1 << 16,
                               .max_int_bits = 4096}, .err = err};
    struct tx_value *arg = NULL;
    if (v->kind == TX_STR) {
        arg = tx_ref((struct tx_value *)v);
    } else if ((v->kind == TX_INT || v->kind == TX_FLOAT) && t->t != TT_DATE) {
        /* epoch seconds */
        double d;
        if (v->kind == TX_INT ? tx_int_to_double(&c, v->u.z, &d) : (d = v->u.f, 0))
            return fail_value(v, t, err, "out of range");
        if (!isfinite(d) || fabs(d) > 253402300799.0)
            return fail_value(v, t, err, "out of range");
        int64_t us = (int64_t)llround(d * 1e6);
        char b[40];
        iso8601_format(us >= 0 ? us / 1000000 : -((-us + 999999) / 1000000), b);
        arg = tx_str(b, strlen(b));
        int64_t frac = us % 1000000;
        if (frac) {
            if (frac < 0)
                frac += 1000000;
            char b2[48];
            size_t bl = strlen(b);
            snprintf(b2, sizeof b2, "%.*s.%06lldZ", (int)(bl - 1), b, (long long)frac);
            tx_unref(arg);
            arg = tx_str(b2, strlen(b2));
        }
    } else {
        return fail_value(v, t, err, NULL);
    }
    struct tx_value *r = NULL;
    int rc = tx_call_builtin(&c, t->t == TT_DATE ? "parse_date" : "parse_datetime", &arg, 1,
                             NULL, NULL, 0, &r);
    tx_unref(arg);
    if (rc)
        return fail_value(v, t, err, "not an ISO-8601 date");
    *out = json_stringn(r->u.s.p, r->u.s.n);
    tx_unref(r);
    return IV_OK;
}

/* Exact decimal text rounded half-even to the scale, at most precision digits. */
static int to_decimal(const struct tx_value *v, const struct tx_type *t, json_t **out,
                      struct tx_error *err)
{
    char *text = NULL;
    if (v->kind == TX_INT || v->kind == TX_BOOL || v->kind == TX_FLOAT) {
        if (v->kind == TX_FLOAT && !isfinite(v->u.f))
            return fail_value(v, t, err, "not finite");
        text = tx_str_of(v, NULL);
        if (v->kind == TX_BOOL) {
            free(text);
            text = xstrdup(v->u.b ? "1" : "0");
        }
    } else if (v->kind == TX_STR) {
        text = xstrndup(v->u.s.p, v->u.s.n);
    } else {
        return fail_value(v, t, err, NULL);
    }
    mpq_t q;
    mpq_init(q);
    /* parse [-+]digits[.digits][e[-+]digits] exactly */
    const char *p = text;
    while (isspace((unsigned char)*p))
        p++;
    bool neg = *p == '-';
    if (*p == '-' || *p == '+')
        p++;
    mpz_t num, den;
    mpz_inits(num, den, NULL);
    mpz_set_ui(den, 1);
    int digits = 0;
    for (; isdigit((unsigned char)*p); p++, digits++) {
        mpz_mul_ui(num, num, 10);
        mpz_add_ui(num, num, (unsigned long)(*p - '0'));
    }
    if (*p == '.')
        for (p++; isdigit((unsigned char)*p); p++, digits++) {
            mpz_mul_ui(num, num, 10);
            mpz_add_ui(num, num, (unsigned long)(*p - '0'));
            mpz_mul_ui(den, den, 10);
        }
    long ex = 0;
    if (digits && (*p == 'e' || *p == 'E'))
        ex = strtol(p + 1, (char **)&p, 10);
    while (isspace((unsigned char)*p))
        p++;
    int rc = IV_OK;
    if (!digits || *p || ex > 400 || ex < -400) {
        rc = fail_value(v, t, err, "not a decimal number");
        goto out;
    }
    mpz_t p10;
    mpz_init(p10);
    mpz_ui_pow_ui(p10, 10, (unsigned long)labs(ex));
    if (ex > 0)
        mpz_mul(num, num, p10);
    else
        mpz_mul(den, den, p10);
    /* scaled = round_half_even(num * 10^scale / den) */
    mpz_ui_pow_ui(p10, 10, (unsigned long)t->scale);
    mpz_mul(num, num, p10);
    mpz_t qq, rr, twice;
    mpz_inits(qq, rr, twice, NULL);
    mpz_fdiv_qr(qq, rr, num, den);
    mpz_mul_2exp(twice, rr, 1);
    int cmp = mpz_cmp(twice, den);
    if (cmp > 0 || (cmp == 0 && mpz_odd_p(qq)))
        mpz_add_ui(qq, qq, 1);
    char *ds = mpz_get_str(NULL, 10, qq);
    size_t nd = strlen(ds);
    if ((int)nd > t->precision && mpz_sgn(qq) != 0) {
        rc = fail_value(v, t, err, "too many digits for the precision");
    } else {
        char buf[96];
        size_t k = 0, sc = (size_t)t->scale;
        if (neg && mpz_sgn(qq) != 0)
            buf[k++] = '-';
        if (sc == 0) {
            k += (size_t)snprintf(buf + k, sizeof buf - k, "%s", ds);
        } else if (nd > sc) {
            k += (size_t)snprintf(buf + k, sizeof buf - k, "%.*s.%s", (int)(nd - sc), ds,
                                  ds + nd - sc);
        } else {
            buf[k++] = '0';
            buf[k++] = '.';
            for (size_t z = nd; z < sc; z++)
                buf[k++] = '0';
            k += (size_t)snprintf(buf + k, sizeof buf - k, "%s", ds);
        }
        buf[k] = '\0';
        *out = json_string(buf);
    }
    free(ds);
    mpz_clears(qq, rr, twice, p10, NULL);
out:
    mpz_clears(num, den, NULL);
    mpq_clear(q);
    free(text);
    return rc;
}

int tx_coerce(const struct tx_value *v, const struct tx_type *t, json_t **out,
              struct tx_error *err)
{
    memset(err, 0, sizeof *err);
    *out = NULL;
    if (!v || v->kind == TX_NONE) {
        *out = json_null();
        return IV_OK;
    }
    switch (t->t) {
    case TT_STRING: {
        if (v->kind == TX_STR) {
            *out = json_stringn(v->u.s.p, v->u.s.n);
            return IV_OK;
        }
        struct buf b;
        buf_init(&b, 1u << 24);
        int rc = (v->kind == TX_LIST || v->kind == TX_TUPLE || v->kind == TX_DICT)
                     ? tx_to_json_text(v, &b, err) : tx_write_str(v, &b);
        if (rc == IV_OK)
            *out = json_stringn(b.data ? b.data : "", b.len);
        buf_release(&b);
        return rc == IV_OK ? IV_OK : fail_value(v, t, err, NULL);
    }
    case TT_LONG:
    case TT_INT: return to_integer(v, t, out, err);
    case TT_DOUBLE:
    case TT_FLOAT: return to_real(v, t, out, err);
    case TT_BOOLEAN: return to_bool(v, t, out, err);
    case TT_DATE:
    case TT_TIMESTAMP:
    case TT_TIMESTAMPTZ: return to_time(v, t, out, err);
    case TT_DECIMAL: return to_decimal(v, t, out, err);
    }
    return fail_value(v, t, err, NULL);
}
