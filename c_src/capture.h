/* Opening libpcap (live or savefile) and changing its filter. */
#ifndef EPCAP_CAPTURE_H
#define EPCAP_CAPTURE_H

#include <stdbool.h>
#include <stdint.h>

#include <pcap/pcap.h>

#include "errors.h"
#include "options.h"
#include "savefile.h"

struct capture {
    pcap_t *p;
    int dlt;
    int fd; /* selectable fd of a live handle, -1 for a savefile */
    bool live;
    bpf_u_int32 netmask;
    char *file_buf;     /* stdio buffer of a savefile; freed after pcap_close */
    struct savefile sf; /* a savefile's records, while it reads them */
    char err[96];       /* what failed outside libpcap (capture_geterr) */
    int verbose;        /* -v count: diagnostics on stderr (the FIFO) */
    uint32_t nap_slots; /* immediate mode's ring, for gather.h; 0: no naps */
    char dev[256];      /* a live capture's device, "" for a savefile */
};

/* Opens the handle only: the filter is set after the privilege drop
 * (capture_setfilter), so its unbounded compile never runs as root.
 * Errors: no_such_device, permission_denied, monitor_not_supported,
 * interface_down, file, direction, pcap, privdrop (sudo user switch). */
int capture_open(const struct options *o, struct capture *c,
                 struct ep_error *e);

/* Compile (bounded: filtercc.h) and install; on failure the old filter
 * stays in force. Exits the process if stdin hangs up meanwhile. */
int capture_setfilter(struct capture *c, const char *filter,
                      struct ep_error *e);

/* pcap_dispatch(3PCAP), through savefile.h's reader while it has the
 * file. *stop: set by cb to end the call early (cb may also call
 * pcap_breakloop). -1: capture_geterr says why. */
int capture_dispatch(struct capture *c, int max, pcap_handler cb, u_char *user,
                     const int *stop);

/* The message of the last capture_dispatch or libpcap failure. */
const char *capture_geterr(struct capture *c);

/* The longest a poll may wait before libpcap must be called again, even
 * with no event on its descriptor: -1 (no limit) or milliseconds. */
int capture_poll_ms(const struct capture *c);

void capture_close(struct capture *c);

#endif
