// bench/target/duck.mjs RECORDS OUT.parquet — the DuckDB baseline: read_json of the record
// objects (explicit column types, the same mapping ivory uses) -> COPY to Parquet with zstd.
// Prints {"seconds":..,"rows":..,"bytes":..} on stdout.
import fs from 'node:fs';
import { DuckDBInstance } from '@duckdb/node-api';

const [src, out] = [process.argv[2], process.argv[3]];
const inst = await DuckDBInstance.create(':memory:', { threads: '2' });
const con = await inst.connect();
const cols = `{'id':'BIGINT','customer_id':'BIGINT','name':'VARCHAR','email':'VARCHAR','amount':'DOUBLE',
  'quantity':'BIGINT','paid':'BOOLEAN','created_at':'TIMESTAMPTZ','ship_date':'DATE','note':'VARCHAR'}`;
const t0 = process.hrtime.bigint();
await con.run(`COPY (SELECT * FROM read_json('${src}', format='newline_delimited', columns=${cols}))
  TO '${out}' (FORMAT parquet, COMPRESSION zstd)`);
const secs = Number(process.hrtime.bigint() - t0) / 1e9;
const rows = (await con.runAndReadAll(`SELECT count(*)::BIGINT AS n FROM read_parquet('${out}')`)).getRowObjectsJS()[0].n;
console.log(JSON.stringify({ seconds: secs, rows: Number(rows), bytes: fs.statSync(out).size }));
