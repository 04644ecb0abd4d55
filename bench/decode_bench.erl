-module(decode_bench).
-export([run/0, run/1]).
%% Decode cost per packet of epcap_decode (and of other modules with the
%% same decode/2, e.g. a copy of an older epcap_decode renamed
%% epcap_decode_old), on the frames of test/data captures: the mixed
%% traffic of veth_mixed.pcap (ARP, ICMP, ND, TCP, UDP) that every version
%% decodes, and the tunnel/ICMP-error captures. Best of 15 rounds of
%% decoding every frame 1000 times, in ns/packet.
%% Run from the repository root:
%%   git show BASE:src/epcap_decode.erl | sed 's/^-module(epcap_decode)/-module(epcap_decode_old)/' \
%%       > /tmp/epcap_decode_old.erl
%%   erlc -o /tmp bench/decode_bench.erl /tmp/epcap_decode_old.erl
%%   erl -noshell -pa _build/default/lib/epcap/ebin -pa /tmp \
%%       -eval 'decode_bench:run([epcap_decode_old, epcap_decode]), halt().'

-define(N, 1000).
-define(ROUNDS, 15).
-define(SETS, [["veth_mixed.pcap"],
               ["tun_crafted.pcap", "tun_vxlan.pcap", "tun_rawsock.pcap"],
               ["icmp_err_crafted.pcap", "icmp_err_real.pcap", "nd_crafted.pcap"]]).

run() ->
    run([epcap_decode]).

run(Modules) ->
    [begin
         Frames = lists:append([frames(filename:join("test/data", F)) || F <- Files]),
         %% rounds of the modules interleaved, so that load from elsewhere
         %% falls on all of them alike
         Rounds = [{M, round(M, Frames, ?N)} || _ <- lists:seq(1, ?ROUNDS), M <- Modules],
         Results = [{M, lists:min([T || {M1, T} <- Rounds, M1 =:= M]) / (?N * length(Frames))}
                    || M <- Modules],
         io:format("~-60s ~4b frames:~s~n",
                   [lists:join("+", Files), length(Frames),
                    [io_lib:format(" ~s ~6.1f ns/packet", [M, Ns]) || {M, Ns} <- Results]])
     end || Files <- ?SETS],
    ok.

round(Module, Frames, N) ->
    garbage_collect(),
    T0 = erlang:monotonic_time(nanosecond),
    loop(Module, Frames, N),
    erlang:monotonic_time(nanosecond) - T0.

loop(_Module, _Frames, 0) ->
    ok;
loop(Module, Frames, N) ->
    [Module:decode(DLT, F) || {DLT, F} <- Frames],
    loop(Module, Frames, N - 1).

%% Classic pcap, little-endian, micro- or nanosecond magic.
frames(Path) ->
    {ok, <<Magic:32/little, _:16/binary, DLT:32/little, Recs/binary>>} = file:read_file(Path),
    true = lists:member(Magic, [16#a1b2c3d4, 16#a1b23c4d]),
    records(DLT, Recs).

records(DLT, <<_:64, CapLen:32/little, _:32, F:CapLen/binary, Rest/binary>>) ->
    [{DLT, F} | records(DLT, Rest)];
records(_DLT, _) ->
    [].
