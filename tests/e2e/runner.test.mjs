// runner.test.mjs — the runner end to end (docs/runner.md, docs/singer.md): the real
// `ivory serve` claims triggered connectors, runs fixture taps (tests/taps/tap-fixture), loads
// Iceberg tables that are read back with icebird, and reports through the webhook. Each
// assertion reads real outputs: the runs API, the connector detail, the table's rows and
// snapshot summaries, the process table.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { sql } from './lib/db.mjs';
import { notBuilt } from './lib/server.mjs';
import {
    ids, newKey, pgid, pidAlive, readTapPid, range, registerTap, runnerTenant, runs, sleep, startRunnerServer,
    tableRows, tableSnapshots, triggerAndWait, waitRuns, writeSource,
} from './lib/runner.mjs';

describe('runner (docs/runner.md)', { skip: notBuilt('serve') }, () => {
    let srv, T;
    before(async () => {
        srv = await startRunnerServer({ env: { IVORY_MAX_LINE_BYTES: '65536' } });
        T = await runnerTenant(srv);
    });
    after(async () => { if (srv) await srv.stop(); });

    const detail = async (id) => (await T.c.get(`/v1/admin/connectors/${id}`)).json;

    test('incremental: the second run loads only new rows; STATE and run id are in the snapshot', async () => {
        const src = path.join(srv.io, 'src-incr.jsonl');
        writeSource(src, 1, 5);
        const conn = await registerTap(srv, T, { source: src, state_every: 2 });
        let rs = await triggerAndWait(T, conn.id);
        assert.equal(rs[0].status, 'completed', JSON.stringify(rs[0]));
        assert.equal(rs[0].rows_synced, 5);
        assert.equal(rs[0].rows_loaded, 5);
        assert.equal(rs[0].trigger, 'manual');
        assert.equal(rs[0].iomete_table, `${T.namespace}.${conn.iomete_table}`);
        assert.deepEqual(ids(await tableRows(srv, T, conn.iomete_table)), range(1, 5));
        let d = await detail(conn.id);
        assert.deepEqual(d.tap_state, { bookmarks: { items: { last_id: 5 } } });
        assert.equal(d.rows_total, 5);
        const snaps = await tableSnapshots(srv, T, conn.iomete_table);
        const last = snaps[snaps.length - 1];
        assert.equal(last.summary['ivory.run-id'], rs[0].id);
        assert.deepEqual(JSON.parse(last.summary['ivory.state']), d.tap_state);

        writeSource(src, 6, 8);
        rs = await triggerAndWait(T, conn.id);
        assert.equal(rs[0].status, 'completed', JSON.stringify(rs[0]));
        assert.equal(rs[0].rows_synced, 3, 'the tap got the bookmark as --state');
        assert.equal(rs[0].rows_loaded, 3);
        assert.deepEqual(ids(await tableRows(srv, T, conn.iomete_table)), range(1, 8));
        d = await detail(conn.id);
        assert.equal(d.rows_total, 8);
        assert.deepEqual(d.tap_state, { bookmarks: { items: { last_id: 8 } } });
        assert.equal(d.consecutive_failures, 0);
        assert.ok(Date.parse(d.next_run_at) > Date.now() + 86400e3, 'next_run_at = next cron fire');
    });

    test('a failing tap: stderr (secrets redacted) in error_msg, nothing committed; 3 failures -> error; resume', async () => {
        const conn = await registerTap(srv, T, {
            count: 10, fail_after: 4, fail_message: 'boom: upstream said no (token s3cr3t-t0ken)',
            api_token: 's3cr3t-t0ken',
        });
        let rs = await triggerAndWait(T, conn.id);
        assert.equal(rs[0].status, 'failed');
        assert.match(rs[0].error_msg, /exited with status 3/);
        assert.match(rs[0].error_msg, /boom: upstream said no/);
        assert.ok(!rs[0].error_msg.includes('s3cr3t-t0ken'), `secret leaked: ${rs[0].error_msg}`);
        assert.match(rs[0].error_msg, /\[REDACTED\]/);
        assert.equal(rs[0].rows_synced, 4);
        assert.equal(rs[0].rows_loaded, 0);
        assert.deepEqual(await tableRows(srv, T, conn.iomete_table), [], 'nothing committed');
        assert.equal((await detail(conn.id)).consecutive_failures, 1);
        await triggerAndWait(T, conn.id);
        rs = await triggerAndWait(T, conn.id);
        assert.equal(rs.length, 3);
        const d = await detail(conn.id);
        assert.equal(d.status, 'error');
        assert.equal(d.consecutive_failures, 3);
        assert.equal(d.next_run_at, null);
        assert.equal((await T.c.post(`/v1/admin/connectors/${conn.id}/trigger`)).status, 409);
        const r = await T.c.post(`/v1/admin/connectors/${conn.id}/resume`);
        assert.equal(r.status, 200);
        assert.equal((await detail(conn.id)).consecutive_failures, 0);
    });

    test('tap not found: the message names the tap and the paths searched', async () => {
        const conn = await registerTap(srv, T, {}, { tap_name: 'tap-does-not-exist' });
        const rs = await triggerAndWait(T, conn.id);
        assert.equal(rs[0].status, 'failed');
        assert.match(rs[0].error_msg, /tap-does-not-exist/);
        assert.ok(rs[0].error_msg.includes(path.join(srv.dir, 'taps')), rs[0].error_msg);
    });

    test('config encrypted with another key: the run fails clearly', async () => {
        const other = newKey();
        const saved = srv.key;
        srv.key = other;
        const conn = await registerTap(srv, T, { count: 1 });
        srv.key = saved;
        const rs = await triggerAndWait(T, conn.id);
        assert.equal(rs[0].status, 'failed');
        assert.match(rs[0].error_msg, /IVORY_CONFIG_KEY/);
        assert.deepEqual(await tableRows(srv, T, conn.iomete_table), []);
    });

    test('fivetran connectors are not runnable here', async () => {
        const conn = await registerTap(srv, T, null, { connector_type: 'fivetran' });
        const rs = await triggerAndWait(T, conn.id);
        assert.equal(rs[0].status, 'failed');
        assert.match(rs[0].error_msg, /not runnable here/);
    });

    test('garbage output: the error names the line number', async () => {
        const conn = await registerTap(srv, T, { count: 5, garbage_at: 3 });
        const rs = await triggerAndWait(T, conn.id);
        assert.equal(rs[0].status, 'failed');
        // line 1 = SCHEMA, lines 2-3 = records 1-2, line 4 = the garbage
        assert.match(rs[0].error_msg, /line 4\b/);
        assert.deepEqual(await tableRows(srv, T, conn.iomete_table), []);
    });

    test('a line over IVORY_MAX_LINE_BYTES fails the run with the line number', async () => {
        const conn = await registerTap(srv, T, { count: 2, huge_line: 200000 });
        const rs = await triggerAndWait(T, conn.id);
        assert.equal(rs[0].status, 'failed');
        assert.match(rs[0].error_msg, /line 2 .*longer than 65536/);
    });

    test('a multi-stream tap loads {destination_table}_{stream}', async () => {
        const conn = await registerTap(srv, T, { count: 3, streams: ['alpha', 'beta'] });
        const rs = await triggerAndWait(T, conn.id);
        assert.equal(rs[0].status, 'completed', JSON.stringify(rs[0]));
        assert.equal(rs[0].rows_loaded, 6);
        assert.deepEqual(ids(await tableRows(srv, T, `${conn.iomete_table}_alpha`)), [1, 2, 3]);
        assert.deepEqual(ids(await tableRows(srv, T, `${conn.iomete_table}_beta`)), [1, 2, 3]);
        assert.ok(!fs.existsSync(path.join(srv.dir, 'wh', T.slug, T.namespace, conn.iomete_table)));
    });

    test('delete during a run kills the tap; the config file never outlives its run', async () => {
        const pidFile = path.join(srv.io, 'del.pid');
        const cfgFile = path.join(srv.io, 'del.cfgpath');
        const conn = await registerTap(srv, T, { count: 1000, sleep: 0.05, pid_file: pidFile,
            config_path_file: cfgFile });
        assert.equal((await T.c.post(`/v1/admin/connectors/${conn.id}/trigger`)).status, 202);
        const end = Date.now() + 10000;
        while (!fs.existsSync(pidFile) && Date.now() < end) await sleep(50);
        await sleep(300);
        const pid = readTapPid(pidFile);
        const cfgPath = fs.readFileSync(cfgFile, 'utf8');
        assert.ok(pidAlive(pid), 'tap running');
        assert.ok(fs.existsSync(cfgPath), 'config file exists while the tap runs');
        assert.equal((fs.statSync(cfgPath).mode & 0o777), 0o600);
        assert.equal((await T.c.del(`/v1/admin/connectors/${conn.id}`)).status, 204);
        const end2 = Date.now() + 5000;
        while (pidAlive(pid) && Date.now() < end2) await sleep(50);
        assert.ok(!pidAlive(pid), `tap pid ${pid} still alive 5 s after delete`);
        const end3 = Date.now() + 5000;
        while (fs.existsSync(cfgPath) && Date.now() < end3) await sleep(50);
        assert.ok(!fs.existsSync(cfgPath), 'config temp file removed');
    });

    test('cancel_requested on the job row (a run cancel) kills the tap; the run is reported cancelled', async () => {
        const pidFile = path.join(srv.io, 'cancel.pid');
        const conn = await registerTap(srv, T, { count: 1000, sleep: 0.05, pid_file: pidFile });
        assert.equal((await T.c.post(`/v1/admin/connectors/${conn.id}/trigger`)).status, 202);
        const end = Date.now() + 10000;
        while (!fs.existsSync(pidFile) && Date.now() < end) await sleep(50);
        await sleep(200);
        const pid = readTapPid(pidFile);
        const jobs = sql(srv.dbPath, `SELECT child_pid FROM runner_jobs WHERE connector_id = '${conn.id}'`);
        assert.equal(jobs.length, 1);
        assert.equal(jobs[0].child_pid, pgid(pid), "the job row records the tap's process group");
        sql(srv.dbPath, `UPDATE runner_jobs SET cancel_requested = 1 WHERE connector_id = '${conn.id}'`);
        const rs = await waitRuns(T, conn.id, 1);
        assert.equal(rs[0].status, 'cancelled');
        assert.match(rs[0].error_msg, /cancelled on request/);
        assert.equal((await T.c.get(`/v1/admin/connectors/${conn.id}`)).json.consecutive_failures, 0,
            'a cancelled run is not a failure');
        assert.ok(!pidAlive(pid));
        assert.deepEqual(await tableRows(srv, T, conn.iomete_table), []);
    });

    test('pause lets a running sync finish', async () => {
        const conn = await registerTap(srv, T, { count: 20, sleep: 0.05 });
        assert.equal((await T.c.post(`/v1/admin/connectors/${conn.id}/trigger`)).status, 202);
        const end = Date.now() + 10000;
        while ((await runs(T, conn.id)).length === 0 && Date.now() < end) await sleep(50);
        assert.equal((await T.c.post(`/v1/admin/connectors/${conn.id}/pause`)).status, 200);
        const rs = await waitRuns(T, conn.id, 1);
        assert.equal(rs[0].status, 'completed');
        assert.equal(rs[0].rows_loaded, 20);
        const d = await detail(conn.id);
        assert.equal(d.status, 'paused');
        assert.equal(d.next_run_at, null);
    });

    test('a trigger during a running sync queues exactly one follow-up run', async () => {
        const conn = await registerTap(srv, T, { count: 15, sleep: 0.05 });
        assert.equal((await T.c.post(`/v1/admin/connectors/${conn.id}/trigger`)).status, 202);
        const end = Date.now() + 10000;
        while ((await runs(T, conn.id)).length === 0 && Date.now() < end) await sleep(50);
        for (let i = 0; i < 3; i++)
            assert.equal((await T.c.post(`/v1/admin/connectors/${conn.id}/trigger`)).status, 202);
        const rs = await waitRuns(T, conn.id, 2);
        await sleep(1000);
        const all = await runs(T, conn.id);
        assert.equal(all.length, 2, JSON.stringify(all));
        assert.ok(all.every((r) => r.status === 'completed'));
        assert.equal(rs[0].rows_synced, 0, 'the follow-up resumed from the bookmark');
    });
});

describe('runner timeouts (IVORY_RUN_TIMEOUT)', { skip: notBuilt('serve') }, () => {
    let srv, T;
    before(async () => {
        srv = await startRunnerServer({ env: { IVORY_RUN_TIMEOUT: '4' } });
        T = await runnerTenant(srv);
    });
    after(async () => { if (srv) await srv.stop(); });

    test('a tap that hangs is killed at the timeout; its committed checkpoints stay', async () => {
        const pidFile = path.join(srv.io, 'hang.pid');
        const conn = await registerTap(srv, T, { count: 4, hang: true, pid_file: pidFile });
        const t0 = Date.now();
        const rs = await triggerAndWait(T, conn.id);
        assert.equal(rs[0].status, 'failed');
        assert.match(rs[0].error_msg, /timed out/);
        assert.ok(Date.now() - t0 < 15000);
        const pid = readTapPid(pidFile);
        assert.ok(!pidAlive(pid), 'hung tap killed');
        // No checkpoint was due (STATE only at the end, checkpoint every 60 s): nothing loaded.
        assert.deepEqual(await tableRows(srv, T, conn.iomete_table), []);
    });
});
