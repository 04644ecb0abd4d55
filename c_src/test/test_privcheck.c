/* privcheck: what -Q answers for root, for a user holding both capture
 * capabilities, one of them, or none. Each non-root case runs in a child,
 * because giving up root cannot be undone. Needs root. */
#include <linux/capability.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ctest.h"
#include "privcheck.h"

#define NOBODY 65534
#define BIT(c) (1U << ((c) % 32))

/* In a child: become nobody keeping exactly `caps` (bits of the first
 * capability word) permitted, exit 0 if privcheck answers `want`. */
static int child_answers(unsigned caps, enum privcheck want)
{
    struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct d[2];

    if (prctl(PR_SET_KEEPCAPS, 1L, 0L, 0L, 0L) == -1 ||
        setresgid(NOBODY, NOBODY, NOBODY) == -1 ||
        setresuid(NOBODY, NOBODY, NOBODY) == -1)
        return 2;
    memset(d, 0, sizeof(d));
    d[0].permitted = caps;
    d[0].effective = caps;
    if (syscall(SYS_capset, &h, d) == -1)
        return 3;
    return privcheck_query() == want ? 0 : 1;
}

static int in_child(unsigned caps, enum privcheck want)
{
    int status = -1;
    pid_t pid = fork();

    if (pid == 0)
        _exit(child_answers(caps, want));
    if (pid < 0 || waitpid(pid, &status, 0) != pid)
        return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void root_is_root(void)
{
    CHECK(geteuid() == 0);
    CHECK(privcheck_query() == PRIVCHECK_ROOT);
    CHECK(strcmp(privcheck_name(PRIVCHECK_ROOT), "root") == 0);
}

static void both_capabilities(void)
{
    CHECK(in_child(BIT(CAP_NET_RAW) | BIT(CAP_NET_ADMIN),
                   PRIVCHECK_CAPABILITIES) == 0);
    CHECK(strcmp(privcheck_name(PRIVCHECK_CAPABILITIES), "capabilities") == 0);
}

static void one_capability(void)
{
    CHECK(in_child(BIT(CAP_NET_RAW), PRIVCHECK_PARTIAL) == 0);
    CHECK(in_child(BIT(CAP_NET_ADMIN), PRIVCHECK_PARTIAL) == 0);
    CHECK(strcmp(privcheck_name(PRIVCHECK_PARTIAL), "partial") == 0);
}

static void no_capability(void)
{
    CHECK(in_child(0, PRIVCHECK_NONE) == 0);
    CHECK(in_child(BIT(CAP_SETUID), PRIVCHECK_NONE) == 0);
    CHECK(strcmp(privcheck_name(PRIVCHECK_NONE), "none") == 0);
}

int main(void)
{
    RUN(root_is_root);
    RUN(both_capabilities);
    RUN(one_capability);
    RUN(no_capability);
    CTEST_END("privcheck");
}
