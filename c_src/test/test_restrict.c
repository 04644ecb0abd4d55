/* The process restriction, tested the way priv/epcap uses it: a child opens
 * libpcap on lo as root, drops to nobody in an empty chroot, applies the
 * restriction, then does the port program's work (the allowed path) or one
 * forbidden call. The same binary is built per mode (RESTRICT_PROCESS) and
 * asserts that mode's designed outcome. Needs root; loopback only. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pcap.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ctest.h"
#include "filtercc.h"
#include "privdrop.h"
#include "procenv.h"
#include "restrict.h"
#include "rtguard.h"

#define PORT1 47801 /* the filter set before the sandbox */
#define PORT2 47802 /* the filter set inside it */
#define PORT3 47803 /* injected frames: matches neither */

enum mode { SECCOMP, RLIMIT, NULLMODE, OTHER };

static enum mode mode;
static char tmpdir[64];
static char savefile[96];
static int nsaved;
static pid_t test_pid;   /* the (root) test process, parent of every child */
static long realtime_us; /* > 0: spawn makes the child real-time with it */
static bool guard_armed; /* spawn arms rtguard.c with guard_nice */
static int guard_nice;
static int body_nice; /* what nice_body asks setpriority for */

/* Outcome of a child: exited with a status, or killed by a signal. */
struct outcome {
    int exited; /* exit status, or -1 */
    int signo;  /* terminating signal, or 0 */
};

/* Child-side checks: report on stderr (fd 2 is allowed), count failures. */
static int child_failed;
#define CCHECK(cond)                                                           \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "  child %s:%d: %s (errno %d %s)\n", __FILE__,     \
                    __LINE__, #cond, errno, strerror(errno));                  \
            child_failed++;                                                    \
        }                                                                      \
    } while (0)

/* Parent side of the child's stdin (to_child) and stdout (from_child). */
struct link {
    int to_child;
    int from_child;
    pid_t pid;
};

/* The live device: lo, except in the device-removal case. */
static const char *live_dev = "lo";
static char dummy_dev[12];

static pcap_t *open_lo(void)
{
    char eb[PCAP_ERRBUF_SIZE];
    pcap_t *p = pcap_create(live_dev, eb);

    if (p == NULL || pcap_set_snaplen(p, 65535) != 0 ||
        pcap_set_immediate_mode(p, 1) != 0 || pcap_set_timeout(p, 10) != 0 ||
        pcap_activate(p) < 0 || pcap_setnonblock(p, 1, eb) != 0) {
        fprintf(stderr, "  open lo: %s\n", p ? pcap_geterr(p) : eb);
        return NULL;
    }
    return p;
}

static int set_filter(pcap_t *p, const char *expr)
{
    struct bpf_program prog;
    int rc;

    if (pcap_compile(p, &prog, expr, 1, PCAP_NETMASK_UNKNOWN) != 0)
        return -1;
    rc = pcap_setfilter(p, &prog);
    pcap_freecode(&prog);
    return rc;
}

/* What priv/epcap does before `ready`: restrict_init while privileged,
 * drop to nobody in the empty chroot, restrict_apply. */
static int sandbox(const struct restrict_ctx *c)
{
    struct privdrop_opts o = {"nobody", NULL, tmpdir, false, NULL};
    struct ep_error e = {0};

    if (filtercc_init(-1, &e) != 0 || restrict_init(c, &e) != 0 ||
        privdrop_prepare(&o, &e) != 0 || privdrop_apply(&e) != 0 ||
        restrict_apply(c, &e) != 0) {
        fprintf(stderr, "  sandbox: %s: %s\n", e.reason, e.msg);
        return -1;
    }
    return 0;
}

/* Fork a child whose stdin/stdout are pipes to us, as under a port. The
 * child opens lo (live) or the savefile, sandboxes, and runs body. */
static int spawn(struct link *l, bool live, bool inject,
                 void (*body)(pcap_t *p))
{
    int in[2], out[2];

    if (pipe(in) == -1 || pipe(out) == -1)
        return -1;
    fflush(NULL);
    l->pid = fork();
    if (l->pid == -1)
        return -1;
    if (l->pid > 0) {
        close(in[0]);
        close(out[1]);
        l->to_child = in[1];
        l->from_child = out[0];
        return 0;
    }
    if (dup2(in[0], 0) == -1 || dup2(out[1], 1) == -1)
        _exit(100);
    close(in[0]), close(in[1]), close(out[0]), close(out[1]);

    char eb[PCAP_ERRBUF_SIZE];
    pcap_t *p = live ? open_lo() : pcap_open_offline(savefile, eb);
    if (p == NULL || (live && set_filter(p, "udp port 47801") != 0))
        _exit(101);
    struct restrict_ctx c = {live ? pcap_get_selectable_fd(p) : -1, inject,
                             live, -1, -1};
    if (realtime_us > 0 &&
        (procenv_realtime(realtime_us) != 0 ||
         (sched_getscheduler(0) & ~SCHED_RESET_ON_FORK) != SCHED_FIFO))
        _exit(103);
    if (guard_armed)
        rtguard_arm(guard_nice);
    if (sandbox(&c) != 0)
        _exit(102);
    child_failed = 0;
    body(p);
    _exit(child_failed ? 1 : 0);
}

static struct outcome finish(struct link *l)
{
    struct outcome o = {-1, 0};
    int status;

    close(l->to_child);
    close(l->from_child);
    if (waitpid(l->pid, &status, 0) == l->pid) {
        if (WIFEXITED(status))
            o.exited = WEXITSTATUS(status);
        else if (WIFSIGNALED(status))
            o.signo = WTERMSIG(status);
    }
    return o;
}

/* Run body in a fresh sandboxed child that needs no conversation. */
static struct outcome run_sandboxed(bool live, bool inject,
                                    void (*body)(pcap_t *p))
{
    struct link l;
    struct outcome o = {-1, 0};

    if (spawn(&l, live, inject, body) == 0)
        o = finish(&l);
    return o;
}

static void send_udp(int port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    int s = socket(AF_INET, SOCK_DGRAM, 0);

    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (s == -1)
        return;
    (void)sendto(s, "epcap", 5, 0, (struct sockaddr *)&a, sizeof(a));
    close(s);
}

enum link_op { LINK_ADD, LINK_DOWN, LINK_DEL };

/* Parent: create (a veth pair: the dummy driver may be missing), take
 * down or delete the device; 0 on success. */
static int ip_link(enum link_op op)
{
    char cmd[160];

    if (op == LINK_ADD)
        snprintf(cmd, sizeof(cmd),
                 "(ip link add %s type veth peer name %sp && "
                 "ip link set %s up)",
                 dummy_dev, dummy_dev, dummy_dev);
    else if (op == LINK_DOWN)
        snprintf(cmd, sizeof(cmd), "ip link set %s down", dummy_dev);
    else
        snprintf(cmd, sizeof(cmd), "ip link del %s", dummy_dev);
    strcat(cmd, " >/dev/null 2>&1");
    return system(cmd) == 0 ? 0 : -1;
}

/* Parent: wait for the child's one-byte request, answer it. 'A'/'B' ask
 * for datagrams to PORT1/PORT2 (and one to the other port as a decoy). */
static void serve(struct link *l)
{
    char req;

    while (read(l->from_child, &req, 1) == 1) {
        if (req == 'A')
            send_udp(PORT1);
        else if (req == 'B')
            send_udp(PORT1), send_udp(PORT2);
        else if (req == 'D' || req == 'X')
            (void)!ip_link(req == 'D' ? LINK_DOWN : LINK_DEL);
        if (write(l->to_child, "k", 1) != 1)
            return;
    }
}

/* Child: ask the parent for traffic (writev to stdout, as the encoder
 * does) and wait for its answer on stdin. */
static int ask(char req)
{
    struct iovec iov = {&req, 1};
    struct pollfd pfd = {0, POLLIN, 0};
    char ack;

    if (writev(1, &iov, 1) != 1 || poll(&pfd, 1, 5000) != 1)
        return -1;
    return read(0, &ack, 1) == 1 ? 0 : -1;
}

/* The UDP destination port of an Ethernet/IPv4 frame, or -1. */
static int udp_dport(const u_char *b, bpf_u_int32 len)
{
    if (len < 14 + 20 + 8 || b[12] != 0x08 || b[13] != 0x00 || b[23] != 17)
        return -1;
    size_t ihl = (size_t)(b[14] & 0x0f) * 4;
    if (len < 14 + ihl + 8)
        return -1;
    return b[14 + ihl + 2] << 8 | b[14 + ihl + 3];
}

struct seen {
    int port1, port2, other;
};

static void count_cb(u_char *u, const struct pcap_pkthdr *h, const u_char *b)
{
    struct seen *s = (struct seen *)u;
    int port = udp_dport(b, h->caplen);

    if (port == PORT1)
        s->port1++;
    else if (port == PORT2)
        s->port2++;
    else
        s->other++;
}

/* The event loop in miniature: poll the capture fd and stdin, dispatch,
 * until a frame to `port` arrives or 3 s pass. */
static void capture_until(pcap_t *p, struct seen *s, int port)
{
    struct pollfd pfd[2] = {{pcap_get_selectable_fd(p), POLLIN, 0},
                            {0, POLLIN, 0}};

    for (int i = 0; i < 300; i++) {
        if ((port == PORT1 ? s->port1 : s->port2) > 0)
            return;
        if (poll(pfd, 2, 10) == -1)
            break;
        if (pcap_dispatch(p, 64, count_cb, (u_char *)s) < 0)
            break;
    }
    fprintf(stderr, "  no packet to port %d: %s\n", port, pcap_geterr(p));
}

/* An Ethernet/IPv4/UDP frame to 127.0.0.1:PORT3 (checksums left zero). */
static size_t make_frame(u_char *f)
{
    static const u_char hdr[] = {0,    0,    0,          0,
                                 0,    0,    0,          0,
                                 0,    0,    0,          0,
                                 0x08, 0x00, /* eth */
                                 0x45, 0,    0,          33,
                                 0,    0,    0,          0,
                                 64,   17,   0,          0,
                                 127,  0,    0,          1,
                                 127,  0,    0,          1, /* ip */
                                 0xba, 0x5e, PORT3 >> 8, PORT3 & 0xff,
                                 0,    13,   0,          0, /* udp */
                                 'i',  'n',  'j',        'e',
                                 'c',  't'};

    memcpy(f, hdr, sizeof(hdr));
    return sizeof(hdr);
}

static void allowed_body(pcap_t *p)
{
    struct seen s = {0, 0, 0};
    struct pcap_stat st;
    struct bpf_program prog;
    u_char frame[64];
    size_t n = make_frame(frame);

    fprintf(stderr, "  child sandboxed (%s), capturing\n", restrict_mode());
    CCHECK(ask('A') == 0);
    capture_until(p, &s, PORT1);
    CCHECK(s.port1 >= 1 && s.port2 == 0);
    CCHECK(pcap_inject(p, frame, n) == (int)n);
    CCHECK(pcap_stats(p, &st) == 0 && st.ps_recv >= 1);
    /* A new filter at run time: only PORT2 passes now. */
    CCHECK(set_filter(p, "udp port 47802") == 0);
    s.port1 = s.port2 = 0;
    CCHECK(ask('B') == 0);
    capture_until(p, &s, PORT2);
    CCHECK(s.port2 >= 1 && s.port1 == 0);
    /* A host name makes libpcap resolve it: open/socket must fail
     * cleanly so that compile reports an error, not a dead process. */
    CCHECK(pcap_compile(p, &prog, "host epcap-test.invalid", 1,
                        PCAP_NETMASK_UNKNOWN) == -1);
    CCHECK(pcap_stats(p, &st) == 0);
    /* loop.c stops a dispatch this way when stdout fails. In blocking
     * mode libpcap would also write to an eventfd (not allowed); in the
     * non-blocking mode epcap uses it only sets a flag. */
    pcap_breakloop(p);
    int rc = pcap_dispatch(p, 1, count_cb, (u_char *)&s);
    CCHECK(rc == 0 || rc == PCAP_ERROR_BREAK);
    pcap_close(p);
}

static void test_allowed_path_live(void)
{
    struct link l;

    CHECK(spawn(&l, true, true, allowed_body) == 0);
    serve(&l);
    struct outcome o = finish(&l);
    if (o.signo)
        fprintf(stderr, "  child killed by signal %d\n", o.signo);
    CHECK(o.exited == 0);
}

static void savefile_body(pcap_t *p)
{
    struct seen s = {0, 0, 0};
    int n, total = 0;

    CCHECK(set_filter(p, "udp") == 0);
    while ((n = pcap_dispatch(p, 4, count_cb, (u_char *)&s)) > 0)
        total += n;
    CCHECK(n == 0 && total == nsaved && s.port1 == nsaved);
    pcap_close(p);
}

/* "port 1 or port 2 or ...", the 8 KiB the protocol allows
 * (CTL_FILTER_MAX): a minute of pcap_compile. */
#define HUGE_FILTER_LEN 8192
static char *huge_filter(void)
{
    static char f[HUGE_FILTER_LEN + 1];
    size_t len = 0;

    for (int n = 1;; n++) {
        char t[32];
        int k = snprintf(t, sizeof(t), "%sport %d", n > 1 ? " or " : "", n);

        if (len + (size_t)k > HUGE_FILTER_LEN)
            break;
        memcpy(f + len, t, (size_t)k + 1);
        len += (size_t)k;
    }
    return f;
}

static long ms_since(const struct timespec *t0)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (t.tv_sec - t0->tv_sec) * 1000 + (t.tv_nsec - t0->tv_nsec) / 1000000;
}

static int compile_set(pcap_t *p, const char *f, struct ep_error *e)
{
    struct bpf_program prog;
    int rc;

    if (filtercc_compile(p, f, PCAP_NETMASK_UNKNOWN, -1, &prog, e) < 0)
        return -1;
    rc = pcap_setfilter(p, &prog);
    filtercc_free(&prog);
    return rc;
}

/* Under the sandbox: a normal filter compiles in the child; a huge one
 * fails within the bounds, and the next one works again. */
static void filter_child_body(pcap_t *p)
{
    struct ep_error e = {0};
    struct timespec t0;

    CCHECK(compile_set(p, "udp port 47802", &e) == 0);
    CCHECK(compile_set(p, "udp port", &e) == -1);
    CCHECK(strcmp(e.reason, "filter") == 0 && strstr(e.msg, "syntax") != NULL);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    CCHECK(compile_set(p, huge_filter(), &e) == -1);
    CCHECK(strstr(e.msg, "too complex") != NULL);
    CCHECK(ms_since(&t0) < FILTERCC_WALL_MS + 500);
    fprintf(stderr, "  huge filter refused after %ld ms: %s\n", ms_since(&t0),
            e.msg);
    CCHECK(compile_set(p, "udp port 47803", &e) == 0);
}

static void test_filter_compile_bounded(void)
{
    struct outcome o = run_sandboxed(true, false, filter_child_body);

    if (o.signo)
        fprintf(stderr, "  child killed by signal %d\n", o.signo);
    CHECK(o.exited == 0);
}

/* stdin closes during a long compile: the port exits at once (status 0);
 * status 3 would mean the compile ran to its end first. */
static void filter_eof_body(pcap_t *p)
{
    struct bpf_program prog;
    struct ep_error e = {0};

    (void)filtercc_compile(p, huge_filter(), PCAP_NETMASK_UNKNOWN, 0, &prog,
                           &e);
    _exit(3);
}

static void test_filter_compile_ends_on_eof(void)
{
    struct timespec t0;

    clock_gettime(CLOCK_MONOTONIC, &t0);
    struct outcome o = run_sandboxed(true, false, filter_eof_body);
    long ms = ms_since(&t0);

    fprintf(stderr, "  exited %d after %ld ms\n", o.exited, ms);
    CHECK(o.exited == 0 && o.signo == 0);
    CHECK(ms < 1000);
}

/* Says it is running (a byte on stdout), then is busy until stdin
 * closes, without ever waiting (poll with no timeout). */
static void spin_body(pcap_t *p)
{
    struct pollfd pfd = {0, POLLIN, 0};

    (void)p;
    if (write(1, "s", 1) != 1)
        _exit(4);
    while (poll(&pfd, 1, 0) == 0)
        ;
    _exit(0);
}

/* A real-time port (spawn checks that it is) that runs past RLIMIT_RTTIME
 * inside the sandbox: the SIGXCPU handler's sched_setscheduler is let
 * through, and the port goes on at SCHED_OTHER (procenv.c). */
static void test_realtime_gives_up_sandboxed(void)
{
    struct link l;
    struct timespec pause = {0, 500 * 1000000L};
    char c = 0;
    int after = -1;

    realtime_us = 100000;
    CHECK(spawn(&l, false, false, spin_body) == 0);
    realtime_us = 0;
    if (read(l.from_child, &c, 1) == 1) {
        (void)nanosleep(&pause, NULL);
        after = sched_getscheduler(l.pid) & ~SCHED_RESET_ON_FORK;
    }
    struct outcome o = finish(&l);

    fprintf(stderr, "  running: %c, then policy %d; exit %d signal %d\n",
            c ? c : '-', after, o.exited, o.signo);
    CHECK(c == 's' && after == SCHED_OTHER);
    CHECK(o.exited == 0 && o.signo == 0);
}

static void test_allowed_path_savefile(void)
{
    struct outcome o = run_sandboxed(false, false, savefile_body);

    CHECK(o.exited == 0 && o.signo == 0);
}

/* Dispatch for up to `ms`: returns the last pcap_dispatch result. */
static int dispatch_for(pcap_t *p, int ms, struct seen *s)
{
    struct pollfd pfd = {pcap_get_selectable_fd(p), POLLIN, 0};
    int rc = 0;

    for (int i = 0; i < ms / 10 && rc >= 0; i++) {
        (void)poll(&pfd, 1, 10);
        rc = pcap_dispatch(p, 64, count_cb, (u_char *)s);
    }
    return rc;
}

/* The device goes down, then away, under a running capture: libpcap
 * then asks the socket why (SO_ERROR, getsockname, SIOCGIFFLAGS). That
 * must end as a pcap error the loop can report, not as a sandbox kill. */
static void netdev_body(pcap_t *p)
{
    struct seen s = {0, 0, 0};

    CCHECK(ask('D') == 0);
    (void)dispatch_for(p, 500, &s);
    CCHECK(ask('X') == 0);
    CCHECK(dispatch_for(p, 3000, &s) == PCAP_ERROR);
    CCHECK(strstr(pcap_geterr(p), "disappeared") != NULL);
}

static void test_device_down_and_removed(void)
{
    struct link l;

    snprintf(dummy_dev, sizeof(dummy_dev), "eprt%d", (int)(getpid() % 10000));
    if (ip_link(LINK_ADD) != 0) {
        fprintf(stderr, "  skipped: cannot add a veth device\n");
        return;
    }
    live_dev = dummy_dev;
    CHECK(spawn(&l, true, false, netdev_body) == 0);
    serve(&l);
    struct outcome o = finish(&l);
    live_dev = "lo";
    (void)ip_link(LINK_DEL); /* normally gone already */
    if (o.signo)
        fprintf(stderr, "  child killed by signal %d\n", o.signo);
    CHECK(o.exited == 0);
}

/* Write a small savefile of UDP frames to PORT1 while we may. */
static int make_savefile(void)
{
    pcap_t *dead = pcap_open_dead(DLT_EN10MB, 65535);
    pcap_dumper_t *d;
    struct pcap_pkthdr h = {{1, 0}, 0, 0};
    u_char f[64];

    snprintf(savefile, sizeof(savefile), "%s.pcap", tmpdir);
    if (dead == NULL || (d = pcap_dump_open(dead, savefile)) == NULL)
        return -1;
    h.caplen = h.len = (bpf_u_int32)make_frame(f);
    f[36] = PORT1 >> 8, f[37] = PORT1 & 0xff;
    for (nsaved = 0; nsaved < 10; nsaved++)
        pcap_dump((u_char *)d, &h, f);
    pcap_dump_close(d);
    pcap_close(dead);
    return 0;
}

/* Forbidden calls: each body exits with 0 if the call succeeded, else with
 * its errno; under seccomp some are designed to kill with SIGSYS. */
static void open_body(pcap_t *p)
{
    (void)p;
    _exit(open("/etc/passwd", O_RDONLY) >= 0 ? 0 : errno);
}

static void socket_body(pcap_t *p)
{
    (void)p;
    _exit(socket(AF_INET, SOCK_DGRAM, 0) >= 0 ? 0 : errno);
}

static void execve_body(pcap_t *p)
{
    char *argv[] = {"true", NULL}, *envp[] = {NULL};

    (void)p;
    execve("/bin/true", argv, envp);
    _exit(errno);
}

static void fork_body(pcap_t *p)
{
    pid_t pid = fork();

    (void)p;
    if (pid == 0)
        _exit(0);
    _exit(pid > 0 ? 0 : errno);
}

/* fork is allowed for filtercc; its child inherits the sandbox. The
 * port never waits (SIGCHLD is ignored, wait4 is not allowed): the child
 * answers through shared memory, as filtercc's does. */
static void fork_child_open_body(pcap_t *p)
{
    volatile int *r = mmap(NULL, sizeof(int), PROT_READ | PROT_WRITE,
                           MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    pid_t pid;

    (void)p;
    if (r == MAP_FAILED)
        _exit(errno);
    *r = -1;
    pid = fork();
    if (pid == 0) {
        *r = open("/", O_RDONLY) >= 0 ? 0 : errno;
        _exit(0);
    }
    if (pid < 0)
        _exit(errno);
    for (int i = 0; i < 300 && *r == -1; i++)
        (void)poll(NULL, 0, 10);
    _exit(*r == -1 ? 99 : *r);
}

/* A thread or namespace is no fork: clone with other flags is killed. */
static void clone_newns_body(pcap_t *p)
{
    long r = syscall(SYS_clone, CLONE_NEWNS | SIGCHLD, 0, 0, 0, 0);

    (void)p;
    if (r == 0)
        _exit(0);
    _exit(r > 0 ? 0 : errno);
}

/* AT_EMPTY_PATH does not stop the kernel from resolving a non-empty
 * path: this was allowed, and let a port stat any file (issue 15, 6). */
static void stat_empty_path_flag_body(pcap_t *p)
{
    struct stat sb;

    (void)p;
    _exit(fstatat(AT_FDCWD, "/", &sb, AT_EMPTY_PATH) == 0 ? 0 : errno);
}

static void stat_path_body(pcap_t *p)
{
    struct stat sb;

    (void)p;
    _exit(stat("/", &sb) == 0 ? 0 : errno);
}

static void mmap_exec_body(pcap_t *p)
{
    (void)p;
    _exit(mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS,
               -1, 0) != MAP_FAILED
              ? 0
              : errno);
}

static void ptrace_body(pcap_t *p)
{
    (void)p;
    _exit(ptrace(PTRACE_TRACEME, 0, NULL, NULL) == 0 ? 0 : errno);
}

/* Injection when the sandbox was told there would be none. */
static void inject_body(pcap_t *p)
{
    u_char f[64];
    size_t n = make_frame(f);

    _exit(pcap_inject(p, f, n) == (int)n ? 0 : EIO);
}

static void sockopt_body(pcap_t *p)
{
    int v = 1 << 20;

    _exit(setsockopt(pcap_get_selectable_fd(p), SOL_SOCKET, SO_RCVBUF, &v,
                     sizeof(v)) == 0
              ? 0
              : errno);
}

static void write_file_fd_body(pcap_t *p)
{
    /* On a savefile handle the capture fd is the file: writing to it must
     * not be possible (it is open read-only; seccomp kills first). */
    _exit(write(pcap_get_selectable_fd(p), "x", 1) == 1 ? 0 : errno);
}

static void kill_body(pcap_t *p)
{
    (void)p;
    /* the pid was taken before the sandbox: getppid is not allowed */
    _exit(kill(test_pid, SIGTERM) == 0 ? 0 : errno);
}

static void tiocsti_body(pcap_t *p)
{
    char c = 'x';

    (void)p;
    _exit(ioctl(1, TIOCSTI, &c) == 0 ? 0 : errno);
}

static void fionread_body(pcap_t *p)
{
    int unread = 0;

    (void)p;
    /* wire.c asks how much of its output the VM has yet to read */
    _exit(ioctl(1, FIONREAD, &unread) == 0 ? 0 : errno);
}

static void tiocoutq_body(pcap_t *p)
{
    int queued = 0;

    (void)p;
    /* ... or, when fd 1 is the output socket (-O), its output queue. Here
     * fd 1 is not a socket: the kernel's "not a tty" shows the call got
     * through the filter. */
    _exit(ioctl(1, TIOCOUTQ, &queued) == 0 || errno == ENOTTY ? 0 : errno);
}

/* sched_setscheduler with reset-on-fork (as procenv.c asks): 0 or errno */
static int set_policy(pid_t pid, int policy, int prio)
{
    struct sched_param sp = {.sched_priority = prio};

    return sched_setscheduler(pid, policy | SCHED_RESET_ON_FORK, &sp) == 0
               ? 0
               : errno;
}

/* procenv.c's RLIMIT_RTTIME handler: back to SCHED_OTHER, for ourselves */
static void sched_other_body(pcap_t *p)
{
    (void)p;
    _exit(set_policy(0, SCHED_OTHER, 0));
}

static void sched_fifo_body(pcap_t *p)
{
    (void)p;
    _exit(set_policy(0, SCHED_FIFO, 1));
}

/* the pid was taken before the sandbox */
static void sched_parent_body(pcap_t *p)
{
    (void)p;
    _exit(set_policy(test_pid, SCHED_OTHER, 0));
}

/* A debug build traps instead: the handler names the call, exits 128+31. */
#ifdef SANDBOX_DEBUG
#define KILLED                                                                 \
    {                                                                          \
        128 + SIGSYS, 0                                                        \
    }
#else
#define KILLED                                                                 \
    {                                                                          \
        -1, SIGSYS                                                             \
    }
#endif
#define ERR(e)                                                                 \
    {                                                                          \
        e, 0                                                                   \
    }
#define OK                                                                     \
    {                                                                          \
        0, 0                                                                   \
    }

static const struct {
    const char *name;
    void (*body)(pcap_t *p);
    bool live;
    struct outcome want[3]; /* SECCOMP, RLIMIT, NULLMODE */
} forbidden[] = {
    {"open", open_body, true, {ERR(EACCES), ERR(EMFILE), ERR(ENOENT)}},
    {"socket", socket_body, true, {ERR(EACCES), ERR(EMFILE), OK}},
    /* rlimit cannot stop execve: the empty chroot does (ENOENT). */
    {"execve", execve_body, true, {KILLED, ERR(ENOENT), ERR(ENOENT)}},
    /* fork: allowed for filtercc (the child inherits the sandbox) */
    {"fork_allowed", fork_body, true, {OK, ERR(EAGAIN), OK}},
    {"fork_child_open",
     fork_child_open_body,
     true,
     {ERR(EACCES), ERR(EAGAIN), OK}},
    {"clone_newns", clone_newns_body, true, {KILLED, ERR(EAGAIN), ERR(EPERM)}},
    {"stat_empty_path_flag",
     stat_empty_path_flag_body,
     true,
     {ERR(EACCES), OK, OK}},
    {"stat_path", stat_path_body, true, {ERR(EACCES), OK, OK}},
    {"mmap_exec", mmap_exec_body, true, {KILLED, OK, OK}},
    {"ptrace", ptrace_body, true, {KILLED, OK, OK}},
    {"inject_without_flag", inject_body, true, {KILLED, OK, OK}},
    {"setsockopt_rcvbuf", sockopt_body, true, {KILLED, OK, OK}},
    /* nobody may not signal the root parent; seccomp kills first */
    {"kill_parent", kill_body, true, {KILLED, ERR(EPERM), ERR(EPERM)}},
    /* stdout is a pipe, so without seccomp TIOCSTI gets ENOTTY */
    {"ioctl_tiocsti", tiocsti_body, true, {KILLED, ERR(ENOTTY), ERR(ENOTTY)}},
    /* not forbidden: giving a real-time priority up (procenv.c) */
    {"sched_other_allowed", sched_other_body, true, {OK, OK, OK}},
    /* nobody has no RLIMIT_RTPRIO: the kernel refuses where seccomp
     * does not kill first */
    {"sched_fifo", sched_fifo_body, true, {KILLED, ERR(EPERM), ERR(EPERM)}},
    {"sched_parent", sched_parent_body, true, {KILLED, ERR(EPERM), ERR(EPERM)}},
    /* not forbidden: the one ioctl the event loop makes on stdout */
    {"ioctl_fionread_stdout_allowed", fionread_body, true, {OK, OK, OK}},
    {"ioctl_tiocoutq_stdout_allowed", tiocoutq_body, true, {OK, OK, OK}},
    {"open_savefile",
     open_body,
     false,
     {ERR(EACCES), ERR(EMFILE), ERR(ENOENT)}},
    {"write_savefile_fd",
     write_file_fd_body,
     false,
     {KILLED, ERR(EBADF), ERR(EBADF)}},
};

static void nice_body(pcap_t *p)
{
    (void)p;
    _exit(setpriority(PRIO_PROCESS, 0, body_nice) == 0 ? 0 : errno);
}

/* setpriority in the sandbox: only a port that raised its priority
 * (rtguard_arm) may call it, and only to go back to the nice value it had
 * (rtguard.c); the kernel refuses nobody any raise where seccomp does not
 * kill first. Each case: armed, the value, then the outcome per mode. */
static void test_setpriority_only_back(void)
{
    static const struct {
        bool armed;
        int nice;
        struct outcome want[3]; /* SECCOMP, RLIMIT, NULLMODE */
    } cases[] = {
        {true, 5, {OK, OK, OK}},
        {true, 6, {KILLED, OK, OK}},
        {true, -5, {KILLED, ERR(EACCES), ERR(EACCES)}},
        {false, 5, {KILLED, OK, OK}},
    };

    guard_nice = 5;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        guard_armed = cases[i].armed;
        body_nice = cases[i].nice;
        struct outcome o = run_sandboxed(true, false, nice_body);
        struct outcome w = cases[i].want[mode];

        if (o.exited != w.exited || o.signo != w.signo)
            fprintf(stderr, "  armed %d nice %d: exit %d signal %d\n",
                    cases[i].armed, cases[i].nice, o.exited, o.signo);
        CHECK(o.exited == w.exited && o.signo == w.signo);
    }
    guard_armed = false;
}

/* One reported case per forbidden call, so the count says what ran. */
static void run_forbidden(size_t i)
{
    struct outcome got =
        run_sandboxed(forbidden[i].live, false, forbidden[i].body);
    struct outcome want = forbidden[i].want[mode];

    if (got.exited == want.exited && got.signo == want.signo) {
        ctest_passed++;
        fprintf(stderr, "ok   forbidden %s\n", forbidden[i].name);
        return;
    }
    ctest_failed++;
    fprintf(stderr, "FAIL forbidden %s: got exit %d signal %d, want %d/%d\n",
            forbidden[i].name, got.exited, got.signo, want.exited, want.signo);
}

static void run_forbidden_all(void)
{
    for (size_t i = 0; i < sizeof(forbidden) / sizeof(forbidden[0]); i++)
        run_forbidden(i);
}

static void test_mode_name(void)
{
    CHECK(mode != OTHER);
}

int main(void)
{
    const char *m = restrict_mode();

    if (geteuid() != 0) {
        printf("test_restrict: skipped (needs root)\n");
        return 0;
    }
    mode = strcmp(m, "seccomp") == 0  ? SECCOMP
           : strcmp(m, "rlimit") == 0 ? RLIMIT
           : strcmp(m, "null") == 0   ? NULLMODE
                                      : OTHER;
    snprintf(tmpdir, sizeof(tmpdir), "/run/epcap-rs.XXXXXX");
    if (mkdtemp(tmpdir) == NULL || chmod(tmpdir, 0755) == -1 ||
        make_savefile() == -1) {
        perror("setup");
        return 1;
    }
    test_pid = getpid();
    fprintf(stderr, "mode %s\n", m);
    RUN(test_mode_name);
    RUN(test_allowed_path_live);
    RUN(test_allowed_path_savefile);
    RUN(test_realtime_gives_up_sandboxed);
    RUN(test_setpriority_only_back);
    /* rlimit mode: RLIMIT_NPROC 0 forbids the compile child, and a
     * run-time compile is unbounded there (doc/security.md). */
    if (mode != RLIMIT) {
        RUN(test_filter_compile_bounded);
        RUN(test_filter_compile_ends_on_eof);
    }
    RUN(test_device_down_and_removed);
    if (mode != OTHER)
        run_forbidden_all();
    (void)unlink(savefile);
    (void)rmdir(tmpdir);
    CTEST_END("test_restrict");
}
