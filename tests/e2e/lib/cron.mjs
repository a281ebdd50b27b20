// cron.mjs — the reference "next fire time" for schedule assertions, computed by an
// independent implementation (Debian's python3-croniter, UTC, Vixie day-of-month/day-of-week
// OR rule), never by the code under test.
import { spawnSync } from 'node:child_process';

const PY = `
import sys, datetime
from croniter import croniter
expr, after = sys.argv[1], float(sys.argv[2])
base = datetime.datetime.fromtimestamp(after, tz=datetime.timezone.utc)
print(int(croniter(expr, base).get_next(float)))
`;

// Epoch milliseconds of the first fire strictly after `after` (a Date or ms number).
export function cronNext(expr, after) {
    const ms = after instanceof Date ? after.getTime() : after;
    const r = spawnSync('/usr/bin/python3', ['-c', PY, expr, String(ms / 1000)], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`croniter failed for '${expr}': ${r.stderr}`);
    return Number(r.stdout.trim()) * 1000;
}

export const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z$/;
