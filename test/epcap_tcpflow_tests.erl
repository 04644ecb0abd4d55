%%% EUnit tests of epcap_tcpflow, the writer of bin/epcap-flow.
-module(epcap_tcpflow_tests).

-include_lib("eunit/include/eunit.hrl").

-define(F, {{{10, 0, 0, 1}, 45678}, {{10, 0, 0, 2}, 8080}}).
-define(C2S, "010.000.000.001.45678-010.000.000.002.08080").
-define(S2C, "010.000.000.002.08080-010.000.000.001.45678").

tmpdir() ->
    Dir = filename:join(["/tmp", "epcap_tcpflow_tests." ++ os:getpid() ++ "."
                         ++ integer_to_list(erlang:unique_integer([positive]))]),
    ok = filelib:ensure_path(Dir),
    Dir.

read(Dir, Name) ->
    {ok, B} = file:read_file(filename:join(Dir, Name)),
    B.

names_test() ->
    ?assertEqual(<<?C2S>>, epcap_tcpflow:name(?F, client)),
    ?assertEqual(<<?S2C>>, epcap_tcpflow:name(?F, server)),
    V6 = {{{16#fd00, 0, 0, 0, 0, 0, 0, 1}, 80}, {{0, 0, 0, 0, 0, 16#ffff, 16#0a00, 1}, 5}},
    ?assertEqual(<<"fd00::1.00080-::ffff:10.0.0.1.00005">>, epcap_tcpflow:name(V6, client)).

offsets_and_holes_test() ->
    Dir = tmpdir(),
    W = epcap_tcpflow:new(Dir),
    W1 = epcap_tcpflow:events([{open, ?F}, {data, ?F, client, 0, <<"abc">>},
                               {gap, ?F, client, 3, 2}, {data, ?F, client, 5, <<"de">>},
                               {data, ?F, server, 0, <<"xyz">>}], W),
    ok = epcap_tcpflow:close(epcap_tcpflow:events([{close, ?F, fin}], W1)),
    ?assertEqual(<<"abc", 0, 0, "de">>, read(Dir, ?C2S)),
    ?assertEqual(<<"xyz">>, read(Dir, ?S2C)),
    ?assertEqual(2, length(element(2, file:list_dir(Dir)))),
    clean(Dir).

same_tuple_again_appends_test() ->
    Dir = tmpdir(),
    W = epcap_tcpflow:events([{data, ?F, client, 0, <<"one">>}, {close, ?F, fin},
                              {open, ?F}, {data, ?F, client, 0, <<"two">>}],
                             epcap_tcpflow:new(Dir)),
    ok = epcap_tcpflow:close(W),
    ?assertEqual(<<"onetwo">>, read(Dir, ?C2S)),
    clean(Dir).

max_open_test() ->
    Dir = tmpdir(),
    Flows = [{{{10, 0, 0, 1}, P}, {{10, 0, 0, 2}, 80}} || P <- lists:seq(1, 5)],
    W0 = epcap_tcpflow:new(Dir, [{max_open, 2}]),
    %% Interleaved writes to five flows with two files open at most.
    W = lists:foldl(fun(I, W1) ->
                            F = lists:nth(I rem 5 + 1, Flows),
                            epcap_tcpflow:events([{data, F, client, I div 5, <<(I div 5)>>}], W1)
                    end, W0, lists:seq(0, 49)),
    ok = epcap_tcpflow:close(W),
    [?assertEqual(list_to_binary(lists:seq(0, 9)),
                  read(Dir, epcap_tcpflow:name(F, client))) || F <- Flows],
    clean(Dir).

truncates_first_time_test() ->
    Dir = tmpdir(),
    ok = file:write_file(filename:join(Dir, ?C2S), <<"stale bytes from before">>),
    ok = epcap_tcpflow:close(epcap_tcpflow:events([{data, ?F, client, 0, <<"new">>}],
                                                  epcap_tcpflow:new(Dir))),
    ?assertEqual(<<"new">>, read(Dir, ?C2S)),
    clean(Dir).

symlink_refused_test() ->
    Dir = tmpdir(),
    ok = file:make_symlink("/etc/passwd", filename:join(Dir, ?C2S)),
    ?assertError({file, <<?C2S>>, symlink},
                 epcap_tcpflow:events([{data, ?F, client, 0, <<"x">>}], epcap_tcpflow:new(Dir))),
    clean(Dir).

clean(Dir) -> ok = file:del_dir_r(Dir).
