#include "control.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
           (uint32_t)p[3];
}

static const struct ctl_rule rules[CTL_TYPE_END] = {
    [CTL_INJECT] = {"inject", 1, CTL_INJECT_MAX, false, 0},
    [CTL_STATS] = {"stats", 0, 0, false, 0},
    [CTL_FILTER] = {"filter", 0, CTL_FILTER_MAX, true, 0},
    [CTL_CREDIT] = {"credit", 4, 4, false, 0},
    /* flags, then at least one record of at least one byte */
    [CTL_INJECT_MANY] = {"inject_many", 1 + CTL_RECORD_HDR + 1,
                         CTL_FRAME_MAX - 1, false, 1 + 1},
    [CTL_INJECT_QUIET] = {"inject_quiet", CTL_RECORD_HDR + 1, CTL_FRAME_MAX - 1,
                          false, 1 + 0},
    [CTL_CLOSE] = {"close", 0, 0, false, 0},
};

static uint16_t get16(const uint8_t *p)
{
    return (uint16_t)((unsigned)p[0] << 8 | p[1]);
}

/* Frame records must fill their part of the body exactly, each of 1 or
 * more bytes: anything else is the protocol broken, found before a
 * single frame of the message is sent. */
static int check_records(struct ctl_msg *m, size_t at, struct ep_error *e)
{
    size_t off = at, n = 0;

    if (at > 0 && (m->body[0] & ~CTL_MANY_CONTINUES) != 0)
        return ep_fail(e, "protocol", "unknown flags 0x%02x",
                       (unsigned)m->body[0]);
    while (off < m->len) {
        size_t flen;

        if (m->len - off < CTL_RECORD_HDR)
            return ep_fail(e, "protocol", "truncated record header");
        flen = get16(m->body + off);
        off += CTL_RECORD_HDR;
        if (flen == 0 || flen > m->len - off)
            return ep_fail(e, "protocol", "record of %zu bytes, %zu left", flen,
                           m->len - off);
        off += flen;
        n++;
    }
    m->records = m->body + at;
    m->records_len = m->len - at;
    m->nrecords = (uint32_t)n;
    m->flags = at > 0 ? m->body[0] : 0;
    return 0;
}

int ctl_record_next(const uint8_t *recs, size_t n, size_t *off,
                    const uint8_t **frame, size_t *len)
{
    if (*off + CTL_RECORD_HDR > n)
        return 0;
    *len = get16(recs + *off);
    *frame = recs + *off + CTL_RECORD_HDR;
    *off += CTL_RECORD_HDR + *len;
    return 1;
}

const struct ctl_rule *ctl_rule_of(unsigned tag)
{
    if (tag >= CTL_TYPE_END || rules[tag].name == NULL)
        return NULL;
    return &rules[tag];
}

int ctl_decode(const uint8_t *frame, size_t len, struct ctl_msg *m,
               struct ep_error *e)
{
    const struct ctl_rule *r;

    if (len == 0)
        return ep_fail(e, "protocol", "empty control frame");
    r = ctl_rule_of(frame[0]);
    if (r == NULL)
        return ep_fail(e, "protocol", "unknown control tag %u",
                       (unsigned)frame[0]);
    m->type = (enum ctl_type)frame[0];
    m->body = frame + 1;
    m->len = len - 1;
    m->credit = 0;
    m->flags = 0;
    m->records = NULL;
    m->records_len = 0;
    m->nrecords = 0;
    if (m->len < r->min || m->len > r->max)
        return ep_fail(e, "protocol", "%s: body of %zu bytes (%zu..%zu)",
                       r->name, m->len, r->min, r->max);
    if (r->text && memchr(m->body, 0, m->len) != NULL)
        return ep_fail(e, "protocol", "%s: NUL in the body", r->name);
    if (m->type == CTL_CREDIT)
        m->credit = get32(m->body);
    if (r->records_at > 0)
        return check_records(m, r->records_at - 1, e);
    return 0;
}

void ctl_reader_init(struct ctl_reader *r)
{
    r->have = 0;
    r->consumed = 0;
}

/* Drop the frame handed out last time; done lazily so that its body stays
 * valid while the caller uses it. */
static void ctl_reader_compact(struct ctl_reader *r)
{
    if (r->consumed == 0)
        return;
    memmove(r->buf, r->buf + r->consumed, r->have - r->consumed);
    r->have -= r->consumed;
    r->consumed = 0;
}

long ctl_reader_fill(struct ctl_reader *r, int fd)
{
    ssize_t n;

    ctl_reader_compact(r);
    if (r->have == sizeof(r->buf)) {
        errno = EAGAIN;
        return -1;
    }
    do {
        n = read(fd, r->buf + r->have, sizeof(r->buf) - r->have);
    } while (n < 0 && errno == EINTR);
    if (n > 0)
        r->have += (size_t)n;
    return (long)n;
}

size_t ctl_reader_feed(struct ctl_reader *r, const uint8_t *p, size_t n)
{
    size_t room;

    ctl_reader_compact(r);
    room = sizeof(r->buf) - r->have;
    if (n > room)
        n = room;
    memcpy(r->buf + r->have, p, n);
    r->have += n;
    return n;
}

int ctl_reader_next(struct ctl_reader *r, struct ctl_msg *m, struct ep_error *e)
{
    uint32_t flen;

    ctl_reader_compact(r);
    if (r->have < 4)
        return 0;
    flen = get32(r->buf);
    if (flen == 0 || flen > CTL_FRAME_MAX)
        return ep_fail(e, "protocol", "control frame of %u bytes",
                       (unsigned)flen);
    if (r->have < 4 + (size_t)flen)
        return 0;
    if (ctl_decode(r->buf + 4, flen, m, e) < 0)
        return -1;
    r->consumed = 4 + (size_t)flen;
    return 1;
}
