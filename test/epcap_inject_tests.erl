%%% EUnit: epcap_inject, the injection messages (doc/protocol.md, tags 5
%%% and 6) and the state of send_many/2 calls in the server.
-module(epcap_inject_tests).

-include_lib("eunit/include/eunit.hrl").
-include("../include/epcap_protocol.hrl").

quiet_test() ->
    ?assertEqual(<<?CTL_INJECT_QUIET, 0, 5, "hello">>,
                 iolist_to_binary(epcap_inject:quiet([<<"he">>, "llo"]))).

%% Records as the port walks them (control.c): Len:16, then the frame.
records(<<>>) -> [];
records(<<L:16, F:L/binary, Rest/binary>>) -> [F | records(Rest)].

chunks_keep_order_and_bound_test() ->
    Frames = [<<I:32, 0:(60 * 8)>> || I <- lists:seq(1, 10000)],
    {ok, Chunks} = epcap_inject:chunks(Frames),
    ?assert(length(Chunks) > 1),
    Bodies = [iolist_to_binary(epcap_inject:many(false, R)) || {_, R} <- Chunks],
    %% Each message within the port's frame bound, its count right.
    [?assert(byte_size(B) =< ?CTL_FRAME_MAX) || B <- Bodies],
    [?assertEqual(N, length(records(B))) || {{N, _}, <<_, _, B/binary>>} <- lists:zip(Chunks, Bodies)],
    ?assertEqual(Frames, lists:append([records(B) || <<_, _, B/binary>> <- Bodies])).

chunks_largest_frame_test() ->
    Big = binary:copy(<<7>>, ?CTL_INJECT_MAX),
    PerMessage = (?CTL_FRAME_MAX - 2) div (?CTL_RECORD_HDR + ?CTL_INJECT_MAX),
    {ok, Chunks} = epcap_inject:chunks(lists:duplicate(PerMessage + 1, Big)),
    ?assertMatch([{PerMessage, _}, {1, _}], Chunks),
    [?assert(byte_size(iolist_to_binary(epcap_inject:many(true, R))) =< ?CTL_FRAME_MAX)
     || {_, R} <- Chunks].

chunks_refuse_bad_frames_test() ->
    ?assertEqual({error, {badarg, {packet_size, 0}}}, epcap_inject:chunks([<<1>>, <<>>])),
    ?assertEqual({error, {badarg, {packet_size, 65536}}},
                 epcap_inject:chunks([<<0:65536/unit:8>>])),
    ?assertMatch({error, {badarg, {packet, foo}}}, epcap_inject:chunks([foo])),
    ?assertMatch({error, {badarg, _}}, epcap_inject:chunks([<<1>> | <<2>>])),
    ?assertMatch({error, {badarg, _}}, epcap_inject:chunks(<<1>>)),
    ?assertEqual({ok, []}, epcap_inject:chunks([])).

many_flags_test() ->
    ?assertEqual(<<?CTL_INJECT_MANY, 0, 1>>, iolist_to_binary(epcap_inject:many(false, [<<1>>]))),
    ?assertEqual(<<?CTL_INJECT_MANY, ?CTL_MANY_CONTINUES, 1>>,
                 iolist_to_binary(epcap_inject:many(true, [<<1>>]))).

writes(Actions) -> [iolist_to_binary(M) || {write, M} <- Actions].
replies(Actions) -> [{F, R} || {reply, F, R} <- Actions].

calls_window_and_success_test() ->
    C0 = epcap_inject:calls_new(),
    {A1, C1} = epcap_inject:call(a, [[<<1>>], [<<2>>], [<<3>>]], C0),
    %% Two messages in the pipe; the first starts the call.
    ?assertEqual([<<?CTL_INJECT_MANY, 0, 1>>, <<?CTL_INJECT_MANY, 1, 2>>], writes(A1)),
    {A2, C2} = epcap_inject:answer({ok, 10}, C1),
    ?assertEqual([<<?CTL_INJECT_MANY, 1, 3>>], writes(A2)),
    {[], C3} = epcap_inject:answer({ok, 10}, C2),
    {A4, C4} = epcap_inject:answer({ok, 5}, C3),
    ?assertEqual([{a, ok}], replies(A4)),
    ?assertEqual([], epcap_inject:closing(closed, C4)).

calls_partial_skips_the_rest_test() ->
    {_, C1} = epcap_inject:call(a, [[<<1>>], [<<2>>], [<<3>>]], epcap_inject:calls_new()),
    {A2, C2} = epcap_inject:answer({error, 4, {inject, "too long"}}, C1),
    ?assertEqual([], writes(A2)),   % the third message is never written
    {A3, _} = epcap_inject:answer(skipped, C2),
    ?assertEqual([{a, {error, {partial, 4, {inject, "too long"}}}}], replies(A3)).

calls_one_at_a_time_test() ->
    {_, C1} = epcap_inject:call(a, [[<<1>>]], epcap_inject:calls_new()),
    {A2, C2} = epcap_inject:call(b, [[<<2>>]], C1),
    ?assertEqual([], A2),   % b waits for a
    ?assertEqual([{a, {error, {partial, 0, closed}}}, {b, {error, closed}}],
                 epcap_inject:closing(closed, C2)),
    {A3, C3} = epcap_inject:answer({ok, 1}, C2),
    ?assertEqual([{a, ok}], replies(A3)),
    ?assertEqual([<<?CTL_INJECT_MANY, 0, 2>>], writes(A3)),   % b starts afresh
    {A4, _} = epcap_inject:answer({ok, 1}, C3),
    ?assertEqual([{b, ok}], replies(A4)).

calls_empty_test() ->
    ?assertMatch({[{reply, a, ok}], _}, epcap_inject:call(a, [], epcap_inject:calls_new())).

%% send/3 in the caller: a call, then frames as messages until 256 frames
%% or 256 KiB have gone since, then a call again; a flag set by the server
%% or a dead server makes it call.
send_window_test() ->
    Server = spawn(fun() -> receive stop -> ok end end),
    Flag = atomics:new(1, []),
    Calls = counters:new(1, []),
    Call = fun(_, {send, _}) -> counters:add(Calls, 1, 1), {ok, Flag} end,
    Small = <<0:(60 * 8)>>,
    [ok = epcap_inject:send(Server, Small, Call) || _ <- lists:seq(1, 600)],
    ?assertEqual(3, counters:get(Calls, 1)),          % the 1st, 257th and 513th
    {messages, Ms} = process_info(Server, messages),
    ?assertEqual(597, length([D || {'$epcap_send', D} <- Ms])),
    %% Bytes bound the window too: 2000-byte frames, 131 to 256 KiB.
    Big = <<0:(2000 * 8)>>,
    Server2 = spawn(fun() -> receive stop -> ok end end),
    counters:put(Calls, 1, 0),
    [ok = epcap_inject:send(Server2, Big, Call) || _ <- lists:seq(1, 200)],
    ?assertEqual(2, counters:get(Calls, 1)),
    %% A refusal waiting in the server: the next send calls.
    counters:put(Calls, 1, 0),
    ok = atomics:put(Flag, 1, 1),
    ok = epcap_inject:send(Server, Small, Call),
    ?assertEqual(1, counters:get(Calls, 1)),
    [S ! stop || S <- [Server, Server2]].

send_dead_server_test() ->
    Dead = spawn(fun() -> ok end),
    Ref = monitor(process, Dead),
    receive {'DOWN', Ref, _, _, _} -> ok end,
    Flag = atomics:new(1, []),
    Call = fun(_, _) -> {ok, Flag} end,
    ok = epcap_inject:send(Dead, <<1>>, Call),     % the first send calls
    Closed = fun(_, _) -> {error, closed} end,
    %% Then the window would send a message to nobody: it calls instead.
    ?assertEqual({error, closed}, epcap_inject:send(Dead, <<1>>, Closed)).

%% gather/3 in the server: the frames of the sends already waiting, in
%% order, callers answered; only while `More'.
gather_test() ->
    Flag = atomics:new(1, []),
    Self = self(),
    self() ! {'$epcap_send', <<2>>},
    self() ! other_message,
    Caller = spawn(fun() -> Self ! {'$gen_call', {self(), tag}, {send, <<3>>}},
                            receive {tag, R} -> Self ! {answered, R} end
                   end),
    timer:sleep(50),
    {Records, N} = epcap_inject:gather(<<1>>, Flag, true),
    ?assertEqual(3, N),
    ?assertEqual([<<1>>, <<2>>, <<3>>], records(iolist_to_binary(Records))),
    receive {answered, R} -> ?assertEqual({ok, Flag}, R) after 1000 -> error(Caller) end,
    receive M -> ?assertEqual(other_message, M) after 0 -> error(lost) end,
    self() ! {'$epcap_send', <<5>>},
    ?assertMatch({_, 1}, epcap_inject:gather(<<4>>, Flag, false)),
    receive {'$epcap_send', <<5>>} -> ok after 0 -> error(taken) end.
