#include "procenv.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#ifdef __linux__
#include <sched.h>
#endif

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
 * ring drained (bench/RESULTS.md, section 2). The port's work is bounded
 * by the packet rate and the credit the VM grants. Without the privilege
 * (a port with capture capabilities only) the priority stays as it was:
 * that is not an error. */
static void raise_priority(void)
{
    errno = 0;
    if (getpriority(PRIO_PROCESS, 0) == -1 && errno != 0)
        return;
    if (setpriority(PRIO_PROCESS, 0, PROCENV_LIVE_NICE) < 0 && errno != EPERM &&
        errno != EACCES)
        return; /* no other failure is possible for our own pid */
}

int procenv_apply(const struct options *o, struct ep_error *e)
{
    for (int i = 0; i < o->n_env; i++)
        if (set_env(o->env[i], e) < 0)
            return -1;
    if (o->cpus.given && set_affinity(&o->cpus, e) < 0)
        return -1;
    if (o->interface != NULL && !o->normal_priority)
        raise_priority();
    return 0;
}
