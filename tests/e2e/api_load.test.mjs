// api_load.test.mjs — concurrency and shutdown (docs/configuration.md): 200 requests in flight at once
// (reads and registrations mixed) are all answered correctly, and SIGTERM ends `ivory serve`
// with exit status 0.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { notBuilt, startServer } from './lib/server.mjs';
import { connectorBody, newTenant } from './lib/tenant.mjs';
import { fetchRetry } from './lib/http.mjs';

describe('concurrency and shutdown', { skip: notBuilt('serve') }, () => {
    test('200 concurrent requests are all answered correctly', async () => {
        const srv = await startServer();
        try {
            const A = await newTenant(srv), B = await newTenant(srv);
            const jobs = [];
            for (let i = 0; i < 200; i++) {
                const T = i % 2 ? A : B;
                if (i % 4 < 2) jobs.push(T.c.post('/v1/admin/connectors', connectorBody({ destination_table: `t_${i}` })).then((r) => ['post', T, i, r]));
                else jobs.push(T.c.get('/v1/admin/connectors').then((r) => ['get', T, i, r]));
            }
            const results = await Promise.all(jobs);
            const created = { [A.id]: new Set(), [B.id]: new Set() };
            for (const [kind, T, i, r] of results) {
                if (kind === 'post') {
                    assert.equal(r.status, 201, `request ${i}: ${r.status} ${r.text}`);
                    assert.equal(r.json.iomete_table, `t_${i}`);
                    assert.equal(r.json.iomete_namespace, T.namespace);
                    created[T.id].add(r.json.id);
                } else {
                    assert.equal(r.status, 200, `request ${i}: ${r.status} ${r.text}`);
                    assert.equal(r.json.count, r.json.connectors.length);
                    assert.ok(r.json.connectors.every((x) => x.iomete_namespace === T.namespace), 'cross-tenant leak under load');
                }
            }
            for (const T of [A, B]) {
                const l = (await T.c.get('/v1/admin/connectors')).json;
                assert.equal(l.count, 50);
                assert.deepEqual(new Set(l.connectors.map((x) => x.id)), created[T.id]);
            }
        } finally {
            await srv.stop();
        }
    });

    test('SIGTERM: exit status 0', async () => {
        const srv = await startServer();
        const T = await newTenant(srv);
        assert.equal((await T.c.post('/v1/admin/connectors', connectorBody())).status, 201);
        const code = await srv.stop({ signal: 'SIGTERM' });
        assert.equal(code, 0, `exit ${code}; stderr:\n${srv.stderr()}`);
    });

    test('SIGINT: exit status 0, and the store survives a restart', async () => {
        const srv = await startServer({ keepDir: true });
        const T = await newTenant(srv);
        const reg = await T.c.post('/v1/admin/connectors', connectorBody());
        assert.equal(reg.status, 201);
        assert.equal(await srv.stop({ signal: 'SIGINT' }), 0, srv.stderr());
        const again = await startServer({ dir: srv.dir, secret: srv.secret });
        try {
            const r = await fetchRetry(`${again.url}/v1/admin/connectors/${reg.json.id}`,
                { headers: { authorization: `Bearer ${T.token}` } });
            const j = await r.json();
            assert.equal(r.status, 200, JSON.stringify(j));
            assert.equal(j.id, reg.json.id);
            assert.equal(j.status, 'active');
        } finally {
            await again.stop();
        }
    });
});
