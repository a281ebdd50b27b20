#!/usr/bin/python3
"""cron_oracle: the independent reference for tests/unit/test_cron.c.

Reads a file of lines "<expression>\t<epoch seconds>" and prints, per line, the
next fire time strictly after the instant as epoch seconds (UTC), computed by
croniter with day_or=True (Vixie's day-of-month OR day-of-week rule), or -1
when croniter finds no fire time. Run with Debian's /usr/bin/python3, which
has python3-croniter.

One croniter 1.3.5 defect is worked around: with both day fields restricted,
croniter evaluates "day-of-month with day-of-week = *" and "day-of-week with
day-of-month = *" and takes the earlier, but raises CroniterBadDateError when
the first branch can never fire (e.g. day 31 in November only), although the
second can. Vixie's OR is the union of the two, so on that error we ask
croniter for each branch separately and take the earliest that exists.
"""
import sys
from datetime import datetime, timezone

try:
    from croniter import croniter, CroniterBadDateError
except ImportError:
    sys.stderr.write("cron_oracle: croniter is missing; install python3-croniter\n")
    sys.exit(3)


def one(expr, start):
    try:
        it = croniter(expr, start, day_or=True, max_years_between_matches=8)
        return int(it.get_next(datetime).timestamp())
    except CroniterBadDateError:
        return None


def next_after(expr, start):
    got = one(expr, start)
    if got is not None:
        return got
    f = expr.split()
    if len(f) == 5 and not f[2].startswith("*") and not f[4].startswith("*"):
        branches = [one(" ".join(f[:4] + ["*"]), start),
                    one(" ".join(f[:2] + ["*"] + f[3:]), start)]
        found = [b for b in branches if b is not None]
        if found:
            return min(found)
    return -1


def main(path):
    out = []
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if not line:
                continue
            expr, t = line.split("\t")
            start = datetime.fromtimestamp(int(t), tz=timezone.utc)
            out.append(str(next_after(expr, start)))
    sys.stdout.write("\n".join(out) + "\n")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.stderr.write("usage: cron_oracle.py FILE\n")
        sys.exit(2)
    main(sys.argv[1])
