/* savefile.c against libpcap: every file is read twice, once by
 * capture_dispatch() as the port reads it (savefile.c while it has the
 * file, libpcap after a handover) and once by plain pcap_next_ex(); the
 * records (times, lengths, bytes) and the way the file ends (its end, or
 * libpcap's error message) must be the same. Each case also checks which
 * reader had the file, so that a reader that gave up at once would not
 * pass unnoticed. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <pcap/pcap.h>

#include "capture.h"
#include "ctest.h"
#include "options.h"

#define MAX_OUT ((size_t)8 << 20)

struct run {
    uint8_t *bytes; /* sec(8) frac(4) caplen(4) len(4) data, per record */
    size_t len;
    size_t count;
    char end[PCAP_ERRBUF_SIZE]; /* "" at the end of the file, or an error */
};

static void put(struct run *r, uint64_t sec, uint32_t frac, uint32_t caplen,
                uint32_t len, const u_char *data)
{
    if (r->len + 20 + caplen > MAX_OUT)
        return;
    memcpy(r->bytes + r->len, &sec, 8);
    memcpy(r->bytes + r->len + 8, &frac, 4);
    memcpy(r->bytes + r->len + 12, &caplen, 4);
    memcpy(r->bytes + r->len + 16, &len, 4);
    memcpy(r->bytes + r->len + 20, data, caplen);
    r->len += 20 + caplen;
    r->count++;
}

static void collect(u_char *user, const struct pcap_pkthdr *h,
                    const u_char *data)
{
    put((struct run *)(void *)user, (uint64_t)h->ts.tv_sec,
        (uint32_t)h->ts.tv_usec, h->caplen, h->len, data);
}

static void plain(const char *path, bool nano, struct run *r)
{
    char errbuf[PCAP_ERRBUF_SIZE];
    pcap_t *p = pcap_open_offline_with_tstamp_precision(
        path, nano ? PCAP_TSTAMP_PRECISION_NANO : PCAP_TSTAMP_PRECISION_MICRO,
        errbuf);
    struct pcap_pkthdr *h;
    const u_char *data;
    int rc;

    CHECK(p != NULL);
    if (p == NULL)
        return;
    while ((rc = pcap_next_ex(p, &h, &data)) == 1)
        collect((u_char *)(void *)r, h, data);
    if (rc == -1)
        (void)snprintf(r->end, sizeof(r->end), "%s", pcap_geterr(p));
    pcap_close(p);
}

/* What the port does; *fast: whether savefile.c had the file at first,
 * *fast_at_end: still at the end (no handover). */
static void ported(const char *path, bool nano, int chunk, struct run *r,
                   bool *fast, bool *fast_at_end)
{
    char *argv[] = {"epcap", "-r", (char *)path, nano ? "-n" : NULL, NULL};
    struct options o;
    struct ep_error e;
    struct capture c;
    int stop = 0, n;

    optind = 1;
    CHECK(options_parse(nano ? 4 : 3, argv, &o, &e) == 0);
    CHECK(capture_open(&o, &c, &e) == 0);
    *fast = c.sf.active;
    while ((n = capture_dispatch(&c, chunk, collect, (u_char *)(void *)r,
                                 &stop)) > 0)
        ;
    if (n < 0)
        (void)snprintf(r->end, sizeof(r->end), "%s", capture_geterr(&c));
    *fast_at_end = c.sf.active;
    capture_close(&c);
}

static char path[] = "/tmp/epcap-savefile-XXXXXX";

static void write_file(const uint8_t *b, size_t n)
{
    FILE *f = fopen(path, "wb");

    CHECK(f != NULL && fwrite(b, 1, n, f) == n && fclose(f) == 0);
}

/* Both readers on the file at `path'; fast/fast_at_end: what savefile.c
 * must have done (1 yes, 0 no, -1 either). */
static void same(bool nano, int fast, int fast_at_end)
{
    struct run a = {malloc(MAX_OUT), 0, 0, ""};
    struct run b = {malloc(MAX_OUT), 0, 0, ""};
    bool f = false, fe = false;

    CHECK(a.bytes != NULL && b.bytes != NULL);
    plain(path, nano, &a);
    /* odd counts a dispatch, so that one ends mid-buffer */
    ported(path, nano, 7, &b, &f, &fe);
    if (a.count != b.count || a.len != b.len ||
        memcmp(a.bytes, b.bytes, a.len) != 0 || strcmp(a.end, b.end) != 0)
        fprintf(stderr, "  libpcap: %zu records, \"%s\"; port: %zu, \"%s\"\n",
                a.count, a.end, b.count, b.end);
    CHECK(a.count == b.count && a.len == b.len);
    CHECK(memcmp(a.bytes, b.bytes, a.len) == 0);
    CHECK(strcmp(a.end, b.end) == 0);
    CHECK(fast < 0 || f == (fast == 1));
    CHECK(fast_at_end < 0 || fe == (fast_at_end == 1));
    free(a.bytes);
    free(b.bytes);
}

/* A pcap file builder, in either byte order. */
struct pf {
    uint8_t *b;
    size_t n;
    bool swap;
};

static void p32(struct pf *f, uint32_t v)
{
    if (f->swap)
        v = __builtin_bswap32(v);
    memcpy(f->b + f->n, &v, 4);
    f->n += 4;
}

static void p16(struct pf *f, uint16_t v)
{
    if (f->swap)
        v = __builtin_bswap16(v);
    memcpy(f->b + f->n, &v, 2);
    f->n += 2;
}

static void header(struct pf *f, uint32_t magic, uint32_t snap, uint32_t dlt)
{
    p32(f, magic);
    p16(f, 2);
    p16(f, 4);
    p32(f, 0);
    p32(f, 0);
    p32(f, snap);
    p32(f, dlt);
}

static void record(struct pf *f, uint32_t sec, uint32_t frac, uint32_t caplen,
                   uint32_t len, size_t body)
{
    p32(f, sec);
    p32(f, frac);
    p32(f, caplen);
    p32(f, len);
    for (size_t i = 0; i < body; i++)
        f->b[f->n++] = (uint8_t)(sec + i);
}

static struct pf fresh(bool swap)
{
    struct pf f = {malloc(4u << 20), 0, swap};

    CHECK(f.b != NULL);
    return f;
}

static void many(struct pf *f, int n, uint32_t size)
{
    for (int i = 0; i < n; i++)
        record(f, 1700000000u + (uint32_t)i, (uint32_t)i % 1000000u, size,
               size + 4, size);
}

/* The bundled captures: classic ones read fast, pcapng by libpcap. */
static void bundled(void)
{
    static const struct {
        const char *name;
        int fast;
    } files[] = {{"veth_mixed.pcap", 1},    {"veth_mixed_nano.pcap", 0},
                 {"veth_mixed.pcapng", 0},  {"snap64.pcap", 0},
                 {"truncated.pcap", 1},     {"loopback.pcap", 1},
                 {"any_sll.pcap", 1},       {"any_sll2.pcap", 1},
                 {"tun_rawsock.pcap", 1},   {"tun_vxlan.pcap", 1},
                 {"icmp_err_real.pcap", 1}, {"partial_crafted.pcap", -1},
                 {"short_header.pcap", -1}, {"garbage.pcap", -1},
                 {"empty.pcap", -1}};
    char src[256];

    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        FILE *in;
        uint8_t *buf = malloc(4u << 20);
        size_t n;

        (void)snprintf(src, sizeof(src), "../test/data/%s", files[i].name);
        in = fopen(src, "rb");
        CHECK(in != NULL && buf != NULL);
        if (in == NULL || buf == NULL) {
            free(buf);
            continue;
        }
        n = fread(buf, 1, 4u << 20, in);
        (void)fclose(in);
        write_file(buf, n);
        free(buf);
        if (files[i].fast < 0) {
            /* libpcap may refuse to open it at all */
            char errbuf[PCAP_ERRBUF_SIZE];
            pcap_t *p = pcap_open_offline(path, errbuf);

            if (p == NULL)
                continue;
            pcap_close(p);
        }
        fprintf(stderr, "  %s\n", files[i].name);
        same(false, files[i].fast, -1);
        same(true, -1, -1);
    }
}

/* Both byte orders; a microsecond file read at nanoseconds; more than one
 * read's worth of records (the refill), in records of several sizes. */
static void orders_and_units(void)
{
    for (int swap = 0; swap < 2; swap++) {
        struct pf f = fresh(swap == 1);

        header(&f, 0xa1b2c3d4u, 65535, 1);
        many(&f, 20000, 60);
        many(&f, 500, 1514);
        many(&f, 3, 9000);
        /* past 2038: libpcap reads it signed in our byte order only */
        record(&f, 0xe5000000u, 7, 60, 60, 60);
        write_file(f.b, f.n);
        same(false, 1, 0);
        same(true, 1, 0);
        free(f.b);

        f = fresh(swap == 1);
        header(&f, 0xa1b23c4du, 65535, 1); /* nanoseconds */
        many(&f, 100, 60);
        record(&f, 5, 999999999u, 60, 60, 60);
        write_file(f.b, f.n);
        same(true, 1, 0);
        same(false, 0, 0); /* at microseconds: libpcap's rounding */
        free(f.b);
    }
}

/* Records this reader leaves to libpcap, after some it read itself: the
 * rest of the file must come out exactly as libpcap reads it. */
static void handovers(void)
{
    static const uint32_t odd[][3] = {
        /* caplen, len, frac */
        {200, 200, 0},      /* above the file's snaplen (128) */
        {60, 40, 0},        /* caplen above len */
        {60, 60, 1000000u}, /* a fraction of a full second */
        {300000, 300000, 0} /* above any snaplen */
    };

    for (size_t i = 0; i < sizeof(odd) / sizeof(odd[0]); i++) {
        struct pf f = fresh(i % 2 == 1);

        header(&f, 0xa1b2c3d4u, 128, 1);
        many(&f, 50, 60);
        record(&f, 9, odd[i][2], odd[i][0], odd[i][1],
               odd[i][0] > 200 ? 64 : odd[i][0]);
        many(&f, 10, 60);
        write_file(f.b, f.n);
        same(false, 1, 0);
        free(f.b);
    }
}

/* Ends: a partial record header, a partial record body, an empty file of
 * only a header. */
static void endings(void)
{
    for (int k = 0; k < 3; k++) {
        struct pf f = fresh(false);

        header(&f, 0xa1b2c3d4u, 65535, 1);
        if (k < 2)
            many(&f, 30, 60);
        if (k == 0) {
            p32(&f, 1);
            p32(&f, 2);
        } else if (k == 1) {
            record(&f, 1, 2, 100, 100, 99);
        }
        write_file(f.b, f.n);
        same(false, 1, 0);
        free(f.b);
    }
}

/* A link type whose records libpcap may rewrite (USB) stays libpcap's;
 * so does an old format version. */
static void declined(void)
{
    struct pf f = fresh(true);

    header(&f, 0xa1b2c3d4u, 65535, 189); /* DLT_USB_LINUX */
    many(&f, 5, 64);
    write_file(f.b, f.n);
    same(false, 0, 0);
    free(f.b);

    f = fresh(false);
    p32(&f, 0xa1b2c3d4u);
    p16(&f, 2);
    p16(&f, 3);
    p32(&f, 0);
    p32(&f, 0);
    p32(&f, 65535);
    p32(&f, 1);
    many(&f, 5, 64);
    write_file(f.b, f.n);
    same(false, 0, 0);
    free(f.b);
}

/* SocketCAN over Linux cooked captures (SLL, SLL2): the CAN id is in the
 * writer's byte order, which libpcap may turn to ours. Both readers must
 * agree, in either byte order. */
static void cooked_can(void)
{
    static const struct {
        uint32_t dlt;
        size_t proto_at, hdr;
    } kinds[] = {{113, 14, 16}, {276, 0, 20}};

    for (size_t k = 0; k < 2; k++)
        for (int swap = 0; swap < 2; swap++) {
            struct pf f = fresh(swap == 1);

            header(&f, 0xa1b2c3d4u, 65535, kinds[k].dlt);
            for (uint32_t i = 0; i < 5; i++) {
                size_t at;

                p32(&f, 1700000000u + i);
                p32(&f, i);
                p32(&f, (uint32_t)kinds[k].hdr + 16);
                p32(&f, (uint32_t)kinds[k].hdr + 16);
                at = f.n;
                memset(f.b + at, 0, kinds[k].hdr + 16);
                f.b[at + kinds[k].proto_at] = 0x00; /* LINUX_SLL_P_CAN */
                f.b[at + kinds[k].proto_at + 1] = 0x0c;
                f.b[at + kinds[k].hdr] = 0x12; /* can_id, writer's order */
                f.b[at + kinds[k].hdr + 1] = 0x34;
                f.b[at + kinds[k].hdr + 4] = 8; /* length */
                f.n += kinds[k].hdr + 16;
            }
            write_file(f.b, f.n);
            same(false, swap ? 0 : 1, 0);
            free(f.b);
        }
}

/* A filter set while the file is being read: libpcap runs it, on the
 * records this reader has not handed out yet. */
static void filter_midway(void)
{
    char *argv[] = {"epcap", "-r", path, NULL};
    struct pf f = fresh(false);
    struct options o;
    struct ep_error e;
    struct capture c;
    struct run r = {malloc(MAX_OUT), 0, 0, ""};
    int stop = 0;

    header(&f, 0xa1b2c3d4u, 65535, 1);
    many(&f, 100, 60);
    write_file(f.b, f.n);
    free(f.b);
    optind = 1;
    CHECK(r.bytes != NULL && options_parse(3, argv, &o, &e) == 0);
    CHECK(capture_open(&o, &c, &e) == 0 && c.sf.active);
    CHECK(capture_dispatch(&c, 40, collect, (u_char *)(void *)&r, &stop) == 40);
    CHECK(capture_setfilter(&c, "less 10", &e) == 0); /* matches none */
    CHECK(!c.sf.active);
    while (capture_dispatch(&c, 100, collect, (u_char *)(void *)&r, &stop) > 0)
        ;
    CHECK(r.count == 40);
    capture_close(&c);
    free(r.bytes);
}

int main(void)
{
    ctest_tmpfile(path);
    RUN(bundled);
    RUN(orders_and_units);
    RUN(handovers);
    RUN(endings);
    RUN(declined);
    RUN(cooked_can);
    RUN(filter_midway);
    (void)unlink(path);
    CTEST_END("test_savefile");
}
