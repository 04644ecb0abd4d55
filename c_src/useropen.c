/* A FIFO or a device opened with fopen() blocks (a FIFO until a writer
 * comes, forever) while we are still root. O_NONBLOCK makes open() return
 * at once for both; fstat() then refuses anything but a regular file.
 * O_NOCTTY: a terminal given as a file must not become ours. Symlinks are
 * followed, as any reader would: the open is done with the caller's
 * rights, so a link cannot reach what the caller could not. */
#include "useropen.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_GROUPS 256
#define PW_BUFSZ   16384

struct who {
    uid_t uid;
    gid_t gid;
    int ngroups;
    gid_t groups[MAX_GROUPS];
};

/* The user sudo ran us for: SUDO_UID, that user's primary and
 * supplementary groups. Returns 1 if found, 0 if not run by sudo as root
 * (or run by root itself), -1 with e filled. */
static int sudo_user(struct who *w, struct ep_error *e)
{
    const char *s = getenv("SUDO_UID");
    struct passwd pw, *res = NULL;
    char buf[PW_BUFSZ];
    char *end = NULL;
    unsigned long n;

    if (s == NULL || geteuid() != 0 || getuid() != 0)
        return 0;
    errno = 0;
    n = strtoul(s, &end, 10);
    if (errno != 0 || *s == '\0' || *end != '\0' || n >= UINT_MAX)
        return ep_fail(e, "file", "SUDO_UID=%s: not a uid", s);
    if (n == 0)
        return 0;
    if (getpwuid_r((uid_t)n, &pw, buf, sizeof(buf), &res) != 0 || res == NULL)
        return ep_fail(e, "file", "SUDO_UID=%s: no such user", s);
    w->uid = pw.pw_uid;
    w->gid = pw.pw_gid;
    w->ngroups = MAX_GROUPS;
    if (getgrouplist(pw.pw_name, pw.pw_gid, w->groups, &w->ngroups) < 0)
        return ep_fail(e, "file", "%s: more than %d groups", pw.pw_name,
                       MAX_GROUPS);
    return 1;
}

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

/* Back to root's effective ids; failing that, nothing is safe to do. */
static int become_root_again(struct ep_error *e)
{
    if (seteuid(0) < 0 || setegid(0) < 0 || setgroups(0, NULL) < 0)
        return ep_fail_errno(e, "privdrop", "regaining root after open");
    return 0;
}

int useropen_file(const char *path, struct ep_error *e)
{
    struct who w = {0};
    int rc = sudo_user(&w, e);
    int fd;

    if (rc < 0)
        return -1;
    if (rc == 0)
        return open_checked(path, e);
    if (setgroups((size_t)w.ngroups, w.groups) < 0 || setegid(w.gid) < 0 ||
        seteuid(w.uid) < 0) {
        int saved = errno;

        if (become_root_again(e) < 0)
            return -1;
        errno = saved;
        return ep_fail_errno(e, "file", "switching to the sudo user");
    }
    fd = open_checked(path, e);
    if (become_root_again(e) < 0) {
        if (fd >= 0)
            (void)close(fd);
        return -1;
    }
    return fd;
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
    struct who w = {0};
    int rc = sudo_user(&w, e);
    int fd;

    if (rc < 0)
        return -1;
    if (rc == 0)
        return open_dir_checked(dir, e);
    if (setgroups((size_t)w.ngroups, w.groups) < 0 || setegid(w.gid) < 0 ||
        seteuid(w.uid) < 0) {
        int saved = errno;

        if (become_root_again(e) < 0)
            return -1;
        errno = saved;
        return ep_fail_errno(e, "save", "switching to the sudo user");
    }
    fd = open_dir_checked(dir, e);
    if (become_root_again(e) < 0) {
        if (fd >= 0)
            (void)close(fd);
        return -1;
    }
    return fd;
}
