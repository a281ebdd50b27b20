// webhook.mjs — signs runner webhook bodies the way docs/api.md "Runner webhook" defines:
// X-Ivory-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + raw body)>.
// The HMAC key is the webhook_secret exactly as the API returned it (its 64 hex characters as
// bytes); pass { keyEncoding: 'hex' } to sign with the 32 decoded bytes instead.
import crypto from 'node:crypto';
import { checkErrorShape, fetchText } from './http.mjs';

export function signature(secret, rawBody, { t = Math.floor(Date.now() / 1000), keyEncoding } = {}) {
    const key = keyEncoding === 'hex' ? Buffer.from(secret, 'hex') : secret;
    const v1 = crypto.createHmac('sha256', key).update(`${t}.${rawBody}`).digest('hex');
    return `t=${t},v1=${v1}`;
}

export async function postWebhook(base, secret, body, { t, header, keyEncoding } = {}) {
    const raw = typeof body === 'string' ? body : JSON.stringify(body);
    const h = { 'content-type': 'application/json' };
    const sig = header !== undefined ? header : signature(secret, raw, { t, keyEncoding });
    if (sig !== null) h['x-ivory-signature'] = sig;
    const { res, text } = await fetchText(`${base}/v1/etl/meltano/webhook`, { method: 'POST', headers: h, body: raw },
                                          120000, 'POST webhook');
    let json;
    try { json = text ? JSON.parse(text) : undefined; } catch { json = undefined; }
    checkErrorShape('POST webhook', res.status, res.headers.get('content-type'), json, text);
    return { status: res.status, headers: res.headers, json, text };
}
