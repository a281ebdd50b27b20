/*
 * lake/http: the lake's outbound HTTP client (see lake_http.h) — one libcurl
 * easy handle per request, SigV4 signing by libcurl, bounded response bodies,
 * retries with backoff.
 *
 * Why one module: S3, Glue and Iceberg REST all need the same things (auth,
 * timeouts, retry on 5xx/429/timeouts, no secret in any message); writing
 * them once keeps the three clients short.
 *
 * Timeouts: connect 10 s; a transfer is abandoned when it moves fewer than 1
 * byte per second for 30 s (so a large upload is never cut by a total limit),
 * or after timeout_ms when the caller sets one.
 */
#include "lake/lake_http.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_MAX_RESP ((size_t)16 << 20)

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static int env_attempts = 5;
static int64_t env_backoff_ms = 100;

static void http_init_once(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const char *a = getenv("IVORY_LAKE_HTTP_ATTEMPTS");
    if (a && atoi(a) >= 1 && atoi(a) <= 20)
        env_attempts = atoi(a);
    const char *b = getenv("IVORY_LAKE_HTTP_BACKOFF_MS");
    if (b && atoi(b) >= 1 && atoi(b) <= 60000)
        env_backoff_ms = atoi(b);
}

int lake_http_default_attempts(void)
{
    pthread_once(&curl_once, http_init_once);
    return env_attempts;
}

void lake_http_req_init(struct lake_http_req *r, const char *method, const char *url)
{
    memset(r, 0, sizeof *r);
    r->method = method;
    r->url = url;
    r->body_fd = -1;
    r->out_fd = -1;
}

void lake_http_resp_release(struct lake_http_resp *r)
{
    buf_release(&r->body);
    memset(r, 0, sizeof *r);
}

char *lake_url_encode(const char *s, bool keep_slash)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = strlen(s);
    char *out = xmalloc(n * 3 + 1);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')
            || c == '-' || c == '_' || c == '.' || c == '~' || (keep_slash && c == '/')) {
            out[k++] = (char)c;
        } else {
            out[k++] = '%';
            out[k++] = hex[c >> 4];
            out[k++] = hex[c & 15];
        }
    }
    out[k] = '\0';
    return out;
}

/* ---- one attempt ------------------------------------------------------------------------- */

struct xfer {
    const struct lake_http_req *r;
    struct lake_http_resp *out;
    size_t sent;                  /* bytes of the body already given to curl */
    bool too_big;
    bool write_failed;
};

static size_t on_body(char *p, size_t sz, size_t nm, void *ud)
{
    struct xfer *x = ud;
    size_t n = sz * nm;
    if (x->r->out_fd >= 0) {
        if (fd_write_all(x->r->out_fd, p, n) < 0) {
            x->write_failed = true;
            return 0;
        }
        return n;
    }
    if (buf_append(&x->out->body, p, n) != IV_OK) {
        x->too_big = true;
        return 0;
    }
    return n;
}

static size_t on_header(char *p, size_t sz, size_t nm, void *ud)
{
    struct xfer *x = ud;
    size_t n = sz * nm;
    if (n > 5 && strncasecmp(p, "ETag:", 5) == 0) {
        const char *v = p + 5;
        size_t len = n - 5;
        while (len && (*v == ' ' || *v == '\t')) {
            v++;
            len--;
        }
        while (len && (v[len - 1] == '\r' || v[len - 1] == '\n' || v[len - 1] == ' '))
            len--;
        if (len < sizeof x->out->etag) {
            memcpy(x->out->etag, v, len);
            x->out->etag[len] = '\0';
        }
    } else if (n > 15 && strncasecmp(p, "Content-Length:", 15) == 0) {
        x->out->content_length = strtoll(p + 15, NULL, 10);
    }
    return n;
}

static size_t on_read(char *p, size_t sz, size_t nm, void *ud)
{
    struct xfer *x = ud;
    const struct lake_http_req *r = x->r;
    size_t want = sz * nm;
    size_t total = r->body_fd >= 0 ? r->body_fd_len : r->body_len;
    size_t left = total - x->sent;
    if (want > left)
        want = left;
    if (want == 0)
        return 0;
    if (r->body_fd < 0) {
        memcpy(p, (const char *)r->body + x->sent, want);
        x->sent += want;
        return want;
    }
    ssize_t k = pread(r->body_fd, p, want, r->body_off + (off_t)x->sent);
    if (k <= 0)
        return CURL_READFUNC_ABORT;
    x->sent += (size_t)k;
    return (size_t)k;
}

static void set_body(CURL *h, const struct lake_http_req *r, struct xfer *x)
{
    bool upload = strcmp(r->method, "PUT") == 0;
    if (r->body_fd >= 0) {
        curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
        curl_easy_setopt(h, CURLOPT_READDATA, x);
        if (upload) {
            curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
            curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)r->body_fd_len);
        } else {
            curl_easy_setopt(h, CURLOPT_POST, 1L);
            curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->body_fd_len);
        }
        return;
    }
    if (upload) {
        curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
        curl_easy_setopt(h, CURLOPT_READDATA, x);
        curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)r->body_len);
    } else if (strcmp(r->method, "POST") == 0) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->body_len);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, r->body ? r->body : "");
    } else if (strcmp(r->method, "HEAD") == 0) {
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    } else if (strcmp(r->method, "GET") != 0) {
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, r->method);
    }
}

/* Returns the HTTP status, or 0 with err filled on a transport failure. */
static long attempt_once(const struct lake_http_req *r, struct lake_http_resp *out,
                         char err[CURL_ERROR_SIZE], bool *fatal)
{
    CURL *h = curl_easy_init();
    if (!h) {
        snprintf(err, CURL_ERROR_SIZE, "cannot initialise libcurl");
        *fatal = true;
        return 0;
    }
    struct xfer x = { .r = r, .out = out };
    struct curl_slist *hl = NULL;
    char *auth = NULL;
    for (const char *const *hp = r->headers; hp && *hp; hp++)
        hl = curl_slist_append(hl, *hp);
    if (r->bearer) {
        auth = xasprintf("Authorization: Bearer %s", r->bearer);
        hl = curl_slist_append(hl, auth);
    }
    hl = curl_slist_append(hl, "Expect:");
    err[0] = '\0';
    curl_easy_setopt(h, CURLOPT_URL, r->url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, err);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, 30L);
    if (r->timeout_ms > 0)
        curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, r->timeout_ms);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &x);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &x);
    if (r->sigv4) {
        curl_easy_setopt(h, CURLOPT_AWS_SIGV4, r->sigv4);
        curl_easy_setopt(h, CURLOPT_USERNAME, r->access_key ? r->access_key : "");
        curl_easy_setopt(h, CURLOPT_PASSWORD, r->secret_key ? r->secret_key : "");
    }
    set_body(h, r, &x);
    CURLcode cc = curl_easy_perform(h);
    long status = 0;
    if (cc == CURLE_OK) {
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    } else {
        if (!err[0])
            snprintf(err, CURL_ERROR_SIZE, "%s", curl_easy_strerror(cc));
        if (x.too_big) {
            snprintf(err, CURL_ERROR_SIZE, "response body larger than the limit");
            *fatal = true;
        }
        if (x.write_failed) {
            snprintf(err, CURL_ERROR_SIZE, "cannot write the downloaded body to disk");
            *fatal = true;
        }
    }
    curl_slist_free_all(hl);
    if (auth) {
        explicit_bzero(auth, strlen(auth));
        free(auth);
    }
    curl_easy_cleanup(h);
    return status;
}

static void reset_output(const struct lake_http_req *r, struct lake_http_resp *out)
{
    buf_reset(&out->body);
    out->etag[0] = '\0';
    out->content_length = -1;
    out->status = 0;
    if (r->out_fd >= 0) {
        if (ftruncate(r->out_fd, 0) != 0 || lseek(r->out_fd, 0, SEEK_SET) != 0)
            log_warn("cannot rewind a download file before a retry");
    }
}

static void sleep_ms(int64_t ms)
{
    struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) != 0)
        ;
}

int lake_http_do(const struct lake_http_req *r, struct lake_http_resp *out, struct iv_err *e)
{
    pthread_once(&curl_once, http_init_once);
    memset(out, 0, sizeof *out);
    buf_init(&out->body, r->max_resp ? r->max_resp : DEFAULT_MAX_RESP);
    int attempts = r->max_attempts > 0 ? r->max_attempts : env_attempts;
    if (!r->retry)
        attempts = 1;
    int64_t wait = env_backoff_ms;
    char err[CURL_ERROR_SIZE];
    for (int i = 1;; i++) {
        reset_output(r, out);
        bool fatal = false;
        long status = attempt_once(r, out, err, &fatal);
        out->status = status;
        if (status != 0 && !(r->retry && (status >= 500 || status == 429)))
            return IV_OK;
        if (fatal || i >= attempts) {
            if (status != 0)
                return IV_OK;   /* the caller reads the final 5xx/429 */
            return iv_err_set(e, IV_EIO, "%s %s failed after %d attempt%s: %s", r->method,
                              r->url, i, i == 1 ? "" : "s", err);
        }
        if (status)
            log_warn("%s %s: HTTP %ld (attempt %d of %d), retrying in %lld ms", r->method,
                     r->url, status, i, attempts, (long long)wait);
        else
            log_warn("%s %s: %s (attempt %d of %d), retrying in %lld ms", r->method, r->url,
                     err, i, attempts, (long long)wait);
        sleep_ms(wait);
        wait = wait * 2 > 5000 ? 5000 : wait * 2;
    }
}
