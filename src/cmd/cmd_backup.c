/*
 * cmd_backup: `ivory backup --to FILE` and `ivory restore --from FILE` for the embedded
 * SQLite store, and the store lock that keeps a restore away from live processes.
 *
 * The store lock is an advisory flock on `<store file>.lock`. Every process that uses the
 * store for long (serve, runner, migrate, backup) holds it shared for its lifetime; restore
 * takes it exclusive without waiting, so it refuses while any of them is alive on this host,
 * and they refuse to start while a restore runs. The kernel drops a flock when its process
 * dies, so a crashed server never leaves a stale lock. docs/deploy.md "Backups" has the
 * operator's side; PostgreSQL stores are pg_dump's job and both commands say so.
 *
 * Restore never overwrites in place: the snapshot is copied beside the store, checked
 * (SQLite quick_check, a schema version this binary can run), then the current store — if
 * any — is itself snapshotted to `<store>.before-restore-<UTC time>`, its WAL and shared
 * memory files removed, and the copy renamed over it. Run as root, the new files take the
 * owner of the store's directory so the service user can still open them.
 */
#include "cmd/cmd.h"
#include "config/config.h"
#include "store/store.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static int store_lock_fd = -1;   /* the process's shared lock: held until exit */

/* Prints j as one compact JSON line on stdout and releases it (quotes and backslashes in
 * paths are escaped). NULL — json_pack refusing a path that is not UTF-8 — prints nothing. */
static void print_json(json_t *j)
{
    if (!j)
        return;
    char *text = json_dumps_compact(j);
    if (text)
        printf("%s\n", text);
    free(text);
    json_decref(j);
}

/* The lock file of the store at db_url, or NULL when the store is not a SQLite file. */
static char *store_lock_path(const char *db_url)
{
    char *path = db_sqlite_path(db_url);
    if (!path)
        return NULL;
    char *lock = xasprintf("%s.lock", path);
    free(path);
    return lock;
}

/* The lock file's directory is the store's: create it the way db_open would. */
static void make_parent_dir(const char *path)
{
    char *dir = xstrdup(path);
    char *slash = strrchr(dir, '/');
    if (slash && slash != dir) {
        *slash = '\0';
        mkdir_p(dir, 0700);
    }
    free(dir);
}

/* Run as root: give file the owner of dir, so the service user can open what root wrote. */
static void match_dir_owner(const char *file, const char *dir)
{
    struct stat d;
    if (geteuid() == 0 && stat(dir, &d) == 0 && chown(file, d.st_uid, d.st_gid) != 0)
        fprintf(stderr, "ivory: restore: warning: cannot chown '%s': %s\n", file, strerror(errno));
}

static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return xstrdup(".");
    if (slash == path)
        return xstrdup("/");
    return xstrndup(path, (size_t)(slash - path));
}

/* Locks the store's lock file (creating it and its directory when missing); as root, the
 * file takes the directory's owner so the service user can lock it later. */
static int lock_store_file(const char *lock, bool exclusive, int *fd_out, struct iv_err *e)
{
    make_parent_dir(lock);
    int rc = file_lock(lock, exclusive, false, fd_out, e);
    if (rc == IV_OK) {
        char *dir = dir_of(lock);
        match_dir_owner(lock, dir);
        free(dir);
    }
    return rc;
}

int cmd_hold_store_lock(const struct iv_config *cfg, const char *name)
{
    char *lock = store_lock_path(cfg->db_url);
    if (!lock || store_lock_fd >= 0) {
        free(lock);
        return -1;
    }
    struct iv_err e = {0};
    int rc = lock_store_file(lock, false, &store_lock_fd, &e);
    int status = -1;
    if (rc == IV_EAGAIN)
        status = cmd_fail("%s: a restore is replacing the store (lock '%s' is held): try again "
                          "when it has finished", name, lock);
    else if (rc != IV_OK)
        status = cmd_fail("%s: %s", name, e.msg);
    free(lock);
    return status;
}

/* ---- backup ----------------------------------------------------------------------------- */

static const char backup_usage[] =
    "usage: ivory backup --to FILE\n"
    "  writes a consistent snapshot of the SQLite store (IVORY_DB) to FILE while servers and\n"
    "  runners keep writing; FILE is replaced atomically and created mode 0600.\n"
    "  The master key and IVORY_CONFIG_KEY are not in it: keep them with the backup.\n"
    "  PostgreSQL stores: use pg_dump.\n";

/* Parses `--OPT FILE` / `--OPT=FILE` (the one option of backup and restore). Returns -1 with
 * *value set, or an exit status. */
static int parse_file_option(int argc, char **argv, const char *cmd, const char *opt,
                             const char *usage, const char **value)
{
    size_t n = strlen(opt);
    *value = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(usage, stdout);
            return 0;
        } else if (!strcmp(argv[i], opt) && i + 1 < argc) {
            *value = argv[++i];
        } else if (!strncmp(argv[i], opt, n) && argv[i][n] == '=') {
            *value = argv[i] + n + 1;
        } else {
            return cmd_usage_error("%s: unexpected argument '%s' (see 'ivory %s --help')", cmd,
                                   argv[i], cmd);
        }
    }
    if (!*value || !**value)
        return cmd_usage_error("%s: %s FILE is required (see 'ivory %s --help')", cmd, opt, cmd);
    return -1;
}

int cmd_backup(int argc, char **argv)
{
    const char *dest = NULL;
    int status = parse_file_option(argc, argv, "backup", "--to", backup_usage, &dest);
    if (status >= 0)
        return status;
    struct iv_config cfg;
    struct iv_err e = {0};
    if (config_load(&cfg, &e) != IV_OK)
        return cmd_fail("%s", e.msg);
    struct store *st = NULL;
    int version = 0;
    status = cmd_hold_store_lock(&cfg, "backup");
    if (status >= 0)
        goto out;
    status = 1;
    char *path = db_sqlite_path(cfg.db_url);
    if (!path) {
        cmd_fail("backup: IVORY_DB is not a SQLite file: back a PostgreSQL store up with "
                 "pg_dump (docs/deploy.md \"Backups\")");
        goto out;
    }
    struct stat sb;
    bool exists = stat(path, &sb) == 0;
    free(path);
    if (!exists) {
        cmd_fail("backup: no store at '%s' (check IVORY_DB / IVORY_DATA_DIR)", cfg.db_url);
        goto out;
    }
    if (store_open(&st, cfg.db_url, 1, false, &e) != IV_OK ||
        store_schema_version(st, &version, &e) != IV_OK || store_backup_to(st, dest, &e) != IV_OK) {
        cmd_fail("backup: %s", e.msg);
        goto out;
    }
    if (stat(dest, &sb) == 0)
        print_json(json_pack("{s:s, s:I, s:i}", "backup", dest, "bytes", (json_int_t)sb.st_size,
                             "schema_version", version));
    status = 0;
out:
    store_close(st);
    config_release(&cfg);
    return status;
}

/* ---- restore ---------------------------------------------------------------------------- */

static const char restore_usage[] =
    "usage: ivory restore --from FILE\n"
    "  replaces the SQLite store (IVORY_DB) with a snapshot made by 'ivory backup'.\n"
    "  Refuses while a server, runner, migrate or backup uses the store on this host.\n"
    "  The current store, if any, is kept as <store>.before-restore-<time>.\n"
    "  PostgreSQL stores: use pg_restore / psql.\n";

/* Opens the copied snapshot as a store and checks it can be served by this binary. */
static int check_snapshot(const char *copy, int *version_out, struct iv_err *e)
{
    struct store *st = NULL;
    char *url = xasprintf("sqlite:%s", copy);
    int rc = store_open(&st, url, 1, false, e);
    if (rc == IV_OK)
        rc = store_quick_check(st, e);
    if (rc == IV_OK)
        rc = store_schema_version(st, version_out, e);
    if (rc == IV_OK && *version_out == 0)
        rc = iv_err_set(e, IV_EINVAL, "it is not an Ivory store (no schema version)");
    if (rc == IV_OK && *version_out > store_schema_latest())
        rc = iv_err_set(e, IV_EUNSUPPORTED,
                        "it is at schema version %d, newer than this binary's %d", *version_out,
                        store_schema_latest());
    store_close(st);   /* the last connection: SQLite folds its WAL back into the file */
    free(url);
    return rc;
}

/* Snapshots the store about to be replaced to <path>.before-restore-<UTC time>. */
static int keep_current_store(const char *path, char **kept_out, struct iv_err *e)
{
    char stamp[32];
    time_t now = time(NULL);
    struct tm tm;
    strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", gmtime_r(&now, &tm));
    char *kept = xasprintf("%s.before-restore-%s", path, stamp);
    char *url = xasprintf("sqlite:%s", path);
    struct store *st = NULL;
    int rc = store_open(&st, url, 1, false, e);
    if (rc == IV_OK)
        rc = store_backup_to(st, kept, e);
    store_close(st);
    free(url);
    if (rc == IV_OK)
        *kept_out = kept;
    else
        free(kept);
    return rc;
}

/* With the exclusive lock held: copy, check, keep the old store, swap. */
static int install_snapshot(const char *from, const char *path, struct iv_err *e)
{
    char rnd[37];
    uuid_v4(rnd);
    char *copy = xasprintf("%s.restoring-%s", path, rnd);
    char *dir = dir_of(path), *kept = NULL;
    int version = 0, rc = IV_OK;
    struct stat sb;
    if (stat(from, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        rc = iv_err_set(e, IV_EINVAL, "'%s' is not a readable file", from);
        goto out;
    }
    rc = file_copy_new(from, copy, 0600, e);
    if (rc == IV_OK) {
        rc = check_snapshot(copy, &version, e);
        if (rc < 0) {
            struct iv_err inner = *e;
            iv_err_set(e, rc, "'%s' cannot be restored: %s", from, inner.msg);
        }
    }
    if (rc == IV_OK && stat(path, &sb) == 0)
        rc = keep_current_store(path, &kept, e);
    if (rc < 0)
        goto out;
    char *wal = xasprintf("%s-wal", path), *shm = xasprintf("%s-shm", path);
    unlink(wal);
    unlink(shm);
    free(wal);
    free(shm);
    if (rename(copy, path) < 0) {
        rc = iv_err_set(e, IV_EIO, "cannot rename '%s' to '%s': %s", copy, path, strerror(errno));
        goto out;
    }
    fsync_dir_of(path);
    match_dir_owner(path, dir);
    if (kept)
        match_dir_owner(kept, dir);
    json_t *out = json_pack("{s:s, s:s, s:i}", "restored", path, "from", from, "schema_version",
                            version);
    if (out && kept)
        json_object_set_new(out, "previous_store", json_string(kept));
    print_json(out);
out:
    if (rc < 0)
        unlink(copy);
    free(copy);
    free(dir);
    free(kept);
    return rc;
}

/* The store's sealed secrets open only with the master key of the server that wrote them: a
 * restore into a data dir without one would let the next start generate a different key. */
static void warn_when_master_key_missing(const struct iv_config *cfg)
{
    if (cfg->master_key_b64)
        return;
    char *key = xasprintf("%s/master.key", cfg->data_dir);
    struct stat sb;
    if (stat(key, &sb) != 0)
        fprintf(stderr, "ivory: restore: warning: no master key at '%s' and IVORY_MASTER_KEY is "
                        "unset: put the backed-up master.key there before starting ivory\n", key);
    free(key);
}

int cmd_restore(int argc, char **argv)
{
    const char *from = NULL;
    int status = parse_file_option(argc, argv, "restore", "--from", restore_usage, &from);
    if (status >= 0)
        return status;
    struct iv_config cfg;
    struct iv_err e = {0};
    if (config_load(&cfg, &e) != IV_OK)
        return cmd_fail("%s", e.msg);
    char *path = db_sqlite_path(cfg.db_url), *lock = NULL;
    int fd = -1;
    status = 1;
    if (!path) {
        cmd_fail("restore: IVORY_DB is not a SQLite file: restore a PostgreSQL store with "
                 "pg_restore or psql (docs/deploy.md \"Backups\")");
        goto out;
    }
    lock = xasprintf("%s.lock", path);
    int rc = lock_store_file(lock, true, &fd, &e);
    if (rc == IV_EAGAIN) {
        cmd_fail("restore: the store '%s' is in use (a server, runner, migrate or backup holds "
                 "'%s'): stop them first, e.g. systemctl stop ivory 'ivory-runner@*'", path, lock);
        goto out;
    }
    if (rc != IV_OK || install_snapshot(from, path, &e) != IV_OK) {
        cmd_fail("restore: %s", e.msg);
        goto out;
    }
    warn_when_master_key_missing(&cfg);
    status = 0;
out:
    if (fd >= 0)
        close(fd);
    free(lock);
    free(path);
    config_release(&cfg);
    return status;
}
