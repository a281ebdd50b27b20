// target.test.mjs — `ivory target-iceberg` (docs/runner.md, docs/singer.md) end to end: Singer input on stdin,
// tables read back row by row with icebird AND DuckDB and compared with the input; committed
// STATE lines on stdout compared with the snapshot summaries; bad input leaves the table at its
// last good snapshot.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import {
    ALL_TYPES_PROPS, IVORY, lines, readDuckdb, readIcebird, recordMsg, runTarget, schemaMsg, snapshots,
    sqlMetadataLocation, stateMsg, tableDir, tempDir,
} from './lib/iceberg_read.mjs';

const built = fs.existsSync(IVORY);
const skip = built ? false : 'ivory not built';

const PROPS = ALL_TYPES_PROPS;

const DAY_MS = 86400000;
const big = 'x'.repeat(1 << 20);
const ROWS = [
    { id: 1, amount: 12.5, ok: true, name: 'alice', ts: '2024-02-29T12:34:56.789Z', day: '2024-02-29', obj: { a: 1, b: [true, null] }, arr: [1, 'two', { three: 3 }] },
    { id: 2, amount: null, ok: null, name: null, ts: null, day: null, obj: null, arr: null },
    { id: 3 },   // every optional key missing -> null
    { id: 4, name: '', arr: [], obj: {} },
    { id: 5, name: 'üñíçødé 日本語 🎉 "quoted" \\ back\nslash\ttab', amount: -0.000001 },
    { id: -9223372036854775807n, amount: 1.7976931348623157e308, ok: false, ts: '1969-12-31T23:59:59Z', day: '1900-01-01' },
    { id: 9223372036854775807n, ts: '2024-06-01T10:00:00+02:00', day: '2262-04-11' },
    { id: 8, name: big },
];

// JSON with BigInt support (the input must carry exact int64 values).
const enc = (v) => JSON.stringify(v, (k, x) => (typeof x === 'bigint' ? `@@${x}@@` : x)).replace(/"@@(-?\d+)@@"/g, '$1');
const rec = (stream, r) => `{"type":"RECORD","stream":${JSON.stringify(stream)},"record":${enc(r)}}`;

function expectIcebird(r) {
    return {
        id: String(r.id),
        amount: r.amount ?? null,
        ok: r.ok ?? null,
        name: r.name ?? null,
        ts: r.ts == null ? null : new Date(Date.parse(r.ts)).toISOString(),
        day: r.day == null ? null : Date.parse(r.day + 'T00:00:00Z') / DAY_MS,
        obj: r.obj ?? null,
        arr: r.arr ?? null,
    };
}
function normIcebird(row) {
    const dayOf = (v) => (v == null ? null : v instanceof Date ? v.getTime() / DAY_MS : Number(v));
    return {
        id: String(row.id),
        amount: row.amount ?? null,
        ok: row.ok ?? null,
        name: row.name ?? null,
        ts: row.ts == null ? null : (row.ts instanceof Date ? row.ts : new Date(Number(row.ts) / 1000)).toISOString(),
        day: dayOf(row.day),
        obj: row.obj == null ? null : JSON.parse(row.obj),
        arr: row.arr == null ? null : JSON.parse(row.arr),
    };
}
function expectDuck(r) {
    return {
        ...expectIcebird(r),
        ts: r.ts == null ? null : String(BigInt(Date.parse(r.ts)) * 1000n),
    };
}
function normDuck(row) {
    return {
        id: String(row.id),
        amount: row.amount ?? null,
        ok: row.ok ?? null,
        name: row.name ?? null,
        ts: row.ts == null ? null : String(row.ts),
        day: row.day == null ? null : Number(row.day),
        obj: row.obj == null ? null : JSON.parse(row.obj),
        arr: row.arr == null ? null : JSON.parse(row.arr),
    };
}
const byId = (a, b) => (BigInt(a.id) < BigInt(b.id) ? -1 : BigInt(a.id) > BigInt(b.id) ? 1 : 0);

function hadoopConfig(dir, extra = {}) {
    return { catalog_type: 'hadoop', warehouse: `file://${dir}/wh`, namespace: 'ns', ...extra };
}

async function assertRows(loc, input) {
    const ice = (await readIcebird(loc)).map(normIcebird).sort(byId);
    const exp1 = input.map(expectIcebird).sort(byId);
    assert.equal(ice.length, exp1.length, 'icebird row count');
    for (let i = 0; i < ice.length; i++) assert.deepEqual(ice[i], exp1[i], `icebird row ${i}`);
    const duck = await readDuckdb(loc);
    const d = (duck.rows ?? []).map(normDuck).sort(byId);
    const exp2 = input.map(expectDuck).sort(byId);
    assert.equal(d.length, exp2.length, 'duckdb row count');
    for (let i = 0; i < d.length; i++) assert.deepEqual(d[i], exp2[i], `duckdb row ${i}`);
}

describe('target-iceberg: types and round trip', { skip }, () => {
    test('every type, nulls, unicode, empty and 1 MB strings, int64 limits (hadoop)', async () => {
        const dir = tempDir();
        const state = { bookmarks: { items: { id: 8 } } };
        const input = lines(schemaMsg('items', PROPS, ['id']), ROWS.map((r) => rec('items', r)), stateMsg(state));
        const r = runTarget(hadoopConfig(dir), input, { dir });
        assert.equal(r.status, 0, r.stderr);
        assert.deepEqual(r.stdout.trim().split('\n').map((l) => JSON.parse(l)), [state]);
        const loc = { dir: tableDir(`${dir}/wh`, 'ns', 'items') };
        assert.ok(fs.existsSync(path.join(loc.dir, 'metadata', 'version-hint.text')));
        await assertRows(loc, ROWS);
        const snaps = await snapshots(loc);
        assert.equal(JSON.parse(snaps.at(-1).summary['ivory.state']).bookmarks.items.id, 8);
        // schema: id is a required long (key property, non-null); the rest optional
        const duck = await readDuckdb(loc);
        const types = Object.fromEntries(duck.columns.map((c) => [c.name, c.type]));
        assert.deepEqual(types, {
            id: 'BIGINT', amount: 'DOUBLE', ok: 'BOOLEAN', name: 'VARCHAR', ts: 'TIMESTAMP WITH TIME ZONE', day: 'DATE',
            obj: 'VARCHAR', arr: 'VARCHAR',
        });
    });

    test('sql catalog: same rows read back through the catalog pointer', async () => {
        const dir = tempDir();
        const db = path.join(dir, 'catalog.db');
        const cfg = { catalog_type: 'sql', catalog_uri: db, warehouse: `file://${dir}/wh`, namespace: 'sales', table: 'orders' };
        const rows = ROWS.slice(0, 7);
        const r = runTarget(cfg, lines(schemaMsg('raw_orders', PROPS, ['id']), rows.map((x) => rec('raw_orders', x)), stateMsg({ n: 7 })), { dir });
        assert.equal(r.status, 0, r.stderr);
        const ml = sqlMetadataLocation(db, 'sales', 'orders');
        assert.ok(ml, 'iceberg_tables row exists');
        assert.ok(ml.includes(`${dir}/wh/sales/orders/metadata/`), ml);
        await assertRows({ metadataLocation: ml }, rows);
    });

    test('zero rows: table created, state committed, reads as empty', async () => {
        const dir = tempDir();
        const r = runTarget(hadoopConfig(dir), lines(schemaMsg('empty', PROPS, ['id']), stateMsg({ s: 1 })), { dir });
        assert.equal(r.status, 0, r.stderr);
        assert.deepEqual(r.stdout.trim().split('\n'), ['{"s":1}']);
        const loc = { dir: tableDir(`${dir}/wh`, 'ns', 'empty') };
        assert.deepEqual(await readIcebird(loc), []);
        const snaps = await snapshots(loc);
        assert.equal(snaps.at(-1).summary['ivory.state'], '{"s":1}');
    });

    test('multi-stream input: one table per stream; ACTIVATE_VERSION ignored', async () => {
        const dir = tempDir();
        const input = lines(
            schemaMsg('a', { id: { type: 'integer' } }, ['id']),
            schemaMsg('b', { id: { type: 'integer' }, v: { type: ['null', 'string'] } }, ['id']),
            JSON.stringify({ type: 'ACTIVATE_VERSION', stream: 'a', version: 1 }),
            recordMsg('a', { id: 1 }), recordMsg('b', { id: 10, v: 'x' }), recordMsg('a', { id: 2 }),
            stateMsg({ done: true }),
        );
        const r = runTarget(hadoopConfig(dir), input, { dir });
        assert.equal(r.status, 0, r.stderr);
        const a = (await readIcebird({ dir: tableDir(`${dir}/wh`, 'ns', 'a') })).map((x) => Number(x.id)).sort();
        const b = await readIcebird({ dir: tableDir(`${dir}/wh`, 'ns', 'b') });
        assert.deepEqual(a, [1, 2]);
        assert.deepEqual(b.map((x) => [Number(x.id), x.v]), [[10, 'x']]);
        // with `table` set, a second stream is refused (two schemas would share one table)
        const d2 = tempDir();
        const r2 = runTarget(hadoopConfig(d2, { table: 'one' }), input, { dir: d2 });
        assert.equal(r2.status, 1);
        assert.match(r2.stderr, /line 2\b.*'table' is set/);
    });
});

describe('target-iceberg: commits at STATE boundaries', { skip }, () => {
    test('many commits: stdout STATE lines equal the snapshot summaries, in order', async () => {
        const dir = tempDir();
        const msgs = [schemaMsg('s', { id: { type: 'integer' } }, ['id'])];
        for (let i = 0; i < 40; i++) {
            msgs.push(recordMsg('s', { id: i }));
            if (i % 2 === 1) msgs.push(stateMsg({ upto: i }));
        }
        msgs.push(recordMsg('s', { id: 40 }));   // after the last STATE: committed at EOF
        const r = runTarget(hadoopConfig(dir, { batch_rows: 5 }), lines(msgs), { dir });
        assert.equal(r.status, 0, r.stderr);
        const out = r.stdout.trim().split('\n');
        const loc = { dir: tableDir(`${dir}/wh`, 'ns', 's') };
        const snaps = await snapshots(loc);
        const withState = snaps.filter((s) => s.summary['ivory.state'] !== undefined);
        assert.deepEqual(out, withState.map((s) => s.summary['ivory.state']));
        // batch_rows 5 with a STATE every 2 rows: a commit every 6 rows (3 STATEs), 7 commits,
        // and the final one at EOF carries the last STATE again with row 40.
        assert.ok(out.length >= 7, `only ${out.length} commits`);
        assert.equal(out.at(-1), '{"upto":39}');
        const ids = (await readIcebird(loc)).map((x) => Number(x.id)).sort((a, b) => a - b);
        assert.deepEqual(ids, Array.from({ length: 41 }, (_, i) => i));
        // each snapshot's added rows: every commit before EOF holds whole STATE intervals
        for (const s of withState.slice(0, -1)) {
            const st = JSON.parse(s.summary['ivory.state']);
            assert.equal((st.upto + 1) % 2, 0);
        }
    });

    test('rows after the last STATE commit at clean EOF (with the latest STATE)', async () => {
        const dir = tempDir();
        const input = lines(schemaMsg('s', { id: { type: 'integer' } }), recordMsg('s', { id: 1 }),
            stateMsg({ a: 1 }), recordMsg('s', { id: 2 }));
        const r = runTarget(hadoopConfig(dir, { batch_rows: 1000000, batch_seconds: 3600 }), input, { dir });
        assert.equal(r.status, 0, r.stderr);
        assert.deepEqual(r.stdout.trim().split('\n'), ['{"a":1}']);
        const loc = { dir: tableDir(`${dir}/wh`, 'ns', 's') };
        assert.deepEqual((await readIcebird(loc)).map((x) => Number(x.id)).sort(), [1, 2]);
        assert.equal((await snapshots(loc)).length, 1);
    });
});

describe('target-iceberg: schema evolution', { skip }, () => {
    test('a new SCHEMA with a new property mid-stream adds an optional column', async () => {
        const dir = tempDir();
        const v1 = { id: { type: 'integer' }, a: { type: ['null', 'string'] } };
        const v2 = { ...v1, b: { type: ['null', 'number'] }, c: { type: ['null', 'string'], format: 'date-time' } };
        const input = lines(
            schemaMsg('e', v1, ['id']), recordMsg('e', { id: 1, a: 'one' }), stateMsg({ p: 1 }),
            recordMsg('e', { id: 2, a: 'two' }),
            schemaMsg('e', v2, ['id']), recordMsg('e', { id: 3, a: 'three', b: 3.5, c: '2024-01-01T00:00:00Z' }),
            stateMsg({ p: 2 }),
        );
        const r = runTarget(hadoopConfig(dir, { batch_rows: 1 }), input, { dir });
        assert.equal(r.status, 0, r.stderr);
        const loc = { dir: tableDir(`${dir}/wh`, 'ns', 'e') };
        const rows = (await readIcebird(loc)).sort((x, y) => Number(x.id) - Number(y.id));
        assert.deepEqual(rows.map((x) => [Number(x.id), x.a, x.b ?? null]), [[1, 'one', null], [2, 'two', null], [3, 'three', 3.5]]);
        const duck = await readDuckdb(loc);
        const d = duck.rows.sort((x, y) => Number(x.id) - Number(y.id));
        assert.deepEqual(d.map((x) => [Number(x.id), x.a, x.b ?? null, x.c == null ? null : String(x.c)]),
            [[1, 'one', null, null], [2, 'two', null, null], [3, 'three', 3.5, String(Date.parse('2024-01-01T00:00:00Z') * 1000)]]);
    });

    test('an incompatible change fails with the line number; nothing after the last commit', async () => {
        const dir = tempDir();
        const input = lines(
            schemaMsg('e', { id: { type: 'integer' }, a: { type: ['null', 'integer'] } }, ['id']),
            recordMsg('e', { id: 1, a: 1 }), stateMsg({ p: 1 }),
            recordMsg('e', { id: 2, a: 2 }),
            schemaMsg('e', { id: { type: 'integer' }, a: { type: ['null', 'boolean'] } }, ['id']),
            recordMsg('e', { id: 3, a: true }), stateMsg({ p: 2 }),
        );
        const r = runTarget(hadoopConfig(dir, { batch_rows: 1 }), input, { dir });
        assert.equal(r.status, 1);
        assert.match(r.stderr, /line 5\b/);
        assert.match(r.stderr, /"?a"?/);
        assert.deepEqual(r.stdout.trim().split('\n'), ['{"p":1}']);
        const loc = { dir: tableDir(`${dir}/wh`, 'ns', 'e') };
        assert.deepEqual((await readIcebird(loc)).map((x) => Number(x.id)), [1]);
    });
});

describe('target-iceberg: bad input', { skip }, () => {
    // a closed schema ("additionalProperties": false), so an undeclared key is bad input
    const good = [JSON.stringify({ type: 'SCHEMA', stream: 's', schema: { type: 'object', additionalProperties: false, properties: { id: { type: 'integer' }, v: { type: ['null', 'string'] } } }, key_properties: ['id'] }),
        recordMsg('s', { id: 1, v: 'a' }), stateMsg({ ok: 1 }), recordMsg('s', { id: 2, v: 'b' })];
    const cases = [
        ['non-JSON line', 'this is not json', /not a JSON object|invalid JSON/],
        ['truncated JSON', '{"type":"RECORD","stream":"s","record":{"id":3', /invalid JSON/],
        ['RECORD before SCHEMA', recordMsg('other', { id: 3 }), /before its SCHEMA/],
        ['record not matching its schema', recordMsg('s', { id: 'three' }), /field "id": expected integer/],
        ['undeclared field in a closed schema', recordMsg('s', { id: 3, zzz: 1 }), /field "zzz".*additionalProperties/],
        ['missing required key', recordMsg('s', { v: 'x' }), /required field "id"/],
        ['unknown message type', JSON.stringify({ type: 'BOGUS', stream: 's' }), /unknown message type "BOGUS"/],
        ['line over the size cap', recordMsg('s', { id: 3, v: 'y'.repeat(5000) }), /cap/],
    ];
    for (const [name, badLine, re] of cases) {
        test(`${name}: exit 1, message names line 5, table at its last good snapshot`, async () => {
            const dir = tempDir();
            const input = lines(good, badLine, stateMsg({ ok: 2 }), recordMsg('s', { id: 9 }));
            const r = runTarget(hadoopConfig(dir, { batch_rows: 1, max_line_bytes: 4096 }), input, { dir });
            assert.equal(r.status, 1, `exit status; stderr: ${r.stderr}`);
            assert.match(r.stderr, /line 5\b/);
            assert.match(r.stderr, re);
            assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
            assert.deepEqual(r.stdout.trim().split('\n'), ['{"ok":1}']);
            const loc = { dir: tableDir(`${dir}/wh`, 'ns', 's') };
            assert.deepEqual((await readIcebird(loc)).map((x) => Number(x.id)), [1]);
            const snaps = await snapshots(loc);
            assert.equal(snaps.at(-1).summary['ivory.state'], '{"ok":1}');
        });
    }

    test('config errors exit 1 with a clear message; misconfigured rest/glue and hive fail clearly', () => {
        const dir = tempDir();
        let r = runTarget({ warehouse: `file://${dir}` }, '', { dir });
        assert.equal(r.status, 1);
        assert.match(r.stderr, /catalog_type/);
        const cases = [['rest', /a rest catalog needs catalog_uri/], ['glue', /a glue catalog needs an s3:\/\/ warehouse/],
            ['hive', /hive.*not supported/]];
        for (const [t, re] of cases) {
            r = runTarget({ catalog_type: t, warehouse: `file://${dir}`, namespace: 'n' }, '', { dir });
            assert.equal(r.status, 1);
            assert.match(r.stderr, re);
        }
        r = runTarget(hadoopConfig(dir, { batch_rows: 'lots' }), '', { dir });
        assert.equal(r.status, 1);
        assert.match(r.stderr, /batch_rows/);
    });
});

describe('ivory table show', { skip }, () => {
    test('prints schema, snapshots with their STATE, and the row count from metadata', async () => {
        const dir = tempDir();
        const cfg = hadoopConfig(dir, { batch_rows: 2 });
        const msgs = [schemaMsg('t', { id: { type: 'integer' }, v: { type: ['null', 'string'] } }, ['id'])];
        for (let i = 0; i < 6; i++) { msgs.push(recordMsg('t', { id: i, v: `v${i}` })); if (i % 2) msgs.push(stateMsg({ i })); }
        const r = runTarget(cfg, lines(msgs), { dir });
        assert.equal(r.status, 0, r.stderr);
        const cfgPath = path.join(dir, 'show.json');
        fs.writeFileSync(cfgPath, JSON.stringify(cfg));
        const s = spawnSync(IVORY, ['table', 'show', '--config', cfgPath, 'ns.t'], { encoding: 'utf8' });
        assert.equal(s.status, 0, s.stderr);
        const view = JSON.parse(s.stdout);
        const loc = { dir: tableDir(`${dir}/wh`, 'ns', 't') };
        assert.equal(view.row_count, (await readIcebird(loc)).length);
        assert.equal(view.row_count, 6);
        assert.deepEqual(view.schema.fields.map((f) => [f.name, f.type, f.required]), [['id', 'long', true], ['v', 'string', false]]);
        const snaps = await snapshots(loc);
        assert.deepEqual(view.snapshots.map((x) => JSON.stringify(x.state)), snaps.map((x) => x.summary['ivory.state']));
        assert.deepEqual(view.snapshots.map((x) => x.state.i), [1, 3, 5]);
        const missing = spawnSync(IVORY, ['table', 'show', '--config', cfgPath, 'ns.nope'], { encoding: 'utf8' });
        assert.equal(missing.status, 1);
        assert.match(missing.stderr, /ns\.nope/);
        const usage = spawnSync(IVORY, ['table', 'show', '--config', cfgPath], { encoding: 'utf8' });
        assert.equal(usage.status, 2);
    });
});
