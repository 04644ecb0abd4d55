%%% @doc Example: log every captured packet as a `logger' report.
%%%
%%% `sniff:start([{interface, "eth0"}, {filter, "tcp port 80"}])' starts
%%% a capture (the options are those of `epcap:start/2', plus
%%% `{format, [hex | binary]}' to add the whole frame to each report) and
%%% logs one report per packet:
%%%
%%% ```
%%% [{pcap, [{time, "2026-11-26 16:14:07"}, {caplen, 74}, {len, 74}, {datalink, en10mb}]},
%%%  {ether, [{source_macaddr, "1e:f9:0b:de:be:59"}, {destination_macaddr, ...}, ...]},
%%%  {ipv4, [{protocol, tcp}, {source_address, "10.212.0.1"}, ...]},
%%%  {tcp, [{source_port, 40174}, {destination_port, 8080}, {flags, [syn]}, ...]},
%%%  {payload_size, 0}, {payload, ""}]
%%% '''
%%%
%%% A frame that does not decode completely is reported as far as it
%%% decodes, followed by `{decode_error, [{layer, L}, {reason, R}]}' and
%%% the undecoded bytes as payload. `report/4' and `format_report/1' are
%%% the pure parts, usable without a capture. At the end of a file the
%%% server stops normally.
%%%
%%% Reports are logged at level `info', below logger's default primary
%%% level (`notice'): run `logger:set_primary_config(level, info)' to see
%%% them.
%%% @end
-module(sniff).

-behaviour(gen_statem).

-export([start/0, start/1, start_link/0, start_link/1, stop/0]).
-export([report/4, report/5, format_report/1]).
-export([init/1, callback_mode/0, capturing/3, terminate/3]).

-type option() :: epcap:option() | {format, [hex | binary]}.
-type report() :: [{atom(), term()}].

-export_type([option/0, report/0]).

-record(data, {epcap :: pid(), format = [] :: [hex | binary]}).

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
    %% timestamps as {Mega, Sec, Micro}, whatever the caller asked
    EpcapOpts = [O || O <- Options, not is_option(format, O), not is_option(time_unit, O)],
    case epcap:start_link(self(), EpcapOpts) of
        {ok, Pid} -> {ok, capturing, #data{epcap = Pid, format = Format}};
        {error, Reason} -> {stop, {epcap, Reason}}
    end.

is_option(Key, {Key, _}) -> true;
is_option(_Key, _Option) -> false.

%% @private
-spec capturing(gen_statem:event_type(), term(), #data{}) ->
          gen_statem:event_handler_result(capturing).
capturing(info, {packet, DLT, Time, Len, Packet}, #data{format = Format}) ->
    logger:info(report(DLT, Time, Len, Packet, Format)),
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
-spec report(non_neg_integer(), erlang:timestamp(), non_neg_integer(), binary()) -> report().
report(DLT, Time, Len, Packet) ->
    report(DLT, Time, Len, Packet, []).

%% @doc The report of one captured packet, as `sniff' logs it. `Format'
%% may add the whole frame as `{hex, String}' and/or `{binary, Packet}'.
-spec report(non_neg_integer(), erlang:timestamp(), non_neg_integer(), binary(),
             [hex | binary]) -> report().
report(DLT, Time, Len, Packet, Format) ->
    Pcap = [{time, format_time(Time)}, {caplen, byte_size(Packet)}, {len, Len},
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

layers(Headers) ->
    [{Proto, Fields} || #{proto := Proto} = H <- Headers, Fields <- [fields(H)],
                        Fields =/= []].

payload(Bin) ->
    [{payload_size, byte_size(Bin)}, {payload, printable(Bin)}].

fields(#{proto := ether, src := Src, dst := Dst, type := Type}) ->
    [{source_macaddr, mac(Src)}, {destination_macaddr, mac(Dst)}, {type, hex16(Type)}];
fields(#{proto := P, pkttype := T, halen := L, addr := A, protocol := Pr})
  when P =:= linux_sll; P =:= linux_sll2 ->
    [{packet_type, packet_type(T)}, {source_macaddr, mac(binary_part(A, 0, min(L, 8)))},
     {protocol, hex16(Pr)}];
fields(#{proto := vlan, vid := Vid, pcp := Pcp}) ->
    [{id, Vid}, {priority, Pcp}];
fields(#{proto := arp} = H) ->
    #{op := Op, sha := Sha, spa := Spa, tha := Tha, tpa := Tpa} = H,
    [{operation, arp_op(Op)}, {sender_macaddr, mac(Sha)}, {sender_address, ip(Spa)},
     {target_macaddr, mac(Tha)}, {target_address, ip(Tpa)}];
fields(#{proto := ipv4} = H) ->
    #{protocol := P, src := S, dst := D, ttl := Ttl, id := Id, len := Len} = H,
    [{protocol, ip_proto(P)}, {source_address, ip(S)}, {destination_address, ip(D)},
     {ttl, Ttl}, {id, Id}, {len, Len}];
fields(#{proto := ipv6} = H) ->
    #{next_header := P, src := S, dst := D, hop_limit := HL, payload_len := Len} = H,
    [{protocol, ip_proto(P)}, {source_address, ip(S)}, {destination_address, ip(D)},
     {hop_limit, HL}, {payload_len, Len}];
fields(#{proto := tcp} = H) ->
    #{sport := S, dport := D, flags := F, seq := Seq, ack := Ack, window := W,
      options := Opts} = H,
    [{source_port, S}, {destination_port, D}, {flags, F}, {seq, Seq}, {ack, Ack},
     {win, W}, {options, Opts}];
fields(#{proto := udp, sport := S, dport := D, len := Len}) ->
    [{source_port, S}, {destination_port, D}, {ulen, Len}];
fields(#{proto := P, type := T, code := C} = H) when P =:= icmp; P =:= icmp6 ->
    [{type, icmp_type(P, T)}, {code, C}]
        ++ [{K, V} || K <- [id, seq, mtu], #{K := V} <- [H]]
        ++ [{target, ip(A)} || #{target := A} <- [H]];
fields(#{proto := _, next_header := N}) ->
    [{next_header, ip_proto(N)}];
fields(_) ->
    [].

format_time({_, _, _} = Now) ->
    {{Y, Mo, D}, {H, Mi, S}} = calendar:now_to_local_time(Now),
    lists:flatten(io_lib:format("~4..0b-~2..0b-~2..0b ~2..0b:~2..0b:~2..0b",
                                [Y, Mo, D, H, Mi, S])).

mac(Mac) -> epcap_decode:format_mac(Mac).

ip(Addr) when is_tuple(Addr) -> epcap_decode:format_ip(Addr);
ip(Addr) -> epcap_decode:format_mac(Addr).

hex16(N) -> lists:flatten(io_lib:format("0x~4.16.0b", [N])).

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
ip_proto(6) -> tcp;
ip_proto(17) -> udp;
ip_proto(43) -> routing;
ip_proto(44) -> fragment;
ip_proto(58) -> icmp6;
ip_proto(59) -> none;
ip_proto(60) -> dstopts;
ip_proto(P) -> P.

icmp_type(icmp, 0) -> echo_reply;
icmp_type(icmp, 3) -> destination_unreachable;
icmp_type(icmp, 5) -> redirect;
icmp_type(icmp, 8) -> echo_request;
icmp_type(icmp, 11) -> time_exceeded;
icmp_type(icmp6, 1) -> destination_unreachable;
icmp_type(icmp6, 2) -> packet_too_big;
icmp_type(icmp6, 3) -> time_exceeded;
icmp_type(icmp6, 128) -> echo_request;
icmp_type(icmp6, 129) -> echo_reply;
icmp_type(icmp6, 133) -> router_solicitation;
icmp_type(icmp6, 134) -> router_advertisement;
icmp_type(icmp6, 135) -> neighbor_solicitation;
icmp_type(icmp6, 136) -> neighbor_advertisement;
icmp_type(_, T) -> T.

%%====================================================================
%% Text
%%====================================================================

%% @doc Render a report as text: one line per layer, `Layer: key=value ...',
%% strings unquoted.
-spec format_report(report()) -> unicode:chardata().
format_report(Report) ->
    [[atom_to_list(Key), ": ", format_value(Value), "\n"] || {Key, Value} <- Report].

format_value([{K, _} | _] = Fields) when is_atom(K) ->
    lists:join(" ", [[atom_to_list(F), "=", format_term(V)] || {F, V} <- Fields]);
format_value(Value) ->
    format_term(Value).

format_term(V) when is_list(V) ->
    case io_lib:printable_latin1_list(V) of
        true -> V;
        false -> io_lib:format("~w", [V])
    end;
format_term(V) ->
    io_lib:format("~w", [V]).
