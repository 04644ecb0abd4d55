/* epcap_relay FIFO: the reader of a port's stderr FIFO (logfifo.h), as a
 * program of its own. The port program can relay too (-R), but it is a
 * larger program, with libseccomp, and where libpcap is a shared library
 * (PCAP_LINK=shared) D-Bus, systemd and their compression and crypto
 * libraries with it: thirteen objects to map and relocate, 6 ms of a
 * capture's start on a machine where page faults are dear, for a loop of
 * read and write. This one loads libc only. */
#include <signal.h>
#include <stdio.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#include "logfifo.h"

int main(int argc, char *argv[])
{
    pid_t parent = getppid();

    if (argc != 2) {
        (void)fprintf(stderr, "usage: %s FIFO\n",
                      argc > 0 ? argv[0] : "epcap_relay");
        return 2;
    }
#ifdef __linux__
    /* Ends with the VM, as the port does (epcap.c). */
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
        return 1;
#else
    (void)parent;
#endif
    /* A VM gone between two writes is an EPIPE, and the end. */
    if (signal(SIGPIPE, SIG_IGN) == SIG_ERR)
        return 1;
    return logfifo_relay(argv[1]);
}
