/*
 * value.c: the values of the expression language (see tx_int.h): construction, reference
 * counting, Python's equality and ordering, str()/repr() and JSON in and out.
 *
 * Ownership: every constructor returns one reference. Containers own one reference to
 * each item. None, True and False are immortal singletons (refs < 0), so they may be
 * shared between threads freely; other counts are atomic. So are the small ints -5..256
 * (as in CPython): tx_int64 hands out a shared immortal value for them, no allocation. Every
 * int in int64 range is "inline" (tx_int.h): its one GMP limb lives inside the value, so it
 * costs one allocation and GMP can still read it; only larger ints own heap limbs. No value
 * is ever changed after construction.
 */
#include "transform/tx_int.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistr.h>

static struct tx_value none_v = {.refs = -1, .kind = TX_NONE};
static struct tx_value true_v = {.refs = -1, .kind = TX_BOOL, .u.b = true};
static struct tx_value false_v = {.refs = -1, .kind = TX_BOOL, .u.b = false};

struct tx_value *tx_none(void) { return &none_v; }
struct tx_value *tx_bool(bool b) { return b ? &true_v : &false_v; }

struct tx_value *tx_new(enum tx_kind k)
{
    struct tx_value *v = xcalloc(1, sizeof *v);
    v->refs = 1;
    v->kind = k;
    return v;
}

struct tx_value *tx_ref(struct tx_value *v)
{
    if (v && v->refs >= 0)
        __atomic_add_fetch(&v->refs, 1, __ATOMIC_RELAXED);
    return v;
}

void tx_unref(struct tx_value *v)
{
    if (!v || v->refs < 0 || __atomic_sub_fetch(&v->refs, 1, __ATOMIC_ACQ_REL) > 0)
        return;
    switch (v->kind) {
    case TX_INT:
        if (!tx_int_inline(v))
            mpz_clear(v->u.z);
        break;
    case TX_STR:
        if (v->u.s.p != (char *)(v + 1))   /* else the bytes live in v's own block */
            free(v->u.s.p);
        break;
    case TX_LIST:
    case TX_TUPLE:
        for (size_t i = 0; i < v->u.seq.n; i++)
            tx_unref(v->u.seq.items[i]);
        free(v->u.seq.items);
        break;
    case TX_DICT:
        for (size_t i = 0; i < v->u.d.n; i++) {
            tx_unref(v->u.d.keys[i]);
            tx_unref(v->u.d.vals[i]);
        }
        free(v->u.d.keys);
        free(v->u.d.vals);
        break;
    default:
        break;
    }
    free(v);
}

enum tx_kind tx_kind_of(const struct tx_value *v) { return v ? v->kind : TX_NONE; }

#define SMALL_INT_MIN (-5)
#define SMALL_INT_MAX 256
#define SMALL_INT_COUNT (SMALL_INT_MAX - SMALL_INT_MIN + 1)
static struct tx_value small_ints[SMALL_INT_COUNT];
static pthread_once_t small_ints_once = PTHREAD_ONCE_INIT;

/* Makes v the inline int i (tx_int_inline): GMP's layout by hand, _mp_size the signed limb
 * count, the one limb |i| inside v. */
static void set_inline_int(struct tx_value *v, int64_t i)
{
    v->u.i = i;
    v->u.zlimb = i < 0 ? (mp_limb_t)0 - (mp_limb_t)i : (mp_limb_t)i;
    v->u.z->_mp_alloc = 1;
    v->u.z->_mp_size = i < 0 ? -1 : i > 0 ? 1 : 0;
    v->u.z->_mp_d = &v->u.zlimb;
}

/* Builds the immortal small ints (never freed, never written after this). */
static void init_small_ints(void)
{
    for (int k = 0; k < SMALL_INT_COUNT; k++) {
        small_ints[k].refs = -1;
        small_ints[k].kind = TX_INT;
        set_inline_int(&small_ints[k], (int64_t)k + SMALL_INT_MIN);
    }
}

struct tx_value *tx_int64(int64_t i)
{
    if (i >= SMALL_INT_MIN && i <= SMALL_INT_MAX) {
        pthread_once(&small_ints_once, init_small_ints);
        return &small_ints[i - SMALL_INT_MIN];
    }
    struct tx_value *v = xmalloc(sizeof *v);
    v->refs = 1;
    v->kind = TX_INT;
    set_inline_int(v, i);
    return v;
}

struct tx_value *tx_int_mpz(const mpz_t z)
{
    if (mpz_fits_slong_p(z))
        return tx_int64(mpz_get_si(z));   /* every int64 is inline: one representation */
    struct tx_value *v = tx_new(TX_INT);
    mpz_init_set(v->u.z, z);
    return v;
}

mpz_srcptr tx_int_view(const struct tx_value *v, mpz_t tmp, mp_limb_t *limb)
{
    if (v->kind == TX_INT)
        return v->u.z;
    *limb = v->kind == TX_BOOL && v->u.b;
    tmp->_mp_alloc = 1;
    tmp->_mp_size = *limb ? 1 : 0;
    tmp->_mp_d = limb;
    return tmp;
}

size_t tx_i64_digits(int64_t i, char *out)
{
    char tmp[24];
    size_t n = 0, k = 0;
    uint64_t u = i < 0 ? (uint64_t)0 - (uint64_t)i : (uint64_t)i;
    do {
        tmp[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (i < 0)
        out[k++] = '-';
    while (n)
        out[k++] = tmp[--n];
    out[k] = '\0';
    return k;
}

struct tx_value *tx_float(double d)
{
    struct tx_value *v = tx_new(TX_FLOAT);
    v->u.f = d;
    return v;
}

/* Code points of UTF-8 text that is valid (shortest forms, no surrogates, <= U+10FFFF);
 * SIZE_MAX at the first invalid sequence (then libunistring decides, as it always did). */
static size_t utf8_chars_valid(const unsigned char *p, size_t n)
{
    size_t i = 0, count = 0;
    while (i < n) {
        unsigned b = p[i];
        size_t k = b < 0x80 ? 1 : b >= 0xc2 && b <= 0xdf ? 2 : b >= 0xe0 && b <= 0xef ? 3
                 : b >= 0xf0 && b <= 0xf4 ? 4 : 0;
        if (k == 0 || k > n - i)
            return SIZE_MAX;
        for (size_t j = 1; j < k; j++)
            if ((p[i + j] & 0xc0) != 0x80)
                return SIZE_MAX;
        if (k >= 3) {
            uint32_t cp = k == 3 ? (b & 0x0fu) << 12 | (p[i + 1] & 0x3fu) << 6 | (p[i + 2] & 0x3fu)
                                 : (b & 0x07u) << 18 | (p[i + 1] & 0x3fu) << 12 |
                                   (p[i + 2] & 0x3fu) << 6 | (p[i + 3] & 0x3fu);
            if (k == 3 ? cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff)
                       : cp < 0x10000 || cp > 0x10ffff)
                return SIZE_MAX;
        }
        i += k;
        count++;
    }
    return count;
}

/* Code points of valid UTF-8: ASCII text (the common case) is checked 8 bytes at a time,
 * other text decoded here, libunistring only for invalid sequences. */
static size_t utf8_chars(const char *p, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        if (w & 0x8080808080808080ull)
            break;
    }
    while (i < n && !(p[i] & 0x80))
        i++;
    if (i == n)
        return n;
    size_t tail = utf8_chars_valid((const unsigned char *)p + i, n - i);
    return i + (tail != SIZE_MAX ? tail : u8_mbsnlen((const uint8_t *)p + i, n - i));
}

struct tx_value *tx_str_take(char *p, size_t n)
{
    struct tx_value *v = tx_new(TX_STR);
    v->u.s.p = p;
    v->u.s.n = n;
    v->u.s.nchars = utf8_chars(p, n);
    return v;
}

/* One allocation: the value, then its bytes. */
struct tx_value *tx_str(const char *s, size_t n)
{
    struct tx_value *v = xmalloc(sizeof *v + n + 1);
    memset(v, 0, sizeof *v);
    v->refs = 1;
    v->kind = TX_STR;
    v->u.s.p = (char *)(v + 1);
    memcpy(v->u.s.p, s, n);
    v->u.s.p[n] = '\0';
    v->u.s.n = n;
    v->u.s.nchars = utf8_chars(v->u.s.p, n);
    return v;
}

struct tx_value *tx_seq_new(enum tx_kind k, size_t n)
{
    struct tx_value *v = tx_new(k);
    v->u.seq.items = xcalloc(n ? n : 1, sizeof *v->u.seq.items);
    v->u.seq.n = n;
    return v;
}

struct tx_value *tx_dict_new(void) { return tx_new(TX_DICT); }

struct tx_value *tx_dict_empty(void) { return tx_dict_new(); }

bool tx_dict_add(struct tx_value *d, const char *key, size_t len, struct tx_value *v)
{
    struct tx_value *k = tx_str(key, len);
    if (tx_dict_lookup(d, k)) {
        tx_unref(k);
        tx_unref(v);
        return false;
    }
    tx_dict_set(d, k, v);
    return true;
}

struct tx_value *tx_dict_lookup(const struct tx_value *d, const struct tx_value *k)
{
    for (size_t i = 0; i < d->u.d.n; i++)
        if (tx_equal(d->u.d.keys[i], k))
            return d->u.d.vals[i];
    return NULL;
}

void tx_dict_set(struct tx_value *d, struct tx_value *k, struct tx_value *v)
{
    for (size_t i = 0; i < d->u.d.n; i++)
        if (tx_equal(d->u.d.keys[i], k)) {
            /* Python keeps the first key object and replaces the value. */
            tx_unref(k);
            tx_unref(d->u.d.vals[i]);
            d->u.d.vals[i] = v;
            return;
        }
    size_t n = d->u.d.n + 1;
    d->u.d.keys = xrealloc(d->u.d.keys, n * sizeof *d->u.d.keys);
    d->u.d.vals = xrealloc(d->u.d.vals, n * sizeof *d->u.d.vals);
    d->u.d.keys[n - 1] = k;
    d->u.d.vals[n - 1] = v;
    d->u.d.n = n;
}

bool tx_hashable(const struct tx_value *v)
{
    if (v->kind == TX_LIST || v->kind == TX_DICT)
        return false;
    if (v->kind == TX_TUPLE)
        for (size_t i = 0; i < v->u.seq.n; i++)
            if (!tx_hashable(v->u.seq.items[i]))
                return false;
    return true;
}

bool tx_get_int64(const struct tx_value *v, int64_t *out)
{
    if (v->kind == TX_BOOL) {
        *out = v->u.b;
        return true;
    }
    return tx_small(v, out);   /* an int outside int64 is never inline */
}

bool tx_get_float(const struct tx_value *v, double *out)
{
    if (v->kind != TX_FLOAT)
        return false;
    *out = v->u.f;
    return true;
}

bool tx_get_bool(const struct tx_value *v, bool *out)
{
    if (v->kind != TX_BOOL)
        return false;
    *out = v->u.b;
    return true;
}

const char *tx_get_str(const struct tx_value *v, size_t *len)
{
    if (v->kind != TX_STR)
        return NULL;
    if (len)
        *len = v->u.s.n;
    return v->u.s.p;
}

bool tx_truthy(const struct tx_value *v)
{
    switch (v->kind) {
    case TX_NONE: return false;
    case TX_BOOL: return v->u.b;
    case TX_INT: return mpz_sgn(v->u.z) != 0;
    case TX_FLOAT: return v->u.f != 0.0;
    case TX_STR: return v->u.s.n > 0;
    case TX_LIST:
    case TX_TUPLE: return v->u.seq.n > 0;
    case TX_DICT: return v->u.d.n > 0;
    }
    return false;
}

const char *tx_type_name(const struct tx_value *v)
{
    static const char *const names[] = {"NoneType", "bool", "int", "float", "str", "list",
                                        "tuple", "dict"};
    return names[v->kind];
}

bool tx_is_number(const struct tx_value *v)
{
    return v->kind == TX_BOOL || v->kind == TX_INT || v->kind == TX_FLOAT;
}

/* int64 against a finite or infinite, non-nan double, exactly: <0, 0, >0. */
static int cmp_i64_double(int64_t i, double d)
{
    if (i >= -(INT64_C(1) << 53) && i <= (INT64_C(1) << 53)) {   /* (double)i is exact */
        double x = (double)i;
        return (x > d) - (x < d);
    }
    if (d >= 0x1p63)
        return -1;
    if (d < -0x1p63)
        return 1;
    /* |d| < 2^63 and |i| > 2^53: d's fraction bits are gone at this magnitude unless
     * |d| < 2^53, where the int side already decides. */
    if (d > -0x1p53 && d < 0x1p53)
        return i > 0 ? 1 : -1;
    int64_t t = (int64_t)d;   /* exact: |d| >= 2^53 is an integer */
    return (i > t) - (i < t);
}

/* Numeric comparison, exact between ints and floats as in Python: <0, 0, >0; 2 = unordered
 * (nan). Bools and int64-range ints compare without GMP. */
static int num_cmp(const struct tx_value *a, const struct tx_value *b)
{
    int64_t x64, y64;
    if (a->kind == TX_FLOAT && b->kind == TX_FLOAT) {
        if (isnan(a->u.f) || isnan(b->u.f))
            return 2;
        return (a->u.f > b->u.f) - (a->u.f < b->u.f);
    }
    if (a->kind == TX_FLOAT || b->kind == TX_FLOAT) {
        bool swap = a->kind == TX_FLOAT;
        const struct tx_value *iv = swap ? b : a;
        double d = swap ? a->u.f : b->u.f;
        if (isnan(d))
            return 2;
        int r;
        if (isinf(d)) {
            r = d > 0 ? -1 : 1;
        } else if (tx_small(iv, &x64)) {
            r = cmp_i64_double(x64, d);
        } else {
            r = mpz_cmp_d(iv->u.z, d);
            r = (r > 0) - (r < 0);
        }
        return swap ? -r : r;
    }
    if (tx_small(a, &x64) && tx_small(b, &y64))
        return (x64 > y64) - (x64 < y64);
    mpz_t tx, ty;
    mp_limb_t lx, ly;
    int r = mpz_cmp(tx_int_view(a, tx, &lx), tx_int_view(b, ty, &ly));
    return (r > 0) - (r < 0);
}

bool tx_equal(const struct tx_value *a, const struct tx_value *b)
{
    if (a == b && !(a->kind == TX_FLOAT && isnan(a->u.f)))
        return true;
    if (tx_is_number(a) && tx_is_number(b))
        return num_cmp(a, b) == 0;
    bool seqa = a->kind == TX_LIST || a->kind == TX_TUPLE;
    if (a->kind != b->kind)
        return false;
    if (a->kind == TX_NONE)
        return true;
    if (a->kind == TX_STR)
        return a->u.s.n == b->u.s.n && memcmp(a->u.s.p, b->u.s.p, a->u.s.n) == 0;
    if (seqa) {
        if (a->u.seq.n != b->u.seq.n)
            return false;
        for (size_t i = 0; i < a->u.seq.n; i++) {
            /* Python compares items by identity first, then ==. */
            if (a->u.seq.items[i] != b->u.seq.items[i] &&
                !tx_equal(a->u.seq.items[i], b->u.seq.items[i]))
                return false;
        }
        return true;
    }
    if (a->kind == TX_DICT) {
        if (a->u.d.n != b->u.d.n)
            return false;
        for (size_t i = 0; i < a->u.d.n; i++) {
            const struct tx_value *bv = tx_dict_lookup(b, a->u.d.keys[i]);
            if (!bv || (bv != a->u.d.vals[i] && !tx_equal(a->u.d.vals[i], bv)))
                return false;
        }
        return true;
    }
    return false;
}

int tx_less(struct tx_ctx *c, const struct tx_value *a, const struct tx_value *b)
{
    if (tx_is_number(a) && tx_is_number(b)) {
        int r = num_cmp(a, b);
        return r == -1;
    }
    if (a->kind == TX_STR && b->kind == TX_STR) {
        size_t n = a->u.s.n < b->u.s.n ? a->u.s.n : b->u.s.n;
        int r = memcmp(a->u.s.p, b->u.s.p, n);   /* UTF-8 byte order = code point order */
        return r < 0 || (r == 0 && a->u.s.n < b->u.s.n);
    }
    if (a->kind == b->kind && (a->kind == TX_LIST || a->kind == TX_TUPLE)) {
        size_t n = a->u.seq.n < b->u.seq.n ? a->u.seq.n : b->u.seq.n;
        for (size_t i = 0; i < n; i++) {
            const struct tx_value *x = a->u.seq.items[i], *y = b->u.seq.items[i];
            if (x == y || tx_equal(x, y))
                continue;
            if (tx_step(c, 1))
                return -1;
            return tx_less(c, x, y);
        }
        return a->u.seq.n < b->u.seq.n;
    }
    tx_raise(c, "TypeError", "'<' not supported between instances of '%s' and '%s'",
             tx_type_name(a), tx_type_name(b));
    return -1;
}

/* ---- str() and repr() ---------------------------------------------------------------- */

static int write_str_repr(const char *p, size_t n, struct buf *b)
{
    bool sq = memchr(p, '\'', n) != NULL, dq = memchr(p, '"', n) != NULL;
    char quote = sq && !dq ? '"' : '\'';
    int rc = buf_putc(b, quote);
    const uint8_t *s = (const uint8_t *)p, *end = s + n;
    while (!rc && s < end) {
        ucs4_t cp;
        int k = u8_mbtouc(&cp, s, (size_t)(end - s));
        if (cp == (ucs4_t)quote || cp == '\\')
            rc = buf_printf(b, "\\%c", (char)cp);
        else if (cp == '\t')
            rc = buf_append_str(b, "\\t");
        else if (cp == '\n')
            rc = buf_append_str(b, "\\n");
        else if (cp == '\r')
            rc = buf_append_str(b, "\\r");
        else if (cp < 0x20 || cp == 0x7f)
            rc = buf_printf(b, "\\x%02x", (unsigned)cp);
        else if (cp < 0x7f || tx_cp_printable(cp))
            rc = buf_append(b, s, (size_t)k);
        else if (cp <= 0xff)
            rc = buf_printf(b, "\\x%02x", (unsigned)cp);
        else if (cp <= 0xffff)
            rc = buf_printf(b, "\\u%04x", (unsigned)cp);
        else
            rc = buf_printf(b, "\\U%08x", (unsigned)cp);
        s += k;
    }
    return rc ? rc : buf_putc(b, quote);
}

static int write_int(const struct tx_value *v, struct buf *b)
{
    if (tx_int_inline(v)) {
        char d[24];
        size_t k = tx_i64_digits(v->u.i, d);
        return buf_append(b, d, k) ? IV_ETOOBIG : IV_OK;
    }
    const __mpz_struct *z = v->u.z;
    size_t n = mpz_sizeinbase(z, 10) + 2;
    if (buf_reserve(b, n + 1))
        return IV_ETOOBIG;
    mpz_get_str(b->data + b->len, 10, z);
    b->len += strlen(b->data + b->len);
    return IV_OK;
}

static int write_repr(const struct tx_value *v, struct buf *b, int depth)
{
    char tmp[40];
    int rc = IV_OK;
    if (depth > 200)
        return IV_ETOOBIG;
    switch (v->kind) {
    case TX_NONE: return buf_append_str(b, "None");
    case TX_BOOL: return buf_append_str(b, v->u.b ? "True" : "False");
    case TX_INT: return write_int(v, b);
    case TX_FLOAT:
        tx_float_repr(v->u.f, tmp);
        return buf_append_str(b, tmp);
    case TX_STR: return write_str_repr(v->u.s.p, v->u.s.n, b);
    case TX_LIST:
    case TX_TUPLE:
        rc = buf_putc(b, v->kind == TX_LIST ? '[' : '(');
        for (size_t i = 0; !rc && i < v->u.seq.n; i++) {
            if (i)
                rc = buf_append_str(b, ", ");
            if (!rc)
                rc = write_repr(v->u.seq.items[i], b, depth + 1);
        }
        if (!rc && v->kind == TX_TUPLE && v->u.seq.n == 1)
            rc = buf_putc(b, ',');
        return rc ? rc : buf_putc(b, v->kind == TX_LIST ? ']' : ')');
    case TX_DICT:
        rc = buf_putc(b, '{');
        for (size_t i = 0; !rc && i < v->u.d.n; i++) {
            if (i)
                rc = buf_append_str(b, ", ");
            if (!rc)
                rc = write_repr(v->u.d.keys[i], b, depth + 1);
            if (!rc)
                rc = buf_append_str(b, ": ");
            if (!rc)
                rc = write_repr(v->u.d.vals[i], b, depth + 1);
        }
        return rc ? rc : buf_putc(b, '}');
    }
    return rc;
}

int tx_write_repr(const struct tx_value *v, struct buf *b) { return write_repr(v, b, 0); }

int tx_write_str(const struct tx_value *v, struct buf *b)
{
    if (v->kind == TX_STR)
        return buf_append(b, v->u.s.p, v->u.s.n);
    return write_repr(v, b, 0);
}

static char *detach_or_null(struct buf *b, int rc, size_t *len)
{
    if (rc) {
        buf_release(b);
        return NULL;
    }
    if (buf_putc(b, '\0')) {
        buf_release(b);
        return NULL;
    }
    size_t n;
    char *p = buf_detach(b, &n);
    if (len)
        *len = n - 1;
    return p;
}

char *tx_str_of(const struct tx_value *v, size_t *len)
{
    struct buf b;
    buf_init(&b, 64u * 1024 * 1024);
    return detach_or_null(&b, tx_write_str(v, &b), len);
}

char *tx_repr_of(const struct tx_value *v, size_t *len)
{
    struct buf b;
    buf_init(&b, 64u * 1024 * 1024);
    return detach_or_null(&b, tx_write_repr(v, &b), len);
}

/* ---- JSON ---------------------------------------------------------------------------- */

struct tx_value *tx_from_json(const json_t *j)
{
    switch (json_typeof(j)) {
    case JSON_NULL: return tx_none();
    case JSON_TRUE: return tx_bool(true);
    case JSON_FALSE: return tx_bool(false);
    case JSON_INTEGER: return tx_int64(json_integer_value(j));
    case JSON_REAL: return tx_float(json_real_value(j));
    case JSON_STRING: return tx_str(json_string_value(j), json_string_length(j));
    case JSON_ARRAY: {
        struct tx_value *l = tx_seq_new(TX_LIST, json_array_size(j));
        for (size_t i = 0; i < l->u.seq.n; i++)
            l->u.seq.items[i] = tx_from_json(json_array_get(j, i));
        return l;
    }
    case JSON_OBJECT: {
        struct tx_value *d = tx_dict_new();
        const char *k;
        json_t *x;
        json_object_foreach((json_t *)j, k, x) tx_dict_set(d, tx_str(k, strlen(k)),
                                                          tx_from_json(x));
        return d;
    }
    }
    return tx_none();
}

static int json_string_out(const char *p, size_t n, struct buf *b)
{
    json_t *s = json_stringn(p, n);
    char *t = s ? json_dumps(s, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
    int rc = t ? buf_append_str(b, t) : IV_EINVAL;
    free(t);
    json_decref(s);
    return rc;
}

static int float_json(double d, struct buf *b)
{
    if (isnan(d))
        return buf_append_str(b, "\"nan\"");
    if (isinf(d))
        return buf_append_str(b, d > 0 ? "\"inf\"" : "\"-inf\"");
    char tmp[40];
    tx_float_repr(d, tmp);
    return buf_append_str(b, tmp);
}

static int to_json(const struct tx_value *v, struct buf *b, struct tx_error *err, int depth)
{
    int rc = IV_OK;
    if (depth > 200)
        return IV_ETOOBIG;
    switch (v->kind) {
    case TX_NONE: return buf_append_str(b, "null");
    case TX_BOOL: return buf_append_str(b, v->u.b ? "true" : "false");
    case TX_INT: return write_int(v, b);
    case TX_FLOAT: return float_json(v->u.f, b);
    case TX_STR: return json_string_out(v->u.s.p, v->u.s.n, b);
    case TX_LIST:
    case TX_TUPLE:
        rc = buf_putc(b, '[');
        for (size_t i = 0; !rc && i < v->u.seq.n; i++) {
            if (i)
                rc = buf_putc(b, ',');
            if (!rc)
                rc = to_json(v->u.seq.items[i], b, err, depth + 1);
        }
        return rc ? rc : buf_putc(b, ']');
    case TX_DICT:
        rc = buf_putc(b, '{');
        for (size_t i = 0; !rc && i < v->u.d.n; i++) {
            const struct tx_value *k = v->u.d.keys[i];
            if (i)
                rc = buf_putc(b, ',');
            if (rc)
                break;
            if (k->kind == TX_STR) {
                rc = json_string_out(k->u.s.p, k->u.s.n, b);
            } else if (k->kind == TX_TUPLE) {
                if (err)
                    snprintf(err->msg, sizeof err->msg, "keys must be str, int, float, bool "
                             "or None, not tuple");
                return IV_EINVAL;
            } else {
                struct buf kb;
                buf_init(&kb, 1u << 20);
                rc = to_json(k, &kb, err, depth + 1);
                if (!rc && kb.data[0] == '"')
                    rc = buf_append(b, kb.data, kb.len);
                else if (!rc)
                    rc = json_string_out(kb.data, kb.len, b);
                buf_release(&kb);
            }
            if (!rc)
                rc = buf_putc(b, ':');
            if (!rc)
                rc = to_json(v->u.d.vals[i], b, err, depth + 1);
        }
        return rc ? rc : buf_putc(b, '}');
    }
    return rc;
}

int tx_to_json_text(const struct tx_value *v, struct buf *b, struct tx_error *err)
{
    return to_json(v, b, err, 0);
}

int tx_to_typed_json(const struct tx_value *v, struct buf *b)
{
    char tmp[40];
    int rc = IV_OK;
    switch (v->kind) {
    case TX_NONE: return buf_append_str(b, "[\"N\"]");
    case TX_BOOL: return buf_append_str(b, v->u.b ? "[\"B\",true]" : "[\"B\",false]");
    case TX_INT:
        rc = buf_append_str(b, "[\"I\",\"");
        if (!rc)
            rc = write_int(v, b);
        return rc ? rc : buf_append_str(b, "\"]");
    case TX_FLOAT:
        tx_float_repr(v->u.f, tmp);
        return buf_printf(b, "[\"F\",\"%s\"]", tmp);
    case TX_STR:
        rc = buf_append_str(b, "[\"S\",");
        if (!rc)
            rc = json_string_out(v->u.s.p, v->u.s.n, b);
        return rc ? rc : buf_putc(b, ']');
    case TX_LIST:
    case TX_TUPLE:
        rc = buf_append_str(b, v->kind == TX_LIST ? "[\"L\",[" : "[\"T\",[");
        for (size_t i = 0; !rc && i < v->u.seq.n; i++) {
            if (i)
                rc = buf_putc(b, ',');
            if (!rc)
                rc = tx_to_typed_json(v->u.seq.items[i], b);
        }
        return rc ? rc : buf_append_str(b, "]]");
    case TX_DICT:
        rc = buf_append_str(b, "[\"D\",[");
        for (size_t i = 0; !rc && i < v->u.d.n; i++) {
            rc = buf_append_str(b, i ? ",[" : "[");
            if (!rc)
                rc = tx_to_typed_json(v->u.d.keys[i], b);
            if (!rc)
                rc = buf_putc(b, ',');
            if (!rc)
                rc = tx_to_typed_json(v->u.d.vals[i], b);
            if (!rc)
                rc = buf_putc(b, ']');
        }
        return rc ? rc : buf_append_str(b, "]]");
    }
    return rc;
}
