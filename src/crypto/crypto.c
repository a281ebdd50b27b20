/*
 * crypto.c: HMAC-SHA256 webhook signatures (docs/api.md "Runner webhook"), the AES-256-GCM
 * envelope for tap configs (docs/security.md), base64 keys, and the master key that
 * seals secrets at rest.
 *
 * Every comparison of secret-derived bytes goes through CRYPTO_memcmp. Key
 * material never reaches an error message or the log. Stack copies of keys
 * and MACs are wiped with OPENSSL_cleanse before returning.
 */
#include "crypto/crypto.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#define ENV_PREFIX "v1:"
#define ENV_NONCE 12
#define ENV_TAG 16
#define MASTER_KEY_FILE "master.key"

/* ---- HMAC / webhook ---------------------------------------------------- */

void hmac_sha256(const void *key, size_t key_len, const void *msg, size_t msg_len,
                 uint8_t out[32])
{
    unsigned int olen = 32;
    static const uint8_t empty = 0;
    if (!HMAC(EVP_sha256(), key_len ? key : &empty, (int)key_len, msg_len ? msg : &empty,
              msg_len, out, &olen))
        abort();   /* only on library failure; never on input */
}

bool ct_equal(const void *a, const void *b, size_t n)
{
    return CRYPTO_memcmp(a, b, n) == 0;
}

/* MAC over "<t>." || body. */
static void webhook_mac(const uint8_t *secret, size_t secret_len, int64_t t, const void *body,
                        size_t body_len, uint8_t out[32])
{
    char prefix[32];
    int plen = snprintf(prefix, sizeof prefix, "%" PRId64 ".", t);
    EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    EVP_MAC_CTX *mctx = mac ? EVP_MAC_CTX_new(mac) : NULL;
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string("digest", (char *)"SHA256", 0),
        OSSL_PARAM_construct_end(),
    };
    static const uint8_t empty = 0;
    size_t olen = 0;
    if (!mctx || EVP_MAC_init(mctx, secret_len ? secret : &empty, secret_len, params) != 1 ||
        EVP_MAC_update(mctx, (const uint8_t *)prefix, (size_t)plen) != 1 ||
        (body_len && EVP_MAC_update(mctx, body, body_len) != 1) ||
        EVP_MAC_final(mctx, out, &olen, 32) != 1 || olen != 32)
        abort();
    EVP_MAC_CTX_free(mctx);
    EVP_MAC_free(mac);
}

char *webhook_sign(const uint8_t *secret, size_t secret_len, int64_t t, const void *body,
                   size_t body_len)
{
    uint8_t mac[32];
    webhook_mac(secret, secret_len, t, body, body_len, mac);
    char *hex = hex_encode(mac, sizeof mac);
    char *out = xasprintf("t=%" PRId64 ",v1=%s", t, hex);
    OPENSSL_cleanse(mac, sizeof mac);
    free(hex);
    return out;
}

#define WH_MAX_SIGS 8
#define WH_MAX_HEADER 2048

bool webhook_verify(const char *header, const uint8_t *const *secrets, const size_t *secret_lens,
                    int nsecrets, const void *body, size_t body_len, int64_t now,
                    int tolerance_s)
{
    if (!header || nsecrets <= 0 || !secrets || !secret_lens || tolerance_s < 0)
        return false;
    size_t hlen = strlen(header);
    if (hlen == 0 || hlen > WH_MAX_HEADER)
        return false;

    uint8_t sigs[WH_MAX_SIGS][32];
    int nsigs = 0;
    int64_t t = -1;
    bool have_t = false;
    const char *p = header;
    while (*p) {
        while (*p == ' ' || *p == '\t')
            p++;
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
            n--;
        const char *eq = memchr(p, '=', n);
        if (!eq || eq == p)
            return false;   /* every element must be key=value */
        size_t klen = (size_t)(eq - p);
        const char *val = eq + 1;
        size_t vlen = n - klen - 1;
        if (klen == 1 && p[0] == 't') {
            if (have_t || vlen == 0 || vlen > 18)
                return false;
            int64_t tv = 0;
            for (size_t i = 0; i < vlen; i++) {
                if (val[i] < '0' || val[i] > '9')
                    return false;
                tv = tv * 10 + (val[i] - '0');
            }
            t = tv;
            have_t = true;
        } else if (klen == 2 && p[0] == 'v' && p[1] == '1') {
            if (vlen != 64 || nsigs == WH_MAX_SIGS)
                return false;
            char hex[65];
            memcpy(hex, val, 64);
            hex[64] = '\0';
            if (hex_decode(hex, sigs[nsigs], 32) != IV_OK)
                return false;
            nsigs++;
        }
        /* other schemes (v0=...) are ignored, as Stripe does */
        if (!end)
            break;
        p = end + 1;
        if (*p == '\0')
            return false;   /* trailing comma */
    }
    if (!have_t || nsigs == 0)
        return false;
    if (now - t > tolerance_s || t - now > tolerance_s)
        return false;

    bool ok = false;
    uint8_t mac[32];
    for (int s = 0; s < nsecrets; s++) {
        if (!secrets[s])
            continue;
        webhook_mac(secrets[s], secret_lens[s], t, body, body_len, mac);
        for (int i = 0; i < nsigs; i++)
            ok |= CRYPTO_memcmp(mac, sigs[i], 32) == 0;
    }
    OPENSSL_cleanse(mac, sizeof mac);
    return ok;
}

/* ---- envelope ------------------------------------------------------------ */

char *envelope_encrypt(const uint8_t key[32], const void *plain, size_t plain_len)
{
    size_t total = ENV_NONCE + plain_len + ENV_TAG;
    uint8_t *raw = xmalloc(total);
    random_bytes(raw, ENV_NONCE);
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    int outl = 0, finl = 0;
    if (!ctx || EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, ENV_NONCE, NULL) != 1 ||
        EVP_EncryptInit_ex(ctx, NULL, NULL, key, raw) != 1 ||
        (plain_len && EVP_EncryptUpdate(ctx, raw + ENV_NONCE, &outl, plain, (int)plain_len) != 1) ||
        EVP_EncryptFinal_ex(ctx, raw + ENV_NONCE + outl, &finl) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, ENV_TAG, raw + ENV_NONCE + plain_len) != 1)
        abort();   /* library failure only */
    EVP_CIPHER_CTX_free(ctx);
    char *b = base64_encode(raw, total);
    char *out = xasprintf(ENV_PREFIX "%s", b);
    OPENSSL_cleanse(raw, total);
    free(raw);
    free(b);
    return out;
}

/* Strict shape: prefix, standard base64 alphabet only, decodes to >= 28 bytes. */
static int envelope_raw(const char *envelope, uint8_t **raw, size_t *raw_len)
{
    if (!envelope || strncmp(envelope, ENV_PREFIX, 3) != 0)
        return IV_EINVAL;
    const char *b = envelope + 3;
    size_t n = strlen(b);
    if (n == 0 || n % 4 != 0)
        return IV_EINVAL;
    for (size_t i = 0; i < n; i++) {
        char c = b[i];
        bool okc = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                   c == '+' || c == '/' || (c == '=' && i >= n - 2);
        if (!okc)
            return IV_EINVAL;
    }
    if (b[n - 2] == '=' && b[n - 1] != '=')
        return IV_EINVAL;
    if (base64_decode(b, raw, raw_len) != IV_OK)
        return IV_EINVAL;
    if (*raw_len < ENV_NONCE + ENV_TAG) {
        free(*raw);
        *raw = NULL;
        return IV_EINVAL;
    }
    return IV_OK;
}

bool envelope_shape_ok(const char *envelope)
{
    uint8_t *raw = NULL;
    size_t n = 0;
    if (envelope_raw(envelope, &raw, &n) != IV_OK)
        return false;
    free(raw);
    return true;
}

int envelope_decrypt(const uint8_t key[32], const char *envelope, uint8_t **plain_out,
                     size_t *plain_len, struct iv_err *e)
{
    uint8_t *raw = NULL;
    size_t n = 0;
    if (envelope_raw(envelope, &raw, &n) != IV_OK)
        return iv_err_set(e, IV_EINVAL, "envelope is malformed (expected 'v1:' + base64 of "
                          "nonce, ciphertext and tag)");
    size_t clen = n - ENV_NONCE - ENV_TAG;
    uint8_t *plain = xmalloc(clen + 1);
    int outl = 0, finl = 0, rc = IV_OK;
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    if (!ctx)
        abort();
    if (EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, ENV_NONCE, NULL) != 1 ||
        EVP_DecryptInit_ex(ctx, NULL, NULL, key, raw) != 1 ||
        (clen && EVP_DecryptUpdate(ctx, plain, &outl, raw + ENV_NONCE, (int)clen) != 1) ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, ENV_TAG, raw + ENV_NONCE + clen) != 1 ||
        EVP_DecryptFinal_ex(ctx, plain + outl, &finl) != 1) {
        rc = iv_err_set(e, IV_EAUTH, "envelope does not decrypt: wrong key or tampered data");
    }
    EVP_CIPHER_CTX_free(ctx);
    free(raw);
    if (rc) {
        OPENSSL_cleanse(plain, clen + 1);
        free(plain);
        return rc;
    }
    plain[clen] = '\0';
    *plain_out = plain;
    *plain_len = clen;
    return IV_OK;
}

int key_from_base64(const char *b64, uint8_t key[32], struct iv_err *e)
{
    if (!b64 || !*b64)
        return iv_err_set(e, IV_EINVAL, "key is empty (expected base64 of 32 bytes)");
    uint8_t *raw = NULL;
    size_t n = 0;
    if (base64_decode(b64, &raw, &n) != IV_OK)
        return iv_err_set(e, IV_EINVAL, "key is not valid base64 (expected base64 of 32 bytes)");
    if (n != 32) {
        OPENSSL_cleanse(raw, n);
        free(raw);
        return iv_err_set(e, IV_EINVAL, "key decodes to %zu bytes; 32 bytes required", n);
    }
    memcpy(key, raw, 32);
    OPENSSL_cleanse(raw, n);
    free(raw);
    return IV_OK;
}

/* ---- master key ------------------------------------------------------------ */

static int read_master_file(const char *path, uint8_t key[32], struct iv_err *e)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return iv_err_set(e, errno == ENOENT ? IV_ENOTFOUND : IV_EIO,
                          "cannot open master key '%s': %s", path, strerror(errno));
    struct stat st;
    char buf[128];
    ssize_t got = -1;
    int rc = IV_OK;
    if (fstat(fd, &st) < 0) {
        rc = iv_err_set(e, IV_EIO, "cannot stat master key '%s': %s", path, strerror(errno));
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        rc = iv_err_set(e, IV_EINVAL, "master key '%s' is not a regular file", path);
        goto out;
    }
    if (st.st_mode & 077) {
        rc = iv_err_set(e, IV_EINVAL, "master key '%s' has mode %03o; it must not be accessible "
                        "by group or others (chmod 600)", path, (unsigned)(st.st_mode & 0777));
        goto out;
    }
    do {
        got = read(fd, buf, sizeof buf - 1);
    } while (got < 0 && errno == EINTR);
    if (got < 0) {
        rc = iv_err_set(e, IV_EIO, "cannot read master key '%s': %s", path, strerror(errno));
        goto out;
    }
    buf[got] = '\0';
    if (key_from_base64(buf, key, NULL) != IV_OK)
        rc = iv_err_set(e, IV_EINVAL, "master key '%s' does not hold base64 of 32 bytes", path);
out:
    OPENSSL_cleanse(buf, sizeof buf);
    close(fd);
    return rc;
}

/* Creates the key in a private temp file and link()s it into place: link fails
 * with EEXIST when another process won the race, and no reader can ever see a
 * half-written key file. */
static int create_master_file(const char *dir, const char *path, struct iv_err *e)
{
    uint8_t key[32];
    random_bytes(key, sizeof key);
    char *b = base64_encode(key, sizeof key);
    char *line = xasprintf("%s\n", b);
    char *tmp = xasprintf("%s/.master.key.%d.%08x", dir, (int)getpid(),
                          (unsigned)(now_ms() & 0xffffffff));
    int rc = IV_OK;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        rc = iv_err_set(e, IV_EIO, "cannot create master key in '%s': %s", dir, strerror(errno));
        goto out;
    }
    size_t len = strlen(line);
    ssize_t w = write(fd, line, len);
    if (w != (ssize_t)len || fsync(fd) < 0) {
        rc = iv_err_set(e, IV_EIO, "cannot write master key '%s': %s", tmp,
                        w < 0 ? strerror(errno) : "short write");
        close(fd);
        unlink(tmp);
        goto out;
    }
    close(fd);
    if (link(tmp, path) < 0 && errno != EEXIST)
        rc = iv_err_set(e, IV_EIO, "cannot create master key '%s': %s", path, strerror(errno));
    unlink(tmp);
    if (!rc)
        fsync_dir_of(path);
out:
    OPENSSL_cleanse(key, sizeof key);
    OPENSSL_cleanse(b, strlen(b));
    OPENSSL_cleanse(line, strlen(line));
    free(b);
    free(line);
    free(tmp);
    return rc;
}

int master_key_load(const char *b64_or_null, const char *data_dir, uint8_t key[32],
                    struct iv_err *e)
{
    if (b64_or_null && *b64_or_null) {
        struct iv_err ke = {0};
        int rc = key_from_base64(b64_or_null, key, &ke);
        if (rc)
            return iv_err_set(e, rc, "IVORY_MASTER_KEY: %s", ke.msg);
        return IV_OK;
    }
    if (!data_dir || !*data_dir)
        return iv_err_set(e, IV_EINVAL, "no master key: set IVORY_MASTER_KEY or IVORY_DATA_DIR");
    if (mkdir_p(data_dir, 0700) != IV_OK)
        return iv_err_set(e, IV_EIO, "cannot create data dir '%s': %s", data_dir, strerror(errno));
    char *path = xasprintf("%s/%s", data_dir, MASTER_KEY_FILE);
    int rc = read_master_file(path, key, e);
    if (rc == IV_ENOTFOUND) {
        rc = create_master_file(data_dir, path, e);
        if (!rc)
            rc = read_master_file(path, key, e);
    }
    free(path);
    return rc;
}

char *secret_seal(const uint8_t master[32], const void *plain, size_t n)
{
    return envelope_encrypt(master, plain, n);
}

int secret_unseal(const uint8_t master[32], const char *sealed, uint8_t **plain_out,
                  size_t *n_out, struct iv_err *e)
{
    return envelope_decrypt(master, sealed, plain_out, n_out, e);
}

void runner_report_key(const uint8_t master[32], const char *runner_id, uint8_t out[32])
{
    char *msg = xasprintf("ivory-runner-report-v1:%s", runner_id ? runner_id : "");
    hmac_sha256(master, 32, msg, strlen(msg), out);
    free(msg);
}
