#include "outsock.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static int fail_closing(int fd, const char *call, struct ep_error *e)
{
    int err = errno;

    (void)close(fd);
    errno = err;
    return ep_fail_errno(e, "output", call);
}

int outsock_connect(const char *path, struct ep_error *e)
{
    struct sockaddr_un sa;
    size_t n = strlen(path);
    socklen_t len;
    int fd;

    if ((path[0] != '/' && path[0] != '@') || n < 2 || n >= sizeof(sa.sun_path))
        return ep_fail(e, "output",
                       "not an absolute path or @name of at most %zu bytes",
                       sizeof(sa.sun_path) - 1);
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, path, n);
    /* @name: Linux's abstract namespace, where the name is exactly the
     * bytes after a leading NUL (the address length says where it ends). */
    if (path[0] == '@')
        sa.sun_path[0] = '\0';
    len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return ep_fail_errno(e, "output", "socket");
    if (connect(fd, (const struct sockaddr *)&sa, len) < 0)
        return fail_closing(fd, "connect", e);
    /* dup2 leaves the new descriptor without FD_CLOEXEC, as stdout was. */
    if (dup2(fd, STDOUT_FILENO) < 0)
        return fail_closing(fd, "dup2", e);
    if (close(fd) < 0)
        return ep_fail_errno(e, "output", "close");
    return 0;
}
