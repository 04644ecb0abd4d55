/* privdrop: each case forks, because a drop cannot be undone. The child
 * reports failed checks through its exit status. Needs root. */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <grp.h>
#include <linux/capability.h>
#include <stdint.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ctest.h"
#include "jail.h"
#include "privdrop.h"

#define NOBODY 65534

static char tmpdir[64];

/* In a child: count failures, say which line failed on stderr. */
static int child_failed;
#define CCHECK(cond)                                                           \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "  child %s:%d: %s (errno %d)\n", __FILE__,        \
                    __LINE__, #cond, errno);                                   \
            child_failed++;                                                    \
        }                                                                      \
    } while (0)

/* Run fn in a child; return its exit status, or -1 if it did not exit. */
static int in_child(void (*fn)(void))
{
    int status;
    pid_t pid = fork();

    if (pid == 0) {
        child_failed = 0;
        fn();
        _exit(child_failed ? 1 : 0);
    }
    if (pid == -1 || waitpid(pid, &status, 0) != pid)
        return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static int caps_nonzero(void)
{
    struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct d[2];

    if (syscall(SYS_capget, &h, d) == -1)
        return -1;
    return (d[0].effective | d[0].permitted | d[1].effective |
            d[1].permitted) != 0;
}

/* The state every successful drop must leave behind. */
static void check_dropped(uid_t uid, gid_t gid)
{
    uid_t ru, eu, su;
    gid_t rg, eg, sg;

    CCHECK(getresuid(&ru, &eu, &su) == 0);
    CCHECK(ru == uid && eu == uid && su == uid);
    CCHECK(getresgid(&rg, &eg, &sg) == 0);
    CCHECK(rg == gid && eg == gid && sg == gid);
    CCHECK(getgroups(0, NULL) == 0);
    CCHECK(setuid(0) == -1 && errno == EPERM);
    CCHECK(setresuid(0, 0, 0) == -1);
    CCHECK(setgid(0) == -1);
    CCHECK(prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 1);
    CCHECK(caps_nonzero() == 0);
}

static void drop_chroot_child(void)
{
    struct privdrop_opts o = {"nobody", NULL, tmpdir, false, NULL};
    struct ep_error e = {0};
    struct stat sb;
    char cwd[64];

    CCHECK(privdrop_prepare(&o, &e) == 0);
    CCHECK(privdrop_apply(&e) == 0);
    if (e.reason)
        fprintf(stderr, "  %s: %s\n", e.reason, e.msg);
    check_dropped(NOBODY, NOBODY);
    CCHECK(stat("/etc/passwd", &sb) == -1 && errno == ENOENT);
    CCHECK(getcwd(cwd, sizeof(cwd)) != NULL && strcmp(cwd, "/") == 0);
}

static void test_drop_with_chroot(void)
{
    CHECK(in_child(drop_chroot_child) == 0);
}

static void drop_numeric_child(void)
{
    struct privdrop_opts o = {"12345", "23456", NULL, false, NULL};
    struct ep_error e = {0};
    struct stat sb;

    CCHECK(privdrop_prepare(&o, &e) == 0);
    CCHECK(privdrop_apply(&e) == 0);
    check_dropped(12345, 23456);
    /* No chroot asked for: the real root is still visible. */
    CCHECK(stat("/etc/passwd", &sb) == 0);
}

static void test_drop_numeric_ids(void)
{
    CHECK(in_child(drop_numeric_child) == 0);
}

static void default_user_child(void)
{
    struct privdrop_opts o = {NULL, NULL, NULL, false, NULL};
    struct ep_error e = {0};

    CCHECK(privdrop_prepare(&o, &e) == 0);
    CCHECK(privdrop_apply(&e) == 0);
    check_dropped(NOBODY, NOBODY);
}

static void test_default_user_is_nobody(void)
{
    CHECK(in_child(default_user_child) == 0);
}

static int prepare_reason(const char *user, const char *group, const char *dir,
                          const char **reason)
{
    struct privdrop_opts o = {user, group, dir, false, NULL};
    static struct ep_error e;

    memset(&e, 0, sizeof(e));
    int rc = privdrop_prepare(&o, &e);
    *reason = e.reason != NULL ? e.reason : "";
    return rc;
}

/* Issue 15, item 9: {group, "root"} named the user. */
static bool privdrop_msg_has(const char *user, const char *group,
                             const char *needle)
{
    struct privdrop_opts o = {user, group, NULL, false, NULL};
    struct ep_error e = {0};

    return privdrop_prepare(&o, &e) == -1 && strstr(e.msg, needle) != NULL;
}

static void test_prepare_errors(void)
{
    const char *r;
    char path[96];

    CHECK(prepare_reason("no-such-user-xyz", NULL, NULL, &r) == -1);
    CHECK(strcmp(r, "no_such_user") == 0);
    CHECK(prepare_reason("nobody", "no-such-group-xyz", NULL, &r) == -1);
    CHECK(strcmp(r, "no_such_group") == 0);
    /* A numeric uid without a passwd entry has no primary group. */
    CHECK(prepare_reason("54321", NULL, NULL, &r) == -1);
    CHECK(strcmp(r, "no_such_group") == 0);
    CHECK(prepare_reason("root", NULL, NULL, &r) == -1);
    CHECK(strcmp(r, "privdrop") == 0);
    CHECK(prepare_reason("nobody", "0", NULL, &r) == -1);
    CHECK(strcmp(r, "privdrop") == 0);
    CHECK(privdrop_msg_has("nobody", "root", "group root"));
    CHECK(!privdrop_msg_has("nobody", "root", "nobody"));
    CHECK(privdrop_msg_has("root", NULL, "user root"));
    CHECK(prepare_reason("nobody", NULL, "/nonexistent-epcap", &r) == -1);
    CHECK(strcmp(r, "chroot") == 0);
    CHECK(prepare_reason("nobody", NULL, "/etc/passwd", &r) == -1);
    CHECK(strcmp(r, "chroot") == 0);
    /* A chroot the dropped user could write into is refused. */
    snprintf(path, sizeof(path), "%s/ww", tmpdir);
    CHECK(mkdir(path, 0700) == 0 && chmod(path, 0777) == 0);
    CHECK(prepare_reason("nobody", NULL, path, &r) == -1);
    CHECK(strcmp(r, "chroot") == 0);
    CHECK(rmdir(path) == 0);
    CHECK(prepare_reason("nobody", "nogroup", tmpdir, &r) == 0);
}

static void apply_unprepared_child(void)
{
    struct privdrop_opts o = {"no-such-user-xyz", NULL, NULL, false, NULL};
    struct ep_error e = {0};

    CCHECK(privdrop_prepare(&o, &e) == -1);
    memset(&e, 0, sizeof(e));
    CCHECK(privdrop_apply(&e) == -1);
    CCHECK(e.reason != NULL && strcmp(e.reason, "privdrop") == 0);
}

static void test_apply_needs_prepare(void)
{
    CHECK(in_child(apply_unprepared_child) == 0);
}

/* Already unprivileged: no uid change, but NO_NEW_PRIVS is still set. */
static void unprivileged_child(void)
{
    struct privdrop_opts o = {"nobody", NULL, NULL, false, NULL};
    struct ep_error e = {0};
    uid_t ru, eu, su;

    CCHECK(setgroups(0, NULL) == 0 && setresgid(4242, 4242, 4242) == 0);
    CCHECK(setresuid(4242, 4242, 4242) == 0);
    CCHECK(privdrop_prepare(&o, &e) == 0);
    CCHECK(privdrop_apply(&e) == 0);
    CCHECK(getresuid(&ru, &eu, &su) == 0 && ru == 4242 && su == 4242);
    CCHECK(prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 1);
}

static void test_unprivileged_sets_nnp(void)
{
    CHECK(in_child(unprivileged_child) == 0);
}

static void unprivileged_chroot_child(void)
{
    struct privdrop_opts o = {"nobody", NULL, tmpdir, false, NULL};
    struct ep_error e = {0};

    CCHECK(privdrop_prepare(&o, &e) == 0);
    CCHECK(setresuid(4242, 4242, 4242) == 0);
    CCHECK(privdrop_apply(&e) == -1);
    CCHECK(e.reason != NULL && strcmp(e.reason, "privdrop") == 0);
}

static void test_unprivileged_chroot_fails(void)
{
    CHECK(in_child(unprivileged_chroot_child) == 0);
}

/* Become uid 4242 holding the capabilities in `keep`, permitted and (if
 * `eff`) effective: the state a setcap'd binary starts in. */
static int become_caps(uint32_t keep, bool eff)
{
    struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct d[2] = {{0}};

    if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) == -1 ||
        setresuid(4242, 4242, 4242) == -1)
        return -1;
    d[0].permitted = keep;
    d[0].effective = eff ? keep : 0;
    return (int)syscall(SYS_capset, &h, d);
}

static int become_cap_only(uint32_t keep)
{
    return become_caps(keep, true);
}

#define CAPBIT(c) (1u << (c))

static void cap_only_child(void)
{
    struct privdrop_opts o = {"nobody", NULL, tmpdir, false, NULL};
    struct ep_error e = {0};

    CCHECK(privdrop_prepare(&o, &e) == 0);
    CCHECK(become_cap_only(CAPBIT(CAP_SETUID) | CAPBIT(CAP_SETGID) |
                           CAPBIT(CAP_SYS_CHROOT) | CAPBIT(CAP_NET_RAW)) == 0);
    CCHECK(geteuid() == 4242 && caps_nonzero() == 1);
    CCHECK(privdrop_apply(&e) == 0);
    if (e.reason)
        fprintf(stderr, "  %s: %s\n", e.reason, e.msg);
    /* setresuid alone keeps capabilities here: privdrop must clear them. */
    check_dropped(NOBODY, NOBODY);
}

static void test_cap_only_is_privileged(void)
{
    CHECK(in_child(cap_only_child) == 0);
}

/* A `make setcap` port (cap_net_raw, cap_net_admin) run by an ordinary
 * user asked for a switch it cannot make: fail closed. */
static void cap_no_setuid_child(void)
{
    struct privdrop_opts o = {"nobody", NULL, NULL, false, NULL};
    struct ep_error e = {0};

    CCHECK(privdrop_prepare(&o, &e) == 0);
    CCHECK(become_cap_only(CAPBIT(CAP_NET_RAW)) == 0);
    CCHECK(privdrop_apply(&e) == -1);
    CCHECK(e.reason != NULL && strcmp(e.reason, "privdrop") == 0);
}

static void test_setcap_with_user_fails(void)
{
    CHECK(in_child(cap_no_setuid_child) == 0);
}

/* The same port with no -u/-g/-C: it sheds every capability and stays the
 * invoking user. */
static void setcap_shed_child(void)
{
    struct privdrop_opts o = {NULL, NULL, NULL, false, NULL};
    struct ep_error e = {0};
    uid_t ru, eu, su;

    CCHECK(privdrop_prepare(&o, &e) == 0);
    CCHECK(become_cap_only(CAPBIT(CAP_NET_RAW) | CAPBIT(CAP_NET_ADMIN)) == 0);
    CCHECK(caps_nonzero() == 1);
    CCHECK(privdrop_apply(&e) == 0);
    CCHECK(caps_nonzero() == 0);
    CCHECK(getresuid(&ru, &eu, &su) == 0 && ru == 4242 && eu == 4242 &&
           su == 4242);
    CCHECK(setuid(0) == -1 && prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 1);
}

static void test_setcap_sheds_caps(void)
{
    CHECK(in_child(setcap_shed_child) == 0);
}

static void setcap_chroot_child(void)
{
    struct privdrop_opts o = {NULL, NULL, tmpdir, false, NULL};
    struct ep_error e = {0};

    CCHECK(privdrop_prepare(&o, &e) == 0);
    CCHECK(become_cap_only(CAPBIT(CAP_NET_RAW) | CAPBIT(CAP_NET_ADMIN)) == 0);
    CCHECK(privdrop_apply(&e) == -1);
    CCHECK(e.reason != NULL && strcmp(e.reason, "privdrop") == 0);
    CCHECK(caps_nonzero() == 1); /* refused before changing anything */
}

/* Permitted but not effective still counts: it could be raised. */
static void permitted_only_child(void)
{
    struct privdrop_opts o = {NULL, NULL, NULL, false, NULL};
    struct ep_error e = {0};

    CCHECK(privdrop_prepare(&o, &e) == 0);
    CCHECK(become_caps(CAPBIT(CAP_NET_RAW) | CAPBIT(CAP_SETUID), false) == 0);
    CCHECK(caps_nonzero() == 1);
    CCHECK(privdrop_apply(&e) == 0);
    CCHECK(caps_nonzero() == 0);
}

static void test_permitted_caps_are_shed(void)
{
    CHECK(in_child(permitted_only_child) == 0);
}

/* euid 4242 with root still in the saved uid: seteuid(0) would work, so
 * this must not pass for "unprivileged". */
static void saved_root_child(void)
{
    struct privdrop_opts o = {NULL, NULL, NULL, false, NULL};
    struct ep_error e = {0};

    CCHECK(privdrop_prepare(&o, &e) == 0);
    CCHECK(setresuid(4242, 4242, 0) == 0);
    if (privdrop_apply(&e) == 0)
        CCHECK(setuid(0) == -1 && seteuid(0) == -1 && caps_nonzero() == 0);
    else
        CCHECK(strcmp(e.reason, "privdrop") == 0);
}

static void test_saved_root_uid_not_kept(void)
{
    CHECK(in_child(saved_root_child) == 0);
}

static void test_setcap_with_chroot_fails(void)
{
    CHECK(in_child(setcap_chroot_child) == 0);
}

static int jail_reason(const char *dir, bool create, char *msg, size_t len)
{
    struct ep_error e = {0};
    int fd = jail_open(dir, create, &e);

    if (fd >= 0) {
        (void)close(fd);
        return 0;
    }
    (void)snprintf(msg, len, "%s", e.msg);
    return e.reason != NULL && strcmp(e.reason, "chroot") == 0 ? -1 : -2;
}

static void path_in(char *buf, size_t len, const char *name)
{
    (void)snprintf(buf, len, "%s/%s", tmpdir, name);
}

static void test_jail_rejects(void)
{
    char p[128], q[128], m[512];

    CHECK(jail_reason(tmpdir, false, m, sizeof(m)) == 0);
    CHECK(jail_reason("/", false, m, sizeof(m)) == -1);
    CHECK(strstr(m, "no jail") != NULL);
    CHECK(jail_reason("/./", false, m, sizeof(m)) == -1);
    CHECK(jail_reason("/tmp", false, m, sizeof(m)) == -1); /* 1777 */
    CHECK(jail_reason("/etc/passwd", false, m, sizeof(m)) == -1);
    /* Relative paths and kernel trees (issue 24, defect 7). */
    CHECK(jail_reason("run/epcap", false, m, sizeof(m)) == -1);
    CHECK(strstr(m, "absolute") != NULL);
    CHECK(jail_reason(".", false, m, sizeof(m)) == -1);
    CHECK(jail_reason("/proc", false, m, sizeof(m)) == -1);
    CHECK(strstr(m, "kernel") != NULL);
    CHECK(jail_reason("/dev", false, m, sizeof(m)) == -1);
    CHECK(jail_reason("/sys/kernel", false, m, sizeof(m)) == -1);
    CHECK(jail_reason("/proc/self/", false, m, sizeof(m)) == -1);
    path_in(p, sizeof(p), "missing");
    CHECK(jail_reason(p, false, m, sizeof(m)) == -1);
    /* A symlink is resolved, and what it leads to is checked. */
    path_in(p, sizeof(p), "real");
    path_in(q, sizeof(q), "link");
    CHECK(mkdir(p, 0755) == 0 && symlink(p, q) == 0);
    CHECK(jail_reason(p, false, m, sizeof(m)) == 0);
    CHECK(jail_reason(q, false, m, sizeof(m)) == 0);
    CHECK(chmod(p, 0777) == 0 && jail_reason(q, false, m, sizeof(m)) == -1);
    CHECK(chmod(p, 0755) == 0);
    /* A good directory below a group-writable or user-owned one. */
    CHECK(chmod(p, 0775) == 0);
    path_in(q, sizeof(q), "real/sub");
    CHECK(mkdir(q, 0755) == 0);
    CHECK(jail_reason(q, false, m, sizeof(m)) == -1);
    CHECK(chmod(p, 0755) == 0 && jail_reason(q, false, m, sizeof(m)) == 0);
    CHECK(chown(p, NOBODY, NOBODY) == 0);
    CHECK(jail_reason(q, false, m, sizeof(m)) == -1);
    CHECK(rmdir(q) == 0 && rmdir(p) == 0);
    path_in(q, sizeof(q), "link");
    CHECK(unlink(q) == 0);
}

static void test_jail_creates(void)
{
    char p[128], m[512];
    struct stat sb;
    mode_t old = umask(077);

    path_in(p, sizeof(p), "new");
    CHECK(jail_reason(p, true, m, sizeof(m)) == 0);
    CHECK(stat(p, &sb) == 0 && S_ISDIR(sb.st_mode));
    CHECK(sb.st_uid == 0 && sb.st_gid == 0 && (sb.st_mode & 07777) == 0755);
    /* Existing: opened and checked like any other. */
    CHECK(chmod(p, 0777) == 0);
    CHECK(jail_reason(p, true, m, sizeof(m)) == -1);
    CHECK(rmdir(p) == 0);
    (void)umask(old);
}

static char jail_a[128], jail_moved[128], jail_evil[128];

/* The jail is renamed away and a user-writable directory takes its name
 * (through a symlink) between prepare and apply: we must still end up in
 * the directory that was checked. */
static void swap_child(void)
{
    struct privdrop_opts o = {"nobody", NULL, jail_a, false, NULL};
    struct ep_error e = {0};
    struct stat sb;

    CCHECK(privdrop_prepare(&o, &e) == 0);
    CCHECK(rename(jail_a, jail_moved) == 0);
    CCHECK(symlink(jail_evil, jail_a) == 0);
    CCHECK(privdrop_apply(&e) == 0);
    CCHECK(stat("/marker", &sb) == 0);
    CCHECK(stat("/evil-marker", &sb) == -1 && errno == ENOENT);
}

static void test_jail_swap_after_prepare(void)
{
    char m1[160], m2[160];

    path_in(jail_a, sizeof(jail_a), "jail");
    path_in(jail_moved, sizeof(jail_moved), "jail.moved");
    path_in(jail_evil, sizeof(jail_evil), "evil");
    (void)snprintf(m1, sizeof(m1), "%s/marker", jail_a);
    (void)snprintf(m2, sizeof(m2), "%s/evil-marker", jail_evil);
    CHECK(mkdir(jail_a, 0755) == 0 && mkdir(jail_evil, 0777) == 0);
    CHECK(chmod(jail_evil, 0777) == 0);
    CHECK(close(open(m1, O_CREAT | O_WRONLY, 0644)) == 0);
    CHECK(close(open(m2, O_CREAT | O_WRONLY, 0644)) == 0);
    CHECK(in_child(swap_child) == 0);
    (void)unlink(jail_a);
    (void)unlink(m2);
    (void)rmdir(jail_evil);
    (void)snprintf(m1, sizeof(m1), "%s/marker", jail_moved);
    (void)unlink(m1);
    (void)rmdir(jail_moved);
}

/* Root without -C: JAIL_DEFAULT_DIR, made if missing, then entered. */
static void default_jail_child(void)
{
    struct privdrop_opts o = {NULL, NULL, NULL, true, NULL};
    struct ep_error e = {0};
    struct stat sb;

    CCHECK(privdrop_prepare(&o, &e) == 0);
    CCHECK(stat(JAIL_DEFAULT_DIR, &sb) == 0 && sb.st_uid == 0);
    CCHECK((sb.st_mode & 07777) == 0755);
    CCHECK(privdrop_apply(&e) == 0);
    check_dropped(NOBODY, NOBODY);
    CCHECK(stat("/etc/passwd", &sb) == -1 && errno == ENOENT);
}

static void test_default_jail(void)
{
    CHECK(in_child(default_jail_child) == 0);
}

int main(void)
{
    if (geteuid() != 0) {
        printf("test_privdrop: skipped (needs root)\n");
        return 0;
    }
    /* Under /run, not /tmp: every component of a jail must be root-owned
     * and not group/other writable, and /tmp is 1777. */
    snprintf(tmpdir, sizeof(tmpdir), "/run/epcap-pd.XXXXXX");
    /* 0755: the dropped user may search it, so a failed stat inside
     * proves the chroot (ENOENT), not a permission problem. */
    if (mkdtemp(tmpdir) == NULL || chmod(tmpdir, 0755) == -1) {
        perror("mkdtemp");
        return 1;
    }
    RUN(test_prepare_errors);
    RUN(test_drop_with_chroot);
    RUN(test_drop_numeric_ids);
    RUN(test_default_user_is_nobody);
    RUN(test_apply_needs_prepare);
    RUN(test_unprivileged_sets_nnp);
    RUN(test_unprivileged_chroot_fails);
    RUN(test_cap_only_is_privileged);
    RUN(test_setcap_with_user_fails);
    RUN(test_setcap_sheds_caps);
    RUN(test_setcap_with_chroot_fails);
    RUN(test_permitted_caps_are_shed);
    RUN(test_saved_root_uid_not_kept);
    RUN(test_jail_rejects);
    RUN(test_jail_creates);
    RUN(test_jail_swap_after_prepare);
    RUN(test_default_jail);
    (void)rmdir(tmpdir);
    CTEST_END("test_privdrop");
}
