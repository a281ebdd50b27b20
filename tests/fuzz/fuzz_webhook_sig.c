/*
 * fuzz_webhook_sig.c: libFuzzer target for the webhook signature check (src/crypto,
 * webhook_verify): the input's first line is the X-Ivory-Signature header, the rest the
 * body. Any crash, leak or sanitizer report is a bug; so is a "valid" verdict for a header
 * that is not exactly the signature computed here (the fuzzer cannot forge an HMAC).
 */
#include "crypto/crypto.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nl = memchr(data, '\n', size);
    size_t hlen = nl ? (size_t)(nl - data) : size;
    char *header = malloc(hlen + 1);
    memcpy(header, data, hlen);
    header[hlen] = '\0';
    const uint8_t *body = nl ? nl + 1 : data + size;
    size_t blen = (size_t)(data + size - body);
    static const uint8_t secret[] = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    const uint8_t *secrets[2] = {secret, secret + 1};
    size_t lens[2] = {64, 63};
    int64_t now = 1800000000;
    bool ok = webhook_verify(header, secrets, lens, 2, body, blen, now, 300);
    if (ok) {
        /* Only the real signature of one of the keys may pass: recompute and compare. */
        char *want0 = webhook_sign(secrets[0], lens[0], now, body, blen);
        bool mentions = strstr(header, strchr(want0, ',') + 1) != NULL;
        char *want1 = webhook_sign(secrets[1], lens[1], now, body, blen);
        mentions = mentions || strstr(header, strchr(want1, ',') + 1) != NULL;
        free(want0);
        free(want1);
        /* t may differ from now within the tolerance, so an exact v1 for now is not
         * required; but a header whose v1 values are none of the keys' for any t the
         * parser accepted would be a forgery. Re-check with the header's own t. */
        const char *t = strstr(header, "t=");
        if (!mentions && t) {
            long long tv = strtoll(t + 2, NULL, 10);
            char *w0 = webhook_sign(secrets[0], lens[0], tv, body, blen);
            char *w1 = webhook_sign(secrets[1], lens[1], tv, body, blen);
            mentions = strstr(header, strchr(w0, ',') + 1) || strstr(header, strchr(w1, ',') + 1);
            free(w0);
            free(w1);
        }
        if (!mentions)
            abort();
    }
    free(header);
    return 0;
}
