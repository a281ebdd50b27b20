/*
 * test_api_router: the route matcher (literal and {param} segments, 404 vs
 * 405 with the Allow list), the production route table's shape, and the
 * request-field validators of docs/api.md with accepted and rejected
 * values at their boundaries.
 */
#include "unit.h"
#include "api/api_int.h"

#include <string.h>

static void nop(struct api_ctx *c) { (void)c; }

static const struct api_route table[] = {
    {"GET", "/healthz", nop, API_AUTH_NONE, 0},
    {"GET", "/v1/things", nop, API_AUTH_JWT, 0},
    {"POST", "/v1/things", nop, API_AUTH_JWT, API_F_JSON_BODY},
    {"GET", "/v1/things/{id}", nop, API_AUTH_JWT, 0},
    {"DELETE", "/v1/things/{id}", nop, API_AUTH_JWT, 0},
    {"POST", "/v1/things/{id}/go", nop, API_AUTH_JWT, 0},
    {"DELETE", "/v1/t/{tenant_id}/c/{name}", nop, API_AUTH_JWT, 0},
};
#define N (sizeof table / sizeof table[0])

static void test_match_literal_and_params(void **state)
{
    (void)state;
    struct api_params p;
    char allow[64];
    int status = 0;
    const struct api_route *r = api_route_match(table, N, "GET", "/v1/things", &p, allow,
                                                sizeof allow, &status);
    assert_ptr_equal(r, &table[1]);
    assert_int_equal(p.n, 0);
    r = api_route_match(table, N, "POST", "/v1/things", &p, allow, sizeof allow, &status);
    assert_ptr_equal(r, &table[2]);
    r = api_route_match(table, N, "GET", "/v1/things/abc-123", &p, allow, sizeof allow, &status);
    assert_ptr_equal(r, &table[3]);
    assert_string_equal(api_param(&p, "id"), "abc-123");
    assert_null(api_param(&p, "other"));
    r = api_route_match(table, N, "POST", "/v1/things/x/go", &p, allow, sizeof allow, &status);
    assert_ptr_equal(r, &table[5]);
    assert_string_equal(api_param(&p, "id"), "x");
    r = api_route_match(table, N, "DELETE", "/v1/t/T1/c/lake", &p, allow, sizeof allow, &status);
    assert_ptr_equal(r, &table[6]);
    assert_int_equal(p.n, 2);
    assert_string_equal(api_param(&p, "tenant_id"), "T1");
    assert_string_equal(api_param(&p, "name"), "lake");
}

static void test_404(void **state)
{
    (void)state;
    struct api_params p;
    char allow[64];
    int status = 0;
    static const char *const misses[] = {
        "/", "/v1", "/v1/things/", "/v1/things//go", "/v1/things/x/go/", "/v1/thingsx",
        "/v1/things/x/stop", "/healthz/", "//healthz", "/v1/t/T1/c", "", "healthz",
    };
    for (size_t i = 0; i < sizeof misses / sizeof misses[0]; i++) {
        const struct api_route *r = api_route_match(table, N, "GET", misses[i], &p, allow,
                                                    sizeof allow, &status);
        if (r || status != 404)
            fail_msg("'%s' should be 404, got %d", misses[i], status);
    }
    /* an over-long parameter segment is not a match */
    char longpath[400] = "/v1/things/";
    memset(longpath + strlen(longpath), 'a', 300);
    longpath[11 + 300] = '\0';
    assert_null(api_route_match(table, N, "GET", longpath, &p, allow, sizeof allow, &status));
    assert_int_equal(status, 404);
}

static void test_405_allow(void **state)
{
    (void)state;
    struct api_params p;
    char allow[64];
    int status = 0;
    assert_null(api_route_match(table, N, "PUT", "/v1/things", &p, allow, sizeof allow, &status));
    assert_int_equal(status, 405);
    assert_string_equal(allow, "GET, POST");
    assert_null(api_route_match(table, N, "PATCH", "/v1/things/7", &p, allow, sizeof allow,
                                &status));
    assert_int_equal(status, 405);
    assert_string_equal(allow, "GET, DELETE");
    assert_null(api_route_match(table, N, "GET", "/v1/things/7/go", &p, allow, sizeof allow,
                                &status));
    assert_int_equal(status, 405);
    assert_string_equal(allow, "POST");
    assert_null(api_route_match(table, N, "POST", "/healthz", &p, allow, sizeof allow, &status));
    assert_string_equal(allow, "GET");
}

static void test_production_table(void **state)
{
    (void)state;
    struct api_params p;
    char allow[64];
    int status = 0;
    const struct api_route *r = api_route_match(api_routes, api_routes_count, "POST",
                                                "/v1/etl/meltano/webhook", &p, allow,
                                                sizeof allow, &status);
    assert_non_null(r);
    assert_int_equal(r->auth, API_AUTH_WEBHOOK);
    r = api_route_match(api_routes, api_routes_count, "GET", "/healthz", &p, allow, sizeof allow,
                        &status);
    assert_non_null(r);
    assert_int_equal(r->auth, API_AUTH_NONE);
    /* every /v1/admin route needs a JWT */
    for (size_t i = 0; i < api_routes_count; i++)
        if (!strncmp(api_routes[i].pattern, "/v1/admin/", 10))
            assert_int_equal(api_routes[i].auth, API_AUTH_JWT);
    assert_null(api_route_match(api_routes, api_routes_count, "PUT",
                                "/v1/admin/connectors/abc", &p, allow, sizeof allow, &status));
    assert_int_equal(status, 405);
    assert_string_equal(allow, "GET, DELETE, PATCH");
    assert_null(api_route_match(api_routes, api_routes_count, "DELETE",
                                "/v1/admin/tenants/t/catalog", &p, allow, sizeof allow, &status));
    assert_string_equal(allow, "POST, GET");
    r = api_route_match(api_routes, api_routes_count, "DELETE",
                        "/v1/admin/tenants/t1/catalog/ivory-lakehouse", &p, allow, sizeof allow,
                        &status);
    assert_non_null(r);
    assert_string_equal(api_param(&p, "catalog_name"), "ivory-lakehouse");
}

static void test_validators(void **state)
{
    (void)state;
    char s63[64], s64[65], s128[129], s129[130];
    memset(s63, 'a', 63); s63[63] = '\0';
    memset(s64, 'a', 64); s64[64] = '\0';
    memset(s128, 'a', 128); s128[128] = '\0';
    memset(s129, 'a', 129); s129[129] = '\0';

    assert_true(api_valid_source_system("a"));
    assert_true(api_valid_source_system("hub_spot2"));
    assert_true(api_valid_source_system(s63));
    assert_false(api_valid_source_system(s64));
    assert_false(api_valid_source_system(""));
    assert_false(api_valid_source_system("1abc"));
    assert_false(api_valid_source_system("_abc"));
    assert_false(api_valid_source_system("Sales"));
    assert_false(api_valid_source_system("sales-force"));
    assert_false(api_valid_source_system(NULL));

    assert_true(api_valid_tap_name("tap-salesforce"));
    assert_true(api_valid_tap_name("0"));
    assert_true(api_valid_tap_name("tap.x_y-z"));
    assert_true(api_valid_tap_name(s128));
    assert_false(api_valid_tap_name(s129));
    assert_false(api_valid_tap_name("../bin/sh"));
    assert_false(api_valid_tap_name("/usr/bin/tap"));
    assert_false(api_valid_tap_name("tap/x"));
    assert_false(api_valid_tap_name("-tap"));
    assert_false(api_valid_tap_name(".tap"));
    assert_false(api_valid_tap_name("Tap"));

    assert_true(api_valid_destination_table("_t"));
    assert_true(api_valid_destination_table("orders_2024"));
    assert_true(api_valid_destination_table(s128));
    assert_false(api_valid_destination_table(s129));
    assert_false(api_valid_destination_table("1t"));
    assert_false(api_valid_destination_table("t-x"));
    assert_false(api_valid_destination_table("t.x"));

    assert_true(api_valid_tap_version("v2.0.0+build-1"));
    assert_true(api_valid_tap_version(s64));
    assert_false(api_valid_tap_version(""));
    assert_false(api_valid_tap_version("1.0 beta"));
    assert_false(api_valid_tap_version(">=1.0"));

    assert_true(api_valid_slug("acme"));
    assert_true(api_valid_slug("a-1"));
    assert_false(api_valid_slug("ab"));
    assert_false(api_valid_slug("Acme"));
    assert_false(api_valid_slug("acme_co"));

    assert_true(api_valid_connector_type("meltano"));
    assert_true(api_valid_connector_type("custom"));
    assert_false(api_valid_connector_type("MELTANO"));
    assert_false(api_valid_connector_type("singer"));

    assert_true(api_valid_catalog_type("hadoop"));
    assert_true(api_valid_catalog_type("rest"));
    assert_false(api_valid_catalog_type("nessie"));

    assert_true(api_valid_warehouse("file:///tmp/wh"));
    assert_true(api_valid_warehouse("s3://my-bucket/prefix"));
    assert_true(api_valid_warehouse("s3://bucket"));
    assert_false(api_valid_warehouse("file://relative"));
    assert_false(api_valid_warehouse("/tmp/wh"));
    assert_false(api_valid_warehouse("s3://BUCKET/x"));
    assert_false(api_valid_warehouse("s3://ab/x"));
    assert_false(api_valid_warehouse("http://x"));

    assert_true(api_valid_storage_prefix("acme"));
    assert_true(api_valid_storage_prefix("tenants/acme-co"));
    assert_false(api_valid_storage_prefix(""));
    assert_false(api_valid_storage_prefix("/abs"));
    assert_false(api_valid_storage_prefix("a/../b"));
    assert_false(api_valid_storage_prefix(".."));
    assert_false(api_valid_storage_prefix("a//b"));
    assert_false(api_valid_storage_prefix("a b"));

    int limit = 0;
    assert_true(api_parse_limit("1", &limit));
    assert_int_equal(limit, 1);
    assert_true(api_parse_limit("200", &limit));
    assert_int_equal(limit, 200);
    assert_false(api_parse_limit("0", &limit));
    assert_false(api_parse_limit("201", &limit));
    assert_false(api_parse_limit("-1", &limit));
    assert_false(api_parse_limit("5x", &limit));
    assert_false(api_parse_limit("", &limit));
    assert_false(api_parse_limit("0005", &limit));
}

static void test_unknown_field(void **state)
{
    (void)state;
    static const char *const allowed[] = {"a", "b", NULL};
    json_t *j = json_loads("{\"a\":1,\"b\":2}", 0, NULL);
    assert_null(api_unknown_field(j, allowed));
    json_object_set_new(j, "zz", json_true());
    assert_string_equal(api_unknown_field(j, allowed), "zz");
    json_decref(j);
}

/* Routing works on the raw path: "%2F" inside a segment is data, captured
 * values are decoded after matching, and the pre-routing check refuses NUL and
 * malformed escapes. */
static void test_raw_path_routing(void **state)
{
    (void)state;
    struct api_params p;
    char allow[64];
    int status = 0;
    const struct api_route *r = api_route_match(table, N, "GET", "/v1/things/a%2Fb", &p, allow,
                                                sizeof allow, &status);
    assert_non_null(r);
    assert_string_equal(r->pattern, "/v1/things/{id}");
    assert_string_equal(api_param(&p, "id"), "a/b");
    r = api_route_match(table, N, "POST", "/v1/things/x%2Fgo", &p, allow, sizeof allow, &status);
    assert_null(r);   /* would be {id}/go if decoded before routing; it is {id} itself */
    assert_int_equal(status, 405);
    assert_null(api_route_match(table, N, "GET", "/v1%2Fthings", &p, allow, sizeof allow,
                                &status));
    r = api_route_match(table, N, "GET", "/v1/things/%41%62c", &p, allow, sizeof allow, &status);
    assert_non_null(r);
    assert_string_equal(api_param(&p, "id"), "Abc");

    const char *why = NULL;
    assert_true(api_path_check("/v1/things/a%2Fb", &why));
    assert_true(api_path_check("/", &why));
    assert_false(api_path_check("/v1/things/a%00b", &why));
    assert_non_null(strstr(why, "NUL"));
    assert_false(api_path_check("/v1/things/%0", &why));
    assert_false(api_path_check("/v1/things/%zz", &why));
    assert_false(api_path_check("/v1/things/%", &why));
    assert_false(api_path_check("/v1/things/a\tb", &why));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_match_literal_and_params),
        cmocka_unit_test(test_404),
        cmocka_unit_test(test_405_allow),
        cmocka_unit_test(test_production_table),
        cmocka_unit_test(test_validators),
        cmocka_unit_test(test_unknown_field),
        cmocka_unit_test(test_raw_path_routing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
