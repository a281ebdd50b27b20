/*
 * openapi.c: GET /v1/openapi.json, the machine-readable description of every route (OpenAPI
 * 3.1), generated at run time from the route table (router.c), the request field tables
 * (fields.c) and the response schemas below. A route without a description here is reported
 * by the unit test (test_api_openapi) and by the document itself (x-undocumented), and the
 * end-to-end suite validates every response it receives against this document (ajv), so the
 * document cannot drift from what the server does.
 */
#include "api/api_int.h"

#include <stdio.h>
#include <string.h>

/* Response and request schemas that are not field tables (JSON Schema 2020-12 text).
 * Objects allow extra properties: clients must ignore fields they do not know. */
static const char components_json[] =
    "{"
    "\"Error\":{\"type\":\"object\",\"required\":[\"error\",\"detail\"],\"properties\":{"
    "\"error\":{\"type\":\"string\",\"minLength\":1},\"detail\":{\"type\":\"string\",\"minLength\":1},"
    "\"field\":{\"type\":\"string\"}}},"
    "\"Time\":{\"type\":[\"string\",\"null\"],\"pattern\":\"^\\\\d{4}-\\\\d{2}-\\\\d{2}T\\\\d{2}:\\\\d{2}:\\\\d{2}(\\\\.\\\\d+)?Z$\"},"
    "\"ConnectorSummary\":{\"type\":\"object\",\"required\":[\"id\",\"source_system\",\"tap_name\","
    "\"connector_type\",\"destination_catalog\",\"iomete_namespace\",\"iomete_table\",\"sync_schedule\","
    "\"status\",\"consecutive_failures\",\"rows_total\",\"last_synced_at\",\"next_run_at\","
    "\"last_run_status\",\"last_run_rows\",\"last_run_rows_loaded\",\"last_run_at\",\"last_error\"],"
    "\"properties\":{\"id\":{\"type\":\"string\"},\"source_system\":{\"type\":\"string\"},"
    "\"tap_name\":{\"type\":\"string\"},\"connector_type\":{\"type\":\"string\"},"
    "\"destination_catalog\":{\"type\":\"string\"},\"iomete_namespace\":{\"type\":\"string\"},"
    "\"iomete_table\":{\"type\":\"string\"},\"sync_schedule\":{\"type\":\"string\"},"
    "\"status\":{\"enum\":[\"active\",\"paused\",\"error\"]},"
    "\"consecutive_failures\":{\"type\":\"integer\",\"minimum\":0},"
    "\"rows_total\":{\"type\":\"integer\",\"minimum\":0},"
    "\"last_synced_at\":{\"$ref\":\"#/components/schemas/Time\"},"
    "\"next_run_at\":{\"$ref\":\"#/components/schemas/Time\"},"
    "\"last_run_status\":{\"enum\":[\"running\",\"completed\",\"failed\",\"cancelled\",null]},"
    "\"last_run_rows\":{\"type\":[\"integer\",\"null\"]},"
    "\"last_run_rows_loaded\":{\"type\":[\"integer\",\"null\"]},"
    "\"last_run_at\":{\"$ref\":\"#/components/schemas/Time\"},"
    "\"last_error\":{\"type\":[\"string\",\"null\"]}}},"
    "\"ConnectorList\":{\"type\":\"object\",\"required\":[\"connectors\",\"count\"],\"properties\":{"
    "\"connectors\":{\"type\":\"array\",\"items\":{\"$ref\":\"#/components/schemas/ConnectorSummary\"}},"
    "\"count\":{\"type\":\"integer\",\"minimum\":0},\"next_cursor\":{\"type\":[\"string\",\"null\"]}}},"
    "\"ConnectorDetail\":{\"allOf\":[{\"$ref\":\"#/components/schemas/ConnectorSummary\"},"
    "{\"type\":\"object\",\"required\":[\"mapping_count\",\"run_count\",\"total_rows_loaded_iomete\","
    "\"tap_state\",\"tap_version\",\"meltano_environment\"],\"properties\":{"
    "\"mapping_count\":{\"type\":\"integer\"},\"run_count\":{\"type\":\"integer\"},"
    "\"total_rows_loaded_iomete\":{\"type\":\"integer\"},\"tap_state\":{\"type\":[\"object\",\"null\"]},"
    "\"tap_version\":{\"type\":[\"string\",\"null\"]},\"meltano_environment\":{\"type\":\"string\"},"
    "\"has_config\":{\"type\":\"boolean\"},\"schema_drift\":{\"enum\":[\"evolve\",\"freeze\",\"discard_row\"]},"
    "\"run_in_progress\":{\"type\":\"boolean\"},"
    "\"webhook_secret\":false,\"config_encrypted\":false}}]},"
    "\"ConnectorCreated\":{\"type\":\"object\",\"required\":[\"id\",\"source_system\",\"tap_name\","
    "\"iomete_namespace\",\"iomete_table\",\"webhook_secret\",\"webhook_url\",\"next_run_at\",\"status\"],"
    "\"properties\":{\"id\":{\"type\":\"string\"},\"webhook_secret\":{\"type\":\"string\",\"pattern\":\"^[0-9a-f]{64}$\"},"
    "\"webhook_url\":{\"const\":\"/v1/etl/meltano/webhook\"},\"next_run_at\":{\"$ref\":\"#/components/schemas/Time\"},"
    "\"status\":{\"const\":\"active\"}}},"
    "\"ConnectorAction\":{\"type\":\"object\",\"required\":[\"connector_id\",\"status\"],\"properties\":{"
    "\"connector_id\":{\"type\":\"string\"},\"status\":{\"type\":\"string\"},\"source_system\":{\"type\":\"string\"},"
    "\"message\":{\"type\":\"string\"}}},"
    "\"Run\":{\"type\":\"object\",\"required\":[\"id\",\"status\",\"trigger\",\"rows_synced\",\"rows_loaded\","
    "\"transform_errors\",\"iomete_table\",\"started_at\",\"completed_at\",\"duration_s\",\"error_msg\"],"
    "\"properties\":{\"id\":{\"type\":\"string\"},"
    "\"status\":{\"enum\":[\"running\",\"completed\",\"failed\",\"cancelled\"]},"
    "\"trigger\":{\"type\":[\"string\",\"null\"]},\"rows_synced\":{\"type\":\"integer\",\"minimum\":0},"
    "\"rows_loaded\":{\"type\":\"integer\",\"minimum\":0},\"transform_errors\":{\"type\":\"integer\",\"minimum\":0},"
    "\"iomete_table\":{\"type\":[\"string\",\"null\"]},\"started_at\":{\"$ref\":\"#/components/schemas/Time\"},"
    "\"completed_at\":{\"$ref\":\"#/components/schemas/Time\"},\"duration_s\":{\"type\":[\"integer\",\"null\"]},"
    "\"error_msg\":{\"type\":[\"string\",\"null\"]}}},"
    "\"RunList\":{\"type\":\"object\",\"required\":[\"runs\",\"count\"],\"properties\":{"
    "\"runs\":{\"type\":\"array\",\"items\":{\"$ref\":\"#/components/schemas/Run\"}},\"count\":{\"type\":\"integer\"}}},"
    "\"RunDetail\":{\"allOf\":[{\"$ref\":\"#/components/schemas/Run\"},{\"type\":\"object\","
    "\"required\":[\"connector_id\",\"state_before\",\"state_after\",\"snapshot_id\",\"log_tail\",\"progress\","
    "\"stream_rows\",\"transform_samples\",\"schema_changes\"],"
    "\"properties\":{\"connector_id\":{\"type\":\"string\"},\"state_before\":{\"type\":[\"object\",\"null\"]},"
    "\"state_after\":{\"type\":[\"object\",\"null\"]},\"snapshot_id\":{\"type\":[\"string\",\"null\"]},"
    "\"stream_rows\":{\"type\":[\"object\",\"null\"],\"additionalProperties\":{\"type\":\"object\","
    "\"required\":[\"table\",\"rows_read\",\"rows_committed\",\"rows_discarded\"],\"properties\":{"
    "\"table\":{\"type\":[\"string\",\"null\"]},\"rows_read\":{\"type\":\"integer\",\"minimum\":0},"
    "\"rows_committed\":{\"type\":\"integer\",\"minimum\":0},\"rows_discarded\":{\"type\":\"integer\",\"minimum\":0}}}},"
    "\"transform_samples\":{\"type\":\"array\",\"maxItems\":10,\"items\":{\"type\":\"object\","
    "\"required\":[\"field\",\"value\",\"error\"],\"properties\":{\"field\":{\"type\":\"string\"},"
    "\"value\":{\"type\":\"string\"},\"error\":{\"type\":\"string\"}}}},"
    "\"schema_changes\":{\"type\":\"array\",\"items\":{\"type\":\"object\",\"required\":[\"stream\",\"table\",\"change\"],"
    "\"properties\":{\"stream\":{\"type\":\"string\"},\"table\":{\"type\":\"string\"},\"change\":{\"type\":\"string\"}}}},"
    "\"log_tail\":{\"type\":[\"string\",\"null\"]},"
    "\"progress\":{\"oneOf\":[{\"type\":\"null\"},{\"type\":\"object\",\"required\":[\"rows_read\","
    "\"rows_committed\",\"last_checkpoint_at\",\"cancel_requested\"],\"properties\":{"
    "\"rows_read\":{\"type\":\"integer\"},\"rows_committed\":{\"type\":\"integer\"},"
    "\"last_checkpoint_at\":{\"$ref\":\"#/components/schemas/Time\"},\"cancel_requested\":{\"type\":\"boolean\"}}}]}}}]},"
    "\"RunCancel\":{\"type\":\"object\",\"required\":[\"connector_id\",\"run_id\",\"status\",\"message\"],"
    "\"properties\":{\"status\":{\"enum\":[\"cancelling\",\"cancelled\"]}}},"
    "\"StateView\":{\"type\":\"object\",\"required\":[\"connector_id\",\"tap_state\"],\"properties\":{"
    "\"connector_id\":{\"type\":\"string\"},\"tap_state\":{\"type\":[\"object\",\"null\"]},"
    "\"updated_at\":{\"$ref\":\"#/components/schemas/Time\"}}},"
    "\"SecretRotated\":{\"type\":\"object\",\"required\":[\"connector_id\",\"webhook_secret\","
    "\"previous_secret_valid_until\"],\"properties\":{\"webhook_secret\":{\"type\":\"string\","
    "\"pattern\":\"^[0-9a-f]{64}$\"},\"previous_secret_valid_until\":{\"$ref\":\"#/components/schemas/Time\"}}},"
    "\"Catalog\":{\"type\":\"object\",\"required\":[\"id\",\"tenant_id\",\"tenant_slug\",\"catalog_name\","
    "\"catalog_type\",\"warehouse\",\"storage_prefix\",\"active\",\"created_at\",\"updated_at\"],"
    "\"properties\":{\"catalog_type\":{\"enum\":[\"rest\",\"hive\",\"glue\",\"sql\",\"hadoop\"]},"
    "\"active\":{\"type\":\"boolean\"},\"metadata\":{\"type\":\"object\"},"
    "\"s3_secret_key_enc\":false,\"catalog_credential_enc\":false}},"
    "\"CatalogList\":{\"type\":\"object\",\"required\":[\"catalogs\",\"count\"],\"properties\":{"
    "\"catalogs\":{\"type\":\"array\",\"items\":{\"$ref\":\"#/components/schemas/Catalog\"}},"
    "\"count\":{\"type\":\"integer\"}}},"
    "\"WebhookResult\":{\"type\":\"object\",\"required\":[\"connector_id\",\"run_id\",\"replay\","
    "\"connector_status\",\"consecutive_failures\",\"next_run_at\"],\"properties\":{"
    "\"replay\":{\"type\":\"boolean\"},\"next_run_at\":{\"$ref\":\"#/components/schemas/Time\"}}},"
    "\"StreamCatalog\":{\"type\":\"object\",\"required\":[\"streams\"],\"properties\":{"
    "\"discovered_at\":{\"type\":[\"string\",\"null\"]},\"connector_id\":{\"type\":\"string\"},"
    "\"streams\":{\"type\":\"array\",\"items\":{\"type\":\"object\",\"required\":[\"tap_stream_id\","
    "\"selected\",\"fields\"],\"properties\":{\"tap_stream_id\":{\"type\":\"string\"},"
    "\"selected\":{\"type\":\"boolean\"},\"table\":{\"type\":[\"string\",\"null\"]},"
    "\"fields\":{\"type\":\"array\",\"items\":{\"type\":\"object\",\"required\":[\"name\",\"inclusion\","
    "\"selected\"],\"properties\":{\"name\":{\"type\":\"string\"},\"inclusion\":{\"enum\":[\"automatic\","
    "\"available\",\"unsupported\"]},\"selected\":{\"type\":\"boolean\"}}}}}}}}},"
    "\"Mapping\":{\"type\":\"object\",\"required\":[\"source_stream\",\"source_field\","
    "\"target_column\",\"target_type\"],\"properties\":{\"source_stream\":{\"type\":\"string\"},"
    "\"source_field\":{\"type\":\"string\"},\"target_column\":{\"type\":\"string\"},"
    "\"target_type\":{\"type\":\"string\"},\"transform_fn\":{\"type\":[\"string\",\"null\"]},"
    "\"review_required\":{\"type\":\"boolean\"}}},"
    "\"Mappings\":{\"type\":\"object\",\"required\":[\"connector_id\",\"mappings\",\"count\"],"
    "\"properties\":{\"connector_id\":{\"type\":\"string\"},\"count\":{\"type\":\"integer\"},"
    "\"mappings\":{\"type\":\"array\",\"items\":{\"$ref\":\"#/components/schemas/Mapping\"}}}},"
    "\"MappingsBody\":{\"type\":\"object\",\"required\":[\"mappings\"],\"properties\":{"
    "\"mappings\":{\"type\":\"array\",\"items\":{\"$ref\":\"#/components/schemas/Mapping\"}}}},"
    "\"MapFieldsBody\":{\"type\":\"object\",\"required\":[\"source_stream\",\"source_schema\","
    "\"target_schema\",\"target_table\",\"target_schema_def\"],\"properties\":{"
    "\"source_stream\":{\"type\":\"string\"},\"source_schema\":{\"type\":\"object\"},"
    "\"target_schema\":{\"enum\":[\"dm\",\"md\",\"ci\",\"pm\",\"custom\"]},"
    "\"target_table\":{\"type\":\"string\"},\"target_schema_def\":{\"type\":[\"object\",\"array\"]}}},"
    "\"MapFieldsResult\":{\"type\":\"object\",\"required\":[\"mapped\",\"review_required\","
    "\"message\",\"mappings\"],\"properties\":{\"mapped\":{\"type\":\"integer\"},"
    "\"review_required\":{\"type\":\"integer\"},\"message\":{\"type\":\"string\"},"
    "\"mappings\":{\"type\":\"array\",\"items\":{\"$ref\":\"#/components/schemas/Mapping\"}}}},"
    "\"CatalogSelection\":{\"type\":\"object\",\"required\":[\"streams\"],\"properties\":{"
    "\"streams\":{\"type\":\"array\",\"items\":{\"type\":\"object\",\"required\":[\"tap_stream_id\"],"
    "\"properties\":{\"tap_stream_id\":{\"type\":\"string\"},\"selected\":{\"type\":\"boolean\"},"
    "\"fields\":{\"type\":\"object\",\"additionalProperties\":{\"type\":\"boolean\"}},"
    "\"replication_method\":{\"type\":\"string\"},\"replication_key\":{\"type\":[\"string\",\"null\"]},"
    "\"table\":{\"type\":[\"string\",\"null\"]}}}}}},"
    "\"IcebergError\":{\"type\":\"object\",\"required\":[\"error\"],\"properties\":{\"error\":{"
    "\"type\":\"object\",\"required\":[\"message\",\"type\",\"code\"],\"properties\":{"
    "\"message\":{\"type\":\"string\"},\"type\":{\"type\":\"string\"},\"code\":{\"type\":\"integer\"}}}}},"
    "\"IcebergConfig\":{\"type\":\"object\",\"required\":[\"defaults\",\"overrides\"],\"properties\":{"
    "\"defaults\":{\"type\":\"object\"},\"overrides\":{\"type\":\"object\"},\"endpoints\":{\"type\":\"array\"}}},"
    "\"IcebergNamespaces\":{\"type\":\"object\",\"required\":[\"namespaces\"],\"properties\":{"
    "\"namespaces\":{\"type\":\"array\",\"items\":{\"type\":\"array\",\"items\":{\"type\":\"string\"}}}}},"
    "\"IcebergNamespace\":{\"type\":\"object\",\"required\":[\"namespace\"],\"properties\":{"
    "\"namespace\":{\"type\":\"array\",\"items\":{\"type\":\"string\"}},\"properties\":{\"type\":\"object\"}}},"
    "\"IcebergTables\":{\"type\":\"object\",\"required\":[\"identifiers\"],\"properties\":{"
    "\"identifiers\":{\"type\":\"array\",\"items\":{\"type\":\"object\",\"required\":[\"namespace\",\"name\"]}}}},"
    "\"IcebergTable\":{\"type\":\"object\",\"required\":[\"metadata\"],\"properties\":{"
    "\"metadata-location\":{\"type\":\"string\"},\"metadata\":{\"type\":\"object\",\"required\":[\"format-version\","
    "\"table-uuid\"]},\"config\":{\"type\":\"object\"}}},"
    "\"PreviewBody\":{\"type\":\"object\",\"required\":[\"expression\"],\"properties\":{"
    "\"expression\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":4096},\"value\":{},"
    "\"row\":{\"type\":[\"object\",\"null\"]}},\"additionalProperties\":false},"
    "\"Preview\":{\"type\":\"object\",\"required\":[\"ok\"],\"properties\":{\"ok\":{\"type\":\"boolean\"},"
    "\"result\":{},\"repr\":{\"type\":\"string\"},\"kind\":{\"type\":\"string\"},"
    "\"message\":{\"type\":\"string\"}}},"
    "\"Health\":{\"type\":\"object\",\"required\":[\"status\"],\"properties\":{\"status\":{\"type\":\"string\"}}},"
    "\"ConfigKey\":{\"type\":\"object\",\"description\":\"The public JWK of the config key pair.\","
    "\"required\":[\"kty\",\"kid\",\"use\",\"alg\"],\"properties\":{"
    "\"kty\":{\"type\":\"string\",\"enum\":[\"RSA\",\"EC\"]},\"kid\":{\"type\":\"string\"},"
    "\"use\":{\"type\":\"string\",\"enum\":[\"enc\"]},"
    "\"alg\":{\"type\":\"string\",\"enum\":[\"RSA-OAEP-256\",\"ECDH-ES\"]},"
    "\"n\":{\"type\":\"string\"},\"e\":{\"type\":\"string\"},\"crv\":{\"type\":\"string\"},"
    "\"x\":{\"type\":\"string\"},\"y\":{\"type\":\"string\"}}}"
    "}";

/* One documented operation. resp: a component name (or NULL for no body). */
struct op_doc {
    const char *method, *pattern, *summary, *tag;
    int status;
    const char *resp;
    const struct api_resource *body;     /* request body from a field table */
    unsigned body_mode;
    const char *body_ref;                /* or a request body component */
    const char *query;                   /* "name:type:description;..." */
    const char *content_type;            /* non-JSON success body */
};

/* Rows name the columns they use, left to right; the rest are zero. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
static const struct op_doc ops[] = {
    {"GET", "/healthz", "Liveness: the process answers.", "operations", 200, "Health"},
    {"GET", "/readyz", "Readiness: the store answers.", "operations", 200, "Health"},
    {"GET", "/metrics", "Prometheus text exposition of the operator's metrics.", "operations", 200,
     NULL, NULL, 0, NULL, NULL, "text/plain"},
    {"GET", "/v1/openapi.json", "This document.", "operations", 200, NULL, NULL, 0, NULL, NULL,
     "application/json"},
    {"POST", "/v1/admin/connectors", "Register a connector.", "connectors", 201,
     "ConnectorCreated", &api_connector_resource, AF_CREATE},
    {"GET", "/v1/admin/connectors", "List the tenant's connectors (paged with limit/cursor).",
     "connectors", 200, "ConnectorList", NULL, 0, NULL,
     "status:string:active, paused or error;source_system:string:only this source system;"
     "limit:integer:page size 1..200 (pages are used only when limit or cursor is given);"
     "cursor:string:next_cursor of the previous page"},
    {"GET", "/v1/admin/connectors/{id}", "One connector.", "connectors", 200, "ConnectorDetail"},
    {"PATCH", "/v1/admin/connectors/{id}", "Change a connector, keeping its bookmark.",
     "connectors", 200, "ConnectorDetail", &api_connector_resource, AF_PATCH},
    {"DELETE", "/v1/admin/connectors/{id}", "Delete a connector with its runs and bookmark.",
     "connectors", 204, NULL},
    {"POST", "/v1/admin/connectors/{id}/trigger", "Run now (or queue one follow-up).",
     "connectors", 202, "ConnectorAction"},
    {"POST", "/v1/admin/connectors/{id}/pause", "Pause the schedule.", "connectors", 200,
     "ConnectorAction"},
    {"POST", "/v1/admin/connectors/{id}/resume", "Resume from paused or error.", "connectors",
     200, "ConnectorAction"},
    {"GET", "/v1/admin/connectors/{id}/runs", "The connector's runs, newest first.", "runs", 200,
     "RunList", NULL, 0, NULL, "limit:integer:1..200 (default 50)"},
    {"GET", "/v1/admin/connectors/{id}/runs/{run_id}", "One run with its states and progress.",
     "runs", 200, "RunDetail"},
    {"POST", "/v1/admin/connectors/{id}/runs/{run_id}/cancel", "Cancel a running sync.", "runs",
     202, "RunCancel"},
    {"GET", "/v1/admin/connectors/{id}/mappings", "The connector's field mappings.", "mappings",
     200, "Mappings"},
    {"PUT", "/v1/admin/connectors/{id}/mappings", "Replace every field mapping (atomically).",
     "mappings", 200, "Mappings", NULL, 0, "MappingsBody"},
    {"POST", "/v1/admin/connectors/{id}/map-fields",
     "Propose and save mappings for one source stream.", "mappings", 201, "MapFieldsResult",
     NULL, 0, "MapFieldsBody"},
    {"GET", "/v1/admin/connectors/{id}/state", "The STATE bookmark.", "state", 200, "StateView"},
    {"PUT", "/v1/admin/connectors/{id}/state", "Replace the bookmark (connector paused).",
     "state", 200, "StateView", &api_state_resource, AF_CREATE},
    {"POST", "/v1/admin/connectors/{id}/resync", "Clear the bookmark and queue a full run.",
     "state", 202, "ConnectorAction"},
    {"POST", "/v1/admin/connectors/{id}/rotate-webhook-secret",
     "New webhook secret (shown once); the old one verifies during a grace period.",
     "connectors", 200, "SecretRotated"},
    {"POST", "/v1/admin/connectors/{id}/discover",
     "Run the tap's discovery and store its catalog (selections kept).", "discovery", 200,
     "StreamCatalog"},
    {"GET", "/v1/admin/connectors/{id}/catalog", "The connector's streams and fields.",
     "discovery", 200, "StreamCatalog"},
    {"PATCH", "/v1/admin/connectors/{id}/catalog", "Select streams and fields.", "discovery",
     200, "StreamCatalog", NULL, 0, "CatalogSelection"},
    {"POST", "/v1/admin/tenants/{tenant_id}/catalog", "Create or update a catalog.", "catalogs",
     201, "Catalog", NULL, 0, "CatalogBody"},
    {"GET", "/v1/admin/tenants/{tenant_id}/catalog", "The tenant's catalogs.", "catalogs", 200,
     "CatalogList"},
    {"DELETE", "/v1/admin/tenants/{tenant_id}/catalog/{catalog_name}", "Deactivate a catalog.",
     "catalogs", 200, "Catalog"},
    {"GET", "/v1/admin/config-key",
     "The public JWK to encrypt tap configs with (compact JWE, no shared key).", "connectors",
     200, "ConfigKey"},
    {"POST", "/v1/etl/meltano/webhook", "A runner reports a finished run (HMAC-signed).",
     "webhook", 200, "WebhookResult", NULL, 0, "WebhookBody"},
    {"GET", "/iceberg/v1/config", "Iceberg REST: catalog configuration.", "iceberg", 200,
     "IcebergConfig"},
    {"GET", "/iceberg/v1/namespaces", "Iceberg REST: the tenant's namespaces.", "iceberg", 200,
     "IcebergNamespaces"},
    {"POST", "/iceberg/v1/namespaces", "Iceberg REST: create a namespace.", "iceberg", 200,
     "IcebergNamespace"},
    {"GET", "/iceberg/v1/namespaces/{namespace}", "Iceberg REST: one namespace.", "iceberg", 200,
     "IcebergNamespace"},
    {"HEAD", "/iceberg/v1/namespaces/{namespace}", "Iceberg REST: does the namespace exist.",
     "iceberg", 204, NULL},
    {"GET", "/iceberg/v1/namespaces/{namespace}/tables", "Iceberg REST: the namespace's tables.",
     "iceberg", 200, "IcebergTables"},
    {"POST", "/iceberg/v1/namespaces/{namespace}/tables", "Iceberg REST: create a table.",
     "iceberg", 200, "IcebergTable"},
    {"GET", "/iceberg/v1/namespaces/{namespace}/tables/{table}", "Iceberg REST: load a table.",
     "iceberg", 200, "IcebergTable"},
    {"HEAD", "/iceberg/v1/namespaces/{namespace}/tables/{table}",
     "Iceberg REST: does the table exist.", "iceberg", 204, NULL},
    {"POST", "/iceberg/v1/namespaces/{namespace}/tables/{table}",
     "Iceberg REST: commit (requirements + updates).", "iceberg", 200, "IcebergTable"},
    {"DELETE", "/iceberg/v1/namespaces/{namespace}/tables/{table}", "Iceberg REST: drop a table.",
     "iceberg", 204, NULL},
    {"POST", "/v1/admin/transform/preview",
     "Evaluate a transform expression on a sample value (nothing is stored).", "mappings", 200,
     "Preview", NULL, 0, "PreviewBody"},
    {"GET", "/console", "The web console (HTML).", "console", 200, NULL, NULL, 0, NULL, NULL,
     "text/html"},
    {"GET", "/console/{asset}", "A file of the web console.", "console", 200, NULL, NULL, 0,
     NULL, NULL, "text/plain"},
};

static const struct op_doc *find_op(const char *method, const char *pattern)
{
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
        if (!strcmp(ops[i].method, method) && !strcmp(ops[i].pattern, pattern))
            return &ops[i];
    return NULL;
}

bool api_openapi_documents(const char *method, const char *pattern)
{
    return find_op(method, pattern) != NULL;
}

static json_t *ref(const char *name)
{
    char buf[128];
    snprintf(buf, sizeof buf, "#/components/schemas/%s", name);
    return json_pack("{s:s}", "$ref", buf);
}

static json_t *json_content(json_t *schema)
{
    return json_pack("{s:{s:o}}", "application/json", "schema", schema);
}

static json_t *parameters(const struct api_route *r, const struct op_doc *d)
{
    json_t *ps = json_array();
    for (const char *p = strchr(r->pattern, '{'); p; p = strchr(p + 1, '{')) {
        const char *end = strchr(p, '}');
        if (!end)
            break;
        char name[64];
        snprintf(name, sizeof name, "%.*s", (int)(end - p - 1), p + 1);
        json_array_append_new(ps, json_pack("{s:s, s:s, s:b, s:{s:s}}", "name", name, "in",
                                            "path", "required", 1, "schema", "type", "string"));
    }
    if (d && d->query) {
        char spec[512];
        snprintf(spec, sizeof spec, "%s", d->query);
        char *save = NULL;
        for (char *q = strtok_r(spec, ";", &save); q; q = strtok_r(NULL, ";", &save)) {
            char *type = strchr(q, ':');
            char *desc = type ? strchr(type + 1, ':') : NULL;
            if (!type || !desc)
                continue;
            *type++ = '\0';
            *desc++ = '\0';
            json_array_append_new(ps, json_pack("{s:s, s:s, s:b, s:s, s:{s:s}}", "name", q, "in",
                                                "query", "required", 0, "description", desc,
                                                "schema", "type", type));
        }
    }
    return ps;
}

static json_t *operation(const struct api_route *r, const struct op_doc *d)
{
    json_t *op = json_object();
    char id[160];
    size_t k = 0;
    k += (size_t)snprintf(id, sizeof id, "%s", r->method);
    for (const char *p = r->pattern; *p && k + 1 < sizeof id; p++)
        id[k++] = (*p == '/' || *p == '{' || *p == '}' || *p == '-' || *p == '.') ? '_' : *p;
    id[k] = '\0';
    json_object_set_new(op, "operationId", json_string(id));
    json_object_set_new(op, "summary", json_string(d ? d->summary : "Undocumented route."));
    if (d)
        json_object_set_new(op, "tags", json_pack("[s]", d->tag));
    else
        json_object_set_new(op, "x-undocumented", json_true());
    json_t *ps = parameters(r, d);
    if (json_array_size(ps))
        json_object_set_new(op, "parameters", ps);
    else
        json_decref(ps);
    if (r->auth == API_AUTH_JWT)
        json_object_set_new(op, "security", json_pack("[{s:[]}]", "bearer"));
    else
        json_object_set_new(op, "security", json_array());
    if (r->flags & API_F_JSON_BODY) {
        json_t *schema = d && d->body      ? api_fields_schema(d->body, d->body_mode)
                         : d && d->body_ref ? ref(d->body_ref)
                                            : json_pack("{s:s}", "type", "object");
        json_object_set_new(op, "requestBody",
                            json_pack("{s:b, s:o}", "required", 1, "content", json_content(schema)));
    }
    json_t *resp = json_object();
    char code[8];
    int status = d ? d->status : 200;
    snprintf(code, sizeof code, "%d", status);
    json_t *ok = json_pack("{s:s}", "description", d ? d->summary : "OK");
    if (d && d->resp)
        json_object_set_new(ok, "content", json_content(ref(d->resp)));
    else if (d && d->content_type)
        json_object_set_new(ok, "content",
                            json_pack("{s:{s:{s:s}}}", d->content_type, "schema", "type", "string"));
    json_object_set_new(resp, code, ok);
    if (d && !strcmp(r->pattern, "/v1/admin/tenants/{tenant_id}/catalog") && status == 201)
        json_object_set_new(resp, "200", json_pack("{s:s, s:o}", "description", "Updated.",
                                                   "content", json_content(ref("Catalog"))));
    if (d && !strcmp(r->pattern, "/v1/admin/connectors") && !strcmp(r->method, "GET"))
        json_object_set_new(resp, "304", json_pack("{s:s}", "description", "Not modified (ETag)."));
    bool iceberg = !strncmp(r->pattern, "/iceberg/", 9);
    json_object_set_new(resp, "default",
                        json_pack("{s:s, s:o}", "description",
                                  iceberg ? "An error in the Iceberg REST spec's model."
                                          : "An error (see docs/api.md).",
                                  "content", json_content(ref(iceberg ? "IcebergError" : "Error"))));
    json_object_set_new(op, "responses", resp);
    return op;
}

static json_t *document(void)
{
    json_error_t je;
    json_t *schemas = json_loads(components_json, 0, &je);
    if (!schemas) {
        log_error("openapi: component schemas do not parse: %s (line %d col %d)", je.text,
                  je.line, je.column);
        return NULL;
    }
    json_object_set_new(schemas, "Connector", api_fields_schema(&api_connector_resource, AF_CREATE));
    json_object_set_new(schemas, "ConnectorPatch",
                        api_fields_schema(&api_connector_resource, AF_PATCH));
    json_object_set_new(schemas, "CatalogBody", api_fields_schema(&api_catalog_resource, AF_CREATE));
    json_object_set_new(schemas, "WebhookBody", api_fields_schema(&api_webhook_resource, AF_CREATE));
    json_t *paths = json_object();
    for (size_t i = 0; i < api_routes_count; i++) {
        const struct api_route *r = &api_routes[i];
        char path[256];
        snprintf(path, sizeof path, "%s", r->pattern);
        json_t *item = json_object_get(paths, path);
        if (!item) {
            item = json_object();
            json_object_set_new(paths, path, item);
        }
        char lower[16];
        size_t k = 0;
        for (; r->method[k] && k + 1 < sizeof lower; k++)
            lower[k] = (char)(r->method[k] | 0x20);
        lower[k] = '\0';
        json_object_set_new(item, lower, operation(r, find_op(r->method, r->pattern)));
    }
    return json_pack("{s:s, s:{s:s, s:s, s:s}, s:o, s:{s:o, s:{s:{s:s, s:s, s:s}}}}", "openapi",
                     "3.1.0", "info", "title", "Ivory", "version", IVORY_VERSION, "description",
                     "Singer and Airbyte connectors into Apache Iceberg; see docs/api.md.",
                     "paths", paths, "components", "schemas", schemas, "securitySchemes",
                     "bearer", "type", "http", "scheme", "bearer", "bearerFormat", "JWT");
}

void api_h_openapi(struct api_ctx *c)
{
    json_t *doc = document();
    if (!doc) {
        struct iv_err e = {0};
        iv_err_set(&e, IV_EINVAL, "the OpenAPI document could not be built");
        api_internal(c, "openapi", &e);
        return;
    }
    api_reply(c, 200, doc);
}
