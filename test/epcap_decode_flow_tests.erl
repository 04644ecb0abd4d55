%%% @doc EUnit tests of epcap_decode:flow/2: it agrees with decode/2 on
%%% every frame of every capture in test/data and on the crafted frames
%%% (epcap_decode_craft), on every prefix of them and on mutated frames,
%%% and never raises on garbage.
-module(epcap_decode_flow_tests).

-include_lib("eunit/include/eunit.hrl").

-define(MAC_A, <<2, 0, 0, 0, 0, 16#a>>).
-define(MAC_B, <<2, 0, 0, 0, 0, 16#b>>).
-define(A4, {10, 0, 0, 1}).
-define(B4, {10, 0, 0, 2}).
-define(A6, {16#fd00, 0, 0, 0, 0, 0, 0, 1}).
-define(B6, {16#fd00, 0, 0, 0, 0, 0, 0, 2}).
-define(EXT, [ipv6_hopopts, ipv6_dstopts, ipv6_routing, ipv6_fragment]).

%%====================================================================
%% Agreement with decode/2
%%====================================================================

every_capture_frame_test() ->
    Frames = capture_frames(),
    ?assert(length(Frames) > 150),
    Ok = [F || {DLT, F} <- Frames, element(1, epcap_decode:decode(DLT, F)) =:= ok],
    ?assert(length(Ok) > 100),
    %% the captures hold flows with ports and without, and frames with none
    Flows = [epcap_decode:flow(DLT, F) || {DLT, F} <- Frames],
    ?assert(lists:any(fun({ok, {_, _, _, P, _}}) -> is_integer(P); (_) -> false end, Flows)),
    ?assert(lists:member(undefined, [P || {ok, {_, _, _, P, _}} <- Flows])),
    ?assert(lists:member({error, not_ip}, Flows)),
    [check(DLT, F) || {DLT, F} <- Frames].

every_crafted_frame_test() ->
    Frames = crafted_frames(),
    ?assert(length(Frames) > 40),
    [check(DLT, F) || {DLT, F} <- Frames].

every_prefix_test() ->
    Count = lists:sum([begin
                           [check(DLT, binary_part(F, 0, N)) || N <- lists:seq(0, byte_size(F))],
                           byte_size(F) + 1
                       end || {DLT, F} <- capture_frames() ++ crafted_frames()]),
    ?assert(Count > 10000).

every_link_type_test() ->
    %% the same bytes under each link type the decoder knows
    [check(DLT, F) || {_, F} <- capture_frames() ++ crafted_frames(),
                      DLT <- [0, 1, 12, 101, 108, 113, 228, 229, 276, 147, raw]].

mutations_test() ->
    rand:seed(exsss, {28, 4, 100}),
    Frames = list_to_tuple(capture_frames() ++ crafted_frames()),
    [begin
         {DLT, F} = element(rand:uniform(tuple_size(Frames)), Frames),
         check(DLT, mutate(F, rand:uniform(4)))
     end || _ <- lists:seq(1, 30000)].

garbage_test() ->
    rand:seed(exsss, {28, 4, 200}),
    [begin
         Bin = rand:bytes(rand:uniform(120) - 1),
         [?assert(well_formed(epcap_decode:flow(DLT, Bin)))
          || DLT <- [0, 1, 12, 108, 113, 228, 229, 276, 9999, en10mb, foo]]
     end || _ <- lists:seq(1, 5000)],
    ?assertEqual({error, badarg}, epcap_decode:flow(1, not_a_binary)),
    ?assertEqual({error, badarg}, epcap_decode:flow(1, [<<1, 2>>])),
    ?assertEqual({error, unsupported}, epcap_decode:flow(147, <<0:800>>)),
    ?assertEqual({error, truncated}, epcap_decode:flow(1, <<>>)).

%%====================================================================
%% Cases by hand
%%====================================================================

ipv4_test_() ->
    Tcp = tcp4([]),
    Udp = udp4(#{}),
    [?_assertEqual({ok, {6, ?A4, ?B4, 40000, 80}}, epcap_decode:flow(1, Tcp)),
     ?_assertEqual({ok, {17, ?A4, ?B4, 5353, 53}}, epcap_decode:flow(1, Udp)),
     %% first fragment: ports; a later one: none
     ?_assertEqual({ok, {17, ?A4, ?B4, 5353, 53}}, epcap_decode:flow(1, udp4(#{flags => [mf]}))),
     ?_assertEqual({ok, {17, ?A4, ?B4, undefined, undefined}},
                   epcap_decode:flow(1, udp4(#{frag_offset => 3}))),
     %% options: the transport after them
     ?_assertEqual({ok, {6, ?A4, ?B4, 40000, 80}}, epcap_decode:flow(1, tcp4([nop, {7, <<0, 0>>}, eol]))),
     ?_assertEqual({ok, {1, ?A4, ?B4, undefined, undefined}},
                   epcap_decode:flow(1, frame([eth(), ip4(#{}), #{proto => icmp, type => 8, code => 0,
                                                                 id => 1, seq => 2}, <<"ping">>]))),
     %% a header that says less than 20 bytes, a length below the header's
     ?_assertEqual({error, bad_header_length},
                   epcap_decode:flow(1, <<0:96, 8, 0, 16#44, 0:152>>)),
     ?_assertEqual({error, bad_length}, epcap_decode:flow(1, <<0:96, 8, 0, 16#45, 0, 19:16, 0:128>>)),
     ?_assertEqual({error, bad_version}, epcap_decode:flow(1, <<0:96, 8, 0, 16#65, 0:152>>)),
     ?_assertEqual({error, truncated}, epcap_decode:flow(1, binary_part(Tcp, 0, 33))),
     %% the IP header complete, the ports not
     ?_assertEqual({ok, {6, ?A4, ?B4, undefined, undefined}},
                   epcap_decode:flow(1, binary_part(Tcp, 0, 37)))].

ipv6_test_() ->
    Udp = #{proto => udp, sport => 5353, dport => 53},
    Frag0 = #{proto => ipv6_fragment, frag_offset => 0, more => true, id => 7},
    [?_assertEqual({ok, {17, ?A6, ?B6, 5353, 53}},
                   epcap_decode:flow(1, frame([eth(), ip6(), Udp, <<"q">>]))),
     ?_assertEqual({ok, {17, ?A6, ?B6, 5353, 53}},
                   epcap_decode:flow(1, frame([eth(), ip6(), hopopts(), dstopts(), Frag0, Udp,
                                               <<"q">>]))),
     %% a first fragment's header, then more extension headers
     ?_assertEqual({ok, {17, ?A6, ?B6, 5353, 53}},
                   epcap_decode:flow(1, frame([eth(), ip6(), Frag0, dstopts(), Udp, <<"q">>]))),
     ?_assertEqual({ok, {17, ?A6, ?B6, undefined, undefined}},
                   epcap_decode:flow(1, frame([eth(), ip6(), hopopts(),
                                               Frag0#{frag_offset => 2, next_header => 17},
                                               <<"later fragment">>]))),
     ?_assertEqual({ok, {6, ?A6, ?B6, 1234, 22}},
                   epcap_decode:flow(1, frame([eth(), ip6(),
                                               #{proto => ipv6_routing, type => 0, segments_left => 0,
                                                 data => <<0:32>>},
                                               #{proto => tcp, sport => 1234, dport => 22}, <<>>]))),
     ?_assertEqual({ok, {58, ?A6, ?B6, undefined, undefined}},
                   epcap_decode:flow(1, frame([eth(), ip6(), #{proto => icmp6, type => 128, code => 0,
                                                                id => 1, seq => 1}, <<>>]))),
     ?_assertEqual({error, truncated},
                   epcap_decode:flow(1, binary_part(frame([eth(), ip6(), hopopts(), Udp, <<>>]),
                                                    0, 14 + 40 + 5)))].

link_test_() ->
    Ip = frame([ip4(#{}), #{proto => udp, sport => 1, dport => 2}, <<"x">>]),
    Flow = {ok, {17, ?A4, ?B4, 1, 2}},
    [?_assertEqual(Flow, epcap_decode:flow(1, <<0:96, 16#8100:16, 0:16, 16#0800:16, Ip/binary>>)),
     %% QinQ, and the 0x9100 tag
     ?_assertEqual(Flow, epcap_decode:flow(1, <<0:96, 16#88A8:16, 0:16, 16#8100:16, 0:16,
                                                16#0800:16, Ip/binary>>)),
     ?_assertEqual(Flow, epcap_decode:flow(1, <<0:96, 16#9100:16, 0:16, 16#0800:16, Ip/binary>>)),
     ?_assertEqual({error, truncated}, epcap_decode:flow(1, <<0:96, 16#8100:16, 0:16>>)),
     %% MPLS: two labels, the second the bottom
     ?_assertEqual(Flow, epcap_decode:flow(1, <<0:96, 16#8847:16, 1:20, 0:3, 0:1, 64, 2:20, 0:3,
                                                1:1, 64, Ip/binary>>)),
     ?_assertEqual({error, not_ip}, epcap_decode:flow(1, <<0:96, 16#8847:16, 1:20, 0:3, 1:1, 64,
                                                          0:64>>)),
     %% Ethernet in Ethernet
     ?_assertEqual(Flow, epcap_decode:flow(1, <<0:96, 16#6558:16, 0:96, 16#0800:16, Ip/binary>>)),
     ?_assertEqual(Flow, epcap_decode:flow(113, <<0:112, 16#0800:16, Ip/binary>>)),
     ?_assertEqual(Flow, epcap_decode:flow(276, <<16#0800:16, 0:144, Ip/binary>>)),
     ?_assertEqual(Flow, epcap_decode:flow(0, <<2:32/little, Ip/binary>>)),
     ?_assertEqual(Flow, epcap_decode:flow(0, <<2:32/big, Ip/binary>>)),
     ?_assertEqual(Flow, epcap_decode:flow(108, <<2:32/big, Ip/binary>>)),
     ?_assertEqual(Flow, epcap_decode:flow(101, Ip)),
     ?_assertEqual(Flow, epcap_decode:flow(raw, Ip)),
     ?_assertEqual(Flow, epcap_decode:flow(228, Ip)),
     ?_assertEqual({error, not_ip}, epcap_decode:flow(0, <<99:32/little, Ip/binary>>)),
     ?_assertEqual({error, bad_version}, epcap_decode:flow(101, <<16#55, 0:64>>)),
     ?_assertEqual({error, not_ip},
                   epcap_decode:flow(1, frame([eth(), #{proto => arp, htype => 1, ptype => 16#0800,
                                                        op => 1, sha => ?MAC_A, spa => ?A4,
                                                        tha => ?MAC_B, tpa => ?B4}, <<>>])))].

%%====================================================================
%% The oracle: what flow/2 must say, from what decode/2 says
%%====================================================================

%% Check flow/2 on a frame against decode/2.
check(DLT, Frame) ->
    Flow = epcap_decode:flow(DLT, Frame),
    case well_formed(Flow) andalso agrees(Flow, epcap_decode:decode(DLT, Frame)) of
        true -> ok;
        false -> erlang:error({disagree, DLT, Frame, Flow, epcap_decode:decode(DLT, Frame)})
    end.

well_formed({ok, {P, S, D, SP, DP}}) ->
    is_integer(P) andalso P >= 0 andalso P =< 255 andalso ip(S) andalso ip(D)
        andalso tuple_size(S) =:= tuple_size(D)
        andalso (is_integer(SP) andalso is_integer(DP) orelse SP =:= undefined andalso DP =:= undefined);
well_formed({error, Reason}) ->
    lists:member(Reason, [not_ip, truncated, bad_version, bad_header_length, bad_length,
                          unsupported, badarg]);
well_formed(_) ->
    false.

ip({_, _, _, _}) -> true;
ip({_, _, _, _, _, _, _, _}) -> true;
ip(_) -> false.

%% A frame that decodes has exactly the flow its headers give.
agrees(Flow, {ok, Packet}) ->
    Flow =:= expected(Packet, none);
%% Otherwise: when the decoded headers hold the outermost IP header, the
%% addresses (and as far as decoded, protocol and ports) are the same;
%% when the IP header or a layer below was cut or bad, so is the flow.
agrees(Flow, {error, Headers, {Layer, Reason, _}}) ->
    case expected(Headers, {Layer, Reason}) of
        {ok, _} = Flow -> true;
        {ok, _} -> false;
        {error, _} = Error -> Flow =:= Error;
        {ip_only, P, S, D} -> element(1, Flow) =:= ok andalso ip_only(P, S, D, element(2, Flow));
        any -> true
    end.

ip_only(P, S, D, {P1, S, D, _, _}) -> P =:= any orelse P =:= P1;
ip_only(_, _, _, _) -> false.

expected([#{proto := ipv4, src := S, dst := D, protocol := P} = H | Rest], Err)
  when not is_map_key(partial, H) ->
    after_ip(P, S, D, Rest, Err);
expected([#{proto := ipv6, src := S, dst := D, next_header := N} = H | Rest], Err)
  when not is_map_key(partial, H) ->
    after_ip(N, S, D, Rest, Err);
expected([#{proto := _} | Rest], Err) ->
    expected(Rest, Err);
expected([Payload], none) when is_binary(Payload) ->
    {error, not_ip};
expected(_, {arp, _}) ->
    {error, not_ip};
expected(_, {Layer, Reason})
  when Reason =/= bad_option, Layer =:= ipv4 orelse Layer =:= ipv6 orelse Layer =:= ether
           orelse Layer =:= linux_sll orelse Layer =:= linux_sll2 orelse Layer =:= null
           orelse Layer =:= raw orelse Layer =:= vlan orelse Layer =:= mpls
           orelse Layer =:= link ->
    {error, Reason};
expected(_, _) ->
    any.

%% After the IP header: extension headers, then the transport.
after_ip(P, S, D, [#{proto := Proto} = H | Rest], Err) ->
    case {lists:member(Proto, ?EXT), H} of
        {true, #{partial := true}} -> {error, truncated};
        {true, #{next_header := N}} -> after_ip(N, S, D, Rest, Err);
        {false, #{sport := SP, dport := DP}} when Proto =:= tcp; Proto =:= udp ->
            {ok, {P, S, D, SP, DP}};
        {false, _} -> {ok, {P, S, D, undefined, undefined}}
    end;
after_ip(P, S, D, [], {Layer, Reason}) ->
    case {lists:member(Layer, ?EXT), Reason} of
        {true, truncated} -> {error, truncated};
        %% TLV options flow/2 does not read: the protocol is beyond them
        {true, _} -> {ip_only, any, S, D};
        {false, _} -> transport_missing(P, S, D, Layer)
    end;
after_ip(P, S, D, _Payload, _Err) ->
    {ok, {P, S, D, undefined, undefined}}.

%% No transport header decoded: for TCP and UDP (a bad header length,
%% options or length) flow/2 may still read ports.
transport_missing(P, S, D, Layer) when Layer =:= tcp; Layer =:= udp ->
    {ip_only, P, S, D};
transport_missing(P, S, D, _Layer) ->
    {ok, {P, S, D, undefined, undefined}}.

%%====================================================================
%% Frames
%%====================================================================

capture_frames() ->
    Dir = epcap_decode_tests:data_dir(),
    Files = filelib:wildcard("*.pcap", Dir) ++ filelib:wildcard("*.pcapng", Dir),
    ?assert(length(Files) > 10),
    lists:append([[{DLT, F} || {DLT, F, _} <- Records]
                  || File <- Files,
                     {ok, Records} <- [epcap_decode_tests:read_capture(filename:join(Dir, File))]]).

crafted_frames() ->
    [{1, F} || {_, Records} <- epcap_decode_craft:captures(), {F, _} <- Records].

mutate(<<>>, _) ->
    <<>>;
mutate(Frame, 0) ->
    case rand:uniform(4) of
        1 -> binary_part(Frame, 0, rand:uniform(byte_size(Frame) + 1) - 1);
        _ -> Frame
    end;
mutate(Frame, K) ->
    Pos = rand:uniform(min(byte_size(Frame), 80)) - 1,
    <<Pre:Pos/binary, _, Post/binary>> = Frame,
    mutate(<<Pre/binary, (rand:uniform(256) - 1), Post/binary>>, K - 1).

eth() -> #{proto => ether, dst => ?MAC_B, src => ?MAC_A}.

ip4(Extra) -> maps:merge(#{proto => ipv4, src => ?A4, dst => ?B4, ttl => 64}, Extra).

ip6() -> #{proto => ipv6, src => ?A6, dst => ?B6}.

hopopts() -> #{proto => ipv6_hopopts, options => [{padn, <<0, 0, 0, 0>>}]}.

dstopts() -> #{proto => ipv6_dstopts, options => [{padn, <<0, 0, 0, 0>>}]}.

tcp4(Opts) ->
    frame([eth(), ip4(#{options => Opts}), #{proto => tcp, sport => 40000, dport => 80,
                                               flags => [syn]}, <<>>]).

udp4(Extra) ->
    frame([eth(), ip4(Extra), #{proto => udp, sport => 5353, dport => 53}, <<"query">>]).

frame(Packet) ->
    epcap_decode:encode(Packet).
