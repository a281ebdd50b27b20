/*
 * lake/avro: Avro Object Container File writer and reader (internal to the
 * lake library), for Iceberg manifests and manifest lists.
 *
 * Why our own: Debian's libavro (avro-c 1.11.1) writes only the avro.codec
 * and avro.schema header keys (Iceberg needs several more) and re-serialises
 * the schema, dropping the field-id / element-id attributes Iceberg readers
 * match columns by. So the container framing is ours, with the schema JSON
 * stored verbatim; the binary encoding needed is small.
 *
 * Writer: avro_writer_open -> encode one record with the avro_put_* helpers
 * into avro_writer_record(w) -> avro_writer_end_record -> ... ->
 * avro_writer_finish (temp, fsync, rename; reports exact size).
 *
 * Reader: avro_read_file decodes any container (null/deflate/snappy/zstd
 * codecs) against its own writer schema into jansson values: records ->
 * objects, arrays -> arrays, maps -> objects, unions -> the branch value
 * (null -> JSON null), bytes/fixed -> {"$bytes": "<base64>"}, long -> integer,
 * enum -> symbol string, float/double -> real (NaN/±inf as the strings "NaN",
 * "Infinity", "-Infinity"). avro_encode_json does the inverse against a schema
 * (a union branch is picked by the JSON value's kind; a missing record field
 * takes its schema "default"), so records read from an existing manifest list
 * re-encode to the same bytes. The reader refuses lengths past the end of the
 * data, decompressed blocks over 512 MiB and files over 1 GiB.
 */
#ifndef IVORY_LAKE_AVRO_H
#define IVORY_LAKE_AVRO_H

#include "util/util.h"

enum avro_codec { AVRO_NULL, AVRO_DEFLATE, AVRO_SNAPPY, AVRO_ZSTD };

/* Binary encoding primitives (append to b; IV_ETOOBIG only if b's max is hit). */
int avro_put_long(struct buf *b, int64_t v);     /* zigzag varint; also int */
int avro_put_bool(struct buf *b, bool v);
int avro_put_float(struct buf *b, float v);
int avro_put_double(struct buf *b, double v);
int avro_put_bytes(struct buf *b, const void *p, size_t n);   /* also string */
int avro_put_string(struct buf *b, const char *s);
int avro_put_fixed(struct buf *b, const void *p, size_t n);

struct avro_writer;
/* meta: NULL-terminated key,value,key,value,... list (avro.schema/codec are added). */
int avro_writer_open(struct avro_writer **out, const char *path, const char *schema_json,
                     const char *const *meta, enum avro_codec codec, struct iv_err *e);
struct buf *avro_writer_record(struct avro_writer *w);  /* borrowed; encode one record here */
int avro_writer_end_record(struct avro_writer *w);
/* Writes the last block, fsyncs, renames into place; *size_out = exact file size. Frees w. */
int avro_writer_finish(struct avro_writer *w, int64_t *size_out, struct iv_err *e);
void avro_writer_abort(struct avro_writer *w);

/* Reads a whole container. *schema_out (parsed writer schema), *meta_out (object of
 * header key -> string), *records_out (array). Caller decrefs all three. */
int avro_read_file(const char *path, json_t **schema_out, json_t **meta_out,
                   json_t **records_out, struct iv_err *e);
/* Encodes one JSON value (shape as produced by avro_read_file) against a schema. */
int avro_encode_json(struct buf *b, const json_t *schema, const json_t *value, struct iv_err *e);

#endif
