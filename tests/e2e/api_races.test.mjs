// api_races.test.mjs — the same request many times at once, where a check-then-write without a
// transaction would double-apply: a webhook delivered concurrently (idempotent by run_id,
// docs/api.md), the first provisioning of a tenant from its tenant_slug claim (docs/api.md), and
// concurrent upserts of one catalog name (docs/api.md "Catalogs").
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { insertRunningRun, sql } from './lib/db.mjs';
import { client } from './lib/http.mjs';
import { hs256 } from './lib/jwt.mjs';
import { notBuilt, startServer } from './lib/server.mjs';
import { catalogBody, newTenant, register, uniqueSlug } from './lib/tenant.mjs';
import { postWebhook } from './lib/webhook.mjs';

const N = 20;

describe('concurrent duplicates', { skip: notBuilt('serve') }, () => {
    let srv;
    before(async () => { srv = await startServer(); });
    after(async () => { if (srv) await srv.stop(); });

    test(`one webhook delivered ${N} times at once is applied once`, async () => {
        const T = await newTenant(srv);
        const conn = await register(T.c);
        const runId = insertRunningRun(srv.dbPath, conn.id);
        const now = Date.now();
        const body = {
            connector_id: conn.id, run_id: runId, status: 'completed', rows_synced: 40, rows_loaded: 37,
            transform_errors: 3, tap_state: { bookmarks: { a: 1 } },
            started_at: new Date(now - 10000).toISOString(), completed_at: new Date(now).toISOString(),
            error_msg: null, iomete_table: `${conn.iomete_namespace}.${conn.iomete_table}`, snapshot_id: 7,
        };
        const rs = await Promise.all(Array.from({ length: N }, () => postWebhook(srv.url, conn.webhook_secret, body)));
        assert.deepEqual(rs.map((r) => r.status), Array(N).fill(200), rs.map((r) => r.text).join('\n'));
        const d = (await T.c.get(`/v1/admin/connectors/${conn.id}`)).json;
        assert.equal(d.rows_total, 37, `rows_total ${d.rows_total}: applied more than once`);
        assert.equal(d.run_count, 1);
    });

    test(`a new tenant's first catalog provisioned ${N} times at once: one tenant, one catalog`, async () => {
        const id = crypto.randomUUID(), slug = uniqueSlug('race');
        const c = client(srv.url, hs256(srv.secret, id, { tenant_slug: slug }));
        const rs = await Promise.all(Array.from({ length: N }, () => c.post(`/v1/admin/tenants/${id}/catalog`, catalogBody(slug))));
        const codes = rs.map((r) => r.status).sort();
        assert.equal(codes.filter((x) => x === 201).length, 1, `statuses ${codes}; ${rs.find((r) => r.status >= 300)?.text ?? ''}`);
        assert.equal(codes.filter((x) => x === 200).length, N - 1, `statuses ${codes}`);
        assert.equal(new Set(rs.map((r) => r.json.id)).size, 1, 'several catalogs created');
        assert.equal(sql(srv.dbPath, `SELECT count(*) AS n FROM tenants WHERE id = '${id}'`)[0].n, 1);
        const l = (await c.get(`/v1/admin/tenants/${id}/catalog`)).json;
        assert.equal((Array.isArray(l) ? l : l.catalogs).length, 1);
    });

    test(`pause and trigger racing ${N} times end in a consistent state`, async () => {
        const T = await newTenant(srv);
        const conn = await register(T.c);
        const rs = await Promise.all(Array.from({ length: N }, (_, i) =>
            T.c.post(`/v1/admin/connectors/${conn.id}/${i % 2 ? 'pause' : 'trigger'}`)));
        for (const r of rs) assert.ok([200, 202, 409].includes(r.status), `${r.status} ${r.text}`);
        const d = (await T.c.get(`/v1/admin/connectors/${conn.id}`)).json;
        if (d.status === 'paused') assert.equal(d.next_run_at, null, 'paused with a next run');
        else assert.equal(d.status, 'active');
    });
});
