/* Filter compilation, bounded in time and memory (issue 15, item 3). */
#ifndef EPCAP_FILTERCC_H
#define EPCAP_FILTERCC_H

#include <pcap/pcap.h>

#include "errors.h"

#define FILTERCC_CPU_SECONDS 2                   /* RLIMIT_CPU of the child */
#define FILTERCC_WALL_MS     5000                /* then we stop waiting */
#define FILTERCC_DATA_BYTES  ((size_t)256 << 20) /* RLIMIT_DATA */
#define FILTERCC_INSNS_MAX   65536

/* Before the sandbox: children are reaped by the kernel (SIGCHLD ignored),
 * so none is ever waited for or killed; the guards of an in-place compile
 * (SIGIO on watch_fd, SIGPROF) are installed. watch_fd: stdin, or -1.
 * Returns 0 or -1 with e filled. */
int filtercc_init(int watch_fd, struct ep_error *e);

/* Compile filter for p in a forked child limited by FILTERCC_CPU_SECONDS
 * and FILTERCC_DATA_BYTES, and wait at most FILTERCC_WALL_MS for it. While
 * waiting, watch_fd (stdin) is polled: if the Erlang side hangs up, the
 * process exits at once (status 0). The child dies with us
 * (PR_SET_PDEATHSIG). If no child can be made (RLIMIT_NPROC in rlimit
 * mode, pledge), the compile runs here, ended with the process if
 * watch_fd hangs up, and after FILTERCC_CPU_SECONDS of CPU with a line on
 * stderr and exit status 1. On success out holds
 * malloc'd instructions (free with filtercc_free). Errors: {filter, Msg}. */
int filtercc_compile(pcap_t *p, const char *filter, bpf_u_int32 netmask,
                     int watch_fd, struct bpf_program *out, struct ep_error *e);

void filtercc_free(struct bpf_program *prog);

#endif
