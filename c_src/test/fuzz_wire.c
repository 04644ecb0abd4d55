/* libFuzzer harness for the batch encoder (wire.c): the input is a program
 * of operations (add a record of some size, offer, drain, flush), run
 * against a pipe; what comes out is then decoded independently of wire.c.
 *
 * Checks, beyond ASan/UBSan:
 *   - every record added comes out, once, in order, with its exact header
 *     fields and bytes, whatever the sizes (tiny, at the batch buffer's
 *     bound, larger than a buffer, larger than a frame);
 *   - a record too large for any frame is refused with EMSGSIZE, nothing of
 *     it is written, and everything before it has been sent;
 *   - every frame is well formed: length within the cap, batch tag, a
 *     count equal to its records, records filling the frame exactly.
 *
 * The pipe is widened to 1 MiB and each input writes less than that, so
 * the encoder never has to wait for a reader. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "wire.h"

#define PIPE_BYTES  ((size_t)1 << 20)
#define BUDGET      (PIPE_BYTES - 64 * 1024) /* bytes the input may write */
#define MAX_RECORDS 4096

struct rec {
    uint64_t sec;
    uint32_t frac, caplen, len;
    size_t off; /* where its bytes start in src */
};

static uint8_t src[2 * WIRE_FRAME_CAP];
static uint8_t out[PIPE_BYTES];
static struct rec recs[MAX_RECORDS];

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
           (uint32_t)p[3];
}

static uint64_t get64(const uint8_t *p)
{
    return (uint64_t)get32(p) << 32 | get32(p + 4);
}

static void check(int cond)
{
    if (!cond)
        __builtin_trap();
}

/* Decodes everything read from the pipe and compares it with recs. */
static void verify(const uint8_t *p, size_t n, size_t nrecs)
{
    size_t at = 0, next = 0;

    while (at < n) {
        uint32_t flen, count;
        size_t end;

        check(n - at >= 9);
        flen = get32(p + at);
        check(flen >= 5 && flen <= WIRE_FRAME_CAP);
        check(p[at + 4] == WIRE_TAG_BATCH);
        end = at + 4 + flen;
        check(end <= n);
        count = get32(p + at + 5);
        check(count > 0);
        at += 9;
        for (uint32_t i = 0; i < count; i++) {
            const struct rec *r;

            check(next < nrecs && end - at >= WIRE_PKT_HDR);
            r = &recs[next++];
            check(get64(p + at) == r->sec && get32(p + at + 8) == r->frac);
            check(get32(p + at + 12) == r->caplen &&
                  get32(p + at + 16) == r->len);
            at += WIRE_PKT_HDR;
            check(end - at >= r->caplen);
            check(memcmp(p + at, src + r->off, r->caplen) == 0);
            at += r->caplen;
        }
        check(at == end);
    }
    check(next == nrecs);
}

/* A record's size from two input bytes: mostly small, sometimes at the
 * edges that matter (a full buffer, just over it, a frame's cap). */
static uint32_t pick_caplen(uint8_t kind, uint8_t v)
{
    switch (kind % 8) {
    case 0: return v;
    case 1: return 60u + v;
    case 2: return 1500u + (uint32_t)v * 8u;
    case 3: return (uint32_t)(WIRE_BATCH_BYTES - 9 - 20) - 2u + v % 5u;
    case 4: return (uint32_t)WIRE_BATCH_BYTES + (uint32_t)v * 1024u;
    case 5:
        return (uint32_t)(WIRE_FRAME_CAP - 5 - 20) - 2u + v % 5u; /* at cap */
    case 6: return (uint32_t)WIRE_FRAME_CAP + v;
    default: return 65535u - v;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* One pipe and one encoder for the whole run: an encoder left idle by a
 * flush is as good as new, and setting them up costs more than most
 * inputs. Both ends are non-blocking: the harness drains the pipe. */
static int fds[2] = {-1, -1};
static struct wire_batch b;

static void set_up(void)
{
    for (size_t k = 0; k < sizeof(src); k++)
        src[k] = (uint8_t)(k * 131u + (k >> 9));
    check(pipe(fds) == 0);
    /* a smaller pipe limit: the premise that nothing waits does not hold */
    check(fcntl(fds[1], F_SETPIPE_SZ, (int)PIPE_BYTES) >= (int)PIPE_BYTES);
    check(fcntl(fds[0], F_SETFL, O_NONBLOCK) == 0);
    check(fcntl(fds[1], F_SETFL, O_NONBLOCK) == 0);
    check(wire_batch_init(&b, fds[1], 262144) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t nrecs = 0, written = 0, have = 0, i = 0;
    long hold;
    ssize_t n;

    if (fds[0] < 0)
        set_up();
    while (i + 4 <= size && nrecs < MAX_RECORDS) {
        uint8_t op = data[i], kind = data[i + 1], v = data[i + 2],
                t = data[i + 3];

        i += 4;
        if (op % 5 == 0) {
            /* an offer, or a release (the loop's, once credit is spent) */
            check((kind & 1 ? wire_batch_release(&b)
                            : wire_batch_offer(&b, &hold)) == 0);
            continue;
        }
        if (op % 5 == 1) {
            check(wire_batch_on_writable(&b) == 0);
            continue;
        }
        struct rec r = {.sec = (uint64_t)t << 40 | v,
                        .frac = (uint32_t)op << 8 | kind,
                        .caplen = pick_caplen(kind, v),
                        .len = (uint32_t)v * 3u + t,
                        .off = (size_t)t * 97u};
        size_t cost = 9 + WIRE_PKT_HDR + (size_t)r.caplen;

        if (r.caplen > WIRE_FRAME_CAP - 5 - WIRE_PKT_HDR) {
            /* refused, after what came before was sent */
            errno = 0;
            check(wire_batch_add(&b, r.sec, r.frac, r.caplen, r.len,
                                 src + r.off) == -1 &&
                  errno == EMSGSIZE);
            check(!wire_batch_pending(&b) && !wire_batch_waiting(&b));
            continue;
        }
        if (written + cost > BUDGET)
            break;
        check(wire_batch_add(&b, r.sec, r.frac, r.caplen, r.len, src + r.off) ==
              0);
        written += cost;
        recs[nrecs++] = r;
    }
    check(wire_batch_flush(&b) == 0);
    check(!wire_batch_pending(&b) && !wire_batch_waiting(&b));
    while ((n = read(fds[0], out + have, sizeof(out) - have)) > 0)
        have += (size_t)n;
    check(n < 0 && errno == EAGAIN); /* drained, and no more than fits */
    verify(out, have, nrecs);
    return 0;
}
