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
%%%
%%% The files are opened and written by a process of the writer's own,
%%% linked to its caller, so that a buffer is written out while the next
%%% is filled; one write at a time is in flight (the memory stays
%%% bounded), and a write's error comes back as the next call's
%%% `error({file, Name, Reason})'.
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
    fd :: open | closed,
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
    max_open = 256 :: pos_integer(),
    io :: pid() | undefined,                    % opens and writes the files
    inflight = none :: none | {reference(), binary()}   % the write not yet acked
}).
-opaque writer() :: #w{}.

%% @equiv new(Dir, [])
-spec new(file:filename()) -> writer().
new(Dir) -> new(Dir, []).

%% @doc A writer into `Dir' (which must exist), with `{max_open, N}'.
-spec new(file:filename(), [{max_open, pos_integer()}]) -> writer().
new(Dir, Opts) ->
    W = lists:foldl(fun({max_open, N}, W) when is_integer(N), N > 0 -> W#w{max_open = N};
                       (Other, _) -> error({badarg, Other})
                    end, #w{dir = Dir}, Opts),
    W#w{io = spawn_link(fun() -> io_loop(#{}) end)}.

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
    {F1, W1} = append(Name, Off, Bytes, F, W),
    events(T, W1#w{cur = {Flow, Dir, Name, F1}});
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
    {F1, W3} = append(Name, Off, Bytes, F, W2),
    events(T, W3#w{cur = {Flow, Dir, Name, F1}});
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

append(_Name, Off, Bytes, #out{at = At, size = Size, buf = Buf, base = Base} = F, W)
  when Base + Off =:= At + Size, Size < ?BUF ->
    {F#out{buf = [Buf | Bytes], size = Size + byte_size(Bytes)}, W};
append(Name, Off, Bytes, #out{base = Base} = F, W) ->
    {F1, W1} = flush(Name, F, W),
    {F1#out{at = Base + Off, buf = Bytes, size = byte_size(Bytes)}, W1}.

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

open(Name, Truncate, #w{dir = Dir, io = Io}) ->
    Path = filename:join(Dir, Name),
    case file:read_link_info(Path) of
        {ok, #file_info{type = symlink}} -> error({file, Name, symlink});
        _ -> ok
    end,
    Modes = case Truncate of
                true -> [write, raw, binary];
                false -> [read, write, raw, binary]
            end,
    case request(Io, {open, Name, Path, Modes}) of
        ok -> open;
        {error, Reason} -> error({file, Name, Reason})
    end.

%% Hand the buffer to the I/O process, once the write before it is done.
flush(_Name, #out{size = 0} = F, W) -> {F, W};
flush(Name, #out{at = At, buf = Buf, size = Size} = F, #w{io = Io} = W) ->
    W1 = settle(W),
    Ref = make_ref(),
    Io ! {write, self(), Ref, Name, At, Buf},
    {F#out{at = At + Size, buf = [], size = 0}, W1#w{inflight = {Ref, Name}}}.

%% Wait for the write in flight; its error is the caller's.
settle(#w{inflight = none} = W) -> W;
settle(#w{inflight = {Ref, Name}} = W) ->
    receive
        {Ref, ok} -> W#w{inflight = none};
        {Ref, {error, Reason}} -> error({file, Name, Reason})
    end.

request(Io, Req) ->
    Ref = make_ref(),
    Io ! {Ref, self(), Req},
    receive {Ref, Reply} -> Reply end.

%% The I/O process: owns the descriptors (raw files belong to the process
%% that opened them).
io_loop(Fds) ->
    receive
        {write, From, Ref, Name, At, Buf} ->
            From ! {Ref, file:pwrite(maps:get(Name, Fds), At, Buf)},
            io_loop(Fds);
        {close, Name} ->
            _ = file:close(maps:get(Name, Fds)),
            io_loop(maps:remove(Name, Fds));
        {Ref, From, {open, Name, Path, Modes}} ->
            case file:open(Path, Modes) of
                {ok, Fd} -> From ! {Ref, ok}, io_loop(Fds#{Name => Fd});
                {error, _} = E -> From ! {Ref, E}, io_loop(Fds)
            end;
        {Ref, From, stop} ->
            _ = [file:close(Fd) || Fd <- maps:values(Fds)],
            unlink(From),
            From ! {Ref, ok}
    end.

%% A direction whose connection closed: write it out and close its file,
%% remembering where it ended.
done(Name, #w{files = Fs, seen = Seen, parked = P} = W) ->
    case {Fs, P} of
        {#{Name := _}, _} ->
            done(Name, park(Name, W));
        {_, #{Name := #out{at = At}}} ->
            %% Stream offsets only grow: the last write ends the file.
            W#w{parked = maps:remove(Name, P), seen = Seen#{Name => At}};
        _ ->
            W
    end.

%% Write a direction out and close its file, to open it again later.
park(Name, #w{files = Fs} = W0) ->
    {F, #w{parked = P, open = N, io = Io} = W} = flush(Name, maps:get(Name, Fs), W0),
    Io ! {close, Name},
    W#w{files = maps:remove(Name, Fs), parked = P#{Name => F#out{fd = closed}}, open = N - 1}.

%% Keep at most max_open files open: close one (any) before opening more.
room(#w{open = N, max_open = Max, files = Fs} = W) when N >= Max ->
    [Name | _] = maps:keys(Fs),
    room(park(Name, W));
room(W) -> W.

%% @doc Write every buffer out (the files stay open).
-spec sync(writer()) -> writer().
sync(W0) ->
    #w{files = Fs} = W = unload(W0),
    {Fs1, W1} = maps:fold(fun(Name, F, {Acc, Wx}) ->
                                  {F1, Wx1} = flush(Name, F, Wx),
                                  {Acc#{Name => F1}, Wx1}
                          end, {#{}, W}, Fs),
    settle(W1#w{files = Fs1}).

%% @doc Write every buffer out and close every file.
-spec close(writer()) -> ok.
close(W0) ->
    #w{files = Fs, parked = P} = W = unload(W0),
    #w{io = Io} = settle(lists:foldl(fun done/2, W, maps:keys(Fs) ++ maps:keys(P))),
    ok = request(Io, stop).
