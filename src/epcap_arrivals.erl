%%% @doc Keys in the order they arrived, for evicting the oldest in O(1)
%%% (`epcap_defrag''s datagrams, `epcap_tcp''s flows). Pure data.
%%%
%%% {@link add/2} gives each key a serial, which the caller keeps with the
%%% key's entry: an entry of the queue whose serial is no longer the
%%% key's (the key went, or came back later) is stale, and is skipped by
%%% the caller when met. {@link compact/3} drops the stale ones once the
%%% queue is more than twice as long as the caller holds.
%%% @end
-module(epcap_arrivals).

-export([new/0]).
-export([add/2]).
-export([take/1]).
-export([put_back/2]).
-export([compact/3]).
-export([to_list/1]).

-export_type([t/0, entry/0]).

-record(arrivals, {
    queue = queue:new() :: queue:queue(entry()),
    len = 0 :: non_neg_integer(),
    next = 0 :: non_neg_integer()
}).
-opaque t() :: #arrivals{}.
-type entry() :: {Serial :: non_neg_integer(), Key :: term()}.

%% @doc An empty queue.
-spec new() -> t().
new() -> #arrivals{}.

%% @doc Key arrives: its serial, and the queue with it last.
-spec add(term(), t()) -> {non_neg_integer(), t()}.
add(Key, #arrivals{queue = Q, len = L, next = N} = A) ->
    {N, A#arrivals{queue = queue:in({N, Key}, Q), len = L + 1, next = N + 1}}.

%% @doc The oldest entry, taken off the queue; stale or not.
-spec take(t()) -> {entry(), t()} | empty.
take(#arrivals{queue = Q, len = L} = A) ->
    case queue:out(Q) of
        {empty, _} -> empty;
        {{value, E}, Q1} -> {E, A#arrivals{queue = Q1, len = L - 1}}
    end.

%% @doc An entry taken by {@link take/1} goes back in front.
-spec put_back(entry(), t()) -> t().
put_back(E, #arrivals{queue = Q, len = L} = A) ->
    A#arrivals{queue = queue:in_r(E, Q), len = L + 1}.

%% @doc Drops the entries for which `Live(Serial, Key)' is false, once the
%% queue holds more than twice `Held' entries.
-spec compact(fun((non_neg_integer(), term()) -> boolean()), non_neg_integer(), t()) -> t().
compact(Live, Held, #arrivals{queue = Q, len = L} = A) when L > 2 * Held ->
    Q1 = queue:filter(fun({N, K}) -> Live(N, K) end, Q),
    A#arrivals{queue = Q1, len = queue:len(Q1)};
compact(_, _, A) ->
    A.

%% @doc Every entry, oldest first, stale ones included.
-spec to_list(t()) -> [entry()].
to_list(#arrivals{queue = Q}) -> queue:to_list(Q).
