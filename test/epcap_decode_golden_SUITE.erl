%%% @doc Golden comparison of epcap_decode with tshark: every field of
%%% `?FIELDS' of every frame of the captures in `captures/0' is compared
%%% with tshark's `-T fields' output stored next to the capture
%%% (`test/data/NAME.tshark'), so the suite does not depend on the
%%% installed tshark. The captures are crafted (`epcap_decode_craft') or
%%% real (captured between network namespaces by
%%% `test/data/make_real_captures.sh'). `regenerate/1' rewrites the golden
%%% files with the installed tshark.
-module(epcap_decode_golden_SUITE).

-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").

-export([all/0, suite/0]).
-export([golden_fields/0, golden_fields/1,
         crafted_up_to_date/0, crafted_up_to_date/1]).
-export([regenerate/1, captures/0]).

%% tshark fields compared; values of one field in one frame are joined
%% with "," in the order tshark dissects the layers (outer first, then a
%% tunnel's inner or an ICMP error's quoted headers).
-define(FIELDS,
        ["eth.src", "eth.dst", "eth.type", "vlan.id", "vlan.priority",
         "mpls.label", "mpls.exp", "mpls.bottom", "mpls.ttl",
         "arp.opcode", "arp.src.proto_ipv4", "arp.dst.proto_ipv4",
         "ip.hdr_len", "ip.dsfield.dscp", "ip.dsfield.ecn", "ip.len", "ip.id",
         "ip.flags.df", "ip.flags.mf", "ip.frag_offset", "ip.ttl", "ip.proto",
         "ip.checksum", "ip.src", "ip.dst", "ip.opt.type",
         "ipv6.tclass", "ipv6.flow", "ipv6.plen", "ipv6.nxt", "ipv6.hlim", "ipv6.src",
         "ipv6.dst", "ipv6.hopopts.nxt", "ipv6.dstopts.nxt", "ipv6.fraghdr.nxt",
         "ipv6.fraghdr.offset", "ipv6.fraghdr.more", "ipv6.fraghdr.ident",
         "gre.flags.checksum", "gre.flags.key", "gre.flags.sequence_number", "gre.proto",
         "gre.checksum", "gre.key", "gre.sequence_number", "vxlan.vni",
         "tcp.srcport", "tcp.dstport", "tcp.seq_raw", "tcp.flags", "tcp.window_size_value",
         "tcp.checksum", "tcp.hdr_len", "tcp.options.mss_val",
         "udp.srcport", "udp.dstport", "udp.length", "udp.checksum",
         "icmp.type", "icmp.code", "icmp.checksum", "icmp.seq", "icmp.mtu", "icmp.redir_gw",
         "icmp.pointer",
         "icmpv6.type", "icmpv6.code", "icmpv6.checksum", "icmpv6.mtu", "icmpv6.pointer",
         "icmpv6.echo.identifier", "icmpv6.echo.sequence_number",
         "icmpv6.nd.ns.target_address", "icmpv6.nd.na.target_address",
         "icmpv6.nd.rd.target_address", "icmpv6.nd.na.flag.s",
         "icmpv6.nd.ra.cur_hop_limit", "icmpv6.nd.ra.router_lifetime",
         "icmpv6.nd.ra.reachable_time", "icmpv6.nd.ra.retrans_timer",
         "icmpv6.opt.type", "icmpv6.opt.linkaddr", "icmpv6.opt.prefix",
         "icmpv6.opt.prefix.length", "icmpv6.opt.mtu"]).

%% Layers of frame.protocols we decode.
-define(KNOWN, ["eth", "vlan", "mpls", "arp", "ip", "ipv6", "ipv6.hopopts", "ipv6.dstopts",
                "ipv6.routing", "ipv6.fraghdr", "gre", "vxlan", "tcp", "udp", "icmp",
                "icmpv6"]).

suite() ->
    [{timetrap, {minutes, 5}}].

all() ->
    [golden_fields, crafted_up_to_date].

%% @doc The captures with a golden file, in test/data.
-spec captures() -> [string()].
captures() ->
    [Name || {Name, _} <- epcap_decode_craft:captures()]
        ++ ["tun_vxlan.pcap", "icmp_err_real.pcap", "tun_rawsock.pcap"].

%%====================================================================
%% Test cases
%%====================================================================

golden_fields() ->
    [{doc, "Ensure that every frame of every golden capture decodes to the "
           "layers tshark found and to the same value of every compared field "
           "(0 mismatches), the headers of frames cut short included."}].
golden_fields(_Config) ->
    Results = [compare_capture(C) || C <- captures(), exists(C)],
    Mismatches = lists:append([M || {_, M, _} <- Results]),
    [ct:pal("~ts", [M]) || M <- Mismatches],
    Frames = lists:sum([F || {F, _, _} <- Results]),
    Values = lists:sum([V || {_, _, V} <- Results]),
    ct:pal("~b captures, ~b frames, ~b field values compared, ~b mismatches",
           [length(Results), Frames, Values, length(Mismatches)]),
    ?assertEqual([], Mismatches),
    ?assert(length(Results) >= length(epcap_decode_craft:captures())),
    {comment, io_lib:format("~b frames, ~b field values, 0 mismatches", [Frames, Values])}.

crafted_up_to_date() ->
    [{doc, "Ensure that the crafted captures in test/data are what "
           "epcap_decode_craft builds today, so the golden files describe "
           "the cases the helper defines."}].
crafted_up_to_date(_Config) ->
    [?assertEqual({Name, iolist_to_binary(epcap_decode_craft:pcap(1, Records))},
                  {Name, read(Name)})
     || {Name, Records} <- epcap_decode_craft:captures()],
    ok.

%%====================================================================
%% Comparison
%%====================================================================

exists(Name) ->
    filelib:is_regular(path(Name)).

path(Name) ->
    filename:join(epcap_decode_tests:data_dir(), Name).

golden_path(Name) ->
    filename:rootname(path(Name)) ++ ".tshark".

read(Name) ->
    {ok, Bin} = file:read_file(path(Name)),
    Bin.

%% {Frames, Mismatches, NonEmptyValuesCompared}
compare_capture(Name) ->
    {ok, Frames} = epcap_decode_tests:read_capture(path(Name)),
    {ok, Golden} = file:read_file(golden_path(Name)),
    [Header | Rows] = [L || L <- string:split(binary_to_list(Golden), "\n", all), L =/= ""],
    ["frame.protocols" | Fields] = string:split(Header, "\t", all),
    ?assertEqual(?FIELDS, Fields),
    ?assertEqual({Name, length(Rows)}, {Name, length(Frames)}),
    Compared = [compare_frame(Name, N, Row, Frame)
                || {N, {Row, Frame}} <- lists:enumerate(lists:zip(Rows, Frames))],
    {length(Frames), lists:append([M || {M, _} <- Compared]),
     lists:sum([V || {_, V} <- Compared])}.

compare_frame(Name, N, Row, {DLT, Frame, _OrigLen}) ->
    [Protos | Values] = string:split(Row, "\t", all),
    Headers = flatten(headers(epcap_decode:decode(DLT, Frame))),
    Mine = mine(Headers),
    Chain = [P || P <- string:split(Protos, ":", all), lists:member(P, ?KNOWN)],
    MyChain = chain([tshark_name(P) || {_, #{proto := P}} <- Headers]),
    Errors = [{protocols, {tshark, Chain}, {decoded, MyChain}} || Chain =/= MyChain]
        ++ [{F, {tshark, T}, {decoded, M}}
            || {F, T} <- lists:zip(?FIELDS, Values),
               M <- [string:join(maps:get(F, Mine, []), ",")], M =/= T],
    {[io_lib:format("~ts frame ~b: ~p", [Name, N, E]) || E <- Errors],
     length([V || V <- Values, V =/= ""])}.

%% tshark names an MPLS label stack once.
chain(["mpls", "mpls" | Rest]) -> chain(["mpls" | Rest]);
chain([P | Rest]) -> [P | chain(Rest)];
chain([]) -> [].

headers({ok, Packet}) -> [H || H <- Packet, is_map(H)];
headers({error, Hs, _}) -> Hs.

%% Headers in tshark's order, each with its context: the headers quoted
%% by an ICMP error (or a redirect's redirected-header option) follow it.
flatten(Headers) ->
    lists:append([[{outer, H} | quoted(H)] || H <- Headers]).

quoted(H) ->
    Quotes = [Q || #{quote := Q} <- [H]]
        ++ [Q || #{nd_options := Opts} <- [H], {redirected_header, Q} <- Opts],
    #{proto := By} = H,
    [{{quote, By}, Q} || Quote <- Quotes, {_, Q} <- flatten([X || X <- Quote, is_map(X)])].

mine(Headers) ->
    lists:foldr(fun({F, V}, Acc) -> maps:update_with(F, fun(Vs) -> [V | Vs] end, [V], Acc) end,
                #{}, lists:append([fields(Ctx, H) || {Ctx, H} <- Headers])).

tshark_name(ether) -> "eth";
tshark_name(ipv4) -> "ip";
tshark_name(icmp6) -> "icmpv6";
tshark_name(ipv6_hopopts) -> "ipv6.hopopts";
tshark_name(ipv6_dstopts) -> "ipv6.dstopts";
tshark_name(ipv6_routing) -> "ipv6.routing";
tshark_name(ipv6_fragment) -> "ipv6.fraghdr";
tshark_name(P) -> atom_to_list(P).

%% The fields tshark gives for a header, as it formats them; only keys
%% present (a partial header has fewer).
fields(_Ctx, #{proto := ether} = H) ->
    take(H, [{"eth.src", src, fun mac/1}, {"eth.dst", dst, fun mac/1},
             {"eth.type", type, hex(4)}]);
fields(_Ctx, #{proto := vlan} = H) ->
    take(H, [{"vlan.priority", pcp, fun int/1}, {"vlan.id", vid, fun int/1}]);
fields(_Ctx, #{proto := mpls} = H) ->
    take(H, [{"mpls.label", label, fun int/1}, {"mpls.exp", tc, fun int/1},
             {"mpls.bottom", bos, fun int/1}, {"mpls.ttl", ttl, fun int/1}]);
fields(_Ctx, #{proto := arp} = H) ->
    take(H, [{"arp.opcode", op, fun int/1}, {"arp.src.proto_ipv4", spa, fun ip/1},
             {"arp.dst.proto_ipv4", tpa, fun ip/1}]);
fields(_Ctx, #{proto := ipv4} = H) ->
    [{"ip.hdr_len", int(ipv4_hlen(H))} || ipv4_hlen(H) =/= none]
        ++ take(H, [{"ip.dsfield.dscp", dscp, fun int/1}, {"ip.dsfield.ecn", ecn, fun int/1},
                    {"ip.len", len, fun int/1}, {"ip.id", id, hex(4)},
                    {"ip.flags.df", flags, flag(df)}, {"ip.flags.mf", flags, flag(mf)},
                    {"ip.frag_offset", frag_offset, fun int/1},
                    {"ip.ttl", ttl, fun int/1}, {"ip.proto", protocol, fun int/1},
                    {"ip.checksum", checksum, hex(4)}, {"ip.src", src, fun ip/1},
                    {"ip.dst", dst, fun ip/1}])
        ++ [{"ip.opt.type", int(option_type(O))} || #{options := Opts} <- [H], O <- Opts,
                                                    option_type(O) =/= none];
fields(_Ctx, #{proto := ipv6} = H) ->
    take(H, [{"ipv6.tclass", traffic_class, hex(8)}, {"ipv6.flow", flow_label, hex(6)},
             {"ipv6.plen", payload_len, fun int/1}, {"ipv6.nxt", next_header, fun int/1},
             {"ipv6.hlim", hop_limit, fun int/1}, {"ipv6.src", src, fun ip/1},
             {"ipv6.dst", dst, fun ip/1}]);
fields(_Ctx, #{proto := ipv6_hopopts} = H) ->
    take(H, [{"ipv6.hopopts.nxt", next_header, fun int/1}]);
fields(_Ctx, #{proto := ipv6_dstopts} = H) ->
    take(H, [{"ipv6.dstopts.nxt", next_header, fun int/1}]);
fields(_Ctx, #{proto := ipv6_fragment} = H) ->
    take(H, [{"ipv6.fraghdr.nxt", next_header, fun int/1},
             {"ipv6.fraghdr.offset", frag_offset, fun int/1},
             {"ipv6.fraghdr.more", more, fun bool/1}, {"ipv6.fraghdr.ident", id, hex(8)}]);
fields(_Ctx, #{proto := gre} = H) ->
    take(H, [{"gre.flags.checksum", flags, flag(checksum)}, {"gre.flags.key", flags, flag(key)},
             {"gre.flags.sequence_number", flags, flag(seq)}, {"gre.proto", protocol, hex(4)},
             {"gre.checksum", checksum, hex(4)}, {"gre.key", key, hex(8)},
             {"gre.sequence_number", seq, fun int/1}]);
fields(_Ctx, #{proto := vxlan} = H) ->
    take(H, [{"vxlan.vni", vni, fun int/1}]);
fields(_Ctx, #{proto := tcp, partial := true} = H) ->
    %% tshark gives only the ports of a TCP header cut short (the other
    %% fields of a partial header are checked in epcap_decode_tests)
    take(H, [{"tcp.srcport", sport, fun int/1}, {"tcp.dstport", dport, fun int/1}]);
fields(Ctx, #{proto := tcp} = H) ->
    take(H, [{"tcp.srcport", sport, fun int/1}, {"tcp.dstport", dport, fun int/1}]
             %% tshark gives no raw sequence number inside an ICMPv4 error
             ++ [{"tcp.seq_raw", seq, fun int/1} || Ctx =/= {quote, icmp}]
             ++ [{"tcp.flags", flags, fun(F) -> hex(epcap_decode:tcp_flags(F), 4) end},
                 {"tcp.window_size_value", window, fun int/1},
                 {"tcp.checksum", checksum, hex(4)}])
        ++ [{"tcp.hdr_len", int(tcp_hlen(H))} || tcp_hlen(H) =/= none]
        ++ [{"tcp.options.mss_val", int(M)} || #{options := Opts} <- [H], {mss, M} <- Opts];
fields(_Ctx, #{proto := udp} = H) ->
    take(H, [{"udp.srcport", sport, fun int/1}, {"udp.dstport", dport, fun int/1},
             {"udp.length", len, fun int/1}, {"udp.checksum", checksum, hex(4)}]);
fields(_Ctx, #{proto := icmp} = H) ->
    take(H, [{"icmp.type", type, fun int/1}, {"icmp.code", code, fun int/1},
             {"icmp.checksum", checksum, hex(4)}, {"icmp.seq", seq, fun int/1},
             {"icmp.mtu", mtu, fun int/1}, {"icmp.redir_gw", gateway, fun ip/1},
             {"icmp.pointer", pointer, fun int/1}]);
fields(_Ctx, #{proto := icmp6} = H) ->
    take(H, [{"icmpv6.type", type, fun int/1}, {"icmpv6.code", code, fun int/1},
             {"icmpv6.checksum", checksum, hex(4)}, {"icmpv6.mtu", mtu, fun int/1},
             {"icmpv6.echo.identifier", id, hex(4)},
             {"icmpv6.echo.sequence_number", seq, fun int/1},
             {"icmpv6.nd.ra.cur_hop_limit", cur_hop_limit, fun int/1},
             {"icmpv6.nd.ra.router_lifetime", router_lifetime, fun int/1},
             {"icmpv6.nd.ra.reachable_time", reachable_time, fun int/1},
             {"icmpv6.nd.ra.retrans_timer", retrans_timer, fun int/1}])
        ++ icmp6_type_fields(H)
        ++ lists:append([nd_option(O) || #{nd_options := Opts} <- [H], O <- Opts]);
fields(_Ctx, _H) ->
    [].

icmp6_type_fields(#{type := 4, rest := <<Pointer:32>>}) ->
    [{"icmpv6.pointer", int(Pointer)}];
icmp6_type_fields(#{type := 135, target := T}) ->
    [{"icmpv6.nd.ns.target_address", ip(T)}];
icmp6_type_fields(#{type := 136, target := T, flags := F}) ->
    [{"icmpv6.nd.na.flag.s", bool(lists:member(solicited, F))},
     {"icmpv6.nd.na.target_address", ip(T)}];
icmp6_type_fields(#{type := 137, target := T}) ->
    [{"icmpv6.nd.rd.target_address", ip(T)}];
icmp6_type_fields(_) ->
    [].

nd_option({Kind, Addr}) when Kind =:= source_lladdr; Kind =:= target_lladdr ->
    [{"icmpv6.opt.type", int(nd_type(Kind))}, {"icmpv6.opt.linkaddr", mac(Addr)}];
nd_option({prefix_info, #{prefix := P, prefix_len := L}}) ->
    [{"icmpv6.opt.type", "3"}, {"icmpv6.opt.prefix.length", int(L)},
     {"icmpv6.opt.prefix", ip(P)}];
nd_option({redirected_header, _}) ->
    [{"icmpv6.opt.type", "4"}];
nd_option({mtu, Mtu}) ->
    [{"icmpv6.opt.type", "5"}, {"icmpv6.opt.mtu", int(Mtu)}];
nd_option({Type, _}) when is_integer(Type) ->
    [{"icmpv6.opt.type", int(Type)}];
nd_option(_) ->
    [].

nd_type(source_lladdr) -> 1;
nd_type(target_lladdr) -> 2.

option_type(nop) -> 1;
option_type(eol) -> 0;
option_type({padding, _}) -> none;
option_type({Type, _}) -> Type.

ipv4_hlen(#{hlen := L}) -> L;
ipv4_hlen(#{partial := true}) -> none;
ipv4_hlen(H) -> byte_size(epcap_decode:encode([H])).

tcp_hlen(#{hlen := L}) -> L;
tcp_hlen(#{partial := true}) -> none;
tcp_hlen(H) -> byte_size(epcap_decode:encode([H])).

take(H, Spec) ->
    [{F, Fmt(V)} || {F, Key, Fmt} <- Spec, {ok, V} <- [maps:find(Key, H)]].

flag(F) -> fun(Flags) -> bool(lists:member(F, Flags)) end.

bool(true) -> "1";
bool(false) -> "0".

int(N) -> integer_to_list(N).

hex(Digits) -> fun(N) -> hex(N, Digits) end.

hex(N, Digits) -> lists:flatten(io_lib:format("0x~*.16.0b", [Digits, N])).

mac(M) -> epcap_decode:format_mac(M).

ip(A) -> epcap_decode:format_ip(A).

%%====================================================================
%% Regeneration
%%====================================================================

%% @doc Rewrite `NAME.tshark' for every capture of `captures/0' found in
%% Dir with the installed tshark (-T fields, every occurrence).
-spec regenerate(file:filename()) -> ok.
regenerate(Dir) ->
    [regenerate(Dir, Name) || Name <- captures(), filelib:is_regular(filename:join(Dir, Name))],
    ok.

regenerate(Dir, Name) ->
    %% without reassembly tshark decodes the transport header of a first
    %% fragment, as epcap_decode does
    Args = ["-r", filename:join(Dir, Name), "-n", "-o", "ip.defragment:FALSE",
            "-o", "ipv6.defragment:FALSE", "-T", "fields", "-E", "occurrence=a",
            "-E", "aggregator=,", "-E", "separator=/t", "-e", "frame.protocols"]
        ++ lists:append([["-e", F] || F <- ?FIELDS]),
    Out = os:cmd(lists:flatten(["tshark 2>/dev/null" | [[" '", A, "'"] || A <- Args]])),
    Golden = [lists:join("\t", ["frame.protocols" | ?FIELDS]), "\n", Out],
    ok = file:write_file(filename:rootname(filename:join(Dir, Name)) ++ ".tshark", Golden).
