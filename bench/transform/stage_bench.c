/*
 * bench/transform/stage_bench.c — the load pipeline's first stage alone, with the bench's 10
 * mappings (5 transformed, as bench/transform/run.sh): reads Singer lines on stdin, runs the
 * runner's transform stage (src/runner/mapping.c: record walk, expressions, coercion to typed
 * values) into a null output, and prints rows/s. With `--decode`, the passthrough first stage
 * instead (the Singer decoder into a null sink), for comparison. Not part of the build; its
 * CPU time (`/usr/bin/time`) is the figure docs/performance.md quotes. From the repository root:
 *   make && cc -std=c11 -D_GNU_SOURCE -O2 -Isrc -o /tmp/stage_bench bench/transform/stage_bench.c \
 *      build/libivory.a $(printf 'p:\n\t@echo $(LIBS)\n' | make -s -f Makefile -f - p)
 *   node bench/target/gen.mjs 1000000 /tmp/in.jsonl /tmp/rec.jsonl
 *   /usr/bin/time /tmp/stage_bench < /tmp/in.jsonl; /usr/bin/time /tmp/stage_bench --decode < /tmp/in.jsonl
 */
#include "runner/mapping.h"
#include "singer/singer.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

static const struct store_mapping M[] = {
    {"orders", "id", "id", "long", NULL, 0},
    {"orders", "customer_id", "customer_ref", "string", "f'C{value:07d}'", 0},
    {"orders", "name", "name", "string", "value.upper()", 0},
    {"orders", "email", "email", "string", "value.lower()", 0},
    {"orders", "amount", "amount_cents", "long", "round(value * 100)", 0},
    {"orders", "quantity", "quantity", "long", NULL, 0},
    {"orders", "paid", "paid", "boolean", NULL, 0},
    {"orders", "created_at", "created_at", "timestamptz", NULL, 0},
    {"orders", "ship_date", "ship_date", "date", NULL, 0},
    {"orders", "note", "note_len", "long", "len(value) if value else 0", 0},
};

static long rows;
static int null_line(void *c, const char *l, size_t n, struct iv_err *e)
{
    (void)c, (void)l, (void)n, (void)e;
    return 0;
}
static int null_row(void *c, const char *s, const struct singer_value *v, int n, struct iv_err *e)
{
    (void)c, (void)s, (void)v, (void)n, (void)e;
    rows++;
    return 0;
}
static int n0(void *c, int col) { (void)c, (void)col; return 0; }
static int nb(void *c, int col, bool v) { (void)c, (void)col, (void)v; return 0; }
static int ni(void *c, int col, int32_t v) { (void)c, (void)col, (void)v; return 0; }
static int nl(void *c, int col, int64_t v) { (void)c, (void)col, (void)v; return 0; }
static int nd(void *c, int col, double v) { (void)c, (void)col, (void)v; return 0; }
static int ns(void *c, int col, const void *p, size_t n) { (void)c, (void)col, (void)p, (void)n; return 0; }
static int ne(void *c) { (void)c; rows++; return 0; }

/* The passthrough first stage: dispatch + schema-directed decode. */
static int decode_line(struct singer_parser *p, struct singer_stream **st, const char *line,
                       size_t len, struct iv_err *e)
{
    static const struct singer_sink sk = {NULL, n0, nb, ni, nl, nd, ns, ne, NULL};
    struct singer_msg m;
    int rc = singer_parse_line(p, line, len, &m, e);
    if (rc)
        return rc;
    if (m.type == SINGER_MSG_SCHEMA && !*st) {
        struct singer_column *c;
        int nc;
        if (!(rc = singer_schema_map(json_object_get(m.json, "schema"),
                                     json_object_get(m.json, "key_properties"), &c, &nc, e)))
            *st = singer_stream_new(m.stream, c, nc);
    } else if (m.type == SINGER_MSG_RECORD && *st) {
        rc = singer_decode_record(*st, &m, &sk, e);
    }
    singer_msg_clear(&m);
    return rc;
}

int main(int argc, char **argv)
{
    bool decode = argc > 1 && !strcmp(argv[1], "--decode");
    struct mapping_stage *m = NULL;
    struct iv_err e = {0};
    if (mapping_stage_new(&m, M, sizeof M / sizeof M[0], "orders", &e)) {
        fprintf(stderr, "%s\n", e.msg);
        return 1;
    }
    const struct mapping_out out = {NULL, null_line, null_row};
    struct singer_parser p;
    singer_parser_init(&p);
    struct singer_stream *st = NULL;
    struct singer_reader r;
    singer_reader_init(&r, 0, 0);
    char *line;
    size_t len;
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    while (singer_reader_next(&r, &line, &len, &e) == 1) {
        int rc = decode ? decode_line(&p, &st, line, len, &e)
                        : mapping_stage_line(m, line, len, &out, &e);
        if (rc) {
            fprintf(stderr, "line %lld: %s\n", (long long)r.line_no, e.msg);
            return 1;
        }
    }
    clock_gettime(CLOCK_MONOTONIC, &b);
    double s = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
    struct mapping_stats ms;
    mapping_stage_stats(m, &ms);
    printf("%s: %ld rows, %lld transform errors, %.3f s wall, %.0f rows/s\n",
           decode ? "decode (passthrough stage 1)" : "transform (mapped stage 1)", rows,
           (long long)ms.transform_errors, s, (double)rows / s);
    singer_stream_free(st);
    singer_parser_release(&p);
    singer_reader_release(&r);
    mapping_stage_free(m);
    return 0;
}
