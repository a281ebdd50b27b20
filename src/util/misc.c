/*
 * misc: small helpers with no better home: JSON dumping, charset checks,
 * duration parsing.
 */
#include "util/util.h"

#include <stdlib.h>
#include <string.h>

char *json_dumps_compact(const json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
    if (!s)
        abort();
    return s;
}

const char *json_str(const json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

bool str_matches_charset(const char *s, const char *first_set, const char *rest_set,
                         size_t min_len, size_t max_len)
{
    if (!s)
        return false;
    size_t n = strlen(s);
    if (n < min_len || n > max_len)
        return false;
    for (size_t i = 0; i < n; i++) {
        const char *set = (i == 0 && first_set) ? first_set : rest_set;
        if (!strchr(set, s[i]) || s[i] == '\0')
            return false;
    }
    return true;
}

int parse_duration_s(const char *s, double *out)
{
    if (!s || !*s)
        return IV_EINVAL;
    char *end = NULL;
    double v = strtod(s, &end);
    if (end == s || *end != '\0' || v < 0 || v != v)
        return IV_EINVAL;
    *out = v;
    return IV_OK;
}
