/* The port program's command line, parsed without side effects. */
#ifndef EPCAP_OPTIONS_H
#define EPCAP_OPTIONS_H

#include <stdbool.h>

#include "cpulist.h"
#include "errors.h"
#include "fanout.h"
#include "saveopts.h"

#define EPCAP_SNAPLEN_DEFAULT 65535
#define EPCAP_SNAPLEN_MAX     262144
#define EPCAP_ENV_MAX         16 /* -E settings */

enum timeout_mode { TIMEOUT_IMMEDIATE, TIMEOUT_MS, TIMEOUT_INFINITY };
enum direction { DIRECTION_INOUT, DIRECTION_IN, DIRECTION_OUT };

/* How a live capture's port is scheduled (procenv.c): nice -10 (the port's
 * own default), the VM's priority (-N), or SCHED_FIFO over nice -10 (-T,
 * what the Erlang side asks for by default). */
enum priority { PRIORITY_RAISED = 0, PRIORITY_NORMAL, PRIORITY_REALTIME };

struct options {
    const char *interface; /* NULL: libpcap's first device */
    const char *filter;    /* NULL: everything */
    const char *file;      /* savefile instead of a live capture */
    const char *user;      /* privilege drop target, NULL: nobody */
    const char *group;     /* NULL: the user's group */
    const char *chroot_dir;
    const char *env[EPCAP_ENV_MAX]; /* -E PCAP_NAME=VALUE */
    int n_env;
    struct cpulist cpus; /* -a */
    int snaplen;
    int buffer_size; /* bytes, 0: libpcap's default */
    enum timeout_mode timeout_mode;
    int timeout_ms;
    enum direction direction;
    bool nano;
    bool promiscuous;
    bool monitor;
    bool inject;
    bool list_interfaces;
    bool query_privilege;    /* -Q: print privcheck's answer, exit */
    enum priority priority;  /* a live capture's: -N normal, -T realtime */
    const char *stderr_fifo; /* -2: make this FIFO our stderr */
    const char *relay_fifo;  /* -R: relay this FIFO to stdout, nothing else */
    const char *out_socket;  /* -O: our output through this Unix socket */
    bool help;
    int verbose;
    struct fanout_spec fanout; /* -F: a PACKET_FANOUT group to join */
    bool compile_only;      /* -K: compile the filter for -y, print it, exit */
    int linktype;           /* -y: the DLT -K compiles for */
    struct saver_opts save; /* -w and the rest: saving to files */
};

/* Parse argv[1..argc-1]. Returns 0, or -1 with e = {badarg, "..."}. Strings
 * in o point into argv. */
int options_parse(int argc, char *const argv[], struct options *o,
                  struct ep_error *e);

void options_usage(const char *progname);

#endif
