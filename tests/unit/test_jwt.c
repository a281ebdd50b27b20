/*
 * test_jwt: JWT verification against keys generated here with OpenSSL
 * (RSA-2048, EC P-256), tokens signed with libjwt, PEM and JWKS files in a
 * temp dir. Covers the accept cases (HS256, RS256, ES256, JWKS with kid) and
 * the reject matrix: alg none, wrong key, HS/RS confusion, alg not allowed,
 * expired, future nbf, wrong iss/aud, missing exp, garbage, truncated
 * signature; plus configuration errors and concurrent verification.
 */
#include "unit.h"
#include "crypto/crypto.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jwt.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

static char tmpdir[64];
static char *rsa_priv, *rsa_pub, *rsa2_priv, *ec_priv, *ec_pub;
static char *rsa_pub_path, *ec_pub_path, *jwks_path, *rsa1024_pub_path, *bad_jwks_path;

static char *pem_of(EVP_PKEY *k, bool priv)
{
    BIO *bio = BIO_new(BIO_s_mem());
    assert_non_null(bio);
    if (priv)
        assert_int_equal(PEM_write_bio_PrivateKey(bio, k, NULL, NULL, 0, NULL, NULL), 1);
    else
        assert_int_equal(PEM_write_bio_PUBKEY(bio, k), 1);
    char *d = NULL;
    long n = BIO_get_mem_data(bio, &d);
    char *out = xstrndup(d, (size_t)n);
    BIO_free(bio);
    return out;
}

static char *b64url(const uint8_t *p, size_t n)
{
    char *s = base64_encode(p, n);
    size_t j = 0;
    for (size_t i = 0; s[i]; i++) {
        if (s[i] == '=')
            continue;
        s[j++] = s[i] == '+' ? '-' : s[i] == '/' ? '_' : s[i];
    }
    s[j] = '\0';
    return s;
}

static char *bn_b64url(EVP_PKEY *k, const char *param, int pad)
{
    BIGNUM *bn = NULL;
    assert_int_equal(EVP_PKEY_get_bn_param(k, param, &bn), 1);
    int n = pad ? pad : BN_num_bytes(bn);
    uint8_t *buf = xmalloc((size_t)n);
    assert_int_equal(BN_bn2binpad(bn, buf, n), n);
    char *s = b64url(buf, (size_t)n);
    free(buf);
    BN_free(bn);
    return s;
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static int setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/ivory-test-jwt-XXXXXX");
    if (!mkdtemp(tmpdir))
        return -1;
    EVP_PKEY *rsa = EVP_RSA_gen(2048), *rsa2 = EVP_RSA_gen(2048), *rsa1024 = EVP_RSA_gen(1024);
    EVP_PKEY *ec = EVP_EC_gen("P-256");
    if (!rsa || !rsa2 || !ec || !rsa1024)
        return -1;
    rsa_priv = pem_of(rsa, true);
    rsa_pub = pem_of(rsa, false);
    rsa2_priv = pem_of(rsa2, true);
    ec_priv = pem_of(ec, true);
    ec_pub = pem_of(ec, false);
    rsa_pub_path = xasprintf("%s/rsa.pub.pem", tmpdir);
    ec_pub_path = xasprintf("%s/ec.pub.pem", tmpdir);
    jwks_path = xasprintf("%s/jwks.json", tmpdir);
    rsa1024_pub_path = xasprintf("%s/rsa1024.pub.pem", tmpdir);
    bad_jwks_path = xasprintf("%s/bad.json", tmpdir);
    write_file(rsa_pub_path, rsa_pub);
    write_file(ec_pub_path, ec_pub);
    char *p1024 = pem_of(rsa1024, false);
    write_file(rsa1024_pub_path, p1024);
    free(p1024);

    char *n = bn_b64url(rsa, OSSL_PKEY_PARAM_RSA_N, 0);
    char *e = bn_b64url(rsa, OSSL_PKEY_PARAM_RSA_E, 0);
    char *x = bn_b64url(ec, OSSL_PKEY_PARAM_EC_PUB_X, 32);
    char *y = bn_b64url(ec, OSSL_PKEY_PARAM_EC_PUB_Y, 32);
    /* An "oct" key and an encryption key are skipped; the RSA key has kid "r1". */
    char *jwks = xasprintf(
        "{\"keys\":[{\"kty\":\"oct\",\"k\":\"AAAA\"},"
        "{\"kty\":\"RSA\",\"use\":\"enc\",\"n\":\"%s\",\"e\":\"%s\",\"kid\":\"enc1\"},"
        "{\"kty\":\"RSA\",\"use\":\"sig\",\"alg\":\"RS256\","
        "\"n\":\"%s\",\"e\":\"%s\",\"kid\":\"r1\"},"
        "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"%s\",\"y\":\"%s\",\"kid\":\"e1\"}]}",
        n, e, n, e, x, y);
    write_file(jwks_path, jwks);
    /* A point not on the curve (y changed) must be refused at load. */
    char *bad = xasprintf("{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\","
                          "\"x\":\"%s\",\"y\":\"%s\"}]}",
                          x, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAE");
    write_file(bad_jwks_path, bad);
    free(n);
    free(e);
    free(x);
    free(y);
    free(jwks);
    free(bad);
    EVP_PKEY_free(rsa);
    EVP_PKEY_free(rsa2);
    EVP_PKEY_free(rsa1024);
    EVP_PKEY_free(ec);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char *cmd = xasprintf("rm -rf %s", tmpdir);
    int rc = system(cmd);
    free(cmd);
    free(rsa_priv);
    free(rsa_pub);
    free(rsa2_priv);
    free(ec_priv);
    free(ec_pub);
    free(rsa_pub_path);
    free(ec_pub_path);
    free(jwks_path);
    free(rsa1024_pub_path);
    free(bad_jwks_path);
    return rc == 0 ? 0 : -1;
}

/* Signs claims_json with libjwt. Caller frees. */
static char *make_token(jwt_alg_t alg, const char *key, const char *claims_json, const char *kid)
{
    jwt_t *j = NULL;
    assert_int_equal(jwt_new(&j), 0);
    assert_int_equal(jwt_add_grants_json(j, claims_json), 0);
    if (kid)
        assert_int_equal(jwt_add_header(j, "kid", kid), 0);
    assert_int_equal(jwt_set_alg(j, alg, (const unsigned char *)key, (int)strlen(key)), 0);
    char *t = jwt_encode_str(j);
    assert_non_null(t);
    char *out = xstrdup(t);
    free(t);
    jwt_free(j);
    return out;
}

static char *claims(const char *extra)
{
    long now = (long)now_s();
    return xasprintf("{\"sub\":\"tenant-1\",\"exp\":%ld%s%s}", now + 600, extra ? "," : "",
                     extra ? extra : "");
}

static struct jwt_verifier *verifier(const char *secret, const char *pem, const char *jwks,
                                     const char *algs, const char *iss, const char *aud)
{
    struct jwt_verifier_config c = {secret, pem, jwks, algs, iss, aud, 0};
    struct jwt_verifier *v = NULL;
    struct iv_err e = {0};
    int rc = jwt_verifier_new(&v, &c, &e);
    if (rc)
        print_error("jwt_verifier_new: %s\n", e.msg);
    assert_int_equal(rc, IV_OK);
    return v;
}

static void expect_reject(struct jwt_verifier *v, const char *tok, const char *why)
{
    struct jwt_claims c;
    struct iv_err e = {0};
    int rc = jwt_verify(v, tok, &c, &e);
    if (rc != IV_EAUTH || !strstr(e.msg, why))
        print_error("token rejected with '%s', expected '%s' (rc %d)\n", e.msg, why, rc);
    assert_int_equal(rc, IV_EAUTH);
    assert_non_null(strstr(e.msg, why));
}

static void expect_accept(struct jwt_verifier *v, const char *tok, const char *sub)
{
    struct jwt_claims c;
    struct iv_err e = {0};
    int rc = jwt_verify(v, tok, &c, &e);
    if (rc)
        print_error("token rejected: %s\n", e.msg);
    assert_int_equal(rc, IV_OK);
    assert_string_equal(c.sub, sub);
}

static void test_hs256_accept_and_claims(void **state)
{
    (void)state;
    struct jwt_verifier *v = verifier("hs-secret", NULL, NULL, NULL, NULL, NULL);
    char *cl = claims("\"tenant_slug\":\"acme\",\"role\":\"admin\"");
    char *t = make_token(JWT_ALG_HS256, "hs-secret", cl, NULL);
    struct jwt_claims c;
    struct iv_err e = {0};
    assert_int_equal(jwt_verify(v, t, &c, &e), IV_OK);
    assert_string_equal(c.sub, "tenant-1");
    assert_string_equal(c.tenant_slug, "acme");
    assert_true(c.is_admin);
    assert_true(c.exp > now_s());
    free(t);
    free(cl);
    /* no role, no slug */
    cl = claims(NULL);
    t = make_token(JWT_ALG_HS256, "hs-secret", cl, NULL);
    assert_int_equal(jwt_verify(v, t, &c, &e), IV_OK);
    assert_string_equal(c.tenant_slug, "");
    assert_false(c.is_admin);
    free(t);
    free(cl);
    /* jwt_sign_hs256 round trip */
    t = jwt_sign_hs256("hs-secret", "dev-tenant", 60, "{\"role\":\"admin\"}");
    assert_non_null(t);
    assert_int_equal(jwt_verify(v, t, &c, &e), IV_OK);
    assert_string_equal(c.sub, "dev-tenant");
    assert_true(c.is_admin);
    assert_true(c.exp >= now_s() + 59 && c.exp <= now_s() + 61);
    free(t);
    t = jwt_sign_hs256("other", "dev-tenant", 60, NULL);
    expect_reject(v, t, "signature");
    free(t);
    jwt_verifier_free(v);
}

static void test_rs_es_jwks_accept(void **state)
{
    (void)state;
    char *cl = claims(NULL);
    struct jwt_verifier *v = verifier(NULL, rsa_pub_path, NULL, NULL, NULL, NULL);
    char *t = make_token(JWT_ALG_RS256, rsa_priv, cl, NULL);
    expect_accept(v, t, "tenant-1");
    free(t);
    jwt_verifier_free(v);

    v = verifier(NULL, ec_pub_path, NULL, NULL, NULL, NULL);
    t = make_token(JWT_ALG_ES256, ec_priv, cl, NULL);
    expect_accept(v, t, "tenant-1");
    free(t);
    jwt_verifier_free(v);

    v = verifier(NULL, NULL, jwks_path, NULL, NULL, NULL);
    t = make_token(JWT_ALG_RS256, rsa_priv, cl, "r1");
    expect_accept(v, t, "tenant-1");
    free(t);
    t = make_token(JWT_ALG_ES256, ec_priv, cl, "e1");
    expect_accept(v, t, "tenant-1");
    free(t);
    t = make_token(JWT_ALG_ES256, ec_priv, cl, NULL);   /* no kid: try the EC keys */
    expect_accept(v, t, "tenant-1");
    free(t);
    t = make_token(JWT_ALG_RS256, rsa_priv, cl, "nope");  /* unknown kid */
    expect_reject(v, t, "kid");
    free(t);
    t = make_token(JWT_ALG_RS256, rsa_priv, cl, "enc1");  /* the "use":"enc" key was skipped */
    expect_reject(v, t, "kid");
    free(t);
    t = make_token(JWT_ALG_RS256, rsa2_priv, cl, "r1");   /* right kid, wrong key */
    expect_reject(v, t, "signature");
    free(t);
    jwt_verifier_free(v);
    free(cl);
}

static void test_reject_matrix(void **state)
{
    (void)state;
    char *cl = claims(NULL);
    struct jwt_verifier *hs = verifier("hs-secret", NULL, NULL, NULL, NULL, NULL);
    struct jwt_verifier *rs = verifier(NULL, rsa_pub_path, NULL, NULL, NULL, NULL);

    /* alg none, with and without a signature segment */
    char *hdr = b64url((const uint8_t *)"{\"alg\":\"none\",\"typ\":\"JWT\"}", 26);
    char *pl = b64url((const uint8_t *)cl, strlen(cl));
    char *none1 = xasprintf("%s.%s.", hdr, pl);
    char *none2 = xasprintf("%s.%s.c2ln", hdr, pl);
    expect_reject(hs, none1, "none");
    expect_reject(hs, none2, "none");
    expect_reject(rs, none1, "none");
    /* "None" spelled differently is also refused */
    char *hdr2 = b64url((const uint8_t *)"{\"alg\":\"NONE\"}", 14);
    char *none3 = xasprintf("%s.%s.c2ln", hdr2, pl);
    expect_reject(hs, none3, "none");

    /* wrong key */
    char *t = make_token(JWT_ALG_HS256, "other-secret", cl, NULL);
    expect_reject(hs, t, "signature");
    free(t);
    t = make_token(JWT_ALG_RS256, rsa2_priv, cl, NULL);
    expect_reject(rs, t, "signature");
    free(t);

    /* HS/RS confusion: HS256 token whose HMAC key is the RSA public PEM */
    char *conf = make_token(JWT_ALG_HS256, rsa_pub, cl, NULL);
    expect_reject(rs, conf, "not allowed");
    /* even with HS256 explicitly allowed, the HS secret is the only HMAC key */
    struct jwt_verifier *both = verifier("hs-secret", rsa_pub_path, NULL, "HS256,RS256", NULL,
                                         NULL);
    expect_reject(both, conf, "signature");
    t = make_token(JWT_ALG_RS256, rsa_priv, cl, NULL);
    expect_accept(both, t, "tenant-1");
    free(t);
    jwt_verifier_free(both);

    /* alg not in the allow-list */
    struct jwt_verifier *only_rs = verifier("hs-secret", rsa_pub_path, NULL, "RS256", NULL, NULL);
    t = make_token(JWT_ALG_HS256, "hs-secret", cl, NULL);
    expect_reject(only_rs, t, "not allowed");
    free(t);
    t = make_token(JWT_ALG_HS512, "hs-secret", cl, NULL);
    expect_reject(hs, t, "not allowed");
    free(t);
    t = make_token(JWT_ALG_ES256, ec_priv, cl, NULL);
    expect_reject(rs, t, "not allowed");
    free(t);
    jwt_verifier_free(only_rs);

    /* time claims */
    long now = (long)now_s();
    char *c2 = xasprintf("{\"sub\":\"s\",\"exp\":%ld}", now - 100);
    t = make_token(JWT_ALG_HS256, "hs-secret", c2, NULL);
    expect_reject(hs, t, "expired");
    free(t);
    free(c2);
    c2 = xasprintf("{\"sub\":\"s\",\"exp\":%ld}", now - 10);   /* inside 30 s leeway */
    t = make_token(JWT_ALG_HS256, "hs-secret", c2, NULL);
    expect_accept(hs, t, "s");
    free(t);
    free(c2);
    c2 = xasprintf("{\"sub\":\"s\",\"exp\":%ld,\"nbf\":%ld}", now + 600, now + 120);
    t = make_token(JWT_ALG_HS256, "hs-secret", c2, NULL);
    expect_reject(hs, t, "nbf");
    free(t);
    free(c2);
    c2 = xasprintf("{\"sub\":\"s\",\"exp\":%ld,\"nbf\":%ld}", now + 600, now - 5);
    t = make_token(JWT_ALG_HS256, "hs-secret", c2, NULL);
    expect_accept(hs, t, "s");
    free(t);
    free(c2);
    t = make_token(JWT_ALG_HS256, "hs-secret", "{\"sub\":\"s\"}", NULL);
    expect_reject(hs, t, "no exp");
    free(t);
    t = make_token(JWT_ALG_HS256, "hs-secret", "{\"sub\":\"s\",\"exp\":\"tomorrow\"}", NULL);
    expect_reject(hs, t, "exp");
    free(t);
    c2 = xasprintf("{\"exp\":%ld}", now + 600);
    t = make_token(JWT_ALG_HS256, "hs-secret", c2, NULL);
    expect_reject(hs, t, "sub");
    free(t);
    free(c2);

    /* garbage and truncation */
    const char *garbage[] = {"", "abc", "a.b", "a.b.c", "a.b.c.d", "....", "eyJ.eyJ.sig"};
    for (size_t i = 0; i < sizeof garbage / sizeof garbage[0]; i++) {
        struct jwt_claims c;
        struct iv_err e = {0};
        assert_int_equal(jwt_verify(hs, garbage[i], &c, &e), IV_EAUTH);
    }
    t = make_token(JWT_ALG_HS256, "hs-secret", cl, NULL);
    t[strlen(t) - 4] = '\0';
    expect_reject(hs, t, "signature");
    free(t);
    t = make_token(JWT_ALG_RS256, rsa_priv, cl, NULL);
    t[strlen(t) - 10] = '\0';
    expect_reject(rs, t, "signature");
    free(t);
    t = make_token(JWT_ALG_HS256, "hs-secret", cl, NULL);
    *strrchr(t, '.') = '\0';
    expect_reject(hs, t, "three segments");
    free(t);
    /* payload swapped under a valid signature */
    char *ta = make_token(JWT_ALG_HS256, "hs-secret", cl, NULL);
    char *cl2 = xasprintf("{\"sub\":\"tenant-2\",\"exp\":%ld}", now + 600);
    char *tb = make_token(JWT_ALG_HS256, "hs-secret", cl2, NULL);
    char *d1 = strchr(ta, '.'), *d1b = strrchr(ta, '.');
    char *db = strchr(tb, '.'), *dbb = strrchr(tb, '.');
    char *mix = xasprintf("%.*s%.*s%s", (int)(d1 - ta), ta, (int)(dbb - db), db, d1b);
    expect_reject(hs, mix, "signature");
    free(ta);
    free(tb);
    free(cl2);
    free(mix);

    free(hdr);
    free(hdr2);
    free(pl);
    free(none1);
    free(none2);
    free(none3);
    free(conf);
    jwt_verifier_free(hs);
    jwt_verifier_free(rs);
    free(cl);
}

static void test_iss_aud(void **state)
{
    (void)state;
    struct jwt_verifier *v = verifier("k", NULL, NULL, NULL, "https://issuer", "ivory");
    const char *cases[][2] = {
        {"\"iss\":\"https://issuer\",\"aud\":\"ivory\"", "ok"},
        {"\"iss\":\"https://issuer\",\"aud\":[\"x\",\"ivory\"]", "ok"},
        {"\"iss\":\"https://evil\",\"aud\":\"ivory\"", "issuer"},
        {"\"aud\":\"ivory\"", "issuer"},
        {"\"iss\":\"https://issuer\",\"aud\":\"other\"", "audience"},
        {"\"iss\":\"https://issuer\",\"aud\":[\"x\",\"y\"]", "audience"},
        {"\"iss\":\"https://issuer\"", "audience"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *cl = claims(cases[i][0]);
        char *t = make_token(JWT_ALG_HS256, "k", cl, NULL);
        if (strcmp(cases[i][1], "ok") == 0)
            expect_accept(v, t, "tenant-1");
        else
            expect_reject(v, t, cases[i][1]);
        free(t);
        free(cl);
    }
    jwt_verifier_free(v);
}

static void test_config_errors(void **state)
{
    (void)state;
    struct jwt_verifier *v = NULL;
    struct iv_err e = {0};
    struct jwt_verifier_config c = {0};
    assert_int_equal(jwt_verifier_new(&v, &c, &e), IV_EINVAL);
    assert_non_null(strstr(e.msg, "no jwt key"));
    c.hs256_secret = "k";
    c.algs = "HS256,none";
    assert_int_equal(jwt_verifier_new(&v, &c, &e), IV_EINVAL);
    assert_non_null(strstr(e.msg, "none"));
    c.algs = "RS256";
    assert_int_equal(jwt_verifier_new(&v, &c, &e), IV_EINVAL);
    assert_non_null(strstr(e.msg, "RSA public key"));
    c.algs = "XS999";
    assert_int_equal(jwt_verifier_new(&v, &c, &e), IV_EINVAL);
    c.algs = NULL;
    c.hs256_secret = NULL;
    c.public_key_path = "/nonexistent/key.pem";
    assert_int_equal(jwt_verifier_new(&v, &c, &e), IV_EINVAL);
    assert_non_null(strstr(e.msg, "/nonexistent/key.pem"));
    c.public_key_path = rsa1024_pub_path;
    assert_int_equal(jwt_verifier_new(&v, &c, &e), IV_EINVAL);
    assert_non_null(strstr(e.msg, "2048"));
    c.public_key_path = jwks_path;   /* JSON, not PEM */
    assert_int_equal(jwt_verifier_new(&v, &c, &e), IV_EINVAL);
    c.public_key_path = NULL;
    c.jwks_path = bad_jwks_path;
    assert_int_equal(jwt_verifier_new(&v, &c, &e), IV_EINVAL);
    assert_non_null(strstr(e.msg, "EC"));
    c.jwks_path = rsa_pub_path;      /* PEM, not JSON */
    assert_int_equal(jwt_verifier_new(&v, &c, &e), IV_EINVAL);
    assert_null(v);
}

/* A token verified once is served from the cache, but its exp is still enforced. */
static void test_cache_rechecks_exp(void **state)
{
    (void)state;
    struct jwt_verifier_config c = {"k", NULL, NULL, NULL, NULL, NULL, -1};   /* no leeway */
    struct jwt_verifier *v = NULL;
    struct iv_err e = {0};
    assert_int_equal(jwt_verifier_new(&v, &c, &e), IV_OK);
    long exp = (long)now_s() + 1;
    char *cl = xasprintf("{\"sub\":\"s\",\"exp\":%ld}", exp);
    char *t = make_token(JWT_ALG_HS256, "k", cl, NULL);
    expect_accept(v, t, "s");
    expect_accept(v, t, "s");   /* cached */
    /* a different signature on the same content is not a cache hit */
    char *forged = xstrdup(t);
    size_t n = strlen(forged);
    forged[n - 2] = forged[n - 2] == 'A' ? 'B' : 'A';
    expect_reject(v, forged, "signature");
    while (now_s() <= exp)   /* expired once now > exp */
        usleep(50000);
    expect_reject(v, t, "expired");
    expect_reject(v, t, "expired");
    free(forged);
    free(t);
    free(cl);
    jwt_verifier_free(v);
}

struct thr {
    struct jwt_verifier *v;
    const char *tok_rs, *tok_hs;
    int ok;
};

static void *thr_main(void *arg)
{
    struct thr *t = arg;
    for (int i = 0; i < 150; i++) {
        struct jwt_claims c;
        struct iv_err e;
        if (jwt_verify(t->v, (i & 1) ? t->tok_rs : t->tok_hs, &c, &e) == IV_OK &&
            strcmp(c.sub, "tenant-1") == 0)
            t->ok++;
    }
    return NULL;
}

static void test_concurrent_verify(void **state)
{
    (void)state;
    struct jwt_verifier *v = verifier("hs-secret", NULL, jwks_path, "HS256,RS256,ES256", NULL,
                                      NULL);
    char *cl = claims(NULL);
    char *trs = make_token(JWT_ALG_RS256, rsa_priv, cl, "r1");
    char *ths = make_token(JWT_ALG_HS256, "hs-secret", cl, NULL);
    enum { NT = 8 };
    pthread_t th[NT];
    struct thr args[NT];
    for (int i = 0; i < NT; i++) {
        args[i] = (struct thr){v, trs, ths, 0};
        assert_int_equal(pthread_create(&th[i], NULL, thr_main, &args[i]), 0);
    }
    for (int i = 0; i < NT; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(args[i].ok, 150);
    }
    free(trs);
    free(ths);
    free(cl);
    jwt_verifier_free(v);
}

/* A signature that decodes to the right bytes under a lenient decoder but is
 * not canonical unpadded base64url is refused; the canonical text verifies. */
static void test_noncanonical_signature(void **state)
{
    (void)state;
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    struct jwt_verifier *v = verifier("hs-secret", NULL, NULL, NULL, NULL, NULL);
    char *t = jwt_sign_hs256("hs-secret", "dev-tenant", 60, NULL);
    size_t n = strlen(t);
    assert_int_equal(n - (size_t)(strrchr(t, '.') + 1 - t), 43);   /* 32 bytes, 2 spare bits */
    char *bad = malloc(n + 2);
    memcpy(bad, t, n + 1);
    unsigned last = (unsigned)(strchr(alphabet, t[n - 1]) - alphabet);
    bad[n - 1] = alphabet[last ^ 1u];   /* flips one unused bit */
    expect_reject(v, bad, "canonical");
    bad[n - 1] = alphabet[last ^ 2u];
    expect_reject(v, bad, "canonical");
    memcpy(bad, t, n);
    bad[n] = '=';
    bad[n + 1] = '\0';
    expect_reject(v, bad, "canonical");
    bad[n] = 'A';   /* 44 chars: a length no 32-byte value encodes to, unpadded */
    expect_reject(v, bad, "signature");
    expect_accept(v, t, "dev-tenant");
    free(bad);
    free(t);
    jwt_verifier_free(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hs256_accept_and_claims),
        cmocka_unit_test(test_rs_es_jwks_accept),
        cmocka_unit_test(test_reject_matrix),
        cmocka_unit_test(test_iss_aud),
        cmocka_unit_test(test_config_errors),
        cmocka_unit_test(test_cache_rechecks_exp),
        cmocka_unit_test(test_concurrent_verify),
        cmocka_unit_test(test_noncanonical_signature),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
