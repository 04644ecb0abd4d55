%%% @doc Packet capture through libpcap, from a small hardened port program.
%%%
%%% One `epcap' server owns one port program (`priv/epcap'), which opens
%%% libpcap (a live interface or a pcap/pcapng file), drops its privileges,
%%% restricts itself (seccomp by default on Linux) and streams what it
%%% captures. The server forwards every frame to its owner as
%%% ```
%%% {packet, DataLinkType, Time, Length, Packet}
%%% '''
%%% and tells the owner why the capture ended: `{epcap, eof}' after the last
%%% packet of a file, `{epcap, {error, Reason}}' for any other end. With
%%% `{tagged, true}' the messages name their capture instead:
%%% `{epcap_packet, Pid, DLT, Time, Length, Packet}', `{epcap_eof, Pid}',
%%% `{epcap_error, Pid, Reason}'.
%%%
%%% Flow control follows `gen_tcp': `{active, true | false | once | N}'
%%% ({@link epcap_flow}). The port reads libpcap only while the server holds
%%% credit for it, so a slow owner in `once'/`N'/`false' mode makes the
%%% kernel drop (counted by {@link stats/1}) instead of the VM's memory
%%% growing.
%%%
%%% Under a supervisor: the server exits `normal' at the end of a file (and
%%% on {@link stop/1}, or when its owner exits), and with the failure's
%%% reason (e.g. `{capture, Msg}', `{port_exit, 137}') for any other end, so
%%% that a `transient' child is restarted exactly when it failed.
%%%
%%% The modules by role: {@link epcap_options} (options and the port's
%%% command line), {@link epcap_flow} (flow control), {@link epcap_batch}
%%% (the record layout), {@link epcap_frame} (reading the port's output);
%%% the wire protocol is in `doc/protocol.md'.
%%% @end
-module(epcap).
-behaviour(gen_server).

-export([start/0]).
-export([start/1]).
-export([start/2]).
-export([start_link/0]).
-export([start_link/1]).
-export([start_link/2]).
-export([stop/1]).
-export([send/2]).
-export([send_many/2]).
-export([stats/1]).
-export([setfilter/2]).
-export([setopts/2]).
-export([recv/2]).
-export([recv/3]).
-export([getopts/1]).
-export([info/1]).
-export([controlling_process/2]).
-export([interfaces/0]).
-export([compile_filter/1]).
-export([compile_filter/2]).
-export([fold/3]).
-export([foreach/2]).
-export([link_type/1]).
-export([error_reasons/0]).
-export([protocol_atoms/0]).

-export([init/1, handle_call/3, handle_cast/2, handle_info/2, terminate/2,
         format_status/1]).

-export_type([option/0, reason/0, packet/0, batch/0, time/0, owner/0, stats/0]).

-include("../include/epcap_protocol.hrl").

-type time() :: epcap_batch:time().
-type packet() :: epcap_batch:packet().
-type batch() :: epcap_batch:batch().
-type time_unit() :: epcap_batch:time_unit().
-type active() :: epcap_flow:active().
%% `true | false | once | N', as in `gen_tcp'.
-type owner() :: pid() | atom() | {global, term()} | {via, module(), term()}.
%% A process, as gen_server names one: resolved once, at start.
-type stats() :: #{received := non_neg_integer(), dropped := non_neg_integer(),
                   if_dropped := non_neg_integer(), wakeups := non_neg_integer(),
                   reads := non_neg_integer(), batches := non_neg_integer(),
                   credit_wait_us := non_neg_integer(),
                   pipe_wait_us := non_neg_integer(),
                   saved => non_neg_integer(), save_errors => non_neg_integer(),
                   send_failed := non_neg_integer()}.
%% What stats/1 gives (see there).
-type option() ::
    {interface, iodata()} | {filter, iodata()}
    | promiscuous | {promiscuous, boolean()}
    | monitor | {monitor, boolean()}
    | inject | {inject, boolean()}
    | {snaplen, 1..262144} | {buffer, 0..268435456}
    | {timeout, 0..65535 | infinity | immediate}
    | {direction, in | out | inout} | {priority, realtime | raised | normal}
    | {time_unit, time_unit()}
    | {file, file:filename_all()}
    | verbose | {verbose, non_neg_integer()}
    | {env, string()} | {cluster_id, 0..255}
    | {cpu_affinity, string()} | {exec, string()} | {progname, string()}
    | {user, string()} | {group, string()} | {chroot, file:filename()}
    | {active, active()} | {deliver, packet | batch | none} | {tagged, boolean()}
    | {stats_interval, 10..86400000}
    | {save, file:filename()} | {save_format, pcapng | pcap}
    | {rotate, [{size | seconds | packets | files, pos_integer()}]}
    | {save_mode, non_neg_integer()}
    | {fanout, {0..65535, epcap_fanout:mode()}
               | {0..65535, epcap_fanout:mode(), [epcap_fanout:flag()]}}.
%% A capture option (see start_link/2).
-type reason() ::
    {badarg, term()} | {bad_option, term()}
    | {filter, string()} | {no_such_device, string()}
    | {permission_denied, string()} | {monitor_not_supported, string()}
    | {interface_down, string()} | {file, string()} | {direction, string()}
    | {cpu_affinity, string()} | {env, string()} | {exec_not_found, string()}
    | {port_not_found, string()} | {no_such_user, string()}
    | {no_such_group, string()} | {chroot, string()} | {privdrop, string()}
    | {restrict, string()} | {capture, string()} | {pcap, string()}
    | {port_exit, integer() | {integer(), Stderr :: string()}}
    | {protocol, term()} | closed | timeout
    | {inject, string()} | {stats, string()} | {orphan, string()}
    | {prctl, string()} | {signal, string()} | {poll, string()}
    | {write, string()} | {control, string()} | {enomem, string()}
    | {fcntl, string()} | {fanout, string()} | {record_too_large, string()}
    | {save, string()} | {output, string()}.
%% Every tag here is in error_reasons/0, and every reason the port program
%% can send is here (test/epcap_protocol_tests.erl checks both).

-define(START_TIMEOUT, 30000).
%% How long stop/1 waits for a saving port to close its file.
-define(CLOSE_TIMEOUT, 5000).

-record(state, {
    port :: port(),
    owner :: pid(),
    owner_mon :: reference(),
    os_pid = undefined :: undefined | integer(),  % element 5: test/epcap_security_SUITE
    options :: epcap_options:options(),
    flow :: epcap_flow:flow(),
    frame = epcap_frame:new() :: epcap_frame:state(),
    dlt = 0 :: non_neg_integer(),
    unit = timestamp :: time_unit(),
    deliver = packet :: packet | batch,
    tag = untagged :: epcap_batch:tag(),
    info = #{} :: map(),
    %% none: a request of the server's own ({stats, periodic}); many: a
    %% send_many/2 message (epcap_inject keeps its callers)
    pending = queue:new() :: queue:queue({atom() | {atom(), term()}, gen_server:from() | none | many}),
    starter = undefined :: undefined | gen_server:from(),
    %% start/2 has been answered: until then a capture that has ended
    %% (a short file) waits, so that start/2 returns {ok, Pid}
    answered = false :: boolean(),
    start_error = undefined :: undefined | reason(),
    ready = false :: boolean(),
    final = undefined :: undefined | eof | {error, reason()},
    %% controlling_process/2 in progress: what arrives meanwhile waits
    moving = false :: boolean(),
    stderr = epcap_stderr:new() :: epcap_stderr:state(),
    %% recv/3 waiting for packets: its caller and timer
    recv = undefined :: undefined | {gen_server:from(), undefined | reference()},
    %% frames the kernel refused, for stats/1; and send/2's first refusal
    %% not yet returned by a send/2 (with how many since)
    send_failed = 0 :: non_neg_integer(),
    send_error = undefined :: undefined | {pos_integer(), string()},
    many = epcap_inject:calls_new() :: epcap_inject:calls(),
    %% 1 while send_error waits: send/2's callers look before they send
    send_flag = atomics:new(1, []) :: atomics:atomics_ref(),
    %% the port's output socket (epcap_out); with one, what its stdout may
    %% carry (an error term) is framed apart
    out = none :: epcap_out:state(),
    stdout = epcap_frame:new() :: epcap_frame:state(),
    %% the port's exit, seen before the end of its output socket
    exit_pending = undefined :: undefined | integer()
}).

%%====================================================================
%% API
%%====================================================================

%% @equiv start([])
-spec start() -> {ok, pid()} | {error, reason()}.
start() -> start([]).

%% @equiv start(self(), Options)
-spec start([option()]) -> {ok, pid()} | {error, reason()}.
start(Options) -> start(self(), Options).

%% @doc Start a capture whose packets go to `Owner', without a link.
%% See {@link start_link/2} for the options and errors.
-spec start(owner(), [option()]) -> {ok, pid()} | {error, reason()}.
start(Owner, Options) -> start_server(start, Owner, Options).

%% @equiv start_link([])
-spec start_link() -> {ok, pid()} | {error, reason()}.
start_link() -> start_link([]).

%% @equiv start_link(self(), Options)
-spec start_link([option()]) -> {ok, pid()} | {error, reason()}.
start_link(Options) -> start_link(self(), Options).

%% @doc Start a capture linked to the caller, delivering to `Owner' (a
%% pid, a registered name, `{global, Name}' or `{via, Module, Name}',
%% resolved now; `{error, {badarg, {owner, Owner}}}' if there is none).
%%
%% Example, reading a file:
%% ```
%% {ok, Pid} = epcap:start_link([{file, "test/data/veth_mixed.pcap"}]),
%% receive {packet, 1, {_, _, _}, 42, <<_:42/binary>>} -> ok end.
%% '''
%% Options (defaults first; flags also as `{Flag, boolean()}'):
%% <ul>
%% <li>`{interface, If}': libpcap's first device by default.</li>
%% <li>`{file, Path}': read a pcap/pcapng file instead (µs or ns). With a
%% file, each live-only option (`interface', `promiscuous', `monitor',
%% `buffer', `timeout', `inject', `direction', `snaplen') is
%% `{error, {badarg, {conflict, {file, Key}}}}'.</li>
%% <li>`{filter, BPF}': a pcap-filter(7) expression; all by default.</li>
%% <li>`promiscuous', `monitor' (rfmon), `inject' (allow {@link send/2}).</li>
%% <li>`{snaplen, 65535}' (1..262144), `{buffer, Bytes}' (kernel buffer,
%% at most 256 MiB).</li>
%% <li>`{timeout, immediate}': `immediate' or `0' deliver at once,
%% `Ms' (at most 65535: Linux keeps 16 bits) waits up to Ms for a full
%% buffer, `infinity' only when it fills.</li>
%% <li>`{direction, inout}': or `in', `out'.</li>
%% <li>`{priority, realtime}': a live capture's port runs at the lowest
%% real-time priority (`SCHED_FIFO' 1, over nice -10) where it may set one
%% (root), so that the kernel's ring is drained while the VM or the
%% traffic's source has the CPU; after 1 s on the CPU without a pause (a
%% flood it cannot keep up with) it goes back to nice -10 for good, and its
%% children (the filter compiler) never inherit it. `raised' is nice -10
%% only, `normal' keeps the VM's (`bench/RESULTS.md', sections 0.00000 and
%% 2).</li>
%% <li>`{time_unit, timestamp}': Time as `{Mega, Sec, Micro}';
%% `microsecond' / `nanosecond' as an integer (nanosecond asks libpcap for
%% nanosecond precision).</li>
%% <li>`{active, true}': `false', `once' or `N' as in `gen_tcp'; when
%% an `N' count reaches 0 the owner gets `{epcap_passive, Pid}' (`once'
%% sends none, as in `gen_tcp').</li>
%% <li>`{deliver, packet}': `none' (with `save') sends no packet; `batch' sends `{epcap_batch, Pid, Batch}', to be
%% walked with {@link fold/3}.</li>
%% <li>`{save, Path}': the port writes every frame to `Path' itself (live,
%% or from `{file, _}'), as dumpcap does: `{save_format, pcapng | pcap}'
%% (pcapng by default), `{rotate, [{size, Bytes} | {seconds, S} |
%% {packets, N} | {files, N}]}' (rotated files named
%% `Base_NNNNN_YYYYmmddHHMMSS.Ext'; `files' keeps the newest N),
%% `{save_mode, 8#640}'; `{deliver, none}' sends the VM no packet at all.
%% The owner hears `{epcap_saved, Pid, #{path, packets, bytes, first,
%% last}}' for each file closed and `{epcap_removed, Pid, Path}' for each
%% the ring removes; a directory that is missing or not writable, or a
%% file already at `Path', is `{error, {save, Msg}}' (README, "Saving to
%% disk in the port").</li>
%% <li>`{tagged, false}': `true' names the capture in every message.</li>
%% <li>`{stats_interval, Ms}': none by default; the owner gets
%% `{epcap_stats, Pid, Stats}' (as {@link stats/1}) every `Ms' (10..86400000)
%% of a live capture.</li>
%% <li>`verbose' | `{verbose, N}': the port's diagnostics, as `logger'
%% notices with `domain => [epcap, port_stderr]': libpcap's version, what
%% it opened, the drop and sandbox, each filter and control request.</li>
%% <li>`{env, "PCAP_K=V"}' (repeatable, `PCAP_' names only),
%% `{cluster_id, 0..255}' (sets `PCAP_PF_RING_CLUSTER_ID'),
%% `{cpu_affinity, "1,3,5-7"}': all set by the port itself.</li>
%% <li>`{exec, Wrapper}': by default none for a file, and
%% `epcap_privilege:default_exec/1' for a live capture (e.g. `"sudo -n"');
%% `""' for none.</li>
%% <li>`{progname, Path}': the port program, `priv/epcap' by default.</li>
%% <li>`{user, "nobody"}', `{group, G}', `{chroot, Dir}': where a
%% privileged port drops to (the port's default jail is `/run/epcap').</li>
%% </ul>
%% Errors (`{error, Reason}'), each listed by {@link error_reasons/0}:
%% see the README's "Errors" table.
-spec start_link(owner(), [option()]) -> {ok, pid()} | {error, reason()}.
start_link(Owner, Options) -> start_server(start_link, Owner, Options).

%% @doc Stop the capture; the port program exits with it.
%% ```
%% ok = epcap:stop(Pid).
%% '''
-spec stop(pid()) -> ok.
stop(Pid) ->
    try gen_server:stop(Pid) catch exit:_ -> ok end.

%% @doc Inject a frame on the capture's interface, without waiting for the
%% kernel, nor, most of the time, for the server: `ok' means the frame is
%% on its way to the port, to be sent in order.
%%
%% A process may give a capture on its node up to 256 frames (and 256 KiB)
%% that way, a message each; the next call waits until the server has
%% taken them all, so that a fast sender cannot fill its mailbox. (The count
%% is kept in the caller's process dictionary, one entry a capture it
%% sends to.) A capture on another node is called every time.
%%
%% Without the `inject' option the data is discarded and `ok' returned.
%% With it, a frame the kernel refuses is never lost without a word: it is
%% counted in {@link stats/1} (`send_failed'), and the first `send/2'
%% after the port has reported it returns `{error, {inject, Msg}}',
%% sending nothing (call again to send). `stats/1' answers after every
%% frame the caller sent before it, so it tells whether they all went.
%% {@link send_many/2} says for each call exactly what was sent. Frames of
%% 0 or more than 65535 bytes are `{error, {badarg, {packet_size, N}}}';
%% a capture that has stopped is `{error, closed}'.
-spec send(pid(), iodata()) -> ok | {error, reason()}.
send(Pid, Data) ->
    try iolist_size(Data) of
        N when N >= 1, N =< ?CTL_INJECT_MAX -> epcap_inject:send(Pid, Data, fun call/2);
        N -> {error, {badarg, {packet_size, N}}}
    catch
        error:badarg -> {error, {badarg, {packet, Data}}}
    end.

%% @doc Inject frames in order, several to a message to the port, and
%% wait until the kernel took them all: `ok'. The port stops at the first
%% frame the kernel refuses: `{error, {partial, Sent, {inject, Msg}}}',
%% where the first `Sent' frames went and none after them (the refused
%% one is counted in `stats/1' too). A frame that is not 1..65535 bytes of
%% iodata is `{error, {badarg, _}}' and nothing is sent. Without the
%% `inject' option the frames are discarded and `ok' returned, as by
%% {@link send/2}.
%% ```
%% ok = epcap:send_many(Pid, [Frame1, Frame2]).
%% '''
-spec send_many(pid(), [iodata()]) ->
    ok | {error, {partial, non_neg_integer(), reason()}} | {error, reason()}.
send_many(Pid, Frames) ->
    case epcap_inject:chunks(Frames) of
        {ok, Chunks} -> call(Pid, {send_many, [R || {_, R} <- Chunks]});
        {error, _} = Error -> Error
    end.

%% @doc Capture statistics: pcap_stats(3PCAP)'s counts, and the port's
%% own, which tell where a live capture loses frames. A frame is lost only
%% in the kernel's ring (`dropped'); the ring fills while the port does
%% not read it, and the port's counts say why:
%% <ul>
%% <li>`received', `dropped', `if_dropped': pcap_stats(3PCAP).</li>
%% <li>`wakeups': times the port woke up; `reads': wake-ups that read at
%%     least one packet (`received' / `reads' is the packets a read).</li>
%% <li>`batches': messages that carried packets to the VM.</li>
%% <li>`credit_wait_us': microseconds the port slept because the owner
%%     had taken no more packets (a passive or slow owner, see
%%     `{active, N}').</li>
%% <li>`pipe_wait_us': microseconds it slept because the VM had not read
%%     what it sent (a busy VM).</li>
%% <li>With `{save, Path}': `saved', the packets written to files, and
%%     `save_errors', the failures the capture survived (a ring's removal
%%     that failed).</li>
%% </ul>
%% Frames dropped while both waits stayed small were lost while the port
%% was off the CPU or busy. A file capture has no statistics:
%% `{error, {stats, Msg}}'.
-spec stats(pid()) -> {ok, stats()} | {error, reason()}.
stats(Pid) -> call(Pid, stats).

%% @doc Replace the BPF filter of a running capture. A filter that does not
%% compile is `{error, {filter, Msg}}' and leaves the old one in force.
-spec setfilter(pid(), iodata()) -> ok | {error, reason()}.
setfilter(Pid, Filter) ->
    case epcap_options:check_filter(Filter) of
        {ok, F} -> call(Pid, {filter, F});
        error -> {error, {badarg, {filter, Filter}}}
    end.

%% @doc Change options of a running capture: `{active, A}' only; any
%% other option, or a value out of range, is `{error, einval}', as in
%% `inet:setopts/2'. `{active, N}' adds N to the current count (range
%% -32768..32767); at 0 or below the owner gets `{epcap_passive, Pid}'.
%% `{active, once}' falls back to `false' after one packet without a
%% message, as in `gen_tcp'.
-spec setopts(pid(), [{active, active()}]) -> ok | {error, einval | reason()}.
setopts(Pid, Opts) when is_list(Opts) -> call(Pid, {setopts, Opts});
setopts(_Pid, Opts) -> {error, {badarg, {setopts, Opts}}}.

%% @equiv recv(Pid, Length, infinity)
-spec recv(pid(), 0..32767) -> {ok, [packet()]} | {error, einval | timeout | closed | not_owner}.
recv(Pid, Length) -> recv(Pid, Length, infinity).

%% @doc Take packets of a capture in `{active, false}' mode, as
%% `gen_tcp:recv/3': up to `Length' packets (`0': all there are, at most
%% 32767), as soon as there is at least one, or `{error, timeout}' after
%% `Timeout' ms with none (nothing is lost: a packet arriving later waits
%% for the next call). Packets are `{packet, DLT, Time, Len, Packet}'
%% (also with `{tagged, true}'), oldest first. Only the owner may call it
%% (`{error, not_owner}'); in another active mode, or with a bad argument,
%% it is `{error, einval}'; a capture that ended (after its last packet
%% was taken) is `{error, closed}', and the owner also gets the end's
%% message. No `{epcap_passive, Pid}' is sent.
%% ```
%% {ok, Pid} = epcap:start([{file, "test/data/veth_mixed.pcap"}, {active, false}]),
%% {ok, [{packet, 1, _, 42, _}, {packet, 1, _, 42, _}]} = epcap:recv(Pid, 2, 5000).
%% '''
-spec recv(pid(), 0..32767, timeout()) ->
          {ok, [packet()]} | {error, einval | timeout | closed | not_owner}.
recv(Pid, Length, Timeout)
  when is_integer(Length), Length >= 0, Length =< 32767,
       Timeout =:= infinity orelse is_integer(Timeout) andalso Timeout >= 0 ->
    call(Pid, {recv, Length, Timeout});
recv(_Pid, _Length, _Timeout) ->
    {error, einval}.

%% @doc The command line the port would be started with, wrapper first.
%% ```
%% [_Port, "-r", "x.pcap" | _] = epcap:getopts([{file, "x.pcap"}]).
%% '''
-spec getopts([option()]) -> [string()] | {error, reason()}.
getopts(Options) ->
    case epcap_options:validate(Options) of
        {ok, O} -> epcap_options:command(O);
        Error -> Error
    end.

%% @doc What the port said when it was ready, and the options in force:
%% `os_pid' (the port program's own, whatever wrapper sits between),
%% `sandbox' (`seccomp', `rlimit', ...), `link_type' (the DLT),
%% `snaplen', `precision' (`micro' | `nano'), `version' (the port's),
%% `owner', `options': the options in force, which {@link start/1} takes
%% back to start the same capture (the filter of the last
%% {@link setfilter/2}, the wrapper and port program in use, libpcap's
%% buffer; what the port decides by itself is left out: libpcap's first
%% device when no interface was given, the user and chroot it drops to;
%% see `epcap_options:in_force/2').
-spec info(pid()) -> {ok, #{os_pid := integer(), sandbox := atom(),
                            link_type := non_neg_integer(),
                            snaplen := non_neg_integer(),
                            precision := micro | nano, version := string(),
                            owner := pid(), options := [option()]}}
                     | {error, closed}.
info(Pid) -> call(Pid, info).

%% @doc Make `NewOwner' the capture's owner, as
%% `gen_tcp:controlling_process/2': only the owner may call it
%% (`{error, not_owner}' otherwise), and the capture's messages already in
%% the caller's mailbox move to `NewOwner', in order, before any new one.
%% Untagged `{packet, ...}' and `{epcap, _}' messages do not say which
%% capture sent them: with several untagged captures, every such message
%% moves; use `{tagged, true}' for several captures per owner.
-spec controlling_process(pid(), pid()) -> ok | {error, not_owner | closed | badarg}.
controlling_process(Pid, NewOwner) when is_pid(NewOwner) ->
    case call(Pid, {hold_owner, self()}) of
        {ok, Tagged} ->
            move_messages(Pid, NewOwner, Tagged),
            call(Pid, {set_owner, NewOwner});
        {error, _} = Error ->
            Error
    end;
controlling_process(_Pid, _NewOwner) ->
    {error, badarg}.

%% The server sends nothing while held: what it sent before is all here.
move_messages(Pid, New, Tagged) ->
    receive
        {epcap_batch, Pid, _} = M -> New ! M, move_messages(Pid, New, Tagged);
        {epcap_passive, Pid} = M -> New ! M, move_messages(Pid, New, Tagged);
        {epcap_stats, Pid, _} = M -> New ! M, move_messages(Pid, New, Tagged);
        {epcap_packet, Pid, _, _, _, _} = M -> New ! M, move_messages(Pid, New, Tagged);
        {epcap_eof, Pid} = M -> New ! M, move_messages(Pid, New, Tagged);
        {epcap_error, Pid, _} = M -> New ! M, move_messages(Pid, New, Tagged);
        {packet, _, _, _, _} = M when not Tagged -> New ! M, move_messages(Pid, New, Tagged);
        {epcap, _} = M when not Tagged -> New ! M, move_messages(Pid, New, Tagged)
    after 0 -> ok
    end.

%% @doc The capture devices, from pcap_findalldevs(3PCAP).
%% ```
%% {ok, [#{name := "lo", flags := [up, running, loopback]} | _]} =
%%     epcap:interfaces().
%% '''
-spec interfaces() -> {ok, [#{name := string(),
                              description := string() | undefined,
                              addresses := [map()],
                              flags := [up | running | loopback | wireless]}]}
                      | {error, reason()}.
interfaces() ->
    Prog = epcap_options:default_progname(),
    case filelib:is_regular(Prog) of
        false -> {error, {port_not_found, Prog}};
        true -> run_once(Prog, ["-L"])
    end.

%% @equiv compile_filter(Filter, #{})
-spec compile_filter(iodata()) -> {ok, [string()]} | {error, reason()}.
compile_filter(Filter) -> compile_filter(Filter, #{}).

%% @doc Check a filter without capturing, as `tcpdump -d': the program
%% for `#{link_type => DLT, snaplen => N}' (defaults 1, Ethernet, and
%% 65535), one line an instruction, or `{error, {filter, Msg}}' as a
%% capture would give it. The port compiles it as the VM's user, dropped,
%% jailed and restricted ({@link epcap_filter}).
%% ```
%% {ok, ["(000) ldh      [12]" | _]} = epcap:compile_filter("tcp port 80", #{link_type => 1}).
%% '''
-spec compile_filter(iodata(), epcap_filter:options()) -> {ok, [string()]} | {error, reason()}.
compile_filter(Filter, Options) -> epcap_filter:compile(Filter, Options).

%% @doc Fold over the packets of a batch received as
%% `{epcap_batch, Pid, Batch}' (option `{deliver, batch}'), in order.
%%
%% `Fun' takes each packet's fields as arguments, `Fun(Time, Len, Packet,
%% Acc)', with `Time' an integer (microseconds since the epoch, or
%% nanoseconds with `{time_unit, nanosecond}'); or, as in earlier versions,
%% the packet as one tuple, `Fun({packet, DLT, Time, Len, Packet}, Acc)'.
%% The four-argument form is the fast one: it builds no tuple for a
%% packet, so a 64-byte frame leaves about half the garbage on the
%% caller's heap and the caller collects garbage half as often
%% (`bench/RESULTS.md', section 1). The batch's link type is
%% {@link link_type/1}.
%% ```
%% {N, Bytes} = epcap:fold(fun(_Time, _Len, P, {C, B}) ->
%%                                 {C + 1, B + byte_size(P)} end,
%%                         {0, 0}, Batch).
%% '''
-spec fold(epcap_batch:fold_fun(Acc), Acc, batch()) -> Acc.
fold(Fun, Acc, Batch) -> epcap_batch:fold(Fun, Acc, Batch).

%% @doc Apply `Fun' to every packet of a batch, in order: `Fun(Time, Len,
%% Packet)' or `Fun({packet, DLT, Time, Len, Packet})' (see {@link fold/3}).
-spec foreach(fun((packet()) -> term())
              | fun((non_neg_integer(), non_neg_integer(), binary()) -> term()),
              batch()) -> ok.
foreach(Fun, Batch) -> epcap_batch:foreach(Fun, Batch).

%% @doc The link type (DLT) of a batch's packets, for a decoder fed by
%% {@link fold/3}'s four-argument fun.
-spec link_type(batch()) -> non_neg_integer().
link_type(Batch) -> epcap_batch:link_type(Batch).

%% @doc Every error reason tag `start' or a running capture can give.
%% ```
%% true = lists:member(filter, epcap:error_reasons()).
%% '''
-spec error_reasons() -> [atom()].
error_reasons() ->
    [badarg, bad_option, filter, no_such_device, permission_denied,
     monitor_not_supported, interface_down, file, direction, cpu_affinity,
     env, exec_not_found, port_not_found, no_such_user, no_such_group, chroot,
     privdrop, restrict, capture, pcap, port_exit, protocol, closed, timeout,
     inject, stats, orphan, prctl, signal, poll, write, control, enomem, fcntl,
     fanout, record_too_large, save, output].

%% @doc Every atom the port program may send. Control terms are decoded
%% with `binary_to_term(T, [safe])', so a port cannot create atoms: these
%% exist because they are listed here.
-spec protocol_atoms() -> [atom()].
protocol_atoms() ->
    [ready, micro, nano, seccomp, rlimit, null, pledge, capsicum, eof, error,
     ok, send, send_many, send_failed, skipped, stats, filter, interfaces, name,
     description, addresses, flags,
     addr, netmask, broadaddr, dstaddr, undefined, up, running, loopback,
     wireless, saved, removed | error_reasons()].

%%====================================================================
%% Starting
%%====================================================================

start_server(How, Owner, Options) ->
    case {resolve_owner(Owner), prepare(Options)} of
        {undefined, _} -> {error, {badarg, {owner, Owner}}};
        {_, {error, _} = Error} -> Error;
        {Pid, {ok, O, Cmd}} ->
            case gen_server:How(?MODULE, {Pid, O, Cmd}, []) of
                {ok, Server} -> await_ready(Server);
                {error, _} = Error -> Error
            end
    end.

resolve_owner(Pid) when is_pid(Pid) -> Pid;
resolve_owner(Name) when is_atom(Name) -> whereis(Name);
resolve_owner({global, Name}) -> pid_or_undefined(global:whereis_name(Name));
resolve_owner({via, Mod, Name}) when is_atom(Mod) ->
    pid_or_undefined(catch Mod:whereis_name(Name));
resolve_owner(_) -> undefined.

pid_or_undefined(Pid) when is_pid(Pid) -> Pid;
pid_or_undefined(_) -> undefined.

%% A start that fails stops the server normally, so that a start_link
%% caller gets {error, Reason} instead of an exit signal.
await_ready(Pid) ->
    try gen_server:call(Pid, '$epcap_ready', infinity) of
        ok -> {ok, Pid};
        {error, _} = Error -> Error
    catch
        exit:_ -> {error, closed}
    end.

prepare(Options) ->
    case epcap_options:validate(Options) of
        {ok, O} ->
            case epcap_options:command(O) of
                {error, {exec_not_found, W}} -> no_default_wrapper(W, O);
                {error, _} = Error -> Error;
                Cmd -> {ok, O, Cmd}
            end;
        {error, _} = Error ->
            Error
    end.

%% The default wrapper (sudo, for a port without capabilities) is not
%% installed: the user has no way to capture, and the hint says how to
%% get one.
no_default_wrapper(W, #{given := G} = O) ->
    case lists:member(exec, G) of
        true -> {error, {exec_not_found, W}};
        false ->
            Msg = W ++ " not found, and the port cannot capture without it",
            {error, with_hint({permission_denied, Msg}, O)}
    end.

%% `epcap -L': one term, then exit. Read as a stream and framed by
%% epcap_frame, as a capture is: no length prefix reserves memory.
run_once(Prog, Args) ->
    Port = open_port({spawn_executable, Prog}, [{args, Args}, stream, binary, exit_status]),
    Result = once_term(Port, epcap_frame:new(list)),
    flush_exit(Port),
    Result.

once_term(Port, F) ->
    receive
        {Port, {data, Bin}} ->
            case epcap_frame:feed(Bin, F) of
                {ok, [], F1} -> once_term(Port, F1);
                {ok, [{term, {interfaces, List}} | _], _} -> {ok, List};
                {ok, [{term, {error, Reason}} | _], _} -> {error, Reason};
                {ok, [Other | _], _} ->
                    {error, {protocol, {bad_term, epcap_control:summary(Other)}}};
                {error, Reason, _} -> {error, Reason}
            end;
        {Port, {exit_status, S}} ->
            self() ! {Port, {exit_status, S}},
            {error, {port_exit, S}}
    after ?START_TIMEOUT ->
        {error, timeout}
    end.

%% The port has answered: it is closed at once (a port that went on
%% writing would otherwise fill the mailbox while its exit was awaited),
%% then what it sent meanwhile is dropped, with the exit signal a closed
%% port sends its owner, which a caller that traps exits would otherwise
%% find in its mailbox.
flush_exit(Port) ->
    catch port_close(Port),
    case process_info(self(), trap_exit) of
        {trap_exit, true} -> receive {'EXIT', Port, _} -> ok after 1000 -> ok end;
        _ -> ok
    end,
    flush_port(Port).

flush_port(Port) ->
    receive {Port, _} -> flush_port(Port) after 0 -> ok end.

%%====================================================================
%% gen_server
%%====================================================================

%% @private
init({Owner, O, Cmd}) ->
    process_flag(trap_exit, true),
    _ = erlang:send_after(start_timeout(), self(), start_timeout),
    How = case hd(Cmd) =:= epcap_options:progname(O) of
              true -> direct;     % no wrapper: the port makes its FIFO
              false -> wrapped
          end,
    {Out, Cmd1} = epcap_out:open(Cmd, epcap_options:progname(O)),
    {Stderr, Port} = epcap_stderr:open(Cmd1, How),
    Out1 = epcap_out:accept(Out, Port),
    epcap_events:started(Cmd),
    Kind = case maps:get(file, O) of undefined -> live; _ -> file end,
    {Flow, _} = epcap_flow:new(maps:get(active, O), Kind),
    Tag = case maps:get(tagged, O) of true -> {tagged, self()}; false -> untagged end,
    {ok, #state{port = Port, owner = Owner, owner_mon = erlang:monitor(process, Owner),
                options = O#{exec := wrapper_in_force(Cmd, O)},
                flow = Flow, frame = epcap_frame:new(Kind), stderr = Stderr, tag = Tag,
                out = Out1, stdout = epcap_frame:new(Kind),
                unit = maps:get(time_unit, O), deliver = maps:get(deliver, O)}}.

%% @private
handle_call('$epcap_ready', From, #state{ready = false, start_error = undefined} = S) ->
    {noreply, S#state{starter = From}};
handle_call('$epcap_ready', _From, #state{start_error = undefined} = S) ->
    case drain(S#state{answered = true}) of
        {stop, Reason, S1} -> {stop, Reason, ok, S1};
        {noreply, S1} -> {reply, ok, S1}
    end;
handle_call('$epcap_ready', _From, #state{start_error = Error} = S) ->
    {stop, normal, {error, Error}, S};
handle_call({send, _Data}, _From, #state{options = #{inject := false}, send_flag = F} = S) ->
    {reply, {ok, F}, S};
handle_call({send, _Data}, _From, #state{send_error = {_, Msg}, send_flag = F} = S) ->
    ok = atomics:put(F, 1, 0),
    {reply, {error, {inject, Msg}}, S#state{send_error = undefined}};
handle_call({send, Data}, From, #state{send_flag = F} = S) ->
    gen_server:reply(From, {ok, F}),
    {noreply, send_frames(Data, S)};
handle_call({send_many, _Chunks}, _From, #state{options = #{inject := false}} = S) ->
    {reply, ok, S};
handle_call({send_many, Chunks}, From, #state{many = M} = S) ->
    {noreply, many(epcap_inject:call(From, Chunks, M), S)};
handle_call(stats, From, S) ->
    request(stats, [?CTL_STATS], From, S);
handle_call({filter, F}, From, S) ->
    request({filter, F}, [?CTL_FILTER, unicode:characters_to_binary(F)], From, S);
handle_call({setopts, Opts}, _From, S) ->
    case apply_setopts(Opts, S) of
        {ok, S1} -> reply_after(ok, deliver(epcap_flow:resume(S1#state.flow), S1));
        {error, _} = E -> {reply, E, S}
    end;
handle_call({recv, _, _}, {Caller, _}, #state{owner = Owner} = S) when Caller =/= Owner ->
    {reply, {error, not_owner}, S};
handle_call({recv, Length, Timeout}, From, #state{recv = undefined, flow = F} = S) ->
    case epcap_flow:active(F) of
        false -> recv_start(Length, Timeout, From, S);
        _ -> {reply, {error, einval}, S}
    end;
handle_call({recv, _, _}, _From, S) ->
    {reply, {error, einval}, S};
handle_call(info, _From, #state{info = I, owner = Owner, options = O} = S) ->
    {reply, {ok, I#{owner => Owner, options => options_in_force(O)}}, S};
handle_call({hold_owner, Caller}, _From, #state{owner = Caller, tag = Tag} = S) ->
    {reply, {ok, Tag =/= untagged}, S#state{moving = true}};
handle_call({hold_owner, _}, _From, S) ->
    {reply, {error, not_owner}, S};
handle_call({set_owner, New}, _From, #state{moving = true, owner_mon = Mon} = S) ->
    erlang:demonitor(Mon, [flush]),
    S1 = S#state{owner = New, owner_mon = erlang:monitor(process, New), moving = false},
    reply_after(ok, release_held(S1));
handle_call(Request, _From, S) ->
    logger:warning(#{epcap => unexpected_call, request => Request}),
    {reply, {error, {badarg, Request}}, S}.

%% send/2's frame, with those of the send/2 calls already waiting
%% (epcap_inject:gather/3), in one message to the port. A port that is
%% gone has already told, or will tell, the owner: the frames count as
%% refused.
send_frames(Data, #state{port = Port, send_error = E, send_flag = Flag} = S) ->
    {Records, N} = epcap_inject:gather(Data, Flag, E =:= undefined),
    try port_command(Port, framed([?CTL_INJECT_QUIET | Records])) of
        true -> S
    catch
        error:badarg ->
            ok = atomics:put(Flag, 1, 1),
            S#state{send_failed = S#state.send_failed + N, send_error = {N, "closed"}}
    end.

reply_after(Reply, {noreply, S}) -> {reply, Reply, S};
reply_after(Reply, {stop, Reason, S}) -> {stop, Reason, Reply, S}.

%% @private
handle_cast(Msg, S) ->
    logger:warning(#{epcap => unexpected_cast, message => Msg}),
    {noreply, S}.

%% @private
handle_info({Port, {data, Bin}}, #state{port = Port, out = Out} = S) when Out =/= none ->
    stdout(Bin, spoken(S));
handle_info({Port, {data, Bin}}, #state{port = Port} = S) ->
    handle_data(Bin, spoken(S));
handle_info(Msg, #state{out = Out} = S) when element(1, Msg) =:= tcp; element(1, Msg) =:= epcap_out;
                                            element(1, Msg) =:= tcp_passive;
                                            element(1, Msg) =:= tcp_closed;
                                            element(1, Msg) =:= tcp_error ->
    case epcap_out:handle(Msg, Out) of
        {data, Bin, Out1} -> handle_data(Bin, spoken(S#state{out = Out1}));
        {ok, Out1} -> {noreply, S#state{out = Out1}};
        {ended, Out1} -> output_ended(S#state{out = Out1});
        unknown -> handle_other(Msg, S)
    end;
handle_info({'$epcap_send', _Data}, #state{options = #{inject := false}} = S) ->
    {noreply, S};
handle_info({'$epcap_send', Data}, S) ->
    {noreply, send_frames(Data, S)};
handle_info({Port, {exit_status, Status}}, #state{port = Port} = S) ->
    exit_seen(Status, S);
handle_info({'DOWN', Ref, process, _, _}, #state{owner_mon = Ref} = S) ->
    {stop, normal, S};
handle_info({'EXIT', Port, _}, #state{port = Port} = S) ->
    exit_seen(-1, S);
handle_info('$epcap_out_drain', #state{exit_pending = Status, out = Out} = S)
  when Status =/= undefined ->
    port_exited(Status, S#state{exit_pending = undefined, out = epcap_out:close(Out)});
handle_info('$epcap_out_drain', S) ->
    {noreply, S};
handle_info({'EXIT', From, _} = Msg, #state{stderr = E} = S) when is_port(From) ->
    %% The stderr reader, or a helper port that ended (mkfifo).
    case epcap_stderr:handle(Msg, E) of
        {ok, E1} -> {noreply, S#state{stderr = E1}};
        unknown -> {noreply, S}
    end;
handle_info({'EXIT', _From, Reason}, S) ->
    %% A linked process (a starter that is not our parent) failed.
    {stop, Reason, S};
handle_info(start_timeout, #state{ready = false} = S) ->
    start_failed(timeout, kill_port(S));
handle_info(start_timeout, S) ->
    {noreply, S};
handle_info({recv_timeout, From}, #state{recv = {From, _}, flow = F} = S) ->
    gen_server:reply(From, {error, timeout}),
    {ok, F1, _} = epcap_flow:set_active(false, F),
    {noreply, S#state{recv = undefined, flow = F1}};
handle_info({recv_timeout, _}, S) ->
    {noreply, S};
handle_info('$epcap_stats_tick', #state{ready = true, final = undefined, options = O} = S) ->
    epcap_events:stats_interval(maps:get(stats_interval, O)),
    case request({stats, periodic}, [?CTL_STATS], none, S) of
        {reply, _, S1} -> {noreply, S1};  % the port is gone: its exit comes
        NoReply -> NoReply
    end;
handle_info('$epcap_stats_tick', S) ->
    {noreply, S};
handle_info(Msg, S) ->
    handle_other(Msg, S).

handle_other(Msg, #state{stderr = E} = S) ->
    case epcap_stderr:handle(Msg, E) of
        {ok, E1} -> {noreply, S#state{stderr = E1}};
        unknown ->
            logger:warning(#{epcap => unexpected_message, message => Msg}),
            {noreply, S}
    end.

%% The port has spoken: until then its stderr's reader waits
%% (epcap_stderr:opened/1).
spoken(#state{ready = false, stderr = E} = S) -> S#state{stderr = epcap_stderr:opened(E)};
spoken(S) -> S.

%% With an output socket, the port's stdout carries only an error it
%% reports before it could connect (bad options, the socket refused):
%% anything else there is a lie, on a pipe read without flow control, and
%% ends the capture at once.
stdout(_, #state{final = Final} = S) when Final =/= undefined ->
    {noreply, S};
stdout(Bin, #state{stdout = F} = S) ->
    case epcap_frame:feed(Bin, F) of
        {ok, Events, F1} ->
            case [E || E <- Events, not is_error_term(E)] of
                [] -> events(Events, S#state{stdout = F1});
                _ -> fail({protocol, stdout}, S#state{stdout = F1})
            end;
        {error, _, _} ->
            fail({protocol, stdout}, S)
    end.

is_error_term({term, {error, _}}) -> true;
is_error_term(_) -> false.

%% The port has exited. Its output socket may still hold its last words
%% (the exit status comes down another path): they are read first, for
%% at most a second (a port that never connected: 200 ms, in case its
%% connection is still being accepted).
exit_seen(Status, #state{exit_pending = undefined, out = Out} = S) ->
    case epcap_out:ended(Out) orelse S#state.final =/= undefined
        orelse S#state.start_error =/= undefined of
        true ->
            port_exited(Status, S#state{out = epcap_out:close(Out)});
        false ->
            Wait = case epcap_out:socket(Out) of undefined -> 200; _ -> 1000 end,
            _ = erlang:send_after(Wait, self(), '$epcap_out_drain'),
            {noreply, S#state{exit_pending = Status}}
    end;
exit_seen(_, S) ->
    {noreply, S}.

output_ended(#state{exit_pending = undefined} = S) ->
    {noreply, S};
output_ended(#state{exit_pending = Status} = S) ->
    port_exited(Status, S#state{exit_pending = undefined}).

handle_data(_, #state{final = Final} = S) when Final =/= undefined ->
    {noreply, S};  % the port has said its last word: nothing after counts
handle_data(Bin, #state{frame = F} = S) ->
    case epcap_frame:feed(Bin, F) of
        {ok, Events, F1} -> events(Events, S#state{frame = F1});
        {error, Reason, Events} -> protocol_error(Reason, Events, S)
    end.

%% @private
terminate(Reason, #state{port = Port, pending = Pending, stderr = E, recv = Recv,
                         many = M} = S) ->
    epcap_events:ended(how_ended(S), Reason),
    _ = [gen_server:reply(From, {error, closed}) || {Tag, From} <- queue:to_list(Pending),
                                                  From =/= none, Tag =/= send_many],
    _ = [gen_server:reply(From, R) || {From, R} <- epcap_inject:closing(closed, M)],
    _ = [gen_server:reply(From, {error, closed}) || {From, _} <- [Recv]],
    ok = close_saving(S),
    catch port_close(Port),
    _ = epcap_out:close(S#state.out),
    epcap_stderr:close(E).

how_ended(#state{final = eof}) -> eof;
how_ended(#state{final = {error, _} = E}) -> E;
how_ended(#state{ready = false, start_error = E}) when E =/= undefined -> {start_failed, E};
how_ended(_) -> stopped.

%% A capture that saves is asked to close its file, so that the owner
%% hears of the last one (`{epcap_saved, ...}') before the port goes; what
%% else arrives meanwhile is dropped. Bounded: a port that does not answer
%% is closed all the same (its file is complete either way: the port
%% closes it at stdin's end too).
close_saving(#state{options = #{save := Save}, ready = true, final = undefined,
                    port = Port} = S) when Save =/= undefined ->
    case catch port_command(Port, framed([?CTL_CLOSE])) of
        true ->
            Until = erlang:monotonic_time(millisecond) + ?CLOSE_TIMEOUT,
            last_files(S#state.frame, Until, S);
        _ -> ok
    end;
close_saving(_) ->
    ok.

last_files(F, Until, #state{port = Port, out = Out} = S) ->
    Left = max(0, Until - erlang:monotonic_time(millisecond)),
    Sock = epcap_out:socket(Out),
    receive
        {tcp_passive, Sock} when Sock =/= undefined ->
            last_files(F, Until, S);
        {tcp, Sock, Bin} when Sock =/= undefined ->
            ok = epcap_out:took(Out),
            last_feed(Bin, F, Until, S);
        {tcp_closed, Sock} when Sock =/= undefined ->
            ok;
        {Port, {data, Bin}} when Out =:= none ->
            last_feed(Bin, F, Until, S);
        {Port, {exit_status, _}} = Exit when Sock =:= undefined ->
            self() ! Exit,
            ok
    after Left -> ok
    end.

last_feed(Bin, F, Until, S) ->
    case epcap_frame:feed(Bin, F) of
        {ok, Events, F1} ->
            case last_events(Events, S) of
                done -> ok;
                more -> last_files(F1, Until, S)
            end;
        {error, _, Events} ->
            _ = last_events(Events, S),
            ok
    end.

last_events([], _) -> more;
last_events([{term, eof} | _], _) -> done;
last_events([{term, {error, _}} | _], _) -> done;
last_events([{term, T} | Rest], S) ->
    _ = tell_save(T, S),
    last_events(Rest, S);
last_events([_ | Rest], S) ->
    last_events(Rest, S).

%% @private
%% A crash report shows the capture, not its buffered packets, nor the
%% bytes of the last port message (up to 64 KiB).
format_status(#{state := #state{} = S} = Status) ->
    Status1 = Status#{state := #{owner => S#state.owner, os_pid => S#state.os_pid,
                                 ready => S#state.ready, final => S#state.final,
                                 buffered => epcap_flow:buffered(S#state.flow)}},
    case Status1 of
        #{message := {Port, {data, Bin}}} when is_binary(Bin) ->
            Status1#{message := {Port, {data, {bytes, byte_size(Bin)}}}};
        #{message := {tcp, Sock, Bin}} when is_binary(Bin) ->
            Status1#{message := {tcp, Sock, {bytes, byte_size(Bin)}}};
        _ -> Status1
    end;
format_status(Status) ->
    Status.

%% How long the port has to say `ready': application env `start_timeout'
%% (ms; tests shorten it), 30 s by default.
start_timeout() ->
    case application:get_env(epcap, start_timeout) of
        {ok, Ms} when is_integer(Ms), Ms > 0 -> Ms;
        _ -> ?START_TIMEOUT
    end.

%% What info/1 shows: epcap_options:in_force/2 of the wrapper in force
%% (the words before the port program on its command line).
options_in_force(#{exec := Wrapper} = O) ->
    epcap_options:in_force(O, Wrapper).

wrapper_in_force(Cmd, O) ->
    Prog = epcap_options:progname(O),
    lists:takewhile(fun(A) -> A =/= Prog end, Cmd).

%%====================================================================
%% What the port says
%%====================================================================

%% Packets then terms, in the order the port sent them.
events([], S) ->
    {noreply, S};
events([{records, _, _} | _], #state{ready = false} = S) ->
    fail({protocol, packets_before_ready}, S);
events([{records, Count, Records} | Rest], S) ->
    case received(Count, Records, S) of
        {noreply, S1} -> events(Rest, S1);
        Stop -> Stop
    end;
events([{term, T} | Rest], S) ->
    case control(T, S) of
        {noreply, S1} -> events(Rest, S1);
        Stop -> Stop
    end.

protocol_error(Reason, Events, S) ->
    case events(Events, S) of
        {noreply, S1} -> fail(Reason, S1);
        Stop -> Stop
    end.

control({ready, DLT, OsPid, Precision, Mode, Snaplen, Vsn}, #state{ready = false} = S) ->
    Info = #{os_pid => OsPid, sandbox => Mode, link_type => DLT, snaplen => Snaplen,
             precision => Precision, version => version(Vsn)},
    S1 = S#state{ready = true, dlt = DLT, os_pid = OsPid, info = Info},
    epcap_events:ready(Info#{options => options_in_force(S#state.options)}),
    epcap_events:stats_interval(maps:get(stats_interval, S#state.options)),
    _ = [gen_server:reply(From, ok) || From <- [S#state.starter], From =/= undefined],
    S2 = S1#state{starter = undefined,
                  answered = S#state.starter =/= undefined},
    case epcap_flow:new(maps:get(active, S#state.options)) of
        {_, true} -> grant(passive(S2));
        {_, false} -> grant(S2)
    end;
control({error, Reason}, #state{ready = false} = S) ->
    start_failed(hint(Reason, S), S);
control(eof, S) ->
    finish(eof, close_port(S));
control({error, Reason}, S) ->
    fail(Reason, S);
control({Tag, _} = Reply, S) when Tag =:= send; Tag =:= filter ->
    reply(Tag, result(Reply), S);
control({send_many, Sent, ok}, S) when is_integer(Sent), Sent >= 0 ->
    many_answer({ok, Sent}, S);
control({send_many, Sent, {error, Msg}}, #state{send_failed = F} = S)
  when is_integer(Sent), Sent >= 0, is_list(Msg) ->
    many_answer({error, Sent, {inject, Msg}}, S#state{send_failed = F + 1});
control({send_many, 0, skipped}, S) ->
    many_answer(skipped, S);
control({send_failed, N, Msg}, #state{send_failed = F, send_error = E} = S)
  when is_integer(N), N > 0, is_list(Msg) ->
    E1 = case E of undefined -> {N, Msg}; {M, Msg0} -> {M + N, Msg0} end,
    ok = atomics:put(S#state.send_flag, 1, 1),
    {noreply, S#state{send_failed = F + N, send_error = E1}};
control({stats, Recv, Drop, IfDrop, {_, _, _, _, _} = Counts}, S) ->
    Map = stats_map(Recv, Drop, IfDrop, Counts),
    reply(stats, {ok, Map#{send_failed => S#state.send_failed}}, S);
control({stats, Recv, Drop, IfDrop, {_, _, _, _, _} = Counts, {Saved, Errors}}, S)
  when is_integer(Saved), Saved >= 0, is_integer(Errors), Errors >= 0 ->
    Map = stats_map(Recv, Drop, IfDrop, Counts),
    reply(stats, {ok, Map#{saved => Saved, save_errors => Errors,
                           send_failed => S#state.send_failed}}, S);
control(T, #state{options = #{save := Save}} = S)
  when Save =/= undefined, (tuple_size(T) =:= 6 andalso element(1, T) =:= saved)
       orelse (tuple_size(T) =:= 2 andalso element(1, T) =:= removed) ->
    case tell_save(T, S) of
        ok -> {noreply, S};
        error -> fail({protocol, {bad_term, epcap_control:summary(T)}}, S)
    end;
control({stats, {error, Msg}}, S) ->
    reply(stats, {error, {stats, Msg}}, S);
control(Other, S) ->
    %% A term of the protocol at the wrong time (a second ready): named, not echoed.
    fail({protocol, {bad_term, epcap_control:summary(Other)}}, S).

%% A saving port's `saved'/`removed' term, checked (epcap_save), to the owner.
tell_save(T, #state{options = #{save := Save}, unit = U, owner = O}) ->
    case epcap_save:event(T, Save, U) of
        {saved, Map} -> O ! {epcap_saved, self(), Map}, ok;
        {removed, Path} -> O ! {epcap_removed, self(), Path}, ok;
        error -> error
    end.

stats_map(Recv, Drop, IfDrop, {Wakeups, Reads, Batches, CreditUs, PipeUs}) ->
    #{received => Recv, dropped => Drop, if_dropped => IfDrop,
      wakeups => Wakeups, reads => Reads, batches => Batches,
      credit_wait_us => CreditUs, pipe_wait_us => PipeUs}.

version(V) when is_binary(V) -> binary_to_list(V);
version(V) -> V.

result({_, ok}) -> ok;
result({send, {error, Msg}}) -> {error, {inject, Msg}};
result({filter, {error, Msg}}) -> {error, {filter, Msg}}.

%% The wrapper epcap chose (`sudo -n' for a port without capabilities)
%% exited before the port said anything: the user lacks the right to
%% capture, whatever the wrapper said; the hint says how to get it.
default_wrapper_failed({port_exit, Why}, #state{options = #{exec := [_ | _] = W} = O} = S) ->
    case lists:member(exec, maps:get(given, O)) of
        true -> {port_exit, Why};
        false ->
            Said = case Why of {_, Text} -> ": " ++ Text; _ -> "" end,
            Msg = lists:flatten(io_lib:format("~ts could not run the port~ts",
                                              [lists:join(" ", W), Said])),
            hint({permission_denied, Msg}, S)
    end;
default_wrapper_failed(Reason, _S) ->
    Reason.

%% A permission error says how to get the permission, where we know it.
hint(Reason, #state{options = O}) ->
    with_hint(Reason, O).

with_hint({permission_denied, Msg}, O) when is_list(Msg) ->
    case epcap_privilege:permission_hint(epcap_options:progname(O)) of
        none -> {permission_denied, Msg};
        Hint -> {permission_denied, Msg ++ " (" ++ Hint ++ ")"}
    end;
with_hint(Reason, _) ->
    Reason.

request(Tag, Msg, From, #state{port = Port, pending = P} = S) ->
    try port_command(Port, framed(Msg)) of
        true -> {noreply, S#state{pending = queue:in({Tag, From}, P)}}
    catch
        error:badarg -> {reply, {error, closed}, S}
    end.

%% send_many/2's messages hold their place among the replies the port
%% owes (`{send_many, many}'); epcap_inject keeps the calls.
many_answer(Answer, #state{pending = P} = S) ->
    case queue:out(P) of
        {{value, {send_many, many}}, P1} ->
            {noreply, many(epcap_inject:answer(Answer, S#state.many),
                           S#state{pending = P1})};
        _ ->
            fail({protocol, {unexpected_reply, send_many}}, S)
    end.

many({Actions, M}, S) ->
    many_do(Actions, S#state{many = M}).

many_do([], S) ->
    S;
many_do([{reply, From, Result} | Rest], S) ->
    gen_server:reply(From, Result),
    many_do(Rest, S);
many_do([{write, Msg} | Rest], #state{port = Port, pending = P} = S) ->
    try port_command(Port, framed(Msg)) of
        true -> many_do(Rest, S#state{pending = queue:in({send_many, many}, P)})
    catch
        error:badarg ->
            %% The port is gone: this message, and any after it, are answered
            %% here in the port's stead.
            S1 = many_do(Rest, S),
            many(epcap_inject:answer({error, 0, closed}, S1#state.many), S1)
    end.

reply(Tag, Result, #state{pending = P} = S) ->
    case queue:out(P) of
        {{value, {Tag, From}}, P1} ->
            gen_server:reply(From, Result),
            {noreply, S#state{pending = P1}};
        {{value, {{Tag, Arg}, From}}, P1} ->
            _ = [gen_server:reply(From, Result) || From =/= none],
            {noreply, in_force(Tag, Arg, Result, S#state{pending = P1})};
        _ ->
            fail({protocol, {unexpected_reply, Tag}}, S)
    end.

%% A request that changed the capture: info/1 shows the change.
in_force(filter, F, ok, #state{options = O} = S) -> S#state{options = O#{filter := F}};
in_force(stats, periodic, {ok, Stats}, #state{owner = Owner} = S) ->
    Owner ! {epcap_stats, self(), Stats},
    S;
in_force(_, _, _, S) -> S.

start_failed(Reason, #state{starter = undefined} = S) ->
    {noreply, (close_port(S))#state{start_error = Reason}};
start_failed(Reason, #state{starter = From} = S) ->
    gen_server:reply(From, {error, Reason}),
    {stop, normal, close_port(S#state{starter = undefined, start_error = Reason})}.

%% After its last word (eof or an error) the port waits for us to close its
%% stdin, so that nothing it wrote can be lost to a credit grant racing its
%% exit (EPIPE would make the runtime drop the port's unread output).
close_port(#state{port = Port, flow = F, out = Out} = S) ->
    catch port_close(Port),
    answer_closed(S#state{flow = epcap_flow:drop_credit(F), out = epcap_out:close(Out)}).

%% A request sent to the port just before it said its last word gets no
%% answer from it: the caller would wait for ever (the server lives on
%% while the owner has packets to take).
answer_closed(#state{pending = P} = S) ->
    _ = [gen_server:reply(From, {error, closed}) || {_, From} <- queue:to_list(P), From =/= none],
    S#state{pending = queue:new()}.

%% A start that timed out: the port (or its wrapper) may be blocked before
%% it reads stdin, so closing it is not enough.
kill_port(#state{port = Port} = S) ->
    case catch erlang:port_info(Port, os_pid) of
        {os_pid, OsPid} when is_integer(OsPid) ->
            catch port_close(Port),
            _ = os:cmd("kill -KILL " ++ integer_to_list(OsPid) ++ " 2>/dev/null"),
            S;
        _ ->
            close_port(S)
    end.

%% The port says an error term before it exits; an exit without one (a
%% crash, a wrapper that failed) is reported by its status, with what the
%% port or its wrapper wrote on stderr.
port_exited(Status, #state{stderr = E} = S0) ->
    exited(Status, S0#state{stderr = epcap_stderr:await_end(E, 500)}).

exited(Status, #state{ready = false, start_error = undefined} = S) ->
    start_failed(default_wrapper_failed(port_exit(Status, S), S), S);
exited(_Status, #state{ready = false} = S) ->
    {noreply, S};
exited(_Status, #state{final = F} = S) when F =/= undefined ->
    {noreply, S};
exited(Status, S) ->
    fail(port_exit(Status, S), S).

%% `{port_exit, Status}', or `{port_exit, {Status, Text}}' when the port or
%% its wrapper (e.g. sudo: "a password is required") said why on stderr.
port_exit(Status, #state{stderr = E}) ->
    case epcap_stderr:last_words(E) of
        "" -> {port_exit, Status};
        Text -> {port_exit, {Status, Text}}
    end.

fail(Reason, #state{ready = false, start_error = undefined} = S) ->
    start_failed(Reason, S);
fail(_Reason, #state{ready = false} = S) ->
    {noreply, S};
fail(Reason, S) ->
    finish({error, Reason}, close_port(S)).

%% The owner hears of the end after every packet before it.
finish(Final, S) ->
    drain(S#state{final = Final}).

%% Once the port has said its last word, the owner hears it right after the
%% last packet (buffered packets first, whatever the active mode); then the
%% server exits: normal after eof, with the failure otherwise.
drain(#state{final = undefined} = S) ->
    {noreply, S};
drain(#state{moving = true} = S) ->
    {noreply, S};
drain(#state{answered = false} = S) ->
    {noreply, S};
drain(#state{final = Final, flow = F} = S) ->
    case epcap_flow:buffered(F) of
        0 ->
            _ = tell_end(Final, S),
            {stop, exit_reason(Final), S};
        _ ->
            {noreply, S}
    end.

tell_end(eof, #state{owner = O, tag = untagged}) -> O ! {epcap, eof};
tell_end(eof, #state{owner = O, tag = {tagged, Pid}}) -> O ! {epcap_eof, Pid};
tell_end({error, R}, #state{owner = O, tag = untagged}) -> O ! {epcap, {error, R}};
tell_end({error, R}, #state{owner = O, tag = {tagged, Pid}}) -> O ! {epcap_error, Pid, R}.

exit_reason(eof) -> normal;
exit_reason({error, Reason}) -> Reason.

%%====================================================================
%% Delivery and flow control
%%====================================================================

%% More packets than granted is a lie: the capture ends, and the server
%% holds no more than it granted.
received(Count, Records, #state{moving = true, flow = F} = S) ->
    case epcap_flow:hold(Count, Records, F) of
        {ok, F1} -> {noreply, S#state{flow = F1}};
        {error, credit} -> fail({protocol, credit}, S)
    end;
received(Count, Records, #state{flow = F} = S) ->
    case epcap_flow:received(Count, Records, F) of
        {error, credit} -> fail({protocol, credit}, S);
        Delivery -> deliver(Delivery, S)
    end.

%% What arrived while the owner changed goes out first, then the end (if
%% the port has said its last word meanwhile).
release_held(#state{flow = F} = S) ->
    deliver(epcap_flow:resume(F), S).

deliver({{[_ | _] = Chunks, _Passive}, F}, #state{recv = {From, Timer}} = S) ->
    recv_reply(Chunks, F, From, Timer, S);
deliver({{Chunks, Passive}, F}, S) ->
    S1 = S#state{flow = F},
    ok = send_chunks(Chunks, S1),
    S2 = case Passive of true -> passive(S1); false -> S1 end,
    case drain(S2) of
        {noreply, S3} -> grant(S3);
        Stop -> Stop
    end.

send_chunks([], _) -> ok;
send_chunks([R | Rest], #state{deliver = batch, owner = O, dlt = DLT, unit = U} = S) ->
    O ! {epcap_batch, self(), epcap_batch:new(DLT, U, R)},
    send_chunks(Rest, S);
send_chunks([R | Rest], #state{owner = O, dlt = DLT, unit = U, tag = T} = S) ->
    ok = epcap_batch:forward(R, O, DLT, U, T),
    send_chunks(Rest, S).

%% recv/3: the owner may have up to Length packets now, as `{active, N}'
%% would give them, but they go into the reply.
recv_start(Length, Timeout, From, #state{flow = F} = S) ->
    {ok, F1, _} = epcap_flow:set_active(case Length of 0 -> 32767; N -> N end, F),
    Timer = case Timeout of
                infinity -> undefined;
                Ms -> erlang:send_after(Ms, self(), {recv_timeout, From})
            end,
    deliver(epcap_flow:resume(F1), S#state{flow = F1, recv = {From, Timer}}).

%% The first packets to come answer recv/3; the rest waits (`false' again).
recv_reply(Chunks, F, From, Timer, #state{dlt = DLT, unit = U} = S) ->
    _ = [erlang:cancel_timer(Timer) || Timer =/= undefined],
    Packets = lists:append(
                [lists:reverse(epcap_batch:fold(fun(P, Acc) -> [P | Acc] end, [],
                                                epcap_batch:new(DLT, U, R)))
                 || R <- Chunks]),
    gen_server:reply(From, {ok, Packets}),
    {ok, F1, _} = epcap_flow:set_active(false, F),
    deliver({{[], false}, F1}, S#state{recv = undefined}).

passive(#state{owner = Owner} = S) ->
    Owner ! {epcap_passive, self()},
    S.

%% Credit is granted only to a ready port that has not said its last word.
grant(#state{ready = true, final = undefined, flow = F, port = Port} = S) ->
    case epcap_flow:grant(F) of
        {0, _} -> {noreply, S};
        {Want, F1} ->
            catch port_command(Port, framed(<<?CTL_CREDIT, Want:32>>)),
            {noreply, S#state{flow = F1}}
    end;
grant(S) ->
    {noreply, S}.

apply_setopts([], S) -> {ok, S};
apply_setopts([{active, A} | Rest], #state{flow = F} = S) ->
    case epcap_flow:set_active(A, F) of
        {ok, F1, true} -> apply_setopts(Rest, passive(S#state{flow = F1}));
        {ok, F1, false} -> apply_setopts(Rest, S#state{flow = F1});
        {error, einval} -> {error, einval}
    end;
apply_setopts([_Opt | _], _S) ->
    %% as inet:setopts/2: an option it cannot set is einval
    {error, einval}.

%%====================================================================
%% Helpers
%%====================================================================

%% The port is a byte stream both ways: each control message carries its
%% 4-byte length (doc/protocol.md).
framed(Msg) -> [<<(iolist_size(Msg)):32>> | Msg].

call(Pid, Request) ->
    try gen_server:call(Pid, Request, infinity)
    catch exit:_ -> {error, closed}
    end.
