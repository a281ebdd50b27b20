// app.js — the console: sign-in, the connector list, a connector's runs, registration and
// catalogs. Plain ES modules over the public API (api.js); every page is built with dom.js,
// so tenant data is only ever text. Navigation is the URL hash (#/connectors, #/c/<id>,
// #/new, #/catalogs); the token never appears in it.
import { api, ApiError, claims, session, setUnauthorizedHandler } from './api.js';
import { append, clear, fmtDuration, fmtInt, h, relTime, timeEl, ut } from './dom.js';
import { runChart } from './chart.js';

const main = () => document.getElementById('main');
const notice = () => document.getElementById('notice');
let pollTimer = null;
let expiryTimer = null;

// ---- messages -------------------------------------------------------------------------------
// Every action reports the API's answer here (an aria-live region).
function say(kind, text) {
    const n = notice();
    clear(n);
    n.className = `notice ${kind}`;
    append(n, [h('span', {}, text), h('button.link', { type: 'button', 'aria-label': 'Dismiss', on: { click: () => { clear(n); n.className = 'notice'; } } }, '×')]);
}
function sayError(what, err) {
    if (err instanceof ApiError) say('error', `${what}: ${err.status} — ${err.message}`);
    else say('error', `${what}: ${err.message ?? err}`);
}

// ---- sign-in --------------------------------------------------------------------------------
function signOut(message) {
    session.clear();
    api.forget();
    if (expiryTimer) clearTimeout(expiryTimer);
    render(message);
}

setUnauthorizedHandler((detail) => {
    if (session.token()) signOut(`Your token was refused (${detail ?? 'expired or invalid'}). Paste a fresh one to continue.`);
});

function signInView(message) {
    const input = h('textarea', { id: 'token', rows: 4, required: true, spellcheck: 'false', autocomplete: 'off', 'aria-describedby': 'token-help' });
    const err = h('p.field-error', { id: 'token-error', role: 'alert' });
    const form = h('form.card.signin', {
        on: {
            submit: async (e) => {
                e.preventDefault();
                const t = input.value.trim().replace(/^Bearer\s+/i, '');
                const c = claims(t);
                clear(err);
                if (!c) { append(err, ['That is not a JWT (three base64url parts separated by dots).']); return; }
                if (c.exp && c.exp * 1000 < Date.now()) { append(err, [`That token expired ${relTime(new Date(c.exp * 1000).toISOString())}.`]); return; }
                session.set(t);
                try {
                    await api.get('/v1/admin/connectors');
                } catch (x) {
                    if (!(x instanceof ApiError) || x.status !== 401) sayError('Sign-in check', x);
                    return;
                }
                location.hash = '#/connectors';
                render();
            },
        },
    },
    h('h2', {}, 'Sign in'),
    message ? h('p.notice.error', { role: 'alert' }, message) : null,
    h('label', { for: 'token' }, 'Bearer token'),
    input,
    h('p.help', { id: 'token-help' },
        'Paste the JWT you use with the API. On a development server, run the `ivory tenant create` line that ./dev.sh run printed and paste its "token". The token stays in this tab only and is forgotten when the tab closes.'),
    err,
    h('button.primary', { type: 'submit' }, 'Sign in'));
    return form;
}

function scheduleExpiry(c) {
    if (expiryTimer) clearTimeout(expiryTimer);
    if (!c?.exp) return;
    const ms = c.exp * 1000 - Date.now();
    if (ms <= 0) { signOut('Your token has expired. Paste a fresh one to continue.'); return; }
    expiryTimer = setTimeout(() => signOut('Your token has expired. Paste a fresh one to continue.'), Math.min(ms, 2 ** 31 - 1));
}

// ---- the shell --------------------------------------------------------------------------------
function header(c) {
    const nav = h('nav', { 'aria-label': 'Sections' },
        h('a', { href: '#/connectors' }, 'Connectors'),
        h('a', { href: '#/new' }, 'Register'),
        h('a', { href: '#/catalogs' }, 'Catalogs'));
    const who = h('div.who', {},
        h('span.muted', {}, 'Tenant '), ut(c?.sub ?? '?'),
        c?.exp ? h('span.muted', { id: 'expires' }, ` · token ${relTime(new Date(c.exp * 1000).toISOString())}`) : null,
        h('button.link', { type: 'button', on: { click: () => signOut('Signed out.') } }, 'Sign out'));
    return [nav, who];
}

function render(message) {
    if (pollTimer) { clearTimeout(pollTimer); pollTimer = null; }
    const bar = document.getElementById('bar');
    clear(bar);
    clear(main());
    const token = session.token();
    if (!token) {
        main().append(signInView(message));
        return;
    }
    const c = claims(token);
    scheduleExpiry(c);
    append(bar, header(c));
    const hash = location.hash || '#/connectors';
    const m = hash.match(/^#\/c\/([^/]+)$/);
    if (m) connectorView(decodeURIComponent(m[1]));
    else if (hash === '#/new') registerView();
    else if (hash === '#/catalogs') catalogsView(c.sub);
    else listView();
}

function poll(fn, ms) {
    if (pollTimer) clearTimeout(pollTimer);
    pollTimer = setTimeout(async () => { pollTimer = null; await fn(); }, ms);
}

// ---- connector list ----------------------------------------------------------------------------
const listState = { status: '', q: '' };

function statusBadge(status) {
    return h(`span.badge.${String(status).replace(/[^a-z_]/g, '')}`, {}, status ?? '—');
}

function lastRunCell(k) {
    if (!k.last_run_status) return h('span.muted', {}, 'never run');
    return h('span', {}, statusBadge(k.last_run_status), ' ', fmtInt(k.last_run_rows_loaded ?? k.last_run_rows), ' rows · ', timeEl(k.last_run_at));
}

function matches(k, q) {
    if (!q) return true;
    const hay = [k.id, k.source_system, k.tap_name, k.iomete_table, k.destination_catalog, k.last_error].join(' ').toLowerCase();
    return hay.includes(q.toLowerCase());
}

async function actionButtons(k, after) {
    const act = async (what, fn) => {
        try {
            const r = await fn();
            say('ok', `${what} ${k.source_system}: ${r.status} ${r.body?.message ?? r.body?.status ?? ''}`.trim());
        } catch (x) { sayError(`${what} ${k.source_system}`, x); }
        await after();
    };
    const base = `/v1/admin/connectors/${encodeURIComponent(k.id)}`;
    return [
        h('button', { type: 'button', disabled: k.status !== 'active', title: k.status !== 'active' ? 'Resume first' : null,
            on: { click: () => act('Trigger', () => api.post(`${base}/trigger`)) } }, 'Trigger'),
        k.status === 'active'
            ? h('button', { type: 'button', on: { click: () => act('Pause', () => api.post(`${base}/pause`)) } }, 'Pause')
            : h('button', { type: 'button', on: { click: () => act('Resume', () => api.post(`${base}/resume`)) } }, 'Resume'),
        h('button.danger', { type: 'button', on: { click: () => confirmDelete(k, after) } }, 'Delete'),
    ];
}

function confirmDelete(k, after) {
    const dlg = h('dialog.confirm', { 'aria-labelledby': 'del-title' });
    const close = () => { dlg.close(); dlg.remove(); };
    append(dlg, [
        h('h2', { id: 'del-title' }, 'Delete connector ', ut(k.source_system), '?'),
        h('p', {}, 'Connector ', ut(k.source_system), ' (', ut(k.tap_name), ' → ', ut(k.iomete_table), ', id ', h('code', {}, k.id),
            ') will be deleted with its runs, mappings and bookmark. Data already in Iceberg stays. This cannot be undone.'),
        h('div.actions', {},
            h('button', { type: 'button', on: { click: close } }, 'Cancel'),
            h('button.danger', { type: 'button', on: {
                click: async () => {
                    close();
                    try {
                        const r = await api.del(`/v1/admin/connectors/${encodeURIComponent(k.id)}`);
                        say('ok', `Deleted ${k.source_system}: ${r.status}`);
                        api.forget();
                        if (location.hash.startsWith('#/c/')) location.hash = '#/connectors';
                    } catch (x) { sayError(`Delete ${k.source_system}`, x); }
                    await after();
                },
            } }, `Delete ${k.source_system}`)),
    ]);
    document.body.append(dlg);
    dlg.showModal();
}

async function listView() {
    const root = main();
    const counts = h('div.counts');
    const search = h('input', { type: 'search', id: 'search', placeholder: 'Search name, tap, table, error…', value: listState.q, 'aria-label': 'Search connectors' });
    const filter = h('select', { id: 'status-filter', 'aria-label': 'Filter by status' },
        ...['', 'active', 'paused', 'error'].map((v) => h('option', { value: v, selected: v === listState.status }, v || 'All statuses')));
    const body = h('div.list');
    append(root, [h('div.toolbar', {}, h('h1', {}, 'Connectors'), search, filter, h('a.button.primary', { href: '#/new' }, 'Register')), counts, body]);
    let data = [];
    const draw = () => {
        clear(counts);
        const by = { active: 0, paused: 0, error: 0 };
        for (const k of data) by[k.status] = (by[k.status] ?? 0) + 1;
        const failedLast = data.filter((k) => k.last_run_status === 'failed').length;
        append(counts, [
            h('span', {}, `${data.length} connectors`),
            ...Object.entries(by).map(([st, n]) => h(`button.chip.${st}`, { type: 'button', 'aria-pressed': String(listState.status === st), on: { click: () => { listState.status = listState.status === st ? '' : st; filter.value = listState.status; draw(); } } }, `${n} ${st}`)),
            failedLast ? h('span.chip.failed', {}, `${failedLast} failed last run`) : null,
        ]);
        const shown = data.filter((k) => (!listState.status || k.status === listState.status) && matches(k, listState.q));
        clear(body);
        if (!shown.length) {
            body.append(h('p.empty', {}, data.length ? 'No connector matches.' : 'No connectors yet. Register one to start syncing.'));
            return;
        }
        const table = h('table.connectors', {},
            h('thead', {}, h('tr', {}, ...['Connector', 'Status', 'Last run', 'Next run', 'Failures', 'Last error', ''].map((t) => h('th', { scope: 'col' }, t)))),
            h('tbody'));
        for (const k of shown) {
            const tr = h('tr', { dataset: { id: k.id, status: k.status } },
                h('td', { 'data-label': 'Connector' }, h('a.name', { href: `#/c/${encodeURIComponent(k.id)}` }, ut(k.source_system)),
                    h('div.sub', {}, ut(k.tap_name), ' → ', ut(k.iomete_table))),
                h('td', { 'data-label': 'Status' }, statusBadge(k.status)),
                h('td', { 'data-label': 'Last run' }, lastRunCell(k)),
                h('td', { 'data-label': 'Next run' }, timeEl(k.next_run_at)),
                h('td', { 'data-label': 'Failures' }, String(k.consecutive_failures ?? 0)),
                h('td.err', { 'data-label': 'Last error' }, k.last_error ? ut(k.last_error, 'u clip') : h('span.muted', {}, '—')),
                h('td.row-actions', {}));
            table.tBodies[0].append(tr);
            actionButtons(k, refresh).then((b) => append(tr.lastChild, b));
        }
        body.append(table);
    };
    const refresh = async () => {
        try {
            const r = await api.get('/v1/admin/connectors');
            data = r.body.connectors;
            if (!r.notModified || !body.firstChild) draw();
        } catch (x) { if (!(x instanceof ApiError && x.status === 401)) sayError('Loading connectors', x); return; }
        if (location.hash === '#/connectors' || location.hash === '') poll(refresh, 5000);
    };
    search.addEventListener('input', () => { listState.q = search.value; draw(); });
    filter.addEventListener('change', () => { listState.status = filter.value; draw(); });
    await refresh();
}

// ---- one connector: detail, chart, runs -------------------------------------------------------------
function kv(pairs) {
    return h('dl.kv', {}, ...pairs.flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]));
}

function jsonBlock(v) {
    return h('pre.json', {}, v === null || v === undefined ? '—' : JSON.stringify(v, null, 2));
}

async function runDetail(id, run) {
    // The run route of the operations API gives more (state before/after, log tail, progress);
    // the list's row is the fallback where that route does not exist.
    let r = run;
    try {
        r = { ...run, ...(await api.get(`/v1/admin/connectors/${encodeURIComponent(id)}/runs/${encodeURIComponent(run.id)}`)).body };
    } catch (x) { if (!(x instanceof ApiError) || ![404, 405].includes(x.status)) sayError('Loading run', x); }
    const rows = [
        ['Run', h('code', {}, r.id)], ['Status', statusBadge(r.status)], ['Trigger', r.trigger ?? '—'],
        ['Started', r.started_at ?? '—'], ['Completed', r.completed_at ?? '—'], ['Duration', fmtDuration(r.duration_s)],
        ['Rows synced', fmtInt(r.rows_synced)], ['Rows loaded', fmtInt(r.rows_loaded)],
        ['Transform errors', fmtInt(r.transform_errors)], ['Table', ut(r.iomete_table)],
    ];
    if (r.snapshot_id !== undefined) rows.push(['Snapshot', String(r.snapshot_id ?? '—')]);
    if (r.progress) rows.push(['Progress', `${fmtInt(r.progress.rows_read)} read, ${fmtInt(r.progress.rows_committed)} committed`]);
    return h('div.run-detail', {},
        kv(rows),
        r.error_msg ? h('div', {}, h('h4', {}, 'Error'), h('pre.error-text', {}, r.error_msg)) : null,
        'state_before' in r ? h('div', {}, h('h4', {}, 'State before'), jsonBlock(r.state_before)) : null,
        'state_after' in r ? h('div', {}, h('h4', {}, 'State after'), jsonBlock(r.state_after)) : null,
        r.transform_error_samples?.length ? h('div', {}, h('h4', {}, 'Transform error samples'), jsonBlock(r.transform_error_samples)) : null,
        r.log_tail ? h('div', {}, h('h4', {}, 'Log tail'), h('pre.log', {}, r.log_tail)) : null);
}

function runsTable(id, runs) {
    const tbody = h('tbody');
    for (const r of runs) {
        const detailRow = h('tr.detail', { hidden: true }, h('td', { colspan: 7 }));
        const open = async () => {
            if (!detailRow.hidden) { detailRow.hidden = true; btn.setAttribute('aria-expanded', 'false'); return; }
            clear(detailRow.firstChild).append(await runDetail(id, r));
            detailRow.hidden = false;
            btn.setAttribute('aria-expanded', 'true');
        };
        const btn = h('button.link', { type: 'button', 'aria-expanded': 'false', on: { click: open } }, relTime(r.started_at));
        tbody.append(h('tr', { dataset: { run: r.id, status: r.status } },
            h('td', { 'data-label': 'Started' }, btn),
            h('td', { 'data-label': 'Status' }, statusBadge(r.status)),
            h('td', { 'data-label': 'Trigger' }, r.trigger ?? '—'),
            h('td', { 'data-label': 'Rows synced' }, fmtInt(r.rows_synced)),
            h('td', { 'data-label': 'Rows loaded' }, fmtInt(r.rows_loaded)),
            h('td', { 'data-label': 'Duration' }, r.status === 'running' ? 'running…' : fmtDuration(r.duration_s)),
            h('td.err', { 'data-label': 'Error' }, r.error_msg ? ut(r.error_msg, 'u clip') : '')), detailRow);
    }
    return h('table.runs', {},
        h('thead', {}, h('tr', {}, ...['Started', 'Status', 'Trigger', 'Rows synced', 'Rows loaded', 'Duration', 'Error'].map((t) => h('th', { scope: 'col' }, t)))),
        tbody);
}

async function connectorView(id) {
    const root = main();
    const top = h('div'), chartBox = h('section.card'), runsBox = h('section.card'), live = h('p.live', { 'aria-live': 'polite' });
    append(root, [h('p', {}, h('a', { href: '#/connectors' }, '← All connectors')), top, live, chartBox, runsBox]);
    const base = `/v1/admin/connectors/${encodeURIComponent(id)}`;
    let lastRunsKey = '';
    const refresh = async () => {
        let k, runs;
        try {
            [k, runs] = await Promise.all([api.get(base).then((r) => r.body), api.get(`${base}/runs?limit=200`).then((r) => r.body.runs)]);
        } catch (x) {
            if (x instanceof ApiError && x.status === 404) { clear(top).append(h('p.empty', {}, 'This connector does not exist (or was deleted).')); return; }
            if (!(x instanceof ApiError && x.status === 401)) sayError('Loading connector', x);
            return;
        }
        clear(top);
        append(top, [
            h('div.toolbar', {}, h('h1', {}, ut(k.source_system)), statusBadge(k.status), h('span.row-actions', {}, await actionButtons(k, refresh))),
            h('section.card', {}, kv([
                ['Id', h('code', {}, k.id)], ['Tap', h('span', {}, ut(k.tap_name), k.tap_version ? ` @ ${k.tap_version}` : '')],
                ['Type', k.connector_type ?? '—'], ['Catalog', ut(k.destination_catalog)], ['Table', ut(`${k.iomete_namespace}.${k.iomete_table}`)],
                ['Schedule', h('code', {}, k.sync_schedule)], ['Next run', timeEl(k.next_run_at)], ['Last synced', timeEl(k.last_synced_at)],
                ['Rows total', fmtInt(k.rows_total)], ['Runs', fmtInt(k.run_count)], ['Failures in a row', String(k.consecutive_failures ?? 0)],
                ['Mappings', fmtInt(k.mapping_count)],
            ]), k.last_error ? h('div', {}, h('h3', {}, 'Last error'), h('pre.error-text', {}, k.last_error)) : null,
            h('details', {}, h('summary', {}, 'Bookmark (tap state)'), jsonBlock(k.tap_state))),
        ]);
        const running = runs.find((r) => r.status === 'running');
        clear(live);
        if (running) append(live, [h('span.spinner', { 'aria-hidden': 'true' }), ' A sync is running since ', timeEl(running.started_at),
            running.rows_synced ? ` — ${fmtInt(running.rows_synced)} rows read so far` : '', '.']);
        const key = runs.map((r) => `${r.id}:${r.status}:${r.rows_loaded}`).join(',');
        if (key !== lastRunsKey) {
            lastRunsKey = key;
            clear(chartBox).append(h('h2', {}, 'Rows loaded and duration per run'),
                h('p.legend', {}, h('span.key.bar'), ' rows loaded  ', h('span.key.line'), ' duration  ', h('span.key.fail'), ' failed run'),
                runChart(runs));
            clear(runsBox).append(h('h2', {}, `Runs (${runs.length})`), runs.length ? runsTable(id, runs) : h('p.empty', {}, 'No runs yet.'));
        }
        if (location.hash === `#/c/${encodeURIComponent(id)}`) poll(refresh, running ? 1000 : 5000);
    };
    await refresh();
}

// ---- forms: registration and catalogs --------------------------------------------------------------
// A form whose fields show the API's 422 `field` errors beside them.
function field(name, label, input, help) {
    input.id = `f-${name}`;
    input.name = name;
    return h('div.field', { dataset: { field: name } },
        h('label', { for: input.id }, label), input,
        help ? h('p.help', {}, help) : null,
        h('p.field-error', { id: `e-${name}`, 'aria-live': 'polite' }));
}

function showFieldError(form, err) {
    for (const e of form.querySelectorAll('.field-error')) clear(e);
    for (const i of form.querySelectorAll('[aria-invalid]')) i.removeAttribute('aria-invalid');
    const slot = err.field ? form.querySelector(`#e-${CSS.escape(err.field)}`) : null;
    if (slot) {
        append(slot, [err.message]);
        form.querySelector(`#f-${CSS.escape(err.field)}`)?.setAttribute('aria-invalid', 'true');
        form.querySelector(`#f-${CSS.escape(err.field)}`)?.focus();
    }
    sayError('The server refused it', err);
}

function formValues(form, names) {
    const out = {};
    for (const n of names) {
        const el = form.elements[n];
        if (!el) continue;
        const v = el.value.trim();
        if (v !== '') out[n] = v;
    }
    return out;
}

async function registerView() {
    const root = main();
    let catalogs = [];
    try { catalogs = (await api.get(`/v1/admin/tenants/${encodeURIComponent(claims(session.token()).sub)}/catalog`)).body.catalogs.filter((c) => c.active); }
    catch (x) { if (!(x instanceof ApiError && x.status === 401)) sayError('Loading catalogs', x); }
    const result = h('div');
    const names = ['source_system', 'tap_name', 'connector_type', 'destination_catalog', 'destination_table', 'sync_schedule', 'tap_version', 'meltano_environment', 'config_encrypted'];
    const form = h('form.card.form', { novalidate: true },
        field('source_system', 'Source system', h('input', { required: true, placeholder: 'salesforce' }), 'Lower-case letters, digits and _; starts with a letter.'),
        field('tap_name', 'Tap', h('input', { required: true, placeholder: 'tap-salesforce' }), 'An executable name on the runner\'s tap path.'),
        field('connector_type', 'Connector type', h('select', {}, ...['meltano', 'airbyte', 'fivetran', 'custom'].map((t) => h('option', { value: t }, t)))),
        field('destination_catalog', 'Destination catalog', catalogs.length
            ? h('select', {}, ...catalogs.map((c) => h('option', { value: c.catalog_name }, c.catalog_name)))
            : h('input', { placeholder: 'ivory-lakehouse' }), catalogs.length ? null : 'No active catalog yet: provision one under Catalogs.'),
        field('destination_table', 'Destination table', h('input', { required: true, placeholder: 'accounts' })),
        field('sync_schedule', 'Schedule (cron, UTC)', h('input', { placeholder: '0 2 * * *' }), 'Five fields, or @hourly, @daily, @weekly, @monthly, @yearly. Empty: daily at 02:00.'),
        field('tap_version', 'Tap version', h('input', { placeholder: 'optional' })),
        field('meltano_environment', 'Meltano environment', h('input', { placeholder: 'prod' })),
        field('config_encrypted', 'Encrypted tap config', h('textarea', { rows: 3, spellcheck: 'false', placeholder: 'output of: ivory config encrypt < config.json' })),
        h('div.actions', {}, h('button.primary', { type: 'submit' }, 'Register connector')));
    form.addEventListener('submit', async (e) => {
        e.preventDefault();
        try {
            const r = await api.post('/v1/admin/connectors', formValues(form, names));
            api.forget();
            say('ok', `Registered ${r.body.source_system}: ${r.status}`);
            clear(result).append(h('section.card.secret', {},
                h('h2', {}, 'Connector registered'),
                h('p', {}, 'Its webhook secret is shown this once. Keep it if an external runner reports for this connector.'),
                h('pre', {}, r.body.webhook_secret),
                h('p', {}, 'First run ', timeEl(r.body.next_run_at), '. ', h('a', { href: `#/c/${encodeURIComponent(r.body.id)}` }, 'Open the connector')))); 
            form.reset();
        } catch (x) {
            if (x instanceof ApiError && x.status !== 401) showFieldError(form, x); else sayError('Register', x);
        }
    });
    append(root, [h('h1', {}, 'Register a connector'), result, form]);
}

async function catalogsView(tenant) {
    const root = main();
    const list = h('div');
    const path = `/v1/admin/tenants/${encodeURIComponent(tenant)}/catalog`;
    const load = async () => {
        try {
            const cs = (await api.get(path)).body.catalogs;
            clear(list);
            if (!cs.length) { list.append(h('p.empty', {}, 'No catalog yet. Connectors need an active catalog to write to.')); return; }
            list.append(h('table.catalogs', {},
                h('thead', {}, h('tr', {}, ...['Name', 'Type', 'Warehouse', 'Prefix', 'Active', 'Updated'].map((t) => h('th', { scope: 'col' }, t)))),
                h('tbody', {}, ...cs.map((c) => h('tr', { dataset: { catalog: c.catalog_name } },
                    h('td', { 'data-label': 'Name' }, ut(c.catalog_name)), h('td', { 'data-label': 'Type' }, c.catalog_type),
                    h('td', { 'data-label': 'Warehouse' }, ut(c.warehouse)), h('td', { 'data-label': 'Prefix' }, ut(c.storage_prefix)),
                    h('td', { 'data-label': 'Active' }, c.active ? 'yes' : 'no'), h('td', { 'data-label': 'Updated' }, timeEl(c.updated_at)))))));
        } catch (x) { if (!(x instanceof ApiError && x.status === 401)) sayError('Loading catalogs', x); }
    };
    const names = ['catalog_name', 'catalog_type', 'catalog_uri', 'warehouse', 'storage_prefix', 's3_endpoint', 's3_access_key_id'];
    const form = h('form.card.form', { novalidate: true },
        field('catalog_name', 'Name', h('input', { placeholder: 'ivory-lakehouse' })),
        field('catalog_type', 'Type', h('select', {}, ...['sql', 'hadoop', 'rest', 'glue', 'hive'].map((t) => h('option', { value: t }, t)))),
        field('catalog_uri', 'Catalog URI', h('input', { placeholder: 'local' }), 'sql: local, a SQLite path or a PostgreSQL URI; rest: the catalog base URL; not needed for hadoop.'),
        field('warehouse', 'Warehouse', h('input', { required: true, placeholder: 'file:///var/lib/ivory/warehouse or s3://bucket/path' })),
        field('storage_prefix', 'Storage prefix', h('input', { required: true, placeholder: 'acme' })),
        field('s3_endpoint', 'S3 endpoint', h('input', { placeholder: 'optional' })),
        field('s3_access_key_id', 'S3 access key id', h('input', { placeholder: 'optional' })),
        field('metadata', 'Metadata (JSON object)', h('textarea', { rows: 2, spellcheck: 'false', placeholder: '{"region": "us-east-1"}' })),
        h('div.actions', {}, h('button.primary', { type: 'submit' }, 'Provision catalog')));
    form.addEventListener('submit', async (e) => {
        e.preventDefault();
        const body = formValues(form, names);
        const meta = form.elements.metadata.value.trim();
        if (meta) {
            try { body.metadata = JSON.parse(meta); } catch {
                showFieldError(form, new ApiError(422, { detail: 'Metadata is not valid JSON.', field: 'metadata' }));
                return;
            }
        }
        try {
            const r = await api.post(path, body);
            say('ok', `Catalog ${r.body.catalog_name}: ${r.status === 201 ? 'created' : 'updated'} (${r.status})`);
            api.forget();
            await load();
        } catch (x) {
            if (x instanceof ApiError && x.status !== 401) showFieldError(form, x); else sayError('Provision catalog', x);
        }
    });
    append(root, [h('h1', {}, 'Catalogs'), list, h('h2', {}, 'Provision or update a catalog'), form]);
    await load();
}

window.addEventListener('hashchange', () => render());
render();
