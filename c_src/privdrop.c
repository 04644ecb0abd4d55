/* Privilege drop in sshd's order: chroot, chdir, setgroups, setresgid,
 * setresuid, shed capabilities, NO_NEW_PRIVS, then prove that root cannot be
 * regained. Names are resolved in privdrop_prepare because /etc/passwd is not
 * reachable from inside the chroot. */
#include "privdrop.h"

#include "jail.h"

#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#ifdef __linux__
#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#endif

/* Filled once by privdrop_prepare and only read afterwards. */
static struct {
    bool prepared;
    bool target_given; /* -u or -g: a switch was asked for explicitly */
    uid_t uid;
    gid_t gid;
    int root_fd; /* the opened jail, or -1 */
    char root[PATH_MAX];
} st = {.root_fd = -1};

/* getpw*_r and getgr*_r need a caller buffer; 16 KiB holds any sane entry. */
#define PW_BUFSZ 16384

/* Parse a whole decimal id; (id_t)-1 is reserved by the set*id calls. */
static bool parse_id(const char *s, unsigned long *out)
{
    char *end;

    if (*s < '0' || *s > '9')
        return false;
    errno = 0;
    *out = strtoul(s, &end, 10);
    return errno == 0 && *end == '\0' && *out < UINT32_MAX;
}

/* Resolve the user (name first, then a numeric uid) and its primary group.
 * *have_gid is false for a numeric uid without a passwd entry. */
static int lookup_user(const char *name, uid_t *uid, gid_t *gid, bool *have_gid,
                       struct ep_error *e)
{
    struct passwd pw, *res = NULL;
    char buf[PW_BUFSZ];
    unsigned long n;
    int rc;

    rc = getpwnam_r(name, &pw, buf, sizeof(buf), &res);
    if (rc == 0 && res == NULL && parse_id(name, &n)) {
        *uid = (uid_t)n;
        rc = getpwuid_r(*uid, &pw, buf, sizeof(buf), &res);
        *have_gid = rc == 0 && res != NULL;
        if (*have_gid)
            *gid = pw.pw_gid;
        return 0;
    }
    if (rc != 0)
        return ep_fail(e, "no_such_user", "%s: %s", name, strerror(rc));
    if (res == NULL)
        return ep_fail(e, "no_such_user", "%s", name);
    *uid = pw.pw_uid;
    *gid = pw.pw_gid;
    *have_gid = true;
    return 0;
}

static int lookup_group(const char *name, gid_t *gid, struct ep_error *e)
{
    struct group gr, *res = NULL;
    char buf[PW_BUFSZ];
    unsigned long n;
    int rc;

    rc = getgrnam_r(name, &gr, buf, sizeof(buf), &res);
    if (rc == 0 && res == NULL && parse_id(name, &n)) {
        *gid = (gid_t)n;
        return 0;
    }
    if (rc != 0)
        return ep_fail(e, "no_such_group", "%s: %s", name, strerror(rc));
    if (res == NULL)
        return ep_fail(e, "no_such_group", "%s", name);
    *gid = gr.gr_gid;
    return 0;
}

static int open_jail(const struct privdrop_opts *o, struct ep_error *e)
{
    const char *dir = o->chroot_dir;
    bool dflt = dir == NULL && o->jail_default && geteuid() == 0;

    if (st.root_fd >= 0)
        (void)close(st.root_fd);
    st.root_fd = -1;
    if (dflt)
        dir = JAIL_DEFAULT_DIR;
    if (dir == NULL)
        return 0;
    if (dflt || o->who == NULL) {
        st.root_fd = jail_open(dir, dflt, e);
    } else {
        /* The jail itself is checked to be root's below; whether the
         * caller could reach it is the caller's business, not root's. */
        if (caller_enter(o->who, e) < 0)
            return -1;
        st.root_fd = jail_open(dir, false, e);
        if (caller_leave(o->who, e) < 0) {
            if (st.root_fd >= 0)
                (void)close(st.root_fd);
            st.root_fd = -1;
            return -1;
        }
    }
    if (st.root_fd < 0)
        return -1;
    (void)snprintf(st.root, sizeof(st.root), "%s", dir);
    return 0;
}

int privdrop_prepare(const struct privdrop_opts *o, struct ep_error *e)
{
    const char *user = o->user != NULL ? o->user : "nobody";
    bool have_gid = false;

    st.prepared = false;
    if (lookup_user(user, &st.uid, &st.gid, &have_gid, e) == -1)
        return -1;
    if (o->group != NULL) {
        if (lookup_group(o->group, &st.gid, e) == -1)
            return -1;
    } else if (!have_gid) {
        return ep_fail(e, "no_such_group",
                       "uid %s has no passwd entry: give a group", user);
    }
    /* Dropping "to" root would leave nothing to verify: refuse, naming
     * whichever of the two asked for it. */
    if (st.uid == 0)
        return ep_fail(e, "privdrop", "refusing to run as uid 0 (user %s)",
                       user);
    if (st.gid == 0 && o->group != NULL)
        return ep_fail(e, "privdrop", "refusing to run as gid 0 (group %s)",
                       o->group);
    if (st.gid == 0)
        return ep_fail(e, "privdrop",
                       "refusing to run as gid 0 (primary group of user %s)",
                       user);
    st.target_given = o->user != NULL || o->group != NULL;
    if (open_jail(o, e) < 0)
        return -1;
    st.prepared = true;
    return 0;
}

#ifdef __linux__
/* capget via syscall: libcap would read /proc, which the chroot hides. */
static int caps_get(struct __user_cap_data_struct d[2])
{
    struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};

    return (int)syscall(SYS_capget, &h, d);
}

/* Empty the effective, permitted and inheritable sets. Needed when we held
 * capabilities without uid 0: setresuid then leaves them in place. */
static int caps_clear(void)
{
    struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct d[2];

    memset(d, 0, sizeof(d));
    return (int)syscall(SYS_capset, &h, d);
}

/* Returns 1 if any capability is effective or permitted, 0 if none, -1. */
static int caps_any(bool include_permitted)
{
    /* Zeroed: valgrind does not know capget fills both elements. */
    struct __user_cap_data_struct d[2] = {{0, 0, 0}, {0, 0, 0}};

    if (caps_get(d) == -1)
        return -1;
    for (int i = 0; i < 2; i++)
        if (d[i].effective != 0 ||
            (include_permitted && (d[i].permitted || d[i].inheritable)))
            return 1;
    return 0;
}
#endif

/* Anything that could lead back to root counts: uid 0 in any of the real,
 * effective or saved slots (seteuid(0) would succeed), or a capability
 * merely *permitted* (it can be raised to effective at will). Errors count
 * as privileged, so the drop runs and its verification decides. */
static bool is_privileged(void)
{
    uid_t r, e, s;

    if (getresuid(&r, &e, &s) == -1 || r == 0 || e == 0 || s == 0)
        return true;
#ifdef __linux__
    return caps_any(true) != 0;
#else
    return false;
#endif
}

static int set_no_new_privs(struct ep_error *e)
{
#ifdef __linux__
    /* execve can no longer grant setuid bits or file capabilities; also
     * what lets an unprivileged process load the seccomp filter. */
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1)
        return ep_fail_errno(e, "privdrop", "prctl(PR_SET_NO_NEW_PRIVS)");
    if (prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1)
        return ep_fail(e, "privdrop", "NO_NEW_PRIVS did not stick");
#endif
    (void)e;
    return 0;
}

static int do_drop(struct ep_error *e)
{
    if (st.root_fd >= 0) {
        /* The directory checked in prepare, whatever its path names now. */
        if (fchdir(st.root_fd) == -1)
            return ep_fail_errno(e, "privdrop", "fchdir");
        if (chroot(".") == -1)
            return ep_fail_errno(e, "privdrop", "chroot");
        (void)close(st.root_fd);
        st.root_fd = -1;
    }
    if (setgroups(0, NULL) == -1)
        return ep_fail_errno(e, "privdrop", "setgroups");
    if (setresgid(st.gid, st.gid, st.gid) == -1)
        return ep_fail_errno(e, "privdrop", "setresgid");
    if (setresuid(st.uid, st.uid, st.uid) == -1)
        return ep_fail_errno(e, "privdrop", "setresuid");
#ifdef __linux__
    if (caps_clear() == -1)
        return ep_fail_errno(e, "privdrop", "capset");
#endif
    return 0;
}

/* Each regain attempt must fail; if one succeeds we are root again, and the
 * only safe answer is to stop (the caller exits before `ready`). */
static int verify_no_regain(struct ep_error *e)
{
    if (setuid(0) != -1 || seteuid(0) != -1)
        return ep_fail(e, "privdrop", "setuid(0) succeeded after drop");
    if (setresuid(0, 0, 0) != -1)
        return ep_fail(e, "privdrop", "setresuid(0) succeeded after drop");
    if (setgid(0) != -1 || setegid(0) != -1)
        return ep_fail(e, "privdrop", "setgid(0) succeeded after drop");
    if (setgroups(0, NULL) != -1)
        return ep_fail(e, "privdrop", "setgroups succeeded after drop");
    return 0;
}

static int verify_ids(struct ep_error *e)
{
    uid_t ru, eu, su;
    gid_t rg, eg, sg;

    if (getresuid(&ru, &eu, &su) == -1 || getresgid(&rg, &eg, &sg) == -1)
        return ep_fail_errno(e, "privdrop", "getresuid/getresgid");
    if (ru != st.uid || eu != st.uid || su != st.uid)
        return ep_fail(e, "privdrop", "uids %u/%u/%u, wanted %u", (unsigned)ru,
                       (unsigned)eu, (unsigned)su, (unsigned)st.uid);
    if (rg != st.gid || eg != st.gid || sg != st.gid)
        return ep_fail(e, "privdrop", "gids %u/%u/%u, wanted %u", (unsigned)rg,
                       (unsigned)eg, (unsigned)sg, (unsigned)st.gid);
    if (getgroups(0, NULL) != 0)
        return ep_fail(e, "privdrop", "supplementary groups remain");
#ifdef __linux__
    int any = caps_any(true);

    if (any == -1)
        return ep_fail_errno(e, "privdrop", "capget");
    if (any)
        return ep_fail(e, "privdrop", "capabilities remain after drop");
#endif
    return verify_no_regain(e);
}

#ifdef __linux__
static bool cap_effective(int cap)
{
    struct __user_cap_data_struct d[2] = {{0, 0, 0}, {0, 0, 0}};

    if (caps_get(d) == -1)
        return false;
    return (d[cap / 32].effective & (1U << (cap % 32))) != 0;
}

/* An ordinary user running a `make setcap` binary (cap_net_raw and
 * cap_net_admin only): there is no root to drop and no right to switch
 * users or chroot, so shed every capability and stay the invoking user.
 * Asking for a switch or a jail we cannot make is an error, never
 * silently skipped. */
static int shed_capabilities(struct ep_error *e)
{
    if (st.target_given || st.root_fd >= 0)
        return ep_fail(e, "privdrop",
                       "-u/-g/-C need root (or CAP_SETUID, CAP_SETGID, "
                       "CAP_SYS_CHROOT)");
    if (caps_clear() == -1)
        return ep_fail_errno(e, "privdrop", "capset");
    if (set_no_new_privs(e) == -1)
        return -1;
    if (caps_any(true) != 0)
        return ep_fail(e, "privdrop", "capabilities remain after drop");
    if (getuid() == 0 || geteuid() == 0 || setuid(0) != -1)
        return ep_fail(e, "privdrop", "uid 0 reachable after drop");
    return 0;
}
#endif

int privdrop_apply(struct ep_error *e)
{
    if (!st.prepared)
        return ep_fail(e, "privdrop", "privdrop_prepare was not called");
#ifdef __linux__
    if (geteuid() != 0 && is_privileged() && !cap_effective(CAP_SETUID))
        return shed_capabilities(e);
#endif
    if (!is_privileged()) {
        /* Nothing to drop, and chroot(2) needs privilege: a requested
         * chroot we cannot honour is an error, never silently skipped. */
        if (st.root_fd >= 0)
            return ep_fail(e, "privdrop", "chroot %s needs root", st.root);
        return set_no_new_privs(e);
    }
    if (do_drop(e) == -1 || set_no_new_privs(e) == -1)
        return -1;
    return verify_ids(e);
}
