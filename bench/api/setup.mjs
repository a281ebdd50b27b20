// setup.mjs — bench fixture: given a running `ivory serve` (URL, HS256 secret), provisions a
// tenant and its catalog, registers N connectors, and writes into OUT_DIR: token (the bearer
// token), list.json (the authenticated GET /v1/admin/connectors response, byte for byte) and
// post.json (the fixed POST body). Usage: node setup.mjs URL SECRET N OUT_DIR
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { hs256 } from '../../tests/e2e/lib/jwt.mjs';

const [url, secret, nStr, out] = process.argv.slice(2);
const n = Number(nStr);
const id = crypto.randomUUID(), slug = 'bench-acme';
const token = hs256(secret, id, { tenant_slug: slug });
const auth = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
async function post(p, body) {
    const r = await fetch(url + p, { method: 'POST', headers: auth, body: JSON.stringify(body) });
    const t = await r.text();
    if (r.status >= 300) throw new Error(`POST ${p}: ${r.status} ${t}`);
    return t;
}
// A local warehouse must lie under the server's warehouse root (run.sh: IVORY_DATA_DIR is
// OUT_DIR/data, whose root is data/warehouse).
await post(`/v1/admin/tenants/${id}/catalog`, {
    catalog_name: 'ivory-lakehouse', catalog_type: 'hadoop',
    warehouse: `file://${path.resolve(out)}/data/warehouse`, storage_prefix: slug,
});
const body = (i) => ({
    source_system: 'salesforce', tap_name: 'tap-salesforce', destination_catalog: 'ivory-lakehouse',
    destination_table: `bench_table_${i}`, sync_schedule: '0 */6 * * *',
});
for (let i = 0; i < n; i++) await post('/v1/admin/connectors', body(i));
const list = await fetch(`${url}/v1/admin/connectors`, { headers: auth });
const buf = Buffer.from(await list.arrayBuffer());
if (list.status !== 200) throw new Error(`GET list: ${list.status} ${buf}`);
fs.writeFileSync(path.join(out, 'token'), token);
fs.writeFileSync(path.join(out, 'list.json'), buf);
fs.writeFileSync(path.join(out, 'post.json'), JSON.stringify(body('posted')));
console.log(`tenant ${slug}: ${n} connectors, list response ${buf.length} bytes`);
