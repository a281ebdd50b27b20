// api_validation.test.mjs — request validation and HTTP error semantics (docs/api.md):
// each register-field rule with accepted and rejected values, required fields, unknown fields,
// malformed JSON, Content-Type, the 1 MiB body limit, unknown paths (404 JSON) and wrong
// methods (405 + Allow). Every rejection must leave the store untouched.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { rawRequest } from './lib/http.mjs';
import { notBuilt, startServer } from './lib/server.mjs';
import { connectorBody, newTenant } from './lib/tenant.mjs';

const env = (n) => `v1:${Buffer.alloc(12 + 16 + n, 9).toString('base64')}`;

// field -> [accepted values, rejected values]
const MATRIX = {
    source_system: [
        ['a', 'salesforce', 'hub_spot2', `s${'a'.repeat(62)}`],
        ['', '1abc', '_abc', 'Salesforce', 'sales-force', 'sales force', `s${'a'.repeat(63)}`, 'café', 5, null, true],
    ],
    tap_name: [
        ['tap-salesforce', '0', 'tap.x_y-z', 'a'.repeat(128), 'tap-x..y'],
        ['', '-tap', '.tap', '_tap', '../bin/sh', '/usr/bin/tap', 'tap/x', 'Tap-x', 'a'.repeat(129), 'tap x', 'tap\u0000x', 7, null],
    ],
    destination_table: [
        ['_t', 'orders_2024', 'a'.repeat(128)],
        ['', '1t', 'Orders', 't-x', 't.x', 'a'.repeat(129), ' t', 3, null],
    ],
    sync_schedule: [
        ['* * * * *', '*/15 * * * *', '0 2 * * *', '0 0 1,15 * *', '0 9-17 * * 1-5', '0 0 * jan,jul sun',
            '30 4 * * mon-fri', '0 0 * * 7', '0-30/10 * * * *', '@hourly', '@daily', '@weekly', '@monthly', '@yearly'],
        ['', '* * * *', '* * * * * *', '60 * * * *', '* 24 * * *', '* * 0 * *', '* * 32 * *', '* * * 13 *',
            '* * * * 8', '*/0 * * * *', '@reboot', '@every 5m', 'a b c d e', '* * * foo *', 1, null],
    ],
    connector_type: [
        ['meltano', 'airbyte', 'fivetran', 'custom'],
        ['singer', 'MELTANO', '', 1, null],
    ],
    config_encrypted: [
        [env(2), env(500), null],
        ['v2:' + env(2).slice(3), 'v1:not base64!!', env(-20), 'v1:', '{"user":"x"}', { a: 1 }, 5],
    ],
    tap_version: [
        ['1.2.3', 'v2.0.0+build-1', 'A_b', 'a'.repeat(64), null],
        ['', 'a'.repeat(65), '1.0 beta', '1/2', '>=1.0', 'v1;rm', 12],
    ],
    destination_catalog: [
        ['ivory-lakehouse'],
        ['', 5, null],
    ],
    meltano_environment: [
        ['prod', 'staging'],
        [5, {}],
    ],
};

const show = (v) => (typeof v === 'string' && v.length > 40 ? `${JSON.stringify(v.slice(0, 20))}…(${v.length})` : JSON.stringify(v));

describe('request validation (docs/api.md)', { skip: notBuilt('serve') }, () => {
    let srv, T;
    before(async () => {
        srv = await startServer();
        T = await newTenant(srv);
    });
    after(async () => { if (srv) await srv.stop(); });

    for (const [field, [good]] of Object.entries(MATRIX)) {
        test(`${field}: accepted values register (201)`, async () => {
            for (const v of good) {
                const r = await T.c.post('/v1/admin/connectors', connectorBody({ [field]: v }));
                assert.equal(r.status, 201, `${field}=${show(v)}: ${r.status} ${r.text}`);
            }
        });
    }

    test('every rejected value is 422 naming the field, and nothing is written', async () => {
        const snapshot = (await T.c.get('/v1/admin/connectors')).text;
        for (const [field, [, bad]] of Object.entries(MATRIX)) {
            for (const v of bad) {
                const r = await T.c.post('/v1/admin/connectors', connectorBody({ [field]: v }));
                assert.equal(r.status, 422, `${field}=${show(v)}: ${r.status} ${r.text}`);
                assert.equal(r.json?.field, field, `${field}=${show(v)}: ${r.text}`);
                assert.equal(typeof r.json?.error, 'string');
                assert.equal(typeof r.json?.detail, 'string');
                assert.ok(r.json.detail.length > 0);
            }
        }
        for (const field of ['source_system', 'tap_name', 'destination_catalog', 'destination_table']) {
            const body = connectorBody();
            delete body[field];
            const r = await T.c.post('/v1/admin/connectors', body);
            assert.equal(r.status, 422, `missing ${field}: ${r.status} ${r.text}`);
            assert.equal(r.json?.field, field, `missing ${field}: ${r.text}`);
        }
        for (const extra of ['foo', 'webhook_secret', 'id', 'status', 'tenant_id']) {
            const r = await T.c.post('/v1/admin/connectors', connectorBody({ [extra]: 'x' }));
            assert.equal(r.status, 422, `unknown field ${extra}: ${r.status} ${r.text}`);
            assert.equal(r.json?.field, extra, `unknown field ${extra}: ${r.text}`);
        }
        assert.equal((await T.c.get('/v1/admin/connectors')).text, snapshot, 'a rejected request wrote something');
    });

    test('malformed JSON and wrong Content-Type: 400, nothing written', async () => {
        const snapshot = (await T.c.get('/v1/admin/connectors')).text;
        const good = JSON.stringify(connectorBody());
        const cases = [
            ['truncated JSON', { raw: '{"source_system": ' }],
            ['trailing garbage', { raw: `${good}xyz` }],
            ['empty body', { raw: '' }],
            ['not JSON', { raw: 'source_system=salesforce' }],
            ['text/plain', { raw: good, contentType: 'text/plain' }],
            ['form encoded', { raw: good, contentType: 'application/x-www-form-urlencoded' }],
            ['no Content-Type', { raw: good, contentType: null }],
        ];
        for (const [name, opts] of cases) {
            const r = await T.c('POST', '/v1/admin/connectors', opts);
            assert.equal(r.status, 400, `${name}: ${r.status} ${r.text}`);
            assert.equal(typeof r.json?.error, 'string', `${name}: ${r.text}`);
        }
        const arr = await T.c('POST', '/v1/admin/connectors', { raw: '[]' });
        assert.ok([400, 422].includes(arr.status), `array body: ${arr.status} ${arr.text}`);
        assert.equal((await T.c.get('/v1/admin/connectors')).text, snapshot);
        const ok = await T.c('POST', '/v1/admin/connectors', { raw: good, contentType: 'application/json; charset=utf-8' });
        assert.equal(ok.status, 201, `charset parameter: ${ok.status} ${ok.text}`);
    });

    test('body over 1 MiB: 413; just under: validated normally', async () => {
        const snapshot = (await T.c.get('/v1/admin/connectors')).text;
        const headers = { 'content-type': 'application/json', authorization: `Bearer ${T.token}` };
        const pad = (n) => `{"source_system":"${'a'.repeat(n - 20)}"}`;
        const big = pad(1048576 + 1);
        assert.equal(Buffer.byteLength(big), 1048577);
        const r = await rawRequest(srv.url, 'POST', '/v1/admin/connectors', { headers, body: big });
        assert.equal(r.status, 413, `over limit: ${r.status} ${r.error ?? ''} ${r.text ?? ''}`);
        const huge = await rawRequest(srv.url, 'POST', '/v1/admin/connectors', { headers, body: pad(4 << 20) });
        assert.equal(huge.status, 413, `4 MiB: ${huge.status} ${huge.error ?? ''}`);
        const under = await rawRequest(srv.url, 'POST', '/v1/admin/connectors', { headers, body: pad(1048576 - 64) });
        assert.equal(under.status, 422, `under limit: ${under.status} ${under.text ?? ''}`);
        assert.equal((await T.c.get('/v1/admin/connectors')).text, snapshot);
        const health = await T.c.get('/healthz');
        assert.equal(health.status, 200, 'server unhealthy after big bodies');
    });

    test('unknown paths: 404 with a JSON error', async () => {
        for (const p of ['/v1/nope', '/v1/admin/connectorsx', '/v1/admin/connectors/x/y/z', '/', '/v2/admin/connectors']) {
            const r = await T.c.get(p);
            assert.equal(r.status, 404, `${p}: ${r.status} ${r.text}`);
            assert.equal(typeof r.json?.error, 'string', `${p}: ${r.text}`);
            assert.match(r.headers.get('content-type') ?? '', /application\/json/);
        }
    });

    test('wrong method: 405 with Allow', async () => {
        const id = (await T.c.post('/v1/admin/connectors', connectorBody())).json.id;
        const cases = [
            ['PUT', '/v1/admin/connectors', ['GET', 'POST']],
            ['DELETE', '/v1/admin/connectors', ['GET', 'POST']],
            ['POST', `/v1/admin/connectors/${id}`, ['GET', 'DELETE']],
            ['PUT', `/v1/admin/connectors/${id}`, ['GET', 'DELETE']],
            ['GET', `/v1/admin/connectors/${id}/trigger`, ['POST']],
            ['DELETE', `/v1/admin/connectors/${id}/pause`, ['POST']],
            ['GET', `/v1/admin/connectors/${id}/resume`, ['POST']],
            ['POST', `/v1/admin/connectors/${id}/runs`, ['GET']],
            ['GET', '/v1/etl/meltano/webhook', ['POST']],
            ['PATCH', `/v1/admin/tenants/${T.id}/catalog`, ['GET', 'POST']],
        ];
        for (const [m, p, allow] of cases) {
            const r = await T.c(m, p, m === 'GET' || m === 'DELETE' ? {} : { body: {} });
            assert.equal(r.status, 405, `${m} ${p}: ${r.status} ${r.text}`);
            const got = (r.headers.get('allow') ?? '').split(',').map((s) => s.trim());
            for (const a of allow) assert.ok(got.includes(a), `${m} ${p}: Allow '${r.headers.get('allow')}' lacks ${a}`);
            assert.ok(!got.includes(m), `${m} ${p}: Allow lists the rejected method`);
            assert.equal(typeof r.json?.error, 'string');
        }
        const d = await T.c.get(`/v1/admin/connectors/${id}`);
        assert.equal(d.json.status, 'active', 'a 405 changed the connector');
    });

    test('500s never happen on hostile ids and queries', async () => {
        for (const p of ['/v1/admin/connectors/%00', '/v1/admin/connectors/..%2F..%2Fetc%2Fpasswd',
            `/v1/admin/connectors/${'a'.repeat(5000)}`, '/v1/admin/connectors?status=%27%3B--',
            '/v1/admin/connectors?status=active&status=paused']) {
            const r = await T.c.get(p);
            assert.ok(r.status < 500, `${p}: ${r.status} ${r.text}`);
        }
    });
});

describe('body limit is configurable (IVORY_MAX_BODY_BYTES)', { skip: notBuilt('serve') }, () => {
    let srv, T;
    before(async () => {
        srv = await startServer({ env: { IVORY_MAX_BODY_BYTES: '4096' } });
        T = await newTenant(srv);
    });
    after(async () => { if (srv) await srv.stop(); });

    test('4 KiB limit: 4097 bytes is 413 on the API and on the webhook, as JSON', async () => {
        const body = `{"source_system":"${'a'.repeat(4097 - 20)}"}`;
        assert.equal(Buffer.byteLength(body), 4097);
        for (const [p, headers] of [
            ['/v1/admin/connectors', { 'content-type': 'application/json', authorization: `Bearer ${T.token}` }],
            ['/v1/etl/meltano/webhook', { 'content-type': 'application/json', 'x-ivory-signature': 't=1,v1=00' }]]) {
            const r = await rawRequest(srv.url, 'POST', p, { headers, body });
            assert.equal(r.status, 413, `${p}: ${r.status} ${r.error ?? ''} ${r.text ?? ''}`);
            assert.match(String(r.headers['content-type'] ?? ''), /application\/json/, `${p}: 413 is not JSON`);
            assert.equal(typeof JSON.parse(r.text).error, 'string');
        }
        const ok = await T.c.post('/v1/admin/connectors', connectorBody());
        assert.equal(ok.status, 201, 'a normal body under the small limit');
    });
});
