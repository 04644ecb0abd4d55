/* errors.c: the stderr line of an error Erlang could not be sent. */
#include <string.h>
#include <unistd.h>

#include "ctest.h"
#include "errors.h"

/* ep_log's output for e, captured through a pipe on stderr. */
static void logged(const struct ep_error *e, char *buf, size_t len)
{
    int p[2], saved = dup(2);
    ssize_t n;

    if (saved < 0 || pipe(p) < 0 || dup2(p[1], 2) < 0)
        return;
    ep_log(e);
    fflush(stderr);
    (void)dup2(saved, 2);
    (void)close(saved);
    (void)close(p[1]);
    n = read(p[0], buf, len - 1);
    buf[n > 0 ? n : 0] = '\0';
    (void)close(p[0]);
}

/* Issue 15, item 9: "epcap: write: write: Broken pipe". */
static void log_no_doubled_prefix(void)
{
    struct ep_error e = {0};
    char out[600] = "";

    (void)ep_fail(&e, "write", "write: %s", "Broken pipe");
    logged(&e, out, sizeof(out));
    CHECK(strcmp(out, "epcap: write: Broken pipe\n") == 0);
}

static void log_reason_and_message(void)
{
    struct ep_error e = {0};
    char out[600] = "";

    (void)ep_fail(&e, "filter", "syntax error");
    logged(&e, out, sizeof(out));
    CHECK(strcmp(out, "epcap: filter: syntax error\n") == 0);
    /* A message that merely begins with the reason's letters. */
    (void)ep_fail(&e, "file", "filename too long");
    logged(&e, out, sizeof(out));
    CHECK(strcmp(out, "epcap: file: filename too long\n") == 0);
}

int main(void)
{
    RUN(log_no_doubled_prefix);
    RUN(log_reason_and_message);
    CTEST_END("test_errors");
}
