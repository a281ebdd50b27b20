/*
 * cmd: the `ivory` subcommands. cmd.c holds the dispatch table and --help;
 * each subcommand is one file cmd_<name>.c returning the exit status
 * (0 ok, 1 failure, 2 usage error), with a one-line message on stderr.
 */
#ifndef IVORY_CMD_H
#define IVORY_CMD_H

#include "config/config.h"

#include <signal.h>

int cmd_dispatch(int argc, char **argv);

int cmd_serve(int argc, char **argv);          /* API + scheduler + runner */
int cmd_runner(int argc, char **argv);         /* runner only */
int cmd_migrate(int argc, char **argv);
int cmd_tenant(int argc, char **argv);         /* tenant create --slug S [--id ID] */
int cmd_config(int argc, char **argv);         /* config encrypt|decrypt */
int cmd_target_iceberg(int argc, char **argv); /* target-iceberg --config FILE */
int cmd_table(int argc, char **argv);          /* table show ... */
int cmd_expr(int argc, char **argv);           /* expr 'EXPRESSION' */
int cmd_backup(int argc, char **argv);         /* backup --to FILE */
int cmd_restore(int argc, char **argv);        /* restore --from FILE */

/* Usage error helper: prints "ivory: <msg>" and returns 2. */
int cmd_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Failure helper: prints "ivory: <msg>" and returns 1. */
int cmd_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The shared start of the long-running commands (serve, runner): `--help` prints usage (a
 * full text, borrowed) and any other argument is a usage error naming `name`; then the config
 * is loaded into *cfg (caller releases it with config_release), SIGTERM/SIGINT are blocked in
 * the calling thread before any thread exists (so every thread inherits the mask and only
 * cmd_daemon_wait sees them; *stop is that set) and SIGPIPE is ignored. Returns -1 to go on,
 * else the exit status to return (nothing to release then). */
int cmd_daemon_begin(int argc, char **argv, const char *name, const char *usage,
                     struct iv_config *cfg, sigset_t *stop);
/* Holds the store lock shared until the process exits (cmd_backup.c: restore takes it
 * exclusive, so it refuses while this process lives). No-op for a PostgreSQL store and when
 * already held. Returns -1 to go on, else the exit status (message printed, naming name). */
int cmd_hold_store_lock(const struct iv_config *cfg, const char *name);
/* Waits (sigwait) for the first stop signal and logs which one it was. */
void cmd_daemon_wait(const sigset_t *stop);

#endif
