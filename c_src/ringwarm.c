#include "ringwarm.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Why: in immediate mode libpcap's ring is TPACKET_V2, one frame per
 * 128 KiB block at the default snaplen, so a stream of small packets
 * touches a new page with each of the ring's first frames. The first
 * touch of a page is a fault in the port's address space, and in a
 * virtual machine with shadow paging it cost 11.7 us a page where
 * 64-byte frames arrive every 6.7 us at 150 k packets/s: the port fell
 * behind on the ring's first round and the kernel dropped hundreds of
 * frames at the start of every burst (bench/RESULTS.md, section 0.00).
 * One sequential read of every page at start costs 1.3 ms for libpcap's
 * default ring and 37 ms for a 64 MiB buffer there, and nothing after. */

static const char *skip_spaces(const char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    return s;
}

static const char *skip_field(const char *s)
{
    while (*s != '\0' && *s != ' ' && *s != '\t' && *s != '\n')
        s++;
    return s;
}

/* A hexadecimal or decimal number that ends at one of the characters of
 * stop; NULL if there is none. */
static const char *number(const char *s, int base, const char *stop,
                          unsigned long long *v)
{
    char *end = NULL;

    if (*s < '0' || (*s > '9' && base == 10) ||
        (base == 16 && strchr("0123456789abcdefABCDEF", *s) == NULL))
        return NULL;
    errno = 0;
    *v = strtoull(s, &end, base);
    if (errno != 0 || end == s || *end == '\0' || strchr(stop, *end) == NULL)
        return NULL;
    return end;
}

bool ringwarm_match(const char *line, unsigned long ino, uintptr_t *lo,
                    uintptr_t *hi)
{
    unsigned long long a, b, node;
    char want[48];
    int n;
    const char *s = number(line, 16, "-", &a);

    /* start-end perms offset dev inode path */
    if (s == NULL || (s = number(s + 1, 16, " ", &b)) == NULL || b <= a ||
        b > UINTPTR_MAX)
        return false;
    s = skip_spaces(s);
    if (s[0] != 'r') /* reading an unreadable page would be SIGSEGV */
        return false;
    s = skip_spaces(skip_field(s)); /* perms */
    s = skip_spaces(skip_field(s)); /* offset */
    s = skip_spaces(skip_field(s)); /* device */
    if ((s = number(s, 10, " \t\n", &node)) == NULL || node != ino)
        return false;
    s = skip_spaces(s);
    n = snprintf(want, sizeof(want), "socket:[%lu]", ino);
    if (n < 0 || (size_t)n >= sizeof(want) || strncmp(s, want, (size_t)n) != 0)
        return false;
    s += n;
    if (*s != '\0' && *s != '\n')
        return false;
    *lo = (uintptr_t)a;
    *hi = (uintptr_t)b;
    return true;
}

size_t ringwarm_range(uintptr_t lo, uintptr_t hi, uintptr_t page)
{
    for (uintptr_t at = lo; at < hi; at += page) {
        /* The address is the kernel's own listing of our mapping. */
        // NOLINTNEXTLINE(performance-no-int-to-ptr)
        const volatile unsigned char *p = (const volatile unsigned char *)at;

        (void)*p;
    }
    return (size_t)(hi - lo);
}

size_t ringwarm(int fd)
{
#ifdef __linux__
    struct stat st;
    long page = sysconf(_SC_PAGESIZE);
    FILE *maps;
    char *line = NULL;
    size_t cap = 0, warmed = 0;
    uintptr_t lo, hi;

    if (page <= 0 || fstat(fd, &st) != 0 || !S_ISSOCK(st.st_mode))
        return 0;
    maps = fopen("/proc/self/maps", "re");
    if (maps == NULL)
        return 0;
    while (getline(&line, &cap, maps) > 0)
        if (ringwarm_match(line, (unsigned long)st.st_ino, &lo, &hi))
            warmed += ringwarm_range(lo, hi, (uintptr_t)page);
    free(line);
    (void)fclose(maps);
    return warmed;
#else
    (void)fd;
    return 0;
#endif
}
