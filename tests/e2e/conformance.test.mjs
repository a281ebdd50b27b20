// conformance.test.mjs — walks the Singer conformance corpus (tests/conformance/, see its README).
// Every file under valid/ goes through `ivory target-iceberg`; each stream's table is read back
// with icebird AND DuckDB, and the row count and a checksum over every value are compared with
// what the input says (computed here from the Singer lines, independently of ivory). Every file
// under invalid/ must be refused with exit 1, the line number and the reason listed in
// invalid.json.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { IVORY, REPO, readDuckdb, readIcebird, runTarget, tempDir } from './lib/iceberg_read.mjs';

const skip = fs.existsSync(IVORY) ? false : 'ivory not built';
const CORPUS = path.join(REPO, 'tests', 'conformance');

// The stream -> table rule of docs/singer.md ("Naming rules"), written again here.
function tableName(stream) {
    const kept = [...stream].filter((c) => /[A-Za-z0-9_\-.\s]/.test(c)).map((c) => (/[-.\s]/.test(c) ? '_' : c)).join('');
    let out = /^[0-9]/.test(kept) ? '_' : '';
    for (let i = 0; i < kept.length; i++) {
        const c = kept[i], prev = kept[i - 1], next = kept[i + 1];
        const up = /[A-Z]/.test(c);
        const starts = i > 0 && up && (/[a-z0-9]/.test(prev) || (/[A-Z]/.test(prev) && next !== undefined && /[a-z]/.test(next)));
        if (starts && !out.endsWith('_')) out += '_';
        out += c.toLowerCase();
    }
    return out;
}
// Parquet names as Iceberg's Java writer makes them (ASCII names in this corpus).
const avroName = (n) => [...n].map((c, i) => (/[A-Za-z_]/.test(c) || (i > 0 && /[0-9]/.test(c)) ? c
    : /[0-9]/.test(c) ? `_${c}` : `_x${c.charCodeAt(0).toString(16).toUpperCase()}`)).join('');

// What the input says each stream's table holds: rows (declared keys only) in arrival order.
function expected(text) {
    const streams = new Map();
    for (const line of text.split('\n')) {
        if (!line.trim()) continue;
        const m = JSON.parse(line);
        if (m.type === 'SCHEMA') {
            const s = streams.get(m.stream) ?? { rows: [], declared: new Set() };
            s.declared = new Set(Object.keys(m.schema.properties));
            streams.set(m.stream, s);
        } else if (m.type === 'RECORD') {
            const s = streams.get(m.stream);
            s.rows.push(Object.fromEntries(Object.entries(m.record).filter(([k]) => s.declared.has(k))));
        }
    }
    return streams;
}

const DAY = 86400000;
function norm(v, type) {
    if (v === null || v === undefined) return 'null';
    if (type === 'long') return String(BigInt(v));
    if (type === 'double' || type === 'int' || type === 'float') return String(Number(v));
    if (type === 'boolean') return String(v);
    if (type.startsWith('decimal')) return Number(v).toFixed(Number(/,(\d+)/.exec(type)[1]));
    if (type === 'timestamptz') {
        if (v instanceof Date) return String(BigInt(v.getTime()) * 1000n);
        if (typeof v === 'string') return String(BigInt(Date.parse(v)) * 1000n);
        return String(BigInt(v));
    }
    if (type === 'date') {
        if (v instanceof Date) return String(v.getTime() / DAY);
        if (typeof v === 'string') return String(Date.parse(v.length === 10 ? `${v}T00:00:00Z` : v) / DAY);
        return String(Number(v));
    }
    if (typeof v === 'object') return JSON.stringify(v);   // object/array columns hold JSON text
    return String(v);
}
const checksum = (rows, fields, get) => {
    const lines = rows.map((r) => fields.map((f) => norm(get(r, f), f.type)).join('\u0001')).sort();
    return crypto.createHash('sha256').update(lines.join('\n')).digest('hex');
};

const validFiles = fs.readdirSync(path.join(CORPUS, 'valid')).filter((f) => f.endsWith('.jsonl')).sort();
const invalid = JSON.parse(fs.readFileSync(path.join(CORPUS, 'invalid.json'), 'utf8'));

describe('Singer conformance corpus: valid streams load and read back equal', { skip }, () => {
    for (const file of validFiles) {
        test(file, async () => {
            const dir = tempDir('ivory-conf-');
            const text = fs.readFileSync(path.join(CORPUS, 'valid', file), 'utf8');
            const r = runTarget({ catalog_type: 'hadoop', warehouse: path.join(dir, 'wh'), namespace: 'conf' }, text, { dir });
            assert.equal(r.status, 0, r.stderr);
            for (const [stream, want] of expected(text)) {
                const tdir = path.join(dir, 'wh', 'conf', tableName(stream));
                const mdDir = path.join(tdir, 'metadata');
                const latest = fs.readdirSync(mdDir).filter((f) => /^v\d+\.metadata\.json$/.test(f))
                    .sort((a, b) => Number(a.slice(1, -14)) - Number(b.slice(1, -14))).at(-1);
                const md = JSON.parse(fs.readFileSync(path.join(mdDir, latest), 'utf8'));
                const fields = md.schemas.find((s) => s['schema-id'] === md['current-schema-id']).fields;
                const sum = checksum(want.rows, fields, (row, f) => row[f.name]);
                const ice = await readIcebird({ dir: tdir });
                assert.equal(ice.length, want.rows.length, `${stream}: icebird row count`);
                assert.equal(checksum(ice, fields, (row, f) => row[f.name]), sum, `${stream}: icebird checksum`);
                const duck = await readDuckdb({ dir: tdir });
                assert.equal(duck.rows.length, want.rows.length, `${stream}: DuckDB row count`);
                assert.equal(checksum(duck.rows, fields, (row, f) => row[avroName(f.name)]), sum, `${stream}: DuckDB checksum`);
            }
        });
    }
});

describe('Singer conformance corpus: invalid streams are refused with a line number', { skip }, () => {
    const files = fs.readdirSync(path.join(CORPUS, 'invalid')).filter((f) => f.endsWith('.jsonl')).sort();
    test('every invalid file is listed with its reason', () => {
        assert.deepEqual(files, Object.keys(invalid).sort());
    });
    for (const file of files) {
        test(`${file}: ${invalid[file].reason}`, () => {
            const dir = tempDir('ivory-conf-');
            const text = fs.readFileSync(path.join(CORPUS, 'invalid', file), 'utf8');
            const r = runTarget({ catalog_type: 'hadoop', warehouse: path.join(dir, 'wh'), namespace: 'conf' }, text, { dir });
            assert.equal(r.status, 1, r.stderr);
            assert.match(r.stderr, new RegExp(`line ${invalid[file].line}:`));
            assert.ok(r.stderr.includes(invalid[file].match), r.stderr);
        });
    }
});
