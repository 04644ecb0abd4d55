/* The chroot directory, opened once and checked on the descriptor. */
#ifndef EPCAP_JAIL_H
#define EPCAP_JAIL_H

#include <stdbool.h>

#include "errors.h"

/* Where a port started as root goes when no -C is given. */
#define JAIL_DEFAULT_DIR "/run/epcap"

/* Open dir component by component from "/" (absolute paths only; no
 * symlink, no ".."), each component a directory owned by root and not
 * group/other writable, and the last one not "/" itself. With create, a
 * missing last component is made root:root 0755. Returns the open
 * directory (O_CLOEXEC), or -1 with e = {chroot, Msg}. */
int jail_open(const char *dir, bool create, struct ep_error *e);

#endif
