%%% @doc Injection (doc/protocol.md, tags 5 and 6): frames packed as
%%% records, several to a control message, for {@link epcap:send/2} and
%%% {@link epcap:send_many/2}. The message builders and the state of
%%% send_many/2 calls (`calls_new/0', `call/3', `answer/2', `closing/2')
%%% are pure; `send/3' runs in send/2's caller and `gather/3' in the
%%% server, each with the messages it must see.
%%% @end
-module(epcap_inject).

-include("../include/epcap_protocol.hrl").

-export([send/3]).
-export([gather/3]).
-export([quiet/1]).
-export([record/1]).
-export([chunks/1]).
-export([many/2]).
-export([calls_new/0]).
-export([call/3]).
-export([answer/2]).
-export([closing/2]).

%% send/2's frames that one message to the port may gather.
-define(SEND_COALESCE, 65536).
%% send/2's frames, and their bytes, a process may give a local server
%% before it waits: 256 frames cost 0.35 us of CPU a frame less than 64
%% (bench/RESULTS.md, section 6.1); the bytes bound what one sender can
%% leave in the server's mailbox.
-define(SEND_WINDOW, 256).
-define(SEND_WINDOW_BYTES, 262144).

%% A record: Len:16, then the frame.
-define(RECORD_HDR, ?CTL_RECORD_HDR).
%% Body bytes a message may hold: the tag takes one byte of the frame.
-define(BODY_MAX, (?CTL_FRAME_MAX - 1)).

-type chunk() :: {Count :: pos_integer(), Records :: binary()}.
-export_type([chunk/0]).

%% One call at a time writes to the port (the port skips a call's later
%% messages after a refused frame only while no other call's message comes
%% between), with ?WINDOW of its messages in the port's pipe, so that the
%% port has the next one when it has sent one; other calls wait their turn.
-define(WINDOW, 2).

-type from() :: gen_server:from().
-type result() :: ok | {error, {partial, non_neg_integer(), term()}}.
-type call() :: #{from := from(), chunks := [iodata()], inflight := non_neg_integer(),
                  sent := non_neg_integer(), error := undefined | term(),
                  first := boolean()}.
-opaque calls() :: #{active := undefined | call(), waiting := queue:queue({from(), [iodata()]})}.
-type action() :: {write, iodata()} | {reply, from(), result()}.
-export_type([calls/0, action/0]).

%% @doc send/2 in the caller, for a frame already checked: up to
%% ?SEND_WINDOW frames (and ?SEND_WINDOW_BYTES) to a capture on this node
%% go as plain messages, then one call (`Call', epcap's) waits for the
%% server, so that a fast sender cannot fill its mailbox. The caller keeps
%% {frames and bytes given since it last waited, the server's flag} in its
%% process dictionary; the flag (an atomics array the server shares) is 1
%% while a refusal waits to be returned, so that the next send/2 calls and
%% returns it.
-spec send(pid(), iodata(), fun((pid(), term()) -> term())) -> ok | {error, term()}.
send(Pid, Data, Call) when node(Pid) =:= node() ->
    Key = {epcap, send_window, Pid},
    case get(Key) of
        {N, Bytes, Flag} when N < ?SEND_WINDOW, Bytes < ?SEND_WINDOW_BYTES ->
            case atomics:get(Flag, 1) =:= 0 andalso is_process_alive(Pid) of
                true ->
                    Pid ! {'$epcap_send', Data},
                    _ = put(Key, {N + 1, Bytes + iolist_size(Data), Flag}),
                    ok;
                false ->
                    send_call(Key, Pid, Data, Call)
            end;
        _ ->
            send_call(Key, Pid, Data, Call)
    end;
send(Pid, Data, Call) ->
    case Call(Pid, {send, Data}) of
        {ok, _Flag} -> ok;
        Error -> Error
    end.

send_call(Key, Pid, Data, Call) ->
    case Call(Pid, {send, Data}) of
        {ok, Flag} -> _ = put(Key, {1, iolist_size(Data), Flag}), ok;
        Error -> _ = erase(Key), Error
    end.

%% @doc In the server, for send/2's frame `First': the records of it and
%% of the send/2 frames already waiting in the mailbox (when `More'), in
%% order, at most ?SEND_COALESCE bytes, and how many. Callers that waited
%% get `{ok, Flag}' here. So a server that falls behind writes fewer,
%% larger messages instead of a system call a frame. Only sends are taken
%% ahead of other messages: one process's calls stay in order, and no
%% other message is a port command. When the mailbox holds none, the
%% server yields once: a caller sending frame after frame has its `ok'
%% and is making the next one.
-spec gather(iodata(), atomics:atomics_ref(), boolean()) -> {iodata(), pos_integer()}.
gather(First, Flag, More) ->
    gather([record(First)], 1, iolist_size(First) + ?RECORD_HDR, Flag, More, true).

gather(Acc, N, Bytes, Flag, true, Yield) when Bytes < ?SEND_COALESCE ->
    receive
        {'$epcap_send', Data} ->
            gather([record(Data) | Acc], N + 1, Bytes + iolist_size(Data) + ?RECORD_HDR,
                   Flag, true, true);
        {'$gen_call', From, {send, Data}} ->
            gen_server:reply(From, {ok, Flag}),
            gather([record(Data) | Acc], N + 1, Bytes + iolist_size(Data) + ?RECORD_HDR,
                   Flag, true, true)
    after 0 ->
        idle(Acc, N, Bytes, Flag, Yield)
    end;
gather(Acc, N, _, _, _, _) ->
    {lists:reverse(Acc), N}.

idle(Acc, N, Bytes, Flag, true) ->
    erlang:yield(),
    gather(Acc, N, Bytes, Flag, true, false);
idle(Acc, N, _, _, false) ->
    {lists:reverse(Acc), N}.

%% @doc send/2's message for one frame of 1..65535 bytes: no reply unless
%% the kernel refuses it.
%% ```
%% [6, <<3:16>>, <<"abc">>] = epcap_inject:quiet(<<"abc">>).
%% '''
-spec quiet(iodata()) -> iodata().
quiet(Frame) ->
    [?CTL_INJECT_QUIET, <<(iolist_size(Frame)):16>>, Frame].

%% @doc One frame's record, for a message of several.
-spec record(iodata()) -> iodata().
record(Frame) ->
    [<<(iolist_size(Frame)):16>> | Frame].

%% @doc Frames packed in chunks of at most one message's body each, in
%% order, or the first frame that is not 1..65535 bytes of iodata (then
%% nothing is to be sent).
%% ```
%% {ok, [{2, _}]} = epcap_inject:chunks([<<1>>, <<2, 3>>]),
%% {error, {badarg, {packet_size, 0}}} = epcap_inject:chunks([<<1>>, <<>>]).
%% '''
-spec chunks([iodata()]) -> {ok, [chunk()]} | {error, {badarg, term()}}.
chunks(Frames) when is_list(Frames) ->
    chunks(Frames, 0, 0, [], []);
chunks(Frames) ->
    {error, {badarg, {frames, Frames}}}.

%% Room for the flags byte of CTL_INJECT_MANY.
chunks([], 0, _, _, Acc) ->
    {ok, lists:reverse(Acc)};
chunks([], N, _, Cur, Acc) ->
    {ok, lists:reverse(Acc, [{N, chunk(Cur)}])};
chunks([F | Rest] = Frames, N, Size, Cur, Acc) ->
    try iolist_size(F) of
        L when L >= 1, L =< ?CTL_INJECT_MAX ->
            R = ?RECORD_HDR + L,
            case 1 + Size + R =< ?BODY_MAX of
                true -> chunks(Rest, N + 1, Size + R, [[<<L:16>> | F] | Cur], Acc);
                false when N > 0 -> chunks(Frames, 0, 0, [], [{N, chunk(Cur)} | Acc]);
                false -> {error, {badarg, {packet_size, L}}}
            end;
        L -> {error, {badarg, {packet_size, L}}}
    catch
        error:badarg -> {error, {badarg, {packet, F}}}
    end;
chunks(Improper, _, _, _, _) ->
    {error, {badarg, {frames, Improper}}}.

%% A chunk's records as one binary: the message that takes it to the
%% server then carries a reference, not thousands of small frames to copy
%% into the server's heap.
chunk(Reversed) ->
    iolist_to_binary(lists:reverse(Reversed)).

%% @doc send_many/2's message for a chunk; `Continues' when an earlier
%% message of the same call went before it (the port skips it if that one
%% failed).
-spec many(boolean(), iodata()) -> iodata().
many(Continues, Records) ->
    Flags = case Continues of true -> ?CTL_MANY_CONTINUES; false -> 0 end,
    [?CTL_INJECT_MANY, Flags | Records].

%%====================================================================
%% send_many/2 calls, in the server
%%====================================================================

%% @doc No send_many/2 call under way.
-spec calls_new() -> calls().
calls_new() -> #{active => undefined, waiting => queue:new()}.

%% @doc A send_many/2 call with its chunks' records: what to write to the
%% port (each write is answered by one `answer/2', in order) and to reply.
-spec call(from(), [iodata()], calls()) -> {[action()], calls()}.
call(From, [], Calls) ->
    {[{reply, From, ok}], Calls};
call(From, Chunks, #{active := undefined} = Calls) ->
    fill(#{from => From, chunks => Chunks, inflight => 0, sent => 0,
           error => undefined, first => true}, Calls);
call(From, Chunks, #{waiting := W} = Calls) ->
    {[], Calls#{waiting := queue:in({From, Chunks}, W)}}.

%% @doc The port's answer to the oldest message written:
%% `{ok, Sent}', `{error, Sent, Reason}' or `skipped'.
-spec answer({ok, non_neg_integer()} | {error, non_neg_integer(), term()} | skipped,
             calls()) -> {[action()], calls()}.
answer(Answer, #{active := #{inflight := In, sent := Sent} = C} = Calls) when In > 0 ->
    C1 = C#{inflight := In - 1},
    C2 = case Answer of
             {ok, N} -> C1#{sent := Sent + N};
             {error, N, Reason} -> C1#{sent := Sent + N, error := Reason, chunks := []};
             skipped -> C1#{chunks := []}
         end,
    fill(C2, Calls).

%% @doc What every caller still waiting gets when the server goes away:
%% the one under way what it sent, the others nothing.
-spec closing(term(), calls()) -> [{from(), result() | {error, term()}}].
closing(Reason, #{active := A, waiting := W}) ->
    [{F, {error, {partial, Sent, Reason}}} || #{from := F, sent := Sent} <- [A]]
        ++ [{F, {error, Reason}} || {F, _} <- queue:to_list(W)].

fill(#{inflight := In, chunks := [R | Rest], first := First} = C, Calls) when In < ?WINDOW ->
    {Actions, Calls1} = fill(C#{inflight := In + 1, chunks := Rest, first := false}, Calls),
    {[{write, many(not First, R)} | Actions], Calls1};
fill(#{inflight := 0, from := From, sent := Sent, error := E}, #{waiting := W} = Calls) ->
    Reply = case E of
                undefined -> {reply, From, ok};
                Reason -> {reply, From, {error, {partial, Sent, Reason}}}
            end,
    case queue:out(W) of
        {empty, _} ->
            {[Reply], Calls#{active := undefined}};
        {{value, {From1, Chunks}}, W1} ->
            {Actions, Calls1} = call(From1, Chunks, Calls#{active := undefined, waiting := W1}),
            {[Reply | Actions], Calls1}
    end;
fill(C, Calls) ->
    {[], Calls#{active := C}}.
