/*
 * cmd: subcommand table, `ivory --help` and `ivory version`, and the helpers every
 * subcommand shares (error messages, the long-running commands' start and stop signals).
 */
#include "cmd/cmd.h"
#include "db/db.h"
#include "util/util.h"

#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
};

static int cmd_version(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    printf("ivory %s (build %s)\n", IVORY_VERSION, IVORY_GITREV);
    return 0;
}

static const struct command commands[] = {
    {"serve", cmd_serve, "run the API server, scheduler and runner (embedded default: SQLite + local warehouse)"},
    {"runner", cmd_runner, "run only the runner (claims due connectors from the shared store)"},
    {"migrate", cmd_migrate, "migrate [--check]: apply the store's schema migrations (or only compare versions) and exit"},
    {"backup", cmd_backup, "backup --to FILE: consistent snapshot of the SQLite store while it runs"},
    {"restore", cmd_restore, "restore --from FILE: replace the SQLite store with a snapshot (servers stopped)"},
    {"tenant", cmd_tenant, "tenant create --slug SLUG [--id UUID]: create a tenant, print its id and a dev token"},
    {"config", cmd_config, "config encrypt|decrypt: AES-256-GCM envelope of a tap config (stdin -> stdout)"},
    {"target-iceberg", cmd_target_iceberg, "target-iceberg --config FILE: Singer target writing Iceberg tables"},
    {"table", cmd_table, "table show --config FILE NAMESPACE.TABLE: print the rows of an Iceberg table"},
    {"expr", cmd_expr, "expr 'EXPRESSION' [--value JSON] [--row JSON]: evaluate a transform expression and print the result as JSON (docs/transforms.md)"},
    {"version", cmd_version, "print the version"},
};

static void print_help(FILE *out)
{
    fprintf(out, "usage: ivory <command> [options]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(out, "  %-15s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "\nconfiguration comes from IVORY_* environment variables; see 'man ivory'\n");
}

static void say_error(const char *fmt, va_list ap)
{
    fputs("ivory: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

int cmd_usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    say_error(fmt, ap);
    va_end(ap);
    return 2;
}

int cmd_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    say_error(fmt, ap);
    va_end(ap);
    return 1;
}

int cmd_daemon_begin(int argc, char **argv, const char *name, const char *usage,
                     struct iv_config *cfg, sigset_t *stop)
{
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(usage, stdout);
            return 0;
        }
        return cmd_usage_error("%s: unexpected argument '%s'", name, argv[i]);
    }
    /* Every file the daemons create (store, WAL, master key, warehouse data and metadata,
     * run directories) is private to the service user: 0600 files, 0700 directories. */
    umask(077);
    struct iv_err e = {0};
    if (config_load(cfg, &e) != IV_OK)
        return cmd_fail("%s", e.msg);
    db_set_reconnect_wait_ms((int)(cfg->db_reconnect_wait_s * 1000.0));
    int status = cmd_hold_store_lock(cfg, name);
    if (status >= 0) {
        config_release(cfg);
        return status;
    }
    sigemptyset(stop);
    sigaddset(stop, SIGTERM);
    sigaddset(stop, SIGINT);
    pthread_sigmask(SIG_BLOCK, stop, NULL);
    signal(SIGPIPE, SIG_IGN);
    return -1;
}

void cmd_daemon_wait(const sigset_t *stop)
{
    int sig = 0;
    sigwait(stop, &sig);
    log_info("received %s: stopping", sig == SIGTERM ? "SIGTERM" : "SIGINT");
}

int cmd_dispatch(int argc, char **argv)
{
    log_set_level_from_env();
    if (argc < 2) {
        print_help(stderr);
        return 2;
    }
    const char *name = argv[1];
    if (!strcmp(name, "--help") || !strcmp(name, "-h") || !strcmp(name, "help")) {
        print_help(stdout);
        return 0;
    }
    if (!strcmp(name, "--version"))
        return cmd_version(0, NULL);
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(commands[i].name, name))
            return commands[i].run(argc - 1, argv + 1);
    return cmd_usage_error("unknown command '%s' (see 'ivory --help')", name);
}
