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

/* One Latin-1 code point (< 0x100) lower- or uppercased as Unicode's full case mapping does
 * (checked against CPython for all 256): A-Z and U+00C0..U+00DE (not U+00D7) lower by +0x20;
 * a-z and U+00E0..U+00FE (not U+00F7) upper by -0x20; U+00B5 -> U+039C, U+00DF -> "SS",
 * U+00FF -> U+0178; everything else unchanged. No Latin-1 mapping depends on context (final
 * sigma is U+03A3), and every one keeps the UTF-8 byte count. Writes the bytes to out. */
static size_t map_latin1(unsigned cp, bool upper, char *out)
{
    unsigned r = cp;
    if (!upper && ((cp >= 'A' && cp <= 'Z') || (cp >= 0xc0 && cp <= 0xde && cp != 0xd7)))
        r = cp + 0x20;
    else if (upper && ((cp >= 'a' && cp <= 'z') || (cp >= 0xe0 && cp <= 0xfe && cp != 0xf7)))
        r = cp - 0x20;
    else if (upper && cp == 0xdf) {
        out[0] = out[1] = 'S';
        return 2;
    } else if (upper && cp == 0xb5)
        r = 0x39c;
    else if (upper && cp == 0xff)
        r = 0x178;
    if (r < 0x80) {
        out[0] = (char)r;
        return 1;
    }
    out[0] = (char)(0xc0 | (r >> 6));
    out[1] = (char)(0x80 | (r & 0x3f));
    return 2;
}

/* Text whose code points are all below U+0100 (UTF-8 bytes: ASCII, or a 0xC2/0xC3 lead and
 * its continuation): mapped here without libunistring. NULL for any other text. */
static struct tx_value *map_latin1_text(const struct tx_value *s, bool upper)
{
    const unsigned char *p = (const unsigned char *)s->u.s.p;
    size_t n = s->u.s.n;
    for (size_t i = 0; i < n; i++)
        if (p[i] >= 0x80 && ((p[i] != 0xc2 && p[i] != 0xc3) || ++i >= n))
            return NULL;
    char small[256];
    small[0] = '\0';   /* (n is never 0 here: the text is not ASCII) */
    char *out = n <= sizeof small ? small : xmalloc(n);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned cp = p[i];
        if (cp >= 0x80)
            cp = ((cp & 0x1fu) << 6) | (p[++i] & 0x3fu);
        k += map_latin1(cp, upper, out + k);   /* never more bytes than it read */
    }
    struct tx_value *v = tx_str(out, k);
    if (out != small)
        free(out);
    return v;
}

static struct tx_value *map_whole(const struct tx_value *s, ct_map_fn fn)
{
    if (fn == u8_ct_tolower || fn == u8_ct_toupper) {
        if (s->u.s.nchars == s->u.s.n)
            return map_ascii(s, fn == u8_ct_toupper);
        struct tx_value *v = map_latin1_text(s, fn == u8_ct_toupper);
        if (v)
            return v;
    }
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
