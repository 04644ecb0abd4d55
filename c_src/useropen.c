/* A FIFO or a device opened with fopen() blocks (a FIFO until a writer
 * comes, forever) while we are still root. O_NONBLOCK makes open() return
 * at once for both; fstat() then refuses anything but a regular file.
 * O_NOCTTY: a terminal given as a file must not become ours. Symlinks are
 * followed, as any reader would: the open is done with the caller's
 * rights, so a link cannot reach what the caller could not. */
#include "useropen.h"

#include "caller.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int open_checked(const char *path, struct ep_error *e)
{
    struct stat sb;
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);

    if (fd < 0)
        return ep_fail(e, "file", "%s: %s", path, strerror(errno));
    if (fstat(fd, &sb) < 0) {
        int saved = errno;

        (void)close(fd);
        return ep_fail(e, "file", "%s: %s", path, strerror(saved));
    }
    if (!S_ISREG(sb.st_mode)) {
        (void)close(fd);
        return ep_fail(e, "file", "%s: not a regular file", path);
    }
    return fd;
}

/* open_fn with the caller's ids in force (caller.h), then ours again. */
static int as_caller(int (*open_fn)(const char *, struct ep_error *),
                     const char *path, struct ep_error *e)
{
    struct caller c;
    int fd;

    if (caller_identify(&c, e) < 0 || caller_enter(&c, e) < 0)
        return -1;
    fd = open_fn(path, e);
    if (caller_leave(&c, e) < 0) {
        if (fd >= 0)
            (void)close(fd);
        return -1;
    }
    return fd;
}

int useropen_file(const char *path, struct ep_error *e)
{
    return as_caller(open_checked, path, e);
}

/* useropen_dir: the save directory. faccessat with AT_EACCESS asks with
 * the effective ids, i.e. the sudo user's while they are in force. */
static int open_dir_checked(const char *dir, struct ep_error *e)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

    if (fd < 0)
        return ep_fail(e, "save", "%s: %s", dir, strerror(errno));
    if (faccessat(fd, ".", W_OK | X_OK, AT_EACCESS) < 0) {
        int saved = errno;

        (void)close(fd);
        return ep_fail(e, "save", "%s: %s", dir, strerror(saved));
    }
    return fd;
}

int useropen_dir(const char *dir, struct ep_error *e)
{
    return as_caller(open_dir_checked, dir, e);
}
