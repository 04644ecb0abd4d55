/* Errors travel to Erlang as values: {error, {Reason, Message}}. */
#ifndef EPCAP_ERRORS_H
#define EPCAP_ERRORS_H

#include <stddef.h>

struct ep_error {
    const char *reason; /* an Erlang atom, e.g. "filter", "privdrop" */
    char msg[512];      /* human-readable detail */
};

/* Fill e and return -1, so that callers can write `return ep_fail(e, ...)`. */
int ep_fail(struct ep_error *e, const char *reason, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ep_fail with ": strerror(errno)" appended, for failed syscalls. */
int ep_fail_errno(struct ep_error *e, const char *reason, const char *call);

/* "epcap: reason: msg" on stderr, or "epcap: msg" when msg already
 * starts with the reason (ep_fail_errno(e, "write", "write") reads
 * "write: Broken pipe", not "write: write: Broken pipe"). */
void ep_log(const struct ep_error *e);

#endif
