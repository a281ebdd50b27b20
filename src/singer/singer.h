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
 * Depends on util and the lake API. The decoder itself hands values to a
 * `struct singer_sink` (function pointers), so the parser files link and fuzz
 * without the lake library; the loader (last section below) binds the sink to
 * lake appends and is what `ivory target-iceberg` and the runner both call.
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

#include "lake/lake.h"
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
    SINGER_MSG_BATCH,       /* Meltano SDK batch mode: records in local jsonl(.gz) files */
};
struct singer_msg {
    enum singer_msg_type type;
    const char *stream;     /* borrowed (parser scratch), NUL-terminated; NULL for STATE */
    size_t stream_len;
    const char *record;     /* RECORD: the record object's text inside the line (borrowed) */
    size_t record_len;
    bool record_open;       /* record runs on to the end of the line: the rest of the message
                             * after the object is validated by singer_decode_record */
    json_t *json;           /* SCHEMA/STATE/ACTIVATE_VERSION/BATCH: whole message, owned by msg */
};
struct singer_parser {
    struct buf scratch;     /* unescaped stream name */
    struct buf member;      /* unescaped key and string of the member singer_record_members
                             * is reporting */
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
    SINGER_K_DECIMAL,       /* number + multipleOf 10^-s, or string + format singer.decimal
                             * -> decimal(precision, scale), exact */
    SINGER_K_TEXT,          /* a scalar written as its text into a string column the table
                             * already has (type change followed losslessly, e.g. the
                             * integer 42 -> "42"); set by singer_stream_as_text */
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
    int precision, scale;   /* SINGER_K_DECIMAL only */
    bool absent;            /* declared by the stream but not a column of the table, which
                             * may not change (schema_drift discard_row): only null fits;
                             * set with accept = SINGER_J_NULL, never bound to an output */
};
/* Maps a SCHEMA message's "schema" (JSON Schema object with "properties") and
 * "key_properties" (array of names or NULL) to columns, in property order.
 * *cols is an array of *ncols columns, caller frees with singer_columns_free. */
int singer_schema_map(const json_t *schema, const json_t *key_properties,
                      struct singer_column **cols, int *ncols, struct iv_err *e);
void singer_columns_free(struct singer_column *cols, int ncols);
const char *singer_kind_name(enum singer_kind k);

/* ---- naming ------------------------------------------------------------------- */
#define SINGER_TABLE_NAME_MAX 200
/* Stream name -> the name part of its Iceberg table (Meltano-SDK-like snake_case:
 * "test:SpecialChars!in?attributes" -> "test_special_charsinattributes",
 * "public-Users.v2" -> "public_users_v2", "2024 orders" -> "_2024_orders"; the
 * full rule is in docs/singer.md, "Naming rules"). *out: heap string the caller
 * frees, only [a-z0-9_], 1..SINGER_TABLE_NAME_MAX bytes. IV_EINVAL naming the
 * stream when nothing usable is left or the result is too long. Distinct streams
 * may map to one name: callers refuse that rather than mix two streams. */
int singer_table_name(const char *stream, char **out, struct iv_err *e);

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
    int (*put_decimal)(void *ctx, int col, __int128 unscaled);   /* decimals (only called for
                                                                  * SINGER_K_DECIMAL columns) */
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
/* A schema with "additionalProperties": false: a record key the schema does not declare
 * is an error. Otherwise (the default) such keys' values are validated as JSON, dropped
 * and counted, and each new key is logged once per stream. */
void singer_stream_refuse_undeclared(struct singer_stream *s, bool refuse);
/* Values of undeclared keys dropped so far. */
int64_t singer_stream_dropped(const struct singer_stream *s);
/* Column i will be written as text into a string column (SINGER_K_TEXT): integers and
 * numbers as their JSON text, booleans as true/false, strings as they are. Call before
 * singer_stream_bind. IV_EINVAL for object/array/union columns (already strings). */
int singer_stream_as_text(struct singer_stream *s, int i, struct iv_err *e);
/* Binds the output schema (e.g. the table's current schema, which may hold
 * extra columns, written as null): out_names[j]/out_types[j] for j < nout.
 * Every stream column must appear with a compatible type, and every output
 * column the stream lacks must be optional (out_required[j] false).
 * IV_EINVAL naming the column otherwise. */
int singer_stream_bind(struct singer_stream *s, const char *const *out_names,
                       const enum lake_type *out_types, const bool *out_required, int nout,
                       struct iv_err *e);
/* After a failed decode: the name of the field whose value did not fit its column (wrong
 * JSON type, out of range, bad date, null in a required column, a value for an absent
 * column, a required field missing), else NULL (malformed JSON, a duplicate key, ...: the
 * record itself is broken). Borrowed, valid until the next decode. */
const char *singer_stream_misfit(const struct singer_stream *s);
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

/* ---- typed rows --------------------------------------------------------------
 * For a producer that already holds typed values (the runner's transform stage):
 * a row given as one value per stream column, handed to the sink exactly as the
 * decoder would hand it (same output order, same kinds), so nothing is serialised
 * to JSON and parsed again. */
enum singer_vkind {
    SINGER_V_NULL,
    SINGER_V_BOOL,          /* SINGER_K_BOOL */
    SINGER_V_I64,           /* SINGER_K_LONG */
    SINGER_V_F64,           /* SINGER_K_DOUBLE */
    SINGER_V_BYTES,         /* SINGER_K_STRING, SINGER_K_JSON (valid UTF-8) */
    SINGER_V_DATE,          /* SINGER_K_DATE: days since 1970-01-01 in i64 */
    SINGER_V_TIMESTAMP,     /* SINGER_K_TIMESTAMPTZ: µs since the epoch, UTC, in i64 */
};
struct singer_value {
    enum singer_vkind kind;
    bool b;
    int64_t i64;
    double d;
    const char *p;          /* SINGER_V_BYTES (borrowed) */
    size_t n;
};
/* One row: vals[i] is the value of stream column i (n must be the stream's column
 * count). A value of the wrong kind for its column, or null in a required column, is
 * IV_EINVAL naming the column, and nothing reaches the sink. A column the loader
 * follows as text (singer_stream_as_text) receives the value's text: integers and
 * doubles as JSON numbers, booleans as true/false, dates as YYYY-MM-DD, timestamps as
 * YYYY-MM-DDTHH:MM:SS[.ffffff]+00:00. */
int singer_stream_put_row(struct singer_stream *s, const struct singer_value *vals, int n,
                          const struct singer_sink *sink, struct iv_err *e);

/* ---- record members ------------------------------------------------------------
 * The top-level members of a RECORD's record object, one callback per member, in
 * order, validated like the decoder validates (JSON grammar, UTF-8, escapes; with
 * record_open also the rest of the message). Strings and keys arrive unescaped;
 * numbers as their JSON text; objects and arrays as their (valid) JSON text. */
enum singer_jtype { SINGER_JNULL, SINGER_JBOOL, SINGER_JINT, SINGER_JNUM, SINGER_JSTR,
                    SINGER_JOBJ, SINGER_JARR };
struct singer_member {
    const char *key;        /* borrowed for the callback's duration */
    size_t key_len;
    enum singer_jtype type;
    bool b;                 /* SINGER_JBOOL */
    const char *val;        /* text of the value (see above); borrowed */
    size_t val_len;
};
typedef int (*singer_member_fn)(void *ctx, const struct singer_member *m, struct iv_err *e);
/* Walks the record of m (a RECORD from singer_parse_line on p). A callback's non-zero
 * return stops the walk and is returned. */
int singer_record_members(struct singer_parser *p, const struct singer_msg *m,
                          singer_member_fn fn, void *ctx, struct iv_err *e);

/* A number member's text (singer_member.val of a SINGER_JINT / SINGER_JNUM) as an int64 /
 * a finite double, exactly as strtoll / strtod give it (the decoder's own shortcuts: no
 * copy, no libc parse for the usual short numbers). 0, or -1 when out of range. */
int singer_number_int64(const char *s, size_t n, int64_t *out);
int singer_number_double(const char *s, size_t n, double *out);

/* ---- helpers shared with tests ------------------------------------------------ */
/* Validates one complete JSON value spanning exactly [p, p+len) (surrounding
 * whitespace allowed). 0 or IV_EINVAL with a message naming the byte offset. */
int singer_json_validate(const char *p, size_t len, struct iv_err *e);
/* Appends the compact form of one valid JSON value (whitespace outside strings
 * dropped, everything else byte for byte). */
int singer_json_compact(const char *p, size_t len, struct buf *out);

/* ---- loader -------------------------------------------------------------------------
 * The Singer -> Iceberg pipeline as a library, shared by `ivory target-iceberg` and
 * the runner (so the two never drift apart): Singer lines in, one Iceberg table per stream
 * out, commits at STATE boundaries with the STATE and run id in each snapshot's summary.
 *
 * Feed it lines (singer_loader_line) in order; it decodes RECORDs on the caller's thread and
 * encodes Parquet on a writer thread (two 1 MiB batches alternate, so memory stays bounded
 * by the batches plus the lake's row group). A STATE commits when batch_rows rows or
 * batch_seconds seconds have gone by since the last commit (a checkpoint); singer_loader_finish
 * commits the rest with the latest STATE. Freeing a loader discards every uncommitted row:
 * each table stays at its last checkpoint.
 *
 * Uses util, singer and the lake API. Not thread-safe: one thread drives a loader.
 */

/* Picks the table of a stream. nstreams = streams declared so far (this one included).
 * *table_out: a heap string the loader takes, or NULL (with IV_OK) to load nothing of the
 * stream: its RECORDs are counted in records_skipped and dropped. Return IV_OK or an error
 * (e set). */
typedef int (*singer_route_fn)(void *ctx, const char *stream, int nstreams, char **table_out,
                               struct iv_err *e);
/* Called after each commit with the STATE it recorded (compact JSON, may be NULL). */
typedef void (*singer_commit_fn)(void *ctx, const char *state_json, int64_t rows_committed);

/* What a SCHEMA that does not fit an existing table does (the connector's schema_drift;
 * docs/runner.md "Schema drift"). Tables the loader creates follow their stream's SCHEMA
 * whatever the policy: they hold no rows of earlier loads. */
enum singer_drift {
    SINGER_DRIFT_EVOLVE = 0,        /* new columns are added, int->long / float->double widen */
    SINGER_DRIFT_FREEZE,            /* any change is an error naming the stream, table and
                                     * change; nothing of it is committed */
    SINGER_DRIFT_DISCARD_ROW,       /* the table never changes: the stream is fitted to it and
                                     * RECORDs whose values do not fit are discarded, counted
                                     * and sampled (stats.rows_discarded) */
};

struct singer_loader_opts {
    struct lake_catalog *cat;       /* borrowed; outlives the loader */
    const char *ns;                 /* Iceberg namespace (copied) */
    singer_route_fn route;          /* NULL: the table is named after the stream */
    void *route_ctx;
    bool defer_routing;             /* route streams only at the first RECORD (or the first
                                     * commit), so route() sees every SCHEMA sent before data */
    bool stamp_all;                 /* every commit stamps every open table with the STATE
                                     * (one atomic multi-table commit when the catalog can);
                                     * else only tables with new rows commit, and at finish
                                     * tables whose recorded STATE is stale */
    int64_t batch_rows;             /* 0 = 1,000,000 */
    double batch_seconds;           /* < 0 = 300 */
    enum pqw_codec codec;           /* 0 = table default (zstd) */
    size_t target_file_bytes;       /* 0 = lake default */
    const char *run_id;             /* recorded in every snapshot (copied; NULL = none) */
    singer_commit_fn on_commit;
    void *commit_ctx;
    bool batch_files;               /* BATCH messages may name local files (file:// URIs or
                                     * absolute paths) to read; false: BATCH is refused, so a
                                     * tap cannot make the loader read files of this host */
    enum singer_drift drift;        /* 0 = evolve */
};

struct singer_loader_stats {
    int64_t records;                /* RECORD messages decoded */
    int64_t records_skipped;        /* RECORDs of streams the route left out */
    int64_t rows_committed;         /* rows made durable by commits */
    int64_t commits;                /* checkpoints that committed something */
    int64_t last_snapshot_id;       /* of the last table committed; -1 = none */
    int ntables;                    /* tables opened */
    int64_t dropped_values;         /* values of undeclared record keys dropped */
    int64_t rows_discarded;         /* SINGER_DRIFT_DISCARD_ROW: RECORDs that did not fit (also
                                     * counted in records) */
};

struct singer_loader;

/* *out: free with singer_loader_free. Starts the writer thread. */
int singer_loader_new(struct singer_loader **out, const struct singer_loader_opts *o,
                      struct iv_err *e);
/* One line (without its '\n'; a trailing '\r' is ignored; blank lines are skipped).
 * Errors name the stream/table but not the line number (the caller knows it). */
int singer_loader_line(struct singer_loader *l, const char *line, size_t len, struct iv_err *e);
/* Clean end of input: opens the tables still unrouted and commits the rest with the latest
 * STATE. */
int singer_loader_finish(struct singer_loader *l, struct iv_err *e);
/* Latest STATE seen (compact JSON; borrowed; NULL when none) and the last committed one. */
const char *singer_loader_state(const struct singer_loader *l);
const char *singer_loader_committed_state(const struct singer_loader *l);
void singer_loader_get_stats(const struct singer_loader *l, struct singer_loader_stats *st);
#define SINGER_MAX_DISCARD_SAMPLES 10
/* JSON texts (caller frees; NULL when empty): the first SINGER_MAX_DISCARD_SAMPLES rows
 * discarded, [{"stream","field","value","error"}] (value: the field's JSON, cut at 200
 * bytes); the schema changes applied to existing tables, [{"stream","table","change"}];
 * per-stream counts, {"<stream>": {"table","rows_read","rows_committed","rows_discarded"}}
 * (table: "ns.name", null when the stream is not loaded). */
char *singer_loader_discard_samples(const struct singer_loader *l);
char *singer_loader_schema_changes(const struct singer_loader *l);
char *singer_loader_stream_rows(const struct singer_loader *l);
/* Name of the i-th table opened (borrowed), i < stats.ntables. */
const char *singer_loader_table(const struct singer_loader *l, int i);
/* One typed row of `stream` (a stream declared by a SCHEMA line before), vals[i] for its
 * column i (see singer_stream_put_row): what singer_loader_line does for a RECORD, without
 * the JSON. Counted in records like a RECORD. */
int singer_loader_row(struct singer_loader *l, const char *stream,
                      const struct singer_value *vals, int n, struct iv_err *e);
/* Stops the writer, discards uncommitted rows, frees. NULL ok. */
void singer_loader_free(struct singer_loader *l);

#endif
