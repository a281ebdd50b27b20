/*
 * loader: the Singer -> Iceberg pipeline as a library, shared by `ivory target-iceberg` and
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
#ifndef IVORY_SINGER_LOADER_H
#define IVORY_SINGER_LOADER_H

#include "lake/lake.h"
#include "singer/singer.h"

/* Picks the table of a stream. nstreams = streams declared so far (this one included).
 * *table_out: a heap string the loader takes. Return IV_OK or an error (e set). */
typedef int (*singer_route_fn)(void *ctx, const char *stream, int nstreams, char **table_out,
                               struct iv_err *e);
/* Called after each commit with the STATE it recorded (compact JSON, may be NULL). */
typedef void (*singer_commit_fn)(void *ctx, const char *state_json, int64_t rows_committed);

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
};

struct singer_loader_stats {
    int64_t records;                /* RECORD messages decoded */
    int64_t rows_committed;         /* rows made durable by commits */
    int64_t commits;                /* checkpoints that committed something */
    int64_t last_snapshot_id;       /* of the last table committed; -1 = none */
    int ntables;                    /* tables opened */
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
/* Name of the i-th table opened (borrowed), i < stats.ntables. */
const char *singer_loader_table(const struct singer_loader *l, int i);
/* Stops the writer, discards uncommitted rows, frees. NULL ok. */
void singer_loader_free(struct singer_loader *l);

#endif
