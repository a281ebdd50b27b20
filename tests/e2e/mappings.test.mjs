// mappings.test.mjs — field mappings and transforms end to end (docs/transforms.md, docs/api.md):
// the mappings API (atomic replace, syntax errors naming the mapping and column, tenant scope,
// mapping_count), the deterministic map-fields proposer, and the runner loading transformed
// rows (read back with icebird) while bad rows are counted and sampled; then kill -9 during a
// mapped sync: every row still lands exactly once, transformed.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { client } from './lib/http.mjs';
import { notBuilt, tempDir } from './lib/server.mjs';
import {
    registerTap, runnerTenant, runs, sleep, startRunnerServer, tableRows, triggerAndWait, waitRuns,
} from './lib/runner.mjs';

const MAPPINGS = [
    { source_stream: 'items', source_field: 'id', target_column: 'id', target_type: 'long' },
    { source_stream: 'items', source_field: 'name', target_column: 'full_name', target_type: 'string',
      transform_fn: "value.strip().title()" },
    { source_stream: 'items', source_field: 'email', target_column: 'email', target_type: 'string',
      transform_fn: "value.strip().lower() if value else None" },
    { source_stream: 'items', source_field: 'amount', target_column: 'amount_cents', target_type: 'long',
      transform_fn: 'round(float(value) * 100)' },
    { source_stream: 'items', source_field: 'signup', target_column: 'signup_date', target_type: 'date',
      transform_fn: 'parse_date(value)' },
    { source_stream: 'items', source_field: 'id', target_column: 'label', target_type: 'string',
      transform_fn: "f\"{row['name'].split()[0].upper()}-{value:04d}\"" },
];

function writeRows(file, from, to, bad = new Set()) {
    let s = '';
    for (let i = from; i <= to; i++) {
        s += JSON.stringify({
            id: i, name: `  ann lee ${i} `, email: ` Ann.${i}@Example.COM `,
            amount: bad.has(i) ? 'n/a' : (i * 1.25).toFixed(2), signup: `2024-01-${String((i % 28) + 1).padStart(2, '0')}T23:30:00-02:00`,
        }) + '\n';
    }
    fs.appendFileSync(file, s);
}

const expected = (i) => ({
    id: i, full_name: `Ann Lee ${i}`, email: `ann.${i}@example.com`,
    amount_cents: Math.round(i * 125), label: `ANN-${String(i).padStart(4, '0')}`,
});

describe('field mappings and transforms', { skip: notBuilt('serve') }, () => {
    let srv, T, T2;
    before(async () => {
        srv = await startRunnerServer();
        T = await runnerTenant(srv);
        T2 = await runnerTenant(srv);
    });
    after(async () => { if (srv) await srv.stop(); });

    test('PUT replaces atomically, GET reads back, mapping_count counts; errors change nothing', async () => {
        const conn = await registerTap(srv, T, { count: 1 });
        const url = `/v1/admin/connectors/${conn.id}/mappings`;
        let r = await T.c.put(url, { mappings: MAPPINGS });
        assert.equal(r.status, 200, r.text);
        assert.equal(r.json.count, MAPPINGS.length);
        r = await T.c.get(url);
        assert.equal(r.status, 200);
        assert.deepEqual(r.json.mappings.map((m) => m.target_column), MAPPINGS.map((m) => m.target_column));
        assert.equal(r.json.mappings[1].transform_fn, MAPPINGS[1].transform_fn);
        assert.equal(r.json.mappings[0].transform_fn, null);
        assert.equal((await T.c.get(`/v1/admin/connectors/${conn.id}`)).json.mapping_count, MAPPINGS.length);

        // A syntax error: 422 naming the mapping and the column; the saved set is unchanged.
        const bad = [MAPPINGS[0], { ...MAPPINGS[1], transform_fn: 'value.strip(' }];
        r = await T.c.put(url, { mappings: bad });
        assert.equal(r.status, 422, r.text);
        assert.equal(r.json.field, 'mappings[1].transform_fn');
        assert.equal(r.json.column, 13);
        assert.match(r.json.detail, /mappings\[1\].*full_name.*column 13/);
        for (const [m, field] of [[{ ...MAPPINGS[0], target_type: 'varchar' }, 'mappings[0].target_type'],
                                  [{ ...MAPPINGS[0], extra: 1 }, 'mappings[0].extra'],
                                  [{ ...MAPPINGS[0], target_column: 'Bad Name' }, 'mappings[0].target_column'],
                                  [{ ...MAPPINGS[0], transform_fn: "__import__('os')" }, 'mappings[0].transform_fn']]) {
            r = await T.c.put(url, { mappings: [m] });
            assert.equal(r.status, 422, JSON.stringify(m));
            assert.equal(r.json.field, field);
        }
        r = await T.c.put(url, { mappings: [MAPPINGS[0], MAPPINGS[0]] });
        assert.equal(r.status, 422);
        assert.equal((await T.c.get(url)).json.count, MAPPINGS.length, 'nothing changed');

        // Another tenant sees nothing and changes nothing.
        assert.equal((await T2.c.get(url)).status, 404);
        assert.equal((await T2.c.put(url, { mappings: [] })).status, 404);
        assert.equal((await T.c.get(url)).json.count, MAPPINGS.length);

        r = await T.c.put(url, { mappings: [] });
        assert.equal(r.status, 200);
        assert.equal((await T.c.get(`/v1/admin/connectors/${conn.id}`)).json.mapping_count, 0);
    });

    test('map-fields proposes by normalised name, synonyms and type, and saves', async () => {
        const conn = await registerTap(srv, T, { count: 1 });
        const r = await T.c.post(`/v1/admin/connectors/${conn.id}/map-fields`, {
            source_stream: 'users',
            source_schema: { type: 'object', properties: {
                UserID: { type: 'integer' }, 'E-Mail': { type: ['null', 'string'] }, createdAt: { type: 'string', format: 'date-time' },
                phone_number: { type: 'string' }, zip: { type: 'integer' }, notes: { type: 'string' } } },
            target_schema: 'custom', target_table: conn.iomete_table,
            target_schema_def: { user_id: 'long', email: 'string', created_at: 'timestamptz', telephone: 'string',
                                 postal_code: 'string', balance: 'double' },
        });
        assert.equal(r.status, 201, r.text);
        const by = Object.fromEntries(r.json.mappings.map((m) => [m.target_column, m]));
        assert.equal(by.user_id.source_field, 'UserID');
        assert.equal(by.user_id.review_required, false);
        assert.equal(by.email.source_field, 'E-Mail');
        assert.equal(by.created_at.source_field, 'createdAt');
        assert.equal(by.telephone.source_field, 'phone_number');
        assert.equal(by.telephone.review_required, true, 'a synonym is a guess');
        assert.equal(by.postal_code.source_field, 'zip');
        assert.match(by.postal_code.transform_fn, /str\(value\)/, 'int -> string needs a cast');
        assert.equal(by.balance, undefined);
        assert.equal(r.json.mapped, 5);
        assert.equal(r.json.review_required, r.json.mappings.filter((m) => m.review_required).length);
        assert.equal(typeof r.json.message, 'string');
        const saved = (await T.c.get(`/v1/admin/connectors/${conn.id}/mappings`)).json;
        assert.equal(saved.count, 5);
        const bad = await T.c.post(`/v1/admin/connectors/${conn.id}/map-fields`, {
            source_stream: 'users', source_schema: {}, target_schema: 'xx', target_table: 'x', target_schema_def: {} });
        assert.equal(bad.status, 422);
    });

    test('a mapped sync loads transformed rows; bad rows are counted and sampled', async () => {
        const src = path.join(srv.io, 'mapped.jsonl');
        writeRows(src, 1, 12, new Set([4, 9]));
        const conn = await registerTap(srv, T, { source: src, state_every: 5 });
        assert.equal((await T.c.put(`/v1/admin/connectors/${conn.id}/mappings`, { mappings: MAPPINGS })).status, 200);
        const rs = await triggerAndWait(T, conn.id);
        assert.equal(rs[0].status, 'completed', JSON.stringify(rs[0]));
        assert.equal(rs[0].rows_synced, 12);
        assert.equal(rs[0].transform_errors, 2);
        assert.equal(rs[0].rows_loaded, 10);
        const run = await T.c.get(`/v1/admin/connectors/${conn.id}/runs/${rs[0].id}`);
        assert.equal(run.status, 200, run.text);
        assert.equal(run.json.transform_samples.length, 2);
        assert.equal(run.json.transform_samples[0].field, 'amount_cents');
        assert.equal(run.json.transform_samples[0].value, '"n/a"');
        assert.match(run.json.transform_samples[0].error, /ValueError: could not convert string to float/);
        assert.equal((await T2.c.get(`/v1/admin/connectors/${conn.id}/runs/${rs[0].id}`)).status, 404);

        const rows = (await tableRows(srv, T, conn.iomete_table)).sort((a, b) => Number(a.id) - Number(b.id));
        assert.deepEqual(rows.map((r) => Number(r.id)), [1, 2, 3, 5, 6, 7, 8, 10, 11, 12]);
        for (const r of rows) {
            const i = Number(r.id), want = expected(i);
            assert.equal(r.full_name, want.full_name);
            assert.equal(r.email, want.email);
            assert.equal(Number(r.amount_cents), want.amount_cents);
            assert.equal(r.label, want.label);
            // 23:30 at -02:00 is the next day in UTC
            const day = new Date(Date.UTC(2024, 0, (i % 28) + 2));
            assert.equal(new Date(r.signup_date).toISOString().slice(0, 10), day.toISOString().slice(0, 10));
            assert.equal(r.name, undefined, 'only mapped columns');
        }
    });
});

describe('mapped sync: kill -9 at random moments, then restart', { skip: notBuilt('serve') }, () => {
    const dir = tempDir('ivory-mapcrash-');
    const ENV = { IVORY_CHECKPOINT_ROWS: '50', IVORY_CHECKPOINT_SECONDS: '0.2', IVORY_RUNNER_LEASE: '2' };
    let srv;
    after(async () => {
        if (srv) await srv.stop();
        if (!process.env.IVORY_E2E_KEEP) fs.rmSync(dir, { recursive: true, force: true });
    });

    test('every transformed row exactly once after 3 crashes', { timeout: 180000 }, async () => {
        srv = await startRunnerServer({ dir, keepDir: true, env: ENV });
        const key = srv.key, secret = srv.secret;
        const T = await runnerTenant(srv);
        const src = path.join(dir, 'io', 'source.jsonl');
        let n = 0;
        const grow = () => { writeRows(src, n + 1, n + 300); n += 300; };
        grow();
        const conn = await registerTap(srv, T, { source: src, state_every: 10, sleep: 0.004 });
        assert.equal((await T.c.put(`/v1/admin/connectors/${conn.id}/mappings`, { mappings: MAPPINGS })).status, 200);
        const kick = async () => {
            const end = Date.now() + 60000;
            while ((await runs(T, conn.id)).some((r) => r.status === 'running')) {
                if (Date.now() > end) throw new Error('a run stayed running after its runner died');
                await sleep(100);
            }
            const d = (await T.c.get(`/v1/admin/connectors/${conn.id}`)).json;
            if (d.status === 'error') await T.c.post(`/v1/admin/connectors/${conn.id}/resume`);
            assert.equal((await T.c.post(`/v1/admin/connectors/${conn.id}/trigger`)).status, 202);
        };
        for (let k = 0; k < 3; k++) {
            await kick();
            await sleep(300 + Math.floor(Math.random() * 1200));
            srv.proc.kill('SIGKILL');
            await srv.exited;
            srv = await startRunnerServer({ dir, keepDir: true, key, secret, env: ENV });
            T.c = client(srv.url, T.token);
            grow();
        }
        await kick();
        const end = Date.now() + 120000;
        for (;;) {
            const rs = await waitRuns(T, conn.id, (await runs(T, conn.id)).length, { timeoutMs: 60000 });
            if (rs[0].status === 'completed') break;
            if (Date.now() > end) throw new Error(`no completed run: ${JSON.stringify(rs.slice(0, 3))}`);
            await kick();
        }
        const rows = await tableRows(srv, T, conn.iomete_table);
        const got = rows.map((r) => Number(r.id)).sort((a, b) => a - b);
        assert.equal(got.length, n, 'rows in the table');
        assert.deepEqual(got, Array.from({ length: n }, (_, i) => i + 1), 'every row exactly once');
        for (const r of rows) assert.equal(r.label, expected(Number(r.id)).label);
    });
});
