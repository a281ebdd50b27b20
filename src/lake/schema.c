/*
 * lake/schema: Iceberg schemas of flat primitive columns — building them,
 * copying them, and their JSON form in the table metadata (spec Appendix C).
 * Type strings ("long", "decimal(10,2)") come from types.c.
 *
 * Why flat only: Singer streams map objects and arrays to JSON strings
 * (docs/singer.md "Type mapping"), so Ivory never writes nested columns. A table created
 * elsewhere with nested columns is refused with a clear message rather than
 * half understood.
 */
#include "lake/lake_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void lake_schema_init(struct lake_schema *s)
{
    memset(s, 0, sizeof *s);
}

void lake_schema_release(struct lake_schema *s)
{
    if (!s)
        return;
    for (int i = 0; i < s->nfields; i++)
        free(s->fields[i].name);
    free(s->fields);
    memset(s, 0, sizeof *s);
}

static struct lake_field *schema_push(struct lake_schema *s)
{
    s->fields = xrealloc(s->fields, sizeof(struct lake_field) * (size_t)(s->nfields + 1));
    struct lake_field *f = &s->fields[s->nfields++];
    memset(f, 0, sizeof *f);
    return f;
}

void lake_schema_add(struct lake_schema *s, const char *name, enum lake_type type, bool required,
                     int precision, int scale)
{
    struct lake_field *f = schema_push(s);
    f->id = s->nfields;    /* provisional; tables assign ids on create/evolve */
    f->name = xstrdup(name);
    f->type = type;
    f->required = required;
    f->precision = precision;
    f->scale = scale;
    if (type == LAKE_UUID)
        f->fixed_len = 16;
    else if (type == LAKE_FIXED)
        f->fixed_len = precision;   /* lake_schema_add has no length argument: precision */
}

void lake_schema_copy(struct lake_schema *dst, const struct lake_schema *src)
{
    lake_schema_init(dst);
    dst->schema_id = src->schema_id;
    if (src->nfields > 0) {
        dst->fields = xcalloc((size_t)src->nfields, sizeof(struct lake_field));
        for (int i = 0; i < src->nfields; i++) {
            dst->fields[i] = src->fields[i];
            dst->fields[i].name = xstrdup(src->fields[i].name);
        }
    }
    dst->nfields = src->nfields;
}

int lake_schema_find(const struct lake_schema *s, const char *name)
{
    for (int i = 0; i < s->nfields; i++)
        if (strcmp(s->fields[i].name, name) == 0)
            return i;
    return -1;
}

json_t *lake_schema_to_json(const struct lake_schema *s)
{
    json_t *fields = json_array();
    for (int i = 0; i < s->nfields; i++) {
        const struct lake_field *f = &s->fields[i];
        char ts[32];
        lake_type_string(f, ts);
        json_array_append_new(fields, json_pack("{s:I,s:s,s:b,s:s}", "id", (json_int_t)f->id,
                                                "name", f->name, "required", f->required,
                                                "type", ts));
    }
    return json_pack("{s:s,s:I,s:o}", "type", "struct", "schema-id", (json_int_t)s->schema_id,
                     "fields", fields);
}

int lake_schema_from_json(const json_t *j, struct lake_schema *out, struct iv_err *e)
{
    lake_schema_init(out);
    if (!json_is_object(j) || !json_is_array(json_object_get(j, "fields")))
        return iv_err_set(e, IV_EINVAL, "schema is not a struct with a 'fields' array");
    const json_t *tv = json_object_get(j, "type");
    if (tv && !(json_is_string(tv) && strcmp(json_string_value(tv), "struct") == 0))
        return iv_err_set(e, IV_EINVAL, "schema type is not 'struct'");
    json_t *sid = json_object_get(j, "schema-id");
    out->schema_id = json_is_integer(sid) ? (int)json_integer_value(sid) : 0;
    size_t i;
    json_t *fj;
    json_array_foreach(json_object_get(j, "fields"), i, fj) {
        const char *name = json_str(fj, "name");
        json_t *id = json_object_get(fj, "id");
        json_t *req = json_object_get(fj, "required");
        json_t *type = json_object_get(fj, "type");
        if (!name || !json_is_integer(id) || json_integer_value(id) < 0
            || json_integer_value(id) > 2147483447 || !json_is_boolean(req)) {
            lake_schema_release(out);
            return iv_err_set(e, IV_EINVAL, "schema field %zu lacks a valid name, id or "
                              "required flag", i);
        }
        if (!json_is_string(type)) {
            lake_schema_release(out);
            return iv_err_set(e, IV_EUNSUPPORTED, "column '%s' has a nested type, which this "
                              "writer does not support", name);
        }
        struct lake_field tmp = { 0 };
        if (lake_type_parse(json_string_value(type), &tmp)) {
            lake_schema_release(out);
            return iv_err_set(e, IV_EUNSUPPORTED, "column '%s' has unsupported type '%s'", name,
                              json_string_value(type));
        }
        if (lake_schema_find(out, name) >= 0) {
            lake_schema_release(out);
            return iv_err_set(e, IV_EINVAL, "column '%s' appears twice in the schema", name);
        }
        struct lake_field *f = schema_push(out);
        *f = tmp;
        if (f->type == LAKE_UUID)
            f->fixed_len = 16;
        f->id = (int)json_integer_value(id);
        f->name = xstrdup(name);
        f->required = json_is_true(req);
    }
    return IV_OK;
}
