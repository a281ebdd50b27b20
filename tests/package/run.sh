#!/usr/bin/env bash
# tests/package/run.sh — the Debian package end to end, as an operator would meet it (run by
# `./dev.sh test` as root; docs/deploy.md "Testing the package"). Needs root and a Debian
# system whose build dependencies are installed (dev.sh installs them).
#
#  1. builds the package from a copy of the working tree (git's tracked + untracked files),
#     so the developer's own build is untouched: dpkg-buildpackage -us -uc -b;
#  2. lintian: no errors (warnings are printed; docs/deploy.md explains each);
#  3. installs it; checks files, modes, owners, the ivory system user, the conffile, the
#     units (systemd-analyze verify) and the man page (man -w);
#  4. configures /etc/ivory/ivory.env as an operator would and starts `ivory migrate` +
#     `ivory serve` as ivory with that file, inside a mount namespace that reproduces the
#     units' ProtectSystem=strict / ProtectHome / PrivateTmp / NoNewPrivileges / empty
#     capability bounding set (systemd is not PID 1 here), runs one real sync of the packaged
#     tap-csv, reads the rows back with `ivory table show`;
#  5. backs up while serving, checks restore refuses a live server, stops it, restores as
#     root, serves again and finds the connector, its run and its bookmark;
#  6. checks the units' hardening choices against bwrap (what breaks /proc in a sandbox);
#  7. remove keeps config and data; reinstall keeps the edited conffile; purge leaves nothing.
# One run at a time per machine (flock): packages, users and /etc are machine-wide.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"

if [ "$(id -u)" -ne 0 ] || ! command -v dpkg-buildpackage >/dev/null; then
    echo "tests/package: skipped (needs root and dpkg-buildpackage)"; exit 0
fi
exec 9>/run/lock/ivory-package-test.lock
flock 9

WORK="$(mktemp -d /tmp/ivory-package.XXXXXX)"
SERVE_PID=""
PASS=0
FAIL=0
ok()   { PASS=$((PASS + 1)); echo "ok - $*"; }
bad()  { FAIL=$((FAIL + 1)); echo "not ok - $*"; }
check() { local what="$1"; shift; if "$@"; then ok "$what"; else bad "$what"; fi; }
die()  { bad "$*"; finish; }

stop_serve() {
    [ -n "$SERVE_PID" ] || return 0
    kill -TERM "$SERVE_PID" 2>/dev/null || true
    local rc=0; wait "$SERVE_PID" || rc=$?
    SERVE_PID=""
    return "$rc"
}
finish() {
    trap - EXIT
    stop_serve || true
    if dpkg-query -W -f='${Status}' ivory 2>/dev/null | grep -q 'ok installed\|config-files'; then
        dpkg --purge ivory >/dev/null 2>&1 || true
    fi
    rm -rf "$WORK"
    echo "# pass $PASS"
    echo "# fail $FAIL"
    [ "$FAIL" -eq 0 ] && exit 0 || exit 1
}
trap finish EXIT

if dpkg-query -W -f='${Status}' ivory 2>/dev/null | grep -q 'install ok installed'; then
    echo "tests/package: an ivory package is already installed on this machine; not touching it"
    FAIL=1; exit 1
fi

# ---- 1. build ----------------------------------------------------------------------------
mkdir -p "$WORK/src"
(cd "$ROOT" && git ls-files -z -co --exclude-standard | grep -zv '^node_modules/' \
    | tar --null -T - -cf -) | tar -xf - -C "$WORK/src"
t0=$(date +%s)
if (cd "$WORK/src" && dpkg-buildpackage -us -uc -b) >"$WORK/build.log" 2>&1; then
    ok "dpkg-buildpackage -us -uc -b ($(( $(date +%s) - t0 )) s)"
else
    tail -40 "$WORK/build.log"; die "dpkg-buildpackage failed"
fi
DEB="$(ls "$WORK"/ivory_*.deb)"

# ---- 2. lintian --------------------------------------------------------------------------
lintian --fail-on error --display-level '>=warning' "$DEB" >"$WORK/lintian.log" 2>&1 || true
cat "$WORK/lintian.log"
check "lintian: no errors" bash -c "! grep -q '^E: ' '$WORK/lintian.log'"

# ---- 3. install and inspect ---------------------------------------------------------------
if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$DEB" \
        >"$WORK/install.log" 2>&1; then
    cat "$WORK/install.log"; die "apt-get install ./ivory_*.deb failed"
fi
ok "installed $(basename "$DEB")"
mode() { stat -c '%a %U:%G' "$1"; }
check "/usr/bin/ivory runs" /usr/bin/ivory version
check "/var/lib/ivory is ivory:ivory 0750" [ "$(mode /var/lib/ivory)" = "750 ivory:ivory" ]
check "/etc/ivory/ivory.env is root:ivory 0640" [ "$(mode /etc/ivory/ivory.env)" = "640 root:ivory" ]
check "ivory.env is a conffile" bash -c "dpkg-query -W -f='\${Conffiles}' ivory | grep -q /etc/ivory/ivory.env"
check "ivory is a system user without a login shell" bash -c \
    'u=$(getent passwd ivory) && [ "$(echo "$u" | cut -d: -f3)" -lt 1000 ] && [ "$(echo "$u" | cut -d: -f7)" = /usr/sbin/nologin ]'
check "example tap is executable, runs with /usr/bin/python3" bash -c \
    '[ -x /usr/share/ivory/taps/tap-csv ] && head -1 /usr/share/ivory/taps/tap-csv | grep -qx "#!/usr/bin/python3"'
check "example data under /usr/share/ivory/examples" [ -r /usr/share/ivory/examples/customers.csv ]
check "man -w ivory finds the page" bash -c 'man -w ivory | grep -q "/usr/share/man/man1/ivory.1.gz"'
check "Depends names bubblewrap" bash -c "dpkg-query -W -f='\${Depends}' ivory | grep -q bubblewrap"
UNITDIR=/lib/systemd/system
check "units installed" [ -f "$UNITDIR/ivory.service" -a -f "$UNITDIR/ivory-runner@.service" ]
if command -v systemd-analyze >/dev/null; then
    if systemd-analyze verify "$UNITDIR/ivory.service" ivory-runner@1.service >"$WORK/verify.log" 2>&1 \
        && [ ! -s "$WORK/verify.log" ]; then ok "systemd-analyze verify: clean"
    else cat "$WORK/verify.log"; bad "systemd-analyze verify"; fi
fi
check "ivory.service runs migrate before serve as ivory" bash -c \
    "grep -qx 'ExecStartPre=/usr/bin/ivory migrate' $UNITDIR/ivory.service && grep -qx 'User=ivory' $UNITDIR/ivory.service"

# ---- 4. configure and serve as ivory, under the units' confinement ------------------------
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >>/etc/ivory/ivory.env <<EOV
# --- set by tests/package/run.sh ---
IVORY_LISTEN=127.0.0.1:$PORT
IVORY_JWT_SECRET=$(head -c 32 /dev/urandom | base64)
IVORY_CONFIG_KEY=$(head -c 32 /dev/urandom | base64)
IVORY_POLL_INTERVAL=0.5
IVORY_FIRST_RUN_DELAY=3600
EOV
# As a unit would run it: only the env file's variables, as ivory, no new privileges, no
# capabilities, / read-only except the state directory, private /tmp, no /home or /root.
CONFINE='
    set -e
    mount --bind /var/lib/ivory /var/lib/ivory
    for m in / /usr /etc /boot /opt /srv /var; do
        mountpoint -q "$m" && mount -o remount,bind,ro "$m" || true
    done
    mount -o remount,bind,rw /var/lib/ivory
    mount -t tmpfs -o mode=1777 tmpfs /tmp
    for h in /home /root; do [ -d "$h" ] && mount -t tmpfs -o mode=0755 tmpfs "$h"; done
    exec setpriv --reuid=ivory --regid=ivory --clear-groups --no-new-privs \
        --inh-caps=-all --bounding-set=-all \
        env -i PATH=/usr/bin:/bin bash -c "set -a; . /etc/ivory/ivory.env; set +a; exec \"\$@\"" ivory "$@"'
# A simple command (not a function), so that `... &` makes $! the server itself: unshare,
# bash, setpriv, env and bash all exec into ivory.
CONFINED=(unshare -m --propagation private bash -c "$CONFINE" confined)
as_ivory() {
    runuser -u ivory -- env -i PATH=/usr/bin:/bin bash -c 'set -a; . /etc/ivory/ivory.env; set +a; exec "$@"' ivory "$@"
}
start_serve() {
    "${CONFINED[@]}" /usr/bin/ivory migrate >"$WORK/migrate.log" 2>&1 || { cat "$WORK/migrate.log"; return 1; }
    "${CONFINED[@]}" /usr/bin/ivory serve 2>>"$WORK/serve.log" &
    SERVE_PID=$!
    for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && return 0; sleep 0.1; done
    cat "$WORK/serve.log"; return 1
}
start_serve || die "ivory serve did not come up as ivory"
ok "ivory migrate + serve as ivory (confined) with /etc/ivory/ivory.env"
check "the store is ivory's" [ "$(stat -c %U /var/lib/ivory/ivory.db)" = ivory ]

json() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
API="http://127.0.0.1:$PORT"
TJ=$(as_ivory /usr/bin/ivory tenant create --slug acme) || die "tenant create"
TOKEN=$(echo "$TJ" | json 'd["token"]'); TENANT=$(echo "$TJ" | json 'd["id"]')
H=(-H "Authorization: Bearer $TOKEN" -H "Content-Type: application/json")
curl -sf "${H[@]}" -X POST "$API/v1/admin/tenants/$TENANT/catalog" -d '{"catalog_name":"lake",
  "catalog_type":"hadoop","warehouse":"file:///var/lib/ivory/warehouse","storage_prefix":"acme"}' >/dev/null \
    || die "catalog provisioning"
CONFIG=$(printf '{"files":[{"stream":"customers","path":"/usr/share/ivory/examples/customers.csv","key_properties":["id"],"replication_key":"updated_at"}]}' \
    | as_ivory /usr/bin/ivory config encrypt) || die "config encrypt"
CID=$(curl -sf "${H[@]}" -X POST "$API/v1/admin/connectors" -d "{\"source_system\":\"crm\",
  \"tap_name\":\"tap-csv\",\"connector_type\":\"custom\",\"destination_catalog\":\"lake\",
  \"destination_table\":\"customers\",\"sync_schedule\":\"0 * * * *\",\"config_encrypted\":\"$CONFIG\"}" \
  | json 'd["id"]') || die "register connector"
curl -sf "${H[@]}" -X POST "$API/v1/admin/connectors/$CID/trigger" >/dev/null || die "trigger"
RUN=""
for _ in $(seq 300); do
    RUN=$(curl -sf "${H[@]}" "$API/v1/admin/connectors/$CID/runs" | json 'next((r for r in d["runs"] if r["status"] != "running"), None) and json.dumps(d["runs"][0])' 2>/dev/null || true)
    [ -n "$RUN" ] && [ "$RUN" != None ] && break
    sleep 0.2
done
STATUS=$(echo "$RUN" | json 'd["status"]' 2>/dev/null || echo none)
if [ "$STATUS" = completed ]; then ok "one real sync of tap-csv as ivory: $(echo "$RUN" | json 'd["rows_loaded"]') rows"
else echo "$RUN"; tail -20 "$WORK/serve.log"; bad "the sync did not complete ($STATUS)"; fi
check "the sync ran in the bubblewrap sandbox" grep -q 'taps run in a bubblewrap sandbox' "$WORK/serve.log"
ROWS=$(wc -l </usr/share/ivory/examples/customers.csv); ROWS=$((ROWS - 1))
printf '{"catalog_type":"hadoop","warehouse":"file:///var/lib/ivory/warehouse/acme"}\n' >"$WORK/cat.json"
chmod 755 "$WORK"; chmod 644 "$WORK/cat.json"
SHOWN=$(as_ivory /usr/bin/ivory table show --config "$WORK/cat.json" ivory_tenant_acme.customers | json 'd["row_count"]' || echo 0)
check "the table holds the CSV's $ROWS rows (ivory table show)" [ "$SHOWN" = "$ROWS" ]
BOOKMARK=$(curl -sf "${H[@]}" "$API/v1/admin/connectors/$CID" | json 'json.dumps(d["tap_state"], sort_keys=True)')
check "the connector has a bookmark" [ -n "$BOOKMARK" -a "$BOOKMARK" != null ]

# ---- 5. backup while serving, restore ----------------------------------------------------
install -d -o ivory -g ivory -m 0700 "$WORK/backups"
check "ivory backup --to while serving" as_ivory /usr/bin/ivory backup --to "$WORK/backups/ivory.db"
check "restore refuses while the server is live" bash -c \
    "! runuser -u ivory -- env -i PATH=/usr/bin:/bin bash -c 'set -a; . /etc/ivory/ivory.env; exec ivory restore --from $WORK/backups/ivory.db' 2>$WORK/refused.log && grep -q 'in use' $WORK/refused.log"
check "ivory serve stops on SIGTERM with status 0" stop_serve
# Root restores (the documented way is as ivory; root must work too and leave ivory's files).
check "ivory restore --from (as root) with the server stopped" \
    env -i PATH=/usr/bin:/bin bash -c "set -a; . /etc/ivory/ivory.env; exec ivory restore --from $WORK/backups/ivory.db"
check "the restored store is still ivory's" [ "$(stat -c %U:%a /var/lib/ivory/ivory.db)" = ivory:600 ]
start_serve || die "ivory serve did not come up on the restored store"
AFTER=$(curl -sf "${H[@]}" "$API/v1/admin/connectors/$CID" | json 'json.dumps(d["tap_state"], sort_keys=True)' || echo missing)
check "connector and bookmark back after restore" [ "$AFTER" = "$BOOKMARK" ]
NRUNS=$(curl -sf "${H[@]}" "$API/v1/admin/connectors/$CID/runs" | json 'sum(1 for r in d["runs"] if r["status"] == "completed")' || echo 0)
check "the completed run is back after restore" [ "$NRUNS" -ge 1 ]
stop_serve || true

# ---- 6. the units' hardening against the tap sandbox --------------------------------------
# systemd is not PID 1 here, so the settings that matter to bwrap are reproduced by hand: a
# fresh /proc must still mount inside bwrap under what the units set, and the settings left
# out (ProtectKernelTunables, ProtectKernelLogs) must really break it, or they belong in.
BW="bwrap --unshare-all --hostname ivory-tap --ro-bind / / --proc /proc --dev /dev true"
probe() { unshare -m --propagation private bash -c "$1 && runuser -u ivory -- $BW" >/dev/null 2>&1; }
check "bwrap works as ivory" probe "true"
check "bwrap works under ProtectSystem=strict-like read-only mounts" probe \
    "mount --bind /usr /usr && mount -o remount,bind,ro /usr && mount --bind /etc /etc && mount -o remount,bind,ro /etc"
check "bwrap works under ProtectControlGroups-like read-only cgroupfs" probe \
    "mount --bind /sys/fs/cgroup /sys/fs/cgroup && mount -o remount,bind,ro /sys/fs/cgroup"
check "bwrap works under PrivateTmp-like /tmp" probe "mount -t tmpfs tmpfs /tmp"
check "ProtectKernelTunables-like /proc/sys over-mount breaks bwrap (so it stays off)" bash -c \
    "! unshare -m --propagation private bash -c 'mount --bind /proc/sys /proc/sys && mount -o remount,bind,ro /proc/sys && runuser -u ivory -- $BW' >/dev/null 2>&1"
check "ProtectKernelLogs-like /proc/kmsg mask breaks bwrap (so it stays off)" bash -c \
    "! unshare -m --propagation private bash -c 'mount --bind /dev/null /proc/kmsg && runuser -u ivory -- $BW' >/dev/null 2>&1"

# ---- 7. remove, reinstall, purge ----------------------------------------------------------
dpkg --remove ivory >/dev/null 2>&1 || bad "dpkg --remove"
check "remove: binary gone" [ ! -e /usr/bin/ivory ]
check "remove: store kept" [ -s /var/lib/ivory/ivory.db ]
check "remove: edited env file kept" grep -q 'set by tests/package' /etc/ivory/ivory.env
DEBIAN_FRONTEND=noninteractive dpkg --force-confold -i "$DEB" >/dev/null 2>&1 || bad "reinstall"
check "reinstall: edited env file kept, modes kept" bash -c \
    "grep -q 'set by tests/package' /etc/ivory/ivory.env && [ \"\$(stat -c '%a %U:%G' /etc/ivory/ivory.env)\" = '640 root:ivory' ]"
FILES="$(dpkg -L ivory | grep -v '^/\.$')"
dpkg --purge ivory >/dev/null 2>&1 || bad "dpkg --purge"
LEFT=""
for f in $FILES /etc/ivory /var/lib/ivory; do
    case "$f" in /usr/share/doc|/usr/share/man|/usr/share/man/man1|/usr/bin|/usr/share|/usr|/etc|/var|/var/lib|/lib|/lib/systemd|/lib/systemd/system|/usr/share/lintian|/usr/share/lintian/overrides) continue ;; esac
    [ -e "$f" ] && LEFT="$LEFT $f"
done
check "purge: nothing of the package is left${LEFT:+ (left:$LEFT)}" [ -z "$LEFT" ]
check "purge: no ivory user or group" bash -c '! getent passwd ivory && ! getent group ivory'
check "purge: no statoverrides" bash -c '! dpkg-statoverride --list | grep -q ivory'
check "purge: dpkg forgot the package" bash -c "! dpkg-query -W ivory >/dev/null 2>&1 || [ -z \"\$(dpkg-query -W -f='\${Status}' ivory | grep -v not-installed)\" ]"
finish
