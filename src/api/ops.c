/*
 * ops.c: operating a connector day to day (docs/api.md, "Operating a connector"): PATCH
 * without losing the bookmark, the bookmark itself (GET, PUT while paused, resync), webhook
 * secret rotation, one run's detail with live progress, and cancelling a running sync.
 * Every route is tenant-scoped like the rest: another tenant's connector or run is 404.
 */
#include "api/api_int.h"
#include "sched/sched.h"

#include <openssl/crypto.h>
#include <stdlib.h>

#include <stdio.h>
#include <string.h>

/* How long a rotated-out webhook secret keeps verifying (IVORY_WEBHOOK_SECRET_GRACE). */
#define DEFAULT_SECRET_GRACE_S 86400

static const char *tenant_of(struct api_ctx *c)
{
    return c->claims.sub;
}

static bool store_failed(struct api_ctx *c, int rc, const struct iv_err *e, const char *what,
                         const char *missing)
{
    if (rc == IV_OK)
        return false;
    if (rc == IV_ENOTFOUND)
        api_error(c, 404, "not_found", NULL, "%s", missing);
    else if (rc == IV_ECONFLICT)
        api_error(c, 409, "conflict", NULL, "The request conflicts with the connector's state: %s.",
                  e->msg);
    else
        api_internal(c, what, e);
    return true;
}

#define NO_CONNECTOR "Connector not found."
#define NO_RUN "Run not found for this connector."

/* ---- PATCH -------------------------------------------------------------------------------- */

void api_h_connector_patch(struct api_ctx *c)
{
    const char *id = api_param(&c->params, "id");
    struct api_field_values fv;
    if (!api_fields_parse(c, &api_connector_resource, AF_PATCH, &fv))
        return;
    if (json_object_size(c->json) == 0) {
        api_error(c, 422, "validation_error", NULL, "The body names no field to change.");
        return;
    }
    struct store_connector_patch p = {.next_run_at = STORE_NULL_TIME};
    p.sync_schedule = api_fields_str(&fv, "sync_schedule");
    if (p.sync_schedule) {
        int64_t next_s = cron_next_text(p.sync_schedule, now_s());
        p.next_run_at = next_s > 0 ? next_s * 1000 : STORE_NULL_TIME;
    }
    p.config_encrypted = api_fields_str(&fv, "config_encrypted");
    p.config_clear = api_fields_has(&fv, "config_encrypted") && !p.config_encrypted;
    if (p.config_encrypted && !api_config_encrypted_ok(c, p.config_encrypted))
        return;
    p.tap_version = api_fields_str(&fv, "tap_version");
    p.tap_version_clear = api_fields_has(&fv, "tap_version") && !p.tap_version;
    p.meltano_environment = api_fields_str(&fv, "meltano_environment");
    p.destination_table = api_fields_str(&fv, "destination_table");
    p.schema_drift = api_fields_str(&fv, "schema_drift");
    struct iv_err e = {0};
    int rc = store_connector_patch(c->srv->store, tenant_of(c), id, &p, &e);
    if (store_failed(c, rc, &e, "connector patch", NO_CONNECTOR))
        return;
    log_info("connector %s of tenant %s changed", id, tenant_of(c));
    /* The answer is the connector as GET shows it now. */
    api_h_connector_get(c);
}

/* ---- the bookmark ----------------------------------------------------------------------------- */

void api_h_state_get(struct api_ctx *c)
{
    const char *id = api_param(&c->params, "id");
    struct store_connector k;
    struct iv_err e = {0};
    int rc = store_connector_get(c->srv->store, tenant_of(c), id, &k, &e);
    if (store_failed(c, rc, &e, "state get", NO_CONNECTOR))
        return;
    api_reply(c, 200, json_pack("{s:s, s:o, s:o}", "connector_id", id, "tap_state",
                                api_json_text_or_null(k.tap_state), "updated_at",
                                api_time_or_null(k.updated_at)));
    store_connector_release(&k);
}

void api_h_state_put(struct api_ctx *c)
{
    const char *id = api_param(&c->params, "id");
    struct api_field_values fv;
    if (!api_fields_parse(c, &api_state_resource, AF_CREATE, &fv))
        return;
    char *text = json_dumps_compact(api_fields_json(&fv, "tap_state"));
    char run_id[37];
    uuid_v4(run_id);
    struct iv_err e = {0};
    int rc = store_connector_state_put(c->srv->store, tenant_of(c), id, run_id, text, &e);
    free(text);
    if (store_failed(c, rc, &e, "state put", NO_CONNECTOR))
        return;
    log_info("connector %s: bookmark replaced by the API (run %s records the edit)", id, run_id);
    api_h_state_get(c);
}

void api_h_connector_resync(struct api_ctx *c)
{
    const char *id = api_param(&c->params, "id");
    char run_id[37];
    uuid_v4(run_id);
    struct iv_err e = {0};
    int rc = store_connector_resync(c->srv->store, tenant_of(c), id, run_id, now_ms(), &e);
    if (store_failed(c, rc, &e, "resync", NO_CONNECTOR))
        return;
    log_info("connector %s: bookmark cleared for a full resync", id);
    api_reply(c, 202, json_pack("{s:s, s:s, s:s}", "connector_id", id, "status", "queued",
                                "message", "Bookmark cleared; a full sync starts on the "
                                           "runner's next poll."));
}

/* ---- webhook secret rotation --------------------------------------------------------------------- */

void api_h_rotate_webhook_secret(struct api_ctx *c)
{
    const char *id = api_param(&c->params, "id");
    uint8_t raw[32];
    random_bytes(raw, sizeof raw);
    char *secret_hex = hex_encode(raw, sizeof raw);
    OPENSSL_cleanse(raw, sizeof raw);
    char *sealed = secret_seal(c->srv->master_key, secret_hex, strlen(secret_hex));
    const char *g = getenv("IVORY_WEBHOOK_SECRET_GRACE");
    int64_t grace_s = g && *g ? strtoll(g, NULL, 10) : DEFAULT_SECRET_GRACE_S;
    if (grace_s < 0)
        grace_s = 0;
    int64_t until = now_ms() + grace_s * 1000;
    struct iv_err e = {0};
    int rc = sealed ? store_webhook_rotate(c->srv->store, tenant_of(c), id, sealed, until, &e)
                    : iv_err_set(&e, IV_EIO, "sealing the webhook secret failed");
    if (!store_failed(c, rc, &e, "rotate webhook secret", NO_CONNECTOR)) {
        json_t *j = json_pack("{s:s, s:s}", "connector_id", id, "webhook_secret", secret_hex);
        json_object_set_new(j, "previous_secret_valid_until", api_time_or_null(until));
        api_reply(c, 200, j);
        log_info("connector %s: webhook secret rotated; the previous one verifies for %lld s",
                 id, (long long)grace_s);
    }
    OPENSSL_cleanse(secret_hex, strlen(secret_hex));
    free(secret_hex);
    free(sealed);
}

/* ---- runs -------------------------------------------------------------------------------------- */

void api_h_run_get(struct api_ctx *c)
{
    struct store_run_detail d;
    struct iv_err e = {0};
    int rc = store_run_get(c->srv->store, tenant_of(c), api_param(&c->params, "id"),
                           api_param(&c->params, "run_id"), &d, &e);
    if (store_failed(c, rc, &e, "run get", NO_RUN))
        return;
    json_t *j = api_run_view(&d.run);
    json_object_set_new(j, "connector_id", json_string(d.run.connector_id));
    json_object_set_new(j, "state_before", api_json_text_or_null(d.run.state_before));
    json_object_set_new(j, "state_after", api_json_text_or_null(d.run.state_after));
    json_object_set_new(j, "snapshot_id", api_str_or_null(d.run.snapshot_id));
    json_object_set_new(j, "stream_rows", api_json_text_or_null(d.stream_rows));
    json_object_set_new(j, "log_tail", api_str_or_null(d.run.log_tail));
    /* the first transform errors of a mapped run (docs/transforms.md) */
    json_t *samples = api_json_text_or_null(d.transform_samples);
    json_object_set_new(j, "transform_samples", json_is_array(samples) ? samples : json_array());
    if (!json_is_array(samples))
        json_decref(samples);
    /* the schema changes the run applied to existing tables (docs/api.md "Schema drift") */
    json_t *changes = api_json_text_or_null(d.schema_changes);
    json_object_set_new(j, "schema_changes", json_is_array(changes) ? changes : json_array());
    if (!json_is_array(changes))
        json_decref(changes);
    if (!strcmp(d.run.status, "running"))
        json_object_set_new(j, "progress",
                            json_pack("{s:I, s:I, s:o, s:b}", "rows_read",
                                      (json_int_t)d.run.rows_synced, "rows_committed",
                                      (json_int_t)d.rows_committed, "last_checkpoint_at",
                                      api_time_or_null(d.last_checkpoint_at), "cancel_requested",
                                      d.cancel_requested));
    else
        json_object_set_new(j, "progress", json_null());
    store_run_detail_release(&d);
    api_reply(c, 200, j);
}

void api_h_run_cancel(struct api_ctx *c)
{
    const char *id = api_param(&c->params, "id"), *run_id = api_param(&c->params, "run_id");
    bool immediate = false;
    struct iv_err e = {0};
    int rc = store_run_cancel(c->srv->store, tenant_of(c), id, run_id, &immediate, &e);
    if (rc == IV_ECONFLICT) {
        api_error(c, 409, "conflict", NULL, "Only a running run can be cancelled: %s.", e.msg);
        return;
    }
    if (store_failed(c, rc, &e, "run cancel", NO_RUN))
        return;
    log_info("run %s of connector %s: cancel requested", run_id, id);
    api_reply(c, 202, json_pack("{s:s, s:s, s:s, s:s}", "connector_id", id, "run_id", run_id,
                                "status", immediate ? "cancelled" : "cancelling", "message",
                                immediate ? "The run was not held by an Ivory runner; it is "
                                            "marked cancelled."
                                          : "The runner stops the tap (TERM, then KILL after a "
                                            "grace period); nothing after the last checkpoint "
                                            "is committed."));
}
