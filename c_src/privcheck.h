/* `epcap -Q`: which capture privilege does this program hold when it is
 * run as it is (no wrapper)? The Erlang side asks once per port file to
 * choose between running the port directly and `sudo -n`. */
#ifndef EPCAP_PRIVCHECK_H
#define EPCAP_PRIVCHECK_H

enum privcheck {
    PRIVCHECK_NONE,         /* an ordinary user: live capture is refused */
    PRIVCHECK_PARTIAL,      /* one of CAP_NET_RAW, CAP_NET_ADMIN only */
    PRIVCHECK_CAPABILITIES, /* both permitted, e.g. after `make setcap` */
    PRIVCHECK_ROOT          /* effective uid 0 */
};

enum privcheck privcheck_query(void);

/* The answer's word: "none", "partial", "capabilities" or "root". */
const char *privcheck_name(enum privcheck p);

/* Print the word and a newline on stdout. Returns the exit status. */
int privcheck_print(void);

#endif
