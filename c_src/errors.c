#include "errors.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int ep_fail(struct ep_error *e, const char *reason, const char *fmt, ...)
{
    va_list ap;

    e->reason = reason;
    va_start(ap, fmt);
    (void)vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
    va_end(ap);
    return -1;
}

int ep_fail_errno(struct ep_error *e, const char *reason, const char *call)
{
    int saved = errno;

    return ep_fail(e, reason, "%s: %s", call, strerror(saved));
}

void ep_log(const struct ep_error *e)
{
    size_t n = strlen(e->reason);

    if (strncmp(e->msg, e->reason, n) == 0 && e->msg[n] == ':')
        fprintf(stderr, "epcap: %s\n", e->msg);
    else
        fprintf(stderr, "epcap: %s: %s\n", e->reason, e->msg);
}
