/* The process settings the port makes itself, so that no wrapper (env,
 * taskset) has to run between sudo and the port: -E and -a. */
#ifndef EPCAP_PROCENV_H
#define EPCAP_PROCENV_H

#include "errors.h"
#include "options.h"

/* setenv each -E, then sched_setaffinity for -a. Call before opening
 * libpcap, which reads PCAP_* variables. Errors: env, cpu_affinity. */
int procenv_apply(const struct options *o, struct ep_error *e);

#endif
