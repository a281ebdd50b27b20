// backup_restore.test.mjs — `ivory backup --to` while the server writes, `ivory restore --from`
// into a fresh data dir, and `ivory migrate --check` (docs/deploy.md "Backups", "Upgrades").
// Load: registrations and syncs keep arriving while the backup runs; everything the API had
// acknowledged before the backup started (connectors, finished runs, bookmarks) must be found
// by a second server started on the restored store. Restore must refuse while a server is live.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { sql } from './lib/db.mjs';
import { client } from './lib/http.mjs';
import { IVORY, PG_URL, ivory, notBuilt, psql, startServer, storeUrlFor, tempDir } from './lib/server.mjs';
import { registerTap, runnerTenant, runs, startRunnerServer, triggerAndWait, writeSource } from './lib/runner.mjs';

const run = (args, env) => new Promise((resolve) => {
    const p = spawn(IVORY, args, { env: { PATH: process.env.PATH, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '', err = '';
    p.stdout.on('data', (d) => { out += d; });
    p.stderr.on('data', (d) => { err += d; });
    p.on('exit', (status) => resolve({ status, stdout: out, stderr: err }));
});

// Backup and restore work on the embedded SQLite store's file; in the PostgreSQL pass that
// suite says so and skips (PostgreSQL: pg_dump, docs/deploy.md). migrate --check runs on both.
const SQLITE_ONLY = PG_URL ? 'SQLite store only (the PostgreSQL pass uses pg_dump; docs/deploy.md)' : false;

describe('backup and restore (SQLite store)', { skip: notBuilt('backup') || SQLITE_ONLY }, () => {
    let srv, T, restored;
    const fresh = tempDir('ivory-restore-');
    before(async () => {
        srv = await startRunnerServer();
        T = await runnerTenant(srv);
    });
    after(async () => {
        if (restored) await restored.stop();
        if (srv) await srv.stop();
        fs.rmSync(fresh, { recursive: true, force: true });
    });

    test('a backup taken under load restores every acknowledged connector, run and bookmark', async () => {
        // Synced before the backup: two connectors with bookmarks and completed runs.
        const synced = [];
        for (let i = 0; i < 2; i++) {
            const src = path.join(srv.io, `src-${i}.jsonl`);
            writeSource(src, 1, 5 + i);
            const conn = await registerTap(srv, T, { source: src, state_every: 2 });
            const rs = await triggerAndWait(T, conn.id);
            assert.equal(rs[0].status, 'completed', JSON.stringify(rs[0]));
            synced.push({ conn, runId: rs[0].id, last: 5 + i });
        }
        // Load: registrations and triggers keep coming while the backup runs.
        const acked = [];
        let stop = false;
        const writer = (async () => {
            while (!stop) {
                const conn = await registerTap(srv, T, { count: 3 });
                acked.push({ id: conn.id, at: Date.now() });
                await T.c.post(`/v1/admin/connectors/${conn.id}/trigger`);
            }
        })();
        while (acked.length < 10) await new Promise((r) => setTimeout(r, 20));
        const backupFile = path.join(srv.dir, 'backup.db');
        const startedAt = Date.now();
        const b = await run(['backup', '--to', backupFile], srv.env);
        while (acked.length < 5 + acked.filter((a) => a.at < startedAt).length) await new Promise((r) => setTimeout(r, 20));
        stop = true;
        await writer;
        assert.equal(b.status, 0, b.stderr);
        const info = JSON.parse(b.stdout);
        assert.equal(info.backup, backupFile);
        assert.ok(info.bytes > 0 && info.schema_version >= 2, b.stdout);
        assert.equal(fs.statSync(backupFile).mode & 0o777, 0o600, 'a backup holds sealed secrets: 0600');

        // The server is live: restoring over its store is refused and changes nothing.
        const refused = ivory(['restore', '--from', backupFile], { env: srv.env });
        assert.equal(refused.status, 1, refused.stderr);
        assert.match(refused.stderr, /in use/);
        assert.equal(refused.stderr.trim().split('\n').length, 1);
        assert.deepEqual(fs.readdirSync(srv.dir).filter((f) => /before-restore|restoring/.test(f)), []);

        // Restore into a fresh data dir; the master key travels beside the backup.
        fs.copyFileSync(path.join(srv.dir, 'master.key'), path.join(fresh, 'master.key'));
        const env = { ...srv.env, IVORY_DATA_DIR: fresh, IVORY_DB: `sqlite:${fresh}/ivory.db` };
        const r = ivory(['restore', '--from', backupFile], { env });
        assert.equal(r.status, 0, r.stderr);
        assert.equal(JSON.parse(r.stdout).restored, `${fresh}/ivory.db`);
        assert.equal(ivory(['migrate', '--check'], { env }).status, 0);

        restored = await startServer({ dir: fresh, secret: srv.secret, keepDir: true,
            env: { IVORY_CONFIG_KEY: srv.env.IVORY_CONFIG_KEY } });
        const c = client(restored.url, T.token);
        const list = await c.get('/v1/admin/connectors');
        assert.equal(list.status, 200, list.text);
        const items = list.json.connectors ?? list.json.items ?? list.json;
        const have = new Set(items.map((x) => x.id));
        for (const a of acked.filter((x) => x.at < startedAt))
            assert.ok(have.has(a.id), `connector ${a.id} acknowledged before the backup is missing`);
        for (const s of synced) {
            assert.ok(have.has(s.conn.id));
            const d = (await c.get(`/v1/admin/connectors/${s.conn.id}`)).json;
            assert.deepEqual(d.tap_state, { bookmarks: { items: { last_id: s.last } } });
            const rs = await runs({ c }, s.conn.id);
            const r0 = rs.find((x) => x.id === s.runId);
            assert.ok(r0, `run ${s.runId} missing`);
            assert.equal(r0.status, 'completed');
            assert.equal(r0.rows_synced, s.last);
        }
        // A second restore keeps the store it replaces (the restored server is stopped first).
        await restored.stop();
        restored = undefined;
        const again = ivory(['restore', '--from', backupFile], { env });
        assert.equal(again.status, 0, again.stderr);
        const kept = JSON.parse(again.stdout).previous_store;
        assert.ok(kept && fs.existsSync(kept), again.stdout);
        const count = (db) => sql(db, 'SELECT COUNT(*) AS n FROM connectors')[0].n;
        assert.equal(count(kept), count(backupFile), 'the replaced store is kept whole');
        assert.ok(count(backupFile) >= synced.length + acked.filter((a) => a.at < startedAt).length);
    });

    test('restore refuses what is not an Ivory store, and writes nothing', () => {
        const dir = tempDir('ivory-restore-bad-');
        try {
            const env = { IVORY_DATA_DIR: dir, IVORY_DB: `sqlite:${dir}/ivory.db` };
            const junk = path.join(dir, 'junk.db');
            fs.writeFileSync(junk, 'not a database at all, just text\n'.repeat(200));
            let r = ivory(['restore', '--from', junk], { env });
            assert.equal(r.status, 1);
            assert.match(r.stderr, /cannot be restored/);
            r = ivory(['restore', '--from', path.join(dir, 'missing.db')], { env });
            assert.equal(r.status, 1);
            assert.equal(ivory(['restore'], { env }).status, 2);
            assert.equal(ivory(['backup'], { env }).status, 2);
            assert.deepEqual(fs.readdirSync(dir).filter((f) => f.startsWith('ivory.db') && f !== 'ivory.db.lock'), []);
            // A sound snapshot restored where no master key is: done, with a warning naming it.
            const srcDir = path.join(dir, 'a'), dstDir = path.join(dir, "b \"quoted\"");
            const srcEnv = { IVORY_DATA_DIR: srcDir, IVORY_DB: `sqlite:${srcDir}/ivory.db` };
            assert.equal(ivory(['migrate'], { env: srcEnv }).status, 0);
            const snap = path.join(dir, 'snap "1".db');
            r = ivory(['backup', '--to', snap], { env: srcEnv });
            assert.equal(r.status, 0, r.stderr);
            assert.equal(JSON.parse(r.stdout).backup, snap, 'JSON output survives quotes in paths');
            r = ivory(['restore', '--from', snap], { env: { IVORY_DATA_DIR: dstDir, IVORY_DB: `sqlite:${dstDir}/ivory.db` } });
            assert.equal(r.status, 0, r.stderr);
            assert.equal(JSON.parse(r.stdout).restored, `${dstDir}/ivory.db`);
            assert.match(r.stderr, /no master key at .*master\.key/);
            r = ivory(['backup', '--to', path.join(dir, 'b.db')], { env: { IVORY_DB: 'postgresql://x@127.0.0.1:1/y' } });
            assert.equal(r.status, 1);
            assert.match(r.stderr, /pg_dump/);
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });
});

describe('migrate --check', { skip: notBuilt('migrate') }, () => {
    test('0 when current, 3 when behind, 4 when the store is newer (and serve refuses it)', async () => {
        const dir = tempDir('ivory-migrate-');
        // A fresh store: a SQLite file, or an empty schema of the test database (PostgreSQL pass).
        const db = storeUrlFor(dir);
        try {
            const env = { IVORY_DATA_DIR: dir, IVORY_DB: PG_URL ? db : `sqlite:${db}` };
            let r = ivory(['migrate', '--check'], { env });
            assert.equal(r.status, 3, r.stderr);
            assert.equal(JSON.parse(r.stdout).state, 'behind');
            r = ivory(['migrate'], { env });
            assert.equal(r.status, 0, r.stderr);
            const latest = JSON.parse(r.stdout).schema_version;
            r = ivory(['migrate'], { env });
            assert.deepEqual(JSON.parse(r.stdout), { applied: 0, schema_version: latest }, 'idempotent');
            r = ivory(['migrate', '--check'], { env });
            assert.equal(r.status, 0, r.stderr);
            assert.deepEqual(JSON.parse(r.stdout),
                { store_schema_version: latest, binary_schema_version: latest, state: 'current' });
            sql(db, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (${latest + 1}, 'from the future', 0)`);
            r = ivory(['migrate', '--check'], { env });
            assert.equal(r.status, 4, r.stderr);
            assert.match(r.stderr, /newer than this binary/);
            r = ivory(['migrate'], { env });
            assert.equal(r.status, 1);
            assert.match(r.stderr, /newer than this binary/);
            await assert.rejects(startServer({ dir, keepDir: true }), /newer than this binary/);
        } finally {
            if (PG_URL) psql(PG_URL, `DROP SCHEMA IF EXISTS ${fs.readFileSync(path.join(dir, 'pg-schema'), 'utf8').trim()} CASCADE`);
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });
});
