/* CPU lists as taskset -c and /sys write them: "0", "1,3", "5-7", "0-3,8". */
#ifndef EPCAP_CPULIST_H
#define EPCAP_CPULIST_H

#include <stdbool.h>
#include <stdint.h>

/* As many CPUs as glibc's cpu_set_t holds. */
#define CPULIST_MAX 1024

struct cpulist {
    bool given; /* false: leave the affinity alone */
    uint64_t bits[CPULIST_MAX / 64];
};

/* Parse s into l (pure). Returns 0, or -1 if s is empty, malformed, has a
 * descending range or names a CPU >= CPULIST_MAX. */
int cpulist_parse(const char *s, struct cpulist *l);

bool cpulist_has(const struct cpulist *l, unsigned cpu);

#endif
