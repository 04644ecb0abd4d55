/* RESTRICT_PROCESS=capsicum (FreeBSD default): capability mode plus the
 * least rights on each descriptor we keep.
 *
 * After cap_enter() no global namespace is reachable: no open(2) by path,
 * no socket(2), no exec. Calls that need one fail with ECAPMODE (a host
 * name in a filter becomes a filter error, not a crash). Each fd is then
 * limited so that even our own fds cannot be misused:
 *
 *   stdin            read, poll, fstat, fcntl(F_GETFL/F_SETFL)
 *   stdout, stderr   write, poll, fstat, fcntl(F_GETFL/F_SETFL)
 *   bpf (live)       read, poll, fstat, fcntl, ioctl limited to the
 *                    requests libpcap makes after activate; write only
 *                    with inject
 *   any other fd     read, seek, poll, fstat (the savefile; anything we
 *                    inherited gets no more than that)
 *
 * Built and reasoned from capsicum(4), cap_rights_limit(2),
 * cap_ioctls_limit(2) and cap_fcntls_limit(2); not run by our CI. */
#ifndef __FreeBSD__
#error                                                                         \
    "restrict_capsicum.c is FreeBSD-only: pick RESTRICT_PROCESS=rlimit or seccomp"
#endif

#include "restrict.h"

#include <sys/types.h>
#include <sys/capsicum.h>
#include <sys/ioctl.h>
#include <sys/time.h>

#include <errno.h>
#include <fcntl.h>
#include <net/bpf.h>
#include <stdio.h>
#include <unistd.h>

const char *restrict_mode(void)
{
    return "capsicum";
}

int restrict_init(const struct restrict_ctx *c, struct ep_error *e)
{
    (void)c;
    (void)e;
    return 0;
}

/* ENOTCAPABLE/EBADF on an fd we do not have is fine for fd 2 only: a
 * port program may be started with stderr closed. */
static int limit(int fd, const cap_rights_t *r, uint32_t fcntls,
                 struct ep_error *e)
{
    char what[48];

    if (cap_rights_limit(fd, r) == -1 ||
        (fcntls != 0 && cap_fcntls_limit(fd, fcntls) == -1)) {
        if (errno == EBADF && fd == STDERR_FILENO)
            return 0;
        (void)snprintf(what, sizeof(what), "cap_rights_limit(fd %d)", fd);
        return ep_fail_errno(e, "restrict", what);
    }
    return 0;
}

#define FL (CAP_FCNTL_GETFL | CAP_FCNTL_SETFL)

static int limit_stdio(struct ep_error *e)
{
    cap_rights_t r;

    cap_rights_init(&r, CAP_READ, CAP_EVENT, CAP_FSTAT, CAP_FCNTL);
    if (limit(STDIN_FILENO, &r, FL, e) == -1)
        return -1;
    cap_rights_init(&r, CAP_WRITE, CAP_EVENT, CAP_FSTAT, CAP_FCNTL);
    if (limit(STDOUT_FILENO, &r, FL, e) == -1 ||
        limit(STDERR_FILENO, &r, FL, e) == -1)
        return -1;
    return 0;
}

/* ioctls on the bpf device after activate: pcap_stats (BIOCGSTATS),
 * pcap_setfilter (BIOCSETF, or BIOCSETFNR where libpcap uses it), and the
 * zero-copy buffer rotation of pcap_dispatch (BIOCROTZBUF). Any other
 * request fails with ENOTCAPABLE, i.e. a pcap error, not a crash. */
static const unsigned long bpf_ioctls[] = {
    BIOCGSTATS,
    BIOCSETF,
#ifdef BIOCSETFNR
    BIOCSETFNR,
#endif
#ifdef BIOCROTZBUF
    BIOCROTZBUF,
#endif
};

static int limit_bpf(const struct restrict_ctx *c, struct ep_error *e)
{
    cap_rights_t r;
    size_t n = sizeof(bpf_ioctls) / sizeof(bpf_ioctls[0]);

    cap_rights_init(&r, CAP_READ, CAP_EVENT, CAP_FSTAT, CAP_FCNTL, CAP_IOCTL);
    if (c->inject)
        cap_rights_set(&r, CAP_WRITE);
    if (limit(c->pcap_fd, &r, FL, e) == -1)
        return -1;
    if (cap_ioctls_limit(c->pcap_fd, bpf_ioctls, n) == -1)
        return ep_fail_errno(e, "restrict", "cap_ioctls_limit");
    return 0;
}

/* Every other open fd: the savefile (whose fd we are not told), or
 * anything inherited. Read-only at most. */
static int limit_others(const struct restrict_ctx *c, struct ep_error *e)
{
    cap_rights_t r;
    long max = sysconf(_SC_OPEN_MAX);

    cap_rights_init(&r, CAP_READ, CAP_SEEK, CAP_EVENT, CAP_FSTAT);
    for (int fd = STDERR_FILENO + 1; fd < max && fd < 65536; fd++) {
        if (fd == c->pcap_fd || fcntl(fd, F_GETFD) == -1)
            continue;
        if (limit(fd, &r, 0, e) == -1)
            return -1;
    }
    return 0;
}

int restrict_apply(const struct restrict_ctx *c, struct ep_error *e)
{
    if (limit_stdio(e) == -1 || limit_others(c, e) == -1)
        return -1;
    if (c->live && limit_bpf(c, e) == -1)
        return -1;
    /* Last: cap_enter cannot be undone, and failing before it leaves the
     * caller free to report the error on stdout. */
    if (cap_enter() == -1)
        return ep_fail_errno(e, "restrict", "cap_enter");
    return 0;
}
