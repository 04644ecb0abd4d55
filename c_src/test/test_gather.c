/* gather.c: immediate mode's naps under load (pure). */
#include <stdint.h>

#include "ctest.h"
#include "gather.h"

#define US 1000ULL

/* Reads of `packets' frames every step_ns, starting at t0: the nap after
 * the last. */
static long nap_after(struct gather *g, int reads, uint32_t packets,
                      uint64_t step_ns)
{
    uint64_t t = 1000000000ULL;

    for (int i = 0; i < reads; i++, t += step_ns)
        gather_after_read(g, packets, t);
    return gather_nap_ns(g);
}

/* A slot is the snapshot plus libpcap's header, rounded up to a power of
 * two; frames above 64 KiB + 18 do not reach a packet socket. */
static void ring_slots_lower_bound(void)
{
    CHECK(gather_ring_slots(2 * 1024 * 1024, 65535) == 16);
    CHECK(gather_ring_slots(0, 65535) == 16); /* libpcap's default */
    CHECK(gather_ring_slots(-5, 65535) == 16);
    CHECK(gather_ring_slots(64L * 1024 * 1024, 65535) == 512);
    CHECK(gather_ring_slots(64L * 1024 * 1024, 262144) == 512);
    CHECK(gather_ring_slots(2 * 1024 * 1024, 96) == 8192);
    CHECK(gather_ring_slots(2 * 1024 * 1024, 0) == 16);
    CHECK(gather_ring_slots(4096, 65535) == 0);
    CHECK(gather_ring_slots(2147483647L, 1) == 2147483647L / 256);
}

/* 64 MiB at 500 k frames/s (10 frames every 20 us): the largest nap. */
static void fast_flood_naps_at_most_the_max(void)
{
    struct gather g;

    gather_init(&g, 512);
    CHECK(nap_after(&g, 5, 10, 20 * US) == GATHER_NAP_MAX_NS);
}

/* The first read of a burst (or after a nap that found nothing) has no
 * rate to go by: no nap, the next packet is read when it comes. */
static void first_read_no_nap(void)
{
    struct gather g;

    gather_init(&g, 512);
    CHECK(nap_after(&g, 1, 100, 1 * US) == 0);
    /* 10 M frames/s: 64 frames (an eighth of 512) take 6.4 us */
    gather_after_read(&g, 100, 1000000000ULL + 10 * US);
    CHECK(gather_nap_ns(&g) == 6400);
    gather_after_read(&g, 0, 1000000000ULL + 70 * US);
    CHECK(gather_nap_ns(&g) == 0);
    CHECK(g.last_ns == 0);
    gather_after_read(&g, 5, 1000000000ULL + 71 * US);
    CHECK(gather_nap_ns(&g) == 0);
}

/* Slower than one frame a nap: nothing to gather, never a nap. */
static void slow_traffic_no_nap(void)
{
    struct gather g;

    gather_init(&g, 512);
    CHECK(nap_after(&g, 10, 1, 100 * US) == 0);
    CHECK(nap_after(&g, 10, 1, (uint64_t)GATHER_NAP_MAX_NS + 1) == 0);
    /* 1 frame every 30 us: a 50 us nap gathers less than two. */
    CHECK(nap_after(&g, 10, 1, 30 * US) == 0);
    /* every 20 us: 50 us gathers 2.5, worth it */
    CHECK(nap_after(&g, 10, 1, 20 * US) == GATHER_NAP_MAX_NS);
}

/* libpcap's default 2 MiB ring (16 slots of 128 KiB): a nap may fill an
 * eighth of it, two frames' time, so a fast flood gets none (the port
 * reads as before) and a moderate one short naps. */
static void small_ring_short_naps(void)
{
    struct gather g;

    gather_init(&g, gather_ring_slots(0, 65535));
    CHECK(nap_after(&g, 5, 10, 20 * US) == 0);      /* 2 us a frame */
    CHECK(nap_after(&g, 5, 1, 10 * US) == 20 * US); /* 10 us a frame */
    CHECK(nap_after(&g, 5, 2, 10 * US) == 10 * US); /* 5 us a frame */
    CHECK(nap_after(&g, 5, 5, 10 * US) == 0);       /* 2 us: a 4 us nap */
    gather_init(&g, 7); /* less than the share allows: never */
    CHECK(nap_after(&g, 5, 1, 10 * US) == 0);
}

/* No ring (a savefile, a capture with a timeout), a clock that did not
 * move or went back, the largest counts: no nap, no overflow. */
static void odd_inputs(void)
{
    struct gather g;

    gather_init(&g, 0);
    CHECK(nap_after(&g, 5, 1000, 1 * US) == 0);
    gather_init(&g, 512);
    CHECK(nap_after(&g, 5, 10, 0) == 0);
    gather_after_read(&g, 10, 2000000000ULL);
    gather_after_read(&g, 10, 1000000000ULL);
    CHECK(gather_nap_ns(&g) == 0);
    gather_init(&g, UINT32_MAX);
    CHECK(nap_after(&g, 5, 1, (uint64_t)GATHER_NAP_MAX_NS) == 0);
    CHECK(nap_after(&g, 5, 1, 20 * US) == GATHER_NAP_MAX_NS);
    CHECK(nap_after(&g, 5, UINT32_MAX, 1) == 0);
    CHECK(nap_after(&g, 5, UINT32_MAX, UINT64_MAX / 8) == 0);
}

int main(void)
{
    RUN(ring_slots_lower_bound);
    RUN(fast_flood_naps_at_most_the_max);
    RUN(first_read_no_nap);
    RUN(slow_traffic_no_nap);
    RUN(small_ring_short_naps);
    RUN(odd_inputs);
    CTEST_END("test_gather");
}
