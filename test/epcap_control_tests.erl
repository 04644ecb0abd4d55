%%% EUnit tests of epcap_control: the port's control terms are refused
%%% compressed, with bytes left over, or in a shape the port never sends,
%%% and a refusal never carries more than a short summary (issue 24).
-module(epcap_control_tests).
-include_lib("eunit/include/eunit.hrl").

ok(T) -> ?assertEqual({ok, T}, epcap_control:decode(term_to_binary(T))).

refused(T) ->
    ?assertMatch({error, {bad_term, [_ | _]}}, epcap_control:decode(term_to_binary(T))).

%% A term's external form (after 131), compressed.
compressed(Body) -> <<131, 80, (byte_size(Body)):32, (zlib:compress(Body))/binary>>.

good_shapes_test() ->
    ok({ready, 1, 4242, micro, seccomp, 65535, "1.0.0"}),
    ok({ready, 16#FFFFFFFF, 1, nano, capsicum, 0, <<"v">>}),
    ok(eof),
    ok({error, {file, "x: No such file"}}),
    ok({error, {filter, ""}}),
    ok({send, ok}), ok({filter, ok}), ok({send, {error, "too big"}}),
    ok({stats, {error, "no stats for a file"}}),
    ok({stats, 1, 2, 3, {4, 5, 6, 7, 1 bsl 64 - 1}}),
    ok({interfaces, [#{name => "lo", description => undefined, flags => [up, loopback],
                       addresses => [#{addr => {127, 0, 0, 1}, netmask => {255, 0, 0, 0},
                                       broadaddr => undefined, dstaddr => undefined},
                                     #{addr => {0, 0, 0, 0, 0, 0, 0, 1}, netmask => undefined,
                                       broadaddr => undefined, dstaddr => undefined}]}]}).

ready_fields_test() ->
    R = fun(Fields) -> list_to_tuple([ready | Fields]) end,
    [refused(R(F)) || F <- [["abc", 1, micro, null, 1, "v"], [-1, 1, micro, null, 1, "v"],
                            [1 bsl 32, 1, micro, null, 1, "v"], [1, 0, micro, null, 1, "v"],
                            [1, ok, micro, null, 1, "v"], [1, 1, milli, null, 1, "v"],
                            [1, 1, micro, error, 1, "v"], [1, 1, micro, null, -1, "v"],
                            [1, 1, micro, null, 1.0, "v"], [1, 1, micro, null, 1, ""],
                            [1, 1, micro, null, 1, lists:duplicate(65, $v)],
                            [1, 1, micro, null, 1, "a\nb"], [1, 1, micro, null, 1, [a]],
                            [1, 1, micro, null, 1, "v" ++ improper]]],
    refused({ready, 1, 1, micro}),
    ok.

errors_test() ->
    refused({error, normal}),
    refused({error, {normal, "x"}}),          % not a reason the port sends
    refused({error, {port_exit, "x"}}),
    refused({error, {file, lists:duplicate(1025, $a)}}),
    refused({error, {file, [256]}}),
    refused({error, {file, <<"x">>}}),
    refused({error, {file, "x"}, extra}),
    refused({stats, -1, 0, 0, {0, 0, 0, 0, 0}}),
    refused({stats, 0, 0, 0, {0, 0, 0, 0}}),
    refused({send, maybe}),
    refused({interfaces, [#{name => "lo"}]}),
    refused({interfaces, [#{name => "lo", description => undefined, flags => [promisc],
                            addresses => []}]}),
    ok.

compressed_refused_before_inflating_test() ->
    %% 64 MiB of zeros in about 64 KB: refused without the 64 MiB.
    Z = zlib:open(),
    ok = zlib:deflateInit(Z),
    Head = <<109, (1 bsl 26):32>>,
    Body = [zlib:deflate(Z, Head), [zlib:deflate(Z, <<0:(8 * 1048576)>>) || _ <- lists:seq(1, 64)],
            zlib:deflate(Z, <<>>, finish)],
    ok = zlib:deflateEnd(Z),
    zlib:close(Z),
    Bin = iolist_to_binary([131, 80, <<(byte_size(Head) + (1 bsl 26)):32>>, Body]),
    Before = erlang:memory(binary),
    ?assertEqual({error, compressed_term}, epcap_control:decode(Bin)),
    ?assert(erlang:memory(binary) < Before + 32 * 1048576),
    ?assertEqual({error, compressed_term}, epcap_control:decode(compressed(<<119, 3, "eof">>))).

nested_and_trailing_test() ->
    ?assertEqual({error, bad_term},
                 epcap_control:decode(<<131, 104, 1, (compressed(<<119, 3, "eof">>))/binary>>)),
    ?assertEqual({error, bad_term}, epcap_control:decode(<<(term_to_binary(eof))/binary, 0>>)),
    ?assertEqual({error, bad_term}, epcap_control:decode(<<131, 119, 20, "epcap_no_such_atom_x">>)),
    ?assertEqual({error, bad_term}, epcap_control:decode(<<>>)),
    ?assertEqual({error, bad_term}, epcap_control:decode(<<131>>)).

summary_bounded_test() ->
    Deep = lists:foldl(fun(_, Acc) -> [Acc] end, [], lists:seq(1, 100000)),
    [begin
         S = epcap_control:summary(T),
         ?assert(length(S) =< 100),
         ?assert(lists:all(fun(C) -> C >= 32 andalso C =< 126 end, S))
     end || T <- [lists:seq(1, 100000), Deep, binary:copy(<<"x">>, 100000),
                  {hello, lists:duplicate(30000, $x)}, list_to_atom(lists:duplicate(255, $a)),
                  "a\e[2Jb"]],
    ?assertEqual("{hello,[120,120,120|...]}", epcap_control:summary({hello, "xxxxxxxxxx"})).

%% Random bytes, mutated good terms and random terms: a value every time,
%% a short summary for every refusal.
random_terms_test() ->
    _ = rand:seed(exsss, {24, 2, 3}),
    Good = [term_to_binary(T) || T <- [eof, {ready, 1, 4242, micro, null, 65535, "fake"},
                                       {error, {file, "x"}}, {stats, 1, 2, 3, {4, 5, 6, 7, 8}}]],
    Inputs = [rand:bytes(rand:uniform(64)) || _ <- lists:seq(1, 2000)]
        ++ [mutate(lists:nth(rand:uniform(length(Good)), Good)) || _ <- lists:seq(1, 4000)]
        ++ [<<131, 80, (rand:bytes(rand:uniform(40)))/binary>> || _ <- lists:seq(1, 500)],
    [case epcap_control:decode(B) of
         {ok, _} -> ok;
         {error, compressed_term} -> ok;
         {error, bad_term} -> ok;
         {error, {bad_term, S}} -> ?assert(length(S) =< 100)
     end || B <- Inputs],
    ok.

mutate(Bin) ->
    P = rand:uniform(byte_size(Bin)) - 1,
    <<H:P/binary, _, T/binary>> = Bin,
    <<H/binary, (rand:uniform(256) - 1), T/binary>>.
