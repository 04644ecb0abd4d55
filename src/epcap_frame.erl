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
%%% whose count does not match its records, a term that does not decode or
%%% is not one the port sends ({@link epcap_control}).
%%%
%%% The caps depend on what the port reads ({@link new/1}): a live
%%% capture's frames are at most a batch (256 KiB, or one record of the
%%% largest snaplen), a file's up to 1 MiB (a record larger than a batch
%%% travels alone); a capture's control terms are small (64 KiB at most,
%%% the largest the port sends is an error of about 530 bytes), `epcap -L''s
%%% list of interfaces up to the frame cap.
%%% @end
-module(epcap_frame).

-export([new/0]).
-export([new/1]).
-export([feed/2]).
-export([idle/1]).

-export_type([state/0, event/0, kind/0]).

-include("../include/epcap_protocol.hrl").

-type event() :: {records, pos_integer(), binary()} | {term, term()}.
%% What the port reads: a live interface, a file, or (`epcap -L') nothing.
-type kind() :: live | file | list.

%% A live capture's largest frame: the batch buffer, which holds at least
%% one record of the largest snaplen (c_src/wire.c, wire_batch_init).
-define(LIVE_FRAME_CAP, (9 + ?WIRE_PKT_HDR + ?EPCAP_SNAPLEN_MAX)).
-define(TERM_CAP, 65536).

-record(frame, {
    %% what the next bytes are: a frame's header, a batch's body, a term's body
    part = header :: header | {batch, Left :: non_neg_integer(), Declared :: non_neg_integer(),
                               Seen :: non_neg_integer()}
                   | {term, Left :: non_neg_integer()},
    pending = <<>> :: binary(),  % bytes held back: a cut header, record or term
    frame_cap = ?EPCAP_FRAME_CAP :: pos_integer(),  % a frame's largest length
    term_cap = ?TERM_CAP :: pos_integer()           % a term's largest size
}).
-opaque state() :: #frame{}.

%% @doc A decoder expecting a frame's header, for a file capture.
-spec new() -> state().
new() -> new(file).

%% @doc A decoder for a capture of that kind (`list': `epcap -L').
-spec new(kind()) -> state().
new(live) -> #frame{frame_cap = ?LIVE_FRAME_CAP};
new(file) -> #frame{};
new(list) -> #frame{term_cap = ?EPCAP_FRAME_CAP}.

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
    case take(header_size(P, Bin, S), P, Bin) of
        {more, P1} -> {Acc, S#frame{pending = P1}};
        {Header, Rest} -> loop(Rest, S#frame{part = start(Header, S, Acc), pending = <<>>}, Acc)
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
header_size(P, Bin, #frame{frame_cap = Cap}) ->
    Peek = case byte_size(P) >= 5 of
               true -> P;
               false -> <<P/binary, (binary:part(Bin, 0, min(5 - byte_size(P), byte_size(Bin))))/binary>>
           end,
    case Peek of
        <<Len:32, _/binary>> when Len =:= 0; Len > Cap -> 4;
        <<Len:32, ?WIRE_TAG_BATCH, _/binary>> when Len >= 5 -> 9;
        _ -> 5
    end.

start(<<Len:32, _/binary>>, #frame{frame_cap = Cap}, Acc) when Len > Cap ->
    fail({frame_too_large, Len}, Acc);
start(<<0:32, _/binary>>, _, Acc) -> fail(empty_frame, Acc);
start(<<5:32, ?WIRE_TAG_BATCH, 0:32>>, _, _) -> header;
start(<<5:32, ?WIRE_TAG_BATCH, Count:32>>, _, Acc) -> fail({count, Count, 0}, Acc);
start(<<Len:32, ?WIRE_TAG_BATCH, Count:32>>, _, _) when Len > 5 -> {batch, Len - 5, Count, 0};
start(<<Len:32, ?WIRE_TAG_BATCH, _/binary>>, _, Acc) -> fail({short_batch, Len}, Acc);
start(<<Len:32, ?WIRE_TAG_TERM>>, #frame{term_cap = Cap}, Acc) when Len - 1 > Cap ->
    fail({term_too_large, Len - 1}, Acc);
start(<<Len:32, ?WIRE_TAG_TERM>>, _, _) when Len > 1 -> {term, Len - 1};
start(<<Len:32, ?WIRE_TAG_TERM>>, _, Acc) -> fail({short_term, Len}, Acc);
start(<<_:32, Tag>>, _, Acc) -> fail({bad_tag, Tag}, Acc).

%% The size of the record whose first bytes are P (its header, once here).
record_size(P) when byte_size(P) < ?WIRE_PKT_HDR -> ?WIRE_PKT_HDR;
record_size(P) -> epcap_batch:record_size(P).

%% N bytes from P then Bin: {Whole, Rest}, or {more, Pending} if short.
take(N, P, Bin) when byte_size(P) + byte_size(Bin) < N ->
    {more, <<P/binary, Bin/binary>>};
take(N, <<>>, Bin) ->
    split_binary(Bin, N);
take(N, P, Bin) ->
    %% A new binary of the exact size: P grew by appending, which reserves
    %% room for more, and a record kept for a passive owner would keep it.
    {Head, Rest} = split_binary(Bin, N - byte_size(P)),
    {iolist_to_binary([P, Head]), Rest}.

%% Refused before it is inflated if compressed, checked in shape after.
decode(T, Acc) ->
    case epcap_control:decode(T) of
        {ok, Term} -> Term;
        {error, Why} -> fail(Why, Acc)
    end.
