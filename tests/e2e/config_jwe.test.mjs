// config_jwe.test.mjs — issue 7, point 7: client-side config encryption without a shared key.
// The server publishes the public half of its config key pair as a JWK
// (GET /v1/admin/config-key); a client encrypts a tap config with the independent `jose`
// library (RSA-OAEP-256 + A256GCM against an RSA server, ECDH-ES + A256GCM against an EC
// server), registers it, and the runner decrypts it for a real sync whose rows are read back.
// The reverse: `ivory config encrypt --jwk` output is decrypted by jose with the private key.
// JWEs for another key, other algorithms and tampered ciphertexts are refused.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import * as jose from 'jose';
import { request } from './lib/http.mjs';
import { runnerTenant, startRunnerServer, tableRows, triggerAndWait } from './lib/runner.mjs';
import { ivory, notBuilt, tempDir } from './lib/server.mjs';

const skip = notBuilt('serve');

function keyFiles(kind) {
    const dir = tempDir('ivory-jwe-');
    const pair = kind === 'rsa'
        ? crypto.generateKeyPairSync('rsa', { modulusLength: 2048 })
        : crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const priv = path.join(dir, 'config-key.pem');
    fs.writeFileSync(priv, pair.privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
    return { dir, priv, privateKey: pair.privateKey, publicKey: pair.publicKey };
}

async function registerJwe(T, jwe, extra = {}) {
    return T.c.post('/v1/admin/connectors', {
        source_system: 'fixture', tap_name: 'tap-fixture', destination_catalog: 'ivory-lakehouse',
        destination_table: `t_${crypto.randomBytes(3).toString('hex')}`, sync_schedule: '@yearly',
        config_encrypted: jwe, ...extra,
    });
}

for (const kind of ['rsa', 'ec']) {
    const alg = kind === 'rsa' ? 'RSA-OAEP-256' : 'ECDH-ES';
    describe(`config_encrypted as a JWE (${alg} + A256GCM)`, { skip }, () => {
        let srv, T, K, jwk;
        before(async () => {
            K = keyFiles(kind);
            srv = await startRunnerServer({ env: { IVORY_CONFIG_PRIVATE_KEY: K.priv } });
            T = await runnerTenant(srv);
        });
        after(async () => { if (srv) await srv.stop(); fs.rmSync(K.dir, { recursive: true, force: true }); });

        test('GET /v1/admin/config-key is the public JWK, authenticated, with an RFC 7638 kid', async () => {
            assert.equal((await request(srv.url, 'GET', '/v1/admin/config-key')).status, 401);
            const r = await T.c.get('/v1/admin/config-key');
            assert.equal(r.status, 200, r.text);
            jwk = r.json;
            assert.equal(jwk.alg, alg);
            assert.equal(jwk.use, 'enc');
            assert.equal(jwk.kty, kind === 'rsa' ? 'RSA' : 'EC');
            for (const privateMember of ['d', 'p', 'q', 'dp', 'dq', 'qi'])
                assert.ok(!(privateMember in jwk), `private member ${privateMember} published`);
            const expected = await jose.exportJWK(K.publicKey);
            for (const m of kind === 'rsa' ? ['n', 'e'] : ['x', 'y', 'crv']) assert.equal(jwk[m], expected[m]);
            assert.equal(jwk.kid, await jose.calculateJwkThumbprint(expected, 'sha256'));
        });

        test('a JWE made by jose with that JWK is accepted and the runner decrypts it for a sync', async () => {
            const pub = await jose.importJWK(jwk, alg);
            const cfg = { count: 6, stream: 'jwe_items' };
            const jwe = await new jose.CompactEncrypt(new TextEncoder().encode(JSON.stringify(cfg)))
                .setProtectedHeader({ alg, enc: 'A256GCM', kid: jwk.kid }).encrypt(pub);
            const r = await registerJwe(T, jwe);
            assert.equal(r.status, 201, r.text);
            const rs = await triggerAndWait(T, r.json.id);
            assert.equal(rs[0].status, 'completed', JSON.stringify(rs[0]));
            const rows = await tableRows(srv, T, r.json.destination_table ?? r.json.iomete_table);
            assert.equal(rows.length, 6);
        });

        test('ivory config encrypt --jwk output is decrypted by jose with the private key', async () => {
            const jf = path.join(K.dir, 'jwk.json');
            fs.writeFileSync(jf, JSON.stringify(jwk));
            const plain = JSON.stringify({ api_key: 'sk-' + crypto.randomBytes(8).toString('hex'), n: 1 });
            const out = ivory(['config', 'encrypt', '--jwk', jf], { input: plain });
            assert.equal(out.status, 0, out.stderr);
            const compact = out.stdout.trim();
            const { plaintext, protectedHeader } = await jose.compactDecrypt(compact, K.privateKey);
            assert.equal(new TextDecoder().decode(plaintext), plain);
            assert.equal(protectedHeader.alg, alg);
            assert.equal(protectedHeader.enc, 'A256GCM');
            assert.equal(protectedHeader.kid, jwk.kid);
            // and ivory decrypts its own output with the private key
            const back = ivory(['config', 'decrypt', '--key', K.priv], { input: compact });
            assert.equal(back.status, 0, back.stderr);
            assert.equal(back.stdout, plain);
            // the server accepts it too
            assert.equal((await registerJwe(T, compact)).status, 201);
        });

        test('JWEs for another key, other algorithms, or malformed are 422 naming config_encrypted', async () => {
            const other = keyFiles(kind);
            const otherJwk = await jose.exportJWK(other.publicKey);
            otherJwk.kid = await jose.calculateJwkThumbprint(otherJwk, 'sha256');
            const enc = (hdr, key) => new jose.CompactEncrypt(new TextEncoder().encode('{"a":1}'))
                .setProtectedHeader(hdr).encrypt(key);
            const bad = [
                await enc({ alg, enc: 'A256GCM', kid: otherJwk.kid }, other.publicKey),
                await enc({ alg: 'dir', enc: 'A256GCM' }, crypto.randomBytes(32)),
                await enc({ alg, enc: 'A128GCM' }, await jose.importJWK(jwk, alg)),
                await enc({ alg: kind === 'rsa' ? 'RSA-OAEP' : 'ECDH-ES+A256KW', enc: 'A256GCM' }, await jose.importJWK(jwk, kind === 'rsa' ? 'RSA-OAEP' : 'ECDH-ES+A256KW')),
                'a.b.c.d.e',
                'eyJhbGciOiJub25lIn0....',
            ];
            for (const b of bad) {
                const r = await registerJwe(T, b);
                assert.equal(r.status, 422, `${b.slice(0, 40)}: ${r.status} ${r.text}`);
                assert.equal(r.json.field, 'config_encrypted');
            }
            fs.rmSync(other.dir, { recursive: true, force: true });
        });

        test('a tampered ciphertext fails the run with a clear reason and no rows', async () => {
            const pub = await jose.importJWK(jwk, alg);
            const jwe = await new jose.CompactEncrypt(new TextEncoder().encode(JSON.stringify({ count: 3 })))
                .setProtectedHeader({ alg, enc: 'A256GCM' }).encrypt(pub);
            const parts = jwe.split('.');
            const ct = Buffer.from(parts[3], 'base64url');
            ct[0] ^= 1;
            parts[3] = ct.toString('base64url');
            const r = await registerJwe(T, parts.join('.'));
            assert.equal(r.status, 201, r.text);
            const rs = await triggerAndWait(T, r.json.id);
            assert.equal(rs[0].status, 'failed');
            assert.match(rs[0].error_msg, /JWE/);
            assert.deepEqual(await tableRows(srv, T, r.json.destination_table ?? r.json.iomete_table), []);
        });
    });
}
