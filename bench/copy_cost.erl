-module(copy_cost).
-export([run/0]).
%% Per-packet cost of handing the owner a sub-binary of the batch versus a
%% copy (binary:copy/1), on the server's per-packet path: match, build the
%% message, send it; for frames of 64, 65, 200 and 1500 bytes in 256 KiB
%% batches. Up to 64 bytes (ERL_ONHEAP_BIN_LIMIT) the runtime already
%% copies what the match extracts into a heap binary: there, "sub" is a
%% copy too, and the two columns measure the same thing plus binary:copy's
%% call.
%% Run: erlc -o /tmp bench/copy_cost.erl && erl -noshell -pa /tmp -eval 'copy_cost:run(), halt().'

run() ->
    Self = self(),
    Sink = spawn(fun() -> sink(Self, 0) end),
    [begin
         Rec = <<0:64, 0:32, Len:32, Len:32, 0:Len/unit:8>>,
         Batch = binary:copy(Rec, 262144 div byte_size(Rec)),
         Ns = [{Mode, measure(Mode, Batch, Sink)} || _ <- [1, 2, 3], Mode <- [sub, copy]],
         Best = fun(M) -> lists:min([T || {Mo, T} <- Ns, Mo =:= M]) end,
         io:format("~4b bytes: sub-binary ~5.1f ns/packet, binary:copy ~5.1f ns/packet~n",
                   [Len, Best(sub), Best(copy)])
     end || Len <- [64, 65, 200, 1500]],
    ok.

measure(Mode, Batch, Sink) ->
    N = 100,
    Count = count(Batch, 0),
    T0 = erlang:monotonic_time(nanosecond),
    [walk(Mode, Batch, Sink) || _ <- lists:seq(1, N)],
    Sink ! {sync, self()},
    receive synced -> ok end,
    T = erlang:monotonic_time(nanosecond) - T0,
    T / (N * Count).

count(<<_:64, _:32, C:32, _:32, _:C/binary, Rest/binary>>, N) -> count(Rest, N + 1);
count(<<>>, N) -> N.

walk(Mode, <<S:64, F:32, C:32, L:32, P:C/binary, Rest/binary>>, Sink) ->
    Pkt = case Mode of sub -> P; copy -> binary:copy(P) end,
    Sink ! {packet, 1, {S div 1000000, S rem 1000000, F}, L, Pkt},
    walk(Mode, Rest, Sink);
walk(_, <<>>, _) -> ok.

sink(Parent, N) ->
    receive {packet, _, _, _, _} -> sink(Parent, N + 1);
            {sync, From} -> From ! synced, sink(Parent, N) end.
