/* Privilege drop, done after libpcap is open and before the sandbox. */
#ifndef EPCAP_PRIVDROP_H
#define EPCAP_PRIVDROP_H

#include <stdbool.h>

#include "caller.h"
#include "errors.h"

struct privdrop_opts {
    const char *user; /* name or numeric uid; NULL = "nobody" */
    const char
        *group; /* name or numeric gid; NULL = the user's primary group */
    const char *chroot_dir; /* NULL = no chroot, or see jail_default */
    bool jail_default;      /* no chroot_dir and euid 0: JAIL_DEFAULT_DIR */
    /* Who asked (caller.h): a chroot_dir is walked with the caller's ids,
     * so that root's rights never probe a path for them. NULL: ours. */
    const struct caller *who;
};

/* Look up user/group while we may still read /etc/passwd, and open the
 * chroot directory (jail.h): call before privdrop_apply. Errors:
 * no_such_user, no_such_group, privdrop (uid/gid 0), chroot. Returns 0 or
 * -1 with e filled. */
int privdrop_prepare(const struct privdrop_opts *o, struct ep_error *e);

/* Three cases (doc/security.md):
 *  - euid 0, or capabilities including CAP_SETUID: fchdir to the opened
 *    jail, chroot("."),
 *    setgroups, setresgid, setresuid, clear capabilities, NO_NEW_PRIVS, then
 *    verify that ids are the target's and root cannot be regained;
 *  - other capabilities only (a `make setcap` binary run by a user): clear
 *    them, NO_NEW_PRIVS, verify; -u/-g/-C are then errors;
 *  - no privilege: NO_NEW_PRIVS only; -C is an error.
 * Returns 0 or -1 with e filled (reason "privdrop"). Fails closed. */
int privdrop_apply(struct ep_error *e);

#endif
