/* ringwarm.c: finding a packet socket's ring in /proc/self/maps, and
 * touching every page of it. */
#include <pcap/pcap.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ctest.h"
#include "ringwarm.h"

static void match_lines(void)
{
    uintptr_t lo = 0, hi = 0;

    CHECK(ringwarm_match("7fbe97771000-7fbe9f751000 rw-s 00000000 00:09 29307"
                         "                      socket:[29307]\n",
                         29307, &lo, &hi));
    CHECK(lo == (uintptr_t)0x7fbe97771000ULL &&
          hi == (uintptr_t)0x7fbe9f751000ULL);
    /* No newline at the end of the last line. */
    CHECK(ringwarm_match("1000-3000 r--s 00000000 00:09 7 socket:[7]", 7, &lo,
                         &hi));
    CHECK(lo == 0x1000 && hi == 0x3000);
    /* Another socket, one whose number starts with ours, our number in
     * another field, a name that only begins like ours. */
    CHECK(!ringwarm_match("1000-3000 rw-s 00000000 00:09 8 socket:[8]\n", 7,
                          &lo, &hi));
    CHECK(!ringwarm_match("1000-3000 rw-s 00000000 00:09 71 socket:[71]\n", 7,
                          &lo, &hi));
    CHECK(!ringwarm_match("1000-3000 rw-s 00000007 00:07 9 socket:[7]\n", 7,
                          &lo, &hi));
    CHECK(!ringwarm_match(
        "1000-3000 rw-s 00000000 00:09 7 socket:[7] (deleted)\n", 7, &lo, &hi));
    CHECK(!ringwarm_match("1000-3000 rw-s 00000000 00:09 7 /tmp/socket:[7]\n",
                          7, &lo, &hi));
    /* Not readable: touching it would be SIGSEGV. */
    CHECK(!ringwarm_match("1000-3000 -w-s 00000000 00:09 7 socket:[7]\n", 7,
                          &lo, &hi));
    CHECK(!ringwarm_match("1000-3000 ---s 00000000 00:09 7 socket:[7]\n", 7,
                          &lo, &hi));
    /* Malformed ranges and lines. */
    CHECK(!ringwarm_match("3000-1000 rw-s 00000000 00:09 7 socket:[7]\n", 7,
                          &lo, &hi));
    CHECK(!ringwarm_match("3000-3000 rw-s 00000000 00:09 7 socket:[7]\n", 7,
                          &lo, &hi));
    CHECK(!ringwarm_match("zz-3000 rw-s 00000000 00:09 7 socket:[7]\n", 7, &lo,
                          &hi));
    CHECK(!ringwarm_match("-1000-3000 rw-s 00000000 00:09 7 socket:[7]\n", 7,
                          &lo, &hi));
    CHECK(!ringwarm_match("1000 3000 rw-s 00000000 00:09 7 socket:[7]\n", 7,
                          &lo, &hi));
    CHECK(!ringwarm_match("1000-1ffffffffffffffffff rw-s 00000000 00:09 7 "
                          "socket:[7]\n",
                          7, &lo, &hi));
    CHECK(!ringwarm_match("1000-3000 rw-s 00000000 00:09 -7 socket:[7]\n", 7,
                          &lo, &hi));
    CHECK(!ringwarm_match("1000-3000 rw-s", 7, &lo, &hi));
    CHECK(!ringwarm_match("", 7, &lo, &hi));
    CHECK(!ringwarm_match("\n", 7, &lo, &hi));
    /* What failed to match left the range alone. */
    CHECK(lo == 0x1000 && hi == 0x3000);
}

/* Shared memory's pages exist once first read; mincore(2) then says so. */
static void range_touches_every_page(void)
{
    long page = sysconf(_SC_PAGESIZE);
    size_t pages = 64, len = pages * (size_t)page, resident = 0;
    unsigned char vec[64];
    void *m = mmap(NULL, len, PROT_READ, MAP_SHARED | MAP_ANONYMOUS, -1, 0);

    CHECK(m != MAP_FAILED);
    if (m == MAP_FAILED)
        return;
    CHECK(mincore(m, len, vec) == 0);
    for (size_t i = 0; i < pages; i++)
        resident += vec[i] & 1;
    CHECK(resident == 0);
    CHECK(ringwarm_range((uintptr_t)m, (uintptr_t)m + len, (uintptr_t)page) ==
          len);
    CHECK(mincore(m, len, vec) == 0);
    resident = 0;
    for (size_t i = 0; i < pages; i++)
        resident += vec[i] & 1;
    CHECK(resident == pages);
    (void)munmap(m, len);
}

static void not_a_ring(void)
{
    char path[] = "/tmp/epcap_ringwarm.XXXXXX";
    int sv[2];
    FILE *f;

    CHECK(ringwarm(-1) == 0);
    ctest_tmpfile(path);
    f = fopen(path, "r");
    CHECK(f != NULL);
    if (f != NULL) {
        CHECK(ringwarm(fileno(f)) == 0);
        (void)fclose(f);
    }
    (void)unlink(path);
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
    CHECK(ringwarm(sv[0]) == 0);
    (void)close(sv[0]);
    (void)close(sv[1]);
}

/* libpcap's own ring, as the port opens it in immediate mode (root). */
static void live_ring(void)
{
    char errbuf[PCAP_ERRBUF_SIZE];
    pcap_t *p;
    size_t warmed;
    long page = sysconf(_SC_PAGESIZE);

    if (geteuid() != 0) {
        fprintf(stderr, "  live_ring: needs root, not run\n");
        return;
    }
    p = pcap_create("lo", errbuf);
    CHECK(p != NULL);
    if (p == NULL)
        return;
    CHECK(pcap_set_immediate_mode(p, 1) == 0);
    CHECK(pcap_set_buffer_size(p, 2 << 20) == 0);
    CHECK(pcap_activate(p) == 0);
    warmed = ringwarm(pcap_fileno(p));
    CHECK(warmed >= (size_t)2 << 20);
    CHECK(warmed % (size_t)page == 0);
    pcap_close(p);
}

int main(void)
{
    RUN(match_lines);
    RUN(range_touches_every_page);
    RUN(not_a_ring);
    RUN(live_ring);
    CTEST_END("test_ringwarm");
}
