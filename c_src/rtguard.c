#include "rtguard.h"

#include <errno.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <sched.h>
#include <sys/resource.h>
#endif

#ifndef SCHED_RESET_ON_FORK
#define SCHED_RESET_ON_FORK 0x40000000
#endif

/* The only process-wide state, shared with procenv.c's SIGXCPU handler
 * (which calls rtguard_leave): whether the port holds a raised priority
 * that the guard watches, and the nice value to go back to. */
static volatile sig_atomic_t armed;
static volatile sig_atomic_t normal_nice;

/* A longer stretch (an idle port that wakes up) is scaled down to this,
 * its CPU time with it: the share is the same, the products below stay
 * far from overflow. */
#define STRETCH_MAX_NS 60000000000ULL

bool rtguard_account(int64_t *debt_ns, uint64_t wall_ns, uint64_t cpu_ns)
{
    int64_t allowed, used, d;

    if (cpu_ns > wall_ns)
        cpu_ns = wall_ns; /* one thread: only clock granularity can say more */
    if (wall_ns > STRETCH_MAX_NS) {
        cpu_ns = (uint64_t)((double)cpu_ns *
                            ((double)STRETCH_MAX_NS / (double)wall_ns));
        wall_ns = STRETCH_MAX_NS;
    }
    allowed = (int64_t)wall_ns * RTGUARD_SHARE_NUM / RTGUARD_SHARE_DEN;
    used = (int64_t)cpu_ns;
    d = *debt_ns + used - allowed;
    if (d < 0)
        d = 0;
    if (d > RTGUARD_BURST_NS) {
        *debt_ns = RTGUARD_BURST_NS;
        return true;
    }
    *debt_ns = d;
    return false;
}

void rtguard_arm(int nice)
{
    normal_nice = nice;
    armed = 1;
}

void rtguard_disarm(void)
{
    armed = 0;
}

bool rtguard_armed(void)
{
    return armed != 0;
}

int rtguard_normal_nice(void)
{
    return (int)normal_nice;
}

static uint64_t clock_ns(clockid_t id)
{
    struct timespec ts;

    if (clock_gettime(id, &ts) != 0)
        return 0; /* then the sample is skipped, never garbage */
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Back to the ordinary policy and, if the guard was armed, to the nice
 * value from before: an unprivileged process may always lower its own
 * priority (the seccomp filter allows exactly these two calls), and may
 * not raise it again, so this is for good. Why not come back when the
 * flood ends: only with CAP_SYS_NICE, which the drop took, or with an
 * RLIMIT_RTPRIO and RLIMIT_NICE above 0 that every child (the filter
 * compiler) would inherit, and a filter that lets the sandboxed port make
 * itself real-time again; a port that lost its priority captures on as
 * {priority, normal} does. Order: the real-time policy first, the one that
 * starves others. */
void rtguard_leave(const char *msg, unsigned long len)
{
    int saved = errno;
    bool was = armed != 0;

    armed = 0;
#ifdef __linux__
    struct sched_param sp = {.sched_priority = 0};

    if (sched_setscheduler(0, SCHED_OTHER | SCHED_RESET_ON_FORK, &sp) == 0 &&
        (!was || setpriority(PRIO_PROCESS, 0, (int)normal_nice) == 0))
        (void)!write(STDERR_FILENO, msg, len);
#else
    /* Elsewhere the port raises nice -10 at most, and the sandboxes there
     * (pledge, capsicum) leave it no call to give it back: the guard only
     * stops watching. */
    (void)was;
    (void)msg;
    (void)len;
#endif
    errno = saved;
}

void rtguard_tick(struct rtguard *g)
{
    static const char msg[] = "epcap: more than a third of a CPU for too long "
                              "(a flood?): raised priority given up\n";
    uint64_t now, cpu;

    if (!armed)
        return;
    now = clock_ns(CLOCK_MONOTONIC);
    if (now == 0 || (g->wall_ns != 0 && now - g->wall_ns < RTGUARD_SAMPLE_NS))
        return;
    cpu = clock_ns(CLOCK_THREAD_CPUTIME_ID);
    if (cpu == 0)
        return;
    if (g->wall_ns != 0 && cpu >= g->cpu_ns && now > g->wall_ns &&
        rtguard_account(&g->debt_ns, now - g->wall_ns, cpu - g->cpu_ns))
        rtguard_leave(msg, sizeof(msg) - 1);
    g->wall_ns = now;
    g->cpu_ns = cpu;
}
