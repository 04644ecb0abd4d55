/* Saving captured frames to files inside the port: one file, or a set of
 * files rotated by size, time or packet count, optionally a ring of the
 * newest N (doc/protocol.md, "Saved files"; pcapng.h lays out the bytes).
 *
 * Safety (doc/security.md): the directory is opened before the drop with
 * the caller's rights (useropen_dir), and every file is created after the
 * drop, relative to that descriptor, O_CREAT|O_EXCL|O_NOFOLLOW (never
 * through a link, never over a file), then moved to one fixed descriptor
 * number (the only one the seccomp filter lets write); Landlock
 * (savejail.h) keeps every write and removal beneath the directory; the
 * ring removes only names it made. */
#ifndef EPCAP_SAVER_H
#define EPCAP_SAVER_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#include <pcap/pcap.h>

#include "capture.h"
#include "errors.h"
#include "pcapng.h"
#include "saveopts.h"

#define SAVER_NAME_MAX  255                  /* NAME_MAX of Linux */
#define SAVER_BUF_BYTES ((size_t)512 * 1024) /* any record fits whole */
/* A live capture's writes (saver.c, live_flush_due): after a read of
 * fewer packets than this, at this many bytes, or this long after the
 * last write. */
#define SAVER_LIVE_LIGHT       64
#define SAVER_LIVE_FLUSH_BYTES ((size_t)128 * 1024)
#define SAVER_LIVE_FLUSH_MS    200

/* What the saver tells its owner: a file closed, or one the ring removed.
 * Times are sec/frac as the capture's (frac in us or ns). */
enum saver_event_kind { SAVER_SAVED, SAVER_REMOVED };

struct saver_event {
    enum saver_event_kind kind;
    const char *name; /* in the directory */
    uint64_t packets, bytes;
    uint64_t first_sec, last_sec;
    uint32_t first_frac, last_frac;
};

/* Returns 0, or -1 if the event could not be sent (errno). */
typedef int (*saver_notify)(void *ctx, const struct saver_event *ev);

struct saver {
    struct saver_opts o;
    int dirfd;
    int slot; /* the descriptor number every file is written through */
    bool rotating;
    char base[SAVER_NAME_MAX + 1];
    char ext[SAVER_NAME_MAX + 1];
    char name[SAVER_NAME_MAX + 1]; /* the file open now, "" if none */
    unsigned seq;
    void *ring; /* files of this set, oldest first (saver.c) */
    unsigned n_ring;
    struct save_iface iface;
    char os[160]; /* shb_os: uname's system and release */
    pcap_t *p;    /* for the ISB's counts when live */
    bool live;
    size_t tail_bytes; /* the ISB's size (pcapng) */
    saver_notify notify;
    void *ctx;
    uint8_t *buf;
    size_t len;
    /* the file open now: what it holds, buffered included */
    uint64_t bytes, packets, first_ts, last_ts, opened;
    uint64_t first_sec, last_sec;
    uint32_t first_frac, last_frac;
    /* what of it has reached the file (a failure keeps only this) */
    uint64_t done_bytes, done_packets, done_last_sec;
    uint32_t done_last_frac;
    uint64_t buf_packets; /* records in buf */
    size_t buf_head;      /* bytes of the file's head at buf's start */
    uint64_t saved;       /* packets written, every file */
    uint64_t flushed_ms;  /* CLOCK_MONOTONIC of a live capture's last write */
    uint64_t errors;      /* failures survived (a ring removal) */
    bool failed;
    int stop; /* raised for capture_dispatch when failed */
    char err[SAVER_NAME_MAX + 128];
    int err_errno;      /* the errno err says */
    pcap_handler inner; /* the loop's callback, NULL with no_deliver */
    u_char *inner_user;
    const int *inner_stop;
};

/* Before the privilege drop: checks the name, opens the directory with
 * the caller's rights and holds a descriptor number for the files. 0 or
 * -1 with e = {save, Msg} or {badarg, Msg}. */
int saver_prepare(struct saver *s, const struct saver_opts *o,
                  struct ep_error *e);

/* After the drop, before the seccomp filter: Landlock, then the first
 * file. i's strings must outlive the saver. 0 or -1 with e filled. */
int saver_start(struct saver *s, const struct save_iface *i, pcap_t *p,
                bool live, struct ep_error *e);

/* Who hears of files closed and removed from now on. */
void saver_listen(struct saver *s, saver_notify notify, void *ctx);

/* capture_dispatch with every packet saved first, then handed to cb
 * unless no_deliver. Returns what capture_dispatch returns; a failed
 * save stops it (saver_failed). */
int saver_dispatch(struct saver *s, struct capture *c, int max, pcap_handler cb,
                   u_char *user, const int *stop);

/* The loop's longest sleep, timeout_ms (-1: none) or less, so that a live
 * capture's packets read before a quiet spell reach the disk within
 * SAVER_LIVE_FLUSH_MS (saver_tick writes them). s may be NULL. */
int saver_wait_ms(const struct saver *s, int timeout_ms);

/* Once an iteration of the loop: writes what a live capture has held
 * for SAVER_LIVE_FLUSH_MS. 0, or -1 if that failed (saver_error). */
int saver_tick(struct saver *s);

bool saver_failed(const struct saver *s);
const char *saver_error(const struct saver *s);

/* Closes the file being written (its ISB, then a SAVER_SAVED event). 0,
 * or -1 (saver_error says why; the file keeps what was written). */
int saver_finish(struct saver *s);

void saver_free(struct saver *s);

#endif
