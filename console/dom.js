// dom.js — the only way the console builds a page: elements made with createElement and text
// set with textContent, never innerHTML. Whatever a tenant, a tap or the API puts in a string
// is therefore shown as text and can never become markup or script.

// h('tag.class', {attr: value, on: {click: fn}}, ...children): children are nodes, strings
// (text nodes), arrays, or null/false (skipped).
export function h(spec, attrs = {}, ...children) {
    const [tag, ...classes] = spec.split('.');
    const el = document.createElement(tag || 'div');
    if (classes.length) el.className = classes.join(' ');
    for (const [k, v] of Object.entries(attrs ?? {})) {
        if (v === undefined || v === null || v === false) continue;
        if (k === 'on') for (const [ev, fn] of Object.entries(v)) el.addEventListener(ev, fn);
        else if (k === 'dataset') Object.assign(el.dataset, v);
        else if (k === 'value') el.value = v;
        else if (k === 'checked') el.checked = !!v;
        else if (k.startsWith('on')) throw new Error(`use {on: {...}} for ${k}`);
        else el.setAttribute(k, v === true ? '' : String(v));
    }
    append(el, children);
    return el;
}

export function append(el, children) {
    for (const c of children.flat(Infinity)) {
        if (c === null || c === undefined || c === false) continue;
        el.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return el;
}

// A tenant- or tap-supplied string: isolated for bidi (an RTL override inside it cannot
// reorder the text around it) and shown as plain text.
export function ut(s, cls = 'u') {
    return h(`bdi.${cls}`, {}, s === null || s === undefined ? '—' : String(s));
}

export function clear(el) {
    while (el.firstChild) el.removeChild(el.firstChild);
    return el;
}

const SVG = 'http://www.w3.org/2000/svg';
export function s(tag, attrs = {}, ...children) {
    const el = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs)) if (v !== undefined && v !== null) el.setAttribute(k, String(v));
    for (const c of children.flat(Infinity)) {
        if (c === null || c === undefined || c === false) continue;
        el.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return el;
}

// "3 min ago" / "in 2 h" from an ISO time; "—" for null.
export function relTime(iso, now = Date.now()) {
    if (!iso) return '—';
    const t = Date.parse(iso);
    if (Number.isNaN(t)) return String(iso);
    const d = (t - now) / 1000, a = Math.abs(d);
    const [n, unit] = a < 60 ? [Math.round(a), 's'] : a < 3600 ? [Math.round(a / 60), 'min']
        : a < 86400 ? [Math.round(a / 3600), 'h'] : [Math.round(a / 86400), 'd'];
    return d < 0 ? `${n} ${unit} ago` : `in ${n} ${unit}`;
}

export function fmtInt(n) {
    return n === null || n === undefined ? '—' : Number(n).toLocaleString('en-US');
}

export function fmtDuration(sec) {
    if (sec === null || sec === undefined) return '—';
    if (sec < 60) return `${sec} s`;
    if (sec < 3600) return `${Math.floor(sec / 60)} min ${sec % 60} s`;
    return `${Math.floor(sec / 3600)} h ${Math.floor((sec % 3600) / 60)} min`;
}

export function timeEl(iso) {
    if (!iso) return h('span.muted', {}, '—');
    return h('time', { datetime: iso, title: iso }, relTime(iso));
}
