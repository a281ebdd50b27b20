/*
 * lake/catalog_admin: what an Iceberg REST catalog server needs from the table
 * layer — list/create namespaces, list/drop tables, and apply a
 * CommitTableRequest (requirements checked against the current metadata,
 * updates applied to the next metadata, then the usual atomic pointer swap).
 *
 * Why in lake: the checks and the metadata rewrite are Iceberg logic, shared
 * by any server; the HTTP side (routes, tenancy, error bodies) lives in
 * src/api/iceberg_rest.c. Only catalogs with the admin ops (sql) support it.
 *
 * Supported requirements: assert-create, assert-table-uuid,
 * assert-ref-snapshot-id, assert-current-schema-id,
 * assert-last-assigned-field-id, assert-last-assigned-partition-id,
 * assert-default-spec-id, assert-default-sort-order-id. Supported updates:
 * assign-uuid (same uuid only), upgrade-format-version (to 2), add-schema,
 * set-current-schema, add-snapshot, set-snapshot-ref, set-properties,
 * remove-properties. Anything else is IV_EINVAL (the server answers 400, as
 * the spec asks); a failed requirement is IV_ECONFLICT (409).
 */
#include "lake/lake_int.h"

#include <stdlib.h>
#include <string.h>

static int need(struct lake_catalog *c, void *op, struct iv_err *e)
{
    if (!op)
        return iv_err_set(e, IV_EUNSUPPORTED, "a %s catalog cannot be administered here",
                          c->ops->type);
    return IV_OK;
}

int lake_namespace_list(struct lake_catalog *c, json_t **out, struct iv_err *e)
{
    *out = NULL;
    int rc = need(c, (void *)c->ops->list_namespaces, e);
    if (rc)
        return rc;
    json_t *a = json_array();
    rc = c->ops->list_namespaces(c, a, e);
    if (rc)
        json_decref(a);
    else
        *out = a;
    return rc;
}

int lake_namespace_exists(struct lake_catalog *c, const char *ns, bool *exists,
                          struct iv_err *e)
{
    json_t *all = NULL;
    *exists = false;
    int rc = lake_namespace_list(c, &all, e);
    if (rc)
        return rc;
    size_t i;
    json_t *v;
    json_array_foreach(all, i, v)
        if (strcmp(json_string_value(v), ns) == 0)
            *exists = true;
    json_decref(all);
    return IV_OK;
}

int lake_namespace_create(struct lake_catalog *c, const char *ns, struct iv_err *e)
{
    int rc = need(c, (void *)c->ops->create_namespace, e);
    rc = rc ? rc : lake_check_name("namespace", ns, e);
    return rc ? rc : c->ops->create_namespace(c, ns, e);
}

int lake_table_list(struct lake_catalog *c, const char *ns, json_t **out, struct iv_err *e)
{
    *out = NULL;
    int rc = need(c, (void *)c->ops->list_tables, e);
    if (rc)
        return rc;
    json_t *a = json_array();
    rc = c->ops->list_tables(c, ns, a, e);
    if (rc)
        json_decref(a);
    else
        *out = a;
    return rc;
}

int lake_table_drop(struct lake_catalog *c, const char *ns, const char *name, struct iv_err *e)
{
    int rc = need(c, (void *)c->ops->drop_table, e);
    return rc ? rc : c->ops->drop_table(c, ns, name, e);
}

/* ---- requirements -------------------------------------------------------------------------- */

static int conflict(struct iv_err *e, const char *type, const char *why)
{
    return iv_err_set(e, IV_ECONFLICT, "requirement failed: %s (%s)", type, why);
}

static int check_int(const json_t *req, const char *key, int64_t actual, const char *type,
                     struct iv_err *e)
{
    const json_t *v = json_object_get(req, key);
    if (!json_is_integer(v))
        return iv_err_set(e, IV_EINVAL, "requirement %s needs an integer '%s'", type, key);
    if (json_integer_value(v) != actual)
        return conflict(e, type, "the table has moved on");
    return IV_OK;
}

static int check_requirement(const json_t *md, const json_t *req, struct iv_err *e)
{
    const char *type = json_str(req, "type");
    if (!type)
        return iv_err_set(e, IV_EINVAL, "a requirement has no type");
    if (strcmp(type, "assert-create") == 0)
        return conflict(e, type, "the table already exists");
    if (strcmp(type, "assert-table-uuid") == 0) {
        const char *u = json_str(req, "uuid");
        if (!u)
            return iv_err_set(e, IV_EINVAL, "assert-table-uuid needs 'uuid'");
        return strcmp(u, json_str(md, "table-uuid")) ? conflict(e, type, "uuid differs") : IV_OK;
    }
    if (strcmp(type, "assert-ref-snapshot-id") == 0) {
        const char *ref = json_str(req, "ref");
        const json_t *want = json_object_get(req, "snapshot-id");
        if (!ref || !want || !(json_is_null(want) || json_is_integer(want)))
            return iv_err_set(e, IV_EINVAL, "assert-ref-snapshot-id needs 'ref' and "
                              "'snapshot-id' (integer or null)");
        const json_t *r = json_object_get(json_object_get(md, "refs"), ref);
        if (!r && strcmp(ref, "main") == 0 && lake_md_i64(md, "current-snapshot-id", -1) >= 0)
            r = md;   /* v2 tables without refs: main is current-snapshot-id */
        int64_t have = r == md ? lake_md_i64(md, "current-snapshot-id", -1)
                     : r ? lake_md_i64(r, "snapshot-id", -1) : -1;
        if (json_is_null(want))
            return have >= 0 ? conflict(e, type, "the ref already exists") : IV_OK;
        return have != json_integer_value(want) ? conflict(e, type, "the ref has moved")
                                                : IV_OK;
    }
    if (strcmp(type, "assert-current-schema-id") == 0)
        return check_int(req, "current-schema-id", lake_md_i64(md, "current-schema-id", 0),
                         type, e);
    if (strcmp(type, "assert-last-assigned-field-id") == 0)
        return check_int(req, "last-assigned-field-id", lake_md_i64(md, "last-column-id", 0),
                         type, e);
    if (strcmp(type, "assert-last-assigned-partition-id") == 0)
        return check_int(req, "last-assigned-partition-id",
                         lake_md_i64(md, "last-partition-id", 999), type, e);
    if (strcmp(type, "assert-default-spec-id") == 0)
        return check_int(req, "default-spec-id", lake_md_i64(md, "default-spec-id", 0), type, e);
    if (strcmp(type, "assert-default-sort-order-id") == 0)
        return check_int(req, "default-sort-order-id",
                         lake_md_i64(md, "default-sort-order-id", 0), type, e);
    return iv_err_set(e, IV_EINVAL, "unknown requirement type '%s'", type);
}

/* ---- updates ------------------------------------------------------------------------------- */

struct apply {
    json_t *md;                  /* the next metadata being built */
    json_t *pending;             /* snapshots added but not yet referenced */
    int64_t last_schema;         /* id of the last add-schema, -1 none */
};

static int add_schema(struct apply *a, const json_t *u, struct iv_err *e)
{
    struct lake_schema s;
    int rc = lake_schema_from_json(json_object_get(u, "schema"), &s, e);
    if (rc)
        return iv_err_set(e, IV_EINVAL, "add-schema: %s", e ? e->msg : "bad schema");
    int last = 0;
    for (int i = 0; i < s.nfields; i++)
        if (s.fields[i].id > last)
            last = s.fields[i].id;
    json_int_t given = json_integer_value(json_object_get(u, "last-column-id"));
    if (given > last)
        last = (int)given;
    int64_t cur = lake_md_i64(a->md, "current-schema-id", 0);
    lake_md_add_schema(a->md, &s, last);
    a->last_schema = s.schema_id;
    json_object_set_new(a->md, "current-schema-id", json_integer(cur));   /* until set */
    lake_schema_release(&s);
    return IV_OK;
}

static int set_current_schema(struct apply *a, const json_t *u, struct iv_err *e)
{
    json_int_t id = json_integer_value(json_object_get(u, "schema-id"));
    if (id == -1)
        id = a->last_schema;
    size_t i;
    json_t *s;
    json_array_foreach(json_object_get(a->md, "schemas"), i, s) {
        if (lake_md_i64(s, "schema-id", -2) == id) {
            json_object_set_new(a->md, "current-schema-id", json_integer(id));
            return IV_OK;
        }
    }
    return iv_err_set(e, IV_EINVAL, "set-current-schema: no schema %lld", (long long)id);
}

static int add_snapshot(struct apply *a, const json_t *u, struct iv_err *e)
{
    json_t *snap = json_object_get(u, "snapshot");
    int64_t id = lake_md_i64(snap, "snapshot-id", -1);
    if (!json_is_object(snap) || id < 0 || !json_str(snap, "manifest-list"))
        return iv_err_set(e, IV_EINVAL, "add-snapshot needs a snapshot with snapshot-id and "
                          "manifest-list");
    if (lake_md_snapshot(a->md, id))
        return iv_err_set(e, IV_EINVAL, "add-snapshot: snapshot %lld already exists",
                          (long long)id);
    /* The files a snapshot names must live in the table: a writer cannot make the table
     * (and whoever reads it through this catalog) point at files elsewhere. */
    const char *loc = json_str(a->md, "location");
    const char *ml = json_str(snap, "manifest-list");
    size_t n = loc ? strlen(loc) : 0;
    if (!loc || strncmp(ml, loc, n) != 0 || ml[n] != '/' || strstr(ml, "/../"))
        return iv_err_set(e, IV_EINVAL, "add-snapshot: manifest-list must be inside the table "
                          "location");
    int64_t seq = lake_md_i64(snap, "sequence-number", 0);
    if (seq <= lake_md_i64(a->md, "last-sequence-number", 0) && json_array_size(a->pending) == 0
        && lake_md_i64(snap, "parent-snapshot-id", -1) >= 0)
        return conflict(e, "add-snapshot", "sequence number is not newer than the table's");
    json_array_append(a->pending, snap);
    return IV_OK;
}

static int set_ref(struct apply *a, const json_t *u, struct iv_err *e)
{
    const char *ref = json_str(u, "ref-name");
    int64_t id = lake_md_i64(u, "snapshot-id", -1);
    if (!ref || id < 0)
        return iv_err_set(e, IV_EINVAL, "set-snapshot-ref needs ref-name and snapshot-id");
    if (strcmp(ref, "main") != 0)
        return iv_err_set(e, IV_EINVAL, "set-snapshot-ref: only the 'main' branch is supported");
    size_t i;
    json_t *s;
    json_array_foreach(a->pending, i, s) {
        if (lake_md_i64(s, "snapshot-id", -1) == id) {
            lake_md_add_snapshot(a->md, json_incref(s));
            json_array_remove(a->pending, i);
            return IV_OK;
        }
    }
    json_t *old = lake_md_snapshot(a->md, id);
    if (!old)
        return iv_err_set(e, IV_EINVAL, "set-snapshot-ref: no snapshot %lld", (long long)id);
    json_object_set_new(a->md, "current-snapshot-id", json_integer(id));
    json_t *refs = json_object_get(a->md, "refs");
    if (!json_is_object(refs)) {
        refs = json_object();
        json_object_set_new(a->md, "refs", refs);
    }
    json_object_set_new(refs, "main", json_pack("{s:I,s:s}", "snapshot-id", (json_int_t)id,
                                                "type", "branch"));
    return IV_OK;
}

static int set_properties(struct apply *a, const json_t *u, bool remove, struct iv_err *e)
{
    json_t *props = json_object_get(a->md, "properties");
    if (!json_is_object(props)) {
        props = json_object();
        json_object_set_new(a->md, "properties", props);
    }
    if (remove) {
        size_t i;
        json_t *k;
        json_array_foreach(json_object_get(u, "removals"), i, k)
            if (json_is_string(k))
                json_object_del(props, json_string_value(k));
        return IV_OK;
    }
    const json_t *upd = json_object_get(u, "updates");
    if (!json_is_object(upd))
        return iv_err_set(e, IV_EINVAL, "set-properties needs an 'updates' object");
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)upd, k, v) {
        if (!json_is_string(v))
            return iv_err_set(e, IV_EINVAL, "set-properties: '%s' must be a string", k);
        json_object_set(props, k, v);
    }
    return IV_OK;
}

static int apply_update(struct apply *a, const json_t *u, struct iv_err *e)
{
    const char *act = json_str(u, "action");
    if (!act)
        return iv_err_set(e, IV_EINVAL, "an update has no action");
    if (strcmp(act, "assign-uuid") == 0)
        return json_str(u, "uuid") && !strcmp(json_str(u, "uuid"), json_str(a->md, "table-uuid"))
                   ? IV_OK : iv_err_set(e, IV_EINVAL, "assign-uuid cannot change the uuid");
    if (strcmp(act, "upgrade-format-version") == 0)
        return lake_md_i64(u, "format-version", 0) == 2
                   ? IV_OK : iv_err_set(e, IV_EINVAL, "only format version 2 is supported");
    if (strcmp(act, "add-schema") == 0)
        return add_schema(a, u, e);
    if (strcmp(act, "set-current-schema") == 0)
        return set_current_schema(a, u, e);
    if (strcmp(act, "add-snapshot") == 0)
        return add_snapshot(a, u, e);
    if (strcmp(act, "set-snapshot-ref") == 0)
        return set_ref(a, u, e);
    if (strcmp(act, "set-properties") == 0)
        return set_properties(a, u, false, e);
    if (strcmp(act, "remove-properties") == 0)
        return set_properties(a, u, true, e);
    return iv_err_set(e, IV_EINVAL, "update action '%s' is not supported", act);
}

int lake_table_commit_changes(struct lake_table *t, const json_t *requirements,
                              const json_t *updates, struct iv_err *e)
{
    if ((requirements && !json_is_array(requirements)) || !json_is_array(updates))
        return iv_err_set(e, IV_EINVAL, "requirements and updates must be arrays");
    size_t i;
    json_t *v;
    json_array_foreach(requirements, i, v) {
        int rc = check_requirement(t->md, v, e);
        if (rc)
            return rc;
    }
    struct apply a = { lake_md_next(t->md, t->metadata_location, now_ms()), json_array(), -1 };
    int rc = IV_OK;
    json_array_foreach(updates, i, v) {
        if ((rc = apply_update(&a, v, e)))
            break;
    }
    json_array_foreach(a.pending, i, v) {   /* added but not referenced: keep, no ref move */
        if (!json_is_array(json_object_get(a.md, "snapshots")))
            json_object_set_new(a.md, "snapshots", json_array());
        json_array_append(json_object_get(a.md, "snapshots"), v);
        int64_t seq = lake_md_i64(v, "sequence-number", 0);
        if (seq > lake_md_i64(a.md, "last-sequence-number", 0))
            json_object_set_new(a.md, "last-sequence-number", json_integer(seq));
    }
    json_decref(a.pending);
    if (!rc) {
        struct lake_schema chk;
        rc = lake_md_check(a.md, &chk, e);
        if (!rc)
            lake_schema_release(&chk);
    }
    if (rc) {
        json_decref(a.md);
        return rc;
    }
    bool unknown = false;
    return lake_table_swap(t, a.md, &unknown, e);
}
