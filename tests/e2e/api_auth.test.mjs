// api_auth.test.mjs — JWT authentication (docs/api.md) with tokens minted independently by
// node's crypto: HS256 secret, RS256 PEM, ES256 JWKS, issuer/audience checks and the
// allow-list. Every rejected token is 401 with `WWW-Authenticate: Bearer` on every
// authenticated route, and the webhook does not accept a JWT in place of its signature.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { request } from './lib/http.mjs';
import { brokenTokens, claims, ecKeys, hs256, jwks, nowS, rsaKeys, sign } from './lib/jwt.mjs';
import { notBuilt, startServer } from './lib/server.mjs';
import { newTenant } from './lib/tenant.mjs';

async function expect401(srv, token, label, { path = '/v1/admin/connectors', headers } = {}) {
    const r = await request(srv.url, 'GET', path, { token, headers });
    assert.equal(r.status, 401, `${label}: ${r.status} ${r.text}`);
    assert.match(r.headers.get('www-authenticate') ?? '', /^Bearer\b/, `${label}: WWW-Authenticate`);
    assert.equal(typeof r.json?.error, 'string', `${label}: JSON error body`);
}

describe('JWT: HS256 (docs/api.md)', { skip: notBuilt('serve') }, () => {
    let srv, T;
    before(async () => {
        srv = await startServer();
        T = await newTenant(srv);
    });
    after(async () => { if (srv) await srv.stop(); });

    test('a valid token is accepted', async () => {
        const r = await request(srv.url, 'GET', '/v1/admin/connectors', { token: T.token });
        assert.equal(r.status, 200, r.text);
    });

    test('missing or non-Bearer Authorization: 401', async () => {
        await expect401(srv, undefined, 'no header');
        await expect401(srv, undefined, 'Basic', { headers: { authorization: 'Basic dXNlcjpwYXNz' } });
        await expect401(srv, undefined, 'empty Bearer', { headers: { authorization: 'Bearer ' } });
        await expect401(srv, undefined, 'lower-case scheme, no token', { headers: { authorization: 'bearer' } });
    });

    test('every broken token: 401 with WWW-Authenticate: Bearer', async () => {
        for (const [label, tok] of Object.entries(brokenTokens(T.id, { secret: srv.secret })))
            await expect401(srv, tok, label);
    });

    test('expiry leeway is small (exp 10 minutes ago is rejected, 5 s ago accepted)', async () => {
        const t = nowS();
        await expect401(srv, sign({ sub: T.id, exp: t - 600 }, { key: srv.secret }), 'exp -600 s');
        const r = await request(srv.url, 'GET', '/v1/admin/connectors',
            { token: sign({ sub: T.id, exp: t - 5 }, { key: srv.secret }) });
        assert.equal(r.status, 200, `exp -5 s should be within leeway: ${r.text}`);
    });

    test('RS256 / ES256 tokens are not accepted by an HS256-only server', async () => {
        await expect401(srv, rsaKeys().token(T.id), 'RS256 on HS256 server');
        await expect401(srv, ecKeys().token(T.id), 'ES256 on HS256 server');
    });

    test('every authenticated route rejects a missing token', async () => {
        const id = crypto.randomUUID();
        for (const [m, p] of [['GET', '/v1/admin/connectors'], ['POST', '/v1/admin/connectors'],
            ['GET', `/v1/admin/connectors/${id}`], ['DELETE', `/v1/admin/connectors/${id}`],
            ['POST', `/v1/admin/connectors/${id}/trigger`], ['POST', `/v1/admin/connectors/${id}/pause`],
            ['POST', `/v1/admin/connectors/${id}/resume`], ['GET', `/v1/admin/connectors/${id}/runs`],
            ['GET', `/v1/admin/tenants/${id}/catalog`], ['POST', `/v1/admin/tenants/${id}/catalog`],
            ['DELETE', `/v1/admin/tenants/${id}/catalog/x`]]) {
            const r = await request(srv.url, m, p, m === 'POST' ? { body: {} } : {});
            assert.equal(r.status, 401, `${m} ${p}: ${r.status} ${r.text}`);
            assert.match(r.headers.get('www-authenticate') ?? '', /^Bearer\b/, `${m} ${p}`);
        }
    });

    test('health needs no token', async () => {
        const r = await request(srv.url, 'GET', '/healthz');
        assert.equal(r.status, 200);
    });

    test('the webhook ignores JWTs: a valid token without a signature is 401', async () => {
        const r = await request(srv.url, 'POST', '/v1/etl/meltano/webhook',
            { token: T.token, body: { connector_id: crypto.randomUUID(), run_id: crypto.randomUUID(), status: 'completed' } });
        assert.equal(r.status, 401, r.text);
    });
});

describe('JWT: RS256 public key, issuer and audience', { skip: notBuilt('serve') }, () => {
    let srv, rsa, T;
    const iss = 'https://issuer.ivory.test/', aud = 'ivory-api';
    before(async () => {
        rsa = rsaKeys();
        srv = await startServer({ noSecret: true, publicKeyPem: rsa.publicPem, issuer: iss, audience: aud });
        T = await newTenant(srv, { sign: (sub, extra) => rsa.token(sub, { iss, aud, ...extra }) });
    });
    after(async () => { if (srv) await srv.stop(); });

    test('a valid RS256 token with iss and aud is accepted (aud as string or array)', async () => {
        for (const a of [aud, ['other', aud]]) {
            const r = await request(srv.url, 'GET', '/v1/admin/connectors', { token: rsa.token(T.id, { iss, aud: a }) });
            assert.equal(r.status, 200, `aud=${JSON.stringify(a)}: ${r.text}`);
        }
    });

    test('wrong or missing iss/aud, wrong key, algorithm confusion: 401', async () => {
        await expect401(srv, rsa.token(T.id, { iss: 'https://evil.test/', aud }), 'wrong iss');
        await expect401(srv, rsa.token(T.id, { aud }), 'missing iss');
        await expect401(srv, rsa.token(T.id, { iss, aud: 'other' }), 'wrong aud');
        await expect401(srv, rsa.token(T.id, { iss }), 'missing aud');
        await expect401(srv, rsaKeys().token(T.id, { iss, aud }), 'RS256 signed by another key');
        await expect401(srv, sign(claims(T.id, { iss, aud }), { alg: 'HS256', key: rsa.publicPem }),
            'HS256 signed with the RSA public PEM');
        await expect401(srv, sign(claims(T.id, { iss, aud }), { alg: 'none' }), 'alg none');
        await expect401(srv, ecKeys().token(T.id, { iss, aud }), 'ES256 on an RSA key');
        await expect401(srv, sign({ sub: T.id, iss, aud, exp: nowS() - 3600 }, { alg: 'RS256', key: rsa.privateKey }), 'expired');
    });
});

describe('JWT: ES256 and RS256 from a JWKS file, allow-list', { skip: notBuilt('serve') }, () => {
    let srv, ec, rsa;
    before(async () => {
        ec = ecKeys('ec-kid');
        rsa = rsaKeys('rsa-kid');
        srv = await startServer({ noSecret: true, jwks: jwks(ec, rsa), algs: 'ES256' });
    });
    after(async () => { if (srv) await srv.stop(); });

    test('ES256 from the JWKS is accepted; RS256 is outside the allow-list', async () => {
        const T = await newTenant(srv, { sign: (sub, extra) => ec.token(sub, extra) });
        const r = await request(srv.url, 'GET', '/v1/admin/connectors', { token: ec.token(T.id) });
        assert.equal(r.status, 200, r.text);
        await expect401(srv, rsa.token(T.id), 'RS256 not in IVORY_JWT_ALGS');
        await expect401(srv, ecKeys('ec-kid').token(T.id), 'ES256 with the right kid but another key');
        await expect401(srv, ec.token(T.id, {}, { kid: 'unknown-kid' }), 'unknown kid');
        const bad = ec.token(T.id).split('.');
        bad[2] = Buffer.from(bad[2], 'base64url').reverse().toString('base64url');
        await expect401(srv, bad.join('.'), 'ES256 bad signature');
    });
});

describe('JWT: HS256 secret and RSA public key configured together', { skip: notBuilt('serve') }, () => {
    let srv, rsa;
    before(async () => {
        rsa = rsaKeys();
        srv = await startServer({ publicKeyPem: rsa.publicPem });
    });
    after(async () => { if (srv) await srv.stop(); });

    test('both real algorithms work; HS256 keyed with the public PEM does not', async () => {
        const T = await newTenant(srv);
        for (const [label, tok] of [['HS256 with the secret', hs256(srv.secret, T.id)], ['RS256', rsa.token(T.id)]]) {
            const r = await request(srv.url, 'GET', '/v1/admin/connectors', { token: tok });
            assert.equal(r.status, 200, `${label}: ${r.text}`);
        }
        for (const [label, tok] of Object.entries(brokenTokens(T.id, { secret: srv.secret, rsa })))
            await expect401(srv, tok, label);
    });
});
