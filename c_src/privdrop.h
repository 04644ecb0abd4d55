/* Privilege drop, done after libpcap is open and before the sandbox. */
#ifndef EPCAP_PRIVDROP_H
#define EPCAP_PRIVDROP_H

#include "errors.h"

struct privdrop_opts {
    const char *user;       /* name or numeric uid; NULL = "nobody" */
    const char *group;      /* name or numeric gid; NULL = the user's primary group */
    const char *chroot_dir; /* NULL = no chroot */
};

/* Look up user/group and check the chroot directory while we may still read
 * /etc/passwd: call before privdrop_apply. Errors: no_such_user, no_such_group,
 * chroot (directory missing). Returns 0 or -1 with e filled. */
int privdrop_prepare(const struct privdrop_opts *o, struct ep_error *e);

/* If privileged (euid 0 or any effective capability): chroot, chdir("/"),
 * setgroups, setresgid, setresuid, PR_SET_NO_NEW_PRIVS, then verify that root
 * cannot be regained. Unprivileged: only PR_SET_NO_NEW_PRIVS.
 * Returns 0 or -1 with e filled (reason "privdrop"). Fails closed. */
int privdrop_apply(struct ep_error *e);

#endif
