/*
 * config_key.c: client-side config encryption without a shared key.
 * GET /v1/admin/config-key publishes the public half of the server's JWE key
 * pair (IVORY_CONFIG_PRIVATE_KEY) as a JWK, to any authenticated caller: it is
 * a public key, the same for every tenant, and opens nothing. The private half
 * never leaves the server and runner processes. Also owns the API-side check
 * of config_encrypted values (the API never decrypts tenant configs: only the
 * runner does, right before a sync).
 */
#include "api/api_int.h"

#include <string.h>

void api_h_config_key(struct api_ctx *c)
{
    const struct jwe_key *k = c->srv->config_key;
    if (!k) {
        api_error(c, 404, "not_found", NULL,
                  "This server has no config encryption key (IVORY_CONFIG_PRIVATE_KEY); "
                  "use a v1: envelope.");
        return;
    }
    char *text = jwe_public_jwk(k);
    json_t *jwk = json_loads(text, 0, NULL);
    free(text);
    if (!jwk) {
        api_internal(c, "config key", NULL);
        return;
    }
    api_reply(c, 200, jwk);
}

bool api_config_encrypted_ok(struct api_ctx *c, const char *config)
{
    if (!jwe_looks_compact(config)) {
        if (envelope_shape_ok(config))
            return true;
        api_error(c, 422, "validation_error", "config_encrypted",
                  "config_encrypted must be a v1: AES-256-GCM envelope or a compact JWE made "
                  "with GET /v1/admin/config-key (see the docs).");
        return false;
    }
    if (!c->srv->config_key) {
        api_error(c, 422, "validation_error", "config_encrypted",
                  "config_encrypted is a JWE but this server has no config encryption key.");
        return false;
    }
    struct iv_err e = {0};
    if (jwe_check(config, c->srv->config_key, &e) != IV_OK) {
        api_error(c, 422, "validation_error", "config_encrypted",
                  "config_encrypted is not a usable JWE: %s.", e.msg);
        return false;
    }
    return true;
}
