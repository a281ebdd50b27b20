/*
 * test_crypto: HMAC known answer, webhook signature accept/reject matrix,
 * AES-256-GCM envelope round trip and failure modes, base64 keys, and the
 * master key file (creation, mode 0600, reuse, refusal of a loose mode).
 */
#include "unit.h"
#include "crypto/crypto.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static void test_hmac_known_answer(void **state)
{
    (void)state;
    const char *secret = "It's a Secret to Everybody";
    const char *body = "Hello, World!";
    uint8_t mac[32];
    hmac_sha256(secret, strlen(secret), body, strlen(body), mac);
    char *hex = hex_encode(mac, 32);
    assert_string_equal(hex, "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17");
    free(hex);
}

static void test_webhook_sign_format(void **state)
{
    (void)state;
    /* The signed string is "<t>." + body: check against hmac_sha256 over that string. */
    const uint8_t sec[] = "whsec";
    const char *body = "{\"run_id\":\"r1\"}";
    char *h = webhook_sign(sec, 5, 1700000000, body, strlen(body));
    char *signed_str = xasprintf("1700000000.%s", body);
    uint8_t mac[32];
    hmac_sha256(sec, 5, signed_str, strlen(signed_str), mac);
    char *hex = hex_encode(mac, 32);
    char *want = xasprintf("t=1700000000,v1=%s", hex);
    assert_string_equal(h, want);
    free(h);
    free(signed_str);
    free(hex);
    free(want);
}

static bool verify1(const char *header, const char *secret, const char *body, int64_t now)
{
    const uint8_t *secs[1] = {(const uint8_t *)secret};
    size_t lens[1] = {strlen(secret)};
    return webhook_verify(header, secs, lens, 1, body, strlen(body), now, 300);
}

static void test_webhook_matrix(void **state)
{
    (void)state;
    const char *body = "{\"a\":1}";
    const int64_t t = 1800000000;
    char *h = webhook_sign((const uint8_t *)"s1", 2, t, body, strlen(body));
    assert_true(verify1(h, "s1", body, t));
    assert_true(verify1(h, "s1", body, t + 300));       /* edge of window */
    assert_false(verify1(h, "s1", body, t + 301));      /* too old */
    assert_true(verify1(h, "s1", body, t - 300));
    assert_false(verify1(h, "s1", body, t - 301));      /* too far in the future */
    assert_false(verify1(h, "s2", body, t));            /* wrong secret */
    assert_false(verify1(h, "s1", "{\"a\":2}", t));     /* body changed */

    /* Two secrets (rotation): either verifies. */
    const uint8_t *secs[2] = {(const uint8_t *)"old", (const uint8_t *)"s1"};
    size_t lens[2] = {3, 2};
    assert_true(webhook_verify(h, secs, lens, 2, body, strlen(body), t, 300));
    secs[1] = (const uint8_t *)"nope";
    lens[1] = 4;
    assert_false(webhook_verify(h, secs, lens, 2, body, strlen(body), t, 300));

    /* Two v1 values: the valid one may be second; plus an unknown scheme ignored. */
    const char *v1 = strstr(h, "v1=") + 3;
    char *two = xasprintf("t=%lld,v1=%064d,v0=zz,v1=%s", (long long)t, 0, v1);
    assert_true(verify1(two, "s1", body, t));
    char *bad_two = xasprintf("t=%lld,v1=%064d,v1=%064d", (long long)t, 0, 1);
    assert_false(verify1(bad_two, "s1", body, t));
    /* Uppercase hex is the same MAC. */
    char *upper = xasprintf("t=%lld,v1=%s", (long long)t, v1);
    for (char *p = upper; *p; p++)
        if (*p >= 'a' && *p <= 'f')
            *p = (char)(*p - 32);
    assert_true(verify1(upper, "s1", body, t));
    /* Spaces after commas are tolerated. */
    char *spaced = xasprintf("t=%lld, v1=%s", (long long)t, v1);
    assert_true(verify1(spaced, "s1", body, t));

    /* Malformed headers. */
    char *tmp;
    const char *bad[] = {"", "garbage", "t=,v1=", "v1=abc", "t=1800000000",
                         "t=1800000000,v1=", "t=abc,v1=00", ",", "t=1800000000,,v1=00"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_false(verify1(bad[i], "s1", body, t));
    tmp = xasprintf("t=%lld,t=%lld,v1=%s", (long long)t, (long long)t, v1);   /* repeated t */
    assert_false(verify1(tmp, "s1", body, t));
    free(tmp);
    tmp = xasprintf("t=%lld,v1=%.63s", (long long)t, v1);   /* short hex */
    assert_false(verify1(tmp, "s1", body, t));
    free(tmp);
    tmp = xasprintf("t=%lld,v1=%sff", (long long)t, v1);    /* long hex */
    assert_false(verify1(tmp, "s1", body, t));
    free(tmp);
    tmp = xasprintf("t=-%lld,v1=%s", (long long)t, v1);     /* negative t */
    assert_false(verify1(tmp, "s1", body, t));
    free(tmp);
    tmp = xasprintf("%s,", h);                               /* trailing comma */
    assert_false(verify1(tmp, "s1", body, t));
    free(tmp);
    assert_false(verify1(NULL, "s1", body, t));
    free(h);
    free(two);
    free(bad_two);
    free(upper);
    free(spaced);
}

static void test_ct_equal(void **state)
{
    (void)state;
    assert_true(ct_equal("abcd", "abcd", 4));
    assert_false(ct_equal("abcd", "abce", 4));
}

static void test_envelope_roundtrip(void **state)
{
    (void)state;
    uint8_t key[32], other[32];
    random_bytes(key, 32);
    random_bytes(other, 32);
    const char *plain = "{\"api_key\":\"sekrit\",\"start_date\":\"2024-01-01\"}";
    char *env = envelope_encrypt(key, plain, strlen(plain));
    assert_true(strncmp(env, "v1:", 3) == 0);
    assert_true(envelope_shape_ok(env));
    /* layout: 12 + len + 16 bytes */
    uint8_t *raw = NULL;
    size_t rawn = 0;
    assert_int_equal(base64_decode(env + 3, &raw, &rawn), IV_OK);
    assert_int_equal(rawn, 12 + strlen(plain) + 16);
    free(raw);
    /* two encryptions differ (random nonce) */
    char *env2 = envelope_encrypt(key, plain, strlen(plain));
    assert_string_not_equal(env, env2);

    uint8_t *out = NULL;
    size_t n = 0;
    struct iv_err e = {0};
    assert_int_equal(envelope_decrypt(key, env, &out, &n, &e), IV_OK);
    assert_int_equal(n, strlen(plain));
    assert_memory_equal(out, plain, n);
    assert_int_equal(out[n], '\0');
    free(out);

    /* wrong key */
    out = NULL;
    assert_int_equal(envelope_decrypt(other, env, &out, &n, &e), IV_EAUTH);
    assert_null(out);
    assert_non_null(strstr(e.msg, "wrong key"));

    /* tampered: flip one bit in every byte position in turn (nonce, ct, tag) */
    assert_int_equal(base64_decode(env + 3, &raw, &rawn), IV_OK);
    for (size_t i = 0; i < rawn; i++) {
        raw[i] ^= 0x01;
        char *b = base64_encode(raw, rawn);
        char *t = xasprintf("v1:%s", b);
        assert_true(envelope_shape_ok(t));
        assert_int_equal(envelope_decrypt(key, t, &out, &n, &e), IV_EAUTH);
        raw[i] ^= 0x01;
        free(b);
        free(t);
    }
    free(raw);

    /* empty plaintext round-trips */
    char *empty = envelope_encrypt(key, "", 0);
    assert_int_equal(envelope_decrypt(key, empty, &out, &n, &e), IV_OK);
    assert_int_equal(n, 0);
    free(out);
    free(empty);
    free(env);
    free(env2);
}

static void test_envelope_bad_shapes(void **state)
{
    (void)state;
    uint8_t key[32] = {0};
    uint8_t *out = NULL;
    size_t n;
    struct iv_err e = {0};
    /* 27 bytes decoded: one short of nonce + tag */
    uint8_t z[27] = {0};
    char *b27 = base64_encode(z, 27);
    char *short_env = xasprintf("v1:%s", b27);
    const char *bad[] = {"", "v1:", "v2:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
                         "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "v1:!!!!", "v1:AAAA AAAA",
                         "v1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", short_env};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_false(envelope_shape_ok(bad[i]));
        assert_int_equal(envelope_decrypt(key, bad[i], &out, &n, &e), IV_EINVAL);
        assert_null(out);
    }
    assert_false(envelope_shape_ok(NULL));
    free(b27);
    free(short_env);
}

static void test_key_from_base64(void **state)
{
    (void)state;
    uint8_t raw[32], key[32];
    for (int i = 0; i < 32; i++)
        raw[i] = (uint8_t)(i * 7 + 1);
    char *b = base64_encode(raw, 32);
    struct iv_err e = {0};
    assert_int_equal(key_from_base64(b, key, &e), IV_OK);
    assert_memory_equal(key, raw, 32);
    char *b31 = base64_encode(raw, 31);
    assert_int_equal(key_from_base64(b31, key, &e), IV_EINVAL);
    assert_non_null(strstr(e.msg, "31 bytes"));
    assert_int_equal(key_from_base64("***", key, &e), IV_EINVAL);
    assert_int_equal(key_from_base64("", key, &e), IV_EINVAL);
    free(b);
    free(b31);
}

static void test_master_key_file(void **state)
{
    (void)state;
    char tmpl[] = "/tmp/ivory-test-mk-XXXXXX";
    assert_non_null(mkdtemp(tmpl));
    char *dir = xasprintf("%s/data/sub", tmpl);   /* created on demand */
    char *path = xasprintf("%s/master.key", dir);
    uint8_t k1[32], k2[32];
    struct iv_err e = {0};
    assert_int_equal(master_key_load(NULL, dir, k1, &e), IV_OK);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    /* the file holds base64 of exactly this key */
    char *text = NULL;
    size_t tl;
    assert_int_equal(file_read_all(path, 1024, &text, &tl, &e), IV_OK);
    uint8_t fromfile[32];
    assert_int_equal(key_from_base64(text, fromfile, &e), IV_OK);
    assert_memory_equal(fromfile, k1, 32);
    free(text);
    /* reuse: second load returns the same key; no temp files left behind */
    assert_int_equal(master_key_load("", dir, k2, &e), IV_OK);
    assert_memory_equal(k1, k2, 32);
    char *cmd = xasprintf("test $(ls -A %s | wc -l) -eq 1", dir);
    assert_int_equal(system(cmd), 0);
    free(cmd);
    /* the environment key wins */
    uint8_t envk[32];
    memset(envk, 0x5a, 32);
    char *b = base64_encode(envk, 32);
    assert_int_equal(master_key_load(b, dir, k2, &e), IV_OK);
    assert_memory_equal(k2, envk, 32);
    assert_int_equal(master_key_load("short", dir, k2, &e), IV_EINVAL);
    assert_non_null(strstr(e.msg, "IVORY_MASTER_KEY"));
    /* a loose mode is refused */
    assert_int_equal(chmod(path, 0644), 0);
    assert_int_equal(master_key_load(NULL, dir, k2, &e), IV_EINVAL);
    assert_non_null(strstr(e.msg, "chmod 600"));
    /* sealing with the master key */
    char *sealed = secret_seal(k1, "whsec-123", 9);
    uint8_t *out = NULL;
    size_t n = 0;
    assert_int_equal(secret_unseal(k1, sealed, &out, &n, &e), IV_OK);
    assert_int_equal(n, 9);
    assert_memory_equal(out, "whsec-123", 9);
    free(out);
    assert_int_equal(secret_unseal(envk, sealed, &out, &n, &e), IV_EAUTH);

    cmd = xasprintf("rm -rf %s", tmpl);
    assert_int_equal(system(cmd), 0);
    free(cmd);
    free(sealed);
    free(b);
    free(dir);
    free(path);
}

/* Several processes create the key at the same moment: all must agree. */
static void test_master_key_race(void **state)
{
    (void)state;
    char tmpl[] = "/tmp/ivory-test-mkr-XXXXXX";
    assert_non_null(mkdtemp(tmpl));
    enum { N = 8 };
    int fds[N][2];
    for (int i = 0; i < N; i++) {
        assert_int_equal(pipe(fds[i]), 0);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            uint8_t k[32];
            int rc = master_key_load(NULL, tmpl, k, NULL);
            if (rc == IV_OK && write(fds[i][1], k, 32) != 32)
                _exit(2);
            _exit(rc == IV_OK ? 0 : 1);
        }
        close(fds[i][1]);
    }
    uint8_t first[32], k[32];
    for (int i = 0; i < N; i++) {
        assert_int_equal(read(fds[i][0], k, 32), 32);
        close(fds[i][0]);
        if (i == 0)
            memcpy(first, k, 32);
        else
            assert_memory_equal(first, k, 32);
    }
    int st;
    while (wait(&st) > 0)
        assert_int_equal(st, 0);
    char *cmd = xasprintf("rm -rf %s", tmpl);
    assert_int_equal(system(cmd), 0);
    free(cmd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hmac_known_answer),
        cmocka_unit_test(test_webhook_sign_format),
        cmocka_unit_test(test_webhook_matrix),
        cmocka_unit_test(test_ct_equal),
        cmocka_unit_test(test_envelope_roundtrip),
        cmocka_unit_test(test_envelope_bad_shapes),
        cmocka_unit_test(test_key_from_base64),
        cmocka_unit_test(test_master_key_file),
        cmocka_unit_test(test_master_key_race),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
