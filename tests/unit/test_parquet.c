/*
 * test_parquet: the Parquet writer (src/lake/parquet.c) checked by independent readers.
 *
 * Files are written with every Iceberg primitive type, required and optional columns,
 * special floats, unicode/empty/100 KiB strings, several pages and row groups, each
 * codec, dictionary on and off; then read back by DuckDB (tests/readers/parquet_dump.mjs)
 * and hyparquet (tests/readers/parquet_hyparquet.mjs) through popen, and compared value
 * by value with what the test generated. The stats pqw_finish reports (sizes, counts,
 * split offsets, Iceberg bounds) are checked against the readers' view of the footer and
 * against bounds the test computes from its own data. Run from the repository root.
 */
#include "unit.h"
#include "lake/parquet.h"

#include <dirent.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- generated data --------------------------------------------------------------- */

struct cell {
    bool null;
    bool b;
    int64_t i;
    double d;
    __int128 x;
    uint8_t *p;
    size_t n;
};

struct table {
    int ncols, nrows;
    struct lake_field *f;
    struct cell *cells;   /* nrows * ncols */
};

static uint64_t rng_state = 0x1234567890abcdefull;
static uint64_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static struct cell *cell_at(struct table *t, int r, int c)
{
    return &t->cells[(size_t)r * (size_t)t->ncols + (size_t)c];
}

static const char *const words[] = {"", "a", "héllo wörld", "日本語のテキスト", "emoji 😀 🎉",
                                    "zzz", "Ωmega", "tab\tand\nnewline", "quote\"back\\"};

static __int128 pow10_128(int p)
{
    __int128 v = 1;
    while (p-- > 0)
        v *= 10;
    return v;
}

static void gen_cell(struct table *t, int r, int c, int card)
{
    const struct lake_field *f = &t->f[c];
    struct cell *x = cell_at(t, r, c);
    memset(x, 0, sizeof *x);
    if (!f->required && rnd() % 7 == 0) {
        x->null = true;
        return;
    }
    uint64_t v = rnd();
    switch (f->type) {
    case LAKE_BOOLEAN: x->b = v & 1; break;
    case LAKE_INT:
        x->i = r == 1 ? INT32_MIN : r == 2 ? INT32_MAX : (int32_t)v;
        break;
    case LAKE_LONG:
        x->i = r == 1 ? INT64_MIN : r == 2 ? INT64_MAX : (int64_t)v;
        break;
    case LAKE_DATE: x->i = (int64_t)(v % 200000) - 100000; break;
    case LAKE_TIME: x->i = (int64_t)(v % 86400000000ull); break;
    case LAKE_TIMESTAMP:
    case LAKE_TIMESTAMPTZ: x->i = (int64_t)(v % 8000000000000000ull) - 4000000000000000LL; break;
    case LAKE_FLOAT:
    case LAKE_DOUBLE: {
        static const double sp[] = {NAN, INFINITY, -INFINITY, -0.0, 0.0, 1e-310, -1.5};
        if (r % 13 < 7)
            x->d = sp[r % 13];
        else
            x->d = ((double)(int64_t)v) / 1e6;
        if (f->type == LAKE_FLOAT)
            x->d = (float)x->d;
        break;
    }
    case LAKE_STRING: {
        char tmp[64];
        const char *s;
        if (r % 500 == 3) {   /* a 100 KiB string */
            x->n = 100 * 1024;
            x->p = malloc(x->n);
            for (size_t k = 0; k < x->n; k++)
                x->p[k] = (uint8_t)('a' + (k + (size_t)r) % 26);
            return;
        }
        if (card > 0) {
            snprintf(tmp, sizeof tmp, "%s-%d", words[v % 9], (int)((v >> 8) % (uint64_t)card));
            s = tmp;
        } else {
            s = words[v % 9];
        }
        x->n = strlen(s);
        x->p = malloc(x->n + 1);
        memcpy(x->p, s, x->n + 1);
        break;
    }
    case LAKE_BINARY:
    case LAKE_UUID:
    case LAKE_FIXED:
        x->n = f->type == LAKE_BINARY ? v % 40 : f->type == LAKE_UUID ? 16 : (size_t)f->fixed_len;
        x->p = malloc(x->n + 1);
        for (size_t k = 0; k < x->n; k++)
            x->p[k] = (uint8_t)rnd();
        if (r == 5 && x->n)
            memset(x->p, 0xFF, x->n);
        break;
    case LAKE_DECIMAL: {
        __int128 lim = pow10_128(f->precision);
        __int128 u = (__int128)(((unsigned __int128)rnd() << 64) | rnd());
        if (u < 0)
            u = -u;
        x->x = u % lim;
        if (rnd() & 1)
            x->x = -x->x;
        if (r == 1)
            x->x = -(lim - 1);
        if (r == 2)
            x->x = lim - 1;
        break;
    }
    }
}

static void table_gen(struct table *t, struct lake_field *f, int ncols, int nrows, int card)
{
    t->f = f;
    t->ncols = ncols;
    t->nrows = nrows;
    t->cells = calloc((size_t)nrows * (size_t)ncols + 1, sizeof *t->cells);
    for (int r = 0; r < nrows; r++)
        for (int c = 0; c < ncols; c++)
            gen_cell(t, r, c, card);
}

static void table_free(struct table *t)
{
    for (size_t k = 0; k < (size_t)t->nrows * (size_t)t->ncols; k++)
        free(t->cells[k].p);
    free(t->cells);
}

static int put_cell(struct pqw *w, const struct lake_field *f, int c, const struct cell *x)
{
    if (x->null)
        return pqw_put_null(w, c);
    switch (f->type) {
    case LAKE_BOOLEAN: return pqw_put_bool(w, c, x->b);
    case LAKE_INT:
    case LAKE_DATE: return pqw_put_i32(w, c, (int32_t)x->i);
    case LAKE_LONG:
    case LAKE_TIME:
    case LAKE_TIMESTAMP:
    case LAKE_TIMESTAMPTZ: return pqw_put_i64(w, c, x->i);
    case LAKE_FLOAT: return pqw_put_float(w, c, (float)x->d);
    case LAKE_DOUBLE: return pqw_put_double(w, c, x->d);
    case LAKE_DECIMAL: return pqw_put_decimal(w, c, x->x);
    default: return pqw_put_bytes(w, c, x->p, x->n);
    }
}

static int table_write(struct table *t, const char *path, const struct pqw_options *o,
                       struct pqw_file_stats *st)
{
    struct pqw *w;
    struct iv_err e = {0};
    int rc = pqw_open(&w, path, t->f, t->ncols, o, &e);
    if (rc) {
        fprintf(stderr, "pqw_open: %s\n", e.msg);
        return rc;
    }
    for (int r = 0; r < t->nrows; r++) {
        for (int c = 0; c < t->ncols; c++)
            if ((rc = put_cell(w, &t->f[c], c, cell_at(t, r, c))))
                break;
        if (rc || (rc = pqw_end_row(w)))
            break;
    }
    assert_int_equal(pqw_rows(w), t->nrows);
    rc = pqw_finish(w, st, &e);
    if (rc)
        fprintf(stderr, "pqw_finish: %s\n", e.msg);
    return rc;
}

/* ---- readers ---------------------------------------------------------------------- */

static json_t *run_reader(const char *script, const char *path)
{
    char *cmd = xasprintf("node tests/readers/%s '%s'", script, path);
    FILE *p = popen(cmd, "r");
    free(cmd);
    assert_non_null(p);
    json_error_t je;
    json_t *j = json_loadf(p, 0, &je);
    int st = pclose(p);
    if (!j || st != 0)
        fprintf(stderr, "reader %s failed (status %d): %s\n", script, st, je.text);
    assert_int_equal(st, 0);
    assert_non_null(j);
    return j;
}

static void hex_up(const uint8_t *p, size_t n, char *out)
{
    static const char hx[] = "0123456789ABCDEF";
    for (size_t k = 0; k < n; k++) {
        out[2 * k] = hx[p[k] >> 4];
        out[2 * k + 1] = hx[p[k] & 15];
    }
    out[2 * n] = 0;
}

static void fmt_i128(__int128 v, char *out)
{
    char tmp[64];
    int n = 0;
    bool neg = v < 0;
    unsigned __int128 u = neg ? (unsigned __int128)(-(v + 1)) + 1 : (unsigned __int128)v;
    do {
        tmp[n++] = (char)('0' + (int)(u % 10));
        u /= 10;
    } while (u);
    int k = 0;
    if (neg)
        out[k++] = '-';
    while (n)
        out[k++] = tmp[--n];
    out[k] = 0;
}

/* DuckDB's text form of decimal(P,S): [-]int.frac with S digits (no '.' when S = 0). */
static void fmt_decimal(__int128 v, int scale, char *out)
{
    char digits[64];
    bool neg = v < 0;
    fmt_i128(neg ? -v : v, digits);
    size_t n = strlen(digits);
    char *o = out;
    if (neg)
        *o++ = '-';
    if (scale == 0) {
        strcpy(o, digits);
        return;
    }
    if (n <= (size_t)scale) {
        *o++ = '0';
        *o++ = '.';
        for (size_t k = n; k < (size_t)scale; k++)
            *o++ = '0';
        strcpy(o, digits);
        return;
    }
    memcpy(o, digits, n - (size_t)scale);
    o += n - (size_t)scale;
    *o++ = '.';
    strcpy(o, digits + n - (size_t)scale);
}

static void check_float(const json_t *j, double want, bool is_float, int r, int c)
{
    if (json_is_string(j)) {
        const char *s = json_string_value(j);
        if (!strcmp(s, "NaN"))
            assert_true(isnan(want));
        else if (!strcmp(s, "Infinity"))
            assert_true(isinf(want) && want > 0);
        else if (!strcmp(s, "-Infinity"))
            assert_true(isinf(want) && want < 0);
        else if (!strcmp(s, "-0"))
            assert_true(want == 0 && signbit(want));
        else
            fail_msg("row %d col %d: odd float %s", r, c, s);
        return;
    }
    assert_true(json_is_number(j));
    double got = json_number_value(j);
    if (is_float)
        got = (float)got;
    if (got != want || signbit(got) != signbit(want))
        fail_msg("row %d col %d: got %.17g want %.17g", r, c, got, want);
}

/* Compares the DuckDB rows with the generated table. */
static void check_duckdb_rows(struct table *t, const json_t *j)
{
    const json_t *rows = json_object_get(j, "rows");
    assert_int_equal(json_array_size(rows), (size_t)t->nrows);
    char *buf = malloc(256 * 1024);
    for (int r = 0; r < t->nrows; r++) {
        const json_t *row = json_array_get(rows, (size_t)r);
        assert_int_equal(json_array_size(row), (size_t)t->ncols);
        for (int c = 0; c < t->ncols; c++) {
            const struct lake_field *f = &t->f[c];
            const struct cell *x = cell_at(t, r, c);
            const json_t *v = json_array_get(row, (size_t)c);
            if (x->null) {
                if (!json_is_null(v))
                    fail_msg("row %d col %s: expected null", r, f->name);
                continue;
            }
            const char *want = NULL;
            switch (f->type) {
            case LAKE_BOOLEAN:
                assert_true(json_is_boolean(v));
                assert_int_equal(json_is_true(v), x->b);
                continue;
            case LAKE_FLOAT:
            case LAKE_DOUBLE:
                check_float(v, x->d, f->type == LAKE_FLOAT, r, c);
                continue;
            case LAKE_INT: case LAKE_LONG: case LAKE_DATE: case LAKE_TIME:
            case LAKE_TIMESTAMP: case LAKE_TIMESTAMPTZ:
                snprintf(buf, 64, "%lld", (long long)x->i);
                want = buf;
                break;
            case LAKE_DECIMAL:
                fmt_decimal(x->x, f->scale, buf);
                want = buf;
                break;
            case LAKE_STRING:
                assert_true(json_is_string(v));
                assert_int_equal(json_string_length(v), x->n);
                assert_memory_equal(json_string_value(v), x->p, x->n);
                continue;
            case LAKE_UUID: {
                static const char hx[] = "0123456789abcdef";
                char *o = buf;
                for (int k = 0; k < 16; k++) {
                    if (k == 4 || k == 6 || k == 8 || k == 10)
                        *o++ = '-';
                    *o++ = hx[x->p[k] >> 4];
                    *o++ = hx[x->p[k] & 15];
                }
                *o = 0;
                want = buf;
                break;
            }
            case LAKE_BINARY:
            case LAKE_FIXED:
                hex_up(x->p, x->n, buf);
                want = buf;
                break;
            }
            if (!json_is_string(v) || strcmp(json_string_value(v), want) != 0)
                fail_msg("row %d col %s: got %s want %s", r, f->name,
                         json_is_string(v) ? json_string_value(v) : "(not a string)", want);
        }
    }
    free(buf);
}

/* hyparquet: same row count and field ids; long/int/string/boolean/double values. */
static void check_hyparquet(struct table *t, const char *path)
{
    json_t *j = run_reader("parquet_hyparquet.mjs", path);
    assert_int_equal(json_integer_value(json_object_get(j, "num_rows")), t->nrows);
    const json_t *ids = json_object_get(j, "field_ids");
    for (int c = 0; c < t->ncols; c++)
        assert_int_equal(json_integer_value(json_array_get(ids, (size_t)c)), t->f[c].id);
    const json_t *rows = json_object_get(j, "rows");
    assert_int_equal(json_array_size(rows), (size_t)t->nrows);
    for (int r = 0; r < t->nrows; r++) {
        const json_t *row = json_array_get(rows, (size_t)r);
        for (int c = 0; c < t->ncols; c++) {
            const struct cell *x = cell_at(t, r, c);
            const json_t *v = json_array_get(row, (size_t)c);
            if (x->null) {
                assert_true(json_is_null(v));
                continue;
            }
            char want[64];
            switch (t->f[c].type) {
            case LAKE_LONG:
                snprintf(want, sizeof want, "%lld", (long long)x->i);
                assert_string_equal(json_string_value(v), want);
                break;
            case LAKE_INT:
                assert_int_equal(json_integer_value(v), x->i);
                break;
            case LAKE_BOOLEAN:
                assert_int_equal(json_is_true(v), x->b);
                break;
            case LAKE_DOUBLE:
                check_float(v, x->d, false, r, c);
                break;
            case LAKE_STRING:
                assert_int_equal(json_string_length(v), x->n);
                assert_memory_equal(json_string_value(v), x->p, x->n);
                break;
            default:
                break;
            }
        }
    }
    json_decref(j);
}

static int64_t jint(const json_t *o, const char *k)
{
    const json_t *v = json_object_get(o, k);
    if (json_is_string(v))
        return strtoll(json_string_value(v), NULL, 10);
    return json_integer_value(v);
}

/* ---- expected Iceberg bounds computed from the generated data ---------------------- */

static int bcmp_u(const uint8_t *a, size_t an, const uint8_t *b, size_t bn)
{
    size_t n = an < bn ? an : bn;
    int c = n ? memcmp(a, b, n) : 0;
    return c ? c : (an < bn ? -1 : an > bn ? 1 : 0);
}

static void check_bounds(struct table *t, int c, const struct pqw_column_stats *cs)
{
    const struct lake_field *f = &t->f[c];
    bool have = false;
    const struct cell *lo = NULL, *hi = NULL;
    for (int r = 0; r < t->nrows; r++) {
        const struct cell *x = cell_at(t, r, c);
        if (x->null)
            continue;
        if ((f->type == LAKE_FLOAT || f->type == LAKE_DOUBLE) && isnan(x->d))
            continue;
        if (!have) {
            lo = hi = x;
            have = true;
            continue;
        }
        switch (f->type) {
        case LAKE_BOOLEAN:
            if (x->b < lo->b) lo = x;
            if (x->b > hi->b) hi = x;
            break;
        case LAKE_FLOAT:
        case LAKE_DOUBLE:
            if (x->d < lo->d || (x->d == lo->d && signbit(x->d))) lo = x;
            if (x->d > hi->d || (x->d == hi->d && !signbit(x->d))) hi = x;
            break;
        case LAKE_DECIMAL:
            if (x->x < lo->x) lo = x;
            if (x->x > hi->x) hi = x;
            break;
        case LAKE_STRING: case LAKE_BINARY: case LAKE_UUID: case LAKE_FIXED:
            if (bcmp_u(x->p, x->n, lo->p, lo->n) < 0) lo = x;
            if (bcmp_u(x->p, x->n, hi->p, hi->n) > 0) hi = x;
            break;
        default:
            if (x->i < lo->i) lo = x;
            if (x->i > hi->i) hi = x;
            break;
        }
    }
    assert_int_equal(cs->has_bounds, have);
    if (!have)
        return;
    uint8_t a[16], b[16];
    size_t n = 0;
    switch (f->type) {
    case LAKE_BOOLEAN:
        a[0] = lo->b; b[0] = hi->b; n = 1;
        break;
    case LAKE_INT: case LAKE_DATE: {
        int32_t x = (int32_t)lo->i, y = (int32_t)hi->i;
        memcpy(a, &x, 4); memcpy(b, &y, 4); n = 4;
        break;
    }
    case LAKE_FLOAT: {
        float x = (float)lo->d, y = (float)hi->d;
        memcpy(a, &x, 4); memcpy(b, &y, 4); n = 4;
        break;
    }
    case LAKE_DOUBLE:
        memcpy(a, &lo->d, 8); memcpy(b, &hi->d, 8); n = 8;
        break;
    case LAKE_DECIMAL: {
        /* minimal two's complement: check by sign-extending the reported bytes back */
        for (int k = 0; k < 2; k++) {
            const uint8_t *p = k ? cs->upper : cs->lower;
            size_t len = k ? cs->upper_len : cs->lower_len;
            __int128 want = k ? hi->x : lo->x;
            assert_true(len >= 1 && len <= 16);
            __int128 v = (p[0] & 0x80) ? -1 : 0;
            for (size_t q = 0; q < len; q++)
                v = (__int128)(((unsigned __int128)v << 8) | p[q]);
            assert_true(v == want);
            if (len > 1) /* minimal: the first byte is not a pure sign extension */
                assert_false((p[0] == 0 && !(p[1] & 0x80)) || (p[0] == 0xFF && (p[1] & 0x80)));
        }
        return;
    }
    case LAKE_STRING: case LAKE_BINARY: case LAKE_FIXED: case LAKE_UUID:
        /* lower: a prefix of the min of at most 16 bytes; upper: >= max, <= 20 bytes */
        assert_true(cs->lower_len <= 16 && cs->lower_len <= lo->n);
        assert_memory_equal(cs->lower, lo->p, cs->lower_len);
        if (hi->n <= 16) {
            assert_int_equal(cs->upper_len, hi->n);
            assert_memory_equal(cs->upper, hi->p, hi->n);
        } else {
            /* truncated + incremented, or (when no prefix can be incremented) the max */
            if (cs->upper_len > 20) {
                assert_int_equal(cs->upper_len, hi->n);
                assert_memory_equal(cs->upper, hi->p, hi->n);
            } else {
                assert_true(bcmp_u(cs->upper, cs->upper_len, hi->p, hi->n) > 0);
            }
        }
        if (lo->n <= 16)
            assert_int_equal(cs->lower_len, lo->n);
        return;
    default: {
        memcpy(a, &lo->i, 8); memcpy(b, &hi->i, 8); n = 8;
        break;
    }
    }
    assert_int_equal(cs->lower_len, n);
    assert_int_equal(cs->upper_len, n);
    assert_memory_equal(cs->lower, a, n);
    assert_memory_equal(cs->upper, b, n);
}

/* Checks the reported stats against the generated data and DuckDB's footer view. */
static void check_stats(struct table *t, const char *path, const json_t *j,
                        const struct pqw_file_stats *st)
{
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(st->file_size, sb.st_size);
    assert_int_equal(st->record_count, t->nrows);
    assert_int_equal(st->ncolumns, t->ncols);
    const json_t *fm = json_array_get(json_object_get(j, "file"), 0);
    assert_int_equal(jint(fm, "num_rows"), t->nrows);
    assert_int_equal(jint(fm, "file_size_bytes"), sb.st_size);
    assert_int_equal(jint(fm, "num_row_groups"), st->nsplits);

    /* field ids and physical types from parquet_schema() */
    const json_t *schema = json_object_get(j, "schema");
    assert_int_equal(json_array_size(schema), (size_t)t->ncols + 1);
    for (int c = 0; c < t->ncols; c++) {
        const json_t *se = json_array_get(schema, (size_t)c + 1);
        assert_string_equal(json_string_value(json_object_get(se, "name")), t->f[c].name);
        assert_int_equal(jint(se, "field_id"), t->f[c].id);
        assert_string_equal(json_string_value(json_object_get(se, "repetition_type")),
                            t->f[c].required ? "REQUIRED" : "OPTIONAL");
    }

    const json_t *meta = json_object_get(j, "meta");
    int64_t *csize = calloc((size_t)t->ncols, sizeof *csize);
    int64_t *nulls = calloc((size_t)t->ncols, sizeof *nulls);
    int64_t *vals = calloc((size_t)t->ncols, sizeof *vals);
    int64_t rg_first_row = 0, rg_seen = -1;
    size_t k;
    const json_t *m;
    json_array_foreach(meta, k, m) {
        int rg = (int)jint(m, "row_group_id"), c = (int)jint(m, "column_id");
        assert_true(c >= 0 && c < t->ncols);
        csize[c] += jint(m, "total_compressed_size");
        nulls[c] += jint(m, "stats_null_count");
        vals[c] += jint(m, "num_values");
        if (rg != rg_seen) {
            if (rg_seen >= 0)
                rg_first_row += jint(json_array_get(meta, k - 1), "row_group_num_rows");
            rg_seen = rg;
            assert_true(rg < st->nsplits);
            /* split offset = first page of the row group's first column */
            const json_t *dpo = json_object_get(m, "dictionary_page_offset");
            int64_t first = json_is_null(dpo) ? jint(m, "data_page_offset")
                                              : jint(m, "dictionary_page_offset");
            assert_int_equal(st->split_offsets[rg], first);
        }
        /* Parquet statistics of a long column: exact min/max of the group's rows */
        if (t->f[c].type == LAKE_LONG) {
            int64_t n = jint(m, "row_group_num_rows");
            bool any = false;
            int64_t lo = 0, hi = 0;
            for (int64_t r = rg_first_row; r < rg_first_row + n; r++) {
                const struct cell *x = cell_at(t, (int)r, c);
                if (x->null)
                    continue;
                if (!any || x->i < lo) lo = x->i;
                if (!any || x->i > hi) hi = x->i;
                any = true;
            }
            if (any) {
                assert_int_equal(jint(m, "stats_min_value"), lo);
                assert_int_equal(jint(m, "stats_max_value"), hi);
            }
        }
    }
    for (int c = 0; c < t->ncols; c++) {
        const struct pqw_column_stats *cs = &st->columns[c];
        int64_t want_nulls = 0, want_nans = 0;
        for (int r = 0; r < t->nrows; r++) {
            const struct cell *x = cell_at(t, r, c);
            want_nulls += x->null;
            want_nans += !x->null && (t->f[c].type == LAKE_FLOAT ||
                                      t->f[c].type == LAKE_DOUBLE) && isnan(x->d);
        }
        assert_int_equal(cs->field_id, t->f[c].id);
        assert_int_equal(cs->value_count, t->nrows);
        assert_int_equal(cs->null_count, want_nulls);
        assert_int_equal(cs->nan_count, want_nans);
        assert_int_equal(cs->compressed_size, csize[c]);
        assert_int_equal(cs->null_count, nulls[c]);
        assert_int_equal(cs->value_count, vals[c]);
        check_bounds(t, c, cs);
    }
    free(csize);
    free(nulls);
    free(vals);
}

/* ---- fixtures ------------------------------------------------------------------- */

static char tmpdir[256];

static int setup(void **state)
{
    (void)state;
    return unit_tmpdir_make(tmpdir, sizeof tmpdir, "parquet");
}

static int teardown(void **state)
{
    (void)state;
    return unit_tmpdir_remove(tmpdir);
}

static int count_tmp_files(void)
{
    DIR *d = opendir(tmpdir);
    struct dirent *de;
    int n = 0;
    while ((de = readdir(d)))
        if (strstr(de->d_name, ".tmp-"))
            n++;
    closedir(d);
    return n;
}

static struct lake_field all_fields[] = {
    {1, "l", LAKE_LONG, 0, 0, 0, true},
    {2, "i", LAKE_INT, 0, 0, 0, false},
    {3, "d", LAKE_DOUBLE, 0, 0, 0, false},
    {4, "f", LAKE_FLOAT, 0, 0, 0, true},
    {5, "b", LAKE_BOOLEAN, 0, 0, 0, false},
    {6, "s", LAKE_STRING, 0, 0, 0, false},
    {7, "bin", LAKE_BINARY, 0, 0, 0, false},
    {8, "dt", LAKE_DATE, 0, 0, 0, false},
    {9, "tm", LAKE_TIME, 0, 0, 0, false},
    {10, "ts", LAKE_TIMESTAMP, 0, 0, 0, false},
    {11, "tstz", LAKE_TIMESTAMPTZ, 0, 0, 0, true},
    {12, "d9", LAKE_DECIMAL, 9, 2, 0, false},
    {13, "d18", LAKE_DECIMAL, 18, 4, 0, true},
    {14, "d38", LAKE_DECIMAL, 38, 10, 0, false},
    {15, "u", LAKE_UUID, 0, 0, 0, false},
    {16, "fx", LAKE_FIXED, 0, 0, 5, false},
    {17, "s_req", LAKE_STRING, 0, 0, 0, true},
    {18, "b_req", LAKE_BOOLEAN, 0, 0, 0, true},
};
#define NALL ((int)(sizeof all_fields / sizeof all_fields[0]))

static void roundtrip(enum pqw_codec codec, bool dict, size_t page, size_t rg, int nrows,
                      int card, int min_groups)
{
    struct table t;
    table_gen(&t, all_fields, NALL, nrows, card);
    char *path = xasprintf("%s/all-%d-%d-%zu.parquet", tmpdir, codec, dict, page);
    struct pqw_options o = {.codec = codec, .page_bytes = page, .row_group_bytes = rg,
                            .no_dictionary = !dict, .created_by = "ivory version test",
                            .iceberg_schema_json = "{\"type\":\"struct\"}"};
    struct pqw_file_stats st;
    assert_int_equal(table_write(&t, path, &o, &st), IV_OK);
    assert_int_equal(count_tmp_files(), 0);
    assert_true(st.nsplits >= min_groups);
    json_t *j = run_reader("parquet_dump.mjs", path);
    /* DuckDB's view of the logical types */
    static const char *const duck[NALL] = {
        "BIGINT", "INTEGER", "DOUBLE", "FLOAT", "BOOLEAN", "VARCHAR", "BLOB", "DATE", "TIME",
        "TIMESTAMP", "TIMESTAMP WITH TIME ZONE", "DECIMAL(9,2)", "DECIMAL(18,4)",
        "DECIMAL(38,10)", "UUID", "BLOB", "VARCHAR", "BOOLEAN"};
    for (int c = 0; c < NALL; c++)
        assert_string_equal(json_str(json_object_get(j, "types"), all_fields[c].name), duck[c]);
    check_duckdb_rows(&t, j);
    check_stats(&t, path, j, &st);
    /* created_by and the iceberg.schema key */
    const json_t *fm = json_array_get(json_object_get(j, "file"), 0);
    assert_string_equal(json_string_value(json_object_get(fm, "created_by")), "ivory version test");
    const json_t *kv = json_array_get(json_object_get(j, "kv"), 0);
    assert_string_equal(json_string_value(json_object_get(kv, "key")), "iceberg.schema");
    assert_string_equal(json_string_value(json_object_get(kv, "value")), "{\"type\":\"struct\"}");
    /* encodings of the string column: dictionary only when enabled */
    const json_t *meta = json_object_get(j, "meta");
    size_t k;
    const json_t *m;
    bool saw_dict = false;
    json_array_foreach(meta, k, m) {
        const char *enc = json_string_value(json_object_get(m, "encodings"));
        const char *compr = json_string_value(json_object_get(m, "compression"));
        assert_string_equal(compr, codec == PQW_ZSTD ? "ZSTD" : codec == PQW_SNAPPY ? "SNAPPY"
                                                                     : "UNCOMPRESSED");
        if (strstr(enc, "RLE_DICTIONARY")) {
            saw_dict = true;
            assert_non_null(strstr(enc, "PLAIN_DICTIONARY"));
            assert_false(json_is_null(json_object_get(m, "dictionary_page_offset")));
        }
    }
    assert_int_equal(saw_dict, dict && card > 0);
    json_decref(j);
    check_hyparquet(&t, path);
    pqw_file_stats_release(&st);
    free(path);
    table_free(&t);
}

static void test_all_types_zstd_dict(void **state)
{
    (void)state;
    roundtrip(PQW_ZSTD, true, 4096, 48 * 1024, 3000, 20, 3);
}

static void test_all_types_zstd_plain(void **state)
{
    (void)state;
    roundtrip(PQW_ZSTD, false, 4096, 48 * 1024, 3000, 20, 3);
}

static void test_all_types_snappy(void **state)
{
    (void)state;
    roundtrip(PQW_SNAPPY, true, 8192, 1 << 20, 2000, 20, 1);
}

static void test_all_types_uncompressed(void **state)
{
    (void)state;
    roundtrip(PQW_UNCOMPRESSED, false, 1 << 20, 128 << 20, 1500, 0, 1);
}

static void test_high_cardinality_falls_back(void **state)
{
    (void)state;
    /* unique strings: the dictionary does not pay, pages are PLAIN */
    struct lake_field f[] = {{1, "s", LAKE_STRING, 0, 0, 0, true}};
    char *path = xasprintf("%s/hc.parquet", tmpdir);
    struct pqw *w;
    struct iv_err e = {0};
    assert_int_equal(pqw_open(&w, path, f, 1, NULL, &e), 0);
    char s[32];
    for (int r = 0; r < 5000; r++) {
        snprintf(s, sizeof s, "value-%08d", r * 7919 % 100003);
        assert_int_equal(pqw_put_bytes(w, 0, s, strlen(s)), 0);
        assert_int_equal(pqw_end_row(w), 0);
    }
    struct pqw_file_stats st;
    assert_int_equal(pqw_finish(w, &st, &e), 0);
    json_t *j = run_reader("parquet_dump.mjs", path);
    const json_t *m = json_array_get(json_object_get(j, "meta"), 0);
    assert_null(strstr(json_string_value(json_object_get(m, "encodings")), "DICTIONARY"));
    const json_t *rows = json_object_get(j, "rows");
    assert_int_equal(json_array_size(rows), 5000);
    snprintf(s, sizeof s, "value-%08d", 4999 * 7919 % 100003);
    assert_string_equal(json_string_value(json_array_get(json_array_get(rows, 4999), 0)), s);
    json_decref(j);
    pqw_file_stats_release(&st);
    free(path);
}

static void test_dictionary_overflow_mixed_pages(void **state)
{
    (void)state;
    /* dictionary pages first, then the dictionary passes 1 MiB and later pages are PLAIN */
    struct lake_field f[] = {{1, "s", LAKE_STRING, 0, 0, 0, false}};
    char *path = xasprintf("%s/mixed.parquet", tmpdir);
    struct pqw *w;
    struct iv_err e = {0};
    struct pqw_options o = {.codec = PQW_ZSTD, .page_bytes = 2048};
    assert_int_equal(pqw_open(&w, path, f, 1, &o, &e), 0);
    static char big[1000];
    int n = 6000;
    for (int r = 0; r < n; r++) {
        if (r % 11 == 0) {
            assert_int_equal(pqw_put_null(w, 0), 0);
        } else {
            int key = r < 3000 ? r % 3 : r;   /* repetitive first, then all distinct */
            memset(big, 'a' + key % 26, sizeof big);
            int len = snprintf(big, 40, "k%d-", key);
            big[len] = 'x';
            assert_int_equal(pqw_put_bytes(w, 0, big, sizeof big), 0);
        }
        assert_int_equal(pqw_end_row(w), 0);
    }
    struct pqw_file_stats st;
    assert_int_equal(pqw_finish(w, &st, &e), 0);
    json_t *j = run_reader("parquet_dump.mjs", path);
    const json_t *m = json_array_get(json_object_get(j, "meta"), 0);
    const char *enc = json_string_value(json_object_get(m, "encodings"));
    assert_non_null(strstr(enc, "RLE_DICTIONARY"));
    assert_non_null(strstr(enc, "PLAIN"));
    const json_t *rows = json_object_get(j, "rows");
    assert_int_equal(json_array_size(rows), (size_t)n);
    for (int r = 0; r < n; r++) {
        const json_t *v = json_array_get(json_array_get(rows, (size_t)r), 0);
        if (r % 11 == 0) {
            assert_true(json_is_null(v));
            continue;
        }
        int key = r < 3000 ? r % 3 : r;
        memset(big, 'a' + key % 26, sizeof big);
        int len = snprintf(big, 40, "k%d-", key);
        big[len] = 'x';
        assert_int_equal(json_string_length(v), sizeof big);
        assert_memory_equal(json_string_value(v), big, sizeof big);
    }
    assert_int_equal(st.columns[0].null_count, (n + 10) / 11);
    json_decref(j);
    pqw_file_stats_release(&st);
    free(path);
}

static void test_int_dictionary(void **state)
{
    (void)state;
    /* low-cardinality ints/dates/timestamps are dictionary-encoded (multi-page, multi-group) */
    struct lake_field f[] = {{1, "l", LAKE_LONG, 0, 0, 0, true},
                             {2, "i", LAKE_INT, 0, 0, 0, false},
                             {3, "dt", LAKE_DATE, 0, 0, 0, true},
                             {4, "ts", LAKE_TIMESTAMPTZ, 0, 0, 0, false}};
    struct table t;
    t.f = f;
    t.ncols = 4;
    t.nrows = 20000;
    t.cells = calloc((size_t)t.nrows * 4, sizeof *t.cells);
    for (int r = 0; r < t.nrows; r++) {
        cell_at(&t, r, 0)->i = (int64_t)(r % 10) - 5 + (r % 10 == 9 ? INT64_MAX - 4 : 0);
        cell_at(&t, r, 1)->null = r % 3 == 0;
        cell_at(&t, r, 1)->i = (r % 7) * 1000 - 3000;
        cell_at(&t, r, 2)->i = 19000 + r / 100;
        cell_at(&t, r, 3)->null = r % 5 == 0;
        cell_at(&t, r, 3)->i = 1700000000000000LL + (r % 4) * 3600000000LL;
    }
    char *path = xasprintf("%s/intdict.parquet", tmpdir);
    struct pqw_options o = {.codec = PQW_ZSTD, .page_bytes = 8192, .row_group_bytes = 20000};
    struct pqw_file_stats st;
    assert_int_equal(table_write(&t, path, &o, &st), IV_OK);
    assert_true(st.nsplits >= 2);
    json_t *j = run_reader("parquet_dump.mjs", path);
    check_duckdb_rows(&t, j);
    check_stats(&t, path, j, &st);
    size_t k;
    const json_t *m;
    json_array_foreach(json_object_get(j, "meta"), k, m)
        assert_non_null(strstr(json_string_value(json_object_get(m, "encodings")), "RLE_DICTIONARY"));
    json_decref(j);
    check_hyparquet(&t, path);
    pqw_file_stats_release(&st);
    free(path);
    free(t.cells);
}

static void test_zero_rows(void **state)
{
    (void)state;
    char *path = xasprintf("%s/empty.parquet", tmpdir);
    struct pqw *w;
    struct iv_err e = {0};
    assert_int_equal(pqw_open(&w, path, all_fields, NALL, NULL, &e), 0);
    struct pqw_file_stats st;
    assert_int_equal(pqw_finish(w, &st, &e), 0);
    assert_int_equal(st.record_count, 0);
    assert_int_equal(st.nsplits, 0);
    for (int c = 0; c < NALL; c++)
        assert_false(st.columns[c].has_bounds);
    json_t *j = run_reader("parquet_dump.mjs", path);
    assert_int_equal(json_array_size(json_object_get(j, "rows")), 0);
    assert_int_equal(json_array_size(json_object_get(j, "columns")), NALL);
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(st.file_size, sb.st_size);
    json_decref(j);
    pqw_file_stats_release(&st);
    free(path);
}

static void test_all_null_column_and_bounds(void **state)
{
    (void)state;
    struct lake_field f[] = {
        {1, "n", LAKE_STRING, 0, 0, 0, false},
        {2, "s", LAKE_STRING, 0, 0, 0, true},
        {3, "bin", LAKE_BINARY, 0, 0, 0, true},
        {4, "dec", LAKE_DECIMAL, 38, 0, 0, true},
        {5, "dbl", LAKE_DOUBLE, 0, 0, 0, true},
    };
    char *path = xasprintf("%s/bounds.parquet", tmpdir);
    struct pqw *w;
    struct iv_err e = {0};
    assert_int_equal(pqw_open(&w, path, f, 5, NULL, &e), 0);
    /* 20 bytes: "ab" + 5 x U+00E9 (2 bytes) + 8 x 'z'; max ends in U+10FFFF past byte 16 */
    const char *s1 = "ab\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9zzzzzzzz";
    const char *s2 = "zzzzzzzzzzzzzzz\xf4\x8f\xbf\xbfq";   /* 15 z + U+10FFFF + q */
    const uint8_t b1[20] = {0x01, 0xFF, 0xFF}, b2[18] = {0x02, [15] = 0xFF, 0xFF, 0xFF};
    __int128 decs[2] = {-1, 128};
    double dbls[2] = {NAN, -0.0};
    for (int r = 0; r < 2; r++) {
        assert_int_equal(pqw_put_null(w, 0), 0);
        const char *s = r ? s2 : s1;
        assert_int_equal(pqw_put_bytes(w, 1, s, strlen(s)), 0);
        assert_int_equal(pqw_put_bytes(w, 2, r ? b2 : b1, r ? sizeof b2 : sizeof b1), 0);
        assert_int_equal(pqw_put_decimal(w, 3, decs[r]), 0);
        assert_int_equal(pqw_put_double(w, 4, dbls[r]), 0);
        assert_int_equal(pqw_end_row(w), 0);
    }
    struct pqw_file_stats st;
    assert_int_equal(pqw_finish(w, &st, &e), 0);
    assert_false(st.columns[0].has_bounds);
    assert_int_equal(st.columns[0].null_count, 2);
    /* lower: cut at 16 bytes on a character boundary = "ab" + 5 x U+00E9 + 4 z */
    assert_true(st.columns[1].has_bounds);
    assert_int_equal(st.columns[1].lower_len, 16);
    assert_memory_equal(st.columns[1].lower, s1, 16);
    /* upper: 15 z + U+10FFFF does not fit in 16 bytes -> "zzz..z" (15) then last z -> '{' */
    assert_int_equal(st.columns[1].upper_len, 15);
    assert_memory_equal(st.columns[1].upper, "zzzzzzzzzzzzzz{", 15);
    /* binary: lower = first 16 bytes; upper = 02 00.. 00 FF truncated 16 -> 02 00 .. 01 00? */
    assert_int_equal(st.columns[2].lower_len, 16);
    assert_memory_equal(st.columns[2].lower, b1, 16);
    uint8_t want_up[16] = {0x02};
    want_up[14] = 0x01;   /* 02 00*13 00 FF -> drop FF, increment byte 14 */
    assert_int_equal(st.columns[2].upper_len, 15);
    assert_memory_equal(st.columns[2].upper, want_up, 15);
    /* decimal minimal two's complement: -1 -> FF, 128 -> 00 80 */
    assert_int_equal(st.columns[3].lower_len, 1);
    assert_int_equal(st.columns[3].lower[0], 0xFF);
    assert_int_equal(st.columns[3].upper_len, 2);
    assert_int_equal(st.columns[3].upper[0], 0x00);
    assert_int_equal(st.columns[3].upper[1], 0x80);
    /* double: NaN excluded and counted; -0.0 is both bounds */
    assert_int_equal(st.columns[4].nan_count, 1);
    double lo, hi;
    memcpy(&lo, st.columns[4].lower, 8);
    memcpy(&hi, st.columns[4].upper, 8);
    assert_true(lo == 0 && signbit(lo) && hi == 0 && signbit(hi));
    json_t *j = run_reader("parquet_dump.mjs", path);
    assert_int_equal(json_array_size(json_object_get(j, "rows")), 2);
    json_decref(j);
    pqw_file_stats_release(&st);
    free(path);
}

static void test_long_null_runs_split_pages(void **state)
{
    (void)state;
    /* 100k rows: a column that is always null and one that is mostly null */
    struct lake_field f[] = {{1, "a", LAKE_LONG, 0, 0, 0, false},
                             {2, "b", LAKE_STRING, 0, 0, 0, false}};
    char *path = xasprintf("%s/nulls.parquet", tmpdir);
    struct pqw *w;
    struct iv_err e = {0};
    struct pqw_options o = {.codec = PQW_SNAPPY, .page_bytes = 1024};
    assert_int_equal(pqw_open(&w, path, f, 2, &o, &e), 0);
    int n = 100000;
    for (int r = 0; r < n; r++) {
        assert_int_equal(pqw_put_null(w, 0), 0);
        if (r % 9999 == 0)
            assert_int_equal(pqw_put_bytes(w, 1, "x", 1), 0);
        else
            assert_int_equal(pqw_put_null(w, 1), 0);
        assert_int_equal(pqw_end_row(w), 0);
    }
    struct pqw_file_stats st;
    assert_int_equal(pqw_finish(w, &st, &e), 0);
    assert_int_equal(st.columns[0].null_count, n);
    assert_false(st.columns[0].has_bounds);
    assert_int_equal(st.columns[1].null_count, n - 11);
    assert_true(st.columns[1].has_bounds);
    json_t *j = run_reader("parquet_dump.mjs", path);
    const json_t *rows = json_object_get(j, "rows");
    assert_int_equal(json_array_size(rows), (size_t)n);
    for (int r = 0; r < n; r++) {
        const json_t *row = json_array_get(rows, (size_t)r);
        assert_true(json_is_null(json_array_get(row, 0)));
        if (r % 9999 == 0)
            assert_string_equal(json_string_value(json_array_get(row, 1)), "x");
        else
            assert_true(json_is_null(json_array_get(row, 1)));
    }
    json_decref(j);
    pqw_file_stats_release(&st);
    free(path);
}

/* The footer carries the Thrift compact bytes the format documents (worked examples
 * in parquet-format / the Thrift compact spec), e.g. the SchemaElement of an optional
 * string column id 2 named "data" and a timestamptz LogicalType. */
static void test_footer_thrift_bytes(void **state)
{
    (void)state;
    struct lake_field f[] = {{2, "data", LAKE_STRING, 0, 0, 0, false},
                             {3, "ts", LAKE_TIMESTAMPTZ, 0, 0, 0, true}};
    char *path = xasprintf("%s/thrift.parquet", tmpdir);
    struct pqw *w;
    struct iv_err e = {0};
    assert_int_equal(pqw_open(&w, path, f, 2, NULL, &e), 0);
    assert_int_equal(pqw_put_bytes(w, 0, "x", 1), 0);
    assert_int_equal(pqw_put_i64(w, 1, 1), 0);
    assert_int_equal(pqw_end_row(w), 0);
    assert_int_equal(pqw_finish(w, NULL, &e), 0);
    char *data;
    size_t len;
    assert_int_equal(file_read_all(path, 1 << 20, &data, &len, &e), 0);
    assert_true(len > 12);
    assert_memory_equal(data, "PAR1", 4);
    assert_memory_equal(data + len - 4, "PAR1", 4);
    uint32_t flen;
    memcpy(&flen, data + len - 8, 4);
    assert_true(flen < len - 12);
    const char *footer = data + len - 8 - flen;
    static const uint8_t se[] = {0x15, 0x0C, 0x25, 0x02, 0x18, 0x04, 'd', 'a', 't', 'a', 0x25,
                                 0x00, 0x35, 0x04, 0x1C, 0x1C, 0x00, 0x00, 0x00};
    assert_non_null(memmem(footer, flen, se, sizeof se));
    static const uint8_t tstz[] = {0x1C, 0x8C, 0x11, 0x1C, 0x2C, 0x00, 0x00, 0x00, 0x00};
    assert_non_null(memmem(footer, flen, tstz, sizeof tstz));
    /* column_orders: list header (2 x struct) then TYPE_ORDER{} twice, then stop */
    static const uint8_t co[] = {0x2C, 0x1C, 0x00, 0x00, 0x1C, 0x00, 0x00, 0x00};
    assert_memory_equal(footer + flen - sizeof co, co, sizeof co);
    free(data);
    free(path);
}

static void test_errors_are_sticky_and_leave_nothing(void **state)
{
    (void)state;
    struct lake_field f[] = {
        {1, "id", LAKE_LONG, 0, 0, 0, true},
        {2, "u", LAKE_UUID, 0, 0, 0, false},
        {3, "d", LAKE_DECIMAL, 4, 2, 0, false},
    };
    char *path = xasprintf("%s/bad.parquet", tmpdir);
    struct pqw *w;
    struct iv_err e = {0};
    /* wrong type */
    assert_int_equal(pqw_open(&w, path, f, 3, NULL, &e), 0);
    assert_int_equal(pqw_put_i32(w, 0, 1), IV_EINVAL);
    assert_int_equal(pqw_put_i64(w, 0, 1), IV_EINVAL);   /* sticky */
    assert_int_equal(pqw_finish(w, NULL, &e), IV_EINVAL);
    assert_non_null(strstr(e.msg, "id"));
    assert_int_equal(access(path, F_OK), -1);
    assert_int_equal(count_tmp_files(), 0);
    /* required null, uuid length, decimal overflow, out-of-order, short row */
    for (int k = 0; k < 5; k++) {
        assert_int_equal(pqw_open(&w, path, f, 3, NULL, &e), 0);
        int rc = 0;
        switch (k) {
        case 0: rc = pqw_put_null(w, 0); break;
        case 1: pqw_put_i64(w, 0, 1); rc = pqw_put_bytes(w, 1, "short", 5); break;
        case 2: pqw_put_i64(w, 0, 1); pqw_put_null(w, 1); rc = pqw_put_decimal(w, 2, 10000); break;
        case 3: rc = pqw_put_i64(w, 1, 1); break;
        case 4: pqw_put_i64(w, 0, 1); rc = pqw_end_row(w); break;
        }
        assert_int_equal(rc, IV_EINVAL);
        assert_int_equal(pqw_end_row(w), IV_EINVAL);
        assert_int_not_equal(pqw_finish(w, NULL, &e), 0);
        assert_int_equal(access(path, F_OK), -1);
    }
    /* abort removes the temp file */
    assert_int_equal(pqw_open(&w, path, f, 3, NULL, &e), 0);
    assert_int_equal(count_tmp_files(), 1);
    pqw_abort(w);
    assert_int_equal(count_tmp_files(), 0);
    pqw_abort(NULL);
    /* bad schemas */
    struct lake_field bad[] = {{1, "d", LAKE_DECIMAL, 39, 2, 0, true}};
    assert_int_equal(pqw_open(&w, path, bad, 1, NULL, &e), IV_EINVAL);
    struct lake_field dup[] = {{1, "a", LAKE_LONG, 0, 0, 0, true}, {1, "b", LAKE_LONG, 0, 0, 0, true}};
    assert_int_equal(pqw_open(&w, path, dup, 2, NULL, &e), IV_EINVAL);
    assert_int_equal(pqw_open(&w, "/nonexistent-dir/x.parquet", f, 3, NULL, &e), IV_EIO);
    assert_int_equal(count_tmp_files(), 0);
    free(path);
}

static void test_type_strings(void **state)
{
    (void)state;
    const char *ok[] = {"boolean", "int", "long", "float", "double", "date", "time",
                        "timestamp", "timestamptz", "string", "binary", "uuid",
                        "decimal(9,2)", "decimal(38,10)", "fixed[16]"};
    for (size_t k = 0; k < sizeof ok / sizeof ok[0]; k++) {
        struct lake_field f = {0};
        char out[32];
        assert_int_equal(lake_type_parse(ok[k], &f), 0);
        lake_type_string(&f, out);
        assert_string_equal(out, ok[k]);
    }
    struct lake_field f = {0};
    assert_int_equal(lake_type_parse(" decimal( 10 , 3 ) ", &f), 0);
    assert_int_equal(f.type, LAKE_DECIMAL);
    assert_int_equal(f.precision, 10);
    assert_int_equal(f.scale, 3);
    const char *bad[] = {"", "decimal(39,1)", "decimal(5,6)", "decimal(5)", "fixed[0]",
                         "fixed[", "longer", "timestamp_ns", "decimal(1,1)x"};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++)
        assert_int_not_equal(lake_type_parse(bad[k], &f), 0);
}

/* Parquet field names as Iceberg's Java writer makes them (AvroSchemaUtil.makeCompatibleName);
 * expected values worked out by hand from that code. */
static void check_avro(const char *in, const char *want)
{
    char *got = pq_avro_name(in);
    assert_string_equal(got, want);
    free(got);
}

static void test_avro_names(void **state)
{
    (void)state;
    check_avro("id", "id");
    check_avro("_sdc_x", "_sdc_x");
    check_avro("Foo::Bar", "Foo_x3A_x3ABar");
    check_avro("a.b", "a_x2Eb");
    check_avro("with space", "with_x20space");
    check_avro("kebab-case", "kebab_x2Dcase");
    check_avro("1st", "_1st");
    check_avro("a1", "a1");
    check_avro("$ref", "_x24ref");
    check_avro("caf\xc3\xa9", "caf\xc3\xa9");          /* é is a letter in Java */
    check_avro("\xc3\xa9t\xc3\xa9", "\xc3\xa9t\xc3\xa9");
    check_avro("x\xf0\x9f\x8e\x89", "x_xD83C_xDF89");   /* U+1F389: a surrogate pair */
    check_avro("\xd9\xa3x", "_\xd9\xa3x");               /* Arabic-Indic digit three first */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_type_strings),
        cmocka_unit_test(test_all_types_zstd_dict),
        cmocka_unit_test(test_all_types_zstd_plain),
        cmocka_unit_test(test_all_types_snappy),
        cmocka_unit_test(test_all_types_uncompressed),
        cmocka_unit_test(test_high_cardinality_falls_back),
        cmocka_unit_test(test_dictionary_overflow_mixed_pages),
        cmocka_unit_test(test_int_dictionary),
        cmocka_unit_test(test_zero_rows),
        cmocka_unit_test(test_all_null_column_and_bounds),
        cmocka_unit_test(test_long_null_runs_split_pages),
        cmocka_unit_test(test_footer_thrift_bytes),
        cmocka_unit_test(test_errors_are_sticky_and_leave_nothing),
        cmocka_unit_test(test_avro_names),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
