/*
 * jwt: bearer-token verification for the API (docs/api.md) on libjwt 1.10.
 *
 * Owns: the key set (HS secret, RSA/EC public keys from a PEM file or a JWKS
 * file, converted to SubjectPublicKeyInfo PEM once at load), the algorithm
 * allow-list, and the claim checks libjwt 1.10 does not do itself (exp, nbf,
 * iss, aud). Also signs HS256 dev tokens.
 *
 * Algorithm confusion: the token header is parsed here *before* libjwt sees
 * the token. The header alg must be on the allow-list and decides the key
 * family: HS* tokens are only ever checked with the HS secret, RS* only with
 * RSA public keys, ES256 only with P-256 public keys. "none" is always refused.
 *
 * Thread safety: a verifier is immutable after jwt_verifier_new(); every
 * jwt_verify() call works on its own libjwt object, so any number of threads
 * may verify concurrently.
 */
#include "crypto/crypto.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <math.h>
#include <pthread.h>

#include <jwt.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/sha.h>

#define JWT_MAX_TOKEN 16384
#define JWT_MAX_KEYFILE (1024 * 1024)
#define JWT_DEFAULT_LEEWAY 30

enum key_kind { KEY_RSA = 1, KEY_EC = 2 };

struct jwt_key {
    enum key_kind kind;
    char *kid;      /* NULL for the PEM-file key or a JWK without kid */
    char *pem;      /* SubjectPublicKeyInfo PEM, NUL-terminated */
    size_t pem_len;
};

/* Verified-token cache. RS256 verification through libjwt re-parses the PEM
 * key on every call (~0.7 ms); clients reuse a bearer token for many requests,
 * so a successful verification is remembered under SHA-256(token). A hit
 * still re-checks exp/nbf against the clock; only fully verified tokens are
 * ever stored. Direct-mapped, one mutex. */
#define JWT_CACHE_SLOTS 512

struct jwt_cache_ent {
    bool used;
    uint8_t hash[32];
    double exp, nbf;   /* nbf = -inf when absent */
    struct jwt_claims claims;
};

struct jwt_cache {
    pthread_mutex_t mu;
    struct jwt_cache_ent ent[JWT_CACHE_SLOTS];
};

struct jwt_verifier {
    struct jwt_cache *cache;
    uint8_t *hs_secret;
    size_t hs_len;
    struct jwt_key *keys;
    size_t nkeys;
    unsigned allowed;   /* bit (1 << jwt_alg_t) */
    char *issuer;
    char *audience;
    int leeway_s;
};

/* Algorithms we accept at all, and the key family each needs. */
static const struct {
    const char *name;
    jwt_alg_t alg;
    int kind;   /* 0 = HS secret */
} alg_table[] = {
    {"HS256", JWT_ALG_HS256, 0}, {"HS384", JWT_ALG_HS384, 0}, {"HS512", JWT_ALG_HS512, 0},
    {"RS256", JWT_ALG_RS256, KEY_RSA}, {"RS384", JWT_ALG_RS384, KEY_RSA},
    {"RS512", JWT_ALG_RS512, KEY_RSA}, {"ES256", JWT_ALG_ES256, KEY_EC},
};
#define N_ALGS (sizeof alg_table / sizeof alg_table[0])

static int alg_index(const char *name)
{
    for (size_t i = 0; i < N_ALGS; i++)
        if (strcmp(alg_table[i].name, name) == 0)
            return (int)i;
    return -1;
}

/* ---- JWK / PEM loading ------------------------------------------------- */

/* base64url (or standard) member -> bytes. Caller frees *out. */
static int b64_member(json_t *k, const char *name, uint8_t **out, size_t *len)
{
    const char *s = json_str(k, name);
    if (!s || !*s)
        return IV_EINVAL;
    return base64_decode(s, out, len);
}

static int pkey_to_pem(EVP_PKEY *pkey, struct jwt_key *key)
{
    BIO *bio = BIO_new(BIO_s_mem());
    if (!bio)
        return IV_ENOMEM;
    int rc = IV_EINVAL;
    if (PEM_write_bio_PUBKEY(bio, pkey) == 1) {
        char *data = NULL;
        long n = BIO_get_mem_data(bio, &data);
        if (n > 0) {
            key->pem = xstrndup(data, (size_t)n);
            key->pem_len = (size_t)n;
            rc = IV_OK;
        }
    }
    BIO_free(bio);
    return rc;
}

/* Checks the key type/size and fills key->kind. */
static int classify_pkey(EVP_PKEY *pkey, struct jwt_key *key, const char *what,
                         struct iv_err *e)
{
    int id = EVP_PKEY_get_base_id(pkey);
    if (id == EVP_PKEY_RSA) {
        if (EVP_PKEY_get_bits(pkey) < 2048)
            return iv_err_set(e, IV_EINVAL, "%s: RSA key has %d bits; at least 2048 required",
                              what, EVP_PKEY_get_bits(pkey));
        key->kind = KEY_RSA;
        return IV_OK;
    }
    if (id == EVP_PKEY_EC) {
        char group[64] = "";
        size_t glen = 0;
        if (EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group,
                                           &glen) != 1 ||
            strcmp(group, "prime256v1") != 0)
            return iv_err_set(e, IV_EINVAL, "%s: EC key is not on curve P-256", what);
        key->kind = KEY_EC;
        return IV_OK;
    }
    return iv_err_set(e, IV_EINVAL, "%s: unsupported key type (RSA or EC P-256 expected)", what);
}

static EVP_PKEY *jwk_rsa(json_t *k, const char *what, struct iv_err *e)
{
    uint8_t *n = NULL, *ex = NULL;
    size_t nlen = 0, elen = 0;
    BIGNUM *bn = NULL, *be = NULL;
    OSSL_PARAM_BLD *bld = NULL;
    OSSL_PARAM *params = NULL;
    EVP_PKEY_CTX *ctx = NULL;
    EVP_PKEY *pkey = NULL;

    if (b64_member(k, "n", &n, &nlen) || b64_member(k, "e", &ex, &elen) || nlen == 0 ||
        elen == 0) {
        iv_err_set(e, IV_EINVAL, "%s: RSA key needs base64url members 'n' and 'e'", what);
        goto out;
    }
    bn = BN_bin2bn(n, (int)nlen, NULL);
    be = BN_bin2bn(ex, (int)elen, NULL);
    bld = OSSL_PARAM_BLD_new();
    if (!bn || !be || !bld || !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn) ||
        !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, be) ||
        !(params = OSSL_PARAM_BLD_to_param(bld)) ||
        !(ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL)) ||
        EVP_PKEY_fromdata_init(ctx) != 1 ||
        EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1) {
        iv_err_set(e, IV_EINVAL, "%s: invalid RSA key", what);
        EVP_PKEY_free(pkey);
        pkey = NULL;
    }
out:
    free(n);
    free(ex);
    BN_free(bn);
    BN_free(be);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    EVP_PKEY_CTX_free(ctx);
    return pkey;
}

static EVP_PKEY *jwk_ec(json_t *k, const char *what, struct iv_err *e)
{
    uint8_t *x = NULL, *y = NULL;
    size_t xlen = 0, ylen = 0;
    uint8_t pub[65];
    OSSL_PARAM_BLD *bld = NULL;
    OSSL_PARAM *params = NULL;
    EVP_PKEY_CTX *ctx = NULL, *chk = NULL;
    EVP_PKEY *pkey = NULL;
    const char *crv = json_str(k, "crv");

    if (!crv || strcmp(crv, "P-256") != 0) {
        iv_err_set(e, IV_EINVAL, "%s: EC key must have crv 'P-256'", what);
        goto out;
    }
    if (b64_member(k, "x", &x, &xlen) || b64_member(k, "y", &y, &ylen) || xlen != 32 ||
        ylen != 32) {
        iv_err_set(e, IV_EINVAL, "%s: EC key needs 32-byte base64url members 'x' and 'y'", what);
        goto out;
    }
    pub[0] = 0x04;
    memcpy(pub + 1, x, 32);
    memcpy(pub + 33, y, 32);
    bld = OSSL_PARAM_BLD_new();
    if (!bld ||
        !OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) ||
        !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pub, sizeof pub) ||
        !(params = OSSL_PARAM_BLD_to_param(bld)) ||
        !(ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL)) ||
        EVP_PKEY_fromdata_init(ctx) != 1 ||
        EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1 ||
        !(chk = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL)) || EVP_PKEY_public_check(chk) != 1) {
        iv_err_set(e, IV_EINVAL, "%s: invalid EC P-256 key (point not on the curve?)", what);
        EVP_PKEY_free(pkey);
        pkey = NULL;
    }
out:
    free(x);
    free(y);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    EVP_PKEY_CTX_free(ctx);
    EVP_PKEY_CTX_free(chk);
    return pkey;
}

static void add_key(struct jwt_verifier *v, const struct jwt_key *k)
{
    v->keys = xrealloc(v->keys, (v->nkeys + 1) * sizeof *v->keys);
    v->keys[v->nkeys++] = *k;
}

static int load_pem(struct jwt_verifier *v, const char *path, struct iv_err *e)
{
    char *data = NULL;
    size_t len = 0;
    struct iv_err fe = {0};
    if (file_read_all(path, JWT_MAX_KEYFILE, &data, &len, &fe))
        return iv_err_set(e, IV_EINVAL, "jwt public key: %s", fe.msg);
    int rc;
    BIO *bio = BIO_new_mem_buf(data, (int)len);
    EVP_PKEY *pkey = bio ? PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);
    free(data);
    if (!pkey)
        return iv_err_set(e, IV_EINVAL, "jwt public key '%s' is not a PEM public key "
                          "(-----BEGIN PUBLIC KEY-----)", path);
    struct jwt_key k = {0};
    char what[300];
    snprintf(what, sizeof what, "jwt public key '%s'", path);
    rc = classify_pkey(pkey, &k, what, e);
    if (!rc && pkey_to_pem(pkey, &k))
        rc = iv_err_set(e, IV_EINVAL, "%s: cannot re-encode key", what);
    EVP_PKEY_free(pkey);
    if (!rc)
        add_key(v, &k);
    return rc;
}

static int load_jwks(struct jwt_verifier *v, const char *path, struct iv_err *e)
{
    char *data = NULL;
    size_t len = 0;
    struct iv_err fe = {0};
    if (file_read_all(path, JWT_MAX_KEYFILE, &data, &len, &fe))
        return iv_err_set(e, IV_EINVAL, "jwks: %s", fe.msg);
    int rc = IV_OK;
    json_error_t jerr;
    json_t *root = json_loadb(data, len, 0, &jerr);
    free(data);
    json_t *arr = root ? json_object_get(root, "keys") : NULL;
    if (!json_is_array(arr)) {
        json_decref(root);
        return iv_err_set(e, IV_EINVAL, "jwks '%s' is not a JSON object with a 'keys' array", path);
    }
    size_t i, used = 0;
    json_t *k;
    json_array_foreach(arr, i, k) {
        char what[340];
        snprintf(what, sizeof what, "jwks '%s' key %zu", path, i);
        const char *kty = json_str(k, "kty");
        const char *use = json_str(k, "use");
        const char *alg = json_str(k, "alg");
        if (!json_is_object(k) || !kty) {
            rc = iv_err_set(e, IV_EINVAL, "%s has no 'kty'", what);
            break;
        }
        if (use && strcmp(use, "sig") != 0)
            continue;   /* encryption keys are not for us */
        if (strcmp(kty, "RSA") != 0 && strcmp(kty, "EC") != 0)
            continue;   /* e.g. "oct" or "OKP": not supported, not an error */
        if (alg) {   /* a JWK that names its alg is only used for that alg's family */
            int ai = alg_index(alg);
            int want = strcmp(kty, "RSA") == 0 ? KEY_RSA : KEY_EC;
            if (ai < 0 || alg_table[ai].kind != want)
                continue;
        }
        EVP_PKEY *pkey = strcmp(kty, "RSA") == 0 ? jwk_rsa(k, what, e) : jwk_ec(k, what, e);
        if (!pkey) {
            rc = IV_EINVAL;
            break;
        }
        struct jwt_key key = {0};
        rc = classify_pkey(pkey, &key, what, e);
        if (!rc && pkey_to_pem(pkey, &key))
            rc = iv_err_set(e, IV_EINVAL, "%s: cannot encode key", what);
        EVP_PKEY_free(pkey);
        if (rc) {
            free(key.pem);
            break;
        }
        const char *kid = json_str(k, "kid");
        key.kid = kid ? xstrdup(kid) : NULL;
        add_key(v, &key);
        used++;
    }
    json_decref(root);
    if (!rc && used == 0)
        rc = iv_err_set(e, IV_EINVAL, "jwks '%s' has no usable RSA or EC P-256 signing key", path);
    return rc;
}

static bool have_kind(const struct jwt_verifier *v, int kind)
{
    if (kind == 0)
        return v->hs_secret != NULL;
    for (size_t i = 0; i < v->nkeys; i++)
        if ((int)v->keys[i].kind == kind)
            return true;
    return false;
}

static int parse_algs(struct jwt_verifier *v, const char *algs, struct iv_err *e)
{
    char *copy = xstrdup(algs);
    int rc = IV_OK;
    char *save = NULL;
    for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        while (*tok == ' ' || *tok == '\t')
            tok++;
        size_t n = strlen(tok);
        while (n > 0 && (tok[n - 1] == ' ' || tok[n - 1] == '\t'))
            tok[--n] = '\0';
        if (n == 0)
            continue;
        if (strcasecmp(tok, "none") == 0) {
            rc = iv_err_set(e, IV_EINVAL, "jwt algorithm list must not contain 'none'");
            break;
        }
        int idx = alg_index(tok);
        if (idx < 0) {
            rc = iv_err_set(e, IV_EINVAL, "jwt algorithm '%.32s' is not supported (use HS256, "
                            "HS384, HS512, RS256, RS384, RS512 or ES256)", tok);
            break;
        }
        if (!have_kind(v, alg_table[idx].kind)) {
            rc = iv_err_set(e, IV_EINVAL, "jwt algorithm %s is allowed but no %s is configured",
                            tok, alg_table[idx].kind == 0 ? "HS secret"
                                 : alg_table[idx].kind == KEY_RSA ? "RSA public key"
                                                                  : "EC P-256 public key");
            break;
        }
        v->allowed |= 1u << alg_table[idx].alg;
    }
    free(copy);
    if (!rc && v->allowed == 0)
        rc = iv_err_set(e, IV_EINVAL, "jwt algorithm list is empty");
    return rc;
}

int jwt_verifier_new(struct jwt_verifier **out, const struct jwt_verifier_config *cfg,
                     struct iv_err *e)
{
    *out = NULL;
    bool has_secret = cfg->hs256_secret && *cfg->hs256_secret;
    bool has_pem = cfg->public_key_path && *cfg->public_key_path;
    bool has_jwks = cfg->jwks_path && *cfg->jwks_path;
    if (!has_secret && !has_pem && !has_jwks)
        return iv_err_set(e, IV_EINVAL, "no jwt key configured (set IVORY_JWT_SECRET, "
                          "IVORY_JWT_PUBLIC_KEY or IVORY_JWT_JWKS)");
    struct jwt_verifier *v = xcalloc(1, sizeof *v);
    v->cache = xcalloc(1, sizeof *v->cache);
    pthread_mutex_init(&v->cache->mu, NULL);
    int rc = IV_OK;
    if (has_secret) {
        v->hs_len = strlen(cfg->hs256_secret);
        v->hs_secret = (uint8_t *)xstrdup(cfg->hs256_secret);
    }
    if (has_pem && (rc = load_pem(v, cfg->public_key_path, e)))
        goto fail;
    if (has_jwks && (rc = load_jwks(v, cfg->jwks_path, e)))
        goto fail;
    if (cfg->algs && *cfg->algs) {
        if ((rc = parse_algs(v, cfg->algs, e)))
            goto fail;
    } else {
        if (has_secret)
            v->allowed |= 1u << JWT_ALG_HS256;
        if (have_kind(v, KEY_RSA))
            v->allowed |= 1u << JWT_ALG_RS256;
        if (have_kind(v, KEY_EC))
            v->allowed |= 1u << JWT_ALG_ES256;
    }
    v->issuer = cfg->issuer && *cfg->issuer ? xstrdup(cfg->issuer) : NULL;
    v->audience = cfg->audience && *cfg->audience ? xstrdup(cfg->audience) : NULL;
    v->leeway_s = cfg->leeway_s == 0 ? JWT_DEFAULT_LEEWAY : cfg->leeway_s < 0 ? 0 : cfg->leeway_s;
    *out = v;
    return IV_OK;
fail:
    jwt_verifier_free(v);
    return rc;
}

void jwt_verifier_free(struct jwt_verifier *v)
{
    if (!v)
        return;
    if (v->hs_secret) {
        OPENSSL_cleanse(v->hs_secret, v->hs_len);
        free(v->hs_secret);
    }
    for (size_t i = 0; i < v->nkeys; i++) {
        free(v->keys[i].kid);
        free(v->keys[i].pem);
    }
    free(v->keys);
    if (v->cache) {
        pthread_mutex_destroy(&v->cache->mu);
        OPENSSL_cleanse(v->cache, sizeof *v->cache);
        free(v->cache);
    }
    free(v->issuer);
    free(v->audience);
    free(v);
}

/* ---- verification ------------------------------------------------------ */

/* Decodes and parses the header segment. Returns a new object or NULL. */
static json_t *parse_header(const char *token, size_t seg_len)
{
    char *seg = xstrndup(token, seg_len);
    uint8_t *raw = NULL;
    size_t raw_len = 0;
    json_t *h = NULL;
    if (base64_decode(seg, &raw, &raw_len) == IV_OK) {
        h = json_loadb((const char *)raw, raw_len, JSON_REJECT_DUPLICATES, NULL);
        free(raw);
    }
    free(seg);
    if (h && !json_is_object(h)) {
        json_decref(h);
        h = NULL;
    }
    return h;
}

static int check_times(const struct jwt_verifier *v, double exp, double nbf, struct iv_err *e)
{
    int64_t now = now_s();
    if ((double)now > exp + v->leeway_s)
        return iv_err_set(e, IV_EAUTH, "token expired");
    if (nbf > (double)(now + v->leeway_s))
        return iv_err_set(e, IV_EAUTH, "token not valid yet (nbf in the future)");
    return IV_OK;
}

static int check_claims(const struct jwt_verifier *v, json_t *c, struct jwt_claims *out,
                        double *exp_out, double *nbf_out, struct iv_err *e)
{
    json_t *exp = json_object_get(c, "exp");
    if (!exp)
        return iv_err_set(e, IV_EAUTH, "token has no exp claim");
    if (!json_is_number(exp))
        return iv_err_set(e, IV_EAUTH, "token exp claim is not a number");
    double expv = json_number_value(exp);
    json_t *nbf = json_object_get(c, "nbf");
    double nbfv = -INFINITY;
    if (nbf) {
        if (!json_is_number(nbf))
            return iv_err_set(e, IV_EAUTH, "token nbf claim is not a number");
        nbfv = json_number_value(nbf);
    }
    int rc = check_times(v, expv, nbfv, e);
    if (rc)
        return rc;
    *exp_out = expv;
    *nbf_out = nbfv;
    if (v->issuer) {
        const char *iss = json_str(c, "iss");
        if (!iss || strcmp(iss, v->issuer) != 0)
            return iv_err_set(e, IV_EAUTH, "token issuer does not match");
    }
    if (v->audience) {
        json_t *aud = json_object_get(c, "aud");
        bool ok = false;
        if (json_is_string(aud)) {
            ok = strcmp(json_string_value(aud), v->audience) == 0;
        } else if (json_is_array(aud)) {
            size_t i;
            json_t *a;
            json_array_foreach(aud, i, a) {
                if (json_is_string(a) && strcmp(json_string_value(a), v->audience) == 0)
                    ok = true;
            }
        }
        if (!ok)
            return iv_err_set(e, IV_EAUTH, "token audience does not match");
    }
    const char *sub = json_str(c, "sub");
    if (!sub || !*sub)
        return iv_err_set(e, IV_EAUTH, "token has no sub claim");
    if (strlen(sub) >= sizeof out->sub)
        return iv_err_set(e, IV_EAUTH, "token sub claim is too long");
    const char *slug = json_str(c, "tenant_slug");
    if (slug && strlen(slug) >= sizeof out->tenant_slug)
        return iv_err_set(e, IV_EAUTH, "token tenant_slug claim is too long");
    const char *role = json_str(c, "role");

    memset(out, 0, sizeof *out);
    memcpy(out->sub, sub, strlen(sub) + 1);
    if (slug)
        memcpy(out->tenant_slug, slug, strlen(slug) + 1);
    out->is_admin = role && strcmp(role, "admin") == 0;
    out->exp = (int64_t)expv;
    return IV_OK;
}

/* One signature check with one key; returns the decoded claims or NULL. */
static json_t *try_decode(const char *token, jwt_alg_t alg, const uint8_t *key, size_t key_len)
{
    jwt_t *jwt = NULL;
    if (jwt_decode(&jwt, token, key, (int)key_len) != 0 || !jwt)
        return NULL;
    json_t *claims = NULL;
    if (jwt_get_alg(jwt) == alg) {
        char *js = jwt_get_grants_json(jwt, NULL);
        if (js) {
            claims = json_loads(js, 0, NULL);
            free(js);
        }
    }
    jwt_free(jwt);
    if (claims && !json_is_object(claims)) {
        json_decref(claims);
        claims = NULL;
    }
    return claims;
}

int jwt_verify(const struct jwt_verifier *v, const char *token, struct jwt_claims *out,
               struct iv_err *e)
{
    if (!token || !*token)
        return iv_err_set(e, IV_EAUTH, "empty token");
    size_t tlen = strlen(token);
    if (tlen > JWT_MAX_TOKEN)
        return iv_err_set(e, IV_EAUTH, "token longer than %d bytes", JWT_MAX_TOKEN);
    const char *dot1 = strchr(token, '.');
    const char *dot2 = dot1 ? strchr(dot1 + 1, '.') : NULL;
    if (!dot1 || !dot2 || strchr(dot2 + 1, '.'))
        return iv_err_set(e, IV_EAUTH, "token is not a compact JWS (three segments)");

    if (!base64url_is_canonical(dot2 + 1, strlen(dot2 + 1)))
        return iv_err_set(e, IV_EAUTH, "token signature is not canonical base64url");

    uint8_t hash[32];
    SHA256((const unsigned char *)token, tlen, hash);
    struct jwt_cache_ent *slot = &v->cache->ent[(hash[0] | hash[1] << 8) % JWT_CACHE_SLOTS];
    pthread_mutex_lock(&v->cache->mu);
    if (slot->used && CRYPTO_memcmp(slot->hash, hash, 32) == 0) {
        int trc = check_times(v, slot->exp, slot->nbf, e);
        if (trc == IV_OK)
            *out = slot->claims;
        else
            slot->used = false;
        pthread_mutex_unlock(&v->cache->mu);
        return trc;
    }
    pthread_mutex_unlock(&v->cache->mu);

    json_t *hdr = parse_header(token, (size_t)(dot1 - token));
    if (!hdr)
        return iv_err_set(e, IV_EAUTH, "token header is not base64url JSON");
    int rc = IV_OK;
    json_t *claims = NULL;
    const char *alg_name = json_str(hdr, "alg");
    const char *kid = json_str(hdr, "kid");
    if (!alg_name) {
        rc = iv_err_set(e, IV_EAUTH, "token header has no alg");
        goto out;
    }
    if (strcasecmp(alg_name, "none") == 0) {
        rc = iv_err_set(e, IV_EAUTH, "token alg 'none' is never accepted");
        goto out;
    }
    if (dot2[1] == '\0') {
        rc = iv_err_set(e, IV_EAUTH, "token has no signature");
        goto out;
    }
    if (json_object_get(hdr, "crit")) {
        rc = iv_err_set(e, IV_EAUTH, "token header has unsupported 'crit' extensions");
        goto out;
    }
    int idx = alg_index(alg_name);
    if (idx < 0 || !(v->allowed & (1u << alg_table[idx].alg))) {
        rc = iv_err_set(e, IV_EAUTH, "token alg '%.16s' is not allowed", alg_name);
        goto out;
    }
    jwt_alg_t alg = alg_table[idx].alg;
    int kind = alg_table[idx].kind;

    if (kind == 0) {
        claims = try_decode(token, alg, v->hs_secret, v->hs_len);
    } else {
        /* Keys of the family the alg needs; with a kid, the keys carrying that kid, or,
         * if none does, the keys without a kid (the PEM-file key). */
        bool kid_match = false;
        if (kid)
            for (size_t i = 0; i < v->nkeys; i++)
                if ((int)v->keys[i].kind == kind && v->keys[i].kid &&
                    strcmp(v->keys[i].kid, kid) == 0)
                    kid_match = true;
        bool tried = false;
        for (size_t i = 0; i < v->nkeys && !claims; i++) {
            const struct jwt_key *k = &v->keys[i];
            if ((int)k->kind != kind)
                continue;
            if (kid && kid_match && !(k->kid && strcmp(k->kid, kid) == 0))
                continue;
            if (kid && !kid_match && k->kid)
                continue;
            tried = true;
            claims = try_decode(token, alg, (const uint8_t *)k->pem, k->pem_len);
        }
        if (!tried) {
            rc = iv_err_set(e, IV_EAUTH, "no key matches the token's kid");
            goto out;
        }
    }
    if (!claims) {
        rc = iv_err_set(e, IV_EAUTH, "token signature is invalid");
        goto out;
    }
    double expv = 0, nbfv = 0;
    rc = check_claims(v, claims, out, &expv, &nbfv, e);
    if (rc == IV_OK) {
        pthread_mutex_lock(&v->cache->mu);
        slot->used = true;
        memcpy(slot->hash, hash, 32);
        slot->exp = expv;
        slot->nbf = nbfv;
        slot->claims = *out;
        pthread_mutex_unlock(&v->cache->mu);
    }
out:
    json_decref(claims);
    json_decref(hdr);
    return rc;
}

char *jwt_sign_hs256(const char *secret, const char *sub, int64_t ttl_s, const char *extra_json)
{
    if (!secret || !*secret || !sub)
        return NULL;
    jwt_t *jwt = NULL;
    char *out = NULL;
    if (jwt_new(&jwt) != 0)
        return NULL;
    int64_t now = now_s();
    if (extra_json && *extra_json && jwt_add_grants_json(jwt, extra_json) != 0)
        goto out;
    if (jwt_add_grant(jwt, "sub", sub) != 0 || jwt_add_grant_int(jwt, "iat", (long)now) != 0 ||
        jwt_add_grant_int(jwt, "exp", (long)(now + ttl_s)) != 0)
        goto out;
    if (jwt_set_alg(jwt, JWT_ALG_HS256, (const unsigned char *)secret, (int)strlen(secret)) != 0)
        goto out;
    char *enc = jwt_encode_str(jwt);
    if (enc) {
        out = xstrdup(enc);
        free(enc);
    }
out:
    jwt_free(jwt);
    return out;
}
