%%% Behaviour of epcap through its public API: files, bad input, live
%%% captures on test hosts in network namespaces, the end of a capture.
-module(epcap_SUITE).
-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").

-compile([export_all, nowarn_export_all]).

-import(epcap_test_lib, [opts/1, data/1, collect/2, collect_until/2]).

all() ->
    [{group, files}, {group, bad_input}, {group, live}, {group, lifecycle}].

groups() ->
    [{files, [parallel],
      [every_capture_matches_tcpdump, nanosecond_files, time_units_agree,
       pcapng_file, snaplen_cuts_file, broken_files, truncated_file,
       filter_on_file, getopts_command_line, interfaces_listed]},
     {bad_input, [parallel],
      [bad_options, file_option_conflicts, bad_filter, no_such_device, missing_exec_wrapper,
       bad_cpu_affinity, send_bad_frames, no_permission, port_dies_early]},
     {live, [],
      [live_filter, direction_in_out, live_time_units, immediate_timeout,
       infinity_timeout, ms_timeout, promiscuous_mode, inject_seen_by_peer,
       inject_failure_keeps_running, stats_count, stats_port_counters, setfilter_live,
       big_datagram_on_loopback, cpu_affinity_applied, env_and_cluster_id,
       monitor_not_supported, default_interface, snaplen_buffer_verbose]},
     {lifecycle, [],
      [owner_exit_stops_port, server_kill_stops_port, stop_is_idempotent,
       start_link_error_does_not_crash, info_reports_ready, tagged_messages,
       named_owners, controlling_process_moves, wrapper_stderr_in_error,
       stderr_to_logger, stderr_relay_program, stderr_relay_fallback,
       stale_stderr_dirs_swept, unexpected_messages_logged,
       %% here, not with the files: it changes the VM's working directory
       dash_is_a_file_name]}].

init_per_suite(Config) ->
    {ok, _} = application:ensure_all_started(epcap),
    Prog = epcap_test_lib:progname(),
    case filelib:is_regular(Prog) of
        true -> Config;
        false -> {skip, "port program not built: " ++ Prog}
    end.

end_per_suite(_Config) -> ok.

init_per_group(G, Config) when G =:= live ->
    case epcap_test_lib:is_root() of
        true -> Config;
        false -> {skip, "live captures need root (network namespaces)"}
    end;
init_per_group(_, Config) -> Config.

end_per_group(_, _Config) -> ok.

%% Each live case gets its own test host (netns + veth), removed after.
init_per_testcase(Case, Config) ->
    case lists:member(Case, live_cases()) of
        true ->
            N = erlang:phash2(Case, 200) + 20,
            [{host, epcap_test_lib:netns_up(N)} | Config];
        false ->
            Config
    end.

end_per_testcase(_Case, Config) ->
    epcap_test_lib:flush(),
    case proplists:get_value(host, Config) of
        undefined -> ok;
        Host -> epcap_test_lib:netns_down(Host)
    end.

live_cases() ->
    [live_filter, direction_in_out, live_time_units, immediate_timeout,
     infinity_timeout, ms_timeout, promiscuous_mode, inject_seen_by_peer,
     inject_failure_keeps_running, stats_count, stats_port_counters, setfilter_live,
     cpu_affinity_applied, env_and_cluster_id, monitor_not_supported,
     owner_exit_stops_port, server_kill_stops_port, snaplen_buffer_verbose].

%%--------------------------------------------------------------------
%% Files
%%--------------------------------------------------------------------

every_capture_matches_tcpdump() ->
    [{doc, "Ensure that every bundled capture yields the packets, original "
      "lengths and timestamps tcpdump prints for it"}].
every_capture_matches_tcpdump(_Config) ->
    Files = ["veth_mixed.pcap", "veth_mixed.pcapng", "snap64.pcap",
             "loopback.pcap", "any_sll.pcap", "any_sll2.pcap"],
    [check_against_tcpdump(F) || F <- Files],
    ok.

check_against_tcpdump(Name) ->
    File = data(Name),
    {Ref, _} = epcap_test_lib:tcpdump(File, false),
    {ok, _} = epcap:start(opts([{file, File}])),
    {Pkts, eof} = collect_until(5000, []),
    ?assertEqual({Name, length(Ref)}, {Name, length(Pkts)}),
    lists:foreach(
      fun({{packet, _DLT, {M, S, U}, Len, P}, {Ts, RefLen}}) ->
              ?assertEqual({Name, Ts}, {Name, fmt_us(M, S, U)}),
              ?assertEqual({Name, RefLen}, {Name, Len}),
              ?assert(byte_size(P) =< Len)
      end, lists:zip(Pkts, Ref)),
    ok.

fmt_us(M, S, U) ->
    lists:flatten(io_lib:format("~b.~6..0b", [M * 1000000 + S, U])).

nanosecond_files() ->
    [{doc, "Ensure that {time_unit, nanosecond} gives the nanosecond "
      "timestamps of tcpdump --nano, for ns and for µs files"}].
nanosecond_files(_Config) ->
    lists:foreach(
      fun(Name) ->
              File = data(Name),
              {Ref, _} = epcap_test_lib:tcpdump(File, true),
              {ok, _} = epcap:start(opts([{file, File}, {time_unit, nanosecond}])),
              {Pkts, eof} = collect_until(5000, []),
              ?assertEqual(length(Ref), length(Pkts)),
              [?assertEqual(Ts, fmt_ns(T))
               || {{packet, _, T, _, _}, {Ts, _}} <- lists:zip(Pkts, Ref)]
      end, ["veth_mixed_nano.pcap", "veth_mixed.pcap", "veth_mixed.pcapng"]).

fmt_ns(T) ->
    lists:flatten(io_lib:format("~b.~9..0b", [T div 1000000000, T rem 1000000000])).

time_units_agree() ->
    [{doc, "Ensure that timestamp, microsecond and nanosecond describe the "
      "same instants, with the datalink type and bytes unchanged"}].
time_units_agree(_Config) ->
    File = data("veth_mixed.pcap"),
    Read = fun(Unit) ->
                   {ok, _} = epcap:start(opts([{file, File}, {time_unit, Unit}])),
                   {Pkts, eof} = collect_until(5000, []),
                   Pkts
           end,
    Ts = Read(timestamp), Us = Read(microsecond), Ns = Read(nanosecond),
    ?assertEqual(40, length(Ts)),
    lists:foreach(
      fun({{packet, 1, {M, S, U}, L, P}, {packet, 1, TU, L, P}, {packet, 1, TN, L, P}}) ->
              ?assertEqual((M * 1000000 + S) * 1000000 + U, TU),
              ?assertEqual(TU * 1000, TN)
      end, lists:zip3(Ts, Us, Ns)).

pcapng_file() ->
    [{doc, "Ensure that a pcapng file gives the same packets as its pcap twin"}].
pcapng_file(_Config) ->
    %% Timestamps are checked against tcpdump in every_capture_matches_tcpdump.
    Read = fun(F) ->
                   {ok, _} = epcap:start(opts([{file, data(F)}])),
                   {Pkts, eof} = collect_until(5000, []),
                   [{DLT, Len, P} || {packet, DLT, _, Len, P} <- Pkts]
           end,
    ?assertEqual(Read("veth_mixed.pcap"), Read("veth_mixed.pcapng")).

snaplen_cuts_file() ->
    [{doc, "Ensure that caplen < len is reported as such (snap64.pcap)"}].
snaplen_cuts_file(_Config) ->
    {ok, _} = epcap:start(opts([{file, data("snap64.pcap")}])),
    {Pkts, eof} = collect_until(5000, []),
    ?assert(lists:any(fun({packet, _, _, Len, P}) -> byte_size(P) < Len end, Pkts)),
    [?assertEqual(min(Len, 64), byte_size(P)) || {packet, _, _, Len, P} <- Pkts],
    ok.

broken_files() ->
    [{doc, "Ensure that missing, empty, garbage and short-header files are "
      "{error, {file, Msg}} from start, with no process left"}].
broken_files(_Config) ->
    Before = length(processes()),
    lists:foreach(
      fun(Name) ->
              R = epcap:start(opts([{file, data(Name)}])),
              ct:log("~s: ~p", [Name, R]),
              ?assertMatch({error, {file, [_ | _]}}, R)
      end, ["empty.pcap", "garbage.pcap", "short_header.pcap", "no_such_file.pcap"]),
    {error, {file, Msg}} = epcap:start(opts([{file, data("garbage.pcap")}])),
    ?assertNotEqual(nomatch, string:find(Msg, "unknown file format")),
    timer:sleep(100),
    ?assert(length(processes()) =< Before).

dash_is_a_file_name() ->
    [{doc, "Ensure that {file, \"-\"} names a file (libpcap would read stdin, "
      "the port's control channel) and that a missing file's message names "
      "the file and the OS reason"}].
dash_is_a_file_name(Config) ->
    Dir = ?config(priv_dir, Config),
    {ok, Cwd} = file:get_cwd(),
    try
        ok = file:set_cwd(Dir),
        ?assertEqual({error, {file, "-: No such file or directory"}},
                     epcap:start(opts([{file, "-"}]))),
        {ok, _} = file:copy(data("veth_mixed.pcap"), filename:join(Dir, "-")),
        {ok, _} = epcap:start(opts([{file, "-"}])),
        {Pkts, eof} = collect_until(5000, []),
        ?assertEqual(40, length(Pkts))
    after
        ok = file:set_cwd(Cwd)
    end.

truncated_file() ->
    [{doc, "Ensure that a file cut inside a packet delivers the 27 whole "
      "packets tcpdump reads, then {epcap, {error, {file, Msg}}}, and the "
      "server exits with that failure (a transient supervisor restarts it)"}].
truncated_file(_Config) ->
    {ok, Pid} = epcap:start(opts([{file, data("truncated.pcap")}])),
    Ref = monitor(process, Pid),
    {Pkts, End} = collect_until(5000, []),
    ?assertEqual(27, length(Pkts)),
    ?assertMatch({error, {file, "truncated dump file" ++ _}}, End),
    {error, Why} = End,
    receive {'DOWN', Ref, process, Pid, Why} -> ok after 2000 -> ct:fail(no_stop) end.

filter_on_file() ->
    [{doc, "Ensure that a BPF filter applies to a file capture"}].
filter_on_file(_Config) ->
    {ok, _} = epcap:start(opts([{file, data("veth_mixed.pcap")}, {filter, "arp"}])),
    {Pkts, eof} = collect_until(5000, []),
    {Ref, _} = epcap_test_lib:tcpdump(data("veth_mixed.pcap") ++ " arp", false),
    ?assertEqual(length(Ref), length(Pkts)),
    ?assert(length(Pkts) > 0),
    [?assertMatch(<<_:12/binary, 16#0806:16, _/binary>>, P) || {packet, _, _, _, P} <- Pkts].

getopts_command_line() ->
    [{doc, "Ensure that getopts/1 shows the wrapper, then the port with its "
      "arguments, environment (-E) and CPU list (-a) last, and no chroot "
      "unless one is given"}].
getopts_command_line(_Config) ->
    [Exe | Args] = epcap:getopts([{interface, "lo"}, {exec, "nice -n 1"},
                                  {cpu_affinity, "0"}, {env, "PCAP_A=B"},
                                  {cluster_id, 7}, promiscuous,
                                  {filter, "tcp"}, {time_unit, nanosecond}]),
    ?assertEqual(os:find_executable("nice"), Exe),
    ["-n", "1", Prog | PortArgs] = Args,
    ?assertEqual("epcap", filename:basename(Prog)),
    ?assertEqual(["-i", "lo", "-f", "tcp", "-s", "65535", "-t", "immediate",
                  "-n", "-P", "-T", "-E", "PCAP_A=B", "-E", "PCAP_PF_RING_CLUSTER_ID=7",
                  "-a", "0"], PortArgs),
    ?assertNot(lists:member("-C", epcap:getopts([{interface, "lo"}, {exec, ""}]))),
    ?assertEqual({error, {bad_option, {colour, red}}}, epcap:getopts([{colour, red}])).

interfaces_listed() ->
    [{doc, "Ensure that interfaces/0 lists lo as a loopback device with 127.0.0.1"}].
interfaces_listed(_Config) ->
    {ok, Ifs} = epcap:interfaces(),
    [Lo] = [I || #{name := "lo"} = I <- Ifs],
    ?assert(lists:member(loopback, maps:get(flags, Lo))),
    ?assert(lists:member(up, maps:get(flags, Lo))),
    ?assert(lists:any(fun(#{addr := A}) -> A =:= {127, 0, 0, 1} end,
                      maps:get(addresses, Lo))).

%%--------------------------------------------------------------------
%% Bad input
%%--------------------------------------------------------------------

bad_options() ->
    [{doc, "Ensure that each bad option value is a clear {error, _} from "
      "start, and the caller does not crash"}].
bad_options(_Config) ->
    Cases = [
        {{snaplen, 0}, {badarg, {snaplen, 0}}},
        {{snaplen, -1}, {badarg, {snaplen, -1}}},
        {{snaplen, 300000}, {badarg, {snaplen, 300000}}},
        {{snaplen, "x"}, {badarg, {snaplen, "x"}}},
        {{cluster_id, 256}, {badarg, {cluster_id, 256}}},
        {{cluster_id, -1}, {badarg, {cluster_id, -1}}},
        {{direction, sideways}, {badarg, {direction, sideways}}},
        {{time_unit, fortnight}, {badarg, {time_unit, fortnight}}},
        {{timeout, -5}, {badarg, {timeout, -5}}},
        {{timeout, soon}, {badarg, {timeout, soon}}},
        {{promiscuous, maybe}, {badarg, {promiscuous, maybe}}},
        {{active, 40000}, {badarg, {active, 40000}}},
        {{deliver, carrier_pigeon}, {badarg, {deliver, carrier_pigeon}}},
        {{env, "NOEQUALS"}, {badarg, {env, "NOEQUALS"}}},
        {{env, "LD_PRELOAD=/tmp/x.so"}, {badarg, {env, "LD_PRELOAD=/tmp/x.so"}}},
        {{timeout, 65536}, {badarg, {timeout, 65536}}},
        {{buffer, 2147483647}, {badarg, {buffer, 2147483647}}},
        {{buffer, 268435457}, {badarg, {buffer, 268435457}}},
        {{tagged, yes}, {badarg, {tagged, yes}}},
        {{interface, 42}, {badarg, {interface, 42}}},
        {{file, <<"a", 0, "b">>}, {badarg, {file, <<"a", 0, "b">>}}},
        {{filter, long_filter()}, {badarg, {filter, long_filter()}}},
        {{colour, red}, {bad_option, {colour, red}}},
        {bogus, {bad_option, bogus}}],
    [?assertEqual({Opt, {error, Err}}, {Opt, epcap:start(opts([Opt]))})
     || {Opt, Err} <- Cases],
    ?assertEqual({error, {badarg, {options, notalist}}}, epcap:start(notalist)).

long_filter() -> lists:duplicate(8193, $a).

file_option_conflicts() ->
    [{doc, "Ensure that a file with any live-only option is "
      "{error, {badarg, {conflict, {file, Key}}}}, that an owner that is not "
      "a process is {error, {badarg, {owner, O}}}, and that the largest "
      "buffer and timeout are accepted"}].
file_option_conflicts(_Config) ->
    File = data("veth_mixed.pcap"),
    [?assertEqual({Opt, {error, {badarg, {conflict, {file, Key}}}}},
                  {Opt, epcap:start(opts([{file, File}, Opt]))})
     || {Key, Opt} <- [{interface, {interface, "lo"}}, {promiscuous, promiscuous},
                       {monitor, {monitor, false}}, {buffer, {buffer, 1024}},
                       {timeout, {timeout, 10}}, {inject, inject},
                       {direction, {direction, in}}, {snaplen, {snaplen, 16}}]],
    ?assertEqual({error, {badarg, {owner, no_such_name_xyz}}},
                 epcap:start(no_such_name_xyz, opts([{file, File}]))),
    ?assertMatch([_ | _], epcap:getopts([{interface, "lo"}, {buffer, 268435456},
                                         {timeout, 65535}])).

bad_filter() ->
    [{doc, "Ensure that a filter that does not compile is {error, {filter, Msg}}"}].
bad_filter(_Config) ->
    R = epcap:start(opts([{file, data("veth_mixed.pcap")}, {filter, "tcp port fish"}])),
    ?assertMatch({error, {filter, [_ | _]}}, R),
    R2 = epcap:start(opts([{interface, "lo"}, {filter, "ip and and"}])),
    ?assertMatch({error, {filter, "can't parse filter expression" ++ _}}, R2).

no_such_device() ->
    [{doc, "Ensure that an interface that does not exist is "
      "{error, {no_such_device, If}}"}].
no_such_device(_Config) ->
    ?assertEqual({error, {no_such_device, "epcap_nope9"}},
                 epcap:start(opts([{interface, "epcap_nope9"}]))).

missing_exec_wrapper() ->
    [{doc, "Ensure that a wrapper that cannot be found is "
      "{error, {exec_not_found, W}}, and a missing port program "
      "{error, {port_not_found, P}}"}].
missing_exec_wrapper(_Config) ->
    ?assertEqual({error, {exec_not_found, "no-such-wrapper-xyz"}},
                 epcap:start(opts([{file, data("veth_mixed.pcap")},
                                   {exec, "no-such-wrapper-xyz -q"}]))),
    ?assertEqual({error, {port_not_found, "/nonexistent/epcap"}},
                 epcap:start([{progname, "/nonexistent/epcap"}, {exec, ""}])).

bad_cpu_affinity() ->
    [{doc, "Ensure that a malformed or out-of-range cpu_affinity list is "
      "{error, {badarg, {cpu_affinity, L}}}, and a CPU the machine lacks is "
      "{error, {cpu_affinity, Msg}} from the port"}].
bad_cpu_affinity(_Config) ->
    [?assertEqual({error, {badarg, {cpu_affinity, L}}},
                  epcap:start(opts([{file, data("veth_mixed.pcap")}, {cpu_affinity, L}])))
     || L <- ["abc", "4096", "1-", "", "3-1", "1,,2"]],
    ?assertMatch({error, {cpu_affinity, [_ | _]}},
                 epcap:start(opts([{file, data("veth_mixed.pcap")}, {cpu_affinity, "1000"}]))).

send_bad_frames() ->
    [{doc, "Ensure that send/2 refuses empty, oversized and non-iodata frames "
      "with {badarg, _} and the capture keeps running"}].
send_bad_frames(_Config) ->
    {ok, Pid} = epcap:start(opts([{interface, "lo"}, inject, {filter, "ether proto 0x88b5"}])),
    ?assertEqual({error, {badarg, {packet_size, 0}}}, epcap:send(Pid, <<>>)),
    ?assertEqual({error, {badarg, {packet_size, 65536}}}, epcap:send(Pid, <<0:65536/unit:8>>)),
    ?assertMatch({error, {badarg, {packet, _}}}, epcap:send(Pid, [an_atom])),
    ?assertEqual(ok, epcap:send(Pid, [<<0:96, 16#88b5:16>>, <<"hello">>])),
    ?assertMatch({ok, _}, epcap:stats(Pid)),
    ok = epcap:stop(Pid).

no_permission() ->
    [{doc, "Ensure that a port without capture rights is "
      "{error, {permission_denied, Msg}}"}].
no_permission(_Config) ->
    case os:find_executable("setpriv") of
        false -> {skip, "setpriv (util-linux) not installed"};
        _ ->
            %% Root without any capability: what an ordinary user has.
            R = epcap:start(opts([{interface, "lo"},
                                  {exec, "setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all"}])),
            ?assertMatch({error, {permission_denied, [_ | _]}}, R)
    end.

port_dies_early() ->
    [{doc, "Ensure that a port that exits before it is ready is "
      "{error, {port_exit, Status}}"}].
port_dies_early(_Config) ->
    ?assertEqual({error, {port_exit, 1}},
                 epcap:start([{progname, os:find_executable("false")}, {exec, ""},
                              {file, data("veth_mixed.pcap")}])).

%%--------------------------------------------------------------------
%% Live captures on a test host
%%--------------------------------------------------------------------

host(Config) -> ?config(host, Config).

start_on(Config, Extra) ->
    #{a := If} = host(Config),
    {ok, Pid} = epcap:start(opts([{interface, If} | Extra])),
    Pid.

payloads(Pkts) ->
    [udp_payload(P) || {packet, _, _, _, P} <- Pkts].

udp_payload(<<_:12/binary, 16#0800:16, _:4, IHL:4, _:8/binary, 17, _/binary>> = F) ->
    <<_:14/binary, _:(IHL * 4)/binary, _:8/binary, Payload/binary>> = F,
    Payload;
udp_payload(_) -> other.

live_filter() ->
    [{doc, "Ensure that a live capture delivers exactly what its filter accepts"}].
live_filter(Config) ->
    H = host(Config),
    Pid = start_on(Config, [{filter, "udp dst port 7001"}]),
    epcap_test_lib:udp_out(H, 7002, <<"no">>),
    epcap_test_lib:udp_out(H, 7001, <<"yes">>),
    ?assertEqual([<<"yes">>], payloads(collect(500, []))),
    epcap:stop(Pid).

direction_in_out() ->
    [{doc, "Ensure that {direction, in} and {direction, out} each see only "
      "their side of the link"}].
direction_in_out(Config) ->
    H = host(Config),
    Run = fun(Dir) ->
                  Pid = start_on(Config, [{direction, Dir}, {filter, "udp port 7003"}]),
                  epcap_test_lib:udp_out(H, 7003, <<"out">>),
                  {0, _} = epcap_test_lib:udp_in(H, 7003, <<"in">>),
                  Got = payloads(collect(500, [])),
                  epcap:stop(Pid),
                  Got
          end,
    ?assertEqual([<<"in">>], Run(in)),
    ?assertEqual([<<"out">>], Run(out)),
    ?assertEqual([<<"out">>, <<"in">>], Run(inout)).

live_time_units() ->
    [{doc, "Ensure that live timestamps are close to the VM's clock in each "
      "time unit"}].
live_time_units(Config) ->
    H = host(Config),
    Check = fun(Unit, ToUs) ->
                    Pid = start_on(Config, [{time_unit, Unit}, {filter, "udp port 7004"}]),
                    Now = os:system_time(microsecond),
                    epcap_test_lib:udp_out(H, 7004, <<"t">>),
                    [{packet, 1, T, _, _}] = collect(500, []),
                    epcap:stop(Pid),
                    ?assert(abs(ToUs(T) - Now) < 2000000)
            end,
    Check(timestamp, fun({M, S, U}) -> (M * 1000000 + S) * 1000000 + U end),
    Check(microsecond, fun(T) -> T end),
    Check(nanosecond, fun(T) -> T div 1000 end).

immediate_timeout() ->
    [{doc, "Ensure that in immediate mode one packet arrives within 1 s"}].
immediate_timeout(Config) ->
    H = host(Config),
    Pid = start_on(Config, [{timeout, immediate}, {filter, "udp port 7005"}]),
    T0 = erlang:monotonic_time(millisecond),
    epcap_test_lib:udp_out(H, 7005, <<"now">>),
    receive {packet, _, _, _, _} -> ok after 1000 -> ct:fail(not_immediate) end,
    ct:log("latency ~b ms", [erlang:monotonic_time(millisecond) - T0]),
    epcap:stop(Pid).

infinity_timeout() ->
    [{doc, "Ensure that with {timeout, infinity} a lone packet is held "
      "(none within 5 s) until the buffer fills"}].
infinity_timeout(Config) ->
    H = host(Config),
    Pid = start_on(Config, [{timeout, infinity}, {filter, "udp port 7006"}]),
    epcap_test_lib:udp_out(H, 7006, <<"wait">>),
    ?assertEqual([], collect(5000, [])),
    {ok, #{received := R}} = epcap:stats(Pid),
    ct:log("held by the kernel: ~b", [R]),
    epcap:stop(Pid).

ms_timeout() ->
    [{doc, "Ensure that {timeout, 200} delivers a lone packet after the "
      "timeout, within a second"}].
ms_timeout(Config) ->
    H = host(Config),
    Pid = start_on(Config, [{timeout, 200}, {filter, "udp port 7007"}]),
    epcap_test_lib:udp_out(H, 7007, <<"soon">>),
    receive {packet, _, _, _, _} -> ok after 1500 -> ct:fail(not_delivered) end,
    epcap:stop(Pid).

promiscuous_mode() ->
    [{doc, "Ensure that promiscuous mode puts the interface in promiscuous "
      "mode while the capture runs (and only then) and sees frames for "
      "another MAC"}].
promiscuous_mode(Config) ->
    #{a := If} = H = host(Config),
    Promiscuity = fun() ->
                          {_, Link} = epcap_test_lib:cmd("ip -d link show " ++ If),
                          {match, [N]} = re:run(Link, "promiscuity ([0-9]+)",
                                                [{capture, all_but_first, list}]),
                          list_to_integer(N)
                  end,
    Frame = <<16#02, 16#aa, 16#bb, 16#cc, 16#dd, 16#ee,      % not our MAC
              16#02, 16#11, 16#22, 16#33, 16#44, 16#55, 16#88b5:16, "promisc">>,
    ?assertEqual(0, Promiscuity()),
    Plain = start_on(Config, [{filter, "ether proto 0x88b5"}]),
    ?assertEqual(0, Promiscuity()),
    epcap:stop(Plain),
    Promisc = start_on(Config, [promiscuous, {filter, "ether proto 0x88b5"}]),
    ?assertEqual(1, Promiscuity()),
    %% The frame comes from the test host's side of the link.
    {ok, Inj} = epcap:start(opts([{interface, maps:get(b, H)}, inject,
                                  {exec, "ip netns exec " ++ maps:get(ns, H)},
                                  {filter, "ether proto 0x88b5"}])),
    ok = epcap:send(Inj, Frame),
    ?assertMatch([{packet, 1, _, _, Frame}], collect(500, [])),
    epcap:stop(Promisc),
    timer:sleep(100),
    ?assertEqual(0, Promiscuity()),
    epcap:stop(Inj).

inject_seen_by_peer() ->
    [{doc, "Ensure that a frame injected on one end of the link is captured "
      "on the other end, in the test host's namespace"}].
inject_seen_by_peer(Config) ->
    #{a := If, b := B, ns := Ns} = host(Config),
    Self = self(),
    Tagger = spawn_link(fun Loop() ->
                                receive {packet, _, _, _, P} -> Self ! {peer, P}, Loop() end
                        end),
    {ok, Peer} = epcap:start(Tagger, opts([{interface, B}, {exec, "ip netns exec " ++ Ns},
                                           {filter, "ether proto 0x88b5"}])),
    {ok, Inj} = epcap:start(opts([{interface, If}, inject, {filter, "ether proto 0x88b5"}])),
    Frame = <<-1:48, 16#02, 0, 0, 0, 0, 1, 16#88b5:16, "injected by epcap">>,
    ok = epcap:send(Inj, Frame),
    receive {peer, Got} -> ?assertEqual(Frame, Got) after 1000 -> ct:fail(not_seen) end,
    %% The injecting socket does not see its own frame (the kernel skips it).
    ?assertEqual([], collect(300, [])),
    epcap:stop(Peer), epcap:stop(Inj).

inject_failure_keeps_running() ->
    [{doc, "Ensure that a failed injection is counted by stats/1 and returned "
      "as {error, {inject, Msg}} by the next send/2, and the capture keeps "
      "running"}].
inject_failure_keeps_running(Config) ->
    H = host(Config),
    Pid = start_on(Config, [inject, {filter, "udp port 7008"}]),
    %% Larger than the link's MTU: the kernel refuses it. send/2 does not
    %% wait for the kernel; stats/1 answers after the frame was tried.
    ?assertEqual(ok, epcap:send(Pid, <<-1:48, 0:48, 16#88b5:16, 0:(9000 * 8)>>)),
    ?assertMatch({ok, #{send_failed := 1}}, epcap:stats(Pid)),
    R = epcap:send(Pid, <<-1:48, 0:48, 16#88b5:16>>),
    ?assertMatch({error, {inject, [_ | _]}}, R),
    epcap_test_lib:udp_out(H, 7008, <<"alive">>),
    ?assertEqual([<<"alive">>], payloads(collect(500, []))),
    epcap:stop(Pid).

stats_count() ->
    [{doc, "Ensure that stats/1 counts the packets the capture received"}].
stats_count(Config) ->
    H = host(Config),
    Pid = start_on(Config, [{filter, "udp port 7009"}]),
    [epcap_test_lib:udp_out(H, 7009, <<I>>) || I <- lists:seq(1, 10)],
    ?assertEqual(10, length(collect(500, []))),
    {ok, #{received := R, dropped := D, if_dropped := I}} = epcap:stats(Pid),
    ?assertEqual({10, 0}, {R, D}),
    ?assert(is_integer(I)),
    epcap:stop(Pid).

stats_port_counters() ->
    [{doc, "Ensure that stats/1 gives the port's own counts: the time it waited "
      "for a passive owner's credit, and its wake-ups, reads and batches"}].
stats_port_counters(Config) ->
    #{local := L, peer := P} = host(Config),
    %% Immediate mode's ring has a 64 KiB slot a frame here (veth offloads
    %% frames up to 64 KiB): 16 MiB hold about 250.
    Pid = start_on(Config, [{filter, "udp port 7012"}, {active, false},
                            {buffer, 16 bsl 20}]),
    {ok, #{batches := 0, reads := 0}} = epcap:stats(Pid),
    %% More than a passive owner's prefetch (512): the port reads that much,
    %% then sleeps until the owner takes packets (the ring drops what it
    %% cannot hold). Paced, so that the port keeps up until then.
    {ok, S} = gen_udp:open(0, [binary, {ip, L}]),
    [begin
         ok = gen_udp:send(S, P, 7012, <<I:16>>),
         I rem 10 =:= 0 andalso timer:sleep(1)
     end || I <- lists:seq(1, 1000)],
    ok = gen_udp:close(S),
    timer:sleep(100),
    {ok, #{credit_wait_us := W1, batches := B1, reads := R1} = S1} = epcap:stats(Pid),
    timer:sleep(300),
    {ok, #{credit_wait_us := W2, batches := B2, reads := R2} = S2} = epcap:stats(Pid),
    ct:pal("~p~n~p", [S1, S2]),
    ?assert(W2 - W1 >= 200000),
    ?assert(B1 >= 1 andalso B2 =:= B1 andalso R2 =:= R1),
    ok = epcap:setopts(Pid, [{active, true}]),
    Got = length(collect(1000, [])),
    {ok, #{received := 1000, dropped := D, wakeups := W, reads := R, batches := B,
           pipe_wait_us := PW}} = epcap:stats(Pid),
    ?assertEqual(1000, Got + D),
    ?assert(R > R1 andalso W >= R),
    ?assert(B > B1 andalso B =< Got),
    ?assert(is_integer(PW) andalso PW >= 0),
    epcap:stop(Pid).

setfilter_live() ->
    [{doc, "Ensure that setfilter/2 changes what a running capture sees, and "
      "a bad filter leaves the old one in force"}].
setfilter_live(Config) ->
    H = host(Config),
    Pid = start_on(Config, [{filter, "udp port 7010"}]),
    ok = epcap:setfilter(Pid, "udp port 7011"),
    ?assertMatch({error, {filter, [_ | _]}}, epcap:setfilter(Pid, "udp port banana")),
    epcap_test_lib:udp_out(H, 7010, <<"old">>),
    epcap_test_lib:udp_out(H, 7011, <<"new">>),
    ?assertEqual([<<"new">>], payloads(collect(500, []))),
    epcap:stop(Pid).

big_datagram_on_loopback() ->
    [{doc, "Ensure that a 65000-byte UDP datagram on loopback is captured whole "
      "with snaplen 65535 (more than {packet, 2} could carry)"}].
big_datagram_on_loopback(_Config) ->
    {ok, Pid} = epcap:start(opts([{interface, "lo"}, {snaplen, 65535},
                                  {filter, "udp dst port 7012"}])),
    {ok, S} = gen_udp:open(0, [binary, {ip, {127, 0, 0, 1}}, {sndbuf, 200000}]),
    Payload = binary:copy(<<"epcap!">>, 10834),  % 65004 bytes
    ok = gen_udp:send(S, {127, 0, 0, 1}, 7012, Payload),
    gen_udp:close(S),
    receive
        {packet, 1, _, Len, P} ->
            ?assertEqual(Len, byte_size(P)),
            ?assertEqual(14 + 20 + 8 + 65004, Len),
            ?assertEqual(Payload, binary:part(P, 42, 65004))
    after 2000 -> ct:fail(no_packet)
    end,
    epcap:stop(Pid).

cpu_affinity_applied() ->
    [{doc, "Ensure that cpu_affinity pins the port: Cpus_allowed_list in "
      "/proc/<pid>/status"}].
cpu_affinity_applied(Config) ->
    Pid = start_on(Config, [{cpu_affinity, "0"}]),
    Status = proc_file(Pid, "status"),
    ?assertMatch({match, _}, re:run(Status, "Cpus_allowed_list:\\s+0\\n")),
    epcap:stop(Pid).

env_and_cluster_id() ->
    [{doc, "Ensure that env and cluster_id reach the port itself as -E "
      "settings (it calls setenv, which /proc/<pid>/environ does not show; "
      "c_src/test/test_procenv.c checks that part), with no env wrapper"}].
env_and_cluster_id(Config) ->
    Pid = start_on(Config, [{env, "PCAP_EPCAP_TEST_VAR=hello world"}, {cluster_id, 42}]),
    Argv = string:split(proc_file(Pid, "cmdline"), [0], all),
    ct:log("~p", [Argv]),
    ?assertMatch("epcap" ++ _, filename:basename(hd(Argv))),  % or epcap-asan
    ?assertMatch([_, "PCAP_EPCAP_TEST_VAR=hello world", "-E", "PCAP_PF_RING_CLUSTER_ID=42" | _],
                 lists:dropwhile(fun(A) -> A =/= "-E" end, Argv)),
    epcap:stop(Pid).

monitor_not_supported() ->
    [{doc, "Ensure that monitor mode on a device that cannot do it is "
      "{error, {monitor_not_supported, If}}"}].
monitor_not_supported(Config) ->
    #{a := If} = host(Config),
    ?assertEqual({error, {monitor_not_supported, If}},
                 epcap:start(opts([{interface, If}, monitor]))),
    ?assertEqual({error, {monitor_not_supported, If}},
                 epcap:start(opts([{interface, If}, {monitor, true}]))).

default_interface() ->
    [{doc, "Ensure that without {interface, _} libpcap's first device is opened"}].
default_interface(_Config) ->
    {ok, Pid} = epcap:start(opts([{filter, "ether proto 0x88b6"}])),
    ?assertMatch({ok, #{received := _}}, epcap:stats(Pid)),
    epcap:stop(Pid).

snaplen_buffer_verbose() ->
    [{doc, "Ensure that {snaplen, 60} cuts live frames to at most 60 bytes with the "
      "original length kept, with {buffer, 4 MiB} and {verbose, 2} accepted "
      "and passed to the port"}].
snaplen_buffer_verbose(Config) ->
    H = host(Config),
    Opts = [{snaplen, 60}, {buffer, 4194304}, {verbose, 2}, {filter, "udp port 7013"}],
    Args = epcap:getopts(opts([{interface, "lo"} | Opts])),
    ?assertEqual(2, length([A || A <- Args, A =:= "-v"])),
    ?assertMatch([_, "4194304" | _], lists:dropwhile(fun(A) -> A =/= "-b" end, Args)),
    Pid = start_on(Config, Opts),
    epcap_test_lib:udp_out(H, 7013, binary:copy(<<"x">>, 200)),
    [{packet, 1, _, Len, P}] = collect(500, []),
    %% In immediate mode (libpcap's TPACKET_V2 ring) Linux keeps a little
    %% less than the snaplen (58 of 60 here); never more, and the length on
    %% the wire stays.
    ?assertEqual(14 + 20 + 8 + 200, Len),
    ?assert(byte_size(P) =< 60 andalso byte_size(P) >= 50),
    epcap:stop(Pid).

proc_file(Pid, Name) ->
    OsPid = epcap_test_lib:os_pid(Pid),
    {ok, B} = file:read_file("/proc/" ++ integer_to_list(OsPid) ++ "/" ++ Name),
    binary_to_list(B).


%%--------------------------------------------------------------------
%% Lifecycle
%%--------------------------------------------------------------------

owner_exit_stops_port() ->
    [{doc, "Ensure that when the owner exits, the port exits within 1 s"}].
owner_exit_stops_port(Config) ->
    #{a := If} = host(Config),
    Self = self(),
    Owner = spawn(fun() ->
                          {ok, Pid} = epcap:start(opts([{interface, If}])),
                          Self ! {started, Pid},
                          receive stop -> ok end
                  end),
    Pid = receive {started, P} -> P after 5000 -> ct:fail(no_start) end,
    OsPid = epcap_test_lib:os_pid(Pid),
    ?assert(epcap_test_lib:port_alive(OsPid)),
    Owner ! stop,
    ?assert(epcap_test_lib:wait_gone(OsPid, 1000)),
    ?assert(epcap_test_lib:wait_dead(Pid, 1000)).

server_kill_stops_port() ->
    [{doc, "Ensure that when the epcap server is killed, the port exits "
      "within 1 s"}].
server_kill_stops_port(Config) ->
    Pid = start_on(Config, []),
    OsPid = epcap_test_lib:os_pid(Pid),
    exit(Pid, kill),
    ?assert(epcap_test_lib:wait_gone(OsPid, 1000)).

stop_is_idempotent() ->
    [{doc, "Ensure that stop/1 returns ok, also for a stopped capture, and "
      "calls on it return {error, closed}"}].
stop_is_idempotent(_Config) ->
    {ok, Pid} = epcap:start(opts([{file, data("veth_mixed.pcap")}, {active, false}])),
    ok = epcap:stop(Pid),
    ok = epcap:stop(Pid),
    ?assertEqual({error, closed}, epcap:stats(Pid)).

start_link_error_does_not_crash() ->
    [{doc, "Ensure that start_link returns {error, _} without an exit signal "
      "reaching the caller"}].
start_link_error_does_not_crash(_Config) ->
    ?assertMatch({error, {file, _}},
                 epcap:start_link(opts([{file, data("garbage.pcap")}]))),
    ?assertMatch({error, {no_such_device, _}},
                 epcap:start_link(opts([{interface, "epcap_nope8"}]))),
    receive {'EXIT', _, _} = E -> ct:fail({exit_signal, E}) after 200 -> ok end.

info_reports_ready() ->
    [{doc, "Ensure that info/1 gives what the port said in ready (OS pid, "
      "sandbox, link type, snaplen, precision, version) and the options in "
      "force, and {error, closed} once the capture is gone"}].
info_reports_ready(_Config) ->
    %% Live on lo, with a filter nothing matches: the port stays up (a
    %% file could be read to its end, and the port gone, before we look).
    Filter = "ether proto 0x88b6",
    {ok, Pid} = epcap:start(opts([{interface, "lo"}, {filter, Filter}, {snaplen, 200},
                                  {active, false}, {time_unit, nanosecond}])),
    {ok, I} = epcap:info(Pid),
    ct:log("~p", [I]),
    #{os_pid := OsPid, sandbox := Mode, link_type := 1, snaplen := 200,
      precision := nano, version := Vsn, owner := Owner, options := Opts} = I,
    ?assert(epcap_test_lib:port_alive(OsPid)),
    ?assert(lists:member(Mode, [seccomp, rlimit, null, pledge, capsicum])),
    ?assertMatch([_ | _], Vsn),
    ?assertEqual(self(), Owner),
    ?assertEqual(Filter, proplists:get_value(filter, Opts)),
    ?assertEqual(false, proplists:get_value(active, Opts)),
    ok = epcap:stop(Pid),
    ?assertEqual({error, closed}, epcap:info(Pid)).

tagged_messages() ->
    [{doc, "Ensure that with {tagged, true} one owner runs two captures and "
      "tells their packets and ends apart: {epcap_packet, Pid, ...} and "
      "{epcap_eof, Pid} / {epcap_error, Pid, Reason}"}].
tagged_messages(_Config) ->
    {ok, A} = epcap:start(opts([{file, data("veth_mixed.pcap")}, {tagged, true}])),
    {ok, B} = epcap:start(opts([{file, data("truncated.pcap")}, {tagged, true},
                                {time_unit, microsecond}])),
    {PA, EA} = tagged(A, []),
    {PB, EB} = tagged(B, []),
    ?assertEqual(40, length(PA)),
    ?assertEqual(eof, EA),
    ?assertEqual(27, length(PB)),
    ?assertMatch({error, {file, _}}, EB),
    [?assert(is_integer(T)) || {_, T, _, _} <- PB],
    ?assertEqual([], collect(100, [])).

tagged(Pid, Acc) ->
    receive
        {epcap_packet, Pid, DLT, T, L, P} -> tagged(Pid, [{DLT, T, L, P} | Acc]);
        {epcap_eof, Pid} -> {lists:reverse(Acc), eof};
        {epcap_error, Pid, R} -> {lists:reverse(Acc), {error, R}}
    after 5000 -> ct:fail({no_end, Pid})
    end.

named_owners() ->
    [{doc, "Ensure that a registered name, {global, N} and {via, global, N} "
      "name an owner, resolved at start"}].
named_owners(_Config) ->
    Self = self(),
    Collector = fun() -> Self ! {collected, self(), collect_until(5000, [])} end,
    Names = [fun(P) -> register(epcap_test_owner, P), epcap_test_owner end,
             fun(P) -> yes = global:register_name(epcap_g1, P), {global, epcap_g1} end,
             fun(P) -> yes = global:register_name(epcap_g2, P), {via, global, epcap_g2} end],
    lists:foreach(
      fun(Name) ->
              Owner = spawn(fun() -> receive go -> Collector() end end),
              {ok, _} = epcap:start(Name(Owner), opts([{file, data("veth_mixed.pcap")}])),
              Owner ! go,
              receive {collected, Owner, {Pkts, eof}} -> ?assertEqual(40, length(Pkts))
              after 6000 -> ct:fail(no_collect)
              end
      end, Names).

controlling_process_moves() ->
    [{doc, "Ensure that controlling_process/2 has gen_tcp's semantics: only "
      "the owner may call it, and the new owner gets every packet, the "
      "ones already sent to the old owner first, in order"}].
controlling_process_moves(_Config) ->
    Self = self(),
    Ref = begin {ok, _} = epcap:start(opts([{file, data("veth_mixed.pcap")}])),
                {R, eof} = collect_until(5000, []), R end,
    {ok, Pid} = epcap:start(opts([{file, data("veth_mixed.pcap")}, {active, 10}])),
    timer:sleep(200),   % 10 packets and {epcap_passive, Pid} wait here
    Other = spawn(fun() -> Self ! {other, epcap:controlling_process(Pid, self())} end),
    receive {other, R0} -> ?assertEqual({error, not_owner}, R0) after 2000 -> ct:fail(no_other) end,
    New = spawn(fun() ->
                        receive go -> ok end,
                        ok = epcap:setopts(Pid, [{active, true}]),
                        Self ! {moved, collect_passive([])}
                end),
    ok = epcap:controlling_process(Pid, New),
    ?assertEqual([], collect(100, [])),
    New ! go,
    receive {moved, {Got, Passive, End}} ->
            ?assertEqual(Ref, Got),
            ?assertEqual(1, Passive),
            ?assertEqual(eof, End)
    after 6000 -> ct:fail(no_moved)
    end,
    exit(Other, kill).

collect_passive(Acc) -> collect_passive(Acc, 0).
collect_passive(Acc, N) ->
    receive
        {packet, _, _, _, _} = P -> collect_passive([P | Acc], N);
        {epcap_passive, _} -> collect_passive(Acc, N + 1);
        {epcap, End} -> {lists:reverse(Acc), N, End}
    after 5000 -> {lists:reverse(Acc), N, timeout}
    end.

wrapper_stderr_in_error() ->
    [{doc, "Ensure that a wrapper that fails before the port starts (sudo "
      "wanting a password) gives {port_exit, {Status, Text}} with what it "
      "wrote on stderr, and leaves nothing running"}].
wrapper_stderr_in_error(Config) ->
    Before = stderr_readers(),
    Sudo = script(Config, "fake_sudo",
                  "echo 'sudo: a password is required' >&2\nexit 1\n"),
    ?assertEqual({error, {port_exit, {1, "sudo: a password is required"}}},
                 epcap:start([{progname, epcap_test_lib:progname()}, {exec, Sudo},
                              {interface, "lo"}])),
    %% Silent: the status alone, as before.
    ?assertEqual({error, {port_exit, 1}},
                 epcap:start([{progname, os:find_executable("false")}, {exec, ""},
                              {file, data("veth_mixed.pcap")}])),
    %% No new stderr reader is left (earlier cases' may still be ending).
    ?assertEqual([], readers_left(Before, 2000)).

stderr_readers() ->
    string:lexemes(os:cmd("pgrep -f 'cat .*/epcap-[0-9]+-[0-9]+/stderr'"), "\n").

readers_left(Before, Ms) ->
    case stderr_readers() -- Before of
        [] -> [];
        Left when Ms =< 0 -> Left;
        _ -> timer:sleep(100), readers_left(Before, Ms - 100)
    end.

script(Config, Name, Body) ->
    Path = filename:join(?config(priv_dir, Config), Name),
    ok = file:write_file(Path, ["#!/bin/sh\n", Body]),
    ok = file:change_mode(Path, 8#755),
    Path.

stale_stderr_dirs_swept() ->
    [{doc, "Ensure that the stderr directories of VMs that are gone are removed, "
      "and nothing else: not a live VM's, not a link, not another name"}].
stale_stderr_dirs_swept(Config) ->
    Base = filename:join(?config(priv_dir, Config), "tmp"),
    ok = file:make_dir(Base),
    %% a pid that was a process a moment ago and is gone now
    Dead = string:trim(os:cmd("sh -c 'echo $$'")),
    Me = os:getpid(),
    D = fun(Name) -> filename:join(Base, Name) end,
    ok = file:make_dir(D("epcap-7-" ++ Dead)),
    "" = os:cmd("mkfifo " ++ D("epcap-7-" ++ Dead) ++ "/stderr"),
    ok = file:make_dir(D("epcap-8-" ++ Me)),
    ok = file:make_dir(D("target")),
    ok = file:write_file(D("target/keep"), <<"x">>),
    ok = file:make_symlink(D("target"), D("epcap-9-" ++ Dead)),
    ok = file:make_dir(D("epcap-x-" ++ Dead)),
    ok = file:make_dir(D("ours-" ++ Me)),
    ok = epcap_stderr:sweep(Base, D("ours-" ++ Me)),
    {ok, Left} = file:list_dir(Base),
    ?assertEqual(lists:sort(["epcap-8-" ++ Me, "epcap-9-" ++ Dead, "epcap-x-" ++ Dead,
                             "ours-" ++ Me, "target"]), lists:sort(Left)),
    ?assert(filelib:is_regular(D("target/keep"))).

stderr_to_logger() ->
    [{doc, "Ensure that what the port's wrapper writes on stderr arrives as "
      "a logger event with the capture's pid in its metadata, while the "
      "capture runs as usual"}].
stderr_to_logger(Config) ->
    Wrapper = script(Config, "chatty", "echo 'wrapper says hello' >&2\nexec \"$@\"\n"),
    ok = logger:add_handler(epcap_test_handler, ?MODULE, #{config => #{pid => self()}}),
    try
        {ok, Pid} = epcap:start(opts([{file, data("veth_mixed.pcap")}, {exec, Wrapper}])),
        {Pkts, eof} = collect_until(5000, []),
        ?assertEqual(40, length(Pkts)),
        receive
            {logged, #{meta := #{capture := Pid}, msg := {Fmt, Args}}} ->
                ?assertEqual("epcap port: wrapper says hello",
                             lists:flatten(io_lib:format(Fmt, Args)))
        after 2000 -> ct:fail(no_log_event)
        end
    after
        logger:remove_handler(epcap_test_handler)
    end.

stderr_relay_program() ->
    [{doc, "Ensure that a port started without a wrapper has its stderr read by "
      "priv/epcap_relay (libc only, not the port program with its libraries), "
      "that a line written there arrives as a logger event, and that the relay "
      "ends with the capture"}].
stderr_relay_program(Config) ->
    Relay = filename:join(filename:dirname(epcap_test_lib:progname()), "epcap_relay"),
    true = filelib:is_regular(Relay),
    relayed(Config, epcap_test_lib:progname(), Relay).

stderr_relay_fallback() ->
    [{doc, "Ensure that a port program with no epcap_relay beside it (a copy) "
      "reads its own stderr FIFO (-R), and the line still arrives"}].
stderr_relay_fallback(Config) ->
    Dir = filename:join(?config(priv_dir, Config), "lone"),
    ok = filelib:ensure_dir(filename:join(Dir, "x")),
    Copy = filename:join(Dir, "epcap"),
    {ok, _} = file:copy(epcap_test_lib:progname(), Copy),
    ok = file:change_mode(Copy, 8#755),
    relayed(Config, Copy, Copy).

%% A capture held open (passive), its reader found among the VM's ports by
%% program, and a line written to the port's stderr (the FIFO, through
%% /proc: root may open another process's descriptors) sent to logger.
relayed(Config, Prog, Reader) ->
    case epcap_test_lib:is_root() of
        false -> {skip, "opening another process's stderr through /proc needs root"};
        true -> relay_line(Prog, Reader, packets_file(Config, 2000))
    end.

%% More packets than a passive capture reads ahead: its port stays.
relay_line(Prog, Reader, File) ->
    ok = logger:add_handler(epcap_test_handler, ?MODULE, #{config => #{pid => self()}}),
    try
        {ok, Pid} = epcap:start([{progname, Prog}, {exec, ""},
                                 {file, File}, {active, false}]),
        {ok, #{os_pid := OsPid}} = epcap:info(Pid),
        Port = wait_for_reader(Reader, OsPid, 100),
        %% No other reader: not the port program relaying beside the relay.
        [] = [P || P <- erlang:ports(), P =/= Port,
                   {os_pid, O} <- [erlang:port_info(P, os_pid)], O =/= OsPid,
                   {name, N} <- [erlang:port_info(P, name)],
                   N =:= Reader orelse N =:= Prog],
        ok = file:write_file("/proc/" ++ integer_to_list(OsPid) ++ "/fd/2",
                             <<"a line for the relay\n">>),
        receive
            {logged, #{meta := #{capture := Pid}, msg := {Fmt, Args}}} ->
                ?assertEqual("epcap port: a line for the relay",
                             lists:flatten(io_lib:format(Fmt, Args)))
        after 2000 -> ct:fail(no_log_event)
        end,
        Ref = erlang:monitor(port, Port),
        ok = epcap:stop(Pid),
        receive {'DOWN', Ref, port, Port, _} -> ok
        after 2000 -> ct:fail({reader_left_running, Reader})
        end
    after
        logger:remove_handler(epcap_test_handler)
    end.

packets_file(Config, N) ->
    Path = filename:join(?config(priv_dir, Config), "packets.pcap"),
    Header = <<16#a1b2c3d4:32/little, 2:16/little, 4:16/little, 0:32, 0:32,
               65535:32/little, 1:32/little>>,
    Recs = [<<I:32/little, 0:32, 60:32/little, 60:32/little, 0:480>> || I <- lists:seq(1, N)],
    ok = file:write_file(Path, [Header | Recs]),
    Path.

%% The reader starts once the port has spoken: the VM's port that runs
%% Reader and is not the capture's own port.
wait_for_reader(Reader, _, 0) ->
    ct:fail({no_reader, Reader});
wait_for_reader(Reader, OsPid, N) ->
    case [P || P <- erlang:ports(), {name, Name} <- [erlang:port_info(P, name)],
               Name =:= Reader, {os_pid, O} <- [erlang:port_info(P, os_pid)], O =/= OsPid] of
        [Port] -> Port;
        [] -> timer:sleep(20), wait_for_reader(Reader, OsPid, N - 1)
    end.

%% logger handler callback: events from epcap's port go to the test case.
log(#{meta := #{domain := [epcap, port_stderr]}} = Event, #{config := #{pid := Pid}}) ->
    Pid ! {logged, Event};
log(#{msg := {report, #{epcap := What}}} = Event, #{config := #{pid := Pid}}) ->
    Pid ! {logged, What, Event};
log(_, _) ->
    ok.

unexpected_messages_logged() ->
    [{doc, "Ensure that a message, cast or call the server does not expect is "
      "logged with logger (not dropped in silence) and the capture goes on"}].
unexpected_messages_logged(_Config) ->
    ok = logger:add_handler(epcap_test_handler, ?MODULE, #{config => #{pid => self()}}),
    try
        {ok, Pid} = epcap:start(opts([{file, data("veth_mixed.pcap")}, {active, false}])),
        Pid ! {hello, 1},
        gen_server:cast(Pid, {hello, 2}),
        ?assertEqual({error, {badarg, {hello, 3}}}, gen_server:call(Pid, {hello, 3})),
        [receive {logged, What, #{msg := {report, R}}} -> ?assertMatch(#{}, R)
         after 2000 -> ct:fail({not_logged, What})
         end || What <- [unexpected_message, unexpected_cast, unexpected_call]],
        ok = epcap:setopts(Pid, [{active, true}]),
        {Pkts, eof} = collect_until(5000, []),
        ?assertEqual(40, length(Pkts))
    after
        logger:remove_handler(epcap_test_handler)
    end.
