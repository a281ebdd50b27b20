#!/bin/bash
# bench/runner/run.sh — end-to-end rows/s of one connector sync through the runner
# (`ivory serve`: claim -> spawn tap -> Singer loader -> Iceberg commit -> webhook) against
# the same Singer stream piped straight into `ivory target-iceberg`. Prints figures; asserts
# nothing. Usage: bench/runner/run.sh [ROWS] [REPS]   (defaults 1000000 5)
#
# The tap (bench/runner/tap-replay) copies a prepared file (bench/target/gen.mjs: 10 mixed-type
# fields, STATE every 100k rows), so both paths read identical bytes and the tap costs ~nothing.
# Runner time = trigger POST -> run row 'completed' (polled every 20 ms; poll interval 0.05 s),
# so it includes the claim, the config decryption, the webhook and the store updates.
# The two paths alternate REPS times on one server (each runner run loads the N rows again, as
# the replay tap ignores its state); the best and the median of each are printed, because a
# shared box's load swings single figures by tens of percent.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
IVORY="$ROOT/ivory"
[ -x "$IVORY" ] || { echo "build ivory first (make)" >&2; exit 1; }
N=${1:-1000000}
REPS=${2:-5}
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

printf '{"file":"%s"}\n' "$WORK/in.jsonl" > "$WORK/tap.json"
pipe_once() {   # prints seconds
    rm -rf "$WORK/wh1"
    printf '{"catalog_type":"hadoop","warehouse":"file://%s/wh1","namespace":"bench","table":"orders","batch_rows":%d}\n' \
        "$WORK" "$BATCH" > "$WORK/target.json"
    sync
    local t0 t1
    t0=$(now)
    "$WORK/taps/tap-replay" --config "$WORK/tap.json" | "$IVORY" target-iceberg --config "$WORK/target.json" \
        > /dev/null 2> "$WORK/target.err" || { cat "$WORK/target.err" >&2; exit 1; }
    t1=$(now)
    echo "$t1 - $t0" | bc -l
}

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
# One long-lived Node process triggers and polls (fetch every 20 ms), so the measuring loop does not
# spawn processes (curl + grep per poll) that would steal CPU from the 2-core pipeline it measures.
runner_once() {   # $1 = runs finished so far; prints seconds
    sync
    API="$API" TOKEN="$TOKEN" CID="$CID" DONE="$1" N="$N" node --input-type=module -e '
        const { API, TOKEN, CID, DONE, N } = process.env;
        const h = { Authorization: `Bearer ${TOKEN}`, "Content-Type": "application/json" };
        const t0 = process.hrtime.bigint();
        const tr = await fetch(`${API}/v1/admin/connectors/${CID}/trigger`, { method: "POST", headers: h });
        if (tr.status !== 202) { console.error(`trigger: ${tr.status}`); process.exit(1); }
        for (;;) {
            const r = await (await fetch(`${API}/v1/admin/connectors/${CID}/runs?limit=200`, { headers: h })).json();
            if (r.runs.some((x) => x.status === "failed")) { console.error("run failed", JSON.stringify(r.runs[0])); process.exit(1); }
            const done = r.runs.filter((x) => x.status === "completed");
            if (!r.runs.some((x) => x.status === "running") && done.length > Number(DONE)) {
                const secs = Number(process.hrtime.bigint() - t0) / 1e9;
                if (r.runs[0].rows_loaded !== Number(N)) { console.error(`run loaded ${r.runs[0].rows_loaded} rows, expected ${N}`); process.exit(1); }
                console.log(secs.toFixed(3));
                break;
            }
            await new Promise((res) => setTimeout(res, 20));
        }'
}

P=(); R=()
for i in $(seq "$REPS"); do
    P+=("$(pipe_once)")
    R+=("$(runner_once $((i - 1)))")
done
HWM=$(awk '/VmHWM/ {print $2}' "/proc/$SERVE_PID/status")
printf '%s\n' "${P[@]}" > "$WORK/p.txt"; printf '%s\n' "${R[@]}" > "$WORK/r.txt"
stats() { sort -g "$1" | awk '{a[NR]=$1} END {printf "%s %s", a[1], a[int((NR+1)/2)]}'; }
read -r PMIN PMED <<< "$(stats "$WORK/p.txt")"
read -r RMIN RMED <<< "$(stats "$WORK/r.txt")"
awk -v n="$N" -v reps="$REPS" -v pmin="$PMIN" -v pmed="$PMED" -v rmin="$RMIN" -v rmed="$RMED" 'BEGIN {
    printf "%d rows, %d repetitions each (best / median)\n", n, reps
    printf "%-32s %8s %8s %12s %12s\n", "path", "best_s", "median_s", "best_rows/s", "median_rows/s"
    printf "%-32s %8.2f %8.2f %12.0f %12.0f\n", "tap | ivory target-iceberg", pmin, pmed, n / pmin, n / pmed
    printf "%-32s %8.2f %8.2f %12.0f %12.0f\n", "runner (trigger -> completed)", rmin, rmed, n / rmin, n / rmed
    printf "runner overhead: best %+.2f s (%+.1f %%), median %+.2f s (%+.1f %%)\n",
        rmin - pmin, (rmin - pmin) / pmin * 100, rmed - pmed, (rmed - pmed) / pmed * 100 }'
echo "ivory serve peak RSS over all runner runs: $((HWM / 1024)) MiB"
