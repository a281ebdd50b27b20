// api_catalogs_tenancy.test.mjs — lakehouse catalogs (docs/api.md "Catalogs") and tenant isolation
// (docs/api.md): upsert 201 then 200, list, deactivate and the 422 that follows, 403 on another
// tenant's catalog path unless admin, and the cross-tenant matrix: tenant B on every
// id-taking route and method with A's connector id gets 404 and A's connector is unchanged.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { client } from './lib/http.mjs';
import { hs256 } from './lib/jwt.mjs';
import { notBuilt, startServer } from './lib/server.mjs';
import { catalogBody, cliTenant, connectorBody, namespaceOf, newTenant, register, uniqueSlug } from './lib/tenant.mjs';

// The list's shape is not fixed by the contract: accept {catalogs:[...]} or a bare array.
const catalogsOf = (j) => (Array.isArray(j) ? j : j?.catalogs);

describe('catalogs (docs/api.md "Catalogs")', { skip: notBuilt('serve') }, () => {
    let srv;
    before(async () => { srv = await startServer(); });
    after(async () => { if (srv) await srv.stop(); });

    test('upsert: 201 on create, 200 on update, no secrets in the body', async () => {
        const id = crypto.randomUUID(), slug = uniqueSlug('cat');
        const c = client(srv.url, hs256(srv.secret, id, { tenant_slug: slug }));
        const body = catalogBody(slug, {
            catalog_name: 'lake-one', s3_endpoint: 'http://127.0.0.1:9', s3_access_key_id: 'AKIAEXAMPLE',
            s3_secret_key_enc: 'super-secret-value-123', metadata: { team: 'data' },
        });
        const r1 = await c.post(`/v1/admin/tenants/${id}/catalog`, body);
        assert.equal(r1.status, 201, r1.text);
        for (const k of ['id', 'tenant_id', 'tenant_slug', 'catalog_name', 'catalog_type', 'warehouse',
            'storage_prefix', 'active'])
            assert.ok(k in r1.json, `catalog body lacks '${k}'`);
        assert.ok(Object.keys(r1.json).some((k) => k.endsWith('_at')), 'catalog body has no timestamps');
        assert.equal(r1.json.tenant_id, id);
        assert.equal(r1.json.tenant_slug, slug);
        assert.equal(r1.json.catalog_name, 'lake-one');
        assert.equal(r1.json.active, true);
        assert.deepEqual(r1.json.metadata, { team: 'data' });
        assert.ok(!('s3_secret_key_enc' in r1.json), 'secret key returned');
        assert.ok(!r1.text.includes('super-secret-value-123'), 'secret value appears in the response');

        const r2 = await c.post(`/v1/admin/tenants/${id}/catalog`, { ...body, storage_prefix: `${slug}-v2` });
        assert.equal(r2.status, 200, r2.text);
        assert.equal(r2.json.id, r1.json.id, 'upsert created a second catalog');
        assert.equal(r2.json.storage_prefix, `${slug}-v2`);

        const l = await c.get(`/v1/admin/tenants/${id}/catalog`);
        assert.equal(l.status, 200, l.text);
        const list = catalogsOf(l.json);
        assert.ok(Array.isArray(list), `unexpected list shape: ${l.text}`);
        assert.equal(list.filter((x) => x.catalog_name === 'lake-one').length, 1);
        assert.ok(!l.text.includes('super-secret-value-123'));
    });

    test('catalog_name defaults to ivory-lakehouse', async () => {
        const id = crypto.randomUUID(), slug = uniqueSlug('def');
        const c = client(srv.url, hs256(srv.secret, id, { tenant_slug: slug }));
        const body = catalogBody(slug);
        delete body.catalog_name;
        const r = await c.post(`/v1/admin/tenants/${id}/catalog`, body);
        assert.equal(r.status, 201, r.text);
        assert.equal(r.json.catalog_name, 'ivory-lakehouse');
    });

    test('validation: 422 naming the field, nothing written', async () => {
        const T = await newTenant(srv);
        const path = `/v1/admin/tenants/${T.id}/catalog`;
        const before1 = (await T.c.get(path)).text;
        const cases = [
            ['catalog_type', { catalog_type: 'oracle' }],
            ['catalog_uri', { catalog_type: 'rest' }],                 // rest needs a URI
            ['warehouse', { warehouse: undefined }],
            ['warehouse', { warehouse: 'http://example.invalid/wh' }],
            ['storage_prefix', { storage_prefix: undefined }],
            ['metadata', { metadata: 'not-an-object' }],
            ['active', { active: 'yes' }],
            ['bogus_field', { bogus_field: 1 }],
        ];
        for (const [field, patch] of cases) {
            const body = { ...catalogBody(T.slug, { catalog_name: 'other' }), ...patch };
            for (const k of Object.keys(body)) if (body[k] === undefined) delete body[k];
            const r = await T.c.post(path, body);
            assert.equal(r.status, 422, `${JSON.stringify(patch)}: ${r.status} ${r.text}`);
            assert.equal(r.json?.field, field, `${JSON.stringify(patch)}: ${r.text}`);
            assert.equal(typeof r.json?.error, 'string');
            assert.equal(typeof r.json?.detail, 'string');
        }
        assert.equal((await T.c.get(path)).text, before1, 'a rejected catalog request wrote something');
    });

    test('hive and sql catalogs are accepted and stored', async () => {
        const T = await newTenant(srv);
        for (const [name, extra] of [['h', { catalog_type: 'hive', catalog_uri: 'thrift://127.0.0.1:9083' }],
            ['s', { catalog_type: 'sql', catalog_uri: 'local' }]]) {
            const r = await T.c.post(`/v1/admin/tenants/${T.id}/catalog`, catalogBody(T.slug, { catalog_name: name, ...extra }));
            assert.equal(r.status, 201, r.text);
            assert.equal(r.json.catalog_type, extra.catalog_type);
        }
    });

    test('delete deactivates; registering against it is 422', async () => {
        const T = await newTenant(srv);
        const ok = await T.c.post(`/v1/admin/tenants/${T.id}/catalog`, catalogBody(T.slug, { catalog_name: 'gone' }));
        assert.equal(ok.status, 201, ok.text);
        assert.equal((await T.c.post('/v1/admin/connectors', connectorBody({ destination_catalog: 'gone' }))).status, 201);
        const d = await T.c.del(`/v1/admin/tenants/${T.id}/catalog/gone`);
        assert.ok([200, 204].includes(d.status), `${d.status} ${d.text}`);
        const list = catalogsOf((await T.c.get(`/v1/admin/tenants/${T.id}/catalog`)).json);
        const row = list.find((x) => x.catalog_name === 'gone');
        if (row) assert.equal(row.active, false);
        const before1 = (await T.c.get('/v1/admin/connectors')).text;
        const r = await T.c.post('/v1/admin/connectors', connectorBody({ destination_catalog: 'gone' }));
        assert.equal(r.status, 422, r.text);
        assert.equal(r.json?.field, 'destination_catalog');
        assert.equal((await T.c.get('/v1/admin/connectors')).text, before1);
        const missing = await T.c.del(`/v1/admin/tenants/${T.id}/catalog/never-existed`);
        assert.equal(missing.status, 404, missing.text);
        // Upserting it again (active defaults to true) brings it back.
        const again = await T.c.post(`/v1/admin/tenants/${T.id}/catalog`, catalogBody(T.slug, { catalog_name: 'gone' }));
        assert.equal(again.status, 200, again.text);
        assert.equal(again.json.active, true);
        assert.equal((await T.c.post('/v1/admin/connectors', connectorBody({ destination_catalog: 'gone' }))).status, 201);
    });

    test('registering against a catalog that does not exist is 422', async () => {
        const T = await newTenant(srv);
        const r = await T.c.post('/v1/admin/connectors', connectorBody({ destination_catalog: 'nope' }));
        assert.equal(r.status, 422, r.text);
        assert.equal(r.json?.field, 'destination_catalog');
    });

    test("another tenant's catalog path: 403 for a tenant, allowed for an admin", async () => {
        const A = await newTenant(srv), B = await newTenant(srv);
        const pathA = `/v1/admin/tenants/${A.id}/catalog`;
        const beforeA = (await A.c.get(pathA)).text;
        for (const [m, p, body] of [['GET', pathA], ['POST', pathA, catalogBody(A.slug, { catalog_name: 'evil' })],
            ['DELETE', `${pathA}/ivory-lakehouse`]]) {
            const r = await B.c(m, p, body ? { body } : {});
            assert.equal(r.status, 403, `B ${m} ${p}: ${r.status} ${r.text}`);
        }
        assert.equal((await A.c.get(pathA)).text, beforeA, "B changed A's catalogs");
        const admin = client(srv.url, hs256(srv.secret, crypto.randomUUID(), { role: 'admin' }));
        const g = await admin.get(pathA);
        assert.equal(g.status, 200, g.text);
        assert.ok(catalogsOf(g.json).some((x) => x.catalog_name === 'ivory-lakehouse'));
        const p = await admin.post(pathA, catalogBody(A.slug, { catalog_name: 'by-admin' }));
        assert.equal(p.status, 201, p.text);
        assert.equal(p.json.tenant_id, A.id);
        assert.ok(catalogsOf((await A.c.get(pathA)).json).some((x) => x.catalog_name === 'by-admin'));
    });

    test('tenant made by `ivory tenant create` can provision and register', async () => {
        const slug = uniqueSlug('cli');
        const t = cliTenant(srv, slug);
        assert.equal(t.slug, slug);
        assert.equal(typeof t.token, 'string');
        const c = client(srv.url, t.token);
        const r = await c.post(`/v1/admin/tenants/${t.id}/catalog`, catalogBody(slug));
        assert.equal(r.status, 201, r.text);
        assert.equal(r.json.tenant_slug, slug);
        const reg = await register(c);
        assert.equal(reg.iomete_namespace, namespaceOf(slug));
    });
});

describe('cross-tenant isolation (docs/api.md, OWASP BOLA)', { skip: notBuilt('serve') }, () => {
    let srv, A, B, conn;
    before(async () => {
        srv = await startServer();
        A = await newTenant(srv);
        B = await newTenant(srv);
        conn = await register(A.c);
    });
    after(async () => { if (srv) await srv.stop(); });

    // core: the connector routes, must be 404. later: mapping and operations routes; for them B
    // must get exactly what a never-existing id gets (404, or 405 while the route is missing).
    const routes = (id) => [
        ['core', 'GET', `/v1/admin/connectors/${id}`],
        ['core', 'DELETE', `/v1/admin/connectors/${id}`],
        ['core', 'POST', `/v1/admin/connectors/${id}/trigger`],
        ['core', 'POST', `/v1/admin/connectors/${id}/pause`],
        ['core', 'POST', `/v1/admin/connectors/${id}/resume`],
        ['core', 'GET', `/v1/admin/connectors/${id}/runs`],
        ['core', 'GET', `/v1/admin/connectors/${id}/runs?limit=5`],
        ['later', 'PATCH', `/v1/admin/connectors/${id}`, { sync_schedule: '@hourly' }],
        ['later', 'GET', `/v1/admin/connectors/${id}/mappings`],
        ['later', 'PUT', `/v1/admin/connectors/${id}/mappings`, { mappings: [] }],
        ['later', 'POST', `/v1/admin/connectors/${id}/map-fields`, { source_stream: 's', source_schema: {} }],
        ['later', 'GET', `/v1/admin/connectors/${id}/state`],
        ['later', 'POST', `/v1/admin/connectors/${id}/resync`],
        ['later', 'POST', `/v1/admin/connectors/${id}/rotate-webhook-secret`],
    ];

    test("B on every id-taking route with A's connector id: 404, A unchanged", async () => {
        const beforeA = (await A.c.get(`/v1/admin/connectors/${conn.id}`)).json;
        const listBefore = (await A.c.get('/v1/admin/connectors')).text;
        const ghost = crypto.randomUUID();
        const ghostRoutes = routes(ghost);
        for (const [i, [kind, m, p, body]] of routes(conn.id).entries()) {
            const r = await B.c(m, p, body ? { body } : {});
            const g = await B.c(m, ghostRoutes[i][2], body ? { body } : {});
            if (kind === 'core') assert.equal(r.status, 404, `B ${m} ${p}: ${r.status} ${r.text}`);
            else assert.ok([404, 405].includes(r.status), `B ${m} ${p}: ${r.status} ${r.text}`);
            assert.equal(r.status, g.status, `B ${m} ${p}: ${r.status} differs from a missing id's ${g.status}`);
            assert.equal(typeof r.json?.error, 'string', `${r.status} for ${m} ${p} is not a JSON error`);
        }
        const afterA = (await A.c.get(`/v1/admin/connectors/${conn.id}`)).json;
        assert.deepEqual(afterA, beforeA, "A's connector changed");
        assert.equal((await A.c.get('/v1/admin/connectors')).text, listBefore);
    });

    test("B's list does not show A's connectors; B's status filter neither", async () => {
        for (const q of ['', '?status=active']) {
            const r = await B.c.get(`/v1/admin/connectors${q}`);
            assert.equal(r.status, 200, r.text);
            assert.ok(!r.json.connectors.some((x) => x.id === conn.id));
        }
    });

    test("an admin token does not see other tenants' connectors by id", async () => {
        // Admin powers cover catalog endpoints only (docs/api.md); connectors stay scoped by sub.
        const admin = client(srv.url, hs256(srv.secret, crypto.randomUUID(), { role: 'admin' }));
        const r = await admin.get(`/v1/admin/connectors/${conn.id}`);
        assert.equal(r.status, 404, r.text);
    });

    test("B registering into A's catalog name uses B's own tenant (or 422 without one)", async () => {
        const r = await B.c.post('/v1/admin/connectors', connectorBody());
        assert.equal(r.status, 201, r.text);
        assert.equal(r.json.iomete_namespace, B.namespace);
    });
});
