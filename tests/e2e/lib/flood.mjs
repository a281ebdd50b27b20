// flood.mjs — hostile connection patterns for the connection tests and bench/api/conn_flood.mjs:
// idle sockets (connect, send nothing), slowloris (a request line, then one header byte every
// `everyMs`, never finishing), slow bodies (complete headers, then the body trickled). Sockets
// are spread over loopback source addresses 127.0.<net>.1..N (Linux routes all of 127/8 to lo),
// `perIp` per address, the way a botnet would come from many hosts; the per-IP limit is
// exercised separately. Every helper returns a handle whose close() destroys what it opened.
import net from 'node:net';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function openOne(port, localAddress) {
    return new Promise((resolve) => {
        const s = net.connect({ host: '127.0.0.1', port, localAddress });
        s.state = { closedByServer: false, openedAt: Date.now(), closedAt: 0, error: null };
        s.on('connect', () => resolve(s));
        s.on('error', (e) => { s.state.error = e.code; resolve(s); });
        s.on('end', () => { s.state.closedByServer = true; s.state.closedAt ||= Date.now(); });
        s.on('close', () => { s.state.closedByServer = true; s.state.closedAt ||= Date.now(); });
        s.on('data', () => {});
        s.setNoDelay(true);
    });
}

// Opens n sockets in batches (bounded concurrency keeps the accept queue sane).
async function openMany(port, n, { net: netNo = 1, perIp = 100, batch = 200 } = {}) {
    const socks = [];
    for (let i = 0; i < n; i += batch) {
        const part = [];
        for (let j = i; j < Math.min(n, i + batch); j++) {
            const host = 1 + Math.floor(j / perIp);
            part.push(openOne(port, `127.${netNo}.${Math.floor(host / 250)}.${1 + (host % 250)}`));
        }
        socks.push(...(await Promise.all(part)));
    }
    return socks;
}

function handle(socks, timers = []) {
    return {
        socks,
        open: () => socks.filter((s) => !s.state.closedByServer && !s.state.error).length,
        closedByServer: () => socks.filter((s) => s.state.closedByServer).length,
        errors: () => socks.filter((s) => s.state.error).length,
        close() { for (const t of timers) clearInterval(t); for (const s of socks) s.destroy(); },
    };
}

export async function idle(port, n, opts = {}) {
    return handle(await openMany(port, n, { net: 1, ...opts }));
}

export async function slowloris(port, n, { everyMs = 1000, ...opts } = {}) {
    const socks = await openMany(port, n, { net: 2, ...opts });
    for (const s of socks) if (!s.state.error) s.write('GET /healthz HTTP/1.1\r\nHost: x\r\nX-a: ');
    const t = setInterval(() => { for (const s of socks) if (!s.state.closedByServer && !s.state.error) s.write('a'); }, everyMs);
    return handle(socks, [t]);
}

export async function slowBody(port, n, path, { everyMs = 500, headers = '', ...opts } = {}) {
    const socks = await openMany(port, n, { net: 3, ...opts });
    for (const s of socks)
        if (!s.state.error) s.write(`POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n${headers}Content-Length: 100000\r\n\r\n{`);
    const t = setInterval(() => { for (const s of socks) if (!s.state.closedByServer && !s.state.error) s.write(' '); }, everyMs);
    return handle(socks, [t]);
}

// Latency of one request (fresh connection each time, the worst case for a flooded server).
export async function timed(fn) {
    const t0 = process.hrtime.bigint();
    const r = await fn();
    return { r, ms: Number(process.hrtime.bigint() - t0) / 1e6 };
}

export function percentile(xs, p) {
    const s = [...xs].sort((a, b) => a - b);
    return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)];
}

export { sleep };
