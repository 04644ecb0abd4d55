/* libFuzzer harness for the control-frame decoder (control.c): the one
 * parser fed by Erlang at run time, inside the sandbox.
 *
 * Checks, beyond ASan/UBSan:
 *   - every decoded message obeys its type's size rules (control.h);
 *   - the reader never gets stuck (a full buffer with neither a frame nor
 *     an error would hang the port);
 *   - decoding does not depend on how the bytes were split across reads.
 *
 * The first input byte picks the read size, the rest is the stream. */
#include <stdint.h>
#include <string.h>

#include "control.h"

static struct ctl_reader rd; /* 256 KiB: too big for the stack */

static void check_msg(const struct ctl_msg *m)
{
    switch (m->type) {
    case CTL_INJECT:
        if (m->len == 0 || m->len > CTL_INJECT_MAX)
            __builtin_trap();
        break;
    case CTL_STATS:
    case CTL_CLOSE:
        if (m->len != 0)
            __builtin_trap();
        break;
    case CTL_FILTER:
        if (m->len > CTL_FILTER_MAX || memchr(m->body, 0, m->len) != NULL)
            __builtin_trap();
        break;
    case CTL_CREDIT:
        if (m->len != 4 ||
            m->credit !=
                ((uint32_t)m->body[0] << 24 | (uint32_t)m->body[1] << 16 |
                 (uint32_t)m->body[2] << 8 | m->body[3]))
            __builtin_trap();
        break;
    case CTL_INJECT_MANY:
    case CTL_INJECT_QUIET: {
        /* the records fill their part of the body, each of 1+ bytes */
        size_t off = 0, len, sum = 0;
        const uint8_t *f;
        uint32_t n = 0;

        if (m->nrecords == 0 || m->records + m->records_len != m->body + m->len)
            __builtin_trap();
        while (ctl_record_next(m->records, m->records_len, &off, &f, &len)) {
            if (len == 0 || f + len > m->records + m->records_len)
                __builtin_trap();
            sum += CTL_RECORD_HDR + len;
            n++;
        }
        if (sum != m->records_len || n != m->nrecords)
            __builtin_trap();
        if (m->type == CTL_INJECT_MANY && (m->flags & ~CTL_MANY_CONTINUES))
            __builtin_trap();
        break;
    }
    default: __builtin_trap(); /* an unknown tag must be an error */
    }
}

/* FNV-1a over what the caller would see, to compare two splittings. */
static uint64_t mix(uint64_t h, const void *p, size_t n)
{
    const uint8_t *b = p;

    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 1099511628211u;
    return h;
}

/* Decode the stream fed `chunk` bytes at a time. Returns a digest of the
 * messages and of how the stream ended (error or not). */
static uint64_t run(const uint8_t *p, size_t n, size_t chunk)
{
    struct ctl_msg m;
    struct ep_error e;
    uint64_t h = 14695981039346656037u;
    int rc = 0;

    ctl_reader_init(&rd);
    while (n > 0) {
        size_t took = ctl_reader_feed(&rd, p, n < chunk ? n : chunk);

        p += took;
        n -= took;
        while ((rc = ctl_reader_next(&rd, &m, &e)) == 1) {
            check_msg(&m);
            h = mix(h, &m.type, sizeof(m.type));
            h = mix(h, m.body, m.len);
        }
        if (rc < 0)
            return mix(h, "error", 5);
        if (took == 0)
            __builtin_trap(); /* stuck: buffer full, no frame, no error */
    }
    return h;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ctl_msg m;
    struct ep_error e;

    if (size == 0)
        return 0;
    /* The one-frame decoder on its own, on the raw bytes. */
    if (ctl_decode(data, size, &m, &e) == 0)
        check_msg(&m);
    size_t chunk = (size_t)data[0] % 97 + 1;
    if (run(data + 1, size - 1, chunk) != run(data + 1, size - 1, SIZE_MAX))
        __builtin_trap();
    return 0;
}
