/*
 * cmd_config: `ivory config encrypt|decrypt` (docs/security.md, docs/configuration.md).
 *
 * Reads stdin (at most 16 MiB) and writes the result to stdout. Two formats:
 *   v1: envelope   shared key IVORY_CONFIG_KEY (base64 of 32 bytes);
 *   compact JWE    Ivory's config key pair (docs/security.md, "Config
 *                  encryption"): encrypt with the public JWK from
 *                  GET /v1/admin/config-key (--jwk FILE) or a PEM key
 *                  (--key FILE, or IVORY_CONFIG_PRIVATE_KEY when no
 *                  IVORY_CONFIG_KEY is set); decrypt needs the private key
 *                  (--key FILE or IVORY_CONFIG_PRIVATE_KEY) and is chosen by
 *                  the input's shape.
 * encrypt accepts only a JSON object (the shape a tap config has) and prints
 * the result plus a newline; decrypt accepts surrounding whitespace and prints
 * the exact plaintext bytes.
 * Exit 0 ok, 2 usage error, 1 with one line on stderr for a missing or bad key,
 * input that is not a JSON object / not an envelope, or a wrong key / tampering.
 */
#include "cmd/cmd.h"
#include "crypto/crypto.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#define CONFIG_STDIN_MAX (16u * 1024 * 1024)

static const char usage[] =
    "usage: ivory config encrypt [--jwk FILE | --key PEM]  (stdin -> stdout)\n"
    "       ivory config decrypt [--key PEM]\n"
    "  v1: envelope with IVORY_CONFIG_KEY; compact JWE (RSA-OAEP-256 or ECDH-ES, A256GCM)\n"
    "  with --jwk (the JSON of GET /v1/admin/config-key), --key or IVORY_CONFIG_PRIVATE_KEY\n";

/* The JWE key named by --jwk / --key / IVORY_CONFIG_PRIVATE_KEY, or NULL
 * (none named). *status is set when a named key cannot be used. */
static struct jwe_key *named_jwe_key(const char *jwk_path, const char *pem_path, int *status)
{
    struct jwe_key *k = NULL;
    struct iv_err e = {0};
    if (jwk_path) {
        char *text = NULL;
        size_t len = 0;
        if (file_read_all(jwk_path, 1024 * 1024, &text, &len, &e) != IV_OK) {
            *status = cmd_fail("--jwk %s: %s", jwk_path, e.msg);
            return NULL;
        }
        int rc = jwe_key_from_jwk(&k, text, &e);
        free(text);
        if (rc != IV_OK)
            *status = cmd_fail("--jwk %s: %s", jwk_path, e.msg);
        return k;
    }
    if (!pem_path)
        return NULL;
    if (jwe_key_load(&k, pem_path, &e) != IV_OK)
        *status = cmd_fail("%s", e.msg);
    return k;
}

static int jwe_encrypt_stdin(const struct jwe_key *k, const struct buf *in)
{
    struct iv_err e = {0};
    char *out = jwe_encrypt(k, in->data, in->len, &e);
    if (!out)
        return cmd_fail("cannot encrypt: %s", e.msg);
    int ok = printf("%s\n", out) > 0 && fflush(stdout) == 0;
    free(out);
    return ok ? 0 : cmd_fail("cannot write stdout");
}

static int jwe_decrypt_text(const struct jwe_key *k, const char *s)
{
    if (!k)
        return cmd_fail("the input is a JWE: pass --key PEM or set IVORY_CONFIG_PRIVATE_KEY");
    if (!jwe_key_has_private(k))
        return cmd_fail("the key holds no private key: a JWE cannot be decrypted with it");
    uint8_t *plain = NULL;
    size_t plen = 0;
    struct iv_err e = {0};
    if (jwe_decrypt(k, s, &plain, &plen, &e) != IV_OK)
        return cmd_fail("cannot decrypt: %s", e.msg);
    int ok = fwrite(plain, 1, plen, stdout) == plen && fflush(stdout) == 0;
    OPENSSL_cleanse(plain, plen);
    free(plain);
    return ok ? 0 : cmd_fail("cannot write stdout");
}

/* Reads all of stdin into b. IV_ETOOBIG past the limit. */
static int read_stdin(struct buf *b)
{
    char chunk[65536];
    size_t got;
    while ((got = fread(chunk, 1, sizeof chunk, stdin)) > 0)
        if (buf_append(b, chunk, got))
            return IV_ETOOBIG;
    return ferror(stdin) ? IV_EIO : IV_OK;
}

int cmd_config(int argc, char **argv)
{
    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        fputs(usage, stdout);
        return 0;
    }
    if (argc < 2)
        return cmd_usage_error("config takes exactly one of 'encrypt' or 'decrypt' (%s)",
                               "stdin -> stdout");
    bool enc = strcmp(argv[1], "encrypt") == 0;
    if (!enc && strcmp(argv[1], "decrypt") != 0)
        return cmd_usage_error("unknown config action '%s' (use 'encrypt' or 'decrypt')",
                               argv[1]);
    const char *jwk_path = NULL, *pem_path = NULL;
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--jwk") && i + 1 < argc && enc)
            jwk_path = argv[++i];
        else if (!strcmp(argv[i], "--key") && i + 1 < argc)
            pem_path = argv[++i];
        else
            return cmd_usage_error("unknown or incomplete option '%s' (%s)", argv[i],
                                   enc ? "--jwk FILE or --key PEM" : "--key PEM");
    }
    if (jwk_path && pem_path)
        return cmd_usage_error("give one of --jwk and --key, not both (%s)", "encrypt");

    const char *kb64 = getenv("IVORY_CONFIG_KEY");
    bool have_shared = kb64 && *kb64 && !jwk_path && !pem_path;
    const char *env_pem = getenv("IVORY_CONFIG_PRIVATE_KEY");
    if (!pem_path && !jwk_path && env_pem && *env_pem && (!enc || !have_shared))
        pem_path = env_pem;
    int status = 1;
    struct jwe_key *jk = named_jwe_key(jwk_path, pem_path, &status);
    if ((jwk_path || pem_path) && !jk)
        return status;
    if (enc && !jk && !have_shared)
        return cmd_fail("no key: set IVORY_CONFIG_KEY (v1: envelope), or pass --jwk FILE / "
                        "--key PEM / IVORY_CONFIG_PRIVATE_KEY (JWE)");
    uint8_t key[32] = {0};
    struct iv_err e = {0};
    if (have_shared && key_from_base64(kb64, key, &e) != IV_OK) {
        jwe_key_free(jk);
        return cmd_fail("IVORY_CONFIG_KEY: %s", e.msg);
    }

    struct buf in;
    buf_init(&in, CONFIG_STDIN_MAX);
    int rc = read_stdin(&in);
    if (rc == IV_ETOOBIG) {
        status = cmd_fail("stdin is larger than %u bytes", CONFIG_STDIN_MAX);
        goto out;
    }
    if (rc) {
        status = cmd_fail("cannot read stdin");
        goto out;
    }

    if (enc) {
        json_error_t jerr;
        json_t *j = json_loadb(in.data, in.len, JSON_REJECT_DUPLICATES, &jerr);
        bool is_obj = json_is_object(j);
        json_decref(j);
        if (!j) {
            status = cmd_fail("stdin is not valid JSON (line %d: %s)", jerr.line, jerr.text);
            goto out;
        }
        if (!is_obj) {
            status = cmd_fail("stdin must be a JSON object (a tap config)");
            goto out;
        }
        if (jk) {
            status = jwe_encrypt_stdin(jk, &in);
            goto out;
        }
        char *env = envelope_encrypt(key, in.data, in.len);
        int ok = printf("%s\n", env) > 0 && fflush(stdout) == 0;
        free(env);
        status = ok ? 0 : cmd_fail("cannot write stdout");
    } else {
        char *s = in.data;
        size_t n = in.len;
        while (n > 0 && (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')) {
            s++;
            n--;
        }
        while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n' ||
                         s[n - 1] == '\r'))
            n--;
        s[n] = '\0';
        if (strlen(s) != n) {
            status = cmd_fail("stdin is not an envelope (contains NUL bytes)");
            goto out;
        }
        if (jwe_looks_compact(s)) {
            status = jwe_decrypt_text(jk, s);
            goto out;
        }
        if (!have_shared) {
            status = cmd_fail("IVORY_CONFIG_KEY is not set (base64 of 32 bytes)");
            goto out;
        }
        uint8_t *plain = NULL;
        size_t plen = 0;
        rc = envelope_decrypt(key, s, &plain, &plen, &e);
        if (rc == IV_EINVAL) {
            status = cmd_fail("stdin is not an envelope ('v1:' + base64)");
            goto out;
        }
        if (rc) {
            status = cmd_fail("cannot decrypt: wrong IVORY_CONFIG_KEY or tampered input");
            goto out;
        }
        int ok = fwrite(plain, 1, plen, stdout) == plen && fflush(stdout) == 0;
        OPENSSL_cleanse(plain, plen);
        free(plain);
        status = ok ? 0 : cmd_fail("cannot write stdout");
    }
out:
    jwe_key_free(jk);
    OPENSSL_cleanse(key, sizeof key);
    if (in.data)
        OPENSSL_cleanse(in.data, in.len);
    buf_release(&in);
    return status;
}
