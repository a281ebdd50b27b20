/*
 * buf: a growable byte buffer with a mandatory maximum (curl's dynbuf idea).
 *
 * Every byte that arrives from outside the process (HTTP bodies, tap output,
 * catalog responses) is collected in one of these, so a hostile or broken
 * peer can never make us allocate without bound. The data is kept
 * NUL-terminated so text can be parsed in place.
 */
#include "util/util.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void buf_init(struct buf *b, size_t max)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max ? max : SIZE_MAX / 2;
}

void buf_release(struct buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

void buf_reset(struct buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

int buf_reserve(struct buf *b, size_t extra)
{
    if (extra > b->max || b->len > b->max - extra)
        return IV_ETOOBIG;
    size_t need = b->len + extra + 1;
    if (need <= b->cap)
        return IV_OK;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap *= 2;
    b->data = xrealloc(b->data, cap);
    b->cap = cap;
    return IV_OK;
}

int buf_append(struct buf *b, const void *p, size_t n)
{
    int rc = buf_reserve(b, n);
    if (rc)
        return rc;
    assert(b->len + n < b->cap && b->len + n <= b->max);   /* reserve kept room for the NUL */
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return IV_OK;
}

int buf_append_str(struct buf *b, const char *s)
{
    return buf_append(b, s, strlen(s));
}

int buf_putc(struct buf *b, char c)
{
    return buf_append(b, &c, 1);
}

int buf_printf(struct buf *b, const char *fmt, ...)
{
    va_list ap, ap2;
    va_start(ap, fmt);
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        va_end(ap2);
        return IV_EINVAL;
    }
    int rc = buf_reserve(b, (size_t)n);
    if (rc) {
        va_end(ap2);
        return rc;
    }
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap2);
    va_end(ap2);
    b->len += (size_t)n;
    return IV_OK;
}

char *buf_detach(struct buf *b, size_t *len_out)
{
    char *p = b->data ? b->data : xstrdup("");
    if (len_out)
        *len_out = b->len;
    b->data = NULL;
    b->len = b->cap = 0;
    return p;
}
