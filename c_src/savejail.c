/* Why Landlock and not only the seccomp filter: seccomp lets openat and
 * unlinkat through only relative to the save directory's descriptor, but
 * it cannot read the name, and "../x" from a descriptor outside our
 * chroot climbs out of it (the chroot stops ".." only at the process's
 * own root). Landlock judges the resolved path: beneath the directory or
 * refused (EACCES), whatever the name says. Names the saver makes never
 * hold a "/" (saver.c); this is for a port that has been subverted. */
#include "savejail.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#ifdef __linux__
#include <linux/landlock.h>
#include <sys/syscall.h>
#endif

#if defined(__linux__) && defined(SYS_landlock_create_ruleset)

/* Every right of the ABI the kernel speaks is handled (so refused unless
 * a rule grants it); rights newer than our headers are unknown to us and
 * left alone: none of them lets a file be written. */
static __u64 handled(int abi)
{
    __u64 fs = LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_WRITE_FILE |
               LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR |
               LANDLOCK_ACCESS_FS_REMOVE_DIR | LANDLOCK_ACCESS_FS_REMOVE_FILE |
               LANDLOCK_ACCESS_FS_MAKE_CHAR | LANDLOCK_ACCESS_FS_MAKE_DIR |
               LANDLOCK_ACCESS_FS_MAKE_REG | LANDLOCK_ACCESS_FS_MAKE_SOCK |
               LANDLOCK_ACCESS_FS_MAKE_FIFO | LANDLOCK_ACCESS_FS_MAKE_BLOCK |
               LANDLOCK_ACCESS_FS_MAKE_SYM;

#ifdef LANDLOCK_ACCESS_FS_REFER
    if (abi >= 2)
        fs |= LANDLOCK_ACCESS_FS_REFER;
#endif
#ifdef LANDLOCK_ACCESS_FS_TRUNCATE
    if (abi >= 3)
        fs |= LANDLOCK_ACCESS_FS_TRUNCATE;
#endif
    return fs;
}

/* Beneath the directory: the saver's openat(O_CREAT|O_EXCL|O_WRONLY),
 * its ftruncate after a failed write, and the ring's unlinkat. */
static __u64 granted(int abi)
{
    __u64 fs = LANDLOCK_ACCESS_FS_MAKE_REG | LANDLOCK_ACCESS_FS_WRITE_FILE |
               LANDLOCK_ACCESS_FS_REMOVE_FILE;

#ifdef LANDLOCK_ACCESS_FS_TRUNCATE
    if (abi >= 3)
        fs |= LANDLOCK_ACCESS_FS_TRUNCATE;
#endif
    return fs;
}

static int fail(struct ep_error *e, const char *call)
{
    return ep_fail(e, "save", "Landlock: %s: %s", call, strerror(errno));
}

int savejail_confine(int dirfd, struct ep_error *e)
{
    long abi = syscall(SYS_landlock_create_ruleset, NULL, 0,
                       LANDLOCK_CREATE_RULESET_VERSION);
    struct landlock_ruleset_attr ra;
    struct landlock_path_beneath_attr pb;
    int rfd;

    if (abi < 1)
        return fail(e, "not available in this kernel");
    memset(&ra, 0, sizeof(ra));
    ra.handled_access_fs = handled((int)abi);
    rfd = (int)syscall(SYS_landlock_create_ruleset, &ra, sizeof(ra), 0);
    if (rfd < 0)
        return fail(e, "create_ruleset");
    memset(&pb, 0, sizeof(pb));
    pb.allowed_access = granted((int)abi);
    pb.parent_fd = dirfd;
    if (syscall(SYS_landlock_add_rule, rfd, LANDLOCK_RULE_PATH_BENEATH, &pb,
                0) < 0 ||
        syscall(SYS_landlock_restrict_self, rfd, 0) < 0) {
        int saved = errno;

        (void)close(rfd);
        errno = saved;
        return fail(e, "restrict");
    }
    (void)close(rfd);
    return 0;
}

#else

int savejail_confine(int dirfd, struct ep_error *e)
{
    (void)dirfd;
    return ep_fail(e, "save", "Landlock: not available on this system");
}

#endif
