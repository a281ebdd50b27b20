// api_edges.test.mjs — the corners of docs/api.md where a careful implementation and a
// careless one differ: tenant creation rules, identities that differ only past a length limit,
// webhooks that point one connector's signature at another connector's run, webhook body
// validation, what a failed run must not overwrite, and the delete cascade.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { sql, insertRunningRun } from './lib/db.mjs';
import { client } from './lib/http.mjs';
import { hs256 } from './lib/jwt.mjs';
import { notBuilt, startServer } from './lib/server.mjs';
import { catalogBody, connectorBody, newTenant, register, uniqueSlug } from './lib/tenant.mjs';
import { postWebhook } from './lib/webhook.mjs';

const iso = (ms) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
const whBody = (conn, runId, over = {}) => ({
    connector_id: conn.id, run_id: runId, status: 'completed', rows_synced: 5, rows_loaded: 5,
    transform_errors: 0, tap_state: { bookmarks: { s: { v: 1 } } }, started_at: iso(Date.now() - 5000),
    completed_at: iso(Date.now()), error_msg: null,
    iomete_table: `${conn.iomete_namespace}.${conn.iomete_table}`, snapshot_id: 1, ...over,
});

describe('edges: tenants and identities (docs/api.md)', { skip: notBuilt('serve') }, () => {
    let srv;
    before(async () => { srv = await startServer(); });
    after(async () => { if (srv) await srv.stop(); });

    test('an unknown tenant without a tenant_slug claim cannot provision a catalog', async () => {
        const id = crypto.randomUUID();
        const c = client(srv.url, hs256(srv.secret, id));
        const r = await c.post(`/v1/admin/tenants/${id}/catalog`, catalogBody('nobody'));
        assert.ok([403, 404, 422].includes(r.status), `${r.status} ${r.text}`);
        const l = await c.get(`/v1/admin/tenants/${id}/catalog`);
        assert.ok(l.status !== 200 || !JSON.stringify(l.json).includes('nobody'), 'catalog was stored');
    });

    test('an invalid tenant_slug claim is refused and creates nothing', async () => {
        for (const slug of ['AB', 'a_b', 'x'.repeat(49), 'acme corp', '']) {
            const id = crypto.randomUUID();
            const c = client(srv.url, hs256(srv.secret, id, { tenant_slug: slug }));
            const r = await c.post(`/v1/admin/tenants/${id}/catalog`, catalogBody('p'));
            assert.ok(r.status >= 400 && r.status < 500, `slug ${JSON.stringify(slug)}: ${r.status} ${r.text}`);
            assert.equal(sql(srv.dbPath, `SELECT count(*) AS n FROM tenants WHERE id = '${id}'`)[0].n, 0);
        }
    });

    test('a second tenant cannot take an existing slug', async () => {
        const A = await newTenant(srv);
        const id = crypto.randomUUID();
        const c = client(srv.url, hs256(srv.secret, id, { tenant_slug: A.slug }));
        const r = await c.post(`/v1/admin/tenants/${id}/catalog`, catalogBody(A.slug));
        assert.ok([409, 422].includes(r.status), `${r.status} ${r.text}`);
        const reg = await c.post('/v1/admin/connectors', connectorBody());
        assert.equal(reg.status, 422, `registering without a catalog: ${reg.status} ${reg.text}`);
    });

    test('registering with a token of a tenant that has no catalog: 422 destination_catalog', async () => {
        const c = client(srv.url, hs256(srv.secret, crypto.randomUUID()));
        const r = await c.post('/v1/admin/connectors', connectorBody());
        assert.equal(r.status, 422, r.text);
        assert.equal(r.json?.field, 'destination_catalog');
        const l = await c.get('/v1/admin/connectors');
        assert.equal(l.status, 200, l.text);
        assert.deepEqual(l.json, { connectors: [], count: 0 });
    });

    test('subjects that differ only after 255 characters are different tenants', async (t) => {
        // A server that copies sub into a fixed buffer must refuse longer ones, not truncate.
        const long = `t${'x'.repeat(254)}`;
        const slug = uniqueSlug('long');
        const ca = client(srv.url, hs256(srv.secret, long, { tenant_slug: slug }));
        const prov = await ca.post(`/v1/admin/tenants/${long}/catalog`, catalogBody(slug));
        if (prov.status !== 201) {
            assert.ok(prov.status >= 400 && prov.status < 500, `${prov.status} ${prov.text}`);
            t.diagnostic(`a 255-character sub is refused (${prov.status}); nothing to compare`);
            return;
        }
        const conn = await register(ca);
        for (const extra of ['y', 'y'.repeat(300)]) {
            const cb = client(srv.url, hs256(srv.secret, `${long}${extra}`));
            const r = await cb.get(`/v1/admin/connectors/${conn.id}`);
            assert.ok([401, 404].includes(r.status), `sub of ${long.length + extra.length} chars sees the 255-char tenant's connector: ${r.status}`);
            const l = await cb.get('/v1/admin/connectors');
            assert.ok(l.status === 401 || !l.json.connectors.some((x) => x.id === conn.id), 'list leak via a truncated sub');
        }
    });
});

describe('edges: webhook (docs/api.md "Runner webhook")', { skip: notBuilt('serve') }, () => {
    let srv, A, B;
    before(async () => {
        srv = await startServer();
        A = await newTenant(srv);
        B = await newTenant(srv);
    });
    after(async () => { if (srv) await srv.stop(); });
    const detail = async (T, id) => (await T.c.get(`/v1/admin/connectors/${id}`)).json;

    test("one connector's secret cannot finish another connector's run", async () => {
        const a1 = await register(A.c), a2 = await register(A.c), b1 = await register(B.c);
        const run = insertRunningRun(srv.dbPath, a1.id);
        for (const [label, other] of [['same tenant', a2], ['other tenant', b1]]) {
            const r = await postWebhook(srv.url, other.webhook_secret, whBody(other, run));
            assert.ok(r.status >= 400 && r.status < 500, `${label}: ${r.status} ${r.text}`);
        }
        // And naming a1 while signing with a2's secret is a bad signature.
        const r = await postWebhook(srv.url, a2.webhook_secret, whBody(a1, run));
        assert.equal(r.status, 401, r.text);
        const runs = (await A.c.get(`/v1/admin/connectors/${a1.id}/runs`)).json;
        assert.equal(runs.runs[0].status, 'running', 'the run was finished through another connector');
        for (const [T, c] of [[A, a1], [A, a2], [B, b1]]) {
            const d = await detail(T, c.id);
            assert.equal(d.rows_total, 0);
            assert.equal(d.tap_state, null);
        }
    });

    test('invalid webhook bodies with a valid signature: 4xx, nothing changes', async () => {
        const conn = await register(A.c);
        const run = insertRunningRun(srv.dbPath, conn.id);
        const cases = {
            'status bogus': { status: 'bogus' },
            'status running': { status: 'running' },
            'negative rows_loaded': { rows_loaded: -5 },
            'rows_loaded a string': { rows_loaded: '5' },
            'tap_state a string': { tap_state: 'not an object' },
            'run_id missing': { run_id: undefined },
        };
        for (const [label, over] of Object.entries(cases)) {
            const b = whBody(conn, run, over);
            for (const k of Object.keys(b)) if (b[k] === undefined) delete b[k];
            const r = await postWebhook(srv.url, conn.webhook_secret, b);
            assert.ok(r.status >= 400 && r.status < 500, `${label}: ${r.status} ${r.text}`);
        }
        const bad = await postWebhook(srv.url, conn.webhook_secret, '{"connector_id": ');
        assert.ok([400, 401].includes(bad.status), `malformed JSON: ${bad.status}`);
        const d = await detail(A, conn.id);
        assert.equal(d.rows_total, 0);
        assert.equal(d.tap_state, null);
        assert.equal((await A.c.get(`/v1/admin/connectors/${conn.id}/runs`)).json.runs[0].status, 'running');
    });

    test('an unknown run_id with a valid signature changes nothing', async () => {
        const conn = await register(A.c);
        const r = await postWebhook(srv.url, conn.webhook_secret, whBody(conn, crypto.randomUUID()));
        assert.ok(r.status === 200 || (r.status >= 400 && r.status < 500), `${r.status} ${r.text}`);
        const d = await detail(A, conn.id);
        assert.equal(d.rows_total, 0);
        assert.equal(d.run_count, 0);
        assert.equal(d.tap_state, null);
    });

    test('a failed run does not overwrite the bookmark, rows_total or last_synced_at', async () => {
        const conn = await register(A.c);
        const r1 = insertRunningRun(srv.dbPath, conn.id);
        assert.equal((await postWebhook(srv.url, conn.webhook_secret, whBody(conn, r1))).status, 200);
        const good = await detail(A, conn.id);
        const lastSynced = (await A.c.get('/v1/admin/connectors')).json.connectors.find((x) => x.id === conn.id).last_synced_at;
        const r2 = insertRunningRun(srv.dbPath, conn.id);
        const f = await postWebhook(srv.url, conn.webhook_secret, whBody(conn, r2, {
            status: 'failed', rows_loaded: 3, tap_state: { bookmarks: { s: { v: 999 } } }, error_msg: 'boom',
        }));
        assert.equal(f.status, 200, f.text);
        const d = await detail(A, conn.id);
        assert.deepEqual(d.tap_state, good.tap_state, 'a failed run replaced the bookmark');
        assert.equal(d.rows_total, good.rows_total, 'a failed run added to rows_total');
        const row = (await A.c.get('/v1/admin/connectors')).json.connectors.find((x) => x.id === conn.id);
        assert.equal(row.last_synced_at, lastSynced);
        assert.equal(row.last_error, 'boom');
    });

    test('delete removes runs, runner jobs, mappings and the bookmark in the store', async () => {
        const conn = await register(A.c);
        const r1 = insertRunningRun(srv.dbPath, conn.id);
        assert.equal((await postWebhook(srv.url, conn.webhook_secret, whBody(conn, r1))).status, 200);
        insertRunningRun(srv.dbPath, conn.id);
        assert.equal((await A.c.del(`/v1/admin/connectors/${conn.id}`)).status, 204);
        const tables = sql(srv.dbPath, "SELECT name FROM sqlite_master WHERE type = 'table'").map((x) => x.name);
        for (const t of tables) {
            const cols = sql(srv.dbPath, `PRAGMA table_info(${t})`).map((x) => x.name);
            const col = t === 'connectors' ? 'id' : cols.includes('connector_id') ? 'connector_id' : null;
            if (!col) continue;
            const n = sql(srv.dbPath, `SELECT count(*) AS n FROM ${t} WHERE ${col} = '${conn.id}'`)[0].n;
            assert.equal(n, 0, `${t} still has ${n} row(s) of the deleted connector`);
        }
        const again = await postWebhook(srv.url, conn.webhook_secret, whBody(conn, r1));
        assert.ok(again.status >= 400 && again.status < 500, `webhook for a deleted connector: ${again.status}`);
    });
});

describe('edges: decoding before validating (docs/api.md)', { skip: notBuilt('serve') }, () => {
    let srv, T;
    before(async () => { srv = await startServer(); T = await newTenant(srv); });
    after(async () => { if (srv) await srv.stop(); });

    test('JSON escapes are decoded before the rules apply', async () => {
        const snapshot = (await T.c.get('/v1/admin/connectors')).text;
        for (const [field, escaped] of [['tap_name', 'tap\\u002fx'], ['tap_name', '\\u002e\\u002e'],
            ['destination_table', 'T\\u0041BLE'], ['source_system', 'sales\\nforce']]) {
            const raw = JSON.stringify(connectorBody({ [field]: '@@X@@' })).replace('"@@X@@"', `"${escaped}"`);
            assert.ok(raw.includes(escaped));
            const r = await T.c('POST', '/v1/admin/connectors', { raw });
            assert.equal(r.status, 422, `${field}=${escaped}: ${r.status} ${r.text}`);
            assert.equal(r.json?.field, field);
        }
        assert.equal((await T.c.get('/v1/admin/connectors')).text, snapshot);
    });

    test('duplicate keys in a body do not smuggle a bad value past validation', async () => {
        const raw = '{"source_system":"salesforce","tap_name":"tap-x","tap_name":"../../bin/sh",' +
            '"destination_catalog":"ivory-lakehouse","destination_table":"dups"}';
        const r = await T.c('POST', '/v1/admin/connectors', { raw });
        if (r.status === 201) {
            const row = (await T.c.get('/v1/admin/connectors')).json.connectors.find((x) => x.id === r.json.id);
            assert.match(row.tap_name, /^[a-z0-9][a-z0-9._-]{0,127}$/, `stored tap_name ${row.tap_name}`);
        } else {
            assert.ok([400, 422].includes(r.status), `${r.status} ${r.text}`);
        }
    });
});
