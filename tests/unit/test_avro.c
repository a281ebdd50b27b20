/*
 * test_avro: the Avro container writer/reader (src/lake/avro.c).
 *
 * Writes containers with an Iceberg-style schema (field-id / element-id attributes,
 * unions, arrays of records, maps, enum, fixed, named-type references) and custom header
 * keys, with each codec; reads them back with avsc (tests/readers/avro_dump.mjs, via
 * popen from the repository root) and with avro_read_file; re-encodes what was read with
 * avro_encode_json and requires the identical bytes. Also feeds corrupt files to the
 * reader, which must fail with an error rather than crash or over-read.
 */
#include "unit.h"
#include "lake/avro.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *SCHEMA =
    "{\"type\":\"record\",\"name\":\"manifest_file\",\"fields\":["
    "{\"name\":\"manifest_path\",\"type\":\"string\",\"field-id\":500},"
    "{\"name\":\"manifest_length\",\"type\":\"long\",\"field-id\":501},"
    "{\"name\":\"partition_spec_id\",\"type\":\"int\",\"field-id\":502},"
    "{\"name\":\"flag\",\"type\":\"boolean\",\"field-id\":900},"
    "{\"name\":\"ratio\",\"type\":\"double\",\"field-id\":901},"
    "{\"name\":\"ratio32\",\"type\":\"float\",\"field-id\":902},"
    "{\"name\":\"kind\",\"type\":{\"type\":\"enum\",\"name\":\"kind_t\",\"symbols\":[\"DATA\",\"DELETES\"]},\"field-id\":903},"
    "{\"name\":\"digest\",\"type\":{\"type\":\"fixed\",\"name\":\"md5\",\"size\":16},\"field-id\":904},"
    "{\"name\":\"digest2\",\"type\":[\"null\",\"md5\"],\"default\":null,\"field-id\":905},"
    "{\"name\":\"props\",\"type\":{\"type\":\"map\",\"values\":\"string\"},\"field-id\":906},"
    "{\"name\":\"multi\",\"type\":[\"null\",\"long\",\"string\"],\"default\":null,\"field-id\":907},"
    "{\"name\":\"partitions\",\"type\":[\"null\",{\"type\":\"array\",\"items\":{\"type\":\"record\",\"name\":\"r508\",\"fields\":["
    "{\"name\":\"contains_null\",\"type\":\"boolean\",\"field-id\":509},"
    "{\"name\":\"lower_bound\",\"type\":[\"null\",\"bytes\"],\"default\":null,\"field-id\":510}]},"
    "\"element-id\":508}],\"default\":null,\"field-id\":507},"
    "{\"name\":\"column_sizes\",\"type\":[\"null\",{\"type\":\"array\",\"logicalType\":\"map\",\"items\":{\"type\":\"record\","
    "\"name\":\"k117_v118\",\"fields\":[{\"name\":\"key\",\"type\":\"int\",\"field-id\":117},"
    "{\"name\":\"value\",\"type\":\"long\",\"field-id\":118}]}}],\"default\":null,\"field-id\":108},"
    "{\"name\":\"key_metadata\",\"type\":[\"null\",\"bytes\"],\"default\":null,\"field-id\":519}]}";

static char tmpdir[256];

static int setup(void **state)
{
    (void)state;
    return unit_tmpdir_make(tmpdir, sizeof tmpdir, "avro");
}

static int teardown(void **state)
{
    (void)state;
    return unit_tmpdir_remove(tmpdir);
}

static json_t *b64(const void *p, size_t n)
{
    char *s = base64_encode(p, n);
    json_t *o = json_pack("{s:s}", "$bytes", s);
    free(s);
    return o;
}

/* A deterministic record; i selects the union branches. */
static json_t *make_record(int i)
{
    char path[128];
    snprintf(path, sizeof path, "file:///wh/db/t/metadata/%08d-m%d.avro — ünïcode", i, i % 3);
    uint8_t dg[16];
    for (int k = 0; k < 16; k++)
        dg[k] = (uint8_t)(i * 31 + k * 7);
    json_t *r = json_object();
    json_object_set_new(r, "manifest_path", json_string(path));
    json_object_set_new(r, "manifest_length",
                        json_integer(i == 1 ? INT64_MAX : i == 2 ? INT64_MIN : (json_int_t)i * 1000003));
    json_object_set_new(r, "partition_spec_id", json_integer(i == 3 ? INT32_MIN : i % 5));
    json_object_set_new(r, "flag", json_boolean(i & 1));
    json_object_set_new(r, "ratio", i == 4 ? json_string("NaN") : json_real(i / 8.0 - 3));
    json_object_set_new(r, "ratio32", i == 5 ? json_string("-Infinity") : json_real(i * 0.25));
    json_object_set_new(r, "kind", json_string(i % 2 ? "DELETES" : "DATA"));
    json_object_set_new(r, "digest", b64(dg, 16));
    json_object_set_new(r, "digest2", i % 3 ? b64(dg, 16) : json_null());
    json_t *props = json_object();
    for (int k = 0; k < i % 4; k++) {
        char key[16];
        snprintf(key, sizeof key, "k%d", k);
        json_object_set_new(props, key, json_string(k ? "v" : ""));
    }
    json_object_set_new(r, "props", props);
    json_object_set_new(r, "multi", i % 3 == 0 ? json_null() : i % 3 == 1
                                     ? json_integer(-(json_int_t)i * 77) : json_string("str"));
    if (i % 4 == 0) {
        json_object_set_new(r, "partitions", json_null());
    } else {
        json_t *arr = json_array();
        for (int k = 0; k < i % 4; k++) {
            uint8_t lb[3] = {(uint8_t)k, 0xFF, (uint8_t)i};
            json_array_append_new(arr, json_pack("{s:b,s:o}", "contains_null", k & 1,
                                                 "lower_bound", k == 1 ? json_null() : b64(lb, 3)));
        }
        json_object_set_new(r, "partitions", arr);
    }
    json_t *cs = json_array();
    for (int k = 0; k < i % 3; k++)
        json_array_append_new(cs, json_pack("{s:i,s:I}", "key", k + 1, "value",
                                            (json_int_t)(i + k) * 4096));
    json_object_set_new(r, "column_sizes", cs);
    json_object_set_new(r, "key_metadata", i % 5 == 0 ? b64("", 0) : json_null());
    return r;
}

/* Compares an avsc record with the expected one (longs beyond 2^53 come as strings). */
static bool same_json(const json_t *want, const json_t *got)
{
    if (json_is_integer(want) && json_is_string(got))
        return strtoll(json_string_value(got), NULL, 10) == json_integer_value(want) &&
               json_integer_value(want) != 0;
    if (json_is_real(want) && json_is_number(got))
        return json_real_value(want) == json_number_value(got);
    if (json_is_object(want) && json_is_object(got)) {
        if (json_object_size(want) != json_object_size(got))
            return false;
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)want, k, v)
            if (!same_json(v, json_object_get(got, k)))
                return false;
        return true;
    }
    if (json_is_array(want) && json_is_array(got)) {
        if (json_array_size(want) != json_array_size(got))
            return false;
        for (size_t i = 0; i < json_array_size(want); i++)
            if (!same_json(json_array_get(want, i), json_array_get(got, i)))
                return false;
        return true;
    }
    return json_equal(want, got);
}

static json_t *run_avsc(const char *path)
{
    char *cmd = xasprintf("node tests/readers/avro_dump.mjs '%s'", path);
    FILE *p = popen(cmd, "r");
    free(cmd);
    assert_non_null(p);
    json_error_t je;
    json_t *j = json_loadf(p, 0, &je);
    int st = pclose(p);
    assert_int_equal(st, 0);
    assert_non_null(j);
    return j;
}

static void roundtrip_codec(enum avro_codec codec, const char *codec_name, int nrec)
{
    json_error_t je;
    json_t *schema = json_loads(SCHEMA, 0, &je);
    assert_non_null(schema);
    char *path = xasprintf("%s/rt-%s.avro", tmpdir, codec_name);
    const char *meta[] = {"snapshot-id", "3051729675574597004", "parent-snapshot-id", "null",
                          "format-version", "2", "schema", "{\"type\":\"struct\",\"fields\":[]}",
                          NULL};
    struct avro_writer *w;
    struct iv_err e = {0};
    assert_int_equal(avro_writer_open(&w, path, SCHEMA, meta, codec, &e), 0);
    json_t *want = json_array();
    struct buf all;
    buf_init(&all, 0);
    for (int i = 0; i < nrec; i++) {
        json_t *r = make_record(i);
        struct buf *rb = avro_writer_record(w);
        assert_int_equal(avro_encode_json(rb, schema, r, &e), 0);
        buf_append(&all, rb->data, rb->len);
        assert_int_equal(avro_writer_end_record(w), 0);
        json_array_append_new(want, r);
    }
    int64_t size = 0;
    assert_int_equal(avro_writer_finish(w, &size, &e), 0);
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(size, sb.st_size);

    /* independent reader */
    json_t *j = run_avsc(path);
    assert_string_equal(json_string_value(json_object_get(j, "codec")), codec_name);
    const json_t *m = json_object_get(j, "meta");
    assert_string_equal(json_str(m, "avro.schema"), SCHEMA);   /* verbatim: field-ids kept */
    assert_string_equal(json_str(m, "avro.codec"), codec_name);
    assert_string_equal(json_str(m, "snapshot-id"), "3051729675574597004");
    assert_string_equal(json_str(m, "parent-snapshot-id"), "null");
    assert_string_equal(json_str(m, "format-version"), "2");
    assert_string_equal(json_str(m, "schema"), "{\"type\":\"struct\",\"fields\":[]}");
    const json_t *recs = json_object_get(j, "records");
    assert_int_equal(json_array_size(recs), (size_t)nrec);
    for (int i = 0; i < nrec; i++) {
        if (!same_json(json_array_get(want, (size_t)i), json_array_get(recs, (size_t)i))) {
            char *a = json_dumps(json_array_get(want, (size_t)i), 0);
            char *b = json_dumps(json_array_get(recs, (size_t)i), 0);
            fail_msg("record %d differs:\n want %s\n got  %s", i, a, b);
        }
    }
    json_decref(j);

    /* our reader, then re-encode byte-identically */
    json_t *rs, *rm, *rr;
    assert_int_equal(avro_read_file(path, &rs, &rm, &rr, &e), 0);
    assert_true(json_equal(rs, schema));
    assert_string_equal(json_str(rm, "avro.codec"), codec_name);
    assert_string_equal(json_str(rm, "snapshot-id"), "3051729675574597004");
    assert_int_equal(json_array_size(rr), (size_t)nrec);
    struct buf again;
    buf_init(&again, 0);
    for (int i = 0; i < nrec; i++) {
        const json_t *got = json_array_get(rr, (size_t)i);
        if (!json_equal(got, json_array_get(want, (size_t)i))) {
            char *a = json_dumps(json_array_get(want, (size_t)i), 0);
            char *b = json_dumps(got, 0);
            fail_msg("own reader record %d differs:\n want %s\n got  %s", i, a, b);
        }
        assert_int_equal(avro_encode_json(&again, rs, got, &e), 0);
    }
    assert_int_equal(again.len, all.len);
    assert_memory_equal(again.data, all.data, all.len);
    buf_release(&again);
    buf_release(&all);
    json_decref(rs);
    json_decref(rm);
    json_decref(rr);
    json_decref(want);
    json_decref(schema);
    free(path);
}

static void test_null_codec(void **s) { (void)s; roundtrip_codec(AVRO_NULL, "null", 3000); }
static void test_deflate_codec(void **s) { (void)s; roundtrip_codec(AVRO_DEFLATE, "deflate", 3000); }
static void test_snappy_codec(void **s) { (void)s; roundtrip_codec(AVRO_SNAPPY, "snappy", 3000); }
static void test_zstd_codec(void **s) { (void)s; roundtrip_codec(AVRO_ZSTD, "zstandard", 3000); }
static void test_zero_records(void **s) { (void)s; roundtrip_codec(AVRO_DEFLATE, "deflate", 0); }

static void test_primitives(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 0);
    assert_int_equal(avro_put_long(&b, 0), 0);
    assert_int_equal(avro_put_long(&b, -1), 0);
    assert_int_equal(avro_put_long(&b, 1), 0);
    assert_int_equal(avro_put_long(&b, -64), 0);
    assert_int_equal(avro_put_long(&b, 64), 0);
    const uint8_t want[] = {0x00, 0x01, 0x02, 0x7f, 0x80, 0x01};
    assert_int_equal(b.len, sizeof want);
    assert_memory_equal(b.data, want, sizeof want);
    buf_reset(&b);
    assert_int_equal(avro_put_long(&b, INT64_MIN), 0);
    assert_int_equal(b.len, 10);
    assert_int_equal((uint8_t)b.data[9], 0x01);
    buf_reset(&b);
    assert_int_equal(avro_put_string(&b, "foo"), 0);
    assert_int_equal(avro_put_bool(&b, true), 0);
    assert_int_equal(avro_put_double(&b, 1.0), 0);
    const uint8_t w2[] = {0x06, 'f', 'o', 'o', 0x01, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f};
    assert_memory_equal(b.data, w2, sizeof w2);
    /* a bounded buffer reports IV_ETOOBIG */
    struct buf small;
    buf_init(&small, 4);
    assert_int_equal(avro_put_string(&small, "toolong"), IV_ETOOBIG);
    buf_release(&small);
    buf_release(&b);
}

static void write_bytes(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(p, 1, n, f), n);
    fclose(f);
}

static void test_corrupt_files_fail_cleanly(void **state)
{
    (void)state;
    const char *sch = "{\"type\":\"record\",\"name\":\"r\",\"fields\":[{\"name\":\"s\",\"type\":\"string\"}]}";
    json_error_t je;
    json_t *schema = json_loads(sch, 0, &je);
    char *path = xasprintf("%s/ok.avro", tmpdir);
    struct avro_writer *w;
    struct iv_err e = {0};
    assert_int_equal(avro_writer_open(&w, path, sch, NULL, AVRO_NULL, &e), 0);
    for (int i = 0; i < 3; i++) {
        json_t *r = json_pack("{s:s}", "s", "hello");
        assert_int_equal(avro_encode_json(avro_writer_record(w), schema, r, &e), 0);
        assert_int_equal(avro_writer_end_record(w), 0);
        json_decref(r);
    }
    int64_t size;
    assert_int_equal(avro_writer_finish(w, &size, &e), 0);
    char *data;
    size_t len;
    assert_int_equal(file_read_all(path, 1 << 20, &data, &len, &e), 0);
    assert_int_equal((int64_t)len, size);
    char *bad = xasprintf("%s/bad.avro", tmpdir);
    json_t *a, *b, *c;
    /* every truncation must fail (never crash, never over-read), except the cut right
     * after the header, which is a valid container with no blocks */
    int empty_ok = 0;
    for (size_t cut = 0; cut < len; cut++) {
        write_bytes(bad, data, cut);
        int rc = avro_read_file(bad, &a, &b, &c, &e);
        if (rc == 0) {
            assert_int_equal(json_array_size(c), 0);
            empty_ok++;
            json_decref(a);
            json_decref(b);
            json_decref(c);
            continue;
        }
        assert_null(c);
    }
    assert_int_equal(empty_ok, 1);
    /* string length pointing past the block: the first record's length byte is right
     * after the block's count and size varints; find "hello" and bump its length */
    char *hello = memmem(data, len, "hello", 5);
    assert_non_null(hello);
    char *copy = xmalloc(len);
    memcpy(copy, data, len);
    copy[hello - data - 1] = 0x7e;   /* zigzag 63 */
    write_bytes(bad, copy, len);
    assert_int_not_equal(avro_read_file(bad, &a, &b, &c, &e), 0);
    assert_non_null(strstr(e.msg, "bad.avro"));
    /* corrupt sync marker */
    memcpy(copy, data, len);
    copy[len - 1] ^= 0x55;
    write_bytes(bad, copy, len);
    assert_int_not_equal(avro_read_file(bad, &a, &b, &c, &e), 0);
    assert_non_null(strstr(e.msg, "sync"));
    /* the intact file reads */
    assert_int_equal(avro_read_file(path, &a, &b, &c, &e), 0);
    assert_int_equal(json_array_size(c), 3);
    json_decref(a);
    json_decref(b);
    json_decref(c);
    /* encode errors: wrong types leave nothing in the buffer */
    struct buf out;
    buf_init(&out, 0);
    json_t *r = json_pack("{s:i}", "s", 5);
    assert_int_equal(avro_encode_json(&out, schema, r, &e), IV_EINVAL);
    assert_int_equal(out.len, 0);
    json_decref(r);
    r = json_object();
    assert_int_equal(avro_encode_json(&out, schema, r, &e), IV_EINVAL);
    assert_non_null(strstr(e.msg, "'s'"));
    json_decref(r);
    buf_release(&out);
    /* writer input errors: reserved keys, invalid schema; abort leaves nothing */
    const char *reserved[] = {"avro.codec", "x", NULL};
    assert_int_equal(avro_writer_open(&w, bad, sch, reserved, AVRO_NULL, &e), IV_EINVAL);
    assert_int_equal(avro_writer_open(&w, bad, "{not json", NULL, AVRO_NULL, &e), IV_EINVAL);
    char *p2 = xasprintf("%s/aborted.avro", tmpdir);
    assert_int_equal(avro_writer_open(&w, p2, sch, NULL, AVRO_ZSTD, &e), 0);
    avro_writer_abort(w);
    char *cmd = xasprintf("ls '%s' | grep -c tmp- >/dev/null", tmpdir);
    assert_int_not_equal(system(cmd), 0);   /* no temp files left */
    free(cmd);
    free(p2);
    free(copy);
    free(data);
    free(bad);
    free(path);
    json_decref(schema);
}

/* Random byte corruption of a realistic file, for every codec: the reader must return
 * (success or a clean error) without any sanitizer report. */
static void test_random_corruption(void **state)
{
    (void)state;
    json_error_t je;
    json_t *schema = json_loads(SCHEMA, 0, &je);
    static const enum avro_codec codecs[] = {AVRO_NULL, AVRO_DEFLATE, AVRO_SNAPPY, AVRO_ZSTD};
    uint64_t x = 0x9E3779B97F4A7C15ull;
    char *path = xasprintf("%s/fuzz.avro", tmpdir);
    char *bad = xasprintf("%s/fuzz-bad.avro", tmpdir);
    int failures = 0, total = 0;
    for (size_t k = 0; k < 4; k++) {
        struct avro_writer *w;
        struct iv_err e = {0};
        assert_int_equal(avro_writer_open(&w, path, SCHEMA, NULL, codecs[k], &e), 0);
        for (int i = 0; i < 40; i++) {
            json_t *r = make_record(i);
            assert_int_equal(avro_encode_json(avro_writer_record(w), schema, r, &e), 0);
            assert_int_equal(avro_writer_end_record(w), 0);
            json_decref(r);
        }
        assert_int_equal(avro_writer_finish(w, NULL, &e), 0);
        char *data;
        size_t len;
        assert_int_equal(file_read_all(path, 1 << 20, &data, &len, &e), 0);
        char *copy = xmalloc(len);
        for (int round = 0; round < 300; round++) {
            memcpy(copy, data, len);
            int flips = 1 + (int)(x % 4);
            for (int f = 0; f < flips; f++) {
                x ^= x << 13; x ^= x >> 7; x ^= x << 17;
                copy[x % len] = (char)(x >> 40);
            }
            write_bytes(bad, copy, len);
            json_t *a, *b, *c;
            int rc = avro_read_file(bad, &a, &b, &c, &e);
            total++;
            if (rc) {
                failures++;
                assert_null(c);
                assert_true(e.msg[0] != 0);
            } else {
                json_decref(a);
                json_decref(b);
                json_decref(c);
            }
        }
        free(copy);
        free(data);
    }
    assert_true(failures > total / 2);   /* most corruptions are detected */
    free(path);
    free(bad);
    json_decref(schema);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_primitives),
        cmocka_unit_test(test_null_codec),
        cmocka_unit_test(test_deflate_codec),
        cmocka_unit_test(test_snappy_codec),
        cmocka_unit_test(test_zstd_codec),
        cmocka_unit_test(test_zero_records),
        cmocka_unit_test(test_corrupt_files_fail_cleanly),
        cmocka_unit_test(test_random_corruption),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
