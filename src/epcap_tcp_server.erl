%%% @doc A capture whose owner gets TCP streams instead of frames: the
%%% server owns an {@link epcap} capture in `{deliver, batch}', feeds its
%%% frames through {@link epcap_tcp} (IP fragments through
%%% {@link epcap_defrag} first) and sends the owner, in order:
%%% <ul>
%%% <li>`{epcap_tcp, Pid, Event}' for each {@link epcap_tcp:event()}:
%%%   `{open, Flow}', `{data, Flow, Dir, Offset, Bytes}',
%%%   `{gap, Flow, Dir, Offset, Length}', `{close, Flow, Why}';</li>
%%% <li>`{epcap_tcp, Pid, eof}' after the last event of a file (every
%%%   connection still open closed first, `timeout');</li>
%%% <li>`{epcap_tcp, Pid, {error, Reason}}' when the capture failed.</li>
%%% </ul>
%%% ```
%%% {ok, Pid} = epcap_tcp_server:start_link(self(), [{file, "test/data/flow_http4.pcap"}]),
%%% receive {epcap_tcp, Pid, {open, {{_, _}, {_, 8080}}}} -> ok end.
%%% '''
%%% Under a supervisor it behaves as a capture does: it exits `normal' at
%%% the end of a file, on {@link stop/1} and when its owner exits, and
%%% with the capture's failure otherwise, so a `transient' child is
%%% restarted exactly when it failed. The server takes packets from its
%%% capture with `{active, N}' (at most 8192 wait for it), but sends events
%%% as fast as it makes them (as `{active, true}'): an owner must keep up. The time the
%%% reassembly sees is the packets' capture time; connections and holes
%%% also time out while no packet comes (a live capture gone quiet).
%%% @end
-module(epcap_tcp_server).
-behaviour(gen_server).

-export([start_link/2]).
-export([start/2]).
-export([stop/1]).
-export([stats/1]).
-export([capture/1]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2, terminate/2]).

-type option() :: epcap:option() | {tcp, [epcap_tcp:option()]}.
-export_type([option/0]).

-record(state, {
    owner :: pid(),
    capture :: pid(),
    tcp :: epcap_tcp:state(),
    taken = 0 :: non_neg_integer(),   % packets taken since the last top-up
    last = 0 :: integer(),            % capture time of the last packet (ms)
    wall = 0 :: integer()             % monotonic time it came (ms)
}).

-define(TICK, 1000).
%% The capture runs in {active, ?WINDOW}, topped up by what was taken once
%% that is half of it: at most ?WINDOW packets wait in the mailbox.
-define(WINDOW, 8192).

%% @doc Start a reassembling capture linked to the caller, sending to
%% `Owner'. `Options' are {@link epcap:start_link/2}'s (`deliver',
%% `tagged', `time_unit' and `active' are set here and may not be
%% given), and `{tcp, TcpOptions}' for {@link epcap_tcp:new/1}. Errors
%% are the capture's, and `{error, {badarg, Option}}'.
-spec start_link(pid(), [option()]) -> {ok, pid()} | {error, term()}.
start_link(Owner, Options) -> start(start_link, Owner, Options).

%% @doc As {@link start_link/2}, not linked.
-spec start(pid(), [option()]) -> {ok, pid()} | {error, term()}.
start(Owner, Options) -> start(start, Owner, Options).

start(How, Owner, Options) when is_pid(Owner), is_list(Options) ->
    case check(Options) of
        {ok, Capture, Tcp} -> gen_server:How(?MODULE, {Owner, Capture, Tcp}, []);
        Error -> Error
    end;
start(_, Owner, Options) ->
    {error, {badarg, {Owner, Options}}}.

check(Options) ->
    {Tcp, Capture} = lists:partition(fun(O) -> element(1, O) =:= tcp end,
                                     [O || O <- Options, is_tuple(O)]),
    Fixed = [O || O <- Options, is_tuple(O),
                  lists:member(element(1, O), [deliver, tagged, time_unit, active])],
    TcpOpts = lists:append([L || {tcp, L} <- Tcp]),
    try
        _ = epcap_tcp:new(TcpOpts),
        case {Fixed, [O || O <- Options, not is_tuple(O)]} of
            {[], Atoms} -> {ok, Capture ++ Atoms, TcpOpts};
            {[F | _], _} -> {error, {badarg, F}}
        end
    catch
        error:{badarg, Bad} -> {error, {badarg, {tcp, Bad}}}
    end.

%% @doc Stop the server and its capture.
-spec stop(pid()) -> ok.
stop(Pid) ->
    try gen_server:stop(Pid) catch exit:_ -> ok end.

%% @doc {@link epcap_tcp:stats/1} of the reassembly so far.
-spec stats(pid()) -> #{atom() => term()}.
stats(Pid) -> gen_server:call(Pid, stats).

%% @doc The capture's pid, for {@link epcap:stats/1} or
%% {@link epcap:setfilter/2}.
-spec capture(pid()) -> pid().
capture(Pid) -> gen_server:call(Pid, capture).

%% @private
init({Owner, Options, TcpOpts}) ->
    process_flag(trap_exit, true),
    Opts = [{deliver, batch}, {tagged, true}, {time_unit, microsecond}, {active, ?WINDOW}
            | Options],
    case epcap:start_link(self(), Opts) of
        {ok, Cap} ->
            _ = monitor(process, Owner),
            erlang:send_after(?TICK, self(), tick),
            {ok, #state{owner = Owner, capture = Cap, tcp = epcap_tcp:new(TcpOpts),
                        wall = now_ms()}};
        {error, Reason} ->
            {stop, Reason}
    end.

%% @private
handle_call(stats, _From, #state{tcp = T} = S) ->
    {reply, epcap_tcp:stats(T), S};
handle_call(capture, _From, #state{capture = C} = S) ->
    {reply, C, S};
handle_call(_, _From, S) ->
    {reply, {error, badarg}, S}.

%% @private
handle_cast(_, S) ->
    {noreply, S}.

%% @private
handle_info({epcap_batch, Cap, B}, #state{capture = Cap, owner = O, tcp = T, last = L} = S) ->
    DLT = epcap:link_type(B),
    Self = self(),
    {T1, Last, N} = epcap:fold(fun(Time, _Len, Frame, {Ts, _, K}) ->
                                       Now = Time div 1000,
                                       {Ev, Ts1} = epcap_tcp:frame(DLT, Frame, Now, Ts),
                                       send(O, Self, Ev),
                                       {Ts1, Now, K + 1}
                               end, {T, L, 0}, B),
    {noreply, top_up(N, S#state{tcp = T1, last = Last, wall = now_ms()})};
handle_info({epcap_passive, Cap}, #state{capture = Cap} = S) ->
    {noreply, S};
handle_info(tick, #state{owner = O, tcp = T, last = L, wall = W} = S) ->
    %% No packet for a while: time goes on from the last one's.
    Now = L + (now_ms() - W),
    {Ev, T1} = epcap_tcp:expire(Now, T),
    send(O, self(), Ev),
    erlang:send_after(?TICK, self(), tick),
    {noreply, S#state{tcp = T1}};
handle_info({epcap_eof, Cap}, #state{capture = Cap, owner = O, tcp = T} = S) ->
    {Ev, T1} = epcap_tcp:flush(T),
    send(O, self(), Ev),
    O ! {epcap_tcp, self(), eof},
    {stop, normal, S#state{tcp = T1}};
handle_info({epcap_error, Cap, Reason}, #state{capture = Cap, owner = O} = S) ->
    O ! {epcap_tcp, self(), {error, Reason}},
    {stop, Reason, S};
handle_info({'EXIT', Cap, normal}, #state{capture = Cap} = S) ->
    %% After eof or an error message, which come first.
    {noreply, S};
handle_info({'EXIT', Cap, Reason}, #state{capture = Cap, owner = O} = S) ->
    O ! {epcap_tcp, self(), {error, Reason}},
    {stop, Reason, S};
handle_info({'EXIT', _, Reason}, S) ->
    {stop, Reason, S};
handle_info({'DOWN', _, process, O, _}, #state{owner = O} = S) ->
    {stop, normal, S};
handle_info(_, S) ->
    {noreply, S}.

%% @private
terminate(_Reason, #state{capture = Cap}) ->
    epcap:stop(Cap).

top_up(N, #state{capture = Cap, taken = Taken} = S) when Taken + N >= ?WINDOW div 2 ->
    _ = epcap:setopts(Cap, [{active, Taken + N}]),
    S#state{taken = 0};
top_up(N, #state{taken = Taken} = S) ->
    S#state{taken = Taken + N}.

send(O, Self, Events) ->
    lists:foreach(fun(E) -> O ! {epcap_tcp, Self, E} end, Events).

now_ms() -> erlang:monotonic_time(millisecond).
