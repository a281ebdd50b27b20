// pg_outage.test.mjs — PostgreSQL goes away under running Ivory processes and comes back
// (docs/deploy.md "Database restarts"): one `ivory serve` (API only) and one `ivory runner`
// on a private throwaway cluster (lib/pgcluster.mjs, because the test stops it). Checked:
//   - while the database is down, API requests that need the store answer 503
//     `store_unavailable` with a detail and Retry-After, within IVORY_DB_RECONNECT_WAIT, and
//     /readyz says 503 while /healthz (liveness) stays 200;
//   - once it is back, the same processes serve again without a restart;
//   - the runner's LISTEN connection came back: with a 60 s poll interval, a trigger after
//     the restart still starts within seconds (only a NOTIFY can wake it that fast);
//   - nothing lost: every source row is in the table exactly once (icebird).
// PostgreSQL pass only (make e2e-pg); ~15 s.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { pgBinaries, startCluster } from './lib/pgcluster.mjs';
import { IVORY, PG_URL, REPO, notBuilt, startServer, tempDir } from './lib/server.mjs';
import { randomSecret } from './lib/jwt.mjs';
import { ids, newKey, range, registerTap, runs, sleep, tableRows, waitRuns, writeSource } from './lib/runner.mjs';
import { newTenant } from './lib/tenant.mjs';

const skip = notBuilt('serve') || (!PG_URL ? 'PostgreSQL pass only (make e2e-pg): the test stops its database'
    : !pgBinaries() ? 'PostgreSQL server binaries not installed' : false);

describe('PostgreSQL outage and restart under a running API server and runner', { skip }, () => {
    const cleanup = [];
    after(async () => { for (const f of cleanup.reverse()) await f(); });

    test('503 with a detail while it is down, then everything resumes; LISTEN reconnects; nothing lost',
         { timeout: 90000 }, async () => {
        const pg = await startCluster({ maxConnections: 60 });
        cleanup.push(() => pg.stop());
        const dir = tempDir('ivory-pgout-');
        cleanup.push(() => fs.rmSync(dir, { recursive: true, force: true }));
        for (const d of ['taps', 'tmp', 'io']) fs.mkdirSync(path.join(dir, d), { recursive: true });
        fs.symlinkSync(path.join(REPO, 'tests', 'taps', 'tap-lines'), path.join(dir, 'taps', 'tap-lines'));
        const key = newKey(), secret = randomSecret();
        const common = {
            IVORY_DB: pg.url, IVORY_DATA_DIR: dir, IVORY_CONFIG_KEY: key.toString('base64'),
            IVORY_TAP_PATH: path.join(dir, 'taps'), TMPDIR: path.join(dir, 'tmp'),
            IVORY_FIRST_RUN_DELAY: '3600', IVORY_DB_RECONNECT_WAIT: '2', IVORY_LOG_LEVEL: 'info',
            IVORY_TAP_SANDBOX: 'on', IVORY_TAP_WRITABLE_DIRS: path.join(dir, 'io'),
            IVORY_WAREHOUSE_ROOT: path.join(dir, 'wh'),
        };
        const api = await startServer({ dir, keepDir: true, secret, env: { ...common, IVORY_SERVE_RUNNER: '0' } });
        api.key = key;
        cleanup.push(() => api.stop().catch(() => {}));
        // A 60 s poll: a run that starts within seconds of a trigger was woken by NOTIFY.
        const runner = spawn(IVORY, ['runner'], {
            env: { PATH: process.env.PATH, HOME: process.env.HOME ?? dir, ...common,
                   IVORY_API_URL: api.url, IVORY_POLL_INTERVAL: '60' },
            stdio: ['ignore', 'ignore', 'pipe'],
        });
        let runnerLog = '';
        runner.stderr.on('data', (d) => { runnerLog = (runnerLog + d).slice(-20000); });
        const runnerExited = new Promise((r) => runner.on('exit', r));
        cleanup.push(async () => {
            if (runner.exitCode === null && runner.signalCode === null) runner.kill('SIGKILL');
            await runnerExited;
        });

        const T = await newTenant(api, { catalog: { warehouse: `file://${dir}/wh` } });
        const src = path.join(dir, 'io', 'src.jsonl');
        writeSource(src, 1, 20);
        const conn = await registerTap(api, T, { source: src }, { tap_name: 'tap-lines' });
        await sleep(500);   // the runner's first poll is behind it: only NOTIFY wakes it now

        // Triggered, started within seconds (the poll is 60 s): measured from the trigger.
        const triggerAndTime = async () => {
            const before = (await runs(T, conn.id)).length;
            const t0 = Date.now();
            const t = await T.c.post(`/v1/admin/connectors/${conn.id}/trigger`);
            assert.equal(t.status, 202, t.text);
            const rs = await waitRuns(T, conn.id, before + 1, { timeoutMs: 30000 });
            const ms = Math.max(0, Date.parse(rs[0].started_at) - t0);   // started_at has whole seconds
            assert.equal(rs[0].status, 'completed', JSON.stringify(rs[0]));
            assert.ok(ms < 10000, `the run started ${ms} ms after its trigger: the runner was not woken by NOTIFY`);
            return ms;
        };
        const first = await triggerAndTime();

        // The database goes away.
        pg.pause();
        const t1 = Date.now();
        const down = await T.c.get('/v1/admin/connectors');
        const waited = Date.now() - t1;
        assert.equal(down.status, 503, down.text);
        assert.equal(down.json.error, 'store_unavailable');
        assert.match(down.json.detail, /store/);
        assert.equal(down.headers.get('retry-after'), '1');
        assert.ok(waited < 10000, `a request during the outage took ${waited} ms (IVORY_DB_RECONNECT_WAIT=2)`);
        const trig = await T.c.post(`/v1/admin/connectors/${conn.id}/trigger`);
        assert.equal(trig.status, 503, trig.text);
        assert.equal((await T.c.get('/readyz')).status, 503);
        assert.equal((await T.c.get('/healthz')).status, 200, 'liveness does not depend on the database');

        // Back: the same processes serve again, no restart.
        pg.resume();
        const end = Date.now() + 30000;
        let back;
        while ((back = await T.c.get('/v1/admin/connectors')).status !== 200) {
            assert.ok(Date.now() < end, `the API did not recover within 30 s: ${back.status} ${back.text}`);
            await sleep(200);
        }
        assert.equal((await T.c.get('/readyz')).status, 200);
        writeSource(src, 21, 30);
        await sleep(500);   // the runner's reconnect wake-up (one poll) is behind it
        const second = await triggerAndTime();

        const got = ids(await tableRows(api, T, conn.iomete_table));
        assert.deepEqual(got, range(1, 30), 'every row exactly once');
        assert.equal(api.proc.exitCode, null, 'the API server exited');
        assert.equal(runner.exitCode, null, `the runner exited: ${runnerLog.slice(-2000)}`);
        assert.match(runnerLog, /reconnected to PostgreSQL/);
        console.log(`# pg outage: trigger -> start <= ${first} ms before, <= ${second} ms after the restart (1 s resolution); `
            + `a request during the outage answered 503 in ${waited} ms`);
    });
});
