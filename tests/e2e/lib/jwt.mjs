// jwt.mjs — test-side JWT minting with node's built-in crypto (no npm deps): valid HS256 /
// RS256 / ES256 tokens, PEM and JWKS exports of the test keys, and the deliberately broken
// tokens the API must reject (docs/api.md). Independent of the server's own JWT code.
import crypto from 'node:crypto';

export const b64url = (buf) => Buffer.from(buf).toString('base64url');
const enc = (obj) => b64url(JSON.stringify(obj));
export const nowS = () => Math.floor(Date.now() / 1000);

// Signs header.payload with the given algorithm and key; returns the compact JWT.
export function sign(payload, { alg = 'HS256', key, header = {} } = {}) {
    const h = { alg, typ: 'JWT', ...header };
    const input = `${enc(h)}.${enc(payload)}`;
    let sig;
    if (alg === 'HS256') sig = crypto.createHmac('sha256', key).update(input).digest();
    else if (alg === 'RS256') sig = crypto.sign('sha256', Buffer.from(input), key);
    else if (alg === 'ES256')
        sig = crypto.sign('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' });
    else if (alg === 'none') sig = Buffer.alloc(0);
    else throw new Error(`unsupported alg ${alg}`);
    return `${input}.${b64url(sig)}`;
}

// Standard claims for a tenant token: sub, exp in an hour, plus extras.
export function claims(sub, extra = {}) {
    return { sub, iat: nowS(), exp: nowS() + 3600, ...extra };
}

export function hs256(secret, sub, extra = {}) {
    return sign(claims(sub, extra), { alg: 'HS256', key: secret });
}

export function randomSecret() {
    return crypto.randomBytes(32).toString('hex');
}

// Key pairs with PEM (spki) public keys and a JWKS document, for RS256 / ES256 servers.
export function rsaKeys(kid = 'rsa-1') {
    const { publicKey, privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
    return keyBundle(publicKey, privateKey, 'RS256', kid);
}
export function ecKeys(kid = 'ec-1') {
    const { publicKey, privateKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
    return keyBundle(publicKey, privateKey, 'ES256', kid);
}
function keyBundle(publicKey, privateKey, alg, kid) {
    const publicPem = publicKey.export({ type: 'spki', format: 'pem' });
    const jwk = { ...publicKey.export({ format: 'jwk' }), kid, alg, use: 'sig' };
    return {
        alg, kid, publicKey, privateKey, publicPem, jwk,
        token: (sub, extra = {}, header = {}) =>
            sign(claims(sub, extra), { alg, key: privateKey, header: { kid, ...header } }),
    };
}
export const jwks = (...bundles) => JSON.stringify({ keys: bundles.map((b) => b.jwk) });

// Tokens an HS256 server (key `secret`) must reject with 401, by label. With `rsa` (a bundle
// from rsaKeys) the list adds the algorithm-confusion token: HS256 keyed with its public PEM.
export function brokenTokens(sub, { secret, rsa } = {}) {
    const t = nowS();
    const out = {
        'alg none': sign(claims(sub), { alg: 'none' }),
        'alg none, uppercase': sign(claims(sub), { alg: 'none', header: { alg: 'None' } }),
        'wrong HS256 key': sign(claims(sub), { alg: 'HS256', key: randomSecret() }),
        'expired an hour ago': sign({ sub, iat: t - 7200, exp: t - 3600 }, { alg: 'HS256', key: secret }),
        'nbf an hour ahead': sign({ sub, iat: t, nbf: t + 3600, exp: t + 7200 }, { alg: 'HS256', key: secret }),
        'no exp': sign({ sub, iat: t }, { alg: 'HS256', key: secret }),
        'no sub': sign({ iat: t, exp: t + 3600 }, { alg: 'HS256', key: secret }),
        'garbage': 'not-a-jwt',
        'three garbage parts': 'abc.def.ghi',
        'empty signature': (() => { const s = sign(claims(sub), { alg: 'HS256', key: secret }); return s.slice(0, s.lastIndexOf('.') + 1); })(),
        'tampered payload': (() => {
            const s = sign(claims(sub), { alg: 'HS256', key: secret }).split('.');
            s[1] = enc(claims(sub, { role: 'admin' }));
            return s.join('.');
        })(),
    };
    if (rsa) {
        // Algorithm confusion: HS256 whose HMAC key is the server's RSA public key PEM.
        out['HS256 signed with the RSA public PEM'] = sign(claims(sub), { alg: 'HS256', key: rsa.publicPem });
    }
    return out;
}
