-module(copy_cost).
-export([run/0]).
%% Per-packet cost of handing the owner a sub-binary of the batch versus a
%% copy (binary:copy/1), for 64-byte frames (3000 per 256 KiB batch), on
%% the server's per-packet path: match, build the message, send it.
%% Run: erlc -o /tmp bench/copy_cost.erl && erl -noshell -pa /tmp -eval 'copy_cost:run(), halt().'

run() ->
    Rec = <<0:64, 0:32, 64:32, 64:32, 0:512>>,
    Batch = binary:copy(Rec, 3000),
    Self = self(),
    Sink = spawn(fun() -> sink(Self, 0) end),
    [measure(Mode, Batch, Sink) || Mode <- [sub, copy, sub, copy]],
    ok.
measure(Mode, Batch, Sink) ->
    N = 300,
    T0 = erlang:monotonic_time(nanosecond),
    [walk(Mode, Batch, Sink) || _ <- lists:seq(1, N)],
    Sink ! {sync, self()}, receive synced -> ok end,
    T = erlang:monotonic_time(nanosecond) - T0,
    io:format("~p: ~.1f ns/packet~n", [Mode, T / (N * 3000)]).
walk(Mode, <<S:64, F:32, C:32, L:32, P:C/binary, Rest/binary>>, Sink) ->
    Pkt = case Mode of sub -> P; copy -> binary:copy(P) end,
    Sink ! {packet, 1, {S div 1000000, S rem 1000000, F}, L, Pkt},
    walk(Mode, Rest, Sink);
walk(_, <<>>, _) -> ok.
sink(Parent, N) ->
    receive {packet, _, _, _, _} -> sink(Parent, N + 1);
            {sync, From} -> From ! synced, sink(Parent, N) end.
