/* RESTRICT_PROCESS=pledge (OpenBSD default): pledge(2) after the drop.
 *
 *   "stdio"  read/write/poll on the fds we hold, malloc, time, exit;
 *            pcap_inject is a write(2) on the bpf fd, covered here
 *   "bpf"    only for a live handle: the BIOCGSTATS ioctl (pcap_stats)
 *   "error"  a violation fails with ENOSYS instead of killing us. Nothing
 *            outside the promises can succeed either way; what "error"
 *            buys is that a user's run-time filter change (BIOCSETF, which
 *            no promise allows) or a host name in a filter (DNS, no "dns"
 *            promise) becomes {error, {filter, Msg}} and not a dead port.
 *
 * No execpromises: execve is not promised, so there is nothing to exec.
 * Built and reasoned from pledge(2); not run by our CI (Linux only). */
#ifndef __OpenBSD__
#error                                                                         \
    "restrict_pledge.c is OpenBSD-only: pick RESTRICT_PROCESS=rlimit or seccomp"
#endif

#include "restrict.h"

#include <errno.h>
#include <unistd.h>

const char *restrict_mode(void)
{
    return "pledge";
}

int restrict_init(const struct restrict_ctx *c, struct ep_error *e)
{
    (void)c;
    (void)e;
    return 0;
}

int restrict_apply(const struct restrict_ctx *c, struct ep_error *e)
{
    const char *promises = c->live ? "stdio bpf error" : "stdio error";

    if (pledge(promises, NULL) == -1)
        return ep_fail_errno(e, "restrict", "pledge");
    return 0;
}
