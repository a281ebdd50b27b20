/*
 * test_jwe: the compact JWE of src/crypto/jwe.c with both key types: round
 * trips, the public JWK (no private members, thumbprint kid), and refusals —
 * another key, tampered header / ciphertext / tag, wrong alg for the key,
 * non-canonical base64url, wrong part count, a public-only key asked to
 * decrypt, and a private key file readable by others.
 */
#include "unit.h"
#include "crypto/crypto.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[64];

static char *write_key(const char *name, bool rsa, int mode)
{
    EVP_PKEY *k = rsa ? EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048)
                      : EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    assert_non_null(k);
    char *path = xasprintf("%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL), 1);
    fclose(f);
    chmod(path, (mode_t)mode);
    EVP_PKEY_free(k);
    return path;
}

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/ivory-jwe-XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char *cmd = xasprintf("rm -rf %s", dir);
    int rc = system(cmd);
    free(cmd);
    return rc == 0 ? 0 : -1;
}

static void round_trip(bool rsa)
{
    struct iv_err e = {0};
    char *path = write_key(rsa ? "rsa.pem" : "ec.pem", rsa, 0600);
    struct jwe_key *k = NULL;
    assert_int_equal(jwe_key_load(&k, path, &e), IV_OK);
    assert_true(jwe_key_has_private(k));
    char *jwk = jwe_public_jwk(k);
    assert_null(strstr(jwk, "\"d\""));
    assert_non_null(strstr(jwk, rsa ? "\"RSA-OAEP-256\"" : "\"ECDH-ES\""));
    assert_non_null(strstr(jwk, jwe_key_id(k)));
    /* encrypt with the public JWK only, decrypt with the private key */
    struct jwe_key *pub = NULL;
    assert_int_equal(jwe_key_from_jwk(&pub, jwk, &e), IV_OK);
    assert_string_equal(jwe_key_id(pub), jwe_key_id(k));
    assert_false(jwe_key_has_private(pub));
    const char *plain = "{\"password\":\"hunter2\"}";
    char *c = jwe_encrypt(pub, plain, strlen(plain), &e);
    assert_non_null(c);
    assert_true(jwe_looks_compact(c));
    assert_int_equal(jwe_check(c, k, &e), IV_OK);
    uint8_t *out = NULL;
    size_t n = 0;
    assert_int_equal(jwe_decrypt(k, c, &out, &n, &e), IV_OK);
    assert_int_equal(n, strlen(plain));
    assert_memory_equal(out, plain, n);
    free(out);
    assert_int_equal(jwe_decrypt(pub, c, &out, &n, &e), IV_EINVAL);   /* no private key */

    /* tampering: every part */
    char *dots[4];
    dots[0] = strchr(c, '.');
    for (int i = 1; i < 4; i++)
        dots[i] = strchr(dots[i - 1] + 1, '.');
    size_t len = strlen(c);
    size_t spots[] = {2, (size_t)(dots[2] - c) - 3, (size_t)(dots[3] - c) - 3, len - 3};
    for (size_t i = 0; i < sizeof spots / sizeof spots[0]; i++) {
        char *t = xstrdup(c);
        t[spots[i]] = t[spots[i]] == 'A' ? 'B' : 'A';
        int rc = jwe_decrypt(k, t, &out, &n, &e);
        assert_true(rc == IV_EAUTH || rc == IV_EINVAL);
        assert_null(out);
        free(t);
    }
    /* another key of the same type */
    char *path2 = write_key(rsa ? "rsa2.pem" : "ec2.pem", rsa, 0600);
    struct jwe_key *k2 = NULL;
    assert_int_equal(jwe_key_load(&k2, path2, &e), IV_OK);
    assert_int_equal(jwe_check(c, k2, &e), IV_EINVAL);   /* kid names the other key */
    assert_non_null(strstr(e.msg, "kid"));
    assert_int_equal(jwe_decrypt(k2, c, &out, &n, &e), IV_EINVAL);
    /* structure */
    assert_int_equal(jwe_check("a.b.c.d", NULL, &e), IV_EINVAL);
    assert_int_equal(jwe_check("a.b.c.d.e.f", NULL, &e), IV_EINVAL);
    char *padded = xasprintf("%s=", c);
    assert_int_equal(jwe_check(padded, NULL, &e), IV_EINVAL);
    free(padded);
    free(path2);
    jwe_key_free(k2);
    free(c);
    free(jwk);
    jwe_key_free(pub);
    jwe_key_free(k);
    free(path);
}

static void test_rsa_round_trip(void **state)
{
    (void)state;
    round_trip(true);
}

static void test_ec_round_trip(void **state)
{
    (void)state;
    round_trip(false);
}

static void test_key_file_rules(void **state)
{
    (void)state;
    struct iv_err e = {0};
    struct jwe_key *k = NULL;
    char *open_key = write_key("open.pem", false, 0644);
    assert_int_equal(jwe_key_load(&k, open_key, &e), IV_EINVAL);
    assert_non_null(strstr(e.msg, "chmod 600"));
    char *missing = xasprintf("%s/none.pem", dir);
    assert_int_equal(jwe_key_load(&k, missing, &e), IV_EINVAL);
    assert_int_equal(jwe_key_from_jwk(&k, "{\"kty\":\"oct\",\"k\":\"AAAA\"}", &e), IV_EINVAL);
    assert_int_equal(jwe_key_from_jwk(&k, "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"AA\",\"y\":\"AA\"}",
                                      &e), IV_EINVAL);
    /* an RSA JWE offered to an EC key */
    char *rsa = write_key("r.pem", true, 0600), *ec = write_key("e.pem", false, 0600);
    struct jwe_key *kr = NULL, *ke = NULL;
    assert_int_equal(jwe_key_load(&kr, rsa, &e), IV_OK);
    assert_int_equal(jwe_key_load(&ke, ec, &e), IV_OK);
    char *c = jwe_encrypt(kr, "{}", 2, &e);
    assert_int_equal(jwe_check(c, ke, &e), IV_EINVAL);
    free(c);
    jwe_key_free(kr);
    jwe_key_free(ke);
    free(rsa);
    free(ec);
    free(missing);
    free(open_key);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rsa_round_trip),
        cmocka_unit_test(test_ec_round_trip),
        cmocka_unit_test(test_key_file_rules),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
