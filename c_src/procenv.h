/* The process settings the port makes itself, so that no wrapper (env,
 * taskset) has to run between sudo and the port: -E and -a. */
#ifndef EPCAP_PROCENV_H
#define EPCAP_PROCENV_H

#include "errors.h"
#include "options.h"

/* The nice value of a live capture's port, unless -N: see procenv.c. */
#define PROCENV_LIVE_NICE (-10)
/* With -T, a live capture's port runs SCHED_FIFO at this priority (the
 * lowest real-time one: above every ordinary process, below any other
 * real-time priority), until it has run PROCENV_RTTIME_US without waiting
 * (RLIMIT_RTTIME) or has used more of its CPU than rtguard.h allows; then
 * it goes back to the nice value it had before, for good. On a machine where
 * the traffic's source shares a CPU with the port, nice -10 still left the port
 * waiting a whole scheduler tick (4 ms) behind it, longer than a 64 MiB ring
 * lasts at 150 k packets/s (bench/RESULTS.md, section 0.00000). */
#define PROCENV_RT_PRIORITY 1
#define PROCENV_RTTIME_US   1000000L

/* setenv each -E, then sched_setaffinity for -a, then (a live capture, no
 * -N) a higher priority where the port may set one, and for its children
 * the ordinary one (SCHED_RESET_ON_FORK). Call before opening
 * libpcap, which reads PCAP_* variables, and before the drop. Errors:
 * badarg, enomem (setenv), cpu_affinity. */
int procenv_apply(const struct options *o, struct ep_error *e);

/* SCHED_FIFO at PROCENV_RT_PRIORITY, reset on fork, with RLIMIT_RTTIME at
 * rttime_us (the hard limit a second above) and a SIGXCPU handler that
 * goes back to SCHED_OTHER (rtguard_leave). 0, or -1 with errno (EPERM without
 * the privilege; ENOSYS where this is not Linux). Exposed for the C tests. */
int procenv_realtime(long rttime_us);

#endif
