/*
 * child.c: start a tap, stream its stdout as lines, keep a redacted stderr
 * tail, end its whole process group, reap it (see child.h for the contract).
 *
 * DESIGN
 * spawn: everything the child needs (argv, envp, the resolved path, fds) is
 * prepared before fork(); after fork the child uses only async-signal-safe
 * calls: reset signal mask and dispositions, setpgid, move its four fds (null
 * stdin, stdout pipe, stderr pipe, exec-error pipe) above 10 and then onto
 * 0..3, close_range(4..), execve. The exec-error pipe is O_CLOEXEC: EOF in
 * the parent means exec happened; 8 bytes (stage, errno) mean it failed.
 *
 * wait: a pidfd (pidfd_open) wakes poll() when the leader exits; without one
 * we poll with a 50 ms tick. The leader's exit is observed with
 * waitid(WNOWAIT) so it stays a zombie while we SIGKILL what remains of its
 * process group: an unreaped leader keeps the pgid from being reused, so the
 * group kill can never hit an unrelated process.
 *
 * stderr: bytes pass through a redaction window before they enter the ring.
 * The newest (longest secret - 1) bytes are held back until it is known they
 * do not start a secret, so no secret, whole or partial, ever enters the ring.
 *
 * cancel: an atomic flag plus an eventfd that poll() watches, so another
 * thread's child_cancel() takes effect immediately.
 */
#include "runner/child.h"

#include <assert.h>
#include <openssl/crypto.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define CHUNK (64 * 1024)
#define DEFAULT_MAX_LINE (16u * 1024 * 1024)
#define DEFAULT_LINGER_MS 2000
#define RUN_GRACE_MS 5000
#define TICK_MS 50
#define REDACTED "[REDACTED]"

struct child {
    pid_t pid;
    int pidfd;              /* -1 when pidfd_open is unavailable */
    int out_fd, err_fd;     /* -1 once at EOF / closed */
    int cancel_fd;          /* eventfd */
    atomic_bool cancel;
    bool timed_out, cancelled, killed;
    bool leader_exited;     /* observed with WNOWAIT, not reaped yet */
    bool reaped;
    bool group_killed;      /* SIGKILL already sent to the group */
    int wstatus;
    int64_t start_ms, end_ms, leader_exit_ms;

    /* stdout line assembly */
    struct buf line;
    uint64_t lineno;
    char *chunk;

    /* stderr: redaction window + ring */
    char **secrets;
    size_t *secret_lens;
    int nsecrets;
    size_t max_secret;
    char *hold;
    size_t hold_len, hold_cap;
    char *ring;
    size_t ring_cap, ring_start, ring_len;
};

/* ---- stderr ring and redaction -------------------------------------------- */

static void ring_put(struct child *c, const char *p, size_t n)
{
    if (n >= c->ring_cap) {
        memcpy(c->ring, p + n - c->ring_cap, c->ring_cap);
        c->ring_start = 0;
        c->ring_len = c->ring_cap;
        return;
    }
    size_t drop = c->ring_len + n > c->ring_cap ? c->ring_len + n - c->ring_cap : 0;
    c->ring_start = (c->ring_start + drop) % c->ring_cap;
    c->ring_len -= drop;
    size_t end = (c->ring_start + c->ring_len) % c->ring_cap;
    size_t first = n < c->ring_cap - end ? n : c->ring_cap - end;
    memcpy(c->ring + end, p, first);
    memcpy(c->ring, p + first, n - first);
    c->ring_len += n;
    assert(c->ring_len <= c->ring_cap && c->ring_start < c->ring_cap);
}

/* Length of the secret starting at p (n bytes available), or 0. */
static size_t secret_at(const struct child *c, const char *p, size_t n)
{
    for (int s = 0; s < c->nsecrets; s++) {
        size_t l = c->secret_lens[s];
        if (l <= n && p[0] == c->secrets[s][0] && memcmp(p, c->secrets[s], l) == 0)
            return l;
    }
    return 0;
}

/* Appends to the hold window, moves everything that cannot be the start of a
 * secret into the ring (final: everything). */
static void stderr_feed(struct child *c, const char *p, size_t n, bool final)
{
    if (c->nsecrets == 0) {
        ring_put(c, p, n);
        return;
    }
    if (c->hold_len + n > c->hold_cap) {
        c->hold_cap = c->hold_len + n + 256;
        c->hold = xrealloc(c->hold, c->hold_cap);
    }
    if (n > 0)   /* the final feed passes ("", 0) while hold may still be NULL */
        memcpy(c->hold + c->hold_len, p, n);
    c->hold_len += n;
    size_t total = c->hold_len;
    size_t keep = final ? 0 : c->max_secret - 1;
    if (total <= keep)
        return;
    size_t limit = total - keep, i = 0, run = 0;
    while (i < limit) {
        size_t l = secret_at(c, c->hold + i, total - i);
        if (l) {
            ring_put(c, c->hold + run, i - run);
            ring_put(c, REDACTED, sizeof REDACTED - 1);
            i += l;
            run = i;
        } else {
            i++;
        }
    }
    ring_put(c, c->hold + run, i - run);
    memmove(c->hold, c->hold + i, total - i);
    c->hold_len = total - i;
}

/* One read from stderr into the tail; closes it at EOF. */
static void stderr_read_once(struct child *c)
{
    char tmp[16384];
    ssize_t n = read(c->err_fd, tmp, sizeof tmp);
    if (n > 0) {
        stderr_feed(c, tmp, (size_t)n, false);
    } else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
        close(c->err_fd);
        c->err_fd = -1;
        stderr_feed(c, "", 0, true);
    }
}

/* Reads whatever is left once every writer is gone (non-blocking). */
static void drain_after_exit(struct child *c)
{
    for (int guard = 0; c->err_fd >= 0 && guard < 4096; guard++) {
        char tmp[16384];
        ssize_t n = read(c->err_fd, tmp, sizeof tmp);
        if (n > 0) {
            stderr_feed(c, tmp, (size_t)n, false);
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        break;   /* EOF, EAGAIN (a writer escaped the group) or error */
    }
    if (c->err_fd >= 0) {
        close(c->err_fd);
        c->err_fd = -1;
    }
    stderr_feed(c, "", 0, true);
    if (c->out_fd >= 0) {
        close(c->out_fd);
        c->out_fd = -1;
    }
}

char *child_stderr_tail(struct child *c, size_t *len_out)
{
    char *raw = xmalloc(c->ring_len + 1);
    size_t first = c->ring_cap - c->ring_start;
    if (first > c->ring_len)
        first = c->ring_len;
    memcpy(raw, c->ring + c->ring_start, first);
    memcpy(raw + first, c->ring, c->ring_len - first);
    /* A tap's stderr may be any bytes (Latin-1, binary, a cut multi-byte character at the
     * ring's edge): the tail goes into error_msg and JSON logs, so it is made valid UTF-8. */
    char *out = utf8_sanitized(raw, c->ring_len);
    free(raw);
    if (len_out)
        *len_out = strlen(out);
    return out;
}

/* ---- spawn ------------------------------------------------------------------- */

struct exec_report {
    int stage;   /* 1 chdir, 2 execve */
    int err;
};

static bool is_executable_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
}

char *child_search_path(const char *dirs, const char *name, struct buf *searched)
{
    const char *p = dirs;
    while (p && *p) {
        const char *colon = strchr(p, ':');
        size_t n = colon ? (size_t)(colon - p) : strlen(p);
        if (n > 0) {
            if (searched) {
                if (searched->len > 0)
                    buf_append_str(searched, ", ");
                buf_append(searched, p, n);
            }
            char *cand = xasprintf("%.*s/%s", (int)n, p, name);
            if (is_executable_file(cand))
                return cand;
            free(cand);
        }
        if (!colon)
            break;
        p = colon + 1;
    }
    return NULL;
}

static const char *env_lookup(char **envp, const char *name)
{
    size_t n = strlen(name);
    for (char **e = envp; *e; e++)
        if (strncmp(*e, name, n) == 0 && (*e)[n] == '=')
            return *e + n + 1;
    return NULL;
}

/* Defaults first, then spec->env overriding by name. Strings owned by the array. In the
 * sandbox HOME is its private /tmp (the runner's home is not part of its view). */
static char **build_env(const char *const *extra)
{
    const char *path = getenv("PATH");
    const char *home = child_sandbox_enabled() ? "/tmp" : getenv("HOME");
    char *defaults[4] = {
        xasprintf("PATH=%s", path && *path ? path : "/usr/local/bin:/usr/bin:/bin"),
        xasprintf("HOME=%s", home && *home ? home : "/"),
        xstrdup("LANG=C.UTF-8"),
        xstrdup("TZ=UTC"),
    };
    size_t nextra = 0;
    while (extra && extra[nextra])
        nextra++;
    char **envp = xcalloc(4 + nextra + 1, sizeof *envp);
    size_t k = 0;
    for (int i = 0; i < 4; i++) {
        size_t nl = (size_t)(strchr(defaults[i], '=') - defaults[i]);
        bool overridden = false;
        for (size_t j = 0; j < nextra; j++)
            if (strncmp(extra[j], defaults[i], nl + 1) == 0)
                overridden = true;
        if (overridden)
            free(defaults[i]);
        else
            envp[k++] = defaults[i];
    }
    for (size_t j = 0; j < nextra; j++)
        if (strchr(extra[j], '='))
            envp[k++] = xstrdup(extra[j]);
    envp[k] = NULL;
    return envp;
}

static void free_strv(char **v)
{
    if (!v)
        return;
    for (char **p = v; *p; p++)
        free(*p);
    free(v);
}

/* The forked child: async-signal-safe calls only. Never returns. */
static void __attribute__((noreturn))
child_exec(const char *path, char *const argv[], char *const envp[], const char *cwd,
           int in_fd, int out_fd, int err_fd, int rep_fd, int max_fd,
           const struct child_rlimits *rl)
{
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    for (int s = 1; s < NSIG; s++)
        if (s != SIGKILL && s != SIGSTOP)
            sigaction(s, &dfl, NULL);
    /* A new session: its own process group (killed as one) and no controlling terminal
     * (no TIOCSTI into the operator's shell). The parent does not setpgid: it waits for
     * the exec report below, so the group exists before anyone signals it. */
    if (setsid() < 0)
        setpgid(0, 0);
    for (int i = 0; i < rl->n; i++)
        if (setrlimit(rl->res[i], &rl->lim[i]) != 0)
            _exit(126);

    int src[4] = {in_fd, out_fd, err_fd, rep_fd};
    int hi[4];
    for (int i = 0; i < 4; i++)
        if ((hi[i] = fcntl(src[i], F_DUPFD, 10)) < 0)
            _exit(126);
    for (int i = 0; i < 4; i++)
        if (dup2(hi[i], i) < 0)
            _exit(126);
    fcntl(3, F_SETFD, FD_CLOEXEC);
    if (syscall(SYS_close_range, 4U, ~0U, 0U) != 0)
        for (int fd = 4; fd < max_fd; fd++)
            close(fd);

    struct exec_report rep = {0, 0};
    if (cwd && chdir(cwd) < 0) {
        rep.stage = 1;
        rep.err = errno;
    } else {
        execve(path, argv, envp);
        rep.stage = 2;
        rep.err = errno;
    }
    ssize_t w = write(3, &rep, sizeof rep);
    (void)w;
    _exit(127);
}

int child_spawn(struct child **out, const struct child_spec *spec, struct iv_err *e)
{
    *out = NULL;
    if (!spec || !spec->argv || !spec->argv[0] || !*spec->argv[0])
        return iv_err_set(e, IV_EINVAL, "child: no program given");

    int rc = IV_OK;
    char **envp = build_env(spec->env);
    char *path = NULL;
    char **sb_argv = NULL;   /* the bubblewrap command line when the sandbox is on */
    int pout[2] = {-1, -1}, perr[2] = {-1, -1}, prep[2] = {-1, -1};
    int devnull = -1;
    struct child *c = NULL;
    const char *prog = spec->argv[0];

    if (strchr(prog, '/')) {
        path = xstrdup(prog);
    } else if (!(path = child_search_path(env_lookup(envp, "PATH"), prog, NULL))) {
        rc = iv_err_set(e, IV_ECHILD, "cannot execute '%s': not found in PATH", prog);
        goto fail;
    }
    struct child_rlimits rlim;
    child_sandbox_rlimits(&rlim);
    if ((sb_argv = child_sandbox_prepare(path, spec->argv, spec)) != NULL) {
        free(path);
        path = xstrdup(sb_argv[0]);
    }
    char *const *exec_argv = sb_argv ? sb_argv : (char *const *)spec->argv;
    if (pipe2(pout, O_CLOEXEC) < 0 || pipe2(perr, O_CLOEXEC) < 0 || pipe2(prep, O_CLOEXEC) < 0 ||
        (devnull = open("/dev/null", O_RDONLY | O_CLOEXEC)) < 0) {
        rc = iv_err_set(e, IV_EIO, "child: cannot create pipes: %s", strerror(errno));
        goto fail;
    }
    struct rlimit rl;
    int max_fd = 65536;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
        rl.rlim_cur < 1048576)
        max_fd = (int)rl.rlim_cur;

    c = xcalloc(1, sizeof *c);
    c->pidfd = c->out_fd = c->err_fd = c->cancel_fd = -1;
    atomic_init(&c->cancel, false);
    c->start_ms = mono_ms();

    pid_t pid = fork();
    if (pid < 0) {
        rc = iv_err_set(e, IV_ECHILD, "cannot execute '%s': fork: %s", path, strerror(errno));
        goto fail;
    }
    if (pid == 0)
        child_exec(path, exec_argv, envp, sb_argv ? NULL : spec->cwd, devnull, pout[1],
                   perr[1], prep[1], max_fd, &rlim);
    c->pid = pid;
    close(pout[1]);
    close(perr[1]);
    close(prep[1]);
    close(devnull);
    pout[1] = perr[1] = prep[1] = devnull = -1;

    struct exec_report rep;
    ssize_t got;
    do {
        got = read(prep[0], &rep, sizeof rep);
    } while (got < 0 && errno == EINTR);
    close(prep[0]);
    prep[0] = -1;
    if (got == (ssize_t)sizeof rep) {
        int st;
        while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
            ;
        if (rep.stage == 1)
            rc = iv_err_set(e, IV_ECHILD, "cannot execute '%s': cannot enter '%s': %s", path,
                            spec->cwd, strerror(rep.err));
        else
            rc = iv_err_set(e, IV_ECHILD, "cannot execute '%s': %s", path, strerror(rep.err));
        c->pid = 0;
        goto fail;
    }

    c->out_fd = pout[0];
    c->err_fd = perr[0];
    pout[0] = perr[0] = -1;
    fcntl(c->out_fd, F_SETFL, O_NONBLOCK);
    fcntl(c->err_fd, F_SETFL, O_NONBLOCK);
    c->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (c->pidfd >= 0)
        fcntl(c->pidfd, F_SETFD, FD_CLOEXEC);
    c->cancel_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);

    buf_init(&c->line, (size_t)1 << 30);   /* the real bound is max_line in deliver_chunk */
    c->chunk = xmalloc(CHUNK + 1);
    c->ring_cap = spec->stderr_tail_bytes ? spec->stderr_tail_bytes : CHILD_STDERR_TAIL_DEFAULT;
    c->ring = xmalloc(c->ring_cap);
    for (const char *const *s = spec->redact; s && *s; s++) {
        size_t l = strlen(*s);
        if (l == 0)
            continue;
        c->secrets = xrealloc(c->secrets, (size_t)(c->nsecrets + 1) * sizeof *c->secrets);
        c->secret_lens = xrealloc(c->secret_lens,
                                  (size_t)(c->nsecrets + 1) * sizeof *c->secret_lens);
        c->secrets[c->nsecrets] = xstrdup(*s);
        c->secret_lens[c->nsecrets] = l;
        c->nsecrets++;
        if (l > c->max_secret)
            c->max_secret = l;
    }
    free_strv(envp);
    free_strv(sb_argv);
    free(path);
    *out = c;
    return IV_OK;

fail:
    for (int i = 0; i < 2; i++) {
        if (pout[i] >= 0) close(pout[i]);
        if (perr[i] >= 0) close(perr[i]);
        if (prep[i] >= 0) close(prep[i]);
    }
    if (devnull >= 0)
        close(devnull);
    free(c);
    free_strv(envp);
    free_strv(sb_argv);
    free(path);
    return rc;
}

pid_t child_pid(const struct child *c)
{
    return c->pid;
}

/* ---- exit observation ------------------------------------------------------- */

/* Non-blocking: has the leader exited? (Not reaped: it stays a zombie.) */
static bool leader_check(struct child *c)
{
    if (c->leader_exited || c->reaped)
        return true;
    siginfo_t si;
    memset(&si, 0, sizeof si);
    if (waitid(P_PID, (id_t)c->pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 &&
        si.si_pid == c->pid) {
        c->leader_exited = true;
        c->leader_exit_ms = mono_ms();
    }
    return c->leader_exited;
}

static void group_kill(struct child *c)
{
    if (!c->reaped && !c->group_killed) {
        kill(-c->pid, SIGKILL);
        c->group_killed = true;
    }
}

static void reap(struct child *c)
{
    if (c->reaped)
        return;
    group_kill(c);   /* the leader is a zombie or dying: pgid still ours */
    int st = 0;
    while (waitpid(c->pid, &st, 0) < 0 && errno == EINTR)
        ;
    c->wstatus = st;
    c->reaped = true;
    c->end_ms = mono_ms();
    drain_after_exit(c);
}

static void fill_status(const struct child *c, struct child_status *st)
{
    if (!st)
        return;
    memset(st, 0, sizeof *st);
    st->exit_code = -1;
    if (c->reaped) {
        if (WIFEXITED(c->wstatus))
            st->exit_code = WEXITSTATUS(c->wstatus);
        else if (WIFSIGNALED(c->wstatus))
            st->term_signal = WTERMSIG(c->wstatus);
        st->duration_ms = c->end_ms - c->start_ms;
    }
    st->timed_out = c->timed_out;
    st->cancelled = c->cancelled;
    st->killed = c->killed;
}

/* One poll round over stdout (discarded when discard_out), stderr, cancel and the
 * pidfd, at most timeout_ms. Used while waiting for an exit. */
static void wait_round(struct child *c, int timeout_ms)
{
    struct pollfd pf[4];
    int n = 0, i_out = -1, i_err = -1;
    if (c->out_fd >= 0) {
        pf[n] = (struct pollfd){c->out_fd, POLLIN, 0};
        i_out = n++;
    }
    if (c->err_fd >= 0) {
        pf[n] = (struct pollfd){c->err_fd, POLLIN, 0};
        i_err = n++;
    }
    if (c->cancel_fd >= 0)
        pf[n++] = (struct pollfd){c->cancel_fd, POLLIN, 0};
    if (c->pidfd >= 0 && !c->leader_exited)
        pf[n++] = (struct pollfd){c->pidfd, POLLIN, 0};
    int tmo = timeout_ms;
    if (c->pidfd < 0 && tmo > TICK_MS)
        tmo = TICK_MS;
    if (poll(pf, (nfds_t)n, tmo) > 0) {
        if (i_out >= 0 && pf[i_out].revents) {
            ssize_t r = read(c->out_fd, c->chunk, CHUNK);
            if (r == 0 || (r < 0 && errno != EINTR && errno != EAGAIN)) {
                close(c->out_fd);
                c->out_fd = -1;
            }
        }
        if (i_err >= 0 && pf[i_err].revents)
            stderr_read_once(c);
    }
}

void child_terminate(struct child *c, int grace_ms, struct child_status *st)
{
    if (!c->reaped) {
        c->killed = true;
        kill(-c->pid, SIGTERM);
        int64_t until = mono_ms() + (grace_ms > 0 ? grace_ms : 0);
        while (!leader_check(c)) {
            int64_t left = until - mono_ms();
            if (left <= 0)
                break;
            wait_round(c, (int)left);
        }
        reap(c);   /* SIGKILL to the group, then waitpid */
    }
    fill_status(c, st);
}

int child_wait(struct child *c, int64_t deadline_ms, int grace_ms, struct child_status *st)
{
    while (!c->reaped && !leader_check(c)) {
        if (atomic_load(&c->cancel)) {
            c->cancelled = true;
            child_terminate(c, grace_ms, NULL);
            break;
        }
        int64_t now = mono_ms();
        if (deadline_ms > 0 && now >= deadline_ms) {
            c->timed_out = true;
            child_terminate(c, grace_ms, NULL);
            break;
        }
        int64_t tmo = deadline_ms > 0 ? deadline_ms - now : 1000;
        wait_round(c, (int)(tmo < 1000 ? tmo : 1000));
    }
    reap(c);
    fill_status(c, st);
    return IV_OK;
}

/* ---- stdout lines --------------------------------------------------------------- */

static int deliver_chunk(struct child *c, char *p, size_t n, size_t max_line, child_line_fn fn,
                         void *ctx, struct iv_err *e)
{
    char *end = p + n;
    while (p < end) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t seg = nl ? (size_t)(nl - p) : (size_t)(end - p);
        if (c->line.len + seg > max_line)
            return iv_err_set(e, IV_ETOOBIG, "stdout line %llu is longer than %zu bytes",
                              (unsigned long long)(c->lineno + 1), max_line);
        if (!nl) {
            buf_append(&c->line, p, seg);
            return IV_OK;
        }
        c->lineno++;
        int rc;
        if (c->line.len == 0) {
            *nl = '\0';
            rc = fn(ctx, p, seg, c->lineno, e);
        } else {
            buf_append(&c->line, p, seg);
            rc = fn(ctx, c->line.data, c->line.len, c->lineno, e);
            buf_reset(&c->line);
        }
        if (rc != IV_OK)
            return rc;
        p = nl + 1;
    }
    return IV_OK;
}

int child_read_lines(struct child *c, const struct child_read_opts *o, child_line_fn fn,
                     void *ctx, struct iv_err *e)
{
    size_t max_line = o && o->max_line ? o->max_line : DEFAULT_MAX_LINE;
    int64_t deadline = o ? o->deadline_ms : 0;
    int linger = o && o->linger_ms > 0 ? o->linger_ms : DEFAULT_LINGER_MS;
    int64_t last_check = 0;

    while (c->out_fd >= 0) {
        if (atomic_load(&c->cancel)) {
            c->cancelled = true;
            return iv_err_set(e, IV_ECHILD, "run cancelled");
        }
        int64_t now = mono_ms();
        if (deadline > 0 && now >= deadline) {
            c->timed_out = true;
            return iv_err_set(e, IV_ECHILD, "run timed out after %lld s",
                              (long long)((now - c->start_ms) / 1000));
        }
        if (now - last_check >= TICK_MS) {
            last_check = now;
            if (leader_check(c) && !c->group_killed && now - c->leader_exit_ms >= linger)
                group_kill(c);   /* the leader is gone; leftovers hold stdout open */
        }
        int tmo = 1000;
        if (!c->leader_exited && c->pidfd < 0)
            tmo = TICK_MS;
        if (c->leader_exited && !c->group_killed)
            tmo = TICK_MS;
        if (deadline > 0 && deadline - now < tmo)
            tmo = (int)(deadline - now);

        struct pollfd pf[4];
        int n = 0, i_err = -1, i_pid = -1;
        pf[n++] = (struct pollfd){c->out_fd, POLLIN, 0};
        if (c->err_fd >= 0) {
            pf[n] = (struct pollfd){c->err_fd, POLLIN, 0};
            i_err = n++;
        }
        if (c->cancel_fd >= 0)
            pf[n++] = (struct pollfd){c->cancel_fd, POLLIN, 0};
        if (c->pidfd >= 0 && !c->leader_exited) {
            pf[n] = (struct pollfd){c->pidfd, POLLIN, 0};
            i_pid = n++;
        }
        int pr = poll(pf, (nfds_t)n, tmo);
        if (pr < 0) {
            if (errno == EINTR)
                continue;
            return iv_err_set(e, IV_EIO, "child: poll: %s", strerror(errno));
        }
        if (pr == 0)
            continue;
        if (i_pid >= 0 && pf[i_pid].revents)
            leader_check(c);
        if (i_err >= 0 && pf[i_err].revents)
            stderr_read_once(c);
        if (pf[0].revents) {
            ssize_t r = read(c->out_fd, c->chunk, CHUNK);
            if (r < 0) {
                if (errno == EINTR || errno == EAGAIN)
                    continue;
                return iv_err_set(e, IV_EIO, "child: reading stdout: %s", strerror(errno));
            }
            if (r == 0) {
                close(c->out_fd);
                c->out_fd = -1;
                if (c->line.len > 0) {   /* last line without '\n' */
                    c->lineno++;
                    int rc = fn(ctx, c->line.data, c->line.len, c->lineno, e);
                    buf_reset(&c->line);
                    if (rc != IV_OK)
                        return rc;
                }
                break;
            }
            int rc = deliver_chunk(c, c->chunk, (size_t)r, max_line, fn, ctx, e);
            if (rc != IV_OK)
                return rc;
        }
    }
    return IV_OK;
}

int child_run_lines(struct child *c, const struct child_read_opts *o, child_line_fn fn,
                    void *ctx, struct child_status *st, struct iv_err *e)
{
    int rc = child_read_lines(c, o, fn, ctx, e);
    if (rc == IV_OK)
        child_wait(c, o ? o->deadline_ms : 0, RUN_GRACE_MS, st);
    else
        child_terminate(c, RUN_GRACE_MS, st);
    if (rc == IV_OK && c->timed_out)
        rc = iv_err_set(e, IV_ECHILD, "run timed out (the tap did not exit after closing "
                        "stdout)");
    if (rc == IV_OK && c->cancelled)
        rc = iv_err_set(e, IV_ECHILD, "run cancelled");
    return rc;
}

void child_cancel(struct child *c)
{
    atomic_store(&c->cancel, true);
    if (c->cancel_fd >= 0) {
        uint64_t one = 1;
        ssize_t w = write(c->cancel_fd, &one, sizeof one);
        (void)w;
    }
}

bool child_cancelled(const struct child *c)
{
    return c->cancelled;
}

bool child_timed_out(const struct child *c)
{
    return c->timed_out;
}

void child_free(struct child *c)
{
    if (!c)
        return;
    if (!c->reaped && c->pid > 0)
        reap(c);
    if (c->out_fd >= 0)
        close(c->out_fd);
    if (c->err_fd >= 0)
        close(c->err_fd);
    if (c->pidfd >= 0)
        close(c->pidfd);
    if (c->cancel_fd >= 0)
        close(c->cancel_fd);
    buf_release(&c->line);
    free(c->chunk);
    for (int i = 0; i < c->nsecrets; i++) {
        OPENSSL_cleanse(c->secrets[i], c->secret_lens[i]);
        free(c->secrets[i]);
    }
    free(c->secrets);
    free(c->secret_lens);
    free(c->hold);
    free(c->ring);
    free(c);
}
