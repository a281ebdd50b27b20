/*
 * router.c: the route table and the matcher. Routes are data: one row per
 * (method, pattern) with its handler, auth kind and body flags. Patterns are
 * split on '/', `{name}` segments capture one non-empty segment. 404 vs 405
 * is decided here: a path that some pattern matches under another method is
 * 405 with the Allow list of those methods.
 *
 * Paths arrive raw (the server installs a no-op unescape callback in
 * libmicrohttpd): matching works on the encoded text, so "%2F" inside a
 * segment never becomes a separator, and each captured `{name}` value is
 * percent-decoded only after its segment matched. api_path_check() refuses,
 * before routing, a path whose escapes are malformed or decode to NUL.
 */
#include "api/api_int.h"

#include <stdio.h>
#include <string.h>

const struct api_route api_routes[] = {
    {"GET", "/healthz", api_h_healthz, API_AUTH_NONE, 0},
    {"GET", "/readyz", api_h_readyz, API_AUTH_NONE, 0},
    {"POST", "/v1/admin/connectors", api_h_connector_create, API_AUTH_JWT, API_F_JSON_BODY},
    {"GET", "/v1/admin/connectors", api_h_connector_list, API_AUTH_JWT, 0},
    {"GET", "/v1/admin/connectors/{id}", api_h_connector_get, API_AUTH_JWT, 0},
    {"DELETE", "/v1/admin/connectors/{id}", api_h_connector_delete, API_AUTH_JWT, 0},
    {"POST", "/v1/admin/connectors/{id}/trigger", api_h_connector_trigger, API_AUTH_JWT, 0},
    {"POST", "/v1/admin/connectors/{id}/pause", api_h_connector_pause, API_AUTH_JWT, 0},
    {"POST", "/v1/admin/connectors/{id}/resume", api_h_connector_resume, API_AUTH_JWT, 0},
    {"GET", "/v1/admin/connectors/{id}/runs", api_h_connector_runs, API_AUTH_JWT, 0},
    {"PATCH", "/v1/admin/connectors/{id}", api_h_connector_patch, API_AUTH_JWT, API_F_JSON_BODY},
    {"GET", "/v1/admin/connectors/{id}/runs/{run_id}", api_h_run_get, API_AUTH_JWT, 0},
    {"POST", "/v1/admin/connectors/{id}/runs/{run_id}/cancel", api_h_run_cancel, API_AUTH_JWT, 0},
    {"GET", "/v1/admin/connectors/{id}/state", api_h_state_get, API_AUTH_JWT, 0},
    {"PUT", "/v1/admin/connectors/{id}/state", api_h_state_put, API_AUTH_JWT, API_F_JSON_BODY},
    {"POST", "/v1/admin/connectors/{id}/resync", api_h_connector_resync, API_AUTH_JWT, 0},
    {"POST", "/v1/admin/connectors/{id}/rotate-webhook-secret", api_h_rotate_webhook_secret,
     API_AUTH_JWT, 0},
    {"GET", "/metrics", api_h_metrics, API_AUTH_NONE, 0},
    {"GET", "/v1/openapi.json", api_h_openapi, API_AUTH_NONE, 0},
    {"GET", "/v1/admin/connectors/{id}/mappings", api_h_mappings_get, API_AUTH_JWT, 0},
    {"PUT", "/v1/admin/connectors/{id}/mappings", api_h_mappings_put, API_AUTH_JWT,
     API_F_JSON_BODY},
    {"POST", "/v1/admin/connectors/{id}/map-fields", api_h_map_fields, API_AUTH_JWT,
     API_F_JSON_BODY},
    {"POST", "/v1/admin/connectors/{id}/discover", api_h_connector_discover, API_AUTH_JWT, 0},
    {"GET", "/v1/admin/connectors/{id}/catalog", api_h_connector_catalog_get, API_AUTH_JWT, 0},
    {"PATCH", "/v1/admin/connectors/{id}/catalog", api_h_connector_catalog_patch, API_AUTH_JWT,
     API_F_JSON_BODY},
    {"POST", "/v1/admin/tenants/{tenant_id}/catalog", api_h_catalog_upsert, API_AUTH_JWT,
     API_F_JSON_BODY},
    {"GET", "/v1/admin/tenants/{tenant_id}/catalog", api_h_catalog_list, API_AUTH_JWT, 0},
    {"DELETE", "/v1/admin/tenants/{tenant_id}/catalog/{catalog_name}", api_h_catalog_delete,
     API_AUTH_JWT, 0},
    {"POST", "/v1/etl/meltano/webhook", api_h_webhook, API_AUTH_WEBHOOK, API_F_JSON_BODY},
    {"GET", "/v1/admin/config-key", api_h_config_key, API_AUTH_JWT, 0},
    {"GET", "/iceberg/v1/config", api_h_iceberg_config, API_AUTH_JWT, 0},
    {"GET", "/iceberg/v1/namespaces", api_h_iceberg_ns_list, API_AUTH_JWT, 0},
    {"POST", "/iceberg/v1/namespaces", api_h_iceberg_ns_create, API_AUTH_JWT, API_F_JSON_BODY},
    {"GET", "/iceberg/v1/namespaces/{namespace}", api_h_iceberg_ns_get, API_AUTH_JWT, 0},
    {"HEAD", "/iceberg/v1/namespaces/{namespace}", api_h_iceberg_ns_head, API_AUTH_JWT, 0},
    {"GET", "/iceberg/v1/namespaces/{namespace}/tables", api_h_iceberg_table_list,
     API_AUTH_JWT, 0},
    {"POST", "/iceberg/v1/namespaces/{namespace}/tables", api_h_iceberg_table_create,
     API_AUTH_JWT, API_F_JSON_BODY},
    {"GET", "/iceberg/v1/namespaces/{namespace}/tables/{table}", api_h_iceberg_table_load,
     API_AUTH_JWT, 0},
    {"HEAD", "/iceberg/v1/namespaces/{namespace}/tables/{table}", api_h_iceberg_table_head,
     API_AUTH_JWT, 0},
    {"POST", "/iceberg/v1/namespaces/{namespace}/tables/{table}", api_h_iceberg_table_commit,
     API_AUTH_JWT, API_F_JSON_BODY},
    {"DELETE", "/iceberg/v1/namespaces/{namespace}/tables/{table}", api_h_iceberg_table_drop,
     API_AUTH_JWT, 0},
    {"GET", "/console", api_h_console_index, API_AUTH_NONE, 0},
    {"GET", "/console/{asset}", api_h_console_asset, API_AUTH_NONE, 0},
};
const size_t api_routes_count = sizeof api_routes / sizeof api_routes[0];

const char *api_param(const struct api_params *p, const char *name)
{
    for (int i = 0; i < p->n; i++)
        if (!strcmp(p->name[i], name))
            return p->value[i];
    return NULL;
}

static int hex_value(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

bool api_path_check(const char *path, const char **why)
{
    for (const char *p = path; *p; p++) {
        if ((unsigned char)*p < 0x20 || *p == 0x7f) {
            *why = "The request path must not contain control characters.";
            return false;
        }
        if (*p != '%')
            continue;
        int hi = hex_value(p[1]);
        int lo = hi < 0 ? -1 : hex_value(p[2]);
        if (hi < 0 || lo < 0) {
            *why = "The request path contains a malformed percent-escape.";
            return false;
        }
        if (hi == 0 && lo == 0) {
            *why = "The request path must not contain NUL (%00).";
            return false;
        }
        p += 2;
    }
    return true;
}

/* Percent-decodes n raw bytes into out (cap bytes, NUL-terminated). The
 * escapes were checked by api_path_check. False when the result does not fit. */
static bool decode_segment(const char *s, size_t n, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (ch == '%' && i + 2 < n && hex_value(s[i + 1]) >= 0 && hex_value(s[i + 2]) >= 0) {
            ch = (char)(hex_value(s[i + 1]) << 4 | hex_value(s[i + 2]));
            i += 2;
        }
        if (o + 1 >= cap)
            return false;
        out[o++] = ch;
    }
    out[o] = '\0';
    return true;
}

/* Matches one pattern against the raw path; fills p (decoded values) on success. */
static bool match_pattern(const char *pattern, const char *path, struct api_params *p)
{
    p->n = 0;
    const char *a = pattern, *b = path;
    if (*a != '/' || *b != '/')
        return false;
    while (*a && *b) {
        if (*a != '/' || *b != '/')
            return false;
        a++;
        b++;
        const char *ae = strchr(a, '/');
        const char *be = strchr(b, '/');
        size_t alen = ae ? (size_t)(ae - a) : strlen(a);
        size_t blen = be ? (size_t)(be - b) : strlen(b);
        if (alen >= 2 && a[0] == '{' && a[alen - 1] == '}') {
            if (blen == 0 || blen >= API_PARAM_MAX || p->n >= API_MAX_PARAMS)
                return false;
            size_t nlen = alen - 2 < sizeof p->name[0] - 1 ? alen - 2 : sizeof p->name[0] - 1;
            memcpy(p->name[p->n], a + 1, nlen);
            p->name[p->n][nlen] = '\0';
            if (!decode_segment(b, blen, p->value[p->n], sizeof p->value[p->n]))
                return false;
            p->n++;
        } else if (alen != blen || memcmp(a, b, alen) != 0) {
            return false;
        }
        a += alen;
        b += blen;
    }
    return *a == '\0' && *b == '\0';
}

const struct api_route *api_route_match(const struct api_route *routes, size_t n,
                                        const char *method, const char *path,
                                        struct api_params *p, char *allow, size_t allow_len,
                                        int *status)
{
    struct api_params tmp;
    bool path_known = false;
    if (allow && allow_len)
        allow[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        if (!match_pattern(routes[i].pattern, path, &tmp))
            continue;
        if (!strcmp(routes[i].method, method)) {
            *p = tmp;
            *status = 200;
            return &routes[i];
        }
        path_known = true;
        if (allow && allow_len && !strstr(allow, routes[i].method)) {
            size_t used = strlen(allow);
            snprintf(allow + used, allow_len - used, "%s%s", used ? ", " : "", routes[i].method);
        }
    }
    *status = path_known ? 405 : 404;
    return NULL;
}
