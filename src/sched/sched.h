/*
 * sched: cron expressions (5 fields, names, ranges, lists, steps, @macros),
 * evaluated in UTC with Vixie cron's day-of-month / day-of-week OR rule, and
 * the retry backoff policy after a failed run.
 */
#ifndef IVORY_SCHED_H
#define IVORY_SCHED_H

#include "util/util.h"

struct cron_expr {
    uint64_t minutes;   /* bit i = minute i (0-59) */
    uint32_t hours;     /* 0-23 */
    uint32_t mdays;     /* bit d = day d (1-31) */
    uint16_t months;    /* bit m = month m (1-12) */
    uint8_t wdays;      /* bit w = weekday w (0=Sunday .. 6); 7 folds to 0 */
    bool mday_star;     /* field was '*' (or '*' with step) -> AND/OR rule */
    bool wday_star;
};

/* Parses; on error IV_EINVAL and e->msg names the field and the problem. */
int cron_parse(const char *text, struct cron_expr *out, struct iv_err *e);
/* Smallest fire time strictly greater than after_s (epoch seconds, UTC).
 * Returns -1 if none within 8 years (e.g. "0 0 30 2 *"). */
int64_t cron_next(const struct cron_expr *c, int64_t after_s);
/* Convenience: parse + next. -1 on parse error. */
int64_t cron_next_text(const char *text, int64_t after_s);

/* Backoff after the n-th consecutive failure (n >= 1): 60 s * 2^(n-1), capped at
 * 1 h, and never later than the next cron fire time (cap_at_s, epoch s; <= 0 = no cap).
 * Returns the epoch second of the retry. */
int64_t backoff_next_retry(int failures, int64_t now_s, int64_t cap_at_s);

#endif
