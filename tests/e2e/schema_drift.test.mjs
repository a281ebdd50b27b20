// schema_drift.test.mjs — the connector's schema_drift policy enforced by the runner
// (docs/runner.md "Schema drift", docs/api.md "One run"). A fixture tap loads rows 1..3 with
// {id, name}; its second run declares a new field `score` (and sends values of the wrong type):
//   evolve      -> the table gains `score` (read back with icebird), the run detail lists the
//                  change;
//   freeze      -> the run fails naming the stream, the field and the change; the table's
//                  schema, snapshots and rows are unchanged;
//   discard_row -> the schema is unchanged; rows that do not fit are counted as transform
//                  errors with samples (field, value, error), the others are loaded.
// A first run that creates the table is not drift, whatever the policy.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { notBuilt } from './lib/server.mjs';
import {
    lines, metadata, readIcebird, recordMsg, runTarget, schemaMsg, stateMsg, tempDir as targetDir,
} from './lib/iceberg_read.mjs';
import {
    ids, registerTap, runnerTenant, startRunnerServer, tableLoc, tableRows, tableSnapshots,
    triggerAndWait,
} from './lib/runner.mjs';

const BASE = { id: { type: 'integer' }, name: { type: ['null', 'string'] } };
const WITH_SCORE = { ...BASE, score: { type: ['null', 'integer'] } };

const columns = async (srv, T, table) => {
    const md = await metadata(tableLoc(srv, T, table));
    const cur = md.schemas.find((s) => s['schema-id'] === md['current-schema-id']);
    return cur.fields.map((f) => `${f.name}:${f.type}`);
};

describe('schema drift policies', { skip: notBuilt('serve') }, () => {
    let srv, T, T2;
    before(async () => {
        srv = await startRunnerServer();
        T = await runnerTenant(srv);
        T2 = await runnerTenant(srv);
    });
    after(async () => { if (srv) await srv.stop(); });

    // A connector with `policy` whose first run loads rows 1..3 with {id, name}; returns what
    // the second run needs: the source file and the properties file to change.
    async function firstRun(policy) {
        const tag = `${policy}-${Math.random().toString(16).slice(2, 8)}`;
        const src = path.join(srv.io, `${tag}.jsonl`);
        const propsFile = path.join(srv.io, `${tag}.props.json`);
        fs.writeFileSync(propsFile, JSON.stringify(BASE));
        fs.writeFileSync(src, [1, 2, 3].map((i) => JSON.stringify({ id: i, name: `row-${i}` })).join('\n') + '\n');
        const conn = await registerTap(srv, T, { source: src, properties_file: propsFile },
                                       { schema_drift: policy });
        assert.equal((await T.c.get(`/v1/admin/connectors/${conn.id}`)).json.schema_drift, policy);
        const rs = await triggerAndWait(T, conn.id);
        assert.equal(rs[0].status, 'completed', `a first run creating the table is not drift: ${JSON.stringify(rs[0])}`);
        assert.deepEqual(ids(await tableRows(srv, T, conn.iomete_table)), [1, 2, 3]);
        assert.deepEqual(await columns(srv, T, conn.iomete_table), ['id:long', 'name:string']);
        const detail = (await T.c.get(`/v1/admin/connectors/${conn.id}/runs/${rs[0].id}`)).json;
        assert.deepEqual(detail.schema_changes, [], 'creating the table is not a schema change');
        assert.equal(detail.stream_rows.items.rows_read, 3);
        assert.equal(detail.stream_rows.items.rows_committed, 3);
        return { conn, src, propsFile };
    }
    const secondRun = (c, rows) => {
        fs.writeFileSync(c.propsFile, JSON.stringify(WITH_SCORE));
        fs.appendFileSync(c.src, rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
        return triggerAndWait(T, c.conn.id);
    };
    const detailOf = async (c, runId) => {
        const r = await T.c.get(`/v1/admin/connectors/${c.conn.id}/runs/${runId}`);
        assert.equal(r.status, 200, r.text);
        return r.json;
    };

    test('evolve (the default): the table gains the new column; the run lists the change', async () => {
        const c = await firstRun('evolve');
        const rs = await secondRun(c, [{ id: 4, name: 'row-4', score: 40 }, { id: 5, name: 'row-5', score: null }]);
        assert.equal(rs[0].status, 'completed', JSON.stringify(rs[0]));
        assert.deepEqual(await columns(srv, T, c.conn.iomete_table), ['id:long', 'name:string', 'score:long']);
        const rows = (await tableRows(srv, T, c.conn.iomete_table)).sort((a, b) => Number(a.id) - Number(b.id));
        assert.deepEqual(rows.map((r) => Number(r.id)), [1, 2, 3, 4, 5]);
        assert.deepEqual(rows.map((r) => (r.score === null || r.score === undefined ? null : Number(r.score))),
                         [null, null, null, 40, null]);
        const d = await detailOf(c, rs[0].id);
        assert.equal(d.schema_changes.length, 1, JSON.stringify(d.schema_changes));
        assert.equal(d.schema_changes[0].stream, 'items');
        assert.equal(d.schema_changes[0].table, `${T.namespace}.${c.conn.iomete_table}`);
        assert.match(d.schema_changes[0].change, /added column 'score' \(long\)/);
        assert.deepEqual(d.stream_rows.items, { table: `${T.namespace}.${c.conn.iomete_table}`, rows_read: 2,
                                                rows_committed: 2, rows_discarded: 0 });
        // Another tenant cannot read the run.
        assert.equal((await T2.c.get(`/v1/admin/connectors/${c.conn.id}/runs/${rs[0].id}`)).status, 404);
    });

    test('freeze: a new field fails the run, naming stream, field and change; the table is untouched', async () => {
        const c = await firstRun('freeze');
        const snapsBefore = (await tableSnapshots(srv, T, c.conn.iomete_table)).length;
        const mdBefore = await metadata(tableLoc(srv, T, c.conn.iomete_table));
        const rs = await secondRun(c, [{ id: 4, name: 'row-4', score: 40 }]);
        assert.equal(rs[0].status, 'failed', JSON.stringify(rs[0]));
        assert.match(rs[0].error_msg, /stream "items"/);
        assert.match(rs[0].error_msg, /freeze/);
        assert.match(rs[0].error_msg, /new column 'score' \(long\)/);
        assert.deepEqual(await columns(srv, T, c.conn.iomete_table), ['id:long', 'name:string']);
        const mdAfter = await metadata(tableLoc(srv, T, c.conn.iomete_table));
        assert.equal(mdAfter.schemas.length, mdBefore.schemas.length, 'no schema was added');
        assert.equal(mdAfter['last-column-id'], mdBefore['last-column-id']);
        assert.equal((await tableSnapshots(srv, T, c.conn.iomete_table)).length, snapsBefore, 'no snapshot');
        assert.deepEqual(ids(await tableRows(srv, T, c.conn.iomete_table)), [1, 2, 3]);
        assert.equal(rs[0].rows_loaded, 0);
        const d = await detailOf(c, rs[0].id);
        assert.deepEqual(d.schema_changes, []);
        // The bookmark did not move: switching to evolve loads row 4 with its new column.
        const p = await T.c.patch(`/v1/admin/connectors/${c.conn.id}`, { schema_drift: 'evolve' });
        assert.equal(p.status, 200, p.text);
        const rs2 = await triggerAndWait(T, c.conn.id);
        assert.equal(rs2[0].status, 'completed', JSON.stringify(rs2[0]));
        assert.deepEqual(ids(await tableRows(srv, T, c.conn.iomete_table)), [1, 2, 3, 4]);
        assert.deepEqual(await columns(srv, T, c.conn.iomete_table), ['id:long', 'name:string', 'score:long']);
    });

    test('discard_row: rows that do not fit are transform errors with samples; the rest load', async () => {
        const c = await firstRun('discard_row');
        const snapsBefore = (await tableSnapshots(srv, T, c.conn.iomete_table)).length;
        const rs = await secondRun(c, [
            { id: 4, name: 'row-4', score: 40 },     // a new field with a value: no column for it
            { id: 5, name: 'row-5', score: null },   // declared but null: fits
            { id: 6, name: 66 },                     // a value of a type the column cannot hold
            { id: 7, name: 'row-7' },                // fits
            { id: 8, name: null, score: 'x' },       // wrong type for a column the table lacks
        ]);
        assert.equal(rs[0].status, 'completed', JSON.stringify(rs[0]));
        assert.equal(rs[0].rows_synced, 5);
        assert.equal(rs[0].transform_errors, 3);
        assert.equal(rs[0].rows_loaded, 2, 'rows_loaded = rows_synced - transform_errors');
        assert.deepEqual(await columns(srv, T, c.conn.iomete_table), ['id:long', 'name:string']);
        assert.ok((await tableSnapshots(srv, T, c.conn.iomete_table)).length > snapsBefore);
        assert.deepEqual(ids(await tableRows(srv, T, c.conn.iomete_table)), [1, 2, 3, 5, 7]);
        const d = await detailOf(c, rs[0].id);
        assert.deepEqual(d.schema_changes, []);
        assert.deepEqual(d.transform_samples.map((s) => [s.field, s.value]),
                         [['score', '40'], ['name', '66'], ['score', '"x"']]);
        for (const s of d.transform_samples) {
            assert.equal(s.stream, 'items');
            assert.match(s.error, new RegExp(`field "${s.field}"`));
        }
        assert.match(d.transform_samples[0].error, /no such column/);
        assert.deepEqual(d.stream_rows.items, { table: `${T.namespace}.${c.conn.iomete_table}`, rows_read: 5,
                                                rows_committed: 2, rows_discarded: 3 });
    });
});

// The same policies through `ivory target-iceberg` ("schema_drift" in its config): no server.
describe('target-iceberg schema_drift', { skip: notBuilt('target-iceberg') }, () => {
    const A = { id: { type: 'integer' }, name: { type: ['null', 'string'] } };
    const B = { ...A, extra: { type: ['null', 'string'] } };
    const setup = (drift) => {
        const dir = targetDir('ivory-drift-');
        const cfg = { catalog_type: 'hadoop', warehouse: path.join(dir, 'wh'), namespace: 'ns', schema_drift: drift };
        const first = runTarget(cfg, lines(schemaMsg('s', A, ['id']), recordMsg('s', { id: 1, name: 'a' }), stateMsg({ n: 1 })), { dir });
        assert.equal(first.status, 0, first.stderr);
        return { dir, cfg, loc: { dir: path.join(dir, 'wh', 'ns', 's') } };
    };
    const cols = async (loc) => {
        const md = await metadata(loc);
        return md.schemas.find((x) => x['schema-id'] === md['current-schema-id']).fields.map((f) => f.name);
    };

    test('freeze refuses a change to an existing table; a table created in the same load may evolve', async () => {
        const t = setup('freeze');
        const r = runTarget(t.cfg, lines(schemaMsg('s', B, ['id']), recordMsg('s', { id: 2, name: 'b', extra: 'x' }), stateMsg({ n: 2 })), { dir: t.dir });
        assert.equal(r.status, 1);
        assert.match(r.stderr, /stream "s".*freeze.*new column 'extra' \(string\)/);
        assert.deepEqual(await cols(t.loc), ['id', 'name']);
        assert.deepEqual((await readIcebird(t.loc)).map((x) => Number(x.id)), [1]);
        // a new table: its own SCHEMA changes during the load are not drift
        const n = runTarget(t.cfg, lines(schemaMsg('n', A, ['id']), recordMsg('n', { id: 1 }), stateMsg({ n: 3 }),
                                         schemaMsg('n', B, ['id']), recordMsg('n', { id: 2, extra: 'y' }), stateMsg({ n: 4 })), { dir: t.dir });
        assert.equal(n.status, 0, n.stderr);
        assert.deepEqual(await cols({ dir: path.join(t.dir, 'wh', 'ns', 'n') }), ['id', 'name', 'extra']);
    });

    test('discard_row keeps the schema and loads the rows that fit; a bad policy is refused', async () => {
        const t = setup('discard_row');
        const r = runTarget(t.cfg, lines(schemaMsg('s', B, ['id']), recordMsg('s', { id: 2, name: 'b', extra: 'x' }),
                                         recordMsg('s', { id: 3, name: 'c', extra: null }), recordMsg('s', { id: 4, name: 4 }),
                                         stateMsg({ n: 2 })), { dir: t.dir });
        assert.equal(r.status, 0, r.stderr);
        assert.match(r.stderr, /2 rows did not fit their table and were discarded/);
        assert.deepEqual(await cols(t.loc), ['id', 'name']);
        assert.deepEqual((await readIcebird(t.loc)).map((x) => Number(x.id)).sort(), [1, 3]);
        const bad = runTarget({ ...t.cfg, schema_drift: 'sometimes' }, lines(schemaMsg('s', A)), { dir: t.dir });
        assert.equal(bad.status, 1);
        assert.match(bad.stderr, /'schema_drift' must be evolve, freeze or discard_row/);
    });
});
