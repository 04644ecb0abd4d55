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
         sniff_is_an_example/0, sniff_is_an_example/1,
         sniff_script_flags/0, sniff_script_flags/1,
         sniff_script_lines/0, sniff_script_lines/1,
         sniff_script_writes/0, sniff_script_writes/1,
         recv_passive/0, recv_passive/1,
         recv_errors/0, recv_errors/1,
         compile_filter_golden/0, compile_filter_golden/1,
         compile_filter_errors/0, compile_filter_errors/1,
         compile_filter_dropped/0, compile_filter_dropped/1,
         lifecycle_events/0, lifecycle_events/1,
         stats_interval/0, stats_interval/1,
         keeper_rides_out_outage/0, keeper_rides_out_outage/1,
         keeper_gives_up/0, keeper_gives_up/1,
         info_file_round_trips/0, info_file_round_trips/1]).

-import(epcap_test_lib, [opts/1, data/1]).

suite() ->
    [{timetrap, {minutes, 2}}].

all() ->
    [info_round_trips, info_file_round_trips, setopts_other_key_einval,
     verbose_logs_what_is_in_force, interfaces_lists_what_opens,
     sniff_is_an_example, sniff_script_flags, sniff_script_lines,
     sniff_script_writes, recv_passive,
     recv_errors, compile_filter_golden, compile_filter_errors,
     compile_filter_dropped, lifecycle_events,
     stats_interval, keeper_rides_out_outage, keeper_gives_up].

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

%% logger handler: the port's stderr lines and the lifecycle events, to
%% the test process.
log(#{meta := #{domain := [epcap, port_stderr]}, msg := Msg}, #{config := To}) ->
    To ! {port_line, lists:flatten(format(Msg))};
log(#{meta := #{domain := [epcap, capture], capture := Pid}, msg := {report, R},
      level := Level}, #{config := To}) ->
    To ! {event, Pid, Level, R};
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

sniff_is_an_example() ->
    [{doc, "Ensure that sniff is not in the epcap application (a dependency has "
      "no sniff module), and that the README's way to call sniff:start/1 from "
      "this checkout (its erl command line) works"}].
sniff_is_an_example(_Config) ->
    {ok, Mods} = application:get_key(epcap, modules),
    ?assertNot(lists:member(sniff, Mods)),
    Readme = read("README.md"),
    {match, [Erl]} = re:run(Readme, "^(erl -pa _build/default/lib/epcap/ebin[^\n]*)$",
                            [multiline, {capture, all_but_first, list}]),
    ?assertMatch({match, _}, re:run(Readme, "\n1> logger:set_primary_config\\(level, info\\), "
                                    "sniff:start\\(\\[\\{interface, \"eth0\"\\}\\]\\)\\.")),
    Eval = "logger:set_primary_config(level, info), "
        "{ok, P} = sniff:start([{file, \"test/data/veth_mixed.pcap\"}, {exec, \"\"}]), "
        "M = monitor(process, P), receive {\x27DOWN\x27, M, _, _, R} -> io:format(\"ended ~p~n\", [R]) end, "
        %% logger's default handler writes from a queue of its own: halt()
        %% alone may cut the last packets' lines (seen once in CI)
        "logger_std_h:filesync(default), halt().",
    {0, Out} = epcap_test_lib:cmd("cd " ++ root() ++ " && " ++ Erl ++ " -noshell -eval '"
                                  ++ Eval ++ "'"),
    ct:log("~ts", [Out]),
    ?assertMatch({match, _}, re:run(Out, "ended normal")),
    ?assertMatch({match, _}, re:run(Out, "ipv4: \\[\\{protocol,tcp\\}")).

sniff_script_flags() ->
    [{doc, "Ensure that bin/epcap-sniff refuses an unknown flag (exit 2, named) "
      "instead of reading it as the filter, takes --progname, lists the devices "
      "with -D, and --help lists every flag"}].
sniff_script_flags(_Config) ->
    File = data("veth_mixed.pcap"),
    {2, Bad} = sniff(["-x", "-r", File]),
    ?assertMatch("epcap-sniff: unknown option -x\n" ++ _, Bad),
    {2, NoCount} = sniff(["-c", "many", "-r", File]),
    ?assertMatch("epcap-sniff: -c needs a positive count" ++ _, NoCount),
    {0, Help} = sniff(["--help"]),
    [?assertMatch({match, _}, re:run(Help, "\n  " ++ F ++ "[ ,]"))
     || F <- ["-r", "-i", "-c", "-s", "-v", "-n", "-l", "--nano", "-D", "--progname"]],
    {1, NoProg} = sniff(["--progname", "/nonexistent/epcap", "-r", File]),
    ?assertMatch({match, _}, re:run(NoProg, "port_not_found")),
    {0, Three} = sniff(["--progname", epcap_test_lib:progname(), "-c", "3", "-r", File]),
    ?assertEqual(3, length(string:lexemes(Three, "\n"))),
    {0, Devs} = sniff(["-D"]),
    ?assertMatch({match, _}, re:run(Devs, "^[0-9]+\\.lo \\[.*Loopback", [multiline])).

sniff_script_lines() ->
    [{doc, "Ensure that bin/epcap-sniff prints one line per packet by default "
      "(the README's example word for word), the report per layer with -v, "
      "stops after -c packets and cuts to -s bytes"}].
sniff_script_lines(_Config) ->
    File = data("veth_mixed.pcap"),
    {0, All} = sniff(["-r", File]),
    ?assertEqual(40, length(string:lexemes(All, "\n"))),
    {match, [Cmd, Expected]} =
        re:run(read("README.md"), "\n\\$ bin/epcap-sniff (-c 3 -r [^\n]+)\n(.*?)\n```",
               [dotall, {capture, all_but_first, list}]),
    {0, Out} = epcap_test_lib:cmd("cd " ++ root() ++ " && bin/epcap-sniff " ++ Cmd),
    ?assertEqual(Expected ++ "\n", Out),
    {0, Tcp} = sniff(["-c", "1", "-r", File, "tcp"]),
    ?assertEqual("16:14:07.543411 IP 10.212.0.1.40174 > 10.212.0.2.8080: tcp [syn] "
                 "seq 991272074 ack 0 win 64240, length 0\n", Tcp),
    {0, V} = sniff(["-v", "-c", "2", "-s", "20", "-r", File]),
    ?assertEqual(2, length([L || "pcap: " ++ _ = L <- string:split(V, "\n", all)])),
    ?assertMatch({match, _}, re:run(V, "caplen=20 len=42")).

sniff_script_writes() ->
    [{doc, "Ensure that bin/epcap-sniff -w FILE writes the packets instead of "
      "printing them, as tcpdump -w: pcap (pcapng for a .pcapng name), every "
      "packet byte for byte with its time, and with -c exactly COUNT packets "
      "(issue 25, item 10)"}].
sniff_script_writes(Config) ->
    In = data("veth_mixed.pcap"),
    %% The port writes as the user it drops to (nobody): a directory it may
    %% write, as /tmp is.
    Dir = filename:join(?config(priv_dir, Config), "w"),
    ok = file:make_dir(Dir),
    ok = file:change_mode(Dir, 8#1777),
    All = filename:join(Dir, "all.pcap"),
    Five = filename:join(Dir, "five.pcapng"),
    {0, Out} = sniff(["-w", All, "-r", In]),
    ?assertEqual("40 packets written to " ++ All ++ "\n", Out),
    {0, _} = sniff(["-c", "5", "-w", Five, "-r", In]),
    {ok, <<16#a1b2c3d4:32/native, _/binary>>} = file:read_file(All),
    {ok, <<16#0A0D0D0A:32, _/binary>>} = file:read_file(Five),
    Want = packets(In),
    ?assertEqual(40, length(Want)),
    ?assertEqual(Want, packets(All)),
    ?assertEqual(lists:sublist(Want, 5), packets(Five)).

packets(File) ->
    {ok, _} = epcap:start([{file, File}, {exec, ""}, {progname, epcap_test_lib:progname()}]),
    packets_loop([]).

packets_loop(Acc) ->
    receive
        {packet, DLT, Time, Len, Pkt} -> packets_loop([{DLT, Time, Len, Pkt} | Acc]);
        {epcap, eof} -> lists:reverse(Acc)
    after 10000 -> ct:fail({timeout, length(Acc)})
    end.

sniff(Args) ->
    epcap_test_lib:cmd(lists:flatten(lists:join(" ", [filename:join([root(), "bin", "epcap-sniff"])
                                                      | [quote(A) || A <- Args]]))).

quote(A) -> "'" ++ A ++ "'".

read(Rel) ->
    {ok, B} = file:read_file(filename:join(root(), Rel)),
    binary_to_list(B).

%% The checkout: an ancestor of this suite's source holding bin/epcap-sniff.
root() ->
    Src = proplists:get_value(source, ?MODULE:module_info(compile)),
    root(filename:dirname(filename:absname(Src))).

root("/") -> ct:fail(root_not_found);
root(D) ->
    case filelib:is_regular(filename:join([D, "bin", "epcap-sniff"])) of
        true -> D;
        false -> root(filename:dirname(D))
    end.

recv_passive() ->
    [{doc, "Ensure that recv/2,3 takes the packets of an {active, false} capture "
      "in order, up to Length (0: all there are), leaves the rest, and gives "
      "{error, closed} once the last was taken; the edoc example runs"}].
recv_passive(_Config) ->
    {ok, Pid} = epcap:start(opts([{file, data("veth_mixed.pcap")}, {active, false},
                                  {time_unit, microsecond}])),
    {ok, [{packet, 1, T1, 42, _}, {packet, 1, T2, 42, _}]} = epcap:recv(Pid, 2, 5000),
    ?assertEqual(1795709647108940, T1),  % 2026-11-26 16:14:07.108940Z
    ?assert(T2 > T1),
    {ok, [{packet, 1, T3, _, _}]} = epcap:recv(Pid, 1),
    ?assert(T3 > T2),
    Rest = recv_all(Pid, []),
    ?assertEqual(37, length(Rest)),
    ?assertEqual({error, closed}, epcap:recv(Pid, 0, 1000)),
    receive {epcap, eof} -> ok after 5000 -> ct:fail(no_eof) end,
    receive {packet, _, _, _, _} = P -> ct:fail({packet_message, P}) after 0 -> ok end,
    receive {epcap_passive, _} = M -> ct:fail({passive, M}) after 0 -> ok end,
    {ok, Cwd} = file:get_cwd(),
    ok = file:set_cwd(root()),
    try run_doc_example(epcap, "epcap:recv(") after file:set_cwd(Cwd) end.

recv_all(Pid, Acc) ->
    case epcap:recv(Pid, 0, 2000) of
        {ok, Ps} -> recv_all(Pid, Acc ++ Ps);
        {error, closed} -> Acc
    end.

recv_errors() ->
    [{doc, "Ensure that recv/3 times out with nothing lost, is einval outside "
      "{active, false} or with a bad length, and not_owner for another process"}].
recv_errors(_Config) ->
    {ok, Pid} = epcap:start(opts([{interface, "lo"}, {filter, "ether proto 0x88b6"},
                                  {active, false}])),
    ?assertEqual({error, timeout}, epcap:recv(Pid, 0, 50)),
    ?assertEqual({error, einval}, epcap:recv(Pid, -1, 50)),
    ?assertEqual({error, einval}, epcap:recv(Pid, 40000, 50)),
    Self = self(),
    spawn(fun() -> Self ! {other, epcap:recv(Pid, 0, 50)} end),
    receive {other, R} -> ?assertEqual({error, not_owner}, R) end,
    ok = epcap:setopts(Pid, [{active, true}]),
    ?assertEqual({error, einval}, epcap:recv(Pid, 0, 50)),
    ok = epcap:stop(Pid),
    %% a timed-out recv loses nothing: a file capture's packets all arrive
    {ok, F} = epcap:start(opts([{file, data("veth_mixed.pcap")}, {active, false}])),
    _ = epcap:recv(F, 1, 0),
    Got = length(recv_all_or_timeout(F, 0)),
    ?assert(Got >= 39).

recv_all_or_timeout(Pid, N) ->
    case epcap:recv(Pid, 0, 2000) of
        {ok, Ps} -> Ps ++ recv_all_or_timeout(Pid, N + 1);
        {error, _} -> []
    end.

%% The edoc example of Mod whose text holds Marker, run as it is.
run_doc_example(Mod, Marker) ->
    {ok, Bin} = file:read_file(proplists:get_value(source, Mod:module_info(compile))),
    Blocks = string:split(binary_to_list(Bin), "%% ```\n", all),
    [Code] = [lists:flatten([string:prefix(L, "%% ") || L <- string:split(B0, "\n", all),
                                                       string:prefix(L, "%% ") =/= nomatch])
              || B <- tl(Blocks), [B0 | _] <- [string:split(B, "%% \x27\x27\x27")],
                 string:find(B0, Marker) =/= nomatch],
    {ok, Tokens, _} = erl_scan:string(Code),
    {ok, Exprs} = erl_parse:parse_exprs(Tokens),
    erl_eval:exprs(Exprs, erl_eval:new_bindings()).

compile_filter_golden() ->
    [{doc, "Ensure that compile_filter/2 gives the program tcpdump -d prints, "
      "line for line (test/data/filters.tcpdump-d, made by tcpdump 4.99)"}].
compile_filter_golden(_Config) ->
    {ok, Bin} = file:read_file(data("filters.tcpdump-d")),
    [_Header | Sections] = string:split(binary_to_list(Bin), "\n## ", all),
    ?assert(length(Sections) >= 10),
    [begin
         [Filter | Lines] = string:lexemes(Section, "\n"),
         ?assertEqual({Filter, {ok, Lines}},
                      {Filter, epcap:compile_filter(Filter, #{link_type => 1, snaplen => 262144,
                                                              progname => epcap_test_lib:progname()})})
     end || Section <- Sections].

compile_filter_errors() ->
    [{doc, "Ensure that compile_filter/2 gives {error, {filter, Msg}} for a filter "
      "a capture refuses, badarg for bad options, compiles for another link "
      "type and snaplen"}].
compile_filter_errors(_Config) ->
    ?assertMatch({error, {filter, "can't parse filter expression: syntax error"}},
                 epcap:compile_filter("tcp port")),
    ?assertMatch({error, {filter, _}}, epcap:compile_filter("port http")),
    ?assertEqual({error, {bad_option, linktype}}, epcap:compile_filter("ip", #{linktype => 1})),
    ?assertEqual({error, {badarg, {snaplen, 0}}}, epcap:compile_filter("ip", #{snaplen => 0})),
    ?assertEqual({error, {badarg, {filter, [0]}}}, epcap:compile_filter([0], #{})),
    {ok, Raw} = epcap:compile_filter("ip", #{link_type => 12, snaplen => 100}),
    ?assertEqual("(000) ldb      [0]", hd(Raw)),
    ?assertEqual("(003) ret      #100", lists:nth(4, Raw)),
    ?assertMatch({error, {port_not_found, _}},
                 epcap:compile_filter("ip", #{progname => "/nonexistent/epcap"})).

lifecycle_events() ->
    [{doc, "Ensure that a capture logs started, ready (with what is in force) and "
      "ended (and why) as logger reports in domain [epcap, capture], for a "
      "file's end, a stop and a start that failed"}].
lifecycle_events(_Config) ->
    ok = logger:add_handler(?MODULE, ?MODULE, #{config => self(), level => all}),
    Primary = logger:get_primary_config(),
    ok = logger:set_primary_config(level, info),
    try
        {ok, Pid} = epcap:start(opts([{file, data("veth_mixed.pcap")}])),
        {info, #{event := started, command := [_ | _]}} = event(Pid),
        {info, #{event := ready, info := #{link_type := 1, options := Opts}}} = event(Pid),
        ?assertEqual(data("veth_mixed.pcap"), proplists:get_value(file, Opts)),
        {info, #{event := ended, reason := eof, exit := normal}} = event(Pid),
        {ok, Live} = epcap:start(opts([{interface, "lo"}, {filter, "ether proto 0x88b6"}])),
        {info, #{event := started}} = event(Live),
        {info, #{event := ready}} = event(Live),
        ok = epcap:stop(Live),
        {info, #{event := ended, reason := stopped}} = event(Live),
        {error, {no_such_device, _}} = epcap:start(opts([{interface, "epcap_nope3"}])),
        receive
            {event, _, info, #{event := ended, reason := {start_failed, {no_such_device, _}}}} ->
                ok
        after 5000 -> ct:fail(no_start_failed_event)
        end
    after
        logger:set_primary_config(Primary),
        logger:remove_handler(?MODULE)
    end.

event(Pid) ->
    receive {event, Pid, Level, R} -> {Level, R}
    after 5000 -> ct:fail({no_event, Pid})
    end.

stats_interval() ->
    [{doc, "Ensure that {stats_interval, Ms} sends the owner {epcap_stats, Pid, "
      "Stats} about every Ms on a live capture, the counts of stats/1, and "
      "that a bad value is badarg"}].
stats_interval(_Config) ->
    ?assertEqual({error, {badarg, {stats_interval, 0}}},
                 epcap:start(opts([{interface, "lo"}, {stats_interval, 0}]))),
    {ok, Pid} = epcap:start(opts([{interface, "lo"}, {filter, "ether proto 0x88b6"},
                                  {stats_interval, 100}])),
    T0 = erlang:monotonic_time(millisecond),
    Stats = [receive {epcap_stats, Pid, S} -> S after 3000 -> ct:fail(no_stats) end
             || _ <- lists:seq(1, 3)],
    Took = erlang:monotonic_time(millisecond) - T0,
    ct:log("~p in ~b ms", [Stats, Took]),
    ?assert(Took >= 250),
    [?assertMatch(#{received := _, dropped := _, if_dropped := _, credit_wait_us := _}, S)
     || S <- Stats],
    {ok, #{options := Opts}} = epcap:info(Pid),
    ?assertEqual(100, proplists:get_value(stats_interval, Opts)),
    ok = epcap:stop(Pid),
    receive {epcap_stats, Pid, _} -> ok after 0 -> ok end,
    receive {epcap_stats, Pid, _} = M -> ct:fail({after_stop, M}) after 300 -> ok end.

keeper_rides_out_outage() ->
    [{doc, "Ensure that epcap_keeper keeps a live capture through a 2 s deletion "
      "of its veth: one process throughout, a few retries with backoff (not "
      "one every 15 ms), one restarted event, packets again once it is back"}].
keeper_rides_out_outage(_Config) ->
    N = 229,
    #{a := If} = Host = epcap_test_lib:netns_up(N),
    ok = logger:add_handler(?MODULE, ?MODULE, #{config => self(), level => all}),
    Primary = logger:get_primary_config(),
    ok = logger:set_primary_config(level, info),
    try
        {ok, K} = epcap_keeper:start_link(self(), opts([{interface, If}, {filter, "icmp"}]),
                                          #{backoff_min => 50, backoff_max => 800}),
        {ok, C1} = epcap_keeper:capture(K),
        _ = epcap_test_lib:ping_in(Host, 1),
        receive {packet, 1, _, _, _} -> ok after 5000 -> ct:fail(no_packet_before) end,
        {0, _} = epcap_test_lib:cmd("ip link del " ++ If),
        receive {epcap, {error, _}} -> ok after 10000 -> ct:fail(no_end) end,
        timer:sleep(2000),
        Host2 = epcap_test_lib:netns_up(N),
        C2 = wait_capture(K, C1, 10000),
        _ = epcap_test_lib:ping_in(Host2, 2),
        receive {packet, 1, _, _, _} -> ok after 5000 -> ct:fail(no_packet_after) end,
        Leveled = drain_events([]),
        Events = [R || {_, R} <- Leveled],
        %% what logger shows at its default level (notice): the capture's
        %% failure and the restart, not a line per retry
        Loud = [R || {L, R} <- Leveled, L =/= info, L =/= debug],
        ct:log("at notice and above: ~p", [Loud]),
        ?assert(length(Loud) =< 2),
        Failed = [E || #{event := ended, reason := {start_failed, _}} = E <- Events],
        Restarted = [E || #{event := restarted} = E <- Events],
        ct:log("~b failed starts; ~p", [length(Failed), Restarted]),
        ?assertMatch([#{attempt := 1, after_ms := Ms}] when Ms >= 2000, Restarted),
        %% 50, 100, 200, 400, 800, 800... ms: about 6 in 2 s, not 130
        ?assert(length(Failed) =< 12),
        ?assert(is_process_alive(K)),
        ?assertNotEqual(C1, C2),
        ok = epcap_keeper:stop(K),
        ?assertNot(is_process_alive(C2))
    after
        logger:set_primary_config(Primary),
        logger:remove_handler(?MODULE),
        epcap_test_lib:netns_down(Host)
    end.

keeper_gives_up() ->
    [{doc, "Ensure that epcap_keeper with give_up_after exits {shutdown, "
      "{gave_up, Reason}} once its interface has been gone that long, and "
      "that a bad keeper option is refused"}].
keeper_gives_up(_Config) ->
    ?assertEqual({error, {bad_option, bogus}}, epcap_keeper:start_link(self(), [], #{bogus => 1})),
    #{a := If} = Host = epcap_test_lib:netns_up(228),
    process_flag(trap_exit, true),
    {ok, K} = epcap_keeper:start_link(self(), opts([{interface, If}]),
                                      #{backoff_min => 20, give_up_after => 300}),
    {0, _} = epcap_test_lib:cmd("ip link del " ++ If),
    receive
        {'EXIT', K, Why} ->
            ct:log("~p", [Why]),
            ?assertMatch({shutdown, {gave_up, _}}, Why)
    after 15000 -> ct:fail(did_not_give_up)
    end,
    _ = epcap_test_lib:netns_down(Host).

wait_capture(K, Old, Ms) when Ms > 0 ->
    case epcap_keeper:capture(K) of
        {ok, Pid} when Pid =/= Old -> Pid;
        _ -> timer:sleep(50), wait_capture(K, Old, Ms - 50)
    end;
wait_capture(_, _, _) ->
    ct:fail(no_restart).

drain_events(Acc) ->
    receive {event, _, Level, R} -> drain_events([{Level, R} | Acc])
    after 0 -> lists:reverse(Acc)
    end.

compile_filter_dropped() ->
    [{doc, "Ensure that the port's compile-only mode (-K), started as root, "
      "compiles as nobody, jailed: a compile that takes long (an 8 KiB filter) "
      "shows the port and its compile child with uid 65534 and root /run/epcap"}].
compile_filter_dropped(_Config) ->
    %% about 8 KiB: seconds of CPU, until the compile child's RLIMIT_CPU
    Filter1 = lists:flatten(lists:join(" or ", ["port " ++ integer_to_list(P)
                                                || P <- lists:seq(1, 670)])),
    Port = open_port({spawn_executable, epcap_test_lib:progname()},
                     [{args, ["-K", "-f", Filter1]}, stream, binary, exit_status]),
    {os_pid, OsPid} = erlang:port_info(Port, os_pid),
    timer:sleep(500),
    Pids = [OsPid | children(OsPid)],
    Status = [{P, file:read_file("/proc/" ++ integer_to_list(P) ++ "/status"),
               file:read_link("/proc/" ++ integer_to_list(P) ++ "/root")} || P <- Pids],
    ct:log("~p", [Status]),
    catch port_close(Port),
    ?assert(length(Pids) >= 2),
    [begin
         {match, _} = re:run(St, "^Uid:\\s+65534\\s+65534\\s+65534\\s+65534", [multiline]),
         ?assertEqual({ok, "/run/epcap"}, Root)
     end || {_, {ok, St}, Root} <- Status].

%% The processes whose parent is Pid.
children(Pid) ->
    {ok, Names} = file:list_dir("/proc"),
    [list_to_integer(N) || N <- Names, lists:all(fun(C) -> C >= $0 andalso C =< $9 end, N),
                           parent(N) =:= Pid].

parent(N) ->
    case file:read_file("/proc/" ++ N ++ "/status") of
        {ok, B} ->
            case re:run(B, "^PPid:\\s+([0-9]+)", [multiline, {capture, all_but_first, list}]) of
                {match, [P]} -> list_to_integer(P);
                _ -> none
            end;
        _ -> none
    end.
