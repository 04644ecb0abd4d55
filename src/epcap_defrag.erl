%%% @doc IP defragmentation (IPv4 and IPv6) as pure data: feed a datagram
%%% or a frame, get back whole datagrams.
%%%
%%% Nothing here sends a message or keeps a process; the caller threads the
%%% state and says what time it is (`Now', in milliseconds, e.g. a packet's
%%% capture time), so every edge is tested without a capture.
%%%
%%% <b>Fragments.</b> Fragments of a datagram may come in any order and any
%%% number of times. An exact duplicate (same offset, same bytes) is
%%% dropped and counted. A fragment whose bytes overlap another's
%%% otherwise:
%%% <ul>
%%% <li>IPv6: the whole datagram is dropped, and every fragment of it that
%%%   comes later until the timeout (RFC 5722).</li>
%%% <li>IPv4: option `{ipv4_overlap, first}' (default) keeps the bytes
%%%   that came first, `last' takes the later ones, `drop' drops the
%%%   datagram as for IPv6 (what Linux does since 4.19).</li>
%%% </ul>
%%% A reassembled IPv4 datagram has the header of its first fragment (offset
%%% 0) with the MF flag and offset cleared, its total length set and its
%%% checksum computed again; an IPv6 one has the unfragmentable part of its
%%% first fragment, without the fragment header, the payload length set.
%%% A datagram that is not a fragment comes back as it was (the same
%%% binary); so does an IPv6 atomic fragment (offset 0, no more fragments:
%%% RFC 6946), without its fragment header.
%%%
%%% <b>Limits</b> (options, defaults first), so that a flood of fragments
%%% costs a bounded amount of memory:
%%% <ul>
%%% <li>a datagram is at most 65 535 bytes (IPv4 total length, IPv6 40 plus
%%%   payload length); a fragment reaching past it is dropped
%%%   (`too_big') with the datagram;</li>
%%% <li>`{max_pending, 1024}': datagrams being reassembled at once;</li>
%%% <li>`{max_bytes, 4194304}': fragment bytes held in all (4 MiB, Linux's
%%%   `ipfrag_high_thresh');</li>
%%% <li>`{timeout, 30000}': milliseconds from a datagram's first fragment
%%%   to its last (Linux's `ipfrag_time').</li>
%%% </ul>
%%% Past a cap the oldest pending datagrams are dropped (`evicted', in
%%% constant time each) until the new fragment fits; a datagram that would
%%% not fit alone is dropped too (`{drop, no_room}'). Every fragment or datagram dropped is counted
%%% by {@link stats/1}.
%%% @end
-module(epcap_defrag).

-export([new/0]).
-export([new/1]).
-export([packet/3]).
-export([frame/4]).
-export([expire/2]).
-export([stats/1]).
-export([pending/1]).
-export([held/1]).

-export_type([state/0, option/0, result/0]).

-type option() :: {max_pending, pos_integer()} | {max_bytes, pos_integer()}
                | {timeout, non_neg_integer()} | {ipv4_overlap, first | last | drop}.
%% `{ok, Datagram}': a whole datagram; `more': a fragment was held (or
%% dropped as a duplicate) and its datagram is not whole yet; `{drop,
%% Reason}': the fragment, and with `overlap' or `too_big' its datagram,
%% was dropped.
-type result() :: {ok, binary()} | more
                | {drop, malformed | too_big | overlap | no_room}.

-record(dg, {
    first :: integer(),                        % time of the first fragment
    serial = 0 :: non_neg_integer(),           % its place in the order of arrival
    ranges = [] :: epcap_ranges:ranges(),
    bytes = 0 :: non_neg_integer(),
    total :: undefined | non_neg_integer(),     % payload length, once the last came
    head :: undefined | binary(),               % IPv4 header / IPv6 unfragmentable part
    nh_at = 6 :: non_neg_integer(),             % IPv6: where head's next-header byte is
    nh = 0 :: byte(),                           % IPv6: the fragment header's next header
    dead = false :: boolean()                   % IPv6 overlap: drop all that come
}).

-record(defrag, {
    pending = #{} :: #{term() => #dg{}},
    %% Datagrams in the order they began, for eviction in O(1)
    %% (epcap_arrivals: a datagram's serial tells its entry from stale ones).
    order = epcap_arrivals:new() :: epcap_arrivals:t(),
    bytes = 0 :: non_neg_integer(),
    max_pending = 1024 :: pos_integer(),
    max_bytes = 4194304 :: pos_integer(),
    timeout = 30000 :: non_neg_integer(),
    v4 = first :: first | last | drop,
    next_sweep = undefined :: undefined | integer(),
    stats = #{fragments => 0, reassembled => 0, duplicates => 0, overlaps => 0,
              conflicts => 0, dropped_overlap => 0, dropped_too_big => 0,
              dropped_malformed => 0, dropped_timeout => 0, evicted => 0,
              evicted_bytes => 0} :: #{atom() => non_neg_integer()}
}).
-opaque state() :: #defrag{}.

-define(MAX_DATAGRAM, 65535).

%% @equiv new([])
-spec new() -> state().
new() -> new([]).

%% @doc A new state with the options above; anything else is
%% `error({badarg, Option})'.
-spec new([option()]) -> state().
new(Opts) -> lists:foldl(fun opt/2, #defrag{}, Opts).

opt({max_pending, N}, S) when is_integer(N), N > 0 -> S#defrag{max_pending = N};
opt({max_bytes, N}, S) when is_integer(N), N > 0 -> S#defrag{max_bytes = N};
opt({timeout, N}, S) when is_integer(N), N >= 0 -> S#defrag{timeout = N};
opt({ipv4_overlap, P}, S) when P =:= first; P =:= last; P =:= drop -> S#defrag{v4 = P};
opt(Other, _) -> error({badarg, Other}).

%% @doc Feed a frame of link type `DLT' (see {@link epcap_l3}); `not_ip'
%% if it carries no whole IP header.
-spec frame(non_neg_integer(), binary(), integer(), state()) ->
          {result() | not_ip | truncated, state()}.
frame(DLT, Frame, Now, S) ->
    case epcap_l3:ip(DLT, Frame) of
        {ok, Ip} -> packet(Ip, Now, S);
        Other -> {Other, S}
    end.

%% @doc Feed an IP datagram (IPv4 or IPv6, cut at its stated length, as
%% {@link epcap_l3:ip/2} gives it).
%% ```
%% S0 = epcap_defrag:new(),
%% Ip = <<16#45, 0, 20:16, 0:32, 64, 17, 0:16, 10, 0, 0, 1, 10, 0, 0, 2>>,
%% {{ok, Ip}, _} = epcap_defrag:packet(Ip, 0, S0).
%% '''
-spec packet(binary(), integer(), state()) -> {result(), state()}.
packet(<<4:4, _:4, _:8, _:16, _:16, _:2, 0:1, 0:13, _/binary>> = Ip, _Now, S) ->
    {{ok, Ip}, S};
packet(<<4:4, IHL:4, _:8, Len:16, Id:16, _:2, MF:1, Off:13, _:8, Proto:8, _:16,
         Src:4/binary, Dst:4/binary, _/binary>> = Ip, Now, S0)
  when IHL >= 5, Len =:= byte_size(Ip), Len >= IHL * 4 ->
    S = sweep(Now, S0),
    HLen = IHL * 4,
    <<Head:HLen/binary, Data/binary>> = Ip,
    Frag = {Off * 8, Data, MF =:= 1},
    fragment({4, Src, Dst, Proto, Id}, Frag, {Head, 6, 0}, HLen, Now, S);
packet(<<6:4, _:28, _:16, NH:8, _:8, Src:16/binary, Dst:16/binary, Rest/binary>> = Ip,
       Now, S) ->
    v6(NH, Rest, 40, Ip, {Src, Dst}, Now, S);
packet(_, _Now, S) ->
    {{drop, malformed}, count(dropped_malformed, S)}.

%% Find the fragment header behind hop-by-hop, routing and destination
%% options headers; `At' is where the current next-header byte sits.
v6(NH, <<Next, Len, _/binary>> = Rest, Off, Ip, Addrs, Now, S)
  when NH =:= 0; NH =:= 43; NH =:= 60 ->
    Skip = (Len + 1) * 8,
    case Rest of
        <<_:Skip/binary, More/binary>> -> v6(Next, More, Off + Skip, Ip, Addrs, Now, S);
        _ -> {{drop, malformed}, count(dropped_malformed, S)}
    end;
v6(44, <<Next, _, FOff:13, _:2, M:1, Id:32, Data/binary>>, At, Ip, {Src, Dst}, Now, S0) ->
    S = sweep(Now, S0),
    <<Unfrag:At/binary, _/binary>> = Ip,
    NhAt = nh_at(Ip, 40, 6, At),
    case FOff =:= 0 andalso M =:= 0 of
        true -> {{ok, assemble6(Unfrag, NhAt, Next, Data)}, S};
        false -> fragment({6, Src, Dst, Id}, {FOff * 8, Data, M =:= 1},
                          {Unfrag, NhAt, Next}, At, Now, S)
    end;
v6(44, _, _, _, _, _Now, S) ->
    {{drop, malformed}, count(dropped_malformed, S)};
v6(_, _, _, Ip, _, _Now, S) ->
    {{ok, Ip}, S}.

%% The position of the next-header byte that names the fragment header:
%% the IPv6 header's, or the last extension header's before it.
nh_at(_Ip, Pos, NhAt, At) when Pos >= At -> NhAt;
nh_at(Ip, Pos, _NhAt, At) ->
    <<_:Pos/binary, _, Len, _/binary>> = Ip,
    nh_at(Ip, Pos + (Len + 1) * 8, Pos, At).

fragment(Key, {Start, Data, More}, Head, HLen, Now, S) ->
    End = Start + byte_size(Data),
    S1 = count(fragments, S),
    if
        More andalso byte_size(Data) rem 8 =/= 0; Data =:= <<>> andalso More ->
            {{drop, malformed}, count(dropped_malformed, S1)};
        HLen + End > ?MAX_DATAGRAM ->
            {{drop, too_big}, drop(Key, dropped_too_big, S1)};
        true ->
            held(Key, Start, End, binary:copy(Data), More, Head, Now, S1)
    end.

held(Key, Start, End, Data, More, Head, Now, #defrag{pending = P} = S) ->
    case maps:find(Key, P) of
        {ok, #dg{dead = true}} ->
            {{drop, overlap}, count(dropped_overlap, S)};
        {ok, Dg} ->
            fits(Key, Dg, Start, End, Data, More, Head, make_room(Key, byte_size(Data), 0, S));
        error ->
            #defrag{order = A} = S1 = make_room(Key, byte_size(Data), 1, S),
            {N, A1} = epcap_arrivals:add(Key, A),
            S2 = S1#defrag{order = A1},
            fits(Key, #dg{first = Now, serial = N}, Start, End, Data, More, Head, S2)
    end.

%% Evicting every other datagram may not make room for this one's bytes:
%% then it goes too.
fits(Key, Dg, _Start, _End, Data, _More, _Head,
     #defrag{bytes = Held, max_bytes = MB} = S) when Held + byte_size(Data) > MB ->
    S1 = count(evicted, count(evicted_bytes, Dg#dg.bytes + byte_size(Data), S)),
    {{drop, no_room}, case S1#defrag.pending of
                          #{Key := _} -> forget(Key, Dg, S1);
                          #{} -> S1
                      end};
fits(Key, Dg, Start, End, Data, More, Head, S) ->
    add(Key, Dg, Start, End, Data, More, Head, S).

add(Key, #dg{ranges = R0, total = Total0} = Dg0, Start, End, Data, More, Head, S0) ->
    Policy = policy(Key, S0),
    {Total, TotalOk} = total(Total0, End, More, R0),
    case {TotalOk, dup(Start, Data, R0)} of
        {false, _} ->
            {{drop, overlap}, kill(Key, Dg0, S0)};
        {true, true} ->
            {more, count(duplicates, S0)};
        {true, false} ->
            {R, Delta, {Ov, Df}} = epcap_ranges:insert(Start, Data, R0, ins(Policy)),
            S1 = count(overlaps, Ov, count(conflicts, Df, S0)),
            if
                Ov > 0, Policy =:= drop ->
                    {{drop, overlap}, kill(Key, Dg0, S1)};
                true ->
                    Dg = head(Start, Head, Dg0#dg{ranges = R, total = Total,
                                                   bytes = Dg0#dg.bytes + Delta}),
                    complete(Key, Dg, S1#defrag{bytes = S1#defrag.bytes + Delta})
            end
    end.

policy({6, _, _, _}, _) -> drop;
policy(_, #defrag{v4 = P}) -> P.

ins(drop) -> first;
ins(P) -> P.

%% The last fragment fixes the length; a second that says otherwise, or
%% bytes held past it, is an overlap of a kind too.
total(undefined, End, false, R) ->
    case R of
        [] -> {End, true};
        _ -> {Last, B} = lists:last(R), {End, Last + byte_size(B) =< End}
    end;
total(undefined, _End, true, _) -> {undefined, true};
total(T, End, false, _) -> {T, T =:= End};
total(T, End, true, _) -> {T, End =< T}.

dup(Start, Data, R) ->
    case lists:keyfind(Start, 1, R) of
        {_, Data} -> true;
        _ -> false
    end.

head(0, {Head, NhAt, Nh}, Dg) -> Dg#dg{head = Head, nh_at = NhAt, nh = Nh};
head(_, _, Dg) -> Dg.

complete(Key, #dg{total = T, head = H, ranges = R} = Dg, S)
  when T =/= undefined, H =/= undefined ->
    case contiguous(R, 0) of
        T ->
            Data = iolist_to_binary([B || {_, B} <- R]),
            S1 = forget(Key, Dg, S),
            {{ok, assemble(Key, Dg, Data)}, count(reassembled, S1)};
        _ ->
            {more, store(Key, Dg, S)}
    end;
complete(Key, Dg, S) ->
    {more, store(Key, Dg, S)}.

contiguous([{At, B} | T], At) -> contiguous(T, At + byte_size(B));
contiguous(_, At) -> At.

assemble({4, _, _, _, _}, #dg{head = H}, Data) ->
    <<VI:8, Tos:8, _:16, Id:16, Flags:3, _:13, TTL:8, P:8, _:16, Rest/binary>> = H,
    Len = byte_size(H) + byte_size(Data),
    Hdr0 = <<VI, Tos, Len:16, Id:16, (Flags band 2#110):3, 0:13, TTL, P, 0:16, Rest/binary>>,
    <<A:10/binary, _:16, B/binary>> = Hdr0,
    <<A/binary, (checksum(Hdr0)):16, B/binary, Data/binary>>;
assemble({6, _, _, _}, #dg{head = H, nh_at = NhAt, nh = Nh}, Data) ->
    assemble6(H, NhAt, Nh, Data).

assemble6(Unfrag, NhAt, Nh, Data) ->
    <<A:4/binary, _:16, B/binary>> = Unfrag,
    U1 = <<A/binary, (byte_size(Unfrag) - 40 + byte_size(Data)):16, B/binary>>,
    <<C:NhAt/binary, _, D/binary>> = U1,
    <<C/binary, Nh, D/binary, Data/binary>>.

checksum(Hdr) -> checksum(Hdr, 0).
checksum(<<W:16, R/binary>>, Sum) -> checksum(R, Sum + W);
checksum(<<>>, Sum) ->
    S1 = (Sum band 16#FFFF) + (Sum bsr 16),
    (bnot ((S1 band 16#FFFF) + (S1 bsr 16))) band 16#FFFF.

store(Key, Dg, #defrag{pending = P} = S) -> S#defrag{pending = P#{Key => Dg}}.

forget(Key, #dg{bytes = B}, #defrag{pending = P, bytes = Held} = S) ->
    S#defrag{pending = maps:remove(Key, P), bytes = Held - B}.

%% Drop a datagram and keep a tombstone that drops what comes later.
kill(Key, Dg, S) ->
    S1 = forget(Key, Dg, S),
    count(dropped_overlap,
          store(Key, #dg{first = Dg#dg.first, serial = Dg#dg.serial, dead = true}, S1)).

drop(Key, Why, #defrag{pending = P} = S) ->
    case maps:find(Key, P) of
        {ok, Dg} -> count(Why, forget(Key, Dg, S));
        error -> count(Why, S)
    end.

%% Evict the oldest datagrams but `Keep' until `Bytes' more and `N' more
%% datagrams fit (or none is left to evict).
make_room(Keep, Bytes, N, #defrag{pending = P, bytes = Held, max_pending = MP,
                                  max_bytes = MB} = S)
  when map_size(P) + N > MP; Held + Bytes > MB ->
    case oldest(Keep, S) of
        {none, S1} ->
            S1;
        {{Key, Dg}, S1} ->
            S2 = count(evicted, count(evicted_bytes, Dg#dg.bytes, S1)),
            make_room(Keep, Bytes, N, forget(Key, Dg, S2))
    end;
make_room(_Keep, _, _, S) ->
    compact(S).

%% The oldest datagram that is not `Keep', taken off the queue (Keep's
%% entry, if met, goes back in front).
oldest(Keep, #defrag{order = A, pending = P} = S) ->
    case epcap_arrivals:take(A) of
        empty ->
            {none, S};
        {{N, Key} = E, A1} ->
            S1 = S#defrag{order = A1},
            case P of
                #{Key := #dg{serial = N}} when Key =:= Keep ->
                    {Found, S2} = oldest(Keep, S1),
                    {Found, S2#defrag{order = epcap_arrivals:put_back(E, S2#defrag.order)}};
                #{Key := #dg{serial = N} = Dg} ->
                    {{Key, Dg}, S1};
                #{} ->
                    oldest(Keep, S1)
            end
    end.

compact(#defrag{pending = P, order = A} = S) ->
    Live = fun(N, K) -> case P of #{K := #dg{serial = N}} -> true; #{} -> false end end,
    S#defrag{order = epcap_arrivals:compact(Live, map_size(P) + 8, A)}.

%% @doc Drop the datagrams whose first fragment came `timeout' or more
%% milliseconds before `Now'. Fragments fed in call it once a second of
%% `Now' at most.
-spec expire(integer(), state()) -> state().
expire(Now, #defrag{pending = P, timeout = TO} = S) ->
    Old = maps:filter(fun(_, #dg{first = T}) -> Now - T >= TO end, P),
    maps:fold(fun(K, #dg{dead = Dead} = D, Acc) ->
                      Acc1 = forget(K, D, Acc),
                      case Dead of
                          true -> Acc1;
                          false -> count(dropped_timeout, Acc1)
                      end
              end, S, Old).

sweep(Now, #defrag{next_sweep = N} = S) when N =:= undefined; Now >= N ->
    (expire(Now, S))#defrag{next_sweep = Now + 1000};
sweep(_, S) -> S.

count(K, S) -> count(K, 1, S).
count(_, 0, S) -> S;
count(K, N, #defrag{stats = St} = S) -> S#defrag{stats = St#{K := maps:get(K, St) + N}}.

%% @doc Counts: `fragments' fed, datagrams `reassembled', `duplicates',
%% `overlaps' (bytes overlapped) and `conflicts' (of those, bytes that
%% differed), datagrams or fragments dropped for `overlap', `too_big',
%% `malformed', `timeout' (`dropped_*'), datagrams `evicted' to respect the
%% caps and their `evicted_bytes'; `pending' and `bytes' held now.
-spec stats(state()) -> #{atom() => non_neg_integer()}.
stats(#defrag{stats = St, pending = P, bytes = B}) ->
    St#{pending => map_size(P), bytes => B}.

%% @doc Datagrams being reassembled (and IPv6 tombstones).
-spec pending(state()) -> non_neg_integer().
pending(#defrag{pending = P}) -> map_size(P).

%% @doc Fragment bytes held.
-spec held(state()) -> non_neg_integer().
held(#defrag{bytes = B}) -> B.
