#include "capture.h"

#include <errno.h>
#include <stdio.h>
#ifdef __GLIBC__
#include <stdio_ext.h>
#endif
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "filtercc.h"
#include "gather.h"
#include "ringwarm.h"
#include "useropen.h"

/* Linux keeps a ring block's timeout in 16 bits (ms): larger values wrap,
 * and 0 means "pick one for me" (a few ms). 65535 is the longest wait a
 * block can have, which is what `infinity` asks for. */
#define TIMEOUT_INFINITY_MS 65535

/* libpcap reads a savefile with two fread()s a packet, through stdio's
 * default buffer of st_blksize (4 KiB): one read(2) for every ~50 small
 * packets, a third of the port's time on a file of 64-byte frames. With
 * 256 KiB, 1 M such frames take 330 reads instead of 20 684. glibc ignores
 * the size given to setvbuf without a buffer, hence our own. */
#define FILE_BUFFER_BYTES ((size_t)256 * 1024)

static const char *activate_reason(int rc)
{
    switch (rc) {
    case PCAP_ERROR_NO_SUCH_DEVICE: return "no_such_device";
    case PCAP_ERROR_PERM_DENIED:
    case PCAP_ERROR_PROMISC_PERM_DENIED: return "permission_denied";
    case PCAP_ERROR_RFMON_NOTSUP: return "monitor_not_supported";
    case PCAP_ERROR_IFACE_NOT_UP: return "interface_down";
    default: return "pcap";
    }
}

static int fail_activate(pcap_t *p, const char *dev, int rc, struct ep_error *e)
{
    const char *reason = activate_reason(rc);

    /* The device name alone is the most useful message for these two:
     * {no_such_device, "eth9"}, {monitor_not_supported, "eth0"}. */
    if (rc == PCAP_ERROR_NO_SUCH_DEVICE || rc == PCAP_ERROR_RFMON_NOTSUP)
        return ep_fail(e, reason, "%s", dev);
    return ep_fail(e, reason, "%s: %s", dev, pcap_geterr(p));
}

static int default_device(char *dev, size_t len, struct ep_error *e)
{
    char errbuf[PCAP_ERRBUF_SIZE];
    pcap_if_t *all = NULL;

    if (pcap_findalldevs(&all, errbuf) < 0)
        return ep_fail(e, "pcap", "pcap_findalldevs: %s", errbuf);
    if (all == NULL)
        return ep_fail(e, "no_such_device", "no capture device found");
    (void)snprintf(dev, len, "%s", all->name);
    pcap_freealldevs(all);
    return 0;
}

static int set_timeout(pcap_t *p, const struct options *o)
{
    switch (o->timeout_mode) {
    case TIMEOUT_IMMEDIATE: return pcap_set_immediate_mode(p, 1);
    case TIMEOUT_INFINITY: return pcap_set_timeout(p, TIMEOUT_INFINITY_MS);
    case TIMEOUT_MS: return pcap_set_timeout(p, o->timeout_ms);
    }
    return -1;
}

static int configure(pcap_t *p, const char *dev, const struct options *o,
                     struct ep_error *e)
{
    if (pcap_set_snaplen(p, o->snaplen) != 0 ||
        pcap_set_promisc(p, o->promiscuous) != 0 || set_timeout(p, o) != 0)
        return ep_fail(e, "pcap", "%s: %s", dev, pcap_geterr(p));
    if (o->buffer_size > 0 && pcap_set_buffer_size(p, o->buffer_size) != 0)
        return ep_fail(e, "pcap", "buffer: %s", pcap_geterr(p));
    if (o->nano &&
        pcap_set_tstamp_precision(p, PCAP_TSTAMP_PRECISION_NANO) != 0)
        return ep_fail(e, "pcap", "%s: nanosecond timestamps not supported",
                       dev);
    if (o->monitor) {
        int rc = pcap_can_set_rfmon(p);

        if (rc == 0)
            return ep_fail(e, "monitor_not_supported", "%s", dev);
        if (rc < 0)
            return fail_activate(p, dev, rc, e);
        if (pcap_set_rfmon(p, 1) != 0)
            return ep_fail(e, "pcap", "%s: %s", dev, pcap_geterr(p));
    }
    return 0;
}

static int set_direction(pcap_t *p, enum direction d, struct ep_error *e)
{
    pcap_direction_t pd = d == DIRECTION_IN    ? PCAP_D_IN
                          : d == DIRECTION_OUT ? PCAP_D_OUT
                                               : PCAP_D_INOUT;

    if (pcap_setdirection(p, pd) != 0)
        return ep_fail(e, "direction", "%s", pcap_geterr(p));
    return 0;
}

static int open_live(const struct options *o, struct capture *c,
                     struct ep_error *e)
{
    char errbuf[PCAP_ERRBUF_SIZE];
    char dev[256];
    bpf_u_int32 net = 0;
    int rc;

    if (o->interface != NULL)
        (void)snprintf(dev, sizeof(dev), "%s", o->interface);
    else if (default_device(dev, sizeof(dev), e) < 0)
        return -1;
    c->p = pcap_create(dev, errbuf);
    if (c->p == NULL)
        return ep_fail(e, "pcap", "%s: %s", dev, errbuf);
    if (configure(c->p, dev, o, e) < 0)
        return -1;
    rc = pcap_activate(c->p);
    if (rc < 0)
        return fail_activate(c->p, dev, rc, e);
    if (rc > 0 && o->verbose)
        fprintf(stderr, "epcap: %s: warning: %s\n", dev, pcap_geterr(c->p));
    if (o->verbose)
        fprintf(stderr,
                "epcap: %s: opened live (%s), snaplen %d, buffer %d%s, "
                "timeout %s, promiscuous %d\n",
                dev, pcap_lib_version(), pcap_snapshot(c->p), o->buffer_size,
                o->buffer_size > 0 ? "" : " (libpcap's default)",
                o->timeout_mode == TIMEOUT_IMMEDIATE  ? "immediate"
                : o->timeout_mode == TIMEOUT_INFINITY ? "infinity"
                                                      : "in ms",
                o->promiscuous);
    /* Only immediate mode wakes the port for every frame (gather.h): with
     * a timeout libpcap hands over whole blocks of TPACKET_V3. */
    c->nap_slots = o->timeout_mode == TIMEOUT_IMMEDIATE
                       ? gather_ring_slots(o->buffer_size, o->snaplen)
                       : 0;
    if (o->direction != DIRECTION_INOUT &&
        set_direction(c->p, o->direction, e) < 0)
        return -1;
    /* Needed for filters that say "net"/"broadcast"; not fatal when the
     * device has no IPv4 address. Done now: it needs a socket, which the
     * sandbox forbids later. */
    if (pcap_lookupnet(dev, &net, &c->netmask, errbuf) < 0)
        c->netmask = PCAP_NETMASK_UNKNOWN;
    if (pcap_setnonblock(c->p, 1, errbuf) < 0)
        return ep_fail(e, "pcap", "pcap_setnonblock: %s", errbuf);
    c->fd = pcap_get_selectable_fd(c->p);
    if (c->fd < 0)
        return ep_fail(e, "pcap", "%s: no selectable descriptor", dev);
    /* Immediate mode's ring is read a frame a page apart: ringwarm.c. */
    if (o->timeout_mode == TIMEOUT_IMMEDIATE)
        (void)ringwarm(c->fd);
    c->live = true;
    (void)snprintf(c->dev, sizeof(c->dev), "%s", dev);
    return 0;
}

static int open_file(const struct options *o, struct capture *c,
                     struct ep_error *e)
{
    char errbuf[PCAP_ERRBUF_SIZE];
    unsigned prec =
        o->nano ? PCAP_TSTAMP_PRECISION_NANO : PCAP_TSTAMP_PRECISION_MICRO;

    /* Opened here rather than by libpcap, for the buffer size, and the
     * checks of useropen.c (no FIFO, the sudo user's rights); this also
     * means "-" is a file name, not libpcap's synonym for stdin (which is
     * the control channel). */
    int fd = useropen_file(o->file, e);
    FILE *fp;

    if (fd < 0)
        return -1;
    fp = fdopen(fd, "rb");
    if (fp == NULL) {
        (void)close(fd);
        return ep_fail(e, "file", "%s: %s", o->file, strerror(errno));
    }
    c->file_buf = malloc(FILE_BUFFER_BYTES);
    if (c->file_buf == NULL ||
        setvbuf(fp, c->file_buf, _IOFBF, FILE_BUFFER_BYTES) != 0) {
        (void)fclose(fp);
        return ep_fail(e, "file", "%s: cannot set a read buffer", o->file);
    }
    /* libpcap freads every record twice (header, then data); only this
     * thread ever touches fp, so glibc's per-call stream lock is waste. */
#ifdef __GLIBC__
    (void)__fsetlocking(fp, FSETLOCKING_BYCALLER);
#endif
    /* On success the handle owns fp (pcap_close closes it); on failure
     * the caller still does. */
    c->p = pcap_fopen_offline_with_tstamp_precision(fp, prec, errbuf);
    if (c->p == NULL) {
        (void)fclose(fp);
        return ep_fail(e, "file", "%s: %s", o->file, errbuf);
    }
    if (o->direction != DIRECTION_INOUT &&
        set_direction(c->p, o->direction, e) < 0)
        return -1;
    /* A direction is libpcap's to apply: then it reads every record. */
    if (o->direction == DIRECTION_INOUT)
        savefile_init(&c->sf, c->p, fp, o->nano != 0);
    if (o->verbose)
        fprintf(stderr,
                "epcap: %s: opened file (%s), link type %d, snaplen %d\n",
                o->file, pcap_lib_version(), pcap_datalink(c->p),
                pcap_snapshot(c->p));
    c->netmask = PCAP_NETMASK_UNKNOWN;
    c->fd = -1;
    c->live = false;
    return 0;
}

int capture_open(const struct options *o, struct capture *c, struct ep_error *e)
{
    memset(c, 0, sizeof(*c));
    c->fd = -1;
    if ((o->file ? open_file(o, c, e) : open_live(o, c, e)) < 0)
        return -1;
    c->dlt = pcap_datalink(c->p);
    c->verbose = o->verbose;
    return 0;
}

/* Asked before every poll, not once: libpcap changes it while running.
 * When the device reports ENETDOWN, Linux libpcap only notes it and asks
 * to be called again within 1 ms to see whether the device is gone; a
 * loop that kept the value from the start would never call it again (no
 * descriptor event comes from a device that has gone) and the capture
 * would never end with "The interface disappeared". */
int capture_poll_ms(const struct capture *c)
{
    const struct timeval *tv;
    long ms;

    if (!c->live)
        return -1;
    tv = pcap_get_required_select_timeout(c->p);
    if (tv == NULL)
        return -1;
    ms = (long)tv->tv_sec * 1000 + (tv->tv_usec + 999) / 1000;
    return ms > 60000 ? 60000 : ms < 1 ? 1 : (int)ms;
}

int capture_dispatch(struct capture *c, int max, pcap_handler cb, u_char *user,
                     const int *stop)
{
    if (c->sf.active) {
        int n = savefile_dispatch(&c->sf, max, cb, user, stop);

        if (n < 0) {
            (void)snprintf(c->err, sizeof(c->err), "savefile: seek: %s",
                           strerror(errno));
            return -1;
        }
        /* n == 0 with the file handed back: libpcap reads on now */
        if (n > 0 || c->sf.active)
            return n;
    }
    return pcap_dispatch(c->p, max, cb, user);
}

const char *capture_geterr(struct capture *c)
{
    return c->err[0] != '\0' ? c->err : pcap_geterr(c->p);
}

int capture_setfilter(struct capture *c, const char *filter, struct ep_error *e)
{
    struct bpf_program prog;
    int rc;

    /* Bounded, and stdin EOF still ends us meanwhile (filtercc.h). */
    if (filtercc_compile(c->p, filter, c->netmask, STDIN_FILENO, &prog, e) < 0)
        return -1;
    /* Only libpcap runs a filter: the file is its to read from here. */
    if (savefile_handover(&c->sf) != 0) {
        filtercc_free(&prog);
        return ep_fail_errno(e, "file", "seek");
    }
    rc = pcap_setfilter(c->p, &prog);
    if (rc == 0 && c->verbose)
        fprintf(stderr, "epcap: filter set (%u instructions): %s\n",
                prog.bf_len, filter);
    filtercc_free(&prog);
    if (rc < 0)
        return ep_fail(e, "filter", "%s", pcap_geterr(c->p));
    return 0;
}

void capture_close(struct capture *c)
{
    if (c->p != NULL)
        pcap_close(c->p);
    c->p = NULL;
    savefile_free(&c->sf);
    free(c->file_buf); /* only once the stream using it is closed */
    c->file_buf = NULL;
}
