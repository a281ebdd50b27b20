// http.mjs — a small fetch wrapper for the e2e suite: every call returns
// { status, headers, json, text } so assertions read the real response, never a guess.
import http from 'node:http';
import { checkResponse } from './openapi.mjs';

// fetch + body text with a deadline. A pooled keep-alive connection the server closed while it
// sat idle (the server cuts connections idle beyond IVORY_HTTP_HEADER_TIMEOUT, 10 s) is reused
// when this process's event loop was blocked past that (spawnSync of psql, pg_ctl, the ivory
// CLI): the request meets a closed socket before the server read it. It is sent again once, on
// a new connection; a server that is really gone fails the second attempt too.
export async function fetchText(url, init, timeoutMs = 120000, what = url) {
    const { res, text } = await fetchOnce(url, init, timeoutMs, what, true);
    return { res, text };
}

// fetch() for tests that read the Response themselves (headers, status, a stream), with the
// same single resend on a pooled connection the server closed while it sat idle.
export async function fetchRetry(url, init = {}, timeoutMs = 120000) {
    return (await fetchOnce(url, init, timeoutMs, url, false)).res;
}

async function fetchOnce(url, init, timeoutMs, what, readText) {
    for (let attempt = 0; ; attempt++) {
        try {
            const res = await fetch(url, { ...init, signal: AbortSignal.timeout(timeoutMs) });
            return { res, text: readText ? await res.text() : undefined };
        } catch (err) {
            if (err.name === 'TimeoutError') throw new Error(`${what}: no response within ${timeoutMs} ms`);
            if (attempt === 0 && ['UND_ERR_SOCKET', 'ECONNRESET'].includes(err.cause?.code)) continue;
            // undici says only "fetch failed"; the cause (ECONNRESET, ECONNREFUSED, ...) is the news.
            throw new Error(`${what}: ${err.message}${err.cause ? ` (${err.cause.code ?? ''} ${err.cause.message})` : ''}`, { cause: err });
        }
    }
}

// Every request has a deadline (timeoutMs, default 120 s): a server that never answers fails
// the test with a clear error instead of hanging the suite.
export async function request(base, method, path, { token, body, raw, headers = {}, contentType, timeoutMs = 120000 } = {}) {
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
    const { res, text } = await fetchText(base + path, { method, headers: h, body: payload }, timeoutMs, `${method} ${path}`);
    let json;
    try { json = text.length ? JSON.parse(text) : undefined; } catch { json = undefined; }
    checkErrorShape(`${method} ${path}`, res.status, res.headers.get('content-type'), json, text);
    await checkResponse(base, method, path, res.status, res.headers.get('content-type'), json);
    return { status: res.status, headers: res.headers, json, text };
}

// docs/api.md, checked on every response the suite sees: an error status carries a JSON body
// {"error": "<code>", "detail": "<sentence>"} (field optional) with a JSON Content-Type.
export function checkErrorShape(what, status, contentType, json, text) {
    if (status < 400) return;
    const bad = (why) => { throw new Error(`${what} -> ${status}: ${why}; body: ${text.slice(0, 300)}`); };
    if (!/^application\/json\b/.test(contentType ?? '')) bad(`Content-Type '${contentType}' is not JSON`);
    if (!json || typeof json !== 'object' || typeof json.error !== 'string' || !json.error) bad('no "error" code');
    if (typeof json.detail !== 'string' || !json.detail) bad('no "detail" sentence');
    if ('field' in json && typeof json.field !== 'string') bad('"field" is not a string');
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
