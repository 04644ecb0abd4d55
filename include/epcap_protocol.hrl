%%% The wire protocol's constants on the Erlang side (doc/protocol.md).
%%% Each name is the C side's name for the same constant (c_src/wire.h,
%%% c_src/control.h, c_src/options.h); test/epcap_protocol_tests.erl reads
%%% those files and fails when a tag or a limit differs or is missing here.

%% Port -> Erlang: the first byte of every message (c_src/wire.h).
-define(WIRE_TAG_BATCH, 1).
-define(WIRE_TAG_TERM, 2).
%% A packet record's header: Sec:64, Frac:32, CapLen:32, Len:32.
-define(WIRE_PKT_HDR, 20).
%% A batch's size bound; a single larger record travels alone.
-define(WIRE_BATCH_BYTES, 262144).
%% The largest frame (its length prefix's value) the port sends: a record
%% larger than a frame can carry ends the capture with record_too_large.
-define(WIRE_FRAME_CAP, 1048576).

%% Erlang -> port: control message tags (c_src/control.h, enum ctl_type).
-define(CTL_INJECT, 1).
-define(CTL_STATS, 2).
-define(CTL_FILTER, 3).
-define(CTL_CREDIT, 4).
-define(CTL_INJECT_MANY, 5).
-define(CTL_INJECT_QUIET, 6).
-define(CTL_RECORD_HDR, 2).
%% CTL_INJECT_MANY's flags: continues the previous message's call.
-define(CTL_MANY_CONTINUES, 1).
-define(CTL_CLOSE, 7).
-define(CTL_INJECT_MAX, 65535).
-define(CTL_FILTER_MAX, 8192).
-define(CTL_FRAME_MAX, 262144).

%% Options (c_src/options.h).
-define(EPCAP_SNAPLEN_DEFAULT, 65535).
-define(EPCAP_SNAPLEN_MAX, 262144).
-define(EPCAP_ENV_MAX, 16).
%% Saving (c_src/saveopts.h): the most files a ring keeps.
-define(SAVER_FILES_MAX, 100000).

%% Erlang-side limits (no C twin).
-define(EPCAP_SAVE_FILES_MAX, ?SAVER_FILES_MAX).
%% The largest message the server accepts from the port: the port's own
%% bound. A length prefix above it is {protocol, {frame_too_large, N}},
%% and nothing is reserved.
-define(EPCAP_FRAME_CAP, ?WIRE_FRAME_CAP).
%% {buffer, N}: above 256 MiB a capture's kernel ring costs seconds to set
%% up and that much RAM (issue 15, defect 8).
-define(EPCAP_BUFFER_MAX, 268435456).
%% Linux keeps a ring block's timeout in 16 bits of milliseconds.
-define(EPCAP_TIMEOUT_MAX, 65535).
