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
 * Connection model (docs/architecture.md, "Connections"): libmicrohttpd's
 * epoll polling threads (IVORY_HTTP_THREADS) own every socket and only parse
 * and move bytes, so an idle or slow client costs a file descriptor and a
 * little memory, never a thread. The checks that need neither the store nor a
 * key (431, 413, 400 on framing and path, 404/405) are answered on the
 * polling thread; every routed request is suspended and handed to the
 * worker pool (workers.c), whose thread runs auth, body parsing and the
 * handler, builds the response and resumes the connection; the polling thread
 * then queues it. conn_guard.c adds the header and body deadlines and the
 * server adds a per-IP and a total connection limit.
 *
 * Memory: everything a request owns hangs off `struct req`, created by the URI
 * log hook and freed in the request-completed callback
 * (MHD_OPTION_NOTIFY_COMPLETED), whatever path the request took, including a
 * response built by a worker and never queued.
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
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>

struct api_server {
    struct api_server_state st;
    struct MHD_Daemon *d;
    struct api_guard *guard;
    struct api_workers *workers;
    int port;
    _Atomic int inflight;       /* requests queued for or inside a handler right now */
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

/* Decoded query values handed to handlers (the server sees raw URLs). */
#define API_MAX_QUERY_LOOKUPS 8

struct req {
    int64_t t0_us;            /* arrival of the request's headers (monotonic) */
    struct buf body;
    bool too_big;
    bool headers_too_big;
    bool conflicting_length;    /* two Content-Length headers that differ */
    bool started;               /* the access handler has seen this request */
    bool nul_in_target;         /* a literal NUL byte inside the request target */
    const char *raw_target;     /* the request target as first parsed (URI log hook) */
    size_t raw_target_len;      /* its length up to the first NUL */
    json_t *json;
    struct MHD_Connection *conn;
    struct api_server *srv;
    struct api_conn *gc;            /* the connection's deadline record (borrowed) */
    const char *url, *method;       /* libmicrohttpd's, valid until completion */
    const struct api_route *route;  /* chosen on the polling thread */
    struct api_ctx ctx;             /* the handler's view; reply released after use */
    int64_t t0_ms;
    struct MHD_Response *response;  /* built by a worker, queued on resume */
    unsigned status;
    bool response_failed;           /* a worker could not build a response */
    int nquery;
    char *query_key[API_MAX_QUERY_LOOKUPS];
    char *query_value[API_MAX_QUERY_LOOKUPS];   /* percent-decoded */
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

/* Turns a handler's reply into a libmicrohttpd response (NULL when out of
 * memory). Safe on any thread; the caller queues it on the polling thread. */
static struct MHD_Response *make_response(struct api_ctx *c)
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
            return NULL;
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
            return NULL;
        }
        has_body = text != NULL;
    }
    if (has_body)
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
                                c->content_type ? c->content_type : "application/json");
    if (c->status == 503)   /* the store or a runner is away for a moment: come back soon */
        MHD_add_response_header(r, "Retry-After", "1");
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
    if (c->close_connection)
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
    if (c->status == 405 && c->allow[0])
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, c->allow);
    return r;
}

/* Query values arrive raw (see no_unescape); each is decoded on first lookup
 * and kept on the request. A value whose escapes decode to NUL reads as absent
 * from its first NUL on, exactly like a C string, so it can never widen. */
static const char *conn_query(void *qctx, const char *key)
{
    struct req *rq = qctx;
    for (int i = 0; i < rq->nquery; i++)
        if (!strcmp(rq->query_key[i], key))
            return rq->query_value[i];
    const char *raw = MHD_lookup_connection_value(rq->conn, MHD_GET_ARGUMENT_KIND, key);
    if (!raw || rq->nquery >= API_MAX_QUERY_LOOKUPS)
        return raw;
    char *val = xstrdup(raw);
    MHD_http_unescape(val);
    rq->query_key[rq->nquery] = xstrdup(key);
    rq->query_value[rq->nquery] = val;
    rq->nquery++;
    return val;
}

/* libmicrohttpd's unescape hook, made a no-op: the router sees the raw path so
 * that "%2F" inside a segment is data, not a separator (router.c decodes each
 * captured segment after matching). Query values are decoded in conn_query. */
static size_t no_unescape(void *cls, struct MHD_Connection *conn, char *uri)
{
    (void)cls;
    (void)conn;
    return strlen(uri);
}

struct length_scan {
    const char *first;
    bool conflict;
};

static enum MHD_Result scan_content_length(void *cls, enum MHD_ValueKind kind, const char *key,
                                           const char *value)
{
    (void)kind;
    struct length_scan *ls = cls;
    if (!key || strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) != 0)
        return MHD_YES;
    if (!ls->first)
        ls->first = value ? value : "";
    else if (strcmp(ls->first, value ? value : "") != 0)
        ls->conflict = true;
    return MHD_YES;
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

/* A route that takes no body got a non-blank one (docs/api.md "Errors"): it must be
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

/* The checks that need neither the store nor a key, on the polling thread.
 * Returns the route to run, or NULL with c's reply set. */
static const struct api_route *route_request(struct api_server *srv, struct MHD_Connection *conn,
                                             struct req *rq, struct api_ctx *c)
{
    const char *url = rq->url, *method = rq->method;
    c->route_index = -1;
    c->srv = &srv->st;
    c->method = method;
    c->path = url;
    c->query = conn_query;
    c->qctx = rq;
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
        return NULL;
    }
    if (rq->conflicting_length) {
        c->close_connection = true;
        api_error(c, 400, "bad_request", NULL,
                  "The request has conflicting Content-Length headers.");
        return NULL;
    }
    const char *why = NULL;
    if (rq->nul_in_target) {
        c->close_connection = true;
        api_error(c, 400, "bad_request", NULL, "The request path must not contain NUL.");
        return NULL;
    }
    if (!api_path_check(url, &why)) {
        api_error(c, 400, "bad_request", NULL, "%s", why);
        return NULL;
    }
    if (rq->too_big) {
        api_error(c, 413, "payload_too_large", NULL, "The request body exceeds %zu bytes.",
                  srv->st.cfg->max_body_bytes);
        return NULL;
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
        return NULL;
    }
    c->route_index = (int)(rt - api_routes);
    return rt;
}

/* Auth, body parsing and the handler: may block on the store, so it runs on a
 * worker (or inline for routes that never touch it). */
static void run_route(struct MHD_Connection *conn, struct req *rq, const struct api_route *rt,
                      struct api_ctx *c)
{
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
        if (!api_parse_json_body(c, &rq->json))
            return;
        c->json = rq->json;
    } else if (!body_is_blank(c->body, c->body_len) && !check_no_body(c, conn, rq)) {
        return;
    }
    rt->fn(c);
    if (!c->status)
        api_internal(c, "handler", NULL);
}

/* libmicrohttpd's URI log hook runs once per request, as soon as the request
 * line is parsed and before the target is split at '?': the request state is
 * created here and remembers where the raw target starts and how long it reads
 * as a C string. */
static void *on_request_line(void *cls, const char *uri, struct MHD_Connection *conn)
{
    struct api_server *srv = cls;
    struct req *rq = xcalloc(1, sizeof *rq);
    buf_init(&rq->body, srv->st.cfg->max_body_bytes);
    rq->conn = conn;
    rq->raw_target = uri;
    rq->raw_target_len = strlen(uri);
    return rq;
}

/* A literal NUL byte in the request target makes libmicrohttpd's C strings
 * stop early ("/healthz\0/x" reads as "/healthz"). In 0.9.75 the target and the
 * HTTP version live in the same line buffer, the separator space replaced by a
 * NUL, so the target's real length is the distance between the two; when that
 * layout does not hold (another library version), nothing is concluded. */
static bool target_has_nul(const struct req *rq, const char *version)
{
    if (!rq->raw_target || !version || version <= rq->raw_target)
        return false;
    size_t span = (size_t)(version - rq->raw_target);
    if (span > API_CONN_MEMORY || version[-1] != '\0')
        return false;
    return span - 1 != rq->raw_target_len;
}

static void log_request(const struct req *rq)
{
    int64_t dt = mono_ms() - rq->t0_ms;
    int status = rq->ctx.status;
    if (status >= 500)
        log_error("%s %s -> %d (%lld ms)", rq->method, rq->url, status, (long long)dt);
    else
        log_debug("%s %s -> %d (%lld ms)", rq->method, rq->url, status, (long long)dt);
}

/* Builds the response for rq->ctx and keeps it on rq; releases the reply. */
static void finish_reply(struct req *rq)
{
    rq->response = make_response(&rq->ctx);
    rq->status = (unsigned)rq->ctx.status;
    rq->response_failed = rq->response == NULL;
    api_metrics_request(rq->ctx.route_index, rq->ctx.status, mono_us_since(rq->t0_us));
    log_request(rq);
    api_ctx_release_reply(&rq->ctx);
}

/* Worker side: the connection is suspended; run the route, build the
 * response, then resume so the polling thread queues it. */
static void run_on_worker(void *arg)
{
    struct req *rq = arg;
    struct api_server *srv = rq->srv;
    run_route(rq->conn, rq, rq->route, &rq->ctx);
    finish_reply(rq);
    atomic_fetch_sub(&srv->inflight, 1);
    MHD_resume_connection(rq->conn);
}

static enum MHD_Result queue_built_response(struct MHD_Connection *conn, struct req *rq)
{
    if (rq->response_failed)
        return MHD_NO;
    struct MHD_Response *r = rq->response;
    rq->response = NULL;
    enum MHD_Result ret = MHD_queue_response(conn, rq->status, r);
    MHD_destroy_response(r);
    return ret;
}

/* First call for a request: the headers are complete. */
static void request_headers_done(struct api_server *srv, struct MHD_Connection *conn,
                                 struct req *rq, const char *url, const char *method,
                                 const char *version)
{
    rq->started = true;
    rq->t0_us = mono_us_since(0);
    rq->srv = srv;
    rq->url = url;
    rq->method = method;
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    rq->gc = ci ? ci->socket_context : NULL;
    api_guard_phase(srv->guard, rq->gc, API_CONN_RECEIVING_BODY);
    rq->nul_in_target = target_has_nul(rq, version);
    size_t hdr = strlen(url) + strlen(method) + 12;
    MHD_get_connection_values(conn, MHD_HEADER_KIND, add_header_bytes, &hdr);
    rq->headers_too_big = hdr > API_MAX_HEADER_BYTES;
    struct length_scan ls = {0};
    MHD_get_connection_values(conn, MHD_HEADER_KIND, scan_content_length, &ls);
    rq->conflicting_length = ls.conflict;
    const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                 MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (cl) {
        char *end = NULL;
        unsigned long long n = strtoull(cl, &end, 10);
        if (end != cl && n > srv->st.cfg->max_body_bytes)
            rq->too_big = true;
    }
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_size, void **con_cls)
{
    struct api_server *srv = cls;
    struct req *rq = *con_cls;
    if (!rq)
        rq = *con_cls = on_request_line(srv, url, conn);
    if (!rq->started) {
        request_headers_done(srv, conn, rq, url, method, version);
        return MHD_YES;
    }
    if (rq->response || rq->response_failed)   /* back from a worker */
        return queue_built_response(conn, rq);
    if (*upload_size > 0) {
        if (api_guard_overdue(srv->guard, rq->gc))
            return MHD_NO;   /* the body deadline passed: close the connection */
        /* Drain but do not keep bytes past the cap. */
        if (!rq->too_big && !rq->headers_too_big &&
            buf_append(&rq->body, upload_data, *upload_size) != IV_OK) {
            rq->too_big = true;
            buf_release(&rq->body);
        }
        *upload_size = 0;
        return MHD_YES;
    }
    api_guard_phase(srv->guard, rq->gc, API_CONN_BUSY);
    rq->t0_ms = mono_ms();
    const struct api_route *rt = route_request(srv, conn, rq, &rq->ctx);
    if (rt) {
        /* May block on the store (even /healthz checks the store's files through the
         * pool): hand it to a worker. */
        rq->route = rt;
        atomic_fetch_add(&srv->inflight, 1);
        MHD_suspend_connection(conn);
        api_workers_submit(srv->workers, run_on_worker, rq);
        return MHD_YES;
    }
    finish_reply(rq);   /* answered on the polling thread: rejected before routing */
    return queue_built_response(conn, rq);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct api_server *srv = cls;
    (void)toe;
    struct req *rq = *con_cls;
    if (!rq)
        return;
    /* The next request on this connection must send its headers in time. */
    api_guard_phase(srv->guard, rq->gc, API_CONN_AWAIT_HEADERS);
    (void)conn;
    if (rq->response)
        MHD_destroy_response(rq->response);
    api_ctx_release_reply(&rq->ctx);
    buf_release(&rq->body);
    json_decref(rq->json);
    for (int i = 0; i < rq->nquery; i++) {
        free(rq->query_key[i]);
        free(rq->query_value[i]);
    }
    free(rq);
    *con_cls = NULL;
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
    struct api_server *srv = cls;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        *socket_context = ci ? api_guard_opened(srv->guard, ci->connect_fd) : NULL;
    } else if (toe == MHD_CONNECTION_NOTIFY_CLOSED) {
        api_guard_closed(srv->guard, *socket_context);
        *socket_context = NULL;
    }
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

/* Raises the soft RLIMIT_NOFILE to the hard limit and returns how many
 * connections fit: the wanted number, or fewer when the descriptors do not
 * allow it (256 are kept for the store, the runner and its taps). */
static unsigned connection_budget(int wanted)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return (unsigned)wanted;
    if (rl.rlim_cur < rl.rlim_max) {
        rlim_t before = rl.rlim_cur;
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
            rl.rlim_cur = before;
    }
    if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= (rlim_t)wanted + 256)
        return (unsigned)wanted;
    unsigned fit = rl.rlim_cur > 512 ? (unsigned)(rl.rlim_cur - 256) : 256u;
    log_warn("http: open-file limit %llu allows %u connections, not IVORY_HTTP_MAX_CONNECTIONS=%d",
             (unsigned long long)rl.rlim_cur, fit, wanted);
    return fit;
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
    if (cfg->config_private_key) {
        rc = jwe_key_load(&srv->st.config_key, cfg->config_private_key, e);
        if (rc < 0)
            goto fail;
    }

    /* Zero fields (a config not made by config_load, e.g. in tests) take the
     * documented defaults; deadlines <= 0 mean none. */
    int threads = cfg->http_threads > 0 ? cfg->http_threads : 2;
    int workers = cfg->http_workers > 0 ? cfg->http_workers : 2 * threads + 2;
    double idle_s = cfg->http_idle_timeout_s > 0 ? cfg->http_idle_timeout_s : 30;
    unsigned conn_limit =
        connection_budget(cfg->http_max_connections > 0 ? cfg->http_max_connections : 10000);
    rc = api_guard_new(&srv->guard, cfg->http_header_timeout_s, cfg->http_body_timeout_s, e);
    if (rc < 0)
        goto fail;
    rc = api_workers_new(&srv->workers, workers, e);
    if (rc < 0)
        goto fail;
    srv->d = MHD_start_daemon(
        MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG,
        0, NULL, NULL, on_request, srv,
        MHD_OPTION_THREAD_POOL_SIZE, (unsigned)threads,
        MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv,
        MHD_OPTION_NOTIFY_CONNECTION, on_connection, srv,
        MHD_OPTION_UNESCAPE_CALLBACK, no_unescape, NULL,
        MHD_OPTION_URI_LOG_CALLBACK, on_request_line, srv,
        MHD_OPTION_CONNECTION_LIMIT, conn_limit,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)cfg->http_per_ip_limit,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)(idle_s + 0.5),
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, API_CONN_MEMORY,
        MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned)1024,
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
    }
    /* Every queued request still runs and resumes its connection: libmicrohttpd
     * must not be stopped with connections suspended. */
    api_workers_free(srv->workers);
    if (srv->d)
        MHD_stop_daemon(srv->d);
    api_guard_free(srv->guard);
    jwt_verifier_free(srv->st.jwt);
    jwe_key_free(srv->st.config_key);
    api_cache_free(srv->st.cache);
    OPENSSL_cleanse(srv->st.master_key, sizeof srv->st.master_key);
    free(srv);
}
