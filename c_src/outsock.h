/* The port's output through a socket the VM reads at its own pace (-O).
 * An Erlang port's stdout is read by the runtime as fast as it comes, with
 * no flow control: a port that ignored its credit could fill the VM's
 * memory before the server saw the excess. A stream socket the server
 * reads with {active, N} bounds what the VM holds to what it asked for;
 * the stdout pipe is then closed, and only its end (the exit status) is
 * still read. */
#ifndef EPCAP_OUTSOCK_H
#define EPCAP_OUTSOCK_H

#include "errors.h"

/* Connects a stream socket to the Unix socket at path (absolute, or
 * "@name" in Linux's abstract namespace, which the VM uses: no file, and
 * the VM checks that who connected is its port) and makes it our stdout;
 * the pipe that was stdout is closed. On failure ({output, Msg}) stdout is
 * unchanged, so the error can still be reported on it. Call with the
 * caller's ids (caller.h): a path is reached with the rights of whoever
 * asked, and the peer sees the caller's credentials, never root's. */
int outsock_connect(const char *path, struct ep_error *e);

#endif
