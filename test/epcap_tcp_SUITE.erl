%%% @doc Common Test suite of TCP reassembly and IP defragmentation on real
%%% captures (test/data/flow_*.pcap, made by test/data/make_flow_captures.sh
%%% and tools/flow_variants.py): bin/epcap-flow's files against what
%%% tcpflow wrote and the streams as sent (golden files written by
%%% tools/flow_goldens.py; tcpflow and tshark are not run here), the
%%% defragmenter against tshark's reassembled datagrams, and the
%%% epcap_tcp_server capture process.
-module(epcap_tcp_SUITE).

-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").

-export([all/0, groups/0, init_per_suite/1, end_per_suite/1,
         init_per_group/2, end_per_group/2,
         init_per_testcase/2, end_per_testcase/2]).
-export([cli_golden/0, cli_golden/1,
         cli_bytes/0, cli_bytes/1,
         served_bodies/0, served_bodies/1,
         tshark_follow/0, tshark_follow/1,
         defrag_tshark/0, defrag_tshark/1,
         cli_errors/0, cli_errors/1,
         cli_symlink/0, cli_symlink/1,
         server_events/0, server_events/1,
         server_supervised/0, server_supervised/1,
         server_owner_exit/0, server_owner_exit/1,
         server_badarg/0, server_badarg/1,
         sniff_follow/0, sniff_follow/1,
         live_http/0, live_http/1,
         live_cli/0, live_cli/1,
         shuffled_real/0, shuffled_real/1]).

%% The test host of the live group: 10.<215+K>.127.0/24.
-define(HOST, 127).

%% The TCP captures; each is checked against X.truth.sha256 where tcpflow
%% is wrong (it does not reassemble IP fragments), else X.tcpflow.sha256.
-define(TCP, ["flow_http4", "flow_http6", "flow_reorder", "flow_dup", "flow_reseg",
              "flow_wrap", "flow_loss", "flow_frag4", "flow_frag6", "flow_qinq"]).
%% Where tshark's follow differs from the truth: it drops segments that
%% come late, and joins the bytes on both sides of a hole.
-define(TSHARK_WRONG, ["flow_reorder", "flow_loss"]).

all() ->
    [{group, cli}, defrag_tshark, shuffled_real, {group, server}, {group, live}].

groups() ->
    [{cli, [], [cli_golden, cli_bytes, served_bodies, tshark_follow, cli_errors, cli_symlink,
                sniff_follow]},
     {server, [], [server_events, server_supervised, server_owner_exit, server_badarg]},
     {live, [], [live_http, live_cli]}].

init_per_suite(Config) ->
    Root = root_dir(),
    {ok, _} = application:ensure_all_started(epcap),
    [{root, Root}, {data, filename:join([Root, "test", "data"])} | Config].

end_per_suite(_Config) ->
    ok.

init_per_group(live, Config) ->
    case epcap_test_lib:is_root() of
        true -> [{host, epcap_test_lib:netns_up(?HOST)} | Config];
        false -> {skip, "live captures need root (network namespaces)"}
    end;
init_per_group(_, Config) ->
    Config.

end_per_group(live, Config) ->
    epcap_test_lib:netns_down(?config(host, Config));
end_per_group(_, _Config) ->
    ok.

init_per_testcase(Case, Config) ->
    %% priv_dir is the run's: each case writes into a directory of its own.
    Out = filename:join(?config(priv_dir, Config), atom_to_list(Case) ++ "_out"),
    ok = filelib:ensure_path(Out),
    [{out, Out} | Config].

end_per_testcase(_Case, _Config) ->
    ok.

%%--------------------------------------------------------------------
%% bin/epcap-flow
%%--------------------------------------------------------------------

cli_golden() ->
    [{doc, "Ensure that bin/epcap-flow -r writes, for every capture (reordered, "
           "duplicated, re-segmented, wrapped, lossy, fragmented, QinQ), the "
           "files tcpflow writes, with the same names and bytes, and the streams "
           "as sent where tcpflow is wrong (IP fragments), and nothing else."}].
cli_golden(Config) ->
    Results = [{X, catch check_capture(X, Config)} || X <- ?TCP],
    ?assertEqual([], [R || {_, Res} = R <- Results, Res =/= ok]).

check_capture(X, Config) ->
    Out = flow(X, Config),
    Expected = expected(X, Config),
    ?assertEqual(Expected, manifest(Out)),
    ok.

cli_bytes() ->
    [{doc, "Ensure that the files bin/epcap-flow writes for the two recorded "
           "sessions are byte for byte those tcpflow wrote (kept in "
           "test/data/flow_http{4,6}.tcpflow/)."}].
cli_bytes(Config) ->
    [begin
         Out = flow(X, Config),
         Gold = filename:join(?config(data, Config), X ++ ".tcpflow"),
         {ok, Names} = file:list_dir(Gold),
         ?assertEqual(lists:sort(Names), lists:sort(element(2, file:list_dir(Out)))),
         [?assertEqual(read(filename:join(Gold, N)), read(filename:join(Out, N)))
          || N <- Names]
     end || X <- ["flow_http4", "flow_http6"]].

served_bodies() ->
    [{doc, "Ensure that the bodies of the HTTP responses bin/epcap-flow writes "
           "are the files the server served (their SHA-256 in "
           "flow_served.sha256)."}].
served_bodies(Config) ->
    Served = [{Size, Sha} || {_, Size, Sha} <- golden("flow_served.sha256", Config)],
    [begin
         Out = flow(X, Config),
         {ok, Names} = file:list_dir(Out),
         Bodies = [begin
                       [_, Body] = binary:split(read(filename:join(Out, N)), <<"\r\n\r\n">>),
                       {byte_size(Body), sha(Body)}
                   end || N <- Names, is_response(N)],
         ?assertEqual([], [B || B <- Bodies, not lists:member(B, Served)]),
         ?assert(length(Bodies) >= 3)
     end || X <- ["flow_http4", "flow_http6", "flow_wrap", "flow_reseg", "flow_frag6"]].

%% Responses come from port 8080.
is_response(Name) -> string:find(Name, ".08080-") =/= nomatch.

tshark_follow() ->
    [{doc, "Ensure that the streams agree with tshark -z follow,tcp,raw where "
           "tshark is right, and that where it is not (late segments dropped, "
           "a hole closed up) it differs from the truth that epcap-flow writes."}].
tshark_follow(Config) ->
    [begin
         Tshark = golden(X ++ ".tshark.sha256", Config),
         Truth = expected(X, Config),
         case lists:member(X, ?TSHARK_WRONG) of
             false -> ?assertEqual({X, Truth}, {X, Tshark});
             true -> ?assertNotEqual({X, Truth}, {X, Tshark})
         end
     end || X <- ?TCP].

cli_errors() ->
    [{doc, "Ensure that bin/epcap-flow exits 2 with a usage message on a bad "
           "command line and 1 when DIR is no directory or FILE no capture."}].
cli_errors(Config) ->
    Script = script(Config),
    File = filename:join(?config(data, Config), "flow_http4.pcap"),
    {2, Usage} = run(Script, []),
    ?assertMatch("usage: epcap-flow" ++ _, Usage),
    {2, _} = run(Script, ["-r", File]),
    {1, NoDir} = run(Script, ["-r", File, "-o", "/nonexistent/dir"]),
    ?assertMatch("epcap-flow: " ++ _, NoDir),
    {1, _} = run(Script, ["-r", "/nonexistent.pcap", "-o", ?config(out, Config)]),
    {0, _} = run(Script, ["-r", File, "-f", "port 1", "-o", ?config(out, Config)]),
    ?assertEqual({ok, []}, file:list_dir(?config(out, Config))).

cli_symlink() ->
    [{doc, "Ensure that bin/epcap-flow does not write through a symbolic link "
           "planted in DIR under a flow's name."}].
cli_symlink(Config) ->
    Out = ?config(out, Config),
    Target = filename:join(?config(priv_dir, Config), "victim"),
    ok = file:write_file(Target, <<"keep">>),
    ok = file:make_symlink(Target, filename:join(Out, "010.220.027.001.59852-010.220.027.002.08080")),
    File = filename:join(?config(data, Config), "flow_http4.pcap"),
    {1, Msg} = run(script(Config), ["-r", File, "-o", Out]),
    ?assertNotEqual(nomatch, string:find(Msg, "symlink")),
    ?assertEqual(<<"keep">>, read(Target)).

sniff_follow() ->
    [{doc, "Ensure that bin/epcap-sniff -F prints each connection's streams as "
           "tshark -z follow,tcp,ascii does: the nodes, then each piece of data "
           "with its length, the server's indented, the whole served body."}].
sniff_follow(Config) ->
    Script = filename:join([?config(root, Config), "bin", "epcap-sniff"]),
    File = filename:join(?config(data, Config), "flow_http6.pcap"),
    {0, Out} = run(Script, ["-F", "-r", File]),
    Lines = string:split(Out, "\n", all),
    ?assertEqual(3, length([L || "Follow: tcp,ascii" = L <- Lines])),
    ?assert(lists:member("Node 1: [fd00:220:27::2]:8080", Lines)),
    ?assert(lists:member("GET /small.txt HTTP/1.1.", Lines)),
    ?assert(lists:member("\t188", Lines)),
    ?assertEqual(3, length([L || "Closed (fin): " ++ _ = L <- Lines])),
    %% Every byte once: the lengths printed add up to the streams' sizes.
    Sizes = [list_to_integer(string:trim(L, leading, "\t")) || L <- Lines,
                                                               is_count(L)],
    Total = lists:sum([S || {_, S, _} <- golden("flow_http6.tcpflow.sha256", Config)]),
    ?assertEqual(Total, lists:sum(Sizes)).

is_count(L) ->
    T = string:trim(L, leading, "\t"),
    T =/= "" andalso lists:all(fun(C) -> C >= $0 andalso C =< $9 end, T)
        andalso (hd(L) =:= $\t orelse length(T) < 4).

%%--------------------------------------------------------------------
%% Defragmentation
%%--------------------------------------------------------------------

defrag_tshark() ->
    [{doc, "Ensure that epcap_defrag gives back the UDP datagrams the kernel "
           "fragmented (IPv4 and IPv6; in order, and backwards with fragments "
           "again), at the frames where tshark reassembles them, with the "
           "payloads tshark shows."}].
defrag_tshark(Config) ->
    [begin
         Frames = frames(X, Config),
         {Got, _} = lists:foldl(
                      fun({N, DLT, F}, {Acc, D}) ->
                              case epcap_defrag:frame(DLT, F, 0, D) of
                                  {{ok, Ip}, D1} -> {[{N, udp_payload(Ip)} | Acc], D1};
                                  {_, D1} -> {Acc, D1}
                              end
                      end, {[], epcap_defrag:new()}, Frames),
         Mine = [{integer_to_binary(N), byte_size(P), sha(P)} || {N, P} <- lists:reverse(Got)],
         ?assertEqual({X, golden(X ++ ".tshark.sha256", Config)}, {X, Mine})
     end || X <- ["flow_frag", "flow_frag_rev"]].

udp_payload(<<4:4, IHL:4, _:8/binary, 17, _/binary>> = Ip) ->
    H = IHL * 4,
    <<_:H/binary, _:8/binary, P/binary>> = Ip,
    P;
udp_payload(<<6:4, _:44, 17, _:8, _:32/binary, _:8/binary, P/binary>>) ->
    P.

%% Every frame of a capture, numbered from 1, read through epcap.
frames(X, Config) ->
    File = filename:join(?config(data, Config), X ++ ".pcap"),
    {ok, Pid} = epcap:start_link([{file, File}, {deliver, batch}]),
    collect(Pid, []).

collect(Pid, Acc) ->
    receive
        {epcap_batch, Pid, B} ->
            DLT = epcap:link_type(B),
            collect(Pid, epcap:fold(fun(_, _, F, A) -> [{length(A) + 1, DLT, F} | A] end, Acc, B));
        {epcap, eof} ->
            lists:reverse(Acc)
    after 10000 ->
            ct:fail(timeout)
    end.

shuffled_real() ->
    [{doc, "Ensure that the recorded sessions, each connection's data segments "
           "permuted at random among their places and some duplicated (30 "
           "rounds per capture), reassemble to the bytes tcpflow wrote for them "
           "as recorded."}].
shuffled_real(Config) ->
    [begin
         Frames = [{DLT, F} || {_, DLT, F} <- frames(X, Config)],
         Gold = filename:join(?config(data, Config), X ++ ".tcpflow"),
         {ok, Names} = file:list_dir(Gold),
         Expected = lists:sort([summary(list_to_binary(N), read(filename:join(Gold, N)))
                                || N <- Names]),
         [begin
              rand:seed(exsss, {Round, 27, 7}),
              Mixed = duplicate(permute(Frames)),
              ?assertEqual({X, Round, Expected}, {X, Round, reassemble(Mixed)})
          end || Round <- lists:seq(1, 30)]
     end || X <- ["flow_http4", "flow_http6"]].

%% Each connection's data segments permuted among their own places.
permute(Frames) ->
    Tagged = [{flow_key(DLT, F), DF} || {DLT, F} = DF <- Frames],
    Keys = lists:usort([K || {K, _} <- Tagged, K =/= control]),
    Shuffled = maps:from_list(
                 [{K, [DF || {_, DF} <- lists:sort([{rand:uniform(), DF}
                                                    || {K1, DF} <- Tagged, K1 =:= K])]}
                  || K <- Keys]),
    {Out, _} = lists:mapfoldl(fun({control, DF}, M) -> {DF, M};
                                 ({K, _}, M) ->
                                      [Next | Rest] = maps:get(K, M),
                                      {Next, M#{K := Rest}}
                              end, Shuffled, Tagged),
    Out.

%% A copy of about one frame in six, a few places later.
duplicate(Frames) ->
    duplicate(Frames, []).
duplicate([], Acc) -> lists:reverse(Acc);
duplicate([F | T], Acc) ->
    case rand:uniform(6) of
        1 ->
            {A, B} = lists:split(min(length(T), rand:uniform(5)), T),
            duplicate(A ++ [F | B], [F | Acc]);
        _ -> duplicate(T, [F | Acc])
    end.

%% The ports of a data segment, or `control' for a segment with no data.
flow_key(DLT, Frame) ->
    {ok, Ip} = epcap_l3:ip(DLT, Frame),
    {Tcp, PayloadLen} = case Ip of
                            <<4:4, IHL:4, _:8, Len:16, _/binary>> ->
                                <<_:(IHL * 4)/binary, T/binary>> = Ip,
                                {T, Len - IHL * 4};
                            <<6:4, _:28, PLen:16, _:34/binary, T/binary>> ->
                                {T, PLen}
                        end,
    <<SP:16, DP:16, _:64, DOff:4, _/bitstring>> = Tcp,
    case PayloadLen - DOff * 4 of
        0 -> control;
        _ -> lists:sort([SP, DP])
    end.

%% The streams, named as tcpflow names them.
reassemble(Frames) ->
    {Ev, T} = lists:foldl(fun({DLT, F}, {Acc, T0}) ->
                                  {E, T1} = epcap_tcp:frame(DLT, F, 0, T0),
                                  {[E | Acc], T1}
                          end, {[], epcap_tcp:new()}, Frames),
    {Last, _} = epcap_tcp:flush(T),
    All = lists:append(lists:reverse([Last | Ev])),
    Dirs = lists:usort([{F, D} || {data, F, D, _, _} <- All]),
    lists:sort([summary(epcap_tcpflow:name(F, D), stream([E || E <- All, element(2, E) =:= F], D))
                || {F, D} <- Dirs]).

summary(Name, Bytes) -> {Name, byte_size(Bytes), sha(Bytes)}.

%%--------------------------------------------------------------------
%% epcap_tcp_server
%%--------------------------------------------------------------------

server_events() ->
    [{doc, "Ensure that epcap_tcp_server sends its owner, for each connection "
           "of a capture, open, the data of each direction at its offsets, and "
           "close, in that order, then eof, with the bytes tcpflow wrote, and "
           "exits normally."}].
server_events(Config) ->
    File = filename:join(?config(data, Config), "flow_reseg.pcap"),
    {ok, Pid} = epcap_tcp_server:start_link(self(), [{file, File}]),
    Ref = monitor(process, Pid),
    Events = server_collect(Pid, []),
    receive {'DOWN', Ref, process, Pid, Why} -> ?assertEqual(normal, Why) after 5000 -> ct:fail(no_exit) end,
    Flows = lists:usort([F || {open, F} <- Events]),
    ?assertEqual(4, length(Flows)),
    [begin
         Mine = [E || E <- Events, element(2, E) =:= F],
         ?assertMatch({open, F}, hd(Mine)),
         ?assertMatch({close, F, fin}, lists:last(Mine)),
         [?assertEqual(read(filename:join([?config(data, Config), "flow_http4.tcpflow",
                                           epcap_tcpflow:name(F, D)])),
                       stream(Mine, D)) || D <- [client, server]]
     end || F <- Flows].

server_collect(Pid, Acc) ->
    receive
        {epcap_tcp, Pid, eof} -> lists:reverse(Acc);
        {epcap_tcp, Pid, E} -> server_collect(Pid, [E | Acc])
    after 10000 ->
            ct:fail({timeout, length(Acc)})
    end.

stream(Events, Dir) ->
    {_, Bytes} = lists:foldl(fun({data, _, D, Off, B}, {Off, Acc}) when D =:= Dir ->
                                     {Off + byte_size(B), [Acc | B]};
                                (_, A) -> A
                             end, {0, []}, Events),
    iolist_to_binary(Bytes).

server_supervised() ->
    [{doc, "Ensure that epcap_tcp_server as a transient child of a supervisor "
           "ends normally at the end of a file and is not restarted."}].
server_supervised(Config) ->
    File = filename:join(?config(data, Config), "flow_http6.pcap"),
    Child = #{id => flow, start => {epcap_tcp_server, start_link, [self(), [{file, File}]]},
              restart => transient, type => worker, modules => [epcap_tcp_server]},
    {ok, Sup} = supervisor:start_link(epcap_tcp_SUITE_sup, Child),
    [{flow, Pid, worker, _}] = supervisor:which_children(Sup),
    _ = server_collect(Pid, []),
    timer:sleep(200),
    ?assertMatch([{flow, undefined, worker, _}], supervisor:which_children(Sup)),
    unlink(Sup),
    exit(Sup, shutdown).

server_owner_exit() ->
    [{doc, "Ensure that epcap_tcp_server and its capture stop when the owner "
           "exits."}].
server_owner_exit(Config) ->
    File = filename:join(?config(data, Config), "flow_http4.pcap"),
    Self = self(),
    Owner = spawn(fun() ->
                          {ok, P} = epcap_tcp_server:start(self(), [{file, File}]),
                          Self ! {server, P, epcap_tcp_server:capture(P)},
                          receive stop -> ok end
                  end),
    {Pid, Cap} = receive {server, P, C} -> {P, C} after 5000 -> ct:fail(no_server) end,
    Refs = [monitor(process, X) || X <- [Pid, Cap]],
    Owner ! stop,
    [receive {'DOWN', R, process, _, _} -> ok after 5000 -> ct:fail(not_stopped) end
     || R <- Refs].

server_badarg() ->
    [{doc, "Ensure that epcap_tcp_server refuses options it sets itself and bad "
           "reassembly options with {error, {badarg, _}}, and passes the "
           "capture's errors on."}].
server_badarg(Config) ->
    File = filename:join(?config(data, Config), "flow_http4.pcap"),
    ?assertEqual({error, {badarg, {deliver, packet}}},
                 epcap_tcp_server:start(self(), [{file, File}, {deliver, packet}])),
    ?assertEqual({error, {badarg, {tcp, {max_flows, 0}}}},
                 epcap_tcp_server:start(self(), [{file, File}, {tcp, [{max_flows, 0}]}])),
    ?assertMatch({error, _}, epcap_tcp_server:start(self(), [{file, "/nonexistent.pcap"}])).

live_http() ->
    [{doc, "Ensure that epcap_tcp_server on a live interface gives the owner "
           "the streams of HTTP transfers made while it runs (a test host "
           "serving with python3 -m http.server, curl here, offloads off so "
           "that frames are MTU-sized): each response body is the file "
           "served, once, in order, and each connection closes with fin."}].
live_http(Config) ->
    #{a := If, b := B, peer := Peer} = Host = ?config(host, Config),
    Srv = filename:join(?config(priv_dir, Config), "srv"),
    ok = filelib:ensure_path(Srv),
    Body = crypto:strong_rand_bytes(300000),
    ok = file:write_file(filename:join(Srv, "f.bin"), Body),
    _ = os:cmd("ethtool -K " ++ If ++ " tso off gso off gro off 2>/dev/null"),
    _ = epcap_test_lib:ns_exec(Host, "ethtool -K " ++ B ++ " tso off gso off gro off"),
    PeerS = inet:ntoa(Peer),
    Httpd = open_port({spawn_executable, os:find_executable("ip")},
                      [{args, ["netns", "exec", maps:get(ns, Host), "python3", "-m",
                               "http.server", "--bind", PeerS, "--directory", Srv, "8080"]},
                       exit_status, stderr_to_stdout]),
    {os_pid, HttpdPid} = erlang:port_info(Httpd, os_pid),
    try
        timer:sleep(1500),
        {ok, Pid} = epcap_tcp_server:start_link(self(), [{interface, If},
                                                         {filter, "tcp port 8080"}]),
        timer:sleep(300),
        [_ = os:cmd("curl -s --retry 20 --retry-delay 1 --retry-connrefused -o /dev/null "
                    "http://" ++ PeerS ++ ":8080/f.bin") || _ <- [1, 2]],
        Events = live_collect(Pid, 2, []),
        epcap_tcp_server:stop(Pid),
        %% Attempts refused while the server started end with rst.
        Flows = [F || {close, F, fin} <- Events],
        ?assertEqual(2, length(Flows)),
        [begin
             Mine = [E || E <- Events, element(2, E) =:= F],
             [_, Got] = binary:split(stream(Mine, server), <<"\r\n\r\n">>),
             ?assertEqual(byte_size(Body), byte_size(Got)),
             ?assert(Got =:= Body),
             ?assertMatch({close, F, fin}, lists:last(Mine)),
             ?assertEqual([], [G || {gap, _, _, _, _} = G <- Mine])
         end || F <- Flows]
    after
        os:cmd("kill " ++ integer_to_list(HttpdPid)),
        catch port_close(Httpd)
    end.

live_cli() ->
    [{doc, "Ensure that bin/epcap-flow -i IFACE writes the streams of HTTP "
           "transfers as they happen (its buffers go out every second), the "
           "response's body the file served."}].
live_cli(Config) ->
    #{a := If, peer := Peer} = Host = ?config(host, Config),
    Srv = filename:join(?config(priv_dir, Config), "srv_cli"),
    ok = filelib:ensure_path(Srv),
    Body = crypto:strong_rand_bytes(200000),
    ok = file:write_file(filename:join(Srv, "g.bin"), Body),
    PeerS = inet:ntoa(Peer),
    Httpd = open_port({spawn_executable, os:find_executable("ip")},
                      [{args, ["netns", "exec", maps:get(ns, Host), "python3", "-m",
                               "http.server", "--bind", PeerS, "--directory", Srv, "8081"]},
                       exit_status, stderr_to_stdout]),
    {os_pid, HttpdPid} = erlang:port_info(Httpd, os_pid),
    Out = ?config(out, Config),
    Flow = open_port({spawn_executable, script(Config)},
                     [{args, ["-i", If, "-f", "tcp port 8081", "-o", Out]},
                      exit_status, stderr_to_stdout]),
    {os_pid, FlowPid} = erlang:port_info(Flow, os_pid),
    try
        wait_output(Flow, "capturing on", 30000),
        timer:sleep(1500),     % and the server is up
        _ = os:cmd("curl -s --retry 20 --retry-delay 1 --retry-connrefused -o /dev/null "
                   "http://" ++ PeerS ++ ":8081/g.bin"),
        %% The buffers go out within a second; give a loaded machine ten.
        Got = wait_body(Out, byte_size(Body), 20),
        ?assert(Got =:= Body),
        ?assertEqual({ok, 2}, {ok, length(element(2, file:list_dir(Out)))})
    after
        os:cmd("kill " ++ integer_to_list(FlowPid) ++ " " ++ integer_to_list(HttpdPid)),
        catch port_close(Flow),
        catch port_close(Httpd)
    end.

wait_output(Port, What, Timeout) ->
    receive
        {Port, {data, D}} ->
            case string:find(D, What) of
                nomatch -> wait_output(Port, What, Timeout);
                _ -> ok
            end;
        {Port, {exit_status, S}} -> ct:fail({exited, S})
    after Timeout -> ct:fail({no_output, What})
    end.

%% The body of the one response written to Out, once it is whole.
wait_body(Out, Size, Tries) ->
    {ok, Names} = file:list_dir(Out),
    Body = case [N || N <- Names, string:find(N, ".08081-") =/= nomatch] of
               [Resp] ->
                   case binary:split(read(filename:join(Out, Resp)), <<"\r\n\r\n">>) of
                       [_, B] -> B;
                       _ -> <<>>
                   end;
               _ -> <<>>
           end,
    case byte_size(Body) >= Size of
        true -> Body;
        false when Tries > 0 -> timer:sleep(500), wait_body(Out, Size, Tries - 1);
        false -> ct:fail({incomplete, byte_size(Body), Names})
    end.

%% Events until N connections closed with fin.
live_collect(_Pid, 0, Acc) ->
    lists:reverse(Acc);
live_collect(Pid, N, Acc) ->
    receive
        {epcap_tcp, Pid, {close, _, fin} = E} -> live_collect(Pid, N - 1, [E | Acc]);
        {epcap_tcp, Pid, E} -> live_collect(Pid, N, [E | Acc])
    after 20000 ->
            ct:fail({timeout, lists:reverse(Acc)})
    end.

%%--------------------------------------------------------------------
%% Helpers
%%--------------------------------------------------------------------

script(Config) -> filename:join([?config(root, Config), "bin", "epcap-flow"]).

%% Run bin/epcap-flow on a capture into a fresh directory.
flow(X, Config) ->
    Out = filename:join(?config(priv_dir, Config), X ++ "-" ++ integer_to_list(erlang:unique_integer([positive]))),
    ok = file:make_dir(Out),
    File = filename:join(?config(data, Config), X ++ ".pcap"),
    {0, _} = run(script(Config), ["-r", File, "-o", Out]),
    Out.

expected(X, Config) ->
    Truth = filename:join(?config(data, Config), X ++ ".truth.sha256"),
    case filelib:is_regular(Truth) of
        true -> golden(X ++ ".truth.sha256", Config);
        false -> golden(X ++ ".tcpflow.sha256", Config)
    end.

golden(Name, Config) ->
    Bin = read(filename:join(?config(data, Config), Name)),
    [begin
         [N, S, H] = binary:split(L, <<" ">>, [global]),
         {N, binary_to_integer(S), H}
     end || L <- binary:split(Bin, <<"\n">>, [global, trim_all])].

manifest(Dir) ->
    {ok, Names} = file:list_dir(Dir),
    [begin
         B = read(filename:join(Dir, N)),
         {list_to_binary(N), byte_size(B), sha(B)}
     end || N <- lists:sort(Names)].

sha(B) -> string:lowercase(binary:encode_hex(crypto:hash(sha256, B))).

read(F) ->
    {ok, B} = file:read_file(F),
    B.

run(Program, Args) ->
    epcap_test_lib:run_program(Program, Args).

%% The checkout: the directory holding bin/epcap-flow (epcap_test_lib).
root_dir() -> epcap_test_lib:root_dir("bin/epcap-flow").
