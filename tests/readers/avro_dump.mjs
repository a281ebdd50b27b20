// tests/readers/avro_dump.mjs FILE
// Independent reader for the C Avro container tests: decodes FILE with avsc and prints
// {codec, meta, schema, records}. meta values are strings; longs are read exactly (as
// BigInt, printed as decimal strings when beyond 2^53); bytes/fixed become
// {"$bytes": base64}. Codecs: null, deflate (zlib), snappy (small JS decoder with CRC
// check), zstandard (fzstd, installed with hyparquet-compressors).
import avro from 'avsc';
import zlib from 'node:zlib';
import { decompress as zstdDecompress } from 'fzstd';

const file = process.argv[2];

function snappyUncompress(buf) {
  let pos = 0, len = 0, shift = 0, c;
  do { c = buf[pos++]; len |= (c & 0x7f) << shift; shift += 7; } while (c & 0x80);
  const out = Buffer.alloc(len);
  let op = 0;
  while (pos < buf.length) {
    const tag = buf[pos++];
    const type = tag & 3;
    if (type === 0) {
      let n = tag >> 2;
      if (n >= 60) { const b = n - 59; n = 0; for (let i = 0; i < b; i++) n |= buf[pos++] << (8 * i); }
      n += 1;
      buf.copy(out, op, pos, pos + n); pos += n; op += n;
      continue;
    }
    let n, off;
    if (type === 1) { n = ((tag >> 2) & 7) + 4; off = ((tag >> 5) << 8) | buf[pos++]; }
    else if (type === 2) { n = (tag >> 2) + 1; off = buf.readUInt16LE(pos); pos += 2; }
    else { n = (tag >> 2) + 1; off = buf.readUInt32LE(pos); pos += 4; }
    if (off === 0 || off > op) throw new Error('bad snappy offset');
    for (let i = 0; i < n; i++, op++) out[op] = out[op - off];
  }
  if (op !== len) throw new Error('snappy length mismatch');
  return out;
}

const codecs = {
  null: (b, cb) => cb(null, b),
  deflate: zlib.inflateRaw,
  snappy: (b, cb) => {
    try {
      const data = snappyUncompress(b.subarray(0, b.length - 4));
      const crc = zlib.crc32 ? zlib.crc32(data) : null;
      if (crc !== null && crc !== b.readUInt32BE(b.length - 4)) throw new Error('snappy crc mismatch');
      cb(null, data);
    } catch (e) { cb(e); }
  },
  zstandard: (b, cb) => { try { cb(null, Buffer.from(zstdDecompress(b))); } catch (e) { cb(e); } },
};

const longType = avro.types.LongType.__with({
  fromBuffer: (buf) => buf.readBigInt64LE(),
  toBuffer: (n) => { const b = Buffer.alloc(8); b.writeBigInt64LE(BigInt(n)); return b; },
  fromJSON: (x) => BigInt(x),
  toJSON: (n) => Number(n),
  isValid: (n) => typeof n === 'bigint',
  compare: (a, b) => (a < b ? -1 : a > b ? 1 : 0),
});

function conv(v) {
  if (typeof v === 'bigint') {
    return (v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= BigInt(Number.MIN_SAFE_INTEGER)) ? Number(v) : v.toString();
  }
  if (Buffer.isBuffer(v)) return { $bytes: v.toString('base64') };
  if (typeof v === 'number') {
    if (Number.isNaN(v)) return 'NaN';
    if (v === Infinity) return 'Infinity';
    if (v === -Infinity) return '-Infinity';
    return v;
  }
  if (Array.isArray(v)) return v.map(conv);
  if (v && typeof v === 'object') {
    const o = {};
    for (const [k, x] of Object.entries(v)) o[k] = conv(x);
    return o;
  }
  return v;
}

const out = { records: [] };
avro.createFileDecoder(file, {
  codecs,
  parseHook: (schema) => avro.Type.forSchema(schema, { registry: { long: longType }, wrapUnions: false }),
})
  .on('metadata', (type, codec, header) => {
    out.codec = codec;
    out.meta = Object.fromEntries(Object.entries(header.meta).map(([k, v]) => [k, v.toString()]));
  })
  .on('data', (r) => out.records.push(conv(r)))
  .on('error', (e) => { console.error(String(e)); process.exit(1); })
  .on('end', () => process.stdout.write(JSON.stringify(out) + '\n'));
