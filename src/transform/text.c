/*
 * text.c: the str operations that need Unicode data (see tx_int.h): full case mapping
 * through libunistring with no language (what CPython does: 'ß'.upper() == 'SS',
 * 'İ'.lower() == 'i̇', final sigma in context), Python's title() and capitalize()
 * rules, str.isspace() whitespace, str.isprintable() for repr, code point offsets.
 */
#include "transform/tx_int.h"

#include <stdlib.h>
#include <string.h>
#include <unicase.h>
#include <unictype.h>
#include <unistr.h>

bool tx_is_space_cp(uint32_t cp)
{
    return (cp >= 0x09 && cp <= 0x0d) || (cp >= 0x1c && cp <= 0x20) || cp == 0x85 ||
           cp == 0xa0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200a) || cp == 0x2028 ||
           cp == 0x2029 || cp == 0x202f || cp == 0x205f || cp == 0x3000;
}

bool tx_cp_printable(uint32_t cp)
{
    if (cp == ' ')
        return true;
    return !uc_is_general_category(cp, UC_CATEGORY_C) &&
           !uc_is_general_category(cp, UC_CATEGORY_Zs) &&
           !uc_is_general_category(cp, UC_CATEGORY_Zl) &&
           !uc_is_general_category(cp, UC_CATEGORY_Zp);
}

size_t tx_str_offset(const struct tx_value *s, size_t i)
{
    if (s->u.s.nchars == s->u.s.n)
        return i;   /* ASCII */
    const uint8_t *p = (const uint8_t *)s->u.s.p, *end = p + s->u.s.n, *q = p;
    for (size_t k = 0; k < i && q < end; k++) {
        int m = u8_mblen(q, (size_t)(end - q));
        q += m > 0 ? m : 1;
    }
    return (size_t)(q - p);
}

typedef uint8_t *(*ct_map_fn)(const uint8_t *, size_t, casing_prefix_context_t,
                              casing_suffix_context_t, const char *, uninorm_t, uint8_t *,
                              size_t *);

/* ASCII text: Python's lower()/upper() only touch A-Z / a-z. */
static struct tx_value *map_ascii(const struct tx_value *s, bool upper)
{
    struct tx_value *r = tx_str(s->u.s.p, s->u.s.n);   /* a new value: its bytes are ours */
    char *p = r->u.s.p;
    for (size_t i = 0; i < s->u.s.n; i++) {
        char c = p[i];
        p[i] = upper ? (c >= 'a' && c <= 'z' ? (char)(c - 32) : c)
                     : (c >= 'A' && c <= 'Z' ? (char)(c + 32) : c);
    }
    return r;
}

static struct tx_value *map_whole(const struct tx_value *s, ct_map_fn fn)
{
    if (s->u.s.nchars == s->u.s.n && (fn == u8_ct_tolower || fn == u8_ct_toupper))
        return map_ascii(s, fn == u8_ct_toupper);
    /* the result goes to a stack buffer when it fits (libunistring allocates otherwise) */
    uint8_t small[256];
    size_t n = sizeof small;
    uint8_t *r = fn((const uint8_t *)s->u.s.p, s->u.s.n, unicase_empty_prefix_context,
                    unicase_empty_suffix_context, NULL, NULL, small, &n);
    if (!r)
        return tx_str(s->u.s.p, s->u.s.n);
    struct tx_value *v = tx_str((const char *)r, n);
    if (r != small)
        free(r);
    return v;
}

struct tx_value *tx_str_lower(const struct tx_value *s) { return map_whole(s, u8_ct_tolower); }
struct tx_value *tx_str_upper(const struct tx_value *s) { return map_whole(s, u8_ct_toupper); }

/* Maps one character (s[i..i+k)) in the context of the whole string; appends to b. */
static void map_char(const struct tx_value *s, size_t i, size_t k, ct_map_fn fn, struct buf *b)
{
    const uint8_t *p = (const uint8_t *)s->u.s.p;
    casing_prefix_context_t pre = u8_casing_prefix_context(p, i);
    casing_suffix_context_t suf = u8_casing_suffix_context(p + i + k, s->u.s.n - i - k);
    size_t n = 0;
    uint8_t *r = fn(p + i, k, pre, suf, NULL, NULL, NULL, &n);
    if (r) {
        buf_append(b, r, n);
        free(r);
    } else {
        buf_append(b, p + i, k);
    }
}

static struct tx_value *from_buf(struct buf *b)
{
    buf_putc(b, '\0');
    size_t n;
    char *p = buf_detach(b, &n);
    return tx_str_take(p, n - 1);
}

/* Python: a cased character after a cased one is lowercased, any other is titlecased. */
struct tx_value *tx_str_title(const struct tx_value *s)
{
    struct buf b;
    buf_init(&b, SIZE_MAX);
    const uint8_t *p = (const uint8_t *)s->u.s.p;
    bool prev_cased = false;
    for (size_t i = 0; i < s->u.s.n;) {
        ucs4_t cp;
        int k = u8_mbtouc(&cp, p + i, s->u.s.n - i);
        map_char(s, i, (size_t)k, prev_cased ? u8_ct_tolower : u8_ct_totitle, &b);
        prev_cased = uc_is_property_cased(cp);
        i += (size_t)k;
    }
    return from_buf(&b);
}

/* Python >= 3.8: the first character titlecased, the rest lowercased. */
struct tx_value *tx_str_capitalize(const struct tx_value *s)
{
    struct buf b;
    buf_init(&b, SIZE_MAX);
    const uint8_t *p = (const uint8_t *)s->u.s.p;
    if (s->u.s.n) {
        ucs4_t cp;
        int k = u8_mbtouc(&cp, p, s->u.s.n);
        map_char(s, 0, (size_t)k, u8_ct_totitle, &b);
        if ((size_t)k < s->u.s.n) {
            size_t n = 0;
            uint8_t *r = u8_ct_tolower(p + k, s->u.s.n - (size_t)k,
                                       u8_casing_prefix_context(p, (size_t)k),
                                       unicase_empty_suffix_context, NULL, NULL, NULL, &n);
            if (r) {
                buf_append(&b, r, n);
                free(r);
            }
        }
    }
    return from_buf(&b);
}
