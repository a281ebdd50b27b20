// iceberg_read.mjs — read an Iceberg table written by ivory with two independent readers:
//   * icebird (pure-JS Iceberg: metadata JSON -> Avro manifest list -> manifests -> Parquet via
//     hyparquet), through a fetch() shim that serves file:// URLs and absolute paths from disk
//     (HEAD and Range requests, which is all hyparquet and icebird need);
//   * DuckDB (@duckdb/node-api) reading the data files that the current snapshot's manifests
//     list (the DuckDB iceberg extension needs a download, so the file list comes from icebird's
//     manifest reader and DuckDB reads the Parquet itself).
// Also: the snapshot list with summaries, the sql catalog's metadata pointer, and a writer
// helper that runs `ivory target-iceberg`.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { icebergManifests, icebergMetadata, icebergRead } from 'icebird';
import { DuckDBInstance } from '@duckdb/node-api';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const IVORY = path.join(REPO, 'ivory');

// ---- fetch shim for local files -------------------------------------------------------------
const realFetch = globalThis.fetch;
function localPath(url) {
    if (typeof url !== 'string') url = String(url?.url ?? url);
    if (url.startsWith('file://')) return fileURLToPath(url);
    if (url.startsWith('/')) return url;
    return null;
}
// S3: icebird turns s3://bucket/key into https://bucket.s3.amazonaws.com/key; with an endpoint
// set (moto on loopback) such URLs are served from {endpoint}/bucket/key instead (unsigned).
let s3Endpoint = null;
export function useS3Endpoint(endpoint) { s3Endpoint = endpoint; }
function s3Url(url) {
    if (!s3Endpoint) return null;
    let m = /^https:\/\/([^./]+(?:\.[^./]+)*?)\.s3\.amazonaws\.com(\/.*)$/.exec(url);
    if (m) return `${s3Endpoint}/${m[1]}${m[2]}`;
    m = /^s3a?:\/\/(.*)$/.exec(url);
    return m ? `${s3Endpoint}/${m[1]}` : null;
}
globalThis.fetch = async (url, init = {}) => {
    if (typeof url !== 'string') url = String(url?.url ?? url);
    const s3 = s3Url(url);
    if (s3) {
        // moto treats a request without Authorization as anonymous (ACL-checked, 403); it does
        // not verify signatures, so a well-formed SigV4 header with a test key is enough.
        const headers = new Headers(init.headers ?? {});
        headers.set('authorization', 'AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=0');
        return realFetch(s3, { ...init, headers });
    }
    const p = localPath(url);
    if (p === null) return realFetch(url, init);
    let st;
    try { st = fs.statSync(p); } catch { return new Response(null, { status: 404, statusText: 'Not Found' }); }
    const headers = new Headers({ 'content-length': String(st.size) });
    if ((init.method ?? 'GET').toUpperCase() === 'HEAD') return new Response(null, { status: 200, headers });
    const range = new Headers(init.headers ?? {}).get('range');
    const data = fs.readFileSync(p);
    if (range) {
        const m = /^bytes=(\d+)-(\d*)$/.exec(range);
        if (!m) return new Response(null, { status: 416 });
        const a = Number(m[1]);
        const b = m[2] === '' ? data.length - 1 : Math.min(Number(m[2]), data.length - 1);
        const slice = data.subarray(a, b + 1);
        return new Response(slice, { status: 206, headers: { 'content-length': String(slice.length) } });
    }
    return new Response(data, { status: 200, headers });
};

// ---- locating tables -------------------------------------------------------------------------
export const tableDir = (warehouseDir, ns, table) => path.join(warehouseDir, ns, table);

// The sql catalog's current metadata file for a table (Iceberg SQL catalog schema).
export function sqlMetadataLocation(dbPath, ns, table) {
    const q = (s) => `'${String(s).replaceAll("'", "''")}'`;
    const r = spawnSync('sqlite3', ['-json', '-cmd', '.timeout 5000', dbPath,
        `SELECT metadata_location FROM iceberg_tables WHERE table_namespace = ${q(ns)} AND table_name = ${q(table)}`],
    { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`sqlite3: ${r.stderr}`);
    const rows = r.stdout.trim() ? JSON.parse(r.stdout) : [];
    return rows.length ? rows[0].metadata_location : null;
}

// {tableUrl, metadataFileName} for icebird, from a hadoop table dir or a sql catalog pointer.
export function locate({ dir, metadataLocation }) {
    if (metadataLocation) {
        const p = localPath(metadataLocation) ?? metadataLocation;
        return { tableUrl: path.dirname(path.dirname(p)), metadataFileName: path.basename(p) };
    }
    return { tableUrl: dir };
}

export async function metadata(loc) {
    return icebergMetadata(locate(loc));
}

// Snapshots of the table, oldest first: [{id, parent, operation, summary}].
export async function snapshots(loc) {
    const md = await metadata(loc);
    return (md.snapshots ?? []).map((s) => ({
        id: BigInt(s['snapshot-id']),
        parent: s['parent-snapshot-id'] === undefined ? null : BigInt(s['parent-snapshot-id']),
        seq: s['sequence-number'],
        summary: s.summary ?? {},
    }));
}

// Rows of the current snapshot read by icebird (array of plain objects).
export async function readIcebird(loc) {
    const l = locate(loc);
    const md = await icebergMetadata(l);
    const cur = md['current-snapshot-id'];
    if (cur === undefined || cur === null || cur === -1) return [];
    const manifests = await icebergManifests(md);
    const hasData = manifests.some((m) => m.entries.some((e) => e.status !== 2 && (e.data_file.content ?? 0) === 0));
    if (!hasData) return [];
    return icebergRead({ ...l, metadata: md });
}

// Data files (local paths) of the current snapshot, from the manifests.
export async function dataFiles(loc) {
    const md = await metadata(loc);
    const cur = md['current-snapshot-id'];
    if (cur === undefined || cur === null || cur === -1) return [];
    const manifests = await icebergManifests(md);
    const files = [];
    for (const m of manifests)
        for (const e of m.entries)
            if (e.status !== 2 && (e.data_file.content ?? 0) === 0) files.push(localPath(e.data_file.file_path));
    return files;
}

let duck;
async function duckCon() {
    duck ??= await DuckDBInstance.create(':memory:');
    return duck.connect();
}

// Rows of the current snapshot read by DuckDB from the manifest's data files. Timestamps come
// back as epoch microseconds (BigInt), dates as days since 1970 (number), BIGINT as BigInt.
export async function readDuckdb(loc) {
    const files = await dataFiles(loc);
    if (files.length === 0) return [];
    const con = await duckCon();
    const list = '[' + files.map((f) => `'${f.replaceAll("'", "''")}'`).join(',') + ']';
    const desc = (await con.runAndReadAll(`DESCRIBE SELECT * FROM read_parquet(${list}, union_by_name=true)`)).getRowObjectsJS();
    const exprs = desc.map((d) => {
        const c = `"${d.column_name.replaceAll('"', '""')}"`;
        const t = String(d.column_type);
        if (t === 'DATE') return `CAST(${c} - DATE '1970-01-01' AS INTEGER) AS ${c}`;
        if (t.startsWith('TIMESTAMP')) return `epoch_us(${c}) AS ${c}`;
        return c;
    });
    const r = await con.runAndReadAll(`SELECT ${exprs.join(', ')} FROM read_parquet(${list}, union_by_name=true)`);
    return { columns: desc.map((d) => ({ name: d.column_name, type: String(d.column_type) })), rows: r.getRowObjectsJS() };
}

// ---- running the target ----------------------------------------------------------------------
// Runs `ivory target-iceberg --config <cfg>` with `input` on stdin; returns {status, stdout, stderr}.
export function runTarget(config, input, { dir, args = [], timeout = 120000 } = {}) {
    const cfgPath = path.join(dir, `target-${process.hrtime.bigint()}.json`);
    fs.writeFileSync(cfgPath, JSON.stringify(config));
    const r = spawnSync(IVORY, ['target-iceberg', '--config', cfgPath, ...args], {
        input, encoding: 'utf8', timeout, maxBuffer: 1 << 28,
    });
    return { status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

// Starts the target asynchronously; returns the child (stdin writable).
export function spawnTarget(config, { dir, args = [] } = {}) {
    const cfgPath = path.join(dir, `target-${process.hrtime.bigint()}.json`);
    fs.writeFileSync(cfgPath, JSON.stringify(config));
    return spawn(IVORY, ['target-iceberg', '--config', cfgPath, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
}

// A stream schema with one column of each type of the SCHEMA -> Iceberg mapping (docs/singer.md).
export const ALL_TYPES_PROPS = {
    id: { type: 'integer' },
    amount: { type: ['null', 'number'] },
    ok: { type: ['null', 'boolean'] },
    name: { type: ['null', 'string'] },
    ts: { type: ['null', 'string'], format: 'date-time' },
    day: { type: ['null', 'string'], format: 'date' },
    obj: { type: ['null', 'object'] },
    arr: { type: ['null', 'array'] },
};

// Singer message builders.
export const schemaMsg = (stream, properties, keys = []) =>
    JSON.stringify({ type: 'SCHEMA', stream, schema: { type: 'object', properties }, key_properties: keys });
export const recordMsg = (stream, record) => JSON.stringify({ type: 'RECORD', stream, record });
export const stateMsg = (value) => JSON.stringify({ type: 'STATE', value });
export const lines = (...ls) => ls.flat().join('\n') + '\n';

// Temp dirs are removed when the test process exits (IVORY_KEEP_TMP=1 keeps them for a look).
const made = [];
process.on('exit', () => {
    if (process.env.IVORY_KEEP_TMP) return;
    for (const d of made) fs.rmSync(d, { recursive: true, force: true });
});
export function tempDir(prefix = 'ivory-target-') {
    const d = fs.mkdtempSync(path.join(process.env.TMPDIR ?? '/tmp', prefix));
    made.push(d);
    return d;
}
