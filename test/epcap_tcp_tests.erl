%%% EUnit tests of epcap_tcp (TCP stream reassembly) and epcap_ranges,
%%% with property-style tests whose generators use rand.
-module(epcap_tcp_tests).

-include_lib("eunit/include/eunit.hrl").

-import(epcap_tcp_craft, [tcp4/7, ether/3, frag4/2]).

-define(C, {{10, 0, 0, 1}, 45678}).
-define(S, {{10, 0, 0, 2}, 8080}).
-define(FLOW, {?C, ?S}).

%% A connection's packets: handshake, data segments of Mss bytes each way,
%% FINs. Returns {Handshake, Rest}.
conn(Isn, SIsn, Req, Resp, Mss) ->
    conn(Isn, SIsn, Req, Resp, Mss, fun epcap_tcp_craft:tcp4/7, ?C, ?S).

conn(Isn, SIsn, Req, Resp, Mss, Mk, C, S) ->
    Hs = [Mk(C, S, Isn, 0, [syn], <<>>, 1),
          Mk(S, C, SIsn, Isn + 1, [syn, ack], <<>>, 1),
          Mk(C, S, Isn + 1, SIsn + 1, [ack], <<>>, 2)],
    Cs = segs(C, S, Isn + 1, Req, Mss, Mk),
    Ss = segs(S, C, SIsn + 1, Resp, Mss, Mk),
    Fins = [Mk(C, S, Isn + 1 + byte_size(Req), 0, [fin, ack], <<>>, 9),
            Mk(S, C, SIsn + 1 + byte_size(Resp), 0, [fin, ack], <<>>, 9)],
    {Hs, Cs ++ Ss ++ Fins}.

segs(From, To, Seq, Bin, Mss, Mk) when byte_size(Bin) > Mss ->
    <<H:Mss/binary, T/binary>> = Bin,
    [Mk(From, To, Seq, 0, [ack], H, 3) | segs(From, To, Seq + Mss, T, Mss, Mk)];
segs(_, _, _, <<>>, _, _) -> [];
segs(From, To, Seq, Bin, _, Mk) -> [Mk(From, To, Seq, 0, [ack, psh], Bin, 3)].

feed(Pkts) -> feed(Pkts, epcap_tcp:new()).
feed(Pkts, S0) ->
    {Ev, S} = lists:foldl(fun(P, {Acc, S}) ->
                                  {E, S1} = epcap_tcp:packet(P, 0, S),
                                  {[E | Acc], S1}
                          end, {[], S0}, Pkts),
    {lists:append(lists:reverse(Ev)), S}.

%% The bytes of one direction, checking offsets follow on.
stream(Ev, Dir) ->
    {_, Acc} = lists:foldl(
                 fun({data, _, D, Off, B}, {Off, Acc}) when D =:= Dir ->
                         {Off + byte_size(B), [B | Acc]};
                    ({gap, _, D, Off, L}, {Off, Acc}) when D =:= Dir ->
                         {Off + L, [binary:copy(<<0>>, L) | Acc]};
                    ({data, _, D, Off, _}, {Exp, _}) when D =:= Dir ->
                         error({offset, Off, Exp});
                    ({gap, _, D, Off, _}, {Exp, _}) when D =:= Dir ->
                         error({gap_offset, Off, Exp});
                    (_, A) -> A
                 end, {0, []}, Ev),
    iolist_to_binary(lists:reverse(Acc)).

bytes(N) -> rand:bytes(N).

in_order_test() ->
    Req = <<"GET / HTTP/1.0\r\n\r\n">>,
    Resp = bytes(5000),
    {Hs, Rest} = conn(1000, 2000, Req, Resp, 1448),
    {Ev, S} = feed(Hs ++ Rest),
    ?assertEqual({open, ?FLOW}, hd(Ev)),
    ?assertEqual({close, ?FLOW, fin}, lists:last(Ev)),
    ?assertEqual(Req, stream(Ev, client)),
    ?assertEqual(Resp, stream(Ev, server)),
    ?assertEqual([], epcap_tcp:flows(S)),
    ?assertEqual(0, epcap_tcp:held(S)).

syn_ack_first_names_client_test() ->
    {[_, SynAck | _], _} = conn(1, 2, <<>>, <<>>, 100),
    {[{open, F}], _} = feed([SynAck]),
    ?assertEqual(?FLOW, F).

reorder_and_duplicates_test() ->
    Resp = bytes(10000),
    {Hs, Rest} = conn(7, 9, <<"x">>, Resp, 500),
    {Data, Fins} = lists:split(length(Rest) - 2, Rest),
    {Ev, S} = feed(Hs ++ lists:reverse(Data) ++ Data ++ Fins ++ Data),
    ?assertEqual(Resp, stream(Ev, server)),
    ?assertEqual(<<"x">>, stream(Ev, client)),
    ?assertEqual({close, ?FLOW, fin}, lists:last(Ev)),
    #{retransmitted := R, fin := 1, ignored := I, opened := 1} = epcap_tcp:stats(S),
    ?assertEqual(10001, R),
    ?assertEqual(length(Data), I).

wrap_test() ->
    Resp = bytes(20000),
    {Hs, Rest} = conn(16#FFFFFF00, 16#FFFFF000, bytes(3000), Resp, 1000),
    {Ev, _} = feed(Hs ++ lists:reverse(Rest)),
    ?assertEqual(Resp, stream(Ev, server)),
    ?assertEqual({close, ?FLOW, fin}, lists:last(Ev)).

ipv6_test() ->
    C = {{16#fd00, 0, 0, 0, 0, 0, 0, 1}, 40000},
    S = {{16#fd00, 0, 0, 0, 0, 0, 0, 2}, 80},
    Resp = bytes(3000),
    {Hs, Rest} = conn(5, 6, <<"hi">>, Resp, 1200, fun epcap_tcp_craft:tcp6/7, C, S),
    {Ev, _} = feed(Hs ++ Rest),
    ?assertEqual({open, {C, S}}, hd(Ev)),
    ?assertEqual(Resp, stream(Ev, server)).

vlan_qinq_and_padding_test() ->
    {Hs, Rest} = conn(5, 6, <<"a">>, <<"b">>, 1200),
    Frames = [ether(P, [{16#88A8, 10}, {16#8100, 20}], <<0, 0, 0, 0, 0, 0>>) || P <- Hs ++ Rest],
    {Ev, _} = lists:foldl(fun(F, {A, S}) ->
                                  {E, S1} = epcap_tcp:frame(1, F, 0, S),
                                  {A ++ E, S1}
                          end, {[], epcap_tcp:new()}, Frames),
    ?assertEqual(<<"a">>, stream(Ev, client)),
    ?assertEqual(<<"b">>, stream(Ev, server)),
    ?assertEqual({close, ?FLOW, fin}, lists:last(Ev)).

link_types_test() ->
    P = tcp4(?C, ?S, 1, 0, [ack], <<"data">>, 1),
    Frames = [{0, <<2:32/little, P/binary>>}, {108, <<2:32, P/binary>>},
              {101, P}, {228, P}, {113, <<0:112, 16#0800:16, P/binary>>},
              {276, <<16#0800:16, 0:144, P/binary>>}],
    [?assertMatch({[{open, _}, {data, _, client, 0, <<"data">>}], _},
                  epcap_tcp:frame(DLT, F, 0, epcap_tcp:new())) || {DLT, F} <- Frames].

mid_stream_test() ->
    P1 = tcp4(?S, ?C, 5000, 0, [ack], <<"world">>, 1),
    P2 = tcp4(?S, ?C, 4995, 0, [ack], <<"hello">>, 1),
    {Ev, S} = feed([P1, P2]),
    ?assertEqual([{open, {?S, ?C}}, {data, {?S, ?C}, client, 0, <<"world">>}], Ev),
    #{retransmitted := 5} = epcap_tcp:stats(S).

gap_at_close_test() ->
    Resp = bytes(3000),
    {Hs, Rest} = conn(100, 200, <<>>, Resp, 1000),
    %% Remove the server's second segment for good.
    [_S1, S2 | _] = [P || P <- Rest, is_server_data(P)],
    {Ev, S} = feed(Hs ++ (Rest -- [S2])),
    ?assertNot(lists:keymember(close, 1, Ev)),
    ?assertEqual(binary:part(Resp, 0, 1000), stream(Ev, server)),
    {EvF, S3} = epcap_tcp:flush(S),
    ?assertEqual([{gap, ?FLOW, server, 1000, 1000},
                  {data, ?FLOW, server, 2000, binary:part(Resp, 2000, 1000)},
                  {close, ?FLOW, timeout}], EvF),
    ?assertEqual(0, epcap_tcp:held(S3)).

is_server_data(<<_:20/binary, 8080:16, _:16, _:64, 5:4, _:12, _/binary>> = P) ->
    byte_size(P) > 40;
is_server_data(_) -> false.

gap_timeout_test() ->
    P1 = tcp4(?C, ?S, 1, 0, [ack], <<"aa">>, 1),
    P3 = tcp4(?C, ?S, 5, 0, [ack], <<"cc">>, 1),
    S0 = epcap_tcp:new([{gap_timeout, 100}]),
    {_, S1} = epcap_tcp:packet(P1, 0, S0),
    {[], S2} = epcap_tcp:packet(P3, 10, S1),
    ?assertEqual(2, epcap_tcp:held(S2)),
    {Ev, S3} = epcap_tcp:expire(2000, S2),
    ?assertEqual([{gap, ?FLOW, client, 2, 2}, {data, ?FLOW, client, 4, <<"cc">>}], Ev),
    ?assertEqual(0, epcap_tcp:held(S3)).

idle_timeout_test() ->
    P1 = tcp4(?C, ?S, 1, 0, [ack], <<"aa">>, 1),
    {_, S1} = epcap_tcp:packet(P1, 0, epcap_tcp:new([{idle_timeout, 1000}])),
    {Ev, S2} = epcap_tcp:packet(tcp4(?C, ?S, 9, 0, [ack], <<>>, 1), 5000, S1),
    ?assertEqual([{close, ?FLOW, timeout}], Ev),
    ?assertEqual([], epcap_tcp:flows(S2)).

rst_test() ->
    {Hs, _} = conn(1, 2, <<>>, <<>>, 10),
    Data = tcp4(?C, ?S, 2, 0, [ack], <<"abc">>, 1),
    Ahead = tcp4(?C, ?S, 10, 0, [ack], <<"zz">>, 1),
    Rst = tcp4(?S, ?C, 3, 0, [rst], <<>>, 1),
    {Ev, S} = feed(Hs ++ [Data, Ahead, Rst]),
    ?assertMatch([{open, _}, {data, _, client, 0, <<"abc">>},
                  {gap, _, client, 3, 5}, {data, _, client, 8, <<"zz">>},
                  {close, _, rst}], Ev),
    ?assertEqual(0, epcap_tcp:held(S)).

overlap_policy_test() ->
    Base = tcp4(?C, ?S, 1, 0, [ack], <<"0">>, 1),
    First = tcp4(?C, ?S, 3, 0, [ack], <<"AAAA">>, 1),
    Second = tcp4(?C, ?S, 5, 0, [ack], <<"BBBB">>, 1),
    Fill = tcp4(?C, ?S, 2, 0, [ack], <<"1">>, 1),
    {EvF, SF} = feed([Base, First, Second, Fill]),
    ?assertEqual(<<"01AAAABB">>, stream(EvF, client)),
    ?assertMatch(#{conflicts := 2, overlaps := 2}, epcap_tcp:stats(SF)),
    {EvL, _} = feed([Base, First, Second, Fill], epcap_tcp:new([{overlap, last}])),
    ?assertEqual(<<"01AABBBB">>, stream(EvL, client)).

flow_limit_test() ->
    S0 = epcap_tcp:new([{max_flows, 2}]),
    Ps = [tcp4({{10, 0, 0, 1}, P}, ?S, 1, 0, [ack], <<"x">>, 1) || P <- [1, 2, 3]],
    {Ev, S} = feed(Ps, S0),
    ?assertMatch({close, {{_, 1}, _}, limit}, lists:nth(5, Ev)),
    ?assertEqual(2, length(epcap_tcp:flows(S))).

per_flow_limit_test() ->
    S0 = epcap_tcp:new([{max_flow_bytes, 3000}]),
    P0 = tcp4(?C, ?S, 1, 0, [ack], <<"a">>, 1),
    Ahead = [tcp4(?C, ?S, 100 + N * 1000, 0, [ack], bytes(1000), 1) || N <- lists:seq(0, 5)],
    {Ev, S} = feed([P0 | Ahead], S0),
    ?assert(epcap_tcp:held(S) =< 3000),
    ?assertMatch([{gap, _, client, 1, 98} | _], [E || {gap, _, _, _, _} = E <- Ev]).

new_syn_reopens_test() ->
    {Hs1, _} = conn(1, 2, <<>>, <<>>, 10),
    {Hs2, _} = conn(500000, 7, <<>>, <<>>, 10),
    {Ev, _} = feed(Hs1 ++ Hs2),
    ?assertMatch([{open, _}, {close, _, timeout}, {open, _}], Ev).

fragmented_segment_test() ->
    Data = bytes(3000),
    P = tcp4(?C, ?S, 1, 0, [ack], Data, 77),
    Frags = frag4(P, [{0, 1480}, {1480, 1480}, {2960, 60}]),
    {Ev, _} = feed(lists:reverse(Frags)),
    ?assertEqual(Data, stream(Ev, client)).

bad_options_test() ->
    ?assertError({badarg, {max_flows, 0}}, epcap_tcp:new([{max_flows, 0}])),
    ?assertError({badarg, bogus}, epcap_tcp:new([bogus])).

%% Property: any permutation, duplication and overlapping re-segmentation
%% of a connection's segments after its handshake gives the same bytes.
permutation_prop_test_() ->
    {timeout, 60, fun() -> [permutation_case(N) || N <- lists:seq(1, 150)] end}.

permutation_case(N) ->
    rand:seed(exsss, {N, 27, 2026}),
    Isn = pick_isn(), SIsn = pick_isn(),
    Req = bytes(rand:uniform(4000) - 1),
    Resp = bytes(rand:uniform(30000)),
    {Mk, C, S} = case rand:uniform(2) of
                     1 -> {fun epcap_tcp_craft:tcp4/7, ?C, ?S};
                     2 -> {fun epcap_tcp_craft:tcp6/7, {{16#fd00, 0, 0, 0, 0, 0, 0, 1}, 1},
                           {{16#fd00, 0, 0, 0, 0, 0, 0, 2}, 2}}
                 end,
    Mss = 100 + rand:uniform(1400),
    {Hs, _} = conn(Isn, SIsn, Req, Resp, Mss, Mk, C, S),
    Pieces = reseg(C, S, Isn + 1, Req, Mk) ++ reseg(S, C, SIsn + 1, Resp, Mk)
        ++ [Mk(C, S, Isn + 1 + byte_size(Req), 0, [fin, ack], <<>>, 9),
            Mk(S, C, SIsn + 1 + byte_size(Resp), 0, [fin, ack], <<>>, 9)],
    Dups = [P || P <- Pieces, rand:uniform(4) =:= 1],
    Mixed = shuffle(Pieces ++ Dups),
    Opts = case rand:uniform(2) of 1 -> []; 2 -> [{overlap, last}] end,
    {Ev, St} = feed(Hs ++ Mixed, epcap_tcp:new(Opts)),
    ?assertEqual({N, Req}, {N, stream(Ev, client)}),
    ?assertEqual({N, Resp}, {N, stream(Ev, server)}),
    ?assertEqual({N, {close, {C, S}, fin}}, {N, lists:last(Ev)}),
    ?assertEqual({N, 0}, {N, epcap_tcp:held(St)}),
    ?assertMatch(#{conflicts := 0, gaps := 0}, epcap_tcp:stats(St)).

pick_isn() ->
    case rand:uniform(3) of
        1 -> 16#FFFFFFFF - rand:uniform(20000);
        _ -> rand:uniform(16#FFFFFFFF)
    end.

%% Pieces of random length at random starts that together cover Bin, some
%% overlapping others.
reseg(From, To, Seq, Bin, Mk) ->
    Len = byte_size(Bin),
    Cover = cover(0, Len),
    Extra = [begin
                 St = rand:uniform(Len) - 1,
                 L = min(Len - St, rand:uniform(2000)),
                 {St, L}
             end || Len > 0, _ <- lists:seq(1, rand:uniform(5))],
    [Mk(From, To, Seq + St, 0, [ack], binary:part(Bin, St, L), 3) || {St, L} <- Cover ++ Extra].

cover(At, Len) when At >= Len -> [];
cover(At, Len) ->
    L = min(Len - At, rand:uniform(1500)),
    Back = case At > 0 andalso rand:uniform(3) =:= 1 of
               true -> rand:uniform(min(At, 300));
               false -> 0
           end,
    [{At - Back, L + Back} | cover(At + L, Len)].

shuffle(L) -> [X || {_, X} <- lists:sort([{rand:uniform(), X} || X <- L])].

%% Property: garbage (random bytes, and valid segments with random bytes
%% changed) never crashes and stays within the memory bound.
garbage_prop_test_() ->
    {timeout, 60, fun garbage/0}.

garbage() ->
    rand:seed(exsss, {27, 27, 27}),
    Max = 20000,
    S0 = epcap_tcp:new([{max_bytes, Max}, {max_flow_bytes, 5000}, {max_flows, 50},
                        {defrag, [{max_bytes, 10000}, {max_pending, 10}]}]),
    {Hs, Rest} = conn(1, 2, bytes(5000), bytes(20000), 700),
    Valid = Hs ++ Rest,
    Final = lists:foldl(
              fun(I, S) ->
                      P = case rand:uniform(3) of
                              1 -> bytes(rand:uniform(200));
                              2 -> mutate(lists:nth(rand:uniform(length(Valid)), Valid));
                              3 -> random_seg()
                          end,
                      {_, S1} = case rand:uniform(2) of
                                    1 -> epcap_tcp:packet(P, I, S);
                                    2 -> epcap_tcp:frame(rand:uniform(300) - 1,
                                                         <<(bytes(14))/binary, P/binary>>, I, S)
                                end,
                      ?assert(epcap_tcp:held(S1) =< Max + 65535),
                      S1
              end, S0, lists:seq(1, 30000)),
    {_, Empty} = epcap_tcp:flush(Final),
    ?assertEqual(0, epcap_tcp:held(Empty)).

mutate(P) ->
    lists:foldl(fun(_, B) ->
                        I = rand:uniform(byte_size(B)) - 1,
                        <<H:I/binary, _, T/binary>> = B,
                        <<H/binary, (rand:uniform(256) - 1), T/binary>>
                end, P, lists:seq(1, rand:uniform(4))).

%% Segments of a few connections at random sequence numbers.
random_seg() ->
    C = {{10, 0, 0, 1}, rand:uniform(60)},
    Flags = [F || F <- [syn, fin, rst, ack], rand:uniform(6) =:= 1],
    tcp4(C, ?S, rand:uniform(1 bsl 32) - 1, 0, Flags, bytes(rand:uniform(1500)), 1).

ranges_test() ->
    {R1, 4, {0, 0}} = epcap_ranges:insert(10, <<"abcd">>, [], first),
    {R2, 2, {2, 0}} = epcap_ranges:insert(8, <<"xxab">>, R1, first),
    ?assertEqual([{8, <<"xx">>}, {10, <<"abcd">>}], R2),
    {R3, 2, {3, 2}} = epcap_ranges:insert(11, <<"bCDEF">>, R2, last),
    ?assertEqual([{8, <<"xx">>}, {10, <<"a">>}, {11, <<"bCDEF">>}], R3),
    ?assertEqual(8, epcap_ranges:size(R3)),
    {R4, 0, {3, 0}} = epcap_ranges:insert(11, <<"bCD">>, R3, first),
    ?assertEqual(R3, R4),
    {R5, 1, {6, 0}} = epcap_ranges:insert(7, <<"-xxabCD">>, R3, last),
    ?assertEqual([{7, <<"-xxabCD">>}, {14, <<"EF">>}], R5).

%% Property: with segments lost for good (and the rest shuffled), every
%% byte that came is delivered at its offset and every byte lost is in a
%% gap event, once the connection is flushed.
loss_prop_test_() ->
    {timeout, 60, fun() -> [loss_case(N) || N <- lists:seq(1, 100)] end}.

loss_case(N) ->
    rand:seed(exsss, {N, 18, 2026}),
    Resp = bytes(1000 + rand:uniform(20000)),
    Mss = 200 + rand:uniform(1200),
    SIsn = pick_isn(),
    {Hs, _} = conn(1, SIsn, <<"q">>, Resp, Mss),
    Segs = lists:zip(lists:seq(0, (byte_size(Resp) - 1) div Mss),
                     segs(?S, ?C, SIsn + 1, Resp, Mss, fun epcap_tcp_craft:tcp4/7)),
    {Lost, Kept} = lists:partition(fun(_) -> rand:uniform(6) =:= 1 end, Segs),
    Fin = tcp4(?S, ?C, SIsn + 1 + byte_size(Resp), 0, [fin, ack], <<>>, 9),
    Mixed = shuffle([P || {_, P} <- Kept]) ++ [Fin],
    {Ev, S} = feed(Hs ++ Mixed),
    {EvF, _} = epcap_tcp:flush(S),
    Expected = iolist_to_binary(
                 [case lists:keymember(I, 1, Lost) of
                      true -> binary:copy(<<0>>, byte_size(binary:part(Resp, I * Mss, min(Mss, byte_size(Resp) - I * Mss))));
                      false -> binary:part(Resp, I * Mss, min(Mss, byte_size(Resp) - I * Mss))
                  end || {I, _} <- Segs]),
    ?assertEqual({N, Expected}, {N, stream(Ev ++ EvF, server)}),
    LostBytes = lists:sum([min(Mss, byte_size(Resp) - I * Mss) || {I, _} <- Lost]),
    ?assertEqual({N, LostBytes}, {N, lists:sum([L || {gap, _, server, _, L} <- Ev ++ EvF])}).

%% A SYN flood from many ports: the table stays at max_flows, the oldest
%% opened go first (`limit'), and a connection after it still works.
syn_flood_test_() ->
    {timeout, 60, fun syn_flood/0}.

syn_flood() ->
    S0 = epcap_tcp:new([{max_flows, 100}]),
    S = lists:foldl(fun(P, S1) ->
                            {_, S2} = epcap_tcp:packet(
                                        tcp4({{10, 9, P bsr 8, P band 255}, P}, ?S, P, 0, [syn],
                                             <<>>, 1), 0, S1),
                            S2
                    end, S0, lists:seq(1, 20000)),
    ?assertEqual(100, length(epcap_tcp:flows(S))),
    ?assertMatch(#{limit := 19900, opened := 20000}, epcap_tcp:stats(S)),
    {Hs, Rest} = conn(1, 2, <<"after">>, <<"the flood">>, 100),
    {Ev, _} = feed(Hs ++ Rest, S),
    ?assertEqual(<<"the flood">>, stream([E || E <- Ev, element(2, E) =:= ?FLOW], server)).

ipv6_link_types_and_extension_headers_test() ->
    C = {{16#fd00, 0, 0, 0, 0, 0, 0, 1}, 40000},
    S = {{16#fd00, 0, 0, 0, 0, 0, 0, 2}, 80},
    P = epcap_tcp_craft:tcp6(C, S, 1, 0, [ack], <<"six">>, 1),
    %% The same segment behind a hop-by-hop and a destination options header.
    <<V:4/binary, PLen:16, 6, Hop, Addrs:32/binary, Tcp/binary>> = P,
    Ext = <<V/binary, (PLen + 16):16, 0, Hop, Addrs/binary,
            60, 0, 1, 4, 0:32, 6, 0, 1, 4, 0:32, Tcp/binary>>,
    Frames = [{229, P}, {12, P}, {14, P}, {0, <<30:32/little, P/binary>>},
              {1, <<0:96, 16#86DD:16, Ext/binary>>}],
    [?assertMatch({[{open, {C, S}}, {data, _, client, 0, <<"six">>}], _},
                  epcap_tcp:frame(DLT, F, 0, epcap_tcp:new())) || {DLT, F} <- Frames].
