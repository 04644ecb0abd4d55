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
-export([getopts/1]).
-export([info/1]).
-export([controlling_process/2]).
-export([interfaces/0]).
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
%% A process, as gen_server names one: resolved once, at start.
-type owner() :: pid() | atom() | {global, term()} | {via, module(), term()}.
%% What stats/1 gives (see there).
-type stats() :: #{received := non_neg_integer(), dropped := non_neg_integer(),
                   if_dropped := non_neg_integer(), wakeups := non_neg_integer(),
                   reads := non_neg_integer(), batches := non_neg_integer(),
                   credit_wait_us := non_neg_integer(),
                   pipe_wait_us := non_neg_integer(),
                   send_failed := non_neg_integer()}.
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
    | {active, active()} | {deliver, packet | batch} | {tagged, boolean()}
    | {fanout, {0..65535, epcap_fanout:mode()}
               | {0..65535, epcap_fanout:mode(), [epcap_fanout:flag()]}}.
%% Every tag here is in error_reasons/0, and every reason the port program
%% can send is here (test/epcap_protocol_tests.erl checks both).
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
    | {fcntl, string()} | {fanout, string()} | {record_too_large, string()}.

-define(START_TIMEOUT, 30000).

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
    pending = queue:new() :: queue:queue({atom(), gen_server:from() | many}),
    starter = undefined :: undefined | gen_server:from(),
    start_error = undefined :: undefined | reason(),
    ready = false :: boolean(),
    final = undefined :: undefined | eof | {error, reason()},
    %% controlling_process/2 in progress: what arrives meanwhile waits
    moving = false :: boolean(),
    held = [] :: [{pos_integer(), binary()}],
    stderr = epcap_stderr:new() :: epcap_stderr:state(),
    %% frames the kernel refused, for stats/1; and send/2's first refusal
    %% not yet returned by a send/2 (with how many since)
    send_failed = 0 :: non_neg_integer(),
    send_error = undefined :: undefined | {pos_integer(), string()},
    many = epcap_inject:calls_new() :: epcap_inject:calls(),
    %% 1 while send_error waits: send/2's callers look before they send
    send_flag = atomics:new(1, []) :: atomics:atomics_ref()
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
%% <li>`{active, true}': `false', `once' or `N' as in `gen_tcp'; at 0
%% the owner gets `{epcap_passive, Pid}'.</li>
%% <li>`{deliver, packet}': `batch' sends `{epcap_batch, Pid, Batch}', to be
%% walked with {@link fold/3}.</li>
%% <li>`{tagged, false}': `true' names the capture in every message.</li>
%% <li>`verbose' | `{verbose, N}': the port's diagnostics, as `logger'
%% events.</li>
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

%% @doc Change options of a running capture: `{active, A}' only.
%% As in `inet:setopts/2', `{active, N}' adds N to the current count
%% (range -32768..32767, `{error, einval}' outside); at 0 or below the
%% owner gets `{epcap_passive, Pid}'.
-spec setopts(pid(), [{active, active()}]) -> ok | {error, einval | reason()}.
setopts(Pid, Opts) when is_list(Opts) -> call(Pid, {setopts, Opts});
setopts(_Pid, Opts) -> {error, {badarg, {setopts, Opts}}}.

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
%% `owner', `options' (every option with its value, defaults included).
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
     fanout, record_too_large].

%% @doc Every atom the port program may send. Control terms are decoded
%% with `binary_to_term(T, [safe])', so a port cannot create atoms: these
%% exist because they are listed here.
-spec protocol_atoms() -> [atom()].
protocol_atoms() ->
    [ready, micro, nano, seccomp, rlimit, null, pledge, capsicum, eof, error,
     ok, send, send_many, send_failed, skipped, stats, filter, interfaces, name,
     description, addresses, flags,
     addr, netmask, broadaddr, dstaddr, undefined, up, running, loopback,
     wireless | error_reasons()].

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
                {error, _} = Error -> Error;
                Cmd -> {ok, O, Cmd}
            end;
        {error, _} = Error ->
            Error
    end.

%% `epcap -L': one term, then exit. Read as a stream and framed by
%% epcap_frame, as a capture is: no length prefix reserves memory.
run_once(Prog, Args) ->
    Port = open_port({spawn_executable, Prog}, [{args, Args}, stream, binary, exit_status]),
    Result = once_term(Port, epcap_frame:new()),
    flush_exit(Port),
    Result.

once_term(Port, F) ->
    receive
        {Port, {data, Bin}} ->
            case epcap_frame:feed(Bin, F) of
                {ok, [], F1} -> once_term(Port, F1);
                {ok, [{term, {interfaces, List}} | _], _} -> {ok, List};
                {ok, [{term, {error, Reason}} | _], _} -> {error, Reason};
                {ok, [Other | _], _} -> {error, {protocol, Other}};
                {error, Reason, _} -> {error, Reason}
            end;
        {Port, {exit_status, S}} ->
            self() ! {Port, {exit_status, S}},
            {error, {port_exit, S}}
    after ?START_TIMEOUT ->
        {error, timeout}
    end.

flush_exit(Port) ->
    receive {Port, {exit_status, _}} -> ok after 5000 -> catch port_close(Port) end.

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
    {Stderr, Port} = epcap_stderr:open(Cmd, How),
    {Flow, _} = epcap_flow:new(maps:get(active, O)),
    Tag = case maps:get(tagged, O) of true -> {tagged, self()}; false -> untagged end,
    {ok, #state{port = Port, owner = Owner, owner_mon = erlang:monitor(process, Owner),
                options = O, flow = Flow, stderr = Stderr, tag = Tag,
                unit = maps:get(time_unit, O), deliver = maps:get(deliver, O)}}.

%% @private
handle_call('$epcap_ready', From, #state{ready = false, start_error = undefined} = S) ->
    {noreply, S#state{starter = From}};
handle_call('$epcap_ready', _From, #state{start_error = undefined} = S) ->
    {reply, ok, S};
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
    request(filter, [?CTL_FILTER, unicode:characters_to_binary(F)], From, S);
handle_call({setopts, Opts}, _From, S) ->
    case apply_setopts(Opts, S) of
        {ok, S1} -> reply_after(ok, deliver(epcap_flow:resume(S1#state.flow), S1));
        {error, _} = E -> {reply, E, S}
    end;
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
handle_info({Port, {data, _}} = Msg, #state{port = Port, ready = false, stderr = E} = S) ->
    handle_data(Msg, S#state{stderr = epcap_stderr:opened(E)});
handle_info({Port, {data, _}} = Msg, #state{port = Port} = S) ->
    handle_data(Msg, S);
handle_info({'$epcap_send', _Data}, #state{options = #{inject := false}} = S) ->
    {noreply, S};
handle_info({'$epcap_send', Data}, S) ->
    {noreply, send_frames(Data, S)};
handle_info({Port, {exit_status, Status}}, #state{port = Port} = S) ->
    port_exited(Status, S);
handle_info({'DOWN', Ref, process, _, _}, #state{owner_mon = Ref} = S) ->
    {stop, normal, S};
handle_info({'EXIT', Port, _}, #state{port = Port} = S) ->
    port_exited(-1, S);
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
handle_info(Msg, #state{stderr = E} = S) ->
    case epcap_stderr:handle(Msg, E) of
        {ok, E1} -> {noreply, S#state{stderr = E1}};
        unknown ->
            logger:warning(#{epcap => unexpected_message, message => Msg}),
            {noreply, S}
    end.

handle_data({_, {data, Bin}}, #state{frame = F} = S) ->
    case epcap_frame:feed(Bin, F) of
        {ok, Events, F1} -> events(Events, S#state{frame = F1});
        {error, Reason, Events} -> protocol_error(Reason, Events, S)
    end.

%% @private
terminate(_Reason, #state{port = Port, pending = Pending, stderr = E, many = M}) ->
    _ = [gen_server:reply(From, {error, closed}) || {Tag, From} <- queue:to_list(Pending),
                                                    Tag =/= send_many],
    _ = [gen_server:reply(From, R) || {From, R} <- epcap_inject:closing(closed, M)],
    catch port_close(Port),
    epcap_stderr:close(E).

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

options_in_force(O) ->
    [{K, V} || {K, V} <- lists:sort(maps:to_list(O)), K =/= given].

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
    _ = [gen_server:reply(From, ok) || From <- [S#state.starter], From =/= undefined],
    S2 = S1#state{starter = undefined},
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
control({stats, Recv, Drop, IfDrop, {Wakeups, Reads, Batches, CreditUs, PipeUs}}, S) ->
    reply(stats, {ok, #{received => Recv, dropped => Drop, if_dropped => IfDrop,
                        wakeups => Wakeups, reads => Reads, batches => Batches,
                        credit_wait_us => CreditUs, pipe_wait_us => PipeUs,
                        send_failed => S#state.send_failed}}, S);
control({stats, {error, Msg}}, S) ->
    reply(stats, {error, {stats, Msg}}, S);
control(Other, S) ->
    fail({protocol, Other}, S).

version(V) when is_binary(V) -> binary_to_list(V);
version(V) -> V.

result({_, ok}) -> ok;
result({send, {error, Msg}}) -> {error, {inject, Msg}};
result({filter, {error, Msg}}) -> {error, {filter, Msg}}.

%% A permission error says how to get the permission, where we know it.
hint({permission_denied, Msg}, #state{options = O}) when is_list(Msg) ->
    case epcap_privilege:permission_hint(epcap_options:progname(O)) of
        none -> {permission_denied, Msg};
        Hint -> {permission_denied, Msg ++ " (" ++ Hint ++ ")"}
    end;
hint(Reason, _) ->
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
        _ ->
            fail({protocol, {unexpected_reply, Tag}}, S)
    end.

start_failed(Reason, #state{starter = undefined} = S) ->
    {noreply, (close_port(S))#state{start_error = Reason}};
start_failed(Reason, #state{starter = From} = S) ->
    gen_server:reply(From, {error, Reason}),
    {stop, normal, close_port(S#state{starter = undefined})}.

%% After its last word (eof or an error) the port waits for us to close its
%% stdin, so that nothing it wrote can be lost to a credit grant racing its
%% exit (EPIPE would make the runtime drop the port's unread output).
close_port(#state{port = Port, flow = F} = S) ->
    catch port_close(Port),
    S#state{flow = epcap_flow:drop_credit(F)}.

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
    start_failed(port_exit(Status, S), S);
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

received(Count, Records, #state{moving = true, held = H} = S) ->
    {noreply, S#state{held = [{Count, Records} | H]}};
received(Count, Records, #state{flow = F} = S) ->
    deliver(epcap_flow:received(Count, Records, F), S).

%% What arrived while the owner changed goes out first, then the end (if
%% the port has said its last word meanwhile).
release_held(#state{held = H} = S) ->
    Result = lists:foldl(fun({C, R}, {noreply, Acc}) -> received(C, R, Acc);
                            (_, Stop) -> Stop
                         end, {noreply, S#state{held = []}}, lists:reverse(H)),
    case Result of
        {noreply, S1} -> drain(S1);
        Stop -> Stop
    end.

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
apply_setopts([Opt | _], _S) ->
    {error, {bad_option, Opt}}.

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
