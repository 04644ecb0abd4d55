/* Process restriction: exactly one backend (restrict_<mode>.c) is linked in. */
#ifndef EPCAP_RESTRICT_H
#define EPCAP_RESTRICT_H

#include <stdbool.h>

#include "errors.h"

struct restrict_ctx {
    int pcap_fd;  /* libpcap's selectable fd, -1 for a savefile */
    bool inject;  /* pcap_inject will be called */
    bool live;    /* live capture (setfilter/stats touch the socket) */
    int save_dir; /* saver.h: the save directory's fd, -1 if not saving */
    int save_fd;  /* saver.h: the fd number every saved file is, or -1 */
};

/* The mode's name, reported in `ready` and by -h: "seccomp", "rlimit", ... */
const char *restrict_mode(void);

/* While still privileged, before the drop (e.g. load libraries, build the
 * filter). Returns 0 or -1 with e filled (reason "restrict"). */
int restrict_init(const struct restrict_ctx *c, struct ep_error *e);

/* After the privilege drop, before `ready`. Fails closed: -1 with e filled. */
int restrict_apply(const struct restrict_ctx *c, struct ep_error *e);

#endif
