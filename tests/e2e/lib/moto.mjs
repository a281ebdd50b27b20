// moto.mjs — real protocol peers on loopback for the lakehouse suites:
//   * startMoto(): `python3.11 -m moto.server` (S3 and Glue in one server) on a free 127.0.0.1
//     port. Missing Python or moto is a test FAILURE with a message saying what to install —
//     never a skip. Stopped by stop() (and on process exit).
//   * s3 helpers that talk to moto unsigned (moto's default accepts them): bucket creation,
//     object listing, GET; and an s3:// -> http fetch mapping for icebird (iceberg_read.mjs).
//   * startFaultProxy(): an HTTP proxy in front of a peer that injects failures (status codes
//     for the first N requests matching a rule) and records every request line, for the fault
//     cases (S3 500, commit 409 storm, 503, wrong credentials).
import { spawn } from 'node:child_process';
import http from 'node:http';
import net from 'node:net';

export const MOTO_PYTHON = process.env.IVORY_MOTO_PYTHON ?? 'python3.11';

export function freePort() {
    return new Promise((resolve, reject) => {
        const srv = net.createServer();
        srv.listen(0, '127.0.0.1', () => {
            const { port } = srv.address();
            srv.close(() => resolve(port));
        });
        srv.on('error', reject);
    });
}

const children = new Set();
process.on('exit', () => { for (const c of children) try { c.kill('SIGKILL'); } catch { /* gone */ } });

export async function startMoto() {
    const port = await freePort();
    let out = '';
    const child = spawn(MOTO_PYTHON, ['-m', 'moto.server', '-H', '127.0.0.1', '-p', String(port)], {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, AWS_DEFAULT_REGION: 'us-east-1' },
    });
    children.add(child);
    let exited = null;
    child.on('error', (err) => { exited = `cannot start ${MOTO_PYTHON}: ${err.message}`; });
    child.on('exit', (code) => { exited ??= `exited with status ${code}`; });
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { out += d; });
    const endpoint = `http://127.0.0.1:${port}`;
    const deadline = Date.now() + 20000;
    for (;;) {
        if (exited)
            throw new Error(`moto is required for the lakehouse tests (S3 and Glue peer): ` +
                `'${MOTO_PYTHON} -m moto.server' ${exited}. Install it with ` +
                `'${MOTO_PYTHON} -m pip install "moto[server]==5.2.1"' or set IVORY_MOTO_PYTHON.\n${out.slice(-2000)}`);
        try {
            const r = await fetch(`${endpoint}/moto-api/`);
            if (r.status < 500) break;
        } catch { /* not up yet */ }
        if (Date.now() > deadline) throw new Error(`moto did not answer on ${endpoint} within 20 s:\n${out.slice(-2000)}`);
        await new Promise((r) => setTimeout(r, 100));
    }
    return {
        endpoint,
        port,
        log: () => out,
        async stop() {
            children.delete(child);
            if (child.exitCode !== null) return;
            const done = new Promise((r) => child.on('exit', r));
            child.kill('SIGTERM');
            const t = setTimeout(() => child.kill('SIGKILL'), 3000);   // never wait forever
            await done;
            clearTimeout(t);
        },
    };
}

// moto checks ACLs for anonymous requests but does not verify signatures: any SigV4-shaped
// header makes a request authenticated.
export const MOTO_AUTH = { Authorization: 'AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=0' };

export async function createBucket(endpoint, bucket) {
    const r = await fetch(`${endpoint}/${bucket}`, { method: 'PUT', headers: MOTO_AUTH });
    if (r.status !== 200) throw new Error(`create bucket ${bucket}: HTTP ${r.status} ${await r.text()}`);
}

// Keys under a prefix (unsigned ListObjectsV2).
export async function listKeys(endpoint, bucket, prefix = '') {
    const keys = [];
    let token = null;
    do {
        const q = new URLSearchParams({ 'list-type': '2', prefix });
        if (token) q.set('continuation-token', token);
        const body = await (await fetch(`${endpoint}/${bucket}?${q}`, { headers: MOTO_AUTH })).text();
        for (const m of body.matchAll(/<Key>([^<]*)<\/Key>/g)) keys.push(m[1]);
        token = /<NextContinuationToken>([^<]*)</.exec(body)?.[1] ?? null;
    } while (token);
    return keys;
}

// A Glue call against moto (JSON 1.1; moto accepts it unsigned with a credential scope header).
export async function glue(endpoint, op, body) {
    const r = await fetch(endpoint, {
        method: 'POST',
        headers: {
            'Content-Type': 'application/x-amz-json-1.1',
            'X-Amz-Target': `AWSGlue.${op}`,
            Authorization: 'AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/glue/aws4_request, SignedHeaders=host, Signature=x',
        },
        body: JSON.stringify(body),
    });
    return { status: r.status, json: await r.json().catch(() => null) };
}

// ---- fault-injecting proxy --------------------------------------------------------------------
// rules: [{ method?, match?: RegExp on the path+query, status, times = Infinity, body?, when?: (req) => bool }]
export async function startFaultProxy(target, rules = []) {
    const t = new URL(target);
    const seen = [];
    const srv = http.createServer((req, res) => {
        const chunks = [];
        req.on('data', (c) => chunks.push(c));
        req.on('end', () => {
            const body = Buffer.concat(chunks);
            seen.push({ method: req.method, url: req.url, headers: req.headers, size: body.length });
            for (const r of rules) {
                if (r.method && r.method !== req.method) continue;
                if (r.match && !r.match.test(req.url)) continue;
                if (r.when && !r.when(req, body)) continue;
                if ((r.times ?? Infinity) <= 0) continue;
                r.times = (r.times ?? Infinity) - 1;
                r.hits = (r.hits ?? 0) + 1;
                res.writeHead(r.status, { 'Content-Type': r.contentType ?? 'application/xml' });
                res.end(r.body ?? `<?xml version="1.0"?><Error><Code>Injected${r.status}</Code><Message>injected by the test proxy</Message></Error>`);
                return;
            }
            const up = http.request({
                host: t.hostname, port: t.port, method: req.method, path: req.url,
                headers: req.headers,
            }, (ur) => {
                res.writeHead(ur.statusCode, ur.headers);
                ur.pipe(res);
            });
            up.on('error', (err) => { res.writeHead(502); res.end(String(err)); });
            up.end(body);
        });
    });
    await new Promise((r) => srv.listen(0, '127.0.0.1', r));
    return {
        endpoint: `http://127.0.0.1:${srv.address().port}`,
        rules,
        seen,
        close: () => new Promise((r) => { srv.closeAllConnections?.(); srv.close(r); }),
    };
}
