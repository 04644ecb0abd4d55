/* The process settings the port makes itself, so that no wrapper (env,
 * taskset) has to run between sudo and the port: -E and -a. */
#ifndef EPCAP_PROCENV_H
#define EPCAP_PROCENV_H

#include "errors.h"
#include "options.h"

/* The nice value of a live capture's port, unless -N: see procenv.c. */
#define PROCENV_LIVE_NICE (-10)

/* setenv each -E, then sched_setaffinity for -a, then (a live capture, no
 * -N) a higher priority where the port may set one. Call before opening
 * libpcap, which reads PCAP_* variables, and before the drop. Errors:
 * badarg, enomem (setenv), cpu_affinity. */
int procenv_apply(const struct options *o, struct ep_error *e);

#endif
