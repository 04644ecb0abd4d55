%%% EUnit tests of epcap_batch: the record layout, fold, split, counting.
-module(epcap_batch_tests).
-include_lib("eunit/include/eunit.hrl").
-include("../include/epcap_protocol.hrl").

recs(N) -> [epcap_batch:record(1700000000 + I, I, 100 + I, binary:copy(<<I>>, I)) || I <- lists:seq(1, N)].

layout_test() ->
    R = epcap_batch:record(1, 2, 3, <<"abcd">>),
    ?assertEqual(?WIRE_PKT_HDR + 4, byte_size(R)),
    ?assertEqual(<<1:64, 2:32, 4:32, 3:32, "abcd">>, R),
    ?assertEqual(byte_size(R), epcap_batch:record_size(R)).

fold_units_test() ->
    Bin = iolist_to_binary(recs(3)),
    Ts = epcap_batch:fold(fun(P, A) -> [P | A] end, [], epcap_batch:new(1, timestamp, Bin)),
    ?assertEqual({packet, 1, {1700, 3, 3}, 103, <<3, 3, 3>>}, hd(Ts)),
    Us = epcap_batch:fold(fun(P, A) -> [P | A] end, [], epcap_batch:new(1, microsecond, Bin)),
    ?assertEqual({packet, 1, 1700000003000003, 103, <<3, 3, 3>>}, hd(Us)),
    Ns = epcap_batch:fold(fun(P, A) -> [P | A] end, [], epcap_batch:new(1, nanosecond, Bin)),
    ?assertEqual({packet, 1, 1700000003000000003, 103, <<3, 3, 3>>}, hd(Ns)),
    ?assertEqual(3, length(Ts)).

foreach_and_epcap_delegates_test() ->
    B = epcap_batch:new(228, timestamp, iolist_to_binary(recs(5))),
    Self = self(),
    ok = epcap:foreach(fun(P) -> Self ! P end, B),
    Got = [receive P -> P end || _ <- lists:seq(1, 5)],
    ?assertEqual(lists:reverse(epcap:fold(fun(P, A) -> [P | A] end, [], B)), Got),
    ?assertEqual(Got, lists:reverse(epcap_batch:fold(fun(P, A) -> [P | A] end, [], B))).

split_test() ->
    Rs = recs(5),
    Bin = iolist_to_binary(Rs),
    [?assertEqual({iolist_to_binary(lists:sublist(Rs, N)),
                   iolist_to_binary(lists:nthtail(N, Rs))}, epcap_batch:split(Bin, N))
     || N <- lists:seq(0, 5)].

whole_test() ->
    Bin = iolist_to_binary(recs(4)),
    ?assertEqual({4, byte_size(Bin)}, epcap_batch:whole(Bin)),
    Cut = binary:part(Bin, 0, byte_size(Bin) - 1),
    {3, Size} = epcap_batch:whole(Cut),
    ?assertEqual(iolist_to_binary(recs(3)), binary:part(Bin, 0, Size)),
    ?assertEqual({0, 0}, epcap_batch:whole(<<1, 2, 3>>)).

forward_test() ->
    Bin = iolist_to_binary(recs(2)),
    ok = epcap_batch:forward(Bin, self(), 1, microsecond, untagged),
    ok = epcap_batch:forward(Bin, self(), 1, timestamp, {tagged, self()}),
    Me = self(),
    ?assertEqual([{packet, 1, 1700000001000001, 101, <<1>>},
                  {packet, 1, 1700000002000002, 102, <<2, 2>>},
                  {epcap_packet, Me, 1, {1700, 1, 1}, 101, <<1>>},
                  {epcap_packet, Me, 1, {1700, 2, 2}, 102, <<2, 2>>}],
                 [receive M -> M after 100 -> none end || _ <- lists:seq(1, 4)]).

%% The four-argument fold gives the fields of the tuple form, with the
%% time as an integer in every unit (timestamp: microseconds), and the
%% same packets in the same order.
fold_fields_test() ->
    Bin = iolist_to_binary(recs(4)),
    [begin
         B = epcap_batch:new(1, Unit, Bin),
         Fields = lists:reverse(epcap_batch:fold(fun(T, L, P, A) -> [{T, L, P} | A] end, [], B)),
         Tuples = lists:reverse(epcap_batch:fold(fun(P, A) -> [P | A] end, [], B)),
         ?assertEqual(4, length(Fields)),
         [?assertEqual({Scale * (1700000000 + I) + I, 100 + I, binary:copy(<<I>>, I)},
                       lists:nth(I, Fields)) || I <- lists:seq(1, 4)],
         [?assertEqual({L, P}, {L2, P2})
          || {{_, L, P}, {packet, 1, _, L2, P2}} <- lists:zip(Fields, Tuples)]
     end || {Unit, Scale} <- [{timestamp, 1000000}, {microsecond, 1000000},
                              {nanosecond, 1000000000}]],
    ?assertEqual(7, epcap:fold(fun(_, _, _, A) -> A + 1 end, 3, epcap_batch:new(1, timestamp, Bin))),
    ?assertEqual(0, epcap:fold(fun(_, _, _, A) -> A + 1 end, 0, epcap_batch:new(1, timestamp, <<>>))).

%% A record cut short ends the fold in both forms: whole packets only.
fold_fields_cut_test() ->
    Bin = iolist_to_binary(recs(3)),
    Cut = epcap_batch:new(1, microsecond, binary:part(Bin, 0, byte_size(Bin) - 1)),
    ?assertEqual(2, epcap_batch:fold(fun(_, _, _, A) -> A + 1 end, 0, Cut)),
    ?assertEqual(2, epcap_batch:fold(fun(_, A) -> A + 1 end, 0, Cut)).

foreach_fields_test() ->
    B = epcap_batch:new(228, nanosecond, iolist_to_binary(recs(3))),
    Self = self(),
    ok = epcap:foreach(fun(T, L, P) -> Self ! {T, L, P} end, B),
    ?assertEqual(lists:reverse(epcap:fold(fun(T, L, P, A) -> [{T, L, P} | A] end, [], B)),
                 [receive M -> M after 100 -> none end || _ <- lists:seq(1, 3)]),
    ?assertEqual(228, epcap:link_type(B)),
    ?assertEqual(nanosecond, epcap_batch:time_unit(B)).
