/*
 * test_child: the runner's process layer against real /bin/sh children.
 * Line delivery, the line-size cap, the bounded and redacted stderr tail,
 * exit code vs signal, the run timeout killing the whole process group,
 * cancellation from another thread, exec failures, descriptor and
 * environment hygiene, tap resolution, per-run private files, and the
 * webhook client against an in-test HTTP listener that fails once with 500.
 */
#include "unit.h"
#include "crypto/crypto.h"
#include "runner/child.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ---- helpers ---------------------------------------------------------------- */

struct lines {
    char *v[4096];
    uint64_t lineno[4096];
    int n;
};

static int collect(void *ctx, const char *line, size_t len, uint64_t lineno, struct iv_err *e)
{
    (void)e;
    struct lines *l = ctx;
    assert_int_equal(strlen(line), len);   /* NUL-terminated at len */
    if (l->n < 4096) {
        l->v[l->n] = xstrndup(line, len);
        l->lineno[l->n] = lineno;
        l->n++;
    }
    return IV_OK;
}

static void lines_free(struct lines *l)
{
    for (int i = 0; i < l->n; i++)
        free(l->v[i]);
    l->n = 0;
}

static struct child *spawn_sh(const char *script, const char *const *env,
                              const char *const *redact)
{
    const char *argv[] = {"/bin/sh", "-c", script, NULL};
    struct child_spec spec = {.argv = argv, .env = env, .redact = redact};
    struct child *c = NULL;
    struct iv_err e = {0};
    int rc = child_spawn(&c, &spec, &e);
    if (rc)
        print_error("child_spawn: %s\n", e.msg);
    assert_int_equal(rc, IV_OK);
    assert_true(child_pid(c) > 0);
    return c;
}

/* Runs a script to the end; returns the child (caller frees) with lines and status. */
static struct child *run_sh(const char *script, struct lines *l, struct child_status *st,
                            int *rc_out, struct iv_err *e)
{
    struct child *c = spawn_sh(script, NULL, NULL);
    struct child_read_opts ro = {.max_line = 1 << 20, .deadline_ms = mono_ms() + 20000};
    *rc_out = child_run_lines(c, &ro, collect, l, st, e);
    return c;
}

static bool pid_gone(pid_t pid)
{
    /* gone, or a zombie waiting for init: either way no longer running */
    for (int i = 0; i < 200; i++) {
        char path[64], buf[512];
        snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
        FILE *f = fopen(path, "r");
        if (!f)
            return true;
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[n] = '\0';
        char *rp = strrchr(buf, ')');
        if (rp && (rp[2] == 'Z' || rp[2] == 'X'))
            return true;
        usleep(10000);
    }
    return false;
}

/* ---- process tests ---------------------------------------------------------- */

static void test_lines(void **state)
{
    (void)state;
    struct lines l = {0};
    struct child_status st;
    struct iv_err e = {0};
    int rc;
    struct child *c = run_sh("printf 'a\\nbb\\n\\nccc\\r\\nlast-no-newline'", &l, &st, &rc, &e);
    assert_int_equal(rc, IV_OK);
    assert_int_equal(l.n, 5);
    assert_string_equal(l.v[0], "a");
    assert_string_equal(l.v[1], "bb");
    assert_string_equal(l.v[2], "");
    assert_string_equal(l.v[3], "ccc\r");
    assert_string_equal(l.v[4], "last-no-newline");
    for (int i = 0; i < 5; i++)
        assert_int_equal(l.lineno[i], (uint64_t)i + 1);
    assert_int_equal(st.exit_code, 0);
    assert_int_equal(st.term_signal, 0);
    assert_false(st.killed);
    child_free(c);
    lines_free(&l);

    /* many lines crossing pipe-read boundaries, each intact */
    c = run_sh("i=0; while [ $i -lt 3000 ]; do echo \"line-$i-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"; "
               "i=$((i+1)); done", &l, &st, &rc, &e);
    assert_int_equal(rc, IV_OK);
    assert_int_equal(l.n, 3000);
    for (int i = 0; i < 3000; i += 499) {
        char want[80];
        snprintf(want, sizeof want, "line-%d-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", i);
        assert_string_equal(l.v[i], want);
    }
    child_free(c);
    lines_free(&l);

    /* stdin is /dev/null: cat ends at once */
    c = run_sh("cat; echo after-cat", &l, &st, &rc, &e);
    assert_int_equal(rc, IV_OK);
    assert_int_equal(l.n, 1);
    assert_string_equal(l.v[0], "after-cat");
    child_free(c);
    lines_free(&l);
}

static void test_own_process_group(void **state)
{
    (void)state;
    struct lines l = {0};
    struct child_status st;
    struct iv_err e = {0};
    int rc;
    /* field 5 of /proc/self/stat is the process group of `cat`, a member of the group */
    struct child *c = run_sh("cut -d' ' -f5 /proc/self/stat; echo $$", &l, &st, &rc, &e);
    assert_int_equal(rc, IV_OK);
    assert_int_equal(l.n, 2);
    assert_int_equal(atoi(l.v[0]), child_pid(c));
    assert_int_equal(atoi(l.v[1]), child_pid(c));
    assert_int_not_equal(atoi(l.v[0]), getpgrp());
    child_free(c);
    lines_free(&l);
}

static void test_huge_line(void **state)
{
    (void)state;
    struct lines l = {0};
    struct iv_err e = {0};
    struct child *c = spawn_sh("echo ok; echo fine; head -c 100000 /dev/zero | tr '\\0' x; echo; "
                               "echo never", NULL, NULL);
    struct child_read_opts ro = {.max_line = 1000, .deadline_ms = mono_ms() + 20000};
    struct child_status st;
    int rc = child_run_lines(c, &ro, collect, &l, &st, &e);
    assert_int_equal(rc, IV_ETOOBIG);
    assert_non_null(strstr(e.msg, "line 3"));
    assert_non_null(strstr(e.msg, "1000 bytes"));
    assert_int_equal(l.n, 2);
    child_free(c);
    lines_free(&l);
}

static void test_stderr_tail(void **state)
{
    (void)state;
    /* ~200 KB on stderr with the secret sprinkled in, one copy split across two writes,
     * a final line; only the last 64 KiB is kept and no secret survives. */
    const char *script =
        "i=0; while [ $i -lt 2000 ]; do "
        "echo \"noise $i hunter2-SECRET-value padding padding padding padding padding pad\" >&2; "
        "i=$((i+1)); done; "
        "printf 'split: hunter2-SEC' >&2; sleep 0.2; printf 'RET-value done\\n' >&2; "
        "printf 'tail: hunter2-SECRET-value' >&2; "
        "echo THE-END >&2; echo out";
    const char *redact[] = {"hunter2-SECRET-value", "", NULL};
    struct child *c = spawn_sh(script, NULL, redact);
    struct lines l = {0};
    struct child_status st;
    struct iv_err e = {0};
    struct child_read_opts ro = {.deadline_ms = mono_ms() + 20000};
    assert_int_equal(child_run_lines(c, &ro, collect, &l, &st, &e), IV_OK);
    assert_int_equal(l.n, 1);
    size_t n = 0;
    char *tail = child_stderr_tail(c, &n);
    assert_int_equal(strlen(tail), n);
    assert_true(n <= 64 * 1024);
    assert_true(n > 60 * 1024);
    assert_null(strstr(tail, "hunter2"));
    assert_non_null(strstr(tail, "split: [REDACTED] done\n"));
    assert_non_null(strstr(tail, "tail: [REDACTED]THE-END\n"));
    assert_true(n >= 8 && strcmp(tail + n - 8, "THE-END\n") == 0);
    assert_non_null(strstr(tail, "noise 1999 [REDACTED] padding"));
    free(tail);
    child_free(c);
    lines_free(&l);

    /* small ring */
    const char *argv[] = {"/bin/sh", "-c", "echo 0123456789abcdef >&2", NULL};
    struct child_spec spec = {.argv = argv, .stderr_tail_bytes = 8};
    assert_int_equal(child_spawn(&c, &spec, &e), IV_OK);
    assert_int_equal(child_run_lines(c, &ro, collect, &l, &st, &e), IV_OK);
    tail = child_stderr_tail(c, &n);
    assert_string_equal(tail, "9abcdef\n");
    free(tail);
    child_free(c);
}

static void test_exit_vs_signal(void **state)
{
    (void)state;
    struct lines l = {0};
    struct child_status st;
    struct iv_err e = {0};
    int rc;
    struct child *c = run_sh("echo x; exit 3", &l, &st, &rc, &e);
    assert_int_equal(rc, IV_OK);
    assert_int_equal(st.exit_code, 3);
    assert_int_equal(st.term_signal, 0);
    child_free(c);
    lines_free(&l);
    c = run_sh("kill -KILL $$", &l, &st, &rc, &e);
    assert_int_equal(rc, IV_OK);
    assert_int_equal(st.exit_code, -1);
    assert_int_equal(st.term_signal, SIGKILL);
    assert_false(st.killed);
    child_free(c);
    c = run_sh("kill -SEGV $$", &l, &st, &rc, &e);
    assert_int_equal(st.term_signal, SIGSEGV);
    child_free(c);
    /* a signal ignored by the parent is back to default in the child */
    signal(SIGUSR1, SIG_IGN);
    c = run_sh("kill -USR1 $$; exit 0", &l, &st, &rc, &e);
    signal(SIGUSR1, SIG_DFL);
    assert_int_equal(st.term_signal, SIGUSR1);
    child_free(c);
}

static void test_timeout_kills_group(void **state)
{
    (void)state;
    /* the grandchild prints its pid; nothing ever closes stdout */
    struct child *c = spawn_sh("sleep 1000 & echo $!; wait", NULL, NULL);
    struct lines l = {0};
    struct child_status st;
    struct iv_err e = {0};
    int64_t t0 = mono_ms();
    struct child_read_opts ro = {.deadline_ms = t0 + 600};
    int rc = child_run_lines(c, &ro, collect, &l, &st, &e);
    int64_t took = mono_ms() - t0;
    assert_int_equal(rc, IV_ECHILD);
    assert_non_null(strstr(e.msg, "timed out"));
    assert_true(child_timed_out(c));
    assert_true(st.timed_out);
    assert_true(st.killed);
    assert_int_equal(st.term_signal, SIGTERM);   /* sh dies of TERM */
    assert_int_equal(l.n, 1);
    pid_t grandchild = (pid_t)atoi(l.v[0]);
    assert_true(grandchild > 0);
    assert_true(pid_gone(grandchild));
    assert_true(took >= 550 && took < 5000);
    child_free(c);
    lines_free(&l);

    /* TERM ignored: KILL after the grace period */
    c = spawn_sh("trap '' TERM; echo ready; while :; do sleep 0.05; done", NULL, NULL);
    struct child_read_opts ro2 = {.deadline_ms = mono_ms() + 300};
    assert_int_equal(child_read_lines(c, &ro2, collect, &l, &e), IV_ECHILD);
    t0 = mono_ms();
    child_terminate(c, 300, &st);
    took = mono_ms() - t0;
    assert_int_equal(st.term_signal, SIGKILL);
    assert_true(took >= 250 && took < 3000);
    child_free(c);
    lines_free(&l);
}

struct canceller {
    struct child *c;
    int delay_ms;
};

static void *cancel_main(void *arg)
{
    struct canceller *k = arg;
    usleep((useconds_t)k->delay_ms * 1000);
    child_cancel(k->c);
    return NULL;
}

static void test_cancel_from_thread(void **state)
{
    (void)state;
    struct child *c = spawn_sh("echo started; sleep 1000", NULL, NULL);
    struct canceller k = {c, 200};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, cancel_main, &k), 0);
    struct lines l = {0};
    struct child_status st;
    struct iv_err e = {0};
    int64_t t0 = mono_ms();
    struct child_read_opts ro = {.deadline_ms = t0 + 30000};
    int rc = child_run_lines(c, &ro, collect, &l, &st, &e);
    int64_t took = mono_ms() - t0;
    pthread_join(th, NULL);
    assert_int_equal(rc, IV_ECHILD);
    assert_non_null(strstr(e.msg, "cancelled"));
    assert_true(st.cancelled);
    assert_false(st.timed_out);
    assert_true(child_cancelled(c));
    assert_true(took < 3000);
    assert_int_equal(l.n, 1);
    child_free(c);
    lines_free(&l);
}

static void test_leader_exit_with_lingering_grandchild(void **state)
{
    (void)state;
    /* sh exits but a background sleep keeps stdout open: it is killed after linger */
    struct child *c = spawn_sh("sleep 1000 & echo $!; echo done", NULL, NULL);
    struct lines l = {0};
    struct child_status st;
    struct iv_err e = {0};
    int64_t t0 = mono_ms();
    struct child_read_opts ro = {.deadline_ms = t0 + 30000, .linger_ms = 300};
    assert_int_equal(child_run_lines(c, &ro, collect, &l, &st, &e), IV_OK);
    assert_true(mono_ms() - t0 < 5000);
    assert_int_equal(st.exit_code, 0);
    assert_int_equal(l.n, 2);
    assert_string_equal(l.v[1], "done");
    assert_true(pid_gone((pid_t)atoi(l.v[0])));
    child_free(c);
    lines_free(&l);
}

static void test_exec_failure(void **state)
{
    (void)state;
    struct child *c = NULL;
    struct iv_err e = {0};
    const char *argv1[] = {"/nonexistent/tap-x", "--config", "x", NULL};
    struct child_spec s1 = {.argv = argv1};
    assert_int_equal(child_spawn(&c, &s1, &e), IV_ECHILD);
    assert_string_equal(e.msg, "cannot execute '/nonexistent/tap-x': No such file or directory");
    assert_null(c);

    char tmpl[] = "/tmp/ivory-test-noexec-XXXXXX";
    int fd = mkstemp(tmpl);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "#!/bin/sh\n", 10), 10);
    close(fd);
    chmod(tmpl, 0644);
    const char *argv2[] = {tmpl, NULL};
    struct child_spec s2 = {.argv = argv2};
    assert_int_equal(child_spawn(&c, &s2, &e), IV_ECHILD);
    char *want = xasprintf("cannot execute '%s': Permission denied", tmpl);
    assert_string_equal(e.msg, want);
    free(want);
    unlink(tmpl);

    const char *argv3[] = {"no-such-program-ivory", NULL};
    struct child_spec s3 = {.argv = argv3};
    assert_int_equal(child_spawn(&c, &s3, &e), IV_ECHILD);
    assert_non_null(strstr(e.msg, "no-such-program-ivory"));

    const char *argv4[] = {"/bin/true", NULL};
    struct child_spec s4 = {.argv = argv4, .cwd = "/nonexistent-dir"};
    assert_int_equal(child_spawn(&c, &s4, &e), IV_ECHILD);
    assert_non_null(strstr(e.msg, "/nonexistent-dir"));

    /* a bare name is found through PATH */
    const char *argv5[] = {"sh", "-c", "echo via-path", NULL};
    struct child_spec s5 = {.argv = argv5};
    assert_int_equal(child_spawn(&c, &s5, &e), IV_OK);
    struct lines l = {0};
    struct child_status st;
    assert_int_equal(child_run_lines(c, NULL, collect, &l, &st, &e), IV_OK);
    assert_string_equal(l.v[0], "via-path");
    child_free(c);
    lines_free(&l);
}

static void test_no_inherited_fds(void **state)
{
    (void)state;
    int fd = open("/dev/null", O_RDONLY);   /* deliberately without O_CLOEXEC */
    assert_true(fd >= 0);
    assert_int_equal(dup2(fd, 77), 77);
    struct lines l = {0};
    struct child_status st;
    struct iv_err e = {0};
    int rc;
    /* ls opens the directory itself (one more fd); list the shell's own fds */
    struct child *c = run_sh("ls /proc/$$/fd", &l, &st, &rc, &e);
    assert_int_equal(rc, IV_OK);
    assert_true(l.n >= 3);
    for (int i = 0; i < l.n; i++) {
        int n = atoi(l.v[i]);
        if (n > 2)
            print_error("child sees fd %d\n", n);
        assert_true(n >= 0 && n <= 2);
    }
    child_free(c);
    lines_free(&l);
    close(77);
    close(fd);
}

static void test_env(void **state)
{
    (void)state;
    setenv("IVORY_SECRET_X", "do-not-leak", 1);
    setenv("IVORY_CONFIG_KEY", "also-secret", 1);
    const char *env[] = {"FOO=bar", "TZ=UTC", "LANG=en_US.UTF-8", NULL};
    struct child *c = spawn_sh("env", env, NULL);
    struct lines l = {0};
    struct child_status st;
    struct iv_err e = {0};
    assert_int_equal(child_run_lines(c, NULL, collect, &l, &st, &e), IV_OK);
    bool foo = false, tz = false, path = false, lang = false, home = false;
    int tz_count = 0;
    for (int i = 0; i < l.n; i++) {
        assert_null(strstr(l.v[i], "IVORY_"));
        assert_null(strstr(l.v[i], "do-not-leak"));
        foo |= strcmp(l.v[i], "FOO=bar") == 0;
        tz |= strcmp(l.v[i], "TZ=UTC") == 0;
        tz_count += strncmp(l.v[i], "TZ=", 3) == 0;
        path |= strncmp(l.v[i], "PATH=", 5) == 0;
        home |= strncmp(l.v[i], "HOME=", 5) == 0;
        lang |= strcmp(l.v[i], "LANG=en_US.UTF-8") == 0;   /* caller's value overrides */
    }
    assert_true(foo && tz && path && lang && home);
    assert_int_equal(tz_count, 1);
    /* only what we set, plus what sh itself adds (PWD, SHLVL, _) */
    assert_true(l.n <= 8);
    child_free(c);
    lines_free(&l);
    unsetenv("IVORY_SECRET_X");
    unsetenv("IVORY_CONFIG_KEY");
}

/* ---- tap resolution and run files --------------------------------------------- */

static void make_exec(const char *path, int mode)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("#!/bin/sh\necho hi\n", f);
    fclose(f);
    assert_int_equal(chmod(path, (mode_t)mode), 0);
}

static void test_tap_resolve(void **state)
{
    (void)state;
    char root[] = "/tmp/ivory-test-taps-XXXXXX";
    assert_non_null(mkdtemp(root));
    char *d1 = xasprintf("%s/d1", root), *d2 = xasprintf("%s/d2", root);
    assert_int_equal(mkdir(d1, 0755), 0);
    assert_int_equal(mkdir(d2, 0755), 0);
    char *p;
    p = xasprintf("%s/tap-foo", d2); make_exec(p, 0755); free(p);
    p = xasprintf("%s/tap-foo@1.2.0", d1); make_exec(p, 0755); free(p);
    p = xasprintf("%s/tap-noexec", d1); make_exec(p, 0644); free(p);
    p = xasprintf("%s/tap-dir", d1); assert_int_equal(mkdir(p, 0755), 0); free(p);
    char *tp = xasprintf("%s::%s", d1, d2);   /* empty entry ignored */

    char *out = NULL;
    struct iv_err e = {0};
    assert_int_equal(tap_resolve("tap-foo", NULL, tp, &out, &e), IV_OK);
    char *want = xasprintf("%s/tap-foo", d2);
    assert_string_equal(out, want);
    free(want);
    free(out);
    assert_int_equal(tap_resolve("tap-foo", "1.2.0", tp, &out, &e), IV_OK);
    want = xasprintf("%s/tap-foo@1.2.0", d1);
    assert_string_equal(out, want);
    free(want);
    free(out);
    assert_int_equal(tap_resolve("tap-foo", "", tp, &out, &e), IV_OK);   /* "" = unpinned */
    free(out);

    /* not found: names the tap and every directory, IVORY_TAP_PATH first then PATH */
    assert_int_equal(tap_resolve("tap-foo", "9.9", tp, &out, &e), IV_ENOTFOUND);
    assert_null(out);
    assert_non_null(strstr(e.msg, "'tap-foo@9.9'"));
    char *d1pos = strstr(e.msg, d1), *d2pos = strstr(e.msg, d2);
    char *binpos = strstr(e.msg, "/bin");
    assert_non_null(d1pos);
    assert_non_null(d2pos);
    assert_non_null(binpos);
    assert_true(d1pos < d2pos && d2pos < binpos);
    assert_int_equal(tap_resolve("tap-noexec", NULL, tp, &out, &e), IV_ENOTFOUND);
    assert_int_equal(tap_resolve("tap-dir", NULL, tp, &out, &e), IV_ENOTFOUND);

    /* never a path */
    const char *bad[] = {"../tap-foo", "/bin/sh", "Tap-foo", "", ".hidden", "a/b", "-x",
                         "tap foo"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(tap_resolve(bad[i], NULL, tp, &out, &e), IV_EINVAL);
        assert_non_null(strstr(e.msg, "invalid"));
    }
    assert_int_equal(tap_resolve("tap-foo", "../1", tp, &out, &e), IV_EINVAL);
    assert_int_equal(tap_resolve("tap-foo", "1/2", tp, &out, &e), IV_EINVAL);
    assert_int_equal(tap_resolve(NULL, NULL, tp, &out, &e), IV_EINVAL);

    /* PATH fallback with no tap path */
    assert_int_equal(tap_resolve("sh", NULL, NULL, &out, &e), IV_OK);
    assert_true(strlen(out) > 3 && strcmp(out + strlen(out) - 3, "/sh") == 0);
    assert_int_equal(access(out, X_OK), 0);
    free(out);

    char *cmd = xasprintf("rm -rf %s", root);
    assert_int_equal(system(cmd), 0);
    free(cmd);
    free(tp);
    free(d1);
    free(d2);
}

static void test_run_files(void **state)
{
    (void)state;
    struct run_files *rf = NULL;
    struct iv_err e = {0};
    assert_int_equal(run_files_create(&rf, &e), IV_OK);
    char *dir = xstrdup(run_files_dir(rf));
    struct stat st;
    assert_int_equal(stat(dir, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);
    const char *path = NULL;
    const char *cfg = "{\"api_key\":\"k\"}";
    assert_int_equal(run_files_write(rf, "config.json", cfg, strlen(cfg), &path, &e), IV_OK);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    char *back = NULL;
    size_t n = 0;
    assert_int_equal(file_read_all(path, 1024, &back, &n, &e), IV_OK);
    assert_string_equal(back, cfg);
    free(back);
    assert_int_equal(run_files_write(rf, "config.json", "x", 1, &path, &e), IV_EIO);
    assert_int_equal(run_files_write(rf, "../evil", "x", 1, &path, &e), IV_EINVAL);
    assert_int_equal(run_files_write(rf, "..", "x", 1, &path, &e), IV_EINVAL);
    assert_int_equal(run_files_write(rf, "state.json", "{}", 2, NULL, &e), IV_OK);
    /* something the tap wrote itself, including a subdirectory */
    char *extra = xasprintf("mkdir %s/sub && touch %s/sub/x %s/tap-wrote", dir, dir, dir);
    assert_int_equal(system(extra), 0);
    free(extra);
    run_files_destroy(rf);
    assert_int_equal(stat(dir, &st), -1);
    assert_int_equal(errno, ENOENT);
    free(dir);
    run_files_destroy(NULL);
}

/* A pid that named a process a moment ago and no longer does (a reaped child). */
static long dead_pid(void)
{
    pid_t p = fork();
    if (p == 0)
        _exit(0);
    waitpid(p, NULL, 0);
    return (long)p;
}

static bool dir_exists(const char *base, const char *name)
{
    char *p = xasprintf("%s/%s", base, name);
    struct stat st;
    bool yes = stat(p, &st) == 0;
    free(p);
    return yes;
}

static void make_dir_with(const char *base, const char *name, const char *pidfile_text)
{
    char *p = xasprintf("%s/%s", base, name);
    assert_int_equal(mkdir(p, 0700), 0);
    char *f = xasprintf("%s/config.json", p);
    assert_int_equal(file_write_atomic(f, "{}", 2, 0600, NULL), IV_OK);
    free(f);
    if (pidfile_text) {
        f = xasprintf("%s/runner.pid", p);
        assert_int_equal(file_write_atomic(f, pidfile_text, strlen(pidfile_text), 0600, NULL), IV_OK);
        free(f);
    }
    free(p);
}

/* The sweep removes exactly the run directories whose owner process is gone, whatever
 * state a kill -9 left them in (empty, no runner.pid, half cleaned), and keeps the rest. */
static void test_run_files_sweep(void **state)
{
    (void)state;
    char tmpl[] = "/tmp/ivory-sweep-XXXXXX";
    assert_non_null(mkdtemp(tmpl));
    char *old_tmp = getenv("TMPDIR") ? xstrdup(getenv("TMPDIR")) : NULL;
    setenv("TMPDIR", tmpl, 1);

    struct run_files *mine = NULL;
    struct iv_err e = {0};
    assert_int_equal(run_files_create(&mine, &e), IV_OK);   /* live owner: this process */
    const char *mine_name = strrchr(run_files_dir(mine), '/') + 1;
    long gone = dead_pid();
    char *dead_empty = xasprintf("ivory-run-%ld-12345-abcdef", gone);
    char *dead_full = xasprintf("ivory-run-%ld-777-ghijkl", gone);
    /* this pid, another start time: an earlier process that had the same pid */
    char *reused = xasprintf("ivory-run-%ld-1-mnopqr", (long)getpid());
    char *dead_txt = xasprintf("%ld\n", gone);
    char *live_txt = xasprintf("%ld\n", (long)getpid());
    char *p = xasprintf("%s/%s", tmpl, dead_empty);
    assert_int_equal(mkdir(p, 0700), 0);
    free(p);
    make_dir_with(tmpl, dead_full, NULL);
    make_dir_with(tmpl, reused, NULL);
    make_dir_with(tmpl, "ivory-run-OLDdd1", dead_txt);   /* older layout, dead runner */
    make_dir_with(tmpl, "ivory-run-OLDll1", live_txt);   /* older layout, live runner */
    make_dir_with(tmpl, "ivory-run-OLDee1", NULL);       /* older layout, no pid: unknown */
    make_dir_with(tmpl, "other-dir", NULL);

    assert_int_equal(run_files_sweep_stale(), 4);
    assert_false(dir_exists(tmpl, dead_empty));
    assert_false(dir_exists(tmpl, dead_full));
    assert_false(dir_exists(tmpl, reused));
    assert_false(dir_exists(tmpl, "ivory-run-OLDdd1"));
    assert_true(dir_exists(tmpl, mine_name));
    assert_true(dir_exists(tmpl, "ivory-run-OLDll1"));
    assert_true(dir_exists(tmpl, "ivory-run-OLDee1"));
    assert_true(dir_exists(tmpl, "other-dir"));
    assert_int_equal(run_files_sweep_stale(), 0);

    run_files_destroy(mine);
    char *cmd = xasprintf("rm -rf %s", tmpl);
    assert_int_equal(system(cmd), 0);
    free(cmd);
    if (old_tmp)
        setenv("TMPDIR", old_tmp, 1);
    else
        unsetenv("TMPDIR");
    free(old_tmp);
    free(dead_empty);
    free(dead_full);
    free(reused);
    free(dead_txt);
    free(live_txt);
}

/* ---- webhook client against an in-test listener --------------------------------- */

struct listener {
    int fd;
    int port;
    int requests;
    int fail_first;         /* respond 500 to this many requests first */
    int verified;           /* requests whose signature verified */
    char path[128];
    char content_type[128];
    char body[4096];
    const char *secret;
};

static char *header_value(char *req, const char *name)
{
    size_t n = strlen(name);
    for (char *p = strstr(req, "\r\n"); p; p = strstr(p + 2, "\r\n")) {
        if (strncasecmp(p + 2, name, n) == 0 && p[2 + n] == ':') {
            char *v = p + 3 + n;
            while (*v == ' ')
                v++;
            char *end = strstr(v, "\r\n");
            return end ? xstrndup(v, (size_t)(end - v)) : xstrdup(v);
        }
    }
    return NULL;
}

static void *listener_main(void *arg)
{
    struct listener *ls = arg;
    for (;;) {
        int c = accept(ls->fd, NULL, NULL);
        if (c < 0)
            return NULL;
        char req[16384];
        size_t got = 0;
        char *hdr_end = NULL;
        long clen = -1;
        while (got < sizeof req - 1) {
            ssize_t r = read(c, req + got, sizeof req - 1 - got);
            if (r <= 0)
                break;
            got += (size_t)r;
            req[got] = '\0';
            if (!hdr_end && (hdr_end = strstr(req, "\r\n\r\n"))) {
                char *cl = header_value(req, "Content-Length");
                clen = cl ? atol(cl) : 0;
                free(cl);
            }
            if (hdr_end && (long)(got - (size_t)(hdr_end + 4 - req)) >= clen)
                break;
        }
        if (!hdr_end) {
            close(c);
            continue;
        }
        ls->requests++;
        sscanf(req, "POST %127s", ls->path);
        char *ct = header_value(req, "Content-Type");
        snprintf(ls->content_type, sizeof ls->content_type, "%s", ct ? ct : "");
        free(ct);
        const char *body = hdr_end + 4;
        snprintf(ls->body, sizeof ls->body, "%.*s", (int)clen, body);
        char *sig = header_value(req, "X-Ivory-Signature");
        const uint8_t *secs[1] = {(const uint8_t *)ls->secret};
        size_t lens[1] = {strlen(ls->secret)};
        if (sig && webhook_verify(sig, secs, lens, 1, body, (size_t)clen, now_s(), 300))
            ls->verified++;
        free(sig);
        const char *resp =
            ls->requests <= ls->fail_first
                ? "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 5\r\n"
                  "Connection: close\r\n\r\noops!"
                : "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";
        ssize_t w = write(c, resp, strlen(resp));
        (void)w;
        close(c);
    }
}

static void listener_start(struct listener *ls, pthread_t *th)
{
    ls->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(ls->fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(ls->fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(ls->fd, 8), 0);
    socklen_t al = sizeof a;
    assert_int_equal(getsockname(ls->fd, (struct sockaddr *)&a, &al), 0);
    ls->port = ntohs(a.sin_port);
    assert_int_equal(pthread_create(th, NULL, listener_main, ls), 0);
}

static void listener_stop(struct listener *ls, pthread_t th)
{
    shutdown(ls->fd, SHUT_RDWR);
    close(ls->fd);
    pthread_join(th, NULL);
}

static void test_webhook_client(void **state)
{
    (void)state;
    struct listener ls = {.fail_first = 1, .secret = "whsec-test"};
    pthread_t th;
    listener_start(&ls, &th);
    char *url = xasprintf("http://127.0.0.1:%d/", ls.port);   /* trailing slash trimmed */
    const char *body = "{\"connector_id\":\"c1\",\"run_id\":\"r1\",\"status\":\"completed\"}";
    struct webhook_client_opts o = {.backoff_initial_ms = 100, .max_attempts = 5};
    struct iv_err e = {0};
    int64_t t0 = mono_ms();
    int rc = webhook_client_post(url, (const uint8_t *)"whsec-test", 10, body, &o, &e);
    if (rc)
        print_error("webhook_client_post: %s\n", e.msg);
    assert_int_equal(rc, IV_OK);
    assert_true(mono_ms() - t0 >= 100);   /* one backoff wait */
    assert_int_equal(ls.requests, 2);
    assert_int_equal(ls.verified, 2);
    assert_string_equal(ls.path, "/v1/etl/meltano/webhook");
    assert_string_equal(ls.content_type, "application/json");
    assert_string_equal(ls.body, body);
    listener_stop(&ls, th);
    free(url);

    /* wrong secret on the client: the listener's verification fails */
    struct listener ls2 = {.fail_first = 0, .secret = "whsec-test"};
    listener_start(&ls2, &th);
    url = xasprintf("http://127.0.0.1:%d", ls2.port);
    assert_int_equal(webhook_client_post(url, (const uint8_t *)"other", 5, body, &o, &e), IV_OK);
    assert_int_equal(ls2.requests, 1);
    assert_int_equal(ls2.verified, 0);
    listener_stop(&ls2, th);
    free(url);

    /* always 500: gives up after max_attempts with a message */
    struct listener ls3 = {.fail_first = 1000, .secret = "s"};
    listener_start(&ls3, &th);
    url = xasprintf("http://127.0.0.1:%d", ls3.port);
    struct webhook_client_opts o3 = {.backoff_initial_ms = 20, .max_attempts = 3};
    assert_int_equal(webhook_client_post(url, (const uint8_t *)"s", 1, body, &o3, &e), IV_EIO);
    assert_non_null(strstr(e.msg, "3 attempts"));
    assert_non_null(strstr(e.msg, "HTTP 500"));
    assert_int_equal(ls3.requests, 3);
    listener_stop(&ls3, th);
    free(url);

    /* nobody listening: connection errors are retried within the budget */
    struct webhook_client_opts o4 = {.backoff_initial_ms = 50, .max_attempts = 3,
                                     .connect_timeout_ms = 500};
    assert_int_equal(webhook_client_post("http://127.0.0.1:1", (const uint8_t *)"s", 1, body,
                                         &o4, &e), IV_EIO);
    assert_non_null(strstr(e.msg, "3 attempts"));
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lines),
        cmocka_unit_test(test_own_process_group),
        cmocka_unit_test(test_huge_line),
        cmocka_unit_test(test_stderr_tail),
        cmocka_unit_test(test_exit_vs_signal),
        cmocka_unit_test(test_timeout_kills_group),
        cmocka_unit_test(test_cancel_from_thread),
        cmocka_unit_test(test_leader_exit_with_lingering_grandchild),
        cmocka_unit_test(test_exec_failure),
        cmocka_unit_test(test_no_inherited_fds),
        cmocka_unit_test(test_env),
        cmocka_unit_test(test_tap_resolve),
        cmocka_unit_test(test_run_files),
        cmocka_unit_test(test_run_files_sweep),
        cmocka_unit_test(test_webhook_client),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
