/*
 * singer_names: the one rule that turns a Singer stream name into the name part
 * of an Iceberg table (docs/singer.md, "Naming rules"). Used by
 * `ivory target-iceberg` and by the runner's stream -> table mapping, so every
 * path that creates a table from a stream names it the same way.
 *
 * The rule follows the Meltano SDK's SQL sinks (conform_name): keep ASCII
 * letters, digits, '_', '-', '.' and white space, drop every other byte; turn
 * '-', '.' and white space into '_'; snake_case the letters (an '_' before an
 * upper-case letter that starts a new word) and lower-case them; put '_' in
 * front of a leading digit. The result is never empty and at most
 * SINGER_TABLE_NAME_MAX bytes; otherwise the caller gets an error naming the
 * stream. Two different streams can map to the same name ("a.b", "a_b"):
 * callers that open tables must refuse that (the loader does).
 */
#include "singer/singer.h"

#include <stdlib.h>
#include <string.h>

static bool is_upper(unsigned char c) { return c >= 'A' && c <= 'Z'; }
static bool is_lower(unsigned char c) { return c >= 'a' && c <= 'z'; }
static bool is_digit(unsigned char c) { return c >= '0' && c <= '9'; }
static bool is_space(unsigned char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

/* Step 1: the kept bytes, separators already turned into '_'. */
static size_t keep_name_bytes(const char *stream, char *out)
{
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)stream; *p; p++) {
        if (is_upper(*p) || is_lower(*p) || is_digit(*p) || *p == '_')
            out[n++] = (char)*p;
        else if (*p == '-' || *p == '.' || is_space(*p))
            out[n++] = '_';
    }
    out[n] = '\0';
    return n;
}

/* An upper-case letter at i starts a new word when it follows a lower-case
 * letter or digit ("userId"), or ends a run of capitals before a lower-case
 * letter ("HTTPServer": the 'S'). */
static bool starts_word(const char *s, size_t i, size_t n)
{
    if (i == 0 || !is_upper((unsigned char)s[i]))
        return false;
    unsigned char prev = (unsigned char)s[i - 1];
    if (is_lower(prev) || is_digit(prev))
        return true;
    return is_upper(prev) && i + 1 < n && is_lower((unsigned char)s[i + 1]);
}

int singer_table_name(const char *stream, char **out, struct iv_err *e)
{
    *out = NULL;
    size_t len = strlen(stream);
    char *kept = xmalloc(len + 1);
    size_t n = keep_name_bytes(stream, kept);
    /* worst case: '_' before every letter, plus a leading '_' */
    char *name = xmalloc(2 * n + 2);
    size_t k = 0;
    if (n > 0 && is_digit((unsigned char)kept[0]))
        name[k++] = '_';
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)kept[i];
        if (starts_word(kept, i, n) && name[k - 1] != '_')
            name[k++] = '_';
        name[k++] = is_upper(c) ? (char)(c - 'A' + 'a') : (char)c;
    }
    name[k] = '\0';
    free(kept);
    int rc = IV_OK;
    if (k == 0)
        rc = iv_err_set(e, IV_EINVAL, "stream \"%.200s\" has no letter, digit or '_' to name a "
                        "table after", stream);
    else if (k > SINGER_TABLE_NAME_MAX)
        rc = iv_err_set(e, IV_EINVAL, "stream \"%.80s...\" gives a table name longer than %d "
                        "bytes", stream, SINGER_TABLE_NAME_MAX);
    if (rc) {
        free(name);
        return rc;
    }
    *out = name;
    return IV_OK;
}
