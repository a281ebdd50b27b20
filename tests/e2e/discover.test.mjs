// discover.test.mjs — discovery and selection end to end (docs/api.md "Discovery and
// selection", docs/runner.md "Streams and tables"): the real `ivory serve` runs fixture taps
// in discovery mode (tests/taps/tap-multi, examples/taps/tap-csv), the catalog is read and
// changed through the API, and the runner syncs exactly the selection into the documented
// tables, read back with icebird. Bad bodies and other tenants change nothing.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { hs256 } from './lib/jwt.mjs';
import { client } from './lib/http.mjs';
import { REPO, notBuilt } from './lib/server.mjs';
import {
    ids, range, registerTap, runnerTenant, startRunnerServer, tableRows, triggerAndWait,
} from './lib/runner.mjs';

const names = (cat) => cat.streams.map((s) => s.tap_stream_id);
const stream = (cat, id) => cat.streams.find((s) => s.tap_stream_id === id);
const field = (cat, id, f) => stream(cat, id).fields.find((x) => x.name === f);

describe('discovery and selection', { skip: notBuilt('serve') }, () => {
    let srv, T;
    before(async () => {
        srv = await startRunnerServer({ taps: ['tap-multi', 'source-fixture', 'tap-legacy'],
            env: { IVORY_DISCOVER_TIMEOUT: '3', IVORY_DISCOVER_MAX_BYTES: '20000' } });
        fs.symlinkSync(path.join(REPO, 'examples', 'taps', 'tap-csv'), path.join(srv.dir, 'taps', 'tap-csv'));
        T = await runnerTenant(srv);
    });
    after(async () => { if (srv) await srv.stop(); });

    const multi = (cfg, extra = {}) => registerTap(srv, T, cfg, { tap_name: 'tap-multi', ...extra });
    const discover = (id, c = T.c) => c.post(`/v1/admin/connectors/${id}/discover`);
    const getCat = (id, c = T.c) => c.get(`/v1/admin/connectors/${id}/catalog`);
    const patch = (id, body, c = T.c) => c.patch(`/v1/admin/connectors/${id}/catalog`, body);

    test('discover, inspect, select; the runner loads exactly the selection into the documented tables', async () => {
        const argsFile = path.join(srv.io, 'args-1.jsonl');
        const conn = await multi({ count: 3, args_file: argsFile });
        const dest = conn.iomete_table;
        assert.equal((await getCat(conn.id)).status, 404, 'no catalog before the first discovery');

        const d = await discover(conn.id);
        assert.equal(d.status, 200, d.text);
        assert.deepEqual(names(d.json), ['users', 'orders', 'events']);
        assert.ok(Date.parse(d.json.discovered_at) > Date.now() - 60000);
        assert.deepEqual(d.json.changes, { appeared: ['users', 'orders', 'events'], vanished: [] });
        const g = await getCat(conn.id);
        assert.equal(g.status, 200);
        const { changes: _changes, ...rest } = d.json;
        assert.deepEqual(g.json, rest, 'discover answers with the catalog as GET shows it');
        const cat = g.json;
        // The tap's metadata, readable.
        assert.equal(field(cat, 'users', 'id').inclusion, 'automatic');
        assert.equal(field(cat, 'users', 'legacy_blob').inclusion, 'unsupported');
        assert.equal(field(cat, 'users', 'legacy_blob').selected, false);
        assert.equal(field(cat, 'users', 'email').inclusion, 'available');
        assert.equal(field(cat, 'orders', 'updated_at').type, 'string');
        assert.equal(field(cat, 'orders', 'updated_at').format, 'date-time');
        assert.deepEqual(stream(cat, 'users').key_properties, ['id']);
        assert.equal(stream(cat, 'events').selected, false, 'selected-by-default false');
        assert.deepEqual(stream(cat, 'events').replication_methods, ['FULL_TABLE']);
        assert.deepEqual(stream(cat, 'orders').replication_keys, ['updated_at', 'id']);
        assert.equal(stream(cat, 'orders').replication_method, 'INCREMENTAL');
        assert.equal(stream(cat, 'users').table, `${dest}_users`);
        assert.equal(stream(cat, 'events').table, null);

        // Selection: users without email, orders incremental on id, events stays out.
        const p = await patch(conn.id, { streams: [
            { tap_stream_id: 'users', fields: { email: false } },
            { tap_stream_id: 'orders', replication_method: 'INCREMENTAL', replication_key: 'id' },
        ] });
        assert.equal(p.status, 200, p.text);
        assert.equal(field(p.json, 'users', 'email').selected, false);
        assert.equal(stream(p.json, 'orders').replication_key, 'id');

        const rs = await triggerAndWait(T, conn.id);
        assert.equal(rs[0].status, 'completed', JSON.stringify(rs[0]));
        assert.equal(rs[0].rows_loaded, 6);
        const users = await tableRows(srv, T, `${dest}_users`);
        assert.deepEqual(ids(users), [1, 2, 3]);
        assert.deepEqual(Object.keys(users[0]).sort(), ['id', 'name'], 'exactly the selected fields');
        const orders = await tableRows(srv, T, `${dest}_orders`);
        assert.deepEqual(ids(orders), [1, 2, 3]);
        assert.deepEqual(Object.keys(orders[0]).sort(), ['amount', 'id', 'updated_at', 'user_id']);
        assert.ok(!fs.existsSync(path.join(srv.dir, 'wh', T.slug, T.namespace, `${dest}_events`)));
        assert.ok(!fs.existsSync(path.join(srv.dir, 'wh', T.slug, T.namespace, dest)));
        // The tap got the selection as a Singer catalog with --catalog.
        const calls = fs.readFileSync(argsFile, 'utf8').trim().split('\n').map(JSON.parse);
        assert.ok(calls[0].includes('--discover'));
        assert.ok(calls[1].includes('--catalog'), JSON.stringify(calls[1]));

        // Once the connector has run, a stream keeps its table when the selection shrinks to one;
        // an explicit name wins.
        const one = await patch(conn.id, { streams: [{ tap_stream_id: 'orders', selected: false }] });
        assert.equal(stream(one.json, 'users').table, `${dest}_users`);
        const named = await patch(conn.id, { streams: [{ tap_stream_id: 'users', table: 'people' }] });
        assert.equal(stream(named.json, 'users').table, 'people');
    });

    test('a tap that ignores the selection still loads exactly the selected streams and fields', async () => {
        const conn = await multi({ count: 2, ignore_selection: true });
        assert.equal((await discover(conn.id)).status, 200);
        const p = await patch(conn.id, { streams: [
            { tap_stream_id: 'users', fields: { email: false } },
            { tap_stream_id: 'orders', selected: false },
        ] });
        assert.equal(p.status, 200, p.text);
        assert.equal(stream(p.json, 'users').table, conn.iomete_table, 'one selected stream');
        const rs = await triggerAndWait(T, conn.id);
        assert.equal(rs[0].status, 'completed', JSON.stringify(rs[0]));
        assert.equal(rs[0].rows_loaded, 2);
        const users = await tableRows(srv, T, conn.iomete_table);
        assert.deepEqual(ids(users), [1, 2]);
        assert.deepEqual(Object.keys(users[0]).sort(), ['id', 'name']);
        for (const t of ['orders', 'events', 'users'])
            assert.ok(!fs.existsSync(path.join(srv.dir, 'wh', T.slug, T.namespace, `${conn.iomete_table}_${t}`)), t);
    });

    test('bad bodies are 4xx naming the problem and change nothing', async () => {
        const conn = await multi({ count: 1 });
        assert.equal((await discover(conn.id)).status, 200);
        const before = (await getCat(conn.id)).json;
        const cases = [
            [{ streams: [{ tap_stream_id: 'nope' }] }, 'streams[0].tap_stream_id'],
            [{ streams: [{ tap_stream_id: 'users', fields: { nope: true } }] }, 'streams[0].fields.nope'],
            [{ streams: [{ tap_stream_id: 'users', fields: { id: false } }] }, 'streams[0].fields.id'],
            [{ streams: [{ tap_stream_id: 'users', fields: { legacy_blob: true } }] }, 'streams[0].fields.legacy_blob'],
            [{ streams: [{ tap_stream_id: 'orders', replication_key: 'amount' }] }, 'streams[0].replication_key'],
            [{ streams: [{ tap_stream_id: 'events', replication_method: 'INCREMENTAL' }] }, 'streams[0].replication_method'],
            [{ streams: [{ tap_stream_id: 'users', table: 'Bad-Name' }] }, 'streams[0].table'],
            [{ streams: [{ tap_stream_id: 'users', selected: 'yes' }] }, 'streams[0].selected'],
            [{ streams: [{ tap_stream_id: 'users', colour: 1 }] }, 'streams[0].colour'],
            [{ streams: [{ tap_stream_id: 'users' }, { tap_stream_id: 'users' }] }, 'streams[1].tap_stream_id'],
            [{ streams: {} }, 'streams'],
            [{ extra: 1, streams: [] }, 'extra'],
            // two streams into one table: refused, naming both
            [{ streams: [{ tap_stream_id: 'users', table: 'same' }, { tap_stream_id: 'orders', table: 'same' }] }, 'streams'],
        ];
        for (const [body, fieldName] of cases) {
            const r = await patch(conn.id, body);
            assert.equal(r.status, 422, `${JSON.stringify(body)} -> ${r.status} ${r.text}`);
            assert.equal(r.json.field, fieldName, r.text);
        }
        const coll = await patch(conn.id, cases[cases.length - 1][0]);
        assert.match(coll.json.detail, /"users" and "orders"/);
        assert.equal((await T.c('PATCH', `/v1/admin/connectors/${conn.id}/catalog`, { raw: '{bad' })).status, 400);
        assert.equal((await T.c('PATCH', `/v1/admin/connectors/${conn.id}/catalog`, { raw: '[]' })).status, 400);
        assert.deepEqual((await getCat(conn.id)).json, before, 'nothing changed');
        // Before any run, a one-stream selection loads into destination_table itself.
        const one = await patch(conn.id, { streams: [{ tap_stream_id: 'orders', selected: false }] });
        assert.equal(one.status, 200, one.text);
        assert.equal(stream(one.json, 'users').table, conn.iomete_table);
        assert.equal(stream(one.json, 'orders').table, null);
    });

    test('cross-tenant: another tenant gets 404 on every new route and nothing changes', async () => {
        const conn = await multi({ count: 1 });
        assert.equal((await discover(conn.id)).status, 200);
        const before = (await getCat(conn.id)).json;
        const other = await runnerTenant(srv);
        assert.equal((await discover(conn.id, other.c)).status, 404);
        assert.equal((await getCat(conn.id, other.c)).status, 404);
        assert.equal((await patch(conn.id, { streams: [{ tap_stream_id: 'events', selected: true }] }, other.c)).status, 404);
        // a token for a tenant that does not exist at all
        const ghost = client(srv.url, hs256(srv.secret, 'no-such-tenant'));
        assert.equal((await getCat(conn.id, ghost)).status, 404);
        assert.equal((await discover('00000000-0000-4000-8000-000000000000')).status, 404);
        assert.deepEqual((await getCat(conn.id)).json, before);
    });

    test('a crash, a timeout or garbage on discovery: clear errors, the previous catalog kept', async () => {
        const control = path.join(srv.io, 'control.json');
        fs.writeFileSync(control, '{}');
        const conn = await multi({ count: 1, control_file: control });
        assert.equal((await discover(conn.id)).status, 200);
        assert.equal((await patch(conn.id, { streams: [{ tap_stream_id: 'events', selected: true }] })).status, 200);
        const before = (await getCat(conn.id)).json;

        fs.writeFileSync(control, JSON.stringify({ crash_on_discover: true }));
        let r = await discover(conn.id);
        assert.equal(r.status, 502, r.text);
        assert.match(r.json.detail, /crashed during discovery \(exit status 3\).*cannot reach the source API/);

        fs.writeFileSync(control, JSON.stringify({ garbage_on_discover: true }));
        r = await discover(conn.id);
        assert.equal(r.status, 422, r.text);
        assert.match(r.json.detail, /printed no usable Singer catalog/);

        fs.writeFileSync(control, JSON.stringify({ sleep_on_discover: 30 }));
        const t0 = Date.now();
        r = await discover(conn.id);
        assert.equal(r.status, 422, r.text);
        assert.match(r.json.detail, /timed out after 3 s/);
        assert.ok(Date.now() - t0 < 15000);

        fs.writeFileSync(control, JSON.stringify({ extra_streams: range(1, 300).map((i) => `s${i}`) }));
        r = await discover(conn.id);
        assert.equal(r.status, 422, r.text);
        assert.match(r.json.detail, /larger than 20000 bytes \(IVORY_DISCOVER_MAX_BYTES\)/);

        assert.deepEqual((await getCat(conn.id)).json, before, 'previous catalog kept');
    });

    test('Airbyte: discover, deselect a stream; the configured catalog carries only the selection', async () => {
        const conn = await registerTap(srv, T, { count: 2, two_streams: true },
            { tap_name: 'source-fixture', connector_type: 'airbyte' });
        const d = await discover(conn.id);
        assert.equal(d.status, 200, d.text);
        assert.equal(d.json.kind, 'airbyte');
        assert.deepEqual(names(d.json), ['users', 'orders']);
        assert.equal(stream(d.json, 'users').replication_method, 'INCREMENTAL');
        assert.equal(stream(d.json, 'users').replication_key, 'id');
        assert.equal(field(d.json, 'users', 'id').inclusion, 'automatic');
        assert.deepEqual(stream(d.json, 'orders').replication_methods, ['FULL_TABLE']);
        const p = await patch(conn.id, { streams: [{ tap_stream_id: 'users', selected: false }] });
        assert.equal(p.status, 200, p.text);
        assert.equal(stream(p.json, 'orders').table, conn.iomete_table);
        const rs = await triggerAndWait(T, conn.id);
        assert.equal(rs[0].status, 'completed', JSON.stringify(rs[0]));
        const rows = await tableRows(srv, T, conn.iomete_table);
        assert.deepEqual(rows.map((x) => x.name).sort(), ['orders-1', 'orders-2']);
    });

    test('an old tap that reads only --properties gets its catalog there', async () => {
        const conn = await registerTap(srv, T, {}, { tap_name: 'tap-legacy' });
        const rs = await triggerAndWait(T, conn.id);
        assert.equal(rs[0].status, 'completed', JSON.stringify(rs[0]));
        assert.deepEqual(ids(await tableRows(srv, T, conn.iomete_table)), [1, 2]);
    });

    test('re-discovery keeps selections, reports appeared/vanished, selects nothing new; a re-selected stream starts over', async () => {
        const control = path.join(srv.io, 'control-2.json');
        fs.writeFileSync(control, '{}');
        const conn = await multi({ count: 3, control_file: control });
        const dest = conn.iomete_table;
        assert.equal((await discover(conn.id)).status, 200);
        assert.equal((await patch(conn.id, { streams: [{ tap_stream_id: 'users', fields: { email: false } }] })).status, 200);
        let rs = await triggerAndWait(T, conn.id);
        assert.equal(rs[0].status, 'completed', JSON.stringify(rs[0]));

        fs.writeFileSync(control, JSON.stringify({ extra_streams: ['refunds'], drop_streams: ['events'], count: 5 }));
        const d = await discover(conn.id);
        assert.equal(d.status, 200, d.text);
        assert.deepEqual(d.json.changes, { appeared: ['refunds'], vanished: ['events'] });
        assert.equal(stream(d.json, 'refunds').selected, false, 'a new stream is never selected silently');
        assert.equal(field(d.json, 'users', 'email').selected, false, 'field selection kept');
        assert.equal(stream(d.json, 'orders').selected, true);

        // orders out for one run: users advance, orders keep their bookmark
        assert.equal((await patch(conn.id, { streams: [{ tap_stream_id: 'orders', selected: false }] })).status, 200);
        rs = await triggerAndWait(T, conn.id);
        assert.equal(rs[0].status, 'completed', JSON.stringify(rs[0]));
        let st = (await T.c.get(`/v1/admin/connectors/${conn.id}`)).json.tap_state;
        assert.deepEqual(st.bookmarks, { users: { last_id: 5 }, orders: { last_id: 3 } });
        assert.deepEqual(ids(await tableRows(srv, T, `${dest}_users`)), range(1, 5),
            'users keep their table when the selection shrinks to one stream');

        // orders selected again: its bookmark goes, the others' stay
        assert.equal((await patch(conn.id, { streams: [{ tap_stream_id: 'orders', selected: true }] })).status, 200);
        st = (await T.c.get(`/v1/admin/connectors/${conn.id}`)).json.tap_state;
        assert.deepEqual(st.bookmarks, { users: { last_id: 5 } });
        rs = await triggerAndWait(T, conn.id);
        assert.equal(rs[0].status, 'completed', JSON.stringify(rs[0]));
        assert.equal(rs[0].rows_loaded, 5, 'orders 1..5 from the beginning, users nothing new');
        assert.deepEqual(ids(await tableRows(srv, T, `${dest}_orders`)), [1, 1, 2, 2, 3, 3, 4, 5]);
    });

    test('tap-csv with two files: both streams load into their own tables though the second SCHEMA comes late', async () => {
        const a = path.join(srv.io, 'a.csv'), b = path.join(srv.io, 'b.csv');
        fs.writeFileSync(a, 'id,name\n1,x\n2,y\n');
        fs.writeFileSync(b, 'id,total\n7,1.5\n8,2.5\n9,3.5\n');
        const conn = await registerTap(srv, T, { files: [{ stream: 'customers', path: a, key_properties: ['id'] },
            { stream: 'orders', path: b, key_properties: ['id'] }] }, { tap_name: 'tap-csv' });
        const rs = await triggerAndWait(T, conn.id);
        assert.equal(rs[0].status, 'completed', JSON.stringify(rs[0]));
        assert.deepEqual(ids(await tableRows(srv, T, `${conn.iomete_table}_customers`)), [1, 2]);
        assert.deepEqual(ids(await tableRows(srv, T, `${conn.iomete_table}_orders`)), [7, 8, 9]);
        // the discovery the run made is stored and visible
        const c = await getCat(conn.id);
        assert.equal(c.status, 200);
        assert.deepEqual(names(c.json), ['customers', 'orders']);
    });
});
