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
WORK=$(mktemp -d /tmp/ivory-bench-sched.XXXXXX)
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
AS_PG=()
cleanup() {
    if [ -f "$WORK/pg/data/postmaster.pid" ]; then
        "${AS_PG[@]}" "$PG_BIN/pg_ctl" -D "$WORK/pg/data" -m fast -w stop >/dev/null 2>&1 || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

echo "== SQLite (synchronous=FULL, WAL) =="
bench/scheduler/bench_sched "sqlite:$WORK/sched.db" "$N"

PG_URL=${BENCH_PG_URL:-}
if [ -z "$PG_URL" ]; then
    [ -x "$PG_BIN/initdb" ] || { echo "no PostgreSQL binaries in $PG_BIN: PostgreSQL skipped"; exit 0; }
    mkdir -p "$WORK/pg"
    if [ "$(id -u)" -eq 0 ]; then chown postgres "$WORK" "$WORK/pg"; AS_PG=(runuser -u postgres --); fi
    PORT=$(node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
    "${AS_PG[@]}" "$PG_BIN/initdb" -D "$WORK/pg/data" -U ivory --auth=trust -E UTF8 >/dev/null
    "${AS_PG[@]}" "$PG_BIN/pg_ctl" -D "$WORK/pg/data" -l "$WORK/pg/pg.log" -w \
        -o "-p $PORT -k $WORK/pg -c listen_addresses=127.0.0.1" start >/dev/null
    PG_URL="postgresql://ivory@127.0.0.1:$PORT/postgres"
fi
echo "== PostgreSQL (default settings, fsync on) =="
bench/scheduler/bench_sched "$PG_URL" "$N"
