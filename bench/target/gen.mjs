// bench/target/gen.mjs N OUT_SINGER OUT_RECORDS — writes N Singer RECORD lines (one SCHEMA first,
// a STATE every 100k rows) to OUT_SINGER and the bare record objects to OUT_RECORDS (the same
// records, for DuckDB's read_json). Deterministic (seeded LCG) so runs compare.
import fs from 'node:fs';

const [n, outSinger, outRecords] = [Number(process.argv[2]), process.argv[3], process.argv[4]];
let seed = 42;
const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
const first = ['ana', 'bo', 'chen', 'dara', 'eli', 'fatima', 'gus', 'hana', 'ivan', 'józef', 'kai', 'léa'];
const last = ['smith', 'garcía', 'müller', 'nguyen', 'okafor', 'rossi', 'tanaka', 'kowalski'];
const schema = {
    type: 'SCHEMA', stream: 'orders', key_properties: ['id'],
    schema: { type: 'object', properties: {
        id: { type: 'integer' },
        customer_id: { type: 'integer' },
        name: { type: ['null', 'string'] },
        email: { type: ['null', 'string'] },
        amount: { type: ['null', 'number'] },
        quantity: { type: ['null', 'integer'] },
        paid: { type: ['null', 'boolean'] },
        created_at: { type: ['null', 'string'], format: 'date-time' },
        ship_date: { type: ['null', 'string'], format: 'date' },
        note: { type: ['null', 'string'] },
    } },
};
const fs1 = fs.openSync(outSinger, 'w');
const fs2 = fs.openSync(outRecords, 'w');
fs.writeSync(fs1, JSON.stringify(schema) + '\n');
let b1 = [], b2 = [];
const t0 = Date.UTC(2024, 0, 1);
for (let i = 0; i < n; i++) {
    const f = first[Math.floor(rnd() * first.length)], l = last[Math.floor(rnd() * last.length)];
    const rec = {
        id: i,
        customer_id: Math.floor(rnd() * 1e6),
        name: `${f} ${l}`,
        email: `${f}.${l}${i % 1000}@example.com`,
        amount: Math.round(rnd() * 1e6) / 100,
        quantity: Math.floor(rnd() * 20),
        paid: rnd() < 0.7,
        created_at: new Date(t0 + Math.floor(rnd() * 3e10)).toISOString(),
        ship_date: new Date(t0 + Math.floor(rnd() * 3e10)).toISOString().slice(0, 10),
        note: rnd() < 0.5 ? null : `note ${i}: ${'x'.repeat(Math.floor(rnd() * 40))}`,
    };
    const r = JSON.stringify(rec);
    b1.push(`{"type":"RECORD","stream":"orders","record":${r}}`);
    b2.push(r);
    if ((i + 1) % 100000 === 0) b1.push(JSON.stringify({ type: 'STATE', value: { bookmarks: { orders: { id: i } } } }));
    if (b1.length >= 20000) {
        fs.writeSync(fs1, b1.join('\n') + '\n');
        fs.writeSync(fs2, b2.join('\n') + '\n');
        b1 = []; b2 = [];
    }
}
if (b1.length) fs.writeSync(fs1, b1.join('\n') + '\n');
if (b2.length) fs.writeSync(fs2, b2.join('\n') + '\n');
fs.writeSync(fs1, JSON.stringify({ type: 'STATE', value: { bookmarks: { orders: { id: n - 1 } } } }) + '\n');
fs.closeSync(fs1);
fs.closeSync(fs2);
