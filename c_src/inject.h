/* Injecting the frames of one control message (doc/protocol.md, tags 5
 * and 6): several frames per message, so that a burst of frames costs the
 * VM one message and the port one read instead of a round trip each. */
#ifndef EPCAP_INJECT_H
#define EPCAP_INJECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Sends one frame: the number of bytes sent, or -1 with the reason in
 * msg (at most msg_size bytes). pcap_inject in the port; a fake in the
 * C tests. */
typedef long (*inject_send_fn)(void *ctx, const uint8_t *frame, size_t len,
                               char *msg, size_t msg_size);

struct inject_outcome {
    uint32_t sent;   /* frames the kernel took */
    uint32_t failed; /* frames it refused (or took in part) */
    char msg[256];   /* why the first refused frame was refused */
};

/* Sends the frame records (control.h's CTL_RECORD_HDR layout, checked by
 * ctl_decode) in order. stop: end at the first refused frame, so that
 * what was sent is exactly the first o->sent frames (send_many/2);
 * otherwise try every frame and count the refused ones (send/2, whose
 * frames do not depend on one another). A frame the kernel takes only in
 * part counts as refused. */
void inject_records(inject_send_fn send, void *ctx, const uint8_t *recs,
                    size_t n, bool stop, struct inject_outcome *o);

/* The most frames one sendmmsg(2) takes (the seccomp rule's bound too). */
#define INJECT_MMSG_MAX 64

/* inject_records' contract, with sendmmsg(2) on fd, a live handle's
 * PF_PACKET socket of type SOCK_RAW bound to its interface: what
 * pcap_inject does, a system call for up to INJECT_MMSG_MAX frames
 * instead of one a frame (30 % of a frame's CPU into a veth,
 * bench/RESULTS.md section 6). No message names a destination, so the
 * socket's bound interface is used, as by send(). */
void inject_records_mmsg(int fd, const uint8_t *recs, size_t n, bool stop,
                         struct inject_outcome *o);

/* inject_send_fn over pcap_inject(3PCAP); ctx is the pcap_t. */
long inject_pcap(void *ctx, const uint8_t *frame, size_t len, char *msg,
                 size_t msg_size);

/* Replies, as control terms on fd (doc/protocol.md). 0 or -1 (write). */
/* {send_many, Sent, ok | {error, Msg} | skipped} */
int inject_reply_many(int fd, const struct inject_outcome *o, bool skipped);
/* {send_failed, Failed, Msg}: only when o->failed > 0 */
int inject_reply_failed(int fd, const struct inject_outcome *o);

#endif
