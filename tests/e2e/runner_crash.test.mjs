// runner_crash.test.mjs — exactly once across crashes (docs/singer.md): `ivory serve` (API +
// runner) is killed with SIGKILL at random moments while a long sync commits checkpoints,
// then restarted on the same store and warehouse. The dead runner's job is taken over when
// its lease expires, the next run reconciles the bookmark with the STATE committed in the
// table, and in the end every source row is in the table exactly once. The decrypted config
// file of a killed run does not survive the restart either.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { notBuilt, tempDir } from './lib/server.mjs';
import { client } from './lib/http.mjs';
import {
    ids, pidAlive, readTapPid, range, registerTap, runnerTenant, runs, sleep, startRunnerServer, tableRows,
    tableSnapshots, waitRuns, writeSource,
} from './lib/runner.mjs';

const PER_ROUND = 500;   // rows appended to the source before each run, so every run has work
const KILLS = Number(process.env.IVORY_CRASH_KILLS ?? 6);
const ENV = { IVORY_CHECKPOINT_ROWS: '100', IVORY_CHECKPOINT_SECONDS: '0.2', IVORY_RUNNER_LEASE: '2' };

describe('runner: kill -9 at random moments, then restart', { skip: notBuilt('serve') }, () => {
    const dir = tempDir('ivory-crash-');
    let srv;
    after(async () => {
        if (srv) await srv.stop();
        if (!process.env.IVORY_E2E_KEEP) fs.rmSync(dir, { recursive: true, force: true });
    });

    test(`every row exactly once after ${KILLS} crashes`, { timeout: 240000 }, async () => {
        srv = await startRunnerServer({ dir, keepDir: true, env: ENV });
        const key = srv.key, secret = srv.secret;
        const T = await runnerTenant(srv);
        const src = path.join(dir, 'io', 'source.jsonl');
        let rows = 0;
        const grow = () => { writeSource(src, rows + 1, rows + PER_ROUND); rows += PER_ROUND; };
        grow();
        const conn = await registerTap(srv, T, { source: src, state_every: 20, sleep: 0.004 });
        const restart = async () => {
            srv = await startRunnerServer({ dir, keepDir: true, key, secret, env: ENV });
            T.c = client(srv.url, T.token);
        };
        // Waits until no run is 'running' (the dead runner's job was reaped), then triggers.
        const kick = async () => {
            const end = Date.now() + 60000;   // lease 2 s; generous for a loaded CI box
            while ((await runs(T, conn.id)).some((r) => r.status === 'running')) {
                if (Date.now() > end)
                    throw new Error(`a run stayed running after its runner died; server log:\n${srv.stderr().slice(-4000)}`);
                await sleep(100);
            }
            const d = (await T.c.get(`/v1/admin/connectors/${conn.id}`)).json;
            if (d.status === 'error') assert.equal((await T.c.post(`/v1/admin/connectors/${conn.id}/resume`)).status, 200);
            const t = await T.c.post(`/v1/admin/connectors/${conn.id}/trigger`);
            assert.equal(t.status, 202, t.text);
        };

        const delays = [];
        for (let k = 0; k < KILLS; k++) {
            await kick();
            const delay = 300 + Math.floor(Math.random() * 2000);
            delays.push(delay);
            await sleep(delay);
            srv.proc.kill('SIGKILL');
            await srv.exited;
            await restart();
            grow();
        }
        await kick();
        let rs;
        const end = Date.now() + 120000;
        for (;;) {
            rs = await waitRuns(T, conn.id, (await runs(T, conn.id)).length, { timeoutMs: 60000 });
            if (rs[0].status === 'completed') break;
            if (Date.now() > end) throw new Error(`no completed run: ${JSON.stringify(rs.slice(0, 3))}`);
            await kick();
        }
        const got = ids(await tableRows(srv, T, conn.iomete_table));
        assert.equal(got.length, rows, `rows in the table (kill delays ${delays.join(',')} ms)`);
        assert.deepEqual(got, range(1, rows), 'every row exactly once');
        const runIds = new Set((await tableSnapshots(srv, T, conn.iomete_table))
            .filter((s) => Number(s.summary['added-records'] ?? 0) > 0)
            .map((s) => s.summary['ivory.run-id']));
        assert.ok(runIds.size >= 2, `data came from ${runIds.size} run(s): the crashes interrupted loading`);
        const d = (await T.c.get(`/v1/admin/connectors/${conn.id}`)).json;
        assert.deepEqual(d.tap_state, { bookmarks: { items: { last_id: rows } } });
        // Run directories are named ivory-run-<owner pid>-<start>-XXXXXX (docs/runner.md): one
        // left behind says whose it was, so a failure tells a missed sweep from a live run.
        const left = fs.readdirSync(path.join(dir, 'tmp')).filter((f) => f.startsWith('ivory-run-'))
            .map((f) => `${f} (owner ${f.split('-')[2] === String(srv.proc.pid) ? 'the running server' : 'a killed server'}: `
                 + `${fs.readdirSync(path.join(dir, 'tmp', f)).join(',') || 'empty'})`);
        assert.deepEqual(left, [], 'run directories (with decrypted configs) of killed runs were removed');
    });
});

describe('runner: a silent tap left by a killed runner', { skip: notBuilt('serve') }, () => {
    test('is killed when its job is taken over on the same host', { timeout: 60000 }, async () => {
        const dir = tempDir('ivory-orphan-');
        // Unsandboxed: a sandboxed tap dies with its runner (bubblewrap --die-with-parent,
        // tests/e2e/adversarial_sandbox.test.mjs); this is the recovery path without it.
        const ENV1 = { IVORY_RUNNER_LEASE: '1', IVORY_TAP_SANDBOX: 'off' };
        let s = await startRunnerServer({ dir, keepDir: true, env: ENV1 });
        try {
            const key = s.key, secret = s.secret;
            const T = await runnerTenant(s);
            const pidFile = path.join(dir, 'io', 'silent.pid');
            const conn = await registerTap(s, T, { count: 3, sleep_start: 300, pid_file: pidFile });
            assert.equal((await T.c.post(`/v1/admin/connectors/${conn.id}/trigger`)).status, 202);
            const end = Date.now() + 10000;
            while (!fs.existsSync(pidFile) && Date.now() < end) await sleep(50);
            await sleep(300);   // the job row has the pid by now
            const pid = readTapPid(pidFile);
            s.proc.kill('SIGKILL');
            await s.exited;
            assert.ok(pidAlive(pid), 'a silent tap outlives its runner');
            s = await startRunnerServer({ dir, keepDir: true, key, secret, env: ENV1 });
            T.c = client(s.url, T.token);
            const end2 = Date.now() + 20000;
            while (pidAlive(pid) && Date.now() < end2) await sleep(100);
            assert.ok(!pidAlive(pid), `orphan tap ${pid} still alive`);
            const rs = await waitRuns(T, conn.id, 1, { timeoutMs: 20000 });
            assert.equal(rs[0].status, 'failed');
            assert.match(rs[0].error_msg, /stopped renewing its lease/);
        } finally {
            await s.stop();
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });
});
