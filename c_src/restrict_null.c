/* RESTRICT_PROCESS=null: no process restriction at all. Only the privilege
 * drop (and chroot, if asked) protects the host. Unsafe: for debugging, and
 * for platforms where no other mode builds. `ready` reports "null" so that
 * nobody runs it by accident without seeing it. */
#include "restrict.h"

const char *restrict_mode(void)
{
    return "null";
}

int restrict_init(const struct restrict_ctx *c, struct ep_error *e)
{
    (void)c;
    (void)e;
    return 0;
}

int restrict_apply(const struct restrict_ctx *c, struct ep_error *e)
{
    (void)c;
    (void)e;
    return 0;
}
