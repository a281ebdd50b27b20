/*
 * lake/types: internal header of the lake module: the Iceberg primitive types,
 * schema fields and Parquet codec values shared by every part of the lake
 * library (Parquet writer, manifests, metadata). A separate file only so that
 * the internal Parquet writer (parquet.h) needs no more than this; lake.h
 * includes it, and other modules get these names through lake.h, never by
 * including this file. (Exception to remove: src/singer/singer.h still includes
 * it directly.) Knows nothing of tenants, connectors or HTTP.
 */
#ifndef IVORY_LAKE_TYPES_H
#define IVORY_LAKE_TYPES_H

#include <stdbool.h>
#include <stdint.h>

/* Parquet compression codecs (the Thrift CompressionCodec values): the writer's option
 * (parquet.h) and lake.h's append option. */
enum pqw_codec { PQW_UNCOMPRESSED = 0, PQW_SNAPPY = 1, PQW_ZSTD = 6 };

enum lake_type {
    LAKE_BOOLEAN,
    LAKE_INT,          /* int32 */
    LAKE_LONG,         /* int64 */
    LAKE_FLOAT,
    LAKE_DOUBLE,
    LAKE_DATE,         /* int32 days since 1970-01-01 */
    LAKE_TIME,         /* int64 µs since midnight */
    LAKE_TIMESTAMP,    /* int64 µs, no zone */
    LAKE_TIMESTAMPTZ,  /* int64 µs UTC */
    LAKE_STRING,
    LAKE_BINARY,
    LAKE_DECIMAL,      /* precision/scale in the field; value = unscaled __int128 */
    LAKE_UUID,         /* 16 bytes */
    LAKE_FIXED,        /* fixed_len bytes */
};

struct lake_field {
    int id;            /* Iceberg field id (>= 1) */
    char *name;        /* owned by the schema that holds the field */
    enum lake_type type;
    int precision;     /* decimal only */
    int scale;         /* decimal only */
    int fixed_len;     /* fixed only */
    bool required;
};

/* Iceberg type string ("long", "decimal(10,2)", "fixed[16]") for a field. out >= 32 bytes. */
void lake_type_string(const struct lake_field *f, char out[32]);
/* Parses an Iceberg primitive type string into f->type/precision/scale/fixed_len. */
int lake_type_parse(const char *s, struct lake_field *f);

#endif
