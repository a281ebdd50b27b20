/*
 * timeutil: clocks and ISO-8601 in UTC, without the process time zone.
 *
 * Calendar arithmetic uses Howard Hinnant's days_from_civil algorithm so no
 * call depends on TZ, locale, or the non-thread-safe gmtime().
 */
#include "util/util.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t now_s(void)
{
    return now_ms() / 1000;
}

int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = (unsigned)(y - era * 400);
    const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    z += 719468;
    const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const unsigned doe = (unsigned)(z - era * 146097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const int64_t yy = (int64_t)yoe + era * 400;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = yy + (*m <= 2);
}

static void format_common(int64_t epoch_s, int ms, char out[32])
{
    int64_t days = epoch_s >= 0 ? epoch_s / 86400 : -((-epoch_s + 86399) / 86400);
    int64_t secs = epoch_s - days * 86400;
    int64_t y;
    unsigned m, d;
    civil_from_days(days, &y, &m, &d);
    char tmp[96];
    if (y < 0 || y > 9999)
        y = y < 0 ? 0 : 9999;
    if (ms >= 0)
        snprintf(tmp, sizeof tmp, "%04lld-%02u-%02uT%02d:%02d:%02d.%03dZ", (long long)y, m, d,
                 (int)(secs / 3600), (int)(secs / 60 % 60), (int)(secs % 60), ms);
    else
        snprintf(tmp, sizeof tmp, "%04lld-%02u-%02uT%02d:%02d:%02dZ", (long long)y, m, d,
                 (int)(secs / 3600), (int)(secs / 60 % 60), (int)(secs % 60));
    memcpy(out, tmp, 31);
    out[31] = '\0';
}

void iso8601_format(int64_t epoch_s, char out[32])
{
    format_common(epoch_s, -1, out);
}

void iso8601_format_ms(int64_t epoch_ms, char out[32])
{
    int64_t s = epoch_ms >= 0 ? epoch_ms / 1000 : -((-epoch_ms + 999) / 1000);
    format_common(s, (int)(epoch_ms - s * 1000), out);
}

static int digits(const char *s, size_t n, size_t at, size_t count, int *out)
{
    if (at + count > n)
        return -1;
    int v = 0;
    for (size_t i = 0; i < count; i++) {
        char c = s[at + i];
        if (c < '0' || c > '9')
            return -1;
        v = v * 10 + (c - '0');
    }
    *out = v;
    return 0;
}

static int days_in_month(int y, int m)
{
    static const int dm[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
        return 29;
    return dm[m - 1];
}

int date_parse_days(const char *s, size_t n, int32_t *days_out)
{
    int y, m, d;
    if (digits(s, n, 0, 4, &y) || n < 10 || s[4] != '-' || digits(s, n, 5, 2, &m) ||
        s[7] != '-' || digits(s, n, 8, 2, &d))
        return IV_EINVAL;
    if (m < 1 || m > 12 || d < 1 || d > days_in_month(y, m))
        return IV_EINVAL;
    *days_out = (int32_t)days_from_civil(y, (unsigned)m, (unsigned)d);
    return IV_OK;
}

int iso8601_parse_us(const char *s, size_t n, int64_t *us_out)
{
    int32_t days;
    if (date_parse_days(s, n, &days))
        return IV_EINVAL;
    int64_t us = (int64_t)days * 86400 * 1000000;
    size_t i = 10;
    if (i == n) {
        *us_out = us;
        return IV_OK;
    }
    if (s[i] != 'T' && s[i] != 't' && s[i] != ' ')
        return IV_EINVAL;
    i++;
    int hh, mm, ss = 0;
    if (digits(s, n, i, 2, &hh) || i + 2 >= n || s[i + 2] != ':' || digits(s, n, i + 3, 2, &mm))
        return IV_EINVAL;
    i += 5;
    int64_t frac_us = 0;
    if (i < n && s[i] == ':') {
        if (digits(s, n, i + 1, 2, &ss))
            return IV_EINVAL;
        i += 3;
        if (i < n && (s[i] == '.' || s[i] == ',')) {
            i++;
            size_t start = i;
            int64_t scale = 100000;
            while (i < n && s[i] >= '0' && s[i] <= '9') {
                frac_us += (s[i] - '0') * scale;
                scale /= 10;
                i++;
            }
            if (i == start)
                return IV_EINVAL;
        }
    }
    if (hh > 23 || mm > 59 || ss > 60)
        return IV_EINVAL;
    int64_t off_s = 0;
    if (i < n) {
        if ((s[i] == 'Z' || s[i] == 'z') && i + 1 == n) {
            i++;
        } else if (s[i] == '+' || s[i] == '-') {
            int oh, om = 0;
            int sign = s[i] == '-' ? -1 : 1;
            if (digits(s, n, i + 1, 2, &oh))
                return IV_EINVAL;
            size_t j = i + 3;
            if (j < n && s[j] == ':')
                j++;
            if (j < n) {
                if (digits(s, n, j, 2, &om))
                    return IV_EINVAL;
                j += 2;
            }
            if (j != n || oh > 23 || om > 59)
                return IV_EINVAL;
            off_s = sign * (oh * 3600 + om * 60);
            i = n;
        } else {
            return IV_EINVAL;
        }
    }
    if (i != n)
        return IV_EINVAL;
    us += ((int64_t)hh * 3600 + mm * 60 + ss - off_s) * 1000000 + frac_us;
    *us_out = us;
    return IV_OK;
}
