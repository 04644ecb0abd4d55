%%% @doc The capture's owner: counts packets and logs how each capture
%%% ended.
-module(capture_keeper_counter).
-behaviour(gen_server).

-export([start_link/0, count/0]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2]).

%% @doc Start the counter, registered as `capture_keeper_counter'.
-spec start_link() -> {ok, pid()} | {error, term()}.
start_link() -> gen_server:start_link({local, ?MODULE}, ?MODULE, [], []).

%% @doc Packets counted so far, and the ends seen.
-spec count() -> #{packets := non_neg_integer(), ends := [term()]}.
count() -> gen_server:call(?MODULE, count).

%% @private
init([]) -> {ok, #{packets => 0, ends => []}}.

%% @private
handle_call(count, _From, S) -> {reply, S, S}.

%% @private
handle_cast(_Msg, S) -> {noreply, S}.

%% @private
handle_info({packet, _DLT, _Time, _Len, _Packet}, #{packets := N} = S) ->
    {noreply, S#{packets := N + 1}};
handle_info({epcap, End}, #{ends := Ends} = S) ->
    logger:notice(#{capture_keeper => capture_ended, 'end' => End}),
    {noreply, S#{ends := Ends ++ [End]}};
handle_info(_Other, S) ->
    {noreply, S}.
