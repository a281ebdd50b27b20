/*
 * webhook.c: POST /v1/etl/meltano/webhook, the runner's completion callback
 * (docs/api.md "Runner webhook"). No JWT: the body names its connector, whose sealed secret
 * verifies X-Ivory-Signature (HMAC-SHA256 over "<t>." + raw body, 300 s
 * window, constant-time compare). Every authentication failure is the same
 * bare 401, whatever the reason (unknown connector, stale t, wrong MAC).
 *
 * Only after the signature holds is the body validated (422) and applied by
 * the store in one transaction, idempotent by run_id.
 */
#include "api/api_int.h"

#include <openssl/crypto.h>
#include "sched/sched.h"

#include <stdio.h>
#include <string.h>

#define SIGNATURE_TOLERANCE_S 300

static void unauthorized(struct api_ctx *c)
{
    api_error(c, 401, "unauthorized", NULL, "Invalid signature.");
}

static bool verify(struct api_ctx *c, const char *connector_id, char *tenant_out)
{
    char *sealed = NULL, *prev_sealed = NULL;
    uint8_t *secret = NULL, *prev = NULL;
    size_t secret_len = 0, prev_len = 0;
    struct iv_err e = {0};
    bool ok = false;
    int rc = store_webhook_lookup(c->srv->store, connector_id, tenant_out, &sealed, &e);
    if (rc == IV_ENOTFOUND) {
        log_info("webhook: unknown connector %s", connector_id);
        api_metrics_webhook_failure("unknown_connector");
        unauthorized(c);
        goto out;
    }
    if (rc < 0) {
        api_internal(c, "webhook lookup", &e);
        goto out;
    }
    rc = secret_unseal(c->srv->master_key, sealed, &secret, &secret_len, &e);
    if (rc < 0) {
        api_internal(c, "webhook secret unseal", &e);
        goto out;
    }
    /* During a rotation's grace period the previous secret verifies too. */
    rc = store_webhook_previous(c->srv->store, connector_id, now_ms(), &prev_sealed, &e);
    if (rc == IV_OK && prev_sealed)
        rc = secret_unseal(c->srv->master_key, prev_sealed, &prev, &prev_len, &e);
    if (rc < 0) {
        api_internal(c, "webhook previous secret", &e);
        goto out;
    }
    const uint8_t *secrets[2] = {secret, prev};
    size_t lens[2] = {secret_len, prev_len};
    if (!webhook_verify(c->header_signature, secrets, lens, prev ? 2 : 1, c->body, c->body_len,
                        now_s(), SIGNATURE_TOLERANCE_S)) {
        log_info("webhook: signature rejected for connector %s", connector_id);
        api_metrics_webhook_failure("bad_signature");
        unauthorized(c);
        goto out;
    }
    ok = true;
out:
    if (secret) {
        OPENSSL_cleanse(secret, secret_len);
        free(secret);
    }
    if (prev) {
        OPENSSL_cleanse(prev, prev_len);
        free(prev);
    }
    free(sealed);
    free(prev_sealed);
    return ok;
}

/* An ISO-8601 time field (already type-checked by the field table), or STORE_NULL_TIME. */
static bool field_time(struct api_ctx *c, const struct api_field_values *fv, const char *key,
                       int64_t *out)
{
    const char *s = api_fields_str(fv, key);
    *out = STORE_NULL_TIME;
    if (!s)
        return true;
    int64_t us;
    if (iso8601_parse_us(s, strlen(s), &us) != IV_OK) {
        api_error(c, 422, "validation_error", key, "%s must be an ISO-8601 timestamp.", key);
        return false;
    }
    *out = us / 1000;
    return true;
}

static int64_t field_count(const struct api_field_values *fv, const char *key)
{
    const json_t *v = api_fields_json(fv, key);
    return v && json_is_integer(v) ? (int64_t)json_integer_value(v) : 0;
}

/* A run an Ivory runner holds (it has a runner job) is reported by that runner only: the
 * request must carry X-Ivory-Runner = the holder's id and X-Ivory-Runner-Signature made with
 * runner_report_key(master, holder), which a tenant cannot compute. Otherwise 409: the
 * runner's own report would be dropped as a replay if a tenant's came first. Runs without
 * a runner job (external runners, finished runs) are unaffected. */
static bool held_run_reported_by_holder(struct api_ctx *c, const char *tenant, const char *run_id)
{
    bool held = false;
    char holder[STORE_RUNNER_ID_MAX];
    struct iv_err e = {0};
    if (store_job_holder(c->srv->store, tenant, run_id, &held, holder, &e) != IV_OK) {
        api_internal(c, "webhook holder lookup", &e);
        return false;
    }
    if (!held)
        return true;
    bool ok = false;
    if (c->header_runner && c->header_runner_sig && !strcmp(c->header_runner, holder)) {
        uint8_t key[32];
        runner_report_key(c->srv->master_key, holder, key);
        const uint8_t *keys[1] = {key};
        size_t lens[1] = {sizeof key};
        ok = webhook_verify(c->header_runner_sig, keys, lens, 1, c->body, c->body_len, now_s(),
                            SIGNATURE_TOLERANCE_S);
        OPENSSL_cleanse(key, sizeof key);
    }
    if (!ok) {
        log_warn("webhook: report for run %s refused: the run is held by Ivory runner %s",
                 run_id, holder);
        api_error(c, 409, "conflict", "run_id", "Run %s is being executed by an Ivory runner; "
                  "only that runner can report it.", run_id);
    }
    return ok;
}

void api_h_webhook(struct api_ctx *c)
{
    const char *connector_id = json_str(c->json, "connector_id");
    char tenant[STORE_ID_MAX];
    if (!connector_id || !*connector_id || strlen(connector_id) >= STORE_ID_MAX) {
        api_metrics_webhook_failure("unknown_connector");
        unauthorized(c);
        return;
    }
    if (!verify(c, connector_id, tenant))
        return;

    struct api_field_values fv;
    if (!api_fields_parse(c, &api_webhook_resource, AF_CREATE, &fv))
        return;
    struct store_webhook w = {.connector_id = connector_id};
    w.run_id = api_fields_str(&fv, "run_id");
    const char *status = api_fields_str(&fv, "status");
    w.completed = !strcmp(status, "completed");
    w.cancelled = !strcmp(status, "cancelled");
    w.rows_synced = field_count(&fv, "rows_synced");
    w.rows_loaded = field_count(&fv, "rows_loaded");
    w.transform_errors = field_count(&fv, "transform_errors");
    w.error_msg = api_fields_str(&fv, "error_msg");
    w.iomete_table = api_fields_str(&fv, "iomete_table");
    if (!field_time(c, &fv, "started_at", &w.started_at) ||
        !field_time(c, &fv, "completed_at", &w.completed_at))
        return;
    const json_t *ts = api_fields_json(&fv, "tap_state");
    char *state_text = ts && json_is_object(ts) ? json_dumps_compact(ts) : NULL;
    w.tap_state = state_text;
    const json_t *snap = api_fields_json(&fv, "snapshot_id");
    char snap_buf[32];
    if (snap && json_is_integer(snap)) {
        snprintf(snap_buf, sizeof snap_buf, "%lld", (long long)json_integer_value(snap));
        w.snapshot_id = snap_buf;
    } else if (snap && json_is_string(snap)) {
        w.snapshot_id = json_string_value(snap);
    }
    if (!held_run_reported_by_holder(c, tenant, w.run_id)) {
        free(state_text);
        return;
    }

    struct store_policy pol = {
        .cron_next = cron_next_text,
        .backoff = backoff_next_retry,
        .breaker_failures = 3,
    };
    struct store_webhook_result res;
    struct iv_err e = {0};
    int rc = store_webhook_apply(c->srv->store, tenant, &w, &pol, now_ms(), &res, &e);
    free(state_text);
    if (rc == IV_ENOTFOUND) {
        api_error(c, 404, "not_found", "run_id", "Run not found for this connector.");
        return;
    }
    if (rc < 0) {
        api_internal(c, "webhook apply", &e);
        return;
    }
    if (!res.replay && !w.completed && !w.cancelled && res.status == CONN_ERROR &&
        res.consecutive_failures == pol.breaker_failures)
        api_metrics_breaker_trip();
    json_t *j = json_pack("{s:s, s:s, s:b, s:s, s:I}", "connector_id", connector_id, "run_id",
                          w.run_id, "replay", res.replay, "connector_status",
                          store_conn_status_name(res.status), "consecutive_failures",
                          (json_int_t)res.consecutive_failures);
    json_object_set_new(j, "next_run_at", api_time_or_null(res.next_run_at));
    api_reply(c, 200, j);
}
