%%% @doc Writer for libpcap savefiles: classic pcap, or pcapng.
%%%
%%% `epcap_file' writes the `{packet, DLT, Time, Len, Packet}' tuples that
%%% {@link epcap} delivers to a file that tcpdump, Wireshark and libpcap (and
%%% so epcap itself, with `{file, Path}') can read.
%%%
%%% == pcapng ==
%%% With `format => pcapng' the file has the block layout the port writes
%%% for `{save, Path}' (doc/protocol.md, "Saved files"), so that Erlang code
%%% that filters or rewrites packets writes what the port writes: a Section
%%% Header Block (`shb_os', `shb_userappl' "epcap VERSION"), one Interface
%%% Description Block (link type, snaplen, `if_name' if given, `if_tsresol'
%%% 6 or 9 from `precision', `if_filter' if given), an Enhanced Packet Block
%%% per packet, and at {@link close/1} an Interface Statistics Block with
%%% `isb_starttime' (opened) and `isb_endtime' (closed). The rest of this
%%% description (snapshot length, times, errors) holds for both formats.
%%%
%%% == Format ==
%%% The file is a classic pcap savefile, version 2.4 (see pcap-savefile(5)):
%%% a 24-byte file header, then for each packet a 16-byte record header
%%% followed by the captured bytes.
%%% <ul>
%%% <li>Magic `16#a1b2c3d4' for `precision => micro' (the default) and
%%%     `16#a1b23c4d' for `precision => nano'.</li>
%%% <li>Byte order: the byte order of the host writing the file by default,
%%%     like libpcap's `pcap_dump'; `endian => big | little' forces one.
%%%     Readers detect the byte order from the magic number.</li>
%%% <li>The link-layer header type field holds the LINKTYPE_ value of the
%%%     file's DLT: DLT and LINKTYPE values are the same except for a few
%%%     historical ones, of which this module maps the Linux values
%%%     DLT_ATM_RFC1483 (11 to 100), DLT_RAW (12 to 101),
%%%     DLT_SLIP_BSDOS (15 to 102), DLT_PPP_BSDOS (16 to 103) and
%%%     DLT_ATM_CLIP (19 to 106), as libpcap does; libpcap maps them back
%%%     when it reads the file.</li>
%%% </ul>
%%%
%%% == Snapshot length ==
%%% A packet whose captured data is longer than the file's snaplen is cut
%%% to snaplen bytes: the record's captured length is snaplen and its
%%% original length stays `Len'. A packet whose data is already shorter
%%% than `Len' (captured with a smaller snaplen) is written as it is, so
%%% the captured length is `byte_size(Packet)' and the original length is
%%% `Len'. The snaplen must be between 1 and 262144, the largest that
%%% libpcap accepts when reading.
%%%
%%% == Time stamps ==
%%% `Time' in a packet tuple is read according to the `time_unit' given to
%%% {@link open/2}:
%%% <ul>
%%% <li>`timestamp' (default): `{MegaSecs, Secs, MicroSecs}' as
%%%     `erlang:timestamp/0' returns;</li>
%%% <li>`microsecond': an integer, microseconds since the epoch;</li>
%%% <li>`nanosecond': an integer, nanoseconds since the epoch.</li>
%%% </ul>
%%% A `{MegaSecs, Secs, MicroSecs}' tuple is accepted with any time unit,
%%% as it is not ambiguous; an integer with `time_unit => timestamp' is not
%%% (it could be either unit) and is refused with `{error, {bad_time, T}}'.
%%% Nanoseconds written to a microsecond file are truncated (rounded down)
%%% to the microsecond, as libpcap does. The seconds must fit the file's
%%% unsigned 32-bit field (1970 to 2106).
%%%
%%% == Errors ==
%%% The file is opened `[write, raw, binary]' without `delayed_write', and
%%% each record (header and data) is written with a single `file:write/2'
%%% of one iolist, so an error such as `enospc' (disk full) is returned by
%%% the `write/2' call whose record could not be written. When a write
%%% fails, the writer cuts the file back to the end of the last complete
%%% record, so the file on disk never ends in a half-written record; the
%%% error is returned and later writes may be tried again (after space was
%%% freed, for instance). If the file cannot be cut back, it is marked
%%% broken (the details are logged) and every later `write/2' returns
%%% `{error, broken}'. Writing to a closed file returns
%%% `{error, closed}'.
%%%
%%% As for any raw file, only the process that called {@link open/2} may
%%% write to or close the file; another process gets
%%% `{error, not_on_controlling_process}'. The file is closed when that
%%% process exits.
%%%
%%% == Example ==
%%% ```
%%% {ok, F} = epcap_file:open("/tmp/out.pcap", #{linktype => 1}),
%%% ok = epcap_file:write(F, {packet, 1, erlang:timestamp(), 60, <<0:480>>}),
%%% ok = epcap_file:close(F).
%%% '''
%%% @end
-module(epcap_file).

-export([open/2, write/2, close/1]).
-export([write_batch/2]).

-export_type([file/0, options/0, precision/0, time_unit/0, packet/0,
              error_reason/0]).

-define(MAX_SNAPLEN, 262144).
-define(MAGIC_MICRO, 16#a1b2c3d4).
-define(MAGIC_NANO, 16#a1b23c4d).
-define(VERSION_MAJOR, 2).
-define(VERSION_MINOR, 4).
-define(MAX_U32, 16#ffffffff).
-define(MAX_TEXT, 8192).

%% atomics slots
-define(A_OFFSET, 1).   % file offset just after the last complete record
-define(A_STATE, 2).    % one of the ?S_ values
-define(S_OPEN, 0).
-define(S_CLOSED, 1).
-define(S_BROKEN, 2).

-record(epcap_file, {
          fd :: file:fd(),
          owner :: pid(),
          path :: file:filename_all(),
          dlt :: non_neg_integer(),
          snaplen :: pos_integer(),
          precision :: precision(),
          time_unit :: time_unit(),
          endian :: big | little,
          format :: pcap | pcapng,
          opened :: non_neg_integer(),  % pcapng: the file's units at open
          %% offset and state, shared by all copies of the handle
          state :: atomics:atomics_ref()
         }).

-opaque file() :: #epcap_file{}.
%% An open pcap file, as returned by {@link open/2}.

-type precision() :: micro | nano.
%% Time stamp precision of the file: microseconds (magic `a1b2c3d4') or
%% nanoseconds (magic `a1b23c4d').

-type time_unit() :: timestamp | microsecond | nanosecond.
%% How the `Time' of a packet tuple is read; see the module description.

-type options() :: #{linktype => non_neg_integer(),
                     snaplen => pos_integer(),
                     precision => precision(),
                     time_unit => time_unit(),
                     endian => native | big | little,
                     format => pcap | pcapng,
                     if_name => unicode:chardata(),
                     filter => unicode:chardata()}.
%% Options of {@link open/2}. Defaults: `linktype => 1' (Ethernet),
%% `snaplen => 65535', `precision => micro', `time_unit => timestamp',
%% `endian => native', `format => pcap'; `if_name' and `filter' (pcapng's
%% `if_name' and `if_filter', at most 8192 bytes each) none.

-type packet() :: {packet,
                   DLT :: non_neg_integer(),
                   Time :: erlang:timestamp() | non_neg_integer(),
                   Len :: non_neg_integer(),
                   Packet :: binary()}.
%% A packet as epcap delivers it.

-type error_reason() :: file:posix() | badarg | closed
                      | not_on_controlling_process
                      | broken
                      | {linktype_mismatch, PacketDLT :: term(),
                         FileDLT :: non_neg_integer()}
                      | {bad_time, term()}
                      | {bad_length, Len :: term(), CapLen :: non_neg_integer()}
                      | {bad_packet, term()}
                      | {bad_option, term()}
                      | term().
%% Why {@link open/2}, {@link write/2} or {@link close/1} failed.

%%====================================================================
%% API
%%====================================================================

%% @doc Creates (or truncates) `Path' and writes the pcap file header.
%%
%% Options (all optional): `linktype' the DLT of every packet of the file
%% (default 1, Ethernet); `snaplen' (default 65535, at most 262144);
%% `precision' `micro' or `nano' (default `micro'); `time_unit' how
%% `Time' is given in the packets (`timestamp', the default,
%% `microsecond' or `nanosecond'); `endian' `native' (default), `big' or
%% `little'. An unknown option or a bad value returns
%% `{error, {bad_option, Option}}'.
%%
%% Example:
%% ```
%% 1> {ok, F} = epcap_file:open("/tmp/ns.pcap",
%% 1>            #{precision => nano, time_unit => nanosecond}).
%% {ok, ...}
%% 2> epcap_file:write(F, {packet, 1, os:system_time(nanosecond), 42, <<0:336>>}).
%% ok
%% 3> epcap_file:close(F).
%% ok
%% '''
-spec open(Path :: file:name_all(), Options :: options()) ->
          {ok, file()} | {error, error_reason()}.
open(Path, Options) when is_map(Options) ->
    case parse_options(Options) of
        {ok, #{linktype := DLT, snaplen := SnapLen, precision := Precision,
               time_unit := TimeUnit, endian := Endian} = O} ->
            open_file(Path, DLT, SnapLen, Precision, TimeUnit, Endian, O);
        {error, _} = Error ->
            Error
    end;
open(_Path, Options) ->
    {error, {bad_option, Options}}.

%% @doc Appends one packet to the file: `{packet, DLT, Time, Len, Packet}'
%% or, from a `{tagged, true}' capture, `{epcap_packet, Pid, DLT, Time,
%% Len, Packet}'.
%%
%% The packet's DLT must be the file's `linktype', else
%% `{error, {linktype_mismatch, PacketDLT, FileDLT}}' is returned and
%% nothing is written. `Len' is the packet's original length and must be
%% at least `byte_size(Packet)'. Data longer than the file's snaplen is
%% cut to snaplen bytes (the original length is kept). On an I/O error
%% nothing of the record stays in the file (see the module description).
%%
%% Example:
%% ```
%% 1> {ok, F} = epcap_file:open("/tmp/us.pcap", #{time_unit => microsecond}).
%% 2> epcap_file:write(F, {packet, 1, 1700000000123456, 1514, <<0:512>>}).
%% ok
%% 3> epcap_file:write(F, {packet, 113, 1700000000123456, 64, <<0:512>>}).
%% {error,{linktype_mismatch,113,1}}
%% '''
-spec write(File :: file(), packet()) -> ok | {error, error_reason()}.
write(#epcap_file{owner = Owner}, _Packet) when Owner =/= self() ->
    {error, not_on_controlling_process};
write(#epcap_file{dlt = FileDLT} = F, {packet, DLT, Time, Len, Packet}) ->
    case state(F) of
        ?S_OPEN when DLT =/= FileDLT ->
            {error, {linktype_mismatch, DLT, FileDLT}};
        ?S_OPEN ->
            case record(F, Time, Len, Packet) of
                {ok, Size, IoData} ->
                    write_record(F, Size, IoData);
                {error, _} = Error ->
                    Error
            end;
        ?S_CLOSED ->
            {error, closed};
        ?S_BROKEN ->
            {error, broken}
    end;
write(F, {epcap_packet, Pid, DLT, Time, Len, Packet}) when is_pid(Pid) ->
    write(F, {packet, DLT, Time, Len, Packet});
write(#epcap_file{}, Other) ->
    {error, {bad_packet, Other}}.

%% @doc Appends every packet of a batch, in order: an `epcap:batch()'
%% (`{deliver, batch}'), the `{epcap_batch, Pid, Batch}' message itself,
%% or a list of packets as {@link write/2} takes them. Each record is
%% written as by {@link write/2}; at the first error the packets before it
%% are in the file and `{error, Reason}' is returned. The file's
%% `time_unit' must be the capture's (`timestamp' by default).
%% ```
%% P = "/tmp/epcap_file_batch_doc.pcap",
%% {ok, F} = epcap_file:open(P, #{}),
%% Pkt = {packet, 1, {0, 1, 0}, 60, <<0:480>>},
%% ok = epcap_file:write_batch(F, [Pkt, Pkt]),
%% ok = epcap_file:write(F, {epcap_packet, self(), 1, {0, 2, 0}, 60, <<0:480>>}),
%% ok = epcap_file:close(F),
%% {ok, <<_:24/binary, _:(3 * (16 + 60))/binary>>} = file:read_file(P),
%% ok = file:delete(P).
%% '''
-spec write_batch(file(), epcap:batch() | {epcap_batch, pid(), epcap:batch()} | [packet()]) ->
          ok | {error, error_reason()}.
write_batch(F, {epcap_batch, Pid, Batch}) when is_pid(Pid) ->
    write_batch(F, Batch);
write_batch(F, Packets) when is_list(Packets) ->
    write_all(F, Packets);
write_batch(F, Batch) ->
    try
        epcap_batch:fold(fun(P, ok) ->
                                 case write(F, P) of
                                     ok -> ok;
                                     {error, _} = E -> throw({?MODULE, E})
                                 end
                         end, ok, Batch)
    catch
        throw:{?MODULE, Error} -> Error;
        error:function_clause -> {error, {bad_packet, Batch}}
    end.

write_all(_F, []) -> ok;
write_all(F, [P | Rest]) ->
    case write(F, P) of
        ok -> write_all(F, Rest);
        {error, _} = E -> E
    end.

%% @doc Closes the file, a pcapng file after its Interface Statistics
%% Block. Returns `{error, closed}' if it was already closed, and the
%% error of writing that block or of the underlying `file:close/1' if
%% there is one (the file is closed all the same, and a block that could
%% not be written whole is cut off).
%%
%% Example:
%% ```
%% 1> {ok, F} = epcap_file:open("/tmp/x.pcap", #{}).
%% 2> epcap_file:close(F).
%% ok
%% 3> epcap_file:close(F).
%% {error,closed}
%% '''
-spec close(File :: file()) -> ok | {error, error_reason()}.
close(#epcap_file{owner = Owner}) when Owner =/= self() ->
    {error, not_on_controlling_process};
close(#epcap_file{fd = Fd, state = A} = F) ->
    case state(F) of
        ?S_CLOSED ->
            {error, closed};
        State ->
            Tail = case State =:= ?S_OPEN andalso tail(F) of
                       false -> ok;
                       Isb -> write_record(F, iolist_size(Isb), Isb)
                   end,
            case {file:close(Fd), Tail} of
                {ok, {error, _} = TailError} ->
                    atomics:put(A, ?A_STATE, ?S_CLOSED),
                    TailError;
                {Closed, _} -> closed(F, Closed)
            end
    end.

%% The descriptor is released by the runtime even when close fails.
closed(#epcap_file{state = A}, ok) ->
    atomics:put(A, ?A_STATE, ?S_CLOSED),
    ok;
closed(#epcap_file{state = A} = F, {error, _} = Error) ->
    atomics:put(A, ?A_STATE, ?S_CLOSED),
    log_close_error(F, Error),
    Error.

%%====================================================================
%% Internal functions
%%====================================================================

parse_options(Options) ->
    Defaults = #{linktype => 1, snaplen => 65535, precision => micro,
                 time_unit => timestamp, endian => native, format => pcap,
                 if_name => undefined, filter => undefined},
    maps:fold(fun check_option/3, {ok, Defaults}, Options).

check_option(_Key, _Value, {error, _} = Error) ->
    Error;
check_option(Key, Value, {ok, Acc}) ->
    case valid_option(Key, Value) of
        true -> {ok, Acc#{Key => Value}};
        false -> {error, {bad_option, {Key, Value}}}
    end.

valid_option(linktype, V) -> is_integer(V) andalso V >= 0 andalso V =< ?MAX_U32;
valid_option(snaplen, V) -> is_integer(V) andalso V >= 1 andalso V =< ?MAX_SNAPLEN;
valid_option(precision, V) -> V =:= micro orelse V =:= nano;
valid_option(time_unit, V) ->
    V =:= timestamp orelse V =:= microsecond orelse V =:= nanosecond;
valid_option(endian, V) -> V =:= native orelse V =:= big orelse V =:= little;
valid_option(format, V) -> V =:= pcap orelse V =:= pcapng;
valid_option(K, V) when K =:= if_name; K =:= filter ->
    case catch unicode:characters_to_binary(V) of
        B when is_binary(B) -> byte_size(B) =< ?MAX_TEXT;
        _ -> false
    end;
valid_option(_, _) -> false.

open_file(Path, DLT, SnapLen, Precision, TimeUnit, Endian0, #{format := Format} = O) ->
    Endian = resolve_endian(Endian0),
    case file:open(Path, [write, raw, binary]) of
        {ok, Fd} ->
            Header = iolist_to_binary(
                       case Format of
                           pcap -> file_header(Precision, SnapLen, linktype(DLT), Endian);
                           pcapng -> ng_head(O#{linktype := linktype(DLT)}, Endian)
                       end),
            case file:write(Fd, Header) of
                ok ->
                    A = atomics:new(2, [{signed, false}]),
                    atomics:put(A, ?A_OFFSET, byte_size(Header)),
                    atomics:put(A, ?A_STATE, ?S_OPEN),
                    {ok, #epcap_file{fd = Fd, owner = self(), path = Path, dlt = DLT,
                                     snaplen = SnapLen, precision = Precision,
                                     time_unit = TimeUnit, endian = Endian,
                                     format = Format, opened = now_units(Precision),
                                     state = A}};
                {error, _} = Error ->
                    _ = file:close(Fd),
                    Error
            end;
        {error, _} = Error ->
            Error
    end.

resolve_endian(native) ->
    case <<1:16/native>> of
        <<1:16/little>> -> little;
        _ -> big
    end;
resolve_endian(E) ->
    E.

%% DLT_ values that differ from their LINKTYPE_ value (Linux numbering).
linktype(11) -> 100;    % DLT_ATM_RFC1483
linktype(12) -> 101;    % DLT_RAW
linktype(15) -> 102;    % DLT_SLIP_BSDOS
linktype(16) -> 103;    % DLT_PPP_BSDOS
linktype(19) -> 106;    % DLT_ATM_CLIP
linktype(DLT) -> DLT.

file_header(Precision, SnapLen, LinkType, big) ->
    <<(magic(Precision)):32/big, ?VERSION_MAJOR:16/big, ?VERSION_MINOR:16/big,
      0:32/big, 0:32/big, SnapLen:32/big, LinkType:32/big>>;
file_header(Precision, SnapLen, LinkType, little) ->
    <<(magic(Precision)):32/little, ?VERSION_MAJOR:16/little,
      ?VERSION_MINOR:16/little, 0:32/little, 0:32/little,
      SnapLen:32/little, LinkType:32/little>>.

magic(micro) -> ?MAGIC_MICRO;
magic(nano) -> ?MAGIC_NANO.

state(#epcap_file{state = A}) ->
    atomics:get(A, ?A_STATE).

%% Builds the record for one packet: {ok, Size, IoData} or {error, R}.
record(#epcap_file{snaplen = SnapLen, precision = Precision,
                   time_unit = TimeUnit, endian = Endian, format = Format},
       Time, Len, Packet) when is_binary(Packet) ->
    CapLen0 = byte_size(Packet),
    if
        not is_integer(Len); Len < CapLen0; Len > ?MAX_U32 ->
            {error, {bad_length, Len, CapLen0}};
        true ->
            case split_time(Time, TimeUnit, Precision) of
                {ok, Sec, Frac} ->
                    {CapLen, Data} =
                        case CapLen0 > SnapLen of
                            true -> {SnapLen, binary_part(Packet, 0, SnapLen)};
                            false -> {CapLen0, Packet}
                        end,
                    case Format of
                        pcap ->
                            Header = record_header(Sec, Frac, CapLen, Len, Endian),
                            {ok, 16 + CapLen, [Header, Data]};
                        pcapng ->
                            Epb = ng_epb(units(Sec, Frac, Precision), CapLen, Len,
                                         Data, Endian),
                            {ok, iolist_size(Epb), Epb}
                    end;
                error ->
                    {error, {bad_time, Time}}
            end
    end;
record(_F, _Time, _Len, Packet) ->
    {error, {bad_packet, Packet}}.

record_header(Sec, Frac, CapLen, Len, big) ->
    <<Sec:32/big, Frac:32/big, CapLen:32/big, Len:32/big>>;
record_header(Sec, Frac, CapLen, Len, little) ->
    <<Sec:32/little, Frac:32/little, CapLen:32/little, Len:32/little>>.

%% Seconds and fraction (micro- or nanoseconds, per the file's precision).
split_time({Mega, S, Micro}, _TimeUnit, Precision)
  when is_integer(Mega), Mega >= 0, is_integer(S), S >= 0,
       is_integer(Micro), Micro >= 0, Micro < 1000000 ->
    Sec = Mega * 1000000 + S,
    case Precision of
        micro -> check_sec(Sec, Micro);
        nano -> check_sec(Sec, Micro * 1000)
    end;
split_time(T, microsecond, micro) when is_integer(T), T >= 0 ->
    check_sec(T div 1000000, T rem 1000000);
split_time(T, microsecond, nano) when is_integer(T), T >= 0 ->
    check_sec(T div 1000000, (T rem 1000000) * 1000);
split_time(T, nanosecond, micro) when is_integer(T), T >= 0 ->
    check_sec(T div 1000000000, (T rem 1000000000) div 1000);
split_time(T, nanosecond, nano) when is_integer(T), T >= 0 ->
    check_sec(T div 1000000000, T rem 1000000000);
split_time(_, _, _) ->
    error.

check_sec(Sec, Frac) when Sec =< ?MAX_U32 -> {ok, Sec, Frac};
check_sec(_, _) -> error.

write_record(#epcap_file{fd = Fd, state = A} = F, Size, IoData) ->
    case file:write(Fd, IoData) of
        ok ->
            _ = atomics:add(A, ?A_OFFSET, Size),
            ok;
        {error, Reason} = Error ->
            roll_back(F, Reason),
            Error
    end.

%% Cuts the file back to the end of the last complete record.
roll_back(#epcap_file{fd = Fd, state = A} = F, Reason) ->
    Offset = atomics:get(A, ?A_OFFSET),
    Result = case file:position(Fd, {bof, Offset}) of
                 {ok, Offset} -> file:truncate(Fd);
                 {ok, Other} -> {error, {position, Other}};
                 {error, _} = E -> E
             end,
    case Result of
        ok ->
            logger:warning("epcap_file: write to ~ts failed (~p); "
                           "file cut back to ~b bytes",
                           [F#epcap_file.path, Reason, Offset]);
        {error, Why} ->
            atomics:put(A, ?A_STATE, ?S_BROKEN),
            logger:error("epcap_file: write to ~ts failed (~p) and the file "
                         "could not be cut back to ~b bytes (~p): "
                         "it may end in a partial record",
                         [F#epcap_file.path, Reason, Offset, Why])
    end.

%%--------------------------------------------------------------------
%% pcapng (the layout of c_src/pcapng.c)
%%--------------------------------------------------------------------

-define(BT_SHB, 16#0A0D0D0A).
-define(BT_IDB, 1).
-define(BT_ISB, 5).
-define(BT_EPB, 6).

u16(V, big) -> <<V:16/big>>;
u16(V, little) -> <<V:16/little>>.

u32(V, big) -> <<V:32/big>>;
u32(V, little) -> <<V:32/little>>.

%% A 64-bit time, high word first.
time64(T, E) -> [u32(T bsr 32, E), u32(T band ?MAX_U32, E)].

pad(N) -> binary:copy(<<0>>, (4 - N rem 4) rem 4).

block(Type, Body, E) ->
    Len = 12 + iolist_size(Body),
    [u32(Type, E), u32(Len, E), Body, u32(Len, E)].

opt(_Code, undefined, _E) -> [];
opt(Code, V0, E) ->
    V = iolist_to_binary(V0),
    [u16(Code, E), u16(byte_size(V), E), V, pad(byte_size(V))].

text(undefined) -> undefined;
text(S) -> unicode:characters_to_binary(S).

opt_end() -> <<0:32>>.

ng_head(#{linktype := LT, snaplen := Snap, precision := P, if_name := Name,
          filter := Filter}, E) ->
    Shb = [u32(16#1A2B3C4D, E), u16(1, E), u16(0, E), <<-1:64>>,
           opt(3, os_name(), E), opt(4, ["epcap ", vsn()], E), opt_end()],
    Idb = [u16(LT, E), u16(0, E), u32(Snap, E),
           opt(2, text(Name), E),
           opt(9, <<(case P of micro -> 6; nano -> 9 end)>>, E),
           case text(Filter) of
               undefined -> [];
               F -> opt(11, <<0, F/binary>>, E)
           end,
           opt_end()],
    [block(?BT_SHB, Shb, E), block(?BT_IDB, Idb, E)].

ng_epb(Ts, CapLen, Len, Data, E) ->
    block(?BT_EPB, [u32(0, E), time64(Ts, E), u32(CapLen, E), u32(Len, E), Data,
                    pad(CapLen)], E).

%% The ISB written at close (pcapng), or false.
tail(#epcap_file{format = pcap}) -> false;
tail(#epcap_file{format = pcapng, precision = P, opened = Opened, endian = E}) ->
    Now = now_units(P),
    block(?BT_ISB, [u32(0, E), time64(Now, E), opt(2, time64(Opened, E), E),
                    opt(3, time64(Now, E), E), opt_end()], E).

units(Sec, Frac, micro) -> Sec * 1000000 + Frac;
units(Sec, Frac, nano) -> Sec * 1000000000 + Frac.

now_units(micro) -> os:system_time(microsecond);
now_units(nano) -> os:system_time(nanosecond).

%% shb_os, as the port gives it from uname ("Linux 6.1.0").
os_name() ->
    Name = case os:type() of
               {unix, linux} -> "Linux";
               {_, N} -> atom_to_list(N)
           end,
    case os:version() of
        {A, B, C} -> io_lib:format("~s ~b.~b.~b", [Name, A, B, C]);
        V when is_list(V) -> [Name, " ", V]
    end.

vsn() ->
    _ = application:load(epcap),
    case application:get_key(epcap, vsn) of
        {ok, V} -> V;
        undefined -> "unknown"
    end.

log_close_error(#epcap_file{path = Path}, {error, Reason}) ->
    logger:error("epcap_file: closing ~ts failed: ~p", [Path, Reason]).
