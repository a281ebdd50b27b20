/*
 * singer: the Singer message stream (https://hub.meltano.com/singer/spec).
 *
 * Owns: the line reader with a size cap and line numbers, message dispatch
 * (SCHEMA, RECORD, STATE, ACTIVATE_VERSION; anything else is an error), the
 * JSON Schema -> Iceberg column mapping, and the RECORD fast path: a
 * schema-directed, allocation-free decoder that turns one RECORD line into
 * typed column values without building a JSON DOM (jansson is only used for
 * SCHEMA/STATE and other rare lines).
 *
 * Depends on util and on lake/types.h (type names only): the decoder hands
 * values to a `struct singer_sink` (function pointers), so this module links
 * and tests without the lake library; `ivory target-iceberg` binds the sink
 * to a lake append.
 *
 * Strictness (a demanding user wants no silent data loss): unknown record
 * keys, duplicate keys, values of the wrong JSON type, integer overflow or
 * fractions in integer columns, invalid UTF-8 and malformed dates are errors.
 */
#ifndef IVORY_SINGER_H
#define IVORY_SINGER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "lake/types.h"
#include "util/util.h"

#define SINGER_DEFAULT_MAX_LINE (16u * 1024 * 1024)

/* ---- line reader -------------------------------------------------------------- */
/* Reads '\n'-terminated lines from a file descriptor through one growing buffer
 * (bounded by max_line + read chunk). A trailing '\r' is stripped; the returned
 * line is NUL-terminated in place. */
struct singer_reader {
    int fd;
    size_t max_line;
    char *buf;
    size_t cap, start, end;
    int64_t line_no;        /* number of the line last returned (1-based) */
    bool eof;
};
void singer_reader_init(struct singer_reader *r, int fd, size_t max_line);
void singer_reader_release(struct singer_reader *r);
/* 1 = a line (borrowed, valid until the next call), 0 = end of input,
 * IV_ETOOBIG = line over the cap, IV_EIO = read error (e set, naming the line). */
int singer_reader_next(struct singer_reader *r, char **line, size_t *len, struct iv_err *e);

/* ---- message dispatch --------------------------------------------------------- */
enum singer_msg_type {
    SINGER_MSG_SCHEMA,
    SINGER_MSG_RECORD,
    SINGER_MSG_STATE,
    SINGER_MSG_ACTIVATE_VERSION,
};
struct singer_msg {
    enum singer_msg_type type;
    const char *stream;     /* borrowed (parser scratch), NUL-terminated; NULL for STATE */
    size_t stream_len;
    const char *record;     /* RECORD: the record object's text inside the line (borrowed) */
    size_t record_len;
    bool record_open;       /* record runs on to the end of the line: the rest of the message
                             * after the object is validated by singer_decode_record */
    json_t *json;           /* SCHEMA/STATE/ACTIVATE_VERSION: whole message, owned by msg */
};
struct singer_parser {
    struct buf scratch;     /* unescaped stream name */
};
void singer_parser_init(struct singer_parser *p);
void singer_parser_release(struct singer_parser *p);
/* Classifies and splits one line. RECORD lines are scanned without jansson;
 * the record object (and, with record_open, the rest of the line) is validated
 * only when decoded: see singer_decode_record. Errors: IV_EINVAL with a message (no line number; the
 * caller adds it). On success release with singer_msg_clear. */
int singer_parse_line(struct singer_parser *p, const char *line, size_t len,
                      struct singer_msg *out, struct iv_err *e);
void singer_msg_clear(struct singer_msg *m);

/* ---- schema mapping ----------------------------------------------------------- */
enum singer_kind {
    SINGER_K_LONG,          /* JSON integer -> int64 */
    SINGER_K_DOUBLE,        /* JSON number -> double */
    SINGER_K_BOOL,
    SINGER_K_STRING,
    SINGER_K_TIMESTAMPTZ,   /* string, format date-time -> µs UTC */
    SINGER_K_DATE,          /* string, format date -> days */
    SINGER_K_JSON,          /* object/array/union -> string holding compact JSON */
};
/* JSON value kinds a column accepts (bit mask). */
enum {
    SINGER_J_NULL = 1, SINGER_J_BOOL = 2, SINGER_J_INT = 4, SINGER_J_NUM = 8,
    SINGER_J_STR = 16, SINGER_J_OBJ = 32, SINGER_J_ARR = 64, SINGER_J_ANY = 127,
};
struct singer_column {
    char *name;             /* owned */
    enum singer_kind kind;
    enum lake_type type;    /* Iceberg type of the column */
    unsigned accept;        /* SINGER_J_* mask */
    bool required;          /* Iceberg required: key property whose schema is non-null */
    bool key;               /* listed in key_properties */
};
/* Maps a SCHEMA message's "schema" (JSON Schema object with "properties") and
 * "key_properties" (array of names or NULL) to columns, in property order.
 * *cols is an array of *ncols columns, caller frees with singer_columns_free. */
int singer_schema_map(const json_t *schema, const json_t *key_properties,
                      struct singer_column **cols, int *ncols, struct iv_err *e);
void singer_columns_free(struct singer_column *cols, int ncols);
const char *singer_kind_name(enum singer_kind k);

/* ---- RECORD decoding ---------------------------------------------------------- */
/* Where decoded values go. `col` is the index in the bound output schema
 * (see singer_stream_bind); every output column gets exactly one call per row,
 * in order, then end_row. Each returns 0 or an IV_* code. */
struct singer_sink {
    void *ctx;
    int (*put_null)(void *ctx, int col);
    int (*put_bool)(void *ctx, int col, bool v);
    int (*put_i32)(void *ctx, int col, int32_t v);     /* dates */
    int (*put_i64)(void *ctx, int col, int64_t v);     /* longs, timestamps */
    int (*put_double)(void *ctx, int col, double v);
    int (*put_bytes)(void *ctx, int col, const void *p, size_t n); /* strings, JSON */
    int (*end_row)(void *ctx);
};

struct singer_stream;
/* Creates a stream decoder; takes ownership of cols (ncols entries). The output
 * schema starts as the stream's own columns in order. Caller frees with
 * singer_stream_free. */
struct singer_stream *singer_stream_new(const char *name, struct singer_column *cols, int ncols);
void singer_stream_free(struct singer_stream *s);
const char *singer_stream_name(const struct singer_stream *s);          /* borrowed */
int singer_stream_ncols(const struct singer_stream *s);
const struct singer_column *singer_stream_col(const struct singer_stream *s, int i);  /* borrowed */
/* Binds the output schema (e.g. the table's current schema, which may hold
 * extra columns, written as null): out_names[j]/out_types[j] for j < nout.
 * Every stream column must appear with a compatible type, and every output
 * column the stream lacks must be optional (out_required[j] false).
 * IV_EINVAL naming the column otherwise. */
int singer_stream_bind(struct singer_stream *s, const char *const *out_names,
                       const enum lake_type *out_types, const bool *out_required, int nout,
                       struct iv_err *e);
/* Decodes one record object (text, e.g. singer_msg.record) into the sink: one
 * row. Missing keys -> null (error if the column is required). On error nothing
 * is passed to the sink for this row (values are staged first). */
int singer_stream_decode(struct singer_stream *s, const char *rec, size_t len,
                         const struct singer_sink *sink, struct iv_err *e);

/* Decodes the record of a RECORD message from singer_parse_line (use this, not
 * singer_stream_decode, on parsed messages: it also validates the part of the
 * line after the record when the dispatcher left it open). */
int singer_decode_record(struct singer_stream *s, const struct singer_msg *m,
                         const struct singer_sink *sink, struct iv_err *e);

/* ---- helpers shared with tests ------------------------------------------------ */
/* Validates one complete JSON value spanning exactly [p, p+len) (surrounding
 * whitespace allowed). 0 or IV_EINVAL with a message naming the byte offset. */
int singer_json_validate(const char *p, size_t len, struct iv_err *e);
/* Appends the compact form of one valid JSON value (whitespace outside strings
 * dropped, everything else byte for byte). */
int singer_json_compact(const char *p, size_t len, struct buf *out);

#endif
