%%% @doc The port's output, framed by us: the port is read as a byte
%%% stream, so that no length prefix the port writes can make the VM
%%% reserve memory (`{packet, 4}' would allocate whatever a prefix says,
%%% 4 GiB for `0xFFFFFFF0').
%%%
%%% {@link feed/2} takes the bytes as they arrive and returns events: whole
%%% records of a batch as soon as they are here (sub-binaries of what was
%%% read: only a record cut between two reads is copied), and whole control
%%% terms. Any byte sequence gives events or `{error, {protocol, _}}', never
%%% an exception: a frame larger than the cap, an unknown tag, a batch
%%% whose count does not match its records, a term that does not decode.
%%% @end
-module(epcap_frame).

-export([new/0]).
-export([feed/2]).
-export([idle/1]).

-export_type([state/0, event/0]).

-include("../include/epcap_protocol.hrl").

-type event() :: {records, pos_integer(), binary()} | {term, term()}.

-record(frame, {
    %% what the next bytes are: a frame's header, a batch's body, a term's body
    part = header :: header | {batch, Left :: non_neg_integer(), Declared :: non_neg_integer(),
                               Seen :: non_neg_integer()}
                   | {term, Left :: non_neg_integer()},
    pending = <<>> :: binary()  % bytes held back: a cut header, record or term
}).
-opaque state() :: #frame{}.

%% @doc A decoder expecting a frame's header.
-spec new() -> state().
new() -> #frame{}.

%% @doc `true' between frames (nothing held back): where a port may end.
-spec idle(state()) -> boolean().
idle(#frame{part = header, pending = <<>>}) -> true;
idle(_) -> false.

%% @doc Decode the bytes just read. On a protocol error, the events
%% decoded before it come with it, so that the owner gets every packet
%% before the error.
%% ```
%% Rec = epcap_batch:record(1, 2, 3, <<"abc">>),
%% Frame = <<(5 + byte_size(Rec)):32, 1, 1:32, Rec/binary>>,
%% {ok, [{records, 1, Rec}], S} = epcap_frame:feed(Frame, epcap_frame:new()),
%% true = epcap_frame:idle(S).
%% '''
-spec feed(binary(), state()) ->
          {ok, [event()], state()} | {error, {protocol, term()}, [event()]}.
feed(Bin, S) ->
    try loop(Bin, S, []) of
        {Events, S1} -> {ok, lists:reverse(Events), S1}
    catch
        throw:{fail, Reason, Events} -> {error, {protocol, Reason}, lists:reverse(Events)}
    end.

-spec fail(term(), [event()]) -> no_return().
fail(Reason, Acc) -> throw({fail, Reason, Acc}).

%% Acc holds the events in reverse.
loop(<<>>, S, Acc) ->
    {Acc, S};
loop(Bin, #frame{part = header, pending = P} = S, Acc) ->
    case take(header_size(P, Bin), P, Bin) of
        {more, P1} -> {Acc, S#frame{pending = P1}};
        {Header, Rest} -> loop(Rest, S#frame{part = start(Header, Acc), pending = <<>>}, Acc)
    end;
loop(Bin, #frame{part = {term, Left}, pending = P} = S, Acc) ->
    case take(Left, P, Bin) of
        {more, P1} -> {Acc, S#frame{pending = P1}};
        {Body, Rest} ->
            loop(Rest, S#frame{part = header, pending = <<>>}, [{term, decode(Body, Acc)} | Acc])
    end;
loop(Bin, #frame{part = {batch, _, _, _}, pending = <<>>} = S, Acc) ->
    batch(Bin, S, Acc);
loop(Bin, #frame{part = {batch, Left, _, _}, pending = P} = S, Acc) ->
    %% First finish the record cut between two reads, through the batch
    %% path on its own.
    case take(min(Left, record_size(P)), P, Bin) of
        {more, P1} -> {Acc, S#frame{pending = P1}};
        {Whole, Rest} ->
            {Acc1, S1} = batch(Whole, S#frame{pending = <<>>}, Acc),
            loop(Rest, S1, Acc1)
    end.

%% The bytes of a batch's body that are here: whole records go out now, a
%% cut one waits in pending.
batch(Bin, #frame{part = {batch, Left, Declared, Seen}} = S, Acc) ->
    Here = min(Left, byte_size(Bin)),
    <<Mine:Here/binary, Next/binary>> = Bin,
    {N, Whole} = epcap_batch:whole(Mine),
    <<Records:Whole/binary, Cut/binary>> = Mine,
    Seen1 = Seen + N,
    Started = Seen1 + case Cut of <<>> -> 0; _ -> 1 end,
    _ = Started =< Declared orelse fail({count, Declared, Started}, Acc),
    Acc1 = case N of 0 -> Acc; _ -> [{records, N, Records} | Acc] end,
    case Left - Here of
        0 when Cut =/= <<>> -> fail({truncated_record, Seen1}, Acc1);
        0 when Seen1 =/= Declared -> fail({count, Declared, Seen1}, Acc1);
        0 -> loop(Next, S#frame{part = header, pending = <<>>}, Acc1);
        Left1 ->
            %% Left counts the bytes of the frame not yet decoded: the cut
            %% record's first bytes too.
            {Acc1, S#frame{part = {batch, Left1 + byte_size(Cut), Declared, Seen1},
                           pending = binary:copy(Cut)}}
    end.

%% How many header bytes to gather: the length alone when it is already
%% wrong (0, or above the cap), else length and tag, and a batch's count.
header_size(P, Bin) ->
    Peek = case byte_size(P) >= 5 of
               true -> P;
               false -> <<P/binary, (binary:part(Bin, 0, min(5 - byte_size(P), byte_size(Bin))))/binary>>
           end,
    case Peek of
        <<Len:32, _/binary>> when Len =:= 0; Len > ?EPCAP_FRAME_CAP -> 4;
        <<Len:32, ?WIRE_TAG_BATCH, _/binary>> when Len >= 5 -> 9;
        _ -> 5
    end.

start(<<Len:32, _/binary>>, Acc) when Len > ?EPCAP_FRAME_CAP -> fail({frame_too_large, Len}, Acc);
start(<<0:32, _/binary>>, Acc) -> fail(empty_frame, Acc);
start(<<5:32, ?WIRE_TAG_BATCH, 0:32>>, _) -> header;
start(<<5:32, ?WIRE_TAG_BATCH, Count:32>>, Acc) -> fail({count, Count, 0}, Acc);
start(<<Len:32, ?WIRE_TAG_BATCH, Count:32>>, _) when Len > 5 -> {batch, Len - 5, Count, 0};
start(<<Len:32, ?WIRE_TAG_BATCH, _/binary>>, Acc) -> fail({short_batch, Len}, Acc);
start(<<Len:32, ?WIRE_TAG_TERM>>, _) when Len > 1 -> {term, Len - 1};
start(<<Len:32, ?WIRE_TAG_TERM>>, Acc) -> fail({short_term, Len}, Acc);
start(<<_:32, Tag>>, Acc) -> fail({bad_tag, Tag}, Acc).

%% The size of the record whose first bytes are P (its header, once here).
record_size(P) when byte_size(P) < ?WIRE_PKT_HDR -> ?WIRE_PKT_HDR;
record_size(P) -> epcap_batch:record_size(P).

%% N bytes from P then Bin: {Whole, Rest}, or {more, Pending} if short.
take(N, P, Bin) when byte_size(P) + byte_size(Bin) < N ->
    {more, <<P/binary, Bin/binary>>};
take(N, <<>>, Bin) ->
    split_binary(Bin, N);
take(N, P, Bin) ->
    {Head, Rest} = split_binary(Bin, N - byte_size(P)),
    {<<P/binary, Head/binary>>, Rest}.

decode(T, Acc) ->
    try binary_to_term(T, [safe])
    catch error:badarg -> fail(bad_term, Acc)
    end.
