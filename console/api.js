// api.js — the console's one door to the server: the public REST API, with the bearer token
// the user pasted. The token lives in sessionStorage (this tab only, gone when it closes),
// never in localStorage, a cookie or a URL.
const KEY = 'ivory.token';

export class ApiError extends Error {
    constructor(status, body) {
        super(body?.detail ?? `HTTP ${status}`);
        this.status = status;
        this.body = body;
        this.field = body?.field ?? null;
    }
}

export const session = {
    token: () => sessionStorage.getItem(KEY),
    set: (t) => sessionStorage.setItem(KEY, t),
    clear: () => sessionStorage.removeItem(KEY),
};

// The token's claims, decoded without verification (the server verifies): for sub and exp.
export function claims(token) {
    try {
        const part = token.split('.')[1];
        const json = atob(part.replace(/-/g, '+').replace(/_/g, '/').padEnd(Math.ceil(part.length / 4) * 4, '='));
        return JSON.parse(new TextDecoder().decode(Uint8Array.from(json, (c) => c.charCodeAt(0))));
    } catch {
        return null;
    }
}

let onUnauthorized = () => {};
export function setUnauthorizedHandler(fn) { onUnauthorized = fn; }

// Responses to GETs are kept with their ETag, so a poll that finds nothing new costs a 304.
const etags = new Map();

export async function call(method, path, body) {
    const token = session.token();
    const headers = { Accept: 'application/json' };
    if (token) headers.Authorization = `Bearer ${token}`;
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    const cached = method === 'GET' ? etags.get(path) : undefined;
    if (cached) headers['If-None-Match'] = cached.etag;
    const r = await fetch(path, {
        method, headers, body: body === undefined ? undefined : JSON.stringify(body),
        cache: 'no-store', credentials: 'omit', redirect: 'error',
    });
    if (r.status === 304 && cached) return { status: 200, body: cached.body, notModified: true };
    const text = await r.text();
    let parsed = null;
    if (text) {
        try { parsed = JSON.parse(text); } catch { parsed = { detail: text.slice(0, 300) }; }
    }
    if (r.status === 401) {
        onUnauthorized(parsed?.detail);
        throw new ApiError(401, parsed);
    }
    if (!r.ok) throw new ApiError(r.status, parsed);
    const etag = r.headers.get('ETag');
    if (method === 'GET' && etag) etags.set(path, { etag, body: parsed });
    return { status: r.status, body: parsed };
}

export const api = {
    get: (p) => call('GET', p),
    post: (p, b) => call('POST', p, b),
    put: (p, b) => call('PUT', p, b),
    patch: (p, b) => call('PATCH', p, b),
    del: (p) => call('DELETE', p),
    forget: () => etags.clear(),
};
