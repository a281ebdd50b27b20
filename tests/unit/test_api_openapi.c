/*
 * test_api_openapi: every route of the production table is described by openapi.c (a new
 * route without a description fails here, before the end-to-end suite's document checks),
 * and the connector field table's generated schemas say what the parser enforces: required
 * fields on create only, PATCH writes only the PATCH fields, secrets are write-only.
 */
#include "unit.h"
#include "api/api_int.h"

#include <string.h>

static void test_every_route_documented(void **state)
{
    (void)state;
    for (size_t i = 0; i < api_routes_count; i++) {
        if (!api_openapi_documents(api_routes[i].method, api_routes[i].pattern))
            fail_msg("route %s %s has no OpenAPI description in src/api/openapi.c",
                     api_routes[i].method, api_routes[i].pattern);
    }
}

static void test_connector_schemas(void **state)
{
    (void)state;
    json_t *create = api_fields_schema(&api_connector_resource, AF_CREATE);
    json_t *patch = api_fields_schema(&api_connector_resource, AF_PATCH);
    json_t *req = json_object_get(create, "required");
    assert_int_equal(json_array_size(req), 4);
    assert_null(json_object_get(patch, "required"));
    json_t *cp = json_object_get(create, "properties"), *pp = json_object_get(patch, "properties");
    assert_non_null(json_object_get(cp, "source_system"));
    assert_null(json_object_get(pp, "source_system"));
    assert_non_null(json_object_get(pp, "sync_schedule"));
    assert_true(json_is_true(json_object_get(json_object_get(cp, "config_encrypted"), "writeOnly")));
    assert_string_equal(json_string_value(json_object_get(json_object_get(cp, "tap_name"), "pattern")),
                        "^[a-z0-9][a-z0-9._-]{0,127}$");
    for (size_t i = 0; i < api_connector_resource.n; i++) {
        const struct api_field *f = &api_connector_resource.fields[i];
        assert_true(f->flags & (AF_CREATE | AF_PATCH));
        assert_non_null(f->doc);
    }
    json_decref(create);
    json_decref(patch);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_route_documented),
        cmocka_unit_test(test_connector_schemas),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
