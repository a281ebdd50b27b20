/*
 * lake/parquet: the Parquet file writer (internal to the lake library).
 *
 * Why our own: Debian 12 ships no C Parquet library (Arrow's C++ one is not
 * packaged), and the Iceberg writer needs only a small, exact subset:
 * flat columns, data page V1, PLAIN + dictionary encoding, RLE definition
 * levels, zstd/snappy/uncompressed, statistics and Iceberg field ids.
 *
 * Use: pqw_open -> for each row: one pqw_put_* (or pqw_put_null) per column
 * in column order, then pqw_end_row -> pqw_finish (durable: temp, fsync,
 * rename, dir fsync) or pqw_abort (removes the temp file). Errors are sticky:
 * after the first failure every call returns it. The writer propagates
 * IV_ENOMEM rather than aborting (library code).
 */
#ifndef IVORY_LAKE_PARQUET_H
#define IVORY_LAKE_PARQUET_H

#include "lake/types.h"
#include "util/util.h"

/* enum pqw_codec is in lake/types.h: it is also part of lake.h's append options. */

struct pqw_options {
    enum pqw_codec codec;       /* default PQW_ZSTD */
    int zstd_level;             /* default 3 */
    size_t page_bytes;          /* target uncompressed page size, default 1 MiB */
    size_t row_group_bytes;     /* target row group size, default 128 MiB */
    const char *created_by;     /* e.g. "ivory version 0.1.0 (build abc)" */
    const char *iceberg_schema_json; /* written as footer KV "iceberg.schema" when set */
    bool no_dictionary;         /* true: PLAIN only (default: dictionary when it pays, for
                                   string/binary/int/long/date/time/timestamp columns) */
};

/* Per-column results, in the units Iceberg manifests need. Bounds use
 * Iceberg single-value serialisation (decimal: minimal two's complement),
 * absent (len 0, has_bounds false) when the column holds only nulls/NaN.
 * Strings/binary longer than 16 bytes: lower = 16-byte prefix (cut on a UTF-8
 * boundary), upper = prefix with its last character/byte incremented; if no
 * prefix can be incremented the exact max is used, and if that is longer
 * than 64 bytes both bounds are dropped (has_bounds false). uuid/fixed exact. */
struct pqw_column_stats {
    int field_id;
    int64_t compressed_size;    /* total_compressed_size of all chunks incl. headers */
    int64_t value_count;        /* includes nulls */
    int64_t null_count;
    int64_t nan_count;          /* float/double only, else 0 */
    bool has_bounds;
    uint8_t lower[64];
    size_t lower_len;
    uint8_t upper[64];
    size_t upper_len;           /* strings/binary truncated to 16 bytes (upper rounded up) */
};

struct pqw_file_stats {
    int64_t file_size;          /* exact byte size of the finished file */
    int64_t record_count;
    int ncolumns;
    struct pqw_column_stats *columns;  /* owned by the stats; free with pqw_file_stats_release */
    int nsplits;
    int64_t *split_offsets;     /* row group start offsets, ascending */
};
void pqw_file_stats_release(struct pqw_file_stats *s);

struct pqw;
/* Copies what it needs from fields/opts. Writes to "<path>.tmp-<rand>" until finish. */
int pqw_open(struct pqw **out, const char *path, const struct lake_field *fields, int nfields,
             const struct pqw_options *opts, struct iv_err *e);
/* The Parquet name of an Iceberg column, as Iceberg's Java writer makes it
 * (AvroSchemaUtil.makeCompatibleName): a letter or '_' first, then letters, digits and
 * '_' (Unicode letters and digits, as Java's Character.isLetter/isDigit); any other
 * character becomes "_x" + its UTF-16 code unit in upper-case hex, a leading digit "_" +
 * the digit ("Foo::Bar" -> "Foo_x3A_x3ABar", "1st" -> "_1st"). Readers that match columns
 * by name sanitize the Iceberg name the same way; readers that match by field id are
 * unaffected. Caller frees. */
char *pq_avro_name(const char *name);
int pqw_put_null(struct pqw *w, int col);
int pqw_put_bool(struct pqw *w, int col, bool v);
int pqw_put_i32(struct pqw *w, int col, int32_t v);      /* int, date */
int pqw_put_i64(struct pqw *w, int col, int64_t v);      /* long, time, timestamp(tz) */
int pqw_put_float(struct pqw *w, int col, float v);
int pqw_put_double(struct pqw *w, int col, double v);
int pqw_put_bytes(struct pqw *w, int col, const void *p, size_t n); /* string, binary, uuid, fixed */
int pqw_put_decimal(struct pqw *w, int col, __int128 unscaled);
int pqw_end_row(struct pqw *w);
int64_t pqw_rows(const struct pqw *w);
int64_t pqw_bytes_estimate(const struct pqw *w);   /* bytes written + buffered, for file rolling */
/* Flushes, writes the footer, fsyncs, renames into place. Frees w. */
int pqw_finish(struct pqw *w, struct pqw_file_stats *stats, struct iv_err *e);
/* Frees w and removes its temp file. NULL is a no-op. */
void pqw_abort(struct pqw *w);

#endif
