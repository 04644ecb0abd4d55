%%% @doc The port's control terms (tag 2, `doc/protocol.md', "Control
%%% terms"), checked before anything uses them: the port's output is
%%% untrusted input.
%%%
%%% {@link decode/1} refuses a compressed term before it is inflated (a
%%% 1 MiB frame may inflate to gigabytes), decodes with `[safe, used]' (no
%%% new atom; no byte left over) and accepts only the shapes the port sends,
%%% every field bounded: a DLT is an integer, a message a string of at most
%%% 1024 bytes, an atom one of those the protocol lists. Whatever it refuses
%%% is described by {@link summary/1}: at most 100 printable characters,
%%% never the term, so that no port can put its bytes into a message, an
%%% exit reason or a log.
%%% @end
-module(epcap_control).

-export([decode/1]).
-export([check/1]).
-export([summary/1]).

-export_type([refusal/0]).

%% The port's messages are at most 511 bytes (c_src/errors.h); hints are
%% added on this side.
-define(TEXT_MAX, 1024).
-define(VERSION_MAX, 64).
-define(SUMMARY_MAX, 100).
-define(SUMMARY_DEPTH, 6).
%% Interfaces in `epcap -L': far more than a host has.
-define(LIST_MAX, 65536).
%% A compiled filter's instructions (c_src/filtercc.h).
-define(INSNS_MAX, 65536).

-type refusal() :: compressed_term | bad_term | {bad_term, string()}.

%% @doc Decode a term's bytes (the body of a tag-2 frame), if the port may
%% send it: `compressed_term' for a compressed term (refused unread),
%% `bad_term' for bytes that do not decode or leave bytes over, and
%% `{bad_term, Summary}' for a term of a shape the port never sends.
%% ```
%% {ok, eof} = epcap_control:decode(term_to_binary(eof)),
%% {error, compressed_term} = epcap_control:decode(term_to_binary(eof, [compressed])),
%% {error, {bad_term, "{ready,[97,98,99]," ++ _}} =
%%     epcap_control:decode(term_to_binary({ready, "abc", 1, micro, null, 1, "v"})).
%% '''
-spec decode(binary()) -> {ok, term()} | {error, refusal()}.
decode(<<131, 80, _/binary>>) ->
    {error, compressed_term};
decode(Bin) ->
    Size = byte_size(Bin),
    try binary_to_term(Bin, [safe, used]) of
        {T, Size} ->
            case check(T) of
                true -> {ok, T};
                false -> {error, {bad_term, summary(T)}}
            end;
        {_, _} ->
            {error, bad_term}
    catch
        error:badarg -> {error, bad_term}
    end.

%% @doc Whether `Term' is one of the port's control terms, every field in
%% its range.
-spec check(term()) -> boolean().
check({ready, DLT, OsPid, Precision, Mode, Snaplen, Version}) ->
    u32(DLT) andalso is_integer(OsPid) andalso OsPid > 0 andalso OsPid =< 16#7FFFFFFF
        andalso (Precision =:= micro orelse Precision =:= nano)
        andalso lists:member(Mode, [seccomp, rlimit, null, pledge, capsicum])
        andalso u32(Snaplen) andalso version(Version);
check(eof) ->
    true;
check({error, {Reason, Msg}}) when is_atom(Reason), Reason =/= port_exit ->
    lists:member(Reason, epcap:error_reasons()) andalso text(Msg);
check({Tag, ok}) when Tag =:= send; Tag =:= filter ->
    true;
check({Tag, {error, Msg}}) when Tag =:= send; Tag =:= filter; Tag =:= stats ->
    text(Msg);
check({stats, Recv, Drop, IfDrop, {Wakeups, Reads, Batches, CreditUs, PipeUs}, {Saved, Errors}}) ->
    %% a capture that saves (issue 26): then the saving counters
    lists:all(fun u64/1, [Recv, Drop, IfDrop, Wakeups, Reads, Batches, CreditUs, PipeUs,
                          Saved, Errors]);
check({saved, Name, Packets, Bytes, First, Last}) ->
    %% epcap_save:event/3 checks the name against the capture's save path
    name(Name) andalso u64(Packets) andalso u64(Bytes)
        andalso stamp(First) andalso stamp(Last);
check({removed, Name}) ->
    name(Name);
check({send_many, Sent, ok}) ->
    %% injection (issue 28): the frames of one message that went
    u32(Sent);
check({send_many, Sent, {error, Msg}}) ->
    u32(Sent) andalso text(Msg);
check({send_many, 0, skipped}) ->
    true;
check({send_failed, N, Msg}) ->
    u32(N) andalso N > 0 andalso text(Msg);
check({filter, {ok, Lines}}) ->
    %% compile_filter/2's instructions (`-K'), one line each, as tcpdump -d.
    bounded_list(Lines, ?INSNS_MAX, fun text/1);
check({stats, Recv, Drop, IfDrop, {Wakeups, Reads, Batches, CreditUs, PipeUs}}) ->
    lists:all(fun u64/1, [Recv, Drop, IfDrop, Wakeups, Reads, Batches, CreditUs, PipeUs]);
check({interfaces, List}) ->
    bounded_list(List, ?LIST_MAX, fun interface/1);
check(_) ->
    false.

interface(#{name := Name, description := Descr, addresses := Addrs, flags := Flags} = M)
  when map_size(M) =:= 4 ->
    text(Name) andalso (Descr =:= undefined orelse text(Descr))
        andalso bounded_list(Addrs, ?LIST_MAX, fun address/1)
        andalso bounded_list(Flags, 4, fun(F) -> lists:member(F, [up, running, loopback,
                                                                  wireless]) end);
interface(_) ->
    false.

address(#{addr := A, netmask := N, broadaddr := B, dstaddr := D} = M) when map_size(M) =:= 4 ->
    lists:all(fun ip/1, [A, N, B, D]);
address(_) ->
    false.

ip(undefined) -> true;
ip({_, _, _, _} = A) -> lists:all(fun(X) -> is_integer(X) andalso X >= 0 andalso X =< 255 end,
                                  tuple_to_list(A));
ip({_, _, _, _, _, _, _, _} = A) ->
    lists:all(fun(X) -> is_integer(X) andalso X >= 0 andalso X =< 65535 end, tuple_to_list(A));
ip(_) -> false.

%% A saved file's name: a binary no longer than a directory entry.
name(B) -> is_binary(B) andalso byte_size(B) >= 1 andalso byte_size(B) =< 255.

stamp(undefined) -> true;
stamp({Sec, Frac}) -> u64(Sec) andalso u32(Frac);
stamp(_) -> false.

u32(N) -> is_integer(N) andalso N >= 0 andalso N =< 16#FFFFFFFF.

u64(N) -> is_integer(N) andalso N >= 0 andalso N =< 16#FFFFFFFFFFFFFFFF.

%% A message: bytes (a path in it may hold any), at most ?TEXT_MAX.
text(L) -> bounded_list(L, ?TEXT_MAX, fun(C) -> is_integer(C) andalso C >= 0 andalso C =< 255 end).

%% Ours, printable ASCII only (a list, as libei sends it, or a binary).
version(V) when is_binary(V) -> version(binary_to_list(binary:part(V, 0, min(byte_size(V), ?VERSION_MAX + 1))));
version([_ | _] = V) -> bounded_list(V, ?VERSION_MAX, fun(C) -> is_integer(C) andalso C >= 32 andalso C =< 126 end);
version(_) -> false.

%% A proper list of at most Max elements, each passing Ok; never walks
%% further than Max + 1 elements.
bounded_list([], _, _) -> true;
bounded_list([_ | _], 0, _) -> false;
bounded_list([X | Rest], Max, Ok) -> Ok(X) andalso bounded_list(Rest, Max - 1, Ok);
bounded_list(_, _, _) -> false.

%% @doc A description of a term from the port for a reason or a log: at
%% most 100 characters, printable, the term cut at depth 6.
%% ```
%% "{hello,[120,120,120|...]}" = epcap_control:summary({hello, "xxxxxxxxxx"}).
%% '''
-spec summary(term()) -> string().
summary(T) ->
    S = lists:flatten(io_lib:write(T, ?SUMMARY_DEPTH)),
    case length(S) > ?SUMMARY_MAX of
        true -> lists:sublist(S, ?SUMMARY_MAX - 3) ++ "...";
        false -> S
    end.
