/*
 * lake/scan: reading rows back (for `ivory table show` and the walk-through). Lists the data
 * files of a table's current snapshot from its manifest list and manifests, and decodes the
 * Parquet subset this library writes (flat columns, data page V1, PLAIN and dictionary
 * encodings, RLE definition levels, uncompressed / snappy / zstd) into JSON rows.
 *
 * This is an inspection path, not a query engine: rows come in file order, values are
 * rendered for people (dates "YYYY-MM-DD", timestamps ISO-8601, decimals as exact strings,
 * binary as base64). Independent readers (icebird, DuckDB) remain the tests' oracle.
 */
#ifndef IVORY_LAKE_SCAN_H
#define IVORY_LAKE_SCAN_H

#include "lake/lake.h"

/* Called once per row with an object keyed by the table's current column names (columns a
 * file lacks are null). row is borrowed. Return IV_OK to go on, anything else to stop (it is
 * returned by lake_table_scan). */
typedef int (*lake_row_fn)(void *ctx, const json_t *row);

/* Reads up to limit rows (< 0: all) of the current snapshot. IV_OK with no calls for a table
 * without data. Errors name the file. */
int lake_table_scan(struct lake_table *t, int64_t limit, lake_row_fn fn, void *ctx,
                    struct iv_err *e);

/* Reads up to limit rows (< 0: all) of one Parquet file, mapping its columns to `schema` by
 * Iceberg field id (the Parquet field_id). */
int lake_parquet_read(const char *path, const struct lake_schema *schema, int64_t limit,
                      lake_row_fn fn, void *ctx, struct iv_err *e);

#endif
