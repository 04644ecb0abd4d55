#include "caller.h"

#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#ifdef __linux__
#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#endif

#define PW_BUFSZ 16384

#ifdef __linux__
/* Raw syscalls: glibc has no capget/capset wrappers and libcap is not a
 * build dependency. */
static bool caps_permitted(void)
{
    struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct d[2] = {{0, 0, 0}, {0, 0, 0}};

    /* An error counts as privileged: the caller is then treated as
     * elevated, which only ever means doing less as root. */
    if (syscall(SYS_capget, &h, d) == -1)
        return true;
    return (d[0].permitted | d[1].permitted | d[0].effective |
            d[1].effective) != 0;
}

static int caps_clear(void)
{
    struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct d[2];

    memset(d, 0, sizeof(d));
    return (int)syscall(SYS_capset, &h, d);
}
#else
static bool caps_permitted(void)
{
    return false;
}

static int caps_clear(void)
{
    return 0;
}
#endif

/* sudo sets SUDO_UID itself, whatever the environment it was given, and
 * only root can run us with ruid 0 and SUDO_UID set otherwise. */
static int from_sudo(struct caller *c, const char *s, struct ep_error *e)
{
    struct passwd pw, *res = NULL;
    char buf[PW_BUFSZ];
    char *end = NULL;
    unsigned long n;

    errno = 0;
    n = strtoul(s, &end, 10);
    if (errno != 0 || *s == '\0' || *end != '\0' || n >= UINT_MAX)
        return ep_fail(e, "privdrop", "SUDO_UID=%s: not a uid", s);
    if (n == 0)
        return 0; /* root ran sudo: root is the caller */
    if (getpwuid_r((uid_t)n, &pw, buf, sizeof(buf), &res) != 0 || res == NULL)
        return ep_fail(e, "privdrop", "SUDO_UID=%s: no such user", s);
    c->kind = CALLER_SUDO;
    c->uid = pw.pw_uid;
    c->gid = pw.pw_gid;
    c->ngroups = CALLER_MAX_GROUPS;
    if (getgrouplist(pw.pw_name, pw.pw_gid, c->groups, &c->ngroups) < 0)
        return ep_fail(e, "privdrop", "%s: more than %d groups", pw.pw_name,
                       CALLER_MAX_GROUPS);
    return 0;
}

static int from_real_ids(struct caller *c, enum caller_kind kind,
                         struct ep_error *e)
{
    int n = getgroups(CALLER_MAX_GROUPS, c->groups);

    if (n < 0)
        return ep_fail_errno(e, "privdrop", "getgroups");
    c->kind = kind;
    c->uid = getuid();
    c->gid = getgid();
    c->ngroups = n;
    return 0;
}

int caller_identify(struct caller *c, struct ep_error *e)
{
    const char *sudo = getenv("SUDO_UID");

    memset(c, 0, sizeof(*c));
    c->kind = CALLER_SELF;
    c->uid = getuid();
    c->gid = getgid();
    if (geteuid() != getuid() || getegid() != getgid())
        return from_real_ids(c, CALLER_SETID, e);
    if (getuid() == 0)
        return sudo != NULL ? from_sudo(c, sudo, e) : 0;
    if (caps_permitted())
        return from_real_ids(c, CALLER_CAPS, e);
    return 0;
}

bool caller_elevated(const struct caller *c)
{
    return c->kind != CALLER_SELF;
}

static bool switches_ids(const struct caller *c)
{
    return c->kind == CALLER_SUDO || c->kind == CALLER_SETID;
}

int caller_enter(const struct caller *c, struct ep_error *e)
{
    if (!switches_ids(c))
        return 0;
    /* Groups and gid first: after seteuid we may no longer change them. */
    if (setgroups((size_t)c->ngroups, c->groups) < 0 || setegid(c->gid) < 0 ||
        seteuid(c->uid) < 0) {
        int saved = errno;

        (void)caller_leave(c, e);
        errno = saved;
        return ep_fail_errno(e, "privdrop", "switching to the caller's ids");
    }
    return 0;
}

int caller_leave(const struct caller *c, struct ep_error *e)
{
    if (!switches_ids(c))
        return 0;
    if (seteuid(0) < 0 || setegid(0) < 0 || setgroups(0, NULL) < 0)
        return ep_fail_errno(e, "privdrop",
                             "regaining root after acting "
                             "as the caller");
    return 0;
}

static int no_new_privs(struct ep_error *e)
{
#ifdef __linux__
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        return ep_fail_errno(e, "privdrop", "prctl(PR_SET_NO_NEW_PRIVS)");
#endif
    (void)e;
    return 0;
}

int caller_become(const struct caller *c, struct ep_error *e)
{
    if (c->kind == CALLER_SELF)
        return 0;
    if (switches_ids(c) && (setgroups((size_t)c->ngroups, c->groups) < 0 ||
                            setresgid(c->gid, c->gid, c->gid) < 0 ||
                            setresuid(c->uid, c->uid, c->uid) < 0))
        return ep_fail_errno(e, "privdrop", "becoming the caller");
    if (caps_clear() < 0)
        return ep_fail_errno(e, "privdrop", "capset");
    if (no_new_privs(e) < 0)
        return -1;
    /* As privdrop.c does: prove the way back is closed. */
    if (geteuid() == 0 || setuid(0) != -1 || caps_permitted())
        return ep_fail(e, "privdrop",
                       "root reachable after becoming the "
                       "caller");
    return 0;
}
