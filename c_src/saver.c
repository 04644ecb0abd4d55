#include "saver.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "savejail.h"
#include "useropen.h"

/* "_NNNNN_YYYYmmddHHMMSS": what rotation adds to a name (5+ digits). */
#define ROTATE_SUFFIX_MAX 32

/* A rotated file is known by its sequence number and the second it was
 * made: its name follows from the two (file_name), so the ring keeps
 * 16 bytes a file, not the name. */
struct ring_entry {
    unsigned seq;
    time_t t;
};

static void set_err(struct saver *s, const char *what, int err)
{
    s->err_errno = err;
    if (snprintf(s->err, sizeof(s->err), "%s: %s", what, strerror(err)) < 0)
        s->err[0] = '\0';
}

/* dumpcap's names for a file set: Base_NNNNN_YYYYmmddHHMMSS.Ext, in the
 * local time zone (read by tzset before the chroot hides it). split_path
 * left room for it: a name never comes out cut (then it would be "",
 * which openat refuses). */
static void file_name(const struct saver *s, unsigned seq, time_t t, char *out)
{
    struct tm tm;
    int n;

    if (!s->rotating) {
        n = snprintf(out, SAVER_NAME_MAX + 1, "%s%s", s->base, s->ext);
    } else {
        char stamp[32] = "00000000000000";

        if (localtime_r(&t, &tm) != NULL)
            (void)strftime(stamp, sizeof(stamp), "%Y%m%d%H%M%S", &tm);
        n = snprintf(out, SAVER_NAME_MAX + 1, "%s_%05u_%s%s", s->base, seq,
                     stamp, s->ext);
    }
    if (n < 0 || n > SAVER_NAME_MAX)
        out[0] = '\0';
}

/* DIR/BASE: the directory to open and the name (or, rotating, the base
 * and extension) of the files in it. A name is never empty, ".", ".."
 * or longer than a directory entry can be. */
static int split_path(struct saver *s, char *dir, size_t dirlen,
                      struct ep_error *e)
{
    const char *path = s->o.path;
    const char *slash = strrchr(path, '/');
    const char *name = slash ? slash + 1 : path;
    size_t room = SAVER_NAME_MAX - (s->rotating ? ROTATE_SUFFIX_MAX : 0);
    const char *dot;

    if (*name == '\0' || strcmp(name, ".") == 0 || strcmp(name, "..") == 0 ||
        strlen(name) > room)
        return ep_fail(e, "badarg", "bad file name to save to: %s", path);
    if (slash == NULL)
        (void)snprintf(dir, dirlen, ".");
    else if (slash == path)
        (void)snprintf(dir, dirlen, "/");
    else if ((size_t)(slash - path) >= dirlen ||
             snprintf(dir, dirlen, "%.*s", (int)(slash - path), path) < 0)
        return ep_fail(e, "badarg", "directory name too long: %s", path);
    dot = s->rotating ? strrchr(name, '.') : NULL;
    if (dot == NULL || dot == name)
        dot = name + strlen(name);
    if (snprintf(s->base, sizeof(s->base), "%.*s", (int)(dot - name), name) <
            0 ||
        snprintf(s->ext, sizeof(s->ext), "%s", dot) < 0)
        return ep_fail(e, "badarg", "bad file name to save to: %s", path);
    return 0;
}

/* shb_os as dumpcap gives it ("Linux 6.1.0-18-amd64"); uname is denied
 * once the sandbox is on. */
static void describe_os(struct saver *s)
{
    struct utsname u;

    if (uname(&u) != 0 ||
        snprintf(s->os, sizeof(s->os), "%.64s %.64s", u.sysname, u.release) < 0)
        s->os[0] = '\0';
}

int saver_prepare(struct saver *s, const struct saver_opts *o,
                  struct ep_error *e)
{
    char dir[PATH_MAX];

    memset(s, 0, sizeof(*s));
    s->dirfd = -1;
    s->slot = -1;
    s->o = *o;
    s->rotating = o->size || o->seconds || o->packets || o->files;
    if (split_path(s, dir, sizeof(dir), e) < 0)
        return -1;
    if (o->files > 0) {
        s->ring = calloc(o->files + 1, sizeof(struct ring_entry));
        if (s->ring == NULL)
            return ep_fail(e, "enomem", "malloc");
    }
    s->buf = malloc(SAVER_BUF_BYTES);
    if (s->buf == NULL)
        return ep_fail(e, "enomem", "malloc");
    /* The time zone, while /etc/localtime can still be read; the mode as
     * given, not as the VM's umask would cut it. */
    tzset();
    (void)umask(0);
    describe_os(s);
    s->dirfd = useropen_dir(dir, e);
    if (s->dirfd < 0)
        return -1;
    /* A number of our own for every file, held by a copy of the directory
     * descriptor meanwhile (writing to it fails, EBADF): the seccomp
     * filter lets write reach this number only. */
    s->slot = fcntl(s->dirfd, F_DUPFD_CLOEXEC, 3);
    if (s->slot < 0)
        return ep_fail_errno(e, "save", "fcntl");
    return 0;
}

static uint64_t wall_units(bool nano)
{
    struct timespec ts;

    if (clock_gettime(CLOCK_REALTIME, &ts) != 0)
        return 0;
    return save_units(
        (uint64_t)ts.tv_sec,
        nano ? (uint32_t)ts.tv_nsec : (uint32_t)(ts.tv_nsec / 1000), nano);
}

static uint32_t get32(const uint8_t *b)
{
    uint32_t v;

    memcpy(&v, b, 4);
    return v;
}

/* Of the first n bytes of buf (written before a write failed), those
 * that make whole records after the file's head: their size, and the
 * packets among them, the last one's time into s->done_last_*. */
static size_t whole_part(struct saver *s, size_t n, uint64_t *pkts)
{
    uint64_t unit = s->iface.nano ? 1000000000u : 1000000u;
    size_t off = s->buf_head;

    *pkts = 0;
    if (n < off)
        return 0;
    while (n - off >= 16) {
        const uint8_t *r = s->buf + off;
        bool pcap = s->o.format == SAVE_PCAP;
        size_t len = pcap ? 16 + (size_t)get32(r + 8) : get32(r + 4);

        if (len > n - off)
            break;
        if (pcap) {
            s->done_last_sec = get32(r);
            s->done_last_frac = get32(r + 4);
        } else if (get32(r) == 6) { /* an EPB; else the closing ISB */
            uint64_t ts = (uint64_t)get32(r + 12) << 32 | get32(r + 16);

            s->done_last_sec = ts / unit;
            s->done_last_frac = (uint32_t)(ts % unit);
        }
        if (pcap || get32(r) == 6)
            (*pkts)++;
        off += len;
    }
    return off;
}

/* A write failed after `written' bytes of buf: the file is cut back to
 * the whole records among them (a reader never meets half of one) and
 * s is failed. */
static int write_failed(struct saver *s, size_t written, int err)
{
    uint64_t pkts;
    size_t keep = whole_part(s, written, &pkts);

    /* if even that fails, the error ends the capture all the same */
    if (ftruncate(s->slot, (off_t)(s->done_bytes + keep)) < 0)
        err = errno;
    else
        s->done_bytes += keep;
    s->done_packets += pkts;
    s->saved += pkts;
    s->len = 0;
    s->failed = true;
    s->stop = 1;
    set_err(s, s->name, err);
    return -1;
}

/* Writes what is buffered. */
static int flush(struct saver *s)
{
    size_t off = 0;

    while (off < s->len) {
        ssize_t n = write(s->slot, s->buf + off, s->len - off);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return write_failed(s, off, n < 0 ? errno : ENOSPC);
        off += (size_t)n;
    }
    s->done_bytes += s->len;
    s->done_packets += s->buf_packets;
    s->saved += s->buf_packets;
    s->done_last_sec = s->last_sec;
    s->done_last_frac = s->last_frac;
    s->len = 0;
    s->buf_packets = 0;
    s->buf_head = 0;
    return 0;
}

static int tell(struct saver *s, const struct saver_event *ev)
{
    return s->notify != NULL ? s->notify(s->ctx, ev) : 0;
}

/* The slot goes back to holding the directory: the file is closed. */
static void release(struct saver *s)
{
    (void)dup3(s->dirfd, s->slot, O_CLOEXEC);
    s->name[0] = '\0';
}

static void tell_saved(struct saver *s)
{
    struct saver_event ev = {SAVER_SAVED,   s->name,          s->done_packets,
                             s->done_bytes, s->first_sec,     s->done_last_sec,
                             s->first_frac, s->done_last_frac};

    (void)tell(s, &ev);
}

/* The file open now: its ISB (pcapng), then everything to disk. After a
 * failure the file holds every whole record written before it; a file
 * left with none of its header is removed. */
static int close_file(struct saver *s)
{
    struct save_close c = {0};
    struct pcap_stat st;

    if (s->name[0] == '\0')
        return s->failed ? -1 : 0;
    if (!s->failed) {
        c.now = c.end = wall_units(s->iface.nano);
        c.start = s->opened;
        if (s->live && pcap_stats(s->p, &st) == 0) {
            c.have_counts = true;
            c.recv = st.ps_recv;
            c.drop = (uint64_t)st.ps_drop + st.ps_ifdrop;
        }
        s->len += save_tail(s->o.format, &c, s->buf + s->len);
        (void)flush(s);
    }
    if (s->done_bytes == 0)
        (void)unlinkat(s->dirfd, s->name, 0);
    else
        tell_saved(s);
    release(s);
    return s->failed ? -1 : 0;
}

/* The ring: the new file joins, and past N files the oldest goes. Only
 * names of this set are ever removed; one that has gone already (the
 * user moved it) is counted in save_errors and the capture goes on. */
static void ring_add(struct saver *s, unsigned seq, time_t t)
{
    struct ring_entry *r = (struct ring_entry *)(void *)s->ring;
    char old[SAVER_NAME_MAX + 1];
    struct saver_event ev = {SAVER_REMOVED, old, 0, 0, 0, 0, 0, 0};

    if (r == NULL)
        return;
    r[s->n_ring++] = (struct ring_entry){seq, t};
    if (s->n_ring <= s->o.files)
        return;
    file_name(s, r[0].seq, r[0].t, old);
    memmove(r, r + 1, sizeof(*r) * s->o.files);
    s->n_ring--;
    if (unlinkat(s->dirfd, old, 0) < 0)
        s->errors++;
    else
        (void)tell(s, &ev);
}

/* The size of the ISB to come, so that a file ends within its limit. */
static size_t tail_size(const struct saver *s)
{
    uint8_t b[SAVE_CLOSE_MAX];
    struct save_close c = {0};

    c.have_counts = s->live;
    return save_tail(s->o.format, &c, b);
}

static int open_file(struct saver *s)
{
    struct timespec now = {0, 0};
    time_t t;
    unsigned seq = ++s->seq;
    int fd;

    (void)clock_gettime(CLOCK_REALTIME, &now);
    t = now.tv_sec;
    file_name(s, seq, t, s->name);
    fd = openat(s->dirfd, s->name, SAVER_OPEN_FLAGS, (mode_t)s->o.mode);
    if (fd < 0 || (fd != s->slot && dup3(fd, s->slot, O_CLOEXEC) < 0)) {
        int err = errno;

        if (fd >= 0)
            (void)close(fd);
        s->failed = true;
        s->stop = 1;
        set_err(s, s->name, err);
        s->name[0] = '\0';
        return -1;
    }
    if (fd != s->slot)
        (void)close(fd);
    s->bytes = s->done_bytes = 0;
    s->packets = s->done_packets = s->buf_packets = 0;
    s->first_sec = s->last_sec = s->done_last_sec = 0;
    s->first_frac = s->last_frac = s->done_last_frac = 0;
    s->opened = wall_units(s->iface.nano);
    s->len = save_head(s->o.format, &s->iface, s->buf);
    s->buf_head = s->len;
    s->bytes = s->len;
    if (flush(s) < 0)
        return close_file(s);
    ring_add(s, seq, t);
    return 0;
}

int saver_start(struct saver *s, const struct save_iface *i, pcap_t *p,
                bool live, struct ep_error *e)
{
    s->iface = *i;
    if (s->iface.os == NULL && s->os[0] != '\0')
        s->iface.os = s->os;
    s->p = p;
    s->live = live;
    s->tail_bytes = tail_size(s);
    if (savejail_confine(s->dirfd, e) < 0)
        return -1;
    if (open_file(s) < 0)
        return ep_fail(e, "save", "%s%s", s->err,
                       s->err_errno == EACCES
                           ? " (files are made by the user the port drops to)"
                           : "");
    return 0;
}

static bool must_rotate(const struct saver *s, uint64_t ts, size_t rs)
{
    uint64_t unit = s->iface.nano ? 1000000000u : 1000000u;

    if (!s->rotating || s->packets == 0)
        return false;
    return (s->o.packets && s->packets >= s->o.packets) ||
           (s->o.size && s->bytes + rs + s->tail_bytes > s->o.size) ||
           (s->o.seconds && ts >= s->first_ts &&
            ts - s->first_ts >= s->o.seconds * unit);
}

static void save_packet(struct saver *s, const struct pcap_pkthdr *h,
                        const u_char *bytes)
{
    uint64_t sec = (uint64_t)h->ts.tv_sec;
    uint32_t frac = (uint32_t)h->ts.tv_usec;
    uint64_t ts = save_units(sec, frac, s->iface.nano);
    size_t rs = save_record_size(s->o.format, h->caplen);

    if (must_rotate(s, ts, rs) && (close_file(s) < 0 || open_file(s) < 0))
        return;
    if (s->len + rs > SAVER_BUF_BYTES && flush(s) < 0) {
        (void)close_file(s);
        return;
    }
    s->len += save_record(s->o.format, s->buf + s->len, sec, frac,
                          s->iface.nano, h->caplen, h->len, bytes);
    if (s->packets == 0) {
        s->first_ts = ts;
        s->first_sec = sec;
        s->first_frac = frac;
    }
    s->last_sec = sec;
    s->last_frac = frac;
    s->packets++;
    s->buf_packets++;
    s->bytes += rs;
}

static void on_packet(u_char *user, const struct pcap_pkthdr *h,
                      const u_char *bytes)
{
    struct saver *s = (struct saver *)(void *)user;

    if (s->failed)
        return;
    save_packet(s, h, bytes);
    if (s->failed) {
        pcap_breakloop(s->p);
        return;
    }
    if (s->inner != NULL) {
        s->inner(s->inner_user, h, bytes);
        if (*s->inner_stop != 0)
            s->stop = 1;
    }
}

static uint64_t mono_ms(void)
{
    struct timespec ts;

    if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
        return 0;
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* A live capture's packets reach the disk soon (a reader of the file sees
 * them; a crash loses few): after a read that found the traffic light
 * (the next packet may be long in coming, and nothing wakes the loop
 * until it does), or at SAVER_LIVE_FLUSH_BYTES, or SAVER_LIVE_FLUSH_MS
 * after the last write. Under load that makes large writes, not one per
 * read: a write per few packets cost tcpreplay half its rate on a 2-core
 * machine (bench/RESULTS.md, section S). A file's go in full buffers. */
static bool live_flush_due(struct saver *s, int n)
{
    uint64_t now;

    if (!s->live || s->len == 0)
        return false;
    now = mono_ms();
    if (n < SAVER_LIVE_LIGHT || s->len >= SAVER_LIVE_FLUSH_BYTES ||
        now - s->flushed_ms >= SAVER_LIVE_FLUSH_MS) {
        s->flushed_ms = now;
        return true;
    }
    return false;
}

int saver_dispatch(struct saver *s, struct capture *c, int max, pcap_handler cb,
                   u_char *user, const int *stop)
{
    int n;

    s->inner = s->o.no_deliver ? NULL : cb;
    s->inner_user = user;
    s->inner_stop = stop;
    s->stop = s->failed;
    n = capture_dispatch(c, max, on_packet, (u_char *)(void *)s, &s->stop);
    if (!s->failed && live_flush_due(s, n) && flush(s) < 0)
        (void)close_file(s);
    return n;
}

int saver_wait_ms(const struct saver *s, int timeout_ms)
{
    if (s == NULL || !s->live || s->len == 0 || s->failed)
        return timeout_ms;
    if (timeout_ms < 0 || timeout_ms > SAVER_LIVE_FLUSH_MS)
        return SAVER_LIVE_FLUSH_MS;
    return timeout_ms;
}

int saver_tick(struct saver *s)
{
    uint64_t now;

    if (!s->live || s->len == 0 || s->failed)
        return s->failed ? -1 : 0;
    now = mono_ms();
    if (now - s->flushed_ms < SAVER_LIVE_FLUSH_MS)
        return 0;
    s->flushed_ms = now;
    if (flush(s) < 0) {
        (void)close_file(s);
        return -1;
    }
    return 0;
}

void saver_listen(struct saver *s, saver_notify notify, void *ctx)
{
    s->notify = notify;
    s->ctx = ctx;
}

bool saver_failed(const struct saver *s)
{
    return s->failed;
}

const char *saver_error(const struct saver *s)
{
    return s->err;
}

int saver_finish(struct saver *s)
{
    return close_file(s);
}

void saver_free(struct saver *s)
{
    if (s->slot >= 0)
        (void)close(s->slot);
    if (s->dirfd >= 0)
        (void)close(s->dirfd);
    free(s->buf);
    free(s->ring);
    s->slot = s->dirfd = -1;
    s->buf = NULL;
    s->ring = NULL;
}
