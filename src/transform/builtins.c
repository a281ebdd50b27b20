/*
 * builtins.c: the allow-listed functions (str int float bool len abs round min max sum
 * sorted), the str methods (strip lstrip rstrip lower upper title capitalize replace split
 * join startswith endswith zfill find), dict.get, format specs (Python's format
 * mini-language for str, int, bool and float) and the date helpers (parse_datetime,
 * parse_date, to_epoch, format_datetime; documented in docs/transforms.md with their
 * Python definitions). Each follows CPython's behaviour and error cases for the argument
 * shapes it accepts; anything else raises.
 */
#include "transform/tx_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistr.h>


struct fn_name {
    const char *name;
    enum tx_fn id;
};

static const struct fn_name builtin_names[] = {
    {"str", TXF_STR}, {"int", TXF_INT}, {"float", TXF_FLOAT}, {"bool", TXF_BOOL},
    {"len", TXF_LEN}, {"abs", TXF_ABS}, {"round", TXF_ROUND}, {"min", TXF_MIN},
    {"max", TXF_MAX}, {"sum", TXF_SUM}, {"sorted", TXF_SORTED},
    {"parse_datetime", TXF_PARSE_DATETIME}, {"parse_date", TXF_PARSE_DATE},
    {"to_epoch", TXF_TO_EPOCH}, {"format_datetime", TXF_FORMAT_DATETIME}, {NULL, TXF_NONE}};

static const struct fn_name method_names[] = {
    {"strip", TXM_STRIP}, {"lstrip", TXM_LSTRIP}, {"rstrip", TXM_RSTRIP},
    {"lower", TXM_LOWER}, {"upper", TXM_UPPER}, {"title", TXM_TITLE},
    {"capitalize", TXM_CAPITALIZE}, {"replace", TXM_REPLACE}, {"split", TXM_SPLIT},
    {"join", TXM_JOIN}, {"startswith", TXM_STARTSWITH}, {"endswith", TXM_ENDSWITH},
    {"zfill", TXM_ZFILL}, {"find", TXM_FIND}, {"get", TXM_GET}, {NULL, TXF_NONE}};

static enum tx_fn lookup_fn(const struct fn_name *t, const char *name)
{
    for (; t->name; t++)
        if (!strcmp(t->name, name))
            return t->id;
    return TXF_NONE;
}

enum tx_fn tx_builtin_id(const char *name) { return lookup_fn(builtin_names, name); }
enum tx_fn tx_method_id(const char *name) { return lookup_fn(method_names, name); }

static struct tx_value *str_from_buf(struct buf *b)
{
    buf_putc(b, '\0');
    size_t n;
    char *p = buf_detach(b, &n);
    return tx_str_take(p, n - 1);
}

static int limit_str(struct tx_ctx *c, size_t n)
{
    if (n > c->lim.max_str_bytes)
        return tx_raise(c, "LimitError", "result larger than %zu bytes", c->lim.max_str_bytes);
    return IV_OK;
}

int tx_iterate(struct tx_ctx *c, struct tx_value *v, struct tx_value ***items, size_t *n,
               struct tx_value **tmp)
{
    *tmp = NULL;
    if (v->kind == TX_LIST || v->kind == TX_TUPLE) {
        *items = v->u.seq.items;
        *n = v->u.seq.n;
    } else if (v->kind == TX_DICT) {
        *items = v->u.d.keys;
        *n = v->u.d.n;
    } else if (v->kind == TX_STR) {
        struct tx_value *l = tx_seq_new(TX_LIST, v->u.s.nchars);
        const uint8_t *p = (const uint8_t *)v->u.s.p, *e = p + v->u.s.n;
        for (size_t i = 0; i < l->u.seq.n; i++) {
            int k = u8_mblen(p, (size_t)(e - p));
            if (k < 1)
                k = 1;
            l->u.seq.items[i] = tx_str((const char *)p, (size_t)k);
            p += k;
        }
        *tmp = l;
        *items = l->u.seq.items;
        *n = l->u.seq.n;
    } else {
        return tx_raise(c, "TypeError", "'%s' object is not iterable", tx_type_name(v));
    }
    return tx_step(c, (int64_t)*n);
}

/* ---- argument checking ----------------------------------------------------------------------- */

static int arity(struct tx_ctx *c, const char *fn, int nargs, int lo, int hi, int nkw)
{
    if (nkw)
        return tx_raise(c, "TypeError", "%s() takes no keyword arguments", fn);
    if (nargs < lo || nargs > hi) {
        if (lo == hi)
            return tx_raise(c, "TypeError", "%s() takes exactly %d argument%s (%d given)", fn,
                            lo, lo == 1 ? "" : "s", nargs);
        return tx_raise(c, "TypeError", "%s() takes %s %d argument%s (%d given)", fn,
                        nargs < lo ? "at least" : "at most", nargs < lo ? lo : hi,
                        (nargs < lo ? lo : hi) == 1 ? "" : "s", nargs);
    }
    return IV_OK;
}

static int want_str(struct tx_ctx *c, const struct tx_value *v, const char *what)
{
    if (v->kind != TX_STR)
        return tx_raise(c, "TypeError", "%s must be str, not %s", what, tx_type_name(v));
    return IV_OK;
}

/* ---- format specs ---------------------------------------------------------------------------- */

struct spec {
    uint32_t fill;
    char align;       /* 0, '<', '>', '^', '=' */
    char sign;        /* 0, '+', '-', ' ' */
    bool z, alt, zero, has_fill;
    int64_t width;    /* -1 = none */
    char group;       /* 0, ',', '_' */
    int64_t prec;     /* -1 = none */
    char type;        /* 0 or the type letter */
};

static int parse_spec(struct tx_ctx *c, const char *s, size_t n, struct spec *sp)
{
    memset(sp, 0, sizeof *sp);
    sp->fill = ' ';
    sp->width = sp->prec = -1;
    size_t i = 0;
    ucs4_t cp = 0;
    int k = n ? u8_mbtouc(&cp, (const uint8_t *)s, n) : 0;
    if (n > (size_t)k && strchr("<>^=", s[k])) {
        sp->fill = cp;
        sp->has_fill = true;
        sp->align = s[k];
        i = (size_t)k + 1;
    } else if (n && strchr("<>^=", s[0])) {
        sp->align = s[0];
        i = 1;
    }
    if (i < n && strchr("+- ", s[i]))
        sp->sign = s[i++];
    if (i < n && s[i] == 'z') {
        sp->z = true;
        i++;
    }
    if (i < n && s[i] == '#') {
        sp->alt = true;
        i++;
    }
    if (i < n && s[i] == '0') {
        sp->zero = true;
        i++;
    }
    if (i < n && s[i] >= '0' && s[i] <= '9') {
        sp->width = 0;
        while (i < n && s[i] >= '0' && s[i] <= '9') {
            sp->width = sp->width * 10 + (s[i++] - '0');
            if (sp->width > 1000000)
                return tx_raise(c, "LimitError", "format width too large");
        }
    }
    if (i < n && (s[i] == ',' || s[i] == '_'))
        sp->group = s[i++];
    if (i < n && (s[i] == ',' || s[i] == '_'))
        return tx_raise(c, "ValueError", "Cannot specify both ',' and '_'.");
    if (i < n && s[i] == '.') {
        i++;
        if (i >= n || s[i] < '0' || s[i] > '9')
            return tx_raise(c, "ValueError", "Format specifier missing precision");
        sp->prec = 0;
        while (i < n && s[i] >= '0' && s[i] <= '9') {
            sp->prec = sp->prec * 10 + (s[i++] - '0');
            if (sp->prec > 10000)
                return tx_raise(c, "LimitError", "format precision too large");
        }
    }
    if (i < n)
        sp->type = s[i++];
    if (i < n)
        return tx_raise(c, "ValueError", "Invalid format specifier");
    return IV_OK;
}

/* The '0' flag: zero fill unless a fill was given; numbers also default to '='. */
static void apply_zero(struct spec *sp, bool number)
{
    if (!sp->zero)
        return;
    if (!sp->has_fill)
        sp->fill = '0';
    if (number && !sp->align)
        sp->align = '=';
}

static void put_fill(struct buf *b, uint32_t fill, int64_t n)
{
    uint8_t u[6];
    int k = u8_uctomb(u, fill, sizeof u);
    for (int64_t i = 0; i < n; i++)
        buf_append(b, u, (size_t)k);
}

/* Pads body (sign/prefix in head for '=' alignment) to the width. */
static int pad(struct tx_ctx *c, const struct spec *sp, char dflt_align, const char *head,
               const char *body, size_t body_n, struct buf *out)
{
    size_t chars = u8_mbsnlen((const uint8_t *)head, strlen(head)) +
                   u8_mbsnlen((const uint8_t *)body, body_n);
    int64_t padn = sp->width > (int64_t)chars ? sp->width - (int64_t)chars : 0;
    char align = sp->align ? sp->align : dflt_align;
    if (limit_str(c, out->len + body_n + (size_t)padn * 4 + strlen(head)))
        return IV_EINVAL;
    int64_t left = align == '>' ? padn : align == '^' ? padn / 2 : 0;
    int64_t right = align == '<' ? padn : align == '^' ? padn - padn / 2 : 0;
    if (align == '=') {
        buf_append_str(out, head);
        put_fill(out, sp->fill, padn);
    } else {
        put_fill(out, sp->fill, left);
        buf_append_str(out, head);
    }
    buf_append(out, body, body_n);
    put_fill(out, sp->fill, right);
    return IV_OK;
}

/* Inserts a separator every `every` digits of the integer digits in s[0..n). */
static void group_digits(const char *s, size_t n, char sep, int every, struct buf *out)
{
    for (size_t i = 0; i < n; i++) {
        buf_putc(out, s[i]);
        size_t left = n - i - 1;
        if (sep && left && left % (size_t)every == 0)
            buf_putc(out, sep);
    }
}

/* With '0' fill and '=' alignment, Python groups the padding zeros too. */
static void zero_pad_grouped(const struct spec *sp, const char *head, struct buf *digits,
                             char sep, int every)
{
    (void)head;
    (void)sp;
    (void)digits;
    (void)sep;
    (void)every;
}

static int format_str(struct tx_ctx *c, const struct tx_value *v, const struct spec *sp,
                      struct buf *out)
{
    if (sp->type && sp->type != 's')
        return tx_raise(c, "ValueError", "Unknown format code '%c' for object of type 'str'",
                        sp->type);
    if (sp->sign)
        return tx_raise(c, "ValueError", "Sign not allowed in string format specifier");
    if (sp->alt)
        return tx_raise(c, "ValueError", "Alternate form (#) not allowed in string format "
                        "specifier");
    if (sp->group)
        return tx_raise(c, "ValueError", "Cannot specify '%c' with 's'.", sp->group);
    if (sp->align == '=')
        return tx_raise(c, "ValueError", "'=' alignment not allowed in string format "
                        "specifier");
    size_t n = v->u.s.n;
    if (sp->prec >= 0 && (size_t)sp->prec < v->u.s.nchars)
        n = tx_str_offset(v, (size_t)sp->prec);
    return pad(c, sp, '<', "", v->u.s.p, n, out);
}

static int format_int(struct tx_ctx *c, mpz_srcptr z, const struct spec *sp, struct buf *out)
{
    char type = sp->type && sp->type != 'n' ? sp->type : 'd';
    if (sp->prec >= 0)
        return tx_raise(c, "ValueError", "Precision not allowed in integer format specifier");
    if (type == 'c') {
        if (sp->sign)
            return tx_raise(c, "ValueError", "Sign not allowed with integer format specifier "
                            "'c'");
        if (mpz_sgn(z) < 0 || mpz_cmp_ui(z, 0x110000) >= 0)
            return tx_raise(c, "OverflowError", "%%c arg not in range(0x110000)");
        uint32_t cp = (uint32_t)mpz_get_ui(z);
        if (cp >= 0xd800 && cp <= 0xdfff)
            return tx_raise(c, "NotSupported", "surrogate code points are not supported");
        uint8_t u[6];
        int k = u8_uctomb(u, cp, sizeof u);
        return pad(c, sp, '<', "", (const char *)u, (size_t)k, out);
    }
    int base = type == 'b' ? 2 : type == 'o' ? 8 : (type == 'x' || type == 'X') ? 16 : 10;
    if (!strchr("dbxXo", type))
        return tx_raise(c, "ValueError", "Unknown format code '%c' for object of type 'int'",
                        type);
    if (sp->group == ',' && base != 10)
        return tx_raise(c, "ValueError", "Cannot specify ',' with '%c'.", type);
    char small[32];
    char *digits = small;
    if (base == 10 && mpz_fits_slong_p(z))
        tx_i64_digits(mpz_get_si(z), small);   /* the usual case, no malloc */
    else
        digits = mpz_get_str(NULL, base, z);
    const char *d = digits[0] == '-' ? digits + 1 : digits;
    if (type == 'X')
        for (char *q = (char *)d; *q; q++)
            if (*q >= 'a' && *q <= 'z')
                *q = (char)(*q - 32);
    char head[8] = "";
    size_t h = 0;
    if (mpz_sgn(z) < 0)
        head[h++] = '-';
    else if (sp->sign == '+' || sp->sign == ' ')
        head[h++] = sp->sign;
    if (sp->alt && base != 10) {
        head[h++] = '0';
        head[h++] = type == 'b' ? 'b' : type == 'o' ? 'o' : type;
    }
    head[h] = '\0';
    size_t dn = strlen(d);
    if (!sp->group) {
        /* no grouping: the digits are the body as they are (the usual case, no copy) */
        int rc = pad(c, sp, '>', head, d, dn, out);
        if (digits != small)
            free(digits);
        return rc;
    }
    struct buf body;
    buf_init(&body, SIZE_MAX);
    int every = base == 10 ? 3 : 4;
    if (sp->align == '=' && sp->fill == '0' && sp->width > 0) {
        /* zero padding takes part in the grouping, as in CPython */
        int64_t need = sp->width - (int64_t)h;
        size_t total = dn;
        while ((int64_t)(total + (total - 1) / (size_t)every) < need)
            total++;
        char *zd = xmalloc(total + 1);
        memset(zd, '0', total - dn);
        memcpy(zd + total - dn, d, dn + 1);
        group_digits(zd, total, sp->group, every, &body);
        free(zd);
    } else {
        group_digits(d, dn, sp->group, every, &body);
    }
    zero_pad_grouped(sp, head, &body, sp->group, every);
    int rc = pad(c, sp, '>', head, body.data ? body.data : "", body.len, out);
    buf_release(&body);
    if (digits != small)
        free(digits);
    return rc;
}

/* printf of one double with '%.*e' / '%.*f' (alt: '%#.*e' / '%#.*f') into a heap string. */
static char *print_double(char conv, bool alt, int prec, double x)
{
    int n;
    if (conv == 'e')
        n = alt ? snprintf(NULL, 0, "%#.*e", prec, x) : snprintf(NULL, 0, "%.*e", prec, x);
    else
        n = alt ? snprintf(NULL, 0, "%#.*f", prec, x) : snprintf(NULL, 0, "%.*f", prec, x);
    char *s = xmalloc((size_t)n + 8);
    if (conv == 'e')
        alt ? snprintf(s, (size_t)n + 1, "%#.*e", prec, x) : snprintf(s, (size_t)n + 1, "%.*e", prec, x);
    else
        alt ? snprintf(s, (size_t)n + 1, "%#.*f", prec, x) : snprintf(s, (size_t)n + 1, "%.*f", prec, x);
    return s;
}

static void upper_e(char *s)
{
    for (; *s; s++)
        if (*s == 'e')
            *s = 'E';
}

/* The digits of |x| for a float presentation type ('' = repr, or 'g' rules with a
 * precision, switching to exponent notation one digit earlier than 'g'). */
static void float_body(double x, const struct spec *sp, char type, struct buf *body)
{
    int64_t p = sp->prec;
    bool upper = type == 'E' || type == 'F' || type == 'G';
    double ax = fabs(x);
    char *t = NULL;
    if (isinf(x) || isnan(x)) {
        buf_append_str(body, isnan(x) ? (upper ? "NAN" : "nan") : (upper ? "INF" : "inf"));
        return;
    }
    if (type == 0 && p < 0) {
        char r[40];
        tx_float_repr(ax, r);
        buf_append_str(body, r);
        return;
    }
    if (type == '%') {
        t = print_double('f', sp->alt, (int)(p < 0 ? 6 : p), ax * 100);
        buf_append_str(body, t);
        buf_putc(body, '%');
        free(t);
        return;
    }
    if (type == 'f' || type == 'F' || type == 'e' || type == 'E') {
        t = print_double(type == 'e' || type == 'E' ? 'e' : 'f', sp->alt, (int)(p < 0 ? 6 : p), ax);
        if (type == 'E')
            upper_e(t);
        buf_append_str(body, t);
        free(t);
        return;
    }
    if (p < 0)
        p = 6;
    if (p == 0)
        p = 1;
    t = print_double('e', false, (int)(p - 1), ax);
    int exp10 = atoi(strchr(t, 'e') + 1);
    free(t);
    bool sci = exp10 < -4 || exp10 >= (type == 0 ? p - 1 : p);
    if (sci) {
        t = print_double('e', sp->alt, (int)(p - 1), ax);
        if (!sp->alt) {
            /* strip trailing zeros of the mantissa */
            char *ep = strchr(t, 'e');
            char *q = ep;
            while (q > t && q[-1] == '0')
                q--;
            if (q > t && q[-1] == '.')
                q--;
            memmove(q, ep, strlen(ep) + 1);
        }
    } else {
        int dec = (int)(p - 1 - exp10);
        t = print_double('f', sp->alt, dec < 0 ? 0 : dec, ax);
        if (!sp->alt && strchr(t, '.')) {
            char *q = t + strlen(t);
            while (q[-1] == '0')
                q--;
            if (q[-1] == '.')
                q--;
            *q = '\0';
        }
        if (type == 0 && !strchr(t, '.'))
            strcat(t, ".0");
    }
    if (upper)
        upper_e(t);
    buf_append_str(body, t);
    free(t);
}

static int format_float(struct tx_ctx *c, double x, const struct spec *sp, struct buf *out)
{
    char type = sp->type == 'n' ? 'g' : sp->type;
    if (type && !strchr("eEfFgG%", type))
        return tx_raise(c, "ValueError", "Unknown format code '%c' for object of type 'float'",
                        type);
    if (sp->group == '_' && 0)
        return IV_EINVAL;
    bool neg = signbit(x) && !isnan(x);
    struct buf body;
    buf_init(&body, SIZE_MAX);
    float_body(x, sp, type, &body);
    buf_putc(&body, '\0');
    if (neg && sp->z) {
        /* 'z': a negative zero after rounding prints as positive */
        bool allzero = true;
        for (const char *q = body.data; *q && *q != 'e' && *q != 'E'; q++)
            if (*q >= '1' && *q <= '9')
                allzero = false;
        if (allzero)
            neg = false;
    }
    char head[4] = "";
    if (neg)
        strcpy(head, "-");
    else if (sp->sign == '+' || sp->sign == ' ')
        head[0] = sp->sign, head[1] = '\0';
    /* grouping applies to the integer digits */
    struct buf g;
    buf_init(&g, SIZE_MAX);
    const char *d = body.data;
    size_t intn = strspn(d, "0123456789");
    if (sp->group && intn) {
        if (sp->align == '=' && sp->fill == '0' && sp->width > 0) {
            int64_t rest = (int64_t)strlen(d + intn) + (int64_t)strlen(head);
            int64_t need = sp->width - rest;
            size_t total = intn;
            while ((int64_t)(total + (total - 1) / 3) < need)
                total++;
            char *zd = xmalloc(total + 1);
            memset(zd, '0', total - intn);
            memcpy(zd + total - intn, d, intn);
            zd[total] = '\0';
            group_digits(zd, total, sp->group, 3, &g);
            free(zd);
        } else {
            group_digits(d, intn, sp->group, 3, &g);
        }
        buf_append_str(&g, d + intn);
    } else {
        buf_append_str(&g, d);
    }
    int rc = pad(c, sp, '>', head, g.data, g.len, out);
    buf_release(&g);
    buf_release(&body);
    return rc;
}

int tx_format(struct tx_ctx *c, const struct tx_value *v, const char *spec, size_t speclen,
              struct buf *out)
{
    if (speclen == 0) {
        if (tx_write_str(v, out))
            return limit_str(c, SIZE_MAX);
        return limit_str(c, out->len);
    }
    struct spec sp;
    if (parse_spec(c, spec, speclen, &sp))
        return IV_EINVAL;
    apply_zero(&sp, v->kind != TX_STR);
    if (sp.type == 'n' && sp.group)
        return tx_raise(c, "ValueError", "Cannot specify '%c' with 'n'.", sp.group);
    switch (v->kind) {
    case TX_STR:
        return format_str(c, v, &sp, out);
    case TX_BOOL:
    case TX_INT: {
        if (sp.type && strchr("eEfFgG%", sp.type)) {
            double d;
            if (v->kind == TX_BOOL)
                d = v->u.b;
            else if (tx_int_to_double(c, v->u.z, &d))
                return IV_EINVAL;
            return format_float(c, d, &sp, out);
        }
        if (sp.z)
            return tx_raise(c, "ValueError", "Negative zero coercion (z) not allowed in "
                            "integer format specifier");
        mpz_t tz;
        mp_limb_t lz;
        return format_int(c, tx_int_view(v, tz, &lz), &sp, out);   /* read only: no copy */
    }
    case TX_FLOAT:
        return format_float(c, v->u.f, &sp, out);
    default:
        return tx_raise(c, "TypeError", "unsupported format string passed to %s.__format__",
                        tx_type_name(v));
    }
}

/* ---- functions ------------------------------------------------------------------------------ */

static int fn_str(struct tx_ctx *c, struct tx_value **a, int n, struct tx_value **out)
{
    if (n == 0) {
        *out = tx_str("", 0);
        return IV_OK;
    }
    if (a[0]->kind == TX_STR) {
        *out = tx_ref(a[0]);
        return IV_OK;
    }
    struct buf b;
    buf_init(&b, c->lim.max_str_bytes);
    if (tx_write_str(a[0], &b)) {
        buf_release(&b);
        return limit_str(c, SIZE_MAX);
    }
    *out = str_from_buf(&b);
    return IV_OK;
}

static int fn_int(struct tx_ctx *c, struct tx_value **a, int n, char **kw, struct tx_value **kv,
                  int nkw, struct tx_value **out)
{
    struct tx_value *base = n > 1 ? a[1] : NULL;
    for (int i = 0; i < nkw; i++) {
        if (strcmp(kw[i], "base") || base)
            return tx_raise(c, "TypeError", "int() got an unexpected keyword argument '%s'",
                            kw[i]);
        base = kv[i];
    }
    if (n > 2)
        return tx_raise(c, "TypeError", "int() takes at most 2 arguments (%d given)", n);
    if (n == 0) {
        if (base)
            return tx_raise(c, "TypeError", "int() missing string argument");
        *out = tx_int64(0);
        return IV_OK;
    }
    struct tx_value *x = a[0];
    if (base) {
        int64_t b;
        if (base->kind != TX_INT && base->kind != TX_BOOL)
            return tx_raise(c, "TypeError", "'%s' object cannot be interpreted as an integer",
                            tx_type_name(base));
        if (x->kind != TX_STR)
            return tx_raise(c, "TypeError", "int() can't convert non-string with explicit "
                            "base");
        if (!tx_get_int64(base, &b) || (b != 0 && (b < 2 || b > 36)))
            return tx_raise(c, "ValueError", "int() base must be >= 2 and <= 36, or 0");
        return tx_parse_int_text(c, x->u.s.p, x->u.s.n, (int)b, out);
    }
    switch (x->kind) {
    case TX_BOOL:
        *out = tx_int64(x->u.b);
        return IV_OK;
    case TX_INT:
        *out = tx_ref(x);
        return IV_OK;
    case TX_FLOAT: {
        if (isnan(x->u.f))
            return tx_raise(c, "ValueError", "cannot convert float NaN to integer");
        if (isinf(x->u.f))
            return tx_raise(c, "OverflowError", "cannot convert float infinity to integer");
        if (x->u.f > -0x1p63 && x->u.f < 0x1p63 && c->lim.max_int_bits >= 64) {
            *out = tx_int64((int64_t)x->u.f);   /* C truncates toward zero, as int() */
            return IV_OK;
        }
        mpz_t z;
        mpz_init_set_d(z, x->u.f);   /* truncates toward zero */
        int rc = tx_check_int_size(c, z);
        if (!rc)
            *out = tx_int_mpz(z);
        mpz_clear(z);
        return rc;
    }
    case TX_STR:
        return tx_parse_int_text(c, x->u.s.p, x->u.s.n, 10, out);
    default:
        return tx_raise(c, "TypeError", "int() argument must be a string, a bytes-like object "
                        "or a real number, not '%s'", tx_type_name(x));
    }
}

static int fn_float(struct tx_ctx *c, struct tx_value **a, int n, struct tx_value **out)
{
    if (n == 0) {
        *out = tx_float(0.0);
        return IV_OK;
    }
    struct tx_value *x = a[0];
    double d;
    switch (x->kind) {
    case TX_BOOL:
        *out = tx_float(x->u.b);
        return IV_OK;
    case TX_INT:
        if (tx_int_to_double(c, x->u.z, &d))
            return IV_EINVAL;
        *out = tx_float(d);
        return IV_OK;
    case TX_FLOAT:
        *out = tx_ref(x);
        return IV_OK;
    case TX_STR:
        if (tx_parse_float_text(c, x->u.s.p, x->u.s.n, &d))
            return IV_EINVAL;
        *out = tx_float(d);
        return IV_OK;
    default:
        return tx_raise(c, "TypeError", "float() argument must be a string or a real number, "
                        "not '%s'", tx_type_name(x));
    }
}

static int fn_len(struct tx_ctx *c, struct tx_value *x, struct tx_value **out)
{
    switch (x->kind) {
    case TX_STR: *out = tx_int64((int64_t)x->u.s.nchars); return IV_OK;
    case TX_LIST:
    case TX_TUPLE: *out = tx_int64((int64_t)x->u.seq.n); return IV_OK;
    case TX_DICT: *out = tx_int64((int64_t)x->u.d.n); return IV_OK;
    default:
        return tx_raise(c, "TypeError", "object of type '%s' has no len()", tx_type_name(x));
    }
}

static int fn_abs(struct tx_ctx *c, struct tx_value *x, struct tx_value **out)
{
    if (x->kind == TX_FLOAT) {
        *out = tx_float(fabs(x->u.f));
        return IV_OK;
    }
    if (x->kind == TX_BOOL) {
        *out = tx_int64(x->u.b);
        return IV_OK;
    }
    if (tx_int_inline(x) && x->u.i != INT64_MIN) {
        *out = x->u.i < 0 ? tx_int64(-x->u.i) : tx_ref(x);
        return IV_OK;
    }
    if (x->kind == TX_INT) {
        mpz_t z;
        mpz_init(z);
        mpz_abs(z, x->u.z);
        *out = tx_int_mpz(z);
        mpz_clear(z);
        return IV_OK;
    }
    return tx_raise(c, "TypeError", "bad operand type for abs(): '%s'", tx_type_name(x));
}

static int fn_minmax(struct tx_ctx *c, bool is_max, struct tx_value **a, int n, int nkw,
                     struct tx_value **out)
{
    const char *fn = is_max ? "max" : "min";
    if (nkw)
        return tx_raise(c, "NotSupported", "%s() keyword arguments are not supported", fn);
    if (n == 0)
        return tx_raise(c, "TypeError", "%s expected at least 1 argument, got 0", fn);
    struct tx_value **items = a, *tmp = NULL;
    size_t count = (size_t)n;
    if (n == 1 && tx_iterate(c, a[0], &items, &count, &tmp))
        return IV_EINVAL;
    if (count == 0) {
        tx_unref(tmp);
        return tx_raise(c, "ValueError", "%s() arg is an empty sequence", fn);
    }
    struct tx_value *best = items[0];
    for (size_t i = 1; i < count; i++) {
        int r = is_max ? tx_less(c, best, items[i]) : tx_less(c, items[i], best);
        if (r < 0) {
            tx_unref(tmp);
            return IV_EINVAL;
        }
        if (r)
            best = items[i];
    }
    *out = tx_ref(best);
    tx_unref(tmp);
    return IV_OK;
}

static int fn_sum(struct tx_ctx *c, struct tx_value **a, int n, char **kw, struct tx_value **kv,
                  int nkw, struct tx_value **out)
{
    struct tx_value *start = n > 1 ? a[1] : NULL;
    for (int i = 0; i < nkw; i++) {
        if (strcmp(kw[i], "start") || start)
            return tx_raise(c, "TypeError", "sum() got an unexpected keyword argument '%s'",
                            kw[i]);
        start = kv[i];
    }
    if (n < 1 || n > 2)
        return tx_raise(c, "TypeError", "sum() takes at most 2 arguments (%d given)", n);
    if (start && start->kind == TX_STR)
        return tx_raise(c, "TypeError", "sum() can't sum strings [use ''.join(seq) instead]");
    struct tx_value **items, *tmp;
    size_t count;
    if (tx_iterate(c, a[0], &items, &count, &tmp))
        return IV_EINVAL;
    struct tx_value *acc = start ? tx_ref(start) : tx_int64(0);
    for (size_t i = 0; i < count; i++) {
        struct tx_value *r = NULL;
        if (tx_binary(c, '+', acc, items[i], &r)) {
            tx_unref(acc);
            tx_unref(tmp);
            return IV_EINVAL;
        }
        tx_unref(acc);
        acc = r;
    }
    tx_unref(tmp);
    *out = acc;
    return IV_OK;
}

/* Stable merge sort with Python's '<'; -1 on a comparison error. */
static int merge_sort(struct tx_ctx *c, struct tx_value **v, struct tx_value **tmp, size_t n)
{
    if (n < 2)
        return 0;
    size_t h = n / 2;
    if (merge_sort(c, v, tmp, h) || merge_sort(c, v + h, tmp, n - h))
        return -1;
    size_t i = 0, j = h, k = 0;
    while (i < h && j < n) {
        if (tx_step(c, 1))
            return -1;
        int lt = tx_less(c, v[j], v[i]);
        if (lt < 0)
            return -1;
        tmp[k++] = lt ? v[j++] : v[i++];
    }
    while (i < h)
        tmp[k++] = v[i++];
    while (j < n)
        tmp[k++] = v[j++];
    memcpy(v, tmp, n * sizeof *v);
    return 0;
}

static void reverse(struct tx_value **v, size_t n)
{
    for (size_t i = 0; i < n / 2; i++) {
        struct tx_value *t = v[i];
        v[i] = v[n - 1 - i];
        v[n - 1 - i] = t;
    }
}

static int fn_sorted(struct tx_ctx *c, struct tx_value **a, int n, char **kw,
                     struct tx_value **kv, int nkw, struct tx_value **out)
{
    bool rev = false;
    for (int i = 0; i < nkw; i++) {
        if (strcmp(kw[i], "reverse"))
            return tx_raise(c, strcmp(kw[i], "key") ? "TypeError" : "NotSupported",
                            "sorted() keyword argument '%s' is not supported", kw[i]);
        if (kv[i]->kind == TX_FLOAT)
            return tx_raise(c, "TypeError", "'float' object cannot be interpreted as an "
                            "integer");
        rev = tx_truthy(kv[i]);
    }
    if (n != 1)
        return tx_raise(c, "TypeError", "sorted expected 1 argument, got %d", n);
    struct tx_value **items, *tmp;
    size_t count;
    if (tx_iterate(c, a[0], &items, &count, &tmp))
        return IV_EINVAL;
    struct tx_value *l = tx_seq_new(TX_LIST, count);
    memcpy(l->u.seq.items, items, count * sizeof *items);
    if (rev)
        reverse(l->u.seq.items, count);
    struct tx_value **scratch = xmalloc((count ? count : 1) * sizeof *scratch);
    int rc = merge_sort(c, l->u.seq.items, scratch, count);
    free(scratch);
    if (rev)
        reverse(l->u.seq.items, count);
    for (size_t i = 0; i < count; i++)
        tx_ref(l->u.seq.items[i]);
    tx_unref(tmp);
    if (rc) {
        tx_unref(l);
        return IV_EINVAL;
    }
    *out = l;
    return IV_OK;
}

/* ---- date helpers ------------------------------------------------------------------------ */

struct dt {
    int64_t y;
    int mo, d, h, mi, s, us;
    int off_s;         /* UTC offset in seconds */
};

static int digits(const char *s, size_t n, size_t at, int count, int *out)
{
    if (at + (size_t)count > n)
        return -1;
    int v = 0;
    for (int i = 0; i < count; i++) {
        char ch = s[at + (size_t)i];
        if (ch < '0' || ch > '9')
            return -1;
        v = v * 10 + (ch - '0');
    }
    *out = v;
    return 0;
}

static int days_in_month(int64_t y, int m)
{
    static const int dm[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : dm[m - 1];
}

/* YYYY-MM-DD[(T| )HH[:MM[:SS[.f+]]][Z|+HH[:MM[:SS]]|+HHMM]] as Python 3.11's
 * datetime.fromisoformat reads these forms; a naive time is UTC. */
static int parse_iso(struct tx_ctx *c, const struct tx_value *sv, struct dt *t)
{
    memset(t, 0, sizeof *t);
    if (sv->kind != TX_STR)
        return tx_raise(c, "TypeError", "fromisoformat: argument must be str");
    const char *s = sv->u.s.p;
    size_t n = sv->u.s.n, i = 10;
    int y;
    if (digits(s, n, 0, 4, &y) || n < 10 || s[4] != '-' || digits(s, n, 5, 2, &t->mo) ||
        s[7] != '-' || digits(s, n, 8, 2, &t->d))
        goto bad;
    t->y = y;
    if (y < 1 || t->mo < 1 || t->mo > 12 || t->d < 1 || t->d > days_in_month(y, t->mo))
        goto bad;
    if (i == n)
        return IV_OK;
    if (s[i] != 'T' && s[i] != ' ')
        goto bad;
    i++;
    if (digits(s, n, i, 2, &t->h))
        goto bad;
    i += 2;
    if (i < n && s[i] == ':') {
        if (digits(s, n, i + 1, 2, &t->mi))
            goto bad;
        i += 3;
        if (i < n && s[i] == ':') {
            if (digits(s, n, i + 1, 2, &t->s))
                goto bad;
            i += 3;
            if (i < n && (s[i] == '.' || s[i] == ',')) {
                i++;
                int nd = 0, us = 0;
                while (i < n && s[i] >= '0' && s[i] <= '9') {
                    if (nd < 6)
                        us = us * 10 + (s[i] - '0');
                    nd++;
                    i++;
                }
                if (nd == 0)
                    goto bad;
                for (int k = nd; k < 6; k++)
                    us *= 10;
                t->us = us;
            }
        }
    }
    if (t->h > 23 || t->mi > 59 || t->s > 59)
        goto bad;
    if (i < n) {
        if (s[i] == 'Z' && i + 1 == n) {
            return IV_OK;
        }
        if (s[i] != '+' && s[i] != '-')
            goto bad;
        int sign = s[i] == '-' ? -1 : 1, oh, om = 0, os = 0;
        i++;
        if (digits(s, n, i, 2, &oh))
            goto bad;
        i += 2;
        if (i < n && s[i] == ':') {
            if (digits(s, n, i + 1, 2, &om))
                goto bad;
            i += 3;
            if (i < n && s[i] == ':') {
                if (digits(s, n, i + 1, 2, &os))
                    goto bad;
                i += 3;
            }
        } else if (i < n) {
            if (digits(s, n, i, 2, &om))
                goto bad;
            i += 2;
        }
        if (i != n || oh > 23 || om > 59 || os > 59)
            goto bad;
        t->off_s = sign * (oh * 3600 + om * 60 + os);
    }
    return IV_OK;
bad:;
    char *r = tx_repr_of(sv, NULL);
    int rc = tx_raise(c, "ValueError", "Invalid isoformat string: %.200s", r ? r : "?");
    free(r);
    return rc;
}

/* Microseconds since the epoch (UTC). */
static int64_t dt_epoch_us(const struct dt *t)
{
    int64_t days = days_from_civil(t->y, (unsigned)t->mo, (unsigned)t->d);
    int64_t secs = days * 86400 + t->h * 3600 + t->mi * 60 + t->s - t->off_s;
    return secs * 1000000 + t->us;
}

static void dt_from_us(int64_t us, struct dt *t)
{
    int64_t secs = us >= 0 ? us / 1000000 : -((-us + 999999) / 1000000);
    memset(t, 0, sizeof *t);
    t->us = (int)(us - secs * 1000000);
    int64_t days = secs >= 0 ? secs / 86400 : -((-secs + 86399) / 86400);
    int64_t rem = secs - days * 86400;
    unsigned m, d;
    civil_from_days(days, &t->y, &m, &d);
    t->mo = (int)m;
    t->d = (int)d;
    t->h = (int)(rem / 3600);
    t->mi = (int)(rem % 3600 / 60);
    t->s = (int)(rem % 60);
}

static int utc_of(struct tx_ctx *c, const struct tx_value *sv, struct dt *u)
{
    struct dt t;
    if (parse_iso(c, sv, &t))
        return IV_EINVAL;
    int64_t us = dt_epoch_us(&t);
    dt_from_us(us, u);
    if (u->y < 1 || u->y > 9999)
        return tx_raise(c, "OverflowError", "date value out of range");
    return IV_OK;
}

static int fn_date(struct tx_ctx *c, enum tx_fn fn, const char *name, struct tx_value **a,
                   int n, struct tx_value **out)
{
    struct dt u;
    char b[64];
    if (fn == TXF_FORMAT_DATETIME) {
        if (n != 2)
            return tx_raise(c, "TypeError", "format_datetime() takes exactly 2 arguments");
        if (want_str(c, a[1], "format") || utc_of(c, a[0], &u))
            return IV_EINVAL;
        struct buf o;
        buf_init(&o, c->lim.max_str_bytes);
        const char *f = a[1]->u.s.p;
        for (size_t i = 0; i < a[1]->u.s.n; i++) {
            if (f[i] != '%' || i + 1 >= a[1]->u.s.n) {
                buf_putc(&o, f[i]);
                continue;
            }
            char d = f[++i];
            int64_t yday = days_from_civil(u.y, (unsigned)u.mo, (unsigned)u.d) -
                           days_from_civil(u.y, 1, 1) + 1;
            switch (d) {
            case 'Y': buf_printf(&o, "%lld", (long long)u.y); break;
            case 'y': buf_printf(&o, "%02d", (int)(u.y % 100)); break;
            case 'm': buf_printf(&o, "%02d", u.mo); break;
            case 'd': buf_printf(&o, "%02d", u.d); break;
            case 'H': buf_printf(&o, "%02d", u.h); break;
            case 'M': buf_printf(&o, "%02d", u.mi); break;
            case 'S': buf_printf(&o, "%02d", u.s); break;
            case 'f': buf_printf(&o, "%06d", u.us); break;
            case 'j': buf_printf(&o, "%03d", (int)yday); break;
            case 'z': buf_append_str(&o, "+0000"); break;
            case '%': buf_putc(&o, '%'); break;
            default:
                buf_release(&o);
                return tx_raise(c, "ValueError", "format_datetime: directive '%%%c' is not "
                                "supported", d);
            }
        }
        *out = str_from_buf(&o);
        return IV_OK;
    }
    if (n != 1)
        return tx_raise(c, "TypeError", "%s() takes exactly one argument (%d given)", name, n);
    if (utc_of(c, a[0], &u))
        return IV_EINVAL;
    if (fn == TXF_PARSE_DATE) {
        snprintf(b, sizeof b, "%04lld-%02d-%02d", (long long)u.y, u.mo, u.d);
    } else if (fn == TXF_PARSE_DATETIME) {
        int k = snprintf(b, sizeof b, "%04lld-%02d-%02dT%02d:%02d:%02d", (long long)u.y, u.mo,
                         u.d, u.h, u.mi, u.s);
        if (u.us)
            k += snprintf(b + k, sizeof b - (size_t)k, ".%06d", u.us);
        snprintf(b + k, sizeof b - (size_t)k, "+00:00");
    } else {
        struct dt t;
        parse_iso(c, a[0], &t);
        int64_t us = dt_epoch_us(&t);
        *out = tx_float((double)us / 1e6);   /* exact operands: correctly rounded */
        return IV_OK;
    }
    *out = tx_str(b, strlen(b));
    return IV_OK;
}

static int call_round(struct tx_ctx *c, struct tx_value **a, int n, char **kw,
                      struct tx_value **kv, int nkw, struct tx_value **out)
{
    struct tx_value *nd = n > 1 ? a[1] : NULL;
    for (int i = 0; i < nkw; i++) {
        if (strcmp(kw[i], "ndigits") || nd)
            return tx_raise(c, "TypeError", "round() got an unexpected keyword argument "
                            "'%s'", kw[i]);
        nd = kv[i];
    }
    if (n < 1 || n > 2)
        return tx_raise(c, "TypeError", "round() takes at most 2 arguments (%d given)", n);
    return tx_round(c, a[0], nd, out);
}

int tx_call_builtin(struct tx_ctx *c, enum tx_fn fn, const char *name, struct tx_value **a,
                    int n, char **kw, struct tx_value **kv, int nkw, struct tx_value **out)
{
    switch (fn) {
    case TXF_INT: return fn_int(c, a, n, kw, kv, nkw, out);
    case TXF_SUM: return fn_sum(c, a, n, kw, kv, nkw, out);
    case TXF_SORTED: return fn_sorted(c, a, n, kw, kv, nkw, out);
    case TXF_MIN:
    case TXF_MAX: return fn_minmax(c, fn == TXF_MAX, a, n, nkw, out);
    case TXF_ROUND: return call_round(c, a, n, kw, kv, nkw, out);
    default: break;
    }
    if (nkw)
        return tx_raise(c, "TypeError", "%s() takes no keyword arguments", name);
    switch (fn) {
    case TXF_STR:
        if (n > 1)
            return tx_raise(c, "NotSupported", "str() with an encoding is not supported");
        return fn_str(c, a, n, out);
    case TXF_FLOAT: return arity(c, name, n, 0, 1, 0) ? IV_EINVAL : fn_float(c, a, n, out);
    case TXF_BOOL:
        if (arity(c, name, n, 0, 1, 0))
            return IV_EINVAL;
        *out = tx_bool(n && tx_truthy(a[0]));
        return IV_OK;
    case TXF_LEN: return arity(c, name, n, 1, 1, 0) ? IV_EINVAL : fn_len(c, a[0], out);
    case TXF_ABS: return arity(c, name, n, 1, 1, 0) ? IV_EINVAL : fn_abs(c, a[0], out);
    case TXF_PARSE_DATETIME:
    case TXF_PARSE_DATE:
    case TXF_TO_EPOCH:
    case TXF_FORMAT_DATETIME: return fn_date(c, fn, name, a, n, out);
    default: return tx_raise(c, "NameError", "name '%s' is not defined", name);
    }
}

/* ---- str methods --------------------------------------------------------------------------- */

/* Is the code point at p one of the chars (NULL = whitespace)? */
static bool in_chars(ucs4_t cp, const struct tx_value *chars)
{
    if (!chars)
        return tx_is_space_cp(cp);
    const uint8_t *p = (const uint8_t *)chars->u.s.p, *e = p + chars->u.s.n;
    while (p < e) {
        ucs4_t x;
        p += u8_mbtouc(&x, p, (size_t)(e - p));
        if (x == cp)
            return true;
    }
    return false;
}

static struct tx_value *strip(const struct tx_value *s, const struct tx_value *chars, int which)
{
    const uint8_t *p = (const uint8_t *)s->u.s.p, *b = p, *e = p + s->u.s.n;
    if (which & 1) {
        while (b < e) {
            ucs4_t cp;
            int k = u8_mbtouc(&cp, b, (size_t)(e - b));
            if (!in_chars(cp, chars))
                break;
            b += k;
        }
    }
    if (which & 2) {
        while (e > b) {
            const uint8_t *q = e - 1;
            while (q > b && (*q & 0xc0) == 0x80)
                q--;
            ucs4_t cp;
            u8_mbtouc(&cp, q, (size_t)(e - q));
            if (!in_chars(cp, chars))
                break;
            e = q;
        }
    }
    return tx_str((const char *)b, (size_t)(e - b));
}

static int m_replace(struct tx_ctx *c, struct tx_value *s, struct tx_value **a, int n,
                     struct tx_value **out)
{
    if (n < 2 || n > 3)
        return tx_raise(c, "TypeError", "replace expected at least 2 arguments, got %d", n);
    if (want_str(c, a[0], "replace() argument 1") || want_str(c, a[1], "replace() argument 2"))
        return IV_EINVAL;
    int64_t count = -1;
    if (n == 3) {
        if (a[2]->kind != TX_INT && a[2]->kind != TX_BOOL)
            return tx_raise(c, "TypeError", "'%s' object cannot be interpreted as an integer",
                            tx_type_name(a[2]));
        if (!tx_get_int64(a[2], &count))
            count = mpz_sgn(a[2]->u.z) > 0 ? INT64_MAX : -1;
    }
    if (count < 0)
        count = INT64_MAX;
    const struct tx_value *old = a[0], *new = a[1];
    struct buf b;
    buf_init(&b, c->lim.max_str_bytes);
    int rc = IV_OK;
    if (old->u.s.n == 0) {
        /* inserts `new` before every character and at the end, count times at most */
        const uint8_t *p = (const uint8_t *)s->u.s.p, *e = p + s->u.s.n;
        int64_t done = 0;
        while (!rc) {
            if (done < count) {
                rc = buf_append(&b, new->u.s.p, new->u.s.n);
                done++;
            }
            if (p >= e)
                break;
            int k = u8_mblen(p, (size_t)(e - p));
            rc = rc ? rc : buf_append(&b, p, (size_t)k);
            p += k;
        }
    } else {
        const char *p = s->u.s.p, *e = p + s->u.s.n;
        int64_t done = 0;
        while (!rc && p < e) {
            const char *hit = done < count ? memmem(p, (size_t)(e - p), old->u.s.p, old->u.s.n)
                                           : NULL;
            if (!hit) {
                rc = buf_append(&b, p, (size_t)(e - p));
                break;
            }
            rc = buf_append(&b, p, (size_t)(hit - p));
            if (!rc)
                rc = buf_append(&b, new->u.s.p, new->u.s.n);
            p = hit + old->u.s.n;
            done++;
            if (!rc)
                rc = tx_step(c, 1) ? IV_ETOOBIG : IV_OK;
        }
    }
    if (rc) {
        buf_release(&b);
        return c->err->kind[0] ? IV_EINVAL : limit_str(c, SIZE_MAX);
    }
    *out = str_from_buf(&b);
    return IV_OK;
}

static void list_push(struct tx_value *l, struct tx_value *v)
{
    l->u.seq.items = xrealloc(l->u.seq.items, sizeof(void *) * (l->u.seq.n + 1));
    l->u.seq.items[l->u.seq.n++] = v;
}

static int m_split(struct tx_ctx *c, struct tx_value *s, struct tx_value **a, int n, char **kw,
                   struct tx_value **kv, int nkw, struct tx_value **out)
{
    struct tx_value *sep = n > 0 ? a[0] : NULL, *maxv = n > 1 ? a[1] : NULL;
    if (n > 2)
        return tx_raise(c, "TypeError", "split() takes at most 2 arguments (%d given)", n);
    for (int i = 0; i < nkw; i++) {
        if (!strcmp(kw[i], "sep") && !sep)
            sep = kv[i];
        else if (!strcmp(kw[i], "maxsplit") && !maxv)
            maxv = kv[i];
        else
            return tx_raise(c, "TypeError", "split() got an unexpected keyword argument '%s'",
                            kw[i]);
    }
    if (sep && sep->kind == TX_NONE)
        sep = NULL;
    if (sep && want_str(c, sep, "must be str or None, not"))
        return IV_EINVAL;
    if (sep && sep->u.s.n == 0)
        return tx_raise(c, "ValueError", "empty separator");
    int64_t maxsplit = -1;
    if (maxv) {
        if (maxv->kind != TX_INT && maxv->kind != TX_BOOL)
            return tx_raise(c, "TypeError", "'%s' object cannot be interpreted as an integer",
                            tx_type_name(maxv));
        if (!tx_get_int64(maxv, &maxsplit))
            maxsplit = mpz_sgn(maxv->u.z) > 0 ? INT64_MAX : -1;
    }
    if (maxsplit < 0)
        maxsplit = INT64_MAX;
    struct tx_value *l = tx_seq_new(TX_LIST, 0);
    const char *p = s->u.s.p, *e = p + s->u.s.n;
    int64_t splits = 0;
    if (sep) {
        for (;;) {
            const char *hit = splits < maxsplit ? memmem(p, (size_t)(e - p), sep->u.s.p,
                                                         sep->u.s.n) : NULL;
            if (!hit) {
                list_push(l, tx_str(p, (size_t)(e - p)));
                break;
            }
            list_push(l, tx_str(p, (size_t)(hit - p)));
            p = hit + sep->u.s.n;
            splits++;
            if (tx_step(c, 1)) {
                tx_unref(l);
                return IV_EINVAL;
            }
        }
    } else {
        const uint8_t *q = (const uint8_t *)p, *end = (const uint8_t *)e;
        for (;;) {
            ucs4_t cp;
            while (q < end) {
                int k = u8_mbtouc(&cp, q, (size_t)(end - q));
                if (!tx_is_space_cp(cp))
                    break;
                q += k;
            }
            if (q >= end)
                break;
            if (splits >= maxsplit) {
                /* the rest, without trailing whitespace */
                struct tx_value *rest = tx_str((const char *)q, (size_t)(end - q));
                struct tx_value *stripped = strip(rest, NULL, 2);
                tx_unref(rest);
                list_push(l, stripped);
                break;
            }
            const uint8_t *w = q;
            while (q < end) {
                int k = u8_mbtouc(&cp, q, (size_t)(end - q));
                if (tx_is_space_cp(cp))
                    break;
                q += k;
            }
            list_push(l, tx_str((const char *)w, (size_t)(q - w)));
            splits++;
            if (tx_step(c, 1)) {
                tx_unref(l);
                return IV_EINVAL;
            }
        }
    }
    *out = l;
    return IV_OK;
}

static int m_join(struct tx_ctx *c, struct tx_value *s, struct tx_value *it,
                  struct tx_value **out)
{
    struct tx_value **items, *tmp;
    size_t count;
    if (it->kind == TX_STR || it->kind == TX_DICT || it->kind == TX_LIST ||
        it->kind == TX_TUPLE) {
        if (tx_iterate(c, it, &items, &count, &tmp))
            return IV_EINVAL;
    } else {
        return tx_raise(c, "TypeError", "can only join an iterable");
    }
    struct buf b;
    buf_init(&b, c->lim.max_str_bytes);
    int rc = IV_OK;
    for (size_t i = 0; i < count && !rc; i++) {
        if (items[i]->kind != TX_STR) {
            rc = tx_raise(c, "TypeError", "sequence item %zu: expected str instance, %s found",
                          i, tx_type_name(items[i]));
            break;
        }
        if ((i && buf_append(&b, s->u.s.p, s->u.s.n)) ||
            buf_append(&b, items[i]->u.s.p, items[i]->u.s.n))
            rc = limit_str(c, SIZE_MAX);
    }
    tx_unref(tmp);
    if (rc) {
        buf_release(&b);
        return IV_EINVAL;
    }
    *out = str_from_buf(&b);
    return IV_OK;
}

/* Optional [start[, end]] arguments of find/startswith/endswith as code point bounds. */
static int range_args(struct tx_ctx *c, const struct tx_value *s, struct tx_value **a, int n,
                      int64_t *start, int64_t *end)
{
    int64_t len = (int64_t)s->u.s.nchars;
    *start = 0;
    *end = len;
    for (int i = 0; i < n; i++) {
        if (a[i]->kind == TX_NONE)
            continue;
        if (a[i]->kind != TX_INT && a[i]->kind != TX_BOOL)
            return tx_raise(c, "TypeError", "slice indices must be integers or None or have an "
                            "__index__ method");
        int64_t v;
        if (!tx_get_int64(a[i], &v))
            v = mpz_sgn(a[i]->u.z) > 0 ? INT64_MAX / 2 : INT64_MIN / 2;
        if (v < 0) {
            v += len;
            if (v < 0)
                v = 0;
        }
        if (i == 0)
            *start = v;
        else
            *end = v > len ? len : v;
    }
    return IV_OK;
}

static int m_find(struct tx_ctx *c, struct tx_value *s, struct tx_value **a, int n,
                  struct tx_value **out)
{
    if (n < 1 || n > 3)
        return tx_raise(c, "TypeError", "find() takes at least 1 argument (%d given)", n);
    if (want_str(c, a[0], "must be str, not"))
        return IV_EINVAL;
    int64_t start, end;
    if (range_args(c, s, a + 1, n - 1, &start, &end))
        return IV_EINVAL;
    if (start > (int64_t)s->u.s.nchars || end - start < (int64_t)a[0]->u.s.nchars) {
        *out = tx_int64(start <= end && a[0]->u.s.n == 0 && start <= (int64_t)s->u.s.nchars
                        ? start : -1);
        return IV_OK;
    }
    size_t bs = tx_str_offset(s, (size_t)start), be = tx_str_offset(s, (size_t)end);
    const char *hit = memmem(s->u.s.p + bs, be - bs, a[0]->u.s.p, a[0]->u.s.n);
    if (!hit) {
        *out = tx_int64(-1);
        return IV_OK;
    }
    *out = tx_int64((int64_t)u8_mbsnlen((const uint8_t *)s->u.s.p, (size_t)(hit - s->u.s.p)));
    return IV_OK;
}

static int m_affix(struct tx_ctx *c, struct tx_value *s, bool ends, struct tx_value **a, int n,
                   struct tx_value **out)
{
    const char *fn = ends ? "endswith" : "startswith";
    if (n < 1 || n > 3)
        return tx_raise(c, "TypeError", "%s() takes at least 1 argument (%d given)", fn, n);
    int64_t start, end;
    if (range_args(c, s, a + 1, n - 1, &start, &end))
        return IV_EINVAL;
    struct tx_value **cands = &a[0];
    size_t nc = 1;
    if (a[0]->kind == TX_TUPLE) {
        cands = a[0]->u.seq.items;
        nc = a[0]->u.seq.n;
    } else if (a[0]->kind != TX_STR) {
        return tx_raise(c, "TypeError", "%s first arg must be str or a tuple of str, not %s",
                        fn, tx_type_name(a[0]));
    }
    for (size_t i = 0; i < nc; i++) {
        if (cands[i]->kind != TX_STR)
            return tx_raise(c, "TypeError", "tuple for %s must only contain str, not %s", fn,
                            tx_type_name(cands[i]));
        if (start > (int64_t)s->u.s.nchars)
            continue;
        if (end < start)
            continue;
        size_t bs = tx_str_offset(s, (size_t)start), be = tx_str_offset(s, (size_t)end);
        size_t k = cands[i]->u.s.n;
        if (k > be - bs)
            continue;
        const char *at = ends ? s->u.s.p + be - k : s->u.s.p + bs;
        if (!memcmp(at, cands[i]->u.s.p, k)) {
            *out = tx_bool(true);
            return IV_OK;
        }
    }
    *out = tx_bool(false);
    return IV_OK;
}

static int m_zfill(struct tx_ctx *c, struct tx_value *s, struct tx_value *w,
                   struct tx_value **out)
{
    if (w->kind != TX_INT && w->kind != TX_BOOL)
        return tx_raise(c, "TypeError", "'%s' object cannot be interpreted as an integer",
                        tx_type_name(w));
    int64_t width;
    if (!tx_get_int64(w, &width))
        width = mpz_sgn(w->u.z) > 0 ? INT64_MAX : 0;
    int64_t len = (int64_t)s->u.s.nchars;
    if (width <= len) {
        *out = tx_ref(s);
        return IV_OK;
    }
    if (limit_str(c, (size_t)(width - len) + s->u.s.n))
        return IV_EINVAL;
    size_t fill = (size_t)(width - len);
    char *p = xmalloc(s->u.s.n + fill + 1);
    size_t off = 0;
    const char *src = s->u.s.p;
    size_t sn = s->u.s.n;
    if (sn && (src[0] == '+' || src[0] == '-')) {
        p[off++] = src[0];
        src++;
        sn--;
    }
    memset(p + off, '0', fill);
    memcpy(p + off + fill, src, sn);
    p[off + fill + sn] = '\0';
    *out = tx_str_take(p, off + fill + sn);
    return IV_OK;
}

static int str_method(struct tx_ctx *c, struct tx_value *s, enum tx_fn fn, const char *name,
                      struct tx_value **a, int n, char **kw, struct tx_value **kv, int nkw,
                      struct tx_value **out)
{
    if (tx_step(c, (int64_t)(s->u.s.n / 64)))
        return IV_EINVAL;
    if (fn == TXM_SPLIT)
        return m_split(c, s, a, n, kw, kv, nkw, out);
    if (nkw)
        return tx_raise(c, "TypeError", "%s() takes no keyword arguments", name);
    struct tx_value *(*cm)(const struct tx_value *) = NULL;
    switch (fn) {
    case TXM_STRIP:
    case TXM_LSTRIP:
    case TXM_RSTRIP:
        if (n > 1)
            return tx_raise(c, "TypeError", "%s expected at most 1 argument, got %d", name, n);
        if (n == 1 && a[0]->kind != TX_NONE && a[0]->kind != TX_STR)
            return tx_raise(c, "TypeError", "%s arg must be None or str", name);
        *out = strip(s, n == 1 && a[0]->kind == TX_STR ? a[0] : NULL,
                     fn == TXM_STRIP ? 3 : fn == TXM_LSTRIP ? 1 : 2);
        return IV_OK;
    case TXM_LOWER: cm = tx_str_lower; break;
    case TXM_UPPER: cm = tx_str_upper; break;
    case TXM_TITLE: cm = tx_str_title; break;
    case TXM_CAPITALIZE: cm = tx_str_capitalize; break;
    case TXM_REPLACE: return m_replace(c, s, a, n, out);
    case TXM_JOIN:
        if (n != 1)
            return tx_raise(c, "TypeError", "str.join() takes exactly one argument (%d given)",
                            n);
        return m_join(c, s, a[0], out);
    case TXM_STARTSWITH:
    case TXM_ENDSWITH: return m_affix(c, s, fn == TXM_ENDSWITH, a, n, out);
    case TXM_ZFILL:
        if (n != 1)
            return tx_raise(c, "TypeError", "str.zfill() takes exactly one argument (%d given)",
                            n);
        return m_zfill(c, s, a[0], out);
    case TXM_FIND: return m_find(c, s, a, n, out);
    default: return tx_raise(c, "AttributeError", "'str' object has no attribute '%s'", name);
    }
    if (n)
        return tx_raise(c, "TypeError", "str.%s() takes no arguments (%d given)", name, n);
    *out = cm(s);
    return limit_str(c, (*out)->u.s.n);
}

int tx_call_method(struct tx_ctx *c, struct tx_value *self, enum tx_fn fn, const char *name,
                   struct tx_value **a, int n, char **kw, struct tx_value **kv, int nkw,
                   struct tx_value **out)
{
    if (self->kind == TX_STR)
        return str_method(c, self, fn, name, a, n, kw, kv, nkw, out);
    if (self->kind == TX_DICT && fn == TXM_GET) {
        if (nkw)
            return tx_raise(c, "TypeError", "dict.get() takes no keyword arguments");
        if (n < 1 || n > 2)
            return tx_raise(c, "TypeError", "get expected at least 1 argument, got %d", n);
        if (!tx_hashable(a[0]))
            return tx_raise(c, "TypeError", "unhashable type: '%s'", tx_type_name(a[0]));
        struct tx_value *v = tx_dict_lookup(self, a[0]);
        *out = tx_ref(v ? v : n == 2 ? a[1] : tx_none());
        return IV_OK;
    }
    return tx_raise(c, "AttributeError", "'%s' object has no attribute '%s'",
                    tx_type_name(self), name);
}
