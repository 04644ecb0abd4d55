/* A minimal test harness for the C units. Each test program ends with a line
 * "<name>: N passed, N failed" and exits non-zero on failure; the top-level
 * test runner adds these counts to the total. */
#ifndef EPCAP_CTEST_H
#define EPCAP_CTEST_H

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static int ctest_passed;
static int ctest_failed;
static int ctest_case_failed;

#define CHECK(cond)                                                            \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "  %s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, \
                    #cond);                                                    \
            ctest_case_failed = 1;                                             \
        }                                                                      \
    } while (0)

#define RUN(fn)                                                                \
    do {                                                                       \
        ctest_case_failed = 0;                                                 \
        fn();                                                                  \
        if (ctest_case_failed) {                                               \
            ctest_failed++;                                                    \
            fprintf(stderr, "FAIL %s\n", #fn);                                 \
        } else {                                                               \
            ctest_passed++;                                                    \
            fprintf(stderr, "ok   %s\n", #fn);                                 \
        }                                                                      \
    } while (0)

#define CTEST_END(name)                                                        \
    do {                                                                       \
        printf("%s: %d passed, %d failed\n", name, ctest_passed,               \
               ctest_failed);                                                  \
        return ctest_failed ? EXIT_FAILURE : EXIT_SUCCESS;                     \
    } while (0)

/* Makes `path' (a mkstemp(3) template) the name of a new empty file, for a
 * test program's scratch data; the program cannot run without it. */
static inline void ctest_tmpfile(char *path)
{
    int fd = mkstemp(path);

    if (fd < 0) {
        perror("mkstemp");
        exit(EXIT_FAILURE);
    }
    (void)close(fd);
}

#endif
