// iceberg_rest.test.mjs — Ivory as an Iceberg REST catalog ({server}/iceberg) and Ivory's REST
// catalog client, against each other and against independent peers:
//   * iceberg-js (npm) drives the server: config, namespaces (a tenant sees only its own;
//     others' are 404), create/load table; the loaded metadata equals what icebird reads from
//     the metadata file; errors use the Iceberg error model.
//   * `ivory target-iceberg` with catalog_type rest writes through that server (the tenant's
//     JWT as catalog_credential) into a sql catalog whose warehouse is on S3 (moto); icebird
//     reads the rows back from S3.
//   * Faults through a proxy: a 409 storm on commit (retried, then success), 503 on commit
//     (run fails saying the state is unknown, nothing deleted, the table still reads back),
//     a wrong credential (clear error naming the catalog, the token in no output line).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { IcebergRestCatalog } from 'iceberg-js';
import { icebergMetadata } from 'icebird';
import { IVORY, lines, readIcebird, recordMsg, schemaMsg, stateMsg, useS3Endpoint } from './lib/iceberg_read.mjs';
import { hs256 } from './lib/jwt.mjs';
import { createBucket, listKeys, startFaultProxy, startMoto } from './lib/moto.mjs';
import { startServer, tempDir } from './lib/server.mjs';
import { newTenant } from './lib/tenant.mjs';
import { fetchRetry } from './lib/http.mjs';

const PROPS = { id: { type: 'integer' }, name: { type: ['null', 'string'] } };
const input = (from, n, state) => lines(
    schemaMsg('users', PROPS, ['id']),
    Array.from({ length: n }, (_, i) => recordMsg('users', { id: from + i, name: `u${from + i}` })),
    stateMsg(state),
);
const ids = (rows) => rows.map((r) => Number(r.id)).sort((a, b) => a - b);

describe('Ivory as an Iceberg REST catalog', { timeout: 300000 }, () => {
    let moto, srv, proxy, a, b, dir;
    const S3KEY = 'AKIDRESTTEST', S3SECRET = 'rest-s3-secret-Pq9z';
    before(async () => {
        moto = await startMoto();
        await createBucket(moto.endpoint, 'lake');
        useS3Endpoint(moto.endpoint);
        srv = await startServer();
        const s3 = { s3_endpoint: moto.endpoint, s3_access_key_id: S3KEY, s3_secret_key_enc: S3SECRET };
        a = await newTenant(srv, { catalog: { catalog_type: 'sql', catalog_uri: 'local', warehouse: 's3://lake/wh', ...s3 } });
        b = await newTenant(srv, { catalog: { catalog_type: 'sql', catalog_uri: 'local', warehouse: 's3://lake/wh', ...s3 } });
        proxy = await startFaultProxy(srv.url);
        dir = tempDir('ivory-rest-');
    });
    after(async () => {
        await proxy?.close();
        await srv?.stop();
        await moto?.stop();
    });
    const cat = (t) => new IcebergRestCatalog({ baseUrl: `${srv.url}/iceberg`, auth: { type: 'bearer', token: t.token } });
    const run = (args, inp, env = {}) => new Promise((resolve) => {
        const c = spawn(IVORY, args, { env: { ...process.env, IVORY_LAKE_HTTP_BACKOFF_MS: '10', ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
        let stdout = '', stderr = '';
        c.stdout.on('data', (d) => { stdout += d; });
        c.stderr.on('data', (d) => { stderr += d; });
        const timer = setTimeout(() => c.kill('SIGKILL'), 60000);
        c.on('close', (status) => { clearTimeout(timer); resolve({ status, stdout, stderr }); });
        c.stdin.end(inp);
    });
    const target = (t, inp, over = {}) => {
        const p = path.join(dir, `cfg-${crypto.randomUUID()}.json`);
        fs.writeFileSync(p, JSON.stringify({
            catalog_type: 'rest', catalog_uri: `${proxy.endpoint}/iceberg`, catalog_credential: t.token,
            warehouse: 's3://lake/wh', namespace: t.namespace, s3_endpoint: moto.endpoint,
            s3_access_key_id: S3KEY, s3_secret_key: S3SECRET, ...over,
        }));
        return run(['target-iceberg', '--config', p], inp);
    };
    const loadRaw = async (t, ns, table) => {
        const r = await fetchRetry(`${srv.url}/iceberg/v1/namespaces/${encodeURIComponent(ns)}/tables/${table}`, { headers: { authorization: `Bearer ${t.token}` } });
        return { status: r.status, json: await r.json().catch(() => null) };
    };

    test('iceberg-js: config, namespaces scoped to the tenant, create and load table', async () => {
        const r = await fetchRetry(`${srv.url}/iceberg/v1/config`, { headers: { authorization: `Bearer ${a.token}` } });
        assert.equal(r.status, 200);
        const cfg = await r.json();
        assert.deepEqual(cfg.defaults, {});
        assert.deepEqual(cfg.overrides, {});
        const ca = cat(a), cb = cat(b);
        assert.deepEqual(await ca.listNamespaces(), []);
        await ca.createNamespace({ namespace: [a.namespace] });
        await assert.rejects(ca.createNamespace({ namespace: [b.namespace] }), (err) => err.status === 403);
        await assert.rejects(ca.createNamespace({ namespace: [a.namespace] }), (err) => err.status === 409);
        assert.deepEqual((await ca.listNamespaces()).map((n) => n.namespace), [[a.namespace]]);
        assert.deepEqual(await cb.listNamespaces(), []);
        await ca.createTable({ namespace: [a.namespace] }, {
            name: 'made_by_js',
            schema: { type: 'struct', 'schema-id': 0, fields: [
                { id: 7, name: 'k', type: 'long', required: true },
                { id: 9, name: 'v', type: 'string', required: false }] },
        });
        const md = await ca.loadTable({ namespace: [a.namespace], name: 'made_by_js' });
        assert.deepEqual(md.schemas[0].fields.map((f) => [f.id, f.name, f.type]), [[1, 'k', 'long'], [2, 'v', 'string']]);
        assert.match(md.location, /^s3:\/\/lake\/wh\/.*\/made_by_js$/);
        const raw = await loadRaw(a, a.namespace, 'made_by_js');
        const fromFile = await icebergMetadata({ tableUrl: md.location, metadataFileName: path.basename(raw.json['metadata-location']) });
        assert.deepEqual(fromFile, md);
        assert.deepEqual((await ca.listTables({ namespace: [a.namespace] })).map((t) => t.name), ['made_by_js']);
        // another tenant: the namespace does not exist for it; errors use the Iceberg model
        const other = await loadRaw(b, a.namespace, 'made_by_js');
        assert.equal(other.status, 404);
        assert.equal(other.json.error.code, 404);
        assert.equal(other.json.error.type, 'NoSuchNamespaceException');
        assert.equal(typeof other.json.error.message, 'string');
        await assert.rejects(cb.loadTable({ namespace: [a.namespace], name: 'made_by_js' }), (err) => err.status === 404);
        const noauth = await fetchRetry(`${srv.url}/iceberg/v1/namespaces`);
        assert.equal(noauth.status, 401);
        assert.equal((await noauth.json()).error.type, 'NotAuthorizedException');
        await ca.dropTable({ namespace: [a.namespace], name: 'made_by_js' });
        assert.deepEqual(await ca.listTables({ namespace: [a.namespace] }), []);
    });

    test('target-iceberg through the REST catalog: rows on S3, 409 storm retried, then read back', async () => {
        let r = await target(a, input(1, 3, { s: 1 }));
        assert.equal(r.status, 0, r.stderr);
        const storm = { method: 'POST', match: /\/tables\/users$/, status: 409, times: 3, contentType: 'application/json',
            body: JSON.stringify({ error: { message: 'Requirement failed: ref main changed', type: 'CommitFailedException', code: 409 } }) };
        proxy.rules.push(storm);
        r = await target(a, input(4, 2, { s: 2 }));
        proxy.rules.splice(proxy.rules.indexOf(storm), 1);
        assert.equal(r.status, 0, r.stderr);
        assert.equal(storm.hits, 3);
        assert.match(r.stderr, /conflicted \(attempt 3\)/);
        const load = await loadRaw(a, a.namespace, 'users');
        assert.equal(load.status, 200);
        assert.match(load.json['metadata-location'], /^s3:\/\/lake\/wh\//);
        assert.deepEqual(ids(await readIcebird({ metadataLocation: load.json['metadata-location'] })), [1, 2, 3, 4, 5]);
        const snaps = load.json.metadata.snapshots;
        assert.equal(snaps.length, 2);
        assert.equal(JSON.parse(snaps[1].summary['ivory.state']).s, 2);
    });

    test('commit 503: the run fails saying the state is unknown; nothing deleted; table reads back', async () => {
        const before = (await loadRaw(a, a.namespace, 'users')).json['metadata-location'];
        const keysBefore = await listKeys(moto.endpoint, 'lake', 'wh/');
        const rule = { method: 'POST', match: /\/tables\/users$/, status: 503, contentType: 'application/json',
            body: JSON.stringify({ error: { message: 'unavailable', type: 'ServiceUnavailableException', code: 503 } }) };
        proxy.rules.push(rule);
        const r = await target(a, input(6, 2, { s: 3 }));
        proxy.rules.splice(proxy.rules.indexOf(rule), 1);
        assert.equal(r.status, 1);
        assert.match(r.stderr, /commit state unknown for .*users.*HTTP 503.*nothing was deleted/);
        const keysAfter = await listKeys(moto.endpoint, 'lake', 'wh/');
        for (const k of keysBefore) assert.ok(keysAfter.includes(k), `deleted ${k}`);
        assert.ok(keysAfter.some((k) => !keysBefore.includes(k) && /snap-.*\.avro$/.test(k)), 'the attempt\'s manifest list is kept');
        const after = (await loadRaw(a, a.namespace, 'users')).json['metadata-location'];
        assert.equal(after, before);
        assert.deepEqual(ids(await readIcebird({ metadataLocation: after })), [1, 2, 3, 4, 5]);
    });

    test('OAuth2 client credentials: exchanged at /v1/oauth/tokens, the token used as bearer', async () => {
        const forms = [];
        const tokenRule = { method: 'POST', match: /\/iceberg\/v1\/oauth\/tokens$/, status: 200, contentType: 'application/json',
            when: (_req, body) => { forms.push(new URLSearchParams(body.toString())); return true; },
            body: JSON.stringify({ access_token: a.token, token_type: 'bearer', expires_in: 3600, issued_token_type: 'urn:ietf:params:oauth:token-type:access_token' }) };
        proxy.rules.push(tokenRule);
        const seen = proxy.seen.length;
        const CLIENT_SECRET = 'oauth-client-secret-Wm4q';
        try {
            const r = await target(a, input(100, 2, { o: 1 }), { catalog_credential: `ivory-client:${CLIENT_SECRET}` });
            assert.equal(r.status, 0, r.stderr);
            assert.ok(!(r.stderr + r.stdout).includes(CLIENT_SECRET), 'client secret leaked');
        } finally {
            proxy.rules.splice(proxy.rules.indexOf(tokenRule), 1);
        }
        assert.equal(forms.length, 1);
        assert.equal(forms[0].get('grant_type'), 'client_credentials');
        assert.equal(forms[0].get('client_id'), 'ivory-client');
        assert.equal(forms[0].get('client_secret'), CLIENT_SECRET);
        assert.equal(forms[0].get('scope'), 'catalog');
        const later = proxy.seen.slice(seen).filter((q) => !q.url.endsWith('/oauth/tokens'));
        assert.ok(later.length > 2 && later.every((q) => q.headers.authorization === `Bearer ${a.token}`));
        const load = await loadRaw(a, a.namespace, 'users');
        assert.ok(ids(await readIcebird({ metadataLocation: load.json['metadata-location'] })).includes(101));
    });

    test('wrong credential: a clear error naming the catalog; the token in no output line', async () => {
        const bad = hs256('not-the-server-secret-0123456789abcdef', a.id, {});
        const r = await target({ ...a, token: bad }, input(1, 1, { w: 1 }));
        assert.equal(r.status, 1);
        assert.match(r.stderr, /REST catalog http:\/\/127\.0\.0\.1:\d+\/iceberg refused the credentials \(HTTP 401/);
        assert.ok(!(r.stderr + r.stdout).includes(bad), 'token leaked');
    });
});
