/* The port's saving options (-w -o -z -G -c -W -m -D), parsed by
 * options.c and acted on by saver.c. */
#ifndef EPCAP_SAVEOPTS_H
#define EPCAP_SAVEOPTS_H

#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>

#include "pcapng.h"

#define SAVER_FILES_MAX    100000
#define SAVER_MODE_DEFAULT 0640
/* Every saved file is made so: never through a link, never over a file
 * (the seccomp filter admits openat with exactly these flags). */
#define SAVER_OPEN_FLAGS (O_CREAT | O_EXCL | O_NOFOLLOW | O_WRONLY | O_CLOEXEC)

struct saver_opts {
    const char *path;        /* -w DIR/BASE; NULL: no saving */
    enum save_format format; /* -o */
    uint64_t size;           /* -z: bytes a file may reach, 0: no limit */
    uint64_t seconds;        /* -G: seconds a file may cover, 0: no limit */
    uint64_t packets;        /* -c: packets a file may hold, 0: no limit */
    unsigned files;          /* -W: keep the newest N, 0: all */
    unsigned mode;           /* -m: the files' mode, default 0640 */
    bool no_deliver;         /* -D: save only, send no packet to the VM */
};

#endif
