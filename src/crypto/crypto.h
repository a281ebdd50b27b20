/*
 * crypto: everything that touches keys. JWT verification (libjwt), HMAC-SHA256
 * webhook signatures with constant-time comparison, the AES-256-GCM envelope
 * for tap configs (docs/security.md "Config encryption"), compact JWE with the config key pair
 * (client-side encryption without a shared key), sealing secrets at rest with
 * the master key, and master-key loading/generation.
 *
 * Nothing here logs key material; error messages never include secrets.
 */
#ifndef IVORY_CRYPTO_H
#define IVORY_CRYPTO_H

#include "util/util.h"

/* ---- JWT ----------------------------------------------------------------- */
struct jwt_verifier;   /* opaque; thread-safe for concurrent verify calls */

struct jwt_verifier_config {
    const char *hs256_secret;     /* IVORY_JWT_SECRET */
    const char *public_key_path;  /* PEM (RSA or EC public key) */
    const char *jwks_path;        /* JWKS file (RSA / EC P-256 keys, optional kid) */
    const char *algs;             /* comma list allow-list; NULL = what the keys support */
    const char *issuer;           /* required iss when non-NULL */
    const char *audience;         /* required aud (string or array member) when non-NULL */
    int leeway_s;                 /* exp/nbf leeway s: 0 = default 30, < 0 = none */
};
/* Fails (IV_EINVAL, message) when no key is configured or a file is unreadable.
 * Also fails when algs names 'none', an unknown alg, or an alg with no key of its
 * family, and on RSA keys < 2048 bits or EC keys not on P-256. JWKS: keys with
 * use != "sig" or an unsupported kty are skipped; a malformed RSA/EC key fails.
 * Default allow-list: HS256 with a secret, RS256 with an RSA key, ES256 with an
 * EC key. *out: free with jwt_verifier_free. cfg strings are copied. */
int jwt_verifier_new(struct jwt_verifier **out, const struct jwt_verifier_config *cfg,
                     struct iv_err *e);
void jwt_verifier_free(struct jwt_verifier *v);

struct jwt_claims {
    char sub[256];
    char tenant_slug[64];         /* "" when absent */
    bool is_admin;                /* claim "role": "admin" */
    int64_t exp;
};
/* Verifies signature, alg allow-list (never "none"), exp (required), nbf, iss, aud.
 * The header alg picks the key family before libjwt runs (HS* only with the
 * secret, RS* only with RSA keys, ES256 only with EC keys); a header kid selects
 * JWKS keys with that kid. `sub` is required. Thread-safe. Successful results are
 * cached per verifier under SHA-256(token); a hit re-checks exp/nbf.
 * Returns IV_OK or IV_EAUTH with e->msg saying why (for logs, not for clients). */
int jwt_verify(const struct jwt_verifier *v, const char *token, struct jwt_claims *out,
               struct iv_err *e);
/* Dev tokens for `ivory tenant create` and tests: HS256, exp = now + ttl_s.
 * Caller frees. extra_json: optional object of extra claims (e.g. {"role":"admin"}). */
char *jwt_sign_hs256(const char *secret, const char *sub, int64_t ttl_s, const char *extra_json);

/* ---- HMAC webhook signature (docs/api.md "Runner webhook") --------------------------------- */
/* Returns a new header value "t=<t>,v1=<hex>" (caller frees). */
char *webhook_sign(const uint8_t *secret, size_t secret_len, int64_t t, const void *body,
                   size_t body_len);
/* Checks header against each secret (several may be active during rotation) and
 * every v1= value in the header; t must be within tolerance_s of now, in the past
 * or the future (docs/api.md: 300 s). Malformed header (element without '=', repeated
 * or non-numeric t, v1 not 64 hex, no v1) -> false. Other schemes are ignored.
 * Constant-time comparison. Returns true only on a valid match. */
bool webhook_verify(const char *header, const uint8_t *const *secrets, const size_t *secret_lens,
                    int nsecrets, const void *body, size_t body_len, int64_t now,
                    int tolerance_s);
void hmac_sha256(const void *key, size_t key_len, const void *msg, size_t msg_len,
                 uint8_t out[32]);
/* The key an Ivory runner signs its own run reports with (X-Ivory-Runner-Signature, same
 * "t=,v1=" scheme as webhook_sign): HMAC-SHA256(master, "ivory-runner-report-v1:" +
 * runner_id). Only holders of the master key (the API servers and the runners) can compute
 * it, and it names one runner, so a tenant holding the connector's webhook secret cannot
 * pass for the runner that holds a run (docs/security.md). */
void runner_report_key(const uint8_t master[32], const char *runner_id, uint8_t out[32]);
bool ct_equal(const void *a, const void *b, size_t n);

/* ---- AES-256-GCM envelope "v1:" + base64(nonce12 || ct || tag16) ----------- */
/* key: 32 bytes. Caller frees the returned string. */
char *envelope_encrypt(const uint8_t key[32], const void *plain, size_t plain_len);
/* Caller frees *plain_out (NUL-terminated). IV_EINVAL: malformed; IV_EAUTH: wrong key/tampered. */
int envelope_decrypt(const uint8_t key[32], const char *envelope, uint8_t **plain_out,
                     size_t *plain_len, struct iv_err *e);
/* Shape check only (prefix, base64, length >= 12 + 16): the API has no key. */
bool envelope_shape_ok(const char *envelope);
/* Decodes a base64 32-byte key (IVORY_CONFIG_KEY / IVORY_MASTER_KEY). */
int key_from_base64(const char *b64, uint8_t key[32], struct iv_err *e);

/* ---- compact JWE with Ivory's config key pair (jwe.c) ---------------------- */
/* Client-side encryption of tap configs without a shared key: clients encrypt
 * with the public JWK (GET /v1/admin/config-key), only the server and runners
 * hold the private key (IVORY_CONFIG_PRIVATE_KEY, a PEM file). Accepted:
 * alg RSA-OAEP-256 (RSA >= 2048 key) or ECDH-ES (P-256 key), enc A256GCM. */
struct jwe_key;
/* PEM private key (or public only: then it can encrypt and publish, not
 * decrypt). *out: free with jwe_key_free. IV_EINVAL with a message naming
 * the file on anything else. */
int jwe_key_load(struct jwe_key **out, const char *path, struct iv_err *e);
/* Public key from a JWK JSON text (RSA or EC P-256), for `ivory config encrypt`. */
int jwe_key_from_jwk(struct jwe_key **out, const char *jwk_json, struct iv_err *e);
void jwe_key_free(struct jwe_key *k);
/* The public JWK (kty, members, kid = RFC 7638 thumbprint, use "enc", alg).
 * Caller frees. */
char *jwe_public_jwk(const struct jwe_key *k);
const char *jwe_key_id(const struct jwe_key *k);
bool jwe_key_has_private(const struct jwe_key *k);
/* Compact JWE of plain for k (caller frees), NULL with e set on failure. */
char *jwe_encrypt(const struct jwe_key *k, const void *plain, size_t n, struct iv_err *e);
/* True for text shaped like a compact JWE (five parts), not a v1: envelope. */
bool jwe_looks_compact(const char *s);
/* Structure and header check without decrypting (the API's check): five
 * canonical base64url parts, alg/enc allowed, no zip/crit, IV 96 and tag 128
 * bits; with k, alg matches k's type and a kid, if present, is k's.
 * IV_OK or IV_EINVAL with a one-sentence reason. */
int jwe_check(const char *compact, const struct jwe_key *k, struct iv_err *e);
/* Decrypts with k's private key. *plain_out NUL-terminated, caller frees
 * (wipe with OPENSSL_cleanse). IV_EINVAL malformed, IV_EAUTH wrong key or
 * tampered. */
int jwe_decrypt(const struct jwe_key *k, const char *compact, uint8_t **plain_out,
                size_t *plain_len, struct iv_err *e);

/* ---- master key: secrets at rest ------------------------------------------- */
/* From IVORY_MASTER_KEY (b64) if set, else <data_dir>/master.key (created 0600
 * with 32 random bytes on first use). The file holds base64 + newline; it is
 * written to a temp file and link()ed into place, so concurrent first starts
 * agree on one key. A key file readable by group/others is refused. */
int master_key_load(const char *b64_or_null, const char *data_dir, uint8_t key[32],
                    struct iv_err *e);
/* seal = envelope_encrypt with the master key; unseal = decrypt. */
char *secret_seal(const uint8_t master[32], const void *plain, size_t n);
int secret_unseal(const uint8_t master[32], const char *sealed, uint8_t **plain_out,
                  size_t *n_out, struct iv_err *e);

#endif
