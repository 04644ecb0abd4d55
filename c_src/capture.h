/* Opening libpcap (live or savefile) and changing its filter. */
#ifndef EPCAP_CAPTURE_H
#define EPCAP_CAPTURE_H

#include <stdbool.h>

#include <pcap/pcap.h>

#include "errors.h"
#include "options.h"

struct capture {
    pcap_t *p;
    int dlt;
    int fd; /* selectable fd of a live handle, -1 for a savefile */
    bool live;
    bpf_u_int32 netmask;
    int poll_ms;    /* -1, or the longest poll libpcap allows between reads */
    char *file_buf; /* stdio buffer of a savefile; freed after pcap_close */
};

/* Errors: no_such_device, permission_denied, monitor_not_supported,
 * interface_down, file, filter, direction, pcap. */
int capture_open(const struct options *o, struct capture *c,
                 struct ep_error *e);

/* Compile and install; on failure the old filter stays in force. */
int capture_setfilter(struct capture *c, const char *filter,
                      struct ep_error *e);

void capture_close(struct capture *c);

#endif
