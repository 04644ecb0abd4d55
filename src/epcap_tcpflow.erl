%%% @doc Write reassembled TCP streams to files as tcpflow(1) does: one
%%% file per direction of a connection, named
%%% `SRCIP.SRCPORT-DSTIP.DSTPORT', each byte at its stream offset.
%%%
%%% Names: an IPv4 address has each octet zero-padded to three digits, an
%%% IPv6 address is written as `inet:ntoa/1' writes it (RFC 5952, as
%%% tcpflow does), and ports are zero-padded to five digits:
%%% `010.000.000.001.08080-010.000.000.002.45678',
%%% `fd00::1.08080-fd00::2.45678'. A gap leaves a hole in the file (it
%%% reads as zeros), as tcpflow does. A connection that comes again on the
%%% same addresses and ports goes on at the end of the file it left.
%%%
%%% This is the writer of `bin/epcap-flow'. It runs as the caller, writes
%%% only names made of digits, dots, colons and hex digits inside `Dir',
%%% and refuses to write through a symbolic link found there. At most
%%% `max_open' (default 256) files are open at once and each buffers at
%%% most 256 KiB.
%%% @end
-module(epcap_tcpflow).

-export([new/1]).
-export([new/2]).
-export([events/2]).
-export([close/1]).
-export([name/2]).
-export([sync/1]).

-export_type([writer/0]).

-include_lib("kernel/include/file.hrl").

-define(BUF, 262144).

-record(out, {
    fd :: file:io_device() | closed,
    base = 0 :: non_neg_integer(),      % where this connection's offset 0 is
    at = 0 :: non_neg_integer(),        % file position of the buffer's start
    buf = [] :: iodata(),
    size = 0 :: non_neg_integer()
}).
-record(w, {
    dir :: file:filename(),
    files = #{} :: #{binary() => #out{}},
    seen = #{} :: #{binary() => non_neg_integer()},   % names written: their end
    parked = #{} :: #{binary() => #out{}},            % closed to respect max_open
    names = #{} :: #{{epcap_tcp:flow(), epcap_tcp:dir()} => binary()},  % of open flows
    %% The direction written last, kept out of `files' so that the next
    %% piece of it costs no map lookup.
    cur = none :: none | {epcap_tcp:flow(), epcap_tcp:dir(), binary(), #out{}},
    open = 0 :: non_neg_integer(),
    max_open = 256 :: pos_integer()
}).
-opaque writer() :: #w{}.

%% @equiv new(Dir, [])
-spec new(file:filename()) -> writer().
new(Dir) -> new(Dir, []).

%% @doc A writer into `Dir' (which must exist), with `{max_open, N}'.
-spec new(file:filename(), [{max_open, pos_integer()}]) -> writer().
new(Dir, Opts) ->
    lists:foldl(fun({max_open, N}, W) when is_integer(N), N > 0 -> W#w{max_open = N};
                   (Other, _) -> error({badarg, Other})
                end, #w{dir = Dir}, Opts).

%% @doc The file name of a direction, as tcpflow names it.
%% ```
%% <<"010.000.000.001.45678-010.000.000.002.08080">> =
%%     epcap_tcpflow:name({{{10,0,0,1}, 45678}, {{10,0,0,2}, 8080}}, client),
%% <<"fd00::2.08080-fd00::1.45678">> =
%%     epcap_tcpflow:name({{{16#fd00,0,0,0,0,0,0,1}, 45678},
%%                         {{16#fd00,0,0,0,0,0,0,2}, 8080}}, server).
%% '''
-spec name(epcap_tcp:flow(), epcap_tcp:dir()) -> binary().
name({C, S}, client) -> iolist_to_binary([endpoint(C), $-, endpoint(S)]);
name({C, S}, server) -> iolist_to_binary([endpoint(S), $-, endpoint(C)]).

endpoint({{A, B, C, D}, Port}) ->
    io_lib:format("~3..0B.~3..0B.~3..0B.~3..0B.~5..0B", [A, B, C, D, Port]);
endpoint({Ip, Port}) ->
    [inet:ntoa(Ip), io_lib:format(".~5..0B", [Port])].

%% @doc Write what a list of {@link epcap_tcp} events says. A file error is
%% `error({file, Name, Reason})'.
-spec events([epcap_tcp:event()], writer()) -> writer().
events([{data, Flow, Dir, Off, Bytes} | T], #w{cur = {Flow, Dir, Name, F}} = W) ->
    events(T, W#w{cur = {Flow, Dir, Name, append(Name, Off, Bytes, F)}});
events([{data, Flow, Dir, Off, Bytes} | T], W0) ->
    #w{names = Ns, files = Fs} = W = unload(W0),
    {Name, W1} = case Ns of
                     #{{Flow, Dir} := N} -> {N, W};
                     #{} -> N = name(Flow, Dir), {N, W#w{names = Ns#{{Flow, Dir} => N}}}
                 end,
    {F, W2} = case Fs of
                  #{Name := F0} -> {F0, W1#w{files = maps:remove(Name, Fs)}};
                  #{} -> start(Name, W1)
              end,
    events(T, W2#w{cur = {Flow, Dir, Name, append(Name, Off, Bytes, F)}});
events([{close, Flow, _} | T], W0) ->
    #w{names = Ns} = W = unload(W0),
    W1 = W#w{names = maps:remove({Flow, client}, maps:remove({Flow, server}, Ns))},
    events(T, done(name(Flow, server), done(name(Flow, client), W1)));
events([_ | T], W) ->
    events(T, W);
events([], W) ->
    W.

%% Put the current direction back with the others.
unload(#w{cur = none} = W) -> W;
unload(#w{cur = {_, _, Name, F}, files = Fs} = W) -> W#w{cur = none, files = Fs#{Name => F}}.

append(_Name, Off, Bytes, #out{at = At, size = Size, buf = Buf, base = Base} = F)
  when Base + Off =:= At + Size, Size < ?BUF ->
    F#out{buf = [Buf | Bytes], size = Size + byte_size(Bytes)};
append(Name, Off, Bytes, #out{base = Base} = F) ->
    F1 = flush(Name, F, undefined),
    F1#out{at = Base + Off, buf = Bytes, size = byte_size(Bytes)}.

%% A direction seen for the first time in this run truncates its file; one
%% seen before goes on at its end.
start(Name, W0) ->
    #w{seen = Seen, parked = P} = W = room(W0),
    case P of
        #{Name := F} ->
            {F#out{fd = open(Name, false, W)},
             W#w{open = W#w.open + 1, parked = maps:remove(Name, P)}};
        #{} ->
            Base = maps:get(Name, Seen, 0),
            Fd = open(Name, not maps:is_key(Name, Seen), W),
            {#out{fd = Fd, base = Base, at = Base}, W#w{open = W#w.open + 1}}
    end.

open(Name, Truncate, #w{dir = Dir}) ->
    Path = filename:join(Dir, Name),
    case file:read_link_info(Path) of
        {ok, #file_info{type = symlink}} -> error({file, Name, symlink});
        _ -> ok
    end,
    Modes = case Truncate of
                true -> [write, raw, binary];
                false -> [read, write, raw, binary]
            end,
    case file:open(Path, Modes) of
        {ok, Fd} -> Fd;
        {error, Reason} -> error({file, Name, Reason})
    end.

flush(_Name, #out{size = 0} = F, _W) -> F;
flush(Name, #out{fd = Fd, at = At, buf = Buf, size = Size} = F, _W) ->
    case file:pwrite(Fd, At, Buf) of
        ok -> F#out{at = At + Size, buf = [], size = 0};
        {error, Reason} -> error({file, Name, Reason})
    end.

%% A direction whose connection closed: write it out and close its file,
%% remembering where it ended.
done(Name, #w{files = Fs, seen = Seen, parked = P} = W) ->
    case {Fs, P} of
        {#{Name := _}, _} ->
            done(Name, park(Name, W));
        {_, #{Name := #out{at = At}}} ->
            End = max(At, file_end(Name, W)),
            W#w{parked = maps:remove(Name, P), seen = Seen#{Name => End}};
        _ ->
            W
    end.

%% Write a direction out and close its file, to open it again later.
park(Name, #w{files = Fs, parked = P, open = N} = W) ->
    #out{fd = Fd} = F = flush(Name, maps:get(Name, Fs), W),
    ok = file:close(Fd),
    W#w{files = maps:remove(Name, Fs), parked = P#{Name => F#out{fd = closed}}, open = N - 1}.

file_end(Name, #w{dir = Dir}) ->
    filelib:file_size(filename:join(Dir, Name)).

%% Keep at most max_open files open: close one (any) before opening more.
room(#w{open = N, max_open = Max, files = Fs} = W) when N >= Max ->
    [Name | _] = maps:keys(Fs),
    room(park(Name, W));
room(W) -> W.

%% @doc Write every buffer out (the files stay open).
-spec sync(writer()) -> writer().
sync(W0) ->
    #w{files = Fs} = W = unload(W0),
    W#w{files = maps:map(fun(Name, F) -> flush(Name, F, W) end, Fs)}.

%% @doc Write every buffer out and close every file.
-spec close(writer()) -> ok.
close(W0) ->
    #w{files = Fs, parked = P} = W = unload(W0),
    _ = lists:foldl(fun done/2, W, maps:keys(Fs) ++ maps:keys(P)),
    ok.
