#include "procenv.h"

#include <errno.h>
#include <stdbool.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>
#ifdef __linux__
#include <sched.h>
#endif

#include "rtguard.h"

static int set_env(const char *setting, struct ep_error *e)
{
    const char *eq = strchr(setting, '=');
    char name[128];
    size_t n = (size_t)(eq - setting);

    if (n >= sizeof(name))
        return ep_fail(e, "badarg", "-E name too long: %.*s", (int)n, setting);
    memcpy(name, setting, n);
    name[n] = '\0';
    if (setenv(name, eq + 1, 1) < 0)
        return ep_fail_errno(e, "enomem", name); /* setenv: ENOMEM only */
    return 0;
}

static int set_affinity(const struct cpulist *l, struct ep_error *e)
{
#ifdef __linux__
    cpu_set_t set;

    CPU_ZERO(&set);
    for (unsigned c = 0; c < CPULIST_MAX && c < CPU_SETSIZE; c++)
        if (cpulist_has(l, c))
            CPU_SET(c, &set);
    if (sched_setaffinity(0, sizeof(set), &set) < 0)
        return ep_fail_errno(e, "cpu_affinity", "sched_setaffinity");
    return 0;
#else
    (void)l;
    return ep_fail(e, "cpu_affinity", "not supported on this system");
#endif
}

/* A live capture's kernel ring overflows whenever the port is off its CPU
 * for longer than the ring lasts; on a busy machine the VM's schedulers
 * (which spin before they sleep) and the traffic's own source take turns
 * with it. A higher priority, while the port may still set one, keeps the
 * ring drained (bench/RESULTS.md, section 2). The packet rate decides the
 * port's work, so rtguard.c bounds how much of a CPU it may take at that
 * priority. Without the privilege (a port with capture capabilities only)
 * the priority stays as it was: that is not an error. *before: the nice
 * value it had; true if it is now lower. */
static bool raise_priority(int *before)
{
    errno = 0;
    *before = getpriority(PRIO_PROCESS, 0);
    if (*before == -1 && errno != 0)
        return false; /* no failure is possible for our own pid */
    return setpriority(PRIO_PROCESS, 0, PROCENV_LIVE_NICE) == 0 &&
           *before > PROCENV_LIVE_NICE;
}

#ifdef __linux__
#ifndef SCHED_RESET_ON_FORK
#define SCHED_RESET_ON_FORK 0x40000000
#endif

/* Back to SCHED_OTHER at the nice value set before, children included:
 * an unprivileged process may always lower its policy (and must keep
 * reset-on-fork once set). Children (the filter compiler, filtercc.c)
 * start at SCHED_OTHER and nice 0: a minute-long compile must not run at
 * the port's priority. */
static int to_ordinary(void)
{
    struct sched_param sp = {.sched_priority = 0};

    return sched_setscheduler(0, SCHED_OTHER | SCHED_RESET_ON_FORK, &sp);
}

/* RLIMIT_RTTIME's soft limit: the port has run that long at real-time
 * priority without once waiting for anything (a bug, or a flood it cannot
 * keep up with: one it can keep up with has it wait between frames, which
 * resets the limit; rtguard.c bounds that one). It gives up the raised
 * priority for good, as rtguard.c does. SIGXCPU comes from the kernel
 * only, and rtguard_leave touches nothing but the scheduler, stderr and
 * the guard's two flags. */
static void on_rttime(int sig)
{
    static const char msg[] = "epcap: on the CPU too long without a pause "
                              "(RLIMIT_RTTIME): real-time priority given up\n";

    (void)sig;
    rtguard_leave(msg, sizeof(msg) - 1);
}

int procenv_realtime(long rttime_us)
{
    struct sigaction sa;
    struct rlimit rl = {(rlim_t)rttime_us, (rlim_t)rttime_us + 1000000};
    struct sched_param sp = {.sched_priority = PROCENV_RT_PRIORITY};

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_rttime;
    sa.sa_flags = SA_RESTART;
    /* The limit and its handler first: the port is never real-time
     * without them. The hard limit kills a port whose handler failed. */
    if (sigemptyset(&sa.sa_mask) < 0 || sigaction(SIGXCPU, &sa, NULL) < 0 ||
        setrlimit(RLIMIT_RTTIME, &rl) < 0)
        return -1;
    return sched_setscheduler(0, SCHED_FIFO | SCHED_RESET_ON_FORK, &sp);
}
#else
int procenv_realtime(long rttime_us)
{
    (void)rttime_us;
    errno = ENOSYS;
    return -1;
}
#endif

/* What priority asks for, as far as the port may have it; never an error
 * (see raise_priority). The guard is armed before SCHED_FIFO is set, so
 * the port is never real-time without it, and only when something was
 * raised: a port that may not raise its priority has nothing to give
 * back. */
static void set_priority(enum priority p)
{
    int before = 0;
    bool lowered;

    if (p == PRIORITY_NORMAL)
        return;
    lowered = raise_priority(&before);
    if (p == PRIORITY_REALTIME) {
        rtguard_arm(before);
        if (procenv_realtime(PROCENV_RTTIME_US) == 0)
            return;
    }
#ifdef __linux__
    (void)to_ordinary();
#endif
    if (lowered)
        rtguard_arm(before);
    else
        rtguard_disarm();
}

int procenv_apply(const struct options *o, struct ep_error *e)
{
    for (int i = 0; i < o->n_env; i++)
        if (set_env(o->env[i], e) < 0)
            return -1;
    if (o->cpus.given && set_affinity(&o->cpus, e) < 0)
        return -1;
    if (o->interface != NULL)
        set_priority(o->priority);
    return 0;
}
