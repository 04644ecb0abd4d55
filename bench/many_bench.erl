%%% @doc Many captures in one VM (issue 16, goal 3), at the VM's default
%%% flags and every process's default heap:
%%%
%%% <ul>
%%% <li>1, 8 and 32 concurrent file captures of the same file of `count'
%%%     64-byte frames, each with its own owner: total packets/s (all
%%%     packets over the time from the first start to the last end) and
%%%     the VM's peak `erlang:memory(total)' (sampled every 10 ms), per
%%%     packet (the default delivery) and batched (`epcap:fold/3' with the
%%%     four-argument fun); each delivery in a VM of its own (`peer'),
%%%     started with the default flags; then, as an experiment that is not
%%%     epcap, `noport': the owner folds over chunks that a process of
%%%     its own reads from the file, with no port program at all (goal
%%%     3's ratio with the VM reading the file itself);</li>
%%% <li>where the CPU went in those runs (Linux `/proc'): the VM's CPU
%%%     time and that of every other process (the port programs, mostly)
%%%     per packet, how busy the machine's cores were, and the VM's page
%%%     faults in a run. One capture's VM side runs on one scheduler; once
%%%     the cores are busy, more captures add throughput only as the CPU
%%%     a packet costs falls;</li>
%%% <li>start-to-first-packet and start-to-end-of-file of a 12-packet
%%%     file, over `starts' starts, one at a time;</li>
%%% <li>memory of idle live captures (on `lo', a filter that matches
%%%     nothing): the VM's growth per capture and each port program's
%%%     resident memory.</li>
%%% </ul>
%%% Settings (`key=value'): `count' (1000000), `runs' (3), `starts' (200),
%%% `idle' (32). Run by `bench/many_bench' or `make bench-many'.
%%% @end
-module(many_bench).

-export([main/0, main/1]).
-export([mode_runs/4]).

-define(MB, (1024 * 1024)).

-spec main() -> no_return().
main() -> main([]).

-spec main([string()]) -> no_return().
main(Args) ->
    S = maps:from_list([parse(A) || A <- Args]),
    try run(S) of
        ok -> halt(0)
    catch
        C:R:St ->
            io:format("many_bench failed: ~p:~p~n~p~n", [C, R, St]),
            halt(1)
    end.

parse(A) ->
    [K, V] = string:split(A, "="),
    {list_to_atom(K), list_to_integer(V)}.

run(S) ->
    Count = maps:get(count, S, 1000000),
    Runs = maps:get(runs, S, 3),
    Starts = maps:get(starts, S, 200),
    Idle = maps:get(idle, S, 32),
    Dir = string:trim(os:cmd("mktemp -d /tmp/many_bench.XXXXXX")),
    Big = gen(Dir, "fixed64", Count),
    Small = gen(Dir, "twelve", 12),
    Out = open_results(),
    say(Out, "# epcap, many captures in one VM: ~b frames of 64 bytes per capture, ~b runs~n",
        [Count, Runs]),
    say(Out, "# OTP ~s, ~b schedulers, default VM flags and heaps, ~ts~n",
        [erlang:system_info(otp_release), erlang:system_info(schedulers_online),
         string:trim(os:cmd("date -u '+%Y-%m-%d %H:%M:%S UTC'"))]),
    Table = [{Mode, N, Results} || Mode <- [batch, packet, noport],
                                   {N, Results} <- in_fresh_vm(Big, Mode, Count, Runs)],
    say(Out, "~n## Concurrent file captures (total packets/s, median of ~b; VM peak memory)~n",
        [Runs]),
    [begin
         Rates = [R || {R, _, _, _} <- Results],
         Peaks = [P || {_, P, _, _} <- Results],
         One = median([R || {R, _, _, _} <- proplists:get_value(1, [{N1, Rs} || {M1, N1, Rs} <- Table,
                                                                                M1 =:= Mode])]),
         say(Out, "~-7s ~2b captures: ~8s pkt/s (min ~s, max ~s)  ~.2fx one capture  "
             "peak ~.1f MiB (+~.1f MiB)~n",
             [Mode, N, fmt(median(Rates)), fmt(lists:min(Rates)), fmt(lists:max(Rates)),
              median(Rates) / One, median(Peaks) / ?MB,
              median([P - B || {_, P, B, _} <- Results]) / ?MB]),
         cpu_line(Out, [C || {_, _, _, C} <- Results])
     end || {Mode, N, Results} <- Table],
    starts(Out, Small, Starts),
    idle(Out, Idle),
    file:close(Out),
    os:cmd("rm -rf " ++ Dir),
    ok.

%%--------------------------------------------------------------------
%% Concurrent captures
%%--------------------------------------------------------------------

%% Each delivery runs in a VM of its own, started with the default flags:
%% per-packet runs can leave the runtime's allocators in a page-fault mode
%% (bench/RESULTS.md, section 1, "VM flags"), and the order of the modes
%% must not decide their figures.
in_fresh_vm(File, Mode, Count, Runs) ->
    Ebin = filename:dirname(code:which(?MODULE)),
    {ok, Peer, _} = peer:start_link(#{connection => standard_io, args => ["-pa", Ebin]}),
    try
        peer:call(Peer, ?MODULE, mode_runs, [File, Mode, Count, Runs], infinity)
    after
        peer:stop(Peer)
    end.

%% @private In the fresh VM: a warm-up, then `Runs' runs of 1, 8 and 32
%% concurrent captures.
-spec mode_runs(file:filename(), packet | batch | noport, pos_integer(), pos_integer()) ->
          [{pos_integer(), [tuple()]}].
mode_runs(File, Mode, Count, Runs) ->
    _ = concurrent(File, 1, Mode, Count),             % warm-up, not reported
    [{N, [concurrent(File, N, Mode, Count) || _ <- lists:seq(1, Runs)]} || N <- [1, 8, 32]].

%% {total packets/s, peak VM memory, VM memory before, CPU}.
concurrent(File, N, Mode, Count) ->
    garbage_collect(),
    Before = erlang:memory(total),
    Sampler = spawn_link(fun() -> sample(Before) end),
    Self = self(),
    Cpu0 = cpu_ticks(),
    T0 = erlang:monotonic_time(microsecond),
    Owners = [spawn_link(fun() -> Self ! {done, self(), own(File, Mode)} end)
              || _ <- lists:seq(1, N)],
    Got = [receive {done, O, C} -> C end || O <- Owners],
    T1 = erlang:monotonic_time(microsecond),
    Cpu1 = cpu_ticks(),
    Sampler ! {stop, Self},
    Peak = receive {peak, P} -> P end,
    [Count = C || C <- Got],
    {N * Count / ((T1 - T0) / 1.0e6), Peak, Before, cpu(Cpu0, Cpu1, N * Count, T1 - T0)}.

%% The VM's CPU ticks (all its threads, user and system), the machine's
%% busy ticks (all cores, all processes), the ticks the hypervisor took
%% from this machine (steal) and the VM's page faults (minor), from /proc;
%% `none' where there is no /proc.
cpu_ticks() ->
    try
        Fields = epcap_bench:self_stat(),
        Vm = binary_to_integer(lists:nth(12, Fields)) + binary_to_integer(lists:nth(13, Fields)),
        Faults = binary_to_integer(lists:nth(8, Fields)),
        {ok, Stat} = file:read_file("/proc/stat"),
        [<<"cpu">> | Ticks] = binary:split(hd(binary:split(Stat, <<"\n">>)), <<" ">>,
                                           [global, trim_all]),
        %% guest time is counted in user time already
        [User, Nice, System, _Idle, _IoWait, Irq, SoftIrq, Steal | _] =
            [binary_to_integer(T) || T <- Ticks],
        {Vm, User + Nice + System + Irq + SoftIrq, Steal, Faults}
    catch
        _:_ -> none
    end.

%% {VM ns a packet, other processes' ns a packet, busy share of all
%% cores, stolen share of all cores, VM page faults}, or none.
cpu({Vm0, Busy0, Steal0, Faults0}, {Vm1, Busy1, Steal1, Faults1}, Packets, WallUs) ->
    Hz = clock_ticks(),
    Ns = fun(Ticks) -> Ticks * 1.0e9 / Hz / Packets end,
    Share = fun(Ticks) -> Ticks / Hz / (WallUs / 1.0e6) / cores() end,
    {Ns(Vm1 - Vm0), Ns((Busy1 - Busy0) - (Vm1 - Vm0)), Share(Busy1 - Busy0), Share(Steal1 - Steal0),
     Faults1 - Faults0};
cpu(_, _, _, _) ->
    none.

cores() ->
    case erlang:system_info(logical_processors_available) of
        N when is_integer(N) -> N;
        _ -> erlang:system_info(schedulers_online)
    end.

clock_ticks() ->
    case string:to_integer(os:cmd("getconf CLK_TCK")) of
        {Hz, _} when is_integer(Hz), Hz > 0 -> Hz;
        _ -> 100
    end.

cpu_line(Out, Cpus) ->
    case [C || {_, _, _, _, _} = C <- Cpus] of
        [] ->
            ok;
        Known ->
            [Vm, Other, Busy, Stolen, Faults] =
                [median([element(I, C) || C <- Known]) || I <- lists:seq(1, 5)],
            say(Out, "                     CPU a packet: VM ~b ns, other processes ~b ns; "
                "cores busy ~b%, stolen by the host ~b%; VM page faults ~b~n",
                [round(Vm), round(Other), round(100 * Busy), round(100 * Stolen), round(Faults)])
    end.

own(File, noport) ->
    Self = self(),
    Reader = spawn_link(fun() -> reader(File, Self) end),
    count_chunks(Reader, 0);
own(File, Mode) ->
    {ok, Pid} = epcap:start([{file, File}, {deliver, Mode}]),
    count(Pid, Mode, 0).

count(Pid, packet, N) ->
    receive
        {packet, _, _, _, _} -> count(Pid, packet, N + 1);
        {epcap, eof} -> N
    end;
count(Pid, batch, N) ->
    receive
        {epcap_batch, Pid, B} -> count(Pid, batch, epcap:fold(fun(_, _, _, A) -> A + 1 end, N, B));
        {epcap, eof} -> N
    end.

%% The experiment `noport': no port program at all. A process of the
%% capture's reads the file itself, in 64 KiB reads (the size of the
%% runtime's own reads of a port's pipe; 256 KiB reads allocate fresh
%% pages every time here), and sends its whole records to the owner, two
%% chunks ahead at most; the owner folds over the file's own records with
%% the same fun as `batch'. No filter, no privilege drop, no sandbox: it
%% says what goal 3's ratio is when the VM reads the file itself
%% (bench/RESULTS.md, section 0.000000).
count_chunks(Reader, N) ->
    receive
        {chunk, Reader, Bin} ->
            Reader ! more,
            count_chunks(Reader, fold_records(fun(_, _, _, A) -> A + 1 end, N, Bin));
        {eof, Reader} -> N
    end.

%% gen_pcap writes in the host's byte order: little-endian on every machine
%% this runs on (reader/2 refuses any other).
fold_records(Fun, Acc, <<Sec:32/little, Us:32/little, CapLen:32/little, Len:32/little,
                         Pkt:CapLen/binary, Rest/binary>>) ->
    fold_records(Fun, Fun(Sec * 1000000 + Us, Len, Pkt, Acc), Rest);
fold_records(_, Acc, _) ->
    Acc.

reader(File, Owner) ->
    {ok, Fd} = file:open(File, [raw, binary, read]),
    {ok, <<16#a1b2c3d4:32/little, _:20/binary>>} = file:read(Fd, 24),
    read_chunks(Fd, Owner, <<>>, 2).

read_chunks(Fd, Owner, Left, 0) ->
    receive more -> read_chunks(Fd, Owner, Left, 1) end;
read_chunks(Fd, Owner, Left, Ahead) ->
    case file:read(Fd, 65536) of
        {ok, Bin} ->
            All = <<Left/binary, Bin/binary>>,
            Size = whole_size(All, 0),
            <<Whole:Size/binary, Rest/binary>> = All,
            Owner ! {chunk, self(), Whole},
            read_chunks(Fd, Owner, Rest, Ahead - 1);
        eof ->
            ok = file:close(Fd),
            Owner ! {eof, self()}
    end.

whole_size(<<_:64, CapLen:32/little, _:32, _:CapLen/binary, Rest/binary>>, Size) ->
    whole_size(Rest, Size + 16 + CapLen);
whole_size(_, Size) ->
    Size.

sample(Peak) ->
    receive
        {stop, From} -> From ! {peak, max(Peak, erlang:memory(total))}
    after 10 ->
            sample(max(Peak, erlang:memory(total)))
    end.

%%--------------------------------------------------------------------
%% Start latency
%%--------------------------------------------------------------------

starts(Out, File, Starts) ->
    _ = [start_once(File) || _ <- lists:seq(1, 10)],   % warm-up
    Samples = [start_once(File) || _ <- lists:seq(1, Starts)],
    First = lists:sort([F || {F, _} <- Samples]),
    Eof = lists:sort([E || {_, E} <- Samples]),
    say(Out, "~n## Starting a capture (a 12-packet file, ~b starts one after another)~n",
        [Starts]),
    say(Out, "start to first packet:  median ~.2f ms, p90 ~.2f ms, min ~.2f, max ~.2f~n",
        [pct(First, 50), pct(First, 90), hd(First), lists:last(First)]),
    say(Out, "start to end of file:   median ~.2f ms, p90 ~.2f ms, min ~.2f, max ~.2f~n",
        [pct(Eof, 50), pct(Eof, 90), hd(Eof), lists:last(Eof)]).

%% Milliseconds from start/1 to the first packet and to eof.
start_once(File) ->
    T0 = erlang:monotonic_time(microsecond),
    {ok, Pid} = epcap:start([{file, File}]),
    receive {packet, _, _, _, _} -> ok end,
    T1 = erlang:monotonic_time(microsecond),
    drain(Pid),
    T2 = erlang:monotonic_time(microsecond),
    {(T1 - T0) / 1000, (T2 - T0) / 1000}.

drain(Pid) ->
    receive
        {packet, _, _, _, _} -> drain(Pid);
        {epcap, eof} -> ok
    end.

%%--------------------------------------------------------------------
%% Idle captures
%%--------------------------------------------------------------------

idle(Out, K) ->
    say(Out, "~n## ~b idle live captures (lo, a filter that matches nothing)~n", [K]),
    garbage_collect(),
    timer:sleep(200),
    Before = erlang:memory(total),
    Procs0 = erlang:memory(processes),
    Caps = [start_idle() || _ <- lists:seq(1, K)],
    case [R || {error, R} <- Caps] of
        [] ->
            timer:sleep(500),
            After = erlang:memory(total),
            Procs1 = erlang:memory(processes),
            Rss = [rss_kib(Pid) || {ok, Pid} <- Caps],
            say(Out, "VM memory: +~.1f KiB per capture (total), +~.1f KiB (processes)~n",
                [(After - Before) / K / 1024, (Procs1 - Procs0) / K / 1024]),
            say(Out, "port program resident memory: median ~b KiB (min ~b, max ~b)~n",
                [round(median(Rss)), lists:min(Rss), lists:max(Rss)]),
            [epcap:stop(Pid) || {ok, Pid} <- Caps],
            ok;
        [R | _] ->
            [epcap:stop(Pid) || {ok, Pid} <- Caps],
            say(Out, "not measured: ~p (live captures need root or capabilities)~n", [R])
    end.

start_idle() ->
    epcap:start([{interface, "lo"}, {filter, "ether src 02:ba:ad:00:00:01"}]).

rss_kib(Pid) ->
    {ok, #{os_pid := OsPid}} = epcap:info(Pid),
    {ok, B} = file:read_file("/proc/" ++ integer_to_list(OsPid) ++ "/status"),
    {match, [Kib]} = re:run(B, "VmRSS:\\s+([0-9]+) kB", [{capture, all_but_first, list}]),
    list_to_integer(Kib).

%%--------------------------------------------------------------------
%% Helpers
%%--------------------------------------------------------------------

gen(Dir, Name, Count) ->
    Path = filename:join(Dir, Name ++ ".pcap"),
    Gen = filename:join(here(), "gen_pcap"),
    "" = os:cmd(Gen ++ " -n " ++ integer_to_list(Count) ++ " -o " ++ Path
                ++ " -m fixed -l 64 2>&1"),
    Path.

%% bench/, where bench/many_bench runs us.
here() ->
    {ok, Dir} = file:get_cwd(),
    Dir.

open_results() ->
    Dir = filename:join(here(), "results"),
    ok = filelib:ensure_dir(filename:join(Dir, "x")),
    {ok, F} = file:open(filename:join(Dir, "many.txt"), [write, {encoding, utf8}]),
    F.

say(Out, Fmt, Args) ->
    io:format(Fmt, Args),
    io:format(Out, Fmt, Args).

median(L) -> pct(lists:sort(L), 50).

pct(Sorted, P) ->
    N = length(Sorted),
    lists:nth(max(1, min(N, round(P / 100 * N + 0.5))), Sorted).

fmt(R) when R >= 1.0e6 -> io_lib:format("~.2fM", [R / 1.0e6]);
fmt(R) -> io_lib:format("~.1fk", [R / 1.0e3]).
