%%% @doc EUnit tests of {@link epcap_file}, and a small pcap / pcapng
%%% reader used only by the tests (also by `epcap_file_SUITE').
-module(epcap_file_tests).

-include_lib("eunit/include/eunit.hrl").

%% test helpers shared with epcap_file_SUITE
-export([read_pcap/1, data_dir/0, data_files/0, to_packets/3]).

-define(NS, 1000000000).

%%====================================================================
%% Test-only reader
%%====================================================================

%% @doc Reads a classic pcap (either byte order, micro- or nanosecond
%% magic) or a simple pcapng file (one section; interface description and
%% enhanced packet blocks, other blocks skipped).
%%
%% Returns `{ok, Info, Records}', `{partial, Info, Records, Reason}' when
%% the file ends inside a record, or `{error, Reason}'. Info is a map with
%% `format', `linktype', `snaplen', `precision' (micro | nano) and
%% `endian'; each record is `{TimeNs, OrigLen, Data}'.
%%
%% Example: `{ok, #{linktype := 1}, Recs} = read_pcap("test/data/veth_mixed.pcap")'.
-spec read_pcap(file:filename() | {binary, binary()}) ->
          {ok, map(), [{non_neg_integer(), non_neg_integer(), binary()}]}
              | {partial, map(), list(), term()}
              | {error, term()}.
read_pcap({binary, Bin}) ->
    parse(Bin);
read_pcap(Path) ->
    case file:read_file(Path) of
        {ok, Bin} -> parse(Bin);
        Error -> Error
    end.

parse(<<16#a1b2c3d4:32/big, _/binary>> = B) -> classic(B, big, micro);
parse(<<16#a1b2c3d4:32/little, _/binary>> = B) -> classic(B, little, micro);
parse(<<16#a1b23c4d:32/big, _/binary>> = B) -> classic(B, big, nano);
parse(<<16#a1b23c4d:32/little, _/binary>> = B) -> classic(B, little, nano);
parse(<<16#0a0d0d0a:32, _/binary>> = B) -> pcapng(B);
parse(B) when byte_size(B) < 24 -> {error, short_file};
parse(_) -> {error, unknown_format}.

classic(Bin, E, Precision) ->
    case Bin of
        <<_:32, Maj:16/unit:1, Min:16, _Zone:32, _Sig:32, Snap:32, LT:32,
          Rest/binary>> ->
            {Major, Minor, SnapLen, LinkType} =
                case E of
                    big -> {Maj, Min, Snap, LT};
                    little -> {swap16(Maj), swap16(Min), swap32(Snap), swap32(LT)}
                end,
            Info = #{format => pcap, linktype => LinkType, snaplen => SnapLen,
                     precision => Precision, endian => E,
                     version => {Major, Minor}},
            classic_records(Rest, E, Precision, Info, []);
        _ ->
            {error, short_header}
    end.

swap16(X) -> <<Y:16/little>> = <<X:16/big>>, Y.
swap32(X) -> <<Y:32/little>> = <<X:32/big>>, Y.

u32(<<X:32/big>>, big) -> X;
u32(<<X:32/little>>, little) -> X.

classic_records(<<>>, _E, _P, Info, Acc) ->
    {ok, Info, lists:reverse(Acc)};
classic_records(<<H:16/binary, Rest/binary>>, E, P, Info, Acc) ->
    <<S:4/binary, F:4/binary, C:4/binary, L:4/binary>> = H,
    CapLen = u32(C, E),
    case Rest of
        <<Data:CapLen/binary, Rest2/binary>> ->
            Frac = u32(F, E),
            Ns = u32(S, E) * ?NS + case P of micro -> Frac * 1000; nano -> Frac end,
            classic_records(Rest2, E, P, Info, [{Ns, u32(L, E), Data} | Acc]);
        _ ->
            {partial, Info, lists:reverse(Acc), truncated_record}
    end;
classic_records(_Short, _E, _P, Info, Acc) ->
    {partial, Info, lists:reverse(Acc), truncated_header}.

%% pcapng: SHB, IDB, EPB; everything else skipped.
pcapng(<<16#0a0d0d0a:32, _Len:32, BOM:32/big, _/binary>> = Bin) ->
    E = case BOM of
            16#1a2b3c4d -> big;
            16#4d3c2b1a -> little
        end,
    pcapng_blocks(Bin, E, #{}, [], undefined).

pcapng_blocks(<<>>, _E, _Ifs, Acc, Info) ->
    {ok, Info, lists:reverse(Acc)};
pcapng_blocks(<<T:4/binary, L:4/binary, _/binary>> = Bin, E, Ifs, Acc, Info) ->
    Type = u32(T, E),
    Len = u32(L, E),
    case Bin of
        <<Block:Len/binary, Rest/binary>> ->
            BodyLen = Len - 12,
            <<_:8/binary, Body:BodyLen/binary, _:4/binary>> = Block,
            case Type of
                1 ->
                    <<LT:2/binary, _:2/binary, Snap:4/binary, Opts/binary>> = Body,
                    LinkType = case E of
                                   big -> binary:decode_unsigned(LT, big);
                                   little -> binary:decode_unsigned(LT, little)
                               end,
                    Res = tsresol(Opts, E),
                    Id = maps:size(Ifs),
                    Info1 = case Info of
                                undefined ->
                                    #{format => pcapng, linktype => LinkType,
                                      snaplen => u32(Snap, E), endian => E,
                                      precision => case Res of
                                                       9 -> nano;
                                                       _ -> micro
                                                   end};
                                _ -> Info
                            end,
                    pcapng_blocks(Rest, E, Ifs#{Id => Res}, Acc, Info1);
                6 ->
                    <<If:4/binary, TH:4/binary, TL:4/binary, C:4/binary,
                      O:4/binary, Data0/binary>> = Body,
                    CapLen = u32(C, E),
                    <<Data:CapLen/binary, _/binary>> = Data0,
                    Units = (u32(TH, E) bsl 32) bor u32(TL, E),
                    Res = maps:get(u32(If, E), Ifs),
                    Ns = Units * ?NS div pow10(Res),
                    pcapng_blocks(Rest, E, Ifs, [{Ns, u32(O, E), Data} | Acc], Info);
                _ ->
                    pcapng_blocks(Rest, E, Ifs, Acc, Info)
            end;
        _ ->
            {partial, Info, lists:reverse(Acc), truncated_block}
    end.

pow10(N) -> pow10(N, 1).
pow10(0, Acc) -> Acc;
pow10(N, Acc) -> pow10(N - 1, Acc * 10).

%% if_tsresol (option 9); only powers of ten are supported here.
tsresol(<<C:2/binary, L:2/binary, Rest/binary>>, E) ->
    Code = binary:decode_unsigned(C, E),
    Len = binary:decode_unsigned(L, E),
    Pad = (4 - Len rem 4) rem 4,
    case {Code, Rest} of
        {0, _} -> 6;
        {9, <<V, _/binary>>} when V < 128 -> V;
        {_, <<_:Len/binary, _:Pad/binary, Rest2/binary>>} -> tsresol(Rest2, E);
        _ -> 6
    end;
tsresol(_, _) ->
    6.

%%====================================================================
%% Shared helpers
%%====================================================================

%% @doc The directory of the test captures (`test/data').
%% Example: `filelib:is_dir(data_dir())'.
-spec data_dir() -> file:filename().
data_dir() ->
    Source = proplists:get_value(source, ?MODULE:module_info(compile), ?FILE),
    Candidates = [os:getenv("EPCAP_TEST_DATA"),
                  filename:join(filename:dirname(filename:absname(Source)), "data"),
                  filename:join([element(2, file:get_cwd()), "test", "data"])],
    case [D || D <- Candidates, is_list(D),
               filelib:is_regular(filename:join(D, "veth_mixed.pcap"))] of
        [D | _] -> D;
        [] -> error({no_test_data, Candidates})
    end.

%% @doc Every `*.pcap' file of the test data (whatever its format).
%% Example: `length(data_files()) > 0'.
-spec data_files() -> [file:filename()].
data_files() ->
    lists:sort(filelib:wildcard(filename:join(data_dir(), "*.pcap"))).

%% @doc Turns records of {@link read_pcap/1} into epcap packet tuples,
%% with the time in the given unit.
%% Example: `to_packets(1, timestamp, Records)'.
-spec to_packets(non_neg_integer(), epcap_file:time_unit(), list()) -> list().
to_packets(DLT, Unit, Records) ->
    [{packet, DLT, ns_to(Unit, Ns), Len, Data} || {Ns, Len, Data} <- Records].

ns_to(nanosecond, Ns) -> Ns;
ns_to(microsecond, Ns) -> Ns div 1000;
ns_to(timestamp, Ns) ->
    Us = Ns div 1000,
    {Us div 1000000000000, (Us div 1000000) rem 1000000, Us rem 1000000}.

%%====================================================================
%% Tests
%%====================================================================

tmp_file(Name) ->
    Dir = scratch_dir(),
    ok = filelib:ensure_dir(filename:join(Dir, "x")),
    filename:join(Dir, Name).

scratch_dir() -> filename:join(["/tmp", "epcap_file_tests." ++ os:getpid()]).

native() ->
    case <<1:16/native>> of
        <<1:16/little>> -> little;
        _ -> big
    end.

header_defaults_test() ->
    P = tmp_file("defaults.pcap"),
    {ok, F} = epcap_file:open(P, #{}),
    ok = epcap_file:close(F),
    {ok, Bin} = file:read_file(P),
    ?assertEqual(24, byte_size(Bin)),
    Expected = case native() of
                   little -> <<16#a1b2c3d4:32/little, 2:16/little, 4:16/little,
                               0:64, 65535:32/little, 1:32/little>>;
                   big -> <<16#a1b2c3d4:32, 2:16, 4:16, 0:64, 65535:32, 1:32>>
               end,
    ?assertEqual(Expected, Bin),
    ?assertMatch({ok, #{linktype := 1, snaplen := 65535, precision := micro,
                        version := {2, 4}}, []}, read_pcap(P)).

header_nano_big_test() ->
    P = tmp_file("nano_big.pcap"),
    {ok, F} = epcap_file:open(P, #{precision => nano, endian => big,
                                   snaplen => 262144, linktype => 276}),
    ok = epcap_file:close(F),
    ?assertEqual({ok, <<16#a1, 16#b2, 16#3c, 16#4d, 0, 2, 0, 4, 0:64,
                        262144:32, 276:32>>}, file:read_file(P)).

header_little_test() ->
    P = tmp_file("little.pcap"),
    {ok, F} = epcap_file:open(P, #{endian => little, snaplen => 64, linktype => 113}),
    ok = epcap_file:write(F, {packet, 113, {1, 2, 3}, 5, <<1, 2, 3, 4, 5>>}),
    ok = epcap_file:close(F),
    {ok, Bin} = file:read_file(P),
    ?assertEqual(<<16#d4, 16#c3, 16#b2, 16#a1, 2, 0, 4, 0, 0:64, 64, 0, 0, 0,
                   113, 0, 0, 0,
                   16#42, 16#42, 16#0f, 0, 3, 0, 0, 0, 5, 0, 0, 0, 5, 0, 0, 0,
                   1, 2, 3, 4, 5>>, Bin).

dlt_raw_linktype_test() ->
    %% DLT_RAW is 12 on Linux but LINKTYPE_RAW is 101 in files
    P = tmp_file("raw.pcap"),
    {ok, F} = epcap_file:open(P, #{linktype => 12}),
    ok = epcap_file:write(F, {packet, 12, {0, 1, 0}, 1, <<16#45>>}),
    ?assertMatch({error, {linktype_mismatch, 101, 12}},
                 epcap_file:write(F, {packet, 101, {0, 1, 0}, 1, <<16#45>>})),
    ok = epcap_file:close(F),
    ?assertMatch({ok, #{linktype := 101}, [_]}, read_pcap(P)).

bad_options_test_() ->
    P = tmp_file("bad_options.pcap"),
    [?_assertEqual({error, {bad_option, {snaplen, 0}}},
                   epcap_file:open(P, any(#{snaplen => 0}))),
     ?_assertEqual({error, {bad_option, {snaplen, 262145}}},
                   epcap_file:open(P, any(#{snaplen => 262145}))),
     ?_assertEqual({error, {bad_option, {linktype, -1}}},
                   epcap_file:open(P, any(#{linktype => -1}))),
     ?_assertEqual({error, {bad_option, {precision, milli}}},
                   epcap_file:open(P, any(#{precision => milli}))),
     ?_assertEqual({error, {bad_option, {time_unit, second}}},
                   epcap_file:open(P, any(#{time_unit => second}))),
     ?_assertEqual({error, {bad_option, {endian, middle}}},
                   epcap_file:open(P, any(#{endian => middle}))),
     ?_assertEqual({error, {bad_option, {bogus, 1}}},
                   epcap_file:open(P, any(#{bogus => 1}))),
     ?_assertEqual({error, {bad_option, [{snaplen, 1}]}},
                   epcap_file:open(P, any([{snaplen, 1}])))].

open_error_test() ->
    ?assertEqual({error, enoent},
                 epcap_file:open("/nonexistent-dir-epcap/x.pcap", #{})).

dev_full_test() ->
    %% the file header cannot be written: open fails
    case file:read_file_info("/dev/full") of
        {ok, _} -> ?assertEqual({error, enospc}, epcap_file:open("/dev/full", #{}));
        {error, _} -> ok
    end.

%% Hides a term's type from dialyzer: the tests give bad arguments on purpose.
any(X) -> binary_to_term(term_to_binary(X)).

write_read(Opts, Packets) ->
    P = tmp_file("wr.pcap"),
    {ok, F} = epcap_file:open(P, Opts),
    Results = [epcap_file:write(F, any(Pkt)) || Pkt <- Packets],
    ok = epcap_file:close(F),
    {Results, read_pcap(P)}.

time_units_test_() ->
    Ns = 1700000000123456789,
    Us = Ns div 1000,
    Ts = {1700, 123, 456789},
    D = <<"abc">>,
    [%% tuple, micro file
     ?_assertMatch({[ok], {ok, #{precision := micro}, [{1700000123456789000, 3, D}]}},
                   write_read(#{}, [{packet, 1, Ts, 3, D}])),
     %% tuple, nano file
     ?_assertMatch({[ok], {ok, #{precision := nano}, [{1700000123456789000, 3, D}]}},
                   write_read(#{precision => nano}, [{packet, 1, Ts, 3, D}])),
     %% tuple accepted with any time_unit
     ?_assertMatch({[ok], {ok, _, [{1700000123456789000, 3, D}]}},
                   write_read(#{time_unit => nanosecond}, [{packet, 1, Ts, 3, D}])),
     %% microseconds
     ?_assertMatch({[ok], {ok, _, [{1700000000123456000, 3, D}]}},
                   write_read(#{time_unit => microsecond}, [{packet, 1, Us, 3, D}])),
     ?_assertMatch({[ok], {ok, _, [{1700000000123456000, 3, D}]}},
                   write_read(#{time_unit => microsecond, precision => nano},
                              [{packet, 1, Us, 3, D}])),
     %% nanoseconds: exact in a nano file, truncated in a micro file
     ?_assertMatch({[ok], {ok, _, [{Ns, 3, D}]}},
                   write_read(#{time_unit => nanosecond, precision => nano},
                              [{packet, 1, Ns, 3, D}])),
     ?_assertMatch({[ok], {ok, _, [{1700000000123456000, 3, D}]}},
                   write_read(#{time_unit => nanosecond}, [{packet, 1, Ns, 3, D}])),
     %% limits of the 32-bit seconds field
     ?_assertMatch({[ok], {ok, _, [{0, 3, D}]}},
                   write_read(#{time_unit => microsecond}, [{packet, 1, 0, 3, D}]))] ++
    [?_assertMatch({[{error, {bad_time, T}}], {ok, _, []}},
                   write_read(#{time_unit => U}, [{packet, 1, T, 3, D}]))
     || {U, T} <- [{timestamp, Us},               % integer is ambiguous
                   {microsecond, -1},
                   {nanosecond, -1},
                   {microsecond, (16#ffffffff + 1) * 1000000},
                   {timestamp, {1, 2, 1000000}},
                   {timestamp, {-1, 2, 3}},
                   {timestamp, {1, 2}},
                   {microsecond, 1.5},
                   {timestamp, undefined}]].

max_seconds_test() ->
    {[ok], {ok, _, [{Ns, 1, <<0>>}]}} =
        write_read(#{time_unit => microsecond},
                   [{packet, 1, 16#ffffffff * 1000000 + 999999, 1, <<0>>}]),
    ?assertEqual(16#ffffffff * ?NS + 999999000, Ns).

snaplen_truncation_test() ->
    Data = list_to_binary(lists:seq(0, 99)),
    {Res, Read} = write_read(#{snaplen => 64},
                             [{packet, 1, {0, 1, 0}, 100, Data},
                              {packet, 1, {0, 1, 1}, 64, binary_part(Data, 0, 64)},
                              {packet, 1, {0, 1, 2}, 63, binary_part(Data, 0, 63)}]),
    ?assertEqual([ok, ok, ok], Res),
    ?assertEqual({ok, #{format => pcap, linktype => 1, snaplen => 64,
                        precision => micro, endian => native(), version => {2, 4}},
                  [{1000000000, 100, binary_part(Data, 0, 64)},
                   {1000001000, 64, binary_part(Data, 0, 64)},
                   {1000002000, 63, binary_part(Data, 0, 63)}]}, Read).

caplen_below_len_test() ->
    %% a packet captured with a small snaplen keeps its original length
    {[ok, ok], {ok, _, Recs}} =
        write_read(#{}, [{packet, 1, {0, 0, 1}, 1514, <<0:64/unit:8>>},
                         {packet, 1, {0, 0, 2}, 0, <<>>}]),
    ?assertEqual([{1000, 1514, <<0:64/unit:8>>}, {2000, 0, <<>>}], Recs).

bad_packets_test() ->
    {Res, {ok, _, Recs}} =
        write_read(#{}, [{packet, 1, {0, 0, 1}, 3, <<1, 2, 3, 4>>},   % len < caplen
                         {packet, 1, {0, 0, 1}, -1, <<>>},
                         {packet, 1, {0, 0, 1}, 3, "abc"},
                         {packet, 1, {0, 0, 1}, 1 bsl 32, <<>>},
                         {packet, 113, {0, 0, 1}, 3, <<1, 2, 3>>},
                         {pkt, 1, 2, 3},
                         {packet, 1, {0, 0, 1}, 3, <<1, 2, 3>>}]),
    ?assertEqual([{error, {bad_length, 3, 4}},
                  {error, {bad_length, -1, 0}},
                  {error, {bad_packet, "abc"}},
                  {error, {bad_length, 1 bsl 32, 0}},
                  {error, {linktype_mismatch, 113, 1}},
                  {error, {bad_packet, {pkt, 1, 2, 3}}},
                  ok], Res),
    %% nothing of the refused packets was written
    ?assertEqual([{1000, 3, <<1, 2, 3>>}], Recs).

closed_file_test() ->
    P = tmp_file("closed.pcap"),
    {ok, F} = epcap_file:open(P, #{}),
    ok = epcap_file:write(F, {packet, 1, {0, 0, 1}, 1, <<1>>}),
    ok = epcap_file:close(F),
    ?assertEqual({error, closed}, epcap_file:write(F, {packet, 1, {0, 0, 2}, 1, <<2>>})),
    ?assertEqual({error, closed}, epcap_file:close(F)),
    ?assertMatch({ok, _, [{1000, 1, <<1>>}]}, read_pcap(P)).

other_process_test() ->
    P = tmp_file("owner.pcap"),
    {ok, F} = epcap_file:open(P, #{}),
    Self = self(),
    spawn_link(fun() ->
                       Self ! {other, epcap_file:write(F, {packet, 1, {0, 0, 9}, 1, <<9>>}),
                               epcap_file:close(F)}
               end),
    receive {other, W, C} ->
            ?assertEqual({error, not_on_controlling_process}, W),
            ?assertEqual({error, not_on_controlling_process}, C)
    end,
    %% the owner can still use the file
    ok = epcap_file:write(F, {packet, 1, {0, 0, 1}, 1, <<1>>}),
    ok = epcap_file:close(F),
    ?assertMatch({ok, _, [{1000, 1, <<1>>}]}, read_pcap(P)).

%% A small hand-written classic file read by the reader: byte order,
%% nanosecond magic and truncation detection.
reader_test_() ->
    Rec = <<1:32, 500:32, 2:32, 9:32, "hi">>,
    [?_assertEqual({ok, #{format => pcap, linktype => 1, snaplen => 9,
                          precision => nano, endian => big, version => {2, 4}},
                    [{1000000500, 9, <<"hi">>}]},
                   read_pcap({binary, <<16#a1b23c4d:32, 2:16, 4:16, 0:64, 9:32, 1:32,
                                        Rec/binary>>})),
     ?_assertMatch({partial, _, [], truncated_record},
                   read_pcap({binary, <<16#a1b2c3d4:32, 2:16, 4:16, 0:64, 9:32, 1:32,
                                        Rec:17/binary>>})),
     ?_assertEqual({error, short_file}, read_pcap({binary, <<>>})),
     ?_assertEqual({error, unknown_format}, read_pcap({binary, <<0:256>>}))].

%% The reader agrees with the test data README.
reader_data_test_() ->
    D = fun(N) -> filename:join(data_dir(), N) end,
    Count = fun(N) ->
                    case read_pcap(D(N)) of
                        {ok, _, R} -> {ok, length(R)};
                        {partial, _, R, _} -> {partial, length(R)};
                        {error, _} = E -> E
                    end
            end,
    [?_assertEqual({ok, 40}, Count("veth_mixed.pcap")),
     ?_assertEqual({ok, 40}, Count("veth_mixed_nano.pcap")),
     ?_assertEqual({ok, 40}, Count("veth_mixed.pcapng")),
     ?_assertEqual({ok, 40}, Count("snap64.pcap")),
     ?_assertEqual({ok, 12}, Count("loopback.pcap")),
     ?_assertEqual({ok, 17}, Count("any_sll.pcap")),
     ?_assertEqual({ok, 52}, Count("any_sll2.pcap")),
     ?_assertEqual({partial, 27}, Count("truncated.pcap")),
     ?_assertMatch({error, _}, Count("short_header.pcap")),
     ?_assertMatch({error, _}, Count("garbage.pcap")),
     ?_assertMatch({error, _}, Count("empty.pcap")),
     %% same traffic (captured by separate tools, so the time stamps
     %% differ by a few microseconds): same frames
     ?_test(begin
                {ok, _, Us} = read_pcap(D("veth_mixed.pcap")),
                {ok, _, Ns} = read_pcap(D("veth_mixed_nano.pcap")),
                {ok, _, Ng} = read_pcap(D("veth_mixed.pcapng")),
                Frames = fun(Rs) -> [{L, B} || {_, L, B} <- Rs] end,
                ?assertEqual(Frames(Ns), Frames(Ng)),
                ?assertEqual(Frames(Us), Frames(Ns)),
                ?assert(lists:any(fun({T, _, _}) -> T rem 1000 =/= 0 end, Ns)),
                ?assert(lists:all(fun({T, _, _}) -> T rem 1000 =:= 0 end, Us))
            end),
     ?_test(begin
                {ok, _, Snap} = read_pcap(D("snap64.pcap")),
                ?assert(lists:all(fun({_, L, B}) -> byte_size(B) =< 64 andalso
                                                        byte_size(B) =< L end, Snap)),
                ?assert(lists:any(fun({_, L, B}) -> byte_size(B) < L end, Snap))
            end)].

%% Every frame of every test capture written back out and read again:
%% identical records, at every precision and time unit that keeps them.
round_trip_test_() ->
    [{filename:basename(File) ++ " " ++ atom_to_list(Prec) ++ " " ++ atom_to_list(Unit),
      ?_test(round_trip(File, Prec, Unit))}
     || File <- data_files(),
        element(1, read_pcap(File)) =/= error,
        Prec <- [micro, nano],
        Unit <- [timestamp, microsecond, nanosecond]].

round_trip(File, Prec, Unit) ->
    {_, #{linktype := LT, precision := InPrec}, Recs} =
        case read_pcap(File) of
            {ok, I, R} -> {ok, I, R};
            {partial, I, R, _} -> {ok, I, R}
        end,
    Out = tmp_file(filename:basename(File) ++ "." ++ atom_to_list(Prec) ++ "."
                   ++ atom_to_list(Unit) ++ ".pcap"),
    {ok, F} = epcap_file:open(Out, #{linktype => LT, precision => Prec,
                                     time_unit => Unit, snaplen => 262144}),
    Pkts = to_packets(LT, Unit, Recs),
    ?assertEqual([ok || _ <- Pkts], [epcap_file:write(F, P) || P <- Pkts]),
    ok = epcap_file:close(F),
    {ok, #{linktype := LT, precision := Prec}, Back} = read_pcap(Out),
    Keep = case {InPrec, Prec, Unit} of
               {nano, nano, nanosecond} -> fun(T) -> T end;
               {micro, _, _} -> fun(T) -> T end;
               _ -> fun(T) -> T div 1000 * 1000 end
           end,
    ?assertEqual([{Keep(T), L, B} || {T, L, B} <- Recs], Back).

%% Last in the module, so the last of its tests to run (EUnit keeps the
%% order of definition): the scratch directory goes, instead of staying in
%% /tmp after every run.
zz_scratch_removed_test() ->
    ok = file:del_dir_r(scratch_dir()),
    ?assertNot(filelib:is_dir(scratch_dir())).
