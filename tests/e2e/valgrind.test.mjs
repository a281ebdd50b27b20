// valgrind.test.mjs — the memory gate on the hot paths: the real `./ivory` (release build) under
// valgrind memcheck (--error-exitcode=99, definite + indirect leaks are errors):
//   (a) `ivory target-iceberg` on a generated ~20k-row Singer stream with every type of the
//       mapping (integer, number, boolean, string, date-time, date, object, array, a union),
//       two streams, a schema change mid-stream and several commits, then a second run on the
//       same tables that ends on a bad line (the error path);
//   (b) `ivory serve` (API + scheduler + runner) doing a real triggered sync of the fixture tap
//       into a hadoop catalog, stopped with SIGTERM.
// Each run must exit with its normal status (not 99), valgrind's log must show no error, and the
// outputs are read back (rows, snapshots, runs API) so the runs did real work. Skips, saying so,
// only when valgrind is not installed. `make valgrind` runs this file alone.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { ALL_TYPES_PROPS, IVORY, readIcebird, snapshots, tempDir } from './lib/iceberg_read.mjs';
import { ids, range, registerTap, runnerTenant, startRunnerServer, tableRows, tableSnapshots, triggerAndWait } from './lib/runner.mjs';

const hasValgrind = spawnSync('valgrind', ['--version'], { encoding: 'utf8' }).status === 0;
// The only reason to skip: without valgrind there is no gate to run (a missing ./ivory fails).
const skip = hasValgrind ? false : 'valgrind is not installed (./dev.sh installs it): memory gate skipped';

// valgrind options; the log goes to a file per process (%p) so a report never mixes with stdout.
function vgArgs(logDir) {
    return ['--error-exitcode=99', '--leak-check=full', '--errors-for-leak-kinds=definite,indirect',
        '--show-leak-kinds=definite,indirect', '--child-silent-after-fork=yes', '--num-callers=30',
        `--log-file=${path.join(logDir, 'vg.%p.log')}`];
}

// Every valgrind log in logDir: [{file, text, errors}] where errors is the ERROR SUMMARY count.
function vgLogs(logDir) {
    return fs.readdirSync(logDir).filter((f) => f.startsWith('vg.')).map((f) => {
        const text = fs.readFileSync(path.join(logDir, f), 'utf8');
        const m = /ERROR SUMMARY: (\d+) errors/.exec(text);
        return { file: f, text, errors: m ? Number(m[1]) : null };
    });
}

function assertClean(logDir, what) {
    const logs = vgLogs(logDir);
    assert.ok(logs.length >= 1, `${what}: no valgrind log written`);
    for (const l of logs) {
        assert.notEqual(l.errors, null, `${what}: valgrind log ${l.file} has no ERROR SUMMARY:\n${l.text}`);
        assert.equal(l.errors, 0, `${what}: valgrind reported errors:\n${l.text}`);
    }
}

// ---- (a) target-iceberg ---------------------------------------------------------------------
const N = 20000;
const PROPS = { ...ALL_TYPES_PROPS, either: { type: ['string', 'integer'] } };
const schema = (stream, props) => JSON.stringify({ type: 'SCHEMA', stream, key_properties: ['id'], schema: { type: 'object', properties: props } });
const state = (v) => JSON.stringify({ type: 'STATE', value: v });
function row(i) {
    if (i % 97 === 0) return { id: i, either: i };   // optional columns missing -> null
    return {
        id: i, amount: i % 5 === 0 ? null : i * 1.25 - 7, ok: i % 3 === 0 ? null : i % 2 === 0,
        name: i % 11 === 0 ? 'üñíçødé 日本語 🎉 "q" \\ ' + i : `name-${i}`,
        ts: new Date(Date.UTC(2024, 0, 1) + i * 61000).toISOString(),
        day: new Date(Date.UTC(2020, 0, 1) + (i % 3000) * 86400000).toISOString().slice(0, 10),
        obj: { k: i, nested: { a: [i, 'x'], b: null } }, arr: i % 7 === 0 ? [] : [i, `s${i}`, { t: true }],
        either: i % 2 ? `e${i}` : i,
    };
}
const rec = (stream, r) => JSON.stringify({ type: 'RECORD', stream, record: r });

// Two streams interleaved, STATE every 2,500 rows, batch_rows 5,000 -> several commits per
// table; at half way stream "b" gains a column (schema evolution inside the run).
function input() {
    const out = [schema('a', PROPS), schema('b', PROPS)];
    for (let i = 1; i <= N; i++) {
        const s = i % 4 === 0 ? 'b' : 'a';
        out.push(rec(s, s === 'b' && i > N / 2 ? { ...row(i), extra: `x${i}` } : row(i)));
        if (i === N / 2) out.push(schema('b', { ...PROPS, extra: { type: ['null', 'string'] } }));
        if (i % 2500 === 0) out.push(state({ n: i }));
    }
    return out.join('\n') + '\n';
}

function runTargetVg(dir, logDir, cfg, stdin) {
    const cfgPath = path.join(dir, `cfg-${process.hrtime.bigint()}.json`);
    fs.writeFileSync(cfgPath, JSON.stringify(cfg));
    const t0 = Date.now();
    const r = spawnSync('valgrind', [...vgArgs(logDir), IVORY, 'target-iceberg', '--config', cfgPath], {
        input: stdin, encoding: 'utf8', timeout: 120000, maxBuffer: 1 << 26,
    });
    return { status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr, ms: Date.now() - t0 };
}

describe('valgrind: ivory target-iceberg', { skip }, () => {
    test('~20k rows, every type, two streams, schema change, several commits; then a failing run', async () => {
        const dir = tempDir('ivory-vg-target-');
        const cfg = { catalog_type: 'hadoop', warehouse: `file://${dir}/wh`, namespace: 'ns', batch_rows: 5000 };
        const log1 = fs.mkdtempSync(path.join(dir, 'vg1-'));
        const r = runTargetVg(dir, log1, cfg, input());
        assert.equal(r.status, 0, `exit ${r.status} ${r.signal ?? ''} (99 = valgrind errors):\n${r.stderr}`);
        assertClean(log1, 'target-iceberg');
        const states = r.stdout.trim().split('\n').map((l) => JSON.parse(l).n);
        assert.deepEqual(states, [5000, 10000, 15000, 20000], 'one STATE echoed per commit');
        const a = await readIcebird({ dir: path.join(dir, 'wh', 'ns', 'a') });
        const b = await readIcebird({ dir: path.join(dir, 'wh', 'ns', 'b') });
        assert.equal(a.length + b.length, N);
        assert.deepEqual(b.map((x) => Number(x.id)).sort((p, q) => p - q), range(1, N / 4).map((i) => i * 4));
        const b9 = b.find((x) => Number(x.id) === 20000);
        assert.equal(b9.extra, 'x20000');
        assert.equal(b9.obj, JSON.stringify(row(20000).obj));
        const snapsA = await snapshots({ dir: path.join(dir, 'wh', 'ns', 'a') });
        assert.equal(snapsA.filter((s) => s.summary.operation === 'append').length, 4, 'one append per commit');
        console.log(`valgrind target-iceberg: ${N} rows in ${r.ms} ms`);

        // Second run on the same tables: a few rows, then a line that is not JSON -> exit 1,
        // nothing committed, and still no valgrind error on the error path.
        const log2 = fs.mkdtempSync(path.join(dir, 'vg2-'));
        const bad = [schema('a', PROPS), rec('a', row(N + 1)), rec('a', row(N + 2)), '{not json'].join('\n') + '\n';
        const r2 = runTargetVg(dir, log2, cfg, bad);
        assert.equal(r2.status, 1, `exit ${r2.status} (99 = valgrind errors):\n${r2.stderr}`);
        assert.match(r2.stderr, /line 4/);
        assertClean(log2, 'target-iceberg (bad input)');
        const a2 = await readIcebird({ dir: path.join(dir, 'wh', 'ns', 'a') });
        assert.equal(a2.length, a.length, 'the failed run committed nothing');
    });
});

// ---- (b) ivory serve: one real runner sync ----------------------------------------------------
describe('valgrind: ivory serve runner sync', { skip }, () => {
    test('trigger -> tap-fixture run completes -> rows in the table; SIGTERM; valgrind clean', async () => {
        const logDir = tempDir('ivory-vg-serve-');
        const t0 = Date.now();
        const srv = await startRunnerServer({ wrap: ['valgrind', ...vgArgs(logDir)], startTimeoutMs: 60000 });
        let code;
        try {
            const T = await runnerTenant(srv);
            const conn = await registerTap(srv, T, { count: 300, state_every: 100 });
            const rs = await triggerAndWait(T, conn.id, { timeoutMs: 60000 });
            assert.equal(rs[0].status, 'completed', JSON.stringify(rs[0]));
            assert.equal(rs[0].rows_loaded, 300);
            assert.deepEqual(ids(await tableRows(srv, T, conn.iomete_table)), range(1, 300));
            assert.ok((await tableSnapshots(srv, T, conn.iomete_table)).length >= 1);
            // The typed transform path (mappings: expressions, coercion, typed rows into the
            // loader's batches) under valgrind too.
            const mapped = await registerTap(srv, T, { count: 300, state_every: 100 });
            const m = (f, c, t, fn = null) => ({ source_stream: 'items', source_field: f, target_column: c,
                                                 target_type: t, transform_fn: fn });
            const put = await T.c.put(`/v1/admin/connectors/${mapped.id}/mappings`, { mappings: [
                m('id', 'id', 'long'), m('name', 'label', 'string', "value.upper() + f'/{row[\"id\"]:04d}'"),
                m('id', 'half', 'double', 'value / 2'), m('name', 'bad', 'int', 'int(value[4:]) if value[-1] != \"7\" else value')] });
            assert.equal(put.status, 200, put.text);
            const ms = await triggerAndWait(T, mapped.id, { timeoutMs: 60000 });
            assert.equal(ms[0].status, 'completed', JSON.stringify(ms[0]));
            assert.equal(ms[0].transform_errors, 30, 'ids ending in 7 fail the int coercion');
            assert.equal(ms[0].rows_loaded, 270);
            const rows = await tableRows(srv, T, mapped.iomete_table);
            assert.equal(rows.length, 270);
            const r12 = rows.find((r) => Number(r.id) === 12);
            assert.equal(r12.label, 'ROW-12/0012');
            assert.equal(r12.half, 6);
            assert.equal(Number(r12.bad), 12);
        } finally {
            code = await srv.stop({ timeoutMs: 60000 });
        }
        assert.equal(code, 0, `ivory serve under valgrind exited ${code} (99 = valgrind errors):\n${srv.stderr()}`);
        assertClean(logDir, 'ivory serve');
        fs.rmSync(logDir, { recursive: true, force: true });
        console.log(`valgrind serve sync: ${Date.now() - t0} ms`);
    });
});
