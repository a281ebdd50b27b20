/*
 * fuzz_expr.c: libFuzzer target for src/transform: any bytes are compiled as an expression
 * and, when they compile, evaluated with small limits against a fixed value and row. Any
 * crash, leak, sanitizer report or hang is a bug: errors must come back as tx_error.
 */
#include "transform/transform.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct tx_error err;
    struct tx_expr *x = NULL;
    if (tx_compile((const char *)data, size, &x, &err) != 0)
        return 0;
    json_t *rj = json_loads("{\"a\": \"Straße İ\", \"n\": 42, \"l\": [1, 2.5, null, \"x\"], "
                            "\"d\": {\"k\": true}}", 0, NULL);
    struct tx_value *row = tx_from_json(rj);
    struct tx_value *value = tx_str("  Hello ", 8);
    struct tx_limits lim = {.max_steps = 20000, .max_str_bytes = 1 << 16,
                            .max_int_bits = 4096, .max_depth = 32};
    struct tx_value *out = NULL;
    if (tx_eval(x, value, row, &lim, &out, &err) == 0) {
        struct buf b;
        buf_init(&b, 1 << 20);
        tx_to_json_text(out, &b, &err);
        buf_release(&b);
        char *s = tx_repr_of(out, NULL);
        free(s);
        tx_unref(out);
    }
    tx_unref(value);
    tx_unref(row);
    json_decref(rj);
    tx_expr_free(x);
    return 0;
}
