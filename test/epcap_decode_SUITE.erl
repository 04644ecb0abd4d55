%%% @doc Common Test suite of epcap_decode: comparison with tshark on the
%%% captures of test/data, checksums validated by tshark, and robustness
%%% against truncated and random input. Captures are read with the
%%% test-only reader of epcap_decode_tests (no port program involved).
-module(epcap_decode_SUITE).

-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").

-export([all/0, suite/0, init_per_suite/1, end_per_suite/1,
         init_per_testcase/2, end_per_testcase/2]).
-export([tshark_fields/0, tshark_fields/1,
         tshark_checksums/0, tshark_checksums/1,
         all_prefixes/0, all_prefixes/1,
         random_binaries/0, random_binaries/1,
         mutated_frames/0, mutated_frames/1,
         broken_files/0, broken_files/1]).

-define(DLTS, [0, 1, 12, 14, 101, 108, 113, 228, 229, 276, 9999]).

%% tshark fields compared, with the layer (frame.protocols name) they
%% belong to.
-define(FIELDS,
        ["eth.src", "eth.dst", "eth.type",
         "sll.pkttype", "sll.hatype", "sll.etype", "sll.ifindex",
         "vlan.id",
         "arp.opcode", "arp.src.hw_mac", "arp.src.proto_ipv4",
         "arp.dst.hw_mac", "arp.dst.proto_ipv4",
         "ip.src", "ip.dst", "ip.proto", "ip.ttl", "ip.id", "ip.len",
         "ip.checksum", "ip.hdr_len",
         "ipv6.src", "ipv6.dst", "ipv6.nxt", "ipv6.plen", "ipv6.hlim", "ipv6.flow",
         "tcp.srcport", "tcp.dstport", "tcp.seq_raw", "tcp.ack_raw", "tcp.flags",
         "tcp.window_size_value", "tcp.checksum", "tcp.hdr_len", "tcp.len",
         "tcp.options.mss_val", "tcp.options.wscale.shift",
         "tcp.options.timestamp.tsval", "tcp.options.timestamp.tsecr",
         "udp.srcport", "udp.dstport", "udp.length", "udp.checksum",
         "icmp.type", "icmp.code", "icmp.checksum", "icmp.seq",
         "icmpv6.type", "icmpv6.code", "icmpv6.checksum",
         "icmpv6.echo.identifier", "icmpv6.echo.sequence_number",
         "icmpv6.nd.ns.target_address", "icmpv6.nd.na.target_address",
         "data.len"]).

%%====================================================================
%% Common Test callbacks
%%====================================================================

suite() ->
    [{timetrap, {minutes, 10}}].

all() ->
    [tshark_fields, tshark_checksums, all_prefixes, random_binaries,
     mutated_frames, broken_files].

init_per_suite(Config) ->
    Captures = [{File, frames(File)} || File <- epcap_decode_tests:captures()],
    [{captures, Captures} | Config].

end_per_suite(_Config) ->
    ok.

init_per_testcase(Case, Config) when Case =:= tshark_fields;
                                     Case =:= tshark_checksums ->
    case os:find_executable("tshark") of
        false -> {skip, "tshark not installed"};
        TShark -> [{tshark, TShark} | Config]
    end;
init_per_testcase(_Case, Config) ->
    Config.

end_per_testcase(_Case, _Config) ->
    ok.

frames(File) ->
    Path = filename:join(epcap_decode_tests:data_dir(), File),
    {ok, Frames} = epcap_decode_tests:read_capture(Path),
    Frames.

%%====================================================================
%% Test cases
%%====================================================================

tshark_fields() ->
    [{doc, "Ensure that every frame of every capture decodes to the same "
           "protocols and field values as tshark shows, and that exactly "
           "the frames cut short by the snap length fail to decode fully."}].
tshark_fields(Config) ->
    Results = [compare_file(File, Frames, Config)
               || {File, Frames} <- ?config(captures, Config)],
    Mismatches = lists:append(Results),
    [ct:pal("~ts", [M]) || M <- Mismatches],
    ?assertEqual([], Mismatches),
    Checked = lists:sum([length(Fs) || {_, Fs} <- ?config(captures, Config)]),
    {comment, io_lib:format("~b frames agree with tshark", [Checked])}.

tshark_checksums() ->
    [{doc, "Ensure that frames re-encoded with every length and checksum "
           "left to encode/1 have IPv4, TCP, UDP, ICMP and ICMPv6 checksums "
           "that tshark validates as good."}].
tshark_checksums(Config) ->
    Frames = [F || File <- ["veth_mixed.pcap", "loopback.pcap"],
                   {1, F, _} <- frames(File)],
    Rebuilt = [rebuild(F) || F <- Frames],
    Pcap = filename:join(?config(priv_dir, Config), "rebuilt.pcap"),
    ok = file:write_file(Pcap, pcap_file(1, Rebuilt)),
    Fields = ["ip.checksum.status", "tcp.checksum.status", "udp.checksum.status",
              "icmp.checksum.status", "icmpv6.checksum.status"],
    Rows0 = tshark(Pcap, ["frame.protocols" | Fields],
                   ["-o", "ip.check_checksum:TRUE", "-o", "tcp.check_checksum:TRUE",
                    "-o", "udp.check_checksum:TRUE"]),
    ?assertEqual(length(Frames), length(Rows0)),
    %% the UDP header quoted by an ICMP error keeps its captured checksum
    Rows = [{N, [outer_value(F, V, tshark_chain(Protos)) || {F, V} <- lists:zip(Fields, Vs)]}
            || {N, [Protos | Vs]} <- Rows0],
    Statuses = lists:append([[S || S <- Row, S =/= ""] || {_, Row} <- Rows]),
    ?assert(length(Statuses) >= length(Frames)),
    Bad = [{N, Row} || {N, Row} <- Rows, lists:any(fun(S) -> S =:= "0" end, Row)],
    ?assertEqual([], Bad).

all_prefixes() ->
    [{doc, "Ensure that every prefix of every frame of every capture decodes "
           "without an exception to a well-formed result, and that a prefix "
           "shorter than the frame never decodes as complete when the "
           "frame's headers carry lengths (IP)."}].
all_prefixes(Config) ->
    Count = lists:sum([check_prefixes(DLT, Frame)
                       || {_, Frames} <- ?config(captures, Config),
                          {DLT, Frame, _} <- Frames]),
    {comment, io_lib:format("~b prefixes", [Count])}.

random_binaries() ->
    [{doc, "Ensure that 100 000 seeded random binaries decode without an "
           "exception under every link type, that a complete decode "
           "re-encodes to the same bytes and an error's rest is part of "
           "the input."}].
random_binaries(_Config) ->
    rand:seed(exsss, {17, 42, 2026}),
    Stats = lists:foldl(fun(_, Acc) -> check_all_dlts(random_frame(), Acc) end,
                        #{}, lists:seq(1, 100000)),
    ct:pal("results: ~p", [Stats]),
    ?assert(maps:get(ok, Stats, 0) > 0),
    {comment, io_lib:format("~p", [Stats])}.

mutated_frames() ->
    [{doc, "Ensure that frames of the captures with random bytes changed "
           "decode without an exception, reach the inner layers, and "
           "re-encode to the same bytes whenever they decode completely."}].
mutated_frames(Config) ->
    rand:seed(exsss, {7, 7, 7}),
    Frames = list_to_tuple([{DLT, F} || {_, Fs} <- ?config(captures, Config),
                                        {DLT, F, _} <- Fs]),
    Stats = lists:foldl(fun(_, Acc) -> mutate_one(Frames, Acc) end, #{},
                        lists:seq(1, 50000)),
    ct:pal("results: ~p", [Stats]),
    %% the mutations must not all be caught by the outer layers
    ?assert(maps:get(tcp, Stats, 0) > 1000),
    ?assert(maps:get(ok, Stats, 0) > 10000),
    {comment, io_lib:format("~p", [Stats])}.

broken_files() ->
    [{doc, "Ensure that the test-only capture reader rejects the broken "
           "captures, so that the other cases really read frames."}].
broken_files(_Config) ->
    Dir = epcap_decode_tests:data_dir(),
    [?assertEqual({error, unknown_format},
                  epcap_decode_tests:read_capture(filename:join(Dir, F)))
     || F <- ["garbage.pcap", "empty.pcap", "short_header.pcap"]],
    ok.

%%====================================================================
%% tshark comparison
%%====================================================================

compare_file(File, Frames, Config) ->
    Path = filename:join(epcap_decode_tests:data_dir(), File),
    Rows = tshark(Path, ["frame.protocols", "frame.len", "frame.cap_len" | ?FIELDS],
                  [], ?config(tshark, Config)),
    case length(Rows) =:= length(Frames) of
        true ->
            lists:append([compare_frame(File, Row, Frame)
                          || {Row, Frame} <- lists:zip(Rows, Frames)]);
        false ->
            [io_lib:format("~ts: tshark shows ~b frames, the reader ~b",
                           [File, length(Rows), length(Frames)])]
    end.

compare_frame(File, {N, [Protos, Len, CapLen | Values]}, {DLT, Frame, OrigLen}) ->
    Result = epcap_decode:decode(DLT, Frame),
    Chain = tshark_chain(Protos),
    Frame1 = [integer_to_list(OrigLen), integer_to_list(byte_size(Frame))],
    Errors = [{frame, {Len, CapLen}, list_to_tuple(Frame1)} || [Len, CapLen] =/= Frame1]
        ++ compare_result(Result, Chain, byte_size(Frame) < OrigLen)
        ++ compare_values(Result, Protos, lists:zip(?FIELDS, Values)),
    [io_lib:format("~ts frame ~b: ~p", [File, N, E]) || E <- Errors].

%% A frame decodes completely exactly when it was captured whole; the
%% protocols are those tshark finds (a prefix of them for a cut frame).
compare_result({ok, Packet}, Chain, false) ->
    [{protocols, Chain, my_chain(Packet)} || my_chain(Packet) =/= Chain];
compare_result({error, Hs, _}, Chain, true) ->
    Mine = my_chain(Hs),
    [{protocols, Chain, Mine} || not lists:prefix(Mine, Chain)];
compare_result(Result, _Chain, Cut) ->
    [{result, {cut_short, Cut}, Result}].

%% Fields of the layers we decoded must agree; for a complete frame, also
%% fields we do not have must be absent in tshark. data.len, the length
%% of a payload tshark has no dissector for, is compared when tshark
%% gives it for the outermost payload (not after ICMP: tshark takes the
%% first 8 bytes of an echo's data for a timestamp when they look like one).
compare_values(Result, Protos, Pairs) ->
    {Headers, Payload} = decoded(Result),
    Mine = maps:from_list(lists:append([fields(H, Payload) || H <- Headers])
                          ++ [{"data.len", int(byte_size(Payload))} || is_binary(Payload)]),
    Complete = element(1, Result) =:= ok,
    Chain = tshark_chain(Protos),
    [{Field, {tshark, T}, {decoded, M}}
     || {Field, T0} <- Pairs,
        T <- [tshark_value(Field, T0, Chain, data_outer(Protos))],
        M <- [maps:get(Field, Mine, "")],
        T =/= M, Complete orelse M =/= "",
        Field =/= "data.len" orelse T =/= ""].

tshark_value("data.len", Value, _Chain, true) -> Value;
tshark_value("data.len", _Value, _Chain, false) -> "";
tshark_value(Field, Value, Chain, _DataOuter) -> outer_value(Field, Value, Chain).

%% Whether tshark's "data" is the payload of the last layer we decode.
data_outer(Protos) ->
    Known = ["eth", "sll", "vlan", "arp", "ip", "ipv6", "tcp", "udp", "icmp", "icmpv6",
             "data"],
    Chain = tshark_chain(Protos),
    lists:last(Chain) =/= "icmp" andalso
        [P || P <- string:split(Protos, ":", all), lists:member(P, Known)]
        =:= Chain ++ ["data"].

decoded({ok, Packet}) -> {[H || H <- Packet, is_map(H)], lists:last(Packet)};
%% partial headers are compared field by field in epcap_decode_golden_SUITE
decoded({error, Hs, _}) -> {[H || H <- Hs, not maps:is_key(partial, H)], none}.

%% Protocols of frame.protocols we decode, up to the first ICMP: what
%% tshark decodes inside an ICMP error is the payload for us.
tshark_chain(Protos) ->
    Known = ["eth", "sll", "vlan", "arp", "ip", "ipv6", "tcp", "udp", "icmp", "icmpv6"],
    Chain = [P || P <- string:split(Protos, ":", all), lists:member(P, Known)],
    {Outer, Inner} = lists:splitwith(fun(P) -> P =/= "icmp" andalso P =/= "icmpv6" end,
                                     Chain),
    Outer ++ lists:sublist(Inner, 1).

my_chain(Packet) ->
    [tshark_name(P) || #{proto := P} <- Packet, tshark_name(P) =/= none].

tshark_name(ether) -> "eth";
tshark_name(linux_sll) -> "sll";
tshark_name(linux_sll2) -> "sll";
tshark_name(ipv4) -> "ip";
tshark_name(icmp6) -> "icmpv6";
tshark_name(P) when P =:= vlan; P =:= arp; P =:= ipv6; P =:= tcp; P =:= udp;
                    P =:= icmp ->
    atom_to_list(P);
tshark_name(_) -> none.

%% A value of a layer that tshark finds only inside an ICMP error is not
%% one of ours.
outer_value(Field, Value, Chain) ->
    [Layer | _] = string:split(Field, "."),
    case lists:member(Layer, Chain) of
        true -> Value;
        false -> ""
    end.

fields(#{proto := ether, src := S, dst := D, type := T}, _) ->
    [{"eth.src", mac(S)}, {"eth.dst", mac(D)}, {"eth.type", hex(T, 4)}];
fields(#{proto := linux_sll} = H, _) ->
    #{pkttype := P, hatype := HT, protocol := T} = H,
    [{"sll.pkttype", int(P)}, {"sll.hatype", int(HT)}, {"sll.etype", hex(T, 4)}];
fields(#{proto := linux_sll2} = H, _) ->
    #{pkttype := P, hatype := HT, protocol := T, ifindex := I} = H,
    [{"sll.pkttype", int(P)}, {"sll.hatype", int(HT)}, {"sll.etype", hex(T, 4)},
     {"sll.ifindex", int(I)}];
fields(#{proto := vlan, vid := V}, _) ->
    [{"vlan.id", int(V)}];
fields(#{proto := arp} = H, _) ->
    #{op := Op, sha := Sha, spa := Spa, tha := Tha, tpa := Tpa} = H,
    [{"arp.opcode", int(Op)}, {"arp.src.hw_mac", mac(Sha)}, {"arp.src.proto_ipv4", ip(Spa)},
     {"arp.dst.hw_mac", mac(Tha)}, {"arp.dst.proto_ipv4", ip(Tpa)}];
fields(#{proto := ipv4} = H, _) ->
    #{src := S, dst := D, protocol := P, ttl := TTL, id := Id, len := L,
      checksum := C} = H,
    [{"ip.src", ip(S)}, {"ip.dst", ip(D)}, {"ip.proto", int(P)}, {"ip.ttl", int(TTL)},
     {"ip.id", hex(Id, 4)}, {"ip.len", int(L)}, {"ip.checksum", hex(C, 4)},
     {"ip.hdr_len", int(header_len(H))}];
fields(#{proto := ipv6} = H, _) ->
    #{src := S, dst := D, next_header := N, payload_len := L, hop_limit := HL,
      flow_label := F} = H,
    [{"ipv6.src", ip(S)}, {"ipv6.dst", ip(D)}, {"ipv6.nxt", int(N)}, {"ipv6.plen", int(L)},
     {"ipv6.hlim", int(HL)}, {"ipv6.flow", hex(F, 6)}];
fields(#{proto := tcp} = H, Payload) ->
    tcp_fields(H, Payload);
fields(#{proto := udp} = H, _) ->
    #{sport := S, dport := D, len := L, checksum := C} = H,
    [{"udp.srcport", int(S)}, {"udp.dstport", int(D)}, {"udp.length", int(L)},
     {"udp.checksum", hex(C, 4)}];
fields(#{proto := icmp} = H, _) ->
    #{type := T, code := C, checksum := Sum} = H,
    [{"icmp.type", int(T)}, {"icmp.code", int(C)}, {"icmp.checksum", hex(Sum, 4)}]
        ++ [{"icmp.seq", int(Seq)} || #{seq := Seq} <- [H]];
fields(#{proto := icmp6} = H, _) ->
    #{type := T, code := C, checksum := Sum} = H,
    [{"icmpv6.type", int(T)}, {"icmpv6.code", int(C)}, {"icmpv6.checksum", hex(Sum, 4)}]
        ++ [{"icmpv6.echo.identifier", hex(Id, 4)} || #{id := Id} <- [H]]
        ++ [{"icmpv6.echo.sequence_number", int(Seq)} || #{seq := Seq} <- [H]]
        ++ [{"icmpv6.nd.ns.target_address", ip(A)} || #{type := 135, target := A} <- [H]]
        ++ [{"icmpv6.nd.na.target_address", ip(A)} || #{type := 136, target := A} <- [H]];
fields(_, _) ->
    [].

%% tcp.len (the payload length) only for a completely decoded frame.
tcp_fields(H, Payload) ->
    #{sport := S, dport := D, seq := Seq, ack := Ack, flags := F, window := W,
      checksum := C, options := Opts} = H,
    [{"tcp.srcport", int(S)}, {"tcp.dstport", int(D)}, {"tcp.seq_raw", int(Seq)},
     {"tcp.ack_raw", int(Ack)}, {"tcp.flags", hex(epcap_decode:tcp_flags(F), 4)},
     {"tcp.window_size_value", int(W)}, {"tcp.checksum", hex(C, 4)},
     {"tcp.hdr_len", int(header_len(H))}]
        ++ [{"tcp.len", int(byte_size(Payload))} || is_binary(Payload)]
        ++ [{"tcp.options.mss_val", int(M)} || {mss, M} <- Opts]
        ++ [{"tcp.options.wscale.shift", int(Sh)} || {wscale, Sh} <- Opts]
        ++ [{"tcp.options.timestamp.tsval", int(V)} || {timestamp, V, _} <- Opts]
        ++ [{"tcp.options.timestamp.tsecr", int(E)} || {timestamp, _, E} <- Opts].

%% A header encoded alone (with its length and checksum fields as they
%% are) is just the header.
header_len(H) ->
    byte_size(epcap_decode:encode([H])).

int(N) -> integer_to_list(N).

hex(N, Digits) ->
    lists:flatten(io_lib:format("0x~*.16.0b", [Digits, N])).

mac(M) -> epcap_decode:format_mac(M).

ip(A) -> epcap_decode:format_ip(A).

%%====================================================================
%% tshark and pcap helpers
%%====================================================================

tshark(File, Fields, Options) ->
    tshark(File, Fields, Options, os:find_executable("tshark")).

%% Run tshark on File; one {FrameNumber, Values} per frame.
tshark(File, Fields, Options, TShark) ->
    Args = ["-r", File, "-n", "-T", "fields", "-E", "occurrence=f",
            "-E", "separator=/t", "-e", "frame.number"]
        ++ Options ++ lists:append([["-e", F] || F <- Fields]),
    Port = open_port({spawn_executable, TShark},
                     [{args, Args}, binary, exit_status, {line, 65536}]),
    Lines = collect(Port, [], <<>>),
    [begin
         [N | Values] = string:split(Line, "\t", all),
         {list_to_integer(N), Values}
     end || Line <- Lines, Line =/= ""].

collect(Port, Acc, Part) ->
    receive
        {Port, {data, {eol, Bin}}} ->
            collect(Port, [binary_to_list(<<Part/binary, Bin/binary>>) | Acc], <<>>);
        {Port, {data, {noeol, Bin}}} ->
            collect(Port, Acc, <<Part/binary, Bin/binary>>);
        {Port, {exit_status, _}} ->
            lists:reverse(Acc)
    after 60000 ->
            ct:fail("tshark timed out")
    end.

rebuild(Frame) ->
    {ok, Packet} = epcap_decode:decode(1, Frame),
    epcap_decode:encode([strip(H) || H <- Packet]).

strip(H) when is_map(H) -> maps:without([len, payload_len, checksum], H);
strip(Payload) -> Payload.

pcap_file(DLT, Frames) ->
    [<<16#a1b2c3d4:32/little, 2:16/little, 4:16/little, 0:32, 0:32,
       65535:32/little, DLT:32/little>>
     | [<<I:32/little, 0:32, (byte_size(F)):32/little, (byte_size(F)):32/little,
          F/binary>> || {I, F} <- lists:enumerate(Frames)]].

%%====================================================================
%% Robustness helpers
%%====================================================================

check_prefixes(DLT, Frame) ->
    Size = byte_size(Frame),
    lists:foreach(fun(N) ->
                          Prefix = binary_part(Frame, 0, N),
                          Result = check_decode(DLT, Prefix),
                          check_prefix_result(DLT, N, Size, Frame, Result)
                  end, lists:seq(0, Size)),
    Size + 1.

%% A proper prefix of a frame with an IP layer is never complete.
check_prefix_result(_DLT, Size, Size, _Frame, _Result) ->
    ok;
check_prefix_result(DLT, N, _Size, Frame, {ok, _} = Result) ->
    case has_ip(epcap_decode:decode(DLT, Frame)) of
        true -> ct:fail({prefix_complete, DLT, N, Frame, Result});
        false -> ok
    end;
check_prefix_result(_DLT, _N, _Size, _Frame, _Result) ->
    ok.

has_ip({ok, Packet}) ->
    lists:any(fun(#{proto := P}) -> P =:= ipv4 orelse P =:= ipv6;
                 (_) -> false
              end, Packet);
has_ip(_) ->
    false.

random_frame() ->
    rand:bytes(rand:uniform(120) - 1).

check_all_dlts(Bin, Stats) ->
    lists:foldl(fun(DLT, Acc) -> count(check_decode(DLT, Bin), Acc) end, Stats, ?DLTS).

mutate_one(Frames, Stats) ->
    {DLT, Frame} = element(rand:uniform(tuple_size(Frames)), Frames),
    count(check_decode(DLT, mutate(Frame, rand:uniform(4))), Stats).

mutate(Frame, 0) ->
    Frame;
mutate(Frame, K) ->
    Pos = rand:uniform(min(byte_size(Frame), 80)) - 1,
    <<Pre:Pos/binary, _, Post/binary>> = Frame,
    mutate(<<Pre/binary, (rand:uniform(256) - 1), Post/binary>>, K - 1).

count({ok, Packet}, Stats) ->
    Deepest = lists:last([P || #{proto := P} <- Packet]),
    maps:update_with(Deepest, fun(N) -> N + 1 end, 1,
                     maps:update_with(ok, fun(N) -> N + 1 end, 1, Stats));
count({error, _, {Layer, _, _}}, Stats) ->
    maps:update_with({error, Layer}, fun(N) -> N + 1 end, 1, Stats).

%% Decode, failing the case on an exception or a malformed result.
check_decode(DLT, Bin) ->
    Result = try epcap_decode:decode(DLT, Bin)
             catch C:R:St -> ct:fail({raised, DLT, Bin, {C, R, St}})
             end,
    case well_formed(Bin, Result) of
        true -> Result;
        false -> ct:fail({malformed_result, DLT, Bin, Result})
    end.

well_formed(Bin, {ok, Packet}) ->
    {Headers, [Payload]} = lists:split(length(Packet) - 1, Packet),
    is_binary(Payload) andalso lists:all(fun is_header/1, Headers)
        andalso Headers =/= [] andalso epcap_decode:encode(Packet) =:= Bin;
well_formed(Bin, {error, Headers, {Layer, Reason, Rest}}) ->
    lists:all(fun is_header/1, Headers) andalso is_atom(Layer)
        andalso is_atom(Reason) andalso is_binary(Rest)
        andalso (Rest =:= <<>> orelse binary:match(Bin, Rest) =/= nomatch);
well_formed(_Bin, _) ->
    false.

is_header(#{proto := P}) -> is_atom(P);
is_header(_) -> false.
