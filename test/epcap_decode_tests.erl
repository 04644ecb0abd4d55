%%% @doc EUnit tests of epcap_decode, and a small test-only reader of
%%% pcap/pcapng files (`read_capture/1') that epcap_decode_SUITE uses too.
-module(epcap_decode_tests).

-include_lib("eunit/include/eunit.hrl").

-export([read_capture/1, data_dir/0, captures/0]).

-define(MAC1, <<16#1e, 16#f9, 16#0b, 16#de, 16#be, 16#59>>).
-define(MAC2, <<16#7e, 16#ad, 16#f2, 16#d1, 16#5e, 16#2d>>).

%%====================================================================
%% Test-only capture reader
%%====================================================================

%% @doc Directory holding the test captures: test/data next to this
%% module's source or beam (rebar3 builds the tests elsewhere).
-spec data_dir() -> file:filename().
data_dir() ->
    Source = proplists:get_value(source, ?MODULE:module_info(compile), ""),
    Candidates = [filename:join(filename:dirname(D), "data")
                  || D <- [Source, code:which(?MODULE)], is_list(D)],
    case [D || D <- Candidates, filelib:is_regular(filename:join(D, "veth_mixed.pcap"))] of
        [Dir | _] -> Dir;
        [] -> hd(Candidates)
    end.

%% @doc Captures of test/data that hold frames.
-spec captures() -> [string()].
captures() ->
    ["veth_mixed.pcap", "veth_mixed_nano.pcap", "veth_mixed.pcapng",
     "snap64.pcap", "loopback.pcap", "any_sll.pcap", "any_sll2.pcap",
     "truncated.pcap"].

%% @doc Read a pcap or pcapng file: `{ok, [{DLT, Frame, OrigLen}]}' (the
%% complete records, also for a file cut short) or `{error, Reason}'.
-spec read_capture(file:filename()) ->
          {ok, [{non_neg_integer(), binary(), non_neg_integer()}]} | {error, term()}.
read_capture(File) ->
    case file:read_file(File) of
        {ok, Bin} -> parse_capture(Bin);
        {error, _} = Error -> Error
    end.

parse_capture(<<16#a1b2c3d4:32/big, _:16/binary, DLT:32/big, Rest/binary>>) ->
    {ok, pcap_records(big, DLT, Rest)};
parse_capture(<<16#a1b23c4d:32/big, _:16/binary, DLT:32/big, Rest/binary>>) ->
    {ok, pcap_records(big, DLT, Rest)};
parse_capture(<<16#a1b2c3d4:32/little, _:16/binary, DLT:32/little, Rest/binary>>) ->
    {ok, pcap_records(little, DLT, Rest)};
parse_capture(<<16#a1b23c4d:32/little, _:16/binary, DLT:32/little, Rest/binary>>) ->
    {ok, pcap_records(little, DLT, Rest)};
parse_capture(<<16#0a0d0d0a:32, _/binary>> = Bin) ->
    {ok, pcapng_blocks(Bin, big, [], [])};
parse_capture(_) ->
    {error, unknown_format}.

pcap_records(E, DLT, Bin) ->
    case pcap_record(E, Bin) of
        {ok, Frame, Orig, Rest} -> [{DLT band 16#FFFF, Frame, Orig} | pcap_records(E, DLT, Rest)];
        eof -> []
    end.

pcap_record(big, <<_:64, Cap:32/big, Orig:32/big, Frame:Cap/binary, Rest/binary>>) ->
    {ok, Frame, Orig, Rest};
pcap_record(little, <<_:64, Cap:32/little, Orig:32/little, Frame:Cap/binary, Rest/binary>>) ->
    {ok, Frame, Orig, Rest};
pcap_record(_, _) ->
    eof.

%% pcapng: section header (sets byte order), interface descriptions
%% (link types), enhanced and simple packet blocks.
pcapng_blocks(<<16#0a0d0d0a:32, _:32, 16#1a2b3c4d:32/big, _/binary>> = Bin, _, _, Acc) ->
    pcapng_block(Bin, big, [], Acc);
pcapng_blocks(<<16#0a0d0d0a:32, _:32, 16#1a2b3c4d:32/little, _/binary>> = Bin, _, _, Acc) ->
    pcapng_block(Bin, little, [], Acc);
pcapng_blocks(Bin, E, Ifs, Acc) ->
    pcapng_block(Bin, E, Ifs, Acc).

pcapng_block(Bin, E, Ifs, Acc) ->
    case block(E, Bin) of
        {ok, Type, Body, Rest} ->
            {Ifs1, Acc1} = pcapng_body(E, Type, Body, Ifs, Acc),
            pcapng_blocks(Rest, E, Ifs1, Acc1);
        eof ->
            lists:reverse(Acc)
    end.

block(big, <<Type:32/big, Len:32/big, Rest/binary>>) when Len >= 12 ->
    block_body(Type, Len, Rest);
block(little, <<Type:32/little, Len:32/little, Rest/binary>>) when Len >= 12 ->
    block_body(Type, Len, Rest);
block(_, _) ->
    eof.

block_body(Type, Len, Rest) ->
    BodyLen = Len - 12,
    case Rest of
        <<Body:BodyLen/binary, _:32, Rest1/binary>> -> {ok, Type, Body, Rest1};
        _ -> eof
    end.

pcapng_body(E, 1, Body, Ifs, Acc) ->
    <<DLT:16, _/binary>> = swap16(E, Body),
    {Ifs ++ [DLT], Acc};
pcapng_body(E, 6, Body, Ifs, Acc) ->
    {If, Cap, Orig, Data} = epb(E, Body),
    <<Frame:Cap/binary, _/binary>> = Data,
    {Ifs, [{lists:nth(If + 1, Ifs), Frame, Orig} | Acc]};
pcapng_body(_E, _Type, _Body, Ifs, Acc) ->
    {Ifs, Acc}.

swap16(big, Bin) -> Bin;
swap16(little, <<A:16/little, Rest/binary>>) -> <<A:16/big, Rest/binary>>.

epb(big, <<If:32/big, _:64, Cap:32/big, Orig:32/big, Data/binary>>) ->
    {If, Cap, Orig, Data};
epb(little, <<If:32/little, _:64, Cap:32/little, Orig:32/little, Data/binary>>) ->
    {If, Cap, Orig, Data}.

frames(File) ->
    {ok, Frames} = read_capture(filename:join(data_dir(), File)),
    Frames.

frame(File, N) ->
    lists:nth(N, frames(File)).

%%====================================================================
%% Reader self-tests
%%====================================================================

reader_test_() ->
    [?_assertEqual(40, length(frames("veth_mixed.pcap"))),
     ?_assertEqual(frames("veth_mixed.pcap"), frames("veth_mixed_nano.pcap")),
     ?_assertEqual(frames("veth_mixed.pcap"), frames("veth_mixed.pcapng")),
     ?_assertEqual(27, length(frames("truncated.pcap"))),
     ?_assertMatch([{113, _, _} | _], frames("any_sll.pcap")),
     ?_assertMatch([{276, _, _} | _], frames("any_sll2.pcap")),
     ?_assertEqual({error, unknown_format},
                   read_capture(filename:join(data_dir(), "garbage.pcap")))].

%%====================================================================
%% Decoding frames of the test captures
%%====================================================================

arp_request_test() ->
    {1, F, 42} = frame("veth_mixed.pcap", 1),
    ?assertMatch({ok, [#{proto := ether, src := ?MAC1,
                         dst := <<255, 255, 255, 255, 255, 255>>, type := 16#0806,
                         trailer := <<>>},
                       #{proto := arp, op := 1, sha := ?MAC1, spa := {10, 212, 0, 1},
                         tpa := {10, 212, 0, 2}, htype := 1, ptype := 16#0800},
                       <<>>]},
                 epcap_decode:decode(1, F)).

icmp_echo_test() ->
    {1, F, 98} = frame("veth_mixed.pcap", 3),
    {ok, [_, Ip, Icmp, Payload]} = epcap_decode:decode(en10mb, F),
    ?assertMatch(#{proto := ipv4, src := {10, 212, 0, 1}, dst := {10, 212, 0, 2},
                   protocol := 1, len := 84, flags := [df], frag_offset := 0,
                   ttl := 64, options := []}, Ip),
    ?assertMatch(#{proto := icmp, type := 8, code := 0, id := 7939, seq := 1}, Icmp),
    ?assertEqual(56, byte_size(Payload)).

tcp_syn_options_test() ->
    {1, F, 74} = frame("veth_mixed.pcap", 13),
    {ok, [_, _, Tcp, <<>>]} = epcap_decode:decode(1, F),
    ?assertMatch(#{proto := tcp, sport := 40174, dport := 8080, seq := 991272074,
                   ack := 0, flags := [syn], window := 64240,
                   options := [{mss, 1460}, sack_permitted,
                               {timestamp, 3626052662, 0}, nop, {wscale, 10}]},
                 Tcp).

tcp_payload_test() ->
    {1, F, 155} = frame("veth_mixed.pcap", 16),
    {ok, [_, _, Tcp, Payload]} = epcap_decode:decode(1, F),
    ?assertMatch(#{flags := [psh, ack], seq := 991272075, ack := 3345078587,
                   options := [nop, nop, {timestamp, 3626052662, 3789888690}]}, Tcp),
    ?assertMatch(<<"GET /index.html HTTP/1.1", _/binary>>, Payload),
    ?assertEqual(89, byte_size(Payload)).

tcp_ipv6_test() ->
    {1, F, 94} = frame("veth_mixed.pcap", 25),
    {ok, [_, Ip6, Tcp, <<>>]} = epcap_decode:decode(1, F),
    ?assertMatch(#{proto := ipv6, src := {16#fd00, 16#212, 0, 0, 0, 0, 0, 1},
                   dst := {16#fd00, 16#212, 0, 0, 0, 0, 0, 2}, next_header := 6,
                   payload_len := 40, hop_limit := 64, flow_label := 16#f6578}, Ip6),
    ?assertMatch(#{sport := 38936, dport := 8080, flags := [syn]}, Tcp).

neighbour_solicitation_test() ->
    {1, F, 86} = frame("veth_mixed.pcap", 7),
    {ok, [_, Ip6, Icmp6, _Opts]} = epcap_decode:decode(1, F),
    ?assertMatch(#{dst := {16#ff02, 0, 0, 0, 0, 1, 16#ff00, 2}, hop_limit := 255}, Ip6),
    ?assertMatch(#{proto := icmp6, type := 135, code := 0,
                   target := {16#fd00, 16#212, 0, 0, 0, 0, 0, 2}}, Icmp6).

neighbour_advertisement_test() ->
    {1, F, 86} = frame("veth_mixed.pcap", 8),
    {ok, [_, _, Icmp6, _Opts]} = epcap_decode:decode(1, F),
    ?assertMatch(#{type := 136, flags := [solicited, override]}, Icmp6).

icmp6_echo_test() ->
    {1, F, 118} = frame("veth_mixed.pcap", 10),
    {ok, [_, _, Icmp6, Payload]} = epcap_decode:decode(1, F),
    ?assertMatch(#{type := 129, code := 0, id := 16#1f04, seq := 1}, Icmp6),
    ?assertEqual(56, byte_size(Payload)).

udp_and_port_unreachable_test() ->
    {1, U, 55} = frame("veth_mixed.pcap", 37),
    ?assertMatch({ok, [_, _, #{proto := udp, sport := 50812, dport := 9997, len := 21},
                       <<_:13/binary>>]},
                 epcap_decode:decode(1, U)),
    {1, I, 83} = frame("veth_mixed.pcap", 38),
    {ok, [_, _, Icmp, Embedded]} = epcap_decode:decode(1, I),
    %% no MTU in a port unreachable; the quote decoded in place
    ?assertNot(maps:is_key(mtu, Icmp)),
    ?assertMatch(#{type := 3, code := 3, rest := <<0:32>>,
                   quote := [#{proto := ipv4, dst := {10, 212, 0, 2}},
                             #{proto := udp, sport := 50812, dport := 9997}, _]}, Icmp),
    %% the payload of an ICMP error is the offending datagram
    ?assertMatch({ok, [#{proto := raw}, #{proto := ipv4, dst := {10, 212, 0, 2}},
                       #{proto := udp, dport := 9997}, _]},
                 epcap_decode:decode(raw, Embedded)).

rst_test() ->
    {1, F, 54} = frame("veth_mixed.pcap", 40),
    ?assertMatch({ok, [_, _, #{flags := [rst, ack], window := 0, options := []}, <<>>]},
                 epcap_decode:decode(1, F)).

loopback_zero_mac_test() ->
    {1, F, 98} = frame("loopback.pcap", 1),
    ?assertMatch({ok, [#{proto := ether, src := <<0:48>>, dst := <<0:48>>},
                       #{proto := ipv4, src := {127, 0, 0, 1}}, #{proto := icmp}, _]},
                 epcap_decode:decode(1, F)).

linux_sll_test() ->
    {113, F, 100} = frame("any_sll.pcap", 1),
    ?assertMatch({ok, [#{proto := linux_sll, pkttype := 4, hatype := 1, halen := 6,
                         addr := <<16#1e, 16#f9, 16#0b, 16#de, 16#be, 16#59, 0, 0>>,
                         protocol := 16#0800},
                       #{proto := ipv4}, #{proto := icmp, type := 8}, _]},
                 epcap_decode:decode(113, F)).

linux_sll2_test() ->
    {276, F, 48} = frame("any_sll2.pcap", 1),
    ?assertMatch({ok, [#{proto := linux_sll2, protocol := 16#0806, ifindex := 2,
                         pkttype := 4, hatype := 1, halen := 6},
                       #{proto := arp, op := 1}, <<>>]},
                 epcap_decode:decode(linux_sll2, F)).

snaplen_test() ->
    %% ICMP echo cut to 64 bytes: headers complete, payload short
    {1, Icmp, 98} = frame("snap64.pcap", 3),
    ?assertMatch({error, [#{proto := ether}, #{proto := ipv4}, #{proto := icmp, seq := 1}],
                  {payload, truncated, <<_:22/binary>>}},
                 epcap_decode:decode(1, Icmp)),
    %% TCP SYN cut inside its options
    {1, Syn, 74} = frame("snap64.pcap", 13),
    ?assertMatch({error, [#{proto := ether}, #{proto := ipv4},
                          #{proto := tcp, partial := true, sport := 40174, flags := [syn]}],
                  {tcp, truncated, <<_:30/binary>>}},
                 epcap_decode:decode(1, Syn)).

%%====================================================================
%% Synthetic frames
%%====================================================================

ipv4(Proto, Payload, Extra) ->
    maps:merge(#{proto => ipv4, src => {10, 0, 0, 1}, dst => {10, 0, 0, 2},
                 protocol => Proto, id => 1, len => 20 + byte_size(Payload)},
               Extra).

ether(Type) ->
    <<?MAC2/binary, ?MAC1/binary, Type:16>>.

vlan_test_() ->
    Udp = <<1000:16, 53:16, 12:16, 0:16, "abcd">>,
    Ip = epcap_decode:encode([ipv4(17, Udp, #{}), Udp]),
    Single = <<(ether(16#8100))/binary, 5:3, 1:1, 42:12, 16#0800:16, Ip/binary>>,
    Double = <<(ether(16#88a8))/binary, 0:3, 0:1, 100:12, 16#8100:16,
               0:3, 0:1, 200:12, 16#0800:16, Ip/binary>>,
    [?_assertMatch({ok, [#{type := 16#8100},
                         #{proto := vlan, pcp := 5, dei := 1, vid := 42, type := 16#0800},
                         #{proto := ipv4}, #{proto := udp, dport := 53}, <<"abcd">>]},
                   epcap_decode:decode(1, Single)),
     ?_assertMatch({ok, [#{type := 16#88a8}, #{proto := vlan, vid := 100, type := 16#8100},
                         #{proto := vlan, vid := 200}, #{proto := ipv4}, #{proto := udp},
                         <<"abcd">>]},
                   epcap_decode:decode(1, Double)),
     ?_assertMatch({error, [#{proto := ether}, #{proto := vlan, partial := true, vid := 16#102}],
                    {vlan, truncated, <<1, 2>>}},
                   epcap_decode:decode(1, <<(ether(16#8100))/binary, 1, 2>>)),
     ?_assertEqual(Double, round_trip(1, Double))].

tcp_flags_test_() ->
    [?_assertEqual([], epcap_decode:tcp_flags(0)),
     ?_assertEqual([fin, syn, rst, psh, ack, urg, ece, cwr, ns],
                   epcap_decode:tcp_flags(16#1FF)),
     ?_assertEqual([syn, ack], epcap_decode:tcp_flags(16#12)),
     ?_assertEqual(16#12, epcap_decode:tcp_flags([ack, syn])),
     ?_assertEqual(16#1FF, epcap_decode:tcp_flags([fin, syn, rst, psh, ack, urg,
                                                   ece, cwr, ns]))].

tcp_segment(Flags, Opts) ->
    OptLen = byte_size(Opts),
    <<1:16, 2:16, 100:32, 200:32, ((20 + OptLen) div 4):4, 0:3, Flags:9,
      512:16, 0:16, 0:16, Opts/binary, "data">>.

decode_tcp(Seg) ->
    epcap_decode:decode(raw, epcap_decode:encode([ipv4(6, Seg, #{}), Seg])).

tcp_options_test_() ->
    Sack = <<1, 1, 5, 18, 1:32, 2:32, 3:32, 4:32>>,
    Odd = <<1, 30, 4, 1, 2, 0, 0, 0>>,
    Eol = <<2, 4, 5, 180, 0, 7, 7, 7>>,
    [?_assertMatch({ok, [_, _, #{options := [nop, nop, {sack, [{1, 2}, {3, 4}]}],
                                 flags := [ack, ece, cwr, ns]}, <<"data">>]},
                   decode_tcp(tcp_segment(16#1D0, Sack))),
     ?_assertMatch({ok, [_, _, #{options := [nop, {30, <<1, 2>>}, eol, {padding, <<0, 0>>}]},
                         <<"data">>]},
                   decode_tcp(tcp_segment(16#10, Odd))),
     ?_assertMatch({ok, [_, _, #{options := [{mss, 1460}, eol, {padding, <<7, 7, 7>>}]}, _]},
                   decode_tcp(tcp_segment(16#02, Eol))),
     ?_assertMatch({error, [_, _], {tcp, bad_option, _}},
                   decode_tcp(tcp_segment(16#02, <<2, 12, 0, 0>>))),
     ?_assertMatch({error, [_, _], {tcp, bad_option, _}},
                   decode_tcp(tcp_segment(16#02, <<1, 1, 3, 1>>))),
     ?_assertMatch({error, [_, _], {tcp, bad_header_length, _}},
                   decode_tcp(<<1:16, 2:16, 0:64, 4:4, 0:12, 0:48>>))].

ip_options_test_() ->
    Udp = <<7:16, 9:16, 8:16, 0:16>>,
    RouterAlert = <<148, 4, 0, 0>>,
    Frame = epcap_decode:encode([#{proto => raw}, ipv4(17, Udp, #{len => auto}),
                                 #{proto => udp, sport => 7, dport => 9}, <<>>]),
    WithOpts = epcap_decode:encode([#{proto => raw},
                                    maps:remove(len, ipv4(17, Udp, #{options => [{148, <<0, 0>>}]})),
                                    Udp]),
    [?_assertMatch({ok, [_, #{options := [], len := 28}, #{proto := udp}, <<>>]},
                   epcap_decode:decode(raw, Frame)),
     ?_assertMatch(<<16#46, _/binary>>, WithOpts),
     ?_assertEqual(RouterAlert, binary_part(WithOpts, 20, 4)),
     ?_assertMatch({ok, [_, #{options := [{148, <<0, 0>>}], len := 32}, #{proto := udp}, <<>>]},
                   epcap_decode:decode(raw, WithOpts)),
     ?_assertEqual(0, epcap_decode:checksum(binary_part(WithOpts, 0, 24))),
     ?_assertMatch({error, [_], {ipv4, bad_option, _}},
                   epcap_decode:decode(raw, <<16#46, 0, 24:16, 0:64, 0:64, 7, 9, 0, 0>>)),
     ?_assertMatch({error, [_], {ipv4, bad_header_length, _}},
                   epcap_decode:decode(raw, <<16#44, 0:152>>)),
     ?_assertMatch({error, [_], {ipv4, bad_length, _}},
                   epcap_decode:decode(raw, <<16#45, 0, 19:16, 0:128>>))].

fragments_test_() ->
    Udp = <<7:16, 9:16, 108:16, 0:16, 0:256>>,
    First = epcap_decode:encode([ipv4(17, Udp, #{flags => [mf]}), Udp]),
    Later = epcap_decode:encode([ipv4(17, Udp, #{frag_offset => 5}), Udp]),
    [%% the first fragment is decoded further although UDP says 108 bytes
     ?_assertMatch({ok, [_, #{flags := [mf]}, #{proto := udp, len := 108}, <<0:256>>]},
                   epcap_decode:decode(raw, First)),
     %% a later fragment is not
     ?_assertMatch({ok, [_, #{frag_offset := 5}, Udp]}, epcap_decode:decode(raw, Later)),
     %% a whole datagram shorter than its UDP length is malformed
     ?_assertMatch({error, [_, _], {udp, bad_length, _}},
                   epcap_decode:decode(raw, epcap_decode:encode([ipv4(17, Udp, #{}), Udp])))].

ip6(Next, Payload) ->
    #{proto => ipv6, src => {16#fd00, 0, 0, 0, 0, 0, 0, 1},
      dst => {16#fd00, 0, 0, 0, 0, 0, 0, 2}, next_header => Next,
      payload_len => byte_size(Payload), hop_limit => 64, traffic_class => 0,
      flow_label => 0}.

ipv6_extension_headers_test_() ->
    Udp = <<7:16, 9:16, 12:16, 0:16, "abcd">>,
    HopByHop = <<60, 0, 5, 2, 0, 0, 1, 0>>,         % router alert, padn
    DstOpts = <<43, 1, 0, 1, 11, 0:88>>,            % pad1, padn(11)
    Routing = <<44, 2, 0, 1, 0:32, 1:128>>,         % type 0, 1 segment left
    Frag = <<17, 0, 0:13, 0:2, 1:1, 16#abcdef01:32>>,
    Payload = <<HopByHop/binary, DstOpts/binary, Routing/binary, Frag/binary, Udp/binary>>,
    Frame = <<(ether(16#86dd))/binary,
              (epcap_decode:encode([ip6(0, Payload), Payload]))/binary>>,
    Later = <<(ether(16#86dd))/binary,
              (epcap_decode:encode([ip6(44, <<17, 0, 1:13, 0:3, 7:32, Udp/binary>>),
                                    <<17, 0, 1:13, 0:3, 7:32, Udp/binary>>]))/binary>>,
    [?_assertMatch({ok, [#{proto := ether}, #{proto := ipv6, next_header := 0},
                         #{proto := ipv6_hopopts, next_header := 60,
                           options := [{5, <<0, 0>>}, {padn, <<>>}]},
                         #{proto := ipv6_dstopts, next_header := 43,
                           options := [pad1, {padn, <<0:88>>}]},
                         #{proto := ipv6_routing, next_header := 44, type := 0,
                           segments_left := 1, data := <<0:32, 1:128>>},
                         #{proto := ipv6_fragment, next_header := 17, frag_offset := 0,
                           more := true, id := 16#abcdef01},
                         #{proto := udp, dport := 9}, <<"abcd">>]},
                   epcap_decode:decode(1, Frame)),
     ?_assertEqual(Frame, round_trip(1, Frame)),
     ?_assertMatch({ok, [_, _, #{proto := ipv6_fragment, frag_offset := 1, more := false},
                         Udp]},
                   epcap_decode:decode(1, Later)),
     ?_assertMatch({error, [_, _, #{proto := ipv6_hopopts, partial := true}],
                    {ipv6_hopopts, truncated, _}},
                   epcap_decode:decode(1, binary_part(Frame, 0, 14 + 40 + 4))),
     ?_assertMatch({error, [_, _, _], {ipv6_dstopts, bad_option, _}},
                   epcap_decode:decode(raw, epcap_decode:encode(
                                              [ip6(0, <<>>), <<60, 0, 1, 4, 0, 0, 0, 0,
                                                               59, 0, 1, 9, 0, 0, 0, 0>>])))].

null_and_raw_test_() ->
    Icmp = <<8, 0, 0:16, 1:16, 2:16>>,
    Ip = epcap_decode:encode([ipv4(1, Icmp, #{}), Icmp]),
    Ip6 = epcap_decode:encode([ip6(58, <<128, 0, 0:16, 3:16, 4:16>>),
                               <<128, 0, 0:16, 3:16, 4:16>>]),
    [?_assertMatch({ok, [#{proto := null, family := 2, endian := little}, #{proto := ipv4},
                         #{proto := icmp, id := 1, seq := 2}, <<>>]},
                   epcap_decode:decode(0, <<2, 0, 0, 0, Ip/binary>>)),
     ?_assertMatch({ok, [#{proto := null, family := 30, endian := big}, #{proto := ipv6},
                         #{proto := icmp6, id := 3, seq := 4}, <<>>]},
                   epcap_decode:decode(0, <<0, 0, 0, 30, Ip6/binary>>)),
     ?_assertMatch({ok, [#{proto := null, family := 24}, #{proto := ipv6}, _, _]},
                   epcap_decode:decode(loop, <<0, 0, 0, 24, Ip6/binary>>)),
     [?_assertMatch({ok, [#{proto := raw}, #{proto := ipv4}, #{proto := icmp}, <<>>]},
                    epcap_decode:decode(D, Ip)) || D <- [12, 14, 101, 228]],
     ?_assertMatch({ok, [#{proto := raw}, #{proto := ipv6}, #{proto := icmp6}, <<>>]},
                   epcap_decode:decode(229, Ip6)),
     ?_assertMatch({error, [#{proto := raw}], {raw, bad_version, _}},
                   epcap_decode:decode(101, <<16#55, 0>>)),
     ?_assertMatch({error, [], {link, unsupported, <<1>>}}, epcap_decode:decode(9999, <<1>>))].

ethernet_padding_test() ->
    {1, F, 42} = frame("veth_mixed.pcap", 1),
    Padded = <<F/binary, 0:144>>,
    ?assertMatch({ok, [#{trailer := <<0:144>>}, #{proto := arp}, <<>>]},
                 epcap_decode:decode(1, Padded)),
    ?assertEqual(Padded, round_trip(1, Padded)).

truncation_test_() ->
    {1, F, 155} = frame("veth_mixed.pcap", 16),
    [?_assertMatch({error, [], {ether, truncated, <<1, 2, 3>>}},
                   epcap_decode:decode(1, <<1, 2, 3>>)),
     ?_assertMatch({error, [#{proto := ether},
                           #{proto := ipv4, partial := true, protocol := 6, src := {10, 212, 0, 1}}],
                    {ipv4, truncated, <<_:19/binary>>}},
                   epcap_decode:decode(1, binary_part(F, 0, 33))),
     ?_assertMatch({error, [_, _, #{proto := tcp, partial := true, dport := 8080}],
                    {tcp, truncated, <<_:31/binary>>}},
                   epcap_decode:decode(1, binary_part(F, 0, 65))),
     ?_assertMatch({error, [_, _, #{proto := tcp}], {payload, truncated, <<"GET">>}},
                   epcap_decode:decode(1, binary_part(F, 0, 69)))].

never_raises_on_bad_input_test_() ->
    [?_assertMatch({error, [], {link, badarg, _}}, epcap_decode:decode(1, not_a_binary)),
     ?_assertMatch({error, [], {ether, truncated, <<>>}}, epcap_decode:decode(1, <<>>))].

%%====================================================================
%% Encoding and checksums
%%====================================================================

round_trip(DLT, Frame) ->
    {ok, Packet} = epcap_decode:decode(DLT, Frame),
    epcap_decode:encode(Packet).

%% Drop every length and checksum field so that encode/1 computes them.
strip(Packet) ->
    [case H of
         #{} -> maps:without([len, payload_len, checksum], H);
         _ -> H
     end || H <- Packet].

round_trip_captures_test_() ->
    [{File ++ " #" ++ integer_to_list(N),
      ?_assertEqual(Frame, round_trip(DLT, Frame))}
     || File <- captures(),
        {N, {DLT, Frame, Len}} <- lists:enumerate(frames(File)),
        byte_size(Frame) =:= Len].

%% Recomputed checksums equal the captured ones, except for TCP and UDP
%% segments that veth and lo left to the NIC: their "partial" checksum
%% field holds the folded, uncomplemented sum of the pseudo-header. All
%% recomputed TCP and UDP checksums must verify.
recompute_test_() ->
    Frames = [F || File <- ["veth_mixed.pcap", "loopback.pcap"], {1, F, _} <- frames(File)],
    Fresh = [begin
                 {ok, P} = epcap_decode:decode(1, F),
                 {P, epcap_decode:decode(1, epcap_decode:encode(strip(P)))}
             end || F <- Frames],
    Transport = [{Old, New} || {Old, {ok, New}} <- Fresh, offloaded(Old)],
    Partial = [Old || {Old, _} <- Transport, partial_sum(Old) =:= transport_checksum(Old)],
    [?_assertEqual(52, length(Fresh)),
     ?_assertEqual(35, length(Transport)),
     %% only the RST of veth_mixed (made by the kernel itself) has a full sum
     ?_assertEqual(34, length(Partial))] ++
        [?_assertMatch({ok, _}, New) || {_, New} <- Fresh] ++
        [?_assertEqual(Old, New) || {Old, {ok, New}} <- Fresh,
                                    not lists:member(Old, Partial)] ++
        [?_assertEqual(0, transport_sum(New)) || {_, New} <- Transport].

offloaded(Packet) ->
    lists:any(fun(#{proto := P}) -> P =:= tcp orelse P =:= udp;
                 (_) -> false
              end, Packet).

transport_checksum(Packet) ->
    hd([C || #{proto := P, checksum := C} <- Packet, P =:= tcp orelse P =:= udp]).

%% Checksum over pseudo-header and segment: 0 when the checksum is right.
transport_sum([_, Ip | _] = Packet) ->
    Seg = segment(Packet),
    epcap_decode:checksum([pseudo(Ip, transport_proto(Packet), byte_size(Seg)), Seg]).

partial_sum([_, Ip | _] = Packet) ->
    Len = byte_size(segment(Packet)),
    (bnot epcap_decode:checksum(pseudo(Ip, transport_proto(Packet), Len))) band 16#FFFF.

segment([_, _ | Rest]) ->
    epcap_decode:encode(Rest).

transport_proto(Packet) ->
    case lists:any(fun(H) -> is_map(H) andalso maps:get(proto, H) =:= tcp end, Packet) of
        true -> 6;
        false -> 17
    end.

pseudo(#{proto := ipv4, src := {A, B, C, D}, dst := {E, F, G, H}}, Proto, Len) ->
    <<A, B, C, D, E, F, G, H, 0, Proto, Len:16>>;
pseudo(#{proto := ipv6, src := S, dst := D}, Proto, Len) ->
    Addrs = << <<W:16>> || W <- tuple_to_list(S) ++ tuple_to_list(D) >>,
    <<Addrs/binary, Len:32, 0:24, Proto>>.

checksum_vectors_test_() ->
    Hdr = <<16#4500:16, 16#0073:16, 0:16, 16#4000:16, 16#4011:16, 0:16,
            16#c0a8:16, 16#0001:16, 16#c0a8:16, 16#00c7:16>>,
    [%% RFC 1071 section 3 example: sum 0xddf2
     ?_assertEqual(16#220d, epcap_decode:checksum(<<0, 1, 16#f2, 3, 16#f4, 16#f5,
                                                   16#f6, 16#f7>>)),
     ?_assertEqual(16#b861, epcap_decode:checksum(Hdr)),
     ?_assertEqual(16#b861, epcap_decode:checksum([binary_part(Hdr, 0, 7),
                                                   [binary_part(Hdr, 7, 13)]])),
     ?_assertEqual(16#FFFF, epcap_decode:checksum(<<>>)),
     ?_assertEqual(16#FFFF, epcap_decode:checksum(<<0:80>>)),
     ?_assertEqual(16#FEFF, epcap_decode:checksum(<<1>>)),        % odd length
     ?_assertEqual(16#0000, epcap_decode:checksum(<<16#FFFF:16>>)),
     ?_assertEqual(16#FFFD, epcap_decode:checksum(<<16#8000:16, 16#8001:16>>)),
     ?_assertEqual(0, epcap_decode:checksum(<<16#4500:16, 16#0073:16, 0:16,
                                              16#4000:16, 16#4011:16, 16#b861:16,
                                              16#c0a8:16, 16#0001:16, 16#c0a8:16,
                                              16#00c7:16>>))].

checksum_long_test() ->
    %% the 64-bit fast path agrees with a plain word sum
    Bin = list_to_binary([I rem 256 || I <- lists:seq(1, 1001)]),
    Words = [W || <<W:16>> <= <<Bin/binary, 0>>],
    Sum = lists:foldl(fun(W, A) -> fold(A + W) end, 0, Words),
    ?assertEqual((bnot Sum) band 16#FFFF, epcap_decode:checksum(Bin)).

fold(S) when S > 16#FFFF -> fold((S band 16#FFFF) + (S bsr 16));
fold(S) -> S.

icmp_encode_test() ->
    %% the ICMP echo request of veth_mixed, rebuilt with fresh checksums
    {1, F, _} = frame("veth_mixed.pcap", 3),
    {ok, [Eth, Ip, Icmp, Payload]} = epcap_decode:decode(1, F),
    Rebuilt = epcap_decode:encode([Eth, maps:remove(checksum, Ip),
                                   Icmp#{checksum => auto}, Payload]),
    ?assertEqual(F, Rebuilt),
    ?assertNotEqual(F, epcap_decode:encode([Eth, Ip, Icmp#{seq => 9}, Payload])).

icmp6_encode_test() ->
    {1, F, _} = frame("veth_mixed.pcap", 9),
    {ok, [Eth, Ip6, Icmp6, Payload]} = epcap_decode:decode(1, F),
    ?assertEqual(F, epcap_decode:encode([Eth, maps:remove(payload_len, Ip6),
                                         maps:remove(checksum, Icmp6), Payload])).

encode_defaults_test() ->
    Frame = epcap_decode:encode([#{proto => ether, src => ?MAC1, dst => {1, 2, 3, 4, 5, 6}},
                                 #{proto => ipv4, src => {1, 1, 1, 1}, dst => {2, 2, 2, 2}},
                                 #{proto => tcp, sport => 1, dport => 2, flags => [syn],
                                   options => [{mss, 1400}]},
                                 <<"x">>]),
    ?assertMatch({ok, [#{type := 16#0800, dst := <<1, 2, 3, 4, 5, 6>>},
                       #{protocol := 6, len := 45, ttl := 64},
                       #{options := [{mss, 1400}], flags := [syn]}, <<"x">>]},
                 epcap_decode:decode(1, Frame)),
    <<_:14/binary, IpHdr:20/binary, _/binary>> = Frame,
    ?assertEqual(0, epcap_decode:checksum(IpHdr)),
    ?assertError(badarg, epcap_decode:encode([#{proto => bogus}, <<>>])).

%%====================================================================
%% Formatting
%%====================================================================

format_test_() ->
    [?_assertEqual("1e:f9:0b:de:be:59", epcap_decode:format_mac(?MAC1)),
     ?_assertEqual("00:00:00:00:00:00", epcap_decode:format_mac({0, 0, 0, 0, 0, 0})),
     ?_assertEqual("10.212.0.1", epcap_decode:format_ip({10, 212, 0, 1})),
     ?_assertEqual("10.212.0.1", epcap_decode:format_ip(<<10, 212, 0, 1>>)),
     ?_assertEqual("fd00:212::1", epcap_decode:format_ip({16#fd00, 16#212, 0, 0, 0, 0, 0, 1})),
     ?_assertEqual(en10mb, epcap_decode:dlt_name(1)),
     ?_assertEqual(linux_sll2, epcap_decode:dlt_name(276)),
     ?_assertEqual(4242, epcap_decode:dlt_name(4242))].

%%====================================================================
%% Tunnels, quotes, partial headers (issue 14)
%%====================================================================

-define(A4, {10, 0, 0, 1}).
-define(B4, {10, 0, 0, 2}).

eth_h() -> #{proto => ether, dst => ?MAC2, src => ?MAC1}.
ip4_h() -> #{proto => ipv4, src => ?A4, dst => ?B4}.

gre_flags_test_() ->
    Inner = [ip4_h(), #{proto => udp, sport => 1, dport => 2}, <<"x">>],
    Plain = epcap_decode:encode([eth_h(), ip4_h(), #{proto => gre} | Inner]),
    Full = epcap_decode:encode([eth_h(), ip4_h(),
                                #{proto => gre, checksum => auto, key => 42, seq => 7} | Inner]),
    <<_:34/binary, Gre/binary>> = Full,
    [?_assertMatch({ok, [_, #{protocol := 47}, #{proto := gre, flags := [], protocol := 16#0800},
                         #{proto := ipv4}, #{proto := udp, dport := 2}, <<"x">>]},
                   epcap_decode:decode(1, Plain)),
     ?_assertMatch({ok, [_, _, #{proto := gre, flags := [checksum, key, seq], key := 42,
                                 seq := 7, offset := 0}, _, _, <<"x">>]},
                   epcap_decode:decode(1, Full)),
     %% the GRE checksum covers the GRE header and its payload
     ?_assertEqual(0, epcap_decode:checksum(Gre)),
     %% version 1 (PPTP) is not decoded further
     ?_assertMatch({ok, [_, _, #{proto := gre, version := 1, key := 0}, <<"rest">>]},
                   epcap_decode:decode(1, <<(ether(16#0800))/binary,
                                            (epcap_decode:encode([ip4_h(#{protocol => 47}),
                                                                  <<16#2001:16, 16#880b:16,
                                                                    0:32, "rest">>]))/binary>>))].

ip4_h(Extra) -> maps:merge(ip4_h(), Extra).

mpls_test() ->
    F = epcap_decode:encode([eth_h(), #{proto => mpls, label => 16, ttl => 5},
                             #{proto => mpls, label => 17, ttl => 5}, ip4_h(),
                             #{proto => icmp, type => 8, code => 0, id => 1, seq => 1}, <<>>]),
    ?assertMatch({ok, [#{type := 16#8847}, #{label := 16, bos := 0}, #{label := 17, bos := 1},
                       #{proto := ipv4}, #{proto := icmp}, <<>>]},
                 epcap_decode:decode(1, F)).

vxlan_requires_i_flag_test() ->
    Udp = #{proto => udp, sport => 1, dport => 4789},
    NotVxlan = epcap_decode:encode([eth_h(), ip4_h(), Udp, <<0:64, "payload">>]),
    ?assertMatch({ok, [_, _, #{proto := udp}, <<0:64, "payload">>]},
                 epcap_decode:decode(1, NotVxlan)).

tunnel_trailer_test() ->
    %% 6in4 whose outer datagram holds 3 bytes after the inner one
    Inner = epcap_decode:encode([#{proto => ipv6, src => {16#fd00, 0, 0, 0, 0, 0, 0, 1},
                                   dst => {16#fd00, 0, 0, 0, 0, 0, 0, 2}}, <<"six">>]),
    Frame = epcap_decode:encode([eth_h(), ip4_h(#{protocol => 41}), <<Inner/binary, 1, 2, 3>>]),
    {ok, Packet} = epcap_decode:decode(1, Frame),
    ?assertMatch([_, #{proto := ipv4}, #{proto := ipv6, trailer := <<1, 2, 3>>}, <<"six">>],
                 Packet),
    ?assertEqual(Frame, epcap_decode:encode(Packet)).

icmp_mtu_only_for_frag_needed_test() ->
    Quote = binary_part(epcap_decode:encode([ip4_h(), #{proto => udp, sport => 7, dport => 9},
                                             <<0:160>>]), 0, 28),
    Icmp = fun(Code) ->
                   F = epcap_decode:encode([eth_h(), ip4_h(),
                                            #{proto => icmp, type => 3, code => Code,
                                              rest => <<0:16, 1280:16>>}, Quote]),
                   {ok, [_, _, H, Q]} = epcap_decode:decode(1, F),
                   ?assertEqual(Quote, Q),
                   H
           end,
    ?assertMatch(#{mtu := 1280, quote := [#{proto := ipv4, len := 48},
                                          #{proto := udp, sport := 7, dport := 9}, <<>>]},
                 Icmp(4)),
    ?assertNot(maps:is_key(mtu, Icmp(3))).

partial_test_() ->
    Tcp = <<80:16, 443:16, 1:32, 2:32, 5:4, 0:3, 16#12:9, 100:16, 0:16, 0:16>>,
    [?_assertEqual([], epcap_decode:partial(tcp, <<0>>)),
     ?_assertEqual([#{proto => tcp, partial => true, sport => 80}],
                   epcap_decode:partial(tcp, binary_part(Tcp, 0, 3))),
     ?_assertMatch([#{sport := 80, dport := 443, seq := 1, ack := 2, hlen := 20,
                      flags := [syn, ack], window := 100}],
                   epcap_decode:partial(tcp, binary_part(Tcp, 0, 16))),
     ?_assertMatch([#{hlen := 20, len := 84, flags := [df], ttl := 64, protocol := 1,
                      src := {10, 0, 0, 1}} = M] when not is_map_key(dst, M),
                   epcap_decode:partial(ipv4, <<16#45, 0, 84:16, 0:16, 2#010:3, 0:13, 64, 1,
                                                0:16, 10, 0, 0, 1, 10, 0>>)),
     ?_assertMatch([#{proto := gre, flags := [key], protocol := 16#6558}],
                   epcap_decode:partial(gre, <<16#2000:16, 16#6558:16, 0:16>>)),
     ?_assertMatch([#{proto := udp, sport := 1, dport := 2} = M] when not is_map_key(len, M),
                   epcap_decode:partial(udp, <<1:16, 2:16, 0>>))].
