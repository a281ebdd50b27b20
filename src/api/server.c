/*
 * server.c: libmicrohttpd glue. Owns the daemon, the per-request state
 * (bounded body buffer, parsed JSON, reply), the order of checks before a
 * handler runs, and turning a handler's reply into an MHD response.
 *
 * Order of checks for every request:
 *   request headers over API_MAX_HEADER_BYTES -> 431 (JSON; MHD's own HTML
 *   431 only past the connection's memory pool, see below) ;
 *   body over max_body_bytes -> 413 (the upload is drained, never buffered
 *   beyond the cap) ; no route -> 404 ; wrong method -> 405 + Allow ;
 *   JWT routes: missing/invalid bearer -> 401 + WWW-Authenticate ;
 *   JSON-body routes: wrong Content-Type or malformed JSON -> 400 ;
 *   body-less routes: a non-blank body must be an empty JSON object sent as
 *   application/json (else 400, or 422 naming the unknown field) ; handler.
 *
 * Replies: a handler's jansson reply is serialised here; a pre-rendered
 * body (api_reply_raw: the cached connector list) is sent from the shared
 * blob without a copy, the response holding its own reference.
 *
 * Memory: everything a request owns hangs off `struct req`, freed in the
 * request-completed callback (MHD_OPTION_NOTIFY_COMPLETED), whatever path the
 * request took.
 */
#include "api/api_int.h"

#include <openssl/crypto.h>
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <time.h>

struct api_server {
    struct api_server_state st;
    struct MHD_Daemon *d;
    int port;
    _Atomic int inflight;       /* requests inside a handler right now */
};

/* Request header budget (request line + header names and values). MHD's
 * per-connection memory pool is set well above it (API_CONN_MEMORY), so a
 * request between the two gets our JSON 431; only one that overflows the pool
 * itself still gets libmicrohttpd's built-in HTML 431, which MHD 0.9.75 does
 * not let an application replace. */
#define API_MAX_HEADER_BYTES (32u * 1024u)
#define API_CONN_MEMORY ((size_t)128 * 1024)

/* The response cache bounds (docs/performance.md, API). */
#define API_CACHE_BYTES ((size_t)64 << 20)
#define API_CACHE_ENTRIES 4096

struct req {
    int64_t t0_us;            /* arrival of the request's headers (monotonic) */
    struct buf body;
    bool too_big;
    bool headers_too_big;
    json_t *json;
};

/* Monotonic microseconds since t0_us (0: since the clock's origin). */
static int64_t mono_us_since(int64_t t0_us)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000 - t0_us;
}

static void blob_free_cb(void *cls)
{
    api_blob_unref(cls);
}

static enum MHD_Result send_reply(struct MHD_Connection *conn, struct api_ctx *c)
{
    char *text = NULL;
    size_t len = 0;
    struct MHD_Response *r = NULL;
    bool has_body = false;
    if (c->raw_reply && c->status != 204 && c->status != 304) {
        struct api_blob *b = api_blob_ref(c->raw_reply);   /* the response's reference */
        r = MHD_create_response_from_buffer_with_free_callback_cls(b->len, b->data, blob_free_cb,
                                                                   b);
        if (!r) {
            api_blob_unref(b);
            return MHD_NO;
        }
        has_body = true;
    } else {
        if (c->reply && c->status != 204 && c->status != 304) {
            text = json_dumps_compact(c->reply);
            len = strlen(text);
        }
        r = MHD_create_response_from_buffer(len, text ? text : (char *)"",
                                            text ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
        if (!r) {
            free(text);
            return MHD_NO;
        }
        has_body = text != NULL;
    }
    if (has_body)
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
                                c->content_type ? c->content_type : "application/json");
    if (c->console_page) {
        MHD_add_response_header(r, "Content-Security-Policy", api_console_csp);
        MHD_add_response_header(r, "X-Frame-Options", "DENY");
        MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
        MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
        MHD_add_response_header(r, "Cross-Origin-Opener-Policy", "same-origin");
    }
    if (c->etag[0]) {
        /* Cacheable by validation: clients may keep it but must revalidate
         * (If-None-Match -> 304) every time. */
        MHD_add_response_header(r, MHD_HTTP_HEADER_ETAG, c->etag);
        MHD_add_response_header(r, "Cache-Control", "private, no-cache");
    } else {
        MHD_add_response_header(r, "Cache-Control", "no-store");
    }
    if (c->www_authenticate)
        MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
    if (c->status == 405 && c->allow[0])
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, c->allow);
    enum MHD_Result ret = MHD_queue_response(conn, (unsigned)c->status, r);
    MHD_destroy_response(r);
    return ret;
}

static const char *conn_query(void *qctx, const char *key)
{
    return MHD_lookup_connection_value((struct MHD_Connection *)qctx, MHD_GET_ARGUMENT_KIND, key);
}

static bool is_json_content_type(const char *ct)
{
    if (!ct)
        return false;
    while (*ct == ' ')
        ct++;
    if (strncasecmp(ct, "application/json", 16) != 0)
        return false;
    char next = ct[16];
    return next == '\0' || next == ';' || next == ' ';
}

static bool authenticate(struct api_ctx *c, struct MHD_Connection *conn)
{
    const char *h = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                MHD_HTTP_HEADER_AUTHORIZATION);
    struct iv_err e = {0};
    if (!h || strncasecmp(h, "Bearer ", 7) != 0) {
        c->www_authenticate = true;
        api_error(c, 401, "unauthorized", NULL, "A valid Bearer token is required.");
        return false;
    }
    const char *tok = h + 7;
    while (*tok == ' ')
        tok++;
    if (jwt_verify(c->srv->jwt, tok, &c->claims, &e) != IV_OK) {
        log_info("%s %s: token rejected: %s", c->method, c->path, e.msg);
        c->www_authenticate = true;
        api_error(c, 401, "unauthorized", NULL, "A valid Bearer token is required.");
        return false;
    }
    return true;
}

static bool body_is_blank(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r' && p[i] != '\n')
            return false;
    return true;
}

/* A route that takes no body got a non-blank one (CONTRACT §3): it must be
 * sent as JSON and be an empty object; replies and returns false otherwise. */
static bool check_no_body(struct api_ctx *c, struct MHD_Connection *conn, struct req *rq)
{
    const char *ct = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                 MHD_HTTP_HEADER_CONTENT_TYPE);
    if (!is_json_content_type(ct)) {
        api_error(c, 400, "invalid_content_type", NULL,
                  "This endpoint takes no request body; send none, or {} as application/json.");
        return false;
    }
    json_error_t jerr;
    rq->json = json_loadb(c->body, c->body_len, JSON_REJECT_DUPLICATES, &jerr);
    if (!rq->json) {
        api_error(c, 400, "invalid_json", NULL, "The body is not valid JSON: %s (line %d).",
                  jerr.text, jerr.line);
        return false;
    }
    if (!json_is_object(rq->json)) {
        api_error(c, 400, "invalid_json", NULL, "The body must be a JSON object.");
        return false;
    }
    void *it = json_object_iter(rq->json);
    if (it) {
        const char *key = json_object_iter_key(it);
        api_error(c, 422, "validation_error", key, "Unknown field '%s'.", key);
        return false;
    }
    return true;
}

static enum MHD_Result add_header_bytes(void *cls, enum MHD_ValueKind kind, const char *key,
                                        const char *value)
{
    (void)kind;
    size_t *total = cls;
    *total += (key ? strlen(key) : 0) + (value ? strlen(value) : 0) + 4;   /* ": " CRLF */
    return MHD_YES;
}

static void dispatch(struct api_server *srv, struct MHD_Connection *conn, struct req *rq,
                     const char *url, const char *method, struct api_ctx *c)
{
    c->srv = &srv->st;
    c->method = method;
    c->path = url;
    c->query = conn_query;
    c->qctx = conn;
    c->body = rq->body.data ? rq->body.data : "";
    c->body_len = rq->body.len;
    c->header_signature = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Ivory-Signature");
    c->header_runner = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Ivory-Runner");
    c->header_runner_sig = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                       "X-Ivory-Runner-Signature");
    c->if_none_match = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                   MHD_HTTP_HEADER_IF_NONE_MATCH);

    if (rq->headers_too_big) {
        api_error(c, 431, "request_header_fields_too_large", NULL,
                  "The request headers exceed %u bytes.", API_MAX_HEADER_BYTES);
        return;
    }
    if (rq->too_big) {
        api_error(c, 413, "payload_too_large", NULL, "The request body exceeds %zu bytes.",
                  srv->st.cfg->max_body_bytes);
        return;
    }
    int status = 0;
    const struct api_route *rt = api_route_match(api_routes, api_routes_count, method, url,
                                                 &c->params, c->allow, sizeof c->allow, &status);
    if (!rt) {
        if (status == 405)
            api_error(c, 405, "method_not_allowed", NULL, "Method %s is not allowed here.",
                      method);
        else
            api_error(c, 404, "not_found", NULL, "No such endpoint.");
        return;
    }
    c->route_index = (int)(rt - api_routes);
    if (rt->auth == API_AUTH_JWT && !authenticate(c, conn))
        return;
    if (rt->flags & API_F_JSON_BODY) {
        const char *ct = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                     MHD_HTTP_HEADER_CONTENT_TYPE);
        if (rt->auth == API_AUTH_WEBHOOK && !c->header_signature) {
            api_error(c, 401, "unauthorized", NULL, "Invalid signature.");
            return;
        }
        if (!is_json_content_type(ct)) {
            api_error(c, 400, "invalid_content_type", NULL,
                      "The request body must be sent as application/json.");
            return;
        }
        json_error_t jerr;
        rq->json = json_loadb(c->body, c->body_len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL,
                              &jerr);
        if (!rq->json) {
            api_error(c, 400, "invalid_json", NULL, "The body is not valid JSON: %s (line %d).",
                      jerr.text, jerr.line);
            return;
        }
        if (!json_is_object(rq->json)) {
            api_error(c, 400, "invalid_json", NULL, "The body must be a JSON object.");
            return;
        }
        /* Strings are NUL-terminated from here on: a value with an embedded
         * NUL would be validated as its prefix, so it is rejected outright. */
        const char *key;
        json_t *val;
        json_object_foreach(rq->json, key, val) {
            if (json_is_string(val) && strlen(json_string_value(val)) != json_string_length(val)) {
                api_error(c, 422, "validation_error", key, "%s must not contain NUL characters.",
                          key);
                return;
            }
        }
        c->json = rq->json;
    } else if (!body_is_blank(c->body, c->body_len) && !check_no_body(c, conn, rq)) {
        return;
    }
    rt->fn(c);
    if (!c->status)
        api_internal(c, "handler", NULL);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_size, void **con_cls)
{
    struct api_server *srv = cls;
    (void)version;
    struct req *rq = *con_cls;
    if (!rq) {
        rq = xcalloc(1, sizeof *rq);
        rq->t0_us = mono_us_since(0);
        buf_init(&rq->body, srv->st.cfg->max_body_bytes);
        size_t hdr = strlen(url) + strlen(method) + 12;
        MHD_get_connection_values(conn, MHD_HEADER_KIND, add_header_bytes, &hdr);
        rq->headers_too_big = hdr > API_MAX_HEADER_BYTES;
        const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                     MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl) {
            char *end = NULL;
            unsigned long long n = strtoull(cl, &end, 10);
            if (end != cl && n > srv->st.cfg->max_body_bytes)
                rq->too_big = true;
        }
        *con_cls = rq;
        return MHD_YES;
    }
    if (*upload_size > 0) {
        /* Drain but do not keep bytes past the cap. */
        if (!rq->too_big && !rq->headers_too_big &&
            buf_append(&rq->body, upload_data, *upload_size) != IV_OK) {
            rq->too_big = true;
            buf_release(&rq->body);
        }
        *upload_size = 0;
        return MHD_YES;
    }
    struct api_ctx c;
    memset(&c, 0, sizeof c);
    c.route_index = -1;
    int64_t t0 = mono_ms();
    atomic_fetch_add(&srv->inflight, 1);
    dispatch(srv, conn, rq, url, method, &c);
    enum MHD_Result ret = send_reply(conn, &c);
    atomic_fetch_sub(&srv->inflight, 1);
    int64_t dt = mono_ms() - t0;
    api_metrics_request(c.route_index, c.status, mono_us_since(rq->t0_us));
    if (c.status >= 500)
        log_error("%s %s -> %d (%lld ms)", method, url, c.status, (long long)dt);
    else
        log_debug("%s %s -> %d (%lld ms)", method, url, c.status, (long long)dt);
    api_ctx_release_reply(&c);
    return ret;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)conn;
    (void)toe;
    struct req *rq = *con_cls;
    if (!rq)
        return;
    buf_release(&rq->body);
    json_decref(rq->json);
    free(rq);
    *con_cls = NULL;
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = '\0';
    log_warn("http: %s", msg);
}

static int parse_listen(const char *listen, struct sockaddr_in *sa, struct iv_err *e)
{
    memset(sa, 0, sizeof *sa);
    sa->sin_family = AF_INET;
    const char *colon = listen ? strrchr(listen, ':') : NULL;
    if (!colon)
        return iv_err_set(e, IV_EINVAL, "IVORY_LISTEN must be host:port, got '%s'",
                          listen ? listen : "");
    char host[64];
    size_t hl = (size_t)(colon - listen);
    if (hl >= sizeof host)
        return iv_err_set(e, IV_EINVAL, "IVORY_LISTEN host is too long");
    memcpy(host, listen, hl);
    host[hl] = '\0';
    char *end = NULL;
    long port = strtol(colon + 1, &end, 10);
    if (end == colon + 1 || *end || port < 0 || port > 65535)
        return iv_err_set(e, IV_EINVAL, "IVORY_LISTEN port must be 0..65535, got '%s'", colon + 1);
    if (!*host || !strcmp(host, "*") || !strcmp(host, "0.0.0.0"))
        sa->sin_addr.s_addr = htonl(INADDR_ANY);
    else if (!strcmp(host, "localhost"))
        sa->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    else if (inet_pton(AF_INET, host, &sa->sin_addr) != 1)
        return iv_err_set(e, IV_EINVAL, "IVORY_LISTEN host must be an IPv4 address, got '%s'",
                          host);
    sa->sin_port = htons((uint16_t)port);
    return IV_OK;
}

int api_server_start(struct api_server **out, const struct iv_config *cfg, struct store *st,
                     struct iv_err *e)
{
    *out = NULL;
    struct sockaddr_in sa;
    int rc = parse_listen(cfg->listen, &sa, e);
    if (rc < 0)
        return rc;
    struct api_server *srv = xcalloc(1, sizeof *srv);
    srv->st.cfg = cfg;
    srv->st.store = st;
#ifndef IVORY_API_NO_CACHE
    srv->st.cache = api_cache_new(API_CACHE_BYTES, API_CACHE_ENTRIES);
#else
    /* Benchmark-only: every list GET takes the render (miss) path. */
    srv->st.cache = NULL;
#endif
    struct jwt_verifier_config jc = {
        .hs256_secret = cfg->jwt_secret,
        .public_key_path = cfg->jwt_public_key,
        .jwks_path = cfg->jwt_jwks,
        .algs = cfg->jwt_algs,
        .issuer = cfg->jwt_issuer,
        .audience = cfg->jwt_audience,
    };
    rc = jwt_verifier_new(&srv->st.jwt, &jc, e);
    if (rc < 0)
        goto fail;
    rc = master_key_load(cfg->master_key_b64, cfg->data_dir, srv->st.master_key, e);
    if (rc < 0)
        goto fail;

    unsigned conn_limit = (unsigned)(cfg->http_threads * 64 < 256 ? 256 : cfg->http_threads * 64);
#ifdef IVORY_API_POOL_MODE
    /* Benchmark-only alternative (docs/architecture.md): a fixed pool of
     * epoll threads, each serving many connections. */
    srv->d = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ITC | MHD_USE_ERROR_LOG,
        0, NULL, NULL, on_request, srv,
        MHD_OPTION_THREAD_POOL_SIZE, (unsigned)cfg->http_threads,
#else
    srv->d = MHD_start_daemon(
        MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ITC |
            MHD_USE_ERROR_LOG,
        0, NULL, NULL, on_request, srv,
#endif
        MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv,
        MHD_OPTION_CONNECTION_LIMIT, conn_limit,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)60,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, API_CONN_MEMORY,
        MHD_OPTION_END);
    if (!srv->d) {
        rc = iv_err_set(e, IV_EIO, "cannot listen on %s (address in use or not permitted)",
                        cfg->listen);
        goto fail;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(srv->d, MHD_DAEMON_INFO_BIND_PORT);
    srv->port = info ? info->port : ntohs(sa.sin_port);
    *out = srv;
    return IV_OK;
fail:
    api_server_stop(srv);
    return rc;
}

int api_server_port(const struct api_server *srv)
{
    return srv->port;
}

void api_server_stop(struct api_server *srv)
{
    if (!srv)
        return;
    if (srv->d) {
        /* Stop accepting, then give handlers already running up to 5 s to
         * queue their responses before connections are torn down. Idle
         * keep-alive connections are not waited for. */
        MHD_quiesce_daemon(srv->d);
        int64_t deadline = mono_ms() + 5000;
        while (atomic_load(&srv->inflight) > 0 && mono_ms() < deadline) {
            struct timespec ts = {0, 10 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
        MHD_stop_daemon(srv->d);
    }
    jwt_verifier_free(srv->st.jwt);
    api_cache_free(srv->st.cache);
    OPENSSL_cleanse(srv->st.master_key, sizeof srv->st.master_key);
    free(srv);
}
