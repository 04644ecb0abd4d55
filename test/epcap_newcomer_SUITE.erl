%%% What a new user trips over (issue 25): each case checks one of the
%%% fixes through the public API.
-module(epcap_newcomer_SUITE).
-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").

-export([all/0, init_per_suite/1, end_per_suite/1]).
-export([info_round_trips/0, info_round_trips/1,
         info_file_round_trips/0, info_file_round_trips/1]).

-import(epcap_test_lib, [opts/1, data/1]).

all() ->
    [info_round_trips, info_file_round_trips].

init_per_suite(Config) ->
    {ok, _} = application:ensure_all_started(epcap),
    Config.

end_per_suite(_Config) ->
    ok.

info_round_trips() ->
    [{doc, "Ensure that info/1 gives the options in force (the filter of the "
      "last setfilter/2, the wrapper, libpcap's buffer, no placeholder) and "
      "that start/1 of them starts the same capture"}].
info_round_trips(_Config) ->
    {ok, Pid} = epcap:start(opts([{interface, "lo"}, {filter, "ether proto 0x88b6"},
                                  {active, false}, {env, "PCAP_A=1"}])),
    ok = epcap:setfilter(Pid, "ether proto 0x88b7"),
    {ok, #{options := Opts} = I} = epcap:info(Pid),
    ct:log("~p", [I]),
    ?assertEqual("ether proto 0x88b7", proplists:get_value(filter, Opts)),
    ?assertEqual("", proplists:get_value(exec, Opts)),
    ?assertEqual(2097152, proplists:get_value(buffer, Opts)),
    ?assertEqual(inout, proplists:get_value(direction, Opts)),
    ?assertEqual(["PCAP_A=1"], proplists:get_all_values(env, Opts)),
    [?assertNotEqual({K, V}, {K, undefined}) || {K, V} <- Opts],
    ?assertEqual(false, lists:keymember(given, 1, Opts)),
    {ok, Pid2} = epcap:start(Opts),
    {ok, #{options := Opts2}} = epcap:info(Pid2),
    ?assertEqual(Opts, Opts2),
    ok = epcap:stop(Pid2),
    ok = epcap:stop(Pid).

info_file_round_trips() ->
    [{doc, "Ensure that info/1 of a file capture gives no live-only option, "
      "and that start/1 of its options reads the same file again"}].
info_file_round_trips(_Config) ->
    {ok, Pid} = epcap:start(opts([{file, data("veth_mixed.pcap")}, {active, false}])),
    {ok, #{options := Opts}} = epcap:info(Pid),
    ct:log("~p", [Opts]),
    ?assertEqual([], [K || {K, _} <- Opts, lists:member(K, epcap_options:live_only())]),
    {ok, Pid2} = epcap:start(Opts),
    {ok, #{options := Opts2}} = epcap:info(Pid2),
    ?assertEqual(Opts, Opts2),
    ok = epcap:stop(Pid2),
    ok = epcap:stop(Pid).
