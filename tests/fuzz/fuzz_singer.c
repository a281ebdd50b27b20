/*
 * fuzz_singer: libFuzzer target for the Singer line parser and the RECORD
 * fast path (src/singer). Each input is one line: it goes through
 * singer_parse_line and, when it is a RECORD, through singer_stream_decode
 * against a schema with every column kind. Besides ASan/UBSan findings, it
 * checks one property against an independent parser: a RECORD line that both
 * the dispatcher and the decoder accept must be valid JSON for jansson too.
 */
#include "singer/singer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct singer_stream *g_stream;
static struct singer_parser g_parser;

static int f_null(void *c, int col) { (void)c; (void)col; return 0; }
static int f_bool(void *c, int col, bool v) { (void)c; (void)col; (void)v; return 0; }
static int f_i32(void *c, int col, int32_t v) { (void)c; (void)col; (void)v; return 0; }
static int f_i64(void *c, int col, int64_t v) { (void)c; (void)col; (void)v; return 0; }
static int f_dbl(void *c, int col, double v) { (void)c; (void)col; (void)v; return 0; }
static int f_bytes(void *c, int col, const void *p, size_t n)
{
    (void)c; (void)col;
    /* touch every byte so ASan sees out-of-range spans */
    volatile unsigned char x = 0;
    for (size_t i = 0; i < n; i++)
        x ^= ((const unsigned char *)p)[i];
    (void)x;
    return 0;
}
static int f_end(void *c) { (void)c; return 0; }
static const struct singer_sink g_sink = {
    .ctx = NULL, .put_null = f_null, .put_bool = f_bool, .put_i32 = f_i32, .put_i64 = f_i64,
    .put_double = f_dbl, .put_bytes = f_bytes, .end_row = f_end,
};

static const char *SCHEMA =
    "{\"properties\":{\"id\":{\"type\":\"integer\"},\"amount\":{\"type\":[\"null\",\"number\"]},"
    "\"ok\":{\"type\":[\"null\",\"boolean\"]},\"name\":{\"type\":[\"null\",\"string\"]},"
    "\"ts\":{\"type\":[\"null\",\"string\"],\"format\":\"date-time\"},"
    "\"day\":{\"type\":[\"null\",\"string\"],\"format\":\"date\"},"
    "\"obj\":{\"type\":[\"null\",\"object\"]},\"arr\":{\"type\":[\"null\",\"array\"]},"
    "\"any\":{}}}";

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc; (void)argv;
    json_error_t je;
    json_t *s = json_loads(SCHEMA, 0, &je);
    json_t *k = json_loads("[\"id\"]", 0, &je);
    struct singer_column *cols;
    int n;
    struct iv_err e;
    if (!s || !k || singer_schema_map(s, k, &cols, &n, &e))
        abort();
    g_stream = singer_stream_new("s", cols, n);
    json_decref(s);
    json_decref(k);
    singer_parser_init(&g_parser);
    return 0;
}

/* jansson refuses some valid JSON we accept (numbers out of its range). */
static bool jansson_agrees(const char *p, size_t n)
{
    json_error_t je;
    json_t *j = json_loadb(p, n, JSON_ALLOW_NUL | JSON_DECODE_ANY, &je);
    if (j) {
        json_decref(j);
        return true;
    }
    /* Limits of jansson, not of JSON: numbers it cannot hold, and a \u0000 inside an object
     * key (valid JSON; jansson's keys are C strings). The fast path drops such a key when the
     * schema does not declare it (docs/singer.md, undeclared keys), which is correct. */
    return strstr(je.text, "too big") || strstr(je.text, "overflow") ||
           strstr(je.text, "underflow") || strstr(je.text, "NUL byte in object key");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* the reader hands lines without '\n' and NUL-terminated; mimic that */
    char *line = malloc(size + 1);
    memcpy(line, data, size);
    line[size] = '\0';
    struct singer_msg m;
    struct iv_err e;
    if (singer_parse_line(&g_parser, line, size, &m, &e) == IV_OK) {
        if (m.type == SINGER_MSG_RECORD) {
            /* the dispatcher only frames the record; the decoder validates it */
            int rc = singer_decode_record(g_stream, &m, &g_sink, &e);
            if (rc == IV_OK && !jansson_agrees(line, size)) {
                fprintf(stderr, "fast path accepted a line jansson rejects\n");
                abort();
            }
            if (rc != IV_OK && strlen(e.msg) == 0)
                abort();   /* every error carries a message */
        }
        singer_msg_clear(&m);
    } else if (strlen(e.msg) == 0) {
        abort();
    }
    free(line);
    return 0;
}
