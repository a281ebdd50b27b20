/*
 * console.c: serves the web console (console/ in the repository) from bytes
 * embedded at build time (console/embed.sh generates the table), so the
 * binary needs no files beside it and no network: it works air-gapped.
 *
 * The console is only a client of the public API: it adds no route that reads
 * or changes data, and it is served without authentication because the
 * assets hold nothing of any tenant. Every answer carries a strict
 * Content-Security-Policy (scripts and styles only from this origin, no
 * inline script, no eval, no framing, connections only back to this server),
 * so even a rendering mistake cannot run a tenant's string as code.
 */
#include "api/api_int.h"

#include <string.h>

/* The page's security headers: see docs/console.md for why each is there. */
const char api_console_csp[] =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

static const struct console_asset *find_asset(const char *name)
{
    for (size_t i = 0; i < console_assets_count; i++)
        if (!strcmp(console_assets[i].name, name))
            return &console_assets[i];
    return NULL;
}

static void serve_asset(struct api_ctx *c, const char *name)
{
    const struct console_asset *a = find_asset(name);
    if (!a) {
        api_error(c, 404, "not_found", NULL, "The console has no file named '%s'.", name);
        c->console_page = true;
        return;
    }
    struct api_blob *b = api_blob_new((const char *)a->data, a->len);
    c->content_type = a->media_type;
    c->console_page = true;
    snprintf(c->etag, sizeof c->etag, "%s", b->etag);
    if (api_etag_matches(c->if_none_match, b->etag)) {
        api_blob_unref(b);
        api_reply(c, 304, NULL);
        return;
    }
    api_reply_raw(c, 200, b);
}

void api_h_console_index(struct api_ctx *c)
{
    serve_asset(c, "index.html");
}

void api_h_console_asset(struct api_ctx *c)
{
    serve_asset(c, api_param(&c->params, "asset"));
}
