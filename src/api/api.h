/*
 * api: the HTTP API over libmicrohttpd. Owns the server lifecycle, the route
 * table, the router, request parsing (bounded bodies, JSON, auth), request
 * validation, the handlers and their JSON views, and the webhook endpoint.
 *
 * It talks to the rest of the system only through the store (and crypto /
 * sched for verification and schedule arithmetic). It never writes SQL and
 * never calls the runner: the two meet in the store and through the webhook.
 *
 * Threading model (see docs/architecture.md for the measurement): MHD's
 * thread-per-connection mode with a connection cap, so a request blocked on
 * the store (a SQLite writer waiting on busy_timeout) never stalls the
 * polling of other connections. The store's pool bounds concurrent DB use.
 */
#ifndef IVORY_API_H
#define IVORY_API_H

#include "util/util.h"
#include "config/config.h"
#include "store/store.h"

struct api_server;

/* Starts listening on cfg->listen (host:port; port 0 = any free port). The
 * store is borrowed and must outlive the server. *out: stop with
 * api_server_stop. Fails when no JWT key is configured. */
int api_server_start(struct api_server **out, const struct iv_config *cfg, struct store *st,
                     struct iv_err *e);
/* The port actually bound (useful with port 0). */
int api_server_port(const struct api_server *srv);
/* Stops accepting, finishes in-flight requests, frees everything. NULL is a no-op. */
void api_server_stop(struct api_server *srv);

#endif
