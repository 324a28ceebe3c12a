/*
 * core/preflight.c — see preflight.h. Protocol: the child loads files in
 * order and, after each, writes the file's index (a guint32) to a pipe.
 * The parent reads indexes as they come. EOF or a timeout before file k's
 * index arrives means file k killed or hung the child; the parent reaps it
 * (killing it on timeout), records the reason, and starts a new child at
 * k + 1. The child leaves with _exit(): no atexit handlers, no flushing of
 * the parent's stdio buffers.
 */
#include "preflight.h"

#include "loader.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

static void child_main(int fd, const char *const *paths, guint from, guint n)
{
    for (guint32 i = from; i < n; i++) {
        char *reason = NULL;
        kz_plugin *p = kz_loader_load(paths[i], &reason);
        kz_plugin_free(p);
        g_free(reason);
        if (write(fd, &i, sizeof i) != sizeof i)
            _exit(2);
    }
    _exit(0);
}

static char *describe_exit(int status)
{
    if (WIFSIGNALED(status))
        return g_strdup_printf("crashed while loading: killed by signal %d (%s)", WTERMSIG(status),
                               g_strsignal(WTERMSIG(status)));
    return g_strdup_printf("crashed while loading: the loading process exited with status %d",
                           WIFEXITED(status) ? WEXITSTATUS(status) : -1);
}

/* Runs one child from file `from`; returns the index of the first file it
 * did not finish (n when it finished all), with that file's reason set. */
static guint run_child(const char *const *paths, guint from, guint n, int timeout_ms, GPtrArray *reasons)
{
    int fds[2];
    if (pipe(fds) != 0)
        return n; /* cannot isolate: let the host load the files itself */
    pid_t pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        return n;
    }
    if (pid == 0) {
        close(fds[0]);
        child_main(fds[1], paths, from, n);
    }
    close(fds[1]);
    guint next = from;
    gboolean timed_out = FALSE;
    while (next < n) {
        struct pollfd pfd = {fds[0], POLLIN, 0};
        int rc = poll(&pfd, 1, timeout_ms);
        if (rc < 0 && errno == EINTR)
            continue;
        if (rc == 0) {
            timed_out = TRUE;
            break;
        }
        guint32 done;
        ssize_t got = read(fds[0], &done, sizeof done);
        if (got < 0 && errno == EINTR)
            continue;
        if (got != sizeof done || done != next)
            break; /* EOF: the child died while loading file `next` */
        next++;
    }
    close(fds[0]);
    if (timed_out)
        kill(pid, SIGKILL);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (next < n) {
        char *reason = timed_out ? g_strdup_printf("did not finish loading within %d ms: killed", timeout_ms)
                                 : describe_exit(status);
        g_ptr_array_index(reasons, next) = reason;
    }
    return next;
}

GPtrArray *kz_preflight_run(const char *const *paths, guint n)
{
    GPtrArray *reasons = g_ptr_array_new_full(n, g_free);
    g_ptr_array_set_size(reasons, (gint)n);
    const char *off = g_getenv("KIZUNA_PLUGIN_PREFLIGHT");
    if (n == 0 || (off != NULL && strcmp(off, "0") == 0))
        return reasons;
    const char *t = g_getenv("KIZUNA_PLUGIN_LOAD_TIMEOUT_MS");
    int timeout_ms = t != NULL && atoi(t) > 0 ? atoi(t) : 10000;
    fflush(NULL); /* nothing buffered may be written twice */
    for (guint from = 0; from < n;) {
        guint stopped = run_child(paths, from, n, timeout_ms, reasons);
        from = stopped + 1;
    }
    return reasons;
}
