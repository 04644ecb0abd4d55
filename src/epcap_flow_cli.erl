%%% @doc The command line `bin/epcap-flow' (see its header): reassemble
%%% the TCP streams of a capture file or interface into files named as
%%% tcpflow(1) names them, through {@link epcap_tcp} and
%%% {@link epcap_tcpflow}. Compiled here rather than in the escript, so
%%% that the script starts fast and runs compiled code.
%%% @end
-module(epcap_flow_cli).

-export([main/1]).

%% {active, N}, topped up by what was taken once that is half of it: at
%% most ?WINDOW packets wait in the mailbox however slow the disk, and
%% batches are not cut into small pieces.
-define(WINDOW, 8192).

%% fail/2 throws the exit status to main/1 on purpose.
-dialyzer({nowarn_function, fail/2}).

%% @doc Run with the script's arguments; returns the exit status (0 at the
%% end of a file, 1 on an error, 2 on a bad command line), having printed
%% why to standard error.
-spec main([string()]) -> 0 | 1 | 2.
main(Args) ->
    try
        case parse(Args, #{filter => []}) of
            #{source := Source, dir := Dir} = Opts -> run(Source, Dir, Opts);
            _ -> usage()
        end
    catch
        throw:{exit, Status} -> Status
    end.

parse(["-r", File | T], O) -> parse(T, O#{source => [{file, File}, {exec, ""}]});
parse(["-i", If | T], O) -> parse(T, O#{source => [{interface, If}]});
parse(["-f", F | T], O) -> parse(T, O#{filter => [{filter, F}]});
parse(["-o", Dir | T], O) -> parse(T, O#{dir => Dir});
parse(["-s" | T], O) -> parse(T, O#{stats => true});
parse([], O) -> O;
parse(_, _) -> throw({exit, usage()}).

usage() ->
    io:format(standard_error,
              "usage: epcap-flow -r FILE [-f FILTER] -o DIR [-s]~n"
              "       epcap-flow -i IFACE [-f FILTER] -o DIR [-s]~n", []),
    2.

run(Source, Dir, #{filter := Filter} = Opts) ->
    case filelib:is_dir(Dir) of
        true -> ok;
        false -> fail("~ts: not a directory", [Dir])
    end,
    case epcap:start([{deliver, batch}, {time_unit, microsecond}, {active, ?WINDOW} | Source]
                     ++ Filter) of
        {ok, Pid} ->
            ready(Source),
            _ = erlang:send_after(1000, self(), sync),
            try
                loop(Pid, epcap_tcp:new(), epcap_tcpflow:new(Dir),
                     Opts#{taken => 0, last => 0, wall => erlang:monotonic_time(millisecond)})
            catch
                error:{file, Name, Why} ->
                    epcap:stop(Pid),
                    fail("~ts: ~p", [Name, Why])
            end;
        {error, Reason} ->
            fail("~p", [Reason])
    end.

loop(Pid, T, W, Opts) ->
    receive
        {epcap_batch, Pid, B} ->
            DLT = epcap:link_type(B),
            {T1, W1, N, Last} =
                epcap:fold(fun(Time, _Len, Frame, {Ts, Ws, K, _}) ->
                                   Now = Time div 1000,
                                   {Ev, Ts1} = epcap_tcp:frame(DLT, Frame, Now, Ts),
                                   {Ts1, epcap_tcpflow:events(Ev, Ws), K + 1, Now}
                           end, {T, W, 0, maps:get(last, Opts)}, B),
            Opts1 = Opts#{last := Last, wall := erlang:monotonic_time(millisecond)},
            loop(Pid, T1, W1, top_up(Pid, N, Opts1));
        {epcap_passive, Pid} ->
            loop(Pid, T, W, Opts);
        sync ->
            %% No packet for a while (a quiet interface): time goes on from
            %% the last one's, so holes and idle connections still time out.
            _ = erlang:send_after(1000, self(), sync),
            #{last := Last, wall := Wall} = Opts,
            {Ev, T1} = epcap_tcp:expire(Last + erlang:monotonic_time(millisecond) - Wall, T),
            loop(Pid, T1, epcap_tcpflow:sync(epcap_tcpflow:events(Ev, W)), Opts);
        {epcap, eof} ->
            {Ev, T1} = epcap_tcp:flush(T),
            ok = epcap_tcpflow:close(epcap_tcpflow:events(Ev, W)),
            stats(T1, Opts),
            0;
        {epcap, {error, Reason}} ->
            ok = epcap_tcpflow:close(W),
            fail("~p", [Reason])
    end.

%% A live capture says when it captures, for whoever waits to send.
ready([{interface, If}]) -> io:format(standard_error, "epcap-flow: capturing on ~ts~n", [If]);
ready(_) -> ok.

top_up(Pid, N, #{taken := Taken} = Opts) when Taken + N >= ?WINDOW div 2 ->
    _ = epcap:setopts(Pid, [{active, Taken + N}]),
    Opts#{taken := 0};
top_up(_Pid, N, #{taken := Taken} = Opts) ->
    Opts#{taken := Taken + N}.

stats(T, #{stats := true}) ->
    io:format(standard_error, "epcap-flow: ~p~n", [epcap_tcp:stats(T)]);
stats(_, _) ->
    ok.

fail(Fmt, Args) ->
    io:format(standard_error, "epcap-flow: " ++ Fmt ++ "~n", Args),
    throw({exit, 1}).

