/*
 * preview.c: POST /v1/admin/transform/preview — evaluates one transform expression on a
 * sample value and row, exactly as the runner would (src/transform, the same limits), so a
 * user (or the console's mapping editor) sees the result before saving a mapping. Pure: it
 * reads and writes nothing of any tenant, which is why it is the one place the API evaluates
 * an expression rather than only parsing it (docs/architecture.md).
 */
#include "api/api_int.h"
#include "transform/transform.h"

#include <string.h>

void api_h_transform_preview(struct api_ctx *c)
{
    const char *const known[] = {"expression", "value", "row", NULL};
    const char *unknown = api_unknown_field(c->json, known);
    if (unknown) {
        api_error(c, 422, "validation_error", unknown, "Unknown field '%s'.", unknown);
        return;
    }
    const json_t *src = json_object_get(c->json, "expression");
    if (!json_is_string(src) || json_string_length(src) == 0 || json_string_length(src) > 4096) {
        api_error(c, 422, "validation_error", "expression",
                  "expression must be a non-empty string of at most 4096 bytes.");
        return;
    }
    const json_t *row = json_object_get(c->json, "row");
    if (row && !json_is_null(row) && !json_is_object(row)) {
        api_error(c, 422, "validation_error", "row", "row must be an object or null.");
        return;
    }
    struct tx_expr *x = NULL;
    struct tx_error err = {0};
    if (tx_compile(json_string_value(src), json_string_length(src), &x, &err) != IV_OK) {
        json_t *j = json_pack("{s:s, s:s, s:s, s:s}", "error", "validation_error", "detail",
                              err.msg, "field", "expression", "kind", err.kind);
        json_object_set_new(j, "column", json_integer(err.column));
        api_reply(c, 422, j);
        return;
    }
    const json_t *value = json_object_get(c->json, "value");
    struct tx_value *v = value ? tx_from_json(value) : tx_none();
    struct tx_value *r = row && json_is_object(row) ? tx_from_json(row) : tx_none();
    struct tx_value *out = NULL;
    int rc = tx_eval(x, v, r, NULL, &out, &err);
    tx_unref(v);
    tx_unref(r);
    tx_expr_free(x);
    if (rc != IV_OK) {
        api_reply(c, 200, json_pack("{s:b, s:s, s:s}", "ok", 0, "kind", err.kind, "message",
                                    err.msg));
        return;
    }
    struct buf b;
    buf_init(&b, (size_t)1 << 20);
    struct tx_error jerr = {0};
    size_t rlen = 0;
    char *repr = tx_repr_of(out, &rlen);
    json_t *result = NULL;
    if (tx_to_json_text(out, &b, &jerr) == IV_OK)
        result = json_loadb(b.data, b.len, JSON_DECODE_ANY, NULL);
    buf_release(&b);
    tx_unref(out);
    json_t *j = json_pack("{s:b, s:o, s:s}", "ok", 1, "result", result ? result : json_null(),
                          "repr", repr ? repr : "");
    free(repr);
    api_reply(c, 200, j);
}
