/*
 * metrics.c: GET /metrics in the Prometheus text exposition format (version 0.0.4), for an
 * operator's scraper. Two sources: what this process counted (API requests by route and
 * status with a latency histogram, webhook verifications that failed and why, breaker trips
 * seen by this server's webhook) and what the store says for every process sharing it (runs
 * by status and trigger, rows, transform errors, run durations, connectors by status,
 * runner claims and lease expiries). Aggregates only: no tenant, connector or run id appears,
 * so the route needs no token (docs/operations.md says how to keep it off the public port).
 */
#include "api/api_int.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#define MAX_ROUTES 64
static const int status_codes[] = {200, 201, 202, 204, 304, 400, 401, 403, 404,
                                   405, 409, 413, 422, 429, 431, 500, 502, 503};
#define NSTATUS ((int)(sizeof status_codes / sizeof status_codes[0]) + 1)   /* + other */
static const double latency_le[] = {0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10};
#define NLAT ((int)(sizeof latency_le / sizeof latency_le[0]))

struct route_stats {
    _Atomic int64_t by_status[NSTATUS];
    _Atomic int64_t le[NLAT];          /* not cumulative here; summed when written */
    _Atomic int64_t count, sum_us;
};
/* Index MAX_ROUTES is "unmatched" (404 / 405 before any route). */
static struct route_stats routes[MAX_ROUTES + 1];

static const char *const webhook_reasons[] = {"unknown_connector", "bad_signature", "internal"};
#define NREASONS 3
static _Atomic int64_t webhook_failures[NREASONS];
static _Atomic int64_t breaker_trips;

static int status_slot(int status)
{
    for (int i = 0; i < NSTATUS - 1; i++)
        if (status_codes[i] == status)
            return i;
    return NSTATUS - 1;
}

void api_metrics_request(int route, int status, int64_t elapsed_us)
{
    if (route < 0 || route >= MAX_ROUTES || (size_t)route >= api_routes_count)
        route = MAX_ROUTES;
    struct route_stats *r = &routes[route];
    atomic_fetch_add_explicit(&r->by_status[status_slot(status)], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&r->count, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&r->sum_us, elapsed_us, memory_order_relaxed);
    double s = (double)elapsed_us / 1e6;
    for (int i = 0; i < NLAT; i++)
        if (s <= latency_le[i]) {
            atomic_fetch_add_explicit(&r->le[i], 1, memory_order_relaxed);
            break;
        }
}

void api_metrics_webhook_failure(const char *reason)
{
    for (int i = 0; i < NREASONS; i++)
        if (!strcmp(webhook_reasons[i], reason))
            atomic_fetch_add_explicit(&webhook_failures[i], 1, memory_order_relaxed);
}

void api_metrics_breaker_trip(void)
{
    atomic_fetch_add_explicit(&breaker_trips, 1, memory_order_relaxed);
}

/* ---- exposition ------------------------------------------------------------------------------ */

static void head(struct buf *b, const char *name, const char *type, const char *help)
{
    buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void route_label(int i, char *out, size_t n)
{
    if (i == MAX_ROUTES)
        snprintf(out, n, "method=\"\",route=\"unmatched\"");
    else
        snprintf(out, n, "method=\"%s\",route=\"%s\"", api_routes[i].method, api_routes[i].pattern);
}

static void write_requests(struct buf *b)
{
    char lab[320];
    head(b, "ivory_http_requests_total", "counter", "API requests by route and status.");
    for (int i = 0; i <= MAX_ROUTES; i++) {
        if (i < MAX_ROUTES && (size_t)i >= api_routes_count)
            continue;
        route_label(i, lab, sizeof lab);
        for (int k = 0; k < NSTATUS; k++) {
            int64_t v = atomic_load_explicit(&routes[i].by_status[k], memory_order_relaxed);
            if (!v)
                continue;
            if (k < NSTATUS - 1)
                buf_printf(b, "ivory_http_requests_total{%s,status=\"%d\"} %lld\n", lab,
                           status_codes[k], (long long)v);
            else
                buf_printf(b, "ivory_http_requests_total{%s,status=\"other\"} %lld\n", lab,
                           (long long)v);
        }
    }
    head(b, "ivory_http_request_duration_seconds", "histogram",
         "Time from the request's arrival to its answer, by route.");
    for (int i = 0; i <= MAX_ROUTES; i++) {
        if (i < MAX_ROUTES && (size_t)i >= api_routes_count)
            continue;
        int64_t count = atomic_load_explicit(&routes[i].count, memory_order_relaxed);
        if (!count)
            continue;
        route_label(i, lab, sizeof lab);
        int64_t cum = 0;
        for (int k = 0; k < NLAT; k++) {
            cum += atomic_load_explicit(&routes[i].le[k], memory_order_relaxed);
            buf_printf(b, "ivory_http_request_duration_seconds_bucket{%s,le=\"%g\"} %lld\n", lab,
                       latency_le[k], (long long)cum);
        }
        buf_printf(b, "ivory_http_request_duration_seconds_bucket{%s,le=\"+Inf\"} %lld\n", lab,
                   (long long)count);
        buf_printf(b, "ivory_http_request_duration_seconds_sum{%s} %.6f\n", lab,
                   (double)atomic_load_explicit(&routes[i].sum_us, memory_order_relaxed) / 1e6);
        buf_printf(b, "ivory_http_request_duration_seconds_count{%s} %lld\n", lab,
                   (long long)count);
    }
}

static void write_store(struct buf *b, const struct store_metrics *m)
{
    head(b, "ivory_connectors", "gauge", "Connectors by status.");
    for (int i = 0; i < CONN__COUNT; i++)
        buf_printf(b, "ivory_connectors{status=\"%s\"} %lld\n",
                   store_conn_status_name((enum store_conn_status)i), (long long)m->connectors[i]);
    head(b, "ivory_runs_total", "counter", "Runs by status and trigger (the store's run history).");
    for (int s = 0; s < 4; s++)
        for (int t = 0; t < 6; t++)
            buf_printf(b, "ivory_runs_total{status=\"%s\",trigger=\"%s\"} %lld\n",
                       store_metric_run_status[s], store_metric_run_trigger[t],
                       (long long)m->runs[s][t]);
    head(b, "ivory_rows_synced_total", "counter", "Records read from taps.");
    buf_printf(b, "ivory_rows_synced_total %lld\n", (long long)m->rows_synced);
    head(b, "ivory_rows_loaded_total", "counter", "Rows committed to Iceberg tables.");
    buf_printf(b, "ivory_rows_loaded_total %lld\n", (long long)m->rows_loaded);
    head(b, "ivory_transform_errors_total", "counter", "Rows refused by transforms.");
    buf_printf(b, "ivory_transform_errors_total %lld\n", (long long)m->transform_errors);
    head(b, "ivory_run_duration_seconds", "histogram", "Duration of finished runs.");
    for (int i = 0; i < STORE_DURATION_BUCKETS; i++)
        buf_printf(b, "ivory_run_duration_seconds_bucket{le=\"%lld\"} %lld\n",
                   (long long)store_duration_bucket_s[i], (long long)m->duration_le[i]);
    buf_printf(b, "ivory_run_duration_seconds_bucket{le=\"+Inf\"} %lld\n",
               (long long)m->duration_count);
    buf_printf(b, "ivory_run_duration_seconds_sum %lld\n", (long long)m->duration_sum_s);
    buf_printf(b, "ivory_run_duration_seconds_count %lld\n", (long long)m->duration_count);
    head(b, "ivory_runs_running", "gauge", "Runs held by Ivory runners now.");
    buf_printf(b, "ivory_runs_running %lld\n", (long long)m->running_jobs);
    head(b, "ivory_runner_claims_total", "counter", "Runs claimed by Ivory runners.");
    buf_printf(b, "ivory_runner_claims_total %lld\n", (long long)m->claims);
    head(b, "ivory_runner_lease_expiries_total", "counter",
         "Runs failed because their runner stopped renewing its lease.");
    buf_printf(b, "ivory_runner_lease_expiries_total %lld\n", (long long)m->lease_expiries);
}

void api_h_metrics(struct api_ctx *c)
{
    struct store_metrics m;
    struct iv_err e = {0};
    if (store_metrics_collect(c->srv->store, &m, &e) != IV_OK) {
        api_internal(c, "metrics", &e);
        return;
    }
    struct buf b;
    buf_init(&b, (size_t)4 << 20);
    write_store(&b, &m);
    head(&b, "ivory_webhook_verifications_failed_total", "counter",
         "Webhook deliveries refused before their body was read, by reason.");
    for (int i = 0; i < NREASONS; i++)
        buf_printf(&b, "ivory_webhook_verifications_failed_total{reason=\"%s\"} %lld\n",
                   webhook_reasons[i], (long long)atomic_load(&webhook_failures[i]));
    head(&b, "ivory_breaker_trips_total", "counter",
         "Connectors switched to error by three failed runs in a row (seen by this server).");
    buf_printf(&b, "ivory_breaker_trips_total %lld\n", (long long)atomic_load(&breaker_trips));
    write_requests(&b);
    size_t len = 0;
    char *text = buf_detach(&b, &len);
    api_reply_raw(c, 200, api_blob_adopt(text, len));
    c->content_type = "text/plain; version=0.0.4; charset=utf-8";
}
