#include "logfifo.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The FIFO's name split at its last slash: the directory (a path of its
 * own, in dir) and the name in it. Returns -1 for a path with no
 * directory part or one too long. */
static int split_path(const char *path, char dir[PATH_MAX], const char **base)
{
    const char *slash = strrchr(path, '/');
    size_t n;

    if (slash == NULL || slash == path || slash[1] == '\0')
        return -1;
    n = (size_t)(slash - path);
    if (n >= PATH_MAX)
        return -1;
    memcpy(dir, path, n);
    dir[n] = '\0';
    *base = slash + 1;
    return 0;
}

/* The directory that holds the FIFO, opened without following a link and
 * checked on its descriptor: a directory of ours that no one else may
 * enter (the VM makes it 0700 and checks it is empty: epcap_stderr.erl).
 * "Ours" is the effective uid: under sudo, -2 runs as the caller (caller.h).
 * Another user can then neither plant the name nor swap it. */
static int open_private_dir(const char *dir)
{
    struct stat st;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

    if (fd < 0)
        return -1;
    if (fstat(fd, &st) < 0 || !S_ISDIR(st.st_mode) || st.st_uid != geteuid() ||
        (st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
        (void)close(fd);
        errno = EPERM;
        return -1;
    }
    return fd;
}

/* A FIFO of ours: anything else (a file, a device, another user's FIFO)
 * is never read nor written. */
static int is_our_fifo(int fd)
{
    struct stat st;

    return fstat(fd, &st) == 0 && S_ISFIFO(st.st_mode) &&
           st.st_uid == geteuid();
}

void logfifo_open(const char *path)
{
    char dir[PATH_MAX];
    const char *base;
    int dfd, fd;

    if (split_path(path, dir, &base) < 0)
        return;
    dfd = open_private_dir(dir);
    if (dfd < 0)
        return;
    /* Made and opened relative to the checked directory. Non-blocking:
     * with no reader yet, or none ever, a full FIFO drops what we write
     * rather than stopping the capture. */
    if (mkfifoat(dfd, base, 0600) < 0) {
        (void)close(dfd);
        return;
    }
    fd = openat(dfd, base, O_RDWR | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    (void)close(dfd);
    if (fd < 0)
        return;
    if (is_our_fifo(fd))
        (void)dup2(fd, STDERR_FILENO); /* fails only for a bad fd */
    (void)close(fd);
}

/* Both ends are open: the name, and the private directory that holds it,
 * are no longer needed. Removed here, so that nothing is left even if the
 * Erlang server is killed before it could: the name relative to the
 * checked directory's descriptor, the directory with rmdir, which never
 * follows a link and removes only an empty directory. Best effort. */
static void forget(int dfd, const char *dir, const char *base)
{
    if (unlinkat(dfd, base, 0) == 0)
        (void)rmdir(dir); /* fails, harmlessly, unless it is empty */
}

static int copy_out(int fd)
{
    char buf[4096];
    ssize_t n;

    for (;;) {
        n = read(fd, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        for (ssize_t off = 0; off < n;) {
            ssize_t w = write(STDOUT_FILENO, buf + off, (size_t)(n - off));

            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0)
                return 1;
            off += w;
        }
    }
    return n == 0 ? 0 : 1;
}

int logfifo_relay(const char *path)
{
    char dir[PATH_MAX];
    const char *base;
    int dfd, fd, fl, rc;

    if (split_path(path, dir, &base) < 0)
        return 1;
    dfd = open_private_dir(dir);
    if (dfd < 0)
        return 1;
    /* Opened without waiting for a writer: if the port has already gone,
     * the first read says so and we end, instead of waiting for ever. */
    fd = openat(dfd, base, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0 || !is_our_fifo(fd)) {
        if (fd >= 0)
            (void)close(fd);
        (void)close(dfd);
        return 1;
    }
    forget(dfd, dir, base);
    (void)close(dfd);
    fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0 ||
        write(STDOUT_FILENO, "\n", 1) != 1) {
        (void)close(fd);
        return 1;
    }
    rc = copy_out(fd);
    (void)close(fd);
    return rc;
}
