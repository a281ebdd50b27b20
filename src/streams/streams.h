/*
 * streams: a connector's stream catalog — what a tap offers and what the user selected.
 *
 * Owns the one document (JSON, stored as text by src/store) that discovery writes and the
 * API and the runner read: the discovered catalog of a Singer tap (`--discover`) or an
 * Airbyte source (`discover`), normalised stream by stream (fields with their type and
 * Singer `inclusion`, key properties, the replication methods and keys the tap allows), with
 * the user's choices on top (selected streams and fields, replication method and key, an
 * explicit table name). From it come the API's readable view, the selection rules (PATCH),
 * re-discovery's merge (selections kept, appeared and vanished streams reported), the
 * stream -> table rule (decided before any data; two streams never share a table) and what
 * the tap gets at run time (a Singer catalog with `selected` metadata, or an Airbyte
 * configured catalog). docs/runner.md and docs/api.md describe the rules.
 *
 * Pure: jansson over util, no I/O, so the API and the runner (which may not call each
 * other) share it. The sanitised stream name used in table names is computed by the caller
 * at discovery time (streams_name_fn) and stored in the document, so this module holds no
 * naming rule of its own.
 *
 * Ownership: every json_t* returned is a new reference the caller decrefs; inputs are
 * borrowed unless a function says it modifies them.
 */
#ifndef IVORY_STREAMS_H
#define IVORY_STREAMS_H

#include "util/util.h"

#include <jansson.h>

/* Writes the table-name form of a stream name into out (NUL-terminated). */
typedef void (*streams_name_fn)(const char *stream, char *out, size_t outsz);

/* A tap's discovery output -> a new document with the tap's default selection.
 * IV_EINVAL with a message naming the problem when it is not a catalog. */
int streams_from_singer(const json_t *catalog, streams_name_fn name, json_t **doc_out,
                        struct iv_err *e);
int streams_from_airbyte(const json_t *catalog, streams_name_fn name, json_t **doc_out,
                         struct iv_err *e);

/* Re-discovery: carries the user's choices of old (may be NULL: first discovery, the tap's
 * defaults stay) into doc (modified) for the streams and fields that still exist; streams
 * new to the catalog are not selected. Returns {"appeared": [...], "vanished": [...]}. */
json_t *streams_merge(json_t *doc, const json_t *old);

/* The API's view: {"discovered_at", "streams": [{tap_stream_id, stream, selected,
 * replication_method, replication_key, key_properties, table, replication_methods,
 * replication_keys, fields: [{name, type, format, nullable, inclusion, selected}]}]}. */
json_t *streams_view(const json_t *doc, const char *destination_table,
                     const char *discovered_at_iso);

/* Applies a PATCH body ({"streams": [{"tap_stream_id", "selected"?, "fields"?,
 * "replication_method"?, "replication_key"?, "table"?}]}) to doc (modified only on success).
 * IV_EINVAL: field_out names the offending field ("streams[0].fields.email") and e says why.
 * *newly_selected_out (may be NULL): array of the tap_stream_ids that went from unselected to
 * selected. pin_tables (the connector has run): streams_pin_tables before the collision check.
 */
int streams_patch(json_t *doc, const json_t *body, const char *destination_table,
                  bool pin_tables, json_t **newly_selected_out, char field_out[160],
                  struct iv_err *e);

/* The stream -> table map of the selected streams: {tap_stream_id: table}. One selected stream
 * loads into destination_table, several into {destination_table}_{name}, an explicit table
 * wins. IV_EINVAL naming both streams when two would share a table. */
int streams_tables(const json_t *doc, const char *destination_table, json_t **map_out,
                   struct iv_err *e);

/* Once a connector has run, a stream never changes table behind the user's back: every stream
 * selected in both before and doc whose default table differs between them (the one-stream
 * rule flipped because the selection grew or shrank) gets its table from before as an
 * explicit "table" in doc. */
void streams_pin_tables(json_t *doc, const json_t *before, const char *destination_table);

/* The flag a Singer tap reads its catalog from: "--catalog", or "--properties" when discovery
 * found a tap that knows only that one (the document's "catalog_flag"). */
const char *streams_catalog_flag(const json_t *doc);

/* The kind the document was discovered from: "singer" or "airbyte". */
const char *streams_kind(const json_t *doc);

/* What the tap gets: a Singer catalog (every stream, `selected` set on the stream and field
 * breadcrumbs, replication method and key in the stream metadata) or an Airbyte configured
 * catalog (the selected streams, sync_mode, destination_sync_mode "append", cursor_field,
 * primary_key; json_schema trimmed to the selected fields). */
json_t *streams_singer_catalog(const json_t *doc);
json_t *streams_airbyte_catalog(const json_t *doc);

/* The selected stream whose tap_stream_id (or, failing that, stream name) is name; NULL when
 * none is selected under that name (borrowed). */
const json_t *streams_find_selected(const json_t *doc, const char *name);
/* Whether field is selected in stream (an entry of the document). */
bool streams_field_selected(const json_t *stream, const char *field);

/* The STATE bookmark without the bookmarks of the given streams (Singer "bookmarks"/
 * "currently_syncing"; Airbyte per-stream states): a stream selected again starts from its
 * beginning while the others keep theirs. Returns a new text, or NULL when state has nothing
 * to remove (state may be NULL). */
char *streams_state_without(const char *state, const json_t *stream_ids);

#endif
