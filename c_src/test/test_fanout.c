/* Unit tests for the -F parser and the join's refusals that need no
 * privilege (a savefile, an fd that is not a packet socket). */
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ctest.h"
#include "fanout.h"
#include "options.h"

#define ARGC(a) ((int)(sizeof(a) / sizeof((a)[0])))

static void parse_modes(void)
{
    const char *ok[] = {"1:hash",     "2:lb",     "3:cpu",
                        "4:rollover", "5:random", "6:qm"};
    struct fanout_spec f;

    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        CHECK(fanout_parse(ok[i], &f) == 0);
        CHECK(f.on && f.id == i + 1 && f.mode == i && f.flags == 0);
    }
}

static void parse_ids(void)
{
    struct fanout_spec f;

    CHECK(fanout_parse("0:hash", &f) == 0 && f.id == 0);
    CHECK(fanout_parse("65535:lb", &f) == 0 && f.id == 65535);
    CHECK(fanout_parse("65536:lb", &f) < 0);
    CHECK(fanout_parse("-1:lb", &f) < 0);
    CHECK(fanout_parse("+1:lb", &f) < 0);
    CHECK(fanout_parse(" 1:lb", &f) < 0);
    CHECK(fanout_parse("x:lb", &f) < 0);
    CHECK(fanout_parse(":lb", &f) < 0);
    CHECK(fanout_parse("99999999999999999999:lb", &f) < 0);
}

static void parse_flags(void)
{
    struct fanout_spec f;

    CHECK(fanout_parse("7:hash:defrag", &f) == 0 && f.flags == 1);
    CHECK(fanout_parse("7:hash:rollover", &f) == 0 && f.flags == 2);
    CHECK(fanout_parse("7:hash:defrag,rollover", &f) == 0 && f.flags == 3);
    CHECK(fanout_parse("7:lb:ignore_outgoing", &f) == 0 && f.flags == 4);
    CHECK(fanout_parse("7:hash:", &f) < 0);
    CHECK(fanout_parse("7:hash:defrag,", &f) < 0);
    CHECK(fanout_parse("7:hash:,defrag", &f) < 0);
    CHECK(fanout_parse("7:hash:defrag,defrag", &f) < 0);
    CHECK(fanout_parse("7:hash:uniqueid", &f) < 0);
    CHECK(fanout_parse("7:hash:defrag:x", &f) < 0);
}

static void parse_bad(void)
{
    struct fanout_spec f;

    CHECK(fanout_parse(NULL, &f) < 0 && !f.on);
    CHECK(fanout_parse("", &f) < 0);
    CHECK(fanout_parse("1", &f) < 0);
    CHECK(fanout_parse("1:", &f) < 0);
    CHECK(fanout_parse("1:Hash", &f) < 0);
    CHECK(fanout_parse("1:hashx", &f) < 0);
    CHECK(fanout_parse("1:cbpf", &f) < 0);
}

static void options_flag(void)
{
    char *good[] = {"epcap", "-i", "eth0", "-F", "42:hash:defrag"};
    char *bad[] = {"epcap", "-F", "42:nope"};
    char *none[] = {"epcap", "-i", "eth0"};
    struct options o;
    struct ep_error e;

    CHECK(options_parse(ARGC(good), good, &o, &e) == 0);
    CHECK(o.fanout.on && o.fanout.id == 42 && o.fanout.flags == 1);
    CHECK(options_parse(ARGC(bad), bad, &o, &e) < 0);
    CHECK(strcmp(e.reason, "badarg") == 0);
    CHECK(strstr(e.msg, "-F") != NULL);
    CHECK(options_parse(ARGC(none), none, &o, &e) == 0 && !o.fanout.on);
}

static void join_refusals(void)
{
    struct fanout_spec f;
    struct ep_error e = {0};
    int sv[2];

    CHECK(fanout_parse("3:hash", &f) == 0);
    f.on = false;
    CHECK(fanout_join(&f, -1, &e) == 0);
    f.on = true;
    CHECK(fanout_join(&f, -1, &e) < 0);
    CHECK(strcmp(e.reason, "fanout") == 0);
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
    /* Not a packet socket: the kernel refuses, we report a value. */
    CHECK(fanout_join(&f, sv[0], &e) < 0);
    CHECK(strcmp(e.reason, "fanout") == 0 && strstr(e.msg, "group 3") != NULL);
    CHECK(close(sv[0]) == 0 && close(sv[1]) == 0);
}

int main(void)
{
    RUN(parse_modes);
    RUN(parse_ids);
    RUN(parse_flags);
    RUN(parse_bad);
    RUN(options_flag);
    RUN(join_refusals);
    CTEST_END("test_fanout");
}
