/* The event loop: libpcap's descriptor and the control channel, in one
 * poll(2), after the process is dropped and restricted. */
#ifndef EPCAP_LOOP_H
#define EPCAP_LOOP_H

#include <stdbool.h>

#include "capture.h"
#include "errors.h"
#include "saver.h"

enum loop_end {
    LOOP_STDIN_EOF, /* the Erlang side is gone: exit quietly */
    LOOP_FILE_EOF,  /* savefile read to its end; `eof` was sent */
    LOOP_ERROR,     /* e is filled; nothing was sent yet */
};

/* Runs until one of the ends above. in/out: the control and data fds.
 * sv: the files every packet is saved to first (NULL: none); the file
 * being written is closed before the loop returns. */
enum loop_end loop_run(struct capture *c, bool inject, struct saver *sv, int in,
                       int out, struct ep_error *e);

#endif
