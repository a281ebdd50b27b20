/*
 * tx_int.h: internal header of src/transform (transform.h is the module's public header):
 * the value layout, the syntax tree, the evaluation context and the helpers the files of
 * the module share. Only the .c files of src/transform, its unit tests and its fuzz target include it.
 *
 *   value.c    values, equality, ordering, str/repr, JSON in and out
 *   num.c      int/float arithmetic with Python's semantics, float repr, round
 *   text.c     str operations: Unicode case mapping, whitespace, slicing by code point
 *   lex.c      tokens (numbers, strings with escapes, f-strings kept raw)
 *   parse.c    tokens -> tree, with the nesting limit and unsupported syntax named
 *   eval.c     the tree walker, operators, indexing and slicing, limits
 *   builtins.c the allow-listed functions, str/dict methods, format specs, date helpers
 */
#ifndef IVORY_TRANSFORM_INT_H
#define IVORY_TRANSFORM_INT_H

#include "transform/transform.h"

#include <gmp.h>

struct tx_value {
    int refs;                    /* atomic; < 0 = immortal (None, True, False) */
    enum tx_kind kind;
    union {
        bool b;
        double f;
        /* TX_INT: z is always a valid read-only GMP integer. An int that fits in int64 is
         * "inline": i holds it, z's single limb is zlimb (|i|) inside the value itself, so
         * it costs no allocation beyond the value and GMP can still read it; only ints
         * outside int64 own heap limbs (tx_int_inline says which). Never write to z. */
        struct { mpz_t z; mp_limb_t zlimb; int64_t i; };
        struct { char *p; size_t n; size_t nchars; } s;          /* UTF-8, NUL-terminated */
        struct { struct tx_value **items; size_t n; } seq;       /* list, tuple */
        struct { struct tx_value **keys, **vals; size_t n; } d;  /* insertion order */
    } u;
};

_Static_assert(GMP_NUMB_BITS == 64 && sizeof(long) == 8, "inline ints need 64-bit limbs");

/* Is v an int held inline (int64 range)? */
static inline bool tx_int_inline(const struct tx_value *v)
{
    return v->kind == TX_INT && v->u.z->_mp_d == &v->u.zlimb;
}

/* v's value as an int64 when v is a bool or an inline int (the fast paths' operands). */
static inline bool tx_small(const struct tx_value *v, int64_t *out)
{
    if (v->kind == TX_BOOL) {
        *out = v->u.b;
        return true;
    }
    if (!tx_int_inline(v))
        return false;
    *out = v->u.i;
    return true;
}

/* A read-only GMP view of an int or bool v in *tmp, no allocation: the result is v's own z
 * for an int, tmp (pointing at *limb) for a bool. Never pass it to mpz_clear or write it. */
mpz_srcptr tx_int_view(const struct tx_value *v, mpz_t tmp, mp_limb_t *limb);

/* Decimal digits of an int64 (with '-' if negative) into out (>= 21 bytes); returns the
 * length. */
size_t tx_i64_digits(int64_t i, char *out);

/* ---- evaluation context ---------------------------------------------------------------- */
struct tx_ctx {
    struct tx_limits lim;
    int64_t steps;
    struct tx_error *err;
    struct tx_value *value, *row;
};

/* Sets the error (Python exception name + message) and returns IV_EINVAL. */
int tx_raise(struct tx_ctx *c, const char *kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* One step of work; IV_EINVAL (LimitError) past the limit. */
int tx_step(struct tx_ctx *c, int64_t n);

/* ---- values (value.c) ------------------------------------------------------------------ */
struct tx_value *tx_new(enum tx_kind k);
struct tx_value *tx_int_mpz(const mpz_t z);                  /* copies z */
struct tx_value *tx_str_take(char *p, size_t n);             /* takes p (heap, NUL-terminated) */
struct tx_value *tx_seq_new(enum tx_kind k, size_t n);       /* items zeroed; fill them */
struct tx_value *tx_dict_new(void);
void tx_dict_set(struct tx_value *d, struct tx_value *k, struct tx_value *v);  /* takes both */
struct tx_value *tx_dict_lookup(const struct tx_value *d, const struct tx_value *k); /* borrowed */
bool tx_hashable(const struct tx_value *v);
bool tx_equal(const struct tx_value *a, const struct tx_value *b);
/* Python's a < b: 1 true, 0 false, -1 TypeError raised in c. */
int tx_less(struct tx_ctx *c, const struct tx_value *a, const struct tx_value *b);
const char *tx_type_name(const struct tx_value *v);
bool tx_is_number(const struct tx_value *v);    /* bool, int or float */
/* str()/repr() into b; IV_ETOOBIG past b's cap. */
int tx_write_str(const struct tx_value *v, struct buf *b);
int tx_write_repr(const struct tx_value *v, struct buf *b);

/* ---- numbers (num.c) ------------------------------------------------------------------- */
/* Python's repr of a float ("0.1", "1e+16", "inf", "nan"); out >= 32 bytes. */
void tx_float_repr(double d, char *out);
/* int -> float correctly rounded; IV_EINVAL (OverflowError) when too large. */
int tx_int_to_double(struct tx_ctx *c, const mpz_t z, double *out);
/* Binary arithmetic on numbers: op is one of '+', '-', '*', '/', '%', 'F' (floor
 * division), 'P' (power), 'L' (left shift), 'R' (right shift), '&', '|', '^'. Both operands
 * bool/int/float. */
int tx_arith(struct tx_ctx *c, int op, const struct tx_value *a, const struct tx_value *b,
             struct tx_value **out);
int tx_check_int_size(struct tx_ctx *c, const mpz_t z);
/* round(x[, n]) */
int tx_round(struct tx_ctx *c, const struct tx_value *x, const struct tx_value *n,
             struct tx_value **out);
/* int(str) / float(str) parsing as Python does. */
int tx_parse_int_text(struct tx_ctx *c, const char *s, size_t n, int base,
                      struct tx_value **out);
int tx_parse_float_text(struct tx_ctx *c, const char *s, size_t n, double *out);

/* ---- text (text.c) --------------------------------------------------------------------- */
bool tx_is_space_cp(uint32_t cp);
/* Byte offset of code point i (0 <= i <= nchars) in s. */
size_t tx_str_offset(const struct tx_value *s, size_t i);
/* Case mappings (full Unicode); return new strings. */
struct tx_value *tx_str_lower(const struct tx_value *s);
struct tx_value *tx_str_upper(const struct tx_value *s);
struct tx_value *tx_str_title(const struct tx_value *s);
struct tx_value *tx_str_capitalize(const struct tx_value *s);
bool tx_cp_printable(uint32_t cp);

/* ---- names resolved at compile time ---------------------------------------------------- */
/* The allow-listed functions (TXF_*) and methods (TXM_*): the parser stores the id in the
 * call's node, so an evaluation dispatches on an int, never on the name. */
enum tx_fn {
    TXF_NONE,
    TXF_STR, TXF_INT, TXF_FLOAT, TXF_BOOL, TXF_LEN, TXF_ABS, TXF_ROUND, TXF_MIN, TXF_MAX,
    TXF_SUM, TXF_SORTED, TXF_PARSE_DATETIME, TXF_PARSE_DATE, TXF_TO_EPOCH, TXF_FORMAT_DATETIME,
    TXM_STRIP, TXM_LSTRIP, TXM_RSTRIP, TXM_LOWER, TXM_UPPER, TXM_TITLE, TXM_CAPITALIZE,
    TXM_REPLACE, TXM_SPLIT, TXM_JOIN, TXM_STARTSWITH, TXM_ENDSWITH, TXM_ZFILL, TXM_FIND, TXM_GET,
};
/* The id of an allow-listed function / method name; TXF_NONE when it is not allowed. */
enum tx_fn tx_builtin_id(const char *name);
enum tx_fn tx_method_id(const char *name);
/* The two names an expression reads (N_NAME's fn). */
enum tx_slot { TX_SLOT_VALUE, TX_SLOT_ROW };

/* ---- syntax tree (lex.c, parse.c) ------------------------------------------------------ */
enum tx_node_kind {
    N_CONST, N_NAME, N_LIST, N_TUPLE, N_DICT, N_UNARY, N_BINOP, N_AND, N_OR, N_NOT,
    N_COMPARE, N_IFEXP, N_CALL, N_METHOD, N_INDEX, N_SLICE, N_FSTRING, N_FORMATTED,
};
enum tx_cmp { C_LT, C_LE, C_GT, C_GE, C_EQ, C_NE, C_IN, C_NOT_IN };

struct tx_node {
    enum tx_node_kind k;
    int op;                      /* N_UNARY: '-','+','~'; N_BINOP: as tx_arith; N_FORMATTED:
                                  * conversion 0/'r'/'s'/'a' */
    int col;                     /* 1-based column in the source */
    struct tx_value *cval;       /* N_CONST */
    char *name;                  /* N_NAME, N_CALL (function), N_METHOD (method) */
    int fn;                      /* N_CALL/N_METHOD: the enum tx_fn id, resolved at parse
                                  * time; N_NAME: the enum tx_slot */
    struct tx_node **kids;       /* children (NULL entries allowed for N_SLICE) */
    int nkids;
    int *cmps;                   /* N_COMPARE: nkids - 1 operators */
    char **kwnames;              /* N_CALL/N_METHOD: the last nkw kids are keyword args */
    int nkw;
};

struct tx_expr {
    struct tx_node *root;
};

void tx_node_free(struct tx_node *n);
/* Parses src[0..len) as one expression (column offset added to every column, for
 * f-string parts). */
int tx_parse(const char *src, size_t len, int col0, int max_depth, struct tx_node **out,
             struct tx_error *err);

/* ---- evaluation and builtins (eval.c, builtins.c) -------------------------------------- */
int tx_eval_node(struct tx_ctx *c, const struct tx_node *n, struct tx_value **out);
/* a OP b for any operands (numbers, sequence + and *), raising Python's TypeError. */
int tx_binary(struct tx_ctx *c, int op, struct tx_value *a, struct tx_value *b,
              struct tx_value **out);
/* Calls function fn (its name, for messages) / method fn of self. */
int tx_call_builtin(struct tx_ctx *c, enum tx_fn fn, const char *name, struct tx_value **args,
                    int nargs, char **kwnames, struct tx_value **kwvals, int nkw,
                    struct tx_value **out);
int tx_call_method(struct tx_ctx *c, struct tx_value *self, enum tx_fn fn, const char *name,
                   struct tx_value **args, int nargs, char **kwnames, struct tx_value **kwvals,
                   int nkw, struct tx_value **out);
/* format(v, spec) */
int tx_format(struct tx_ctx *c, const struct tx_value *v, const char *spec, size_t speclen,
              struct buf *out);
/* The value's sequence items as a borrowed array (list/tuple), or a new list of a str's
 * characters / a dict's keys; *owned says whether *tmp must be unreffed. */
int tx_iterate(struct tx_ctx *c, struct tx_value *v, struct tx_value ***items, size_t *n,
               struct tx_value **tmp);
/* Sub-sequence / character by index (Python semantics, negative indices). */
int tx_getitem(struct tx_ctx *c, struct tx_value *obj, struct tx_value *key,
               struct tx_value **out);

#endif
