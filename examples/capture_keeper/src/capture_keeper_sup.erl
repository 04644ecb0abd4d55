%%% @doc The supervisor: the owner first (a registered process, so that a
%%% restarted capture delivers to it), then the capture as a `transient'
%%% child. epcap exits `normal' at the end of a file, so a file capture is
%%% not restarted; any failure (the interface went away, the port died) is
%%% a non-normal exit, and the capture is restarted.
%%%
%%% Intensity and period: a restart while the interface is still gone
%%% fails at once (`{no_such_device, _}') and counts as one more restart.
%%% To ride out an interface that flaps for up to T seconds, allow about
%%% T / 0.02 restarts (a failed start takes some 10-20 ms) in a period a
%%% little longer than T; past that the supervisor gives up, and its own
%%% supervisor decides.
-module(capture_keeper_sup).
-behaviour(supervisor).

-export([start_link/1]).
-export([init/1]).

%% @doc Start the supervisor with `epcap:start_link/2''s options.
-spec start_link([epcap:option()]) -> {ok, pid()} | {error, term()}.
start_link(Options) ->
    supervisor:start_link({local, ?MODULE}, ?MODULE, Options).

%% @private
-spec init([epcap:option()]) -> {ok, {supervisor:sup_flags(), [supervisor:child_spec()]}}.
init(Options) ->
    Counter = #{id => counter, start => {capture_keeper_counter, start_link, []}},
    Capture = #{id => capture,
                start => {epcap, start_link, [capture_keeper_counter, Options]},
                restart => transient, shutdown => 5000},
    %% rest_for_one: a new counter gets a new capture (the old one stopped
    %% with its owner).
    {ok, {#{strategy => rest_for_one, intensity => 250, period => 10}, [Counter, Capture]}}.
