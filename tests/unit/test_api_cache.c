/*
 * test_api_cache: the API's response cache and JSON writer without a store:
 * version matching (a lookup with another generation or epoch misses), newer
 * generations win over late older ones, the LRU's entry and byte bounds,
 * references surviving eviction, If-None-Match parsing, a multi-threaded
 * hammer (under ASan/UBSan) checking every hit returns the body stored for
 * that key and generation, and the string escaper checked against jansson
 * (an independent encoder and parser).
 */
#include "unit.h"
#include "api/api_int.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct api_blob *blob_of(const char *s)
{
    return api_blob_new(s, strlen(s));
}

static void test_versions(void **state)
{
    (void)state;
    struct api_cache *c = api_cache_new(1 << 20, 16);
    struct api_blob *b = blob_of("{\"v\":1}");
    api_cache_put(c, "k", 5, 100, b);
    api_blob_unref(b);
    assert_null(api_cache_get(c, "k", 4, 100));
    assert_null(api_cache_get(c, "k", 6, 100));
    assert_null(api_cache_get(c, "k", 5, 101));     /* re-created tenant */
    assert_null(api_cache_get(c, "other", 5, 100));
    struct api_blob *got = api_cache_get(c, "k", 5, 100);
    assert_non_null(got);
    assert_string_equal(got->data, "{\"v\":1}");
    api_blob_unref(got);

    /* a late render of an older generation does not replace the newer body */
    b = blob_of("{\"v\":2}");
    api_cache_put(c, "k", 7, 100, b);
    api_blob_unref(b);
    b = blob_of("{\"v\":old}");
    api_cache_put(c, "k", 6, 100, b);
    api_blob_unref(b);
    assert_null(api_cache_get(c, "k", 6, 100));
    got = api_cache_get(c, "k", 7, 100);
    assert_non_null(got);
    assert_string_equal(got->data, "{\"v\":2}");
    api_blob_unref(got);

    struct api_cache_stats s;
    api_cache_stats(c, &s);
    assert_int_equal(s.entries, 1);
    assert_int_equal(s.hits, 2);
    assert_int_equal(s.misses, 5);
    api_cache_free(c);
    assert_null(api_cache_get(NULL, "k", 1, 1));   /* no cache: always a miss */
}

static void test_bounds_and_refs(void **state)
{
    (void)state;
    /* 4 entries at most; 800 bytes at most (a body over 100 is never kept) */
    struct api_cache *c = api_cache_new(800, 4);
    char key[16], body[128];
    struct api_blob *held = NULL;
    for (int i = 0; i < 10; i++) {
        snprintf(key, sizeof key, "k%d", i);
        memset(body, 'a' + i, 90);
        body[90] = '\0';
        struct api_blob *b = blob_of(body);
        api_cache_put(c, key, 1, 1, b);
        if (i == 0)
            held = api_cache_get(c, "k0", 1, 1);    /* a response still sending it */
        api_blob_unref(b);
        if (i == 6) {
            /* k3..k6 are in; touch k3 so it is the most recent and survives the next
             * three puts, which evict k4, k5, k6 instead */
            struct api_blob *t = api_cache_get(c, "k3", 1, 1);
            assert_non_null(t);
            api_blob_unref(t);
        }
    }
    struct api_cache_stats s;
    api_cache_stats(c, &s);
    assert_int_equal(s.entries, 4);
    assert_int_equal(s.bytes, 4 * 90);
    assert_null(api_cache_get(c, "k0", 1, 1));
    assert_null(api_cache_get(c, "k4", 1, 1));
    assert_null(api_cache_get(c, "k6", 1, 1));
    struct api_blob *k3 = api_cache_get(c, "k3", 1, 1);
    assert_non_null(k3);
    api_blob_unref(k3);
    struct api_blob *k9 = api_cache_get(c, "k9", 1, 1);
    assert_non_null(k9);
    api_blob_unref(k9);
    /* evicted long ago, still readable through its own reference (ASan checks) */
    assert_int_equal(held->len, 90);
    assert_int_equal(held->data[0], 'a');
    api_blob_unref(held);

    char big[200];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    struct api_blob *b = blob_of(big);
    api_cache_put(c, "big", 1, 1, b);
    api_blob_unref(b);
    assert_null(api_cache_get(c, "big", 1, 1));
    api_cache_free(c);
}

static void test_etag(void **state)
{
    (void)state;
    struct api_blob *a = blob_of("{\"a\":1}"), *a2 = blob_of("{\"a\":1}"), *b = blob_of("{}");
    assert_string_equal(a->etag, a2->etag);
    assert_string_not_equal(a->etag, b->etag);
    assert_int_equal(strlen(a->etag), 18);
    assert_true(a->etag[0] == '"' && a->etag[17] == '"');
    char hdr[128];
    assert_true(api_etag_matches(a->etag, a->etag));
    snprintf(hdr, sizeof hdr, "W/%s", a->etag);
    assert_true(api_etag_matches(hdr, a->etag));
    snprintf(hdr, sizeof hdr, "%s, %s", b->etag, a->etag);
    assert_true(api_etag_matches(hdr, a->etag));
    assert_true(api_etag_matches("*", a->etag));
    assert_false(api_etag_matches(b->etag, a->etag));
    assert_false(api_etag_matches(NULL, a->etag));
    assert_false(api_etag_matches("", a->etag));
    snprintf(hdr, sizeof hdr, "%.17sx\"", a->etag);   /* longer tag with a as prefix */
    assert_false(api_etag_matches(hdr, a->etag));
    api_blob_unref(a);
    api_blob_unref(a2);
    api_blob_unref(b);
}

/* ---- threads ----------------------------------------------------------------------- */

static struct api_cache *hammer_cache;

static void *hammer(void *arg)
{
    unsigned seed = (unsigned)(uintptr_t)arg;
    char key[16], body[64];
    for (int i = 0; i < 20000; i++) {
        int k = (int)(rand_r(&seed) % 24);
        int64_t gen = (int64_t)(rand_r(&seed) % 4);
        snprintf(key, sizeof key, "t%d", k);
        struct api_blob *b = api_cache_get(hammer_cache, key, gen, 1);
        if (b) {
            snprintf(body, sizeof body, "{\"key\":%d,\"gen\":%lld}", k, (long long)gen);
            assert_string_equal(b->data, body);
            api_blob_unref(b);
        } else {
            snprintf(body, sizeof body, "{\"key\":%d,\"gen\":%lld}", k, (long long)gen);
            b = blob_of(body);
            api_cache_put(hammer_cache, key, gen, 1, b);
            api_blob_unref(b);
        }
    }
    return NULL;
}

static void test_threads(void **state)
{
    (void)state;
    hammer_cache = api_cache_new(64 * 30, 10);
    pthread_t th[4];
    for (uintptr_t i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&th[i], NULL, hammer, (void *)(i + 1)), 0);
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    struct api_cache_stats s;
    api_cache_stats(hammer_cache, &s);
    assert_true(s.entries <= 10);
    assert_true(s.hits > 0 && s.misses > 0);
    api_cache_free(hammer_cache);
}

/* ---- JSON writer ---------------------------------------------------------------------- */

static char *jw_string(const char *s)
{
    struct api_jw w;
    api_jw_init(&w, 1 << 20);
    api_jw_str(&w, s);
    assert_int_equal(w.err, IV_OK);
    char *out = xstrdup(w.b.data);
    buf_release(&w.b);
    return out;
}

static void test_jw_matches_jansson(void **state)
{
    (void)state;
    static const char *const cases[] = {
        "", "plain", "quote \" and backslash \\", "slash / stays", "tab\tnl\ncr\rbs\bff\f",
        "\x01\x1f\x7f", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", "\xef\xbb\xbf bom",
        "x\xed\x9f\xbf", /* U+D7FF, last before the surrogates */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *j = json_string(cases[i]);
        assert_non_null(j);
        char *want = json_dumps(j, JSON_ENCODE_ANY | JSON_COMPACT);
        char *got = jw_string(cases[i]);
        if (strcmp(want, got))
            fprintf(stderr, "case %zu: jansson %s, ours %s\n", i, want, got);
        assert_string_equal(got, want);
        free(want);
        free(got);
        json_decref(j);
    }
    char *n = jw_string(NULL);
    assert_string_equal(n, "null");
    free(n);
}

static void test_jw_invalid_utf8(void **state)
{
    (void)state;
    /* stray continuation, truncated sequence, overlong '/', a surrogate, past U+10FFFF */
    static const char *const bad[] = {"a\x80z", "a\xe2\x82", "a\xc0\xafz", "a\xed\xa0\x80z",
                                      "a\xf4\x90\x80\x80z"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *got = jw_string(bad[i]);
        json_error_t err;
        json_t *j = json_loads(got, JSON_DECODE_ANY, &err);
        if (!j)
            fprintf(stderr, "case %zu: %s not JSON: %s\n", i, got, err.text);
        assert_non_null(j);
        const char *v = json_string_value(j);
        assert_non_null(v);
        assert_true(v[0] == 'a');
        assert_non_null(strstr(v, "\xef\xbf\xbd"));    /* U+FFFD */
        json_decref(j);
        free(got);
    }
}

static void test_jw_cap(void **state)
{
    (void)state;
    struct api_jw w;
    api_jw_init(&w, 16);
    api_jw_str(&w, "0123456789");
    assert_int_equal(w.err, IV_OK);
    api_jw_str(&w, "0123456789");
    assert_int_equal(w.err, IV_ETOOBIG);   /* the caller discards the partial output */
    size_t len = w.b.len;
    api_jw_raw(&w, "x", 1);                /* sticky: nothing more is written */
    api_jw_int(&w, 1);
    assert_int_equal(w.b.len, len);
    assert_int_equal(w.err, IV_ETOOBIG);
    buf_release(&w.b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_versions),
        cmocka_unit_test(test_bounds_and_refs),
        cmocka_unit_test(test_etag),
        cmocka_unit_test(test_threads),
        cmocka_unit_test(test_jw_matches_jansson),
        cmocka_unit_test(test_jw_invalid_utf8),
        cmocka_unit_test(test_jw_cap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
