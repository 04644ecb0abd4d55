/* Erlang -> C control frames (doc/protocol.md): a 4-byte big-endian length,
 * a tag byte, then the body. Decoding is pure so it can be fuzzed. */
#ifndef EPCAP_CONTROL_H
#define EPCAP_CONTROL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "errors.h"

enum ctl_type {
    CTL_INJECT = 1, /* body: the frame to send, 1..65535 bytes */
    CTL_STATS = 2,  /* body: empty */
    CTL_FILTER = 3, /* body: the BPF expression, no NUL, 0..CTL_FILTER_MAX */
    CTL_CREDIT = 4, /* body: 4-byte big-endian packet count to add */
    CTL_INJECT_MANY = 5,  /* body: flags byte, then frame records */
    CTL_INJECT_QUIET = 6, /* body: frame records; answers only failures */
    CTL_CLOSE = 7, /* body: empty; end now: close a saved file, say eof */
    CTL_TYPE_END   /* one past the last type */
};

/* CTL_INJECT_MANY's flags: this message continues the previous one's
 * call (send_many/2 split in several messages), so it is skipped when the
 * previous one failed: frames after a refused one are never sent. */
#define CTL_MANY_CONTINUES 0x01

#define CTL_INJECT_MAX 65535
/* libpcap's compile time grows steeply with the expression's size (a
 * 45 KB filter took minutes, during which the loop serves nothing). */
#define CTL_FILTER_MAX 8192
/* tag + largest body: a CTL_INJECT_MANY of some 4000 small frames, so
 * that the round trip between two of send_many/2's messages, while the
 * port has nothing to send, is a small part of the time it sends. */
#define CTL_FRAME_MAX 262144
/* A frame record in CTL_INJECT_MANY and CTL_INJECT_QUIET: Len:16, then Len
 * (1..65535) bytes; the records fill the body exactly. */
#define CTL_RECORD_HDR 2

struct ctl_msg {
    enum ctl_type type;
    const uint8_t *body; /* points into the frame */
    size_t len;
    uint32_t credit;        /* CTL_CREDIT only */
    uint8_t flags;          /* CTL_INJECT_MANY only */
    const uint8_t *records; /* the frame records, CTL_INJECT_MANY/QUIET */
    size_t records_len;
    uint32_t nrecords;
};

/* What a message of one type may be: its body's size bounds, and whether
 * the body is text (no NUL). One table in control.c, as OpenSSH's monitor
 * keeps one; NULL for a tag that is not a type. */
struct ctl_rule {
    const char *name;
    size_t min, max;
    bool text;
    size_t records_at; /* 0, or 1 + offset of frame records in the body */
};

const struct ctl_rule *ctl_rule_of(unsigned tag);

/* Decode one frame body (tag + payload, without the length prefix) by the
 * table. Returns 0, or -1 with e = {protocol, ...} for an unknown tag or a
 * body outside its type's bounds. */
int ctl_decode(const uint8_t *frame, size_t len, struct ctl_msg *m,
               struct ep_error *e);

/* Walk frame records (CTL_RECORD_HDR): sets *frame, *len to the record at
 * *off and advances *off; returns 0 at the end. The records must have
 * passed ctl_decode (which checks that they fill the body exactly). */
int ctl_record_next(const uint8_t *recs, size_t n, size_t *off,
                    const uint8_t **frame, size_t *len);

/* Incremental reader for a non-blocking stdin. */
struct ctl_reader {
    uint8_t buf[4 + CTL_FRAME_MAX];
    size_t have;
    size_t consumed; /* bytes of the frame handed out by the last next() */
};

void ctl_reader_init(struct ctl_reader *r);

/* read(2) what is available into the buffer. Returns bytes read, 0 at EOF,
 * -1 with errno (EAGAIN when nothing is there). */
long ctl_reader_fill(struct ctl_reader *r, int fd);

/* Feed bytes directly (tests and fuzzing). Returns bytes taken. */
size_t ctl_reader_feed(struct ctl_reader *r, const uint8_t *p, size_t n);

/* Next complete frame: 1 and m filled, 0 if more bytes are needed, -1 with
 * e filled for a malformed frame (fatal: the stream cannot be resynced).
 * m->body stays valid until the next call. */
int ctl_reader_next(struct ctl_reader *r, struct ctl_msg *m,
                    struct ep_error *e);

#endif
