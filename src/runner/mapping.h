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
 * It sits between the tap's line reader (or the Airbyte translation) and the Singer loader,
 * on the load pipeline's first stage (read + decode + transform; the loader's writer thread
 * is the second: encode + compress + write). Lines in; out go the target's SCHEMA and the
 * STATE lines as lines, and every transformed row as typed column values
 * (singer_loader_row): a mapped record is scanned once (singer_record_members, no JSON DOM),
 * only the fields some mapping reads are converted to expression values (`row` is built only
 * when an expression reads it), and nothing is serialised to JSON and parsed again.
 *
 * Ownership: the stage copies what it needs from the mappings; free it with
 * mapping_stage_free. Not thread-safe: one run thread drives it.
 */
#ifndef IVORY_RUNNER_MAPPING_H
#define IVORY_RUNNER_MAPPING_H

#include "singer/singer.h"
#include "store/store.h"
#include "util/util.h"

/* Where the stage's output goes. */
struct mapping_out {
    void *ctx;
    /* the target's SCHEMA line and the tap's STATE lines, in order */
    int (*line)(void *ctx, const char *line, size_t len, struct iv_err *e);
    /* one transformed row of the target stream: vals[i] for the target's column i (the
     * order of the SCHEMA line's properties); vals and their bytes are borrowed for the call */
    int (*row)(void *ctx, const char *stream, const struct singer_value *vals, int n,
               struct iv_err *e);
};

struct mapping_stage;

#define MAPPING_MAX_SAMPLES 10

/* Compiles every expression and builds the target schema. The target stream is named
 * target_stream (the destination table). IV_EINVAL naming the mapping when an expression
 * or a type is invalid (the API validates first; this guards rows saved by older versions). */
int mapping_stage_new(struct mapping_stage **out, const struct store_mapping *v, size_t n,
                      const char *target_stream, struct iv_err *e);
void mapping_stage_free(struct mapping_stage *m);

/* The target stream's SCHEMA message, emitted once before any data. */
int mapping_stage_start(struct mapping_stage *m, const struct mapping_out *o, struct iv_err *e);

/* One Singer line from the tap. Transform errors are counted, not returned; an error return
 * is a protocol error (invalid JSON, a duplicate mapped key) or an output callback's. */
int mapping_stage_line(struct mapping_stage *m, const char *line, size_t len,
                       const struct mapping_out *o, struct iv_err *e);

struct mapping_stats {
    int64_t records;            /* RECORDs of mapped streams read */
    int64_t transform_errors;   /* of those, rows not loaded */
    int64_t dropped;            /* RECORDs of unmapped streams */
};
void mapping_stage_stats(const struct mapping_stage *m, struct mapping_stats *out);
/* The samples as a JSON array text [{"field","source_field","value","error"}] (caller frees). */
char *mapping_stage_samples(const struct mapping_stage *m);

#endif
