/* RESTRICT_PROCESS=rlimit: resource limits as a weak, portable sandbox.
 *
 *   RLIMIT_NOFILE = lowest free fd: no new descriptor can be allocated (no
 *                   open, socket, pipe, dup), yet every fd we hold keeps
 *                   working, because the limit is only checked when a new
 *                   fd is allocated. "Highest open fd + 1" would leave any
 *                   hole below it usable, so we use the lowest free number.
 *   RLIMIT_NPROC  = 0: fork fails with EAGAIN (not for root, which is why
 *                   this comes after the privilege drop).
 *   RLIMIT_FSIZE  = 0: no regular file can be written or grown. Pipes are
 *                   unaffected. SIGXFSZ is ignored so that such a write
 *                   fails with EFBIG instead of killing us: stderr is often
 *                   a log file, and a diagnostic must not end the capture
 *                   (errors reach Erlang as frames on stdout, not stderr).
 *
 * What it does NOT stop: execve (the chroot and NO_NEW_PRIVS do most of
 * that work), kill/ptrace of our own uid's processes, and any syscall on an
 * fd we already hold. Prefer seccomp on Linux. */
#include "restrict.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>

const char *restrict_mode(void)
{
    return "rlimit";
}

int restrict_init(const struct restrict_ctx *c, struct ep_error *e)
{
    (void)c;
    (void)e;
    return 0;
}

/* The lowest unused descriptor number, or -1 (errno set). */
static int lowest_free_fd(void)
{
    for (int fd = 0; fd < 65536; fd++) {
        if (fcntl(fd, F_GETFD) == -1) {
            if (errno == EBADF)
                return fd;
            return -1;
        }
    }
    errno = EMFILE;
    return -1;
}

static int limit(int resource, rlim_t n, const char *name, struct ep_error *e)
{
    struct rlimit rl = {n, n};

    if (setrlimit(resource, &rl) == -1)
        return ep_fail_errno(e, "restrict", name);
    return 0;
}

int restrict_apply(const struct restrict_ctx *c, struct ep_error *e)
{
    int nofile = lowest_free_fd();

    if (nofile == -1)
        return ep_fail_errno(e, "restrict", "fcntl(F_GETFD)");
    /* poll(2) fails with EINVAL when nfds > RLIMIT_NOFILE; the event loop
     * polls stdin and the capture fd, and 0..2 are always open for us. */
    if (nofile < 2)
        return ep_fail(e, "restrict", "stdin/stdout closed: fd %d free",
                       nofile);
    if (signal(SIGXFSZ, SIG_IGN) == SIG_ERR)
        return ep_fail_errno(e, "restrict", "signal(SIGXFSZ)");
    /* Saving (saver.c) needs one descriptor more, for each new file on its
     * way to its number, and files of any size. */
    if (c->save_dir >= 0)
        return limit(RLIMIT_NOFILE, (rlim_t)nofile + 1,
                     "setrlimit(RLIMIT_NOFILE)", e) ||
                       limit(RLIMIT_NPROC, 0, "setrlimit(RLIMIT_NPROC)", e)
                   ? -1
                   : 0;
    if (limit(RLIMIT_NOFILE, (rlim_t)nofile, "setrlimit(RLIMIT_NOFILE)", e) ||
        limit(RLIMIT_NPROC, 0, "setrlimit(RLIMIT_NPROC)", e) ||
        limit(RLIMIT_FSIZE, 0, "setrlimit(RLIMIT_FSIZE)", e))
        return -1;
    return 0;
}
