/*
 * child.h: the runner's process layer (internal header of src/runner/).
 *
 * Owns: starting a tap as a child process (docs/runner.md) with a minimal
 * environment, its own process group, stdin from /dev/null and no inherited
 * descriptors; reading its stdout as lines under a deadline with a line-size
 * cap; keeping a redacted tail of its stderr; terminating the whole process
 * group (TERM, grace, KILL) and reaping it; resolving tap executables; the
 * private temp files a run needs (config, state, catalog); and the signed
 * completion webhook with retries (docs/api.md "Runner webhook").
 *
 * Typical use by the runner loop (one thread per run):
 *
 *     char *exe; tap_resolve(name, version, cfg->tap_path, &exe, &e);
 *     struct run_files *rf; run_files_create(&rf, &e);
 *     char *cfg_path; run_files_write(rf, "config.json", json, n, &cfg_path, &e);
 *     const char *argv[] = {exe, "--config", cfg_path, NULL};
 *     struct child_spec spec = {.argv = argv, .redact = secrets};
 *     struct child *c; child_spawn(&c, &spec, &e);
 *     struct child_read_opts ro = {.max_line = cfg->max_line_bytes,
 *                                  .deadline_ms = mono_ms() + timeout_ms};
 *     struct child_status st;
 *     rc = child_run_lines(c, &ro, on_line, ctx, &st, &e);   // reads, waits, reaps
 *     char *tail = child_stderr_tail(c, NULL);               // for error_msg / log tail
 *     child_free(c); run_files_destroy(rf); free(exe);
 *
 * Another thread (pause/delete/shutdown) may call child_cancel(c) at any time
 * while the run thread is inside child_read_lines/child_wait/child_run_lines.
 *
 * Reaping: child.c reaps its own pid with waitpid(pid). Nothing else in the
 * process may reap with waitpid(-1) / wait(), or exit statuses get lost.
 * SIGPIPE: writes here never raise it (no writes to the child), but the
 * process should ignore SIGPIPE anyway for libcurl; children get every signal
 * disposition reset to default and an empty signal mask.
 */
#ifndef IVORY_RUNNER_CHILD_H
#define IVORY_RUNNER_CHILD_H

#include "util/util.h"

#include <sys/resource.h>
#include <sys/types.h>

/* ---- spawning ------------------------------------------------------------ */

#define CHILD_STDERR_TAIL_DEFAULT (64 * 1024)

struct child_spec {
    const char *const *argv;   /* argv[0] = program: a path with '/', or a name looked up in
                                * the child's PATH before forking. NULL-terminated; borrowed. */
    const char *const *env;    /* extra "NAME=value" entries (NULL-terminated, may be NULL);
                                * they override the defaults below. Borrowed. */
    const char *cwd;           /* working directory, NULL = the runner's */
    const char *const *redact; /* secrets to replace by "[REDACTED]" in the stderr tail
                                * (NULL-terminated, may be NULL; empty strings ignored). Copied. */
    size_t stderr_tail_bytes;  /* ring size; 0 = 64 KiB */
    const char *const *bind_rw; /* with the sandbox on: directories the program may read and
                                * write, at the same path (the run's private directory).
                                * NULL-terminated, may be NULL. Borrowed. */
};

/* ---- the tap sandbox (sandbox.c) --------------------------------------------------
 *
 * Once child_sandbox_enable() succeeded, EVERY child_spawn() in the process runs its
 * program inside bubblewrap: own pid, ipc, uts and cgroup namespaces (the network is
 * kept: taps reach their APIs), no capabilities, a private tmpfs /tmp (HOME=/tmp), a
 * fresh /proc of its own pid namespace, a minimal /dev, /usr and the /bin, /lib links
 * read-only, a short list of /etc files (name service, TLS roots, time zone), the
 * program's own directory (and, through symlinks, its real one plus the venv above a
 * "bin") read-only, the policy's read-only and writable directories, spec->bind_rw, and
 * nothing else of the host (no data directory, no other run's files, no /home, /root,
 * /var, /run, /sys). rlimits: memory (RLIMIT_DATA), CPU seconds, file size, processes.
 * The working directory is spec->cwd (bound read-write) or the runner's cwd as an empty
 * directory, so relative paths under listed data directories still resolve.
 * See docs/security.md. */
struct child_sandbox {
    const char *bwrap;                /* bubblewrap executable: a path, or a name in PATH */
    const char *const *ro_dirs;       /* absolute, NULL-terminated; read-only (tap dirs, data) */
    const char *const *rw_dirs;       /* absolute, NULL-terminated; read-write */
    const char *const *deny_dirs;     /* never shown, nor any parent of them (the data
                                       * directory), whatever the program's location */
    uint64_t memory_bytes;            /* RLIMIT_DATA; 0 = unlimited */
    uint64_t cpu_seconds;             /* RLIMIT_CPU (SIGXCPU, then KILL 5 s later); 0 = none */
    uint64_t file_bytes;              /* RLIMIT_FSIZE and the size of the /tmp tmpfs; 0 = none */
    uint64_t max_procs;               /* RLIMIT_NPROC inside the sandbox's user namespace
                                       * (not enforced by the kernel for root); 0 = none */
};

/* Copies the policy and proves it works by running /bin/true inside it. IV_ECHILD with
 * the reason when bubblewrap is missing or cannot create the namespaces. Call once at
 * start, before any thread spawns children. */
int child_sandbox_enable(const struct child_sandbox *sb, struct iv_err *e);
/* Back to unsandboxed spawns; frees the copy. */
void child_sandbox_disable(void);
bool child_sandbox_enabled(void);

/* For child.c only. The bubblewrap argv that runs path with argv[1..] under the policy,
 * or NULL when the sandbox is off. Caller frees each string and the array. */
char **child_sandbox_prepare(const char *path, const char *const *argv,
                             const struct child_spec *spec);
struct child_rlimits {
    int n;
    int res[6];
    struct rlimit lim[6];
};
/* The rlimits the forked child sets before exec (none when the sandbox is off). */
int child_sandbox_rlimits(struct child_rlimits *out);

struct child;   /* opaque */

/* Starts the program. Environment = PATH (the runner's PATH, else
 * /usr/local/bin:/usr/bin:/bin), HOME (the runner's, else /), LANG=C.UTF-8, TZ=UTC,
 * then spec->env. Nothing else from the runner's environment (no IVORY_*).
 * The child gets its own process group (pgid = pid), stdin = /dev/null, stdout and
 * stderr = pipes, and no other open descriptor. If exec fails the call fails with
 * IV_ECHILD and "cannot execute '<path>': <strerror>" (the child is reaped).
 * *out: free with child_free. Thread-safe (uses only async-signal-safe calls after
 * fork), but see the reaping note above. */
int child_spawn(struct child **out, const struct child_spec *spec, struct iv_err *e);

pid_t child_pid(const struct child *c);   /* also the process group id */

/* ---- reading ------------------------------------------------------------------ */

/* Called once per stdout line, in order. line is NUL-terminated, without the '\n'
 * (a '\r' before it is kept); valid only during the call. lineno counts from 1.
 * A final line without '\n' at EOF is delivered too. Return IV_OK to go on; any
 * other value stops reading and is returned by child_read_lines (set e yourself). */
typedef int (*child_line_fn)(void *ctx, const char *line, size_t len, uint64_t lineno,
                             struct iv_err *e);

struct child_read_opts {
    size_t max_line;       /* max bytes per line without '\n'; 0 = 16 MiB */
    int64_t deadline_ms;   /* absolute mono_ms() deadline for the run; 0 = none */
    int linger_ms;         /* after the leader exits, how long other group members may keep
                            * stdout open before they are killed; 0 = 2000 */
};

/* Delivers stdout lines to fn while draining stderr into the tail, until stdout
 * EOF (IV_OK). Errors (the child is left running; call child_terminate or use
 * child_run_lines):
 *   IV_ETOOBIG  a line exceeded max_line ("line N is longer than M bytes")
 *   IV_ECHILD   deadline passed ("run timed out ...") or child_cancel() was called
 *               ("run cancelled"); child_timed_out()/child_cancelled() tell which
 *   other       returned by fn, or IV_EIO on a read error. */
int child_read_lines(struct child *c, const struct child_read_opts *o, child_line_fn fn,
                     void *ctx, struct iv_err *e);

/* ---- ending ------------------------------------------------------------------ */

struct child_status {
    int exit_code;       /* 0-255 when the program exited, else -1 */
    int term_signal;     /* the signal that ended it, else 0 */
    bool timed_out;      /* we ended it: the deadline passed */
    bool cancelled;      /* we ended it: child_cancel() */
    bool killed;         /* we sent TERM/KILL for any reason */
    int64_t duration_ms; /* spawn to reap */
};

/* Waits for the leader to exit (draining stderr) until deadline_ms (absolute mono
 * ms; 0 = no deadline), then kills what is left of its process group and reaps it.
 * If the deadline passes or child_cancel() is called first, terminates it
 * (TERM to the group, grace_ms, KILL). Fills *st. Idempotent after the first reap. */
int child_wait(struct child *c, int64_t deadline_ms, int grace_ms, struct child_status *st);

/* SIGTERM to the process group, up to grace_ms for the leader to exit (stderr is
 * drained meanwhile), then SIGKILL to the group; reaps. Fills *st if non-NULL. */
void child_terminate(struct child *c, int grace_ms, struct child_status *st);

/* child_read_lines, then child_wait on success or child_terminate on error, with
 * grace_ms 5000 (use child_read_lines + child_wait/terminate for another grace).
 * Returns the child_read_lines result; *st always filled. A nonzero exit is NOT an
 * error here: look at st. */
int child_run_lines(struct child *c, const struct child_read_opts *o, child_line_fn fn,
                    void *ctx, struct child_status *st, struct iv_err *e);

/* Requests cancellation from any thread (or a signal handler): the thread inside
 * child_read_lines/child_wait wakes at once and ends the process group. The caller
 * must make sure c is not child_free'd concurrently (e.g. unpublish the pointer
 * under the same mutex the canceller takes before calling child_free). If called
 * before reading starts, the next child_read_lines/child_wait ends the run. */
void child_cancel(struct child *c);
bool child_cancelled(const struct child *c);
bool child_timed_out(const struct child *c);

/* The last stderr bytes (at most stderr_tail_bytes), secrets redacted, made valid UTF-8
 * (bytes that start no valid sequence become U+FFFD). Caller
 * frees; NUL-terminated; *len_out optional. While the child runs, up to (longest
 * secret - 1) of the newest bytes are held back until it is known they are not
 * the start of a secret. Not thread-safe against the reading thread: call it
 * from the run thread (e.g. between lines for lease renewals, or at the end). */
char *child_stderr_tail(struct child *c, size_t *len_out);

/* Kills the group with SIGKILL if still running, reaps, closes fds, frees. NULL ok. */
void child_free(struct child *c);

/* ---- tap resolution (tap.c) ----------------------------------------------------- */

/* The first "<dir>/<name>" that is an executable regular file, for each dir of the colon
 * list dirs (NULL or empty: none). searched, when non-NULL, gets each directory looked at,
 * ", "-separated. Shared by child_spawn's PATH lookup and tap_resolve. Caller frees. */
char *child_search_path(const char *dirs, const char *name, struct buf *searched);

/* Finds the executable "<tap_name>@<tap_version>" (when tap_version is non-NULL and
 * non-empty) or "<tap_name>" in each directory of tap_path (colon list, may be NULL
 * or empty), then of $PATH. tap_name must match ^[a-z0-9][a-z0-9._-]{0,127}$ and
 * tap_version ^[A-Za-z0-9._+-]{1,64}$ (IV_EINVAL otherwise: never a path).
 * IV_ENOTFOUND: message names the tap and every directory searched.
 * *path_out: caller frees. */
int tap_resolve(const char *tap_name, const char *tap_version, const char *tap_path,
                char **path_out, struct iv_err *e);

/* ---- per-run private files (tap.c) ---------------------------------------------- */

struct run_files;   /* a private 0700 directory from mkdtemp */

#define RUN_DIR_PREFIX "ivory-run-"

/* Creates "$TMPDIR/ivory-run-<pid>-<start>-XXXXXX" (TMPDIR unset: /tmp): the name says
 * which process owns it (pid and its start time in clock ticks since boot), so whoever
 * finds it after that process died (kill -9 at any moment, even between mkdtemp and the
 * first file) knows it may go. Free with run_files_destroy. */
int run_files_create(struct run_files **out, struct iv_err *e);
/* Removes every run directory in $TMPDIR whose owner process is gone, with its files (a
 * decrypted config among them); directories of another user or of a live process stay.
 * Older-version directories ("ivory-run-XXXXXX") go when their runner.pid names a dead
 * process. Returns how many were removed. Called by a runner at start and whenever it
 * takes over jobs of a dead runner (docs/runner.md "Private run directories"). */
int run_files_sweep_stale(void);
const char *run_files_dir(const struct run_files *rf);   /* borrowed */
/* Writes data to <dir>/<name> with mode 0600 (O_EXCL|O_NOFOLLOW; name must be a plain
 * file name). *path_out: borrowed, valid until run_files_destroy. Used for the
 * decrypted config (docs/runner.md), the state and the catalog. */
int run_files_write(struct run_files *rf, const char *name, const void *data, size_t n,
                    const char **path_out, struct iv_err *e);
/* Removes every file in the directory (also ones the tap wrote there) and the
 * directory itself, then frees rf. NULL ok. */
void run_files_destroy(struct run_files *rf);

/* ---- completion webhook (webhook_client.c) --------------------------------------- */

struct webhook_client_opts {
    int max_attempts;          /* 0 = 12 */
    int64_t budget_ms;         /* total time for all attempts incl. waits; 0 = 15 min */
    long connect_timeout_ms;   /* per attempt; 0 = 5000 */
    long request_timeout_ms;   /* per attempt, whole request; 0 = 30000 */
    int backoff_initial_ms;    /* 0 = 1000; doubles per retry */
    int backoff_max_ms;        /* 0 = 60000 */
    const volatile int *cancel; /* optional: nonzero stops retrying (e.g. shutdown) */
    const char *runner_id;     /* optional: sent as X-Ivory-Runner with ... */
    const uint8_t *runner_key; /* ... X-Ivory-Runner-Signature signed with this 32-byte key
                                * (runner_report_key): proves the report is the holder's */
};

/* POSTs body_json to "<api_url>/v1/etl/meltano/webhook" with Content-Type
 * application/json and X-Ivory-Signature from webhook_sign (a fresh t per attempt).
 * 2xx -> IV_OK. Connection errors, timeouts, 5xx and 429 are retried with
 * exponential backoff (initial, x2, capped) within max_attempts and budget_ms;
 * then IV_EIO naming the last failure. Other 4xx -> IV_EINVAL at once (a retry
 * cannot help). o may be NULL (defaults). Thread-safe; blocking. */
int webhook_client_post(const char *api_url, const uint8_t *secret, size_t secret_len,
                        const char *body_json, const struct webhook_client_opts *o,
                        struct iv_err *e);

#endif
