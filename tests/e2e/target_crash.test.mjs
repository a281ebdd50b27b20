// target_crash.test.mjs — `ivory target-iceberg` under concurrency and crashes (docs/singer.md):
// two writers appending to one table at once (both commits survive, optimistic retry), and
// `kill -9` at random points of a large write, repeated: the table always reads back with
// icebird, never holds a partial commit, and its rows are exactly the prefix named by the STATE
// in its latest snapshot.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { describe, test } from 'node:test';
import {
    IVORY, lines, readDuckdb, readIcebird, recordMsg, runTarget, schemaMsg, snapshots, spawnTarget,
    stateMsg, tableDir, tempDir,
} from './lib/iceberg_read.mjs';

const skip = fs.existsSync(IVORY) ? false : 'ivory not built';
const PROPS = {
    id: { type: 'integer' },
    name: { type: ['null', 'string'] },
    amount: { type: ['null', 'number'] },
    at: { type: ['null', 'string'], format: 'date-time' },
};
const row = (i) => ({ id: i, name: `name-${i}-${'p'.repeat(i % 37)}`, amount: i / 4, at: new Date(1.7e12 + i * 1000).toISOString() });

function waitExit(child) {
    if (child.exitCode !== null || child.signalCode !== null)
        return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
    return new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
}
function collect(stream) {
    let s = '';
    stream.setEncoding('utf8');
    stream.on('data', (d) => { s += d; });
    return () => s;
}

describe('target-iceberg: concurrency and crashes', { skip }, () => {
    test('two writers append to one table at once: both commits survive', async () => {
        const dir = tempDir();
        const cfg = { catalog_type: 'hadoop', warehouse: `file://${dir}/wh`, namespace: 'ns', table: 't', batch_rows: 50 };
        // create the table first so both writers race on commits, not on creation
        let r = runTarget(cfg, lines(schemaMsg('s', PROPS, ['id']), recordMsg('s', row(0)), stateMsg({ w: 'init' })), { dir });
        assert.equal(r.status, 0, r.stderr);
        const feed = (from, tag) => {
            const msgs = [schemaMsg('s', PROPS, ['id'])];
            for (let i = from; i < from + 400; i++) {
                msgs.push(recordMsg('s', row(i)));
                if (i % 50 === 49) msgs.push(stateMsg({ w: tag, i }));
            }
            return lines(msgs);
        };
        const a = spawnTarget(cfg, { dir });
        const b = spawnTarget(cfg, { dir });
        const outA = collect(a.stdout), outB = collect(b.stdout), errA = collect(a.stderr), errB = collect(b.stderr);
        a.stdin.end(feed(1, 'a'));
        b.stdin.end(feed(1001, 'b'));
        const [ea, eb] = await Promise.all([waitExit(a), waitExit(b)]);
        assert.equal(ea.code, 0, errA());
        assert.equal(eb.code, 0, errB());
        const loc = { dir: tableDir(`${dir}/wh`, 'ns', 't') };
        const ids = (await readIcebird(loc)).map((x) => Number(x.id)).sort((x, y) => x - y);
        const expect = [0, ...Array.from({ length: 400 }, (_, i) => 1 + i), ...Array.from({ length: 400 }, (_, i) => 1001 + i)];
        assert.deepEqual(ids, expect);
        const duck = await readDuckdb(loc);
        assert.equal(duck.rows.length, 801);
        // every STATE either writer printed is the summary of some snapshot
        const states = new Set((await snapshots(loc)).map((s) => s.summary['ivory.state']));
        for (const l of [...outA().trim().split('\n'), ...outB().trim().split('\n')]) assert.ok(states.has(l), l);
        assert.equal(outA().trim().split('\n').length, 8);
        assert.equal(outB().trim().split('\n').length, 8);
    });

    test('kill -9 at random points: always readable, never a partial commit (10 runs)', async (t) => {
        const N = 60000, EVERY = 500;
        const msgs = [schemaMsg('big', PROPS, ['id'])];
        for (let i = 0; i < N; i++) {
            msgs.push(recordMsg('big', row(i)));
            if ((i + 1) % EVERY === 0) msgs.push(stateMsg({ n: i + 1 }));
        }
        const input = lines(msgs);
        // one clean run to learn how long a full write takes here
        const dir0 = tempDir();
        const cfg0 = { catalog_type: 'hadoop', warehouse: `file://${dir0}/wh`, namespace: 'ns', batch_rows: 5000 };
        const t0 = Date.now();
        const r0 = runTarget(cfg0, input, { dir: dir0 });
        const full = Date.now() - t0;
        assert.equal(r0.status, 0, r0.stderr);
        t.diagnostic(`full write of ${N} rows: ${full} ms`);
        let seenPartial = 0;
        for (let k = 0; k < 10; k++) {
            const dir = tempDir();
            const cfg = { ...cfg0, warehouse: `file://${dir}/wh` };
            const child = spawnTarget(cfg, { dir });
            const out = collect(child.stdout);
            child.stdin.on('error', () => {});
            child.stdin.end(input);
            const delay = Math.floor(Math.random() * full * 1.1);
            await new Promise((res) => setTimeout(res, delay));
            const exited = waitExit(child);
            child.kill('SIGKILL');
            await exited;
            const loc = { dir: tableDir(`${dir}/wh`, 'ns', 'big') };
            if (!fs.existsSync(`${loc.dir}/metadata/version-hint.text`)) {
                assert.equal(out().trim(), '', 'a STATE was printed but no table exists');
                continue;
            }
            const snaps = await snapshots(loc);
            const last = snaps.filter((s) => s.summary['ivory.state']).at(-1);
            const n = last ? JSON.parse(last.summary['ivory.state']).n : 0;
            const ids = (await readIcebird(loc)).map((x) => Number(x.id)).sort((x, y) => x - y);
            assert.equal(ids.length, n, `run ${k} (killed after ${delay} ms): rows vs committed state`);
            for (let i = 0; i < ids.length; i++) if (ids[i] !== i) assert.fail(`run ${k}: row ${i} is id ${ids[i]}`);
            // every STATE the target printed before dying is committed (printed only after commit)
            const printed = out().trim().split('\n').filter(Boolean);
            if (printed.length) assert.ok(JSON.parse(printed.at(-1)).n <= n);
            if (n > 0 && n < N) seenPartial++;
        }
        // informative: how many kills landed mid-write (depends on timing)
        t.diagnostic(`kills that landed between commits: ${seenPartial}/10`);
    });
});
