// adversarial_runs.test.mjs — issue 7: what a tenant can do to runs. Point 5: a webhook a
// tenant signs with its own connector's secret cannot override the Ivory runner's report for a
// run that runner holds (409); the runner's real result (rows, bookmark) stands.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import {
    ids, range, registerTap, runnerTenant, runs, sleep, startRunnerServer, tableRows, triggerAndWait,
    waitRuns,
} from './lib/runner.mjs';
import { postWebhook, signature } from './lib/webhook.mjs';
import { PG_URL, notBuilt, tempDir } from './lib/server.mjs';
import { client, fetchRetry } from './lib/http.mjs';
import { sql } from './lib/db.mjs';

describe('adversarial: the runner owns the runs it holds', { skip: notBuilt('serve') }, () => {
    let srv, T;
    before(async () => {
        srv = await startRunnerServer();
        T = await runnerTenant(srv);
    });
    after(async () => { if (srv) await srv.stop(); });

    test("a tenant's forged report for a running run is refused 409; the runner's result stands", async () => {
        const pidFile = path.join(srv.io, 'forge.pid');
        const conn = await registerTap(srv, T, { count: 6, sleep: 0.2, state_every: 2, pid_file: pidFile });
        assert.equal((await T.c.post(`/v1/admin/connectors/${conn.id}/trigger`)).status, 202);
        const end = Date.now() + 10000;
        while (!fs.existsSync(pidFile) && Date.now() < end) await sleep(50);
        const running = (await runs(T, conn.id))[0];
        assert.equal(running.status, 'running');
        const forged = {
            connector_id: conn.id, run_id: running.run_id ?? running.id, status: 'completed',
            rows_synced: 999, rows_loaded: 999, tap_state: { bookmarks: { items: { last_id: 999 } } },
            started_at: new Date(Date.now() - 1000).toISOString(), completed_at: new Date().toISOString(),
        };
        const r = await postWebhook(srv.url, conn.webhook_secret, forged);
        assert.equal(r.status, 409, r.text);
        assert.equal(r.json.field, 'run_id');
        assert.match(r.json.detail, /Ivory runner/);
        // A made-up runner header with the tenant's own HMAC does not pass either.
        const raw = JSON.stringify(forged);
        const res = await fetchRetry(`${srv.url}/v1/etl/meltano/webhook`, { method: 'POST', body: raw, headers: {
            'content-type': 'application/json', 'x-ivory-signature': signature(conn.webhook_secret, raw),
            'x-ivory-runner': 'anything', 'x-ivory-runner-signature': signature(conn.webhook_secret, raw) } });
        assert.equal(res.status, 409);
        const rs = await waitRuns(T, conn.id, 1);
        assert.equal(rs[0].status, 'completed', JSON.stringify(rs[0]));
        assert.equal(rs[0].rows_loaded, 6);
        const d = (await T.c.get(`/v1/admin/connectors/${conn.id}`)).json;
        assert.deepEqual(d.tap_state, { bookmarks: { items: { last_id: 6 } } });
        assert.equal(d.rows_total, 6);
        assert.deepEqual(ids(await tableRows(srv, T, conn.iomete_table)), range(1, 6));
    });
});

describe('adversarial: a crashed run still counts what it committed (point 8)', { skip: notBuilt('serve') }, () => {
    test('rows committed before the runner was killed are added to rows_total', { timeout: 60000 }, async () => {
        const dir = tempDir();
        const ENV = { IVORY_RUNNER_LEASE: '1', IVORY_CHECKPOINT_ROWS: '1' };
        let srv = await startRunnerServer({ dir, keepDir: true, env: ENV });
        try {
            const key = srv.key, secret = srv.secret;
            const T = await runnerTenant(srv);
            // Commits rows 1-4 (STATE after 2 and 4), then hangs until its runner is killed.
            const conn = await registerTap(srv, T, { count: 4, state_every: 2, hang: true });
            assert.equal((await T.c.post(`/v1/admin/connectors/${conn.id}/trigger`)).status, 202);
            const end = Date.now() + 15000;
            const progress = () => sql(srv.dbPath, `SELECT rows_loaded FROM sync_runs WHERE connector_id = '${conn.id}'`)[0]?.rows_loaded;
            while (progress() !== 4 && Date.now() < end) await sleep(50);
            assert.equal(progress(), 4, 'checkpoint progress recorded on the running run');
            srv.proc.kill('SIGKILL');
            await srv.exited;
            srv = await startRunnerServer({ dir, keepDir: true, key, secret, env: ENV });
            T.c = client(srv.url, T.token);
            const rs = await waitRuns(T, conn.id, 1, { timeoutMs: 20000 });
            assert.equal(rs[0].status, 'failed');
            assert.match(rs[0].error_msg, /stopped renewing its lease/);
            assert.equal(rs[0].rows_loaded, 4);
            assert.deepEqual(ids(await tableRows(srv, T, conn.iomete_table)), range(1, 4));
            assert.equal((await T.c.get(`/v1/admin/connectors/${conn.id}`)).json.rows_total, 4);
        } finally {
            await srv.stop();
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });
});

describe('adversarial: smaller holes of point 8', { skip: notBuilt('serve') }, () => {
    let srv, T;
    before(async () => {
        srv = await startRunnerServer();
        T = await runnerTenant(srv);
    });
    after(async () => { if (srv) await srv.stop(); });

    test('tap stderr that is not UTF-8 keeps the failure reason', async () => {
        // Latin-1 "café" and a lone continuation byte, then the failure message.
        const conn = await registerTap(srv, T, { count: 3, fail_after: 1, fail_message: 'the API said no',
            stderr_hex: Buffer.from('caf\xe9 \x80 latin-1\n', 'latin1').toString('hex') });
        const rs = await triggerAndWait(T, conn.id);
        assert.equal(rs[0].status, 'failed');
        assert.ok(rs[0].error_msg, 'error_msg is not null');
        assert.match(rs[0].error_msg, /exited with status 3/);
        assert.match(rs[0].error_msg, /the API said no/);
        assert.match(rs[0].error_msg, /caf\uFFFD \uFFFD latin-1/);
    });

    test('impossible schedules are refused with 422 naming sync_schedule', async () => {
        for (const sched of ['0 0 31 2 *', '0 0 30 2 *', '0 0 31 4,6,9,11 *']) {
            const r = await T.c.post('/v1/admin/connectors', { source_system: 's', tap_name: 'tap-fixture',
                destination_catalog: 'ivory-lakehouse', destination_table: `t_${Date.now()}`, sync_schedule: sched });
            assert.equal(r.status, 422, `${sched}: ${r.text}`);
            assert.equal(r.json.field, 'sync_schedule');
            assert.match(r.json.detail, /never/);
        }
        const ok = await T.c.post('/v1/admin/connectors', { source_system: 's', tap_name: 'tap-fixture',
            destination_catalog: 'ivory-lakehouse', destination_table: `t_${Date.now()}`, sync_schedule: '0 0 29 2 *' });
        assert.equal(ok.status, 201, ok.text);
    });

    test('the store, its WAL, the master key and the warehouse files are private (0600/0700)',
         { skip: PG_URL ? 'the store is a PostgreSQL database in this pass (no store file)' : false }, async () => {
        const conn = await registerTap(srv, T, { count: 2 });
        assert.equal((await triggerAndWait(T, conn.id))[0].status, 'completed');
        const files = [srv.dbPath, `${srv.dbPath}-wal`, path.join(srv.dir, 'master.key')];
        const walk = (d) => fs.readdirSync(d, { withFileTypes: true }).flatMap((e) =>
            e.isDirectory() ? [path.join(d, e.name), ...walk(path.join(d, e.name))] : [path.join(d, e.name)]);
        const wh = walk(path.join(srv.dir, 'wh'));
        assert.ok(wh.some((f) => f.endsWith('.parquet')) && wh.some((f) => f.endsWith('.metadata.json')), wh.join(' '));
        for (const f of [...files, ...wh]) {
            if (!fs.existsSync(f)) continue;
            const mode = fs.statSync(f).mode & 0o777;
            assert.equal(mode & 0o077, 0, `${f} is ${mode.toString(8)}: readable by others`);
        }
        assert.ok(fs.existsSync(srv.dbPath) && fs.existsSync(path.join(srv.dir, 'master.key')));
    });
});

describe('adversarial: the data directory deleted under a running server (point 8)',
         { skip: notBuilt('serve') || (PG_URL ? 'SQLite store file only (PostgreSQL pass)' : false) }, () => {
    test('writes fail instead of vanishing, and /healthz turns unhealthy', async () => {
        const dir = tempDir();
        const srv = await startRunnerServer({ dir, keepDir: true });
        try {
            const T = await runnerTenant(srv);
            assert.equal((await fetchRetry(`${srv.url}/healthz`)).status, 200);
            fs.rmSync(dir, { recursive: true, force: true });
            const h = await fetchRetry(`${srv.url}/healthz`);
            assert.equal(h.status, 503);
            assert.equal((await h.json()).error, 'store_lost');
            const r = await T.c.post('/v1/admin/connectors', { source_system: 's', tap_name: 'tap-fixture',
                destination_catalog: 'ivory-lakehouse', destination_table: 'lost', sync_schedule: '@daily' });
            assert.notEqual(r.status, 201, 'a write to a deleted store must not be acknowledged');
            assert.ok(r.status >= 500, r.text);
        } finally {
            await srv.stop();
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });
});

describe('adversarial: secrets never leak through error messages (point 6)', { skip: notBuilt('serve') }, () => {
    let srv, T;
    const secret = 'Hunter2"Pass\\word';
    before(async () => {
        srv = await startRunnerServer({ taps: ['tap-fixture', 'source-fixture'] });
        T = await runnerTenant(srv);
    });
    after(async () => { if (srv) await srv.stop(); });
    const leaks = (text) => [secret, JSON.stringify(secret).slice(1, -1), secret.toUpperCase(),
        JSON.stringify(secret.toUpperCase()).slice(1, -1), secret.toLowerCase()].filter((f) => text.includes(f));

    test('an Airbyte TRACE error carrying a config value is redacted in error_msg and the log', async () => {
        const conn = await registerTap(srv, T, { api_key: secret, fail: `401 for key ${secret}` },
            { tap_name: 'source-fixture', connector_type: 'airbyte' });
        const rs = await triggerAndWait(T, conn.id);
        assert.equal(rs[0].status, 'failed');
        assert.match(rs[0].error_msg, /401 for key \[REDACTED\]/);
        assert.deepEqual(leaks(rs[0].error_msg), []);
        assert.deepEqual(leaks(srv.stderr()), [], 'the server log');
    });

    test('JSON-escaped and upper-cased forms in stderr are redacted', async () => {
        const text = `escaped=${JSON.stringify(secret)} upper=${secret.toUpperCase()} lower=${secret.toLowerCase()}`;
        const conn = await registerTap(srv, T, { password: secret, stderr_text: text, count: 3, fail_after: 1 });
        const rs = await triggerAndWait(T, conn.id);
        assert.equal(rs[0].status, 'failed');
        assert.match(rs[0].error_msg, /escaped="\[REDACTED\]" upper=\[REDACTED\] lower=\[REDACTED\]/, rs[0].error_msg);
        assert.deepEqual(leaks(rs[0].error_msg), []);
        assert.deepEqual(leaks(srv.stderr()), []);
    });
});
