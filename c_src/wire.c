#include "wire.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "version.h"

#define WIRE_FRAME_HDR 5 /* length + tag */
#define WIRE_BATCH_HDR 9 /* length + tag + packet count */

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static void put64(uint8_t *p, uint64_t v)
{
    put32(p, (uint32_t)(v >> 32));
    put32(p + 4, (uint32_t)v);
}

static int write_all(int fd, struct iovec *iov, int n)
{
    while (n > 0) {
        ssize_t w = writev(fd, iov, n);

        if (w < 0) {
            if (errno == EINTR)
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

int wire_batch_init(struct wire_batch *b, int fd, size_t max_caplen)
{
    size_t need = WIRE_BATCH_HDR + WIRE_PKT_HDR + max_caplen;

    b->cap = need > WIRE_BATCH_BYTES ? need : WIRE_BATCH_BYTES;
    b->buf = malloc(b->cap);
    if (b->buf == NULL)
        return -1;
    b->len = WIRE_BATCH_HDR;
    b->count = 0;
    b->fd = fd;
    return 0;
}

void wire_batch_free(struct wire_batch *b)
{
    free(b->buf);
    b->buf = NULL;
}

int wire_batch_flush(struct wire_batch *b)
{
    struct iovec iov;

    if (b->count == 0)
        return 0;
    put32(b->buf, (uint32_t)(b->len - 4));
    b->buf[4] = WIRE_TAG_BATCH;
    put32(b->buf + 5, b->count);
    iov.iov_base = b->buf;
    iov.iov_len = b->len;
    b->len = WIRE_BATCH_HDR;
    b->count = 0;
    return write_all(b->fd, &iov, 1);
}

int wire_batch_add(struct wire_batch *b, uint64_t sec, uint32_t frac,
                   uint32_t caplen, uint32_t len, const uint8_t *data)
{
    uint8_t *p;

    if (WIRE_BATCH_HDR + WIRE_PKT_HDR + (size_t)caplen > b->cap) {
        errno = EMSGSIZE;
        return -1;
    }
    if (b->len + WIRE_PKT_HDR + caplen > b->cap && wire_batch_flush(b) < 0)
        return -1;
    p = b->buf + b->len;
    put64(p, sec);
    put32(p + 8, frac);
    put32(p + 12, caplen);
    put32(p + 16, len);
    memcpy(p + WIRE_PKT_HDR, data, caplen);
    b->len += WIRE_PKT_HDR + caplen;
    b->count++;
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
    int ok = ei_x_encode_tuple_header(&x, 2) == 0 &&
             ei_x_encode_atom(&x, tag) == 0;
    if (ok && msg == NULL)
        ok = ei_x_encode_atom(&x, "ok") == 0;
    else if (ok)
        ok = ei_x_encode_tuple_header(&x, 2) == 0 &&
             ei_x_encode_atom(&x, "error") == 0 &&
             ei_x_encode_string(&x, msg) == 0;
    return term_finish(fd, &x, ok);
}

int wire_send_stats(int fd, uint64_t recv, uint64_t drop, uint64_t ifdrop)
{
    ei_x_buff x;

    if (ei_x_new_with_version(&x) < 0)
        return -1;
    int ok = ei_x_encode_tuple_header(&x, 4) == 0 &&
             ei_x_encode_atom(&x, "stats") == 0 &&
             ei_x_encode_ulonglong(&x, recv) == 0 &&
             ei_x_encode_ulonglong(&x, drop) == 0 &&
             ei_x_encode_ulonglong(&x, ifdrop) == 0;
    return term_finish(fd, &x, ok);
}
