// runner_lakehouse.test.mjs — the runner against the platform lakehouse: a tenant catalog of
// type `glue` over S3 (moto as Glue and S3) and of type `rest` over S3 (a second `ivory serve`
// as the tenant's Iceberg REST catalog, its sql catalog on the same moto S3). A long sync is
// killed with SIGKILL mid-run, the server restarted on the same store; in the end icebird
// reads every source row from S3 exactly once, and the bookmark matches. The S3 secret and
// the REST token appear in no log line.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { readIcebird, useS3Endpoint } from './lib/iceberg_read.mjs';
import { client, fetchRetry } from './lib/http.mjs';
import { createBucket, glue, startMoto } from './lib/moto.mjs';
import {
    ids, range, registerTap, runs, sleep, startRunnerServer, waitRuns, writeSource,
} from './lib/runner.mjs';
import { notBuilt, startServer, tempDir } from './lib/server.mjs';
import { newTenant, uniqueSlug } from './lib/tenant.mjs';

const PER_ROUND = 400;
const KILLS = Number(process.env.IVORY_LAKEHOUSE_KILLS ?? 2);
const ENV = { IVORY_CHECKPOINT_ROWS: '100', IVORY_CHECKPOINT_SECONDS: '0.2', IVORY_RUNNER_LEASE: '2',
    IVORY_LAKE_HTTP_BACKOFF_MS: '20' };
const S3KEY = 'AKIDRUNNERTEST', S3SECRET = 'runner-s3-secret-Hk2p9';

describe('runner on the platform lakehouse (moto)', { skip: notBuilt('serve') }, () => {
    let moto, restSrv;
    before(async () => {
        moto = await startMoto();
        await createBucket(moto.endpoint, 'lake');
        useS3Endpoint(moto.endpoint);
    });
    after(async () => {
        await restSrv?.stop();
        await moto?.stop();
    });

    // Loads `rows` through kills; returns the connector, tenant and server log.
    async function loadThroughKills(catalog, slug, readRows) {
        const dir = tempDir('ivory-lh-');
        let srv = await startRunnerServer({ dir, keepDir: true, env: ENV });
        const key = srv.key, secret = srv.secret;
        let log = '';
        try {
            const T = await newTenant(srv, { slug, catalog });
            const src = path.join(dir, 'io', 'source.jsonl');
            let rows = 0;
            const grow = () => { writeSource(src, rows + 1, rows + PER_ROUND); rows += PER_ROUND; };
            grow();
            const conn = await registerTap(srv, T, { source: src, state_every: 20, sleep: 0.004 });
            const kick = async () => {
                const end = Date.now() + 60000;
                while ((await runs(T, conn.id)).some((r) => r.status === 'running')) {
                    if (Date.now() > end) throw new Error(`a run stayed running:\n${srv.stderr().slice(-3000)}`);
                    await sleep(100);
                }
                const d = (await T.c.get(`/v1/admin/connectors/${conn.id}`)).json;
                if (d.status === 'error') assert.equal((await T.c.post(`/v1/admin/connectors/${conn.id}/resume`)).status, 200);
                assert.equal((await T.c.post(`/v1/admin/connectors/${conn.id}/trigger`)).status, 202);
            };
            for (let k = 0; k < KILLS; k++) {
                await kick();
                await sleep(500 + Math.floor(Math.random() * 1200));
                srv.proc.kill('SIGKILL');
                await srv.exited;
                log += srv.stderr();
                srv = await startRunnerServer({ dir, keepDir: true, key, secret, env: ENV });
                T.c = client(srv.url, T.token);
                grow();
            }
            await kick();
            let rs;
            const end = Date.now() + 120000;
            for (;;) {
                rs = await waitRuns(T, conn.id, (await runs(T, conn.id)).length, { timeoutMs: 60000 });
                if (rs[0].status === 'completed') break;
                if (Date.now() > end) throw new Error(`no completed run: ${JSON.stringify(rs.slice(0, 3))}\n${srv.stderr().slice(-3000)}`);
                await kick();
            }
            const got = ids(await readRows(T, conn.iomete_table));
            assert.equal(got.length, rows, 'rows in the table');
            assert.deepEqual(got, range(1, rows), 'every row exactly once');
            const d = (await T.c.get(`/v1/admin/connectors/${conn.id}`)).json;
            assert.deepEqual(d.tap_state, { bookmarks: { items: { last_id: rows } } });
            return { T, log: log + srv.stderr() };
        } finally {
            await srv.stop();
            fs.rmSync(dir, { recursive: true, force: true });
        }
    }

    test('glue + S3: exactly once across kill -9, read back from S3', { timeout: 240000 }, async () => {
        const catalog = {
            catalog_type: 'glue', catalog_uri: moto.endpoint, warehouse: 's3://lake/runner-glue',
            s3_endpoint: moto.endpoint, s3_access_key_id: S3KEY, s3_secret_key_enc: S3SECRET,
            metadata: { region: 'us-east-1' },
        };
        const { log } = await loadThroughKills(catalog, uniqueSlug('glue'), async (T, table) => {
            const g = await glue(moto.endpoint, 'GetTable', { DatabaseName: T.namespace, Name: table });
            assert.equal(g.status, 200, JSON.stringify(g.json));
            assert.equal(g.json.Table.Parameters.table_type, 'ICEBERG');
            return readIcebird({ metadataLocation: g.json.Table.Parameters.metadata_location });
        });
        assert.ok(!log.includes(S3SECRET), 'the S3 secret appeared in a log line');
    });

    test('rest (a second ivory serve) + S3: exactly once across kill -9, read back from S3', { timeout: 240000 }, async () => {
        restSrv = await startServer();
        const slug = uniqueSlug('rest');
        const A = await newTenant(restSrv, { slug, catalog: {
            catalog_type: 'sql', catalog_uri: 'local', warehouse: 's3://lake/runner-rest',
            s3_endpoint: moto.endpoint, s3_access_key_id: S3KEY, s3_secret_key_enc: S3SECRET } });
        const catalog = {
            catalog_type: 'rest', catalog_uri: `${restSrv.url}/iceberg`, catalog_credential_enc: A.token,
            warehouse: 's3://lake/runner-rest', s3_endpoint: moto.endpoint, s3_access_key_id: S3KEY,
            s3_secret_key_enc: S3SECRET,
        };
        const { T, log } = await loadThroughKills(catalog, slug, async (T2, table) => {
            // while the runner's server is up: the credential is stored sealed, never returned
            const cat = (await T2.c.get(`/v1/admin/tenants/${T2.id}/catalog`)).json;
            const k = (cat.catalogs ?? cat).find((x) => x.catalog_name === 'ivory-lakehouse');
            assert.equal(k.has_catalog_credential, true);
            assert.ok(!JSON.stringify(cat).includes(A.token));
            const r = await fetchRetry(`${restSrv.url}/iceberg/v1/namespaces/${A.namespace}/tables/${table}`,
                { headers: { authorization: `Bearer ${A.token}` } });
            assert.equal(r.status, 200);
            const j = await r.json();
            assert.match(j['metadata-location'], /^s3:\/\/lake\/runner-rest\//);
            return readIcebird({ metadataLocation: j['metadata-location'] });
        });
        assert.equal(T.namespace, A.namespace);
        for (const s of [S3SECRET, A.token]) assert.ok(!log.includes(s), 'a secret appeared in a log line');
    });
});
