#!/usr/bin/env bash
# bench/api/compare.sh — bench/api/run.sh on SQLite, then on a throwaway PostgreSQL cluster
# (bench/pg-cluster.sh), same knobs (BENCH_DURATION, BENCH_CONNECTIONS, BENCH_WRITERS,
# BENCH_TENANTS, BENCH_WRITES_ONLY ...). Each PostgreSQL run gets a fresh database.
# BENCH_IVORY_OLD=/path/to/an/older/ivory also measures that binary, right before the current
# one on each backend (old vs new in one run, e.g. a build of main from `git archive`).
# Prints every report; asserts nothing.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
. bench/pg-cluster.sh
PGD="$(mktemp -d /tmp/ivory-bench-pg.XXXXXX)"
trap 'bench_pg_stop "$PGD"; rm -rf "$PGD"' EXIT
make -s ivory
BINS=(); [ -n "${BENCH_IVORY_OLD:-}" ] && BINS+=("$BENCH_IVORY_OLD")
BINS+=("${BENCH_IVORY:-./ivory}")
for b in "${BINS[@]}"; do
    echo "===== SQLite, $b"
    BENCH_IVORY="$b" bash bench/api/run.sh
done
bench_pg_start "$PGD"
n=0
for b in "${BINS[@]}"; do
    n=$((n + 1))
    "$PG_BIN/psql" -q "$BENCH_PG_URL" -c "CREATE DATABASE bench_$n" >/dev/null
    echo "===== PostgreSQL, $b"
    BENCH_IVORY="$b" BENCH_DB="${BENCH_PG_URL%/postgres}/bench_$n" bash bench/api/run.sh
done
