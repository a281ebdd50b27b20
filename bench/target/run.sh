#!/bin/sh
# bench/target/run.sh — throughput of `ivory target-iceberg` against DuckDB on the same records.
# Prints figures; asserts nothing. Usage: [RUNS=n] bench/target/run.sh [ROWS...]
# (default sizes: 1000000 4000000; RUNS, default 1, repetitions per size)
#
# For each size: generate N Singer RECORD lines (10 mixed-type fields, STATE every 100k rows)
# once, then RUNS times, alternating: time ivory (rows/s, input MB/s, peak RSS from
# /usr/bin/time -v, output bytes), then DuckDB (read_json of the same record objects -> COPY ...
# (FORMAT parquet, COMPRESSION zstd)), and print the ratio and the 1-minute load average. With
# RUNS > 1 a summary line per size gives the median, min and max of both times and of the ratio.
#
# S3 column: the same input loaded into an s3:// warehouse (sql catalog) on a moto server
# started here on 127.0.0.1 (python3.11 -m moto.server; MOTO_PYTHON to change), timed and
# measured the same way (s3_s, rows/s, peak RSS). S3=0 skips it.
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
IVORY="$ROOT/ivory"
[ -x "$IVORY" ] || { echo "build ivory first (make)" >&2; exit 1; }
SIZES=${*:-1000000 4000000}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/ivory-bench-XXXXXX")
trap 'rm -rf "$WORK"' EXIT
cd "$ROOT"

RUNS=${RUNS:-1}
S3=${S3:-1}
MOTO_PID=
if [ "$S3" = 1 ]; then
    MOTO_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    ${MOTO_PYTHON:-python3.11} -m moto.server -H 127.0.0.1 -p "$MOTO_PORT" > "$WORK/moto.log" 2>&1 &
    MOTO_PID=$!
    trap 'kill "$MOTO_PID" 2>/dev/null; rm -rf "$WORK"' EXIT
    AUTH='Authorization: AWS4-HMAC-SHA256 Credential=bench/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=0'
    i=0
    until curl -sf -X PUT -H "$AUTH" "http://127.0.0.1:$MOTO_PORT/bench" -o /dev/null; do
        i=$((i + 1)); [ "$i" -lt 100 ] || { echo "moto did not start (see $WORK/moto.log); S3=0 skips the S3 column" >&2; exit 1; }
        sleep 0.2
    done
fi
printf '%-9s | %-10s %-9s %-9s %-10s %-10s | %-10s %-9s %-10s | %-6s | %-8s %-9s %-8s | %s\n' rows ivory_s rows/s MB/s peak_RSS out_MB duck_s rows/s out_MB ratio s3_s s3_rows/s s3_RSS load1
for N in $SIZES; do
    node bench/target/gen.mjs "$N" "$WORK/in.jsonl" "$WORK/rec.jsonl"
    IN_BYTES=$(stat -c %s "$WORK/in.jsonl")
    : > "$WORK/runs.txt"
    r=0
    while [ "$r" -lt "$RUNS" ]; do
        r=$((r + 1))
        rm -rf "$WORK/wh"
        printf '{"catalog_type":"hadoop","warehouse":"file://%s/wh","namespace":"bench","batch_rows":1000000}\n' "$WORK" > "$WORK/cfg.json"
        sync
        /usr/bin/time -v -o "$WORK/time.txt" "$IVORY" target-iceberg --config "$WORK/cfg.json" \
            < "$WORK/in.jsonl" > "$WORK/out.txt" 2> "$WORK/err.txt" || { cat "$WORK/err.txt" >&2; exit 1; }
        WALL=$(awk -F': ' '/Elapsed \(wall clock\)/ {n=split($2,a,":"); s=0; for(i=1;i<=n;i++) s=s*60+a[i]; print s}' "$WORK/time.txt")
        RSS_KB=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$WORK/time.txt")
        OUT_BYTES=$(find "$WORK/wh/bench/orders/data" -type f -name '*.parquet' -printf '%s\n' | awk '{s+=$1} END {print s+0}')
        DUCK=$(node bench/target/duck.mjs "$WORK/rec.jsonl" "$WORK/duck.parquet")
        DS=$(echo "$DUCK" | sed 's/.*"seconds":\([0-9.e-]*\).*/\1/')
        DB=$(echo "$DUCK" | sed 's/.*"bytes":\([0-9]*\).*/\1/')
        S3W=0 S3RSS=0
        if [ "$S3" = 1 ]; then
            rm -f "$WORK/s3cat.db"
            printf '{"catalog_type":"sql","catalog_uri":"%s/s3cat.db","warehouse":"s3://bench/run%s-%s","namespace":"bench","batch_rows":1000000,"s3_endpoint":"http://127.0.0.1:%s","s3_access_key_id":"bench","s3_secret_key":"bench-secret","region":"us-east-1"}\n' \
                "$WORK" "$N" "$r" "$MOTO_PORT" > "$WORK/s3cfg.json"
            /usr/bin/time -v -o "$WORK/time3.txt" "$IVORY" target-iceberg --config "$WORK/s3cfg.json" \
                < "$WORK/in.jsonl" > "$WORK/out3.txt" 2> "$WORK/err3.txt" || { cat "$WORK/err3.txt" >&2; exit 1; }
            S3W=$(awk -F': ' '/Elapsed \(wall clock\)/ {n=split($2,a,":"); s=0; for(i=1;i<=n;i++) s=s*60+a[i]; print s}' "$WORK/time3.txt")
            S3RSS=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$WORK/time3.txt")
        fi
        LOAD=$(cut -d' ' -f1 /proc/loadavg)
        awk -v n="$N" -v w="$WALL" -v inb="$IN_BYTES" -v rss="$RSS_KB" -v ob="$OUT_BYTES" -v ds="$DS" -v db="$DB" -v ld="$LOAD" \
            -v sw="$S3W" -v srss="$S3RSS" 'BEGIN {
            a = "-"; b = "-"; c = "-"
            if (sw + 0 > 0) { a = sprintf("%.2f", sw); b = sprintf("%.0f", n / sw); c = sprintf("%.0fMiB", srss / 1024) }
            printf "%-9d | %-10.2f %-9.0f %-9.1f %-10s %-10.1f | %-10.2f %-9.0f %-10.1f | %-6.2f | %-8s %-9s %-8s | %s\n",
                n, w, n / w, inb / 1048576 / w, sprintf("%.0fMiB", rss / 1024), ob / 1048576,
                ds, n / ds, db / 1048576, (n / w) / (n / ds), a, b, c, ld }'
        echo "$WALL $DS" >> "$WORK/runs.txt"
        rm -f "$WORK/duck.parquet"
    done
    if [ "$RUNS" -gt 1 ]; then
        # median/min/max of ivory s, DuckDB s and the per-run ratio (DuckDB s / ivory s)
        awk -v n="$N" '
            function med(a, k,   t, i, j) { for (i = 1; i <= k; i++) for (j = i + 1; j <= k; j++)
                if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
                return k % 2 ? a[(k + 1) / 2] : (a[k / 2] + a[k / 2 + 1]) / 2 }
            { k++; w[k] = $1; d[k] = $2; q[k] = $2 / $1 }
            END { mw = med(w, k); md = med(d, k); mq = med(q, k)
                  printf "%-9d | median of %d: ivory %.2f s [%.2f-%.2f]  DuckDB %.2f s [%.2f-%.2f]  ratio %.2f [%.2f-%.2f]\n",
                      n, k, mw, w[1], w[k], md, d[1], d[k], mq, q[1], q[k] }' "$WORK/runs.txt"
    fi
done
echo "(input MB/s counts the Singer lines ivory reads; ratio = ivory rows/s / DuckDB rows/s)"
