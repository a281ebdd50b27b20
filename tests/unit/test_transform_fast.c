/*
 * test_transform_fast: the expression evaluator's fast paths give exactly what the general
 * paths give. lower()/upper() of Latin-1 text (mapped without libunistring) are compared with
 * libunistring's full case mapping itself, for every code point below U+0100 in three
 * positions of a string; the shared immortal small ints (-5..256) are ordinary ints to every
 * operation (arithmetic, str, comparison, release) and the values next to the range are
 * still allocated ones; round(float) gives the same ints inside and outside int64. Ints
 * at the int64 edges (held inline, with overflow-checked fast paths) give GMP's results on
 * every side of the edge; len() (the code point count of a str, counted without libunistring
 * for valid UTF-8) agrees with libunistring's u8_mbsnlen on random valid and invalid bytes.
 */
#include "unit.h"
#include "transform/transform.h"

#include <string.h>
#include <unicase.h>
#include <unistr.h>

/* Evaluates src with `value` bound; the result's JSON text into out (caller frees). */
static char *eval_json(const char *src, struct tx_value *value)
{
    struct tx_expr *x = NULL;
    struct tx_error err;
    assert_int_equal(tx_compile(src, strlen(src), &x, &err), IV_OK);
    struct tx_value *r = NULL;
    assert_int_equal(tx_eval(x, value, NULL, NULL, &r, &err), IV_OK);
    struct buf b;
    buf_init(&b, 1u << 20);
    assert_int_equal(tx_to_json_text(r, &b, &err), IV_OK);
    buf_putc(&b, '\0');
    size_t n;
    char *out = buf_detach(&b, &n);
    tx_unref(r);
    tx_expr_free(x);
    return out;
}

/* The expected case mapping, from libunistring directly (no language, whole string). */
static char *expected_case(const char *s, bool upper)
{
    size_t n = 0;
    uint8_t *r = (upper ? u8_ct_toupper : u8_ct_tolower)(
        (const uint8_t *)s, strlen(s), unicase_empty_prefix_context,
        unicase_empty_suffix_context, NULL, NULL, NULL, &n);
    assert_non_null(r);
    char *out = malloc(n + 1);
    memcpy(out, r, n);
    out[n] = '\0';
    free(r);
    return out;
}

static void test_latin1_case_matches_libunistring(void **state)
{
    (void)state;
    for (unsigned cp = 0x80; cp < 0x100; cp++) {
        uint8_t ch[4];
        int k = u8_uctomb(ch, cp, sizeof ch);
        assert_int_equal(k, 2);
        char s[32];
        snprintf(s, sizeof s, "%.2sAb%.2s z%.2s", (char *)ch, (char *)ch, (char *)ch);
        for (int upper = 0; upper < 2; upper++) {
            struct tx_value *v = tx_str(s, strlen(s));
            char *want_text = expected_case(s, upper);
            struct tx_value *want = tx_str(want_text, strlen(want_text));
            char *got = eval_json(upper ? "value.upper()" : "value.lower()", v);
            char *exp = eval_json("value", want);
            assert_string_equal(got, exp);
            free(got);
            free(exp);
            /* the code point count is the mapped text's, not the source's ('ß' -> 'SS') */
            got = eval_json(upper ? "len(value.upper())" : "len(value.lower())", v);
            exp = eval_json("len(value)", want);
            assert_string_equal(got, exp);
            free(got);
            free(exp);
            free(want_text);
            tx_unref(want);
            tx_unref(v);
        }
    }
}

static void test_case_beyond_latin1_and_long_text(void **state)
{
    (void)state;
    /* beyond U+00FF (libunistring path) and past the 256-byte stack buffer */
    const char *cases[] = {"\xc4\xb0\xc3\xa9", "\xce\xa3\xc3\xa9 \xce\xa3", "x\xc3\xa9"};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        for (int upper = 0; upper < 2; upper++) {
            struct tx_value *v = tx_str(cases[i], strlen(cases[i]));
            char *want_text = expected_case(cases[i], upper);
            struct tx_value *want = tx_str(want_text, strlen(want_text));
            char *got = eval_json(upper ? "value.upper()" : "value.lower()", v);
            char *exp = eval_json("value", want);
            assert_string_equal(got, exp);
            free(got), free(exp), free(want_text);
            tx_unref(want);
            tx_unref(v);
        }
    }
    char big[1201];
    for (int i = 0; i < 600; i++)
        memcpy(big + 2 * i, "\xc3\x9f", 2);   /* 600 x 'ß' */
    big[1200] = '\0';
    struct tx_value *v = tx_str(big, 1200);
    char *got = eval_json("len(value.upper())", v);
    assert_string_equal(got, "1200");
    free(got);
    got = eval_json("value.upper() == 'SS' * 600", v);
    assert_string_equal(got, "true");
    free(got);
    tx_unref(v);
}

static void test_small_ints_are_ordinary(void **state)
{
    (void)state;
    struct tx_value *v = tx_int64(7);
    char *got = eval_json("[len('abc'), len('') - 5, len('x' * 256), len('x' * 257), "
                          "len('abc') * 10**20, -len('abcde') - 1, str(len('ab')), "
                          "len('ab') == 2, value + len('a'), round(2.5), round(-0.4)]", v);
    assert_string_equal(got, "[3,-5,256,257,300000000000000000000,-6,\"2\",true,8,2,0]");
    free(got);
    int64_t x = 0;
    for (int64_t i = -7; i <= 258; i++) {   /* shared and allocated alike */
        struct tx_value *k = tx_int64(i);
        assert_true(tx_get_int64(k, &x));
        assert_int_equal(x, i);
        tx_unref(tx_ref(k));
        tx_unref(k);
    }
    tx_unref(v);
}

static void test_int64_edges(void **state)
{
    (void)state;
    struct tx_value *v = tx_int64(INT64_MAX);
    char *got = eval_json("[value + 1, -value - 2, value * 2, value * -value, -(-value - 1), "
                          "~(-value - 1), abs(-value - 1), (-value - 1) // -1, "
                          "(-value - 1) % -1, value // -2, value % -2, -7 // 2, -7 % 2, "
                          "7 % -2, (-value - 1) >> 63, -1 >> 100, 5 & -3, -5 | 3, -5 ^ 3, "
                          "1 << 63, value - value, value == 2**63 - 1, value < 2.0**63, "
                          "value == 2.0**63, int(-9.2e18), 3037000500 * 3037000500]", v);
    assert_string_equal(got, "[9223372036854775808,-9223372036854775809,18446744073709551614,"
                        "-85070591730234615847396907784232501249,9223372036854775808,"
                        "9223372036854775807,9223372036854775808,9223372036854775808,0,"
                        "-4611686018427387904,-1,-4,1,-1,-1,-1,5,-5,-8,9223372036854775808,0,"
                        "true,true,false,-9200000000000000000,9223372037000250000]");
    free(got);
    int64_t x = 0;
    struct tx_value *big = NULL;   /* the results past the edge are GMP ints, not wrapped */
    struct tx_expr *e = NULL;
    struct tx_error err;
    assert_int_equal(tx_compile("value + 1", 9, &e, &err), IV_OK);
    assert_int_equal(tx_eval(e, v, NULL, NULL, &big, &err), IV_OK);
    assert_false(tx_get_int64(big, &x));
    tx_unref(big);
    tx_expr_free(e);
    tx_unref(v);
}

/* len() of n bytes of s: the evaluator's code point count. */
static int64_t eval_len(const char *s, size_t n)
{
    struct tx_value *v = tx_str(s, n);
    struct tx_expr *e = NULL;
    struct tx_error err;
    assert_int_equal(tx_compile("len(value)", 10, &e, &err), IV_OK);
    struct tx_value *r = NULL;
    assert_int_equal(tx_eval(e, v, NULL, NULL, &r, &err), IV_OK);
    int64_t k = -1;
    assert_true(tx_get_int64(r, &k));
    tx_unref(r);
    tx_expr_free(e);
    tx_unref(v);
    return k;
}

static void test_code_point_count_matches_libunistring(void **state)
{
    (void)state;
    /* bytes that make valid, overlong, surrogate, out-of-range and cut sequences */
    static const unsigned char pool[] = {'a', 'Z', ' ', 0x7f, 0xc2, 0xc3, 0xdf, 0xc0, 0xc1,
                                         0xe0, 0xed, 0xef, 0xf0, 0xf4, 0xf5, 0xff, 0x80, 0x8f,
                                         0x90, 0x9f, 0xa0, 0xbf};
    uint32_t seed = 12345;
    char s[24];
    for (int i = 0; i < 200000; i++) {
        size_t n = (size_t)(i % 23);
        for (size_t j = 0; j < n; j++) {
            seed = seed * 1103515245u + 12345u;
            s[j] = (char)pool[(seed >> 16) % sizeof pool];
        }
        int64_t want = (int64_t)u8_mbsnlen((const uint8_t *)s, n);
        int64_t got = eval_len(s, n);
        if (got != want)
            fail_msg("case %d (%zu bytes): len %lld, u8_mbsnlen %lld", i, n, (long long)got,
                     (long long)want);
    }
    assert_int_equal(eval_len("\xf0\x9f\x98\x80 caf\xc3\xa9 \xe2\x82\xac", 14), 8);
}

static void test_round_float_edges(void **state)
{
    (void)state;
    struct tx_value *v = tx_float(0);
    char *got = eval_json("[round(1e300) == int(1e300), round(-1e19) == -10**19, round(-9.3e18), round(9.1e18), "
                          "round(123.45 * 100), round(-2.5), round(0.5)]", v);
    assert_string_equal(got, "[true,true,-9300000000000000000,9100000000000000000,12345,-2,0]");
    free(got);
    tx_unref(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_latin1_case_matches_libunistring),
        cmocka_unit_test(test_case_beyond_latin1_and_long_text),
        cmocka_unit_test(test_small_ints_are_ordinary),
        cmocka_unit_test(test_round_float_edges),
        cmocka_unit_test(test_int64_edges),
        cmocka_unit_test(test_code_point_count_matches_libunistring),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
