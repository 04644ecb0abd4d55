#include "loop.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "control.h"
#include "credit.h"
#include "gather.h"
#include "rtguard.h"
#include "inject.h"
#include "wire.h"

/* Bounds one pcap_dispatch: on a savefile a count of -1 would read the
 * whole file in one call, starving the control channel. */
#define DISPATCH_MAX 8192

struct loop {
    struct capture *cap;
    struct wire_batch batch;
    /* On the heap: its 256 KiB buffer (CTL_FRAME_MAX) becomes resident
     * only as far as messages fill it, where zeroing struct loop on the
     * stack would make all of it resident in every port. */
    struct ctl_reader *rd;
    struct credit credit;
    bool inject;
    bool many_failed; /* the last CTL_INJECT_MANY refused a frame */
    int in;
    int out;
    size_t snaplen;         /* the largest record libpcap will hand us */
    int write_errno;        /* set by the pcap callback when stdout fails */
    uint32_t failed_caplen; /* the record it failed on */
    long hold_ns; /* from the last offer: when to offer again, or -1 */
    struct wire_port_counts counts; /* batches: from the encoder, at stats */
    struct rtguard guard; /* the raised priority's bound (rtguard.h) */
    struct gather gather; /* immediate mode's naps under load */
    struct saver *saver;  /* NULL: nothing saved (saver.h) */
    bool closing;         /* CTL_CLOSE: end as at a file's end */
};

/* Why the loop is not reading the capture while it sleeps: what it then
 * waits for is what the kernel's ring fills during (stats/1 tells it). */
enum stall { STALL_NONE, STALL_CREDIT, STALL_PIPE };

static uint64_t mono_ns(void)
{
    struct timespec ts;

    if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
        return 0; /* then a wait counts as none, never as garbage */
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t mono_us(void)
{
    return mono_ns() / 1000u;
}

/* What one step of the loop came to; run() maps each to a loop_end in one
 * place. */
enum step {
    STEP_GO,       /* go on */
    STEP_FILE_END, /* the savefile ended, every packet sent */
    STEP_GONE,     /* the Erlang side closed its end: nobody to tell */
    STEP_FAILED,   /* e is filled, to be reported */
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
        l->failed_caplen = h->caplen;
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
    struct wire_port_counts c = l->counts;

    if (pcap_stats(l->cap->p, &st) < 0)
        return wire_send_result(l->out, "stats", pcap_geterr(l->cap->p));
    c.batches = l->batch.frames;
    c.pipe_wait_us += l->batch.blocked_us;
    if (l->saver != NULL)
        return wire_send_save_stats(l->out, st.ps_recv, st.ps_drop,
                                    st.ps_ifdrop, &c, l->saver->saved,
                                    l->saver->errors);
    return wire_send_stats(l->out, st.ps_recv, st.ps_drop, st.ps_ifdrop, &c);
}

/* saver.h's events, as terms after every packet sent before them. */
static int on_saved(void *ctx, const struct saver_event *ev)
{
    struct loop *l = ctx;
    struct wire_saved v = {ev->name,      ev->packets,  ev->bytes,
                           ev->first_sec, ev->last_sec, ev->first_frac,
                           ev->last_frac};

    if (wire_batch_flush(&l->batch) < 0)
        return -1;
    if (ev->kind == SAVER_REMOVED)
        return wire_send_removed(l->out, ev->name);
    return wire_send_saved(l->out, &v);
}

/* One dispatch, through the saver when there is one. With nothing for
 * the VM (no_deliver), the packets saved need no credit: it is given
 * back as it is taken. */
static int dispatch(struct loop *l, uint32_t quota)
{
    int n;

    if (l->saver == NULL)
        return capture_dispatch(l->cap, (int)quota, on_packet,
                                (u_char *)(void *)l, &l->write_errno);
    n = saver_dispatch(l->saver, l->cap, (int)quota, on_packet,
                       (u_char *)(void *)l, &l->write_errno);
    if (n > 0 && l->saver->o.no_deliver)
        credit_grant(&l->credit, (uint32_t)n);
    return n;
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

/* One handler per control message type (doc/protocol.md); the sizes each
 * may have are checked by control.c's table before a handler runs. A
 * handler returns 0, or -1 when writing its reply failed. */
typedef int (*ctl_handler)(struct loop *l, const struct ctl_msg *m);

static int on_inject(struct loop *l, const struct ctl_msg *m)
{
    return reply_inject(l, m);
}

static int on_stats(struct loop *l, const struct ctl_msg *m)
{
    (void)m;
    return reply_stats(l);
}

static int on_filter(struct loop *l, const struct ctl_msg *m)
{
    return reply_filter(l, m);
}

/* sendmmsg on a live handle's raw socket (the seccomp allow-list has it
 * only then, restrict_seccomp.c); pcap_inject a frame at a time on a
 * cooked one ("any": libpcap refuses to inject there) or a savefile. */
static void send_records(struct loop *l, const struct ctl_msg *m, bool stop,
                         struct inject_outcome *o)
{
    if (l->cap->live && l->cap->fd >= 0 && l->cap->dlt != DLT_LINUX_SLL &&
        l->cap->dlt != DLT_LINUX_SLL2)
        inject_records_mmsg(l->cap->fd, m->records, m->records_len, stop, o);
    else
        inject_records(inject_pcap, l->cap->p, m->records, m->records_len, stop,
                       o);
}

/* send_many/2: stop at the first refused frame and say how many went;
 * the call's further messages are then skipped (control.h). */
static int on_inject_many(struct loop *l, const struct ctl_msg *m)
{
    struct inject_outcome o = {0, 0, "inject option not set"};
    bool skip = (m->flags & CTL_MANY_CONTINUES) && l->many_failed;

    if (l->inject && !skip)
        send_records(l, m, true, &o);
    else if (!skip)
        o.failed = 1;
    l->many_failed = skip || o.failed > 0;
    return inject_reply_many(l->out, &o, skip);
}

/* send/2's frames: no answer unless the kernel refused some, so a batch
 * in flight is finished only then. */
static int on_inject_quiet(struct loop *l, const struct ctl_msg *m)
{
    struct inject_outcome o = {0, m->nrecords, "inject option not set"};

    if (l->inject)
        send_records(l, m, false, &o);
    if (o.failed == 0)
        return 0;
    return wire_batch_flush(&l->batch) < 0 ? -1
                                           : inject_reply_failed(l->out, &o);
}

static int on_credit(struct loop *l, const struct ctl_msg *m)
{
    credit_grant(&l->credit, m->credit);
    return 0;
}

/* stop/1 of a capture that saves: no more packets; the saved file is
 * closed and the owner told of it (finish_saving), then `eof'. */
static int on_close(struct loop *l, const struct ctl_msg *m)
{
    (void)m;
    l->closing = true;
    return 0;
}

/* Indexed by enum ctl_type. Whether a message answers: a reply is a
 * whole frame of its own, so any batch in flight is finished first. */
static const struct {
    ctl_handler handle;
    bool replies;
} handlers[CTL_TYPE_END] = {
    [CTL_INJECT] = {on_inject, true},
    [CTL_STATS] = {on_stats, true},
    [CTL_FILTER] = {on_filter, true},
    [CTL_CREDIT] = {on_credit, false},
    [CTL_INJECT_MANY] = {on_inject_many, true},
    [CTL_INJECT_QUIET] = {on_inject_quiet, false},
    [CTL_CLOSE] = {on_close, false},
};

/* ctl_decode admits only the types of control.c's table, each of which
 * has a handler here; anything else is the protocol broken. */
static bool handled(const struct ctl_msg *m)
{
    return (unsigned)m->type < CTL_TYPE_END && handlers[m->type].handle != NULL;
}

static int handle(struct loop *l, const struct ctl_msg *m)
{
    if (handlers[m->type].replies && wire_batch_flush(&l->batch) < 0)
        return -1;
    /* credit comes with every delivery: only at -vv */
    if (l->cap->verbose > (m->type == CTL_CREDIT ? 1 : 0))
        fprintf(stderr, "epcap: control request: %s (%zu bytes)\n",
                ctl_rule_of(m->type)->name, m->len);
    return handlers[m->type].handle(l, m);
}

/* A write error: EPIPE means the Erlang side is gone, which is no error
 * to report (nobody is left to read it). */
static enum step write_failed(struct ep_error *e)
{
    if (errno == EPIPE)
        return STEP_GONE;
    (void)ep_fail_errno(e, "write", "write");
    return STEP_FAILED;
}

static enum step failed(int rc)
{
    (void)rc; /* ep_fail's -1: e is filled */
    return STEP_FAILED;
}

/* The control channel: every whole message that has arrived. Its end is
 * the Erlang side's end. */
static enum step read_control(struct loop *l, struct ep_error *e)
{
    struct ctl_msg m;
    long n = ctl_reader_fill(l->rd, l->in);
    int rc;

    if (n == 0)
        return STEP_GONE;
    if (n < 0 && errno != EAGAIN)
        return failed(ep_fail_errno(e, "control", "read"));
    while ((rc = ctl_reader_next(l->rd, &m, e)) > 0) {
        if (!handled(&m))
            return failed(ep_fail(e, "protocol", "no handler for tag %u",
                                  (unsigned)m.type));
        if (handle(l, &m) < 0)
            return write_failed(e);
        if (l->closing)
            return wire_batch_flush(&l->batch) < 0 ? write_failed(e)
                                                   : STEP_FILE_END;
    }
    return rc < 0 ? STEP_FAILED : STEP_GO;
}

/* The pcap callback stopped on a failed write. A record too large for any
 * frame leaves everything before it sent (wire.h), and is said so. */
static enum step record_failed(const struct loop *l, struct ep_error *e)
{
    if (l->write_errno == EMSGSIZE)
        return failed(ep_fail(e, "record_too_large",
                              "a record of %u bytes: a frame carries at "
                              "most %zu",
                              (unsigned)l->failed_caplen, WIRE_FRAME_CAP));
    errno = l->write_errno;
    return write_failed(e);
}

/* Reads what libpcap has ready now, one pcap_dispatch after another until
 * it has no more (or credit or DISPATCH_MAX runs out), into the batch the
 * loop offers next (wire.h says when it goes). Nothing waits for packets
 * that have not arrived: under load this makes fewer, larger batches, idle
 * each packet goes at once.
 * Every whole packet read, even those before a truncated record or a
 * failure, reaches the owner ahead of the error or eof. */
static enum step read_packets(struct loop *l, struct ep_error *e)
{
    uint32_t total = 0, quota;
    int n = 0;

    while ((quota = credit_quota(&l->credit, DISPATCH_MAX - total)) > 0 &&
           wire_batch_has_room(&l->batch, l->snaplen)) {
        n = dispatch(l, quota);
        if (n > 0) {
            credit_take(&l->credit, (uint32_t)n);
            total += (uint32_t)n;
        }
        if (n <= 0 || l->write_errno != 0 ||
            (l->saver != NULL && saver_failed(l->saver)))
            break;
    }
    if (total > 0)
        l->counts.reads++;
    if (l->gather.slots > 0) /* no clock read where it can never nap */
        gather_after_read(&l->gather, total, mono_ns());
    if (l->saver != NULL && saver_failed(l->saver))
        return failed(ep_fail(e, "save", "%s", saver_error(l->saver)));
    if (l->write_errno != 0)
        return record_failed(l, e);
    if (n < 0 || (n == 0 && quota > 0 && !l->cap->live)) {
        if (wire_batch_flush(&l->batch) < 0)
            return write_failed(e);
        if (n < 0)
            return failed(ep_fail(e, l->cap->live ? "capture" : "file", "%s",
                                  capture_geterr(l->cap)));
        return STEP_FILE_END;
    }
    return STEP_GO;
}

static enum step wait_events(struct loop *l, bool *ctl_ready, bool *pcap_ready,
                             bool *out_ready, struct ep_error *e)
{
    bool pending = wire_batch_pending(&l->batch);
    bool want = credit_quota(&l->credit, 1) > 0 &&
                wire_batch_has_room(&l->batch, l->snaplen);
    struct pollfd fds[3] = {{.fd = l->in, .events = POLLIN},
                            {.fd = l->out, .events = pending ? POLLOUT : 0},
                            {.fd = l->cap->fd, .events = POLLIN}};
    /* A nap (gather.h; never for a savefile, whose ring is 0 slots)
     * leaves the capture's descriptor out: the ring is read when it ends,
     * or earlier if the control channel wakes us. */
    long nap = want ? gather_nap_ns(&l->gather) : 0;
    nfds_t nfds = want && l->cap->live && nap == 0 ? 3 : 2;
    int timeout_ms =
        saver_wait_ms(l->saver, !want          ? -1
                                : l->cap->live ? capture_poll_ms(l->cap)
                                               : 0);
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

    if (nap > 0 && (hold < 0 || nap < hold))
        hold = nap;

    if (hold >= 0 && (tsp == NULL || ts.tv_sec > 0 || ts.tv_nsec > hold)) {
        ts.tv_sec = 0;
        ts.tv_nsec = hold;
        tsp = &ts;
    }
    enum stall stall = want                               ? STALL_NONE
                       : credit_quota(&l->credit, 1) == 0 ? STALL_CREDIT
                                                          : STALL_PIPE;
    uint64_t slept = stall == STALL_NONE ? 0 : mono_us();

    do {
        n = ppoll(fds, nfds, tsp, NULL);
    } while (n < 0 && errno == EINTR);
    if (n < 0)
        return failed(ep_fail_errno(e, "poll", "ppoll"));
    l->counts.wakeups++;
    if (stall != STALL_NONE) {
        uint64_t now = mono_us();
        uint64_t us = now > slept && slept != 0 ? now - slept : 0;

        if (stall == STALL_CREDIT)
            l->counts.credit_wait_us += us;
        else
            l->counts.pipe_wait_us += us;
    }
    *ctl_ready = fds[0].revents != 0;
    /* The VM's end closed: there is nobody left to send anything to. */
    if (fds[1].revents & (POLLERR | POLLHUP))
        return STEP_GONE;
    *out_ready = (fds[1].revents & POLLOUT) != 0;
    /* A savefile is always readable; a live handle on a required-timeout
     * platform must be read when poll times out, too. */
    *pcap_ready =
        want && (!l->cap->live || n == 0 || nap > 0 || fds[2].revents != 0);
    return STEP_GO;
}

/* One iteration: wait, then serve what is ready. */
static enum step step(struct loop *l, struct ep_error *e)
{
    bool ctl_ready = false, pcap_ready = false, out_ready = false;
    enum step st;

    rtguard_tick(&l->guard);
    st = wait_events(l, &ctl_ready, &pcap_ready, &out_ready, e);

    if (st != STEP_GO)
        return st;
    if (out_ready && wire_batch_on_writable(&l->batch) < 0)
        return write_failed(e);
    if (ctl_ready && (st = read_control(l, e)) != STEP_GO)
        return st;
    if (pcap_ready && (st = read_packets(l, e)) != STEP_GO)
        return st;
    if (l->saver != NULL && saver_tick(l->saver) < 0)
        return failed(ep_fail(e, "save", "%s", saver_error(l->saver)));
    /* Once an iteration: what was read, what the pipe took, or the end of
     * a hold-back (wire.h) may each let a batch go. With the owner's
     * credit spent nothing more can join what has gathered until the owner
     * has taken it: holding it back would only wake the port every
     * WIRE_HOLD_NS to look again while the VM is behind (32 file captures
     * in one VM made 2.4 M context switches that way). */
    if (credit_quota(&l->credit, 1) == 0) {
        l->hold_ns = -1;
        if (wire_batch_release(&l->batch) < 0)
            return write_failed(e);
    } else if (wire_batch_offer(&l->batch, &l->hold_ns) < 0) {
        return write_failed(e);
    }
    return STEP_GO;
}

/* The file being saved is closed whatever the end; a failure to close it
 * is the capture's error unless it has one already. */
static enum step finish_saving(struct loop *l, enum step st, struct ep_error *e)
{
    if (l->saver == NULL || saver_finish(l->saver) == 0 || st == STEP_FAILED)
        return st;
    if (st == STEP_GONE)
        return st;
    return failed(ep_fail(e, "save", "%s", saver_error(l->saver)));
}

static enum loop_end run(struct loop *l, struct ep_error *e)
{
    enum step st = step(l, e);

    while (st == STEP_GO)
        st = step(l, e);
    st = finish_saving(l, st, e);
    switch (st) {
    case STEP_FILE_END:
        return wire_send_atom(l->out, "eof") < 0 ? LOOP_STDIN_EOF
                                                 : LOOP_FILE_EOF;
    case STEP_FAILED: return LOOP_ERROR;
    case STEP_GO:
    case STEP_GONE: break;
    }
    return LOOP_STDIN_EOF;
}

static int set_nonblocking(int fd)
{
    int fl = fcntl(fd, F_GETFL);

    return fl < 0 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

enum loop_end loop_run(struct capture *c, bool inject, struct saver *sv, int in,
                       int out, struct ep_error *e)
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
    l.saver = sv;
    gather_init(&l.gather, c->nap_slots);
    l.rd = malloc(sizeof(*l.rd));
    if (l.rd == NULL) {
        (void)ep_fail_errno(e, "enomem", "malloc");
        return LOOP_ERROR;
    }
    ctl_reader_init(l.rd);
    credit_init(&l.credit);
    if (sv != NULL) {
        saver_listen(sv, on_saved, &l);
        if (sv->o.no_deliver)
            credit_grant(&l.credit, UINT32_MAX);
    }
    /* Batches are sent as the pipe takes them (wire.h); control terms and
     * the last flush wait for it. */
    if (set_nonblocking(out) < 0) {
        (void)ep_fail_errno(e, "fcntl", "O_NONBLOCK");
        free(l.rd);
        return LOOP_ERROR;
    }
    /* Sized for the largest record libpcap may hand over, whatever a
     * savefile's header claims its snaplen is. */
    if (wire_batch_init(&l.batch, out, EPCAP_SNAPLEN_MAX) < 0) {
        (void)ep_fail_errno(e, "enomem", "malloc");
        free(l.rd);
        return LOOP_ERROR;
    }
    end = run(&l, e);
    if (sv != NULL)
        saver_listen(sv, NULL, NULL);
    wire_batch_free(&l.batch);
    free(l.rd);
    return end;
}
