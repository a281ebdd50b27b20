/*
 * eval.c: the tree walker (see tx_int.h): names, literals, operators with Python's
 * semantics and error cases, comparison chains, and/or returning operands, conditional
 * expressions, indexing and slicing by code point with negative indices and steps,
 * f-strings, and the limits. Every node costs one step; builtins add steps for the
 * items they walk, so work is bounded by max_steps and memory by max_str_bytes.
 */
#include "transform/tx_int.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int tx_raise(struct tx_ctx *c, const char *kind, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err->msg, sizeof c->err->msg, fmt, ap);
    va_end(ap);
    snprintf(c->err->kind, sizeof c->err->kind, "%s", kind);
    c->err->column = 0;
    return IV_EINVAL;
}

int tx_step(struct tx_ctx *c, int64_t n)
{
    c->steps += n;
    if (c->steps > c->lim.max_steps)
        return tx_raise(c, "LimitError", "evaluation exceeded %lld steps",
                        (long long)c->lim.max_steps);
    return IV_OK;
}

static int check_size(struct tx_ctx *c, size_t n)
{
    if (n > c->lim.max_str_bytes)
        return tx_raise(c, "LimitError", "result larger than %zu bytes", c->lim.max_str_bytes);
    return IV_OK;
}

/* ---- sequences ----------------------------------------------------------------------- */

static int concat(struct tx_ctx *c, struct tx_value *a, struct tx_value *b,
                  struct tx_value **out)
{
    if (a->kind == TX_STR) {
        size_t n = a->u.s.n + b->u.s.n;
        if (check_size(c, n))
            return IV_EINVAL;
        char *p = xmalloc(n + 1);
        memcpy(p, a->u.s.p, a->u.s.n);
        memcpy(p + a->u.s.n, b->u.s.p, b->u.s.n);
        p[n] = '\0';
        *out = tx_str_take(p, n);
        return IV_OK;
    }
    size_t n = a->u.seq.n + b->u.seq.n;
    if (check_size(c, n * 8) || tx_step(c, (int64_t)n))
        return IV_EINVAL;
    struct tx_value *r = tx_seq_new(a->kind, n);
    for (size_t i = 0; i < a->u.seq.n; i++)
        r->u.seq.items[i] = tx_ref(a->u.seq.items[i]);
    for (size_t i = 0; i < b->u.seq.n; i++)
        r->u.seq.items[a->u.seq.n + i] = tx_ref(b->u.seq.items[i]);
    *out = r;
    return IV_OK;
}

static int repeat(struct tx_ctx *c, struct tx_value *s, const struct tx_value *k,
                  struct tx_value **out)
{
    int64_t times;
    if (!tx_get_int64(k, &times))
        times = mpz_sgn(k->u.z) > 0 ? INT64_MAX : 0;
    if (times < 0)
        times = 0;
    size_t unit = s->kind == TX_STR ? s->u.s.n : s->u.seq.n * 8;
    if (unit && (uint64_t)times > c->lim.max_str_bytes / unit)
        return tx_raise(c, "LimitError", "result larger than %zu bytes", c->lim.max_str_bytes);
    if (!unit)
        times = times ? 1 : 0;
    if (s->kind == TX_STR) {
        size_t n = s->u.s.n * (size_t)times;
        char *p = xmalloc(n + 1);
        for (int64_t i = 0; i < times; i++)
            memcpy(p + (size_t)i * s->u.s.n, s->u.s.p, s->u.s.n);
        p[n] = '\0';
        *out = tx_str_take(p, n);
        return IV_OK;
    }
    size_t n = s->u.seq.n * (size_t)times;
    if (tx_step(c, (int64_t)n))
        return IV_EINVAL;
    struct tx_value *r = tx_seq_new(s->kind, n);
    for (size_t i = 0; i < n; i++)
        r->u.seq.items[i] = tx_ref(s->u.seq.items[i % s->u.seq.n]);
    *out = r;
    return IV_OK;
}

static const char *op_text(int op)
{
    switch (op) {
    case 'F': return "//";
    case 'P': return "** or pow()";
    case 'L': return "<<";
    case 'R': return ">>";
    case '+': return "+";
    case '-': return "-";
    case '*': return "*";
    case '/': return "/";
    case '%': return "%";
    case '&': return "&";
    case '|': return "|";
    case '^': return "^";
    }
    return "?";
}

static bool is_intlike(const struct tx_value *v) { return v->kind == TX_INT || v->kind == TX_BOOL; }
static bool is_seq(const struct tx_value *v)
{
    return v->kind == TX_STR || v->kind == TX_LIST || v->kind == TX_TUPLE;
}

int tx_binary(struct tx_ctx *c, int op, struct tx_value *a, struct tx_value *b,
              struct tx_value **out)
{
    if (tx_is_number(a) && tx_is_number(b))
        return tx_arith(c, op, a, b, out);
    if (op == '+' && a->kind == b->kind && is_seq(a))
        return concat(c, a, b, out);
    if (op == '*' && is_seq(a) && is_intlike(b))
        return repeat(c, a, b, out);
    if (op == '*' && is_intlike(a) && is_seq(b))
        return repeat(c, b, a, out);
    if (op == '%' && a->kind == TX_STR)
        return tx_raise(c, "NotSupported", "printf-style '%%' formatting is not supported; "
                        "use an f-string");
    if (op == '+' && a->kind == TX_STR)
        return tx_raise(c, "TypeError", "can only concatenate str (not \"%s\") to str",
                        tx_type_name(b));
    if (op == '+' && (a->kind == TX_LIST || a->kind == TX_TUPLE))
        return tx_raise(c, "TypeError", "can only concatenate %s (not \"%s\") to %s",
                        tx_type_name(a), tx_type_name(b), tx_type_name(a));
    if (op == '*' && (is_seq(a) || is_seq(b)))
        return tx_raise(c, "TypeError", "can't multiply sequence by non-int of type '%s'",
                        tx_type_name(is_seq(a) ? b : a));
    return tx_raise(c, "TypeError", "unsupported operand type(s) for %s: '%s' and '%s'",
                    op_text(op), tx_type_name(a), tx_type_name(b));
}

static int unary(struct tx_ctx *c, int op, struct tx_value *x, struct tx_value **out)
{
    if (x->kind == TX_FLOAT && op != '~') {
        *out = tx_float(op == '-' ? -x->u.f : x->u.f);
        return IV_OK;
    }
    int64_t i;
    if (tx_small(x, &i) && i != INT64_MIN) {   /* -i and ~i (= -i - 1) fit in int64 */
        *out = tx_int64(op == '-' ? -i : op == '~' ? ~i : i);
        return IV_OK;
    }
    if (is_intlike(x)) {
        mpz_t z;
        mpz_init(z);
        if (x->kind == TX_BOOL)
            mpz_set_ui(z, x->u.b);
        else
            mpz_set(z, x->u.z);
        if (op == '-')
            mpz_neg(z, z);
        else if (op == '~')
            mpz_com(z, z);
        *out = tx_int_mpz(z);
        mpz_clear(z);
        return IV_OK;
    }
    return tx_raise(c, "TypeError", "bad operand type for unary %c: '%s'", op,
                    tx_type_name(x));
}

/* ---- indexing ---------------------------------------------------------------------------- */

/* A char of a str as a new one-char str. */
static struct tx_value *str_char(const struct tx_value *s, size_t i)
{
    size_t a = tx_str_offset(s, i), b = tx_str_offset(s, i + 1);
    return tx_str(s->u.s.p + a, b - a);
}

static int seq_index(struct tx_ctx *c, const struct tx_value *obj, const struct tx_value *key,
                     size_t len, size_t *out)
{
    int64_t i;
    if (!tx_get_int64(key, &i))
        i = mpz_sgn(key->u.z) > 0 ? INT64_MAX : INT64_MIN;
    if (i < 0 && i != INT64_MIN)
        i += (int64_t)len;
    if (i < 0 || (uint64_t)i >= len)
        return tx_raise(c, "IndexError", "%s index out of range",
                        obj->kind == TX_STR ? "string" : tx_type_name(obj));
    *out = (size_t)i;
    return IV_OK;
}

int tx_getitem(struct tx_ctx *c, struct tx_value *obj, struct tx_value *key,
               struct tx_value **out)
{
    size_t i;
    switch (obj->kind) {
    case TX_DICT: {
        if (!tx_hashable(key))
            return tx_raise(c, "TypeError", "unhashable type: '%s'", tx_type_name(key));
        struct tx_value *v = tx_dict_lookup(obj, key);
        if (!v) {
            char *r = tx_repr_of(key, NULL);
            int rc = tx_raise(c, "KeyError", "%.200s", r ? r : "?");
            free(r);
            return rc;
        }
        *out = tx_ref(v);
        return IV_OK;
    }
    case TX_STR:
        if (!is_intlike(key))
            return tx_raise(c, "TypeError", "string indices must be integers, not '%s'",
                            tx_type_name(key));
        if (seq_index(c, obj, key, obj->u.s.nchars, &i))
            return IV_EINVAL;
        *out = str_char(obj, i);
        return IV_OK;
    case TX_LIST:
    case TX_TUPLE:
        if (!is_intlike(key))
            return tx_raise(c, "TypeError", "%s indices must be integers or slices, not %s",
                            tx_type_name(obj), tx_type_name(key));
        if (seq_index(c, obj, key, obj->u.seq.n, &i))
            return IV_EINVAL;
        *out = tx_ref(obj->u.seq.items[i]);
        return IV_OK;
    default:
        return tx_raise(c, "TypeError", "'%s' object is not subscriptable", tx_type_name(obj));
    }
}

/* A slice bound: None -> dflt (*none = true), else an int clamped to int64. */
static int slice_bound(struct tx_ctx *c, const struct tx_value *v, int64_t *out, bool *none)
{
    *none = !v || v->kind == TX_NONE;
    if (*none)
        return IV_OK;
    if (!is_intlike(v))
        return tx_raise(c, "TypeError", "slice indices must be integers or None or have an "
                        "__index__ method");
    if (!tx_get_int64(v, out))
        *out = mpz_sgn(v->u.z) > 0 ? INT64_MAX / 2 : INT64_MIN / 2;
    return IV_OK;
}

/* CPython's PySlice_AdjustIndices: start, stop, step -> count. */
static int64_t adjust_slice(int64_t len, int64_t *start, bool sn, int64_t *stop, bool en,
                            int64_t step)
{
    if (sn)
        *start = step < 0 ? len - 1 : 0;
    else if (*start < 0) {
        *start += len;
        if (*start < 0)
            *start = step < 0 ? -1 : 0;
    } else if (*start >= len) {
        *start = step < 0 ? len - 1 : len;
    }
    if (en)
        *stop = step < 0 ? -1 : len;
    else if (*stop < 0) {
        *stop += len;
        if (*stop < 0)
            *stop = step < 0 ? -1 : 0;
    } else if (*stop >= len) {
        *stop = step < 0 ? len - 1 : len;
    }
    if (step < 0)
        return *stop < *start ? (*start - *stop - 1) / (-step) + 1 : 0;
    return *start < *stop ? (*stop - *start - 1) / step + 1 : 0;
}

static int slice(struct tx_ctx *c, struct tx_value *obj, struct tx_value *lo,
                 struct tx_value *hi, struct tx_value *st, struct tx_value **out)
{
    if (obj->kind == TX_DICT)
        return tx_raise(c, "TypeError", "unhashable type: 'slice'");
    if (!is_seq(obj))
        return tx_raise(c, "TypeError", "'%s' object is not subscriptable", tx_type_name(obj));
    int64_t start = 0, stop = 0, step = 1;
    bool sn, en, stn;
    if (slice_bound(c, lo, &start, &sn) || slice_bound(c, hi, &stop, &en) ||
        slice_bound(c, st, &step, &stn))
        return IV_EINVAL;
    if (stn)
        step = 1;
    if (step == 0)
        return tx_raise(c, "ValueError", "slice step cannot be zero");
    int64_t len = (int64_t)(obj->kind == TX_STR ? obj->u.s.nchars : obj->u.seq.n);
    int64_t n = adjust_slice(len, &start, sn, &stop, en, step);
    if (tx_step(c, n))
        return IV_EINVAL;
    if (obj->kind != TX_STR) {
        struct tx_value *r = tx_seq_new(obj->kind, (size_t)n);
        for (int64_t k = 0; k < n; k++)
            r->u.seq.items[k] = tx_ref(obj->u.seq.items[start + k * step]);
        *out = r;
        return IV_OK;
    }
    struct buf b;
    buf_init(&b, SIZE_MAX);
    bool ascii = obj->u.s.nchars == obj->u.s.n;
    size_t *offs = NULL;
    if (!ascii) {
        offs = xmalloc(sizeof(size_t) * ((size_t)len + 1));
        for (int64_t k = 0; k <= len; k++)
            offs[k] = k == 0 ? 0 : tx_str_offset(obj, (size_t)k);
    }
    for (int64_t k = 0; k < n; k++) {
        int64_t i = start + k * step;
        if (ascii)
            buf_putc(&b, obj->u.s.p[i]);
        else
            buf_append(&b, obj->u.s.p + offs[i], offs[i + 1] - offs[i]);
    }
    free(offs);
    buf_putc(&b, '\0');
    size_t bl;
    char *p = buf_detach(&b, &bl);
    *out = tx_str_take(p, bl - 1);
    return IV_OK;
}

/* ---- comparison ---------------------------------------------------------------------------- */

static int contains(struct tx_ctx *c, struct tx_value *item, struct tx_value *cont)
{
    switch (cont->kind) {
    case TX_STR:
        if (item->kind != TX_STR)
            return tx_raise(c, "TypeError", "'in <string>' requires string as left operand, "
                            "not %s", tx_type_name(item)), -1;
        return item->u.s.n == 0 ||
               memmem(cont->u.s.p, cont->u.s.n, item->u.s.p, item->u.s.n) != NULL;
    case TX_LIST:
    case TX_TUPLE:
        if (tx_step(c, (int64_t)cont->u.seq.n))
            return -1;
        for (size_t i = 0; i < cont->u.seq.n; i++)
            if (cont->u.seq.items[i] == item || tx_equal(cont->u.seq.items[i], item))
                return 1;
        return 0;
    case TX_DICT:
        if (!tx_hashable(item))
            return tx_raise(c, "TypeError", "unhashable type: '%s'", tx_type_name(item)), -1;
        return tx_dict_lookup(cont, item) != NULL;
    default:
        return tx_raise(c, "TypeError", "argument of type '%s' is not iterable",
                        tx_type_name(cont)), -1;
    }
}

/* 1 true, 0 false, -1 error. */
static int compare(struct tx_ctx *c, int op, struct tx_value *a, struct tx_value *b)
{
    int r;
    switch (op) {
    case C_EQ: return tx_equal(a, b);
    case C_NE: return !tx_equal(a, b);
    case C_LT: return tx_less(c, a, b);
    case C_GT: return tx_less(c, b, a);
    case C_LE:
        r = tx_less(c, a, b);
        return r != 0 ? r : tx_equal(a, b);
    case C_GE:
        r = tx_less(c, b, a);
        return r != 0 ? r : tx_equal(a, b);
    case C_IN: return contains(c, a, b);
    case C_NOT_IN:
        r = contains(c, a, b);
        return r < 0 ? r : !r;
    }
    return -1;
}

/* ---- the walker ------------------------------------------------------------------------------ */

static int eval_kids(struct tx_ctx *c, const struct tx_node *n, int from, int count,
                     struct tx_value **vals)
{
    for (int i = 0; i < count; i++) {
        if (tx_eval_node(c, n->kids[from + i], &vals[i])) {
            for (int k = 0; k < i; k++)
                tx_unref(vals[k]);
            return IV_EINVAL;
        }
    }
    return IV_OK;
}

static void unref_all(struct tx_value **v, int n)
{
    for (int i = 0; i < n; i++)
        tx_unref(v[i]);
}

static int eval_call(struct tx_ctx *c, const struct tx_node *n, struct tx_value **out)
{
    bool method = n->k == N_METHOD;
    int first = method ? 1 : 0;
    int nall = n->nkids - first;
    int npos = nall - n->nkw;
    struct tx_value *self = NULL;
    if (method && tx_eval_node(c, n->kids[0], &self))
        return IV_EINVAL;
    struct tx_value *on_stack[8];   /* the usual call: no allocation for its arguments */
    struct tx_value **vals = nall < 8 ? on_stack : xcalloc((size_t)nall + 1, sizeof *vals);
    memset(vals, 0, sizeof *vals * ((size_t)nall + 1));
    int rc = eval_kids(c, n, first, nall, vals);
    if (rc == IV_OK) {
        if (method)
            rc = tx_call_method(c, self, (enum tx_fn)n->fn, n->name, vals, npos, n->kwnames,
                                vals + npos, n->nkw, out);
        else
            rc = tx_call_builtin(c, (enum tx_fn)n->fn, n->name, vals, npos, n->kwnames,
                                 vals + npos, n->nkw, out);
        unref_all(vals, nall);
    }
    if (vals != on_stack)
        free(vals);
    tx_unref(self);
    return rc;
}

static int eval_fstring(struct tx_ctx *c, const struct tx_node *n, struct tx_value **out)
{
    struct buf b;
    buf_init(&b, c->lim.max_str_bytes);
    int rc = IV_OK;
    for (int i = 0; i < n->nkids && !rc; i++) {
        const struct tx_node *part = n->kids[i];
        if (part->k == N_CONST) {
            if (buf_append(&b, part->cval->u.s.p, part->cval->u.s.n))
                rc = check_size(c, SIZE_MAX);
            continue;
        }
        struct tx_value *v = NULL, *spec = NULL;
        if (tx_eval_node(c, part->kids[0], &v)) {
            rc = IV_EINVAL;
            break;
        }
        /* a constant spec (`{value:07d}`) is used as it is: no str built per evaluation
         * (evaluating it counted no step either: constant parts are not nodes evaluated) */
        const struct tx_node *spec_node = part->nkids > 1 ? part->kids[1] : NULL;
        const struct tx_value *const_spec =
            spec_node && spec_node->nkids == 1 && spec_node->kids[0]->k == N_CONST
                ? spec_node->kids[0]->cval : NULL;
        if (spec_node && !const_spec && eval_fstring(c, spec_node, &spec)) {
            tx_unref(v);
            rc = IV_EINVAL;
            break;
        }
        if (part->op) {
            /* !s / !r / !a convert first, then the spec applies to the str */
            char *t = part->op == 's' ? tx_str_of(v, NULL) : tx_repr_of(v, NULL);
            tx_unref(v);
            if (!t) {
                tx_unref(spec);
                rc = check_size(c, SIZE_MAX);
                break;
            }
            if (part->op == 'a') {
                struct buf ab;
                buf_init(&ab, SIZE_MAX);
                for (const unsigned char *q = (const unsigned char *)t; *q;) {
                    if (*q < 0x80) {
                        buf_putc(&ab, (char)*q++);
                        continue;
                    }
                    uint32_t cp;
                    int k = 1;
                    if ((*q & 0xe0) == 0xc0) { cp = *q & 0x1fu; k = 2; }
                    else if ((*q & 0xf0) == 0xe0) { cp = *q & 0x0fu; k = 3; }
                    else { cp = *q & 0x07u; k = 4; }
                    for (int j = 1; j < k; j++)
                        cp = (cp << 6) | (q[j] & 0x3fu);
                    q += k;
                    if (cp <= 0xff) buf_printf(&ab, "\\x%02x", cp);
                    else if (cp <= 0xffff) buf_printf(&ab, "\\u%04x", cp);
                    else buf_printf(&ab, "\\U%08x", cp);
                }
                free(t);
                buf_putc(&ab, '\0');
                t = buf_detach(&ab, NULL);
            }
            v = tx_str_take(t, strlen(t));
        }
        const struct tx_value *use = const_spec ? const_spec : spec;
        rc = tx_format(c, v, use ? use->u.s.p : "", use ? use->u.s.n : 0, &b);
        tx_unref(v);
        tx_unref(spec);
    }
    if (rc) {
        buf_release(&b);
        return IV_EINVAL;
    }
    buf_putc(&b, '\0');
    size_t len = 0;
    char *p = buf_detach(&b, &len);
    if (!p)
        return check_size(c, SIZE_MAX);
    *out = tx_str_take(p, len - 1);
    return IV_OK;
}

static int eval_compare(struct tx_ctx *c, const struct tx_node *n, struct tx_value **out)
{
    struct tx_value *left = NULL;
    if (tx_eval_node(c, n->kids[0], &left))
        return IV_EINVAL;
    for (int i = 1; i < n->nkids; i++) {
        struct tx_value *right = NULL;
        if (tx_eval_node(c, n->kids[i], &right)) {
            tx_unref(left);
            return IV_EINVAL;
        }
        int r = compare(c, n->cmps[i - 1], left, right);
        tx_unref(left);
        left = right;
        if (r < 0) {
            tx_unref(left);
            return IV_EINVAL;
        }
        if (!r) {
            tx_unref(left);
            *out = tx_bool(false);
            return IV_OK;
        }
    }
    tx_unref(left);
    *out = tx_bool(true);
    return IV_OK;
}

static int eval_collection(struct tx_ctx *c, const struct tx_node *n, struct tx_value **out)
{
    struct tx_value **vals = xcalloc((size_t)n->nkids + 1, sizeof *vals);
    if (eval_kids(c, n, 0, n->nkids, vals)) {
        free(vals);
        return IV_EINVAL;
    }
    if (n->k != N_DICT) {
        struct tx_value *r = tx_seq_new(n->k == N_LIST ? TX_LIST : TX_TUPLE, (size_t)n->nkids);
        memcpy(r->u.seq.items, vals, sizeof *vals * (size_t)n->nkids);
        free(vals);
        *out = r;
        return IV_OK;
    }
    struct tx_value *d = tx_dict_new();
    for (int i = 0; i < n->nkids; i += 2) {
        if (!tx_hashable(vals[i])) {
            tx_raise(c, "TypeError", "unhashable type: '%s'", tx_type_name(vals[i]));
            unref_all(vals + i, n->nkids - i);
            tx_unref(d);
            free(vals);
            return IV_EINVAL;
        }
        tx_dict_set(d, vals[i], vals[i + 1]);
    }
    free(vals);
    *out = d;
    return IV_OK;
}

int tx_eval_node(struct tx_ctx *c, const struct tx_node *n, struct tx_value **out)
{
    if (tx_step(c, 1))
        return IV_EINVAL;
    struct tx_value *a = NULL, *b = NULL, *v[3] = {NULL, NULL, NULL};
    int rc = IV_OK;
    switch (n->k) {
    case N_CONST:
        *out = tx_ref(n->cval);
        return IV_OK;
    case N_NAME: {
        struct tx_value *x = n->fn == TX_SLOT_ROW ? c->row : c->value;
        *out = x ? tx_ref(x) : tx_none();
        return IV_OK;
    }
    case N_LIST:
    case N_TUPLE:
    case N_DICT:
        return eval_collection(c, n, out);
    case N_UNARY:
        if (tx_eval_node(c, n->kids[0], &a))
            return IV_EINVAL;
        rc = unary(c, n->op, a, out);
        tx_unref(a);
        return rc;
    case N_BINOP:
        if (tx_eval_node(c, n->kids[0], &a))
            return IV_EINVAL;
        if (tx_eval_node(c, n->kids[1], &b)) {
            tx_unref(a);
            return IV_EINVAL;
        }
        rc = tx_binary(c, n->op, a, b, out);
        tx_unref(a);
        tx_unref(b);
        return rc;
    case N_AND:
    case N_OR:
        for (int i = 0; i < n->nkids; i++) {
            if (tx_eval_node(c, n->kids[i], &a))
                return IV_EINVAL;
            bool t = tx_truthy(a);
            if (i == n->nkids - 1 || (n->k == N_AND ? !t : t)) {
                *out = a;
                return IV_OK;
            }
            tx_unref(a);
        }
        return IV_EINVAL;
    case N_NOT:
        if (tx_eval_node(c, n->kids[0], &a))
            return IV_EINVAL;
        *out = tx_bool(!tx_truthy(a));
        tx_unref(a);
        return IV_OK;
    case N_COMPARE:
        return eval_compare(c, n, out);
    case N_IFEXP:
        if (tx_eval_node(c, n->kids[1], &a))
            return IV_EINVAL;
        rc = tx_eval_node(c, n->kids[tx_truthy(a) ? 0 : 2], out);
        tx_unref(a);
        return rc;
    case N_CALL:
    case N_METHOD:
        return eval_call(c, n, out);
    case N_INDEX:
        if (tx_eval_node(c, n->kids[0], &a))
            return IV_EINVAL;
        if (tx_eval_node(c, n->kids[1], &b)) {
            tx_unref(a);
            return IV_EINVAL;
        }
        rc = tx_getitem(c, a, b, out);
        tx_unref(a);
        tx_unref(b);
        return rc;
    case N_SLICE:
        if (tx_eval_node(c, n->kids[0], &a))
            return IV_EINVAL;
        for (int i = 0; i < 3 && !rc; i++)
            if (n->kids[i + 1])
                rc = tx_eval_node(c, n->kids[i + 1], &v[i]);
        if (!rc)
            rc = slice(c, a, v[0], v[1], v[2], out);
        tx_unref(a);
        unref_all(v, 3);
        return rc;
    case N_FSTRING:
        return eval_fstring(c, n, out);
    case N_FORMATTED:
        break;
    }
    return tx_raise(c, "SystemError", "unexpected node");
}

/* ---- public entry points ---------------------------------------------------------------------- */

static void limits_or_defaults(const struct tx_limits *in, struct tx_limits *out)
{
    struct tx_limits d = {.max_steps = 100000, .max_str_bytes = 1u << 20,
                          .max_int_bits = 16384, .max_depth = 64};
    if (in) {
        if (in->max_steps > 0) d.max_steps = in->max_steps;
        if (in->max_str_bytes > 0) d.max_str_bytes = in->max_str_bytes;
        if (in->max_int_bits > 0) d.max_int_bits = in->max_int_bits;
        if (in->max_depth > 0) d.max_depth = in->max_depth;
    }
    *out = d;
}

int tx_compile(const char *src, size_t len, struct tx_expr **out, struct tx_error *err)
{
    struct tx_limits lim;
    limits_or_defaults(NULL, &lim);
    memset(err, 0, sizeof *err);
    struct tx_node *root = NULL;
    if (len > 64 * 1024) {
        snprintf(err->kind, sizeof err->kind, "SyntaxError");
        snprintf(err->msg, sizeof err->msg, "expression longer than 65536 bytes");
        err->column = 1;
        return IV_EINVAL;
    }
    if (tx_parse(src, len, 0, lim.max_depth, &root, err))
        return IV_EINVAL;
    *out = xcalloc(1, sizeof **out);
    (*out)->root = root;
    return IV_OK;
}

void tx_expr_free(struct tx_expr *x)
{
    if (!x)
        return;
    tx_node_free(x->root);
    free(x);
}

int tx_eval(const struct tx_expr *x, struct tx_value *value, struct tx_value *row,
            const struct tx_limits *limits, struct tx_value **out, struct tx_error *err)
{
    struct tx_ctx c = {.err = err, .value = value, .row = row};
    limits_or_defaults(limits, &c.lim);
    err->column = 0;          /* no full memset: this runs once per mapped cell */
    err->kind[0] = err->msg[0] = '\0';
    *out = NULL;
    return tx_eval_node(&c, x->root, out);
}

static bool node_reads(const struct tx_node *n, const char *name)
{
    if (!n)
        return false;
    if (n->k == N_NAME && n->name && !strcmp(n->name, name))
        return true;
    for (int i = 0; i < n->nkids; i++)
        if (node_reads(n->kids[i], name))
            return true;
    return false;
}

bool tx_expr_reads(const struct tx_expr *x, const char *name)
{
    return x && node_reads(x->root, name);
}
