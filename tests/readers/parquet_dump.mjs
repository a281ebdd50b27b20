// tests/readers/parquet_dump.mjs FILE
// Independent reader for the C Parquet writer tests: reads FILE with DuckDB and prints one
// JSON object: {types, rows, schema, meta, kv}. Values are made exact and type-neutral in
// SQL so the C side can compare them: ints/decimals as strings, date = days, time and
// timestamps = microseconds, blobs as hex, floats as JSON numbers or the strings
// "NaN", "Infinity", "-Infinity", "-0". BigInts are printed as strings.
import { DuckDBInstance } from '@duckdb/node-api';

const file = process.argv[2];
if (!file) {
  console.error('usage: parquet_dump.mjs FILE');
  process.exit(2);
}
const q = (s) => "'" + String(s).replaceAll("'", "''") + "'";
const id = (s) => '"' + String(s).replaceAll('"', '""') + '"';

function conv(v) {
  if (typeof v === 'bigint') return v.toString();
  if (typeof v === 'number') {
    if (Number.isNaN(v)) return 'NaN';
    if (v === Infinity) return 'Infinity';
    if (v === -Infinity) return '-Infinity';
    if (Object.is(v, -0)) return '-0';
    return v;
  }
  if (v === null || v === undefined) return null;
  if (Array.isArray(v)) return v.map(conv);
  if (typeof v === 'object') {
    const o = {};
    for (const [k, x] of Object.entries(v)) o[k] = conv(x);
    return o;
  }
  return v;
}

const inst = await DuckDBInstance.create(':memory:');
const con = await inst.connect();
const src = `read_parquet(${q(file)})`;
const desc = (await con.runAndReadAll(`DESCRIBE SELECT * FROM ${src}`)).getRowObjectsJS();
const exprs = desc.map((d) => {
  const c = id(d.column_name);
  const t = String(d.column_type);
  if (/^(TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT|UINTEGER|UBIGINT)$/.test(t)) return `CAST(${c} AS VARCHAR)`;
  if (t.startsWith('DECIMAL')) return `CAST(${c} AS VARCHAR)`;
  if (t === 'BLOB') return `hex(${c})`;
  if (t === 'UUID') return `CAST(${c} AS VARCHAR)`;
  if (t === 'DATE') return `CAST(${c} - DATE '1970-01-01' AS VARCHAR)`;
  if (t === 'TIME') return `CAST(datediff('microsecond', TIME '00:00:00', ${c}) AS VARCHAR)`;
  if (t.startsWith('TIMESTAMP')) return `CAST(epoch_us(${c}) AS VARCHAR)`;
  return c;
});
const types = Object.fromEntries(desc.map((d) => [d.column_name, String(d.column_type)]));
const sel = exprs.length ? exprs.map((e, i) => `${e} AS c${i}`).join(', ') : '1';
const rowsRes = await con.runAndReadAll(`SELECT ${sel} FROM ${src}`);
const rows = rowsRes.getRowsJS().map((r) => r.map(conv));
const schema = conv((await con.runAndReadAll(`SELECT * FROM parquet_schema(${q(file)})`)).getRowObjectsJS());
const meta = conv((await con.runAndReadAll(
  `SELECT * EXCLUDE (key_value_metadata) FROM parquet_metadata(${q(file)}) ORDER BY row_group_id, column_id`)).getRowObjectsJS());
let kv = [];
try {
  kv = conv((await con.runAndReadAll(
    `SELECT decode(key) AS key, decode(value) AS value FROM parquet_kv_metadata(${q(file)})`)).getRowObjectsJS());
} catch (e) { kv = [{ error: String(e) }]; }
const fm = conv((await con.runAndReadAll(`SELECT * FROM parquet_file_metadata(${q(file)})`)).getRowObjectsJS());
process.stdout.write(JSON.stringify({ columns: desc.map((d) => d.column_name), types, rows, schema, meta, kv, file: fm }) + '\n');
