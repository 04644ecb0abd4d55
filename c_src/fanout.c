#include "fanout.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#ifdef __linux__
#include <linux/if_packet.h>
#include <sys/socket.h>
#endif

#define FANOUT_ID_MAX 65535

/* The names are the protocol with Erlang (src/epcap_fanout.erl); the values
 * exist only where the kernel headers have them, so the table is the same
 * everywhere and fanout_join says what this system lacks. */
struct name_value {
    const char *name;
    /* cppcheck-suppress unusedStructMember ; read under PACKET_FANOUT */
    int value; /* -1: not in this system's headers */
};

static const struct name_value modes[] = {
#ifdef PACKET_FANOUT
    {"hash", PACKET_FANOUT_HASH},  {"lb", PACKET_FANOUT_LB},
    {"cpu", PACKET_FANOUT_CPU},    {"rollover", PACKET_FANOUT_ROLLOVER},
    {"random", PACKET_FANOUT_RND}, {"qm", PACKET_FANOUT_QM},
#else
    {"hash", -1},     {"lb", -1},     {"cpu", -1},
    {"rollover", -1}, {"random", -1}, {"qm", -1},
#endif
};

static const struct name_value flags[] = {
#ifdef PACKET_FANOUT_FLAG_DEFRAG
    {"defrag", PACKET_FANOUT_FLAG_DEFRAG},
#else
    {"defrag", -1},
#endif
#ifdef PACKET_FANOUT_FLAG_ROLLOVER
    {"rollover", PACKET_FANOUT_FLAG_ROLLOVER},
#else
    {"rollover", -1},
#endif
#ifdef PACKET_FANOUT_FLAG_IGNORE_OUTGOING
    {"ignore_outgoing", PACKET_FANOUT_FLAG_IGNORE_OUTGOING},
#else
    {"ignore_outgoing", -1},
#endif
};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

static int lookup(const struct name_value *t, size_t n, const char *s,
                  size_t len)
{
    for (size_t i = 0; i < n; i++)
        if (strlen(t[i].name) == len && strncmp(t[i].name, s, len) == 0)
            return (int)i;
    return -1;
}

static int parse_id(const char *s, const char **rest, unsigned *id)
{
    char *end = NULL;
    long v;

    if (*s < '0' || *s > '9')
        return -1;
    errno = 0;
    v = strtol(s, &end, 10);
    if (errno != 0 || *end != ':' || v < 0 || v > FANOUT_ID_MAX)
        return -1;
    *id = (unsigned)v;
    *rest = end + 1;
    return 0;
}

/* "defrag,rollover": each known once, none empty. */
static int parse_flags(const char *s, unsigned *out)
{
    *out = 0;
    for (;;) {
        size_t len = strcspn(s, ",");
        int i = lookup(flags, NELEM(flags), s, len);

        if (i < 0 || (*out & (1U << i)) != 0)
            return -1;
        *out |= 1U << i;
        if (s[len] == '\0')
            return 0;
        s += len + 1;
    }
}

int fanout_parse(const char *s, struct fanout_spec *f)
{
    const char *mode;
    size_t len;
    int m;

    memset(f, 0, sizeof(*f));
    if (s == NULL || parse_id(s, &mode, &f->id) < 0)
        return -1;
    len = strcspn(mode, ":");
    m = lookup(modes, NELEM(modes), mode, len);
    if (m < 0)
        return -1;
    f->mode = (unsigned)m;
    if (mode[len] == ':' && parse_flags(mode + len + 1, &f->flags) < 0)
        return -1;
    f->on = true;
    return 0;
}

#ifdef PACKET_FANOUT
static int fanout_arg(const struct fanout_spec *f, int *arg, struct ep_error *e)
{
    int v = modes[f->mode].value;

    for (size_t i = 0; i < NELEM(flags); i++) {
        if ((f->flags & (1U << i)) == 0)
            continue;
        if (flags[i].value < 0)
            return ep_fail(e, "fanout", "flag %s not in this kernel's headers",
                           flags[i].name);
        v |= flags[i].value;
    }
    /* The kernel reads the group id from the low 16 bits, the mode and
     * flags from the high 16 (packet(7)). */
    *arg = (int)f->id | (v << 16);
    return 0;
}
#endif

int fanout_join(const struct fanout_spec *f, int fd, struct ep_error *e)
{
    if (!f->on)
        return 0;
    if (fd < 0)
        return ep_fail(e, "fanout", "only a live capture can join a group");
#ifdef PACKET_FANOUT
    {
        int arg;

        if (fanout_arg(f, &arg, e) < 0)
            return -1;
        /* EINVAL here mostly means the group exists with another mode or
         * flags, or on another interface: say so rather than just EINVAL. */
        if (setsockopt(fd, SOL_PACKET, PACKET_FANOUT, &arg, sizeof(arg)) < 0)
            return ep_fail(e, "fanout", "group %u (%s): %s%s", f->id,
                           modes[f->mode].name, strerror(errno),
                           errno == EINVAL
                               ? " (group in use with other mode, flags or "
                                 "interface?)"
                               : "");
    }
    return 0;
#else
    return ep_fail(e, "fanout", "PACKET_FANOUT is Linux only");
#endif
}
