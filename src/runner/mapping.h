/*
 * mapping.h: the runner's transform stage (internal header of src/runner/; only sync.c and
 * the runner's unit tests include it).
 *
 * Owns: turning the Singer messages of a connector with field mappings into the messages of
 * its destination table (docs/transforms.md, "In the runner"). SCHEMA and RECORD messages of
 * mapped streams are replaced by one target stream whose columns are the mappings' target
 * columns with their declared types; every RECORD of a mapped stream is projected and
 * transformed (each mapping's expression with `value` = the source field and `row` = the
 * record, then coerced to the target type); a row with any error is not passed on but
 * counted, and the first 10 errors are kept as samples. STATE passes through; messages of
 * unmapped streams are dropped.
 *
 * It sits between the tap's line reader (or the Airbyte translation) and the Singer loader:
 * lines in, lines out through an emit callback, so the loader stays unaware of mappings.
 *
 * Ownership: the stage copies what it needs from the mappings; free it with
 * mapping_stage_free. Not thread-safe: one run thread drives it.
 */
#ifndef IVORY_RUNNER_MAPPING_H
#define IVORY_RUNNER_MAPPING_H

#include "store/store.h"
#include "util/util.h"

typedef int (*mapping_emit_fn)(void *ctx, const char *line, size_t len, struct iv_err *e);

struct mapping_stage;

#define MAPPING_MAX_SAMPLES 10

/* Compiles every expression and builds the target schema. The target stream is named
 * target_stream (the destination table). IV_EINVAL naming the mapping when an expression
 * or a type is invalid (the API validates first; this guards rows saved by older versions). */
int mapping_stage_new(struct mapping_stage **out, const struct store_mapping *v, size_t n,
                      const char *target_stream, struct iv_err *e);
void mapping_stage_free(struct mapping_stage *m);

/* The target stream's SCHEMA message, emitted once before any data. */
int mapping_stage_start(struct mapping_stage *m, mapping_emit_fn emit, void *ctx,
                        struct iv_err *e);

/* One Singer line from the tap. Transform errors are counted, not returned; an error return
 * is a protocol error (invalid JSON) or the emit callback's. */
int mapping_stage_line(struct mapping_stage *m, const char *line, size_t len,
                       mapping_emit_fn emit, void *ctx, struct iv_err *e);

struct mapping_stats {
    int64_t records;            /* RECORDs of mapped streams read */
    int64_t transform_errors;   /* of those, rows not loaded */
    int64_t dropped;            /* RECORDs of unmapped streams */
};
void mapping_stage_stats(const struct mapping_stage *m, struct mapping_stats *out);
/* The samples as a JSON array text [{"field","source_field","value","error"}] (caller frees). */
char *mapping_stage_samples(const struct mapping_stage *m);

#endif
