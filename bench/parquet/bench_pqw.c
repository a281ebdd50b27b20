/*
 * bench/parquet/bench_pqw: throughput of the Parquet writer (src/lake/parquet.c).
 *
 * Writes N rows (default 1,000,000) x 10 mixed columns (long, int, double, 2 strings,
 * timestamptz, boolean, decimal(18,4), date, optional long with nulls) and prints rows/s
 * and MB/s (file bytes and raw value bytes). Build and run from the repository root:
 *   make && make -C bench/parquet
 *   ./bench/parquet/bench_pqw [rows] [zstd|snappy|none] [dict|nodict] [row_group_MiB]
 */
#include "lake/parquet.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 1000000;
    const char *codec = argc > 2 ? argv[2] : "zstd";
    struct lake_field f[] = {
        {1, "id", LAKE_LONG, 0, 0, 0, true},
        {2, "qty", LAKE_INT, 0, 0, 0, false},
        {3, "price", LAKE_DOUBLE, 0, 0, 0, false},
        {4, "country", LAKE_STRING, 0, 0, 0, false},
        {5, "email", LAKE_STRING, 0, 0, 0, false},
        {6, "updated_at", LAKE_TIMESTAMPTZ, 0, 0, 0, false},
        {7, "active", LAKE_BOOLEAN, 0, 0, 0, false},
        {8, "amount", LAKE_DECIMAL, 18, 4, 0, false},
        {9, "day", LAKE_DATE, 0, 0, 0, false},
        {10, "parent", LAKE_LONG, 0, 0, 0, false},
    };
    static const char *const countries[] = {"US", "DE", "FR", "JP", "BR", "IN", "GB", "NL"};
    struct pqw_options o = {.codec = !strcmp(codec, "snappy") ? PQW_SNAPPY
                                     : !strcmp(codec, "none") ? PQW_UNCOMPRESSED : PQW_ZSTD,
                            .no_dictionary = argc > 3 && !strcmp(argv[3], "nodict"),
                            .row_group_bytes = argc > 4 ? (size_t)atol(argv[4]) << 20 : 0};
    const char *path = "/tmp/ivory-bench.parquet";
    struct pqw *w;
    struct iv_err e = {0};
    double t0 = now();
    if (pqw_open(&w, path, f, 10, &o, &e)) {
        fprintf(stderr, "open: %s\n", e.msg);
        return 1;
    }
    uint64_t x = 88172645463325252ull;
    char email[64];
    size_t raw = 0;
    for (long r = 0; r < n; r++) {
        x ^= x << 13; x ^= x >> 7; x ^= x << 17;
        pqw_put_i64(w, 0, r);
        pqw_put_i32(w, 1, (int32_t)(x % 1000));
        pqw_put_double(w, 2, (double)(x % 100000) / 100.0);
        const char *c = countries[x % 8];
        pqw_put_bytes(w, 3, c, 2);
        int el = snprintf(email, sizeof email, "user%lu@example.com", (unsigned long)(x % 5000000));
        pqw_put_bytes(w, 4, email, (size_t)el);
        pqw_put_i64(w, 5, 1700000000000000LL + r * 1000);
        pqw_put_bool(w, 6, x & 1);
        pqw_put_decimal(w, 7, (__int128)(x % 100000000));
        pqw_put_i32(w, 8, 19000 + (int32_t)(r / 10000));
        if (r % 10 == 0)
            pqw_put_null(w, 9);
        else
            pqw_put_i64(w, 9, r / 3);
        raw += 8 + 4 + 8 + 2 + (size_t)el + 8 + 1 + 8 + 4 + 8;
        if (pqw_end_row(w)) {
            pqw_finish(w, NULL, &e);
            fprintf(stderr, "row %ld: %s\n", r, e.msg);
            return 1;
        }
    }
    struct pqw_file_stats st;
    if (pqw_finish(w, &st, &e)) {
        fprintf(stderr, "finish: %s\n", e.msg);
        return 1;
    }
    double dt = now() - t0;
    printf("rows=%ld codec=%s dict=%s seconds=%.3f rows_per_s=%.0f file_bytes=%lld "
           "file_MB_per_s=%.1f raw_MB_per_s=%.1f row_groups=%d\n",
           n, codec, o.no_dictionary ? "off" : "on", dt, (double)n / dt,
           (long long)st.file_size, (double)st.file_size / dt / 1e6, (double)raw / dt / 1e6,
           st.nsplits);
    pqw_file_stats_release(&st);
    return 0;
}
