/*
 * lake/avro: Avro Object Container Files for Iceberg manifests and manifest lists.
 *
 * Why our own: Debian's libavro (avro-c 1.11.1) writes only the avro.schema and
 * avro.codec header keys, so Iceberg's required keys (schema, partition-spec,
 * format-version, snapshot-id, ...) cannot be written, and it re-serialises the
 * schema, dropping the field-id / element-id attributes that Iceberg readers match
 * columns by. The framing and the small binary encoding are therefore done here,
 * with the schema JSON stored verbatim.
 *
 * FILE LAYOUT (Avro spec, "Object Container Files")
 *   "Obj" 0x01
 *   header map<bytes>: long N, N x (string key, bytes value), long 0
 *   16-byte sync marker (random per file)
 *   blocks: long record_count, long byte_size, byte_size bytes (codec output), sync
 * Codecs: null; deflate = raw RFC 1951 (zlib windowBits -15); snappy = raw block +
 * 4-byte big-endian CRC32 of the uncompressed data; zstandard = one zstd frame.
 *
 * The reader decodes against the writer schema in the header into jansson values
 * (conventions in avro.h); every length is checked against the bytes that remain
 * and the decompressed size is capped, so a corrupt or hostile file fails cleanly.
 * avro_encode_json is the exact inverse for single-block arrays/maps, which is what
 * every writer we read (ours, Java, PyIceberg) produces for manifests.
 */
#include "lake/avro.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <snappy-c.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#define AVRO_BLOCK_TARGET (256 * 1024)          /* flush a block past this many bytes */
#define AVRO_MAX_FILE ((size_t)1 << 30)         /* reader: refuse bigger files */
#define AVRO_MAX_BLOCK ((size_t)512 << 20)      /* reader: max decompressed block */
#define AVRO_MAX_DEPTH 64

/* ---- primitives --------------------------------------------------------------- */

int avro_put_long(struct buf *b, int64_t v)
{
    uint64_t z = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
    uint8_t tmp[10];
    size_t n = 0;
    while (z >= 0x80) {
        tmp[n++] = (uint8_t)(z | 0x80);
        z >>= 7;
    }
    tmp[n++] = (uint8_t)z;
    return buf_append(b, tmp, n);
}

int avro_put_bool(struct buf *b, bool v)
{
    return buf_putc(b, v ? 1 : 0);
}

int avro_put_float(struct buf *b, float v)
{
    uint8_t tmp[4];
    memcpy(tmp, &v, 4);   /* little-endian host (x86-64, aarch64) */
    return buf_append(b, tmp, 4);
}

int avro_put_double(struct buf *b, double v)
{
    uint8_t tmp[8];
    memcpy(tmp, &v, 8);
    return buf_append(b, tmp, 8);
}

int avro_put_bytes(struct buf *b, const void *p, size_t n)
{
    int rc = avro_put_long(b, (int64_t)n);
    return rc ? rc : buf_append(b, p, n);
}

int avro_put_string(struct buf *b, const char *s)
{
    return avro_put_bytes(b, s, strlen(s));
}

int avro_put_fixed(struct buf *b, const void *p, size_t n)
{
    return buf_append(b, p, n);
}

/* ---- writer ------------------------------------------------------------------ */

struct avro_writer {
    char *path, *tmp;
    int fd;
    int64_t off;
    enum avro_codec codec;
    uint8_t sync[16];
    struct buf rec;          /* current record (caller encodes here) */
    struct buf block;        /* encoded records of the current block */
    int64_t block_count;
    struct buf out;          /* scratch: compressed block + framing */
    int err;                 /* sticky error from a block flush in end_record */
    struct iv_err err_detail;
};

static const char *codec_name(enum avro_codec c)
{
    switch (c) {
    case AVRO_NULL: return "null";
    case AVRO_DEFLATE: return "deflate";
    case AVRO_SNAPPY: return "snappy";
    case AVRO_ZSTD: return "zstandard";
    }
    return NULL;
}

static int aw_write(struct avro_writer *w, const void *p, size_t n, struct iv_err *e)
{
    if (fd_write_all(w->fd, p, n) < 0)
        return iv_err_set(e, IV_EIO, "write('%s') failed: %s", w->tmp, strerror(errno));
    w->off += (int64_t)n;
    return IV_OK;
}

static void aw_free(struct avro_writer *w)
{
    if (!w)
        return;
    if (w->fd >= 0)
        close(w->fd);
    buf_release(&w->rec);
    buf_release(&w->block);
    buf_release(&w->out);
    free(w->path);
    free(w->tmp);
    free(w);
}

/* Compresses src into dst (appending) with the codec. */
static int avro_compress(enum avro_codec codec, const uint8_t *src, size_t n, struct buf *dst,
                         struct iv_err *e)
{
    switch (codec) {
    case AVRO_NULL:
        return buf_append(dst, src, n) ? iv_err_set(e, IV_ETOOBIG, "avro block too large") : 0;
    case AVRO_DEFLATE: {
        z_stream z;
        memset(&z, 0, sizeof z);
        if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) != Z_OK)
            return iv_err_set(e, IV_ENOMEM, "avro deflate: init failed");
        size_t bound = deflateBound(&z, (uLong)n);
        if (buf_reserve(dst, bound)) {
            deflateEnd(&z);
            return iv_err_set(e, IV_ETOOBIG, "avro block too large");
        }
        z.next_in = (Bytef *)src;
        z.avail_in = (uInt)n;
        z.next_out = (Bytef *)dst->data + dst->len;
        z.avail_out = (uInt)bound;
        int zr = deflate(&z, Z_FINISH);
        size_t produced = bound - z.avail_out;
        deflateEnd(&z);
        if (zr != Z_STREAM_END)
            return iv_err_set(e, IV_EIO, "avro deflate failed (%d)", zr);
        dst->len += produced;
        return 0;
    }
    case AVRO_SNAPPY: {
        size_t bound = snappy_max_compressed_length(n);
        if (buf_reserve(dst, bound + 4))
            return iv_err_set(e, IV_ETOOBIG, "avro block too large");
        size_t clen = bound;
        if (snappy_compress((const char *)src, n, dst->data + dst->len, &clen) != SNAPPY_OK)
            return iv_err_set(e, IV_EIO, "avro snappy compression failed");
        dst->len += clen;
        uint32_t crc = (uint32_t)crc32(0L, src, (uInt)n);
        uint8_t be[4] = {(uint8_t)(crc >> 24), (uint8_t)(crc >> 16), (uint8_t)(crc >> 8),
                         (uint8_t)crc};
        buf_append(dst, be, 4);
        return 0;
    }
    case AVRO_ZSTD: {
        size_t bound = ZSTD_compressBound(n);
        if (buf_reserve(dst, bound))
            return iv_err_set(e, IV_ETOOBIG, "avro block too large");
        size_t r = ZSTD_compress(dst->data + dst->len, bound, src, n, 3);
        if (ZSTD_isError(r))
            return iv_err_set(e, IV_EIO, "avro zstd: %s", ZSTD_getErrorName(r));
        dst->len += r;
        return 0;
    }
    }
    return iv_err_set(e, IV_EINVAL, "unknown avro codec");
}

static int aw_flush_block(struct avro_writer *w, struct iv_err *e)
{
    if (w->block_count == 0)
        return IV_OK;
    struct buf z;
    buf_init(&z, 0);
    int rc = avro_compress(w->codec, (const uint8_t *)w->block.data, w->block.len, &z, e);
    if (!rc) {
        buf_reset(&w->out);
        avro_put_long(&w->out, w->block_count);
        avro_put_long(&w->out, (int64_t)z.len);
        rc = aw_write(w, w->out.data, w->out.len, e);
    }
    if (!rc)
        rc = aw_write(w, z.data, z.len, e);
    if (!rc)
        rc = aw_write(w, w->sync, 16, e);
    buf_release(&z);
    buf_reset(&w->block);
    w->block_count = 0;
    return rc;
}

int avro_writer_open(struct avro_writer **out, const char *path, const char *schema_json,
                     const char *const *meta, enum avro_codec codec, struct iv_err *e)
{
    *out = NULL;
    if (!path || !*path)
        return iv_err_set(e, IV_EINVAL, "avro writer: empty path");
    if (!codec_name(codec))
        return iv_err_set(e, IV_EINVAL, "avro file '%s': unknown codec %d", path, (int)codec);
    json_error_t je;
    json_t *sj = schema_json ? json_loads(schema_json, JSON_DECODE_ANY, &je) : NULL;
    if (!sj)
        return iv_err_set(e, IV_EINVAL, "avro file '%s': schema is not valid JSON", path);
    json_decref(sj);
    size_t nmeta = 0;
    for (; meta && meta[2 * nmeta]; nmeta++) {
        if (!meta[2 * nmeta + 1])
            return iv_err_set(e, IV_EINVAL, "avro file '%s': metadata key '%s' has no value",
                              path, meta[2 * nmeta]);
        if (!strcmp(meta[2 * nmeta], "avro.schema") || !strcmp(meta[2 * nmeta], "avro.codec"))
            return iv_err_set(e, IV_EINVAL, "avro file '%s': metadata key '%s' is reserved",
                              path, meta[2 * nmeta]);
    }
    struct avro_writer *w = xcalloc(1, sizeof *w);
    w->fd = -1;
    w->codec = codec;
    w->path = xstrdup(path);
    buf_init(&w->rec, 0);
    buf_init(&w->block, 0);
    buf_init(&w->out, 0);
    random_bytes(w->sync, 16);
    char rnd[37];
    uuid_v4(rnd);
    w->tmp = xasprintf("%s.tmp-%s", path, rnd);
    w->fd = open(w->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (w->fd < 0) {
        int rc = iv_err_set(e, IV_EIO, "cannot create '%s': %s", w->tmp, strerror(errno));
        aw_free(w);
        return rc;
    }
    struct buf *h = &w->out;
    buf_append(h, "Obj\x01", 4);
    avro_put_long(h, (int64_t)(nmeta + 2));
    avro_put_string(h, "avro.schema");
    avro_put_string(h, schema_json);
    avro_put_string(h, "avro.codec");
    avro_put_string(h, codec_name(codec));
    for (size_t k = 0; k < nmeta; k++) {
        avro_put_string(h, meta[2 * k]);
        avro_put_string(h, meta[2 * k + 1]);
    }
    avro_put_long(h, 0);
    buf_append(h, w->sync, 16);
    int rc = aw_write(w, h->data, h->len, e);
    if (rc) {
        unlink(w->tmp);
        aw_free(w);
        return rc;
    }
    *out = w;
    return IV_OK;
}

struct buf *avro_writer_record(struct avro_writer *w)
{
    return &w->rec;
}

int avro_writer_end_record(struct avro_writer *w)
{
    if (w->err)
        return w->err;
    if (buf_append(&w->block, w->rec.data ? w->rec.data : "", w->rec.len)) {
        w->err = iv_err_set(&w->err_detail, IV_ETOOBIG, "avro file '%s': block too large",
                            w->path);
        return w->err;
    }
    buf_reset(&w->rec);
    w->block_count++;
    if (w->block.len >= AVRO_BLOCK_TARGET)
        w->err = aw_flush_block(w, &w->err_detail);
    return w->err;
}

int avro_writer_finish(struct avro_writer *w, int64_t *size_out, struct iv_err *e)
{
    int rc = w->err ? iv_err_set(e, w->err, "%s", w->err_detail.msg) : aw_flush_block(w, e);
    if (!rc && fsync(w->fd) < 0)
        rc = iv_err_set(e, IV_EIO, "fsync('%s') failed: %s", w->tmp, strerror(errno));
    if (!rc) {
        int fd = w->fd;
        w->fd = -1;
        if (close(fd) < 0)
            rc = iv_err_set(e, IV_EIO, "close('%s') failed: %s", w->tmp, strerror(errno));
    }
    if (!rc && rename(w->tmp, w->path) < 0)
        rc = iv_err_set(e, IV_EIO, "rename('%s') failed: %s", w->tmp, strerror(errno));
    if (rc) {
        unlink(w->tmp);
        aw_free(w);
        return rc;
    }
    if (fsync_dir_of(w->path) != IV_OK)
        log_warn("avro: fsync of the directory of '%s' failed", w->path);
    if (size_out)
        *size_out = w->off;
    aw_free(w);
    return IV_OK;
}

void avro_writer_abort(struct avro_writer *w)
{
    if (!w)
        return;
    if (w->fd >= 0) {
        close(w->fd);
        w->fd = -1;
    }
    unlink(w->tmp);
    aw_free(w);
}

/* ---- named types ------------------------------------------------------------- */

/* Collects record/enum/fixed definitions (by name and full name) into names. */
static void collect_names(const json_t *s, const char *ns, json_t *names, int depth)
{
    if (depth > AVRO_MAX_DEPTH)
        return;
    if (json_is_array(s)) {
        size_t i;
        const json_t *x;
        json_array_foreach(s, i, x)
            collect_names(x, ns, names, depth + 1);
        return;
    }
    if (!json_is_object(s))
        return;
    const char *type = json_str(s, "type");
    if (!type) {
        collect_names(json_object_get(s, "type"), ns, names, depth + 1);
        return;
    }
    const char *name = json_str(s, "name");
    if (name && (!strcmp(type, "record") || !strcmp(type, "error") || !strcmp(type, "enum") ||
                 !strcmp(type, "fixed"))) {
        const char *sns = json_str(s, "namespace");
        if (strchr(name, '.')) {
            json_object_set(names, name, (json_t *)s);
            const char *dot = strrchr(name, '.');
            json_object_set(names, dot + 1, (json_t *)s);
        } else {
            const char *use = sns ? sns : ns;
            json_object_set(names, name, (json_t *)s);
            if (use && *use) {
                char *full = xasprintf("%s.%s", use, name);
                json_object_set(names, full, (json_t *)s);
                free(full);
            }
            if (sns)
                ns = sns;
        }
    }
    if (!strcmp(type, "record") || !strcmp(type, "error")) {
        size_t i;
        const json_t *f;
        json_array_foreach(json_object_get(s, "fields"), i, f)
            collect_names(json_object_get(f, "type"), ns, names, depth + 1);
    } else if (!strcmp(type, "array")) {
        collect_names(json_object_get(s, "items"), ns, names, depth + 1);
    } else if (!strcmp(type, "map")) {
        collect_names(json_object_get(s, "values"), ns, names, depth + 1);
    }
}

static bool is_primitive(const char *t)
{
    static const char *const p[] = {"null", "boolean", "int", "long", "float", "double",
                                    "bytes", "string"};
    for (size_t k = 0; k < sizeof p / sizeof p[0]; k++)
        if (!strcmp(t, p[k]))
            return true;
    return false;
}

/* Resolves a schema node to (type name, node): references become their definition. */
static const char *resolve(const json_t *s, const json_t *names, const json_t **node)
{
    for (int hops = 0; hops < 8; hops++) {
        if (json_is_string(s)) {
            const char *t = json_string_value(s);
            if (is_primitive(t)) {
                *node = s;
                return t;
            }
            const json_t *def = json_object_get(names, t);
            if (!def)
                return NULL;
            s = def;
            continue;
        }
        if (json_is_array(s)) {
            *node = s;
            return "union";
        }
        if (json_is_object(s)) {
            const json_t *t = json_object_get(s, "type");
            if (json_is_string(t)) {
                const char *ts = json_string_value(t);
                if (is_primitive(ts) || !strcmp(ts, "record") || !strcmp(ts, "error") ||
                    !strcmp(ts, "enum") || !strcmp(ts, "array") || !strcmp(ts, "map") ||
                    !strcmp(ts, "fixed")) {
                    *node = s;
                    return !strcmp(ts, "error") ? "record" : ts;
                }
            }
            s = t;   /* {"type": <named ref or nested schema>} */
            continue;
        }
        return NULL;
    }
    return NULL;
}

/* ---- decoder ----------------------------------------------------------------- */

struct rd {
    const uint8_t *p;
    size_t len, pos;
    const json_t *names;
    struct iv_err *e;
    const char *path;
};

static int rd_fail(struct rd *r, const char *what)
{
    return iv_err_set(r->e, IV_EINVAL, "avro file '%s': %s at byte %zu", r->path, what, r->pos);
}

static int rd_long(struct rd *r, int64_t *out)
{
    uint64_t v = 0;
    for (int shift = 0; shift < 70; shift += 7) {
        if (r->pos >= r->len)
            return rd_fail(r, "truncated varint");
        uint8_t c = r->p[r->pos++];
        if (shift == 63 && (c & 0x7e))
            return rd_fail(r, "varint overflow");
        v |= (uint64_t)(c & 0x7f) << shift;
        if (!(c & 0x80)) {
            *out = (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
            return 0;
        }
    }
    return rd_fail(r, "varint too long");
}

static int rd_len(struct rd *r, size_t *n)
{
    int64_t v;
    int rc = rd_long(r, &v);
    if (rc)
        return rc;
    if (v < 0 || (uint64_t)v > r->len - r->pos)
        return rd_fail(r, "length beyond the end of the data");
    *n = (size_t)v;
    return 0;
}

static json_t *bytes_json(const uint8_t *p, size_t n)
{
    char *b64 = base64_encode(p, n);
    json_t *o = json_pack("{s:s}", "$bytes", b64);
    free(b64);
    return o;
}

static json_t *float_json(double d)
{
    if (isnan(d))
        return json_string("NaN");
    if (isinf(d))
        return json_string(d > 0 ? "Infinity" : "-Infinity");
    return json_real(d);
}

static int decode(struct rd *r, const json_t *schema, json_t **out, int depth);

static int decode_blocks(struct rd *r, const json_t *item, bool map, json_t *acc, int depth)
{
    for (;;) {
        int64_t count;
        int rc = rd_long(r, &count);
        if (rc)
            return rc;
        if (count == 0)
            return 0;
        if (count < 0) {
            int64_t bsize;
            if (count == INT64_MIN || (rc = rd_long(r, &bsize)))
                return rc ? rc : rd_fail(r, "bad block count");
            count = -count;
        }
        if ((uint64_t)count > r->len - r->pos)
            return rd_fail(r, "array/map block count beyond the data");
        for (int64_t i = 0; i < count; i++) {
            char *key = NULL;
            if (map) {
                size_t n = 0;
                if ((rc = rd_len(r, &n)))
                    return rc;
                key = xstrndup((const char *)r->p + r->pos, n);
                if (strlen(key) != n) {
                    free(key);
                    return rd_fail(r, "map key with a NUL byte");
                }
                r->pos += n;
            }
            json_t *v = NULL;
            rc = decode(r, item, &v, depth + 1);
            if (rc) {
                free(key);
                return rc;
            }
            if (map)
                json_object_set_new(acc, key, v);
            else
                json_array_append_new(acc, v);
            free(key);
        }
    }
}

static int decode(struct rd *r, const json_t *schema, json_t **out, int depth)
{
    *out = NULL;
    if (depth > AVRO_MAX_DEPTH)
        return rd_fail(r, "schema nesting too deep");
    const json_t *node;
    const char *t = resolve(schema, r->names, &node);
    if (!t)
        return rd_fail(r, "unresolvable schema type");
    int rc;
    if (!strcmp(t, "null")) {
        *out = json_null();
        return 0;
    }
    if (!strcmp(t, "boolean")) {
        if (r->pos >= r->len)
            return rd_fail(r, "truncated boolean");
        uint8_t c = r->p[r->pos++];
        if (c > 1)
            return rd_fail(r, "invalid boolean");
        *out = json_boolean(c);
        return 0;
    }
    if (!strcmp(t, "int") || !strcmp(t, "long")) {
        int64_t v;
        if ((rc = rd_long(r, &v)))
            return rc;
        if (t[0] == 'i' && (v < INT32_MIN || v > INT32_MAX))
            return rd_fail(r, "int out of range");
        *out = json_integer(v);
        return 0;
    }
    if (!strcmp(t, "float") || !strcmp(t, "double")) {
        size_t n = t[0] == 'f' ? 4 : 8;
        if (r->len - r->pos < n)
            return rd_fail(r, "truncated float");
        double d;
        if (n == 4) {
            float f;
            memcpy(&f, r->p + r->pos, 4);
            d = f;
        } else {
            memcpy(&d, r->p + r->pos, 8);
        }
        r->pos += n;
        *out = float_json(d);
        return 0;
    }
    if (!strcmp(t, "bytes") || !strcmp(t, "string")) {
        size_t n = 0;
        if ((rc = rd_len(r, &n)))
            return rc;
        const uint8_t *p = r->p + r->pos;
        r->pos += n;
        if (t[0] == 'b') {
            *out = bytes_json(p, n);
            return 0;
        }
        *out = json_stringn((const char *)p, n);
        return *out ? 0 : rd_fail(r, "string is not valid UTF-8");
    }
    if (!strcmp(t, "fixed")) {
        json_int_t size = json_integer_value(json_object_get(node, "size"));
        if (size < 0 || (uint64_t)size > r->len - r->pos)
            return rd_fail(r, "fixed beyond the end of the data");
        *out = bytes_json(r->p + r->pos, (size_t)size);
        r->pos += (size_t)size;
        return 0;
    }
    if (!strcmp(t, "enum")) {
        int64_t idx;
        if ((rc = rd_long(r, &idx)))
            return rc;
        const json_t *sym = json_object_get(node, "symbols");
        if (idx < 0 || (size_t)idx >= json_array_size(sym))
            return rd_fail(r, "enum index out of range");
        *out = json_copy(json_array_get(sym, (size_t)idx));
        return 0;
    }
    if (!strcmp(t, "union")) {
        int64_t idx;
        if ((rc = rd_long(r, &idx)))
            return rc;
        if (idx < 0 || (size_t)idx >= json_array_size(node))
            return rd_fail(r, "union branch out of range");
        return decode(r, json_array_get(node, (size_t)idx), out, depth + 1);
    }
    if (!strcmp(t, "array") || !strcmp(t, "map")) {
        bool map = t[0] == 'm';
        json_t *acc = map ? json_object() : json_array();
        rc = decode_blocks(r, json_object_get(node, map ? "values" : "items"), map, acc, depth);
        if (rc) {
            json_decref(acc);
            return rc;
        }
        *out = acc;
        return 0;
    }
    if (!strcmp(t, "record")) {
        json_t *obj = json_object();
        size_t i;
        const json_t *f;
        json_array_foreach(json_object_get(node, "fields"), i, f) {
            const char *name = json_str(f, "name");
            if (!name) {
                json_decref(obj);
                return rd_fail(r, "record field without a name");
            }
            json_t *v;
            if ((rc = decode(r, json_object_get(f, "type"), &v, depth + 1))) {
                json_decref(obj);
                return rc;
            }
            json_object_set_new(obj, name, v);
        }
        *out = obj;
        return 0;
    }
    return rd_fail(r, "unsupported schema type");
}

/* ---- decompression ----------------------------------------------------------- */

static int avro_decompress(const char *codec, const uint8_t *src, size_t n, uint8_t **out,
                           size_t *out_len, const char *path, struct iv_err *e)
{
    *out = NULL;
    if (!strcmp(codec, "deflate")) {
        z_stream z;
        memset(&z, 0, sizeof z);
        if (inflateInit2(&z, -15) != Z_OK)
            return iv_err_set(e, IV_ENOMEM, "avro inflate init failed");
        size_t cap = n * 4 + 1024, len = 0;
        uint8_t *o = xmalloc(cap);
        z.next_in = (Bytef *)src;
        z.avail_in = (uInt)n;
        int zr;
        for (;;) {
            z.next_out = o + len;
            z.avail_out = (uInt)(cap - len);
            zr = inflate(&z, Z_NO_FLUSH);
            len = cap - z.avail_out;
            if (zr == Z_STREAM_END)
                break;
            if (zr != Z_OK && zr != Z_BUF_ERROR)
                break;
            if (z.avail_out == 0) {
                if (cap >= AVRO_MAX_BLOCK)
                    break;
                cap *= 2;
                o = xrealloc(o, cap);
            } else if (z.avail_in == 0) {
                break;
            }
        }
        inflateEnd(&z);
        if (zr != Z_STREAM_END) {
            free(o);
            return iv_err_set(e, IV_EINVAL, "avro file '%s': corrupt deflate block", path);
        }
        *out = o;
        *out_len = len;
        return 0;
    }
    if (!strcmp(codec, "snappy")) {
        size_t ulen;
        if (n < 4 || snappy_uncompressed_length((const char *)src, n - 4, &ulen) != SNAPPY_OK ||
            ulen > AVRO_MAX_BLOCK)
            return iv_err_set(e, IV_EINVAL, "avro file '%s': corrupt snappy block", path);
        uint8_t *o = xmalloc(ulen ? ulen : 1);
        if (snappy_uncompress((const char *)src, n - 4, (char *)o, &ulen) != SNAPPY_OK) {
            free(o);
            return iv_err_set(e, IV_EINVAL, "avro file '%s': corrupt snappy block", path);
        }
        uint32_t crc = (uint32_t)crc32(0L, o, (uInt)ulen);
        const uint8_t *c = src + n - 4;
        if (crc != ((uint32_t)c[0] << 24 | (uint32_t)c[1] << 16 | (uint32_t)c[2] << 8 | c[3])) {
            free(o);
            return iv_err_set(e, IV_EINVAL, "avro file '%s': snappy block CRC mismatch", path);
        }
        *out = o;
        *out_len = ulen;
        return 0;
    }
    if (!strcmp(codec, "zstandard")) {
        ZSTD_DStream *ds = ZSTD_createDStream();
        if (!ds)
            return iv_err_set(e, IV_ENOMEM, "avro zstd init failed");
        size_t cap = n * 4 + 1024;
        uint8_t *o = xmalloc(cap);
        ZSTD_inBuffer in = {src, n, 0};
        ZSTD_outBuffer ob = {o, cap, 0};
        size_t zr = 1;
        while (zr != 0) {
            zr = ZSTD_decompressStream(ds, &ob, &in);
            if (ZSTD_isError(zr))
                break;
            if (zr == 0)
                break;
            if (ob.pos == ob.size) {
                if (cap >= AVRO_MAX_BLOCK) {
                    zr = (size_t)-1;
                    break;
                }
                cap *= 2;
                o = xrealloc(o, cap);
                ob.dst = o;
                ob.size = cap;
            } else if (in.pos == in.size) {
                zr = (size_t)-1;   /* truncated frame */
                break;
            }
        }
        ZSTD_freeDStream(ds);
        if (zr != 0 || in.pos != in.size) {
            free(o);
            return iv_err_set(e, IV_EINVAL, "avro file '%s': corrupt zstandard block", path);
        }
        *out = o;
        *out_len = ob.pos;
        return 0;
    }
    return iv_err_set(e, IV_EUNSUPPORTED, "avro file '%s': unsupported codec '%s'", path, codec);
}

/* ---- reader ------------------------------------------------------------------ */

int avro_read_file(const char *path, json_t **schema_out, json_t **meta_out,
                   json_t **records_out, struct iv_err *e)
{
    *schema_out = *meta_out = *records_out = NULL;
    char *data = NULL;
    size_t len = 0;
    int rc = file_read_all(path, AVRO_MAX_FILE, &data, &len, e);
    if (rc)
        return rc;
    json_t *meta = json_object(), *records = json_array(), *schema = NULL, *names = json_object();
    struct rd r = {(const uint8_t *)data, len, 0, names, e, path};
    if (len < 4 + 1 + 16 || memcmp(data, "Obj\x01", 4) != 0) {
        rc = iv_err_set(e, IV_EINVAL, "'%s' is not an Avro container file", path);
        goto out;
    }
    r.pos = 4;
    /* header map<bytes> */
    for (;;) {
        int64_t count;
        if ((rc = rd_long(&r, &count)))
            goto out;
        if (count == 0)
            break;
        if (count < 0) {
            int64_t skip;
            if (count == INT64_MIN || (rc = rd_long(&r, &skip))) {
                rc = rc ? rc : rd_fail(&r, "bad header count");
                goto out;
            }
            count = -count;
        }
        if ((uint64_t)count > r.len - r.pos) {
            rc = rd_fail(&r, "header count beyond the data");
            goto out;
        }
        for (int64_t i = 0; i < count; i++) {
            size_t kn = 0, vn = 0;
            if ((rc = rd_len(&r, &kn)))
                goto out;
            char *key = xstrndup(data + r.pos, kn);
            r.pos += kn;
            if ((rc = rd_len(&r, &vn))) {
                free(key);
                goto out;
            }
            json_t *v = json_stringn(data + r.pos, vn);
            if (!v)
                v = bytes_json((const uint8_t *)data + r.pos, vn);
            r.pos += vn;
            json_object_set_new(meta, key, v);
            free(key);
        }
    }
    if (r.len - r.pos < 16) {
        rc = rd_fail(&r, "truncated header");
        goto out;
    }
    const uint8_t *sync = r.p + r.pos;
    r.pos += 16;
    const char *schema_str = json_str(meta, "avro.schema");
    json_error_t je;
    schema = schema_str ? json_loads(schema_str, JSON_DECODE_ANY, &je) : NULL;
    if (!schema) {
        rc = iv_err_set(e, IV_EINVAL, "avro file '%s': missing or invalid avro.schema", path);
        goto out;
    }
    collect_names(schema, NULL, names, 0);
    const char *codec = json_str(meta, "avro.codec");
    if (!codec)
        codec = "null";
    while (r.pos < r.len) {
        int64_t count, size;
        if ((rc = rd_long(&r, &count)) || (rc = rd_long(&r, &size)))
            goto out;
        if (count < 0 || size < 0 || (uint64_t)size > r.len - r.pos ||
            r.len - r.pos - (size_t)size < 16) {
            rc = rd_fail(&r, "block size beyond the end of the file");
            goto out;
        }
        const uint8_t *bp = r.p + r.pos;
        uint8_t *plain = NULL;
        size_t plen = (size_t)size;
        if (strcmp(codec, "null") != 0) {
            if ((rc = avro_decompress(codec, bp, (size_t)size, &plain, &plen, path, e)))
                goto out;
            bp = plain;
        }
        if ((uint64_t)count > plen + 1024 * 1024) {
            free(plain);
            rc = rd_fail(&r, "block record count beyond the data");
            goto out;
        }
        struct rd br = {bp, plen, 0, names, e, path};
        for (int64_t i = 0; i < count && !rc; i++) {
            json_t *v;
            rc = decode(&br, schema, &v, 0);
            if (!rc)
                json_array_append_new(records, v);
        }
        if (!rc && br.pos != br.len)
            rc = rd_fail(&br, "block has trailing bytes");
        free(plain);
        if (rc)
            goto out;
        r.pos += (size_t)size;
        if (memcmp(r.p + r.pos, sync, 16) != 0) {
            rc = rd_fail(&r, "sync marker mismatch");
            goto out;
        }
        r.pos += 16;
    }
    *schema_out = schema;
    *meta_out = meta;
    *records_out = records;
    schema = meta = records = NULL;
    rc = IV_OK;
out:
    json_decref(schema);
    json_decref(meta);
    json_decref(records);
    json_decref(names);
    free(data);
    return rc;
}

/* ---- encoder (inverse of the decoder) ----------------------------------------- */

struct enc {
    struct buf *b;
    const json_t *names;
    struct iv_err *e;
};

static int enc_fail(struct enc *x, const char *what, const char *type)
{
    return iv_err_set(x->e, IV_EINVAL, "avro encode: %s (schema type %s)", what, type);
}

static int enc_put(struct enc *x, int rc)
{
    return rc ? iv_err_set(x->e, rc, "avro encode: output buffer limit reached") : 0;
}

static int json_bytes(const json_t *v, uint8_t **out, size_t *n)
{
    const char *b64 = json_is_object(v) ? json_str(v, "$bytes") : NULL;
    if (!b64)
        return IV_EINVAL;
    return base64_decode(b64, out, n);
}

/* Does value v fit schema branch s (for picking a union branch)? */
static bool fits(const json_t *s, const json_t *v, const json_t *names)
{
    const json_t *node;
    const char *t = resolve(s, names, &node);
    if (!t)
        return false;
    if (!strcmp(t, "null"))
        return json_is_null(v);
    if (!strcmp(t, "boolean"))
        return json_is_boolean(v);
    if (!strcmp(t, "int") || !strcmp(t, "long"))
        return json_is_integer(v);
    if (!strcmp(t, "float") || !strcmp(t, "double"))
        return json_is_number(v) || (json_is_string(v) &&
               (!strcmp(json_string_value(v), "NaN") || !strcmp(json_string_value(v), "Infinity") ||
                !strcmp(json_string_value(v), "-Infinity")));
    if (!strcmp(t, "string") || !strcmp(t, "enum"))
        return json_is_string(v);
    if (!strcmp(t, "bytes") || !strcmp(t, "fixed"))
        return json_is_object(v) && json_object_get(v, "$bytes");
    if (!strcmp(t, "array"))
        return json_is_array(v);
    if (!strcmp(t, "record") || !strcmp(t, "map"))
        return json_is_object(v) && !json_object_get(v, "$bytes");
    return false;
}

static int encode(struct enc *x, const json_t *schema, const json_t *v, int depth)
{
    if (depth > AVRO_MAX_DEPTH)
        return enc_fail(x, "nesting too deep", "?");
    const json_t *node;
    const char *t = resolve(schema, x->names, &node);
    if (!t)
        return enc_fail(x, "unresolvable schema type", "?");
    if (!strcmp(t, "null"))
        return json_is_null(v) ? 0 : enc_fail(x, "expected null", t);
    if (!strcmp(t, "boolean")) {
        if (!json_is_boolean(v))
            return enc_fail(x, "expected a boolean", t);
        return enc_put(x, avro_put_bool(x->b, json_is_true(v)));
    }
    if (!strcmp(t, "int") || !strcmp(t, "long")) {
        if (!json_is_integer(v))
            return enc_fail(x, "expected an integer", t);
        json_int_t i = json_integer_value(v);
        if (t[0] == 'i' && (i < INT32_MIN || i > INT32_MAX))
            return enc_fail(x, "integer out of range", t);
        return enc_put(x, avro_put_long(x->b, i));
    }
    if (!strcmp(t, "float") || !strcmp(t, "double")) {
        double d;
        if (json_is_number(v))
            d = json_number_value(v);
        else if (json_is_string(v) && !strcmp(json_string_value(v), "NaN"))
            d = NAN;
        else if (json_is_string(v) && !strcmp(json_string_value(v), "Infinity"))
            d = INFINITY;
        else if (json_is_string(v) && !strcmp(json_string_value(v), "-Infinity"))
            d = -INFINITY;
        else
            return enc_fail(x, "expected a number", t);
        return enc_put(x, t[0] == 'f' ? avro_put_float(x->b, (float)d) : avro_put_double(x->b, d));
    }
    if (!strcmp(t, "string")) {
        if (!json_is_string(v))
            return enc_fail(x, "expected a string", t);
        return enc_put(x, avro_put_bytes(x->b, json_string_value(v), json_string_length(v)));
    }
    if (!strcmp(t, "bytes") || !strcmp(t, "fixed")) {
        uint8_t *p = NULL;
        size_t n = 0;
        if (json_bytes(v, &p, &n))
            return enc_fail(x, "expected {\"$bytes\": base64}", t);
        int rc;
        if (t[0] == 'f') {
            json_int_t size = json_integer_value(json_object_get(node, "size"));
            rc = (size < 0 || (size_t)size != n) ? enc_fail(x, "fixed value has the wrong size", t)
                                                 : enc_put(x, avro_put_fixed(x->b, p, n));
        } else {
            rc = enc_put(x, avro_put_bytes(x->b, p, n));
        }
        free(p);
        return rc;
    }
    if (!strcmp(t, "enum")) {
        if (!json_is_string(v))
            return enc_fail(x, "expected an enum symbol", t);
        size_t i;
        const json_t *sym;
        json_array_foreach(json_object_get(node, "symbols"), i, sym)
            if (json_is_string(sym) && !strcmp(json_string_value(sym), json_string_value(v)))
                return enc_put(x, avro_put_long(x->b, (int64_t)i));
        return enc_fail(x, "unknown enum symbol", t);
    }
    if (!strcmp(t, "union")) {
        size_t i;
        const json_t *br;
        json_array_foreach(node, i, br) {
            if (fits(br, v, x->names)) {
                int rc = enc_put(x, avro_put_long(x->b, (int64_t)i));
                return rc ? rc : encode(x, br, v, depth + 1);
            }
        }
        return enc_fail(x, "value matches no union branch", t);
    }
    if (!strcmp(t, "array")) {
        if (!json_is_array(v))
            return enc_fail(x, "expected an array", t);
        size_t n = json_array_size(v), i;
        const json_t *item;
        int rc = 0;
        if (n && (rc = enc_put(x, avro_put_long(x->b, (int64_t)n))))
            return rc;
        json_array_foreach(v, i, item)
            if ((rc = encode(x, json_object_get(node, "items"), item, depth + 1)))
                return rc;
        return enc_put(x, avro_put_long(x->b, 0));
    }
    if (!strcmp(t, "map")) {
        if (!json_is_object(v))
            return enc_fail(x, "expected an object", t);
        size_t n = json_object_size(v);
        const char *k;
        const json_t *item;
        int rc = 0;
        if (n && (rc = enc_put(x, avro_put_long(x->b, (int64_t)n))))
            return rc;
        json_object_foreach((json_t *)v, k, item) {
            if ((rc = enc_put(x, avro_put_string(x->b, k))) ||
                (rc = encode(x, json_object_get(node, "values"), item, depth + 1)))
                return rc;
        }
        return enc_put(x, avro_put_long(x->b, 0));
    }
    if (!strcmp(t, "record")) {
        if (!json_is_object(v))
            return enc_fail(x, "expected an object", t);
        size_t i;
        const json_t *f;
        json_array_foreach(json_object_get(node, "fields"), i, f) {
            const char *name = json_str(f, "name");
            const json_t *fv = name ? json_object_get(v, name) : NULL;
            if (!fv)
                fv = json_object_get(f, "default");
            if (!fv)
                return iv_err_set(x->e, IV_EINVAL, "avro encode: record field '%s' is missing",
                                  name ? name : "?");
            int rc = encode(x, json_object_get(f, "type"), fv, depth + 1);
            if (rc)
                return rc;
        }
        return 0;
    }
    return enc_fail(x, "unsupported schema type", t);
}

int avro_encode_json(struct buf *b, const json_t *schema, const json_t *value, struct iv_err *e)
{
    json_t *names = json_object();
    collect_names(schema, NULL, names, 0);
    struct enc x = {b, names, e};
    size_t start = b->len;
    int rc = encode(&x, schema, value, 0);
    if (rc)
        b->len = start;   /* nothing partial left behind */
    if (b->data)
        b->data[b->len] = '\0';
    json_decref(names);
    return rc;
}
