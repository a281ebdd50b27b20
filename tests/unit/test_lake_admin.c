/*
 * test_lake_admin: unit tests for the server side of Ivory's Iceberg REST catalog in
 * src/lake (catalog_admin.c + the sql catalog's admin ops): namespaces and tables listed,
 * created and dropped; a CommitTableRequest's requirements checked (conflicts), its
 * updates applied (a snapshot and a schema added through requirements + updates, the way a
 * REST client commits), and refused when unknown or when a snapshot's manifest list lies
 * outside the table. Also the URL encoder of the lake's HTTP client.
 */
#include "unit.h"
#include "lake/lake.h"
#include "lake/lake_int.h"
#include "lake/lake_http.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static char g_dir[] = "/tmp/ivory-lake-admin-XXXXXX";

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb; (void)flag; (void)ftw;
    return remove(p);
}

static struct lake_catalog *open_sql(void)
{
    char *wh = xasprintf("file://%s/wh", g_dir);
    char *uri = xasprintf("sqlite:%s/catalog.db", g_dir);
    struct lake_catalog_config cfg = { .type = "sql", .warehouse = wh, .uri = uri,
                                       .catalog_name = "ivory-lakehouse" };
    struct lake_catalog *c = NULL;
    struct iv_err e = { 0 };
    if (lake_catalog_open(&c, &cfg, &e))
        fail_msg("catalog open: %s", e.msg);
    free(wh);
    free(uri);
    return c;
}

static struct lake_table *new_table(struct lake_catalog *c, const char *ns, const char *name)
{
    struct lake_schema s;
    lake_schema_init(&s);
    lake_schema_add(&s, "id", LAKE_LONG, true, 0, 0);
    lake_schema_add(&s, "name", LAKE_STRING, false, 0, 0);
    struct lake_table *t = NULL;
    struct iv_err e = { 0 };
    if (lake_table_create(c, ns, name, NULL, &s, &t, &e))
        fail_msg("create: %s", e.msg);
    lake_schema_release(&s);
    return t;
}

static void append_one(struct lake_table *t, int64_t id)
{
    struct lake_append *a = NULL;
    struct iv_err e = { 0 };
    assert_int_equal(lake_append_begin(t, NULL, &a, &e), IV_OK);
    assert_int_equal(lake_put_i64(a, 0, id), IV_OK);
    assert_int_equal(lake_put_bytes(a, 1, "x", 1), IV_OK);
    assert_int_equal(lake_append_end_row(a), IV_OK);
    if (lake_append_commit(a, "{}", "run", NULL, &e))
        fail_msg("commit: %s", e.msg);
    lake_append_free(a);
}

static int commit_json(struct lake_table *t, const char *req, const char *upd, struct iv_err *e)
{
    json_t *r = json_loads(req, 0, NULL), *u = json_loads(upd, 0, NULL);
    assert_non_null(r);
    assert_non_null(u);
    int rc = lake_table_commit_changes(t, r, u, e);
    json_decref(r);
    json_decref(u);
    return rc;
}

static void test_namespaces_and_tables(void **st)
{
    (void)st;
    struct lake_catalog *c = open_sql();
    struct iv_err e = { 0 };
    json_t *list = NULL;
    assert_int_equal(lake_namespace_list(c, &list, &e), IV_OK);
    assert_int_equal(json_array_size(list), 0);
    json_decref(list);
    assert_int_equal(lake_namespace_create(c, "ns_a", &e), IV_OK);
    assert_int_equal(lake_namespace_create(c, "ns_a", &e), IV_ECONFLICT);
    assert_int_equal(lake_namespace_create(c, "bad/name", &e), IV_EINVAL);
    struct lake_table *t = new_table(c, "ns_b", "t1");   /* a table's namespace counts too */
    lake_table_close(t);
    bool exists = false;
    assert_int_equal(lake_namespace_exists(c, "ns_b", &exists, &e), IV_OK);
    assert_true(exists);
    assert_int_equal(lake_namespace_exists(c, "ns_c", &exists, &e), IV_OK);
    assert_false(exists);
    assert_int_equal(lake_table_list(c, "ns_b", &list, &e), IV_OK);
    assert_int_equal(json_array_size(list), 1);
    assert_string_equal(json_string_value(json_array_get(list, 0)), "t1");
    json_decref(list);
    assert_int_equal(lake_table_drop(c, "ns_b", "t1", &e), IV_OK);
    assert_int_equal(lake_table_drop(c, "ns_b", "t1", &e), IV_ENOTFOUND);
    assert_int_equal(lake_table_load(c, "ns_b", "t1", &t, &e), IV_ENOTFOUND);
    lake_catalog_close(c);
}

static void test_commit_requirements(void **st)
{
    (void)st;
    struct lake_catalog *c = open_sql();
    struct lake_table *t = new_table(c, "ns_r", "t");
    struct iv_err e = { 0 };
    /* first snapshot of main: "snapshot-id": null holds before, fails after */
    assert_int_equal(commit_json(t, "[{\"type\":\"assert-ref-snapshot-id\",\"ref\":\"main\","
                                    "\"snapshot-id\":null}]", "[]", &e), IV_OK);
    append_one(t, 1);
    assert_int_equal(commit_json(t, "[{\"type\":\"assert-ref-snapshot-id\",\"ref\":\"main\","
                                    "\"snapshot-id\":null}]", "[]", &e), IV_ECONFLICT);
    char req[256];
    snprintf(req, sizeof req, "[{\"type\":\"assert-ref-snapshot-id\",\"ref\":\"main\","
             "\"snapshot-id\":%lld}]", (long long)lake_table_current_snapshot_id(t));
    assert_int_equal(commit_json(t, req, "[]", &e), IV_OK);
    assert_int_equal(commit_json(t, "[{\"type\":\"assert-table-uuid\",\"uuid\":\"x\"}]", "[]", &e),
                     IV_ECONFLICT);
    assert_non_null(strstr(e.msg, "assert-table-uuid"));
    assert_int_equal(commit_json(t, "[{\"type\":\"assert-create\"}]", "[]", &e), IV_ECONFLICT);
    assert_int_equal(commit_json(t, "[{\"type\":\"assert-current-schema-id\","
                                    "\"current-schema-id\":5}]", "[]", &e), IV_ECONFLICT);
    assert_int_equal(commit_json(t, "[{\"type\":\"assert-nonsense\"}]", "[]", &e), IV_EINVAL);
    assert_int_equal(commit_json(t, "[]", "[{\"action\":\"remove-snapshots\"}]", &e), IV_EINVAL);
    assert_non_null(strstr(e.msg, "remove-snapshots"));
    lake_table_close(t);
    lake_catalog_close(c);
}

static void test_commit_updates(void **st)
{
    (void)st;
    struct lake_catalog *c = open_sql();
    struct lake_table *t = new_table(c, "ns_u", "t");
    append_one(t, 1);
    struct iv_err e = { 0 };
    /* properties */
    assert_int_equal(commit_json(t, "[]", "[{\"action\":\"set-properties\",\"updates\":"
                                          "{\"owner\":\"data\"}}]", &e), IV_OK);
    struct lake_table *t2 = NULL;
    assert_int_equal(lake_table_load(c, "ns_u", "t", &t2, &e), IV_OK);
    assert_string_equal(json_str(json_object_get(lake_table_metadata(t2), "properties"),
                                 "owner"), "data");
    /* a new schema made current the way a REST client sends it */
    const char *add = "[{\"action\":\"add-schema\",\"last-column-id\":3,\"schema\":{\"type\":"
                      "\"struct\",\"schema-id\":1,\"fields\":[{\"id\":1,\"name\":\"id\","
                      "\"required\":true,\"type\":\"long\"},{\"id\":2,\"name\":\"name\","
                      "\"required\":false,\"type\":\"string\"},{\"id\":3,\"name\":\"extra\","
                      "\"required\":false,\"type\":\"int\"}]}},"
                      "{\"action\":\"set-current-schema\",\"schema-id\":-1}]";
    assert_int_equal(commit_json(t2, "[{\"type\":\"assert-current-schema-id\","
                                     "\"current-schema-id\":0}]", add, &e), IV_OK);
    assert_int_equal(lake_table_schema(t2)->nfields, 3);
    assert_int_equal(lake_md_i64(lake_table_metadata(t2), "last-column-id", 0), 3);
    /* t is stale now: its snapshot commit on the old base conflicts */
    char req[200];
    snprintf(req, sizeof req, "[{\"type\":\"assert-current-schema-id\",\"current-schema-id\":%d}]",
             lake_table_schema(t)->schema_id);
    assert_int_equal(commit_json(t, req, "[]", &e), IV_ECONFLICT);
    /* a snapshot whose manifest list is outside the table is refused */
    const json_t *md = lake_table_metadata(t2);
    char *upd = xasprintf("[{\"action\":\"add-snapshot\",\"snapshot\":{\"snapshot-id\":42,"
                          "\"sequence-number\":%lld,\"timestamp-ms\":1,\"manifest-list\":"
                          "\"file:///etc/passwd\",\"summary\":{\"operation\":\"append\"}}},"
                          "{\"action\":\"set-snapshot-ref\",\"ref-name\":\"main\",\"type\":"
                          "\"branch\",\"snapshot-id\":42}]",
                          (long long)lake_md_i64(md, "last-sequence-number", 0) + 1);
    assert_int_equal(commit_json(t2, "[]", upd, &e), IV_EINVAL);
    assert_non_null(strstr(e.msg, "inside the table"));
    free(upd);
    /* the same snapshot inside the table (an existing list re-used) is applied and moves main */
    int64_t cur = lake_table_current_snapshot_id(t2);
    const char *list = json_str(lake_md_snapshot(md, cur), "manifest-list");
    upd = xasprintf("[{\"action\":\"add-snapshot\",\"snapshot\":{\"snapshot-id\":42,"
                    "\"parent-snapshot-id\":%lld,\"sequence-number\":%lld,\"timestamp-ms\":1,"
                    "\"manifest-list\":\"%s\",\"summary\":{\"operation\":\"append\"}}},"
                    "{\"action\":\"set-snapshot-ref\",\"ref-name\":\"main\",\"type\":\"branch\","
                    "\"snapshot-id\":42}]", (long long)cur,
                    (long long)lake_md_i64(md, "last-sequence-number", 0) + 1, list);
    assert_int_equal(commit_json(t2, "[]", upd, &e), IV_OK);
    free(upd);
    assert_int_equal(lake_table_current_snapshot_id(t2), 42);
    lake_table_close(t2);
    lake_table_close(t);
    lake_catalog_close(c);
}

static void test_url_encode(void **st)
{
    (void)st;
    char *a = lake_url_encode("a b/ü~-._", false);
    assert_string_equal(a, "a%20b%2F%C3%BC~-._");
    free(a);
    a = lake_url_encode("ns/t x", true);
    assert_string_equal(a, "ns/t%20x");
    free(a);
}

int main(void)
{
    if (!mkdtemp(g_dir))
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_namespaces_and_tables),
        cmocka_unit_test(test_commit_requirements),
        cmocka_unit_test(test_commit_updates),
        cmocka_unit_test(test_url_encode),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    nftw(g_dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    return rc;
}
