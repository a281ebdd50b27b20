#!/bin/bash
# bench/runner/run.sh — end-to-end rows/s of one connector sync through the runner
# (`ivory serve`: claim -> spawn tap -> Singer loader -> Iceberg commit -> webhook) against
# the same Singer stream piped straight into `ivory target-iceberg`. Prints figures; asserts
# nothing. Usage: bench/runner/run.sh [ROWS]   (default 1000000)
#
# The tap (bench/runner/tap-replay) copies a prepared file (bench/target/gen.mjs: 10 mixed-type
# fields, STATE every 100k rows), so both paths read identical bytes and the tap costs ~nothing.
# Runner time = trigger POST -> run row 'completed' (polled every 20 ms; poll interval 0.05 s),
# so it includes the claim, the config decryption, the webhook and the store updates.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
IVORY="$ROOT/ivory"
[ -x "$IVORY" ] || { echo "build ivory first (make)" >&2; exit 1; }
N=${1:-1000000}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/ivory-bench-runner-XXXXXX")
SERVE_PID=
cleanup() { [ -n "$SERVE_PID" ] && kill "$SERVE_PID" 2>/dev/null; wait 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT
cd "$ROOT"
node bench/target/gen.mjs "$N" "$WORK/in.jsonl" "$WORK/rec.jsonl" >/dev/null
rm -f "$WORK/rec.jsonl"
mkdir -p "$WORK/taps" "$WORK/tmp"
cp bench/runner/tap-replay "$WORK/taps/"
BATCH=1000000
now() { date +%s.%N; }

# 1. tap | ivory target-iceberg
printf '{"file":"%s"}\n' "$WORK/in.jsonl" > "$WORK/tap.json"
printf '{"catalog_type":"hadoop","warehouse":"file://%s/wh1","namespace":"bench","table":"orders","batch_rows":%d}\n' \
    "$WORK" "$BATCH" > "$WORK/target.json"
sync
T0=$(now)
"$WORK/taps/tap-replay" --config "$WORK/tap.json" | "$IVORY" target-iceberg --config "$WORK/target.json" \
    > /dev/null 2> "$WORK/target.err" || { cat "$WORK/target.err" >&2; exit 1; }
T1=$(now)
PIPE_S=$(echo "$T1 - $T0" | bc -l)

# 2. the runner inside ivory serve
PORT=$(( 20000 + RANDOM % 20000 ))
export IVORY_DATA_DIR="$WORK/var" IVORY_DB="sqlite:$WORK/var/ivory.db" IVORY_LISTEN="127.0.0.1:$PORT"
export IVORY_JWT_SECRET=bench-secret-bench-secret-bench-secret IVORY_POLL_INTERVAL=0.05
export IVORY_FIRST_RUN_DELAY=3600 IVORY_TAP_PATH="$WORK/taps" TMPDIR="$WORK/tmp"
export IVORY_CONFIG_KEY=$(head -c 32 /dev/urandom | base64) IVORY_CHECKPOINT_ROWS=$BATCH IVORY_CHECKPOINT_SECONDS=300
mkdir -p "$WORK/var"
TEN=$("$IVORY" tenant create --slug bench-runner)
TOKEN=$(echo "$TEN" | sed 's/.*"token":"\([^"]*\)".*/\1/')
TID=$(echo "$TEN" | sed 's/.*"id":"\([^"]*\)".*/\1/')
"$IVORY" serve 2> "$WORK/serve.err" &
SERVE_PID=$!
API="http://127.0.0.1:$PORT"
for _ in $(seq 100); do curl -sf "$API/healthz" >/dev/null && break; sleep 0.05; done
H=(-H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json')
curl -sf "${H[@]}" -X POST "$API/v1/admin/tenants/$TID/catalog" \
    -d "{\"catalog_type\":\"hadoop\",\"warehouse\":\"file://$WORK/wh2\",\"storage_prefix\":\"p\"}" >/dev/null
CFG=$("$IVORY" config encrypt < "$WORK/tap.json")
CID=$(curl -sf "${H[@]}" -X POST "$API/v1/admin/connectors" -d "{\"source_system\":\"bench\",\
\"tap_name\":\"tap-replay\",\"connector_type\":\"custom\",\"destination_catalog\":\"ivory-lakehouse\",\
\"destination_table\":\"orders\",\"sync_schedule\":\"@yearly\",\"config_encrypted\":\"$CFG\"}" \
    | sed 's/.*"id":"\([^"]*\)".*/\1/' | head -c 36)
sync
T0=$(now)
curl -sf "${H[@]}" -X POST "$API/v1/admin/connectors/$CID/trigger" >/dev/null
while :; do
    R=$(curl -sf "${H[@]}" "$API/v1/admin/connectors/$CID/runs?limit=1")
    case "$R" in *'"status":"completed"'*|*'"status":"failed"'*) break ;; esac
    sleep 0.02
done
T1=$(now)
case "$R" in *'"status":"failed"'*) echo "run failed: $R" >&2; exit 1 ;; esac
RUN_S=$(echo "$T1 - $T0" | bc -l)
LOADED=$(echo "$R" | sed 's/.*"rows_loaded":\([0-9]*\).*/\1/')
[ "$LOADED" = "$N" ] || { echo "run loaded $LOADED rows, expected $N" >&2; exit 1; }

awk -v n="$N" -v p="$PIPE_S" -v r="$RUN_S" 'BEGIN {
    printf "%-34s %10s %12s\n", "path", "seconds", "rows/s"
    printf "%-34s %10.2f %12.0f\n", "tap | ivory target-iceberg", p, n / p
    printf "%-34s %10.2f %12.0f\n", "runner (trigger -> completed)", r, n / r
    printf "runner overhead: %+.2f s (%+.1f %%)\n", r - p, (r - p) / p * 100 }'
