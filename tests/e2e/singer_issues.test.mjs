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
