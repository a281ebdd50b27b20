// runner_table_show.test.mjs — `ivory table show --rows` (the walk-through's way of seeing the
// rows, decoded by src/lake/scan.c) agrees with icebird, the independent reader, on a table
// with several snapshots and data files, a schema change, nulls, dictionary-encoded strings,
// dates, timestamps, booleans and doubles.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import {
    IVORY, lines, readIcebird, recordMsg, runTarget, schemaMsg, stateMsg, tableDir, tempDir,
} from './lib/iceberg_read.mjs';
import { notBuilt } from './lib/server.mjs';

const ms = (v) => (v === null || v === undefined ? null : v instanceof Date ? v.getTime() : Date.parse(v));
const norm = (r) => ({
    id: Number(r.id), name: r.name ?? null, score: r.score === null || r.score === undefined ? null : Number(r.score),
    ok: r.ok ?? null, day: ms(r.day), at: ms(r.at), extra: r.extra ?? null,
});
const byId = (a, b) => a.id - b.id;

describe('ivory table show --rows', { skip: notBuilt('table') }, () => {
    test('rows match icebird across snapshots, files and a schema change', async () => {
        const dir = tempDir();
        const cfg = { catalog_type: 'hadoop', warehouse: `file://${dir}/wh`, namespace: 'ns', batch_rows: 150 };
        const props = {
            id: { type: 'integer' }, name: { type: ['null', 'string'] }, score: { type: ['null', 'number'] },
            ok: { type: ['null', 'boolean'] }, day: { type: ['null', 'string'], format: 'date' },
            at: { type: ['null', 'string'], format: 'date-time' },
        };
        const msgs = [schemaMsg('t', props, ['id'])];
        const names = ['alpha', 'beta', 'gamma', 'ünïcödé'];
        for (let i = 1; i <= 400; i++) {
            if (i === 250) msgs.push(schemaMsg('t', { ...props, extra: { type: ['null', 'string'] } }, ['id']));
            const rec = {
                id: i, name: i % 7 === 0 ? null : names[i % 4], score: i % 5 === 0 ? null : i * 1.25 - 100,
                ok: i % 3 === 0 ? null : i % 2 === 0, day: i % 11 === 0 ? null : `2024-0${1 + (i % 9)}-1${i % 10}`,
                at: `2026-03-01T10:${String(i % 60).padStart(2, '0')}:05.123456Z`,
            };
            if (i >= 250) rec.extra = i % 2 ? `x${i}` : null;
            msgs.push(recordMsg('t', rec));
            if (i % 50 === 0) msgs.push(stateMsg({ i }));
        }
        const r = runTarget(cfg, lines(msgs), { dir });
        assert.equal(r.status, 0, r.stderr);
        const cfgPath = path.join(dir, 'show.json');
        fs.writeFileSync(cfgPath, JSON.stringify(cfg));
        const s = spawnSync(IVORY, ['table', 'show', '--config', cfgPath, '--rows', '1000', 'ns.t'],
            { encoding: 'utf8', maxBuffer: 1 << 26 });
        assert.equal(s.status, 0, s.stderr);
        const view = JSON.parse(s.stdout);
        assert.ok(view.snapshots.length >= 3, 'several snapshots');
        const ours = view.rows.map(norm).sort(byId);
        const ice = (await readIcebird({ dir: tableDir(`${dir}/wh`, 'ns', 't') })).map(norm).sort(byId);
        assert.equal(ours.length, 400);
        assert.deepEqual(ours, ice);
        assert.equal(view.rows.find((x) => Number(x.id) === 1).at, '2026-03-01T10:01:05.123456Z');

        const few = spawnSync(IVORY, ['table', 'show', '--config', cfgPath, '--rows', '7', 'ns.t'], { encoding: 'utf8' });
        assert.equal(JSON.parse(few.stdout).rows.length, 7);
        const none = spawnSync(IVORY, ['table', 'show', '--config', cfgPath, '--rows', '0', 'ns.t'], { encoding: 'utf8' });
        assert.equal(JSON.parse(none.stdout).rows, undefined);
        fs.rmSync(dir, { recursive: true, force: true });
    });
});
