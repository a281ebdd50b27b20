// server.mjs — starts the real `./ivory serve` for one test file: a free loopback port (found
// by binding :0), a temp IVORY_DATA_DIR with its own store (a SQLite file, or with
// IVORY_E2E_BACKEND=postgres a schema of IVORY_TEST_PG_URL's database), JWT configuration (HS256
// secret by default; RS256/ES256 PEM or JWKS, issuer and audience on request), a runner that
// does not poll during API tests unless asked. Waits for GET /healthz = 200, stops with SIGTERM
// and returns the exit code. The server's stderr is kept for failure messages. The binary can
// be wrapped in a command (option `wrap`, or env IVORY_E2E_WRAP split on blanks), e.g. valgrind.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomSecret } from './jwt.mjs';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
// IVORY_E2E_BIN points the suite at another build of the same sources (e.g. an ASan build).
export const IVORY = process.env.IVORY_E2E_BIN ? path.resolve(process.env.IVORY_E2E_BIN) : path.join(REPO, 'ivory');
const PLACEHOLDER = /is not built yet/;

export function freePort() {
    return new Promise((resolve, reject) => {
        const s = net.createServer();
        s.on('error', reject);
        s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
    });
}

export function tempDir(prefix = 'ivory-e2e-') {
    return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// The store backend of this run: SQLite by default; PostgreSQL when IVORY_E2E_BACKEND=postgres
// and IVORY_TEST_PG_URL names a database (./dev.sh test runs the suites once each way).
export const PG_URL = process.env.IVORY_E2E_BACKEND === 'postgres' ? process.env.IVORY_TEST_PG_URL : '';
if (process.env.IVORY_E2E_BACKEND === 'postgres' && !PG_URL)
    throw new Error('IVORY_E2E_BACKEND=postgres needs IVORY_TEST_PG_URL');

// Runs SQL on the base PostgreSQL database with psql; returns stdout.
export function psql(url, query, { json = false } = {}) {
    const q = json ? `SELECT coalesce(json_agg(t), '[]'::json) FROM (${query}) t` : query;
    const r = spawnSync('psql', ['-X', '-q', '-At', '-v', 'ON_ERROR_STOP=1', '-d', url, '-c', q],
                        { encoding: 'utf8', timeout: 20000 });
    if (r.status !== 0) throw new Error(`psql failed: ${r.stderr}\nquery: ${query}`);
    return json ? JSON.parse(r.stdout.trim() || '[]') : r.stdout;
}

// A URL for one schema of the test database: every server data dir gets its own schema
// (created on first use, remembered in the dir so a restart on the same dir finds its
// store), so parallel test files never see each other's rows.
export function pgSchemaUrl(schema) {
    return `${PG_URL}${PG_URL.includes('?') ? '&' : '?'}options=-csearch_path%3D${schema}`;
}

export function newPgSchema() {
    const schema = `e2e_${process.pid}_${Date.now().toString(36)}_${Math.floor(Math.random() * 1e6)}`;
    psql(PG_URL, `CREATE SCHEMA ${schema}`);
    return schema;
}

// The store of a data dir: `dir/ivory.db` on SQLite, its own schema URL on PostgreSQL.
export function storeUrlFor(dir) {
    if (!PG_URL) return path.join(dir, 'ivory.db');
    const f = path.join(dir, 'pg-schema');
    let schema = fs.existsSync(f) ? fs.readFileSync(f, 'utf8').trim() : '';
    if (!schema) {
        schema = newPgSchema();
        fs.writeFileSync(f, schema);
    }
    return pgSchemaUrl(schema);
}

// Drops the schema of a data dir (PostgreSQL pass), best effort.
function dropStore(dir) {
    if (!PG_URL) return;
    const f = path.join(dir, 'pg-schema');
    if (!fs.existsSync(f)) return;
    try { psql(PG_URL, `DROP SCHEMA IF EXISTS ${fs.readFileSync(f, 'utf8').trim()} CASCADE`); } catch { /* kept */ }
}

// options: { secret, publicKeyPem, jwks, issuer, audience, algs, firstRunDelay, pollInterval,
//            runner (default: on when pollInterval is given),
//            env (extra variables), noSecret (do not set IVORY_JWT_SECRET),
//            dir (reuse a data dir, e.g. to restart on the same store), keepDir,
//            wrap (argv prefix, e.g. ['valgrind', '-q']), startTimeoutMs (default 15000) }
export async function startServer(o = {}) {
    const dir = o.dir ?? tempDir();
    const port = await freePort();
    const dbPath = storeUrlFor(dir);
    const secret = o.noSecret ? undefined : (o.secret ?? randomSecret());
    const env = {
        PATH: process.env.PATH,
        HOME: process.env.HOME ?? dir,
        IVORY_DATA_DIR: dir,
        IVORY_DB: dbPath.startsWith('postgres') ? dbPath : `sqlite:${dbPath}`,
        IVORY_LISTEN: `127.0.0.1:${port}`,
        IVORY_FIRST_RUN_DELAY: String(o.firstRunDelay ?? 300),
        // API tests must not race a runner: by default serve runs none (a trigger would wake
        // one at once); a test that wants one passes pollInterval (or runner: true).
        IVORY_POLL_INTERVAL: String(o.pollInterval ?? 86400),
        IVORY_SERVE_RUNNER: (o.runner ?? o.pollInterval !== undefined) ? '1' : '0',
        IVORY_TAP_PATH: path.join(dir, 'taps'),
        IVORY_SHUTDOWN_GRACE: '5',
        IVORY_LOG_LEVEL: process.env.IVORY_LOG_LEVEL ?? 'info',
        // Tenant catalogs must point under the warehouse root: the API suites' catalogs use
        // file:///tmp/ivory-e2e-warehouse (lib/tenant.mjs); runner suites set their own.
        IVORY_WAREHOUSE_ROOT: '/tmp/ivory-e2e-warehouse',
    };
    for (const k of ['ASAN_OPTIONS', 'UBSAN_OPTIONS', 'LSAN_OPTIONS'])
        if (process.env[k]) env[k] = process.env[k];
    if (secret) env.IVORY_JWT_SECRET = secret;
    if (o.publicKeyPem) {
        env.IVORY_JWT_PUBLIC_KEY = path.join(dir, 'jwt-public.pem');
        fs.writeFileSync(env.IVORY_JWT_PUBLIC_KEY, o.publicKeyPem);
    }
    if (o.jwks) {
        env.IVORY_JWT_JWKS = path.join(dir, 'jwks.json');
        fs.writeFileSync(env.IVORY_JWT_JWKS, o.jwks);
    }
    if (o.issuer) env.IVORY_JWT_ISSUER = o.issuer;
    if (o.audience) env.IVORY_JWT_AUDIENCE = o.audience;
    if (o.algs) env.IVORY_JWT_ALGS = o.algs;
    Object.assign(env, o.env ?? {});
    for (const k of Object.keys(env)) if (env[k] === null) delete env[k];   // null: unset it
    fs.mkdirSync(env.IVORY_TAP_PATH, { recursive: true });

    const wrap = o.wrap ?? (process.env.IVORY_E2E_WRAP ?? '').split(/\s+/).filter(Boolean);
    const argv = [...wrap, IVORY, 'serve'];
    const proc = spawn(argv[0], argv.slice(1), { env, cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    const keep = (d) => { stderr = (stderr + d).slice(-65536); };
    proc.stdout.on('data', keep);
    proc.stderr.on('data', keep);
    // fullOutput: every byte of stdout and stderr, each kept apart (so lines never interleave)
    const full = { stdout: [], stderr: [] };
    if (o.fullOutput) {
        proc.stdout.on('data', (d) => full.stdout.push(d));
        proc.stderr.on('data', (d) => full.stderr.push(d));
    }
    let exitCode;
    const exited = new Promise((resolve) => proc.on('exit', (code, sig) => {
        exitCode = code ?? `signal ${sig}`;
        resolve(exitCode);
    }));

    const url = `http://127.0.0.1:${port}`;
    const srv = {
        url, port, dir, dbPath, env, secret, proc,
        stderr: () => stderr,
        output: () => ({ stdout: Buffer.concat(full.stdout).toString('utf8'),
                         stderr: Buffer.concat(full.stderr).toString('utf8') }),
        exited,
        async stop({ signal = 'SIGTERM', timeoutMs = 15000 } = {}) {
            if (exitCode === undefined) {
                proc.kill(signal);
                const t = setTimeout(() => proc.kill('SIGKILL'), timeoutMs);
                await exited;
                clearTimeout(t);
            }
            if (!process.env.IVORY_E2E_KEEP && !o.keepDir) {
                dropStore(dir);
                fs.rmSync(dir, { recursive: true, force: true });
            }
            // A sanitizer report is a failure even when the exit status looks fine.
            if (/ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:/.test(stderr))
                throw new Error(`sanitizer report from ivory serve:\n${stderr}`);
            return exitCode;
        },
    };

    const startTimeoutMs = o.startTimeoutMs ?? 15000;
    const deadline = Date.now() + startTimeoutMs;
    for (;;) {
        if (exitCode !== undefined) {
            const err = new Error(`ivory serve exited (${exitCode}) before /healthz answered:\n${stderr}`);
            err.notBuilt = PLACEHOLDER.test(stderr);
            if (!o.keepDir) {
                dropStore(dir);
                fs.rmSync(dir, { recursive: true, force: true });
            }
            throw err;
        }
        try {
            const r = await fetch(`${url}/healthz`);
            await r.arrayBuffer();
            if (r.status === 200) return srv;
        } catch { /* not listening yet */ }
        if (Date.now() > deadline) {
            await srv.stop({ signal: 'SIGKILL' });
            throw new Error(`ivory serve did not answer /healthz within ${startTimeoutMs / 1000} s:\n${stderr}`);
        }
        await sleep(50);
    }
}

// Skip reason for suites that need a subcommand which is still the skeleton's placeholder
// ("'<cmd>' is not built yet"), else false. Only that exact placeholder skips: any other
// failure is a real test failure.
const cache = new Map();
export function notBuilt(cmd) {
    if (!cache.has(cmd)) {
        if (!fs.existsSync(IVORY)) throw new Error(`${IVORY} is missing: run make first`);
        const r = spawnSync(IVORY, [cmd, '--help'], {
            // Deliberately unusable settings: a built command must fail fast, not start serving.
            env: { PATH: process.env.PATH, IVORY_LISTEN: 'invalid listen address',
                   IVORY_DB: 'sqlite:/nonexistent/ivory-probe/ivory.db',
                   IVORY_DATA_DIR: '/nonexistent/ivory-probe' },
            encoding: 'utf8', timeout: 5000,
        });
        cache.set(cmd, PLACEHOLDER.test(r.stderr ?? '') ? `'ivory ${cmd}' is not built yet` : false);
    }
    return cache.get(cmd);
}

// Runs the ivory CLI synchronously: { status, stdout, stderr }.
export function ivory(args, { env = {}, input, cwd } = {}) {
    const r = spawnSync(IVORY, args, {
        env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
        input, cwd, encoding: 'utf8', timeout: 20000,
    });
    return { status: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}
