/*
 * test_streams.c: the stream catalog document (src/streams) without processes: parsing a
 * tap's catalog (metadata, defaults, bad catalogs), selection rules (PATCH), the stream ->
 * table rule with collisions and pinning, re-discovery's merge, what the tap gets (Singer
 * metadata, Airbyte configured catalog) and bookmark removal.
 */
#include "unit.h"
#include "streams/streams.h"

#include <string.h>

static void name_fn(const char *stream, char *out, size_t n)
{
    /* The tests' own rule: lower-case letters kept, anything else '_'. */
    size_t k = 0;
    for (; stream[k] && k + 1 < n; k++)
        out[k] = (stream[k] >= 'a' && stream[k] <= 'z') ? stream[k] : '_';
    out[k] = '\0';
}

static const char *CATALOG =
    "{\"streams\":["
    "{\"tap_stream_id\":\"users\",\"stream\":\"users\",\"key_properties\":[\"id\"],"
    " \"schema\":{\"type\":\"object\",\"properties\":{\"id\":{\"type\":\"integer\"},"
    "  \"email\":{\"type\":[\"null\",\"string\"]},\"blob\":{\"type\":\"string\"},"
    "  \"at\":{\"type\":[\"null\",\"string\"],\"format\":\"date-time\"}}},"
    " \"metadata\":[{\"breadcrumb\":[],\"metadata\":{\"valid-replication-keys\":[\"at\"]}},"
    "  {\"breadcrumb\":[\"properties\",\"blob\"],\"metadata\":{\"inclusion\":\"unsupported\"}}]},"
    "{\"tap_stream_id\":\"a.b\",\"schema\":{\"properties\":{\"x\":{\"type\":\"integer\"}}},"
    " \"metadata\":[{\"breadcrumb\":[],\"metadata\":{\"selected-by-default\":false,"
    "  \"forced-replication-method\":\"FULL_TABLE\"}}]},"
    "{\"tap_stream_id\":\"a_b\",\"schema\":{\"properties\":{\"y\":{\"anyOf\":[{}]}}}}"
    "]}";

static json_t *doc_of(const char *text)
{
    json_t *cat = json_loads(text, 0, NULL);
    assert_non_null(cat);
    json_t *doc = NULL;
    struct iv_err e = {0};
    assert_int_equal(streams_from_singer(cat, name_fn, &doc, &e), IV_OK);
    json_decref(cat);
    return doc;
}

static json_t *stream_of(json_t *view_or_doc, const char *id)
{
    size_t i;
    json_t *st;
    json_array_foreach(json_object_get(view_or_doc, "streams"), i, st) {
        if (!strcmp(json_str(st, "tap_stream_id"), id))
            return st;
    }
    return NULL;
}

static json_t *field_of(json_t *st, const char *name)
{
    size_t i;
    json_t *f;
    json_array_foreach(json_object_get(st, "fields"), i, f) {
        if (!strcmp(json_str(f, "name"), name))
            return f;
    }
    return NULL;
}

static int patch_text(json_t *doc, const char *body, bool pin, char field[160])
{
    json_t *b = json_loads(body, 0, NULL);
    assert_non_null(b);
    struct iv_err e = {0};
    int rc = streams_patch(doc, b, "dest", pin, NULL, field, &e);
    json_decref(b);
    return rc;
}

static void test_parse_defaults_and_metadata(void **state)
{
    (void)state;
    json_t *doc = doc_of(CATALOG);
    json_t *v = streams_view(doc, "dest", NULL);
    json_t *u = stream_of(v, "users");
    assert_true(json_is_true(json_object_get(u, "selected")));
    assert_string_equal(json_str(u, "replication_method"), "INCREMENTAL");
    assert_string_equal(json_str(u, "replication_key"), "at");
    assert_string_equal(json_str(field_of(u, "id"), "inclusion"), "automatic");
    assert_string_equal(json_str(field_of(u, "at"), "inclusion"), "automatic");
    assert_string_equal(json_str(field_of(u, "blob"), "inclusion"), "unsupported");
    assert_true(json_is_false(json_object_get(field_of(u, "blob"), "selected")));
    assert_string_equal(json_str(field_of(u, "at"), "format"), "date-time");
    assert_true(json_is_true(json_object_get(field_of(u, "email"), "nullable")));
    assert_string_equal(json_str(field_of(stream_of(v, "a_b"), "y"), "type"), "anyOf");
    json_t *ab = stream_of(v, "a.b");
    assert_true(json_is_false(json_object_get(ab, "selected")));
    assert_string_equal(json_str(ab, "replication_method"), "FULL_TABLE");
    /* users and a_b selected: two streams -> {dest}_{name} */
    assert_string_equal(json_str(u, "table"), "dest_users");
    assert_string_equal(json_str(stream_of(v, "a_b"), "table"), "dest_a_b");
    assert_true(json_is_null(json_object_get(ab, "table")));
    json_decref(v);
    json_decref(doc);
}

static void test_bad_catalogs(void **state)
{
    (void)state;
    const char *bad[] = {
        "[]", "{}", "{\"streams\":{}}", "{\"streams\":[1]}", "{\"streams\":[{\"schema\":{}}]}",
        "{\"streams\":[{\"tap_stream_id\":\"a\"}]}",
        "{\"streams\":[{\"tap_stream_id\":\"a\",\"schema\":{\"properties\":[]}}]}",
        "{\"streams\":[{\"tap_stream_id\":\"a\",\"schema\":{}},{\"tap_stream_id\":\"a\","
        "\"schema\":{}}]}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_t *cat = json_loads(bad[i], 0, NULL);
        json_t *doc = NULL;
        struct iv_err e = {0};
        assert_int_equal(streams_from_singer(cat, name_fn, &doc, &e), IV_EINVAL);
        assert_null(doc);
        assert_true(e.msg[0] != '\0');
        json_decref(cat);
    }
}

static void test_patch_rules_and_all_or_nothing(void **state)
{
    (void)state;
    json_t *doc = doc_of(CATALOG);
    char *before = json_dumps(doc, JSON_SORT_KEYS);
    char field[160];
    struct { const char *body, *field; } cases[] = {
        {"{\"streams\":[{\"tap_stream_id\":\"nope\"}]}", "streams[0].tap_stream_id"},
        {"{\"streams\":[{\"tap_stream_id\":\"users\",\"fields\":{\"id\":false}}]}",
         "streams[0].fields.id"},
        {"{\"streams\":[{\"tap_stream_id\":\"users\",\"fields\":{\"blob\":true}}]}",
         "streams[0].fields.blob"},
        {"{\"streams\":[{\"tap_stream_id\":\"users\",\"fields\":{\"email\":false}},"
         "{\"tap_stream_id\":\"a.b\",\"replication_method\":\"INCREMENTAL\"}]}",
         "streams[1].replication_method"},
        {"{\"streams\":[{\"tap_stream_id\":\"users\",\"replication_key\":\"email\"}]}",
         "streams[0].replication_key"},
        {"{\"streams\":[{\"tap_stream_id\":\"users\",\"table\":\"9x\"}]}", "streams[0].table"},
        {"{\"streams\":[{\"tap_stream_id\":\"a.b\",\"selected\":true}]}", "streams"},
        {"{\"other\":[]}", "other"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        assert_int_equal(patch_text(doc, cases[i].body, false, field), IV_EINVAL);
        assert_string_equal(field, cases[i].field);
        char *now = json_dumps(doc, JSON_SORT_KEYS);
        assert_string_equal(now, before);   /* nothing changed */
        free(now);
    }
    free(before);
    /* a.b and a_b both name dest_a_b: fine once a.b gets its own table */
    assert_int_equal(patch_text(doc, "{\"streams\":[{\"tap_stream_id\":\"a.b\",\"selected\":true,"
                                "\"table\":\"ab_dots\"},{\"tap_stream_id\":\"users\","
                                "\"fields\":{\"email\":false}}]}", false, field), IV_OK);
    json_t *map = NULL;
    struct iv_err e = {0};
    assert_int_equal(streams_tables(doc, "dest", &map, &e), IV_OK);
    assert_string_equal(json_str(map, "a.b"), "ab_dots");
    assert_string_equal(json_str(map, "a_b"), "dest_a_b");
    json_decref(map);
    assert_false(streams_field_selected(stream_of(doc, "users"), "email"));
    json_decref(doc);
}

static void test_one_stream_rule_and_pinning(void **state)
{
    (void)state;
    json_t *doc = doc_of(CATALOG);
    char field[160];
    json_t *copy = json_deep_copy(doc);
    /* before any run: one selected stream loads into dest itself */
    assert_int_equal(patch_text(copy, "{\"streams\":[{\"tap_stream_id\":\"a_b\","
                                "\"selected\":false}]}", false, field), IV_OK);
    json_t *map = NULL;
    struct iv_err e = {0};
    streams_tables(copy, "dest", &map, &e);
    assert_string_equal(json_str(map, "users"), "dest");
    json_decref(map);
    /* after a run: users keeps dest_users */
    assert_int_equal(patch_text(doc, "{\"streams\":[{\"tap_stream_id\":\"a_b\","
                                "\"selected\":false}]}", true, field), IV_OK);
    streams_tables(doc, "dest", &map, &e);
    assert_string_equal(json_str(map, "users"), "dest_users");
    json_decref(map);
    json_decref(copy);
    json_decref(doc);
}

static void test_merge_keeps_choices(void **state)
{
    (void)state;
    json_t *old = doc_of(CATALOG);
    char field[160];
    assert_int_equal(patch_text(old, "{\"streams\":[{\"tap_stream_id\":\"users\",\"fields\":"
                                "{\"email\":false},\"table\":\"people\"}]}", false, field), IV_OK);
    json_t *fresh = doc_of("{\"streams\":["
        "{\"tap_stream_id\":\"users\",\"schema\":{\"properties\":{\"id\":{\"type\":\"integer\"},"
        " \"email\":{\"type\":\"string\"},\"phone\":{\"type\":\"string\"}}}},"
        "{\"tap_stream_id\":\"new\",\"schema\":{\"properties\":{}}}]}");
    json_t *report = streams_merge(fresh, old);
    char *r = json_dumps(report, JSON_COMPACT);
    assert_string_equal(r, "{\"appeared\":[\"new\"],\"vanished\":[\"a.b\",\"a_b\"]}");
    free(r);
    json_t *u = stream_of(fresh, "users");
    assert_false(streams_field_selected(u, "email"));
    assert_true(streams_field_selected(u, "phone"));
    assert_string_equal(json_str(u, "table"), "people");
    assert_true(json_is_false(json_object_get(stream_of(fresh, "new"), "selected")));
    json_decref(report);
    json_decref(fresh);
    json_decref(old);
}

static void test_what_the_tap_gets(void **state)
{
    (void)state;
    json_t *doc = doc_of(CATALOG);
    json_t *c = streams_singer_catalog(doc);
    json_t *u = stream_of(c, "users");
    bool stream_sel = false, blob_unsel = false, method = false;
    size_t i;
    json_t *md;
    json_array_foreach(json_object_get(u, "metadata"), i, md) {
        json_t *bc = json_object_get(md, "breadcrumb"), *m = json_object_get(md, "metadata");
        if (json_array_size(bc) == 0) {
            stream_sel = json_is_true(json_object_get(m, "selected"));
            method = json_str(m, "replication-method") &&
                     !strcmp(json_str(m, "replication-method"), "INCREMENTAL");
        } else if (!strcmp(json_string_value(json_array_get(bc, 1)), "blob")) {
            blob_unsel = json_is_false(json_object_get(m, "selected"));
        }
    }
    assert_true(stream_sel && blob_unsel && method);
    assert_int_equal(json_array_size(json_object_get(c, "streams")), 3);
    json_decref(c);
    assert_string_equal(streams_catalog_flag(doc), "--catalog");

    json_t *ab = json_loads("{\"streams\":[{\"name\":\"s\",\"json_schema\":{\"properties\":"
                            "{\"id\":{},\"v\":{}}},\"supported_sync_modes\":[\"full_refresh\","
                            "\"incremental\"],\"source_defined_cursor\":true,"
                            "\"default_cursor_field\":[\"id\"],"
                            "\"source_defined_primary_key\":[[\"id\"]]}]}", 0, NULL);
    json_t *adoc = NULL;
    struct iv_err e = {0};
    assert_int_equal(streams_from_airbyte(ab, name_fn, &adoc, &e), IV_OK);
    char field[160];
    assert_int_equal(patch_text(adoc, "{\"streams\":[{\"tap_stream_id\":\"s\",\"fields\":"
                                "{\"v\":false}}]}", false, field), IV_OK);
    json_t *cc = streams_airbyte_catalog(adoc);
    json_t *cs = json_array_get(json_object_get(cc, "streams"), 0);
    assert_string_equal(json_str(cs, "sync_mode"), "incremental");
    assert_string_equal(json_str(cs, "destination_sync_mode"), "append");
    assert_null(json_object_get(json_object_get(json_object_get(json_object_get(cs, "stream"),
                "json_schema"), "properties"), "v"));
    json_decref(cc);
    json_decref(adoc);
    json_decref(ab);
    json_decref(doc);
}

static void test_state_without(void **state)
{
    (void)state;
    json_t *ids = json_pack("[s]", "orders");
    char *s = streams_state_without("{\"bookmarks\":{\"users\":{\"id\":5},\"orders\":{\"id\":3}},"
                                    "\"currently_syncing\":\"orders\"}", ids);
    assert_string_equal(s, "{\"bookmarks\":{\"users\":{\"id\":5}},\"currently_syncing\":null}");
    free(s);
    s = streams_state_without("{\"airbyte_state\":[{\"type\":\"STREAM\",\"stream\":"
                              "{\"stream_descriptor\":{\"name\":\"orders\"}}},{\"type\":"
                              "\"STREAM\",\"stream\":{\"stream_descriptor\":{\"name\":\"u\"}}}]}",
                              ids);
    assert_non_null(strstr(s, "\"u\""));
    assert_null(strstr(s, "orders"));
    free(s);
    assert_null(streams_state_without("{\"bookmarks\":{\"users\":{}}}", ids));
    assert_null(streams_state_without(NULL, ids));
    json_decref(ids);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_defaults_and_metadata),
        cmocka_unit_test(test_bad_catalogs),
        cmocka_unit_test(test_patch_rules_and_all_or_nothing),
        cmocka_unit_test(test_one_stream_rule_and_pinning),
        cmocka_unit_test(test_merge_keeps_choices),
        cmocka_unit_test(test_what_the_tap_gets),
        cmocka_unit_test(test_state_without),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
