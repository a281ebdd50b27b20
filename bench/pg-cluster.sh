# bench/pg-cluster.sh — sourced by the benchmarks that compare SQLite with PostgreSQL:
# bench_pg_start DIR starts a throwaway cluster in DIR (initdb + pg_ctl from PG_BIN, loopback,
# default settings: fsync on, as a real server runs) and sets BENCH_PG_URL;
# bench_pg_stop DIR stops it. Run as root, the cluster runs as the postgres user.
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
BENCH_AS_PG=()
bench_pg_start() {
    local dir="$1" port
    [ -x "$PG_BIN/initdb" ] || { echo "no PostgreSQL binaries in $PG_BIN" >&2; return 1; }
    mkdir -p "$dir"
    if [ "$(id -u)" -eq 0 ]; then
        chown postgres "$dir"; chmod 755 "$(dirname "$dir")"; BENCH_AS_PG=(runuser -u postgres --)
    fi
    port=$(node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
    "${BENCH_AS_PG[@]}" "$PG_BIN/initdb" -D "$dir/data" -U ivory --auth=trust -E UTF8 >/dev/null || return 1
    "${BENCH_AS_PG[@]}" "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/pg.log" -w \
        -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c max_connections=200" start >/dev/null || return 1
    BENCH_PG_URL="postgresql://ivory@127.0.0.1:$port/postgres"
}
bench_pg_stop() {
    [ -f "$1/data/postmaster.pid" ] && "${BENCH_AS_PG[@]}" "$PG_BIN/pg_ctl" -D "$1/data" -m fast -w stop >/dev/null 2>&1
    return 0
}
