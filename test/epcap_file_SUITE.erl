%%% @doc Common Test suite of {@link epcap_file}: files written from every
%%% frame of the test captures are read back by tcpdump and by the
%%% test-only reader of `epcap_file_tests'; a full disk (tmpfs, /dev/full)
%%% gives errors and never a half-written record; and, when the port
%%% program is built, epcap itself reads the written files back.
-module(epcap_file_SUITE).

-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").

-export([all/0, groups/0, init_per_suite/1, end_per_suite/1,
         init_per_group/2, end_per_group/2]).
-export([tcpdump_same_output/1, reader_same_records/1,
         dev_full/1, tmpfs_disk_full/1, closed_file/1,
         tcpdump_reads_dlt_raw/1, epcap_reads_back/1, epcap_copy_large/1]).

all() ->
    [{group, round_trip}, {group, errors}, tcpdump_reads_dlt_raw,
     epcap_reads_back, epcap_copy_large].

groups() ->
    [{round_trip, [], [tcpdump_same_output, reader_same_records]},
     {errors, [], [dev_full, tmpfs_disk_full, closed_file]}].

init_per_suite(Config) ->
    Tcpdump = os:find_executable("tcpdump"),
    [{tcpdump, Tcpdump}, {data, epcap_file_tests:data_dir()} | Config].

end_per_suite(_Config) ->
    ok.

init_per_group(_, Config) ->
    Config.

end_per_group(_, _Config) ->
    ok.

%%--------------------------------------------------------------------
%% helpers
%%--------------------------------------------------------------------

%% The readable captures and what the reader found in them.
captures(Config) ->
    [{File, Info, Recs}
     || File <- epcap_file_tests:data_files(),
        {Info, Recs} <- [case epcap_file_tests:read_pcap(File) of
                             {ok, I, R} -> {I, R};
                             {partial, I, R, _} -> {I, R};
                             {error, _} -> skip
                         end],
        is_map(Info)] ++ pcapng_too(Config).

pcapng_too(Config) ->
    File = filename:join(?config(data, Config), "veth_mixed.pcapng"),
    {ok, I, R} = epcap_file_tests:read_pcap(File),
    [{File, I, R}].

write_capture(Dir, {File, #{linktype := LT}, Recs}, Prec, Unit) ->
    Out = filename:join(Dir, filename:basename(File) ++ "." ++ atom_to_list(Prec)
                        ++ "." ++ atom_to_list(Unit) ++ ".pcap"),
    {ok, F} = epcap_file:open(Out, #{linktype => LT, precision => Prec,
                                     time_unit => Unit, snaplen => 262144}),
    Pkts = epcap_file_tests:to_packets(LT, Unit, Recs),
    [ok = epcap_file:write(F, P) || P <- Pkts],
    ok = epcap_file:close(F),
    Out.

%% stdout of tcpdump -r File (stderr, "reading from file ...", dropped)
tcpdump(Config, Args, File) ->
    Cmd = lists:flatten([?config(tcpdump, Config), " -r '", File, "' ", Args,
                         " 2>/dev/null"]),
    os:cmd(Cmd).

%% Nanoseconds that the written file cannot hold are zero in its output.
drop_ns(Text) ->
    re:replace(Text, "^(\\d\\d:\\d\\d:\\d\\d\\.\\d{6})\\d{3}", "\\g{1}000",
               [global, multiline, {return, list}]).

%% Does the written file keep the nanoseconds of the original?
keeps_ns(#{precision := micro}, _Prec, _Unit) -> true;
keeps_ns(#{precision := nano}, nano, nanosecond) -> true;
keeps_ns(_, _, _) -> false.

%%--------------------------------------------------------------------
%% cases
%%--------------------------------------------------------------------

%% tcpdump -nn and tcpdump -nn --nano print the same for the written
%% file as for the original, for every precision and time unit.
tcpdump_same_output(Config) ->
    case ?config(tcpdump, Config) of
        false ->
            {skip, "tcpdump not installed"};
        _ ->
            Dir = ?config(priv_dir, Config),
            Checked =
                [begin
                     Out = write_capture(Dir, Cap, Prec, Unit),
                     Orig = tcpdump(Config, "-nn", File),
                     ?assertNotEqual("", Orig),
                     ?assertEqual({File, Orig}, {File, tcpdump(Config, "-nn", Out)}),
                     OrigNs = tcpdump(Config, "-nn --nano", File),
                     Expected = case keeps_ns(Info, Prec, Unit) of
                                    true -> OrigNs;
                                    false -> drop_ns(OrigNs)
                                end,
                     ?assertEqual({File, Prec, Unit, Expected},
                                  {File, Prec, Unit,
                                   tcpdump(Config, "-nn --nano", Out)}),
                     length(Recs)
                 end
                 || {File, Info, Recs} = Cap <- captures(Config),
                    Prec <- [micro, nano],
                    Unit <- [timestamp, microsecond, nanosecond]],
            ct:log("~b files written, ~b frames compared", [length(Checked),
                                                             lists:sum(Checked)]),
            ok
    end.

%% The reader reads back exactly the records of the original (including
%% caplen < len in snap64.pcap and the nanoseconds of veth_mixed_nano.pcap).
reader_same_records(Config) ->
    Dir = ?config(priv_dir, Config),
    Caps = captures(Config),
    Names = [filename:basename(F) || {F, _, _} <- Caps],
    ?assert(lists:member("snap64.pcap", Names)),
    ?assert(lists:member("veth_mixed_nano.pcap", Names)),
    [begin
         Out = write_capture(Dir, Cap, Prec, Unit),
         {ok, #{linktype := LT, precision := Prec}, Back} =
             epcap_file_tests:read_pcap(Out),
         #{linktype := LT} = Info,
         Expected = case keeps_ns(Info, Prec, Unit) of
                        true -> Recs;
                        false -> [{T div 1000 * 1000, L, B} || {T, L, B} <- Recs]
                    end,
         ?assertEqual({File, Expected}, {File, Back})
     end
     || {File, Info, Recs} = Cap <- Caps,
        Prec <- [micro, nano],
        Unit <- [timestamp, microsecond, nanosecond]],
    {_, _, Snap} = lists:keyfind(filename:join(?config(data, Config), "snap64.pcap"),
                                 1, Caps),
    ?assert(lists:any(fun({_, L, B}) -> byte_size(B) < L end, Snap)),
    ok.

dev_full(_Config) ->
    case file:read_file_info("/dev/full") of
        {ok, _} -> ?assertEqual({error, enospc}, epcap_file:open("/dev/full", #{}));
        {error, _} -> {skip, "no /dev/full"}
    end.

%% A 64 KiB tmpfs fills up: the write that does not fit returns
%% {error, enospc}, the file holds exactly the records written before it,
%% and writing works again once there is room.
tmpfs_disk_full(Config) ->
    Dir = filename:join(?config(priv_dir, Config), "tmpfs"),
    ok = filelib:ensure_dir(filename:join(Dir, "x")),
    case os:cmd("mount -t tmpfs -o size=64k epcap_file_test '" ++ Dir
                ++ "' 2>&1 && echo MOUNTED") of
        "MOUNTED\n" ->
            try
                disk_full(Config, Dir)
            after
                "" = os:cmd("umount '" ++ Dir ++ "' 2>&1")
            end;
        Other ->
            {skip, "cannot mount a tmpfs (not root?): " ++ Other}
    end.

disk_full(Config, Dir) ->
    Filler = filename:join(Dir, "filler"),
    ok = file:write_file(Filler, binary:copy(<<0>>, 16384)),
    Out = filename:join(Dir, "out.pcap"),
    {ok, F} = epcap_file:open(Out, #{precision => nano, time_unit => nanosecond}),
    Frame = fun(I) -> <<I:32, (binary:copy(<<(I rem 251)>>, 1496))/binary>> end,
    Pkt = fun(I) -> {packet, 1, 1700000000 * 1000000000 + I, 1500, Frame(I)} end,
    Fill = fun Fill(I) ->
                   case epcap_file:write(F, Pkt(I)) of
                       ok when I < 1000 -> Fill(I + 1);
                       Result -> {I, Result}
                   end
           end,
    {Failed, Result} = Fill(0),
    ct:log("write ~b failed: ~p", [Failed, Result]),
    ?assertEqual({error, enospc}, Result),
    ?assert(Failed > 10),
    %% no partial record on disk
    ?assertEqual({ok, 24 + Failed * (16 + 1500)},
                 {ok, filelib:file_size(Out)}),
    {ok, _, Recs} = epcap_file_tests:read_pcap(Out),
    ?assertEqual([{1700000000 * 1000000000 + I, 1500, Frame(I)}
                  || I <- lists:seq(0, Failed - 1)], Recs),
    %% again: still full, still clean
    ?assertEqual({error, enospc}, epcap_file:write(F, Pkt(Failed))),
    ?assertEqual(24 + Failed * 1516, filelib:file_size(Out)),
    %% room again
    ok = file:delete(Filler),
    ok = epcap_file:write(F, Pkt(Failed)),
    ok = epcap_file:close(F),
    {ok, _, Recs2} = epcap_file_tests:read_pcap(Out),
    ?assertEqual(Failed + 1, length(Recs2)),
    case ?config(tcpdump, Config) of
        false ->
            ok;
        _ ->
            %% one line per packet starts with its time (the rest is hex)
            {match, Ts} = re:run(tcpdump(Config, "-nn", Out),
                                 "^\\d\\d:\\d\\d:", [global, multiline]),
            ?assertEqual(Failed + 1, length(Ts))
    end.

closed_file(Config) ->
    Out = filename:join(?config(priv_dir, Config), "closed.pcap"),
    {ok, F} = epcap_file:open(Out, #{}),
    ok = epcap_file:close(F),
    ?assertEqual({error, closed}, epcap_file:write(F, {packet, 1, {0, 0, 0}, 1, <<0>>})),
    ?assertEqual({ok, 24}, {ok, filelib:file_size(Out)}).

%% DLT_RAW (12 on Linux) is written as LINKTYPE_RAW (101), which tcpdump
%% reads back as raw IP.
tcpdump_reads_dlt_raw(Config) ->
    case ?config(tcpdump, Config) of
        false ->
            {skip, "tcpdump not installed"};
        _ ->
            %% an IPv4 frame without its Ethernet header
            {ok, _, Recs} = epcap_file_tests:read_pcap(
                              filename:join(?config(data, Config), "veth_mixed.pcap")),
            [{T, L, <<_:12/binary, 16#0800:16, Ip/binary>>} | _] =
                [R || {_, _, <<_:12/binary, 16#0800:16, _/binary>>} = R <- Recs],
            Out = filename:join(?config(priv_dir, Config), "raw.pcap"),
            {ok, F} = epcap_file:open(Out, #{linktype => 12, precision => nano,
                                             time_unit => nanosecond}),
            ok = epcap_file:write(F, {packet, 12, T, L - 14, Ip}),
            ok = epcap_file:close(F),
            Text = os:cmd(?config(tcpdump, Config) ++ " -nn -r " ++ Out ++ " 2>&1"),
            ct:log("~s", [Text]),
            ?assertNotEqual(nomatch, string:find(Text, "link-type RAW")),
            ?assertNotEqual(nomatch, string:find(Text, " IP 10.212."))
    end.

%% epcap (the port program, run as root with {exec, ""}) reads a written
%% file back: the same {packet, DLT, Time, Len, Packet} tuples.
epcap_reads_back(Config) ->
    case epcap_available() of
        {false, Why} ->
            {skip, Why};
        true ->
            Dir = ?config(priv_dir, Config),
            [begin
                 %% a microsecond file, read with epcap's defaults
                 Out = write_capture(Dir, Cap, micro, timestamp),
                 {ok, _, Written} = epcap_file_tests:read_pcap(Out),
                 Expected = epcap_file_tests:to_packets(LT, timestamp, Written),
                 Got = epcap_read(with_progname([{file, Out}, {exec, ""}])),
                 ?assertEqual({File, length(Expected)}, {File, length(Got)}),
                 ?assertEqual({File, Expected}, {File, Got}),
                 %% a nanosecond file, read in nanoseconds
                 OutNs = write_capture(Dir, Cap, nano, nanosecond),
                 {ok, _, WrittenNs} = epcap_file_tests:read_pcap(OutNs),
                 ExpectedNs = epcap_file_tests:to_packets(LT, nanosecond, WrittenNs),
                 GotNs = epcap_read(with_progname([{file, OutNs}, {exec, ""},
                                                   {time_unit, nanosecond}])),
                 ?assertEqual({File, ExpectedNs}, {File, GotNs})
             end
             || {File, #{linktype := LT}, _} = Cap <- captures(Config)],
            ok
    end.

%% 20 000 packets (more than epcap's credit window) written by epcap_file,
%% read by epcap, and the messages written straight back with
%% epcap_file:write/2: the copy is byte for byte the original.
epcap_copy_large(Config) ->
    case epcap_available() of
        {false, Why} ->
            {skip, Why};
        true ->
            Dir = ?config(priv_dir, Config),
            Orig = filename:join(Dir, "large.pcap"),
            Copy = filename:join(Dir, "large_copy.pcap"),
            Pkts = [large_packet(I) || I <- lists:seq(0, 19999)],
            {ok, F} = epcap_file:open(Orig, #{snaplen => 1000}),
            [ok = epcap_file:write(F, P) || P <- Pkts],
            ok = epcap_file:close(F),
            {ok, Pid} = epcap:start(with_progname([{file, Orig}, {exec, ""}])),
            Ref = monitor(process, Pid),
            {ok, C} = epcap_file:open(Copy, #{snaplen => 1000}),
            {N, End} = copy(C, Ref, 0),
            ok = epcap_file:close(C),
            demonitor(Ref, [flush]),
            ok = epcap:stop(Pid),
            ?assertEqual(20000, N),
            ?assertEqual(file:read_file(Orig), file:read_file(Copy)),
            {ok, _, Recs} = epcap_file_tests:read_pcap(Copy),
            ?assertEqual([{T * 1000, L, binary:part(B, 0, min(1000, byte_size(B)))}
                          || {packet, 1, T, L, B} <- [large_packet(I, microsecond)
                                                      || I <- lists:seq(0, 19999)]],
                         Recs),
            case End of
                eof ->
                    ok;
                {error, {port_exit, -1}} ->
                    %% every packet arrived but the end was lost: see
                    %% bench/RESULTS.md, "Problems seen in epcap"
                    {skip, "KNOWN EPCAP BUG: all 20000 packets arrived, then "
                     "{epcap,{error,{port_exit,-1}}} instead of {epcap,eof} "
                     "(credit write after the port closed: EPIPE)"};
                Other ->
                    ct:fail({no_eof, Other})
            end
    end.

large_packet(I) ->
    large_packet(I, timestamp).

large_packet(I, Unit) ->
    Us = 1700000000000000 + I * 13,
    Time = case Unit of
               microsecond -> Us;
               timestamp -> {Us div 1000000000000, Us div 1000000 rem 1000000,
                             Us rem 1000000}
           end,
    Size = (I * 7919) rem 1451 + 64,
    {packet, 1, Time, Size, binary:copy(<<(I rem 256)>>, Size)}.

copy(File, Ref, N) ->
    receive
        {packet, _, _, _, _} = P ->
            ok = epcap_file:write(File, P),
            copy(File, Ref, N + 1);
        {epcap, End} ->
            {N, End};
        {'DOWN', Ref, process, _, Reason} ->
            {N, {down, Reason}}
    after 10000 ->
            {N, timeout}
    end.

%% The port under test: EPCAP_PROGNAME (e.g. an ASan build) if set,
%% else epcap's default (priv/epcap).
with_progname(Options) ->
    case os:getenv("EPCAP_PROGNAME") of
        false -> Options;
        "" -> Options;
        Prog -> Options ++ [{progname, Prog}]
    end.

epcap_available() ->
    case code:ensure_loaded(epcap) of
        {module, epcap} ->
            case erlang:function_exported(epcap, start, 1) of
                true -> true;
                false -> {false, "epcap:start/1 not exported"}
            end;
        _ ->
            {false, "epcap module not in the code path"}
    end.

epcap_read(Options) ->
    {ok, Pid} = epcap:start(Options),
    Ref = monitor(process, Pid),
    Pkts = collect(Pid, Ref, []),
    demonitor(Ref, [flush]),
    ok = epcap:stop(Pid),
    Pkts.

collect(Pid, Ref, Acc) ->
    receive
        {packet, _, _, _, _} = P -> collect(Pid, Ref, [P | Acc]);
        {epcap, eof} -> lists:reverse(Acc);
        {epcap, {error, _} = Error} -> error({epcap, Error, length(Acc)});
        {'DOWN', Ref, process, Pid, Reason} -> error({epcap_down, Reason, length(Acc)})
    after 10000 ->
            error({timeout, length(Acc)})
    end.
