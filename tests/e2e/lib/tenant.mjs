// tenant.mjs — tenants for the e2e suite, made the two ways docs/api.md allows:
// `ivory tenant create --slug` against the server's own store (prints id, slug, dev token),
// or a token carrying a `tenant_slug` claim whose first catalog provisioning creates the tenant.
import crypto from 'node:crypto';
import { client } from './http.mjs';
import { hs256 } from './jwt.mjs';
import { ivory } from './server.mjs';

export const uniqueSlug = (base = 't') => `${base}-${crypto.randomBytes(4).toString('hex')}`;
export const namespaceOf = (slug) => `ivory_tenant_${slug.replaceAll('-', '_')}`;

// `ivory tenant create` against srv's DB; returns the parsed JSON ({ id, slug, token }).
export function cliTenant(srv, slug, { id } = {}) {
    const args = ['tenant', 'create', '--slug', slug];
    if (id) args.push('--id', id);
    const r = ivory(args, { env: srv.env });
    if (r.status !== 0) throw new Error(`ivory tenant create failed (${r.status}): ${r.stderr}`);
    return JSON.parse(r.stdout);
}

export function catalogBody(slug, extra = {}) {
    return {
        catalog_name: 'ivory-lakehouse',
        catalog_type: 'hadoop',
        warehouse: 'file:///tmp/ivory-e2e-warehouse',
        storage_prefix: slug,
        ...extra,
    };
}

// A tenant created by the tenant_slug claim on first catalog provisioning, with an active
// catalog named 'ivory-lakehouse'. `sign(sub, extraClaims)` defaults to HS256 with srv.secret.
export async function newTenant(srv, { slug = uniqueSlug(), sign, catalog = {} } = {}) {
    const id = crypto.randomUUID();
    const mint = sign ?? ((sub, extra) => hs256(srv.secret, sub, extra));
    const token = mint(id, { tenant_slug: slug });
    const c = client(srv.url, token);
    const r = await c.post(`/v1/admin/tenants/${id}/catalog`, catalogBody(slug, catalog));
    if (r.status !== 201) throw new Error(`catalog provisioning for ${slug} gave ${r.status}: ${r.text}`);
    return { id, slug, token, c, namespace: namespaceOf(slug), catalog: r.json };
}

export function connectorBody(extra = {}) {
    return {
        source_system: 'salesforce',
        tap_name: 'tap-salesforce',
        destination_catalog: 'ivory-lakehouse',
        destination_table: `opportunities_${crypto.randomBytes(3).toString('hex')}`,
        sync_schedule: '0 */6 * * *',
        ...extra,
    };
}

export async function register(c, extra = {}) {
    const r = await c.post('/v1/admin/connectors', connectorBody(extra));
    if (r.status !== 201) throw new Error(`register gave ${r.status}: ${r.text}`);
    return r.json;
}
