/*
 * test_mapping: unit tests for the runner's transform stage (src/runner/mapping.c) and the
 * typed row hand-off it uses (singer_stream_put_row, tx_coerce_cell): each mapped record
 * leaves the stage as typed values (no JSON in between), the direct shortcuts give exactly
 * what the general coercion gives, a row with any error is counted and sampled, `row` is
 * readable, and invalid input is a protocol error. Expectations are written by hand from
 * docs/transforms.md ("Coercion").
 */
#include "unit.h"
#include "runner/mapping.h"
#include "singer/singer.h"
#include "transform/transform.h"

#include <string.h>

/* ---- a recording output ------------------------------------------------------------------- */
struct rec {
    struct buf log;   /* "SCHEMA|", "STATE|" and one "v0,v1,...;" per row */
    int rows;
};

static int rec_line(void *ctx, const char *line, size_t len, struct iv_err *e)
{
    struct rec *r = ctx;
    (void)e;
    buf_append_str(&r->log, len > 16 && strstr(line, "\"SCHEMA\"") ? "SCHEMA|" : "STATE|");
    return IV_OK;
}

static int rec_row(void *ctx, const char *stream, const struct singer_value *v, int n,
                   struct iv_err *e)
{
    struct rec *r = ctx;
    (void)e;
    assert_string_equal(stream, "target");
    for (int i = 0; i < n; i++) {
        switch (v[i].kind) {
        case SINGER_V_NULL: buf_append_str(&r->log, "N"); break;
        case SINGER_V_BOOL: buf_append_str(&r->log, v[i].b ? "T" : "F"); break;
        case SINGER_V_I64: buf_printf(&r->log, "l%lld", (long long)v[i].i64); break;
        case SINGER_V_F64: buf_printf(&r->log, "d%g", v[i].d); break;
        case SINGER_V_BYTES: buf_printf(&r->log, "s'%.*s'", (int)v[i].n, v[i].p); break;
        case SINGER_V_DATE: buf_printf(&r->log, "D%lld", (long long)v[i].i64); break;
        case SINGER_V_TIMESTAMP: buf_printf(&r->log, "t%lld", (long long)v[i].i64); break;
        }
        buf_append_str(&r->log, i + 1 < n ? "," : ";");
    }
    r->rows++;
    return IV_OK;
}

static struct mapping_stage *stage_of(const struct store_mapping *v, size_t n)
{
    struct mapping_stage *m = NULL;
    struct iv_err e = {0};
    assert_int_equal(mapping_stage_new(&m, v, n, "target", &e), IV_OK);
    return m;
}

static int feed(struct mapping_stage *m, struct rec *r, const char *line, struct iv_err *e)
{
    const struct mapping_out o = {.ctx = r, .line = rec_line, .row = rec_row};
    return mapping_stage_line(m, line, strlen(line), &o, e);
}

/* ---- tests ---------------------------------------------------------------------------------- */

static void test_typed_rows(void **state)
{
    (void)state;
    const struct store_mapping v[] = {
        {"s", "id", "id", "long", NULL, false},
        {"s", "name", "name", "string", "value.upper()", false},
        {"s", "at", "at", "timestamptz", NULL, false},
        {"s", "day", "day", "date", NULL, false},
        {"s", "amount", "cents", "long", "round(value * 100)", false},
        {"s", "ok", "ok", "boolean", NULL, false},
        {"s", "x", "x", "double", NULL, false},
        {"s", "n", "n", "string", NULL, false},
    };
    struct mapping_stage *m = stage_of(v, 8);
    struct rec r = {0};
    buf_init(&r.log, 1 << 20);
    struct iv_err e = {0};
    const struct mapping_out o = {.ctx = &r, .line = rec_line, .row = rec_row};
    assert_int_equal(mapping_stage_start(m, &o, &e), IV_OK);
    assert_int_equal(feed(m, &r, "{\"type\":\"SCHEMA\",\"stream\":\"s\",\"schema\":{}}", &e), 0);
    /* direct cells (no expression) and expression cells; a naive timestamp is UTC */
    assert_int_equal(feed(m, &r, "{\"type\":\"RECORD\",\"stream\":\"s\",\"record\":{\"id\":7,"
                          "\"name\":\"ann \\u00e9\",\"at\":\"1970-01-01T00:00:01.5Z\","
                          "\"day\":\"1970-01-03\",\"amount\":1.25,\"ok\":true,\"x\":2,"
                          "\"n\":\"q\\\"\"}}", &e), 0);
    /* shapes the shortcuts leave to the general coercion: offsets, text numbers, absent */
    assert_int_equal(feed(m, &r, "{\"type\":\"RECORD\",\"stream\":\"s\",\"record\":{"
                          "\"id\":\"12\",\"at\":\"1970-01-01T02:00:00+02:00\","
                          "\"day\":\"1970-01-02T23:00:00-02:00\",\"ok\":\"yes\",\"x\":\"1.5\",\"amount\":2,\"name\":\"b\","
                          "\"n\":5}}", &e), 0);
    assert_int_equal(feed(m, &r, "{\"type\":\"STATE\",\"value\":{\"a\":1}}", &e), 0);
    assert_string_equal(r.log.data,
                        "SCHEMA|l7,s'ANN \xc3\x89',t1500000,D2,l125,T,d2,s'q\"';"
                        "l12,s'B',t0,D2,l200,T,d1.5,s'5';STATE|");
    struct mapping_stats st;
    mapping_stage_stats(m, &st);
    assert_int_equal(st.records, 2);
    assert_int_equal(st.transform_errors, 0);
    mapping_stage_free(m);
    buf_release(&r.log);
}

static void test_errors_counted_and_sampled(void **state)
{
    (void)state;
    const struct store_mapping v[] = {
        {"s", "id", "id", "int", NULL, false},
        {"s", "a", "a", "string", "row['b'] + value", false},
    };
    struct mapping_stage *m = stage_of(v, 2);
    struct rec r = {0};
    buf_init(&r.log, 1 << 20);
    struct iv_err e = {0};
    /* out of int range (direct path declines, the coercion refuses) */
    assert_int_equal(feed(m, &r, "{\"type\":\"RECORD\",\"stream\":\"s\",\"record\":"
                          "{\"id\":3000000000,\"a\":\"x\",\"b\":\"y\"}}", &e), 0);
    /* `row` is built when an expression reads it */
    assert_int_equal(feed(m, &r, "{\"type\":\"RECORD\",\"stream\":\"s\",\"record\":"
                          "{\"id\":1,\"a\":\"x\",\"b\":\"y\"}}", &e), 0);
    /* a KeyError in the expression */
    assert_int_equal(feed(m, &r, "{\"type\":\"RECORD\",\"stream\":\"s\",\"record\":"
                          "{\"id\":2,\"a\":\"x\"}}", &e), 0);
    /* records of unmapped streams are dropped */
    assert_int_equal(feed(m, &r, "{\"type\":\"RECORD\",\"stream\":\"other\",\"record\":"
                          "{\"id\":2}}", &e), 0);
    assert_string_equal(r.log.data, "l1,s'yx';");
    struct mapping_stats st;
    mapping_stage_stats(m, &st);
    assert_int_equal(st.records, 3);
    assert_int_equal(st.transform_errors, 2);
    assert_int_equal(st.dropped, 1);
    char *samples = mapping_stage_samples(m);
    assert_non_null(strstr(samples, "\"field\":\"id\""));
    assert_non_null(strstr(samples, "out of range"));
    assert_non_null(strstr(samples, "KeyError"));
    free(samples);
    /* protocol errors: invalid JSON, a duplicate mapped key, BATCH */
    assert_int_equal(feed(m, &r, "{\"type\":\"RECORD\",\"stream\":\"s\",\"record\":{\"id\":1,}}",
                          &e), IV_EINVAL);
    assert_int_equal(feed(m, &r, "{\"type\":\"RECORD\",\"stream\":\"s\",\"record\":"
                          "{\"id\":1,\"id\":2}}", &e), IV_EINVAL);
    assert_non_null(strstr(e.msg, "duplicate"));
    assert_int_equal(feed(m, &r, "{\"type\":\"RECORD\",\"stream\":\"s\",\"record\":{\"id\":1}} x",
                          &e), IV_EINVAL);
    mapping_stage_free(m);
    buf_release(&r.log);
}

/* The date/timestamp shortcut agrees with the general coercion on every shape it takes and
 * declines the others. */
static void test_time_shortcut_agrees(void **state)
{
    (void)state;
    static const char *const texts[] = {
        "2024-01-02", "2024-02-29", "2023-02-29", "0000-01-01", "9999-12-31", "2024-13-01",
        "2024-01-02T03:04:05", "2024-01-02 03:04:05", "2024-01-02T03:04:05Z",
        "2024-01-02T03:04:05+00:00", "2024-01-02T03:04:05.1Z", "2024-01-02T03:04:05.123456",
        "2024-01-02T03:04:05.1234567Z", "2024-01-02T24:00:00", "2024-01-02T03:60:00",
        "2024-01-02T03:04:05+01:00", "2024-01-02T03:04", "1969-12-31T23:59:59.999999Z",
        "2024-01-02T03:04:05.Z", "2024-01-02x",
    };
    static const char *const types[] = {"date", "timestamp", "timestamptz"};
    for (size_t ti = 0; ti < 3; ti++) {
        struct tx_type t;
        assert_true(tx_type_parse(types[ti], &t));
        for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
            struct tx_cell fast, slow;
            struct tx_error err;
            struct buf b;
            buf_init(&b, 1 << 16);
            struct tx_value *v = tx_str(texts[i], strlen(texts[i]));
            int rc = tx_coerce_cell(v, &t, &b, &slow, &err);
            if (tx_cell_time_text(&t, texts[i], strlen(texts[i]), &fast)) {
                print_message("%s as %s\n", texts[i], types[ti]);
                assert_int_equal(rc, IV_OK);
                assert_int_equal(fast.kind, slow.kind);
                assert_int_equal(fast.i, slow.i);
            }
            tx_unref(v);
            buf_release(&b);
        }
    }
    /* one shortcut value checked by hand: 2024-01-02T03:04:05.5Z */
    struct tx_type t;
    struct tx_cell c;
    tx_type_parse("timestamptz", &t);
    assert_true(tx_cell_time_text(&t, "2024-01-02T03:04:05.5Z", 22, &c));
    assert_int_equal(c.i, (int64_t)1704164645500000);
}

/* A typed row reaches the sink in the bound output order, with null for output columns the
 * stream lacks; a wrong kind or a null in a required column is refused. */
static int s_null(void *c, int col) { return buf_printf(c, "%d:N|", col); }
static int s_bool(void *c, int col, bool v) { return buf_printf(c, "%d:%d|", col, v); }
static int s_i32(void *c, int col, int32_t v) { return buf_printf(c, "%d:i%d|", col, v); }
static int s_i64(void *c, int col, int64_t v) { return buf_printf(c, "%d:l%lld|", col,
                                                                  (long long)v); }
static int s_dbl(void *c, int col, double v) { return buf_printf(c, "%d:d%g|", col, v); }
static int s_bytes(void *c, int col, const void *p, size_t n)
{
    return buf_printf(c, "%d:s%.*s|", col, (int)n, (const char *)p);
}
static int s_end(void *c) { return buf_append_str(c, "E"); }

static void test_put_row(void **state)
{
    (void)state;
    json_error_t je;
    json_t *schema = json_loads("{\"properties\":{\"a\":{\"type\":\"integer\"},"
                                "\"b\":{\"type\":[\"null\",\"string\"]},"
                                "\"c\":{\"type\":\"string\",\"format\":\"date\"}}}", 0, &je);
    json_t *keys = json_loads("[\"a\"]", 0, &je);
    struct singer_column *cols;
    int ncols;
    struct iv_err e = {0};
    assert_int_equal(singer_schema_map(schema, keys, &cols, &ncols, &e), IV_OK);
    struct singer_stream *s = singer_stream_new("s", cols, ncols);
    const char *names[] = {"c", "extra", "b", "a"};
    const enum lake_type types[] = {LAKE_DATE, LAKE_STRING, LAKE_STRING, LAKE_LONG};
    const bool req[] = {false, false, false, true};
    assert_int_equal(singer_stream_bind(s, names, types, req, 4, &e), IV_OK);
    struct buf out;
    buf_init(&out, 1 << 16);
    struct singer_sink sink = {&out, s_null, s_bool, s_i32, s_i64, s_dbl, s_bytes, s_end, NULL};
    struct singer_value v[3] = {{.kind = SINGER_V_I64, .i64 = 5},
                                {.kind = SINGER_V_BYTES, .p = "xy", .n = 2},
                                {.kind = SINGER_V_DATE, .i64 = 3}};
    assert_int_equal(singer_stream_put_row(s, v, 3, &sink, &e), IV_OK);
    assert_string_equal(out.data, "0:i3|1:N|2:sxy|3:l5|E");
    v[0].kind = SINGER_V_NULL;   /* a is a key: required */
    assert_int_equal(singer_stream_put_row(s, v, 3, &sink, &e), IV_EINVAL);
    v[0] = (struct singer_value){.kind = SINGER_V_F64, .d = 1.5};   /* wrong kind */
    assert_int_equal(singer_stream_put_row(s, v, 3, &sink, &e), IV_EINVAL);
    assert_int_equal(singer_stream_put_row(s, v, 2, &sink, &e), IV_EINVAL);
    assert_string_equal(out.data, "0:i3|1:N|2:sxy|3:l5|E");
    /* a column followed as text receives the value's text */
    assert_int_equal(singer_stream_as_text(s, 0, &e), IV_OK);
    const enum lake_type types2[] = {LAKE_DATE, LAKE_STRING, LAKE_STRING, LAKE_STRING};
    assert_int_equal(singer_stream_bind(s, names, types2, req, 4, &e), IV_OK);
    v[0] = (struct singer_value){.kind = SINGER_V_I64, .i64 = -42};
    buf_reset(&out);
    assert_int_equal(singer_stream_put_row(s, v, 3, &sink, &e), IV_OK);
    assert_string_equal(out.data, "0:i3|1:N|2:sxy|3:s-42|E");
    buf_release(&out);
    singer_stream_free(s);
    json_decref(schema);
    json_decref(keys);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_typed_rows),
        cmocka_unit_test(test_errors_counted_and_sampled),
        cmocka_unit_test(test_time_shortcut_agrees),
        cmocka_unit_test(test_put_row),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
