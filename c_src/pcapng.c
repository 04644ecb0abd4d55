/* Block layouts from the pcapng specification (draft-ietf-opsawg-pcapng):
 * every block is type:32, total length:32, body, total length:32, and
 * every option code:16, length:16, value padded to 32 bits, the list
 * ended by opt_endofopt. Classic pcap: a 24-byte header, then a 16-byte
 * header per record. */
#include "pcapng.h"

#include <string.h>

#define BT_SHB 0x0A0D0D0Au
#define BT_IDB 0x00000001u
#define BT_ISB 0x00000005u
#define BT_EPB 0x00000006u
#define BOM    0x1A2B3C4Du

#define OPT_END          0
#define SHB_OS           3
#define SHB_USERAPPL     4
#define IF_NAME          2
#define IF_TSRESOL       9
#define IF_FILTER        11
#define ISB_STARTTIME    2
#define ISB_ENDTIME      3
#define ISB_IFRECV       4
#define ISB_IFDROP       5
#define FILTER_LIBPCAP   0 /* if_filter's first byte: a libpcap string */
#define PCAP_MAGIC_US    0xA1B2C3D4u
#define PCAP_MAGIC_NS    0xA1B23C4Du
#define PCAP_HEADER_SIZE 24
#define PCAP_RECORD_HEAD 16
#define EPB_HEAD         28

static size_t pad4(size_t n)
{
    return (n + 3) & ~(size_t)3;
}

static size_t put16(uint8_t *b, uint16_t v)
{
    memcpy(b, &v, 2);
    return 2;
}

static size_t put32(uint8_t *b, uint32_t v)
{
    memcpy(b, &v, 4);
    return 4;
}

/* A 64-bit time as pcapng stores it: the high word first. */
static size_t put_time(uint8_t *b, uint64_t t)
{
    put32(b, (uint32_t)(t >> 32));
    return 4 + put32(b + 4, (uint32_t)t);
}

static size_t put64(uint8_t *b, uint64_t v)
{
    memcpy(b, &v, 8);
    return 8;
}

/* One option: its value, zero-padded. */
static size_t opt(uint8_t *b, uint16_t code, const void *v, size_t len)
{
    size_t n = put16(b, code);

    n += put16(b + n, (uint16_t)len);
    memcpy(b + n, v, len);
    memset(b + n + len, 0, pad4(len) - len);
    return n + pad4(len);
}

static size_t opt_text(uint8_t *b, uint16_t code, const char *s)
{
    size_t len = s == NULL ? 0 : strnlen(s, SAVE_TEXT_MAX);

    return len == 0 ? 0 : opt(b, code, s, len);
}

/* if_filter: a type byte, then the expression. */
static size_t opt_filter(uint8_t *b, const char *s)
{
    size_t len = s == NULL ? 0 : strnlen(s, SAVE_TEXT_MAX);
    size_t n;

    if (len == 0)
        return 0;
    n = put16(b, IF_FILTER);
    n += put16(b + n, (uint16_t)(len + 1));
    b[n] = FILTER_LIBPCAP;
    memcpy(b + n + 1, s, len);
    memset(b + n + 1 + len, 0, pad4(len + 1) - (len + 1));
    return n + pad4(len + 1);
}

static size_t opt_end(uint8_t *b)
{
    return put32(b, OPT_END);
}

/* Writes the block's two lengths once its body is known: b starts it,
 * end points past its options. */
static size_t close_block(uint8_t *b, uint32_t type, size_t end)
{
    size_t total = end + 4;

    put32(b, type);
    put32(b + 4, (uint32_t)total);
    put32(b + end, (uint32_t)total);
    return total;
}

static size_t shb(const struct save_iface *i, uint8_t *b)
{
    size_t n = 8;

    n += put32(b + n, BOM);
    n += put16(b + n, 1);          /* major */
    n += put16(b + n, 0);          /* minor */
    n += put64(b + n, UINT64_MAX); /* section length: not given */
    n += opt_text(b + n, SHB_OS, i->os);
    n += opt_text(b + n, SHB_USERAPPL, i->appl);
    n += opt_end(b + n);
    return close_block(b, BT_SHB, n);
}

static size_t idb(const struct save_iface *i, uint8_t *b)
{
    uint8_t resol = i->nano ? 9 : 6;
    size_t n = 8;

    n += put16(b + n, (uint16_t)i->linktype);
    n += put16(b + n, 0);
    n += put32(b + n, i->snaplen);
    n += opt_text(b + n, IF_NAME, i->name);
    n += opt(b + n, IF_TSRESOL, &resol, 1);
    n += opt_filter(b + n, i->filter);
    n += opt_end(b + n);
    return close_block(b, BT_IDB, n);
}

static size_t pcap_header(const struct save_iface *i, uint8_t *b)
{
    size_t n = put32(b, i->nano ? PCAP_MAGIC_NS : PCAP_MAGIC_US);

    n += put16(b + n, 2);
    n += put16(b + n, 4);
    n += put32(b + n, 0); /* thiszone */
    n += put32(b + n, 0); /* sigfigs */
    n += put32(b + n, i->snaplen);
    n += put32(b + n, (uint32_t)i->linktype);
    return n;
}

size_t save_head(enum save_format f, const struct save_iface *i, uint8_t *b)
{
    size_t n;

    if (f == SAVE_PCAP)
        return pcap_header(i, b);
    n = shb(i, b);
    return n + idb(i, b + n);
}

size_t save_record_size(enum save_format f, uint32_t caplen)
{
    if (f == SAVE_PCAP)
        return PCAP_RECORD_HEAD + (size_t)caplen;
    return EPB_HEAD + pad4(caplen) + 4;
}

uint64_t save_units(uint64_t sec, uint32_t frac, bool nano)
{
    return sec * (nano ? 1000000000u : 1000000u) + frac;
}

size_t save_record(enum save_format f, uint8_t *b, uint64_t sec, uint32_t frac,
                   bool nano, uint32_t caplen, uint32_t len,
                   const uint8_t *data)
{
    size_t n;

    if (f == SAVE_PCAP) {
        n = put32(b, (uint32_t)sec);
        n += put32(b + n, frac);
        n += put32(b + n, caplen);
        n += put32(b + n, len);
        memcpy(b + n, data, caplen);
        return n + caplen;
    }
    n = 8;
    n += put32(b + n, 0); /* interface 0: the only one */
    n += put_time(b + n, save_units(sec, frac, nano));
    n += put32(b + n, caplen);
    n += put32(b + n, len);
    memcpy(b + n, data, caplen);
    memset(b + n + caplen, 0, pad4(caplen) - caplen);
    return close_block(b, BT_EPB, n + pad4(caplen));
}

size_t save_tail(enum save_format f, const struct save_close *c, uint8_t *b)
{
    uint8_t start[8], end[8];
    size_t n = 8;

    if (f == SAVE_PCAP)
        return 0;
    (void)put_time(start, c->start);
    (void)put_time(end, c->end);
    n += put32(b + n, 0);
    n += put_time(b + n, c->now);
    n += opt(b + n, ISB_STARTTIME, start, sizeof(start));
    n += opt(b + n, ISB_ENDTIME, end, sizeof(end));
    if (c->have_counts) {
        n += opt(b + n, ISB_IFRECV, &c->recv, 8);
        n += opt(b + n, ISB_IFDROP, &c->drop, 8);
    }
    n += opt_end(b + n);
    return close_block(b, BT_ISB, n);
}
