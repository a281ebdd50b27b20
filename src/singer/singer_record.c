/*
 * singer_record: the RECORD fast path. Decodes one record object straight
 * into typed column values, directed by the stream's schema: keys are looked
 * up in an open-addressing hash of column names, each value is type-checked
 * and converted in place (integers with overflow checks, doubles, booleans,
 * strings unescaped only when they hold escapes, ISO-8601 dates and
 * timestamps, nested values copied as compact JSON). Values are staged in
 * per-column slots (strings point into the line or into one reused scratch
 * buffer), then emitted in the output schema's order, so a bad value leaves
 * the sink untouched. No allocation per row once buffers have grown.
 *
 * Shortcuts (each gives exactly the general path's result, or declines and lets
 * the general path decide; tests/unit/test_singer_fast.c checks them against
 * independent references): keys are matched against the expected column's raw
 * name bytes before any scanning; integers are parsed while scanned; doubles use
 * js_double_fast before strtod; "YYYY-MM-DD" and "YYYY-MM-DDTHH:MM:SS[.f]Z" are
 * converted inline before iso8601_parse_us.
 */
#include "singer/singer.h"
#include "singer/jscan.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { S_NULL, S_BOOL, S_I32, S_I64, S_F64, S_BYTES, S_SCRATCH, S_DEC };

struct slot {
    int kind;
    union {
        bool b;
        int32_t i32;
        int64_t i64;
        double d;
        __int128 dec;
        struct {
            const char *p;     /* S_BYTES: into the line */
            size_t off;        /* S_SCRATCH: offset into scratch */
            size_t n;
        } s;
    } v;
};

struct singer_stream {
    char *name;
    struct singer_column *cols;
    int ncols;
    size_t *nlen;         /* strlen of each column name */
    bool *plain;          /* name is printable ASCII without '"' or '\\': a key can be matched
                           * against its raw bytes without scanning it first */
    int *htab;            /* column index or -1 */
    unsigned hmask;
    struct slot *slots;
    uint32_t *seen;
    uint32_t gen;
    bool *req;            /* effective required (stream or bound output) */
    int *out_map;         /* output column -> stream column or -1 */
    int nout;
    struct buf scratch;   /* unescaped strings and compact JSON of this row */
    struct buf keybuf;    /* unescaped key */
    bool refuse_undeclared; /* "additionalProperties": false */
    int64_t dropped;      /* values of undeclared keys dropped */
    char **undeclared;    /* undeclared keys logged so far (owned), at most MAX_LOGGED */
    int nundeclared;
    int misfit;           /* column whose value failed the last decode, -1 = none */
};
#define MAX_LOGGED 64

static uint32_t hash_bytes(const char *p, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)p[i];
        h *= 16777619u;
    }
    return h;
}

static int lookup(const struct singer_stream *s, const char *k, size_t n)
{
    unsigned i = hash_bytes(k, n) & s->hmask;
    for (;;) {
        int c = s->htab[i];
        if (c < 0)
            return -1;
        if (s->nlen[c] == n && mem_equal(s->cols[c].name, k, n))
            return c;
        i = (i + 1) & s->hmask;
    }
}

struct singer_stream *singer_stream_new(const char *name, struct singer_column *cols, int ncols)
{
    struct singer_stream *s = xcalloc(1, sizeof(*s));
    s->name = xstrdup(name);
    s->cols = cols;
    s->ncols = ncols;
    unsigned size = 8;
    while (size < (unsigned)ncols * 2)
        size *= 2;
    s->hmask = size - 1;
    s->htab = xmalloc(size * sizeof(int));
    s->nlen = xcalloc((size_t)ncols + 1, sizeof(size_t));
    s->plain = xcalloc((size_t)ncols + 1, sizeof(bool));
    for (int c = 0; c < ncols; c++) {
        s->nlen[c] = strlen(cols[c].name);
        s->plain[c] = true;
        for (const unsigned char *q = (const unsigned char *)cols[c].name; *q; q++)
            if (*q < 0x20 || *q >= 0x7F || *q == '"' || *q == '\\')
                s->plain[c] = false;
    }
    for (unsigned i = 0; i < size; i++)
        s->htab[i] = -1;
    for (int c = 0; c < ncols; c++) {
        unsigned i = hash_bytes(cols[c].name, strlen(cols[c].name)) & s->hmask;
        while (s->htab[i] >= 0)
            i = (i + 1) & s->hmask;
        s->htab[i] = c;
    }
    s->slots = xcalloc((size_t)ncols + 1, sizeof(*s->slots));
    s->seen = xcalloc((size_t)ncols + 1, sizeof(*s->seen));
    s->req = xcalloc((size_t)ncols + 1, sizeof(*s->req));
    s->out_map = xcalloc((size_t)ncols + 1, sizeof(int));
    s->nout = ncols;
    s->misfit = -1;
    for (int c = 0; c < ncols; c++) {
        s->out_map[c] = c;
        s->req[c] = cols[c].required;
    }
    buf_init(&s->scratch, (size_t)1 << 31);
    buf_init(&s->keybuf, (size_t)1 << 24);
    return s;
}

void singer_stream_free(struct singer_stream *s)
{
    if (!s)
        return;
    free(s->name);
    singer_columns_free(s->cols, s->ncols);
    free(s->htab);
    free(s->nlen);
    free(s->plain);
    free(s->slots);
    free(s->seen);
    free(s->req);
    free(s->out_map);
    buf_release(&s->scratch);
    buf_release(&s->keybuf);
    for (int i = 0; i < s->nundeclared; i++)
        free(s->undeclared[i]);
    free(s->undeclared);
    free(s);
}

const char *singer_stream_name(const struct singer_stream *s) { return s->name; }
int singer_stream_ncols(const struct singer_stream *s) { return s->ncols; }
const struct singer_column *singer_stream_col(const struct singer_stream *s, int i)
{
    return (i >= 0 && i < s->ncols) ? &s->cols[i] : NULL;
}

void singer_stream_refuse_undeclared(struct singer_stream *s, bool refuse)
{
    s->refuse_undeclared = refuse;
}

int64_t singer_stream_dropped(const struct singer_stream *s) { return s->dropped; }

const char *singer_stream_misfit(const struct singer_stream *s)
{
    return s->misfit >= 0 ? s->cols[s->misfit].name : NULL;
}

int singer_stream_as_text(struct singer_stream *s, int i, struct iv_err *e)
{
    struct singer_column *c = &s->cols[i];
    if (c->kind == SINGER_K_JSON)
        return iv_err_set(e, IV_EINVAL, "column \"%s\" is already written as JSON text", c->name);
    c->kind = SINGER_K_TEXT;
    c->type = LAKE_STRING;
    return IV_OK;
}

int singer_stream_bind(struct singer_stream *s, const char *const *out_names,
                       const enum lake_type *out_types, const bool *out_required, int nout,
                       struct iv_err *e)
{
    int *map = xmalloc(((size_t)nout + 1) * sizeof(int));
    bool *req = xcalloc((size_t)s->ncols + 1, sizeof(bool));
    int *hit = xcalloc((size_t)s->ncols + 1, sizeof(int));
    int rc = IV_OK;
    for (int c = 0; c < s->ncols; c++)
        req[c] = s->cols[c].required;
    for (int j = 0; j < nout; j++) {
        int c = lookup(s, out_names[j], strlen(out_names[j]));
        if (c >= 0 && s->cols[c].absent)
            c = -1;   /* the table got the column after all: written as null, like any gap */
        map[j] = c;
        if (c < 0) {
            if (out_required[j]) {
                rc = iv_err_set(e, IV_EINVAL,
                                "table column \"%s\" is required but stream \"%s\" has no such "
                                "property", out_names[j], s->name);
                goto out;
            }
            continue;
        }
        if (hit[c]++) {
            rc = iv_err_set(e, IV_EINVAL, "table has column \"%s\" twice", out_names[j]);
            goto out;
        }
        if (out_types[j] != s->cols[c].type) {
            rc = iv_err_set(e, IV_EINVAL,
                            "column \"%s\": the table's type does not match the stream's (%s)",
                            out_names[j], singer_kind_name(s->cols[c].kind));
            goto out;
        }
        if (out_required[j])
            req[c] = true;
    }
    for (int c = 0; c < s->ncols; c++) {
        if (!hit[c] && !s->cols[c].absent) {
            rc = iv_err_set(e, IV_EINVAL, "property \"%s\" of stream \"%s\" has no table column",
                            s->cols[c].name, s->name);
            goto out;
        }
    }
    free(s->out_map);
    free(s->req);
    s->out_map = map;
    s->req = req;
    s->nout = nout;
    map = NULL;
    req = NULL;
out:
    free(map);
    free(req);
    free(hit);
    return rc;
}

static const char *tok_name(enum jtok t, bool is_int)
{
    switch (t) {
    case J_NULL: return "null";
    case J_TRUE: case J_FALSE: return "boolean";
    case J_NUM: return is_int ? "integer" : "number";
    case J_STR: return "string";
    case J_OBJ: return "object";
    case J_ARR: return "array";
    default: return "nothing";
    }
}

static int type_error(struct iv_err *e, const struct singer_column *c, enum jtok t, bool is_int)
{
    if (c->absent)
        return iv_err_set(e, IV_EINVAL, "field \"%s\": got %s, but the table has no such column "
                          "and its schema may not change", c->name, tok_name(t, is_int));
    return iv_err_set(e, IV_EINVAL, "field \"%s\": expected %s%s, got %s", c->name,
                      singer_kind_name(c->kind), (c->accept & SINGER_J_NULL) ? " or null" : "",
                      tok_name(t, is_int));
}

static int parse_i64(const char *p, size_t n, int64_t *out)
{
    bool neg = false;
    size_t i = 0;
    if (p[0] == '-') {
        neg = true;
        i = 1;
    }
    uint64_t v = 0;
    for (; i < n; i++) {
        unsigned d = (unsigned)(p[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    if (neg) {
        if (v > (uint64_t)INT64_MAX + 1)
            return -1;
        *out = v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v;
    } else {
        if (v > (uint64_t)INT64_MAX)
            return -1;
        *out = (int64_t)v;
    }
    return 0;
}

int singer_number_int64(const char *s, size_t n, int64_t *out)
{
    return n ? parse_i64(s, n, out) : -1;
}

int singer_number_double(const char *s, size_t n, double *out)
{
    if (js_double_fast(s, n, out) == 0)
        return 0;
    char tmp[64];
    char *heap = NULL, *p = tmp;
    if (n >= sizeof(tmp))
        p = heap = xmalloc(n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    double d = strtod(p, NULL);
    free(heap);
    if (!isfinite(d))
        return -1;
    *out = d;
    return 0;
}

/* Text of a validated string value: in place, or unescaped into tmp. */
static const char *string_text(const char *s, size_t n, bool esc, char *tmp, size_t tmpsz,
                               size_t *outn)
{
    if (!esc) {
        *outn = n;
        return s;
    }
    if (n > tmpsz)
        return NULL;
    *outn = js_unescape(s, n, tmp);
    return tmp;
}

/* A string value holding escapes: unescaped into the row's scratch buffer. */
static int string_escaped(struct singer_stream *s, struct slot *sl, const struct singer_column *c,
                          const char *v, size_t n, struct iv_err *e)
{
    if (buf_reserve(&s->scratch, n + 1))
        return iv_err_set(e, IV_ETOOBIG, "field \"%s\": row too large", c->name);
    size_t off = s->scratch.len;
    size_t k = js_unescape(v, n, s->scratch.data + off);
    s->scratch.len += k;
    s->scratch.data[s->scratch.len] = '\0';
    sl->kind = S_SCRATCH;
    sl->v.s.off = off;
    sl->v.s.n = k;
    return 0;
}

/* iso8601_parse_us for the two shapes taps send, "YYYY-MM-DD" and
 * "YYYY-MM-DDTHH:MM:SS[.fraction]Z", with the same validation and result;
 * -1 for anything else (the caller then asks iso8601_parse_us, which decides). */
static inline int iso_fast(const char *s, size_t n, int64_t *us)
{
    if (n != 10 && n < 20)
        return -1;
    const unsigned char *u = (const unsigned char *)s;
#define ISO_D(i) ((unsigned)(u[i] - '0'))
    if (ISO_D(0) > 9 || ISO_D(1) > 9 || ISO_D(2) > 9 || ISO_D(3) > 9 || ISO_D(5) > 9 ||
        ISO_D(6) > 9 || ISO_D(8) > 9 || ISO_D(9) > 9 || s[4] != '-' || s[7] != '-')
        return -1;
    unsigned y = ISO_D(0) * 1000 + ISO_D(1) * 100 + ISO_D(2) * 10 + ISO_D(3);
    unsigned m = ISO_D(5) * 10 + ISO_D(6), d = ISO_D(8) * 10 + ISO_D(9);
    static const unsigned char dm[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m < 1 || m > 12 || d < 1)
        return -1;
    if (d > dm[m - 1] &&
        !(m == 2 && d == 29 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0)))
        return -1;
    /* days_from_civil (util/timeutil.c) for years 0..9999 */
    unsigned yy = y - (m <= 2), era = yy / 400;
    if (m <= 2 && y == 0)
        return -1;   /* year -1 of the proleptic calendar: leave it to the general path */
    unsigned yoe = yy - era * 400;
    unsigned doy = (153 * (m + (m > 2 ? -3u : 9u)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    int64_t v = ((int64_t)era * 146097 + (int64_t)doe - 719468) * INT64_C(86400000000);
    if (n == 10) {
        *us = v;
        return 0;
    }
    if (s[10] != 'T' || s[13] != ':' || s[16] != ':' || s[n - 1] != 'Z' ||
        ISO_D(11) > 9 || ISO_D(12) > 9 || ISO_D(14) > 9 || ISO_D(15) > 9 || ISO_D(17) > 9 ||
        ISO_D(18) > 9)
        return -1;
    unsigned hh = ISO_D(11) * 10 + ISO_D(12), mm = ISO_D(14) * 10 + ISO_D(15),
             ss = ISO_D(17) * 10 + ISO_D(18);
    if (hh > 23 || mm > 59 || ss > 60)
        return -1;
    int64_t frac = 0;
    if (n > 20) {   /* ".fraction" between the seconds and the 'Z' */
        static const int32_t w[6] = {100000, 10000, 1000, 100, 10, 1};
        if (s[19] != '.' || n == 21)
            return -1;
        for (size_t i = 20; i < n - 1; i++) {
            if (ISO_D(i) > 9)
                return -1;
            if (i - 20 < 6)
                frac += (int64_t)ISO_D(i) * w[i - 20];
        }
    }
#undef ISO_D
    *us = v + ((int64_t)hh * 3600 + mm * 60 + ss) * 1000000 + frac;
    return 0;
}

/* The string [v, v+n) (raw, esc when it holds escapes) of a date or date-time column. */
static int timestamp_value(struct slot *sl, const struct singer_column *c, const char *v, size_t n,
                           bool esc, struct iv_err *e)
{
    char tmp[64];
    size_t tn;
    int64_t us;
    if (esc || iso_fast(v, n, &us)) {
        const char *txt = string_text(v, n, esc, tmp, sizeof(tmp), &tn);
        if (!txt || iso8601_parse_us(txt, tn, &us))
            return iv_err_set(e, IV_EINVAL, "field \"%s\": \"%.*s\" is not a valid %s",
                              c->name, (int)(n > 40 ? 40 : n), v,
                              c->kind == SINGER_K_DATE ? "date" : "date-time");
    }
    if (c->kind == SINGER_K_TIMESTAMPTZ) {
        sl->kind = S_I64;
        sl->v.i64 = us;
    } else {
        const int64_t day = INT64_C(86400000000);
        if (us % day != 0)
            return iv_err_set(e, IV_EINVAL, "field \"%s\": \"%.*s\" is not a whole date",
                              c->name, (int)(n > 40 ? 40 : n), v);
        int64_t days = us / day;
        if (days < INT32_MIN || days > INT32_MAX)
            return iv_err_set(e, IV_EINVAL, "field \"%s\": date out of range", c->name);
        sl->kind = S_I32;
        sl->v.i32 = (int32_t)days;
    }
    return 0;
}

/* An integer value for a LONG column in the common form (optional '-', 1-18
 * digits, no leading zero, not followed by a fraction, exponent or digit).
 * 0 with js->p moved past it; -1 leaves js->p alone (the general path decides). */
static inline int int_fast(struct jscan *js, int64_t *out)
{
    const char *p = js->p, *end = js->end;
    bool neg = false;
    if (p < end && *p == '-') {
        neg = true;
        p++;
    }
    const char *d0 = p;
    uint64_t v = 0;
    while (p < end && (unsigned)(*p - '0') < 10 && p - d0 < 19) {
        v = v * 10 + (uint64_t)(*p - '0');
        p++;
    }
    size_t nd = (size_t)(p - d0);
    if (nd == 0 || nd > 18 || (nd > 1 && *d0 == '0') ||
        (p < end && (*p == '.' || *p == 'e' || *p == 'E' || (unsigned)(*p - '0') < 10)))
        return -1;
    *out = neg ? -(int64_t)v : (int64_t)v;
    js->p = p;
    return 0;
}

/* Exact decimal text ("-12.50", "1.5e3", as a JSON number or inside a string) ->
 * the unscaled value of decimal(precision, scale). 0, or -1 not a number, -2 more
 * decimal places than the scale (non-zero ones), -3 more digits than the precision. */
static int parse_decimal(const char *p, size_t n, int precision, int scale, __int128 *out)
{
    size_t i = 0;
    bool neg = false, any = false;
    if (i < n && (p[i] == '-' || p[i] == '+'))
        neg = p[i++] == '-';
    __int128 v = 0;
    int digits = 0, frac = 0, shift;
    bool point = false;
    __int128 limit = 1;   /* 10^37: a value this big already has 38 digits */
    for (int k = 0; k < 37; k++)
        limit *= 10;
    int dropped_nonzero = 0;
    for (; i < n; i++) {
        char c = p[i];
        if (c == '.' && !point) {
            point = true;
            continue;
        }
        if (c < '0' || c > '9')
            break;
        any = true;
        if (point)
            frac++;
        if (v == 0 && c == '0')
            continue;   /* leading zeros */
        if (v >= limit) {   /* a 39th digit: only trailing zeros of the fraction may follow */
            dropped_nonzero |= c != '0';
            frac -= point ? 1 : 0;
            if (!point)
                return -3;
            continue;
        }
        v = v * 10 + (c - '0');
        digits++;
    }
    if (!any)
        return -1;
    long exp = 0;
    if (i < n && (p[i] == 'e' || p[i] == 'E')) {
        i++;
        bool eneg = false;
        if (i < n && (p[i] == '-' || p[i] == '+'))
            eneg = p[i++] == '-';
        if (i >= n)
            return -1;
        for (; i < n && p[i] >= '0' && p[i] <= '9'; i++)
            if (exp < 100000)
                exp = exp * 10 + (p[i] - '0');
        exp = eneg ? -exp : exp;
    }
    if (i != n)
        return -1;
    if (dropped_nonzero)
        return -2;
    shift = (int)(exp - frac + scale);   /* value = v * 10^(exp - frac) */
    for (; shift < 0; shift++) {
        if (v % 10 != 0)
            return -2;
        v /= 10;
    }
    __int128 bound = 1;
    for (int k = 0; k < precision; k++)
        bound *= 10;
    for (; shift > 0; shift--) {
        if (v >= bound / 10)
            return -3;
        v *= 10;
    }
    if (v >= bound)
        return -3;
    *out = neg ? -v : v;
    return 0;
}

static int decimal_value(struct slot *sl, const struct singer_column *c, const char *v, size_t n,
                         bool esc, struct iv_err *e)
{
    char tmp[128];
    size_t tn = n;
    const char *txt = esc ? string_text(v, n, esc, tmp, sizeof(tmp), &tn) : v;
    int rc = txt ? parse_decimal(txt, tn, c->precision, c->scale, &sl->v.dec) : -1;
    if (rc == 0) {
        sl->kind = S_DEC;
        return 0;
    }
    return iv_err_set(e, IV_EINVAL, "field \"%s\": \"%.*s\" %s decimal(%d,%d)", c->name,
                      (int)(n > 60 ? 60 : n), v,
                      rc == -1 ? "is not a decimal number for" :
                      rc == -2 ? "has more decimal places than" : "does not fit",
                      c->precision, c->scale);
}

static int decode_value(struct singer_stream *s, struct jscan *js, int ci, struct iv_err *e)
{
    const struct singer_column *c = &s->cols[ci];
    struct slot *sl = &s->slots[ci];
    enum jtok t = js_peek(js);
    const char *v;
    size_t n;
    bool esc, is_int = false;

    /* common cases first: plain strings, integers, dates and timestamps */
    if (t == J_STR && (c->accept & SINGER_J_STR)) {
        if (c->kind == SINGER_K_STRING) {
            if (js_string(js, &v, &n, &esc))
                goto bad_json;
            if (!esc) {
                sl->kind = S_BYTES;
                sl->v.s.p = v;
                sl->v.s.n = n;
                return 0;
            }
            return string_escaped(s, sl, c, v, n, e);
        }
        if (c->kind == SINGER_K_TIMESTAMPTZ || c->kind == SINGER_K_DATE) {
            if (js_string(js, &v, &n, &esc))
                goto bad_json;
            return timestamp_value(sl, c, v, n, esc, e);
        }
    } else if (t == J_NUM && c->kind == SINGER_K_LONG && (c->accept & SINGER_J_INT)) {
        if (int_fast(js, &sl->v.i64) == 0) {
            sl->kind = S_I64;
            return 0;
        }
    }

    switch (t) {
    case J_NULL:
        if (js_literal(js, "null", 4))
            goto bad_json;
        if (!(c->accept & SINGER_J_NULL) || s->req[ci])
            return iv_err_set(e, IV_EINVAL, "field \"%s\": null is not allowed", c->name);
        sl->kind = S_NULL;
        return 0;
    case J_TRUE:
    case J_FALSE: {
        const char *start = js->p;
        if (t == J_TRUE ? js_literal(js, "true", 4) : js_literal(js, "false", 5))
            goto bad_json;
        if (!(c->accept & SINGER_J_BOOL))
            return type_error(e, c, t, false);
        if (c->kind == SINGER_K_JSON || c->kind == SINGER_K_TEXT) {
            sl->kind = S_BYTES;
            sl->v.s.p = start;
            sl->v.s.n = (size_t)(js->p - start);
        } else {
            sl->kind = S_BOOL;
            sl->v.b = t == J_TRUE;
        }
        return 0;
    }
    case J_NUM:
        if (js_number(js, &v, &n, &is_int))
            goto bad_json;
        if (!(c->accept & (is_int ? SINGER_J_INT : SINGER_J_NUM)))
            return type_error(e, c, t, is_int);
        if (c->kind == SINGER_K_LONG) {
            sl->kind = S_I64;
            if (parse_i64(v, n, &sl->v.i64))
                return iv_err_set(e, IV_EINVAL, "field \"%s\": integer %.*s is out of range",
                                  c->name, (int)(n > 40 ? 40 : n), v);
        } else if (c->kind == SINGER_K_DOUBLE) {
            if (singer_number_double(v, n, &sl->v.d) != 0)
                return iv_err_set(e, IV_EINVAL, "field \"%s\": number %.*s is out of range",
                                  c->name, (int)(n > 40 ? 40 : n), v);
            sl->kind = S_F64;
        } else if (c->kind == SINGER_K_DECIMAL) {
            return decimal_value(sl, c, v, n, false, e);
        } else {   /* JSON text; TEXT: the number as written */
            sl->kind = S_BYTES;
            sl->v.s.p = v;
            sl->v.s.n = n;
        }
        return 0;
    case J_STR: {
        const char *q = js->p;
        if (js_string(js, &v, &n, &esc))
            goto bad_json;
        if (!(c->accept & SINGER_J_STR))
            return type_error(e, c, t, false);
        switch (c->kind) {
        case SINGER_K_STRING:
        case SINGER_K_TEXT:
            if (!esc) {
                sl->kind = S_BYTES;
                sl->v.s.p = v;
                sl->v.s.n = n;
                return 0;
            }
            return string_escaped(s, sl, c, v, n, e);
        case SINGER_K_TIMESTAMPTZ:
        case SINGER_K_DATE:
            return timestamp_value(sl, c, v, n, esc, e);
        case SINGER_K_DECIMAL:
            return decimal_value(sl, c, v, n, esc, e);
        default:   /* JSON text of the string, quotes and escapes kept */
            sl->kind = S_BYTES;
            sl->v.s.p = q;
            sl->v.s.n = (size_t)(js->p - q);
            return 0;
        }
    }
    case J_OBJ:
    case J_ARR: {
        const char *start = js->p;
        if (js_skip(js, 2))
            goto bad_json;
        if (!(c->accept & (t == J_OBJ ? SINGER_J_OBJ : SINGER_J_ARR)))
            return type_error(e, c, t, false);
        size_t off = s->scratch.len;
        if (singer_json_compact(start, (size_t)(js->p - start), &s->scratch))
            return iv_err_set(e, IV_ETOOBIG, "field \"%s\": row too large", c->name);
        sl->kind = S_SCRATCH;
        sl->v.s.off = off;
        sl->v.s.n = s->scratch.len - off;
        return 0;
    }
    default:
        js_fail(js, js->p >= js->end ? "unexpected end of input" : "unexpected character");
        goto bad_json;
    }
bad_json:
    return iv_err_set(e, IV_EINVAL, "invalid JSON in record at byte %zu: %s",
                      (size_t)(js->p - js->base) + 1, js->err);
}

static int emit(struct singer_stream *s, const struct singer_sink *k)
{
    int rc = 0;
    for (int j = 0; j < s->nout && rc == 0; j++) {
        int ci = s->out_map[j];
        if (ci < 0) {
            rc = k->put_null(k->ctx, j);
            continue;
        }
        const struct slot *sl = &s->slots[ci];
        switch (sl->kind) {
        case S_NULL: rc = k->put_null(k->ctx, j); break;
        case S_BOOL: rc = k->put_bool(k->ctx, j, sl->v.b); break;
        case S_I32: rc = k->put_i32(k->ctx, j, sl->v.i32); break;
        case S_I64: rc = k->put_i64(k->ctx, j, sl->v.i64); break;
        case S_F64: rc = k->put_double(k->ctx, j, sl->v.d); break;
        case S_BYTES: rc = k->put_bytes(k->ctx, j, sl->v.s.p, sl->v.s.n); break;
        case S_DEC: rc = k->put_decimal(k->ctx, j, sl->v.dec); break;
        default: rc = k->put_bytes(k->ctx, j, s->scratch.data + sl->v.s.off, sl->v.s.n); break;
        }
    }
    if (rc == 0)
        rc = k->end_row(k->ctx);
    return rc;
}

/* A key the schema does not declare: an error under "additionalProperties": false, else
 * its value is checked as JSON and dropped (counted; the key logged the first time). */
static int drop_undeclared(struct singer_stream *s, struct jscan *js, const char *k, size_t kn,
                           struct iv_err *e)
{
    /* a key holding NUL cannot name a column; print up to it */
    if (s->refuse_undeclared)
        return iv_err_set(e, IV_EINVAL, "field \"%.*s\" is not in the schema of stream \"%s\" "
                          "(its schema has \"additionalProperties\": false)",
                          (int)(kn > 200 ? 200 : kn), k, s->name);
    js_ws(js);
    if (js->p >= js->end || *js->p != ':' || (js->p++, js_skip(js, 1))) {
        if (!js->err)
            js_fail(js, "expected ':'");
        return iv_err_set(e, IV_EINVAL, "invalid JSON in record at byte %zu: %s",
                          (size_t)(js->p - js->base) + 1, js->err);
    }
    s->dropped++;
    for (int i = 0; i < s->nundeclared; i++)
        if (strlen(s->undeclared[i]) == kn && mem_equal(s->undeclared[i], k, kn))
            return IV_OK;
    if (s->nundeclared >= MAX_LOGGED)
        return IV_OK;
    s->undeclared = xrealloc(s->undeclared, sizeof(char *) * (size_t)(s->nundeclared + 1));
    s->undeclared[s->nundeclared++] = xstrndup(k, kn);
    log_info("stream %s: dropping the values of key \"%.*s\", which its schema does not declare",
             s->name, (int)(kn > 200 ? 200 : kn), k);
    return IV_OK;
}

/* Stages the object at js->p into the slots; js->p ends after its '}'. */
static int stage_record(struct singer_stream *s, struct jscan *jsp, struct iv_err *e)
{
    struct jscan js = *jsp;
    s->misfit = -1;
    buf_reset(&s->scratch);
    if (++s->gen == 0) {
        memset(s->seen, 0, (size_t)s->ncols * sizeof(*s->seen));
        s->gen = 1;
    }
    if (js_peek(&js) != J_OBJ)
        return iv_err_set(e, IV_EINVAL, "record is not a JSON object");
    js.p++;
    int guess = 0;
    js_ws(&js);
    if (js.p < js.end && *js.p == '}') {
        js.p++;
    } else {
        for (;;) {
            const char *k;
            size_t kn;
            bool esc;
            int ci;
            /* records usually follow schema order: try the column after the last one,
             * matching its name against the raw bytes (a plain name matches exactly the
             * keys the scanner would read as that name) */
            js_ws(&js);
            if (guess < s->ncols && s->plain[guess] && js.p < js.end && *js.p == '"' &&
                (size_t)(js.end - js.p) > s->nlen[guess] + 1 &&
                js.p[s->nlen[guess] + 1] == '"' &&
                mem_equal(js.p + 1, s->cols[guess].name, s->nlen[guess])) {
                ci = guess;
                js.p += s->nlen[guess] + 2;
                goto have_key;
            }
            if (js_peek(&js) != J_STR) {
                js_fail(&js, "expected object key");
                goto bad_json;
            }
            if (js_string(&js, &k, &kn, &esc))
                goto bad_json;
            if (esc) {
                buf_reset(&s->keybuf);
                if (buf_reserve(&s->keybuf, kn + 1))
                    return iv_err_set(e, IV_ETOOBIG, "record key too long");
                kn = js_unescape(k, kn, s->keybuf.data);
                k = s->keybuf.data;
            }
            ci = guess < s->ncols && s->nlen[guess] == kn &&
                         mem_equal(s->cols[guess].name, k, kn) ? guess : lookup(s, k, kn);
            if (ci < 0) {
                int rc = drop_undeclared(s, &js, k, kn, e);
                if (rc)
                    return rc;
                int more = js_after_item(&js, '}');
                if (more < 0)
                    goto bad_json;
                if (more == 0)
                    break;
                continue;
            }
        have_key:
            if (s->seen[ci] == s->gen)
                return iv_err_set(e, IV_EINVAL, "field \"%s\" appears twice in the record",
                                  s->cols[ci].name);
            s->seen[ci] = s->gen;
            js_ws(&js);
            if (js.p >= js.end || *js.p != ':') {
                js_fail(&js, "expected ':'");
                goto bad_json;
            }
            js.p++;
            guess = ci + 1;
            int rc = decode_value(s, &js, ci, e);
            if (rc) {
                if (rc == IV_EINVAL && !js.err)
                    s->misfit = ci;   /* the JSON is fine, the value does not fit */
                return rc;
            }
            int more = js_after_item(&js, '}');
            if (more < 0)
                goto bad_json;
            if (more == 0)
                break;
        }
    }
    for (int c = 0; c < s->ncols; c++) {
        if (s->seen[c] != s->gen) {
            if (s->req[c]) {
                s->misfit = c;
                return iv_err_set(e, IV_EINVAL, "required field \"%s\" is missing",
                                  s->cols[c].name);
            }
            s->slots[c].kind = S_NULL;
        }
    }
    *jsp = js;
    return IV_OK;
bad_json:
    return iv_err_set(e, IV_EINVAL, "invalid JSON in record at byte %zu: %s",
                      (size_t)(js.p - js.base) + 1, js.err);
}

static int emit_row(struct singer_stream *s, const struct singer_sink *sink, struct iv_err *e)
{
    int rc = emit(s, sink);
    if (rc)
        return iv_err_set(e, rc, "stream \"%s\": writing the row failed (%s)", s->name,
                          iv_strerror(rc));
    return IV_OK;
}

int singer_stream_decode(struct singer_stream *s, const char *rec, size_t len,
                         const struct singer_sink *sink, struct iv_err *e)
{
    struct jscan js;
    js_init(&js, rec, len);
    int rc = stage_record(s, &js, e);
    if (rc)
        return rc;
    js_ws(&js);
    if (js.p != js.end)
        return iv_err_set(e, IV_EINVAL, "invalid JSON in record at byte %zu: %s",
                          (size_t)(js.p - js.base) + 1, "trailing characters after the record");
    return emit_row(s, sink, e);
}

/* Validates what follows the record in an open RECORD message: more members
 * (none may repeat type/stream/record), the closing '}', then nothing. */
static int message_tail(struct jscan *js, struct iv_err *e)
{
    const char *k;
    size_t kn;
    bool esc;
    for (;;) {
        js_ws(js);
        if (js->p < js->end && *js->p == '}') {
            js->p++;
            break;
        }
        if (js->p >= js->end || *js->p != ',') {
            js_fail(js, js->p >= js->end ? "unexpected end of input" : "expected ',' or '}'");
            goto bad;
        }
        js->p++;
        if (js_peek(js) != J_STR) {
            js_fail(js, "expected object key");
            goto bad;
        }
        if (js_string(js, &k, &kn, &esc))
            goto bad;
        char tmp[64];
        size_t tn = 0;
        if (kn <= sizeof(tmp))
            tn = esc ? js_unescape(k, kn, tmp) : kn;
        const char *key = esc ? tmp : k;
        if (kn <= sizeof(tmp) && ((tn == 4 && !memcmp(key, "type", 4)) ||
                                  (tn == 6 && !memcmp(key, "stream", 6)) ||
                                  (tn == 6 && !memcmp(key, "record", 6))))
            return iv_err_set(e, IV_EINVAL, "duplicate key \"%.*s\"", (int)tn, key);
        js_ws(js);
        if (js->p >= js->end || *js->p != ':') {
            js_fail(js, "expected ':'");
            goto bad;
        }
        js->p++;
        if (js_skip(js, 1))
            goto bad;
    }
    js_ws(js);
    if (js->p != js->end) {
        js_fail(js, "trailing characters after the message");
        goto bad;
    }
    return IV_OK;
bad:
    return iv_err_set(e, IV_EINVAL, "invalid JSON after the record at byte %zu: %s",
                      (size_t)(js->p - js->base) + 1, js->err);
}

int singer_decode_record(struct singer_stream *s, const struct singer_msg *m,
                         const struct singer_sink *sink, struct iv_err *e)
{
    if (!m->record_open)
        return singer_stream_decode(s, m->record, m->record_len, sink, e);
    struct jscan js;
    js_init(&js, m->record, m->record_len);
    int rc = stage_record(s, &js, e);
    if (rc)
        return rc;
    if ((rc = message_tail(&js, e)))
        return rc;
    return emit_row(s, sink, e);
}

int singer_json_validate(const char *p, size_t len, struct iv_err *e)
{
    struct jscan js;
    js_init(&js, p, len);
    if (js_skip(&js, 0))
        goto bad;
    js_ws(&js);
    if (js.p != js.end) {
        js_fail(&js, "trailing characters");
        goto bad;
    }
    return IV_OK;
bad:
    return iv_err_set(e, IV_EINVAL, "invalid JSON at byte %zu: %s", (size_t)(js.p - p) + 1,
                      js.err);
}

int singer_json_compact(const char *p, size_t len, struct buf *out)
{
    int rc = buf_reserve(out, len + 1);
    if (rc)
        return rc;
    char *o = out->data + out->len;
    size_t k = 0;
    bool in_str = false;
    for (size_t i = 0; i < len; i++) {
        char c = p[i];
        if (in_str) {
            o[k++] = c;
            if (c == '\\') {
                o[k++] = p[++i];
            } else if (c == '"') {
                in_str = false;
            }
            continue;
        }
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r')
            continue;
        if (c == '"')
            in_str = true;
        o[k++] = c;
    }
    out->len += k;
    out->data[out->len] = '\0';
    return IV_OK;
}

/* ---- typed rows (singer_stream_put_row) ------------------------------------------------ */

/* The text a column followed as text (SINGER_K_TEXT) receives for a typed value; appended to
 * the row's scratch. */
static int value_text(struct singer_stream *s, const struct singer_value *v, struct slot *sl)
{
    char tmp[64];
    int n = 0;
    switch (v->kind) {
    case SINGER_V_BOOL: n = snprintf(tmp, sizeof tmp, "%s", v->b ? "true" : "false"); break;
    case SINGER_V_I64: n = snprintf(tmp, sizeof tmp, "%lld", (long long)v->i64); break;
    case SINGER_V_F64:
        for (int prec = 15; prec <= 17; prec++) {   /* shortest text that reads back */
            n = snprintf(tmp, sizeof tmp, "%.*g", prec, v->d);
            if (strtod(tmp, NULL) == v->d)
                break;
        }
        break;
    case SINGER_V_DATE: {
        int64_t y;
        unsigned m, d;
        civil_from_days(v->i64, &y, &m, &d);
        n = snprintf(tmp, sizeof tmp, "%04lld-%02u-%02u", (long long)y, m, d);
        break;
    }
    case SINGER_V_TIMESTAMP: {
        int64_t sec = v->i64 >= 0 ? v->i64 / 1000000 : -((-v->i64 + 999999) / 1000000);
        int64_t us = v->i64 - sec * 1000000, y;
        unsigned m, d;
        int64_t days = sec >= 0 ? sec / 86400 : -((-sec + 86399) / 86400), rem = sec - days * 86400;
        civil_from_days(days, &y, &m, &d);
        n = snprintf(tmp, sizeof tmp, "%04lld-%02u-%02uT%02d:%02d:%02d", (long long)y, m, d,
                     (int)(rem / 3600), (int)(rem / 60 % 60), (int)(rem % 60));
        if (us)
            n += snprintf(tmp + n, sizeof tmp - (size_t)n, ".%06d", (int)us);
        n += snprintf(tmp + n, sizeof tmp - (size_t)n, "+00:00");
        break;
    }
    default:   /* bytes: as they are */
        sl->kind = S_BYTES;
        sl->v.s.p = v->p;
        sl->v.s.n = v->n;
        return IV_OK;
    }
    size_t off = s->scratch.len;
    int rc = buf_append(&s->scratch, tmp, (size_t)n);
    if (rc)
        return rc;
    sl->kind = S_SCRATCH;
    sl->v.s.off = off;
    sl->v.s.n = (size_t)n;
    return IV_OK;
}

/* Stages one typed value into column ci's slot. A value that does not fit the column (the
 * wrong kind, null in a required column, a value for a column the table lacks) is IV_EINVAL
 * with s->misfit = ci, as the decoder reports such values (schema_drift discard_row). */
static int stage_value(struct singer_stream *s, int ci, const struct singer_value *v,
                       struct iv_err *e)
{
    const struct singer_column *c = &s->cols[ci];
    struct slot *sl = &s->slots[ci];
    if (v->kind == SINGER_V_NULL) {
        sl->kind = S_NULL;
        if (!s->req[ci])
            return IV_OK;
        s->misfit = ci;
        return iv_err_set(e, IV_EINVAL, "field \"%s\": null is not allowed", c->name);
    }
    bool fits = false;
    switch (c->kind) {
    case SINGER_K_TEXT:
        return value_text(s, v, sl) ? iv_err_set(e, IV_ETOOBIG, "field \"%s\": row too large",
                                                 c->name) : IV_OK;
    case SINGER_K_LONG: fits = v->kind == SINGER_V_I64; sl->kind = S_I64; sl->v.i64 = v->i64;
        break;
    case SINGER_K_TIMESTAMPTZ: fits = v->kind == SINGER_V_TIMESTAMP; sl->kind = S_I64;
        sl->v.i64 = v->i64; break;
    case SINGER_K_DATE:
        fits = v->kind == SINGER_V_DATE && v->i64 >= INT32_MIN && v->i64 <= INT32_MAX;
        sl->kind = S_I32;
        sl->v.i32 = (int32_t)v->i64;
        break;
    case SINGER_K_DOUBLE:   /* an integer reads as a double, as its JSON text would */
        fits = v->kind == SINGER_V_F64 || v->kind == SINGER_V_I64;
        sl->kind = S_F64;
        sl->v.d = v->kind == SINGER_V_I64 ? (double)v->i64 : v->d;
        break;
    case SINGER_K_BOOL: fits = v->kind == SINGER_V_BOOL; sl->kind = S_BOOL; sl->v.b = v->b;
        break;
    case SINGER_K_STRING:
    case SINGER_K_JSON:
        fits = v->kind == SINGER_V_BYTES;
        sl->kind = S_BYTES;
        sl->v.s.p = v->p;
        sl->v.s.n = v->n;
        break;
    case SINGER_K_DECIMAL:
        break;
    }
    if (c->absent || !fits) {
        s->misfit = ci;
        return iv_err_set(e, IV_EINVAL, "field \"%s\": %s", c->name, c->absent
                          ? "the table has no such column (only null fits)"
                          : "the value does not fit the column's type");
    }
    return IV_OK;
}

int singer_stream_put_row(struct singer_stream *s, const struct singer_value *vals, int n,
                          const struct singer_sink *sink, struct iv_err *e)
{
    if (n != s->ncols)
        return iv_err_set(e, IV_EINVAL, "stream \"%s\": a row of %d values for %d columns",
                          s->name, n, s->ncols);
    buf_reset(&s->scratch);
    s->misfit = -1;
    for (int ci = 0; ci < n; ci++) {
        int rc = stage_value(s, ci, &vals[ci], e);
        if (rc)
            return rc;
    }
    return emit_row(s, sink, e);
}

/* ---- record members (singer_record_members) --------------------------------------------- */

/* One member's value at js->p into mb (strings unescaped into scratch). */
static int member_value(struct jscan *js, struct buf *scratch, struct singer_member *mb)
{
    enum jtok t = js_peek(js);
    const char *start = js->p, *v;
    size_t n;
    bool esc, is_int;
    switch (t) {
    case J_NULL:
        mb->type = SINGER_JNULL;
        return js_literal(js, "null", 4);
    case J_TRUE:
    case J_FALSE:
        mb->type = SINGER_JBOOL;
        mb->b = t == J_TRUE;
        return t == J_TRUE ? js_literal(js, "true", 4) : js_literal(js, "false", 5);
    case J_NUM:
        if (js_number(js, &v, &n, &is_int))
            return -1;
        mb->type = is_int ? SINGER_JINT : SINGER_JNUM;
        mb->val = v;
        mb->val_len = n;
        return 0;
    case J_STR:
        if (js_string(js, &v, &n, &esc))
            return -1;
        mb->type = SINGER_JSTR;
        if (esc) {
            if (buf_reserve(scratch, n + 1))
                return js_fail(js, "string too large");
            size_t k = js_unescape(v, n, scratch->data + scratch->len);
            v = scratch->data + scratch->len;
            scratch->len += k;
            n = k;
        }
        mb->val = v;
        mb->val_len = n;
        return 0;
    case J_OBJ:
    case J_ARR:
        if (js_skip(js, 1))
            return -1;
        mb->type = t == J_OBJ ? SINGER_JOBJ : SINGER_JARR;
        mb->val = start;
        mb->val_len = (size_t)(js->p - start);
        return 0;
    default:
        return js_fail(js, js->p >= js->end ? "unexpected end of input" : "unexpected character");
    }
}

int singer_record_members(struct singer_parser *p, const struct singer_msg *m,
                          singer_member_fn fn, void *ctx, struct iv_err *e)
{
    struct jscan js;
    js_init(&js, m->record, m->record_len);
    if (js_peek(&js) != J_OBJ) {
        js_fail(&js, "expected an object");
        goto bad_json;
    }
    js.p++;
    js_ws(&js);
    int more = 1;
    if (js.p < js.end && *js.p == '}') {
        js.p++;
        more = 0;
    }
    while (more) {
        struct singer_member mb = {0};
        const char *k;
        size_t kn;
        bool esc;
        buf_reset(&p->member);
        if (js_peek(&js) != J_STR) {
            js_fail(&js, "expected object key");
            goto bad_json;
        }
        if (js_string(&js, &k, &kn, &esc))
            goto bad_json;
        if (esc) {
            if (buf_reserve(&p->member, kn + 1))
                return iv_err_set(e, IV_ETOOBIG, "record key too large");
            kn = js_unescape(k, kn, p->member.data);
            k = p->member.data;
            p->member.len = kn;
        }
        js_ws(&js);
        if (js.p >= js.end || *js.p != ':') {
            js_fail(&js, "expected ':'");
            goto bad_json;
        }
        js.p++;
        js_ws(&js);
        if (member_value(&js, &p->member, &mb))
            goto bad_json;
        if (esc)
            k = p->member.data;   /* the value's unescaping may have moved the buffer */
        mb.key = k;
        mb.key_len = kn;
        int rc = fn(ctx, &mb, e);
        if (rc)
            return rc;
        if ((more = js_after_item(&js, '}')) < 0)
            goto bad_json;
    }
    if (m->record_open)
        return message_tail(&js, e);
    js_ws(&js);
    if (js.p != js.end) {
        js_fail(&js, "trailing characters after the record");
        goto bad_json;
    }
    return IV_OK;
bad_json:
    return iv_err_set(e, IV_EINVAL, "invalid JSON in record at byte %zu: %s",
                      (size_t)(js.p - js.base) + 1, js.err ? js.err : "invalid");
}
