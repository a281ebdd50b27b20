/*
 * cron: 5-field cron expressions and the retry backoff (docs/api.md "Connectors").
 *
 * Grammar per field: a comma list of items; an item is `*`, `N`, `A-B`, each
 * optionally followed by `/STEP`, or `N/STEP` (= N through the field maximum).
 * Months accept JAN-DEC and weekdays SUN-SAT (case-insensitive); weekday 7 is
 * Sunday. Macros: @hourly @daily @midnight @weekly @monthly @yearly @annually.
 * Evaluation is in UTC with Vixie cron's rule: when both day-of-month and
 * day-of-week are restricted (neither field starts with `*`), a day matches if
 * EITHER matches; otherwise both must.
 *
 * cron_next() jumps by whole months, days and hours when a field does not
 * match, so a search over the 8-year horizon costs a few thousand steps at
 * most, never a minute-by-minute scan.
 */
#include "sched/sched.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define CRON_HORIZON_S (8LL * 366 * 86400)

struct field_def {
    const char *name;
    int min, max;           /* accepted numeric range (weekday: 0-7) */
    const char *const *names;   /* index 0 = value `names_base` */
    int names_base;
};

static const char *const month_names[] = {"jan", "feb", "mar", "apr", "may", "jun",
                                          "jul", "aug", "sep", "oct", "nov", "dec", NULL};
static const char *const wday_names[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat", NULL};

static const struct field_def fields[5] = {
    {"minute", 0, 59, NULL, 0},
    {"hour", 0, 23, NULL, 0},
    {"day-of-month", 1, 31, NULL, 0},
    {"month", 1, 12, month_names, 1},
    {"day-of-week", 0, 7, wday_names, 0},
};

/* Reads one value (number or name) at *p. Returns 0 and advances, or an error. */
static int read_value(const struct field_def *f, const char **p, int *out, const char *text,
                      struct iv_err *e)
{
    const char *s = *p;
    if (isdigit((unsigned char)*s)) {
        long v = 0;
        int digits = 0;
        while (isdigit((unsigned char)*s)) {
            if (++digits > 4)
                return iv_err_set(e, IV_EINVAL, "cron %s field '%s': number too long", f->name,
                                  text);
            v = v * 10 + (*s - '0');
            s++;
        }
        if (v < f->min || v > f->max)
            return iv_err_set(e, IV_EINVAL, "cron %s field '%s': %ld is out of range %d-%d",
                              f->name, text, v, f->min, f->max);
        *out = (int)v;
        *p = s;
        return IV_OK;
    }
    if (isalpha((unsigned char)*s)) {
        char word[8];
        size_t n = 0;
        while (isalpha((unsigned char)s[n]) && n < sizeof word - 1) {
            word[n] = s[n];
            n++;
        }
        word[n] = '\0';
        if (f->names && n == 3 && !isalpha((unsigned char)s[n])) {
            for (int i = 0; f->names[i]; i++) {
                if (strcasecmp(word, f->names[i]) == 0) {
                    *out = f->names_base + i;
                    *p = s + 3;
                    return IV_OK;
                }
            }
        }
        return iv_err_set(e, IV_EINVAL, "cron %s field '%s': unknown name '%s'%s", f->name, text,
                          word, f->names ? "" : " (this field takes numbers only)");
    }
    if (*s == '\0')
        return iv_err_set(e, IV_EINVAL, "cron %s field '%s': value missing", f->name, text);
    return iv_err_set(e, IV_EINVAL, "cron %s field '%s': unexpected character '%c'", f->name, text,
                      *s);
}

/* Parses one field into a 64-bit mask over min..max. *star: field starts with '*'. */
static int parse_field(const struct field_def *f, const char *text, uint64_t *mask, bool *star,
                       struct iv_err *e)
{
    *mask = 0;
    *star = text[0] == '*';
    const char *p = text;
    for (;;) {
        int lo, hi, step = 1;
        int rc;
        if (*p == '*') {
            lo = f->min;
            hi = f->max;
            p++;
        } else {
            if ((rc = read_value(f, &p, &lo, text, e)))
                return rc;
            hi = lo;
            if (*p == '-') {
                p++;
                if ((rc = read_value(f, &p, &hi, text, e)))
                    return rc;
                if (hi < lo)
                    return iv_err_set(e, IV_EINVAL, "cron %s field '%s': range %d-%d is "
                                      "backwards", f->name, text, lo, hi);
            } else if (*p == '/') {
                hi = f->max;   /* N/STEP = N through the maximum */
            }
        }
        if (*p == '/') {
            p++;
            if (!isdigit((unsigned char)*p))
                return iv_err_set(e, IV_EINVAL, "cron %s field '%s': step must be a number",
                                  f->name, text);
            long sv = 0;
            int digits = 0;
            while (isdigit((unsigned char)*p)) {
                if (++digits > 4)
                    return iv_err_set(e, IV_EINVAL, "cron %s field '%s': step too large",
                                      f->name, text);
                sv = sv * 10 + (*p++ - '0');
            }
            if (sv < 1 || sv > f->max - f->min + 1)
                return iv_err_set(e, IV_EINVAL, "cron %s field '%s': step %ld must be 1-%d",
                                  f->name, text, sv, f->max - f->min + 1);
            step = (int)sv;
        }
        for (int v = lo; v <= hi; v += step)
            *mask |= 1ULL << v;
        if (*p == ',') {
            p++;
            if (*p == '\0')
                return iv_err_set(e, IV_EINVAL, "cron %s field '%s': trailing comma", f->name,
                                  text);
            continue;
        }
        if (*p == '\0')
            break;
        return iv_err_set(e, IV_EINVAL, "cron %s field '%s': unexpected character '%c'", f->name,
                          text, *p);
    }
    return IV_OK;
}

static const struct {
    const char *name;
    const char *expansion;
} macros[] = {
    {"@hourly", "0 * * * *"},   {"@daily", "0 0 * * *"},   {"@midnight", "0 0 * * *"},
    {"@weekly", "0 0 * * 0"},   {"@monthly", "0 0 1 * *"}, {"@yearly", "0 0 1 1 *"},
    {"@annually", "0 0 1 1 *"},
};

/* Under the AND rule (either day field is '*'), is there a month in the set with a day of
 * the month in the set? ("0 0 31 2 *" has none: such a schedule would never run.) */
static bool some_month_has_a_day(const struct cron_expr *c)
{
    static const unsigned days_in[13] = {0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    for (unsigned m = 1; m <= 12; m++) {
        if (!((c->months >> m) & 1))
            continue;
        for (unsigned d = 1; d <= days_in[m]; d++)
            if ((c->mdays >> d) & 1)
                return true;
    }
    return false;
}

int cron_parse(const char *text, struct cron_expr *out, struct iv_err *e)
{
    if (!text)
        return iv_err_set(e, IV_EINVAL, "cron expression is missing");
    size_t tl = strlen(text);
    if (tl == 0 || tl > 512)
        return iv_err_set(e, IV_EINVAL, "cron expression is empty or too long");
    while (*text == ' ' || *text == '\t')
        text++;
    if (*text == '@') {
        char word[16];
        size_t n = 0;
        while (text[n] && text[n] != ' ' && text[n] != '\t' && n < sizeof word - 1) {
            word[n] = text[n];
            n++;
        }
        word[n] = '\0';
        const char *rest = text + n;
        while (*rest == ' ' || *rest == '\t')
            rest++;
        for (size_t i = 0; i < sizeof macros / sizeof macros[0]; i++)
            if (strcasecmp(word, macros[i].name) == 0 && *rest == '\0')
                return cron_parse(macros[i].expansion, out, e);
        return iv_err_set(e, IV_EINVAL, "cron expression '%.64s': unknown macro (use @hourly, "
                          "@daily, @midnight, @weekly, @monthly, @yearly or @annually)", text);
    }

    char buf[513];
    snprintf(buf, sizeof buf, "%s", text);
    char *parts[6];
    int nparts = 0;
    char *save = NULL;
    for (char *tok = strtok_r(buf, " \t\r\n", &save); tok;
         tok = strtok_r(NULL, " \t\r\n", &save)) {
        if (nparts == 6) {
            nparts++;
            break;
        }
        parts[nparts++] = tok;
    }
    if (nparts != 5)
        return iv_err_set(e, IV_EINVAL, "cron expression '%.64s' has %s%d fields; 5 required "
                          "(minute hour day-of-month month day-of-week)", text,
                          nparts > 6 ? "more than " : "", nparts > 6 ? 6 : nparts);

    struct cron_expr c;
    memset(&c, 0, sizeof c);
    uint64_t m[5];
    bool star[5];
    for (int i = 0; i < 5; i++) {
        int rc = parse_field(&fields[i], parts[i], &m[i], &star[i], e);
        if (rc)
            return rc;
    }
    c.minutes = m[0];
    c.hours = (uint32_t)m[1];
    c.mdays = (uint32_t)m[2];
    c.months = (uint16_t)m[3];
    c.wdays = (uint8_t)((m[4] & 0x7f) | ((m[4] >> 7) & 1));   /* 7 folds to Sunday */
    c.mday_star = star[2];
    c.wday_star = star[4];
    if ((c.mday_star || c.wday_star) && !some_month_has_a_day(&c))
        return iv_err_set(e, IV_EINVAL, "cron expression '%.64s' can never fire: none of its "
                          "days of the month occurs in its months", text);
    *out = c;
    return IV_OK;
}

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    if ((a % b != 0) && ((a < 0) != (b < 0)))
        q--;
    return q;
}

static bool day_matches(const struct cron_expr *c, unsigned mday, int wday)
{
    bool dom = (c->mdays >> mday) & 1;
    bool dow = (c->wdays >> wday) & 1;
    if (c->mday_star || c->wday_star)
        return dom && dow;
    return dom || dow;
}

int64_t cron_next(const struct cron_expr *c, int64_t after_s)
{
    if (!c->minutes || !c->hours || !c->mdays || !c->months || !c->wdays)
        return -1;
    int64_t limit = after_s + CRON_HORIZON_S;
    int64_t t = (floor_div(after_s, 60) + 1) * 60;   /* strictly after, whole minutes */
    while (t <= limit) {
        int64_t days = floor_div(t, 86400);
        int64_t sod = t - days * 86400;
        int hour = (int)(sod / 3600);
        int minute = (int)((sod % 3600) / 60);
        int64_t y;
        unsigned mon, mday;
        civil_from_days(days, &y, &mon, &mday);

        if (!((c->months >> mon) & 1)) {
            /* first day of the next month, 00:00 */
            unsigned nm = mon == 12 ? 1 : mon + 1;
            int64_t ny = mon == 12 ? y + 1 : y;
            t = days_from_civil(ny, nm, 1) * 86400;
            continue;
        }
        int wday = (int)((days % 7 + 7 + 4) % 7);   /* 1970-01-01 was a Thursday */
        if (!day_matches(c, mday, wday)) {
            t = (days + 1) * 86400;
            continue;
        }
        if (!((c->hours >> hour) & 1)) {
            t = days * 86400 + (int64_t)(hour + 1) * 3600;
            continue;
        }
        uint64_t rest = c->minutes & (~0ULL << minute) & ((1ULL << 60) - 1);
        if (!rest) {
            t = days * 86400 + (int64_t)(hour + 1) * 3600;
            continue;
        }
        int nm = __builtin_ctzll(rest);
        t = days * 86400 + (int64_t)hour * 3600 + (int64_t)nm * 60;
        return t;
    }
    return -1;
}

int64_t cron_next_text(const char *text, int64_t after_s)
{
    struct cron_expr c;
    if (cron_parse(text, &c, NULL) != IV_OK)
        return -1;
    return cron_next(&c, after_s);
}

int64_t backoff_next_retry(int failures, int64_t now_s, int64_t cap_at_s)
{
    if (failures < 1)
        failures = 1;
    int64_t delay = 3600;
    if (failures <= 7) {
        delay = 60LL << (failures - 1);
        if (delay > 3600)
            delay = 3600;
    }
    int64_t at = now_s + delay;
    if (cap_at_s > 0 && cap_at_s < at)
        at = cap_at_s < now_s ? now_s : cap_at_s;
    return at;
}
