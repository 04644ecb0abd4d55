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
%%% packet of a file, `{epcap, {error, Reason}}' for any other end.
%%%
%%% Flow control follows `gen_tcp': `{active, true | false | once | N}'.
%%% The port reads libpcap only while the server holds credit for it, so a
%%% slow owner in `once'/`N'/`false' mode makes the kernel drop (counted by
%%% {@link stats/1}) instead of the VM's memory growing.
%%%
%%% The wire protocol between this module and the port is in
%%% `doc/protocol.md'.
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
-export([stats/1]).
-export([setfilter/2]).
-export([setopts/2]).
-export([getopts/1]).
-export([interfaces/0]).
-export([fold/3]).
-export([foreach/2]).
-export([error_reasons/0]).
-export([protocol_atoms/0]).

-export([init/1, handle_call/3, handle_cast/2, handle_info/2, terminate/2]).

-export_type([option/0, reason/0, packet/0, batch/0, time/0]).

-type time() :: erlang:timestamp() | non_neg_integer().
-type packet() :: {packet, DataLinkType :: non_neg_integer(), time(),
                   Length :: non_neg_integer(), Packet :: binary()}.
-opaque batch() :: {epcap_batch, non_neg_integer(), time_unit(), binary()}.
-type time_unit() :: timestamp | microsecond | nanosecond.
-type active() :: boolean() | once | -32768..32767.
-type option() ::
    {interface, iodata()} | {filter, iodata()}
    | promiscuous | {promiscuous, boolean()}
    | monitor | {monitor, boolean()}
    | inject | {inject, boolean()}
    | {snaplen, pos_integer()} | {buffer, non_neg_integer()}
    | {timeout, non_neg_integer() | infinity | immediate}
    | {direction, in | out | inout}
    | {time_unit, time_unit()}
    | {file, file:filename_all()}
    | verbose | {verbose, non_neg_integer()}
    | {env, string()} | {cluster_id, 0..255}
    | {cpu_affinity, string()} | {exec, string()} | {progname, string()}
    | {user, string()} | {group, string()} | {chroot, file:filename()}
    | {active, active()} | {deliver, packet | batch} | {tagged, boolean()}
    | {fanout, {0..65535, epcap_fanout:mode()}
               | {0..65535, epcap_fanout:mode(), [epcap_fanout:flag()]}}.
-type reason() ::
    {badarg, {atom(), term()}} | {bad_option, term()}
    | {filter, string()} | {no_such_device, string()}
    | {permission_denied, string()} | {monitor_not_supported, string()}
    | {interface_down, string()} | {file, string()} | {direction, string()}
    | {cpu_affinity, string()} | {exec_not_found, string()}
    | {port_not_found, string()} | {no_such_user, string()}
    | {no_such_group, string()} | {chroot, string()} | {privdrop, string()}
    | {restrict, string()} | {capture, string()} | {pcap, string()}
    | {port_exit, integer()} | {protocol, term()} | closed | timeout
    | {fanout, string()}.

-define(TAG_BATCH, 1).
-define(TAG_TERM, 2).
-define(CTL_INJECT, 1).
-define(CTL_STATS, 2).
-define(CTL_FILTER, 3).
-define(CTL_CREDIT, 4).
-define(MAX_FRAME, 65535).
-define(MAX_FILTER, 8192).  % c_src/control.h: CTL_FILTER_MAX
%% Credit window in packets: how many the port may send before the server
%% has forwarded them. Bounds the server's mailbox; refilled at half.
-define(WINDOW, 8192).
%% In once/N/false mode the server reads this many packets ahead of what the
%% owner has asked for, so that re-arming costs no round trip to the port.
-define(PREFETCH, 512).
-define(START_TIMEOUT, 30000).

-record(state, {
    port :: port(),
    owner :: pid(),
    owner_mon :: reference(),
    os_pid = undefined :: undefined | integer(),
    dlt = 0 :: non_neg_integer(),
    unit = timestamp :: time_unit(),
    deliver = packet :: packet | batch,
    inject = false :: boolean(),
    tagged = false :: boolean(),  % MINIMAL {tagged, true} (fanout branch; otp's replaces it)
    active = true :: boolean() | once | integer(),
    outstanding = 0 :: non_neg_integer(),
    buffer = [] :: [{non_neg_integer(), binary()}],  % {Count, Records}
    buffered = 0 :: non_neg_integer(),
    pending = queue:new() :: queue:queue({atom(), gen_server:from()}),
    starter = undefined :: undefined | gen_server:from(),
    start_error = undefined :: undefined | reason(),
    ready = false :: boolean(),
    final = undefined :: undefined | eof | {error, reason()}
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
-spec start(pid(), [option()]) -> {ok, pid()} | {error, reason()}.
start(Owner, Options) -> start_server(start, Owner, Options).

%% @equiv start_link([])
-spec start_link() -> {ok, pid()} | {error, reason()}.
start_link() -> start_link([]).

%% @equiv start_link(self(), Options)
-spec start_link([option()]) -> {ok, pid()} | {error, reason()}.
start_link(Options) -> start_link(self(), Options).

%% @doc Start a capture linked to the caller, delivering to `Owner'.
%%
%% Example, reading a file:
%% ```
%% {ok, Pid} = epcap:start_link([{file, "test/data/veth_mixed.pcap"}]),
%% receive {packet, 1, {_, _, _}, 42, <<_:42/binary>>} -> ok end.
%% '''
%% Options (defaults first; flags also as `{Flag, boolean()}'):
%% <ul>
%% <li>`{interface, If}': libpcap's first device by default.</li>
%% <li>`{file, Path}': read a pcap/pcapng file instead (µs or ns).</li>
%% <li>`{filter, BPF}': a pcap-filter(7) expression; all by default.</li>
%% <li>`promiscuous', `monitor' (rfmon), `inject' (allow {@link send/2}).</li>
%% <li>`{snaplen, 65535}' (1..262144), `{buffer, Bytes}' (kernel buffer).</li>
%% <li>`{timeout, immediate}': `immediate' or `0' deliver at once,
%% `Ms' waits up to Ms for a full buffer, `infinity' only when it fills
%% (on Linux the kernel caps that wait at 65.535 s).</li>
%% <li>`{direction, inout}': or `in', `out'.</li>
%% <li>`{time_unit, timestamp}': Time as `{Mega, Sec, Micro}';
%% `microsecond' / `nanosecond' as an integer (nanosecond asks libpcap for
%% nanosecond precision).</li>
%% <li>`{active, true}': `false', `once' or `N' as in `gen_tcp'; at 0
%% the owner gets `{epcap_passive, Pid}'.</li>
%% <li>`{deliver, packet}': `batch' sends `{epcap_batch, Pid, Batch}', to be
%% walked with {@link fold/3}.</li>
%% <li>`{tagged, false}': `true' sends `{epcap_packet, Pid, DLT, Time, Len,
%% Packet}', `{epcap_eof, Pid}', `{epcap_error, Pid, Reason}' instead.</li>
%% <li>`verbose' | `{verbose, N}': diagnostics on the port's stderr.</li>
%% <li>`{env, "K=V"}' (repeatable), `{cluster_id, 0..255}' (sets
%% `PCAP_PF_RING_CLUSTER_ID'), `{cpu_affinity, "1,3,5-7"}' (taskset).</li>
%% <li>`{exec, Wrapper}': `"sudo -n"' unless the VM runs as root or
%% `{file, _}' is given; `""' for none (e.g. with `make setcap').</li>
%% <li>`{progname, Path}': the port program, `priv/epcap' by default.</li>
%% <li>`{user, "nobody"}', `{group, G}', `{chroot, "priv/tmp"}': where a
%% privileged port drops to.</li>
%% <li>`{fanout, {GroupId, Mode}}', `{fanout, {GroupId, Mode, Flags}}':
%% join a kernel PACKET_FANOUT group (Linux, live only); see
%% {@link epcap_fanout} and {@link epcap_group}.</li>
%% </ul>
%% Errors (`{error, Reason}'), each listed by {@link error_reasons/0}:
%% <ul>
%% <li>`{bad_option, Opt}': unknown option; `{badarg, {Key, Value}}': a
%% known option with a bad value (e.g. `{badarg, {snaplen, -1}}').</li>
%% <li>`{filter, Msg}': the filter does not compile.</li>
%% <li>`{no_such_device, If}', `{interface_down, Msg}',
%% `{monitor_not_supported, If}', `{direction, Msg}'.</li>
%% <li>`{permission_denied, Msg}': no right to capture (try `make setcap'
%% or `{exec, "sudo -n"}').</li>
%% <li>`{file, Msg}': missing, empty, garbage or cut-short file, as
%% libpcap words it.</li>
%% <li>`{cpu_affinity, Msg}': taskset rejects the list;
%% `{exec_not_found, Wrapper}'; `{port_not_found, Path}'.</li>
%% <li>`{no_such_user, U}', `{no_such_group, G}', `{chroot, Msg}',
%% `{privdrop, Msg}', `{restrict, Msg}': the port could not drop or
%% restrict itself, so it refused to run.</li>
%% <li>`{port_exit, Status}': the port (or its wrapper, e.g. sudo asking
%% for a password) exited before it was ready; `timeout'.</li>
%% </ul>
%% A running capture that ends tells the owner `{epcap, eof}' (file read
%% to its end) or `{epcap, {error, Reason}}' with `{file, Msg}' (file cut
%% in a packet, after every whole packet), `{capture, Msg}' (e.g. the
%% interface went away), `{port_exit, Status}' or `{protocol, _}'.
-spec start_link(pid(), [option()]) -> {ok, pid()} | {error, reason()}.
start_link(Owner, Options) -> start_server(start_link, Owner, Options).

%% @doc Stop the capture; the port program exits with it.
%% ```
%% ok = epcap:stop(Pid).
%% '''
-spec stop(pid()) -> ok.
stop(Pid) ->
    try gen_server:stop(Pid) catch exit:_ -> ok end.

%% @doc Inject a frame on the capture's interface.
%%
%% Without the `inject' option the data is discarded and `ok' returned.
%% With it, a failure is `{error, {inject, Msg}}' and the capture keeps
%% running. Frames of 0 or more than 65535 bytes are
%% `{error, {badarg, {packet_size, N}}}'.
%% ```
%% ok = epcap:send(Pid, Frame).
%% '''
-spec send(pid(), iodata()) -> ok | {error, reason() | {inject, string()}}.
send(Pid, Data) ->
    try iolist_size(Data) of
        N when N >= 1, N =< ?MAX_FRAME -> call(Pid, {send, Data});
        N -> {error, {badarg, {packet_size, N}}}
    catch
        error:badarg -> {error, {badarg, {packet, Data}}}
    end.

%% @doc Capture statistics from pcap_stats(3PCAP).
%% ```
%% {ok, #{received := R, dropped := D, if_dropped := I}} = epcap:stats(Pid).
%% '''
%% A file capture has none: `{error, {stats, Msg}}'.
-spec stats(pid()) -> {ok, #{received := non_neg_integer(),
                             dropped := non_neg_integer(),
                             if_dropped := non_neg_integer()}}
                      | {error, reason() | {stats, string()}}.
stats(Pid) -> call(Pid, stats).

%% @doc Replace the BPF filter of a running capture. A filter that does not
%% compile is `{error, {filter, Msg}}' and leaves the old one in force.
%% ```
%% ok = epcap:setfilter(Pid, "icmp or arp").
%% '''
-spec setfilter(pid(), iodata()) -> ok | {error, reason()}.
setfilter(Pid, Filter) ->
    case check_filter(Filter) of
        {ok, F} -> call(Pid, {filter, F});
        error -> {error, {badarg, {filter, Filter}}}
    end.

%% @doc Change options of a running capture: `{active, A}' only.
%% As in `inet:setopts/2', `{active, N}' adds N to the current count
%% (range -32768..32767, `{error, einval}' outside); at 0 or below the
%% owner gets `{epcap_passive, Pid}'.
%% ```
%% ok = epcap:setopts(Pid, [{active, once}]).
%% '''
-spec setopts(pid(), [{active, active()}]) -> ok | {error, einval | reason()}.
setopts(Pid, Opts) when is_list(Opts) -> call(Pid, {setopts, Opts});
setopts(_Pid, Opts) -> {error, {badarg, {setopts, Opts}}}.

%% @doc The command line the port would be started with, wrappers first.
%% ```
%% [Sudo, "-n", Port | Args] = epcap:getopts([{interface, "eth0"}]).
%% '''
-spec getopts([option()]) -> [string()] | {error, reason()}.
getopts(Options) ->
    case validate(Options) of
        {ok, O} -> command(default_chroot(O));
        Error -> Error
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
    Prog = default_progname(),
    case filelib:is_regular(Prog) of
        false -> {error, {port_not_found, Prog}};
        true -> run_once(Prog, ["-L"])
    end.

%% @doc Fold over the packets of a batch received as
%% `{epcap_batch, Pid, Batch}' (option `{deliver, batch}'), in order.
%% ```
%% {N, Bytes} = epcap:fold(fun({packet, _, _, _, P}, {C, B}) ->
%%                                 {C + 1, B + byte_size(P)} end,
%%                         {0, 0}, Batch).
%% '''
%% Each packet's terms are built on the caller's heap, about 160 bytes
%% for a 64-byte frame. With the default minimum heap (233 words) the
%% caller collects garbage every ten packets or so, about a quarter of
%% the VM's time for each packet. A process that folds at high rates should start
%% with a larger heap, `spawn_opt(F, [{min_heap_size, 32768}])' or
%% `process_flag(min_heap_size, 32768)' (256 KiB): 64-byte frames from a
%% file then arrive at 13-16 M packets/s instead of 9-12 M
%% (`bench/RESULTS.md', "The owner's heap").
-spec fold(fun((packet(), Acc) -> Acc), Acc, batch()) -> Acc.
fold(Fun, Acc, {epcap_batch, DLT, Unit, Bin}) ->
    fold_bin(Fun, Acc, DLT, Unit, Bin).

%% @doc Apply `Fun' to every packet of a batch, in order.
%% ```
%% ok = epcap:foreach(fun(P) -> Self ! P end, Batch).
%% '''
-spec foreach(fun((packet()) -> term()), batch()) -> ok.
foreach(Fun, Batch) ->
    fold(fun(P, ok) -> _ = Fun(P), ok end, ok, Batch).

%% @doc Every error reason tag `start' or a running capture can give.
%% ```
%% true = lists:member(filter, epcap:error_reasons()).
%% '''
-spec error_reasons() -> [atom()].
error_reasons() ->
    [badarg, bad_option, filter, no_such_device, permission_denied,
     monitor_not_supported, interface_down, file, direction, cpu_affinity,
     exec_not_found, port_not_found, no_such_user, no_such_group, chroot,
     privdrop, restrict, capture, pcap, port_exit, protocol, closed, timeout,
     inject, stats, orphan, prctl, signal, poll, write, control, enomem,
     fanout].

%% @doc Every atom the port program may send. Control terms are decoded
%% with `binary_to_term(T, [safe])', so a port cannot create atoms: these
%% exist because they are listed here.
%% ```
%% true = lists:member(ready, epcap:protocol_atoms()).
%% '''
-spec protocol_atoms() -> [atom()].
protocol_atoms() ->
    [ready, micro, nano, seccomp, rlimit, null, pledge, capsicum, eof, error,
     ok, send, stats, filter, interfaces, name, description, addresses, flags,
     addr, netmask, broadaddr, dstaddr, undefined, up, running, loopback,
     wireless | error_reasons()].

%%====================================================================
%% Starting
%%====================================================================

start_server(How, Owner, Options) when is_pid(Owner), is_list(Options) ->
    case prepare(Options) of
        {ok, O, Cmd} ->
            case gen_server:How(?MODULE, {Owner, O, Cmd}, []) of
                {ok, Pid} -> await_ready(Pid);
                {error, _} = Error -> Error
            end;
        {error, _} = Error ->
            Error
    end;
start_server(_How, Owner, Options) when is_list(Options) ->
    {error, {badarg, {owner, Owner}}};
start_server(_How, _Owner, Options) ->
    {error, {badarg, {options, Options}}}.

%% The server stops normally when the port fails to start, so that a
%% start_link caller gets {error, Reason} instead of an exit signal.
await_ready(Pid) ->
    try gen_server:call(Pid, '$epcap_ready', infinity) of
        ok -> {ok, Pid};
        {error, _} = Error -> Error
    catch
        exit:_ -> {error, closed}
    end.

prepare(Options) ->
    case then(validate(Options), [fun check_affinity/1, fun ensure_chroot/1]) of
        {ok, O} ->
            case command(O) of
                {error, _} = Error -> Error;
                Cmd -> {ok, O, Cmd}
            end;
        {error, _} = Error ->
            Error
    end.

%% Each step takes the options, while they keep coming back as {ok, _}.
then({ok, O}, [Step | Steps]) -> then(Step(O), Steps);
then(Result, _) -> Result.

%%====================================================================
%% Options: one clause per option, a catch-all for the unknown
%%====================================================================

defaults() ->
    #{interface => undefined, filter => undefined, promiscuous => false,
      monitor => false, inject => false, snaplen => 65535, buffer => 0,
      timeout => immediate, direction => undefined, time_unit => timestamp,
      file => undefined, verbose => 0, env => [], cluster_id => undefined,
      cpu_affinity => undefined, exec => default, progname => default,
      user => undefined, group => undefined, chroot => default,
      active => true, deliver => packet, fanout => undefined, tagged => false}.

validate(Options) when is_list(Options) ->
    validate(Options, defaults());
validate(Options) ->
    {error, {badarg, {options, Options}}}.

validate([], #{fanout := F, file := File} = O) ->
    case epcap_fanout:cross(F, File) of ok -> {ok, O}; E -> E end;
validate([Opt | Rest], O) ->
    case option(Opt) of
        {ok, env, V} -> validate(Rest, O#{env := maps:get(env, O) ++ [V]});
        {ok, K, V} -> validate(Rest, O#{K := V});
        {error, _} = E -> E
    end;
validate(Improper, _) ->
    {error, {badarg, {options, Improper}}}.

-define(BAD(K, V), {error, {badarg, {K, V}}}).

option({interface, I}) -> text(interface, I);
option({filter, F}) ->
    case check_filter(F) of {ok, S} -> {ok, filter, S}; error -> ?BAD(filter, F) end;
option(promiscuous) -> {ok, promiscuous, true};
option({promiscuous, B}) -> bool(promiscuous, B);
option(monitor) -> {ok, monitor, true};
option({monitor, B}) -> bool(monitor, B);
option(inject) -> {ok, inject, true};
option({inject, B}) -> bool(inject, B);
option({snaplen, N}) when is_integer(N), N >= 1, N =< 262144 -> {ok, snaplen, N};
option({snaplen, N}) -> ?BAD(snaplen, N);
option({buffer, N}) when is_integer(N), N >= 0, N =< 16#7fffffff -> {ok, buffer, N};
option({buffer, N}) -> ?BAD(buffer, N);
option({timeout, T}) when T =:= immediate; T =:= infinity -> {ok, timeout, T};
option({timeout, 0}) -> {ok, timeout, immediate};
option({timeout, T}) when is_integer(T), T > 0, T =< 16#7fffffff -> {ok, timeout, T};
option({timeout, T}) -> ?BAD(timeout, T);
option({direction, D}) when D =:= in; D =:= out; D =:= inout -> {ok, direction, D};
option({direction, D}) -> ?BAD(direction, D);
option({time_unit, U}) when U =:= timestamp; U =:= microsecond; U =:= nanosecond ->
    {ok, time_unit, U};
option({time_unit, U}) -> ?BAD(time_unit, U);
option({file, F}) -> text(file, F);
option(verbose) -> {ok, verbose, 1};
option({verbose, N}) when is_integer(N), N >= 0, N =< 10 -> {ok, verbose, N};
option({verbose, N}) -> ?BAD(verbose, N);
option({env, E}) -> env_option(E);
option({cluster_id, N}) when is_integer(N), N >= 0, N =< 255 -> {ok, cluster_id, N};
option({cluster_id, N}) -> ?BAD(cluster_id, N);
option({cpu_affinity, L}) -> text(cpu_affinity, L);
option({exec, W}) -> text(exec, W);
option({progname, P}) -> text(progname, P);
option({user, U}) -> text(user, U);
option({group, G}) -> text(group, G);
option({chroot, D}) -> text(chroot, D);
option({active, A}) ->
    case valid_active(A) of true -> {ok, active, A}; false -> ?BAD(active, A) end;
option({deliver, D}) when D =:= packet; D =:= batch -> {ok, deliver, D};
option({deliver, D}) -> ?BAD(deliver, D);
option({tagged, B}) -> bool(tagged, B);
option({fanout, F}) ->
    case epcap_fanout:option(F) of {ok, S} -> {ok, fanout, S}; E -> E end;
option({K, _} = Opt) when is_atom(K) -> {error, {bad_option, Opt}};
option(Opt) -> {error, {bad_option, Opt}}.

bool(K, B) when is_boolean(B) -> {ok, K, B};
bool(K, B) -> ?BAD(K, B).

%% Strings cross to the port as argv: no NUL, and valid Unicode.
text(K, V) ->
    try unicode:characters_to_list(V) of
        S when is_list(S) ->
            case lists:member(0, S) of
                false -> {ok, K, S};
                true -> ?BAD(K, V)
            end;
        _ -> ?BAD(K, V)
    catch
        error:_ -> ?BAD(K, V)
    end.

env_option(E) ->
    case text(env, E) of
        {ok, env, S} ->
            case string:split(S, "=") of
                [[_ | _] = Key, _] ->
                    case lists:member($=, Key) of
                        false -> {ok, env, S};
                        true -> ?BAD(env, E)
                    end;
                _ -> ?BAD(env, E)
            end;
        Error -> Error
    end.

check_filter(F) ->
    case text(filter, F) of
        {ok, filter, S} ->
            case byte_size(unicode:characters_to_binary(S)) =< ?MAX_FILTER of
                true -> {ok, S};
                false -> error
            end;
        _ -> error
    end.

valid_active(A) when is_boolean(A); A =:= once -> true;
valid_active(N) when is_integer(N), N >= -32768, N =< 32767 -> true;
valid_active(_) -> false.

check_affinity(#{cpu_affinity := undefined} = O) -> {ok, O};
check_affinity(#{cpu_affinity := List} = O) ->
    case os:find_executable("taskset") of
        false -> {error, {cpu_affinity, "taskset not found (util-linux)"}};
        Taskset ->
            True = os:find_executable("true"),
            case run_status(Taskset, ["-c", List, True]) of
                {0, _} -> {ok, O};
                {_, Out} -> {error, {cpu_affinity, string:trim(Out)}}
            end
    end.

%% Next to the port program: priv/tmp of the application by default.
%% Only a port that starts as root can chroot: one started by an ordinary
%% user (with `make setcap' capabilities) drops its capabilities instead.
ensure_chroot(O) ->
    O1 = default_chroot(O),
    ok = make_default_chroot(maps:get(chroot, O), maps:get(chroot, O1)),
    {ok, O1}.

make_default_chroot(default, Dir) when is_list(Dir) ->
    _ = file:make_dir(Dir),
    ok;
make_default_chroot(_, _) ->
    ok.

default_chroot(#{chroot := default} = O) ->
    case wrapper(O) =/= [] orelse is_root() of
        true -> O#{chroot := filename:join(filename:dirname(progname(O)), "tmp")};
        false -> O#{chroot := undefined}
    end;
default_chroot(O) ->
    O.

%%====================================================================
%% The command line
%%====================================================================

command(O) ->
    Prog = progname(O),
    case filelib:is_regular(Prog) of
        false ->
            {error, {port_not_found, Prog}};
        true ->
            Line = wrapper(O) ++ env_wrapper(O) ++ affinity_wrapper(O)
                ++ [Prog | port_args(O)],
            resolve(Line)
    end.

resolve([Exe | Args]) ->
    Found = case lists:member($/, Exe) of
                true -> filelib:is_regular(Exe) andalso Exe;
                false -> os:find_executable(Exe)
            end,
    case Found of
        false -> {error, {exec_not_found, Exe}};
        Path -> [Path | Args]
    end.

progname(#{progname := default}) -> default_progname();
progname(#{progname := P}) -> filename:absname(P).

wrapper(#{exec := default, file := undefined} = O) ->
    epcap_privilege:default_exec(progname(O));
wrapper(#{exec := default}) -> [];
wrapper(#{exec := W}) -> string:lexemes(W, " ").

env_wrapper(#{env := Env, cluster_id := Id}) ->
    Vars = Env ++ [ "PCAP_PF_RING_CLUSTER_ID=" ++ integer_to_list(Id)
                    || is_integer(Id) ],
    case Vars of
        [] -> [];
        _ -> ["env" | Vars]
    end.

affinity_wrapper(#{cpu_affinity := undefined}) -> [];
affinity_wrapper(#{cpu_affinity := L}) -> ["taskset", "-c", L].

port_args(O) ->
    lists:append(
      [source_args(O),
       opt_arg("-f", maps:get(filter, O)),
       ["-s", integer_to_list(maps:get(snaplen, O))],
       case maps:get(buffer, O) of 0 -> []; B -> ["-b", integer_to_list(B)] end,
       ["-t", timeout_arg(maps:get(timeout, O))],
       opt_arg("-d", maps:get(direction, O)),
       flag("-n", maps:get(time_unit, O) =:= nanosecond),
       flag("-P", maps:get(promiscuous, O)),
       flag("-M", maps:get(monitor, O)),
       flag("-I", maps:get(inject, O)),
       lists:duplicate(maps:get(verbose, O), "-v"),
       opt_arg("-u", maps:get(user, O)),
       opt_arg("-g", maps:get(group, O)),
       opt_arg("-C", maps:get(chroot, O)),
       epcap_fanout:port_args(maps:get(fanout, O))]).

source_args(#{file := undefined, interface := undefined}) -> [];
source_args(#{file := undefined, interface := I}) -> ["-i", I];
source_args(#{file := F}) -> ["-r", F].

opt_arg(_, undefined) -> [];
opt_arg(_, default) -> [];
opt_arg(Flag, A) when is_atom(A) -> [Flag, atom_to_list(A)];
opt_arg(Flag, S) -> [Flag, S].

flag(F, true) -> [F];
flag(_, false) -> [].

timeout_arg(T) when is_atom(T) -> atom_to_list(T);
timeout_arg(T) -> integer_to_list(T).

priv_dir() ->
    case code:priv_dir(epcap) of
        {error, bad_name} ->
            filename:join(filename:dirname(filename:dirname(code:which(?MODULE))),
                          "priv");
        Dir -> Dir
    end.

default_progname() -> filename:join(priv_dir(), "epcap").

is_root() ->
    case file:read_file("/proc/self/status") of
        {ok, Status} ->
            case re:run(Status, "^Uid:\\s+\\d+\\s+(\\d+)",
                        [multiline, {capture, all_but_first, list}]) of
                {match, ["0"]} -> true;
                _ -> false
            end;
        {error, _} ->
            string:trim(os:cmd("id -u")) =:= "0"
    end.

%% Runs a short-lived program, returning its exit status and output.
run_status(Exe, Args) ->
    Port = open_port({spawn_executable, Exe},
                     [{args, Args}, exit_status, stderr_to_stdout, binary]),
    collect(Port, []).

collect(Port, Acc) ->
    receive
        {Port, {data, D}} -> collect(Port, [Acc, D]);
        {Port, {exit_status, S}} -> {S, unicode:characters_to_list(Acc)}
    end.

%% `epcap -L': one term, then exit.
run_once(Prog, Args) ->
    Port = open_port({spawn_executable, Prog},
                     [{args, Args}, {packet, 4}, binary, exit_status]),
    receive
        {Port, {data, <<?TAG_TERM, T/binary>>}} ->
            flush_exit(Port),
            case decode_term(T) of
                {interfaces, List} -> {ok, List};
                {error, Reason} -> {error, Reason};
                Other -> {error, {protocol, Other}}
            end;
        {Port, {exit_status, S}} ->
            {error, {port_exit, S}}
    after ?START_TIMEOUT ->
        catch port_close(Port),
        {error, timeout}
    end.

flush_exit(Port) ->
    receive {Port, {exit_status, _}} -> ok after 5000 -> catch port_close(Port) end.

%%====================================================================
%% gen_server
%%====================================================================

%% @private
init({Owner, O, [Exe | Args]}) ->
    process_flag(trap_exit, true),
    _ = erlang:send_after(?START_TIMEOUT, self(), start_timeout),
    Port = open_port({spawn_executable, Exe},
                     [{args, Args}, {packet, 4}, binary, exit_status, use_stdio]),
    {ok, #state{port = Port, owner = Owner,
                owner_mon = erlang:monitor(process, Owner),
                unit = maps:get(time_unit, O), deliver = maps:get(deliver, O),
                inject = maps:get(inject, O), active = maps:get(active, O),
                tagged = maps:get(tagged, O)}}.

%% @private
handle_call('$epcap_ready', From, #state{ready = false, start_error = undefined} = S) ->
    {noreply, S#state{starter = From}};
handle_call('$epcap_ready', _From, #state{start_error = undefined} = S) ->
    {reply, ok, S};
handle_call('$epcap_ready', _From, #state{start_error = Error} = S) ->
    {stop, normal, {error, Error}, S};
handle_call({send, _Data}, _From, #state{inject = false} = S) ->
    {reply, ok, S};
handle_call({send, Data}, From, S) ->
    request(send, [?CTL_INJECT, Data], From, S);
handle_call(stats, From, S) ->
    request(stats, [?CTL_STATS], From, S);
handle_call({filter, F}, From, S) ->
    request(filter, [?CTL_FILTER, unicode:characters_to_binary(F)], From, S);
handle_call({setopts, Opts}, _From, S) ->
    case apply_setopts(Opts, S) of
        {ok, S1} ->
            case drain(flow(S1)) of
                {noreply, S2} -> {reply, ok, S2};
                {stop, normal, S2} -> {stop, normal, ok, S2}
            end;
        {error, _} = E -> {reply, E, S}
    end;
handle_call(Request, _From, S) ->
    {reply, {error, {badarg, Request}}, S}.

%% @private
handle_cast(_Msg, S) ->
    {noreply, S}.

%% @private
handle_info({Port, {data, <<?TAG_BATCH, Count:32, Records/binary>>}},
            #state{port = Port} = S) ->
    Out = S#state.outstanding,
    S1 = S#state{outstanding = max(0, Out - Count)},
    drain(flow(push(Records, Count, S1)));
handle_info({Port, {data, <<?TAG_TERM, T/binary>>}}, #state{port = Port} = S) ->
    control(decode_term(T), S);
handle_info({Port, {data, Other}}, #state{port = Port} = S) ->
    finish({error, {protocol, {bad_frame, byte_size(Other)}}}, S);
handle_info({Port, {exit_status, Status}}, #state{port = Port} = S) ->
    port_exited(Status, S);
handle_info({'DOWN', Ref, process, _, _}, #state{owner_mon = Ref} = S) ->
    {stop, normal, S};
handle_info({'EXIT', Port, _}, #state{port = Port} = S) ->
    port_exited(-1, S);
handle_info({'EXIT', _From, Reason}, S) ->
    %% Our starter (a supervisor) asks us to stop.
    {stop, Reason, S};
handle_info(start_timeout, #state{ready = false} = S) ->
    start_failed(timeout, S);
handle_info(_Msg, S) ->
    {noreply, S}.

%% @private
terminate(_Reason, #state{port = Port, pending = Pending}) ->
    _ = [gen_server:reply(From, {error, closed}) || {_, From} <- queue:to_list(Pending)],
    catch port_close(Port),
    ok.

%%====================================================================
%% Control terms from the port
%%====================================================================

decode_term(T) ->
    try binary_to_term(T, [safe])
    catch error:badarg -> {error, {protocol, bad_term}}
    end.

control({ready, DLT, OsPid, _Precision, _Mode, _Snaplen, _Vsn},
        #state{ready = false} = S) ->
    S1 = S#state{ready = true, dlt = DLT, os_pid = OsPid},
    _ = [gen_server:reply(From, ok) || From <- [S#state.starter], From =/= undefined],
    {noreply, initial_active(flow(S1#state{starter = undefined}))};
control({error, Reason}, #state{ready = false} = S) ->
    start_failed(Reason, S);
control(eof, S) ->
    finish(eof, close_port(S));
control({error, Reason}, S) ->
    finish({error, Reason}, close_port(S));
control({Tag, _} = Reply, S) when Tag =:= send; Tag =:= filter ->
    reply(Tag, result(Reply), S);
control({stats, Recv, Drop, IfDrop}, S) ->
    reply(stats, {ok, #{received => Recv, dropped => Drop, if_dropped => IfDrop}}, S);
control({stats, {error, Msg}}, S) ->
    reply(stats, {error, {stats, Msg}}, S);
control(Other, S) ->
    finish({error, {protocol, Other}}, S).

result({_, ok}) -> ok;
result({send, {error, Msg}}) -> {error, {inject, Msg}};
result({filter, {error, Msg}}) -> {error, {filter, Msg}}.

request(Tag, Msg, From, #state{port = Port, pending = P} = S) ->
    try port_command(Port, Msg) of
        true -> {noreply, S#state{pending = queue:in({Tag, From}, P)}}
    catch
        error:badarg -> {reply, {error, closed}, S}
    end.

reply(Tag, Result, #state{pending = P} = S) ->
    case queue:out(P) of
        {{value, {Tag, From}}, P1} ->
            gen_server:reply(From, Result),
            {noreply, S#state{pending = P1}};
        _ ->
            finish({error, {protocol, {unexpected_reply, Tag}}}, S)
    end.

start_failed(Reason, #state{starter = undefined} = S) ->
    {noreply, (close_port(S))#state{start_error = Reason}};
start_failed(Reason, #state{starter = From} = S) ->
    gen_server:reply(From, {error, Reason}),
    {stop, normal, S#state{starter = undefined}}.

%% After its last word (eof or an error) the port waits for us to close its
%% stdin, so that nothing it wrote can be lost to a credit grant racing its
%% exit (EPIPE would make the runtime drop the port's unread output).
close_port(#state{port = Port} = S) ->
    catch port_close(Port),
    S#state{outstanding = 0}.

%% The port says an error term before it exits; an exit without one (a
%% crash, a wrapper that failed) is reported by its status.
port_exited(Status, #state{ready = false, start_error = undefined} = S) ->
    start_failed({port_exit, Status}, S);
port_exited(_Status, #state{ready = false} = S) ->
    {noreply, S};
port_exited(_Status, #state{final = F} = S) when F =/= undefined ->
    {noreply, S};
port_exited(Status, S) ->
    finish({error, {port_exit, Status}}, S).

%% The owner hears of the end after every packet before it.
finish(Final, S) ->
    drain(S#state{final = Final}).

%% Once the port has said its last word, the owner hears it right after the
%% last packet (buffered packets first, whatever the active mode).
drain(#state{final = undefined} = S) ->
    {noreply, S};
drain(#state{final = Final, buffered = 0, owner = Owner} = S) ->
    Owner ! final_message(Final, S),
    {stop, normal, S};
drain(S) ->
    {noreply, S}.

%% MINIMAL {tagged, true}: the shared decision's messages name the server.
final_message(eof, #state{tagged = true}) -> {epcap_eof, self()};
final_message({error, R}, #state{tagged = true}) -> {epcap_error, self(), R};
final_message(Final, _) -> {epcap, Final}.

%%====================================================================
%% Delivery and flow control
%%====================================================================

%% Deliver what the owner allows, keep the rest (bounded by credit), then
%% top the credit up.
push(Records, Count, #state{buffered = 0} = S) ->
    deliver(Records, Count, S);
push(Records, Count, #state{buffer = B, buffered = N} = S) ->
    S#state{buffer = B ++ [{Count, Records}], buffered = N + Count}.

flow(#state{buffered = N, buffer = [{Count, B} | Rest]} = S) when N > 0 ->
    case allowance(S#state.active) of
        0 -> grant(S);
        _ ->
            %% deliver/3 puts back what the owner cannot take yet, and the
            %% allowance is then 0: the next round stops.
            flow(deliver(B, Count, S#state{buffer = Rest, buffered = N - Count}))
    end;
flow(S) ->
    grant(S).

deliver(Records, Count, #state{active = Active} = S) ->
    case allowance(Active) of
        A when A >= Count ->
            ok = send_records(Records, S),
            consumed(Count, S);
        0 ->
            S#state{buffer = [{Count, Records} | S#state.buffer],
                    buffered = S#state.buffered + Count};
        A ->
            {Head, Tail} = split(Records, A),
            ok = send_records(Head, S),
            S1 = consumed(A, S),
            S1#state{buffer = [{Count - A, Tail} | S1#state.buffer],
                     buffered = S1#state.buffered + Count - A}
    end.

allowance(true) -> infinity;
allowance(false) -> 0;
allowance(once) -> 1;
allowance(N) when is_integer(N), N > 0 -> N;
allowance(_) -> 0.

consumed(_, #state{active = true} = S) -> S;
consumed(_, #state{active = once} = S) -> S#state{active = false};  % as gen_tcp: no message
consumed(N, #state{active = A} = S) when is_integer(A) ->
    case A - N of
        0 -> passive(S);
        Left -> S#state{active = Left}
    end.

passive(#state{owner = Owner} = S) ->
    Owner ! {epcap_passive, self()},
    S#state{active = false}.

%% Credit so that granted-but-unseen plus buffered packets stay within
%% what the owner may take and within the window.
grant(#state{final = F} = S) when F =/= undefined -> S;
grant(#state{ready = false} = S) -> S;
grant(#state{active = A, outstanding = Out, buffered = Buf, port = Port} = S) ->
    Target = case allowance(A) of
                 infinity -> ?WINDOW;
                 N -> min(N + ?PREFETCH, ?WINDOW)
             end,
    Want = Target - Out - Buf,
    Threshold = max(1, Target div 2),
    if
        Want > 0, Want >= Threshold ->
            catch port_command(Port, <<?CTL_CREDIT, Want:32>>),
            S#state{outstanding = Out + Want};
        true ->
            S
    end.

initial_active(#state{active = A} = S) when is_integer(A), A =< 0 ->
    passive(S);
initial_active(S) ->
    S.

apply_setopts([], S) -> {ok, S};
apply_setopts([{active, A} | Rest], S) ->
    case set_active(A, S#state.active) of
        {ok, New} ->
            S1 = S#state{active = New},
            S2 = case New of
                     N when is_integer(N), N =< 0 -> passive(S1);
                     _ -> S1
                 end,
            apply_setopts(Rest, S2);
        error ->
            {error, einval}
    end;
apply_setopts([Opt | _], _S) ->
    {error, {bad_option, Opt}}.

set_active(A, _) when is_boolean(A); A =:= once -> {ok, A};
set_active(N, Cur) when is_integer(N), N >= -32768, N =< 32767 ->
    New = case Cur of C when is_integer(C) -> C + N; _ -> N end,
    case New > 32767 of
        true -> error;
        false -> {ok, New}
    end;
set_active(_, _) -> error.

send_records(Records, #state{deliver = batch, owner = Owner, dlt = DLT, unit = U}) ->
    Owner ! {epcap_batch, self(), {epcap_batch, DLT, U, Records}},
    ok;
send_records(Records, #state{tagged = true, owner = Owner, dlt = DLT, unit = U}) ->
    Self = self(),
    fold_bin(fun({packet, D, T, L, P}, ok) -> Owner ! {epcap_packet, Self, D, T, L, P}, ok end,
             ok, DLT, U, Records);
send_records(Records, #state{owner = Owner, dlt = DLT, unit = timestamp}) ->
    send_ts(Records, Owner, DLT);
send_records(Records, #state{owner = Owner, dlt = DLT, unit = microsecond}) ->
    send_int(Records, Owner, DLT, 1000000);
send_records(Records, #state{owner = Owner, dlt = DLT, unit = nanosecond}) ->
    %% The port was started with -n: the fraction is in nanoseconds.
    send_int(Records, Owner, DLT, 1000000000).

%% The per-packet path: one binary match and one send per packet; each
%% packet is a sub-binary of the batch, or a heap binary the runtime copies
%% when it is 64 bytes or less (see doc/protocol.md, "Copying").
send_ts(<<Sec:64, Frac:32, CapLen:32, Len:32, Pkt:CapLen/binary, Rest/binary>>,
        Owner, DLT) ->
    Owner ! {packet, DLT, {Sec div 1000000, Sec rem 1000000, Frac}, Len, Pkt},
    send_ts(Rest, Owner, DLT);
send_ts(_, _, _) ->
    ok.

send_int(<<Sec:64, Frac:32, CapLen:32, Len:32, Pkt:CapLen/binary, Rest/binary>>,
         Owner, DLT, Scale) ->
    Owner ! {packet, DLT, Sec * Scale + Frac, Len, Pkt},
    send_int(Rest, Owner, DLT, Scale);
send_int(_, _, _, _) ->
    ok.

%% One loop per time unit: no per-packet branch on the unit.
fold_bin(Fun, Acc, DLT, timestamp, Bin) -> fold_ts(Fun, Acc, DLT, Bin);
fold_bin(Fun, Acc, DLT, microsecond, Bin) -> fold_int(Fun, Acc, DLT, 1000000, Bin);
fold_bin(Fun, Acc, DLT, nanosecond, Bin) -> fold_int(Fun, Acc, DLT, 1000000000, Bin).

fold_ts(Fun, Acc, DLT,
        <<Sec:64, Frac:32, CapLen:32, Len:32, Pkt:CapLen/binary, Rest/binary>>) ->
    P = {packet, DLT, {Sec div 1000000, Sec rem 1000000, Frac}, Len, Pkt},
    fold_ts(Fun, Fun(P, Acc), DLT, Rest);
fold_ts(_Fun, Acc, _DLT, _) ->
    Acc.

fold_int(Fun, Acc, DLT, Scale,
         <<Sec:64, Frac:32, CapLen:32, Len:32, Pkt:CapLen/binary, Rest/binary>>) ->
    fold_int(Fun, Fun({packet, DLT, Sec * Scale + Frac, Len, Pkt}, Acc), DLT, Scale, Rest);
fold_int(_Fun, Acc, _DLT, _Scale, _) ->
    Acc.


%% The first N records, and the rest.
split(Records, N) -> split(Records, N, 0).
split(Records, 0, Off) ->
    <<Head:Off/binary, Tail/binary>> = Records,
    {Head, Tail};
split(Records, N, Off) ->
    <<_:Off/binary, _:12/binary, CapLen:32, _/binary>> = Records,
    split(Records, N - 1, Off + 20 + CapLen).

%%====================================================================
%% Helpers
%%====================================================================

call(Pid, Request) ->
    try gen_server:call(Pid, Request, infinity)
    catch exit:_ -> {error, closed}
    end.
