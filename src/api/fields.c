/*
 * fields.c: every request field of the admin API described once — name, type, required,
 * nullable, maximum length, pattern or validator, when it may be written (on create, on
 * PATCH), whether it is a secret — and the one parser that enforces a description. The same
 * tables generate the OpenAPI schemas (openapi.c) and are checked against the field tables
 * of docs/api.md by the end-to-end suite, so validation, the 422 messages, the machine
 * description and the documentation cannot drift apart.
 */
#include "api/api_int.h"
#include "sched/sched.h"

#include <stdio.h>
#include <string.h>

static bool valid_cron(const char *s)
{
    struct cron_expr cron;
    struct iv_err e = {0};
    /* A schedule that never fires (0 0 31 2 *) would leave the connector silent forever. */
    return strlen(s) <= 128 && cron_parse(s, &cron, &e) == IV_OK && cron_next(&cron, now_s()) >= 0;
}

/* A v1: envelope or a compact JWE (structure only here; the server's key is
 * checked by api_config_encrypted_ok in the handlers). */
static bool valid_config(const char *s)
{
    struct iv_err e = {0};
    if (jwe_looks_compact(s))
        return jwe_check(s, NULL, &e) == IV_OK;
    return envelope_shape_ok(s);
}

static bool valid_drift(const char *s)
{
    return store_schema_drift_valid(s);
}

static const char *const connector_types[] = {"meltano", "airbyte", "fivetran", "custom", NULL};
static const char *const drift_policies[] = {"evolve", "freeze", "discard_row", NULL};

#define CP (AF_CREATE | AF_PATCH)
static const struct api_field connector_fields[] = {
    {"source_system", AF_STRING, AF_CREATE | AF_REQUIRED, 63, "^[a-z][a-z0-9_]{0,62}$",
     api_valid_source_system, NULL, NULL, NULL, "The source system's name, e.g. salesforce."},
    {"tap_name", AF_STRING, AF_CREATE | AF_REQUIRED, 128, "^[a-z0-9][a-z0-9._-]{0,127}$",
     api_valid_tap_name, NULL, NULL, NULL,
     "An executable name looked up on the runner's tap path, never a path."},
    {"destination_catalog", AF_STRING, AF_CREATE | AF_REQUIRED, 128, NULL,
     api_valid_catalog_name, "is not an active catalog of this tenant", NULL, NULL,
     "An active catalog of this tenant (its catalog_name)."},
    {"destination_table", AF_STRING, CP | AF_REQUIRED, 128, "^[a-z_][a-z0-9_]{0,127}$",
     api_valid_destination_table, NULL, NULL, NULL, "The Iceberg table the rows go to."},
    {"sync_schedule", AF_STRING, CP, 128, NULL, valid_cron,
     "is not a valid cron expression that fires (five fields or @hourly, @daily, @weekly, "
     "@monthly, @yearly; a date that never exists, like 0 0 31 2 *, never fires)",
     "0 2 * * *", NULL, "When the connector runs: a 5-field cron expression in UTC."},
    {"config_encrypted", AF_STRING, CP | AF_NULLABLE | AF_SECRET, 1 << 20, NULL, valid_config,
     "is not an encrypted config: a v1: envelope or a compact JWE made with GET "
     "/v1/admin/config-key (see docs/api.md)", NULL, NULL,
     "The tap's config, encrypted on the client side; never returned."},
    {"tap_version", AF_STRING, CP | AF_NULLABLE, 64, "^[A-Za-z0-9._+-]{1,64}$",
     api_valid_tap_version, NULL, NULL, NULL, "A pinned tap version (tap_name@tap_version)."},
    {"connector_type", AF_STRING, AF_CREATE, 16, NULL, NULL, NULL, "meltano", connector_types,
     "The protocol family of the tap."},
    {"meltano_environment", AF_STRING, CP, 64, "^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$",
     api_valid_meltano_env, NULL, "prod", NULL, "The Meltano environment the tap runs in."},
    {"schema_drift", AF_STRING, CP, 16, NULL, valid_drift, NULL, "evolve", drift_policies,
     "What a run does when the tap's schema no longer fits the table."},
};
#undef CP

const struct api_resource api_connector_resource = {
    "Connector", connector_fields, sizeof connector_fields / sizeof connector_fields[0]};

static const struct api_field state_fields[] = {
    {"tap_state", AF_OBJECT, AF_CREATE | AF_REQUIRED, 0, NULL, NULL, NULL, NULL, NULL,
     "The Singer STATE bookmark to store (a JSON object)."},
};
const struct api_resource api_state_resource = {"State", state_fields, 1};

static bool valid_catalog_name(const char *s)
{
    return api_valid_catalog_name(s);
}

static const char *const catalog_types[] = {"rest", "hive", "glue", "sql", "hadoop", NULL};

#define CB (AF_CREATE | AF_NULLABLE | AF_BLANK_NULL)
static const struct api_field catalog_fields[] = {
    {"catalog_name", AF_STRING, CB, 128, "^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$", valid_catalog_name,
     NULL, "ivory-lakehouse", NULL, "The catalog's name, unique within the tenant (the upsert key)."},
    {"catalog_type", AF_STRING, CB | AF_REQUIRED, 16, NULL, NULL, NULL, NULL, catalog_types,
     "rest, glue, sql or hadoop (hive is stored; runs against it fail as not supported)."},
    {"catalog_uri", AF_STRING, CB, 1024, NULL, NULL, NULL, NULL, NULL,
     "Required except for hadoop: sql: local, a SQLite path under the warehouse root or an "
     "allow-listed database; rest: the catalog's base URL; glue: the Glue endpoint."},
    {"warehouse", AF_STRING, CB | AF_REQUIRED, 1024, NULL, api_valid_warehouse,
     "must be a file:/// or s3://bucket/ URI", NULL, NULL,
     "Where the data lives: file:///... (under the operator's warehouse root) or s3://bucket/..."},
    {"storage_prefix", AF_STRING, CB | AF_REQUIRED, 512, NULL, api_valid_storage_prefix,
     "must be a relative path without '.' or '..' segments", NULL, NULL,
     "The tenant's prefix inside the warehouse."},
    {"s3_endpoint", AF_STRING, CB, 1024, NULL, NULL, NULL, NULL, NULL,
     "A custom S3 endpoint (MinIO, R2, Ceph)."},
    {"s3_access_key_id", AF_STRING, CB, 1024, NULL, NULL, NULL, NULL, NULL, "The S3 access key id."},
    {"s3_secret_key_enc", AF_STRING, CB | AF_SECRET, 1024, NULL, NULL, NULL, NULL, NULL,
     "The S3 secret key; stored sealed, never returned (has_s3_secret_key instead)."},
    {"catalog_credential_enc", AF_STRING, CB | AF_SECRET, 1024, NULL, NULL, NULL, NULL, NULL,
     "rest: a bearer token or client_id:client_secret; stored sealed, never returned."},
    {"metadata", AF_OBJECT, AF_CREATE | AF_NULLABLE, 0, NULL, NULL, NULL, NULL, NULL,
     "Free-form object; the platform keys region, s3_path_style and prefix have fixed types."},
    {"active", AF_BOOLEAN, AF_CREATE, 0, NULL, NULL, NULL, NULL, NULL,
     "Whether connectors may write to it (default true)."},
};
#undef CB
const struct api_resource api_catalog_resource = {
    "CatalogBody", catalog_fields, sizeof catalog_fields / sizeof catalog_fields[0]};

static const char *const webhook_statuses[] = {"completed", "failed", "cancelled", NULL};
#define WN (AF_CREATE | AF_NULLABLE)
static const struct api_field webhook_fields[] = {
    {"connector_id", AF_STRING, AF_CREATE | AF_REQUIRED, STORE_ID_MAX - 1, NULL, NULL, NULL, NULL,
     NULL, "The connector whose webhook_secret signed the request."},
    {"run_id", AF_STRING, AF_CREATE | AF_REQUIRED, STORE_ID_MAX - 1, NULL, NULL, NULL, NULL, NULL,
     "The run being reported (the same run_id twice changes nothing)."},
    {"status", AF_STRING, AF_CREATE | AF_REQUIRED, 16, NULL, NULL, NULL, NULL, webhook_statuses,
     "How the run ended."},
    {"rows_synced", AF_INTEGER, WN, 0, NULL, NULL, NULL, NULL, NULL, "Records read (>= 0)."},
    {"rows_loaded", AF_INTEGER, WN, 0, NULL, NULL, NULL, NULL, NULL, "Rows committed (>= 0)."},
    {"transform_errors", AF_INTEGER, WN, 0, NULL, NULL, NULL, NULL, NULL, "Rows refused (>= 0)."},
    {"tap_state", AF_OBJECT, WN, 0, NULL, NULL, NULL, NULL, NULL, "The STATE committed last."},
    {"started_at", AF_STRING, WN, 64, NULL, NULL, NULL, NULL, NULL, "ISO-8601 time."},
    {"completed_at", AF_STRING, WN, 64, NULL, NULL, NULL, NULL, NULL, "ISO-8601 time."},
    {"error_msg", AF_STRING, WN, 64 * 1024, NULL, NULL, NULL, NULL, NULL, "Why it failed."},
    {"iomete_table", AF_STRING, WN, 1024, NULL, NULL, NULL, NULL, NULL, "namespace.table"},
    {"snapshot_id", AF_ID, WN, 64, NULL, NULL, NULL, NULL, NULL,
     "The last snapshot committed (an integer is accepted too)."},
};
#undef WN
const struct api_resource api_webhook_resource = {
    "WebhookBody", webhook_fields, sizeof webhook_fields / sizeof webhook_fields[0]};

/* ---- the parser -------------------------------------------------------------------------- */

static const char *type_name(enum api_field_type t)
{
    switch (t) {
    case AF_STRING: return "a string";
    case AF_OBJECT: return "an object";
    case AF_INTEGER: return "a non-negative integer";
    case AF_BOOLEAN: return "a boolean";
    case AF_ID: return "a string or an integer";
    }
    return "a value";
}

static bool type_ok(enum api_field_type t, const json_t *v)
{
    switch (t) {
    case AF_STRING: return json_is_string(v);
    case AF_OBJECT: return json_is_object(v);
    case AF_INTEGER: return json_is_integer(v) && json_integer_value(v) >= 0;
    case AF_BOOLEAN: return json_is_boolean(v);
    case AF_ID: return json_is_string(v) || json_is_integer(v);
    }
    return false;
}

static bool in_enum(const char *const *values, const char *v)
{
    for (int i = 0; values[i]; i++)
        if (!strcmp(values[i], v))
            return true;
    return false;
}

static void enum_list(const char *const *values, char *out, size_t n)
{
    size_t used = 0;
    out[0] = '\0';
    for (int i = 0; values[i] && used < n; i++)
        used += (size_t)snprintf(out + used, n - used, "%s%s", i ? ", " : "", values[i]);
}

/* One field's value against its description; replies 422 and returns false when it fails. */
static bool check_value(struct api_ctx *c, const struct api_field *f, const json_t *v)
{
    if (json_is_null(v)) {
        if (f->flags & AF_NULLABLE)
            return true;
        api_error(c, 422, "validation_error", f->name, "%s must be %s.", f->name,
                  type_name(f->type));
        return false;
    }
    if (!type_ok(f->type, v)) {
        api_error(c, 422, "validation_error", f->name, "%s must be %s%s.", f->name,
                  type_name(f->type), f->flags & AF_NULLABLE ? " or null" : "");
        return false;
    }
    if (f->type != AF_STRING)
        return true;
    const char *s = json_string_value(v);
    size_t len = json_string_length(v);
    if (len == 0 && (f->flags & AF_REQUIRED)) {
        api_error(c, 422, "validation_error", f->name, "%s is required.", f->name);
        return false;
    }
    if (strlen(s) != len) {
        api_error(c, 422, "validation_error", f->name, "%s must not contain NUL characters.",
                  f->name);
        return false;
    }
    if (f->max_len > 0 && len > (size_t)f->max_len) {
        api_error(c, 422, "validation_error", f->name, "%s is longer than %d bytes.", f->name,
                  f->max_len);
        return false;
    }
    if (f->enum_values && !in_enum(f->enum_values, s)) {
        char list[256];
        enum_list(f->enum_values, list, sizeof list);
        api_error(c, 422, "validation_error", f->name, "%s must be one of %s.", f->name, list);
        return false;
    }
    if (f->check && !f->check(s)) {
        if (f->rule)
            api_error(c, 422, "validation_error", f->name, "%s %s.", f->name, f->rule);
        else
            api_error(c, 422, "validation_error", f->name, "%s must match %s.", f->name,
                      f->pattern ? f->pattern : "its rule");
        return false;
    }
    return true;
}

bool api_fields_parse(struct api_ctx *c, const struct api_resource *r, unsigned mode,
                      struct api_field_values *out)
{
    memset(out, 0, sizeof *out);
    out->r = r;
    const char *key;
    json_t *v;
    json_object_foreach(c->json, key, v) {
        const struct api_field *f = api_field_find(r, key);
        if (!f) {
            api_error(c, 422, "validation_error", key, "Unknown field '%s'.", key);
            return false;
        }
        if (!(f->flags & mode)) {
            api_error(c, 422, "validation_error", key, "%s cannot be changed%s.", key,
                      mode == AF_PATCH ? " after registration" : " here");
            return false;
        }
    }
    for (size_t i = 0; i < r->n; i++) {
        const struct api_field *f = &r->fields[i];
        if (!(f->flags & mode))
            continue;
        v = json_object_get(c->json, f->name);
        if (v && (f->flags & AF_BLANK_NULL) && json_is_string(v) && json_string_length(v) == 0)
            v = NULL;
        if (!v) {
            if ((f->flags & AF_REQUIRED) && mode != AF_PATCH) {
                api_error(c, 422, "validation_error", f->name, "%s is required.", f->name);
                return false;
            }
            continue;
        }
        if (!check_value(c, f, v))
            return false;
        out->v[i] = v;
    }
    return true;
}

const struct api_field *api_field_find(const struct api_resource *r, const char *name)
{
    for (size_t i = 0; i < r->n; i++)
        if (!strcmp(r->fields[i].name, name))
            return &r->fields[i];
    return NULL;
}

static const json_t *value_of(const struct api_field_values *v, const char *name)
{
    for (size_t i = 0; i < v->r->n; i++)
        if (!strcmp(v->r->fields[i].name, name))
            return v->v[i];
    return NULL;
}

bool api_fields_has(const struct api_field_values *v, const char *name)
{
    return value_of(v, name) != NULL;
}

const char *api_fields_str(const struct api_field_values *v, const char *name)
{
    const json_t *j = value_of(v, name);
    return j && json_is_string(j) ? json_string_value(j) : NULL;
}

const char *api_fields_str_or_default(const struct api_field_values *v, const char *name)
{
    const char *s = api_fields_str(v, name);
    if (s)
        return s;
    const struct api_field *f = api_field_find(v->r, name);
    return f ? f->def : NULL;
}

const json_t *api_fields_json(const struct api_field_values *v, const char *name)
{
    return value_of(v, name);
}

/* ---- the OpenAPI schema of a resource -------------------------------------------------------- */

json_t *api_fields_schema(const struct api_resource *r, unsigned mode)
{
    json_t *props = json_object(), *required = json_array();
    for (size_t i = 0; i < r->n; i++) {
        const struct api_field *f = &r->fields[i];
        if (!(f->flags & mode))
            continue;
        const char *t = f->type == AF_STRING    ? "string"
                        : f->type == AF_OBJECT  ? "object"
                        : f->type == AF_INTEGER ? "integer"
                        : f->type == AF_ID      ? "string"
                                                : "boolean";
        json_t *p = json_object();
        json_t *types = json_pack("[s]", t);
        if (f->type == AF_ID)
            json_array_append_new(types, json_string("integer"));
        if (f->flags & AF_NULLABLE)
            json_array_append_new(types, json_string("null"));
        if (json_array_size(types) == 1)
            json_object_set_new(p, "type", json_string(t));
        else
            json_object_set_new(p, "type", json_incref(types));
        json_decref(types);
        if (f->type == AF_INTEGER)
            json_object_set_new(p, "minimum", json_integer(0));
        if (f->type == AF_STRING && f->max_len > 0)
            json_object_set_new(p, "maxLength", json_integer(f->max_len));
        if (f->type == AF_STRING && (f->flags & AF_REQUIRED))
            json_object_set_new(p, "minLength", json_integer(1));
        if (f->pattern)
            json_object_set_new(p, "pattern", json_string(f->pattern));
        if (f->enum_values) {
            json_t *en = json_array();
            for (int k = 0; f->enum_values[k]; k++)
                json_array_append_new(en, json_string(f->enum_values[k]));
            json_object_set_new(p, "enum", en);
        }
        if (f->def)
            json_object_set_new(p, "default", json_string(f->def));
        if (f->flags & AF_SECRET)
            json_object_set_new(p, "writeOnly", json_true());
        if (f->doc)
            json_object_set_new(p, "description", json_string(f->doc));
        json_object_set_new(props, f->name, p);
        if ((f->flags & AF_REQUIRED) && mode != AF_PATCH)
            json_array_append_new(required, json_string(f->name));
    }
    json_t *s = json_pack("{s:s, s:o, s:b}", "type", "object", "properties", props,
                          "additionalProperties", 0);
    if (json_array_size(required))
        json_object_set_new(s, "required", required);
    else
        json_decref(required);
    if (mode == AF_PATCH)
        json_object_set_new(s, "minProperties", json_integer(1));
    return s;
}
