/* `epcap -L`: pcap_findalldevs as one term, for epcap:interfaces/0. */
#ifndef EPCAP_INTERFACES_H
#define EPCAP_INTERFACES_H

#include "errors.h"

/* Sends {interfaces, [#{name, description, addresses, flags}]} on fd.
 * Returns 0 or -1 with e filled. */
int interfaces_send(int fd, struct ep_error *e);

#endif
