/*
 * transform: the mapping expression language (public header of src/transform).
 *
 * Owns: a Python-expression parser and evaluator whose results agree with CPython for the
 * documented subset (docs/transforms.md): ints of any size (GMP), floats printed and rounded
 * as Python does, str with full Unicode case mapping (libunistring), None/True/False, list,
 * tuple, dict, f-strings with format specs, an allow-list of builtins and methods, and date
 * helpers. Names: `value` and `row`. No imports, attributes outside the allow-list, lambdas
 * or dunders. Every evaluation is bounded (steps, string bytes, integer bits, nesting): a
 * limit hit is an error like any Python exception, never a crash or a hang.
 *
 * Pure: no I/O, no globals that change, no locale. Thread-safe: a compiled expression is
 * immutable and may be evaluated from several threads at once.
 *
 * Ownership: values are reference-counted (tx_ref / tx_unref); every function returning a
 * `struct tx_value *` gives the caller one reference. Borrowed arguments are never released.
 */
#ifndef IVORY_TRANSFORM_H
#define IVORY_TRANSFORM_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/util.h"

enum tx_kind { TX_NONE, TX_BOOL, TX_INT, TX_FLOAT, TX_STR, TX_LIST, TX_TUPLE, TX_DICT };

struct tx_value;
struct tx_expr;

/* Limits of one evaluation (0 in a field = its default). */
struct tx_limits {
    int64_t max_steps;        /* AST nodes evaluated + loop iterations; default 100,000 */
    size_t max_str_bytes;     /* any string or container built; default 1 MiB */
    size_t max_int_bits;      /* integer magnitude; default 16,384 bits (~4,900 digits) */
    int max_depth;            /* parser nesting and value nesting; default 64 */
};

/* A failure: `column` is the 1-based column of a syntax error (0 for evaluation errors);
 * `kind` is the Python exception name ("SyntaxError", "TypeError", "LimitError" ...). */
struct tx_error {
    int column;
    char kind[32];
    char msg[400];
};

/* Compiles source text. *out: free with tx_expr_free. IV_EINVAL with err on a syntax error
 * or an unsupported construct (named). */
int tx_compile(const char *src, size_t len, struct tx_expr **out, struct tx_error *err);
void tx_expr_free(struct tx_expr *x);

/* Evaluates with `value` and `row` bound (borrowed; NULL = None). *out: a new reference.
 * IV_EINVAL with err when the expression raises. limits may be NULL. */
int tx_eval(const struct tx_expr *x, struct tx_value *value, struct tx_value *row,
            const struct tx_limits *limits, struct tx_value **out, struct tx_error *err);

/* ---- values -------------------------------------------------------------------------- */
struct tx_value *tx_ref(struct tx_value *v);
void tx_unref(struct tx_value *v);
enum tx_kind tx_kind_of(const struct tx_value *v);
struct tx_value *tx_none(void);
struct tx_value *tx_bool(bool b);
struct tx_value *tx_int64(int64_t i);
struct tx_value *tx_float(double d);
struct tx_value *tx_str(const char *s, size_t n);     /* s must be valid UTF-8 */
/* Accessors: false/NULL when the kind differs or the int does not fit. */
bool tx_get_int64(const struct tx_value *v, int64_t *out);
bool tx_get_float(const struct tx_value *v, double *out);
bool tx_get_bool(const struct tx_value *v, bool *out);
const char *tx_get_str(const struct tx_value *v, size_t *len);
bool tx_truthy(const struct tx_value *v);

/* An empty dict, and one str key -> v added to it (takes v; false, v released, when the key
 * is already there). For callers building `row` from a record's members. */
struct tx_value *tx_dict_empty(void);
bool tx_dict_add(struct tx_value *d, const char *key, size_t len, struct tx_value *v);

/* JSON in: null, bools, integers, reals, strings, arrays (lists), objects (dicts).
 * Invalid UTF-8 never reaches here (jansson rejects it). */
struct tx_value *tx_from_json(const json_t *j);
/* JSON out, like Python's json.dumps(v) with big ints as digits: tuples become arrays,
 * non-string dict keys their JSON text, inf/nan as the strings "inf"/"-inf"/"nan"
 * (IV_EINVAL when a key is a tuple). Appends to b. */
int tx_to_json_text(const struct tx_value *v, struct buf *b, struct tx_error *err);
/* The typed form used by the differential test against CPython: ["N"], ["B",true],
 * ["I","123"], ["F","0.1"], ["S","..."], ["L",[...]], ["T",[...]], ["D",[[k,v],...]]. */
int tx_to_typed_json(const struct tx_value *v, struct buf *b);
/* Python's str(v) and repr(v) (caller frees). */
char *tx_str_of(const struct tx_value *v, size_t *len);
char *tx_repr_of(const struct tx_value *v, size_t *len);

/* ---- target types and coercion (docs/transforms.md, "Coercion") ------------------------ */
enum tx_target { TT_STRING, TT_LONG, TT_INT, TT_DOUBLE, TT_FLOAT, TT_BOOLEAN, TT_DATE,
                 TT_TIMESTAMP, TT_TIMESTAMPTZ, TT_DECIMAL };
struct tx_type {
    enum tx_target t;
    int precision, scale;     /* decimal(p,s) */
};
/* Parses a mapping's target_type: string long int double float boolean date timestamp
 * timestamptz decimal(p,s) with 1 <= p <= 38, 0 <= s <= p. false when invalid. */
bool tx_type_parse(const char *text, struct tx_type *out);
/* The JSON Schema of a column of this type for the Singer loader (new object). */
json_t *tx_type_json_schema(const struct tx_type *t);
/* Coerces a value to the column's type: *out is the JSON the loader reads (JSON null for
 * None). IV_EINVAL with err->msg ("cannot coerce 'abc' to long") when it cannot. */
int tx_coerce(const struct tx_value *v, const struct tx_type *t, json_t **out,
              struct tx_error *err);

/* The same coercion, to the typed form the loader's columns take (no JSON in between):
 * string and decimal(p,s) -> TXC_TEXT (bytes appended to *text, at text->data + off),
 * long/int -> TXC_LONG, double/float -> TXC_DOUBLE, boolean -> TXC_BOOL, date -> TXC_DATE
 * (days since 1970-01-01 in i), timestamp/timestamptz -> TXC_TIMESTAMP (µs UTC in i).
 * Accepts and refuses exactly what tx_coerce does (the common cases are converted
 * directly, the rest through tx_coerce). */
enum tx_cell_kind { TXC_NULL, TXC_BOOL, TXC_LONG, TXC_DOUBLE, TXC_TEXT, TXC_DATE,
                    TXC_TIMESTAMP };
struct tx_cell {
    enum tx_cell_kind kind;
    bool b;
    int64_t i;
    double d;
    size_t off, n;            /* TXC_TEXT */
};
int tx_coerce_cell(const struct tx_value *v, const struct tx_type *t, struct buf *text,
                   struct tx_cell *out, struct tx_error *err);

/* Text to a date or timestamp cell without building a value, for the shapes that need no
 * parse_date / parse_datetime (YYYY-MM-DD; YYYY-MM-DD[T ]HH:MM:SS[.f{1,6}][Z|+00:00]);
 * false for any other text or type (then use tx_coerce_cell, which gives the same result
 * for these shapes). */
bool tx_cell_time_text(const struct tx_type *t, const char *s, size_t n, struct tx_cell *out);

/* Does the expression read the name `name` ("value" or "row")? */
bool tx_expr_reads(const struct tx_expr *x, const char *name);

#endif
