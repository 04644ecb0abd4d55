#include "options.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control.h"
#include "restrict.h"
#include "version.h"

/* Strict decimal: the Erlang side only sends well-formed numbers, so
 * anything else is a caller bug worth reporting, not guessing around. */
static int parse_int(const char *s, long min, long max, int *out)
{
    char *end = NULL;
    long v;

    if (s == NULL || *s == '\0')
        return -1;
    errno = 0;
    v = strtol(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < min || v > max)
        return -1;
    *out = (int)v;
    return 0;
}

/* Strict decimal (base 10) or, for a mode, octal, within [min, max]. */
static int parse_u64(const char *s, int base, uint64_t min, uint64_t max,
                     uint64_t *out)
{
    char *end = NULL;
    unsigned long long v;

    if (s == NULL || *s < '0' || *s > '9')
        return -1;
    errno = 0;
    v = strtoull(s, &end, base);
    if (errno != 0 || *end != '\0' || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

static int parse_format(const char *s, struct saver_opts *o)
{
    if (strcmp(s, "pcapng") == 0)
        o->format = SAVE_PCAPNG;
    else if (strcmp(s, "pcap") == 0)
        o->format = SAVE_PCAP;
    else
        return -1;
    return 0;
}

/* -W and -m: small numbers held in unsigned. */
static int parse_small(const char *s, int base, uint64_t max, unsigned *out)
{
    uint64_t v;

    if (parse_u64(s, base, base == 8 ? 0 : 1, max, &v) < 0)
        return -1;
    *out = (unsigned)v;
    return 0;
}

/* Saving (saveopts.h): a file may be rotated at 1 byte, second or packet
 * at the least; the mode lets no one but owner and group write. */
static int parse_save(char c, const char *v, struct saver_opts *o)
{
    switch (c) {
    case 'w': o->path = v; return 0;
    case 'o': return parse_format(v, o);
    case 'z': return parse_u64(v, 10, 1, UINT64_MAX / 2, &o->size);
    case 'G': return parse_u64(v, 10, 1, UINT32_MAX, &o->seconds);
    case 'c': return parse_u64(v, 10, 1, UINT64_MAX / 2, &o->packets);
    case 'W': return parse_small(v, 10, SAVER_FILES_MAX, &o->files);
    case 'm': return parse_small(v, 8, 0664, &o->mode);
    default: return 1;
    }
}

static int parse_timeout(const char *s, struct options *o)
{
    if (strcmp(s, "immediate") == 0) {
        o->timeout_mode = TIMEOUT_IMMEDIATE;
        return 0;
    }
    if (strcmp(s, "infinity") == 0) {
        o->timeout_mode = TIMEOUT_INFINITY;
        return 0;
    }
    if (parse_int(s, 0, INT_MAX, &o->timeout_ms) < 0)
        return -1;
    o->timeout_mode = o->timeout_ms == 0 ? TIMEOUT_IMMEDIATE : TIMEOUT_MS;
    return 0;
}

static int parse_direction(const char *s, struct options *o)
{
    if (strcmp(s, "in") == 0)
        o->direction = DIRECTION_IN;
    else if (strcmp(s, "out") == 0)
        o->direction = DIRECTION_OUT;
    else if (strcmp(s, "inout") == 0)
        o->direction = DIRECTION_INOUT;
    else
        return -1;
    return 0;
}

/* -E NAME=VALUE: NAME is PCAP_ then [A-Z0-9_]. Anything else (LD_PRELOAD,
 * GCONV_PATH, ...) could steer the loader or libc of a root process. */
static bool env_ok(const char *setting)
{
    static const char prefix[] = "PCAP_";
    const char *eq = strchr(setting, '=');

    if (eq == NULL || (size_t)(eq - setting) < sizeof(prefix) ||
        strncmp(setting, prefix, sizeof(prefix) - 1) != 0)
        return false;
    for (const char *p = setting + sizeof(prefix) - 1; p < eq; p++)
        if (!((*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '_'))
            return false;
    return true;
}

static int add_env(const char *v, struct options *o)
{
    if (!env_ok(v) || o->n_env >= EPCAP_ENV_MAX)
        return -1;
    o->env[o->n_env++] = v;
    return 0;
}

static void options_defaults(struct options *o)
{
    memset(o, 0, sizeof(*o));
    o->snaplen = EPCAP_SNAPLEN_DEFAULT;
    o->timeout_mode = TIMEOUT_IMMEDIATE;
    o->linktype = 1; /* DLT_EN10MB */
    o->save.mode = SAVER_MODE_DEFAULT;
}

/* Flags that take no argument. */
static int parse_flag(char c, struct options *o)
{
    switch (c) {
    case 'P': o->promiscuous = true; return 0;
    case 'M': o->monitor = true; return 0;
    case 'I': o->inject = true; return 0;
    case 'n': o->nano = true; return 0;
    case 'L': o->list_interfaces = true; return 0;
    case 'Q': o->query_privilege = true; return 0;
    case 'N': o->priority = PRIORITY_NORMAL; return 0;
    case 'T': o->priority = PRIORITY_REALTIME; return 0;
    case 'D': o->save.no_deliver = true; return 0;
    case 'h': o->help = true; return 0;
    case 'v': o->verbose++; return 0;
    case 'K': o->compile_only = true; return 0;
    default: return 1;
    }
}

static int parse_valued(char c, const char *v, struct options *o)
{
    switch (c) {
    case 'i': o->interface = v; return 0;
    case 'f': o->filter = v; return 0;
    case 'r': o->file = v; return 0;
    case 'u': o->user = v; return 0;
    case 'g': o->group = v; return 0;
    case 'C': o->chroot_dir = v; return 0;
    case '2': o->stderr_fifo = v; return 0;
    case 'R': o->relay_fifo = v; return 0;
    case 'O': o->out_socket = v; return 0;
    case 's': return parse_int(v, 1, EPCAP_SNAPLEN_MAX, &o->snaplen);
    case 'b': return parse_int(v, 0, INT_MAX, &o->buffer_size);
    case 'E': return add_env(v, o);
    case 'a': return cpulist_parse(v, &o->cpus);
    case 't': return parse_timeout(v, o);
    case 'd': return parse_direction(v, o);
    case 'F': return fanout_parse(v, &o->fanout);
    case 'y': return parse_int(v, 0, 65535, &o->linktype);
    default: return parse_save(c, v, &o->save);
    }
}

int options_parse(int argc, char *const argv[], struct options *o,
                  struct ep_error *e)
{
    options_defaults(o);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int rc;

        if (a == NULL || a[0] != '-' || a[1] == '\0' || a[2] != '\0')
            return ep_fail(e, "badarg", "unexpected argument: %s",
                           a ? a : "(null)");
        if (parse_flag(a[1], o) == 0)
            continue;
        if (i + 1 >= argc)
            return ep_fail(e, "badarg", "option %s needs a value", a);
        rc = parse_valued(a[1], argv[i + 1], o);
        if (rc > 0)
            return ep_fail(e, "badarg", "unknown option: %s", a);
        if (rc < 0)
            return ep_fail(e, "badarg", "bad value for %s: %s", a, argv[i + 1]);
        i++;
    }
    if (o->file != NULL && o->interface != NULL)
        return ep_fail(e, "badarg", "-r and -i are exclusive");
    if (o->save.path == NULL &&
        (o->save.no_deliver || o->save.size || o->save.seconds ||
         o->save.packets || o->save.files))
        return ep_fail(e, "badarg", "-D, -z, -G, -c and -W need -w");
    if (o->save.files && !o->save.size && !o->save.seconds && !o->save.packets)
        return ep_fail(e, "badarg", "-W needs -z, -G or -c");
    if ((o->save.mode & 0113) != 0)
        return ep_fail(e, "badarg", "-m %o: no execute, no write by others",
                       o->save.mode);
    if (o->filter != NULL && strlen(o->filter) > CTL_FILTER_MAX)
        return ep_fail(e, "badarg", "filter longer than %d bytes",
                       CTL_FILTER_MAX);
    return 0;
}

void options_usage(const char *progname)
{
    fprintf(
        stderr,
        "epcap %s (restrict: %s)\n"
        "usage: %s [-i iface | -r file] [-f filter] [-s snaplen] "
        "[-b buffer]\n"
        "       [-t immediate|infinity|ms] [-d in|out|inout] [-n] [-P] "
        "[-M] [-I]\n"
        "       [-u user] [-g group] [-C chroot] [-E PCAP_NAME=value]... "
        "[-a cpus]\n"
        "       [-F id:mode[:flag,...]] [-N | -T] [-2 fifo] [-O socket] [-R "
        "fifo] [-Q] "
        "\n"
        "       [-w dir/name [-o pcapng|pcap] [-z bytes] [-G seconds] "
        "[-c packets]\n"
        "        [-W files] [-m mode] [-D]] "
        "[-v] "
        "[-L] "
        "[-h]\n"
        "       -K -f filter [-y linktype] [-s snaplen]: compile and print\n"
        "Speaks the epcap wire protocol (doc/protocol.md) on stdin/stdout;\n"
        "meant to be started by the Erlang epcap module.\n",
        EPCAP_VERSION, restrict_mode(), progname);
}
