// lakehouse_s3.test.mjs — tables on S3 (moto on loopback, behind a recording fault proxy):
// `ivory target-iceberg` with sql and glue catalogs over an s3:// warehouse, rows read back
// from S3 by icebird, `ivory table show` on S3, multipart uploads, retries on S3 500, a
// persistent 500 failing cleanly, and wrong credentials failing with no secret in any line.
// moto missing = failure (lib/moto.mjs), not a skip.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
    IVORY, lines, readIcebird, recordMsg, runTarget, schemaMsg, snapshots, sqlMetadataLocation,
    stateMsg, tempDir, useS3Endpoint,
} from './lib/iceberg_read.mjs';
import { createBucket, glue, listKeys, startFaultProxy, startMoto } from './lib/moto.mjs';

const SECRET = 'moto-secret-Zq8vW3xY7-do-not-log';
const PROPS = { id: { type: 'integer' }, name: { type: ['null', 'string'] } };
const input = (from, n, state) => lines(
    schemaMsg('users', PROPS, ['id']),
    Array.from({ length: n }, (_, i) => recordMsg('users', { id: from + i, name: `user-${from + i}` })),
    stateMsg(state),
);
const ids = (rows) => rows.map((r) => Number(r.id)).sort((a, b) => a - b);

describe('tables on S3 (moto)', { timeout: 300000 }, () => {
    let moto, proxy, dir, spool;
    before(async () => {
        moto = await startMoto();
        proxy = await startFaultProxy(moto.endpoint);
        await createBucket(moto.endpoint, 'lake');
        useS3Endpoint(moto.endpoint);
        dir = tempDir('ivory-s3-');
        spool = path.join(dir, 'spool');
        fs.mkdirSync(spool);
    });
    after(async () => {
        await proxy?.close();
        await moto?.stop();
    });
    const env = (extra = {}) => ({ ...process.env, TMPDIR: spool, IVORY_LAKE_HTTP_BACKOFF_MS: '10', ...extra });
    // Asynchronous on purpose: the fault proxy runs in this process's event loop.
    const run = (args, inp, extraEnv) => new Promise((resolve) => {
        const c = spawn(IVORY, args, { env: env(extraEnv), stdio: ['pipe', 'pipe', 'pipe'] });
        let stdout = '', stderr = '';
        c.stdout.on('data', (d) => { stdout += d; });
        c.stderr.on('data', (d) => { stderr += d; });
        const timer = setTimeout(() => c.kill('SIGKILL'), 60000);
        c.on('close', (status) => { clearTimeout(timer); resolve({ status, stdout, stderr }); });
        c.stdin.end(inp ?? '');
    });
    const target = async (cfg, inp, extraEnv) => {
        const p = path.join(dir, `cfg-${crypto.randomUUID()}.json`);
        fs.writeFileSync(p, JSON.stringify(cfg));
        return { ...(await run(['target-iceberg', '--config', p], inp, extraEnv)), cfgPath: p };
    };
    const s3cfg = (over = {}) => ({
        warehouse: 's3://lake/wh', namespace: 'ns1', s3_endpoint: proxy.endpoint,
        s3_access_key_id: 'AKIDTESTKEY', s3_secret_key: SECRET, region: 'us-east-1', ...over,
    });

    test('sql catalog over S3: two loads read back by icebird, table show reads S3, no spool left', async () => {
        const db = path.join(dir, 'cat.db');
        const cfg = s3cfg({ catalog_type: 'sql', catalog_uri: db });
        let r = await target(cfg, input(1, 3, { n: 1 }));
        assert.equal(r.status, 0, r.stderr);
        r = await target(cfg, input(4, 2, { n: 2 }));
        assert.equal(r.status, 0, r.stderr);
        const loc = sqlMetadataLocation(db, 'ns1', 'users');
        assert.match(loc, /^s3:\/\/lake\/wh\/ns1\/users\/metadata\/00002-.*\.metadata\.json$/);
        assert.deepEqual(ids(await readIcebird({ metadataLocation: loc })), [1, 2, 3, 4, 5]);
        const snaps = await snapshots({ metadataLocation: loc });
        assert.equal(snaps.length, 2);
        assert.equal(JSON.parse(snaps[1].summary['ivory.state']).n, 2);
        const keys = await listKeys(moto.endpoint, 'lake', 'wh/ns1/users/');
        assert.ok(keys.some((k) => /\/data\/.*\.parquet$/.test(k)), keys.join(','));
        const show = await run(['table', 'show', '--config', r.cfgPath, 'ns1.users']);
        assert.equal(show.status, 0, show.stderr);
        const view = JSON.parse(show.stdout);
        assert.equal(view.row_count, 5);
        assert.deepEqual(ids(view.rows), [1, 2, 3, 4, 5]);
        assert.deepEqual(fs.readdirSync(spool), [], 'spool files left behind');
    });

    test('glue catalog over S3: Glue table has ICEBERG parameters; rows read back', async () => {
        const cfg = s3cfg({ catalog_type: 'glue', catalog_uri: proxy.endpoint, warehouse: 's3://lake/glue', namespace: 'gdb' });
        let r = await target(cfg, input(1, 2, { g: 1 }));
        assert.equal(r.status, 0, r.stderr);
        r = await target(cfg, input(3, 2, { g: 2 }));
        assert.equal(r.status, 0, r.stderr);
        const g = await glue(moto.endpoint, 'GetTable', { DatabaseName: 'gdb', Name: 'users' });
        assert.equal(g.status, 200, JSON.stringify(g.json));
        const p = g.json.Table.Parameters;
        assert.equal(p.table_type, 'ICEBERG');
        assert.match(p.metadata_location, /^s3:\/\/lake\/glue\/gdb\/users\/metadata\/00002-/);
        assert.match(p.previous_metadata_location, /\/00001-/);
        const signed = proxy.seen.filter((q) => q.headers['x-amz-target'] === 'AWSGlue.UpdateTable');
        assert.ok(signed.length >= 1 && /AWS4-HMAC-SHA256 Credential=AKIDTESTKEY\/\d{8}\/us-east-1\/glue\//.test(signed[0].headers.authorization));
        assert.deepEqual(ids(await readIcebird({ metadataLocation: p.metadata_location })), [1, 2, 3, 4]);
        const db = await glue(moto.endpoint, 'GetDatabase', { Name: 'gdb' });
        assert.equal(db.status, 200);
    });

    test('a large data file goes up as a multipart upload and reads back', async () => {
        const db = path.join(dir, 'mp.db');
        const cfg = s3cfg({ catalog_type: 'sql', catalog_uri: db, namespace: 'mp' });
        const rnd = (i) => Array.from({ length: 8 }, (_, k) => crypto.createHash('sha512').update(`${i}.${k}`).digest('base64')).join('');   // ~700 B of noise
        const recs = Array.from({ length: 18000 }, (_, i) => recordMsg('users', { id: i, name: rnd(i) }));
        const before = proxy.seen.length;
        const r = await target(cfg, lines(schemaMsg('users', PROPS, ['id']), recs, stateMsg({ mp: 1 })), { IVORY_S3_PART_BYTES: String(5 << 20) });
        assert.equal(r.status, 0, r.stderr);
        const reqs = proxy.seen.slice(before).map((q) => `${q.method} ${q.url}`);
        assert.ok(reqs.some((q) => /^POST .*\.parquet\?uploads=?$/.test(q)), reqs.join('\n'));
        assert.ok(reqs.some((q) => /^PUT .*\.parquet\?partNumber=2&uploadId=/.test(q)), reqs.join('\n'));
        const rows = await readIcebird({ metadataLocation: sqlMetadataLocation(db, 'mp', 'users') });
        assert.equal(rows.length, 18000);
        assert.equal(rows.find((x) => Number(x.id) === 17999).name, rnd(17999));
    });

    test('S3 500 on a data-file upload is retried; a persistent 500 fails cleanly, table unchanged', async () => {
        const db = path.join(dir, 'f.db');
        const cfg = s3cfg({ catalog_type: 'sql', catalog_uri: db, namespace: 'flt' });
        assert.equal((await target(cfg, input(1, 2, { f: 1 }))).status, 0);
        const rule = { method: 'PUT', match: /\.parquet$/, status: 500, times: 2 };
        proxy.rules.push(rule);
        let r = await target(cfg, input(3, 2, { f: 2 }));
        assert.equal(r.status, 0, r.stderr);
        assert.equal(rule.hits, 2);
        assert.match(r.stderr, /HTTP 500 \(attempt 1 of 5\), retrying/);
        const loc1 = sqlMetadataLocation(db, 'flt', 'users');
        assert.deepEqual(ids(await readIcebird({ metadataLocation: loc1 })), [1, 2, 3, 4]);
        rule.times = Infinity;
        r = await target(cfg, input(5, 2, { f: 3 }));
        proxy.rules.splice(proxy.rules.indexOf(rule), 1);
        assert.equal(r.status, 1);
        assert.match(r.stderr, /S3 PUT s3:\/\/lake\/wh\/flt\/users\/data\/[0-9a-f-]+\.parquet: HTTP 500/);
        assert.equal(sqlMetadataLocation(db, 'flt', 'users'), loc1, 'the pointer moved');
        assert.deepEqual(ids(await readIcebird({ metadataLocation: loc1 })), [1, 2, 3, 4]);
        assert.deepEqual(fs.readdirSync(spool), []);
    });

    test('wrong credentials: a clear error, no secret in any output line', async () => {
        const rule = {
            status: 403, when: (req) => /Credential=WRONGKEY\//.test(req.headers.authorization ?? ''),
            body: '<?xml version="1.0"?><Error><Code>SignatureDoesNotMatch</Code><Message>The request signature we calculated does not match</Message></Error>',
        };
        proxy.rules.push(rule);
        try {
            const db = path.join(dir, 'w.db');
            const r = await target(s3cfg({ catalog_type: 'sql', catalog_uri: db, namespace: 'wc', s3_access_key_id: 'WRONGKEY' }), input(1, 1, { w: 1 }));
            assert.equal(r.status, 1);
            assert.match(r.stderr, /HTTP 403 SignatureDoesNotMatch/);
            assert.ok(!(r.stderr + r.stdout).includes(SECRET), 'secret leaked');
            const g = await target(s3cfg({ catalog_type: 'glue', catalog_uri: proxy.endpoint, namespace: 'wg', s3_access_key_id: 'WRONGKEY' }), input(1, 1, { w: 1 }));
            assert.equal(g.status, 1);
            assert.match(g.stderr, /Glue GetTable at http:\/\/127\.0\.0\.1:\d+: HTTP 403/);
            assert.ok(!(g.stderr + g.stdout).includes(SECRET), 'secret leaked');
        } finally {
            proxy.rules.splice(proxy.rules.indexOf(rule), 1);
        }
    });
});
