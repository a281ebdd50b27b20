/*
 * mappings.c: field mappings through the API (docs/api.md "Field mappings", the language in
 * docs/transforms.md):
 *
 *   GET  /v1/admin/connectors/{id}/mappings          the connector's mappings, in order;
 *   PUT  /v1/admin/connectors/{id}/mappings          replaces the whole set atomically, after
 *                                                    every field is validated and every
 *                                                    transform_fn compiled (a syntax error is
 *                                                    422 naming the mapping and the column);
 *   POST /v1/admin/connectors/{id}/map-fields        proposes mappings for one source stream
 *                                                    (deterministic proposer) and saves them.
 *
 * A run's transform samples are shown by GET .../runs/{run_id} (ops.c).
 *
 * Every store call is scoped by the token's tenant: another tenant's connector is a 404 and
 * nothing changes. Nothing is written unless the whole request is valid.
 */
#include "api/api_int.h"
#include "store/store.h"
#include "transform/transform.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_MAPPINGS 1000
#define MAX_NAME 256
#define MAX_EXPR (64 * 1024)

static const char *tenant_of(struct api_ctx *c)
{
    return c->claims.sub;
}

static bool replied_store_error(struct api_ctx *c, int rc, const struct iv_err *e,
                                const char *what, const char *missing)
{
    if (rc == IV_OK)
        return false;
    if (rc == IV_ENOTFOUND)
        api_error(c, 404, "not_found", NULL, "%s", missing);
    else
        api_internal(c, what, e);
    return true;
}

static json_t *mapping_view(const struct store_mapping *m)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:o, s:b}", "source_stream", m->source_stream,
                     "source_field", m->source_field, "target_column", m->target_column,
                     "target_type", m->target_type, "transform_fn",
                     api_str_or_null(m->transform_fn), "review_required", m->review_required);
}

static json_t *mappings_view(const char *id, const struct store_mapping *v, size_t n)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, mapping_view(&v[i]));
    return json_pack("{s:s, s:o, s:I}", "connector_id", id, "mappings", arr, "count",
                     (json_int_t)n);
}

static void reply_current(struct api_ctx *c, const char *id, int status)
{
    struct store_mapping *v = NULL;
    size_t n = 0;
    struct iv_err e = {0};
    int rc = store_mappings_get(c->srv->store, tenant_of(c), id, &v, &n, &e);
    if (replied_store_error(c, rc, &e, "mappings get", "Connector not found."))
        return;
    api_reply(c, status, mappings_view(id, v, n));
    store_mappings_free(v, n);
}

/* Ownership before anything else: another tenant's (or no) connector is a 404 whatever the
 * body holds, so validation never tells a caller about a connector it cannot see. */
static bool connector_visible(struct api_ctx *c, const char *id)
{
    struct store_connector k;
    struct iv_err e = {0};
    int rc = store_connector_get(c->srv->store, tenant_of(c), id, &k, &e);
    if (replied_store_error(c, rc, &e, "connector get", "Connector not found."))
        return false;
    store_connector_release(&k);
    return true;
}

void api_h_mappings_get(struct api_ctx *c)
{
    reply_current(c, api_param(&c->params, "id"), 200);
}

/* ---- validation ------------------------------------------------------------------------- */

/* A required non-empty string of at most max bytes at obj[key]; replies 422 naming
 * "mappings[i].key" otherwise. */
static bool item_string(struct api_ctx *c, json_t *obj, size_t i, const char *key, size_t max,
                        const char **out)
{
    json_t *v = json_object_get(obj, key);
    *out = json_string_value(v);
    if (json_is_string(v) && json_string_length(v) > 0 && json_string_length(v) <= max)
        return true;
    char field[64];
    snprintf(field, sizeof field, "mappings[%zu].%s", i, key);
    api_error(c, 422, "validation_error", field, "%s is required: a string of 1 to %zu bytes.",
              field, max);
    return false;
}

/* Compiles a transform; replies 422 naming the mapping and the column on a syntax error. */
static bool check_expression(struct api_ctx *c, const char *src, size_t i,
                             const char *target_column)
{
    struct tx_expr *x = NULL;
    struct tx_error err = {0};
    if (tx_compile(src, strlen(src), &x, &err) == IV_OK) {
        tx_expr_free(x);
        return true;
    }
    char field[64];
    snprintf(field, sizeof field, "mappings[%zu].transform_fn", i);
    api_error(c, 422, "validation_error", field, "mappings[%zu] (target_column '%s'): %s at "
              "column %d: %s", i, target_column, err.kind, err.column, err.msg);
    if (c->reply) {
        json_object_set_new(c->reply, "mapping_index", json_integer((json_int_t)i));
        json_object_set_new(c->reply, "column", json_integer(err.column));
    }
    return false;
}

/* One mapping object -> m (strings borrowed from the body). */
static bool parse_mapping(struct api_ctx *c, json_t *obj, size_t i, struct store_mapping *m)
{
    char field[64];
    if (!json_is_object(obj)) {
        snprintf(field, sizeof field, "mappings[%zu]", i);
        api_error(c, 422, "validation_error", field, "%s must be an object.", field);
        return false;
    }
    static const char *const known[] = {"source_stream", "source_field", "target_column",
                                        "target_type", "transform_fn", "review_required", NULL};
    const char *k;
    json_t *x;
    json_object_foreach(obj, k, x) {
        bool ok = false;
        for (int j = 0; known[j]; j++)
            ok |= !strcmp(k, known[j]);
        if (!ok) {
            snprintf(field, sizeof field, "mappings[%zu].%.32s", i, k);
            api_error(c, 422, "validation_error", field, "Unknown field %s.", field);
            return false;
        }
    }
    const char *ss, *sf, *tc, *tt;
    if (!item_string(c, obj, i, "source_stream", MAX_NAME, &ss) ||
        !item_string(c, obj, i, "source_field", MAX_NAME, &sf) ||
        !item_string(c, obj, i, "target_column", 128, &tc) ||
        !item_string(c, obj, i, "target_type", 32, &tt))
        return false;
    struct tx_type type;
    if (!api_valid_destination_table(tc)) {
        snprintf(field, sizeof field, "mappings[%zu].target_column", i);
        api_error(c, 422, "validation_error", field, "%s must match ^[a-z_][a-z0-9_]{0,127}$.",
                  field);
        return false;
    }
    if (!tx_type_parse(tt, &type)) {
        snprintf(field, sizeof field, "mappings[%zu].target_type", i);
        api_error(c, 422, "validation_error", field, "%s must be one of string, long, int, "
                  "double, float, boolean, date, timestamp, timestamptz, decimal(p,s).", field);
        return false;
    }
    json_t *fn = json_object_get(obj, "transform_fn"), *rr = json_object_get(obj,
                                                                              "review_required");
    if (fn && !json_is_null(fn) && (!json_is_string(fn) || json_string_length(fn) > MAX_EXPR)) {
        snprintf(field, sizeof field, "mappings[%zu].transform_fn", i);
        api_error(c, 422, "validation_error", field, "%s must be null or a Python expression "
                  "of at most %d bytes.", field, MAX_EXPR);
        return false;
    }
    if (rr && !json_is_boolean(rr)) {
        snprintf(field, sizeof field, "mappings[%zu].review_required", i);
        api_error(c, 422, "validation_error", field, "%s must be a boolean.", field);
        return false;
    }
    const char *src = json_string_value(fn);
    if (src && !*src)
        src = NULL;   /* "" means no transform */
    if (src && !check_expression(c, src, i, tc))
        return false;
    *m = (struct store_mapping){.source_stream = (char *)ss, .source_field = (char *)sf,
                                .target_column = (char *)tc, .target_type = (char *)tt,
                                .transform_fn = (char *)src, .review_required = json_is_true(rr)};
    return true;
}

/* One table: a target column appears once per source stream, with one type overall. */
static bool check_columns(struct api_ctx *c, const struct store_mapping *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < i; j++) {
            if (strcmp(v[i].target_column, v[j].target_column))
                continue;
            char field[64];
            snprintf(field, sizeof field, "mappings[%zu].target_column", i);
            if (!strcmp(v[i].source_stream, v[j].source_stream)) {
                api_error(c, 422, "validation_error", field, "target_column '%s' is mapped "
                          "twice for source_stream '%s' (mappings[%zu] and mappings[%zu]).",
                          v[i].target_column, v[i].source_stream, j, i);
                return false;
            }
            if (strcmp(v[i].target_type, v[j].target_type)) {
                api_error(c, 422, "validation_error", field, "target_column '%s' has two "
                          "types: %s (mappings[%zu]) and %s (mappings[%zu]).",
                          v[i].target_column, v[j].target_type, j, v[i].target_type, i);
                return false;
            }
        }
    return true;
}

void api_h_mappings_put(struct api_ctx *c)
{
    const char *id = api_param(&c->params, "id");
    if (!connector_visible(c, id))
        return;
    json_t *arr = json_object_get(c->json, "mappings");
    const char *k;
    json_t *x;
    json_object_foreach(c->json, k, x) {
        if (strcmp(k, "mappings")) {
            api_error(c, 422, "validation_error", k, "Unknown field %s.", k);
            return;
        }
    }
    if (!json_is_array(arr) || json_array_size(arr) > MAX_MAPPINGS) {
        api_error(c, 422, "validation_error", "mappings", "mappings is required: an array of "
                  "at most %d mapping objects (an empty array removes every mapping).",
                  MAX_MAPPINGS);
        return;
    }
    size_t n = json_array_size(arr);
    struct store_mapping *v = xcalloc(n ? n : 1, sizeof *v);
    for (size_t i = 0; i < n; i++)
        if (!parse_mapping(c, json_array_get(arr, i), i, &v[i]))
            goto out;
    if (!check_columns(c, v, n))
        goto out;
    struct iv_err e = {0};
    int rc = store_mappings_replace(c->srv->store, tenant_of(c), id, NULL, v, n, &e);
    if (!replied_store_error(c, rc, &e, "mappings replace", "Connector not found."))
        reply_current(c, id, 200);
out:
    free(v);   /* strings borrowed from the body */
}

/* ---- the deterministic proposer ------------------------------------------------------------ */

/* Name normal form: lower case, camelCase split, separators dropped ("createdAt",
 * "created_at", "Created-At" -> "createdat"). */
static void normalise(const char *s, char *out, size_t n)
{
    size_t k = 0;
    for (; *s && k + 1 < n; s++)
        if (isalnum((unsigned char)*s))
            out[k++] = (char)tolower((unsigned char)*s);
    out[k] = '\0';
}

/* Synonym groups (normal forms); the first entry names the group. */
static const char *const synonyms[][8] = {
    {"email", "emailaddress", "mail", "email1", "primaryemail", NULL},
    {"phone", "phonenumber", "telephone", "tel", "mobile", "mobilephone", "cell", NULL},
    {"id", "identifier", "uid", "uuid", "key", "pk", NULL},
    {"firstname", "givenname", "fname", "forename", NULL},
    {"lastname", "surname", "familyname", "lname", NULL},
    {"name", "fullname", "displayname", NULL},
    {"createdat", "created", "createdon", "creationdate", "createddate", "insertedat", NULL},
    {"updatedat", "updated", "modified", "modifiedat", "lastmodified", "updatedon", NULL},
    {"zip", "zipcode", "postalcode", "postcode", NULL},
    {"country", "countrycode", "nation", NULL},
    {"company", "organization", "organisation", "org", "employer", "account", NULL},
    {"birthdate", "dob", "dateofbirth", "birthday", NULL},
    {"amount", "total", "totalamount", "sum", NULL},
    {"address", "street", "streetaddress", "address1", "addressline1", NULL},
    {"city", "town", "locality", NULL},
    {"status", "state", NULL},
};

static int synonym_group(const char *norm)
{
    for (size_t g = 0; g < sizeof synonyms / sizeof synonyms[0]; g++)
        for (int i = 0; synonyms[g][i]; i++)
            if (!strcmp(synonyms[g][i], norm))
                return (int)g;
    return -1;
}

/* Source field kinds, from a JSON Schema property or a type name. */
enum src_kind { SK_ANY, SK_STRING, SK_INTEGER, SK_NUMBER, SK_BOOLEAN, SK_DATE, SK_DATETIME };

static enum src_kind kind_of(json_t *def)
{
    const char *t = NULL, *fmt = NULL;
    if (json_is_string(def)) {
        t = json_string_value(def);
    } else if (json_is_object(def)) {
        json_t *ty = json_object_get(def, "type");
        fmt = json_str(def, "format");
        if (json_is_string(ty)) {
            t = json_string_value(ty);
        } else if (json_is_array(ty)) {
            size_t i;
            json_t *x;
            json_array_foreach(ty, i, x) if (json_is_string(x) &&
                                             strcmp(json_string_value(x), "null")) t =
                json_string_value(x);
        }
    }
    if (!t)
        return SK_ANY;
    if (!strcmp(t, "string") || !strcmp(t, "str") || !strcmp(t, "text"))
        return fmt && !strcmp(fmt, "date-time") ? SK_DATETIME
               : fmt && !strcmp(fmt, "date") ? SK_DATE : SK_STRING;
    if (!strcmp(t, "integer") || !strcmp(t, "int") || !strcmp(t, "long"))
        return SK_INTEGER;
    if (!strcmp(t, "number") || !strcmp(t, "double") || !strcmp(t, "float"))
        return SK_NUMBER;
    if (!strcmp(t, "boolean") || !strcmp(t, "bool"))
        return SK_BOOLEAN;
    if (!strcmp(t, "date"))
        return SK_DATE;
    if (!strcmp(t, "date-time") || !strcmp(t, "timestamp") || !strcmp(t, "timestamptz"))
        return SK_DATETIME;
    return SK_ANY;
}

/* Is the source kind loadable as the target type as it is? Else *cast: a transform that
 * converts it (review_required then), or NULL when none fits. */
static bool compatible(enum src_kind k, const struct tx_type *t, const char **cast)
{
    *cast = NULL;
    switch (t->t) {
    case TT_STRING:
        if (k == SK_STRING || k == SK_DATE || k == SK_DATETIME || k == SK_ANY)
            return true;
        *cast = "None if value == None else str(value)";
        return false;
    case TT_LONG:
    case TT_INT:
        if (k == SK_INTEGER)
            return true;
        *cast = k == SK_STRING || k == SK_NUMBER ? "None if value == None else int(value)" : NULL;
        return false;
    case TT_DOUBLE:
    case TT_FLOAT:
    case TT_DECIMAL:
        if (k == SK_NUMBER || k == SK_INTEGER)
            return true;
        *cast = k == SK_STRING ? "None if value == None else float(value)" : NULL;
        return false;
    case TT_BOOLEAN:
        return k == SK_BOOLEAN;
    case TT_DATE:
        if (k == SK_DATE)
            return true;
        *cast = k == SK_STRING || k == SK_DATETIME ? "None if value == None else parse_date(value)"
                                                   : NULL;
        return false;
    case TT_TIMESTAMP:
    case TT_TIMESTAMPTZ:
        if (k == SK_DATETIME)
            return true;
        *cast = k == SK_STRING || k == SK_DATE ? "None if value == None else parse_datetime(value)"
                                               : NULL;
        return false;
    }
    return false;
}

/* target_schema_def: {"col": "type", ...} or [{"name": ..., "type": ...}, ...]. */
static bool parse_targets(struct api_ctx *c, json_t *def, struct map_target **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    size_t cap = json_is_object(def) ? json_object_size(def) : json_array_size(def);
    if ((!json_is_object(def) && !json_is_array(def)) || cap == 0 || cap > MAX_MAPPINGS) {
        api_error(c, 422, "validation_error", "target_schema_def", "target_schema_def must be a "
                  "non-empty object {column: type} or array of {\"name\", \"type\"} (at most %d).",
                  MAX_MAPPINGS);
        return false;
    }
    struct map_target *v = xcalloc(cap, sizeof *v);
    const char *k;
    json_t *x;
    size_t i;
    if (json_is_object(def)) {
        json_object_foreach(def, k, x) v[(*n)++] = (struct map_target){k, json_string_value(x)};
    } else {
        json_array_foreach(def, i, x) v[(*n)++] = (struct map_target){json_str(x, "name"),
                                                                     json_str(x, "type")};
    }
    for (i = 0; i < *n; i++) {
        struct tx_type t;
        if (!v[i].name || !api_valid_destination_table(v[i].name) || !v[i].type ||
            !tx_type_parse(v[i].type, &t)) {
            api_error(c, 422, "validation_error", "target_schema_def", "target_schema_def entry "
                      "%zu needs a column name matching ^[a-z_][a-z0-9_]{0,127}$ and an Iceberg "
                      "type (string, long, int, double, float, boolean, date, timestamp, "
                      "timestamptz, decimal(p,s)).", i);
            free(v);
            return false;
        }
    }
    *out = v;
    return true;
}

/* source_schema: a JSON Schema with "properties", or {"field": type-or-schema, ...}. */
static json_t *source_fields(json_t *schema)
{
    json_t *props = json_object_get(schema, "properties");
    return json_is_object(props) ? props : schema;
}

/* Proposes one mapping per target column that some source field matches. */
static size_t propose(const char *stream, json_t *fields, const struct map_target *tv, size_t tn,
                      struct store_mapping *out, char **casts)
{
    size_t n = 0;
    for (size_t i = 0; i < tn; i++) {
        char tnorm[160];
        normalise(tv[i].name, tnorm, sizeof tnorm);
        int tgroup = synonym_group(tnorm);
        const char *best = NULL;
        bool exact = false;
        const char *k;
        json_t *def;
        json_object_foreach(fields, k, def) {
            char snorm[300];
            normalise(k, snorm, sizeof snorm);
            if (!strcmp(snorm, tnorm)) {
                best = k;
                exact = true;
                break;
            }
            if (!best && tgroup >= 0 && synonym_group(snorm) == tgroup)
                best = k;
        }
        if (!best)
            continue;
        struct tx_type t;
        tx_type_parse(tv[i].type, &t);
        const char *cast = NULL;
        bool ok = compatible(kind_of(json_object_get(fields, best)), &t, &cast);
        if (!ok && !cast)
            continue;   /* a name match whose type cannot load: left to the user */
        casts[n] = cast ? xstrdup(cast) : NULL;
        out[n++] = (struct store_mapping){
            .source_stream = (char *)stream, .source_field = (char *)best,
            .target_column = (char *)tv[i].name, .target_type = (char *)tv[i].type,
            .transform_fn = casts[n - 1], .review_required = !exact || !ok,
        };
    }
    return n;
}

/* ---- the LLM proposer's answer, validated like client input ---------------------------- */

struct llm_outcome {
    size_t kept, dropped;
    char first_drop[320];         /* why the first dropped proposal was dropped */
};

static void drop(struct llm_outcome *o, size_t i, const char *why, const char *detail)
{
    if (!o->dropped++)
        snprintf(o->first_drop, sizeof o->first_drop, "proposal %zu: %.120s%.80s", i, why,
                 detail ? detail : "");
}

/* One proposal -> out (strings borrowed from the request: a kept proposal names an existing
 * source field and target column); its expression is compiled as PUT .../mappings does. */
static bool llm_item(json_t *item, size_t i, json_t *fields, const struct map_target *tv,
                     size_t tn, const bool *taken, size_t *col, const char **fn,
                     struct llm_outcome *o)
{
    const char *sf = json_str(item, "source_field"), *tc = json_str(item, "target_column");
    json_t *f = json_object_get(item, "transform_fn");
    const char *k;
    json_t *x;
    const char *field = NULL;
    json_object_foreach(fields, k, x) if (sf && !strcmp(k, sf)) field = k;
    *col = tn;
    for (size_t j = 0; tc && j < tn; j++)
        if (!strcmp(tv[j].name, tc))
            *col = j;
    if (!field)
        return drop(o, i, "unknown source_field ", sf), false;
    if (*col == tn)
        return drop(o, i, "unknown target_column ", tc), false;
    if (taken[*col])
        return drop(o, i, "target_column mapped twice: ", tc), false;
    if (f && !json_is_null(f) && (!json_is_string(f) || json_string_length(f) > MAX_EXPR))
        return drop(o, i, "transform_fn is not an expression string", NULL), false;
    *fn = json_string_value(f) && *json_string_value(f) ? json_string_value(f) : NULL;
    struct tx_expr *ex = NULL;
    struct tx_error err = {0};
    if (*fn && tx_compile(*fn, strlen(*fn), &ex, &err) != IV_OK) {
        char why[120];
        snprintf(why, sizeof why, "transform_fn %s at column %d: ", err.kind, err.column);
        return drop(o, i, why, err.msg), false;
    }
    tx_expr_free(ex);
    return true;
}

/* Keeps the valid proposals of the model's answer in out/casts; each is review_required
 * unless the deterministic proposer (det, nd) proposes exactly it, sure of it. */
static size_t llm_validate(json_t *answer, const char *stream, json_t *fields,
                           const struct map_target *tv, size_t tn,
                           const struct store_mapping *det, size_t nd,
                           struct store_mapping *out, char **casts, struct llm_outcome *o)
{
    bool *taken = xcalloc(tn + 1, sizeof *taken);
    size_t n = 0, i;
    json_t *item;
    json_array_foreach(answer, i, item) {
        size_t col;
        const char *fn = NULL;
        if (!json_is_object(item)) {
            drop(o, i, "not an object", NULL);
            continue;
        }
        if (n >= tn || !llm_item(item, i, fields, tv, tn, taken, &col, &fn, o))
            continue;
        taken[col] = true;
        const char *sf = NULL, *k;
        json_t *x;
        json_object_foreach(fields, k, x) if (!strcmp(k, json_str(item, "source_field"))) sf = k;
        bool sure = false;
        for (size_t d = 0; d < nd; d++)
            sure |= !strcmp(det[d].target_column, tv[col].name) &&
                    !strcmp(det[d].source_field, sf) && !det[d].review_required &&
                    !det[d].transform_fn && !fn;
        casts[n] = fn ? xstrdup(fn) : NULL;
        out[n++] = (struct store_mapping){
            .source_stream = (char *)stream, .source_field = (char *)sf,
            .target_column = (char *)tv[col].name, .target_type = (char *)tv[col].type,
            .transform_fn = casts[n - 1], .review_required = !sure,
        };
    }
    o->kept = n;
    free(taken);
    return n;
}

/* With IVORY_MAPPING_LLM_URL: the model's valid proposals replace the deterministic ones
 * (props/casts hold those, nd of them, on entry). When the model cannot be asked or its answer
 * is unusable or holds no valid proposal, the deterministic proposals stay, every one marked
 * review_required, and `how` says why. Returns the number of proposals. */
static size_t ask_llm(struct api_ctx *c, const char *stream, json_t *fields,
                      const struct map_target *tv, size_t tn, struct store_mapping *props,
                      char **casts, size_t nd, char *how, size_t howsz)
{
    const struct iv_config *cfg = c->srv->cfg;
    json_t *answer = NULL;
    struct iv_err e = {0};
    struct llm_outcome o = {0};
    size_t n = 0;
    struct store_mapping *lp = xcalloc(tn, sizeof *lp);
    char **lc = xcalloc(tn, sizeof *lc);
    if (map_llm_ask(cfg, stream, fields, tv, tn, &answer, &e) == IV_OK)
        n = llm_validate(answer, stream, fields, tv, tn, props, nd, lp, lc, &o);
    else
        log_warn("map-fields: the LLM proposer failed: %s", e.msg);
    json_decref(answer);
    if (n > 0) {
        for (size_t i = 0; i < tn; i++) {
            free(casts[i]);
            casts[i] = lc[i];
            props[i] = lp[i];
        }
        snprintf(how, howsz, "LLM proposer, model '%.60s'; %zu of its proposals dropped as "
                 "invalid%s%.200s", cfg->mapping_llm_model, o.dropped,
                 o.dropped ? ", first: " : "", o.dropped ? o.first_drop : "");
    } else {
        for (size_t i = 0; i < nd; i++)
            props[i].review_required = true;
        for (size_t i = 0; i < tn; i++)
            free(lc[i]);
        char why[400];
        if (e.msg[0])
            snprintf(why, sizeof why, "%.200s", e.msg);
        else
            snprintf(why, sizeof why, "none of its proposals was valid (first: %.200s)",
                     o.dropped ? o.first_drop : "the answer was empty");
        snprintf(how, howsz, "deterministic proposer: the LLM proposer was not used because "
                 "%s; every proposal needs review", why);
        n = nd;
    }
    free(lp);
    free(lc);
    return n;
}

void api_h_map_fields(struct api_ctx *c)
{
    const char *id = api_param(&c->params, "id");
    if (!connector_visible(c, id))
        return;
    static const char *const known[] = {"source_stream", "source_schema", "target_schema",
                                        "target_table", "target_schema_def", NULL};
    const char *k;
    json_t *x;
    json_object_foreach(c->json, k, x) {
        bool ok = false;
        for (int j = 0; known[j]; j++)
            ok |= !strcmp(k, known[j]);
        if (!ok) {
            api_error(c, 422, "validation_error", k, "Unknown field %s.", k);
            return;
        }
    }
    const char *stream = json_str(c->json, "source_stream");
    const char *tschema = json_str(c->json, "target_schema");
    const char *ttable = json_str(c->json, "target_table");
    json_t *sschema = json_object_get(c->json, "source_schema");
    if (!stream || !*stream || strlen(stream) > MAX_NAME) {
        api_error(c, 422, "validation_error", "source_stream", "source_stream is required: a "
                  "string of 1 to %d bytes.", MAX_NAME);
        return;
    }
    if (!json_is_object(sschema) || json_object_size(source_fields(sschema)) == 0) {
        api_error(c, 422, "validation_error", "source_schema", "source_schema must be a JSON "
                  "Schema with \"properties\" or an object {field: type}, with at least one "
                  "field.");
        return;
    }
    static const char *const schemas[] = {"dm", "md", "ci", "pm", "custom", NULL};
    bool sk = false;
    for (int j = 0; tschema && schemas[j]; j++)
        sk |= !strcmp(tschema, schemas[j]);
    if (!sk) {
        api_error(c, 422, "validation_error", "target_schema", "target_schema must be one of "
                  "dm, md, ci, pm, custom.");
        return;
    }
    struct store_connector conn;
    struct iv_err e = {0};
    int rc = store_connector_get(c->srv->store, tenant_of(c), id, &conn, &e);
    if (replied_store_error(c, rc, &e, "connector get", "Connector not found."))
        return;
    bool same = ttable && conn.destination_table && !strcmp(ttable, conn.destination_table);
    store_connector_release(&conn);
    if (!same) {
        api_error(c, 422, "validation_error", "target_table", "target_table must be the "
                  "connector's destination_table (mapped streams load there).");
        return;
    }
    struct map_target *tv = NULL;
    size_t tn = 0;
    if (!parse_targets(c, json_object_get(c->json, "target_schema_def"), &tv, &tn))
        return;
    struct store_mapping *props = xcalloc(tn, sizeof *props);
    char **casts = xcalloc(tn, sizeof *casts);
    size_t n = propose(stream, source_fields(sschema), tv, tn, props, casts);
    char how[700];
    snprintf(how, sizeof how, "deterministic proposer");
    if (c->srv->cfg->mapping_llm_url)
        n = ask_llm(c, stream, source_fields(sschema), tv, tn, props, casts, n, how,
                    sizeof how);
    size_t review = 0;
    for (size_t i = 0; i < n; i++)
        review += props[i].review_required;
    rc = store_mappings_replace(c->srv->store, tenant_of(c), id, stream, props, n, &e);
    if (!replied_store_error(c, rc, &e, "mappings replace", "Connector not found.")) {
        json_t *arr = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append_new(arr, mapping_view(&props[i]));
        char msg[1100];
        snprintf(msg, sizeof msg, "Proposed %zu of %zu target columns for stream '%.100s' "
                 "(%s); %zu need review; %zu target columns had no matching source field. "
                 "Saved: they replace this stream's mappings.", n, tn, stream, how, review,
                 tn - n);
        api_reply(c, 201, json_pack("{s:I, s:I, s:s, s:o}", "mapped", (json_int_t)n,
                                    "review_required", (json_int_t)review, "message", msg,
                                    "mappings", arr));
    }
    for (size_t i = 0; i < tn; i++)
        free(casts[i]);
    free(casts);
    free(props);
    free(tv);
}
