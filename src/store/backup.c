/*
 * backup.c: the store's operations side — schema version checks for `ivory migrate
 * --check`, online snapshots for `ivory backup` (VACUUM INTO) and the integrity check
 * `ivory restore` runs on a snapshot before installing it. docs/deploy.md "Backups" and
 * "Upgrades" say how operators use them.
 *
 * Why VACUUM INTO rather than the sqlite3_backup API: it runs inside one read transaction,
 * so under WAL it sees one consistent snapshot while the API server and runners keep
 * committing (the backup API restarts its copy whenever another connection writes), and it
 * writes a compacted file with no WAL beside it, which a restore can install as is.
 */
#include "store/store_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int store_schema_latest(void)
{
    return store_migrations[store_migrations_count - 1].version;
}

int store_schema_version(struct store *s, int *version_out, struct iv_err *e)
{
    *version_out = 0;
    struct db *d = store__acquire(s);
    struct db_stmt *st = NULL;
    /* Read-only on purpose (no CREATE TABLE IF NOT EXISTS): a check must not write. A store
     * without the migrations table has version 0: SQLite says so at prepare, PostgreSQL
     * (which prepares lazily) at the first step. */
    int rc = db_prepare(d, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations", &st, e);
    if (rc == IV_OK)
        rc = db_step(st, e);
    if (rc == DB_ROW)
        *version_out = (int)db_col_int64(st, 0);
    if (rc < 0 && (strstr(e->msg, "no such table") || strstr(e->msg, "does not exist")))
        rc = IV_OK;
    rc = rc < 0 ? rc : IV_OK;
    db_finalize(st);
    store__release(s, d);
    return rc;
}

int store_quick_check(struct store *s, struct iv_err *e)
{
    struct db *d = store__acquire(s);
    struct db_stmt *st = NULL;
    int rc = IV_OK;
    if (db_get_kind(d) != DB_SQLITE)
        goto out;
    rc = db_prepare(d, "PRAGMA quick_check", &st, e);
    if (rc < 0)
        goto out;
    rc = db_step(st, e);
    if (rc == DB_ROW) {
        const char *verdict = db_col_text(st, 0);
        rc = verdict && !strcmp(verdict, "ok")
                 ? IV_OK
                 : iv_err_set(e, IV_EDB, "integrity check failed: %s",
                              verdict ? verdict : "(no answer)");
    } else if (rc == DB_DONE) {
        rc = iv_err_set(e, IV_EDB, "integrity check gave no answer");
    }
out:
    db_finalize(st);
    store__release(s, d);
    return rc;
}

/* VACUUM INTO needs a target that does not exist or is empty: an empty 0600 file made here
 * (O_EXCL) means the snapshot, which holds sealed secrets, is never world-readable. */
static int snapshot_into(struct db *d, const char *tmp, struct iv_err *e)
{
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return iv_err_set(e, IV_EIO, "cannot create '%s': %s", tmp, strerror(errno));
    close(fd);
    struct db_stmt *st = NULL;
    int rc = db_prepare(d, "VACUUM INTO ?", &st, e);
    if (rc == IV_OK) {
        db_bind_text(st, 1, tmp);
        rc = db_step(st, e);
        rc = rc < 0 ? rc : IV_OK;
    }
    db_finalize(st);
    if (rc == IV_OK) {
        fd = open(tmp, O_RDONLY | O_CLOEXEC);
        if (fd < 0 || fsync(fd) < 0)
            rc = iv_err_set(e, IV_EIO, "cannot fsync '%s': %s", tmp, strerror(errno));
        if (fd >= 0)
            close(fd);
    }
    return rc;
}

int store_backup_to(struct store *s, const char *dest, struct iv_err *e)
{
    struct db *d = store__acquire(s);
    char rnd[37];
    uuid_v4(rnd);
    char *tmp = xasprintf("%s.partial-%s", dest, rnd);
    int rc = IV_OK;
    if (db_get_kind(d) != DB_SQLITE) {
        rc = iv_err_set(e, IV_EUNSUPPORTED,
                        "backup: the store is PostgreSQL: back it up with pg_dump "
                        "(docs/deploy.md \"Backups\")");
        goto out;
    }
    rc = snapshot_into(d, tmp, e);
    if (rc < 0)
        goto out;
    if (rename(tmp, dest) < 0) {
        rc = iv_err_set(e, IV_EIO, "cannot rename '%s' to '%s': %s", tmp, dest, strerror(errno));
        goto out;
    }
    fsync_dir_of(dest);
out:
    if (rc < 0)
        unlink(tmp);
    free(tmp);
    store__release(s, d);
    return rc;
}
