#include "interfaces.h"

#include <netinet/in.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>

#include <ei.h>
#include <pcap/pcap.h>

#include "wire.h"

/* Defined by nodbus.c, when the port is linked with its refusing libdbus
 * stubs (a static libpcap): weak, so that it is NULL otherwise. */
extern const int epcap_without_dbus __attribute__((weak));

/* libpcap lists dbus-system and dbus-session whatever it can open; a
 * port without D-Bus cannot open them, so it does not list them. */
static bool can_open(const pcap_if_t *d)
{
    return &epcap_without_dbus == NULL || strncmp(d->name, "dbus-", 5) != 0;
}

/* inet's forms: {A,B,C,D} and {A,...,H}; other families are skipped. */
static int encode_sockaddr(ei_x_buff *x, const struct sockaddr *sa)
{
    if (sa == NULL)
        return ei_x_encode_atom(x, "undefined");
    if (sa->sa_family == AF_INET) {
        const uint8_t *a =
            (const uint8_t *)&((const struct sockaddr_in *)(const void *)sa)
                ->sin_addr;
        if (ei_x_encode_tuple_header(x, 4) < 0)
            return -1;
        for (int i = 0; i < 4; i++)
            if (ei_x_encode_long(x, a[i]) < 0)
                return -1;
        return 0;
    }
    if (sa->sa_family == AF_INET6) {
        const uint8_t *a =
            ((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr.s6_addr;
        if (ei_x_encode_tuple_header(x, 8) < 0)
            return -1;
        for (int i = 0; i < 16; i += 2)
            if (ei_x_encode_long(x, a[i] << 8 | a[i + 1]) < 0)
                return -1;
        return 0;
    }
    return ei_x_encode_atom(x, "undefined");
}

static int is_ip(const pcap_addr_t *a)
{
    return a->addr != NULL &&
           (a->addr->sa_family == AF_INET || a->addr->sa_family == AF_INET6);
}

static int encode_addresses(ei_x_buff *x, const pcap_addr_t *addrs)
{
    for (const pcap_addr_t *a = addrs; a != NULL; a = a->next) {
        if (!is_ip(a))
            continue;
        if (ei_x_encode_list_header(x, 1) < 0 ||
            ei_x_encode_map_header(x, 4) < 0 ||
            ei_x_encode_atom(x, "addr") < 0 ||
            encode_sockaddr(x, a->addr) < 0 ||
            ei_x_encode_atom(x, "netmask") < 0 ||
            encode_sockaddr(x, a->netmask) < 0 ||
            ei_x_encode_atom(x, "broadaddr") < 0 ||
            encode_sockaddr(x, a->broadaddr) < 0 ||
            ei_x_encode_atom(x, "dstaddr") < 0 ||
            encode_sockaddr(x, a->dstaddr) < 0)
            return -1;
    }
    return ei_x_encode_empty_list(x);
}

static int encode_flags(ei_x_buff *x, bpf_u_int32 f)
{
    static const struct {
        bpf_u_int32 bit;
        const char *name;
    } names[] = {
        {PCAP_IF_UP, "up"},
        {PCAP_IF_RUNNING, "running"},
        {PCAP_IF_LOOPBACK, "loopback"},
        {PCAP_IF_WIRELESS, "wireless"},
    };

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if ((f & names[i].bit) && (ei_x_encode_list_header(x, 1) < 0 ||
                                   ei_x_encode_atom(x, names[i].name) < 0))
            return -1;
    return ei_x_encode_empty_list(x);
}

static int encode_if(ei_x_buff *x, const pcap_if_t *d)
{
    return ei_x_encode_list_header(x, 1) < 0 ||
                   ei_x_encode_map_header(x, 4) < 0 ||
                   ei_x_encode_atom(x, "name") < 0 ||
                   ei_x_encode_string(x, d->name) < 0 ||
                   ei_x_encode_atom(x, "description") < 0 ||
                   (d->description ? ei_x_encode_string(x, d->description)
                                   : ei_x_encode_atom(x, "undefined")) < 0 ||
                   ei_x_encode_atom(x, "addresses") < 0 ||
                   encode_addresses(x, d->addresses) < 0 ||
                   ei_x_encode_atom(x, "flags") < 0 ||
                   encode_flags(x, d->flags) < 0
               ? -1
               : 0;
}

int interfaces_send(int fd, struct ep_error *e)
{
    char errbuf[PCAP_ERRBUF_SIZE];
    pcap_if_t *all = NULL;
    ei_x_buff x;
    int rc = -1;

    if (pcap_findalldevs(&all, errbuf) < 0)
        return ep_fail(e, "pcap", "pcap_findalldevs: %s", errbuf);
    if (ei_x_new_with_version(&x) < 0) {
        pcap_freealldevs(all);
        return ep_fail(e, "enomem", "ei_x_new");
    }
    if (ei_x_encode_tuple_header(&x, 2) == 0 &&
        ei_x_encode_atom(&x, "interfaces") == 0) {
        rc = 0;
        for (const pcap_if_t *d = all; d != NULL && rc == 0; d = d->next)
            if (can_open(d))
                rc = encode_if(&x, d);
        if (rc == 0)
            rc = ei_x_encode_empty_list(&x);
    }
    if (rc == 0 && wire_send_term(fd, &x) < 0)
        rc = ep_fail_errno(e, "write", "write");
    else if (rc < 0)
        (void)ep_fail(e, "enomem", "encoding the interface list");
    ei_x_free(&x);
    pcap_freealldevs(all);
    return rc;
}
