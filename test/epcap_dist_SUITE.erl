%%% epcap beyond one node and one language: a capture on a peer node whose
%%% owner lives here, and Elixir using the compiled application.
-module(epcap_dist_SUITE).
-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").

-compile([export_all, nowarn_export_all]).

all() -> [remote_capture_local_owner, remote_capture_stops_with_owner, elixir_script].

init_per_suite(Config) ->
    {ok, _} = application:ensure_all_started(epcap),
    Config.
end_per_suite(_) -> ok.

init_per_testcase(elixir_script, Config) ->
    case os:find_executable("elixir") of
        false -> {skip, "elixir not installed (apt-get install elixir)"};
        _ -> Config
    end;
init_per_testcase(_, Config) ->
    case ensure_distributed() of
        ok ->
            {ok, Peer, Node} = peer:start_link(#{name => peer:random_name(),
                                                 args => ["-pa" | code:get_path()]}),
            {ok, _} = erpc:call(Node, application, ensure_all_started, [epcap]),
            [{peer, Peer}, {node, Node} | Config];
        {error, R} ->
            {skip, {not_distributed, R}}
    end.

end_per_testcase(_, Config) ->
    case proplists:get_value(peer, Config) of
        undefined -> ok;
        Peer -> catch peer:stop(Peer)
    end,
    epcap_test_lib:flush().

ensure_distributed() ->
    case node() of
        nonode@nohost ->
            _ = os:cmd("epmd -daemon"),
            timer:sleep(200),
            case net_kernel:start([list_to_atom("epcap_ct_" ++ os:getpid()), shortnames]) of
                {ok, _} -> ok;
                {error, R} -> {error, R}
            end;
        _ -> ok
    end.

remote_opts() ->
    epcap_test_lib:opts([{interface, "lo"}, {filter, "udp dst port 7201"}]).

send_udp(N) ->
    {ok, S} = gen_udp:open(0, [binary, {ip, {127, 0, 0, 1}}]),
    [ok = gen_udp:send(S, {127, 0, 0, 1}, 7201, <<I:32>>) || I <- lists:seq(1, N)],
    gen_udp:close(S).

remote_capture_local_owner() ->
    [{doc, "Ensure that a capture started on another node delivers its "
      "packets to an owner on this node (many capture nodes, one collector)"}].
remote_capture_local_owner(Config) ->
    Node = ?config(node, Config),
    {ok, Pid} = erpc:call(Node, epcap, start, [self(), remote_opts()]),
    ?assertEqual(Node, node(Pid)),
    send_udp(5),
    Got = epcap_test_lib:collect(1000, []),
    ?assertEqual([<<I:32>> || I <- lists:seq(1, 5)],
                 [binary:part(P, 42, 4) || {packet, 1, _, _, P} <- Got]),
    ok = epcap:stop(Pid).

remote_capture_stops_with_owner() ->
    [{doc, "Ensure that when the owner on this node exits, the capture on the "
      "remote node stops, and its port with it"}].
remote_capture_stops_with_owner(Config) ->
    Node = ?config(node, Config),
    Self = self(),
    Owner = spawn(fun() -> receive stop -> ok end end),
    {ok, Pid} = erpc:call(Node, epcap, start, [Owner, remote_opts()]),
    OsPid = element(5, erpc:call(Node, sys, get_state, [Pid])),
    Ref = monitor(process, Pid),
    Owner ! stop,
    receive {'DOWN', Ref, process, Pid, _} -> ok after 2000 -> ct:fail(remote_alive) end,
    ?assert(epcap_test_lib:wait_gone(OsPid, 1000)),
    Self ! done.

elixir_script() ->
    [{doc, "Ensure that the Elixir example reads a capture through :epcap"}].
elixir_script(_Config) ->
    Ebin = filename:dirname(code:which(epcap)),
    Script = filename:join([code:lib_dir(epcap), "test", "elixir", "capture.exs"]),
    {0, Out} = epcap_test_lib:cmd("elixir -pa " ++ Ebin ++ " " ++ Script ++ " "
                                  ++ epcap_test_lib:data("veth_mixed.pcap")),
    ct:log("~s", [Out]),
    ?assertNotEqual(nomatch, string:find(Out, "elixir: 40 packets, 3891 bytes")).
