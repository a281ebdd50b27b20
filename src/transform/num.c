/*
 * num.c: numbers with Python's semantics (see tx_int.h).
 *
 * Ints are GMP integers of any size (bounded by the limit on bits); floats are doubles.
 * Mixed arithmetic converts the int correctly rounded, as CPython does; // and % floor
 * toward -inf; / is true division (int/int correctly rounded even for big ints); ** of ints
 * stays exact, a negative exponent gives a float; float repr is the shortest string that
 * reads back to the same double, laid out as Python prints it; round() is half-even on the
 * exact binary value (glibc's printf rounds exactly, like CPython's dtoa).
 */
#include "transform/tx_int.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- float repr ------------------------------------------------------------------------ */

void tx_float_repr(double d, char *out)
{
    if (isnan(d)) {
        strcpy(out, "nan");
        return;
    }
    if (isinf(d)) {
        strcpy(out, d > 0 ? "inf" : "-inf");
        return;
    }
    if (d == 0) {
        strcpy(out, signbit(d) ? "-0.0" : "0.0");
        return;
    }
    char e[40];
    int prec = 1;
    for (; prec <= 17; prec++) {
        snprintf(e, sizeof e, "%.*e", prec - 1, d);
        if (strtod(e, NULL) == d)
            break;
    }
    /* e = "[-]D.DDDDe[+-]XX": collect digits and the decimal exponent. */
    char digits[24];
    int nd = 0;
    const char *p = e;
    bool neg = *p == '-';
    if (neg)
        p++;
    for (; *p && *p != 'e'; p++)
        if (*p != '.')
            digits[nd++] = *p;
    int exp10 = atoi(p + 1);
    while (nd > 1 && digits[nd - 1] == '0')
        nd--;
    digits[nd] = '\0';
    char *o = out;
    if (neg)
        *o++ = '-';
    if (exp10 >= -5 + 1 && exp10 < 16) {
        if (exp10 < 0) {
            o += sprintf(o, "0.");
            for (int i = 0; i < -exp10 - 1; i++)
                *o++ = '0';
            o += sprintf(o, "%s", digits);
        } else {
            for (int i = 0; i <= exp10; i++)
                *o++ = i < nd ? digits[i] : '0';
            *o++ = '.';
            if (nd > exp10 + 1)
                o += sprintf(o, "%s", digits + exp10 + 1);
            else
                *o++ = '0';
        }
        *o = '\0';
    } else {
        *o++ = digits[0];
        if (nd > 1) {
            *o++ = '.';
            o += sprintf(o, "%s", digits + 1);
        }
        sprintf(o, "e%c%02d", exp10 < 0 ? '-' : '+', exp10 < 0 ? -exp10 : exp10);
    }
}

/* ---- conversions ----------------------------------------------------------------------- */

int tx_int_to_double(struct tx_ctx *c, const mpz_t z, double *out)
{
    if (mpz_fits_slong_p(z)) {
        *out = (double)mpz_get_si(z);   /* the hardware conversion rounds half-even */
        return IV_OK;
    }
    if (mpz_sizeinbase(z, 2) <= 53) {
        *out = mpz_get_d(z);   /* exact */
        return IV_OK;
    }
    if (mpz_sizeinbase(z, 2) > 1030)
        return tx_raise(c, "OverflowError", "int too large to convert to float");
    char *s = mpz_get_str(NULL, 10, z);
    double d = strtod(s, NULL);   /* correctly rounded, half-even */
    free(s);
    if (isinf(d))
        return tx_raise(c, "OverflowError", "int too large to convert to float");
    *out = d;
    return IV_OK;
}

int tx_check_int_size(struct tx_ctx *c, const mpz_t z)
{
    if (mpz_sizeinbase(z, 2) > c->lim.max_int_bits)
        return tx_raise(c, "LimitError", "integer larger than %zu bits",
                        c->lim.max_int_bits);
    return IV_OK;
}


static int as_double(struct tx_ctx *c, const struct tx_value *v, double *out)
{
    if (v->kind == TX_FLOAT) {
        *out = v->u.f;
        return IV_OK;
    }
    int64_t i;
    if (tx_small(v, &i)) {
        *out = (double)i;   /* the hardware conversion rounds half-even, as Python */
        return IV_OK;
    }
    return tx_int_to_double(c, v->u.z, out);
}

/* a / b for ints, correctly rounded to a double (b != 0). */
static int int_true_div(struct tx_ctx *c, const mpz_t a, const mpz_t b, double *out)
{
    if (mpz_sizeinbase(a, 2) <= 53 && mpz_sizeinbase(b, 2) <= 53) {
        *out = mpz_get_d(a) / mpz_get_d(b);
        return IV_OK;
    }
    mpz_t x, y, q, r;
    mpz_inits(x, y, q, r, NULL);
    mpz_abs(x, a);
    mpz_abs(y, b);
    bool neg = (mpz_sgn(a) < 0) != (mpz_sgn(b) < 0);
    long shift = 55 - ((long)mpz_sizeinbase(x, 2) - (long)mpz_sizeinbase(y, 2));
    if (shift > 0)
        mpz_mul_2exp(x, x, (mp_bitcnt_t)shift);
    else if (shift < 0)
        mpz_mul_2exp(y, y, (mp_bitcnt_t)-shift);
    mpz_tdiv_qr(q, r, x, y);
    long extra = (long)mpz_sizeinbase(q, 2) - 53;
    if (extra > 0) {
        mpz_t low, half;
        mpz_inits(low, half, NULL);
        mpz_tdiv_r_2exp(low, q, (mp_bitcnt_t)extra);
        mpz_tdiv_q_2exp(q, q, (mp_bitcnt_t)extra);
        mpz_set_ui(half, 1);
        mpz_mul_2exp(half, half, (mp_bitcnt_t)(extra - 1));
        int cmp = mpz_cmp(low, half);
        bool sticky = mpz_sgn(r) != 0;
        if (cmp > 0 || (cmp == 0 && (sticky || mpz_odd_p(q))))
            mpz_add_ui(q, q, 1);
        mpz_clears(low, half, NULL);
    } else {
        extra = 0;
    }
    double m = mpz_get_d(q);
    double d = ldexp(m, (int)(extra - shift));
    mpz_clears(x, y, q, r, NULL);
    if (isinf(d))
        return tx_raise(c, "OverflowError", "integer division result too large for a float");
    *out = neg ? -d : d;
    return IV_OK;
}

/* Python's float floor division and modulo (floatobject.c float_divmod). */
static void float_divmod(double vx, double wx, double *floordiv, double *mod)
{
    double m = fmod(vx, wx);
    double div = (vx - m) / wx;
    if (m) {
        if ((wx < 0) != (m < 0)) {
            m += wx;
            div -= 1.0;
        }
    } else {
        m = copysign(0.0, wx);
    }
    double fd;
    if (div) {
        fd = floor(div);
        if (div - fd > 0.5)
            fd += 1.0;
    } else {
        fd = copysign(0.0, vx / wx);
    }
    *floordiv = fd;
    *mod = m;
}

static int float_pow(struct tx_ctx *c, double x, double y, double *out)
{
    if (x == 0.0 && y < 0.0)
        return tx_raise(c, "ZeroDivisionError", "0.0 cannot be raised to a negative power");
    if (x < 0.0 && isfinite(x) && isfinite(y) && floor(y) != y)
        return tx_raise(c, "ValueError", "negative number cannot be raised to a fractional "
                        "power (CPython returns a complex number, which is not supported)");
    errno = 0;
    double r = pow(x, y);
    if (isinf(r) && isfinite(x) && isfinite(y))
        return tx_raise(c, "OverflowError", "(34, 'Numerical result out of range')");
    *out = r;
    return IV_OK;
}

static int float_op(struct tx_ctx *c, int op, double x, double y, struct tx_value **out)
{
    double r = 0, m = 0;
    switch (op) {
    case '+': r = x + y; break;
    case '-': r = x - y; break;
    case '*': r = x * y; break;
    case '/':
        if (y == 0)
            return tx_raise(c, "ZeroDivisionError", "float division by zero");
        r = x / y;
        break;
    case 'F':
    case '%':
        if (y == 0)
            return tx_raise(c, "ZeroDivisionError", op == 'F' ? "float floor division by zero"
                                                            : "float modulo");
        float_divmod(x, y, &r, &m);
        if (op == '%')
            r = m;
        break;
    case 'P':
        if (float_pow(c, x, y, &r))
            return IV_EINVAL;
        break;
    default:
        return tx_raise(c, "TypeError", "unsupported operand type(s) for bitwise or shift: "
                        "'float'");
    }
    *out = tx_float(r);
    return IV_OK;
}

static int int_pow(struct tx_ctx *c, mpz_srcptr x, mpz_srcptr y, struct tx_value **out)
{
    if (mpz_sgn(y) < 0) {
        if (mpz_sgn(x) == 0)
            return tx_raise(c, "ZeroDivisionError", "0.0 cannot be raised to a negative power");
        double dx, dy;
        if (tx_int_to_double(c, x, &dx) || tx_int_to_double(c, y, &dy))
            return IV_EINVAL;
        double r;
        if (float_pow(c, dx, dy, &r))
            return IV_EINVAL;
        *out = tx_float(r);
        return IV_OK;
    }
    size_t bits = mpz_sizeinbase(x, 2);
    bool trivial = mpz_cmpabs_ui(x, 1) <= 0;
    if (!trivial && (!mpz_fits_ulong_p(y) ||
                     (double)bits * mpz_get_d(y) > (double)c->lim.max_int_bits + 64))
        return tx_raise(c, "LimitError", "integer larger than %zu bits", c->lim.max_int_bits);
    mpz_t r;
    mpz_init(r);
    if (trivial && !mpz_fits_ulong_p(y))
        mpz_pow_ui(r, x, mpz_odd_p(y) ? 1 : 2);
    else
        mpz_pow_ui(r, x, mpz_get_ui(y));
    int rc = tx_check_int_size(c, r);
    if (!rc)
        *out = tx_int_mpz(r);
    mpz_clear(r);
    return rc;
}

static int int_op(struct tx_ctx *c, int op, mpz_srcptr x, mpz_srcptr y,
                  struct tx_value **out)
{
    if (op == '/') {
        if (mpz_sgn(y) == 0)
            return tx_raise(c, "ZeroDivisionError", "division by zero");
        double d = 0;
        if (int_true_div(c, x, y, &d))
            return IV_EINVAL;
        *out = tx_float(d);
        return IV_OK;
    }
    if (op == 'P')
        return int_pow(c, x, y, out);
    mpz_t r;
    mpz_init(r);
    int rc = IV_OK;
    switch (op) {
    case '+': mpz_add(r, x, y); break;
    case '-': mpz_sub(r, x, y); break;
    case '*':
        if (mpz_sizeinbase(x, 2) + mpz_sizeinbase(y, 2) > c->lim.max_int_bits + 2)
            rc = tx_raise(c, "LimitError", "integer larger than %zu bits",
                          c->lim.max_int_bits);
        else
            mpz_mul(r, x, y);
        break;
    case 'F':
    case '%':
        if (mpz_sgn(y) == 0)
            rc = tx_raise(c, "ZeroDivisionError", op == 'F' ? "integer division or modulo by "
                          "zero" : "integer modulo by zero");
        else if (op == 'F')
            mpz_fdiv_q(r, x, y);
        else
            mpz_fdiv_r(r, x, y);
        break;
    case '&': mpz_and(r, x, y); break;
    case '|': mpz_ior(r, x, y); break;
    case '^': mpz_xor(r, x, y); break;
    case 'L':
    case 'R':
        if (mpz_sgn(y) < 0)
            rc = tx_raise(c, "ValueError", "negative shift count");
        else if (op == 'R')
            mpz_fdiv_q_2exp(r, x, mpz_fits_ulong_p(y) ? mpz_get_ui(y) : ~0UL >> 1);
        else if (mpz_sgn(x) != 0 && (!mpz_fits_ulong_p(y) ||
                                     mpz_sizeinbase(x, 2) + mpz_get_ui(y) > c->lim.max_int_bits))
            rc = tx_raise(c, "LimitError", "integer larger than %zu bits",
                          c->lim.max_int_bits);
        else if (mpz_sgn(x) != 0)
            mpz_mul_2exp(r, x, mpz_get_ui(y));
        break;
    }
    if (!rc)
        rc = tx_check_int_size(c, r);
    if (!rc)
        *out = tx_int_mpz(r);
    mpz_clear(r);
    return rc;
}

/* x OP y for int64 operands when the result is an int64 and no error is due: true with
 * *out set; false (nothing done) on overflow, a zero divisor, a negative or large shift, or an
 * op left to GMP (/, **), so the general path computes or raises exactly as before. */
static bool small_int_op(struct tx_ctx *c, int op, int64_t x, int64_t y, struct tx_value **out)
{
    int64_t r;
    if (c->lim.max_int_bits < 64)
        return false;   /* the size limit could bite below int64: let GMP check it */
    switch (op) {
    case '+': if (__builtin_add_overflow(x, y, &r)) return false; break;
    case '-': if (__builtin_sub_overflow(x, y, &r)) return false; break;
    case '*': if (__builtin_mul_overflow(x, y, &r)) return false; break;
    case 'F':
    case '%': {
        if (y == 0 || (x == INT64_MIN && y == -1))
            return false;
        int64_t q = x / y, m = x % y;   /* C truncates toward zero */
        if (m != 0 && ((m < 0) != (y < 0))) {   /* Python floors: toward -inf */
            q -= 1;
            m += y;
        }
        r = op == 'F' ? q : m;
        break;
    }
    case '&': r = x & y; break;   /* two's complement = Python's infinite sign extension */
    case '|': r = x | y; break;
    case '^': r = x ^ y; break;
    case 'R':
        if (y < 0)
            return false;
        r = y >= 63 ? (x < 0 ? -1 : 0) : x >> y;   /* arithmetic shift: floor, as Python */
        break;
    default:
        return false;
    }
    *out = tx_int64(r);
    return true;
}

int tx_arith(struct tx_ctx *c, int op, const struct tx_value *a, const struct tx_value *b,
             struct tx_value **out)
{
    if (a->kind == TX_FLOAT || b->kind == TX_FLOAT) {
        if (op == '&' || op == '|' || op == '^' || op == 'L' || op == 'R')
            return tx_raise(c, "TypeError", "unsupported operand type(s): '%s' and '%s'",
                            tx_type_name(a), tx_type_name(b));
        double x, y;
        if (as_double(c, a, &x) || as_double(c, b, &y))
            return IV_EINVAL;
        return float_op(c, op, x, y, out);
    }
    if (a->kind == TX_BOOL && b->kind == TX_BOOL && (op == '&' || op == '|' || op == '^')) {
        bool x = a->u.b, y = b->u.b;
        *out = tx_bool(op == '&' ? (x && y) : op == '|' ? (x || y) : (x != y));
        return IV_OK;
    }
    int64_t x64, y64;
    if (tx_small(a, &x64) && tx_small(b, &y64) && small_int_op(c, op, x64, y64, out))
        return IV_OK;
    mpz_t tx, ty;
    mp_limb_t lx, ly;
    return int_op(c, op, tx_int_view(a, tx, &lx), tx_int_view(b, ty, &ly), out);
}

/* ---- round ----------------------------------------------------------------------------- */

static int round_float_digits(struct tx_ctx *c, double x, long nd, struct tx_value **out)
{
    if (!isfinite(x) || nd > 323) {
        *out = tx_float(x);
        return IV_OK;
    }
    if (nd < -308) {
        *out = tx_float(0.0 * x);
        return IV_OK;
    }
    double r;
    if (nd >= 0) {
        char *s = xasprintf("%.*f", (int)nd, x);
        r = strtod(s, NULL);
        free(s);
    } else {
        /* Exact: x * 10^nd as a rational, rounded half-even, times 10^-nd. */
        mpq_t q;
        mpz_t p10, num, den, qq, rr, twice;
        mpq_init(q);
        mpz_inits(p10, num, den, qq, rr, twice, NULL);
        mpq_set_d(q, x);
        mpz_ui_pow_ui(p10, 10, (unsigned long)-nd);
        mpz_set(num, mpq_numref(q));
        mpz_mul(den, mpq_denref(q), p10);
        mpz_fdiv_qr(qq, rr, num, den);
        mpz_mul_2exp(twice, rr, 1);
        int cmp = mpz_cmp(twice, den);
        if (cmp > 0 || (cmp == 0 && mpz_odd_p(qq)))
            mpz_add_ui(qq, qq, 1);
        mpz_mul(qq, qq, p10);
        char *s = mpz_get_str(NULL, 10, qq);
        r = strtod(s, NULL);
        free(s);
        if (r == 0)
            r = copysign(0.0, x);
        mpq_clear(q);
        mpz_clears(p10, num, den, qq, rr, twice, NULL);
        if (isinf(r))
            return tx_raise(c, "OverflowError", "rounded value too large to represent");
    }
    *out = tx_float(r);
    return IV_OK;
}

static int round_int_digits(struct tx_ctx *c, mpz_srcptr z, long nd, struct tx_value **out)
{
    if (nd >= 0) {
        *out = tx_int_mpz(z);
        return IV_OK;
    }
    if (-nd > (long)c->lim.max_int_bits) {
        *out = tx_int64(0);
        return IV_OK;
    }
    mpz_t p10, q, r, twice;
    mpz_inits(p10, q, r, twice, NULL);
    mpz_ui_pow_ui(p10, 10, (unsigned long)-nd);
    mpz_fdiv_qr(q, r, z, p10);
    mpz_mul_2exp(twice, r, 1);
    int cmp = mpz_cmp(twice, p10);
    if (cmp > 0 || (cmp == 0 && mpz_odd_p(q)))
        mpz_add_ui(q, q, 1);
    mpz_mul(q, q, p10);
    *out = tx_int_mpz(q);
    mpz_clears(p10, q, r, twice, NULL);
    return IV_OK;
}

int tx_round(struct tx_ctx *c, const struct tx_value *x, const struct tx_value *n,
             struct tx_value **out)
{
    if (!tx_is_number(x))
        return tx_raise(c, "TypeError", "type %s doesn't define __round__ method",
                        tx_type_name(x));
    if (n && n->kind != TX_NONE) {
        if (n->kind != TX_INT && n->kind != TX_BOOL)
            return tx_raise(c, "TypeError", "'%s' object cannot be interpreted as an integer",
                            tx_type_name(n));
        int64_t nd;
        if (!tx_get_int64(n, &nd))
            nd = mpz_sgn(n->u.z) > 0 ? 100000 : -100000;
        if (x->kind == TX_FLOAT)
            return round_float_digits(c, x->u.f, (long)nd, out);
        mpz_t tz;
        mp_limb_t lz;
        return round_int_digits(c, tx_int_view(x, tz, &lz), (long)nd, out);
    }
    if (x->kind != TX_FLOAT) {
        mpz_t tz;
        mp_limb_t lz;
        *out = tx_int_mpz(tx_int_view(x, tz, &lz));   /* round(True) is the int 1 */
        return IV_OK;
    }
    double d = x->u.f;
    if (isnan(d))
        return tx_raise(c, "ValueError", "cannot convert float NaN to integer");
    if (isinf(d))
        return tx_raise(c, "OverflowError", "cannot convert float infinity to integer");
    double r = nearbyint(d);   /* default rounding mode: half-even */
    if (r > -9.2e18 && r < 9.2e18) {
        *out = tx_int64((int64_t)r);   /* exact: r is integral and within int64 */
        return IV_OK;
    }
    mpz_t z;
    mpz_init_set_d(z, r);
    *out = tx_int_mpz(z);
    mpz_clear(z);
    return IV_OK;
}

/* ---- int() and float() of text ---------------------------------------------------------- */

/* Strips Python whitespace (ASCII and Unicode) from both ends. */
static void strip_ws(const char **s, size_t *n)
{
    const char *p = *s, *e = *s + *n;
    while (p < e) {
        if (tx_is_space_cp((unsigned char)*p)) { p++; continue; }
        if ((unsigned char)*p >= 0x80) {
            uint32_t cp = 0;
            int k = 0;
            unsigned char b0 = (unsigned char)*p;
            if ((b0 & 0xe0) == 0xc0 && e - p >= 2) { cp = ((b0 & 0x1fu) << 6) | (p[1] & 0x3fu); k = 2; }
            else if ((b0 & 0xf0) == 0xe0 && e - p >= 3) { cp = ((b0 & 0x0fu) << 12) | ((p[1] & 0x3fu) << 6) | (p[2] & 0x3fu); k = 3; }
            if (k && tx_is_space_cp(cp)) { p += k; continue; }
        }
        break;
    }
    while (e > p) {
        if (tx_is_space_cp((unsigned char)e[-1])) { e--; continue; }
        if (e - p >= 2 && (unsigned char)e[-2] == 0xc2 &&
            tx_is_space_cp(0x80u | ((unsigned char)e[-1] & 0x3fu))) { e -= 2; continue; }
        if (e - p >= 3 && ((unsigned char)e[-3] & 0xf0) == 0xe0) {
            uint32_t cp = (((unsigned char)e[-3] & 0x0fu) << 12) |
                          (((unsigned char)e[-2] & 0x3fu) << 6) | ((unsigned char)e[-1] & 0x3fu);
            if (tx_is_space_cp(cp)) { e -= 3; continue; }
        }
        break;
    }
    *s = p;
    *n = (size_t)(e - p);
}

static int digit_value(char ch)
{
    if (ch >= '0' && ch <= '9') return ch - '0';
    if (ch >= 'a' && ch <= 'z') return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'Z') return ch - 'A' + 10;
    return 99;
}

int tx_parse_int_text(struct tx_ctx *c, const char *s0, size_t n0, int base,
                      struct tx_value **out)
{
    const char *s = s0;
    size_t n = n0;
    strip_ws(&s, &n);
    const char *p = s, *e = s + n;
    bool neg = false;
    if (p < e && (*p == '+' || *p == '-'))
        neg = *p++ == '-';
    if (base == 0 || base == 16 || base == 8 || base == 2) {
        if (e - p >= 2 && p[0] == '0' && strchr("xXoObB", p[1])) {
            int b = strchr("xX", p[1]) ? 16 : strchr("oO", p[1]) ? 8 : 2;
            if (base == 0 || base == b) {
                base = b;
                p += 2;
                if (p < e && *p == '_')
                    p++;
            }
        }
        if (base == 0) {
            base = 10;
            /* base 0: no leading zeros except for zero itself */
            const char *q = p;
            while (q < e && (*q == '0' || *q == '_'))
                q++;
            if (q < e && p < e && *p == '0')
                goto bad;
        }
    }
    char *digits = xmalloc((size_t)(e - p) + 1);
    size_t nd = 0;
    bool last_us = true;
    for (const char *q = p; q < e; q++) {
        if (*q == '_') {
            if (last_us) { free(digits); goto bad; }
            last_us = true;
            continue;
        }
        if (digit_value(*q) >= base) { free(digits); goto bad; }
        digits[nd++] = *q;
        last_us = false;
    }
    if (nd == 0 || last_us) { free(digits); goto bad; }
    digits[nd] = '\0';
    if (nd > 4300 && base == 10) {
        free(digits);
        return tx_raise(c, "ValueError", "Exceeds the limit (4300 digits) for integer string "
                        "conversion: value has %zu digits", nd);
    }
    mpz_t z;
    mpz_init(z);
    mpz_set_str(z, digits, base);
    free(digits);
    if (neg)
        mpz_neg(z, z);
    int rc = tx_check_int_size(c, z);
    if (!rc)
        *out = tx_int_mpz(z);
    mpz_clear(z);
    return rc;
bad:;
    struct tx_value *sv = tx_str(s0, n0);
    char *r = tx_repr_of(sv, NULL);
    tx_unref(sv);
    rc = tx_raise(c, "ValueError", "invalid literal for int() with base %d: %.300s", base,
                  r ? r : "?");
    free(r);
    return rc;
}

int tx_parse_float_text(struct tx_ctx *c, const char *s0, size_t n0, double *out)
{
    const char *s = s0;
    size_t n = n0;
    strip_ws(&s, &n);
    char *t = xmalloc(n + 1);
    size_t k = 0;
    bool ok = n > 0;
    /* Underscores only between digits. */
    for (size_t i = 0; i < n && ok; i++) {
        char ch = s[i];
        if (ch == '_') {
            ok = i > 0 && i + 1 < n && s[i - 1] >= '0' && s[i - 1] <= '9' && s[i + 1] >= '0' &&
                 s[i + 1] <= '9';
            continue;
        }
        if ((unsigned char)ch >= 0x80)
            ok = false;
        t[k++] = ch;
    }
    t[k] = '\0';
    if (ok) {
        const char *p = t;
        if (*p == '+' || *p == '-')
            p++;
        bool word = !strcasecmp(p, "inf") || !strcasecmp(p, "infinity") || !strcasecmp(p, "nan");
        if (!word) {
            /* digits [. digits] [e [+-] digits], at least one digit in the mantissa */
            const char *q = p;
            int md = 0;
            while (*q >= '0' && *q <= '9') { q++; md++; }
            if (*q == '.') { q++; while (*q >= '0' && *q <= '9') { q++; md++; } }
            if (md == 0) ok = false;
            if (ok && (*q == 'e' || *q == 'E')) {
                q++;
                if (*q == '+' || *q == '-') q++;
                int ed = 0;
                while (*q >= '0' && *q <= '9') { q++; ed++; }
                if (!ed) ok = false;
            }
            if (*q) ok = false;
        }
    }
    if (ok) {
        *out = strtod(t, NULL);
        free(t);
        return IV_OK;
    }
    free(t);
    struct tx_value *sv = tx_str(s0, n0);
    char *r = tx_repr_of(sv, NULL);
    tx_unref(sv);
    int rc = tx_raise(c, "ValueError", "could not convert string to float: %.300s",
                      r ? r : "?");
    free(r);
    return rc;
}
