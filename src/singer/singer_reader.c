/*
 * singer_reader: the line reader for Singer input. One buffer, refilled with
 * read(2) in 1 MiB chunks, lines located with memchr and returned in place
 * (no copy). A line longer than the cap is an error naming its number, so a
 * runaway tap cannot make the target allocate without bound: memory is at
 * most max_line + one chunk.
 */
#include "singer/singer.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define READ_CHUNK (1u << 20)

void singer_reader_init(struct singer_reader *r, int fd, size_t max_line)
{
    memset(r, 0, sizeof(*r));
    r->fd = fd;
    r->max_line = max_line ? max_line : SINGER_DEFAULT_MAX_LINE;
}

void singer_reader_release(struct singer_reader *r)
{
    free(r->buf);
    r->buf = NULL;
}

/* Makes room for at least one more chunk after r->end. */
static void reader_make_room(struct singer_reader *r)
{
    if (r->start > 0 && (r->cap - r->end < READ_CHUNK)) {
        memmove(r->buf, r->buf + r->start, r->end - r->start);
        r->end -= r->start;
        r->start = 0;
    }
    if (r->cap - r->end < READ_CHUNK) {
        size_t ncap = r->cap ? r->cap * 2 : 2 * READ_CHUNK;
        while (ncap - r->end < READ_CHUNK)
            ncap *= 2;
        r->buf = xrealloc(r->buf, ncap + 1);
        r->cap = ncap;
    }
}

int singer_reader_next(struct singer_reader *r, char **line, size_t *len, struct iv_err *e)
{
    size_t scanned = 0;   /* bytes from start already known to hold no '\n' */
    if (!r->buf)
        reader_make_room(r);
    for (;;) {
        char *s = r->buf + r->start;
        size_t avail = r->end - r->start;
        char *nl = avail > scanned ? memchr(s + scanned, '\n', avail - scanned) : NULL;
        if (nl) {
            size_t n = (size_t)(nl - s);
            r->line_no++;
            if (n > r->max_line)
                return iv_err_set(e, IV_ETOOBIG, "line %lld: line is %zu bytes, over the %zu-byte cap",
                                  (long long)r->line_no, n, r->max_line);
            r->start += n + 1;
            if (n > 0 && s[n - 1] == '\r')
                n--;
            s[n] = '\0';
            *line = s;
            *len = n;
            return 1;
        }
        scanned = avail;
        if (avail > r->max_line)
            return iv_err_set(e, IV_ETOOBIG, "line %lld: line is over the %zu-byte cap",
                              (long long)r->line_no + 1, r->max_line);
        if (r->eof) {
            if (avail == 0)
                return 0;
            /* last line without a newline */
            r->line_no++;
            size_t n = avail;
            r->start = r->end;
            if (n > 0 && s[n - 1] == '\r')
                n--;
            s[n] = '\0';   /* buffer has one spare byte past cap */
            *line = s;
            *len = n;
            return 1;
        }
        reader_make_room(r);
        ssize_t got;
        do {
            got = read(r->fd, r->buf + r->end, r->cap - r->end);
        } while (got < 0 && errno == EINTR);
        if (got < 0)
            return iv_err_set(e, IV_EIO, "line %lld: read error: %s", (long long)r->line_no + 1,
                              strerror(errno));
        if (got == 0)
            r->eof = true;
        r->end += (size_t)got;
    }
}
