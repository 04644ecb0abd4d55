%%% @doc Capture options: defaults, validation (one clause per option, a
%%% catch-all for the unknown), the rules between options, and the port's
%%% command line. Pure, except {@link command/1}, which looks the programs
%%% up on disk.
%%% @end
-module(epcap_options).

-export([defaults/0]).
-export([validate/1]).
-export([check_filter/1]).
-export([command/1]).
-export([args/1]).
-export([progname/1]).
-export([default_progname/0]).
-export([live_only/0]).
-export([in_force/2]).

-export_type([options/0]).

-include("../include/epcap_protocol.hrl").

%% Validated options: every key of defaults/0, plus `given', the keys the
%% caller named.
-type options() :: #{atom() => term()}.

-define(BAD(K, V), {error, {badarg, {K, V}}}).
%% A live capture's timeout with {deliver, none} when none is given.
-define(SAVE_TIMEOUT_MS, 250).

%% @doc Every option's default.
-spec defaults() -> options().
defaults() ->
    #{interface => undefined, filter => undefined, promiscuous => false,
      monitor => false, inject => false, snaplen => ?EPCAP_SNAPLEN_DEFAULT,
      buffer => 0, timeout => immediate, direction => undefined,
      time_unit => timestamp, file => undefined, verbose => 0, env => [],
      cluster_id => undefined, cpu_affinity => undefined, exec => default,
      progname => default, user => undefined, group => undefined,
      chroot => undefined, active => true, deliver => packet, tagged => false,
      fanout => undefined, priority => realtime, stats_interval => undefined,
      save => undefined, save_format => pcapng, rotate => [], save_mode => 8#640,
      given => []}.

%% @doc The options that only mean something on a live capture: with
%% `{file, _}' each is `{error, {badarg, {conflict, {file, Key}}}}'. A
%% snaplen is one: libpcap does not cut a file's records to it.
-spec live_only() -> [atom()].
live_only() ->
    [interface, promiscuous, monitor, buffer, timeout, inject, direction, snaplen, priority].

%% @doc The options in force, as a list that {@link validate/1} (and so
%% `epcap:start/1') takes back: placeholders resolved (`exec' to the
%% wrapper in force, `""' for none; `progname' to its path; a live
%% capture's `buffer' of 0 to libpcap's Linux default, 2 MiB; `direction'
%% to `inout'), each `env' setting as an option of its own, keys without a
%% value (`undefined': no filter, the port's own user, group and chroot,
%% libpcap's first device) left out, and for a file no live-only option.
%% ```
%% {ok, O} = epcap_options:validate([{file, "x.pcap"}, {env, "PCAP_A=1"}]),
%% Opts = epcap_options:in_force(O, []),
%% {file, "x.pcap"} = lists:keyfind(file, 1, Opts),
%% {env, "PCAP_A=1"} = lists:keyfind(env, 1, Opts),
%% {exec, ""} = lists:keyfind(exec, 1, Opts),
%% false = lists:keyfind(buffer, 1, Opts),
%% {ok, _} = epcap_options:validate(Opts).
%% '''
-spec in_force(options(), Wrapper :: [string()]) -> [{atom(), term()}].
in_force(#{file := File} = O, Wrapper) ->
    Live = File =:= undefined,
    Skip = [given | case Live of true -> []; false -> live_only() end]
        %% Saving's options mean nothing (and are refused) without a save.
        ++ case maps:get(save, O) of undefined -> [save_format, rotate, save_mode]; _ -> [] end,
    lists:append([in_force(K, V, O, Wrapper, Live)
                  || {K, V} <- lists:sort(maps:to_list(O)), not lists:member(K, Skip)]).

in_force(exec, _, _, Wrapper, _) -> [{exec, lists:flatten(lists:join(" ", Wrapper))}];
in_force(progname, _, O, _, _) -> [{progname, progname(O)}];
in_force(env, Env, _, _, _) -> [{env, E} || E <- Env];
in_force(buffer, 0, _, _, true) ->
    case os:type() of {unix, linux} -> [{buffer, 2097152}]; _ -> [] end;
in_force(direction, undefined, _, _, _) -> [{direction, inout}];
in_force(rotate, [], _, _, _) -> [];
in_force(_, undefined, _, _, _) -> [];
in_force(K, V, _, _, _) -> [{K, V}].

%% @doc Validate a list of options.
%% ```
%% {ok, #{snaplen := 96}} = epcap_options:validate([{snaplen, 96}]),
%% {error, {badarg, {conflict, {file, interface}}}} =
%%     epcap_options:validate([{file, "a.pcap"}, {interface, "lo"}]).
%% '''
-spec validate(term()) -> {ok, options()} | {error, term()}.
validate(Options) when is_list(Options) ->
    case validate(Options, defaults()) of
        {ok, #{fanout := Fanout, file := File} = O} ->
            case epcap_fanout:cross(Fanout, File) of
                ok -> cross_check(O);
                Error -> Error
            end;
        Error -> Error
    end;
validate(Options) ->
    {error, {badarg, {options, Options}}}.

validate([], O) -> {ok, O};
validate([Opt | Rest], #{given := G} = O) ->
    case option(Opt) of
        {ok, env, V} -> validate(Rest, O#{env := maps:get(env, O) ++ [V], given := [env | G]});
        {ok, K, V} -> validate(Rest, O#{K := V, given := [K | G]});
        {error, _} = E -> E
    end;
validate(Improper, _) ->
    {error, {badarg, {options, Improper}}}.

%% The rules between options.
cross_check(#{file := F, given := G} = O) when F =/= undefined ->
    case [K || K <- live_only(), lists:member(K, G)] of
        [] -> save_check(O);
        [K | _] -> {error, {badarg, {conflict, {file, K}}}}
    end;
cross_check(O) ->
    save_check(O).

%% Saving's options mean nothing without `{save, Path}'.
save_check(#{save := undefined, deliver := none}) ->
    {error, {badarg, {needs_save, deliver}}};
save_check(#{save := undefined, given := G} = O) ->
    case [K || K <- [save_format, rotate, save_mode], lists:member(K, G)] of
        [] -> env_count(O);
        [K | _] -> {error, {badarg, {needs_save, K}}}
    end;
save_check(#{deliver := none, file := undefined, given := G} = O) ->
    %% Saved only, nothing waits for a packet: libpcap hands over full
    %% blocks, as dumpcap's 250 ms, unless the caller chose (immediate
    %% mode retires a ring block a millisecond, so a port that stalls half
    %% a second on a busy disk overflows a 64 MiB ring; bench/RESULTS.md,
    %% section S).
    case lists:member(timeout, G) of
        true -> env_count(O);
        false -> env_count(O#{timeout := ?SAVE_TIMEOUT_MS})
    end;
save_check(O) ->
    env_count(O).

env_count(#{env := Env, cluster_id := Id} = O) ->
    case length(Env) + length([Id || is_integer(Id)]) > ?EPCAP_ENV_MAX of
        true -> ?BAD(env, Env);
        false -> {ok, O}
    end.

option({interface, I}) -> text(interface, I);
option({filter, F}) ->
    case check_filter(F) of {ok, S} -> {ok, filter, S}; error -> ?BAD(filter, F) end;
option(promiscuous) -> {ok, promiscuous, true};
option({promiscuous, B}) -> bool(promiscuous, B);
option(monitor) -> {ok, monitor, true};
option({monitor, B}) -> bool(monitor, B);
option(inject) -> {ok, inject, true};
option({inject, B}) -> bool(inject, B);
option({snaplen, N}) when is_integer(N), N >= 1, N =< ?EPCAP_SNAPLEN_MAX -> {ok, snaplen, N};
option({snaplen, N}) -> ?BAD(snaplen, N);
option({buffer, N}) when is_integer(N), N >= 0, N =< ?EPCAP_BUFFER_MAX -> {ok, buffer, N};
option({buffer, N}) -> ?BAD(buffer, N);
option({timeout, T}) when T =:= immediate; T =:= infinity -> {ok, timeout, T};
option({timeout, 0}) -> {ok, timeout, immediate};
option({timeout, T}) when is_integer(T), T > 0, T =< ?EPCAP_TIMEOUT_MAX -> {ok, timeout, T};
option({timeout, T}) -> ?BAD(timeout, T);
option({direction, D}) when D =:= in; D =:= out; D =:= inout -> {ok, direction, D};
option({direction, D}) -> ?BAD(direction, D);
option({priority, P}) when P =:= realtime; P =:= raised; P =:= normal ->
    {ok, priority, P};
option({priority, P}) -> ?BAD(priority, P);
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
option({cpu_affinity, L}) -> cpu_list(L);
option({exec, W}) -> text(exec, W);
option({progname, P}) -> text(progname, P);
option({user, U}) -> text(user, U);
option({group, G}) -> text(group, G);
option({chroot, D}) -> jail_path(D);
option({active, A}) ->
    case valid_active(A) of true -> {ok, active, A}; false -> ?BAD(active, A) end;
option({deliver, D}) when D =:= packet; D =:= batch; D =:= none -> {ok, deliver, D};
option({deliver, D}) -> ?BAD(deliver, D);
option({tagged, B}) -> bool(tagged, B);
option({fanout, F}) ->
    case epcap_fanout:option(F) of {ok, S} -> {ok, fanout, S}; E -> E end;
option({stats_interval, Ms}) when is_integer(Ms), Ms >= 10, Ms =< 86400000 ->
    {ok, stats_interval, Ms};
option({stats_interval, Ms}) -> ?BAD(stats_interval, Ms);
%% Saving to files in the port (issue 26): kept together.
option({save, P}) -> save_path(P);
option({save_format, F}) when F =:= pcapng; F =:= pcap -> {ok, save_format, F};
option({save_format, F}) -> ?BAD(save_format, F);
option({rotate, R}) -> rotate(R);
option({save_mode, M}) when is_integer(M), M >= 0, M =< 8#664, M band 8#113 =:= 0 ->
    {ok, save_mode, M};
option({save_mode, M}) -> ?BAD(save_mode, M);
option(Opt) -> {error, {bad_option, Opt}}.

%% An absolute path (the port may run elsewhere), to a name in a directory.
save_path(P) ->
    case text(save, P) of
        {ok, save, S} ->
            Abs = filename:absname(S),
            case lists:last(S) =/= $/ andalso
                not lists:member(filename:basename(Abs), ["", ".", ".."]) of
                true -> {ok, save, Abs};
                false -> ?BAD(save, P)
            end;
        Error -> Error
    end.

%% Each criterion once, a positive integer; `files' only beside another.
rotate(R) when is_list(R), R =/= [] ->
    Keys = [K || {K, _} <- R],
    Ok = lists:all(fun rotate_item/1, R) andalso
        length(lists:usort(Keys)) =:= length(R) andalso
        lists:any(fun(K) -> K =/= files end, Keys),
    case Ok of
        true -> {ok, rotate, R};
        false -> ?BAD(rotate, R)
    end;
rotate(R) -> ?BAD(rotate, R).

rotate_item({size, N}) -> is_integer(N) andalso N >= 1 andalso N =< 1 bsl 62;
rotate_item({seconds, N}) -> is_integer(N) andalso N >= 1 andalso N =< 16#FFFFFFFF;
rotate_item({packets, N}) -> is_integer(N) andalso N >= 1 andalso N =< 1 bsl 62;
rotate_item({files, N}) -> is_integer(N) andalso N >= 1 andalso N =< ?EPCAP_SAVE_FILES_MAX;
rotate_item(_) -> false.

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

%% An absolute path outside the kernel's trees, as the port requires
%% (c_src/jail.c): a relative one would depend on the VM's cwd.
jail_path(D) ->
    case text(chroot, D) of
        {ok, _, "/" ++ _ = S} ->
            case lists:any(fun(T) -> S =:= T orelse lists:prefix(T ++ "/", S) end,
                           ["/proc", "/sys", "/dev"]) of
                false -> {ok, chroot, S};
                true -> ?BAD(chroot, D)
            end;
        {ok, _, _} -> ?BAD(chroot, D);
        Error -> Error
    end.

%% The port accepts PCAP_[A-Z0-9_]+ names only (a root process must not
%% take LD_PRELOAD and the like from its caller).
env_option(E) ->
    case text(env, E) of
        {ok, env, S} ->
            case re:run(S, "^PCAP_[A-Z0-9_]+=", [{capture, none}]) of
                match -> {ok, env, S};
                nomatch -> ?BAD(env, E)
            end;
        Error -> Error
    end.

%% taskset's CPU-list syntax, CPUs below 1024 (c_src/cpulist.h).
cpu_list(L) ->
    case text(cpu_affinity, L) of
        {ok, _, S} ->
            Ranges = string:split(S, ",", all),
            case S =/= "" andalso lists:all(fun cpu_range/1, Ranges) of
                true -> {ok, cpu_affinity, S};
                false -> ?BAD(cpu_affinity, L)
            end;
        Error -> Error
    end.

cpu_range(R) ->
    case re:run(R, "^([0-9]{1,4})(?:-([0-9]{1,4}))?$", [{capture, all_but_first, list}]) of
        {match, [A]} -> list_to_integer(A) < 1024;
        {match, [A, B]} ->
            list_to_integer(A) =< list_to_integer(B) andalso list_to_integer(B) < 1024;
        nomatch -> false
    end.

%% @doc A filter as the port takes it: a string of at most 8192 bytes.
-spec check_filter(term()) -> {ok, string()} | error.
check_filter(F) ->
    case text(filter, F) of
        {ok, filter, S} ->
            case byte_size(unicode:characters_to_binary(S)) =< ?CTL_FILTER_MAX of
                true -> {ok, S};
                false -> error
            end;
        _ -> error
    end.

valid_active(A) when is_boolean(A); A =:= once -> true;
valid_active(N) when is_integer(N), N >= -32768, N =< 32767 -> true;
valid_active(_) -> false.

%%====================================================================
%% The command line
%%====================================================================

%% @doc The command line to start the port with, wrapper first, with every
%% program found on disk.
-spec command(options()) -> [string()] | {error, term()}.
command(O) ->
    Prog = progname(O),
    case filelib:is_regular(Prog) of
        false -> {error, {port_not_found, Prog}};
        true -> resolve(wrapper(O, Prog) ++ [Prog | args(O)])
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

%% @doc The port program's path.
-spec progname(options()) -> string().
progname(#{progname := default}) -> default_progname();
progname(#{progname := P}) -> filename:absname(P).

%% @doc `priv/epcap' of the application.
-spec default_progname() -> string().
default_progname() -> filename:join(priv_dir(), "epcap").

priv_dir() ->
    case code:priv_dir(epcap) of
        {error, bad_name} ->
            filename:join(filename:dirname(filename:dirname(code:which(?MODULE))), "priv");
        Dir -> Dir
    end.

%% A file needs no privilege; a live capture asks epcap_privilege.
wrapper(#{exec := default, file := undefined}, Prog) -> epcap_privilege:default_exec(Prog);
wrapper(#{exec := default}, _) -> [];
wrapper(#{exec := W}, _) -> string:lexemes(W, " ").

%% @doc The port's own arguments (`priv/epcap -h').
%% ```
%% {ok, O} = epcap_options:validate([{file, "x.pcap"}, {env, "PCAP_A=1"}]),
%% ["-r", "x.pcap", "-s", "65535", "-t", "immediate", "-E", "PCAP_A=1"] =
%%     epcap_options:args(O).
%% '''
-spec args(options()) -> [string()].
args(O) ->
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
       flag("-N", maps:get(priority, O) =:= normal),
       %% a file capture never changes its priority: no flag to show
       flag("-T", maps:get(priority, O) =:= realtime andalso maps:get(file, O) =:= undefined),
       lists:duplicate(maps:get(verbose, O), "-v"),
       opt_arg("-u", maps:get(user, O)),
       opt_arg("-g", maps:get(group, O)),
       opt_arg("-C", maps:get(chroot, O)),
       lists:append([["-E", E] || E <- env(O)]),
       opt_arg("-a", maps:get(cpu_affinity, O)),
       epcap_fanout:port_args(maps:get(fanout, O)),
       save_args(O)]).

%% doc/protocol.md, "Saved files".
save_args(#{save := undefined}) -> [];
save_args(#{save := P, save_format := F, rotate := R, save_mode := M, deliver := D}) ->
    lists:append(
      [["-w", P, "-o", atom_to_list(F)],
       lists:append([[rotate_flag(K), integer_to_list(V)] || {K, V} <- R]),
       ["-m", integer_to_list(M, 8)],
       flag("-D", D =:= none)]).

rotate_flag(size) -> "-z";
rotate_flag(seconds) -> "-G";
rotate_flag(packets) -> "-c";
rotate_flag(files) -> "-W".

env(#{env := Env, cluster_id := undefined}) -> Env;
env(#{env := Env, cluster_id := Id}) ->
    Env ++ ["PCAP_PF_RING_CLUSTER_ID=" ++ integer_to_list(Id)].

source_args(#{file := undefined, interface := undefined}) -> [];
source_args(#{file := undefined, interface := I}) -> ["-i", I];
source_args(#{file := F}) -> ["-r", F].

opt_arg(_, undefined) -> [];
opt_arg(Flag, A) when is_atom(A) -> [Flag, atom_to_list(A)];
opt_arg(Flag, S) -> [Flag, S].

flag(F, true) -> [F];
flag(_, false) -> [].

timeout_arg(T) when is_atom(T) -> atom_to_list(T);
timeout_arg(T) -> integer_to_list(T).
