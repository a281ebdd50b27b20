/*
 * util: the small, dependency-free toolbox every other module stands on.
 *
 * Owns: allocation wrappers (abort on out-of-memory in service code), a
 * bounded byte buffer (every byte from outside passes through one with a hard
 * maximum), ISO-8601 UTC time, UUIDv4, base64/hex, the logger (one JSON
 * object per line on stderr, level checked before any formatting), the
 * error-code vocabulary and a few jansson helpers.
 *
 * Rules: nothing in util/ includes a header from another src/ folder.
 * Ownership notes on each function: "caller frees", "borrowed", "takes".
 */
#ifndef IVORY_UTIL_H
#define IVORY_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <string.h>
#include <jansson.h>

/* ---- error vocabulary ------------------------------------------------- */
/* On functions that return an IV_* code (the store and the lake): the result must be used;
 * a call that may ignore it says why with (void) and a comment. */
#define IV_MUST_USE __attribute__((warn_unused_result))
/* Explicitly discards an IV_* result (a (void) cast does not silence GCC); always next to a
 * comment saying why ignoring it is right. */
#define IV_DISCARD(call) do { int iv_discarded_ = (call); (void)iv_discarded_; } while (0)

enum {
    IV_OK = 0,
    IV_ENOMEM = -1,
    IV_EIO = -2,
    IV_EINVAL = -3,
    IV_EAGAIN = -4,
    IV_ENOTFOUND = -5,
    IV_ECONFLICT = -6,
    IV_ETOOBIG = -7,
    IV_ECHILD = -8,
    IV_EUNSUPPORTED = -9,
    IV_EAUTH = -10,
    IV_EDB = -11,
};
const char *iv_strerror(int code);

/* A human-readable error detail carried up from lower layers. The layer that
 * decides what happens next logs it (once). */
struct iv_err {
    int code;
    char msg[512];
};
/* Sets e (if non-NULL) and returns code, so callers can `return iv_err_set(...)`. */
int iv_err_set(struct iv_err *e, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- allocation ------------------------------------------------------- */
void *xmalloc(size_t n);                /* never NULL; aborts on OOM */
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);           /* xstrdup(NULL) == NULL */
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
#define FREE_NULL(p) do { free(p); (p) = NULL; } while (0)

/* ---- bounded buffer ----------------------------------------------------
 * Use the functions, not the fields. `data` is always NUL-terminated (one
 * spare byte past len) so text can be read in place. Appending past `max`
 * returns IV_ETOOBIG and leaves the buffer unchanged. */
struct buf {
    char *data;
    size_t len;
    size_t cap;
    size_t max;
};
void buf_init(struct buf *b, size_t max);
void buf_release(struct buf *b);
void buf_reset(struct buf *b);                           /* len = 0, keeps memory */
int buf_reserve(struct buf *b, size_t extra);            /* IV_ETOOBIG past max */
int buf_append(struct buf *b, const void *p, size_t n);
int buf_append_str(struct buf *b, const char *s);
int buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int buf_putc(struct buf *b, char c);
char *buf_detach(struct buf *b, size_t *len_out);        /* caller frees; b reset */

/* ---- time -------------------------------------------------------------- */
int64_t now_ms(void);                      /* wall clock, epoch ms */
int64_t now_s(void);
int64_t mono_ms(void);                     /* monotonic, for timeouts */
/* "2026-03-28T12:00:00Z" (or with .mmm when ms != 0 and with_ms). out >= 32 bytes. */
void iso8601_format(int64_t epoch_s, char out[32]);
void iso8601_format_ms(int64_t epoch_ms, char out[32]);
/* Accepts YYYY-MM-DD[THH:MM[:SS[.frac]]][Z|+HH:MM|-HH:MM]; returns epoch µs. */
int iso8601_parse_us(const char *s, size_t n, int64_t *us_out);
/* Days since 1970-01-01 for YYYY-MM-DD (rest of string ignored if `strict` false). */
int date_parse_days(const char *s, size_t n, int32_t *days_out);
int64_t days_from_civil(int64_t y, unsigned m, unsigned d);
void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d);

/* ---- identifiers and encodings ----------------------------------------- */
void random_bytes(void *out, size_t n);    /* getrandom(); aborts if the kernel fails */
void uuid_v4(char out[37]);
bool uuid_is_valid(const char *s);
char *hex_encode(const void *p, size_t n);              /* caller frees */
int hex_decode(const char *s, uint8_t *out, size_t out_len); /* exact length */
char *base64_encode(const void *p, size_t n);           /* caller frees */
/* Decodes standard base64 (padding optional). Caller frees *out. */
int base64_decode(const char *s, uint8_t **out, size_t *out_len);
/* True when s[0..n) is canonical unpadded base64url: its alphabet only, no length that leaves
 * 6 dangling bits, zero unused bits in the last character. A lenient decoder maps several
 * texts to the same bytes, so signed and encrypted tokens (JWT, JWE) accept only this form. */
bool base64url_is_canonical(const char *s, size_t n);
/* A NUL-terminated copy of p[0..n) that is valid UTF-8: each byte that starts no valid
 * sequence (and a NUL) becomes U+FFFD. For text from other programs (a tap's stderr) that
 * must survive a JSON string. Caller frees. */
char *utf8_sanitized(const char *p, size_t n);

/* ---- logging ------------------------------------------------------------
 * One JSON object per line on stderr: {"ts":..,"level":..,"msg":..}. Never
 * pass secrets: there is no formatter for them. */
enum log_level { LOG_ERROR = 0, LOG_WARN = 1, LOG_INFO = 2, LOG_DEBUG = 3 };
extern int iv_log_level;
void log_set_level_from_env(void);
void log_write(enum log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define log_error(...) do { if (iv_log_level >= LOG_ERROR) log_write(LOG_ERROR, __VA_ARGS__); } while (0)
#define log_warn(...)  do { if (iv_log_level >= LOG_WARN)  log_write(LOG_WARN, __VA_ARGS__); } while (0)
#define log_info(...)  do { if (iv_log_level >= LOG_INFO)  log_write(LOG_INFO, __VA_ARGS__); } while (0)
#define log_debug(...) do { if (iv_log_level >= LOG_DEBUG) log_write(LOG_DEBUG, __VA_ARGS__); } while (0)

/* ---- files ---------------------------------------------------------------- */
/* Writes data to path via temp file + fsync + rename + directory fsync. */
int file_write_atomic(const char *path, const void *data, size_t n, int mode, struct iv_err *e);
/* Writes all n bytes to fd, retrying short writes and EINTR. 0, or -1 with errno set (EIO
 * when write() made no progress). */
int fd_write_all(int fd, const void *data, size_t n);
/* Resolves the absolute path as the kernel would (symlinks of its existing part, "." and
 * ".." segments; a missing tail is appended as written) and checks the result is root or
 * below it (root resolved too; it must exist). IV_OK with *resolved_out (caller frees, may
 * be NULL) or IV_EINVAL with a message. For tenant-supplied locations (docs/security.md). */
int path_confined(const char *root, const char *path, char **resolved_out, struct iv_err *e);
/* Reads a whole file (max bytes). Caller frees *out (NUL-terminated). */
int file_read_all(const char *path, size_t max, char **out, size_t *len_out, struct iv_err *e);
int mkdir_p(const char *path, int mode);
int fsync_dir_of(const char *path);
/* Copies src to a new file dst (O_EXCL, created with mode) and fsyncs it. On failure dst is
 * removed and e names the step and the file. */
int file_copy_new(const char *src, const char *dst, int mode, struct iv_err *e);
/* Takes a flock on path (created 0640 when missing, opened read-only): shared or exclusive, waiting or not.
 * *fd_out receives the descriptor that holds the lock until it is closed (or the process
 * exits). IV_EAGAIN when wait is false and another process holds a conflicting lock. */
int file_lock(const char *path, bool exclusive, bool wait, int *fd_out, struct iv_err *e);

/* ---- JSON helpers over jansson ----------------------------------------- */
/* Returns a new string (caller frees) of compact JSON with sorted keys off. */
char *json_dumps_compact(const json_t *j);
/* Borrowed string member or NULL when missing/not a string. */
const char *json_str(const json_t *obj, const char *key);

/* ---- misc --------------------------------------------------------------- */
bool str_matches_charset(const char *s, const char *first_set, const char *rest_set,
                         size_t min_len, size_t max_len);
int parse_duration_s(const char *s, double *out);  /* "30", "0.2" -> seconds */

/* a[0..n) == b[0..n) without a libc call for short strings (two overlapping word
 * loads); the hot-path comparison of the Singer key lookup and the Parquet dictionary. */
static inline bool mem_equal(const void *pa, const void *pb, size_t n)
{
    const char *a = pa, *b = pb;
    if (n >= 8) {
        if (n > 16)
            return memcmp(a, b, n) == 0;
        uint64_t a0, b0, a1, b1;
        memcpy(&a0, a, 8);
        memcpy(&b0, b, 8);
        memcpy(&a1, a + n - 8, 8);
        memcpy(&b1, b + n - 8, 8);
        return ((a0 ^ b0) | (a1 ^ b1)) == 0;
    }
    if (n >= 4) {
        uint32_t a0, b0, a1, b1;
        memcpy(&a0, a, 4);
        memcpy(&b0, b, 4);
        memcpy(&a1, a + n - 4, 4);
        memcpy(&b1, b + n - 4, 4);
        return ((a0 ^ b0) | (a1 ^ b1)) == 0;
    }
    for (size_t i = 0; i < n; i++)
        if (a[i] != b[i])
            return false;
    return true;
}

#endif
