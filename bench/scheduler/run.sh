#!/usr/bin/env bash
# bench/scheduler/run.sh — the scheduler's store paths on SQLite and PostgreSQL side by side
# (bench_sched.c: poll cycle at N connectors, claims/s with 4 runners, webhook effects/s,
# trigger -> claim latency). Prints figures; asserts nothing.
# Usage: bench/scheduler/run.sh [N]   (default 100000 connectors)
# PostgreSQL: BENCH_PG_URL (a server the bench may create databases in: use a scratch one),
# else a throwaway cluster started here (initdb from PG_BIN, fsync on, as the dev box would
# run it). BENCH_PEER: another bench_sched binary (e.g. built from an older tree, see
# docs/performance.md "Scheduler and claims") measured right after this one on each backend,
# each on a fresh database, so the two are compared under the same machine load.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
N=${1:-100000}
cd "$ROOT"
make -s ivory >/dev/null
make -s -C bench/scheduler >/dev/null
. bench/pg-cluster.sh
WORK=$(mktemp -d /tmp/ivory-bench-sched.XXXXXX)
trap 'bench_pg_stop "$WORK/pg"; rm -rf "$WORK"' EXIT
BINS=(bench/scheduler/bench_sched)
[ -n "${BENCH_PEER:-}" ] && BINS+=("$BENCH_PEER")

uptime
for b in "${BINS[@]}"; do
    echo "== SQLite (synchronous=FULL, WAL): $b =="
    rm -f "$WORK"/sched.db*
    "$b" "sqlite:$WORK/sched.db" "$N"
done

if [ -z "${BENCH_PG_URL:-}" ]; then
    bench_pg_start "$WORK/pg" || { echo "PostgreSQL skipped"; exit 0; }
fi
i=0
for b in "${BINS[@]}"; do
    i=$((i + 1))
    db="ivory_bench_sched_$$_$i"
    psql -q "$BENCH_PG_URL" -c "CREATE DATABASE $db" >/dev/null
    echo "== PostgreSQL (default settings, fsync on): $b =="
    "$b" "${BENCH_PG_URL%/*}/$db" "$N"
    psql -q "$BENCH_PG_URL" -c "DROP DATABASE $db" >/dev/null
done
uptime
