%%% EUnit tests of epcap_flow: gen_tcp's {active, _} edges and the credit
%%% window, without a port.
-module(epcap_flow_tests).
-include_lib("eunit/include/eunit.hrl").

%% N records of 1-byte packets, as the port sends them.
recs(From, N) ->
    iolist_to_binary([epcap_batch:record(0, I, 1, <<I>>) || I <- lists:seq(From, From + N - 1)]).

count(Chunks) ->
    lists:sum([element(1, epcap_batch:whole(C)) || C <- Chunks]).

flow(A) -> element(1, epcap_flow:new(A)).

%% A flow whose port has been granted its first credit.
granted(A) -> element(2, epcap_flow:grant(flow(A))).

new_passive_at_zero_or_below_test() ->
    ?assertMatch({_, true}, epcap_flow:new(0)),
    ?assertMatch({_, true}, epcap_flow:new(-32768)),
    ?assertMatch({_, false}, epcap_flow:new(1)),
    ?assertMatch({_, false}, epcap_flow:new(false)),
    ?assertEqual(false, epcap_flow:active(flow(-5))).

set_active_edges_test() ->
    F = flow(false),
    ?assertMatch({ok, _, false}, epcap_flow:set_active(32767, F)),
    ?assertEqual({error, einval}, epcap_flow:set_active(32768, F)),
    ?assertMatch({ok, _, true}, epcap_flow:set_active(-32768, F)),
    ?assertEqual({error, einval}, epcap_flow:set_active(-32769, F)),
    ?assertMatch({ok, _, true}, epcap_flow:set_active(0, F)),
    ?assertEqual({error, einval}, epcap_flow:set_active(maybe, F)),
    ?assertEqual({error, einval}, epcap_flow:set_active(1.0, F)).

set_active_sums_test() ->
    {ok, F1, false} = epcap_flow:set_active(32767, flow(false)),
    ?assertEqual(32767, epcap_flow:active(F1)),
    ?assertEqual({error, einval}, epcap_flow:set_active(1, F1)),
    {ok, F2, false} = epcap_flow:set_active(-32766, F1),
    ?assertEqual(1, epcap_flow:active(F2)),
    {ok, F3, true} = epcap_flow:set_active(-1, F2),
    ?assertEqual(false, epcap_flow:active(F3)),
    %% From a mode that is not a count, N replaces it.
    {ok, F4, false} = epcap_flow:set_active(5, flow(once)),
    ?assertEqual(5, epcap_flow:active(F4)).

active_n_delivers_exactly_n_test() ->
    {ok, F, false} = epcap_flow:set_active(7, granted(false)),
    {{Chunks, Passive}, F1} = epcap_flow:received(10, recs(1, 10), F),
    ?assertEqual(7, count(Chunks)),
    ?assert(Passive),
    ?assertEqual(false, epcap_flow:active(F1)),
    ?assertEqual(3, epcap_flow:buffered(F1)),
    %% Resuming delivers the rest, in order.
    {ok, F2, false} = epcap_flow:set_active(true, F1),
    {{More, false}, F3} = epcap_flow:resume(F2),
    ?assertEqual(recs(8, 3), iolist_to_binary(More)),
    ?assertEqual(0, epcap_flow:buffered(F3)).

once_then_false_without_message_test() ->
    {{Chunks, Passive}, F1} = epcap_flow:received(3, recs(1, 3), granted(once)),
    ?assertEqual([recs(1, 1)], Chunks),
    ?assertNot(Passive),
    ?assertEqual(false, epcap_flow:active(F1)),
    {ok, F2, false} = epcap_flow:set_active(once, F1),
    {{[Second], false}, _} = epcap_flow:resume(F2),
    ?assertEqual(recs(2, 1), Second).

false_then_resume_test() ->
    {{[], false}, F1} = epcap_flow:received(4, recs(1, 4), granted(false)),
    {{[], false}, F2} = epcap_flow:received(2, recs(5, 2), F1),
    ?assertEqual(6, epcap_flow:buffered(F2)),
    {ok, F3, false} = epcap_flow:set_active(true, F2),
    {{Chunks, false}, F4} = epcap_flow:resume(F3),
    ?assertEqual(recs(1, 6), iolist_to_binary(Chunks)),
    ?assertEqual(0, epcap_flow:buffered(F4)).

true_delivers_at_once_test() ->
    B = recs(1, 100),
    ?assertMatch({{[B], false}, _}, epcap_flow:received(100, B, granted(true))).

credit_window_test() ->
    {W, F1} = epcap_flow:grant(flow(true)),
    ?assertEqual(8192, W),
    ?assertEqual(8192, epcap_flow:outstanding(F1)),
    %% Nothing more until a quarter of the window has been used.
    ?assertMatch({0, _}, epcap_flow:grant(F1)),
    %% Batches of 1 500-byte frames leave the window at 8192.
    Big = iolist_to_binary([epcap_batch:record(0, I, 1500, binary:copy(<<I>>, 1500))
                            || I <- lists:seq(1, 4096)]),
    {BigA, BigB} = epcap_batch:split(Big, 2047),
    {_, F1a} = epcap_flow:received(2047, BigA, F1),
    ?assertMatch({0, _}, epcap_flow:grant(F1a)),
    {BigB1, BigB2} = epcap_batch:split(BigB, 1),
    {_, F1b} = epcap_flow:received(1, BigB1, F1a),
    ?assertMatch({2048, _}, epcap_flow:grant(F1b)),
    {_, F2} = epcap_flow:received(2048, BigB2, F1b),
    ?assertMatch({4096, _}, epcap_flow:grant(F2)),
    %% A passive owner: the port may read 512 ahead, no more.
    {P, Fp} = epcap_flow:grant(flow(false)),
    ?assertEqual(512, P),
    {_, Fp1} = epcap_flow:received(512, recs(1, 512), Fp),
    ?assertMatch({0, _}, epcap_flow:grant(Fp1)),
    ?assertEqual(0, epcap_flow:outstanding(epcap_flow:drop_credit(Fp))).

%% Small records widen the window to 32768 packets (4 MiB of them), and
%% large ones take it back to 8192; the port is never granted more than
%% the window less what it holds.
credit_window_small_records_test() ->
    {8192, F1} = epcap_flow:grant(flow(true)),
    {_, F2} = epcap_flow:received(4096, recs(1, 4096), F1),
    {W2, F3} = epcap_flow:grant(F2),
    ?assertEqual(32768 - 4096, W2),
    ?assertEqual(32768, epcap_flow:outstanding(F3)),
    ?assertMatch({0, _}, epcap_flow:grant(F3)),
    %% 1 KiB records: 4096 of them fill 4 MiB, below the floor of 8192.
    Kb = iolist_to_binary([epcap_batch:record(0, I, 1024, binary:copy(<<I>>, 1024))
                           || I <- lists:seq(1, 30000)]),
    {_, F4} = epcap_flow:received(30000, Kb, F3),
    ?assertEqual(2768, epcap_flow:outstanding(F4)),
    %% Back to 8192: refilled to that, not to 32768.
    {5424, F4a} = epcap_flow:grant(F4),
    ?assertEqual(8192, epcap_flow:outstanding(F4a)),
    %% The window is still a bound: one packet more than granted is a lie.
    ?assertEqual({error, credit}, epcap_flow:received(8193, recs(1, 8193), F4a)),
    %% Mid-size records (about 140 bytes each): 4 MiB / 140, about 29 900.
    Mid = iolist_to_binary([epcap_batch:record(0, I, 120, binary:copy(<<I>>, 120))
                            || I <- lists:seq(1, 8192)]),
    {_, F5} = epcap_flow:received(8192, Mid, F4a),
    {W5, _} = epcap_flow:grant(F5),
    ?assert(W5 > 8192 andalso W5 < 32768).

%% A file's capture keeps 8192, topped up at half: its port only pauses
%% when it waits, and a larger window let a per-packet owner fall behind.
credit_window_file_test() ->
    {Ff, false} = epcap_flow:new(true, file),
    {8192, F1} = epcap_flow:grant(Ff),
    {_, F2} = epcap_flow:received(4095, recs(1, 4095), F1),
    ?assertMatch({0, _}, epcap_flow:grant(F2)),
    {_, F3} = epcap_flow:received(1, recs(4096, 1), F2),
    {4096, F4} = epcap_flow:grant(F3),
    ?assertEqual(8192, epcap_flow:outstanding(F4)).

credit_enforced_test() ->
    %% Nothing granted: the first packet is a lie.
    ?assertEqual({error, credit}, epcap_flow:received(1, recs(1, 1), flow(true))),
    ?assertEqual({error, credit}, epcap_flow:hold(1, recs(1, 1), flow(true))),
    %% A passive owner: 512 ahead live, 128 from a file, not one more.
    {512, F} = epcap_flow:grant(flow(false)),
    {{[], false}, F1} = epcap_flow:received(512, recs(1, 512), F),
    ?assertEqual({error, credit}, epcap_flow:received(1, recs(513, 1), F1)),
    {128, Ff} = epcap_flow:grant(element(1, epcap_flow:new(false, file))),
    ?assertEqual({error, credit}, epcap_flow:received(129, recs(1, 129), Ff)),
    %% In pieces: what is counted is the sum.
    {{[], false}, Ff1} = epcap_flow:received(100, recs(1, 100), Ff),
    ?assertEqual({error, credit}, epcap_flow:received(29, recs(101, 29), Ff1)),
    {ok, Ff2} = epcap_flow:hold(28, recs(101, 28), Ff1),
    ?assertEqual(128, epcap_flow:buffered(Ff2)).

%% The buffer is a queue: a whole window of one-packet batches, buffered for
%% an owner that went passive, then delivered in order.
buffer_in_order_test() ->
    {8192, F1} = epcap_flow:grant(flow(true)),
    {ok, F2, true} = epcap_flow:set_active(0, F1),
    F3 = lists:foldl(fun(I, F) ->
                             {{[], false}, Fx} = epcap_flow:received(1, recs(I, 1), F),
                             Fx
                     end, F2, lists:seq(1, 8192)),
    ?assertEqual(8192, epcap_flow:buffered(F3)),
    ?assertEqual({error, credit}, epcap_flow:received(1, recs(1, 1), F3)),
    {ok, F4, false} = epcap_flow:set_active(100, F3),
    {{Chunks, true}, F5} = epcap_flow:resume(F4),
    ?assertEqual(recs(1, 100), iolist_to_binary(Chunks)),
    {ok, F6, false} = epcap_flow:set_active(true, F5),
    {{Rest, false}, _} = epcap_flow:resume(F6),
    ?assertEqual(recs(101, 8092), iolist_to_binary(Rest)).
