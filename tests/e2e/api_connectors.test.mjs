// api_connectors.test.mjs — the connector lifecycle of docs/api.md against the real server:
// register (exact seed keys), list (every seed key, nulls before the first run, ?status=),
// detail (extra keys, no secrets), trigger, pause, resume (next cron fire, checked against
// croniter), delete, and the runs endpoint's limit bounds.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { cronNext, ISO_UTC } from './lib/cron.mjs';
import { notBuilt, startServer } from './lib/server.mjs';
import { connectorBody, newTenant, register } from './lib/tenant.mjs';

const REGISTER_KEYS = ['id', 'source_system', 'tap_name', 'iomete_namespace', 'iomete_table',
    'webhook_secret', 'webhook_url', 'next_run_at', 'status'].sort();
const LIST_KEYS = ['id', 'source_system', 'tap_name', 'connector_type', 'destination_catalog',
    'iomete_namespace', 'iomete_table', 'sync_schedule', 'status', 'consecutive_failures',
    'rows_total', 'last_synced_at', 'next_run_at', 'last_run_status', 'last_run_rows',
    'last_run_rows_loaded', 'last_run_at', 'last_error'];
const DETAIL_KEYS = ['id', 'source_system', 'status', 'mapping_count', 'run_count',
    'total_rows_loaded_iomete', 'rows_total', 'tap_state', 'next_run_at', 'consecutive_failures',
    'tap_version', 'meltano_environment'];
const FIRST_RUN_DELAY = 300;

describe('connectors lifecycle (docs/api.md "Connectors")', { skip: notBuilt('serve') }, () => {
    let srv, A;
    before(async () => {
        srv = await startServer({ firstRunDelay: FIRST_RUN_DELAY });
        A = await newTenant(srv, { slug: `acme-${Date.now() % 100000}` });
    });
    after(async () => { if (srv) await srv.stop(); });

    test('register: 201 with exactly the seed keys', async () => {
        const body = connectorBody();
        const t0 = Date.now();
        const r = await A.c.post('/v1/admin/connectors', body);
        const t1 = Date.now();
        assert.equal(r.status, 201, r.text);
        assert.deepEqual(Object.keys(r.json).sort(), REGISTER_KEYS);
        const j = r.json;
        assert.match(j.id, /^[0-9a-f-]{36}$/i);
        assert.equal(j.source_system, body.source_system);
        assert.equal(j.tap_name, body.tap_name);
        assert.equal(j.iomete_namespace, A.namespace);
        assert.equal(j.iomete_table, body.destination_table);
        assert.match(j.webhook_secret, /^[0-9a-f]{64}$/);
        assert.equal(j.webhook_url, '/v1/etl/meltano/webhook');
        assert.equal(j.status, 'active');
        assert.match(j.next_run_at, ISO_UTC);
        const next = Date.parse(j.next_run_at);
        assert.ok(next >= t0 + FIRST_RUN_DELAY * 1000 - 1500 && next <= t1 + FIRST_RUN_DELAY * 1000 + 1500,
            `next_run_at ${j.next_run_at} is not now + ${FIRST_RUN_DELAY}s`);
    });

    test('register: two connectors get different ids and secrets', async () => {
        const a = await register(A.c), b = await register(A.c);
        assert.notEqual(a.id, b.id);
        assert.notEqual(a.webhook_secret, b.webhook_secret);
    });

    test('register: defaults (schedule 0 2 * * *, meltano, prod, tap_version null)', async () => {
        const body = connectorBody();
        delete body.sync_schedule;
        const r = await A.c.post('/v1/admin/connectors', body);
        assert.equal(r.status, 201, r.text);
        const list = (await A.c.get('/v1/admin/connectors')).json.connectors;
        const row = list.find((x) => x.id === r.json.id);
        assert.equal(row.sync_schedule, '0 2 * * *');
        assert.equal(row.connector_type, 'meltano');
        const d = (await A.c.get(`/v1/admin/connectors/${r.json.id}`)).json;
        assert.equal(d.meltano_environment, 'prod');
        assert.equal(d.tap_version, null);
    });

    test('list: every seed key, nulls before the first run, count matches', async () => {
        const reg = await register(A.c, { connector_type: 'airbyte', tap_version: '1.2.3' });
        const r = await A.c.get('/v1/admin/connectors');
        assert.equal(r.status, 200, r.text);
        assert.ok(Array.isArray(r.json.connectors));
        assert.equal(r.json.count, r.json.connectors.length);
        const row = r.json.connectors.find((x) => x.id === reg.id);
        assert.ok(row, 'registered connector is listed');
        for (const k of LIST_KEYS) assert.ok(k in row, `list item lacks '${k}'`);
        for (const k of ['last_synced_at', 'last_run_status', 'last_run_rows', 'last_run_rows_loaded',
            'last_run_at', 'last_error'])
            assert.equal(row[k], null, `${k} must be null before the first run`);
        assert.equal(row.rows_total, 0);
        assert.equal(row.consecutive_failures, 0);
        assert.equal(row.connector_type, 'airbyte');
        assert.equal(row.destination_catalog, 'ivory-lakehouse');
        assert.equal(row.iomete_namespace, A.namespace);
        assert.equal(row.sync_schedule, '0 */6 * * *');
        assert.equal(row.status, 'active');
        assert.equal(row.next_run_at, reg.next_run_at);
        assert.ok(!('webhook_secret' in row) && !('config_encrypted' in row), 'list leaks a secret');
    });

    test('list: ?status= filter', async () => {
        const a = await register(A.c), p = await register(A.c);
        assert.equal((await A.c.post(`/v1/admin/connectors/${p.id}/pause`)).status, 200);
        const paused = (await A.c.get('/v1/admin/connectors?status=paused')).json;
        assert.ok(paused.connectors.length >= 1);
        assert.ok(paused.connectors.every((x) => x.status === 'paused'));
        assert.ok(paused.connectors.some((x) => x.id === p.id));
        assert.equal(paused.count, paused.connectors.length);
        const active = (await A.c.get('/v1/admin/connectors?status=active')).json;
        assert.ok(active.connectors.every((x) => x.status === 'active'));
        assert.ok(active.connectors.some((x) => x.id === a.id));
        assert.ok(!active.connectors.some((x) => x.id === p.id));
        const bad = await A.c.get('/v1/admin/connectors?status=bogus');
        assert.equal(bad.status, 422, bad.text);
    });

    test('detail: contract keys, no secrets, zero counts before the first run', async () => {
        const reg = await register(A.c, { config_encrypted: `v1:${Buffer.alloc(40, 7).toString('base64')}` });
        const r = await A.c.get(`/v1/admin/connectors/${reg.id}`);
        assert.equal(r.status, 200, r.text);
        for (const k of DETAIL_KEYS) assert.ok(k in r.json, `detail lacks '${k}'`);
        assert.ok(!('webhook_secret' in r.json), 'detail leaks webhook_secret');
        assert.ok(!('config_encrypted' in r.json), 'detail leaks config_encrypted');
        assert.ok(!JSON.stringify(r.json).includes(reg.webhook_secret), 'secret value appears in detail');
        assert.equal(r.json.id, reg.id);
        assert.equal(r.json.mapping_count, 0);
        assert.equal(r.json.run_count, 0);
        assert.equal(r.json.total_rows_loaded_iomete, 0);
        assert.equal(r.json.rows_total, 0);
        assert.equal(r.json.tap_state, null);
        assert.equal(r.json.consecutive_failures, 0);
        if ('has_config' in r.json) assert.equal(r.json.has_config, true);
    });

    test('trigger: 202 body and next_run_at = now', async () => {
        const reg = await register(A.c);
        const t0 = Date.now();
        const r = await A.c.post(`/v1/admin/connectors/${reg.id}/trigger`);
        assert.equal(r.status, 202, r.text);
        assert.equal(r.json.connector_id, reg.id);
        assert.equal(r.json.source_system, 'salesforce');
        assert.equal(r.json.status, 'queued');
        assert.equal(typeof r.json.message, 'string');
        assert.ok(r.json.message.length > 0);
        const d = (await A.c.get(`/v1/admin/connectors/${reg.id}`)).json;
        const next = Date.parse(d.next_run_at);
        assert.ok(Math.abs(next - t0) < 3000, `next_run_at ${d.next_run_at} is not now`);
    });

    test('pause: 200, clears next_run_at, idempotent; trigger while paused is 409', async () => {
        const reg = await register(A.c);
        const r1 = await A.c.post(`/v1/admin/connectors/${reg.id}/pause`);
        assert.equal(r1.status, 200, r1.text);
        assert.deepEqual(r1.json, { connector_id: reg.id, status: 'paused' });
        const r2 = await A.c.post(`/v1/admin/connectors/${reg.id}/pause`);
        assert.equal(r2.status, 200, r2.text);
        assert.deepEqual(r2.json, { connector_id: reg.id, status: 'paused' });
        const d = (await A.c.get(`/v1/admin/connectors/${reg.id}`)).json;
        assert.equal(d.status, 'paused');
        assert.equal(d.next_run_at, null);
        const t = await A.c.post(`/v1/admin/connectors/${reg.id}/trigger`);
        assert.equal(t.status, 409, t.text);
        assert.equal(typeof t.json?.error, 'string');
        const after2 = (await A.c.get(`/v1/admin/connectors/${reg.id}`)).json;
        assert.equal(after2.next_run_at, null, 'a rejected trigger changed next_run_at');
    });

    for (const schedule of ['*/7 * * * *', '0 */6 * * *', '@daily', '30 4 * * mon-fri']) {
        test(`resume: active, next_run_at = next fire of '${schedule}'`, async () => {
            const reg = await register(A.c, { sync_schedule: schedule });
            assert.equal((await A.c.post(`/v1/admin/connectors/${reg.id}/pause`)).status, 200);
            const t0 = Date.now();
            const r = await A.c.post(`/v1/admin/connectors/${reg.id}/resume`);
            const t1 = Date.now();
            assert.equal(r.status, 200, r.text);
            assert.deepEqual(r.json, { connector_id: reg.id, status: 'active' });
            const d = (await A.c.get(`/v1/admin/connectors/${reg.id}`)).json;
            assert.equal(d.status, 'active');
            assert.equal(d.consecutive_failures, 0);
            assert.match(d.next_run_at, ISO_UTC);
            // The request straddles at most one fire boundary: accept the fire after either end.
            const ok = [cronNext(schedule, t0 - 1000), cronNext(schedule, t1)];
            assert.ok(ok.includes(Date.parse(d.next_run_at)),
                `next_run_at ${d.next_run_at}, expected ${ok.map((x) => new Date(x).toISOString())}`);
        });
    }

    test('resume on an active connector keeps a queued trigger', async () => {
        // Not spelled out by the contract: resume is for paused/error connectors; on an active
        // one it must at least not push back a run the user just queued.
        const reg = await register(A.c);
        assert.equal((await A.c.post(`/v1/admin/connectors/${reg.id}/trigger`)).status, 202);
        const queued = (await A.c.get(`/v1/admin/connectors/${reg.id}`)).json.next_run_at;
        const r = await A.c.post(`/v1/admin/connectors/${reg.id}/resume`);
        assert.ok([200, 409].includes(r.status), `${r.status} ${r.text}`);
        const d = (await A.c.get(`/v1/admin/connectors/${reg.id}`)).json;
        assert.equal(d.status, 'active');
        assert.equal(d.next_run_at, queued, 'resume moved a queued run');
    });

    test('delete: 204, then 404 everywhere, gone from the list', async () => {
        const reg = await register(A.c);
        const r = await A.c.del(`/v1/admin/connectors/${reg.id}`);
        assert.equal(r.status, 204, r.text);
        assert.equal(r.text, '');
        for (const [m, p] of [['GET', ''], ['DELETE', ''], ['POST', '/trigger'], ['POST', '/pause'],
            ['POST', '/resume'], ['GET', '/runs']]) {
            const x = await A.c(m, `/v1/admin/connectors/${reg.id}${p}`);
            assert.equal(x.status, 404, `${m} ${p} after delete: ${x.status} ${x.text}`);
            assert.equal(typeof x.json?.error, 'string');
        }
        const list = (await A.c.get('/v1/admin/connectors')).json.connectors;
        assert.ok(!list.some((x) => x.id === reg.id));
    });

    test('unknown or malformed connector id: 404', async () => {
        for (const id of ['00000000-0000-4000-8000-000000000000', 'not-a-uuid', "1'%20OR%20'1'='1"]) {
            const r = await A.c.get(`/v1/admin/connectors/${id}`);
            assert.equal(r.status, 404, `${id}: ${r.status} ${r.text}`);
        }
    });

    test('runs: empty history, limit bounds 1..200', async () => {
        const reg = await register(A.c);
        const base = `/v1/admin/connectors/${reg.id}/runs`;
        for (const q of ['', '?limit=1', '?limit=50', '?limit=200']) {
            const r = await A.c.get(base + q);
            assert.equal(r.status, 200, `${q}: ${r.text}`);
            assert.deepEqual(r.json, { runs: [], count: 0 });
        }
        for (const q of ['?limit=0', '?limit=201', '?limit=x', '?limit=-1', '?limit=1.5', '?limit=', '?limit=99999999999999999999']) {
            const r = await A.c.get(base + q);
            assert.equal(r.status, 422, `${q}: ${r.status} ${r.text}`);
            assert.equal(r.json?.field, 'limit', `${q}: ${r.text}`);
        }
    });
});
