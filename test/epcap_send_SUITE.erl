%%% @doc Common Test suite: injection through `send/2' and `send_many/2'
%%% on a veth pair, every frame counted where it arrives (the peer end's
%%% `rx_packets', in the test host's namespace), and the failure rule: a
%%% frame the kernel refuses is an error value and a count in `stats/1',
%%% and nothing after it in a `send_many/2' call is sent.
-module(epcap_send_SUITE).

-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").

-export([all/0, init_per_suite/1, end_per_suite/1,
         init_per_testcase/2, end_per_testcase/2]).
-export([send_many_all_arrive/0, send_many_all_arrive/1,
         send_all_arrive/0, send_all_arrive/1,
         send_many_oversize_partial/0, send_many_oversize_partial/1,
         send_many_down_mid_batch/0, send_many_down_mid_batch/1,
         send_oversize_is_a_value/0, send_oversize_is_a_value/1,
         send_many_bad_frames/0, send_many_bad_frames/1,
         send_many_without_inject/0, send_many_without_inject/1,
         send_many_calls_interleave/0, send_many_calls_interleave/1,
         send_after_stop/0, send_after_stop/1]).

%% The test host: this suite's own, apart from epcap_SUITE's (20..219).
-define(HOST, 226).
-define(ETHERTYPE, 16#88b5).

all() ->
    [send_many_all_arrive, send_all_arrive, send_many_oversize_partial,
     send_many_down_mid_batch, send_oversize_is_a_value, send_many_bad_frames,
     send_many_without_inject, send_many_calls_interleave, send_after_stop].

init_per_suite(Config) ->
    {ok, _} = application:ensure_all_started(epcap),
    case epcap_test_lib:is_root() of
        true -> Config;
        false -> {skip, "injecting on a veth needs root"}
    end.

end_per_suite(_Config) -> ok.

init_per_testcase(_Case, Config) ->
    H = epcap_test_lib:netns_up(?HOST),
    {0, Mac} = epcap_test_lib:ns_exec(H, "cat /sys/class/net/" ++ maps:get(b, H) ++ "/address"),
    [{host, H#{dst => mac(Mac),
               src => mac(os:cmd("cat /sys/class/net/" ++ maps:get(a, H) ++ "/address"))}}
     | Config].

end_per_testcase(_Case, Config) ->
    epcap_test_lib:flush(),
    epcap_test_lib:netns_down(?config(host, Config)).

send_many_all_arrive() ->
    [{doc, "Ensure that send_many/2 of more frames than one message holds "
      "returns ok and every frame arrives on the peer"}].
send_many_all_arrive(Config) ->
    H = ?config(host, Config),
    Pid = start(H, [inject]),
    N = 20000,   % some 5 messages of 256 KiB
    Before = rx(H),
    ?assertEqual(ok, epcap:send_many(Pid, frames(H, N, 60))),
    ?assertEqual(N, settle(H, Before, N)),
    ?assertMatch({ok, #{send_failed := 0}}, epcap:stats(Pid)),
    ok = epcap:stop(Pid).

send_all_arrive() ->
    [{doc, "Ensure that frames given to send/2 one a call all arrive on the "
      "peer, and stats/1, answered after them, counts no failure"}].
send_all_arrive(Config) ->
    H = ?config(host, Config),
    Pid = start(H, [inject]),
    N = 5000,
    Before = rx(H),
    [ok = epcap:send(Pid, F) || F <- frames(H, N, 60)],
    ?assertMatch({ok, #{send_failed := 0}}, epcap:stats(Pid)),
    ?assertEqual(N, settle(H, Before, N)),
    ok = epcap:stop(Pid).

send_many_oversize_partial() ->
    [{doc, "Ensure that a frame larger than the MTU stops send_many/2 with "
      "{error, {partial, Sent, {inject, Msg}}}: the frames before it arrive, "
      "none after it, and stats/1 counts it"}].
send_many_oversize_partial(Config) ->
    H = ?config(host, Config),
    Pid = start(H, [inject]),
    [Big] = frames(H, 1, 9000),
    Before = rx(H),
    R = epcap:send_many(Pid, frames(H, 5, 60) ++ [Big] ++ frames(H, 5, 60)),
    ?assertMatch({error, {partial, 5, {inject, [_ | _]}}}, R),
    ?assertEqual(5, settle(H, Before, 6)),
    ?assertMatch({ok, #{send_failed := 1}}, epcap:stats(Pid)),
    %% The capture goes on: the next call sends.
    ?assertEqual(ok, epcap:send_many(Pid, frames(H, 3, 60))),
    ?assertEqual(8, settle(H, Before, 9)),
    ok = epcap:stop(Pid).

send_many_down_mid_batch() ->
    [{doc, "Ensure that the interface going down while send_many/2 sends "
      "gives {error, {partial, Sent, _}} with 0 < Sent < all, and no more "
      "than Sent frames arrive on the peer"}].
send_many_down_mid_batch(Config) ->
    #{a := A} = H = ?config(host, Config),
    Pid = start(H, [inject]),
    N = 400000,
    Frames = frames(H, N, 60),
    Before = rx(H),
    Self = self(),
    Sender = spawn_link(fun() -> Self ! {sent, epcap:send_many(Pid, Frames)} end),
    %% Down once the first frames have arrived.
    ok = wait_rx(H, Before + 1, 5000),
    {0, _} = epcap_test_lib:cmd("ip link set " ++ A ++ " down"),
    R = receive {sent, X} -> X after 30000 -> ct:fail({no_answer, Sender}) end,
    ?assertMatch({error, {partial, _, _}}, R),
    {error, {partial, Sent, _}} = R,
    ct:pal("sent ~b of ~b before the link went down: ~p", [Sent, N, R]),
    ?assert(Sent > 0 andalso Sent < N),
    %% Frames the kernel took may still be lost in the link as it goes
    %% down (the veth drops what it holds), but none after the refused one
    %% may arrive.
    Got = settle(H, Before, Sent + 1),
    ct:pal("the peer received ~b", [Got]),
    ?assert(Got =< Sent andalso Got > 0),
    epcap:stop(Pid).

send_oversize_is_a_value() ->
    [{doc, "Ensure that a frame send/2 gave the port and the kernel refused "
      "is counted by stats/1 and returned as {error, {inject, Msg}} by the "
      "next send/2, which sends nothing; the one after sends again"}].
send_oversize_is_a_value(Config) ->
    H = ?config(host, Config),
    Pid = start(H, [inject]),
    [Big] = frames(H, 1, 9000),
    [F1, F2] = frames(H, 2, 60),
    Before = rx(H),
    ?assertEqual(ok, epcap:send(Pid, Big)),
    ?assertMatch({ok, #{send_failed := 1}}, epcap:stats(Pid)),
    ?assertMatch({error, {inject, [_ | _]}}, epcap:send(Pid, F1)),
    ?assertEqual(ok, epcap:send(Pid, F2)),
    ?assertMatch({ok, #{send_failed := 1}}, epcap:stats(Pid)),
    ?assertEqual(1, settle(H, Before, 2)),
    ok = epcap:stop(Pid).

send_many_bad_frames() ->
    [{doc, "Ensure that send_many/2 with a frame that is not 1..65535 bytes "
      "of iodata is {error, {badarg, _}} and sends nothing"}].
send_many_bad_frames(Config) ->
    H = ?config(host, Config),
    Pid = start(H, [inject]),
    Good = frames(H, 3, 60),
    Before = rx(H),
    ?assertEqual({error, {badarg, {packet_size, 0}}}, epcap:send_many(Pid, Good ++ [<<>>])),
    ?assertEqual({error, {badarg, {packet_size, 65536}}},
                 epcap:send_many(Pid, Good ++ [<<0:65536/unit:8>>])),
    ?assertMatch({error, {badarg, {packet, _}}}, epcap:send_many(Pid, Good ++ [[an_atom]])),
    ?assertMatch({error, {badarg, _}}, epcap:send_many(Pid, not_a_list)),
    ?assertMatch({error, {badarg, _}}, epcap:send_many(Pid, [<<1>> | <<2>>])),
    ?assertEqual(ok, epcap:send_many(Pid, [])),
    ?assertEqual(0, settle(H, Before, 1)),
    ok = epcap:stop(Pid).

send_many_without_inject() ->
    [{doc, "Ensure that without the inject option send_many/2 sends nothing "
      "(injection stays opt-in) and returns ok, as send/2 does"}].
send_many_without_inject(Config) ->
    H = ?config(host, Config),
    Pid = start(H, []),
    Before = rx(H),
    ?assertEqual(ok, epcap:send_many(Pid, frames(H, 10, 60))),
    ?assertEqual(ok, epcap:send(Pid, hd(frames(H, 1, 60)))),
    ?assertEqual(0, settle(H, Before, 1)),
    ok = epcap:stop(Pid).

send_many_calls_interleave() ->
    [{doc, "Ensure that send_many/2 calls from several processes at once, one "
      "of which fails, each get their own answer, and exactly the frames "
      "they say were sent arrive"}].
send_many_calls_interleave(Config) ->
    H = ?config(host, Config),
    Pid = start(H, [inject]),
    [Big] = frames(H, 1, 9000),
    Self = self(),
    Before = rx(H),
    Calls = [{ok, frames(H, 12000, 60)},
             {partial, frames(H, 9000, 60) ++ [Big] ++ frames(H, 9000, 60)},
             {ok, frames(H, 7000, 60)}],
    Refs = [begin
                Ref = make_ref(),
                _ = spawn_link(fun() -> Self ! {Ref, epcap:send_many(Pid, Fs)} end),
                {Ref, Want}
            end || {Want, Fs} <- Calls],
    Got = [receive {Ref, R} -> {Want, R} after 30000 -> ct:fail(no_answer) end
           || {Ref, Want} <- Refs],
    ?assertMatch([{ok, ok}, {partial, {error, {partial, 9000, {inject, _}}}}, {ok, ok}], Got),
    ?assertEqual(12000 + 9000 + 7000, settle(H, Before, 12000 + 9000 + 7000 + 1)),
    ok = epcap:stop(Pid).

send_after_stop() ->
    [{doc, "Ensure that send/2 and send_many/2 to a stopped capture are "
      "{error, closed}"}].
send_after_stop(Config) ->
    H = ?config(host, Config),
    Pid = start(H, [inject]),
    ok = epcap:stop(Pid),
    ?assertEqual({error, closed}, epcap:send(Pid, hd(frames(H, 1, 60)))),
    ?assertEqual({error, closed}, epcap:send_many(Pid, frames(H, 2, 60))).

%%--------------------------------------------------------------------

%% A capture on the test host's side of the link that sees none of what it
%% sends (direction in) and nothing else either (the filter).
start(#{a := A}, Extra) ->
    {ok, Pid} = epcap:start(epcap_test_lib:opts([{interface, A}, {direction, in},
                                                  {filter, "ether proto 0x88b6"} | Extra])),
    Pid.

%% Frames of Size bytes to the peer's MAC, numbered, of an EtherType no
%% stack answers.
frames(#{dst := Dst, src := Src}, N, Size) ->
    Pad = binary:copy(<<0>>, Size - 18),
    [<<Dst/binary, Src/binary, ?ETHERTYPE:16, I:32, Pad/binary>> || I <- lists:seq(1, N)].

rx(H) -> counter(H, "rx_packets").

counter(#{b := B} = H, Name) ->
    {0, N} = epcap_test_lib:ns_exec(H, "cat /sys/class/net/" ++ B ++ "/statistics/" ++ Name),
    list_to_integer(string:trim(N)).

%% Frames the peer received since Before, once the count has stopped
%% moving (or reached Limit, which a test sets one above what it expects,
%% so that one frame too many is seen).
settle(H, Before, Limit) ->
    settle(H, Before, Limit, rx(H) - Before, 0).

settle(_, _, Limit, Got, _) when Got >= Limit -> Got;
settle(_, _, _, Got, Still) when Still >= 5 -> Got;
settle(H, Before, Limit, Got, Still) ->
    timer:sleep(50),
    case rx(H) - Before of
        Got -> settle(H, Before, Limit, Got, Still + 1);
        New -> settle(H, Before, Limit, New, 0)
    end.

wait_rx(_, _, Ms) when Ms =< 0 -> timeout;
wait_rx(H, Want, Ms) ->
    case rx(H) >= Want of
        true -> ok;
        false -> timer:sleep(1), wait_rx(H, Want, Ms - 1)
    end.

mac(S) ->
    list_to_binary([list_to_integer(X, 16) || X <- string:split(string:trim(S), ":", all)]).
