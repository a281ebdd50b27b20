#!/usr/bin/env bash
# dev.sh — the newcomer's front door. Two commands on a fresh Debian 12 machine:
#
#   ./dev.sh run    install what is missing, build, start `ivory serve` on the embedded
#                   default (SQLite under ./var, a dev JWT secret persisted in ./var)
#   ./dev.sh test   install what is missing, build, run every test (C unit tests under
#                   ASan/UBSan, the end-to-end suite on SQLite and again on PostgreSQL, the
#                   valgrind gate on the target and
#                   the runner, the bounded fuzz run when clang is
#                   present), starting every service the tests need (a throwaway PostgreSQL
#                   cluster) and stopping it at exit. Exits non-zero if anything failed.
#
# It owns the install step because machines are not kept: whatever the project needs, this
# script must install (CI runs `.ci/run` -> `./dev.sh test` in a fresh clone as root).
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$ROOT"

DEB_PACKAGES=(build-essential pkg-config libmicrohttpd-dev libjansson-dev libjwt-dev
    libsqlite3-dev sqlite3 libpq-dev libssl-dev libcurl4-openssl-dev libzstd-dev libsnappy-dev
    zlib1g-dev libcmocka-dev libgmp-dev libunistring-dev python3-croniter nodejs npm postgresql wrk
    nginx-light clang valgrind bubblewrap chromium debhelper lintian fakeroot man-db systemd
    util-linux adduser curl openssl)
PG_BIN="${PG_BIN:-/usr/lib/postgresql/15/bin}"

say()  { printf '==> %s\n' "$*"; }
warn() { printf 'dev.sh: %s\n' "$*" >&2; }
die()  { warn "$*"; exit 1; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"
    elif command -v sudo >/dev/null 2>&1; then sudo "$@"
    else die "need root to run: $* (install sudo or run as root)"; fi
}

# A package counts as present when dpkg says installed. nodejs/npm also count as present when
# the commands exist: NodeSource's nodejs bundles npm, and Debian's npm package would conflict.
pkg_missing() {
    local p="$1"
    case "$p" in
        nodejs) command -v node >/dev/null 2>&1 && return 1 ;;
        npm)    command -v npm >/dev/null 2>&1 && return 1 ;;
        nginx-light) command -v nginx >/dev/null 2>&1 && return 1 ;;
    esac
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' && return 1
    return 0
}

install_deps() {
    local missing=() p
    if ! command -v dpkg-query >/dev/null 2>&1; then
        warn "not a Debian system: skipping package installation (need: ${DEB_PACKAGES[*]})"
    else
        for p in "${DEB_PACKAGES[@]}"; do pkg_missing "$p" && missing+=("$p"); done
        if [ "${#missing[@]}" -gt 0 ]; then
            say "installing Debian packages: ${missing[*]}"
            as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q \
                || die "apt-get update failed"
            as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
                "${missing[@]}" </dev/null || die "apt-get install failed: ${missing[*]}"
        fi
    fi
    # npm ci when node_modules is missing or older than the lock file.
    if [ ! -f node_modules/.package-lock.json ] \
        || [ package-lock.json -nt node_modules/.package-lock.json ]; then
        say "npm ci (test-only Node packages)"
        npm ci --no-audit --no-fund </dev/null || die "npm ci failed"
    fi
}

build() {
    say "make"
    make -j"$(nproc 2>/dev/null || echo 2)" || die "build failed"
}

# ---- run ------------------------------------------------------------------------------------
cmd_run() {
    install_deps
    build
    export IVORY_DATA_DIR="${IVORY_DATA_DIR:-$ROOT/var}"
    mkdir -p "$IVORY_DATA_DIR"
    export IVORY_DB="${IVORY_DB:-sqlite:$IVORY_DATA_DIR/ivory.db}"
    export IVORY_LISTEN="${IVORY_LISTEN:-127.0.0.1:8080}"
    local secret_file="$IVORY_DATA_DIR/dev-jwt-secret" token_env=""
    if [ -z "${IVORY_JWT_SECRET:-}" ] && [ -z "${IVORY_JWT_PUBLIC_KEY:-}" ] \
        && [ -z "${IVORY_JWT_JWKS:-}" ]; then
        if [ ! -s "$secret_file" ]; then
            (umask 077; od -An -tx1 -N32 /dev/urandom | tr -d ' \n' >"$secret_file") \
                || die "cannot write $secret_file"
            say "generated a dev JWT secret in $secret_file"
        fi
        IVORY_JWT_SECRET="$(cat "$secret_file")"
        export IVORY_JWT_SECRET
        token_env="IVORY_JWT_SECRET=\$(cat $secret_file) "
    fi
    # The runner inside serve finds the bundled example taps, decrypts tap configs with a dev
    # key kept next to the JWT secret, and polls every 2 s (the production default is 30 s).
    export IVORY_TAP_PATH="${IVORY_TAP_PATH:-$ROOT/examples/taps}"
    # Taps run in the bubblewrap sandbox (docs/security.md); the example CSVs are the only
    # host files they may read.
    export IVORY_TAP_SANDBOX="${IVORY_TAP_SANDBOX:-on}"
    export IVORY_TAP_DATA_DIRS="${IVORY_TAP_DATA_DIRS:-$ROOT/examples/data}"
    export IVORY_POLL_INTERVAL="${IVORY_POLL_INTERVAL:-2}"
    local key_file="$IVORY_DATA_DIR/dev-config-key" key_env=""
    if [ -z "${IVORY_CONFIG_KEY:-}" ]; then
        if [ ! -s "$key_file" ]; then
            (umask 077; head -c 32 /dev/urandom | base64 >"$key_file") \
                || die "cannot write $key_file"
            say "generated a dev tap-config key in $key_file"
        fi
        IVORY_CONFIG_KEY="$(cat "$key_file")"
        export IVORY_CONFIG_KEY
        key_env="IVORY_CONFIG_KEY=\$(cat $key_file) "
    fi
    # The config key pair for client-side encryption (JWE; docs/security.md "Config
    # encryption"): the server publishes the public half at GET /v1/admin/config-key.
    local pair_file="$IVORY_DATA_DIR/dev-config-private-key.pem"
    if [ -z "${IVORY_CONFIG_PRIVATE_KEY:-}" ]; then
        if [ ! -s "$pair_file" ]; then
            (umask 077; openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
                -out "$pair_file" 2>/dev/null) || die "cannot write $pair_file"
            say "generated a dev config key pair in $pair_file"
        fi
        export IVORY_CONFIG_PRIVATE_KEY="$pair_file"
    fi
    cat <<EOF
==> starting ivory serve on http://$IVORY_LISTEN  (store: $IVORY_DB)
    health:     curl http://$IVORY_LISTEN/healthz
    console:    http://$IVORY_LISTEN/console  (paste the dev token below)
    dev token:  ${token_env}IVORY_DB=$IVORY_DB ./ivory tenant create --slug acme
                (prints JSON with id, slug and token; use it as: Authorization: Bearer <token>)
    taps:       $IVORY_TAP_PATH (tap-csv), polled every ${IVORY_POLL_INTERVAL}s
    sandbox:    IVORY_TAP_SANDBOX=$IVORY_TAP_SANDBOX; taps may read $IVORY_TAP_DATA_DIRS
    tap config: ${key_env}./ivory config encrypt < config.json
                or, without a shared key: GET /v1/admin/config-key > jwk.json, then
                ./ivory config encrypt --jwk jwk.json < config.json
    walk-through: README.md "Walk-through" (or: make demo)
    stop:       Ctrl-C
EOF
    exec ./ivory serve
}

# ---- test -----------------------------------------------------------------------------------
PG_TMP=""
PG_USER_RUN=()

free_port() {
    node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
}

pg_start() {
    if [ ! -x "$PG_BIN/initdb" ]; then
        warn "PostgreSQL binaries not found in $PG_BIN: tests that need PostgreSQL will skip"
        return 0
    fi
    PG_TMP="$(mktemp -d /tmp/ivory-pg.XXXXXX)"
    if [ "$(id -u)" -eq 0 ]; then
        # initdb refuses to run as root: run the cluster as the postgres user.
        getent passwd postgres >/dev/null || useradd --system --home-dir /nonexistent postgres
        chown postgres "$PG_TMP"
        PG_USER_RUN=(runuser -u postgres --)
    fi
    local port; port="$(free_port)"
    "${PG_USER_RUN[@]}" "$PG_BIN/initdb" -D "$PG_TMP/data" -U ivory --auth=trust -E UTF8 \
        >"$PG_TMP/initdb.log" 2>&1 || { cat "$PG_TMP/initdb.log" >&2; die "initdb failed"; }
    "${PG_USER_RUN[@]}" "$PG_BIN/pg_ctl" -D "$PG_TMP/data" -l "$PG_TMP/pg.log" -w -t 60 \
        -o "-p $port -k $PG_TMP -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300" start \
        >/dev/null || { cat "$PG_TMP/pg.log" >&2; die "pg_ctl start failed"; }
    "${PG_USER_RUN[@]}" "$PG_BIN/createdb" -h 127.0.0.1 -p "$port" -U ivory ivory_test \
        || die "createdb failed"
    export IVORY_TEST_PG_URL="postgresql://ivory@127.0.0.1:$port/ivory_test"
    say "PostgreSQL test cluster on 127.0.0.1:$port (IVORY_TEST_PG_URL=$IVORY_TEST_PG_URL)"
}

pg_stop() {
    [ -n "$PG_TMP" ] || return 0
    if [ -f "$PG_TMP/data/postmaster.pid" ]; then
        "${PG_USER_RUN[@]}" "$PG_BIN/pg_ctl" -D "$PG_TMP/data" -m fast -w stop >/dev/null 2>&1
    fi
    rm -rf "$PG_TMP"
    PG_TMP=""
}

# Links build/asan-ivory from src/main.c and the ASan library `make unit` already built.
build_asan_ivory() {
    local flags=(-std=c11 -D_GNU_SOURCE -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer)
    make -j"$(nproc 2>/dev/null || echo 2)" build/libivory-asan.a >/dev/null || return 1
    cc "${flags[@]}" -Isrc -c -o build/asan/main.o src/main.c || return 1
    local libs  # the Makefile's own link flags, so this never drifts from it
    libs="$(printf 'print-libs:\n\t@echo $(LIBS)\n' | make --no-print-directory -s -f Makefile -f - print-libs)" \
        || return 1
    # shellcheck disable=SC2086
    cc -fsanitize=address,undefined -o build/asan-ivory build/asan/main.o build/libivory-asan.a $libs
}

# Runs one step, its output both shown and kept in $LOGDIR/<name>.log for the test counts.
LOGDIR=""
STEPS_PASSED=(); STEPS_FAILED=()
step() {
    local name="$1"; shift
    if "$@" 2>&1 | tee "$LOGDIR/$name.log"; then STEPS_PASSED+=("$name")
    else STEPS_FAILED+=("$name"); fi
}

# Sums the test counts the runners printed: node's "# pass N" / "# fail N" and cmocka's
# "[  PASSED  ] N test(s)" / "[  FAILED  ] N test(s)". A failed step that reported no failing
# test (a build error, a fuzz crash) counts as one failure, so the total never hides it.
count_tests() {
    local pass=0 fail=0 f p x name
    for f in "$LOGDIR"/*.log; do
        [ -e "$f" ] || continue
        p=$(awk '/^# pass [0-9]+$/ {s += $3} /^\[  PASSED  \] [0-9]+ test/ {s += $4} END {print s + 0}' "$f")
        x=$(awk '/^# fail [0-9]+$/ {s += $3} /^\[  FAILED  \] [0-9]+ test/ {s += $4} END {print s + 0}' "$f")
        name="$(basename "$f" .log)"
        if [[ " ${STEPS_FAILED[*]} " == *" $name "* ]] && [ "$x" -eq 0 ]; then x=1; fi
        pass=$((pass + p)); fail=$((fail + x))
    done
    echo "$pass $fail"
}

# Names every failing test, with where it failed and the first lines of its error, so the last
# screen of a long run (all a CI log tail may keep) says what broke, not only how many.
list_failed_tests() {
    local f
    for f in "$LOGDIR"/*.log; do
        [ -e "$f" ] || continue
        awk -v step="$(basename "$f" .log)" '
            /^ *not ok [0-9]+ - / { name = $0; sub(/^ *not ok [0-9]+ - /, "", name)
                                    printf "FAILED [%s] %s\n", step, name; err = 0; next }
            name != "" && /^ *location: / { sub(/^ */, "  "); print; next }
            name != "" && /^ *error: / { err = 4; sub(/^ */, "  "); print; next }
            err > 0 && /^ *(\.\.\.|# Subtest|ok |not ok )/ { err = 0; name = "" }
            err > 0 { sub(/^ */, "    "); print; err--; if (err == 0) name = ""; next }
            /^\[  FAILED  \] [^0-9]/ { printf "FAILED [%s] %s\n", step, $0 }
        ' "$f"
    done | head -n 80
}

cmd_test() {
    install_deps
    build
    LOGDIR="$(mktemp -d /tmp/ivory-test-logs.XXXXXX)"
    trap 'pg_stop; rm -rf "$LOGDIR"' EXIT
    trap 'exit 130' INT TERM
    pg_start

    local t0 t1 counts jobs
    jobs="$(nproc 2>/dev/null || echo 2)"
    t0=$(date +%s)
    say "make unit (C unit tests, ASan + UBSan)"
    step unit make -j"$jobs" unit

    # The lakehouse suites need moto (S3 + Glue peer, Python 3.11; PyPI is not reachable here):
    # say so up front; the suites themselves fail (never skip) without it.
    "${IVORY_MOTO_PYTHON:-python3.11}" -c 'import moto.server' 2>/dev/null ||
        warn "moto is missing: the lakehouse e2e suites will FAIL (install: ${IVORY_MOTO_PYTHON:-python3.11} -m pip install 'moto[server]==5.2.1')"
    say "make e2e (node --test tests/e2e/, the valgrind gate apart)"
    step e2e make e2e

    # The same suites once more with the store on the throwaway PostgreSQL cluster: every
    # server gets its own schema of IVORY_TEST_PG_URL (tests/e2e/lib/server.mjs). The ASan and
    # valgrind passes below stay on SQLite (they check memory, not the SQL).
    if [ -n "${IVORY_TEST_PG_URL:-}" ]; then
        say "make e2e-pg (the e2e suites on PostgreSQL)"
        step e2e-pg make e2e-pg
    fi

    # The API suites once more against an AddressSanitizer + UBSan build of the server (the
    # unit tests' ASan library plus an ASan main.o): memory errors and leaks in request
    # handling fail the run (tests/e2e/lib/server.mjs checks the server's stderr at stop).
    say "API e2e suites against an ASan + UBSan build of ivory"
    step e2e-asan run_asan_suites

    # The release binary under valgrind memcheck: target-iceberg on ~20k rows of every type
    # and one real runner sync inside `ivory serve` (tests/e2e/valgrind.test.mjs); any memory
    # error or definite/indirect leak fails the step.
    say "make valgrind (target-iceberg + a runner sync under valgrind)"
    step valgrind make valgrind

    # The Debian package end to end (root only; it says so and passes when not root): build,
    # lintian, install, files/modes/user/units, serve + one sync as `ivory` with the packaged
    # env file, backup/restore, purge (tests/package/run.sh, docs/deploy.md).
    say "tests/package/run.sh (the Debian package: build, install, sync, backup, purge)"
    step package tests/package/run.sh

    if [ -f tests/fuzz/Makefile ]; then
        if command -v clang >/dev/null 2>&1; then
            say "make -C tests/fuzz run (bounded fuzzing)"
            step fuzz make -C tests/fuzz run
        else
            warn "clang not found: fuzz run skipped"
        fi
    fi
    t1=$(date +%s)
    pg_stop
    counts="$(count_tests)"
    echo
    [ "${#STEPS_FAILED[@]}" -eq 0 ] || list_failed_tests
    if [ "${#STEPS_FAILED[@]}" -eq 0 ]; then
        echo "dev.sh test: all steps passed (${STEPS_PASSED[*]}) in $((t1 - t0)) s"
    else
        echo "dev.sh test: FAILED steps: ${STEPS_FAILED[*]} (passed: ${STEPS_PASSED[*]:-none}) in $((t1 - t0)) s"
    fi
    echo "summary: ${counts% *} passed, ${counts#* } failed"
    [ "${#STEPS_FAILED[@]}" -eq 0 ]
}

# The API and runner suites once more against the ASan + UBSan server (leaks included): the
# request handlers, the store, the runner loop, the child-process layer and the loader.
run_asan_suites() {
    build_asan_ivory || return 1
    IVORY_E2E_BIN=build/asan-ivory ASAN_OPTIONS=detect_leaks=1 \
        node --test --test-concurrency=2 tests/e2e/api*.test.mjs \
        tests/e2e/runner.test.mjs tests/e2e/runner_more.test.mjs tests/e2e/discover.test.mjs
}

usage() {
    cat <<'EOF'
usage: ./dev.sh run | test
  run    install missing packages, build, start `ivory serve` (SQLite under ./var)
  test   install missing packages, build, run unit + e2e (+ fuzz) tests
EOF
}

case "${1:-}" in
    run)  cmd_run ;;
    test) cmd_test ;;
    -h|--help|help) usage ;;
    *) usage >&2; exit 2 ;;
esac
