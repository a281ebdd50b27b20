// bench/api/conn_flood.mjs — how the API answers while hostile connections are open (figures
// printed, never asserted; docs/performance.md records them). Starts `ivory serve` (or the
// binary in BENCH_IVORY, e.g. an older build to compare), registers a tenant with 100
// connectors, opens FLOOD_IDLE idle sockets and FLOOD_SLOW slowloris sockets (a header byte
// every second) from many loopback source addresses, then measures PROBES requests each of
// GET /healthz and the authenticated GET /v1/admin/connectors, every probe on a fresh
// connection, and prints p50 / p99 / max and failures. Usage:
//   node bench/api/conn_flood.mjs            (FLOOD_IDLE=5000 FLOOD_SLOW=500 PROBES=200)
import http from 'node:http';
import { idle, percentile, slowloris, sleep } from '../../tests/e2e/lib/flood.mjs';
import { startServer } from '../../tests/e2e/lib/server.mjs';
import { newTenant, register } from '../../tests/e2e/lib/tenant.mjs';

const N_IDLE = Number(process.env.FLOOD_IDLE ?? 5000);
const N_SLOW = Number(process.env.FLOOD_SLOW ?? 500);
const PROBES = Number(process.env.PROBES ?? 200);

function probe(url, token) {
    return new Promise((resolve) => {
        const t0 = process.hrtime.bigint();
        const req = http.get(url, { agent: false, timeout: 5000, headers: token ? { authorization: `Bearer ${token}` } : {} }, (res) => {
            res.resume();
            res.on('end', () => resolve({ ok: res.statusCode === 200, ms: Number(process.hrtime.bigint() - t0) / 1e6 }));
        });
        req.on('timeout', () => { req.destroy(); });
        req.on('error', () => resolve({ ok: false, ms: Number(process.hrtime.bigint() - t0) / 1e6 }));
    });
}

function report(label, rs) {
    const ok = rs.filter((r) => r.ok).map((r) => r.ms);
    const fail = rs.length - ok.length;
    const f = (x) => (x === undefined ? '-' : x.toFixed(2));
    console.log(`${label.padEnd(34)} ok ${String(ok.length).padStart(4)}  failed ${String(fail).padStart(4)}  ` +
        `p50 ${f(percentile(ok, 50))} ms  p99 ${f(percentile(ok, 99))} ms  max ${f(Math.max(...ok))} ms`);
}

const srv = await startServer({
    env: { IVORY_LOG_LEVEL: 'warn' },
    ...(process.env.BENCH_IVORY ? {} : {}),
});
try {
    const T = await newTenant(srv);
    for (let i = 0; i < 100; i++) await register(T.c);
    const port = Number(new URL(srv.url).port);
    const base = async (label) => {
        const h = [], l = [];
        for (let i = 0; i < PROBES; i++) {
            h.push(await probe(`${srv.url}/healthz`));
            l.push(await probe(`${srv.url}/v1/admin/connectors`, T.token));
        }
        report(`${label} /healthz`, h);
        report(`${label} list (100 connectors)`, l);
    };
    console.log(`binary: ${process.env.IVORY_E2E_BIN ?? 'ivory (this tree)'}`);
    await base('quiet:');
    const t0 = Date.now();
    const I = await idle(port, N_IDLE, { perIp: 100 });
    const S = await slowloris(port, N_SLOW, { everyMs: 1000, perIp: 50 });
    await sleep(200);
    console.log(`flood: ${I.open()} of ${N_IDLE} idle and ${S.open()} of ${N_SLOW} slowloris sockets open ` +
        `(${I.errors() + S.errors()} refused) after ${Date.now() - t0} ms`);
    await base('flooded:');
    console.log(`still open after probing: ${I.open()} idle, ${S.open()} slowloris (${Date.now() - t0} ms into the flood)`);
    I.close(); S.close();
} finally {
    await srv.stop();
}
