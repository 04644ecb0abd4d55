%%% The code examples in the edoc of the modules whose examples stand
%%% alone (no running capture needed) are run as tests, so the docs cannot
%%% drift from the code.
-module(epcap_doc_tests).
-include_lib("eunit/include/eunit.hrl").

doc_examples_test_() ->
    [{lists:flatten(io_lib:format("~s example ~b", [M, N])),
      fun() -> run_example(M, Code) end}
     || M <- [epcap_decode, epcap_batch, epcap_flow, epcap_options, epcap_frame,
              epcap_save] ++ reassembly(),
        {N, Code} <- examples(M)].

%% TCP reassembly and defragmentation (issue 27).
reassembly() -> [epcap_l3, epcap_ranges, epcap_defrag, epcap_tcp, epcap_tcpflow].

examples_found_test() ->
    ?assert(length(examples(epcap_decode)) >= 7),
    [?assert(length(examples(M)) >= 1)
     || M <- [epcap_batch, epcap_flow, epcap_options, epcap_frame] ++ reassembly()].

%% Blocks between "%% ```" and "%% '''" lines in the module's source.
examples(Mod) ->
    {ok, Bin} = file:read_file(source(Mod)),
    Lines = string:split(binary_to_list(Bin), "\n", all),
    Blocks = blocks(Lines, none, []),
    lists:zip(lists:seq(1, length(Blocks)), Blocks).

source(Mod) ->
    proplists:get_value(source, Mod:module_info(compile)).

blocks([], _, Acc) -> lists:reverse(Acc);
blocks(["%% ```" ++ _ | Rest], none, Acc) -> blocks(Rest, [], Acc);
blocks(["%% '''" ++ _ | Rest], Cur, Acc) when is_list(Cur) ->
    blocks(Rest, none, [lists:flatten(lists:join("\n", lists:reverse(Cur))) | Acc]);
blocks(["%% " ++ L | Rest], Cur, Acc) when is_list(Cur) -> blocks(Rest, [L | Cur], Acc);
blocks(["%%" | Rest], Cur, Acc) when is_list(Cur) -> blocks(Rest, ["" | Cur], Acc);
blocks([_ | Rest], Cur, Acc) -> blocks(Rest, Cur, Acc).

run_example(Mod, Code) ->
    {ok, Tokens, _} = erl_scan:string(Code),
    {ok, Exprs} = erl_parse:parse_exprs(Tokens),
    try erl_eval:exprs(Exprs, erl_eval:new_bindings())
    catch Class:Reason ->
        erlang:error({doc_example_failed, Mod, Code, Class, Reason})
    end.
