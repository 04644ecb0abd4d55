%%% @doc Flow control as pure data: the owner's `{active, _}' mode, the
%%% packets buffered for it, and the credit the port holds
%%% (`doc/protocol.md', "Credit").
%%%
%%% The server feeds each batch to {@link received/3} and sends what comes
%%% back; nothing here sends a message or touches a port, so every edge of
%%% gen_tcp's `active' semantics is tested without one.
%%%
%%% Credit is enforced here too: a port that sends more packets than it was
%%% granted is `{error, credit}' (the server ends the capture with
%%% `{protocol, credit}'), so what the server holds is bounded by what it
%%% granted, whatever the port does.
%%% @end
-module(epcap_flow).

-export([new/1]).
-export([new/2]).
-export([received/3]).
-export([hold/3]).
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
%% has forwarded them. Bounds the server's mailbox; refilled at half (a
%% quarter for a live capture's `{active, true}', see grant/1).
%% 8192, or on a live capture more when the records are small: as many as WINDOW_BYTES of
%% records the size of the last batch's, up to WINDOW_MAX. At top speed
%% (450-700 k frames/s of 64 B) 8192 packets are 12-18 ms, less than the
%% VM may leave the server unscheduled on two busy cores; the port then
%% stops reading and the kernel's ring (a few hundred frames in immediate
%% mode) overflows (bench/RESULTS.md 7.3).
-define(WINDOW, 8192).
-define(WINDOW_MAX, 32768).
-define(WINDOW_BYTES, 4194304).
%% In once/N/false mode the server reads this many packets ahead of what the
%% owner has asked for, so that re-arming costs no round trip to the port:
%% 128 MiB of the largest frames the port may send (epcap_frame): 512 live
%% (256 KiB), 128 from a file (1 MiB).
-define(PREFETCH_LIVE, 512).
-define(PREFETCH_FILE, 128).

-record(flow, {
    active = true :: boolean() | once | integer(),
    outstanding = 0 :: non_neg_integer(),       % granted, not yet received
    %% {Count, Records}, oldest first
    buffer = queue:new() :: queue:queue({pos_integer(), binary()}),
    buffered = 0 :: non_neg_integer(),
    prefetch = ?PREFETCH_LIVE :: pos_integer(),
    window = ?WINDOW :: pos_integer(),
    %% live: the window may grow, and {active, true} is topped up at a
    %% quarter; file: 8192 topped up at half, as a file's port only pauses
    %% when it waits, and a larger window let a per-packet owner's mailbox
    %% grow (1 M frames: 2.0-2.2 M packets/s with 18-31 k page faults,
    %% against 3.4-4.2 M).
    live = true :: boolean()
}).
-opaque flow() :: #flow{}.

%% @doc The state of a capture started with `{active, Active}', before
%% `ready': when `Active' is 0 or less the owner must hear it is passive.
%% ```
%% {_, true} = epcap_flow:new(0),
%% {_, false} = epcap_flow:new(once).
%% '''
-spec new(active()) -> {flow(), Passive :: boolean()}.
new(A) -> new(A, live).

%% @doc As {@link new/1}, for a capture that reads a `live' interface or a
%% `file': the read-ahead of a passive owner is 512 packets live, 128 from
%% a file (whose records may be four times larger).
-spec new(active(), live | file) -> {flow(), Passive :: boolean()}.
new(N, Kind) when is_integer(N), N =< 0 ->
    {#flow{active = false, prefetch = prefetch(Kind), live = Kind =:= live}, true};
new(A, Kind) -> {#flow{active = A, prefetch = prefetch(Kind), live = Kind =:= live}, false}.

prefetch(live) -> ?PREFETCH_LIVE;
prefetch(file) -> ?PREFETCH_FILE.

%% @doc A batch of `Count' records arrived from the port: what the owner
%% may have now; the rest waits. More packets than the port was granted
%% is `{error, credit}'.
%% ```
%% {F, false} = epcap_flow:new(false),
%% {error, credit} = epcap_flow:received(1, <<>>, F).
%% '''
-spec received(pos_integer(), binary(), flow()) -> {delivery(), flow()} | {error, credit}.
received(Count, _, #flow{outstanding = Out}) when Count > Out ->
    {error, credit};
received(Count, Records, #flow{buffered = 0} = F) ->
    take(Count, Records, arrived(Count, Records, F), [], false);
received(Count, Records, F) ->
    drain(append(Count, Records, arrived(Count, Records, F))).

%% @doc As {@link received/3}, but nothing is delivered: the records wait
%% (the owner is changing) until {@link resume/1}.
-spec hold(pos_integer(), binary(), flow()) -> {ok, flow()} | {error, credit}.
hold(Count, _, #flow{outstanding = Out}) when Count > Out ->
    {error, credit};
hold(Count, Records, F) ->
    {ok, append(Count, Records, arrived(Count, Records, F))}.

%% Credit spent on a batch the port sent; a live capture's window follows
%% the size of its records.
arrived(Count, Records, #flow{outstanding = Out, live = true} = F) ->
    W = max(?WINDOW, min(?WINDOW_MAX, ?WINDOW_BYTES div max(1, byte_size(Records) div Count))),
    F#flow{outstanding = Out - Count, window = W};
arrived(Count, _, #flow{outstanding = Out} = F) ->
    F#flow{outstanding = Out - Count}.

append(Count, Records, #flow{buffer = B, buffered = N} = F) ->
    F#flow{buffer = queue:in({Count, Records}, B), buffered = N + Count}.

%% @doc What the owner may have after its allowance changed.
-spec resume(flow()) -> {delivery(), flow()}.
resume(F) -> drain(F).

drain(F) -> drain(F, [], false).

drain(#flow{buffer = Q, buffered = N, active = A} = F, Acc, P) ->
    case allowance(A) =/= 0 andalso queue:out(Q) of
        {{value, {Count, B}}, Rest} ->
            take(Count, B, F#flow{buffer = Rest, buffered = N - Count}, Acc, P);
        _ ->
            {{lists:reverse(Acc), P}, F}
    end.

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
    F#flow{buffer = queue:in_r({Count, Records}, B), buffered = N + Count}.

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
%% plus buffered packets within what the owner may take and the window:
%% 8192 packets, up to 32768 on a live capture once batches of small
%% records have come (4 MiB of records the size of the last batch's).
%% ```
%% {F, false} = epcap_flow:new(true),
%% {8192, _} = epcap_flow:grant(F).
%% '''
-spec grant(flow()) -> {non_neg_integer(), flow()}.
grant(#flow{active = A, outstanding = Out, buffered = Buf, prefetch = Pre, window = W,
            live = Live} = F) ->
    %% A live {active, true} capture is topped up at a quarter of the
    %% window: the port then stops for credit only once the server is
    %% three quarters of a window behind (at 430 k frames/s, 57 ms rather
    %% than 38), while the kernel's ring fills.
    {Target, Refill} = case allowance(A) of
                           infinity when Live -> {W, W div 4};
                           infinity -> {W, W div 2};
                           N -> T = min(N + Pre, W), {T, T div 2}
                       end,
    Want = Target - Out - Buf,
    case Want > 0 andalso Want >= max(1, Refill) of
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
