/*
 * singer/jscan: the small hand-written JSON scanner behind the RECORD fast
 * path (internal to src/singer; not a public header). It walks bytes in
 * place: no allocation, no DOM. Strings are validated (escapes, control
 * characters, UTF-8) and located; numbers are checked against the JSON
 * grammar; nested values can be skipped with full validation.
 *
 * Every function returns 0 on success or -1 with js->err set to a short
 * lower-case reason and js->p left at the offending byte.
 *
 * Speed (this is the hot loop of `ivory target-iceberg`): strings are scanned 16
 * bytes at a time (SSE2; 8 at a time without it) for the bytes that need a
 * closer look ('"', '\\', controls, non-ASCII); a plain string costs one vector
 * compare per 16 bytes inline, everything else goes to js_string_slow. Near the
 * end of the text the last 16 bytes are loaded and masked, so nothing is read
 * outside [base, end). js_double_fast and js_record_prefix are exact shortcuts
 * for the common cases (see each); callers fall back to the general code.
 */
#ifndef IVORY_SINGER_JSCAN_H
#define IVORY_SINGER_JSCAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "util/util.h"

#define JSCAN_MAX_DEPTH 256

struct jscan {
    const char *base;   /* start of the text (for offsets in messages) */
    const char *p;
    const char *end;
    const char *err;    /* static string */
};

enum jtok { J_NONE, J_NULL, J_TRUE, J_FALSE, J_NUM, J_STR, J_OBJ, J_ARR };

static inline void js_init(struct jscan *js, const char *p, size_t n)
{
    js->base = p;
    js->p = p;
    js->end = p + n;
    js->err = NULL;
}

static inline int js_fail(struct jscan *js, const char *why)
{
    js->err = why;
    return -1;
}

static inline void js_ws(struct jscan *js)
{
    /* every whitespace byte is <= ' ': one compare for the usual compact JSON */
    while (js->p < js->end && (unsigned char)*js->p <= ' ') {
        char c = *js->p;
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
            break;
        js->p++;
    }
}

/* After an object member or array element: consumes ',' (1: another item follows) or the
 * closing `close` byte (0: the container ended); anything else fails (-1, js->err set). */
static inline int js_after_item(struct jscan *js, char close)
{
    js_ws(js);
    if (js->p < js->end && *js->p == ',') {
        js->p++;
        return 1;
    }
    if (js->p < js->end && *js->p == close) {
        js->p++;
        return 0;
    }
    return js_fail(js, close == '}' ? "expected ',' or '}'" : "expected ',' or ']'");
}

/* Kind of the next value (after whitespace), J_NONE at end / bad byte. */
static inline enum jtok js_peek(struct jscan *js)
{
    js_ws(js);
    if (js->p >= js->end)
        return J_NONE;
    switch (*js->p) {
    case '"': return J_STR;
    case '{': return J_OBJ;
    case '[': return J_ARR;
    case 't': return J_TRUE;
    case 'f': return J_FALSE;
    case 'n': return J_NULL;
    default:
        if (*js->p == '-' || (*js->p >= '0' && *js->p <= '9'))
            return J_NUM;
        return J_NONE;
    }
}

static inline int js_hex4(const char *p, uint32_t *out)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        v <<= 4;
        if (c >= '0' && c <= '9') v |= (uint32_t)(c - '0');
        else if (c >= 'a' && c <= 'f') v |= (uint32_t)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F') v |= (uint32_t)(c - 'A' + 10);
        else return -1;
    }
    *out = v;
    return 0;
}

/* Length of a valid UTF-8 sequence at p (lead byte >= 0x80), or 0 if invalid. */
static inline size_t js_utf8_len(const unsigned char *p, const unsigned char *end)
{
    unsigned char c = p[0];
    size_t n;
    uint32_t cp;
    if (c >= 0xC2 && c <= 0xDF) { n = 2; cp = c & 0x1F; }
    else if (c >= 0xE0 && c <= 0xEF) { n = 3; cp = c & 0x0F; }
    else if (c >= 0xF0 && c <= 0xF4) { n = 4; cp = c & 0x07; }
    else return 0;
    if ((size_t)(end - p) < n)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[i] & 0x3F);
    }
    if ((n == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
        (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
        return 0;
    return n;
}

/* Bytes that end a plain run inside a string: '"', '\\', controls, non-ASCII. */
static inline bool js_plain_byte(unsigned char c)
{
    return c >= 0x20 && c != '"' && c != '\\' && c < 0x80;
}

#ifdef __SSE2__
/* Bit i set when byte i of the 16 at p ends a plain run (signed compare: bytes
 * >= 0x80 are negative, so "< 0x20" catches both controls and non-ASCII). */
static inline unsigned js_stop_mask16(const unsigned char *p)
{
    const __m128i quote = _mm_set1_epi8('"'), bslash = _mm_set1_epi8('\\'),
                  space = _mm_set1_epi8(0x20);
    __m128i x = _mm_loadu_si128((const __m128i *)(const void *)p);
    __m128i hit = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(x, quote), _mm_cmpeq_epi8(x, bslash)),
                               _mm_cmplt_epi8(x, space));
    return (unsigned)_mm_movemask_epi8(hit);
}
#endif

/* First byte at or after p (p < end) that ends a plain run, or end. Reads only
 * [base, end): near the end it loads the last 16 bytes of the text and masks. */
static inline const unsigned char *js_plain_run(const unsigned char *p, const unsigned char *end,
                                                const unsigned char *base)
{
#ifdef __SSE2__
    while (end - p >= 16) {
        unsigned m = js_stop_mask16(p);
        if (m)
            return p + __builtin_ctz(m);
        p += 16;
    }
    if (p < end && end - base >= 16) {
        unsigned m = js_stop_mask16(end - 16) >> (16 - (end - p));
        return m ? p + __builtin_ctz(m) : end;
    }
#else
    while (end - p >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        const uint64_t ones = 0x0101010101010101ull, high = 0x8080808080808080ull;
        uint64_t q = w ^ (ones * '"'), b = w ^ (ones * '\\');
        uint64_t hit = ((q - ones) & ~q) | ((b - ones) & ~b) | (w - ones * 0x20) | w;
        if (hit & high)
            break;
        p += 8;
    }
#endif
    while (p < end && js_plain_byte(*p))
        p++;
    return p;
}

/* The general case of js_string: p is the first byte of the contents that is not
 * known to be plain. Validates escapes, control characters and UTF-8. */
static __attribute__((noinline, unused)) int js_string_slow(struct jscan *js,
                                                            const unsigned char *p,
                                                            const char **s, size_t *n,
                                                            bool *esc)
{
    const unsigned char *end = (const unsigned char *)js->end;
    const unsigned char *base = (const unsigned char *)js->base;
    bool has_esc = false;
    for (;;) {
        p = js_plain_run(p, end, base);
        if (p >= end) {
            js->p = (const char *)p;
            return js_fail(js, "unterminated string");
        }
        unsigned char c = *p;
        if (c == '"')
            break;
        if (c == '\\') {
            has_esc = true;
            if (p + 1 >= end) {
                js->p = (const char *)p;
                return js_fail(js, "unterminated string");
            }
            unsigned char e = p[1];
            if (e == 'u') {
                uint32_t u;
                if (end - p < 6 || js_hex4((const char *)p + 2, &u)) {
                    js->p = (const char *)p;
                    return js_fail(js, "bad \\u escape");
                }
                if (u >= 0xD800 && u <= 0xDBFF) {
                    uint32_t lo;
                    if (end - p < 12 || p[6] != '\\' || p[7] != 'u' ||
                        js_hex4((const char *)p + 8, &lo) || lo < 0xDC00 || lo > 0xDFFF) {
                        js->p = (const char *)p;
                        return js_fail(js, "unpaired surrogate in \\u escape");
                    }
                    p += 12;
                } else if (u >= 0xDC00 && u <= 0xDFFF) {
                    js->p = (const char *)p;
                    return js_fail(js, "unpaired surrogate in \\u escape");
                } else {
                    p += 6;
                }
                continue;
            }
            if (e != '"' && e != '\\' && e != '/' && e != 'b' && e != 'f' && e != 'n' &&
                e != 'r' && e != 't') {
                js->p = (const char *)p;
                return js_fail(js, "bad escape in string");
            }
            p += 2;
            continue;
        }
        if (c < 0x20) {
            js->p = (const char *)p;
            return js_fail(js, "control character in string");
        }
        size_t l = js_utf8_len(p, end);
        if (!l) {
            js->p = (const char *)p;
            return js_fail(js, "invalid UTF-8");
        }
        p += l;
    }
    *s = js->p + 1;
    *n = (size_t)((const char *)p - (js->p + 1));
    *esc = has_esc;
    js->p = (const char *)p + 1;
    return 0;
}

/* Scans a string at js->p (must be '"'). Sets [*s, *s + *n) to the raw
 * contents between the quotes and *esc when it holds escapes. Validates.
 * Inline fast path: a plain ASCII string costs one vector compare per 16 bytes;
 * escapes, non-ASCII bytes and the last bytes of the text go to js_string_slow. */
static inline int js_string(struct jscan *js, const char **s, size_t *n, bool *esc)
{
    const unsigned char *p = (const unsigned char *)js->p + 1;
#ifdef __SSE2__
    const unsigned char *end = (const unsigned char *)js->end;
    while (end - p >= 16) {
        unsigned m = js_stop_mask16(p);
        if (m) {
            const unsigned char *q = p + __builtin_ctz(m);
            if (*q == '"') {
                *s = js->p + 1;
                *n = (size_t)((const char *)q - (js->p + 1));
                *esc = false;
                js->p = (const char *)q + 1;
                return 0;
            }
            p = q;
            break;
        }
        p += 16;
    }
#endif
    return js_string_slow(js, p, s, n, esc);
}

static inline void js_put_utf8(char *o, size_t *k, uint32_t cp)
{
    if (cp < 0x80) {
        o[(*k)++] = (char)cp;
    } else if (cp < 0x800) {
        o[(*k)++] = (char)(0xC0 | (cp >> 6));
        o[(*k)++] = (char)(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        o[(*k)++] = (char)(0xE0 | (cp >> 12));
        o[(*k)++] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[(*k)++] = (char)(0x80 | (cp & 0x3F));
    } else {
        o[(*k)++] = (char)(0xF0 | (cp >> 18));
        o[(*k)++] = (char)(0x80 | ((cp >> 12) & 0x3F));
        o[(*k)++] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[(*k)++] = (char)(0x80 | (cp & 0x3F));
    }
}

/* Unescapes validated string contents [s, s+n) into out (needs n bytes of room;
 * unescaping never grows). Returns the output length. */
static inline size_t js_unescape(const char *s, size_t n, char *out)
{
    size_t k = 0;
    for (size_t i = 0; i < n;) {
        char c = s[i];
        if (c != '\\') {
            out[k++] = c;
            i++;
            continue;
        }
        char e = s[i + 1];
        i += 2;
        switch (e) {
        case 'b': out[k++] = '\b'; break;
        case 'f': out[k++] = '\f'; break;
        case 'n': out[k++] = '\n'; break;
        case 'r': out[k++] = '\r'; break;
        case 't': out[k++] = '\t'; break;
        case 'u': {
            uint32_t u = 0, lo = 0;
            js_hex4(s + i, &u);
            i += 4;
            if (u >= 0xD800 && u <= 0xDBFF) {
                js_hex4(s + i + 2, &lo);
                i += 6;
                u = 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00);
            }
            js_put_utf8(out, &k, u);
            break;
        }
        default: out[k++] = e; break;  /* " \ / */
        }
    }
    return k;
}

/* Scans a number; *is_int when it has no fraction and no exponent. */
static inline int js_number(struct jscan *js, const char **s, size_t *n, bool *is_int)
{
    const char *p = js->p, *end = js->end, *start = p;
    bool integer = true;
    if (p < end && *p == '-')
        p++;
    if (p >= end)
        return js_fail(js, "bad number");
    if (*p == '0') {
        p++;
    } else if (*p >= '1' && *p <= '9') {
        while (p < end && *p >= '0' && *p <= '9')
            p++;
    } else {
        js->p = p;
        return js_fail(js, "bad number");
    }
    if (p < end && *p == '.') {
        integer = false;
        p++;
        if (p >= end || *p < '0' || *p > '9') {
            js->p = p;
            return js_fail(js, "bad number");
        }
        while (p < end && *p >= '0' && *p <= '9')
            p++;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        integer = false;
        p++;
        if (p < end && (*p == '+' || *p == '-'))
            p++;
        if (p >= end || *p < '0' || *p > '9') {
            js->p = p;
            return js_fail(js, "bad number");
        }
        while (p < end && *p >= '0' && *p <= '9')
            p++;
    }
    *s = start;
    *n = (size_t)(p - start);
    *is_int = integer;
    js->p = p;
    return 0;
}

/* The RECORD envelope as Singer taps write it: {"type":"RECORD","stream":"NAME",
 * "record":{ with no whitespace and a stream name of printable ASCII without '"'
 * or '\\'. On a match sets [*name, *name + *name_len) and *record (the record's
 * '{') and returns true; the general parser gives the same result for such a
 * prefix, so callers may use this as a shortcut and treat everything from
 * *record on exactly as the general parser would. */
static inline bool js_record_prefix(const char *line, size_t len, const char **name,
                                    size_t *name_len, const char **record)
{
    static const char pre[] = "{\"type\":\"RECORD\",\"stream\":\"";
    static const char mid[] = "\",\"record\":{";
    const size_t np = sizeof(pre) - 1, nm = sizeof(mid) - 1;
    if (len < np + nm || memcmp(line, pre, np) != 0)
        return false;
    const char *s = line + np, *end = line + len - nm;
    const char *p = s;
    while (p < end && *p != '"') {
        unsigned char c = (unsigned char)*p;
        if (c < 0x20 || c >= 0x7F || c == '\\')
            return false;
        p++;
    }
    if (p >= end || memcmp(p, mid, nm) != 0)
        return false;
    *name = s;
    *name_len = (size_t)(p - s);
    *record = p + nm - 1;
    return true;
}

/* Exact conversion of a validated JSON number (js_number's span) when it is
 * cheap: at most 19 significant digits forming an integer w <= 2^53 and a
 * decimal exponent e with |e| <= 22. Then w and 10^|e| are exact doubles and one
 * IEEE multiplication or division rounds correctly (Clinger's fast path), so the
 * result equals strtod's. Returns 0 with *out, or -1: use strtod. */
static inline int js_double_fast(const char *s, size_t n, double *out)
{
    static const double p10[23] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                   1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                   1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
    const char *p = s, *end = s + n;
    bool neg = false;
    if (p < end && *p == '-') {
        neg = true;
        p++;
    }
    uint64_t w = 0;
    int nd = 0, e10 = 0;
    for (; p < end && *p >= '0' && *p <= '9'; p++) {
        if (w || *p != '0') {
            w = w * 10 + (uint64_t)(*p - '0');
            if (++nd > 19)
                return -1;
        }
    }
    if (p < end && *p == '.') {
        for (p++; p < end && *p >= '0' && *p <= '9'; p++) {
            e10--;
            if (w || *p != '0') {
                w = w * 10 + (uint64_t)(*p - '0');
                if (++nd > 19)
                    return -1;
            }
        }
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        bool eneg = false;
        if (p < end && (*p == '+' || *p == '-'))
            eneg = *p++ == '-';
        int x = 0;
        for (; p < end && *p >= '0' && *p <= '9'; p++) {
            if (x > 1000)
                return -1;
            x = x * 10 + (*p - '0');
        }
        e10 += eneg ? -x : x;
    }
    if (p != end || w > (UINT64_C(1) << 53) || e10 < -22 || e10 > 22)
        return -1;
    double d = (double)w;
    d = e10 < 0 ? d / p10[-e10] : d * p10[e10];
    *out = neg ? -d : d;
    return 0;
}

static inline int js_literal(struct jscan *js, const char *word, size_t n)
{
    if ((size_t)(js->end - js->p) < n || memcmp(js->p, word, n) != 0)
        return js_fail(js, "invalid literal");
    js->p += n;
    return 0;
}

/* Skips one value with full validation (depth-limited). */
static inline int js_skip(struct jscan *js, int depth)
{
    const char *s;
    size_t n;
    bool b;
    if (depth > JSCAN_MAX_DEPTH)
        return js_fail(js, "nesting too deep");
    switch (js_peek(js)) {
    case J_STR: return js_string(js, &s, &n, &b);
    case J_NUM: return js_number(js, &s, &n, &b);
    case J_TRUE: return js_literal(js, "true", 4);
    case J_FALSE: return js_literal(js, "false", 5);
    case J_NULL: return js_literal(js, "null", 4);
    case J_OBJ:
        js->p++;
        if (js_peek(js) == J_NONE && js->p < js->end && *js->p == '}') {
            js->p++;
            return 0;
        }
        for (;;) {
            if (js_peek(js) != J_STR)
                return js_fail(js, "expected object key");
            if (js_string(js, &s, &n, &b))
                return -1;
            js_ws(js);
            if (js->p >= js->end || *js->p != ':')
                return js_fail(js, "expected ':'");
            js->p++;
            if (js_skip(js, depth + 1))
                return -1;
            int more = js_after_item(js, '}');
            if (more <= 0)
                return more;
        }
    case J_ARR:
        js->p++;
        js_ws(js);
        if (js->p < js->end && *js->p == ']') {
            js->p++;
            return 0;
        }
        for (;;) {
            if (js_skip(js, depth + 1))
                return -1;
            int more = js_after_item(js, ']');
            if (more <= 0)
                return more;
        }
    default:
        return js_fail(js, js->p >= js->end ? "unexpected end of input" : "unexpected character");
    }
}

/* Finds the end of the object or array at js->p WITHOUT validating it (strings are
 * skipped by their quotes and backslashes only). For callers that validate the
 * span afterwards; memory-safe on any input. */
static inline int js_skip_fast(struct jscan *js)
{
    const char *p = js->p, *end = js->end;
    int depth = 0;
    while (p < end) {
        char c = *p++;
        if (c == '"') {
            for (;;) {
                const char *q = memchr(p, '"', (size_t)(end - p));
                if (!q) {
                    js->p = end;
                    return js_fail(js, "unterminated string");
                }
                /* count the backslashes before the quote */
                const char *r = q;
                while (r > p && r[-1] == '\\')
                    r--;
                p = q + 1;
                if (((q - r) & 1) == 0)
                    break;
            }
        } else if (c == '{' || c == '[') {
            depth++;
        } else if (c == '}' || c == ']') {
            if (--depth == 0) {
                js->p = p;
                return 0;
            }
        }
    }
    js->p = end;
    return js_fail(js, "unexpected end of input");
}

#endif
