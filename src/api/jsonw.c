/*
 * jsonw.c: a small JSON writer straight into a struct buf, for views that are
 * served often and are large (the connector list): no jansson tree, no per-value
 * allocation. Output is compact and byte-compatible with jansson's compact dump
 * for the same values (same escapes; UTF-8 passed through). Invalid UTF-8 in a
 * stored string (a tap's error text, say) becomes U+FFFD, so the output is
 * always valid JSON, where jansson would have refused the string.
 *
 * Errors are sticky: the first failed append (the buffer's cap) sets w->err and
 * later calls do nothing, so a view is written without checking every call and
 * checked once at the end.
 */
#include "api/api_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

void api_jw_init(struct api_jw *w, size_t max)
{
    buf_init(&w->b, max);
    w->err = IV_OK;
}

void api_jw_raw(struct api_jw *w, const char *s, size_t n)
{
    if (w->err == IV_OK && buf_append(&w->b, s, n) != IV_OK)
        w->err = IV_ETOOBIG;
}

/* Length of a valid UTF-8 sequence starting at p (n bytes left), or 0. */
static size_t utf8_seq(const unsigned char *p, size_t n)
{
    unsigned char c = p[0];
    size_t len;
    uint32_t min, cp;
    if (c >= 0xc2 && c <= 0xdf) {
        len = 2, min = 0x80, cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3, min = 0x800, cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4, min = 0x10000, cp = c & 0x07;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

void api_jw_str(struct api_jw *w, const char *s)
{
    if (!s) {
        api_jw_raw(w, "null", 4);
        return;
    }
    const unsigned char *p = (const unsigned char *)s;
    size_t n = strlen(s);
    api_jw_raw(w, "\"", 1);
    size_t run = 0;    /* bytes [i - run, i) need no escaping */
    size_t i = 0;
    while (i < n) {
        unsigned char c = p[i];
        if (c >= 0x20 && c != '"' && c != '\\' && c < 0x80) {
            run++;
            i++;
            continue;
        }
        if (c >= 0x80) {
            size_t l = utf8_seq(p + i, n - i);
            if (l) {
                run += l;
                i += l;
                continue;
            }
        }
        api_jw_raw(w, (const char *)p + i - run, run);
        run = 0;
        char esc[8];
        const char *out = esc;
        size_t olen = 2;
        switch (c) {
        case '"': out = "\\\""; break;
        case '\\': out = "\\\\"; break;
        case '\b': out = "\\b"; break;
        case '\f': out = "\\f"; break;
        case '\n': out = "\\n"; break;
        case '\r': out = "\\r"; break;
        case '\t': out = "\\t"; break;
        default:
            if (c < 0x20) {
                snprintf(esc, sizeof esc, "\\u%04X", c);
                olen = 6;
            } else {
                out = "\\ufffd";   /* a byte that starts no valid UTF-8 sequence */
                olen = 6;
            }
        }
        api_jw_raw(w, out, olen);
        i++;
    }
    api_jw_raw(w, (const char *)p + i - run, run);
    api_jw_raw(w, "\"", 1);
}

void api_jw_int(struct api_jw *w, int64_t v)
{
    char tmp[24];
    char *p = tmp + sizeof tmp;
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        *--p = '-';
    api_jw_raw(w, p, (size_t)(tmp + sizeof tmp - p));
}

void api_jw_time(struct api_jw *w, int64_t ms)
{
    if (ms == STORE_NULL_TIME) {
        api_jw_raw(w, "null", 4);
        return;
    }
    char tmp[32];
    iso8601_format(ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000), tmp);
    api_jw_str(w, tmp);
}

void api_jw_key(struct api_jw *w, const char *key, bool first)
{
    /* Keys are literals of ours: no escaping needed. */
    if (!first)
        api_jw_raw(w, ",", 1);
    api_jw_raw(w, "\"", 1);
    api_jw_raw(w, key, strlen(key));
    api_jw_raw(w, "\":", 2);
}
