/*
 * test_api_server: the libmicrohttpd glue over a real socket (server.c), for
 * what the handler tests cannot see: oversized request headers get a JSON 431;
 * a body on a body-less route is 400 (wrong Content-Type), 422 (a JSON object
 * with fields) or accepted (empty, blank or {}); the list's ETag and
 * Cache-Control headers and a 304 without a body on If-None-Match; and the
 * cache serving a write made between two GETs.
 */
#include "unit.h"
#include "api/api.h"
#include "crypto/crypto.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static char dir[64];
static struct iv_config cfg;
static struct store *store;
static struct api_server *srv;
static char *token;

struct resp {
    int status;
    char head[4096];
    char *body;       /* malloc'd, NUL-terminated */
};

/* One request on a fresh connection (Connection: close); reads to EOF. */
static void http(const char *method, const char *path, const char *extra_headers,
                 const char *body, struct resp *r)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)api_server_port(srv))};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    size_t blen = body ? strlen(body) : 0;
    char *req = xasprintf("%s %s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
                          "Authorization: Bearer %s\r\n%sContent-Length: %zu\r\n\r\n%s",
                          method, path, token, extra_headers ? extra_headers : "", blen,
                          body ? body : "");
    size_t off = 0, n = strlen(req);
    while (off < n) {
        ssize_t w = write(fd, req + off, n - off);
        if (w <= 0)
            break;    /* the server may answer and close before reading it all */
        off += (size_t)w;
    }
    free(req);
    struct buf in;
    buf_init(&in, 16 << 20);
    char tmp[8192];
    ssize_t got;
    while ((got = read(fd, tmp, sizeof tmp)) > 0)
        assert_int_equal(buf_append(&in, tmp, (size_t)got), IV_OK);
    close(fd);
    memset(r, 0, sizeof *r);
    assert_non_null(in.data);
    assert_int_equal(sscanf(in.data, "HTTP/1.1 %d", &r->status), 1);
    char *sep = strstr(in.data, "\r\n\r\n");
    assert_non_null(sep);
    size_t hl = (size_t)(sep - in.data);
    snprintf(r->head, sizeof r->head, "%.*s", (int)(hl < sizeof r->head ? hl : sizeof r->head - 1),
             in.data);
    r->body = xstrdup(sep + 4);
    buf_release(&in);
}

/* Value of header name in r (case-insensitive), copied into out; false when absent. */
static bool header(const struct resp *r, const char *name, char *out, size_t outlen)
{
    size_t nl = strlen(name);
    for (const char *p = strstr(r->head, "\r\n"); p; p = strstr(p + 2, "\r\n")) {
        if (!strncasecmp(p + 2, name, nl) && p[2 + nl] == ':') {
            const char *v = p + 3 + nl;
            while (*v == ' ')
                v++;
            const char *end = strstr(v, "\r\n");
            size_t vl = end ? (size_t)(end - v) : strlen(v);
            snprintf(out, outlen, "%.*s", (int)vl, v);
            return true;
        }
    }
    return false;
}

static json_t *body_json(const struct resp *r)
{
    json_error_t err;
    json_t *j = json_loads(r->body, 0, &err);
    if (!j)
        fprintf(stderr, "status %d body is not JSON: %.200s\n", r->status, r->body);
    assert_non_null(j);
    return j;
}

static void expect_error(const struct resp *r, int status, const char *code)
{
    if (r->status != status)
        fprintf(stderr, "want %d, got %d: %.300s\n", status, r->status, r->body);
    assert_int_equal(r->status, status);
    json_t *j = body_json(r);
    assert_string_equal(json_str(j, "error"), code);
    assert_non_null(json_str(j, "detail"));
    json_decref(j);
}

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/ivory-test-apisrv-%d", (int)getpid());
    mkdir_p(dir, 0700);
    char url[128];
    snprintf(url, sizeof url, "sqlite:%s/s.db", dir);
    struct iv_err e = {0};
    if (store_open(&store, url, 4, true, &e) != IV_OK)
        return -1;
    memset(&cfg, 0, sizeof cfg);
    cfg.listen = "127.0.0.1:0";
    cfg.jwt_secret = "test-secret-test-secret-test-secret";
    cfg.data_dir = dir;
    cfg.http_threads = 2;
    cfg.max_body_bytes = 1 << 20;
    cfg.tenant_max_connectors = 1000;   /* the defaults of IVORY_TENANT_MAX_* */
    cfg.tenant_max_catalogs = 50;
    cfg.warehouse_root = "/tmp";   /* the catalogs below live in /tmp */
    cfg.first_run_delay_s = 300;
    if (api_server_start(&srv, &cfg, store, &e) != IV_OK) {
        fprintf(stderr, "api_server_start: %s\n", e.msg);
        return -1;
    }
    if (store_tenant_create(store, "t1", "tenant-one", NULL, &e) != IV_OK)
        return -1;
    struct store_catalog in = {.catalog_name = "ivory-lakehouse", .catalog_type = "hadoop",
                               .warehouse = "file:///tmp/w", .storage_prefix = "a",
                               .active = true};
    if (store_catalog_upsert(store, "t1", &in, NULL, NULL, &e) != IV_OK)
        return -1;
    token = jwt_sign_hs256(cfg.jwt_secret, "t1", 600, NULL);
    return token ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    api_server_stop(srv);
    store_close(store);
    free(token);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static const char reg_body[] =
    "{\"source_system\":\"salesforce\",\"tap_name\":\"tap-salesforce\","
    "\"destination_catalog\":\"ivory-lakehouse\",\"destination_table\":\"opps\"}";
static const char json_ct[] = "Content-Type: application/json\r\n";

static char *register_one(void)
{
    struct resp r;
    http("POST", "/v1/admin/connectors", json_ct, reg_body, &r);
    assert_int_equal(r.status, 201);
    json_t *j = body_json(&r);
    char *id = xstrdup(json_str(j, "id"));
    json_decref(j);
    free(r.body);
    return id;
}

static void test_header_limit(void **state)
{
    (void)state;
    struct resp r;
    /* 40 KiB of headers: over our 32 KiB budget, inside MHD's pool -> our JSON 431 */
    char *big = xmalloc(41 * 1024);
    int n = snprintf(big, 64, "X-Filler: ");
    memset(big + n, 'a', 40 * 1024);
    memcpy(big + n + 40 * 1024, "\r\n", 3);
    http("GET", "/v1/admin/connectors", big, NULL, &r);
    expect_error(&r, 431, "request_header_fields_too_large");
    char ct[64];
    assert_true(header(&r, "Content-Type", ct, sizeof ct));
    assert_string_equal(ct, "application/json");
    free(r.body);
    free(big);
    /* a normal request still works on the same server */
    http("GET", "/v1/admin/connectors", NULL, NULL, &r);
    assert_int_equal(r.status, 200);
    free(r.body);
}

static void test_body_on_bodyless_route(void **state)
{
    (void)state;
    char *id = register_one();
    char path[128];
    snprintf(path, sizeof path, "/v1/admin/connectors/%s/trigger", id);
    struct resp r;
    http("POST", path, "Content-Type: text/plain\r\n", "hello", &r);
    expect_error(&r, 400, "invalid_content_type");
    free(r.body);
    http("POST", path, NULL, "{\"x\":1}", &r);           /* no Content-Type at all */
    expect_error(&r, 400, "invalid_content_type");
    free(r.body);
    http("POST", path, json_ct, "{\"force\":true}", &r);
    expect_error(&r, 422, "validation_error");
    json_t *j = body_json(&r);
    assert_string_equal(json_str(j, "field"), "force");
    json_decref(j);
    free(r.body);
    http("POST", path, json_ct, "[1", &r);
    expect_error(&r, 400, "invalid_json");
    free(r.body);
    /* nothing was written by the rejected requests: still not followed up, and the
     * accepted forms (no body, blank, {}) trigger normally */
    http("POST", path, NULL, NULL, &r);
    assert_int_equal(r.status, 202);
    free(r.body);
    http("POST", path, "Content-Type: text/plain\r\n", " \r\n", &r);
    assert_int_equal(r.status, 202);
    free(r.body);
    http("POST", path, json_ct, "{}", &r);
    assert_int_equal(r.status, 202);
    free(r.body);
    /* same rule on DELETE */
    snprintf(path, sizeof path, "/v1/admin/connectors/%s", id);
    http("DELETE", path, "Content-Type: text/plain\r\n", "x", &r);
    expect_error(&r, 400, "invalid_content_type");
    free(r.body);
    http("GET", path, NULL, NULL, &r);
    assert_int_equal(r.status, 200);           /* the refused DELETE deleted nothing */
    free(r.body);
    free(id);
}

static void test_list_etag(void **state)
{
    (void)state;
    struct resp r;
    http("GET", "/v1/admin/connectors", NULL, NULL, &r);
    assert_int_equal(r.status, 200);
    char etag[64], cc[64], etag2[64];
    assert_true(header(&r, "ETag", etag, sizeof etag));
    assert_true(header(&r, "Cache-Control", cc, sizeof cc));
    assert_string_equal(cc, "private, no-cache");
    json_t *j = body_json(&r);
    json_int_t count = json_integer_value(json_object_get(j, "count"));
    json_decref(j);
    free(r.body);

    char inm[128];
    snprintf(inm, sizeof inm, "If-None-Match: %s\r\n", etag);
    http("GET", "/v1/admin/connectors", inm, NULL, &r);
    assert_int_equal(r.status, 304);
    assert_string_equal(r.body, "");
    assert_true(header(&r, "ETag", etag2, sizeof etag2));
    assert_string_equal(etag2, etag);
    free(r.body);

    /* a write between two GETs: the tag no longer matches and the body has it */
    char *id = register_one();
    http("GET", "/v1/admin/connectors", inm, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_true(header(&r, "ETag", etag2, sizeof etag2));
    assert_string_not_equal(etag2, etag);
    j = body_json(&r);
    assert_int_equal(json_integer_value(json_object_get(j, "count")), count + 1);
    assert_non_null(strstr(r.body, id));
    json_decref(j);
    free(r.body);
    /* other responses stay uncacheable */
    http("GET", "/healthz", NULL, NULL, &r);
    assert_true(header(&r, "Cache-Control", cc, sizeof cc));
    assert_string_equal(cc, "no-store");
    assert_false(header(&r, "ETag", etag2, sizeof etag2));
    free(r.body);
    free(id);
}

int main(void)
{
    iv_log_level = LOG_ERROR;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_header_limit),
        cmocka_unit_test(test_body_on_bodyless_route),
        cmocka_unit_test(test_list_etag),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
