/* The port's stderr, sent to a FIFO the Erlang side reads (-2 PATH). */
#ifndef EPCAP_LOGFIFO_H
#define EPCAP_LOGFIFO_H

/* Makes the FIFO at path (mode 0600) and makes it our stderr, opened
 * read-write and non-blocking so that no reader needs to be there yet:
 * nothing here or later waits for one. Only in a directory of ours that
 * no one else may enter (checked on its descriptor, opened without
 * following a link), and only if what it opens is a FIFO of ours.
 * Best effort: if any step fails, stderr stays what it was, and the Erlang
 * side's reader finds no FIFO and ends; diagnostics are never a reason not
 * to capture. Call first, before anything may write to stderr. */
void logfifo_open(const char *path);

/* -R PATH: the reader of such a FIFO, for the Erlang side: an empty line
 * once it is open and checked (a FIFO of ours, in a directory of ours no
 * one else may enter; anything else is exit status 1 with nothing read),
 * after which it removes the name and the directory; then every byte written to
 * it, until the last writer has gone. Never waits for a writer to come: a FIFO
 * whose port has already exited ends the relay at once. Returns the exit
 * status. */
int logfifo_relay(const char *path);

#endif
