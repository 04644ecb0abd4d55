/* The guard on a raised priority: a live capture's port that raised its
 * priority (procenv.c: SCHED_FIFO and/or nice -10) gives it back, for
 * good, once it has used more of its CPU than a normal process beside it
 * can spare. RLIMIT_RTTIME alone does not bound that: every wait resets
 * it, and under a flood the port waits between frames, so whoever sends
 * the packets would decide how long it stays above everyone else
 * (issue 24: a busy loop on the port's CPU kept 15-22 % of it). */
#ifndef EPCAP_RTGUARD_H
#define EPCAP_RTGUARD_H

#include <stdbool.h>
#include <stdint.h>

/* The port may use a third of a CPU at a raised priority, and a burst of
 * 250 ms of CPU time above that: over any stretch of time, its CPU time
 * beyond a third of that stretch may not exceed 250 ms. A flood at a full
 * CPU trips it in 0.375 s, one at 60 % in 0.94 s; a port at a third of a
 * CPU or less never. Why a third: with the flood's source on the port's
 * CPU (the case the priority is for) and one more process there, a third
 * is what each of the three would get at equal priority; so the port may
 * never take more than the process beside it keeps (issue 24 asks for 35 %
 * of what the two use). The burst keeps a short flood's ring drained. */
#define RTGUARD_SHARE_NUM 1
#define RTGUARD_SHARE_DEN 3
#define RTGUARD_BURST_NS  250000000LL
/* How often the loop's hook reads the port's CPU clock (a system call;
 * the monotonic clock it reads each time is the vDSO's). */
#define RTGUARD_SAMPLE_NS 10000000LL

/* The loop's part, zeroed before the first rtguard_tick: no global. */
struct rtguard {
    uint64_t wall_ns; /* CLOCK_MONOTONIC at the last sample, 0: none yet */
    uint64_t cpu_ns;  /* the thread's CPU clock at the last sample */
    int64_t debt_ns;  /* CPU time used beyond the share, 0..burst */
};

/* Pure: adds a stretch of wall_ns in which the port used cpu_ns of CPU to
 * *debt_ns (what it used beyond the share, never below 0). True once the
 * debt exceeds RTGUARD_BURST_NS. */
bool rtguard_account(int64_t *debt_ns, uint64_t wall_ns, uint64_t cpu_ns);

/* procenv.c, before the drop: the port has raised its priority, and goes
 * back to normal_nice (its nice value before) when it leaves. */
void rtguard_arm(int normal_nice);

/* procenv.c: nothing was raised after all. */
void rtguard_disarm(void);

/* Whether the guard watches (armed, and not left yet). */
bool rtguard_armed(void);

/* The nice value rtguard_leave goes back to (restrict_seccomp.c allows
 * setpriority to that value only). */
int rtguard_normal_nice(void);

/* The event loop's hook, once an iteration: samples the port's CPU time
 * every RTGUARD_SAMPLE_NS and leaves (rtguard_leave) when the share is
 * exceeded. Nothing once left or when not armed. */
void rtguard_tick(struct rtguard *g);

/* Back to SCHED_OTHER (with SCHED_RESET_ON_FORK) and, when armed, to the
 * nice value from before; says so on stderr with msg. Async-signal-safe:
 * procenv.c's SIGXCPU handler calls it too. */
void rtguard_leave(const char *msg, unsigned long len);

#endif
