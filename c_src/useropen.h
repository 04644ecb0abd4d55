/* Opening a capture file with the rights of whoever asked for it. */
#ifndef EPCAP_USEROPEN_H
#define EPCAP_USEROPEN_H

#include "errors.h"

/* Open path read-only without blocking and return the descriptor if it is
 * a regular file. Run as root by sudo (SUDO_UID set, not 0), the open is
 * done with the invoking user's uid, gid and groups, so root's rights
 * never reach a file that user could not read. Changing the effective ids
 * clears PR_SET_PDEATHSIG: the caller re-arms it. Returns the fd
 * (O_CLOEXEC) or -1 with e = {file, Msg} (or {privdrop, Msg} if the ids
 * could not be switched back). */
int useropen_file(const char *path, struct ep_error *e);

/* Open dir as a directory (O_DIRECTORY, following links as any caller's
 * path would) with the same rights as useropen_file, and check that those
 * rights may create files in it (write and search). The port's saved
 * captures are made relative to this descriptor after the drop
 * (saver.c). Returns the fd (O_CLOEXEC) or -1 with e = {save, Msg} (or
 * {privdrop, Msg}). */
int useropen_dir(const char *dir, struct ep_error *e);

#endif
