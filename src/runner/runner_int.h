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

struct runner {
    const struct iv_config *cfg;   /* borrowed */
    struct store *st;              /* borrowed */
    char id[128];                  /* "<host>:<pid>:<random>" */
    uint8_t master[32];
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
    volatile int abort_webhooks;   /* shutdown: stop retrying webhooks */
    struct run *runs;
    int nruns;
};

/* The run thread (sync.c): executes rn->job end to end and sets rn->done. */
void *run_main(void *arg);

/* Reports a failed run without executing anything (reaped job, pre-flight failure). */
void runner_fail_dead_job(struct runner *r, const struct store_dead_job *dj);

#endif
