/*
 * lake/thrift: the Thrift compact-protocol encoder the Parquet writer uses
 * for its page headers and footer (internal to lake; nothing else speaks
 * Thrift). Also holds pq_bytes, the growable byte vector of the Parquet
 * writer: unlike util's struct buf it reports IV_ENOMEM instead of aborting,
 * because the lake is library code.
 *
 * Encoding rules (thrift doc/specs/thrift-compact-protocol.md): ints are
 * zigzag varints, binary is a ULEB128 length + bytes, a field header is one
 * byte (delta<<4 | type) when 1 <= delta <= 15, else type byte + zigzag i16
 * id; each nested struct restarts the "previous field id" at 0; bools live
 * in the field header. Errors are sticky in thrift_w.err and checked once.
 */
#ifndef IVORY_LAKE_THRIFT_H
#define IVORY_LAKE_THRIFT_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <string.h>

/* ---- pq_bytes: growable byte vector ------------------------------------ */
struct pq_bytes {
    uint8_t *p;
    size_t len;
    size_t cap;
};
void pq_bytes_free(struct pq_bytes *b);
/* Makes room for `extra` more bytes. IV_ENOMEM on failure (b unchanged). */
int pq_bytes_grow(struct pq_bytes *b, size_t extra);
static inline int pq_bytes_reserve(struct pq_bytes *b, size_t extra)
{
    return (b->cap - b->len >= extra) ? 0 : pq_bytes_grow(b, extra);
}
static inline int pq_bytes_append(struct pq_bytes *b, const void *p, size_t n)
{
    int rc = pq_bytes_reserve(b, n);
    if (rc)
        return rc;
    if (n)
        memcpy(b->p + b->len, p, n);
    b->len += n;
    return 0;
}
/* Unsigned LEB128 varint. */
int pq_put_uvarint(struct pq_bytes *b, uint64_t v);

/* ---- compact protocol writer ------------------------------------------- */
enum thrift_type {
    TT_BOOL_TRUE = 1, TT_BOOL_FALSE = 2, TT_I8 = 3, TT_I16 = 4, TT_I32 = 5, TT_I64 = 6,
    TT_DOUBLE = 7, TT_BINARY = 8, TT_LIST = 9, TT_SET = 10, TT_MAP = 11, TT_STRUCT = 12,
};

#define THRIFT_MAX_DEPTH 16
struct thrift_w {
    struct pq_bytes *b;          /* borrowed */
    int16_t last[THRIFT_MAX_DEPTH];
    int depth;
    int err;                     /* first error (IV_ENOMEM / IV_EINVAL), sticky */
};
void thrift_init(struct thrift_w *t, struct pq_bytes *b);
/* Field writers: write the header for `id` then the value. */
void thrift_i32(struct thrift_w *t, int16_t id, int32_t v);
void thrift_i64(struct thrift_w *t, int16_t id, int64_t v);
void thrift_bool(struct thrift_w *t, int16_t id, bool v);
void thrift_binary(struct thrift_w *t, int16_t id, const void *p, size_t n);
void thrift_string(struct thrift_w *t, int16_t id, const char *s);
/* A struct-valued field: thrift_struct_begin(t, id) ... thrift_struct_end(t). */
void thrift_struct_begin(struct thrift_w *t, int16_t id);
void thrift_struct_end(struct thrift_w *t);
/* An empty struct-valued field (union member with no data, e.g. STRING{}). */
void thrift_empty_struct(struct thrift_w *t, int16_t id);
/* A list field header; then write n elements with the thrift_elem_* helpers. */
void thrift_list_begin(struct thrift_w *t, int16_t id, enum thrift_type elem, uint32_t n);
void thrift_elem_i32(struct thrift_w *t, int32_t v);
void thrift_elem_binary(struct thrift_w *t, const void *p, size_t n);
/* A struct list element: thrift_elem_struct_begin ... thrift_struct_end. */
void thrift_elem_struct_begin(struct thrift_w *t);
/* The top-level struct: begin resets field ids; end writes the stop byte. */
void thrift_top_begin(struct thrift_w *t);
void thrift_top_end(struct thrift_w *t);

#endif
