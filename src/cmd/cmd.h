/*
 * cmd: the `ivory` subcommands. cmd.c holds the dispatch table and --help;
 * each subcommand is one file cmd_<name>.c returning the exit status
 * (0 ok, 1 failure, 2 usage error), with a one-line message on stderr.
 */
#ifndef IVORY_CMD_H
#define IVORY_CMD_H

int cmd_dispatch(int argc, char **argv);

int cmd_serve(int argc, char **argv);          /* API + scheduler + runner */
int cmd_runner(int argc, char **argv);         /* runner only */
int cmd_migrate(int argc, char **argv);
int cmd_tenant(int argc, char **argv);         /* tenant create --slug S [--id ID] */
int cmd_config(int argc, char **argv);         /* config encrypt|decrypt */
int cmd_target_iceberg(int argc, char **argv); /* target-iceberg --config FILE */
int cmd_table(int argc, char **argv);          /* table show ... */
int cmd_expr(int argc, char **argv);           /* expr 'EXPRESSION' */

/* Usage error helper: prints "ivory: <msg>" and returns 2. */
int cmd_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Failure helper: prints "ivory: <msg>" and returns 1. */
int cmd_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
