/*
 * runner_int.h: internal header of src/runner (runner.h is the module's one public
 * header): shared between runner.c (the poll loop) and sync.c (one run). Not for other
 * modules.
 *
 * Locking: r->mu guards the run list, each run's `child`, `cancel` and `done` fields, and
 * r->stopping. A run's job is immutable after claim; the loop thread alone frees runs
 * (after joining their threads).
 */
#ifndef IVORY_RUNNER_INT_H
#define IVORY_RUNNER_INT_H

#include "runner/runner.h"
#include "runner/child.h"

#include <pthread.h>

enum run_cancel { RUN_CANCEL_NONE = 0, RUN_CANCEL_DELETED, RUN_CANCEL_REQUESTED,
                  RUN_CANCEL_SHUTDOWN };

struct run {
    struct runner *r;
    struct store_job job;          /* owned; immutable after claim */
    pthread_t th;
    bool done;                     /* the thread has finished (join it) */
    struct child *child;           /* while the tap runs; under r->mu */
    enum run_cancel cancel;        /* under r->mu */
    int64_t lease_ok_ms;           /* mono time of the last successful renewal (loop thread) */
    struct run *next;
};

/* A discovery request being run by this runner (discover.c). */
struct discovery_run {
    struct runner *r;
    struct store_discovery req;    /* owned */
    pthread_t th;
    bool done;                     /* under r->mu */
    struct child *child;           /* while the tap runs; under r->mu */
    struct discovery_run *next;
};

struct runner {
    const struct iv_config *cfg;   /* borrowed */
    struct store *st;              /* borrowed */
    char id[128];                  /* "<host>:<pid>:<random>" */
    uint8_t master[32];
    uint8_t report_key[32];        /* runner_report_key(master, id): signs this runner's reports */
    uint8_t config_key[32];
    bool have_config_key;
    char config_key_err[600];      /* why IVORY_CONFIG_KEY is unusable, when set but bad */
    struct jwe_key *jwe_key;       /* IVORY_CONFIG_PRIVATE_KEY, or NULL */
    char jwe_key_err[600];         /* why it is unusable, when set but bad */
    char sandbox_err[700];         /* why taps cannot be sandboxed: every run fails with it */
    int64_t lease_ms;
    int64_t ckpt_rows;             /* checkpoint every N rows (at a STATE) */
    double ckpt_seconds;           /* ... or every M seconds */
    int webhook_attempts;          /* IVORY_WEBHOOK_MAX_ATTEMPTS, 0 = the client's default */
    struct store_policy pol;

    pthread_t loop;
    bool loop_started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stopping;                 /* no new claims */
    bool wake_pending;             /* the store's wake hook fired: poll again at once */
    volatile int abort_webhooks;   /* shutdown: stop retrying webhooks */
    struct run *runs;
    int nruns;
    struct discovery_run *discoveries; /* under mu; the loop thread alone frees them */
    double discover_timeout_s;     /* IVORY_DISCOVER_TIMEOUT */
    size_t discover_max_bytes;     /* IVORY_DISCOVER_MAX_BYTES */
};

/* The run thread (sync.c): executes rn->job end to end and sets rn->done. */
void *run_main(void *arg);

/* Reports a failed run without executing anything (reaped job, pre-flight failure). */
void runner_fail_dead_job(struct runner *r, const struct store_dead_job *dj);

/* Secrets of a tap's config, redacted from its stderr (NULL-terminated array, owned). */
struct runner_secrets {
    char **v;
    int n;
};
void runner_secret_add(struct runner_secrets *rs, const char *v);
/* Adds the string values under secret-looking keys of v (at any depth). */
void runner_secrets_collect(struct runner_secrets *rs, json_t *v, bool under_secret);
void runner_secrets_release(struct runner_secrets *rs);
/* text with every form of every secret replaced by "[REDACTED]" (caller frees). */
char *runner_redact(const struct runner_secrets *rs, const char *text);

/* The decrypted tap config (caller wipes and frees; "{}" without one) with its secrets added
 * to rs, or NULL with why set (one sentence naming IVORY_CONFIG_KEY when that is the cause). */
char *runner_decrypt_config(struct runner *r, const char *envelope, struct runner_secrets *rs,
                            char why[600]);
/* "reason; tap stderr: <last 2 KiB>" (caller frees). */
char *runner_error_with_stderr(const char *reason, const char *tail);

/* What a tap is started with: its command line and the private files. */
struct launch {
    struct run_files *rf;         /* owned by the caller (destroyed after the run) */
    const char *cfg_path, *state_path, *cat_path;   /* inside rf */
    char *exe;                    /* resolved executable (owned) */
    char *envarg;                 /* meltano --environment=... (owned) */
    const char *argv[24];         /* borrowed strings; NULL-terminated */
    int argc;
    const char *cwd;              /* meltano project, else NULL */
};
void launch_release(struct launch *l);
/* The command prefix of connector c's tap: `meltano --environment=E invoke TAP` (type meltano,
 * IVORY_MELTANO_PROJECT set, meltano found) or the executable tap_resolve finds. */
int runner_tap_command(struct runner *r, const struct store_connector *c, struct launch *l,
                       struct iv_err *e);

/* ---- discovery (discover.c) ---- */
/* The table-name form of a stream (singer_table_name; a hash-based name when nothing usable
 * is left). */
void runner_stream_name(const char *stream, char *out, size_t outsz);
/* Runs connector c's tap in discovery mode (Singer `--discover`, Airbyte `discover`) under
 * the discovery timeout and output cap and stores the resulting stream catalog, merged with
 * the previous one (selections kept). On failure returns non-zero with *http_status and
 * *detail (heap) saying why; the previous catalog is kept. *report_out (heap JSON text,
 * may be NULL): appeared / vanished streams. cancel_slot, when non-NULL, is set (under r->mu)
 * to the child while it runs. */
int runner_discover(struct runner *r, const struct store_connector *c,
                    struct child **cancel_slot, int *http_status, char **detail,
                    char **report_out);
/* Loop steps: start threads for pending discovery requests; join finished ones. */
void discovery_claim(struct runner *r);
void discovery_reap(struct runner *r, bool all);

#endif
