/*
 * discovery.c: the connector's stream catalog through the API (docs/api.md, "Discovery and
 * selection"):
 *
 *   POST  /v1/admin/connectors/{id}/discover  asks a runner to run the tap in discovery mode
 *                                             (through a store row: the API holds no config
 *                                             key and runs no tap) and waits for the answer;
 *   GET   /v1/admin/connectors/{id}/catalog   the stored catalog, readable;
 *   PATCH /v1/admin/connectors/{id}/catalog   selection of streams and fields, replication
 *                                             method and key, explicit table names.
 *
 * Every store call is scoped by the token's tenant: another tenant's connector is a 404 and
 * nothing changes. The document's rules live in src/streams; here are HTTP and waiting.
 */
#include "api/api_int.h"
#include "store/store.h"
#include "streams/streams.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PICKUP_WAIT_MS 30000   /* a request no runner claimed by then is given up (503) */

static const char *tenant_of(struct api_ctx *c)
{
    return c->claims.sub;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static char *iso_or_null(int64_t ms)
{
    if (ms == STORE_NULL_TIME)
        return NULL;
    json_t *t = api_time_or_null(ms);
    char *s = json_is_string(t) ? xstrdup(json_string_value(t)) : NULL;
    json_decref(t);
    return s;
}

/* The connector (for destination_table) and its stream catalog; replies 404 itself. */
static bool load_catalog(struct api_ctx *c, struct store_connector *k,
                         struct store_stream_catalog *sc, json_t **doc)
{
    const char *id = api_param(&c->params, "id");
    struct iv_err e = {0};
    int rc = store_connector_get(c->srv->store, tenant_of(c), id, k, &e);
    if (rc == IV_OK)
        rc = store_stream_catalog_get(c->srv->store, tenant_of(c), id, sc, &e);
    if (rc == IV_ENOTFOUND) {
        api_error(c, 404, "not_found", NULL, "Connector not found.");
        return false;
    }
    if (rc != IV_OK) {
        api_internal(c, "stream catalog get", &e);
        return false;
    }
    if (!sc->doc) {
        api_error(c, 404, "not_found", NULL, "The connector has no catalog yet: run discovery "
                  "first (POST /v1/admin/connectors/%s/discover).", id);
        return false;
    }
    *doc = json_loads(sc->doc, 0, NULL);
    if (!*doc) {
        struct iv_err pe = {IV_EINVAL, "stored stream catalog is not valid JSON"};
        api_internal(c, "stream catalog parse", &pe);
        return false;
    }
    return true;
}

static json_t *catalog_view(const json_t *doc, const struct store_connector *k,
                            const struct store_stream_catalog *sc)
{
    char *at = iso_or_null(sc->discovered_at);
    json_t *v = streams_view(doc, k->destination_table, at);
    json_object_set_new(v, "connector_id", json_string(k->id));
    json_object_set_new(v, "destination_table", json_string(k->destination_table));
    free(at);
    return v;
}

void api_h_connector_catalog_get(struct api_ctx *c)
{
    struct store_connector k = {0};
    struct store_stream_catalog sc = {0};
    json_t *doc = NULL;
    if (load_catalog(c, &k, &sc, &doc))
        api_reply(c, 200, catalog_view(doc, &k, &sc));
    json_decref(doc);
    store_stream_catalog_release(&sc);
    store_connector_release(&k);
}

/* ---- PATCH ------------------------------------------------------------------------------- */

void api_h_connector_catalog_patch(struct api_ctx *c)
{
    struct store_connector k = {0};
    struct store_stream_catalog sc = {0};
    json_t *doc = NULL, *newly = NULL;
    char *txt = NULL, *state = NULL;
    if (!load_catalog(c, &k, &sc, &doc))
        goto out;
    char field[160];
    struct iv_err e = {0};
    if (streams_patch(doc, c->json, k.destination_table, k.run_count > 0, &newly, field, &e) != IV_OK) {
        api_error(c, 422, "validation_error", field[0] ? field : NULL, "%s", e.msg);
        goto out;
    }
    /* A stream selected again starts from its beginning: its bookmark goes, the others'
     * stay. That edit is refused while a sync runs (its final STATE would bring it back). */
    state = streams_state_without(sc.tap_state, newly);
    txt = json_dumps(doc, JSON_COMPACT);
    struct store_stream_catalog_write w = {
        .doc = txt, .expect_version = sc.version, .discovered_at = STORE_NULL_TIME,
        .set_state = state != NULL, .new_state = state, .refuse_if_running = state != NULL,
    };
    int rc = store_stream_catalog_put(c->srv->store, tenant_of(c), k.id, &w, &e);
    if (rc == IV_EAGAIN) {
        api_error(c, 409, "conflict", NULL, "A sync of this connector is running; a newly "
                  "selected stream resets its bookmark, which can only happen between runs. "
                  "Retry when the run ends.");
        goto out;
    }
    if (rc == IV_ECONFLICT) {
        api_error(c, 409, "conflict", NULL, "The connector's catalog changed while this "
                  "request was applied (a discovery or another update); read it and retry.");
        goto out;
    }
    if (rc != IV_OK) {
        api_internal(c, "stream catalog put", &e);
        goto out;
    }
    api_reply(c, 200, catalog_view(doc, &k, &sc));
out:
    free(txt);
    free(state);
    json_decref(newly);
    json_decref(doc);
    store_stream_catalog_release(&sc);
    store_connector_release(&k);
}

/* ---- POST discover ----------------------------------------------------------------------- */

static const char *error_code_for(int status)
{
    switch (status) {
    case 404: return "not_found";
    case 422: return "discovery_failed";
    case 502: return "tap_crashed";
    case 504: return "timeout";
    default: return "unavailable";
    }
}

/* Waits for the runner's answer; fills *out with the finished request or gives it up. */
static int wait_for_runner(struct api_ctx *c, const char *req_id, struct store_discovery *out,
                           struct iv_err *e)
{
    int64_t start = mono_ms();
    int64_t total_ms = (int64_t)(c->srv->cfg->discover_timeout_s * 1000.0) + 30000 +
                       PICKUP_WAIT_MS;
    int nap = 20;
    for (;;) {
        store_discovery_release(out);
        int rc = store_discovery_get(c->srv->store, tenant_of(c), req_id, out, e);
        if (rc != IV_OK)
            return rc;
        if (!strcmp(out->status, "done") || !strcmp(out->status, "failed"))
            return IV_OK;
        int64_t waited = mono_ms() - start;
        bool pending = !strcmp(out->status, "pending");
        if ((pending && waited > PICKUP_WAIT_MS) || waited > total_ms) {
            const char *why = pending
                ? "No runner took the discovery request within 30 s (is a runner running "
                  "against this store?)."
                : "The runner did not answer within the discovery timeout "
                  "(IVORY_DISCOVER_TIMEOUT).";
            int status = pending ? 503 : 504;
            /* losing the race to the runner's late answer is fine: read what won */
            IV_DISCARD(store_discovery_abandon(c->srv->store, tenant_of(c), req_id, status,
                                               why, e));
            continue;   /* read what won: the abandon, or the runner's late answer */
        }
        sleep_ms(nap);
        nap = nap < 250 ? nap * 2 : 250;
    }
}

void api_h_connector_discover(struct api_ctx *c)
{
    const char *id = api_param(&c->params, "id");
    struct store_discovery d = {0};
    struct store_connector k = {0};
    struct store_stream_catalog sc = {0};
    json_t *doc = NULL;
    struct iv_err e = {0};
    char req_id[37];
    uuid_v4(req_id);
    int rc = store_discovery_request(c->srv->store, tenant_of(c), id, req_id, now_ms(), &e);
    if (rc == IV_ENOTFOUND) {
        api_error(c, 404, "not_found", NULL, "Connector not found.");
        goto out;
    }
    if (rc != IV_OK || (rc = wait_for_runner(c, req_id, &d, &e)) != IV_OK) {
        api_internal(c, "discovery request", &e);
        goto out;
    }
    if (strcmp(d.status, "done")) {
        api_error(c, d.http_status ? d.http_status : 500, error_code_for(d.http_status), NULL,
                  "%s", d.detail ? d.detail : "Discovery failed.");
        goto out;
    }
    if (!load_catalog(c, &k, &sc, &doc))
        goto out;
    json_t *v = catalog_view(doc, &k, &sc);
    json_t *report = d.report ? json_loads(d.report, 0, NULL) : NULL;
    json_object_set_new(v, "changes", report ? report : json_null());
    api_reply(c, 200, v);
out:
    json_decref(doc);
    store_discovery_release(&d);
    store_stream_catalog_release(&sc);
    store_connector_release(&k);
}
