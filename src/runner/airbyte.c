/*
 * airbyte.c: the Airbyte protocol -> Singer messages for the loader (see airbyte.h).
 *
 * An Airbyte source prints one JSON message per line. RECORD becomes a Singer RECORD, STATE
 * a Singer STATE whose value is the bookmark (per-stream and global states are merged by
 * stream so the bookmark always holds the latest state of every stream, as the next run's
 * `--state` array expects), ERROR logs and traces are kept for the run's error_msg, and the
 * remaining types carry nothing to load.
 */
#include "runner/airbyte.h"
#include "runner/child.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void airbyte_session_init(struct airbyte_session *ab)
{
    memset(ab, 0, sizeof *ab);
    ab->states = json_object();
}

void airbyte_session_release(struct airbyte_session *ab)
{
    json_decref(ab->catalog);
    json_decref(ab->states);
    memset(ab, 0, sizeof *ab);
}

/* The key a state message is merged under: "\x01global" or "<namespace>.<name>". */
static char *state_key(json_t *state_msg)
{
    const char *t = json_str(state_msg, "type");
    if (t && !strcmp(t, "GLOBAL"))
        return xstrdup("\x01global");
    json_t *sd = json_object_get(json_object_get(state_msg, "stream"), "stream_descriptor");
    const char *ns = json_str(sd, "namespace"), *name = json_str(sd, "name");
    return xasprintf("%s.%s", ns ? ns : "", name ? name : "");
}

char *airbyte_state_file(struct airbyte_session *ab, const char *bookmark)
{
    if (!bookmark)
        return NULL;
    json_t *b = json_loads(bookmark, 0, NULL);
    json_t *arr = json_object_get(b, "airbyte_state");
    if (!json_is_array(arr)) {
        json_decref(b);
        return xstrdup(bookmark);
    }
    size_t i;
    json_t *x;
    json_array_foreach(arr, i, x) {
        char *key = state_key(x);
        json_object_set(ab->states, key, x);
        free(key);
    }
    char *txt = json_dumps(arr, JSON_COMPACT);
    json_decref(b);
    return txt;
}

static int feed_json(airbyte_emit_fn emit, void *ctx, json_t *msg, struct iv_err *e)
{
    char *txt = json_dumps(msg, JSON_COMPACT);
    int rc = emit(ctx, txt, strlen(txt), e);
    free(txt);
    return rc;
}

int airbyte_send_schemas(struct airbyte_session *ab, airbyte_emit_fn emit, void *ctx,
                         struct iv_err *e)
{
    size_t i;
    json_t *cs;
    json_array_foreach(json_object_get(ab->catalog, "streams"), i, cs) {
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
        int rc = feed_json(emit, ctx, m, e);
        json_decref(m);
        if (rc)
            return rc;
    }
    return IV_OK;
}

static int record_message(airbyte_emit_fn emit, void *ctx, json_t *m, struct iv_err *e)
{
    json_t *rec = json_object_get(m, "record");
    const char *stream = json_str(rec, "stream");
    json_t *data = json_object_get(rec, "data");
    if (!stream || !json_is_object(data))
        return iv_err_set(e, IV_EINVAL, "Airbyte RECORD needs record.stream and record.data");
    json_t *sm = json_pack("{s:s, s:s, s:O}", "type", "RECORD", "stream", stream, "record",
                           data);
    int rc = feed_json(emit, ctx, sm, e);
    json_decref(sm);
    return rc;
}

static int state_message(struct airbyte_session *ab, airbyte_emit_fn emit, void *ctx,
                         json_t *m, struct iv_err *e)
{
    json_t *st = json_object_get(m, "state");
    const char *stype = json_str(st, "type");
    json_t *val = NULL;
    if (stype && (!strcmp(stype, "STREAM") || !strcmp(stype, "GLOBAL"))) {
        /* Per-stream / global states: the bookmark keeps the latest state of every stream,
         * as the array `--state` expects next time (airbyte_state_file). */
        char *key = state_key(st);
        json_object_set(ab->states, key, st);
        free(key);
        json_t *arr = json_array();
        const char *k;
        json_t *x;
        json_object_foreach(ab->states, k, x) json_array_append(arr, x);
        val = json_pack("{s:o}", "airbyte_state", arr);
    } else {
        val = json_object_get(st, "data");
        if (!json_is_object(val))
            val = st;
        json_incref(val);
    }
    int rc;
    if (!json_is_object(val)) {
        rc = iv_err_set(e, IV_EINVAL, "Airbyte STATE needs a \"state\" object");
    } else {
        json_t *sm = json_pack("{s:s, s:O}", "type", "STATE", "value", val);
        rc = feed_json(emit, ctx, sm, e);
        json_decref(sm);
    }
    json_decref(val);
    return rc;
}

static void remember_error(struct airbyte_session *ab, json_t *m, const char *type)
{
    if (!strcmp(type, "LOG")) {
        json_t *lg = json_object_get(m, "log");
        const char *lvl = json_str(lg, "level");
        if (lvl && (!strcmp(lvl, "ERROR") || !strcmp(lvl, "FATAL")))
            snprintf(ab->error, sizeof ab->error, "%s", json_str(lg, "message") ?
                     json_str(lg, "message") : "error");
    } else {
        json_t *tr = json_object_get(m, "trace");
        const char *tt = json_str(tr, "type");
        if (tt && !strcmp(tt, "ERROR")) {
            const char *msg = json_str(json_object_get(tr, "error"), "message");
            snprintf(ab->error, sizeof ab->error, "%s", msg ? msg : "error");
        }
    }
}

int airbyte_line(struct airbyte_session *ab, airbyte_emit_fn emit, void *ctx,
                 const char *line, size_t len, struct iv_err *e)
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
    if (!type)
        rc = iv_err_set(e, IV_EINVAL, "Airbyte message without \"type\"");
    else if (!strcmp(type, "RECORD"))
        rc = record_message(emit, ctx, m, e);
    else if (!strcmp(type, "STATE"))
        rc = state_message(ab, emit, ctx, m, e);
    else if (!strcmp(type, "LOG") || !strcmp(type, "TRACE"))
        remember_error(ab, m, type);
    else if (strcmp(type, "CONTROL") && strcmp(type, "SPEC") && strcmp(type, "CATALOG") &&
             strcmp(type, "CONNECTION_STATUS"))
        rc = iv_err_set(e, IV_EINVAL, "unknown Airbyte message type \"%s\"", type);
    json_decref(m);
    return rc;
}

/* ---- discover ------------------------------------------------------------------------------ */

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

/* The discovered streams as a configured catalog (takes nothing; returns a new object). */
static json_t *configured_catalog(json_t *discovered)
{
    json_t *streams = json_array();
    size_t i;
    json_t *st;
    json_array_foreach(json_object_get(discovered, "streams"), i, st) {
        bool inc = false;
        size_t k;
        json_t *mode;
        json_array_foreach(json_object_get(st, "supported_sync_modes"), k, mode)
            inc |= json_is_string(mode) && !strcmp(json_string_value(mode), "incremental");
        json_t *cs = json_pack("{s:O, s:s, s:s}", "stream", st, "sync_mode",
                               inc ? "incremental" : "full_refresh", "destination_sync_mode",
                               "append");
        json_t *pk = json_object_get(st, "source_defined_primary_key");
        if (pk)
            json_object_set(cs, "primary_key", pk);
        json_t *cur = json_object_get(st, "default_cursor_field");
        if (inc && cur)
            json_object_set(cs, "cursor_field", cur);
        json_array_append_new(streams, cs);
    }
    return json_pack("{s:o}", "streams", streams);
}

int airbyte_discover(struct airbyte_session *ab, const struct airbyte_discover_opts *o,
                     char **reason, char **stderr_tail)
{
    const char *argv[24];
    int n = 0;
    for (int i = 0; i < o->argc && n < 18; i++)
        argv[n++] = o->argv[i];
    argv[n++] = "discover";
    argv[n++] = "--config";
    argv[n++] = o->config_path;
    argv[n] = NULL;
    *reason = NULL;
    *stderr_tail = NULL;
    const char *private_dirs[] = {o->run_dir, NULL};
    struct child_spec spec = {.argv = argv, .redact = o->redact, .bind_rw = private_dirs};
    struct child *c = NULL;
    struct iv_err e = {0};
    if (child_spawn(&c, &spec, &e) != IV_OK) {
        *reason = xasprintf("cannot start '%s discover': %s", o->tap_name, e.msg);
        return IV_ECHILD;
    }
    struct discover_ctx d = {0};
    struct child_read_opts ro = {.max_line = o->max_line, .deadline_ms = o->deadline_ms};
    struct child_status cs = {0};
    int rc = child_run_lines(c, &ro, discover_line, &d, &cs, &e);
    *stderr_tail = child_stderr_tail(c, NULL);
    child_free(c);
    if (rc != IV_OK || cs.exit_code != 0 || !d.catalog) {
        *reason = xasprintf("'%s discover' %s", o->tap_name,
                            rc != IV_OK ? e.msg : cs.exit_code != 0 ? "failed"
                                                                    : "printed no CATALOG");
        json_decref(d.catalog);
        return IV_EINVAL;
    }
    json_decref(ab->catalog);
    ab->catalog = configured_catalog(d.catalog);
    json_decref(d.catalog);
    return IV_OK;
}
