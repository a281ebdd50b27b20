/*
 * runner: the scheduler + runner loop (docs/runner.md, docs/api.md). Polls the store every
 * IVORY_POLL_INTERVAL for due connectors, claims them (store/jobs.c), runs each tap as a
 * child process on its own thread, streams its output through the Singer loader into the
 * tenant's Iceberg catalog, and reports each run through the signed webhook.
 *
 * Used by `ivory runner` (runner only) and `ivory serve` (API + runner in one process). The
 * runner never calls the API and never writes SQL: it meets the API in the store and through
 * the webhook. See docs/runner.md.
 */
#ifndef IVORY_RUNNER_H
#define IVORY_RUNNER_H

#include "config/config.h"
#include "store/store.h"

struct runner;

/* Starts the poll loop on its own thread. cfg and st are borrowed and must outlive the
 * runner. Fails when the master key cannot be loaded (IV_EINVAL, message). *out: stop with
 * runner_stop. */
int runner_start(struct runner **out, const struct iv_config *cfg, struct store *st,
                 struct iv_err *e);

/* Stops claiming, lets running syncs finish for up to grace_s seconds, then cancels the
 * rest (their process groups are killed and the runs reported failed), waits for every run
 * thread and frees r. NULL ok. */
void runner_stop(struct runner *r, double grace_s);

#endif
