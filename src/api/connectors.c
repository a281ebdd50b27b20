/*
 * connectors.c: the connector endpoints of docs/api.md and their JSON views.
 * The tenant is always the token's `sub`; the store filters every query by
 * it, so another tenant's connector is indistinguishable from a missing one
 * (404). The webhook secret leaves the server once, in the 201 of register;
 * config_encrypted never leaves it.
 */
#include "api/api_int.h"
#include "sched/sched.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <string.h>

#define WEBHOOK_PATH "/v1/etl/meltano/webhook"

static const char *tenant_of(struct api_ctx *c)
{
    return c->claims.sub;
}

/* Maps a store error to a reply; returns true when it replied. */
static bool store_failed(struct api_ctx *c, int rc, const struct iv_err *e, const char *what)
{
    if (rc == IV_OK)
        return false;
    if (rc == IV_ENOTFOUND)
        api_error(c, 404, "not_found", NULL, "Connector not found.");
    else if (rc == IV_ECONFLICT)
        api_error(c, 409, "conflict", NULL, "%s", e->msg);
    else
        api_internal(c, what, e);
    return true;
}

/* ---- views -------------------------------------------------------------------------- */

static json_t *connector_summary(const struct store_connector *k)
{
    json_t *j = json_object();
    json_object_set_new(j, "id", json_string(k->id));
    json_object_set_new(j, "source_system", json_string(k->source_system));
    json_object_set_new(j, "tap_name", json_string(k->tap_name));
    json_object_set_new(j, "connector_type", json_string(k->connector_type));
    json_object_set_new(j, "destination_catalog", json_string(k->destination_catalog));
    json_object_set_new(j, "iomete_namespace", json_string(k->iomete_namespace));
    json_object_set_new(j, "iomete_table", json_string(k->destination_table));
    json_object_set_new(j, "sync_schedule", json_string(k->sync_schedule));
    json_object_set_new(j, "status", json_string(store_conn_status_name(k->status)));
    json_object_set_new(j, "consecutive_failures", json_integer(k->consecutive_failures));
    json_object_set_new(j, "rows_total", json_integer(k->rows_total));
    json_object_set_new(j, "last_synced_at", api_time_or_null(k->last_synced_at));
    json_object_set_new(j, "next_run_at", api_time_or_null(k->next_run_at));
    json_object_set_new(j, "last_run_status", api_str_or_null(k->last_run_status));
    json_object_set_new(j, "last_run_rows",
                        k->has_last_run ? json_integer(k->last_run_rows) : json_null());
    json_object_set_new(j, "last_run_rows_loaded",
                        k->has_last_run ? json_integer(k->last_run_rows_loaded) : json_null());
    json_object_set_new(j, "last_run_at",
                        k->has_last_run ? api_time_or_null(k->last_run_at) : json_null());
    json_object_set_new(j, "last_error", api_str_or_null(k->last_error));
    return j;
}

static json_t *connector_detail(const struct store_connector *k)
{
    json_t *j = connector_summary(k);
    json_object_set_new(j, "destination_table", json_string(k->destination_table));
    json_object_set_new(j, "tap_version", api_str_or_null(k->tap_version));
    json_object_set_new(j, "meltano_environment", json_string(k->meltano_environment));
    json_object_set_new(j, "has_config", json_boolean(k->config_encrypted != NULL));
    json_object_set_new(j, "webhook_url", json_string(WEBHOOK_PATH));
    json_object_set_new(j, "mapping_count", json_integer(k->mapping_count));
    json_object_set_new(j, "run_count", json_integer(k->run_count));
    json_object_set_new(j, "total_rows_loaded_iomete", json_integer(k->total_rows_loaded));
    json_object_set_new(j, "tap_state", api_json_text_or_null(k->tap_state));
    json_object_set_new(j, "followup_queued", json_boolean(k->followup_queued));
    json_object_set_new(j, "created_at", api_time_or_null(k->created_at));
    json_object_set_new(j, "updated_at", api_time_or_null(k->updated_at));
    return j;
}

json_t *api_run_view(const struct store_run *r)
{
    json_t *j = json_object();
    json_object_set_new(j, "id", json_string(r->id));
    json_object_set_new(j, "status", json_string(r->status));
    json_object_set_new(j, "trigger", api_str_or_null(r->trigger));
    json_object_set_new(j, "rows_synced", json_integer(r->rows_synced));
    json_object_set_new(j, "rows_loaded", json_integer(r->rows_loaded));
    json_object_set_new(j, "transform_errors", json_integer(r->transform_errors));
    json_object_set_new(j, "iomete_table", api_str_or_null(r->iomete_table));
    json_object_set_new(j, "started_at", api_time_or_null(r->started_at));
    json_object_set_new(j, "completed_at", api_time_or_null(r->completed_at));
    if (r->completed_at != STORE_NULL_TIME && r->started_at != STORE_NULL_TIME) {
        int64_t d = r->completed_at - r->started_at;
        json_object_set_new(j, "duration_s", json_integer(d > 0 ? (d + 500) / 1000 : 0));
    } else {
        json_object_set_new(j, "duration_s", json_null());
    }
    json_object_set_new(j, "error_msg", api_str_or_null(r->error_msg));
    return j;
}

/* ---- register ------------------------------------------------------------------------ */

/* Per-tenant quota on connectors (IVORY_TENANT_MAX_CONNECTORS): 429 once reached. Counted
 * before the insert, so concurrent registrations can overshoot it by their number. */
static bool within_connector_quota(struct api_ctx *c)
{
    int64_t nconn = 0, ncat = 0;
    struct iv_err e = {0};
    if (store_tenant_usage(c->srv->store, tenant_of(c), &nconn, &ncat, &e) != IV_OK) {
        api_internal(c, "tenant usage", &e);
        return false;
    }
    if (c->srv->cfg->tenant_max_connectors > 0 && nconn >= c->srv->cfg->tenant_max_connectors) {
        api_error(c, 429, "quota_exceeded", NULL, "This tenant already has %lld connectors, "
                  "its quota (IVORY_TENANT_MAX_CONNECTORS); delete one first.",
                  (long long)nconn);
        return false;
    }
    return true;
}

void api_h_connector_create(struct api_ctx *c)
{
    struct api_field_values fv;
    if (!api_fields_parse(c, &api_connector_resource, AF_CREATE, &fv))
        return;
    const char *source_system = api_fields_str(&fv, "source_system");
    const char *tap_name = api_fields_str(&fv, "tap_name");
    const char *dest_catalog = api_fields_str(&fv, "destination_catalog");
    const char *dest_table = api_fields_str(&fv, "destination_table");
    const char *schedule = api_fields_str_or_default(&fv, "sync_schedule");
    const char *config = api_fields_str(&fv, "config_encrypted");
    const char *tap_version = api_fields_str(&fv, "tap_version");
    const char *ctype = api_fields_str_or_default(&fv, "connector_type");
    const char *menv = api_fields_str_or_default(&fv, "meltano_environment");
    const char *drift = api_fields_str(&fv, "schema_drift");
    if (config && !api_config_encrypted_ok(c, config))
        return;
    struct iv_err e = {0};

    struct store_tenant t;
    int rc = store_tenant_get(c->srv->store, tenant_of(c), &t, &e);
    if (rc == IV_ENOTFOUND) {
        api_error(c, 422, "validation_error", "destination_catalog",
                  "destination_catalog '%s' is not an active catalog of this tenant.",
                  dest_catalog);
        return;
    }
    if (rc < 0) {
        api_internal(c, "tenant lookup", &e);
        return;
    }
    if (!within_connector_quota(c))
        return;
    char ns[80];
    store_tenant_namespace(t.slug, ns);
    char id[37];
    uuid_v4(id);
    uint8_t raw[32];
    random_bytes(raw, sizeof raw);
    char *secret_hex = hex_encode(raw, sizeof raw);
    OPENSSL_cleanse(raw, sizeof raw);
    /* The HMAC key is the hex text exactly as returned to the client. */
    char *sealed = secret_seal(c->srv->master_key, secret_hex, strlen(secret_hex));
    int64_t next = now_ms() + (int64_t)(c->srv->cfg->first_run_delay_s * 1000.0);

    struct store_connector k = {
        .id = id, .tenant_id = (char *)tenant_of(c), .source_system = (char *)source_system,
        .tap_name = (char *)tap_name, .connector_type = (char *)ctype,
        .destination_catalog = (char *)dest_catalog, .destination_table = (char *)dest_table,
        .iomete_namespace = ns, .sync_schedule = (char *)schedule,
        .config_encrypted = (char *)config, .tap_version = (char *)tap_version,
        .meltano_environment = (char *)menv, .webhook_secret_enc = sealed,
        .next_run_at = next,
    };
    rc = sealed ? store_connector_create(c->srv->store, &k, &e)
                : iv_err_set(&e, IV_EIO, "sealing the webhook secret failed");
    if (rc == IV_OK && drift && strcmp(drift, "evolve") != 0) {
        struct store_connector_patch p = {.schema_drift = drift};
        rc = store_connector_patch(c->srv->store, tenant_of(c), id, &p, &e);
    }
    if (rc == IV_EINVAL) {
        api_error(c, 422, "validation_error", "destination_catalog",
                  "destination_catalog '%s' is not an active catalog of this tenant.",
                  dest_catalog);
    } else if (rc < 0) {
        api_internal(c, "connector create", &e);
    } else {
        json_t *j = json_object();
        json_object_set_new(j, "id", json_string(id));
        json_object_set_new(j, "source_system", json_string(source_system));
        json_object_set_new(j, "tap_name", json_string(tap_name));
        json_object_set_new(j, "iomete_namespace", json_string(ns));
        json_object_set_new(j, "iomete_table", json_string(dest_table));
        json_object_set_new(j, "webhook_secret", json_string(secret_hex));
        json_object_set_new(j, "webhook_url", json_string(WEBHOOK_PATH));
        json_object_set_new(j, "next_run_at", api_time_or_null(next));
        json_object_set_new(j, "status", json_string("active"));
        api_reply(c, 201, j);
        log_info("connector %s registered for tenant %s (%s -> %s.%s)", id, tenant_of(c),
                 tap_name, ns, dest_table);
    }
    OPENSSL_cleanse(secret_hex, strlen(secret_hex));
    free(secret_hex);
    free(sealed);
}

/* ---- list / get -------------------------------------------------------------------------- */

/* A key with its separator, as one append: K(",\"name\":"). */
#define K(lit) api_jw_raw(w, lit, sizeof lit - 1)

/* One list item, written in connector_summary's key order (the two must agree;
 * test_api_handlers compares the list with jansson's dump of the same document). */
static int list_item(void *ctx, const struct store_connector *k)
{
    struct api_jw *w = ctx;
    K("{\"id\":");
    api_jw_str(w, k->id);
    K(",\"source_system\":");
    api_jw_str(w, k->source_system);
    K(",\"tap_name\":");
    api_jw_str(w, k->tap_name);
    K(",\"connector_type\":");
    api_jw_str(w, k->connector_type);
    K(",\"destination_catalog\":");
    api_jw_str(w, k->destination_catalog);
    K(",\"iomete_namespace\":");
    api_jw_str(w, k->iomete_namespace);
    K(",\"iomete_table\":");
    api_jw_str(w, k->destination_table);
    K(",\"sync_schedule\":");
    api_jw_str(w, k->sync_schedule);
    K(",\"status\":");
    api_jw_str(w, store_conn_status_name(k->status));
    K(",\"consecutive_failures\":");
    api_jw_int(w, k->consecutive_failures);
    K(",\"rows_total\":");
    api_jw_int(w, k->rows_total);
    K(",\"last_synced_at\":");
    api_jw_time(w, k->last_synced_at);
    K(",\"next_run_at\":");
    api_jw_time(w, k->next_run_at);
    K(",\"last_run_status\":");
    api_jw_str(w, k->last_run_status);
    K(",\"last_run_rows\":");
    if (k->has_last_run)
        api_jw_int(w, k->last_run_rows);
    else
        K("null");
    K(",\"last_run_rows_loaded\":");
    if (k->has_last_run)
        api_jw_int(w, k->last_run_rows_loaded);
    else
        K("null");
    K(",\"last_run_at\":");
    api_jw_time(w, k->has_last_run ? k->last_run_at : STORE_NULL_TIME);
    K(",\"last_error\":");
    api_jw_str(w, k->last_error);
    K("}");
    return w->err;
}
#undef K

struct list_walk {
    struct api_jw w;
    int64_t n;
};

static int list_visit(void *ctx, const struct store_connector *k)
{
    struct list_walk *lw = ctx;
    if (lw->n++)
        api_jw_raw(&lw->w, ",", 1);
    return list_item(&lw->w, k);
}

/* Renders the tenant's list into a new blob; *gen / *epoch: the snapshot's
 * generation (-1 when the tenant row does not exist). */
static int render_list(struct api_ctx *c, const char *status, struct api_blob **out,
                       int64_t *gen, int64_t *epoch, struct iv_err *e)
{
    struct list_walk lw = {.n = 0};
    api_jw_init(&lw.w, (size_t)256 << 20);
    buf_reserve(&lw.w.b, (size_t)64 << 10);   /* ~100 connectors without a regrow */
    api_jw_raw(&lw.w, "{\"connectors\":[", strlen("{\"connectors\":["));
    int rc = store_connector_each(c->srv->store, tenant_of(c), status, list_visit, &lw, gen,
                                  epoch, e);
    if (rc == IV_ETOOBIG)
        iv_err_set(e, rc, "connector list of tenant '%s' is over 256 MiB", tenant_of(c));
    api_jw_raw(&lw.w, "],\"count\":", strlen("],\"count\":"));
    api_jw_int(&lw.w, lw.n);
    api_jw_raw(&lw.w, "}", 1);
    if (rc == IV_OK && lw.w.err)
        rc = iv_err_set(e, lw.w.err, "connector list of tenant '%s' is over 256 MiB",
                        tenant_of(c));
    if (rc == IV_OK) {
        size_t len = 0;
        char *text = buf_detach(&lw.w.b, &len);
        *out = api_blob_adopt(text, len);
    }
    buf_release(&lw.w.b);
    return rc;
}

/* The list is served from the response cache when the tenant's generation
 * (one indexed read) says nothing changed since it was rendered; otherwise it
 * is rendered from one read snapshot and cached under that snapshot's
 * generation. Either way the body carries an ETag, and a matching
 * If-None-Match is answered 304 with no body. */
/* Cursor text: hex of "<created_at ms>:<id>" (URL-safe), opaque to clients. */
static char *cursor_encode(int64_t created, const char *id)
{
    char raw[STORE_ID_MAX + 32];
    int n = snprintf(raw, sizeof raw, "%lld:%s", (long long)created, id);
    return hex_encode(raw, (size_t)n);
}

static bool cursor_decode(const char *text, int64_t *created, char *id, size_t idlen)
{
    uint8_t raw[STORE_ID_MAX + 32];
    size_t n = strlen(text) / 2;
    if (strlen(text) % 2 || n == 0 || n >= sizeof raw || hex_decode(text, raw, n) != IV_OK)
        return false;
    bool ok = false;
    char tmp[STORE_ID_MAX + 32];
    {
        memcpy(tmp, raw, n);
        tmp[n] = '\0';
        char *colon = strchr(tmp, ':'), *end = NULL;
        if (colon && strlen(tmp) == n) {
            *colon = '\0';
            long long v = strtoll(tmp, &end, 10);
            if (end && !*end && end != tmp && strlen(colon + 1) > 0 &&
                strlen(colon + 1) < idlen) {
                *created = v;
                snprintf(id, idlen, "%s", colon + 1);
                ok = true;
            }
        }
    }
    return ok;
}

struct page_walk {
    struct list_walk lw;
    int64_t last_created;
    char last_id[STORE_ID_MAX];
};

static int page_visit(void *ctx, const struct store_connector *k)
{
    struct page_walk *pw = ctx;
    pw->last_created = k->created_at;
    snprintf(pw->last_id, sizeof pw->last_id, "%s", k->id);
    return list_visit(&pw->lw, k);
}

/* The paged list (limit, cursor or source_system given): keyset order (created_at, id), so
 * rows added or removed meanwhile never shift a page; next_cursor is null on the last page.
 * Not cached: the unfiltered list without paging keeps the cached fast path. */
static void list_paged(struct api_ctx *c, const char *status)
{
    struct store_page_filter f = {.status = status, .after_created = STORE_NULL_TIME,
                                  .limit = 50};
    char after_id[STORE_ID_MAX];
    const char *ls = api_query(c, "limit"), *cur = api_query(c, "cursor");
    f.source_system = api_query(c, "source_system");
    if (ls && !api_parse_limit(ls, &f.limit)) {
        api_error(c, 422, "validation_error", "limit", "limit must be an integer from 1 to 200.");
        return;
    }
    if (f.source_system && !api_valid_source_system(f.source_system)) {
        api_error(c, 422, "validation_error", "source_system",
                  "source_system must match ^[a-z][a-z0-9_]{0,62}$.");
        return;
    }
    if (cur) {
        if (!cursor_decode(cur, &f.after_created, after_id, sizeof after_id)) {
            api_error(c, 422, "validation_error", "cursor",
                      "cursor is not a next_cursor this server gave.");
            return;
        }
        f.after_id = after_id;
    }
    struct page_walk pw = {.lw.n = 0};
    api_jw_init(&pw.lw.w, (size_t)64 << 20);
    api_jw_raw(&pw.lw.w, "{\"connectors\":[", strlen("{\"connectors\":["));
    bool more = false;
    struct iv_err e = {0};
    int rc = store_connector_page(c->srv->store, tenant_of(c), &f, page_visit, &pw, &more, &e);
    if (rc < 0) {
        buf_release(&pw.lw.w.b);
        api_internal(c, "connector page", &e);
        return;
    }
    api_jw_raw(&pw.lw.w, "],\"count\":", strlen("],\"count\":"));
    api_jw_int(&pw.lw.w, pw.lw.n);
    api_jw_raw(&pw.lw.w, ",\"next_cursor\":", strlen(",\"next_cursor\":"));
    char *next = more ? cursor_encode(pw.last_created, pw.last_id) : NULL;
    api_jw_str(&pw.lw.w, next);
    free(next);
    api_jw_raw(&pw.lw.w, "}", 1);
    size_t len = 0;
    char *text = buf_detach(&pw.lw.w.b, &len);
    api_reply_raw(c, 200, api_blob_adopt(text, len));
}

void api_h_connector_list(struct api_ctx *c)
{
    const char *status = api_query(c, "status");
    enum store_conn_status st;
    if (status && store_conn_status_parse(status, &st) != IV_OK) {
        api_error(c, 422, "validation_error", "status",
                  "status must be one of active, paused, error.");
        return;
    }
    if (api_query(c, "limit") || api_query(c, "cursor") || api_query(c, "source_system")) {
        list_paged(c, status);
        return;
    }
    struct iv_err e = {0};
    char key[STORE_ID_MAX + 32];
    int kl = snprintf(key, sizeof key, "connectors\x1f%s\x1f%s", tenant_of(c),
                      status ? status : "");
    bool cacheable = c->srv->cache && kl > 0 && (size_t)kl < sizeof key;
    struct api_blob *b = NULL;
    int64_t gen = -1, epoch = -1;
    if (cacheable &&
        store_tenant_generation(c->srv->store, tenant_of(c), &gen, &epoch, NULL) == IV_OK)
        b = api_cache_get(c->srv->cache, key, gen, epoch);
    if (!b) {
        int rc = render_list(c, status, &b, &gen, &epoch, &e);
        if (rc < 0) {
            api_internal(c, "connector list", &e);
            return;
        }
        if (cacheable && gen >= 0)
            api_cache_put(c->srv->cache, key, gen, epoch, b);
    }
    snprintf(c->etag, sizeof c->etag, "%s", b->etag);
    if (api_etag_matches(c->if_none_match, b->etag)) {
        api_blob_unref(b);
        api_reply(c, 304, NULL);
        return;
    }
    api_reply_raw(c, 200, b);
}

void api_h_connector_get(struct api_ctx *c)
{
    struct store_connector k;
    struct iv_err e = {0};
    int rc = store_connector_get(c->srv->store, tenant_of(c), api_param(&c->params, "id"), &k,
                                 &e);
    if (store_failed(c, rc, &e, "connector get"))
        return;
    json_t *j = connector_detail(&k);
    store_connector_release(&k);
    char policy[16];
    bool running = false;
    rc = store_connector_ops_info(c->srv->store, tenant_of(c), api_param(&c->params, "id"),
                                  policy, &running, &e);
    if (store_failed(c, rc, &e, "connector ops info")) {
        json_decref(j);
        return;
    }
    json_object_set_new(j, "schema_drift", json_string(policy));
    json_object_set_new(j, "run_in_progress", json_boolean(running));
    api_reply(c, 200, j);
}

/* ---- state changes --------------------------------------------------------------------------- */

void api_h_connector_trigger(struct api_ctx *c)
{
    const char *id = api_param(&c->params, "id");
    struct store_conn_change ch;
    struct iv_err e = {0};
    int rc = store_connector_trigger(c->srv->store, tenant_of(c), id, now_ms(), &ch, &e);
    if (rc == IV_ECONFLICT) {
        api_error(c, 409, "conflict", NULL,
                  "The connector is %s; resume it before triggering a sync.",
                  strstr(e.msg, "error") ? "in error" : "paused");
        return;
    }
    if (store_failed(c, rc, &e, "connector trigger"))
        return;
    const char *msg = ch.followup
                          ? "A sync is running; one follow-up sync will start when it finishes."
                          : "Sync queued; the runner picks it up on its next poll.";
    api_reply(c, 202, json_pack("{s:s, s:s, s:s, s:s}", "connector_id", id, "source_system",
                                ch.source_system, "status", "queued", "message", msg));
}

void api_h_connector_pause(struct api_ctx *c)
{
    const char *id = api_param(&c->params, "id");
    struct store_conn_change ch;
    struct iv_err e = {0};
    int rc = store_connector_pause(c->srv->store, tenant_of(c), id, &ch, &e);
    if (store_failed(c, rc, &e, "connector pause"))
        return;
    api_reply(c, 200, json_pack("{s:s, s:s}", "connector_id", id, "status",
                                store_conn_status_name(ch.status)));
}

void api_h_connector_resume(struct api_ctx *c)
{
    const char *id = api_param(&c->params, "id");
    struct store_connector k;
    struct iv_err e = {0};
    int rc = store_connector_get(c->srv->store, tenant_of(c), id, &k, &e);
    if (store_failed(c, rc, &e, "connector get"))
        return;
    int64_t next_s = cron_next_text(k.sync_schedule, now_s());
    store_connector_release(&k);
    struct store_conn_change ch;
    rc = store_connector_resume(c->srv->store, tenant_of(c), id,
                                next_s > 0 ? next_s * 1000 : STORE_NULL_TIME, &ch, &e);
    if (store_failed(c, rc, &e, "connector resume"))
        return;
    api_reply(c, 200, json_pack("{s:s, s:s}", "connector_id", id, "status",
                                store_conn_status_name(ch.status)));
}

void api_h_connector_delete(struct api_ctx *c)
{
    struct iv_err e = {0};
    int rc = store_connector_delete(c->srv->store, tenant_of(c), api_param(&c->params, "id"), &e);
    if (store_failed(c, rc, &e, "connector delete"))
        return;
    api_reply(c, 204, NULL);
}

void api_h_connector_runs(struct api_ctx *c)
{
    int limit = 50;
    const char *ls = api_query(c, "limit");
    if (ls && !api_parse_limit(ls, &limit)) {
        api_error(c, 422, "validation_error", "limit", "limit must be an integer from 1 to 200.");
        return;
    }
    struct store_run *v = NULL;
    size_t n = 0;
    struct iv_err e = {0};
    int rc = store_run_list(c->srv->store, tenant_of(c), api_param(&c->params, "id"), limit, &v,
                            &n, &e);
    if (store_failed(c, rc, &e, "run list"))
        return;
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, api_run_view(&v[i]));
    store_runs_free(v, n);
    api_reply(c, 200, json_pack("{s:o, s:I}", "runs", arr, "count", (json_int_t)n));
}
