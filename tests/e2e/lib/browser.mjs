// browser.mjs — Debian's Chromium driven headless by playwright-core (npm, pinned), for the
// console's tests. No browser is downloaded: the Debian package's binary is used, started with
// the flags that keep it off the network (this machine has none). Screenshots go to
// build/test-output/console/, where a person can look at each flow.
import fs from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { REPO } from './server.mjs';

export const CHROMIUM = process.env.IVORY_CHROMIUM ?? '/usr/bin/chromium';
export const SHOTS = path.join(REPO, 'build', 'test-output', 'console');

export function chromiumMissing() {
    return fs.existsSync(CHROMIUM) ? false : `${CHROMIUM} not found (./dev.sh test installs Debian's chromium)`;
}

export async function launch() {
    fs.mkdirSync(SHOTS, { recursive: true });
    return chromium.launch({
        executablePath: CHROMIUM,
        headless: true,
        args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
            '--disable-background-networking', '--disable-component-update', '--disable-sync',
            '--disable-dev-shm-usage'],
    });
}

export async function shot(page, name) {
    const file = path.join(SHOTS, `${name}.png`);
    await page.screenshot({ path: file, fullPage: true });
    return file;
}

// axe-core's serious and critical findings on the page as it is now. The page's CSP forbids
// injected scripts, so this runs in a context opened with bypassCSP (used for nothing else).
export async function axeViolations(page) {
    await page.addScriptTag({ path: path.join(REPO, 'node_modules', 'axe-core', 'axe.min.js') });
    const res = await page.evaluate(async () => await window.axe.run(document, { resultTypes: ['violations'] }));
    return res.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical')
        .map((v) => `${v.id} (${v.impact}): ${v.help} — ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
}
