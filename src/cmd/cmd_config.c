/*
 * cmd_config: `ivory config encrypt|decrypt` (CONTRACT §8, §11).
 *
 * Reads stdin (at most 16 MiB), uses IVORY_CONFIG_KEY (base64 of 32 bytes) and
 * writes the result to stdout. encrypt accepts only a JSON object (the shape a
 * tap config has) and prints "v1:..." plus a newline; decrypt accepts the
 * envelope with surrounding whitespace and prints the exact plaintext bytes.
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
    "usage: ivory config encrypt|decrypt  (stdin -> stdout, key from IVORY_CONFIG_KEY)\n";

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
    if (argc != 2)
        return cmd_usage_error("config takes exactly one of 'encrypt' or 'decrypt' (%s)",
                               "stdin -> stdout");
    bool enc = strcmp(argv[1], "encrypt") == 0;
    if (!enc && strcmp(argv[1], "decrypt") != 0)
        return cmd_usage_error("unknown config action '%s' (use 'encrypt' or 'decrypt')",
                               argv[1]);

    const char *kb64 = getenv("IVORY_CONFIG_KEY");
    if (!kb64 || !*kb64)
        return cmd_fail("IVORY_CONFIG_KEY is not set (base64 of 32 bytes)");
    uint8_t key[32];
    struct iv_err e = {0};
    if (key_from_base64(kb64, key, &e) != IV_OK)
        return cmd_fail("IVORY_CONFIG_KEY: %s", e.msg);

    int status = 1;
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
    OPENSSL_cleanse(key, sizeof key);
    if (in.data)
        OPENSSL_cleanse(in.data, in.len);
    buf_release(&in);
    return status;
}
