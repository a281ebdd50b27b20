// secrets_logs.test.mjs — no secret ever reaches a log (docs/security.md, "Secrets in logs").
// One server with distinct, recognisable secrets everywhere they exist: the JWT secret, the
// master key, the config key, tenant tokens, tap config passwords and tokens (nested too, one
// with characters JSON escapes), a platform catalog's S3 secret key and OAuth credential, the
// connector webhook secrets (created and rotated), and the store's PostgreSQL password when
// the suite runs on PostgreSQL. It runs a full sync (tap-fixture echoing its secrets to stderr,
// the runner's automatic discovery, checkpoints, the signed webhook), a failing run whose tap
// prints a secret in its failure, a rotation, and API errors that quote bodies; then every line
// the server wrote (stdout and stderr, whole) must be a JSON object, and neither the lines, the
// decoded values, the runs' error_msg and log_tail, nor any file left in the runner's temporary
// directory may hold any secret in any plausible form (raw, JSON-escaped, base64, hex, upper
// or lower case).
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { PG_URL, notBuilt, tempDir } from './lib/server.mjs';
import {
    encryptConfig, registerTap, runnerTenant, startRunnerServer, triggerAndWait,
} from './lib/runner.mjs';
import { fetchRetry } from './lib/http.mjs';

const tag = crypto.randomBytes(4).toString('hex');
const S = {
    jwt: `JWT-SECRET-${tag}-0123456789abcdef0123456789`,
    tapPassword: `tap-PW-${tag}"quoted\\back/slash`,
    tapToken: `tap-TOKEN-${tag}-zyxw`,
    nestedSecret: `nested-CLIENT-secret-${tag}`,
    s3Secret: `s3-SECRET-key-${tag}`,
    oauthSecret: `oauth-CLIENT-secret-${tag}`,
    failSecret: `fail-API-key-${tag}`,
};
const masterKey = crypto.randomBytes(32);
const configKey = crypto.randomBytes(32);

// Every form a secret could plausibly take in a log line or a file.
function forms(v) {
    const raw = typeof v === 'string' ? Buffer.from(v, 'utf8') : v;
    const text = raw.toString('utf8');
    const out = new Set([raw.toString('base64'), raw.toString('base64url'), raw.toString('hex')]);
    if (typeof v === 'string') {
        const esc = JSON.stringify(text).slice(1, -1);
        for (const f of [text, esc, text.toUpperCase(), text.toLowerCase(), JSON.stringify(esc).slice(1, -1)]) out.add(f);
    }
    return [...out].filter((f) => f.length >= 8);
}

// The first secret (name) any of `texts` holds, checked case-insensitively.
function leak(secrets, texts) {
    for (const [name, v] of Object.entries(secrets))
        for (const f of forms(v))
            for (const t of texts)
                if (t && t.toLowerCase().includes(f.toLowerCase())) return `${name} (as ${JSON.stringify(f)})`;
    return null;
}

function strings(v, out = []) {
    if (typeof v === 'string') out.push(v);
    else if (v && typeof v === 'object') for (const x of Object.values(v)) strings(x, out);
    return out;
}

describe('secrets never reach the logs', { skip: notBuilt('serve') }, () => {
    let srv, T, conn;
    const dir = tempDir('ivory-secrets-');
    const secrets = { ...S, masterKey, configKey };
    before(async () => {
        srv = await startRunnerServer({
            key: configKey, secret: S.jwt, fullOutput: true, dir, keepDir: true,
            env: { IVORY_MASTER_KEY: masterKey.toString('base64'), IVORY_LOG_LEVEL: 'debug' },
        });
        T = await runnerTenant(srv);
        secrets.tenantToken = T.token;
        if (PG_URL) {
            const pw = new URL(PG_URL).password;
            if (pw) secrets.pgPassword = decodeURIComponent(pw);
        }
    });
    after(async () => {
        if (srv) await srv.stop();
        if (!process.env.IVORY_E2E_KEEP) fs.rmSync(dir, { recursive: true, force: true });
    });

    test('a full sync, a failing run, a rotation and API errors; then every log line is checked', { timeout: 120000 }, async () => {
        // A platform catalog with an S3 secret key and an OAuth client secret (sealed at rest).
        const cat = await T.c.post(`/v1/admin/tenants/${T.id}/catalog`, {
            catalog_name: 'rest-with-secrets', catalog_type: 'rest', catalog_uri: 'http://127.0.0.1:9/iceberg',
            warehouse: `file://${srv.dir}/wh`, storage_prefix: T.slug, s3_endpoint: 'http://127.0.0.1:9',
            s3_access_key_id: 'AKIDEXAMPLE', s3_secret_key_enc: S.s3Secret,
            catalog_credential_enc: `client-id:${S.oauthSecret}`,
        });
        assert.ok([200, 201].includes(cat.status), cat.text);
        assert.equal(leak(secrets, [cat.text]), null, 'the catalog answer holds a secret');

        // The sync: the tap echoes its password and token on stderr (the runner redacts them).
        const src = path.join(srv.io, 'secret-src.jsonl');
        fs.writeFileSync(src, Array.from({ length: 30 }, (_, i) => JSON.stringify({ id: i + 1, name: `r${i + 1}` })).join('\n') + '\n');
        conn = await registerTap(srv, T, {
            source: src, state_every: 10, password: S.tapPassword, api_token: S.tapToken,
            oauth: { client_secret: S.nestedSecret },
            stderr_text: `connecting with password=${S.tapPassword} token=${S.tapToken} ` +
                         `json=${JSON.stringify(S.tapPassword)} secret=${S.nestedSecret}`,
        });
        secrets.webhookSecret = conn.webhook_secret;
        assert.match(conn.webhook_secret, /^[0-9a-f]{64}$/);
        let rs = await triggerAndWait(T, conn.id);
        assert.equal(rs[0].status, 'completed', JSON.stringify(rs[0]));
        assert.equal(rs[0].rows_loaded, 30);
        const okRun = (await T.c.get(`/v1/admin/connectors/${conn.id}/runs/${rs[0].id}`)).json;
        assert.match(okRun.log_tail, /\[REDACTED\]/, 'the tap did print its secrets; the tail shows them redacted');

        // The webhook secret rotates; the runner signs the next run with the new one.
        const rot = await T.c.post(`/v1/admin/connectors/${conn.id}/rotate-webhook-secret`);
        assert.equal(rot.status, 200, rot.text);
        secrets.rotatedSecret = rot.json.webhook_secret;

        // A failing run: the tap's failure message holds a secret of its config.
        const p = await T.c.patch(`/v1/admin/connectors/${conn.id}`, {
            config_encrypted: encryptConfig(configKey, {
                source: src, count: 40, api_key: S.failSecret, password: S.tapPassword, fail_after: 0,
                fail_message: `auth failed for api_key=${S.failSecret} password=${S.tapPassword}`,
            }),
        });
        assert.equal(p.status, 200, p.text);
        fs.appendFileSync(src, JSON.stringify({ id: 31, name: 'r31' }) + '\n');
        rs = await triggerAndWait(T, conn.id);
        assert.equal(rs[0].status, 'failed', JSON.stringify(rs[0]));
        assert.match(rs[0].error_msg, /auth failed for api_key=\[REDACTED\]/);

        // API errors that quote what they were sent, and a forged webhook.
        const bad = await T.c.post('/v1/admin/connectors', { source_system: 'x', tap_name: 'tap-fixture',
            destination_catalog: 'ivory-lakehouse', destination_table: 't', config_encrypted: S.tapToken });
        assert.equal(bad.status, 422);
        const forged = await fetchRetry(`${srv.url}/v1/etl/meltano/webhook`, {
            method: 'POST', headers: { 'content-type': 'application/json', 'x-ivory-signature': `t=${Math.floor(Date.now() / 1000)},v1=${'0'.repeat(64)}` },
            body: JSON.stringify({ connector_id: conn.id, run_id: 'r', status: 'completed' }) });
        assert.ok(forged.status >= 400);
        await forged.arrayBuffer();

        // Every answer the API gave about the runs: error_msg, log_tail, detail.
        const all = (await T.c.get(`/v1/admin/connectors/${conn.id}/runs?limit=200`)).json.runs;
        const texts = [];
        for (const r of all) texts.push(JSON.stringify((await T.c.get(`/v1/admin/connectors/${conn.id}/runs/${r.id}`)).json));
        texts.push(JSON.stringify((await T.c.get(`/v1/admin/connectors/${conn.id}`)).json));
        const api = leak(secrets, texts);
        assert.equal(api, null, `an API answer holds a secret: ${api}`);

        // Stop the server so every line is flushed, then check the whole output.
        await srv.stop();
        const out = srv.output();
        srv = null;
        const lines = [];
        for (const [stream, text] of Object.entries(out)) {
            for (const line of text.split('\n')) {
                if (line === '') continue;
                let obj;
                try { obj = JSON.parse(line); } catch { assert.fail(`${stream} line is not JSON: ${line.slice(0, 300)}`); }
                assert.ok(obj && typeof obj === 'object' && !Array.isArray(obj), `${stream} line is not a JSON object: ${line.slice(0, 300)}`);
                lines.push(line, ...strings(obj));
            }
        }
        assert.ok(lines.length > 20, `the server logged (${lines.length} lines and values)`);
        assert.ok(lines.some((l) => /completed/.test(l)) && lines.some((l) => /failed/.test(l)),
                  'the logs describe both runs');
        const found = leak(secrets, lines);
        assert.equal(found, null, `a log line holds ${found}`);

        // Files the runner left in its temporary directory (its private run dirs are removed).
        const left = [];
        const walk = (d) => { for (const e of fs.readdirSync(d, { withFileTypes: true })) {
            const p2 = path.join(d, e.name);
            if (e.isDirectory()) walk(p2); else if (e.isFile()) left.push(fs.readFileSync(p2).toString('latin1'));
        } };
        const tmp = path.join(dir, 'tmp');
        if (fs.existsSync(tmp)) walk(tmp);
        const inFiles = leak(secrets, left);
        assert.equal(inFiles, null, `a file left in TMPDIR holds ${inFiles}`);
    });
});
