#include "logfifo.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void logfifo_open(const char *path)
{
    struct stat st;
    int fd;

    /* The directory is the VM user's, mode 0700: nothing else can have
     * made the name; O_NOFOLLOW and the checks below say so anyway. */
    if (mkfifo(path, 0600) < 0)
        return;
    /* Non-blocking: with no reader yet, or none ever, a full FIFO drops
     * what we write rather than stopping the capture. */
    fd = open(path, O_RDWR | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return;
    if (fstat(fd, &st) == 0 && S_ISFIFO(st.st_mode) && st.st_uid == getuid())
        (void)dup2(fd, STDERR_FILENO); /* fails only for a bad fd */
    (void)close(fd);
}

/* Both ends are open: the name, and the private directory that holds
 * it, are no longer needed. Removed here, so that nothing is left even if
 * the Erlang server is killed before it could. Best effort. */
static void forget(const char *path)
{
    char dir[PATH_MAX];
    char *slash;

    if (unlink(path) < 0 || strlen(path) >= sizeof(dir))
        return;
    memcpy(dir, path, strlen(path) + 1);
    slash = strrchr(dir, '/');
    if (slash == NULL || slash == dir)
        return;
    *slash = '\0';
    (void)rmdir(dir); /* fails, harmlessly, unless it is empty */
}

int logfifo_relay(const char *path)
{
    char buf[4096];
    ssize_t n;
    int fd, fl;

    /* Opened without waiting for a writer: if the port has already gone,
     * the first read says so and we end, instead of waiting for ever. */
    fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return 1;
    forget(path);
    fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0 ||
        write(STDOUT_FILENO, "\n", 1) != 1) {
        (void)close(fd);
        return 1;
    }
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
            if (w <= 0) {
                (void)close(fd);
                return 1;
            }
            off += w;
        }
    }
    (void)close(fd);
    return n == 0 ? 0 : 1;
}
