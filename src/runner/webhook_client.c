/*
 * webhook_client.c: the runner's completion callback (docs/runner.md, docs/api.md).
 *
 * POST {api_url}/v1/etl/meltano/webhook with libcurl, signed with
 * webhook_sign() over the exact body bytes, a fresh timestamp per attempt (a
 * retry long after the first try must not fall outside the API's 300 s
 * window). Retries on connection errors, timeouts, 5xx and 429 with
 * exponential backoff; the API is idempotent by run_id, so a delivery that
 * succeeded but whose answer was lost is safe to repeat. The response body is
 * read but discarded (bounded).
 */
#include "runner/child.h"
#include "crypto/crypto.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#define WEBHOOK_PATH "/v1/etl/meltano/webhook"

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init_once(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

static size_t discard_body(char *p, size_t size, size_t n, void *ud)
{
    (void)p;
    size_t *total = ud;
    *total += size * n;
    return *total > 1024 * 1024 ? 0 : size * n;   /* abort absurd answers */
}

static void sleep_ms(int64_t ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* One attempt. Returns the HTTP status, or 0 with a curl error text in err. */
static long post_once(CURL *h, const char *url, const uint8_t *secret, size_t secret_len,
                      const char *body, size_t body_len, long connect_ms, long total_ms,
                      const struct webhook_client_opts *o, char err[CURL_ERROR_SIZE])
{
    int64_t t = now_s();
    char *sig = webhook_sign(secret, secret_len, t, body, body_len);
    char *sig_hdr = xasprintf("X-Ivory-Signature: %s", sig);
    struct curl_slist *hdrs = NULL;
    hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
    hdrs = curl_slist_append(hdrs, sig_hdr);
    char *runner_hdr = NULL, *runner_sig_hdr = NULL;
    if (o && o->runner_id && o->runner_key) {
        char *rsig = webhook_sign(o->runner_key, 32, t, body, body_len);
        runner_hdr = xasprintf("X-Ivory-Runner: %s", o->runner_id);
        runner_sig_hdr = xasprintf("X-Ivory-Runner-Signature: %s", rsig);
        free(rsig);
        hdrs = curl_slist_append(hdrs, runner_hdr);
        hdrs = curl_slist_append(hdrs, runner_sig_hdr);
    }
    hdrs = curl_slist_append(hdrs, "Expect:");   /* no 100-continue round trip */
    size_t got = 0;
    err[0] = '\0';
    curl_easy_reset(h);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_POST, 1L);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, connect_ms);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, total_ms);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &got);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, err);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "ivory-runner/" IVORY_VERSION);
    long status = 0;
    CURLcode cc = curl_easy_perform(h);
    if (cc == CURLE_OK) {
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    } else if (!err[0]) {
        snprintf(err, CURL_ERROR_SIZE, "%s", curl_easy_strerror(cc));
    }
    curl_slist_free_all(hdrs);
    free(sig_hdr);
    free(runner_hdr);
    free(runner_sig_hdr);
    free(sig);
    return status;
}

int webhook_client_post(const char *api_url, const uint8_t *secret, size_t secret_len,
                        const char *body_json, const struct webhook_client_opts *o,
                        struct iv_err *e)
{
    if (!api_url || !*api_url || !body_json)
        return iv_err_set(e, IV_EINVAL, "webhook: api url and body are required");
    int max_attempts = o && o->max_attempts > 0 ? o->max_attempts : 12;
    int64_t budget = o && o->budget_ms > 0 ? o->budget_ms : 15 * 60 * 1000;
    long connect_ms = o && o->connect_timeout_ms > 0 ? o->connect_timeout_ms : 5000;
    long total_ms = o && o->request_timeout_ms > 0 ? o->request_timeout_ms : 30000;
    int64_t backoff = o && o->backoff_initial_ms > 0 ? o->backoff_initial_ms : 1000;
    int64_t backoff_max = o && o->backoff_max_ms > 0 ? o->backoff_max_ms : 60000;

    pthread_once(&curl_once, curl_init_once);
    size_t ul = strlen(api_url);
    while (ul > 0 && api_url[ul - 1] == '/')
        ul--;
    char *url = xasprintf("%.*s%s", (int)ul, api_url, WEBHOOK_PATH);
    CURL *h = curl_easy_init();
    if (!h) {
        free(url);
        return iv_err_set(e, IV_EIO, "webhook: cannot initialise libcurl");
    }
    size_t body_len = strlen(body_json);
    int64_t start = mono_ms();
    char last[CURL_ERROR_SIZE + 64] = "no attempt made";
    int rc = IV_EIO;
    int attempt = 0;
    for (;;) {
        attempt++;
        /* never let one request run past the budget */
        int64_t left = budget - (mono_ms() - start);
        long this_total = left < total_ms ? (long)(left > 1000 ? left : 1000) : total_ms;
        char err[CURL_ERROR_SIZE];
        long status = post_once(h, url, secret, secret_len, body_json, body_len, connect_ms,
                                this_total, o, err);
        if (status >= 200 && status < 300) {
            rc = IV_OK;
            break;
        }
        bool retry;
        if (status == 0) {
            snprintf(last, sizeof last, "%s", err);
            retry = true;
        } else {
            snprintf(last, sizeof last, "HTTP %ld", status);
            retry = status >= 500 || status == 429 || status == 408;
        }
        if (!retry) {
            rc = iv_err_set(e, IV_EINVAL, "webhook %s rejected the delivery: %s (not retried)",
                            url, last);
            break;
        }
        if (attempt >= max_attempts || (o && o->cancel && *o->cancel) ||
            mono_ms() - start + backoff > budget) {
            rc = iv_err_set(e, IV_EIO, "webhook %s not acknowledged after %d attempt%s in %lld s:"
                            " %s", url, attempt, attempt == 1 ? "" : "s",
                            (long long)((mono_ms() - start) / 1000), last);
            break;
        }
        log_warn("webhook attempt %d to %s failed (%s); retrying in %lld ms", attempt, url, last,
                 (long long)backoff);
        /* sleep in slices so a cancel request is seen promptly */
        for (int64_t slept = 0; slept < backoff;) {
            if (o && o->cancel && *o->cancel)
                break;
            int64_t step = backoff - slept < 200 ? backoff - slept : 200;
            sleep_ms(step);
            slept += step;
        }
        backoff = backoff * 2 > backoff_max ? backoff_max : backoff * 2;
    }
    curl_easy_cleanup(h);
    free(url);
    return rc;
}
