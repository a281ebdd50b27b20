// adversarial_sandbox.test.mjs — issue 7 point 3: a tenant's tap cannot read what the server
// can. A hostile tap (tests/taps/tap-probe) and the bundled tap-csv try to read /etc/passwd,
// the server's /proc/<pid>/environ (IVORY_JWT_SECRET), Ivory's store and other runs' private
// files; each attempt's verdict is read back from the Iceberg table the run wrote. Also: the
// rlimits hold, the network is kept, no sandbox means no tap run (unless
// IVORY_TAP_SANDBOX=off, logged), and a sandboxed tap dies with its runner.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import {
    pidAlive, readTapPid, registerTap, runnerTenant, sleep, startRunnerServer,
    tableRows, triggerAndWait,
} from './lib/runner.mjs';
import { REPO, notBuilt, tempDir } from './lib/server.mjs';

const verdicts = (rows) => Object.fromEntries(rows.map((r) => [r.probe, r.result]));
const probe = (srv, T, cfg) => registerTap(srv, T, cfg, { tap_name: 'tap-probe' });

describe('adversarial: the tap sandbox', { skip: notBuilt('serve') }, () => {
    let srv, T;
    before(async () => {
        srv = await startRunnerServer({ taps: ['tap-probe'], env: {
            IVORY_TAP_DATA_DIRS: path.join(REPO, 'examples', 'data'),
            IVORY_TAP_MEMORY_MB: '256', IVORY_TAP_FILE_MB: '8' } });
        T = await runnerTenant(srv);
        fs.symlinkSync(path.join(REPO, 'examples', 'taps', 'tap-csv'), path.join(srv.dir, 'taps', 'tap-csv'));
    });
    after(async () => { if (srv) await srv.stop(); });

    test('host files, the server environment, the store and other runs are out of reach', async () => {
        // A decoy "other run" directory with a config in the runner's TMPDIR.
        const other = path.join(srv.dir, 'tmp', 'ivory-run-other');
        fs.mkdirSync(other, { mode: 0o700 });
        fs.writeFileSync(path.join(other, 'config.json'), '{"api_key":"other-tenant-secret"}', { mode: 0o600 });
        const srvPid = srv.proc.pid;
        const conn = await probe(srv, T, {
            read: ['/etc/passwd', '/etc/shadow', `/proc/${srvPid}/environ`, srv.dbPath,
                path.join(other, 'config.json'), path.join(srv.dir, 'master.key'),
                path.join(REPO, 'examples', 'data', 'customers.csv')],
            list: ['/root', '/home', path.join(srv.dir, 'tmp'), srv.dir],
            write: ['/usr/pwned', path.join(REPO, 'examples', 'data', 'pwned'), '/tmp/ok'],
            connect: `127.0.0.1:${srv.port}`, info: true,
        });
        const rs = await triggerAndWait(T, conn.id);
        assert.equal(rs[0].status, 'completed', JSON.stringify(rs[0]));
        const v = verdicts(await tableRows(srv, T, conn.iomete_table));
        for (const p of ['/etc/passwd', '/etc/shadow', `/proc/${srvPid}/environ`, srv.dbPath,
            path.join(other, 'config.json'), path.join(srv.dir, 'master.key')])
            assert.match(v[`read:${p}`], /^err:ENOENT$/, `${p} must not exist for the tap: ${v[`read:${p}`]}`);
        assert.match(v[`read:${path.join(REPO, 'examples', 'data', 'customers.csv')}`], /^ok:id,/, 'a listed data dir is readable');
        assert.match(v['list:/root'], /^err:ENOENT$/);
        assert.match(v['list:/home'], /^err:ENOENT$/);
        // Its own run directory is the only thing under TMPDIR; the decoy is not there.
        assert.equal(v[`list:${path.join(srv.dir, 'tmp')}`], 'ok:1');
        assert.notEqual(v[`list:${srv.dir}`], 'err:ENOENT', 'the path exists only as the way to the io/tmp binds');
        assert.ok(!fs.existsSync(path.join(REPO, 'examples', 'data', 'pwned')));
        assert.match(v['write:/usr/pwned'], /^err:(EROFS|EACCES|EPERM)$/);
        assert.match(v[`write:${path.join(REPO, 'examples', 'data', 'pwned')}`], /^err:(EROFS|EACCES|EPERM)$/);
        assert.equal(v['write:/tmp/ok'], 'ok', 'a private writable /tmp');
        assert.equal(v.connect, 'ok', 'the network is kept');
        assert.ok(Number(v.pid) < 10, `own pid namespace (pid ${v.pid})`);
        assert.ok(Number(v.proc_pids) < 10, `only its own processes in /proc (${v.proc_pids})`);
        assert.equal(v.home, '/tmp');
        assert.equal(Number(v.RLIMIT_DATA), 256 * 1024 * 1024);
        assert.equal(Number(v.RLIMIT_FSIZE), 8 * 1024 * 1024);
        assert.equal(Number(v.RLIMIT_NPROC), 256);
        assert.equal(Number(v.RLIMIT_CORE), 0);
        assert.ok(Number(v.RLIMIT_CPU) > 0 && Number(v.RLIMIT_CPU) <= 21600, v.RLIMIT_CPU);
    });

    test('tap-csv pointed at /etc/passwd or the server environment loads nothing', async () => {
        for (const p of ['/etc/passwd', `/proc/${srv.proc.pid}/environ`]) {
            const conn = await registerTap(srv, T, { files: [{ stream: 'x', path: p }] }, { tap_name: 'tap-csv' });
            const rs = await triggerAndWait(T, conn.id);
            assert.equal(rs[0].status, 'failed', JSON.stringify(rs[0]));
            assert.match(rs[0].error_msg, /No such file|not found|cannot/i, rs[0].error_msg);
            assert.deepEqual(await tableRows(srv, T, conn.iomete_table), []);
        }
    });

    test('memory and file size limits end a greedy tap', async () => {
        const mem = await probe(srv, T, { alloc_mb: 1024 });
        let rs = await triggerAndWait(T, mem.id);
        assert.equal(rs[0].status, 'completed', JSON.stringify(rs[0]));
        assert.equal(verdicts(await tableRows(srv, T, mem.iomete_table)).alloc, 'err:MemoryError');
        const big = await probe(srv, T, { file_mb: 64 });
        rs = await triggerAndWait(T, big.id);
        assert.equal(rs[0].status, 'failed', JSON.stringify(rs[0]));
        assert.match(rs[0].error_msg, /signal 25|exited with status/, rs[0].error_msg);   // SIGXFSZ
    });
});

describe('adversarial: no sandbox, no tap', { skip: notBuilt('serve') }, () => {
    test('bubblewrap missing: runs fail with the reason and the opt-out; nothing runs unconfined', async () => {
        const srv = await startRunnerServer({ env: { IVORY_BWRAP: '/nonexistent/bwrap' } });
        try {
            assert.match(srv.stderr(), /no sandbox is possible.*IVORY_TAP_SANDBOX=off/);
            const T = await runnerTenant(srv);
            const marker = path.join(srv.io, 'ran');
            const conn = await registerTap(srv, T, { count: 1, pid_file: marker });
            const rs = await triggerAndWait(T, conn.id);
            assert.equal(rs[0].status, 'failed');
            assert.match(rs[0].error_msg, /taps are not run: no sandbox/);
            assert.ok(!fs.existsSync(marker), 'the tap never started');
        } finally { await srv.stop(); }
    });

    test('IVORY_TAP_SANDBOX=off runs taps unconfined and says so at start', async () => {
        const srv = await startRunnerServer({ env: { IVORY_TAP_SANDBOX: 'off', IVORY_BWRAP: '/nonexistent/bwrap' } });
        try {
            assert.match(srv.stderr(), /IVORY_TAP_SANDBOX=off: taps run UNCONFINED/);
            const T = await runnerTenant(srv);
            const conn = await registerTap(srv, T, { count: 2 });
            assert.equal((await triggerAndWait(T, conn.id))[0].status, 'completed');
        } finally { await srv.stop(); }
    });

    test('a data dir that would show the store is refused at start', async () => {
        const dir = tempDir();
        await assert.rejects(startRunnerServer({ dir, env: { IVORY_TAP_DATA_DIRS: path.dirname(dir) } }),
            /IVORY_TAP_DATA_DIRS.*data directory/);
    });
});

describe('adversarial: a sandboxed tap dies with its runner', { skip: notBuilt('serve') }, () => {
    test('SIGKILL of the server ends the tap at once (no orphan holding a decrypted config)', async () => {
        const dir = tempDir();
        const srv = await startRunnerServer({ dir, keepDir: true, taps: ['tap-probe'] });
        try {
            const T = await runnerTenant(srv);
            const pidFile = path.join(srv.io, 'p.pid');
            const conn = await probe(srv, T, { pid_file: pidFile, hang: 300 });
            assert.equal((await T.c.post(`/v1/admin/connectors/${conn.id}/trigger`)).status, 202);
            const end = Date.now() + 10000;
            while (!fs.existsSync(pidFile) && Date.now() < end) await sleep(50);
            const pid = readTapPid(pidFile);
            assert.ok(pidAlive(pid));
            srv.proc.kill('SIGKILL');
            await srv.exited;
            const end2 = Date.now() + 5000;
            while (pidAlive(pid) && Date.now() < end2) await sleep(50);
            assert.ok(!pidAlive(pid), `tap ${pid} outlived its runner`);
        } finally {
            await srv.stop();
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });
});

