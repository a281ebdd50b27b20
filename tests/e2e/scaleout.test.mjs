// scaleout.test.mjs — horizontal scale-out on one PostgreSQL store (docs/deploy.md): 2 `ivory
// serve` API servers (runner off) and 4 `ivory runner` processes share a private throwaway
// cluster (lib/pgcluster.mjs, because the test restarts it). 200 connectors over 10 tenants
// are triggered in rounds through both API servers. Checked from the outside:
//   - every accepted trigger yields exactly one run (runs per connector = triggers accepted);
//   - no connector ever has two running runs or two job rows (sampled all along with psql);
//   - `kill -9` of a runner mid-sync: its jobs are failed by a survivor after the lease and
//     the connector is rescheduled; the retry loads the rest;
//   - a PostgreSQL restart mid-round: API servers and runners carry on without a restart;
//   - every table holds each source row exactly once, read back with icebird.
//   - no private run directory (decrypted config) is left behind, the killed runner's included.
// Runs in the PostgreSQL pass only (make e2e-pg). ~40 s on a quiet 2-core box (the taps are
// sh + awk, tests/taps/tap-lines). Every wait has a deadline and the background sampler is
// stopped on every exit path, so a failure is reported as one, never as a hung suite.
import assert from 'node:assert/strict';
import { spawn, execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { pgBinaries, startCluster } from './lib/pgcluster.mjs';
import { IVORY, PG_URL, REPO, notBuilt, startServer, tempDir } from './lib/server.mjs';
import { client } from './lib/http.mjs';
import { randomSecret } from './lib/jwt.mjs';
import { ids, newKey, range, registerTap, sleep, tableRows, writeSource } from './lib/runner.mjs';
import { newTenant } from './lib/tenant.mjs';

const TENANTS = Number(process.env.IVORY_SCALE_TENANTS ?? 10), PER_TENANT = 20, RUNNERS = 4;

const skip = notBuilt('serve') || (!PG_URL ? 'PostgreSQL pass only (make e2e-pg)'
    : !pgBinaries() ? 'PostgreSQL server binaries not installed' : false);

// null when psql failed or took over 5 s (the database restarting, a loaded box).
function psqlAsync(url, query) {
    return new Promise((resolve) => {
        execFile('psql', ['-X', '-q', '-At', '-d', url, '-c', query], { timeout: 5000, killSignal: 'SIGKILL' },
                 (err, stdout) => resolve(err ? null : stdout.trim()));
    });
}

describe('scale-out: 2 API servers + 4 runners on one PostgreSQL', { skip }, () => {
    const cleanup = [];
    after(async () => { for (const f of cleanup.reverse()) await f(); });

    test(`${TENANTS * PER_TENANT} connectors, triggers in rounds, kill -9 a runner, restart PostgreSQL`,
         { timeout: 240000 }, async () => {
        const t0 = Date.now();
        // The whole test's budget: each wait below stops at min(its own deadline, this).
        const budgetEnd = t0 + 200000;
        const until = (ms) => Math.min(Date.now() + ms, budgetEnd);
        const say = (m) => console.log(`# scale-out +${((Date.now() - t0) / 1000).toFixed(1)} s (${new Date().toISOString().slice(11, 23)}): ${m}`);
        const pg = await startCluster();
        cleanup.push(() => pg.stop());
        const dir = tempDir('ivory-scale-');
        cleanup.push(() => fs.rmSync(dir, { recursive: true, force: true }));
        fs.mkdirSync(path.join(dir, 'taps'), { recursive: true });
        fs.mkdirSync(path.join(dir, 'tmp'), { recursive: true });
        fs.mkdirSync(path.join(dir, 'io'), { recursive: true });   // the taps' sources (sandbox)
        // tap-lines (sh + awk): hundreds of runs must not pay an interpreter start-up each.
        fs.symlinkSync(path.join(REPO, 'tests', 'taps', 'tap-lines'), path.join(dir, 'taps', 'tap-lines'));
        const key = newKey(), secret = randomSecret();
        const common = {
            IVORY_DB: pg.url, IVORY_DATA_DIR: dir, IVORY_CONFIG_KEY: key.toString('base64'),
            IVORY_TAP_PATH: path.join(dir, 'taps'), TMPDIR: path.join(dir, 'tmp'),
            IVORY_FIRST_RUN_DELAY: '3600', IVORY_POLL_INTERVAL: '0.5', IVORY_RUNNER_LEASE: '3',
            IVORY_MAX_CONCURRENT_RUNS: '16', IVORY_MAX_RUNS_PER_TENANT: '8', IVORY_LOG_LEVEL: 'warn',
            IVORY_TAP_SANDBOX: 'on', IVORY_TAP_WRITABLE_DIRS: path.join(dir, 'io'),
            IVORY_WAREHOUSE_ROOT: path.join(dir, 'wh'),
        };

        // Two API servers, runner off, on the same store and data dir (same master key).
        const api = [];
        for (let i = 0; i < 2; i++) {
            const srv = await startServer({ dir, keepDir: true, secret, env: { ...common, IVORY_SERVE_RUNNER: '0' } });
            srv.key = key;
            api.push(srv);
            cleanup.push(() => srv.stop().catch(() => {}));
        }

        // Four runners, webhooks spread over both API servers.
        const runners = [];
        const startRunner = (i) => {
            const p = spawn(IVORY, ['runner'], {
                env: { PATH: process.env.PATH, HOME: process.env.HOME ?? dir, ...common, IVORY_API_URL: api[i % 2].url },
                stdio: ['ignore', 'ignore', 'pipe'],
            });
            let err = '';
            p.stderr.on('data', (d) => { err = (err + d).slice(-20000); });
            p.exited = new Promise((r) => p.on('exit', r));
            p.err = () => err;
            return p;
        };
        for (let i = 0; i < RUNNERS; i++) runners.push(startRunner(i));
        cleanup.push(async () => {
            for (const p of runners) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
            await Promise.all(runners.map((p) => p.exited));
        });

        // Tenants and connectors, through both servers.
        const tenants = [];
        for (let i = 0; i < TENANTS; i++)
            tenants.push(await newTenant(api[i % 2], { catalog: { warehouse: `file://${dir}/wh` } }));
        const conns = [];
        for (let t = 0; t < TENANTS; t++) {
            const batch = [];
            for (let k = 0; k < PER_TENANT; k++) {
                const src = path.join(dir, 'io', `src-${t}-${k}.jsonl`);
                writeSource(src, 1, 5);
                batch.push(registerTap(api[k % 2], tenants[t], { source: src, pause: 0.3 }, { tap_name: 'tap-lines' })
                    .then((c) => ({ ...c, T: tenants[t], src, triggers: 0 })));
            }
            conns.push(...await Promise.all(batch));
        }
        assert.equal(conns.length, TENANTS * PER_TENANT);
        say(`${conns.length} connectors registered`);

        // The invariant sampler: never two running runs or two job rows for one connector.
        const doubles = [];
        let sampling = true, samples = 0;
        cleanup.push(() => { sampling = false; });   // also when the test fails or times out
        const sampler = (async () => {
            while (sampling) {
                const out = await psqlAsync(pg.url,
                    "SELECT connector_id FROM sync_runs WHERE status = 'running' GROUP BY connector_id"
                    + ' HAVING COUNT(*) > 1 UNION ALL SELECT connector_id FROM runner_jobs'
                    + ' GROUP BY connector_id HAVING COUNT(*) > 1');
                if (out !== null) samples++;
                if (out) doubles.push(out);
                await sleep(150);
            }
        })();

        const trigger = async (list) => {
            const rs = await Promise.all(list.map((c) =>
                c.T.c.post(`/v1/admin/connectors/${c.id}/trigger`, undefined, { timeoutMs: 30000 })
                    .then((r) => ({ c, r })).catch(() => null)));
            // A trigger whose response was lost (connection reset) is not counted; the run
            // count check below would then show one run more than counted and fail loudly.
            for (const x of rs) {
                assert.ok(x, 'trigger request failed');
                assert.equal(x.r.status, 202, `trigger ${x.c.id}: ${x.r.status} ${x.r.text}`);
                x.c.triggers++;
            }
        };
        const idle = async (timeoutMs, verbose = false) => {
            const end = until(timeoutMs);
            for (let i = 0;; i++) {
                const out = await psqlAsync(pg.url,
                    "SELECT (SELECT COUNT(*) FROM sync_runs WHERE status = 'running')"
                    + ' + (SELECT COUNT(*) FROM runner_jobs)'
                    + " + (SELECT COUNT(*) FROM connectors WHERE status = 'active' AND next_run_at <= "
                    + `${Date.now()})`);
                if (out === '0') return;
                if (verbose && i % 20 === 0)
                    say(`busy: ${await psqlAsync(pg.url, "SELECT 'runs ' || string_agg(status || '=' || n, ',') FROM (SELECT status, COUNT(*) AS n FROM sync_runs GROUP BY status) x")}`
                        + ` jobs ${await psqlAsync(pg.url, 'SELECT COUNT(*) FROM runner_jobs')}`);
                if (Date.now() > end) {
                    const st = await psqlAsync(pg.url, "SELECT status, COUNT(*), MIN(error_msg) FROM sync_runs GROUP BY status");
                    const jobs = await psqlAsync(pg.url, 'SELECT runner_id, COUNT(*), MIN(lease_expires_at) FROM runner_jobs GROUP BY runner_id');
                    throw new Error(`not idle within ${timeoutMs} ms (${out}); runs: ${st}; jobs: ${jobs}; now ${Date.now()}\n`
                        + runners.map((p) => `runner ${p.pid}: ${p.err().slice(-3000)}`).join('\n'));
                }
                await sleep(250);
            }
        };
        const latest = async () => {
            const out = await psqlAsync(pg.url,
                'SELECT r.connector_id, r.status FROM sync_runs r WHERE r.id = (SELECT r2.id FROM sync_runs r2'
                + ' WHERE r2.connector_id = r.connector_id ORDER BY started_at DESC, updated_at DESC, id DESC LIMIT 1)');
            return new Map((out ?? '').split('\n').filter(Boolean).map((l) => l.split('|')));
        };
        // Re-triggers connectors whose latest run failed (killed runner, restart) until all
        // completed: the retry must load exactly what is missing.
        const settle = async () => {
            for (let pass = 0; pass < 4; pass++) {
                await idle(60000);
                const st = await latest();
                const failed = conns.filter((c) => st.get(c.id) !== 'completed');
                if (!failed.length) return;
                say(`re-triggering ${failed.length} connectors whose last run failed`);
                await trigger(failed);
            }
            throw new Error('runs still failing after 4 retries');
        };

        // Round 1, with one runner killed (-9) while it holds jobs.
        await trigger(conns);
        say('round 1 triggered');
        // The victim's jobs are read AFTER the kill: a job it finished between a look and the
        // kill is not a dead runner's job (reading them before made the test flaky under load).
        const victim = runners[0];
        const victimHolds = async () => Number(await psqlAsync(pg.url,
            `SELECT COUNT(*) FROM runner_jobs WHERE runner_id LIKE '%:${victim.pid}:%'`) ?? 0);
        for (let i = 0; i < 100 && !(await victimHolds()); i++) await sleep(50);
        victim.kill('SIGKILL');
        await victim.exited;
        const leftJobs = await psqlAsync(pg.url,
            `SELECT run_id FROM runner_jobs WHERE runner_id LIKE '%:${victim.pid}:%'`);
        const victimJobs = (leftJobs ?? '').split('\n').filter(Boolean);
        assert.ok(victimJobs.length > 0, 'the killed runner left no job (it held none at the kill)');
        say(`runner ${victim.pid} killed holding ${victimJobs.length} jobs`);
        await idle(60000, true);
        say('idle after the kill');
        // Each job it left was taken over: its run failed ("stopped renewing its lease") and the
        // connector rescheduled — or, when its webhook got through just before the kill (the job
        // row not yet deleted), the run stays completed: the takeover's replay changes nothing.
        const inList = victimJobs.map((r) => `'${r}'`).join(',');
        const victimRuns = await psqlAsync(pg.url,
            "SELECT r.status || ':' || (c.next_run_at IS NOT NULL) || ':' || (COALESCE(r.error_msg, '') LIKE '%stopped renewing its lease%')"
            + ` FROM sync_runs r JOIN connectors c ON c.id = r.connector_id WHERE r.id IN (${inList})`);
        assert.ok(victimRuns, 'reading the dead runner\'s runs');
        const outcomes = victimRuns.split('\n');
        assert.equal(outcomes.length, victimJobs.length, `a dead runner's runs: ${victimRuns}`);
        for (const line of outcomes)
            assert.ok(line === 'failed:true:true' || line === 'completed:true:false', `a dead runner's run: ${victimRuns}`);
        assert.ok(outcomes.includes('failed:true:true'), `no run of the dead runner was failed by a survivor: ${victimRuns}`);
        runners[0] = startRunner(0);       // a replacement, as an operator's supervisor would
        await settle();
        say('round 1 settled');

        // Round 2: new source rows, triggers through both servers, PostgreSQL restarted mid-round.
        for (const c of conns) writeSource(c.src, 6, 8);
        await trigger(conns);
        await sleep(400);
        pg.restart();
        say('PostgreSQL restarted');
        await settle();
        say('round 2 settled');
        sampling = false;
        await sampler;

        // Exactly one run per accepted trigger, never two at once, each row exactly once.
        const counts = await psqlAsync(pg.url, 'SELECT connector_id, COUNT(*) FROM sync_runs GROUP BY connector_id');
        const byConn = new Map(counts.split('\n').map((l) => l.split('|')));
        for (const c of conns)
            assert.equal(Number(byConn.get(c.id)), c.triggers, `connector ${c.id}: runs vs triggers`);
        assert.ok(samples > 10, `the sampler ran (${samples} samples)`);
        assert.deepEqual(doubles, [], 'a connector had two running runs or job rows');
        const want = range(1, 8);
        for (let i = 0; i < conns.length; i += 20) {
            await Promise.all(conns.slice(i, i + 20).map(async (c) => {
                const got = ids(await tableRows(api[0], c.T, c.iomete_table));
                assert.deepEqual(got, want, `table of ${c.id}`);
            }));
        }
        // Both API servers still answer after the restart, with the same view.
        for (const srv of api) {
            const r = await client(srv.url, tenants[0].token).get('/v1/admin/connectors');
            assert.equal(r.status, 200);
            assert.equal(srv.proc.exitCode, null, 'an API server exited');
        }
        for (const p of runners.slice(1))
            assert.equal(p.exitCode, null, `a runner exited: ${p.err()}`);
        // Private run directories: the killed runner's were swept by the survivor that took its
        // jobs over (or by its replacement at start); every finished run removed its own.
        const left = fs.readdirSync(path.join(dir, 'tmp')).filter((f) => f.startsWith('ivory-run-'));
        assert.deepEqual(left, [], 'run directories left behind');
        const total = conns.reduce((n, c) => n + c.triggers, 0);
        console.log(`# scale-out: ${conns.length} connectors, ${total} runs, ${samples} samples, `
            + `${((Date.now() - t0) / 1000).toFixed(1)} s`);
    });
});
