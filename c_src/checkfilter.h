/* -K: compile a filter without capturing (epcap:compile_filter/2), as
 * `tcpdump -d` prints it. */
#ifndef EPCAP_CHECKFILTER_H
#define EPCAP_CHECKFILTER_H

#include "caller.h"
#include "errors.h"
#include "options.h"

/* Drops privileges and restricts the process first, as a capture does
 * (the compile parses the caller's text), then compiles o->filter for a
 * dead handle of link type o->linktype and o->snaplen, bounded as
 * filtercc.h bounds any compile, and sends {filter, {ok, [Line]}}: one
 * bpf_image(3PCAP) line an instruction. Returns 0, or -1 with e filled
 * ({filter, Msg}, privdrop, restrict, ...). */
int checkfilter_run(const struct options *o, const struct caller *who,
                    struct ep_error *e);

#endif
