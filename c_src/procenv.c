#include "procenv.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#ifdef __linux__
#include <sched.h>
#endif

static int set_env(const char *setting, struct ep_error *e)
{
    const char *eq = strchr(setting, '=');
    char name[128];
    size_t n = (size_t)(eq - setting);

    if (n >= sizeof(name))
        return ep_fail(e, "env", "name too long: %.*s", (int)n, setting);
    memcpy(name, setting, n);
    name[n] = '\0';
    if (setenv(name, eq + 1, 1) < 0)
        return ep_fail_errno(e, "env", name);
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

int procenv_apply(const struct options *o, struct ep_error *e)
{
    for (int i = 0; i < o->n_env; i++)
        if (set_env(o->env[i], e) < 0)
            return -1;
    if (o->cpus.given && set_affinity(&o->cpus, e) < 0)
        return -1;
    return 0;
}
