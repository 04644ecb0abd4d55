%%% @doc Where a frame's IP datagram is: the few link-layer headers that
%%% {@link epcap_defrag} and {@link epcap_tcp} must skip, without decoding
%%% anything else.
%%%
%%% Link types: Ethernet (1) with any number of 802.1Q / 802.1ad / QinQ
%%% tags and MPLS labels, Linux cooked (113, 276), BSD null and loop (0,
%%% 108), raw IP (12, 14, 101) and the raw IPv4 / IPv6 types (228, 229),
%%% as {@link epcap_decode} knows them. The datagram is cut at the length
%%% its IP header states, so Ethernet padding and trailers never reach the
%%% stream; a datagram captured short of that length is `truncated'.
%%% @end
-module(epcap_l3).

-export([ip/2]).

-define(MAX_TAGS, 8).

%% @doc The IPv4 or IPv6 datagram a frame of link type `DLT' carries.
%% ```
%% Ip = <<16#45, 0, 20:16, 0:32, 64, 6, 0:16, 10, 0, 0, 1, 10, 0, 0, 2>>,
%% {ok, Ip} = epcap_l3:ip(1, <<0:96, 16#0800:16, Ip/binary, 0:48>>),
%% not_ip = epcap_l3:ip(1, <<0:96, 16#0806:16, 0:224>>).
%% '''
-spec ip(non_neg_integer(), binary()) -> {ok, binary()} | not_ip | truncated.
ip(1, <<_:12/binary, Type:16, Rest/binary>>) -> ethertype(Type, Rest, 0);
ip(113, <<_:14/binary, Type:16, Rest/binary>>) -> ethertype(Type, Rest, 0);
ip(276, <<Type:16, _:18/binary, Rest/binary>>) -> ethertype(Type, Rest, 0);
ip(0, <<0, 0, _:16, _/binary>> = F) -> <<Fam:32/big, Rest/binary>> = F, family(Fam, Rest);
ip(0, <<Fam:32/little, Rest/binary>>) -> family(Fam, Rest);
ip(108, <<Fam:32/big, Rest/binary>>) -> family(Fam, Rest);
ip(DLT, Rest) when DLT =:= 12; DLT =:= 14; DLT =:= 101; DLT =:= 228; DLT =:= 229 ->
    version(Rest);
ip(_, _) -> not_ip.

ethertype(16#0800, Rest, _) -> v4(Rest);
ethertype(16#86DD, Rest, _) -> v6(Rest);
ethertype(T, <<_:16, Type:16, Rest/binary>>, N)
  when (T =:= 16#8100 orelse T =:= 16#88A8 orelse T =:= 16#9100), N < ?MAX_TAGS ->
    ethertype(Type, Rest, N + 1);
ethertype(T, Rest, N) when T =:= 16#8847; T =:= 16#8848 -> mpls(Rest, N);
ethertype(_, _, _) -> not_ip.

mpls(<<_:23, 1:1, _:8, Rest/binary>>, _) -> version(Rest);
mpls(<<_:23, 0:1, _:8, Rest/binary>>, N) when N < ?MAX_TAGS -> mpls(Rest, N + 1);
mpls(_, _) -> not_ip.

family(2, Rest) -> v4(Rest);
family(F, Rest) when F =:= 10; F =:= 24; F =:= 28; F =:= 30 -> v6(Rest);
family(_, _) -> not_ip.

version(<<4:4, _/bitstring>> = Rest) -> v4(Rest);
version(<<6:4, _/bitstring>> = Rest) -> v6(Rest);
version(_) -> not_ip.

v4(<<4:4, IHL:4, _:8, Len:16, _/binary>> = B) when IHL >= 5, Len >= IHL * 4 ->
    case B of
        <<Ip:Len/binary, _/binary>> -> {ok, Ip};
        _ -> truncated
    end;
v4(<<4:4, _/bitstring>>) -> truncated;
v4(_) -> not_ip.

%% A payload length of 0 is a jumbogram (RFC 2675) or nothing: neither
%% carries a stream here.
v6(<<6:4, _:28, PLen:16, _/binary>> = B) when PLen > 0 ->
    Len = PLen + 40,
    case B of
        <<Ip:Len/binary, _/binary>> -> {ok, Ip};
        _ -> truncated
    end;
v6(<<6:4, _/bitstring>>) -> truncated;
v6(_) -> not_ip.
