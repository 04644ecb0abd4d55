#include "loop.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <time.h>

#include "control.h"
#include "credit.h"
#include "wire.h"

/* Bounds one pcap_dispatch: on a savefile a count of -1 would read the
 * whole file in one call, starving the control channel. */
#define DISPATCH_MAX 8192

struct loop {
    struct capture *cap;
    struct wire_batch batch;
    struct ctl_reader rd;
    struct credit credit;
    bool inject;
    int in;
    int out;
    size_t snaplen;  /* the largest record libpcap will hand us */
    int write_errno; /* set by the pcap callback when stdout fails */
    long hold_ns;    /* from the last offer: when to offer again, or -1 */
};

static void on_packet(u_char *user, const struct pcap_pkthdr *h,
                      const u_char *bytes)
{
    struct loop *l = (struct loop *)(void *)user;

    if (l->write_errno != 0)
        return;
    if (wire_batch_add(&l->batch, (uint64_t)h->ts.tv_sec,
                       (uint32_t)h->ts.tv_usec, h->caplen, h->len, bytes) < 0) {
        l->write_errno = errno;
        pcap_breakloop(l->cap->p);
    }
}

static int reply_inject(struct loop *l, const struct ctl_msg *m)
{
    int n;

    if (!l->inject)
        return wire_send_result(l->out, "send", "inject option not set");
    n = pcap_inject(l->cap->p, m->body, m->len);
    if (n < 0)
        return wire_send_result(l->out, "send", pcap_geterr(l->cap->p));
    if ((size_t)n != m->len)
        return wire_send_result(l->out, "send", "short write");
    return wire_send_result(l->out, "send", NULL);
}

static int reply_stats(struct loop *l)
{
    struct pcap_stat st;

    if (pcap_stats(l->cap->p, &st) < 0)
        return wire_send_result(l->out, "stats", pcap_geterr(l->cap->p));
    return wire_send_stats(l->out, st.ps_recv, st.ps_drop, st.ps_ifdrop);
}

static int reply_filter(struct loop *l, const struct ctl_msg *m)
{
    char expr[CTL_FILTER_MAX + 1];
    struct ep_error fe;

    memcpy(expr, m->body, m->len);
    expr[m->len] = '\0';
    if (capture_setfilter(l->cap, expr, &fe) < 0)
        return wire_send_result(l->out, "filter", fe.msg);
    return wire_send_result(l->out, "filter", NULL);
}

/* One handler per control message type (doc/protocol.md). A reply is a
 * whole frame of its own: first finish any batch in flight. */
static int handle(struct loop *l, const struct ctl_msg *m)
{
    if (m->type != CTL_CREDIT && wire_batch_flush(&l->batch) < 0)
        return -1;
    switch (m->type) {
    case CTL_INJECT: return reply_inject(l, m);
    case CTL_STATS: return reply_stats(l);
    case CTL_FILTER: return reply_filter(l, m);
    case CTL_CREDIT: credit_grant(&l->credit, m->credit); return 0;
    }
    return -1;
}

/* A write error: EPIPE means the Erlang side is gone, which is no error
 * to report (nobody is left to read it). Returns -2 for that, else -1. */
static int write_failed(struct ep_error *e)
{
    if (errno == EPIPE)
        return -2;
    return ep_fail_errno(e, "write", "write");
}

/* Returns 1 to go on, 0 at EOF, -1 with e filled, -2 when gone. */
static int read_control(struct loop *l, struct ep_error *e)
{
    struct ctl_msg m;
    long n = ctl_reader_fill(&l->rd, l->in);
    int rc;

    if (n == 0)
        return 0;
    if (n < 0 && errno != EAGAIN)
        return ep_fail_errno(e, "control", "read");
    while ((rc = ctl_reader_next(&l->rd, &m, e)) > 0)
        if (handle(l, &m) < 0)
            return write_failed(e);
    return rc < 0 ? -1 : 1;
}

/* Reads what libpcap has ready now, one pcap_dispatch after another until
 * it has no more (or credit or DISPATCH_MAX runs out), into the batch the
 * loop offers next (wire.h says when it goes). Nothing waits for packets
 * that have not arrived: under load this makes fewer, larger batches, idle
 * each packet goes at once.
 * Returns 1 to go on, 0 at the end of a savefile, -1 with e filled, -2
 * when the Erlang side is gone. */
static int read_packets(struct loop *l, struct ep_error *e)
{
    uint32_t total = 0, quota;
    int n = 0;

    while ((quota = credit_quota(&l->credit, DISPATCH_MAX - total)) > 0 &&
           wire_batch_has_room(&l->batch, l->snaplen)) {
        n = pcap_dispatch(l->cap->p, (int)quota, on_packet,
                          (u_char *)(void *)l);
        if (n > 0) {
            credit_take(&l->credit, (uint32_t)n);
            total += (uint32_t)n;
        }
        if (n <= 0 || l->write_errno != 0)
            break;
    }
    if (l->write_errno != 0) {
        errno = l->write_errno;
        return write_failed(e);
    }
    if (n < 0 || (n == 0 && quota > 0 && !l->cap->live)) {
        /* The end: every whole packet, even those read before a truncated
         * record, reaches the owner ahead of the error or eof. */
        if (wire_batch_flush(&l->batch) < 0)
            return write_failed(e);
        if (n < 0)
            return ep_fail(e, l->cap->live ? "capture" : "file", "%s",
                           pcap_geterr(l->cap->p));
        return 0;
    }
    return 1;
}

static int wait_events(struct loop *l, bool *ctl_ready, bool *pcap_ready,
                       bool *out_ready, struct ep_error *e)
{
    bool pending = wire_batch_pending(&l->batch);
    bool want = credit_quota(&l->credit, 1) > 0 &&
                wire_batch_has_room(&l->batch, l->snaplen);
    struct pollfd fds[3] = {{.fd = l->in, .events = POLLIN},
                            {.fd = l->out, .events = pending ? POLLOUT : 0},
                            {.fd = l->cap->fd, .events = POLLIN}};
    nfds_t nfds = want && l->cap->live ? 3 : 2;
    int timeout_ms = !want ? -1 : l->cap->live ? l->cap->poll_ms : 0;
    struct timespec ts = {0, 0};
    const struct timespec *tsp = NULL; /* forever */
    int n;

    if (timeout_ms >= 0) {
        ts.tv_sec = timeout_ms / 1000;
        ts.tv_nsec = (long)(timeout_ms % 1000) * 1000000L;
        tsp = &ts;
    }
    /* Records held back (wire.h) must be offered again when their time
     * is up, even with no credit and no packet arriving. */
    long hold = timeout_ms != 0 ? l->hold_ns : -1;

    if (hold >= 0 && (tsp == NULL || ts.tv_sec > 0 || ts.tv_nsec > hold)) {
        ts.tv_sec = 0;
        ts.tv_nsec = hold;
        tsp = &ts;
    }
    do {
        n = ppoll(fds, nfds, tsp, NULL);
    } while (n < 0 && errno == EINTR);
    if (n < 0)
        return ep_fail_errno(e, "poll", "ppoll");
    *ctl_ready = fds[0].revents != 0;
    /* The VM's end closed: there is nobody left to send anything to. */
    if (fds[1].revents & (POLLERR | POLLHUP)) {
        errno = EPIPE;
        return -2;
    }
    *out_ready = (fds[1].revents & POLLOUT) != 0;
    /* A savefile is always readable; a live handle on a required-timeout
     * platform must be read when poll times out, too. */
    *pcap_ready = want && (!l->cap->live || n == 0 || fds[2].revents != 0);
    return 0;
}

static enum loop_end run(struct loop *l, struct ep_error *e)
{
    for (;;) {
        bool ctl_ready = false, pcap_ready = false, out_ready = false;
        int rc;

        rc = wait_events(l, &ctl_ready, &pcap_ready, &out_ready, e);
        if (rc < 0)
            return rc == -1 ? LOOP_ERROR : LOOP_STDIN_EOF;
        if (out_ready && wire_batch_on_writable(&l->batch) < 0) {
            rc = write_failed(e);
            return rc == -1 ? LOOP_ERROR : LOOP_STDIN_EOF;
        }
        if (ctl_ready) {
            rc = read_control(l, e);
            if (rc <= 0)
                return rc == -1 ? LOOP_ERROR : LOOP_STDIN_EOF;
        }
        if (pcap_ready) {
            rc = read_packets(l, e);
            if (rc < 0)
                return rc == -1 ? LOOP_ERROR : LOOP_STDIN_EOF;
            if (rc == 0)
                return wire_send_atom(l->out, "eof") < 0 ? LOOP_STDIN_EOF
                                                         : LOOP_FILE_EOF;
        }
        /* Once an iteration: what was read, what the pipe took, or the
         * end of a hold-back (wire.h) may each let a batch go. */
        if (wire_batch_offer(&l->batch, &l->hold_ns) < 0) {
            rc = write_failed(e);
            return rc == -1 ? LOOP_ERROR : LOOP_STDIN_EOF;
        }
    }
}

static int set_nonblocking(int fd)
{
    int fl = fcntl(fd, F_GETFL);

    return fl < 0 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

enum loop_end loop_run(struct capture *c, bool inject, int in, int out,
                       struct ep_error *e)
{
    struct loop l;
    enum loop_end end;

    memset(&l, 0, sizeof(l));
    l.cap = c;
    l.inject = inject;
    l.in = in;
    l.out = out;
    l.snaplen = (size_t)pcap_snapshot(c->p);
    l.hold_ns = -1;
    ctl_reader_init(&l.rd);
    credit_init(&l.credit);
    /* Batches are sent as the pipe takes them (wire.h); control terms and
     * the last flush wait for it. */
    if (set_nonblocking(out) < 0) {
        (void)ep_fail_errno(e, "fcntl", "O_NONBLOCK");
        return LOOP_ERROR;
    }
    /* Sized for the largest record libpcap may hand over, whatever a
     * savefile's header claims its snaplen is. */
    if (wire_batch_init(&l.batch, out, EPCAP_SNAPLEN_MAX) < 0) {
        (void)ep_fail_errno(e, "enomem", "malloc");
        return LOOP_ERROR;
    }
    end = run(&l, e);
    wire_batch_free(&l.batch);
    return end;
}
