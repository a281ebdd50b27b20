/*
 * fuzz_api_body: libFuzzer target for the API's JSON request bodies: the
 * body check every JSON route runs (api_parse_json_body: duplicates, objects
 * only, embedded NUL) and then the real handler with its field validation,
 * against a real SQLite store in a temp dir, the way server.c runs them.
 * The first input byte picks the route: register a connector, upsert a
 * catalog, or the runner webhook (signed here with the secret of a connector
 * registered at start, so its validation is reached, not just the 401).
 * Beyond "no crash, no leak, no UB": every reply has a status, and every
 * error reply has the {"error","detail"} shape.
 */
#include "api/api_int.h"
#include "crypto/crypto.h"
#include "store/store.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static struct iv_config cfg;
static struct api_server_state st;
static char *secret;   /* webhook secret text of the connector registered at start */
static char conn_id[37];
/* Inputs name the registered connector with this placeholder id (the corpus
 * does), so webhook bodies get past the lookup to their field validation. */
static const char placeholder[] = "00000000-0000-4000-8000-000000000000";

static const char reg_body[] =
    "{\"source_system\":\"s\",\"tap_name\":\"tap-s\",\"destination_catalog\":\"ivory-lakehouse\","
    "\"destination_table\":\"t0\",\"sync_schedule\":\"@daily\"}";

static void run(api_handler fn, const char *body, size_t n, const char *param,
                const char *signature, struct api_ctx *c)
{
    memset(c, 0, sizeof *c);
    c->srv = &st;
    c->method = "POST";
    c->path = "/fuzz";
    snprintf(c->claims.sub, sizeof c->claims.sub, "ta");
    c->body = body;
    c->body_len = n;
    c->header_signature = signature;
    if (param) {
        c->params.n = 1;
        snprintf(c->params.name[0], sizeof c->params.name[0], "tenant_id");
        snprintf(c->params.value[0], sizeof c->params.value[0], "%s", param);
    }
    json_t *parsed = NULL;
    if (api_parse_json_body(c, &parsed))
        fn(c);
    if (!c->status)
        abort();   /* a handler that answers nothing */
    if (c->status >= 400 && c->reply &&
        (!json_is_string(json_object_get(c->reply, "error")) ||
         !json_is_string(json_object_get(c->reply, "detail"))))
        abort();   /* an error without the error shape */
    json_decref(parsed);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    static char dir[64], url[128];
    snprintf(dir, sizeof dir, "/tmp/ivory-fuzz-api-XXXXXX");
    if (!mkdtemp(dir))
        abort();
    snprintf(url, sizeof url, "sqlite:%s/f.db", dir);
    cfg.first_run_delay_s = 300;
    cfg.max_body_bytes = 1 << 20;
    cfg.tenant_max_connectors = 1 << 30;   /* quotas are not what this target explores */
    cfg.tenant_max_catalogs = 1 << 30;
    struct iv_err e = {0};
    if (store_open(&st.store, url, 2, true, &e) != IV_OK ||
        store_tenant_create(st.store, "ta", "tenant-a", NULL, &e) != IV_OK) {
        fprintf(stderr, "fuzz_api_body: %s\n", e.msg);
        abort();
    }
    st.cfg = &cfg;
    random_bytes(st.master_key, sizeof st.master_key);
    struct store_catalog in = {.catalog_name = "ivory-lakehouse", .catalog_type = "hadoop",
                               .warehouse = "file:///tmp/w", .storage_prefix = "a",
                               .active = true};
    if (store_catalog_upsert(st.store, "ta", &in, NULL, NULL, &e) != IV_OK)
        abort();
    struct api_ctx c;
    run(api_h_connector_create, reg_body, strlen(reg_body), NULL, NULL, &c);
    if (c.status != 201)
        abort();
    secret = xstrdup(json_string_value(json_object_get(c.reply, "webhook_secret")));
    snprintf(conn_id, sizeof conn_id, "%s", json_string_value(json_object_get(c.reply, "id")));
    api_ctx_release_reply(&c);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const char *body = (const char *)data + 1;
    size_t n = size - 1;
    char *copy = malloc(n + 1);   /* handlers read c->body as a C string too */
    memcpy(copy, body, n);
    copy[n] = '\0';
    for (char *p = copy; (p = memmem(p, n - (size_t)(p - copy), placeholder, 36)); p += 36)
        memcpy(p, conn_id, 36);
    struct api_ctx c;
    switch (data[0] % 3) {
    case 0:
        run(api_h_connector_create, copy, n, NULL, NULL, &c);
        break;
    case 1:
        run(api_h_catalog_upsert, copy, n, "ta", NULL, &c);
        break;
    default: {
        char *sig = webhook_sign((const uint8_t *)secret, strlen(secret), (int64_t)time(NULL),
                                 copy, n);
        run(api_h_webhook, copy, n, NULL, sig, &c);
        free(sig);
        break;
    }
    }
    api_ctx_release_reply(&c);
    free(copy);
    return 0;
}
