/* rtguard.c: the share computation (pure), then the hook in a forked
 * child that spins or mostly sleeps at a raised priority (root). */
#include <errno.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ctest.h"
#include "procenv.h"
#include "rtguard.h"

#define MS 1000000ULL

/* Stretches of step_ms of wall time with cpu_ms of CPU each, until the
 * guard trips or max_ms have passed: the wall time at which it tripped,
 * or 0. */
static uint64_t trips_after(int64_t *debt, uint64_t step_ms, uint64_t cpu_ms,
                            uint64_t max_ms)
{
    for (uint64_t t = step_ms; t <= max_ms; t += step_ms)
        if (rtguard_account(debt, step_ms * MS, cpu_ms * MS))
            return t;
    return 0;
}

/* At exactly the share, or below it, never; the debt stays at 0. */
static void share_never_trips_at_or_below(void)
{
    int64_t debt = 0;

    CHECK(trips_after(&debt, 30, 10, 600000) == 0);
    CHECK(debt == 0);
    CHECK(trips_after(&debt, 10, 3, 600000) == 0);
    CHECK(debt == 0);
    CHECK(trips_after(&debt, 10, 0, 1000) == 0);
    CHECK(debt == 0);
}

/* A full CPU: 250 ms of debt at 2/3 of a ms per ms: 375 ms (in 10 ms
 * steps, the first past it: 380). 60 %: 250 / 0.2667 = 938 ms. */
static void share_trips_on_a_flood(void)
{
    int64_t debt = 0;

    CHECK(trips_after(&debt, 10, 10, 10000) == 380);
    CHECK(debt == RTGUARD_BURST_NS);
    debt = 0;
    CHECK(trips_after(&debt, 10, 6, 10000) == 940);
    debt = 0;
    /* 40 %: 250 / 0.0667 = 3750 ms */
    CHECK(trips_after(&debt, 10, 4, 10000) == 3750);
}

/* A burst below the allowance, a pause, another burst: no trip; the
 * pause paid the debt off. */
static void share_pause_pays_debt(void)
{
    int64_t debt = 0;

    CHECK(trips_after(&debt, 10, 10, 300) == 0);
    CHECK(debt > 190 * (int64_t)MS && debt < 210 * (int64_t)MS);
    CHECK(!rtguard_account(&debt, 1000 * MS, 0));
    CHECK(debt == 0);
    CHECK(trips_after(&debt, 10, 10, 300) == 0);
    /* the debt never goes below 0: a long pause is no credit for later */
    CHECK(!rtguard_account(&debt, 3600000 * MS, 0));
    CHECK(debt == 0);
    CHECK(trips_after(&debt, 10, 10, 10000) == 380);
}

/* Clock values no run can give: no overflow, no trip from granularity. */
static void share_odd_inputs(void)
{
    int64_t debt = 0;

    CHECK(!rtguard_account(&debt, UINT64_MAX, UINT64_MAX / 4));
    CHECK(debt == 0);
    CHECK(rtguard_account(&debt, UINT64_MAX, UINT64_MAX));
    /* CPU time above the wall time counts as the wall time */
    debt = 0;
    CHECK(!rtguard_account(&debt, 1 * MS, 50000 * MS));
    CHECK(debt < 1 * (int64_t)MS);
    CHECK(!rtguard_account(&debt, 0, 0));
}

static uint64_t now_ns(void)
{
    struct timespec ts;

    (void)clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void burn(uint64_t ns)
{
    uint64_t end = now_ns() + ns;

    while (now_ns() < end)
        ;
}

/* In a forked child at SCHED_FIFO over nice -10, armed to go back to nice
 * 5: for at most 4 s, work busy_ms and sleep idle_ms, calling the hook
 * after each. Exit 0 if it left (and is at SCHED_OTHER, nice 5) when
 * want_left, or stayed (SCHED_FIFO, nice -10) when not; else 2 to 4. */
static int child_run(unsigned busy_ms, unsigned idle_ms, int want_left)
{
    struct rtguard g;
    uint64_t end;
    int status;
    pid_t pid;

    fflush(NULL);
    pid = fork();
    if (pid != 0)
        return pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status)
                   ? WEXITSTATUS(status)
                   : -1;
    memset(&g, 0, sizeof(g));
    if (setpriority(PRIO_PROCESS, 0, 5) != 0)
        _exit(2);
    rtguard_arm(5);
    if (setpriority(PRIO_PROCESS, 0, PROCENV_LIVE_NICE) != 0 ||
        procenv_realtime(10000000L) != 0)
        _exit(2);
    end = now_ns() + 4000 * MS;
    while (rtguard_armed() && now_ns() < end) {
        burn(busy_ms * MS);
        if (idle_ms > 0)
            (void)nanosleep(&(struct timespec){0, (long)(idle_ms * MS)}, NULL);
        rtguard_tick(&g);
    }
    int policy = sched_getscheduler(0) & ~SCHED_RESET_ON_FORK;

    errno = 0;
    int nice = getpriority(PRIO_PROCESS, 0);

    if (want_left && rtguard_armed())
        _exit(3);
    if (want_left)
        _exit(policy == SCHED_OTHER && nice == 5 ? 0 : 4);
    _exit(!rtguard_armed() ? 3 : policy == SCHED_FIFO && nice == -10 ? 0 : 4);
}

/* A port that spins leaves within the burst's time (0.375 s at a full
 * CPU; the child has 4 s); one that works 1 ms in 5 stays real-time. Root
 * only (CI runs as root): a raised priority gives the child its CPU on a
 * busy machine, where a share measured at nice 0 would be anybody's. */
static void tick_leaves_when_spinning(void)
{
    if (geteuid() != 0) {
        fprintf(stderr, "  skipped: needs root\n");
        return;
    }
    CHECK(child_run(1, 0, 1) == 0);
    CHECK(child_run(1, 4, 0) == 0);
}

/* {priority, raised}: nice -10 alone is given back the same way, to the
 * nice value from before, and the guard stops watching. (The tick's
 * timing is left to the SCHED_FIFO case: at nice -10 on a busy machine the
 * child's share of its CPU is the other processes' to decide.) */
static void leave_restores_nice(void)
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
        static const char msg[] = "  (left)\n";

        if (setpriority(PRIO_PROCESS, 0, 5) != 0)
            _exit(2);
        rtguard_arm(5);
        if (setpriority(PRIO_PROCESS, 0, PROCENV_LIVE_NICE) != 0)
            _exit(2);
        rtguard_leave(msg, sizeof(msg) - 1);
        errno = 0;
        _exit(!rtguard_armed() && getpriority(PRIO_PROCESS, 0) == 5 &&
                      (sched_getscheduler(0) & ~SCHED_RESET_ON_FORK) ==
                          SCHED_OTHER
                  ? 0
                  : 3);
    }
    CHECK(pid > 0 && waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/* Not armed (a port that raised nothing): the hook does nothing. */
static void tick_unarmed_is_inert(void)
{
    struct rtguard g;
    uint64_t end = now_ns() + 100 * MS;

    memset(&g, 0, sizeof(g));
    rtguard_disarm();
    while (now_ns() < end)
        rtguard_tick(&g);
    CHECK(!rtguard_armed());
    CHECK(g.wall_ns == 0 && g.debt_ns == 0);
}

int main(void)
{
    RUN(share_never_trips_at_or_below);
    RUN(share_trips_on_a_flood);
    RUN(share_pause_pays_debt);
    RUN(share_odd_inputs);
    RUN(tick_unarmed_is_inert);
    RUN(tick_leaves_when_spinning);
    RUN(leave_restores_nice);
    CTEST_END("test_rtguard");
}
