/*
 * bench/target/decode_bench.c — the Singer layer alone: reads Singer lines on stdin,
 * dispatches them and decodes every RECORD into a null sink; prints rows/s and MB/s.
 * Not part of the build. From the repository root:
 *   cc -std=c11 -D_GNU_SOURCE -O2 -Isrc -o /tmp/decode_bench bench/target/decode_bench.c \
 *      src/singer/singer_[a-z]*.c src/util/[a-z]*.c -ljansson -lm
 *   node bench/target/gen.mjs 1000000 /tmp/in.jsonl /tmp/rec.jsonl
 *   /tmp/decode_bench < /tmp/in.jsonl
 */
#include "singer/singer.h"
#include <stdio.h>
#include <string.h>
#include <time.h>
static int n0(void *c, int col) { (void)c; (void)col; return 0; }
static int nb(void *c, int col, bool v) { (void)c; (void)col; (void)v; return 0; }
static int ni(void *c, int col, int32_t v) { (void)c; (void)col; (void)v; return 0; }
static int nl(void *c, int col, int64_t v) { (void)c; (void)col; (void)v; return 0; }
static int nd(void *c, int col, double v) { (void)c; (void)col; (void)v; return 0; }
static int ns(void *c, int col, const void *p, size_t n) { (void)c; (void)col; (void)p; (void)n; return 0; }
static int ne(void *c) { (*(long *)c)++; return 0; }
int main(void) {
    long rows = 0;
    struct singer_sink sk = {&rows, n0, nb, ni, nl, nd, ns, ne, NULL};
    struct singer_reader r; struct singer_parser p; struct singer_msg m; struct iv_err e;
    singer_reader_init(&r, 0, 0); singer_parser_init(&p);
    struct singer_stream *st = NULL;
    char *line; size_t len, bytes = 0;
    struct timespec a, b; clock_gettime(CLOCK_MONOTONIC, &a);
    while (singer_reader_next(&r, &line, &len, &e) == 1) {
        bytes += len + 1;
        if (singer_parse_line(&p, line, len, &m, &e)) { fprintf(stderr, "%s\n", e.msg); return 1; }
        if (m.type == SINGER_MSG_SCHEMA) {
            struct singer_column *c; int nc;
            if (singer_schema_map(json_object_get(m.json, "schema"), json_object_get(m.json, "key_properties"), &c, &nc, &e)) return 1;
            st = singer_stream_new(m.stream, c, nc);
        } else if (m.type == SINGER_MSG_RECORD) {
            if (singer_decode_record(st, &m, &sk, &e)) { fprintf(stderr, "%s\n", e.msg); return 1; }
        }
        singer_msg_clear(&m);
    }
    clock_gettime(CLOCK_MONOTONIC, &b);
    double s = (b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) / 1e9;
    printf("%ld rows, %.2f s, %.0f rows/s, %.0f MB/s\n", rows, s, rows / s, bytes / 1048576.0 / s);
    return 0;
}
