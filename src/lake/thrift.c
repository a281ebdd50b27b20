/*
 * lake/thrift: Thrift compact-protocol encoding for Parquet metadata, and
 * the pq_bytes vector (see thrift.h for the rules followed).
 */
#include "lake/thrift.h"
#include "util/util.h"

#include <stdlib.h>

void pq_bytes_free(struct pq_bytes *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

int pq_bytes_grow(struct pq_bytes *b, size_t extra)
{
    if (extra > SIZE_MAX / 4 - b->len)
        return IV_ENOMEM;
    size_t need = b->len + extra;
    if (need <= b->cap)
        return IV_OK;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need)
        cap *= 2;
    uint8_t *p = realloc(b->p, cap);
    if (!p)
        return IV_ENOMEM;
    b->p = p;
    b->cap = cap;
    return IV_OK;
}

int pq_put_uvarint(struct pq_bytes *b, uint64_t v)
{
    int rc = pq_bytes_reserve(b, 10);
    if (rc)
        return rc;
    uint8_t *o = b->p + b->len;
    size_t n = 0;
    while (v >= 0x80) {
        o[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    o[n++] = (uint8_t)v;
    b->len += n;
    return IV_OK;
}

static void t_check(struct thrift_w *t, int rc)
{
    if (rc && !t->err)
        t->err = rc;
}

static void t_byte(struct thrift_w *t, uint8_t c)
{
    t_check(t, pq_bytes_append(t->b, &c, 1));
}

static void t_varint(struct thrift_w *t, uint64_t v)
{
    t_check(t, pq_put_uvarint(t->b, v));
}

static uint64_t zigzag64(int64_t v)
{
    return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}

static void t_header(struct thrift_w *t, int16_t id, enum thrift_type type)
{
    int16_t delta = (int16_t)(id - t->last[t->depth]);
    if (delta > 0 && delta <= 15) {
        t_byte(t, (uint8_t)((delta << 4) | type));
    } else {
        t_byte(t, (uint8_t)type);
        t_varint(t, zigzag64(id));
    }
    t->last[t->depth] = id;
}

void thrift_init(struct thrift_w *t, struct pq_bytes *b)
{
    memset(t, 0, sizeof *t);
    t->b = b;
}

void thrift_i32(struct thrift_w *t, int16_t id, int32_t v)
{
    t_header(t, id, TT_I32);
    t_varint(t, zigzag64(v));
}

void thrift_i64(struct thrift_w *t, int16_t id, int64_t v)
{
    t_header(t, id, TT_I64);
    t_varint(t, zigzag64(v));
}

void thrift_bool(struct thrift_w *t, int16_t id, bool v)
{
    t_header(t, id, v ? TT_BOOL_TRUE : TT_BOOL_FALSE);
}

void thrift_binary(struct thrift_w *t, int16_t id, const void *p, size_t n)
{
    t_header(t, id, TT_BINARY);
    thrift_elem_binary(t, p, n);
}

void thrift_string(struct thrift_w *t, int16_t id, const char *s)
{
    thrift_binary(t, id, s, strlen(s));
}

static void t_push(struct thrift_w *t)
{
    if (t->depth + 1 >= THRIFT_MAX_DEPTH) {
        t_check(t, IV_EINVAL);
        return;
    }
    t->depth++;
    t->last[t->depth] = 0;
}

void thrift_struct_begin(struct thrift_w *t, int16_t id)
{
    t_header(t, id, TT_STRUCT);
    t_push(t);
}

void thrift_struct_end(struct thrift_w *t)
{
    t_byte(t, 0);
    if (t->depth > 0)
        t->depth--;
}

void thrift_empty_struct(struct thrift_w *t, int16_t id)
{
    t_header(t, id, TT_STRUCT);
    t_byte(t, 0);
}

void thrift_list_begin(struct thrift_w *t, int16_t id, enum thrift_type elem, uint32_t n)
{
    t_header(t, id, TT_LIST);
    if (n <= 14) {
        t_byte(t, (uint8_t)((n << 4) | elem));
    } else {
        t_byte(t, (uint8_t)(0xF0 | elem));
        t_varint(t, n);
    }
}

void thrift_elem_i32(struct thrift_w *t, int32_t v)
{
    t_varint(t, zigzag64(v));
}

void thrift_elem_binary(struct thrift_w *t, const void *p, size_t n)
{
    t_varint(t, n);
    t_check(t, pq_bytes_append(t->b, p, n));
}

void thrift_elem_struct_begin(struct thrift_w *t)
{
    t_push(t);
}

void thrift_top_begin(struct thrift_w *t)
{
    t->depth = 0;
    t->last[0] = 0;
}

void thrift_top_end(struct thrift_w *t)
{
    t_byte(t, 0);
}
