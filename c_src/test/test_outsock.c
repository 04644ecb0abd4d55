/* outsock: the port's output through a Unix socket (-O), and wire.c's
 * view of what the reader has not read, on a socket and on a pipe. */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "ctest.h"
#include "outsock.h"
#include "wire.h"

static char dir[] = "/tmp/epcap-outsock-XXXXXX";
static char path[sizeof(dir) + 8];

static int listener(void)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);

    memcpy(sa.sun_path, path, strlen(path) + 1);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
        listen(fd, 1) < 0)
        return -1;
    return fd;
}

/* fd 1 saved around a case that replaces it */
static int save_stdout(void)
{
    return fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, 10);
}

static void restore_stdout(int saved)
{
    (void)fflush(stdout);
    (void)dup2(saved, STDOUT_FILENO);
    (void)close(saved);
}

/* What is written on stdout (now the socket) reaches the listener l's
 * peer; stdout is then restored and both ends closed. */
static int peer_reads(int l, int saved, const char *msg)
{
    size_t n = strlen(msg);
    char buf[16] = {0};
    int peer = accept(l, NULL, NULL);
    int ok = peer >= 0 && write(STDOUT_FILENO, msg, n) == (ssize_t)n &&
             read(peer, buf, sizeof(buf)) == (ssize_t)n &&
             memcmp(buf, msg, n) == 0;

    restore_stdout(saved);
    if (peer >= 0)
        (void)close(peer);
    (void)close(l);
    return ok;
}

static void test_refuses_relative_and_long(void)
{
    struct ep_error e = {0};
    char longp[200];
    struct stat before, after;

    CHECK(fstat(STDOUT_FILENO, &before) == 0);
    CHECK(outsock_connect("run/out", &e) < 0 &&
          strcmp(e.reason, "output") == 0);
    memset(longp, 'a', sizeof(longp) - 1);
    longp[0] = '/';
    longp[sizeof(longp) - 1] = '\0';
    CHECK(outsock_connect(longp, &e) < 0 && strcmp(e.reason, "output") == 0);
    /* nothing listens there: refused, and stdout is what it was */
    CHECK(outsock_connect("/nonexistent/epcap/out", &e) < 0);
    CHECK(strstr(e.msg, "connect") != NULL);
    CHECK(fstat(STDOUT_FILENO, &after) == 0);
    CHECK(before.st_ino == after.st_ino && before.st_dev == after.st_dev);
}

static void test_connects_as_stdout(void)
{
    struct ep_error e = {0};
    int l = listener(), saved = save_stdout();
    struct stat st;

    CHECK(l >= 0 && saved >= 0);
    CHECK(outsock_connect(path, &e) == 0);
    CHECK(fstat(STDOUT_FILENO, &st) == 0 && S_ISSOCK(st.st_mode));
    /* stdout stays open across exec, as a pipe would */
    CHECK((fcntl(STDOUT_FILENO, F_GETFD) & FD_CLOEXEC) == 0);
    CHECK(peer_reads(l, saved, "ready"));
    (void)unlink(path);
}

/* "@name": the abstract namespace, as the VM listens (epcap_out.erl) */
static void test_abstract_name(void)
{
    struct ep_error e = {0};
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    const char *name = "epcap-test-outsock-abstract";
    int l = socket(AF_UNIX, SOCK_STREAM, 0), saved = save_stdout();

    memcpy(sa.sun_path + 1, name, strlen(name));
    CHECK(l >= 0 && saved >= 0);
    CHECK(bind(l, (struct sockaddr *)&sa,
               (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 +
                           strlen(name))) == 0);
    CHECK(listen(l, 1) == 0);
    /* a name one byte longer is another name: nothing listens there */
    CHECK(outsock_connect("@epcap-test-outsock-abstractx", &e) < 0);
    CHECK(outsock_connect("@epcap-test-outsock-abstract", &e) == 0);
    CHECK(peer_reads(l, saved, "eof"));
}

/* The batch holds back while the reader is behind: on a socket that is
 * the output queue (FIONREAD there is what we could read: always 0). */
static void test_unread_on_socket_and_pipe(void)
{
    struct wire_batch b;
    int sv[2], p[2], queued = -1;

    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
    CHECK(wire_batch_init(&b, sv[0], 64) == 0);
    CHECK(b.unread_req == TIOCOUTQ);
    CHECK(write(sv[0], "abcd", 4) == 4);
    CHECK(ioctl(sv[0], b.unread_req, &queued) == 0 && queued > 0);
    wire_batch_free(&b);
    CHECK(pipe(p) == 0);
    CHECK(wire_batch_init(&b, p[1], 64) == 0);
    CHECK(b.unread_req == FIONREAD);
    wire_batch_free(&b);
    (void)close(sv[0]);
    (void)close(sv[1]);
    (void)close(p[0]);
    (void)close(p[1]);
}

int main(void)
{
    if (mkdtemp(dir) == NULL)
        return 2;
    (void)snprintf(path, sizeof(path), "%s/out", dir);
    RUN(test_refuses_relative_and_long);
    RUN(test_connects_as_stdout);
    RUN(test_abstract_name);
    RUN(test_unread_on_socket_and_pipe);
    (void)rmdir(dir);
    CTEST_END("test_outsock");
}
