%%% @doc TCP stream reassembly as pure data: feed frames (or IP datagrams),
%%% get back each connection's two byte streams, in order, exactly once.
%%%
%%% Like {@link epcap_flow} and {@link epcap_defrag}, nothing here sends a
%%% message or keeps a process; the caller threads the state and says what
%%% time it is (`Now', milliseconds, e.g. a packet's capture time). A
%%% process that does it for a capture is {@link epcap_tcp_server}.
%%%
%%% <b>Events</b>, returned in order by {@link frame/4} and friends:
%%% <ul>
%%% <li>`{open, Flow}': `Flow' is `{Client, Server}', each `{IP, Port}'
%%%   with `IP' as `inet' has it. The client sent the SYN (or received the
%%%   SYN-ACK); when the capture starts after both, the sender of the first
%%%   segment seen is taken for the client.</li>
%%% <li>`{data, Flow, Dir, Offset, Bytes}': `Dir' is `client' or `server',
%%%   the side that sent the bytes; `Offset' counts the bytes of that
%%%   direction from 0 (the byte after the SYN, or the first byte seen when
%%%   the capture started mid-stream). The offsets of a direction's data
%%%   and gap events follow each other with no hole and no overlap.</li>
%%% <li>`{gap, Flow, Dir, Offset, Length}': `Length' bytes were never seen
%%%   and will not be waited for (see the limits below).</li>
%%% <li>`{close, Flow, Why}': `fin' when both directions ended with a FIN
%%%   and every byte before it came, `rst', `timeout' (idle, a new SYN
%%%   on the same addresses and ports, or {@link flush/1}), `limit'
%%%   (closed to open a new flow beyond `max_flows'). Every byte held is
%%%   given out before the close, holes as gaps.</li>
%%% </ul>
%%% A connection closed by FIN or RST is remembered for 60 s (at most
%%% `max_flows' of them): its late retransmissions open no new one, a new
%%% SYN does. A segment of no known connection opens one only if it has a
%%% SYN or data (a bare ACK or RST is `ignored').
%%%
%%% <b>Segments.</b> Segments ahead of the next expected byte are held
%%% until the bytes before them come. Bytes already delivered that come
%%% again (retransmissions, duplicates) are dropped and counted; sequence
%%% numbers are compared modulo 2^32, so a stream may cross the wrap and
%%% be longer than 4 GiB. Where held segments overlap with bytes that
%%% differ, `{overlap, first}' (default) keeps those that came first and
%%% `{overlap, last}' the later ones; either is counted (`conflicts').
%%% Bytes already delivered are final: a later copy that differs is a
%%% retransmission to this module, and is dropped.
%%%
%%% <b>Limits</b> (options, defaults first):
%%% <ul>
%%% <li>`{max_flow_bytes, 1048576}': bytes held out of order per direction
%%%   (1 MiB); past it the oldest hole is given up for a gap event.</li>
%%% <li>`{max_bytes, 67108864}': bytes held in all (64 MiB); a direction
%%%   that would pass it gives up all its holes at once. Memory held is
%%%   thus at most `max_bytes' plus one segment.</li>
%%% <li>`{max_flows, 65536}': open connections; opening one more closes
%%%   the oldest opened (`limit').</li>
%%% <li>`{gap_timeout, 10000}': milliseconds a direction holds bytes
%%%   behind a hole (or waits for the bytes before its FIN) before it
%%%   gives the hole up as a gap.</li>
%%% <li>`{idle_timeout, 300000}': a connection with no segment for that
%%%   long is closed (`timeout').</li>
%%% <li>`{window, 1073741824}': a segment starting further than this
%%%   past the next expected byte (2^30, the largest scaled TCP window) is
%%%   dropped and counted (`out_of_window').</li>
%%% <li>`{defrag, Options}': IP fragments are reassembled first by
%%%   {@link epcap_defrag} with these options (`[]' by default),
%%%   `{defrag, false}' drops them.</li>
%%% </ul>
%%% @end
-module(epcap_tcp).

-export([new/0]).
-export([new/1]).
-export([frame/4]).
-export([packet/3]).
-export([expire/2]).
-export([flush/1]).
-export([stats/1]).
-export([held/1]).
-export([flows/1]).

-export_type([state/0, option/0, event/0, flow/0, endpoint/0, dir/0]).

-type endpoint() :: {inet:ip_address(), inet:port_number()}.
-type flow() :: {Client :: endpoint(), Server :: endpoint()}.
-type dir() :: client | server.
-type event() :: {open, flow()}
               | {data, flow(), dir(), non_neg_integer(), binary()}
               | {gap, flow(), dir(), non_neg_integer(), pos_integer()}
               | {close, flow(), fin | rst | timeout | limit}.
-type option() :: {max_flow_bytes, pos_integer()} | {max_bytes, pos_integer()}
                | {max_flows, pos_integer()} | {gap_timeout, non_neg_integer()}
                | {idle_timeout, non_neg_integer()} | {window, pos_integer()}
                | {overlap, first | last} | {defrag, [epcap_defrag:option()] | false}.

-define(M32, 16#FFFFFFFF).
-define(FIN, 1).
-define(SYN, 2).
-define(RST, 4).
-define(ACK, 16).
%% How long a closed connection's tuple is remembered: 2 MSL.
-define(TIME_WAIT, 60000).

%% One direction: `isn' is the sequence number of offset 0.
-record(d, {
    isn :: undefined | non_neg_integer(),
    next = 0 :: non_neg_integer(),
    pend = [] :: epcap_ranges:ranges(),
    held = 0 :: non_neg_integer(),
    since :: undefined | integer(),       % when it began to hold bytes or wait
    fin :: undefined | non_neg_integer()
}).
%% A connection; `a' is the side whose {Address, Port} sorts first.
-record(c, {
    flow :: flow(),
    client :: a | b,
    serial :: non_neg_integer(),
    a = #d{} :: #d{},
    b = #d{} :: #d{},
    seen :: integer()
}).
-record(tcp, {
    flows = #{} :: #{key() => #c{}},
    closed = #{} :: #{key() => integer()},      % ended by FIN or RST, and when
    %% flows in the order they were opened (a flow's serial tells its entry
    %% from stale ones: epcap_arrivals)
    order = epcap_arrivals:new() :: epcap_arrivals:t(),
    held = 0 :: non_neg_integer(),
    max_flow_bytes = 1048576 :: pos_integer(),
    max_bytes = 67108864 :: pos_integer(),
    max_flows = 65536 :: pos_integer(),
    gap_timeout = 10000 :: non_neg_integer(),
    idle_timeout = 300000 :: non_neg_integer(),
    window = 1073741824 :: pos_integer(),
    overlap = first :: first | last,
    defrag :: epcap_defrag:state() | false | undefined,
    next_sweep :: undefined | integer(),
    packets = 0 :: non_neg_integer(),
    stats = #{not_tcp => 0, malformed => 0, truncated => 0,
              fragments_dropped => 0, opened => 0, fin => 0, rst => 0,
              timeout => 0, limit => 0, retransmitted => 0, overlaps => 0,
              conflicts => 0, out_of_window => 0, gaps => 0, gap_bytes => 0,
              ignored => 0} :: #{atom() => non_neg_integer()}
}).
-type key() :: {binary(), char(), binary(), char()}.
-opaque state() :: #tcp{}.

%% @equiv new([])
-spec new() -> state().
new() -> new([]).

%% @doc A new state with the options above; anything else is
%% `error({badarg, Option})'.
-spec new([option()]) -> state().
new(Opts) ->
    S = lists:foldl(fun opt/2, #tcp{}, Opts),
    case S#tcp.defrag of
        undefined -> S#tcp{defrag = epcap_defrag:new()};
        _ -> S
    end.

opt({max_flow_bytes, N}, S) when is_integer(N), N > 0 -> S#tcp{max_flow_bytes = N};
opt({max_bytes, N}, S) when is_integer(N), N > 0 -> S#tcp{max_bytes = N};
opt({max_flows, N}, S) when is_integer(N), N > 0 -> S#tcp{max_flows = N};
opt({gap_timeout, N}, S) when is_integer(N), N >= 0 -> S#tcp{gap_timeout = N};
opt({idle_timeout, N}, S) when is_integer(N), N >= 0 -> S#tcp{idle_timeout = N};
opt({window, N}, S) when is_integer(N), N > 0 -> S#tcp{window = N};
opt({overlap, P}, S) when P =:= first; P =:= last -> S#tcp{overlap = P};
opt({defrag, false}, S) -> S#tcp{defrag = false};
opt({defrag, L}, S) when is_list(L) -> S#tcp{defrag = epcap_defrag:new(L)};
opt(Other, _) -> error({badarg, Other}).

%% @doc Feed a frame captured on a link of type `DLT' (see
%% {@link epcap_l3}) at time `Now' (milliseconds).
-spec frame(non_neg_integer(), binary(), integer(), state()) -> {[event()], state()}.
frame(DLT, Frame, Now, S) ->
    case epcap_l3:ip(DLT, Frame) of
        {ok, Ip} -> packet(Ip, Now, S);
        not_ip -> {[], count(not_tcp, S)};
        truncated -> {[], count(truncated, S)}
    end.

%% @doc Feed an IP datagram (IPv4 or IPv6) at time `Now' (milliseconds).
%% ```
%% S0 = epcap_tcp:new(),
%% Syn = <<16#45, 0, 40:16, 0:32, 64, 6, 0:16, 10,0,0,1, 10,0,0,2,
%%         1234:16, 80:16, 99:32, 0:32, 5:4, 0:4, 2, 0:48>>,
%% {[{open, {{{10,0,0,1}, 1234}, {{10,0,0,2}, 80}}}], _} =
%%     epcap_tcp:packet(Syn, 0, S0).
%% '''
-spec packet(binary(), integer(), state()) -> {[event()], state()}.
packet(Ip, Now, #tcp{next_sweep = NS} = S0) ->
    {Ev0, S} = case NS =:= undefined orelse Now >= NS of
                   true -> sweep(Now, S0);
                   false -> {[], S0}
               end,
    {Ev, S1} = ip(Ip, Now, S#tcp{packets = S#tcp.packets + 1}),
    {append(Ev0, Ev), S1}.

append([], L) -> L;
append(L1, L2) -> L1 ++ L2.

ip(<<4:4, IHL:4, _:8, _:16, _:16, _:2, 0:1, 0:13, _:8, 6:8, _:16,
     Src:4/binary, Dst:4/binary, _/binary>> = Ip, Now, S) when IHL >= 5 ->
    Off = IHL * 4,
    case Ip of
        <<_:Off/binary, Tcp/binary>> -> tcp(Src, Dst, Tcp, Now, S);
        _ -> {[], count(malformed, S)}
    end;
ip(<<4:4, IHL:4, _:8, _:16, _:16, _:2, _:14, _:8, 6:8, _/binary>> = Ip, Now, S)
  when IHL >= 5 ->
    defrag(Ip, Now, S);
ip(<<4:4, _/bitstring>>, _Now, S) ->
    {[], count(not_tcp, S)};
ip(<<6:4, _:28, _:16, NH:8, _:8, Src:16/binary, Dst:16/binary, Rest/binary>> = Ip,
   Now, S) ->
    v6(NH, Rest, Src, Dst, Ip, Now, S);
ip(_, _Now, S) ->
    {[], count(malformed, S)}.

v6(6, Tcp, Src, Dst, _Ip, Now, S) -> tcp(Src, Dst, Tcp, Now, S);
v6(NH, <<Next, Len, _/binary>> = Rest, Src, Dst, Ip, Now, S)
  when NH =:= 0; NH =:= 43; NH =:= 60 ->
    Skip = (Len + 1) * 8,
    case Rest of
        <<_:Skip/binary, More/binary>> -> v6(Next, More, Src, Dst, Ip, Now, S);
        _ -> {[], count(malformed, S)}
    end;
v6(44, _, _, _, Ip, Now, S) -> defrag(Ip, Now, S);
v6(_, _, _, _, _, _Now, S) -> {[], count(not_tcp, S)}.

defrag(_Ip, _Now, #tcp{defrag = false} = S) ->
    {[], count(fragments_dropped, S)};
defrag(Ip, Now, #tcp{defrag = D} = S) ->
    case epcap_defrag:packet(Ip, Now, D) of
        {{ok, Whole}, D1} when Whole =/= Ip -> ip(Whole, Now, S#tcp{defrag = D1});
        {{ok, _}, D1} -> {[], count(malformed, S#tcp{defrag = D1})};
        {more, D1} -> {[], S#tcp{defrag = D1}};
        {{drop, _}, D1} -> {[], count(fragments_dropped, S#tcp{defrag = D1})}
    end.

tcp(Src, Dst, <<SP:16, DP:16, Seq:32, _Ack:32, DOff:4, _:4, Flags:8, _/binary>> = Tcp,
    Now, S) when DOff >= 5 ->
    H = DOff * 4,
    case Tcp of
        <<_:H/binary, Data/binary>> ->
            case {Src, SP} =< {Dst, DP} of
                true -> segment({Src, SP, Dst, DP}, a, Seq, Flags, Data, Now, S);
                false -> segment({Dst, DP, Src, SP}, b, Seq, Flags, Data, Now, S)
            end;
        _ -> {[], count(malformed, S)}
    end;
tcp(_, _, _, _Now, S) ->
    {[], count(malformed, S)}.

segment(K, Side, Seq, Flags, Data, Now, #tcp{flows = F} = S) ->
    case F of
        #{K := C} ->
            conn(K, C#c{seen = Now}, Side, Seq, Flags, Data, Now, S, []);
        #{} when Flags band ?RST =:= 0, Flags band ?SYN =/= 0 orelse Data =/= <<>> ->
            case S#tcp.closed of
                #{K := _} when Flags band (?SYN bor ?ACK) =/= ?SYN ->
                    {[], count(ignored, S)};
                #{} ->
                    {Ev, S1} = open(K, Side, Flags, Now,
                                    S#tcp{closed = maps:remove(K, S#tcp.closed)}),
                    conn(K, maps:get(K, S1#tcp.flows), Side, Seq, Flags, Data, Now, S1, Ev)
            end;
        #{} ->
            {[], count(ignored, S)}
    end.

open(K, Side, Flags, Now, S0) ->
    {Ev, S} = room(S0),
    {A, AP, B, BP} = K,
    EA = {ip_tuple(A), AP},
    EB = {ip_tuple(B), BP},
    Client = case Flags band (?SYN bor ?ACK) of
                 ?SYN bor ?ACK -> other(Side);
                 _ -> Side
             end,
    Flow = case Client of a -> {EA, EB}; b -> {EB, EA} end,
    {N, Order} = epcap_arrivals:add(K, S#tcp.order),
    C = #c{flow = Flow, client = Client, serial = N, seen = Now},
    S1 = S#tcp{flows = (S#tcp.flows)#{K => C}, order = Order},
    {Ev ++ [{open, Flow}], count(opened, S1)}.

other(a) -> b;
other(b) -> a.

ip_tuple(<<A, B, C, D>>) -> {A, B, C, D};
ip_tuple(<<A:16, B:16, C:16, D:16, E:16, F:16, G:16, H:16>>) -> {A, B, C, D, E, F, G, H}.

%% Make room for one more flow: close the oldest opened past max_flows, and
%% keep the queue of opened flows at most twice as long as the table.
room(#tcp{flows = F, max_flows = Max} = S) when map_size(F) >= Max ->
    {{N, K}, A} = epcap_arrivals:take(S#tcp.order),
    S1 = S#tcp{order = A},
    case F of
        #{K := #c{serial = N} = C} ->
            {Ev, S2} = close(K, C, limit, S1),
            {Ev1, S3} = room(S2),
            {Ev ++ Ev1, S3};
        #{} ->
            room(S1)
    end;
room(#tcp{flows = F, max_flows = Max, order = A} = S) ->
    {[], S#tcp{order = epcap_arrivals:compact(fun(N, K) -> live(N, K, F) end, Max, A)}}.

live(N, K, F) -> case F of #{K := #c{serial = N}} -> true; #{} -> false end.

conn(K, C, _Side, _Seq, Flags, _Data, _Now, S, Ev) when Flags band ?RST =/= 0 ->
    {Ev1, S1} = close(K, C, rst, S),
    {Ev ++ Ev1, S1};
conn(K, #c{flow = Flow, client = Cl} = C, Side, Seq, Flags, Data, Now, S, [])
  when Flags band (?SYN bor ?FIN) =:= 0, Data =/= <<>> ->
    %% The common case, a segment that comes next: no hold, no FIN to check.
    case dir(Side, C) of
        #d{isn = Isn, next = Next, pend = [], fin = undefined} = D
          when Isn =/= undefined, (Seq - Isn - Next) band ?M32 =:= 0 ->
            Dir = case Side of Cl -> client; _ -> server end,
            D1 = D#d{next = Next + byte_size(Data)},
            {[{data, Flow, Dir, Next, Data}], store(K, set_dir(Side, D1, C), S)};
        D ->
            slow(K, C, Side, D, Seq, Flags, Data, Now, S, [])
    end;
conn(K, C, Side, Seq, Flags, Data, Now, S, Ev) ->
    slow(K, C, Side, dir(Side, C), Seq, Flags, Data, Now, S, Ev).

slow(K, C, Side, D, Seq, Flags, Data, Now, S, Ev) ->
    Syn = syn(Flags),
    Isn = (Seq + Syn) band ?M32,
    case D of
        #d{isn = undefined} ->
            stream(K, C, Side, D#d{isn = Isn}, Seq, Flags, Data, Now, S, Ev);
        #d{isn = Isn} when Syn =/= 0 ->
            stream(K, C, Side, D, Seq, Flags, Data, Now, S, Ev);
        #d{} when Syn =/= 0, Flags band ?ACK =:= 0 ->
            %% A new SYN on the same addresses and ports: a new connection.
            {Ev1, S1} = close(K, C, timeout, S),
            {Ev2, S2} = segment(K, Side, Seq, Flags, Data, Now, S1),
            {Ev ++ Ev1 ++ Ev2, S2};
        #d{} when Syn =/= 0 ->
            {Ev, count(ignored, store(K, C, S))};
        #d{} ->
            stream(K, C, Side, D, Seq, Flags, Data, Now, S, Ev)
    end.

%% A SYN takes one sequence number.
syn(Flags) when Flags band ?SYN =/= 0 -> 1;
syn(_) -> 0.

dir(a, #c{a = D}) -> D;
dir(b, #c{b = D}) -> D.

set_dir(a, D, C) -> C#c{a = D};
set_dir(b, D, C) -> C#c{b = D}.

store(K, C, #tcp{flows = F} = S) -> S#tcp{flows = F#{K := C}}.

stream(K, #c{flow = Flow, client = Cl} = C, Side, D0, Seq, Flags, Data, Now, S0, Ev) ->
    Off = offset(Seq + syn(Flags), D0),
    Dir = case Side of Cl -> client; _ -> server end,
    {Ev1, D1, S1} = data(Off, Data, D0, Flow, Dir, Now, S0),
    D2 = case Flags band ?FIN of
             0 -> D1;
             _ when D1#d.fin =:= undefined -> wait_fin(D1#d{fin = Off + byte_size(Data)}, Now);
             _ -> D1
         end,
    C1 = set_dir(Side, D2, C),
    Ev2 = append(Ev, Ev1),
    case done(C1#c.a) andalso done(C1#c.b) of
        true ->
            {Ev3, S2} = close(K, C1, fin, S1),
            {append(Ev2, Ev3), S2};
        false ->
            {Ev2, store(K, C1, S1)}
    end.

%% A direction whose FIN came before some of its bytes waits for them.
wait_fin(#d{next = N, fin = F, since = undefined} = D, Now) when N < F -> D#d{since = Now};
wait_fin(D, _) -> D.

done(#d{fin = F, next = N}) -> F =/= undefined andalso N >= F.

%% A sequence number's offset: the one nearest the next expected byte,
%% modulo 2^32.
offset(Seq, #d{isn = Isn, next = Next}) ->
    case (Seq - Isn - Next) band ?M32 of
        Delta when Delta >= 16#80000000 -> Next + Delta - 16#100000000;
        Delta -> Next + Delta
    end.

data(_Off, <<>>, D, _Flow, _Dir, _Now, S) ->
    {[], D, S};
data(Off, Bytes, #d{next = Next, pend = []} = D, Flow, Dir, _Now, S) when Off =:= Next ->
    End = Off + byte_size(Bytes),
    {[{data, Flow, Dir, Off, Bytes}], D#d{next = End}, S};
data(Off, Bytes, #d{next = Next} = D, Flow, Dir, Now, S) ->
    End = Off + byte_size(Bytes),
    if
        End =< Next ->
            {[], D, count(retransmitted, byte_size(Bytes), S)};
        Off - Next > S#tcp.window ->
            {[], D, count(out_of_window, S)};
        Off < Next ->
            Tail = binary:part(Bytes, Next - Off, End - Next),
            data(Next, Tail, D, Flow, Dir, Now, count(retransmitted, Next - Off, S));
        true ->
            hold(Off, Bytes, D, Flow, Dir, Now, S)
    end.

hold(Off, Bytes, #d{pend = P, held = H} = D, Flow, Dir, Now, #tcp{overlap = Pol} = S0) ->
    {P1, Delta, {Ov, Df}} = epcap_ranges:insert(Off, binary:copy(Bytes), P, Pol),
    S = count(overlaps, Ov, count(conflicts, Df, S0)),
    {Ev, D1} = pop(D#d{pend = P1, held = H + Delta}, Flow, Dir, []),
    S1 = S#tcp{held = S#tcp.held + D1#d.held - D#d.held},
    {Ev1, D2, S2} = limit(Ev, D1, Flow, Dir, S1),
    {Ev1, since(D2, Now), S2}.

%% Deliver held bytes that now follow on.
pop(#d{next = N, pend = [{N, B} | T], held = H} = D, Flow, Dir, Acc) ->
    pop(D#d{next = N + byte_size(B), pend = T, held = H - byte_size(B)}, Flow, Dir,
        [{data, Flow, Dir, N, B} | Acc]);
pop(#d{next = N, pend = [{S, B} | T], held = H} = D, Flow, Dir, Acc) when S < N ->
    %% Only after a gap skipped into a range (never: ranges start past it).
    End = S + byte_size(B),
    case End > N of
        true ->
            pop(D#d{pend = [{N, binary:part(B, N - S, End - N)} | T], held = H - (N - S)},
                Flow, Dir, Acc);
        false ->
            pop(D#d{pend = T, held = H - byte_size(B)}, Flow, Dir, Acc)
    end;
pop(D, _Flow, _Dir, Acc) ->
    {lists:reverse(Acc), D}.

since(#d{pend = [], fin = undefined} = D, _) -> D#d{since = undefined};
since(#d{pend = [], fin = F, next = N} = D, _) when N >= F -> D#d{since = undefined};
since(#d{since = undefined} = D, Now) -> D#d{since = Now};
since(D, _) -> D.

%% Past the per-direction bound, give up holes one by one; past the total,
%% all of this direction's.
limit(Ev, D, Flow, Dir, #tcp{max_bytes = MB, held = T} = S) when T > MB ->
    {Ev1, D1, S1} = skip_all(D, Flow, Dir, S),
    {Ev ++ Ev1, D1, S1};
limit(Ev, #d{held = H} = D, Flow, Dir, #tcp{max_flow_bytes = MF} = S) when H > MF ->
    case skip(D, Flow, Dir, S) of
        {[], D1, S1} -> {Ev, D1, S1};
        {Ev1, D1, S1} -> limit(Ev ++ Ev1, D1, Flow, Dir, S1)
    end;
limit(Ev, D, _Flow, _Dir, S) ->
    {Ev, D, S}.

%% Give up the first hole: a gap event, then what follows on.
skip(#d{next = N, pend = [{P, _} | _], held = H0} = D, Flow, Dir, S) when P > N ->
    {Ev, D1} = pop(D#d{next = P}, Flow, Dir, []),
    S1 = count(gaps, count(gap_bytes, P - N, S)),
    {[{gap, Flow, Dir, N, P - N} | Ev], D1#d{since = undefined},
     S1#tcp{held = S1#tcp.held - (H0 - D1#d.held)}};
skip(D, _Flow, _Dir, S) ->
    {[], D, S}.

skip_all(#d{pend = []} = D, _Flow, _Dir, S) -> {[], D, S};
skip_all(D, Flow, Dir, S) ->
    case skip(D, Flow, Dir, S) of
        {[], D1, S1} -> {[], D1, S1};
        {Ev, D1, S1} ->
            {Ev1, D2, S2} = skip_all(D1, Flow, Dir, S1),
            {Ev ++ Ev1, D2, S2}
    end.

%% Everything held goes out, holes as gaps, then the bytes missing before
%% a FIN; then the close.
close(K, #c{flow = Flow, client = Cl, a = A, b = B} = C, Why, S) ->
    {EvA, _, S1} = finish(A, Flow, case Cl of a -> client; b -> server end, S),
    {EvB, _, S2} = finish(B, Flow, case Cl of b -> client; a -> server end, S1),
    {EvA ++ EvB ++ [{close, Flow, Why}],
     count(Why, tombstone(K, C, Why, S2#tcp{flows = maps:remove(K, S2#tcp.flows)}))}.

%% A connection that ended with FIN or RST stays known for ?TIME_WAIT ms,
%% so that its late retransmissions open no new one (a SYN still does).
%% At most max_flows of them: past that, all are forgotten.
tombstone(K, #c{seen = Now}, Why, #tcp{closed = Cl, max_flows = Max} = S)
  when Why =:= fin; Why =:= rst ->
    case map_size(Cl) >= Max of
        true -> S#tcp{closed = #{K => Now}};
        false -> S#tcp{closed = Cl#{K => Now}}
    end;
tombstone(_, _, _, S) -> S.

finish(D, Flow, Dir, S) ->
    {Ev, #d{next = N, fin = F} = D1, S1} = skip_all(D, Flow, Dir, S),
    case F of
        F when is_integer(F), F > N ->
            {Ev ++ [{gap, Flow, Dir, N, F - N}], D1#d{next = F},
             count(gaps, count(gap_bytes, F - N, S1))};
        _ ->
            {Ev, D1, S1}
    end.

%% @doc Give up holes older than `gap_timeout' and close connections idle
%% for `idle_timeout' (at `Now'). Feeding packets does this once a second
%% of `Now' at most.
-spec expire(integer(), state()) -> {[event()], state()}.
expire(Now, S) ->
    {Ev, S1} = sweep(Now, S),
    {Ev, S1}.

sweep(Now, #tcp{defrag = Df} = S0) ->
    S = case Df of
            false -> S0;
            _ -> S0#tcp{defrag = epcap_defrag:expire(Now, Df)}
        end,
    {Ev, S1} = lists:foldl(fun(K, {Acc, St}) -> expire_conn(K, Now, St, Acc) end,
                           {[], S}, ordered(S)),
    Closed = maps:filter(fun(_, T) -> Now - T < ?TIME_WAIT end, S1#tcp.closed),
    {lists:append(lists:reverse(Ev)), S1#tcp{next_sweep = Now + 1000, closed = Closed}}.

%% Flows in the order they were opened, so that events are deterministic.
ordered(#tcp{order = A, flows = F}) ->
    [K || {N, K} <- epcap_arrivals:to_list(A), live(N, K, F)].

expire_conn(K, Now, #tcp{flows = F, idle_timeout = IT, gap_timeout = GT} = S, Acc) ->
    #c{seen = Seen, flow = Flow, client = Cl} = C = maps:get(K, F),
    if
        Now - Seen >= IT ->
            {Ev, S1} = close(K, C, timeout, S),
            {[Ev | Acc], S1};
        true ->
            DirA = case Cl of a -> client; b -> server end,
            DirB = case Cl of a -> server; b -> client end,
            {EvA, A, S1} = stale(C#c.a, Flow, DirA, Now, GT, S),
            {EvB, B, S2} = stale(C#c.b, Flow, DirB, Now, GT, S1),
            C1 = C#c{a = A, b = B},
            case done(A) andalso done(B) of
                true ->
                    {Ev, S3} = close(K, C1, fin, S2),
                    {[EvA ++ EvB ++ Ev | Acc], S3};
                false ->
                    {[EvA ++ EvB | Acc], store(K, C1, S2)}
            end
    end.

stale(#d{since = T} = D, Flow, Dir, Now, GT, S) when is_integer(T), Now - T >= GT ->
    {Ev, D1, S1} = finish(D, Flow, Dir, S),
    {Ev, D1#d{since = undefined}, S1};
stale(D, _Flow, _Dir, _Now, _GT, S) ->
    {[], D, S}.

%% @doc Close every connection (`timeout'), holes given up as gaps: at the
%% end of a capture.
-spec flush(state()) -> {[event()], state()}.
flush(S) ->
    {Ev, S1} = lists:foldl(fun(K, {Acc, St}) ->
                                   {E, St1} = close(K, maps:get(K, St#tcp.flows), timeout, St),
                                   {[E | Acc], St1}
                           end, {[], S}, ordered(S)),
    {lists:append(lists:reverse(Ev)), S1#tcp{order = epcap_arrivals:new()}}.

count(K, S) -> count(K, 1, S).
count(_, 0, S) -> S;
count(K, N, #tcp{stats = St} = S) -> S#tcp{stats = St#{K := maps:get(K, St) + N}}.

%% @doc Counts: `packets' fed; `not_tcp', `malformed', `truncated' (cut
%% short by the snap length), `fragments_dropped' (see
%% {@link epcap_defrag}), `ignored' (segments of no known connection that
%% open none: a bare ACK, a RST); connections `opened' and closed by
%% reason (`fin', `rst', `timeout', `limit'); bytes `retransmitted' (came
%% again after delivery), `overlaps' and `conflicts' (overlapping bytes
%% held, and of those the ones that differed), segments `out_of_window',
%% `gaps' and `gap_bytes'; and now: `flows' open, `held' bytes, and
%% `defrag', the defragmenter's counts.
-spec stats(state()) -> #{atom() => term()}.
stats(#tcp{stats = St, flows = F, held = H, defrag = D, packets = P}) ->
    St#{flows => map_size(F), held => H, packets => P,
        defrag => case D of false -> #{}; _ -> epcap_defrag:stats(D) end}.

%% @doc Bytes held out of order, in all.
-spec held(state()) -> non_neg_integer().
held(#tcp{held = H}) -> H.

%% @doc The open connections.
-spec flows(state()) -> [flow()].
flows(#tcp{flows = F}) -> [Flow || #c{flow = Flow} <- maps:values(F)].
