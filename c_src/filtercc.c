/* An 8 KiB filter such as "port 1 or port 2 or ..." keeps pcap_compile
 * busy for a minute and 190 MB, and pcap_compile cannot be interrupted.
 * So it runs in a child with RLIMIT_CPU and RLIMIT_DATA, which the kernel
 * enforces whatever libpcap does; the parent keeps watching stdin so that
 * stop/1 still ends the port at once. The result comes back in a shared
 * anonymous mapping; the end of the child shows as POLLHUP on a pipe whose
 * only writer it holds. No kill or wait is needed (SIGCHLD is ignored),
 * which keeps both out of the seccomp allow-list.
 *
 * Where no child can be had (RLIMIT_NPROC is 0 in rlimit mode), the
 * compile runs in the port itself, guarded by two signals set up before
 * the sandbox: SIGIO on stdin, so that stop/1 (stdin hangs up) still ends
 * the port at once, and an ITIMER_PROF of FILTERCC_CPU_SECONDS, after
 * which the port says why on stderr and exits with status 1: the
 * compile cannot be interrupted and resumed, and an unbounded one would
 * outlive stop/1 (issue 24, defect 7). */
#include "filtercc.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define EP_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define EP_ASAN 1
#endif

enum { RESULT_PENDING, RESULT_OK, RESULT_ERROR };

struct result {
    volatile int status;
    unsigned len;
    char msg[PCAP_ERRBUF_SIZE];
    struct bpf_insn insns[FILTERCC_INSNS_MAX];
};

/* What the two handlers of an in-place compile touch: written before the
 * sandbox, only read afterwards. */
static struct {
    int watch_fd;
    int len;
    char line[160];
} guard = {-1, 0, {0}};

static void on_sigio(int sig)
{
    int saved = errno;
    struct pollfd p = {guard.watch_fd, 0, 0};

    (void)sig;
    if (poll(&p, 1, 0) > 0 && (p.revents & (POLLHUP | POLLERR)) != 0)
        _exit(0);
    errno = saved;
}

/* The reason goes to stderr (logger, and the owner's port_exit text), not
 * as a term on stdout: a batch may be half written there, and a frame
 * after it would be read as its rest. */
static void on_sigprof(int sig)
{
    (void)sig;
    if (guard.len > 0 &&
        write(STDERR_FILENO, guard.line, (size_t)guard.len) < 0)
        _exit(2);
    _exit(1);
}

static int handle(int sig, void (*fn)(int), struct ep_error *e)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = fn;
    sa.sa_flags = SA_RESTART;
    if (sigaction(sig, &sa, NULL) < 0)
        return ep_fail_errno(e, "filter", "sigaction");
    return 0;
}

int filtercc_init(int watch_fd, struct ep_error *e)
{
    if (handle(SIGCHLD, SIG_IGN, e) < 0 || handle(SIGIO, on_sigio, e) < 0 ||
        handle(SIGPROF, on_sigprof, e) < 0)
        return -1;
    guard.len = snprintf(guard.line, sizeof(guard.line),
                         "epcap: filter: too complex: compiling took over %d s "
                         "of CPU, and there is no child to compile in: the "
                         "capture ends\n",
                         FILTERCC_CPU_SECONDS);
    guard.watch_fd = watch_fd;
    /* F_SETOWN now: the sandbox allows only F_GETFL/F_SETFL later. */
    if (watch_fd >= 0 && fcntl(watch_fd, F_SETOWN, getpid()) < 0)
        return ep_fail_errno(e, "filter", "fcntl(F_SETOWN)");
    return 0;
}

static void limit(void)
{
    /* Soft and hard alike: SIGKILL, not SIGXCPU, whose handler the child
     * inherits from a real-time port (procenv.c), which would let the
     * compile run on. */
    struct rlimit cpu = {FILTERCC_CPU_SECONDS, FILTERCC_CPU_SECONDS};

#ifdef __linux__
    /* An orphaned compile is of no use to anyone. */
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
        _exit(2);
#endif
    if (setrlimit(RLIMIT_CPU, &cpu) < 0)
        _exit(2);
#ifndef EP_ASAN
    /* ASan's shadow memory alone is far above any sane data limit. */
    struct rlimit data = {FILTERCC_DATA_BYTES, FILTERCC_DATA_BYTES};

    if (setrlimit(RLIMIT_DATA, &data) < 0)
        _exit(2);
#endif
}

static void compile_into(pcap_t *p, const char *filter, bpf_u_int32 netmask,
                         struct result *r)
{
    struct bpf_program prog;

    if (pcap_compile(p, &prog, filter, 1, netmask) < 0) {
        (void)snprintf(r->msg, sizeof(r->msg), "%s", pcap_geterr(p));
        r->status = RESULT_ERROR;
        return;
    }
    if (prog.bf_len > FILTERCC_INSNS_MAX) {
        (void)snprintf(r->msg, sizeof(r->msg),
                       "too complex: more than %d instructions",
                       FILTERCC_INSNS_MAX);
        r->status = RESULT_ERROR;
    } else {
        memcpy(r->insns, prog.bf_insns, prog.bf_len * sizeof(*prog.bf_insns));
        r->len = prog.bf_len;
        r->status = RESULT_OK;
    }
    pcap_freecode(&prog);
}

static long now_ms(void)
{
    struct timespec ts;

    (void)clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Until the child's end of the pipe closes, or the deadline. Returns 0
 * when the child is gone, -1 at the deadline; exits if watch_fd hangs up. */
static int await_child(int pipe_fd, int watch_fd)
{
    long deadline = now_ms() + FILTERCC_WALL_MS;

    for (;;) {
        /* events 0 on stdin: only POLLHUP/POLLERR, never the control
         * frames waiting there, which the event loop will read. */
        struct pollfd fds[2] = {{pipe_fd, POLLIN, 0}, {watch_fd, 0, 0}};
        long left = deadline - now_ms();
        int n;

        if (left <= 0)
            return -1;
        n = poll(fds, watch_fd >= 0 ? 2 : 1, (int)left);
        if (n < 0 && errno != EINTR)
            return -1;
        if (n > 0 && (fds[1].revents & (POLLHUP | POLLERR)) != 0)
            exit(0); /* the VM side is gone; the child dies with us */
        if (n > 0 && fds[0].revents != 0)
            return 0;
    }
}

static int take_result(struct result *r, struct bpf_program *out,
                       struct ep_error *e)
{
    if (r->status == RESULT_ERROR)
        return ep_fail(e, "filter", "%s", r->msg);
    if (r->status != RESULT_OK)
        return ep_fail(e, "filter",
                       "too complex: compiling took over %d s of CPU or %zu "
                       "MiB of memory",
                       FILTERCC_CPU_SECONDS, FILTERCC_DATA_BYTES >> 20);
    out->bf_len = r->len;
    out->bf_insns = malloc((r->len ? r->len : 1) * sizeof(*r->insns));
    if (out->bf_insns == NULL)
        return ep_fail(e, "filter", "out of memory");
    memcpy(out->bf_insns, r->insns, r->len * sizeof(*r->insns));
    return 0;
}

static int prof_timer(int seconds)
{
    struct itimerval t = {{0, 0}, {seconds, 0}};

    return setitimer(ITIMER_PROF, &t, NULL);
}

/* No child to be had: compile here, guarded (see the top of the file).
 * A guard that cannot be armed refuses the compile rather than run it
 * unbounded. */
static int compile_here(pcap_t *p, const char *filter, bpf_u_int32 netmask,
                        struct bpf_program *out, struct ep_error *e)
{
    int fl = guard.watch_fd >= 0 ? fcntl(guard.watch_fd, F_GETFL) : 0;
    int rc = 0;

    if (fl < 0 || (guard.watch_fd >= 0 &&
                   fcntl(guard.watch_fd, F_SETFL, fl | O_ASYNC) < 0))
        return ep_fail_errno(e, "filter", "fcntl(O_ASYNC)");
    on_sigio(SIGIO); /* a hang-up before O_ASYNC sends no signal */
    if (prof_timer(FILTERCC_CPU_SECONDS) < 0)
        rc = ep_fail_errno(e, "filter", "setitimer");
    else if (pcap_compile(p, out, filter, 1, netmask) < 0)
        rc = ep_fail(e, "filter", "%s", pcap_geterr(p));
    (void)prof_timer(0);
    if (guard.watch_fd >= 0)
        (void)fcntl(guard.watch_fd, F_SETFL, fl);
    return rc;
}

static int in_child(pcap_t *p, const char *filter, bpf_u_int32 netmask,
                    int watch_fd, struct result *r, struct bpf_program *out,
                    struct ep_error *e)
{
    int pfd[2];
    pid_t pid;

    if (pipe2(pfd, O_CLOEXEC) < 0)
        return compile_here(p, filter, netmask, out, e);
    pid = fork();
    if (pid < 0) {
        (void)close(pfd[0]);
        (void)close(pfd[1]);
        return compile_here(p, filter, netmask, out, e);
    }
    if (pid == 0) {
        (void)close(pfd[0]);
        limit();
        compile_into(p, filter, netmask, r);
        _exit(0);
    }
    (void)close(pfd[1]);
    if (await_child(pfd[0], watch_fd) < 0) {
        (void)close(pfd[0]);
        return ep_fail(e, "filter", "too complex: not compiled within %d ms",
                       FILTERCC_WALL_MS);
    }
    (void)close(pfd[0]);
    return take_result(r, out, e);
}

int filtercc_compile(pcap_t *p, const char *filter, bpf_u_int32 netmask,
                     int watch_fd, struct bpf_program *out, struct ep_error *e)
{
    struct result *r = mmap(NULL, sizeof(*r), PROT_READ | PROT_WRITE,
                            MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    int rc;

    memset(out, 0, sizeof(*out));
    if (r == MAP_FAILED)
        return compile_here(p, filter, netmask, out, e);
    r->status = RESULT_PENDING;
    rc = in_child(p, filter, netmask, watch_fd, r, out, e);
    (void)munmap(r, sizeof(*r));
    return rc;
}

void filtercc_free(struct bpf_program *prog)
{
    free(prog->bf_insns);
    prog->bf_insns = NULL;
    prog->bf_len = 0;
}
