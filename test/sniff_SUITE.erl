%%% @doc Common Test suite of the examples: sniff (reports of a capture
%%% file, through logger and through the bin/epcap-sniff escript) and
%%% icmp_resend (live, in a network namespace, as root).
-module(sniff_SUITE).

-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").

-export([all/0, suite/0, groups/0, init_per_suite/1, end_per_suite/1,
         init_per_group/2, end_per_group/2,
         init_per_testcase/2, end_per_testcase/2]).
-export([report_fields/0, report_fields/1,
         report_truncated/0, report_truncated/1,
         report_time/0, report_time/1,
         report_tunnels/0, report_tunnels/1,
         text_rendering/0, text_rendering/1,
         sniff_file/0, sniff_file/1,
         sniff_snaplen_file/0, sniff_snaplen_file/1,
         sniff_format/0, sniff_format/1,
         escript/0, escript/1,
         icmp_copy/0, icmp_copy/1,
         icmp_resend/0, icmp_resend/1]).
%% logger handler collecting sniff's reports
-export([log/2]).

-define(HANDLER, sniff_suite_collector).

%%====================================================================
%% Common Test callbacks
%%====================================================================

suite() ->
    [{timetrap, {minutes, 2}}].

all() ->
    [{group, pure}, {group, port}].

groups() ->
    [{pure, [], [report_fields, report_truncated, report_time, report_tunnels, text_rendering,
                      icmp_copy]},
     {port, [], [sniff_file, sniff_snaplen_file, sniff_format, escript, icmp_resend]}].

init_per_suite(Config) ->
    Root = root_dir(),
    [{root, Root}, {data, filename:join([Root, "test", "data"])} | Config].

end_per_suite(_Config) ->
    ok.

init_per_group(port, Config) ->
    Port = filename:join([?config(root, Config), "priv", "epcap"]),
    case filelib:is_regular(Port) andalso code:which(epcap) =/= non_existing of
        true -> Config;
        false -> {skip, "port program priv/epcap or module epcap not built"}
    end;
init_per_group(_Group, Config) ->
    Config.

end_per_group(_Group, _Config) ->
    ok.

init_per_testcase(icmp_resend, Config) ->
    case can_make_namespaces() of
        true -> make_namespace(Config);
        {false, Why} -> {skip, Why}
    end;
init_per_testcase(Case, Config) when Case =:= sniff_file; Case =:= sniff_snaplen_file;
                                     Case =:= sniff_format ->
    #{level := Level} = logger:get_primary_config(),
    ok = logger:set_primary_config(level, info),
    ok = logger:add_handler(?HANDLER, ?MODULE, #{level => info, config => #{pid => self()}}),
    [{primary_level, Level} | Config];
init_per_testcase(_Case, Config) ->
    Config.

end_per_testcase(icmp_resend, Config) ->
    [catch icmp_resend:stop(P) || P <- [get(resender)], is_pid(P)],
    [catch epcap:stop(P) || P <- [get(monitor)], is_pid(P)],
    delete_namespace(Config);
end_per_testcase(_Case, Config) ->
    catch sniff:stop(),
    _ = logger:remove_handler(?HANDLER),
    case ?config(primary_level, Config) of
        undefined -> ok;
        Level -> logger:set_primary_config(level, Level)
    end.

%% The checkout: the directory holding examples/sniff.erl (epcap_test_lib).
root_dir() -> epcap_test_lib:root_dir("examples/sniff.erl").

%% logger handler callback
log(#{msg := {report, [{pcap, _} | _] = Report}}, #{config := #{pid := Pid}}) ->
    Pid ! {sniff_report, Report};
log(_Event, _Config) ->
    ok.

%%====================================================================
%% Pure cases (no port program)
%%====================================================================

report_fields() ->
    [{doc, "Ensure that sniff:report/4 gives the pcap, link, network and "
           "transport fields and the payload of known frames of veth_mixed."}].
report_fields(Config) ->
    Frames = frames(Config, "veth_mixed.pcap"),
    Time = {1764, 173647, 543411},
    Report = fun(N) -> {DLT, F, Len} = lists:nth(N, Frames), sniff:report(DLT, Time, Len, F) end,
    Arp = Report(1),
    ?assertEqual([pcap, ether, arp, payload_size, payload], keys(Arp)),
    ?assertMatch([{time, _}, {caplen, 42}, {len, 42}, {datalink, en10mb}],
                 proplists:get_value(pcap, Arp)),
    ?assertEqual(time_string(Time), field(pcap, time, Arp)),
    ?assertEqual("1e:f9:0b:de:be:59", field(ether, source_macaddr, Arp)),
    ?assertEqual("ff:ff:ff:ff:ff:ff", field(ether, destination_macaddr, Arp)),
    ?assertEqual(request, field(arp, operation, Arp)),
    ?assertEqual("10.212.0.2", field(arp, target_address, Arp)),
    Syn = Report(13),
    ?assertEqual([pcap, ether, ipv4, tcp, payload_size, payload], keys(Syn)),
    ?assertEqual(tcp, field(ipv4, protocol, Syn)),
    ?assertEqual("10.212.0.1", field(ipv4, source_address, Syn)),
    ?assertEqual("10.212.0.2", field(ipv4, destination_address, Syn)),
    ?assertEqual(40174, field(tcp, source_port, Syn)),
    ?assertEqual(8080, field(tcp, destination_port, Syn)),
    ?assertEqual([syn], field(tcp, flags, Syn)),
    ?assertEqual(991272074, field(tcp, seq, Syn)),
    ?assertEqual(64240, field(tcp, win, Syn)),
    Get = Report(16),
    ?assertEqual([psh, ack], field(tcp, flags, Get)),
    ?assertEqual(89, proplists:get_value(payload_size, Get)),
    ?assertMatch("GET /index.html HTTP/1.1..Host" ++ _, proplists:get_value(payload, Get)),
    Echo6 = Report(9),
    ?assertEqual(icmp6, field(ipv6, protocol, Echo6)),
    ?assertEqual("fd00:212::1", field(ipv6, source_address, Echo6)),
    ?assertEqual(128, field(icmp6, type, Echo6)),
    ?assertEqual("echo request", field(icmp6, meaning, Echo6)),
    Udp = Report(37),
    ?assertEqual(9997, field(udp, destination_port, Udp)),
    ?assertEqual(13, proplists:get_value(payload_size, Udp)),
    Unreach = Report(38),
    ?assertEqual(3, field(icmp, type, Unreach)),
    ?assertEqual(3, field(icmp, code, Unreach)),
    ?assertEqual("port unreachable", field(icmp, meaning, Unreach)),
    ?assertEqual(undefined, field(icmp, mtu, Unreach)),
    ?assertEqual("udp 10.212.0.1:50812 > 10.212.0.2:9997", field(icmp, quote, Unreach)),
    ?assertEqual([pcap, ether, ipv4, icmp, quoted_ipv4, quoted_udp, payload_size, payload],
                 keys(Unreach)),
    ?assertEqual(9997, field(quoted_udp, destination_port, Unreach)).

report_truncated() ->
    [{doc, "Ensure that sniff:report/4 reports a frame cut short as far as it "
           "decodes, then the decoding error, for every frame of snap64.pcap "
           "and for every prefix of a TCP frame."}].
report_truncated(Config) ->
    Reports = [sniff:report(DLT, {0, 0, 0}, Len, F)
               || {DLT, F, Len} <- frames(Config, "snap64.pcap")],
    ?assertEqual(40, length(Reports)),
    Syn = lists:nth(13, Reports),
    ?assertEqual([pcap, ether, ipv4, tcp, decode_error, payload_size, payload], keys(Syn)),
    %% the TCP header cut inside its options: its fixed fields, marked partial
    ?assertEqual(40174, field(tcp, source_port, Syn)),
    ?assertEqual(true, field(tcp, partial, Syn)),
    ?assertEqual([{layer, tcp}, {reason, truncated}], proplists:get_value(decode_error, Syn)),
    ?assertEqual(74, field(pcap, len, Syn)),
    ?assertEqual(64, field(pcap, caplen, Syn)),
    Echo = lists:nth(3, Reports),
    ?assertEqual([pcap, ether, ipv4, icmp, decode_error, payload_size, payload], keys(Echo)),
    {1, Frame, Len} = lists:nth(16, frames(Config, "veth_mixed.pcap")),
    [?assertMatch([{pcap, _} | _], sniff:report(1, {0, 0, 0}, Len, binary_part(Frame, 0, N)))
     || N <- lists:seq(0, byte_size(Frame))],
    ok.

report_time() ->
    [{doc, "Ensure that the report's time has the decimals of the capture's "
           "unit (6 for timestamps and microseconds, 9 for nanoseconds) and an "
           "explicit zone: Z by default, the local offset with local_time."}].
report_time(Config) ->
    {DLT, F, Len} = hd(frames(Config, "veth_mixed.pcap")),
    Time = fun(T, Format) -> field(pcap, time, sniff:report(DLT, T, Len, F, Format)) end,
    ?assertEqual("2026-11-26 16:14:07.108940Z", Time({1795, 709647, 108940}, [])),
    ?assertEqual("2026-11-26 16:14:07.108940Z", Time({microsecond, 1795709647108940}, [])),
    ?assertEqual("2026-11-26 16:14:07.000000Z", Time({microsecond, 1795709647000000}, [])),
    ?assertEqual("2026-11-26 16:14:07.108940243Z",
                 Time({nanosecond, 1795709647108940243}, [])),
    Local = Time({nanosecond, 1795709647108940243}, [local_time]),
    Offset = calendar:system_time_to_rfc3339(1795709647, [{unit, second}]),
    ?assertEqual(lists:nthtail(19, Offset), lists:nthtail(29, Local)),
    ?assertEqual(".108940243", lists:sublist(Local, 20, 10)).

report_tunnels() ->
    [{doc, "Ensure that the report has a line per layer through GRE (with its "
           "key, sequence number and checksum) and VXLAN, the IPv4 options, "
           "neighbour discovery options, the headers quoted by an ICMP error "
           "(a GRE packet), and the captured fields of a header cut short, "
           "marked partial."}].
report_tunnels(Config) ->
    Text = fun(File, N) ->
                   {DLT, F, Len} = lists:nth(N, frames(Config, File)),
                   Report = sniff:report(DLT, {0, 0, 0}, Len, F),
                   {Report, string:split(unicode:characters_to_list(
                                           sniff:format_report(Report)), "\n", all)}
           end,
    {Gre, GreLines} = Text("tun_crafted.pcap", 2),
    ?assertEqual([pcap, ether, ipv4, gre, ipv4, udp, payload_size, payload], keys(Gre)),
    ?assert(lists:member("gre: protocol=0x0800 flags=[checksum,key,seq] key=42 seq=7 "
                         "checksum=0xcbf0 version=0", GreLines)),
    ?assert(lists:member("udp: source_port=5000 destination_port=6000 ulen=13", GreLines)),
    {Vxlan, _} = Text("tun_crafted.pcap", 7),
    ?assertEqual([pcap, ether, ipv4, udp, vxlan, ether, ipv4, udp, payload_size, payload],
                 keys(Vxlan)),
    ?assertEqual(16#abcdef, field(vxlan, vni, Vxlan)),
    {Opts, _} = Text("ipopt_crafted.pcap", 1),
    ?assertEqual([nop, {148, <<0, 0>>}, {7, <<4, 0:32>>}, eol, {padding, <<0, 0, 0>>}],
                 field(ipv4, options, Opts)),
    ?assertEqual({46, 1}, {field(ipv4, dscp, Opts), field(ipv4, ecn, Opts)}),
    {_, RaLines} = Text("nd_crafted.pcap", 4),
    ?assert(lists:member("icmp6: type=134 code=0 (router advertisement) cur_hop_limit=64 "
                         "ra_flags=[managed] router_lifetime=1800 "
                         "nd_options=[source_lladdr=02:00:00:00:00:0b,mtu=1500,"
                         "prefix_info=fd00:0:0:42::/64]", RaLines)),
    {_, UnreachLines} = Text("tun_rawsock.pcap", 4),
    ?assert(lists:member("icmp: type=3 code=2 (protocol unreachable) "
                         "quote: gre 10.216.240.1 > 10.216.241.2", UnreachLines)),
    ?assert(lists:member("quoted_gre: protocol=0x0800 flags=[checksum,key,seq] key=42 seq=1 "
                         "checksum=0x47d4 version=0", UnreachLines)),
    {_, CutLines} = Text("partial_crafted.pcap", 1),
    ?assert(lists:member("tcp: source_port=40004 destination_port=8080 seq=1000 partial=true",
                         CutLines)).

text_rendering() ->
    [{doc, "Ensure that sniff:format_report/1 renders one line per layer with "
           "key=value pairs and strings unquoted."}].
text_rendering(Config) ->
    {DLT, F, Len} = lists:nth(13, frames(Config, "veth_mixed.pcap")),
    Text = unicode:characters_to_list(sniff:format_report(sniff:report(DLT, {1764, 173647, 0},
                                                                       Len, F))),
    Lines = string:split(Text, "\n", all),
    ?assertEqual(["pcap: time=" ++ time_string({1764, 173647, 0})
                  ++ " caplen=74 len=74 datalink=en10mb",
                  "ether: source_macaddr=1e:f9:0b:de:be:59 "
                  "destination_macaddr=7e:ad:f2:d1:5e:2d type=0x0800",
                  "ipv4: protocol=tcp source_address=10.212.0.1 "
                  "destination_address=10.212.0.2 ttl=64 id=18160 len=60 flags=[df] "
                  "frag_offset=0 dscp=0 ecn=0",
                  "tcp: source_port=40174 destination_port=8080 flags=[syn] seq=991272074 "
                  "ack=0 win=64240 options=[{mss,1460},sack_permitted,"
                  "{timestamp,3626052662,0},nop,{wscale,10}]",
                  "payload_size: 0", "payload: ", ""], Lines).

icmp_copy() ->
    [{doc, "Ensure that icmp_resend:copy/2 rebuilds an ICMP echo request with "
           "fresh IPv4 and ICMP checksums and skips anything else."}].
icmp_copy(Config) ->
    Frames = frames(Config, "veth_mixed.pcap"),
    {1, Request, _} = lists:nth(3, Frames),
    %% correct checksums are recomputed to the same values
    ?assertEqual({ok, Request}, icmp_resend:copy(1, Request)),
    %% wrong ones are replaced
    <<Pre:24/binary, _:16, Mid:10/binary, _:16, Post/binary>> = Request,
    Broken = <<Pre/binary, 0:16, Mid/binary, 0:16, Post/binary>>,
    ?assertNotEqual(Request, Broken),
    ?assertEqual({ok, Request}, icmp_resend:copy(1, Broken)),
    [?assertEqual(skip, icmp_resend:copy(1, element(2, lists:nth(N, Frames))))
     || N <- [1, 4, 9, 13, 38]],
    ?assertEqual(skip, icmp_resend:copy(1, binary_part(Request, 0, 60))).

%%====================================================================
%% Cases with the port program
%%====================================================================

sniff_file() ->
    [{doc, "Ensure that sniff over veth_mixed.pcap logs one report per packet "
           "(40), in order, with the fields of known frames, and stops "
           "normally at the end of the file."}].
sniff_file(Config) ->
    Reports = sniff_reports(Config, "veth_mixed.pcap", []),
    ?assertEqual(40, length(Reports)),
    Expected = [sniff:report(DLT, {0, 0, 0}, Len, F)
                || {DLT, F, Len} <- frames(Config, "veth_mixed.pcap")],
    %% everything but the time as the pure function gives it
    ?assertEqual([tl(R) || R <- Expected], [tl(R) || R <- Reports]),
    %% the time of the first packet, to the microsecond, in UTC
    ?assertEqual("2026-11-26 16:14:07.108940Z", field(pcap, time, hd(Reports))),
    ?assertEqual(40174, field(tcp, source_port, lists:nth(13, Reports))),
    ?assertEqual(reply, field(arp, operation, lists:nth(2, Reports))).

sniff_snaplen_file() ->
    [{doc, "Ensure that sniff survives frames cut short (snap64.pcap): 40 "
           "reports, the cut ones with a decode_error."}].
sniff_snaplen_file(Config) ->
    Reports = sniff_reports(Config, "snap64.pcap", []),
    ?assertEqual(40, length(Reports)),
    Cut = [R || R <- Reports, proplists:is_defined(decode_error, R)],
    ?assertEqual(length([x || {_, F, Len} <- frames(Config, "snap64.pcap"),
                              byte_size(F) < Len]),
                 length(Cut)),
    ?assert(length(Cut) > 20).

sniff_format() ->
    [{doc, "Ensure that the format option adds the whole frame as hex and "
           "as a binary, and that other epcap options (a filter) apply."}].
sniff_format(Config) ->
    Reports = sniff_reports(Config, "veth_mixed.pcap", [{format, [hex, binary]},
                                                        {filter, "arp"}]),
    ?assertEqual(2, length(Reports)),
    [{1, F1, _}, {1, F2, _} | _] = frames(Config, "veth_mixed.pcap"),
    ?assertEqual([F1, F2], [proplists:get_value(binary, R) || R <- Reports]),
    ?assertEqual(string:lowercase(binary:encode_hex(F1)),
                 list_to_binary(proplists:get_value(hex, hd(Reports)))).

escript() ->
    [{doc, "Ensure that bin/epcap-sniff -v -r FILE prints one report per packet "
           "and exits 0 at the end, applies a filter, and exits 2 with a "
           "usage message on an unknown option."}].
escript(Config) ->
    Script = filename:join([?config(root, Config), "bin", "epcap-sniff"]),
    File = filename:join(?config(data, Config), "veth_mixed.pcap"),
    {0, Out} = run(Script, ["-v", "-r", File]),
    Lines = string:split(Out, "\n", all),
    ?assertEqual(40, length([L || "pcap: " ++ _ = L <- Lines])),
    ?assertEqual(14, length([L || "ipv4: protocol=tcp" ++ _ = L <- Lines])),
    ?assert(lists:member("tcp: source_port=29 destination_port=52212 flags=[rst,ack] seq=0 "
                         "ack=2894483244 win=0 options=", Lines)),
    {0, Udp} = run(Script, ["-v", "-r", File, "udp", "port", "9997"]),
    ?assertEqual(1, length([L || "udp: " ++ _ = L <- string:split(Udp, "\n", all)])),
    ?assert(lists:member("icmp: type=3 code=3 (port unreachable) "
                         "quote: udp 10.212.0.1:50812 > 10.212.0.2:9997", Lines)),
    ?assert(lists:member("pcap: time=2026-11-26 16:14:07.108940Z caplen=42 len=42 "
                         "datalink=en10mb", Lines)),
    %% a nanosecond file prints nanoseconds; -l prints the local offset
    Nano = filename:join(?config(data, Config), "veth_mixed_nano.pcap"),
    {0, NanoOut} = run(Script, ["-v", "-r", Nano, "arp"]),
    ?assertMatch("pcap: time=2026-11-26 16:14:07.108940243Z " ++ _, NanoOut),
    {0, LocalOut} = run(Script, ["-v", "-l", "-r", File, "arp"]),
    ?assertMatch({match, _}, re:run(LocalOut, "^pcap: time=2026-11-2[67] [0-9:]{8}\\.[0-9]{6}[+-][0-9]{2}:[0-9]{2} ")),
    {2, Usage} = run(Script, ["-x"]),
    ?assertMatch("epcap-sniff: unknown option -x\nusage: epcap-sniff" ++ _, Usage).

icmp_resend() ->
    [{doc, "Ensure that icmp_resend injects exactly one copy of a ping "
           "arriving on a veth interface (from a test network namespace), "
           "identical to the request, as a second capture shows."}].
icmp_resend(Config) ->
    {V0, PeerAddr, Addr} = {?config(veth, Config), ?config(peer_addr, Config),
                            ?config(addr, Config)},
    {ok, Resender} = icmp_resend:start(V0, [{exec, ""}]),
    put(resender, Resender),
    {ok, Monitor} = epcap:start(self(), [{interface, V0}, {exec, ""},
                                         {filter, "icmp and icmp[icmptype] = icmp-echo"}]),
    put(monitor, Monitor),
    timer:sleep(500),
    {0, _} = run("ip", ["netns", "exec", ?config(netns, Config), "ping", "-c", "1",
                        "-W", "2", Addr]),
    Requests = collect_packets(2000),
    ?assertEqual(2, length(Requests)),
    [{ok, [_, #{src := Src, dst := Dst}, #{type := 8, seq := 1}, _]} | _]
        = [epcap_decode:decode(DLT, P) || {DLT, P} <- Requests],
    ?assertEqual({PeerAddr, Addr}, {epcap_decode:format_ip(Src), epcap_decode:format_ip(Dst)}),
    [Original, Copy] = [P || {_, P} <- Requests],
    ?assertEqual(Original, Copy),
    ?assertEqual(1, icmp_resend:resent(Resender)).

%%====================================================================
%% Helpers
%%====================================================================

frames(Config, File) ->
    {ok, Frames} = epcap_decode_tests:read_capture(filename:join(?config(data, Config), File)),
    Frames.

keys(Report) -> [K || {K, _} <- Report].

field(Layer, Key, Report) ->
    proplists:get_value(Key, proplists:get_value(Layer, Report)).

time_string({_, _, Micro} = Now) ->
    {{Y, Mo, D}, {H, Mi, S}} = calendar:now_to_universal_time(Now),
    lists:flatten(io_lib:format("~4..0b-~2..0b-~2..0b ~2..0b:~2..0b:~2..0b.~6..0bZ",
                                [Y, Mo, D, H, Mi, S, Micro])).

%% Run sniff over a file; the reports logged until it stops normally.
sniff_reports(Config, File, Options) ->
    Path = filename:join(?config(data, Config), File),
    {ok, Pid} = sniff:start([{file, Path}, {exec, ""} | Options]),
    Ref = monitor(process, Pid),
    receive
        {'DOWN', Ref, process, Pid, Reason} -> ?assertEqual(normal, Reason)
    after 30000 ->
            ct:fail(sniff_did_not_stop)
    end,
    collect_reports().

collect_reports() ->
    receive
        {sniff_report, Report} -> [Report | collect_reports()]
    after 500 ->
            []
    end.

collect_packets(Timeout) ->
    receive
        {packet, DLT, _Time, _Len, Packet} -> [{DLT, Packet} | collect_packets(Timeout)]
    after Timeout ->
            []
    end.

%% Run a program; its exit status and output (stdout and stderr).
run(Program, Args) ->
    Exe = case filename:pathtype(Program) of
              absolute -> Program;
              _ -> os:find_executable(Program)
          end,
    epcap_test_lib:run_program(Exe, Args).

%%--------------------------------------------------------------------
%% Network namespace for icmp_resend: one namespace epct_<id> holding one
%% end of a veth pair; the other end, epv_<id>0, stays in the root
%% namespace. Only the two test addresses 10.213.X.1/2 are used.
%%--------------------------------------------------------------------

can_make_namespaces() ->
    case {os:cmd("id -u"), os:find_executable("ip"), os:find_executable("ping")} of
        {"0\n", Ip, Ping} when Ip =/= false, Ping =/= false -> true;
        {"0\n", _, _} -> {false, "ip or ping not installed"};
        _ -> {false, "not root: cannot create network namespaces"}
    end.

make_namespace(Config) ->
    Id = integer_to_list(erlang:phash2(make_ref(), 16#FFFFF), 16),
    Net = integer_to_list(10 + rand:uniform(240)),
    {NetNs, V0, V1} = {"epct_" ++ Id, "epv_" ++ Id ++ "0", "epv_" ++ Id ++ "1"},
    %% EPCAP_TEST_NET=K moves the subnet to 10.<213-K>.X (parallel runs).
    Oct = "10." ++ integer_to_list(213 - epcap_test_lib:test_net_n()) ++ ".",
    {Addr, PeerAddr} = {Oct ++ Net ++ ".1", Oct ++ Net ++ ".2"},
    Config1 = [{netns, NetNs}, {veth, V0}, {addr, Addr}, {peer_addr, PeerAddr} | Config],
    Steps = [["netns", "add", NetNs],
             ["link", "add", V0, "type", "veth", "peer", "name", V1],
             ["link", "set", V1, "netns", NetNs],
             ["addr", "add", Addr ++ "/24", "dev", V0],
             ["link", "set", V0, "up"],
             ["netns", "exec", NetNs, "ip", "addr", "add", PeerAddr ++ "/24", "dev", V1],
             ["netns", "exec", NetNs, "ip", "link", "set", V1, "up"]],
    case lists:dropwhile(fun(Args) -> element(1, run("ip", Args)) =:= 0 end, Steps) of
        [] ->
            wait_up(V0, 50),
            Config1;
        [Failed | _] ->
            delete_namespace(Config1),
            {skip, {namespace_setup_failed, Failed}}
    end.

wait_up(_V0, 0) ->
    ok;
wait_up(V0, N) ->
    case run("ip", ["-o", "link", "show", V0]) of
        {0, Out} ->
            case string:find(Out, "LOWER_UP") of
                nomatch -> timer:sleep(100), wait_up(V0, N - 1);
                _ -> ok
            end;
        _ ->
            ok
    end.

delete_namespace(Config) ->
    _ = run("ip", ["link", "del", ?config(veth, Config)]),
    _ = run("ip", ["netns", "del", ?config(netns, Config)]),
    ok.
