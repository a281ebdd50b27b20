// db.mjs — direct access to a test server's store through the sqlite3 CLI (psql in the
// PostgreSQL pass), for the one
// fixture the API cannot make yet: a `sync_runs` row in status `running` (the runner creates
// these in production). Column names are read from the live schema (PRAGMA table_info), so
// the fixture follows whatever schema src/store defines; NOT NULL columns it does not know are
// filled with a neutral value of their declared type.
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import { psql } from './server.mjs';

// The few SQLite-only queries the suites use, in PostgreSQL's words.
function pgQuery(query) {
    const info = /^PRAGMA table_info\((\w+)\)$/.exec(query.trim());
    if (info)
        return 'SELECT c.column_name AS name, upper(c.data_type) AS type,'
            + " (c.is_nullable = 'NO') AS notnull, c.column_default AS dflt_value,"
            + " (c.column_name = 'id') AS pk FROM information_schema.columns c"
            + ` WHERE c.table_schema = current_schema() AND c.table_name = '${info[1]}'`
            + ' ORDER BY c.ordinal_position';
    if (/FROM sqlite_master WHERE type = 'table'/.test(query))
        return 'SELECT table_name AS name FROM information_schema.tables'
            + " WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'";
    return query;
}

// Runs one query on a test server's store (srv.dbPath: a SQLite file, or a postgresql:// URL
// in the PostgreSQL pass); returns the rows as objects.
export function sql(dbPath, query) {
    if (/^postgres(ql)?:\/\//.test(dbPath)) {
        const q = pgQuery(query);
        if (/^\s*(SELECT|WITH)\b/i.test(q)) return psql(dbPath, q, { json: true });
        psql(dbPath, q);
        return [];
    }
    const r = spawnSync('sqlite3', ['-json', '-cmd', '.timeout 5000', dbPath, query], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`sqlite3 failed: ${r.stderr}\nquery: ${query}`);
    const out = r.stdout.trim();
    return out ? JSON.parse(out) : [];
}

const q = (v) => (v === null || v === undefined ? 'NULL'
    : typeof v === 'number' ? String(v) : `'${String(v).replaceAll("'", "''")}'`);

export const tableInfo = (dbPath, table) => sql(dbPath, `PRAGMA table_info(${table})`);

// Integer time columns hold epoch seconds or milliseconds: the unit is read off the
// connector row's own created_at (> 1e11 means milliseconds), text columns get ISO-8601.
function timeValue(col, date, ms) {
    if (!/INT/i.test(col.type)) return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
    return ms ? date.getTime() : Math.floor(date.getTime() / 1000);
}

// Inserts a running sync_runs row for connectorId; returns its id.
export function insertRunningRun(dbPath, connectorId, { startedAt = new Date(Date.now() - 65000) } = {}) {
    const cols = tableInfo(dbPath, 'sync_runs');
    if (!cols.length) throw new Error('no sync_runs table in the store');
    const conn = sql(dbPath, `SELECT * FROM connectors WHERE id = ${q(connectorId)}`)[0];
    if (!conn) throw new Error(`connector ${connectorId} not found in the connectors table`);
    const ms = typeof conn.created_at === 'number' ? conn.created_at > 1e11 : true;
    const id = crypto.randomUUID();
    const known = {
        id, run_id: id, connector_id: connectorId, tenant_id: conn.tenant_id,
        status: 'running', trigger: 'manual',
    };
    const names = [], values = [];
    for (const col of cols) {
        let v;
        if (col.name in known) v = known[col.name];
        else if (col.name === 'started_at' || col.name === 'created_at' || col.name === 'updated_at')
            v = timeValue(col, startedAt, ms);
        else if (col.notnull && col.dflt_value === null && !col.pk)
            v = /_at$/.test(col.name) ? timeValue(col, startedAt, ms) : /INT|REAL|NUM/i.test(col.type) ? 0 : '';
        else continue;
        if (v === undefined) continue;
        names.push(col.name);
        values.push(q(v));
    }
    sql(dbPath, `INSERT INTO sync_runs (${names.join(',')}) VALUES (${values.join(',')})`);
    return id;
}
