%%% @doc Many captures in one VM (issue 16, goal 3), at the VM's default
%%% flags and every process's default heap:
%%%
%%% <ul>
%%% <li>1, 8 and 32 concurrent file captures of the same file of `count'
%%%     64-byte frames, each with its own owner: total packets/s (all
%%%     packets over the time from the first start to the last end) and
%%%     the VM's peak `erlang:memory(total)' (sampled every 10 ms), per
%%%     packet (the default delivery) and batched (`epcap:fold/3' with the
%%%     four-argument fun);</li>
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
    _ = concurrent(Big, 1, packet, Count),            % warm-up, not reported
    Table = [{Mode, N, [concurrent(Big, N, Mode, Count) || _ <- lists:seq(1, Runs)]}
             || Mode <- [packet, batch], N <- [1, 8, 32]],
    say(Out, "~n## Concurrent file captures (total packets/s, median of ~b; VM peak memory)~n",
        [Runs]),
    [begin
         Rates = [R || {R, _, _} <- Results],
         Peaks = [P || {_, P, _} <- Results],
         One = median([R || {R, _, _} <- proplists:get_value(1, [{N1, Rs} || {M1, N1, Rs} <- Table,
                                                                             M1 =:= Mode])]),
         say(Out, "~-7s ~2b captures: ~8s pkt/s (min ~s, max ~s)  ~.2fx one capture  "
             "peak ~.1f MiB (+~.1f MiB)~n",
             [Mode, N, fmt(median(Rates)), fmt(lists:min(Rates)), fmt(lists:max(Rates)),
              median(Rates) / One, median(Peaks) / ?MB,
              median([P - B || {_, P, B} <- Results]) / ?MB])
     end || {Mode, N, Results} <- Table],
    starts(Out, Small, Starts),
    idle(Out, Idle),
    file:close(Out),
    os:cmd("rm -rf " ++ Dir),
    ok.

%%--------------------------------------------------------------------
%% Concurrent captures
%%--------------------------------------------------------------------

%% {total packets/s, peak VM memory, VM memory before}.
concurrent(File, N, Mode, Count) ->
    garbage_collect(),
    Before = erlang:memory(total),
    Sampler = spawn_link(fun() -> sample(Before) end),
    Self = self(),
    T0 = erlang:monotonic_time(microsecond),
    Owners = [spawn_link(fun() -> Self ! {done, self(), own(File, Mode)} end)
              || _ <- lists:seq(1, N)],
    Got = [receive {done, O, C} -> C end || O <- Owners],
    T1 = erlang:monotonic_time(microsecond),
    Sampler ! {stop, Self},
    Peak = receive {peak, P} -> P end,
    [Count = C || C <- Got],
    {N * Count / ((T1 - T0) / 1.0e6), Peak, Before}.

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
