%%% @doc Common Test suite: records larger than a batch (issue 15, defect
%%% 1). libpcap hands over records of more than 256 KiB for some link
%%% types (D-Bus 231, USBPcap 249). Every record up to the frame cap (1 MiB)
%%% reaches the owner with its exact bytes, in order, through both
%%% delivery paths; a larger one ends the capture with `record_too_large'
%%% after every packet before it. The port used to drop the open batch and
%%% end with `{write, "write: Message too long"}'.
%%%
%%% `EPCAP_TEST_PORT' runs the suite against another build of the port
%%% (e.g. an older one, to see the cases fail).
-module(epcap_records_SUITE).

-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").

-export([all/0, init_per_suite/1, end_per_suite/1]).
-export([large_record_per_packet/1, large_record_batch/1,
         too_large_record_per_packet/1, too_large_record_batch/1,
         large_records_only/1]).

-define(DLT_DBUS, 231).

all() ->
    [large_record_per_packet, large_record_batch, too_large_record_per_packet,
     too_large_record_batch, large_records_only].

init_per_suite(Config) ->
    Dir = ?config(priv_dir, Config),
    Small = [small(I) || I <- lists:seq(1, 10)],
    Big = pattern(300000),
    Huge = pattern(1100000),
    Files = [{large, write_pcap(Dir, "dbus_large.pcap", Small ++ [Big, small(11)])},
             {too_large, write_pcap(Dir, "dbus_too_large.pcap", Small ++ [Huge, small(12)])},
             {only_large, write_pcap(Dir, "dbus_only_large.pcap",
                                     [pattern(262145), pattern(500000), pattern(1048000)])}],
    [{files, Files}, {small, Small}, {big, Big} | Config].

end_per_suite(_Config) ->
    ok.

%%--------------------------------------------------------------------
%% Cases
%%--------------------------------------------------------------------

%% 10 small records, one of 300 000 bytes, one small: all 12 arrive whole.
large_record_per_packet(Config) ->
    {Got, eof} = capture(file(large, Config), packet),
    ?assertEqual(expected(large, Config), Got).

large_record_batch(Config) ->
    {Got, eof} = capture(file(large, Config), batch),
    ?assertEqual(expected(large, Config), Got).

%% A record of 1 100 000 bytes: the 10 before it arrive, then the reason.
too_large_record_per_packet(Config) ->
    {Got, {error, {record_too_large, Msg}}} = capture(file(too_large, Config), packet),
    ?assertEqual(?config(small, Config), Got),
    ?assertNotEqual(nomatch, string:find(Msg, "1100000")).

too_large_record_batch(Config) ->
    {Got, {error, {record_too_large, _}}} = capture(file(too_large, Config), batch),
    ?assertEqual(?config(small, Config), Got).

%% Nothing but large records, one just over the batch buffer, one just
%% under the frame cap.
large_records_only(Config) ->
    {Got, eof} = capture(file(only_large, Config), batch),
    ?assertEqual([pattern(262145), pattern(500000), pattern(1048000)], Got).

%%--------------------------------------------------------------------
%% Helpers
%%--------------------------------------------------------------------

file(Key, Config) -> proplists:get_value(Key, ?config(files, Config)).

expected(large, Config) -> ?config(small, Config) ++ [?config(big, Config), small(11)].

small(I) -> binary:copy(<<I>>, 40 + I).

%% Bytes that differ along the record, so that a shifted or cut copy shows.
pattern(N) ->
    Words = << <<(I rem 65521):32>> || I <- lists:seq(0, N div 4) >>,
    binary:part(Words, 0, N).

%% A little-endian, microsecond pcap file of link type D-Bus, snaplen
%% 2 000 000 (libpcap's limit for D-Bus is 128 MiB).
write_pcap(Dir, Name, Packets) ->
    Path = filename:join(Dir, Name),
    Header = <<16#a1b2c3d4:32/little, 2:16/little, 4:16/little, 0:32, 0:32,
               2000000:32/little, ?DLT_DBUS:32/little>>,
    Records = [<<(1700000000 + I):32/little, I:32/little, (byte_size(P)):32/little,
                 (byte_size(P)):32/little, P/binary>>
               || {I, P} <- lists:zip(lists:seq(1, length(Packets)), Packets)],
    ok = file:write_file(Path, [Header | Records]),
    Path.

port_options() ->
    case os:getenv("EPCAP_TEST_PORT") of
        false -> [];
        "" -> [];
        Port -> [{progname, Port}]
    end.

%% The packets' bytes, checked against their lengths, and how it ended.
capture(File, Deliver) ->
    {ok, Pid} = epcap:start([{file, File}, {deliver, Deliver} | port_options()]),
    Ref = monitor(process, Pid),
    collect(Pid, Ref, Deliver, []).

collect(Pid, Ref, Deliver, Acc) ->
    receive
        {packet, ?DLT_DBUS, _, Len, P} when Len =:= byte_size(P) ->
            collect(Pid, Ref, Deliver, [P | Acc]);
        {epcap_batch, Pid, B} ->
            ?assertEqual(?DLT_DBUS, epcap:link_type(B)),
            Acc1 = epcap:fold(fun(_T, Len, P, A) when Len =:= byte_size(P) -> [P | A] end,
                              Acc, B),
            collect(Pid, Ref, Deliver, Acc1);
        {epcap, End} ->
            {lists:reverse(Acc), End};
        {'DOWN', Ref, process, Pid, Reason} ->
            error({down, Reason, length(Acc)})
    after 20000 ->
            error({timeout, length(Acc)})
    end.
