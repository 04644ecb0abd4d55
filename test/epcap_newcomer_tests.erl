%%% Pure parts of the issue 25 fixes: epcap_file:write/2 of tagged tuples
%%% and write_batch/2, and the edoc examples of epcap_file that stand alone.
-module(epcap_newcomer_tests).
-include_lib("eunit/include/eunit.hrl").

tmp(Name) ->
    filename:join("/tmp", "epcap_newcomer_" ++ os:getpid() ++ "_" ++ Name).

%% The examples of epcap_file written as code (not as shell sessions).
file_doc_examples_test() ->
    {ok, Bin} = file:read_file(proplists:get_value(source, epcap_file:module_info(compile))),
    Blocks = blocks(string:split(binary_to_list(Bin), "\n", all), none, []),
    Code = [B || B <- Blocks, string:find(B, "1>") =:= nomatch],
    ?assert(length(Code) >= 2),
    [begin
         {ok, Tokens, _} = erl_scan:string(C),
         {ok, Exprs} = erl_parse:parse_exprs(Tokens),
         erl_eval:exprs(Exprs, erl_eval:new_bindings())
     end || C <- Code].

blocks([], _, Acc) -> lists:reverse(Acc);
blocks(["%%% ```" ++ _ | Rest], none, Acc) -> blocks(Rest, [], Acc);
blocks(["%% ```" ++ _ | Rest], none, Acc) -> blocks(Rest, [], Acc);
blocks(["%%% '''" ++ _ | Rest], Cur, Acc) when is_list(Cur) -> done(Rest, Cur, Acc);
blocks(["%% '''" ++ _ | Rest], Cur, Acc) when is_list(Cur) -> done(Rest, Cur, Acc);
blocks(["%%% " ++ L | Rest], Cur, Acc) when is_list(Cur) -> blocks(Rest, [L | Cur], Acc);
blocks(["%% " ++ L | Rest], Cur, Acc) when is_list(Cur) -> blocks(Rest, [L | Cur], Acc);
blocks([_ | Rest], Cur, Acc) -> blocks(Rest, Cur, Acc).

done(Rest, Cur, Acc) ->
    blocks(Rest, none, [lists:flatten(lists:join("\n", lists:reverse(Cur))) | Acc]).

tagged_packet_test() ->
    P = tmp("tagged.pcap"),
    {ok, F} = epcap_file:open(P, #{time_unit => microsecond}),
    ?assertEqual(ok, epcap_file:write(F, {epcap_packet, self(), 1, 1000002, 60, <<"ab">>})),
    ?assertEqual({error, {linktype_mismatch, 113, 1}},
                 epcap_file:write(F, {epcap_packet, self(), 113, 1, 60, <<"ab">>})),
    ok = epcap_file:close(F),
    {ok, B} = file:read_file(P),
    ok = file:delete(P),
    ?assertMatch(<<_:24/binary, 1:32/native, 2:32/native, 2:32/native, 60:32/native, "ab">>, B).

batch_test() ->
    P = tmp("batch.pcap"),
    Records = <<(epcap_batch:record(1, 2, 60, <<"ab">>))/binary,
                (epcap_batch:record(3, 4, 61, <<"cde">>))/binary>>,
    Batch = epcap_batch:new(1, microsecond, Records),
    {ok, F} = epcap_file:open(P, #{time_unit => microsecond}),
    ?assertEqual(ok, epcap_file:write_batch(F, Batch)),
    ?assertEqual(ok, epcap_file:write_batch(F, {epcap_batch, self(), Batch})),
    ?assertEqual({error, {linktype_mismatch, 113, 1}},
                 epcap_file:write_batch(F, epcap_batch:new(113, microsecond, Records))),
    ?assertEqual({error, {bad_packet, bogus}}, epcap_file:write_batch(F, [bogus])),
    ok = epcap_file:close(F),
    {ok, B} = file:read_file(P),
    ok = file:delete(P),
    Rec = fun(S, U, L, D) -> <<S:32/native, U:32/native, (byte_size(D)):32/native,
                               L:32/native, D/binary>> end,
    Two = <<(Rec(1, 2, 60, <<"ab">>))/binary, (Rec(3, 4, 61, <<"cde">>))/binary>>,
    ?assertMatch(<<_:24/binary, Two:(byte_size(Two))/binary, Two:(byte_size(Two))/binary>>, B).

%% sniff:summary/1's example (the one-line form of bin/epcap-sniff).
sniff_summary_doc_example_test() ->
    {ok, Bin} = file:read_file(proplists:get_value(source, sniff:module_info(compile))),
    [Code] = [B || B <- blocks(string:split(binary_to_list(Bin), "\n", all), none, []),
                   string:find(B, "sniff:summary") =/= nomatch],
    {ok, Tokens, _} = erl_scan:string(Code),
    {ok, Exprs} = erl_parse:parse_exprs(Tokens),
    erl_eval:exprs(Exprs, erl_eval:new_bindings()).

%% epcap_filter's example: compile_filter's engine, with the port.
filter_doc_example_test() ->
    {ok, Bin} = file:read_file(proplists:get_value(source, epcap_filter:module_info(compile))),
    [Code] = blocks(string:split(binary_to_list(Bin), "\n", all), none, []),
    {ok, Tokens, _} = erl_scan:string(Code),
    {ok, Exprs} = erl_parse:parse_exprs(Tokens),
    erl_eval:exprs(Exprs, erl_eval:new_bindings()).

keeper_child_spec_test() ->
    Spec = epcap_keeper:child_spec(#{owner => self(), options => [{interface, "lo"}]}),
    ?assertMatch(#{id := epcap_keeper, restart := transient, type := worker,
                   start := {epcap_keeper, start_link, [_, [{interface, "lo"}], #{}]}}, Spec),
    ?assertEqual({error, {badarg, #{backoff_min => 0}}},
                 epcap_keeper:start_link(self(), [], #{backoff_min => 0})).
