#include "gather.h"

/* libpcap's TPACKET_V2 frame header, its sockaddr_ll and alignment: less
 * than this. */
#define FRAME_OVERHEAD 128u
#define SNAP_CAP       (65535u + 18u)
#define DEFAULT_BUFFER (2L * 1024 * 1024)

uint32_t gather_ring_slots(long buffer_bytes, long snaplen)
{
    uint64_t snap, slot = 1, slots;

    if (buffer_bytes <= 0)
        buffer_bytes = DEFAULT_BUFFER;
    snap = snaplen <= 0 ? SNAP_CAP : (uint64_t)snaplen;
    if (snap > SNAP_CAP)
        snap = SNAP_CAP;
    while (slot < snap + FRAME_OVERHEAD)
        slot <<= 1;
    slots = (uint64_t)buffer_bytes / slot;
    return slots > UINT32_MAX ? UINT32_MAX : (uint32_t)slots;
}

void gather_init(struct gather *g, uint32_t slots)
{
    g->slots = slots;
    g->last_ns = 0;
    g->nap_ns = 0;
}

void gather_after_read(struct gather *g, uint32_t packets, uint64_t now_ns)
{
    uint64_t last = g->last_ns, per, nap;

    g->nap_ns = 0;
    /* Nothing read (a nap ended empty): the burst is over, and the next
     * packet is read as soon as it comes, as is the first of a burst. */
    g->last_ns = packets > 0 ? now_ns : 0;
    if (g->slots == 0 || packets == 0 || last == 0 || now_ns <= last)
        return;
    per = (now_ns - last) / packets;
    if (per > (uint64_t)GATHER_NAP_MAX_NS)
        return; /* slower than one frame a nap: nothing to gather */
    /* The time the next slots / GATHER_RING_SHARE frames take to come at
     * the rate these did (per is capped, so this cannot overflow). */
    nap = per * (g->slots / GATHER_RING_SHARE);
    if (nap > (uint64_t)GATHER_NAP_MAX_NS)
        nap = (uint64_t)GATHER_NAP_MAX_NS;
    /* Worth a timer only if a nap gathers two frames or more. */
    if (nap >= (uint64_t)GATHER_NAP_MIN_NS && nap >= 2 * per)
        g->nap_ns = (long)nap;
}

long gather_nap_ns(const struct gather *g)
{
    return g->nap_ns;
}
