%%% @doc Flow control as pure data: the owner's `{active, _}' mode, the
%%% packets buffered for it, and the credit the port holds
%%% (`doc/protocol.md', "Credit").
%%%
%%% The server feeds each batch to {@link received/3} and sends what comes
%%% back; nothing here sends a message or touches a port, so every edge of
%%% gen_tcp's `active' semantics is tested without one.
%%% @end
-module(epcap_flow).

-export([new/1]).
-export([received/3]).
-export([resume/1]).
-export([set_active/2]).
-export([grant/1]).
-export([active/1]).
-export([buffered/1]).
-export([outstanding/1]).
-export([drop_credit/1]).

-export_type([flow/0, active/0, delivery/0]).

-type active() :: boolean() | once | -32768..32767.
%% Records to hand to the owner, in order, and whether the owner must then
%% be told `{epcap_passive, Pid}'.
-type delivery() :: {[binary()], Passive :: boolean()}.

%% Credit window in packets: how many the port may send before the server
%% has forwarded them. Bounds the server's mailbox; refilled at half.
-define(WINDOW, 8192).
%% In once/N/false mode the server reads this many packets ahead of what the
%% owner has asked for, so that re-arming costs no round trip to the port.
-define(PREFETCH, 512).

-record(flow, {
    active = true :: boolean() | once | integer(),
    outstanding = 0 :: non_neg_integer(),       % granted, not yet received
    buffer = [] :: [{pos_integer(), binary()}],  % {Count, Records}, oldest first
    buffered = 0 :: non_neg_integer()
}).
-opaque flow() :: #flow{}.

%% @doc The state of a capture started with `{active, Active}', before
%% `ready': when `Active' is 0 or less the owner must hear it is passive.
%% ```
%% {_, true} = epcap_flow:new(0),
%% {_, false} = epcap_flow:new(once).
%% '''
-spec new(active()) -> {flow(), Passive :: boolean()}.
new(N) when is_integer(N), N =< 0 -> {#flow{active = false}, true};
new(A) -> {#flow{active = A}, false}.

%% @doc A batch of `Count' records arrived from the port: what the owner
%% may have now; the rest waits.
-spec received(pos_integer(), binary(), flow()) -> {delivery(), flow()}.
received(Count, Records, #flow{outstanding = Out, buffered = 0} = F) ->
    take(Count, Records, F#flow{outstanding = max(0, Out - Count)}, [], false);
received(Count, Records, #flow{outstanding = Out, buffer = B, buffered = N} = F) ->
    drain(F#flow{outstanding = max(0, Out - Count),
                 buffer = B ++ [{Count, Records}], buffered = N + Count}).

%% @doc What the owner may have after its allowance changed.
-spec resume(flow()) -> {delivery(), flow()}.
resume(F) -> drain(F).

drain(F) -> drain(F, [], false).

drain(#flow{buffer = [{Count, B} | Rest], buffered = N, active = A} = F, Acc, P) ->
    case allowance(A) of
        0 -> {{lists:reverse(Acc), P}, F};
        _ -> take(Count, B, F#flow{buffer = Rest, buffered = N - Count}, Acc, P)
    end;
drain(F, Acc, P) ->
    {{lists:reverse(Acc), P}, F}.

%% Deliver what the allowance covers, put the rest back in front.
take(Count, Records, #flow{active = A} = F, Acc, P) ->
    case allowance(A) of
        Allow when Allow >= Count ->
            {F1, P1} = consumed(Count, F),
            drain(F1, [Records | Acc], P orelse P1);
        0 ->
            {{lists:reverse(Acc), P}, unshift(Count, Records, F)};
        Allow ->
            {Head, Tail} = epcap_batch:split(Records, Allow),
            {F1, P1} = consumed(Allow, F),
            {{lists:reverse([Head | Acc]), P orelse P1},
             unshift(Count - Allow, Tail, F1)}
    end.

unshift(Count, Records, #flow{buffer = B, buffered = N} = F) ->
    F#flow{buffer = [{Count, Records} | B], buffered = N + Count}.

allowance(true) -> infinity;
allowance(false) -> 0;
allowance(once) -> 1;
allowance(N) when is_integer(N), N > 0 -> N;
allowance(_) -> 0.

%% As gen_tcp: `once' falls back to false without a message; N counts down
%% to a passive message.
consumed(_, #flow{active = true} = F) -> {F, false};
consumed(_, #flow{active = once} = F) -> {F#flow{active = false}, false};
consumed(N, #flow{active = A} = F) when is_integer(A) ->
    case A - N of
        0 -> {F#flow{active = false}, true};
        Left -> {F#flow{active = Left}, false}
    end.

%% @doc `setopts/2''s `{active, A}', as `inet:setopts/2': an integer adds
%% to the current count; a sum above 32767 or a value outside
%% -32768..32767 is `{error, einval}'; at 0 or below the owner is told it
%% is passive.
%% ```
%% {F0, false} = epcap_flow:new(false),
%% {ok, F1, false} = epcap_flow:set_active(32767, F0),
%% {error, einval} = epcap_flow:set_active(1, F1).
%% '''
-spec set_active(term(), flow()) -> {ok, flow(), Passive :: boolean()} | {error, einval}.
set_active(A, F) when is_boolean(A); A =:= once -> {ok, F#flow{active = A}, false};
set_active(N, #flow{active = Cur} = F) when is_integer(N), N >= -32768, N =< 32767 ->
    case case Cur of C when is_integer(C) -> C + N; _ -> N end of
        New when New > 32767 -> {error, einval};
        New when New =< 0 -> {ok, F#flow{active = false}, true};
        New -> {ok, F#flow{active = New}, false}
    end;
set_active(_, _) -> {error, einval}.

%% @doc Credit to grant the port now (0: none), keeping granted-but-unseen
%% plus buffered packets within what the owner may take and the window.
%% ```
%% {F, false} = epcap_flow:new(true),
%% {8192, _} = epcap_flow:grant(F).
%% '''
-spec grant(flow()) -> {non_neg_integer(), flow()}.
grant(#flow{active = A, outstanding = Out, buffered = Buf} = F) ->
    Target = case allowance(A) of
                 infinity -> ?WINDOW;
                 N -> min(N + ?PREFETCH, ?WINDOW)
             end,
    Want = Target - Out - Buf,
    case Want > 0 andalso Want >= max(1, Target div 2) of
        true -> {Want, F#flow{outstanding = Out + Want}};
        false -> {0, F}
    end.

%% @doc The port has said its last word: no credit is outstanding.
-spec drop_credit(flow()) -> flow().
drop_credit(F) -> F#flow{outstanding = 0}.

%% @doc The current mode (an integer count when `{active, N}').
-spec active(flow()) -> boolean() | once | integer().
active(#flow{active = A}) -> A.

%% @doc Packets received and not yet delivered.
-spec buffered(flow()) -> non_neg_integer().
buffered(#flow{buffered = N}) -> N.

%% @doc Packets granted to the port and not yet received.
-spec outstanding(flow()) -> non_neg_integer().
outstanding(#flow{outstanding = N}) -> N.
