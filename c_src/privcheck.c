#include "privcheck.h"

#include <stdio.h>
#include <unistd.h>
#ifdef __linux__
#include <linux/capability.h>
#include <sys/syscall.h>
#endif

#ifdef __linux__
/* The permitted set, not the effective one: a file granted `=ep` starts
 * with both, but a capability that is merely permitted can be raised at
 * will, and that is what libpcap's socket() needs. Raw syscall: glibc
 * declares no capget wrapper, and libcap2 is not a build dependency. */
static enum privcheck from_capabilities(void)
{
    struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct d[2] = {{0, 0, 0}, {0, 0, 0}};
    int raw, admin;

    if (syscall(SYS_capget, &h, d) == -1)
        return PRIVCHECK_NONE;
    raw = (d[CAP_NET_RAW / 32].permitted & (1U << (CAP_NET_RAW % 32))) != 0;
    admin =
        (d[CAP_NET_ADMIN / 32].permitted & (1U << (CAP_NET_ADMIN % 32))) != 0;
    if (raw && admin)
        return PRIVCHECK_CAPABILITIES;
    return raw || admin ? PRIVCHECK_PARTIAL : PRIVCHECK_NONE;
}
#endif

enum privcheck privcheck_query(void)
{
    if (geteuid() == 0)
        return PRIVCHECK_ROOT;
#ifdef __linux__
    return from_capabilities();
#else
    return PRIVCHECK_NONE;
#endif
}

const char *privcheck_name(enum privcheck p)
{
    switch (p) {
    case PRIVCHECK_ROOT: return "root";
    case PRIVCHECK_CAPABILITIES: return "capabilities";
    case PRIVCHECK_PARTIAL: return "partial";
    case PRIVCHECK_NONE: break;
    }
    return "none";
}

int privcheck_print(void)
{
    if (printf("%s\n", privcheck_name(privcheck_query())) < 0 ||
        fflush(stdout) == EOF)
        return 1;
    return 0;
}
