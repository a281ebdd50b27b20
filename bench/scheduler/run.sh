#!/usr/bin/env bash
# bench/scheduler/run.sh — the scheduler's store paths on SQLite and PostgreSQL side by side
# (bench_sched.c: poll cycle at N connectors, claims/s with 4 runners, webhook effects/s,
# trigger -> claim latency). Prints figures; asserts nothing.
# Usage: bench/scheduler/run.sh [N]   (default 100000 connectors)
# PostgreSQL: BENCH_PG_URL (a database the bench may fill: use a scratch one), else a
# throwaway cluster started here (initdb from PG_BIN, fsync on, as the dev box would run it).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
N=${1:-100000}
cd "$ROOT"
make -s ivory >/dev/null
make -s -C bench/scheduler >/dev/null
. bench/pg-cluster.sh
WORK=$(mktemp -d /tmp/ivory-bench-sched.XXXXXX)
trap 'bench_pg_stop "$WORK/pg"; rm -rf "$WORK"' EXIT

echo "== SQLite (synchronous=FULL, WAL) =="
bench/scheduler/bench_sched "sqlite:$WORK/sched.db" "$N"

if [ -z "${BENCH_PG_URL:-}" ]; then
    bench_pg_start "$WORK/pg" || { echo "PostgreSQL skipped"; exit 0; }
fi
echo "== PostgreSQL (default settings, fsync on) =="
bench/scheduler/bench_sched "$BENCH_PG_URL" "$N"
