// lake_readers.test.mjs — the independent-reader proof for src/lake: tables written by the C
// library (tests/unit/test_lake.c with IVORY_LAKE_TEST_OUT set, hadoop and sql catalogs) are
// read back with code that shares nothing with ours:
//   - icebird (a JS Iceberg reader) resolves metadata -> manifest list -> manifests -> Parquet
//     and returns rows, compared row for row with the rows the C test put in;
//   - avsc decodes every manifest list and manifest, and the embedded Avro schemas are checked
//     for the field-id / element-id attributes and the header keys Iceberg readers need;
//   - DuckDB reads every data file (parquet_schema field ids, row values);
//   - the sqlite3 CLI reads the sql catalog's tables the way other engines do.
// Expected rows come from rowValue() below, the same formula test_lake.c uses to write them.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { fileURLToPath } from 'node:url';
import avro from 'avsc';
import { icebergRead, icebergMetadata, icebergManifests } from 'icebird';
import { DuckDBInstance } from '@duckdb/node-api';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
let OUT;

// ---- fetch for file:// URLs (icebird and hyparquet only speak fetch) -------------------------
const realFetch = globalThis.fetch;
function fileFetch(url, init = {}) {
    const u = typeof url === 'string' ? url : url.url;
    if (!u.startsWith('file://')) return realFetch(url, init);
    const p = fileURLToPath(u);
    if (!fs.existsSync(p)) return Promise.resolve(new Response('not found', { status: 404 }));
    const size = fs.statSync(p).size;
    const headers = new Headers(init.headers || {});
    if ((init.method || 'GET') === 'HEAD')
        return Promise.resolve(new Response(null, { status: 200, headers: { 'Content-Length': String(size) } }));
    const range = headers.get('Range');
    if (range) {
        const m = /^bytes=(\d+)-(\d*)$/.exec(range);
        const start = Number(m[1]);
        const end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
        const fd = fs.openSync(p, 'r');
        const buf = Buffer.alloc(end - start + 1);
        fs.readSync(fd, buf, 0, buf.length, start);
        fs.closeSync(fd);
        return Promise.resolve(new Response(buf, {
            status: 206, headers: { 'Content-Range': `bytes ${start}-${end}/${size}`, 'Content-Length': String(buf.length) },
        }));
    }
    return Promise.resolve(new Response(fs.readFileSync(p), { status: 200, headers: { 'Content-Length': String(size) } }));
}

// ---- the rows test_lake.c wrote (readers_table) ---------------------------------------------
// rows 0..99 (commit 1), 100..249 (commit 2), column "extra" added, rows 250..299 (commit 3).
const N_ROWS = 300;
const EXTRA_FROM = 250;
function rowValue(i) {
    return {
        id: BigInt(i),
        name: i % 7 === 3 ? null : `name-${i}`,
        score: i % 5 === 0 ? null : i * 1.5,
        flag: i % 2 === 0,
        day: 19000 + (i % 100),                                  // days since epoch
        ts: 1700000000000000n + BigInt(i) * 1000000n,            // µs UTC
        amount: (i * 100 + 25) / 100,                            // decimal(10,2)
        small: i % 11 === 0 ? null : i - 50,
        extra: i >= EXTRA_FROM ? `x${i}` : null,
    };
}

// Normalises whatever a reader returns for one column to a comparable primitive.
function norm(col, v) {
    if (v === null || v === undefined) return null;
    switch (col) {
    case 'id': return BigInt(v);
    case 'day': return v instanceof Date ? Math.round(v.getTime() / 86400000) : Number(v);
    case 'ts': return v instanceof Date ? BigInt(v.getTime()) * 1000n : BigInt(v);
    case 'amount': return Number(v);
    case 'small': return Number(v);
    default: return v;
    }
}
const COLS = ['id', 'name', 'score', 'flag', 'day', 'ts', 'amount', 'small', 'extra'];

function tableDir(kind) { return path.join(OUT, `readers-${kind}`, 'wh', 'db', 'readers'); }

function sqlite(db, q) {
    const r = spawnSync('sqlite3', ['-json', db, q], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`sqlite3: ${r.stderr}`);
    return r.stdout.trim() ? JSON.parse(r.stdout) : [];
}

// The current metadata file, found the way each catalog's other readers find it.
function currentMetadataFile(kind) {
    if (kind === 'hadoop') {
        const v = fs.readFileSync(path.join(tableDir(kind), 'metadata', 'version-hint.text'), 'utf8');
        return `v${v}.metadata.json`;
    }
    const rows = sqlite(path.join(OUT, 'readers-sql', 'catalog.db'),
        "SELECT metadata_location FROM iceberg_tables WHERE catalog_name='default' AND " +
        "table_namespace='db' AND table_name='readers' AND (iceberg_type='TABLE' OR iceberg_type IS NULL)");
    assert.equal(rows.length, 1);
    return path.basename(fileURLToPath(rows[0].metadata_location));
}

before(() => {
    globalThis.fetch = fileFetch;
    if (process.env.IVORY_LAKE_READERS_DIR) {   // tables already written (debugging)
        OUT = process.env.IVORY_LAKE_READERS_DIR;
        return;
    }
    OUT = fs.mkdtempSync(path.join(os.tmpdir(), 'ivory-lake-readers-'));
    const mk = spawnSync('make', ['-s', 'build/unit/test_lake'], { cwd: ROOT, encoding: 'utf8' });
    assert.equal(mk.status, 0, `make build/unit/test_lake failed:\n${mk.stdout}${mk.stderr}`);
    const run = spawnSync(path.join(ROOT, 'build/unit/test_lake'), [], {
        cwd: ROOT, encoding: 'utf8', env: { ...process.env, IVORY_LAKE_TEST_OUT: OUT, ASAN_OPTIONS: 'detect_leaks=0' },
    });
    assert.equal(run.status, 0, `test_lake failed:\n${run.stdout}${run.stderr}`);
});

after(() => {
    globalThis.fetch = realFetch;
    if (OUT && !process.env.IVORY_LAKE_READERS_DIR && !process.env.KEEP_LAKE_OUT) fs.rmSync(OUT, { recursive: true, force: true });
});

for (const kind of ['hadoop', 'sql']) {
    test(`icebird reads the ${kind} table row for row`, async () => {
        const tableUrl = `file://${tableDir(kind)}`;
        const metadataFileName = currentMetadataFile(kind);
        const metadata = await icebergMetadata({ tableUrl, metadataFileName });
        assert.equal(metadata['format-version'], 2);
        assert.equal(metadata['last-sequence-number'], 3);
        assert.equal(metadata['current-schema-id'], 1);
        assert.equal(metadata.snapshots.length, 3);
        assert.equal(metadata.refs.main['snapshot-id'], metadata['current-snapshot-id']);
        const cur = metadata.snapshots.find(s => s['snapshot-id'] === metadata['current-snapshot-id']);
        assert.equal(cur.summary['total-records'], String(N_ROWS));
        assert.equal(cur.summary['ivory.state'], '{"n":3}');
        assert.equal(cur.summary['ivory.run-id'], 'rr-3');

        const manifests = await icebergManifests(metadata);
        assert.equal(manifests.length, 3);
        for (const m of manifests)
            for (const e of m.entries) {
                assert.equal(e.status, 1);
                assert.ok(e.data_file.file_path.startsWith('file:///'));
            }

        const rows = await icebergRead({ tableUrl, metadataFileName });
        assert.equal(rows.length, N_ROWS);
        rows.sort((a, b) => (BigInt(a.id) < BigInt(b.id) ? -1 : 1));
        for (let i = 0; i < N_ROWS; i++) {
            const want = rowValue(i);
            for (const c of COLS)
                assert.deepEqual(norm(c, rows[i][c]), want[c], `row ${i} column ${c}`);
        }
    });

    test(`avsc decodes the ${kind} manifests; every field carries its Iceberg id`, async () => {
        const metaPath = path.join(tableDir(kind), 'metadata', currentMetadataFile(kind));
        // snapshot ids exceed 2^53: keep them as strings
        const md = JSON.parse(fs.readFileSync(metaPath, 'utf8')
            .replace(/("(?:current-snapshot-id|snapshot-id|parent-snapshot-id)":)(-?\d+)/g, '$1"$2"'));
        const cur = md.snapshots.find(s => s['snapshot-id'] === md['current-snapshot-id']);
        const list = await readAvro(fileURLToPath(cur['manifest-list']));
        for (const k of ['snapshot-id', 'parent-snapshot-id', 'sequence-number', 'format-version', 'avro.codec', 'avro.schema'])
            assert.ok(k in list.meta, `manifest list header key ${k}`);
        assert.equal(list.meta['format-version'], '2');
        assert.equal(list.meta['sequence-number'], '3');
        assert.equal(list.meta['snapshot-id'], String(cur['snapshot-id']));
        checkIds(JSON.parse(list.meta['avro.schema']), 'manifest_file');
        assert.equal(list.records.length, 3);
        // newest first, parents copied with their own sequence numbers
        assert.deepEqual(list.records.map(r => Number(r.sequence_number)), [3, 2, 1]);
        assert.deepEqual(list.records.map(r => Number(r.min_sequence_number)), [3, 2, 1]);
        assert.deepEqual(list.records.map(r => Number(r.added_rows_count)), [50, 150, 100]);
        const snapIds = [...md.snapshots].sort((a, b) => b['sequence-number'] - a['sequence-number']).map(s => String(s['snapshot-id']));
        assert.deepEqual(list.records.map(r => String(r.added_snapshot_id)), snapIds);
        let rows = 0;
        for (const r of list.records) {
            const mp = fileURLToPath(r.manifest_path);
            assert.equal(fs.statSync(mp).size, Number(r.manifest_length));
            const m = await readAvro(mp);
            for (const k of ['schema', 'schema-id', 'partition-spec', 'partition-spec-id', 'format-version', 'content'])
                assert.ok(k in m.meta, `manifest header key ${k}`);
            assert.equal(m.meta.content, 'data');
            assert.equal(m.meta['partition-spec'], '[]');
            const tschema = JSON.parse(m.meta.schema);
            assert.equal(tschema.type, 'struct');
            checkIds(JSON.parse(m.meta['avro.schema']), 'manifest_entry');
            for (const e of m.records) {
                assert.equal(e.status, 1);
                assert.equal(String(e.snapshot_id), String(r.added_snapshot_id));
                assert.equal(e.sequence_number, null);
                assert.equal(e.file_sequence_number, null);
                const df = e.data_file;
                assert.equal(df.content, 0);
                assert.equal(df.file_format, 'PARQUET');
                assert.equal(fs.statSync(fileURLToPath(df.file_path)).size, Number(df.file_size_in_bytes));
                rows += Number(df.record_count);
                const ids = tschema.fields.map(f => f.id);
                const vc = new Map(df.value_counts.map(kv => [kv.key, Number(kv.value)]));
                for (const id of ids) assert.equal(vc.get(id), Number(df.record_count), `value_count of field ${id}`);
                const nulls = new Map(df.null_value_counts.map(kv => [kv.key, Number(kv.value)]));
                assert.equal(nulls.get(1), 0);
                assert.ok(nulls.get(2) > 0);        // "name" has nulls
                const lower = new Map(df.lower_bounds.map(kv => [kv.key, kv.value]));
                const upper = new Map(df.upper_bounds.map(kv => [kv.key, kv.value]));
                // id (field 1) bounds are 8-byte little-endian longs
                const lo = lower.get(1).readBigInt64LE(0), hi = upper.get(1).readBigInt64LE(0);
                assert.equal(hi - lo + 1n, BigInt(df.record_count));
                assert.ok(df.split_offsets.length >= 1 && Number(df.split_offsets[0]) === 4);
                assert.equal(df.sort_order_id, 0);
                const nan = df.nan_value_counts.map(kv => kv.key);
                assert.deepEqual(nan, [3]);         // only the double column
            }
        }
        assert.equal(rows, N_ROWS);
    });

    test(`DuckDB reads the ${kind} data files with the Iceberg field ids`, async () => {
        const dataDir = path.join(tableDir(kind), 'data');
        const files = fs.readdirSync(dataDir).filter(f => f.endsWith('.parquet')).map(f => path.join(dataDir, f));
        assert.equal(files.length, 3);
        const inst = await DuckDBInstance.create(':memory:');
        const conn = await inst.connect();
        for (const f of files) {
            const schema = (await conn.runAndReadAll(`SELECT name, field_id FROM parquet_schema('${f}')`)).getRowObjectsJson();
            const byName = Object.fromEntries(schema.filter(r => r.name !== 'table' && r.field_id !== null).map(r => [r.name, Number(r.field_id)]));
            const expectIds = { id: 1, name: 2, score: 3, flag: 4, day: 5, ts: 6, amount: 7, small: 8 };
            for (const [n, id] of Object.entries(expectIds)) assert.equal(byName[n], id, `${path.basename(f)} field ${n}`);
            if ('extra' in byName) assert.equal(byName.extra, 9);
        }
        const list = files.map(f => `'${f}'`).join(',');
        const res = await conn.runAndReadAll(
            `SELECT id, name, score, flag, epoch_ms(day)::BIGINT / 86400000 AS day, epoch_us(ts) AS ts, ` +
            `amount::DOUBLE AS amount, small FROM read_parquet([${list}], union_by_name=true) ORDER BY id`);
        const rows = res.getRowObjects();
        assert.equal(rows.length, N_ROWS);
        for (let i = 0; i < N_ROWS; i++) {
            const want = rowValue(i);
            for (const c of ['id', 'name', 'score', 'flag', 'day', 'ts', 'amount', 'small'])
                assert.deepEqual(norm(c, rows[i][c]), want[c], `duckdb row ${i} column ${c}`);
        }
    });
}

test('the sql catalog rows are what other Iceberg engines expect', () => {
    const db = path.join(OUT, 'readers-sql', 'catalog.db');
    const cols = sqlite(db, 'PRAGMA table_info(iceberg_tables)').map(c => c.name);
    assert.deepEqual(cols, ['catalog_name', 'table_namespace', 'table_name', 'metadata_location',
        'previous_metadata_location', 'iceberg_type']);
    const ncols = sqlite(db, 'PRAGMA table_info(iceberg_namespace_properties)').map(c => c.name);
    assert.deepEqual(ncols, ['catalog_name', 'namespace', 'property_key', 'property_value']);
    const ns = sqlite(db, "SELECT * FROM iceberg_namespace_properties WHERE namespace='db'");
    assert.deepEqual(ns, [{ catalog_name: 'default', namespace: 'db', property_key: 'exists', property_value: 'true' }]);
    const t = sqlite(db, "SELECT * FROM iceberg_tables WHERE table_name='readers'")[0];
    assert.match(path.basename(t.metadata_location), /^00004-[0-9a-f-]{36}\.metadata\.json$/);
    assert.match(path.basename(t.previous_metadata_location), /^00003-[0-9a-f-]{36}\.metadata\.json$/);
    assert.equal(t.iceberg_type, 'TABLE');
});

// ---- Avro helpers (avsc) ---------------------------------------------------------------------
// Iceberg ids (snapshot ids) exceed 2^53: decode Avro longs as BigInt.
const bigLong = avro.types.LongType.__with({
    fromBuffer: (buf) => buf.readBigInt64LE(),
    toBuffer: (n) => { const b = Buffer.alloc(8); b.writeBigInt64LE(BigInt(n)); return b; },
    fromJSON: BigInt,
    toJSON: Number,
    isValid: (n) => typeof n === 'bigint',
    compare: (a, b) => (a === b ? 0 : a < b ? -1 : 1),
});

function readAvro(p) {
    return new Promise((resolve, reject) => {
        const records = [];
        let meta = {};
        avro.createFileDecoder(p, { codecs: { null: (b, cb) => cb(null, b), deflate: zlib.inflateRaw }, parseHook: (s) => avro.Type.forSchema(s, { wrapUnions: false, registry: { long: bigLong } }) })
            .on('metadata', (type, codec, header) => {
                for (const [k, v] of Object.entries(header.meta)) meta[k] = v.toString('utf8');
            })
            .on('data', r => records.push(r))
            .on('end', () => resolve({ meta, records }))
            .on('error', reject);
    });
}

// Every record field carries field-id; arrays carry element-id, except Iceberg's int-keyed map
// form (array of k/v records, logicalType map) whose key/value fields carry the ids.
function checkIds(schema, where) {
    assert.equal(schema.type, 'record', where);
    for (const f of schema.fields) {
        assert.equal(typeof f['field-id'], 'number', `${where}.${f.name} has field-id`);
        let t = f.type;
        if (Array.isArray(t)) {
            assert.equal(t[0], 'null', `${where}.${f.name}: null first in union`);
            assert.ok('default' in f && f.default === null, `${where}.${f.name}: default null`);
            t = t[1];
        }
        if (t && t.type === 'record') checkIds(t, `${where}.${f.name}`);
        if (t && t.type === 'array') {
            if (t.logicalType === 'map') {
                assert.equal(t.items.type, 'record');
                assert.match(t.items.name, /^k\d+_v\d+$/);
                checkIds(t.items, `${where}.${f.name}`);
            } else {
                assert.equal(typeof t['element-id'], 'number', `${where}.${f.name} has element-id`);
                if (t.items.type === 'record') checkIds(t.items, `${where}.${f.name}[]`);
            }
        }
    }
}
