// console.test.mjs — the web console (docs/console.md) in a real browser: Debian's Chromium,
// driven by playwright-core, against a real `ivory serve` whose runner syncs a fixture tap.
// A person's flows: sign in with the token `ivory tenant create` prints, find the failed
// connector, read its error, resume it, trigger it, watch the run complete and the chart gain
// a point; register with a validation error shown beside its field; provision a catalog;
// delete with a confirmation naming the connector; sign-in again when the token expires.
// Tenant and tap strings carrying HTML, script and bidi/zero-width characters must render as
// text and execute nothing. Every flow leaves a screenshot in build/test-output/console/.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { client, fetchRetry } from './lib/http.mjs';
import { hs256 } from './lib/jwt.mjs';
import { notBuilt } from './lib/server.mjs';
import { registerTap, startRunnerServer, triggerAndWait } from './lib/runner.mjs';
import { cliTenant, uniqueSlug } from './lib/tenant.mjs';
import { axeViolations, chromiumMissing, launch, shot } from './lib/browser.mjs';

// An error message a hostile tap could print: markup, a script, an RTL override, a zero-width
// space. It reaches the console through error_msg / last_error.
const EVIL = '<img src=x onerror="window.__xss=1">"><script>window.__xss=2</script>\u202Eevil\u200Bname';

// Chromium is part of the test command's install step: a missing browser fails the suite
// (with the reason) instead of skipping it.
describe('console (docs/console.md)', { skip: notBuilt('serve') }, () => {
    let srv, T, browser, good, broken, srcBroken;
    const pageErrors = [];

    before(async () => {
        const missing = chromiumMissing();
        if (missing) throw new Error(`the console tests need Chromium: ${missing}`);
        srv = await startRunnerServer();
        const slug = uniqueSlug('console');
        const t = cliTenant(srv, slug);              // the dev-token path ./dev.sh run prints
        T = { ...t, c: client(srv.url, t.token) };
        const r = await T.c.post(`/v1/admin/tenants/${t.id}/catalog`, {
            catalog_name: 'ivory-lakehouse', catalog_type: 'hadoop',
            warehouse: `file://${srv.dir}/wh`, storage_prefix: slug,
        });
        assert.equal(r.status, 201, r.text);
        good = await registerTap(srv, T, { count: 7 }, { source_system: 'hubspot' });
        srcBroken = path.join(srv.io, 'broken.jsonl');   // visible to the sandboxed tap
        fs.writeFileSync(srcBroken, [1, 2, 3, 4].map((i) => JSON.stringify({ id: i, name: `r${i}` })).join('\n') + '\n');
        broken = await registerTap(srv, T, { source: srcBroken, fail_after: 2, fail_message: EVIL }, { source_system: 'salesforce' });
        await triggerAndWait(T, good.id);
        for (let i = 0; i < 3; i++) await triggerAndWait(T, broken.id);
        const d = await T.c.get(`/v1/admin/connectors/${broken.id}`);
        assert.equal(d.json.status, 'error', 'three failures put the connector in error');
        browser = await launch();
    });
    after(async () => {
        if (browser) await browser.close();
        if (srv) await srv.stop();
    });

    async function newPage(opts = {}) {
        const ctx = await browser.newContext({ viewport: { width: 1280, height: 860 }, ...opts });
        const page = await ctx.newPage();
        page.on('pageerror', (e) => pageErrors.push(String(e)));
        page.on('dialog', (d) => { pageErrors.push(`unexpected dialog: ${d.message()}`); d.dismiss(); });
        return page;
    }

    async function signIn(page, token = T.token) {
        await page.goto(`${srv.url}/console`);
        await page.locator('#token').fill(token);
        await page.getByRole('button', { name: 'Sign in' }).click();
        await page.locator('table.connectors').waitFor();
    }

    async function assertNothingInjected(page) {
        assert.equal(await page.evaluate(() => window.__xss), undefined, 'no injected script ran');
        assert.equal(await page.locator('img[src="x"]').count(), 0, 'no <img> element was made from tenant text');
        assert.equal(await page.locator('main script').count(), 0, 'no <script> element in the page body');
    }

    test('served from the binary with a strict CSP, framing refused, and 404 for unknown files', async () => {
        const r = await fetchRetry(`${srv.url}/console`);
        assert.equal(r.status, 200);
        assert.match(r.headers.get('content-type'), /^text\/html/);
        const csp = r.headers.get('content-security-policy');
        assert.match(csp, /script-src 'self'/);
        assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
        assert.match(csp, /frame-ancestors 'none'/);
        assert.equal(r.headers.get('x-frame-options'), 'DENY');
        const html = await r.text();
        assert.doesNotMatch(html, /<script>(?!\s*<\/script>)|\son[a-z]+=/i, 'no inline script or handler in the page');
        const js = await fetchRetry(`${srv.url}/console/app.js`);
        assert.match(js.headers.get('content-type'), /^text\/javascript/);
        assert.doesNotMatch(await js.text(), /innerHTML|eval\(|new Function/, 'the console never builds markup from strings');
        const missing = await fetchRetry(`${srv.url}/console/nope.js`);
        assert.equal(missing.status, 404);
        assert.equal((await missing.json()).error, 'not_found');
    });

    test('sign in, find the failed connector, read its error, resume, trigger, watch the run complete', async () => {
        const page = await newPage();
        await page.goto(`${srv.url}/console`);
        await shot(page, '01-sign-in');
        await signIn(page);
        assert.equal(await page.evaluate(() => localStorage.length), 0, 'nothing in localStorage');
        assert.ok(!page.url().includes(T.token.slice(-16)), 'the token is not in the URL');
        const errorRow = page.locator('tr[data-status="error"]');
        assert.equal(await errorRow.count(), 1, 'one connector is in error');
        await page.locator('#status-filter').selectOption('error');
        assert.equal(await page.locator('table.connectors tbody tr').count(), 1, 'the filter keeps the failed one');
        await shot(page, '02-list-filtered-error');
        await page.locator('#status-filter').selectOption('');
        await page.locator('#search').fill('hubspot');
        assert.equal(await page.locator('table.connectors tbody tr').count(), 1, 'search narrows the list');
        await page.locator('#search').fill('');

        await errorRow.locator('a.name').click();
        await page.locator('pre.error-text').first().waitFor();
        const errText = await page.locator('pre.error-text').first().textContent();
        assert.ok(errText.includes('<img src=x onerror='), `the error is shown as text: ${errText}`);
        assert.ok(errText.includes('\u202Eevil\u200Bname'), 'bidi and zero-width characters kept as they are');
        await assertNothingInjected(page);
        const barsBefore = await page.locator('svg.chart rect.bar').count();
        assert.equal(barsBefore, 3);
        assert.equal(await page.locator('svg.chart path.fail-mark').count(), 3, 'failed runs are marked');
        await shot(page, '03-failed-connector');

        fs.writeFileSync(srcBroken, [1, 2].map((i) => JSON.stringify({ id: i, name: `r${i}` })).join('\n') + '\n');
        await page.getByRole('button', { name: 'Resume' }).click();
        await page.locator('.notice.ok', { hasText: 'Resume salesforce: 200' }).waitFor();
        await page.getByRole('button', { name: 'Trigger' }).click();
        await page.locator('.notice.ok', { hasText: 'Trigger salesforce: 202' }).waitFor();
        await page.locator('svg.chart rect.bar.completed').waitFor({ timeout: 30000 });
        assert.equal(await page.locator('svg.chart rect.bar').count(), barsBefore + 1, 'the chart gained a point');
        const first = page.locator('table.runs tbody tr[data-run]').first();
        assert.equal(await first.getAttribute('data-status'), 'completed');
        assert.equal((await first.locator('td').nth(4).textContent()).trim(), '2', 'rows loaded shown');
        await first.locator('button.link').click();
        await page.locator('.run-detail').waitFor();
        await shot(page, '04-run-completed');
        await assertNothingInjected(page);
        assert.deepEqual(pageErrors, []);
    });

    test('register shows the API validation error beside its field; catalogs list and provision', async () => {
        const page = await newPage();
        await signIn(page);
        await page.locator('a[href="#/new"]').first().click();
        await page.locator('#f-source_system').fill('Not Valid');
        await page.locator('#f-tap_name').fill('tap-fixture');
        await page.locator('#f-destination_table').fill('orders');
        await page.getByRole('button', { name: 'Register connector' }).click();
        const err = page.locator('#e-source_system');
        await err.waitFor();
        assert.match(await err.textContent(), /source_system/);
        assert.equal(await page.locator('#f-source_system').getAttribute('aria-invalid'), 'true');
        await shot(page, '05-register-validation');
        await page.locator('#f-source_system').fill('stripe');
        await page.getByRole('button', { name: 'Register connector' }).click();
        await page.locator('.secret pre').waitFor();
        assert.match(await page.locator('.secret pre').textContent(), /^[0-9a-f]{64}$/, 'the webhook secret is shown once');
        const list = await T.c.get('/v1/admin/connectors');
        assert.ok(list.json.connectors.some((k) => k.source_system === 'stripe'), 'the API has the new connector');

        await page.locator('a[href="#/catalogs"]').first().click();
        await page.locator('table.catalogs tr[data-catalog="ivory-lakehouse"]').waitFor();
        await page.locator('#f-catalog_name').fill('second');
        await page.locator('#f-catalog_type').selectOption('hadoop');
        await page.locator('#f-warehouse').fill('ftp://nowhere');
        await page.locator('#f-storage_prefix').fill('p2');
        await page.getByRole('button', { name: 'Provision catalog' }).click();
        await page.locator('#e-warehouse:not(:empty)').waitFor();
        await page.locator('#f-warehouse').fill(`file://${srv.dir}/wh`);
        await page.getByRole('button', { name: 'Provision catalog' }).click();
        await page.locator('table.catalogs tr[data-catalog="second"]').waitFor();
        await shot(page, '06-catalogs');
        assert.deepEqual(pageErrors, []);
    });

    test('mappings: listed, each expression previewed on a sample value, saved through the API', async () => {
        const put = await T.c.put(`/v1/admin/connectors/${good.id}/mappings`, { mappings: [
            { source_stream: 'items', source_field: 'id', target_column: 'id', target_type: 'long' },
            { source_stream: 'items', source_field: 'name', target_column: 'name_upper', target_type: 'string', transform_fn: 'value.upper()' },
        ] });
        assert.equal(put.status, 200, put.text);
        const page = await newPage();
        await signIn(page);
        await page.locator(`tr[data-id="${good.id}"] a.name`).click();
        const rows = page.locator('.mapping-table tbody tr');
        await rows.first().waitFor();
        assert.equal(await rows.count(), 2);
        const second = rows.nth(1);
        assert.equal(await second.locator('[data-k="transform_fn"]').inputValue(), 'value.upper()');
        await second.locator('[data-k="sample"]').fill('"straße"');
        await second.getByRole('button', { name: 'Preview' }).click();
        await second.locator('output.preview.ok').waitFor();
        assert.equal(await second.locator('output.preview').textContent(), "= 'STRASSE'", 'Python case mapping, from the server');
        await second.locator('[data-k="transform_fn"]').fill('value.(');
        await second.getByRole('button', { name: 'Preview' }).click();
        await second.locator('output.preview.bad').waitFor();
        assert.match(await second.locator('output.preview').textContent(), /SyntaxError/);
        await second.locator('[data-k="transform_fn"]').fill('value.lower()');
        await page.getByRole('button', { name: 'Save mappings' }).click();
        await page.locator('.notice.ok', { hasText: 'Saved 2 mappings: 200' }).waitFor();
        const after = await T.c.get(`/v1/admin/connectors/${good.id}/mappings`);
        assert.equal(after.json.mappings[1].transform_fn, 'value.lower()');
        await shot(page, '11-mappings-preview');
        assert.deepEqual(pageErrors, []);
    });

    test('delete asks for a confirmation that names the connector', async () => {
        const victim = await registerTap(srv, T, { count: 1 }, { source_system: 'zendesk' });
        const page = await newPage();
        await signIn(page);
        const row = page.locator(`tr[data-id="${victim.id}"]`);
        await row.getByRole('button', { name: 'Delete' }).click();
        const dlg = page.locator('dialog.confirm');
        await dlg.waitFor();
        assert.match(await dlg.textContent(), /Delete connector zendesk\?/);
        assert.ok((await dlg.textContent()).includes(victim.id));
        await shot(page, '07-delete-confirm');
        await dlg.getByRole('button', { name: 'Cancel' }).click();
        assert.equal((await T.c.get(`/v1/admin/connectors/${victim.id}`)).status, 200, 'cancel keeps it');
        await row.getByRole('button', { name: 'Delete' }).click();
        await page.locator('dialog.confirm').getByRole('button', { name: 'Delete zendesk' }).click();
        await page.locator('.notice.ok', { hasText: 'Deleted zendesk: 204' }).waitFor();
        assert.equal((await T.c.get(`/v1/admin/connectors/${victim.id}`)).status, 404);
    });

    test('an expired token sends the user back to sign-in with a clear message', async () => {
        const page = await newPage();
        // Long enough to sign in on a loaded machine, short enough to watch it expire.
        const short = hs256(srv.secret, T.id, { exp: Math.floor(Date.now() / 1000) + 10 });
        await signIn(page, short);
        await page.locator('.signin .notice.error', { hasText: /expired/ }).waitFor({ timeout: 20000 });
        await shot(page, '08-token-expired');
        await page.locator('#token').fill('not-a-token');
        await page.getByRole('button', { name: 'Sign in' }).click();
        assert.match(await page.locator('#token-error').textContent(), /not a JWT/);
    });

    test('phone width: one column, every connector reachable', async () => {
        const page = await newPage({ viewport: { width: 390, height: 844 }, isMobile: true });
        await signIn(page);
        const scrollW = await page.evaluate(() => document.documentElement.scrollWidth);
        assert.ok(scrollW <= 390 + 1, `no horizontal scrolling at phone width (${scrollW} px)`);
        await shot(page, '09-phone-list');
        await page.locator('tr[data-status="error"], tr[data-status="active"]').first().locator('a.name').click();
        await page.locator('svg.chart').waitFor();
        await shot(page, '10-phone-detail');
    });

    test('accessibility: axe-core finds no serious or critical violation', async () => {
        const page = await newPage({ bypassCSP: true });
        await page.goto(`${srv.url}/console`);
        await page.locator('#token').waitFor();
        assert.deepEqual(await axeViolations(page), [], 'sign-in page');
        await page.locator('#token').fill(T.token);
        await page.getByRole('button', { name: 'Sign in' }).click();
        await page.locator('table.connectors').waitFor();
        assert.deepEqual(await axeViolations(page), [], 'connector list');
        await page.locator('tr[data-status] a.name').first().click();
        await page.locator('svg.chart').waitFor();
        assert.deepEqual(await axeViolations(page), [], 'connector detail');
        await page.locator('a[href="#/new"]').first().click();
        await page.locator('#f-source_system').waitFor();
        assert.deepEqual(await axeViolations(page), [], 'register form');
    });
});
