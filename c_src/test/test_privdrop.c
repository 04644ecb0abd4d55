/* privdrop: each case forks, because a drop cannot be undone. The child
 * reports failed checks through its exit status. Needs root. */
#include <errno.h>
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
    struct privdrop_opts o = {"nobody", NULL, tmpdir};
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
    struct privdrop_opts o = {"12345", "23456", NULL};
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
    struct privdrop_opts o = {NULL, NULL, NULL};
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
    struct privdrop_opts o = {user, group, dir};
    static struct ep_error e;

    memset(&e, 0, sizeof(e));
    int rc = privdrop_prepare(&o, &e);
    *reason = e.reason != NULL ? e.reason : "";
    return rc;
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
    struct privdrop_opts o = {"no-such-user-xyz", NULL, NULL};
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
    struct privdrop_opts o = {"nobody", NULL, NULL};
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
    struct privdrop_opts o = {"nobody", NULL, tmpdir};
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
    struct privdrop_opts o = {"nobody", NULL, tmpdir};
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
    struct privdrop_opts o = {"nobody", NULL, NULL};
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
    struct privdrop_opts o = {NULL, NULL, NULL};
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
    struct privdrop_opts o = {NULL, NULL, tmpdir};
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
    struct privdrop_opts o = {NULL, NULL, NULL};
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
    struct privdrop_opts o = {NULL, NULL, NULL};
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

int main(void)
{
    if (geteuid() != 0) {
        printf("test_privdrop: skipped (needs root)\n");
        return 0;
    }
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/epcap-pd.XXXXXX");
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
    (void)rmdir(tmpdir);
    CTEST_END("test_privdrop");
}
