%%% What a new user trips over (issue 25): each case checks one of the
%%% fixes through the public API.
-module(epcap_newcomer_SUITE).
-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").

-export([suite/0, all/0, init_per_suite/1, end_per_suite/1]).
-export([log/2]).
-export([info_round_trips/0, info_round_trips/1,
         setopts_other_key_einval/0, setopts_other_key_einval/1,
         verbose_logs_what_is_in_force/0, verbose_logs_what_is_in_force/1,
         interfaces_lists_what_opens/0, interfaces_lists_what_opens/1,
         info_file_round_trips/0, info_file_round_trips/1]).

-import(epcap_test_lib, [opts/1, data/1]).

suite() ->
    [{timetrap, {minutes, 2}}].

all() ->
    [info_round_trips, info_file_round_trips, setopts_other_key_einval,
     verbose_logs_what_is_in_force, interfaces_lists_what_opens].

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

setopts_other_key_einval() ->
    [{doc, "Ensure that setopts/2 with an option other than active is "
      "{error, einval}, as inet:setopts/2 and the README say"}].
setopts_other_key_einval(_Config) ->
    {ok, Pid} = epcap:start(opts([{file, data("veth_mixed.pcap")}, {active, false}])),
    ?assertEqual({error, einval}, epcap:setopts(Pid, [{snaplen, 10}])),
    ?assertEqual({error, einval}, epcap:setopts(Pid, [{active, 1}, bogus])),
    ?assertEqual({error, einval}, epcap:setopts(Pid, [{active, 40000}])),
    ok = epcap:stop(Pid).

verbose_logs_what_is_in_force() ->
    [{doc, "Ensure that with verbose the port says, as logger events, the "
      "libpcap version and what it opened, the drop and sandbox, the filter "
      "and each control request"}].
verbose_logs_what_is_in_force(_Config) ->
    ok = logger:add_handler(?MODULE, ?MODULE, #{config => self(), level => all}),
    try
        %% live on lo, with filters nothing matches: a file could be read
        %% to its end, and the port gone, before the setfilter
        {ok, Pid} = epcap:start(opts([{interface, "lo"}, verbose, {active, false},
                                      {filter, "ether proto 0x88b6"}])),
        ok = epcap:setfilter(Pid, "ether proto 0x88b7"),
        Lines = port_lines(["control request: filter", "filter set .*0x88b7"], []),
        ct:log("~p", [Lines]),
        [?assert(lists:any(fun(L) -> re:run(L, Re) =/= nomatch end, Lines), Re)
         || Re <- ["lo: opened live \\(libpcap version", "snaplen 65535", "buffer 0",
                   "dropped to uid [0-9]+ gid [0-9]+", "sandbox (seccomp|rlimit|null)",
                   "filter set \\([0-9]+ instructions\\): ether proto 0x88b6"]],
        ok = epcap:stop(Pid)
    after
        logger:remove_handler(?MODULE)
    end.

%% The port's stderr lines, until each of Wanted has matched one.
port_lines([], Acc) ->
    lists:reverse(Acc);
port_lines(Wanted, Acc) ->
    receive
        {port_line, L} ->
            port_lines([W || W <- Wanted, re:run(L, W) =:= nomatch], [L | Acc])
    after 5000 ->
        ct:fail({missing, Wanted, lists:reverse(Acc)})
    end.

%% logger handler: the port's stderr lines, to the test process.
log(#{meta := #{domain := [epcap, port_stderr]}, msg := Msg}, #{config := To}) ->
    To ! {port_line, lists:flatten(format(Msg))};
log(_, _) ->
    ok.

format({string, S}) -> unicode:characters_to_list(S);
format({F, A}) when is_list(F) -> io_lib:format(F, A);
format(Other) -> io_lib:format("~p", [Other]).

interfaces_lists_what_opens() ->
    [{doc, "Ensure that interfaces/0 lists a D-Bus device only where the port "
      "can open it (not in a port built without D-Bus)"}].
interfaces_lists_what_opens(_Config) ->
    {ok, Ifs} = epcap:interfaces(),
    Names = [N || #{name := N} <- Ifs],
    ct:log("~p", [Names]),
    ?assert(lists:member("lo", Names)),
    [begin
         {ok, Pid} = epcap:start(opts([{interface, N}])),
         ok = epcap:stop(Pid)
     end || "dbus-" ++ _ = N <- Names].
