%%% EUnit tests of epcap_options: validation, the rules between options,
%%% and the port's command line.
-module(epcap_options_tests).
-include_lib("eunit/include/eunit.hrl").

v(Opts) -> epcap_options:validate(Opts).

defaults_test() ->
    {ok, O} = v([]),
    ?assertMatch(#{snaplen := 65535, active := true, deliver := packet, tagged := false,
                   chroot := undefined, exec := default}, O),
    ?assertEqual(["-s", "65535", "-t", "immediate", "-T"], epcap_options:args(O)).

unknown_and_bad_values_test() ->
    ?assertEqual({error, {bad_option, bogus}}, v([bogus])),
    ?assertEqual({error, {bad_option, {colour, red}}}, v([{colour, red}])),
    ?assertEqual({error, {badarg, {options, x}}}, v(x)),
    ?assertEqual({error, {badarg, {options, b}}}, v([{snaplen, 9} | b])),
    [?assertEqual({error, {badarg, {K, V}}}, v([{K, V}]))
     || {K, V} <- [{snaplen, 0}, {snaplen, 262145}, {buffer, -1}, {buffer, 268435457},
                   {timeout, 65536}, {timeout, -1}, {active, 32768}, {active, -32769},
                   {tagged, 1}, {env, "HOME=/"}, {env, "PCAP_lower=1"}, {env, "PCAP_"},
                   {cpu_affinity, "1024"}, {cpu_affinity, "a"}, {cpu_affinity, "2-1"},
                   {file, <<0>>}, {verbose, 11}]].

limits_accepted_test() ->
    [?assertMatch({ok, _}, v([O]))
     || O <- [{snaplen, 262144}, {buffer, 268435456}, {timeout, 65535}, {timeout, 0},
              {active, 32767}, {active, -32768}, {cpu_affinity, "0-1023"},
              {cpu_affinity, "1,3,5-7"}, {env, "PCAP_X_1=a=b"}, {tagged, true}]].

file_conflicts_test() ->
    [?assertEqual({error, {badarg, {conflict, {file, K}}}}, v([{file, "f"}, O]))
     || {K, O} <- [{interface, {interface, "lo"}}, {promiscuous, promiscuous},
                   {monitor, monitor}, {buffer, {buffer, 1}}, {timeout, {timeout, 5}},
                   {inject, {inject, false}}, {direction, {direction, out}},
                   {snaplen, {snaplen, 16}}]],
    %% The order does not matter; options that mean something on a file pass.
    ?assertEqual({error, {badarg, {conflict, {file, interface}}}},
                 v([{interface, "lo"}, {file, "f"}])),
    ?assertMatch({ok, _}, v([{file, "f"}, {filter, "tcp"}, {time_unit, nanosecond},
                             {active, once}, {deliver, batch}, verbose, {user, "nobody"},
                             {env, "PCAP_A=1"}, {cpu_affinity, "0"}])).

env_count_test() ->
    Sixteen = [{env, "PCAP_A" ++ integer_to_list(I) ++ "=1"} || I <- lists:seq(1, 16)],
    ?assertMatch({ok, _}, v(Sixteen)),
    ?assertMatch({error, {badarg, {env, _}}}, v([{cluster_id, 1} | Sixteen])).

args_test() ->
    {ok, O} = v([{interface, "eth0"}, {filter, "tcp"}, {snaplen, 96}, {buffer, 4096},
                 {timeout, 10}, {direction, in}, {time_unit, nanosecond}, promiscuous,
                 monitor, inject, {verbose, 2}, {user, "u"}, {group, "g"},
                 {chroot, "/var/empty"}, {env, "PCAP_A=1"}, {cluster_id, 3},
                 {cpu_affinity, "1,3"}]),
    ?assertEqual(["-i", "eth0", "-f", "tcp", "-s", "96", "-b", "4096", "-t", "10",
                  "-d", "in", "-n", "-P", "-M", "-I", "-T", "-v", "-v", "-u", "u", "-g", "g",
                  "-C", "/var/empty", "-E", "PCAP_A=1", "-E", "PCAP_PF_RING_CLUSTER_ID=3",
                  "-a", "1,3"], epcap_options:args(O)),
    {ok, F} = v([{file, "x.pcap"}]),
    ?assertEqual(["-r", "x.pcap", "-s", "65535", "-t", "immediate"], epcap_options:args(F)).

command_test() ->
    {ok, O} = v([{progname, "/nonexistent/epcap"}]),
    ?assertEqual({error, {port_not_found, "/nonexistent/epcap"}}, epcap_options:command(O)),
    Sh = os:find_executable("sh"),
    {ok, W} = v([{progname, Sh}, {exec, "no-such-wrapper-xyz -q"}]),
    ?assertEqual({error, {exec_not_found, "no-such-wrapper-xyz"}}, epcap_options:command(W)),
    %% A file needs no wrapper; an empty exec means none.
    {ok, F} = v([{progname, Sh}, {file, "f"}]),
    ?assertEqual([Sh, "-r", "f", "-s", "65535", "-t", "immediate"], epcap_options:command(F)),
    {ok, N} = v([{progname, Sh}, {exec, ""}]),
    ?assertEqual(Sh, hd(epcap_options:command(N))).

filter_size_test() ->
    ?assertMatch({ok, _}, epcap_options:check_filter(lists:duplicate(8192, $a))),
    ?assertEqual(error, epcap_options:check_filter(lists:duplicate(8193, $a))),
    ?assertEqual(error, epcap_options:check_filter([0])).

%% A live capture's port is real-time unless told otherwise (-T): raised
%% (neither flag) or normal (-N); on a file the option means nothing, so
%% it is a conflict.
priority_test() ->
    Flags = fun(Opts) ->
                    {ok, O} = epcap_options:validate([{interface, "lo"} | Opts]),
                    [F || F <- epcap_options:args(O), F =:= "-N" orelse F =:= "-T"]
            end,
    ?assertEqual(["-T"], Flags([])),
    ?assertEqual(["-T"], Flags([{priority, realtime}])),
    ?assertEqual([], Flags([{priority, raised}])),
    ?assertEqual(["-N"], Flags([{priority, normal}])),
    ?assertEqual({error, {badarg, {priority, high}}},
                 epcap_options:validate([{priority, high}])),
    ?assertEqual({error, {badarg, {conflict, {file, priority}}}},
                 epcap_options:validate([{file, "a.pcap"}, {priority, normal}])).

chroot_paths_test() ->
    %% Issue 24, defect 7: relative paths and the kernel's trees are refused
    %% here as in the port (c_src/jail.c).
    [?assertEqual({error, {badarg, {chroot, D}}}, v([{chroot, D}]))
     || D <- ["run/epcap", ".", "", "/proc", "/proc/self", "/dev", "/sys/kernel"]],
    [?assertMatch({ok, #{chroot := D}}, v([{chroot, D}]))
     || D <- ["/var/empty", "/run/epcap", "/devices", "/process"]].
