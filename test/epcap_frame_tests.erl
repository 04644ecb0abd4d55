%%% EUnit tests of epcap_frame, the decoder of the port's byte stream:
%%% valid streams cut at every point decode to the same events, and random
%%% or mutated bytes give events or {error, {protocol, _}}, never an
%%% exception, and never hold more than the frame cap.
-module(epcap_frame_tests).
-include_lib("eunit/include/eunit.hrl").
-include("../include/epcap_protocol.hrl").

recs(N, Size) ->
    [epcap_batch:record(I, I, Size + 10, binary:copy(<<I>>, Size + I rem 7)) || I <- lists:seq(1, N)].

batch(Recs) ->
    Body = iolist_to_binary(Recs),
    <<(5 + byte_size(Body)):32, ?WIRE_TAG_BATCH, (length(Recs)):32, Body/binary>>.

term(T) ->
    B = term_to_binary(T),
    <<(1 + byte_size(B)):32, ?WIRE_TAG_TERM, B/binary>>.

stream() ->
    iolist_to_binary([term({ready, 1, 42, micro, seccomp, 65535, "1.0.0"}),
                      batch(recs(3, 40)), batch(recs(1, 300)), term(eof)]).

%% Records and terms, flattened: what a consumer sees.
flat(Events) ->
    lists:append([case E of
                      {records, _, R} -> [{rec, X} || X <- split_all(R)];
                      {term, T} -> [{term, T}]
                  end || E <- Events]).

split_all(<<>>) -> [];
split_all(R) ->
    Size = epcap_batch:record_size(R),
    <<X:Size/binary, Rest/binary>> = R,
    [X | split_all(Rest)].

feed_chunks(Chunks) ->
    lists:foldl(fun(_, {error, _, _} = E) -> E;
                   (C, {ok, Acc, S}) ->
                        case epcap_frame:feed(C, S) of
                            {ok, Ev, S1} -> {ok, Acc ++ Ev, S1};
                            {error, R, Ev} -> {error, R, Acc ++ Ev}
                        end
                end, {ok, [], epcap_frame:new()}, Chunks).

whole_stream_test() ->
    {ok, Ev, S} = epcap_frame:feed(stream(), epcap_frame:new()),
    ?assert(epcap_frame:idle(S)),
    ?assertMatch([{term, {ready, 1, 42, micro, seccomp, 65535, "1.0.0"}},
                  {records, 3, _}, {records, 1, _}, {term, eof}], Ev).

every_cut_test() ->
    Bin = stream(),
    {ok, Ref, _} = epcap_frame:feed(Bin, epcap_frame:new()),
    [begin
         <<A:I/binary, B/binary>> = Bin,
         {ok, Ev, S} = feed_chunks([A, B]),
         ?assertEqual({I, flat(Ref)}, {I, flat(Ev)}),
         ?assert(epcap_frame:idle(S))
     end || I <- lists:seq(0, byte_size(Bin))],
    %% One byte at a time.
    {ok, Ev1, _} = feed_chunks([<<X>> || <<X>> <= Bin]),
    ?assertEqual(flat(Ref), flat(Ev1)).

errors_test() ->
    New = epcap_frame:new(),
    Two = iolist_to_binary(recs(2, 10)),
    Lie = <<(5 + byte_size(Two)):32, 1, 5:32, Two/binary>>,
    ?assertMatch({error, {protocol, {count, 5, 2}}, [{records, 2, _}]}, epcap_frame:feed(Lie, New)),
    Over = <<(5 + byte_size(Two)):32, 1, 1:32, Two/binary>>,
    ?assertMatch({error, {protocol, {count, 1, 2}}, []}, epcap_frame:feed(Over, New)),
    Short = <<(5 + byte_size(Two) - 3):32, 1, 2:32, (binary:part(Two, 0, byte_size(Two) - 3))/binary>>,
    ?assertMatch({error, {protocol, {truncated_record, 1}}, [{records, 1, _}]},
                 epcap_frame:feed(Short, New)),
    ?assertEqual({error, {protocol, {frame_too_large, 16#FFFFFFF0}}, []},
                 epcap_frame:feed(<<16#FFFFFFF0:32, 1, 0:32>>, New)),
    ?assertEqual({error, {protocol, {bad_tag, 9}}, []}, epcap_frame:feed(<<3:32, 9, 0, 0>>, New)),
    ?assertEqual({error, {protocol, empty_frame}, []}, epcap_frame:feed(<<0:32, 1>>, New)),
    ?assertEqual({error, {protocol, bad_term}, [{term, eof}]},
                 epcap_frame:feed(<<(term(eof))/binary, 3:32, 2, 1, 2>>, New)),
    %% An atom the VM does not know is a bad term (binary_to_term safe).
    Unknown = <<131, 119, 12, "epcap_nope_z">>,
    ?assertEqual({error, {protocol, bad_term}, []},
                 epcap_frame:feed(<<(1 + byte_size(Unknown)):32, 2, Unknown/binary>>, New)).

%% The property: any bytes, cut anywhere, give a value.
random_and_mutated_test_() ->
    {timeout, 120, fun() ->
        Seed = rand:seed(exsss, {7, 11, 13}),
        Good = stream(),
        N = 3000,
        [check_any(case I rem 3 of
                       0 -> rand:bytes(rand:uniform(600));
                       1 -> mutate(Good);
                       2 -> splice(Good)
                   end) || I <- lists:seq(1, N)],
        ?debugFmt("~b random/mutated streams decoded (seed ~p)", [N, element(2, Seed)])
    end}.

check_any(Bin) ->
    Cuts = lists:usort([rand:uniform(byte_size(Bin) + 1) - 1 || _ <- lists:seq(1, 3)]),
    Chunks = chunks(Bin, Cuts, 0),
    case feed_chunks(Chunks) of
        {ok, Ev, S} -> ok = valid(Ev), _ = epcap_frame:idle(S), ok;
        {error, {protocol, _}, Ev} -> ok = valid(Ev)
    end.

valid(Events) ->
    lists:foreach(fun({records, N, R}) ->
                          {N, Size} = epcap_batch:whole(R),
                          Size = byte_size(R);
                     ({term, _}) -> ok
                  end, Events).

chunks(Bin, [], Off) -> [binary:part(Bin, Off, byte_size(Bin) - Off)];
chunks(Bin, [C | Cs], Off) -> [binary:part(Bin, Off, C - Off) | chunks(Bin, Cs, C)].

mutate(Bin) ->
    lists:foldl(fun(_, B) ->
                        P = rand:uniform(byte_size(B)) - 1,
                        <<H:P/binary, _, T/binary>> = B,
                        <<H/binary, (rand:uniform(256) - 1), T/binary>>
                end, Bin, lists:seq(1, rand:uniform(4))).

splice(Bin) ->
    P = rand:uniform(byte_size(Bin)) - 1,
    Q = rand:uniform(byte_size(Bin)) - 1,
    <<H:P/binary, _/binary>> = Bin,
    <<_:Q/binary, T/binary>> = Bin,
    <<H/binary, T/binary>>.
