%%% @doc Example application: keeps one live capture running under a
%%% supervisor, counting what it captures.
-module(capture_keeper_app).
-behaviour(application).

-export([start/2, stop/1]).

%% @private
-spec start(application:start_type(), term()) -> {ok, pid()} | {error, term()}.
start(_Type, _Args) ->
    {ok, Options} = application:get_env(capture_keeper, capture),
    capture_keeper_sup:start_link(Options).

%% @private
-spec stop(term()) -> ok.
stop(_State) -> ok.
