%%% @doc The batch format: the one definition of a packet record's layout
%%% (`doc/protocol.md', "Packet records"), and every walk over it.
%%%
%%% A batch's records are `Sec:64, Frac:32, CapLen:32, Len:32' then
%%% `CapLen' bytes, all big-endian. Every function here matches records
%%% with the `RECORD' macro below and nowhere else.
%%% @end
-module(epcap_batch).

-export([new/3]).
-export([fold/3]).
-export([foreach/2]).
-export([link_type/1]).
-export([time_unit/1]).
-export([split/2]).
-export([whole/1]).
-export([record_size/1]).
-export([forward/5]).
-export([record/4]).

-export_type([batch/0, packet/0, time/0, time_unit/0, tag/0, fold_fun/1]).

-include("../include/epcap_protocol.hrl").

-type time() :: erlang:timestamp() | non_neg_integer().
-type time_unit() :: timestamp | microsecond | nanosecond.
-type packet() :: {packet, DataLinkType :: non_neg_integer(), time(),
                   Length :: non_neg_integer(), Packet :: binary()}.
%% A fold's fun: the packet as one tuple, or its fields as arguments (the
%% time an integer, see fold/3).
-type fold_fun(Acc) :: fun((packet(), Acc) -> Acc)
                     | fun((Time :: non_neg_integer(), Length :: non_neg_integer(),
                            Packet :: binary(), Acc) -> Acc).
-opaque batch() :: {epcap_batch, non_neg_integer(), time_unit(), binary()}.
%% How forwarded packets name their capture: not at all (`{packet, ...}'),
%% or with the server's pid (`{epcap_packet, Pid, ...}').
-type tag() :: untagged | {tagged, pid()}.

-define(HEADER(Sec, Frac, CapLen, Len), Sec:64, Frac:32, CapLen:32, Len:32).
-define(SEGMENTS(Sec, Frac, CapLen, Len, Pkt, Rest),
        ?HEADER(Sec, Frac, CapLen, Len), Pkt:CapLen/binary, Rest/binary).
-define(RECORD(Sec, Frac, CapLen, Len, Pkt, Rest),
        <<?SEGMENTS(Sec, Frac, CapLen, Len, Pkt, Rest)>>).

%% @doc A batch of `Records' (as the port sent them) from a capture of
%% link type `DLT'.
-spec new(non_neg_integer(), time_unit(), binary()) -> batch().
new(DLT, Unit, Records) -> {epcap_batch, DLT, Unit, Records}.

%% @doc Fold over a batch's packets, in order (see {@link epcap:fold/3}).
%%
%% `Fun' takes either the packet as a tuple, `{packet, DLT, Time, Len,
%% Packet}' with `Time' in the capture's `time_unit', or its fields as four
%% arguments, `Fun(Time, Len, Packet, Acc)': then no tuple is built for a
%% packet and `Time' is always an integer, microseconds since the epoch
%% (nanoseconds with `{time_unit, nanosecond}'). The batch's link type is
%% {@link link_type/1}.
%% ```
%% B = epcap_batch:new(1, microsecond, epcap_batch:record(1, 2, 60, <<"ab">>)),
%% [{packet, 1, 1000002, 60, <<"ab">>}] =
%%     epcap_batch:fold(fun(P, Acc) -> [P | Acc] end, [], B),
%% [{1000002, 60, <<"ab">>}] =
%%     epcap_batch:fold(fun(T, L, P, Acc) -> [{T, L, P} | Acc] end, [], B).
%% '''
-spec fold(fold_fun(Acc), Acc, batch()) -> Acc.
fold(Fun, Acc, {epcap_batch, _, Unit, Bin}) when is_function(Fun, 4) ->
    fold_fields(Fun, Acc, scale(Unit), Bin);
fold(Fun, Acc, {epcap_batch, DLT, timestamp, Bin}) -> fold_ts(Fun, Acc, DLT, Bin);
fold(Fun, Acc, {epcap_batch, DLT, Unit, Bin}) ->
    fold_int(Fun, Acc, DLT, scale(Unit), Bin).

%% @doc Apply `Fun' to every packet of a batch, in order: `Fun(Packet)'
%% with the packet as a tuple, or `Fun(Time, Len, Packet)' (as in
%% {@link fold/3}).
-spec foreach(fun((packet()) -> term())
              | fun((non_neg_integer(), non_neg_integer(), binary()) -> term()),
              batch()) -> ok.
foreach(Fun, Batch) when is_function(Fun, 3) ->
    fold(fun(T, L, P, ok) -> _ = Fun(T, L, P), ok end, ok, Batch);
foreach(Fun, Batch) ->
    fold(fun(P, ok) -> _ = Fun(P), ok end, ok, Batch).

%% @doc The link type (DLT) of a batch's packets.
-spec link_type(batch()) -> non_neg_integer().
link_type({epcap_batch, DLT, _, _}) -> DLT.

%% @doc The time unit of a batch's packet tuples (option `time_unit').
-spec time_unit(batch()) -> time_unit().
time_unit({epcap_batch, _, Unit, _}) -> Unit.

%% A record's fraction is in microseconds unless the capture asked for
%% nanoseconds (the port's -n).
scale(nanosecond) -> 1000000000;
scale(_) -> 1000000.

fold_fields(Fun, Acc, Scale, ?RECORD(Sec, Frac, CapLen, Len, Pkt, Rest)) ->
    fold_fields(Fun, Fun(Sec * Scale + Frac, Len, Pkt, Acc), Scale, Rest);
fold_fields(_Fun, Acc, _Scale, _) ->
    Acc.

%% One loop per time unit: no per-packet branch on the unit.
fold_ts(Fun, Acc, DLT, ?RECORD(Sec, Frac, CapLen, Len, Pkt, Rest)) ->
    P = {packet, DLT, {Sec div 1000000, Sec rem 1000000, Frac}, Len, Pkt},
    fold_ts(Fun, Fun(P, Acc), DLT, Rest);
fold_ts(_Fun, Acc, _DLT, _) ->
    Acc.

fold_int(Fun, Acc, DLT, Scale, ?RECORD(Sec, Frac, CapLen, Len, Pkt, Rest)) ->
    fold_int(Fun, Fun({packet, DLT, Sec * Scale + Frac, Len, Pkt}, Acc), DLT, Scale, Rest);
fold_int(_Fun, Acc, _DLT, _Scale, _) ->
    Acc.

%% @doc The first `N' records of `Records', and the rest. `N' must not
%% exceed the records there are (the server counted them on arrival).
-spec split(binary(), non_neg_integer()) -> {binary(), binary()}.
split(Records, N) -> split(Records, N, 0).

split(Records, 0, Off) ->
    <<Head:Off/binary, Tail/binary>> = Records,
    {Head, Tail};
split(Records, N, Off) ->
    <<_:Off/binary, ?SEGMENTS(_, _, CapLen, _, _, _)>> = Records,
    split(Records, N - 1, Off + ?WIRE_PKT_HDR + CapLen).

%% @doc How many whole records `Bin' begins with, and their size in bytes
%% (what follows is a record cut short, or nothing).
-spec whole(binary()) -> {non_neg_integer(), non_neg_integer()}.
whole(Bin) -> whole(Bin, 0, 0).

whole(<<?SEGMENTS(_, _, CapLen, _, _, Rest)>>, N, Size) ->
    whole(Rest, N + 1, Size + ?WIRE_PKT_HDR + CapLen);
whole(_, N, Size) ->
    {N, Size}.

%% @doc The size of the record whose header `Bin' begins with.
-spec record_size(binary()) -> pos_integer().
record_size(<<?HEADER(_, _, CapLen, _), _/binary>>) -> ?WIRE_PKT_HDR + CapLen.

%% @doc Send every record to `Owner' as one message each: the per-packet
%% path, one binary match and one send per packet. A packet is a
%% sub-binary of the batch, or a heap binary the runtime copies when it is
%% 64 bytes or less (`doc/protocol.md', "Copying").
-spec forward(binary(), pid(), non_neg_integer(), time_unit(), tag()) -> ok.
forward(Records, Owner, DLT, timestamp, untagged) -> send_ts(Records, Owner, DLT);
forward(Records, Owner, DLT, Unit, untagged) ->
    send_int(Records, Owner, DLT, scale(Unit));
forward(Records, Owner, DLT, timestamp, {tagged, Pid}) ->
    send_ts_tagged(Records, Owner, Pid, DLT);
forward(Records, Owner, DLT, Unit, {tagged, Pid}) ->
    send_int_tagged(Records, Owner, Pid, DLT, scale(Unit)).

send_ts(?RECORD(Sec, Frac, CapLen, Len, Pkt, Rest), Owner, DLT) ->
    Owner ! {packet, DLT, {Sec div 1000000, Sec rem 1000000, Frac}, Len, Pkt},
    send_ts(Rest, Owner, DLT);
send_ts(_, _, _) ->
    ok.

send_int(?RECORD(Sec, Frac, CapLen, Len, Pkt, Rest), Owner, DLT, Scale) ->
    Owner ! {packet, DLT, Sec * Scale + Frac, Len, Pkt},
    send_int(Rest, Owner, DLT, Scale);
send_int(_, _, _, _) ->
    ok.

send_ts_tagged(?RECORD(Sec, Frac, CapLen, Len, Pkt, Rest), Owner, Pid, DLT) ->
    Owner ! {epcap_packet, Pid, DLT, {Sec div 1000000, Sec rem 1000000, Frac}, Len, Pkt},
    send_ts_tagged(Rest, Owner, Pid, DLT);
send_ts_tagged(_, _, _, _) ->
    ok.

send_int_tagged(?RECORD(Sec, Frac, CapLen, Len, Pkt, Rest), Owner, Pid, DLT, Scale) ->
    Owner ! {epcap_packet, Pid, DLT, Sec * Scale + Frac, Len, Pkt},
    send_int_tagged(Rest, Owner, Pid, DLT, Scale);
send_int_tagged(_, _, _, _, _) ->
    ok.

%% @doc One record, as the port encodes it (for tests and fake ports).
%% ```
%% 22 = byte_size(epcap_batch:record(0, 0, 2, <<"hi">>)).
%% '''
-spec record(non_neg_integer(), non_neg_integer(), non_neg_integer(), binary()) -> binary().
record(Sec, Frac, Len, Pkt) ->
    CapLen = byte_size(Pkt),
    ?RECORD(Sec, Frac, CapLen, Len, Pkt, <<>>).
