%%% @doc Robustness of epcap_decode on every test capture (the tshark
%%% golden ones included): every prefix of every frame, and 100 000 frames
%%% with random bytes overwritten (and some cut), decode to a well-formed
%%% value without an exception. The seed is printed, and part of the
%%% failure; set EPCAP_DECODE_SEED=A,B,C to replay one.
-module(epcap_decode_mutation_SUITE).

-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").

-export([all/0, suite/0, init_per_suite/1, end_per_suite/1]).
-export([every_prefix/0, every_prefix/1, mutations/0, mutations/1]).

-define(CASES, 100000).

suite() ->
    [{timetrap, {minutes, 10}}].

all() ->
    [every_prefix, mutations].

init_per_suite(Config) ->
    Dir = epcap_decode_tests:data_dir(),
    Files = lists:usort(epcap_decode_tests:captures() ++ epcap_decode_golden_SUITE:captures()),
    Frames = lists:append([F || File <- Files,
                                {ok, F} <- [epcap_decode_tests:read_capture(
                                              filename:join(Dir, File))]]),
    [{frames, [{DLT, F} || {DLT, F, _} <- Frames]} | Config].

end_per_suite(_Config) ->
    ok.

%%====================================================================
%% Test cases
%%====================================================================

every_prefix() ->
    [{doc, "Ensure that every prefix of every frame of every test capture "
           "decodes to a well-formed value, and that a layer cut short is "
           "the one its partial header names."}].
every_prefix(Config) ->
    Frames = ?config(frames, Config),
    ?assert(length(Frames) > 300),
    Count = lists:sum([begin
                           [check(DLT, binary_part(F, 0, N), prefix) || N <- lists:seq(0, byte_size(F))],
                           byte_size(F) + 1
                       end || {DLT, F} <- Frames]),
    {comment, io_lib:format("~b prefixes", [Count])}.

mutations() ->
    [{doc, "Ensure that 100 000 frames of the test captures with 1 to 4 "
           "random bytes overwritten (a quarter of them also cut at a random "
           "length) decode to a well-formed value, that complete decodes "
           "re-encode to the same bytes, and that the mutations reach the "
           "tunnel and ICMP error layers."}].
mutations(Config) ->
    Seed = seed(),
    ct:pal("seed ~p (replay with EPCAP_DECODE_SEED=~b,~b,~b)", [Seed | tuple_to_list(Seed)]),
    rand:seed(exsss, Seed),
    Frames = list_to_tuple(?config(frames, Config)),
    Stats = lists:foldl(fun(_, Acc) -> mutate_one(Frames, Seed, Acc) end, #{},
                        lists:seq(1, ?CASES)),
    ct:pal("deepest layers of complete decodes: ~p", [Stats]),
    [?assert(maps:get(P, Stats, 0) > 0) || P <- [gre, vxlan, mpls, quote]],
    {comment, io_lib:format("~b cases, seed ~p", [?CASES, Seed])}.

%%====================================================================
%% Helpers
%%====================================================================

seed() ->
    case os:getenv("EPCAP_DECODE_SEED") of
        false ->
            <<A:32, B:32, C:32>> = crypto:strong_rand_bytes(12),
            {A, B, C};
        Text ->
            [A, B, C] = [list_to_integer(T) || T <- string:split(Text, ",", all)],
            {A, B, C}
    end.

mutate_one(Frames, Seed, Stats) ->
    {DLT, Frame} = element(rand:uniform(tuple_size(Frames)), Frames),
    Mutated = cut(overwrite(Frame, rand:uniform(4))),
    count(check(DLT, Mutated, {seed, Seed}), Stats).

overwrite(<<>>, _) ->
    <<>>;
overwrite(Frame, 0) ->
    Frame;
overwrite(Frame, K) ->
    Pos = rand:uniform(min(byte_size(Frame), 120)) - 1,
    <<Pre:Pos/binary, _, Post/binary>> = Frame,
    overwrite(<<Pre/binary, (rand:uniform(256) - 1), Post/binary>>, K - 1).

cut(Frame) ->
    case rand:uniform(4) of
        1 -> binary_part(Frame, 0, rand:uniform(byte_size(Frame) + 1) - 1);
        _ -> Frame
    end.

count({ok, Packet}, Stats) ->
    Protos = [P || #{proto := P} <- Packet],
    Keys = [P || P <- Protos, lists:member(P, [gre, vxlan, mpls])]
        ++ [quote || #{quote := _} <- Packet],
    lists:foldl(fun(K, Acc) -> maps:update_with(K, fun(N) -> N + 1 end, 1, Acc) end,
                Stats, Keys);
count(_, Stats) ->
    Stats.

%% Decode, failing with the input (and the seed) on an exception or a
%% malformed result.
check(DLT, Bin, Why) ->
    Result = try epcap_decode:decode(DLT, Bin)
             catch C:R:St -> ct:fail({raised, Why, DLT, Bin, {C, R, St}})
             end,
    case well_formed(Bin, Result) of
        true -> Result;
        false -> ct:fail({malformed_result, Why, DLT, Bin, Result})
    end.

well_formed(Bin, {ok, Packet}) ->
    {Headers, [Payload]} = lists:split(length(Packet) - 1, Packet),
    is_binary(Payload) andalso Headers =/= [] andalso lists:all(fun header/1, Headers)
        andalso not lists:any(fun(H) -> maps:is_key(partial, H) end, Headers)
        andalso epcap_decode:encode(Packet) =:= Bin;
well_formed(Bin, {error, Headers, {Layer, Reason, Rest}}) ->
    lists:all(fun header/1, Headers) andalso is_atom(Reason) andalso is_binary(Rest)
        andalso (Rest =:= <<>> orelse binary:match(Bin, Rest) =/= nomatch)
        andalso partial_names_layer(lists:reverse(Headers), Layer, Reason);
well_formed(_Bin, _) ->
    false.

%% A partial header ends the list and is the layer that was cut short.
partial_names_layer([#{partial := true, proto := P} | Rest], Layer, Reason) ->
    P =:= Layer andalso Reason =:= truncated
        andalso not lists:any(fun(H) -> maps:is_key(partial, H) end, Rest);
partial_names_layer(Headers, _Layer, _Reason) ->
    not lists:any(fun(H) -> maps:is_key(partial, H) end, Headers).

%% A header map; quotes are packets (headers then the rest as a binary).
header(#{proto := P} = H) when is_atom(P) ->
    case H of
        #{quote := Quote} -> quote(Quote);
        _ -> true
    end;
header(_) ->
    false.

quote(Quote) when is_list(Quote), Quote =/= [] ->
    {Hs, [Rest]} = lists:split(length(Quote) - 1, Quote),
    is_binary(Rest) andalso lists:all(fun(H) -> is_map(H) andalso header(H) end, Hs);
quote(_) ->
    false.
