#include "inject.h"

#include <stdio.h>
#include <string.h>

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
