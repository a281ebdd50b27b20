// runner.mjs — helpers for the runner's end-to-end tests: a server whose runner polls fast,
// a tenant with a hadoop catalog inside the server's data dir, fixture taps linked into
// IVORY_TAP_PATH, configs encrypted the way docs/security.md defines (independently, with node's
// crypto), and waits on the runs API.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { REPO, startServer, tempDir } from './server.mjs';
import { newTenant } from './tenant.mjs';
import { readIcebird, snapshots } from './iceberg_read.mjs';

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export function newKey() { return crypto.randomBytes(32); }

// "v1:" + base64(nonce12 || AES-256-GCM ciphertext || tag16)
export function encryptConfig(key, obj) {
    const nonce = crypto.randomBytes(12);
    const c = crypto.createCipheriv('aes-256-gcm', key, nonce);
    const ct = Buffer.concat([c.update(JSON.stringify(obj), 'utf8'), c.final()]);
    return 'v1:' + Buffer.concat([nonce, ct, c.getAuthTag()]).toString('base64');
}

// A server with a fast-polling runner and a config key; fixture taps linked in.
// The runner's private run directories go to <dir>/tmp (TMPDIR), where tests can look.
// wrap / startTimeoutMs pass through to startServer (e.g. to run the server under valgrind).
// Taps run in the sandbox (as in production): they see <dir>/io (IVORY_TAP_WRITABLE_DIRS,
// srv.io) for sources, pid and log files, and nothing else of the data dir. Tenant
// warehouses live under <dir>/wh (IVORY_WAREHOUSE_ROOT).
export async function startRunnerServer({ env = {}, key = newKey(), dir = tempDir(), taps = ['tap-fixture'], keepDir, secret, wrap, startTimeoutMs, fullOutput } = {}) {
    fs.mkdirSync(path.join(dir, 'tmp'), { recursive: true });
    fs.mkdirSync(path.join(dir, 'io'), { recursive: true });
    const srv = await startServer({
        pollInterval: 0.1, firstRunDelay: 3600, dir, keepDir, secret, wrap, startTimeoutMs, fullOutput,
        env: { IVORY_CONFIG_KEY: key.toString('base64'), TMPDIR: path.join(dir, 'tmp'),
               IVORY_TAP_SANDBOX: 'on', IVORY_TAP_WRITABLE_DIRS: path.join(dir, 'io'),
               IVORY_WAREHOUSE_ROOT: path.join(dir, 'wh'), ...env },
    });
    srv.io = path.join(dir, 'io');
    for (const t of taps) {
        const dst = path.join(srv.dir, 'taps', t);
        if (!fs.existsSync(dst)) fs.symlinkSync(path.join(REPO, 'tests', 'taps', t), dst);
    }
    srv.key = key;
    return srv;
}

export async function runnerTenant(srv, catalog = {}) {
    return newTenant(srv, { catalog: { warehouse: `file://${srv.dir}/wh`, ...catalog } });
}

export const tableLoc = (srv, T, table) => ({ dir: path.join(srv.dir, 'wh', T.slug, T.namespace, table) });

export async function registerTap(srv, T, cfg, extra = {}) {
    const body = {
        source_system: 'fixture', tap_name: 'tap-fixture', destination_catalog: 'ivory-lakehouse',
        destination_table: `t_${crypto.randomBytes(3).toString('hex')}`, sync_schedule: '@yearly',
        ...(cfg === null ? {} : { config_encrypted: encryptConfig(srv.key, cfg) }),
        ...extra,
    };
    const r = await T.c.post('/v1/admin/connectors', body);
    if (r.status !== 201) throw new Error(`register gave ${r.status}: ${r.text}`);
    return r.json;
}

export async function runs(T, id) {
    const r = await T.c.get(`/v1/admin/connectors/${id}/runs?limit=200`);
    if (r.status !== 200) throw new Error(`runs gave ${r.status}: ${r.text}`);
    return r.json.runs;
}

// Triggers and waits until the connector has `n` finished runs (default: one more than now).
export async function triggerAndWait(T, id, { timeoutMs = 30000 } = {}) {
    const before = (await runs(T, id)).length;
    const t = await T.c.post(`/v1/admin/connectors/${id}/trigger`);
    if (t.status !== 202) throw new Error(`trigger gave ${t.status}: ${t.text}`);
    return waitRuns(T, id, before + 1, { timeoutMs });
}

export async function waitRuns(T, id, n, { timeoutMs = 30000 } = {}) {
    const end = Date.now() + timeoutMs;
    for (;;) {
        const rs = await runs(T, id);
        if (rs.length >= n && rs.every((r) => r.status !== 'running')) return rs;
        if (Date.now() > end) throw new Error(`no ${n} finished runs within ${timeoutMs} ms: ${JSON.stringify(rs)}`);
        await sleep(100);
    }
}

// A table that never committed has no metadata (its directory may still hold the data files
// of a run that failed before its first commit): it has no rows.
export async function tableRows(srv, T, table) {
    const loc = tableLoc(srv, T, table);
    const md = path.join(loc.dir, 'metadata');
    if (!fs.existsSync(md) || !fs.readdirSync(md).some((f) => f.endsWith('.metadata.json'))) return [];
    return readIcebird(loc);
}

export async function tableSnapshots(srv, T, table) {
    return snapshots(tableLoc(srv, T, table));
}

export const ids = (rows) => rows.map((r) => Number(r.id)).sort((a, b) => a - b);
export const range = (a, b) => Array.from({ length: b - a + 1 }, (_, i) => a + i);

export function writeSource(file, from, to) {
    let s = '';
    for (let i = from; i <= to; i++) s += JSON.stringify({ id: i, name: `row-${i}` }) + '\n';
    fs.appendFileSync(file, s);
}

// The host pid of the tap that wrote pidFile ("<pid> <config path>"): the pid itself when
// the tap ran unsandboxed, else the process in a child pid namespace whose innermost pid
// matches and whose command line names that run's config file; null once it has exited.
export function readTapPid(pidFile) {
    const [nsPid, cfg] = fs.readFileSync(pidFile, 'utf8').trim().split(' ');
    const own = (pid) => {
        try { return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(cfg); } catch { return false; }
    };
    if (own(nsPid)) return Number(nsPid);
    for (const p of fs.readdirSync('/proc')) {
        if (!/^\d+$/.test(p)) continue;
        let status;
        try { status = fs.readFileSync(`/proc/${p}/status`, 'utf8'); } catch { continue; }
        const ns = (status.match(/^NSpid:\s*(.*)$/m) ?? [])[1]?.trim().split(/\s+/) ?? [];
        if (ns.length > 1 && ns[ns.length - 1] === nsPid && own(p)) return Number(p);
    }
    return null;   // the tap has exited
}

// The process group of pid (field 5 of /proc/<pid>/stat, after the parenthesised name).
export function pgid(pid) {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]);
}

export function pidAlive(pid) {
    if (pid === null) return false;
    try { process.kill(pid, 0); return true; } catch (e) { return e.code === 'EPERM'; }
}
