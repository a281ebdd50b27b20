// tenants.mjs — bench fixture for the multi-tenant write figures: given a running `ivory
// serve` (URL, HS256 secret) and OUT_DIR already filled by setup.mjs (token, list.json of the
// bench tenant), provisions K more tenants, each with its catalog and PER connectors, and
// writes wrk request rotations (bench.lua's BENCH_PAIRS format, "TOKEN PATH" per line):
//   register-k.pairs  one line per tenant: POST /v1/admin/connectors as that tenant
//   trigger-k.pairs   every connector of the K tenants, interleaved tenant by tenant
//   trigger-1.pairs   the bench tenant's connectors from list.json (the single-tenant peer)
// Usage: node tenants.mjs URL SECRET K PER OUT_DIR
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { hs256 } from '../../tests/e2e/lib/jwt.mjs';

const [url, secret, kStr, perStr, out] = process.argv.slice(2);
const k = Number(kStr), per = Number(perStr);
if (!(k >= 1 && per >= 1)) throw new Error('usage: node tenants.mjs URL SECRET K PER OUT_DIR');
async function post(token, p, body) {
    const r = await fetch(url + p, {
        method: 'POST', body: JSON.stringify(body),
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    });
    const t = await r.text();
    if (r.status >= 300) throw new Error(`POST ${p}: ${r.status} ${t}`);
    return JSON.parse(t);
}
const body = (i) => ({
    source_system: 'salesforce', tap_name: 'tap-salesforce', destination_catalog: 'ivory-lakehouse',
    destination_table: `bench_table_${i}`, sync_schedule: '0 */6 * * *',
});
const tenants = await Promise.all(Array.from({ length: k }, async (_, t) => {
    const id = crypto.randomUUID(), slug = `bench-tenant-${t}`;
    const token = hs256(secret, id, { tenant_slug: slug });
    // the same layout as setup.mjs: the warehouse under the server's warehouse root
    await post(token, `/v1/admin/tenants/${id}/catalog`, {
        catalog_name: 'ivory-lakehouse', catalog_type: 'hadoop',
        warehouse: `file://${path.resolve(out)}/data/warehouse`, storage_prefix: slug,
    });
    const ids = [];
    for (let i = 0; i < per; i++) ids.push((await post(token, '/v1/admin/connectors', body(i))).id);
    return { token, ids };
}));
const trig = (token, id) => `${token} /v1/admin/connectors/${id}/trigger`;
const lines = [];
for (let i = 0; i < per; i++) for (const t of tenants) lines.push(trig(t.token, t.ids[i]));
fs.writeFileSync(path.join(out, 'trigger-k.pairs'), lines.join('\n') + '\n');
fs.writeFileSync(path.join(out, 'register-k.pairs'),
    tenants.map((t) => `${t.token} /v1/admin/connectors`).join('\n') + '\n');
const token1 = fs.readFileSync(path.join(out, 'token'), 'utf8').trim();
const list = JSON.parse(fs.readFileSync(path.join(out, 'list.json'), 'utf8')).connectors;
fs.writeFileSync(path.join(out, 'trigger-1.pairs'),
    list.map((c) => trig(token1, c.id)).join('\n') + '\n');
console.log(`${k} tenants with ${per} connectors each; single-tenant trigger rotation over ${list.length}`);
