// adversarial_conn.test.mjs — issue 7, point 1: anonymous clients must not be able to take the
// API offline with idle, slow or half-sent connections. A server with a short header deadline
// (8 s) and body deadline (5 s) gets 1,000 idle sockets and 100 slowloris sockets from many
// loopback source addresses; meanwhile /healthz, the authenticated connector list and a write
// must keep answering quickly, and after the deadlines the slow sockets must have been cut by
// the server (a total deadline, not an idle timeout: slowloris sends a byte every 500 ms).
// The per-IP limit refuses one address's excess connections without affecting others.
// Bounded: ~12 s, loopback only.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { idle, slowBody, slowloris, sleep, timed } from './lib/flood.mjs';
import { notBuilt, startServer } from './lib/server.mjs';
import { newTenant, register } from './lib/tenant.mjs';
import { fetchRetry } from './lib/http.mjs';

const HEADER_S = 8;
const BODY_S = 5;

describe('adversarial connections (issue 7, point 1)', { skip: notBuilt('serve') }, () => {
    let srv, T, port;
    before(async () => {
        srv = await startServer({
            env: {
                IVORY_HTTP_HEADER_TIMEOUT: String(HEADER_S), IVORY_HTTP_BODY_TIMEOUT: String(BODY_S),
                IVORY_HTTP_PER_IP_LIMIT: '128',
            },
        });
        port = Number(new URL(srv.url).port);
        T = await newTenant(srv);
        await register(T.c);
    });
    after(async () => { if (srv) await srv.stop(); });

    test('1,000 idle + 100 slowloris + 20 slow bodies: the API keeps answering, then the deadlines cut them', async () => {
        const t0 = Date.now();
        const I = await idle(port, 1000, { perIp: 100 });
        const S = await slowloris(port, 100, { everyMs: 500, perIp: 50 });
        const B = await slowBody(port, 20, `/v1/admin/tenants/${T.id}/catalog`, { everyMs: 500, perIp: 20,
            headers: `Authorization: Bearer ${T.c.token}\r\n` });
        try {
            assert.equal(I.errors() + S.errors() + B.errors(), 0, 'some flood sockets could not connect');
            await sleep(300);
            assert.ok(I.open() >= 990, `only ${I.open()} idle sockets stayed open`);
            const lat = [];
            for (let i = 0; i < 10; i++) {
                const h = await timed(() => fetchRetry(`${srv.url}/healthz`));
                assert.equal(h.r.status, 200);
                const l = await timed(() => T.c.get('/v1/admin/connectors'));
                assert.equal(l.r.status, 200);
                lat.push(h.ms, l.ms);
            }
            const w = await timed(() => register(T.c));
            assert.ok(w.r.id, 'a write during the flood failed');
            lat.push(w.ms);
            const elapsed = (Date.now() - t0) / 1000;
            assert.ok(elapsed < HEADER_S, `the probes took until ${elapsed}s, past the header deadline`);
            assert.ok(Math.max(...lat) < 3000, `slowest answer ${Math.max(...lat).toFixed(0)} ms`);
            // Still before the deadlines: the flood is really open while we probed.
            assert.ok(S.open() >= 95, `slowloris sockets closed early: ${S.open()} open`);

            // Past the deadlines (counted from each socket's open, plus the reaper tick and
            // slack for a loaded machine), the server has cut them all.
            const lastOpen = Math.max(...[...I.socks, ...S.socks, ...B.socks].map((x) => x.state.openedAt));
            const end = lastOpen + (HEADER_S + 4) * 1000;
            while (Date.now() < end && I.open() + S.open() + B.open() > 0) await sleep(200);
            assert.equal(S.open(), 0, `${S.open()} slowloris sockets outlived the header deadline`);
            assert.equal(B.open(), 0, `${B.open()} slow-body sockets outlived the body deadline`);
            assert.equal(I.open(), 0, `${I.open()} idle sockets outlived the header deadline`);
            const cutAt = S.socks.map((s) => (s.state.closedAt - s.state.openedAt) / 1000);
            assert.ok(Math.min(...cutAt) >= HEADER_S - 0.5, `a slowloris socket was cut after ${Math.min(...cutAt)} s`);
            assert.equal((await fetchRetry(`${srv.url}/healthz`)).status, 200);
        } finally {
            I.close(); S.close(); B.close();
        }
    });

    test('the per-IP limit refuses one address\'s excess connections; other addresses still get in', async () => {
        const F = await idle(port, 160, { perIp: 1000 });   // all from 127.1.0.2
        try {
            await sleep(300);
            assert.ok(F.open() <= 128, `${F.open()} connections from one address stayed open (limit 128)`);
            assert.ok(F.open() >= 100, `only ${F.open()} connections stayed open`);
            const h = await fetchRetry(`${srv.url}/healthz`);
            assert.equal(h.status, 200);
            assert.equal((await T.c.get('/v1/admin/connectors')).status, 200);
        } finally {
            F.close();
        }
    });
});
