/*
 * test_singer_fast: the shortcuts of the RECORD fast path agree with the general
 * code they bypass. Each case is decoded through the public decoder and compared
 * with an independent reference on the same text: strtod for numbers, strtoll for
 * integers, util's iso8601_parse_us for dates and timestamps, jansson for strings
 * (acceptance and unescaped bytes), and the general envelope scan for the
 * RECORD-prefix shortcut. Inputs are generated (fixed seed) around the edges the
 * shortcuts test: digit counts, exponents, calendar limits, fraction lengths,
 * escapes, UTF-8, control bytes and strings that end near the end of the buffer.
 */
#include "unit.h"
#include "singer/singer.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- capturing sink: the last value per column, and which kind it was -------- */
enum { V_NONE, V_NULL, V_BOOL, V_I32, V_I64, V_F64, V_BYTES };
struct cap {
    int kind[8];
    int32_t i32[8];
    int64_t i64[8];
    double f64[8];
    char bytes[8][256];
    size_t nbytes[8];
};
static int c_null(void *c, int col) { ((struct cap *)c)->kind[col] = V_NULL; return 0; }
static int c_bool(void *c, int col, bool v) { (void)v; ((struct cap *)c)->kind[col] = V_BOOL; return 0; }
static int c_i32(void *c, int col, int32_t v)
{
    ((struct cap *)c)->kind[col] = V_I32;
    ((struct cap *)c)->i32[col] = v;
    return 0;
}
static int c_i64(void *c, int col, int64_t v)
{
    ((struct cap *)c)->kind[col] = V_I64;
    ((struct cap *)c)->i64[col] = v;
    return 0;
}
static int c_f64(void *c, int col, double v)
{
    ((struct cap *)c)->kind[col] = V_F64;
    ((struct cap *)c)->f64[col] = v;
    return 0;
}
static int c_bytes(void *c, int col, const void *p, size_t n)
{
    struct cap *k = c;
    k->kind[col] = V_BYTES;
    k->nbytes[col] = n < sizeof k->bytes[col] ? n : sizeof k->bytes[col];
    if (n)
        memcpy(k->bytes[col], p, k->nbytes[col]);
    return 0;
}
static int c_end(void *c) { (void)c; return 0; }

enum { COL_TS, COL_D, COL_X, COL_N, COL_S };

static struct singer_stream *new_stream(void)
{
    const char *schema =
        "{\"properties\":{\"ts\":{\"type\":[\"null\",\"string\"],\"format\":\"date-time\"},"
        "\"d\":{\"type\":[\"null\",\"string\"],\"format\":\"date\"},"
        "\"x\":{\"type\":[\"null\",\"number\"]},\"n\":{\"type\":[\"null\",\"integer\"]},"
        "\"s\":{\"type\":[\"null\",\"string\"]}}}";
    json_error_t je;
    json_t *sj = json_loads(schema, 0, &je);
    assert_non_null(sj);
    struct singer_column *cols;
    int n;
    struct iv_err e;
    assert_int_equal(singer_schema_map(sj, NULL, &cols, &n, &e), IV_OK);
    json_decref(sj);
    assert_int_equal(n, 5);
    return singer_stream_new("s", cols, n);
}

/* Decodes {"<key>":<value>} from an exact-size heap copy (ASan sees overreads). */
static int decode_one(struct singer_stream *st, const char *key, const char *value, size_t vlen,
                      struct cap *cap)
{
    size_t kl = strlen(key), n = kl + vlen + 5;
    char *rec = malloc(n);
    assert_non_null(rec);
    rec[0] = '{';
    rec[1] = '"';
    memcpy(rec + 2, key, kl);
    rec[2 + kl] = '"';
    rec[3 + kl] = ':';
    memcpy(rec + 4 + kl, value, vlen);
    rec[n - 1] = '}';
    memset(cap, 0, sizeof *cap);
    struct singer_sink sk = {cap, c_null, c_bool, c_i32, c_i64, c_f64, c_bytes, c_end, NULL};
    struct iv_err e;
    int rc = singer_stream_decode(st, rec, n, &sk, &e);
    free(rec);
    return rc;
}

static uint64_t g_rng = 0x9E3779B97F4A7C15ull;
static uint32_t rnd(uint32_t n)
{
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return (uint32_t)(g_rng % n);
}

/* ---- dates and timestamps ------------------------------------------------------- */
static void random_iso(char *o, size_t cap)
{
    int y = (int)rnd(10000), mo = (int)rnd(14), d = (int)rnd(33), h = (int)rnd(26),
        mi = (int)rnd(61), s = (int)rnd(62);
    if (rnd(4) == 0) {   /* around February 29th */
        mo = 2;
        d = 28 + (int)rnd(3);
        y = (int)(rnd(5) * 100 + rnd(8));
    }
    int k = snprintf(o, cap, "%04d-%02d-%02d", y, mo, d);
    if (rnd(3) == 0)
        return;
    static const char seps[] = "TTTTt x";
    k += snprintf(o + k, cap - (size_t)k, "%c%02d:%02d", seps[rnd(7)], h, mi);
    if (rnd(8))
        k += snprintf(o + k, cap - (size_t)k, ":%02d", s);
    if (rnd(2)) {
        int nf = (int)rnd(11);
        o[k++] = rnd(10) ? '.' : ',';
        for (int i = 0; i < nf; i++)
            o[k++] = (char)('0' + rnd(10));
        o[k] = '\0';
    }
    static const char *tz[] = {"Z", "Z", "Z", "z", "", "+01:00", "-0530", "+14", "Zx"};
    snprintf(o + k, cap - (size_t)k, "%s", tz[rnd(9)]);
    if (rnd(10) == 0)   /* one damaged byte */
        o[rnd((uint32_t)strlen(o))] = "0-:T.Z/a"[rnd(8)];
}

static void test_timestamps_match_iso8601_parse(void **state)
{
    (void)state;
    struct singer_stream *st = new_stream();
    struct cap cap;
    char s[96], v[112];
    int accepted = 0;
    for (int i = 0; i < 200000; i++) {
        random_iso(s, sizeof s);
        int vn = snprintf(v, sizeof v, "\"%s\"", s);
        int64_t want;
        bool ok = iso8601_parse_us(s, strlen(s), &want) == IV_OK;
        int rc = decode_one(st, "ts", v, (size_t)vn, &cap);
        if (ok != (rc == IV_OK))
            fail_msg("\"%s\": reference %s, decoder %s", s, ok ? "accepts" : "rejects",
                     rc == IV_OK ? "accepts" : "rejects");
        if (ok) {
            accepted++;
            assert_int_equal(cap.kind[COL_TS], V_I64);
            if (cap.i64[COL_TS] != want)
                fail_msg("\"%s\": %lld, want %lld", s, (long long)cap.i64[COL_TS],
                         (long long)want);
        }
        /* the same text as a date */
        const int64_t day = INT64_C(86400000000);
        bool dok = ok && want % day == 0 && want / day >= INT32_MIN && want / day <= INT32_MAX;
        rc = decode_one(st, "d", v, (size_t)vn, &cap);
        if (dok != (rc == IV_OK))
            fail_msg("date \"%s\": reference %s, decoder %s", s, dok ? "accepts" : "rejects",
                     rc == IV_OK ? "accepts" : "rejects");
        if (dok) {
            assert_int_equal(cap.kind[COL_D], V_I32);
            assert_int_equal(cap.i32[COL_D], (int32_t)(want / day));
        }
    }
    assert_true(accepted > 20000);   /* the generator reaches the accepting paths */
    singer_stream_free(st);
}

/* ---- numbers ---------------------------------------------------------------------- */
static size_t random_number(char *o, bool integer_only)
{
    size_t k = 0;
    if (rnd(3) == 0)
        o[k++] = '-';
    int nint = 1 + (int)rnd(rnd(4) ? 8 : 22);
    for (int i = 0; i < nint; i++) {
        char c = (char)('0' + rnd(10));
        if (i == 0 && nint > 1 && c == '0')
            c = '1';
        o[k++] = c;
    }
    if (!integer_only && rnd(3)) {
        o[k++] = '.';
        int nf = 1 + (int)rnd(rnd(3) ? 6 : 24);
        for (int i = 0; i < nf; i++)
            o[k++] = (char)('0' + (rnd(4) ? rnd(10) : 0));
    }
    if (!integer_only && rnd(5) == 0) {
        o[k++] = rnd(2) ? 'e' : 'E';
        if (rnd(2))
            o[k++] = rnd(2) ? '-' : '+';
        k += (size_t)sprintf(o + k, "%u", rnd(rnd(2) ? 25 : 400));
    }
    o[k] = '\0';
    return k;
}

static void test_doubles_match_strtod(void **state)
{
    (void)state;
    struct singer_stream *st = new_stream();
    struct cap cap;
    char s[96];
    static const char *edge[] = {"0", "-0", "0.0", "-0.0", "9007199254740992",
                                 "9007199254740993", "1e22", "1e23", "123456789012345678",
                                 "0.1", "0.30000000000000004", "4.9e-324", "1.7976931348623157e308",
                                 "2.2250738585072014e-308", "1e-22", "12345678901234567890",
                                 "1234567890123456789", "0.000000000000000000001"};
    for (int i = 0; i < 300000; i++) {
        size_t n = i < (int)(sizeof edge / sizeof *edge) ? strlen(strcpy(s, edge[i]))
                                                           : random_number(s, false);
        errno = 0;
        double want = strtod(s, NULL);
        bool ok = isfinite(want);
        int rc = decode_one(st, "x", s, n, &cap);
        if (ok != (rc == IV_OK))
            fail_msg("%s: reference %s, decoder %s", s, ok ? "accepts" : "rejects",
                     rc == IV_OK ? "accepts" : "rejects");
        if (ok) {
            assert_int_equal(cap.kind[COL_X], V_F64);
            if (memcmp(&cap.f64[COL_X], &want, sizeof want) != 0)
                fail_msg("%s: %.17g, strtod says %.17g", s, cap.f64[COL_X], want);
        }
        double got = 0;   /* the transform stage's number helper agrees too */
        if ((singer_number_double(s, n, &got) == 0) != ok ||
            (ok && memcmp(&got, &want, sizeof want) != 0))
            fail_msg("%s: singer_number_double %.17g, strtod says %.17g", s, got, want);
    }
    singer_stream_free(st);
}

static void test_integers_match_strtoll(void **state)
{
    (void)state;
    struct singer_stream *st = new_stream();
    struct cap cap;
    char s[96];
    static const char *edge[] = {"0", "-0", "9223372036854775807", "-9223372036854775808",
                                 "9223372036854775808", "-9223372036854775809",
                                 "999999999999999999", "1000000000000000000",
                                 "-999999999999999999", "18446744073709551616"};
    for (int i = 0; i < 200000; i++) {
        size_t n = i < (int)(sizeof edge / sizeof *edge) ? strlen(strcpy(s, edge[i]))
                                                           : random_number(s, true);
        errno = 0;
        long long want = strtoll(s, NULL, 10);
        bool ok = errno == 0;
        int rc = decode_one(st, "n", s, n, &cap);
        if (ok != (rc == IV_OK))
            fail_msg("%s: reference %s, decoder %s", s, ok ? "accepts" : "rejects",
                     rc == IV_OK ? "accepts" : "rejects");
        if (ok) {
            assert_int_equal(cap.kind[COL_N], V_I64);
            assert_true(cap.i64[COL_N] == want);
        }
        int64_t got = 0;   /* the transform stage's number helper agrees too */
        if ((singer_number_int64(s, n, &got) == 0) != ok || (ok && got != want))
            fail_msg("%s: singer_number_int64 %lld, strtoll says %lld", s, (long long)got, want);
    }
    /* a fraction or exponent in an integer column is a type error, not a truncation */
    assert_int_not_equal(decode_one(st, "n", "12.5", 4, &cap), IV_OK);
    assert_int_not_equal(decode_one(st, "n", "1e3", 3, &cap), IV_OK);
    assert_int_not_equal(decode_one(st, "n", "012", 3, &cap), IV_OK);
    singer_stream_free(st);
}

/* ---- strings ---------------------------------------------------------------------- */
static size_t random_string_body(char *o)
{
    static const char *atoms[] = {"a", "b", "Z", " ", "~", "0", "\\\"", "\\\\", "\\/", "\\n",
                                  "\\u00e9", "\\ud83d\\ude00", "\xc3\xa9", "\xe2\x82\xac",
                                  "\xf0\x9f\x98\x80", "\x7f", "\x01", "\xc3", "\xed\xa0\x80",
                                  "\\x", "\\u12", "\\ud800", "\xff", "\"", "\t"};
    size_t natoms = sizeof atoms / sizeof *atoms;
    size_t k = 0;
    int len = (int)rnd(rnd(2) ? 18 : 60);
    for (int i = 0; i < len; i++) {
        /* mostly plain bytes so the vector paths see long plain runs */
        const char *a = rnd(6) ? atoms[rnd(6)] : atoms[rnd((uint32_t)natoms)];
        size_t al = strlen(a);
        memcpy(o + k, a, al);
        k += al;
    }
    return k;
}

static void test_strings_match_jansson(void **state)
{
    (void)state;
    struct singer_stream *st = new_stream();
    struct cap cap;
    char body[1024], v[1100], whole[1200];
    for (int i = 0; i < 200000; i++) {
        size_t bn = random_string_body(body);
        v[0] = '"';
        memcpy(v + 1, body, bn);
        size_t vn = bn + 1;
        if (rnd(20))
            v[vn++] = '"';   /* else unterminated */
        int rc = decode_one(st, "s", v, vn, &cap);
        int wn = snprintf(whole, sizeof whole, "{\"s\":%.*s}", (int)vn, v);
        json_error_t je;
        json_t *j = json_loadb(whole, (size_t)wn, JSON_ALLOW_NUL, &je);
        if ((j != NULL) != (rc == IV_OK))
            fail_msg("%s: jansson %s, decoder %s", whole, j ? "accepts" : "rejects",
                     rc == IV_OK ? "accepts" : "rejects");
        if (j) {
            const json_t *s = json_object_get(j, "s");
            size_t jn = json_string_length(s);
            assert_int_equal(cap.kind[COL_S], V_BYTES);
            assert_int_equal(cap.nbytes[COL_S], jn < 256 ? jn : 256);
            assert_memory_equal(cap.bytes[COL_S], json_string_value(s), cap.nbytes[COL_S]);
            json_decref(j);
        }
    }
    singer_stream_free(st);
}

/* ---- the RECORD envelope shortcut ------------------------------------------------ */
static void test_record_prefix_matches_general_scan(void **state)
{
    (void)state;
    struct singer_parser p1, p2;
    singer_parser_init(&p1);
    singer_parser_init(&p2);
    char name[64], line[256], slow[260];
    for (int i = 0; i < 50000; i++) {
        size_t nn = 0;
        int len = (int)rnd(12);
        for (int k = 0; k < len; k++)
            name[nn++] = "ab_-. Z9\xc3\xa9\\\"/"[rnd(14)];
        name[nn] = '\0';
        const char *tail = rnd(2) ? "{\"id\":1}}" : "{\"id\":1},\"time_extracted\":\"x\"}";
        int n = snprintf(line, sizeof line, "{\"type\":\"RECORD\",\"stream\":\"%s\",\"record\":%s",
                         name, tail);
        /* the same message with a space the shortcut does not accept: general scan */
        int m = snprintf(slow, sizeof slow, "{\"type\":\"RECORD\", \"stream\":\"%s\",\"record\":%s",
                         name, tail);
        struct singer_msg a, b;
        struct iv_err e1, e2;
        int r1 = singer_parse_line(&p1, line, (size_t)n, &a, &e1);
        int r2 = singer_parse_line(&p2, slow, (size_t)m, &b, &e2);
        assert_int_equal(r1, r2);
        if (r1 == IV_OK) {
            assert_int_equal(a.type, b.type);
            assert_int_equal(a.stream_len, b.stream_len);
            assert_memory_equal(a.stream, b.stream, a.stream_len);
            assert_int_equal(a.record_open, b.record_open);
            assert_int_equal(a.record_len, b.record_len);
            assert_memory_equal(a.record, b.record, a.record_len);
            singer_msg_clear(&a);
            singer_msg_clear(&b);
        }
    }
    singer_parser_release(&p1);
    singer_parser_release(&p2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_timestamps_match_iso8601_parse),
        cmocka_unit_test(test_doubles_match_strtod),
        cmocka_unit_test(test_integers_match_strtoll),
        cmocka_unit_test(test_strings_match_jansson),
        cmocka_unit_test(test_record_prefix_matches_general_scan),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
