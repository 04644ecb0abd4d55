%%% @doc Common Test suite of saving in the port (`{save, Path}', issue 26):
%%% files read back byte for byte and time for time by tshark, tcpdump,
%%% capinfos (against golden outputs of the original capture in
%%% test/data/*.save.*) and by epcap itself; the pcapng blocks; rotation by
%%% each criterion, the ring and the names; a full disk, a missing or
%%% read-only directory, an existing file or planted link at the next
%%% name; a live capture stopped mid-file.
-module(epcap_save_SUITE).

-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").
-include_lib("kernel/include/file.hrl").

-export([all/0, groups/0, init_per_suite/1, end_per_suite/1,
         init_per_group/2, end_per_group/2, init_per_testcase/2,
         end_per_testcase/2]).
-export([read_back_pcapng/1, read_back_pcapng_nano/1, read_back_pcap/1,
         pcapng_blocks/1, deliver_both/1, rotate_packets/1, rotate_size/1,
         rotate_seconds/1, ring/1, names/1, disk_full/1, missing_dir/1,
         read_only_dir/1, existing_file/1, link_at_next_name/1,
         live_stop_mid_file/1, epcap_file_same_blocks/1, cli_file_copy/1,
         sudo_dir_user_rights/1]).
-export([read_back_pcapng/0, read_back_pcapng_nano/0, read_back_pcap/0,
         pcapng_blocks/0, deliver_both/0, rotate_packets/0, rotate_size/0,
         rotate_seconds/0, ring/0, names/0, disk_full/0, missing_dir/0,
         read_only_dir/0, existing_file/0, link_at_next_name/0,
         live_stop_mid_file/0, epcap_file_same_blocks/0, cli_file_copy/0,
         sudo_dir_user_rights/0]).

all() ->
    [{group, read_back}, {group, rotation}, {group, faults}, {group, live},
     {group, cli}].

groups() ->
    [{read_back, [], [read_back_pcapng, read_back_pcapng_nano, read_back_pcap,
                      pcapng_blocks, deliver_both, epcap_file_same_blocks]},
     {rotation, [], [rotate_packets, rotate_size, rotate_seconds, ring, names]},
     {faults, [], [disk_full, missing_dir, read_only_dir, existing_file,
                   link_at_next_name, sudo_dir_user_rights]},
     {live, [], [live_stop_mid_file]},
     {cli, [], [cli_file_copy]}].

init_per_suite(Config) ->
    case epcap_test_lib:is_root() of
        true -> Config;
        false -> {skip, "the port drops to nobody: run as root"}
    end.

end_per_suite(_Config) ->
    ok.

init_per_group(live, Config) ->
    [{host, epcap_test_lib:netns_up(1)} | Config];
init_per_group(_, Config) ->
    Config.

end_per_group(live, Config) ->
    epcap_test_lib:netns_down(?config(host, Config));
end_per_group(_, _Config) ->
    ok.

%% Each case its own directory, writable by the user the port drops to.
init_per_testcase(Case, Config) ->
    Dir = filename:join(?config(priv_dir, Config), atom_to_list(Case)),
    ok = filelib:ensure_path(Dir),
    ok = file:change_mode(Dir, 8#777),
    epcap_test_lib:flush(),
    [{dir, Dir} | Config].

end_per_testcase(_Case, _Config) ->
    ok.

%%--------------------------------------------------------------------
%% helpers
%%--------------------------------------------------------------------

data(Name) -> epcap_test_lib:data(Name).

opts(Extra) -> epcap_test_lib:opts(Extra).

%% A capture to its end: the messages the owner heard, in order, ending
%% with its end ({epcap, eof} or {epcap, {error, _}}).
run(Opts) ->
    {ok, Pid} = epcap:start(opts(Opts)),
    heard(Pid, []).

heard(Pid, Acc) ->
    receive
        {epcap, _} = End -> lists:reverse([End | Acc]);
        {epcap_saved, Pid, _} = M -> heard(Pid, [M | Acc]);
        {epcap_removed, Pid, _} = M -> heard(Pid, [M | Acc]);
        {packet, _, _, _, _} = M -> heard(Pid, [M | Acc])
    after 20000 -> error({timeout, lists:reverse(Acc)})
    end.

saved(Msgs) -> [M || {epcap_saved, _, M} <- Msgs].
removed(Msgs) -> [P || {epcap_removed, _, P} <- Msgs].

%% Every packet of a file as epcap reads it.
packets(File, Unit) ->
    {ok, _} = epcap:start(opts([{file, File}, {time_unit, Unit}])),
    {Pkts, eof} = epcap_test_lib:collect_until(10000, []),
    Pkts.

golden(Name) ->
    {ok, B} = file:read_file(data(Name)),
    binary_to_list(B).

sh(Cmd) ->
    {0, Out} = epcap_test_lib:cmd(Cmd),
    Out.

tshark(File) ->
    sh("tshark -r '" ++ File ++ "' -o frame.generate_md5_hash:TRUE -T fields"
       " -e frame.time_epoch -e frame.len -e frame.cap_len -e frame.md5_hash 2>/dev/null").

tcpdump(File) ->
    sh("tcpdump --nano -nn -tt -xx -r '" ++ File ++ "' 2>/dev/null").

capinfos(File) ->
    Out = sh("capinfos -M -S -c -a -e '" ++ File ++ "'"),
    Lines = [string:trim(L, trailing)
             || L <- string:split(Out, "\n", all),
                lists:any(fun(P) -> string:prefix(L, P) =/= nomatch end,
                          ["Number of packets", "First packet", "Last packet"])],
    lists:flatten([[L, "\n"] || L <- Lines]).

%% The three tools and epcap read Saved as they read Orig.
same_as(Saved, Orig, Base, Unit) ->
    ?assertEqual(golden(Base ++ ".save.tshark"), tshark(Saved)),
    ?assertEqual(golden(Base ++ ".save.tcpdump"), tcpdump(Saved)),
    ?assertEqual(golden(Base ++ ".save.capinfos"), capinfos(Saved)),
    ?assertEqual(packets(Orig, Unit), packets(Saved, Unit)).

%% pcapng's blocks: [{Type, Body}], little-endian (this host's order).
blocks(<<>>) -> [];
blocks(<<Type:32/little, Len:32/little, _/binary>> = B) ->
    BodyLen = Len - 12,
    <<_:8/binary, Body:BodyLen/binary, Len:32/little, Rest/binary>> = B,
    [{Type, Body} | blocks(Rest)].

%% A block's options: [{Code, Value}] up to opt_endofopt.
options(<<0:16, 0:16, _/binary>>) -> [];
options(<<Code:16/little, Len:16/little, Rest/binary>>) ->
    Pad = (4 - Len rem 4) rem 4,
    <<V:Len/binary, _:Pad/binary, More/binary>> = Rest,
    [{Code, V} | options(More)].

file_blocks(File) ->
    {ok, B} = file:read_file(File),
    blocks(B).

%% A capture whose packets lie a second apart: N UDP frames, at
%% 1000, 1001, ... seconds.
spaced_capture(Dir, N) ->
    Out = filename:join(Dir, "spaced.pcap"),
    {ok, F} = epcap_file:open(Out, #{linktype => 1, time_unit => microsecond}),
    [ok = epcap_file:write(F, {packet, 1, (1000 + I) * 1000000, 60, frame(I, 60)})
     || I <- lists:seq(0, N - 1)],
    ok = epcap_file:close(F),
    Out.

%% A capture of N frames of Size bytes, microseconds apart.
big_capture(Dir, N, Size) ->
    Out = filename:join(Dir, "big.pcap"),
    {ok, F} = epcap_file:open(Out, #{linktype => 1, time_unit => microsecond}),
    [ok = epcap_file:write(F, {packet, 1, 1700000000000000 + I, Size, frame(I, Size)})
     || I <- lists:seq(0, N - 1)],
    ok = epcap_file:close(F),
    Out.

frame(I, Size) ->
    <<I:32, (binary:copy(<<(I rem 256)>>, Size - 4))/binary>>.

ls(Dir) ->
    {ok, Names} = file:list_dir(Dir),
    lists:sort(Names).

%%--------------------------------------------------------------------
%% read back
%%--------------------------------------------------------------------

read_back_pcapng() ->
    [{doc, "Ensure that a pcapng file saved by the port from {file, _} is read by "
      "tshark, tcpdump, capinfos and epcap with every packet, byte for byte, "
      "with the same times, and that the owner hears of it once."}].
read_back_pcapng(Config) ->
    Out = filename:join(?config(dir, Config), "a.pcapng"),
    Orig = data("veth_mixed.pcap"),
    Msgs = run([{file, Orig}, {save, Out}, {deliver, none}]),
    [#{path := Out, packets := 40, bytes := Bytes, first := {_, _, _}}] = saved(Msgs),
    {epcap, eof} = lists:last(Msgs),
    ?assertEqual({ok, Bytes}, {ok, filelib:file_size(Out)}),
    same_as(Out, Orig, "veth_mixed", microsecond).

read_back_pcapng_nano() ->
    [{doc, "Ensure that a nanosecond capture is saved with if_tsresol 9 and read "
      "back with its nanoseconds."}].
read_back_pcapng_nano(Config) ->
    Out = filename:join(?config(dir, Config), "n.pcapng"),
    Orig = data("veth_mixed_nano.pcap"),
    Msgs = run([{file, Orig}, {save, Out}, {deliver, none}, {time_unit, nanosecond}]),
    [#{packets := 40, first := 1795709647108940243}] = saved(Msgs),
    [_, {1, Idb} | _] = file_blocks(Out),
    <<1:16/little, _:16, _:32, IdbOpts/binary>> = Idb,
    ?assertEqual(<<9>>, proplists:get_value(9, options(IdbOpts))),
    same_as(Out, Orig, "veth_mixed_nano", nanosecond).

read_back_pcap() ->
    [{doc, "Ensure that {save_format, pcap} writes a classic pcap file that the "
      "tools and epcap read as the original."}].
read_back_pcap(Config) ->
    Out = filename:join(?config(dir, Config), "c.pcap"),
    Orig = data("veth_mixed.pcap"),
    Msgs = run([{file, Orig}, {save, Out}, {save_format, pcap}, {deliver, none}]),
    [#{packets := 40}] = saved(Msgs),
    {ok, <<16#a1b2c3d4:32/little, 2:16/little, 4:16/little, _/binary>>} =
        file:read_file(Out),
    same_as(Out, Orig, "veth_mixed", microsecond).

pcapng_blocks() ->
    [{doc, "Ensure that the pcapng file holds the blocks dumpcap writes: an SHB "
      "with shb_userappl and shb_os, an IDB with link type, snaplen, "
      "if_tsresol and if_filter, one EPB a packet, and an ISB with start "
      "and end times at the close."}].
pcapng_blocks(Config) ->
    Out = filename:join(?config(dir, Config), "b.pcapng"),
    Msgs = run([{file, data("veth_mixed.pcap")}, {save, Out}, {deliver, none},
                {filter, "ip"}]),
    [#{packets := N}] = saved(Msgs),
    [{16#0A0D0D0A, Shb}, {1, Idb} | Rest] = file_blocks(Out),
    <<16#1A2B3C4D:32/little, 1:16/little, 0:16/little, -1:64/little-signed,
      ShbOpts/binary>> = Shb,
    _ = application:load(epcap),
    {ok, Vsn} = application:get_key(epcap, vsn),
    ?assertEqual(list_to_binary("epcap " ++ Vsn), proplists:get_value(4, options(ShbOpts))),
    {match, _} = re:run(proplists:get_value(3, options(ShbOpts)), "^Linux "),
    <<1:16/little, 0:16, Snap:32/little, IdbOpts/binary>> = Idb,
    ?assert(Snap >= 65535),
    ?assertEqual(<<0, "ip">>, proplists:get_value(11, options(IdbOpts))),
    ?assertEqual(<<6>>, proplists:get_value(9, options(IdbOpts))),
    Epbs = [B || {6, B} <- Rest],
    ?assertEqual(N, length(Epbs)),
    ?assertEqual(length(Rest) - 1, N),
    {5, Isb} = lists:last(Rest),
    <<0:32, _:64, IsbOpts/binary>> = Isb,
    Os = options(IsbOpts),
    ?assertMatch([2, 3], [C || {C, _} <- Os]),
    %% the same packets as tshark's filter keeps
    ?assertEqual(integer_to_list(N),
                 string:trim(sh("tshark -r " ++ data("veth_mixed.pcap")
                                ++ " -Y ip 2>/dev/null | wc -l"))).

deliver_both() ->
    [{doc, "Ensure that with {save, _} and the default delivery every packet goes "
      "both to the owner and to the file."}].
deliver_both(Config) ->
    Out = filename:join(?config(dir, Config), "d.pcapng"),
    Orig = data("veth_mixed.pcap"),
    Msgs = run([{file, Orig}, {save, Out}]),
    Pkts = [P || {packet, _, _, _, _} = P <- Msgs],
    ?assertEqual(40, length(Pkts)),
    [#{packets := 40}] = saved(Msgs),
    ?assertEqual(packets(Orig, timestamp), packets(Out, timestamp)).

epcap_file_same_blocks() ->
    [{doc, "Ensure that epcap_file's pcapng writer lays out what the port "
      "writes: the same block sequence and options, an IDB and EPBs byte for "
      "byte the same, for micro- and nanosecond captures; and that the tools "
      "read its file as the original."}].
epcap_file_same_blocks(Config) ->
    Dir = ?config(dir, Config),
    [begin
         Orig = data(Base ++ ".pcap"),
         Port = filename:join(Dir, Base ++ ".port.pcapng"),
         Erl = filename:join(Dir, Base ++ ".erl.pcapng"),
         [_] = saved(run([{file, Orig}, {save, Port}, {deliver, none},
                          {time_unit, Unit}])),
         {ok, F} = epcap_file:open(Erl, #{format => pcapng, precision => Prec,
                                          time_unit => Unit, snaplen => 262144}),
         [ok = epcap_file:write(F, P) || P <- packets(Orig, Unit)],
         ok = epcap_file:close(F),
         [{T1, Shb1}, Idb1 | Rest1] = file_blocks(Port),
         [{T1, Shb2}, Idb2 | Rest2] = file_blocks(Erl),
         <<Fixed:16/binary, O1/binary>> = Shb1,
         <<Fixed:16/binary, O2/binary>> = Shb2,
         ?assertEqual([C || {C, _} <- options(O1)], [C || {C, _} <- options(O2)]),
         ?assertEqual(proplists:get_value(4, options(O1)), proplists:get_value(4, options(O2))),
         ?assertEqual(Idb1, Idb2),
         ?assertEqual([B || {6, _} = B <- Rest1], [B || {6, _} = B <- Rest2]),
         {5, <<0:32, _:64, I1/binary>>} = lists:last(Rest1),
         {5, <<0:32, _:64, I2/binary>>} = lists:last(Rest2),
         ?assertEqual([C || {C, _} <- options(I1)], [C || {C, _} <- options(I2)]),
         ?assertEqual(golden(Base ++ ".save.tshark"), tshark(Erl))
     end
     || {Base, Prec, Unit} <- [{"veth_mixed", micro, microsecond},
                               {"veth_mixed_nano", nano, nanosecond}]],
    ok.

%%--------------------------------------------------------------------
%% rotation
%%--------------------------------------------------------------------

%% Every file of a set, in order, read as one capture by epcap.
all_packets(Paths) ->
    lists:append([packets(P, microsecond) || P <- Paths]).

rotate_packets() ->
    [{doc, "Ensure that {rotate, [{packets, N}]} starts a new file every N "
      "packets, and that the files together hold every packet in order."}].
rotate_packets(Config) ->
    Dir = ?config(dir, Config),
    Orig = data("veth_mixed.pcap"),
    Msgs = run([{file, Orig}, {save, filename:join(Dir, "p.pcapng")},
                {rotate, [{packets, 15}]}, {deliver, none}]),
    Saved = saved(Msgs),
    ?assertEqual([15, 15, 10], [N || #{packets := N} <- Saved]),
    Paths = [P || #{path := P} <- Saved],
    ?assertEqual([filename:basename(P) || P <- Paths], ls(Dir)),
    ?assertEqual(packets(Orig, microsecond), all_packets(Paths)).

rotate_size() ->
    [{doc, "Ensure that {rotate, [{size, B}]} starts a new file before one would "
      "pass B bytes, ISB included."}].
rotate_size(Config) ->
    Dir = ?config(dir, Config),
    Orig = data("veth_mixed.pcap"),
    Msgs = run([{file, Orig}, {save, filename:join(Dir, "s.pcapng")},
                {rotate, [{size, 1500}]}, {deliver, none}]),
    Saved = saved(Msgs),
    ?assert(length(Saved) > 2),
    [?assert(B =< 1500 orelse N =:= 1) || #{bytes := B, packets := N} <- Saved],
    [?assertEqual(B, filelib:file_size(P)) || #{bytes := B, path := P} <- Saved],
    ?assertEqual(packets(Orig, microsecond), all_packets([P || #{path := P} <- Saved])).

rotate_seconds() ->
    [{doc, "Ensure that {rotate, [{seconds, S}]} starts a new file when the next "
      "packet is S seconds after the file's first (by the packets' times)."}].
rotate_seconds(Config) ->
    Dir = ?config(dir, Config),
    Orig = spaced_capture(?config(priv_dir, Config), 10),
    Msgs = run([{file, Orig}, {save, filename:join(Dir, "t.pcapng")},
                {rotate, [{seconds, 3}]}, {deliver, none}, {time_unit, microsecond}]),
    Saved = saved(Msgs),
    ?assertEqual([3, 3, 3, 1], [N || #{packets := N} <- Saved]),
    ?assertEqual([{1000000000, 1002000000}, {1003000000, 1005000000},
                  {1006000000, 1008000000}, {1009000000, 1009000000}],
                 [{F, L} || #{first := F, last := L} <- Saved]).

ring() ->
    [{doc, "Ensure that {files, N} keeps only the newest N files, removing the "
      "oldest of its own set only, and says which it removed."}].
ring(Config) ->
    Dir = ?config(dir, Config),
    Other = filename:join(Dir, "r_00001_20000101000000.pcapng.keep"),
    ok = file:write_file(Other, <<"not ours">>),
    Msgs = run([{file, data("veth_mixed.pcap")}, {save, filename:join(Dir, "r.pcapng")},
                {rotate, [{packets, 5}, {files, 3}]}, {deliver, none}]),
    Saved = [P || #{path := P} <- saved(Msgs)],
    ?assertEqual(8, length(Saved)),
    {Old, New} = lists:split(5, Saved),
    ?assertEqual(Old, removed(Msgs)),
    ?assertEqual(lists:sort([filename:basename(Other) | [filename:basename(P) || P <- New]]),
                 ls(Dir)),
    %% each removal follows the save that made it due
    [{epcap_saved, _, #{path := P4}}, {epcap_removed, _, R1} | _] =
        lists:dropwhile(fun({epcap_saved, _, #{path := P}}) -> P =/= lists:nth(3, Saved);
                           (_) -> true end, Msgs),
    ?assertEqual({lists:nth(3, Saved), hd(Saved)}, {P4, R1}).

names() ->
    [{doc, "Ensure that rotated files are named as dumpcap names them, "
      "Base_NNNNN_YYYYmmddHHMMSS.Ext from 00001 (no extension stays none), "
      "that without rotation the file is the path itself, and that files "
      "are made 0640, or {save_mode, M} exactly."}].
names(Config) ->
    Dir = ?config(dir, Config),
    Msgs = run([{file, data("veth_mixed.pcap")}, {save, filename:join(Dir, "cap")},
                {rotate, [{packets, 20}]}, {deliver, none}]),
    Names = [filename:basename(P) || #{path := P} <- saved(Msgs)],
    ?assertMatch([_, _], Names),
    [{match, [S1, T1]}, {match, [S2, _]}] =
        [re:run(N, "^cap_([0-9]{5})_([0-9]{14})$", [{capture, all_but_first, list}])
         || N <- Names],
    ?assertEqual({"00001", "00002"}, {S1, S2}),
    %% the local time the file was made, within the last minute
    {{Y, Mo, D}, {H, Mi, Se}} = calendar:local_time(),
    Now = lists:flatten(io_lib:format("~4..0b~2..0b~2..0b~2..0b~2..0b~2..0b",
                                      [Y, Mo, D, H, Mi, Se])),
    ?assert(T1 =< Now andalso T1 >= lists:sublist(Now, 10) ++ "0000"),
    Plain = filename:join(Dir, "plain.pcapng"),
    [#{path := Plain}] = saved(run([{file, data("veth_mixed.pcap")}, {save, Plain},
                                    {deliver, none}])),
    %% the mode: 0640 by default, {save_mode, M} exactly (no umask)
    {ok, #file_info{mode = M1}} = file:read_file_info(Plain),
    ?assertEqual(8#640, M1 band 8#777),
    Mode = filename:join(Dir, "mode.pcapng"),
    [_] = saved(run([{file, data("veth_mixed.pcap")}, {save, Mode}, {save_mode, 8#664},
                     {deliver, none}])),
    {ok, #file_info{mode = M2}} = file:read_file_info(Mode),
    ?assertEqual(8#664, M2 band 8#777).

%%--------------------------------------------------------------------
%% faults
%%--------------------------------------------------------------------

disk_full() ->
    [{doc, "Ensure that a full disk ends the capture with {error, {save, Msg}} "
      "after the current file is closed holding only whole packets, which "
      "tshark reads without error, and that the owner hears of it."}].
disk_full(Config) ->
    Dir = ?config(dir, Config),
    Big = big_capture(?config(priv_dir, Config), 4000, 200),
    case os:cmd("mount -t tmpfs -o size=256k,mode=0777 epcap_save_test '" ++ Dir ++ "' 2>&1") of
        "" ->
            try
                Out = filename:join(Dir, "f.pcapng"),
                Msgs = run([{file, Big}, {save, Out}, {deliver, none},
                            {time_unit, microsecond}]),
                {epcap, {error, {save, Msg}}} = lists:last(Msgs),
                ?assertNotEqual(nomatch, string:find(Msg, "No space left")),
                [#{packets := N, bytes := B}] = saved(Msgs),
                ?assert(N > 0 andalso N < 4000),
                ?assertEqual(B, filelib:file_size(Out)),
                {0, _} = epcap_test_lib:cmd("tshark -r '" ++ Out ++ "' >/dev/null 2>&1"),
                ?assertEqual(lists:sublist(packets(Big, microsecond), N),
                             packets(Out, microsecond))
            after
                "" = os:cmd("umount '" ++ Dir ++ "' 2>&1")
            end;
        Other ->
            {skip, "cannot mount a tmpfs: " ++ Other}
    end.

missing_dir() ->
    [{doc, "Ensure that a directory that does not exist is {error, {save, Msg}} "
      "at start."}].
missing_dir(Config) ->
    Out = filename:join([?config(dir, Config), "nope", "a.pcapng"]),
    {error, {save, Msg}} = epcap:start(opts([{file, data("veth_mixed.pcap")},
                                             {save, Out}])),
    ?assertNotEqual(nomatch, string:find(Msg, "No such file")).

read_only_dir() ->
    [{doc, "Ensure that a directory the port may not write is {error, {save, Msg}} "
      "at start, and that nothing is left in it."}].
read_only_dir(Config) ->
    Dir = ?config(dir, Config),
    ok = file:change_mode(Dir, 8#555),
    {error, {save, Msg}} = epcap:start(opts([{file, data("veth_mixed.pcap")},
                                             {save, filename:join(Dir, "a.pcapng")}])),
    ?assertNotEqual(nomatch, string:find(Msg, "denied")),
    ?assertEqual([], ls(Dir)).

existing_file() ->
    [{doc, "Ensure that a file already at the path is never overwritten: "
      "{error, {save, Msg}} at start and the file unchanged."}].
existing_file(Config) ->
    Out = filename:join(?config(dir, Config), "a.pcapng"),
    ok = file:write_file(Out, <<"precious">>),
    {error, {save, Msg}} = epcap:start(opts([{file, data("veth_mixed.pcap")},
                                             {save, Out}])),
    ?assertNotEqual(nomatch, string:find(Msg, "File exists")),
    ?assertEqual({ok, <<"precious">>}, file:read_file(Out)).

link_at_next_name() ->
    [{doc, "Ensure that a symlink planted at the next rotation's name is not "
      "followed: the capture ends with {error, {save, _}}, the link's target "
      "is not created and the files before it are whole."}].
link_at_next_name(Config) ->
    Dir = ?config(dir, Config),
    Target = filename:join(?config(priv_dir, Config), "link_target"),
    Now = erlang:system_time(second),
    [ok = file:make_symlink(Target, filename:join(Dir, "l_00002_" ++ stamp(T) ++ ".pcapng"))
     || T <- lists:seq(Now - 2, Now + 60)],
    Msgs = run([{file, data("veth_mixed.pcap")}, {save, filename:join(Dir, "l.pcapng")},
                {rotate, [{packets, 5}]}, {deliver, none}]),
    {epcap, {error, {save, Msg}}} = lists:last(Msgs),
    ?assertNotEqual(nomatch, string:find(Msg, "File exists")),
    ?assertEqual({error, enoent}, file:read_link_info(Target)),
    [#{path := First, packets := 5}] = saved(Msgs),
    ?assertEqual(lists:sublist(packets(data("veth_mixed.pcap"), microsecond), 5),
                 packets(First, microsecond)).

sudo_dir_user_rights() ->
    [{doc, "Ensure that a port run as root by sudo opens the save directory with "
      "the invoking user's rights: a directory that user may not write is "
      "refused as {error, {save, _}} with nothing written, even though the "
      "user the port drops to (nobody) could write it; one both may write "
      "is saved to."}].
sudo_dir_user_rights(_Config) ->
    Base = "/tmp/epcap_save_sudo_" ++ os:getpid(),
    Closed = filename:join(Base, "root_only"),
    Open = filename:join(Base, "shared"),
    [ok = filelib:ensure_path(D) || D <- [Closed, Open]],
    ok = file:change_mode(Base, 8#755),
    %% nobody's own directory: the drop target may write it, the sudo
    %% user (daemon) may not
    "" = os:cmd("chown nobody '" ++ Closed ++ "'"),
    ok = file:change_mode(Closed, 8#700),
    ok = file:change_mode(Open, 8#777),
    %% The capture file too is opened as the sudo user: a copy it may read
    %% (the checkout may be in a directory it cannot enter).
    In = filename:join(Base, "in.pcap"),
    {ok, _} = file:copy(data("veth_mixed.pcap"), In),
    ok = file:change_mode(In, 8#644),
    {0, Uid} = epcap_test_lib:cmd("id -u daemon"),
    os:putenv("SUDO_UID", string:trim(Uid)),
    try
        {error, {save, Msg}} = epcap:start(opts([{file, In},
                                                 {save, filename:join(Closed, "a.pcapng")}])),
        ?assertNotEqual(nomatch, string:find(Msg, "denied")),
        ?assertEqual([], ls(Closed)),
        Out = filename:join(Open, "a.pcapng"),
        [#{packets := 40}] = saved(run([{file, In}, {save, Out}, {deliver, none}]))
    after
        os:unsetenv("SUDO_UID"),
        _ = os:cmd("rm -rf '" ++ Base ++ "'")
    end.

saved_at_least(Pid, N, Ms) ->
    {ok, #{saved := Saved, save_errors := 0}} = epcap:stats(Pid),
    if
        Saved >= N; Ms =< 0 -> Saved;
        true -> timer:sleep(100), saved_at_least(Pid, N, Ms - 100)
    end.

stamp(T) ->
    {{Y, Mo, D}, {H, Mi, S}} =
        calendar:system_time_to_local_time(T, second),
    lists:flatten(io_lib:format("~4..0b~2..0b~2..0b~2..0b~2..0b~2..0b",
                                [Y, Mo, D, H, Mi, S])).

%%--------------------------------------------------------------------
%% live
%%--------------------------------------------------------------------

live_stop_mid_file() ->
    [{doc, "Ensure that a live capture saving to disk counts saved packets in "
      "stats/1 (on disk within a second), and that stop/1 leaves a whole file (ISB with ifrecv and "
      "ifdrop last, if_name the interface) of which the owner hears."}].
live_stop_mid_file(Config) ->
    #{a := If} = Host = ?config(host, Config),
    Out = filename:join(?config(dir, Config), "live.pcapng"),
    {ok, Pid} = epcap:start(opts([{interface, If}, {save, Out}, {deliver, none},
                                  {filter, "icmp"}])),
    OsPid = epcap_test_lib:os_pid(Pid),
    _ = epcap_test_lib:ping_in(Host, 3),
    %% {deliver, none} waits up to 250 ms for libpcap, then up to 200 ms to
    %% write: the 6 frames are on disk within a second
    Saved = saved_at_least(Pid, 6, 3000),
    ?assert(Saved >= 6),
    ok = epcap:stop(Pid),
    N = receive {epcap_saved, Pid, #{path := Out, packets := P}} -> P
        after 5000 -> error(no_saved_message)
        end,
    ?assert(N >= Saved),
    true = epcap_test_lib:wait_gone(OsPid, 5000),
    [{16#0A0D0D0A, _}, {1, Idb} | Rest] = file_blocks(Out),
    <<_:64, IdbOpts/binary>> = Idb,
    ?assertEqual(list_to_binary(If), proplists:get_value(2, options(IdbOpts))),
    {5, Isb} = lists:last(Rest),
    <<0:32, _:64, IsbOpts/binary>> = Isb,
    ?assertEqual([2, 3, 4, 5], [C || {C, _} <- options(IsbOpts)]),
    <<Recv:64/little>> = proplists:get_value(4, options(IsbOpts)),
    ?assert(Recv >= N),
    ?assertEqual(N, length(packets(Out, microsecond))).

%%--------------------------------------------------------------------
%% bin/epcap-save
%%--------------------------------------------------------------------

cli_file_copy() ->
    [{doc, "Ensure that bin/epcap-save -r FILE -f FILTER -w PATH -c N -W K -F pcap "
      "writes the filtered packets into a ring of pcap files, says each file on "
      "stderr, exits 0; and that bad usage exits 2 and a missing directory 1."}].
cli_file_copy(Config) ->
    Dir = ?config(dir, Config),
    Source = proplists:get_value(source, ?MODULE:module_info(compile)),
    Script = filename:join([filename:dirname(filename:dirname(Source)), "bin", "epcap-save"]),
    Orig = data("veth_mixed.pcap"),
    {0, Err} = epcap_test_lib:cmd(Script ++ " -r " ++ Orig ++ " -f tcp -w " ++ Dir
                                  ++ "/t.pcap -c 10 -W 2 -F pcap"),
    Lines = [L || L <- string:split(Err, "\n", all), L =/= ""],
    ?assertMatch([_, _, _, _], Lines),
    ?assertMatch({match, _}, re:run(lists:last(Lines), "t_00003_[0-9]{14}\\.pcap: 6 packets")),
    [F2, F3] = [filename:join(Dir, N) || N <- ls(Dir)],
    ?assertMatch({match, _}, re:run(F2, "t_00002_[0-9]{14}\\.pcap$")),
    {ok, <<16#a1b2c3d4:32/little, _/binary>>} = file:read_file(F3),
    Tcp = [P || {packet, _, _, _, <<_:12/binary, 16#0800:16, _:9/binary, 6, _/binary>>} = P
                    <- packets(Orig, microsecond)]
        ++ [P || {packet, _, _, _, <<_:12/binary, 16#86dd:16, _:6/binary, 6, _/binary>>} = P
                     <- packets(Orig, microsecond)],
    ?assertEqual(26, length(Tcp)),
    ?assertEqual(16, length(packets(F2, microsecond) ++ packets(F3, microsecond))),
    {2, "usage: epcap-save" ++ _} = epcap_test_lib:cmd(Script ++ " -r " ++ Orig),
    {1, Missing} = epcap_test_lib:cmd(Script ++ " -r " ++ Orig ++ " -w " ++ Dir ++ "/no/x"),
    ?assertMatch({match, _}, re:run(Missing, "save.*No such file")).
