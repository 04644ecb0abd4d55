%%% @doc Decoding and encoding of captured frames.
%%%
%%% `decode/2' turns a frame captured on a link of a given type (DLT) into a
%%% list of headers followed by the payload. Every header is a map with a
%%% `proto' key naming it; the other keys are the header fields:
%%%
%%% <ul>
%%% <li>link layer (the first element, always present when decoding got that
%%%   far): `ether' (`dst', `src', `type'), `linux_sll' (`pkttype',
%%%   `hatype', `halen', `addr', `protocol'), `linux_sll2' (`protocol',
%%%   `reserved', `ifindex', `hatype', `pkttype', `halen', `addr'), `null'
%%%   (`family', `endian') or `raw'. Each link header of a fully decoded
%%%   frame carries a `trailer' key: the bytes captured after the network
%%%   datagram (Ethernet padding, FCS), usually `<<>>'.</li>
%%% <li>`vlan' (`pcp', `dei', `vid', `type'), one per 802.1Q/802.1ad tag.</li>
%%% <li>`arp' (`htype', `ptype', `hlen', `plen', `op', `sha', `spa', `tha',
%%%   `tpa'); protocol addresses are `inet' tuples for IPv4.</li>
%%% <li>`ipv4' (`dscp', `ecn', `len', `id', `flags' (a list of `rf', `df',
%%%   `mf'), `frag_offset' (in 8-byte units), `ttl', `protocol',
%%%   `checksum', `src', `dst', `options'); only the first fragment of a
%%%   datagram is decoded further.</li>
%%% <li>`ipv6' (`traffic_class', `flow_label', `payload_len',
%%%   `next_header', `hop_limit', `src', `dst'), followed by one map per
%%%   extension header: `ipv6_hopopts' and `ipv6_dstopts' (`next_header',
%%%   `options'), `ipv6_routing' (`next_header', `type', `segments_left',
%%%   `data'), `ipv6_fragment' (`next_header', `reserved', `frag_offset',
%%%   `res', `more', `id').</li>
%%% <li>`tcp' (`sport', `dport', `seq', `ack', `reserved', `flags' (a list
%%%   of `fin', `syn', `rst', `psh', `ack', `urg', `ece', `cwr', `ns'),
%%%   `window', `checksum', `urgent', `options'), `udp' (`sport', `dport',
%%%   `len', `checksum'), `icmp' and `icmp6' (`type', `code', `checksum'
%%%   and, depending on the type, `id'/`seq', `mtu' (ICMP only for
%%%   "fragmentation needed", type 3 code 4), `gateway', `pointer',
%%%   `target', `flags', `rest').</li>
%%% <li>Tunnels, each followed by the headers of the packet they carry,
%%%   decoded like an outer one: `gre' (`flags' (a list of `checksum',
%%%   `routing', `key', `seq'), `reserved0', `version', `protocol' and, as
%%%   the flags say, `checksum'/`offset', `key', `seq'; IPv4, IPv6, MPLS and
%%%   Ethernet (transparent bridging, 0x6558) payloads), `vxlan' (`flags',
%%%   `reserved1', `vni', `reserved2'; UDP destination port 4789, then
%%%   Ethernet), `mpls' (`label', `tc', `bos', `ttl'; one per label, then
%%%   IPv4 or IPv6 by the first nibble), IPv4-in-IPv4 (protocol 4) and
%%%   IPv6-in-IPv4 / 6in4 (protocol 41) as a second `ipv4'/`ipv6' header.
%%%   Bytes after a tunnelled datagram inside the outer one are the
%%%   `trailer' of its first header.</li>
%%% <li>ICMP errors (destination unreachable, source quench, redirect, time
%%%   exceeded, parameter problem) and ICMPv6 errors (destination
%%%   unreachable, packet too big, time exceeded, parameter problem) carry
%%%   `quote': the quoted datagram decoded as far as it was quoted, a list
%%%   of headers (the last one possibly partial, see below) ended by the
%%%   bytes after them. The quoted bytes also stay the payload.</li>
%%% <li>ICMPv6 neighbour discovery (router solicitation/advertisement,
%%%   neighbour solicitation/advertisement, redirect) carries `nd_options':
%%%   `{source_lladdr, Mac}', `{target_lladdr, Mac}', `{prefix_info, Map}',
%%%   `{mtu, N}', `{redirected_header, Quote}', `{Type, Data}', and
%%%   `{malformed, Bin}' for bytes that are no option. A router
%%%   advertisement also has `cur_hop_limit', `ra_flags', `router_lifetime',
%%%   `reachable_time', `retrans_timer'; a redirect `target' and
%%%   `destination'. These fields are read from the payload, which stays
%%%   as it is.</li>
%%% </ul>
%%%
%%% <b>Partial headers.</b> When a layer is cut short (error reason
%%% `truncated'), the decoded headers end with that layer's header holding
%%% the fields whose bytes were captured and `partial => true' (see
%%% `partial/2'); it is left out when not even its first field was
%%% captured. A partial header is never followed by another header.
%%%
%%% MAC addresses are 6-byte binaries, IP addresses are tuples as `inet'
%%% uses them. Checksums are never verified by `decode/2'.
%%%
%%% `encode/1' is the inverse: `encode(Headers ++ [Payload])' builds the
%%% frame. A `len', `payload_len' or `checksum' field that is missing (or
%%% set to `auto') is computed, so dropping the checksum keys of decoded
%%% headers produces a frame with fresh checksums.
%%%
%%% `flow/2' gives only protocol, addresses and ports of a frame, at a
%%% fraction of the cost, without building the header maps.
%%% @end
-module(epcap_decode).

-export([decode/2, flow/2, encode/1, checksum/1, partial/2,
         format_mac/1, format_ip/1, dlt_name/1, tcp_flags/1]).

-export_type([dlt/0, header/0, error_detail/0, packet/0]).

-type dlt() :: non_neg_integer() | atom().
-type header() :: #{proto := atom(), atom() => term()}.
-type packet() :: [header() | binary()].
-type error_detail() :: {Layer :: atom(), Reason :: atom(), Rest :: binary()}.

%% Internal decoding result of a layer: its headers and those above it
%% ended by the payload, and the bytes after its datagram (the trailer).
-type result() :: {ok, packet(), Trailer :: binary()}
                | {error, [header()], error_detail()}.

-define(ETH_P_IP, 16#0800).
-define(ETH_P_ARP, 16#0806).
-define(ETH_P_IPV6, 16#86DD).
-define(ETH_P_8021Q, 16#8100).
-define(ETH_P_8021AD, 16#88A8).
-define(ETH_P_QINQ, 16#9100).
-define(ETH_P_TEB, 16#6558).
-define(ETH_P_MPLS, 16#8847).
-define(ETH_P_MPLS_MC, 16#8848).
-define(VXLAN_PORT, 4789).

-compile({inline, [ip4/1, ip6/4]}).

%%====================================================================
%% Decoding
%%====================================================================
%%
%% Each layer returns `{ok, Packet, Trailer}': its headers and those
%% above it, ended by the payload (the list decode/2 returns, built in
%% place, so nothing is appended or reversed afterwards), and the bytes
%% captured after its datagram, which the link header takes. What it
%% costs on OTP 25, and so how the common path is written:
%%  - fields are taken as aligned 32-bit words and shifted apart (a field
%%    not on a byte boundary is a call into the runtime);
%%  - Ethernet, IPv4/IPv6 and TCP are matched at once, and a datagram that
%%    ends with the frame has its transport read in place (a sub-binary of
%%    up to 64 bytes is a copy of them);
%%  - header maps come from the `_h' functions, which take every value as
%%    an argument (see there);
%%  - the common TCP option layouts, ICMP echo and errors and neighbour
%%    discovery are one clause and one map each.
%% Rarer shapes take the general clauses after them, which give the same
%% terms.

%% @doc Decode a frame captured on a link of type `DLT' (an integer such
%% as 1, or an atom as returned by `dlt_name/1').
%%
%% Returns `{ok, Headers ++ [Payload]}' when every header is complete and
%% the payload is as long as the enclosing headers say. Otherwise returns
%% `{error, Decoded, {Layer, Reason, Rest}}': `Decoded' are the headers
%% decoded completely, `Layer' the layer that could not be decoded
%% (`payload' when only the payload is short), `Reason' one of
%% `truncated', `bad_version', `bad_length', `bad_header_length',
%% `bad_option', `unsupported', and `Rest' the bytes from where that
%% layer starts (to the end of the frame or of the enclosing datagram,
%% whichever comes first). Never raises.
%% ```
%% Frame = <<255,255,255,255,255,255, 2,0,0,0,0,1, 8,6, 0:224>>,
%% {ok, [#{proto := ether, type := 16#0806}, #{proto := arp} | _]} =
%%     epcap_decode:decode(1, Frame),
%% {error, [], {ether, truncated, <<1,2>>}} = epcap_decode:decode(1, <<1,2>>).
%% '''
-spec decode(dlt(), binary()) -> {ok, packet()} | {error, [header()], error_detail()}.
decode(1, Frame) when is_binary(Frame) ->
    ether(Frame);
decode(DLT, Frame) when is_binary(Frame) ->
    link(dlt_name(DLT), Frame);
decode(_DLT, _Frame) ->
    {error, [], {link, badarg, <<>>}}.

%% @doc The flow of a frame captured on a link of type `DLT', cheaply:
%% `{ok, {Protocol, Src, Dst, SPort, DPort}}' of its outermost IP
%% datagram, without building the header maps `decode/2' builds.
%% `Protocol' is the IP protocol number of the transport (after IPv6
%% extension headers), the addresses are `inet' tuples, and the ports
%% those of TCP or UDP, `undefined' for other protocols, a later
%% fragment, or when not captured. VLAN tags, MPLS labels and the
%% extension headers `decode/2' knows are walked through. It agrees with
%% `decode/2' on every frame that decodes; IP and TCP options are not
%% checked. Otherwise `{error, Reason}': `not_ip' (ARP, an unknown
%% ethertype), `truncated', `bad_version', `bad_header_length',
%% `bad_length' (of the IP header), `unsupported' (link type), `badarg'.
%% Never raises. See `epcap_decode_flow'.
%% ```
%% Frame = <<0,0,0,0,0,2, 0,0,0,0,0,1, 8,0, 16#45,0,40:16, 0:16, 16#4000:16, 64,6,0:16,
%%           10,0,0,1, 10,0,0,2, 40000:16, 80:16, 0:128>>,
%% {ok, {6, {10,0,0,1}, {10,0,0,2}, 40000, 80}} = epcap_decode:flow(1, Frame),
%% {error, not_ip} = epcap_decode:flow(1, <<0:96, 8,6, 0:224>>),
%% {error, truncated} = epcap_decode:flow(1, binary_part(Frame, 0, 30)).
%% '''
-spec flow(dlt(), binary()) ->
          {ok, epcap_decode_flow:flow()} | {error, epcap_decode_flow:flow_error()}.
flow(DLT, Frame) ->
    epcap_decode_flow:flow(DLT, Frame).

%% @doc Name of a link type: `1' is `en10mb', `113' `linux_sll', `276'
%% `linux_sll2', `0' `null', `108' `loop', `101'/`12'/`14' `raw', `228'
%% `ipv4', `229' `ipv6'. Atoms are returned as they are, unknown values
%% unchanged.
%% ```
%% linux_sll2 = epcap_decode:dlt_name(276).
%% '''
-spec dlt_name(dlt()) -> dlt().
dlt_name(0) -> null;
dlt_name(1) -> en10mb;
dlt_name(12) -> raw;
dlt_name(14) -> raw;
dlt_name(101) -> raw;
dlt_name(108) -> loop;
dlt_name(113) -> linux_sll;
dlt_name(228) -> ipv4;
dlt_name(229) -> ipv6;
dlt_name(276) -> linux_sll2;
dlt_name(Other) -> Other.

%% Link layers return what decode/2 does.
-spec link(dlt(), binary()) -> {ok, packet()} | {error, [header()], error_detail()}.
link(en10mb, Frame) -> ether(Frame);
link(linux_sll, Frame) -> sll(Frame);
link(linux_sll2, Frame) -> sll2(Frame);
link(null, Frame) -> null(Frame);
link(loop, Frame) -> loop(Frame);
link(raw, Frame) -> raw(Frame);
link(ipv4, Frame) -> with_link(#{proto => raw}, ipv4(Frame));
link(ipv6, Frame) -> with_link(#{proto => raw}, ipv6(Frame));
link(_, Frame) -> {error, [], {link, unsupported, Frame}}.

%% Put the link header in front and give it the trailer.
with_link(Link, {ok, Packet, Trailer}) ->
    {ok, [Link#{trailer => Trailer} | Packet]};
with_link(Link, {error, Hs, Detail}) ->
    {error, [Link | Hs], Detail}.

-spec push(header(), result()) -> result().
push(H, {ok, Packet, Trailer}) -> {ok, [H | Packet], Trailer};
push(H, {error, Hs, Detail}) -> {error, [H | Hs], Detail}.

%% The commonest frames in one match each: TCP, UDP and ICMP/ICMPv6 echo
%% over IPv4 without options or over IPv6 (no extension header), in a
%% datagram that fills the frame (no trailer, not cut) and is no later
%% fragment. A frame that does not fit (TCP options, a UDP length, VXLAN)
%% takes the general clauses after them, which give the same terms.
ether(<<Dst:6/binary, Src:6/binary, ?ETH_P_IP:16, 16#45, Tos, Len:16, W1:32, Ttl, 6, Sum:16,
        S:32, D:32, P:32, Seq:32, Ack:32, T1:32, T2:32, _/binary>> = Frame)
  when W1 band 16#1FFF =:= 0, T1 bsr 28 >= 5, Len =:= byte_size(Frame) - 14 ->
    case tcp_split(T1 bsr 28, Frame, 54) of
        {Opts, Payload} ->
            {ok, [ether_h(ether, Dst, Src, ?ETH_P_IP, <<>>),
                  ipv4_hdr(Tos, Len, W1, Ttl, 6, Sum, S, D),
                  tcp_hdr(P, Seq, Ack, T1, T2, Opts), Payload]};
        _ ->
            W0 = (16#45 bsl 24) bor (Tos bsl 16) bor Len,
            W2 = (Ttl bsl 24) bor (6 bsl 16) bor Sum,
            ether_up(Dst, Src, ?ETH_P_IP, ipv4_in(W0, W1, W2, S, D, Frame, 34))
    end;
ether(<<Dst:6/binary, Src:6/binary, ?ETH_P_IP:16, 16#45, Tos, Len:16, W1:32, Ttl, 17, Sum:16,
        S:32, D:32, SPort:16, DPort:16, ULen:16, USum:16, Payload/binary>>)
  when W1 band 16#1FFF =:= 0, Len =:= byte_size(Payload) + 28, ULen >= 8,
       ULen - 8 =< byte_size(Payload), DPort =/= ?VXLAN_PORT ->
    {ok, [ether_h(ether, Dst, Src, ?ETH_P_IP, <<>>), ipv4_hdr(Tos, Len, W1, Ttl, 17, Sum, S, D),
          udp_h(udp, SPort, DPort, ULen, USum), Payload]};
ether(<<Dst:6/binary, Src:6/binary, ?ETH_P_IP:16, 16#45, Tos, Len:16, W1:32, Ttl, 1, Sum:16,
        S:32, D:32, Type, Code, ISum:16, Id:16, Seq:16, Payload/binary>>)
  when Type =:= 0 orelse Type =:= 8, W1 band 16#1FFF =:= 0, Len =:= byte_size(Payload) + 28 ->
    {ok, [ether_h(ether, Dst, Src, ?ETH_P_IP, <<>>), ipv4_hdr(Tos, Len, W1, Ttl, 1, Sum, S, D),
          echo_h(icmp, Type, Code, ISum, Id, Seq), Payload]};
ether(<<Dst:6/binary, Src:6/binary, ?ETH_P_IPV6:16, W0:32, PLen:16, 6, HLim, S1:32, S2:32,
        S3:32, S4:32, D1:32, D2:32, D3:32, D4:32, P:32, Seq:32, Ack:32, T1:32, T2:32,
        _/binary>> = Frame)
  when W0 bsr 28 =:= 6, T1 bsr 28 >= 5, PLen =:= byte_size(Frame) - 54 ->
    case tcp_split(T1 bsr 28, Frame, 74) of
        {Opts, Payload} ->
            {ok, [ether_h(ether, Dst, Src, ?ETH_P_IPV6, <<>>),
                  ipv6_hdr(W0, PLen, 6, HLim, ip6(S1, S2, S3, S4), ip6(D1, D2, D3, D4)),
                  tcp_hdr(P, Seq, Ack, T1, T2, Opts), Payload]};
        _ ->
            ether_up(Dst, Src, ?ETH_P_IPV6,
                     ipv6_in(W0, (PLen bsl 16) bor (6 bsl 8) bor HLim, ip6(S1, S2, S3, S4),
                             ip6(D1, D2, D3, D4), Frame, 54))
    end;
ether(<<Dst:6/binary, Src:6/binary, ?ETH_P_IPV6:16, W0:32, PLen:16, 17, HLim, S1:32, S2:32,
        S3:32, S4:32, D1:32, D2:32, D3:32, D4:32, SPort:16, DPort:16, ULen:16, USum:16,
        Payload/binary>>)
  when W0 bsr 28 =:= 6, PLen =:= byte_size(Payload) + 8, ULen >= 8,
       ULen - 8 =< byte_size(Payload), DPort =/= ?VXLAN_PORT ->
    {ok, [ether_h(ether, Dst, Src, ?ETH_P_IPV6, <<>>),
          ipv6_hdr(W0, PLen, 17, HLim, ip6(S1, S2, S3, S4), ip6(D1, D2, D3, D4)),
          udp_h(udp, SPort, DPort, ULen, USum), Payload]};
ether(<<Dst:6/binary, Src:6/binary, ?ETH_P_IPV6:16, W0:32, PLen:16, 58, HLim, S1:32, S2:32,
        S3:32, S4:32, D1:32, D2:32, D3:32, D4:32, Type, Code, ISum:16, Id:16, Seq:16,
        Payload/binary>>)
  when W0 bsr 28 =:= 6, Type =:= 128 orelse Type =:= 129, PLen =:= byte_size(Payload) + 8 ->
    {ok, [ether_h(ether, Dst, Src, ?ETH_P_IPV6, <<>>),
          ipv6_hdr(W0, PLen, 58, HLim, ip6(S1, S2, S3, S4), ip6(D1, D2, D3, D4)),
          echo_h(icmp6, Type, Code, ISum, Id, Seq), Payload]};
%% The other IPv4 headers without options and IPv6 headers are matched
%% with the Ethernet header at once too (see ipv4/1 and ipv6/1), in the
%% same segments as above so that the compiler reads them once for all
%% these clauses; their transport is read in place.
ether(<<Dst:6/binary, Src:6/binary, ?ETH_P_IP:16, 16#45, Tos, Len:16, W1:32, Ttl, Proto, Sum:16,
        S:32, D:32, _/binary>> = Frame) when Len >= 20 ->
    W0 = (16#45 bsl 24) bor (Tos bsl 16) bor Len,
    W2 = (Ttl bsl 24) bor (Proto bsl 16) bor Sum,
    ether_up(Dst, Src, ?ETH_P_IP, ipv4_in(W0, W1, W2, S, D, Frame, 34));
ether(<<Dst:6/binary, Src:6/binary, ?ETH_P_IPV6:16, W0:32, PLen:16, Next, HLim, S1:32, S2:32,
        S3:32, S4:32, D1:32, D2:32, D3:32, D4:32, _/binary>> = Frame) when W0 bsr 28 =:= 6 ->
    ether_up(Dst, Src, ?ETH_P_IPV6,
             ipv6_in(W0, (PLen bsl 16) bor (Next bsl 8) bor HLim, ip6(S1, S2, S3, S4),
                     ip6(D1, D2, D3, D4), Frame, 54));
ether(<<Dst:6/binary, Src:6/binary, Type:16, Rest/binary>>) ->
    ether_up(Dst, Src, Type, ethertype(Type, Rest));
ether(Frame) ->
    cut(ether, Frame).

ether_up(Dst, Src, Type, {ok, Packet, Trailer}) ->
    {ok, [ether_h(ether, Dst, Src, Type, Trailer) | Packet]};
ether_up(Dst, Src, Type, {error, Hs, Detail}) ->
    {error, [ether_h(ether, Dst, Src, Type) | Hs], Detail}.

%% Ethernet inside a tunnel: a layer like the others.
-spec inner_ether(binary()) -> result().
inner_ether(Bin) ->
    case ether(Bin) of
        {ok, Packet} -> {ok, Packet, <<>>};
        Error -> Error
    end.

sll(<<PktType:16, HaType:16, HaLen:16, Addr:8/binary, Proto:16, Rest/binary>>) ->
    H = #{proto => linux_sll, pkttype => PktType, hatype => HaType,
          halen => HaLen, addr => Addr, protocol => Proto},
    with_link(H, ethertype(Proto, Rest));
sll(Frame) ->
    cut(linux_sll, Frame).

sll2(<<Proto:16, Res:16, IfIndex:32, HaType:16, PktType:8, HaLen:8,
       Addr:8/binary, Rest/binary>>) ->
    H = #{proto => linux_sll2, protocol => Proto, reserved => Res,
          ifindex => IfIndex, hatype => HaType, pkttype => PktType,
          halen => HaLen, addr => Addr},
    with_link(H, ethertype(Proto, Rest));
sll2(Frame) ->
    cut(linux_sll2, Frame).

%% BSD loopback: address family in the byte order of the capturing host.
null(<<0, 0, _:16, Rest/binary>> = Frame) ->
    <<Family:32/big, _/binary>> = Frame,
    null_family(Family, big, Rest);
null(<<Family:32/little, Rest/binary>>) ->
    null_family(Family, little, Rest);
null(Frame) ->
    {error, [], {null, truncated, Frame}}.

loop(<<Family:32/big, Rest/binary>>) ->
    null_family(Family, big, Rest);
loop(Frame) ->
    {error, [], {null, truncated, Frame}}.

null_family(Family, Endian, Rest) ->
    H = #{proto => null, family => Family, endian => Endian},
    with_link(H, af(Family, Rest)).

af(2, Bin) -> ipv4(Bin);
af(Family, Bin) when Family =:= 10; Family =:= 24; Family =:= 28;
                     Family =:= 30 ->
    ipv6(Bin);
af(_, Bin) -> {ok, [Bin], <<>>}.

raw(<<4:4, _:4, _/binary>> = Frame) -> with_link(#{proto => raw}, ipv4(Frame));
raw(<<6:4, _:4, _/binary>> = Frame) -> with_link(#{proto => raw}, ipv6(Frame));
raw(<<>>) -> {error, [#{proto => raw}], {raw, truncated, <<>>}};
raw(Frame) -> {error, [#{proto => raw}], {raw, bad_version, Frame}}.

-spec ethertype(non_neg_integer(), binary()) -> result().
ethertype(?ETH_P_IP, Bin) -> ipv4(Bin);
ethertype(?ETH_P_IPV6, Bin) -> ipv6(Bin);
ethertype(?ETH_P_ARP, Bin) -> arp(Bin);
ethertype(T, Bin) when T =:= ?ETH_P_8021Q; T =:= ?ETH_P_8021AD;
                       T =:= ?ETH_P_QINQ ->
    vlan(Bin);
ethertype(?ETH_P_TEB, Bin) -> inner_ether(Bin);
ethertype(T, Bin) when T =:= ?ETH_P_MPLS; T =:= ?ETH_P_MPLS_MC -> mpls(Bin);
ethertype(_, Bin) -> {ok, [Bin], <<>>}.

%% One header per label; after the bottom of the stack the first nibble
%% tells IPv4 from IPv6 (anything else, e.g. a pseudowire, stays payload).
mpls(<<Label:20, Tc:3, Bos:1, Ttl, Rest/binary>>) ->
    H = mpls_h(mpls, Label, Tc, Bos, Ttl),
    push(H, mpls_next(Bos, Rest));
mpls(Bin) ->
    cut(mpls, Bin).

mpls_next(0, Bin) -> mpls(Bin);
mpls_next(1, <<4:4, _:4, _/binary>> = Bin) -> ipv4(Bin);
mpls_next(1, <<6:4, _:4, _/binary>> = Bin) -> ipv6(Bin);
mpls_next(1, Bin) -> {ok, [Bin], <<>>}.

vlan(<<Tci:16, Type:16, Rest/binary>>) ->
    H = vlan_h(vlan, Tci bsr 13, (Tci bsr 12) band 1, Tci band 16#FFF, Type),
    push(H, ethertype(Type, Rest));
vlan(Bin) ->
    cut(vlan, Bin).

%% Ethernet and IPv4 first, in one match (hardware type 1, protocol
%% type 0x0800, lengths 6 and 4 compared as one integer).
arp(<<Types:48, Op:16, Sha:6/binary, Spa:32, Tha:6/binary, Tpa:32, Trailer/binary>>)
  when Types =:= 16#000108000604 ->
    {ok, [arp_h(arp, 1, ?ETH_P_IP, 6, 4, Op, Sha, ip4(Spa), Tha, ip4(Tpa)), <<>>], Trailer};
arp(<<HType:16, PType:16, HLen, PLen, Op:16, Rest/binary>> = Bin) ->
    case Rest of
        <<Sha:HLen/binary, Spa:PLen/binary, Tha:HLen/binary, Tpa:PLen/binary,
          Trailer/binary>> ->
            H = arp_h(arp, HType, PType, HLen, PLen, Op, Sha, arp_addr(PType, Spa),
                      Tha, arp_addr(PType, Tpa)),
            {ok, [H, <<>>], Trailer};
        _ ->
            cut(arp, Bin)
    end;
arp(Bin) ->
    cut(arp, Bin).

arp_addr(?ETH_P_IP, <<A, B, C, D>>) -> {A, B, C, D};
arp_addr(_, Addr) -> Addr.

%%--------------------------------------------------------------------
%% IPv4
%%--------------------------------------------------------------------

%% Without options (IHL 5) first, as five 32-bit words: binary matching
%% is cheapest on whole aligned words, their fields are then shifted out.
ipv4(<<W0:32, W1:32, W2:32, S:32, D:32, Data/binary>>)
  when W0 bsr 24 =:= 16#45, W0 band 16#FFFF >= 20 ->
    ipv4_5(W0, W1, W2, S, D, Data);
ipv4(<<4:4, IHL:4, _/binary>> = Bin) when IHL < 5 ->
    {error, [], {ipv4, bad_header_length, Bin}};
ipv4(<<4:4, IHL:4, Dscp:6, Ecn:2, Len:16, Id:16, RF:1, DF:1, MF:1, Off:13,
       Ttl, Proto, Sum:16, Src:4/binary, Dst:4/binary, Rest/binary>> = Bin) ->
    OptLen = IHL * 4 - 20,
    case Rest of
        <<_:OptLen/binary, _/binary>> when Len < IHL * 4 ->
            {error, [], {ipv4, bad_length, Bin}};
        <<OptBin:OptLen/binary, Data/binary>> ->
            case ip_options(OptBin) of
                {ok, Opts} ->
                    H = ipv4_h(ipv4, Dscp, Ecn, Len, Id, ip_flags(RF * 4 + DF * 2 + MF),
                               Off, Ttl, Proto, Sum, ip(Src), ip(Dst), Opts),
                    ipv4_data(H, Len - IHL * 4, Off, MF, Proto, Data);
                error ->
                    {error, [], {ipv4, bad_option, Bin}}
            end;
        _ ->
            cut(ipv4, Bin)
    end;
ipv4(<<4:4, _:4, _/binary>> = Bin) ->
    cut(ipv4, Bin);
ipv4(<<>>) ->
    {error, [], {ipv4, truncated, <<>>}};
ipv4(Bin) ->
    {error, [], {ipv4, bad_version, Bin}}.

%% An IPv4 datagram without options whose payload starts at byte Pos of
%% Frame: when it ends with the frame and is no later fragment, its
%% transport is read in place (see transport/4).
ipv4_in(W0, W1, W2, S, D, Frame, Pos)
  when W1 band 16#1FFF =:= 0, W0 band 16#FFFF =:= byte_size(Frame) - Pos + 20 ->
    H = ipv4_hdr(W0, W1, W2, S, D),
    case transport((W2 bsr 16) band 255, Frame, Pos, (W1 bsr 13) band 1 =:= 1) of
        {ok, Packet, _} -> {ok, [H | Packet], <<>>};
        {error, Hs, Detail} -> {error, [H | Hs], Detail}
    end;
ipv4_in(W0, W1, W2, S, D, Frame, Pos) ->
    ipv4_5(W0, W1, W2, S, D, tail(Frame, Pos)).

tail(Bin, 0) ->
    Bin;
tail(Bin, Pos) ->
    <<_:Pos/binary, Tail/binary>> = Bin,
    Tail.

ipv4_5(W0, W1, W2, S, D, Data) ->
    ipv4_data(ipv4_hdr(W0, W1, W2, S, D), (W0 band 16#FFFF) - 20, W1 band 16#1FFF,
              (W1 bsr 13) band 1, (W2 bsr 16) band 255, Data).

%% The header without options from its words: version, header length,
%% DSCP, ECN, length (W0); id, flags, fragment offset (W1); TTL, protocol,
%% checksum (W2); addresses.
ipv4_hdr(W0, W1, W2, S, D) ->
    ipv4_hdr((W0 bsr 16) band 255, W0 band 16#FFFF, W1, W2 bsr 24, (W2 bsr 16) band 255,
             W2 band 16#FFFF, S, D).

ipv4_hdr(Tos, Len, W1, Ttl, Proto, Sum, S, D) ->
    ipv4_h(ipv4, Tos bsr 2, Tos band 3, Len, W1 bsr 16, ip_flags((W1 bsr 13) band 7),
           W1 band 16#1FFF, Ttl, Proto, Sum, ip4(S), ip4(D), []).

%% Only the first fragment of a datagram is decoded further.
ipv4_data(H, DataLen, Off, MF, Proto, Data) when byte_size(Data) =:= DataLen ->
    ipv4_up(H, Off, MF =:= 1, Proto, Data, <<>>);
ipv4_data(H, DataLen, Off, MF, Proto, Data0) when byte_size(Data0) > DataLen ->
    <<Data:DataLen/binary, Trailer/binary>> = Data0,
    ipv4_up(H, Off, MF =:= 1, Proto, Data, Trailer);
ipv4_data(H, _DataLen, 0, _MF, Proto, Data) ->
    short(H, transport(Proto, Data, true));
ipv4_data(H, _DataLen, _Off, _MF, _Proto, Data) ->
    {error, [H], {payload, truncated, Data}}.

ipv4_up(H, 0, Frag, Proto, Data, Trailer) ->
    case transport(Proto, Data, Frag) of
        {ok, Packet, _} -> {ok, [H | Packet], Trailer};
        {error, Hs, Detail} -> {error, [H | Hs], Detail}
    end;
ipv4_up(H, _Off, _Frag, _Proto, Data, Trailer) ->
    {ok, [H, Data], Trailer}.

%% The datagram was captured short: the layers above decoded, its
%% payload named as the part cut.
short(H, {ok, Packet, _}) ->
    {Hs, [Payload]} = lists:split(length(Packet) - 1, Packet),
    {error, [H | Hs], {payload, truncated, Payload}};
short(H, {error, Hs, Detail}) ->
    {error, [H | Hs], Detail}.

%% The three flag bits (reserved, don't fragment, more fragments) as a
%% list, a literal for each value.
ip_flags(2#010) -> [df];
ip_flags(2#000) -> [];
ip_flags(2#001) -> [mf];
ip_flags(2#011) -> [df, mf];
ip_flags(2#100) -> [rf];
ip_flags(2#110) -> [rf, df];
ip_flags(2#101) -> [rf, mf];
ip_flags(2#111) -> [rf, df, mf].

ip4(A) -> {A bsr 24, (A bsr 16) band 255, (A bsr 8) band 255, A band 255}.

%% IPv4 options: eol, nop, {Type, Data}; bytes after eol as {padding, Bin}.
ip_options(Bin) -> ip_options(Bin, []).

ip_options(<<>>, Acc) ->
    {ok, lists:reverse(Acc)};
ip_options(<<0, Pad/binary>>, Acc) ->
    {ok, lists:reverse(Acc, [eol | padding(Pad)])};
ip_options(<<1, Rest/binary>>, Acc) ->
    ip_options(Rest, [nop | Acc]);
ip_options(<<Type, Len, Rest/binary>>, Acc) when Len >= 2 ->
    DLen = Len - 2,
    case Rest of
        <<Data:DLen/binary, Rest1/binary>> -> ip_options(Rest1, [{Type, Data} | Acc]);
        _ -> error
    end;
ip_options(_, _) ->
    error.

padding(<<>>) -> [];
padding(Pad) -> [{padding, Pad}].

%%--------------------------------------------------------------------
%% IPv6 and its extension headers
%%--------------------------------------------------------------------

ipv6(<<W0:32, W1:32, S1:32, S2:32, S3:32, S4:32, D1:32, D2:32, D3:32, D4:32,
       Data/binary>>) when W0 bsr 28 =:= 6 ->
    ipv6_40(W0, W1, ip6(S1, S2, S3, S4), ip6(D1, D2, D3, D4), Data);
ipv6(<<6:4, _:4, _/binary>> = Bin) ->
    cut(ipv6, Bin);
ipv6(<<>>) ->
    {error, [], {ipv6, truncated, <<>>}};
ipv6(Bin) ->
    {error, [], {ipv6, bad_version, Bin}}.

%% An IPv6 header whose payload starts at byte Pos of Frame, read in place
%% like ipv4_in/7's when it ends with the frame and is no extension header.
ipv6_in(W0, W1, Src, Dst, Frame, Pos) when W1 bsr 16 =:= byte_size(Frame) - Pos ->
    case (W1 bsr 8) band 255 of
        Ext when Ext =:= 0; Ext =:= 60; Ext =:= 43; Ext =:= 44 ->
            ipv6_40(W0, W1, Src, Dst, tail(Frame, Pos));
        Proto ->
            ipv6_up(ipv6_hdr(W0, W1, Src, Dst), transport(Proto, Frame, Pos, false), <<>>)
    end;
ipv6_in(W0, W1, Src, Dst, Frame, Pos) ->
    ipv6_40(W0, W1, Src, Dst, tail(Frame, Pos)).

%% The fixed header: version, class and flow label (W0), payload length,
%% next header and hop limit (W1).
ipv6_40(W0, W1, Src, Dst, Data) ->
    ipv6_data(ipv6_hdr(W0, W1, Src, Dst), W1 bsr 16, (W1 bsr 8) band 255, Data).

ipv6_hdr(W0, W1, Src, Dst) ->
    ipv6_hdr(W0, W1 bsr 16, (W1 bsr 8) band 255, W1 band 255, Src, Dst).

ipv6_hdr(W0, PLen, Next, HLim, Src, Dst) ->
    ipv6_h(ipv6, (W0 bsr 20) band 255, W0 band 16#FFFFF, PLen, Next, HLim, Src, Dst).

%% A zero payload length with a hop-by-hop header is a jumbogram.
ipv6_data(H, PLen, Next, Data) when byte_size(Data) =:= PLen; PLen =:= 0, Next =:= 0 ->
    ipv6_up(H, ipv6_next(Next, Data, false), <<>>);
ipv6_data(H, PLen, Next, Data0) when byte_size(Data0) > PLen ->
    <<Data:PLen/binary, Trailer/binary>> = Data0,
    ipv6_up(H, ipv6_next(Next, Data, false), Trailer);
ipv6_data(H, _PLen, Next, Data) ->
    short(H, ipv6_next(Next, Data, true)).

ip6(A, B, C, D) ->
    {A bsr 16, A band 16#FFFF, B bsr 16, B band 16#FFFF,
     C bsr 16, C band 16#FFFF, D bsr 16, D band 16#FFFF}.

ipv6_up(H, {ok, Packet, _}, Trailer) -> {ok, [H | Packet], Trailer};
ipv6_up(H, {error, Hs, Detail}, _Trailer) -> {error, [H | Hs], Detail}.

-spec ipv6_next(byte(), binary(), boolean()) -> result().
ipv6_next(0, Data, Frag) -> ext_options(ipv6_hopopts, Data, Frag);
ipv6_next(60, Data, Frag) -> ext_options(ipv6_dstopts, Data, Frag);
ipv6_next(43, Data, Frag) -> ext_routing(Data, Frag);
ipv6_next(44, Data, Frag) -> ext_fragment(Data, Frag);
ipv6_next(Proto, Data, Frag) -> transport(Proto, Data, Frag).

%% Split a generic extension header into next header, body and the rest.
ext_split(<<Next, HLen, Rest/binary>>) ->
    BodyLen = HLen * 8 + 6,
    case Rest of
        <<Body:BodyLen/binary, Data/binary>> -> {ok, Next, Body, Data};
        _ -> error
    end;
ext_split(_) ->
    error.

ext_options(Proto, Bin, Frag) ->
    case ext_split(Bin) of
        {ok, Next, Body, Data} ->
            ext_options(Proto, Next, tlv_options(Body, []), Data, Bin, Frag);
        error ->
            cut(Proto, Bin)
    end.

ext_options(Proto, _Next, error, _Data, Bin, _Frag) ->
    {error, [], {Proto, bad_option, Bin}};
ext_options(Proto, Next, {ok, Opts}, Data, _Bin, Frag) ->
    H = #{proto => Proto, next_header => Next, options => Opts},
    push(H, ipv6_next(Next, Data, Frag)).

%% IPv6 TLV options: pad1, {padn, Bin}, {Type, Data}.
tlv_options(<<>>, Acc) ->
    {ok, lists:reverse(Acc)};
tlv_options(<<0, Rest/binary>>, Acc) ->
    tlv_options(Rest, [pad1 | Acc]);
tlv_options(<<Type, Len, Rest/binary>>, Acc) ->
    case Rest of
        <<Data:Len/binary, Rest1/binary>> -> tlv_options(Rest1, [tlv(Type, Data) | Acc]);
        _ -> error
    end;
tlv_options(_, _) ->
    error.

tlv(1, Data) -> {padn, Data};
tlv(Type, Data) -> {Type, Data}.

ext_routing(Bin, Frag) ->
    case ext_split(Bin) of
        {ok, Next, <<Type, SegLeft, RData/binary>>, Data} ->
            H = routing_h(ipv6_routing, Next, Type, SegLeft, RData),
            push(H, ipv6_next(Next, Data, Frag));
        error ->
            cut(ipv6_routing, Bin)
    end.

ext_fragment(<<Next, Reserved, Off:13, Res:2, M:1, Id:32, Data/binary>>, Frag) ->
    H = fragment_h(ipv6_fragment, Next, Reserved, Off, Res, M =:= 1, Id),
    case Off of
        0 -> push(H, ipv6_next(Next, Data, Frag orelse M =:= 1));
        _ -> {ok, [H, Data], <<>>}
    end;
ext_fragment(Bin, _Frag) ->
    cut(ipv6_fragment, Bin).

%%--------------------------------------------------------------------
%% Transport
%%--------------------------------------------------------------------

%% Partial is true when Data may legitimately hold less than the
%% transport header announces (a first fragment or a short capture).
-spec transport(byte(), binary(), boolean()) -> result().
transport(Proto, Data, Partial) ->
    transport(Proto, Data, 0, Partial).

%% The transport starting at byte Pos of Bin, which ends with its
%% datagram. TCP, UDP, ICMP and ICMPv6 are read in place (a sub-binary of
%% up to 64 bytes is a copy), the others get a binary of their own.
-spec transport(byte(), binary(), non_neg_integer(), boolean()) -> result().
transport(6, Bin, Pos, _Partial) -> tcp(Bin, Pos);
transport(17, Bin, Pos, Partial) -> udp(Bin, Pos, Partial);
transport(1, Bin, Pos, _Partial) -> icmp(Bin, Pos);
transport(58, Bin, Pos, _Partial) -> icmp6(Bin, Pos);
transport(4, Bin, Pos, _Partial) -> tunnelled(ipv4(tail(Bin, Pos)));
transport(41, Bin, Pos, _Partial) -> tunnelled(ipv6(tail(Bin, Pos)));
transport(47, Bin, Pos, _Partial) -> gre(tail(Bin, Pos));
transport(_, Bin, Pos, _Partial) -> {ok, [tail(Bin, Pos)], <<>>}.

tcp(Bin, Pos) ->
    case Bin of
        <<_:Pos/binary, P:32, Seq:32, Ack:32, T1:32, T2:32, _/binary>> when T1 bsr 28 >= 5 ->
            case tcp_split(T1 bsr 28, Bin, Pos + 20) of
                {Opts, Payload} -> {ok, [tcp_hdr(P, Seq, Ack, T1, T2, Opts), Payload], <<>>};
                bad_option -> {error, [], {tcp, bad_option, tail(Bin, Pos)}};
                truncated -> cut(tcp, tail(Bin, Pos))
            end;
        <<_:Pos/binary, _:96, Off:4, _:4, _/binary>> when Off < 5 ->
            {error, [], {tcp, bad_header_length, tail(Bin, Pos)}};
        _ ->
            cut(tcp, tail(Bin, Pos))
    end.

%% The header from its words: ports (P); data offset, reserved bits,
%% flags, window (T1); checksum, urgent pointer (T2).
tcp_hdr(P, Seq, Ack, T1, T2, Opts) ->
    tcp_h(tcp, P bsr 16, P band 16#FFFF, Seq, Ack, (T1 bsr 25) band 7,
          tcp_flags((T1 bsr 16) band 511), T1 band 16#FFFF, T2 bsr 16, T2 band 16#FFFF, Opts).

%% Options and payload of a segment whose data offset is Off, its options
%% starting at byte Pos of Bin (read in place: a sub-binary of a few bytes
%% would be a copy); no options,
%% the timestamps Linux puts on every segment and its SYN options (MSS,
%% SACK permitted, timestamps, window scale) are matched at once, their
%% kinds and lengths compared as integers (a literal of several bytes in
%% a pattern costs a memcmp call).
tcp_split(5, Bin, Pos) ->
    <<_:Pos/binary, Payload/binary>> = Bin,
    {[], Payload};
tcp_split(8, Bin, Pos) ->
    case Bin of
        <<_:Pos/binary, K:32, Val:32, Ecr:32, Payload/binary>> when K =:= 16#0101080A ->
            {[nop, nop, {timestamp, Val, Ecr}], Payload};
        _ ->
            tcp_options(8, Bin, Pos)
    end;
tcp_split(10, Bin, Pos) ->
    case Bin of
        <<_:Pos/binary, K1:32, K2:32, Val:32, Ecr:32, K3:32, Payload/binary>>
          when K1 bsr 16 =:= 16#0204, K2 =:= 16#0402080A, K3 bsr 8 =:= 16#010303 ->
            {[{mss, K1 band 16#FFFF}, sack_permitted, {timestamp, Val, Ecr}, nop,
              {wscale, K3 band 255}], Payload};
        _ ->
            tcp_options(10, Bin, Pos)
    end;
tcp_split(Off, Bin, Pos) ->
    tcp_options(Off, Bin, Pos).

tcp_options(Off, Bin, Pos) ->
    OptLen = Off * 4 - 20,
    case Bin of
        <<_:Pos/binary, OptBin:OptLen/binary, Payload/binary>> ->
            case tcp_options(OptBin, []) of
                {ok, Opts} -> {Opts, Payload};
                error -> bad_option
            end;
        _ ->
            truncated
    end.

-define(TCP_FLAGS, [{fin, 16#01}, {syn, 16#02}, {rst, 16#04}, {psh, 16#08},
                    {ack, 16#10}, {urg, 16#20}, {ece, 16#40}, {cwr, 16#80},
                    {ns, 16#100}]).

%% @doc Convert TCP flags between the 9-bit field value and the list of
%% atoms used in decoded `tcp' headers (`fin', `syn', `rst', `psh', `ack',
%% `urg', `ece', `cwr', `ns', in that order).
%% ```
%% [syn, ack] = epcap_decode:tcp_flags(16#12),
%% 16#12 = epcap_decode:tcp_flags([syn, ack]).
%% '''
-spec tcp_flags(0..511) -> [atom()]; ([atom()]) -> 0..511.
tcp_flags(16#10) -> [ack];
tcp_flags(16#18) -> [psh, ack];
tcp_flags(16#02) -> [syn];
tcp_flags(16#12) -> [syn, ack];
tcp_flags(16#11) -> [fin, ack];
tcp_flags(16#14) -> [rst, ack];
tcp_flags(16#19) -> [fin, psh, ack];
tcp_flags(16#04) -> [rst];
tcp_flags(Bits) when is_integer(Bits) ->
    [F || {F, B} <- ?TCP_FLAGS, Bits band B =/= 0];
tcp_flags(Flags) when is_list(Flags) ->
    lists:sum([B || {F, B} <- ?TCP_FLAGS, lists:member(F, Flags)]).

tcp_options(<<>>, Acc) ->
    {ok, lists:reverse(Acc)};
tcp_options(<<0, Pad/binary>>, Acc) ->
    {ok, lists:reverse(Acc, [eol | padding(Pad)])};
tcp_options(<<1, Rest/binary>>, Acc) ->
    tcp_options(Rest, [nop | Acc]);
tcp_options(<<Kind, Len, Rest/binary>>, Acc) when Len >= 2 ->
    DLen = Len - 2,
    case Rest of
        <<Data:DLen/binary, Rest1/binary>> ->
            tcp_options(Rest1, [tcp_option(Kind, Data) | Acc]);
        _ ->
            error
    end;
tcp_options(_, _) ->
    error.

tcp_option(2, <<Mss:16>>) -> {mss, Mss};
tcp_option(3, <<Shift>>) -> {wscale, Shift};
tcp_option(4, <<>>) -> sack_permitted;
tcp_option(5, Data) when byte_size(Data) rem 8 =:= 0, Data =/= <<>> ->
    {sack, [{L, R} || <<L:32, R:32>> <= Data]};
tcp_option(8, <<Val:32, Ecr:32>>) -> {timestamp, Val, Ecr};
tcp_option(Kind, Data) -> {Kind, Data}.

udp(Bin, Pos, Partial) ->
    case Bin of
        <<_:Pos/binary, SPort:16, DPort:16, Len:16, Sum:16, Payload/binary>>
          when Len >= 8, (Partial orelse Len - 8 =< byte_size(Payload)) ->
            H = udp_h(udp, SPort, DPort, Len, Sum),
            case DPort of
                ?VXLAN_PORT -> push(H, vxlan(Payload));
                _ -> {ok, [H, Payload], <<>>}
            end;
        <<_:Pos/binary, _:64, _/binary>> ->
            {error, [], {udp, bad_length, tail(Bin, Pos)}};
        _ ->
            cut(udp, tail(Bin, Pos))
    end.

%% Echo, timestamp and the common errors first, each as one map; the
%% other types add their fields to the common ones.
icmp(Bin, Pos) ->
    case Bin of
        <<_:Pos/binary, Type, Code, Sum:16, Id:16, Seq:16, Payload/binary>>
          when Type =:= 0; Type =:= 8; Type =:= 13; Type =:= 14 ->
            {ok, [echo_h(icmp, Type, Code, Sum, Id, Seq), Payload], <<>>};
        <<_:Pos/binary, Type, Code, Sum:16, Rest:4/binary, Payload/binary>>
          when Type =:= 3, Code =/= 4; Type =:= 4; Type =:= 11 ->
            {ok, [quote_h(icmp, Type, Code, Sum, Rest, quote(ipv4(Payload))), Payload], <<>>};
        <<_:Pos/binary, Type, Code, Sum:16, Rest:4/binary, Payload/binary>> ->
            H = icmp_rest(Type, Code, Rest, #{proto => icmp, type => Type, code => Code,
                                               checksum => Sum}),
            {ok, [icmp_quote(Type, H, Payload), Payload], <<>>};
        _ ->
            cut(icmp, tail(Bin, Pos))
    end.

%% Only "fragmentation needed" carries a next-hop MTU (RFC 1191).
icmp_rest(3, 4, <<Unused:16, Mtu:16>>, H) -> H#{unused => Unused, mtu => Mtu};
icmp_rest(5, _, <<A, B, C, D>>, H) -> H#{gateway => {A, B, C, D}};
icmp_rest(12, _, <<Pointer, _/binary>> = Rest, H) -> H#{rest => Rest, pointer => Pointer};
icmp_rest(_, _, Rest, H) -> H#{rest => Rest}.

%% Errors quote the offending datagram: its IP header and 8 bytes or more.
icmp_quote(Type, H, Payload) when Type =:= 3; Type =:= 4; Type =:= 5;
                                  Type =:= 11; Type =:= 12 ->
    H#{quote => quote(ipv4(Payload))};
icmp_quote(_Type, H, _Payload) ->
    H.

%% A quote is cut short by design: its headers as far as they were quoted,
%% followed by the bytes after them.
-spec quote(result()) -> packet().
quote({ok, Packet, _}) -> Packet;
quote({error, Hs, {_, _, Rest}}) -> Hs ++ [Rest].

icmp6(Bin, Pos) ->
    case Bin of
        <<_:Pos/binary, Type, Code, Sum:16, Id:16, Seq:16, Payload/binary>>
          when Type =:= 128; Type =:= 129 ->
            {ok, [echo_h(icmp6, Type, Code, Sum, Id, Seq), Payload], <<>>};
        <<_:Pos/binary, Type, Code, Sum:16, Rest:4/binary, Payload/binary>>
          when Type =:= 1; Type =:= 3; Type =:= 4 ->
            {ok, [quote_h(icmp6, Type, Code, Sum, Rest, quote(ipv6(Payload))), Payload], <<>>};
        <<_:Pos/binary, 135, Code, Sum:16, Rest:4/binary, T1:32, T2:32, T3:32, T4:32,
          Opts/binary>> ->
            {ok, [ns_h(icmp6, 135, Code, Sum, Rest, ip6(T1, T2, T3, T4), nd_options(Opts)),
                  Opts], <<>>};
        <<_:Pos/binary, 136, Code, Sum:16, W:32, T1:32, T2:32, T3:32, T4:32, Opts/binary>> ->
            {ok, [na_h(icmp6, 136, Code, Sum, na_flags(W bsr 29), W band 16#1FFFFFFF,
                       ip6(T1, T2, T3, T4), nd_options(Opts)), Opts], <<>>};
        <<_:Pos/binary, Type, Code, Sum:16, Rest/binary>> ->
            H = #{proto => icmp6, type => Type, code => Code, checksum => Sum},
            case icmp6_body(Type, Rest, H) of
                {ok, H1, Payload} -> {ok, [icmp6_extra(Type, H1, Payload), Payload], <<>>};
                error -> cut(icmp6, tail(Bin, Pos))
            end;
        _ ->
            cut(icmp6, tail(Bin, Pos))
    end.

icmp6_body(Type, <<Id:16, Seq:16, P/binary>>, H) when Type =:= 128; Type =:= 129 ->
    {ok, H#{id => Id, seq => Seq}, P};
icmp6_body(2, <<Mtu:32, P/binary>>, H) ->
    {ok, H#{mtu => Mtu}, P};
icmp6_body(Type, _, _H) when Type =:= 128; Type =:= 129; Type =:= 2;
                             Type =:= 135; Type =:= 136 ->
    error;
icmp6_body(_Type, <<Rest:4/binary, P/binary>>, H) ->
    {ok, H#{rest => Rest}, P};
icmp6_body(_Type, _, _H) ->
    error.

%% Neighbour advertisement flags: router, solicited, override.
na_flags(2#000) -> [];
na_flags(2#001) -> [override];
na_flags(2#010) -> [solicited];
na_flags(2#011) -> [solicited, override];
na_flags(2#100) -> [router];
na_flags(2#101) -> [router, override];
na_flags(2#110) -> [router, solicited];
na_flags(2#111) -> [router, solicited, override].

%% Fields read from the bytes after the fixed part of ICMPv6 messages;
%% the bytes stay the payload, so encoding is unchanged.
icmp6_extra(Type, H, Payload) when Type >= 1, Type =< 4 ->
    H#{quote => quote(ipv6(Payload))};
icmp6_extra(Type, H, Payload) when Type =:= 133; Type =:= 135; Type =:= 136 ->
    H#{nd_options => nd_options(Payload)};
icmp6_extra(134, #{rest := <<HopLimit, M:1, O:1, _:6, Lifetime:16>>} = H,
            <<Reachable:32, Retrans:32, Opts/binary>>) ->
    H#{cur_hop_limit => HopLimit, ra_flags => [F || {F, 1} <- [{managed, M}, {other, O}]],
       router_lifetime => Lifetime, reachable_time => Reachable,
       retrans_timer => Retrans, nd_options => nd_options(Opts)};
icmp6_extra(137, H, <<Target:16/binary, Dst:16/binary, Opts/binary>>) ->
    H#{target => ip(Target), destination => ip(Dst), nd_options => nd_options(Opts)};
icmp6_extra(_Type, H, _Payload) ->
    H.

%% Neighbour discovery options (RFC 4861 4.6); bytes that do not form an
%% option end the list as {malformed, Bin}.
nd_options(<<>>) ->
    [];
nd_options(<<Type, Len, Rest/binary>> = Bin) when Len > 0 ->
    DLen = Len * 8 - 2,
    case Rest of
        <<Data:DLen/binary, Rest1/binary>> -> [nd_option(Type, Data) | nd_options(Rest1)];
        _ -> [{malformed, Bin}]
    end;
nd_options(Bin) ->
    [{malformed, Bin}].

nd_option(1, Addr) -> {source_lladdr, Addr};
nd_option(2, Addr) -> {target_lladdr, Addr};
nd_option(3, <<PLen, L:1, A:1, _:6, Valid:32, Preferred:32, _:32, Prefix:16/binary>>) ->
    {prefix_info, #{prefix_len => PLen, flags => [F || {F, 1} <- [{on_link, L}, {autonomous, A}]],
                    valid_lifetime => Valid, preferred_lifetime => Preferred,
                    prefix => ip(Prefix)}};
nd_option(4, <<_:48, Quoted/binary>>) -> {redirected_header, quote(ipv6(Quoted))};
nd_option(5, <<_:16, Mtu:32>>) -> {mtu, Mtu};
nd_option(Type, Data) -> {Type, Data}.

%%--------------------------------------------------------------------
%% Tunnels
%%--------------------------------------------------------------------

%% VXLAN (RFC 7348): only with the I flag set is it a VXLAN header.
vxlan(<<Flags, R1:24, Vni:24, R2, Rest/binary>>) when Flags band 8 =/= 0 ->
    H = vxlan_h(vxlan, Flags, R1, Vni, R2),
    push(H, inner_ether(Rest));
vxlan(<<_:64, _/binary>> = Bin) ->
    {ok, [Bin], <<>>};
vxlan(Bin) ->
    cut(vxlan, Bin).

%% Bytes after a tunnelled datagram (inside the outer one) are kept as
%% the `trailer' of its first header, so that encoding gives them back.
-spec tunnelled(result()) -> result().
tunnelled({ok, [H | Packet], Trailer}) when Trailer =/= <<>> ->
    {ok, [H#{trailer => Trailer} | Packet], <<>>};
tunnelled(Result) ->
    Result.

%% GRE (RFC 2784, 2890). Version 1 (PPTP) and source routing stay payload.
gre(<<C:1, R:1, K:1, S:1, Rsv:9, Ver:3, Proto:16, Rest/binary>> = Bin) ->
    H0 = gre_h(gre, gre_flags(<<C:1, R:1, K:1, S:1>>), Rsv, Ver, Proto),
    case gre_fields(C bor R, K, S, Rest, H0) of
        {ok, H, Data} when R =:= 0, Ver =:= 0 -> push(H, tunnelled(ethertype(Proto, Data)));
        {ok, H, Data} -> {ok, [H, Data], <<>>};
        error -> cut(gre, Bin)
    end;
gre(Bin) ->
    cut(gre, Bin).

gre_flags(<<C:1, R:1, K:1, S:1>>) ->
    [F || {F, 1} <- [{checksum, C}, {routing, R}, {key, K}, {seq, S}]].

gre_fields(1, K, S, <<Sum:16, Off:16, Rest/binary>>, H) ->
    gre_fields(0, K, S, Rest, H#{checksum => Sum, offset => Off});
gre_fields(0, 1, S, <<Key:32, Rest/binary>>, H) ->
    gre_fields(0, 0, S, Rest, H#{key => Key});
gre_fields(0, 0, 1, <<Seq:32, Rest/binary>>, H) ->
    {ok, H#{seq => Seq}, Rest};
gre_fields(0, 0, 0, Rest, H) ->
    {ok, H, Rest};
gre_fields(_, _, _, _, _) ->
    error.


%%--------------------------------------------------------------------
%% Header maps of the common layers
%%--------------------------------------------------------------------

%% Every value comes in as an argument, the protocol name too: a map
%% expression with a literal value compiles (OTP 25) to an update of a
%% literal map that adds the other keys, building a new key tuple for each
%% frame; with variables only it is a new map sharing one literal key
%% tuple, several times cheaper.

ether_h(Proto, Dst, Src, Type) ->
    #{proto => Proto, dst => Dst, src => Src, type => Type}.

ether_h(Proto, Dst, Src, Type, Trailer) ->
    #{proto => Proto, dst => Dst, src => Src, type => Type, trailer => Trailer}.

vlan_h(Proto, Pcp, Dei, Vid, Type) ->
    #{proto => Proto, pcp => Pcp, dei => Dei, vid => Vid, type => Type}.

arp_h(Proto, HType, PType, HLen, PLen, Op, Sha, Spa, Tha, Tpa) ->
    #{proto => Proto, htype => HType, ptype => PType, hlen => HLen, plen => PLen, op => Op,
      sha => Sha, spa => Spa, tha => Tha, tpa => Tpa}.

ipv4_h(Proto, Dscp, Ecn, Len, Id, Flags, Off, Ttl, IpProto, Sum, Src, Dst, Opts) ->
    #{proto => Proto, dscp => Dscp, ecn => Ecn, len => Len, id => Id, flags => Flags,
      frag_offset => Off, ttl => Ttl, protocol => IpProto, checksum => Sum, src => Src,
      dst => Dst, options => Opts}.

ipv6_h(Proto, Class, Flow, PLen, Next, HLim, Src, Dst) ->
    #{proto => Proto, traffic_class => Class, flow_label => Flow, payload_len => PLen,
      next_header => Next, hop_limit => HLim, src => Src, dst => Dst}.

tcp_h(Proto, SPort, DPort, Seq, Ack, Res, Flags, Win, Sum, Urg, Opts) ->
    #{proto => Proto, sport => SPort, dport => DPort, seq => Seq, ack => Ack, reserved => Res,
      flags => Flags, window => Win, checksum => Sum, urgent => Urg, options => Opts}.

udp_h(Proto, SPort, DPort, Len, Sum) ->
    #{proto => Proto, sport => SPort, dport => DPort, len => Len, checksum => Sum}.

echo_h(Proto, Type, Code, Sum, Id, Seq) ->
    #{proto => Proto, type => Type, code => Code, checksum => Sum, id => Id, seq => Seq}.

quote_h(Proto, Type, Code, Sum, Rest, Quote) ->
    #{proto => Proto, type => Type, code => Code, checksum => Sum, rest => Rest,
      quote => Quote}.

ns_h(Proto, Type, Code, Sum, Rest, Target, Opts) ->
    #{proto => Proto, type => Type, code => Code, checksum => Sum, rest => Rest,
      target => Target, nd_options => Opts}.

na_h(Proto, Type, Code, Sum, Flags, Res, Target, Opts) ->
    #{proto => Proto, type => Type, code => Code, checksum => Sum, flags => Flags,
      reserved => Res, target => Target, nd_options => Opts}.

mpls_h(Proto, Label, Tc, Bos, Ttl) ->
    #{proto => Proto, label => Label, tc => Tc, bos => Bos, ttl => Ttl}.

routing_h(Proto, Next, Type, SegLeft, Data) ->
    #{proto => Proto, next_header => Next, type => Type, segments_left => SegLeft, data => Data}.

fragment_h(Proto, Next, Reserved, Off, Res, More, Id) ->
    #{proto => Proto, next_header => Next, reserved => Reserved, frag_offset => Off, res => Res,
      more => More, id => Id}.

vxlan_h(Proto, Flags, R1, Vni, R2) ->
    #{proto => Proto, flags => Flags, reserved1 => R1, vni => Vni, reserved2 => R2}.

gre_h(Proto, Flags, Rsv, Ver, Type) ->
    #{proto => Proto, flags => Flags, reserved0 => Rsv, version => Ver, protocol => Type}.

%%--------------------------------------------------------------------
%% Headers cut short
%%--------------------------------------------------------------------

%% A layer cut short: its partial header (when a field of it was
%% captured) ends the decoded headers.
-spec cut(atom(), binary()) -> result().
cut(Layer, Bin) ->
    {error, partial(Layer, Bin), {Layer, truncated, Bin}}.

%% @doc The fields of a `Layer' header whose bytes are in `Bin' (a header
%% cut short), as a list of one map with `partial => true', or `[]' when
%% not even its first field is there. Partial `ipv4' and `tcp' headers
%% also carry `hlen', the header length in bytes their header says. `decode/2' ends the decoded headers
%% with it on a `truncated' error.
%% ```
%% [#{proto := tcp, partial := true, sport := 80, dport := 443}] =
%%     epcap_decode:partial(tcp, <<0,80, 1,187, 0>>).
%% '''
-spec partial(atom(), binary()) -> [header()].
partial(Layer, Bin) ->
    partial(Layer, spec(Layer), Bin, #{}).

partial(Layer, [{Key, Bits} | Spec], Bin, Acc) ->
    case Bin of
        <<V:Bits, Rest/bits>> -> partial(Layer, Spec, Rest, put_field(Layer, Key, V, Bits, Acc));
        _ -> partial_done(Layer, Acc)
    end;
partial(Layer, [], _Bin, Acc) ->
    partial_done(Layer, Acc).

partial_done(_Layer, Acc) when map_size(Acc) =:= 0 -> [];
partial_done(Layer, Acc) -> [Acc#{proto => Layer, partial => true}].

put_field(_Layer, '_', _V, _Bits, Acc) -> Acc;
put_field(Layer, Key, V, Bits, Acc) -> Acc#{Key => field_value(Layer, Key, V, Bits)}.

field_value(_, Key, V, Bits) when Key =:= src; Key =:= dst; Key =:= addr ->
    case Bits of
        48 -> <<V:48>>;
        64 -> <<V:64>>;
        _ -> ip(<<V:Bits>>)
    end;
field_value(_, hlen, V, _) -> V * 4;
field_value(ipv4, flags, V, _) -> ip_flags(V);
field_value(tcp, flags, V, _) -> tcp_flags(V);
field_value(gre, flags, V, _) -> gre_flags(<<V:4>>);
field_value(ipv6_fragment, more, V, _) -> V =:= 1;
field_value(_, _, V, _) -> V.

%% The fixed fields of each header in wire order, '_' for those not kept.
spec(ether) -> [{dst, 48}, {src, 48}, {type, 16}];
spec(linux_sll) -> [{pkttype, 16}, {hatype, 16}, {halen, 16}, {addr, 64}, {protocol, 16}];
spec(linux_sll2) ->
    [{protocol, 16}, {reserved, 16}, {ifindex, 32}, {hatype, 16}, {pkttype, 8},
     {halen, 8}, {addr, 64}];
spec(vlan) -> [{pcp, 3}, {dei, 1}, {vid, 12}, {type, 16}];
spec(mpls) -> [{label, 20}, {tc, 3}, {bos, 1}, {ttl, 8}];
spec(arp) -> [{htype, 16}, {ptype, 16}, {hlen, 8}, {plen, 8}, {op, 16}];
spec(ipv4) ->
    [{'_', 4}, {hlen, 4}, {dscp, 6}, {ecn, 2}, {len, 16}, {id, 16}, {flags, 3}, {frag_offset, 13},
     {ttl, 8}, {protocol, 8}, {checksum, 16}, {src, 32}, {dst, 32}];
spec(ipv6) ->
    [{'_', 4}, {traffic_class, 8}, {flow_label, 20}, {payload_len, 16}, {next_header, 8},
     {hop_limit, 8}, {src, 128}, {dst, 128}];
spec(ipv6_fragment) ->
    [{next_header, 8}, {reserved, 8}, {frag_offset, 13}, {res, 2}, {more, 1}, {id, 32}];
spec(Ext) when Ext =:= ipv6_hopopts; Ext =:= ipv6_dstopts; Ext =:= ipv6_routing ->
    [{next_header, 8}];
spec(tcp) ->
    [{sport, 16}, {dport, 16}, {seq, 32}, {ack, 32}, {hlen, 4}, {reserved, 3}, {flags, 9},
     {window, 16}, {checksum, 16}, {urgent, 16}];
spec(udp) -> [{sport, 16}, {dport, 16}, {len, 16}, {checksum, 16}];
spec(Icmp) when Icmp =:= icmp; Icmp =:= icmp6 -> [{type, 8}, {code, 8}, {checksum, 16}];
spec(gre) -> [{flags, 4}, {reserved0, 9}, {version, 3}, {protocol, 16}];
spec(vxlan) -> [{flags, 8}, {reserved1, 24}, {vni, 24}, {reserved2, 8}];
spec(_) -> [].

ip(<<A, B, C, D>>) ->
    {A, B, C, D};
ip(<<A:16, B:16, C:16, D:16, E:16, F:16, G:16, H:16>>) ->
    {A, B, C, D, E, F, G, H}.

%%====================================================================
%% Encoding
%%====================================================================

%% @doc Build a frame from headers (as returned by `decode/2') followed by
%% the payload. Length and checksum fields missing from a map, or set to
%% `auto', are computed; other fields are used as they are, so
%% `encode(Packet) =:= Frame' when `decode(DLT, Frame) =:= {ok, Packet}'.
%% The type/protocol field of a header may be left out when the next
%% header determines it. Raises `badarg' for headers it cannot encode.
%% ```
%% Frame = <<255,255,255,255,255,255, 2,0,0,0,0,1, 8,6, 0:224>>,
%% {ok, Packet} = epcap_decode:decode(1, Frame),
%% Frame = epcap_decode:encode(Packet).
%% '''
-spec encode(packet()) -> binary().
encode(Packet) when is_list(Packet) ->
    try enc(Packet, [])
    catch error:_ -> erlang:error(badarg, [Packet])
    end.

enc([], _Outer) ->
    <<>>;
enc([Payload], _Outer) when is_binary(Payload) ->
    Payload;
enc([#{proto := P} = H | Rest], Outer) ->
    Inner = enc(Rest, [H | Outer]),
    Bin = enc_one(H, Inner, Outer, next_proto(Rest)),
    case is_link(P) of
        true -> Bin;
        false -> <<Bin/binary, (field(trailer, H, <<>>))/binary>>
    end.

%% Link headers put their trailer in place themselves.
is_link(P) -> lists:member(P, [ether, linux_sll, linux_sll2, null, raw]).

next_proto([#{proto := P} | _]) -> P;
next_proto(_) -> none.

enc_one(#{proto := ether} = H, Inner, _Outer, Next) ->
    #{dst := Dst, src := Src} = H,
    Type = field(type, H, fun() -> ethertype_of(Next) end),
    <<(mac(Dst))/binary, (mac(Src))/binary, Type:16, Inner/binary,
      (field(trailer, H, <<>>))/binary>>;
enc_one(#{proto := linux_sll} = H, Inner, _Outer, Next) ->
    #{pkttype := PktType, hatype := HaType, halen := HaLen, addr := Addr} = H,
    Proto = field(protocol, H, fun() -> ethertype_of(Next) end),
    <<PktType:16, HaType:16, HaLen:16, (pad8(Addr))/binary, Proto:16,
      Inner/binary, (field(trailer, H, <<>>))/binary>>;
enc_one(#{proto := linux_sll2} = H, Inner, _Outer, Next) ->
    #{ifindex := IfIndex, hatype := HaType, pkttype := PktType,
      halen := HaLen, addr := Addr} = H,
    Proto = field(protocol, H, fun() -> ethertype_of(Next) end),
    <<Proto:16, (field(reserved, H, 0)):16, IfIndex:32, HaType:16, PktType:8,
      HaLen:8, (pad8(Addr))/binary, Inner/binary,
      (field(trailer, H, <<>>))/binary>>;
enc_one(#{proto := null, family := Family} = H, Inner, _Outer, _Next) ->
    Fam = case field(endian, H, big) of
              big -> <<Family:32/big>>;
              little -> <<Family:32/little>>
          end,
    <<Fam/binary, Inner/binary, (field(trailer, H, <<>>))/binary>>;
enc_one(#{proto := raw} = H, Inner, _Outer, _Next) ->
    <<Inner/binary, (field(trailer, H, <<>>))/binary>>;
enc_one(#{proto := vlan} = H, Inner, _Outer, Next) ->
    #{vid := Vid} = H,
    Type = field(type, H, fun() -> ethertype_of(Next) end),
    <<(field(pcp, H, 0)):3, (field(dei, H, 0)):1, Vid:12, Type:16, Inner/binary>>;
enc_one(#{proto := arp} = H, Inner, _Outer, _Next) ->
    enc_arp(H, Inner);
enc_one(#{proto := ipv4} = H, Inner, _Outer, Next) ->
    enc_ipv4(H, Inner, Next);
enc_one(#{proto := ipv6} = H, Inner, _Outer, Next) ->
    enc_ipv6(H, Inner, Next);
enc_one(#{proto := P} = H, Inner, _Outer, Next)
  when P =:= ipv6_hopopts; P =:= ipv6_dstopts ->
    enc_ext(field(next_header, H, fun() -> ip_proto(Next) end),
            enc_tlv_options(maps:get(options, H)), Inner);
enc_one(#{proto := ipv6_routing} = H, Inner, _Outer, Next) ->
    #{type := Type, segments_left := SegLeft, data := Data} = H,
    enc_ext(field(next_header, H, fun() -> ip_proto(Next) end),
            <<Type, SegLeft, Data/binary>>, Inner);
enc_one(#{proto := ipv6_fragment} = H, Inner, _Outer, Next) ->
    #{frag_offset := Off, id := Id} = H,
    More = case field(more, H, false) of true -> 1; false -> 0 end,
    <<(field(next_header, H, fun() -> ip_proto(Next) end)), (field(reserved, H, 0)), Off:13,
      (field(res, H, 0)):2, More:1, Id:32, Inner/binary>>;
enc_one(#{proto := tcp} = H, Inner, Outer, _Next) ->
    enc_tcp(H, Inner, Outer);
enc_one(#{proto := udp} = H, Inner, Outer, _Next) ->
    enc_udp(H, Inner, Outer);
enc_one(#{proto := icmp} = H, Inner, _Outer, _Next) ->
    enc_icmp(H, Inner);
enc_one(#{proto := icmp6} = H, Inner, Outer, _Next) ->
    enc_icmp6(H, Inner, Outer);
enc_one(#{proto := mpls} = H, Inner, _Outer, Next) ->
    #{label := Label} = H,
    Bos = field(bos, H, fun() -> mpls_bos(Next) end),
    <<Label:20, (field(tc, H, 0)):3, Bos:1, (field(ttl, H, 64)), Inner/binary>>;
enc_one(#{proto := vxlan} = H, Inner, _Outer, _Next) ->
    #{vni := Vni} = H,
    <<(field(flags, H, 8)), (field(reserved1, H, 0)):24, Vni:24, (field(reserved2, H, 0)),
      Inner/binary>>;
enc_one(#{proto := gre} = H, Inner, _Outer, Next) ->
    enc_gre(H, Inner, Next).

enc_gre(H, Inner, Next) ->
    Flags = field(flags, H, fun() -> [F || {F, K} <- [{checksum, checksum}, {key, key},
                                                       {seq, seq}], maps:is_key(K, H)] end),
    [C, R, K, S] = [bit(F, Flags) || F <- [checksum, routing, key, seq]],
    Proto = field(protocol, H, fun() -> ethertype_of(Next) end),
    Msg = <<C:1, R:1, K:1, S:1, (field(reserved0, H, 0)):9, (field(version, H, 0)):3,
            Proto:16, (opt_field(C bor R, <<0:16, (field(offset, H, 0)):16>>))/binary,
            (opt_field(K, fun() -> <<(maps:get(key, H)):32>> end))/binary,
            (opt_field(S, fun() -> <<(maps:get(seq, H)):32>> end))/binary, Inner/binary>>,
    case C bor R of
        1 -> put_sum(Msg, 4, field(checksum, H, fun() -> checksum(Msg) end), 47, []);
        0 -> Msg
    end.

mpls_bos(mpls) -> 0;
mpls_bos(_) -> 1.

opt_field(0, _) -> <<>>;
opt_field(1, Fun) when is_function(Fun, 0) -> Fun();
opt_field(1, Bin) -> Bin.

%% The value of Key, or the default (a fun computing it) when missing or auto.
field(Key, Map, Default) ->
    case maps:get(Key, Map, auto) of
        auto when is_function(Default, 0) -> Default();
        auto -> Default;
        Value -> Value
    end.

ethertype_of(ipv4) -> ?ETH_P_IP;
ethertype_of(ipv6) -> ?ETH_P_IPV6;
ethertype_of(arp) -> ?ETH_P_ARP;
ethertype_of(vlan) -> ?ETH_P_8021Q;
ethertype_of(ether) -> ?ETH_P_TEB;
ethertype_of(mpls) -> ?ETH_P_MPLS.

ip_proto(icmp) -> 1;
ip_proto(ipv4) -> 4;
ip_proto(ipv6) -> 41;
ip_proto(gre) -> 47;
ip_proto(tcp) -> 6;
ip_proto(udp) -> 17;
ip_proto(icmp6) -> 58;
ip_proto(ipv6_hopopts) -> 0;
ip_proto(ipv6_routing) -> 43;
ip_proto(ipv6_fragment) -> 44;
ip_proto(ipv6_dstopts) -> 60;
ip_proto(none) -> 59.

mac(<<_:48>> = Mac) -> Mac;
mac({A, B, C, D, E, F}) -> <<A, B, C, D, E, F>>.

pad8(Addr) when byte_size(Addr) =< 8 ->
    <<Addr/binary, 0:((8 - byte_size(Addr)) * 8)>>.

ip_bin({A, B, C, D}) -> <<A, B, C, D>>;
ip_bin({A, B, C, D, E, F, G, H}) -> <<A:16, B:16, C:16, D:16, E:16, F:16, G:16, H:16>>;
ip_bin(Bin) when is_binary(Bin) -> Bin.

enc_arp(H, Inner) ->
    #{htype := HType, ptype := PType, op := Op, sha := Sha, spa := Spa,
      tha := Tha, tpa := Tpa} = H,
    SpaB = ip_bin(Spa),
    <<HType:16, PType:16, (byte_size(Sha)), (byte_size(SpaB)), Op:16,
      Sha/binary, SpaB/binary, Tha/binary, (ip_bin(Tpa))/binary, Inner/binary>>.

enc_ipv4(H, Inner, Next) ->
    #{src := Src, dst := Dst} = H,
    Opts = iolist_to_binary(enc_ip_options(field(options, H, []))),
    HLen = 20 + byte_size(Opts),
    Flags = field(flags, H, []),
    Hdr = <<4:4, (HLen div 4):4, (field(dscp, H, 0)):6, (field(ecn, H, 0)):2,
            (field(len, H, HLen + byte_size(Inner))):16, (field(id, H, 0)):16,
            (bit(rf, Flags)):1, (bit(df, Flags)):1, (bit(mf, Flags)):1,
            (field(frag_offset, H, 0)):13, (field(ttl, H, 64)),
            (field(protocol, H, fun() -> ip_proto(Next) end)), 0:16,
            (ip_bin(Src))/binary, (ip_bin(Dst))/binary, Opts/binary>>,
    <<Pre:10/binary, 0:16, Post/binary>> = Hdr,
    Sum = field(checksum, H, checksum(Hdr)),
    <<Pre/binary, Sum:16, Post/binary, Inner/binary>>.

bit(Flag, Flags) ->
    case lists:member(Flag, Flags) of
        true -> 1;
        false -> 0
    end.

enc_ip_options(Opts) ->
    Bin = iolist_to_binary([enc_ip_option(O) || O <- Opts]),
    <<Bin/binary, 0:((4 - byte_size(Bin) rem 4) rem 4 * 8)>>.

enc_ip_option(eol) -> <<0>>;
enc_ip_option(nop) -> <<1>>;
enc_ip_option({padding, Pad}) -> Pad;
enc_ip_option({Type, Data}) -> <<Type, (byte_size(Data) + 2), Data/binary>>.

enc_ipv6(H, Inner, Next) ->
    #{src := Src, dst := Dst} = H,
    <<6:4, (field(traffic_class, H, 0)):8, (field(flow_label, H, 0)):20,
      (field(payload_len, H, byte_size(Inner))):16,
      (field(next_header, H, fun() -> ip_proto(Next) end)), (field(hop_limit, H, 64)),
      (ip_bin(Src))/binary, (ip_bin(Dst))/binary, Inner/binary>>.

enc_ext(Next, Body, Inner) ->
    Len = byte_size(Body) + 2,
    0 = Len rem 8,
    <<Next, (Len div 8 - 1), Body/binary, Inner/binary>>.

enc_tlv_options(Opts) ->
    iolist_to_binary([enc_tlv(O) || O <- Opts]).

enc_tlv(pad1) -> <<0>>;
enc_tlv({padn, Data}) -> <<1, (byte_size(Data)), Data/binary>>;
enc_tlv({Type, Data}) -> <<Type, (byte_size(Data)), Data/binary>>.

enc_tcp(H, Inner, Outer) ->
    #{sport := SPort, dport := DPort} = H,
    Opts = enc_tcp_options(field(options, H, [])),
    Off = (20 + byte_size(Opts)) div 4,
    Flags = tcp_flags(field(flags, H, [])),
    Seg = <<SPort:16, DPort:16, (field(seq, H, 0)):32, (field(ack, H, 0)):32,
            Off:4, (field(reserved, H, 0)):3, Flags:9, (field(window, H, 0)):16,
            0:16, (field(urgent, H, 0)):16, Opts/binary, Inner/binary>>,
    put_sum(Seg, 16, field(checksum, H, auto), 6, Outer).

enc_tcp_options(Opts) ->
    Bin = iolist_to_binary([enc_tcp_option(O) || O <- Opts]),
    <<Bin/binary, 0:((4 - byte_size(Bin) rem 4) rem 4 * 8)>>.

enc_tcp_option(eol) -> <<0>>;
enc_tcp_option(nop) -> <<1>>;
enc_tcp_option({padding, Pad}) -> Pad;
enc_tcp_option({mss, Mss}) -> <<2, 4, Mss:16>>;
enc_tcp_option({wscale, Shift}) -> <<3, 3, Shift>>;
enc_tcp_option(sack_permitted) -> <<4, 2>>;
enc_tcp_option({sack, Blocks}) ->
    <<5, (length(Blocks) * 8 + 2), << <<L:32, R:32>> || {L, R} <- Blocks >>/binary>>;
enc_tcp_option({timestamp, Val, Ecr}) -> <<8, 10, Val:32, Ecr:32>>;
enc_tcp_option({Kind, Data}) -> <<Kind, (byte_size(Data) + 2), Data/binary>>.

enc_udp(H, Inner, Outer) ->
    #{sport := SPort, dport := DPort} = H,
    Dgram = <<SPort:16, DPort:16, (field(len, H, 8 + byte_size(Inner))):16,
              0:16, Inner/binary>>,
    put_sum(Dgram, 6, field(checksum, H, auto), 17, Outer).

enc_icmp(H, Inner) ->
    #{type := Type, code := Code} = H,
    Msg = <<Type, Code, 0:16, (icmp_rest(H))/binary, Inner/binary>>,
    Sum = field(checksum, H, checksum(Msg)),
    <<Type, Code, Sum:16, (binary_part(Msg, 4, byte_size(Msg) - 4))/binary>>.

icmp_rest(#{id := Id, seq := Seq}) -> <<Id:16, Seq:16>>;
icmp_rest(#{mtu := Mtu} = H) -> <<(field(unused, H, 0)):16, Mtu:16>>;
icmp_rest(#{gateway := Gw}) -> ip_bin(Gw);
icmp_rest(H) -> field(rest, H, <<0:32>>).

enc_icmp6(H, Inner, Outer) ->
    #{type := Type, code := Code} = H,
    Msg = <<Type, Code, 0:16, (icmp6_body(H))/binary, Inner/binary>>,
    put_sum(Msg, 2, field(checksum, H, auto), 58, Outer).

icmp6_body(#{id := Id, seq := Seq}) ->
    <<Id:16, Seq:16>>;
icmp6_body(#{type := 2, mtu := Mtu}) ->
    <<Mtu:32>>;
icmp6_body(#{type := 136, target := Target} = H) ->
    Flags = field(flags, H, []),
    <<(bit(router, Flags)):1, (bit(solicited, Flags)):1, (bit(override, Flags)):1,
      (field(reserved, H, 0)):29, (ip_bin(Target))/binary>>;
icmp6_body(#{type := 135, target := Target} = H) ->
    <<(field(rest, H, <<0:32>>))/binary, (ip_bin(Target))/binary>>;
icmp6_body(H) ->
    field(rest, H, <<0:32>>).

%% Put a checksum at byte offset Pos of Seg, computing it over the
%% pseudo-header of the nearest enclosing IP header when it is auto.
put_sum(Seg, Pos, auto, Proto, Outer) ->
    Sum = checksum([pseudo_header(Outer, Proto, byte_size(Seg)), Seg]),
    put_sum(Seg, Pos, zero_sum(Proto, Sum), Proto, Outer);
put_sum(Seg, Pos, Sum, _Proto, _Outer) ->
    <<Pre:Pos/binary, _:16, Post/binary>> = Seg,
    <<Pre/binary, Sum:16, Post/binary>>.

%% A computed UDP checksum of zero is sent as all ones.
zero_sum(17, 0) -> 16#FFFF;
zero_sum(_, Sum) -> Sum.

pseudo_header([#{proto := ipv4, src := Src, dst := Dst} | _], Proto, Len) ->
    <<(ip_bin(Src))/binary, (ip_bin(Dst))/binary, 0, Proto, Len:16>>;
pseudo_header([#{proto := ipv6, src := Src, dst := Dst} | _], Proto, Len) ->
    <<(ip_bin(Src))/binary, (ip_bin(Dst))/binary, Len:32, 0:24, Proto>>;
pseudo_header([_ | Outer], Proto, Len) ->
    pseudo_header(Outer, Proto, Len).

%% @doc The Internet checksum (RFC 1071) of `Data': the one's complement
%% of the one's complement sum of its 16-bit words, an odd last byte
%% padded with zero. Checking data that includes its checksum gives 0.
%% ```
%% 16#220D = epcap_decode:checksum(<<16#0001:16, 16#F203:16, 16#F4F5:16, 16#F6F7:16>>),
%% 0 = epcap_decode:checksum(<<16#0001:16, 16#F203:16, 16#F4F5:16, 16#F6F7:16, 16#220D:16>>).
%% '''
-spec checksum(iodata()) -> 0..16#FFFF.
checksum(Data) ->
    (bnot fold(sum16(iolist_to_binary(Data), 0))) band 16#FFFF.

sum16(<<W:64, Rest/binary>>, Acc) ->
    sum16(Rest, Acc + (W bsr 48) + ((W bsr 32) band 16#FFFF)
                + ((W bsr 16) band 16#FFFF) + (W band 16#FFFF));
sum16(<<W:16, Rest/binary>>, Acc) -> sum16(Rest, Acc + W);
sum16(<<B>>, Acc) -> Acc + (B bsl 8);
sum16(<<>>, Acc) -> Acc.

fold(Sum) when Sum > 16#FFFF -> fold((Sum band 16#FFFF) + (Sum bsr 16));
fold(Sum) -> Sum.

%%====================================================================
%% Formatting
%%====================================================================

%% @doc Format a MAC (or any link-layer) address as colon-separated
%% lower-case hex, e.g. `"1e:f9:0b:de:be:59"'. Accepts a binary or a
%% tuple of bytes.
%% ```
%% "1e:f9:0b:de:be:59" = epcap_decode:format_mac(<<16#1e,16#f9,16#0b,16#de,16#be,16#59>>).
%% '''
-spec format_mac(binary() | tuple()) -> string().
format_mac(Mac) when is_tuple(Mac) ->
    format_mac(list_to_binary(tuple_to_list(Mac)));
format_mac(Mac) when is_binary(Mac) ->
    lists:flatten(lists:join(":", [io_lib:format("~2.16.0b", [B])
                                   || <<B>> <= Mac])).

%% @doc Format an IPv4 or IPv6 address (an `inet' tuple or a 4- or
%% 16-byte binary) as text, e.g. `"10.0.0.1"', `"fd00::1"'.
%% ```
%% "10.0.0.1" = epcap_decode:format_ip({10,0,0,1}),
%% "fd00::1" = epcap_decode:format_ip({16#fd00,0,0,0,0,0,0,1}).
%% '''
-spec format_ip(inet:ip_address() | binary()) -> string().
format_ip(Addr) when is_binary(Addr) ->
    format_ip(ip(Addr));
format_ip(Addr) ->
    inet:ntoa(Addr).
