%%% @doc Packets for the reassembly tests: TCP segments over IPv4 / IPv6,
%%% Ethernet frames (optionally VLAN tagged) and IP fragments.
-module(epcap_tcp_craft).

-export([tcp4/7, tcp6/7, ether/2, ether/3, frag4/2, frag6/3, csum/1]).

-define(FIN, 1).
-define(SYN, 2).

%% A TCP segment in an IPv4 datagram; Flags a list of fin/syn/rst/ack/psh.
tcp4({S, SP}, {D, DP}, Seq, Ack, Flags, Data, Id) ->
    Tcp = tcp(SP, DP, Seq, Ack, Flags, Data),
    Len = 20 + byte_size(Tcp),
    H0 = <<16#45, 0, Len:16, Id:16, 0:16, 64, 6, 0:16, (addr(S))/binary, (addr(D))/binary>>,
    <<A:10/binary, _:16, B/binary>> = H0,
    <<A/binary, (csum(H0)):16, B/binary, Tcp/binary>>.

tcp6({S, SP}, {D, DP}, Seq, Ack, Flags, Data, _Id) ->
    Tcp = tcp(SP, DP, Seq, Ack, Flags, Data),
    <<6:4, 0:8, 0:20, (byte_size(Tcp)):16, 6, 64, (addr(S))/binary, (addr(D))/binary,
      Tcp/binary>>.

tcp(SP, DP, Seq, Ack, Flags, Data) ->
    F = lists:foldl(fun(fin, A) -> A bor 1; (syn, A) -> A bor 2; (rst, A) -> A bor 4;
                       (psh, A) -> A bor 8; (ack, A) -> A bor 16 end, 0, Flags),
    <<SP:16, DP:16, (Seq band 16#FFFFFFFF):32, Ack:32, 5:4, 0:4, F, 65535:16, 0:16, 0:16,
      Data/binary>>.

addr({A, B, C, D}) -> <<A, B, C, D>>;
addr({A, B, C, D, E, F, G, H}) -> <<A:16, B:16, C:16, D:16, E:16, F:16, G:16, H:16>>.

ether(Ip, Tags) -> ether(Ip, Tags, <<>>).
%% Tags: a list of {Tpid, Vid}; Pad: Ethernet padding after the datagram.
ether(<<V:4, _/bitstring>> = Ip, Tags, Pad) ->
    Type = case V of 4 -> 16#0800; 6 -> 16#86DD end,
    TagBin = << <<Tpid:16, Vid:16>> || {Tpid, Vid} <- Tags >>,
    <<2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, TagBin/binary, Type:16, Ip/binary, Pad/binary>>.

%% Cut an IPv4 datagram into fragments: Pieces is a list of {Start, Len}
%% in bytes of the payload (Start a multiple of 8); a piece that ends at
%% the payload's end has MF clear.
frag4(<<4:4, IHL:4, Tos, _:16, Id:16, _:3, _:13, TTL, P, _:16, Addrs:8/binary, _/binary>> = Ip,
      Pieces) ->
    HL = IHL * 4,
    <<_:HL/binary, Payload/binary>> = Ip,
    Total = byte_size(Payload),
    [begin
         Data = binary:part(Payload, S, L),
         MF = case S + L >= Total of true -> 0; false -> 1 end,
         H0 = <<16#45, Tos, (20 + L):16, Id:16, 0:1, 0:1, MF:1, (S div 8):13, TTL, P, 0:16,
                Addrs/binary>>,
         <<A:10/binary, _:16, B/binary>> = H0,
         <<A/binary, (csum(H0)):16, B/binary, Data/binary>>
     end || {S, L} <- Pieces].

%% Cut an IPv6 datagram (no extension headers) into fragments with Id.
frag6(<<6:4, TC:8, FL:20, _:16, NH, HopL, Addrs:32/binary, Payload/binary>>, Pieces, Id) ->
    Total = byte_size(Payload),
    [begin
         Data = binary:part(Payload, S, L),
         M = case S + L >= Total of true -> 0; false -> 1 end,
         <<6:4, TC:8, FL:20, (8 + L):16, 44, HopL, Addrs/binary,
           NH, 0, (S div 8):13, 0:2, M:1, Id:32, Data/binary>>
     end || {S, L} <- Pieces].

csum(Bin) -> csum(Bin, 0).
csum(<<W:16, R/binary>>, S) -> csum(R, S + W);
csum(<<B>>, S) -> csum(<<>>, S + (B bsl 8));
csum(<<>>, S) ->
    S1 = (S band 16#FFFF) + (S bsr 16),
    (bnot ((S1 band 16#FFFF) + (S1 bsr 16))) band 16#FFFF.
