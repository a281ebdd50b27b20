/*
 * sync.c: one run, end to end, on its own thread (CONTRACT §6, §7, §9 passthrough, §10).
 *
 *   pre-flight (connector type, catalog, config decryption) -> open the tenant's catalog ->
 *   reconcile the STATE bookmark with the tables' last committed STATE -> private 0600 files
 *   (config, state, catalog) -> resolve and spawn the tap -> stdout lines -> Singer loader
 *   (Airbyte messages are translated first) -> checkpoints at STATE boundaries -> final
 *   commit on a clean exit -> signed webhook, retried until acknowledged -> job row removed.
 *
 * Exactly once: every commit carries the STATE and the run id in its snapshot summary. A
 * failed or cancelled run commits nothing after its last checkpoint; the next run starts
 * from the newest STATE of the store and the tables (reconcile()), so a runner that dies
 * between a commit and its webhook neither loses nor repeats rows.
 */
#include "runner/runner_int.h"
#include "crypto/crypto.h"
#include "lake/lake.h"
#include "singer/singer.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define ERRMSG_STDERR_BYTES 2048   /* stderr tail quoted in error_msg */
#define TAIL_PUSH_MS 2000          /* how often the log tail reaches the job row */

struct sync {
    struct run *rn;
    struct runner *r;
    struct store_job *j;
    char ns[80];
    struct lake_catalog *cat;
    struct singer_loader *ld;
    struct child *child;
    char *bookmark;               /* STATE given to the tap (owned) */
    int mode;                     /* 0 undecided, 1 single-stream, 2 multi-stream */
    int catalog_streams;          /* streams selected in the connector's catalog, 0 = none */
    bool airbyte;
    json_t *ab_catalog;           /* airbyte: configured catalog (owned) */
    char ab_error[512];           /* airbyte TRACE error message */
    json_t *ab_states;            /* airbyte per-stream/global states by key (owned) */
    int64_t last_tail_ms;
    struct buf tables;            /* "ns.t1,ns.t2" */
    char *err;                    /* failure reason (owned); NULL = success so far */
    char **secrets;               /* strings to redact (owned, NULL-terminated) */
    int nsecrets;
};

static void sync_fail(struct sync *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static char *error_with_stderr(const char *reason, const char *tail);
static void sync_fail(struct sync *s, const char *fmt, ...)
{
    if (s->err)
        return;   /* the first reason wins */
    va_list ap;
    va_start(ap, fmt);
    char buf[1024];
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    s->err = xstrdup(buf);
}

static void add_secret(struct sync *s, const char *v)
{
    if (!v || strlen(v) < 4)
        return;
    s->secrets = xrealloc(s->secrets, sizeof(char *) * (size_t)(s->nsecrets + 2));
    s->secrets[s->nsecrets++] = xstrdup(v);
    s->secrets[s->nsecrets] = NULL;
}

/* Config keys whose values are redacted from the tap's stderr (case-insensitive parts). */
static bool secret_key_name(const char *k)
{
    static const char *const parts[] = {"pass", "secret", "token", "key", "credential", "auth",
                                        "private", "cert", "dsn", "session", "cookie", NULL};
    char low[128];
    size_t n = 0;
    for (; k[n] && n + 1 < sizeof low; n++)
        low[n] = (char)tolower((unsigned char)k[n]);
    low[n] = '\0';
    for (int i = 0; parts[i]; i++)
        if (strstr(low, parts[i]))
            return true;
    return false;
}

/* Collects the string values under secret-looking keys (at any depth) for redaction. */
static void collect_secrets(struct sync *s, json_t *v, bool under_secret)
{
    if (json_is_string(v)) {
        if (under_secret)
            add_secret(s, json_string_value(v));
    } else if (json_is_object(v)) {
        const char *k;
        json_t *x;
        json_object_foreach(v, k, x) collect_secrets(s, x, under_secret || secret_key_name(k));
    } else if (json_is_array(v)) {
        size_t i;
        json_t *x;
        json_array_foreach(v, i, x) collect_secrets(s, x, under_secret);
    }
}

/* "file:///a/b" or "/a/b" joined with a relative prefix. Caller frees. */
static char *join_path(const char *base, const char *rel)
{
    size_t n = strlen(base);
    while (n > 1 && base[n - 1] == '/')
        n--;
    while (rel && *rel == '/')
        rel++;
    if (!rel || !*rel)
        return xstrndup(base, n);
    return xasprintf("%.*s/%s", (int)n, base, rel);
}

/* ---- routing (CONTRACT §9, passthrough) ----------------------------------------------------- */

static void table_for_stream(const char *dest, const char *stream, char *out, size_t outsz)
{
    int k = snprintf(out, outsz, "%s_", dest);
    for (const char *p = stream; *p && (size_t)k + 1 < outsz && k < 128; p++) {
        unsigned char c = (unsigned char)*p;
        out[k++] = isalnum(c) ? (char)tolower(c) : '_';
    }
    out[k] = '\0';
}

static int route_cb(void *ctx, const char *stream, int nstreams, char **table_out,
                    struct iv_err *e)
{
    struct sync *s = ctx;
    if (s->mode == 0)
        s->mode = (s->catalog_streams > 1 || nstreams > 1) ? 2 : 1;
    else if (s->mode == 1)
        return iv_err_set(e, IV_EINVAL,
                          "stream \"%s\" appeared after the tap's data started loading into "
                          "%s as a single-stream tap; a multi-stream tap must send every "
                          "SCHEMA before its first RECORD, or list its streams in the "
                          "connector's catalog", stream, s->j->conn.destination_table);
    char t[160];
    if (s->mode == 1)
        snprintf(t, sizeof t, "%s", s->j->conn.destination_table);
    else
        table_for_stream(s->j->conn.destination_table, stream, t, sizeof t);
    *table_out = xstrdup(t);
    if (s->tables.len)
        buf_putc(&s->tables, ',');
    buf_printf(&s->tables, "%s.%s", s->ns, t);
    struct iv_err e2 = {0};
    if (store_job_set_tables(s->r->st, s->j->run_id, s->tables.data, &e2) != IV_OK)
        log_warn("run %s: recording tables: %s", s->j->run_id, e2.msg);
    return IV_OK;
}

/* Streams selected in a Singer catalog (metadata breadcrumb [] selected != false), or all
 * streams when none carries selection metadata. */
static int count_catalog_streams(const char *catalog_json)
{
    json_t *c = catalog_json ? json_loads(catalog_json, 0, NULL) : NULL;
    json_t *streams = json_object_get(c, "streams");
    int n = 0;
    size_t i;
    json_t *st;
    json_array_foreach(streams, i, st) {
        bool selected = true;
        size_t k;
        json_t *md;
        json_array_foreach(json_object_get(st, "metadata"), k, md) {
            json_t *bc = json_object_get(md, "breadcrumb");
            if (json_is_array(bc) && json_array_size(bc) == 0) {
                json_t *sel = json_object_get(json_object_get(md, "metadata"), "selected");
                if (json_is_false(sel))
                    selected = false;
            }
        }
        /* Airbyte configured catalogs list only the streams to sync. */
        n += selected;
    }
    json_decref(c);
    return n;
}

/* ---- bookmark reconciliation ---------------------------------------------------------------- */

/* Adds the table names of a comma list "ns.a,ns.b" of this namespace to v. */
static void add_tables(struct sync *s, const char *list, char ***v, int *n)
{
    if (!list)
        return;
    char *copy = xstrdup(list), *save = NULL;
    for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        size_t nl = strlen(s->ns);
        if (strncmp(tok, s->ns, nl) != 0 || tok[nl] != '.' || !tok[nl + 1])
            continue;
        const char *name = tok + nl + 1;
        bool dup = false;
        for (int i = 0; i < *n; i++)
            dup |= !strcmp((*v)[i], name);
        if (!dup) {
            *v = xrealloc(*v, sizeof(char *) * (size_t)(*n + 1));
            (*v)[(*n)++] = xstrdup(name);
        }
    }
    free(copy);
}

/* The store's bookmark vs the STATE committed in the connector's tables: a table whose last
 * STATE came from a run of this connector that did not complete (failed after checkpoints,
 * or its runner died between commit and webhook), with no completed run after it, is newer
 * than the store. Tables written before a delete + re-register belong to no run of this
 * connector and are ignored (re-registering starts from a full load). */
static int reconcile(struct sync *s, struct iv_err *e)
{
    char **names = NULL;
    int n = 0;
    char *dest = xasprintf("%s.%s", s->ns, s->j->conn.destination_table);
    add_tables(s, dest, &names, &n);
    free(dest);
    struct store_run *runs = NULL;
    size_t nruns = 0;
    struct iv_err e2 = {0};
    if (store_run_list(s->r->st, s->j->conn.tenant_id, s->j->conn.id, 10, &runs, &nruns,
                       &e2) == IV_OK) {
        for (size_t i = 0; i < nruns; i++)
            add_tables(s, runs[i].iomete_table, &names, &n);
        store_runs_free(runs, nruns);
    }
    for (int i = 0; i < n; i++) {
        struct lake_table *t = NULL;
        if (lake_table_load(s->cat, s->ns, names[i], &t, &e2) != IV_OK)
            continue;
        char *state = NULL, *run_id = NULL;
        int64_t snap = -1;
        lake_table_last_state(t, &state, &run_id, &snap, &e2);
        lake_table_close(t);
        if (state && run_id && strcmp(run_id, s->j->run_id) != 0) {
            bool exists = false, later = false;
            char status[16];
            if (store_job_run_info(s->r->st, s->j->conn.tenant_id, s->j->conn.id, run_id,
                                   &exists, status, &later, &e2) == IV_OK &&
                exists && strcmp(status, "completed") != 0 && !later &&
                (!s->bookmark || strcmp(s->bookmark, state) != 0)) {
                log_info("run %s: table %s.%s holds STATE of run %s (%s) newer than the "
                         "bookmark: resuming from it", s->j->run_id, s->ns, names[i], run_id,
                         status);
                free(s->bookmark);
                s->bookmark = state;
                state = NULL;
                if (store_job_set_bookmark(s->r->st, s->j->conn.tenant_id, s->j->conn.id,
                                           s->bookmark, &e2) != IV_OK)
                    log_warn("run %s: saving the reconciled bookmark: %s", s->j->run_id,
                             e2.msg);
            }
        }
        free(state);
        free(run_id);
    }
    for (int i = 0; i < n; i++)
        free(names[i]);
    free(names);
    (void)e;
    return IV_OK;
}

/* ---- Airbyte protocol -> Singer ----------------------------------------------------------- */

static int feed_json(struct sync *s, json_t *msg, struct iv_err *e)
{
    char *txt = json_dumps(msg, JSON_COMPACT);
    int rc = singer_loader_line(s->ld, txt, strlen(txt), e);
    free(txt);
    return rc;
}

/* SCHEMA messages for the streams of the configured catalog. */
static int airbyte_schemas(struct sync *s, struct iv_err *e)
{
    size_t i;
    json_t *cs;
    json_array_foreach(json_object_get(s->ab_catalog, "streams"), i, cs) {
        json_t *st = json_object_get(cs, "stream");
        const char *name = json_str(st, "name");
        json_t *schema = json_object_get(st, "json_schema");
        if (!name || !json_is_object(schema))
            return iv_err_set(e, IV_EINVAL, "airbyte catalog: streams[%zu] needs stream.name "
                              "and stream.json_schema", i);
        json_t *keys = json_array();
        size_t k;
        json_t *pk;
        json_array_foreach(json_object_get(cs, "primary_key"), k, pk) {
            if (json_is_array(pk) && json_array_size(pk) == 1 &&
                json_is_string(json_array_get(pk, 0)))
                json_array_append(keys, json_array_get(pk, 0));
        }
        json_t *m = json_pack("{s:s, s:s, s:O, s:o}", "type", "SCHEMA", "stream", name,
                              "schema", schema, "key_properties", keys);
        int rc = feed_json(s, m, e);
        json_decref(m);
        if (rc)
            return rc;
    }
    return IV_OK;
}

static int airbyte_line(struct sync *s, const char *line, size_t len, struct iv_err *e)
{
    while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == ' '))
        len--;
    if (len == 0)
        return IV_OK;
    json_error_t je;
    json_t *m = json_loadb(line, len, JSON_REJECT_DUPLICATES, &je);
    if (!m || !json_is_object(m)) {
        json_decref(m);
        return iv_err_set(e, IV_EINVAL, "not an Airbyte message (invalid JSON: %s)",
                          m ? "not an object" : je.text);
    }
    const char *type = json_str(m, "type");
    int rc = IV_OK;
    if (!type) {
        rc = iv_err_set(e, IV_EINVAL, "Airbyte message without \"type\"");
    } else if (!strcmp(type, "RECORD")) {
        json_t *rec = json_object_get(m, "record");
        const char *stream = json_str(rec, "stream");
        json_t *data = json_object_get(rec, "data");
        if (!stream || !json_is_object(data)) {
            rc = iv_err_set(e, IV_EINVAL, "Airbyte RECORD needs record.stream and record.data");
        } else {
            json_t *sm = json_pack("{s:s, s:s, s:O}", "type", "RECORD", "stream", stream,
                                   "record", data);
            rc = feed_json(s, sm, e);
            json_decref(sm);
        }
    } else if (!strcmp(type, "STATE")) {
        json_t *st = json_object_get(m, "state");
        const char *stype = json_str(st, "type");
        json_t *val = NULL;
        if (stype && (!strcmp(stype, "STREAM") || !strcmp(stype, "GLOBAL"))) {
            /* Per-stream / global states: the bookmark keeps the latest state of every
             * stream, as the array `--state` expects next time (airbyte_state_file). */
            json_t *sd = json_object_get(json_object_get(st, "stream"), "stream_descriptor");
            char *key = !strcmp(stype, "GLOBAL") ? xstrdup("\x01global")
                        : xasprintf("%s.%s", json_str(sd, "namespace") ? json_str(sd, "namespace")
                                    : "", json_str(sd, "name") ? json_str(sd, "name") : "");
            json_object_set(s->ab_states, key, st);
            free(key);
            json_t *arr = json_array();
            const char *k;
            json_t *x;
            json_object_foreach(s->ab_states, k, x) json_array_append(arr, x);
            val = json_pack("{s:o}", "airbyte_state", arr);
        } else {
            val = json_object_get(st, "data");
            if (!json_is_object(val))
                val = st;
            json_incref(val);
        }
        if (!json_is_object(val)) {
            rc = iv_err_set(e, IV_EINVAL, "Airbyte STATE needs a \"state\" object");
        } else {
            json_t *sm = json_pack("{s:s, s:O}", "type", "STATE", "value", val);
            rc = feed_json(s, sm, e);
            json_decref(sm);
        }
        json_decref(val);
    } else if (!strcmp(type, "LOG")) {
        json_t *lg = json_object_get(m, "log");
        const char *lvl = json_str(lg, "level");
        if (lvl && (!strcmp(lvl, "ERROR") || !strcmp(lvl, "FATAL")))
            snprintf(s->ab_error, sizeof s->ab_error, "%s", json_str(lg, "message") ?
                     json_str(lg, "message") : "error");
    } else if (!strcmp(type, "TRACE")) {
        json_t *tr = json_object_get(m, "trace");
        const char *tt = json_str(tr, "type");
        if (tt && !strcmp(tt, "ERROR")) {
            const char *msg = json_str(json_object_get(tr, "error"), "message");
            snprintf(s->ab_error, sizeof s->ab_error, "%s", msg ? msg : "error");
        }
    } else if (!strcmp(type, "CONTROL") || !strcmp(type, "SPEC") || !strcmp(type, "CATALOG") ||
               !strcmp(type, "CONNECTION_STATUS")) {
        /* nothing to load */
    } else {
        rc = iv_err_set(e, IV_EINVAL, "unknown Airbyte message type \"%s\"", type);
    }
    json_decref(m);
    return rc;
}

/* `<tap> discover --config FILE`: the CATALOG message's streams become a configured catalog
 * (incremental with the source-defined cursor when supported, else full refresh; append). */
struct discover_ctx {
    json_t *catalog;
};

static int discover_line(void *ctx, const char *line, size_t len, uint64_t lineno,
                         struct iv_err *e)
{
    struct discover_ctx *d = ctx;
    json_t *m = json_loadb(line, len, 0, NULL);
    const char *type = json_str(m, "type");
    if (type && !strcmp(type, "CATALOG") && json_is_object(json_object_get(m, "catalog"))) {
        json_decref(d->catalog);
        d->catalog = json_incref(json_object_get(m, "catalog"));
    }
    json_decref(m);
    (void)lineno;
    (void)e;
    return IV_OK;
}

static int airbyte_discover(struct sync *s, const char **argv0, int argc0, const char *cfg_path)
{
    const char *argv[24];
    int n = 0;
    for (int i = 0; i < argc0 && n < 18; i++)
        argv[n++] = argv0[i];
    argv[n++] = "discover";
    argv[n++] = "--config";
    argv[n++] = cfg_path;
    argv[n] = NULL;
    struct child_spec spec = {.argv = argv, .redact = (const char *const *)s->secrets};
    struct child *c = NULL;
    struct iv_err e = {0};
    if (child_spawn(&c, &spec, &e) != IV_OK) {
        sync_fail(s, "cannot start '%s discover': %s", s->j->conn.tap_name, e.msg);
        return IV_ECHILD;
    }
    struct discover_ctx d = {0};
    struct child_read_opts ro = {
        .max_line = s->r->cfg->max_line_bytes,
        .deadline_ms = mono_ms() + (int64_t)(s->r->cfg->run_timeout_s * 1000.0),
    };
    struct child_status cs = {0};
    int rc = child_run_lines(c, &ro, discover_line, &d, &cs, &e);
    char *tail = child_stderr_tail(c, NULL);
    child_free(c);
    if (rc != IV_OK || cs.exit_code != 0 || !d.catalog) {
        char reason[700];
        snprintf(reason, sizeof reason, "'%s discover' %s", s->j->conn.tap_name,
                 rc != IV_OK ? e.msg : cs.exit_code != 0 ? "failed" : "printed no CATALOG");
        char *m = error_with_stderr(reason, tail);
        sync_fail(s, "%s", m);
        free(m);
        free(tail);
        json_decref(d.catalog);
        return IV_EINVAL;
    }
    free(tail);
    json_t *streams = json_array();
    size_t i;
    json_t *st;
    json_array_foreach(json_object_get(d.catalog, "streams"), i, st) {
        bool inc = false;
        size_t k;
        json_t *mode;
        json_array_foreach(json_object_get(st, "supported_sync_modes"), k, mode)
            inc |= json_is_string(mode) && !strcmp(json_string_value(mode), "incremental");
        json_t *cs2 = json_pack("{s:O, s:s, s:s}", "stream", st, "sync_mode",
                                inc ? "incremental" : "full_refresh", "destination_sync_mode",
                                "append");
        json_t *pk = json_object_get(st, "source_defined_primary_key");
        if (pk)
            json_object_set(cs2, "primary_key", pk);
        json_t *cur = json_object_get(st, "default_cursor_field");
        if (inc && cur)
            json_object_set(cs2, "cursor_field", cur);
        json_array_append_new(streams, cs2);
    }
    json_decref(d.catalog);
    s->ab_catalog = json_pack("{s:o}", "streams", streams);
    return IV_OK;
}

/* ---- the child's stdout --------------------------------------------------------------------- */

static void push_tail(struct sync *s, bool force)
{
    int64_t now = mono_ms();
    if (!s->child || (!force && now - s->last_tail_ms < TAIL_PUSH_MS))
        return;
    s->last_tail_ms = now;
    char *tail = child_stderr_tail(s->child, NULL);
    struct iv_err e = {0};
    if (tail && *tail)
        store_job_update(s->r->st, s->j->job_id, 0, tail, &e);
    free(tail);
}

static int on_line(void *ctx, const char *line, size_t len, uint64_t lineno, struct iv_err *e)
{
    struct sync *s = ctx;
    int rc = s->airbyte ? airbyte_line(s, line, len, e) : singer_loader_line(s->ld, line, len, e);
    if (rc) {
        char inner[sizeof e->msg];
        snprintf(inner, sizeof inner, "%s", e->msg);
        return iv_err_set(e, rc, "tap output line %llu: %s", (unsigned long long)lineno, inner);
    }
    if ((lineno & 1023) == 0)
        push_tail(s, false);
    return IV_OK;
}

static void on_commit(void *ctx, const char *state, int64_t rows)
{
    struct sync *s = ctx;
    log_debug("run %s: checkpoint (%lld rows committed)", s->j->run_id, (long long)rows);
    (void)state;
}

/* ---- pre-flight ------------------------------------------------------------------------------ */

static bool is_one_of(const char *v, const char *a, const char *b, const char *c)
{
    return v && (!strcmp(v, a) || !strcmp(v, b) || !strcmp(v, c));
}

static char *config_object_or_fail(struct sync *s, uint8_t *plain, size_t n);

/* A config encrypted by the client to the server's public key (compact JWE). */
static char *decrypt_config_jwe(struct sync *s, const char *jwe)
{
    if (!s->r->jwe_key || s->r->jwe_key_err[0]) {
        sync_fail(s, "cannot decrypt config_encrypted (JWE): %s",
                  s->r->jwe_key_err[0] ? s->r->jwe_key_err
                                       : "IVORY_CONFIG_PRIVATE_KEY is not set on this runner");
        return NULL;
    }
    uint8_t *plain = NULL;
    size_t n = 0;
    struct iv_err e = {0};
    if (jwe_decrypt(s->r->jwe_key, jwe, &plain, &n, &e) != IV_OK) {
        sync_fail(s, "cannot decrypt config_encrypted (JWE): %s", e.msg);
        return NULL;
    }
    return config_object_or_fail(s, plain, n);
}

/* Decrypted tap config (caller frees) or NULL with s->err set. */
static char *decrypt_config(struct sync *s)
{
    const char *env = s->j->conn.config_encrypted;
    if (!env || !*env)
        return xstrdup("{}");
    if (jwe_looks_compact(env))
        return decrypt_config_jwe(s, env);
    if (!s->r->have_config_key) {
        if (s->r->config_key_err[0])
            sync_fail(s, "cannot decrypt config_encrypted: %s", s->r->config_key_err);
        else
            sync_fail(s, "the connector has an encrypted config but IVORY_CONFIG_KEY is not set "
                      "on this runner");
        return NULL;
    }
    uint8_t *plain = NULL;
    size_t n = 0;
    struct iv_err e = {0};
    int rc = envelope_decrypt(s->r->config_key, env, &plain, &n, &e);
    if (rc == IV_EAUTH) {
        sync_fail(s, "cannot decrypt config_encrypted: wrong IVORY_CONFIG_KEY or tampered "
                  "envelope");
        return NULL;
    }
    if (rc != IV_OK) {
        sync_fail(s, "cannot decrypt config_encrypted: %s", e.msg);
        return NULL;
    }
    return config_object_or_fail(s, plain, n);
}

/* plain (taken) must be a JSON object: returned as the config text, its
 * values registered as secrets for redaction; else NULL with s->err set. */
static char *config_object_or_fail(struct sync *s, uint8_t *plain, size_t n)
{
    json_error_t je;
    json_t *j = json_loadb((const char *)plain, n, 0, &je);
    if (!json_is_object(j)) {
        json_decref(j);
        free(plain);
        sync_fail(s, "the decrypted tap config is not a JSON object");
        return NULL;
    }
    collect_secrets(s, j, false);
    json_decref(j);
    return (char *)plain;
}

static int open_catalog(struct sync *s)
{
    const struct store_catalog *c = &s->j->cat;
    if (!s->j->has_catalog) {
        sync_fail(s, "destination catalog '%s' does not exist for this tenant",
                  s->j->conn.destination_catalog);
        return IV_EINVAL;
    }
    if (!c->active) {
        sync_fail(s, "destination catalog '%s' is deactivated", c->catalog_name);
        return IV_EINVAL;
    }
    if (is_one_of(c->catalog_type, "hive", "rest", "glue")) {
        sync_fail(s, "catalog '%s' has type '%s', which the runner does not support yet "
                  "(use 'hadoop' or 'sql')", c->catalog_name, c->catalog_type);
        return IV_EUNSUPPORTED;
    }
    char *wh = join_path(c->warehouse, c->storage_prefix);
    char *uri = NULL;
    if (c->catalog_uri && !strcmp(c->catalog_uri, "local")) {
        /* 'local': the server's own SQLite catalog file in the data dir (docs/runner.md). */
        char *abs = realpath(s->r->cfg->data_dir, NULL);
        uri = xasprintf("%s/iceberg_catalog.db", abs ? abs : s->r->cfg->data_dir);
        free(abs);
    } else if (c->catalog_uri) {
        uri = xstrdup(c->catalog_uri);
    }
    uint8_t *s3secret = NULL;
    size_t s3n = 0;
    if (c->s3_secret_key_enc) {
        struct iv_err e = {0};
        if (secret_unseal(s->r->master, c->s3_secret_key_enc, &s3secret, &s3n, &e) != IV_OK) {
            sync_fail(s, "cannot unseal the S3 secret of catalog '%s' (master key changed?)",
                      c->catalog_name);
            free(wh);
            free(uri);
            return IV_EAUTH;
        }
        add_secret(s, (const char *)s3secret);
    }
    struct lake_catalog_config lc = {
        .type = c->catalog_type, .warehouse = wh, .uri = uri, .catalog_name = c->catalog_name,
        .s3_endpoint = c->s3_endpoint, .s3_access_key_id = c->s3_access_key_id,
        .s3_secret_key = (const char *)s3secret,
    };
    struct iv_err e = {0};
    int rc = lake_catalog_open(&s->cat, &lc, &e);
    if (rc != IV_OK)
        sync_fail(s, "cannot open catalog '%s' (%s): %s", c->catalog_name, c->catalog_type,
                  e.msg);
    free(wh);
    free(uri);
    if (s3secret) {
        memset(s3secret, 0, s3n);
        free(s3secret);
    }
    return rc;
}

/* ---- report --------------------------------------------------------------------------------- */

static char *iso_ms(int64_t ms)
{
    char b[32];
    iso8601_format_ms(ms, b);
    return xstrdup(b);
}

/* Applies the run's effects straight in the store: the fallback when the webhook cannot be
 * delivered (API down past the retry budget, shutdown, or a secret this runner cannot
 * unseal). The store's webhook transaction is idempotent by run id like the endpoint. */
static bool apply_direct(struct sync *s, const struct store_webhook *w)
{
    struct store_webhook_result res;
    struct iv_err e = {0};
    int rc = store_webhook_apply(s->r->st, s->j->conn.tenant_id, w, &s->r->pol, now_ms(), &res,
                                 &e);
    if (rc == IV_OK || rc == IV_ENOTFOUND) {
        log_warn("run %s: webhook not delivered; its effects were applied directly in the "
                 "store%s", s->j->run_id, res.replay ? " (already applied)" : "");
        return true;
    }
    log_error("run %s: applying its effects in the store failed too: %s (the run is failed "
              "when its lease expires)", s->j->run_id, e.msg);
    return false;
}

/* Posts the completion webhook; true when acknowledged (or pointless: connector gone), or
 * when the fallback applied the effects. */
static bool report(struct sync *s, bool completed, const char *error_msg, int64_t rows_synced,
                   int64_t rows_loaded, int64_t snapshot_id, const char *state)
{
    struct runner *r = s->r;
    struct iv_err e = {0};
    int64_t completed_at = now_ms();
    const char *first = s->tables.len ? s->tables.data : NULL;
    char *tbl = first ? xstrdup(first) : xasprintf("%s.%s", s->ns, s->j->conn.destination_table);
    char snap[32] = "";
    if (snapshot_id >= 0)
        snprintf(snap, sizeof snap, "%lld", (long long)snapshot_id);
    json_t *st = state ? json_loads(state, 0, NULL) : NULL;
    if (st && !json_is_object(st)) {
        json_decref(st);
        st = NULL;
    }
    char *state_obj = st ? json_dumps(st, JSON_COMPACT) : NULL;
    struct store_webhook w = {
        .connector_id = s->j->conn.id, .run_id = s->j->run_id, .completed = completed,
        .rows_synced = rows_synced, .rows_loaded = rows_loaded, .transform_errors = 0,
        .tap_state = state_obj, .started_at = s->j->started_at, .completed_at = completed_at,
        .error_msg = error_msg, .iomete_table = tbl, .snapshot_id = snap[0] ? snap : NULL,
    };
    bool done = false;

    uint8_t *secret = NULL;
    size_t sn = 0;
    if (!s->j->conn.webhook_secret_enc ||
        secret_unseal(r->master, s->j->conn.webhook_secret_enc, &secret, &sn, &e) != IV_OK) {
        log_error("run %s: cannot unseal the connector's webhook secret (is IVORY_MASTER_KEY "
                  "the server's?)", s->j->run_id);
        done = apply_direct(s, &w);
        goto out;
    }
    json_t *body = json_object();
    json_object_set_new(body, "connector_id", json_string(w.connector_id));
    json_object_set_new(body, "run_id", json_string(w.run_id));
    json_object_set_new(body, "status", json_string(completed ? "completed" : "failed"));
    json_object_set_new(body, "rows_synced", json_integer(rows_synced));
    json_object_set_new(body, "rows_loaded", json_integer(rows_loaded));
    json_object_set_new(body, "transform_errors", json_integer(0));
    json_object_set_new(body, "tap_state", st ? json_incref(st) : json_null());
    char *a = iso_ms(s->j->started_at), *b = iso_ms(completed_at);
    json_object_set_new(body, "started_at", json_string(a));
    json_object_set_new(body, "completed_at", json_string(b));
    free(a);
    free(b);
    json_object_set_new(body, "error_msg", error_msg ? json_string(error_msg) : json_null());
    json_object_set_new(body, "iomete_table", json_string(tbl));
    json_object_set_new(body, "snapshot_id", snap[0] ? json_string(snap) : json_null());
    char *txt = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    struct webhook_client_opts wo = {.cancel = &r->abort_webhooks,
                                     .max_attempts = r->webhook_attempts};
    int rc = webhook_client_post(r->cfg->api_url, secret, sn, txt, &wo, &e);
    memset(secret, 0, sn);
    free(secret);
    free(txt);
    if (rc == IV_OK) {
        done = true;
    } else if (rc == IV_EINVAL) {
        /* 4xx: the connector or run is gone (deleted) - a retry cannot help. */
        log_warn("run %s: webhook refused: %s", s->j->run_id, e.msg);
        done = true;
    } else {
        log_error("run %s: webhook to %s not acknowledged: %s", s->j->run_id, r->cfg->api_url,
                  e.msg);
        done = apply_direct(s, &w);
    }
out:
    json_decref(st);
    free(state_obj);
    free(tbl);
    return done;
}

/* error_msg = reason + the last lines of the tap's stderr. */
static char *error_with_stderr(const char *reason, const char *tail)
{
    if (!tail || !*tail)
        return xstrdup(reason);
    size_t n = strlen(tail);
    const char *p = n > ERRMSG_STDERR_BYTES ? tail + n - ERRMSG_STDERR_BYTES : tail;
    if (p != tail) {
        const char *nl = strchr(p, '\n');
        if (nl && nl[1])
            p = nl + 1;
    }
    size_t m = strlen(p);
    while (m > 0 && (p[m - 1] == '\n' || p[m - 1] == '\r'))
        m--;
    return xasprintf("%s; tap stderr: %.*s", reason, (int)m, p);
}

/* ---- the run -------------------------------------------------------------------------------- */

static void execute(struct sync *s, struct run_files **rf_out)
{
    struct runner *r = s->r;
    struct store_job *j = s->j;
    struct iv_err e = {0};
    char *config = NULL, *exe = NULL;
    const char **argv = NULL;
    int argc = 0;

    if (j->conn.connector_type && !strcmp(j->conn.connector_type, "fivetran")) {
        sync_fail(s, "connector_type 'fivetran' is not runnable here: Ivory has no Fivetran "
                  "integration yet");
        return;
    }
    s->airbyte = j->conn.connector_type && !strcmp(j->conn.connector_type, "airbyte");
    if (open_catalog(s) != IV_OK)
        return;
    if (!(config = decrypt_config(s)))
        return;
    s->bookmark = xstrdup(j->conn.tap_state);
    reconcile(s, &e);
    s->catalog_streams = count_catalog_streams(j->conn.catalog_json);

    /* Private files: 0600 in a 0700 directory, removed after the run. */
    struct run_files *rf = NULL;
    if (run_files_create(&rf, &e) != IV_OK) {
        sync_fail(s, "cannot create the run's private directory: %s", e.msg);
        goto out;
    }
    *rf_out = rf;
    char pidtxt[32];
    int pn = snprintf(pidtxt, sizeof pidtxt, "%d\n", (int)getpid());
    const char *cfg_path = NULL, *state_path = NULL, *cat_path = NULL, *pid_path = NULL;
    char *state_txt = s->bookmark ? xstrdup(s->bookmark) : NULL;
    s->ab_states = json_object();
    if (s->airbyte && s->bookmark) {
        /* A per-stream bookmark {"airbyte_state": [...]} goes to the source as the array of
         * state messages; a legacy one as it is. */
        json_t *b = json_loads(s->bookmark, 0, NULL);
        json_t *arr = json_object_get(b, "airbyte_state");
        if (json_is_array(arr)) {
            size_t i;
            json_t *x;
            json_array_foreach(arr, i, x) {
                const char *t = json_str(x, "type");
                json_t *sd = json_object_get(json_object_get(x, "stream"), "stream_descriptor");
                char *key = t && !strcmp(t, "GLOBAL") ? xstrdup("\x01global")
                            : xasprintf("%s.%s", json_str(sd, "namespace") ?
                                        json_str(sd, "namespace") : "",
                                        json_str(sd, "name") ? json_str(sd, "name") : "");
                json_object_set(s->ab_states, key, x);
                free(key);
            }
            free(state_txt);
            state_txt = json_dumps(arr, JSON_COMPACT);
        }
        json_decref(b);
    }
    int frc = run_files_write(rf, "runner.pid", pidtxt, (size_t)pn, &pid_path, &e);
    if (frc == IV_OK && state_txt)
        frc = run_files_write(rf, "state.json", state_txt, strlen(state_txt), &state_path, &e);
    free(state_txt);
    if (frc != IV_OK ||
        run_files_write(rf, "config.json", config, strlen(config), &cfg_path, &e) != IV_OK ||
        (j->conn.catalog_json && run_files_write(rf, "catalog.json", j->conn.catalog_json,
                                                 strlen(j->conn.catalog_json), &cat_path,
                                                 &e) != IV_OK)) {
        sync_fail(s, "cannot write the run's private files: %s", e.msg);
        goto out;
    }
    memset(config, 0, strlen(config));

    /* Tap resolution: meltano invoke, or the executable on IVORY_TAP_PATH / PATH. */
    argv = xcalloc(16, sizeof(char *));
    const char *cwd = NULL;
    char *envarg = NULL;
    bool meltano = j->conn.connector_type && !strcmp(j->conn.connector_type, "meltano") &&
                   r->cfg->meltano_project && *r->cfg->meltano_project &&
                   tap_resolve("meltano", NULL, NULL, &exe, &e) == IV_OK;
    if (meltano) {
        envarg = xasprintf("--environment=%s", j->conn.meltano_environment ?
                           j->conn.meltano_environment : "dev");
        argv[argc++] = exe;
        argv[argc++] = envarg;
        argv[argc++] = "invoke";
        argv[argc++] = j->conn.tap_name;
        cwd = r->cfg->meltano_project;
    } else {
        free(exe);
        exe = NULL;
        if (tap_resolve(j->conn.tap_name, j->conn.tap_version, r->cfg->tap_path, &exe, &e) !=
            IV_OK) {
            sync_fail(s, "%s", e.msg);
            goto out;
        }
        argv[argc++] = exe;
    }
    if (s->airbyte) {
        /* The configured catalog: the connector's, else every discovered stream. */
        if (j->conn.catalog_json)
            s->ab_catalog = json_loads(j->conn.catalog_json, 0, NULL);
        else if (airbyte_discover(s, argv, argc, cfg_path) != IV_OK)
            goto out_argv;
        if (!json_is_array(json_object_get(s->ab_catalog, "streams"))) {
            sync_fail(s, "the airbyte catalog has no \"streams\" array");
            goto out_argv;
        }
        s->catalog_streams = (int)json_array_size(json_object_get(s->ab_catalog, "streams"));
        if (!cat_path) {
            char *txt = json_dumps(s->ab_catalog, JSON_COMPACT);
            int wrc = run_files_write(rf, "catalog.json", txt, strlen(txt), &cat_path, &e);
            free(txt);
            if (wrc != IV_OK) {
                sync_fail(s, "cannot write the run's private files: %s", e.msg);
                goto out_argv;
            }
        }
        argv[argc++] = "read";
    }
    argv[argc++] = "--config";
    argv[argc++] = cfg_path;
    if (cat_path) {
        argv[argc++] = "--catalog";
        argv[argc++] = cat_path;
    }
    if (state_path) {
        argv[argc++] = "--state";
        argv[argc++] = state_path;
    }
    argv[argc] = NULL;

    struct singer_loader_opts lo = {
        .cat = s->cat, .ns = s->ns, .route = route_cb, .route_ctx = s, .defer_routing = true,
        .stamp_all = true, .batch_rows = r->ckpt_rows, .batch_seconds = r->ckpt_seconds,
        .run_id = j->run_id, .on_commit = on_commit, .commit_ctx = s,
    };
    if (singer_loader_new(&s->ld, &lo, &e) != IV_OK) {
        sync_fail(s, "%s", e.msg);
        goto out_argv;
    }
    if (s->airbyte && airbyte_schemas(s, &e) != IV_OK) {
        sync_fail(s, "%s", e.msg);
        goto out_argv;
    }

    struct child_spec spec = {.argv = argv, .cwd = cwd, .redact = (const char *const *)s->secrets};
    struct child *c = NULL;
    if (child_spawn(&c, &spec, &e) != IV_OK) {
        sync_fail(s, "cannot start tap '%s': %s", j->conn.tap_name, e.msg);
        goto out_argv;
    }
    pthread_mutex_lock(&r->mu);
    s->child = c;
    s->rn->child = c;
    if (s->rn->cancel != RUN_CANCEL_NONE)
        child_cancel(c);
    pthread_mutex_unlock(&r->mu);
    store_job_update(r->st, j->job_id, child_pid(c), NULL, &e);
    log_info("run %s: started %s (pid %d) for connector %s", j->run_id, j->conn.tap_name,
             (int)child_pid(c), j->conn.id);

    int64_t deadline = mono_ms() + (int64_t)(r->cfg->run_timeout_s * 1000.0);
    struct child_read_opts ro = {.max_line = r->cfg->max_line_bytes, .deadline_ms = deadline};
    struct child_status cs = {0};
    int rc = child_read_lines(c, &ro, on_line, s, &e);
    if (rc == IV_OK) {
        child_wait(c, deadline, 5000, &cs);
    } else {
        child_terminate(c, 5000, &cs);
    }
    char *tail = child_stderr_tail(c, NULL);
    if (tail && *tail) {
        struct iv_err e3 = {0};
        store_job_update(r->st, j->job_id, 0, tail, &e3);
    }
    if (rc != IV_OK) {
        char reason[700];
        if (cs.timed_out || child_timed_out(c))
            snprintf(reason, sizeof reason, "run timed out after %.3g s: tap killed",
                     r->cfg->run_timeout_s);
        else if (cs.cancelled || child_cancelled(c))
            snprintf(reason, sizeof reason, "run cancelled: tap killed");
        else
            snprintf(reason, sizeof reason, "%s", e.msg);
        char *m = error_with_stderr(reason, tail);
        sync_fail(s, "%s", m);
        free(m);
    } else if (cs.timed_out || cs.cancelled) {
        char *m = error_with_stderr(cs.timed_out ? "run timed out: tap killed"
                                                 : "run cancelled: tap killed", tail);
        sync_fail(s, "%s", m);
        free(m);
    } else if (cs.exit_code != 0) {
        char reason[600];
        if (cs.term_signal)
            snprintf(reason, sizeof reason, "tap '%s' was killed by signal %d",
                     j->conn.tap_name, cs.term_signal);
        else
            snprintf(reason, sizeof reason, "tap '%s' exited with status %d%s%s",
                     j->conn.tap_name, cs.exit_code, s->ab_error[0] ? ": " : "", s->ab_error);
        char *m = error_with_stderr(reason, tail);
        sync_fail(s, "%s", m);
        free(m);
    } else {
        /* Clean exit: the rest commits with the latest STATE. */
        if (singer_loader_finish(s->ld, &e) != IV_OK)
            sync_fail(s, "final commit failed: %s", e.msg);
    }
    free(tail);
    pthread_mutex_lock(&r->mu);
    s->rn->child = NULL;
    pthread_mutex_unlock(&r->mu);
    s->child = NULL;
    child_free(c);
out_argv:
    free(envarg);
out:
    free(argv);
    free(exe);
    if (config) {
        memset(config, 0, strlen(config));
        free(config);
    }
}

void *run_main(void *arg)
{
    struct run *rn = arg;
    struct runner *r = rn->r;
    struct store_job *j = &rn->job;
    struct sync s;
    memset(&s, 0, sizeof s);
    s.rn = rn;
    s.r = r;
    s.j = j;
    buf_init(&s.tables, 64 * 1024);
    struct run_files *rf = NULL;
    int64_t t0 = mono_ms();

    if (!j->conn.source_system) {
        /* The connector vanished between claim and load: nothing to run or report. */
        struct iv_err e = {0};
        store_job_finish(r->st, j->job_id, j->run_id, NULL, &e);
        goto done;
    }
    store_tenant_namespace(j->tenant_slug, s.ns);
    if (j->conn.iomete_namespace && *j->conn.iomete_namespace)
        snprintf(s.ns, sizeof s.ns, "%s", j->conn.iomete_namespace);

    execute(&s, &rf);
    run_files_destroy(rf);   /* the decrypted config never outlives its run */
    rf = NULL;

    pthread_mutex_lock(&r->mu);
    enum run_cancel cancel = rn->cancel;
    pthread_mutex_unlock(&r->mu);

    struct singer_loader_stats st = {.last_snapshot_id = -1};
    if (s.ld)
        singer_loader_get_stats(s.ld, &st);
    if (cancel == RUN_CANCEL_DELETED) {
        log_info("run %s: cancelled (connector deleted); %lld rows were committed before",
                 j->run_id, (long long)st.rows_committed);
        struct iv_err e = {0};
        store_job_finish(r->st, j->job_id, j->run_id, NULL, &e);
        goto done;
    }
    if (cancel == RUN_CANCEL_REQUESTED && s.err) {
        /* The webhook knows completed|failed only: a cancelled run is reported failed. */
        char *m = xasprintf("run cancelled on request; nothing after the last checkpoint was "
                            "committed (%s)", s.err);
        free(s.err);
        s.err = m;
    }
    if (cancel == RUN_CANCEL_SHUTDOWN && s.err) {
        char *m = xasprintf("runner shut down before the run finished (%s)", s.err);
        free(s.err);
        s.err = m;
    }
    const char *committed = s.ld ? singer_loader_committed_state(s.ld) : NULL;
    /* Completed: the final STATE. Failed: the STATE of the last checkpoint (the bookmark
     * advances to match what was committed), else the bookmark unchanged. */
    const char *state = committed ? committed : s.bookmark;
    bool ok = s.err == NULL;
    if (ok)
        log_info("run %s: completed, %lld records read, %lld rows loaded in %.1f s", j->run_id,
                 (long long)st.records, (long long)st.rows_committed,
                 (double)(mono_ms() - t0) / 1000.0);
    else
        log_warn("run %s: failed: %s", j->run_id, s.err);
    if (!ok && committed) {
        struct iv_err e = {0};
        store_job_set_bookmark(r->st, j->conn.tenant_id, j->conn.id, committed, &e);
    }
    if (report(&s, ok, s.err, st.records, st.rows_committed, st.last_snapshot_id, state)) {
        struct iv_err e = {0};
        if (store_job_finish(r->st, j->job_id, j->run_id, NULL, &e) != IV_OK)
            log_error("run %s: removing its job: %s", j->run_id, e.msg);
    }
done:
    singer_loader_free(s.ld);
    if (s.cat)
        lake_catalog_close(s.cat);
    json_decref(s.ab_catalog);
    json_decref(s.ab_states);
    buf_release(&s.tables);
    free(s.bookmark);
    free(s.err);
    for (int i = 0; i < s.nsecrets; i++) {
        memset(s.secrets[i], 0, strlen(s.secrets[i]));
        free(s.secrets[i]);
    }
    free(s.secrets);
    pthread_mutex_lock(&r->mu);
    rn->done = true;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
    return NULL;
}
