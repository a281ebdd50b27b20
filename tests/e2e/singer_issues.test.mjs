// singer_issues.test.mjs — Singer conformance cases, each from its minimal input (docs/singer.md):
// naming rules, undeclared keys, Avro-compatible Parquet field names, unions, decimals, type
// changes, case-only duplicates, BATCH messages, dotted table names in `table show`, and no
// table left behind by a failed first load. Tables are read back with icebird AND DuckDB.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { IVORY, lines, readDuckdb, readIcebird, runTarget, tempDir } from './lib/iceberg_read.mjs';

const skip = fs.existsSync(IVORY) ? false : 'ivory not built';

function setup() {
    const dir = tempDir('ivory-singer-');
    const wh = path.join(dir, 'wh');
    const cfg = { catalog_type: 'hadoop', warehouse: wh, namespace: 'ns' };
    return { dir, wh, cfg };
}
const load = (env, input, extra = {}) => runTarget({ ...env.cfg, ...extra }, input, { dir: env.dir });
const tdir = (env, table, ns = 'ns') => ({ dir: path.join(env.wh, ns, table) });
const showTable = (env, qualified, extra = {}) => {
    const cfgPath = path.join(env.dir, `show-${process.hrtime.bigint()}.json`);
    fs.writeFileSync(cfgPath, JSON.stringify({ ...env.cfg, ...extra }));
    const r = spawnSync(IVORY, ['table', 'show', '--config', cfgPath, qualified], { encoding: 'utf8', timeout: 30000 });
    return { status: r.status, stderr: r.stderr, view: r.status === 0 ? JSON.parse(r.stdout) : null };
};

describe('Singer naming rules', { skip }, () => {
    test('stream names become snake_case table names; two streams never share one table', async () => {
        const env = setup();
        const r = load(env, lines(
            '{"type":"SCHEMA","stream":"test:SpecialChars!in?attributes","schema":{"type":"object","properties":{"id":{"type":"integer"}}},"key_properties":["id"]}',
            '{"type":"RECORD","stream":"test:SpecialChars!in?attributes","record":{"id":7}}',
        ));
        assert.equal(r.status, 0, r.stderr);
        const t = tdir(env, 'test_special_charsinattributes');
        assert.deepEqual((await readIcebird(t)).map((x) => Number(x.id)), [7]);
        assert.deepEqual((await readDuckdb(t)).rows.map((x) => Number(x.id)), [7]);

        const env2 = setup();
        const r2 = load(env2, lines(
            '{"type":"SCHEMA","stream":"a.b","schema":{"type":"object","properties":{"id":{"type":"integer"}}},"key_properties":[]}',
            '{"type":"SCHEMA","stream":"a_b","schema":{"type":"object","properties":{"id":{"type":"integer"}}},"key_properties":[]}',
        ));
        assert.equal(r2.status, 1);
        assert.match(r2.stderr, /streams "a\.b" and "a_b" both map to table ns\.a_b/);
    });
});

describe('table locations and dotted names (items 3, 9)', { skip }, () => {
    const input = lines(
        '{"type":"SCHEMA","stream":"s?x#y","schema":{"type":"object","properties":{"id":{"type":"integer"},"v":{"type":["null","string"]}}},"key_properties":["id"]}',
        '{"type":"RECORD","stream":"s?x#y","record":{"id":1,"v":"one"}}',
        '{"type":"RECORD","stream":"s?x#y","record":{"id":2,"v":"two"}}',
    );
    test('URI-reserved characters in a table name are encoded in its location; readers see every row', async () => {
        const env = setup();
        const r = load(env, input, { table: 'we?ird #name' });
        assert.equal(r.status, 0, r.stderr);
        const dir = path.join(env.wh, 'ns', 'we~3Fird~20~23name');
        assert.ok(fs.existsSync(dir), 'encoded table directory');
        const md = JSON.parse(fs.readFileSync(path.join(dir, 'metadata', 'v1.metadata.json'), 'utf8'));
        assert.equal(md.location, `file://${dir}`);
        assert.deepEqual((await readIcebird({ dir })).map((x) => x.v).sort(), ['one', 'two']);
        assert.deepEqual((await readDuckdb({ dir })).rows.map((x) => x.v).sort(), ['one', 'two']);
        const show = showTable(env, 'ns.we?ird #name');
        assert.equal(show.status, 0, show.stderr);
        assert.equal(show.view.row_count, 2);
        assert.deepEqual(show.view.rows.map((x) => x.v).sort(), ['one', 'two']);
    });
    test('table show opens a dotted table name the target wrote (ns.public.users)', async () => {
        for (const catalog of ['hadoop', 'sql']) {
            const env = setup();
            const extra = catalog === 'sql'
                ? { catalog_type: 'sql', catalog_uri: path.join(env.dir, 'cat.db'), table: 'public.users' }
                : { table: 'public.users' };
            const r = load(env, input, extra);
            assert.equal(r.status, 0, r.stderr);
            const show = showTable(env, 'ns.public.users', extra);
            assert.equal(show.status, 0, show.stderr);
            assert.equal(show.view.row_count, 2);
            assert.deepEqual(show.view.rows.map((x) => Number(x.id)).sort(), [1, 2]);
            const miss = showTable(env, 'ns.public.nobody', extra);
            assert.equal(miss.status, 1);
            assert.match(miss.stderr, /no such table/);
        }
    });
});

describe('records and schemas (items 1, 4, 6, 7, 8)', { skip }, () => {
    test('item 1: undeclared keys are dropped (counted, logged once per key) unless additionalProperties is false', async () => {
        const env = setup();
        const r = load(env, lines(
            '{"type":"SCHEMA","stream":"r","schema":{"type":"object","additionalProperties":true,"properties":{"id":{"type":"integer"}}},"key_properties":["id"]}',
            '{"type":"RECORD","stream":"r","record":{"id":1,"_sdc_deleted_at":null}}',
            '{"type":"RECORD","stream":"r","record":{"id":2,"_sdc_deleted_at":"2024-01-01T00:00:00Z","extra":{"a":[1]}}}',
        ));
        assert.equal(r.status, 0, r.stderr);
        assert.equal(r.stderr.match(/dropping the values of key \\"_sdc_deleted_at\\"/g)?.length, 1, r.stderr);
        assert.match(r.stderr, /dropping the values of key \\"extra\\"/);
        assert.match(r.stderr, /stream r: 3 values of keys its schema does not declare were dropped/);
        const t = tdir(env, 'r');
        assert.deepEqual((await readIcebird(t)).map((x) => Number(x.id)).sort(), [1, 2]);
        const duck = await readDuckdb(t);
        assert.deepEqual(duck.columns.map((c) => c.name), ['id']);
        assert.equal(duck.rows.length, 2);

        const env2 = setup();
        const r2 = load(env2, lines(
            '{"type":"SCHEMA","stream":"r","schema":{"type":"object","additionalProperties":false,"properties":{"id":{"type":"integer"}}},"key_properties":["id"]}',
            '{"type":"RECORD","stream":"r","record":{"id":1,"_sdc_deleted_at":null}}',
        ));
        assert.equal(r2.status, 1);
        assert.match(r2.stderr, /line 2: stream "r": field "_sdc_deleted_at" is not in the schema of stream "r" \(its schema has "additionalProperties": false\)/);
    });

    test('item 4: anyOf maps to a type every branch fits; integer|number is double', async () => {
        const env = setup();
        const r = load(env, lines(
            '{"type":"SCHEMA","stream":"u","schema":{"type":"object","properties":{"id":{"type":"integer"},"when":{"anyOf":[{"type":"string","format":"date-time"},{"type":["string","null"]}]},"n":{"type":["integer","number"]}}},"key_properties":["id"]}',
            '{"type":"RECORD","stream":"u","record":{"id":1,"when":"2024-01-01T00:00:00Z","n":1}}',
            '{"type":"RECORD","stream":"u","record":{"id":2,"when":"not a date","n":2.5}}',
            '{"type":"RECORD","stream":"u","record":{"id":3,"when":null}}',
        ));
        assert.equal(r.status, 0, r.stderr);
        const t = tdir(env, 'u');
        const md = JSON.parse(fs.readFileSync(path.join(t.dir, 'metadata', 'v1.metadata.json'), 'utf8'));
        const types = Object.fromEntries(md.schemas.at(-1).fields.map((f) => [f.name, f.type]));
        assert.deepEqual(types, { id: 'long', when: 'string', n: 'double' });
        const ice = (await readIcebird(t)).sort((a, b) => Number(a.id) - Number(b.id));
        assert.deepEqual(ice.map((x) => [x.when, x.n]), [['2024-01-01T00:00:00Z', 1], ['not a date', 2.5], [null, null]]);
        const duck = (await readDuckdb(t)).rows.sort((a, b) => Number(a.id) - Number(b.id));
        assert.deepEqual(duck.map((x) => [x.when, x.n]), [['2024-01-01T00:00:00Z', 1], ['not a date', 2.5], [null, null]]);
    });

    test('item 6: multipleOf and singer.decimal become exact Iceberg decimals', async () => {
        const env = setup();
        const r = load(env, lines(
            '{"type":"SCHEMA","stream":"d","schema":{"type":"object","properties":{"id":{"type":"integer"},"price":{"type":["null","number"],"multipleOf":0.01},"big":{"type":["null","string"],"format":"singer.decimal"}}},"key_properties":["id"]}',
            '{"type":"RECORD","stream":"d","record":{"id":1,"price":19.99,"big":"12345678901234567.1234567891"}}',
            '{"type":"RECORD","stream":"d","record":{"id":2,"price":-0.01,"big":"-0.000000000000000001"}}',
            '{"type":"RECORD","stream":"d","record":{"id":3,"price":null,"big":null}}',
        ));
        assert.equal(r.status, 0, r.stderr);
        const t = tdir(env, 'd');
        const md = JSON.parse(fs.readFileSync(path.join(t.dir, 'metadata', 'v1.metadata.json'), 'utf8'));
        const types = Object.fromEntries(md.schemas.at(-1).fields.map((f) => [f.name, f.type]));
        assert.deepEqual(types, { id: 'long', price: 'decimal(38,2)', big: 'decimal(38,18)' });
        const con = await (await import('@duckdb/node-api')).DuckDBInstance.create(':memory:').then((d) => d.connect());
        const files = fs.readdirSync(path.join(t.dir, 'data')).map((f) => `'${path.join(t.dir, 'data', f)}'`);
        const rows = (await con.runAndReadAll(`SELECT id, CAST(price AS VARCHAR) AS price, CAST(big AS VARCHAR) AS big FROM read_parquet([${files}]) ORDER BY id`)).getRowObjectsJS();
        assert.deepEqual(rows.map((x) => [Number(x.id), x.price, x.big]), [
            [1, '19.99', '12345678901234567.123456789100000000'],
            [2, '-0.01', '-0.000000000000000001'],
            [3, null, null]]);
        const show = showTable(env, 'ns.d');
        assert.equal(show.status, 0, show.stderr);
        const byId = Object.fromEntries(show.view.rows.map((x) => [Number(x.id), x]));
        assert.equal(String(byId[1].big), '12345678901234567.123456789100000000');
        assert.equal(String(byId[1].price), '19.99');
        const ice = (await readIcebird(t)).sort((a, b) => Number(a.id) - Number(b.id));
        assert.equal(ice.length, 3);
        assert.ok(Math.abs(Number(ice[0].price) - 19.99) < 1e-9, String(ice[0].price));

        const bad = load(setup(), lines(
            '{"type":"SCHEMA","stream":"d","schema":{"type":"object","properties":{"price":{"type":"number","multipleOf":0.01}}},"key_properties":[]}',
            '{"type":"RECORD","stream":"d","record":{"price":1.234}}',
        ));
        assert.equal(bad.status, 1);
        assert.match(bad.stderr, /line 2: .*field "price": "1.234" has more decimal places than decimal\(38,2\)/);
    });

    test('item 7: a string column that later arrives as integer keeps the string type and gets the text', async () => {
        const env = setup();
        const r = load(env, lines(
            '{"type":"SCHEMA","stream":"alter","schema":{"type":"object","properties":{"id":{"type":"integer"},"v":{"type":["null","string"]}}},"key_properties":["id"]}',
            '{"type":"RECORD","stream":"alter","record":{"id":1,"v":"one"}}',
            '{"type":"STATE","value":{"p":1}}',
            '{"type":"SCHEMA","stream":"alter","schema":{"type":"object","properties":{"id":{"type":"integer"},"v":{"type":["null","integer"]}}},"key_properties":["id"]}',
            '{"type":"RECORD","stream":"alter","record":{"id":2,"v":12345678901234567}}',
            '{"type":"RECORD","stream":"alter","record":{"id":3,"v":null}}',
        ));
        assert.equal(r.status, 0, r.stderr);
        const t = tdir(env, 'alter');
        const ice = (await readIcebird(t)).sort((a, b) => Number(a.id) - Number(b.id));
        assert.deepEqual(ice.map((x) => x.v), ['one', '12345678901234567', null]);
        const duck = (await readDuckdb(t)).rows.sort((a, b) => Number(a.id) - Number(b.id));
        assert.deepEqual(duck.map((x) => x.v), ['one', '12345678901234567', null]);
        // a change that cannot be followed losslessly stays refused, naming the column
        const r2 = load(env, lines(
            '{"type":"SCHEMA","stream":"alter","schema":{"type":"object","properties":{"id":{"type":"boolean"}}},"key_properties":[]}',
        ));
        assert.equal(r2.status, 1);
        assert.match(r2.stderr, /line 1: .*column 'id' cannot change from long to boolean/);
    });

    test('item 8: columns that differ only in case are refused with a clear message', async () => {
        const env = setup();
        const r = load(env, lines(
            '{"type":"SCHEMA","stream":"c","schema":{"type":"object","properties":{"id":{"type":"integer"},"ID":{"type":"integer"}}},"key_properties":[]}',
            '{"type":"RECORD","stream":"c","record":{"id":1,"ID":2}}',
        ));
        assert.equal(r.status, 1);
        assert.match(r.stderr, /line 1: .*columns 'id' and 'ID' differ only in case/);
        // the same clash arriving through a later SCHEMA
        const r2 = load(env, lines(
            '{"type":"SCHEMA","stream":"c","schema":{"type":"object","properties":{"id":{"type":"integer"}}},"key_properties":[]}',
            '{"type":"RECORD","stream":"c","record":{"id":1}}',
            '{"type":"SCHEMA","stream":"c","schema":{"type":"object","properties":{"id":{"type":"integer"},"Id":{"type":"integer"}}},"key_properties":[]}',
        ));
        assert.equal(r2.status, 1);
        assert.match(r2.stderr, /line 3: .*columns 'id' and 'Id' differ only in case/);
    });
});

describe('Parquet field names (item 2)', { skip }, () => {
    test('names that are not Avro names: Parquet carries the sanitized name, Iceberg the original; icebird, DuckDB and table show see the values', async () => {
        const env = setup();
        const r = load(env, lines(
            '{"type":"SCHEMA","stream":"c","schema":{"type":"object","properties":{"Foo::Bar":{"type":"string"},"a.b":{"type":"string"},"with space":{"type":"string"},"kebab-case":{"type":"integer"},"1st":{"type":"string"}}},"key_properties":[]}',
            '{"type":"RECORD","stream":"c","record":{"Foo::Bar":"x","a.b":"y","with space":"z","kebab-case":7,"1st":"w"}}',
        ));
        assert.equal(r.status, 0, r.stderr);
        const t = tdir(env, 'c');
        const md = JSON.parse(fs.readFileSync(path.join(t.dir, 'metadata', 'v1.metadata.json'), 'utf8'));
        assert.deepEqual(md.schemas.at(-1).fields.map((f) => f.name), ['Foo::Bar', 'a.b', 'with space', 'kebab-case', '1st']);
        const ice = await readIcebird(t);
        assert.deepEqual(ice.map((x) => [x['Foo::Bar'], x['a.b'], x['with space'], Number(x['kebab-case']), x['1st']]), [['x', 'y', 'z', 7, 'w']]);
        const duck = await readDuckdb(t);
        assert.deepEqual(duck.columns.map((c) => c.name), ['Foo_x3A_x3ABar', 'a_x2Eb', 'with_x20space', 'kebab_x2Dcase', '_1st']);
        assert.deepEqual(duck.rows.map((x) => [x.Foo_x3A_x3ABar, x.a_x2Eb, x.with_x20space, Number(x.kebab_x2Dcase), x._1st]), [['x', 'y', 'z', 7, 'w']]);
        const show = showTable(env, 'ns.c');
        assert.equal(show.status, 0, show.stderr);
        assert.deepEqual(show.view.rows, [{ 'Foo::Bar': 'x', 'a.b': 'y', 'with space': 'z', 'kebab-case': 7, '1st': 'w' }]);
    });
});

describe('BATCH messages (item 5)', { skip }, () => {
    test('jsonl files, gzip or plain, from file:// manifests load like RECORDs; bad ones fail naming the file line', async () => {
        const env = setup();
        const zlib = await import('node:zlib');
        const f1 = path.join(env.dir, 'part 1.jsonl.gz');
        const f2 = path.join(env.dir, 'part2.jsonl');
        fs.writeFileSync(f1, zlib.gzipSync('{"id":1,"v":"a"}\n{"id":2,"v":"b"}\n'));
        fs.writeFileSync(f2, '{"id":3,"v":"c"}\r\n\n{"id":4,"v":null}');
        const r = load(env, lines(
            '{"type":"SCHEMA","stream":"b","schema":{"type":"object","properties":{"id":{"type":"integer"},"v":{"type":["null","string"]}}},"key_properties":["id"]}',
            '{"type":"RECORD","stream":"b","record":{"id":0,"v":"rec"}}',
            JSON.stringify({ type: 'BATCH', stream: 'b', encoding: { format: 'jsonl', compression: 'gzip' }, manifest: [`file://${f1.replace(' ', '%20')}`] }),
            JSON.stringify({ type: 'BATCH', stream: 'b', encoding: { format: 'jsonl', compression: 'none' }, manifest: [`file://${f2}`] }),
            '{"type":"STATE","value":{"done":true}}',
        ));
        assert.equal(r.status, 0, r.stderr);
        assert.match(r.stderr, /5 rows/);
        const t = tdir(env, 'b');
        const want = [[0, 'rec'], [1, 'a'], [2, 'b'], [3, 'c'], [4, null]];
        assert.deepEqual((await readIcebird(t)).map((x) => [Number(x.id), x.v]).sort((a, b) => a[0] - b[0]), want);
        assert.deepEqual((await readDuckdb(t)).rows.map((x) => [Number(x.id), x.v]).sort((a, b) => a[0] - b[0]), want);

        fs.writeFileSync(f2, '{"id":5}\n{"id":"six"}\n');
        const bad = load(setup(), lines(
            '{"type":"SCHEMA","stream":"b","schema":{"type":"object","properties":{"id":{"type":"integer"}}},"key_properties":[]}',
            JSON.stringify({ type: 'BATCH', stream: 'b', encoding: { format: 'jsonl' }, manifest: [f2] }),
        ));
        assert.equal(bad.status, 1);
        assert.match(bad.stderr, /line 2: BATCH file .*part2\.jsonl line 2: stream "b": field "id": expected integer/);
        const parquet = load(setup(), lines(
            '{"type":"SCHEMA","stream":"b","schema":{"type":"object","properties":{"id":{"type":"integer"}}},"key_properties":[]}',
            JSON.stringify({ type: 'BATCH', stream: 'b', encoding: { format: 'parquet' }, manifest: [f2] }),
        ));
        assert.equal(parquet.status, 1);
        assert.match(parquet.stderr, /line 2: BATCH encoding format "parquet" is not supported/);
    });
});

describe('tables are created with their first commit (item 10)', { skip }, () => {
    test('a run that fails before its first commit leaves no table (hadoop and sql); the next run creates it with its rows', async () => {
        for (const catalog of ['hadoop', 'sql']) {
            const env = setup();
            const db = path.join(env.dir, 'cat.db');
            const extra = catalog === 'sql' ? { catalog_type: 'sql', catalog_uri: db } : {};
            const schema = '{"type":"SCHEMA","stream":"f","schema":{"type":"object","properties":{"id":{"type":"integer"}}},"key_properties":["id"]}';
            const r = load(env, lines(schema, '{"type":"RECORD","stream":"f","record":{"id":1}}', '{"type":"RECORD","stream":"f","record":{"id":"bad"}}'), extra);
            assert.equal(r.status, 1);
            assert.match(r.stderr, /line 3/);
            assert.ok(!fs.existsSync(path.join(env.wh, 'ns', 'f')), `${catalog}: no table directory left behind`);
            if (catalog === 'sql') {
                const q = spawnSync('sqlite3', [db, "SELECT count(*) FROM iceberg_tables WHERE table_name = 'f'"], { encoding: 'utf8' });
                assert.equal(q.stdout.trim(), '0');
            }
            const r2 = load(env, lines(schema, '{"type":"RECORD","stream":"f","record":{"id":2}}'), extra);
            assert.equal(r2.status, 0, r2.stderr);
            const show = showTable(env, 'ns.f', extra);
            assert.equal(show.status, 0, show.stderr);
            assert.equal(show.view.snapshots.length, 1, 'the table was created by its first (and only) commit');
            assert.deepEqual(show.view.rows.map((x) => Number(x.id)), [2]);
        }
    });
});
