/* Joining a kernel PACKET_FANOUT group (-F ID:MODE[:FLAG,...]), so that
 * several ports on one interface share its traffic instead of each
 * seeing all of it. */
#ifndef EPCAP_FANOUT_H
#define EPCAP_FANOUT_H

#include <stdbool.h>

#include "errors.h"

struct fanout_spec {
    bool on;
    unsigned id;    /* 0..65535 */
    unsigned mode;  /* index into the mode table, see fanout.c */
    unsigned flags; /* bit i: flag i of the flag table */
};

/* Parse "ID:MODE[:FLAG,...]" without side effects. Returns 0, or -1 on a
 * malformed spec (the caller reports it as badarg). */
int fanout_parse(const char *s, struct fanout_spec *f);

/* Join the group on a live, activated handle's socket (pcap_fileno). Must
 * run before the process restricts itself. Errors: {fanout, Msg}, also
 * for a savefile (fd < 0) and on systems without PACKET_FANOUT. */
int fanout_join(const struct fanout_spec *f, int fd, struct ep_error *e);

#endif
