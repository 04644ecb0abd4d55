%%% @doc Test helper: crafted captures of every case the decoder handles
%%% beyond plain TCP/UDP (tunnels, ICMP errors, neighbour discovery, IP
%%% options and extension headers, headers cut short), written as pcap
%%% files for the golden comparison with tshark
%%% (`epcap_decode_golden_SUITE'). Frames are built with
%%% `epcap_decode:encode/1', so lengths and checksums are computed; tshark
%%% then checks what they hold.
%%%
%%% Regenerate with `epcap_decode_craft:write_all("test/data")' (then the
%%% golden files with `epcap_decode_golden_SUITE:regenerate/1').
-module(epcap_decode_craft).

-export([write_all/1, captures/0, pcap/2]).

-define(MAC_A, <<2, 0, 0, 0, 0, 16#a>>).
-define(MAC_B, <<2, 0, 0, 0, 0, 16#b>>).
-define(A4, {10, 0, 0, 1}).
-define(B4, {10, 0, 0, 2}).
-define(R4, {10, 0, 0, 254}).
-define(T4A, {192, 0, 2, 1}).
-define(T4B, {192, 0, 2, 2}).
-define(A6, {16#fd00, 0, 0, 0, 0, 0, 0, 1}).
-define(B6, {16#fd00, 0, 0, 0, 0, 0, 0, 2}).
-define(LL6, {16#fe80, 0, 0, 0, 0, 0, 0, 1}).
-define(ALLN6, {16#ff02, 0, 0, 0, 0, 0, 0, 1}).

%% @doc Write every crafted capture into Dir.
-spec write_all(file:filename()) -> ok.
write_all(Dir) ->
    lists:foreach(fun({Name, Records}) ->
                          ok = file:write_file(filename:join(Dir, Name), pcap(1, Records))
                  end, captures()),
    ok.

%% @doc The crafted captures: file name and records `{Frame, OrigLen}'.
-spec captures() -> [{string(), [{binary(), pos_integer()}]}].
captures() ->
    [{"tun_crafted.pcap", whole(tunnels())},
     {"icmp_err_crafted.pcap", whole(icmp_errors())},
     {"nd_crafted.pcap", whole(neighbour_discovery())},
     {"ipopt_crafted.pcap", whole(ip_fields())},
     {"partial_crafted.pcap", partials()}].

whole(Frames) -> [{F, byte_size(F)} || F <- Frames].

%% @doc A pcap file (microsecond timestamps, one second apart).
-spec pcap(non_neg_integer(), [{binary(), pos_integer()}]) -> iodata().
pcap(DLT, Records) ->
    [<<16#a1b2c3d4:32/little, 2:16/little, 4:16/little, 0:32, 0:32,
       65535:32/little, DLT:32/little>>
     | [<<(1795700000 + I):32/little, (I * 1000):32/little, (byte_size(F)):32/little,
          Len:32/little, F/binary>> || {I, {F, Len}} <- lists:enumerate(Records)]].

%%--------------------------------------------------------------------
%% Building blocks
%%--------------------------------------------------------------------

eth() -> #{proto => ether, dst => ?MAC_B, src => ?MAC_A}.
eth(Src, Dst) -> #{proto => ether, dst => Dst, src => Src}.

ip4(Src, Dst) -> #{proto => ipv4, src => Src, dst => Dst, id => 16#1234, ttl => 64,
                   flags => [df]}.
ip6(Src, Dst) -> #{proto => ipv6, src => Src, dst => Dst, flow_label => 16#5a5a5,
                   hop_limit => 64}.
udp(S, D) -> #{proto => udp, sport => S, dport => D}.
tcp(S, D) -> #{proto => tcp, sport => S, dport => D, seq => 1000, ack => 0, flags => [syn],
               window => 64240, options => [{mss, 1460}, sack_permitted]}.
echo() -> #{proto => icmp, type => 8, code => 0, id => 7, seq => 1}.
echo6() -> #{proto => icmp6, type => 128, code => 0, id => 7, seq => 1}.
arp() -> #{proto => arp, htype => 1, ptype => 16#0800, op => 1, sha => ?MAC_A,
           spa => ?T4A, tha => <<0:48>>, tpa => ?T4B}.

enc(Packet) -> epcap_decode:encode(Packet).

%%--------------------------------------------------------------------
%% Cases
%%--------------------------------------------------------------------

tunnels() ->
    Inner4 = [ip4(?T4A, ?T4B), echo(), <<"inner ping">>],
    [enc([eth(), ip4(?A4, ?B4), #{proto => gre} | Inner4]),
     enc([eth(), ip4(?A4, ?B4), #{proto => gre, checksum => auto, key => 42, seq => 7},
          ip4(?T4A, ?T4B), udp(5000, 6000), <<"query">>]),
     enc([eth(), ip4(?A4, ?B4), #{proto => gre, key => 16#01020304},
          ip6(?A6, ?B6), echo6(), <<"ping6">>]),
     enc([eth(), ip4(?A4, ?B4), #{proto => gre, key => 9},
          eth(<<2, 0, 0, 0, 1, 1>>, <<2, 0, 0, 0, 1, 2>>), ip4(?T4A, ?T4B), tcp(40000, 80),
          <<>>]),
     enc([eth(), ip6(?A6, ?B6), #{proto => gre, seq => 1} | Inner4]),
     enc([eth(), ip4(?A4, ?B4), udp(50000, 4789), #{proto => vxlan, vni => 42},
          eth(<<2, 0, 0, 0, 1, 1>>, <<255, 255, 255, 255, 255, 255>>), arp(), <<>>]),
     enc([eth(), ip4(?A4, ?B4), udp(50001, 4789), #{proto => vxlan, vni => 16#abcdef},
          eth(<<2, 0, 0, 0, 1, 1>>, <<2, 0, 0, 0, 1, 2>>), ip4(?T4A, ?T4B), udp(1234, 5678),
          <<"in vxlan">>]),
     enc([eth(), #{proto => mpls, label => 100, tc => 5, ttl => 63},
          #{proto => mpls, label => 16#fffff, ttl => 62} | Inner4]),
     enc([eth(), #{proto => mpls, label => 17, ttl => 1}, ip6(?A6, ?B6), udp(1, 2), <<"x">>]),
     enc([eth(), ip4(?A4, ?B4), ip4(?T4A, ?T4B), tcp(40001, 443), <<>>]),
     enc([eth(), ip4(?A4, ?B4), ip6(?A6, ?B6), echo6(), <<"6in4">>]),
     enc([eth(), #{proto => vlan, vid => 10}, ip4(?A4, ?B4), #{proto => gre, key => 1},
          eth(), #{proto => vlan, vid => 20, pcp => 3}, ip4(?T4A, ?T4B), udp(7000, 9000), <<"q">>])].

%% The first Len bytes of a packet: what an ICMP error quotes.
quote(Packet, Len) ->
    binary_part(enc(Packet), 0, Len).

icmp_errors() ->
    Udp4 = [ip4(?A4, ?B4), udp(45000, 6000), <<"a datagram of some length">>],
    Tcp4 = [ip4(?A4, ?B4), tcp(40002, 22), <<0:1000/unit:8>>],
    Ping4 = [(ip4(?A4, ?B4))#{ttl => 1}, echo(), <<0:56/unit:8>>],
    Udp6 = [ip6(?A6, ?B6), udp(45000, 6000), <<"a datagram of some length">>],
    Tcp6 = [ip6(?A6, ?B6), tcp(40003, 22), <<0:1400/unit:8>>],
    Ping6 = [(ip6(?A6, ?B6))#{hop_limit => 1}, echo6(), <<0:56/unit:8>>],
    [enc([eth(), ip4(?B4, ?A4), #{proto => icmp, type => 3, code => 3}, quote(Udp4, 28)]),
     enc([eth(), ip4(?R4, ?A4), #{proto => icmp, type => 11, code => 0}, quote(Ping4, 28)]),
     enc([eth(), ip4(?R4, ?A4), #{proto => icmp, type => 3, code => 4, mtu => 1400},
          quote(Tcp4, 48)]),
     enc([eth(), ip4(?R4, ?A4), #{proto => icmp, type => 12, code => 0,
                                   rest => <<8, 0, 0, 0>>}, quote(Udp4, 36)]),
     enc([eth(), ip4(?R4, ?A4), #{proto => icmp, type => 5, code => 1, gateway => ?T4A},
          quote(Udp4, 28)]),
     enc([eth(), ip4(?R4, ?A4), #{proto => icmp, type => 3, code => 1}, quote(Tcp4, 28)]),
     enc([eth(), ip6(?B6, ?A6), #{proto => icmp6, type => 1, code => 4}, quote(Udp6, 48)]),
     enc([eth(), ip6(?B6, ?A6), #{proto => icmp6, type => 2, code => 0, mtu => 1280},
          quote(Tcp6, 1232)]),
     enc([eth(), ip6(?B6, ?A6), #{proto => icmp6, type => 3, code => 0}, quote(Ping6, 48)]),
     enc([eth(), ip6(?B6, ?A6), #{proto => icmp6, type => 4, code => 0,
                                   rest => <<0, 0, 0, 6>>}, quote(Udp6, 48)])].

neighbour_discovery() ->
    LL = fun(Type, Mac) -> <<Type, 1, Mac/binary>> end,
    Prefix = <<3, 4, 64, 2#11000000, 2592000:32, 604800:32, 0:32,
               16#fd00:16, 0:16, 0:16, 16#42:16, 0:64>>,
    Mtu = <<5, 1, 0:16, 1500:32>>,
    Redirected = quote([ip6(?A6, ?B6), udp(45000, 6000), <<"redirected">>], 48),
    [enc([eth(), (ip6(?LL6, ?B6))#{hop_limit => 255},
          #{proto => icmp6, type => 135, code => 0, target => ?B6}, LL(1, ?MAC_A)]),
     enc([eth(), (ip6(?B6, ?LL6))#{hop_limit => 255},
          #{proto => icmp6, type => 136, code => 0, flags => [solicited, override],
            target => ?B6}, LL(2, ?MAC_B)]),
     enc([eth(), (ip6(?LL6, {16#ff02, 0, 0, 0, 0, 0, 0, 2}))#{hop_limit => 255},
          #{proto => icmp6, type => 133, code => 0}, LL(1, ?MAC_A)]),
     enc([eth(), (ip6(?LL6, ?ALLN6))#{hop_limit => 255},
          #{proto => icmp6, type => 134, code => 0, rest => <<64, 2#10000000, 1800:16>>},
          <<30000:32, 1000:32, (LL(1, ?MAC_B))/binary, Mtu/binary, Prefix/binary>>]),
     enc([eth(), (ip6(?LL6, ?A6))#{hop_limit => 255},
          #{proto => icmp6, type => 137, code => 0},
          <<(ip_bin(?LL6))/binary, (ip_bin(?B6))/binary, (LL(2, ?MAC_B))/binary,
            4, 7, 0:48, Redirected/binary>>])].

ip_bin(A) -> <<<<X:16>> || X <- tuple_to_list(A)>>.

ip_fields() ->
    Opts = [nop, {148, <<0, 0>>}, {7, <<4, 0:32>>}, eol],
    [enc([eth(), (ip4(?A4, ?B4))#{dscp => 46, ecn => 1, options => Opts},
          udp(1000, 2000), <<"with options">>]),
     enc([eth(), (ip4(?A4, ?B4))#{flags => [mf], id => 77}, udp(1000, 2000),
          <<0:64/unit:8>>]),
     enc([eth(), (ip4(?A4, ?B4))#{flags => [], frag_offset => 185, id => 77, protocol => 17},
          <<1:64/unit:8>>]),
     enc([eth(), (ip6(?A6, ?B6))#{traffic_class => 16#b8},
          #{proto => ipv6_hopopts, options => [{padn, <<0, 0, 0, 0>>}]},
          #{proto => ipv6_dstopts, options => [{padn, <<0, 0, 0, 0>>}]},
          udp(1000, 2000), <<"ext">>]),
     enc([eth(), ip6(?A6, ?B6),
          #{proto => ipv6_fragment, frag_offset => 100, more => false, id => 16#abcd,
            next_header => 17}, <<2:40/unit:8>>])].

%% Frames cut inside a header: caplen below the original length.
partials() ->
    Tcp = enc([eth(), ip4(?A4, ?B4), tcp(40004, 8080), <<"payload">>]),
    Udp = enc([eth(), ip4(?A4, ?B4), udp(45000, 6000), <<"payload">>]),
    Udp6 = enc([eth(), ip6(?A6, ?B6), udp(45000, 6000), <<"payload">>]),
    Gre = enc([eth(), ip4(?A4, ?B4), #{proto => gre, key => 5}, ip4(?T4A, ?T4B), echo(),
               <<"x">>]),
    Icmp = enc([eth(), ip4(?A4, ?B4), echo(), <<"ping">>]),
    Vxlan = enc([eth(), ip4(?A4, ?B4), udp(50000, 4789), #{proto => vxlan, vni => 42},
                 eth(), ip4(?T4A, ?T4B), udp(1, 2), <<"x">>]),
    [cut(Tcp, 14 + 20 + 8), cut(Tcp, 14 + 20 + 13), cut(Tcp, 14 + 12), cut(Udp, 14 + 20 + 4),
     cut(Udp6, 14 + 24), cut(Udp6, 14 + 40 + 6), cut(Gre, 14 + 20 + 6), cut(Icmp, 14 + 20 + 6),
     cut(Vxlan, 14 + 20 + 8 + 8 + 14 + 16)].

cut(Frame, N) -> {binary_part(Frame, 0, N), byte_size(Frame)}.
