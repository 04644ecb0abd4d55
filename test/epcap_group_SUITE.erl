%%% Capture groups: kernel PACKET_FANOUT through the {fanout, ...} option
%%% and epcap_group, live on a test host (network namespace + veth), and
%%% across peer nodes. Traffic goes only to the test host's address.
-module(epcap_group_SUITE).
-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").

-compile([export_all, nowarn_export_all]).

-import(epcap_test_lib, [opts/1]).

-define(DPORT, 7300).
-define(FLOWS, 64).
-define(PER_FLOW, 40).
%% lb: each member's share within this fraction of N/members.
-define(LB_TOLERANCE, 0.15).

all() ->
    [tagged_file, fanout_with_file_refused, fanout_conflict_is_error,
     hash_two_members, hash_four_members, hash_ring_v3, lb_spreads_evenly,
     member_killed_rejoins, stats_summed, group_on_peer_nodes].

init_per_suite(Config) ->
    {ok, _} = application:ensure_all_started(epcap),
    case epcap_test_lib:is_root() andalso os:type() =:= {unix, linux} of
        true -> [{host, epcap_test_lib:netns_up(31)} | Config];
        false -> {skip, "live fanout tests need root on Linux"}
    end.

end_per_suite(Config) ->
    epcap_test_lib:netns_down(?config(host, Config)).

init_per_testcase(_, Config) -> Config.
end_per_testcase(_, _Config) -> epcap_test_lib:flush().

%%====================================================================
%% Helpers
%%====================================================================

%% A fresh group id per case: kernel groups outlive nothing, but a case
%% must not join one whose last member is still closing.
group_id() -> erlang:unique_integer([positive]) rem 60000 + 1000.

capture_opts(Host, Extra) ->
    opts([{interface, maps:get(a, Host)}, {filter, filter(Host)},
          {snaplen, 128} | Extra]).

filter(#{peer := P}) ->
    "udp and dst host " ++ inet:ntoa(P) ++ " and dst port " ++ integer_to_list(?DPORT).

%% Flows 0..Flows-1, each from its own source port, PerFlow packets each,
%% payload <<Flow:16, Seq:32>>; a short pause between rounds keeps the
%% rate well within what one capture takes without loss.
send_flows(#{local := L, peer := P}, First, Flows, PerFlow) ->
    Socks = [begin {ok, S} = gen_udp:open(0, [binary, {ip, L}]), {F, S} end
             || F <- lists:seq(First, First + Flows - 1)],
    _ = [begin
             _ = [ok = gen_udp:send(S, P, ?DPORT, <<F:16, Seq:32>>) || {F, S} <- Socks],
             timer:sleep(2)
         end || Seq <- lists:seq(1, PerFlow)],
    _ = [gen_udp:close(S) || {_, S} <- Socks],
    ok.

%% Tagged packets from any member until quiet for Ms: [{Member, {Flow, Seq}}].
collect_tagged(Ms) -> collect_tagged(Ms, []).
collect_tagged(Ms, Acc) ->
    receive
        {epcap_packet, M, _, _, _, <<_:42/binary, F:16, Seq:32, _/binary>>} ->
            collect_tagged(Ms, [{M, {F, Seq}} | Acc])
    after Ms -> lists:reverse(Acc)
    end.

%% Ready means the socket joined; a few ms more so the kernel's member
%% array is settled before the first packet.
settle() -> timer:sleep(200).

expected(First, Flows, PerFlow) ->
    lists:sort([{F, S} || F <- lists:seq(First, First + Flows - 1),
                          S <- lists:seq(1, PerFlow)]).

%% The checks of the hash cases: union = reference, no duplicates, each
%% flow on one member, every member used.
check_hash(Got, Ref, Members) ->
    Keys = [K || {M, K} <- Got, lists:member(M, Members)],
    ?assertEqual(length(Keys), length(lists:usort(Keys))),           % no duplicates
    ?assertEqual(lists:sort(Ref), lists:sort(Keys)),                  % union = single
    ByFlow = lists:foldl(fun({M, {F, _}}, Acc) ->
                                 maps:update_with(F, fun(S) -> sets:add_element(M, S) end,
                                                  sets:from_list([M]), Acc)
                         end, #{}, [G || {M, _} = G <- Got, lists:member(M, Members)]),
    [?assertEqual({F, 1}, {F, sets:size(S)}) || {F, S} <- maps:to_list(ByFlow)],  % one member a flow
    Used = lists:usort([M || {M, _} <- Got, lists:member(M, Members)]),
    ?assertEqual(lists:sort(Members), Used).

%% The reference: a capture outside the group, which sees everything.
reference(Host) ->
    {ok, Ref} = epcap:start(capture_opts(Host, [{tagged, true}])),
    Ref.

hash_case(Host, N) -> hash_case(Host, N, []).

hash_case(Host, N, Extra) ->
    Ref = reference(Host),
    {ok, G} = epcap_group:start_link(N, capture_opts(Host, [{fanout, {group_id(), hash}}
                                                            | Extra])),
    Members = [P || {_, P} <- epcap_group:members(G)],
    ?assertEqual(N, length(Members)),
    settle(),
    ok = send_flows(Host, 0, ?FLOWS, ?PER_FLOW),
    Got = collect_tagged(500),
    RefKeys = [K || {M, K} <- Got, M =:= Ref],
    ?assertEqual(expected(0, ?FLOWS, ?PER_FLOW), lists:sort(RefKeys)),
    check_hash(Got, RefKeys, Members),
    ok = epcap_group:stop(G),
    ok = epcap:stop(Ref).

%%====================================================================
%% Cases
%%====================================================================

tagged_file() ->
    [{doc, "Ensure that {tagged, true} names the server in every packet and in "
      "the end of the capture"}].
tagged_file(_Config) ->
    {ok, Pid} = epcap:start(opts([{file, epcap_test_lib:data("veth_mixed.pcap")},
                                  {tagged, true}])),
    Count = fun Loop(N) ->
                    receive
                        {epcap_packet, Pid, 1, {_, _, _}, _, _} -> Loop(N + 1);
                        {epcap_eof, Pid} -> N
                    after 5000 -> {timeout, N}
                    end
            end,
    ?assertEqual(40, Count(0)),
    ?assertEqual([], epcap_test_lib:collect(100, [])).

fanout_with_file_refused() ->
    [{doc, "Ensure that a fanout with a file is a badarg that names why, for a "
      "capture and for a group"}].
fanout_with_file_refused(_Config) ->
    File = {file, epcap_test_lib:data("veth_mixed.pcap")},
    {error, {badarg, {fanout, Why}}} = epcap:start(opts([File, {fanout, {5, lb}}])),
    ?assertNotEqual(nomatch, string:find(Why, "live")),
    ?assertMatch({error, {member, 1, {badarg, {fanout, _}}}},
                 epcap_group:start(2, opts([File, {fanout, {5, lb}}]))).

fanout_conflict_is_error(Config) ->
    Host = ?config(host, Config),
    Id = group_id(),
    {ok, A} = epcap:start(capture_opts(Host, [{fanout, {Id, hash}}])),
    {error, {fanout, Msg}} = epcap:start(capture_opts(Host, [{fanout, {Id, lb}}])),
    ct:log("~s", [Msg]),
    ?assertNotEqual(nomatch, string:find(Msg, integer_to_list(Id))),
    %% The member already in the group is untouched by the refusal.
    ?assert(is_process_alive(A)),
    ok = epcap:stop(A).
fanout_conflict_is_error() ->
    [{doc, "Ensure that joining a group with another mode is {error, {fanout, "
      "Msg}} from the port (the kernel's EINVAL) and leaves the group alone"}].

hash_two_members() ->
    [{doc, "Ensure that with hash fanout and 2 members every packet reaches "
      "exactly one member, the union is what a single capture sees, and "
      "every flow stays on one member"}].
hash_two_members(Config) ->
    hash_case(?config(host, Config), 2).

hash_four_members() ->
    [{doc, "Ensure the same as hash_two_members with 4 members"}].
hash_four_members(Config) ->
    hash_case(?config(host, Config), 4).

hash_ring_v3() ->
    [{doc, "Ensure that fanout works on libpcap's TPACKET_V3 ring (a timeout "
      "instead of immediate mode, which uses TPACKET_V2): 2 members, same checks"}].
hash_ring_v3(Config) ->
    hash_case(?config(host, Config), 2, [{timeout, 10}]).

lb_spreads_evenly() ->
    [{doc, "Ensure that lb fanout gives each of 2 members its share within "
      "15% of an even split, with no duplicates and nothing lost"}].
lb_spreads_evenly(Config) ->
    Host = ?config(host, Config),
    {ok, G} = epcap_group:start_link(2, capture_opts(Host, [{fanout, {group_id(), lb}}])),
    Members = [P || {_, P} <- epcap_group:members(G)],
    settle(),
    ok = send_flows(Host, 0, 8, 100),
    Got = collect_tagged(500),
    Keys = [K || {_, K} <- Got],
    ?assertEqual(expected(0, 8, 100), lists:sort(Keys)),
    Even = length(Keys) / 2,
    Shares = [length([x || {M, _} <- Got, M =:= P]) || P <- Members],
    ct:log("lb shares ~p of ~p", [Shares, length(Keys)]),
    [?assert(abs(S - Even) =< ?LB_TOLERANCE * Even) || S <- Shares],
    ok = epcap_group:stop(G).

member_killed_rejoins() ->
    [{doc, "Ensure that a member killed mid-stream is restarted into the same "
      "group, the other member keeps capturing meanwhile, and after the "
      "restart the group again delivers every packet exactly once"}].
member_killed_rejoins(Config) ->
    Host = ?config(host, Config),
    {ok, G} = epcap_group:start_link(2, capture_opts(Host, [{fanout, {group_id(), hash}}])),
    [{1, A}, {2, B}] = epcap_group:members(G),
    settle(),
    Sender = spawn_link(fun() -> send_flows(Host, 0, 32, 100) end),
    timer:sleep(80),
    exit(B, kill),
    ?assert(wait_restarted(G, 2, B, 5000)),
    [{1, A}, {2, B2}] = epcap_group:members(G),
    ?assert(is_process_alive(A)),
    wait_exit(Sender),
    During = collect_tagged(500),
    ?assert(length([x || {M, _} <- During, M =:= A]) > 0),
    %% After the rejoin: a new round of flows, split again over both.
    settle(),
    ok = send_flows(Host, 100, ?FLOWS, 20),
    After = collect_tagged(500),
    check_hash(After, expected(100, ?FLOWS, 20), [A, B2]),
    ok = epcap_group:stop(G).

stats_summed() ->
    [{doc, "Ensure that group stats give each member's counts and their sum"}].
stats_summed(Config) ->
    Host = ?config(host, Config),
    {ok, G} = epcap_group:start_link(3, capture_opts(Host, [{fanout, {group_id(), lb}}])),
    settle(),
    ok = send_flows(Host, 0, 6, 50),
    Got = collect_tagged(500),
    {ok, #{members := Each, total := Total}} = epcap_group:stats(G),
    ?assertEqual([1, 2, 3], [I || {I, _} <- Each]),
    Sum = lists:sum([R || {_, #{received := R}} <- Each]),
    ?assertEqual(Sum, maps:get(received, Total)),
    ?assertEqual(300, length(Got)),
    ?assert(maps:get(received, Total) >= 300),
    ok = epcap_group:stop(G).

group_on_peer_nodes() ->
    [{doc, "Ensure that a group whose 2 members run on 2 peer nodes delivers "
      "every packet exactly once, split by flow, to an owner on this (a "
      "third) node, and stops its remote members when stopped"}].
group_on_peer_nodes(Config) ->
    case ensure_distributed() of
        ok -> peer_group(?config(host, Config));
        {error, R} -> {skip, {not_distributed, R}}
    end.

peer_group(Host) ->
    Peers = [start_peer() || _ <- [1, 2]],
    try
        Nodes = [N || {_, N} <- Peers],
        {ok, G} = epcap_group:start_link(2, [{nodes, Nodes}
                                             | capture_opts(Host, [{fanout, {group_id(), hash}}])]),
        Members = [P || {_, P} <- epcap_group:members(G)],
        ?assertEqual(lists:sort(Nodes), lists:sort([node(P) || P <- Members])),
        settle(),
        ok = send_flows(Host, 0, ?FLOWS, 10),
        Got = collect_tagged(800),
        check_hash(Got, expected(0, ?FLOWS, 10), Members),
        Mons = [monitor(process, P) || P <- Members],
        ok = epcap_group:stop(G),
        [receive {'DOWN', R, _, _, _} -> ok after 5000 -> ct:fail(remote_alive) end
         || R <- Mons]
    after
        [catch peer:stop(P) || {P, _} <- Peers]
    end.

start_peer() ->
    {ok, Peer, Node} = peer:start_link(#{name => peer:random_name(),
                                         args => ["-pa" | code:get_path()]}),
    {ok, _} = erpc:call(Node, application, ensure_all_started, [epcap]),
    {Peer, Node}.

ensure_distributed() ->
    case node() of
        nonode@nohost ->
            _ = os:cmd("epmd -daemon"),
            timer:sleep(200),
            case net_kernel:start([list_to_atom("epcap_grp_" ++ os:getpid()), shortnames]) of
                {ok, _} -> ok;
                {error, R} -> {error, R}
            end;
        _ -> ok
    end.

wait_restarted(_G, _I, _Old, Ms) when Ms =< 0 -> false;
wait_restarted(G, I, Old, Ms) ->
    case lists:keyfind(I, 1, epcap_group:members(G)) of
        {I, P} when is_pid(P), P =/= Old -> true;
        _ -> timer:sleep(20), wait_restarted(G, I, Old, Ms - 20)
    end.

wait_exit(Pid) ->
    Ref = monitor(process, Pid),
    receive {'DOWN', Ref, _, _, _} -> ok after 30000 -> ct:fail(sender_stuck) end.
