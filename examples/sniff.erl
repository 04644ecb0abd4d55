%%% @doc Example: log every captured packet as a `logger' report.
%%%
%%% An example, not part of the epcap application: rebar3 compiles it into
%%% `_build/default/lib/epcap/examples' of this checkout (add that to the
%%% code path), but a project depending on epcap, or a release, has no
%%% `sniff' module. `bin/epcap-sniff' is its command-line front end.
%%%
%%% `sniff:start([{interface, "eth0"}, {filter, "tcp port 80"}])' starts
%%% a capture (the options are those of `epcap:start/2', plus
%%% `{format, [hex | binary | local_time]}' to add the whole frame to each
%%% report or print local time instead of UTC) and logs one report per
%%% packet. `{time_unit, nanosecond}' prints nanoseconds (the default is
%%% microseconds, as libpcap captures them by default):
%%%
%%% ```
%%% [{pcap, [{time, "2026-11-26 16:14:07.543411Z"}, {caplen, 74}, {len, 74},
%%%          {datalink, en10mb}]},
%%%  {ether, [{source_macaddr, "1e:f9:0b:de:be:59"}, {destination_macaddr, ...}, ...]},
%%%  {ipv4, [{protocol, tcp}, {source_address, "10.212.0.1"}, ...]},
%%%  {tcp, [{source_port, 40174}, {destination_port, 8080}, {flags, [syn]}, ...]},
%%%  {payload_size, 0}, {payload, ""}]
%%% '''
%%%
%%% Tunnelled and quoted headers get their own entries (an ICMP error
%%% is followed by `quoted_ipv4', `quoted_udp', ...). A header cut short
%%% is reported with the fields that were captured and `{partial, true}'.
%%% A frame that does not decode completely is reported as far as it
%%% decodes, followed by `{decode_error, [{layer, L}, {reason, R}]}' and
%%% the undecoded bytes as payload. `report/4' and `format_report/1' are
%%% the pure parts, usable without a capture. At the end of a file the
%%% server stops normally.
%%%
%%% `follow_format/1' prints the events of a reassembling capture
%%% ({@link epcap_tcp_server}) as `tshark -z follow,tcp,ascii' prints a
%%% stream: `bin/epcap-sniff -F' uses it.
%%%
%%% Reports are logged at level `info', below logger's default primary
%%% level (`notice'): run `logger:set_primary_config(level, info)' to see
%%% them.
%%% @end
-module(sniff).

-behaviour(gen_statem).

-export([start/0, start/1, start_link/0, start_link/1, stop/0]).
-export([report/4, report/5, format_report/1, summary/1]).
-export([follow_format/1]).
-export([init/1, callback_mode/0, capturing/3, terminate/3]).

-type option() :: epcap:option() | {format, [format()]}.
-type format() :: hex | binary | local_time.
-type report() :: [{atom(), term()}].
-type time() :: erlang:timestamp() | {microsecond | nanosecond, integer()}.

-export_type([option/0, report/0, format/0, time/0]).

-define(FOLLOW_RULE, "===================================================================\n").

-record(data, {epcap :: pid(), format = [] :: [format()],
               unit = microsecond :: microsecond | nanosecond}).

%%====================================================================
%% API
%%====================================================================

%% @doc Start sniffing on the default interface.
-spec start() -> gen_statem:start_ret().
start() ->
    start([]).

%% @doc Start sniffing with epcap options (and `{format, [hex | binary]}').
-spec start([option()]) -> gen_statem:start_ret().
start(Options) ->
    gen_statem:start({local, ?MODULE}, ?MODULE, Options, []).

%% @doc Start sniffing on the default interface, linked to the caller.
-spec start_link() -> gen_statem:start_ret().
start_link() ->
    start_link([]).

%% @doc Start sniffing with options, linked to the caller.
-spec start_link([option()]) -> gen_statem:start_ret().
start_link(Options) ->
    gen_statem:start_link({local, ?MODULE}, ?MODULE, Options, []).

%% @doc Stop sniffing.
-spec stop() -> ok.
stop() ->
    gen_statem:stop(?MODULE).

%%====================================================================
%% gen_statem callbacks
%%====================================================================

%% @private
-spec callback_mode() -> gen_statem:callback_mode_result().
callback_mode() ->
    state_functions.

%% @private
-spec init([option()]) -> gen_statem:init_result(capturing) | {stop, term()}.
init(Options) ->
    process_flag(trap_exit, true),
    Format = proplists:get_value(format, Options, []),
    %% timestamps as integers of the unit asked for (nanosecond asks
    %% libpcap for nanosecond precision)
    Unit = case proplists:get_value(time_unit, Options) of
               nanosecond -> nanosecond;
               _ -> microsecond
           end,
    EpcapOpts = [{time_unit, Unit}
                 | [O || O <- Options, not is_option(format, O), not is_option(time_unit, O)]],
    case epcap:start_link(self(), EpcapOpts) of
        {ok, Pid} -> {ok, capturing, #data{epcap = Pid, format = Format, unit = Unit}};
        {error, Reason} -> {stop, {epcap, Reason}}
    end.

is_option(Key, {Key, _}) -> true;
is_option(_Key, _Option) -> false.

%% @private
-spec capturing(gen_statem:event_type(), term(), #data{}) ->
          gen_statem:event_handler_result(capturing).
capturing(info, {packet, DLT, Time, Len, Packet}, #data{format = Format, unit = Unit}) ->
    logger:info(report(DLT, {Unit, Time}, Len, Packet, Format)),
    keep_state_and_data;
capturing(info, {epcap, eof}, _Data) ->
    {stop, normal};
capturing(info, {epcap, {error, Reason}}, _Data) ->
    logger:warning(#{sniff => capture_ended, reason => Reason}),
    {stop, {shutdown, {epcap, Reason}}};
capturing(info, {'EXIT', Pid, Reason}, #data{epcap = Pid}) ->
    {stop, ended(Reason)};
capturing(_Type, _Event, _Data) ->
    keep_state_and_data.

%% The epcap server stops normally after eof; any other exit is ours too.
ended(normal) -> normal;
ended(Reason) -> {shutdown, {epcap, Reason}}.

%% @private
-spec terminate(term(), capturing, #data{}) -> ok.
terminate(_Reason, _State, #data{epcap = Pid}) ->
    unlink(Pid),
    epcap:stop(Pid),
    ok.

%%====================================================================
%% Reports
%%====================================================================

%% @equiv report(DLT, Time, Len, Packet, [])
-spec report(non_neg_integer(), time(), non_neg_integer(), binary()) -> report().
report(DLT, Time, Len, Packet) ->
    report(DLT, Time, Len, Packet, []).

%% @doc The report of one captured packet, as `sniff' logs it. `Time' is
%% an `erlang:timestamp()' (microseconds) or `{Unit, Integer}' with `Unit'
%% `microsecond' or `nanosecond'; it is printed with as many decimals as
%% its unit has and in UTC (`Z'), or in local time with its offset when
%% `Format' has `local_time'. `Format' may also add the whole frame as
%% `{hex, String}' and/or `{binary, Packet}'.
-spec report(non_neg_integer(), time(), non_neg_integer(), binary(),
             [format()]) -> report().
report(DLT, Time, Len, Packet, Format) ->
    Pcap = [{time, format_time(Time, lists:member(local_time, Format))},
            {caplen, byte_size(Packet)}, {len, Len},
            {datalink, epcap_decode:dlt_name(DLT)}],
    [{pcap, Pcap} | decoded(epcap_decode:decode(DLT, Packet))]
        ++ [{hex, hex(Packet)} || lists:member(hex, Format)]
        ++ [{binary, Packet} || lists:member(binary, Format)].

decoded({ok, Packet}) ->
    {Headers, [Payload]} = lists:split(length(Packet) - 1, Packet),
    layers(Headers) ++ payload(Payload);
decoded({error, Headers, {Layer, Reason, Rest}}) ->
    layers(Headers) ++ [{decode_error, [{layer, Layer}, {reason, Reason}]}]
        ++ payload(Rest).

%% One entry per header; the headers quoted by an ICMP error follow it as
%% quoted_<proto> entries.
layers(Headers) ->
    lists:append([layer(H) || H <- Headers]).

layer(#{proto := Proto} = H) ->
    Quoted = [{quoted(P), fields(Q)} || #{quote := Quote} <- [H],
                                        #{proto := P} = Q <- Quote],
    [{Proto, Fields} || Fields <- [fields(H)], Fields =/= []] ++ Quoted.

quoted(Proto) -> list_to_atom("quoted_" ++ atom_to_list(Proto)).

payload(Bin) ->
    [{payload_size, byte_size(Bin)}, {payload, printable(Bin)}].

fields(#{proto := P} = H) ->
    Fields = [{Name, Fmt(V)} || {Name, Key, Fmt} <- field_spec(P),
                                {ok, V} <- [maps:find(Key, H)]],
    Partial = [{partial, true} || #{partial := true} <- [H]],
    case P of
        _ when P =:= icmp; P =:= icmp6 ->
            %% the meaning of an ICMP type and code right after them
            {TypeCode, Rest} = lists:split(min(2, length(Fields)), Fields),
            TypeCode ++ extra(H) ++ Rest ++ nd_options(H) ++ Partial;
        _ ->
            Fields ++ extra(H) ++ Partial
    end.

-define(AS_IS, fun(V) -> V end).

%% {ReportKey, HeaderKey, Formatter}, in the order they are printed.
field_spec(ether) ->
    [{source_macaddr, src, fun mac/1}, {destination_macaddr, dst, fun mac/1},
     {type, type, fun hex16/1}];
field_spec(P) when P =:= linux_sll; P =:= linux_sll2 ->
    [{packet_type, pkttype, fun packet_type/1}, {source_macaddr, addr, fun mac/1},
     {protocol, protocol, fun hex16/1}];
field_spec(vlan) -> [{id, vid, ?AS_IS}, {priority, pcp, ?AS_IS}];
field_spec(mpls) -> [{label, label, ?AS_IS}, {tc, tc, ?AS_IS}, {bos, bos, ?AS_IS},
                     {ttl, ttl, ?AS_IS}];
field_spec(arp) ->
    [{operation, op, fun arp_op/1}, {sender_macaddr, sha, fun mac/1},
     {sender_address, spa, fun ip/1}, {target_macaddr, tha, fun mac/1},
     {target_address, tpa, fun ip/1}];
field_spec(ipv4) ->
    [{protocol, protocol, fun ip_proto/1}, {source_address, src, fun ip/1},
     {destination_address, dst, fun ip/1}, {ttl, ttl, ?AS_IS}, {id, id, ?AS_IS},
     {len, len, ?AS_IS}, {flags, flags, ?AS_IS}, {frag_offset, frag_offset, ?AS_IS},
     {dscp, dscp, ?AS_IS}, {ecn, ecn, ?AS_IS}];
field_spec(ipv6) ->
    [{protocol, next_header, fun ip_proto/1}, {source_address, src, fun ip/1},
     {destination_address, dst, fun ip/1}, {hop_limit, hop_limit, ?AS_IS},
     {payload_len, payload_len, ?AS_IS}, {flow_label, flow_label, fun hex20/1},
     {traffic_class, traffic_class, ?AS_IS}];
field_spec(ipv6_routing) ->
    [{next_header, next_header, fun ip_proto/1}, {type, type, ?AS_IS},
     {segments_left, segments_left, ?AS_IS}];
field_spec(ipv6_fragment) ->
    [{next_header, next_header, fun ip_proto/1}, {frag_offset, frag_offset, ?AS_IS},
     {more, more, ?AS_IS}, {id, id, ?AS_IS}];
field_spec(P) when P =:= ipv6_hopopts; P =:= ipv6_dstopts ->
    [{next_header, next_header, fun ip_proto/1}, {options, options, ?AS_IS}];
field_spec(tcp) ->
    [{source_port, sport, ?AS_IS}, {destination_port, dport, ?AS_IS}, {flags, flags, ?AS_IS},
     {seq, seq, ?AS_IS}, {ack, ack, ?AS_IS}, {win, window, ?AS_IS},
     {options, options, ?AS_IS}];
field_spec(udp) ->
    [{source_port, sport, ?AS_IS}, {destination_port, dport, ?AS_IS}, {ulen, len, ?AS_IS}];
field_spec(gre) ->
    [{protocol, protocol, fun hex16/1}, {flags, flags, ?AS_IS}, {key, key, ?AS_IS},
     {seq, seq, ?AS_IS}, {checksum, checksum, fun hex16/1}, {version, version, ?AS_IS}];
field_spec(vxlan) -> [{vni, vni, ?AS_IS}, {flags, flags, fun hex8/1}];
field_spec(P) when P =:= icmp; P =:= icmp6 ->
    [{type, type, ?AS_IS}, {code, code, ?AS_IS}, {id, id, ?AS_IS}, {seq, seq, ?AS_IS},
     {mtu, mtu, ?AS_IS}, {pointer, pointer, ?AS_IS}, {gateway, gateway, fun ip/1},
     {target, target, fun ip/1}, {destination, destination, fun ip/1},
     {cur_hop_limit, cur_hop_limit, ?AS_IS}, {flags, flags, ?AS_IS},
     {ra_flags, ra_flags, ?AS_IS}, {router_lifetime, router_lifetime, ?AS_IS}];
field_spec(_) ->
    [].

%% ICMP: what the type and code mean, the quote in one phrase.
extra(#{proto := P, type := T, code := C} = H) when P =:= icmp; P =:= icmp6 ->
    [{meaning, M} || M <- [icmp_meaning(P, T, C)], M =/= ""]
        ++ [{quote, quote_summary(Q)} || #{quote := Q} <- [H]];
extra(#{proto := ipv4, options := Opts}) when Opts =/= [] ->
    [{options, Opts}];
extra(_) ->
    [].

nd_options(#{nd_options := Opts}) ->
    [{nd_options, lists:flatten(["[", lists:join(",", [nd_option(O) || O <- Opts]), "]"])}];
nd_options(_) ->
    [].

%% Neighbour discovery options as text, e.g. "source_lladdr=02:00:00:00:00:0a".
nd_option({L, Addr}) when L =:= source_lladdr; L =:= target_lladdr ->
    lists:flatten([atom_to_list(L), "=", mac(Addr)]);
nd_option({prefix_info, #{prefix := Prefix, prefix_len := Len}}) ->
    lists:flatten(["prefix_info=", ip(Prefix), "/", integer_to_list(Len)]);
nd_option({redirected_header, Quote}) ->
    "redirected_header=" ++ quote_summary(Quote);
nd_option({mtu, Mtu}) ->
    "mtu=" ++ integer_to_list(Mtu);
nd_option(Other) ->
    lists:flatten(io_lib:format("~w", [Other])).

%% "udp 10.0.0.1:45000 > 10.0.0.2:6000": the protocol above the quoted IP
%% header (its ports when it has them) and the addresses.
quote_summary([#{src := S, dst := D} = Ip | Rest]) ->
    Above = [H || #{proto := P} = H <- Rest, not is_ipv6_extension(P)],
    case Above of
        [#{proto := P, sport := SP, dport := DP} | _] ->
            lists:flatten(io_lib:format("~s ~s > ~s", [P, endpoint(S, SP), endpoint(D, DP)]));
        [#{proto := P} | _] ->
            lists:flatten(io_lib:format("~s ~s > ~s", [P, ip(S), ip(D)]));
        [] ->
            Proto = maps:get(protocol, Ip, maps:get(next_header, Ip, none)),
            lists:flatten(io_lib:format("~w ~s > ~s", [ip_proto(Proto), ip(S), ip(D)]))
    end;
quote_summary(_) ->
    "?".

is_ipv6_extension(P) ->
    lists:member(P, [ipv6_hopopts, ipv6_dstopts, ipv6_routing, ipv6_fragment]).

endpoint({_, _, _, _} = A, Port) -> ip(A) ++ ":" ++ integer_to_list(Port);
endpoint(A, Port) -> "[" ++ ip(A) ++ "]:" ++ integer_to_list(Port).

%% RFC 3339 with the decimals of the capture's unit and an explicit zone.
-spec format_time(time(), boolean()) -> string().
format_time({Mega, Sec, Micro}, Local) ->
    format_time({microsecond, (Mega * 1000000 + Sec) * 1000000 + Micro}, Local);
format_time({Unit, T}, Local) ->
    Offset = case Local of
                 true -> [];
                 false -> [{offset, "Z"}]
             end,
    calendar:system_time_to_rfc3339(T, [{unit, Unit}, {time_designator, $\s} | Offset]).

mac(Mac) -> epcap_decode:format_mac(Mac).

ip(Addr) when is_tuple(Addr) -> epcap_decode:format_ip(Addr);
ip(Addr) -> epcap_decode:format_mac(Addr).

hex8(N) -> lists:flatten(io_lib:format("0x~2.16.0b", [N])).

hex16(N) -> lists:flatten(io_lib:format("0x~4.16.0b", [N])).

hex20(N) -> lists:flatten(io_lib:format("0x~5.16.0b", [N])).

hex(Bin) -> lists:flatten([io_lib:format("~2.16.0b", [B]) || <<B>> <= Bin]).

printable(Bin) -> [printable_char(C) || <<C>> <= Bin].

printable_char(C) when C >= 32, C =< 126 -> C;
printable_char(_) -> $..

packet_type(0) -> host;
packet_type(1) -> broadcast;
packet_type(2) -> multicast;
packet_type(3) -> otherhost;
packet_type(4) -> outgoing;
packet_type(T) -> T.

arp_op(1) -> request;
arp_op(2) -> reply;
arp_op(Op) -> Op.

ip_proto(0) -> hopopts;
ip_proto(1) -> icmp;
ip_proto(4) -> ipv4;
ip_proto(6) -> tcp;
ip_proto(17) -> udp;
ip_proto(41) -> ipv6;
ip_proto(43) -> routing;
ip_proto(44) -> fragment;
ip_proto(47) -> gre;
ip_proto(58) -> icmp6;
ip_proto(59) -> none;
ip_proto(60) -> dstopts;
ip_proto(P) -> P.

icmp_meaning(icmp, 0, _) -> "echo reply";
icmp_meaning(icmp, 3, C) -> unreachable(C);
icmp_meaning(icmp, 4, _) -> "source quench";
icmp_meaning(icmp, 5, _) -> "redirect";
icmp_meaning(icmp, 8, _) -> "echo request";
icmp_meaning(icmp, 11, 0) -> "ttl exceeded in transit";
icmp_meaning(icmp, 11, 1) -> "fragment reassembly time exceeded";
icmp_meaning(icmp, 12, _) -> "parameter problem";
icmp_meaning(icmp6, 1, C) -> unreachable6(C);
icmp_meaning(icmp6, 2, _) -> "packet too big";
icmp_meaning(icmp6, 3, 0) -> "hop limit exceeded in transit";
icmp_meaning(icmp6, 3, 1) -> "fragment reassembly time exceeded";
icmp_meaning(icmp6, 4, _) -> "parameter problem";
icmp_meaning(icmp6, 128, _) -> "echo request";
icmp_meaning(icmp6, 129, _) -> "echo reply";
icmp_meaning(icmp6, 133, _) -> "router solicitation";
icmp_meaning(icmp6, 134, _) -> "router advertisement";
icmp_meaning(icmp6, 135, _) -> "neighbor solicitation";
icmp_meaning(icmp6, 136, _) -> "neighbor advertisement";
icmp_meaning(icmp6, 137, _) -> "redirect";
icmp_meaning(_, _, _) -> "".

unreachable(0) -> "net unreachable";
unreachable(1) -> "host unreachable";
unreachable(2) -> "protocol unreachable";
unreachable(3) -> "port unreachable";
unreachable(4) -> "fragmentation needed";
unreachable(9) -> "net prohibited";
unreachable(10) -> "host prohibited";
unreachable(13) -> "communication prohibited";
unreachable(_) -> "unreachable".

unreachable6(0) -> "no route";
unreachable6(1) -> "administratively prohibited";
unreachable6(3) -> "address unreachable";
unreachable6(4) -> "port unreachable";
unreachable6(_) -> "unreachable".

%%====================================================================
%% Text
%%====================================================================

%% @doc One line for a report, as tcpdump prints a packet: the time of
%% day, then the innermost network layer and what it carries, e.g.
%% `16:14:07.543658 IP 10.212.0.1.40174 > 10.212.0.2.8080: tcp [psh,ack] seq 991272075 ack 3345078587 win 63, length 89'.
%% ```
%% R = sniff:report(1, {microsecond, 0}, 42, <<0:48, 1:48, 16#0806:16, 1:16, 16#0800:16,
%%                   6, 4, 1:16, 1:48, 10, 0, 0, 1, 0:48, 10, 0, 0, 2>>),
%% "00:00:00.000000 ARP, request who-has 10.0.0.2 tell 10.0.0.1" = sniff:summary(R).
%% '''
-spec summary(report()) -> string().
summary(Report) ->
    Time = case proplists:get_value(time, proplists:get_value(pcap, Report, []), "") of
               [_, _, _, _, $-, _, _, $-, _, _, $\s | Clock] -> string:trim(Clock, trailing, "Z");
               T -> T
           end,
    Layers = [{L, F} || {L, F} <- Report, is_list(F), F =:= [] orelse is_tuple(hd(F)),
                        L =/= pcap, not is_quoted(L)],
    Error = [io_lib:format(" [~w ~w]", [proplists:get_value(layer, E),
                                        proplists:get_value(reason, E)])
             || {decode_error, E} <- Report],
    lists:flatten([Time, " ", line(Layers, Report), Error]).

is_quoted(L) -> lists:prefix("quoted_", atom_to_list(L)).

line(Layers, Report) ->
    Size = proplists:get_value(payload_size, Report, 0),
    Net = [X || {L, _} = X <- Layers, L =:= ipv4 orelse L =:= ipv6 orelse L =:= arp],
    case Net of
        [] ->
            Len = proplists:get_value(len, proplists:get_value(pcap, Report, []), 0),
            Last = case Layers of [] -> "unknown"; _ -> atom_to_list(element(1, lists:last(Layers))) end,
            io_lib:format("~s, length ~b", [Last, Len]);
        _ ->
            {L, F} = lists:last(Net),
            Above = lists:dropwhile(fun(X) -> X =/= {L, F} end, Layers),
            net_line(L, F, tl(Above), Size)
    end.

net_line(arp, F, _, _) ->
    V = fun(K) -> proplists:get_value(K, F) end,
    case V(operation) of
        request -> io_lib:format("ARP, request who-has ~s tell ~s", [V(target_address), V(sender_address)]);
        reply -> io_lib:format("ARP, reply ~s is-at ~s", [V(sender_address), V(sender_macaddr)]);
        Op -> io_lib:format("ARP, ~w ~s > ~s", [Op, V(sender_address), V(target_address)])
    end;
net_line(IP, F, Above, Size) ->
    Name = case IP of ipv4 -> "IP"; ipv6 -> "IP6" end,
    Src = proplists:get_value(source_address, F),
    Dst = proplists:get_value(destination_address, F),
    case [X || {P, _} = X <- Above, P =:= tcp orelse P =:= udp orelse P =:= icmp
                                    orelse P =:= icmp6] of
        [{tcp, T} | _] ->
            V = fun(K) -> proplists:get_value(K, T) end,
            io_lib:format("~s ~s.~b > ~s.~b: tcp ~w seq ~b ack ~b win ~b, length ~b",
                          [Name, Src, V(source_port), Dst, V(destination_port),
                           V(flags), V(seq), V(ack), V(win), Size]);
        [{udp, U} | _] ->
            io_lib:format("~s ~s.~b > ~s.~b: udp, length ~b",
                          [Name, Src, proplists:get_value(source_port, U), Dst,
                           proplists:get_value(destination_port, U), Size]);
        [{P, I} | _] ->
            What = case proplists:get_value(meaning, I) of
                       undefined -> io_lib:format("type ~w code ~w", [proplists:get_value(type, I),
                                                                     proplists:get_value(code, I)]);
                       M -> M
                   end,
            Ids = [io_lib:format(" ~s ~w", [K, proplists:get_value(K, I)])
                   || K <- [id, seq], proplists:is_defined(K, I)],
            Quote = [[" (", Q, ")"] || {quote, Q} <- I],
            io_lib:format("~s ~s > ~s: ~s ~s~s~s, length ~b",
                          [Name, Src, Dst, P, What, Ids, Quote, Size]);
        [] ->
            Proto = proplists:get_value(protocol, F),
            io_lib:format("~s ~s > ~s: ~w, length ~b", [Name, Src, Dst, Proto, Size])
    end.

%% @doc Render a report as text: one line per layer, `Layer: key=value ...',
%% strings unquoted; an ICMP meaning in parentheses and its quote as
%% `quote: ...', e.g.
%% `icmp: type=3 code=3 (port unreachable) quote: udp 10.0.0.1:45000 > 10.0.0.2:6000'.
-spec format_report(report()) -> unicode:chardata().
format_report(Report) ->
    [[atom_to_list(Key), ": ", format_value(Value), "\n"] || {Key, Value} <- Report].

format_value([{K, _} | _] = Fields) when is_atom(K) ->
    lists:join(" ", [format_field(F, V) || {F, V} <- Fields]);
format_value(Value) ->
    format_term(Value).

format_field(meaning, V) -> ["(", V, ")"];
format_field(flags, []) -> "flags=[]";
format_field(quote, V) -> ["quote: ", V];
format_field(F, V) -> [atom_to_list(F), "=", format_term(V)].

format_term(V) when is_list(V) ->
    case io_lib:printable_latin1_list(V) of
        true -> V;
        false -> io_lib:format("~w", [V])
    end;
format_term(V) ->
    io_lib:format("~w", [V]).

%%====================================================================
%% Following TCP streams
%%====================================================================

%% @doc One {@link epcap_tcp} event as text, in the manner of
%% `tshark -z follow,tcp,ascii': at the open, the two nodes; for each
%% piece of data its length, then its bytes with the non-printable ones as
%% `.', the server's indented by a tab; a gap as the bytes missing; the
%% close and why.
%% ```
%% Flow = {{{10,0,0,1}, 40000}, {{10,0,0,2}, 80}},
%% <<"\t5\nhi..!\n">> = iolist_to_binary(sniff:follow_format({data, Flow, server, 0, <<"hi", 0, 7, "!">>})).
%% '''
-spec follow_format(epcap_tcp:event()) -> iodata().
follow_format({open, {C, S}}) ->
    [?FOLLOW_RULE, "Follow: tcp,ascii\nNode 0: ", node_name(C), "\nNode 1: ", node_name(S), "\n"];
follow_format({data, _Flow, Dir, _Off, Bytes}) ->
    [indent(Dir), integer_to_list(byte_size(Bytes)), "\n", follow_text(Bytes), "\n"];
follow_format({gap, _Flow, Dir, Off, Len}) ->
    [indent(Dir), io_lib:format("[~B bytes missing at offset ~B]\n", [Len, Off])];
follow_format({close, {C, S}, Why}) ->
    [io_lib:format("Closed (~p): ", [Why]), node_name(C), " - ", node_name(S), "\n", ?FOLLOW_RULE].

indent(client) -> "";
indent(server) -> "\t".

node_name({{_, _, _, _} = Ip, Port}) -> [inet:ntoa(Ip), $:, integer_to_list(Port)];
node_name({Ip, Port}) -> [$[, inet:ntoa(Ip), "]:", integer_to_list(Port)].

follow_text(Bytes) ->
    << <<(if B =:= $\n; B >= 32, B < 127 -> B; true -> $. end)>> || <<B>> <= Bytes >>.

