%%% EUnit tests of epcap_save (the port's saved/removed terms, checked
%%% strictly: a port cannot make the owner hear of a path outside the save
%%% directory) and of the saving options in epcap_options.
-module(epcap_save_tests).
-include_lib("eunit/include/eunit.hrl").

-define(SAVE, "/data/cap/sip.pcapng").

saved_test() ->
    T = {saved, <<"sip_00001_20260101120000.pcapng">>, 2, 300, {10, 5}, {11, 7}},
    ?assertEqual({saved, #{path => "/data/cap/sip_00001_20260101120000.pcapng",
                           packets => 2, bytes => 300,
                           first => {0, 10, 5}, last => {0, 11, 7}}},
                 epcap_save:event(T, ?SAVE, timestamp)),
    {saved, #{first := 10000005}} = epcap_save:event(T, ?SAVE, microsecond),
    {saved, #{first := 10000000005}} = epcap_save:event(T, ?SAVE, nanosecond).

empty_file_test() ->
    {saved, #{first := undefined, last := undefined}} =
        epcap_save:event({saved, <<"sip.pcapng">>, 0, 200, undefined, undefined},
                         ?SAVE, microsecond).

hidden_base_test() ->
    {removed, "/d/.cap_00001_20260101120000"} =
        epcap_save:event({removed, <<".cap_00001_20260101120000">>}, "/d/.cap", microsecond),
    error = epcap_save:event({removed, <<"other">>}, "/d/.cap", microsecond).

removed_test() ->
    ?assertEqual({removed, "/data/cap/sip_00001_20260101120000.pcapng"},
                 epcap_save:event({removed, <<"sip_00001_20260101120000.pcapng">>},
                                  ?SAVE, microsecond)).

%% Names a subverted port might send, and other shapes: never a message.
bad_terms_test_() ->
    Bad = [{removed, <<"../../etc/passwd">>}, {removed, <<"/etc/passwd">>},
           {removed, <<"sip/../../x">>}, {removed, <<"sip", 0, "x">>},
           {removed, <<"other.pcapng">>}, {removed, <<>>}, {removed, "sip.pcapng"},
           {removed, binary:copy(<<"s">>, 256)}, {removed, <<"sip", 255>>},
           {saved, <<"sip.pcapng">>, -1, 0, undefined, undefined},
           {saved, <<"sip.pcapng">>, 1, 0, undefined, undefined},
           {saved, <<"sip.pcapng">>, 0, 0, {1, 1}, undefined},
           {saved, <<"sip.pcapng">>, 1, 0, {1, 1000000}, {1, 1}},
           {saved, <<"sip.pcapng">>, 1, 0, {-1, 1}, {1, 1}},
           {saved, <<"sip.pcapng">>, 1, x, {1, 1}, {1, 1}},
           {saved, <<"sip.pcapng">>, 1, 0, {1, 1}},
           {removed, <<"sip.pcapng">>, extra}],
    [?_assertEqual(error, epcap_save:event(T, ?SAVE, microsecond)) || T <- Bad].

options_test_() ->
    F = "veth.pcap",
    V = fun(Opts) -> epcap_options:validate([{file, F} | Opts]) end,
    [?_assertMatch({ok, _}, V([{save, "/tmp/a.pcapng"}])),
     ?_assertMatch({ok, _}, V([{save, "/tmp/a"}, {rotate, [{size, 10}, {files, 3}]},
                           {save_format, pcap}, {save_mode, 8#600}, {deliver, none}])),
     ?_assertEqual({error, {badarg, {needs_save, deliver}}},
                   epcap_options:validate([{file, F}, {deliver, none}])),
     ?_assertEqual({error, {badarg, {needs_save, rotate}}},
                   epcap_options:validate([{file, F}, {rotate, [{size, 1}]}])),
     ?_assertMatch({error, {badarg, {rotate, _}}}, V([{save, "/tmp/a"}, {rotate, []}])),
     ?_assertMatch({error, {badarg, {rotate, _}}},
                   V([{save, "/tmp/a"}, {rotate, [{files, 3}]}])),
     ?_assertMatch({error, {badarg, {rotate, _}}},
                   V([{save, "/tmp/a"}, {rotate, [{size, 1}, {size, 2}]}])),
     ?_assertMatch({error, {badarg, {rotate, _}}},
                   V([{save, "/tmp/a"}, {rotate, [{size, 0}]}])),
     ?_assertMatch({error, {badarg, {rotate, _}}},
                   V([{save, "/tmp/a"}, {rotate, [{hours, 1}]}])),
     ?_assertMatch({error, {badarg, {save_mode, _}}},
                   V([{save, "/tmp/a"}, {save_mode, 8#755}])),
     ?_assertMatch({error, {badarg, {save_mode, _}}},
                   V([{save, "/tmp/a"}, {save_mode, 8#666}])),
     ?_assertMatch({error, {badarg, {save, _}}}, V([{save, "/tmp/"}])),
     ?_assertMatch({error, {badarg, {save, _}}}, V([{save, "/tmp/.."}])),
     ?_assertMatch({error, {badarg, {save_format, _}}},
                   V([{save, "/tmp/a"}, {save_format, erf}]))].

save_only_timeout_test() ->
    {ok, #{timeout := 250}} = epcap_options:validate([{interface, "lo"}, {save, "/t/a"},
                                                      {deliver, none}]),
    {ok, #{timeout := immediate}} =
        epcap_options:validate([{interface, "lo"}, {save, "/t/a"}, {deliver, none},
                                {timeout, immediate}]),
    {ok, #{timeout := immediate}} = epcap_options:validate([{interface, "lo"}, {save, "/t/a"}]),
    {ok, #{timeout := immediate}} = epcap_options:validate([{file, "x"}, {save, "/t/a"},
                                                            {deliver, none}]).

args_test() ->
    {ok, O} = epcap_options:validate([{file, "x.pcap"}, {save, "/t/a.pcapng"},
                                      {rotate, [{packets, 5}, {files, 2}]},
                                      {deliver, none}]),
    Args = epcap_options:args(O),
    ?assertMatch([_ | _], Args),
    Tail = lists:nthtail(length(Args) - 11, Args),
    ?assertEqual(["-w", "/t/a.pcapng", "-o", "pcapng", "-c", "5", "-W", "2", "-m", "640",
                  "-D"], Tail).
