#!/usr/bin/env bash
# bench/api/run.sh — API throughput figures (printed, never asserted). Starts `ivory serve`
# (release build, SQLite store in a temp dir) with 100 connectors registered, measures with wrk:
#   1. authenticated GET /v1/admin/connectors (the list of 100)
#   2. nginx (Debian, temp config, current user, another free port) serving a static file of
#      the same size as that list response: the ceiling for "an HTTP server answering N bytes"
#   3. the same GET while BENCH_WRITERS (4) connections POST .../{id}/trigger to one of the
#      tenant's connectors: every trigger is a write that moves the tenant's generation, so
#      the response cache is invalidated continually (the list does not grow meanwhile)
#   4. authenticated POST /v1/admin/connectors (fixed body; duplicates allowed)
#   5. POST /v1/admin/connectors from BENCH_WRITERS connections while the list's first page
#      (?limit=100) is read at full speed: register writes/s and their p99 under read load
#   6. the writes spread over tenants (bench/api/tenants.mjs provisions BENCH_TENANTS (20) more
#      tenants with BENCH_N/BENCH_TENANTS connectors each): POST register from 50 connections,
#      each request as the next tenant in turn; then POST .../trigger from 50 connections over
#      the bench tenant's connectors (1 tenant) and over the K tenants' connectors (K tenants).
#      A platform sees writes from many tenants at once; 4 and 6 side by side show what one
#      tenant's serialisation point (its generation counter) costs.
# and prints requests/s, p50/p99 and the ivory/nginx ratio.
# BENCH_WRITES_ONLY=1 runs only the write measurements 4 and 6 (no nginx, no list reads).
# BENCH_DB: the store URL (default a SQLite file in the temp dir; e.g. postgresql://... to
# measure PostgreSQL; the bench fills it, use a scratch database). bench/api/compare.sh runs
# both side by side.
# Knobs: BENCH_DURATION (default 10s), BENCH_CONNECTIONS (50), BENCH_THREADS (2), BENCH_N (100),
# BENCH_IVORY (a prebuilt ivory binary to measure instead of `make ivory`, e.g. a variant built
# with -DIVORY_API_NO_CACHE, or an older build to compare, see docs/performance.md).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

DUR="${BENCH_DURATION:-10s}"; CONNS="${BENCH_CONNECTIONS:-50}"; THREADS="${BENCH_THREADS:-2}"
N="${BENCH_N:-100}"; K="${BENCH_TENANTS:-20}"; WRITES_ONLY="${BENCH_WRITES_ONLY:-0}"
for c in wrk nginx node; do command -v "$c" >/dev/null || { echo "bench: $c not found (./dev.sh installs it)" >&2; exit 1; }; done
IVORY_BIN="${BENCH_IVORY:-./ivory}"
[ -n "${BENCH_IVORY:-}" ] || make -s ivory

T="$(mktemp -d /tmp/ivory-bench.XXXXXX)"
IVORY_PID=""; NGINX_PID=""
cleanup() {
    [ -n "$IVORY_PID" ] && kill "$IVORY_PID" 2>/dev/null && wait "$IVORY_PID" 2>/dev/null
    [ -n "$NGINX_PID" ] && kill "$NGINX_PID" 2>/dev/null && wait "$NGINX_PID" 2>/dev/null
    rm -rf "$T"
}
trap cleanup EXIT
free_port() { node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }
wait_http() { # polls with node's fetch (curl's CLI is not among the installed packages)
    node -e 'const u=process.argv[1];let n=0;(async function f(){try{const r=await fetch(u);if(r.ok)process.exit(0)}catch{}if(++n>200){console.error(`bench: ${u} did not answer`);process.exit(1)}setTimeout(f,50)})()' "$1"
}

IPORT="$(free_port)"; SECRET="$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')"
IVORY_DATA_DIR="$T/data" IVORY_DB="${BENCH_DB:-sqlite:$T/data/ivory.db}" IVORY_LISTEN="127.0.0.1:$IPORT" \
IVORY_JWT_SECRET="$SECRET" IVORY_POLL_INTERVAL=86400 IVORY_LOG_LEVEL=warn IVORY_SERVE_RUNNER=0 \
    IVORY_TENANT_MAX_CONNECTORS=10000000 \
    "$IVORY_BIN" serve 2>"$T/ivory.log" &
IVORY_PID=$!
mkdir -p "$T/data"
wait_http "http://127.0.0.1:$IPORT/healthz" || { cat "$T/ivory.log" >&2; exit 1; }
node bench/api/setup.mjs "http://127.0.0.1:$IPORT" "$SECRET" "$N" "$T"
node bench/api/tenants.mjs "http://127.0.0.1:$IPORT" "$SECRET" "$K" "$(( (N + K - 1) / K ))" "$T"
SIZE="$(stat -c %s "$T/list.json")"

bench() { # label url [body-file]
    local out
    out="$(BENCH_TOKEN="$(cat "$T/token")" BENCH_BODY="${3:-}" \
        wrk -t"$THREADS" -c"$CONNS" -d"$DUR" -s bench/api/bench.lua "$2" | grep '^RESULT')"
    printf '%-44s %s\n' "$1" "${out#RESULT }" >&2
    echo "$out"
}
bench_pairs() { # label pairs-file [body-file]: every request as the next line's tenant and path
    local out
    out="$(BENCH_PAIRS="$2" BENCH_BODY="${3:-}" BENCH_METHOD=POST \
        wrk -t"$THREADS" -c"$CONNS" -d"$DUR" -s bench/api/bench.lua "http://127.0.0.1:$IPORT/" |
        grep '^RESULT')"
    printf '%-44s %s\n' "$1" "${out#RESULT }" >&2
    echo "$out"
}
field() { sed -n "s/.*$2=\([0-9.]*\).*/\1/p" <<<"$1"; }
write_figures() { # the write measurements (4 and 6), printed as one table
    P="$(bench "ivory POST /v1/admin/connectors" "http://127.0.0.1:$IPORT/v1/admin/connectors" "$T/post.json")"
    RK="$(bench_pairs "POST register over $K tenants" "$T/register-k.pairs" "$T/post.json")"
    T1="$(bench_pairs "POST trigger, 1 tenant" "$T/trigger-1.pairs")"
    TK="$(bench_pairs "POST trigger over $K tenants" "$T/trigger-k.pairs")"
    echo
    printf 'writes from %s connections        1 tenant                        %s tenants\n' "$CONNS" "$K"
    local x
    for x in "register P RK" "trigger T1 TK"; do
        set -- $x
        printf 'POST %-9s %8s/s  p50 %7s ms  p99 %7s ms   %8s/s  p50 %7s ms  p99 %7s ms\n' "$1" \
            "$(field "${!2}" rps)" "$(field "${!2}" p50_ms)" "$(field "${!2}" p99_ms)" \
            "$(field "${!3}" rps)" "$(field "${!3}" p50_ms)" "$(field "${!3}" p99_ms)"
    done
    for x in "$P" "$RK" "$T1" "$TK"; do
        [ "$(field "$x" http_errors)" = "0" ] || echo "warning: HTTP errors during the run: $x" >&2
    done
}
if [ "$WRITES_ONLY" = 1 ]; then
    echo "bench: wrk -t$THREADS -c$CONNS -d$DUR on $(nproc) cores; writes only, 1 and $K tenants" >&2
    write_figures
    exit 0
fi

NPORT="$(free_port)"
mkdir -p "$T/www" "$T/nginx"
cp "$T/list.json" "$T/www/connectors.json"
chmod 755 "$T" "$T/www"; chmod 644 "$T/www/connectors.json"
USER_LINE=""; [ "$(id -u)" -eq 0 ] && USER_LINE="user $(id -un) $(id -gn);"
cat >"$T/nginx/nginx.conf" <<NGX
$USER_LINE
daemon off;
worker_processes auto;
pid $T/nginx/nginx.pid;
error_log $T/nginx/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $T/nginx/body; proxy_temp_path $T/nginx/proxy;
    fastcgi_temp_path $T/nginx/fastcgi; uwsgi_temp_path $T/nginx/uwsgi; scgi_temp_path $T/nginx/scgi;
    default_type application/json;
    keepalive_requests 1000000;
    server { listen 127.0.0.1:$NPORT; root $T/www; }
}
NGX
nginx -p "$T/nginx" -e "$T/nginx/error.log" -c "$T/nginx/nginx.conf" &
NGINX_PID=$!
wait_http "http://127.0.0.1:$NPORT/connectors.json" || { cat "$T/nginx/error.log" >&2; exit 1; }

echo "bench: wrk -t$THREADS -c$CONNS -d$DUR on $(nproc) cores; list response $SIZE bytes ($N connectors)" >&2
G="$(bench "ivory GET /v1/admin/connectors" "http://127.0.0.1:$IPORT/v1/admin/connectors")"
S="$(bench "nginx static file ($SIZE bytes)" "http://127.0.0.1:$NPORT/connectors.json" "")"
CID="$(node -e 'console.log(JSON.parse(require("fs").readFileSync(process.argv[1])).connectors[0].id)' "$T/list.json")"
BENCH_TOKEN="$(cat "$T/token")" BENCH_METHOD=POST \
    wrk -t1 -c"${BENCH_WRITERS:-4}" -d"$DUR" -s bench/api/bench.lua \
    "http://127.0.0.1:$IPORT/v1/admin/connectors/$CID/trigger" >"$T/writers.txt" &
WRK_W=$!
M="$(bench "ivory GET while triggers write" "http://127.0.0.1:$IPORT/v1/admin/connectors")"
wait "$WRK_W"
W="$(grep '^RESULT' "$T/writers.txt")"
printf '%-44s %s\n' "  (concurrent POST .../trigger)" "${W#RESULT }" >&2
BENCH_TOKEN="$(cat "$T/token")" BENCH_BODY="$T/post.json" \
    wrk -t1 -c"${BENCH_WRITERS:-4}" -d"$DUR" -s bench/api/bench.lua \
    "http://127.0.0.1:$IPORT/v1/admin/connectors" >"$T/regwriters.txt" &
WRK_W=$!
# Paged (the first 100, creation order): the unpaged list would grow by every registration
# (thousands of connectors after measurement 4) and measure its rendering, not the writes.
M2="$(bench "ivory GET ?limit=100 while registers write" "http://127.0.0.1:$IPORT/v1/admin/connectors?limit=100")"
wait "$WRK_W"
R="$(grep '^RESULT' "$T/regwriters.txt")"
printf '%-44s %s\n' "  (concurrent POST register)" "${R#RESULT }" >&2
write_figures

printf 'GET  list (auth, %d connectors): %8s req/s  p99 %s ms\n' "$N" "$(field "$G" rps)" "$(field "$G" p99_ms)"
printf 'GET  list while writes:          %8s req/s  p99 %s ms  (%s trigger writes/s)\n' \
    "$(field "$M" rps)" "$(field "$M" p99_ms)" "$(field "$W" rps)"
printf 'trigger writes under list reads: %8s req/s  p99 %s ms\n' "$(field "$W" rps)" "$(field "$W" p99_ms)"
printf 'register writes under list reads:%8s req/s  p99 %s ms  (paged list %s req/s)\n' \
    "$(field "$R" rps)" "$(field "$R" p99_ms)" "$(field "$M2" rps)"
printf 'nginx static (%d bytes):        %8s req/s  p99 %s ms\n' "$SIZE" "$(field "$S" rps)" "$(field "$S" p99_ms)"
awk -v g="$(field "$G" rps)" -v s="$(field "$S" rps)" 'BEGIN { printf "ratio ivory GET / nginx static: %.3f\n", g / s }'
for x in "$G" "$M" "$W" "$M2" "$R"; do
    [ "$(field "$x" http_errors)" = "0" ] || echo "warning: HTTP errors during the run: $x" >&2
done
