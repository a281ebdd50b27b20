/*
 * lake/lake_http: internal header (src/lake only) — the outbound HTTP client
 * the lake uses for object storage (S3) and remote catalogs (Glue, Iceberg
 * REST), over libcurl.
 *
 * Owns: one request with optional AWS SigV4 signing (libcurl's
 * CURLOPT_AWS_SIGV4), a bearer token, a body from memory or from a byte range
 * of a file, a response body kept in a bounded buffer or streamed into a file,
 * and retries with exponential backoff on transport errors, timeouts, 5xx and
 * 429 when the caller says the request may be repeated.
 *
 * Secrets: the SigV4 secret and the bearer token are handed to libcurl only;
 * they are never formatted into a message. Error texts name the method, the
 * URL (which never carries a secret) and the status.
 */
#ifndef IVORY_LAKE_HTTP_H
#define IVORY_LAKE_HTTP_H

#include "util/util.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct lake_http_req {
    const char *method;               /* "GET", "PUT", "POST", "HEAD", "DELETE" */
    const char *url;
    const char *const *headers;       /* NULL-terminated "Name: value" list, may be NULL */
    const void *body;                 /* in-memory body (may be NULL with body_len 0) */
    size_t body_len;
    int body_fd;                      /* or: body read from this file ... (-1: none) */
    off_t body_off;                   /* ... from this offset ... */
    size_t body_fd_len;               /* ... this many bytes */
    const char *sigv4;                /* "aws:amz:REGION:SERVICE" or NULL */
    const char *access_key, *secret_key;   /* SigV4 credentials (borrowed) */
    const char *bearer;               /* Authorization: Bearer (borrowed) or NULL */
    size_t max_resp;                  /* response body cap in memory (0: 16 MiB) */
    int out_fd;                       /* response body to this fd instead (-1: none) */
    bool retry;                       /* may be repeated: retry 5xx/429/timeouts */
    int max_attempts;                 /* 0: 5 (4 retries) */
    long timeout_ms;                  /* 0: no total limit (stall detection still applies) */
};
void lake_http_req_init(struct lake_http_req *r, const char *method, const char *url);

struct lake_http_resp {
    long status;                      /* 0 when no response arrived */
    struct buf body;                  /* owned */
    char etag[256];                   /* ETag header (quotes kept) or "" */
    int64_t content_length;           /* -1 if absent */
};
void lake_http_resp_release(struct lake_http_resp *r);

/* Sends the request. IV_OK when a response arrived (any status: the caller
 * judges it; after retries a 5xx is returned as is); IV_EIO when every attempt
 * failed in transport (message names the URL and the curl error). */
int lake_http_do(const struct lake_http_req *r, struct lake_http_resp *out, struct iv_err *e);

/* RFC 3986 percent-encoding; keep_slash leaves '/' as is. Caller frees. */
char *lake_url_encode(const char *s, bool keep_slash);

/* Retry policy knobs, read once from the environment (for tests and operators):
 * IVORY_LAKE_HTTP_ATTEMPTS (default 5), IVORY_LAKE_HTTP_BACKOFF_MS (first wait,
 * default 100; doubles, capped at 5 s). */
int lake_http_default_attempts(void);

#endif
