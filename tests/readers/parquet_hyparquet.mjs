// tests/readers/parquet_hyparquet.mjs FILE
// Second independent reader (pure JS hyparquet + hyparquet-compressors) for the C Parquet
// writer tests. Prints {num_rows, columns, field_ids, rows}; rows are arrays in column
// order with bigint -> decimal string, bytes -> upper-case hex, floats -> JSON number or
// "NaN"/"Infinity"/"-Infinity"/"-0", dates/timestamps -> "ms:<epoch ms>".
import { asyncBufferFromFile, parquetMetadataAsync, parquetReadObjects } from 'hyparquet';
import { compressors } from 'hyparquet-compressors';

const file = process.argv[2];
const conv = (v) => {
  if (typeof v === 'bigint') return v.toString();
  if (typeof v === 'number') {
    if (Number.isNaN(v)) return 'NaN';
    if (v === Infinity) return 'Infinity';
    if (v === -Infinity) return '-Infinity';
    if (Object.is(v, -0)) return '-0';
    return v;
  }
  if (v instanceof Uint8Array) return Buffer.from(v).toString('hex').toUpperCase();
  if (v instanceof Date) return 'ms:' + v.getTime();
  if (v === undefined) return null;
  return v;
};
const buf = await asyncBufferFromFile(file);
const md = await parquetMetadataAsync(buf);
const leaves = md.schema.slice(1);
const columns = leaves.map((s) => s.name);
const rows = await parquetReadObjects({ file: buf, compressors, utf8: false });
process.stdout.write(JSON.stringify({
  num_rows: Number(md.num_rows),
  columns,
  field_ids: leaves.map((s) => s.field_id ?? null),
  rows: rows.map((r) => columns.map((c) => conv(r[c]))),
}) + '\n');
