/* -E and -a: parsed by options.c (pure), applied by procenv.c. */
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cpulist.h"
#include "ctest.h"
#include "options.h"
#include "procenv.h"

#define ARGC(a) ((int)(sizeof(a) / sizeof((a)[0])))

static void cpulist_accepts(void)
{
    struct cpulist l;

    CHECK(cpulist_parse("0", &l) == 0 && l.given && cpulist_has(&l, 0));
    CHECK(!cpulist_has(&l, 1));
    CHECK(cpulist_parse("1,3,5-7", &l) == 0);
    CHECK(!cpulist_has(&l, 0) && cpulist_has(&l, 1) && !cpulist_has(&l, 2));
    CHECK(cpulist_has(&l, 3) && !cpulist_has(&l, 4) && cpulist_has(&l, 5));
    CHECK(cpulist_has(&l, 6) && cpulist_has(&l, 7) && !cpulist_has(&l, 8));
    CHECK(cpulist_parse("1023", &l) == 0 && cpulist_has(&l, 1023));
    CHECK(cpulist_parse("4-4", &l) == 0 && cpulist_has(&l, 4));
}

static void cpulist_rejects(void)
{
    const char *bad[] = {"",       ",",   "1,",    ",1",
                         "1-",     "-1",  "3-1",   "a",
                         "1 2",    "1;2", "1-2-3", "1024",
                         "0-1024", "+1",  " 1",    "99999999999999999999"};
    struct cpulist l;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        CHECK(cpulist_parse(bad[i], &l) == -1);
        CHECK(!l.given);
    }
    CHECK(cpulist_parse(NULL, &l) == -1);
}

static void options_env_and_cpus(void)
{
    char *argv[] = {"epcap", "-E",        "PCAP_PF_RING_CLUSTER_ID=7",
                    "-E",    "PCAP_X_2=", "-a",
                    "0,2-3", "-r",        "f.pcap"};
    struct options o;
    struct ep_error e;

    CHECK(options_parse(ARGC(argv), argv, &o, &e) == 0);
    CHECK(o.n_env == 2);
    CHECK(strcmp(o.env[0], "PCAP_PF_RING_CLUSTER_ID=7") == 0);
    CHECK(strcmp(o.env[1], "PCAP_X_2=") == 0);
    CHECK(o.cpus.given && cpulist_has(&o.cpus, 0) && cpulist_has(&o.cpus, 3));
    CHECK(!cpulist_has(&o.cpus, 1));
}

/* Only PCAP_ names: the port may run as root right after sudo, and any
 * other variable (LD_PRELOAD, GCONV_PATH, MALLOC_*) could take it over. */
static void options_env_rejects(void)
{
    const char *bad[] = {"LD_PRELOAD=/tmp/x.so",
                         "PCAP_",
                         "PCAP_=1",
                         "PCAP_X",
                         "pcap_x=1",
                         "PCAP_x=1",
                         "PCAP_A-B=1",
                         "XPCAP_A=1",
                         "=1",
                         "PCAP_A B=1",
                         "GCONV_PATH=/tmp"};
    struct options o;
    struct ep_error e;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char *argv[] = {"epcap", "-E", (char *)bad[i]};

        e.reason = NULL;
        CHECK(options_parse(3, argv, &o, &e) == -1);
        CHECK(e.reason != NULL && strcmp(e.reason, "badarg") == 0);
    }
}

static void options_env_bounded(void)
{
    char *argv[1 + 2 * (EPCAP_ENV_MAX + 1)];
    struct options o;
    struct ep_error e;

    argv[0] = "epcap";
    for (int i = 0; i <= EPCAP_ENV_MAX; i++) {
        argv[1 + 2 * i] = "-E";
        argv[2 + 2 * i] = "PCAP_A=1";
    }
    CHECK(options_parse(ARGC(argv) - 2, argv, &o, &e) == 0);
    CHECK(o.n_env == EPCAP_ENV_MAX);
    CHECK(options_parse(ARGC(argv), argv, &o, &e) == -1);
}

static void options_cpus_rejects(void)
{
    char *argv[] = {"epcap", "-a", "3-1"};
    struct options o;
    struct ep_error e;

    CHECK(options_parse(3, argv, &o, &e) == -1);
    CHECK(strcmp(e.reason, "badarg") == 0 && strstr(e.msg, "-a") != NULL);
}

static void procenv_sets_env(void)
{
    char *argv[] = {"epcap", "-E", "PCAP_EPCAP_TEST=a=b"};
    struct options o;
    struct ep_error e;
    const char *v;

    (void)unsetenv("PCAP_EPCAP_TEST");
    CHECK(options_parse(3, argv, &o, &e) == 0);
    CHECK(procenv_apply(&o, &e) == 0);
    v = getenv("PCAP_EPCAP_TEST");
    CHECK(v != NULL && strcmp(v, "a=b") == 0);
}

static void procenv_sets_affinity(void)
{
    cpu_set_t before, after;
    char *argv[] = {"epcap", "-a", "0"};
    char *none[] = {"epcap", "-a", "1000"};
    struct options o;
    struct ep_error e;

    CHECK(sched_getaffinity(0, sizeof(before), &before) == 0);
    CHECK(options_parse(3, argv, &o, &e) == 0);
    CHECK(procenv_apply(&o, &e) == 0);
    CHECK(sched_getaffinity(0, sizeof(after), &after) == 0);
    CHECK(CPU_COUNT(&after) == 1 && CPU_ISSET(0, &after));
    /* A CPU this machine does not have: an error value, not a crash. */
    CHECK(options_parse(3, none, &o, &e) == 0);
    CHECK(procenv_apply(&o, &e) == -1);
    CHECK(strcmp(e.reason, "cpu_affinity") == 0);
    CHECK(sched_setaffinity(0, sizeof(before), &before) == 0);
}

static void options_priority(void)
{
    char *raised[] = {"epcap", "-i", "lo"};
    char *normal[] = {"epcap", "-i", "lo", "-N"};
    char *rt[] = {"epcap", "-i", "lo", "-T"};
    struct options o;
    struct ep_error e;

    CHECK(options_parse(ARGC(raised), raised, &o, &e) == 0);
    CHECK(o.priority == PRIORITY_RAISED);
    CHECK(options_parse(ARGC(normal), normal, &o, &e) == 0);
    CHECK(o.priority == PRIORITY_NORMAL);
    CHECK(options_parse(ARGC(rt), rt, &o, &e) == 0);
    CHECK(o.priority == PRIORITY_REALTIME);
}

/* The policy and nice value of a child that the caller forks. */
static int policy_and_nice(int *child_policy, int *child_nice)
{
    int fds[2], status;
    pid_t pid;

    if (pipe(fds) < 0)
        return -1;
    pid = fork();
    if (pid == 0) {
        int v[2];

        errno = 0;
        v[0] = sched_getscheduler(0);
        v[1] = getpriority(PRIO_PROCESS, 0);
        _exit(write(fds[1], v, sizeof(v)) == (ssize_t)sizeof(v) ? 0 : 1);
    }
    (void)close(fds[1]);
    if (pid < 0 || waitpid(pid, &status, 0) != pid)
        return -1;
    int v[2];
    ssize_t n = read(fds[0], v, sizeof(v));

    (void)close(fds[0]);
    if (n != (ssize_t)sizeof(v))
        return -1;
    *child_policy = v[0];
    *child_nice = v[1];
    return 0;
}

/* In a child of the test (it changes the process's scheduling): what
 * procenv_apply makes of argv, checked against the wanted policy and nice
 * value, and that a child of the port runs SCHED_OTHER at nice 0 (the
 * filter compiler). Exit 0, or 1 on a mismatch. */
static int scheduled_as(char **argv, int argc, int want_policy, int want_nice)
{
    struct options o;
    struct ep_error e;
    int status, cp = -1, cn = -1;
    pid_t pid;

    fflush(NULL);
    pid = fork();
    if (pid == 0) {
        if (options_parse(argc, argv, &o, &e) != 0 ||
            procenv_apply(&o, &e) != 0)
            _exit(1);
        int p = sched_getscheduler(0) & ~SCHED_RESET_ON_FORK;

        errno = 0;
        int n = getpriority(PRIO_PROCESS, 0);

        if (p != want_policy || n != want_nice) {
            fprintf(stderr, "  policy %d nice %d, want %d %d\n", p, n,
                    want_policy, want_nice);
            _exit(1);
        }
        if (policy_and_nice(&cp, &cn) != 0 || cp != SCHED_OTHER || cn != 0) {
            fprintf(stderr, "  the child: policy %d nice %d\n", cp, cn);
            _exit(1);
        }
        _exit(0);
    }
    if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
        return -1;
    return WEXITSTATUS(status);
}

/* -T: SCHED_FIFO over nice -10; none: nice -10; -N: as it was. Root only
 * (CI runs as root): without CAP_SYS_NICE the port keeps its priority. */
static void procenv_sets_priority(void)
{
    char *rt[] = {"epcap", "-i", "lo", "-T"};
    char *raised[] = {"epcap", "-i", "lo"};
    char *file[] = {"epcap", "-r", "x.pcap", "-T"};

    if (geteuid() != 0) {
        fprintf(stderr, "  skipped: needs root\n");
        return;
    }
    errno = 0;
    int nice0 = getpriority(PRIO_PROCESS, 0);

    CHECK(scheduled_as(rt, ARGC(rt), SCHED_FIFO, PROCENV_LIVE_NICE) == 0);
    CHECK(scheduled_as(raised, ARGC(raised), SCHED_OTHER, PROCENV_LIVE_NICE) ==
          0);
    /* a file capture: nothing changes, children included */
    CHECK(nice0 != 0 ||
          scheduled_as(file, ARGC(file), SCHED_OTHER, nice0) == 0);
}

/* The RLIMIT_RTTIME handler takes a port that has not paused for the
 * limit back to SCHED_OTHER, and the port lives on. */
static void procenv_realtime_gives_up(void)
{
    int status;
    pid_t pid;

    if (geteuid() != 0) {
        fprintf(stderr, "  skipped: needs root\n");
        return;
    }
    fflush(NULL);
    pid = fork();
    if (pid == 0) {
        struct timespec t0, t;

        if (procenv_realtime(40000) != 0 ||
            (sched_getscheduler(0) & ~SCHED_RESET_ON_FORK) != SCHED_FIFO)
            _exit(2);
        /* spin (no pause) until demoted, for at most 2 s of wall time */
        (void)clock_gettime(CLOCK_MONOTONIC, &t0);
        do {
            if ((sched_getscheduler(0) & ~SCHED_RESET_ON_FORK) == SCHED_OTHER)
                _exit(0);
            (void)clock_gettime(CLOCK_MONOTONIC, &t);
        } while (t.tv_sec - t0.tv_sec < 2);
        _exit(3);
    }
    CHECK(pid > 0 && waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

int main(void)
{
    RUN(cpulist_accepts);
    RUN(cpulist_rejects);
    RUN(options_env_and_cpus);
    RUN(options_env_rejects);
    RUN(options_env_bounded);
    RUN(options_cpus_rejects);
    RUN(procenv_sets_env);
    RUN(procenv_sets_affinity);
    RUN(options_priority);
    RUN(procenv_sets_priority);
    RUN(procenv_realtime_gives_up);
    CTEST_END("test_procenv");
}
