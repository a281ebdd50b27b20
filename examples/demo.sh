#!/bin/bash
# examples/demo.sh — the README walk-through, runnable: `ivory serve` on the embedded default,
# a tenant with a local hadoop catalog, a connector for the bundled tap-csv, two syncs (a full
# load, then an incremental one that picks up two new rows), and the rows read back with
# `ivory table show`. Everything lives in a temporary directory (kept with KEEP=1).
# Needs: a built ./ivory (make), curl, python3. Usage: examples/demo.sh   (or: make demo)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
IVORY="$ROOT/ivory"
[ -x "$IVORY" ] || { echo "build ivory first: make" >&2; exit 1; }
for t in curl python3; do command -v $t >/dev/null || { echo "demo needs $t" >&2; exit 1; }; done
DEMO=$(mktemp -d "${TMPDIR:-/tmp}/ivory-demo-XXXXXX")
SERVE=
cleanup() {
    [ -n "$SERVE" ] && kill "$SERVE" 2>/dev/null && wait "$SERVE" 2>/dev/null
    [ "${KEEP:-0}" = 1 ] && echo "(kept $DEMO)" || rm -rf "$DEMO"
}
trap cleanup EXIT
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
json() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }

PORT=${PORT:-18080}
export IVORY_DATA_DIR="$DEMO/var" IVORY_DB="sqlite:$DEMO/var/ivory.db" IVORY_LISTEN="127.0.0.1:$PORT"
export IVORY_JWT_SECRET=$(head -c 24 /dev/urandom | base64)
export IVORY_CONFIG_KEY=$(head -c 32 /dev/urandom | base64)      # shared by client and runner
export IVORY_TAP_PATH="$ROOT/examples/taps"                      # where tap-csv lives
export IVORY_POLL_INTERVAL=1 IVORY_FIRST_RUN_DELAY=3600
export IVORY_TAP_DATA_DIRS="$DEMO/data"   # the only host files the sandboxed tap may read
export IVORY_WAREHOUSE_ROOT="$DEMO/warehouse"   # tenants' file:// warehouses must lie below
mkdir -p "$IVORY_DATA_DIR" "$DEMO/data"
cp "$ROOT/examples/data/customers.csv" "$DEMO/data/customers.csv"
API="http://127.0.0.1:$PORT"

step "1. a tenant and its dev token"
TENANT_JSON=$("$IVORY" tenant create --slug acme)
TOKEN=$(echo "$TENANT_JSON" | json 'd["token"]')
TENANT=$(echo "$TENANT_JSON" | json 'd["id"]')
echo "tenant $TENANT (slug acme)"
H=(-H "Authorization: Bearer $TOKEN" -H "Content-Type: application/json")

step "2. ivory serve (API + scheduler + runner)"
"$IVORY" serve 2> "$DEMO/serve.log" &
SERVE=$!
for _ in $(seq 100); do curl -sf "$API/healthz" >/dev/null && break; sleep 0.1; done
echo "listening on $API (log: $DEMO/serve.log)"

step "3. provision a local hadoop catalog"
curl -sf "${H[@]}" -X POST "$API/v1/admin/tenants/$TENANT/catalog" -d "{\"catalog_name\":\"ivory-lakehouse\",
  \"catalog_type\":\"hadoop\",\"warehouse\":\"file://$DEMO/warehouse\",\"storage_prefix\":\"acme\"}" \
  | json '"catalog %s (%s) -> %s/%s" % (d["catalog_name"], d["catalog_type"], d["warehouse"], d["storage_prefix"])'

step "4. register a connector for tap-csv (its config encrypted with IVORY_CONFIG_KEY)"
CONFIG=$(printf '{"files":[{"stream":"customers","path":"%s","key_properties":["id"],"replication_key":"updated_at"}]}' \
  "$DEMO/data/customers.csv" | "$IVORY" config encrypt)
CONN=$(curl -sf "${H[@]}" -X POST "$API/v1/admin/connectors" -d "{\"source_system\":\"crm\",
  \"tap_name\":\"tap-csv\",\"connector_type\":\"custom\",\"destination_catalog\":\"ivory-lakehouse\",
  \"destination_table\":\"customers\",\"sync_schedule\":\"0 * * * *\",\"config_encrypted\":\"$CONFIG\"}")
CID=$(echo "$CONN" | json 'd["id"]')
echo "$CONN" | json '"connector %s: %s -> %s.%s, next run %s" % (d["id"], d["tap_name"], d["iomete_namespace"], d["iomete_table"], d["next_run_at"])'

wait_run() {   # waits until the connector has $1 finished runs, prints the latest
    for _ in $(seq 300); do
        R=$(curl -sf "${H[@]}" "$API/v1/admin/connectors/$CID/runs?limit=50")
        N=$(echo "$R" | json 'sum(1 for r in d["runs"] if r["status"] != "running")')
        [ "$N" -ge "$1" ] && break
        sleep 0.2
    done
    echo "$R" | json '"run %s: %s, trigger %s, rows_synced %s, rows_loaded %s, table %s%s" % (d["runs"][0]["id"], d["runs"][0]["status"], d["runs"][0]["trigger"], d["runs"][0]["rows_synced"], d["runs"][0]["rows_loaded"], d["runs"][0]["iomete_table"], ("; error: " + d["runs"][0]["error_msg"]) if d["runs"][0]["error_msg"] else "")'
}

step "5. trigger it and wait for the run"
curl -sf "${H[@]}" -X POST "$API/v1/admin/connectors/$CID/trigger" | json 'd["message"]'
wait_run 1
curl -sf "${H[@]}" "$API/v1/admin/connectors/$CID" | json '"bookmark (tap_state): " + json.dumps(d["tap_state"])'

step "6. the rows, read back from Iceberg"
printf '{"catalog_type":"hadoop","warehouse":"file://%s/warehouse/acme"}\n' "$DEMO" > "$DEMO/catalog.json"
"$IVORY" table show --config "$DEMO/catalog.json" --rows 10 ivory_tenant_acme.customers \
  | json '"\n".join(["%d rows in the current snapshot; snapshots: %d" % (d["row_count"], len(d["snapshots"]))] + [json.dumps(r, ensure_ascii=False) for r in d["rows"]])'

step "7. two new rows at the source; the next run loads only those"
printf '%s\n' '6,Ramanujan,ramanujan@example.com,IN,77.00,true,2024-05-02,2026-03-06T09:00:00Z' \
              '7,Emmy Noether,emmy@example.com,DE,1200.00,true,2024-05-09,2026-03-07T16:20:00Z' >> "$DEMO/data/customers.csv"
curl -sf "${H[@]}" -X POST "$API/v1/admin/connectors/$CID/trigger" >/dev/null
wait_run 2
"$IVORY" table show --config "$DEMO/catalog.json" --rows 100 ivory_tenant_acme.customers \
  | json '"%d rows now; last snapshot STATE %s (run %s)" % (d["row_count"], json.dumps(d["snapshots"][-1]["state"]), d["snapshots"][-1]["run_id"])'
step "done"
