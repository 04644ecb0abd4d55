/* Flow-control credit: packets the Erlang side is ready to take. The port
 * reads libpcap only while it holds credit, so a slow owner makes the
 * kernel drop (and count) instead of the VM's memory growing. */
#ifndef EPCAP_CREDIT_H
#define EPCAP_CREDIT_H

#include <stdint.h>

struct credit {
    uint64_t avail;
};

void credit_init(struct credit *c);
/* Saturates instead of wrapping: a grant can never turn into a debt. */
void credit_grant(struct credit *c, uint32_t n);
/* How many packets may be read now, at most max. */
uint32_t credit_quota(const struct credit *c, uint32_t max);
/* Consume n packets; never goes below zero. */
void credit_take(struct credit *c, uint32_t n);

#endif
