/*
 * fuzz_jwt: libFuzzer target for the bearer-token decoder (src/crypto/jwt.c).
 * Every input is a token text handed to jwt_verify() of a verifier that knows
 * an HS256 secret and a P-256 public key, the way the API calls it for each
 * request. Properties checked beyond "no crash, no leak, no UB": a token is
 * only ever accepted with a non-empty sub, and anything accepted verifies again
 * (served from the verified-token cache) with the same claims.
 */
#include "crypto/crypto.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct jwt_verifier *verifier;

static const char ec_jwks[] =
    "{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"kid\":\"ec-1\","
    "\"x\":\"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU\","
    "\"y\":\"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0\"}]}";

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    char path[] = "/tmp/ivory-fuzz-jwks-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0)
        abort();
    FILE *f = fdopen(fd, "w");
    fputs(ec_jwks, f);
    fclose(f);
    struct jwt_verifier_config c = {
        .hs256_secret = "fuzz-secret-fuzz-secret-fuzz-secret",
        .jwks_path = path,
        .algs = "HS256,ES256",
    };
    struct iv_err e = {0};
    if (jwt_verifier_new(&verifier, &c, &e) != IV_OK) {
        fprintf(stderr, "fuzz_jwt: %s\n", e.msg);
        abort();
    }
    remove(path);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *token = malloc(size + 1);
    memcpy(token, data, size);
    token[size] = '\0';
    struct jwt_claims claims, again;
    struct iv_err e = {0};
    if (jwt_verify(verifier, token, &claims, &e) == IV_OK) {
        if (!claims.sub[0])
            abort();   /* accepted without a subject */
        if (jwt_verify(verifier, token, &again, &e) != IV_OK || strcmp(claims.sub, again.sub))
            abort();   /* the cache disagrees with the first verification */
    }
    free(token);
    return 0;
}
