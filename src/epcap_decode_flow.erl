%%% @doc The flow of a frame: transport protocol, addresses and ports of
%%% its outermost IP datagram, read without building header maps (see
%%% `epcap_decode:flow/2', which calls `flow/2' here).
%%%
%%% It walks the same layers as `epcap_decode:decode/2' up to the
%%% transport header: the link (Ethernet, Linux cooked v1/v2, BSD
%%% loopback, raw IP), 802.1Q/802.1ad/QinQ tags, MPLS labels, Ethernet in
%%% Ethernet (0x6558), IPv4 and IPv6 with the extension headers the
%%% decoder knows (hop-by-hop, routing, destination options, fragment).
%%% Ports are those of TCP and UDP, the transports the decoder gives ports
%%% to; a later fragment, another protocol, or a datagram holding fewer
%%% than their first 4 bytes has none (`undefined'). IP options, TCP
%%% options and checksums are not looked at, so a frame `decode/2' calls
%%% malformed there still has a flow.
%%% @end
-module(epcap_decode_flow).

-export([flow/2]).

-export_type([flow/0, flow_error/0]).

-type flow() :: {Protocol :: byte(), Src :: inet:ip_address(), Dst :: inet:ip_address(),
                 SPort :: inet:port_number() | undefined,
                 DPort :: inet:port_number() | undefined}.
-type flow_error() :: not_ip | truncated | bad_version | bad_header_length | bad_length
                    | unsupported | badarg.

-define(ETH_P_IP, 16#0800).
-define(ETH_P_IPV6, 16#86DD).
-define(IPPROTO_TCP, 6).
-define(IPPROTO_UDP, 17).

-compile({inline, [ip4/1, ip6/4]}).

%% @doc See `epcap_decode:flow/2'.
-spec flow(epcap_decode:dlt(), binary()) -> {ok, flow()} | {error, flow_error()}.
%% TCP or UDP over IPv4 without options or over IPv6 without extension
%% headers, on Ethernet, not a later fragment: the commonest frames, ports
%% and all in one match.
flow(1, <<_:96, ?ETH_P_IP:16, 16#45, _, Len:16, _:16, FlOff:16, _, Proto, _:16, S:32, D:32,
          SPort:16, DPort:16, _/binary>>)
  when FlOff band 16#1FFF =:= 0, Len >= 24, Proto =:= ?IPPROTO_TCP orelse Proto =:= ?IPPROTO_UDP ->
    {ok, {Proto, ip4(S), ip4(D), SPort, DPort}};
flow(1, <<_:96, ?ETH_P_IPV6:16, V:32, PLen:16, Proto, _, S1:32, S2:32, S3:32, S4:32, D1:32,
          D2:32, D3:32, D4:32, SPort:16, DPort:16, _/binary>>)
  when V bsr 28 =:= 6, PLen >= 4, Proto =:= ?IPPROTO_TCP orelse Proto =:= ?IPPROTO_UDP ->
    {ok, {Proto, ip6(S1, S2, S3, S4), ip6(D1, D2, D3, D4), SPort, DPort}};
%% The same with other transports. The transport is read in the frame
%% itself (a sub-binary of a few bytes would be a copy).
flow(1, <<_:96, ?ETH_P_IP:16, 16#45, _, Len:16, _:16, FlOff:16, _, Proto, _:16, S:32, D:32,
          _/binary>> = Frame) when Len >= 20 ->
    ports(Proto, ip4(S), ip4(D), FlOff band 16#1FFF, Frame, 34, Len - 20);
flow(1, <<_:96, ?ETH_P_IPV6:16, V:32, PLen:16, Proto, _, S1:32, S2:32, S3:32, S4:32, D1:32,
          D2:32, D3:32, D4:32, _/binary>> = Frame)
  when V bsr 28 =:= 6, Proto =/= 0, Proto =/= 60, Proto =/= 43, Proto =/= 44 ->
    ports(Proto, ip6(S1, S2, S3, S4), ip6(D1, D2, D3, D4), 0, Frame, 54, PLen);
flow(1, Frame) when is_binary(Frame) ->
    ether(Frame);
flow(DLT, Frame) when is_binary(Frame) ->
    link(epcap_decode:dlt_name(DLT), Frame);
flow(_DLT, _Frame) ->
    {error, badarg}.

link(en10mb, Frame) -> ether(Frame);
link(linux_sll, <<_:112, Type:16, Rest/binary>>) -> ethertype(Type, Rest);
link(linux_sll2, <<Type:16, _:144, Rest/binary>>) -> ethertype(Type, Rest);
link(null, <<0, 0, _:16, _/binary>> = Frame) -> loop(Frame);
link(null, <<Family:32/little, Rest/binary>>) -> family(Family, Rest);
link(loop, Frame) -> loop(Frame);
link(raw, <<4:4, _:4, _/binary>> = Frame) -> ipv4(Frame);
link(raw, <<6:4, _:4, _/binary>> = Frame) -> ipv6(Frame);
link(raw, <<_, _/binary>>) -> {error, bad_version};
link(ipv4, Frame) -> ipv4(Frame);
link(ipv6, Frame) -> ipv6(Frame);
link(Link, _Frame) when Link =:= linux_sll; Link =:= linux_sll2; Link =:= null;
                        Link =:= raw ->
    {error, truncated};
link(_, _Frame) ->
    {error, unsupported}.

%% BSD loopback: the address family of the capturing host's byte order.
loop(<<Family:32/big, Rest/binary>>) -> family(Family, Rest);
loop(_) -> {error, truncated}.

family(2, Bin) -> ipv4(Bin);
family(F, Bin) when F =:= 10; F =:= 24; F =:= 28; F =:= 30 -> ipv6(Bin);
family(_, _) -> {error, not_ip}.

ether(<<_:96, Type:16, Rest/binary>>) -> ethertype(Type, Rest);
ether(_) -> {error, truncated}.

ethertype(?ETH_P_IP, Bin) -> ipv4(Bin);
ethertype(?ETH_P_IPV6, Bin) -> ipv6(Bin);
ethertype(T, Bin) when T =:= 16#8100; T =:= 16#88A8; T =:= 16#9100 -> vlan(Bin);
ethertype(16#6558, Bin) -> ether(Bin);
ethertype(T, Bin) when T =:= 16#8847; T =:= 16#8848 -> mpls(Bin);
ethertype(_, _) -> {error, not_ip}.

vlan(<<_:16, Type:16, Rest/binary>>) -> ethertype(Type, Rest);
vlan(_) -> {error, truncated}.

%% Labels down to the bottom of the stack, then IPv4 or IPv6 by the
%% first nibble, as the decoder does.
mpls(<<_:23, 0:1, _:8, Rest/binary>>) -> mpls(Rest);
mpls(<<_:23, 1:1, _:8, Rest/binary>>) -> mpls_ip(Rest);
mpls(_) -> {error, truncated}.

mpls_ip(<<4:4, _:4, _/binary>> = Bin) -> ipv4(Bin);
mpls_ip(<<6:4, _:4, _/binary>> = Bin) -> ipv6(Bin);
mpls_ip(_) -> {error, not_ip}.

%% The datagram is read in place: Pos is where the layer starts in Bin,
%% Len how many bytes of the datagram are left from there (more than Bin
%% holds when the capture is short).
ipv4(<<4:4, IHL:4, _/binary>>) when IHL < 5 ->
    {error, bad_header_length};
ipv4(<<4:4, IHL:4, _, Len:16, _:16, FlOff:16, _, Proto, _:16, S:32, D:32, Rest/binary>>)
  when byte_size(Rest) >= IHL * 4 - 20 ->
    if
        Len < IHL * 4 ->
            {error, bad_length};
        true ->
            ports(Proto, ip4(S), ip4(D), FlOff band 16#1FFF, Rest, IHL * 4 - 20, Len - IHL * 4)
    end;
ipv4(<<4:4, _:4, _/binary>>) ->
    {error, truncated};
ipv4(<<>>) ->
    {error, truncated};
ipv4(_) ->
    {error, bad_version}.

ipv6(<<V:32, PLen:16, Next, _, S1:32, S2:32, S3:32, S4:32, D1:32, D2:32, D3:32, D4:32,
       Rest/binary>>) when V bsr 28 =:= 6 ->
    Len = case PLen =:= 0 andalso Next =:= 0 of
              true -> byte_size(Rest);  % a jumbogram
              false -> PLen
          end,
    ipv6_next(Next, ip6(S1, S2, S3, S4), ip6(D1, D2, D3, D4), Rest, 0, Len);
ipv6(<<6:4, _:4, _/binary>>) ->
    {error, truncated};
ipv6(<<>>) ->
    {error, truncated};
ipv6(_) ->
    {error, bad_version}.

%% Extension headers: hop-by-hop (0), destination options (60), routing
%% (43) are skipped by their length; a fragment header (44) ends the walk
%% unless it starts the datagram.
ipv6_next(Ext, Src, Dst, Bin, Pos, Len) when Ext =:= 0; Ext =:= 60; Ext =:= 43 ->
    case Bin of
        <<_:Pos/binary, Next, HLen, _/binary>>
          when (HLen + 1) * 8 =< Len, Pos + (HLen + 1) * 8 =< byte_size(Bin) ->
            Skip = (HLen + 1) * 8,
            ipv6_next(Next, Src, Dst, Bin, Pos + Skip, Len - Skip);
        _ ->
            {error, truncated}
    end;
ipv6_next(44, Src, Dst, Bin, Pos, Len) ->
    case Bin of
        <<_:Pos/binary, Next, _, 0:13, _:3, _:32, _/binary>> when Len >= 8 ->
            ipv6_next(Next, Src, Dst, Bin, Pos + 8, Len - 8);
        <<_:Pos/binary, Next, _, _:13, _:3, _:32, _/binary>> when Len >= 8 ->
            {ok, {Next, Src, Dst, undefined, undefined}};
        _ ->
            {error, truncated}
    end;
ipv6_next(Proto, Src, Dst, Bin, Pos, Len) ->
    ports(Proto, Src, Dst, 0, Bin, Pos, Len).

%% Ports of TCP and UDP when the datagram starts with them (fragment
%% offset 0) and holds them.
ports(Proto, Src, Dst, 0, Bin, Pos, Len)
  when Len >= 4, Proto =:= ?IPPROTO_TCP orelse Proto =:= ?IPPROTO_UDP ->
    case Bin of
        <<_:Pos/binary, SPort:16, DPort:16, _/binary>> -> {ok, {Proto, Src, Dst, SPort, DPort}};
        _ -> {ok, {Proto, Src, Dst, undefined, undefined}}
    end;
ports(Proto, Src, Dst, _Off, _Bin, _Pos, _Len) ->
    {ok, {Proto, Src, Dst, undefined, undefined}}.

ip4(A) -> {A bsr 24, (A bsr 16) band 255, (A bsr 8) band 255, A band 255}.

ip6(A, B, C, D) ->
    {A bsr 16, A band 16#FFFF, B bsr 16, B band 16#FFFF,
     C bsr 16, C band 16#FFFF, D bsr 16, D band 16#FFFF}.
