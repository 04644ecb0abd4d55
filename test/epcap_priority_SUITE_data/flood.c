/* A bounded flood for epcap_priority_SUITE: 64-byte frames of an IEEE
 * local experimental ethertype (0x88b5), from a test host's veth end to
 * the MAC of the other end, as fast as sendmmsg(2) goes, until COUNT
 * frames or SECONDS have passed. tcpreplay --topspeed ran out of its own
 * CPU at 150-270 k frames/s on the test machine, too few to keep a
 * real-time port busy; batches of sends reach several times that.
 *
 * usage: flood IFNAME DST-MAC COUNT SECONDS   (IFNAME: a test veth, epv*)
 * Prints "sent N frames in S s". Root (a packet socket). */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#define BATCH     64
#define FRAME_MAX 1514
#define MAX_COUNT 100000000L
#define MAX_SECS  60L

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char *argv[])
{
    static unsigned char frame[FRAME_MAX];
    unsigned m[6];
    struct iovec iov = {frame, 0};
    struct mmsghdr msgs[BATCH];
    struct sockaddr_ll sll = {0};
    long count, secs, len, sent = 0;
    int s, one = 1;
    double t0, t;

    if (argc != 6 || strncmp(argv[1], "epv", 3) != 0 ||
        sscanf(argv[2], "%x:%x:%x:%x:%x:%x", &m[0], &m[1], &m[2], &m[3], &m[4],
               &m[5]) != 6) {
        fprintf(stderr, "usage: flood epvIF DST-MAC LEN COUNT SECONDS\n");
        return 2;
    }
    len = strtol(argv[3], NULL, 10);
    count = strtol(argv[4], NULL, 10);
    secs = strtol(argv[5], NULL, 10);
    if (len < 60 || len > FRAME_MAX || count <= 0 || count > MAX_COUNT ||
        secs <= 0 || secs > MAX_SECS) {
        fprintf(stderr, "flood: LEN 60..%d, COUNT 1..%ld, SECONDS 1..%ld\n",
                FRAME_MAX, MAX_COUNT, MAX_SECS);
        return 2;
    }
    iov.iov_len = (size_t)len;
    for (int i = 0; i < 6; i++)
        frame[i] = (unsigned char)m[i];
    frame[6] = 0x02; /* a locally administered source */
    frame[12] = 0x88;
    frame[13] = 0xb5;
    sll.sll_family = AF_PACKET;
    sll.sll_ifindex = (int)if_nametoindex(argv[1]);
    if (sll.sll_ifindex == 0) {
        perror("flood: if_nametoindex");
        return 1;
    }
    s = socket(AF_PACKET, SOCK_RAW, 0); /* protocol 0: it receives nothing */
    if (s < 0 || bind(s, (struct sockaddr *)&sll, sizeof(sll)) < 0) {
        perror("flood: socket");
        return 1;
    }
    (void)setsockopt(s, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof(one));
    memset(msgs, 0, sizeof(msgs));
    for (int i = 0; i < BATCH; i++) {
        msgs[i].msg_hdr.msg_iov = &iov;
        msgs[i].msg_hdr.msg_iovlen = 1;
    }
    t0 = t = now();
    while (sent < count && t - t0 < (double)secs) {
        long want = count - sent < BATCH ? count - sent : BATCH;
        int n = sendmmsg(s, msgs, (unsigned)want, 0);

        if (n < 0) {
            perror("flood: sendmmsg");
            return 1;
        }
        sent += n;
        t = now();
    }
    printf("sent %ld frames in %.2f s\n", sent, t - t0);
    return 0;
}
