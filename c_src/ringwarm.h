/* Touching a live capture's kernel ring once, before packets arrive. */
#ifndef EPCAP_RINGWARM_H
#define EPCAP_RINGWARM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Reads one byte of every page that the packet socket fd has mapped
 * (libpcap's TPACKET ring), as /proc/self/maps lists them. Returns the
 * bytes so touched: 0 when fd maps nothing or /proc cannot be read. It
 * only saves time later, so it never fails. */
size_t ringwarm(int fd);

/* Whether one /proc/self/maps line is a readable mapping of the socket
 * with inode ino; if so, its range. */
bool ringwarm_match(const char *line, unsigned long ino, uintptr_t *lo,
                    uintptr_t *hi);

/* Reads one byte of every page from lo (page-aligned) to hi: the bytes
 * so touched. */
size_t ringwarm_range(uintptr_t lo, uintptr_t hi, uintptr_t page);

#endif
