/*
 * api_int.h: internal header of src/api (api.h is the module's one public
 * header; only api/ files and the api unit tests include this). What the api/ files share: the request context handlers work
 * on, the route table and router, validation helpers and error replies.
 * Handlers never see libmicrohttpd: the glue in server.c fills the context
 * and turns the reply into an MHD response, so handlers and the router can be
 * unit-tested without a socket.
 */
#ifndef IVORY_API_INT_H
#define IVORY_API_INT_H

#include "api/api.h"
#include "crypto/crypto.h"

#include <jansson.h>

/* ---- routing ----------------------------------------------------------------- */
#define API_MAX_PARAMS 4
#define API_PARAM_MAX 256

struct api_params {
    int n;
    char name[API_MAX_PARAMS][32];
    char value[API_MAX_PARAMS][API_PARAM_MAX];
};
/* Borrowed value of a path parameter, or NULL. */
const char *api_param(const struct api_params *p, const char *name);

enum api_auth {
    API_AUTH_NONE = 0,     /* /healthz, /readyz */
    API_AUTH_JWT = 1,      /* Bearer token, tenant = sub */
    API_AUTH_WEBHOOK = 2,  /* HMAC signature checked by the handler */
};
enum { API_F_JSON_BODY = 1 << 0 };   /* requires Content-Type application/json + object body */

struct api_ctx;
typedef void (*api_handler)(struct api_ctx *c);

struct api_route {
    const char *method;
    const char *pattern;      /* literal segments and {name} segments */
    api_handler fn;
    enum api_auth auth;
    unsigned flags;
};

/* Checks a raw request path before routing: every '%' starts a valid escape,
 * no escape decodes to NUL, no control characters. False with *why (a static
 * one-sentence message) otherwise. */
bool api_path_check(const char *path, const char **why);

/* Matches method + path against the table. path is the raw (still
 * percent-encoded) path; captured parameters are decoded after matching. Returns the route and fills p, or
 * NULL with *status = 404 (no pattern matches the path) or 405 (the path
 * matches under other methods; allow receives "GET, POST" style list). */
const struct api_route *api_route_match(const struct api_route *routes, size_t n,
                                        const char *method, const char *path,
                                        struct api_params *p, char *allow, size_t allow_len,
                                        int *status);

extern const struct api_route api_routes[];
extern const size_t api_routes_count;

/* ---- pre-rendered bodies and the response cache (cache.c) ----------------------- */
/* An immutable JSON body shared by reference (cache entries, responses in flight). */
struct api_blob {
    _Atomic long refs;
    size_t len;
    char etag[24];        /* "\"<16 hex>\"": a 64-bit hash of the bytes, quoted */
    char *data;           /* len bytes + NUL, owned */
};
/* Copies data; one reference, owned by the caller (drop with api_blob_unref). */
struct api_blob *api_blob_new(const char *data, size_t len);
/* Takes ownership of data (malloc'd, NUL at data[len], e.g. from buf_detach). */
struct api_blob *api_blob_adopt(char *data, size_t len);
struct api_blob *api_blob_ref(struct api_blob *b);          /* NULL-safe; returns b */
void api_blob_unref(struct api_blob *b);                    /* NULL-safe */
/* If-None-Match header value (list, W/ prefixes, "*") against our strong tag. */
bool api_etag_matches(const char *if_none_match, const char *etag);

/* A thread-safe LRU of blobs keyed by view and versioned by the tenant's
 * (generation, epoch) from store_tenant_generation. See cache.c. */
struct api_cache;
struct api_cache *api_cache_new(size_t max_bytes, size_t max_entries);
void api_cache_free(struct api_cache *c);                   /* NULL-safe */
/* A new reference to key's blob when it was stored for exactly (gen, epoch),
 * else NULL. c may be NULL (no cache). */
struct api_blob *api_cache_get(struct api_cache *c, const char *key, int64_t gen, int64_t epoch);
/* Stores b (takes its own reference) unless a newer generation is there. */
void api_cache_put(struct api_cache *c, const char *key, int64_t gen, int64_t epoch,
                   struct api_blob *b);
struct api_cache_stats { size_t entries, bytes; uint64_t hits, misses; };
void api_cache_stats(struct api_cache *c, struct api_cache_stats *out);

/* ---- JSON writer into a bounded buffer (jsonw.c) ------------------------------- */
struct api_jw {
    struct buf b;
    int err;              /* sticky: IV_ETOOBIG once an append failed */
};
void api_jw_init(struct api_jw *w, size_t max);   /* release with buf_release(&w->b) */
void api_jw_raw(struct api_jw *w, const char *s, size_t n);
void api_jw_str(struct api_jw *w, const char *s);  /* escaped and quoted; NULL -> null */
void api_jw_int(struct api_jw *w, int64_t v);
void api_jw_time(struct api_jw *w, int64_t ms);    /* ISO-8601 UTC or null */
void api_jw_key(struct api_jw *w, const char *key, bool first);   /* [,]"key": */

/* ---- connection guard: header/body deadlines (conn_guard.c) --------------------- */
enum api_conn_phase {
    API_CONN_AWAIT_HEADERS,     /* deadline: header timeout */
    API_CONN_RECEIVING_BODY,    /* deadline: body timeout */
    API_CONN_BUSY,              /* in a handler or sending: no deadline here */
};
struct api_guard;
struct api_conn;
/* Starts the reaper thread. Deadlines in seconds (<= 0: none). */
int api_guard_new(struct api_guard **out, double header_s, double body_s, struct iv_err *e);
void api_guard_free(struct api_guard *g);
/* A connection opened (phase: awaiting headers). The guard owns the result
 * until api_guard_closed, which the server calls before the fd is closed. */
struct api_conn *api_guard_opened(struct api_guard *g, int fd);
void api_guard_closed(struct api_guard *g, struct api_conn *c);
void api_guard_phase(struct api_guard *g, struct api_conn *c, enum api_conn_phase phase);
/* True when c's current phase is past its deadline (or it was already cut). */
bool api_guard_overdue(struct api_guard *g, struct api_conn *c);
void api_guard_stats(struct api_guard *g, uint64_t *cut_total, int64_t *open_now);

/* ---- worker pool: handlers off the polling threads (workers.c) ------------------ */
struct api_workers;
/* n threads running fn(arg) for each queued job, in order. */
int api_workers_new(struct api_workers **out, int n, struct iv_err *e);
/* Queues fn(arg); never blocks on the work itself. */
void api_workers_submit(struct api_workers *w, void (*fn)(void *arg), void *arg);
/* Runs every queued job, then joins the threads and frees w. */
void api_workers_free(struct api_workers *w);
/* Jobs queued and not yet started (for diagnostics). */
size_t api_workers_backlog(struct api_workers *w);

/* ---- the LLM mapping proposer (map_llm.c) ------------------------------------------ */
struct map_target {
    const char *name, *type;          /* a target column and its declared type (borrowed) */
};
#define MAP_LLM_MAX_ANSWER ((size_t)256 * 1024)
/* Asks the chat-completions endpoint of IVORY_MAPPING_LLM_URL to map the stream's fields
 * onto the target columns. Only names and types leave the server: the stream name, each
 * source field's name with its JSON Schema "type"/"format", each target column's name and
 * type (never a connector's config, a tenant id or a sample value). One POST, no redirects,
 * at most IVORY_MAPPING_LLM_TIMEOUT and MAP_LLM_MAX_ANSWER bytes. IV_OK with *answer (new
 * reference): the model's proposals as it gave them, an array of objects, unvalidated (the
 * caller validates each like client input). Otherwise an error with e->msg one sentence
 * saying why, for the fallback message (never the API key). */
int map_llm_ask(const struct iv_config *cfg, const char *stream, json_t *fields,
                const struct map_target *tv, size_t tn, json_t **answer, struct iv_err *e);

/* ---- request context ------------------------------------------------------------ */
struct api_server_state {
    const struct iv_config *cfg;
    struct store *store;
    struct jwt_verifier *jwt;
    uint8_t master_key[32];
    struct api_cache *cache;          /* list responses; NULL = no caching */
    struct jwe_key *config_key;       /* JWE config key pair; NULL = not configured */
};

struct api_ctx {
    const struct api_server_state *srv;
    const char *method, *path;
    struct api_params params;
    /* query lookup: borrowed value or NULL */
    const char *(*query)(void *qctx, const char *key);
    void *qctx;
    const char *header_signature;     /* X-Ivory-Signature, borrowed */
    const char *header_runner;        /* X-Ivory-Runner (an Ivory runner's id), borrowed */
    const char *header_runner_sig;    /* X-Ivory-Runner-Signature, borrowed */
    const char *body;                 /* raw body, borrowed, NUL-terminated */
    size_t body_len;
    json_t *json;                     /* parsed body object (API_F_JSON_BODY), borrowed */
    struct jwt_claims claims;         /* API_AUTH_JWT */
    const char *if_none_match;        /* If-None-Match, borrowed, or NULL */
    /* reply, owned by the context until the glue sends it */
    int status;
    json_t *reply;                    /* NULL = empty body */
    struct api_blob *raw_reply;       /* pre-rendered body (one reference); wins over reply */
    char etag[24];                    /* sent as ETag when non-empty */
    bool www_authenticate;
    bool close_connection;            /* framing was ambiguous: answer, then close */
    char allow[64];
    const char *content_type;         /* static string; NULL = application/json */
    bool console_page;                /* send the console's security headers (console.c) */
    int route_index;                  /* index in api_routes of the matched route; -1 = none */
};

/* Sets the reply (takes ownership of body; NULL = no body). */
void api_reply(struct api_ctx *c, int status, json_t *body);
/* Sets a pre-rendered JSON reply (takes the reference b). */
void api_reply_raw(struct api_ctx *c, int status, struct api_blob *b);
/* Frees whatever reply the context holds. */
void api_ctx_release_reply(struct api_ctx *c);
/* {"error": code, "detail": detail[, "field": field]}; field may be NULL. Under /iceberg
 * the Iceberg REST error model instead: {"error":{"message","type","code"}}, with `code`
 * as the type when it names an Iceberg exception ("...Exception"), else a type derived
 * from the status. */
void api_error(struct api_ctx *c, int status, const char *code, const char *field,
               const char *fmt, ...) __attribute__((format(printf, 5, 6)));
json_t *api_iceberg_error(int status, const char *code, const char *message);   /* new ref */
/* 500 with a generic detail; the real reason (e) is logged, never sent. */
void api_internal(struct api_ctx *c, const char *what, const struct iv_err *e);
const char *api_query(struct api_ctx *c, const char *key);
/* Parses c->body as the JSON object a JSON-body route takes: duplicate keys
 * and non-objects are 400, a string member with an embedded NUL is 422 naming
 * it. On success sets c->json and *out (the caller owns *out, also on
 * failure: json_decref it). Replies and returns false otherwise. */
bool api_parse_json_body(struct api_ctx *c, json_t **out);

/* ---- JSON helpers ------------------------------------------------------------------ */
json_t *api_time_or_null(int64_t ms);           /* ISO-8601 UTC, or null */
json_t *api_str_or_null(const char *s);
json_t *api_json_text_or_null(const char *text); /* parses stored JSON text */

/* ---- validation (pure functions, unit-tested) --------------------------------------- */
bool api_valid_source_system(const char *s);    /* ^[a-z][a-z0-9_]{0,62}$ */
bool api_valid_tap_name(const char *s);         /* ^[a-z0-9][a-z0-9._-]{0,127}$ */
bool api_valid_destination_table(const char *s);/* ^[a-z_][a-z0-9_]{0,127}$ */
bool api_valid_tap_version(const char *s);      /* ^[A-Za-z0-9._+-]{1,64}$ */
bool api_valid_slug(const char *s);             /* ^[a-z0-9-]{3,48}$ */
bool api_valid_connector_type(const char *s);   /* meltano|airbyte|fivetran|custom */
bool api_valid_catalog_type(const char *s);     /* rest|hive|glue|sql|hadoop */
bool api_valid_catalog_name(const char *s);     /* ^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$ */
bool api_valid_meltano_env(const char *s);      /* ^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$ */
bool api_valid_warehouse(const char *s);        /* file:///... or s3://bucket[/...] */
bool api_valid_storage_prefix(const char *s);   /* relative path, no '..' segment */
/* Parses "1".."200" (digits only). */
bool api_parse_limit(const char *s, int *out);
/* First key of obj not in allowed (NULL-terminated list), or NULL. Borrowed. */
const char *api_unknown_field(const json_t *obj, const char *const *allowed);

/* ---- request fields, described once (fields.c) ---------------------------------------------- */
/* AF_INTEGER values are counts: never negative. AF_ID: a string or an integer (ids that some
 * clients send as numbers, e.g. an Iceberg snapshot id). */
enum api_field_type { AF_STRING, AF_OBJECT, AF_INTEGER, AF_BOOLEAN, AF_ID };
enum {
    AF_CREATE = 1 << 0,     /* writable in the create (POST) body */
    AF_PATCH = 1 << 1,      /* writable by PATCH */
    AF_REQUIRED = 1 << 2,   /* required on create (and never empty) */
    AF_NULLABLE = 1 << 3,   /* null accepted (clears the value) */
    AF_SECRET = 1 << 4,     /* stored sealed or encrypted, never returned */
    AF_BLANK_NULL = 1 << 5, /* an empty string means absent (catalog fields, as since v1) */
};
struct api_field {
    const char *name;
    enum api_field_type type;
    unsigned flags;
    int max_len;                      /* strings: bytes; 0 = only the body cap */
    const char *pattern;              /* the rule as a regex, for messages, docs and OpenAPI */
    bool (*check)(const char *v);     /* the rule in C; NULL = none */
    const char *rule;                 /* message tail when the check fails ("is not ..."); NULL
                                       * = "must match <pattern>" */
    const char *def;                  /* default on create, or NULL */
    const char *const *enum_values;   /* NULL-terminated, or NULL */
    const char *doc;                  /* one line for docs and OpenAPI */
};
struct api_resource {
    const char *name;                 /* OpenAPI component name */
    const struct api_field *fields;
    size_t n;
};
#define API_MAX_FIELDS 32
/* The fields of one parsed body: borrowed from c->json. */
struct api_field_values {
    const struct api_resource *r;
    const json_t *v[API_MAX_FIELDS];  /* by index in r->fields; NULL = absent */
};
extern const struct api_resource api_connector_resource;
extern const struct api_resource api_state_resource;
extern const struct api_resource api_catalog_resource;
extern const struct api_resource api_webhook_resource;
/* Checks c->json against r for mode (AF_CREATE or AF_PATCH): unknown fields, fields not
 * writable in mode, types, required, null, length, enum and rule; the first failure is a 422
 * naming its field (replied here) and returns false. */
bool api_fields_parse(struct api_ctx *c, const struct api_resource *r, unsigned mode,
                      struct api_field_values *out);
const struct api_field *api_field_find(const struct api_resource *r, const char *name);
bool api_fields_has(const struct api_field_values *v, const char *name);   /* present, even null */
const char *api_fields_str(const struct api_field_values *v, const char *name);   /* or NULL */
const char *api_fields_str_or_default(const struct api_field_values *v, const char *name);
const json_t *api_fields_json(const struct api_field_values *v, const char *name);
/* The JSON Schema (OpenAPI 3.1) of r's body in mode; caller owns the reference. */
json_t *api_fields_schema(const struct api_resource *r, unsigned mode);

/* ---- handlers ------------------------------------------------------------------------ */
void api_h_healthz(struct api_ctx *c);
void api_h_readyz(struct api_ctx *c);
void api_h_connector_create(struct api_ctx *c);
void api_h_connector_list(struct api_ctx *c);
void api_h_connector_get(struct api_ctx *c);
void api_h_connector_delete(struct api_ctx *c);
void api_h_connector_trigger(struct api_ctx *c);
void api_h_connector_pause(struct api_ctx *c);
void api_h_connector_resume(struct api_ctx *c);
void api_h_connector_runs(struct api_ctx *c);
void api_h_connector_discover(struct api_ctx *c);
void api_h_connector_catalog_get(struct api_ctx *c);
void api_h_connector_catalog_patch(struct api_ctx *c);
void api_h_catalog_upsert(struct api_ctx *c);
void api_h_catalog_list(struct api_ctx *c);
void api_h_catalog_delete(struct api_ctx *c);
void api_h_webhook(struct api_ctx *c);
void api_h_config_key(struct api_ctx *c);
/* config_encrypted check: a v1: envelope (shape) or a compact JWE for this
 * server's config key (header and structure, see jwe_check). Replies 422
 * naming config_encrypted and returns false otherwise. */
bool api_config_encrypted_ok(struct api_ctx *c, const char *config);
void api_h_mappings_get(struct api_ctx *c);
void api_h_mappings_put(struct api_ctx *c);
void api_h_map_fields(struct api_ctx *c);
void api_h_connector_patch(struct api_ctx *c);
void api_h_state_get(struct api_ctx *c);
void api_h_state_put(struct api_ctx *c);
void api_h_connector_resync(struct api_ctx *c);
void api_h_rotate_webhook_secret(struct api_ctx *c);
void api_h_run_get(struct api_ctx *c);
void api_h_run_cancel(struct api_ctx *c);
void api_h_metrics(struct api_ctx *c);
void api_h_openapi(struct api_ctx *c);
/* Process counters for GET /metrics (metrics.c): route is the index in api_routes (-1 =
 * none matched); reason one of unknown_connector, bad_signature, internal. */
void api_metrics_request(int route, int status, int64_t elapsed_us);
void api_metrics_webhook_failure(const char *reason);
void api_metrics_breaker_trip(void);
/* Whether openapi.c describes (method, pattern) (test_api_openapi checks every route). */
bool api_openapi_documents(const char *method, const char *pattern);
/* A run as the runs list shows it (connectors.c); caller owns the reference. */
json_t *api_run_view(const struct store_run *r);
/* Iceberg REST catalog at /iceberg (iceberg.c). */
void api_h_iceberg_config(struct api_ctx *c);
void api_h_iceberg_ns_list(struct api_ctx *c);
void api_h_iceberg_ns_create(struct api_ctx *c);
void api_h_iceberg_ns_get(struct api_ctx *c);
void api_h_iceberg_ns_head(struct api_ctx *c);
void api_h_iceberg_table_list(struct api_ctx *c);
void api_h_iceberg_table_create(struct api_ctx *c);
void api_h_iceberg_table_load(struct api_ctx *c);
void api_h_iceberg_table_head(struct api_ctx *c);
void api_h_iceberg_table_commit(struct api_ctx *c);
void api_h_iceberg_table_drop(struct api_ctx *c);
void api_h_transform_preview(struct api_ctx *c);
void api_h_console_index(struct api_ctx *c);
void api_h_console_asset(struct api_ctx *c);

/* ---- the embedded web console (console.c; the table is generated at build time) ------ */
struct console_asset {
    const char *name;                 /* file name under console/, e.g. "app.js" */
    const char *media_type;
    const unsigned char *data;
    size_t len;
};
extern const struct console_asset console_assets[];
extern const size_t console_assets_count;
extern const char api_console_csp[];  /* the Content-Security-Policy of every console answer */

#endif
