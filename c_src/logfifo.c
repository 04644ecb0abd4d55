#include "logfifo.h"

#include <errno.h>
#include <fcntl.h>
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
