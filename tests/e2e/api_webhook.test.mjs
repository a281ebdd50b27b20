// api_webhook.test.mjs — the runner's completion callback and the status machine it drives
// (docs/api.md). The API alone is under test here, with no runner: the fixture inserts the
// `running` sync_runs row a runner would hold straight into the test server's store
// (lib/db.mjs), so each webhook's effect is exact. Signatures are computed independently with
// node's crypto (lib/webhook.mjs).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { cronNext, ISO_UTC } from './lib/cron.mjs';
import { insertRunningRun } from './lib/db.mjs';
import { notBuilt, startServer } from './lib/server.mjs';
import { newTenant, register } from './lib/tenant.mjs';
import { postWebhook, signature } from './lib/webhook.mjs';

const iso = (ms) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
const SCHEDULE = '0 */6 * * *';

function body(conn, runId, over = {}) {
    const started = Date.now() - 65000;
    return {
        connector_id: conn.id, run_id: runId, status: 'completed',
        rows_synced: 120, rows_loaded: 117, transform_errors: 3,
        tap_state: { bookmarks: { Opportunity: { SystemModstamp: '2026-03-28T12:01:00Z' } } },
        started_at: iso(started), completed_at: iso(started + 63000),
        error_msg: null, iomete_table: `${conn.iomete_namespace}.${conn.iomete_table}`, snapshot_id: 4242,
        ...over,
    };
}

describe('webhook (docs/api.md "Runner webhook")', { skip: notBuilt('serve') }, () => {
    let srv, T;
    before(async () => {
        srv = await startServer();
        T = await newTenant(srv);
    });
    after(async () => { if (srv) await srv.stop(); });

    const detail = async (id) => (await T.c.get(`/v1/admin/connectors/${id}`)).json;
    const listRow = async (id) => (await T.c.get('/v1/admin/connectors')).json.connectors.find((x) => x.id === id);

    test('completed: 200 and every effect; replay: 200 and nothing changes', async () => {
        const conn = await register(T.c, { sync_schedule: SCHEDULE });
        const runId = insertRunningRun(srv.dbPath, conn.id);
        const running = (await T.c.get(`/v1/admin/connectors/${conn.id}/runs`)).json;
        assert.equal(running.count, 1, 'fixture run not visible through the API');
        assert.equal(running.runs[0].status, 'running');

        const b = body(conn, runId);
        const t0 = Date.now();
        const r = await postWebhook(srv.url, conn.webhook_secret, b);
        const t1 = Date.now();
        assert.equal(r.status, 200, r.text);

        const d = await detail(conn.id);
        assert.equal(d.rows_total, 117);
        assert.equal(d.total_rows_loaded_iomete, 117);
        assert.deepEqual(d.tap_state, b.tap_state);
        assert.equal(d.consecutive_failures, 0);
        assert.equal(d.run_count, 1);
        assert.equal(d.status, 'active');
        const want = [cronNext(SCHEDULE, t0 - 1000), cronNext(SCHEDULE, t1)];
        assert.ok(want.includes(Date.parse(d.next_run_at)), `next_run_at ${d.next_run_at} is not the next cron fire`);

        const row = await listRow(conn.id);
        assert.match(row.last_synced_at, ISO_UTC);
        assert.ok(Math.abs(Date.parse(row.last_synced_at) - Date.now()) < 120000);
        assert.equal(row.rows_total, 117);
        assert.equal(row.last_run_status, 'completed');
        assert.equal(row.last_run_rows, 120);
        assert.equal(row.last_run_rows_loaded, 117);
        assert.match(row.last_run_at, ISO_UTC);
        assert.equal(row.last_error, null);

        const runs = (await T.c.get(`/v1/admin/connectors/${conn.id}/runs`)).json;
        assert.equal(runs.count, 1);
        const run = runs.runs[0];
        for (const k of ['id', 'status', 'rows_synced', 'rows_loaded', 'transform_errors', 'iomete_table',
            'started_at', 'completed_at', 'duration_s', 'error_msg'])
            assert.ok(k in run, `run lacks '${k}'`);
        assert.equal(run.id, runId);
        assert.equal(run.status, 'completed');
        assert.equal(run.rows_synced, 120);
        assert.equal(run.rows_loaded, 117);
        assert.equal(run.transform_errors, 3);
        assert.equal(run.iomete_table, `${T.namespace}.${conn.iomete_table}`);
        assert.ok(Number.isInteger(run.duration_s), `duration_s ${run.duration_s} is not an integer`);
        assert.equal(run.error_msg, null);

        const snapshot = JSON.stringify([await detail(conn.id), await listRow(conn.id),
            (await T.c.get(`/v1/admin/connectors/${conn.id}/runs`)).json]);
        const replay = await postWebhook(srv.url, conn.webhook_secret, b);
        assert.equal(replay.status, 200, replay.text);
        const changed = await postWebhook(srv.url, conn.webhook_secret, { ...b, rows_loaded: 999999 });
        assert.equal(changed.status, 200, 'a replay with another body is still acknowledged');
        const after1 = JSON.stringify([await detail(conn.id), await listRow(conn.id),
            (await T.c.get(`/v1/admin/connectors/${conn.id}/runs`)).json]);
        assert.equal(after1, snapshot, 'a replayed run_id changed the connector or its runs');
    });

    test('missing, malformed, old, future, wrong-secret and tampered signatures: 401, no effect', async () => {
        const conn = await register(T.c);
        const other = await register(T.c);
        const runId = insertRunningRun(srv.dbPath, conn.id);
        const b = body(conn, runId);
        const raw = JSON.stringify(b);
        const now = Math.floor(Date.now() / 1000);
        const cases = {
            'missing header': null,
            'empty header': '',
            'garbage header': 'nonsense',
            'no v1': `t=${now}`,
            'no t': `v1=${signature(conn.webhook_secret, raw).split('v1=')[1]}`,
            'non-hex v1': `t=${now},v1=zz`,
            'older than 300 s': signature(conn.webhook_secret, raw, { t: now - 301 - 5 }),
            'an hour old': signature(conn.webhook_secret, raw, { t: now - 3600 }),
            "another connector's secret": signature(other.webhook_secret, raw),
            'body changed after signing': signature(conn.webhook_secret, raw.replace('117', '118')),
            'signed with a different t': `t=${now - 1},${signature(conn.webhook_secret, raw, { t: now }).split(',')[1]}`,
        };
        for (const [label, header] of Object.entries(cases)) {
            const r = await postWebhook(srv.url, conn.webhook_secret, raw, { header });
            assert.equal(r.status, 401, `${label}: ${r.status} ${r.text}`);
            assert.ok(!/expired|mismatch|timestamp|hmac/i.test(r.text), `${label}: 401 body explains why: ${r.text}`);
        }
        const d = await detail(conn.id);
        assert.equal(d.rows_total, 0);
        assert.equal(d.tap_state, null);
        const runs = (await T.c.get(`/v1/admin/connectors/${conn.id}/runs`)).json;
        assert.equal(runs.runs[0].status, 'running');
        // The same body with a good signature still works afterwards.
        assert.equal((await postWebhook(srv.url, conn.webhook_secret, raw)).status, 200);
        assert.equal((await detail(conn.id)).rows_total, 117);
    });

    test('three failed runs trip the breaker; trigger 409; resume resets', async () => {
        const conn = await register(T.c, { sync_schedule: SCHEDULE });
        for (let i = 1; i <= 3; i++) {
            const runId = insertRunningRun(srv.dbPath, conn.id);
            const t0 = Date.now();
            const r = await postWebhook(srv.url, conn.webhook_secret, body(conn, runId, {
                status: 'failed', rows_synced: 0, rows_loaded: 0, transform_errors: 0, tap_state: null,
                error_msg: `tap exited with status ${i}`, snapshot_id: null,
            }));
            assert.equal(r.status, 200, r.text);
            const d = await detail(conn.id);
            assert.equal(d.consecutive_failures, i);
            const row = await listRow(conn.id);
            assert.equal(row.last_run_status, 'failed');
            assert.equal(row.last_error, `tap exited with status ${i}`);
            assert.equal(row.last_synced_at, null, 'a failed run set last_synced_at');
            if (i < 3) {
                assert.equal(d.status, 'active');
                const next = Date.parse(d.next_run_at);
                assert.ok(next > t0 - 1000 && next <= cronNext(SCHEDULE, Date.now()),
                    `retry ${d.next_run_at} is not a backoff capped by the next cron fire`);
            } else {
                assert.equal(d.status, 'error');
                assert.equal(d.next_run_at, null, 'error status must clear next_run_at');
            }
        }
        const runs = (await T.c.get(`/v1/admin/connectors/${conn.id}/runs`)).json;
        assert.equal(runs.count, 3);
        assert.ok(runs.runs.every((x) => x.status === 'failed'));
        assert.equal(runs.runs[0].error_msg, 'tap exited with status 3', 'runs are not latest first');
        const lim = (await T.c.get(`/v1/admin/connectors/${conn.id}/runs?limit=2`)).json;
        assert.equal(lim.count, 2);
        assert.deepEqual(lim.runs.map((x) => x.id), runs.runs.slice(0, 2).map((x) => x.id));

        const errList = (await T.c.get('/v1/admin/connectors?status=error')).json.connectors;
        assert.ok(errList.some((x) => x.id === conn.id));

        const trig = await T.c.post(`/v1/admin/connectors/${conn.id}/trigger`);
        assert.equal(trig.status, 409, trig.text);
        const res = await T.c.post(`/v1/admin/connectors/${conn.id}/resume`);
        assert.equal(res.status, 200, res.text);
        assert.deepEqual(res.json, { connector_id: conn.id, status: 'active' });
        const d = await detail(conn.id);
        assert.equal(d.status, 'active');
        assert.equal(d.consecutive_failures, 0);
        assert.match(d.next_run_at, ISO_UTC);
        assert.equal((await T.c.post(`/v1/admin/connectors/${conn.id}/trigger`)).status, 202);
    });

    test('a completed run after failures resets consecutive_failures', async () => {
        const conn = await register(T.c);
        const r1 = insertRunningRun(srv.dbPath, conn.id);
        assert.equal((await postWebhook(srv.url, conn.webhook_secret,
            body(conn, r1, { status: 'failed', rows_loaded: 0, error_msg: 'boom' }))).status, 200);
        assert.equal((await detail(conn.id)).consecutive_failures, 1);
        const r2 = insertRunningRun(srv.dbPath, conn.id);
        assert.equal((await postWebhook(srv.url, conn.webhook_secret, body(conn, r2))).status, 200);
        const d = await detail(conn.id);
        assert.equal(d.consecutive_failures, 0);
        assert.equal(d.rows_total, 117);
        const r3 = insertRunningRun(srv.dbPath, conn.id);
        assert.equal((await postWebhook(srv.url, conn.webhook_secret, body(conn, r3, { rows_loaded: 10 }))).status, 200);
        assert.equal((await detail(conn.id)).rows_total, 127, 'rows_loaded is not added to rows_total');
    });

    test("a trigger during a running sync survives the completion webhook", async () => {
        const conn = await register(T.c, { sync_schedule: SCHEDULE });
        const runId = insertRunningRun(srv.dbPath, conn.id);
        const t0 = Date.now();
        assert.equal((await T.c.post(`/v1/admin/connectors/${conn.id}/trigger`)).status, 202);
        assert.equal((await postWebhook(srv.url, conn.webhook_secret, body(conn, runId))).status, 200);
        const d = await detail(conn.id);
        assert.ok(Date.parse(d.next_run_at) <= Date.now() + 1000 && Date.parse(d.next_run_at) >= t0 - 1000,
            `queued follow-up lost: next_run_at ${d.next_run_at}`);
    });

    test('a paused connector stays paused after its running sync completes', async () => {
        const conn = await register(T.c);
        const runId = insertRunningRun(srv.dbPath, conn.id);
        assert.equal((await T.c.post(`/v1/admin/connectors/${conn.id}/pause`)).status, 200);
        assert.equal((await postWebhook(srv.url, conn.webhook_secret, body(conn, runId))).status, 200);
        const d = await detail(conn.id);
        assert.equal(d.status, 'paused');
        assert.equal(d.next_run_at, null);
        assert.equal(d.rows_total, 117);
    });
});

describe('webhook from the real runner (API and runner agree on the signature)', { skip: notBuilt('serve') || notBuilt('runner') }, () => {
    test('a trigger with no such tap ends as one failed run, reported through the webhook', async () => {
        const srv = await startServer({ pollInterval: 0.2 });
        try {
            const T = await newTenant(srv);
            const conn = await register(T.c, { tap_name: 'tap-does-not-exist' });
            assert.equal((await T.c.post(`/v1/admin/connectors/${conn.id}/trigger`)).status, 202);
            let run;
            for (let i = 0; i < 100 && !run; i++) {
                await new Promise((r) => setTimeout(r, 200));
                const runs = (await T.c.get(`/v1/admin/connectors/${conn.id}/runs`)).json;
                if (runs.count && runs.runs[0].status !== 'running') run = runs.runs[0];
            }
            assert.ok(run, `no finished run after 20 s; server log:\n${srv.stderr()}`);
            assert.equal(run.status, 'failed');
            assert.match(run.error_msg, /tap-does-not-exist/);
            const d = (await T.c.get(`/v1/admin/connectors/${conn.id}`)).json;
            assert.equal(d.consecutive_failures, 1, 'the failure did not reach the connector (webhook rejected?)');
            assert.equal(d.run_count, 1);
            const row = (await T.c.get('/v1/admin/connectors')).json.connectors.find((x) => x.id === conn.id);
            assert.equal(row.last_run_status, 'failed');
            assert.match(row.last_error, /tap-does-not-exist/);
        } finally {
            await srv.stop();
        }
    });
});
