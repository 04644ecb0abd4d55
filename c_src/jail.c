/* A path checked with stat() and entered later with chroot() can be
 * swapped between the two (a symlink in a parent the user can write). We
 * walk it with openat(O_NOFOLLOW) from "/" and check every directory on
 * its descriptor, so what we checked is what we later fchdir() into.
 *
 * Symlinks in the given path are resolved first (realpath): rebar3's
 * priv is one. That is safe because only the resolved path is walked and
 * checked: whoever can swap a link can at most make us enter another
 * directory that passes every check, i.e. one only root controls. */
#include "jail.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DIR_FLAGS (O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)

/* Like sshd's ChrootDirectory, for every component: otherwise whoever can
 * write a parent can rename the jail away and put another in its place. */
static int check_dir(int fd, const char *dir, struct stat *sb,
                     struct ep_error *e)
{
    if (fstat(fd, sb) < 0)
        return ep_fail(e, "chroot", "%s: fstat: %s", dir, strerror(errno));
    if (!S_ISDIR(sb->st_mode))
        return ep_fail(e, "chroot", "%s: not a directory", dir);
    if (sb->st_uid != 0 || (sb->st_mode & (S_IWGRP | S_IWOTH)) != 0)
        return ep_fail(e, "chroot",
                       "%s: must be owned by root and not group/other writable",
                       dir);
    return 0;
}

/* The default jail may not exist yet (/run is a tmpfs). Made as root;
 * fchmod/fchown because umask and a setgid parent would change both. */
static int open_created(int parent, const char *name, struct ep_error *e)
{
    int fd;

    if (mkdirat(parent, name, 0755) < 0 && errno != EEXIST)
        return ep_fail(e, "chroot", "mkdir %s: %s", name, strerror(errno));
    fd = openat(parent, name, DIR_FLAGS);
    if (fd < 0)
        return ep_fail(e, "chroot", "%s: %s", name, strerror(errno));
    if (fchown(fd, 0, 0) < 0 || fchmod(fd, 0755) < 0) {
        int saved = errno;

        (void)close(fd);
        return ep_fail(e, "chroot", "%s: %s", name, strerror(saved));
    }
    return fd;
}

static int step(int parent, const char *name, bool last, bool create,
                struct ep_error *e)
{
    int fd = openat(parent, name, DIR_FLAGS);

    if (fd >= 0)
        return fd;
    if (errno == ENOENT && last && create)
        return open_created(parent, name, e);
    if (errno == ELOOP || errno == ENOTDIR)
        return ep_fail(e, "chroot", "%s: not a directory (or a symlink)", name);
    return ep_fail(e, "chroot", "%s: %s", name, strerror(errno));
}

/* Walk path (a copy, cut in place) from the root directory rootfd. */
static int walk(int rootfd, char *path, bool create, struct ep_error *e)
{
    int cur = rootfd;
    struct stat sb;
    char *save = NULL;

    for (char *c = strtok_r(path, "/", &save); c != NULL;
         c = strtok_r(NULL, "/", &save)) {
        int next;

        if (strcmp(c, ".") == 0)
            continue;
        if (strcmp(c, "..") == 0) {
            (void)close(cur);
            return ep_fail(e, "chroot", "\"..\" is not allowed in the path");
        }
        next = step(cur, c, *save == '\0', create, e);
        (void)close(cur);
        if (next < 0 || check_dir(next, c, &sb, e) < 0) {
            if (next >= 0)
                (void)close(next);
            return -1;
        }
        cur = next;
    }
    return cur;
}

/* realpath(dir) into path[PATH_MAX]. A missing default jail is resolved
 * through its parent, and made in walk(). */
static int resolve(const char *dir, bool create, char *path, struct ep_error *e)
{
    if (strlen(dir) >= PATH_MAX)
        return ep_fail(e, "chroot", "%s: path too long", dir);
    if (realpath(dir, path) != NULL)
        return 0;
    if (errno == ENOENT && create && dir[0] == '/') {
        memcpy(path, dir, strlen(dir) + 1);
        return 0;
    }
    return ep_fail(e, "chroot", "%s: %s", dir, strerror(errno));
}

/* Kernel views, not directories anyone builds a jail in: a port chrooted
 * there would see (and, with /dev, open) what no jail should hold. */
static bool system_tree(const char *path)
{
    static const char *const trees[] = {"/proc", "/sys", "/dev"};

    for (size_t i = 0; i < sizeof(trees) / sizeof(trees[0]); i++) {
        size_t n = strlen(trees[i]);

        if (strncmp(path, trees[i], n) == 0 &&
            (path[n] == '\0' || path[n] == '/'))
            return true;
    }
    return false;
}

int jail_open(const char *dir, bool create, struct ep_error *e)
{
    char path[PATH_MAX] = "";
    struct stat root, sb;
    int fd;

    /* A relative path would be taken from whatever directory the VM
     * happens to run in. */
    if (dir[0] != '/')
        return ep_fail(e, "chroot", "%s: not an absolute path", dir);
    if (resolve(dir, create, path, e) < 0)
        return -1;
    if (system_tree(path))
        return ep_fail(e, "chroot", "%s: a kernel file system is no jail", dir);
    fd = open("/", DIR_FLAGS);
    if (fd < 0)
        return ep_fail(e, "chroot", "/: %s", strerror(errno));
    if (check_dir(fd, "/", &root, e) < 0) {
        (void)close(fd);
        return -1;
    }
    fd = walk(fd, path, create, e);
    if (fd < 0)
        return -1;
    if (fstat(fd, &sb) < 0 ||
        (sb.st_dev == root.st_dev && sb.st_ino == root.st_ino)) {
        (void)close(fd);
        return ep_fail(e, "chroot", "%s: the root directory is no jail", dir);
    }
    return fd;
}
