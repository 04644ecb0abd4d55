/* Reading a classic pcap savefile without libpcap's per-record cost.
 *
 * libpcap reads a savefile record by record, two freads each (header, then
 * data): for 64-byte frames that is most of the port's time, more than
 * tcpdump spends in all (bench/RESULTS.md). This reader takes the common
 * case, a pcap 2.4 file in a regular file, in large preads, and hands
 * every record it does not fully understand back to libpcap: it seeks
 * libpcap's stream to that record and libpcap reads on from there, so
 * every oddity, truncation, error message and the end of the file are
 * libpcap's own. pcapng, old format versions, FIFOs, filters (the BPF
 * program is libpcap's) and link types whose records libpcap rewrites
 * (savefile.c says which) never take this path. */
#ifndef EPCAP_SAVEFILE_H
#define EPCAP_SAVEFILE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include <pcap/pcap.h>

/* Room for a record of libpcap's largest snapshot (262 144 bytes) and its
 * header, so that only a malformed record goes to libpcap for its size.
 * Not larger: each page of it is faulted in once, and a fault is dear in
 * a virtual machine (1 MiB cost the port 3 ms of its 40 for 1 M frames). */
#define SAVEFILE_CHUNK ((size_t)(256 + 4) * 1024)

struct savefile {
    bool active;       /* records come from here, not from libpcap */
    bool swap;         /* the file's byte order is not ours */
    bool to_nano;      /* a microsecond file read into nanoseconds */
    uint32_t frac_max; /* a fraction of a second must be below this */
    uint32_t snapshot; /* pcap_snapshot(): larger records go to libpcap */
    int fd;            /* the stream's descriptor (not ours to close) */
    FILE *fp;          /* libpcap's stream, positioned at the handover */
    off_t base;        /* file offset of buf[0] */
    size_t pos;        /* next record in buf */
    size_t have;       /* bytes in buf */
    uint8_t *buf;
};

/* Takes the file over from libpcap if it is a classic pcap 2.4 file in a
 * regular file that libpcap has read only the header of; otherwise (or
 * without memory) leaves it to libpcap, s->active false. Never fails:
 * libpcap can always read on. nano: the handle's precision is ns. */
void savefile_init(struct savefile *s, pcap_t *p, FILE *fp, bool nano);

/* As pcap_dispatch(3PCAP) on the savefile: at most max packets (max > 0)
 * to cb; the number handed over, or 0 at the end of the file or at a
 * record left to libpcap (s->active is then false and the caller goes on
 * with pcap_dispatch). Stops after a packet once *stop is non-zero (cb's
 * way to break the loop). */
int savefile_dispatch(struct savefile *s, int max, pcap_handler cb,
                      u_char *user, const int *stop);

/* Gives the rest of the file back to libpcap (before a filter is set:
 * only libpcap runs it). 0, or -1 if the stream cannot be positioned
 * (errno), which leaves the file unreadable. */
int savefile_handover(struct savefile *s);

void savefile_free(struct savefile *s);

#endif
