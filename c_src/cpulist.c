#include "cpulist.h"

#include <string.h>

/* A CPU number: decimal digits only, below CPULIST_MAX. */
static const char *parse_cpu(const char *s, unsigned *out)
{
    unsigned v = 0;

    if (*s < '0' || *s > '9')
        return NULL;
    while (*s >= '0' && *s <= '9') {
        v = v * 10 + (unsigned)(*s++ - '0');
        if (v >= CPULIST_MAX)
            return NULL;
    }
    *out = v;
    return s;
}

int cpulist_parse(const char *s, struct cpulist *l)
{
    memset(l, 0, sizeof(*l));
    if (s == NULL)
        return -1;
    for (;;) {
        unsigned lo, hi;

        s = parse_cpu(s, &lo);
        if (s == NULL)
            return -1;
        hi = lo;
        if (*s == '-' && ((s = parse_cpu(s + 1, &hi)) == NULL || hi < lo))
            return -1;
        for (unsigned c = lo; c <= hi; c++)
            l->bits[c / 64] |= (uint64_t)1 << (c % 64);
        if (*s == '\0')
            break;
        if (*s++ != ',')
            return -1;
    }
    l->given = true;
    return 0;
}

bool cpulist_has(const struct cpulist *l, unsigned cpu)
{
    return cpu < CPULIST_MAX && (l->bits[cpu / 64] >> (cpu % 64)) & 1;
}
