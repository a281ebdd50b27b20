/*
 * streams.c: the stream catalog document (see streams.h). Layout of the document:
 *
 *   {"kind": "singer" | "airbyte",
 *    "streams": [{"tap_stream_id", "stream", "name" (table-name form of tap_stream_id),
 *                 "table" (explicit, or null), "selected",
 *                 "replication_method", "replication_key", "key_properties",
 *                 "methods" (allowed replication methods), "keys" (offered replication keys),
 *                 "fields": [{"name", "type", "format", "nullable", "inclusion", "selected"}],
 *                 "raw" (the tap's own entry, given back to it at run time)}]}
 *
 * Replication methods are Singer's names (FULL_TABLE, INCREMENTAL, LOG_BASED) for both kinds;
 * Airbyte's full_refresh / incremental map onto the first two.
 */
#include "streams/streams.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TABLE_MAX 128

/* ---- small helpers ----------------------------------------------------------------------- */

static bool json_array_has_str(const json_t *arr, const char *s)
{
    size_t i;
    json_t *x;
    json_array_foreach(arr, i, x) {
        if (json_is_string(x) && !strcmp(json_string_value(x), s))
            return true;
    }
    return false;
}

static void array_add_unique(json_t *arr, const char *s)
{
    if (s && !json_array_has_str(arr, s))
        json_array_append_new(arr, json_string(s));
}

/* Singer metadata entry for a breadcrumb: [] (field NULL) or ["properties", field]. */
static json_t *metadata_for(const json_t *raw, const char *field)
{
    size_t i;
    json_t *md;
    json_array_foreach(json_object_get(raw, "metadata"), i, md) {
        json_t *bc = json_object_get(md, "breadcrumb");
        if (!json_is_array(bc))
            continue;
        if (!field && json_array_size(bc) == 0)
            return json_object_get(md, "metadata");
        if (field && json_array_size(bc) == 2 &&
            json_is_string(json_array_get(bc, 0)) && json_is_string(json_array_get(bc, 1)) &&
            !strcmp(json_string_value(json_array_get(bc, 0)), "properties") &&
            !strcmp(json_string_value(json_array_get(bc, 1)), field))
            return json_object_get(md, "metadata");
    }
    return NULL;
}

/* The readable type of a JSON Schema: its types without "null" joined by "|", "anyOf" /
 * "oneOf" for unions, "any" when it says nothing. */
static void describe_type(const json_t *schema, json_t *field)
{
    char buf[128] = "";
    bool nullable = false;
    json_t *t = json_object_get(schema, "type");
    if (json_is_string(t)) {
        snprintf(buf, sizeof buf, "%s", json_string_value(t));
        nullable = !strcmp(buf, "null");
    } else if (json_is_array(t)) {
        size_t i;
        json_t *x;
        json_array_foreach(t, i, x) {
            const char *s = json_string_value(x);
            if (!s)
                continue;
            if (!strcmp(s, "null")) {
                nullable = true;
                continue;
            }
            size_t n = strlen(buf);
            snprintf(buf + n, sizeof buf - n, "%s%s", n ? "|" : "", s);
        }
    } else if (json_object_get(schema, "anyOf")) {
        snprintf(buf, sizeof buf, "anyOf");
    } else if (json_object_get(schema, "oneOf")) {
        snprintf(buf, sizeof buf, "oneOf");
    }
    json_object_set_new(field, "type", json_string(buf[0] ? buf : "any"));
    const char *fmt = json_str(schema, "format");
    json_object_set_new(field, "format", fmt ? json_string(fmt) : json_null());
    json_object_set_new(field, "nullable", json_boolean(nullable));
}

static json_t *find_stream(const json_t *doc, const char *id)
{
    size_t i;
    json_t *st;
    json_array_foreach(json_object_get(doc, "streams"), i, st) {
        if (!strcmp(json_str(st, "tap_stream_id"), id))
            return st;
    }
    return NULL;
}

static json_t *find_field(const json_t *stream, const char *name)
{
    size_t i;
    json_t *f;
    json_array_foreach(json_object_get(stream, "fields"), i, f) {
        if (!strcmp(json_str(f, "name"), name))
            return f;
    }
    return NULL;
}

/* A new stream entry with the parts every kind has. */
static json_t *stream_entry(const char *id, const char *stream, streams_name_fn name_fn)
{
    char name[TABLE_MAX + 1];
    name_fn(id, name, sizeof name);
    json_t *st = json_object();
    json_object_set_new(st, "tap_stream_id", json_string(id));
    json_object_set_new(st, "stream", json_string(stream ? stream : id));
    json_object_set_new(st, "name", json_string(name));
    json_object_set_new(st, "table", json_null());
    json_object_set_new(st, "methods", json_array());
    json_object_set_new(st, "keys", json_array());
    json_object_set_new(st, "fields", json_array());
    return st;
}

static int check_unique_ids(const json_t *doc, struct iv_err *e)
{
    json_t *arr = json_object_get(doc, "streams");
    for (size_t i = 0; i < json_array_size(arr); i++)
        for (size_t k = i + 1; k < json_array_size(arr); k++)
            if (!strcmp(json_str(json_array_get(arr, i), "tap_stream_id"),
                        json_str(json_array_get(arr, k), "tap_stream_id")))
                return iv_err_set(e, IV_EINVAL, "the catalog lists stream \"%.100s\" twice",
                                  json_str(json_array_get(arr, i), "tap_stream_id"));
    return IV_OK;
}

/* ---- Singer discovery -------------------------------------------------------------------- */

static bool md_bool(const json_t *md, const char *key, bool dflt)
{
    json_t *v = json_object_get(md, key);
    return json_is_boolean(v) ? json_is_true(v) : dflt;
}

static void singer_fields(json_t *st, const json_t *raw, const json_t *keys, const char *rkey)
{
    json_t *props = json_object_get(json_object_get(raw, "schema"), "properties");
    const char *name;
    json_t *schema;
    json_object_foreach(props, name, schema) {
        json_t *md = metadata_for(raw, name);
        const char *inc = json_str(md, "inclusion");
        if (!inc || (strcmp(inc, "automatic") && strcmp(inc, "unsupported")))
            inc = "available";
        /* Keys and the replication key are kept whatever the tap says (as the Singer SDK
         * marks them): a selection without them could not be loaded incrementally. */
        if (strcmp(inc, "unsupported") &&
            (json_array_has_str(keys, name) || (rkey && !strcmp(rkey, name))))
            inc = "automatic";
        bool sel = !strcmp(inc, "automatic") ? true : !strcmp(inc, "unsupported") ? false
                   : md_bool(md, "selected", md_bool(md, "selected-by-default", true));
        json_t *f = json_object();
        json_object_set_new(f, "name", json_string(name));
        describe_type(schema, f);
        json_object_set_new(f, "inclusion", json_string(inc));
        json_object_set_new(f, "selected", json_boolean(sel));
        json_array_append_new(json_object_get(st, "fields"), f);
    }
}

static json_t *singer_stream(const json_t *raw, size_t idx, streams_name_fn name_fn,
                             struct iv_err *e)
{
    const char *id = json_str(raw, "tap_stream_id");
    if (!id)
        id = json_str(raw, "stream");
    json_t *schema = json_object_get(raw, "schema");
    if (!id || !*id || !json_is_object(schema)) {
        iv_err_set(e, IV_EINVAL, "streams[%zu] needs a \"tap_stream_id\" (or \"stream\") and a "
                   "\"schema\" object", idx);
        return NULL;
    }
    json_t *props = json_object_get(schema, "properties");
    if (props && !json_is_object(props)) {
        iv_err_set(e, IV_EINVAL, "streams[%zu] (\"%.100s\"): schema.properties is not an object",
                   idx, id);
        return NULL;
    }
    json_t *st = stream_entry(id, json_str(raw, "stream"), name_fn);
    json_t *md = metadata_for(raw, NULL);
    json_t *keys = json_object_get(md, "table-key-properties");
    if (!json_is_array(keys))
        keys = json_object_get(raw, "key_properties");
    json_object_set_new(st, "key_properties", json_is_array(keys) ? json_deep_copy(keys)
                                                                   : json_array());
    /* Offered replication keys, methods and the tap's default. */
    json_t *okeys = json_object_get(st, "keys"), *methods = json_object_get(st, "methods");
    size_t i;
    json_t *k;
    json_array_foreach(json_object_get(md, "valid-replication-keys"), i, k) {
        array_add_unique(okeys, json_string_value(k));
    }
    const char *rkey = json_str(md, "replication-key");
    if (!rkey)
        rkey = json_str(raw, "replication_key");
    array_add_unique(okeys, rkey);
    const char *forced = json_str(md, "forced-replication-method");
    const char *method = json_str(md, "replication-method");
    if (!method)
        method = json_str(raw, "replication_method");
    if (forced) {
        array_add_unique(methods, forced);
    } else {
        array_add_unique(methods, "FULL_TABLE");
        if (json_array_size(okeys))
            array_add_unique(methods, "INCREMENTAL");
        if (method && !strcmp(method, "LOG_BASED"))
            array_add_unique(methods, "LOG_BASED");
    }
    if (forced)
        method = forced;
    if (!method || !json_array_has_str(methods, method))
        method = json_array_size(okeys) && json_array_has_str(methods, "INCREMENTAL")
                 ? "INCREMENTAL" : json_string_value(json_array_get(methods, 0));
    if (method && !strcmp(method, "INCREMENTAL") && !rkey)
        rkey = json_string_value(json_array_get(okeys, 0));
    json_object_set_new(st, "replication_method", method ? json_string(method) : json_null());
    json_object_set_new(st, "replication_key", method && !strcmp(method, "INCREMENTAL") && rkey
                        ? json_string(rkey) : json_null());
    singer_fields(st, raw, json_object_get(st, "key_properties"),
                  json_str(st, "replication_key"));
    json_object_set_new(st, "selected", json_boolean(md_bool(md, "selected",
                        md_bool(md, "selected-by-default", true))));
    json_object_set_new(st, "raw", json_deep_copy(raw));
    return st;
}

static json_t *new_doc(const char *kind)
{
    json_t *doc = json_object();
    json_object_set_new(doc, "kind", json_string(kind));
    json_object_set_new(doc, "streams", json_array());
    return doc;
}

int streams_from_singer(const json_t *catalog, streams_name_fn name_fn, json_t **doc_out,
                        struct iv_err *e)
{
    *doc_out = NULL;
    json_t *arr = json_object_get(catalog, "streams");
    if (!json_is_object(catalog) || !json_is_array(arr))
        return iv_err_set(e, IV_EINVAL, "not a Singer catalog: expected an object with a "
                          "\"streams\" array");
    json_t *doc = new_doc("singer");
    size_t i;
    json_t *raw;
    json_array_foreach(arr, i, raw) {
        json_t *st = json_is_object(raw) ? singer_stream(raw, i, name_fn, e) : NULL;
        if (!st) {
            if (!json_is_object(raw))
                iv_err_set(e, IV_EINVAL, "streams[%zu] is not an object", i);
            json_decref(doc);
            return IV_EINVAL;
        }
        json_array_append_new(json_object_get(doc, "streams"), st);
    }
    if (check_unique_ids(doc, e) != IV_OK) {
        json_decref(doc);
        return IV_EINVAL;
    }
    *doc_out = doc;
    return IV_OK;
}

/* ---- Airbyte discovery ------------------------------------------------------------------- */

/* The single top-level field of an Airbyte field path ([["id"]] or ["id"]), else NULL. */
static const char *airbyte_path_field(const json_t *path)
{
    if (json_is_string(path))
        return json_string_value(path);
    if (json_is_array(path) && json_array_size(path) == 1)
        return json_string_value(json_array_get(path, 0));
    return NULL;
}

static json_t *airbyte_stream(const json_t *raw, size_t idx, streams_name_fn name_fn,
                              struct iv_err *e)
{
    const char *id = json_str(raw, "name");
    json_t *schema = json_object_get(raw, "json_schema");
    if (!id || !*id || !json_is_object(schema)) {
        iv_err_set(e, IV_EINVAL, "streams[%zu] needs a \"name\" and a \"json_schema\" object",
                   idx);
        return NULL;
    }
    json_t *st = stream_entry(id, id, name_fn);
    json_t *keys = json_array();
    size_t i;
    json_t *p;
    json_array_foreach(json_object_get(raw, "source_defined_primary_key"), i, p) {
        array_add_unique(keys, airbyte_path_field(p));
    }
    json_object_set_new(st, "key_properties", keys);
    json_t *methods = json_object_get(st, "methods"), *okeys = json_object_get(st, "keys");
    bool incremental = false;
    json_array_foreach(json_object_get(raw, "supported_sync_modes"), i, p) {
        const char *m = json_string_value(p);
        if (m && !strcmp(m, "full_refresh"))
            array_add_unique(methods, "FULL_TABLE");
        if (m && !strcmp(m, "incremental"))
            incremental = true;
    }
    const char *cursor = airbyte_path_field(json_object_get(raw, "default_cursor_field"));
    bool source_cursor = json_is_true(json_object_get(raw, "source_defined_cursor"));
    if (incremental) {
        array_add_unique(methods, "INCREMENTAL");
        if (source_cursor) {
            array_add_unique(okeys, cursor);
        } else {
            const char *f;
            json_t *x;
            array_add_unique(okeys, cursor);
            json_object_foreach(json_object_get(schema, "properties"), f, x) array_add_unique(okeys, f);
        }
    }
    if (!json_array_size(methods))
        array_add_unique(methods, "FULL_TABLE");
    bool inc = incremental && json_array_size(okeys) && (source_cursor || cursor);
    json_object_set_new(st, "replication_method", json_string(inc ? "INCREMENTAL"
                        : json_string_value(json_array_get(methods, 0))));
    json_object_set_new(st, "replication_key", inc ? json_incref(json_array_get(okeys, 0))
                                                   : json_null());
    const char *rk = json_str(st, "replication_key");
    const char *f;
    json_t *fs;
    json_object_foreach(json_object_get(schema, "properties"), f, fs) {
        bool automatic = json_array_has_str(keys, f) || (source_cursor && rk && !strcmp(rk, f));
        json_t *fo = json_object();
        json_object_set_new(fo, "name", json_string(f));
        describe_type(fs, fo);
        json_object_set_new(fo, "inclusion", json_string(automatic ? "automatic" : "available"));
        json_object_set_new(fo, "selected", json_true());
        json_array_append_new(json_object_get(st, "fields"), fo);
    }
    json_object_set_new(st, "selected", json_true());
    json_object_set_new(st, "raw", json_deep_copy(raw));
    return st;
}

int streams_from_airbyte(const json_t *catalog, streams_name_fn name_fn, json_t **doc_out,
                         struct iv_err *e)
{
    *doc_out = NULL;
    json_t *arr = json_object_get(catalog, "streams");
    if (!json_is_object(catalog) || !json_is_array(arr))
        return iv_err_set(e, IV_EINVAL, "not an Airbyte catalog: expected an object with a "
                          "\"streams\" array");
    json_t *doc = new_doc("airbyte");
    size_t i;
    json_t *raw;
    json_array_foreach(arr, i, raw) {
        json_t *st = json_is_object(raw) ? airbyte_stream(raw, i, name_fn, e) : NULL;
        if (!st) {
            if (!json_is_object(raw))
                iv_err_set(e, IV_EINVAL, "streams[%zu] is not an object", i);
            json_decref(doc);
            return IV_EINVAL;
        }
        json_array_append_new(json_object_get(doc, "streams"), st);
    }
    if (check_unique_ids(doc, e) != IV_OK) {
        json_decref(doc);
        return IV_EINVAL;
    }
    *doc_out = doc;
    return IV_OK;
}

const char *streams_catalog_flag(const json_t *doc)
{
    const char *f = json_str(doc, "catalog_flag");
    return f && !strcmp(f, "--properties") ? "--properties" : "--catalog";
}

const char *streams_kind(const json_t *doc)
{
    const char *k = json_str(doc, "kind");
    return k ? k : "singer";
}

/* ---- re-discovery ------------------------------------------------------------------------ */

static void merge_stream(json_t *st, const json_t *old)
{
    json_object_set(st, "selected", json_object_get(old, "selected"));
    json_object_set(st, "table", json_object_get(old, "table"));
    const char *m = json_str(old, "replication_method");
    if (m && json_array_has_str(json_object_get(st, "methods"), m)) {
        const char *k = json_str(old, "replication_key");
        if (strcmp(m, "INCREMENTAL") || (k && json_array_has_str(json_object_get(st, "keys"), k))) {
            json_object_set_new(st, "replication_method", json_string(m));
            json_object_set_new(st, "replication_key", k && !strcmp(m, "INCREMENTAL")
                                ? json_string(k) : json_null());
        }
    }
    size_t i;
    json_t *f;
    json_array_foreach(json_object_get(st, "fields"), i, f) {
        json_t *of = find_field(old, json_str(f, "name"));
        if (of && !strcmp(json_str(f, "inclusion"), "available"))
            json_object_set(f, "selected", json_object_get(of, "selected"));
    }
}

json_t *streams_merge(json_t *doc, const json_t *old)
{
    json_t *appeared = json_array(), *vanished = json_array();
    size_t i;
    json_t *st;
    if (old) {
        json_array_foreach(json_object_get(doc, "streams"), i, st) {
            const json_t *os = find_stream(old, json_str(st, "tap_stream_id"));
            if (os) {
                merge_stream(st, os);
            } else {
                json_object_set_new(st, "selected", json_false());
                json_array_append_new(appeared, json_string(json_str(st, "tap_stream_id")));
            }
        }
        json_array_foreach(json_object_get(old, "streams"), i, st) {
            if (!find_stream(doc, json_str(st, "tap_stream_id")))
                json_array_append_new(vanished, json_string(json_str(st, "tap_stream_id")));
        }
    } else {
        json_array_foreach(json_object_get(doc, "streams"), i, st) {
            json_array_append_new(appeared, json_string(json_str(st, "tap_stream_id")));
        }
    }
    return json_pack("{s:o, s:o}", "appeared", appeared, "vanished", vanished);
}

/* ---- stream -> table --------------------------------------------------------------------- */

int streams_tables(const json_t *doc, const char *dest, json_t **map_out, struct iv_err *e)
{
    *map_out = NULL;
    json_t *arr = json_object_get(doc, "streams");
    size_t nsel = 0, i;
    json_t *st;
    json_array_foreach(arr, i, st) {
        nsel += json_is_true(json_object_get(st, "selected"));
    }
    json_t *map = json_object(), *owner = json_object();
    json_array_foreach(arr, i, st) {
        if (!json_is_true(json_object_get(st, "selected")))
            continue;
        const char *id = json_str(st, "tap_stream_id");
        char *t = json_str(st, "table") ? xstrdup(json_str(st, "table"))
                  : nsel == 1 ? xstrdup(dest) : xasprintf("%s_%s", dest, json_str(st, "name"));
        const char *other = json_str(owner, t);
        if (other) {
            iv_err_set(e, IV_EINVAL, "streams \"%.100s\" and \"%.100s\" would both load into "
                       "table %.140s: give one of them its own \"table\" (or deselect one)",
                       other, id, t);
            free(t);
            json_decref(map);
            json_decref(owner);
            return IV_EINVAL;
        }
        json_object_set_new(owner, t, json_string(id));
        json_object_set_new(map, id, json_string(t));
        free(t);
    }
    json_decref(owner);
    *map_out = map;
    return IV_OK;
}

void streams_pin_tables(json_t *doc, const json_t *before, const char *dest)
{
    json_t *was = NULL, *now = NULL;
    struct iv_err e = {0};
    if (!before || streams_tables(before, dest, &was, &e) != IV_OK ||
        streams_tables(doc, dest, &now, &e) != IV_OK)
        goto out;
    const char *id;
    json_t *t;
    json_object_foreach(was, id, t) {
        json_t *st = find_stream(doc, id);
        const char *nt = json_str(now, id);
        if (st && nt && strcmp(nt, json_string_value(t)) && !json_str(st, "table"))
            json_object_set(st, "table", t);
    }
out:
    json_decref(was);
    json_decref(now);
}

/* ---- the API's view ---------------------------------------------------------------------- */

json_t *streams_view(const json_t *doc, const char *dest, const char *discovered_at_iso)
{
    json_t *map = NULL;
    struct iv_err e = {0};
    streams_tables(doc, dest, &map, &e);   /* on a collision no stream shows a table */
    json_t *out = json_array();
    size_t i;
    json_t *st;
    json_array_foreach(json_object_get(doc, "streams"), i, st) {
        json_t *fields = json_array();
        size_t k;
        json_t *f;
        json_array_foreach(json_object_get(st, "fields"), k, f) {
            json_array_append_new(fields, json_pack("{s:O, s:O, s:O, s:O, s:O, s:O}",
                                  "name", json_object_get(f, "name"),
                                  "type", json_object_get(f, "type"),
                                  "format", json_object_get(f, "format"),
                                  "nullable", json_object_get(f, "nullable"),
                                  "inclusion", json_object_get(f, "inclusion"),
                                  "selected", json_object_get(f, "selected")));
        }
        json_t *t = map ? json_object_get(map, json_str(st, "tap_stream_id")) : NULL;
        json_t *v = json_object();
        json_object_set(v, "tap_stream_id", json_object_get(st, "tap_stream_id"));
        json_object_set(v, "stream", json_object_get(st, "stream"));
        json_object_set(v, "selected", json_object_get(st, "selected"));
        json_object_set(v, "replication_method", json_object_get(st, "replication_method"));
        json_object_set(v, "replication_key", json_object_get(st, "replication_key"));
        json_object_set(v, "key_properties", json_object_get(st, "key_properties"));
        json_object_set_new(v, "table", t ? json_incref(t) : json_null());
        json_object_set(v, "table_name", json_object_get(st, "table"));
        json_object_set(v, "replication_methods", json_object_get(st, "methods"));
        json_object_set(v, "replication_keys", json_object_get(st, "keys"));
        json_object_set_new(v, "fields", fields);
        json_array_append_new(out, v);
    }
    json_decref(map);
    return json_pack("{s:s?, s:s, s:o}", "discovered_at", discovered_at_iso, "kind",
                     streams_kind(doc), "streams", out);
}

/* ---- selection (PATCH) ------------------------------------------------------------------- */

static bool table_name_ok(const char *s)
{
    return str_matches_charset(s, "abcdefghijklmnopqrstuvwxyz_",
                               "abcdefghijklmnopqrstuvwxyz0123456789_", 1, TABLE_MAX);
}

#define PATCH_FAIL(...)                                              \
    do {                                                             \
        snprintf(field_out, 160, __VA_ARGS__);                       \
        goto invalid;                                                \
    } while (0)

static int patch_fields(json_t *st, const json_t *fields, size_t i, char field_out[160],
                        struct iv_err *e)
{
    const char *name;
    json_t *v;
    json_object_foreach((json_t *)fields, name, v) {
        json_t *f = find_field(st, name);
        if (!f) {
            iv_err_set(e, IV_EINVAL, "stream \"%.100s\" has no field \"%.100s\"",
                       json_str(st, "tap_stream_id"), name);
            PATCH_FAIL("streams[%zu].fields.%.100s", i, name);
        }
        if (!json_is_boolean(v)) {
            iv_err_set(e, IV_EINVAL, "a field's selection must be true or false");
            PATCH_FAIL("streams[%zu].fields.%.100s", i, name);
        }
        const char *inc = json_str(f, "inclusion");
        if (!strcmp(inc, "automatic") && json_is_false(v)) {
            iv_err_set(e, IV_EINVAL, "field \"%.100s\" of stream \"%.100s\" is automatic: the "
                       "tap always sends it and it cannot be deselected", name,
                       json_str(st, "tap_stream_id"));
            PATCH_FAIL("streams[%zu].fields.%.100s", i, name);
        }
        if (!strcmp(inc, "unsupported") && json_is_true(v)) {
            iv_err_set(e, IV_EINVAL, "field \"%.100s\" of stream \"%.100s\" is unsupported by "
                       "the tap and cannot be selected", name, json_str(st, "tap_stream_id"));
            PATCH_FAIL("streams[%zu].fields.%.100s", i, name);
        }
        json_object_set(f, "selected", v);
    }
    return IV_OK;
invalid:
    return IV_EINVAL;
}

static int patch_replication(json_t *st, const json_t *item, size_t i, char field_out[160],
                             struct iv_err *e)
{
    json_t *m = json_object_get(item, "replication_method");
    json_t *k = json_object_get(item, "replication_key");
    const char *id = json_str(st, "tap_stream_id");
    if (m) {
        if (!json_is_string(m) || !json_array_has_str(json_object_get(st, "methods"),
                                                        json_string_value(m))) {
            char *allowed = json_dumps(json_object_get(st, "methods"), JSON_COMPACT);
            iv_err_set(e, IV_EINVAL, "stream \"%.100s\" allows the replication methods %s",
                       id, allowed);
            free(allowed);
            PATCH_FAIL("streams[%zu].replication_method", i);
        }
        json_object_set(st, "replication_method", m);
    }
    if (k) {
        if (!json_is_null(k) && (!json_is_string(k) ||
                                 !json_array_has_str(json_object_get(st, "keys"),
                                                     json_string_value(k)))) {
            char *offered = json_dumps(json_object_get(st, "keys"), JSON_COMPACT);
            iv_err_set(e, IV_EINVAL, "stream \"%.100s\" offers the replication keys %s", id,
                       offered);
            free(offered);
            PATCH_FAIL("streams[%zu].replication_key", i);
        }
        json_object_set(st, "replication_key", k);
    }
    const char *method = json_str(st, "replication_method");
    bool incremental = method && !strcmp(method, "INCREMENTAL");
    if (incremental && !json_str(st, "replication_key")) {
        if (json_array_size(json_object_get(st, "keys")) == 1) {
            json_object_set(st, "replication_key", json_array_get(json_object_get(st, "keys"), 0));
        } else {
            iv_err_set(e, IV_EINVAL, "stream \"%.100s\": INCREMENTAL replication needs a "
                       "replication_key", id);
            PATCH_FAIL("streams[%zu].replication_key", i);
        }
    }
    if (!incremental && json_str(st, "replication_key")) {
        if (k && !json_is_null(k)) {
            iv_err_set(e, IV_EINVAL, "stream \"%.100s\": a replication_key needs INCREMENTAL "
                       "replication", id);
            PATCH_FAIL("streams[%zu].replication_key", i);
        }
        json_object_set_new(st, "replication_key", json_null());
    }
    /* The replication key is always sent once chosen. */
    json_t *f = json_str(st, "replication_key") ? find_field(st, json_str(st, "replication_key"))
                                                : NULL;
    if (f && strcmp(json_str(f, "inclusion"), "unsupported"))
        json_object_set_new(f, "selected", json_true());
    return IV_OK;
invalid:
    return IV_EINVAL;
}

static int patch_item(json_t *doc, const json_t *item, size_t i, json_t *seen,
                      json_t *newly, char field_out[160], struct iv_err *e)
{
    static const char *const known[] = {"tap_stream_id", "selected", "fields",
                                        "replication_method", "replication_key", "table", NULL};
    if (!json_is_object(item)) {
        iv_err_set(e, IV_EINVAL, "each entry of streams must be an object");
        PATCH_FAIL("streams[%zu]", i);
    }
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)item, key, v) {
        bool ok = false;
        for (int k = 0; known[k]; k++)
            ok |= !strcmp(known[k], key);
        if (!ok) {
            iv_err_set(e, IV_EINVAL, "unknown field");
            PATCH_FAIL("streams[%zu].%.100s", i, key);
        }
    }
    const char *id = json_str(item, "tap_stream_id");
    if (!id) {
        iv_err_set(e, IV_EINVAL, "tap_stream_id is required (a string)");
        PATCH_FAIL("streams[%zu].tap_stream_id", i);
    }
    json_t *st = find_stream(doc, id);
    if (!st) {
        iv_err_set(e, IV_EINVAL, "stream \"%.100s\" is not in the connector's catalog", id);
        PATCH_FAIL("streams[%zu].tap_stream_id", i);
    }
    if (json_object_get(seen, id)) {
        iv_err_set(e, IV_EINVAL, "stream \"%.100s\" is listed twice", id);
        PATCH_FAIL("streams[%zu].tap_stream_id", i);
    }
    json_object_set_new(seen, id, json_true());
    json_t *sel = json_object_get(item, "selected");
    if (sel && !json_is_boolean(sel)) {
        iv_err_set(e, IV_EINVAL, "selected must be true or false");
        PATCH_FAIL("streams[%zu].selected", i);
    }
    json_t *fields = json_object_get(item, "fields");
    if (fields && !json_is_object(fields)) {
        iv_err_set(e, IV_EINVAL, "fields must be an object of field name -> true|false");
        PATCH_FAIL("streams[%zu].fields", i);
    }
    json_t *t = json_object_get(item, "table");
    if (t && !json_is_null(t) && (!json_is_string(t) || !table_name_ok(json_string_value(t)))) {
        iv_err_set(e, IV_EINVAL, "table must match ^[a-z_][a-z0-9_]{0,127}$ (or be null for "
                   "the default)");
        PATCH_FAIL("streams[%zu].table", i);
    }
    if (sel && json_is_true(sel) && !json_is_true(json_object_get(st, "selected")))
        json_array_append_new(newly, json_string(id));
    if (sel)
        json_object_set(st, "selected", sel);
    if (t)
        json_object_set(st, "table", t);
    if (fields && patch_fields(st, fields, i, field_out, e) != IV_OK)
        return IV_EINVAL;
    return patch_replication(st, item, i, field_out, e);
invalid:
    return IV_EINVAL;
}

int streams_patch(json_t *doc, const json_t *body, const char *dest, bool pin,
                  json_t **newly_out, char field_out[160], struct iv_err *e)
{
    if (newly_out)
        *newly_out = NULL;
    field_out[0] = '\0';
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)body, key, v) {
        if (strcmp(key, "streams")) {
            snprintf(field_out, 160, "%.100s", key);
            return iv_err_set(e, IV_EINVAL, "unknown field");
        }
    }
    json_t *items = json_object_get(body, "streams");
    if (!json_is_array(items)) {
        snprintf(field_out, 160, "streams");
        return iv_err_set(e, IV_EINVAL, "streams is required (an array)");
    }
    json_t *work = json_deep_copy(doc), *seen = json_object(), *newly = json_array();
    int rc = IV_OK;
    size_t i;
    json_t *item;
    json_array_foreach(items, i, item) {
        if ((rc = patch_item(work, item, i, seen, newly, field_out, e)) != IV_OK)
            goto out;
    }
    if (pin)
        streams_pin_tables(work, doc, dest);
    json_t *map = NULL;
    if ((rc = streams_tables(work, dest, &map, e)) != IV_OK) {
        snprintf(field_out, 160, "streams");
        goto out;
    }
    json_decref(map);
    json_object_set(doc, "streams", json_object_get(work, "streams"));
    if (newly_out)
        *newly_out = json_incref(newly);
out:
    json_decref(work);
    json_decref(seen);
    json_decref(newly);
    return rc;
}

/* ---- what the tap gets ------------------------------------------------------------------- */

/* Sets key = value in the metadata of breadcrumb (field NULL: the stream's), adding the entry
 * when the tap sent none. */
static void metadata_set(json_t *raw, const char *field, const char *key, json_t *value)
{
    json_t *md = metadata_for(raw, field);
    if (!md) {
        json_t *arr = json_object_get(raw, "metadata");
        if (!json_is_array(arr)) {
            arr = json_array();
            json_object_set_new(raw, "metadata", arr);
        }
        md = json_object();
        json_t *bc = field ? json_pack("[s, s]", "properties", field) : json_array();
        json_array_append_new(arr, json_pack("{s:o, s:o}", "breadcrumb", bc, "metadata", md));
    }
    if (value)
        json_object_set_new(md, key, value);
    else
        json_object_del(md, key);
}

json_t *streams_singer_catalog(const json_t *doc)
{
    json_t *out = json_array();
    size_t i;
    json_t *st;
    json_array_foreach(json_object_get(doc, "streams"), i, st) {
        json_t *raw = json_deep_copy(json_object_get(st, "raw"));
        bool sel = json_is_true(json_object_get(st, "selected"));
        const char *m = json_str(st, "replication_method");
        const char *k = json_str(st, "replication_key");
        metadata_set(raw, NULL, "selected", json_boolean(sel));
        metadata_set(raw, NULL, "replication-method", m ? json_string(m) : NULL);
        metadata_set(raw, NULL, "replication-key", k ? json_string(k) : NULL);
        /* Older taps read the stream-level keys and schema.selected. */
        if (m)
            json_object_set_new(raw, "replication_method", json_string(m));
        if (k)
            json_object_set_new(raw, "replication_key", json_string(k));
        json_t *schema = json_object_get(raw, "schema");
        if (json_is_object(schema))
            json_object_set_new(schema, "selected", json_boolean(sel));
        size_t k2;
        json_t *f;
        json_array_foreach(json_object_get(st, "fields"), k2, f) {
            metadata_set(raw, json_str(f, "name"), "selected",
                         json_boolean(json_is_true(json_object_get(f, "selected"))));
        }
        json_array_append_new(out, raw);
    }
    return json_pack("{s:o}", "streams", out);
}

/* The stream's json_schema with only its selected fields. */
static json_t *trimmed_schema(const json_t *st, const json_t *schema)
{
    json_t *out = json_deep_copy(schema);
    json_t *props = json_object_get(out, "properties");
    if (!json_is_object(props))
        return out;
    json_t *keep = json_object();
    const char *name;
    json_t *v;
    json_object_foreach(props, name, v) {
        if (streams_field_selected(st, name))
            json_object_set(keep, name, v);
    }
    json_object_set_new(out, "properties", keep);
    return out;
}

json_t *streams_airbyte_catalog(const json_t *doc)
{
    json_t *out = json_array();
    size_t i;
    json_t *st;
    json_array_foreach(json_object_get(doc, "streams"), i, st) {
        if (!json_is_true(json_object_get(st, "selected")))
            continue;
        json_t *raw = json_deep_copy(json_object_get(st, "raw"));
        json_object_set_new(raw, "json_schema",
                            trimmed_schema(st, json_object_get(raw, "json_schema")));
        const char *m = json_str(st, "replication_method");
        bool inc = m && !strcmp(m, "INCREMENTAL");
        json_t *pk = json_array();
        size_t k;
        json_t *x;
        json_array_foreach(json_object_get(st, "key_properties"), k, x) {
            json_array_append_new(pk, json_pack("[O]", x));
        }
        json_t *cs = json_pack("{s:o, s:s, s:s, s:o}", "stream", raw, "sync_mode",
                               inc ? "incremental" : "full_refresh", "destination_sync_mode",
                               "append", "primary_key", pk);
        if (inc && json_str(st, "replication_key"))
            json_object_set_new(cs, "cursor_field", json_pack("[s]", json_str(st, "replication_key")));
        json_array_append_new(out, cs);
    }
    return json_pack("{s:o}", "streams", out);
}

const json_t *streams_find_selected(const json_t *doc, const char *name)
{
    size_t i;
    json_t *st;
    json_array_foreach(json_object_get(doc, "streams"), i, st) {
        if (json_is_true(json_object_get(st, "selected")) &&
            !strcmp(json_str(st, "tap_stream_id"), name))
            return st;
    }
    json_array_foreach(json_object_get(doc, "streams"), i, st) {
        if (json_is_true(json_object_get(st, "selected")) && json_str(st, "stream") &&
            !strcmp(json_str(st, "stream"), name))
            return st;
    }
    return NULL;
}

bool streams_field_selected(const json_t *stream, const char *field)
{
    json_t *f = find_field(stream, field);
    return f && json_is_true(json_object_get(f, "selected"));
}

/* ---- bookmarks --------------------------------------------------------------------------- */

char *streams_state_without(const char *state, const json_t *ids)
{
    if (!state || !json_array_size(ids))
        return NULL;
    json_t *s = json_loads(state, 0, NULL);
    if (!json_is_object(s)) {
        json_decref(s);
        return NULL;
    }
    bool changed = false;
    size_t i;
    json_t *id;
    json_t *bm = json_object_get(s, "bookmarks");
    json_t *ab = json_object_get(s, "airbyte_state");
    json_array_foreach(ids, i, id) {
        const char *name = json_string_value(id);
        if (!name)
            continue;
        if (json_is_object(bm) && json_object_get(bm, name)) {
            json_object_del(bm, name);
            changed = true;
        }
        const char *cur = json_str(s, "currently_syncing");
        if (cur && !strcmp(cur, name)) {
            json_object_set_new(s, "currently_syncing", json_null());
            changed = true;
        }
        for (size_t k = json_array_size(ab); k-- > 0;) {
            json_t *sd = json_object_get(json_object_get(json_array_get(ab, k), "stream"),
                                         "stream_descriptor");
            const char *n = json_str(sd, "name");
            if (n && !strcmp(n, name)) {
                json_array_remove(ab, k);
                changed = true;
            }
        }
    }
    char *out = changed ? json_dumps(s, JSON_COMPACT) : NULL;
    json_decref(s);
    return out;
}
