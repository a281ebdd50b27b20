// mappings_llm.test.mjs — the optional LLM proposer of POST /v1/admin/connectors/{id}/map-fields
// (docs/transforms.md, "The LLM proposer"), against a local stub speaking the OpenAI
// chat-completions shape (never a real model): a good answer is validated and saved; a
// malicious one (bad expressions, unknown columns and fields, duplicates, a huge body) is
// dropped item by item or refused whole; a timeout, a 500 and a redirect fall back to the
// deterministic proposer with every proposal marked for review and the reason in `message`.
// The stub sees only names and types — never the connector's config — and the API key never
// appears in the server's log.
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, test } from 'node:test';
import { notBuilt } from './lib/server.mjs';
import { registerTap, runnerTenant, startRunnerServer } from './lib/runner.mjs';

const API_KEY = 'sk-test-llm-key-5a1f0c9e7d';
const SECRET = 'tap-password-9f8e7d6c5b';

// What the stub answers, chosen by the request's source_stream.
function answer(stream) {
    const wrap = (content) => JSON.stringify({ id: 'x', object: 'chat.completion',
        choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop' }] });
    switch (stream) {
    case 'good':
        return { body: wrap('```json\n' + JSON.stringify({ mappings: [
            { source_field: 'UserID', target_column: 'user_id', transform_fn: null },
            { source_field: 'mail', target_column: 'email', transform_fn: 'value.strip().lower()' },
            { source_field: 'created', target_column: 'created_at', transform_fn: 'parse_datetime(value)' },
        ] }) + '\n```') };
    case 'evil':
        return { body: wrap(JSON.stringify({ mappings: [
            { source_field: 'UserID', target_column: 'user_id', transform_fn: "__import__('os').system('id')" },
            { source_field: 'UserID', target_column: 'no_such_column', transform_fn: null },
            { source_field: 'password', target_column: 'email', transform_fn: null },
            { source_field: 'mail', target_column: 'email', transform_fn: 'value.strip(' },
            { source_field: 'mail', target_column: 'email', transform_fn: 'value.lower()' },
            { source_field: 'created', target_column: 'email', transform_fn: null },
            'not an object',
        ] })) };
    case 'allbad':
        return { body: wrap(JSON.stringify({ mappings: [
            { source_field: 'UserID', target_column: 'user_id', transform_fn: 'lambda: 1' }] })) };
    case 'huge':
        return { body: wrap('x'.repeat(2 * 1024 * 1024)) };
    case 'prose':
        return { body: wrap('I think UserID maps to user_id.') };
    case 'slow':
        return { delayMs: 5000, body: wrap('{"mappings": []}') };
    case 'redirect':
        return { status: 302, headers: { Location: 'http://127.0.0.1:1/elsewhere' }, body: '' };
    default:
        return { status: 500, body: '{"error": "boom"}' };
    }
}

describe('map-fields with an LLM proposer (stub server)', { skip: notBuilt('serve') }, () => {
    let stub, srv, T, conn;
    const seen = [];
    before(async () => {
        stub = http.createServer((req, res) => {
            let body = '';
            req.on('data', (d) => { body += d; });
            req.on('end', () => {
                seen.push({ method: req.method, url: req.url, auth: req.headers.authorization, body });
                const user = JSON.parse(JSON.parse(body).messages.find((m) => m.role === 'user').content);
                const a = answer(user.source_stream);
                const send = () => {
                    if (res.destroyed) return;
                    res.writeHead(a.status ?? 200, { 'Content-Type': 'application/json', ...(a.headers ?? {}) });
                    res.end(a.body);
                };
                if (a.delayMs) setTimeout(send, a.delayMs); else send();
            });
        });
        await new Promise((r) => stub.listen(0, '127.0.0.1', r));
        srv = await startRunnerServer({ env: {
            IVORY_MAPPING_LLM_URL: `http://127.0.0.1:${stub.address().port}/v1/`,
            IVORY_MAPPING_LLM_MODEL: 'stub-model', IVORY_MAPPING_LLM_API_KEY: API_KEY,
            IVORY_MAPPING_LLM_TIMEOUT: '1', IVORY_LOG_LEVEL: 'debug' } });
        T = await runnerTenant(srv);
        conn = await registerTap(srv, T, { count: 1, password: SECRET });
    });
    after(async () => {
        if (srv) await srv.stop();
        if (stub) { stub.closeAllConnections(); await new Promise((r) => stub.close(r)); }
    });

    const ask = (stream) => T.c.post(`/v1/admin/connectors/${conn.id}/map-fields`, {
        source_stream: stream,
        source_schema: { type: 'object', properties: {
            UserID: { type: 'integer', description: 'internal id, e.g. 12345' },
            mail: { type: ['null', 'string'], examples: ['ann@example.com'] },
            created: { type: 'string', format: 'date-time' }, password: { type: 'string' } } },
        target_schema: 'custom', target_table: conn.iomete_table,
        target_schema_def: { user_id: 'long', email: 'string', created_at: 'timestamptz' },
    });

    test('a good answer is validated and saved; only names and types were sent', async () => {
        const r = await ask('good');
        assert.equal(r.status, 201, r.text);
        assert.equal(r.json.mapped, 3);
        assert.match(r.json.message, /LLM proposer, model 'stub-model'; 0 of its proposals dropped/);
        const by = Object.fromEntries(r.json.mappings.map((m) => [m.target_column, m]));
        assert.equal(by.email.transform_fn, 'value.strip().lower()');
        assert.equal(by.created_at.target_type, 'timestamptz', 'the type comes from target_schema_def');
        // The deterministic proposer independently agrees on user_id <- UserID as it is: no review.
        assert.equal(by.user_id.review_required, false);
        assert.equal(by.email.review_required, true);
        assert.equal(by.created_at.review_required, true);
        assert.equal(r.json.review_required, 2);
        const saved = (await T.c.get(`/v1/admin/connectors/${conn.id}/mappings`)).json;
        assert.equal(saved.count, 3);

        const req = seen.at(-1);
        assert.equal(req.method, 'POST');
        assert.equal(req.url, '/v1/chat/completions');
        assert.equal(req.auth, `Bearer ${API_KEY}`);
        const sent = JSON.parse(req.body);
        assert.equal(sent.model, 'stub-model');
        const user = JSON.parse(sent.messages.find((m) => m.role === 'user').content);
        assert.deepEqual(user.source_fields.map((f) => f.name).sort(), ['UserID', 'created', 'mail', 'password']);
        for (const f of user.source_fields) assert.deepEqual(Object.keys(f).sort().filter((k) => !['name', 'type', 'format'].includes(k)), []);
        assert.deepEqual(user.target_columns, [{ name: 'user_id', type: 'long' }, { name: 'email', type: 'string' },
                                               { name: 'created_at', type: 'timestamptz' }]);
        for (const word of [SECRET, '12345', 'ann@example.com', T.id ?? 'no-tenant-id', conn.id])
            assert.ok(!req.body.includes(word), `the request must not carry ${word}`);
    });

    test('a malicious answer: invalid proposals are dropped one by one', async () => {
        const r = await ask('evil');
        assert.equal(r.status, 201, r.text);
        // Only "password -> email" is valid (a real field, a real column; a human reviews it):
        // a dunder call, an unknown column, a syntax error, two more proposals for the column
        // already taken and a non-object are dropped.
        const cols = r.json.mappings.map((m) => `${m.source_field}->${m.target_column}:${m.transform_fn}`);
        assert.deepEqual(cols, ['password->email:null']);
        assert.equal(r.json.mappings[0].review_required, true);
        assert.match(r.json.message, /6 of its proposals dropped as invalid, first: proposal 0: transform_fn SyntaxError/);
    });

    for (const [stream, why] of [
        ['allbad', /none of its proposals was valid \(first: proposal 0: transform_fn SyntaxError/],
        ['huge', /larger than 256 KiB/],
        ['prose', /holds no JSON list of mappings/],
        ['slow', /did not answer within 1 s/],
        ['redirect', /answered HTTP 302/],
        ['fail500', /answered HTTP 500/],
    ]) {
        test(`${stream}: falls back to the deterministic proposer, every proposal for review`, async () => {
            const t0 = Date.now();
            const r = await ask(stream);
            assert.equal(r.status, 201, r.text);
            assert.ok(Date.now() - t0 < 4000, 'the timeout is enforced');
            assert.match(r.json.message, /deterministic proposer: the LLM proposer was not used because/);
            assert.match(r.json.message, why);
            const by = Object.fromEntries(r.json.mappings.map((m) => [m.target_column, m]));
            assert.equal(by.user_id.source_field, 'UserID');
            assert.ok(r.json.mappings.every((m) => m.review_required));
            assert.equal(r.json.review_required, r.json.mappings.length);
        });
    }

    test('the API key and the tap secret never reach the log', async () => {
        const log = srv.stderr();
        assert.match(log, /LLM proposer failed/);
        assert.ok(!log.includes(API_KEY));
        assert.ok(!log.includes(SECRET));
    });
});
