// http.mjs — a small fetch wrapper for the e2e suite: every call returns
// { status, headers, json, text } so assertions read the real response, never a guess.
import http from 'node:http';

export async function request(base, method, path, { token, body, raw, headers = {}, contentType } = {}) {
    const h = { ...headers };
    if (token) h.authorization = `Bearer ${token}`;
    let payload;
    if (raw !== undefined) {
        payload = raw;
        if (contentType !== null) h['content-type'] = contentType ?? 'application/json';
    } else if (body !== undefined) {
        payload = JSON.stringify(body);
        if (contentType !== null) h['content-type'] = contentType ?? 'application/json';
    }
    const res = await fetch(base + path, { method, headers: h, body: payload });
    const text = await res.text();
    let json;
    try { json = text.length ? JSON.parse(text) : undefined; } catch { json = undefined; }
    return { status: res.status, headers: res.headers, json, text };
}

// A client bound to one server and token: c.get('/v1/...'), c.post(path, body), ...
export function client(base, token) {
    const c = (method, path, opts = {}) => request(base, method, path, { token, ...opts });
    c.get = (p, o) => c('GET', p, o);
    c.post = (p, body, o = {}) => c('POST', p, { body, ...o });
    c.put = (p, body, o = {}) => c('PUT', p, { body, ...o });
    c.patch = (p, body, o = {}) => c('PATCH', p, { body, ...o });
    c.del = (p, o) => c('DELETE', p, o);
    c.base = base;
    c.token = token;
    return c;
}

// Raw request through node:http (for an oversized body, where the server may answer before
// reading everything). Resolves { status, headers, text } or { error } if the socket died
// before any response arrived.
export function rawRequest(base, method, path, { headers = {}, body } = {}) {
    const u = new URL(base + path);
    return new Promise((resolve) => {
        const req = http.request({ host: u.hostname, port: u.port, method, path: u.pathname + u.search, headers }, (res) => {
            let text = '';
            res.setEncoding('utf8');
            res.on('data', (d) => { text += d; });
            res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, text }));
            res.on('error', (error) => resolve({ status: res.statusCode, headers: res.headers, text, error }));
        });
        req.on('error', (error) => resolve({ error }));
        if (body) req.end(body); else req.end();
    });
}
