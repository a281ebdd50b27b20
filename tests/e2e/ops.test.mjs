// ops.test.mjs — operating a connector day to day (docs/api.md, "Operating a connector"),
// against the real `ivory serve` with a runner syncing the fixture tap: PATCH keeps the
// bookmark, a running run shows progress and can be cancelled (status 'cancelled', not a
// failure), the bookmark can be read, replaced while paused (audited in the run history) and
// cleared by a resync, the webhook secret rotates with a grace period, the list pages with a
// stable cursor, /readyz and /metrics answer (the exposition parsed by an independent parser),
// the OpenAPI document passes an independent validator, and every new route is tenant-scoped
// and refuses bad bodies without writing anything.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import parsePrometheus from 'parse-prometheus-text-format';
import { validate as validateOpenApi } from '@readme/openapi-parser';
import { notBuilt } from './lib/server.mjs';
import { newTenant } from './lib/tenant.mjs';
import { postWebhook } from './lib/webhook.mjs';
import {
    registerTap, runnerTenant, runs, sleep, startRunnerServer, triggerAndWait, waitRuns,
    writeSource,
} from './lib/runner.mjs';
import { fetchRetry } from './lib/http.mjs';

describe('operations API', { skip: notBuilt('serve') }, () => {
    let srv, T, other;
    before(async () => {
        srv = await startRunnerServer({ env: { IVORY_WEBHOOK_SECRET_GRACE: '3', IVORY_CHECKPOINT_SECONDS: '0.3' } });
        T = await runnerTenant(srv);
        other = await runnerTenant(srv);
    });
    after(async () => { if (srv) await srv.stop(); });

    const get = async (id) => (await T.c.get(`/v1/admin/connectors/${id}`)).json;
    const waitFor = async (what, fn, ms = 20000) => {
        const end = Date.now() + ms;
        for (;;) {
            const v = await fn();
            if (v) return v;
            if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
            await sleep(100);
        }
    };

    test('PATCH changes the schedule and keeps the bookmark; refuses unknown and read-only fields', async () => {
        const src = path.join(srv.io, 'patch.jsonl');
        writeSource(src, 1, 4);
        const k = await registerTap(srv, T, { source: src });
        await triggerAndWait(T, k.id);
        const before = await get(k.id);
        assert.deepEqual(before.tap_state, { bookmarks: { items: { last_id: 4 } } });
        const r = await T.c.patch(`/v1/admin/connectors/${k.id}`, { sync_schedule: '*/5 * * * *', schema_drift: 'freeze' });
        assert.equal(r.status, 200, r.text);
        assert.equal(r.json.sync_schedule, '*/5 * * * *');
        assert.equal(r.json.schema_drift, 'freeze');
        assert.deepEqual(r.json.tap_state, before.tap_state, 'the bookmark is kept');
        const next = Date.parse(r.json.next_run_at);
        assert.ok(next > Date.now() && next <= Date.now() + 5 * 60e3 + 1000, `next_run_at follows the new schedule: ${r.json.next_run_at}`);
        assert.equal(new Date(next).getUTCMinutes() % 5, 0);
        for (const [body, field] of [[{ source_system: 'x' }, 'source_system'], [{ nope: 1 }, 'nope'],
            [{ sync_schedule: '0 0 31 13 *' }, 'sync_schedule'], [{ destination_table: 'Bad-Name' }, 'destination_table'],
            [{ schema_drift: 'sometimes' }, 'schema_drift'], [{ tap_version: 7 }, 'tap_version']]) {
            const bad = await T.c.patch(`/v1/admin/connectors/${k.id}`, body);
            assert.equal(bad.status, 422, `${JSON.stringify(body)}: ${bad.text}`);
            assert.equal(bad.json.field, field);
        }
        assert.equal((await T.c.patch(`/v1/admin/connectors/${k.id}`, {})).status, 422, 'an empty PATCH changes nothing');
        assert.equal((await T.c.patch(`/v1/admin/connectors/${k.id}`, 'x', { raw: '[1]' })).status, 400);
        const afterBad = await get(k.id);
        assert.equal(afterBad.sync_schedule, '*/5 * * * *', 'refused PATCHes wrote nothing');
        assert.equal(afterBad.destination_table, before.destination_table);
        const t = await T.c.patch(`/v1/admin/connectors/${k.id}`, { tap_version: '1.2.3', destination_table: 'renamed' });
        assert.equal(t.status, 200);
        assert.equal(t.json.tap_version, '1.2.3');
        assert.equal(t.json.iomete_table, 'renamed');
        assert.equal((await T.c.patch(`/v1/admin/connectors/${k.id}`, { tap_version: null })).json.tap_version, null);
    });

    test('a running run reports progress; PATCH of what it uses is 409; cancel ends it as cancelled', async () => {
        const k = await registerTap(srv, T, { count: 2000, sleep: 0.01, state_every: 50 });
        assert.equal((await T.c.post(`/v1/admin/connectors/${k.id}/trigger`)).status, 202);
        const running = await waitFor('a running run', async () => (await runs(T, k.id)).find((r) => r.status === 'running'));
        const detail = await waitFor('progress', async () => {
            const d = (await T.c.get(`/v1/admin/connectors/${k.id}/runs/${running.id}`)).json;
            return d.progress?.rows_committed > 0 ? d : null;
        });
        assert.equal(detail.status, 'running');
        assert.ok(detail.progress.rows_read >= detail.progress.rows_committed);
        assert.ok(Date.parse(detail.progress.last_checkpoint_at) <= Date.now());
        const c409 = await T.c.patch(`/v1/admin/connectors/${k.id}`, { destination_table: 'elsewhere' });
        assert.equal(c409.status, 409, c409.text);
        assert.equal((await T.c.patch(`/v1/admin/connectors/${k.id}`, { sync_schedule: '@monthly' })).status, 200,
            'the schedule may change during a run');
        const c = await T.c.post(`/v1/admin/connectors/${k.id}/runs/${running.id}/cancel`);
        assert.equal(c.status, 202, c.text);
        assert.equal(c.json.status, 'cancelling');
        const rs = await waitRuns(T, k.id, 1);
        assert.equal(rs[0].status, 'cancelled');
        assert.ok(rs[0].rows_loaded > 0 && rs[0].rows_loaded < 2000, 'checkpoints before the cancel stay');
        const d = await get(k.id);
        assert.equal(d.consecutive_failures, 0);
        assert.equal(d.status, 'active');
        assert.equal(d.rows_total, rs[0].rows_loaded, 'committed rows count');
        assert.deepEqual(d.tap_state, { bookmarks: { items: { last_id: rs[0].rows_loaded } } }, 'the bookmark matches what was committed');
        const again = await T.c.post(`/v1/admin/connectors/${k.id}/runs/${running.id}/cancel`);
        assert.equal(again.status, 409);
        const done = (await T.c.get(`/v1/admin/connectors/${k.id}/runs/${running.id}`)).json;
        assert.equal(done.progress, null);
        assert.equal(typeof done.log_tail === 'string' || done.log_tail === null, true);
    });

    test('state: read; replace only while paused (audited); resync clears it and loads everything again', async () => {
        const src = path.join(srv.io, 'state.jsonl');
        writeSource(src, 1, 6);
        const k = await registerTap(srv, T, { source: src });
        await triggerAndWait(T, k.id);
        const s = await T.c.get(`/v1/admin/connectors/${k.id}/state`);
        assert.deepEqual(s.json.tap_state, { bookmarks: { items: { last_id: 6 } } });
        const put = (body) => T.c.put(`/v1/admin/connectors/${k.id}/state`, body);
        assert.equal((await put({ tap_state: { bookmarks: { items: { last_id: 2 } } } })).status, 409, 'active: refused');
        await T.c.post(`/v1/admin/connectors/${k.id}/pause`);
        for (const bad of [{ tap_state: [1] }, { tap_state: 'x' }, {}, { tap_state: {}, more: 1 }])
            assert.equal((await put(bad)).status, 422, JSON.stringify(bad));
        assert.deepEqual((await T.c.get(`/v1/admin/connectors/${k.id}/state`)).json.tap_state,
            { bookmarks: { items: { last_id: 6 } } }, 'refused bodies wrote nothing');
        const ok = await put({ tap_state: { bookmarks: { items: { last_id: 2 } } } });
        assert.equal(ok.status, 200, ok.text);
        assert.deepEqual(ok.json.tap_state, { bookmarks: { items: { last_id: 2 } } });
        const hist = await runs(T, k.id);
        assert.equal(hist[0].trigger, 'state_edit');
        const edit = (await T.c.get(`/v1/admin/connectors/${k.id}/runs/${hist[0].id}`)).json;
        assert.deepEqual(edit.state_before, { bookmarks: { items: { last_id: 6 } } });
        assert.deepEqual(edit.state_after, { bookmarks: { items: { last_id: 2 } } });
        assert.equal((await T.c.post(`/v1/admin/connectors/${k.id}/resync`)).status, 409, 'paused: resume first');
        await T.c.post(`/v1/admin/connectors/${k.id}/resume`);
        let rs = await triggerAndWait(T, k.id);
        assert.equal(rs[0].rows_synced, 4, 'the edited bookmark was given to the tap');
        const before = rs.length;
        const rz = await T.c.post(`/v1/admin/connectors/${k.id}/resync`);
        assert.equal(rz.status, 202, rz.text);
        assert.equal((await T.c.get(`/v1/admin/connectors/${k.id}/state`)).json.tap_state, null);
        rs = await waitRuns(T, k.id, before + 2);
        const full = rs.find((r) => r.trigger !== 'resync' && r.trigger !== 'state_edit');
        assert.equal(full.rows_synced, 6, 'a full sync after the resync');
    });

    test('webhook secret rotation: shown once, the old secret verifies during the grace period only', async () => {
        const k = await registerTap(srv, T, { count: 1 });
        const old = k.webhook_secret;
        const r = await T.c.post(`/v1/admin/connectors/${k.id}/rotate-webhook-secret`);
        assert.equal(r.status, 200);
        assert.match(r.json.webhook_secret, /^[0-9a-f]{64}$/);
        assert.notEqual(r.json.webhook_secret, old);
        assert.ok(!JSON.stringify((await T.c.get(`/v1/admin/connectors/${k.id}`)).json).includes(r.json.webhook_secret));
        const body = { connector_id: k.id, run_id: 'no-such-run', status: 'completed' };
        assert.equal((await postWebhook(srv.url, old, body)).status, 404, 'the old secret still verifies (404: unknown run)');
        assert.equal((await postWebhook(srv.url, r.json.webhook_secret, body)).status, 404, 'the new one verifies');
        await sleep(3500);
        assert.equal((await postWebhook(srv.url, old, body)).status, 401, 'after the grace period the old one is refused');
        assert.equal((await postWebhook(srv.url, r.json.webhook_secret, body)).status, 404);
        const after = await triggerAndWait(T, k.id);
        assert.equal(after[0].status, 'completed', 'the runner reports with the new secret');
    });

    test('listing pages with a stable cursor, filters by status and source_system', async () => {
        const U = await newTenant(srv, { catalog: { warehouse: `file://${srv.dir}/wh` } });
        const made = [];
        for (let i = 0; i < 7; i++) made.push((await registerTap(srv, U, null, { source_system: i % 2 ? 'odd' : 'even' })).id);
        const seen = [];
        let cursor = null, pages = 0;
        do {
            const r = await U.c.get(`/v1/admin/connectors?limit=3${cursor ? `&cursor=${cursor}` : ''}`);
            assert.equal(r.status, 200, r.text);
            assert.ok(r.json.connectors.length <= 3);
            assert.equal(r.json.count, r.json.connectors.length);
            seen.push(...r.json.connectors.map((c) => c.id));
            if (pages === 0) made.push((await registerTap(srv, U, null, { source_system: 'late' })).id);
            cursor = r.json.next_cursor;
            pages++;
        } while (cursor && pages < 10);
        assert.deepEqual(seen, made, 'every connector once, in creation order, including one added meanwhile');
        const odd = await U.c.get('/v1/admin/connectors?source_system=odd');
        assert.deepEqual(odd.json.connectors.map((c) => c.id), made.filter((_, i) => i % 2 === 1 && i < 7));
        await U.c.post(`/v1/admin/connectors/${made[0]}/pause`);
        const paused = await U.c.get('/v1/admin/connectors?status=paused&limit=10');
        assert.deepEqual(paused.json.connectors.map((c) => c.id), [made[0]]);
        for (const q of ['limit=0', 'limit=201', 'limit=x', 'cursor=zz', 'cursor=' + 'ab'.repeat(400), 'source_system=Bad!'])
            assert.equal((await U.c.get(`/v1/admin/connectors?${q}`)).status, 422, q);
        const all = await U.c.get('/v1/admin/connectors');
        assert.equal(all.json.count, 8, 'the unpaged list is unchanged');
        assert.equal('next_cursor' in all.json, false);
    });

    test('every new route is tenant-scoped: another tenant gets 404 and changes nothing', async () => {
        const k = await registerTap(srv, T, { count: 1 });
        const rs = await triggerAndWait(T, k.id);
        const before = await get(k.id);
        const calls = [
            ['PATCH', `/v1/admin/connectors/${k.id}`, { sync_schedule: '@hourly' }],
            ['GET', `/v1/admin/connectors/${k.id}/runs/${rs[0].id}`],
            ['POST', `/v1/admin/connectors/${k.id}/runs/${rs[0].id}/cancel`],
            ['GET', `/v1/admin/connectors/${k.id}/state`],
            ['PUT', `/v1/admin/connectors/${k.id}/state`, { tap_state: {} }],
            ['POST', `/v1/admin/connectors/${k.id}/resync`],
            ['POST', `/v1/admin/connectors/${k.id}/rotate-webhook-secret`],
        ];
        for (const [m, p, body] of calls) {
            const r = await other.c(m, p, body === undefined ? {} : { body });
            assert.equal(r.status, 404, `${m} ${p}: ${r.status} ${r.text}`);
        }
        const after = await get(k.id);
        assert.deepEqual({ ...after, next_run_at: null }, { ...before, next_run_at: null }, 'nothing changed');
        assert.equal((await T.c.get(`/v1/admin/connectors/${k.id}/runs/not-a-run`)).status, 404);
        // Bad input on the body-less routes: a body is a clear 4xx and writes nothing.
        for (const p of [`/v1/admin/connectors/${k.id}/resync`, `/v1/admin/connectors/${k.id}/rotate-webhook-secret`,
                         `/v1/admin/connectors/${k.id}/runs/${rs[0].id}/cancel`]) {
            const r = await T.c.post(p, undefined, { raw: '{"x":1}' });
            assert.equal(r.status, 422, `${p}: ${r.status} ${r.text}`);
            assert.equal(typeof r.json.detail, 'string');
        }
        const unchanged = await get(k.id);
        assert.deepEqual({ ...unchanged, next_run_at: null }, { ...before, next_run_at: null }, 'refused bodies wrote nothing');
    });

    test('/readyz, and /metrics in Prometheus format with runs, rows and webhook failures', async () => {
        assert.equal((await fetchRetry(`${srv.url}/readyz`)).status, 200);
        await postWebhook(srv.url, 'f'.repeat(64), { connector_id: 'nope', run_id: 'x', status: 'completed' });
        const r = await fetchRetry(`${srv.url}/metrics`);
        assert.equal(r.status, 200);
        assert.match(r.headers.get('content-type'), /^text\/plain; version=0\.0\.4/);
        const text = await r.text();
        const fams = Object.fromEntries(parsePrometheus(text).map((f) => [f.name, f]));
        for (const name of ['ivory_runs_total', 'ivory_rows_loaded_total', 'ivory_run_duration_seconds',
            'ivory_http_requests_total', 'ivory_http_request_duration_seconds', 'ivory_webhook_verifications_failed_total',
            'ivory_transform_errors_total', 'ivory_breaker_trips_total', 'ivory_runner_claims_total',
            'ivory_runner_lease_expiries_total', 'ivory_connectors'])
            assert.ok(fams[name], `metric ${name} is exposed`);
        const completed = fams.ivory_runs_total.metrics.filter((m) => m.labels.status === 'completed' && m.labels.trigger === 'manual')
            .reduce((a, m) => a + Number(m.value), 0);
        assert.ok(completed >= 3, `completed manual runs counted: ${completed}`);
        const cancelled = fams.ivory_runs_total.metrics.find((m) => m.labels.status === 'cancelled' && m.labels.trigger === 'manual');
        assert.ok(Number(cancelled.value) >= 1);
        const unknown = fams.ivory_webhook_verifications_failed_total.metrics.find((m) => m.labels.reason === 'unknown_connector');
        assert.ok(Number(unknown.value) >= 1);
        const h = fams.ivory_run_duration_seconds.metrics[0];
        assert.ok(Number(h.count) >= 3 && h.buckets['+Inf'] === h.count);
        const listed = fams.ivory_http_requests_total.metrics.find((m) => m.labels.route === '/v1/admin/connectors' && m.labels.method === 'GET' && m.labels.status === '200');
        assert.ok(Number(listed.value) >= 1);
        assert.doesNotMatch(text, new RegExp(T.id), 'no tenant id in the metrics');
    });

    test('GET /v1/openapi.json passes an independent OpenAPI validator and describes every route', async () => {
        const r = await fetchRetry(`${srv.url}/v1/openapi.json`);
        assert.equal(r.status, 200);
        const doc = await r.json();
        assert.equal(doc.openapi, '3.1.0');
        const res = await validateOpenApi(structuredClone(doc));
        assert.equal(res.valid, true, JSON.stringify(res.errors ?? res, null, 1).slice(0, 2000));
        const undocumented = [];
        for (const [p, item] of Object.entries(doc.paths))
            for (const [m, op] of Object.entries(item)) if (op['x-undocumented']) undocumented.push(`${m.toUpperCase()} ${p}`);
        assert.deepEqual(undocumented, []);
        for (const p of ['/v1/admin/connectors/{id}/state', '/v1/admin/connectors/{id}/runs/{run_id}/cancel'])
            assert.ok(doc.paths[p], p);
        const create = doc.paths['/v1/admin/connectors'].post.requestBody.content['application/json'].schema;
        assert.equal(create.properties.source_system.pattern, '^[a-z][a-z0-9_]{0,62}$');
        assert.deepEqual(create.required, ['source_system', 'tap_name', 'destination_catalog', 'destination_table']);
        assert.equal(create.properties.config_encrypted.writeOnly, true);
    });

    test('docs/api.md documents every field of the field tables with its rule', async () => {
        const doc = await (await fetchRetry(`${srv.url}/v1/openapi.json`)).json();
        const md = fs.readFileSync(new URL('../../docs/api.md', import.meta.url), 'utf8');
        for (const name of ['Connector', 'ConnectorPatch']) {
            for (const [field, p] of Object.entries(doc.components.schemas[name].properties)) {
                const row = md.split('\n').find((l) => l.startsWith(`| \`${field}\``));
                assert.ok(row, `docs/api.md has a table row for ${field}`);
                if (p.pattern) assert.ok(row.includes(p.pattern), `docs/api.md row of ${field} states ${p.pattern}`);
            }
        }
        // The catalog and webhook bodies: a row whose first cell names the field, stating its
        // allowed values; and no row of those tables names a field the table does not have.
        const firstCell = (l) => l.split('|')[1] ?? '';
        for (const [name, header] of [['CatalogBody', '| Field | Notes |'], ['WebhookBody', '| Field | Required | Rule |']]) {
            const schema = doc.components.schemas[name];
            const start = md.split('\n').findIndex((l) => l === header);
            assert.ok(start >= 0, `docs/api.md has the ${name} table`);
            const rows = [];
            for (const l of md.split('\n').slice(start + 2)) { if (!l.startsWith('|')) break; rows.push(l); }
            for (const [field, p] of Object.entries(schema.properties)) {
                const row = rows.find((l) => firstCell(l).includes(`\`${field}\``));
                assert.ok(row, `docs/api.md ${name} table has a row for ${field}`);
                for (const v of p.enum ?? []) if (v !== null) assert.ok(row.includes(`\`${v}\``), `${name}.${field} row states ${v}`);
                if (p.pattern) assert.ok(row.includes(p.pattern), `${name}.${field} row states ${p.pattern}`);
                if ((schema.required ?? []).includes(field) && name === 'WebhookBody')
                    assert.match(row.split('|')[2], /yes/, `${name}.${field} is required`);
            }
            for (const l of rows)
                for (const m of firstCell(l).matchAll(/`([a-z_]+)(\.[a-z_]+)?`/g))
                    assert.ok(m[1] in schema.properties, `docs/api.md ${name} table names ${m[1]}, which the field table lacks`);
        }
    });
});
