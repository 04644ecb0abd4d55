/* C -> Erlang framing (doc/protocol.md): every message is a 4-byte
 * big-endian length (the port's {packet, 4}), a tag byte, then the body. */
#ifndef EPCAP_WIRE_H
#define EPCAP_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ei.h>

#include "errors.h"

#define WIRE_TAG_BATCH 1 /* body: count:32, then packet records */
#define WIRE_TAG_TERM  2 /* body: one external-format term built with libei */

#define WIRE_PKT_HDR     20 /* sec:64, frac:32, caplen:32, len:32 */
#define WIRE_BATCH_BYTES ((size_t)256 * 1024)
/* The largest frame the Erlang side accepts (its length prefix included in
 * nothing: the prefix counts tag and body). A record too large for a batch
 * buffer travels alone in a batch of one, up to this. */
#define WIRE_FRAME_CAP ((size_t)1024 * 1024)

/* Two buffers: one filling while the other is in flight, so that while
 * the VM is slow to read, packets keep leaving the kernel's ring and gather
 * into one larger batch instead of waiting there (and being dropped). */
struct wire_buf {
    uint8_t *buf; /* 4-byte length + tag + count + records */
    size_t len;
    uint32_t count;
};

struct wire_batch {
    struct wire_buf bufs[2];
    struct wire_buf *cur; /* filling */
    struct wire_buf *out; /* in flight: bytes [sent, out->len) */
    size_t sent;
    size_t cap;
    int fd;
    unsigned long
        unread_req;      /* the ioctl that tells what the VM has not read */
    uint64_t sealed_ns;  /* CLOCK_MONOTONIC of the last batch sent */
    uint64_t frames;     /* batches handed to the pipe, for stats */
    uint64_t blocked_us; /* waited for the pipe inside add/flush */
};

/* max_caplen: the largest record body to expect (the snaplen). */
int wire_batch_init(struct wire_batch *b, int fd, size_t max_caplen);
void wire_batch_free(struct wire_batch *b);

/* Appends a record. Waits for the pipe only when both buffers are full.
 * A record larger than a buffer goes out at once in a batch of its own,
 * after everything gathered before it. Returns 0, or -1 with errno from
 * write(2), or EMSGSIZE for a record that no frame can carry (more than
 * WIRE_FRAME_CAP): what came before it has then been sent. */
int wire_batch_add(struct wire_batch *b, uint64_t sec, uint32_t frac,
                   uint32_t caplen, uint32_t len, const uint8_t *data);

/* Sends what has gathered, unless it should wait; never blocks. Sets
 * *hold_ns to the nanoseconds after which what was kept back must be
 * offered again, or to -1 when nothing waits (it left, or there was none):
 * the caller sleeps on that rather than asking again. What has
 * gathered waits while the VM has yet to read what was sent before (a new
 * message would only queue behind it), and, while it is under
 * WIRE_HOLD_BYTES, until WIRE_HOLD_NS have passed since the previous batch
 * left. Every message wakes the VM, and at a high packet rate in immediate
 * mode a wake-up per few packets costs the port its CPU while the kernel's
 * ring overflows (bench/RESULTS.md: 40 % lost at 200 k packets/s, 4 % with
 * the hold). A packet that follows a quiet spell of WIRE_HOLD_NS leaves at
 * once. */
int wire_batch_offer(struct wire_batch *b, long *hold_ns);

#define WIRE_HOLD_NS    100000u /* 100 us */
#define WIRE_HOLD_BYTES ((size_t)64 * 1024)

/* Sends what has gathered now, without holding it back (when no more
 * can join it); never blocks. 0, or -1 with errno from write(2). */
int wire_batch_release(struct wire_batch *b);

/* Records gathered and nothing in flight: the caller must offer again. */
bool wire_batch_waiting(const struct wire_batch *b);

/* stdout became writable: go on sending what is in flight. */
int wire_batch_on_writable(struct wire_batch *b);

/* Bytes in flight that the pipe has not taken yet. */
bool wire_batch_pending(const struct wire_batch *b);

/* Whether a record of caplen bytes can be added without waiting. */
bool wire_batch_has_room(const struct wire_batch *b, size_t caplen);

/* Sends everything, waiting as needed. 0 or -1 with errno. */
int wire_batch_flush(struct wire_batch *b);

/* Writes one whole frame; retries short writes and EINTR. */
int wire_write_frame(int fd, uint8_t tag, const void *body, size_t len);

/* Control terms. Each returns 0 or -1 (write or encode failure). */
int wire_send_ready(int fd, int dlt, long pid, int nano, const char *mode,
                    int snaplen);
int wire_send_atom(int fd, const char *atom);
/* {error, {Reason, Msg}} */
int wire_send_error(int fd, const struct ep_error *e);
/* {Tag, ok} or {Tag, {error, Msg}} when msg != NULL */
int wire_send_result(int fd, const char *tag, const char *msg);
/* What the port itself counts, for telling where a live capture loses
 * frames: the kernel's ring overflows while the port waits for the owner's
 * credit, for the VM to read the pipe, or for the CPU. */
struct wire_port_counts {
    uint64_t wakeups;        /* returns from poll */
    uint64_t reads;          /* wake-ups that read at least one packet */
    uint64_t batches;        /* batch frames sent */
    uint64_t credit_wait_us; /* asleep with the owner's credit spent */
    uint64_t pipe_wait_us;   /* asleep with both batch buffers full */
};

/* {stats, Received, Dropped, IfDropped,
 *  {Wakeups, Reads, Batches, CreditWaitUs, PipeWaitUs}} */
int wire_send_stats(int fd, uint64_t recv, uint64_t drop, uint64_t ifdrop,
                    const struct wire_port_counts *c);
/* Saving (saver.h): stats with {Saved, SaveErrors} as a sixth element. */
int wire_send_save_stats(int fd, uint64_t recv, uint64_t drop, uint64_t ifdrop,
                         const struct wire_port_counts *c, uint64_t saved,
                         uint64_t save_errors);
/* A file closed: {saved, Name, Packets, Bytes, First, Last}, each time
 * {Sec, Frac} or `undefined' (no packet); Name a binary. */
struct wire_saved {
    const char *name;
    uint64_t packets, bytes;
    uint64_t first_sec, last_sec;
    uint32_t first_frac, last_frac;
};
int wire_send_saved(int fd, const struct wire_saved *v);
/* The ring removed a file: {removed, Name}. */
int wire_send_removed(int fd, const char *name);
/* Sends x's buffer as a term frame. */
int wire_send_term(int fd, const ei_x_buff *x);

#endif
