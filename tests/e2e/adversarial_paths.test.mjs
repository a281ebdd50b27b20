// adversarial_paths.test.mjs — issue 7 point 2: a tenant cannot make the server write outside
// the operator's warehouse root, nor turn Ivory's own store into its SQL catalog. Every bad
// value is a 422 naming the field, and nothing is created.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { sql } from './lib/db.mjs';
import { PG_URL, notBuilt, startServer, tempDir } from './lib/server.mjs';
import { catalogBody, newTenant } from './lib/tenant.mjs';

describe('adversarial: confined catalog locations', { skip: notBuilt('serve') }, () => {
    let srv, T, outside, allowed;
    before(async () => {
        outside = tempDir('ivory-outside-');
        allowed = path.join(outside, 'allowed-catalog.db');
        // The default root: <data dir>/warehouse (IVORY_WAREHOUSE_ROOT unset).
        srv = await startServer({ env: { IVORY_WAREHOUSE_ROOT: null, IVORY_SQL_CATALOGS: allowed } });
        T = await newTenant(srv, { catalog: { warehouse: `file://${srv.dir}/warehouse` } });
    });
    after(async () => {
        if (srv) await srv.stop();
        fs.rmSync(outside, { recursive: true, force: true });
    });

    const put = (extra) => T.c.post(`/v1/admin/tenants/${T.id}/catalog`, catalogBody(T.slug, { catalog_name: 'x', ...extra }));
    const refused = async (extra, field) => {
        const r = await put(extra);
        assert.equal(r.status, 422, `${JSON.stringify(extra)}: ${r.status} ${r.text}`);
        assert.equal(r.json.field, field, r.text);
        return r;
    };

    test('warehouses outside the root are refused, after .. and symlinks', async () => {
        fs.symlinkSync('/etc', path.join(srv.dir, 'warehouse', 'etc-link'));
        for (const wh of ['file:///etc', 'file:///tmp/../etc', 'file:///', `file://${srv.dir}`,
            `file://${srv.dir}/warehouse/../`, `file://${srv.dir}/warehouse/etc-link`,
            `file://${srv.dir}/warehouse/./../../x`, `file://${outside}`]) {
            const r = await refused({ warehouse: wh }, 'warehouse');
            assert.match(r.json.detail, /warehouse root/);
        }
        // A prefix that walks through a symlink inside the root is refused too.
        await refused({ warehouse: `file://${srv.dir}/warehouse`, storage_prefix: 'etc-link' }, 'warehouse');
        assert.equal((await put({ warehouse: `file://${srv.dir}/warehouse/sub/../tenant-a` })).status, 201);
        assert.equal((await put({ warehouse: 's3://bucket/wh' })).status, 200, 'object stores are not paths');
    });

    test("a sql catalog is 'local' or allow-listed, never the control-plane store", async () => {
        const store = srv.dbPath;
        fs.symlinkSync(store, path.join(outside, 'alias.db'));
        const wh = `file://${srv.dir}/warehouse`;
        for (const uri of [store, `sqlite:${store}`, `sqlite://${store}`, path.join(srv.dir, '.', 'ivory.db'),
            path.join(outside, 'alias.db'), path.join(outside, 'new.db'), '/etc/evil.db'])
            await refused({ catalog_type: 'sql', catalog_uri: uri, warehouse: wh }, 'catalog_uri');
        assert.ok(!fs.existsSync(path.join(outside, 'new.db')), 'nothing was created');
        assert.equal((await put({ catalog_type: 'sql', catalog_uri: 'local', warehouse: wh })).status, 200);
        assert.equal((await put({ catalog_type: 'sql', catalog_uri: allowed, warehouse: wh })).status, 200);
        const tables = sql(store, "SELECT name FROM sqlite_master WHERE type = 'table'").map((x) => x.name);
        assert.ok(!tables.includes('iceberg_tables'), 'the store holds no iceberg catalog table');
    });

    // SQLite only: the check compares files; on PostgreSQL there is no store file to list.
    test('even allow-listed, the control-plane store is refused',
         { skip: PG_URL ? 'the store is a PostgreSQL database in this pass' : false }, async () => {
        const dir = tempDir();
        const s2 = await startServer({ dir, env: { IVORY_SQL_CATALOGS: path.join(dir, 'ivory.db') } });
        try {
            const T2 = await newTenant(s2);
            const r = await T2.c.post(`/v1/admin/tenants/${T2.id}/catalog`, catalogBody(T2.slug, {
                catalog_name: 'y', catalog_type: 'sql', catalog_uri: s2.dbPath }));
            assert.equal(r.status, 422, r.text);
            assert.equal(r.json.field, 'catalog_uri');
            assert.match(r.json.detail, /control-plane/);
        } finally { await s2.stop(); }
    });
});
