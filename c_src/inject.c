#include "inject.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <ei.h>
#include <pcap/pcap.h>

#include "control.h"
#include "wire.h"

void inject_records(inject_send_fn send, void *ctx, const uint8_t *recs,
                    size_t n, bool stop, struct inject_outcome *o)
{
    size_t off = 0, len;
    const uint8_t *frame;

    o->sent = 0;
    o->failed = 0;
    o->msg[0] = '\0';
    while (ctl_record_next(recs, n, &off, &frame, &len)) {
        char msg[sizeof(o->msg)];
        long r = send(ctx, frame, len, msg, sizeof(msg));

        if (r >= 0 && (size_t)r == len) {
            o->sent++;
            continue;
        }
        if (r >= 0)
            (void)snprintf(msg, sizeof(msg), "short write: %ld of %zu bytes", r,
                           len);
        if (o->failed++ == 0)
            (void)snprintf(o->msg, sizeof(o->msg), "%s", msg);
        if (stop)
            return;
    }
}

/* A frame refused: counted, the first one's reason kept. */
static void refused(struct inject_outcome *o, const char *why)
{
    if (o->failed++ == 0)
        (void)snprintf(o->msg, sizeof(o->msg), "%s", why);
}

/* Up to INJECT_MMSG_MAX records from *off into m and v: how many. */
static unsigned gather(const uint8_t *recs, size_t n, size_t *off,
                       struct mmsghdr *m, struct iovec *v)
{
    unsigned k = 0;
    size_t len;
    const uint8_t *frame;

    while (k < INJECT_MMSG_MAX && ctl_record_next(recs, n, off, &frame, &len)) {
        v[k].iov_base = (void *)frame; /* sendmmsg only reads it */
        v[k].iov_len = len;
        memset(&m[k], 0, sizeof(m[k]));
        m[k].msg_hdr.msg_iov = &v[k];
        m[k].msg_hdr.msg_iovlen = 1;
        k++;
    }
    return k;
}

void inject_records_mmsg(int fd, const uint8_t *recs, size_t n, bool stop,
                         struct inject_outcome *o)
{
    struct mmsghdr m[INJECT_MMSG_MAX];
    struct iovec v[INJECT_MMSG_MAX];
    size_t off = 0;
    unsigned k, i = 0;

    o->sent = 0;
    o->failed = 0;
    o->msg[0] = '\0';
    k = gather(recs, n, &off, m, v);
    while (i < k) {
        int r;

        do {
            r = sendmmsg(fd, m + i, k - i, 0);
        } while (r < 0 && errno == EINTR);
        if (r < 0) {
            /* The first of them was refused (a later refusal only ends
             * the call early: it is met again as a first). */
            char why[sizeof(o->msg)];

            (void)snprintf(why, sizeof(why), "send: %s", strerror(errno));
            refused(o, why);
            if (stop)
                return;
            r = 1;
        } else {
            /* A packet socket sends a frame whole or not at all. */
            o->sent += (uint32_t)r;
        }
        i += (unsigned)r;
        if (i == k) {
            k = gather(recs, n, &off, m, v);
            i = 0;
        }
    }
}

long inject_pcap(void *ctx, const uint8_t *frame, size_t len, char *msg,
                 size_t msg_size)
{
    pcap_t *p = ctx;
    int n = pcap_inject(p, frame, len);

    if (n < 0)
        (void)snprintf(msg, msg_size, "%s", pcap_geterr(p));
    return n;
}

static int finish(int fd, ei_x_buff *x, int ok)
{
    int rc = ok ? wire_send_term(fd, x) : -1;

    ei_x_free(x);
    return rc;
}

int inject_reply_many(int fd, const struct inject_outcome *o, bool skipped)
{
    ei_x_buff x;

    if (ei_x_new_with_version(&x) < 0)
        return -1;
    int ok = ei_x_encode_tuple_header(&x, 3) == 0 &&
             ei_x_encode_atom(&x, "send_many") == 0 &&
             ei_x_encode_ulong(&x, o->sent) == 0;
    if (ok && skipped)
        ok = ei_x_encode_atom(&x, "skipped") == 0;
    else if (ok && o->failed == 0)
        ok = ei_x_encode_atom(&x, "ok") == 0;
    else if (ok)
        ok = ei_x_encode_tuple_header(&x, 2) == 0 &&
             ei_x_encode_atom(&x, "error") == 0 &&
             ei_x_encode_string(&x, o->msg) == 0;
    return finish(fd, &x, ok);
}

int inject_reply_failed(int fd, const struct inject_outcome *o)
{
    ei_x_buff x;

    if (ei_x_new_with_version(&x) < 0)
        return -1;
    int ok = ei_x_encode_tuple_header(&x, 3) == 0 &&
             ei_x_encode_atom(&x, "send_failed") == 0 &&
             ei_x_encode_ulong(&x, o->failed) == 0 &&
             ei_x_encode_string(&x, o->msg) == 0;
    return finish(fd, &x, ok);
}
