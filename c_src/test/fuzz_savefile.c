/* libFuzzer harness for the read loop against libpcap's savefile parser:
 * the input is a pcap or pcapng file (in a memfd, a regular file, so that
 * savefile.c's reader takes what it can and hands the rest to libpcap),
 * read by loop_run() just as the port reads a {file, F} capture, with
 * credit for everything. What the loop writes is decoded independently
 * and compared with a second, plain pcap_next_ex() pass over the same
 * bytes (fmemopen'd: libpcap alone).
 *
 * Checks, beyond ASan/UBSan:
 *   - the loop ends: eof (and then the last frame is the eof term) or an
 *     error value (a bad record), never a hang or a crash;
 *   - every record libpcap yields before the end or the error comes out,
 *     once, in order, with its exact time, lengths and bytes;
 *   - every frame is well formed (length within the cap, a count equal to
 *     its records). */
#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <pcap/pcap.h>

#include "capture.h"
#include "loop.h"
#include "wire.h"

#define PIPE_BYTES ((size_t)1 << 20)

static uint8_t out[PIPE_BYTES];
static uint8_t want[4 * PIPE_BYTES]; /* the records as loop.c encodes them */

static void check(int cond)
{
    if (!cond)
        __builtin_trap();
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
           (uint32_t)p[3];
}

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* The input as the port opens a file: a regular file's stream. */
static pcap_t *open_file(const uint8_t *data, size_t size, FILE **fpp)
{
    char errbuf[PCAP_ERRBUF_SIZE];
    int fd = memfd_create("fuzz_savefile", MFD_CLOEXEC);
    FILE *fp;
    pcap_t *p;

    check(fd >= 0);
    check(write(fd, data, size) == (ssize_t)size);
    check(lseek(fd, 0, SEEK_SET) == 0);
    fp = fdopen(fd, "rb");
    check(fp != NULL);
    p = pcap_fopen_offline(fp, errbuf);
    if (p == NULL)
        (void)fclose(fp);
    *fpp = fp;
    return p;
}

static pcap_t *open_mem(uint8_t *copy, size_t size)
{
    char errbuf[PCAP_ERRBUF_SIZE];
    FILE *fp = fmemopen(copy, size, "rb");
    pcap_t *p;

    if (fp == NULL)
        return NULL;
    p = pcap_fopen_offline(fp, errbuf);
    if (p == NULL)
        (void)fclose(fp);
    return p;
}

/* The records a plain reader sees, encoded as the wire's records. */
static size_t expected(uint8_t *copy, size_t size, size_t *count)
{
    pcap_t *p = open_mem(copy, size);
    struct pcap_pkthdr *h;
    const u_char *bytes;
    size_t n = 0;

    *count = 0;
    if (p == NULL)
        return 0;
    while (pcap_next_ex(p, &h, &bytes) == 1) {
        uint64_t sec = (uint64_t)h->ts.tv_sec;

        check(n + WIRE_PKT_HDR + h->caplen <= sizeof(want));
        put32(want + n, (uint32_t)(sec >> 32));
        put32(want + n + 4, (uint32_t)sec);
        put32(want + n + 8, (uint32_t)h->ts.tv_usec);
        put32(want + n + 12, h->caplen);
        put32(want + n + 16, h->len);
        memcpy(want + n + WIRE_PKT_HDR, bytes, h->caplen);
        n += WIRE_PKT_HDR + h->caplen;
        (*count)++;
    }
    pcap_close(p);
    return n;
}

/* Concatenates the records of every batch frame into out, in place; the
 * frames must be well formed, and only the last may be a term. */
static size_t records_of(size_t have, size_t *count, int *ended_with_term)
{
    size_t at = 0, n = 0;

    *count = 0;
    *ended_with_term = 0;
    while (at < have) {
        uint32_t flen, c;
        size_t end, body;

        check(!*ended_with_term);
        check(have - at >= 5);
        flen = get32(out + at);
        check(flen >= 1 && flen <= WIRE_FRAME_CAP);
        end = at + 4 + flen;
        check(end <= have);
        if (out[at + 4] == WIRE_TAG_TERM) {
            *ended_with_term = 1;
            at = end;
            continue;
        }
        check(out[at + 4] == WIRE_TAG_BATCH && flen >= 5);
        c = get32(out + at + 5);
        body = at + 9;
        for (uint32_t i = 0; i < c; i++) {
            uint32_t caplen;

            check(end - body >= WIRE_PKT_HDR);
            caplen = get32(out + body + 12);
            check(end - body - WIRE_PKT_HDR >= caplen);
            memmove(out + n, out + body, WIRE_PKT_HDR + caplen);
            n += WIRE_PKT_HDR + caplen;
            body += WIRE_PKT_HDR + caplen;
        }
        check(body == end);
        *count += c;
        at = end;
    }
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The control channel and the output, kept for the whole run: stdin is
 * left open (its end would be the Erlang side gone); the output is
 * drained after each input. */
static int in[2] = {-1, -1}, outp[2] = {-1, -1};

static void set_up(void)
{
    check(pipe(in) == 0 && pipe(outp) == 0);
    check(fcntl(outp[1], F_SETPIPE_SZ, (int)PIPE_BYTES) >= (int)PIPE_BYTES);
    check(fcntl(outp[0], F_SETFL, O_NONBLOCK) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint8_t credit[9] = {0, 0, 0, 5, 4, 0xff, 0xff, 0xff, 0xff};
    uint8_t *copy;
    FILE *fp = NULL;
    struct capture c;
    struct ep_error e;
    enum loop_end end;
    int term;
    size_t have = 0, nwant, cwant, ngot, cgot;
    ssize_t n;

    if (size == 0)
        return 0;
    if (in[0] < 0)
        set_up();
    copy = malloc(size);
    check(copy != NULL);
    memcpy(copy, data, size);
    memset(&c, 0, sizeof(c));
    c.p = open_file(data, size, &fp);
    if (c.p == NULL) {
        free(copy);
        return 0; /* not a savefile: capture_open reports it, no loop */
    }
    savefile_init(&c.sf, c.p, fp, false);
    c.dlt = pcap_datalink(c.p);
    c.fd = -1;
    /* credit for everything: the loop reads it before any packet */
    check(write(in[1], credit, sizeof(credit)) == (ssize_t)sizeof(credit));
    end = loop_run(&c, false, NULL, in[0], outp[1], &e);
    capture_close(&c);
    while ((n = read(outp[0], out + have, sizeof(out) - have)) > 0)
        have += (size_t)n;
    check(n < 0 && errno == EAGAIN);

    check(end == LOOP_FILE_EOF || end == LOOP_ERROR);
    ngot = records_of(have, &cgot, &term);
    /* eof is the last frame; an error is sent by epcap.c, not the loop */
    check(term == (end == LOOP_FILE_EOF));
    if (end == LOOP_ERROR)
        check(e.reason != NULL && (strcmp(e.reason, "file") == 0 ||
                                   strcmp(e.reason, "record_too_large") == 0));
    nwant = expected(copy, size, &cwant);
    free(copy);
    check(cgot == cwant && ngot == nwant);
    check(memcmp(out, want, ngot) == 0);
    return 0;
}
