/*
 * airbyte.h: the Airbyte protocol (internal header of src/runner/; only sync.c and the
 * runner's unit tests include it).
 *
 * Owns: translating an Airbyte source's stdout (RECORD, STATE in its legacy, per-stream and
 * global forms, LOG, TRACE, CONTROL ...) into the Singer messages the loader consumes; the
 * configured catalog's SCHEMA messages; the bookmark <-> `--state` file conversion; and
 * `<source> discover`, whose CATALOG becomes a configured catalog when the connector has
 * none. Kept apart from sync.c so a run's steps read as steps and the protocol as a protocol.
 *
 * Ownership: a struct airbyte_session owns its JSON (catalog, states); release it with
 * airbyte_session_release.
 */
#ifndef IVORY_RUNNER_AIRBYTE_H
#define IVORY_RUNNER_AIRBYTE_H

#include "singer/singer.h"
#include "util/util.h"

#include <jansson.h>

/* Where the translated Singer lines go (the loader, or the transform stage first). */
typedef int (*airbyte_emit_fn)(void *ctx, const char *line, size_t len, struct iv_err *e);

struct airbyte_session {
    json_t *catalog;     /* configured catalog {"streams":[...]} (owned; NULL until set) */
    json_t *states;      /* latest per-stream/global state message by key (owned) */
    char error[512];     /* last ERROR/FATAL LOG or TRACE error message, "" = none */
};

void airbyte_session_init(struct airbyte_session *ab);
void airbyte_session_release(struct airbyte_session *ab);

/* The `--state` file's text for a bookmark (NULL = no state file; caller frees). A
 * per-stream bookmark {"airbyte_state": [...]} becomes the array of state messages (and
 * seeds ab->states so later STATEs merge into it); a legacy one is passed as it is. */
char *airbyte_state_file(struct airbyte_session *ab, const char *bookmark);

/* One SCHEMA message per stream of ab->catalog, emitted before any data. */
int airbyte_send_schemas(struct airbyte_session *ab, airbyte_emit_fn emit, void *ctx,
                         struct iv_err *e);

/* One line of the source's stdout: RECORD/STATE are emitted as Singer messages,
 * errors are remembered in ab->error, the rest is ignored; anything else is IV_EINVAL. */
int airbyte_line(struct airbyte_session *ab, airbyte_emit_fn emit, void *ctx,
                 const char *line, size_t len, struct iv_err *e);

/* What `<source> discover` needs: the source's argv prefix (argc entries, no "read"), the
 * config file, secrets to redact from stderr, the line cap and an absolute deadline. */
struct airbyte_discover_opts {
    const char *tap_name;        /* for messages */
    const char *const *argv;
    int argc;
    const char *config_path;
    const char *run_dir;         /* the run's private directory (bound into the sandbox) */
    const char *const *redact;
    size_t max_line;
    int64_t deadline_ms;
};

/* Runs discover and sets ab->catalog to a configured catalog (incremental with the
 * source-defined cursor when supported, else full refresh; append). On failure returns
 * non-zero with *reason (one sentence) and *stderr_tail set (both heap, caller frees). */
int airbyte_discover(struct airbyte_session *ab, const struct airbyte_discover_opts *o,
                     char **reason, char **stderr_tail);

#endif
