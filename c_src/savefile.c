#include "savefile.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define FILE_HDR 24u
#define REC_HDR  16u

/* The magic numbers of pcap(5)'s classic format, read in our byte order:
 * microsecond and nanosecond files, each as written by a machine of our
 * byte order and of the other. */
#define MAGIC_US      0xa1b2c3d4u
#define MAGIC_US_SWAP 0xd4c3b2a1u
#define MAGIC_NS      0xa1b23c4du
#define MAGIC_NS_SWAP 0x4d3cb2a1u

static uint32_t get32(const uint8_t *p, bool swap)
{
    uint32_t v;

    memcpy(&v, p, sizeof(v));
    return swap ? __builtin_bswap32(v) : v;
}

static uint16_t get16(const uint8_t *p, bool swap)
{
    uint16_t v;

    memcpy(&v, p, sizeof(v));
    return swap ? __builtin_bswap16(v) : v;
}

/* Link types whose records libpcap hands over exactly as stored: no field
 * in the writer's byte order that libpcap would rewrite (as it does for
 * USB or NFLOG captures, and for SocketCAN in Linux cooked captures: the
 * CAN id of a file from a machine of the other byte order, test_savefile's
 * cooked_can). Any other goes to libpcap. */
static bool plain_link_type(int dlt, bool swap)
{
    switch (dlt) {
    case DLT_EN10MB:
    case DLT_RAW:
    case DLT_IEEE802_11:
    case DLT_IEEE802_11_RADIO:
#ifdef DLT_IPV4
    case DLT_IPV4:
    case DLT_IPV6:
#endif
        return true;
    case DLT_LINUX_SLL:
#ifdef DLT_LINUX_SLL2
    case DLT_LINUX_SLL2:
#endif
        return !swap;
    default: return false;
    }
}

/* Whether the file is one this reader takes, and how to read it. */
static bool take_header(struct savefile *s, const uint8_t *h, bool nano)
{
    uint32_t magic;
    bool file_nano;

    memcpy(&magic, h, sizeof(magic));
    switch (magic) {
    case MAGIC_US: s->swap = false, file_nano = false; break;
    case MAGIC_US_SWAP: s->swap = true, file_nano = false; break;
    case MAGIC_NS: s->swap = false, file_nano = true; break;
    case MAGIC_NS_SWAP: s->swap = true, file_nano = true; break;
    default: return false; /* pcapng, or not ours to judge */
    }
    /* Older versions stored some lengths differently; a time zone
     * offset is something libpcap may know what to do with. */
    if (get16(h + 4, s->swap) != 2 || get16(h + 6, s->swap) != 4 ||
        get32(h + 8, s->swap) != 0)
        return false;
    /* A nanosecond file read at microseconds would need libpcap's own
     * rounding: left to it. */
    if (file_nano && !nano)
        return false;
    s->to_nano = nano && !file_nano;
    s->frac_max = file_nano ? 1000000000u : 1000000u;
    return true;
}

void savefile_init(struct savefile *s, pcap_t *p, FILE *fp, bool nano)
{
    uint8_t h[FILE_HDR];
    struct stat st;
    int snap = pcap_snapshot(p);

    memset(s, 0, sizeof(*s));
    s->fd = fileno(fp);
    s->fp = fp;
    if (s->fd < 0 || fstat(s->fd, &st) != 0 || !S_ISREG(st.st_mode) ||
        snap <= 0)
        return;
    /* libpcap must have read the header and nothing more. */
    if (ftello(fp) != (off_t)FILE_HDR ||
        pread(s->fd, h, sizeof(h), 0) != (ssize_t)sizeof(h) ||
        !take_header(s, h, nano) || !plain_link_type(pcap_datalink(p), s->swap))
        return;
    s->buf = malloc(SAVEFILE_CHUNK);
    if (s->buf == NULL)
        return;
    s->snapshot = (uint32_t)snap;
    s->base = (off_t)FILE_HDR;
    s->active = true;
}

int savefile_handover(struct savefile *s)
{
    if (!s->active)
        return 0;
    s->active = false;
    return fseeko(s->fp, s->base + (off_t)s->pos, SEEK_SET);
}

/* Moves what is left to the front and reads more after it: the bytes
 * read, 0 at the end of the file, -1 on an error (libpcap, reading on
 * from the same place, meets and reports it). */
static ssize_t refill(struct savefile *s)
{
    ssize_t n;

    if (s->pos > 0) {
        memmove(s->buf, s->buf + s->pos, s->have - s->pos);
        s->base += (off_t)s->pos;
        s->have -= s->pos;
        s->pos = 0;
    }
    do {
        n = pread(s->fd, s->buf + s->have, SAVEFILE_CHUNK - s->have,
                  s->base + (off_t)s->have);
    } while (n < 0 && errno == EINTR);
    if (n > 0)
        s->have += (size_t)n;
    return n;
}

int savefile_dispatch(struct savefile *s, int max, pcap_handler cb,
                      u_char *user, const int *stop)
{
    int n = 0;

    while (n < max && *stop == 0) {
        const uint8_t *r = s->buf + s->pos;
        size_t left = s->have - s->pos;
        struct pcap_pkthdr h;
        uint32_t sec, frac, caplen;

        if (left < REC_HDR) {
            if (refill(s) > 0)
                continue;
            break; /* the end, a partial header or an error: libpcap's */
        }
        caplen = get32(r + 8, s->swap);
        h.len = get32(r + 12, s->swap);
        frac = get32(r + 4, s->swap);
        /* Anything unusual is libpcap's to judge, from this record on. */
        if (caplen > s->snapshot || caplen > h.len || frac >= s->frac_max ||
            REC_HDR + (size_t)caplen > SAVEFILE_CHUNK)
            break;
        if (left < REC_HDR + caplen) {
            if (refill(s) > 0)
                continue;
            break;
        }
        /* As libpcap reads it: a second past 2038 is negative in a file
         * of our byte order, and positive in one of the other. */
        sec = get32(r, s->swap);
        h.ts.tv_sec = s->swap ? (time_t)sec : (time_t)(int32_t)sec;
        h.ts.tv_usec = (suseconds_t)(s->to_nano ? frac * 1000u : frac);
        h.caplen = caplen;
        s->pos += REC_HDR + caplen;
        cb(user, &h, r + REC_HDR);
        n++;
    }
    if (n < max && *stop == 0 && savefile_handover(s) != 0)
        return -1;
    return n;
}

void savefile_free(struct savefile *s)
{
    free(s->buf);
    s->buf = NULL;
    s->active = false;
}
