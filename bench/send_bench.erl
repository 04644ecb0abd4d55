%%% @doc Injection rate: `epcap:send/2' one frame a call and
%%% `epcap:send_many/2', against `tcpreplay --topspeed' of the same frames
%%% into the same veth, rounds interleaved. Every frame is counted where
%%% it arrives: the peer end's `rx_packets' in its own namespace.
%%%
%%% The veth's one end (the sender) stays here without an address; the
%%% peer is in a namespace of its own, and every frame is addressed to the
%%% peer's MAC with EtherType 0x88b5 (IEEE 802 local experimental), which
%%% no stack answers. Needs root and tcpreplay.
%%%
%%% Settings (KEY=VALUE arguments or the environment): `count' frames
%%% (default 200000), `runs' (default 5), `size' bytes a frame (64);
%%% SEND_BENCH_PORT=path in the environment runs another build of the port (to
%%% compare two builds in one machine state).
%%% Example: `./send_bench runs=5 count=200000'.
%%% @end
-module(send_bench).

-export([main/1]).

-define(ETHERTYPE, 16#88b5).

-spec main([string()]) -> no_return().
main(Args) ->
    ok = logger:set_primary_config(level, warning),
    S = maps:from_list([case string:split(A, "=") of
                            [K, V] -> {list_to_atom(K), list_to_integer(V)}
                        end || A <- Args]),
    Status = try bench(S) of
                 ok -> 0
             catch
                 throw:{skip, Why} -> io:format("SKIPPED: ~ts~n", [Why]), 0;
                 C:R:St -> io:format(standard_error, "send_bench failed: ~p:~p~n~p~n",
                                     [C, R, St]), 1
             end,
    erlang:halt(Status).

get(Key, S, Default) ->
    case os:getenv(string:uppercase(atom_to_list(Key))) of
        V when V =:= false; V =:= "" -> maps:get(Key, S, Default);
        V -> maps:get(Key, S, list_to_integer(V))
    end.

bench(S) ->
    string:trim(os:cmd("id -u")) =:= "0" orelse throw({skip, "needs root"}),
    Tcpreplay = find("tcpreplay"),
    Count = get(count, S, 200000),
    Runs = get(runs, S, 5),
    Size = get(size, S, 64),
    {ok, _} = application:ensure_all_started(epcap),
    with_veth(
      fun(#{dst := Dst, src := Src} = V) ->
              Frames = frames(Dst, Src, Size, Count),
              File = pcap_file(Frames),
              try
                  io:format("# send_bench: ~b x ~b-byte frames into a veth, ~b rounds "
                            "interleaved; each counted on the peer (rx_packets)~n# ~ts~n",
                            [Count, Size, Runs, machine()]),
                  Kinds = [tcpreplay, send, send_many],
                  Rounds = [[{K, once(K, V, Frames, File, Tcpreplay)} || K <- Kinds]
                            || _ <- lists:seq(1, Runs)],
                  report(Kinds, Rounds, Count)
              after
                  file:delete(File)
              end
      end).

once(Kind, V, Frames, File, Tcpreplay) ->
    Before = rx(V),
    {Pps, Cpu} = run(Kind, V, Frames, File, Tcpreplay),
    timer:sleep(50),
    Got = rx(V) - Before,
    io:format("~-10s ~9b frames/s, ~b received on the peer, CPU ~.2f us a frame~n",
              [Kind, round(Pps), Got, Cpu * 1.0e6 / length(Frames)]),
    {Pps, Got, Cpu}.

%% {frames a second, CPU seconds}: tcpreplay's own rate (without its
%% start-up) and its user + system time; epcap's rate from the first frame
%% given to the last one sent (send/2: stats/1 answers after it), and the
%% CPU the VM and the port used meanwhile (the VM's includes its
%% schedulers' spinning, as it is).
run(tcpreplay, #{a := A}, _, File, Tcpreplay) ->
    Out = os:cmd("/usr/bin/time -f 'cpu %U %S' " ++ Tcpreplay ++ " --topspeed -q -i "
                 ++ A ++ " " ++ File ++ " 2>&1"),
    Pps = case re:run(Out, "Rated: [0-9.]+ Bps, [0-9.]+ Mbps, ([0-9.]+) pps",
                      [{capture, all_but_first, list}]) of
              {match, [P]} -> to_float(P);
              nomatch -> error({tcpreplay_output, Out})
          end,
    {match, [U, Sy]} = re:run(Out, "cpu ([0-9.]+) ([0-9.]+)", [{capture, all_but_first, list}]),
    {Pps, to_float(U) + to_float(Sy)};
run(Kind, #{a := A}, Frames, _, _) ->
    Prog = case os:getenv("SEND_BENCH_PORT") of
               P when P =:= false; P =:= "" -> [];
               P -> [{progname, P}]
           end,
    {ok, Pid} = epcap:start([{interface, A}, inject, {direction, in},
                             {filter, "ether proto 0x88b6"}, {exec, ""} | Prog]),
    {ok, #{os_pid := Os}} = epcap:info(Pid),
    P0 = cpu(Os), V0 = cpu(os:getpid()),
    T0 = erlang:monotonic_time(microsecond),
    ok = case Kind of
             send -> lists:foreach(fun(F) -> ok = epcap:send(Pid, F) end, Frames);
             send_many -> epcap:send_many(Pid, Frames)
         end,
    Tq = erlang:monotonic_time(microsecond),
    {ok, #{send_failed := 0}} = epcap:stats(Pid),
    T1 = erlang:monotonic_time(microsecond),
    os:getenv("SEND_BENCH_DEBUG") =/= false andalso
        io:format("  calls returned after ~b us, the port done ~b us later~n", [Tq - T0, T1 - Tq]),
    P1 = cpu(Os), V1 = cpu(os:getpid()),
    ok = epcap:stop(Pid),
    io:format("  (~s: the port's CPU ~.2f us a frame, the VM's ~.2f)~n",
              [Kind, (P1 - P0) * 1.0e6 / length(Frames), (V1 - V0) * 1.0e6 / length(Frames)]),
    {length(Frames) * 1.0e6 / max(1, T1 - T0), P1 - P0 + V1 - V0}.

%% utime + stime of a process, in seconds (/proc/PID/stat, clock ticks).
cpu(Pid) when is_integer(Pid) -> cpu(integer_to_list(Pid));
cpu(Pid) ->
    {ok, B} = file:read_file("/proc/" ++ Pid ++ "/stat"),
    [_, AfterComm] = binary:split(B, <<") ">>),
    Fields = binary:split(AfterComm, <<" ">>, [global]),
    Ticks = binary_to_integer(lists:nth(12, Fields)) + binary_to_integer(lists:nth(13, Fields)),
    Ticks / list_to_integer(string:trim(os:cmd("getconf CLK_TCK"))).


report(Kinds, Rounds, Count) ->
    Rate = fun(K) -> [element(1, proplists:get_value(K, R)) || R <- Rounds] end,
    Lost = fun(K) -> [Count - element(2, proplists:get_value(K, R)) || R <- Rounds] end,
    io:format("~n~-10s ~12s ~21s ~s~n", ["", "median/s", "min-max/s", "frames missing on the peer"]),
    [io:format("~-10s ~12b ~10b-~-10b ~w~n",
               [K, round(median(Rate(K))), round(lists:min(Rate(K))),
                round(lists:max(Rate(K))), Lost(K)])
     || K <- Kinds],
    Ratios = fun(K) -> [element(1, proplists:get_value(K, R)) /
                            element(1, proplists:get_value(tcpreplay, R)) || R <- Rounds] end,
    [io:format("~s / tcpreplay: median ~.2f, each round ~s~n",
               [K, median(Ratios(K)),
                lists:join(" ", [io_lib:format("~.2f", [X]) || X <- Ratios(K)])])
     || K <- [send, send_many]],
    io:format("send / upstream epcap's 320 k/s (issue 28, not measured here): ~.2f~n",
              [median(Rate(send)) / 320000]),
    Cpu = fun(K) -> [element(3, proplists:get_value(K, R)) * 1.0e6 / Count || R <- Rounds] end,
    [io:format("CPU a frame, ~s: median ~.2f us (~s)~n",
               [K, median(Cpu(K)), lists:join(" ", [io_lib:format("~.2f", [X]) || X <- Cpu(K)])])
     || K <- Kinds],
    ok.

median(L) ->
    S = lists:sort(L),
    N = length(S),
    case N rem 2 of
        1 -> lists:nth(N div 2 + 1, S);
        0 -> (lists:nth(N div 2, S) + lists:nth(N div 2 + 1, S)) / 2
    end.

%% Ethernet frames to the peer's MAC: a sequence number, then padding.
frames(Dst, Src, Size, Count) ->
    Pad = binary:copy(<<0>>, max(0, Size - 14 - 4)),
    [<<Dst/binary, Src/binary, ?ETHERTYPE:16, I:32, Pad/binary>> || I <- lists:seq(1, Count)].

pcap_file(Frames) ->
    File = filename:join("/tmp", "send_bench_" ++ os:getpid() ++ ".pcap"),
    Hdr = <<16#a1b2c3d4:32/little, 2:16/little, 4:16/little, 0:32, 0:32,
            65535:32/little, 1:32/little>>,
    Recs = [[<<0:32, 0:32, (byte_size(F)):32/little, (byte_size(F)):32/little>>, F]
            || F <- Frames],
    ok = file:write_file(File, [Hdr | Recs]),
    File.

%% A veth pair: `a' here, up, no address; `b' in a namespace of its own.
with_veth(Fun) ->
    Id = os:getpid(),
    Ns = "epsendb" ++ Id,
    A = "eps" ++ Id ++ "a",
    B = "eps" ++ Id ++ "b",
    try
        [ok = sh(C) || C <- ["ip netns add " ++ Ns,
                             "ip link add " ++ A ++ " type veth peer name " ++ B,
                             "ip link set " ++ B ++ " netns " ++ Ns,
                             "sysctl -qw net.ipv6.conf." ++ A ++ ".disable_ipv6=1",
                             "ip netns exec " ++ Ns ++ " sysctl -qw net.ipv6.conf."
                             ++ B ++ ".disable_ipv6=1",
                             "ip link set " ++ A ++ " up",
                             "ip netns exec " ++ Ns ++ " ip link set " ++ B ++ " up"]],
        timer:sleep(200),
        V = #{ns => Ns, a => A, b => B},
        Fun(V#{dst => mac(in_ns(V, "cat /sys/class/net/" ++ B ++ "/address")),
               src => mac(os:cmd("cat /sys/class/net/" ++ A ++ "/address"))})
    after
        _ = os:cmd("ip link del " ++ A ++ " 2>/dev/null"),
        _ = os:cmd("ip netns del " ++ Ns ++ " 2>/dev/null")
    end.

in_ns(#{ns := Ns}, Cmd) -> os:cmd("ip netns exec " ++ Ns ++ " " ++ Cmd).

rx(#{b := B} = V) ->
    list_to_integer(string:trim(in_ns(V, "cat /sys/class/net/" ++ B ++ "/statistics/rx_packets"))).

mac(S) ->
    list_to_binary([list_to_integer(H, 16) || H <- string:split(string:trim(S), ":", all)]).

sh(Cmd) ->
    case os:cmd(Cmd ++ " 2>&1; echo $?") of
        Out -> case lists:last(string:split(string:trim(Out), "\n", all)) of
                   "0" -> ok;
                   _ -> error({command_failed, Cmd, Out})
               end
    end.

find(Name) ->
    case os:find_executable(Name, os:getenv("PATH", "") ++ ":/usr/sbin:/sbin") of
        false -> throw({skip, Name ++ " not installed"});
        Path -> Path
    end.

to_float(S) ->
    try list_to_float(S) catch error:badarg -> float(list_to_integer(S)) end.

machine() ->
    io_lib:format("~s cores, load ~ts, kernel ~ts, OTP ~s, ~ts",
                  [string:trim(os:cmd("nproc")),
                   string:trim(os:cmd("cut -d' ' -f1-3 /proc/loadavg")),
                   string:trim(os:cmd("uname -r")), erlang:system_info(otp_release),
                   string:trim(os:cmd("tcpreplay -V 2>&1 | head -1"))]).
