%%% EUnit tests of epcap_defrag (IPv4 and IPv6 reassembly), with
%%% property-style tests whose generators use rand.
-module(epcap_defrag_tests).

-include_lib("eunit/include/eunit.hrl").

-import(epcap_tcp_craft, [frag4/2, frag6/3]).

udp4(Payload, Id) ->
    Udp = <<1000:16, 2000:16, (8 + byte_size(Payload)):16, 0:16, Payload/binary>>,
    H0 = <<16#45, 0, (20 + byte_size(Udp)):16, Id:16, 0:16, 64, 17, 0:16,
           10, 0, 0, 1, 10, 0, 0, 2>>,
    <<A:10/binary, _:16, B/binary>> = H0,
    <<A/binary, (epcap_tcp_craft:csum(H0)):16, B/binary, Udp/binary>>.

udp6(Payload) ->
    Udp = <<1000:16, 2000:16, (8 + byte_size(Payload)):16, 0:16, Payload/binary>>,
    <<6:4, 0:28, (byte_size(Udp)):16, 17, 64, 16#fd00:16, 0:96, 1:16,
      16#fd00:16, 0:96, 2:16, Udp/binary>>.

feed(Frags, S0) ->
    lists:foldl(fun(F, {Acc, S}) ->
                        {R, S1} = epcap_defrag:packet(F, 0, S),
                        {[R | Acc], S1}
                end, {[], S0}, Frags).

whole(Results) -> [D || {ok, D} <- Results].

pieces(Len, Size) ->
    [{S, min(Size, Len - S)} || S <- lists:seq(0, Len - 1, Size)].

unfragmented_test() ->
    D = udp4(<<"x">>, 1),
    ?assertMatch({{ok, D}, _}, epcap_defrag:packet(D, 0, epcap_defrag:new())).

v4_in_order_and_reversed_test() ->
    D = udp4(rand:bytes(4000), 7),
    Frags = frag4(D, pieces(4008, 1480)),
    {R1, _} = feed(Frags, epcap_defrag:new()),
    ?assertEqual([D], whole(R1)),
    {R2, S2} = feed(lists:reverse(Frags) ++ tl(Frags), epcap_defrag:new()),
    ?assertEqual([D], whole(R2)),
    %% Fragments that come after their datagram was whole start another
    %% (the ID may be reused) and wait for the timeout.
    ?assertMatch(#{reassembled := 1, pending := 1}, epcap_defrag:stats(S2)).

v4_duplicates_test() ->
    D = udp4(rand:bytes(3000), 8),
    [F1, F2, F3] = frag4(D, pieces(3008, 1200)),
    {R, S} = feed([F2, F2, F1, F3], epcap_defrag:new()),
    ?assertEqual([D], whole(R)),
    ?assertMatch(#{duplicates := 1}, epcap_defrag:stats(S)).

v4_overlap_policies_test() ->
    D = udp4(binary:copy(<<"a">>, 2000), 9),
    [F1, F2] = frag4(D, [{0, 1600}, {1600, 408}]),
    %% A fragment overlapping F1's tail with other bytes.
    <<H:20/binary, _/binary>> = hd(frag4(D, [{1000, 800}])),
    Evil = fix_len(<<H/binary, (binary:copy(<<"Z">>, 800))/binary>>),
    {RF, SF} = feed([F1, Evil, F2], epcap_defrag:new()),
    [DF] = whole(RF),
    %% F1's bytes stay, and Evil's past F1's end, which F2 came later for.
    <<Pre:1620/binary, _:200/binary, Post/binary>> = D,
    ?assertEqual(<<Pre/binary, (binary:copy(<<"Z">>, 200))/binary, Post/binary>>, DF),
    ?assertMatch(#{conflicts := 800, overlaps := 800}, epcap_defrag:stats(SF)),
    {RL, _} = feed([F1, Evil, F2], epcap_defrag:new([{ipv4_overlap, last}])),
    [DL] = whole(RL),
    ?assertEqual(binary:copy(<<"Z">>, 600), binary:part(DL, 28 + 1000 - 8, 600)),
    {RD, SD} = feed([F1, Evil, F2], epcap_defrag:new([{ipv4_overlap, drop}])),
    ?assertEqual([], whole(RD)),
    %% The datagram, then F2 that came after it was dropped.
    ?assertMatch(#{dropped_overlap := 2}, epcap_defrag:stats(SD)).

fix_len(<<A:2/binary, _:16, R/binary>> = B) -> <<A/binary, (byte_size(B)):16, R/binary>>.

v6_test() ->
    D = udp6(rand:bytes(5000)),
    Frags = frag6(D, pieces(5008, 1232), 42),
    {R, _} = feed(lists:reverse(Frags), epcap_defrag:new()),
    ?assertEqual([D], whole(R)).

v6_atomic_fragment_test() ->
    D = udp6(<<"abc">>),
    [F] = frag6(D, [{0, 11}], 1),
    ?assertMatch({{ok, D}, _}, epcap_defrag:packet(F, 0, epcap_defrag:new())).

v6_overlap_drops_datagram_test() ->
    D = udp6(rand:bytes(3000)),
    Frags = frag6(D, [{0, 1600}, {1600, 1408}], 5),
    [Ov] = frag6(D, [{1000, 800}], 5),
    {R, S} = feed([hd(Frags), Ov | tl(Frags)], epcap_defrag:new()),
    ?assertEqual([], whole(R)),
    ?assertMatch([{drop, overlap} | _], R),
    ?assertMatch(#{dropped_overlap := 2}, epcap_defrag:stats(S)).

too_big_test() ->
    D = udp4(<<0:64>>, 3),
    [F] = frag4(D, [{0, 16}]),
    <<A:6/binary, _:3, _:13, B/binary>> = F,
    Far = <<A/binary, 0:3, 8190:13, B/binary>>,
    {R, S} = epcap_defrag:packet(Far, 0, epcap_defrag:new()),
    ?assertEqual({drop, too_big}, R),
    ?assertMatch(#{dropped_too_big := 1, pending := 0}, epcap_defrag:stats(S)).

timeout_test() ->
    D = udp4(rand:bytes(3000), 11),
    [F1, _, F3] = frag4(D, pieces(3008, 1200)),
    S0 = epcap_defrag:new([{timeout, 1000}]),
    {_, S1} = epcap_defrag:packet(F1, 0, S0),
    {_, S2} = epcap_defrag:packet(F3, 10, S1),
    ?assertEqual(1, epcap_defrag:pending(S2)),
    S3 = epcap_defrag:expire(1000, S2),
    ?assertMatch(#{dropped_timeout := 1, pending := 0, bytes := 0}, epcap_defrag:stats(S3)).

caps_test() ->
    S0 = epcap_defrag:new([{max_pending, 4}, {max_bytes, 5000}]),
    Firsts = [hd(frag4(udp4(rand:bytes(3000), Id), pieces(3008, 1200))) || Id <- lists:seq(1, 10)],
    {_, S} = lists:foldl(fun(F, {N, S1}) ->
                                 {_, S2} = epcap_defrag:packet(F, N, S1),
                                 ?assert(epcap_defrag:held(S2) =< 5000),
                                 ?assert(epcap_defrag:pending(S2) =< 4),
                                 {N + 1, S2}
                         end, {0, S0}, Firsts),
    ?assertMatch(#{evicted := 6, evicted_bytes := 7200}, epcap_defrag:stats(S)).

bad_option_test() ->
    ?assertError({badarg, {timeout, -1}}, epcap_defrag:new([{timeout, -1}])).

frame_test() ->
    D = udp4(<<"hello">>, 1),
    Frame = <<0:96, 16#8100:16, 5:16, 16#0800:16, D/binary, 0:80>>,
    ?assertMatch({{ok, D}, _}, epcap_defrag:frame(1, Frame, 0, epcap_defrag:new())),
    ?assertMatch({not_ip, _}, epcap_defrag:frame(1, <<0:96, 16#0806:16>>, 0,
                                                 epcap_defrag:new())).

%% Property: any permutation and duplication of a datagram's fragments,
%% cut at random 8-byte boundaries (some overlapping with the same bytes),
%% gives the datagram back and nothing else.
permutation_prop_test_() ->
    {timeout, 60, fun() -> [permutation(N) || N <- lists:seq(1, 200)] end}.

permutation(N) ->
    rand:seed(exsss, {N, 5722, 1}),
    Len = 8 + rand:uniform(20000),
    {D, V} = case rand:uniform(2) of
                 1 -> {udp4(rand:bytes(Len), N), 4};
                 2 -> {udp6(rand:bytes(Len)), 6}
             end,
    Total = Len + 8,
    Cuts = cuts(0, Total),
    %% IPv4: exact duplicates and pieces cut elsewhere (overlapping with the
    %% same bytes); IPv6 drops overlaps (RFC 5722): exact duplicates only.
    Frags = case V of
                6 -> frag6(D, Cuts ++ [P || P <- Cuts, rand:uniform(5) =:= 1], N);
                _ -> frag4(D, Cuts ++ [P || P <- cuts(0, Total), rand:uniform(5) =:= 1]
                           ++ [P || P <- Cuts, rand:uniform(5) =:= 1])
            end,
    Shuffled = [F || {_, F} <- lists:sort([{rand:uniform(), F} || F <- Frags])],
    {R, S} = feed(Shuffled, epcap_defrag:new()),
    W = whole(R),
    %% Fragments after completion start a new datagram: when duplicates
    %% complete it again, it is delivered again, as a host would.
    ?assertMatch({N, [D | _]}, {N, W}),
    ?assertEqual({N, []}, {N, [X || X <- W, X =/= D]}),
    #{conflicts := 0} = epcap_defrag:stats(S).

cuts(At, Total) when At >= Total -> [];
cuts(At, Total) ->
    L = min(Total - At, 8 * rand:uniform(300)),
    [{At, L} | cuts(At + L, Total)].

%% Property: random garbage and mutated fragments never crash, and memory
%% stays within the caps.
garbage_prop_test_() ->
    {timeout, 60, fun garbage/0}.

garbage() ->
    rand:seed(exsss, {1, 2, 3}),
    S0 = epcap_defrag:new([{max_pending, 20}, {max_bytes, 30000}, {timeout, 500}]),
    D = udp4(rand:bytes(6000), 99),
    Frags = frag4(D, pieces(6008, 1000)) ++ frag6(udp6(rand:bytes(6000)), pieces(6008, 1000), 9),
    lists:foldl(fun(I, S) ->
                        P = case rand:uniform(3) of
                                1 -> rand:bytes(rand:uniform(100));
                                _ -> mutate(lists:nth(rand:uniform(length(Frags)), Frags))
                            end,
                        {_, S1} = epcap_defrag:packet(P, I, S),
                        ?assert(epcap_defrag:held(S1) =< 30000),
                        ?assert(epcap_defrag:pending(S1) =< 20),
                        S1
                end, S0, lists:seq(1, 20000)).

mutate(P) ->
    lists:foldl(fun(_, B) ->
                        I = rand:uniform(min(60, byte_size(B))) - 1,
                        <<H:I/binary, _, T/binary>> = B,
                        <<H/binary, (rand:uniform(256) - 1), T/binary>>
                end, P, lists:seq(1, rand:uniform(3))).

%% A flood of first fragments, each of another datagram: the caps hold,
%% every datagram past them is counted, and a real datagram sent after it
%% still comes through.
flood_test_() ->
    {timeout, 60, fun flood/0}.

flood() ->
    S0 = epcap_defrag:new([{max_pending, 100}, {max_bytes, 100000}]),
    Frag = hd(frag4(udp4(rand:bytes(3000), 0), pieces(3008, 1200))),
    <<A:4/binary, _:16, B/binary>> = Frag,
    S = lists:foldl(fun(Id, S1) ->
                            {more, S2} = epcap_defrag:packet(<<A/binary, Id:16, B/binary>>, 0, S1),
                            S2
                    end, S0, lists:seq(1, 50000)),
    %% 83 first fragments of 1200 bytes fill the 100 000 bytes.
    ?assertEqual(83, epcap_defrag:pending(S)),
    ?assert(epcap_defrag:held(S) =< 100000),
    ?assertMatch(#{evicted := 49917, fragments := 50000}, epcap_defrag:stats(S)),
    D = udp4(rand:bytes(2000), 60001),
    {R, _} = feed(frag4(D, pieces(2008, 1000)), S),
    ?assertEqual([D], whole(R)).

no_room_test() ->
    S0 = epcap_defrag:new([{max_bytes, 2000}]),
    D = udp4(rand:bytes(6000), 5),
    {R, S} = feed(frag4(D, pieces(6008, 1000)), S0),
    ?assertEqual([], whole(R)),
    ?assert(lists:member({drop, no_room}, R)),
    ?assert(epcap_defrag:held(S) =< 2000).
