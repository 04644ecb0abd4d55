%%% The fanout option: validation, the cross rule with files, the port's
%%% command line, and its place in epcap's option handling.
-module(epcap_fanout_tests).
-include_lib("eunit/include/eunit.hrl").

modes_and_flags_accepted_test() ->
    [?assertEqual({ok, {7, M, []}}, epcap_fanout:option({7, M}))
     || M <- epcap_fanout:modes()],
    ?assertEqual({ok, {0, hash, [defrag, rollover]}},
                 epcap_fanout:option({0, hash, [defrag, rollover]})),
    ?assertEqual({ok, {65535, lb, [ignore_outgoing]}},
                 epcap_fanout:option({65535, lb, [ignore_outgoing]})).

bad_values_test() ->
    Bad = [{-1, hash}, {65536, hash}, {1.0, hash}, {x, hash}, {1, nope},
           {1, "hash"}, {1, hash, [nope]}, {1, hash, [defrag, defrag]},
           {1, hash, defrag}, {1, hash, [defrag | rollover]}, 7, {1},
           {1, hash, [], extra}, hash],
    [?assertEqual({error, {badarg, {fanout, V}}}, epcap_fanout:option(V))
     || V <- Bad].

improper_flags_test() ->
    V = {1, hash, [defrag | rollover]},
    ?assertEqual({error, {badarg, {fanout, V}}}, epcap_fanout:option(V)).

cross_rule_test() ->
    ?assertEqual(ok, epcap_fanout:cross(undefined, "x.pcap")),
    ?assertEqual(ok, epcap_fanout:cross(undefined, undefined)),
    {error, {badarg, {fanout, Why}}} = epcap_fanout:cross({1, lb, []}, "x.pcap"),
    ?assertNotEqual(nomatch, string:find(Why, "live capture")),
    case os:type() of
        {unix, linux} -> ?assertEqual(ok, epcap_fanout:cross({1, lb, []}, undefined));
        _ -> ?assertMatch({error, {badarg, {fanout, _}}},
                          epcap_fanout:cross({1, lb, []}, undefined))
    end.

port_args_test() ->
    ?assertEqual([], epcap_fanout:port_args(undefined)),
    ?assertEqual(["-F", "3:qm"], epcap_fanout:port_args({3, qm, []})),
    ?assertEqual(["-F", "7:hash:defrag,rollover"],
                 epcap_fanout:port_args({7, hash, [defrag, rollover]})).

%% Every name epcap_fanout may send must be one the port parses
%% (c_src/fanout.c); the C unit test checks the same names from its side.
names_match_c_test() ->
    Mod = proplists:get_value(source, epcap_fanout:module_info(compile)),
    C = filename:join([filename:dirname(filename:dirname(Mod)), "c_src", "fanout.c"]),
    {ok, Src} = file:read_file(C),
    [?assertNotEqual(nomatch, binary:match(Src, <<"{\"", (atom_to_binary(N))/binary, "\"">>))
     || N <- epcap_fanout:modes() ++ epcap_fanout:flags()].

epcap_getopts_test() ->
    Prog = epcap_test_lib:progname(),
    Base = [{progname, Prog}, {exec, ""}, {interface, "lo"}],
    Line = epcap:getopts([{fanout, {9, hash, [defrag]}} | Base]),
    ?assert(is_list(Line)),
    ?assertEqual(["-F", "9:hash:defrag"], lists:nthtail(length(Line) - 2, Line)),
    ?assertEqual(false, lists:member("-F", epcap:getopts(Base))).

epcap_rejects_test() ->
    Base = [{progname, epcap_test_lib:progname()}, {exec, ""}],
    ?assertEqual({error, {badarg, {fanout, {9, nope}}}},
                 epcap:getopts([{fanout, {9, nope}} | Base])),
    ?assertMatch({error, {badarg, {fanout, _}}},
                 epcap:start([{file, "test/data/veth_mixed.pcap"},
                              {fanout, {9, lb}} | Base])),
    ?assert(lists:member(fanout, epcap:error_reasons())),
    ?assert(lists:member(fanout, epcap:protocol_atoms())).

%% The edoc examples of epcap_fanout run, so the docs cannot drift.
doc_examples_test_() ->
    Mod = proplists:get_value(source, epcap_fanout:module_info(compile)),
    {ok, Bin} = file:read_file(Mod),
    Blocks = examples(string:split(binary_to_list(Bin), "\n", all), none, []),
    [?_assertMatch({value, _, _}, eval(Code)) || Code <- Blocks] ++
        [?_assert(length(Blocks) >= 5)].

examples([], _, Acc) -> lists:reverse(Acc);
examples(["%% ```" ++ _ | Rest], none, Acc) -> examples(Rest, [], Acc);
examples(["%% '''" ++ _ | Rest], Cur, Acc) when is_list(Cur) ->
    examples(Rest, none, [lists:flatten(lists:join("\n", lists:reverse(Cur))) | Acc]);
examples(["%% " ++ L | Rest], Cur, Acc) when is_list(Cur) -> examples(Rest, [L | Cur], Acc);
examples([_ | Rest], Cur, Acc) -> examples(Rest, Cur, Acc).

eval(Code) ->
    {ok, Tokens, _} = erl_scan:string(Code),
    {ok, Exprs} = erl_parse:parse_exprs(Tokens),
    erl_eval:exprs(Exprs, erl_eval:new_bindings()).
