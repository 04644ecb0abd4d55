/* Confining the port's filesystem writes to its save directory. */
#ifndef EPCAP_SAVEJAIL_H
#define EPCAP_SAVEJAIL_H

#include "errors.h"

/* Landlock (Linux >= 5.13): from now on this process and its children may
 * make, write, truncate and remove regular files beneath dirfd only, and
 * open nothing else anywhere (no read, no directory listing, no other
 * kind of file). Descriptors already open are not affected. Needs
 * NO_NEW_PRIVS (privdrop_apply sets it). Fails closed: a kernel without
 * Landlock is {save, "Landlock: ..."}. 0 or -1 with e filled. */
int savejail_confine(int dirfd, struct ep_error *e);

#endif
