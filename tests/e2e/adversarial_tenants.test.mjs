// adversarial_tenants.test.mjs — issue 7 point 4: one tenant cannot starve the others. 300
// connectors of tenant A due at once (older than anything else) do not keep tenant B's
// triggered run waiting while run slots are free; per-tenant quotas on connectors and
// catalogs answer 429 with a clear message.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { registerTap, runnerTenant, runs, sleep, startRunnerServer } from './lib/runner.mjs';
import { sql } from './lib/db.mjs';
import { notBuilt } from './lib/server.mjs';
import { catalogBody, connectorBody } from './lib/tenant.mjs';

describe('adversarial: fair claims across tenants', { skip: notBuilt('serve') }, () => {
    let srv, A, B;
    before(async () => {
        srv = await startRunnerServer({ env: { IVORY_MAX_CONCURRENT_RUNS: '4', IVORY_MAX_RUNS_PER_TENANT: '2' } });
        A = await runnerTenant(srv);
        B = await runnerTenant(srv);
    });
    after(async () => { if (srv) await srv.stop(); });

    test("300 due connectors of one tenant vs 1 of another: the other runs at once", { timeout: 90000 }, async () => {
        // Registered paused-in-time (first run in an hour), then all made due in the past
        // in one statement, so they are older than anything B triggers.
        const body = (i) => connectorBody({ tap_name: 'tap-fixture', destination_table: `a_${i}`, sync_schedule: '@yearly' });
        for (let i = 0; i < 300; i += 20)
            await Promise.all(Array.from({ length: 20 }, (_, k) => A.c.post('/v1/admin/connectors', body(i + k)))
                .map(async (p) => assert.equal((await p).status, 201)));
        const b = await registerTap(srv, B, { count: 2 });
        sql(srv.dbPath, `UPDATE connectors SET next_run_at = ${Date.now() - 60000} WHERE tenant_id = '${A.id}'`);
        const t0 = Date.now();
        assert.equal((await B.c.post(`/v1/admin/connectors/${b.id}/trigger`)).status, 202);
        let rs = [];
        while (Date.now() - t0 < 20000) {
            rs = await runs(B, b.id);
            if (rs.length > 0) break;
            await sleep(50);
        }
        assert.ok(rs.length > 0, "tenant B's run never started while tenant A had 300 due connectors");
        const waited = Date.now() - t0;
        assert.ok(waited < 5000, `tenant B waited ${waited} ms`);
        // A never had more than its 2 slots at a time.
        const running = sql(srv.dbPath, `SELECT COUNT(*) AS n FROM runner_jobs WHERE tenant_id = '${A.id}'`)[0].n;
        assert.ok(running <= 2, `tenant A holds ${running} slots`);
    });
});

describe('adversarial: per-tenant quotas', { skip: notBuilt('serve') }, () => {
    let srv, T;
    before(async () => {
        srv = await startRunnerServer({ env: { IVORY_TENANT_MAX_CONNECTORS: '3', IVORY_TENANT_MAX_CATALOGS: '2' } });
        T = await runnerTenant(srv);
    });
    after(async () => { if (srv) await srv.stop(); });

    test('connectors past the quota are 429 with a clear message', async () => {
        for (let i = 0; i < 3; i++)
            assert.equal((await T.c.post('/v1/admin/connectors', connectorBody({ destination_table: `q${i}` }))).status, 201);
        const r = await T.c.post('/v1/admin/connectors', connectorBody({ destination_table: 'q3' }));
        assert.equal(r.status, 429, r.text);
        assert.equal(r.json.error, 'quota_exceeded');
        assert.match(r.json.detail, /3 connectors.*IVORY_TENANT_MAX_CONNECTORS/);
    });

    test('catalogs past the quota are 429; updating an existing one still works', async () => {
        const wh = `file://${srv.dir}/wh`;
        assert.equal((await T.c.post(`/v1/admin/tenants/${T.id}/catalog`, catalogBody(T.slug, { catalog_name: 'second', warehouse: wh }))).status, 201);
        const r = await T.c.post(`/v1/admin/tenants/${T.id}/catalog`, catalogBody(T.slug, { catalog_name: 'third', warehouse: wh }));
        assert.equal(r.status, 429, r.text);
        assert.match(r.json.detail, /IVORY_TENANT_MAX_CATALOGS/);
        const u = await T.c.post(`/v1/admin/tenants/${T.id}/catalog`, catalogBody(T.slug, { catalog_name: 'second', warehouse: wh, storage_prefix: 'moved' }));
        assert.equal(u.status, 200, u.text);
    });
});
