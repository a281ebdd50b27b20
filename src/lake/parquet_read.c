/*
 * lake/parquet_read: a reader for the Parquet subset lake/parquet.c writes (see "reading rows
 * back" in lake.h), so
 * `ivory table show` can print rows without a third-party reader.
 *
 * DESIGN
 * - The footer and page headers are Thrift compact structs. They are decoded generically
 *   into jansson objects keyed by field id ("1", "2", ...), then read by id: a few dozen
 *   lines instead of a generated parser, and unknown fields are skipped for free.
 * - Columns are read chunk by chunk with pread(), one page in memory at a time, and only
 *   as many values as the row limit needs. Supported: data page V1, PLAIN, PLAIN_DICTIONARY
 *   and RLE_DICTIONARY values, RLE/bit-packed definition levels (flat schemas: max level 1),
 *   codecs UNCOMPRESSED, SNAPPY and ZSTD. Anything else fails with a message naming it.
 * - Columns map to the table schema by Iceberg field id; a column the file lacks is null.
 * - Every length read from the file is checked against the bytes available.
 */
#include "lake/lake_int.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <snappy-c.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#define PR_MAX_PAGE ((size_t)1 << 30)
#define PR_MAX_FOOTER ((size_t)256 << 20)

enum { PH_BOOLEAN = 0, PH_INT32 = 1, PH_INT64 = 2, PH_FLOAT = 4, PH_DOUBLE = 5,
       PH_BYTE_ARRAY = 6, PH_FLBA = 7 };

/* ---- Thrift compact protocol -> jansson ---------------------------------------------------- */
struct tr {
    const uint8_t *p, *end;
    int depth;
    bool err;
};

static uint64_t tr_uvarint(struct tr *t)
{
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (t->p >= t->end) {
            t->err = true;
            return 0;
        }
        uint8_t b = *t->p++;
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80))
            return v;
    }
    t->err = true;
    return 0;
}

static int64_t tr_zigzag(struct tr *t)
{
    uint64_t u = tr_uvarint(t);
    return (int64_t)(u >> 1) ^ -(int64_t)(u & 1);
}

static json_t *tr_struct(struct tr *t);

static json_t *tr_value(struct tr *t, int type)
{
    switch (type) {
    case 1: return json_true();
    case 2: return json_false();
    case 3:
        if (t->p >= t->end) { t->err = true; return json_null(); }
        return json_integer((int8_t)*t->p++);
    case 4: case 5: case 6: return json_integer(tr_zigzag(t));
    case 7: {
        if (t->end - t->p < 8) { t->err = true; return json_null(); }
        double d;
        memcpy(&d, t->p, 8);
        t->p += 8;
        return json_real(isfinite(d) ? d : 0);
    }
    case 8: {
        uint64_t n = tr_uvarint(t);
        if (t->err || n > (uint64_t)(t->end - t->p)) { t->err = true; return json_null(); }
        json_t *s = json_stringn_nocheck((const char *)t->p, (size_t)n);
        t->p += n;
        return s ? s : json_null();
    }
    case 9: case 10: {
        if (t->p >= t->end) { t->err = true; return json_null(); }
        uint8_t h = *t->p++;
        uint64_t n = h >> 4;
        int et = h & 0x0f;
        if (n == 15)
            n = tr_uvarint(t);
        json_t *a = json_array();
        for (uint64_t i = 0; i < n && !t->err; i++) {
            if (t->p >= t->end) { t->err = true; break; }
            if (et == 1 || et == 2) {            /* bool elements: one byte each */
                json_array_append_new(a, json_boolean(*t->p++ == 1));
                continue;
            }
            json_array_append_new(a, tr_value(t, et));
        }
        return a;
    }
    case 11: {
        uint64_t n = tr_uvarint(t);
        json_t *a = json_array();
        if (n == 0 || t->err)
            return a;
        if (t->p >= t->end) { t->err = true; return a; }
        uint8_t kv = *t->p++;
        for (uint64_t i = 0; i < n && !t->err; i++) {
            json_array_append_new(a, tr_value(t, kv >> 4));
            json_array_append_new(a, tr_value(t, kv & 0x0f));
        }
        return a;
    }
    case 12: return tr_struct(t);
    default:
        t->err = true;
        return json_null();
    }
}

static json_t *tr_struct(struct tr *t)
{
    json_t *o = json_object();
    if (++t->depth > 32) {
        t->err = true;
        return o;
    }
    int last = 0;
    while (!t->err) {
        if (t->p >= t->end) {
            t->err = true;
            break;
        }
        uint8_t b = *t->p++;
        if (b == 0)
            break;
        int type = b & 0x0f, delta = b >> 4;
        int id = delta ? last + delta : (int)tr_zigzag(t);
        last = id;
        char key[16];
        snprintf(key, sizeof key, "%d", id);
        json_object_set_new(o, key, tr_value(t, type));
    }
    t->depth--;
    return o;
}

static json_t *fld(const json_t *o, int id)
{
    char key[16];
    snprintf(key, sizeof key, "%d", id);
    return json_object_get(o, key);
}

static int64_t fi(const json_t *o, int id, int64_t dflt)
{
    json_t *v = fld(o, id);
    return json_is_integer(v) ? json_integer_value(v) : dflt;
}

/* ---- file access ---------------------------------------------------------------------------- */
struct pr {
    int fd;
    int64_t size;
    const char *path;
    struct iv_err *e;
};

static int pr_read(struct pr *r, int64_t off, void *buf, size_t n)
{
    if (off < 0 || off > r->size || (int64_t)n > r->size - off)
        return iv_err_set(r->e, IV_EINVAL, "%s: read past the end of the file (offset %lld)",
                          r->path, (long long)off);
    size_t got = 0;
    while (got < n) {
        ssize_t k = pread(r->fd, (char *)buf + got, n - got, off + (off_t)got);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return iv_err_set(r->e, IV_EIO, "%s: read failed: %s", r->path,
                              k < 0 ? strerror(errno) : "short read");
        got += (size_t)k;
    }
    return IV_OK;
}

/* Reads the page header at off: *hdr (new ref), *hlen. */
static int read_page_header(struct pr *r, int64_t off, int64_t limit, json_t **hdr, size_t *hlen)
{
    size_t want = 4096;
    for (;;) {
        int64_t avail = limit - off;
        size_t n = (int64_t)want < avail ? want : (size_t)(avail > 0 ? avail : 0);
        if (n == 0)
            return iv_err_set(r->e, IV_EINVAL, "%s: page header past the column chunk", r->path);
        uint8_t *buf = xmalloc(n);
        int rc = pr_read(r, off, buf, n);
        if (rc) {
            free(buf);
            return rc;
        }
        struct tr t = {.p = buf, .end = buf + n};
        json_t *h = tr_struct(&t);
        if (!t.err) {
            *hdr = h;
            *hlen = (size_t)(t.p - buf);
            free(buf);
            return IV_OK;
        }
        json_decref(h);
        free(buf);
        if (n < want || want >= ((size_t)16 << 20))
            return iv_err_set(r->e, IV_EINVAL, "%s: malformed page header at offset %lld",
                              r->path, (long long)off);
        want *= 8;
    }
}

static int decompress(struct pr *r, int codec, uint8_t *in, size_t inlen, size_t outlen,
                      uint8_t **out)
{
    if (outlen > PR_MAX_PAGE)
        return iv_err_set(r->e, IV_ETOOBIG, "%s: page of %zu bytes is too large", r->path, outlen);
    if (codec == 0) {
        if (inlen != outlen)
            return iv_err_set(r->e, IV_EINVAL, "%s: uncompressed page size mismatch", r->path);
        *out = in;
        return IV_OK;
    }
    uint8_t *o = xmalloc(outlen ? outlen : 1);
    if (codec == 1) {
        size_t n = outlen;
        if (snappy_uncompress((const char *)in, inlen, (char *)o, &n) != SNAPPY_OK || n != outlen) {
            free(o);
            return iv_err_set(r->e, IV_EINVAL, "%s: corrupt snappy page", r->path);
        }
    } else if (codec == 6) {
        size_t n = ZSTD_decompress(o, outlen, in, inlen);
        if (ZSTD_isError(n) || n != outlen) {
            free(o);
            return iv_err_set(r->e, IV_EINVAL, "%s: corrupt zstd page", r->path);
        }
    } else {
        free(o);
        return iv_err_set(r->e, IV_EUNSUPPORTED, "%s: compression codec %d is not supported "
                          "by this reader", r->path, codec);
    }
    *out = o;   /* the caller frees both in and *out */
    return IV_OK;
}

/* ---- value rendering ------------------------------------------------------------------------ */
static void fmt_frac(char *out, size_t sz, int64_t us)
{
    if (us == 0)
        out[0] = '\0';
    else
        snprintf(out, sz, ".%06lld", (long long)us);
}

static json_t *render_ts(int64_t us, bool zone)
{
    int64_t s = us >= 0 ? us / 1000000 : -((-us + 999999) / 1000000);
    int64_t frac = us - s * 1000000;
    int64_t days = s >= 0 ? s / 86400 : -((-s + 86399) / 86400);
    int64_t sod = s - days * 86400;
    int64_t y;
    unsigned m, d;
    civil_from_days(days, &y, &m, &d);
    char f[32], out[96];
    fmt_frac(f, sizeof f, frac);
    snprintf(out, sizeof out, "%04lld-%02u-%02uT%02d:%02d:%02d%s%s", (long long)y, m, d,
             (int)(sod / 3600), (int)(sod / 60 % 60), (int)(sod % 60), f, zone ? "Z" : "");
    return json_string(out);
}

static json_t *render_decimal(__int128 v, int scale)
{
    char digits[64];
    int n = 0;
    bool neg = v < 0;
    unsigned __int128 u = neg ? (unsigned __int128)(-(v + 1)) + 1 : (unsigned __int128)v;
    do {
        digits[n++] = (char)('0' + (int)(u % 10));
        u /= 10;
    } while (u && n < 60);
    while (n <= scale && n < 60)
        digits[n++] = '0';
    char out[80];
    int k = 0;
    if (neg)
        out[k++] = '-';
    for (int i = n - 1; i >= 0; i--) {
        out[k++] = digits[i];
        if (i == scale && scale > 0)
            out[k++] = '.';
    }
    out[k] = '\0';
    return json_string(out);
}

static json_t *render_bytes(const struct lake_field *f, const uint8_t *p, size_t n)
{
    if (f->type == LAKE_STRING) {
        json_t *s = json_stringn((const char *)p, n);
        return s ? s : json_stringn_nocheck((const char *)p, n);
    }
    if (f->type == LAKE_UUID && n == 16) {
        char out[40];
        snprintf(out, sizeof out, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
                 "%02x%02x%02x%02x%02x%02x", p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7],
                 p[8], p[9], p[10], p[11], p[12], p[13], p[14], p[15]);
        return json_string(out);
    }
    if (f->type == LAKE_DECIMAL && n <= 16) {
        __int128 v = (n > 0 && (p[0] & 0x80)) ? -1 : 0;
        for (size_t i = 0; i < n; i++)
            v = (__int128)(((unsigned __int128)v << 8) | p[i]);
        return render_decimal(v, f->scale);
    }
    char *b = base64_encode(p, n);
    json_t *s = json_string(b);
    free(b);
    return s;
}

static json_t *render_int(const struct lake_field *f, int64_t v)
{
    switch (f->type) {
    case LAKE_DATE: {
        int64_t y;
        unsigned m, d;
        civil_from_days(v, &y, &m, &d);
        char out[32];
        snprintf(out, sizeof out, "%04lld-%02u-%02u", (long long)y, m, d);
        return json_string(out);
    }
    case LAKE_TIME: {
        char f6[32], out[96];
        fmt_frac(f6, sizeof f6, v % 1000000);
        int64_t s = v / 1000000;
        snprintf(out, sizeof out, "%02d:%02d:%02d%s", (int)(s / 3600), (int)(s / 60 % 60),
                 (int)(s % 60), f6);
        return json_string(out);
    }
    case LAKE_TIMESTAMP: return render_ts(v, false);
    case LAKE_TIMESTAMPTZ: return render_ts(v, true);
    case LAKE_DECIMAL: return render_decimal(v, f->scale);
    case LAKE_BOOLEAN: return json_boolean(v != 0);
    default: return json_integer(v);
    }
}

static json_t *render_real(double d)
{
    if (isnan(d))
        return json_string("NaN");
    if (isinf(d))
        return json_string(d > 0 ? "Infinity" : "-Infinity");
    return json_real(d);
}

/* ---- PLAIN and RLE decoding ----------------------------------------------------------------- */
struct col {
    const struct lake_field *f;   /* the table field, NULL when the file column is unmapped */
    int phys, type_len;
    bool optional;
    json_t *dict;                 /* rendered dictionary entries */
    json_t *vals;                 /* rendered values of the current row group */
};

/* Decodes n PLAIN values from [p, end) and appends them (rendered) to out. */
static int plain_decode(struct pr *r, struct col *c, const uint8_t *p, const uint8_t *end,
                        size_t n, json_t *out)
{
    size_t bit = 0;
    for (size_t i = 0; i < n; i++) {
        json_t *v = NULL;
        size_t avail = (size_t)(end - p);
        switch (c->phys) {
        case PH_BOOLEAN:
            if (bit / 8 >= avail)
                goto short_page;
            v = json_boolean((p[bit / 8] >> (bit % 8)) & 1);
            bit++;
            break;
        case PH_INT32: {
            if (avail < 4)
                goto short_page;
            int32_t x;
            memcpy(&x, p, 4);
            p += 4;
            v = render_int(c->f, x);
            break;
        }
        case PH_INT64: {
            if (avail < 8)
                goto short_page;
            int64_t x;
            memcpy(&x, p, 8);
            p += 8;
            v = render_int(c->f, x);
            break;
        }
        case PH_FLOAT: {
            if (avail < 4)
                goto short_page;
            float x;
            memcpy(&x, p, 4);
            p += 4;
            v = render_real(x);
            break;
        }
        case PH_DOUBLE: {
            if (avail < 8)
                goto short_page;
            double x;
            memcpy(&x, p, 8);
            p += 8;
            v = render_real(x);
            break;
        }
        case PH_BYTE_ARRAY: {
            if (avail < 4)
                goto short_page;
            uint32_t len;
            memcpy(&len, p, 4);
            p += 4;
            if (len > avail - 4)
                goto short_page;
            v = render_bytes(c->f, p, len);
            p += len;
            break;
        }
        case PH_FLBA:
            if ((size_t)c->type_len > avail)
                goto short_page;
            v = render_bytes(c->f, p, (size_t)c->type_len);
            p += c->type_len;
            break;
        default:
            return iv_err_set(r->e, IV_EUNSUPPORTED, "%s: physical type %d is not supported",
                              r->path, c->phys);
        }
        json_array_append_new(out, v);
    }
    return IV_OK;
short_page:
    return iv_err_set(r->e, IV_EINVAL, "%s: column %s: page ends inside a value", r->path,
                      c->f->name);
}

/* RLE / bit-packed hybrid: n values of bit width bw from [p, end). */
static int rle_decode(const uint8_t *p, const uint8_t *end, int bw, uint32_t *out, size_t n)
{
    if (bw < 0 || bw > 32)
        return -1;
    size_t i = 0;
    size_t vbytes = (size_t)(bw + 7) / 8;
    while (i < n) {
        struct tr t = {.p = p, .end = end};
        uint64_t h = tr_uvarint(&t);
        if (t.err)
            return -1;
        p = t.p;
        if (h & 1) {
            size_t groups = (size_t)(h >> 1), nbytes = groups * (size_t)bw;
            if (nbytes > (size_t)(end - p))
                return -1;
            size_t count = groups * 8;
            for (size_t k = 0; k < count && i < n; k++) {
                uint64_t v = 0;
                size_t b0 = k * (size_t)bw;
                for (int b = 0; b < bw; b++) {
                    size_t bitpos = b0 + (size_t)b;
                    v |= (uint64_t)((p[bitpos / 8] >> (bitpos % 8)) & 1) << b;
                }
                out[i++] = (uint32_t)v;
            }
            p += nbytes;
        } else {
            size_t count = (size_t)(h >> 1);
            if (vbytes > (size_t)(end - p))
                return -1;
            uint32_t v = 0;
            for (size_t b = 0; b < vbytes; b++)
                v |= (uint32_t)p[b] << (8 * b);
            p += vbytes;
            for (size_t k = 0; k < count && i < n; k++)
                out[i++] = v;
        }
    }
    return 0;
}

/* Reads up to `need` values of one column chunk into c->vals. */
static int read_chunk(struct pr *r, struct col *c, const json_t *md, int64_t need)
{
    int codec = (int)fi(md, 4, 0);
    int64_t data_off = fi(md, 9, -1), dict_off = fi(md, 11, -1);
    int64_t total = fi(md, 7, 0);
    int64_t off = (dict_off >= 0 && dict_off < data_off) ? dict_off : data_off;
    int64_t limit = off + total;
    if (off < 0 || total <= 0 || limit > r->size)
        return iv_err_set(r->e, IV_EINVAL, "%s: bad column chunk offsets", r->path);
    json_decref(c->dict);
    c->dict = NULL;
    int rc = IV_OK;
    while ((int64_t)json_array_size(c->vals) < need && off < limit) {
        json_t *h = NULL;
        size_t hlen = 0;
        if ((rc = read_page_header(r, off, limit, &h, &hlen)))
            return rc;
        int type = (int)fi(h, 1, -1);
        int64_t usize = fi(h, 2, -1), csize = fi(h, 3, -1);
        if (usize < 0 || csize < 0 || off + (int64_t)hlen + csize > limit) {
            json_decref(h);
            return iv_err_set(r->e, IV_EINVAL, "%s: bad page sizes at offset %lld", r->path,
                              (long long)off);
        }
        uint8_t *body = xmalloc((size_t)csize + 1);
        if ((rc = pr_read(r, off + (int64_t)hlen, body, (size_t)csize))) {
            free(body);
            json_decref(h);
            return rc;
        }
        off += (int64_t)hlen + csize;
        uint8_t *page = NULL;
        /* page may be body itself (uncompressed) */
        if ((rc = decompress(r, codec, body, (size_t)csize, (size_t)usize, &page))) {
            free(body);
            json_decref(h);
            return rc;
        }
        const uint8_t *p = page, *end = page + usize;
        if (type == 2) {                                 /* dictionary page */
            json_t *dh = fld(h, 7);
            json_decref(c->dict);
            c->dict = json_array();
            rc = plain_decode(r, c, p, end, (size_t)fi(dh, 1, 0), c->dict);
        } else if (type == 0) {                          /* data page V1 */
            json_t *dp = fld(h, 5);
            size_t n = (size_t)fi(dp, 1, 0);
            int enc = (int)fi(dp, 2, 0);
            uint32_t *defs = NULL;
            size_t nonnull = n;
            if (c->optional) {
                uint32_t dl;
                if (end - p < 4 || (memcpy(&dl, p, 4), dl > (size_t)(end - p - 4))) {
                    rc = iv_err_set(r->e, IV_EINVAL, "%s: bad definition levels", r->path);
                } else {
                    defs = xcalloc(n ? n : 1, sizeof(uint32_t));
                    if (rle_decode(p + 4, p + 4 + dl, 1, defs, n))
                        rc = iv_err_set(r->e, IV_EINVAL, "%s: bad definition levels", r->path);
                    p += 4 + dl;
                    nonnull = 0;
                    for (size_t i = 0; i < n; i++)
                        nonnull += defs[i] != 0;
                }
            }
            json_t *vals = json_array();
            if (!rc && enc == 0) {
                rc = plain_decode(r, c, p, end, nonnull, vals);
            } else if (!rc && (enc == 2 || enc == 8)) {
                if (!c->dict || p >= end) {
                    rc = iv_err_set(r->e, IV_EINVAL, "%s: dictionary page missing", r->path);
                } else {
                    int bw = *p++;
                    uint32_t *idx = xcalloc(nonnull ? nonnull : 1, sizeof(uint32_t));
                    if (nonnull && rle_decode(p, end, bw, idx, nonnull))
                        rc = iv_err_set(r->e, IV_EINVAL, "%s: bad dictionary indices", r->path);
                    for (size_t i = 0; !rc && i < nonnull; i++) {
                        json_t *v = json_array_get(c->dict, idx[i]);
                        if (!v)
                            rc = iv_err_set(r->e, IV_EINVAL, "%s: dictionary index out of "
                                            "range", r->path);
                        else
                            json_array_append(vals, v);
                    }
                    free(idx);
                }
            } else if (!rc) {
                rc = iv_err_set(r->e, IV_EUNSUPPORTED, "%s: value encoding %d is not supported "
                                "by this reader", r->path, enc);
            }
            for (size_t i = 0, k = 0; !rc && i < n; i++) {
                if (defs && !defs[i])
                    json_array_append_new(c->vals, json_null());
                else
                    json_array_append(c->vals, json_array_get(vals, k++));
            }
            json_decref(vals);
            free(defs);
        } else if (type == 3) {
            rc = iv_err_set(r->e, IV_EUNSUPPORTED, "%s: data page V2 is not supported by this "
                            "reader", r->path);
        }
        if (page != body)
            free(page);
        free(body);
        json_decref(h);
        if (rc)
            return rc;
    }
    return IV_OK;
}

int lake_parquet_read(const char *path, const struct lake_schema *schema, int64_t limit,
                      lake_row_fn fn, void *ctx, struct iv_err *e)
{
    struct pr r = {.fd = -1, .path = path, .e = e};
    json_t *fmd = NULL;
    struct col *cols = NULL;
    int ncols = 0, rc = IV_OK;
    uint8_t *foot = NULL;
    r.fd = open(path, O_RDONLY | O_CLOEXEC);
    if (r.fd < 0)
        return iv_err_set(e, IV_EIO, "%s: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(r.fd, &sb) != 0 || sb.st_size < 12) {
        rc = iv_err_set(e, IV_EINVAL, "%s: not a Parquet file (too short)", path);
        goto out;
    }
    r.size = sb.st_size;
    uint8_t tail[8];
    if ((rc = pr_read(&r, r.size - 8, tail, 8)))
        goto out;
    uint32_t flen;
    memcpy(&flen, tail, 4);
    if (memcmp(tail + 4, "PAR1", 4) != 0 || flen > PR_MAX_FOOTER || (int64_t)flen > r.size - 12) {
        rc = iv_err_set(e, IV_EINVAL, "%s: not a Parquet file (bad footer)", path);
        goto out;
    }
    foot = xmalloc(flen);
    if ((rc = pr_read(&r, r.size - 8 - flen, foot, flen)))
        goto out;
    struct tr t = {.p = foot, .end = foot + flen};
    fmd = tr_struct(&t);
    if (t.err) {
        rc = iv_err_set(e, IV_EINVAL, "%s: malformed footer", path);
        goto out;
    }
    /* Leaf columns: schema elements after the root (flat schemas only). */
    json_t *sch = fld(fmd, 2);
    size_t nel = json_array_size(sch);
    if (nel < 1 || fi(json_array_get(sch, 0), 5, 0) != (int64_t)nel - 1) {
        rc = iv_err_set(e, IV_EUNSUPPORTED, "%s: only flat schemas are supported", path);
        goto out;
    }
    ncols = (int)nel - 1;
    cols = xcalloc((size_t)ncols + 1, sizeof(*cols));
    int *slot = xcalloc((size_t)schema->nfields + 1, sizeof(int));   /* table field -> col+1 */
    for (int i = 0; i < ncols; i++) {
        json_t *el = json_array_get(sch, (size_t)i + 1);
        cols[i].phys = (int)fi(el, 1, -1);
        cols[i].type_len = (int)fi(el, 2, 0);
        cols[i].optional = fi(el, 3, 0) == 1;
        cols[i].vals = json_array();
        int id = (int)fi(el, 9, -1);
        for (int k = 0; k < schema->nfields; k++)
            if (schema->fields[k].id == id) {
                cols[i].f = &schema->fields[k];
                slot[k] = i + 1;
            }
    }
    int64_t emitted = 0;
    size_t g;
    json_t *rg;
    json_array_foreach(fld(fmd, 4), g, rg) {
        if (limit >= 0 && emitted >= limit)
            break;
        int64_t nrows = fi(rg, 3, 0);
        int64_t need = limit >= 0 && limit - emitted < nrows ? limit - emitted : nrows;
        json_t *chunks = fld(rg, 1);
        for (int i = 0; i < ncols && !rc; i++) {
            json_array_clear(cols[i].vals);
            if (!cols[i].f)
                continue;   /* not in the table schema (dropped column): skipped */
            rc = read_chunk(&r, &cols[i], fld(json_array_get(chunks, (size_t)i), 3), need);
        }
        if (rc)
            break;
        for (int64_t row = 0; row < need && !rc; row++) {
            json_t *o = json_object();
            for (int k = 0; k < schema->nfields; k++) {
                json_t *v = slot[k] ? json_array_get(cols[slot[k] - 1].vals, (size_t)row) : NULL;
                json_object_set(o, schema->fields[k].name, v ? v : json_null());
            }
            rc = fn(ctx, o);
            json_decref(o);
            emitted++;
        }
    }
    free(slot);
out:
    for (int i = 0; i < ncols; i++) {
        json_decref(cols[i].vals);
        json_decref(cols[i].dict);
    }
    free(cols);
    json_decref(fmd);
    free(foot);
    if (r.fd >= 0)
        close(r.fd);
    return rc;
}
