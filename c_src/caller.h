/* Who asked for this run of the port: the user behind sudo, behind a
 * set-user-ID bit, or behind file capabilities. The privileged binary
 * does only capture work (doc/security.md); whatever it does on the
 * filesystem for its caller (a capture file, the stderr FIFO, a chroot
 * path, the relay) is done with the caller's ids, never with root's. */
#ifndef EPCAP_CALLER_H
#define EPCAP_CALLER_H

#include <stdbool.h>
#include <sys/types.h>

#include "errors.h"

#define CALLER_MAX_GROUPS 256

enum caller_kind {
    CALLER_SELF,  /* no elevation: root itself, or a user with no privilege */
    CALLER_SUDO,  /* uid 0 by sudo: SUDO_UID names the user */
    CALLER_SETID, /* a set-user-ID root binary: the real uid is the user */
    CALLER_CAPS   /* file capabilities: ids are already the user's */
};

struct caller {
    enum caller_kind kind;
    uid_t uid;
    gid_t gid;
    int ngroups;
    gid_t groups[CALLER_MAX_GROUPS];
};

/* Fill c from the process's ids, capabilities and SUDO_UID. A SUDO_UID
 * that names no user, or a user with too many groups, is an error
 * ({privdrop, Msg}): guessing would mean acting as root for them. */
int caller_identify(struct caller *c, struct ep_error *e);

/* True when the ids or capabilities we hold are not the caller's own. */
bool caller_elevated(const struct caller *c);

/* Make the caller's uid, gid and groups the effective ones, until
 * caller_leave. Nothing to do for CALLER_SELF and CALLER_CAPS (the ids are
 * the caller's; the capabilities held grant no file access). Changing the
 * effective ids clears PR_SET_PDEATHSIG: re-arm it afterwards. */
int caller_enter(const struct caller *c, struct ep_error *e);

/* Back to root's effective ids after caller_enter; if that fails nothing
 * is safe to do, and the error says so ({privdrop, Msg}). */
int caller_leave(const struct caller *c, struct ep_error *e);

/* Become the caller for good: every id, no capability, NO_NEW_PRIVS. For
 * modes that do no capture at all (the relay). CALLER_SELF keeps its ids
 * (root running us itself chose to) but sheds nothing else. */
int caller_become(const struct caller *c, struct ep_error *e);

#endif
