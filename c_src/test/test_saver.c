/* saver.c, pcapng.c and savejail.c: the blocks' layout, files written
 * from a capture and read back by libpcap, rotation and the ring, and a
 * port that has been subverted trying to create, follow or remove files
 * outside its save directory. Every case that confines runs in a child:
 * Landlock and seccomp last for the life of a process. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <pcap/pcap.h>

#include "capture.h"
#include "ctest.h"
#include "options.h"
#include "pcapng.h"
#include "restrict.h"
#include "saver.h"

#define DATA "../test/data/veth_mixed.pcap" /* 40 Ethernet frames */

static char dir[] = "/tmp/epcap-saver-XXXXXX";

static uint32_t get32(const uint8_t *b)
{
    uint32_t v;

    memcpy(&v, b, 4);
    return v;
}

/* Walks the blocks of b: each one's two lengths agree and are 32-bit
 * aligned. Returns the number of blocks, or -1. */
static int walk_blocks(const uint8_t *b, size_t n, uint32_t *types, int max)
{
    size_t off = 0;
    int count = 0;

    while (off < n) {
        uint32_t len;

        if (n - off < 12)
            return -1;
        len = get32(b + off + 4);
        if (len < 12 || len % 4 != 0 || len > n - off ||
            get32(b + off + len - 4) != len)
            return -1;
        if (count < max)
            types[count] = get32(b + off);
        count++;
        off += len;
    }
    return count;
}

static bool has(const uint8_t *b, size_t n, const char *s)
{
    return memmem(b, n, s, strlen(s)) != NULL;
}

static void head_blocks(void)
{
    uint8_t b[SAVE_HEAD_MAX];
    struct save_iface i = {
        1, 65535, true, "eth0", "udp port 53", "epcap 1.0.0", "Linux 6.1"};
    uint32_t types[4];
    size_t n = save_head(SAVE_PCAPNG, &i, b);

    CHECK(walk_blocks(b, n, types, 4) == 2);
    CHECK(types[0] == 0x0A0D0D0Au && types[1] == 1);
    CHECK(get32(b + 8) == 0x1A2B3C4Du);
    CHECK(has(b, n, "epcap 1.0.0") && has(b, n, "Linux 6.1"));
    CHECK(has(b, n, "eth0") && has(b, n, "udp port 53"));
    /* if_tsresol 9: code 9, length 1, value 9 */
    CHECK(memmem(b, n, "\x09\x00\x01\x00\x09", 5) != NULL);
    CHECK(save_head(SAVE_PCAP, &i, b) == 24 && get32(b) == 0xA1B23C4Du);
}

static void record_blocks(void)
{
    uint8_t b[128], data[5] = {1, 2, 3, 4, 5};
    struct save_close c = {10, 1, 2, true, 7, 8};
    uint32_t types[2];
    size_t n = save_record(SAVE_PCAPNG, b, 3, 4, false, 5, 60, data);

    CHECK(n == save_record_size(SAVE_PCAPNG, 5) && n == 28 + 8 + 4);
    CHECK(walk_blocks(b, n, types, 2) == 1 && types[0] == 6);
    CHECK(get32(b + 12) == 0 && get32(b + 16) == 3000004u); /* ts */
    CHECK(get32(b + 20) == 5 && get32(b + 24) == 60);
    CHECK(memcmp(b + 28, data, 5) == 0 && b[33] == 0 && b[35] == 0);
    n = save_tail(SAVE_PCAPNG, &c, b);
    CHECK(n <= SAVE_CLOSE_MAX && walk_blocks(b, n, types, 2) == 1 &&
          types[0] == 5);
    CHECK(save_tail(SAVE_PCAP, &c, b) == 0);
    CHECK(save_record(SAVE_PCAP, b, 3, 4, false, 5, 60, data) == 21);
}

/* Options as the port takes them, for a capture of DATA. */
static int parse(int argc, char **argv, struct options *o)
{
    struct ep_error e;

    optind = 1;
    return options_parse(argc, argv, o, &e);
}

static void save_options(void)
{
    char *ok[] = {"epcap", "-r", DATA, "-w",  "/x/y", "-z", "10",
                  "-W",    "2",  "-m", "600", "-D",   "-o", "pcap"};
    char *no_w[] = {"epcap", "-r", DATA, "-D"};
    char *files_alone[] = {"epcap", "-r", DATA, "-w", "/x/y", "-W", "2"};
    char *exec_mode[] = {"epcap", "-r", DATA, "-w", "/x/y", "-m", "755"};
    char *bad_fmt[] = {"epcap", "-r", DATA, "-w", "/x/y", "-o", "pcapx"};
    struct options o;

    CHECK(parse(14, ok, &o) == 0 && o.save.size == 10 && o.save.files == 2 &&
          o.save.mode == 0600 && o.save.no_deliver &&
          o.save.format == SAVE_PCAP);
    CHECK(parse(4, no_w, &o) < 0);
    CHECK(parse(7, files_alone, &o) < 0);
    CHECK(parse(7, exec_mode, &o) < 0);
    CHECK(parse(7, bad_fmt, &o) < 0);
}

static void clean_dir(void)
{
    char cmd[256];

    (void)snprintf(cmd, sizeof(cmd), "rm -rf %s/* %s/.??* 2>/dev/null", dir,
                   dir);
    if (system(cmd) < 0)
        perror("system");
}

static int count_packets(const char *path)
{
    char eb[PCAP_ERRBUF_SIZE];
    pcap_t *p = pcap_open_offline(path, eb);
    struct pcap_pkthdr *h;
    const u_char *d;
    int n = 0;

    if (p == NULL)
        return -1;
    while (pcap_next_ex(p, &h, &d) == 1)
        n++;
    pcap_close(p);
    return n;
}

struct heard {
    int saved, removed;
    uint64_t packets;
};

static int hear(void *ctx, const struct saver_event *ev)
{
    struct heard *h = ctx;

    if (ev->kind == SAVER_SAVED) {
        h->saved++;
        h->packets += ev->packets;
    } else {
        h->removed++;
    }
    return 0;
}

/* In a child: DATA saved with the port's options extra[], as the port
 * does it (without the drop). Exit 0 if every packet reached a file and
 * `saved' events were as many as want_saved, removed as want_removed. */
static int run_save(char **extra, int n_extra, int want_saved, int want_removed)
{
    char *argv[24] = {"epcap", "-r", DATA};
    struct options o;
    struct capture c;
    struct saver s;
    struct ep_error e;
    struct heard h = {0, 0, 0};
    struct save_iface i = {1, 65535, false, NULL, NULL, "epcap test", NULL};
    pid_t pid;
    int status, stop = 0;

    for (int k = 0; k < n_extra; k++)
        argv[3 + k] = extra[k];
    fflush(NULL);
    pid = fork();
    if (pid == 0) {
        if (parse(3 + n_extra, argv, &o) < 0 || capture_open(&o, &c, &e) < 0 ||
            saver_prepare(&s, &o.save, &e) < 0 ||
            saver_start(&s, &i, c.p, false, &e) < 0) {
            fprintf(stderr, "  run_save: %s\n", e.msg);
            _exit(2);
        }
        saver_listen(&s, hear, &h);
        while (saver_dispatch(&s, &c, 7, NULL, NULL, &stop) > 0)
            ;
        if (saver_finish(&s) < 0)
            _exit(3);
        _exit(h.saved == want_saved && h.removed == want_removed &&
                      h.packets == 40 && s.saved == 40
                  ? 0
                  : 4);
    }
    return waitpid(pid, &status, 0) == pid && WIFEXITED(status)
               ? WEXITSTATUS(status)
               : -1;
}

static void one_file(void)
{
    char path[128], *extra[] = {"-w", path, "-D"};
    struct stat sb;

    clean_dir();
    (void)snprintf(path, sizeof(path), "%s/one.pcapng", dir);
    CHECK(run_save(extra, 3, 1, 0) == 0);
    CHECK(count_packets(path) == 40);
    CHECK(stat(path, &sb) == 0 && (sb.st_mode & 0777) == 0640);
    /* a file is never overwritten */
    CHECK(run_save(extra, 3, 1, 0) == 2);
    CHECK(count_packets(path) == 40);
}

static int count_files(void)
{
    char cmd[256];
    FILE *f;
    int n = -1;

    (void)snprintf(cmd, sizeof(cmd), "ls %s | wc -l", dir);
    f = popen(cmd, "r");
    if (f == NULL)
        return -1;
    if (fscanf(f, "%d", &n) != 1)
        n = -1;
    (void)pclose(f);
    return n;
}

static void rotation_and_ring(void)
{
    char path[128], *by_count[] = {"-w", path, "-c", "7"};
    char *ring[] = {"-w", path, "-c", "7", "-W", "2"};
    char *by_size[] = {"-w", path, "-z", "900", "-o", "pcap"};

    (void)snprintf(path, sizeof(path), "%s/r.pcapng", dir);
    clean_dir();
    CHECK(run_save(by_count, 4, 6, 0) == 0); /* 7*5 + 5 */
    CHECK(count_files() == 6);
    clean_dir();
    CHECK(run_save(ring, 6, 6, 4) == 0);
    CHECK(count_files() == 2);
    clean_dir();
    CHECK(run_save(by_size, 6, 6, 0) == 0);
    CHECK(count_files() == 6);
}

/* The attacker: a port confined as priv/epcap is (Landlock and the
 * seccomp filter with the save rules), as root so that only those stop
 * it. Each attempt must fail and leave nothing outside the directory. */
static int subverted(const char *sub)
{
    struct saver_opts so = {0};
    struct saver s;
    struct save_iface i = {1, 65535, false, NULL, NULL, "epcap test", NULL};
    struct restrict_ctx rc = {-1, false, false, -1, -1};
    struct ep_error e;
    char path[256];
    int bad = 0;

    (void)snprintf(path, sizeof(path), "%s/a.pcapng", sub);
    so.path = path;
    so.mode = 0600;
    if (saver_prepare(&s, &so, &e) < 0 ||
        saver_start(&s, &i, NULL, false, &e) < 0)
        return 10;
    rc.save_dir = s.dirfd;
    rc.save_fd = s.slot;
    if (restrict_init(&rc, &e) < 0 || restrict_apply(&rc, &e) < 0)
        return 11;
    /* out of the directory by name */
    if (openat(s.dirfd, "../escape", SAVER_OPEN_FLAGS, 0600) >= 0 ||
        errno != EACCES)
        bad |= 1;
    /* an absolute name ignores the descriptor: Landlock still says no */
    if (openat(s.dirfd, "/tmp/epcap-saver-escape", SAVER_OPEN_FLAGS, 0600) >= 0)
        bad |= 2;
    /* not relative to the directory: the filter's probe answer */
    if (openat(AT_FDCWD, "escape", SAVER_OPEN_FLAGS, 0600) >= 0 ||
        errno != EACCES)
        bad |= 4;
    /* other flags: a read (Landlock), an open without O_EXCL (the seccomp
     * filter only: the other modes let the port write its own files) */
    if (openat(s.dirfd, "a.pcapng", O_RDONLY) >= 0 ||
        (strcmp(restrict_mode(), "seccomp") == 0 &&
         openat(s.dirfd, "a.pcapng", O_WRONLY | O_CREAT, 0600) >= 0))
        bad |= 8;
    /* removal out of the directory */
    if (unlinkat(s.dirfd, "../victim", 0) == 0)
        bad |= 16;
    /* the link planted in the directory is not followed */
    if (openat(s.dirfd, "link", SAVER_OPEN_FLAGS, 0600) >= 0 || errno != EEXIST)
        bad |= 32;
    return bad;
}

static void outside_the_directory(void)
{
    char sub[160], victim[160], link[200], target[160];
    struct stat sb;
    pid_t pid;
    int status = -1;

    clean_dir();
    (void)snprintf(sub, sizeof(sub), "%s/save", dir);
    (void)snprintf(victim, sizeof(victim), "%s/victim", dir);
    (void)snprintf(target, sizeof(target), "%s/target", dir);
    (void)snprintf(link, sizeof(link), "%s/link", sub);
    CHECK(mkdir(sub, 0700) == 0);
    CHECK(close(open(victim, O_CREAT | O_WRONLY, 0600)) == 0);
    CHECK(symlink(target, link) == 0);
    fflush(NULL);
    pid = fork();
    if (pid == 0)
        _exit(subverted(sub));
    CHECK(waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fprintf(stderr, "  subverted: status %#x\n", status);
    CHECK(stat(victim, &sb) == 0);
    CHECK(lstat(target, &sb) < 0 && errno == ENOENT);
    CHECK(access("/tmp/epcap-saver-escape", F_OK) < 0);
    (void)snprintf(link, sizeof(link), "%s/escape", dir);
    CHECK(access(link, F_OK) < 0);
}

int main(void)
{
    if (mkdtemp(dir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    RUN(head_blocks);
    RUN(record_blocks);
    RUN(save_options);
    RUN(one_file);
    RUN(rotation_and_ring);
    RUN(outside_the_directory);
    clean_dir();
    (void)rmdir(dir);
    CTEST_END("test_saver");
}
