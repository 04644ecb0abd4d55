/* The event loop: libpcap's descriptor and the control channel, in one
 * poll(2), after the process is dropped and restricted. */
#ifndef EPCAP_LOOP_H
#define EPCAP_LOOP_H

#include <stdbool.h>

#include "capture.h"
#include "errors.h"

enum loop_end {
    LOOP_STDIN_EOF, /* the Erlang side is gone: exit quietly */
    LOOP_FILE_EOF,  /* savefile read to its end; `eof` was sent */
    LOOP_ERROR,     /* e is filled; nothing was sent yet */
};

/* Runs until one of the ends above. in/out: the control and data fds. */
enum loop_end loop_run(struct capture *c, bool inject, int in, int out,
                       struct ep_error *e);

#endif
