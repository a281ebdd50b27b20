/*
 * jwe: compact JWE (RFC 7516) for tap configs encrypted by the client with
 * Ivory's public key, so no tenant ever holds a key that opens another
 * tenant's config. Owns the config key pair (a PEM file: RSA >= 2048 bits or
 * EC P-256), its public JWK with an RFC 7638 thumbprint as kid, and the two
 * key-management modes:
 *
 *   RSA key:  alg "RSA-OAEP-256" (OAEP, SHA-256 + MGF1-SHA-256) wraps a random
 *             256-bit content key;
 *   EC key:   alg "ECDH-ES" (direct key agreement, RFC 7518 §4.6): an
 *             ephemeral P-256 key in the header, Concat KDF (SHA-256) over the
 *             shared secret gives the content key;
 *
 * and one content encryption, enc "A256GCM" (96-bit IV, 128-bit tag, AAD =
 * the protected header as sent). Nothing else is accepted: no "zip", no
 * "crit", no other alg/enc, a kid that names another key is refused, the
 * ephemeral key must be a valid point on P-256.
 *
 * Built on OpenSSL 3 EVP only. Memory: every function documents what the
 * caller frees; content keys and shared secrets are wiped with
 * OPENSSL_cleanse before their buffers are released.
 */
#include "crypto/crypto.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#define JWE_MAX_KEYFILE (64 * 1024)
#define JWE_MAX_TEXT (16u * 1024 * 1024)

enum jwe_kind { JWE_RSA = 1, JWE_EC = 2 };

struct jwe_key {
    enum jwe_kind kind;
    EVP_PKEY *pkey;
    bool has_private;
    char kid[48];          /* base64url SHA-256 JWK thumbprint */
    json_t *public_jwk;    /* kty + members + kid, use, alg */
};

/* ---- base64url -------------------------------------------------------------- */

static char *b64url_encode(const void *p, size_t n)
{
    char *s = base64_encode(p, n);
    size_t o = 0;
    for (size_t i = 0; s[i]; i++) {
        if (s[i] == '=')
            break;
        s[o++] = s[i] == '+' ? '-' : s[i] == '/' ? '_' : s[i];
    }
    s[o] = '\0';
    return s;
}

/* Strict: canonical unpadded base64url only (base64url_is_canonical). */
static int b64url_decode(const char *s, size_t n, uint8_t **out, size_t *out_len)
{
    *out = NULL;
    if (!base64url_is_canonical(s, n))
        return IV_EINVAL;
    char *tmp = xmalloc(n + 1);
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    int rc = base64_decode(tmp, out, out_len);
    free(tmp);
    return rc == IV_OK ? IV_OK : IV_EINVAL;
}

static void json_set_b64url(json_t *o, const char *name, const uint8_t *p, size_t n)
{
    char *s = b64url_encode(p, n);
    json_object_set_new(o, name, json_string(s));
    free(s);
}

/* ---- keys -------------------------------------------------------------------- */

static int bn_param(EVP_PKEY *pkey, const char *name, uint8_t **out, size_t *len)
{
    BIGNUM *bn = NULL;
    if (!EVP_PKEY_get_bn_param(pkey, name, &bn))
        return IV_EINVAL;
    *len = (size_t)BN_num_bytes(bn);
    *out = xmalloc(*len ? *len : 1);
    BN_bn2bin(bn, *out);
    BN_free(bn);
    return IV_OK;
}

/* P-256 public point as x, y (32 bytes each). */
static int ec_point(EVP_PKEY *pkey, uint8_t x[32], uint8_t y[32])
{
    uint8_t pub[65];
    size_t len = 0;
    if (!EVP_PKEY_get_octet_string_param(pkey, OSSL_PKEY_PARAM_PUB_KEY, pub, sizeof pub, &len))
        return IV_EINVAL;
    if (len != 65 || pub[0] != 0x04) {
        /* compressed form: ask for the uncompressed encoding */
        uint8_t *enc = NULL;
        size_t elen = EVP_PKEY_get1_encoded_public_key(pkey, &enc);
        if (elen != 65 || !enc || enc[0] != 0x04) {
            OPENSSL_free(enc);
            return IV_EINVAL;
        }
        memcpy(pub, enc, 65);
        OPENSSL_free(enc);
    }
    memcpy(x, pub + 1, 32);
    memcpy(y, pub + 33, 32);
    return IV_OK;
}

/* Builds the public JWK and the RFC 7638 thumbprint kid. */
static int describe_key(struct jwe_key *k, struct iv_err *e)
{
    json_t *req = NULL;   /* the thumbprint's required members, sorted keys */
    if (k->kind == JWE_RSA) {
        uint8_t *n = NULL, *ex = NULL;
        size_t nlen = 0, elen = 0;
        if (bn_param(k->pkey, OSSL_PKEY_PARAM_RSA_N, &n, &nlen) ||
            bn_param(k->pkey, OSSL_PKEY_PARAM_RSA_E, &ex, &elen)) {
            free(n);
            free(ex);
            return iv_err_set(e, IV_EINVAL, "cannot read the RSA key's modulus");
        }
        req = json_object();
        json_set_b64url(req, "e", ex, elen);
        json_object_set_new(req, "kty", json_string("RSA"));
        json_set_b64url(req, "n", n, nlen);
        free(n);
        free(ex);
    } else {
        uint8_t x[32], y[32];
        if (ec_point(k->pkey, x, y))
            return iv_err_set(e, IV_EINVAL, "cannot read the EC key's public point");
        req = json_object();
        json_object_set_new(req, "crv", json_string("P-256"));
        json_object_set_new(req, "kty", json_string("EC"));
        json_set_b64url(req, "x", x, 32);
        json_set_b64url(req, "y", y, 32);
    }
    char *canon = json_dumps(req, JSON_COMPACT | JSON_SORT_KEYS);
    uint8_t digest[32];
    SHA256((const unsigned char *)canon, strlen(canon), digest);
    free(canon);
    char *kid = b64url_encode(digest, sizeof digest);
    snprintf(k->kid, sizeof k->kid, "%s", kid);
    free(kid);
    k->public_jwk = req;
    json_object_set_new(req, "kid", json_string(k->kid));
    json_object_set_new(req, "use", json_string("enc"));
    json_object_set_new(req, "alg", json_string(k->kind == JWE_RSA ? "RSA-OAEP-256" : "ECDH-ES"));
    return IV_OK;
}

static int classify(struct jwe_key *k, const char *what, struct iv_err *e)
{
    if (EVP_PKEY_is_a(k->pkey, "RSA")) {
        if (EVP_PKEY_get_bits(k->pkey) < 2048)
            return iv_err_set(e, IV_EINVAL, "%s: RSA key has %d bits; at least 2048 are required",
                              what, EVP_PKEY_get_bits(k->pkey));
        k->kind = JWE_RSA;
    } else if (EVP_PKEY_is_a(k->pkey, "EC")) {
        char group[64] = "";
        size_t glen = 0;
        if (!EVP_PKEY_get_utf8_string_param(k->pkey, OSSL_PKEY_PARAM_GROUP_NAME, group,
                                            sizeof group, &glen) ||
            strcmp(group, "prime256v1") != 0)
            return iv_err_set(e, IV_EINVAL, "%s: EC key must be on P-256", what);
        k->kind = JWE_EC;
    } else {
        return iv_err_set(e, IV_EINVAL, "%s: the key must be RSA or EC P-256", what);
    }
    return describe_key(k, e);
}

int jwe_key_load(struct jwe_key **out, const char *path, struct iv_err *e)
{
    *out = NULL;
    size_t len = 0;
    char *pem = NULL;
    struct iv_err fe = {0};
    int rc = file_read_all(path, JWE_MAX_KEYFILE, &pem, &len, &fe);
    if (rc)
        return iv_err_set(e, IV_EINVAL, "cannot read the config key file %s: %s", path, fe.msg);
    struct jwe_key *k = xcalloc(1, sizeof *k);
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    k->pkey = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
    k->has_private = k->pkey != NULL;
    if (!k->pkey) {
        BIO_free(bio);
        bio = BIO_new_mem_buf(pem, (int)len);
        k->pkey = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
    }
    BIO_free(bio);
    OPENSSL_cleanse(pem, len);
    free(pem);
    if (!k->pkey) {
        jwe_key_free(k);
        return iv_err_set(e, IV_EINVAL, "%s holds no PEM private or public key", path);
    }
    struct stat sb;
    if (k->has_private && stat(path, &sb) == 0 && (sb.st_mode & 077)) {
        jwe_key_free(k);
        return iv_err_set(e, IV_EINVAL,
                          "%s holds a private key but is readable by group or others "
                          "(chmod 600 it)", path);
    }
    rc = classify(k, path, e);
    if (rc) {
        jwe_key_free(k);
        return rc;
    }
    *out = k;
    return IV_OK;
}

/* EVP_PKEY for a P-256 public point; checked to be on the curve. */
static EVP_PKEY *ec_public_from_xy(const uint8_t *x, const uint8_t *y)
{
    uint8_t pub[65];
    OSSL_PARAM_BLD *bld = NULL;
    OSSL_PARAM *params = NULL;
    EVP_PKEY_CTX *ctx = NULL, *chk = NULL;
    EVP_PKEY *pkey = NULL;
    pub[0] = 0x04;
    memcpy(pub + 1, x, 32);
    memcpy(pub + 33, y, 32);
    bld = OSSL_PARAM_BLD_new();
    if (!bld ||
        !OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) ||
        !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pub, sizeof pub) ||
        !(params = OSSL_PARAM_BLD_to_param(bld)) ||
        !(ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL)) || EVP_PKEY_fromdata_init(ctx) != 1 ||
        EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1 ||
        !(chk = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL)) || EVP_PKEY_public_check(chk) != 1) {
        EVP_PKEY_free(pkey);
        pkey = NULL;
    }
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    EVP_PKEY_CTX_free(ctx);
    EVP_PKEY_CTX_free(chk);
    return pkey;
}

static EVP_PKEY *rsa_public_from_ne(const uint8_t *n, size_t nlen, const uint8_t *ex, size_t elen)
{
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    BIGNUM *bn = BN_bin2bn(n, (int)nlen, NULL), *be = BN_bin2bn(ex, (int)elen, NULL);
    OSSL_PARAM *params = NULL;
    EVP_PKEY_CTX *ctx = NULL;
    EVP_PKEY *pkey = NULL;
    if (!bld || !bn || !be || !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn) ||
        !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, be) ||
        !(params = OSSL_PARAM_BLD_to_param(bld)) ||
        !(ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL)) || EVP_PKEY_fromdata_init(ctx) != 1 ||
        EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1)
        pkey = NULL;
    BN_free(bn);
    BN_free(be);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    EVP_PKEY_CTX_free(ctx);
    return pkey;
}

static int jwk_member(json_t *jwk, const char *name, uint8_t **out, size_t *len)
{
    const char *s = json_string_value(json_object_get(jwk, name));
    if (!s)
        return IV_EINVAL;
    return b64url_decode(s, strlen(s), out, len);
}

/* EVP_PKEY from a public JWK object (RSA or EC P-256). NULL with e set. */
static EVP_PKEY *pkey_from_jwk(json_t *jwk, const char *what, struct iv_err *e)
{
    const char *kty = json_string_value(json_object_get(jwk, "kty"));
    uint8_t *a = NULL, *b = NULL;
    size_t alen = 0, blen = 0;
    EVP_PKEY *pkey = NULL;
    if (kty && !strcmp(kty, "RSA")) {
        if (jwk_member(jwk, "n", &a, &alen) || jwk_member(jwk, "e", &b, &blen) || !alen || !blen)
            iv_err_set(e, IV_EINVAL, "%s: RSA JWK needs base64url 'n' and 'e'", what);
        else if (!(pkey = rsa_public_from_ne(a, alen, b, blen)))
            iv_err_set(e, IV_EINVAL, "%s: invalid RSA JWK", what);
    } else if (kty && !strcmp(kty, "EC")) {
        const char *crv = json_string_value(json_object_get(jwk, "crv"));
        if (!crv || strcmp(crv, "P-256") != 0)
            iv_err_set(e, IV_EINVAL, "%s: EC JWK must have crv 'P-256'", what);
        else if (jwk_member(jwk, "x", &a, &alen) || jwk_member(jwk, "y", &b, &blen) ||
                 alen != 32 || blen != 32)
            iv_err_set(e, IV_EINVAL, "%s: EC JWK needs 32-byte base64url 'x' and 'y'", what);
        else if (!(pkey = ec_public_from_xy(a, b)))
            iv_err_set(e, IV_EINVAL, "%s: EC JWK is not a point on P-256", what);
    } else {
        iv_err_set(e, IV_EINVAL, "%s: JWK kty must be RSA or EC", what);
    }
    free(a);
    free(b);
    return pkey;
}

int jwe_key_from_jwk(struct jwe_key **out, const char *jwk_json, struct iv_err *e)
{
    *out = NULL;
    json_error_t jerr;
    json_t *jwk = json_loads(jwk_json, 0, &jerr);
    if (!json_is_object(jwk)) {
        json_decref(jwk);
        return iv_err_set(e, IV_EINVAL, "the JWK is not a JSON object");
    }
    struct jwe_key *k = xcalloc(1, sizeof *k);
    k->pkey = pkey_from_jwk(jwk, "JWK", e);
    json_decref(jwk);
    if (!k->pkey) {
        jwe_key_free(k);
        return IV_EINVAL;
    }
    int rc = classify(k, "JWK", e);
    if (rc) {
        jwe_key_free(k);
        return rc;
    }
    *out = k;
    return IV_OK;
}

void jwe_key_free(struct jwe_key *k)
{
    if (!k)
        return;
    EVP_PKEY_free(k->pkey);
    json_decref(k->public_jwk);
    free(k);
}

char *jwe_public_jwk(const struct jwe_key *k)
{
    return json_dumps(k->public_jwk, JSON_COMPACT | JSON_SORT_KEYS);
}

const char *jwe_key_id(const struct jwe_key *k)
{
    return k->kid;
}

bool jwe_key_has_private(const struct jwe_key *k)
{
    return k->has_private;
}

/* ---- primitives --------------------------------------------------------------- */

/* AES-256-GCM; out gets n bytes, tag 16. */
static bool gcm_seal(const uint8_t key[32], const uint8_t iv[12], const void *aad, size_t aad_len,
                     const void *in, size_t n, uint8_t *out, uint8_t tag[16])
{
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int len = 0;
    bool ok = c && EVP_EncryptInit_ex(c, EVP_aes_256_gcm(), NULL, key, iv) == 1 &&
              EVP_EncryptUpdate(c, NULL, &len, aad, (int)aad_len) == 1 &&
              (n == 0 || EVP_EncryptUpdate(c, out, &len, in, (int)n) == 1) &&
              EVP_EncryptFinal_ex(c, out + (n ? len : 0), &len) == 1 &&
              EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, 16, tag) == 1;
    EVP_CIPHER_CTX_free(c);
    return ok;
}

static bool gcm_open(const uint8_t key[32], const uint8_t *iv, size_t iv_len, const void *aad,
                     size_t aad_len, const uint8_t *in, size_t n, const uint8_t tag[16],
                     uint8_t *out)
{
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int len = 0;
    bool ok = c && EVP_DecryptInit_ex(c, EVP_aes_256_gcm(), NULL, NULL, NULL) == 1 &&
              EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, (int)iv_len, NULL) == 1 &&
              EVP_DecryptInit_ex(c, NULL, NULL, key, iv) == 1 &&
              EVP_DecryptUpdate(c, NULL, &len, aad, (int)aad_len) == 1 &&
              (n == 0 || EVP_DecryptUpdate(c, out, &len, in, (int)n) == 1) &&
              EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, 16, (void *)tag) == 1 &&
              EVP_DecryptFinal_ex(c, out + (n ? len : 0), &len) == 1;
    EVP_CIPHER_CTX_free(c);
    return ok;
}

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* Concat KDF (NIST SP 800-56A, RFC 7518 §4.6.2) for a 256-bit A256GCM key:
 * one SHA-256 round over 1 || Z || len(enc) enc || len(apu) apu || len(apv) apv || 256. */
static void concat_kdf(const uint8_t *z, size_t zlen, const uint8_t *apu, size_t apu_len,
                       const uint8_t *apv, size_t apv_len, uint8_t cek[32])
{
    static const char alg_id[] = "A256GCM";
    uint8_t be[4];
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned int outlen = 0;
    EVP_DigestInit_ex(md, EVP_sha256(), NULL);
    put_be32(be, 1);
    EVP_DigestUpdate(md, be, 4);
    EVP_DigestUpdate(md, z, zlen);
    put_be32(be, (uint32_t)strlen(alg_id));
    EVP_DigestUpdate(md, be, 4);
    EVP_DigestUpdate(md, alg_id, strlen(alg_id));
    put_be32(be, (uint32_t)apu_len);
    EVP_DigestUpdate(md, be, 4);
    EVP_DigestUpdate(md, apu, apu_len);
    put_be32(be, (uint32_t)apv_len);
    EVP_DigestUpdate(md, be, 4);
    EVP_DigestUpdate(md, apv, apv_len);
    put_be32(be, 256);
    EVP_DigestUpdate(md, be, 4);
    EVP_DigestFinal_ex(md, cek, &outlen);
    EVP_MD_CTX_free(md);
}

/* ECDH(priv, peer) -> CEK. */
static bool ecdh_cek(EVP_PKEY *priv, EVP_PKEY *peer, const uint8_t *apu, size_t apu_len,
                     const uint8_t *apv, size_t apv_len, uint8_t cek[32])
{
    uint8_t z[32];
    size_t zlen = sizeof z;
    EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_pkey(NULL, priv, NULL);
    bool ok = c && EVP_PKEY_derive_init(c) == 1 && EVP_PKEY_derive_set_peer(c, peer) == 1 &&
              EVP_PKEY_derive(c, z, &zlen) == 1 && zlen == 32;
    EVP_PKEY_CTX_free(c);
    if (ok)
        concat_kdf(z, zlen, apu, apu_len, apv, apv_len, cek);
    OPENSSL_cleanse(z, sizeof z);
    return ok;
}

static bool rsa_oaep(EVP_PKEY *pkey, bool encrypt, const uint8_t *in, size_t n, uint8_t *out,
                     size_t *out_len)
{
    EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
    bool ok = c && (encrypt ? EVP_PKEY_encrypt_init(c) : EVP_PKEY_decrypt_init(c)) == 1 &&
              EVP_PKEY_CTX_set_rsa_padding(c, RSA_PKCS1_OAEP_PADDING) == 1 &&
              EVP_PKEY_CTX_set_rsa_oaep_md(c, EVP_sha256()) == 1 &&
              EVP_PKEY_CTX_set_rsa_mgf1_md(c, EVP_sha256()) == 1 &&
              (encrypt ? EVP_PKEY_encrypt(c, out, out_len, in, n)
                       : EVP_PKEY_decrypt(c, out, out_len, in, n)) == 1;
    EVP_PKEY_CTX_free(c);
    return ok;
}

/* ---- encrypt -------------------------------------------------------------------- */

char *jwe_encrypt(const struct jwe_key *k, const void *plain, size_t n, struct iv_err *e)
{
    uint8_t cek[32], iv[12], tag[16];
    uint8_t *ek = NULL, *ct = NULL;
    size_t ek_len = 0;
    json_t *hdr = json_object();
    EVP_PKEY *eph = NULL;
    char *out = NULL, *h64 = NULL, *hdr_text = NULL;
    random_bytes(iv, sizeof iv);
    json_object_set_new(hdr, "enc", json_string("A256GCM"));
    json_object_set_new(hdr, "kid", json_string(k->kid));
    if (k->kind == JWE_RSA) {
        random_bytes(cek, sizeof cek);
        json_object_set_new(hdr, "alg", json_string("RSA-OAEP-256"));
        ek_len = (size_t)EVP_PKEY_get_size(k->pkey);
        ek = xmalloc(ek_len);
        if (!rsa_oaep(k->pkey, true, cek, sizeof cek, ek, &ek_len)) {
            iv_err_set(e, IV_EIO, "RSA-OAEP-256 key wrap failed");
            goto out;
        }
    } else {
        uint8_t x[32], y[32];
        eph = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
        if (!eph || ec_point(eph, x, y) || !ecdh_cek(eph, k->pkey, NULL, 0, NULL, 0, cek)) {
            iv_err_set(e, IV_EIO, "ECDH-ES key agreement failed");
            goto out;
        }
        json_t *epk = json_object();
        json_object_set_new(epk, "kty", json_string("EC"));
        json_object_set_new(epk, "crv", json_string("P-256"));
        json_set_b64url(epk, "x", x, 32);
        json_set_b64url(epk, "y", y, 32);
        json_object_set_new(hdr, "alg", json_string("ECDH-ES"));
        json_object_set_new(hdr, "epk", epk);
    }
    hdr_text = json_dumps(hdr, JSON_COMPACT);
    h64 = b64url_encode(hdr_text, strlen(hdr_text));
    ct = xmalloc(n ? n : 1);
    if (!gcm_seal(cek, iv, h64, strlen(h64), plain, n, ct, tag)) {
        iv_err_set(e, IV_EIO, "A256GCM encryption failed");
        goto out;
    }
    char *ek64 = b64url_encode(ek, ek_len), *iv64 = b64url_encode(iv, sizeof iv);
    char *ct64 = b64url_encode(ct, n), *tag64 = b64url_encode(tag, sizeof tag);
    out = xasprintf("%s.%s.%s.%s.%s", h64, ek64, iv64, ct64, tag64);
    free(ek64);
    free(iv64);
    free(ct64);
    free(tag64);
out:
    OPENSSL_cleanse(cek, sizeof cek);
    EVP_PKEY_free(eph);
    json_decref(hdr);
    free(hdr_text);
    free(h64);
    free(ek);
    if (ct)
        OPENSSL_cleanse(ct, n ? n : 1);
    free(ct);
    return out;
}

/* ---- parse / decrypt ------------------------------------------------------------- */

struct jwe_parts {
    const char *seg[5];
    size_t len[5];
    json_t *hdr;
    const char *alg;
};

static int split_compact(const char *s, struct jwe_parts *p, struct iv_err *e)
{
    memset(p, 0, sizeof *p);
    size_t total = strlen(s);
    if (total > JWE_MAX_TEXT)
        return iv_err_set(e, IV_EINVAL, "the JWE is larger than %u bytes", JWE_MAX_TEXT);
    const char *cur = s;
    for (int i = 0; i < 5; i++) {
        const char *dot = strchr(cur, '.');
        if ((i < 4) != (dot != NULL))
            return iv_err_set(e, IV_EINVAL, "a compact JWE has exactly five '.'-separated parts");
        p->seg[i] = cur;
        p->len[i] = dot ? (size_t)(dot - cur) : strlen(cur);
        cur = dot ? dot + 1 : cur + p->len[i];
    }
    uint8_t *raw = NULL;
    size_t raw_len = 0;
    if (b64url_decode(p->seg[0], p->len[0], &raw, &raw_len))
        return iv_err_set(e, IV_EINVAL, "the JWE header is not base64url");
    json_error_t jerr;
    p->hdr = json_loadb((const char *)raw, raw_len, JSON_REJECT_DUPLICATES, &jerr);
    free(raw);
    if (!json_is_object(p->hdr)) {
        json_decref(p->hdr);
        p->hdr = NULL;
        return iv_err_set(e, IV_EINVAL, "the JWE header is not a JSON object");
    }
    return IV_OK;
}

/* Header rules; k may be NULL (no key configured: shape only). */
static int check_header(struct jwe_parts *p, const struct jwe_key *k, struct iv_err *e)
{
    const char *alg = json_string_value(json_object_get(p->hdr, "alg"));
    const char *enc = json_string_value(json_object_get(p->hdr, "enc"));
    const char *kid = json_string_value(json_object_get(p->hdr, "kid"));
    if (!alg || (strcmp(alg, "RSA-OAEP-256") != 0 && strcmp(alg, "ECDH-ES") != 0))
        return iv_err_set(e, IV_EINVAL, "JWE alg must be RSA-OAEP-256 or ECDH-ES");
    if (!enc || strcmp(enc, "A256GCM") != 0)
        return iv_err_set(e, IV_EINVAL, "JWE enc must be A256GCM");
    if (json_object_get(p->hdr, "zip") || json_object_get(p->hdr, "crit"))
        return iv_err_set(e, IV_EINVAL, "JWE 'zip' and 'crit' are not supported");
    bool is_rsa = !strcmp(alg, "RSA-OAEP-256");
    if (is_rsa ? p->len[1] == 0 : p->len[1] != 0)
        return iv_err_set(e, IV_EINVAL, "JWE encrypted key does not fit alg %s", alg);
    if (!is_rsa && !json_is_object(json_object_get(p->hdr, "epk")))
        return iv_err_set(e, IV_EINVAL, "ECDH-ES JWE needs an 'epk' header");
    if (p->len[2] == 0 || p->len[4] == 0)
        return iv_err_set(e, IV_EINVAL, "JWE IV and tag must not be empty");
    for (int i = 1; i < 5; i++) {
        uint8_t *tmp = NULL;
        size_t tl = 0;
        if (b64url_decode(p->seg[i], p->len[i], &tmp, &tl))
            return iv_err_set(e, IV_EINVAL, "JWE part %d is not canonical base64url", i + 1);
        bool bad = (i == 2 && tl != 12) || (i == 4 && tl != 16);
        free(tmp);
        if (bad)
            return iv_err_set(e, IV_EINVAL, "A256GCM needs a 96-bit IV and a 128-bit tag");
    }
    if (k) {
        if ((k->kind == JWE_RSA) != is_rsa)
            return iv_err_set(e, IV_EINVAL, "JWE alg %s does not match this server's %s key", alg,
                              k->kind == JWE_RSA ? "RSA" : "EC");
        if (kid && strcmp(kid, k->kid) != 0)
            return iv_err_set(e, IV_EINVAL,
                              "JWE kid names another key (fetch GET /v1/admin/config-key)");
    }
    p->alg = alg;
    return IV_OK;
}

bool jwe_looks_compact(const char *s)
{
    int dots = 0;
    for (const char *p = s; *p; p++)
        dots += *p == '.';
    return dots == 4 && strncmp(s, "v1:", 3) != 0;
}

int jwe_check(const char *compact, const struct jwe_key *k, struct iv_err *e)
{
    struct jwe_parts p;
    int rc = split_compact(compact, &p, e);
    if (rc == IV_OK)
        rc = check_header(&p, k, e);
    json_decref(p.hdr);
    return rc;
}

/* The content key for p under k (private), or false. */
static bool recover_cek(const struct jwe_key *k, struct jwe_parts *p, uint8_t cek[32])
{
    bool ok = false;
    if (k->kind == JWE_RSA) {
        uint8_t *ek = NULL, *buf = NULL;
        size_t ek_len = 0, out_len = 0;
        if (b64url_decode(p->seg[1], p->len[1], &ek, &ek_len) == IV_OK) {
            out_len = (size_t)EVP_PKEY_get_size(k->pkey);
            buf = xmalloc(out_len);
            ok = rsa_oaep(k->pkey, false, ek, ek_len, buf, &out_len) && out_len == 32;
            if (ok)
                memcpy(cek, buf, 32);
            OPENSSL_cleanse(buf, (size_t)EVP_PKEY_get_size(k->pkey));
        }
        free(buf);
        free(ek);
        return ok;
    }
    struct iv_err ie = {0};
    EVP_PKEY *peer = pkey_from_jwk(json_object_get(p->hdr, "epk"), "epk", &ie);
    uint8_t *apu = NULL, *apv = NULL;
    size_t apu_len = 0, apv_len = 0;
    const char *apu_s = json_string_value(json_object_get(p->hdr, "apu"));
    const char *apv_s = json_string_value(json_object_get(p->hdr, "apv"));
    bool params_ok = (!apu_s || b64url_decode(apu_s, strlen(apu_s), &apu, &apu_len) == IV_OK) &&
                     (!apv_s || b64url_decode(apv_s, strlen(apv_s), &apv, &apv_len) == IV_OK);
    if (peer && params_ok && EVP_PKEY_is_a(peer, "EC"))
        ok = ecdh_cek(k->pkey, peer, apu, apu_len, apv, apv_len, cek);
    EVP_PKEY_free(peer);
    free(apu);
    free(apv);
    return ok;
}

int jwe_decrypt(const struct jwe_key *k, const char *compact, uint8_t **plain_out,
                size_t *plain_len, struct iv_err *e)
{
    *plain_out = NULL;
    *plain_len = 0;
    if (!k->has_private)
        return iv_err_set(e, IV_EINVAL, "the config key file holds no private key");
    struct jwe_parts p;
    uint8_t cek[32];
    uint8_t *iv = NULL, *ct = NULL, *tag = NULL, *out = NULL;
    size_t iv_len = 0, ct_len = 0, tag_len = 0;
    int rc = split_compact(compact, &p, e);
    if (rc == IV_OK)
        rc = check_header(&p, k, e);
    if (rc)
        goto done;
    if (b64url_decode(p.seg[2], p.len[2], &iv, &iv_len) ||
        b64url_decode(p.seg[3], p.len[3], &ct, &ct_len) ||
        b64url_decode(p.seg[4], p.len[4], &tag, &tag_len) || tag_len != 16 || iv_len != 12) {
        rc = iv_err_set(e, IV_EINVAL, "the JWE parts are not valid base64url");
        goto done;
    }
    if (!recover_cek(k, &p, cek)) {
        rc = iv_err_set(e, IV_EAUTH, "the JWE was not made for this key (key unwrap failed)");
        goto done;
    }
    out = xmalloc(ct_len + 1);
    if (!gcm_open(cek, iv, iv_len, p.seg[0], p.len[0], ct, ct_len, tag, out)) {
        rc = iv_err_set(e, IV_EAUTH, "the JWE was tampered with or made for another key");
        OPENSSL_cleanse(out, ct_len + 1);
        free(out);
        out = NULL;
        goto done;
    }
    out[ct_len] = '\0';
    *plain_out = out;
    *plain_len = ct_len;
done:
    OPENSSL_cleanse(cek, sizeof cek);
    json_decref(p.hdr);
    free(iv);
    free(ct);
    free(tag);
    return rc;
}
