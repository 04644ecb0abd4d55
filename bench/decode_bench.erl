-module(decode_bench).
-export([run/0, run/1, run/2, main/1]).
%% Decode cost per packet of epcap_decode (and of other modules with the
%% same decode/2, e.g. a copy of an older epcap_decode renamed
%% epcap_decode_old), on the frames of test/data captures: the mixed
%% traffic of veth_mixed.pcap (ARP, ICMP, ND, TCP, UDP) that every version
%% decodes, and the tunnel/ICMP-error captures. Each round decodes every
%% frame N times (20) with one module; the rounds of the modules are
%% interleaved (ROUNDS of each, 151), so that load from elsewhere falls on
%% all of them alike. Rounds this short (well under a millisecond) are
%% mostly left alone by the OS scheduler on a shared machine, so that the
%% median round is an undisturbed one. Printed per module: the median
%% round in ns/packet, the best, and the spread of the middle half of the
%% rounds ((p75 - p25) / median); then the ratio of the last module to the
%% first (medians, best against best, and the median of the ratios of the
%% two modules' rounds of each turn). A module that exports flow/2
%% (epcap_decode) also has its flow/2 timed, in rounds of its own
%% interleaved with the others.
%%
%% Run from the repository root with bench/decode_bench (which makes the
%% copy of the older module from git), or by hand:
%%   git show BASE:src/epcap_decode.erl | sed 's/^-module(epcap_decode)/-module(epcap_decode_old)/' \
%%       > /tmp/epcap_decode_old.erl
%%   erlc -o /tmp bench/decode_bench.erl /tmp/epcap_decode_old.erl
%%   erl -noshell -pa _build/default/lib/epcap/ebin -pa /tmp \
%%       -eval 'decode_bench:run([epcap_decode_old, epcap_decode]), halt().'

-define(N, 20).
-define(ROUNDS, 151).
-define(SETS, [["veth_mixed.pcap"],
               ["tun_crafted.pcap", "tun_vxlan.pcap", "tun_rawsock.pcap"],
               ["icmp_err_crafted.pcap", "icmp_err_real.pcap", "nd_crafted.pcap"]]).

%% @doc From the command line: `modules=epcap_decode_old,epcap_decode
%% rounds=151 n=20'.
main(Args) ->
    Opts = maps:from_list([list_to_tuple(string:split(A, "=")) || A <- Args]),
    Modules = [list_to_atom(M)
               || M <- string:split(maps:get("modules", Opts, "epcap_decode"), ",", all)],
    run(Modules, #{rounds => list_to_integer(maps:get("rounds", Opts, integer_to_list(?ROUNDS))),
                   n => list_to_integer(maps:get("n", Opts, integer_to_list(?N)))}),
    halt().

run() ->
    run([epcap_decode]).

run(Modules) ->
    run(Modules, #{}).

run(Modules, Opts) ->
    Rounds = maps:get(rounds, Opts, ?ROUNDS),
    N = maps:get(n, Opts, ?N),
    Flows = [M || M <- Modules, code:ensure_loaded(M) =:= {module, M},
                  erlang:function_exported(M, flow, 2)],
    Jobs = [{decode, M} || M <- Modules] ++ [{flow, M} || M <- Flows],
    io:format("~b interleaved rounds of ~b decodes of each frame; ns/packet: "
              "median (best, spread of the middle half)~n", [Rounds, N]),
    [begin
         Frames = lists:append([frames(filename:join("test/data", F)) || F <- Files]),
         Times = [{J, R, round(J, Frames, N) / (N * length(Frames))}
                  || R <- lists:seq(1, Rounds), J <- Jobs],
         Stats = [{J, stats([T || {J1, _, T} <- Times, J1 =:= J])} || J <- Jobs],
         io:format("~s, ~b frames~n", [lists:join("+", Files), length(Frames)]),
         [io:format("  ~-6s ~-22s ~7.1f (~6.1f, ~4b %)~n", [F, M, Med, Min, Spread])
          || {{F, M}, {Med, Min, Spread}} <- Stats],
         ratio(Modules, Stats, Times)
     end || Files <- ?SETS],
    ok.

%% Ratios of the last module to the first: of the medians, of the best
%% rounds, and the median of the ratios of the two rounds of each turn
%% (run one after the other, so mostly under the same load).
ratio([First | _] = Modules, Stats, Times) when length(Modules) > 1 ->
    Last = lists:last(Modules),
    {Med0, Min0, _} = proplists:get_value({decode, First}, Stats),
    {Med1, Min1, _} = proplists:get_value({decode, Last}, Stats),
    Turns = lists:usort([R || {_, R, _} <- Times]),
    {Paired, _, Spread} =
        stats([T1 / T0 || R <- Turns,
                          {J0, R0, T0} <- Times, J0 =:= {decode, First}, R0 =:= R,
                          {J1, R1, T1} <- Times, J1 =:= {decode, Last}, R1 =:= R]),
    io:format("  decode ~s / ~s: ~.3f (medians), ~.3f (best), ~.3f (paired rounds, "
              "spread ~b %)~n", [Last, First, Med1 / Med0, Min1 / Min0, Paired, Spread]);
ratio(_, _, _) ->
    ok.

%% Median, best, and the spread of the middle half in % of the median.
stats(Ts) ->
    S = lists:sort(Ts),
    Nth = fun(Q) -> lists:nth(1 + round(Q * (length(S) - 1)), S) end,
    Med = Nth(0.5),
    {Med, hd(S), round(100 * (Nth(0.75) - Nth(0.25)) / Med)}.

round(Job, Frames, N) ->
    garbage_collect(),
    T0 = erlang:monotonic_time(nanosecond),
    loop(Job, Frames, N),
    erlang:monotonic_time(nanosecond) - T0.

%% Through a fun of the exported function: Module:decode(...) with Module
%% a variable looks the function up in the export table on every call
%% (about 20 ns here, some 10 % of a decode), which is the harness's cost.
loop({Fun, Module}, Frames, N) ->
    loop(fun Module:Fun/2, Frames, N);
loop(_F, _Frames, 0) ->
    ok;
loop(F, Frames, N) ->
    [F(DLT, Frame) || {DLT, Frame} <- Frames],
    loop(F, Frames, N - 1).

%% Classic pcap, little-endian, micro- or nanosecond magic.
frames(Path) ->
    {ok, <<Magic:32/little, _:16/binary, DLT:32/little, Recs/binary>>} = file:read_file(Path),
    true = lists:member(Magic, [16#a1b2c3d4, 16#a1b23c4d]),
    records(DLT, Recs).

records(DLT, <<_:64, CapLen:32/little, _:32, F:CapLen/binary, Rest/binary>>) ->
    [{DLT, F} | records(DLT, Rest)];
records(_DLT, _) ->
    [].
