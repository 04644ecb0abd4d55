/* -E and -a: parsed by options.c (pure), applied by procenv.c. */
#include <sched.h>
#include <stdlib.h>
#include <string.h>

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
    CTEST_END("test_procenv");
}
