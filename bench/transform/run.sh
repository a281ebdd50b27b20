#!/bin/bash
# bench/transform/run.sh — rows/s of a 10-column sync through the runner with field mappings
# (5 of the 10 columns transformed by expressions) against the same sync passthrough, and
# against DuckDB doing the same projection in SQL (read_json -> COPY ... TO parquet, zstd).
# Prints figures; asserts nothing. Usage: bench/transform/run.sh [ROWS] [REPS] [PATHS]
# (defaults 1000000 3 pass,mapped,duck; e.g. `4000000 1 pass,duck` for the 4M passthrough
# figure). Same records for all three (bench/target/gen.mjs, seeded), same run.
#
# Runner times are trigger POST -> run 'completed' (so claim, webhook and store updates are
# in), with the replay tap (bench/runner/tap-replay) so the tap costs ~nothing. The paths
# alternate REPS times on one server; best and median are printed (a shared box swings).
# The tap sandbox is off here (the replay tap reads the prepared file from the work dir).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
IVORY="${IVORY_BIN:-$ROOT/ivory}"   # IVORY_BIN: another build to compare (e.g. an older one)
[ -x "$IVORY" ] || { echo "build ivory first (make)" >&2; exit 1; }
N=${1:-1000000}
REPS=${2:-3}
PATHS=${3:-pass,mapped,duck}
has() { [[ ",$PATHS," == *",$1,"* ]]; }
WORK=$(mktemp -d "${TMPDIR:-/tmp}/ivory-bench-transform-XXXXXX")
SERVE_PID=
cleanup() { [ -n "$SERVE_PID" ] && kill "$SERVE_PID" 2>/dev/null; wait 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT
cd "$ROOT"
node bench/target/gen.mjs "$N" "$WORK/in.jsonl" "$WORK/rec.jsonl" >/dev/null
mkdir -p "$WORK/taps" "$WORK/tmp" "$WORK/var"
cp bench/runner/tap-replay "$WORK/taps/"
printf '{"file":"%s"}\n' "$WORK/in.jsonl" > "$WORK/tap.json"

PORT=$(( 20000 + RANDOM % 20000 ))
export IVORY_DATA_DIR="$WORK/var" IVORY_DB="sqlite:$WORK/var/ivory.db" IVORY_LISTEN="127.0.0.1:$PORT"
export IVORY_JWT_SECRET=bench-secret-bench-secret-bench-secret IVORY_POLL_INTERVAL=0.05
export IVORY_FIRST_RUN_DELAY=3600 IVORY_TAP_PATH="$WORK/taps" TMPDIR="$WORK/tmp"
export IVORY_WAREHOUSE_ROOT="$WORK" IVORY_TAP_SANDBOX=off
export IVORY_CONFIG_KEY=$(head -c 32 /dev/urandom | base64) IVORY_CHECKPOINT_ROWS=1000000 IVORY_CHECKPOINT_SECONDS=300
TEN=$("$IVORY" tenant create --slug bench-transform)
TOKEN=$(echo "$TEN" | sed 's/.*"token":"\([^"]*\)".*/\1/')
TID=$(echo "$TEN" | sed 's/.*"id":"\([^"]*\)".*/\1/')
"$IVORY" serve 2> "$WORK/serve.err" &
SERVE_PID=$!
API="http://127.0.0.1:$PORT"
for _ in $(seq 100); do curl -sf "$API/healthz" >/dev/null && break; sleep 0.05; done
H=(-H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json')
curl -sf "${H[@]}" -X POST "$API/v1/admin/tenants/$TID/catalog" \
    -d "{\"catalog_type\":\"hadoop\",\"warehouse\":\"file://$WORK/wh\",\"storage_prefix\":\"p\"}" >/dev/null
CFG=$("$IVORY" config encrypt < "$WORK/tap.json")
register() {   # $1 = table
    curl -sf "${H[@]}" -X POST "$API/v1/admin/connectors" -d "{\"source_system\":\"bench\",\
\"tap_name\":\"tap-replay\",\"connector_type\":\"custom\",\"destination_catalog\":\"ivory-lakehouse\",\
\"destination_table\":\"$1\",\"sync_schedule\":\"@yearly\",\"config_encrypted\":\"$CFG\"}" \
        | sed 's/.*"id":"\([^"]*\)".*/\1/' | head -c 36
}
PASS=$(register orders_pass)
MAPPED=$(register orders_mapped)
curl -sf "${H[@]}" -X PUT "$API/v1/admin/connectors/$MAPPED/mappings" -d @- >/dev/null <<'JSON'
{"mappings": [
 {"source_stream": "orders", "source_field": "id", "target_column": "id", "target_type": "long"},
 {"source_stream": "orders", "source_field": "customer_id", "target_column": "customer_ref", "target_type": "string", "transform_fn": "f'C{value:07d}'"},
 {"source_stream": "orders", "source_field": "name", "target_column": "name", "target_type": "string", "transform_fn": "value.upper()"},
 {"source_stream": "orders", "source_field": "email", "target_column": "email", "target_type": "string", "transform_fn": "value.lower()"},
 {"source_stream": "orders", "source_field": "amount", "target_column": "amount_cents", "target_type": "long", "transform_fn": "round(value * 100)"},
 {"source_stream": "orders", "source_field": "quantity", "target_column": "quantity", "target_type": "long"},
 {"source_stream": "orders", "source_field": "paid", "target_column": "paid", "target_type": "boolean"},
 {"source_stream": "orders", "source_field": "created_at", "target_column": "created_at", "target_type": "timestamptz"},
 {"source_stream": "orders", "source_field": "ship_date", "target_column": "ship_date", "target_type": "date"},
 {"source_stream": "orders", "source_field": "note", "target_column": "note_len", "target_type": "long", "transform_fn": "len(value) if value else 0"}
]}
JSON

runner_once() {   # $1 = connector id; prints seconds
    sync
    API="$API" TOKEN="$TOKEN" CID="$1" N="$N" node --input-type=module -e '
        const { API, TOKEN, CID, N } = process.env;
        const h = { Authorization: `Bearer ${TOKEN}`, "Content-Type": "application/json" };
        const runs = async () => (await (await fetch(`${API}/v1/admin/connectors/${CID}/runs?limit=200`, { headers: h })).json()).runs;
        const before = (await runs()).filter((x) => x.status === "completed").length;
        const t0 = process.hrtime.bigint();
        const tr = await fetch(`${API}/v1/admin/connectors/${CID}/trigger`, { method: "POST", headers: h });
        if (tr.status !== 202) { console.error(`trigger: ${tr.status}`); process.exit(1); }
        for (;;) {
            const r = await runs();
            if (r.some((x) => x.status === "failed")) { console.error("run failed", JSON.stringify(r[0])); process.exit(1); }
            if (!r.some((x) => x.status === "running") && r.filter((x) => x.status === "completed").length > before) {
                const secs = Number(process.hrtime.bigint() - t0) / 1e9;
                if (r[0].rows_loaded !== Number(N)) { console.error(`loaded ${r[0].rows_loaded}, expected ${N}`); process.exit(1); }
                console.log(secs.toFixed(3));
                break;
            }
            await new Promise((res) => setTimeout(res, 20));
        }'
}

duckdb_once() {   # prints seconds
    sync
    REC="$WORK/rec.jsonl" OUT="$WORK/duck.parquet" node --input-type=module -e '
        import { DuckDBInstance } from "@duckdb/node-api";
        const db = await DuckDBInstance.create(":memory:");
        const c = await db.connect();
        const t0 = process.hrtime.bigint(), c0 = process.cpuUsage();
        await c.run(`COPY (SELECT id, concat(chr(67), lpad(CAST(customer_id AS VARCHAR), 7, chr(48))) AS customer_ref,
            upper(name) AS name, lower(email) AS email, CAST(round(amount * 100) AS BIGINT) AS amount_cents,
            quantity, paid, CAST(created_at AS TIMESTAMPTZ) AS created_at, CAST(ship_date AS DATE) AS ship_date,
            coalesce(length(note), 0) AS note_len
            FROM read_json(${JSON.stringify(process.env.REC)}, format = ${"\x27"}newline_delimited${"\x27"}))
            TO ${JSON.stringify(process.env.OUT).replaceAll("\"", "\x27")} (FORMAT parquet, COMPRESSION zstd)`.replaceAll("\"", "\x27"));
        const cpu = process.cpuUsage(c0);
        console.log((Number(process.hrtime.bigint() - t0) / 1e9).toFixed(3), ((cpu.user + cpu.system) / 1e6).toFixed(3));'
}

TCK=$(getconf CLK_TCK)
serve_cpu() { awk -v t="$TCK" '{printf "%.3f", ($14 + $15) / t}' "/proc/$SERVE_PID/stat"; }
runner_timed() {   # $1 = connector id; prints "wall_s cpu_s" (cpu: ivory serve's own CPU)
    local c0 w c1
    c0=$(serve_cpu); w=$(runner_once "$1"); c1=$(serve_cpu)
    echo "$w $(awk -v a="$c0" -v b="$c1" 'BEGIN {printf "%.3f", b - a}')"
}
P=(); M=(); D=()
for _ in $(seq "$REPS"); do
    if has pass; then P+=("$(runner_timed "$PASS")"); else P+=("0 0"); fi
    if has mapped; then M+=("$(runner_timed "$MAPPED")"); else M+=("0 0"); fi
    if has duck; then D+=("$(duckdb_once)"); else D+=("0 0"); fi
done
HWM=$(awk '/VmHWM/ {print $2}' "/proc/$SERVE_PID/status")
printf '%s\n' "${P[@]}" > "$WORK/p.txt"; printf '%s\n' "${M[@]}" > "$WORK/m.txt"; printf '%s\n' "${D[@]}" > "$WORK/d.txt"
stats() { sort -g "$1" | awk '{a[NR]=$1; c[NR]=$2} END {printf "%s %s %s", a[1], a[int((NR+1)/2)], c[int((NR+1)/2)]}'; }
read -r PMIN PMED PCPU <<< "$(stats "$WORK/p.txt")"
read -r MMIN MMED MCPU <<< "$(stats "$WORK/m.txt")"
read -r DMIN DMED DCPU <<< "$(stats "$WORK/d.txt")"
awk -v n="$N" -v reps="$REPS" -v pmin="$PMIN" -v pmed="$PMED" -v mmin="$MMIN" -v mmed="$MMED" \
    -v dmin="$DMIN" -v dmed="$DMED" -v pc="$PCPU" -v mc="$MCPU" -v dc="$DCPU" 'BEGIN {
    printf "%d rows, 10 columns, %d repetitions each (best / median)\n", n, reps
    printf "%-40s %8s %8s %12s %12s %10s\n", "path", "best_s", "median_s", "best_rows/s", "median_rows/s", "cpu_s(med)"
    if (pmin > 0) printf "%-40s %8.2f %8.2f %12.0f %12.0f %10.2f\n", "runner passthrough", pmin, pmed, n / pmin, n / pmed, pc
    if (mmin > 0) printf "%-40s %8.2f %8.2f %12.0f %12.0f %10.2f\n", "runner with mappings (5 transformed)", mmin, mmed, n / mmin, n / mmed, mc
    if (dmin > 0) printf "%-40s %8.2f %8.2f %12.0f %12.0f %10.2f\n", "duckdb read_json -> COPY parquet", dmin, dmed, n / dmin, n / dmed, dc
    printf "(cpu_s: CPU seconds of ivory serve itself (both stages; the replay tap not counted) or of the DuckDB process)\n"
    if (pmin > 0 && mmin > 0) printf "transformed / passthrough (best): %.2fx; CPU per row mapped / passthrough: %.2fx\n", pmin / mmin, mc / pc
    if (pmin > 0 && dmin > 0) printf "passthrough / duckdb (best): %.2fx\n", dmin / pmin }'
echo "ivory serve peak RSS over all runs: $((HWM / 1024)) MiB"
