#include "control.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
           (uint32_t)p[3];
}

int ctl_decode(const uint8_t *frame, size_t len, struct ctl_msg *m,
               struct ep_error *e)
{
    if (len == 0)
        return ep_fail(e, "protocol", "empty control frame");
    m->type = (enum ctl_type)frame[0];
    m->body = frame + 1;
    m->len = len - 1;
    m->credit = 0;
    switch (frame[0]) {
    case CTL_INJECT:
        if (m->len == 0 || m->len > CTL_INJECT_MAX)
            return ep_fail(e, "protocol", "inject: bad frame size %zu", m->len);
        return 0;
    case CTL_STATS:
        if (m->len != 0)
            return ep_fail(e, "protocol", "stats: unexpected body");
        return 0;
    case CTL_FILTER:
        if (m->len > CTL_FILTER_MAX || memchr(m->body, 0, m->len) != NULL)
            return ep_fail(e, "protocol", "filter: bad body");
        return 0;
    case CTL_CREDIT:
        if (m->len != 4)
            return ep_fail(e, "protocol", "credit: body of %zu bytes", m->len);
        m->credit = get32(m->body);
        return 0;
    default:
        return ep_fail(e, "protocol", "unknown control tag %u",
                       (unsigned)frame[0]);
    }
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
