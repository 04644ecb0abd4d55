/* Immediate mode under load: how long the loop lets packets gather in the
 * kernel's ring before it reads again.
 *
 * In immediate mode libpcap uses TPACKET_V2, which wakes the reader for
 * every frame. A port that reads as soon as it is woken keeps up with a
 * flood by running flat out: at 450 k frames/s it took three system calls
 * (ppoll, libpcap's own poll, TIOCOUTQ) for every three or four frames,
 * 1.8 us of CPU a frame, more than half a CPU, so the real-time guard
 * (rtguard.h) took its priority back and the port, an ordinary process
 * again, fell behind the sender (bench/RESULTS.md 7.3). Once packets come
 * faster than the loop would wake for them, it sleeps a little after each
 * read instead (a "nap", without the capture's descriptor in the poll set:
 * control messages still wake it), so each read takes many frames.
 *
 * The nap only ever delays a packet that follows another by less than the
 * nap: the first packet after a quiet spell is read as soon as it comes,
 * which is what immediate mode promises. It is bounded two ways: by
 * GATHER_NAP_MAX_NS, and so that the frames expected to arrive meanwhile
 * fill at most 1 / GATHER_RING_SHARE of the ring's slots (so libpcap's
 * default 2 MiB buffer, 16 slots of 128 KiB, naps little or not at all). */
#ifndef EPCAP_GATHER_H
#define EPCAP_GATHER_H

#include <stdint.h>

#define GATHER_NAP_MAX_NS 50000L /* 50 us */
#define GATHER_NAP_MIN_NS 5000L  /* shorter: not worth a timer */
#define GATHER_RING_SHARE 8u

struct gather {
    uint32_t slots;   /* the ring's frames (a lower bound), 0: never nap */
    uint64_t last_ns; /* the end of the last read that found packets */
    long nap_ns;      /* the next wait's nap, 0: none */
};

/* A lower bound on the frames a TPACKET_V2 ring of buffer_bytes holds
 * with this snaplen (buffer 0: libpcap's Linux default, 2 MiB). A slot
 * is the snapshot (at most 64 KiB + 18: larger frames than that do not
 * reach a packet socket) plus libpcap's header, rounded up to a power of
 * two: libpcap's frame never exceeds that. */
uint32_t gather_ring_slots(long buffer_bytes, long snaplen);

/* slots 0: the loop never naps (a savefile, a capture not immediate). */
void gather_init(struct gather *g, uint32_t slots);

/* After a read of a live capture that took `packets' frames, at now_ns
 * (CLOCK_MONOTONIC): sets the next nap from the rate they came at. */
void gather_after_read(struct gather *g, uint32_t packets, uint64_t now_ns);

/* The nap before the next read, in ns; 0: wait for the capture's
 * descriptor as usual. */
long gather_nap_ns(const struct gather *g);

#endif
