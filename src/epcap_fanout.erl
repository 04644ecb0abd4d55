%%% @doc The `{fanout, ...}' option: joining a kernel `PACKET_FANOUT' group.
%%%
%%% Several captures of one interface that join the same group share its
%%% traffic instead of each seeing all of it. The kernel picks one member
%%% per packet, by `Mode':
%%% <ul>
%%% <li>`hash': by flow (a symmetric hash of addresses and ports), so a
%%% flow stays on one member while the group's size does not change;</li>
%%% <li>`lb': round robin; `cpu': by the receiving CPU; `rollover': fill
%%% one member, then the next; `random'; `qm': by receive queue.</li>
%%% </ul>
%%% `Flags': `defrag' (reassemble IP fragments first, so that they hash
%%% with their flow), `rollover' (move to another member when one is
%%% full), `ignore_outgoing' (only received packets; Linux 4.20).
%%%
%%% Pure: validation and the port's command line only. Linux only; the
%%% port says `{fanout, Msg}' if the kernel refuses (e.g. the group exists
%%% with another mode or on another interface).
%%% @end
-module(epcap_fanout).

-export([option/1]).
-export([cross/2]).
-export([port_args/1]).
-export([modes/0]).
-export([flags/0]).

-export_type([spec/0, mode/0, flag/0]).

-type mode() :: hash | lb | cpu | rollover | random | qm.
-type flag() :: defrag | rollover | ignore_outgoing.
-type spec() :: {GroupId :: 0..65535, mode(), [flag()]}.

-define(BAD(V), {error, {badarg, {fanout, V}}}).

%% @doc The modes, as the port program names them.
%% ```
%% true = lists:member(hash, epcap_fanout:modes()).
%% '''
-spec modes() -> [mode()].
modes() -> [hash, lb, cpu, rollover, random, qm].

%% @doc The flags, as the port program names them.
%% ```
%% true = lists:member(defrag, epcap_fanout:flags()).
%% '''
-spec flags() -> [flag()].
flags() -> [defrag, rollover, ignore_outgoing].

%% @doc Validate the value of `{fanout, Value}': `{GroupId, Mode}' or
%% `{GroupId, Mode, Flags}', GroupId in 0..65535, each flag at most once.
%% ```
%% {ok, {7, hash, [defrag]}} = epcap_fanout:option({7, hash, [defrag]}),
%% {error, {badarg, {fanout, {7, nope}}}} = epcap_fanout:option({7, nope}).
%% '''
-spec option(term()) -> {ok, spec()} | {error, {badarg, {fanout, term()}}}.
option({Id, Mode}) ->
    case option({Id, Mode, []}) of
        {ok, _} = Ok -> Ok;
        {error, _} -> ?BAD({Id, Mode})
    end;
option({Id, Mode, Flags} = V) when is_integer(Id), Id >= 0, Id =< 65535 ->
    case lists:member(Mode, modes()) andalso flags_ok(Flags, []) of
        true -> {ok, {Id, Mode, Flags}};
        false -> ?BAD(V)
    end;
option(V) ->
    ?BAD(V).

%% Each known flag at most once, in a proper list.
flags_ok([], _Seen) -> true;
flags_ok([F | Rest], Seen) ->
    lists:member(F, flags()) andalso not lists:member(F, Seen)
        andalso flags_ok(Rest, [F | Seen]);
flags_ok(_, _) -> false.

%% @doc The rules across options: a group needs a live Linux capture.
%% `Fanout' is the validated spec or `undefined', `File' the `{file, _}'
%% option's value or `undefined'.
%% ```
%% ok = epcap_fanout:cross(undefined, "x.pcap"),
%% {error, {badarg, {fanout, _Why}}} = epcap_fanout:cross({1, lb, []}, "x.pcap").
%% '''
-spec cross(spec() | undefined, term()) -> ok | {error, {badarg, {fanout, string()}}}.
cross(undefined, _File) ->
    ok;
cross(_Spec, File) when File =/= undefined ->
    ?BAD("a file has no kernel socket: fanout needs a live capture");
cross(_Spec, _File) ->
    case os:type() of
        {unix, linux} -> ok;
        {_, OS} -> ?BAD("PACKET_FANOUT is Linux only, not " ++ atom_to_list(OS))
    end.

%% @doc The port program's arguments for a validated spec.
%% ```
%% ["-F", "7:hash:defrag,rollover"] =
%%     epcap_fanout:port_args({7, hash, [defrag, rollover]}),
%% [] = epcap_fanout:port_args(undefined).
%% '''
-spec port_args(spec() | undefined) -> [string()].
port_args(undefined) ->
    [];
port_args({Id, Mode, Flags}) ->
    Base = integer_to_list(Id) ++ ":" ++ atom_to_list(Mode),
    case Flags of
        [] -> ["-F", Base];
        _ -> ["-F", Base ++ ":" ++ lists:append(lists:join(",", [atom_to_list(F) || F <- Flags]))]
    end.
