// openapi.mjs — holds Ivory to its own OpenAPI document: every response the end-to-end suite
// receives through lib/http.mjs is checked (ajv, JSON Schema 2020-12) against the schema the
// server's GET /v1/openapi.json declares for that route and status (or its `default` error
// schema). A response that does not match fails the request in the test that made it, so the
// document cannot promise what the server does not do. IVORY_E2E_NO_SCHEMA=1 turns it off.
import Ajv2020 from 'ajv/dist/2020.js';

const docs = new Map();   // base URL -> Promise<{ match(method, path) } | null>

function compile(doc) {
    const ajv = new Ajv2020({ strict: false, allErrors: false });
    ajv.addSchema({ $id: 'ivory', components: doc.components }, 'ivory');
    const fix = (s) => JSON.parse(JSON.stringify(s).replaceAll('"#/components/', '"ivory#/components/'));
    const routes = [];
    for (const [template, item] of Object.entries(doc.paths)) {
        const re = new RegExp('^' + template.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\\?\{[^}]+\\?\}/g, '[^/]+') + '$');
        for (const [method, op] of Object.entries(item)) {
            const responses = {};
            for (const [code, r] of Object.entries(op.responses ?? {})) {
                const schema = r.content?.['application/json']?.schema;
                responses[code] = schema ? ajv.compile(fix(schema)) : null;
            }
            routes.push({ re, method: method.toUpperCase(), responses, template });
        }
    }
    return {
        match(method, path) {
            const p = path.split('?')[0];
            return routes.find((r) => r.method === method && r.re.test(p)) ?? null;
        },
    };
}

async function load(base) {
    try {
        const r = await fetch(`${base}/v1/openapi.json`);
        if (r.status !== 200) return null;
        const doc = await r.json();
        return doc?.openapi ? compile(doc) : null;
    } catch {
        return null;
    }
}

// Throws when the response contradicts the document.
export async function checkResponse(base, method, path, status, contentType, json) {
    if (process.env.IVORY_E2E_NO_SCHEMA === '1') return;
    if (path.startsWith('/v1/openapi.json')) return;
    if (!docs.has(base)) docs.set(base, load(base));
    const v = await docs.get(base);
    if (!v) return;
    const route = v.match(method, path);
    if (!route) {
        if (status === 404 || status === 405) return;   // no such route: the error shape is checked elsewhere
        throw new Error(`OpenAPI: ${method} ${path} answered ${status} but the document has no such operation`);
    }
    const code = String(status);
    const validate = code in route.responses ? route.responses[code]
        : status >= 400 ? route.responses.default : undefined;
    if (validate === undefined) {
        if (status === 304) return;
        throw new Error(`OpenAPI: ${method} ${route.template} answered ${status}, which the document does not list`);
    }
    if (validate === null || !/^application\/json\b/.test(contentType ?? '')) return;
    if (!validate(json)) {
        throw new Error(`OpenAPI: ${method} ${path} -> ${status} does not match its schema: ${JSON.stringify(validate.errors.slice(0, 3))}; body: ${JSON.stringify(json).slice(0, 400)}`);
    }
}
