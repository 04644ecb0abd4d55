/* epcap: the port program. main() only orchestrates the order of work
 * (doc/security.md): arm the parent-death signal, parse options, open the
 * chroot directory, open libpcap while privileged, drop privileges,
 * compile and set the filter, restrict the process, say `ready`, then run
 * the event loop.
 * Every failure is reported to Erlang as {error, {Reason, Msg}}. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#include "caller.h"
#include "capture.h"
#include "checkfilter.h"
#include "errors.h"
#include "fanout.h"
#include "filtercc.h"
#include "interfaces.h"
#include "logfifo.h"
#include "loop.h"
#include "options.h"
#include "outsock.h"
#include "privcheck.h"
#include "privdrop.h"
#include "procenv.h"
#include "restrict.h"
#include "saver.h"
#include "version.h"
#include "wire.h"

#define EXIT_REPORTED     1 /* an error term was sent (or could not be) */
#define LAST_WORD_WAIT_MS 5000

/* After our last word (eof or an error), wait for the Erlang side to close
 * stdin before exiting. If we exited at once, a credit grant written in the
 * meantime would fail with EPIPE, and the runtime would then drop the
 * output we had not yet had read: the eof or error itself. Bounded, for
 * the case where nobody is listening. */
static void await_close(void)
{
    char buf[4096];
    struct pollfd pfd = {.fd = STDIN_FILENO, .events = POLLIN};

    for (;;) {
        int n = poll(&pfd, 1, LAST_WORD_WAIT_MS);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0 || read(STDIN_FILENO, buf, sizeof(buf)) <= 0)
            return;
    }
}

static int report(const struct ep_error *e)
{
    if (wire_send_error(STDOUT_FILENO, e) < 0)
        ep_log(e);
    else
        await_close();
    return EXIT_REPORTED;
}

/* The parent may be the VM or a wrapper (sudo). If it dies we must too;
 * stdin EOF covers the VM, this covers wrappers. Armed first thing, before
 * anything that can block or take long as root; the kernel clears it on
 * every change of effective ids, so it is armed again after each. The
 * parent is the one we started with: if it has changed, it has died. */
static int die_with_parent(struct ep_error *e)
{
#ifdef __linux__
    static pid_t parent;

    if (parent == 0)
        parent = getppid();
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
        return ep_fail_errno(e, "prctl", "PR_SET_PDEATHSIG");
    if (getppid() != parent)
        return ep_fail(e, "orphan", "parent exited before start-up");
#else
    (void)e;
#endif
    return 0;
}

/* A 64 KiB pipe splits every 256 KiB batch into several reads and wakeups
 * on the VM's side. Ask for 1 MiB (the unprivileged maximum); stdout may
 * not be a pipe, or the limit lower: then we keep what we have. */
static void widen_stdout(void)
{
#ifdef F_SETPIPE_SZ
    (void)fcntl(STDOUT_FILENO, F_SETPIPE_SZ, 1 << 20);
#endif
    /* The output socket (-O): as much. A Unix socket's send buffer is
     * what may wait for the VM; its default (net.core.wmem_default, about
     * 208 KiB) is less than one batch, which would then go out in pieces,
     * a wakeup each. Still privileged here, we may force it past
     * net.core.wmem_max; if not, we ask for what the limit allows. */
    if (setsockopt(STDOUT_FILENO, SOL_SOCKET, SO_SNDBUFFORCE, &(int){1 << 20},
                   sizeof(int)) < 0)
        (void)setsockopt(STDOUT_FILENO, SOL_SOCKET, SO_SNDBUF, &(int){1 << 20},
                         sizeof(int));
}

/* Saving: the directory is opened before the drop, with the caller's
 * rights (useropen.h), which changes our effective ids for a moment. */
static int save_prepare(const struct options *o, struct saver *sv,
                        struct ep_error *e)
{
    if (o->save.path == NULL)
        return 0;
    return saver_prepare(sv, &o->save, e);
}

/* ... and its first file is made after the drop, before the seccomp
 * filter (Landlock is set up then, too). */
static int save_start(const struct options *o, struct capture *c,
                      struct saver *sv, struct ep_error *e)
{
    struct save_iface i = {c->dlt,    (uint32_t)pcap_snapshot(c->p),
                           o->nano,   c->live ? c->dev : NULL,
                           o->filter, "epcap " EPCAP_VERSION,
                           NULL};

    if (o->save.path == NULL)
        return 0;
    return saver_start(sv, &i, c->p, c->live, e);
}

static int start(const struct options *o, const struct caller *who,
                 struct capture *c, struct saver *sv, struct ep_error *e)
{
    struct privdrop_opts pd = {o->user, o->group, o->chroot_dir, true, who};
    struct restrict_ctx rc;

    if (privdrop_prepare(&pd, e) < 0 || procenv_apply(o, e) < 0 ||
        capture_open(o, c, e) < 0 || fanout_join(&o->fanout, c->fd, e) < 0 ||
        save_prepare(o, sv, e) < 0 || die_with_parent(e) < 0)
        return -1;
    widen_stdout();
    rc.pcap_fd = c->fd;
    rc.inject = o->inject;
    rc.live = c->live;
    rc.save_dir = o->save.path != NULL ? sv->dirfd : -1;
    rc.save_fd = o->save.path != NULL ? sv->slot : -1;
    if (filtercc_init(STDIN_FILENO, e) < 0 || restrict_init(&rc, e) < 0 ||
        privdrop_apply(e) < 0 || die_with_parent(e) < 0)
        return -1;
    if (o->verbose)
        fprintf(stderr,
                "epcap: dropped to uid %ld gid %ld, chroot %s; sandbox %s\n",
                (long)getuid(), (long)getgid(),
                o->chroot_dir ? o->chroot_dir : "the default when root",
                restrict_mode());
    /* After the drop: the compile is unbounded work (filtercc.h). */
    if (o->filter != NULL && capture_setfilter(c, o->filter, e) < 0)
        return -1;
    if (save_start(o, c, sv, e) < 0 || restrict_apply(&rc, e) < 0)
        return -1;
    if (wire_send_ready(STDOUT_FILENO, c->dlt, (long)getpid(), o->nano,
                        restrict_mode(), pcap_snapshot(c->p)) < 0)
        return ep_fail_errno(e, "write", "write");
    return 0;
}

/* pcap_findalldevs needs no privilege on Linux: drop before it runs. It
 * needs sockets and /sys, so no sandbox and no chroot. */
static int list_interfaces(const struct options *o, const struct caller *who,
                           struct ep_error *e)
{
    struct privdrop_opts pd = {o->user, o->group, NULL, false, who};

    if (privdrop_prepare(&pd, e) < 0 || privdrop_apply(e) < 0)
        return -1;
    return interfaces_send(STDOUT_FILENO, e);
}

/* -R: no capture at all, so nothing privileged is kept for it. Run by
 * sudo or with capabilities it relays as the caller, or not at all. */
static int relay_as_caller(const struct caller *who, const char *fifo)
{
    struct ep_error e = {0};

    if (caller_become(who, &e) < 0 || die_with_parent(&e) < 0) {
        ep_log(&e);
        return EXIT_REPORTED;
    }
    return logfifo_relay(fifo);
}

/* -2: the FIFO is made and opened with the caller's ids, so that root's
 * rights never create a name where the caller could not. */
static int stderr_as_caller(const struct caller *who, const char *fifo,
                            struct ep_error *e)
{
    if (caller_enter(who, e) < 0)
        return -1;
    logfifo_open(fifo);
    if (caller_leave(who, e) < 0)
        return -1;
    return die_with_parent(e);
}

/* -O: the socket is reached with the caller's ids, as the FIFO is: root's
 * rights never connect to a socket the caller could not. */
static int output_as_caller(const struct caller *who, const char *path,
                            struct ep_error *e)
{
    int rc;

    if (caller_enter(who, e) < 0)
        return -1;
    rc = outsock_connect(path, e);
    if (caller_leave(who, e) < 0)
        return -1;
    if (rc < 0)
        return -1;
    return die_with_parent(e);
}

int main(int argc, char *argv[])
{
    struct ep_error e = {0};
    struct options o;
    struct caller who;
    struct capture c = {0};
    struct saver sv = {.dirfd = -1, .slot = -1};
    enum loop_end end;

    if (die_with_parent(&e) < 0)
        return report(&e);
    /* A closed pipe must be an EPIPE we can handle, not a silent death. */
    if (signal(SIGPIPE, SIG_IGN) == SIG_ERR)
        return report(&(struct ep_error){"signal", "SIGPIPE"});
    if (options_parse(argc, argv, &o, &e) < 0)
        return report(&e);
    if (caller_identify(&who, &e) < 0)
        return report(&e);
    if (o.relay_fifo != NULL)
        return relay_as_caller(&who, o.relay_fifo);
    if (o.stderr_fifo != NULL && stderr_as_caller(&who, o.stderr_fifo, &e) < 0)
        return report(&e);
    if (o.out_socket != NULL && output_as_caller(&who, o.out_socket, &e) < 0)
        return report(&e);
    if (o.help) {
        options_usage(argv[0]);
        return 0;
    }
    if (o.query_privilege)
        return privcheck_print();
    if (o.list_interfaces)
        return list_interfaces(&o, &who, &e) < 0 ? report(&e) : 0;
    if (o.compile_only)
        return checkfilter_run(&o, &who, &e) < 0 ? report(&e) : 0;
    if (start(&o, &who, &c, &sv, &e) < 0) {
        (void)saver_finish(&sv);
        saver_free(&sv);
        capture_close(&c);
        return report(&e);
    }
    end = loop_run(&c, o.inject, o.save.path != NULL ? &sv : NULL, STDIN_FILENO,
                   STDOUT_FILENO, &e);
    (void)saver_finish(&sv); /* the loop's early failures */
    saver_free(&sv);
    capture_close(&c);
    if (end == LOOP_ERROR)
        return report(&e);
    if (end == LOOP_FILE_EOF)
        await_close();
    return 0;
}
