%%% @doc Injection messages (doc/protocol.md, tags 5 and 6): frames packed
%%% as records, several to a control message. Pure: it builds what
%%% {@link epcap:send/2} and {@link epcap:send_many/2} write to the port.
%%% @end
-module(epcap_inject).

-include("../include/epcap_protocol.hrl").

-export([quiet/1]).
-export([record/1]).
-export([chunks/1]).
-export([many/2]).

%% A record: Len:16, then the frame (control.h, CTL_RECORD_HDR).
-define(RECORD_HDR, 2).
%% Body bytes a message may hold: the tag takes one byte of the frame.
-define(BODY_MAX, (?CTL_FRAME_MAX - 1)).

-type chunk() :: {Count :: pos_integer(), Records :: iodata()}.
-export_type([chunk/0]).

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
    {ok, lists:reverse(Acc, [{N, lists:reverse(Cur)}])};
chunks([F | Rest] = Frames, N, Size, Cur, Acc) ->
    try iolist_size(F) of
        L when L >= 1, L =< ?CTL_INJECT_MAX ->
            R = ?RECORD_HDR + L,
            case 1 + Size + R =< ?BODY_MAX of
                true -> chunks(Rest, N + 1, Size + R, [[<<L:16>> | F] | Cur], Acc);
                false when N > 0 -> chunks(Frames, 0, 0, [], [{N, lists:reverse(Cur)} | Acc]);
                false -> {error, {badarg, {packet_size, L}}}
            end;
        L -> {error, {badarg, {packet_size, L}}}
    catch
        error:badarg -> {error, {badarg, {packet, F}}}
    end;
chunks(Improper, _, _, _, _) ->
    {error, {badarg, {frames, Improper}}}.

%% @doc send_many/2's message for a chunk; `Continues' when an earlier
%% message of the same call went before it (the port skips it if that one
%% failed).
-spec many(boolean(), iodata()) -> iodata().
many(Continues, Records) ->
    Flags = case Continues of true -> 1; false -> 0 end,
    [?CTL_INJECT_MANY, Flags | Records].
