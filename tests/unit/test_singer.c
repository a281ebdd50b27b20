/*
 * test_singer: unit tests for src/singer — the line reader (cap, line
 * numbers, CRLF, last line without newline), message dispatch, the JSON
 * Schema -> Iceberg mapping, and the RECORD fast path (escapes, unicode,
 * int64 limits, nested values, whitespace, key order, duplicate keys,
 * invalid JSON at every position). Values are captured by a recording sink
 * and compared with expectations written by hand from the Singer/JSON specs.
 */
#include "unit.h"
#include "singer/singer.h"

#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

/* ---- recording sink --------------------------------------------------------- */
struct rec_sink {
    struct buf log;
    int rows;
};
static int r_null(void *c, int col)
{
    return buf_printf(&((struct rec_sink *)c)->log, "%d:null|", col);
}
static int r_bool(void *c, int col, bool v)
{
    return buf_printf(&((struct rec_sink *)c)->log, "%d:b%d|", col, v ? 1 : 0);
}
static int r_i32(void *c, int col, int32_t v)
{
    return buf_printf(&((struct rec_sink *)c)->log, "%d:d%d|", col, v);
}
static int r_i64(void *c, int col, int64_t v)
{
    return buf_printf(&((struct rec_sink *)c)->log, "%d:i%lld|", col, (long long)v);
}
static int r_dbl(void *c, int col, double v)
{
    return buf_printf(&((struct rec_sink *)c)->log, "%d:f%.17g|", col, v);
}
static int r_bytes(void *c, int col, const void *p, size_t n)
{
    struct rec_sink *s = c;
    int rc = buf_printf(&s->log, "%d:s[", col);
    if (!rc)
        rc = buf_append(&s->log, p, n);
    if (!rc)
        rc = buf_append_str(&s->log, "]|");
    return rc;
}
static int r_dec(void *c, int col, __int128 v)
{
    char digits[48];
    int k = 0;
    bool neg = v < 0;
    unsigned __int128 u = neg ? (unsigned __int128)(-(v + 1)) + 1 : (unsigned __int128)v;
    do {
        digits[k++] = (char)('0' + (int)(u % 10));
        u /= 10;
    } while (u);
    struct rec_sink *s = c;
    int rc = buf_printf(&s->log, "%d:m%s", col, neg ? "-" : "");
    while (!rc && k > 0)
        rc = buf_putc(&s->log, digits[--k]);
    return rc ? rc : buf_append_str(&s->log, "|");
}
static int r_end(void *c)
{
    ((struct rec_sink *)c)->rows++;
    return buf_append_str(&((struct rec_sink *)c)->log, "\n");
}

static struct rec_sink g_rs;
static const struct singer_sink g_sink = {
    .ctx = &g_rs, .put_null = r_null, .put_bool = r_bool, .put_i32 = r_i32, .put_i64 = r_i64,
    .put_double = r_dbl, .put_bytes = r_bytes, .end_row = r_end, .put_decimal = r_dec,
};

static void sink_reset(void)
{
    buf_release(&g_rs.log);
    buf_init(&g_rs.log, 1 << 26);
    g_rs.rows = 0;
}

/* Builds a stream from a schema JSON text and key_properties JSON text. */
static struct singer_stream *mk_stream(const char *schema, const char *keys)
{
    json_error_t je;
    json_t *s = json_loads(schema, 0, &je);
    assert_non_null(s);
    json_t *k = keys ? json_loads(keys, 0, &je) : NULL;
    struct singer_column *cols;
    int n;
    struct iv_err e = {0};
    int rc = singer_schema_map(s, k, &cols, &n, &e);
    if (rc)
        fail_msg("schema map failed: %s", e.msg);
    json_decref(s);
    if (k)
        json_decref(k);
    return singer_stream_new("s", cols, n);
}

static const char *ALL_SCHEMA =
    "{\"type\":\"object\",\"properties\":{"
    "\"id\":{\"type\":\"integer\"},"
    "\"amount\":{\"type\":[\"null\",\"number\"]},"
    "\"ok\":{\"type\":[\"boolean\",\"null\"]},"
    "\"name\":{\"type\":[\"null\",\"string\"]},"
    "\"ts\":{\"type\":[\"null\",\"string\"],\"format\":\"date-time\"},"
    "\"day\":{\"type\":[\"null\",\"string\"],\"format\":\"date\"},"
    "\"obj\":{\"type\":[\"null\",\"object\"]},"
    "\"arr\":{\"type\":[\"null\",\"array\"]},"
    "\"any\":{}"
    "}}";

/* Decodes a record; returns rc and leaves the sink log in g_rs. */
static int dec(struct singer_stream *st, const char *rec, struct iv_err *e)
{
    sink_reset();
    return singer_stream_decode(st, rec, strlen(rec), &g_sink, e);
}

/* ---- schema mapping --------------------------------------------------------- */
static void test_schema_map_types(void **state)
{
    (void)state;
    json_error_t je;
    json_t *s = json_loads(ALL_SCHEMA, 0, &je);
    json_t *k = json_loads("[\"id\"]", 0, &je);
    struct singer_column *c;
    int n;
    struct iv_err e = {0};
    assert_int_equal(singer_schema_map(s, k, &c, &n, &e), IV_OK);
    assert_int_equal(n, 9);
    const char *names[] = {"id", "amount", "ok", "name", "ts", "day", "obj", "arr", "any"};
    enum lake_type types[] = {LAKE_LONG, LAKE_DOUBLE, LAKE_BOOLEAN, LAKE_STRING, LAKE_TIMESTAMPTZ,
                              LAKE_DATE, LAKE_STRING, LAKE_STRING, LAKE_STRING};
    for (int i = 0; i < 9; i++) {
        assert_string_equal(c[i].name, names[i]);
        assert_int_equal(c[i].type, types[i]);
    }
    assert_true(c[0].required && c[0].key);
    for (int i = 1; i < 9; i++)
        assert_false(c[i].required);
    assert_int_equal(c[6].kind, SINGER_K_JSON);
    assert_int_equal(c[8].accept, SINGER_J_ANY);
    singer_columns_free(c, n);
    json_decref(s);
    json_decref(k);
}

static void test_schema_map_unions(void **state)
{
    (void)state;
    json_error_t je;
    json_t *s = json_loads(
        "{\"properties\":{"
        "\"a\":{\"anyOf\":[{\"type\":\"string\",\"format\":\"date-time\"},{\"type\":\"null\"}]},"
        "\"b\":{\"type\":[\"string\",\"integer\"]},"
        "\"c\":{\"anyOf\":[{\"type\":\"string\"},{\"type\":\"integer\"}]},"
        "\"k\":{\"type\":[\"null\",\"integer\"]},"
        "\"d\":{\"type\":\"string\",\"format\":\"date\"}}}",
        0, &je);
    json_t *k = json_loads("[\"k\",\"d\"]", 0, &je);
    struct singer_column *c;
    int n;
    struct iv_err e = {0};
    assert_int_equal(singer_schema_map(s, k, &c, &n, &e), IV_OK);
    assert_int_equal(n, 5);
    assert_int_equal(c[0].type, LAKE_TIMESTAMPTZ);
    assert_true(c[0].accept & SINGER_J_NULL);
    assert_int_equal(c[1].kind, SINGER_K_JSON);
    assert_int_equal(c[2].kind, SINGER_K_JSON);
    assert_true(c[3].key);
    assert_false(c[3].required);   /* nullable key stays optional */
    assert_true(c[4].required);    /* non-null key is required */
    assert_int_equal(c[4].type, LAKE_DATE);
    singer_columns_free(c, n);
    json_decref(s);
    json_decref(k);
}

static void test_schema_map_errors(void **state)
{
    (void)state;
    const char *bad[] = {
        "{\"type\":\"object\"}",
        "{\"properties\":{}}",
        "{\"properties\":{\"a\":{\"type\":\"decimalish\"}}}",
        "{\"properties\":{\"a\":{\"type\":5}}}",
        "{\"properties\":{\"a\":7}}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        json_error_t je;
        json_t *s = json_loads(bad[i], 0, &je);
        assert_non_null(s);
        struct singer_column *c = NULL;
        int n = 0;
        struct iv_err e = {0};
        assert_int_equal(singer_schema_map(s, NULL, &c, &n, &e), IV_EINVAL);
        assert_true(strlen(e.msg) > 0);
        json_decref(s);
    }
    /* key property not in properties */
    json_error_t je;
    json_t *s = json_loads("{\"properties\":{\"a\":{\"type\":\"integer\"}}}", 0, &je);
    json_t *k = json_loads("[\"zz\"]", 0, &je);
    struct singer_column *c;
    int n;
    struct iv_err e = {0};
    assert_int_equal(singer_schema_map(s, k, &c, &n, &e), IV_EINVAL);
    assert_non_null(strstr(e.msg, "zz"));
    json_decref(s);
    json_decref(k);
}

/* ---- record decoding -------------------------------------------------------- */
static void test_record_all_types(void **state)
{
    (void)state;
    struct singer_stream *st = mk_stream(ALL_SCHEMA, "[\"id\"]");
    struct iv_err e = {0};
    int rc = dec(st,
                 "{\"id\": 42, \"amount\": -1.5e2, \"ok\": true, \"name\": \"x\","
                 " \"ts\": \"2024-02-29T12:34:56.789Z\", \"day\": \"2024-03-01\","
                 " \"obj\": { \"a\" : [1, 2, {\"b\": \"c d\"}] }, \"arr\": [ ], \"any\": 3.25}",
                 &e);
    if (rc)
        fail_msg("%s", e.msg);
    /* 2024-02-29T12:34:56.789Z = 1709210096.789 s; 2024-03-01 = day 19783 */
    assert_string_equal(g_rs.log.data,
                        "0:i42|1:f-150|2:b1|3:s[x]|4:i1709210096789000|5:d19783|"
                        "6:s[{\"a\":[1,2,{\"b\":\"c d\"}]}]|7:s[[]]|8:s[3.25]|\n");
    /* key order does not matter; missing optional keys are null */
    rc = dec(st, "{\"name\":\"y\",\"id\":-7}", &e);
    assert_int_equal(rc, IV_OK);
    assert_string_equal(g_rs.log.data,
                        "0:i-7|1:null|2:null|3:s[y]|4:null|5:null|6:null|7:null|8:null|\n");
    /* explicit nulls */
    rc = dec(st, "{\"id\":1,\"amount\":null,\"any\":null,\"obj\":null}", &e);
    assert_int_equal(rc, IV_OK);
    assert_string_equal(g_rs.log.data,
                        "0:i1|1:null|2:null|3:null|4:null|5:null|6:null|7:null|8:null|\n");
    /* the "any" column keeps JSON text of strings and booleans */
    rc = dec(st, "{\"id\":1,\"any\":\"q\\\"\"}", &e);
    assert_int_equal(rc, IV_OK);
    assert_non_null(strstr(g_rs.log.data, "8:s[\"q\\\"\"]"));
    rc = dec(st, "{\"id\":1,\"any\":false}", &e);
    assert_int_equal(rc, IV_OK);
    assert_non_null(strstr(g_rs.log.data, "8:s[false]"));
    singer_stream_free(st);
}

static void test_record_int_limits(void **state)
{
    (void)state;
    struct singer_stream *st = mk_stream(ALL_SCHEMA, NULL);
    struct iv_err e = {0};
    assert_int_equal(dec(st, "{\"id\":9223372036854775807}", &e), IV_OK);
    assert_non_null(strstr(g_rs.log.data, "0:i9223372036854775807|"));
    assert_int_equal(dec(st, "{\"id\":-9223372036854775808}", &e), IV_OK);
    assert_non_null(strstr(g_rs.log.data, "0:i-9223372036854775808|"));
    assert_int_equal(dec(st, "{\"id\":9223372036854775808}", &e), IV_EINVAL);
    assert_non_null(strstr(e.msg, "out of range"));
    assert_int_equal(dec(st, "{\"id\":-9223372036854775809}", &e), IV_EINVAL);
    assert_int_equal(dec(st, "{\"id\":18446744073709551616}", &e), IV_EINVAL);
    assert_int_equal(dec(st, "{\"id\":1.5}", &e), IV_EINVAL);
    assert_non_null(strstr(e.msg, "expected integer"));
    /* doubles: past DBL_MAX is out of range; a literal longer than the stack copy parses */
    assert_int_equal(dec(st, "{\"id\":1,\"amount\":1e999}", &e), IV_EINVAL);
    assert_non_null(strstr(e.msg, "out of range"));
    assert_int_equal(dec(st, "{\"id\":1,\"amount\":-1.5000000000000000000000000000000000000000"
                             "00000000000000000000000000000000000000000000}", &e), IV_OK);
    assert_non_null(strstr(g_rs.log.data, "1:f-1.5|"));
    assert_int_equal(dec(st, "{\"id\":1e3}", &e), IV_EINVAL);
    assert_int_equal(dec(st, "{\"id\":\"12\"}", &e), IV_EINVAL);
    assert_int_equal(dec(st, "{\"id\":-0}", &e), IV_OK);
    assert_non_null(strstr(g_rs.log.data, "0:i0|"));
    /* numbers into double: ints accepted, overflow rejected */
    assert_int_equal(dec(st, "{\"amount\":9007199254740993}", &e), IV_OK);
    assert_non_null(strstr(g_rs.log.data, "1:f9007199254740992|"));
    assert_int_equal(dec(st, "{\"amount\":1e400}", &e), IV_EINVAL);
    assert_int_equal(dec(st, "{\"amount\":5e-324}", &e), IV_OK);
    assert_int_equal(dec(st, "{\"amount\":0.1}", &e), IV_OK);
    assert_non_null(strstr(g_rs.log.data, "1:f0.10000000000000001|"));
    singer_stream_free(st);
}

static void test_record_strings(void **state)
{
    (void)state;
    struct singer_stream *st = mk_stream(ALL_SCHEMA, NULL);
    struct iv_err e = {0};
    /* all simple escapes */
    assert_int_equal(dec(st, "{\"name\":\"a\\\"b\\\\c\\/d\\be\\ff\\ng\\rh\\ti\"}", &e), IV_OK);
    assert_non_null(strstr(g_rs.log.data, "3:s[a\"b\\c/d\be\ff\ng\rh\ti]|"));
    /* \u escapes: BMP, 2-byte, surrogate pair (U+1F600), NUL */
    assert_int_equal(dec(st, "{\"name\":\"\\u00e9\\u20AC\\ud83d\\ude00\"}", &e), IV_OK);
    assert_non_null(strstr(g_rs.log.data, "3:s[\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80]|"));
    assert_int_equal(dec(st, "{\"name\":\"a\\u0000b\"}", &e), IV_OK);
    assert_memory_equal(strstr(g_rs.log.data, "3:s[") + 4, "a\0b]", 4);
    /* raw UTF-8 passes through unchanged */
    assert_int_equal(dec(st, "{\"name\":\"\xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x8e\x89\"}", &e),
                     IV_OK);
    assert_non_null(strstr(g_rs.log.data, "3:s[\xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x8e\x89]|"));
    /* empty string is not null */
    assert_int_equal(dec(st, "{\"name\":\"\"}", &e), IV_OK);
    assert_non_null(strstr(g_rs.log.data, "3:s[]|"));
    /* escaped key */
    assert_int_equal(dec(st, "{\"n\\u0061me\":\"k\"}", &e), IV_OK);
    assert_non_null(strstr(g_rs.log.data, "3:s[k]|"));
    /* bad strings */
    const char *bad[] = {
        "{\"name\":\"\\ud83d\"}",          /* lone high surrogate */
        "{\"name\":\"\\ude00\"}",          /* lone low surrogate */
        "{\"name\":\"\\ud83d\\u0041\"}",   /* high + non-low */
        "{\"name\":\"\\x41\"}",            /* bad escape */
        "{\"name\":\"\\u12G4\"}",          /* bad hex */
        "{\"name\":\"a\tb\"}",             /* raw control char */
        "{\"name\":\"\xc3\x28\"}",         /* invalid UTF-8 */
        "{\"name\":\"\xed\xa0\x80\"}",     /* UTF-8 encoded surrogate */
        "{\"name\":\"\xc0\xaf\"}",         /* overlong */
        "{\"name\":\"\xf4\x90\x80\x80\"}", /* > U+10FFFF */
        "{\"name\":\"abc",                 /* unterminated */
        "{\"name\":5}",                    /* wrong type */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        e.msg[0] = '\0';
        assert_int_equal(dec(st, bad[i], &e), IV_EINVAL);
        assert_true(strlen(e.msg) > 0);
        assert_int_equal(g_rs.rows, 0);
    }
    /* 1 MB string with escapes every so often */
    size_t big = 1 << 20;
    char *rec = malloc(big + 64);
    strcpy(rec, "{\"name\":\"");
    size_t k = strlen(rec);
    for (size_t i = 0; i < big; i++)
        rec[k++] = (i % 1000 == 999) ? 'Z' : (char)('a' + i % 26);
    memcpy(rec + k, "\\n\"}", 5);
    assert_int_equal(dec(st, rec, &e), IV_OK);
    char *p = strstr(g_rs.log.data, "3:s[");
    assert_non_null(p);
    assert_int_equal(strchr(p, ']') - (p + 4), (long)big + 1);
    free(rec);
    singer_stream_free(st);
}

static void test_record_dates(void **state)
{
    (void)state;
    struct singer_stream *st = mk_stream(ALL_SCHEMA, NULL);
    struct iv_err e = {0};
    assert_int_equal(dec(st, "{\"ts\":\"1970-01-01T00:00:00Z\",\"day\":\"1970-01-01\"}", &e), IV_OK);
    assert_non_null(strstr(g_rs.log.data, "4:i0|5:d0|"));
    assert_int_equal(dec(st, "{\"ts\":\"1970-01-01T01:00:00+01:00\"}", &e), IV_OK);
    assert_non_null(strstr(g_rs.log.data, "4:i0|"));
    assert_int_equal(dec(st, "{\"ts\":\"1969-12-31T23:59:59.5Z\",\"day\":\"1969-12-31\"}", &e),
                     IV_OK);
    assert_non_null(strstr(g_rs.log.data, "4:i-500000|5:d-1|"));
    /* a date column accepts midnight date-times */
    assert_int_equal(dec(st, "{\"day\":\"2000-01-01T00:00:00Z\"}", &e), IV_OK);
    assert_non_null(strstr(g_rs.log.data, "5:d10957|"));
    assert_int_equal(dec(st, "{\"day\":\"2000-01-01T10:00:00Z\"}", &e), IV_EINVAL);
    assert_int_equal(dec(st, "{\"day\":\"2001-02-29\"}", &e), IV_EINVAL);
    assert_int_equal(dec(st, "{\"ts\":\"yesterday\"}", &e), IV_EINVAL);
    assert_non_null(strstr(e.msg, "ts"));
    assert_int_equal(dec(st, "{\"ts\":\"2024-01-01T25:00:00Z\"}", &e), IV_EINVAL);
    singer_stream_free(st);
}

static void test_record_strictness(void **state)
{
    (void)state;
    struct singer_stream *st = mk_stream(ALL_SCHEMA, "[\"id\"]");
    struct iv_err e = {0};
    /* undeclared keys: dropped and counted by default, refused when the schema is closed */
    assert_int_equal(dec(st, "{\"id\":1,\"extra\":{\"a\":[1,2]},\"more\":null}", &e), IV_OK);
    assert_int_equal(singer_stream_dropped(st), 2);
    assert_int_equal(g_rs.rows, 1);
    sink_reset();
    assert_int_equal(dec(st, "{\"id\":1,\"extra\":[1,}", &e), IV_EINVAL);
    assert_non_null(strstr(e.msg, "invalid JSON"));
    singer_stream_refuse_undeclared(st, true);
    assert_int_equal(dec(st, "{\"id\":1,\"extra\":2}", &e), IV_EINVAL);
    assert_non_null(strstr(e.msg, "\"extra\""));
    assert_non_null(strstr(e.msg, "additionalProperties"));
    assert_int_equal(dec(st, "{\"id\":1,\"id\":2}", &e), IV_EINVAL);
    assert_non_null(strstr(e.msg, "twice"));
    assert_int_equal(dec(st, "{\"name\":\"x\"}", &e), IV_EINVAL);
    assert_non_null(strstr(e.msg, "required field \"id\""));
    assert_int_equal(dec(st, "{\"id\":null}", &e), IV_EINVAL);
    assert_int_equal(dec(st, "{\"id\":1,\"ok\":1}", &e), IV_EINVAL);
    assert_int_equal(dec(st, "{\"id\":1,\"obj\":[1]}", &e), IV_EINVAL);
    assert_int_equal(dec(st, "{\"id\":1,\"arr\":{}}", &e), IV_EINVAL);
    assert_int_equal(dec(st, "[1]", &e), IV_EINVAL);
    assert_int_equal(g_rs.rows, 0);
    /* whitespace everywhere is fine */
    assert_int_equal(dec(st, " \t{ \"id\" \n: \r 3 , \"ok\" : false }  ", &e), IV_OK);
    assert_non_null(strstr(g_rs.log.data, "0:i3|1:null|2:b0|"));
    singer_stream_free(st);
}

/* Every proper prefix of a valid record is invalid, and so is every single-byte
 * corruption into a structural character at each position (or it must decode). */
static void test_record_invalid_each_position(void **state)
{
    (void)state;
    struct singer_stream *st = mk_stream(ALL_SCHEMA, NULL);
    const char *good =
        "{\"id\":12,\"amount\":-3.5e-1,\"name\":\"a\\u00e9\\n\",\"obj\":{\"x\":[true,null,\"y\"]},"
        "\"ok\":false,\"arr\":[[],{}]}";
    size_t n = strlen(good);
    struct iv_err e = {0};
    assert_int_equal(dec(st, good, &e), IV_OK);
    for (size_t cut = 0; cut < n; cut++) {
        sink_reset();
        int rc = singer_stream_decode(st, good, cut, &g_sink, &e);
        assert_int_not_equal(rc, IV_OK);
        assert_int_equal(g_rs.rows, 0);
    }
    const char junk[] = {'}', ']', ',', ':', '"', '\\', 'x', '\x01', '{', '['};
    char *m = malloc(n + 1);
    int accepted = 0;
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < sizeof(junk); j++) {
            memcpy(m, good, n + 1);
            if (m[i] == junk[j])
                continue;
            m[i] = junk[j];
            sink_reset();
            int rc = singer_stream_decode(st, m, n, &g_sink, &e);
            if (rc == IV_OK)
                accepted++;
            /* jansson is the referee: anything we accept must be valid JSON */
            if (rc == IV_OK) {
                json_error_t je;
                json_t *jv = json_loadb(m, n, JSON_REJECT_DUPLICATES, &je);
                if (!jv)
                    fail_msg("accepted invalid JSON: %s", m);
                json_decref(jv);
            } else {
                assert_int_equal(g_rs.rows, 0);
            }
        }
    }
    free(m);
    singer_stream_free(st);
}

/* ---- message dispatch ------------------------------------------------------- */
static void test_parse_messages(void **state)
{
    (void)state;
    struct singer_parser p;
    singer_parser_init(&p);
    struct singer_msg m;
    struct iv_err e = {0};
    const char *l = "{\"record\": {\"a\": 1}, \"stream\": \"us\\u0065rs\", \"type\": \"RECORD\","
                    " \"time_extracted\": \"2024-01-01T00:00:00Z\", \"version\": 3}";
    assert_int_equal(singer_parse_line(&p, l, strlen(l), &m, &e), IV_OK);
    assert_int_equal(m.type, SINGER_MSG_RECORD);
    assert_string_equal(m.stream, "users");
    assert_int_equal(m.record_len, strlen("{\"a\": 1}"));
    assert_memory_equal(m.record, "{\"a\": 1}", m.record_len);
    assert_null(m.json);
    singer_msg_clear(&m);

    l = "{\"type\":\"SCHEMA\",\"stream\":\"u\",\"schema\":{\"properties\":{}},\"key_properties\":[]}";
    assert_int_equal(singer_parse_line(&p, l, strlen(l), &m, &e), IV_OK);
    assert_int_equal(m.type, SINGER_MSG_SCHEMA);
    assert_string_equal(m.stream, "u");
    assert_non_null(m.json);
    singer_msg_clear(&m);

    l = "{\"type\":\"STATE\",\"value\":{\"bookmarks\":{\"u\":{\"id\":5}}}}";
    assert_int_equal(singer_parse_line(&p, l, strlen(l), &m, &e), IV_OK);
    assert_int_equal(m.type, SINGER_MSG_STATE);
    assert_int_equal(json_integer_value(json_object_get(
                         json_object_get(json_object_get(json_object_get(m.json, "value"),
                                                         "bookmarks"), "u"), "id")), 5);
    singer_msg_clear(&m);

    l = "{\"type\":\"ACTIVATE_VERSION\",\"stream\":\"u\",\"version\":1}";
    assert_int_equal(singer_parse_line(&p, l, strlen(l), &m, &e), IV_OK);
    assert_int_equal(m.type, SINGER_MSG_ACTIVATE_VERSION);
    singer_msg_clear(&m);

    struct { const char *line; const char *needle; } bad[] = {
        {"", "empty"},
        {"hello", "not a JSON object"},
        {"[1,2]", "not a JSON object"},
        {"{\"type\":\"RECORD\",\"stream\":\"u\"}", "no \"record\""},
        {"{\"type\":\"RECORD\",\"record\":{}}", "no \"stream\""},
        {"{\"type\":\"RECORD\",\"stream\":\"u\",\"record\":[]}", "not an object"},
        {"{\"type\":\"BOGUS\",\"stream\":\"u\"}", "unknown message type \"BOGUS\""},
        {"{\"type\":\"BATCH\",\"stream\":\"u\"}", "BATCH has no \"encoding\" object"},
        {"{\"type\":\"BATCH\",\"stream\":\"u\",\"encoding\":{\"format\":\"jsonl\",\"compression\":\"zstd\"},\"manifest\":[\"/x\"]}",
         "compression \"zstd\" is not supported"},
        {"{\"type\":\"BATCH\",\"stream\":\"u\",\"encoding\":{\"format\":\"jsonl\"},\"manifest\":[]}",
         "no \"manifest\""},
        {"{\"type\":\"BATCH\",\"encoding\":{\"format\":\"jsonl\"},\"manifest\":[\"/x\"]}",
         "BATCH has no \"stream\""},
        {"{\"stream\":\"u\"}", "no \"type\""},
        {"{\"type\":1}", "not a string"},
        {"{\"type\":\"RECORD\",\"type\":\"RECORD\",\"stream\":\"u\",\"record\":{}}", "duplicate"},
        {"{\"type\":\"STATE\"}", "no \"value\""},
        {"{\"type\":\"SCHEMA\",\"stream\":\"u\",\"schema\":3}", "schema"},
        {"{\"type\":\"STATE\",\"value\":1} x", "trailing"},
        {"{\"type\":\"STATE\",\"value\":1", "invalid JSON"},
        {"{\"type\":\"STATE\",\"value\":{\"a\":1,\"a\":2}}", "invalid JSON"},
        {"{\"record\":{\"a\":1},\"type\":\"RECORD\",\"stream\":\"u\"", "expected"},
        {"{\"record\":{\"a\":\"}},\"type\":\"RECORD\",\"stream\":\"u\"}", "unterminated"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        e.msg[0] = '\0';
        int rc = singer_parse_line(&p, bad[i].line, strlen(bad[i].line), &m, &e);
        if (rc == IV_OK)
            fail_msg("accepted: %s", bad[i].line);
        if (!strstr(e.msg, bad[i].needle))
            fail_msg("line %s: message \"%s\" lacks \"%s\"", bad[i].line, e.msg, bad[i].needle);
        assert_null(m.json);
    }
    /* usual key order: the dispatcher leaves the record open; the decoder checks the rest */
    {
        struct singer_stream *st2 = mk_stream(ALL_SCHEMA, NULL);
        struct { const char *line; int rc; const char *needle; } open_cases[] = {
            {"{\"type\":\"RECORD\",\"stream\":\"s\",\"record\":{\"id\":7},\"time_extracted\":\"x\"}",
             IV_OK, NULL},
            {"{\"type\":\"RECORD\",\"stream\":\"s\",\"record\":{\"id\":7} }  ", IV_OK, NULL},
            {"{\"type\":\"RECORD\",\"stream\":\"s\",\"record\":{\"id\":7},\"type\":\"STATE\"}",
             IV_EINVAL, "duplicate key \"type\""},
            {"{\"type\":\"RECORD\",\"stream\":\"s\",\"record\":{\"id\":7},\"rec\\u006frd\":{}}",
             IV_EINVAL, "duplicate key \"record\""},
            {"{\"type\":\"RECORD\",\"stream\":\"s\",\"record\":{\"id\":7}", IV_EINVAL, "end of input"},
            {"{\"type\":\"RECORD\",\"stream\":\"s\",\"record\":{\"id\":7}} x", IV_EINVAL, "trailing"},
            {"{\"type\":\"RECORD\",\"stream\":\"s\",\"record\":{\"id\":7},\"v\":tru}", IV_EINVAL,
             "after the record"},
            {"{\"type\":\"RECORD\",\"stream\":\"s\",\"record\":{\"id\":7,}}", IV_EINVAL,
             "invalid JSON in record"},
        };
        for (size_t i = 0; i < sizeof(open_cases) / sizeof(open_cases[0]); i++) {
            const char *ln = open_cases[i].line;
            assert_int_equal(singer_parse_line(&p, ln, strlen(ln), &m, &e), IV_OK);
            assert_true(m.record_open);
            sink_reset();
            int rc = singer_decode_record(st2, &m, &g_sink, &e);
            if (rc != open_cases[i].rc)
                fail_msg("%s: rc %d (%s)", ln, rc, e.msg);
            if (open_cases[i].needle && !strstr(e.msg, open_cases[i].needle))
                fail_msg("%s: message \"%s\" lacks \"%s\"", ln, e.msg, open_cases[i].needle);
            assert_int_equal(g_rs.rows, rc == IV_OK ? 1 : 0);
            if (rc == IV_OK)
                assert_non_null(strstr(g_rs.log.data, "0:i7|"));
            singer_msg_clear(&m);
        }
        singer_stream_free(st2);
    }
    /* the record's contents are validated by the decoder, not by the dispatcher */
    l = "{\"type\":\"RECORD\",\"stream\":\"s\",\"record\":{\"id\":tru}}";
    assert_int_equal(singer_parse_line(&p, l, strlen(l), &m, &e), IV_OK);
    struct singer_stream *st = mk_stream(ALL_SCHEMA, NULL);
    sink_reset();
    assert_int_equal(singer_stream_decode(st, m.record, m.record_len, &g_sink, &e), IV_EINVAL);
    assert_non_null(strstr(e.msg, "invalid JSON in record"));
    singer_stream_free(st);
    singer_msg_clear(&m);
    singer_parser_release(&p);
}

/* ---- line reader ------------------------------------------------------------ */
static void test_reader(void **state)
{
    (void)state;
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    const char *in = "one\r\n\ntwo\nthree";
    assert_int_equal(write(fds[1], in, strlen(in)), (ssize_t)strlen(in));
    close(fds[1]);
    struct singer_reader r;
    singer_reader_init(&r, fds[0], 16);
    char *l;
    size_t n;
    struct iv_err e = {0};
    assert_int_equal(singer_reader_next(&r, &l, &n, &e), 1);
    assert_string_equal(l, "one");
    assert_int_equal(r.line_no, 1);
    assert_int_equal(singer_reader_next(&r, &l, &n, &e), 1);
    assert_int_equal(n, 0);
    assert_int_equal(singer_reader_next(&r, &l, &n, &e), 1);
    assert_string_equal(l, "two");
    assert_int_equal(singer_reader_next(&r, &l, &n, &e), 1);
    assert_string_equal(l, "three");
    assert_int_equal(r.line_no, 4);
    assert_int_equal(singer_reader_next(&r, &l, &n, &e), 0);
    singer_reader_release(&r);
    close(fds[0]);

    /* cap: a 17-byte line with a 16-byte cap fails naming line 2 */
    assert_int_equal(pipe(fds), 0);
    in = "ok\n12345678901234567\n";
    assert_int_equal(write(fds[1], in, strlen(in)), (ssize_t)strlen(in));
    close(fds[1]);
    singer_reader_init(&r, fds[0], 16);
    assert_int_equal(singer_reader_next(&r, &l, &n, &e), 1);
    assert_int_equal(singer_reader_next(&r, &l, &n, &e), IV_ETOOBIG);
    assert_non_null(strstr(e.msg, "line 2"));
    singer_reader_release(&r);
    close(fds[0]);
}

/* Many lines across read-chunk boundaries come back intact and in order. */
static void test_reader_many(void **state)
{
    (void)state;
    char path[] = "/tmp/test_singer_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    for (int i = 0; i < 200000; i++)
        fprintf(f, "{\"i\":%d,\"pad\":\"%0*d\"}\n", i, i % 50, 0);
    fclose(f);
    fd = open(path, 0);
    struct singer_reader r;
    singer_reader_init(&r, fd, 1024);
    char *l;
    size_t n;
    struct iv_err e = {0};
    int i = 0;
    while (singer_reader_next(&r, &l, &n, &e) == 1) {
        int v = -1;
        assert_int_equal(sscanf(l, "{\"i\":%d,", &v), 1);
        assert_int_equal(v, i);
        i++;
    }
    assert_int_equal(i, 200000);
    singer_reader_release(&r);
    close(fd);
    unlink(path);
}

/* ---- binding to a wider table schema --------------------------------------- */
static void test_bind(void **state)
{
    (void)state;
    struct singer_stream *st = mk_stream(
        "{\"properties\":{\"a\":{\"type\":\"integer\"},\"b\":{\"type\":[\"null\",\"string\"]}}}",
        NULL);
    const char *names[] = {"old", "b", "a"};
    enum lake_type types[] = {LAKE_DOUBLE, LAKE_STRING, LAKE_LONG};
    bool req[] = {false, false, true};
    struct iv_err e = {0};
    assert_int_equal(singer_stream_bind(st, names, types, req, 3, &e), IV_OK);
    assert_int_equal(dec(st, "{\"a\":1,\"b\":\"x\"}", &e), IV_OK);
    assert_string_equal(g_rs.log.data, "0:null|1:s[x]|2:i1|\n");
    /* a is now required by the table */
    assert_int_equal(dec(st, "{\"b\":\"x\"}", &e), IV_EINVAL);
    /* type mismatch */
    enum lake_type bad_types[] = {LAKE_DOUBLE, LAKE_STRING, LAKE_STRING};
    assert_int_equal(singer_stream_bind(st, names, bad_types, req, 3, &e), IV_EINVAL);
    assert_non_null(strstr(e.msg, "\"a\""));
    /* table lacks a stream column */
    assert_int_equal(singer_stream_bind(st, names, types, req, 2, &e), IV_EINVAL);
    /* required table column the stream lacks */
    bool req2[] = {true, false, false};
    assert_int_equal(singer_stream_bind(st, names, types, req2, 3, &e), IV_EINVAL);
    singer_stream_free(st);
}

/* schema_drift discard_row: singer_stream_misfit names the field whose value did not fit
 * (and only then: broken JSON names none); an absent column (declared by the stream, not in
 * the table) takes null and nothing else, and is never written. */
static void test_misfit_and_absent(void **state)
{
    (void)state;
    json_error_t je;
    json_t *sch = json_loads("{\"properties\":{\"id\":{\"type\":\"integer\"},"
                             "\"new\":{\"type\":[\"null\",\"integer\"]},"
                             "\"name\":{\"type\":[\"null\",\"string\"]}}}", 0, &je);
    assert_non_null(sch);
    struct singer_column *cols;
    int n;
    struct iv_err e = {0};
    assert_int_equal(singer_schema_map(sch, NULL, &cols, &n, &e), IV_OK);
    json_decref(sch);
    assert_int_equal(n, 3);
    cols[1].absent = true;   /* what the loader's fit_columns does for a column the table lacks */
    cols[1].accept = SINGER_J_NULL;
    cols[1].kind = SINGER_K_STRING;
    cols[1].type = LAKE_STRING;
    struct singer_stream *st = singer_stream_new("s", cols, n);
    const char *names[] = {"id", "name"};
    enum lake_type types[] = {LAKE_LONG, LAKE_STRING};
    bool req[] = {true, false};
    assert_int_equal(singer_stream_bind(st, names, types, req, 2, &e), IV_OK);

    assert_int_equal(dec(st, "{\"id\":1,\"new\":null,\"name\":\"a\"}", &e), IV_OK);
    assert_string_equal(g_rs.log.data, "0:i1|1:s[a]|\n");
    assert_null(singer_stream_misfit(st));
    assert_int_equal(dec(st, "{\"id\":2,\"new\":7,\"name\":\"b\"}", &e), IV_EINVAL);
    assert_string_equal(singer_stream_misfit(st), "new");
    assert_non_null(strstr(e.msg, "no such column"));
    assert_int_equal(g_rs.rows, 0);
    assert_int_equal(dec(st, "{\"id\":3,\"name\":5}", &e), IV_EINVAL);
    assert_string_equal(singer_stream_misfit(st), "name");
    assert_int_equal(dec(st, "{\"name\":\"c\"}", &e), IV_EINVAL);   /* required id missing */
    assert_string_equal(singer_stream_misfit(st), "id");
    assert_int_equal(dec(st, "{\"id\":99999999999999999999}", &e), IV_EINVAL);
    assert_string_equal(singer_stream_misfit(st), "id");
    /* broken records are not misfits */
    assert_int_equal(dec(st, "{\"id\":4,\"name\":\"x\",\"name\":\"y\"}", &e), IV_EINVAL);
    assert_null(singer_stream_misfit(st));
    assert_int_equal(dec(st, "{\"id\":4,\"name\":tru}", &e), IV_EINVAL);
    assert_null(singer_stream_misfit(st));
    assert_int_equal(dec(st, "{\"id\":5}", &e), IV_OK);
    assert_null(singer_stream_misfit(st));
    singer_stream_free(st);
}

/* The stream -> table name rule (docs/singer.md, "Naming rules"): expected names
 * written by hand from the rule. */
static void check_table_name(const char *stream, const char *want)
{
    char *got = NULL;
    struct iv_err e = {0};
    int rc = singer_table_name(stream, &got, &e);
    if (!want) {
        assert_int_equal(rc, IV_EINVAL);
        assert_null(got);
        assert_non_null(strstr(e.msg, "stream"));
        return;
    }
    assert_int_equal(rc, IV_OK);
    assert_string_equal(got, want);
    free(got);
}

static void test_table_names(void **state)
{
    (void)state;
    check_table_name("users", "users");
    check_table_name("test:SpecialChars!in?attributes", "test_special_charsinattributes");
    check_table_name("public-Users.v2", "public_users_v2");
    check_table_name("2024 orders", "_2024_orders");
    check_table_name("OpportunityHistory", "opportunity_history");
    check_table_name("HTTPServerLog", "http_server_log");
    check_table_name("userID", "user_id");
    check_table_name("already_snake", "already_snake");
    check_table_name("Foo_Bar", "foo_bar");
    check_table_name("a?b#c", "abc");
    check_table_name("a.b", "a_b");
    check_table_name("a_b", "a_b");
    check_table_name("ns.public.users", "ns_public_users");
    check_table_name("caf\xc3\xa9", "caf");
    check_table_name("tab\tname", "tab_name");
    check_table_name("v2Items", "v2_items");
    check_table_name("?!#", NULL);
    check_table_name("", NULL);
    char longname[400];
    memset(longname, 'a', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    check_table_name(longname, NULL);
    longname[SINGER_TABLE_NAME_MAX] = '\0';
    char *got = NULL;
    assert_int_equal(singer_table_name(longname, &got, NULL), IV_OK);
    assert_int_equal(strlen(got), SINGER_TABLE_NAME_MAX);
    free(got);
}

/* JSON Schema constructs -> kinds (docs/singer.md "Type mapping"), and exact decimals. */
static void check_kind(const char *prop, enum singer_kind want, int p, int sc)
{
    char schema[600];
    snprintf(schema, sizeof schema, "{\"properties\":{\"v\":%s}}", prop);
    json_t *j = json_loads(schema, 0, NULL);
    assert_non_null(j);
    struct singer_column *cols;
    int n;
    struct iv_err e = {0};
    assert_int_equal(singer_schema_map(j, NULL, &cols, &n, &e), IV_OK);
    if (cols[0].kind != want)
        fail_msg("%s: kind %s, want %s", prop, singer_kind_name(cols[0].kind),
                 singer_kind_name(want));
    if (want == SINGER_K_DECIMAL) {
        assert_int_equal(cols[0].precision, p);
        assert_int_equal(cols[0].scale, sc);
    }
    singer_columns_free(cols, n);
    json_decref(j);
}

static void test_schema_constructs(void **state)
{
    (void)state;
    check_kind("{\"anyOf\":[{\"type\":\"string\",\"format\":\"date-time\"},{\"type\":[\"string\",\"null\"]}]}",
               SINGER_K_STRING, 0, 0);
    check_kind("{\"anyOf\":[{\"type\":\"string\",\"format\":\"date-time\"},{\"type\":\"null\"}]}",
               SINGER_K_TIMESTAMPTZ, 0, 0);
    check_kind("{\"type\":[\"integer\",\"number\"]}", SINGER_K_DOUBLE, 0, 0);
    check_kind("{\"oneOf\":[{\"type\":\"integer\"},{\"type\":\"number\"},{\"type\":\"null\"}]}",
               SINGER_K_DOUBLE, 0, 0);
    check_kind("{\"type\":[\"string\",\"integer\"]}", SINGER_K_JSON, 0, 0);
    check_kind("{\"allOf\":[{\"type\":[\"string\",\"null\"]},{\"format\":\"date\"}]}",
               SINGER_K_DATE, 0, 0);
    check_kind("{\"allOf\":[{\"type\":[\"integer\",\"string\"]},{\"type\":[\"integer\",\"null\"]}]}",
               SINGER_K_LONG, 0, 0);
    check_kind("{}", SINGER_K_JSON, 0, 0);
    check_kind("{\"type\":\"object\"}", SINGER_K_JSON, 0, 0);
    check_kind("{\"type\":\"number\",\"multipleOf\":0.01}", SINGER_K_DECIMAL, 38, 2);
    check_kind("{\"type\":[\"null\",\"number\"],\"multipleOf\":1e-10,\"maximum\":1e18,"
               "\"exclusiveMaximum\":true,\"minimum\":-1e18,\"exclusiveMinimum\":true}",
               SINGER_K_DECIMAL, 28, 10);
    check_kind("{\"type\":\"number\",\"multipleOf\":0.5}", SINGER_K_DOUBLE, 0, 0);
    check_kind("{\"type\":\"number\",\"multipleOf\":1e-40}", SINGER_K_DOUBLE, 0, 0);
    check_kind("{\"type\":[\"string\",\"null\"],\"format\":\"singer.decimal\"}",
               SINGER_K_DECIMAL, 38, 18);
    check_kind("{\"type\":\"string\",\"format\":\"singer.decimal\","
               "\"additionalProperties\":{\"scale_precision\":\"(12,2)\"}}",
               SINGER_K_DECIMAL, 12, 2);

    struct singer_stream *st = mk_stream(
        "{\"properties\":{\"d\":{\"type\":[\"null\",\"string\"],\"format\":\"singer.decimal\"},"
        "\"m\":{\"type\":[\"null\",\"number\"],\"multipleOf\":0.0001}}}", NULL);
    struct iv_err e = {0};
    assert_int_equal(dec(st, "{\"d\":\"12345678901234567.1234567891\",\"m\":-1.5}", &e), IV_OK);
    assert_string_equal(g_rs.log.data, "0:m12345678901234567123456789100000000|1:m-15000|\n");
    assert_int_equal(dec(st, "{\"d\":\"-0.000000000000000001\",\"m\":2.5e2}", &e), IV_OK);
    assert_string_equal(g_rs.log.data, "0:m-1|1:m2500000|\n");
    assert_int_equal(dec(st, "{\"d\":\"99999999999999999999.999999999999999999\"}", &e), IV_OK);
    assert_int_equal(dec(st, "{\"d\":\"100000000000000000000\"}", &e), IV_EINVAL);
    assert_non_null(strstr(e.msg, "does not fit decimal(38,18)"));
    assert_int_equal(dec(st, "{\"m\":0.00001}", &e), IV_EINVAL);
    assert_non_null(strstr(e.msg, "more decimal places"));
    assert_int_equal(dec(st, "{\"m\":0.00010000}", &e), IV_OK);
    assert_string_equal(g_rs.log.data, "0:null|1:m1|\n");
    assert_int_equal(dec(st, "{\"d\":\"1.2.3\"}", &e), IV_EINVAL);
    assert_int_equal(dec(st, "{\"d\":\"abc\"}", &e), IV_EINVAL);
    assert_int_equal(dec(st, "{\"d\":12}", &e), IV_EINVAL);
    singer_stream_free(st);
}

static void test_json_helpers(void **state)
{
    (void)state;
    struct iv_err e = {0};
    const char *ok = " [1, {\"a\": \"b\"}] ";
    assert_int_equal(singer_json_validate(ok, strlen(ok), &e), IV_OK);
    assert_int_equal(singer_json_validate("[1,]", 4, &e), IV_EINVAL);
    assert_int_equal(singer_json_validate("01", 2, &e), IV_EINVAL);
    assert_int_equal(singer_json_validate("-", 1, &e), IV_EINVAL);
    assert_int_equal(singer_json_validate("1.", 2, &e), IV_EINVAL);
    assert_int_equal(singer_json_validate("1e", 2, &e), IV_EINVAL);
    assert_int_equal(singer_json_validate("nul", 3, &e), IV_EINVAL);
    assert_int_equal(singer_json_validate("{\"a\" 1}", 7, &e), IV_EINVAL);
    /* depth limit */
    char deep[1200];
    memset(deep, '[', 600);
    memset(deep + 600, ']', 600);
    assert_int_equal(singer_json_validate(deep, 1200, &e), IV_EINVAL);
    assert_non_null(strstr(e.msg, "deep"));
    struct buf b;
    buf_init(&b, 1024);
    const char *in = "{ \"a b\" : [ 1 , \"x \\\" y\" ] }";
    assert_int_equal(singer_json_compact(in, strlen(in), &b), IV_OK);
    assert_string_equal(b.data, "{\"a b\":[1,\"x \\\" y\"]}");
    buf_release(&b);
}

int main(void)
{
    buf_init(&g_rs.log, 1 << 26);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_schema_map_types),
        cmocka_unit_test(test_schema_map_unions),
        cmocka_unit_test(test_schema_map_errors),
        cmocka_unit_test(test_record_all_types),
        cmocka_unit_test(test_record_int_limits),
        cmocka_unit_test(test_record_strings),
        cmocka_unit_test(test_record_dates),
        cmocka_unit_test(test_record_strictness),
        cmocka_unit_test(test_record_invalid_each_position),
        cmocka_unit_test(test_parse_messages),
        cmocka_unit_test(test_reader),
        cmocka_unit_test(test_reader_many),
        cmocka_unit_test(test_bind),
        cmocka_unit_test(test_misfit_and_absent),
        cmocka_unit_test(test_json_helpers),
        cmocka_unit_test(test_table_names),
        cmocka_unit_test(test_schema_constructs),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    buf_release(&g_rs.log);
    return rc;
}
