/* RESTRICT_PROCESS=seccomp (Linux default): a static allow-list.
 *
 * Every syscall not listed kills the whole process (SIGSYS), or traps in a
 * -DSANDBOX_DEBUG build so the offender can be named. Calls that libc or
 * libpcap make as *probes* (opening /etc/hosts, connecting to nscd, a DNS
 * socket when a filter names a host) fail with EACCES instead, so that
 * pcap_compile reports an error and the capture goes on.
 *
 * Each entry names its caller. The list was found by strace -f of
 * c_src/test/test_restrict.c and of priv/epcap doing the port's work on lo
 * and on a savefile; see doc/security.md. Changing it? Give the reason in
 * the comment and in the commit. */
#include "restrict.h"
#include "rtguard.h"
#include "saveopts.h"

#include "inject.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/time.h>
#include <linux/futex.h>
#include <linux/sched.h>
#include <linux/if_packet.h>
#include <seccomp.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/ioctl.h>
#include <linux/sockios.h>
#include <unistd.h>

/* libseccomp adds the native arch on its own; we insist that it is the
 * one we were compiled for, and refuse to build for anything unlisted. */
#if defined(__x86_64__) && defined(__ILP32__)
#error "seccomp: x32 is not supported; build with RESTRICT_PROCESS=rlimit"
#elif defined(__x86_64__)
#define EP_SCMP_ARCH SCMP_ARCH_X86_64
#elif defined(__aarch64__)
#define EP_SCMP_ARCH SCMP_ARCH_AARCH64
#elif defined(__i386__)
#define EP_SCMP_ARCH SCMP_ARCH_X86
#elif defined(__arm__)
#define EP_SCMP_ARCH SCMP_ARCH_ARM
#elif defined(__riscv) && __riscv_xlen == 64
#define EP_SCMP_ARCH SCMP_ARCH_RISCV64
#elif defined(__powerpc64__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define EP_SCMP_ARCH SCMP_ARCH_PPC64LE
#elif defined(__s390x__)
#define EP_SCMP_ARCH SCMP_ARCH_S390X
#else
#error "seccomp: unknown architecture; add it here after testing"
#endif

#ifdef SANDBOX_DEBUG
#define DENY SCMP_ACT_TRAP
#else
#define DENY SCMP_ACT_KILL_PROCESS
#endif
#define PROBE SCMP_ACT_ERRNO(EACCES)

/* Built in restrict_init, loaded in restrict_apply. */
static scmp_filter_ctx filter;

/* Collects the first failure so the rule lists read as plain lists. */
struct builder {
    scmp_filter_ctx f;
    int rc;
    const char *failed;
};

static void rule(struct builder *b, uint32_t act, int nr, const char *name,
                 unsigned n, const struct scmp_arg_cmp *cmp)
{
    int rc;

    if (b->rc < 0)
        return;
    rc = seccomp_rule_add_array(b->f, act, nr, n, cmp);
    if (rc < 0) {
        b->rc = rc;
        b->failed = name;
    }
}

/* Argument tests with every field set (libseccomp's SCMP_Ax macros leave
 * datum_b implicit, which clang's -Wextra rejects). Integers that are C
 * ints are compared as uint32_t, so a negative constant cannot become a
 * sign-extended 64-bit value. */
#define ARG_EQ(i, v)   ((struct scmp_arg_cmp){(i), SCMP_CMP_EQ, (uint32_t)(v), 0})
#define ARG_EQ64(i, v) ((struct scmp_arg_cmp){(i), SCMP_CMP_EQ, (v), 0})
#define ARG_NE(i, v)   ((struct scmp_arg_cmp){(i), SCMP_CMP_NE, (uint32_t)(v), 0})
#define ARG_LE(i, v)   ((struct scmp_arg_cmp){(i), SCMP_CMP_LE, (uint32_t)(v), 0})
/* (arg & mask) == v */
#define ARG_MASKED_EQ(i, mask, v)                                              \
    ((struct scmp_arg_cmp){(i), SCMP_CMP_MASKED_EQ, (uint32_t)(mask),          \
                           (uint32_t)(v)})

#define CMPS(...) ((const struct scmp_arg_cmp[]){__VA_ARGS__})
#define NCMP(...) (sizeof(CMPS(__VA_ARGS__)) / sizeof(struct scmp_arg_cmp))
/* RULE(b, action, syscall), or RULE_IF(b, action, syscall, ARG_...(...)...) */
#define RULE(b, act, sys) rule(b, act, SCMP_SYS(sys), #sys, 0, NULL)
#define RULE_IF(b, act, sys, ...)                                              \
    rule(b, act, SCMP_SYS(sys), #sys, NCMP(__VA_ARGS__), CMPS(__VA_ARGS__))

const char *restrict_mode(void)
{
    return "seccomp";
}

/* The event loop's own descriptors: stdin, stdout, stderr. */
static void rules_stdio(struct builder *b)
{
    /* event loop: control frames on fd 0; libpcap: the savefile, and the
     * breakloop eventfd it polls beside a live socket. No new fd can be
     * had (open/socket are denied), so read is left open to all fds. */
    RULE(b, SCMP_ACT_ALLOW, read);
    /* savefile.c: a savefile's records at an offset (read is open to all
     * fds already; this reads no more), and giving the rest back to
     * libpcap's stream (fseeko) */
    RULE(b, SCMP_ACT_ALLOW, pread64);
    RULE(b, SCMP_ACT_ALLOW, lseek);
    /* wire.c: frames to the port on fd 1; diagnostics on fd 2 */
    RULE_IF(b, SCMP_ACT_ALLOW, write, ARG_EQ(0, 1));
    RULE_IF(b, SCMP_ACT_ALLOW, write, ARG_EQ(0, 2));
    RULE_IF(b, SCMP_ACT_ALLOW, writev, ARG_EQ(0, 1));
    RULE_IF(b, SCMP_ACT_ALLOW, writev, ARG_EQ(0, 2));
    /* event loop: wait on stdin + capture fd; libpcap's own wait for the
     * ring (poll on x86_64, ppoll where poll does not exist) */
#ifdef __NR_poll
    RULE(b, SCMP_ACT_ALLOW, poll);
#endif
    RULE(b, SCMP_ACT_ALLOW, ppoll);
    /* pcap_setfilter drains with O_NONBLOCK toggled; pcap_setnonblock */
    RULE_IF(b, SCMP_ACT_ALLOW, fcntl, ARG_EQ(1, F_GETFL));
    RULE_IF(b, SCMP_ACT_ALLOW, fcntl, ARG_EQ(1, F_SETFL));
    /* filtercc.c: the CPU timer of a compile that has no child to run in
     * (F_SETOWN for its SIGIO is set before the filter) */
    RULE_IF(b, SCMP_ACT_ALLOW, setitimer, ARG_EQ(0, ITIMER_PROF));
    /* pcap_close, exit paths */
    RULE(b, SCMP_ACT_ALLOW, close);
    /* fstat on a held fd. glibc >= 2.33 calls newfstatat(fd, "",
     * AT_EMPTY_PATH) instead, which a filter cannot tell from a path
     * lookup (it cannot read the string): that one is a probe (below). */
    RULE(b, SCMP_ACT_ALLOW, fstat);
    /* wire.c: how much of our output the VM has yet to read */
    RULE_IF(b, SCMP_ACT_ALLOW, ioctl, ARG_EQ(0, 1), ARG_EQ(1, FIONREAD));
    /* ... when fd 1 is the output socket (-O, outsock.h) */
    RULE_IF(b, SCMP_ACT_ALLOW, ioctl, ARG_EQ(0, 1), ARG_EQ(1, TIOCOUTQ));
    /* stdio's isatty() probe on a pipe: answer "not a tty" */
    RULE_IF(b, SCMP_ACT_ERRNO(ENOTTY), ioctl, ARG_EQ(1, TCGETS));
}

/* glibc malloc and libpcap's ring; never executable memory. */
static void rules_memory(struct builder *b)
{
    /* malloc: heap growth */
    RULE(b, SCMP_ACT_ALLOW, brk);
    /* malloc: large chunks; pcap_close: the ring */
    RULE_IF(b, SCMP_ACT_ALLOW, mmap, ARG_MASKED_EQ(2, PROT_EXEC, 0));
    RULE_IF(b, SCMP_ACT_ALLOW, mprotect, ARG_MASKED_EQ(2, PROT_EXEC, 0));
    RULE(b, SCMP_ACT_ALLOW, munmap);
    /* realloc of large buffers; free trimming */
    RULE(b, SCMP_ACT_ALLOW, mremap);
    RULE(b, SCMP_ACT_ALLOW, madvise);
}

/* Process life: exit, signals we cause ourselves, time. */
static void rules_process(struct builder *b)
{
    /* exit(), return from main, _exit() */
    RULE(b, SCMP_ACT_ALLOW, exit_group);
    RULE(b, SCMP_ACT_ALLOW, exit);
    /* returning from a signal handler; resuming poll after SIGSTOP */
    RULE(b, SCMP_ACT_ALLOW, rt_sigreturn);
    RULE(b, SCMP_ACT_ALLOW, restart_syscall);
    /* glibc: abort(), and critical sections around stdio */
    RULE(b, SCMP_ACT_ALLOW, rt_sigprocmask);
    /* abort() and the stack protector raise SIGABRT at ourselves: let it
     * through, so a crash reads as SIGABRT and not as a sandbox kill */
    RULE(b, SCMP_ACT_ALLOW, getpid);
    RULE(b, SCMP_ACT_ALLOW, gettid);
    RULE_IF(b, SCMP_ACT_ALLOW, tgkill, ARG_EQ(0, getpid()), ARG_EQ(2, SIGABRT));
    /* rtguard.c (and procenv.c's SIGXCPU handler through it): a port
     * that used more of its CPU than it may gives its raised priority
     * back: the ordinary policy, no other policy and no other process */
    RULE_IF(b, SCMP_ACT_ALLOW, sched_setscheduler, ARG_EQ(0, 0),
            ARG_EQ(1, SCHED_NORMAL | SCHED_RESET_ON_FORK));
    /* ... and the nice value it had before it raised it, no other (one
     * below the current is refused without CAP_SYS_NICE anyway), and
     * only when it raised one. glibc passes the int sign-extended: the
     * low 32 bits are compared. */
    if (rtguard_armed())
        RULE_IF(b, SCMP_ACT_ALLOW, setpriority, ARG_EQ(0, PRIO_PROCESS),
                ARG_EQ(1, 0),
                ARG_MASKED_EQ(2, 0xffffffffu, rtguard_normal_nice()));
    /* timestamps when the vDSO is unavailable; rtguard.c: the thread's
     * CPU clock (never in the vDSO) */
    RULE(b, SCMP_ACT_ALLOW, clock_gettime);
    RULE(b, SCMP_ACT_ALLOW, gettimeofday);
    /* glibc's once-only initialisers (the resolver's, for a host name in a
     * filter): private wait/wake only, no requeue or PI operations */
    RULE_IF(b, SCMP_ACT_ALLOW, futex, ARG_EQ(1, FUTEX_WAKE_PRIVATE));
    RULE_IF(b, SCMP_ACT_ALLOW, futex, ARG_EQ(1, FUTEX_WAIT_PRIVATE));
}

/* filtercc.c: setfilter/2 compiles in a forked child under RLIMIT_CPU and
 * RLIMIT_DATA (an 8 KiB filter can take a minute and 190 MB). The child
 * inherits this filter. No kill or wait: SIGCHLD is ignored and the child
 * limits itself, so a compromised port gains no way to signal others. */
static void rules_filter_child(struct builder *b)
{
    /* filtercc: the pipe whose POLLHUP says the child has ended */
    RULE_IF(b, SCMP_ACT_ALLOW, pipe2, ARG_EQ(1, O_CLOEXEC));
    /* glibc fork(): a plain process, no thread or namespace flags */
    RULE_IF(b, SCMP_ACT_ALLOW, clone,
            ARG_EQ64(0, CLONE_CHILD_SETTID | CLONE_CHILD_CLEARTID | SIGCHLD));
    /* glibc fork(), in the child: re-register the robust futex list */
    RULE(b, SCMP_ACT_ALLOW, set_robust_list);
    /* filtercc child: die with the port */
    RULE_IF(b, SCMP_ACT_ALLOW, prctl, ARG_EQ(0, PR_SET_PDEATHSIG),
            ARG_EQ64(1, SIGKILL));
    /* filtercc child: setrlimit(RLIMIT_CPU / RLIMIT_DATA) on itself */
    RULE_IF(b, SCMP_ACT_ALLOW, prlimit64, ARG_EQ64(0, 0), ARG_EQ(1, RLIMIT_CPU),
            ARG_EQ64(3, 0));
    RULE_IF(b, SCMP_ACT_ALLOW, prlimit64, ARG_EQ64(0, 0),
            ARG_EQ(1, RLIMIT_DATA), ARG_EQ64(3, 0));
}

/* A live handle's socket: only the calls libpcap makes after activate. */
static void rules_live(struct builder *b, int fd)
{
    /* pcap_stats */
    RULE_IF(b, SCMP_ACT_ALLOW, getsockopt, ARG_EQ(0, fd), ARG_EQ(1, SOL_PACKET),
            ARG_EQ(2, PACKET_STATISTICS));
    /* pcap_dispatch: the reason for POLLERR (e.g. the device went down) */
    RULE_IF(b, SCMP_ACT_ALLOW, getsockopt, ARG_EQ(0, fd), ARG_EQ(1, SOL_SOCKET),
            ARG_EQ(2, SO_ERROR));
    /* pcap_dispatch after ENETDOWN: which interface the socket is bound
     * to, to tell "went down" from "went away" */
    RULE_IF(b, SCMP_ACT_ALLOW, getsockname, ARG_EQ(0, fd));
    /* pcap_dispatch after ENETDOWN: is the interface up? (read-only) */
    RULE_IF(b, SCMP_ACT_ALLOW, ioctl, ARG_EQ(0, fd), ARG_EQ(1, SIOCGIFFLAGS));
    /* pcap_setfilter: attach the new program (and a reject-all one first) */
    RULE_IF(b, SCMP_ACT_ALLOW, setsockopt, ARG_EQ(0, fd), ARG_EQ(1, SOL_SOCKET),
            ARG_EQ(2, SO_ATTACH_FILTER));
    /* pcap_setfilter: a filter the kernel cannot run is done in userland */
    RULE_IF(b, SCMP_ACT_ALLOW, setsockopt, ARG_EQ(0, fd), ARG_EQ(1, SOL_SOCKET),
            ARG_EQ(2, SO_DETACH_FILTER));
    /* pcap_close: ring teardown (the kernel answers EBUSY while mapped) */
    RULE_IF(b, SCMP_ACT_ALLOW, setsockopt, ARG_EQ(0, fd), ARG_EQ(1, SOL_PACKET),
            ARG_EQ(2, PACKET_RX_RING));
    /* pcap_setfilter: drain packets queued under the old filter */
    RULE_IF(b, SCMP_ACT_ALLOW, recvfrom, ARG_EQ(0, fd));
}

/* pcap_inject: send(fd, buf, len, 0), i.e. sendto without an address. */
static void rules_inject(struct builder *b, int fd)
{
    RULE_IF(b, SCMP_ACT_ALLOW, sendto, ARG_EQ(0, fd), ARG_EQ64(4, 0),
            ARG_EQ64(5, 0));
    /* inject.c (send_many/2, send/2): sendmmsg(fd, msgs, <= 64, 0) on the
     * capture's socket only. Wider than send() above in one way, which
     * seccomp cannot narrow: a message header may name a destination
     * (msg_name, a sockaddr_ll), so a port taken over could inject on
     * another interface of its namespace, where send() without an address
     * keeps it to its own. Only with the inject option (as send); saves
     * 30 % of a frame's CPU (doc/security.md, bench/RESULTS.md 6). */
    RULE_IF(b, SCMP_ACT_ALLOW, sendmmsg, ARG_EQ(0, fd),
            ARG_LE(2, INJECT_MMSG_MAX), ARG_EQ(3, 0));
}

/* saver.c: files made, written, cut back and removed in the one
 * directory it holds a descriptor to, through one descriptor number
 * (dup3 puts every new file there). Which names: savejail.c (Landlock),
 * as a filter cannot read a path. */
static void rules_save(struct builder *b, int dir, int fd)
{
    /* saver.c open_file: the only flags it makes files with */
    RULE_IF(b, SCMP_ACT_ALLOW, openat, ARG_EQ(0, dir),
            ARG_EQ(2, SAVER_OPEN_FLAGS));
    RULE_IF(b, PROBE, openat, ARG_EQ(0, dir), ARG_NE(2, SAVER_OPEN_FLAGS));
    /* saver.c open_file: the new file to its number; release: the
     * directory back there when a file is done (closing it) */
    RULE_IF(b, SCMP_ACT_ALLOW, dup3, ARG_EQ(1, fd), ARG_EQ(2, O_CLOEXEC));
    /* saver.c flush: records and blocks */
    RULE_IF(b, SCMP_ACT_ALLOW, write, ARG_EQ(0, fd));
    /* saver.c flush: a failed write is cut back to whole records */
    RULE_IF(b, SCMP_ACT_ALLOW, ftruncate, ARG_EQ(0, fd));
    /* saver.c ring_add: the oldest file of the ring; close_file: a file
     * left without its header */
    RULE_IF(b, SCMP_ACT_ALLOW, unlinkat, ARG_EQ(0, dir), ARG_EQ(2, 0));
}

/* Probes that must fail, not kill: glibc's resolver and NSS (a filter
 * naming a host or port), iconv/locale loading, libpcap's sysfs reads. */
static void rules_probes(struct builder *b, int save_dir)
{
#ifdef __NR_open
    RULE(b, PROBE, open);
#endif
    /* relative to the save directory: rules_save */
    if (save_dir >= 0)
        RULE_IF(b, PROBE, openat, ARG_NE(0, save_dir));
    else
        RULE(b, PROBE, openat);
#ifdef __NR_stat
    RULE(b, PROBE, stat);
    RULE(b, PROBE, lstat);
#endif
#ifdef __NR_access
    RULE(b, PROBE, access);
#endif
#ifdef __NR_readlink
    RULE(b, PROBE, readlink);
#endif
    RULE(b, PROBE, readlinkat);
    RULE(b, PROBE, faccessat);
    RULE(b, PROBE, statx);
    /* any stat by path, and glibc's fstat (newfstatat with AT_EMPTY_PATH
     * and ""): the flag does not stop the kernel from resolving a
     * non-empty path, so a compromised port could stat any file. stdio
     * only asks for a buffer size and takes BUFSIZ when this fails. */
    RULE(b, PROBE, newfstatat);
    /* nscd and DNS: no socket, so the resolver gives up at once */
    RULE(b, PROBE, socket);
    RULE(b, PROBE, connect);
    /* resolver: gethostname() for the search domain */
    RULE(b, PROBE, uname);
}

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define EP_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define EP_ASAN 1
#endif

#ifdef EP_ASAN
#include <sanitizer/lsan_interface.h>
#endif

/* SANITIZE=1 builds only: what the ASan/UBSan runtime does on its own. */
static void rules_sanitizer(struct builder *b)
{
#ifdef EP_ASAN
    /* ASan interceptors ask for the current alternate stack (query only) */
    RULE_IF(b, SCMP_ACT_ALLOW, sigaltstack, ARG_EQ64(0, 0));
#else
    (void)b;
#endif
}

static int build(const struct restrict_ctx *c, struct ep_error *e)
{
    struct builder b = {filter, 0, NULL};

    rules_stdio(&b);
    rules_memory(&b);
    rules_process(&b);
    rules_probes(&b, c->save_dir);
    rules_filter_child(&b);
    rules_sanitizer(&b);
    if (c->live)
        rules_live(&b, c->pcap_fd);
    if (c->inject)
        rules_inject(&b, c->pcap_fd);
    if (c->save_dir >= 0 && c->save_fd >= 0)
        rules_save(&b, c->save_dir, c->save_fd);
    if (b.rc < 0)
        return ep_fail(e, "restrict", "seccomp_rule_add(%s): %s", b.failed,
                       strerror(-b.rc));
    return 0;
}

int restrict_init(const struct restrict_ctx *c, struct ep_error *e)
{
    int rc;

    if ((c->live || c->inject) && c->pcap_fd < 0)
        return ep_fail(e, "restrict", "live capture without a capture fd");
    if (seccomp_arch_native() != EP_SCMP_ARCH)
        return ep_fail(e, "restrict", "seccomp: native arch %#x, built for %#x",
                       seccomp_arch_native(), (unsigned)EP_SCMP_ARCH);
    if (filter != NULL)
        seccomp_release(filter);
    filter = seccomp_init(DENY);
    if (filter == NULL)
        return ep_fail(e, "restrict", "seccomp_init failed");
    /* A syscall from a foreign ABI (e.g. int 0x80 or x32 on x86_64) is
     * never legitimate here: kill it before the syscall table is read. */
    rc = seccomp_attr_set(filter, SCMP_FLTATR_ACT_BADARCH, DENY);
    if (rc < 0)
        return ep_fail(e, "restrict", "seccomp_attr_set: %s", strerror(-rc));
    if (build(c, e) == -1)
        return -1;
#ifdef EP_ASAN
    /* LeakSanitizer's exit-time check reads /proc and stops the process
     * with ptrace from a helper thread: the chroot and the filter forbid
     * both. Run it now, before the drop; the exit-time one is then skipped
     * (leaks made after this point go unreported). */
    __lsan_do_leak_check();
#endif
    return 0;
}

#ifdef SANDBOX_DEBUG
/* Debug builds trap instead of kill: name the syscall, then die. Only
 * async-signal-safe calls, and only ones the filter allows (write to 2). */
static void on_sigsys(int sig, siginfo_t *si, void *uc)
{
    char msg[] = "epcap: seccomp denied syscall 000\n";
    int nr = si->si_syscall;

    (void)uc;
    msg[30] = (char)('0' + nr / 100 % 10);
    msg[31] = (char)('0' + nr / 10 % 10);
    msg[32] = (char)('0' + nr % 10);
    (void)!write(2, msg, sizeof(msg) - 1);
    _exit(128 + sig);
}

static int debug_handler(struct ep_error *e)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_sigaction = on_sigsys;
    sa.sa_flags = SA_SIGINFO;
    if (sigaction(SIGSYS, &sa, NULL) == -1)
        return ep_fail_errno(e, "restrict", "sigaction(SIGSYS)");
    return 0;
}
#endif

int restrict_apply(const struct restrict_ctx *c, struct ep_error *e)
{
    int rc;

    (void)c;
    if (filter == NULL)
        return ep_fail(e, "restrict", "restrict_init was not called");
#ifdef SANDBOX_DEBUG
    if (debug_handler(e) == -1)
        return -1;
#endif
    rc = seccomp_load(filter);
    if (rc < 0)
        return ep_fail(e, "restrict", "seccomp_load: %s", strerror(-rc));
    /* The kernel holds its own copy now; the builder is no longer needed. */
    seccomp_release(filter);
    filter = NULL;
    return 0;
}
