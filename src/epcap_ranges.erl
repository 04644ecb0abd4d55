%%% @doc Byte ranges held out of order: a sorted list of `{Start, Bytes}'
%%% that never overlap, as {@link epcap_defrag} keeps fragments and
%%% {@link epcap_tcp} keeps segments ahead of a gap.
%%%
%%% Where a new range overlaps held ones, `first' keeps the bytes held
%%% (first seen wins) and `last' takes the new ones; either way the
%%% overlapping bytes are counted, and those that differ apart.
%%% @end
-module(epcap_ranges).

-export([insert/4]).
-export([size/1]).

-export_type([ranges/0, policy/0, overlap/0]).

-type ranges() :: [{non_neg_integer(), binary()}].
-type policy() :: first | last.
%% Bytes of the new range that overlapped held ones, and how many of those
%% differed.
-type overlap() :: {Overlapped :: non_neg_integer(), Differing :: non_neg_integer()}.

%% @doc Insert `Bytes' at `Start'. Returns the ranges, the change in bytes
%% held, and the overlap.
%% ```
%% {[{0, <<"ab">>}, {2, <<"cd">>}], 2, {0, 0}} =
%%     epcap_ranges:insert(2, <<"cd">>, [{0, <<"ab">>}], first),
%% {[{0, <<"ab">>}, {2, <<"c">>}], 1, {1, 1}} =
%%     epcap_ranges:insert(1, <<"xc">>, [{0, <<"ab">>}], first),
%% {[{0, <<"a">>}, {1, <<"xc">>}], 1, {1, 1}} =
%%     epcap_ranges:insert(1, <<"xc">>, [{0, <<"ab">>}], last).
%% '''
-spec insert(integer(), binary(), ranges(), policy()) -> {ranges(), integer(), overlap()}.
insert(_Start, <<>>, Ranges, _Policy) -> {Ranges, 0, {0, 0}};
insert(Start, Bytes, Ranges, first) -> first(Start, Bytes, Ranges, [], 0, 0, 0);
insert(Start, Bytes, Ranges, last) -> last(Start, Bytes, Ranges, [], 0, 0, 0).

%% @doc Bytes held.
-spec size(ranges()) -> non_neg_integer().
size(Ranges) -> lists:foldl(fun({_, B}, N) -> N + byte_size(B) end, 0, Ranges).

%% First seen wins: only the parts of the new range that no held range
%% covers go in.
first(S, B, [], Acc, D, O, X) ->
    {lists:reverse(Acc, [{S, B}]), D + byte_size(B), {O, X}};
first(S, B, [{S1, B1} = R | T] = L, Acc, D, O, X) ->
    E = S + byte_size(B),
    E1 = S1 + byte_size(B1),
    if
        E =< S1 -> {lists:reverse(Acc, [{S, B} | L]), D + byte_size(B), {O, X}};
        S >= E1 -> first(S, B, T, [R | Acc], D, O, X);
        true ->
            {Ov, Df} = compare(S, B, S1, B1),
            {Acc1, D1} = case S < S1 of
                             true -> {[R, {S, binary:part(B, 0, S1 - S)} | Acc], D + S1 - S};
                             false -> {[R | Acc], D}
                         end,
            case E > E1 of
                true -> first(E1, binary:part(B, E1 - S, E - E1), T, Acc1, D1, O + Ov, X + Df);
                false -> {lists:reverse(Acc1, T), D1, {O + Ov, X + Df}}
            end
    end.

%% Last seen wins: held ranges give way to the new one.
last(S, B, [], Acc, D, O, X) ->
    {lists:reverse(Acc, [{S, B}]), D + byte_size(B), {O, X}};
last(S, B, [{S1, B1} = R | T] = L, Acc, D, O, X) ->
    E = S + byte_size(B),
    E1 = S1 + byte_size(B1),
    if
        E =< S1 -> {lists:reverse(Acc, [{S, B} | L]), D + byte_size(B), {O, X}};
        S >= E1 -> last(S, B, T, [R | Acc], D, O, X);
        true ->
            {Ov, Df} = compare(S, B, S1, B1),
            Acc1 = case S1 < S of
                       true -> [{S1, binary:part(B1, 0, S - S1)} | Acc];
                       false -> Acc
                   end,
            D1 = D - Ov,
            case E1 > E of
                true ->
                    Tail = [{S, B}, {E, binary:part(B1, E - S1, E1 - E)} | T],
                    {lists:reverse(Acc1, Tail), D1 + byte_size(B), {O + Ov, X + Df}};
                false ->
                    last(S, B, T, Acc1, D1, O + Ov, X + Df)
            end
    end.

%% The overlap of two ranges: its length, and how many of its bytes differ.
compare(S, B, S1, B1) ->
    Lo = max(S, S1),
    Hi = min(S + byte_size(B), S1 + byte_size(B1)),
    N = Hi - Lo,
    P = binary:part(B, Lo - S, N),
    P1 = binary:part(B1, Lo - S1, N),
    case P =:= P1 of
        true -> {N, 0};
        false -> {N, differ(P, P1, 0)}
    end.

differ(<<A, R/binary>>, <<A, R1/binary>>, N) -> differ(R, R1, N);
differ(<<_, R/binary>>, <<_, R1/binary>>, N) -> differ(R, R1, N + 1);
differ(<<>>, <<>>, N) -> N.
