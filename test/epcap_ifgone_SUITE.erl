%%% @doc Common Test suite: a live capture ends with a failure when its
%%% interface goes away, however it goes. Linux libpcap, seeing ENETDOWN,
%%% only notes it and asks to be called again within 1 ms (its required
%%% select timeout) to see whether the device is gone; a port that kept
%%% the value it had at the start never called it again once the device was
%%% down, and a capture whose interface was taken down and then deleted
%%% never ended (issue 12: `interface_deleted_then_back' timed out now and
%%% then for this reason).
-module(epcap_ifgone_SUITE).

-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").

-export([all/0, init_per_suite/1, end_per_suite/1]).
-export([down_then_deleted/1, deleted/1]).

all() -> [down_then_deleted, deleted].

init_per_suite(Config) ->
    case os:cmd("id -u") of
        "0\n" -> Config;
        _ -> {skip, "creating a veth needs root"}
    end.

end_per_suite(_Config) -> ok.

down_then_deleted(_Config) ->
    If = veth(),
    {ok, Pid} = epcap:start(epcap_test_lib:opts([{interface, If}, {filter, "icmp"}])),
    {0, _} = epcap_test_lib:cmd("ip link set " ++ If ++ " down"),
    timer:sleep(300),
    {0, _} = epcap_test_lib:cmd("ip link del " ++ If),
    ?assertMatch({error, {capture, _}}, receive {epcap, E} -> E after 5000 -> timeout end),
    ok = epcap:stop(Pid).

deleted(_Config) ->
    If = veth(),
    {ok, Pid} = epcap:start(epcap_test_lib:opts([{interface, If}, {filter, "icmp"}])),
    {0, _} = epcap_test_lib:cmd("ip link del " ++ If),
    ?assertMatch({error, {capture, _}}, receive {epcap, E} -> E after 5000 -> timeout end),
    ok = epcap:stop(Pid).

%% A veth pair of our own in the root namespace, up; deleting one end
%% deletes both.
veth() ->
    K = integer_to_list(epcap_test_lib:test_net_n()),
    A = "epgone" ++ K ++ "a",
    _ = epcap_test_lib:cmd("ip link del " ++ A),
    {0, _} = epcap_test_lib:cmd("ip link add " ++ A ++ " type veth peer name epgone" ++ K ++ "b"),
    {0, _} = epcap_test_lib:cmd("ip link set " ++ A ++ " up"),
    A.
