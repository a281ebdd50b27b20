/*
 * discover.c: discovery — running a connector's tap in discovery mode and storing what it
 * offers as the connector's stream catalog (src/streams).
 *
 * The API never runs a tap (it has no config key and may live on another machine): it
 * inserts a discovery request in the store, a runner claims it here, runs the tap through
 * the same child layer as a sync (so the same sandbox, environment and process-group
 * handling apply) with `--config FILE --discover` (Airbyte: `discover --config FILE`), under
 * IVORY_DISCOVER_TIMEOUT and with at most IVORY_DISCOVER_MAX_BYTES of output, and answers in
 * the request row. The new catalog is merged with the stored one (selections kept,
 * appeared/vanished streams reported) and written with a compare-and-set on the catalog's
 * version, so a concurrent PATCH is never lost. Any failure keeps the previous catalog.
 *
 * A sync of a Singer connector without a stream catalog runs the same discovery first
 * (sync.c), so stream -> table is known before any data.
 */
#include "runner/runner_int.h"
#include "singer/singer.h"
#include "streams/streams.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DISCOVERIES_PER_RUNNER 2     /* concurrent discovery taps of one runner */
#define CAS_ATTEMPTS 5

void runner_stream_name(const char *stream, char *out, size_t outsz)
{
    char *name = NULL;
    struct iv_err e = {0};
    if (singer_table_name(stream, &name, &e) == IV_OK && strlen(name) < outsz) {
        snprintf(out, outsz, "%s", name);
    } else {
        /* Nothing usable left (or too long): a stable name from the stream's bytes. */
        uint64_t h = 1469598103934665603ull;
        for (const unsigned char *p = (const unsigned char *)stream; *p; p++)
            h = (h ^ *p) * 1099511628211ull;
        snprintf(out, outsz, "stream_%016llx", (unsigned long long)h);
    }
    free(name);
}

/* ---- the tap's output ------------------------------------------------------------------- */

struct disc_output {
    bool airbyte;
    struct buf text;              /* Singer: the whole stdout (a catalog may span lines) */
    size_t max_bytes;
    size_t seen;                  /* bytes read so far (the cap counts these) */
    json_t *ab_catalog;           /* Airbyte: the CATALOG message's catalog (owned) */
    char ab_error[512];           /* Airbyte: TRACE/LOG error message */
    bool too_big;
};

static int disc_line(void *ctx, const char *line, size_t len, uint64_t lineno, struct iv_err *e)
{
    struct disc_output *o = ctx;
    (void)lineno;
    o->seen += len + 1;
    if (o->seen > o->max_bytes) {
        o->too_big = true;
        return iv_err_set(e, IV_ETOOBIG, "discovery output is larger than %zu bytes "
                          "(IVORY_DISCOVER_MAX_BYTES)", o->max_bytes);
    }
    if (!o->airbyte) {
        buf_append(&o->text, line, len);
        buf_putc(&o->text, '\n');
        return IV_OK;
    }
    json_t *m = json_loadb(line, len, 0, NULL);
    const char *type = json_str(m, "type");
    if (type && !strcmp(type, "CATALOG") && json_is_object(json_object_get(m, "catalog"))) {
        json_decref(o->ab_catalog);
        o->ab_catalog = json_incref(json_object_get(m, "catalog"));
    } else if (type && !strcmp(type, "TRACE")) {
        const char *msg = json_str(json_object_get(json_object_get(m, "trace"), "error"),
                                   "message");
        if (msg)
            snprintf(o->ab_error, sizeof o->ab_error, "%s", msg);
    }
    json_decref(m);
    return IV_OK;
}

/* The tap's stdout as a document, or IV_EINVAL with why. */
static int parse_output(struct disc_output *o, json_t **doc, char *why, size_t whysz)
{
    struct iv_err e = {0};
    int rc;
    if (o->airbyte) {
        if (!o->ab_catalog) {
            snprintf(why, whysz, "it printed no CATALOG message%s%.400s",
                     o->ab_error[0] ? ": " : "", o->ab_error);
            return IV_EINVAL;
        }
        rc = streams_from_airbyte(o->ab_catalog, runner_stream_name, doc, &e);
    } else {
        json_error_t je;
        json_t *cat = json_loadb(o->text.data ? o->text.data : "", o->text.len, 0, &je);
        if (!cat) {
            snprintf(why, whysz, "its output is not JSON (%s at line %d)", je.text, je.line);
            return IV_EINVAL;
        }
        rc = streams_from_singer(cat, runner_stream_name, doc, &e);
        json_decref(cat);
    }
    if (rc != IV_OK)
        snprintf(why, whysz, "%s", e.msg);
    return rc;
}

/* ---- --catalog or --properties ----------------------------------------------------------- */

struct help_text {
    struct buf b;
};

static int help_line(void *ctx, const char *line, size_t len, uint64_t lineno, struct iv_err *e)
{
    struct help_text *h = ctx;
    (void)lineno;
    (void)e;
    if (buf_append(&h->b, line, len) == IV_OK)
        buf_putc(&h->b, '\n');
    return IV_OK;
}

/* Which flag the tap reads its catalog from: `--properties` for the old taps whose --help
 * lists only that one, else `--catalog` (the Singer spec's; singer-python accepts both). */
static const char *probe_catalog_flag(const struct launch *l, const struct runner_secrets *rs)
{
    if (l->cwd)
        return "--catalog";   /* meltano invoke: Meltano's own plugin handling */
    const char *argv[] = {l->exe, "--help", NULL};
    struct child_spec spec = {.argv = argv, .redact = (const char *const *)rs->v};
    struct child *ch = NULL;
    struct iv_err e = {0};
    if (child_spawn(&ch, &spec, &e) != IV_OK)
        return "--catalog";
    struct help_text h;
    buf_init(&h.b, 64 * 1024);
    struct child_read_opts ro = {.max_line = 64 * 1024, .deadline_ms = mono_ms() + 10000};
    struct child_status cs = {0};
    child_run_lines(ch, &ro, help_line, &h, &cs, &e);
    child_free(ch);
    bool catalog = h.b.data && strstr(h.b.data, "--catalog");
    bool properties = h.b.data && strstr(h.b.data, "--properties");
    buf_release(&h.b);
    return properties && !catalog ? "--properties" : "--catalog";
}

/* ---- storing ----------------------------------------------------------------------------- */

/* Merges doc with the stored catalog and writes it (compare-and-set, retried). */
static int store_catalog(struct runner *r, const struct store_connector *c, json_t *doc,
                         char **report_out, char *why, size_t whysz)
{
    struct iv_err e = {0};
    for (int attempt = 0; attempt < CAS_ATTEMPTS; attempt++) {
        struct store_stream_catalog cur = {0};
        if (store_stream_catalog_get(r->st, c->tenant_id, c->id, &cur, &e) != IV_OK) {
            snprintf(why, whysz, "reading the stored catalog: %s", e.msg);
            return e.code ? e.code : IV_EIO;
        }
        json_t *old = cur.doc ? json_loads(cur.doc, 0, NULL) : NULL;
        json_t *work = json_deep_copy(doc);
        json_t *report = streams_merge(work, old);
        if (c->run_count > 0)
            streams_pin_tables(work, old, c->destination_table);
        char *txt = json_dumps(work, JSON_COMPACT);
        struct store_stream_catalog_write w = {
            .doc = txt, .expect_version = cur.version, .discovered_at = now_ms(),
        };
        int rc = store_stream_catalog_put(r->st, c->tenant_id, c->id, &w, &e);
        free(txt);
        json_decref(old);
        json_decref(work);
        store_stream_catalog_release(&cur);
        if (rc == IV_OK) {
            if (report_out)
                *report_out = json_dumps(report, JSON_COMPACT);
            json_decref(report);
            return IV_OK;
        }
        json_decref(report);
        if (rc != IV_ECONFLICT) {
            snprintf(why, whysz, "storing the catalog: %s", e.msg);
            return rc;
        }
    }
    snprintf(why, whysz, "the connector's catalog kept changing while discovery stored it");
    return IV_ECONFLICT;
}

/* ---- one discovery ---------------------------------------------------------------------- */

struct disc_fail {
    int status;
    char why[1024];
};

static int fail_with(struct disc_fail *f, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail_with(struct disc_fail *f, int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(f->why, sizeof f->why, fmt, ap);
    va_end(ap);
    f->status = status;
    return IV_EINVAL;
}

/* Spawns the tap and collects its output; the outcome's failures become f. */
static int run_tap(struct runner *r, const struct store_connector *c, const struct launch *l,
                   const struct runner_secrets *rs, struct child **slot,
                   struct disc_output *o, struct disc_fail *f)
{
    struct iv_err e = {0};
    /* The sandbox (child.c) may write only the private directory, as for a sync. */
    const char *private_dirs[] = {run_files_dir(l->rf), NULL};
    struct child_spec spec = {.argv = l->argv, .cwd = l->cwd,
                              .redact = (const char *const *)rs->v, .bind_rw = private_dirs};
    struct child *ch = NULL;
    if (child_spawn(&ch, &spec, &e) != IV_OK)
        return fail_with(f, 422, "cannot start tap '%s' for discovery: %.500s", c->tap_name,
                         e.msg);
    if (slot) {
        pthread_mutex_lock(&r->mu);
        *slot = ch;
        pthread_mutex_unlock(&r->mu);
    }
    struct child_read_opts ro = {
        .max_line = r->discover_max_bytes,
        .deadline_ms = mono_ms() + (int64_t)(r->discover_timeout_s * 1000.0),
    };
    struct child_status cs = {0};
    int rc = child_run_lines(ch, &ro, disc_line, o, &cs, &e);
    char *tail = child_stderr_tail(ch, NULL);
    bool timed_out = cs.timed_out || child_timed_out(ch);
    bool cancelled = cs.cancelled || child_cancelled(ch);
    if (slot) {
        pthread_mutex_lock(&r->mu);
        *slot = NULL;
        pthread_mutex_unlock(&r->mu);
    }
    child_free(ch);
    char reason[700] = "";
    int status = 0;
    if (timed_out) {
        status = 422;
        snprintf(reason, sizeof reason, "discovery of tap '%s' timed out after %.3g s "
                 "(IVORY_DISCOVER_TIMEOUT): tap killed", c->tap_name, r->discover_timeout_s);
    } else if (cancelled) {
        status = 503;
        snprintf(reason, sizeof reason, "discovery of tap '%s' was cancelled (runner shutting "
                 "down)", c->tap_name);
    } else if (rc != IV_OK) {
        status = 422;
        snprintf(reason, sizeof reason, "discovery of tap '%s' failed: %.500s", c->tap_name,
                 e.msg);
    } else if (cs.term_signal) {
        status = 502;
        snprintf(reason, sizeof reason, "tap '%s' crashed during discovery (killed by signal "
                 "%d)", c->tap_name, cs.term_signal);
    } else if (cs.exit_code != 0) {
        status = 502;
        snprintf(reason, sizeof reason, "tap '%s' crashed during discovery (exit status %d)%s"
                 "%.400s", c->tap_name, cs.exit_code, o->ab_error[0] ? ": " : "", o->ab_error);
    }
    if (status) {
        char *m = runner_error_with_stderr(reason, tail);
        fail_with(f, status, "%s", m);
        free(m);
    }
    free(tail);
    return status ? IV_EINVAL : IV_OK;
}

int runner_discover(struct runner *r, const struct store_connector *c,
                    struct child **cancel_slot, int *http_status, char **detail,
                    char **report_out)
{
    struct disc_fail f = {0};
    struct launch l = {0};
    struct runner_secrets rs = {0};
    struct disc_output o = {.max_bytes = r->discover_max_bytes};
    json_t *doc = NULL;
    char *config = NULL;
    struct iv_err e = {0};
    int rc = IV_EINVAL;
    *detail = NULL;
    if (report_out)
        *report_out = NULL;
    buf_init(&o.text, r->discover_max_bytes + 1);
    o.airbyte = c->connector_type && !strcmp(c->connector_type, "airbyte");
    if (c->connector_type && !strcmp(c->connector_type, "fivetran")) {
        fail_with(&f, 422, "connector_type 'fivetran' has no tap to discover: Ivory has no "
                  "Fivetran integration yet");
        goto out;
    }
    char why[600];
    if (!(config = runner_decrypt_config(r, c->config_encrypted, &rs, why))) {
        fail_with(&f, 503, "%s", why);
        goto out;
    }
    if (run_files_create(&l.rf, &e) != IV_OK ||
        run_files_write(l.rf, "config.json", config, strlen(config), &l.cfg_path, &e) != IV_OK) {
        fail_with(&f, 500, "cannot write the discovery's private files: %.500s", e.msg);
        goto out;
    }
    if (runner_tap_command(r, c, &l, &e) != IV_OK) {
        fail_with(&f, 422, "%.900s", e.msg);
        goto out;
    }
    if (o.airbyte)
        l.argv[l.argc++] = "discover";
    l.argv[l.argc++] = "--config";
    l.argv[l.argc++] = l.cfg_path;
    if (!o.airbyte)
        l.argv[l.argc++] = "--discover";
    l.argv[l.argc] = NULL;
    if (run_tap(r, c, &l, &rs, cancel_slot, &o, &f) != IV_OK)
        goto out;
    char pwhy[600];
    if (parse_output(&o, &doc, pwhy, sizeof pwhy) != IV_OK) {
        fail_with(&f, 422, "tap '%s' printed no usable %s catalog: %s", c->tap_name,
                  o.airbyte ? "Airbyte" : "Singer", pwhy);
        goto out;
    }
    if (!o.airbyte)
        json_object_set_new(doc, "catalog_flag", json_string(probe_catalog_flag(&l, &rs)));
    if (store_catalog(r, c, doc, report_out, f.why, sizeof f.why) != IV_OK) {
        f.status = 500;
        goto out;
    }
    rc = IV_OK;
out:
    if (rc != IV_OK) {
        *http_status = f.status ? f.status : 500;
        /* no form of a config secret in the reason */
        *detail = runner_redact(&rs, f.why[0] ? f.why : "discovery failed");
    }
    if (config) {
        OPENSSL_cleanse(config, strlen(config));
        free(config);
    }
    run_files_destroy(l.rf);
    launch_release(&l);
    runner_secrets_release(&rs);
    buf_release(&o.text);
    json_decref(o.ab_catalog);
    json_decref(doc);
    return rc;
}

/* ---- requests from the API -------------------------------------------------------------- */

static void *discovery_main(void *arg)
{
    struct discovery_run *d = arg;
    struct runner *r = d->r;
    struct store_connector c = {0};
    struct iv_err e = {0};
    int status = 0;
    char *detail = NULL, *report = NULL;
    int rc = store_connector_get(r->st, d->req.tenant_id, d->req.connector_id, &c, &e);
    if (rc == IV_ENOTFOUND) {
        status = 404;
        detail = xstrdup("the connector was deleted");
    } else if (rc != IV_OK) {
        status = 500;
        detail = xasprintf("reading the connector: %s", e.msg);
    } else {
        log_info("discovery %s: running tap %s for connector %s", d->req.id, c.tap_name, c.id);
        rc = runner_discover(r, &c, &d->child, &status, &detail, &report);
    }
    int64_t now = now_ms();
    if (rc == IV_OK)
        rc = store_discovery_finish(r->st, d->req.id, "done", 200, NULL, report, now, &e);
    else
        rc = store_discovery_finish(r->st, d->req.id, "failed", status, detail, NULL, now, &e);
    if (rc != IV_OK)
        log_warn("discovery %s: recording the outcome: %s", d->req.id, e.msg);
    else if (detail)
        log_info("discovery %s: failed (%d): %s", d->req.id, status, detail);
    free(detail);
    free(report);
    store_connector_release(&c);
    pthread_mutex_lock(&r->mu);
    d->done = true;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
    return NULL;
}

void discovery_claim(struct runner *r)
{
    int running = 0;
    pthread_mutex_lock(&r->mu);
    for (struct discovery_run *d = r->discoveries; d; d = d->next)
        running += !d->done;
    bool stopping = r->stopping;
    pthread_mutex_unlock(&r->mu);
    if (stopping || running >= DISCOVERIES_PER_RUNNER)
        return;
    struct store_discovery *v = NULL;
    size_t n = 0;
    struct iv_err e = {0};
    /* The request's lease covers the whole discovery; the API gives up after it. */
    int64_t lease = (int64_t)(r->discover_timeout_s * 1000.0) + 30000;
    if (store_discovery_claim(r->st, r->id, now_ms(), lease, DISCOVERIES_PER_RUNNER - running,
                              &v, &n, &e) != IV_OK) {
        log_warn("runner: claiming discovery requests: %s", e.msg);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        struct discovery_run *d = xcalloc(1, sizeof *d);
        d->r = r;
        d->req = v[i];
        memset(&v[i], 0, sizeof v[i]);   /* ownership moved */
        if (pthread_create(&d->th, NULL, discovery_main, d) != 0) {
            /* if even this fails, the API's timeout answers the client */
            IV_DISCARD(store_discovery_finish(r->st, d->req.id, "failed", 503,
                                   "the runner could not start a discovery thread", NULL,
                                   now_ms(), &e));
            store_discovery_release(&d->req);
            free(d);
            continue;
        }
        pthread_mutex_lock(&r->mu);
        d->next = r->discoveries;
        r->discoveries = d;
        pthread_mutex_unlock(&r->mu);
    }
    store_discoveries_free(v, n);
}

void discovery_reap(struct runner *r, bool all)
{
    for (;;) {
        struct discovery_run *take = NULL;
        pthread_mutex_lock(&r->mu);
        for (struct discovery_run **pp = &r->discoveries; *pp; pp = &(*pp)->next) {
            if ((*pp)->done || all) {
                take = *pp;
                *pp = take->next;
                if (!take->done && take->child)
                    child_cancel(take->child);
                break;
            }
        }
        pthread_mutex_unlock(&r->mu);
        if (!take)
            return;
        pthread_join(take->th, NULL);
        store_discovery_release(&take->req);
        free(take);
    }
}
