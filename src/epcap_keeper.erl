%%% @doc A live capture that rides out its interface's outages.
%%%
%%% Under a plain supervisor, a capture whose interface goes away fails,
%%% and each restart fails at once while the interface is gone (about
%%% 15 ms each): a 1 s outage is some 60 restarts and their log lines, and
%%% a longer one exhausts the supervisor's intensity. A keeper is one
%%% process that holds the capture (`epcap:start_link/2', linked) and,
%%% when it fails, starts it again after a wait that doubles from
%%% `backoff_min' (100 ms) to `backoff_max' (5 s), until a start succeeds
%%% (then the wait goes back to `backoff_min') or, with `give_up_after'
%%% set, until the capture has been down that long (then the keeper exits
%%% `{shutdown, {gave_up, LastReason}}'). A capture that ends normally (a
%%% file's end, {@link epcap:stop/1}, its owner gone) ends the keeper
%%% normally, as does {@link stop/1}.
%%%
%%% The owner gets the messages of each capture in turn, the failure of
%%% each included (`{epcap, {error, Reason}}'); with `{tagged, true}' the
%%% pid changes at every restart ({@link capture/1} gives the current one).
%%% Each restart is a `restarted' event (`epcap_events'). As a supervisor's
%%% child ({@link child_spec/1}: `transient') the keeper's outages never
%%% reach the supervisor: it exits only when its capture ends normally or
%%% it gives up (`{shutdown, _}', not restarted), so the intensity that
%%% goes with it is the default (1 restart in 5 s) whatever the outages.
%%% ```
%%% {ok, K} = epcap_keeper:start_link(self(), [{interface, "eth0"}, {filter, "icmp"}],
%%%                                   #{backoff_max => 2000}),
%%% {ok, Capture} = epcap_keeper:capture(K).
%%% '''
%%% @end
-module(epcap_keeper).
-behaviour(gen_server).

-export([start_link/1]).
-export([start_link/2]).
-export([start_link/3]).
-export([capture/1]).
-export([stop/1]).
-export([child_spec/1]).

-export([init/1, handle_call/3, handle_cast/2, handle_info/2, terminate/2]).

-export_type([options/0]).

-type options() :: #{backoff_min => pos_integer(), backoff_max => pos_integer(),
                     give_up_after => pos_integer() | infinity}.

-record(state, {
    owner :: pid(),
    options :: [epcap:option()],
    min :: pos_integer(),
    max :: pos_integer(),
    give_up :: pos_integer() | infinity,
    capture = undefined :: undefined | pid(),
    wait :: pos_integer(),
    attempt = 0 :: non_neg_integer(),
    down_since = undefined :: undefined | integer(),
    last = undefined :: term()
}).

%% @equiv start_link(self(), Options, #{})
-spec start_link([epcap:option()]) -> {ok, pid()} | {error, term()}.
start_link(Options) -> start_link(self(), Options, #{}).

%% @equiv start_link(Owner, Options, #{})
-spec start_link(pid(), [epcap:option()]) -> {ok, pid()} | {error, term()}.
start_link(Owner, Options) -> start_link(Owner, Options, #{}).

%% @doc Keep a capture with `Options' running for `Owner'. The first start
%% must succeed (its error is returned: a bad option, no right to capture,
%% an interface that does not exist yet...); later ones are retried.
-spec start_link(pid(), [epcap:option()], options()) -> {ok, pid()} | {error, term()}.
start_link(Owner, Options, KeeperOptions) when is_pid(Owner), is_map(KeeperOptions) ->
    case keeper_options(KeeperOptions) of
        {ok, K} -> gen_server:start_link(?MODULE, {Owner, Options, K}, []);
        Error -> Error
    end.

%% @doc A supervisor child spec: `#{id, start => {epcap_keeper, start_link,
%% [Owner, Options, KeeperOptions]}}' from a map with `owner', `options'
%% and, optionally, `keeper' and `id'.
-spec child_spec(#{owner := pid(), options := [epcap:option()], keeper => options(),
                   id => term()}) -> supervisor:child_spec().
child_spec(#{owner := Owner, options := Options} = M) ->
    #{id => maps:get(id, M, epcap_keeper),
      start => {?MODULE, start_link, [Owner, Options, maps:get(keeper, M, #{})]},
      restart => transient, type => worker}.

%% @doc The capture running now, or `{error, down}' while it is restarted.
-spec capture(pid()) -> {ok, pid()} | {error, down}.
capture(Keeper) -> gen_server:call(Keeper, capture).

%% @doc Stop the keeper and its capture.
-spec stop(pid()) -> ok.
stop(Keeper) -> gen_server:stop(Keeper).

keeper_options(M) ->
    Min = maps:get(backoff_min, M, 100),
    Max = maps:get(backoff_max, M, 5000),
    GiveUp = maps:get(give_up_after, M, infinity),
    Known = [backoff_min, backoff_max, give_up_after],
    case [K || K <- maps:keys(M), not lists:member(K, Known)] of
        [K | _] -> {error, {bad_option, K}};
        [] when is_integer(Min), Min > 0, is_integer(Max), Max >= Min,
                GiveUp =:= infinity orelse is_integer(GiveUp) andalso GiveUp > 0 ->
            {ok, {Min, Max, GiveUp}};
        [] -> {error, {badarg, M}}
    end.

%% @private
init({Owner, Options, {Min, Max, GiveUp}}) ->
    process_flag(trap_exit, true),
    case epcap:start_link(Owner, Options) of
        {ok, Pid} ->
            {ok, #state{owner = Owner, options = Options, min = Min, max = Max,
                        give_up = GiveUp, capture = Pid, wait = Min}};
        {error, Reason} ->
            {stop, Reason}
    end.

%% @private
handle_call(capture, _From, #state{capture = undefined} = S) -> {reply, {error, down}, S};
handle_call(capture, _From, #state{capture = Pid} = S) -> {reply, {ok, Pid}, S};
handle_call(_, _From, S) -> {reply, {error, badarg}, S}.

%% @private
handle_cast(_, S) -> {noreply, S}.

%% @private
handle_info({'EXIT', Pid, normal}, #state{capture = Pid} = S) ->
    {stop, normal, S#state{capture = undefined}};
handle_info({'EXIT', Pid, Reason}, #state{capture = Pid} = S) ->
    down(Reason, S#state{capture = undefined, down_since = now_ms()});
handle_info({'EXIT', _, Reason}, S) when Reason =/= normal ->
    {stop, Reason, S};              % our parent (a supervisor) ends us
handle_info(restart, #state{owner = Owner, options = Options, attempt = A} = S) ->
    case epcap:start_link(Owner, Options) of
        {ok, Pid} ->
            epcap_events:restarted(Pid, A + 1, now_ms() - S#state.down_since),
            {noreply, S#state{capture = Pid, wait = S#state.min, attempt = A + 1,
                              down_since = undefined}};
        {error, Reason} ->
            down(Reason, S)
    end;
handle_info(_, S) ->
    {noreply, S}.

%% The capture is down: try again after the wait, doubled for next time,
%% unless it has been down longer than we may wait.
down(Reason, #state{give_up = GiveUp, down_since = Since, wait = Wait, max = Max} = S) ->
    case GiveUp =/= infinity andalso now_ms() - Since >= GiveUp of
        true ->
            {stop, {shutdown, {gave_up, Reason}}, S#state{last = Reason}};
        false ->
            _ = erlang:send_after(Wait, self(), restart),
            {noreply, S#state{wait = min(Wait * 2, Max), last = Reason}}
    end.

%% @private
terminate(_Reason, #state{capture = Pid}) when is_pid(Pid) ->
    epcap:stop(Pid);
terminate(_Reason, _S) ->
    ok.

now_ms() -> erlang:monotonic_time(millisecond).
