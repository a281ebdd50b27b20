/*
 * alloc: allocation wrappers and the error vocabulary.
 *
 * Service code (API, runner, store) treats out-of-memory as fatal, as redis
 * and h2o do: there is no sane recovery for a control plane that cannot
 * allocate a few bytes, and propagating NULL everywhere hides real bugs.
 */
#include "util/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void die_oom(size_t n)
{
    fprintf(stderr, "{\"level\":\"error\",\"msg\":\"out of memory allocating %zu bytes\"}\n", n);
    abort();
}

void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        die_oom(n);
    return p;
}

void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p)
        die_oom(n * size);
    return p;
}

void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q)
        die_oom(n);
    return q;
}

char *xstrdup(const char *s)
{
    if (!s)
        return NULL;
    return xstrndup(s, strlen(s));
}

char *xstrndup(const char *s, size_t n)
{
    char *p = xmalloc(n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *xasprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *out = NULL;
    int n = vasprintf(&out, fmt, ap);
    va_end(ap);
    if (n < 0)
        die_oom(0);
    return out;
}

const char *iv_strerror(int code)
{
    switch (code) {
    case IV_OK: return "ok";
    case IV_ENOMEM: return "out of memory";
    case IV_EIO: return "i/o error";
    case IV_EINVAL: return "invalid input";
    case IV_EAGAIN: return "try again";
    case IV_ENOTFOUND: return "not found";
    case IV_ECONFLICT: return "conflict";
    case IV_ETOOBIG: return "too big";
    case IV_ECHILD: return "child process failed";
    case IV_EUNSUPPORTED: return "not supported";
    case IV_EAUTH: return "not authorized";
    case IV_EDB: return "database error";
    }
    return "unknown error";
}

int iv_err_set(struct iv_err *e, int code, const char *fmt, ...)
{
    if (e) {
        va_list ap;
        va_start(ap, fmt);
        e->code = code;
        vsnprintf(e->msg, sizeof e->msg, fmt, ap);
        va_end(ap);
    }
    return code;
}
