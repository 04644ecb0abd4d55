#include "checkfilter.h"

#include <unistd.h>

#include <ei.h>
#include <pcap/pcap.h>

#include "filtercc.h"
#include "privdrop.h"
#include "restrict.h"
#include "wire.h"

static int send_program(const struct bpf_program *prog, struct ep_error *e)
{
    ei_x_buff x;
    int rc = 0;

    if (ei_x_new_with_version(&x) < 0)
        return ep_fail(e, "enomem", "ei_x_new");
    if (ei_x_encode_tuple_header(&x, 2) < 0 ||
        ei_x_encode_atom(&x, "filter") < 0 ||
        ei_x_encode_tuple_header(&x, 2) < 0 || ei_x_encode_atom(&x, "ok") < 0)
        rc = -1;
    /* One line an instruction, as tcpdump -d (its bpf_dump) prints them. */
    for (u_int i = 0; rc == 0 && i < prog->bf_len; i++)
        if (ei_x_encode_list_header(&x, 1) < 0 ||
            ei_x_encode_string(&x, bpf_image(&prog->bf_insns[i], (int)i)) < 0)
            rc = -1;
    if (rc == 0 && ei_x_encode_empty_list(&x) < 0)
        rc = -1;
    if (rc < 0)
        (void)ep_fail(e, "enomem", "encoding the filter program");
    else if (wire_send_term(STDOUT_FILENO, &x) < 0)
        rc = ep_fail_errno(e, "write", "write");
    ei_x_free(&x);
    return rc;
}

int checkfilter_run(const struct options *o, const struct caller *who,
                    struct ep_error *e)
{
    /* Where a capture compiles its filter: dropped, in the jail, and here
     * restricted too (the text is the caller's). So a filter compiles
     * here exactly when a capture would take it (names such as "port
     * http" need /etc/services, which the jail has not). */
    struct privdrop_opts pd = {o->user, o->group, o->chroot_dir, true, who};
    struct restrict_ctx rc = {-1, false, false, -1, -1};
    struct bpf_program prog;
    pcap_t *p;
    int ret;

    if (o->filter == NULL)
        return ep_fail(e, "badarg", "-K needs a filter (-f)");
    p = pcap_open_dead(o->linktype, o->snaplen);
    if (p == NULL)
        return ep_fail(e, "pcap", "pcap_open_dead: link type %d", o->linktype);
    if (privdrop_prepare(&pd, e) < 0 || filtercc_init(STDIN_FILENO, e) < 0 ||
        restrict_init(&rc, e) < 0 || privdrop_apply(e) < 0 ||
        restrict_apply(&rc, e) < 0 ||
        filtercc_compile(p, o->filter, PCAP_NETMASK_UNKNOWN, STDIN_FILENO,
                         &prog, e) < 0) {
        pcap_close(p);
        return -1;
    }
    ret = send_program(&prog, e);
    filtercc_free(&prog);
    pcap_close(p);
    return ret;
}
