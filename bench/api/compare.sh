#!/usr/bin/env bash
# bench/api/compare.sh — bench/api/run.sh on SQLite, then on a throwaway PostgreSQL cluster
# (bench/pg-cluster.sh), same knobs (BENCH_DURATION, BENCH_CONNECTIONS, BENCH_WRITERS ...).
# Prints both reports; asserts nothing.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
. bench/pg-cluster.sh
PGD="$(mktemp -d /tmp/ivory-bench-pg.XXXXXX)"
trap 'bench_pg_stop "$PGD"; rm -rf "$PGD"' EXIT
echo "===== SQLite"
bash bench/api/run.sh
bench_pg_start "$PGD"
echo "===== PostgreSQL"
BENCH_DB="$BENCH_PG_URL" bash bench/api/run.sh
