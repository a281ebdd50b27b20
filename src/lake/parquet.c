/*
 * lake/parquet: the Parquet file writer behind every Iceberg data file.
 *
 * Why our own: Debian 12 packages no C (or C++) Parquet library, and the
 * Iceberg writer only needs flat columns. This file is the whole writer:
 * encoding, compression, statistics, footer and durable publication.
 *
 * FILE LAYOUT (parquet-format README; all offsets absolute)
 *
 *   "PAR1"
 *   row group 0:
 *     column chunk 0: [dictionary page]? [data page]+     each page = PageHeader + body
 *     column chunk 1: ...
 *   row group 1: ...
 *   FileMetaData (Thrift compact)
 *   u32 LE length of FileMetaData
 *   "PAR1"
 *
 * A data page (V1) body, compressed as one unit with the chunk codec:
 *   [u32 LE length][RLE/bit-packed hybrid definition levels, width 1]  OPTIONAL columns only
 *   values: PLAIN, or for a dictionary page set: 1 byte bit width + RLE/bit-packed indices
 * A dictionary page body is the PLAIN encoding of the dictionary entries.
 *
 * DESIGN
 * - Values are appended to per-column page buffers (no malloc per value).
 *   When a column's page buffer reaches page_bytes the page is encoded,
 *   compressed and appended to the column's chunk buffer. When the buffered
 *   bytes of all columns reach row_group_bytes (checked at each row end),
 *   every chunk is written to the file and the buffers are reused, so memory
 *   stays around one row group of encoded data however large the file grows.
 *   Only the small per-chunk metadata is kept until the footer.
 * - The dictionary hash is open addressing over 16-byte slots that hold each
 *   entry's hash and, for integer columns, its value: a lookup (5 of 10 values
 *   per row in a typical load) usually reads one slot and nothing else.
 * - Dictionary encoding (string/binary and int32/int64 columns other than
 *   decimals): each chunk starts in dictionary mode with a hash table over
 *   the PLAIN-encoded entries. The first page falls back to PLAIN when more
 *   than half of its values are
 *   distinct; any page falls back when the dictionary passes 1 MiB. After a
 *   fallback the chunk keeps its earlier dictionary-encoded pages (the
 *   dictionary page is then still written first) and continues in PLAIN.
 * - Statistics: chunk min/max in Parquet form (signed ints, unsigned bytes,
 *   NaN excluded for floats with a nan_count) and file-wide min/max that
 *   become Iceberg bounds in pqw_finish.
 * - Durability: "<path>.tmp-<uuid>" -> fsync -> rename -> fsync(dir).
 *   Errors are sticky; allocation failure returns IV_ENOMEM.
 */
#include "lake/parquet.h"
#include "lake/thrift.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <snappy-c.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <unictype.h>
#include <unistr.h>
#include <zstd.h>

/* parquet.thrift enums */
enum pq_phys { PQ_BOOLEAN = 0, PQ_INT32 = 1, PQ_INT64 = 2, PQ_FLOAT = 4, PQ_DOUBLE = 5,
               PQ_BYTE_ARRAY = 6, PQ_FLBA = 7 };
enum { ENC_PLAIN = 0, ENC_PLAIN_DICTIONARY = 2, ENC_RLE = 3, ENC_RLE_DICTIONARY = 8 };
enum { CT_UTF8 = 0, CT_DECIMAL = 5, CT_DATE = 6, CT_TIME_MICROS = 8, CT_TIMESTAMP_MICROS = 10 };
enum { PAGE_DATA = 0, PAGE_DICTIONARY = 2 };

enum pq_kind { K_BOOL, K_INT, K_FLOAT, K_DEC, K_BYTES };

#define PQ_DICT_MAX (1u << 20)        /* dictionary bytes before falling back to PLAIN */
#define PQ_STATS_MAX 4096             /* longer chunk min/max are left out of the footer */

struct pq_minmax {
    bool has;
    int64_t imin, imax;
    double dmin, dmax;
    __int128 xmin, xmax;
    struct pq_bytes bmin, bmax;
};

struct pq_chunk_meta {
    int64_t data_page_offset;
    int64_t dict_page_offset;          /* -1: none */
    int64_t total_uncompressed;
    int64_t total_compressed;
    int64_t num_values;
    int64_t null_count;
    int64_t nan_count;
    uint32_t encodings;                /* bit (1 << Encoding) */
    bool has_minmax;
    uint8_t *min, *max;                /* Parquet stats bytes, owned */
    size_t min_len, max_len;
};

struct pq_rg {
    int64_t num_rows;
    int64_t file_offset;
    int64_t total_byte_size;
    int64_t total_compressed;
    struct pq_chunk_meta *cols;        /* ncols, owned */
};

struct pq_dict_entry {
    uint32_t off;                      /* offset of the 4-byte length prefix in dict_data */
    uint32_t len;
    uint32_t hash;
};

/* A hash slot carries the entry's hash and, for integer columns, its value, so a
 * probe reads one slot (no dent or dict_data access for integers). */
struct pq_hslot {
    int32_t idx;                       /* dent index, -1 = empty */
    uint32_t hash;
    uint64_t key;                      /* integer columns: the value (zero-extended) */
};

struct pq_col {
    struct lake_field f;               /* name owned */
    enum pq_phys phys;
    enum pq_kind kind;
    int type_len;                      /* FLBA only */
    __int128 dec_limit;                /* decimal: 10^precision (exclusive bound) */
    /* current page */
    struct pq_bytes vals;              /* PLAIN values (booleans: one byte each) */
    struct pq_bytes defs;              /* one definition level byte per value (optional) */
    struct pq_bytes idx;               /* uint32 dictionary indices (dictionary mode) */
    uint32_t page_values;              /* including nulls */
    uint32_t page_nulls;
    /* dictionary */
    bool dict_enabled;
    bool dict_mode;
    int dict_prefix;                   /* 4: BYTE_ARRAY entries carry a length, 0: ints */
    bool dict_pages;                   /* some page of this chunk is dictionary-encoded */
    int chunk_pages;
    struct pq_bytes dict_data;
    struct pq_dict_entry *dent;
    uint32_t ndict, dent_cap;
    struct pq_hslot *htab;             /* open addressing over dent */
    uint32_t hcap;                     /* power of two, 0 = none */
    /* chunk */
    struct pq_bytes chunk;             /* page headers + compressed bodies */
    int64_t chunk_uncompressed;
    int64_t chunk_values, chunk_nulls, chunk_nans;
    uint32_t chunk_encodings;
    struct pq_minmax cst;              /* chunk statistics */
    /* file */
    struct pq_minmax fst;
    int64_t f_values, f_nulls, f_nans, f_compressed;
};

struct pqw {
    char *path, *tmp;
    int fd;
    int64_t off;                       /* bytes written to the file */
    struct pqw_options o;
    char *created_by, *schema_json;
    int ncols;
    struct pq_col *cols;
    int cur;                           /* next column expected in the row */
    int64_t rows, rg_rows;
    int64_t rg_bytes;                  /* buffered bytes of the current row group */
    struct pq_rg *rgs;
    int nrgs, rgs_cap;
    struct pq_bytes raw, comp, hdr;    /* scratch */
    ZSTD_CCtx *zctx;
    int err;
    struct iv_err e;
};

/* ---- helpers ---------------------------------------------------------------- */

static int pq_fail(struct pqw *w, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int pq_fail(struct pqw *w, int code, const char *fmt, ...)
{
    if (w->err)
        return w->err;
    w->err = code;
    w->e.code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->e.msg, sizeof w->e.msg, fmt, ap);
    va_end(ap);
    return code;
}

static int pq_nomem(struct pqw *w)
{
    return pq_fail(w, IV_ENOMEM, "parquet writer for '%s': out of memory", w->path);
}

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define PQ_LITTLE_ENDIAN 1
#else
#define PQ_LITTLE_ENDIAN 0
#endif

static inline void le32(uint8_t *o, uint32_t v)
{
    if (PQ_LITTLE_ENDIAN) {
        memcpy(o, &v, 4);
        return;
    }
    o[0] = (uint8_t)v;
    o[1] = (uint8_t)(v >> 8);
    o[2] = (uint8_t)(v >> 16);
    o[3] = (uint8_t)(v >> 24);
}

static inline void le64(uint8_t *o, uint64_t v)
{
    if (PQ_LITTLE_ENDIAN) {
        memcpy(o, &v, 8);
        return;
    }
    for (int i = 0; i < 8; i++)
        o[i] = (uint8_t)(v >> (8 * i));
}

static int mm_set_bytes(struct pq_bytes *b, const void *p, size_t n)
{
    b->len = 0;
    return pq_bytes_append(b, p, n);
}

static int bytes_cmp(const uint8_t *a, size_t an, const uint8_t *b, size_t bn)
{
    size_t n = an < bn ? an : bn;
    int c = n ? memcmp(a, b, n) : 0;
    if (c)
        return c;
    return an < bn ? -1 : an > bn ? 1 : 0;
}

/* -0.0 orders before +0.0 (Java Double.compare without the NaN case). */
static inline bool dbl_lt(double a, double b)
{
    return a < b || (a == b && signbit(a) && !signbit(b));
}

static int decimal_bytes(int precision)
{
    static const int nb[39] = {0, 1, 1, 2, 2, 3, 3, 4, 4, 4, 5, 5, 6, 6, 6, 7, 7, 8, 8,
                               9, 9, 9, 10, 10, 11, 11, 11, 12, 12, 13, 13, 13, 14, 14,
                               15, 15, 16, 16, 16};
    return (precision >= 1 && precision <= 38) ? nb[precision] : 16;
}

/* Big-endian two's complement of v in n bytes (sign-extended). */
static void dec_be(__int128 v, uint8_t *o, int n)
{
    unsigned __int128 u = (unsigned __int128)v;
    for (int i = n - 1; i >= 0; i--) {
        o[i] = (uint8_t)u;
        u >>= 8;
    }
}

/* Minimal two's complement (Java BigInteger.toByteArray). Returns length. */
static size_t dec_minimal(__int128 v, uint8_t o[16])
{
    uint8_t full[16];
    dec_be(v, full, 16);
    int start = 0;
    while (start < 15) {
        if (full[start] == 0x00 && !(full[start + 1] & 0x80))
            start++;
        else if (full[start] == 0xFF && (full[start + 1] & 0x80))
            start++;
        else
            break;
    }
    memcpy(o, full + start, (size_t)(16 - start));
    return (size_t)(16 - start);
}

static __int128 pow10_i128(int p)
{
    __int128 v = 1;
    for (int i = 0; i < p; i++)
        v *= 10;
    return v;
}

/* ---- RLE / bit-packed hybrid --------------------------------------------------- */

static inline uint32_t hyb_get(const void *vals, int esize, size_t i)
{
    if (esize == 1)
        return ((const uint8_t *)vals)[i];
    uint32_t v;
    memcpy(&v, (const uint8_t *)vals + 4 * i, 4);
    return v;
}

static int hyb_flush_packed(struct pq_bytes *o, const void *vals, int esize, size_t from,
                            size_t count, size_t n, int width)
{
    if (!count)
        return 0;
    size_t groups = (count + 7) / 8;
    int rc = pq_put_uvarint(o, ((uint64_t)groups << 1) | 1);
    if (rc)
        return rc;
    size_t nbytes = groups * (size_t)width;
    if ((rc = pq_bytes_reserve(o, nbytes)))
        return rc;
    uint8_t *p = o->p + o->len;
    uint64_t acc = 0;   /* LSB-first bit accumulator; width <= 32 so it never overflows */
    int nb = 0;
    for (size_t i = 0; i < groups * 8; i++) {
        uint32_t v = (from + i < n && i < count) ? hyb_get(vals, esize, from + i) : 0;
        acc |= (uint64_t)v << nb;
        nb += width;
        while (nb >= 8) {
            *p++ = (uint8_t)acc;
            acc >>= 8;
            nb -= 8;
        }
    }
    o->len += nbytes;
    return 0;
}

/* Encodes n values (esize 1 or 4 bytes each) of bit width `width` (1..32). */
static int hyb_encode(struct pq_bytes *o, const void *vals, int esize, size_t n, int width)
{
    size_t i = 0, lit_from = 0, lit_count = 0;
    int rc;
    int vbytes = (width + 7) / 8;
    while (i < n) {
        uint32_t v = hyb_get(vals, esize, i);
        size_t r = 1;
        while (i + r < n && hyb_get(vals, esize, i + r) == v)
            r++;
        if (r >= 8) {
            if ((rc = hyb_flush_packed(o, vals, esize, lit_from, lit_count, n, width)))
                return rc;
            lit_count = 0;
            if ((rc = pq_put_uvarint(o, (uint64_t)r << 1)))
                return rc;
            uint8_t vb[4];
            le32(vb, v);
            if ((rc = pq_bytes_append(o, vb, (size_t)vbytes)))
                return rc;
            i += r;
            lit_from = i;
        } else {
            size_t take = n - i < 8 ? n - i : 8;
            if (!lit_count)
                lit_from = i;
            lit_count += take;
            i += take;
        }
    }
    return hyb_flush_packed(o, vals, esize, lit_from, lit_count, n, width);
}

static int bit_width(uint32_t maxv)
{
    int w = 0;
    while (maxv) {
        w++;
        maxv >>= 1;
    }
    return w ? w : 1;
}

/* ---- compression + page emission ------------------------------------------------ */

static int pq_compress(struct pqw *w, const uint8_t *src, size_t n, const uint8_t **out,
                       size_t *out_len)
{
    if (w->o.codec == PQW_UNCOMPRESSED) {
        *out = src;
        *out_len = n;
        return 0;
    }
    w->comp.len = 0;
    if (w->o.codec == PQW_ZSTD) {
        size_t bound = ZSTD_compressBound(n);
        if (pq_bytes_reserve(&w->comp, bound))
            return pq_nomem(w);
        size_t r = ZSTD_compressCCtx(w->zctx, w->comp.p, bound, src, n, w->o.zstd_level);
        if (ZSTD_isError(r))
            return pq_fail(w, IV_EIO, "parquet writer for '%s': zstd: %s", w->path,
                           ZSTD_getErrorName(r));
        *out_len = r;
    } else {
        size_t bound = snappy_max_compressed_length(n);
        if (pq_bytes_reserve(&w->comp, bound))
            return pq_nomem(w);
        size_t clen = bound;
        if (snappy_compress((const char *)src, n, (char *)w->comp.p, &clen) != SNAPPY_OK)
            return pq_fail(w, IV_EIO, "parquet writer for '%s': snappy failed", w->path);
        *out_len = clen;
    }
    *out = w->comp.p;
    return 0;
}

/* Builds the page header for a body of raw_len bytes (comp_len compressed) into w->hdr. */
static int pq_page_header(struct pqw *w, int page_type, size_t raw_len, size_t comp_len,
                          int32_t num_values, int encoding)
{
    if (raw_len > INT32_MAX || comp_len > INT32_MAX)
        return pq_fail(w, IV_ETOOBIG, "parquet writer for '%s': page too large", w->path);
    w->hdr.len = 0;
    struct thrift_w t;
    thrift_init(&t, &w->hdr);
    thrift_top_begin(&t);
    thrift_i32(&t, 1, page_type);
    thrift_i32(&t, 2, (int32_t)raw_len);
    thrift_i32(&t, 3, (int32_t)comp_len);
    if (page_type == PAGE_DATA) {
        thrift_struct_begin(&t, 5);
        thrift_i32(&t, 1, num_values);
        thrift_i32(&t, 2, encoding);
        thrift_i32(&t, 3, ENC_RLE);
        thrift_i32(&t, 4, ENC_RLE);
        thrift_struct_end(&t);
    } else {
        thrift_struct_begin(&t, 7);
        thrift_i32(&t, 1, num_values);
        thrift_i32(&t, 2, encoding);
        thrift_struct_end(&t);
    }
    thrift_top_end(&t);
    return t.err ? pq_nomem(w) : 0;
}

/* Rewrites the current page's dictionary indices as PLAIN values and leaves
 * dictionary mode. The dictionary itself is kept when earlier pages use it. */
static int col_dict_fallback(struct pqw *w, struct pq_col *c)
{
    uint32_t n = (uint32_t)(c->idx.len / 4);
    for (uint32_t i = 0; i < n; i++) {
        uint32_t k;
        memcpy(&k, c->idx.p + 4 * (size_t)i, 4);
        const struct pq_dict_entry *d = &c->dent[k];
        if (pq_bytes_append(&c->vals, c->dict_data.p + d->off, c->dict_prefix + (size_t)d->len))
            return pq_nomem(w);
    }
    w->rg_bytes += (int64_t)c->vals.len - (int64_t)c->idx.len;
    c->idx.len = 0;
    c->dict_mode = false;
    if (!c->dict_pages) {
        c->ndict = 0;
        c->dict_data.len = 0;
        if (c->hcap)
            memset(c->htab, 0xff, sizeof(*c->htab) * c->hcap);
    }
    return 0;
}

static int col_close_page(struct pqw *w, struct pq_col *c)
{
    if (!c->page_values)
        return 0;
    uint32_t nidx = (uint32_t)(c->idx.len / 4);
    /* High cardinality on the first page: dictionary does not pay. */
    if (c->dict_mode && !c->dict_pages && c->chunk_pages == 0 && c->ndict > nidx / 2 + 1) {
        int rc = col_dict_fallback(w, c);
        if (rc)
            return rc;
    }
    bool dict_page = c->dict_mode && nidx > 0;
    int64_t raw_est = (int64_t)(c->vals.len + c->idx.len);
    const uint8_t *raw;
    size_t raw_len;
    w->raw.len = 0;
    if (c->f.required && !dict_page && c->phys != PQ_BOOLEAN) {
        raw = c->vals.p;
        raw_len = c->vals.len;
    } else {
        if (!c->f.required) {
            if (pq_bytes_reserve(&w->raw, 4))
                return pq_nomem(w);
            w->raw.len = 4;
            if (hyb_encode(&w->raw, c->defs.p, 1, c->page_values, 1))
                return pq_nomem(w);
            le32(w->raw.p, (uint32_t)(w->raw.len - 4));
        }
        if (dict_page) {
            int width = bit_width(c->ndict ? c->ndict - 1 : 0);
            uint8_t wb = (uint8_t)width;
            if (pq_bytes_append(&w->raw, &wb, 1) || hyb_encode(&w->raw, c->idx.p, 4, nidx, width))
                return pq_nomem(w);
        } else if (c->phys == PQ_BOOLEAN) {
            size_t n = c->vals.len, nb = (n + 7) / 8;
            if (pq_bytes_reserve(&w->raw, nb))
                return pq_nomem(w);
            uint8_t *o = w->raw.p + w->raw.len;
            memset(o, 0, nb);
            for (size_t i = 0; i < n; i++)
                if (c->vals.p[i])
                    o[i >> 3] |= (uint8_t)(1u << (i & 7));
            w->raw.len += nb;
        } else if (pq_bytes_append(&w->raw, c->vals.p, c->vals.len)) {
            return pq_nomem(w);
        }
        raw = w->raw.p;
        raw_len = w->raw.len;
    }
    const uint8_t *body;
    size_t body_len;
    int rc = pq_compress(w, raw, raw_len, &body, &body_len);
    if (rc)
        return rc;
    int enc = dict_page ? ENC_RLE_DICTIONARY : ENC_PLAIN;
    if ((rc = pq_page_header(w, PAGE_DATA, raw_len, body_len, (int32_t)c->page_values, enc)))
        return rc;
    if (pq_bytes_append(&c->chunk, w->hdr.p, w->hdr.len) ||
        pq_bytes_append(&c->chunk, body, body_len))
        return pq_nomem(w);
    c->chunk_uncompressed += (int64_t)(w->hdr.len + raw_len);
    c->chunk_encodings |= (1u << enc) | (1u << ENC_RLE);
    if (dict_page)
        c->dict_pages = true;
    c->chunk_pages++;
    w->rg_bytes += (int64_t)(w->hdr.len + body_len) - raw_est;
    c->vals.len = c->defs.len = c->idx.len = 0;
    c->page_values = c->page_nulls = 0;
    return 0;
}

/* ---- statistics ---------------------------------------------------------------- */

static int mm_merge(struct pq_col *c, struct pq_minmax *dst, const struct pq_minmax *src)
{
    if (!src->has)
        return 0;
    bool first = !dst->has;
    switch (c->kind) {
    case K_BOOL:
    case K_INT:
        if (first || src->imin < dst->imin)
            dst->imin = src->imin;
        if (first || src->imax > dst->imax)
            dst->imax = src->imax;
        break;
    case K_FLOAT:
        if (first || dbl_lt(src->dmin, dst->dmin))
            dst->dmin = src->dmin;
        if (first || dbl_lt(dst->dmax, src->dmax))
            dst->dmax = src->dmax;
        break;
    case K_DEC:
        if (first || src->xmin < dst->xmin)
            dst->xmin = src->xmin;
        if (first || src->xmax > dst->xmax)
            dst->xmax = src->xmax;
        break;
    case K_BYTES:
        if (first || bytes_cmp(src->bmin.p, src->bmin.len, dst->bmin.p, dst->bmin.len) < 0)
            if (mm_set_bytes(&dst->bmin, src->bmin.p, src->bmin.len))
                return IV_ENOMEM;
        if (first || bytes_cmp(src->bmax.p, src->bmax.len, dst->bmax.p, dst->bmax.len) > 0)
            if (mm_set_bytes(&dst->bmax, src->bmax.p, src->bmax.len))
                return IV_ENOMEM;
        break;
    }
    dst->has = true;
    return 0;
}

static inline int st_bytes(struct pq_col *c, const uint8_t *p, size_t n)
{
    struct pq_minmax *m = &c->cst;
    if (!m->has) {
        m->has = true;
        if (mm_set_bytes(&m->bmin, p, n) || mm_set_bytes(&m->bmax, p, n))
            return IV_ENOMEM;
        return 0;
    }
    /* first byte strictly between those of min and max: neither bound moves */
    if (n && m->bmin.len && m->bmax.len && p[0] > m->bmin.p[0] && p[0] < m->bmax.p[0])
        return 0;
    if (bytes_cmp(p, n, m->bmin.p, m->bmin.len) < 0 && mm_set_bytes(&m->bmin, p, n))
        return IV_ENOMEM;
    if (bytes_cmp(p, n, m->bmax.p, m->bmax.len) > 0 && mm_set_bytes(&m->bmax, p, n))
        return IV_ENOMEM;
    return 0;
}

/* Parquet Statistics bytes for the chunk statistics of c. */
static int chunk_stats_bytes(struct pq_col *c, struct pq_chunk_meta *m)
{
    const struct pq_minmax *s = &c->cst;
    m->has_minmax = false;
    if (!s->has)
        return 0;
    uint8_t lo[16], hi[16];
    const uint8_t *lp = lo, *hp = hi;
    size_t n = 0, ln, hn;
    switch (c->phys) {
    case PQ_BOOLEAN:
        lo[0] = (uint8_t)s->imin;
        hi[0] = (uint8_t)s->imax;
        n = 1;
        break;
    case PQ_INT32:
        if (c->kind == K_DEC) {
            le32(lo, (uint32_t)(int32_t)s->xmin);
            le32(hi, (uint32_t)(int32_t)s->xmax);
        } else {
            le32(lo, (uint32_t)(int32_t)s->imin);
            le32(hi, (uint32_t)(int32_t)s->imax);
        }
        n = 4;
        break;
    case PQ_INT64:
        le64(lo, (uint64_t)(c->kind == K_DEC ? (int64_t)s->xmin : s->imin));
        le64(hi, (uint64_t)(c->kind == K_DEC ? (int64_t)s->xmax : s->imax));
        n = 8;
        break;
    case PQ_FLOAT: {
        /* parquet-format: a zero min is written as -0.0, a zero max as +0.0 */
        float a = (float)s->dmin, b = (float)s->dmax;
        if (a == 0.0f)
            a = -0.0f;
        if (b == 0.0f)
            b = 0.0f;
        memcpy(lo, &a, 4);
        memcpy(hi, &b, 4);
        n = 4;
        break;
    }
    case PQ_DOUBLE: {
        double a = s->dmin, b = s->dmax;
        if (a == 0.0)
            a = -0.0;
        if (b == 0.0)
            b = 0.0;
        memcpy(lo, &a, 8);
        memcpy(hi, &b, 8);
        n = 8;
        break;
    }
    case PQ_BYTE_ARRAY:
    case PQ_FLBA:
        if (c->kind == K_DEC) {
            dec_be(s->xmin, lo, c->type_len);
            dec_be(s->xmax, hi, c->type_len);
            n = (size_t)c->type_len;
        } else {
            lp = s->bmin.p;
            hp = s->bmax.p;
            ln = s->bmin.len;
            hn = s->bmax.len;
            if (ln > PQ_STATS_MAX || hn > PQ_STATS_MAX)
                return 0;
            goto copy;
        }
        break;
    }
    ln = hn = n;
copy:
    m->min = malloc(ln ? ln : 1);
    m->max = malloc(hn ? hn : 1);
    if (!m->min || !m->max)
        return IV_ENOMEM;
    if (ln)
        memcpy(m->min, lp, ln);
    if (hn)
        memcpy(m->max, hp, hn);
    m->min_len = ln;
    m->max_len = hn;
    m->has_minmax = true;
    return 0;
}

/* ---- row groups ------------------------------------------------------------------ */

static int pq_write_all(struct pqw *w, const void *p, size_t n)
{
    const uint8_t *s = p;
    while (n > 0) {
        ssize_t k = write(w->fd, s, n);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            return pq_fail(w, IV_EIO, "write('%s') failed: %s", w->tmp, strerror(errno));
        }
        s += k;
        n -= (size_t)k;
        w->off += k;
    }
    return 0;
}

static void chunk_meta_free(struct pq_chunk_meta *m)
{
    free(m->min);
    free(m->max);
    m->min = m->max = NULL;
}

static int pq_flush_row_group(struct pqw *w)
{
    int rc;
    if (w->rg_rows == 0)
        return 0;
    for (int i = 0; i < w->ncols; i++)
        if ((rc = col_close_page(w, &w->cols[i])))
            return rc;
    if (w->nrgs == w->rgs_cap) {
        int cap = w->rgs_cap ? w->rgs_cap * 2 : 8;
        struct pq_rg *r = realloc(w->rgs, sizeof *r * (size_t)cap);
        if (!r)
            return pq_nomem(w);
        w->rgs = r;
        w->rgs_cap = cap;
    }
    struct pq_rg *rg = &w->rgs[w->nrgs];
    memset(rg, 0, sizeof *rg);
    rg->cols = calloc((size_t)w->ncols, sizeof *rg->cols);
    if (!rg->cols)
        return pq_nomem(w);
    w->nrgs++;
    rg->num_rows = w->rg_rows;
    rg->file_offset = w->off;
    for (int i = 0; i < w->ncols; i++) {
        struct pq_col *c = &w->cols[i];
        struct pq_chunk_meta *m = &rg->cols[i];
        m->dict_page_offset = -1;
        int64_t start = w->off;
        int64_t unc = c->chunk_uncompressed;
        if (c->dict_pages) {
            const uint8_t *body;
            size_t body_len;
            if ((rc = pq_compress(w, c->dict_data.p, c->dict_data.len, &body, &body_len)))
                return rc;
            if ((rc = pq_page_header(w, PAGE_DICTIONARY, c->dict_data.len, body_len,
                                     (int32_t)c->ndict, ENC_PLAIN_DICTIONARY)))
                return rc;
            m->dict_page_offset = w->off;
            if ((rc = pq_write_all(w, w->hdr.p, w->hdr.len)) ||
                (rc = pq_write_all(w, body, body_len)))
                return rc;
            unc += (int64_t)(w->hdr.len + c->dict_data.len);
            c->chunk_encodings |= 1u << ENC_PLAIN_DICTIONARY;
        }
        m->data_page_offset = w->off;
        if ((rc = pq_write_all(w, c->chunk.p, c->chunk.len)))
            return rc;
        m->total_compressed = w->off - start;
        m->total_uncompressed = unc;
        m->num_values = c->chunk_values;
        m->null_count = c->chunk_nulls;
        m->nan_count = c->chunk_nans;
        m->encodings = c->chunk_encodings;
        if (chunk_stats_bytes(c, m) || mm_merge(c, &c->fst, &c->cst))
            return pq_nomem(w);
        rg->total_byte_size += unc;
        rg->total_compressed += m->total_compressed;
        c->f_values += c->chunk_values;
        c->f_nulls += c->chunk_nulls;
        c->f_nans += c->chunk_nans;
        c->f_compressed += m->total_compressed;
        /* reset the chunk */
        c->chunk.len = 0;
        c->chunk_uncompressed = 0;
        c->chunk_values = c->chunk_nulls = c->chunk_nans = 0;
        c->chunk_encodings = 0;
        c->chunk_pages = 0;
        c->cst.has = false;
        c->dict_pages = false;
        c->dict_mode = c->dict_enabled;
        c->ndict = 0;
        c->dict_data.len = 0;
        if (c->hcap)
            memset(c->htab, 0xff, sizeof(*c->htab) * c->hcap);
    }
    w->rg_rows = 0;
    w->rg_bytes = 0;
    return 0;
}

/* ---- open ---------------------------------------------------------------------- */

/* Java's Character.isLetter / isDigit on one UTF-16 code unit (a surrogate is neither). */
static bool java_letter(ucs4_t u)
{
    return u < 0xD800 || u > 0xDFFF ? uc_is_general_category(u, UC_LETTER) : false;
}
static bool java_digit(ucs4_t u)
{
    return u < 0xD800 || u > 0xDFFF ? uc_is_general_category(u, UC_DECIMAL_DIGIT_NUMBER) : false;
}

/* Appends one character (a BMP code point or one surrogate) the way
 * AvroSchemaUtil.sanitize(char) does: a digit as "_" + the digit, else "_x" + its
 * UTF-16 code unit in upper-case hex. */
static void avro_escape_unit(struct buf *b, ucs4_t unit, const uint8_t *utf8, int len)
{
    if (java_digit(unit)) {
        buf_putc(b, '_');
        buf_append(b, utf8, (size_t)len);
        return;
    }
    buf_printf(b, "_x%X", (unsigned)unit);
}

char *pq_avro_name(const char *name)
{
    struct buf b;
    buf_init(&b, (size_t)1 << 20);
    const uint8_t *p = (const uint8_t *)name, *end = p + strlen(name);
    bool first = true;
    while (p < end) {
        ucs4_t u;
        int len = u8_mbtouc(&u, p, (size_t)(end - p));
        p += len;
        bool ok = java_letter(u) || u == '_' || (!first && java_digit(u));
        first = false;
        if (ok) {
            buf_append(&b, p - len, (size_t)len);
        } else if (u > 0xFFFF) {   /* a surrogate pair in Java: two escaped units */
            avro_escape_unit(&b, 0xD800 + ((u - 0x10000) >> 10), NULL, 0);
            avro_escape_unit(&b, 0xDC00 + ((u - 0x10000) & 0x3FF), NULL, 0);
        } else {
            avro_escape_unit(&b, u, p - len, len);
        }
    }
    char *out = xstrndup(b.data ? b.data : "", b.len);
    buf_release(&b);
    return out;
}

static int col_setup(struct pq_col *c, const struct lake_field *f, struct iv_err *e)
{
    c->f = *f;
    c->f.name = NULL;
    if (!f->name || !*f->name)
        return iv_err_set(e, IV_EINVAL, "parquet column with an empty name");
    if (f->id < 1)
        return iv_err_set(e, IV_EINVAL, "parquet column '%s': field id %d must be >= 1",
                          f->name, f->id);
    switch (f->type) {
    case LAKE_BOOLEAN: c->phys = PQ_BOOLEAN; c->kind = K_BOOL; break;
    case LAKE_INT: case LAKE_DATE:
        c->phys = PQ_INT32; c->kind = K_INT; c->dict_enabled = true; break;
    case LAKE_LONG: case LAKE_TIME: case LAKE_TIMESTAMP: case LAKE_TIMESTAMPTZ:
        c->phys = PQ_INT64; c->kind = K_INT; c->dict_enabled = true; break;
    case LAKE_FLOAT: c->phys = PQ_FLOAT; c->kind = K_FLOAT; break;
    case LAKE_DOUBLE: c->phys = PQ_DOUBLE; c->kind = K_FLOAT; break;
    case LAKE_STRING: case LAKE_BINARY:
        c->phys = PQ_BYTE_ARRAY; c->kind = K_BYTES; c->dict_enabled = true;
        c->dict_prefix = 4; break;
    case LAKE_UUID: c->phys = PQ_FLBA; c->kind = K_BYTES; c->type_len = 16; break;
    case LAKE_FIXED:
        if (f->fixed_len < 1)
            return iv_err_set(e, IV_EINVAL, "parquet column '%s': fixed length %d is invalid",
                              f->name, f->fixed_len);
        c->phys = PQ_FLBA; c->kind = K_BYTES; c->type_len = f->fixed_len; break;
    case LAKE_DECIMAL:
        if (f->precision < 1 || f->precision > 38 || f->scale < 0 || f->scale > f->precision)
            return iv_err_set(e, IV_EINVAL, "parquet column '%s': decimal(%d,%d) is invalid",
                              f->name, f->precision, f->scale);
        c->kind = K_DEC;
        c->dec_limit = pow10_i128(f->precision);
        if (f->precision <= 9)
            c->phys = PQ_INT32;
        else if (f->precision <= 18)
            c->phys = PQ_INT64;
        else {
            c->phys = PQ_FLBA;
            c->type_len = decimal_bytes(f->precision);
        }
        break;
    default:
        return iv_err_set(e, IV_EINVAL, "parquet column '%s': unknown type %d", f->name,
                          (int)f->type);
    }
    c->f.name = pq_avro_name(f->name);
    c->dict_mode = c->dict_enabled;
    return 0;
}

static void col_free(struct pq_col *c)
{
    free(c->f.name);
    pq_bytes_free(&c->vals);
    pq_bytes_free(&c->defs);
    pq_bytes_free(&c->idx);
    pq_bytes_free(&c->dict_data);
    pq_bytes_free(&c->chunk);
    pq_bytes_free(&c->cst.bmin);
    pq_bytes_free(&c->cst.bmax);
    pq_bytes_free(&c->fst.bmin);
    pq_bytes_free(&c->fst.bmax);
    free(c->dent);
    free(c->htab);
}

static void pqw_free(struct pqw *w)
{
    if (!w)
        return;
    if (w->fd >= 0)
        close(w->fd);
    for (int i = 0; i < w->ncols; i++)
        col_free(&w->cols[i]);
    free(w->cols);
    for (int r = 0; r < w->nrgs; r++) {
        for (int i = 0; i < w->ncols; i++)
            chunk_meta_free(&w->rgs[r].cols[i]);
        free(w->rgs[r].cols);
    }
    free(w->rgs);
    pq_bytes_free(&w->raw);
    pq_bytes_free(&w->comp);
    pq_bytes_free(&w->hdr);
    if (w->zctx)
        ZSTD_freeCCtx(w->zctx);
    free(w->created_by);
    free(w->schema_json);
    free(w->path);
    free(w->tmp);
    free(w);
}

int pqw_open(struct pqw **out, const char *path, const struct lake_field *fields, int nfields,
             const struct pqw_options *opts, struct iv_err *e)
{
    *out = NULL;
    if (!path || !*path)
        return iv_err_set(e, IV_EINVAL, "parquet writer: empty path");
    if (nfields < 1 || !fields)
        return iv_err_set(e, IV_EINVAL, "parquet file '%s' needs at least one column", path);
    struct pqw *w = calloc(1, sizeof *w);
    if (!w)
        return iv_err_set(e, IV_ENOMEM, "parquet writer: out of memory");
    w->fd = -1;
    int rc;
    if (opts)
        w->o = *opts;
    else
        w->o.codec = PQW_ZSTD;
    if (w->o.codec != PQW_UNCOMPRESSED && w->o.codec != PQW_SNAPPY && w->o.codec != PQW_ZSTD) {
        rc = iv_err_set(e, IV_EINVAL, "parquet file '%s': unknown codec %d", path, w->o.codec);
        goto fail;
    }
    if (w->o.zstd_level == 0)
        w->o.zstd_level = 3;
    if (w->o.page_bytes == 0)
        w->o.page_bytes = 1u << 20;
    if (w->o.row_group_bytes == 0)
        w->o.row_group_bytes = (size_t)128 << 20;
    w->path = strdup(path);
    w->created_by = strdup(w->o.created_by ? w->o.created_by : "ivory");
    w->schema_json = w->o.iceberg_schema_json ? strdup(w->o.iceberg_schema_json) : NULL;
    w->cols = calloc((size_t)nfields, sizeof *w->cols);
    if (!w->path || !w->created_by || !w->cols ||
        (w->o.iceberg_schema_json && !w->schema_json)) {
        rc = iv_err_set(e, IV_ENOMEM, "parquet writer: out of memory");
        goto fail;
    }
    w->o.created_by = w->o.iceberg_schema_json = NULL;
    for (int i = 0; i < nfields; i++) {
        if ((rc = col_setup(&w->cols[i], &fields[i], e)))
            goto fail;
        if (w->o.no_dictionary)
            w->cols[i].dict_enabled = w->cols[i].dict_mode = false;
        w->ncols = i + 1;
        for (int j = 0; j < i; j++) {
            if (fields[j].id == fields[i].id || strcmp(fields[j].name, fields[i].name) == 0) {
                rc = iv_err_set(e, IV_EINVAL, "parquet file '%s': duplicate column '%s' (id %d)",
                                path, fields[i].name, fields[i].id);
                goto fail;
            }
        }
    }
    if (w->o.codec == PQW_ZSTD && !(w->zctx = ZSTD_createCCtx())) {
        rc = iv_err_set(e, IV_ENOMEM, "parquet writer: out of memory");
        goto fail;
    }
    char rnd[37];
    uuid_v4(rnd);
    w->tmp = xasprintf("%s.tmp-%s", path, rnd);
    w->fd = open(w->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (w->fd < 0) {
        rc = iv_err_set(e, IV_EIO, "cannot create '%s': %s", w->tmp, strerror(errno));
        goto fail;
    }
    if ((rc = pq_write_all(w, "PAR1", 4))) {
        iv_err_set(e, rc, "%s", w->e.msg);
        goto fail;
    }
    *out = w;
    return IV_OK;
fail:
    if (w->fd >= 0)
        unlink(w->tmp);
    pqw_free(w);
    return rc;
}

/* ---- per-value API ------------------------------------------------------------- */

static int dict_put(struct pqw *w, struct pq_col *c, const uint8_t *p, size_t n);

static int pq_bad_put(struct pqw *w, int col, const char *what)
{
    if (col < 0 || col >= w->ncols)
        return pq_fail(w, IV_EINVAL, "parquet file '%s': column index %d out of range",
                       w->path, col);
    if (col != w->cur)
        return pq_fail(w, IV_EINVAL, "parquet file '%s': column %d written out of order "
                       "(expected %d)", w->path, col, w->cur);
    char ty[32];
    lake_type_string(&w->cols[col].f, ty);
    return pq_fail(w, IV_EINVAL, "parquet column '%s' (%s) cannot take a %s value",
                   w->cols[col].f.name, ty, what);
}

/* Returns the column if it is the next one and of an accepted kind, else NULL. */
static inline struct pq_col *pq_enter(struct pqw *w, int col)
{
    if (w->err || col != w->cur || col < 0 || col >= w->ncols)
        return NULL;
    return &w->cols[col];
}

static inline int pq_present(struct pqw *w, struct pq_col *c, size_t raw)
{
    if (!c->f.required) {
        if (pq_bytes_reserve(&c->defs, 1))
            return pq_nomem(w);
        c->defs.p[c->defs.len++] = 1;
    }
    c->page_values++;
    c->chunk_values++;
    w->cur++;
    w->rg_bytes += (int64_t)raw;
    if (c->vals.len + c->idx.len >= w->o.page_bytes || c->page_values >= (1u << 30))
        return col_close_page(w, c);
    return 0;
}

int pqw_put_null(struct pqw *w, int col)
{
    struct pq_col *c = pq_enter(w, col);
    if (!c)
        return w->err ? w->err : pq_bad_put(w, col, "null");
    if (c->f.required)
        return pq_fail(w, IV_EINVAL, "parquet column '%s' is required but got a null",
                       c->f.name);
    if (pq_bytes_reserve(&c->defs, 1))
        return pq_nomem(w);
    c->defs.p[c->defs.len++] = 0;
    c->page_values++;
    c->page_nulls++;
    c->chunk_values++;
    c->chunk_nulls++;
    w->cur++;
    /* a long run of nulls still ends the page: levels are 1 bit each once encoded */
    if (c->defs.len >= w->o.page_bytes * 8 || c->page_values >= (1u << 30))
        return col_close_page(w, c);
    return 0;
}

int pqw_put_bool(struct pqw *w, int col, bool v)
{
    struct pq_col *c = pq_enter(w, col);
    if (!c || c->f.type != LAKE_BOOLEAN)
        return w->err ? w->err : pq_bad_put(w, col, "boolean");
    if (pq_bytes_reserve(&c->vals, 1))
        return pq_nomem(w);
    c->vals.p[c->vals.len++] = v ? 1 : 0;
    struct pq_minmax *m = &c->cst;
    if (!m->has) {
        m->has = true;
        m->imin = m->imax = v;
    } else {
        if (v < m->imin)
            m->imin = v;
        if (v > m->imax)
            m->imax = v;
    }
    return pq_present(w, c, 1);
}

static inline void st_int(struct pq_col *c, int64_t v)
{
    struct pq_minmax *m = &c->cst;
    if (!m->has) {
        m->has = true;
        m->imin = m->imax = v;
        return;
    }
    if (v < m->imin)
        m->imin = v;
    if (v > m->imax)
        m->imax = v;
}

int pqw_put_i32(struct pqw *w, int col, int32_t v)
{
    struct pq_col *c = pq_enter(w, col);
    if (!c || (c->f.type != LAKE_INT && c->f.type != LAKE_DATE))
        return w->err ? w->err : pq_bad_put(w, col, "int32");
    st_int(c, v);
    uint8_t le[4];
    le32(le, (uint32_t)v);
    if (c->dict_mode) {
        int rc = dict_put(w, c, le, 4);
        if (rc <= 0)
            return rc < 0 ? rc : pq_present(w, c, 4);
    }
    if (pq_bytes_append(&c->vals, le, 4))
        return pq_nomem(w);
    return pq_present(w, c, 4);
}

int pqw_put_i64(struct pqw *w, int col, int64_t v)
{
    struct pq_col *c = pq_enter(w, col);
    if (!c || (c->f.type != LAKE_LONG && c->f.type != LAKE_TIME &&
               c->f.type != LAKE_TIMESTAMP && c->f.type != LAKE_TIMESTAMPTZ))
        return w->err ? w->err : pq_bad_put(w, col, "int64");
    st_int(c, v);
    uint8_t le[8];
    le64(le, (uint64_t)v);
    if (c->dict_mode) {
        int rc = dict_put(w, c, le, 8);
        if (rc <= 0)
            return rc < 0 ? rc : pq_present(w, c, 4);
    }
    if (pq_bytes_append(&c->vals, le, 8))
        return pq_nomem(w);
    return pq_present(w, c, 8);
}

static inline void st_dbl(struct pq_col *c, double v)
{
    if (isnan(v)) {
        c->chunk_nans++;
        return;
    }
    struct pq_minmax *m = &c->cst;
    if (!m->has) {
        m->has = true;
        m->dmin = m->dmax = v;
        return;
    }
    if (dbl_lt(v, m->dmin))
        m->dmin = v;
    if (dbl_lt(m->dmax, v))
        m->dmax = v;
}

int pqw_put_float(struct pqw *w, int col, float v)
{
    struct pq_col *c = pq_enter(w, col);
    if (!c || c->f.type != LAKE_FLOAT)
        return w->err ? w->err : pq_bad_put(w, col, "float");
    if (pq_bytes_reserve(&c->vals, 4))
        return pq_nomem(w);
    memcpy(c->vals.p + c->vals.len, &v, 4);
    c->vals.len += 4;
    st_dbl(c, v);
    return pq_present(w, c, 4);
}

int pqw_put_double(struct pqw *w, int col, double v)
{
    struct pq_col *c = pq_enter(w, col);
    if (!c || c->f.type != LAKE_DOUBLE)
        return w->err ? w->err : pq_bad_put(w, col, "double");
    if (pq_bytes_reserve(&c->vals, 8))
        return pq_nomem(w);
    memcpy(c->vals.p + c->vals.len, &v, 8);
    c->vals.len += 8;
    st_dbl(c, v);
    return pq_present(w, c, 8);
}

static inline uint64_t pq_hash(const uint8_t *p, size_t n)
{
    uint64_t h = 0x9E3779B97F4A7C15ull ^ (uint64_t)n;
    while (n >= 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        h = (h ^ v) * 0xff51afd7ed558ccdull;
        h ^= h >> 32;
        p += 8;
        n -= 8;
    }
    uint64_t v = 0;
    if (n)
        memcpy(&v, p, n);
    h = (h ^ v) * 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 29;
    return h;
}

/* Integer dictionary entry k as a zero-extended word (entries are 4 or 8 bytes). */
static inline uint64_t dict_int_key(const struct pq_col *c, uint32_t k)
{
    const uint8_t *q = c->dict_data.p + c->dent[k].off;
    if (c->dent[k].len == 8) {
        uint64_t v;
        memcpy(&v, q, 8);
        return v;
    }
    uint32_t v4;
    memcpy(&v4, q, 4);
    return v4;
}

static int dict_rehash(struct pq_col *c, uint32_t cap)
{
    struct pq_hslot *t = malloc(sizeof(*t) * cap);
    if (!t)
        return IV_ENOMEM;
    memset(t, 0xff, sizeof(*t) * cap);
    for (uint32_t k = 0; k < c->ndict; k++) {
        uint32_t s = c->dent[k].hash & (cap - 1);
        while (t[s].idx >= 0)
            s = (s + 1) & (cap - 1);
        t[s].idx = (int32_t)k;
        t[s].hash = c->dent[k].hash;
        t[s].key = c->dict_prefix == 0 ? dict_int_key(c, k) : 0;
    }
    free(c->htab);
    c->htab = t;
    c->hcap = cap;
    return 0;
}

/* Hash of a 4- or 8-byte little-endian integer entry (one multiply; the high half
 * of the product mixes every input bit). */
static inline uint32_t pq_hash_int(uint64_t x)
{
    uint64_t h = (x ^ (x >> 29)) * 0x9E3779B97F4A7C15ull;
    return (uint32_t)(h >> 32) ^ (uint32_t)h;
}

/* Dictionary mode: finds or inserts (p, n); appends its index to the page. Integer
 * columns (no length prefix, n = 4 or 8) hash and compare the value as one word. */
static int dict_put(struct pqw *w, struct pq_col *c, const uint8_t *p, size_t n)
{
    if (!c->hcap && dict_rehash(c, 1024))
        return pq_nomem(w);
    uint32_t h, s;
    int32_t k;
    uint64_t x = 0;
    if (c->dict_prefix == 0 && (n == 8 || n == 4)) {
        /* fixed-size loads (a variable-length memcpy would be a libc call) */
        if (n == 8) {
            memcpy(&x, p, 8);
        } else {
            uint32_t x4;
            memcpy(&x4, p, 4);
            x = x4;
        }
        h = pq_hash_int(x);
        s = h & (c->hcap - 1);
        while ((k = c->htab[s].idx) >= 0) {
            if (c->htab[s].key == x && c->htab[s].hash == h)
                goto found;
            s = (s + 1) & (c->hcap - 1);
        }
    } else {
        uint64_t h64 = pq_hash(p, n);
        h = (uint32_t)(h64 ^ (h64 >> 32));
        s = h & (c->hcap - 1);
        while ((k = c->htab[s].idx) >= 0) {
            if (c->htab[s].hash == h) {
                const struct pq_dict_entry *d = &c->dent[k];
                if (d->len == n && mem_equal(c->dict_data.p + d->off + c->dict_prefix, p, n))
                    goto found;
            }
            s = (s + 1) & (c->hcap - 1);
        }
    }
    if (c->dict_data.len + (size_t)c->dict_prefix + n > PQ_DICT_MAX) {
        int rc = col_dict_fallback(w, c);
        if (rc)
            return rc;
        return 1;   /* caller appends PLAIN */
    }
    if (c->ndict == c->dent_cap) {
        uint32_t cap = c->dent_cap ? c->dent_cap * 2 : 256;
        struct pq_dict_entry *d = realloc(c->dent, sizeof *d * cap);
        if (!d)
            return pq_nomem(w);
        c->dent = d;
        c->dent_cap = cap;
    }
    uint8_t lb[4];
    le32(lb, (uint32_t)n);
    size_t off = c->dict_data.len;
    if (pq_bytes_append(&c->dict_data, lb, (size_t)c->dict_prefix) ||
        pq_bytes_append(&c->dict_data, p, n))
        return pq_nomem(w);
    k = (int32_t)c->ndict++;
    c->dent[k] = (struct pq_dict_entry){(uint32_t)off, (uint32_t)n, h};
    c->htab[s] = (struct pq_hslot){k, h, x};
    if (c->kind == K_BYTES && st_bytes(c, p, n))   /* ints keep their stats in the put */
        return pq_nomem(w);
    if (c->ndict * 2 > c->hcap && dict_rehash(c, c->hcap * 2))
        return pq_nomem(w);
found:
    if (pq_bytes_reserve(&c->idx, 4))
        return pq_nomem(w);
    le32(c->idx.p + c->idx.len, (uint32_t)k);
    c->idx.len += 4;
    /* Early out for near-unique columns (ids, timestamps): after 4096 values of the
     * chunk's first page, more than 3/4 distinct means the dictionary will not pay. */
    if (c->idx.len == 4 * 4096 && !c->dict_pages && c->chunk_pages == 0 && c->ndict > 3072)
        return col_dict_fallback(w, c);
    return 0;
}

int pqw_put_bytes(struct pqw *w, int col, const void *p, size_t n)
{
    struct pq_col *c = pq_enter(w, col);
    if (!c || c->kind != K_BYTES)
        return w->err ? w->err : pq_bad_put(w, col, "byte string");
    if (!p && n)
        return pq_fail(w, IV_EINVAL, "parquet column '%s': NULL data", c->f.name);
    if (c->phys == PQ_FLBA) {
        if (n != (size_t)c->type_len)
            return pq_fail(w, IV_EINVAL, "parquet column '%s' needs %d bytes, got %zu",
                           c->f.name, c->type_len, n);
        if (pq_bytes_append(&c->vals, p, n) || st_bytes(c, p, n))
            return pq_nomem(w);
        return pq_present(w, c, n);
    }
    if (n > INT32_MAX)
        return pq_fail(w, IV_ETOOBIG, "parquet column '%s': value of %zu bytes is too large",
                       c->f.name, n);
    if (c->dict_mode) {
        int rc = dict_put(w, c, p, n);
        if (rc < 0)
            return rc;
        if (rc == 0)
            return pq_present(w, c, 4);
    }
    uint8_t lb[4];
    le32(lb, (uint32_t)n);
    if (pq_bytes_reserve(&c->vals, 4 + n))
        return pq_nomem(w);
    memcpy(c->vals.p + c->vals.len, lb, 4);
    if (n)
        memcpy(c->vals.p + c->vals.len + 4, p, n);
    c->vals.len += 4 + n;
    if (st_bytes(c, p, n))
        return pq_nomem(w);
    return pq_present(w, c, 4 + n);
}

int pqw_put_decimal(struct pqw *w, int col, __int128 v)
{
    struct pq_col *c = pq_enter(w, col);
    if (!c || c->kind != K_DEC)
        return w->err ? w->err : pq_bad_put(w, col, "decimal");
    __int128 lim = c->dec_limit;
    if (v >= lim || v <= -lim)
        return pq_fail(w, IV_EINVAL, "parquet column '%s': value does not fit decimal(%d,%d)",
                       c->f.name, c->f.precision, c->f.scale);
    size_t n = c->phys == PQ_INT32 ? 4 : c->phys == PQ_INT64 ? 8 : (size_t)c->type_len;
    if (pq_bytes_reserve(&c->vals, n))
        return pq_nomem(w);
    uint8_t *o = c->vals.p + c->vals.len;
    if (c->phys == PQ_INT32)
        le32(o, (uint32_t)(int32_t)v);
    else if (c->phys == PQ_INT64)
        le64(o, (uint64_t)(int64_t)v);
    else
        dec_be(v, o, c->type_len);
    c->vals.len += n;
    struct pq_minmax *m = &c->cst;
    if (!m->has) {
        m->has = true;
        m->xmin = m->xmax = v;
    } else {
        if (v < m->xmin)
            m->xmin = v;
        if (v > m->xmax)
            m->xmax = v;
    }
    return pq_present(w, c, n);
}

int pqw_end_row(struct pqw *w)
{
    if (w->err)
        return w->err;
    if (w->cur != w->ncols)
        return pq_fail(w, IV_EINVAL, "parquet file '%s': row ended after %d of %d columns",
                       w->path, w->cur, w->ncols);
    w->cur = 0;
    w->rows++;
    w->rg_rows++;
    if ((size_t)w->rg_bytes >= w->o.row_group_bytes)
        return pq_flush_row_group(w);
    return 0;
}

int64_t pqw_rows(const struct pqw *w)
{
    return w->rows;
}

int64_t pqw_bytes_estimate(const struct pqw *w)
{
    return w->off + (w->rg_bytes > 0 ? w->rg_bytes : 0);
}

/* ---- footer ------------------------------------------------------------------- */

static void schema_element(struct thrift_w *t, const struct pq_col *c)
{
    thrift_elem_struct_begin(t);
    thrift_i32(t, 1, c->phys);
    if (c->phys == PQ_FLBA)
        thrift_i32(t, 2, c->type_len);
    thrift_i32(t, 3, c->f.required ? 0 : 1);
    thrift_string(t, 4, c->f.name);
    switch (c->f.type) {
    case LAKE_STRING:
        thrift_i32(t, 6, CT_UTF8);
        thrift_i32(t, 9, c->f.id);
        thrift_struct_begin(t, 10);
        thrift_empty_struct(t, 1);
        thrift_struct_end(t);
        break;
    case LAKE_DATE:
        thrift_i32(t, 6, CT_DATE);
        thrift_i32(t, 9, c->f.id);
        thrift_struct_begin(t, 10);
        thrift_empty_struct(t, 6);
        thrift_struct_end(t);
        break;
    case LAKE_TIME:
    case LAKE_TIMESTAMP:
    case LAKE_TIMESTAMPTZ:
        thrift_i32(t, 6, c->f.type == LAKE_TIME ? CT_TIME_MICROS : CT_TIMESTAMP_MICROS);
        thrift_i32(t, 9, c->f.id);
        thrift_struct_begin(t, 10);
        thrift_struct_begin(t, c->f.type == LAKE_TIME ? 7 : 8);
        thrift_bool(t, 1, c->f.type == LAKE_TIMESTAMPTZ);
        thrift_struct_begin(t, 2);
        thrift_empty_struct(t, 2);   /* MICROS */
        thrift_struct_end(t);
        thrift_struct_end(t);
        thrift_struct_end(t);
        break;
    case LAKE_DECIMAL:
        thrift_i32(t, 6, CT_DECIMAL);
        thrift_i32(t, 7, c->f.scale);
        thrift_i32(t, 8, c->f.precision);
        thrift_i32(t, 9, c->f.id);
        thrift_struct_begin(t, 10);
        thrift_struct_begin(t, 5);
        thrift_i32(t, 1, c->f.scale);
        thrift_i32(t, 2, c->f.precision);
        thrift_struct_end(t);
        thrift_struct_end(t);
        break;
    case LAKE_UUID:
        thrift_i32(t, 9, c->f.id);
        thrift_struct_begin(t, 10);
        thrift_empty_struct(t, 14);
        thrift_struct_end(t);
        break;
    default:
        thrift_i32(t, 9, c->f.id);
        break;
    }
    thrift_struct_end(t);
}

static void column_chunk(struct thrift_w *t, const struct pq_col *c, const struct pq_chunk_meta *m,
                         int codec)
{
    thrift_elem_struct_begin(t);
    thrift_i64(t, 2, 0);
    thrift_struct_begin(t, 3);
    thrift_i32(t, 1, c->phys);
    uint32_t nenc = 0;
    for (int b = 0; b < 32; b++)
        nenc += (m->encodings >> b) & 1;
    thrift_list_begin(t, 2, TT_I32, nenc);
    for (int b = 0; b < 32; b++)
        if ((m->encodings >> b) & 1)
            thrift_elem_i32(t, b);
    thrift_list_begin(t, 3, TT_BINARY, 1);
    thrift_elem_binary(t, c->f.name, strlen(c->f.name));
    thrift_i32(t, 4, codec);
    thrift_i64(t, 5, m->num_values);
    thrift_i64(t, 6, m->total_uncompressed);
    thrift_i64(t, 7, m->total_compressed);
    thrift_i64(t, 9, m->data_page_offset);
    if (m->dict_page_offset >= 0)
        thrift_i64(t, 11, m->dict_page_offset);
    thrift_struct_begin(t, 12);
    thrift_i64(t, 3, m->null_count);
    if (m->has_minmax) {
        thrift_binary(t, 5, m->max, m->max_len);
        thrift_binary(t, 6, m->min, m->min_len);
    }
    if (c->kind == K_FLOAT)
        thrift_i64(t, 9, m->nan_count);
    thrift_struct_end(t);
    thrift_struct_end(t);
    thrift_struct_end(t);
}

static int pq_write_footer(struct pqw *w)
{
    struct pq_bytes b = {0};
    struct thrift_w t;
    thrift_init(&t, &b);
    thrift_top_begin(&t);
    thrift_i32(&t, 1, 1);
    thrift_list_begin(&t, 2, TT_STRUCT, (uint32_t)w->ncols + 1);
    thrift_elem_struct_begin(&t);
    thrift_string(&t, 4, "table");
    thrift_i32(&t, 5, w->ncols);
    thrift_struct_end(&t);
    for (int i = 0; i < w->ncols; i++)
        schema_element(&t, &w->cols[i]);
    thrift_i64(&t, 3, w->rows);
    thrift_list_begin(&t, 4, TT_STRUCT, (uint32_t)w->nrgs);
    for (int r = 0; r < w->nrgs; r++) {
        const struct pq_rg *rg = &w->rgs[r];
        thrift_elem_struct_begin(&t);
        thrift_list_begin(&t, 1, TT_STRUCT, (uint32_t)w->ncols);
        for (int i = 0; i < w->ncols; i++)
            column_chunk(&t, &w->cols[i], &rg->cols[i], (int)w->o.codec);
        thrift_i64(&t, 2, rg->total_byte_size);
        thrift_i64(&t, 3, rg->num_rows);
        thrift_i64(&t, 5, rg->file_offset);
        thrift_i64(&t, 6, rg->total_compressed);
        thrift_struct_end(&t);
    }
    if (w->schema_json) {
        thrift_list_begin(&t, 5, TT_STRUCT, 1);
        thrift_elem_struct_begin(&t);
        thrift_string(&t, 1, "iceberg.schema");
        thrift_string(&t, 2, w->schema_json);
        thrift_struct_end(&t);
    }
    thrift_string(&t, 6, w->created_by);
    thrift_list_begin(&t, 7, TT_STRUCT, (uint32_t)w->ncols);
    for (int i = 0; i < w->ncols; i++) {
        thrift_elem_struct_begin(&t);
        thrift_empty_struct(&t, 1);
        thrift_struct_end(&t);
    }
    thrift_top_end(&t);
    int rc = t.err;
    if (rc) {
        pq_bytes_free(&b);
        return pq_nomem(w);
    }
    uint8_t tail[8];
    le32(tail, (uint32_t)b.len);
    memcpy(tail + 4, "PAR1", 4);
    rc = pq_write_all(w, b.p, b.len);
    if (!rc)
        rc = pq_write_all(w, tail, 8);
    pq_bytes_free(&b);
    return rc;
}

/* ---- Iceberg bounds ------------------------------------------------------------ */

/* Length of the longest prefix of s (n bytes) that is <= max bytes and ends on a
 * UTF-8 character boundary. */
static size_t utf8_cut(const uint8_t *s, size_t n, size_t max)
{
    if (n <= max)
        return n;
    size_t k = max;
    while (k > 0 && (s[k] & 0xC0) == 0x80)
        k--;
    return k;
}

static size_t utf8_put(uint8_t *o, uint32_t cp)
{
    if (cp < 0x80) {
        o[0] = (uint8_t)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (uint8_t)(0xC0 | (cp >> 6));
        o[1] = (uint8_t)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (uint8_t)(0xE0 | (cp >> 12));
        o[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (uint8_t)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (uint8_t)(0xF0 | (cp >> 18));
    o[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (uint8_t)(0x80 | (cp & 0x3F));
    return 4;
}

/* Decodes the code point starting at s[i] (lenient); sets *len. */
static uint32_t utf8_get(const uint8_t *s, size_t n, size_t i, size_t *len)
{
    uint8_t c = s[i];
    size_t l = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 1;
    if (i + l > n)
        l = 1;
    uint32_t cp = l == 1 ? c : l == 2 ? (c & 0x1Fu) : l == 3 ? (c & 0x0Fu) : (c & 0x07u);
    for (size_t k = 1; k < l; k++)
        cp = (cp << 6) | (s[i + k] & 0x3Fu);
    *len = l;
    return cp;
}

/* Upper bound for a string longer than 16 bytes: the 16-byte prefix with its last
 * code point incremented (dropping code points that cannot be). 0 if none. */
static size_t string_upper(const uint8_t *s, size_t n, uint8_t out[64])
{
    size_t cut = utf8_cut(s, n, 16);
    /* offsets of code point starts in the prefix */
    size_t starts[17], ns = 0;
    for (size_t i = 0; i < cut && ns < 17;) {
        size_t l;
        starts[ns++] = i;
        utf8_get(s, cut, i, &l);
        i += l;
    }
    while (ns > 0) {
        size_t at = starts[ns - 1], l;
        uint32_t cp = utf8_get(s, cut, at, &l) + 1;
        if (cp == 0xD800)
            cp = 0xE000;
        if (cp <= 0x10FFFF) {
            memcpy(out, s, at);
            return at + utf8_put(out + at, cp);
        }
        ns--;
    }
    return 0;
}

static size_t binary_upper(const uint8_t *s, size_t n, uint8_t out[64])
{
    size_t k = n < 16 ? n : 16;
    memcpy(out, s, k);
    while (k > 0) {
        if (out[k - 1] != 0xFF) {
            out[k - 1]++;
            return k;
        }
        k--;
    }
    return 0;
}

static void iceberg_bounds(const struct pq_col *c, struct pqw_column_stats *cs)
{
    const struct pq_minmax *m = &c->fst;
    cs->has_bounds = false;
    cs->lower_len = cs->upper_len = 0;
    if (!m->has)
        return;
    switch (c->f.type) {
    case LAKE_BOOLEAN:
        cs->lower[0] = (uint8_t)m->imin;
        cs->upper[0] = (uint8_t)m->imax;
        cs->lower_len = cs->upper_len = 1;
        break;
    case LAKE_INT:
    case LAKE_DATE:
        le32(cs->lower, (uint32_t)(int32_t)m->imin);
        le32(cs->upper, (uint32_t)(int32_t)m->imax);
        cs->lower_len = cs->upper_len = 4;
        break;
    case LAKE_LONG:
    case LAKE_TIME:
    case LAKE_TIMESTAMP:
    case LAKE_TIMESTAMPTZ:
        le64(cs->lower, (uint64_t)m->imin);
        le64(cs->upper, (uint64_t)m->imax);
        cs->lower_len = cs->upper_len = 8;
        break;
    case LAKE_FLOAT: {
        float a = (float)m->dmin, b = (float)m->dmax;
        memcpy(cs->lower, &a, 4);
        memcpy(cs->upper, &b, 4);
        cs->lower_len = cs->upper_len = 4;
        break;
    }
    case LAKE_DOUBLE:
        memcpy(cs->lower, &m->dmin, 8);
        memcpy(cs->upper, &m->dmax, 8);
        cs->lower_len = cs->upper_len = 8;
        break;
    case LAKE_DECIMAL:
        cs->lower_len = dec_minimal(m->xmin, cs->lower);
        cs->upper_len = dec_minimal(m->xmax, cs->upper);
        break;
    case LAKE_UUID:
    case LAKE_FIXED:
        /* exact values keep the fixed length readers expect; truncate only huge ones */
        if (m->bmin.len <= sizeof cs->lower) {
            memcpy(cs->lower, m->bmin.p, m->bmin.len);
            memcpy(cs->upper, m->bmax.p, m->bmax.len);
            cs->lower_len = cs->upper_len = m->bmin.len;
            break;
        }
        /* fall through */
    case LAKE_STRING:
    case LAKE_BINARY: {
        bool str = c->f.type == LAKE_STRING;
        size_t ln = str ? utf8_cut(m->bmin.p, m->bmin.len, 16)
                        : (m->bmin.len < 16 ? m->bmin.len : 16);
        if (ln)
            memcpy(cs->lower, m->bmin.p, ln);
        cs->lower_len = ln;
        if (m->bmax.len <= 16) {
            if (m->bmax.len)
                memcpy(cs->upper, m->bmax.p, m->bmax.len);
            cs->upper_len = m->bmax.len;
        } else {
            size_t un = str ? string_upper(m->bmax.p, m->bmax.len, cs->upper)
                            : binary_upper(m->bmax.p, m->bmax.len, cs->upper);
            if (un == 0) {
                if (m->bmax.len > sizeof cs->upper)
                    return;   /* no usable upper bound: drop both */
                memcpy(cs->upper, m->bmax.p, m->bmax.len);
                un = m->bmax.len;
            }
            cs->upper_len = un;
        }
        break;
    }
    default:
        return;
    }
    cs->has_bounds = true;
}

static int pq_fill_stats(struct pqw *w, struct pqw_file_stats *s)
{
    memset(s, 0, sizeof *s);
    s->file_size = w->off;
    s->record_count = w->rows;
    s->ncolumns = w->ncols;
    s->columns = calloc((size_t)w->ncols, sizeof *s->columns);
    s->split_offsets = calloc((size_t)(w->nrgs ? w->nrgs : 1), sizeof *s->split_offsets);
    if (!s->columns || !s->split_offsets) {
        pqw_file_stats_release(s);
        return IV_ENOMEM;
    }
    s->nsplits = w->nrgs;
    for (int r = 0; r < w->nrgs; r++)
        s->split_offsets[r] = w->rgs[r].file_offset;
    for (int i = 0; i < w->ncols; i++) {
        const struct pq_col *c = &w->cols[i];
        struct pqw_column_stats *cs = &s->columns[i];
        cs->field_id = c->f.id;
        cs->compressed_size = c->f_compressed;
        cs->value_count = c->f_values;
        cs->null_count = c->f_nulls;
        cs->nan_count = c->f_nans;
        iceberg_bounds(c, cs);
    }
    return 0;
}

void pqw_file_stats_release(struct pqw_file_stats *s)
{
    if (!s)
        return;
    free(s->columns);
    free(s->split_offsets);
    s->columns = NULL;
    s->split_offsets = NULL;
    s->ncolumns = s->nsplits = 0;
}

int pqw_finish(struct pqw *w, struct pqw_file_stats *stats, struct iv_err *e)
{
    int rc = w->err;
    if (!rc && w->cur != 0)
        rc = pq_fail(w, IV_EINVAL, "parquet file '%s': finished in the middle of a row", w->path);
    if (!rc)
        rc = pq_flush_row_group(w);
    if (!rc)
        rc = pq_write_footer(w);
    if (!rc && fsync(w->fd) < 0)
        rc = pq_fail(w, IV_EIO, "fsync('%s') failed: %s", w->tmp, strerror(errno));
    if (!rc) {
        int fd = w->fd;
        w->fd = -1;
        if (close(fd) < 0)
            rc = pq_fail(w, IV_EIO, "close('%s') failed: %s", w->tmp, strerror(errno));
    }
    if (!rc && stats && pq_fill_stats(w, stats))
        rc = pq_nomem(w);
    if (!rc && rename(w->tmp, w->path) < 0)
        rc = pq_fail(w, IV_EIO, "rename('%s') failed: %s", w->tmp, strerror(errno));
    if (rc) {
        if (stats)
            pqw_file_stats_release(stats);
        iv_err_set(e, rc, "%s", w->e.msg);
        unlink(w->tmp);
        pqw_free(w);
        return rc;
    }
    if (fsync_dir_of(w->path) != IV_OK)
        log_warn("parquet: fsync of the directory of '%s' failed", w->path);
    pqw_free(w);
    return IV_OK;
}

void pqw_abort(struct pqw *w)
{
    if (!w)
        return;
    if (w->fd >= 0) {
        close(w->fd);
        w->fd = -1;
    }
    if (w->tmp)
        unlink(w->tmp);
    pqw_free(w);
}
