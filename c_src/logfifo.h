/* The port's stderr, sent to a FIFO the Erlang side reads (-2 PATH). */
#ifndef EPCAP_LOGFIFO_H
#define EPCAP_LOGFIFO_H

/* Makes the FIFO at path (mode 0600) and makes it our stderr, opened
 * read-write and non-blocking so that no reader needs to be there yet:
 * nothing here or later waits for one.
 * Best effort: if any step fails, stderr stays what it was, and the Erlang
 * side's reader finds no FIFO and ends; diagnostics are never a reason not
 * to capture. Call first, before anything may write to stderr. */
void logfifo_open(const char *path);

#endif
