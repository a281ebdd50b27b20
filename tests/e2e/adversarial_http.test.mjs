// adversarial_http.test.mjs — issue 7, point 8 (HTTP and JWT parsing): requests a careless
// parser gets wrong, sent as raw bytes on a loopback socket so nothing in between normalises
// them. "%2F" in a path segment is data (routing happens on the raw path), a NUL in the path
// (escaped or literal) is 400, two different Content-Length headers are 400 and the
// connection is closed, and a JWT whose signature is non-canonical base64url is 401.
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { client } from './lib/http.mjs';
import { hs256 } from './lib/jwt.mjs';
import { notBuilt, startServer } from './lib/server.mjs';
import { newTenant, register } from './lib/tenant.mjs';

// Sends raw bytes and resolves { status, head, body, closed } once the server closed the
// socket or a full response (by Content-Length) arrived; bounded by timeoutMs.
export function rawExchange(port, bytes, { timeoutMs = 5000 } = {}) {
    return new Promise((resolve) => {
        const s = net.connect({ host: '127.0.0.1', port });
        let buf = Buffer.alloc(0);
        let done = false;
        const finish = (closed) => {
            if (done) return;
            done = true;
            clearTimeout(timer);
            s.destroy();
            const text = buf.toString('latin1');
            const m = /^HTTP\/1\.[01] (\d{3})/.exec(text);
            const split = text.indexOf('\r\n\r\n');
            resolve({ status: m ? Number(m[1]) : 0, head: split >= 0 ? text.slice(0, split) : text,
                body: split >= 0 ? text.slice(split + 4) : '', closed });
        };
        const timer = setTimeout(() => finish(false), timeoutMs);
        s.on('data', (d) => {
            buf = Buffer.concat([buf, d]);
            const text = buf.toString('latin1');
            const split = text.indexOf('\r\n\r\n');
            const cl = /\r\ncontent-length:\s*(\d+)/i.exec(text);
            if (split >= 0 && cl && buf.length >= split + 4 + Number(cl[1]) && !/\r\nconnection:\s*close/i.test(text))
                finish(false);
        });
        s.on('end', () => finish(true));
        s.on('close', () => finish(true));
        s.on('error', () => finish(true));
        s.write(bytes);
    });
}

describe('adversarial HTTP parsing (issue 7, point 8)', { skip: notBuilt('serve') }, () => {
    let srv, T, port;
    before(async () => {
        srv = await startServer();
        port = Number(new URL(srv.url).port);
        T = await newTenant(srv);
    });
    after(async () => { if (srv) await srv.stop(); });

    const get = (path, extra = '') =>
        `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${T.c.token}\r\n${extra}Connection: close\r\n\r\n`;

    test('%2F inside a path segment is not a separator: routed on the raw path', async () => {
        const conn = await register(T.c);
        // /v1/admin/connectors/<id>%2Fruns would be the runs list if decoded before routing;
        // on the raw path it is the detail route with id "<id>/runs", which does not exist.
        const r = await rawExchange(port, get(`/v1/admin/connectors/${conn.id}%2Fruns`));
        assert.equal(r.status, 404, r.head);
        assert.match(r.body, /"error"/);
        assert.doesNotMatch(r.body, /^\[/, 'the runs list was served');
        // The same id, escaped character by character, is decoded after matching and found.
        const escaped = [...conn.id].map((ch) => `%${ch.charCodeAt(0).toString(16).padStart(2, '0')}`).join('');
        const ok = await rawExchange(port, get(`/v1/admin/connectors/${escaped}`));
        assert.equal(ok.status, 200, ok.head);
        assert.equal(JSON.parse(ok.body).id, conn.id);
        // A literal route segment spelled with escapes is not the route.
        const lit = await rawExchange(port, get('/v1/admin%2Fconnectors'));
        assert.equal(lit.status, 404, lit.head);
    });

    test('a NUL in the path is 400, escaped or literal, never a truncated path', async () => {
        const esc = await rawExchange(port, get('/healthz%00/../v1/admin/connectors'));
        assert.equal(esc.status, 400, esc.head);
        assert.match(JSON.parse(esc.body).detail, /NUL/);
        const esc2 = await rawExchange(port, get('/v1/admin/connectors/abc%00def'));
        assert.equal(esc2.status, 400, esc2.head);
        const bad = await rawExchange(port, get('/v1/admin/connectors/abc%zz'));
        assert.equal(bad.status, 400, bad.head);
        const lit = await rawExchange(port, Buffer.from(get('/healthz\0/x'), 'latin1'));
        assert.ok(lit.status === 400 || (lit.status === 0 && lit.closed), `literal NUL answered ${lit.status}`);
        assert.notEqual(lit.status, 200);
        // The server is still fine.
        assert.equal((await T.c.get('/healthz')).status, 200);
    });

    test('two different Content-Length headers are refused with 400 and the connection closed', async () => {
        const body = '{}';
        const req = `POST /v1/admin/connectors HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${T.c.token}\r\n` +
            `Content-Type: application/json\r\nContent-Length: 2\r\nContent-Length: 40\r\n\r\n${body}`;
        const r = await rawExchange(port, req);
        // libmicrohttpd may refuse the framing itself (400) or let us do it: never a 2xx/422.
        assert.equal(r.status, 400, r.head);
        assert.ok(r.closed, 'the connection stayed open after ambiguous framing');
        const same = `GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`;
        assert.equal((await rawExchange(port, same)).status, 200, 'identical duplicates are harmless');
    });

    test('a JWT signature in non-canonical base64url is 401; the canonical one passes', async () => {
        const tok = hs256(srv.secret, T.id);
        const c = client(srv.url, tok);
        assert.equal((await c.get('/v1/admin/connectors')).status, 200);
        const [h, p, sig] = tok.split('.');
        // HS256: 32 bytes -> 43 chars, the last carries 2 unused bits. Setting them changes
        // the text but not the decoded bytes under a lenient decoder.
        const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
        const last = alphabet.indexOf(sig.at(-1));
        const variants = [
            sig.slice(0, -1) + alphabet[last | 1],
            sig.slice(0, -1) + alphabet[last | 2],
            sig + '=',
            sig + 'A',                                  // 44 chars: one extra character
            sig.replaceAll('-', '+').replaceAll('_', '/'),
        ].filter((v) => v !== sig);
        assert.ok(variants.length >= 3);
        for (const v of variants) {
            const r = await client(srv.url, `${h}.${p}.${v}`).get('/v1/admin/connectors');
            assert.equal(r.status, 401, `signature variant ${v} answered ${r.status}`);
        }
    });
});
