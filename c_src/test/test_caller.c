/* caller: who asked for this run (sudo, set-user-ID, capabilities, nobody),
 * and acting as them. Cases that give up root run in a child. Needs root. */
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "caller.h"
#include "ctest.h"

#define NOBODY 65534

static char secret_dir[] = "/tmp/epcap-caller-XXXXXX";

static int in_child(int (*fn)(void))
{
    int status = -1;
    pid_t pid = fork();

    if (pid == 0)
        _exit(fn());
    if (pid < 0 || waitpid(pid, &status, 0) != pid)
        return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 100;
}

static void test_self_when_root(void)
{
    struct caller c;
    struct ep_error e = {0};

    (void)unsetenv("SUDO_UID");
    CHECK(caller_identify(&c, &e) == 0);
    CHECK(c.kind == CALLER_SELF && !caller_elevated(&c));
    CHECK(c.uid == 0);
    /* Nothing to switch, nothing to shed. */
    CHECK(caller_enter(&c, &e) == 0 && geteuid() == 0);
    CHECK(caller_leave(&c, &e) == 0 && geteuid() == 0);
}

static void test_sudo_uid(void)
{
    struct caller c;
    struct ep_error e = {0};
    char path[128];
    int fd;

    CHECK(setenv("SUDO_UID", "65534", 1) == 0);
    CHECK(caller_identify(&c, &e) == 0);
    CHECK(c.kind == CALLER_SUDO && caller_elevated(&c));
    CHECK(c.uid == NOBODY);
    /* As the caller, root's 0700 directory is closed... */
    CHECK(caller_enter(&c, &e) == 0);
    CHECK(geteuid() == NOBODY);
    (void)snprintf(path, sizeof(path), "%s/made", secret_dir);
    fd = open(path, O_CREAT | O_EXCL | O_WRONLY, 0600);
    CHECK(fd < 0 && errno == EACCES);
    if (fd >= 0)
        (void)close(fd);
    /* ...and root's rights come back after. */
    CHECK(caller_leave(&c, &e) == 0);
    CHECK(geteuid() == 0 && getegid() == 0);
    CHECK(unsetenv("SUDO_UID") == 0);
}

static void test_sudo_uid_bad(void)
{
    struct caller c;
    struct ep_error e = {0};

    CHECK(setenv("SUDO_UID", "65534x", 1) == 0);
    CHECK(caller_identify(&c, &e) == -1 && strcmp(e.reason, "privdrop") == 0);
    CHECK(setenv("SUDO_UID", "4000000001", 1) == 0);
    CHECK(caller_identify(&c, &e) == -1);
    /* SUDO_UID=0: root ran sudo, root is the caller. */
    CHECK(setenv("SUDO_UID", "0", 1) == 0);
    CHECK(caller_identify(&c, &e) == 0 && c.kind == CALLER_SELF);
    CHECK(unsetenv("SUDO_UID") == 0);
}

static int become_sudo_child(void)
{
    struct caller c;
    struct ep_error e = {0};

    if (setenv("SUDO_UID", "65534", 1) != 0 || caller_identify(&c, &e) < 0)
        return 2;
    if (caller_become(&c, &e) < 0)
        return 3;
    if (getuid() != NOBODY || geteuid() != NOBODY || setuid(0) != -1)
        return 4;
    return prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 1 ? 0 : 5;
}

static void test_become_sudo(void)
{
    CHECK(in_child(become_sudo_child) == 0);
}

/* A `make setcap` port run by a user: its ids are the user's; becoming
 * the caller sheds the capabilities. */
static int become_caps_child(void)
{
    struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct d[2];
    struct caller c;
    struct ep_error e = {0};
    unsigned want = (1U << CAP_NET_RAW) | (1U << CAP_NET_ADMIN);

    (void)unsetenv("SUDO_UID");
    if (prctl(PR_SET_KEEPCAPS, 1L, 0L, 0L, 0L) == -1 ||
        setresgid(NOBODY, NOBODY, NOBODY) == -1 ||
        setresuid(NOBODY, NOBODY, NOBODY) == -1)
        return 2;
    memset(d, 0, sizeof(d));
    d[0].permitted = d[0].effective = want;
    if (syscall(SYS_capset, &h, d) == -1)
        return 3;
    if (caller_identify(&c, &e) < 0 || c.kind != CALLER_CAPS)
        return 4;
    if (caller_become(&c, &e) < 0)
        return 5;
    memset(d, 0, sizeof(d));
    if (syscall(SYS_capget, &h, d) == -1)
        return 6;
    return (d[0].permitted | d[0].effective) == 0 ? 0 : 7;
}

static void test_become_caps(void)
{
    CHECK(in_child(become_caps_child) == 0);
}

int main(void)
{
    if (geteuid() != 0) {
        printf("test_caller: 0 passed, 0 failed (needs root)\n");
        return 0;
    }
    if (mkdtemp(secret_dir) == NULL || chmod(secret_dir, 0700) != 0)
        return 1;
    RUN(test_self_when_root);
    RUN(test_sudo_uid);
    RUN(test_sudo_uid_bad);
    RUN(test_become_sudo);
    RUN(test_become_caps);
    (void)rmdir(secret_dir);
    CTEST_END("test_caller");
}
