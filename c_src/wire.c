#include "wire.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "version.h"

#define WIRE_FRAME_HDR 5 /* length + tag */
#define WIRE_BATCH_HDR 9 /* length + tag + packet count */

static void put32(uint8_t *p, uint32_t v)
{
    uint32_t be = __builtin_bswap32(v);

    memcpy(p, &be, sizeof(be));
}

static void put64(uint8_t *p, uint64_t v)
{
    uint64_t be = __builtin_bswap64(v);

    memcpy(p, &be, sizeof(be));
}

/* stdout is non-blocking in the event loop: where a whole frame must go out
 * now (control terms, a final flush), wait for the pipe to take it. */
static int wait_writable(int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLOUT};
    int n;

    do {
        n = poll(&p, 1, -1);
    } while (n < 0 && errno == EINTR);
    return n < 0 ? -1 : 0;
}

static int write_all(int fd, struct iovec *iov, int n)
{
    while (n > 0) {
        ssize_t w = writev(fd, iov, n);

        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN && wait_writable(fd) == 0)
                continue;
            return -1;
        }
        while (n > 0 && (size_t)w >= iov->iov_len) {
            w -= (ssize_t)iov->iov_len;
            iov++;
            n--;
        }
        if (n > 0) {
            iov->iov_base = (uint8_t *)iov->iov_base + w;
            iov->iov_len -= (size_t)w;
        }
    }
    return 0;
}

int wire_write_frame(int fd, uint8_t tag, const void *body, size_t len)
{
    uint8_t hdr[WIRE_FRAME_HDR];
    struct iovec iov[2];

    if (len > UINT32_MAX - 1) {
        errno = EMSGSIZE;
        return -1;
    }
    put32(hdr, (uint32_t)len + 1);
    hdr[4] = tag;
    iov[0].iov_base = hdr;
    iov[0].iov_len = sizeof(hdr);
    iov[1].iov_base = (void *)body; /* writev does not write to it */
    iov[1].iov_len = len;
    return write_all(fd, iov, len > 0 ? 2 : 1);
}

static void buf_reset(struct wire_buf *w)
{
    w->len = WIRE_BATCH_HDR;
    w->count = 0;
}

/* A pipe tells what is left in it with FIONREAD. A stream socket (-O,
 * outsock.h) answers FIONREAD with what we could read, always 0; what we
 * sent and the VM has not read is its output queue (TIOCOUTQ, which is
 * SIOCOUTQ on Linux), an ioctl a pipe refuses. */
static unsigned long unread_request(int fd)
{
#ifdef __linux__
    int queued = 0;

    if (ioctl(fd, TIOCOUTQ, &queued) == 0)
        return TIOCOUTQ;
#else
    (void)fd;
#endif
    return FIONREAD;
}

int wire_batch_init(struct wire_batch *b, int fd, size_t max_caplen)
{
    size_t need = WIRE_BATCH_HDR + WIRE_PKT_HDR + max_caplen;

    b->cap = need > WIRE_BATCH_BYTES ? need : WIRE_BATCH_BYTES;
    b->fd = fd;
    b->unread_req = unread_request(fd);
    b->sent = 0;
    b->sealed_ns = 0; /* long ago: the first batch leaves at once */
    b->frames = 0;
    b->blocked_us = 0;
    b->bufs[0].buf = malloc(b->cap);
    b->bufs[1].buf = malloc(b->cap);
    if (b->bufs[0].buf == NULL || b->bufs[1].buf == NULL) {
        wire_batch_free(b);
        return -1;
    }
    b->cur = &b->bufs[0];
    b->out = &b->bufs[1];
    buf_reset(b->cur);
    buf_reset(b->out);
    b->out->len = 0; /* nothing in flight */
    return 0;
}

void wire_batch_free(struct wire_batch *b)
{
    free(b->bufs[0].buf);
    free(b->bufs[1].buf);
    b->bufs[0].buf = NULL;
    b->bufs[1].buf = NULL;
}

bool wire_batch_pending(const struct wire_batch *b)
{
    return b->sent < b->out->len;
}

bool wire_batch_has_room(const struct wire_batch *b, size_t caplen)
{
    return !wire_batch_pending(b) ||
           b->cur->len + WIRE_PKT_HDR + caplen <= b->cap;
}

/* Write what the pipe takes now. 0 (done or would block), -1 on error. */
static int push(struct wire_batch *b)
{
    while (wire_batch_pending(b)) {
        ssize_t w = write(b->fd, b->out->buf + b->sent, b->out->len - b->sent);

        if (w < 0) {
            if (errno == EINTR)
                continue;
            return errno == EAGAIN ? 0 : -1;
        }
        b->sent += (size_t)w;
    }
    return 0;
}

/* CLOCK_MONOTONIC in ns; 0 if the clock fails, which makes every hold
 * look over (wire_batch_offer then sends at once, as without holding). */
static uint64_t now_ns(void)
{
    struct timespec ts;

    if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
        return 0;
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The filled buffer becomes the one in flight (out must be idle). */
static int seal(struct wire_batch *b)
{
    struct wire_buf *w = b->cur;

    b->sealed_ns = now_ns();
    b->frames++;
    put32(w->buf, (uint32_t)(w->len - 4));
    w->buf[4] = WIRE_TAG_BATCH;
    put32(w->buf + 5, w->count);
    b->cur = b->out;
    b->out = w;
    b->sent = 0;
    buf_reset(b->cur);
    return push(b);
}

static int drain_out(struct wire_batch *b)
{
    while (wire_batch_pending(b)) {
        if (push(b) < 0)
            return -1;
        if (wire_batch_pending(b)) {
            uint64_t t0 = now_ns(), t1;
            int rc = wait_writable(b->fd);

            t1 = now_ns();
            b->blocked_us += t1 > t0 && t0 != 0 ? (t1 - t0) / 1000u : 0;
            if (rc < 0)
                return -1;
        }
    }
    return 0;
}

/* Whether the VM has yet to read part of what we wrote. A new batch would
 * only queue behind it, so we keep gathering into the current one. A
 * descriptor that cannot tell (not a pipe, or a sandbox that denies the
 * ioctl) says no. */
static bool reader_behind(int fd, unsigned long req)
{
    int unread = 0;

    return ioctl(fd, req, &unread) == 0 && unread > 0;
}

/* How long what has gathered should wait before it is sent (see wire.h). */
static uint64_t hold_left(const struct wire_batch *b, uint64_t now)
{
    uint64_t since = now - b->sealed_ns;

    /* the clock first: it costs no system call */
    if (b->cur->len < WIRE_HOLD_BYTES && since < WIRE_HOLD_NS)
        return WIRE_HOLD_NS - since;
    /* no deadline then: look again later */
    return reader_behind(b->fd, b->unread_req) ? WIRE_HOLD_NS : 0;
}

int wire_batch_offer(struct wire_batch *b, long *hold_ns)
{
    uint64_t left;

    *hold_ns = -1;
    if (!wire_batch_waiting(b))
        return 0;
    left = hold_left(b, now_ns());
    if (left > 0) {
        *hold_ns = (long)left;
        return 0;
    }
    return seal(b);
}

int wire_batch_release(struct wire_batch *b)
{
    return wire_batch_waiting(b) ? seal(b) : 0;
}

bool wire_batch_waiting(const struct wire_batch *b)
{
    return !wire_batch_pending(b) && b->cur->count > 0;
}

int wire_batch_on_writable(struct wire_batch *b)
{
    return push(b);
}

int wire_batch_flush(struct wire_batch *b)
{
    if (drain_out(b) < 0)
        return -1;
    if (b->cur->count == 0)
        return 0;
    if (seal(b) < 0)
        return -1;
    return drain_out(b);
}

static void put_record_header(uint8_t *p, uint64_t sec, uint32_t frac,
                              uint32_t caplen, uint32_t len)
{
    put64(p, sec);
    put32(p + 8, frac);
    put32(p + 12, caplen);
    put32(p + 16, len);
}

/* Some link types (D-Bus, USBPcap) carry records larger than any snaplen
 * a batch buffer is sized for. Such a record is rare: it is written
 * straight from libpcap's buffer, in order, after whatever gathered. */
static int add_alone(struct wire_batch *b, uint64_t sec, uint32_t frac,
                     uint32_t caplen, uint32_t len, const uint8_t *data)
{
    uint8_t hdr[WIRE_BATCH_HDR + WIRE_PKT_HDR];
    struct iovec iov[2];

    if (wire_batch_flush(b) < 0)
        return -1;
    if (WIRE_BATCH_HDR - 4 + WIRE_PKT_HDR + (size_t)caplen > WIRE_FRAME_CAP) {
        errno = EMSGSIZE;
        return -1;
    }
    put32(hdr, (uint32_t)(WIRE_BATCH_HDR - 4 + WIRE_PKT_HDR + caplen));
    hdr[4] = WIRE_TAG_BATCH;
    put32(hdr + 5, 1);
    put_record_header(hdr + WIRE_BATCH_HDR, sec, frac, caplen, len);
    iov[0].iov_base = hdr;
    iov[0].iov_len = sizeof(hdr);
    iov[1].iov_base = (void *)data; /* writev does not write to it */
    iov[1].iov_len = caplen;
    b->frames++;
    return write_all(b->fd, iov, caplen > 0 ? 2 : 1);
}

int wire_batch_add(struct wire_batch *b, uint64_t sec, uint32_t frac,
                   uint32_t caplen, uint32_t len, const uint8_t *data)
{
    struct wire_buf *w;
    uint8_t *p;

    if (WIRE_BATCH_HDR + WIRE_PKT_HDR + (size_t)caplen > b->cap)
        return add_alone(b, sec, frac, caplen, len, data);
    /* Both buffers full: only now does the capture wait for the VM. */
    if (b->cur->len + WIRE_PKT_HDR + caplen > b->cap &&
        (drain_out(b) < 0 || seal(b) < 0))
        return -1;
    w = b->cur;
    p = w->buf + w->len;
    put_record_header(p, sec, frac, caplen, len);
    memcpy(p + WIRE_PKT_HDR, data, caplen);
    w->len += WIRE_PKT_HDR + caplen;
    w->count++;
    return 0;
}

int wire_send_term(int fd, const ei_x_buff *x)
{
    return wire_write_frame(fd, WIRE_TAG_TERM, x->buff, (size_t)x->index);
}

/* Every control term is small: build it, send it, free it. The encoders
 * fail only when allocation fails, which is reported as a send failure. */
static int term_finish(int fd, ei_x_buff *x, int ok)
{
    int rc = ok ? wire_send_term(fd, x) : -1;

    ei_x_free(x);
    return rc;
}

int wire_send_ready(int fd, int dlt, long pid, int nano, const char *mode,
                    int snaplen)
{
    ei_x_buff x;

    if (ei_x_new_with_version(&x) < 0)
        return -1;
    int ok = ei_x_encode_tuple_header(&x, 7) == 0 &&
             ei_x_encode_atom(&x, "ready") == 0 &&
             ei_x_encode_long(&x, dlt) == 0 && ei_x_encode_long(&x, pid) == 0 &&
             ei_x_encode_atom(&x, nano ? "nano" : "micro") == 0 &&
             ei_x_encode_atom(&x, mode) == 0 &&
             ei_x_encode_long(&x, snaplen) == 0 &&
             ei_x_encode_string(&x, EPCAP_VERSION) == 0;
    return term_finish(fd, &x, ok);
}

int wire_send_atom(int fd, const char *atom)
{
    ei_x_buff x;

    if (ei_x_new_with_version(&x) < 0)
        return -1;
    int ok = ei_x_encode_atom(&x, atom) == 0;
    return term_finish(fd, &x, ok);
}

int wire_send_error(int fd, const struct ep_error *e)
{
    ei_x_buff x;

    if (ei_x_new_with_version(&x) < 0)
        return -1;
    int ok = ei_x_encode_tuple_header(&x, 2) == 0 &&
             ei_x_encode_atom(&x, "error") == 0 &&
             ei_x_encode_tuple_header(&x, 2) == 0 &&
             ei_x_encode_atom(&x, e->reason ? e->reason : "unknown") == 0 &&
             ei_x_encode_string(&x, e->msg) == 0;
    return term_finish(fd, &x, ok);
}

int wire_send_result(int fd, const char *tag, const char *msg)
{
    ei_x_buff x;

    if (ei_x_new_with_version(&x) < 0)
        return -1;
    int ok =
        ei_x_encode_tuple_header(&x, 2) == 0 && ei_x_encode_atom(&x, tag) == 0;
    if (ok && msg == NULL)
        ok = ei_x_encode_atom(&x, "ok") == 0;
    else if (ok)
        ok = ei_x_encode_tuple_header(&x, 2) == 0 &&
             ei_x_encode_atom(&x, "error") == 0 &&
             ei_x_encode_string(&x, msg) == 0;
    return term_finish(fd, &x, ok);
}

static int encode_stats(ei_x_buff *x, int arity, uint64_t recv, uint64_t drop,
                        uint64_t ifdrop, const struct wire_port_counts *c)
{
    return ei_x_encode_tuple_header(x, arity) == 0 &&
           ei_x_encode_atom(x, "stats") == 0 &&
           ei_x_encode_ulonglong(x, recv) == 0 &&
           ei_x_encode_ulonglong(x, drop) == 0 &&
           ei_x_encode_ulonglong(x, ifdrop) == 0 &&
           ei_x_encode_tuple_header(x, 5) == 0 &&
           ei_x_encode_ulonglong(x, c->wakeups) == 0 &&
           ei_x_encode_ulonglong(x, c->reads) == 0 &&
           ei_x_encode_ulonglong(x, c->batches) == 0 &&
           ei_x_encode_ulonglong(x, c->credit_wait_us) == 0 &&
           ei_x_encode_ulonglong(x, c->pipe_wait_us) == 0;
}

int wire_send_stats(int fd, uint64_t recv, uint64_t drop, uint64_t ifdrop,
                    const struct wire_port_counts *c)
{
    ei_x_buff x;

    if (ei_x_new_with_version(&x) < 0)
        return -1;
    int ok = encode_stats(&x, 5, recv, drop, ifdrop, c);
    return term_finish(fd, &x, ok);
}

int wire_send_save_stats(int fd, uint64_t recv, uint64_t drop, uint64_t ifdrop,
                         const struct wire_port_counts *c, uint64_t saved,
                         uint64_t save_errors)
{
    ei_x_buff x;

    if (ei_x_new_with_version(&x) < 0)
        return -1;
    int ok = encode_stats(&x, 6, recv, drop, ifdrop, c) &&
             ei_x_encode_tuple_header(&x, 2) == 0 &&
             ei_x_encode_ulonglong(&x, saved) == 0 &&
             ei_x_encode_ulonglong(&x, save_errors) == 0;
    return term_finish(fd, &x, ok);
}

/* A time, or `undefined' for a file that holds no packet. */
static int encode_time(ei_x_buff *x, bool have, uint64_t sec, uint32_t frac)
{
    if (!have)
        return ei_x_encode_atom(x, "undefined") == 0;
    return ei_x_encode_tuple_header(x, 2) == 0 &&
           ei_x_encode_ulonglong(x, sec) == 0 &&
           ei_x_encode_ulong(x, frac) == 0;
}

int wire_send_saved(int fd, const struct wire_saved *v)
{
    ei_x_buff x;
    bool have = v->packets > 0;

    if (ei_x_new_with_version(&x) < 0)
        return -1;
    int ok = ei_x_encode_tuple_header(&x, 6) == 0 &&
             ei_x_encode_atom(&x, "saved") == 0 &&
             ei_x_encode_binary(&x, v->name, (int)strlen(v->name)) == 0 &&
             ei_x_encode_ulonglong(&x, v->packets) == 0 &&
             ei_x_encode_ulonglong(&x, v->bytes) == 0 &&
             encode_time(&x, have, v->first_sec, v->first_frac) &&
             encode_time(&x, have, v->last_sec, v->last_frac);
    return term_finish(fd, &x, ok);
}

int wire_send_removed(int fd, const char *name)
{
    ei_x_buff x;

    if (ei_x_new_with_version(&x) < 0)
        return -1;
    int ok = ei_x_encode_tuple_header(&x, 2) == 0 &&
             ei_x_encode_atom(&x, "removed") == 0 &&
             ei_x_encode_binary(&x, name, (int)strlen(name)) == 0;
    return term_finish(fd, &x, ok);
}
