/* The bytes of a saved capture: pcapng blocks as dumpcap writes them, and
 * classic pcap's header and records (doc/protocol.md, "Saved files").
 * Pure encoding into a caller's buffer, in host byte order (both formats
 * say which order a file uses in its first block), so it is tested alone
 * (c_src/test/test_saver.c) and the Erlang writer (epcap_file) lays out
 * the same blocks. */
#ifndef EPCAP_PCAPNG_H
#define EPCAP_PCAPNG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum save_format { SAVE_PCAPNG = 0, SAVE_PCAP };

/* What a file says about the one interface it holds. */
struct save_iface {
    int linktype; /* DLT_ of the capture */
    uint32_t snaplen;
    bool nano;          /* times in ns (if_tsresol 9), else us (6) */
    const char *name;   /* if_name, or NULL (a capture read from a file) */
    const char *filter; /* if_filter, libpcap syntax, or NULL */
    const char *appl;   /* shb_userappl, e.g. "epcap 1.0.0" */
    const char *os;     /* shb_os, or NULL */
};

/* Counts for the Interface Statistics Block at the end of a pcapng file;
 * have_counts false (a capture read from a file) leaves the two out. */
struct save_close {
    uint64_t now;   /* the block's own time, in the file's units */
    uint64_t start; /* isb_starttime: the file was opened */
    uint64_t end;   /* isb_endtime: the file is closed */
    bool have_counts;
    uint64_t recv; /* isb_ifrecv */
    uint64_t drop; /* isb_ifdrop */
};

/* The largest header a file starts with (SHB + IDB, options included):
 * filter text of at most SAVE_TEXT_MAX bytes, names likewise. */
#define SAVE_TEXT_MAX  8192
#define SAVE_HEAD_MAX  (4 * SAVE_TEXT_MAX + 256)
#define SAVE_CLOSE_MAX 128
/* A record's bytes beyond its data: EPB 28 + pad 3 + trailer 4. */
#define SAVE_RECORD_OVERHEAD 36

/* The file's first bytes, into b (SAVE_HEAD_MAX bytes). Returns their
 * count. Texts longer than SAVE_TEXT_MAX are cut. */
size_t save_head(enum save_format f, const struct save_iface *i, uint8_t *b);

/* A record's size in the file, for caplen bytes of data. */
size_t save_record_size(enum save_format f, uint32_t caplen);

/* The record into b (save_record_size bytes): ts in the file's units
 * (seconds * 10^6 or 10^9 + fraction). Returns its size. */
size_t save_record(enum save_format f, uint8_t *b, uint64_t sec, uint32_t frac,
                   bool nano, uint32_t caplen, uint32_t len,
                   const uint8_t *data);

/* The file's last bytes (an ISB for pcapng, none for pcap), into b
 * (SAVE_CLOSE_MAX bytes). Returns their count. */
size_t save_tail(enum save_format f, const struct save_close *c, uint8_t *b);

/* sec/frac as one count of the file's units. */
uint64_t save_units(uint64_t sec, uint32_t frac, bool nano);

#endif
