// pgcluster.mjs — a private throwaway PostgreSQL cluster for the one test that restarts the
// database (tests/e2e/scaleout.test.mjs): restarting the shared IVORY_TEST_PG_URL cluster
// would break the test files running beside it. initdb + pg_ctl from PG_BIN (Debian's
// /usr/lib/postgresql/15/bin by default), run as the `postgres` user when we are root (initdb
// refuses root), loopback only, fsync off (a test cluster), stopped and removed by stop().
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { freePort, tempDir } from './server.mjs';

const PG_BIN = process.env.PG_BIN ?? '/usr/lib/postgresql/15/bin';

export function pgBinaries() {
    return fs.existsSync(path.join(PG_BIN, 'initdb')) && fs.existsSync(path.join(PG_BIN, 'pg_ctl'));
}

function run(argv, what) {
    const asPg = process.getuid?.() === 0 ? ['runuser', '-u', 'postgres', '--'] : [];
    const full = [...asPg, ...argv];
    const r = spawnSync(full[0], full.slice(1), { encoding: 'utf8', timeout: 60000 });
    if (r.status !== 0) throw new Error(`${what} failed (${r.status}): ${r.stderr}${r.stdout}`);
    return r.stdout;
}

// Returns { url, log(), restart(), pause(), resume(), stop() }. url names the `postgres` database as user ivory.
export async function startCluster({ maxConnections = 200 } = {}) {
    const dir = tempDir('ivory-pgc-');
    if (process.getuid?.() === 0) {
        if (spawnSync('getent', ['passwd', 'postgres']).status !== 0)
            throw new Error('running as root needs a postgres user for initdb');
        spawnSync('chown', ['postgres', dir]);
    }
    const data = path.join(dir, 'data');
    run([path.join(PG_BIN, 'initdb'), '-D', data, '-U', 'ivory', '--auth=trust', '-E', 'UTF8'], 'initdb');
    const port = await freePort();
    const opts = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off`
        + ` -c max_connections=${maxConnections} -c log_lock_waits=on`;
    const ctl = (args, what) => run([path.join(PG_BIN, 'pg_ctl'), '-D', data, ...args], what);
    ctl(['-l', path.join(dir, 'pg.log'), '-w', '-t', '60', '-o', opts, 'start'], 'pg_ctl start');
    return {
        url: `postgresql://ivory@127.0.0.1:${port}/postgres`,
        log: () => fs.readFileSync(path.join(dir, 'pg.log'), 'utf8'),
        // A fast restart: every session is terminated, the server is down for a moment.
        // (-l again: without it the new postmaster writes to our pipe and pg_ctl never returns)
        restart() {
            ctl(['-l', path.join(dir, 'pg.log'), '-m', 'fast', '-w', '-t', '60', 'restart'], 'pg_ctl restart');
        },
        // The database goes away (fast shutdown: sessions terminated) until resume().
        pause() {
            ctl(['-m', 'fast', '-w', '-t', '60', 'stop'], 'pg_ctl stop');
        },
        resume() {
            ctl(['-l', path.join(dir, 'pg.log'), '-w', '-t', '60', '-o', opts, 'start'], 'pg_ctl start');
        },
        stop() {
            try { ctl(['-m', 'immediate', '-w', 'stop'], 'pg_ctl stop'); } catch { /* already down */ }
            // IVORY_E2E_PGLOG=FILE keeps the server log (lock waits, deadlocks) for a post-mortem.
            if (process.env.IVORY_E2E_PGLOG)
                fs.copyFileSync(path.join(dir, 'pg.log'), process.env.IVORY_E2E_PGLOG);
            fs.rmSync(dir, { recursive: true, force: true });
        },
    };
}
