/*
 * sync.c: one run, end to end, on its own thread (docs/runner.md, docs/singer.md).
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
#include "runner/airbyte.h"
#include "runner/mapping.h"
#include "crypto/crypto.h"
#include "lake/lake.h"
#include "singer/singer.h"
#include "streams/streams.h"

#include <ctype.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define ERRMSG_STDERR_BYTES 2048   /* stderr tail quoted in error_msg */
#define TAIL_PUSH_MS 2000          /* how often the log tail reaches the job row */

struct sync {
    struct mapping_stage *mapping; /* the connector's field mappings (owned); NULL = none */
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
    struct airbyte_session ab;    /* airbyte: catalog, states, error (owned) */
    int64_t last_tail_ms;
    _Atomic int64_t last_checkpoint_ms;   /* wall clock of the last commit; 0 = none yet */
    bool cancelled;               /* ended on request (POST .../runs/{id}/cancel) */
    struct buf tables;            /* "ns.t1,ns.t2" */
    char *err;                    /* failure reason (owned); NULL = success so far */
    struct runner_secrets secrets; /* strings to redact (owned) */
    json_t *stream_doc;           /* the connector's stream catalog, when discovered (owned) */
    json_t *stream_tables;        /* {tap_stream_id: table} of the selected streams (owned) */
    enum singer_drift drift;      /* the connector's schema_drift, read at the start */
};

static void sync_fail(struct sync *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sync_fail(struct sync *s, const char *fmt, ...)
{
    if (s->err)
        return;   /* the first reason wins */
    va_list ap;
    va_start(ap, fmt);
    char buf[1024];
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    /* Every failure reason (a TRACE or LOG error of the tap, its stderr tail, a library's
     * message) goes through the secrets before it reaches error_msg and the log. */
    s->err = runner_redact(&s->secrets, buf);
    OPENSSL_cleanse(buf, sizeof buf);
}

/* Adds one form of a secret (takes v), once. */
static void secret_form_add(struct runner_secrets *rs, char *v)
{
    for (int i = 0; i < rs->n; i++)
        if (!strcmp(rs->v[i], v)) {
            OPENSSL_cleanse(v, strlen(v));
            free(v);
            return;
        }
    rs->v = xrealloc(rs->v, sizeof(char *) * (size_t)(rs->n + 2));
    rs->v[rs->n++] = v;
    rs->v[rs->n] = NULL;
}

/* The secret as a JSON string body ("p\"w" for p"w): how a tap that logs JSON prints it. */
static char *json_escaped(const char *v)
{
    json_t *j = json_string(v);
    char *d = j ? json_dumps(j, JSON_ENCODE_ANY) : NULL;
    json_decref(j);
    if (!d)
        return xstrdup(v);
    size_t n = strlen(d);
    memmove(d, d + 1, n - 2);   /* strip the quotes */
    d[n - 2] = '\0';
    return d;
}

static char *cased(const char *v, bool upper)
{
    char *c = xstrdup(v);
    for (char *p = c; *p; p++)
        *p = (char)(upper ? toupper((unsigned char)*p) : tolower((unsigned char)*p));
    return c;
}

void runner_secret_add(struct runner_secrets *rs, const char *v)
{
    if (!v || strlen(v) < 4)
        return;
    /* The forms a tap may print it in: as is, JSON-escaped, upper- and lower-cased (error
     * texts and some SDKs change case), and the escaped upper-case form. */
    secret_form_add(rs, xstrdup(v));
    secret_form_add(rs, json_escaped(v));
    char *up = cased(v, true);
    secret_form_add(rs, json_escaped(up));
    secret_form_add(rs, up);
    secret_form_add(rs, cased(v, false));
}

char *runner_redact(const struct runner_secrets *rs, const char *text)
{
    char *out = xstrdup(text ? text : "");
    for (int i = 0; i < rs->n; i++) {
        size_t sl = strlen(rs->v[i]);
        char *hit;
        while (sl > 0 && (hit = strstr(out, rs->v[i])) != NULL) {
            char *next = xasprintf("%.*s[REDACTED]%s", (int)(hit - out), out, hit + sl);
            OPENSSL_cleanse(out, strlen(out));
            free(out);
            out = next;
        }
    }
    return out;
}

void runner_secrets_release(struct runner_secrets *rs)
{
    for (int i = 0; i < rs->n; i++) {
        OPENSSL_cleanse(rs->v[i], strlen(rs->v[i]));
        free(rs->v[i]);
    }
    free(rs->v);
    rs->v = NULL;
    rs->n = 0;
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

void runner_secrets_collect(struct runner_secrets *rs, json_t *v, bool under_secret)
{
    if (json_is_string(v)) {
        if (under_secret)
            runner_secret_add(rs, json_string_value(v));
    } else if (json_is_object(v)) {
        const char *k;
        json_t *x;
        json_object_foreach(v, k, x) runner_secrets_collect(rs, x, under_secret ||
                                                                   secret_key_name(k));
    } else if (json_is_array(v)) {
        size_t i;
        json_t *x;
        json_array_foreach(v, i, x) runner_secrets_collect(rs, x, under_secret);
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

/* ---- routing (passthrough, docs/transforms.md) --------------------------------------------- */

/* {dest}_{name}: the table of a stream of a multi-stream tap (the name rule is singer's). */
static void table_for_stream(const char *dest, const char *stream, char *out, size_t outsz)
{
    char name[SINGER_TABLE_NAME_MAX + 1];
    runner_stream_name(stream, name, sizeof name);
    snprintf(out, outsz, "%s_%s", dest, name);
}

/* Records a table the run writes ("ns.t1,ns.t2" on the run row). */
static void note_table(struct sync *s, const char *t)
{
    if (s->tables.len)
        buf_putc(&s->tables, ',');
    buf_printf(&s->tables, "%s.%s", s->ns, t);
    struct iv_err e2 = {0};
    if (store_job_set_tables(s->r->st, s->j->run_id, s->tables.data, &e2) != IV_OK)
        log_warn("run %s: recording tables: %s", s->j->run_id, e2.msg);
}

/* With a stream catalog the table of every selected stream is known before any data
 * (streams_tables); a stream the catalog does not select is not loaded. */
static int route_by_catalog(struct sync *s, const char *stream, char **table_out)
{
    const json_t *st = streams_find_selected(s->stream_doc, stream);
    const char *t = st ? json_str(s->stream_tables, json_str(st, "tap_stream_id")) : NULL;
    if (!t) {
        log_warn("run %s: the tap sent stream \"%s\", which the connector's catalog does not "
                 "select: its records are not loaded", s->j->run_id, stream);
        *table_out = NULL;
        return IV_OK;
    }
    *table_out = xstrdup(t);
    note_table(s, t);
    return IV_OK;
}

static int route_cb(void *ctx, const char *stream, int nstreams, char **table_out,
                    struct iv_err *e)
{
    struct sync *s = ctx;
    if (s->mapping) {
        /* With mappings, the one target stream loads into destination_table. */
        *table_out = xstrdup(s->j->conn.destination_table);
        note_table(s, *table_out);
        return IV_OK;
    }
    if (s->stream_tables)
        return route_by_catalog(s, stream, table_out);
    if (s->mode == 0)
        s->mode = (s->catalog_streams > 1 || nstreams > 1) ? 2 : 1;
    else if (s->mode == 1)
        return iv_err_set(e, IV_EINVAL,
                          "stream \"%s\" appeared after the tap's data started loading into "
                          "%s as a single-stream tap; a multi-stream tap must send every "
                          "SCHEMA before its first RECORD, or list its streams in the "
                          "connector's catalog", stream, s->j->conn.destination_table);
    char t[400];
    if (s->mode == 1)
        snprintf(t, sizeof t, "%s", s->j->conn.destination_table);
    else
        table_for_stream(s->j->conn.destination_table, stream, t, sizeof t);
    *table_out = xstrdup(t);
    note_table(s, t);
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
        /* unreadable metadata means no bookmark to reconcile: state stays NULL */
        IV_DISCARD(lake_table_last_state(t, &state, &run_id, &snap, &e2));
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
/* ---- the child's stdout --------------------------------------------------------------------- */

static void push_tail(struct sync *s, bool force)
{
    int64_t now = mono_ms();
    if (!s->child || (!force && now - s->last_tail_ms < TAIL_PUSH_MS))
        return;
    s->last_tail_ms = now;
    char *tail = child_stderr_tail(s->child, NULL);
    struct iv_err e = {0};
    if (tail && *tail && store_job_update(s->r->st, s->j->job_id, 0, tail, &e) != IV_OK)
        log_debug("run %s: keeping its log tail: %s", s->j->run_id, e.msg);   /* best effort */
    free(tail);
    /* Live progress for GET .../runs/{run_id}: rows read and committed so far. */
    if (s->ld) {
        struct singer_loader_stats st;
        singer_loader_get_stats(s->ld, &st);
        int64_t cp = s->last_checkpoint_ms;
        char *per_stream = singer_loader_stream_rows(s->ld);
        if (store_run_progress(s->r->st, s->j->run_id, st.records, st.rows_committed,
                               cp ? cp : STORE_NULL_TIME, per_stream, &e) != IV_OK)
            log_debug("run %s: progress not recorded: %s", s->j->run_id, e.msg);
        free(per_stream);
    }
}

/* A SCHEMA of a selected stream keeps only the fields the catalog selects, so a tap that
 * ignores field selection still loads exactly the selection (its extra record keys are then
 * undeclared keys, docs/singer.md). *out: the rewritten line (caller frees) or NULL. Only
 * lines mentioning SCHEMA are parsed: RECORDs keep the fast path. */
static void prune_schema_line(struct sync *s, const char *line, size_t len, char **out)
{
    *out = NULL;
    if (!memmem(line, len, "SCHEMA", 6))
        return;
    json_t *m = json_loadb(line, len, 0, NULL);
    const char *type = json_str(m, "type");
    const json_t *st = type && !strcmp(type, "SCHEMA") && json_str(m, "stream")
                       ? streams_find_selected(s->stream_doc, json_str(m, "stream")) : NULL;
    json_t *schema = json_object_get(m, "schema");
    json_t *props = json_object_get(schema, "properties");
    bool pruned = false;
    if (st && json_is_object(props)) {
        const char *k;
        json_t *v;
        void *tmp;
        json_object_foreach_safe(props, tmp, k, v) {
            if (!streams_field_selected(st, k)) {
                json_object_del(props, k);
                pruned = true;
            }
        }
    }
    if (pruned) {
        json_object_del(schema, "additionalProperties");
        *out = json_dumps(m, JSON_COMPACT);
    }
    json_decref(m);
}

static int singer_line(struct sync *s, const char *line, size_t len, struct iv_err *e)
{
    char *alt = NULL;
    if (s->stream_doc)
        prune_schema_line(s, line, len, &alt);
    if (!alt)
        return singer_loader_line(s->ld, line, len, e);
    int rc = singer_loader_line(s->ld, alt, strlen(alt), e);
    free(alt);
    return rc;
}

/* The loader's input. */
static int to_loader(void *ctx, const char *line, size_t len, struct iv_err *e)
{
    struct sync *s = ctx;
    return singer_loader_line(s->ld, line, len, e);
}

/* A transformed row of the target stream, typed, into the loader. */
static int row_to_loader(void *ctx, const char *stream, const struct singer_value *vals, int n,
                         struct iv_err *e)
{
    struct sync *s = ctx;
    return singer_loader_row(s->ld, stream, vals, n, e);
}

/* The transform stage, then the loader (connectors with mappings). */
static int through_mappings(void *ctx, const char *line, size_t len, struct iv_err *e)
{
    struct sync *s = ctx;
    const struct mapping_out out = {.ctx = s, .line = to_loader, .row = row_to_loader};
    return mapping_stage_line(s->mapping, line, len, &out, e);
}

static int on_line(void *ctx, const char *line, size_t len, uint64_t lineno, struct iv_err *e)
{
    struct sync *s = ctx;
    int rc;
    if (s->airbyte)
        rc = airbyte_line(&s->ab, s->mapping ? through_mappings : to_loader, s, line, len, e);
    else
        rc = s->mapping ? through_mappings(s, line, len, e) : singer_line(s, line, len, e);
    if (rc) {
        char inner[sizeof e->msg];
        snprintf(inner, sizeof inner, "%s", e->msg);
        return iv_err_set(e, rc, "tap output line %llu: %s", (unsigned long long)lineno, inner);
    }
    if ((lineno & 63) == 0)
        push_tail(s, false);
    return IV_OK;
}

static void on_commit(void *ctx, const char *state, int64_t rows)
{
    struct sync *s = ctx;
    log_debug("run %s: checkpoint (%lld rows committed)", s->j->run_id, (long long)rows);
    s->last_checkpoint_ms = now_ms();
    /* Kept on the run row: if this runner dies, whoever fails the run counts these rows. */
    struct iv_err e = {0};
    if (store_job_set_progress(s->r->st, s->j->run_id, rows, &e) != IV_OK)
        log_warn("run %s: recording checkpoint progress: %s", s->j->run_id, e.msg);
    (void)state;
}

/* ---- pre-flight ------------------------------------------------------------------------------ */

static char *config_object_or_null(uint8_t *plain, size_t n, struct runner_secrets *rs,
                                   char why[600]);

/* A config the client encrypted to the server's public key (compact JWE). */
static int decrypt_config_jwe(struct runner *r, const char *jwe, uint8_t **plain, size_t *n,
                              char why[600])
{
    if (!r->jwe_key || r->jwe_key_err[0]) {
        snprintf(why, 600, "cannot decrypt config_encrypted (JWE): %.500s",
                 r->jwe_key_err[0] ? r->jwe_key_err
                                   : "IVORY_CONFIG_PRIVATE_KEY is not set on this runner");
        return IV_EINVAL;
    }
    struct iv_err e = {0};
    if (jwe_decrypt(r->jwe_key, jwe, plain, n, &e) != IV_OK) {
        snprintf(why, 600, "cannot decrypt config_encrypted (JWE): %.500s", e.msg);
        return IV_EAUTH;
    }
    return IV_OK;
}

char *runner_decrypt_config(struct runner *r, const char *env, struct runner_secrets *rs,
                            char why[600])
{
    if (!env || !*env)
        return xstrdup("{}");
    uint8_t *plain = NULL;
    size_t n = 0;
    if (jwe_looks_compact(env)) {
        if (decrypt_config_jwe(r, env, &plain, &n, why) != IV_OK)
            return NULL;
        return config_object_or_null(plain, n, rs, why);
    }
    if (!r->have_config_key) {
        if (r->config_key_err[0])
            snprintf(why, 600, "cannot decrypt config_encrypted: %.500s", r->config_key_err);
        else
            snprintf(why, 600, "the connector has an encrypted config but IVORY_CONFIG_KEY is "
                     "not set on this runner");
        return NULL;
    }
    struct iv_err e = {0};
    int rc = envelope_decrypt(r->config_key, env, &plain, &n, &e);
    if (rc == IV_EAUTH) {
        snprintf(why, 600, "cannot decrypt config_encrypted: wrong IVORY_CONFIG_KEY or "
                 "tampered envelope");
        return NULL;
    }
    if (rc != IV_OK) {
        snprintf(why, 600, "cannot decrypt config_encrypted: %.500s", e.msg);
        return NULL;
    }
    return config_object_or_null(plain, n, rs, why);
}

/* plain (taken) must be a JSON object: returned as the config text with its
 * secrets added to rs; else wiped, freed, NULL with why set. */
static char *config_object_or_null(uint8_t *plain, size_t n, struct runner_secrets *rs,
                                   char why[600])
{
    json_error_t je;
    json_t *j = json_loadb((const char *)plain, n, 0, &je);
    if (!json_is_object(j)) {
        json_decref(j);
        OPENSSL_cleanse(plain, n);
        free(plain);
        snprintf(why, 600, "the decrypted tap config is not a JSON object");
        return NULL;
    }
    runner_secrets_collect(rs, j, false);
    json_decref(j);
    return (char *)plain;
}

/* Decrypted tap config (caller frees) or NULL with s->err set. */
static char *decrypt_config(struct sync *s)
{
    char why[600];
    char *plain = runner_decrypt_config(s->r, s->j->conn.config_encrypted, &s->secrets, why);
    if (!plain)
        sync_fail(s, "%s", why);
    return plain;
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
    if (strcmp(c->catalog_type, "hive") == 0) {
        sync_fail(s, "catalog '%s' has type '%s', which the runner does not support yet "
                  "(use 'rest', 'glue', 'sql' or 'hadoop')", c->catalog_name, c->catalog_type);
        return IV_EUNSUPPORTED;
    }
    /* Checked again here: catalogs stored before the policy, or a root changed since. */
    const char *bad_field = NULL;
    struct iv_err pe = {0};
    if (config_confine_catalog(s->r->cfg, c->catalog_type, c->catalog_uri, c->warehouse,
                               c->storage_prefix, &bad_field, &pe) != IV_OK) {
        sync_fail(s, "catalog '%s' is refused: %s", c->catalog_name, pe.msg);
        return IV_EINVAL;
    }
    char *wh = join_path(c->warehouse, c->storage_prefix);
    char *uri = NULL;
    if (c->catalog_uri && !strcmp(c->catalog_uri, "local")) {
        /* 'local': the server's own catalog (docs/runner.md): a SQLite file in the data dir,
         * or the store's PostgreSQL database. */
        uri = config_local_catalog_uri(s->r->cfg);
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
        runner_secret_add(&s->secrets, (const char *)s3secret);
    }
    uint8_t *cred = NULL;
    size_t credn = 0;
    if (c->catalog_credential_enc) {
        struct iv_err e = {0};
        if (secret_unseal(s->r->master, c->catalog_credential_enc, &cred, &credn, &e) != IV_OK) {
            sync_fail(s, "cannot unseal the credential of catalog '%s' (master key changed?)",
                      c->catalog_name);
            free(wh);
            free(uri);
            if (s3secret) {
                explicit_bzero(s3secret, s3n);
                free(s3secret);
            }
            return IV_EAUTH;
        }
        runner_secret_add(&s->secrets, (const char *)cred);
        const char *colon = strchr((const char *)cred, ':');
        if (colon && colon[1])
            runner_secret_add(&s->secrets, colon + 1);   /* the client secret alone too */
    }
    /* Platform keys (docs/lakehouse.md): metadata.region, .s3_path_style, .prefix. */
    json_t *meta = c->metadata ? json_loads(c->metadata, 0, NULL) : NULL;
    const json_t *ps = json_object_get(meta, "s3_path_style");
    struct lake_catalog_config lc = {
        .type = c->catalog_type, .warehouse = wh, .uri = uri, .catalog_name = c->catalog_name,
        .s3_endpoint = c->s3_endpoint, .s3_access_key_id = c->s3_access_key_id,
        .s3_secret_key = (const char *)s3secret,
        .region = json_str(meta, "region"),
        .s3_path_style = json_is_true(ps), .s3_path_style_set = json_is_boolean(ps),
        .credential = (const char *)cred,
        .rest_prefix = json_str(meta, "prefix"),
    };
    struct iv_err e = {0};
    int rc = lake_catalog_open(&s->cat, &lc, &e);
    if (rc != IV_OK)
        sync_fail(s, "cannot open catalog '%s' (%s): %s", c->catalog_name, c->catalog_type,
                  e.msg);
    json_decref(meta);
    free(wh);
    free(uri);
    if (s3secret) {
        explicit_bzero(s3secret, s3n);
        free(s3secret);
    }
    if (cred) {
        explicit_bzero(cred, credn);
        free(cred);
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
    struct store_webhook_result res = {0};   /* not filled when the run is not found */
    struct iv_err e = {0};
    int rc = store_webhook_apply(s->r->st, s->j->conn.tenant_id, w, &s->r->pol, now_ms(), &res,
                                 &e);
    if (rc == IV_OK || rc == IV_ENOTFOUND) {
        log_warn("run %s: webhook not delivered; its effects were applied directly in the "
                 "store%s", s->j->run_id, rc == IV_OK && res.replay ? " (already applied)"
                 : rc == IV_ENOTFOUND ? " (the run no longer exists)" : "");
        return true;
    }
    log_error("run %s: applying its effects in the store failed too: %s (the run is failed "
              "when its lease expires)", s->j->run_id, e.msg);
    return false;
}

/* Posts the completion webhook; true when acknowledged (or pointless: connector gone), or
 * when the fallback applied the effects. */
static bool report(struct sync *s, bool completed, const char *error_msg, int64_t rows_synced,
                   int64_t transform_errors,
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
        .cancelled = !completed && s->cancelled,
        .rows_synced = rows_synced, .rows_loaded = rows_loaded, .transform_errors = transform_errors,
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
    json_object_set_new(body, "status",
                        json_string(completed ? "completed" : w.cancelled ? "cancelled" : "failed"));
    json_object_set_new(body, "rows_synced", json_integer(rows_synced));
    json_object_set_new(body, "rows_loaded", json_integer(rows_loaded));
    json_object_set_new(body, "transform_errors", json_integer(transform_errors));
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
                                     .max_attempts = r->webhook_attempts,
                                     .runner_id = r->id, .runner_key = r->report_key};
    int rc = webhook_client_post(r->cfg->api_url, secret, sn, txt, &wo, &e);
    OPENSSL_cleanse(secret, sn);
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
char *runner_error_with_stderr(const char *reason, const char *tail)
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

int runner_tap_command(struct runner *r, const struct store_connector *c, struct launch *l,
                       struct iv_err *e)
{
    bool meltano = c->connector_type && !strcmp(c->connector_type, "meltano") &&
                   r->cfg->meltano_project && *r->cfg->meltano_project &&
                   tap_resolve("meltano", NULL, NULL, &l->exe, e) == IV_OK;
    if (meltano) {
        l->envarg = xasprintf("--environment=%s", c->meltano_environment ?
                              c->meltano_environment : "dev");
        l->argv[l->argc++] = l->exe;
        l->argv[l->argc++] = l->envarg;
        l->argv[l->argc++] = "invoke";
        l->argv[l->argc++] = c->tap_name;
        l->cwd = r->cfg->meltano_project;
        return IV_OK;
    }
    free(l->exe);
    l->exe = NULL;
    int rc = tap_resolve(c->tap_name, c->tap_version, r->cfg->tap_path, &l->exe, e);
    if (rc != IV_OK)
        return rc;
    l->argv[l->argc++] = l->exe;
    return IV_OK;
}

void launch_release(struct launch *l)
{
    free(l->exe);
    free(l->envarg);
}

/* The connector's stream catalog: discovered now when it never was (Singer taps without
 * one keep the arrival-order rule; Airbyte sources need one), then the table of every
 * selected stream, decided before any data. */
static int load_stream_catalog(struct sync *s)
{
    struct store_job *j = s->j;
    struct store_stream_catalog sc = {0};
    struct iv_err e = {0};
    int rc = IV_EINVAL;
    if (store_stream_catalog_get(s->r->st, j->conn.tenant_id, j->conn.id, &sc, &e) != IV_OK) {
        sync_fail(s, "reading the connector's catalog: %s", e.msg);
        return IV_EIO;
    }
    if (!sc.doc && !j->conn.catalog_json) {
        int status = 0;
        char *detail = NULL;
        if (runner_discover(s->r, &j->conn, &s->rn->child, &status, &detail, NULL) == IV_OK) {
            store_stream_catalog_release(&sc);
            if (store_stream_catalog_get(s->r->st, j->conn.tenant_id, j->conn.id, &sc, &e) !=
                IV_OK) {
                sync_fail(s, "reading the connector's catalog: %s", e.msg);
                goto out;
            }
        } else if (s->airbyte) {
            sync_fail(s, "%s", detail);
            free(detail);
            goto out;
        } else {
            log_warn("run %s: tap %s gave no catalog (%s); its streams are routed as they "
                     "arrive", j->run_id, j->conn.tap_name, detail);
        }
        free(detail);
    }
    if (sc.doc) {
        s->stream_doc = json_loads(sc.doc, 0, NULL);
        if (!s->stream_doc) {
            sync_fail(s, "the connector's stored catalog is not valid JSON");
            goto out;
        }
        if (streams_tables(s->stream_doc, j->conn.destination_table, &s->stream_tables, &e) !=
            IV_OK) {
            sync_fail(s, "the connector's catalog: %s", e.msg);
            goto out;
        }
        if (json_object_size(s->stream_tables) == 0) {
            sync_fail(s, "no stream of the connector's catalog is selected: select streams "
                      "with PATCH /v1/admin/connectors/%s/catalog", j->conn.id);
            goto out;
        }
    }
    rc = IV_OK;
out:
    store_stream_catalog_release(&sc);
    return rc;
}

/* catalog.json for `--catalog`: the stream catalog's selection as a Singer catalog, else the
 * connector's legacy catalog_json, else none (Airbyte writes its own in airbyte_catalog). */
static int write_tap_catalog(struct sync *s, struct launch *l, struct iv_err *e)
{
    char *txt = NULL;
    if (s->stream_doc && !s->airbyte) {
        json_t *c = streams_singer_catalog(s->stream_doc);
        txt = json_dumps(c, JSON_COMPACT);
        json_decref(c);
    } else if (s->j->conn.catalog_json && !s->stream_doc) {
        txt = xstrdup(s->j->conn.catalog_json);
    }
    int rc = txt ? run_files_write(l->rf, "catalog.json", txt, strlen(txt), &l->cat_path, e)
                 : IV_OK;
    free(txt);
    return rc;
}

/* The connector's field mappings, read once at the start of the run: with any, the transform
 * stage sits between the tap and the loader. */
static int load_mappings(struct sync *s)
{
    struct store_mapping *v = NULL;
    size_t n = 0;
    struct iv_err e = {0};
    int rc = store_mappings_get(s->r->st, s->j->conn.tenant_id, s->j->conn.id, &v, &n, &e);
    if (rc == IV_OK && n > 0)
        rc = mapping_stage_new(&s->mapping, v, n, s->j->conn.destination_table, &e);
    store_mappings_free(v, n);
    if (rc != IV_OK)
        sync_fail(s, "cannot use the connector's field mappings: %s", e.msg);
    return rc;
}

/* The connector's schema_drift (docs/runner.md "Schema drift"), read once: a PATCH cannot
 * change it while the run is in progress. */
static int read_drift_policy(struct sync *s)
{
    char policy[16];
    bool running = false;
    struct iv_err e = {0};
    if (store_connector_ops_info(s->r->st, s->j->conn.tenant_id, s->j->conn.id, policy,
                                 &running, &e) != IV_OK) {
        sync_fail(s, "reading the connector's schema_drift policy: %s", e.msg);
        return IV_EIO;
    }
    s->drift = !strcmp(policy, "freeze")        ? SINGER_DRIFT_FREEZE
               : !strcmp(policy, "discard_row") ? SINGER_DRIFT_DISCARD_ROW
                                                : SINGER_DRIFT_EVOLVE;
    return IV_OK;
}

/* Step 1, prepare: pre-flight checks, the tenant's catalog, the reconciled bookmark and the
 * private files (0600 in a 0700 directory, removed after the run). */
static int prepare(struct sync *s, struct launch *l, struct run_files **rf_out)
{
    struct store_job *j = s->j;
    struct iv_err e = {0};
    if (s->r->sandbox_err[0]) {
        sync_fail(s, "%s", s->r->sandbox_err);
        return IV_ECHILD;
    }
    if (j->conn.connector_type && !strcmp(j->conn.connector_type, "fivetran")) {
        sync_fail(s, "connector_type 'fivetran' is not runnable here: Ivory has no Fivetran "
                  "integration yet");
        return IV_EUNSUPPORTED;
    }
    s->airbyte = j->conn.connector_type && !strcmp(j->conn.connector_type, "airbyte");
    if (read_drift_policy(s) != IV_OK || open_catalog(s) != IV_OK || load_mappings(s) != IV_OK)
        return IV_EINVAL;
    char *config = decrypt_config(s);
    if (!config)
        return IV_EINVAL;
    s->bookmark = xstrdup(j->conn.tap_state);
    reconcile(s, &e);
    s->catalog_streams = count_catalog_streams(j->conn.catalog_json);
    if (load_stream_catalog(s) != IV_OK) {
        OPENSSL_cleanse(config, strlen(config));
        free(config);
        return IV_EINVAL;
    }

    int rc = IV_EIO;
    if (run_files_create(&l->rf, &e) != IV_OK) {
        sync_fail(s, "cannot create the run's private directory: %s", e.msg);
        goto out;
    }
    *rf_out = l->rf;
    char pidtxt[32];
    int pn = snprintf(pidtxt, sizeof pidtxt, "%d\n", (int)getpid());
    const char *pid_path = NULL;
    char *state_txt = s->airbyte ? airbyte_state_file(&s->ab, s->bookmark)
                                 : (s->bookmark ? xstrdup(s->bookmark) : NULL);
    int frc = run_files_write(l->rf, "runner.pid", pidtxt, (size_t)pn, &pid_path, &e);
    if (frc == IV_OK && state_txt)
        frc = run_files_write(l->rf, "state.json", state_txt, strlen(state_txt),
                              &l->state_path, &e);
    free(state_txt);
    if (frc != IV_OK ||
        run_files_write(l->rf, "config.json", config, strlen(config), &l->cfg_path, &e) !=
            IV_OK ||
        write_tap_catalog(s, l, &e) != IV_OK) {
        sync_fail(s, "cannot write the run's private files: %s", e.msg);
        goto out;
    }
    rc = IV_OK;
out:
    OPENSSL_cleanse(config, strlen(config));
    free(config);
    return rc;
}

/* Airbyte: the configured catalog (the connector's, else every discovered stream) written
 * for `read --catalog`. */
static int airbyte_catalog(struct sync *s, struct launch *l)
{
    struct store_job *j = s->j;
    if (s->stream_doc) {
        s->ab.catalog = streams_airbyte_catalog(s->stream_doc);
    } else if (j->conn.catalog_json) {
        s->ab.catalog = json_loads(j->conn.catalog_json, 0, NULL);
    } else {
        struct airbyte_discover_opts o = {
            .tap_name = j->conn.tap_name, .argv = l->argv, .argc = l->argc,
            .config_path = l->cfg_path, .run_dir = run_files_dir(l->rf),
            .redact = (const char *const *)s->secrets.v,
            .max_line = s->r->cfg->max_line_bytes,
            .deadline_ms = mono_ms() + (int64_t)(s->r->cfg->run_timeout_s * 1000.0),
        };
        char *reason = NULL, *tail = NULL;
        if (airbyte_discover(&s->ab, &o, &reason, &tail) != IV_OK) {
            char *m = runner_error_with_stderr(reason, tail);
            sync_fail(s, "%s", m);
            free(m);
            free(reason);
            free(tail);
            return IV_EINVAL;
        }
        free(tail);
    }
    if (!json_is_array(json_object_get(s->ab.catalog, "streams"))) {
        sync_fail(s, "the airbyte catalog has no \"streams\" array");
        return IV_EINVAL;
    }
    s->catalog_streams = (int)json_array_size(json_object_get(s->ab.catalog, "streams"));
    if (!l->cat_path) {
        struct iv_err e = {0};
        char *txt = json_dumps(s->ab.catalog, JSON_COMPACT);
        int wrc = run_files_write(l->rf, "catalog.json", txt, strlen(txt), &l->cat_path, &e);
        free(txt);
        if (wrc != IV_OK) {
            sync_fail(s, "cannot write the run's private files: %s", e.msg);
            return IV_EIO;
        }
    }
    return IV_OK;
}

/* Step 2a, the command: meltano invoke, or the executable on IVORY_TAP_PATH / PATH, with
 * --config, --catalog and --state (Airbyte sources: `read` first). */
static int build_command(struct sync *s, struct launch *l)
{
    struct iv_err e = {0};
    if (runner_tap_command(s->r, &s->j->conn, l, &e) != IV_OK) {
        sync_fail(s, "%s", e.msg);
        return IV_ENOTFOUND;
    }
    if (s->airbyte) {
        if (airbyte_catalog(s, l) != IV_OK)
            return IV_EINVAL;
        l->argv[l->argc++] = "read";
    }
    l->argv[l->argc++] = "--config";
    l->argv[l->argc++] = l->cfg_path;
    if (l->cat_path) {
        /* Old Singer taps read the catalog from --properties (found at discovery). */
        const char *flag = s->stream_doc && !s->airbyte ? streams_catalog_flag(s->stream_doc)
                                                         : "--catalog";
        l->argv[l->argc++] = flag;
        l->argv[l->argc++] = l->cat_path;
    }
    if (l->state_path) {
        l->argv[l->argc++] = "--state";
        l->argv[l->argc++] = l->state_path;
    }
    l->argv[l->argc] = NULL;
    return IV_OK;
}

/* Step 2b, the loader the tap's lines will feed (Airbyte: its SCHEMAs first). */
static int open_loader(struct sync *s)
{
    struct runner *r = s->r;
    struct iv_err e = {0};
    struct singer_loader_opts lo = {
        .cat = s->cat, .ns = s->ns, .route = route_cb, .route_ctx = s, .defer_routing = true,
        .stamp_all = true, .batch_rows = r->ckpt_rows, .batch_seconds = r->ckpt_seconds,
        .run_id = s->j->run_id, .on_commit = on_commit, .commit_ctx = s, .drift = s->drift,
    };
    if (singer_loader_new(&s->ld, &lo, &e) != IV_OK ||
        (s->mapping && mapping_stage_start(s->mapping, &(const struct mapping_out){
                           .ctx = s, .line = to_loader, .row = row_to_loader}, &e) != IV_OK) ||
        (s->airbyte && airbyte_send_schemas(&s->ab, s->mapping ? through_mappings : to_loader,
                                            s, &e) != IV_OK)) {
        sync_fail(s, "%s", e.msg);
        return IV_EINVAL;
    }
    return IV_OK;
}

/* Step 2c, spawn: the tap starts and becomes cancellable by the runner's other threads. */
static int spawn(struct sync *s, const struct launch *l)
{
    struct runner *r = s->r;
    struct store_job *j = s->j;
    struct iv_err e = {0};
    const char *private_dirs[] = {run_files_dir(l->rf), NULL};
    struct child_spec spec = {.argv = l->argv, .cwd = l->cwd,
                              .redact = (const char *const *)s->secrets.v,
                              .bind_rw = private_dirs};
    struct child *c = NULL;
    if (child_spawn(&c, &spec, &e) != IV_OK) {
        sync_fail(s, "cannot start tap '%s': %s", j->conn.tap_name, e.msg);
        return IV_ECHILD;
    }
    pthread_mutex_lock(&r->mu);
    s->child = c;
    s->rn->child = c;
    if (s->rn->cancel != RUN_CANCEL_NONE)
        child_cancel(c);
    pthread_mutex_unlock(&r->mu);
    if (store_job_update(r->st, j->job_id, child_pid(c), NULL, &e) != IV_OK)
        log_warn("run %s: recording the tap's pid: %s (a successor could not kill it if this "
                 "runner died)", j->run_id, e.msg);
    log_info("run %s: started %s (pid %d) for connector %s", j->run_id, j->conn.tap_name,
             (int)child_pid(c), j->conn.id);
    return IV_OK;
}

/* How the tap's output ended: the read's result and error, the exit status, stderr's tail. */
struct tap_outcome {
    int read_rc;
    struct iv_err read_err;
    struct child_status status;
    char *tail;                   /* owned */
};

/* Step 3, load: every stdout line through the loader until EOF, an error or the deadline;
 * then the tap is reaped (or terminated) and its stderr tail reaches the job row. */
static void load(struct sync *s, struct tap_outcome *out)
{
    struct runner *r = s->r;
    int64_t deadline = mono_ms() + (int64_t)(r->cfg->run_timeout_s * 1000.0);
    struct child_read_opts ro = {.max_line = r->cfg->max_line_bytes, .deadline_ms = deadline};
    out->read_rc = child_read_lines(s->child, &ro, on_line, s, &out->read_err);
    if (out->read_rc == IV_OK)
        child_wait(s->child, deadline, 5000, &out->status);
    else
        child_terminate(s->child, 5000, &out->status);
    out->tail = child_stderr_tail(s->child, NULL);
    if (out->tail && *out->tail) {
        struct iv_err e = {0};
        if (store_job_update(r->st, s->j->job_id, 0, out->tail, &e) != IV_OK)
            log_debug("run %s: keeping its log tail: %s", s->j->run_id, e.msg);
    }
}

/* Step 4, classify the exit: a failure reason (with stderr's tail), or the final commit on
 * a clean exit (the rest of the rows with the latest STATE). */
static void classify_exit(struct sync *s, const struct tap_outcome *o)
{
    const char *tap = s->j->conn.tap_name;
    const struct child_status *cs = &o->status;
    char reason[700];
    if (o->read_rc != IV_OK) {
        if (cs->timed_out || child_timed_out(s->child))
            snprintf(reason, sizeof reason, "run timed out after %.3g s: tap killed",
                     s->r->cfg->run_timeout_s);
        else if (cs->cancelled || child_cancelled(s->child))
            snprintf(reason, sizeof reason, "run cancelled: tap killed");
        else
            snprintf(reason, sizeof reason, "%s", o->read_err.msg);
    } else if (cs->timed_out || cs->cancelled) {
        snprintf(reason, sizeof reason, "%s", cs->timed_out ? "run timed out: tap killed"
                                                            : "run cancelled: tap killed");
    } else if (cs->exit_code != 0) {
        if (cs->term_signal)
            snprintf(reason, sizeof reason, "tap '%s' was killed by signal %d", tap,
                     cs->term_signal);
        else
            snprintf(reason, sizeof reason, "tap '%s' exited with status %d%s%.500s", tap,
                     cs->exit_code, s->ab.error[0] ? ": " : "", s->ab.error);
    } else {
        struct iv_err e = {0};
        if (singer_loader_finish(s->ld, &e) != IV_OK)
            sync_fail(s, "final commit failed: %s", e.msg);
        return;
    }
    char *m = runner_error_with_stderr(reason, o->tail);
    sync_fail(s, "%s", m);
    free(m);
}

/* Appends the samples of JSON array text `more` to `all` while it holds fewer than `max`. */
static void append_samples(json_t *all, const char *more, size_t max)
{
    json_t *m = more ? json_loads(more, 0, NULL) : NULL;
    size_t i;
    json_t *v;
    json_array_foreach(m, i, v) {
        if (json_array_size(all) >= max)
            break;
        json_array_append(all, v);
    }
    json_decref(m);
}

/* Before the webhook: the transform errors (mapping errors and rows discarded by the
 * discard_row policy, each kind's first samples, at most 10 in all), the per-stream counts
 * and the schema changes applied, kept with the run. Mapped streams: rows_synced counts
 * their records, rows_loaded = rows_synced - transform_errors on a completed run. */
static void save_load_report(struct sync *s, const struct singer_loader_stats *st,
                             int64_t *rows_synced, int64_t *transform_errors)
{
    struct iv_err e = {0};
    json_t *samples = json_array();
    if (s->mapping) {
        struct mapping_stats ms;
        mapping_stage_stats(s->mapping, &ms);
        *rows_synced = ms.records;
        *transform_errors += ms.transform_errors;
        char *m = mapping_stage_samples(s->mapping);
        append_samples(samples, m, MAPPING_MAX_SAMPLES);
        free(m);
        if (ms.transform_errors || ms.dropped)
            log_info("run %s: %lld rows were transform errors; %lld records of unmapped streams "
                     "were not loaded", s->j->run_id, (long long)ms.transform_errors,
                     (long long)ms.dropped);
    }
    char *discards = s->ld ? singer_loader_discard_samples(s->ld) : NULL;
    append_samples(samples, discards, MAPPING_MAX_SAMPLES);
    free(discards);
    if (st->rows_discarded)
        log_info("run %s: %lld rows did not fit their table and were discarded "
                 "(schema_drift discard_row)", s->j->run_id, (long long)st->rows_discarded);
    char *txt = json_array_size(samples) ? json_dumps(samples, JSON_COMPACT) : NULL;
    json_decref(samples);
    if ((txt || s->mapping) &&
        store_run_set_transform_samples(s->r->st, s->j->conn.tenant_id, s->j->run_id,
                                        txt ? txt : "[]", &e) != IV_OK)
        log_warn("run %s: saving transform samples: %s", s->j->run_id, e.msg);
    free(txt);
    char *rows = s->ld ? singer_loader_stream_rows(s->ld) : NULL;
    char *changes = s->ld ? singer_loader_schema_changes(s->ld) : NULL;
    if ((rows || changes) &&
        store_run_set_load_report(s->r->st, s->j->conn.tenant_id, s->j->run_id, rows, changes,
                                  &e) != IV_OK)
        log_warn("run %s: saving per-stream counts and schema changes: %s", s->j->run_id,
                 e.msg);
    free(rows);
    free(changes);
}

/* The run's steps: prepare -> command + loader -> spawn -> load -> classify the exit. The
 * report (webhook) is run_main's, after the private files are gone. */
static void execute(struct sync *s, struct run_files **rf_out)
{
    struct launch l = {0};
    if (prepare(s, &l, rf_out) != IV_OK || build_command(s, &l) != IV_OK ||
        open_loader(s) != IV_OK || spawn(s, &l) != IV_OK) {
        launch_release(&l);
        return;
    }
    struct tap_outcome o = {0};
    load(s, &o);
    classify_exit(s, &o);
    free(o.tail);
    struct child *c = s->child;
    pthread_mutex_lock(&s->r->mu);
    s->rn->child = NULL;
    pthread_mutex_unlock(&s->r->mu);
    s->child = NULL;
    child_free(c);
    launch_release(&l);
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
    airbyte_session_init(&s.ab);
    struct run_files *rf = NULL;
    int64_t t0 = mono_ms();

    if (!j->conn.source_system) {
        /* The connector vanished between claim and load: nothing to run or report. */
        struct iv_err e = {0};
        if (store_job_finish(r->st, j->job_id, j->run_id, NULL, &e) != IV_OK)
            log_warn("run %s: removing its job: %s (its lease expires instead)", j->run_id,
                     e.msg);
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
        if (store_job_finish(r->st, j->job_id, j->run_id, NULL, &e) != IV_OK)
            log_warn("run %s: removing its job: %s (its lease expires instead)", j->run_id,
                     e.msg);
        goto done;
    }
    if (cancel == RUN_CANCEL_REQUESTED && s.err) {
        /* Reported as 'cancelled': not a failure, the breaker does not count it. */
        char *m = xasprintf("run cancelled on request; nothing after the last checkpoint was "
                            "committed (%s)", s.err);
        free(s.err);
        s.err = m;
        s.cancelled = true;
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
        if (store_job_set_bookmark(r->st, j->conn.tenant_id, j->conn.id, committed, &e) != IV_OK)
            log_warn("run %s: saving the bookmark of its last checkpoint: %s", j->run_id, e.msg);
    }
    if (!ok && st.rows_committed > 0) {
        /* The webhook adds rows for completed runs only; these are in the table. */
        struct iv_err e = {0};
        if (store_job_add_rows(r->st, j->conn.tenant_id, j->conn.id, st.rows_committed, &e) !=
            IV_OK)
            log_warn("run %s: adding its committed rows to rows_total: %s", j->run_id, e.msg);
    }
    int64_t rows_synced = st.records, transform_errors = st.rows_discarded;
    if (s.ld || s.mapping)
        save_load_report(&s, &st, &rows_synced, &transform_errors);
    if (report(&s, ok, s.err, rows_synced, transform_errors, st.rows_committed,
               st.last_snapshot_id, state)) {
        struct iv_err e = {0};
        if (store_job_finish(r->st, j->job_id, j->run_id, NULL, &e) != IV_OK)
            log_error("run %s: removing its job: %s", j->run_id, e.msg);
    }
done:
    singer_loader_free(s.ld);
    if (s.cat)
        lake_catalog_close(s.cat);
    airbyte_session_release(&s.ab);
    mapping_stage_free(s.mapping);
    buf_release(&s.tables);
    free(s.bookmark);
    free(s.err);
    runner_secrets_release(&s.secrets);
    json_decref(s.stream_doc);
    json_decref(s.stream_tables);
    pthread_mutex_lock(&r->mu);
    rn->done = true;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
    store_wake(r->st);   /* the loop reaps it and may claim the next due connector */
    return NULL;
}
