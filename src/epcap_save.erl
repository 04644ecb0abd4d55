%%% @doc Saving captures to files in the port (`{save, Path}'): the port's
%%% `saved' and `removed' terms, checked in shape and turned into the
%%% owner's messages. Pure: the port's terms are untrusted input, so each
%%% field is checked before it is used (doc/protocol.md, "Saved files").
%%% @end
-module(epcap_save).

-export([event/3]).
-export([time/3]).

-export_type([saved/0]).

%% What `{epcap_saved, Pid, Saved}' carries: the file's path, its packets
%% and size in bytes, and its first and last packets' times in the
%% capture's `time_unit' (`undefined' for a file with no packet).
-type saved() :: #{path := file:filename(), packets := non_neg_integer(),
                   bytes := non_neg_integer(),
                   first := epcap_batch:time() | undefined,
                   last := epcap_batch:time() | undefined}.

-define(NAME_MAX, 255).

%% @doc The owner's message for a port term, given the capture's save path
%% and time unit; `error' for a term of any other shape, or a file name
%% that is not one of this capture's.
%% ```
%% {saved, #{path := "/tmp/a.pcapng", packets := 1, first := 1000001}} =
%%     epcap_save:event({saved, <<"a.pcapng">>, 1, 100, {1, 1}, {1, 1}},
%%                      "/tmp/a.pcapng", microsecond),
%% error = epcap_save:event({removed, <<"../b">>}, "/tmp/a.pcapng", microsecond).
%% '''
-spec event(term(), file:filename(), epcap_batch:time_unit()) ->
          {saved, saved()} | {removed, file:filename()} | error.
event({saved, Name, Packets, Bytes, First, Last}, Save, Unit)
  when is_integer(Packets), Packets >= 0, is_integer(Bytes), Bytes >= 0,
       (Packets =:= 0) =:= (First =:= undefined),
       (Packets =:= 0) =:= (Last =:= undefined) ->
    case {path(Name, Save), time(First, Unit, undefined), time(Last, Unit, undefined)} of
        {{ok, Path}, {ok, T1}, {ok, T2}} ->
            {saved, #{path => Path, packets => Packets, bytes => Bytes,
                      first => T1, last => T2}};
        _ -> error
    end;
event({removed, Name}, Save, _Unit) ->
    case path(Name, Save) of
        {ok, Path} -> {removed, Path};
        error -> error
    end;
event(_, _, _) ->
    error.

%% A name in the save directory, made from the save path's base: no
%% separator, no NUL, valid UTF-8, at most a directory entry long.
path(Name, Save) when is_binary(Name), byte_size(Name) >= 1,
                      byte_size(Name) =< ?NAME_MAX ->
    Base = base(filename:basename(Save)),
    case unicode:characters_to_list(Name) of
        S when is_list(S) ->
            case not lists:member($/, S) andalso not lists:member(0, S)
                andalso lists:prefix(Base, S) of
                true -> {ok, filename:join(filename:dirname(Save), S)};
                false -> error
            end;
        _ -> error
    end;
path(_, _) ->
    error.

%% The part of the file name every name of the set starts with: the port
%% cuts a rotated file's name at its last dot, except a leading one.
base(Name) ->
    case filename:rootname(Name) of
        "" -> Name;
        Base -> Base
    end.

%% @doc A port's `{Sec, Frac}' in a time unit (as packets carry it), or
%% `Default' for `undefined'; `error' for anything else.
%% ```
%% {ok, {0, 1, 5}} = epcap_save:time({1, 5}, timestamp, none).
%% '''
-spec time(term(), epcap_batch:time_unit(), T) -> {ok, epcap_batch:time() | T} | error.
time(undefined, _Unit, Default) -> {ok, Default};
time({Sec, Frac}, Unit, _) when is_integer(Sec), Sec >= 0, is_integer(Frac), Frac >= 0 ->
    case Unit of
        timestamp when Frac < 1000000 -> {ok, {Sec div 1000000, Sec rem 1000000, Frac}};
        microsecond when Frac < 1000000 -> {ok, Sec * 1000000 + Frac};
        nanosecond when Frac < 1000000000 -> {ok, Sec * 1000000000 + Frac};
        _ -> error
    end;
time(_, _, _) ->
    error.
