// runner_more.test.mjs — the runner beyond Singer basics: the Airbyte protocol (discover ->
// configured catalog -> read with state), concurrency limits (per tenant, over all runners),
// several runner processes claiming from one SQLite file, and a `sql` catalog with
// catalog_uri 'local' (the data dir's iceberg_catalog.db).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { sql } from './lib/db.mjs';
import { readIcebird, sqlMetadataLocation } from './lib/iceberg_read.mjs';
import { IVORY, notBuilt } from './lib/server.mjs';
import {
    ids, pidAlive, readTapPid, range, registerTap, runnerTenant, runs, sleep, startRunnerServer, tableRows,
    triggerAndWait, waitRuns,
} from './lib/runner.mjs';

describe('runner: Airbyte protocol', { skip: notBuilt('serve') }, () => {
    let srv, T;
    before(async () => {
        srv = await startRunnerServer({ taps: ['source-fixture'] });
        T = await runnerTenant(srv);
    });
    after(async () => { if (srv) await srv.stop(); });
    const airbyte = (cfg) => registerTap(srv, T, cfg, { tap_name: 'source-fixture', connector_type: 'airbyte' });

    test('discover -> read: RECORDs load, STATE becomes the bookmark, the next read resumes', async () => {
        const conn = await airbyte({ count: 4 });
        let rs = await triggerAndWait(T, conn.id);
        assert.equal(rs[0].status, 'completed', JSON.stringify(rs[0]));
        assert.equal(rs[0].rows_loaded, 4);
        const rows = await tableRows(srv, T, conn.iomete_table);
        assert.deepEqual(ids(rows), [1, 2, 3, 4]);
        assert.deepEqual(rows.map((r) => r.name).sort(), ['users-1', 'users-2', 'users-3', 'users-4']);
        const d = (await T.c.get(`/v1/admin/connectors/${conn.id}`)).json;
        assert.deepEqual(d.tap_state, { users: { id: 4 } });
        rs = await triggerAndWait(T, conn.id);
        assert.equal(rs[0].status, 'completed');
        assert.equal(rs[0].rows_synced, 0, 'the second read got --state');
    });

    test('a TRACE error is the failure reason', async () => {
        const conn = await airbyte({ count: 5, fail: 'API quota exceeded' });
        const rs = await triggerAndWait(T, conn.id);
        assert.equal(rs[0].status, 'failed');
        assert.match(rs[0].error_msg, /exited with status 1: API quota exceeded/);
        assert.deepEqual(await tableRows(srv, T, conn.iomete_table), []);
    });

    test('per-stream STATEs: every stream keeps its state, the next read gets them as an array', async () => {
        const conn = await airbyte({ count: 3, two_streams: true, per_stream: true });
        let rs = await triggerAndWait(T, conn.id);
        assert.equal(rs[0].status, 'completed', JSON.stringify(rs[0]));
        assert.equal(rs[0].rows_loaded, 6);
        const d = (await T.c.get(`/v1/admin/connectors/${conn.id}`)).json;
        const byName = Object.fromEntries(d.tap_state.airbyte_state.map((m) => [m.stream.stream_descriptor.name, m.stream.stream_state]));
        assert.deepEqual(byName, { users: { id: 3 }, orders: { done: true } });
        rs = await triggerAndWait(T, conn.id);
        assert.equal(rs[0].status, 'completed', JSON.stringify(rs[0]));
        assert.equal(rs[0].rows_synced, 3, 'users resumed from its stream state; orders is full refresh');
        assert.deepEqual(ids(await tableRows(srv, T, `${conn.iomete_table}_users`)), [1, 2, 3]);
    });

    test('two discovered streams load into {destination_table}_{stream}', async () => {
        const conn = await airbyte({ count: 3, two_streams: true });
        const rs = await triggerAndWait(T, conn.id);
        assert.equal(rs[0].status, 'completed', JSON.stringify(rs[0]));
        assert.deepEqual(ids(await tableRows(srv, T, `${conn.iomete_table}_users`)), [1, 2, 3]);
        assert.deepEqual(ids(await tableRows(srv, T, `${conn.iomete_table}_orders`)), [1, 2, 3]);
    });
});

// Intervals [start, end] per tap run (pid@config path) from the fixture's log file.
function intervals(file) {
    const m = new Map();
    for (const l of fs.readFileSync(file, 'utf8').trim().split('\n')) {
        const [k, pid, ms] = l.split(' ');
        const v = m.get(pid) ?? {};
        v[k] = Number(ms);
        m.set(pid, v);
    }
    return [...m.values()];
}
const overlap = (a, b) => a.start < b.end && b.start < a.end;

describe('runner: concurrency limits', { skip: notBuilt('serve') }, () => {
    let srv, A, B;
    before(async () => {
        srv = await startRunnerServer({ env: { IVORY_MAX_RUNS_PER_TENANT: '1', IVORY_MAX_CONCURRENT_RUNS: '2' } });
        A = await runnerTenant(srv);
        B = await runnerTenant(srv);
    });
    after(async () => { if (srv) await srv.stop(); });

    test('per-tenant limit: one tenant runs one at a time, another tenant runs alongside; the rest waits in order', async () => {
        const logA = path.join(srv.io, 'a.log'), logB = path.join(srv.io, 'b.log');
        const cfg = (log) => ({ count: 12, sleep: 0.05, log_file: log });
        const a1 = await registerTap(srv, A, cfg(logA));
        const a2 = await registerTap(srv, A, cfg(logA));
        const a3 = await registerTap(srv, A, cfg(logA));
        const b1 = await registerTap(srv, B, { ...cfg(logB), count: 40 });   // ~2 s: overlaps A's chain
        for (const [T, c] of [[A, a1], [B, b1], [A, a2], [A, a3]])
            assert.equal((await T.c.post(`/v1/admin/connectors/${c.id}/trigger`)).status, 202);
        for (const [T, c] of [[A, a1], [A, a2], [A, a3], [B, b1]])
            assert.equal((await waitRuns(T, c.id, 1))[0].status, 'completed');
        const ia = intervals(logA), ib = intervals(logB);
        assert.equal(ia.length, 3);
        for (let i = 0; i < ia.length; i++)
            for (let j = i + 1; j < ia.length; j++)
                assert.ok(!overlap(ia[i], ia[j]), `tenant A ran two syncs at once: ${JSON.stringify(ia)}`);
        assert.ok(ia.some((x) => overlap(x, ib[0])), 'tenant B ran while tenant A was running');
    });
});

describe('runner: several runner processes on one SQLite store', { skip: notBuilt('runner') }, () => {
    let srv, T;
    const extra = [];
    before(async () => {
        // The API server's own runner is off: it would be woken in-process by each trigger and
        // claim it before any other process polls, so the claims would not spread (and whether
        // they did would be a matter of timing). Three `ivory runner` processes polling every
        // 0.1 s at unrelated phases take the triggers instead.
        srv = await startRunnerServer({ env: { IVORY_MAX_CONCURRENT_RUNS: '6', IVORY_MAX_RUNS_PER_TENANT: '6',
                                               IVORY_SERVE_RUNNER: '0' } });
        T = await runnerTenant(srv);
        for (let i = 0; i < 3; i++) {
            const p = spawn(IVORY, ['runner'], {
                env: { ...srv.env, IVORY_API_URL: srv.url }, cwd: srv.dir, stdio: ['ignore', 'ignore', 'pipe'],
            });
            p.err = '';
            p.stderr.on('data', (d) => { p.err += d; });
            p.done = new Promise((r) => p.on('exit', r));
            extra.push(p);
        }
    });
    after(async () => {
        for (const p of extra) { p.kill('SIGTERM'); await p.done; }
        if (srv) await srv.stop();
    });

    test('every connector runs exactly once and every row loads once', async (t) => {
        const conns = [];
        for (let i = 0; i < 12; i++) conns.push(await registerTap(srv, T, { count: 40, sleep: 0.005 }));
        await sleep(500);   // the runner processes are up
        // Staggered triggers (longer than a poll tick apart): whichever process ticks first
        // claims each one, so the claims spread over the processes (all 12 by one of three
        // processes polling at unrelated phases: about 3 in a million).
        for (const c of conns) {
            assert.equal((await T.c.post(`/v1/admin/connectors/${c.id}/trigger`)).status, 202);
            await sleep(150);
        }
        for (const c of conns) {
            const rs = await waitRuns(T, c.id, 1, { timeoutMs: 60000 });
            assert.equal(rs.length, 1);
            assert.equal(rs[0].status, 'completed', JSON.stringify(rs[0]));
            assert.deepEqual(ids(await tableRows(srv, T, c.iomete_table)), range(1, 40));
        }
        await sleep(500);
        for (const c of conns) assert.equal((await runs(T, c.id)).length, 1, 'claimed twice');
        assert.doesNotMatch(srv.stderr(), /claimed connector/, 'the API server runs no runner here');
        const claims = extra.map((p) => p.err)
            .map((log) => (log.match(/claimed connector [0-9a-f-]+/g) ?? []).map((m) => m.split(' ')[2]));
        const all = claims.flat();
        assert.equal(all.length, 12, 'one claim per connector over all processes');
        assert.equal(new Set(all).size, 12);
        t.diagnostic(`claims per runner process: ${claims.map((c) => c.length)}`);
        assert.ok(claims.filter((c) => c.length > 0).length >= 2, `claims per process: ${claims.map((c) => c.length)}`);
        assert.equal(sql(srv.dbPath, 'SELECT COUNT(*) AS n FROM runner_jobs')[0].n, 0, 'job rows removed');
    });
});

describe("runner: sql catalog with catalog_uri 'local'", { skip: notBuilt('serve') }, () => {
    let srv, T;
    before(async () => {
        srv = await startRunnerServer();
        T = await runnerTenant(srv, { catalog_type: 'sql', catalog_uri: 'local' });
    });
    after(async () => { if (srv) await srv.stop(); });

    test('tables are registered in <data dir>/iceberg_catalog.db (PostgreSQL: the store database) and read back', async () => {
        const conn = await registerTap(srv, T, { count: 7 });
        const rs = await triggerAndWait(T, conn.id);
        assert.equal(rs[0].status, 'completed', JSON.stringify(rs[0]));
        // 'local' is the SQLite file in the data dir, or on a PostgreSQL store its own database
        let loc;
        if (srv.dbPath.startsWith('postgres')) {
            loc = sql(srv.dbPath, 'SELECT metadata_location FROM iceberg_tables WHERE'
                + ` table_namespace = '${T.namespace}' AND table_name = '${conn.iomete_table}'`)[0]?.metadata_location;
        } else {
            const db = path.join(srv.dir, 'iceberg_catalog.db');
            assert.ok(fs.existsSync(db));
            loc = sqlMetadataLocation(db, T.namespace, conn.iomete_table);
        }
        assert.ok(loc && loc.includes(`/${T.slug}/${T.namespace}/${conn.iomete_table}/metadata/`), loc);
        assert.deepEqual(ids(await readIcebird({ metadataLocation: loc })), range(1, 7));
    });
});

describe('runner: tap resolution, keys and catalogs', { skip: notBuilt('serve') }, () => {
    let srv, T;
    before(async () => {
        // A fake `meltano` on PATH records how it was invoked, then runs the fixture tap with
        // the arguments meant for the plugin.
        const dir = (await import('./lib/server.mjs')).tempDir();
        const bin = path.join(dir, 'bin');
        fs.mkdirSync(bin, { recursive: true });
        fs.mkdirSync(path.join(dir, 'meltano-project'));
        const fixture = path.join(path.dirname(new URL(import.meta.url).pathname), '..', 'taps', 'tap-fixture');
        fs.writeFileSync(path.join(bin, 'meltano'), `#!/bin/sh
printf '%s\\n' "$PWD" "$@" > "${dir}/io/meltano-args.txt"
shift 3
exec "${fixture}" "$@"
`, { mode: 0o755 });
        srv = await startRunnerServer({ dir, env: { PATH: `${bin}:${process.env.PATH}`,
            IVORY_MELTANO_PROJECT: path.join(dir, 'meltano-project'),
            IVORY_TAP_DATA_DIRS: path.dirname(fixture) } });
        fs.symlinkSync(fixture, path.join(srv.dir, 'taps', 'tap-pinned@2.0.1'));
        T = await runnerTenant(srv);
    });
    after(async () => { if (srv) await srv.stop(); });

    test('tap_version pins the executable tap_name@tap_version', async () => {
        const conn = await registerTap(srv, T, { count: 3 }, { tap_name: 'tap-pinned', tap_version: '2.0.1', connector_type: 'custom' });
        const rs = await triggerAndWait(T, conn.id);
        assert.equal(rs[0].status, 'completed', JSON.stringify(rs[0]));
        assert.equal(rs[0].rows_loaded, 3);
        const other = await registerTap(srv, T, { count: 3 }, { tap_name: 'tap-pinned', tap_version: '9.9', connector_type: 'custom' });
        const rs2 = await triggerAndWait(T, other.id);
        assert.equal(rs2[0].status, 'failed');
        assert.match(rs2[0].error_msg, /tap-pinned@9\.9/);
    });

    test('meltano connectors run through `meltano --environment=ENV invoke TAP` in the project', async () => {
        const conn = await registerTap(srv, T, { count: 2 }, { tap_name: 'tap-whatever',
            connector_type: 'meltano', meltano_environment: 'staging' });
        const rs = await triggerAndWait(T, conn.id);
        assert.equal(rs[0].status, 'completed', JSON.stringify(rs[0]));
        const args = fs.readFileSync(path.join(srv.io, 'meltano-args.txt'), 'utf8').trim().split('\n');
        assert.equal(args[0], path.join(srv.dir, 'meltano-project'));
        assert.deepEqual(args.slice(1, 4), ['--environment=staging', 'invoke', 'tap-whatever']);
        assert.equal(args[4], '--config');
    });

    test('a hive catalog fails clearly; an unreachable rest catalog fails naming it', async () => {
        let r = await T.c.post(`/v1/admin/tenants/${T.id}/catalog`, { catalog_name: 'metastore', catalog_type: 'hive',
            catalog_uri: 'thrift://127.0.0.1:9', warehouse: 's3://bucket/wh', storage_prefix: 'x' });
        assert.ok([200, 201].includes(r.status), r.text);
        let conn = await registerTap(srv, T, { count: 1 }, { destination_catalog: 'metastore', connector_type: 'custom' });
        let rs = await triggerAndWait(T, conn.id);
        assert.equal(rs[0].status, 'failed');
        assert.match(rs[0].error_msg, /'hive'.*not support/);
        // rest/glue work (tests/e2e/runner_lakehouse.test.mjs); nothing listens on port 9
        r = await T.c.post(`/v1/admin/tenants/${T.id}/catalog`, { catalog_name: 'remote', catalog_type: 'rest',
            catalog_uri: 'http://127.0.0.1:9', warehouse: 's3://bucket/wh', storage_prefix: 'x' });
        assert.ok([200, 201].includes(r.status), r.text);
        conn = await registerTap(srv, T, { count: 1 }, { destination_catalog: 'remote', connector_type: 'custom' });
        rs = await triggerAndWait(T, conn.id);
        assert.equal(rs[0].status, 'failed');
        assert.match(rs[0].error_msg, /cannot open catalog 'remote' \(rest\): GET http:\/\/127\.0\.0\.1:9\/v1\/config/);
    });

    test('a completed run leaves no private run directory behind', async () => {
        const left = fs.readdirSync(path.join(srv.dir, 'tmp')).filter((f) => f.startsWith('ivory-run-'));
        assert.deepEqual(left, []);
    });
});

describe('runner: without IVORY_CONFIG_KEY', { skip: notBuilt('serve') }, () => {
    let srv, T;
    before(async () => {
        srv = await startRunnerServer({ env: { IVORY_CONFIG_KEY: '' } });
        T = await runnerTenant(srv);
    });
    after(async () => { if (srv) await srv.stop(); });

    test('a connector with a config fails clearly; one without runs with {}', async () => {
        const withCfg = await registerTap(srv, T, { count: 2 });
        let rs = await triggerAndWait(T, withCfg.id);
        assert.equal(rs[0].status, 'failed');
        assert.match(rs[0].error_msg, /IVORY_CONFIG_KEY is not set/);
        const noCfg = await registerTap(srv, T, null);
        rs = await triggerAndWait(T, noCfg.id);
        assert.equal(rs[0].status, 'completed', JSON.stringify(rs[0]));
        assert.equal(rs[0].rows_loaded, 5, 'the fixture got {} and used its defaults');
    });
});

describe('runner: a failed run keeps its checkpoints', { skip: notBuilt('serve') }, () => {
    let srv, T;
    before(async () => {
        srv = await startRunnerServer({ env: { IVORY_CHECKPOINT_ROWS: '1', IVORY_CHECKPOINT_SECONDS: '3600' } });
        T = await runnerTenant(srv);
    });
    after(async () => { if (srv) await srv.stop(); });

    test('rows up to the last checkpoint count, the bookmark advances, the next run resumes', async () => {
        const src = path.join(srv.io, 'ckpt.jsonl');
        fs.writeFileSync(src, range(1, 20).map((i) => JSON.stringify({ id: i, name: `r${i}` })).join('\n') + '\n');
        const conn = await registerTap(srv, T, { source: src, state_every: 2, fail_after: 5 });
        let rs = await triggerAndWait(T, conn.id);
        assert.equal(rs[0].status, 'failed');
        assert.equal(rs[0].rows_synced, 5);
        assert.equal(rs[0].rows_loaded, 4, 'checkpoints at the STATEs after rows 2 and 4');
        assert.deepEqual(ids(await tableRows(srv, T, conn.iomete_table)), [1, 2, 3, 4]);
        const d = (await T.c.get(`/v1/admin/connectors/${conn.id}`)).json;
        assert.deepEqual(d.tap_state, { bookmarks: { items: { last_id: 4 } } });
        assert.equal(d.rows_total, 4, 'rows a failed run committed count in rows_total');
        rs = await triggerAndWait(T, conn.id);
        assert.equal(rs[0].status, 'failed');
        assert.equal(rs[0].rows_loaded, 4);
        assert.deepEqual(ids(await tableRows(srv, T, conn.iomete_table)), range(1, 8), 'no row twice, none lost');
        assert.equal((await T.c.get(`/v1/admin/connectors/${conn.id}`)).json.rows_total, 8);
    });
});

describe('runner: SIGTERM with syncs running', { skip: notBuilt('serve') }, () => {
    test('a sync that ends within IVORY_SHUTDOWN_GRACE completes; a longer one is killed and reported failed', async () => {
        const dir = (await import('./lib/server.mjs')).tempDir();
        const srv = await startRunnerServer({ dir, keepDir: true, env: { IVORY_SHUTDOWN_GRACE: '2' } });
        const T = await runnerTenant(srv);
        const shortPid = path.join(srv.io, 'short.pid'), longPid = path.join(srv.io, 'long.pid');
        const short = await registerTap(srv, T, { count: 10, sleep: 0.05, pid_file: shortPid });
        const long = await registerTap(srv, T, { count: 1000, sleep: 0.05, pid_file: longPid });
        for (const c of [short, long])
            assert.equal((await T.c.post(`/v1/admin/connectors/${c.id}/trigger`)).status, 202);
        const end = Date.now() + 10000;
        while (!(fs.existsSync(shortPid) && fs.existsSync(longPid)) && Date.now() < end) await sleep(50);
        const pid = readTapPid(longPid);
        const t0 = Date.now();
        assert.equal(await srv.stop(), 0, 'exit 0 after SIGTERM');
        assert.ok(Date.now() - t0 < 14000, `stopped in ${Date.now() - t0} ms`);
        const run = (id) => sql(srv.dbPath, `SELECT status, error_msg FROM sync_runs WHERE connector_id = '${id}'`)[0];
        assert.equal(run(short.id).status, 'completed');
        assert.equal(run(long.id).status, 'failed');
        assert.match(run(long.id).error_msg, /runner shut down/);
        assert.ok(!pidAlive(pid), 'the long tap was killed');
        assert.equal(sql(srv.dbPath, 'SELECT COUNT(*) AS n FROM runner_jobs')[0].n, 0);
        fs.rmSync(dir, { recursive: true, force: true });
    });
});

describe('runner: webhook endpoint unreachable', { skip: notBuilt('serve') }, () => {
    let srv, T;
    before(async () => {
        srv = await startRunnerServer({ env: { IVORY_API_URL: 'http://127.0.0.1:9', IVORY_WEBHOOK_MAX_ATTEMPTS: '2' } });
        T = await runnerTenant(srv);
    });
    after(async () => { if (srv) await srv.stop(); });

    test('after the retries the run\'s effects are applied directly in the store', async () => {
        const conn = await registerTap(srv, T, { count: 4 });
        const rs = await triggerAndWait(T, conn.id, { timeoutMs: 60000 });
        assert.equal(rs[0].status, 'completed', JSON.stringify(rs[0]));
        assert.equal(rs[0].rows_loaded, 4);
        const d = (await T.c.get(`/v1/admin/connectors/${conn.id}`)).json;
        assert.equal(d.rows_total, 4);
        assert.deepEqual(d.tap_state, { bookmarks: { items: { last_id: 4 } } });
        assert.match(srv.stderr(), /webhook not delivered; its effects were applied directly/);
    });
});
