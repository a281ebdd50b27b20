// chart.js — a connector's run history as one SVG: a bar per run for rows loaded (left axis),
// a line for duration (right axis), failed runs marked with a red cross. Drawn with plain SVG
// elements; every label is text. The table under it carries the same numbers for screen
// readers and for copying.
import { s, fmtInt, fmtDuration } from './dom.js';

const W = 720, H = 240, PAD = { l: 56, r: 56, t: 16, b: 36 };

// The axis top: a round number at or above v, at least 4 so the four grid steps are whole.
function niceMax(v) {
    if (v <= 4) return 4;
    const p = 10 ** Math.floor(Math.log10(v));
    for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
    return 10 * p;
}

const shortDate = (iso) => (iso ? iso.slice(5, 16).replace('T', ' ') : '');

// runs: newest first, as the API lists them. Returns an <svg> (or a note when there is none).
export function runChart(runs) {
    const rs = [...runs].filter((r) => r.status !== 'running').reverse();
    const innerW = W - PAD.l - PAD.r, innerH = H - PAD.t - PAD.b;
    const failed = rs.filter((r) => r.status === 'failed').length;
    const svg = s('svg', {
        viewBox: `0 0 ${W} ${H}`, class: 'chart', role: 'img',
        'aria-label': `Run history: ${rs.length} finished runs, ${failed} failed. Bars: rows loaded; line: duration.`,
    });
    if (!rs.length) {
        svg.append(s('text', { x: W / 2, y: H / 2, 'text-anchor': 'middle', class: 'chart-empty' },
            'No finished runs yet'));
        return svg;
    }
    const maxRows = niceMax(Math.max(...rs.map((r) => r.rows_loaded ?? 0)));
    const maxDur = niceMax(Math.max(...rs.map((r) => r.duration_s ?? 0)));
    const step = innerW / rs.length;
    const bw = Math.max(2, Math.min(28, step * 0.6));
    const x = (i) => PAD.l + step * i + step / 2;
    const yRows = (v) => PAD.t + innerH - (v / maxRows) * innerH;
    const yDur = (v) => PAD.t + innerH - (v / maxDur) * innerH;

    // grid + axes labels
    for (let k = 0; k <= 4; k++) {
        const y = PAD.t + innerH - (innerH * k) / 4;
        svg.append(s('line', { x1: PAD.l, x2: W - PAD.r, y1: y, y2: y, class: 'grid' }));
        svg.append(s('text', { x: PAD.l - 6, y: y + 4, 'text-anchor': 'end', class: 'axis rows' },
            fmtInt(Math.round((maxRows * k) / 4))));
        svg.append(s('text', { x: W - PAD.r + 6, y: y + 4, class: 'axis dur' },
            `${Math.round((maxDur * k) / 4)} s`));
    }
    svg.append(s('text', { x: PAD.l, y: H - 8, class: 'axis' }, shortDate(rs[0].started_at)));
    svg.append(s('text', { x: W - PAD.r, y: H - 8, 'text-anchor': 'end', class: 'axis' },
        shortDate(rs[rs.length - 1].started_at)));

    rs.forEach((r, i) => {
        const v = r.rows_loaded ?? 0;
        const tip = `${r.started_at ?? ''} — ${r.status}, ${fmtInt(v)} rows loaded, ${fmtDuration(r.duration_s)}`;
        const bar = s('rect', {
            x: x(i) - bw / 2, y: yRows(v), width: bw, height: Math.max(1, PAD.t + innerH - yRows(v)),
            class: `bar ${r.status}`, 'data-run': r.id,
        }, s('title', {}, tip));
        svg.append(bar);
        if (r.status === 'failed') {
            const cx = x(i), cy = PAD.t + innerH - 8, d = 6;
            svg.append(s('path', {
                d: `M${cx - d},${cy - d}L${cx + d},${cy + d}M${cx + d},${cy - d}L${cx - d},${cy + d}`,
                class: 'fail-mark', 'data-run': r.id,
            }, s('title', {}, tip)));
        }
    });
    const pts = rs.map((r, i) => `${x(i)},${yDur(r.duration_s ?? 0)}`).join(' ');
    svg.append(s('polyline', { points: pts, class: 'dur-line' }));
    rs.forEach((r, i) => svg.append(s('circle', { cx: x(i), cy: yDur(r.duration_s ?? 0), r: 3, class: 'dur-dot' })));
    return svg;
}
