/*
 * parse.c: the lexer and recursive-descent parser of the expression language (see
 * tx_int.h). Python's expression grammar, restricted to the documented subset; anything
 * outside it (lambda, comprehensions, walrus, starred arguments, attribute access other
 * than an allow-listed method call, dunder names, unknown names, bytes) is a SyntaxError
 * naming the construct and its column, so an expression is rejected when it is saved, not
 * when the first row arrives. Nesting deeper than the limit is an error, never a stack
 * overflow. f-strings are split here into literal parts and parsed sub-expressions.
 */
#include "transform/tx_int.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistr.h>

enum tok_kind { T_END, T_NUM, T_STR, T_NAME, T_OP };

struct tok {
    enum tok_kind k;
    const char *p;               /* source text of the token */
    size_t n;
    int col;
    struct tx_value *num;        /* T_NUM (owned by the token until taken) */
    bool fstr, raw;              /* T_STR */
    const char *body;            /* T_STR: between the quotes */
    size_t body_n;
};

struct parser {
    const char *src;
    size_t len, pos;
    int col0;
    int depth, max_depth;
    struct tok t;                /* current token */
    struct tx_error *err;
    bool failed;
};

static int fail(struct parser *ps, int col, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(struct parser *ps, int col, const char *fmt, ...)
{
    if (!ps->failed) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(ps->err->msg, sizeof ps->err->msg, fmt, ap);
        va_end(ap);
        snprintf(ps->err->kind, sizeof ps->err->kind, "SyntaxError");
        ps->err->column = col;
    }
    ps->failed = true;
    return IV_EINVAL;
}

void tx_node_free(struct tx_node *n)
{
    if (!n)
        return;
    for (int i = 0; i < n->nkids; i++)
        tx_node_free(n->kids[i]);
    free(n->kids);
    for (int i = 0; i < n->nkw; i++)
        free(n->kwnames[i]);
    free(n->kwnames);
    free(n->cmps);
    free(n->name);
    tx_unref(n->cval);
    free(n);
}

static struct tx_node *node(enum tx_node_kind k, int col)
{
    struct tx_node *n = xcalloc(1, sizeof *n);
    n->k = k;
    n->col = col;
    return n;
}

static void add_kid(struct tx_node *n, struct tx_node *kid)
{
    n->kids = xrealloc(n->kids, sizeof *n->kids * (size_t)(n->nkids + 1));
    n->kids[n->nkids++] = kid;
}

/* ---- lexer ------------------------------------------------------------------------------ */

static int col_at(struct parser *ps, size_t pos) { return ps->col0 + (int)pos + 1; }

static bool is_name_start(unsigned char ch) { return isalpha(ch) || ch == '_' || ch >= 0x80; }
static bool is_name_char(unsigned char ch) { return isalnum(ch) || ch == '_' || ch >= 0x80; }

static int lex_number(struct parser *ps, size_t start)
{
    const char *s = ps->src;
    size_t i = start, n = ps->len;
    bool is_float = false;
    int base = 10;
    if (s[i] == '0' && i + 1 < n && strchr("xXoObB", s[i + 1]) && s[i + 1]) {
        base = strchr("xX", s[i + 1]) ? 16 : strchr("oO", s[i + 1]) ? 8 : 2;
        i += 2;
        while (i < n && (isalnum((unsigned char)s[i]) || s[i] == '_'))
            i++;
    } else {
        while (i < n && (isdigit((unsigned char)s[i]) || s[i] == '_'))
            i++;
        if (i < n && s[i] == '.') {
            is_float = true;
            i++;
            while (i < n && (isdigit((unsigned char)s[i]) || s[i] == '_'))
                i++;
        }
        if (i < n && (s[i] == 'e' || s[i] == 'E')) {
            size_t j = i + 1;
            if (j < n && (s[j] == '+' || s[j] == '-'))
                j++;
            if (j < n && isdigit((unsigned char)s[j])) {
                is_float = true;
                i = j;
                while (i < n && (isdigit((unsigned char)s[i]) || s[i] == '_'))
                    i++;
            }
        }
    }
    if (i < n && (s[i] == 'j' || s[i] == 'J'))
        return fail(ps, col_at(ps, start), "complex numbers are not supported");
    if (i < n && is_name_char((unsigned char)s[i]))
        return fail(ps, col_at(ps, i), "invalid syntax in a number literal");
    ps->t.k = T_NUM;
    ps->t.p = s + start;
    ps->t.n = i - start;
    /* Validate underscores: only single ones between digits. */
    for (size_t k = start; k < i; k++)
        if (s[k] == '_' && (k + 1 >= i || s[k + 1] == '_' || !isalnum((unsigned char)s[k + 1]) ||
                            k == start))
            return fail(ps, col_at(ps, k), "invalid number literal");
    struct tx_ctx c = {.lim = {.max_int_bits = 1u << 20}, .err = ps->err};
    if (is_float) {
        double d;
        if (tx_parse_float_text(&c, s + start, i - start, &d) != IV_OK)
            return fail(ps, col_at(ps, start), "invalid float literal");
        ps->t.num = tx_float(d);
    } else {
        if (base == 10 && s[start] == '0') {
            for (size_t k = start; k < i; k++)
                if (s[k] != '0' && s[k] != '_')
                    return fail(ps, col_at(ps, start), "leading zeros in decimal integer "
                                "literals are not permitted; use an 0o prefix for octal "
                                "integers");
        }
        if (tx_parse_int_text(&c, s + start, i - start, base == 10 ? 10 : 0, &ps->t.num) !=
            IV_OK)
            return fail(ps, col_at(ps, start), "invalid integer literal");
    }
    ps->pos = i;
    return IV_OK;
}

static int lex_string(struct parser *ps, size_t start, size_t qpos)
{
    bool fstr = false, raw = false;
    for (size_t k = start; k < qpos; k++) {
        char ch = (char)tolower((unsigned char)ps->src[k]);
        if (ch == 'b')
            return fail(ps, col_at(ps, start), "bytes literals are not supported");
        fstr |= ch == 'f';
        raw |= ch == 'r';
    }
    char q = ps->src[qpos];
    bool triple = qpos + 2 < ps->len && ps->src[qpos + 1] == q && ps->src[qpos + 2] == q;
    size_t i = qpos + (triple ? 3 : 1), body = i;
    for (;;) {
        if (i >= ps->len)
            return fail(ps, col_at(ps, start), "unterminated string literal");
        char ch = ps->src[i];
        if (ch == '\\') {
            i += 2;
            continue;
        }
        if (ch == '\n' && !triple)
            return fail(ps, col_at(ps, start), "unterminated string literal");
        if (ch == q && (!triple || (i + 2 < ps->len && ps->src[i + 1] == q &&
                                    ps->src[i + 2] == q)))
            break;
        i++;
    }
    ps->t.k = T_STR;
    ps->t.fstr = fstr;
    ps->t.raw = raw;
    ps->t.body = ps->src + body;
    ps->t.body_n = i - body;
    ps->pos = i + (triple ? 3 : 1);
    ps->t.p = ps->src + start;
    ps->t.n = ps->pos - start;
    return IV_OK;
}

static int next(struct parser *ps)
{
    tx_unref(ps->t.num);
    memset(&ps->t, 0, sizeof ps->t);
    const char *s = ps->src;
    while (ps->pos < ps->len && (s[ps->pos] == ' ' || s[ps->pos] == '\t' ||
                                 s[ps->pos] == '\n' || s[ps->pos] == '\r' ||
                                 s[ps->pos] == '\f'))
        ps->pos++;
    size_t i = ps->pos;
    ps->t.col = col_at(ps, i);
    if (i >= ps->len) {
        ps->t.k = T_END;
        return IV_OK;
    }
    unsigned char ch = (unsigned char)s[i];
    if (ch == '#')
        return fail(ps, ps->t.col, "comments are not allowed in an expression");
    if (ch == '\\')
        return fail(ps, ps->t.col, "unexpected character after line continuation character");
    if (isdigit(ch) || (ch == '.' && i + 1 < ps->len && isdigit((unsigned char)s[i + 1])))
        return lex_number(ps, i);
    if (is_name_start(ch)) {
        size_t j = i;
        while (j < ps->len && is_name_char((unsigned char)s[j]))
            j++;
        if (j < ps->len && (s[j] == '\'' || s[j] == '"') && j - i <= 2) {
            bool prefix = true;
            for (size_t k = i; k < j; k++)
                prefix &= strchr("rRuUbBfF", s[k]) != NULL;
            if (prefix)
                return lex_string(ps, i, j);
        }
        for (size_t k = i; k < j; k++)
            if ((unsigned char)s[k] >= 0x80)
                return fail(ps, col_at(ps, i), "non-ASCII names are not supported");
        ps->t.k = T_NAME;
        ps->t.p = s + i;
        ps->t.n = j - i;
        ps->pos = j;
        return IV_OK;
    }
    if (ch == '\'' || ch == '"')
        return lex_string(ps, i, i);
    static const char *const ops[] = {"**", "//", "<<", ">>", "<=", ">=", "==", "!=", ":=",
                                      "->", "+", "-", "*", "/", "%", "~", "&", "|", "^", "<",
                                      ">", "(", ")", "[", "]", "{", "}", ",", ":", ".", "=",
                                      "@", ";", "!", NULL};
    for (int k = 0; ops[k]; k++) {
        size_t n = strlen(ops[k]);
        if (i + n <= ps->len && !memcmp(s + i, ops[k], n)) {
            ps->t.k = T_OP;
            ps->t.p = s + i;
            ps->t.n = n;
            ps->pos = i + n;
            return IV_OK;
        }
    }
    return fail(ps, ps->t.col, "invalid character '%c'", ch >= 0x20 && ch < 0x7f ? ch : '?');
}

static bool is_op(struct parser *ps, const char *op)
{
    return ps->t.k == T_OP && ps->t.n == strlen(op) && !memcmp(ps->t.p, op, ps->t.n);
}

static bool is_kw(struct parser *ps, const char *kw)
{
    return ps->t.k == T_NAME && ps->t.n == strlen(kw) && !memcmp(ps->t.p, kw, ps->t.n);
}

static int expect(struct parser *ps, const char *op)
{
    if (!is_op(ps, op))
        return fail(ps, ps->t.col, "expected '%s'", op);
    return next(ps);
}

/* ---- string literals -------------------------------------------------------------------- */

static int hexval(char ch)
{
    if (ch >= '0' && ch <= '9') return ch - '0';
    if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
    return -1;
}

static int put_cp(struct parser *ps, int col, uint32_t cp, struct buf *b)
{
    if (cp > 0x10ffff)
        return fail(ps, col, "illegal Unicode character");
    if (cp >= 0xd800 && cp <= 0xdfff)
        return fail(ps, col, "surrogate code points are not supported");
    uint8_t u[6];
    int k = u8_uctomb(u, cp, sizeof u);
    buf_append(b, u, (size_t)k);
    return IV_OK;
}

/* Decodes the escapes of a (non-raw) literal piece into b. */
static int decode_escapes(struct parser *ps, const char *p, size_t n, bool raw, int col,
                          struct buf *b)
{
    for (size_t i = 0; i < n; i++) {
        char ch = p[i];
        if (ch != '\\' || raw || i + 1 >= n) {
            if (ch == '\\' && raw && i + 1 < n) {
                buf_putc(b, ch);
                buf_putc(b, p[++i]);
                continue;
            }
            buf_putc(b, ch);
            continue;
        }
        char e = p[++i];
        uint32_t cp = 0;
        int want = 0;
        switch (e) {
        case '\n': break;
        case '\\': buf_putc(b, '\\'); break;
        case '\'': buf_putc(b, '\''); break;
        case '"': buf_putc(b, '"'); break;
        case 'a': buf_putc(b, '\a'); break;
        case 'b': buf_putc(b, '\b'); break;
        case 'f': buf_putc(b, '\f'); break;
        case 'n': buf_putc(b, '\n'); break;
        case 'r': buf_putc(b, '\r'); break;
        case 't': buf_putc(b, '\t'); break;
        case 'v': buf_putc(b, '\v'); break;
        case 'x': want = 2; break;
        case 'u': want = 4; break;
        case 'U': want = 8; break;
        case 'N': return fail(ps, col, "\\N{...} escapes are not supported");
        default:
            if (e >= '0' && e <= '7') {
                cp = (uint32_t)(e - '0');
                for (int k = 0; k < 2 && i + 1 < n && p[i + 1] >= '0' && p[i + 1] <= '7'; k++)
                    cp = cp * 8 + (uint32_t)(p[++i] - '0');
                if (put_cp(ps, col, cp, b))
                    return IV_EINVAL;
            } else {
                buf_putc(b, '\\');
                buf_putc(b, e);
            }
        }
        if (want) {
            for (int k = 0; k < want; k++) {
                int h = i + 1 < n ? hexval(p[i + 1]) : -1;
                if (h < 0)
                    return fail(ps, col, "truncated \\%c escape", e);
                cp = cp * 16 + (uint32_t)h;
                i++;
            }
            if (put_cp(ps, col, cp, b))
                return IV_EINVAL;
        }
    }
    return IV_OK;
}

static struct tx_node *parse_expr(struct parser *ps);

static struct tx_node *const_str_node(struct buf *b, int col)
{
    struct tx_node *n = node(N_CONST, col);
    buf_putc(b, '\0');
    size_t len;
    char *p = buf_detach(b, &len);
    if (!p) {
        p = xstrdup("");
        len = 1;
    }
    n->cval = tx_str_take(p, len - 1);
    return n;
}

/* Parses a piece of source (an f-string replacement field's expression) as a whole
 * expression. */
static struct tx_node *parse_sub(struct parser *ps, const char *p, size_t n, int col)
{
    struct parser sub = {.src = p, .len = n, .col0 = col - 1, .depth = ps->depth + 1,
                         .max_depth = ps->max_depth, .err = ps->err};
    if (sub.depth > sub.max_depth) {
        fail(ps, col, "expression nested too deeply (limit %d)", ps->max_depth);
        return NULL;
    }
    struct tx_node *r = NULL;
    if (next(&sub) == IV_OK)
        r = parse_expr(&sub);
    if (r && sub.t.k != T_END) {
        fail(&sub, sub.t.col, "invalid syntax in f-string expression");
        tx_node_free(r);
        r = NULL;
    }
    tx_unref(sub.t.num);
    if (!r)
        ps->failed = true;
    return r;
}

static int fstring_parts(struct parser *ps, const char *p, size_t n, bool raw, int col,
                         struct tx_node *out, int nest);

/* One replacement field "{expr[!c][:spec]}" starting after '{' at p[i]; returns the index
 * after its '}' or 0 on error. */
static size_t fstring_field(struct parser *ps, const char *p, size_t n, size_t i, bool raw,
                            int col, struct tx_node *out, int nest)
{
    size_t start = i;
    int depth = 0;
    char inq = 0;
    size_t expr_end = 0, conv_at = 0, spec_at = 0;
    for (; i < n; i++) {
        char ch = p[i];
        if (ch == '\\') {
            fail(ps, col, "f-string expression part cannot include a backslash");
            return 0;
        }
        if (inq) {
            if (ch == inq)
                inq = 0;
            continue;
        }
        if (ch == '\\') {
            fail(ps, col, "f-string expression part cannot include a backslash");
            return 0;
        }
        if (ch == '\'' || ch == '"') { inq = ch; continue; }
        if (ch == '(' || ch == '[' || ch == '{') { depth++; continue; }
        if ((ch == ')' || ch == ']' || ch == '}') && depth > 0) { depth--; continue; }
        if (depth == 0 && ch == '!' && i + 1 < n && p[i + 1] != '=') {
            expr_end = i;
            conv_at = i + 1;
            break;
        }
        if (depth == 0 && (ch == ':' || ch == '}')) {
            expr_end = i;
            break;
        }
        if (depth == 0 && ch == '=' && i + 1 < n && p[i + 1] != '=' &&
            (i == start || !strchr("=!<>", p[i - 1]))) {
            fail(ps, col, "the f-string '=' specifier is not supported");
            return 0;
        }
    }
    if (i >= n) {
        fail(ps, col, "f-string: expecting '}'");
        return 0;
    }
    struct tx_node *f = node(N_FORMATTED, col);
    bool blank = true;
    for (size_t k = start; k < expr_end; k++)
        blank &= isspace((unsigned char)p[k]) != 0;
    if (blank) {
        tx_node_free(f);
        fail(ps, col, "f-string: empty expression not allowed");
        return 0;
    }
    struct tx_node *x = parse_sub(ps, p + start, expr_end - start, col);
    if (!x) {
        tx_node_free(f);
        return 0;
    }
    add_kid(f, x);
    i = expr_end;
    if (conv_at) {
        if (conv_at >= n || !strchr("rsa", p[conv_at]) || conv_at + 1 >= n ||
            (p[conv_at + 1] != ':' && p[conv_at + 1] != '}')) {
            tx_node_free(f);
            fail(ps, col, "f-string: invalid conversion character: expected 's', 'r', or 'a'");
            return 0;
        }
        f->op = p[conv_at];
        i = conv_at + 1;
    }
    if (p[i] == ':') {
        spec_at = i + 1;
        int d = 0;
        for (i = spec_at; i < n; i++) {
            if (p[i] == '{') d++;
            else if (p[i] == '}') { if (d == 0) break; d--; }
        }
        if (i >= n) {
            tx_node_free(f);
            fail(ps, col, "f-string: expecting '}'");
            return 0;
        }
        if (nest >= 1) {
            tx_node_free(f);
            fail(ps, col, "f-string: expressions nested too deeply");
            return 0;
        }
        struct tx_node *spec = node(N_FSTRING, col);
        if (fstring_parts(ps, p + spec_at, i - spec_at, raw, col, spec, nest + 1)) {
            tx_node_free(spec);
            tx_node_free(f);
            return 0;
        }
        add_kid(f, spec);
    }
    if (i >= n || p[i] != '}') {
        tx_node_free(f);
        fail(ps, col, "f-string: expecting '}'");
        return 0;
    }
    add_kid(out, f);
    return i + 1;
}

static int fstring_parts(struct parser *ps, const char *p, size_t n, bool raw, int col,
                         struct tx_node *out, int nest)
{
    size_t i = 0, lit = 0;
    struct buf b;
    buf_init(&b, SIZE_MAX);
    while (i <= n) {
        bool end = i == n;
        char ch = end ? 0 : p[i];
        if (end || ch == '{' || ch == '}') {
            if (!end && i + 1 < n && p[i + 1] == ch) {
                if (decode_escapes(ps, p + lit, i - lit, raw, col, &b))
                    goto bad;
                buf_putc(&b, ch);
                i += 2;
                lit = i;
                continue;
            }
            if (decode_escapes(ps, p + lit, i - lit, raw, col, &b))
                goto bad;
            if (end)
                break;
            if (ch == '}') {
                fail(ps, col, "f-string: single '}' is not allowed");
                goto bad;
            }
            if (b.len) {
                add_kid(out, const_str_node(&b, col));
                buf_init(&b, SIZE_MAX);
            }
            size_t after = fstring_field(ps, p, n, i + 1, raw, col, out, nest);
            if (!after)
                goto bad;
            i = lit = after;
            continue;
        }
        i++;
    }
    if (b.len || out->nkids == 0)
        add_kid(out, const_str_node(&b, col));
    buf_release(&b);
    return IV_OK;
bad:
    buf_release(&b);
    return IV_EINVAL;
}

/* One or more adjacent string literals: a constant, or an f-string node. */
static struct tx_node *parse_strings(struct parser *ps)
{
    int col = ps->t.col;
    struct tx_node *f = node(N_FSTRING, col);
    bool any_f = false;
    while (ps->t.k == T_STR) {
        struct tok t = ps->t;
        any_f |= t.fstr;
        if (t.fstr) {
            if (fstring_parts(ps, t.body, t.body_n, t.raw, t.col, f, 0))
                goto bad;
        } else {
            struct buf b;
            buf_init(&b, SIZE_MAX);
            if (decode_escapes(ps, t.body, t.body_n, t.raw, t.col, &b)) {
                buf_release(&b);
                goto bad;
            }
            add_kid(f, const_str_node(&b, t.col));
        }
        if (next(ps))
            goto bad;
    }
    if (!any_f) {
        /* Plain literals: fold into one constant. */
        struct buf b;
        buf_init(&b, SIZE_MAX);
        for (int i = 0; i < f->nkids; i++)
            buf_append(&b, f->kids[i]->cval->u.s.p, f->kids[i]->cval->u.s.n);
        tx_node_free(f);
        return const_str_node(&b, col);
    }
    return f;
bad:
    tx_node_free(f);
    return NULL;
}

/* ---- grammar ---------------------------------------------------------------------------- */

static const char *const reserved[] = {
    "and", "as", "assert", "async", "await", "break", "class", "continue", "def", "del",
    "elif", "else", "except", "finally", "for", "from", "global", "if", "import", "in", "is",
    "lambda", "nonlocal", "not", "or", "pass", "raise", "return", "try", "while", "with",
    "yield", NULL};

static bool is_reserved(const char *p, size_t n)
{
    for (int i = 0; reserved[i]; i++)
        if (strlen(reserved[i]) == n && !memcmp(reserved[i], p, n))
            return true;
    return false;
}

static bool enter(struct parser *ps)
{
    if (++ps->depth > ps->max_depth) {
        fail(ps, ps->t.col, "expression nested too deeply (limit %d)", ps->max_depth);
        return false;
    }
    return true;
}

static struct tx_node *leave(struct parser *ps, struct tx_node *n)
{
    ps->depth--;
    return n;
}

/* Arguments of a call, after '(' up to and including ')'. */
static int parse_args(struct parser *ps, struct tx_node *call)
{
    while (!is_op(ps, ")")) {
        if (is_op(ps, "*") || is_op(ps, "**"))
            return fail(ps, ps->t.col, "starred arguments are not supported");
        if (ps->t.k == T_NAME && ps->pos < ps->len) {
            /* keyword argument? NAME '=' (not '==') */
            size_t j = ps->pos;
            while (j < ps->len && ps->src[j] == ' ')
                j++;
            if (j < ps->len && ps->src[j] == '=' && (j + 1 >= ps->len || ps->src[j + 1] != '=')) {
                char *kw = xstrndup(ps->t.p, ps->t.n);
                if (next(ps) || expect(ps, "=")) {
                    free(kw);
                    return IV_EINVAL;
                }
                struct tx_node *v = parse_expr(ps);
                if (!v) {
                    free(kw);
                    return IV_EINVAL;
                }
                add_kid(call, v);
                call->kwnames = xrealloc(call->kwnames, sizeof(char *) * (size_t)(call->nkw + 1));
                call->kwnames[call->nkw++] = kw;
                goto sep;
            }
        }
        if (call->nkw)
            return fail(ps, ps->t.col, "positional argument follows keyword argument");
        struct tx_node *a = parse_expr(ps);
        if (!a)
            return IV_EINVAL;
        if (is_kw(ps, "for")) {
            tx_node_free(a);
            return fail(ps, ps->t.col, "comprehensions are not supported");
        }
        add_kid(call, a);
    sep:
        if (!is_op(ps, ","))
            break;
        if (next(ps))
            return IV_EINVAL;
    }
    return expect(ps, ")");
}

/* Subscript after '[': an index, a slice or a tuple of indexes, then ']'. */
static struct tx_node *parse_subscript(struct parser *ps, struct tx_node *obj, int col)
{
    struct tx_node *parts[3] = {NULL, NULL, NULL};
    int np = 0;
    bool is_slice = false;
    for (;;) {
        if (is_op(ps, ":")) {
            is_slice = true;
            if (np >= 2) {
                fail(ps, ps->t.col, "invalid slice");
                goto bad;
            }
            np++;
            if (next(ps))
                goto bad;
            continue;
        }
        if (is_op(ps, "]") || is_op(ps, ","))
            break;
        if (parts[np]) {
            fail(ps, ps->t.col, "invalid syntax in subscript");
            goto bad;
        }
        if (!(parts[np] = parse_expr(ps)))
            goto bad;
    }
    if (is_op(ps, ",")) {
        if (!parts[0]) {
            fail(ps, ps->t.col, "invalid syntax in subscript");
            goto bad;
        }
        if (is_slice) {
            fail(ps, ps->t.col, "multi-dimensional slices are not supported");
            goto bad;
        }
        struct tx_node *tup = node(N_TUPLE, ps->t.col);
        add_kid(tup, parts[0]);
        parts[0] = NULL;
        while (is_op(ps, ",")) {
            if (next(ps))
                { tx_node_free(tup); goto bad; }
            if (is_op(ps, "]"))
                break;
            struct tx_node *x = parse_expr(ps);
            if (!x)
                { tx_node_free(tup); goto bad; }
            add_kid(tup, x);
        }
        parts[0] = tup;
    }
    if (expect(ps, "]"))
        goto bad;
    if (!is_slice && !parts[0]) {
        fail(ps, col, "invalid syntax: empty subscript");
        goto bad;
    }
    struct tx_node *n = node(is_slice ? N_SLICE : N_INDEX, col);
    add_kid(n, obj);
    add_kid(n, parts[0]);
    if (is_slice) {
        add_kid(n, parts[1]);
        add_kid(n, parts[2]);
    }
    return n;
bad:
    for (int i = 0; i < 3; i++)
        tx_node_free(parts[i]);
    tx_node_free(obj);
    return NULL;
}

static struct tx_node *parse_atom(struct parser *ps);

static struct tx_node *parse_trailers(struct parser *ps, struct tx_node *n)
{
    for (;;) {
        int col = ps->t.col;
        if (is_op(ps, "[")) {
            if (next(ps) || !enter(ps)) {
                tx_node_free(n);
                return NULL;
            }
            n = leave(ps, parse_subscript(ps, n, col));
            if (!n)
                return NULL;
        } else if (is_op(ps, ".")) {
            if (next(ps))
                goto bad;
            if (ps->t.k != T_NAME) {
                fail(ps, ps->t.col, "invalid syntax after '.'");
                goto bad;
            }
            char *name = xstrndup(ps->t.p, ps->t.n);
            int ncol = ps->t.col;
            if (next(ps)) {
                free(name);
                goto bad;
            }
            enum tx_fn fn = tx_method_id(name);
            if (!strncmp(name, "__", 2) || fn == TXF_NONE || !is_op(ps, "(")) {
                fail(ps, ncol, !strncmp(name, "__", 2) ? "dunder attributes are not allowed"
                     : fn == TXF_NONE ? "attribute or method '%s' is not allowed (see "
                     "the allow-list in docs/transforms.md)" : "attribute access is not "
                     "allowed: '%s' must be called", name);
                free(name);
                goto bad;
            }
            struct tx_node *m = node(N_METHOD, ncol);
            m->name = name;
            m->fn = fn;   /* resolved once: evaluations dispatch on the id */
            add_kid(m, n);
            n = m;
            if (next(ps) || parse_args(ps, m))
                goto bad;
        } else if (is_op(ps, "(")) {
            fail(ps, col, "only allow-listed functions and methods can be called");
            goto bad;
        } else {
            return n;
        }
    }
bad:
    tx_node_free(n);
    return NULL;
}

/* '(' ... ')': parenthesised expression or tuple. */
static struct tx_node *parse_paren(struct parser *ps, int col)
{
    if (next(ps))
        return NULL;
    if (is_op(ps, ")")) {
        next(ps);
        struct tx_node *t = node(N_TUPLE, col);
        return t;
    }
    struct tx_node *first = parse_expr(ps);
    if (!first)
        return NULL;
    if (is_kw(ps, "for")) {
        tx_node_free(first);
        fail(ps, ps->t.col, "generator expressions are not supported");
        return NULL;
    }
    if (is_op(ps, ")")) {
        next(ps);
        return first;
    }
    struct tx_node *t = node(N_TUPLE, col);
    add_kid(t, first);
    while (is_op(ps, ",")) {
        if (next(ps))
            goto bad;
        if (is_op(ps, ")"))
            break;
        struct tx_node *x = parse_expr(ps);
        if (!x)
            goto bad;
        add_kid(t, x);
    }
    if (expect(ps, ")"))
        goto bad;
    return t;
bad:
    tx_node_free(t);
    return NULL;
}

static struct tx_node *parse_list_or_dict(struct parser *ps, bool dict, int col)
{
    const char *close = dict ? "}" : "]";
    struct tx_node *n = node(dict ? N_DICT : N_LIST, col);
    if (next(ps))
        goto bad;
    while (!is_op(ps, close)) {
        if (is_op(ps, "*") || is_op(ps, "**")) {
            fail(ps, ps->t.col, "unpacking is not supported");
            goto bad;
        }
        struct tx_node *x = parse_expr(ps);
        if (!x)
            goto bad;
        add_kid(n, x);
        if (dict) {
            if (is_op(ps, ",") || is_op(ps, "}")) {
                fail(ps, ps->t.col, "set literals are not supported");
                goto bad;
            }
            if (expect(ps, ":"))
                goto bad;
            struct tx_node *v = parse_expr(ps);
            if (!v)
                goto bad;
            add_kid(n, v);
        }
        if (is_kw(ps, "for")) {
            fail(ps, ps->t.col, "comprehensions are not supported");
            goto bad;
        }
        if (!is_op(ps, ","))
            break;
        if (next(ps))
            goto bad;
    }
    if (expect(ps, close))
        goto bad;
    return n;
bad:
    tx_node_free(n);
    return NULL;
}

static struct tx_node *parse_name(struct parser *ps)
{
    int col = ps->t.col;
    char *name = xstrndup(ps->t.p, ps->t.n);
    struct tx_node *n = NULL;
    if (!strcmp(name, "None") || !strcmp(name, "True") || !strcmp(name, "False")) {
        n = node(N_CONST, col);
        n->cval = name[0] == 'N' ? tx_none() : tx_bool(name[0] == 'T');
        free(name);
        return next(ps) ? (tx_node_free(n), NULL) : n;
    }
    if (!strcmp(name, "lambda") || !strcmp(name, "import") || !strcmp(name, "yield") ||
        !strcmp(name, "await")) {
        fail(ps, col, "'%s' is not allowed in a transform", name);
        free(name);
        return NULL;
    }
    if (is_reserved(name, strlen(name))) {
        fail(ps, col, "invalid syntax at '%s'", name);
        free(name);
        return NULL;
    }
    if (!strncmp(name, "__", 2)) {
        fail(ps, col, "dunder names are not allowed");
        free(name);
        return NULL;
    }
    if (next(ps)) {
        free(name);
        return NULL;
    }
    enum tx_fn fn = tx_builtin_id(name);
    if (is_op(ps, "(")) {
        if (fn == TXF_NONE) {
            fail(ps, col, "function '%s' is not allowed (see the allow-list in "
                 "docs/transforms.md)", name);
            free(name);
            return NULL;
        }
        n = node(N_CALL, col);
        n->name = name;
        n->fn = fn;   /* resolved once: evaluations dispatch on the id */
        if (next(ps) || parse_args(ps, n)) {
            tx_node_free(n);
            return NULL;
        }
        return n;
    }
    if (strcmp(name, "value") && strcmp(name, "row")) {
        fail(ps, col, fn != TXF_NONE ? "function '%s' must be called"
                                              : "name '%s' is not defined (only 'value' and "
                                                "'row')", name);
        free(name);
        return NULL;
    }
    n = node(N_NAME, col);
    n->name = name;
    n->fn = name[0] == 'r' ? TX_SLOT_ROW : TX_SLOT_VALUE;   /* a slot, not a name, at run time */
    return n;
}

static struct tx_node *parse_atom(struct parser *ps)
{
    int col = ps->t.col;
    struct tx_node *n = NULL;
    switch (ps->t.k) {
    case T_NUM:
        n = node(N_CONST, col);
        n->cval = ps->t.num;
        ps->t.num = NULL;
        if (next(ps)) {
            tx_node_free(n);
            return NULL;
        }
        break;
    case T_STR:
        n = parse_strings(ps);
        break;
    case T_NAME:
        n = parse_name(ps);
        break;
    case T_OP:
        if (is_op(ps, "("))
            n = parse_paren(ps, col);
        else if (is_op(ps, "["))
            n = parse_list_or_dict(ps, false, col);
        else if (is_op(ps, "{"))
            n = parse_list_or_dict(ps, true, col);
        else
            fail(ps, col, "invalid syntax at '%.*s'", (int)ps->t.n, ps->t.p);
        break;
    case T_END:
        fail(ps, col, "unexpected end of expression");
        break;
    }
    if (!n)
        return NULL;
    return parse_trailers(ps, n);
}

static struct tx_node *parse_unary(struct parser *ps);

static struct tx_node *parse_power(struct parser *ps)
{
    struct tx_node *base = parse_atom(ps);
    if (!base || !is_op(ps, "**"))
        return base;
    int col = ps->t.col;
    if (next(ps)) {
        tx_node_free(base);
        return NULL;
    }
    struct tx_node *exp = parse_unary(ps);
    if (!exp) {
        tx_node_free(base);
        return NULL;
    }
    struct tx_node *n = node(N_BINOP, col);
    n->op = 'P';
    add_kid(n, base);
    add_kid(n, exp);
    return n;
}

static struct tx_node *parse_unary(struct parser *ps)
{
    if (is_op(ps, "-") || is_op(ps, "+") || is_op(ps, "~")) {
        int col = ps->t.col, op = ps->t.p[0];
        if (!enter(ps) || next(ps))
            return NULL;
        struct tx_node *x = parse_unary(ps);
        ps->depth--;
        if (!x)
            return NULL;
        struct tx_node *n = node(N_UNARY, col);
        n->op = op;
        add_kid(n, x);
        return n;
    }
    return parse_power(ps);
}

/* Binary levels, loosest first: | ^ & shift arith term. */
static int binop_of(struct parser *ps, int level)
{
    static const char *const ops[][5] = {{"|"}, {"^"}, {"&"}, {"<<", ">>"}, {"+", "-"},
                                         {"*", "/", "//", "%", "@"}};
    static const int codes[][5] = {{'|'}, {'^'}, {'&'}, {'L', 'R'}, {'+', '-'},
                                   {'*', '/', 'F', '%', '@'}};
    for (int i = 0; i < 5 && ops[level][i]; i++)
        if (is_op(ps, ops[level][i]))
            return codes[level][i];
    return 0;
}

static struct tx_node *parse_binary(struct parser *ps, int level)
{
    struct tx_node *l = level == 5 ? parse_unary(ps) : parse_binary(ps, level + 1);
    int op;
    while (l && (op = binop_of(ps, level))) {
        int col = ps->t.col;
        if (op == '@') {
            fail(ps, col, "the '@' operator is not supported");
            tx_node_free(l);
            return NULL;
        }
        if (next(ps)) {
            tx_node_free(l);
            return NULL;
        }
        struct tx_node *r = level == 5 ? parse_unary(ps) : parse_binary(ps, level + 1);
        if (!r) {
            tx_node_free(l);
            return NULL;
        }
        struct tx_node *n = node(N_BINOP, col);
        n->op = op;
        add_kid(n, l);
        add_kid(n, r);
        l = n;
    }
    return l;
}

static int cmp_op(struct parser *ps)
{
    static const char *const ops[] = {"<", "<=", ">", ">=", "==", "!="};
    for (int i = 0; i < 6; i++)
        if (is_op(ps, ops[i]))
            return i;
    if (is_kw(ps, "in"))
        return C_IN;
    if (is_kw(ps, "not"))
        return C_NOT_IN;
    if (is_kw(ps, "is"))
        return 100;
    return -1;
}

static struct tx_node *parse_comparison(struct parser *ps)
{
    struct tx_node *first = parse_binary(ps, 0);
    if (!first)
        return NULL;
    int op = cmp_op(ps);
    if (op < 0)
        return first;
    struct tx_node *n = node(N_COMPARE, ps->t.col);
    add_kid(n, first);
    while ((op = cmp_op(ps)) >= 0) {
        if (op == 100) {
            fail(ps, ps->t.col, "'is' is not supported (use == or !=)");
            goto bad;
        }
        if (next(ps))
            goto bad;
        if (op == C_NOT_IN) {
            if (!is_kw(ps, "in")) {
                fail(ps, ps->t.col, "invalid syntax: expected 'in' after 'not'");
                goto bad;
            }
            if (next(ps))
                goto bad;
        }
        struct tx_node *r = parse_binary(ps, 0);
        if (!r)
            goto bad;
        n->cmps = xrealloc(n->cmps, sizeof(int) * (size_t)n->nkids);
        n->cmps[n->nkids - 1] = op;
        add_kid(n, r);
    }
    return n;
bad:
    tx_node_free(n);
    return NULL;
}

static struct tx_node *parse_not(struct parser *ps)
{
    if (!is_kw(ps, "not"))
        return parse_comparison(ps);
    int col = ps->t.col;
    if (!enter(ps) || next(ps))
        return NULL;
    struct tx_node *x = parse_not(ps);
    ps->depth--;
    if (!x)
        return NULL;
    struct tx_node *n = node(N_NOT, col);
    add_kid(n, x);
    return n;
}

static struct tx_node *parse_bool(struct parser *ps, bool is_or)
{
    const char *kw = is_or ? "or" : "and";
    struct tx_node *l = is_or ? parse_bool(ps, false) : parse_not(ps);
    if (!l || !is_kw(ps, kw))
        return l;
    struct tx_node *n = node(is_or ? N_OR : N_AND, ps->t.col);
    add_kid(n, l);
    while (is_kw(ps, kw)) {
        if (next(ps))
            goto bad;
        struct tx_node *r = is_or ? parse_bool(ps, false) : parse_not(ps);
        if (!r)
            goto bad;
        add_kid(n, r);
    }
    return n;
bad:
    tx_node_free(n);
    return NULL;
}

static struct tx_node *parse_expr(struct parser *ps)
{
    if (!enter(ps))
        return NULL;
    if (is_kw(ps, "lambda")) {
        fail(ps, ps->t.col, "'lambda' is not allowed in a transform");
        return NULL;
    }
    struct tx_node *body = parse_bool(ps, true);
    if (body && is_kw(ps, "if")) {
        int col = ps->t.col;
        struct tx_node *n = node(N_IFEXP, col);
        add_kid(n, body);
        if (next(ps)) {
            tx_node_free(n);
            return NULL;
        }
        struct tx_node *cond = parse_bool(ps, true);
        if (!cond || !is_kw(ps, "else")) {
            if (cond)
                fail(ps, ps->t.col, "expected 'else' after 'if' expression");
            tx_node_free(cond);
            tx_node_free(n);
            return NULL;
        }
        add_kid(n, cond);
        struct tx_node *orelse = NULL;
        if (next(ps) || !(orelse = parse_expr(ps))) {
            tx_node_free(n);
            return NULL;
        }
        add_kid(n, orelse);
        body = n;
    }
    if (body && is_op(ps, ":=")) {
        fail(ps, ps->t.col, "assignment expressions are not supported");
        tx_node_free(body);
        return NULL;
    }
    return leave(ps, body);
}

int tx_parse(const char *src, size_t len, int col0, int max_depth, struct tx_node **out,
             struct tx_error *err)
{
    struct parser ps = {.src = src, .len = len, .col0 = col0, .max_depth = max_depth,
                        .err = err};
    *out = NULL;
    if (memchr(src, '\0', len))
        return fail(&ps, (int)((const char *)memchr(src, '\0', len) - src) + 1,
                    "source code cannot contain null bytes");
    if (u8_check((const uint8_t *)src, len) != NULL)
        return fail(&ps, 1, "the expression is not valid UTF-8");
    struct tx_node *n = NULL;
    if (next(&ps) == IV_OK)
        n = parse_expr(&ps);
    if (n && is_op(&ps, ",")) {
        /* eval("1, 2") is a tuple */
        struct tx_node *t = node(N_TUPLE, n->col);
        add_kid(t, n);
        n = t;
        while (is_op(&ps, ",")) {
            if (next(&ps) || ps.t.k == T_END)
                break;
            struct tx_node *x = parse_expr(&ps);
            if (!x) {
                tx_node_free(t);
                n = NULL;
                break;
            }
            add_kid(t, x);
        }
    }
    if (n && ps.t.k != T_END) {
        fail(&ps, ps.t.col, "invalid syntax at '%.*s'", (int)ps.t.n, ps.t.p);
        tx_node_free(n);
        n = NULL;
    }
    tx_unref(ps.t.num);
    if (!n) {
        if (!ps.failed)
            fail(&ps, 1, "invalid syntax");
        return IV_EINVAL;
    }
    *out = n;
    return IV_OK;
}
