#!/usr/bin/env escript
%%% One immediate-mode capture as a user writes it (issue 28, goal 2): an
%%% escript whose main process starts epcap with a 64 MiB buffer, defaults
%%% otherwise, runs tcpreplay --topspeed of FILE in namespace NS on
%%% SENDER, and counts {packet, ...} messages in a plain receive loop.
%%% Prints one line of counters. bench/imm_owner runs it; it writes a copy
%%% with -mode(compile) beside it, since an escript without that line runs
%%% its functions in erl_eval (OTP 25).
%%% MODE (optional): batch ({deliver, batch}, the owner folds each batch)
%%% or t1000 ({timeout, 1000}, buffered), both still per the issue's
%%% "batched and buffered stay at 0 lost".
%%% Usage: imm_owner.escript EBIN IFACE NS SENDER FILE COUNT [MODE]
main([Ebin, If, Ns, Sender, File, Count | Mode]) ->
    true = code:add_patha(Ebin),
    {ok, _} = application:ensure_all_started(epcap),
    N = list_to_integer(Count),
    Extra = case Mode of
                [] -> [];
                ["batch"] -> [{deliver, batch}];
                ["t1000"] -> [{timeout, 1000}]
            end,
    {ok, Pid} = epcap:start([{interface, If}, {exec, ""}, {buffer, 64 * 1024 * 1024} | Extra]),
    %% How long to wait for more once tcpreplay is done: a buffered
    %% capture may hold the last frames for its 1 s.
    put(quiet_ms, case Mode of ["t1000"] -> 1500; _ -> 500 end),
    R0 = reds(),
    Self = self(),
    spawn_link(fun() ->
                       Out = os:cmd("ip netns exec " ++ Ns ++ " tcpreplay --topspeed -q -i "
                                    ++ Sender ++ " " ++ File ++ " 2>&1"),
                       Self ! {replayed, Out}
               end),
    T0 = erlang:monotonic_time(microsecond),
    {Got, Out0, First} = loop(0, N, undefined, undefined),
    T1 = erlang:monotonic_time(microsecond),
    Out = case Out0 of
              undefined -> receive {replayed, O} -> O end;
              _ -> Out0
          end,
    R1 = reds(),
    {ok, S} = epcap:stats(Pid),
    Pps = case re:run(Out, "([0-9.]+) pps", [{capture, all_but_first, list}]) of
              {match, [P]} -> P;
              nomatch -> "?"
          end,
    io:format("received ~b lost ~b dropped ~b replay_pps ~s first_frame_ms ~b "
              "credit_wait_ms ~b pipe_wait_ms ~b wakeups ~b reads ~b batches ~b "
              "owner_reds_per_pkt ~.1f secs ~.2f~n",
              [Got, N - Got, maps:get(dropped, S), Pps, since(First, T0),
               maps:get(credit_wait_us, S) div 1000, maps:get(pipe_wait_us, S) div 1000,
               maps:get(wakeups, S), maps:get(reads, S), maps:get(batches, S),
               (R1 - R0) / max(1, Got), (T1 - T0) / 1.0e6]),
    epcap:stop(Pid),
    halt(0).

%% Counts until every frame came or, once tcpreplay is done, none came for
%% half a second (1.5 s when buffered); notes when the first frame came.
loop(Got, N, Out, First) when Got >= N -> {Got, Out, First};
loop(Got, N, Out, First) ->
    receive
        {packet, _, _, _, _} ->
            F = case First of
                    undefined -> erlang:monotonic_time(microsecond);
                    _ -> First
                end,
            loop(Got + 1, N, Out, F);
        {epcap_batch, _, B} ->
            F = case First of
                    undefined -> erlang:monotonic_time(microsecond);
                    _ -> First
                end,
            loop(Got + epcap_batch:fold(fun(_, _, _, A) -> A + 1 end, 0, B), N, Out, F);
        {replayed, O} ->
            loop(Got, N, O, First)
    after wait(Out) ->
            {Got, Out, First}
    end.

wait(undefined) -> infinity;
wait(_) -> get(quiet_ms).

since(undefined, _) -> -1;
since(At, T0) -> (At - T0) div 1000.

reds() ->
    {reductions, R} = process_info(self(), reductions),
    R.
