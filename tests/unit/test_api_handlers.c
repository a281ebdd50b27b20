/*
 * test_api_handlers: the API handlers driven directly through struct api_ctx
 * (no socket) against a real SQLite store: register's exact response keys
 * and validation, tenant isolation (404 / empty list / 403 on catalogs),
 * the detail view never exposing secrets, and the webhook's signature check,
 * effects, replay and unknown run; the connector list's response cache (a
 * write by any path between two GETs shows in the second, another tenant's
 * write does not evict, ETag / If-None-Match -> 304) and its bytes equal to
 * jansson's compact dump of the same document. Signatures are made with webhook_sign over
 * the secret text the register response returned.
 */
#include "unit.h"
#include "api/api_int.h"
#include "crypto/crypto.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[64];
static char dburl[128];
static struct iv_config cfg;
static struct api_server_state st;
static const char *g_if_none_match;   /* sent by call() when set */

struct query { const char *key, *value; };
static const char *fake_query(void *qctx, const char *key)
{
    const struct query *q = qctx;
    return q && q->key && !strcmp(q->key, key) ? q->value : NULL;
}

/* Runs handler fn for tenant sub with an optional JSON body and path param. */
static struct api_ctx *call(api_handler fn, const char *sub, bool admin, const char *body,
                            const char *pname, const char *pvalue, const struct query *q)
{
    struct api_ctx *c = calloc(1, sizeof *c);
    c->srv = &st;
    c->method = "TEST";
    c->path = "/test";
    snprintf(c->claims.sub, sizeof c->claims.sub, "%s", sub ? sub : "");
    c->claims.is_admin = admin;
    c->query = fake_query;
    c->qctx = (void *)q;
    c->if_none_match = g_if_none_match;
    if (pname) {
        c->params.n = 1;
        snprintf(c->params.name[0], sizeof c->params.name[0], "%s", pname);
        snprintf(c->params.value[0], sizeof c->params.value[0], "%s", pvalue);
    }
    if (body) {
        c->body = body;
        c->body_len = strlen(body);
        c->json = json_loads(body, 0, NULL);
        assert_non_null(c->json);
    }
    fn(c);
    if (c->raw_reply) {
        /* pre-rendered body: parse it so the checks below read it like any reply */
        assert_null(c->reply);
        json_error_t err;
        c->reply = json_loadb(c->raw_reply->data, c->raw_reply->len, 0, &err);
        if (!c->reply)
            fprintf(stderr, "raw reply is not JSON: %s\n", err.text);
        assert_non_null(c->reply);
    }
    return c;
}

static void done(struct api_ctx *c)
{
    json_decref(c->json);
    api_ctx_release_reply(c);
    free(c);
}

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/ivory-test-handlers-%d", (int)getpid());
    mkdir_p(dir, 0700);
    snprintf(dburl, sizeof dburl, "sqlite:%s/h.db", dir);
    memset(&cfg, 0, sizeof cfg);
    cfg.first_run_delay_s = 300;
    cfg.max_body_bytes = 1 << 20;
    cfg.tenant_max_connectors = 1000;   /* the defaults of IVORY_TENANT_MAX_* */
    cfg.tenant_max_catalogs = 50;
    cfg.warehouse_root = "/tmp";   /* the catalogs below live in /tmp */
    struct iv_err e = {0};
    if (store_open(&st.store, dburl, 2, true, &e) != IV_OK)
        return -1;
    st.cfg = &cfg;
    random_bytes(st.master_key, sizeof st.master_key);
    if (store_tenant_create(st.store, "ta", "tenant-a", NULL, &e) != IV_OK ||
        store_tenant_create(st.store, "tb", "tenant-b", NULL, &e) != IV_OK)
        return -1;
    struct store_catalog in = {.catalog_name = "ivory-lakehouse", .catalog_type = "hadoop",
                               .warehouse = "file:///tmp/w", .storage_prefix = "a",
                               .active = true};
    return store_catalog_upsert(st.store, "ta", &in, NULL, NULL, &e) == IV_OK ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    store_close(st.store);
    char p[160];
    static const char *const sfx[] = {"", "-wal", "-shm"};
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s/h.db%s", dir, sfx[i]);
        unlink(p);
    }
    rmdir(dir);
    return 0;
}

static const char reg_body[] =
    "{\"source_system\":\"salesforce\",\"tap_name\":\"tap-salesforce\","
    "\"destination_catalog\":\"ivory-lakehouse\",\"destination_table\":\"opps\","
    "\"sync_schedule\":\"0 */6 * * *\"}";

/* Registers for tenant ta; returns the id and secret (caller frees both). */
static void register_one(char **id, char **secret)
{
    struct api_ctx *c = call(api_h_connector_create, "ta", false, reg_body, NULL, NULL, NULL);
    assert_int_equal(c->status, 201);
    *id = xstrdup(json_str(c->reply, "id"));
    *secret = xstrdup(json_str(c->reply, "webhook_secret"));
    done(c);
}

static void test_register_response(void **state)
{
    (void)state;
    int64_t t0 = now_s();
    struct api_ctx *c = call(api_h_connector_create, "ta", false, reg_body, NULL, NULL, NULL);
    assert_int_equal(c->status, 201);
    static const char *const keys[] = {"id", "source_system", "tap_name", "iomete_namespace",
                                       "iomete_table", "webhook_secret", "webhook_url",
                                       "next_run_at", "status"};
    assert_int_equal(json_object_size(c->reply), sizeof keys / sizeof keys[0]);
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        if (!json_object_get(c->reply, keys[i]))
            fail_msg("missing key %s", keys[i]);
    assert_string_equal(json_str(c->reply, "iomete_namespace"), "ivory_tenant_tenant_a");
    assert_string_equal(json_str(c->reply, "iomete_table"), "opps");
    assert_string_equal(json_str(c->reply, "status"), "active");
    assert_string_equal(json_str(c->reply, "webhook_url"), "/v1/etl/meltano/webhook");
    const char *secret = json_str(c->reply, "webhook_secret");
    assert_int_equal(strlen(secret), 64);
    assert_int_equal(strspn(secret, "0123456789abcdef"), 64);
    int64_t us = 0;
    const char *next = json_str(c->reply, "next_run_at");
    assert_int_equal(iso8601_parse_us(next, strlen(next), &us), IV_OK);
    assert_in_range(us / 1000000, t0 + 299, now_s() + 301);
    done(c);
}

static void test_register_rejects(void **state)
{
    (void)state;
    struct {
        const char *body, *field;
    } cases[] = {
        {"{\"source_system\":\"s\",\"tap_name\":\"t\",\"destination_catalog\":\"ivory-lakehouse\","
         "\"destination_table\":\"x\",\"bogus\":1}", "bogus"},
        {"{\"tap_name\":\"t\",\"destination_catalog\":\"ivory-lakehouse\","
         "\"destination_table\":\"x\"}", "source_system"},
        {"{\"source_system\":\"s\",\"tap_name\":\"../t\",\"destination_catalog\":\"ivory-lakehouse\","
         "\"destination_table\":\"x\"}", "tap_name"},
        {"{\"source_system\":\"s\",\"tap_name\":\"t\",\"destination_catalog\":\"nope\","
         "\"destination_table\":\"x\"}", "destination_catalog"},
        {"{\"source_system\":\"s\",\"tap_name\":\"t\",\"destination_catalog\":\"ivory-lakehouse\","
         "\"destination_table\":\"x\",\"sync_schedule\":\"61 * * * *\"}", "sync_schedule"},
        {"{\"source_system\":\"s\",\"tap_name\":\"t\",\"destination_catalog\":\"ivory-lakehouse\","
         "\"destination_table\":\"x\",\"config_encrypted\":\"plain\"}", "config_encrypted"},
        {"{\"source_system\":\"s\",\"tap_name\":\"t\",\"destination_catalog\":\"ivory-lakehouse\","
         "\"destination_table\":\"x\",\"connector_type\":null}", "connector_type"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct api_ctx *c = call(api_h_connector_create, "ta", false, cases[i].body, NULL, NULL,
                                 NULL);
        if (c->status != 422 || !json_str(c->reply, "field") ||
            strcmp(json_str(c->reply, "field"), cases[i].field) != 0)
            fail_msg("case %zu: status %d field %s", i, c->status,
                     json_str(c->reply, "field") ? json_str(c->reply, "field") : "(none)");
        done(c);
    }
    /* tenant b has no catalog: 422 on destination_catalog */
    struct api_ctx *c = call(api_h_connector_create, "tb", false, reg_body, NULL, NULL, NULL);
    assert_int_equal(c->status, 422);
    assert_string_equal(json_str(c->reply, "field"), "destination_catalog");
    done(c);
}

static void test_isolation_and_detail(void **state)
{
    (void)state;
    char *id, *secret;
    register_one(&id, &secret);
    struct api_ctx *c = call(api_h_connector_get, "tb", false, NULL, "id", id, NULL);
    assert_int_equal(c->status, 404);
    done(c);
    c = call(api_h_connector_list, "tb", false, NULL, NULL, NULL, NULL);
    assert_int_equal(c->status, 200);
    assert_int_equal(json_integer_value(json_object_get(c->reply, "count")), 0);
    done(c);
    c = call(api_h_connector_trigger, "tb", false, NULL, "id", id, NULL);
    assert_int_equal(c->status, 404);
    done(c);
    c = call(api_h_connector_delete, "tb", false, NULL, "id", id, NULL);
    assert_int_equal(c->status, 404);
    done(c);

    c = call(api_h_connector_get, "ta", false, NULL, "id", id, NULL);
    assert_int_equal(c->status, 200);
    assert_null(json_object_get(c->reply, "webhook_secret"));
    assert_null(json_object_get(c->reply, "webhook_secret_enc"));
    assert_null(json_object_get(c->reply, "config_encrypted"));
    char *text = json_dumps_compact(c->reply);
    assert_null(strstr(text, secret));
    free(text);
    assert_true(json_is_false(json_object_get(c->reply, "has_config")));
    assert_true(json_is_null(json_object_get(c->reply, "tap_state")));
    assert_int_equal(json_integer_value(json_object_get(c->reply, "run_count")), 0);
    done(c);

    struct query bad = {"limit", "201"};
    c = call(api_h_connector_runs, "ta", false, NULL, "id", id, &bad);
    assert_int_equal(c->status, 422);
    assert_string_equal(json_str(c->reply, "field"), "limit");
    done(c);
    struct query st_bad = {"status", "deleted"};
    c = call(api_h_connector_list, "ta", false, NULL, NULL, NULL, &st_bad);
    assert_int_equal(c->status, 422);
    done(c);
    free(id);
    free(secret);
}

static void test_catalog_authz(void **state)
{
    (void)state;
    const char *body = "{\"catalog_type\":\"hadoop\",\"warehouse\":\"file:///tmp/w\","
                       "\"storage_prefix\":\"b\",\"s3_secret_key_enc\":\"hunter2\"}";
    struct api_ctx *c = call(api_h_catalog_upsert, "ta", false, body, "tenant_id", "tb", NULL);
    assert_int_equal(c->status, 403);
    done(c);
    c = call(api_h_catalog_upsert, "admin-user", true, body, "tenant_id", "tb", NULL);
    assert_int_equal(c->status, 201);
    assert_string_equal(json_str(c->reply, "tenant_slug"), "tenant-b");
    assert_null(json_object_get(c->reply, "s3_secret_key_enc"));
    assert_true(json_is_true(json_object_get(c->reply, "has_s3_secret_key")));
    char *text = json_dumps_compact(c->reply);
    assert_null(strstr(text, "hunter2"));
    free(text);
    done(c);
    c = call(api_h_catalog_upsert, "tb", false, body, "tenant_id", "tb", NULL);
    assert_int_equal(c->status, 200);               /* same name again: update */
    done(c);
    /* the sealed value in the store is not the plain secret */
    struct store_catalog k;
    struct iv_err e = {0};
    assert_int_equal(store_catalog_get(st.store, "tb", "ivory-lakehouse", &k, &e), IV_OK);
    assert_non_null(k.s3_secret_key_enc);
    assert_null(strstr(k.s3_secret_key_enc, "hunter2"));
    uint8_t *plain = NULL;
    size_t n = 0;
    assert_int_equal(secret_unseal(st.master_key, k.s3_secret_key_enc, &plain, &n, &e), IV_OK);
    assert_int_equal(n, 7);
    assert_memory_equal(plain, "hunter2", 7);
    free(plain);
    store_catalog_release(&k);
}

static struct api_ctx *post_webhook(const char *secret, const char *body, int64_t t)
{
    char *sig = webhook_sign((const uint8_t *)secret, strlen(secret), t, body, strlen(body));
    struct api_ctx *c = calloc(1, sizeof *c);
    c->srv = &st;
    c->method = "POST";
    c->path = "/v1/etl/meltano/webhook";
    c->header_signature = sig;
    c->body = body;
    c->body_len = strlen(body);
    c->json = json_loads(body, 0, NULL);
    assert_non_null(c->json);
    api_h_webhook(c);
    free(sig);
    return c;
}

static void test_webhook(void **state)
{
    (void)state;
    char *id, *secret;
    register_one(&id, &secret);
    struct iv_err e = {0};
    assert_int_equal(store_run_start(st.store, "ta", id, "run-1", "manual", now_ms() - 60000,
                                     "ivory_tenant_tenant_a.opps", NULL, &e), IV_OK);
    char body[1024];
    snprintf(body, sizeof body,
             "{\"connector_id\":\"%s\",\"run_id\":\"run-1\",\"status\":\"completed\","
             "\"rows_synced\":10,\"rows_loaded\":9,\"transform_errors\":1,"
             "\"tap_state\":{\"bookmarks\":{\"x\":1}},\"started_at\":null,\"completed_at\":null,"
             "\"error_msg\":null,\"iomete_table\":null,\"snapshot_id\":77}", id);

    /* wrong secret, stale timestamp: 401 and no effect */
    struct api_ctx *c = post_webhook("0000", body, now_s());
    assert_int_equal(c->status, 401);
    done(c);
    c = post_webhook(secret, body, now_s() - 301);
    assert_int_equal(c->status, 401);
    done(c);
    struct store_connector k;
    assert_int_equal(store_connector_get(st.store, "ta", id, &k, &e), IV_OK);
    assert_int_equal(k.rows_total, 0);
    store_connector_release(&k);

    c = post_webhook(secret, body, now_s());
    assert_int_equal(c->status, 200);
    assert_true(json_is_false(json_object_get(c->reply, "replay")));
    done(c);
    assert_int_equal(store_connector_get(st.store, "ta", id, &k, &e), IV_OK);
    assert_int_equal(k.rows_total, 9);
    assert_string_equal(k.tap_state, "{\"bookmarks\":{\"x\":1}}");
    store_connector_release(&k);

    c = post_webhook(secret, body, now_s());       /* replay */
    assert_int_equal(c->status, 200);
    assert_true(json_is_true(json_object_get(c->reply, "replay")));
    done(c);
    assert_int_equal(store_connector_get(st.store, "ta", id, &k, &e), IV_OK);
    assert_int_equal(k.rows_total, 9);
    store_connector_release(&k);

    snprintf(body, sizeof body,
             "{\"connector_id\":\"%s\",\"run_id\":\"no-such-run\",\"status\":\"failed\"}", id);
    c = post_webhook(secret, body, now_s());
    assert_int_equal(c->status, 404);
    done(c);
    snprintf(body, sizeof body,
             "{\"connector_id\":\"%s\",\"run_id\":\"run-1\",\"status\":\"done\"}", id);
    c = post_webhook(secret, body, now_s());
    assert_int_equal(c->status, 422);
    done(c);
    c = post_webhook(secret, "{\"connector_id\":\"unknown\",\"run_id\":\"r\"}", now_s());
    assert_int_equal(c->status, 401);
    done(c);
    free(id);
    free(secret);
}

/* ---- list cache ------------------------------------------------------------------------- */

static uint64_t cache_hits(void)
{
    struct api_cache_stats s;
    api_cache_stats(st.cache, &s);
    return s.hits;
}

/* GET list for tc (optional status filter); returns the context (caller: done). */
static struct api_ctx *list_tc(const char *status)
{
    static struct query q;
    q.key = "status";
    q.value = status;
    struct api_ctx *c = call(api_h_connector_list, "tc", false, NULL, NULL, NULL,
                             status ? &q : NULL);
    return c;
}

static const char *item_field(struct api_ctx *c, const char *id, const char *key)
{
    json_t *arr = json_object_get(c->reply, "connectors");
    size_t i;
    json_t *it;
    json_array_foreach(arr, i, it) {
        if (!strcmp(json_str(it, "id"), id)) {
            json_t *v = json_object_get(it, key);
            return json_is_null(v) ? "(null)" : json_string_value(v);
        }
    }
    return NULL;
}

static void test_list_cache(void **state)
{
    (void)state;
    struct iv_err e = {0};
    st.cache = api_cache_new(1 << 20, 64);
    assert_int_equal(store_tenant_create(st.store, "tc", "tenant-c", NULL, &e), IV_OK);
    struct store_catalog in = {.catalog_name = "ivory-lakehouse", .catalog_type = "hadoop",
                               .warehouse = "file:///tmp/w", .storage_prefix = "c",
                               .active = true};
    assert_int_equal(store_catalog_upsert(st.store, "tc", &in, NULL, NULL, &e), IV_OK);
    char *ids[2];
    for (int i = 0; i < 2; i++) {
        struct api_ctx *c = call(api_h_connector_create, "tc", false, reg_body, NULL, NULL,
                                 NULL);
        assert_int_equal(c->status, 201);
        ids[i] = xstrdup(json_str(c->reply, "id"));
        done(c);
    }

    /* first GET renders, second is a hit with the same bytes and tag */
    struct api_ctx *a = list_tc(NULL);
    assert_int_equal(a->status, 200);
    assert_non_null(a->raw_reply);
    assert_int_equal(json_integer_value(json_object_get(a->reply, "count")), 2);
    assert_string_equal(a->etag, a->raw_reply->etag);
    /* byte for byte what jansson writes for the same document */
    char *dump = json_dumps_compact(a->reply);
    assert_string_equal(dump, a->raw_reply->data);
    free(dump);
    uint64_t h0 = cache_hits();
    struct api_ctx *b = list_tc(NULL);
    assert_int_equal(cache_hits(), h0 + 1);
    assert_string_equal(b->raw_reply->data, a->raw_reply->data);
    char etag1[24];
    snprintf(etag1, sizeof etag1, "%s", a->etag);
    done(a);
    done(b);

    /* If-None-Match with the current tag: 304, no body, same tag */
    g_if_none_match = etag1;
    a = list_tc(NULL);
    assert_int_equal(a->status, 304);
    assert_null(a->raw_reply);
    assert_null(a->reply);
    assert_string_equal(a->etag, etag1);
    done(a);
    g_if_none_match = NULL;

    /* a write through the API between two GETs shows in the second */
    a = call(api_h_connector_pause, "tc", false, NULL, "id", ids[0], NULL);
    assert_int_equal(a->status, 200);
    done(a);
    g_if_none_match = etag1;
    a = list_tc(NULL);
    g_if_none_match = NULL;
    assert_int_equal(a->status, 200);                 /* the old tag no longer matches */
    assert_string_equal(item_field(a, ids[0], "status"), "paused");
    assert_string_equal(item_field(a, ids[1], "status"), "active");
    assert_string_not_equal(a->etag, etag1);
    done(a);
    a = list_tc("paused");
    assert_int_equal(json_integer_value(json_object_get(a->reply, "count")), 1);
    done(a);

    /* a write by the runner's path (store only, no API code) shows too */
    assert_int_equal(store_run_start(st.store, "tc", ids[1], "run-tc-1", "manual", now_ms(),
                                     NULL, NULL, &e), IV_OK);
    a = list_tc(NULL);
    assert_string_equal(item_field(a, ids[1], "last_run_status"), "running");
    assert_string_equal(item_field(a, ids[0], "last_run_status"), "(null)");
    done(a);

    /* the filtered view is cached on its own and follows writes as well */
    a = call(api_h_connector_resume, "tc", false, NULL, "id", ids[0], NULL);
    assert_int_equal(a->status, 200);
    done(a);
    a = list_tc("paused");
    assert_int_equal(json_integer_value(json_object_get(a->reply, "count")), 0);
    done(a);

    /* another tenant's write leaves tc's entry valid: a hit */
    a = list_tc(NULL);
    done(a);
    struct api_ctx *r = call(api_h_connector_create, "ta", false, reg_body, NULL, NULL, NULL);
    assert_int_equal(r->status, 201);
    done(r);
    h0 = cache_hits();
    a = list_tc(NULL);
    assert_int_equal(cache_hits(), h0 + 1);
    assert_int_equal(json_integer_value(json_object_get(a->reply, "count")), 2);
    done(a);

    /* a deleted connector disappears */
    a = call(api_h_connector_delete, "tc", false, NULL, "id", ids[1], NULL);
    assert_int_equal(a->status, 204);
    done(a);
    a = list_tc(NULL);
    assert_int_equal(json_integer_value(json_object_get(a->reply, "count")), 1);
    assert_null(item_field(a, ids[1], "id"));
    done(a);

    api_cache_free(st.cache);
    st.cache = NULL;
    free(ids[0]);
    free(ids[1]);
}

int main(void)
{
    iv_log_level = LOG_ERROR;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_register_response),
        cmocka_unit_test(test_register_rejects),
        cmocka_unit_test(test_isolation_and_detail),
        cmocka_unit_test(test_catalog_authz),
        cmocka_unit_test(test_webhook),
        cmocka_unit_test(test_list_cache),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
