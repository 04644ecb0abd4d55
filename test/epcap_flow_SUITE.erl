%%% Flow control and batched delivery: gen_tcp's {active, ...} semantics,
%%% batches split at every size, nothing lost while passive.
-module(epcap_flow_SUITE).
-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").

-compile([export_all, nowarn_export_all]).

-import(epcap_test_lib, [opts/1, data/1, collect/2, collect_until/2]).

all() ->
    [active_n_exact, active_false_then_resume, active_once_walk,
     active_sum_and_range, active_zero_at_start, batch_equals_packets,
     batch_sizes_split, big_frames_batched, passive_file_eof_waits].

init_per_suite(Config) ->
    {ok, _} = application:ensure_all_started(epcap),
    Config.
end_per_suite(_) -> ok.

init_per_testcase(_, Config) -> Config.
end_per_testcase(_, _Config) -> epcap_test_lib:flush().

reference() ->
    {ok, _} = epcap:start(opts([{file, data("veth_mixed.pcap")}])),
    {Pkts, eof} = collect_until(5000, []),
    Pkts.

active_n_exact() ->
    [{doc, "Ensure that {active, N} delivers exactly N packets, then "
      "{epcap_passive, Pid}, then nothing"}].
active_n_exact(_Config) ->
    [begin
         {ok, Pid} = epcap:start(opts([{file, data("veth_mixed.pcap")}, {active, N}])),
         Got = collect(300, []),
         ?assertEqual(N, length(Got)),
         receive {epcap_passive, Pid} -> ok after 0 -> ct:fail({no_passive, N}) end,
         ?assertEqual([], collect(200, [])),
         epcap:stop(Pid)
     end || N <- [1, 2, 7, 39]],
    ok.

active_false_then_resume() ->
    [{doc, "Ensure that {active, false} delivers nothing, and setopts "
      "{active, true} then delivers every packet of the file, in order"}].
active_false_then_resume(_Config) ->
    Ref = reference(),
    {ok, Pid} = epcap:start(opts([{file, data("veth_mixed.pcap")}, {active, false}])),
    ?assertEqual([], collect(300, [])),
    ok = epcap:setopts(Pid, [{active, true}]),
    {Pkts, eof} = collect_until(5000, []),
    ?assertEqual(Ref, Pkts).

active_once_walk() ->
    [{doc, "Ensure that re-arming {active, once} walks the whole file one "
      "packet at a time, in order"}].
active_once_walk(_Config) ->
    Ref = reference(),
    {ok, Pid} = epcap:start(opts([{file, data("veth_mixed.pcap")}, {active, once}])),
    Got = once_loop(Pid, []),
    ?assertEqual(Ref, Got).

once_loop(Pid, Acc) ->
    receive
        {packet, _, _, _, _} = P ->
            %% As gen_tcp: once sends no passive message, and one packet only.
            receive
                {epcap_passive, Pid} -> ct:fail(passive_message_for_once);
                {packet, _, _, _, _} -> ct:fail(more_than_once)
            after 20 -> ok
            end,
            %% After the last packet the capture may already have ended.
            case epcap:setopts(Pid, [{active, once}]) of
                ok -> ok;
                {error, closed} -> ok
            end,
            once_loop(Pid, [P | Acc]);
        {epcap, eof} ->
            lists:reverse(Acc)
    after 2000 -> ct:fail({stuck, length(Acc)})
    end.

active_sum_and_range() ->
    [{doc, "Ensure that setopts {active, N} adds to the count as in inet, "
      "refuses out-of-range values with einval, and goes passive at 0"}].
active_sum_and_range(_Config) ->
    {ok, Pid} = epcap:start(opts([{file, data("veth_mixed.pcap")}, {active, false}])),
    ok = epcap:setopts(Pid, [{active, 3}]),
    ?assertEqual(3, length(collect(300, []))),
    receive {epcap_passive, Pid} -> ok after 500 -> ct:fail(no_passive) end,
    %% Count is now 0 (false); 32767 + 1 is out of range.
    ok = epcap:setopts(Pid, [{active, false}]),
    ?assertEqual({error, einval}, epcap:setopts(Pid, [{active, 40000}])),
    ?assertEqual({error, einval}, epcap:setopts(Pid, [{active, -40000}])),
    ?assertEqual({error, einval}, epcap:setopts(Pid, [{active, maybe}])),
    %% as inet:setopts/2 (and the README): another option is einval too
    ?assertEqual({error, einval}, epcap:setopts(Pid, [{colour, red}])),
    %% One call: the counts add up to 0 before anything is delivered.
    ok = epcap:setopts(Pid, [{active, 5}, {active, -5}]),
    receive {epcap_passive, Pid} -> ok after 500 -> ct:fail(no_passive_at_zero) end,
    ?assertEqual([], collect(200, [])),
    ok = epcap:setopts(Pid, [{active, 4}, {active, 2}]),
    ?assertEqual(6, length(collect(300, []))),
    receive {epcap_passive, Pid} -> ok after 500 -> ct:fail(no_passive) end,
    epcap:stop(Pid).

active_zero_at_start() ->
    [{doc, "Ensure that {active, 0} at start is passive at once, with the "
      "passive message"}].
active_zero_at_start(_Config) ->
    {ok, Pid} = epcap:start(opts([{file, data("veth_mixed.pcap")}, {active, 0}])),
    receive {epcap_passive, Pid} -> ok after 1000 -> ct:fail(no_passive) end,
    ?assertEqual([], collect(200, [])),
    epcap:stop(Pid).

batch_equals_packets() ->
    [{doc, "Ensure that {deliver, batch} with fold/3 and foreach/2 yields the "
      "same packets as per-packet delivery, for every time unit"}].
batch_equals_packets(_Config) ->
    [begin
         {ok, _} = epcap:start(opts([{file, data("veth_mixed_nano.pcap")}, {time_unit, U}])),
         {Ref, eof} = collect_until(5000, []),
         {ok, Pid} = epcap:start(opts([{file, data("veth_mixed_nano.pcap")},
                                       {time_unit, U}, {deliver, batch}])),
         Got = batches(Pid, []),
         ?assertEqual(Ref, Got)
     end || U <- [timestamp, microsecond, nanosecond]],
    ok.

batches(Pid, Acc) ->
    receive
        {epcap_batch, Pid, B} ->
            Self = self(),
            ok = epcap:foreach(fun(P) -> Self ! {each, P} end, B),
            Each = [receive {each, P} -> P end
                    || _ <- lists:seq(1, epcap:fold(fun(_, N) -> N + 1 end, 0, B))],
            ?assertEqual(Each, lists:reverse(epcap:fold(fun(P, A) -> [P | A] end, [], B))),
            batches(Pid, lists:reverse(Each, Acc));
        {epcap, eof} -> lists:reverse(Acc)
    after 5000 -> ct:fail(no_eof)
    end.

batch_sizes_split() ->
    [{doc, "Ensure that batches split at every count from 1 to past a full "
      "batch deliver exactly the right packets"}].
batch_sizes_split(Config) ->
    File = filename:join(?config(priv_dir, Config), "sizes.pcap"),
    %% 3000 frames of 60..1013 bytes: a full 256 KiB batch is ~330 of them.
    Frames = [frame(I, 60 + (I * 7) rem 954) || I <- lists:seq(1, 3000)],
    ok = write_pcap(File, 65535, Frames),
    lists:foreach(
      fun(N) ->
              {ok, Pid} = epcap:start(opts([{file, File}, {active, N}])),
              Got = collect(300, []),
              ?assertEqual({N, lists:sublist(Frames, N)},
                           {N, [P || {packet, 1, _, _, P} <- Got]}),
              epcap:stop(Pid)
      end, lists:seq(1, 40) ++ [100, 329, 330, 331, 1000]),
    {ok, _} = epcap:start(opts([{file, File}])),
    {All, eof} = collect_until(5000, []),
    ?assertEqual(Frames, [P || {packet, 1, _, _, P} <- All]).

big_frames_batched() ->
    [{doc, "Ensure that 65535-byte frames at snaplen 65535 arrive whole, in "
      "per-packet and batch delivery"}].
big_frames_batched(Config) ->
    File = filename:join(?config(priv_dir, Config), "big.pcap"),
    Frames = [frame(I, 65535 - I) || I <- lists:seq(0, 11)],
    ok = write_pcap(File, 65535, Frames),
    {ok, _} = epcap:start(opts([{file, File}])),
    {Got, eof} = collect_until(5000, []),
    ?assertEqual(Frames, [P || {packet, 1, _, _, P} <- Got]),
    [?assertEqual(byte_size(P), L) || {packet, 1, _, L, P} <- Got],
    {ok, Pid} = epcap:start(opts([{file, File}, {deliver, batch}])),
    ?assertEqual(Got, batches(Pid, [])).

passive_file_eof_waits() ->
    [{doc, "Ensure that the end of a file never overtakes a packet: a "
      "passive owner gets it only after the last packet"}].
passive_file_eof_waits(_Config) ->
    {ok, Pid} = epcap:start(opts([{file, data("veth_mixed.pcap")}, {active, 39}])),
    ?assertEqual(39, length(collect(300, []))),
    receive {epcap_passive, Pid} -> ok after 500 -> ct:fail(no_passive) end,
    receive {epcap, eof} -> ct:fail(eof_before_last_packet) after 300 -> ok end,
    ok = epcap:setopts(Pid, [{active, once}]),
    %% The end follows the last packet, whatever the active mode then.
    ?assertMatch({[_], eof}, collect_until(1000, [])).

%% A frame of Size bytes whose first bytes say its index.
frame(I, Size) ->
    Body = binary:copy(<<(I rem 256)>>, Size - 4),
    <<I:32, Body/binary>>.

write_pcap(File, Snaplen, Frames) ->
    Hdr = <<16#a1b2c3d4:32/little, 2:16/little, 4:16/little, 0:32, 0:32,
            Snaplen:32/little, 1:32/little>>,
    Recs = [<<(1700000000 + I):32/little, I:32/little, (byte_size(F)):32/little,
              (byte_size(F)):32/little, F/binary>>
            || {I, F} <- lists:zip(lists:seq(1, length(Frames)), Frames)],
    file:write_file(File, [Hdr | Recs]).
