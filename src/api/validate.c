/*
 * validate.c: request-field validation as pure functions (docs/api.md),
 * plus the shared reply helpers every handler uses (errors, JSON views of
 * times and stored JSON text). No I/O here, so all of it is unit-tested.
 */
#include "api/api_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define LOWER "abcdefghijklmnopqrstuvwxyz"
#define UPPER "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
#define DIGIT "0123456789"

bool api_valid_source_system(const char *s)
{
    return str_matches_charset(s, LOWER, LOWER DIGIT "_", 1, 63);
}

bool api_valid_tap_name(const char *s)
{
    return str_matches_charset(s, LOWER DIGIT, LOWER DIGIT "._-", 1, 128);
}

bool api_valid_destination_table(const char *s)
{
    return str_matches_charset(s, LOWER "_", LOWER DIGIT "_", 1, 128);
}

bool api_valid_tap_version(const char *s)
{
    return str_matches_charset(s, NULL, UPPER LOWER DIGIT "._+-", 1, 64);
}

bool api_valid_slug(const char *s)
{
    return str_matches_charset(s, NULL, LOWER DIGIT "-", 3, 48);
}

bool api_valid_catalog_name(const char *s)
{
    return str_matches_charset(s, UPPER LOWER DIGIT, UPPER LOWER DIGIT "._-", 1, 128);
}

bool api_valid_meltano_env(const char *s)
{
    return str_matches_charset(s, UPPER LOWER DIGIT, UPPER LOWER DIGIT "_-", 1, 64);
}

static bool one_of(const char *s, const char *const *set)
{
    for (; s && *set; set++)
        if (!strcmp(s, *set))
            return true;
    return false;
}

bool api_valid_connector_type(const char *s)
{
    static const char *const set[] = {"meltano", "airbyte", "fivetran", "custom", NULL};
    return one_of(s, set);
}

bool api_valid_catalog_type(const char *s)
{
    static const char *const set[] = {"rest", "hive", "glue", "sql", "hadoop", NULL};
    return one_of(s, set);
}

static bool has_ctl(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return true;
    return false;
}

bool api_valid_warehouse(const char *s)
{
    if (!s || strlen(s) > 1024 || has_ctl(s))
        return false;
    if (!strncmp(s, "file:///", 8))
        return true;      /* file:/// alone would be the filesystem root; still a path */
    if (!strncmp(s, "s3://", 5)) {
        const char *b = s + 5;
        size_t n = strcspn(b, "/");
        return n >= 3 && n <= 63 && strspn(b, LOWER DIGIT ".-") >= n;
    }
    return false;
}

bool api_valid_storage_prefix(const char *s)
{
    if (!s || !*s || strlen(s) > 512 || s[0] == '/')
        return false;
    if (!str_matches_charset(s, NULL, UPPER LOWER DIGIT "._/-=", 1, 512))
        return false;
    /* no '.' or '..' segment: the prefix must stay inside the warehouse */
    const char *p = s;
    while (*p) {
        size_t n = strcspn(p, "/");
        if ((n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.') || n == 0)
            return false;
        p += n;
        if (*p == '/')
            p++;
    }
    return true;
}

bool api_parse_limit(const char *s, int *out)
{
    if (!s || !*s || strlen(s) > 3 || strspn(s, DIGIT) != strlen(s))
        return false;
    int v = 0;
    for (const char *p = s; *p; p++)
        v = v * 10 + (*p - '0');
    if (v < 1 || v > 200)
        return false;
    *out = v;
    return true;
}

const char *api_unknown_field(const json_t *obj, const char *const *allowed)
{
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)obj, key, val) {
        (void)val;
        if (!one_of(key, allowed))
            return key;
    }
    return NULL;
}

/* ---- replies ---------------------------------------------------------------------- */

void api_ctx_release_reply(struct api_ctx *c)
{
    json_decref(c->reply);
    c->reply = NULL;
    api_blob_unref(c->raw_reply);
    c->raw_reply = NULL;
}

void api_reply(struct api_ctx *c, int status, json_t *body)
{
    api_ctx_release_reply(c);
    c->status = status;
    c->reply = body;
}

void api_reply_raw(struct api_ctx *c, int status, struct api_blob *b)
{
    api_ctx_release_reply(c);
    c->status = status;
    c->raw_reply = b;
}

json_t *api_iceberg_error(int status, const char *code, const char *message)
{
    const char *type = code && strstr(code, "Exception") ? code
                     : status == 400 ? "BadRequestException"
                     : status == 401 ? "NotAuthorizedException"
                     : status == 403 ? "ForbiddenException"
                     : status == 404 ? "NoSuchNamespaceException"
                     : status == 405 ? "MethodNotAllowedException"
                     : status == 406 ? "UnsupportedOperationException"
                     : status == 409 ? "CommitFailedException"
                     : status == 503 ? "ServiceUnavailableException"
                     : status >= 500 ? "InternalServerError" : "BadRequestException";
    return json_pack("{s:{s:s, s:s, s:i}}", "error", "message", message, "type", type, "code",
                     status);
}

void api_error(struct api_ctx *c, int status, const char *code, const char *field,
               const char *fmt, ...)
{
    char detail[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    if (c->path && strncmp(c->path, "/iceberg/", 9) == 0) {
        api_reply(c, status, api_iceberg_error(status, code, detail));
        return;
    }
    json_t *j = json_pack("{s:s, s:s}", "error", code, "detail", detail);
    if (field)
        json_object_set_new(j, "field", json_string(field));
    api_reply(c, status, j);
}

void api_internal(struct api_ctx *c, const char *what, const struct iv_err *e)
{
    log_error("%s %s: %s failed: %s", c->method, c->path, what, e ? e->msg : "(no detail)");
    /* IV_EAGAIN: the store is unreachable (a database restart, a dropped connection) or busy
     * beyond its wait: 503 + Retry-After, so clients and load balancers retry. */
    if (e && e->code == IV_EAGAIN)
        api_error(c, 503, "store_unavailable", NULL,
                  "The control-plane store is unreachable or busy right now; retry shortly.");
    else
        api_error(c, 500, "internal_error", NULL, "The server could not complete the request.");
}

const char *api_query(struct api_ctx *c, const char *key)
{
    return c->query ? c->query(c->qctx, key) : NULL;
}

json_t *api_time_or_null(int64_t ms)
{
    if (ms == STORE_NULL_TIME)
        return json_null();
    char buf[32];
    iso8601_format(ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000), buf);
    return json_string(buf);
}

json_t *api_str_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

json_t *api_json_text_or_null(const char *text)
{
    if (!text)
        return json_null();
    json_t *j = json_loads(text, JSON_DECODE_ANY, NULL);
    return j ? j : json_null();
}

bool api_parse_json_body(struct api_ctx *c, json_t **out)
{
    json_error_t jerr;
    *out = json_loadb(c->body, c->body_len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &jerr);
    if (!*out) {
        api_error(c, 400, "invalid_json", NULL, "The body is not valid JSON: %s (line %d).",
                  jerr.text, jerr.line);
        return false;
    }
    if (!json_is_object(*out)) {
        api_error(c, 400, "invalid_json", NULL, "The body must be a JSON object.");
        return false;
    }
    /* Strings are NUL-terminated from here on: a value with an embedded NUL
     * would be validated as its prefix, so it is rejected outright. */
    const char *key;
    json_t *val;
    json_object_foreach(*out, key, val) {
        if (json_is_string(val) && strlen(json_string_value(val)) != json_string_length(val)) {
            api_error(c, 422, "validation_error", key, "%s must not contain NUL characters.", key);
            return false;
        }
    }
    c->json = *out;
    return true;
}
