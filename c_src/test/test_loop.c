/* The event loop over a savefile, in a child process: what it sends and
 * how often it wakes while the VM is behind. */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "capture.h"
#include "control.h"
#include "ctest.h"
#include "loop.h"
#include "options.h"
#include "wire.h"

static char path[] = "/tmp/epcap-loop-XXXXXX";

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

    while (nanosleep(&ts, &ts) != 0)
        ;
}

/* A pcap file of n 60-byte frames. */
static void write_pcap(int n)
{
    const uint32_t hdr[6] = {0xa1b2c3d4u, 0x00040002u, 0, 0, 65535, 1};
    uint8_t body[60] = {0};
    FILE *f = fopen(path, "wb");

    CHECK(f != NULL);
    if (f == NULL)
        return;
    CHECK(fwrite(hdr, sizeof(hdr), 1, f) == 1);
    for (int i = 0; i < n; i++) {
        const uint32_t rec[4] = {1700000000u + (uint32_t)i, 0, 60, 60};

        CHECK(fwrite(rec, sizeof(rec), 1, f) == 1 &&
              fwrite(body, sizeof(body), 1, f) == 1);
    }
    CHECK(fclose(f) == 0);
}

static void credit(int fd, uint32_t n)
{
    uint8_t m[9] = {0,
                    0,
                    0,
                    5,
                    CTL_CREDIT,
                    (uint8_t)(n >> 24),
                    (uint8_t)(n >> 16),
                    (uint8_t)(n >> 8),
                    (uint8_t)n};

    CHECK(write(fd, m, sizeof(m)) == (ssize_t)sizeof(m));
}

/* Context switches of a process so far: its wake-ups, near enough. */
static long switches(pid_t pid)
{
    char file[64], line[128];
    long total = 0, v;
    FILE *f;

    (void)snprintf(file, sizeof(file), "/proc/%d/status", (int)pid);
    f = fopen(file, "r");
    if (f == NULL)
        return -1;
    while (fgets(line, sizeof(line), f) != NULL)
        if (sscanf(line, "voluntary_ctxt_switches: %ld", &v) == 1 ||
            sscanf(line, "nonvoluntary_ctxt_switches: %ld", &v) == 1)
            total += v;
    (void)fclose(f);
    return total;
}

/* Records in the batch frames of buf. */
static uint32_t records(const uint8_t *buf, size_t n)
{
    uint32_t count = 0;
    size_t at = 0;

    while (n - at >= 9) {
        uint32_t len = (uint32_t)buf[at] << 24 | (uint32_t)buf[at + 1] << 16 |
                       (uint32_t)buf[at + 2] << 8 | buf[at + 3];

        if (buf[at + 4] == WIRE_TAG_BATCH)
            count += (uint32_t)buf[at + 5] << 24 | (uint32_t)buf[at + 6] << 16 |
                     (uint32_t)buf[at + 7] << 8 | buf[at + 8];
        at += 4 + (size_t)len;
    }
    return count;
}

/* Packets read on credit while the VM has yet to read the previous batch
 * go out as soon as the credit is spent (nothing more can join them), and
 * the port then sleeps: it does not wake every WIRE_HOLD_NS to see whether
 * the VM has caught up. */
static void spent_credit_sends_and_sleeps(void)
{
    int ctl[2], out[2];
    pid_t pid;
    long before, after;
    static uint8_t buf[1 << 16];
    ssize_t n;

    write_pcap(100);
    CHECK(pipe(ctl) == 0 && pipe(out) == 0);
    pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        char *argv[] = {"epcap", "-r", path, NULL};
        struct options o;
        struct ep_error e;
        struct capture c;

        (void)close(ctl[1]);
        (void)close(out[0]);
        optind = 1;
        if (options_parse(3, argv, &o, &e) < 0 || capture_open(&o, &c, &e) < 0)
            _exit(2);
        _exit(loop_run(&c, false, NULL, ctl[0], out[1], &e) == LOOP_STDIN_EOF
                  ? 0
                  : 3);
    }
    (void)close(ctl[0]);
    (void)close(out[1]);
    credit(ctl[1], 5); /* sent at once: nothing went before */
    sleep_ms(100);
    credit(ctl[1], 5); /* read; the VM has not read the first batch */
    sleep_ms(100);
    before = switches(pid);
    sleep_ms(300);
    after = switches(pid);
    fprintf(stderr, "  %ld context switches in 300 ms\n", after - before);
    CHECK(before >= 0 && after - before < 30); /* polling: about 3 000 */
    n = read(out[0], buf, sizeof(buf));
    CHECK(n > 0 && records(buf, (size_t)n) == 10);
    (void)close(ctl[1]); /* the VM gone: the loop ends */
    {
        int status = 0;

        CHECK(waitpid(pid, &status, 0) == pid);
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    (void)close(out[0]);
}

int main(void)
{
    ctest_tmpfile(path);
    RUN(spent_credit_sends_and_sleeps);
    (void)unlink(path);
    CTEST_END("test_loop");
}
