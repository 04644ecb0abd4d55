%%% @doc Benchmarks of epcap: file throughput against tcpdump, live capture
%%% on a veth pair against tcpdump, a slow owner under flow control, and
%%% the latency of immediate mode.
%%%
%%% Run through the scripts `bench/file_bench', `bench/live_bench',
%%% `bench/slow_owner' and `bench/latency' (or `make -C bench bench'),
%%% which build this module and epcap into `bench/_build' and call
%%% {@link main/1}. Results are printed and written to
%%% `bench/results/NAME.txt'. The live benchmarks need root: they create a
%%% network namespace and a veth pair of their own (addresses 10.214.x.y
%%% only) and delete them when done.
%%%
%%% Example:
%%% ```
%%% erl -noshell -pa bench/_build/epcap/ebin -run epcap_bench main file 3
%%% '''
%%% @end
-module(epcap_bench).

-export([main/1]).
-export([file_bench/1, live_bench/1, slow_owner/1, latency/1]).
-export([median/1, percentile/2]).
-export([self_stat/0]).

-define(MB, (1024 * 1024)).
%% The heap a fast batch owner starts with (words; 256 KiB). With the
%% default 233 words, folding a batch collects garbage every ten packets
%% or so; see RESULTS.md, "The owner's heap".
-define(OWNER_HEAP, 32768).

%%====================================================================
%% Entry point
%%====================================================================

%% @doc Runs one benchmark, named by the first argument (`file', `live',
%% `slow' or `latency'), then halts the VM: 0 on success, 1 on failure.
%% The other arguments are `Key=Value' settings (see each benchmark).
%%
%% Example: `erl -noshell -pa bench/_build/epcap/ebin -run epcap_bench main file runs=5'.
-spec main([string()]) -> no_return().
main([Which | Args]) ->
    ok = logger:set_primary_config(level, warning),
    Settings = settings(Args),
    Fun = case Which of
              "file" -> fun file_bench/1;
              "live" -> fun live_bench/1;
              "slow" -> fun slow_owner/1;
              "latency" -> fun latency/1;
              "imm" -> fun imm_bench/1;
              "save_live" -> fun save_live_bench/1;
              _ -> fun unknown/1
          end,
    Status = try Fun(Settings) of
                 ok -> 0
             catch
                 throw:{skip, Why} ->
                     io:format("SKIPPED: ~ts~n", [Why]),
                     0;
                 Class:Reason:Stack ->
                     io:format(standard_error, "benchmark ~s failed: ~p:~p~n~p~n",
                               [Which, Class, Reason, Stack]),
                     1
             after
                 _ = file:del_dir_r(work_dir())
             end,
    erlang:halt(Status);
main([]) ->
    io:format(standard_error, "usage: main file|live|slow|latency [key=value ...]~n", []),
    erlang:halt(2).

-spec unknown(map()) -> no_return().
unknown(_) -> throw({skip, "unknown benchmark (file, live, slow or latency)"}).

settings(Args) ->
    maps:from_list(
      [case string:split(A, "=") of
           [K, V] -> {list_to_atom(K), parse_value(V)};
           [K] -> {list_to_atom(K), true}
       end || A <- Args]).

parse_value(V) ->
    try list_to_integer(V) catch error:badarg -> V end.

get(Key, Settings, Default) ->
    case os:getenv(string:uppercase(atom_to_list(Key))) of
        false -> maps:get(Key, Settings, Default);
        "" -> maps:get(Key, Settings, Default);
        Env -> maps:get(Key, Settings, parse_value(Env))
    end.

%%====================================================================
%% 1. File throughput
%%====================================================================

%% @doc File throughput: epcap per-packet, epcap batched (an owner with
%% the default heap, and one with a 256 KiB heap) and
%% `tcpdump -r FILE -w /dev/null' on 1M 64-byte frames and 1M mixed
%% frames (64..1514 bytes, seeded), after one untimed warm-up round.
%% Settings: `runs' (default 5), `count' (default 1000000).
%%
%% Example: `epcap_bench:file_bench(#{runs => 5})'.
-spec file_bench(map()) -> ok.
file_bench(S) ->
    Runs = get(runs, S, 5),
    Count = get(count, S, 1000000),
    Dir = work_dir(),
    Files = [{"64B", gen(Dir, "fixed64", Count, ["-m", "fixed", "-l", "64"])},
             {"mixed", gen(Dir, "mixed", Count, ["-m", "mixed", "-s", "42"])}],
    Tcpdump = find("tcpdump"),
    Keys = [packet, batch, batch_tuple, batch_heap, tcpdump],
    Out = open_results("file"),
    say(Out, "# epcap file throughput: ~b frames per file, ~b runs~n", [Count, Runs]),
    say(Out, "# batch+heap: the batch owner runs with {min_heap_size, ~b} (words)~n",
        [?OWNER_HEAP]),
    say(Out, "~ts~n", [machine()]),
    Table =
        [begin
             Size = filelib:file_size(File),
             say(Out, "~n## ~s: ~ts (~.1f MiB)~n", [Name, File, Size / ?MB]),
             %% One untimed round first: code loading, the page cache and
             %% the allocators' first growth are not what is measured.
             _ = [file_run(K, Tcpdump, File, Count) || K <- Keys],
             %% interleave the tools so that machine noise hits them alike
             Samples =
                 lists:foldl(
                   fun(Run, Acc) ->
                           Times = [{K, file_run(K, Tcpdump, File, Count)} || K <- Keys],
                           say(Out, "run ~b:~ts~n",
                               [Run, [io_lib:format(" ~s ~s~ts", [short(K), rate(Count, T),
                                                                 faults(F)])
                                      || {K, {T, F}} <- Times]]),
                           lists:foldl(fun({K, {T, _}}, A) ->
                                               maps:update_with(K, fun(L) -> [T | L] end, A)
                                       end, Acc, Times)
                   end, maps:from_list([{K, []} || K <- Keys]),
                   lists:seq(1, Runs)),
             Rates = maps:map(fun(_, Secs) -> [Count / T || T <- Secs] end, Samples),
             TcpMed = median(maps:get(tcpdump, Rates)),
             [begin
                  Rs = maps:get(K, Rates),
                  say(Out, "~-32s median ~8s pkt/s  spread ~s  (min ~s, max ~s)  "
                      "~.2fx tcpdump~n",
                      [label(K), fmt(median(Rs)), spread(Rs), fmt(lists:min(Rs)),
                       fmt(lists:max(Rs)), median(Rs) / TcpMed])
              end || K <- Keys],
             {Name, [median(maps:get(K, Rates)) || K <- Keys]}
         end || {Name, File} <- Files],
    report_problems(Out),
    close_results(Out),
    write_dat(Table),
    [ok = file:delete(F) || {_, F} <- Files],
    ok.

%% One timed run of configuration K: {Seconds, VM minor page faults}.
file_run(tcpdump, Tcpdump, File, _Count) ->
    {file_tcpdump(Tcpdump, File), none};
file_run(K, _Tcpdump, File, Count) ->
    with_faults(fun() -> file_epcap(File, K, Count) end).

short(packet) -> "per-packet";
short(batch) -> "batch";
short(batch_tuple) -> "batch-tuple";
short(batch_heap) -> "batch+heap";
short(tcpdump) -> "tcpdump".

faults(none) -> "";
faults(F) -> io_lib:format(" (~b faults)", [F]).

label(packet) -> "epcap per-packet";
label(batch) -> "epcap batch, fold/4";
label(batch_tuple) -> "epcap batch, fold {packet,...}";
label(batch_heap) -> "epcap batch, fold/4, tuned heap";
label(packet_10ms) -> "epcap per-packet {timeout,10}";
label(batch_10ms) -> "epcap batch {timeout,10}";
label(tcpdump) -> "tcpdump -w /dev/null";
label(tcpdump_immediate) -> "tcpdump --immediate-mode".

%% epcap's defaults ({timeout, immediate}) per packet and batched, the
%% same with a 10 ms libpcap timeout (tcpdump uses 1000 ms), and tcpdump.
%% tcpdump in immediate mode is the like-for-like reference for epcap's
%% default; plain tcpdump (1000 ms) for the {timeout, 10} rows.
live_configs() -> [packet, batch, tcpdump_immediate, packet_10ms, batch_10ms, tcpdump].

live_options(packet) -> [{deliver, packet}];
live_options(batch) -> [{deliver, batch}];
live_options(packet_10ms) -> [{deliver, packet}, {timeout, 10}];
live_options(batch_10ms) -> [{deliver, batch}, {timeout, 10}].

%% Seconds from start to the end of the capture ({epcap, eof}), checking
%% that every packet arrived. A capture that delivered every packet but
%% ended otherwise is timed all the same and reported as a problem.
file_epcap(File, Config, Count) ->
    {Deliver, SpawnOpts} = case Config of
                               packet -> {packet, []};
                               batch -> {batch, []};
                               batch_tuple -> {batch_tuple, []};
                               batch_heap -> {batch, [{min_heap_size, ?OWNER_HEAP}]}
                           end,
    {Secs, {N, _Bytes, End}} =
        in_process(SpawnOpts, fun() ->
                               T0 = now_us(),
                               {ok, Pid} = epcap:start([{file, File}, {exec, ""},
                                                        {deliver, delivery(Deliver)},
                                                        {active, true}]),
                               Result = case Deliver of
                                            packet -> count_packets(Pid, 0, 0);
                                            batch -> count_batches(Pid, 0, 0);
                                            batch_tuple -> count_tuples(Pid, 0, 0)
                                        end,
                               {(now_us() - T0) / 1.0e6, Result}
                       end),
    N =:= Count orelse error({missing_packets, Deliver, N, Count, End}),
    case End of
        eof -> ok;
        _ -> note_problem(io_lib:format("~s ~ts: all ~b packets, then ~w instead of "
                                        "eof", [Deliver, File, N, End]))
    end,
    Secs.

%% The VM's minor page faults during Fun: fresh memory touched. Runs
%% where the runtime's pipe-read buffers land in new carriers show one
%% fault per 4 KiB read (see RESULTS.md, "VM flags").
with_faults(Fun) ->
    F0 = minor_faults(),
    R = Fun(),
    {R, minor_faults() - F0}.

minor_faults() ->
    %% state ppid pgrp session tty tpgid flags minflt
    binary_to_integer(lists:nth(8, self_stat())).

%% The fields of /proc/self/stat after "pid (comm) " (proc(5): the
%% first is the state, the 8th minflt, the 12th and 13th utime and stime).
-spec self_stat() -> [binary()].
self_stat() ->
    {ok, Stat} = file:read_file("/proc/self/stat"),
    [_, Rest] = binary:split(Stat, <<") ">>),
    binary:split(Rest, <<" ">>, [global]).

count_packets(Pid, N, B) ->
    receive
        {packet, _, _, _, P} -> count_packets(Pid, N + 1, B + byte_size(P));
        {epcap, End} -> {N, B, End}
    end.

delivery(packet) -> packet;
delivery(_) -> batch.

%% The owner a user writes from epcap:fold/3's documentation: the fields
%% as arguments.
count_batches(Pid, N, B) ->
    receive
        {epcap_batch, Pid, Batch} ->
            {N1, B1} = epcap:fold(fun(_T, _L, P, {C, Bs}) ->
                                          {C + 1, Bs + byte_size(P)}
                                  end, {N, B}, Batch),
            count_batches(Pid, N1, B1);
        {epcap, End} -> {N, B, End}
    end.

%% The same with the packet as a tuple (the older form).
count_tuples(Pid, N, B) ->
    receive
        {epcap_batch, Pid, Batch} ->
            {N1, B1} = epcap:fold(fun({packet, _, _, _, P}, {C, Bs}) ->
                                          {C + 1, Bs + byte_size(P)}
                                  end, {N, B}, Batch),
            count_tuples(Pid, N1, B1);
        {epcap, End} -> {N, B, End}
    end.

%% Problems seen while measuring, printed with the results.
note_problem(Text) ->
    Problems = case erlang:get(epcap_bench_problems) of
                   undefined -> [];
                   L -> L
               end,
    erlang:put(epcap_bench_problems, [lists:flatten(Text) | Problems]).

report_problems(Out) ->
    case erlang:get(epcap_bench_problems) of
        undefined -> ok;
        Ps -> [say(Out, "PROBLEM: ~ts~n", [P]) || P <- lists:reverse(Ps)],
              erlang:erase(epcap_bench_problems),
              ok
    end.

file_tcpdump(Tcpdump, File) ->
    T0 = now_us(),
    {0, _} = run(Tcpdump, ["-r", File, "-w", "/dev/null"]),
    (now_us() - T0) / 1.0e6.

write_dat(Table) ->
    Dat = filename:join(results_dir(), "throughput.dat"),
    Lines = ["# frames  epcap_per_packet  epcap_batch_fold4  epcap_batch_tuple"
             "  epcap_batch_fold4_tuned_heap  tcpdump  (packets/s, medians)\n"
             | [io_lib:format("~s ~b ~b ~b ~b ~b~n", [Name | [round(M) || M <- Meds]])
                || {Name, Meds} <- Table]],
    ok = file:write_file(Dat, Lines).

%%====================================================================
%% 2. Live capture on a veth pair
%%====================================================================

%% @doc Live capture: 200k 64-byte broadcast frames replayed with
%% `tcpreplay --topspeed' from inside a namespace, captured on the veth
%% end outside it by epcap (per-packet and batch, with epcap's default
%% `{timeout, immediate}' and with `{timeout, 10}') and by tcpdump. Prints
%% sent, received and dropped. Settings: `runs' (default 5), `count'
%% (default 200000).
%%
%% Example: `epcap_bench:live_bench(#{runs => 5})'.
-spec live_bench(map()) -> ok.
live_bench(S) ->
    {Runs, Count, Tcpdump, Frames} = live_setup(S, "live64"),
    Out = open_results("live"),
    say(Out, "# epcap live capture on a veth pair: ~b x 64-byte frames, "
        "tcpreplay --topspeed, ~b runs~n", [Count, Runs]),
    say(Out, "~ts~n", [machine()]),
    Rows =
        with_veth(
          fun(Veth) ->
                  lists:append(
                    [begin
                         R = [{K, case K of
                                      tcpdump -> live_tcpdump(Veth, Frames, Tcpdump, []);
                                      tcpdump_immediate ->
                                          live_tcpdump(Veth, Frames, Tcpdump,
                                                       ["--immediate-mode"]);
                                      _ -> live_epcap(Veth, Frames, live_options(K))
                                  end} || K <- live_configs()],
                         [say(Out, "run ~b ~-30s sent ~7b  received ~7b  "
                              "dropped ~7b  if_dropped ~b  (replay ~s pkt/s)~n",
                              [Run, label(K), Sent, Recv, Drop, IfDrop, fmt(Pps)])
                          || {K, #{sent := Sent, received := Recv, dropped := Drop,
                                   if_dropped := IfDrop, pps := Pps}} <- R],
                         R
                     end || Run <- lists:seq(1, Runs)])
          end),
    say(Out, "~n", []),
    [begin
         Rs = [R || {K, R} <- Rows, K =:= Who],
         Loss = [100 * (Sent - Recv) / Sent || #{sent := Sent, received := Recv} <- Rs],
         Drops = [D || #{dropped := D} <- Rs],
         Recvs = [R || #{received := R} <- Rs],
         say(Out, "~-30s received median ~b (min ~b, max ~b), dropped median ~b "
             "(min ~b, max ~b), loss median ~.2f%~n",
             [label(Who), round(median(Recvs)), lists:min(Recvs), lists:max(Recvs),
              round(median(Drops)), lists:min(Drops), lists:max(Drops),
              median(Loss)])
     end || Who <- live_configs()],
    close_results(Out),
    ok = file:delete(Frames),
    ok.

%% Capture with epcap while the frames are replayed; the counts once the
%% owner has seen everything that was captured.
%% The settings, the tools and the frames of a live benchmark (as root).
live_setup(S, Name) ->
    Runs = get(runs, S, 5),
    Count = get(count, S, 200000),
    need_root(),
    Tcpdump = find("tcpdump"),
    _ = find("tcpreplay"),
    {Runs, Count, Tcpdump, gen(work_dir(), Name, Count, ["-m", "fixed", "-l", "64"])}.

%% @doc Immediate mode against `tcpdump --immediate-mode', both with a
%% 64 MiB buffer (issue 16, goal 2): `count' 64-byte frames replayed into a
%% veth at `pps' packets/s (default 150000, `pps=top' for tcpreplay's top
%% speed: that rate then depends on the CPU the capture leaves to tcpreplay,
%% and the captures are no longer offered the same rate), `runs'
%% interleaved rounds (default 5). Per round and
%% in all: each capture's loss and epcap's loss as a fraction of tcpdump's.
%% The epcap rows: per-packet and batched with the defaults (the port
%% real-time, `{priority, realtime}'), and per-packet with `{priority,
%% raised}' (nice -10, the default before) and `{priority, normal}'.
-spec imm_bench(map()) -> ok.
imm_bench(S) ->
    {Runs, Count, Tcpdump, Frames} = live_setup(S, "imm64"),
    Rate = case get(pps, S, 150000) of
               top -> top;
               "top" -> top;
               N when is_integer(N), N > 0 -> N
           end,
    Out = open_results("imm"),
    say(Out, "# immediate mode, 64 MiB buffers: ~b x 64-byte frames, tcpreplay ~s, "
        "~b interleaved rounds~n", [Count, lists:flatten(rate(#{pps => Rate})), Runs]),
    say(Out, "~ts~n", [machine()]),
    Buffer = {buffer, 64 * 1024 * 1024},
    Configs = [{"epcap per-packet", fun(V) -> live_epcap(V, Frames, [Buffer]) end},
               {"epcap batch", fun(V) -> live_epcap(V, Frames, [{deliver, batch}, Buffer]) end},
               {"epcap per-packet, priority raised",
                fun(V) -> live_epcap(V, Frames, [{priority, raised}, Buffer]) end},
               {"epcap per-packet, priority normal",
                fun(V) -> live_epcap(V, Frames, [{priority, normal}, Buffer]) end},
               {"tcpdump --immediate-mode -B 65536",
                fun(V) -> live_tcpdump(V, Frames, Tcpdump, ["--immediate-mode", "-B", "65536"]) end}],
    Lost = fun(#{sent := Sent, received := Recv}) -> Sent - Recv end,
    Rounds =
        with_veth(
          fun(Veth0) ->
                  Veth = Veth0#{pps => Rate},
                  [begin
                       R = [{Name, F(Veth)} || {Name, F} <- Configs],
                       {_, Tcp} = lists:last(R),
                       %% kernel: what pcap_stats says the ring dropped; the rest of
                       %% the loss happened before the socket (the veth, tcpreplay)
                       [say(Out, "round ~b ~-36s sent ~7b  received ~7b  lost ~6b  "
                            "kernel-dropped ~6b  (replay ~s pkt/s)  ~s~s~n",
                            [Run, Name, Sent, Recv, Lost(M), Drop, fmt(Pps),
                             ratio(Lost(M), Lost(Tcp)), port_counts(M)])
                        || {Name, #{sent := Sent, received := Recv, dropped := Drop,
                                    pps := Pps} = M} <- R],
                       R
                   end || Run <- lists:seq(1, Runs)]
          end),
    say(Out, "~n", []),
    {TcpName, _} = lists:last(Configs),
    TcpLost = [Lost(M) || R <- Rounds, {N, M} <- R, N =:= TcpName],
    [begin
         L = [Lost(M) || R <- Rounds, {N, M} <- R, N =:= Name],
         Ratios = [ratio_value(A, B) || {A, B} <- lists:zip(L, TcpLost)],
         say(Out, "~-36s lost median ~b (min ~b, max ~b); per round / tcpdump's: ~s; "
             "median ~s~n",
             [Name, round(median(L)), lists:min(L), lists:max(L),
              lists:join(" ", [io_lib:format("~.2f", [X]) || X <- Ratios]),
              ratio(median(L), median(TcpLost))])
     end || {Name, _} <- Configs],
    close_results(Out),
    ok = file:delete(Frames),
    ok.

%% @doc Saving a live capture to disk (issue 26): `count' 64-byte frames
%% replayed into a veth at tcpreplay's top speed (`pps=N' for a fixed
%% rate), each capture with a 64 MiB buffer, a new file every 2 MB and a
%% ring of 3: epcap (`{save, _}, {deliver, none}', pcapng), `dumpcap -w'
%% (pcapng) and `tcpdump -w' (pcap), `runs' interleaved rounds (default
%% 5). Loss = frames sent - frames written (epcap: `saved' of stats/1;
%% dumpcap and tcpdump: their own count at exit), and epcap's loss over
%% each reference's.
-spec save_live_bench(map()) -> ok.
save_live_bench(S) ->
    {Runs, Count, Tcpdump, Frames} = live_setup(S, "savelive64"),
    Dumpcap = find("dumpcap"),
    Rate = case get(pps, S, top) of
               N when is_integer(N), N > 0 -> N;
               _ -> top
           end,
    Dir = filename:join(work_dir(), "save_live"),
    Out = open_results("save_live"),
    say(Out, "# saving live: ~b x 64-byte frames, tcpreplay ~s, 64 MiB buffers, "
        "2 MB files, a ring of 3, ~b interleaved rounds~n",
        [Count, lists:flatten(rate(#{pps => Rate})), Runs]),
    say(Out, "~ts~n", [machine()]),
    Configs = [{"epcap {save, _}, {deliver, none}", fun(V) -> save_epcap(V, Frames, Dir, []) end},
               {"dumpcap -w", fun(V) -> save_dumpcap(V, Frames, Dumpcap, Dir) end},
               {"tcpdump -w", fun(V) -> save_tcpdump(V, Frames, Tcpdump, Dir) end},
               %% beside: immediate mode asked for ({deliver, none} alone
               %% waits up to 250 ms, as dumpcap does)
               {"epcap ... {timeout, immediate}",
                fun(V) -> save_epcap(V, Frames, Dir, [{timeout, immediate}]) end}],
    Lost = fun(#{sent := Sent, received := Recv}) -> Sent - Recv end,
    Rounds =
        with_veth(
          fun(Veth0) ->
                  Veth = Veth0#{pps => Rate},
                  [begin
                       R = [{Name, F(Veth)} || {Name, F} <- Configs],
                       [say(Out, "round ~b ~-36s sent ~7b  written ~7b  lost ~6b  "
                            "(replay ~s pkt/s)~s~n",
                            [Run, Name, Sent, Recv, Lost(M), fmt(Pps), vm_cpu(M)])
                        || {Name, #{sent := Sent, received := Recv, pps := Pps} = M} <- R],
                       R
                   end || Run <- lists:seq(1, Runs)]
          end),
    say(Out, "~n", []),
    LostOf = fun(Name) -> [Lost(M) || R <- Rounds, {N, M} <- R, N =:= Name] end,
    [{EName, _}, {DName, _}, {TName, _} | _] = Configs,
    [begin
         L = LostOf(Name),
         say(Out, "~-36s lost median ~b (min ~b, max ~b)~n",
             [Name, round(median(L)), lists:min(L), lists:max(L)])
     end || {Name, _} <- Configs],
    E = median(LostOf(EName)),
    say(Out, "epcap's loss over dumpcap's: ~s; over tcpdump's: ~s (medians)~n",
        [loss_ratio(E, median(LostOf(DName))), loss_ratio(E, median(LostOf(TName)))]),
    close_results(Out),
    _ = os:cmd("rm -rf '" ++ Dir ++ "'"),
    ok = file:delete(Frames),
    ok.

%% The VM's CPU (all its schedulers) while the frames were replayed: the
%% VM does nothing per packet when the port saves them.
vm_cpu(#{vm_cpu_ms := Ms, dropped := D, pcap_received := R}) ->
    io_lib:format("  kernel: received ~b, dropped ~b; VM CPU during the replay ~b ms",
                  [R, D, Ms]);
vm_cpu(_) -> "".

loss_ratio(0, 0) -> "both lost 0";
loss_ratio(_, 0) -> "(it lost 0)";
loss_ratio(A, B) -> io_lib:format("~.2fx", [A / B]).

%% A fresh directory the dropped port (nobody) may write.
fresh_dir(Dir) ->
    _ = os:cmd("rm -rf '" ++ Dir ++ "'"),
    ok = filelib:ensure_path(Dir),
    ok = file:change_mode(Dir, 8#777).

save_epcap(#{capture := If} = Veth, Frames, Dir, Extra) ->
    fresh_dir(Dir),
    {ok, Pid} = epcap:start([{interface, If}, {exec, ""}, {buffer, 64 * 1024 * 1024},
                             {save, filename:join(Dir, "e.pcapng")}, {deliver, none},
                             {rotate, [{size, 2000000}, {files, 3}]} | Extra]),
    {R0, _} = statistics(runtime),
    {Sent, Pps} = replay(Veth, Frames, rate(Veth)),
    {R1, _} = statistics(runtime),
    _ = settle_saved(Pid, -1, now_us()),
    {ok, #{dropped := Drop, received := PcapRecv}} = epcap:stats(Pid),
    ok = epcap:stop(Pid),
    %% written: every file's count, the ring's removed ones included
    #{sent => Sent, received => saved_sum(Pid, 0), pps => Pps, vm_cpu_ms => R1 - R0,
      dropped => Drop, pcap_received => PcapRecv}.

saved_sum(Pid, N) ->
    receive
        {epcap_saved, Pid, #{packets := P}} -> saved_sum(Pid, N + P);
        {epcap_removed, Pid, _} -> saved_sum(Pid, N)
    after 0 -> N
    end.

%% stats/1's `saved' once it has stopped moving for 500 ms.
settle_saved(Pid, Last, Since) ->
    {ok, #{saved := N}} = epcap:stats(Pid),
    Now = now_us(),
    if
        N =/= Last -> timer:sleep(100), settle_saved(Pid, N, Now);
        Now - Since >= 500000 -> N;
        true -> timer:sleep(100), settle_saved(Pid, N, Since)
    end.

save_dumpcap(#{capture := If} = Veth, Frames, Dumpcap, Dir) ->
    fresh_dir(Dir),
    Args = ["-i", If, "-B", "64", "-w", filename:join(Dir, "d.pcapng"),
            "-b", "filesize:2000", "-b", "files:3"],
    M = save_tool(Veth, Frames, Dumpcap, Args, <<"Capturing on">>),
    {match, [N]} = re:run(maps:get(text, M), "Packets captured: (\\d+)",
                          [{capture, all_but_first, list}]),
    M#{received => list_to_integer(N)}.

save_tcpdump(#{capture := If} = Veth, Frames, Tcpdump, Dir) ->
    fresh_dir(Dir),
    Args = ["-i", If, "-n", "-B", "65536", "-w", filename:join(Dir, "t.pcap"),
            "-C", "2", "-W", "3", "-Z", "root"],
    M = save_tool(Veth, Frames, Tcpdump, Args, <<"listening on">>),
    {match, [N]} = re:run(maps:get(text, M), "(\\d+) packets? captured",
                          [{capture, all_but_first, list}]),
    M#{received => list_to_integer(N)}.

%% Runs a capture program until it says Ready, replays, then SIGINT: its
%% output as a map #{sent, pps, text} (with `received' added by the caller).
save_tool(Veth, Frames, Exe, Args, Ready) ->
    Port = open_port({spawn_executable, Exe},
                     [{args, Args}, exit_status, stderr_to_stdout, binary]),
    {os_pid, OsPid} = erlang:port_info(Port, os_pid),
    _ = wait_output(Port, Ready, <<>>, 30000),
    {Sent, Pps} = replay(Veth, Frames, rate(Veth)),
    timer:sleep(1000),
    {0, _} = run("/bin/kill", ["-INT", integer_to_list(OsPid)]),
    Text = wait_exit(Port, <<>>, 30000),
    #{sent => Sent, pps => Pps, text => Text}.

ratio(_, 0) -> "(tcpdump lost 0)";
ratio(A, B) -> io_lib:format("~.2fx tcpdump's loss", [A / B]).

ratio_value(A, 0) -> float(A);
ratio_value(A, B) -> A / B.

live_epcap(#{capture := If} = Veth, Frames, Options) ->
    Self = self(),
    Owner = spawn_link(
              fun() ->
                      {ok, Pid} = epcap:start([{interface, If}, {exec, ""},
                                               {active, true} | Options]),
                      Self ! {started, self(), Pid},
                      live_count(Pid, 0)
              end),
    Pid = receive {started, Owner, P} -> P after 30000 -> error(start_timeout) end,
    {Sent, Pps} = replay(Veth, Frames, rate(Veth)),
    Received = settle(Owner),
    {ok, #{dropped := Drop, if_dropped := IfDrop, received := PcapRecv} = Stats0} =
        epcap:stats(Pid),
    Stats = maps:merge(Stats0, switches(Pid)),
    ok = epcap:stop(Pid),
    unlink(Owner),
    exit(Owner, kill),
    #{sent => Sent, received => Received, dropped => Drop, if_dropped => IfDrop,
      pcap_received => PcapRecv, pps => Pps, port => Stats}.

%% The port program's context switches so far (/proc): voluntary ones are
%% its sleeps, involuntary ones the times the kernel took its CPU away.
switches(Pid) ->
    {ok, #{os_pid := OsPid}} = epcap:info(Pid),
    Status = os:cmd("cat /proc/" ++ integer_to_list(OsPid) ++ "/status"),
    Get = fun(Key) ->
                  case re:run(Status, Key ++ ":\\s+(\\d+)", [multiline, {capture, all_but_first, list}]) of
                      {match, [V]} -> list_to_integer(V);
                      nomatch -> -1
                  end
          end,
    #{voluntary => Get("^voluntary_ctxt_switches"),
      involuntary => Get("nonvoluntary_ctxt_switches")}.

%% Where the port's time went while the ring filled (epcap:stats/1).
port_counts(#{port := #{wakeups := W, reads := Rd, batches := B, received := R,
                        credit_wait_us := C, pipe_wait_us := P} = M}) ->
    io_lib:format("  port: ~b wake-ups, ~b reads (~b pkt/read), ~b batches, "
                  "asleep for credit ~b ms, for the pipe ~b ms; preempted ~b times",
                  [W, Rd, R div max(1, Rd), B, C div 1000, P div 1000,
                   maps:get(involuntary, M, -1)]);
port_counts(_) ->
    "".

live_count(Pid, N) ->
    receive
        {packet, _, _, _, _} ->
            live_count(Pid, N + 1);
        {epcap_batch, Pid, Batch} ->
            live_count(Pid, epcap:fold(fun(_, C) -> C + 1 end, N, Batch));
        {count, From} ->
            From ! {count, self(), N},
            live_count(Pid, N);
        {epcap, Other} ->
            error({epcap, Other, N})
    end.

%% Waits until the owner's count stops moving for 500 ms.
settle(Owner) ->
    settle(Owner, -1, now_us()).

settle(Owner, Last, Since) ->
    Owner ! {count, self()},
    N = receive {count, Owner, C} -> C after 10000 -> error(owner_stuck) end,
    Now = now_us(),
    if
        N =/= Last -> timer:sleep(100), settle(Owner, N, Now);
        Now - Since >= 500000 -> N;
        true -> timer:sleep(100), settle(Owner, N, Since)
    end.

live_tcpdump(#{capture := If} = Veth, Frames, Tcpdump, Extra) ->
    Port = open_port({spawn_executable, Tcpdump},
                     [{args, Extra ++ ["-i", If, "-n", "-w", "/dev/null"]}, exit_status,
                      stderr_to_stdout, binary]),
    {os_pid, OsPid} = erlang:port_info(Port, os_pid),
    _ = wait_output(Port, <<"listening on">>, <<>>, 30000),
    {Sent, Pps} = replay(Veth, Frames, rate(Veth)),
    timer:sleep(1000),
    {0, _} = run("/bin/kill", ["-INT", integer_to_list(OsPid)]),
    Text = wait_exit(Port, <<>>, 30000),
    Num = fun(What) ->
                  case re:run(Text, "(\\d+) packets? " ++ What,
                              [multiline, {capture, all_but_first, list}]) of
                      {match, [V]} -> list_to_integer(V);
                      nomatch -> error({tcpdump_output, What, Text})
                  end
          end,
    #{sent => Sent, received => Num("captured"), dropped => Num("dropped by kernel"),
      if_dropped => 0, pcap_received => Num("received by filter"), pps => Pps}.

wait_output(Port, Want, Acc, Timeout) ->
    case binary:match(Acc, Want) of
        nomatch ->
            receive
                {Port, {data, D}} -> wait_output(Port, Want, <<Acc/binary, D/binary>>,
                                                 Timeout);
                {Port, {exit_status, S}} -> error({exited, S, Acc})
            after Timeout -> error({timeout_waiting_for, Want, Acc})
            end;
        _ ->
            Acc
    end.

wait_exit(Port, Acc, Timeout) ->
    receive
        {Port, {data, {_, Line}}} -> wait_exit(Port, <<Acc/binary, Line/binary, "\n">>,
                                               Timeout);
        {Port, {data, D}} -> wait_exit(Port, <<Acc/binary, D/binary>>, Timeout);
        {Port, {exit_status, _}} -> Acc
    after Timeout -> error({no_exit, Acc})
    end.

%% tcpreplay from inside the namespace: {PacketsSent, PacketsPerSecond}.
%% tcpreplay's rate option for a live capture: a benchmark that compares
%% losses offers every capture the same rate (`Veth#{pps => N}'); top
%% speed depends on how much CPU the capture leaves to tcpreplay.
rate(#{pps := Pps}) when is_integer(Pps) -> ["--pps=" ++ integer_to_list(Pps)];
rate(_) -> ["--topspeed"].

replay(#{ns := Ns, sender := If}, Frames, Opts) ->
    {Status, Text} = run(find("ip"), ["netns", "exec", Ns, find("tcpreplay"),
                                      "-q" | Opts] ++ ["-i", If, Frames]),
    Status =:= 0 orelse error({tcpreplay, Status, Text}),
    Sent = case re:run(Text, "Actual: (\\d+) packets", [multiline, {capture, all_but_first, list}]) of
               {match, [N]} -> list_to_integer(N);
               nomatch -> error({tcpreplay_output, Text})
           end,
    Pps = case re:run(Text, "Rated: [0-9.]+ Bps, [0-9.]+ Mbps, ([0-9.]+) pps",
                      [multiline, {capture, all_but_first, list}]) of
              {match, [P]} -> to_float(P);
              nomatch -> 0.0
          end,
    Failed = case re:run(Text, "Failed packets:\\s+(\\d+)",
                         [multiline, {capture, all_but_first, list}]) of
                 {match, [F]} -> list_to_integer(F);
                 nomatch -> 0
             end,
    {Sent - Failed, Pps}.

to_float(S) ->
    try list_to_float(S) catch error:badarg -> float(list_to_integer(S)) end.

%% A namespace with one end of a veth pair (the sender, 10.214.N.1/24);
%% the other end (the capture side) stays here, up, without an address.
%% IPv6 is off on both so that the kernel sends nothing of its own.
with_veth(Fun) ->
    Id = os:getpid(),
    Ns = "epcapbench" ++ Id,
    Cap = "epb" ++ Id ++ "c",
    Snd = "epb" ++ Id ++ "s",
    Net = integer_to_list(list_to_integer(Id) rem 250 + 1),
    Ip = find("ip"),
    Veth = #{ns => Ns, capture => Cap, sender => Snd},
    try
        ok = cmd(Ip, ["netns", "add", Ns]),
        ok = cmd(Ip, ["link", "add", Cap, "type", "veth", "peer", "name", Snd]),
        ok = cmd(Ip, ["link", "set", Snd, "netns", Ns]),
        ok = sysctl([], "net.ipv6.conf." ++ Cap ++ ".disable_ipv6=1"),
        ok = sysctl(["netns", "exec", Ns], "net.ipv6.conf." ++ Snd ++ ".disable_ipv6=1"),
        ok = cmd(Ip, ["netns", "exec", Ns, Ip, "addr", "add",
                      "10.214." ++ Net ++ ".1/24", "dev", Snd]),
        ok = cmd(Ip, ["netns", "exec", Ns, Ip, "link", "set", Snd, "up"]),
        ok = cmd(Ip, ["link", "set", Cap, "up"]),
        timer:sleep(200),
        Fun(Veth)
    after
        _ = run(Ip, ["link", "del", Cap]),
        _ = run(Ip, ["netns", "del", Ns])
    end.

sysctl(Prefix, Setting) ->
    case Prefix of
        [] -> cmd(find("sysctl"), ["-q", "-w", Setting]);
        _ -> cmd(find("ip"), Prefix ++ [find("sysctl"), "-q", "-w", Setting])
    end.

cmd(Exe, Args) ->
    case run(Exe, Args) of
        {0, _} -> ok;
        {S, Text} -> error({command_failed, [Exe | Args], S, Text})
    end.

%%====================================================================
%% 3. Slow owner
%%====================================================================

%% @doc A slow owner (sleeps 1 ms every 1000 packets): 1M packets from a
%% file with `{active, 100}' re-armed on `{epcap_passive, Pid}' (and, for
%% contrast, with `{active, once}' and `{active, true}'), then live with
%% `{active, once}'.
%% Prints peak `erlang:memory(total)' sampled every 10 ms, packets
%% received and live drops. Settings: `count' (default 1000000),
%% `live_count' (default 200000).
%%
%% Example: `epcap_bench:slow_owner(#{})'.
-spec slow_owner(map()) -> ok.
slow_owner(S) ->
    Count = get(count, S, 1000000),
    LiveCount = get(live_count, S, 200000),
    Dir = work_dir(),
    File = gen(Dir, "slow64", Count, ["-m", "fixed", "-l", "64"]),
    Out = open_results("slow"),
    say(Out, "# slow owner: sleeps 1 ms every 1000 packets~n~ts~n", [machine()]),
    [begin
         #{received := N, peak := Peak, base := Base, secs := Secs, 'end' := End} =
             slow_file(File, Active),
         End =:= eof orelse note_problem(io_lib:format("slow owner {active, ~p}: ~b "
                                                      "packets, then ~w instead of eof",
                                                      [Active, N, End])),
         say(Out, "file ~b x 64B, ~-14s received ~b/~b, peak memory ~.1f MiB "
             "(+~.1f MiB over ~.1f MiB before), ~.1f s~n",
             [Count, io_lib:format("~p", [{active, Active}]), N, Count, Peak / ?MB,
              (Peak - Base) / ?MB, Base / ?MB, Secs]),
         N =:= Count orelse say(Out, "ERROR: ~b packets missing~n", [Count - N])
     end || Active <- [100, once, true]],
    ok = file:delete(File),
    case is_root() andalso os:find_executable("tcpreplay") =/= false of
        false ->
            say(Out, "live: skipped (needs root and tcpreplay)~n", []);
        true ->
            Frames = gen(Dir, "slowlive64", LiveCount, ["-m", "fixed", "-l", "64"]),
            _ = with_veth(
              fun(Veth) ->
                      [begin
                           R = slow_live(Veth, Frames),
                           say(Out, "live ~-14s run ~b: sent ~b, received ~b, "
                               "dropped ~b, if_dropped ~b, peak memory ~.1f MiB "
                               "(+~.1f MiB)~n",
                               ["{active,once}", Run | [maps:get(K, R)
                                                        || K <- [sent, received,
                                                                 dropped, if_dropped]]]
                               ++ [maps:get(peak, R) / ?MB,
                                   (maps:get(peak, R) - maps:get(base, R)) / ?MB])
                       end || Run <- lists:seq(1, get(runs, S, 3))]
              end),
            ok = file:delete(Frames)
    end,
    report_problems(Out),
    close_results(Out),
    ok.

slow_file(File, Active) ->
    in_process(
      fun() ->
              Base = erlang:memory(total),
              Sampler = start_sampler(),
              T0 = now_us(),
              {ok, Pid} = epcap:start([{file, File}, {exec, ""}, {active, Active}]),
              {N, End} = slow_loop(Pid, Active, 0),
              Secs = (now_us() - T0) / 1.0e6,
              Peak = stop_sampler(Sampler),
              #{received => N, peak => Peak, base => Base, secs => Secs, 'end' => End}
      end).

slow_loop(Pid, Active, N) ->
    receive
        {packet, _, _, _, _} ->
            N1 = slow_down(N + 1),
            _ = case Active of
                    once -> rearm(Pid, once);
                    _ -> ok
                end,
            slow_loop(Pid, Active, N1);
        {epcap_passive, Pid} ->
            ok = rearm(Pid, Active),
            slow_loop(Pid, Active, N);
        {epcap, End} ->
            {N, End}
    end.

%% After the last packet the capture may have ended already (its eof
%% follows the last packet at once): then there is nothing to re-arm.
rearm(Pid, Active) ->
    case epcap:setopts(Pid, [{active, Active}]) of
        ok -> ok;
        {error, closed} -> ok
    end.

slow_live(#{capture := If} = Veth, Frames) ->
    Self = self(),
    Owner = spawn_link(
              fun() ->
                      Base = erlang:memory(total),
                      Sampler = start_sampler(),
                      {ok, Pid} = epcap:start([{interface, If}, {exec, ""},
                                               {active, once}]),
                      Self ! {started, self(), Pid},
                      N = once_loop(Pid, 0),
                      Peak = stop_sampler(Sampler),
                      Self ! {done, self(), N, Base, Peak}
              end),
    Pid = receive {started, Owner, P} -> P after 30000 -> error(start_timeout) end,
    {Sent, _} = replay(Veth, Frames, ["--topspeed"]),
    _ = settle(Owner),
    {ok, #{dropped := Drop, if_dropped := IfDrop}} = epcap:stats(Pid),
    Owner ! {finish, self()},
    receive
        {done, Owner, N, Base, Peak} ->
            ok = epcap:stop(Pid),
            #{sent => Sent, received => N, dropped => Drop, if_dropped => IfDrop,
              base => Base, peak => Peak}
    after 30000 ->
            error(slow_owner_stuck)
    end.

%% The slow owner's pace: 1 ms of sleep every 1000 packets.
slow_down(N) when N rem 1000 =:= 0 -> timer:sleep(1), N;
slow_down(N) -> N.

%% {active, once}: re-armed after every packet, as with gen_tcp.
once_loop(Pid, N) ->
    receive
        {packet, _, _, _, _} ->
            N1 = slow_down(N + 1),
            ok = epcap:setopts(Pid, [{active, once}]),
            once_loop(Pid, N1);
        {count, From} ->
            From ! {count, self(), N},
            once_loop(Pid, N);
        {finish, _} ->
            N;
        {epcap, Other} ->
            error({epcap, Other, N})
    end.

start_sampler() ->
    Parent = self(),
    spawn_link(fun() -> sample(Parent, erlang:memory(total)) end).

sample(Parent, Peak) ->
    receive
        {stop, Parent} -> Parent ! {peak, self(), Peak}
    after 10 ->
            sample(Parent, max(Peak, erlang:memory(total)))
    end.

stop_sampler(Sampler) ->
    Sampler ! {stop, self()},
    receive {peak, Sampler, Peak} -> Peak end.

%%====================================================================
%% 4. Latency
%%====================================================================

%% @doc Latency of immediate mode: frames replayed at about 1000 per
%% second on the veth pair for a few seconds; for each packet, the time
%% it reached the owner minus its capture time stamp (microseconds).
%% Settings: `seconds' (default 5), `pps' (default 1000), `runs' (default 3).
%%
%% Example: `epcap_bench:latency(#{seconds => 5})'.
-spec latency(map()) -> ok.
latency(S) ->
    Secs = get(seconds, S, 5),
    Pps = get(pps, S, 1000),
    Runs = get(runs, S, 3),
    need_root(),
    Dir = work_dir(),
    Frames = gen(Dir, "lat64", Secs * Pps, ["-m", "fixed", "-l", "64"]),
    Out = open_results("latency"),
    say(Out, "# latency, {timeout, immediate}: ~b frames at ~b pkt/s, "
        "owner arrival time - packet time stamp (microseconds)~n~ts~n",
        [Secs * Pps, Pps, machine()]),
    Tcpdump = os:find_executable("tcpdump"),
    All = with_veth(
            fun(Veth) ->
                    lists:append(
                      [[begin
                            Ds = case Who of
                                     epcap -> latency_run(Veth, Frames, Pps);
                                     tcpdump -> latency_tcpdump(Veth, Frames, Pps,
                                                                Tcpdump)
                                 end,
                            say(Out, "run ~b ~-8s ~b packets, p50 ~b, p90 ~b, "
                                "p99 ~b, p99.9 ~b, max ~b~n",
                                [Run, Who, length(Ds)
                                 | [percentile(P, Ds) || P <- [50, 90, 99, 99.9, 100]]]),
                            {Who, Ds}
                        end || Who <- [epcap, tcpdump], Who =:= epcap orelse
                                                            Tcpdump =/= false]
                       || Run <- lists:seq(1, Runs)])
            end),
    say(Out, "~n", []),
    [begin
         P50s = [percentile(50, Ds) || {W, Ds} <- All, W =:= Who],
         P99s = [percentile(99, Ds) || {W, Ds} <- All, W =:= Who],
         say(Out, "~-8s p99 median ~b us (min ~b, max ~b); p50 median ~b us~n",
             [Who, round(median(P99s)), lists:min(P99s), lists:max(P99s),
              round(median(P50s))])
     end || Who <- [epcap, tcpdump], lists:keymember(Who, 1, All)],
    close_results(Out),
    ok = file:delete(Frames),
    ok.

latency_run(#{capture := If} = Veth, Frames, Pps) ->
    Self = self(),
    Owner = spawn_link(
              fun() ->
                      {ok, Pid} = epcap:start([{interface, If}, {exec, ""},
                                               {timeout, immediate},
                                               {time_unit, microsecond},
                                               {active, true}]),
                      Self ! {started, self(), Pid},
                      lat_loop(Pid, [])
              end),
    Pid = receive {started, Owner, P} -> P after 30000 -> error(start_timeout) end,
    {_Sent, _} = replay(Veth, Frames, ["--pps=" ++ integer_to_list(Pps)]),
    _ = settle(Owner),
    Owner ! {finish, self()},
    receive
        {delays, Owner, Ds} ->
            ok = epcap:stop(Pid),
            lists:sort(Ds)
    after 30000 ->
            error(latency_owner_stuck)
    end.

%% The same through tcpdump (--immediate-mode, line-buffered text read
%% through a port), as a baseline of what this machine allows.
latency_tcpdump(#{capture := If} = Veth, Frames, Pps, Tcpdump) ->
    Port = open_port({spawn_executable, Tcpdump},
                     [{args, ["-i", If, "-n", "-l", "-tt", "--immediate-mode"]},
                      {line, 4096}, exit_status, stderr_to_stdout, binary]),
    {os_pid, OsPid} = erlang:port_info(Port, os_pid),
    wait_line(Port, <<"listening on">>),
    Self = self(),
    Replayer = spawn_link(fun() ->
                                  R = replay(Veth, Frames,
                                             ["--pps=" ++ integer_to_list(Pps)]),
                                  Self ! {replayed, self(), R}
                          end),
    Ds = tcpdump_lines(Port, Replayer, undefined, []),
    {0, _} = run("/bin/kill", ["-INT", integer_to_list(OsPid)]),
    _ = wait_exit(Port, <<>>, 30000),
    lists:sort(Ds).

wait_line(Port, Want) ->
    receive
        {Port, {data, {_, Line}}} ->
            case binary:match(Line, Want) of
                nomatch -> wait_line(Port, Want);
                _ -> ok
            end;
        {Port, {exit_status, S}} -> error({tcpdump_exited, S})
    after 30000 -> error(tcpdump_not_listening)
    end.

%% Until the replay is over and no line came for 500 ms.
tcpdump_lines(Port, Replayer, Done, Acc) ->
    receive
        {Port, {data, {eol, <<Sec:10/binary, ".", Usec:6/binary, " ", _/binary>>}}} ->
            T = binary_to_integer(Sec) * 1000000 + binary_to_integer(Usec),
            tcpdump_lines(Port, Replayer, Done,
                          [os:system_time(microsecond) - T | Acc]);
        {Port, {data, _}} ->
            tcpdump_lines(Port, Replayer, Done, Acc);
        {replayed, Replayer, _} ->
            tcpdump_lines(Port, Replayer, done, Acc)
    after quiet(Done) ->
            Acc
    end.

quiet(done) -> 500;
quiet(_) -> infinity.

lat_loop(Pid, Acc) ->
    receive
        {packet, _, T, _, _} ->
            lat_loop(Pid, [os:system_time(microsecond) - T | Acc]);
        {count, From} ->
            From ! {count, self(), length(Acc)},
            lat_loop(Pid, Acc);
        {finish, From} ->
            From ! {delays, self(), Acc};
        {epcap, Other} ->
            error({epcap, Other})
    end.

%%====================================================================
%% Statistics
%%====================================================================

%% @doc The median of a non-empty list of numbers.
%% Example: `2 = epcap_bench:median([3, 1, 2])'.
-spec median([number()]) -> number().
median(L) ->
    S = lists:sort(L),
    N = length(S),
    case N rem 2 of
        1 -> lists:nth(N div 2 + 1, S);
        0 -> (lists:nth(N div 2, S) + lists:nth(N div 2 + 1, S)) / 2
    end.

%% @doc The P-th percentile (nearest rank) of a non-empty list.
%% Example: `99 = epcap_bench:percentile(99, lists:seq(1, 100))'.
-spec percentile(number(), [number()]) -> number().
percentile(P, L) ->
    S = lists:sort(L),
    N = length(S),
    Rank = max(1, min(N, ceil(P / 100 * N))),
    lists:nth(Rank, S).

spread(Rs) ->
    io_lib:format("~.1f%", [100 * (lists:max(Rs) - lists:min(Rs)) / median(Rs)]).

rate(Count, Secs) -> fmt(Count / Secs).

fmt(X) when X >= 1.0e6 -> io_lib:format("~.2fM", [X / 1.0e6]);
fmt(X) when X >= 1.0e3 -> io_lib:format("~.1fk", [X / 1.0e3]);
fmt(X) -> io_lib:format("~.1f", [float(X)]).

%%====================================================================
%% Helpers
%%====================================================================

now_us() -> erlang:monotonic_time(microsecond).

%% Runs Fun in a fresh process (its own heap and mailbox) and returns
%% its result.
in_process(Fun) -> in_process([], Fun).

in_process(SpawnOpts, Fun) ->
    Parent = self(),
    {Pid, Ref} = spawn_opt(fun() -> Parent ! {in_process, self(), Fun()} end,
                           [monitor | SpawnOpts]),
    receive
        {in_process, Pid, Result} ->
            demonitor(Ref, [flush]),
            Result;
        {'DOWN', Ref, process, Pid, Reason} ->
            error(Reason)
    end.

run(Exe, Args) ->
    Port = open_port({spawn_executable, Exe},
                     [{args, Args}, exit_status, stderr_to_stdout, binary]),
    run_collect(Port, []).

run_collect(Port, Acc) ->
    receive
        {Port, {data, D}} -> run_collect(Port, [Acc, D]);
        {Port, {exit_status, S}} -> {S, binary_to_list(iolist_to_binary(Acc))}
    end.

find(Name) ->
    case os:find_executable(Name, os:getenv("PATH", "") ++ ":/usr/sbin:/sbin") of
        false -> throw({skip, Name ++ " not installed"});
        Path -> Path
    end.

is_root() ->
    string:trim(os:cmd("id -u")) =:= "0".

need_root() ->
    is_root() orelse throw({skip, "needs root (network namespace, veth)"}).

bench_dir() ->
    case os:getenv("EPCAP_BENCH_DIR") of
        false -> filename:dirname(proplists:get_value(source, module_info(compile)));
        D -> D
    end.

results_dir() ->
    D = filename:join(bench_dir(), "results"),
    ok = filelib:ensure_dir(filename:join(D, "x")),
    D.

work_dir() ->
    D = filename:join(case os:getenv("TMPDIR") of
                          false -> "/tmp";
                          T -> T
                      end, "epcap_bench." ++ os:getpid()),
    ok = filelib:ensure_dir(filename:join(D, "x")),
    D.

gen(Dir, Name, Count, Args) ->
    File = filename:join(Dir, Name ++ ".pcap"),
    Gen = filename:join(bench_dir(), "gen_pcap"),
    filelib:is_regular(Gen) orelse error({not_built, Gen}),
    {0, _} = run(Gen, ["-n", integer_to_list(Count), "-o", File | Args]),
    %% The kernel would otherwise write the new file back to disk during
    %% the first runs (768 MiB for the mixed file), stealing a core.
    {0, _} = run(find("sync"), []),
    File.

machine() ->
    Cpu = case re:run(os:cmd("grep -m1 'model name' /proc/cpuinfo"),
                      ":\\s*(.*)", [multiline, {capture, all_but_first, list}]) of
              {match, [M]} -> M;
              nomatch -> "unknown CPU"
          end,
    Tcpdump = string:trim(os:cmd("tcpdump --version 2>&1 | head -2 | tr '\\n' ' '")),
    io_lib:format("# ~ts, ~s cores, kernel ~ts, OTP ~s, ~ts~n"
                  "# VM flags: \"~ts\" (std_alloc main carrier ~b KiB)~n# ~ts",
                  [Cpu, string:trim(os:cmd("nproc")), string:trim(os:cmd("uname -r")),
                   erlang:system_info(otp_release), Tcpdump,
                   case os:getenv("EPCAP_BENCH_ERL_FLAGS") of false -> ""; F -> F end,
                   std_alloc_mmbcs() div 1024,
                   string:trim(os:cmd("date -u '+%Y-%m-%d %H:%M:%S UTC'"))]).

%% The size of std_alloc's main carrier, which the benchmark scripts set
%% with +MDmmbcs: the buffers the runtime reads a port's pipe into come
%% from std_alloc (see RESULTS.md, "VM flags").
std_alloc_mmbcs() ->
    lists:max([0 | [Size || {instance, _, Info} <- erlang:system_info({allocator, std_alloc}),
                            {options, Opts} <- [lists:keyfind(options, 1, Info)],
                            {mmbcs, Size} <- [lists:keyfind(mmbcs, 1, Opts)]]]).

open_results(Name) ->
    Path = filename:join(results_dir(), Name ++ ".txt"),
    {ok, F} = file:open(Path, [write, {encoding, utf8}]),
    {F, Path}.

close_results({F, Path}) ->
    ok = file:close(F),
    io:format("~nwritten to ~ts~n", [Path]).

say({F, _}, Fmt, Args) ->
    Text = io_lib:format(Fmt, Args),
    io:put_chars(Text),
    io:put_chars(F, Text).
