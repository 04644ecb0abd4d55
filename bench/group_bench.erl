%%% @doc Capture groups under load: the highest replay rate at which a
%%% group of 1, 2 and 4 members (kernel fanout `hash') loses nothing, and
%%% the packets per second that reach the owners, beside tcpdump.
%%%
%%% 64-byte frames of 1024 UDP flows (`gen_pcap') are replayed with
%%% `tcpreplay --pps=R' inside a network namespace of its own onto a veth
%%% pair (10.214.x.y only); the group captures the other end. Each member
%%% has its own owner ({active, 4096}, re-armed on passive: a slow owner
%%% makes the kernel drop), which does a fixed amount of work per packet: the
%%% 5-tuple out of the frame and `erlang:phash2/2' of it, `work' times.
%%% Rates are tried in ascending order until one loses packets.
%%% tcpdump (`-w /dev/null', one process, no per-packet work) is the
%%% single-process reference.
%%%
%%% Run through `bench/group_bench [key=value ...]' (root). Settings:
%%% `count' (frames a run, default 200000), `rates' (comma-separated
%%% pkt/s, default 10000,20000,...,150000),
%%% `runs' (default 3), `work' (hashes a packet, default 200),
%%% `members' (default 1,2,4).
%%% @end
-module(group_bench).

-export([main/0]).
-export([main/1]).

-define(FANOUT_ID, 4242).
%% Owners take packets {active, N} at a time and re-arm on passive, so a
%% slow owner makes the kernel drop (the loss this benchmark looks for)
%% instead of its mailbox growing without bound as with {active, true}.
-define(ACTIVE, 4096).

%% @equiv main([])
-spec main() -> no_return().
main() -> main([]).

%% @doc Runs the benchmark and halts: 0 on success, 1 on failure.
-spec main([string()]) -> no_return().
main(Args) ->
    ok = logger:set_primary_config(level, warning),
    S = maps:from_list([list_to_tuple(string:split(A, "=")) || A <- Args]),
    Status = try run(S) of
                 ok -> 0
             catch
                 throw:{skip, Why} -> io:format("SKIPPED: ~ts~n", [Why]), 0;
                 C:R:St -> io:format(standard_error, "group_bench: ~p:~p~n~p~n", [C, R, St]), 1
             end,
    erlang:halt(Status).

ints(S, K, Default) ->
    [list_to_integer(X) || X <- string:lexemes(maps:get(K, S, Default), ",")].

run(S) ->
    "0" =:= string:trim(os:cmd("id -u")) orelse throw({skip, "needs root"}),
    [Count] = ints(S, "count", "200000"),
    Rates = ints(S, "rates", "10000,20000,30000,40000,50000,60000,80000,100000,150000"),
    [Runs] = ints(S, "runs", "3"),
    [Work] = ints(S, "work", "200"),
    Sizes = ints(S, "members", "1,2,4"),
    Dir = "/tmp/group_bench." ++ os:getpid(),
    ok = filelib:ensure_dir(filename:join(Dir, "x")),
    Frames = filename:join(Dir, "flows64.pcap"),
    {0, _} = sh(filename:join(bench_dir(), "gen_pcap") ++ " -n " ++ integer_to_list(Count)
                ++ " -o " ++ Frames ++ " -m fixed -l 64"),
    io:format("# group_bench: ~b x 64 B frames (1024 UDP flows), owner work ~b "
              "phash2/packet, ~b runs, ~ts, load ~ts~n",
              [Count, Work, Runs, os:cmd("nproc") -- "\n",
               string:trim(os:cmd("cut -d' ' -f1-3 /proc/loadavg"))]),
    Configs = [{epcap, N} || N <- Sizes] ++ [tcpdump],
    try
        Results = with_veth(
                    fun(Veth) ->
                            [{C, [ladder(Veth, Frames, C, Rates, Work) || _ <- lists:seq(1, Runs)]}
                             || C <- Configs]
                    end),
        report(Results)
    after
        _ = file:del_dir_r(Dir)
    end.

%% Ascending rates until one loses: {HighestLosslessRate, AchievedThere,
%% OwnerPpsThere, OwnerPpsAtTheFirstLossyRate (0: none lost)}.
ladder(Veth, Frames, Config, Rates, Work) ->
    ladder(Veth, Frames, Config, Rates, Work, {0, 0, 0}).

ladder(_Veth, _Frames, _Config, [], _Work, {R, A, P}) -> {R, A, P, 0};
ladder(Veth, Frames, Config, [R | Rest], Work, Best) ->
    #{sent := Sent, received := Recv, owner_pps := Pps, achieved := A} =
        once(Veth, Frames, Config, R, Work),
    io:format("  ~-10s rate ~7b (tcpreplay: ~7b)  sent ~7b  received ~7b  owners ~8b pkt/s~n",
              [name(Config), R, A, Sent, Recv, round(Pps)]),
    case Recv >= Sent of
        true -> ladder(Veth, Frames, Config, Rest, Work, {R, A, Pps});
        false -> erlang:append_element(Best, Pps)
    end.

name({epcap, N}) -> "epcap x" ++ integer_to_list(N);
name(tcpdump) -> "tcpdump".

once(#{capture := If} = Veth, Frames, {epcap, N}, Rate, Work) ->
    Owners = [spawn_link(fun() -> owner(Work) end) || _ <- lists:seq(1, N)],
    {ok, G} = epcap_group:start_link(N, [{interface, If}, {exec, ""}, {owners, Owners},
                                         {fanout, {?FANOUT_ID, hash}}, {deliver, batch},
                                         {timeout, 10}, {active, ?ACTIVE}]),
    timer:sleep(300),
    {Sent, Achieved} = replay(Veth, Frames, Rate),
    Counts = settle(Owners),
    ok = epcap_group:stop(G),
    [begin unlink(O), exit(O, kill) end || O <- Owners],
    Recv = lists:sum([C || {C, _, _} <- Counts]),
    First = lists:min([F || {_, F, _} <- Counts]),
    Last = lists:max([L || {_, _, L} <- Counts]),
    #{sent => Sent, received => Recv, owner_pps => pps(Recv, Last - First),
      achieved => Achieved};
once(#{capture := If} = Veth, Frames, tcpdump, Rate, _Work) ->
    Port = open_port({spawn_executable, os:find_executable("tcpdump")},
                     [{args, ["-i", If, "-n", "-w", "/dev/null"]}, exit_status,
                      stderr_to_stdout, binary]),
    {os_pid, OsPid} = erlang:port_info(Port, os_pid),
    timer:sleep(1000),
    T0 = erlang:monotonic_time(microsecond),
    {Sent, Achieved} = replay(Veth, Frames, Rate),
    T1 = erlang:monotonic_time(microsecond),
    %% libpcap hands over a ring block when it fills or after tcpdump's
    %% 1000 ms timeout; a SIGINT before that would not count its packets.
    timer:sleep(2000),
    {0, _} = sh("kill -INT " ++ integer_to_list(OsPid)),
    Text = port_text(Port, <<>>),
    {match, [C]} = re:run(Text, "(\\d+) packets? captured", [{capture, all_but_first, list}]),
    Recv = list_to_integer(C),
    #{sent => Sent, received => Recv, owner_pps => pps(Recv, T1 - T0),
      achieved => Achieved}.

pps(_, 0) -> 0;
pps(N, Us) -> N * 1000000 / Us.

port_text(Port, Acc) ->
    receive
        {Port, {data, D}} -> port_text(Port, <<Acc/binary, D/binary>>);
        {Port, {exit_status, _}} -> Acc
    after 30000 -> error(tcpdump_stuck)
    end.

%% An owner: for each packet, the 5-tuple and Work hashes of it.
owner(Work) ->
    process_flag(min_heap_size, 32768),
    owner(Work, 0, undefined, undefined).

owner(Work, N, First, Last) ->
    receive
        {epcap_batch, _, Batch} ->
            N1 = epcap:fold(fun({packet, _, _, _, P}, C) -> work(P, Work), C + 1 end, N, Batch),
            Now = erlang:monotonic_time(microsecond),
            owner(Work, N1, case First of undefined -> Now; _ -> First end, Now);
        {epcap_passive, Pid} ->
            ok = epcap:setopts(Pid, [{active, ?ACTIVE}]),
            owner(Work, N, First, Last);
        {count, From} ->
            From ! {count, self(), {N, First, Last}},
            owner(Work, N, First, Last);
        _ ->
            owner(Work, N, First, Last)
    end.

work(<<_:26/binary, Src:32, Dst:32, Sp:16, Dp:16, _/binary>>, Work) ->
    hash({Src, Dst, 17, Sp, Dp}, Work, 0);
work(_, _) -> 0.

hash(_, 0, Acc) -> Acc;
hash(T, K, Acc) -> hash(T, K - 1, Acc bxor erlang:phash2({T, K}, 1 bsl 27)).

%% Counts once no owner's count has moved for 500 ms.
settle(Owners) -> settle(Owners, none, 0).
settle(Owners, Last, Still) ->
    Counts = [begin O ! {count, self()},
                    receive {count, O, C} -> C after 30000 -> error(owner_stuck) end
              end || O <- Owners],
    case Counts =:= Last of
        true when Still >= 5 -> [{N, F, L} || {N, F, L} <- Counts, F =/= undefined]
                                    ++ [{0, 0, 0} || {_, undefined, _} <- Counts];
        true -> timer:sleep(100), settle(Owners, Counts, Still + 1);
        false -> timer:sleep(100), settle(Owners, Counts, 0)
    end.

replay(#{ns := Ns, sender := If}, Frames, Rate) ->
    {0, Text} = sh("ip netns exec " ++ Ns ++ " tcpreplay -q --pps=" ++ integer_to_list(Rate)
                   ++ " -i " ++ If ++ " " ++ Frames),
    {match, [N]} = re:run(Text, "Actual: (\\d+) packets", [{capture, all_but_first, list}]),
    Pps = case re:run(Text, "Rated: [0-9.]+ Bps, [0-9.]+ Mbps, ([0-9.]+) pps",
                      [{capture, all_but_first, list}]) of
              {match, [P]} -> round(list_to_float(P));
              nomatch -> 0
          end,
    {list_to_integer(N), Pps}.

report(Results) ->
    io:format("~n| capture | highest lossless rate asked, pkt/s: median (runs) | "
              "tcpreplay achieved there (median) | pkt/s reaching the owners there "
              "(median, min-max; tcpdump: received / tcpreplay run time) | "
              "pkt/s reaching the owners at the first lossy rate (median, min-max) |"
              "~n|---|---|---|---|---|~n"),
    [begin
         Rates = [R || {R, _, _, _} <- Runs],
         Achieved = [A || {_, A, _, _} <- Runs],
         Pps = [round(P) || {_, _, P, _} <- Runs],
         Sat = [round(P) || {_, _, _, P} <- Runs],
         io:format("| ~s | ~b (~s) | ~b | ~b (~b-~b) | ~b (~b-~b) |~n",
                   [name(C), median(Rates), lists:join(", ", [integer_to_list(R) || R <- Rates]),
                    median(Achieved), median(Pps), lists:min(Pps), lists:max(Pps),
                    median(Sat), lists:min(Sat), lists:max(Sat)])
     end || {C, Runs} <- Results],
    ok.

median(L) ->
    S = lists:sort(L),
    lists:nth((length(S) + 1) div 2, S).

with_veth(Fun) ->
    Id = os:getpid(),
    Ns = "epgb" ++ Id, Cap = "epg" ++ Id ++ "c", Snd = "epg" ++ Id ++ "s",
    Veth = #{ns => Ns, capture => Cap, sender => Snd},
    try
        [{0, _} = sh(C) || C <- ["ip netns add " ++ Ns,
                                 "ip link add " ++ Cap ++ " type veth peer name " ++ Snd,
                                 "ip link set " ++ Snd ++ " netns " ++ Ns,
                                 "sysctl -qw net.ipv6.conf." ++ Cap ++ ".disable_ipv6=1",
                                 "ip netns exec " ++ Ns ++ " sysctl -qw net.ipv6.conf."
                                 ++ Snd ++ ".disable_ipv6=1",
                                 "ip netns exec " ++ Ns ++ " ip link set " ++ Snd ++ " up",
                                 "ip link set " ++ Cap ++ " up"]],
        timer:sleep(200),
        Fun(Veth)
    after
        _ = sh("ip link del " ++ Cap),
        _ = sh("ip netns del " ++ Ns)
    end.

sh(Cmd) ->
    Port = open_port({spawn_executable, "/bin/sh"},
                     [{args, ["-c", Cmd]}, exit_status, stderr_to_stdout, binary]),
    port_loop(Port, <<>>).

port_loop(Port, Acc) ->
    receive
        {Port, {data, D}} -> port_loop(Port, <<Acc/binary, D/binary>>);
        {Port, {exit_status, S}} -> {S, binary_to_list(Acc)}
    end.

bench_dir() ->
    filename:dirname(proplists:get_value(source, module_info(compile))).
