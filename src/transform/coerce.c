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
    bool date = t->t == TT_DATE;
    int rc = tx_call_builtin(&c, date ? TXF_PARSE_DATE : TXF_PARSE_DATETIME,
                             date ? "parse_date" : "parse_datetime", &arg, 1, NULL, NULL, 0, &r);
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

/* ---- typed cells (tx_coerce_cell) ------------------------------------------------------- */

static int two(const char *p) { return (p[0] - '0') * 10 + (p[1] - '0'); }
static bool digits(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] < '0' || p[i] > '9')
            return false;
    return true;
}
static bool leap(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

/* "YYYY-MM-DD" (a valid date, year >= 1) -> days; false for any other text (which then goes
 * through parse_date, the definition). */
static bool fast_date(const char *p, size_t n, int64_t *days)
{
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (n < 10 || !digits(p, 4) || p[4] != '-' || !digits(p + 5, 2) || p[7] != '-' ||
        !digits(p + 8, 2))
        return false;
    int64_t y = two(p) * 100 + two(p + 2);
    int m = two(p + 5), d = two(p + 8);
    if (y < 1 || m < 1 || m > 12 || d < 1 || d > mdays[m - 1] + (m == 2 && leap(y)))
        return false;
    *days = days_from_civil(y, (unsigned)m, (unsigned)d);
    return true;
}

/* "YYYY-MM-DD[T ]HH:MM:SS[.f{1,6}][Z|+00:00]" -> µs UTC (naive is UTC, as parse_datetime);
 * false for any other text (which then goes through parse_datetime). */
static bool fast_timestamp(const char *p, size_t n, int64_t *us)
{
    int64_t days;
    if (n < 19 || !fast_date(p, 10, &days) || (p[10] != 'T' && p[10] != ' ') ||
        !digits(p + 11, 2) || p[13] != ':' || !digits(p + 14, 2) || p[16] != ':' ||
        !digits(p + 17, 2))
        return false;
    int h = two(p + 11), mi = two(p + 14), s = two(p + 17);
    if (h > 23 || mi > 59 || s > 59)
        return false;
    size_t k = 19;
    int64_t frac = 0;
    if (k < n && p[k] == '.') {
        size_t nd = 0;
        for (k++; k < n && p[k] >= '0' && p[k] <= '9' && nd < 7; k++, nd++)
            frac = frac * 10 + (p[k] - '0');
        if (nd < 1 || nd > 6)
            return false;
        for (; nd < 6; nd++)
            frac *= 10;
    }
    if (k < n && !((n - k == 1 && p[k] == 'Z') || (n - k == 6 && !memcmp(p + k, "+00:00", 6))))
        return false;
    *us = ((days * 86400 + h * 3600 + mi * 60 + s) * 1000000) + frac;
    return true;
}

static int cell_text(struct buf *text, const char *p, size_t n, struct tx_cell *out)
{
    out->kind = TXC_TEXT;
    out->off = text->len;
    out->n = n;
    return buf_append(text, p, n) ? IV_ETOOBIG : IV_OK;
}

/* tx_coerce's JSON -> the cell (dates and timestamps are its ISO text). */
static int cell_from_json(const json_t *j, const struct tx_type *t, struct buf *text,
                          struct tx_cell *out, struct tx_error *err)
{
    switch (json_typeof(j)) {
    case JSON_NULL: out->kind = TXC_NULL; return IV_OK;
    case JSON_TRUE:
    case JSON_FALSE: out->kind = TXC_BOOL; out->b = json_is_true(j); return IV_OK;
    case JSON_INTEGER: out->kind = TXC_LONG; out->i = json_integer_value(j); return IV_OK;
    case JSON_REAL: out->kind = TXC_DOUBLE; out->d = json_real_value(j); return IV_OK;
    case JSON_STRING: break;
    default: return cerr(err, "internal: unexpected coercion result");
    }
    const char *s = json_string_value(j);
    size_t n = json_string_length(j);
    if (t->t == TT_DATE) {
        int32_t days;
        if (date_parse_days(s, n, &days))
            return cerr(err, "internal: parse_date gave '%.40s'", s);
        out->kind = TXC_DATE;
        out->i = days;
        return IV_OK;
    }
    if (t->t == TT_TIMESTAMP || t->t == TT_TIMESTAMPTZ) {
        if (iso8601_parse_us(s, n, &out->i))
            return cerr(err, "internal: parse_datetime gave '%.40s'", s);
        out->kind = TXC_TIMESTAMP;
        return IV_OK;
    }
    return cell_text(text, s, n, out);
}

/* The common cases, converted without JSON; false: not one of them. */
static bool cell_direct(const struct tx_value *v, const struct tx_type *t, struct buf *text,
                        struct tx_cell *out, int *rc)
{
    int64_t x;
    switch (t->t) {
    case TT_STRING:
        if (v->kind != TX_STR)
            return false;
        *rc = cell_text(text, v->u.s.p, v->u.s.n, out);
        return true;
    case TT_LONG:
    case TT_INT:
        if ((v->kind != TX_INT && v->kind != TX_BOOL) || !tx_get_int64(v, &x) ||
            (t->t == TT_INT && (x < INT32_MIN || x > INT32_MAX)))
            return false;
        out->kind = TXC_LONG;
        out->i = x;
        return true;
    case TT_DOUBLE:
    case TT_FLOAT:
        if (v->kind != TX_FLOAT || !isfinite(v->u.f) ||
            (t->t == TT_FLOAT && fabs(v->u.f) > 3.4028234663852886e38))
            return false;
        out->kind = TXC_DOUBLE;
        out->d = v->u.f;
        return true;
    case TT_BOOLEAN:
        if (v->kind != TX_BOOL)
            return false;
        out->kind = TXC_BOOL;
        out->b = v->u.b;
        return true;
    case TT_DATE:
        if (v->kind != TX_STR || v->u.s.n != 10 || !fast_date(v->u.s.p, 10, &out->i))
            return false;
        out->kind = TXC_DATE;
        return true;
    case TT_TIMESTAMP:
    case TT_TIMESTAMPTZ:
        if (v->kind != TX_STR || !fast_timestamp(v->u.s.p, v->u.s.n, &out->i))
            return false;
        out->kind = TXC_TIMESTAMP;
        return true;
    case TT_DECIMAL:
        return false;
    }
    return false;
}

bool tx_cell_time_text(const struct tx_type *t, const char *s, size_t n, struct tx_cell *out)
{
    memset(out, 0, sizeof *out);
    if (t->t == TT_DATE && n == 10 && fast_date(s, n, &out->i)) {
        out->kind = TXC_DATE;
        return true;
    }
    if ((t->t == TT_TIMESTAMP || t->t == TT_TIMESTAMPTZ) && fast_timestamp(s, n, &out->i)) {
        out->kind = TXC_TIMESTAMP;
        return true;
    }
    return false;
}

int tx_coerce_cell(const struct tx_value *v, const struct tx_type *t, struct buf *text,
                   struct tx_cell *out, struct tx_error *err)
{
    memset(out, 0, sizeof *out);
    err->column = 0;   /* no full memset of the 436-byte record: this runs once per cell */
    err->kind[0] = err->msg[0] = '\0';
    if (!v || v->kind == TX_NONE) {
        out->kind = TXC_NULL;
        return IV_OK;
    }
    int rc = IV_OK;
    if (cell_direct(v, t, text, out, &rc))
        return rc == IV_OK ? IV_OK : cerr(err, "the value is too large");
    json_t *j = NULL;
    if ((rc = tx_coerce(v, t, &j, err)) != IV_OK)
        return rc;
    rc = cell_from_json(j, t, text, out, err);
    json_decref(j);
    return rc;
}
