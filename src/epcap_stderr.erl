%%% @doc The port's stderr, and its wrapper's (sudo, ...), as `logger'
%%% events of the capture's process.
%%%
%%% An Erlang port has one pipe each way; stderr would otherwise go to the
%%% VM's own. It goes to a FIFO in a private directory instead, read line
%%% by line by a second port, `cat Fifo'. `cat' ends when the last writer
%%% (the port program, its wrapper) exits; {@link close/1} unblocks a `cat'
%%% whose writer never came, so nothing is left running.
%%%
%%% Started directly (no wrapper), the port program makes the FIFO itself,
%%% as its first act (`-2 Fifo': it opens it read-write and non-blocking,
%%% which never waits), and its reader, `epcap_relay Fifo' (or the port
%%% program again, `-R Fifo'), starts once the port has spoken, off the
%%% path of the start: a start costs one process, not four. With a wrapper
%%% (sudo), whose own stderr must be read too, the FIFO is made first
%%% (`mkfifo'), `cat' started, and the command run as
%%% `/bin/sh -c 'exec "$@" 2>"$0"' Fifo Exe Args...': the shell sends stderr
%%% to the FIFO and replaces itself with the command (no shell is left, and
%%% the port's OS pid is the command's).
%%% @end
-module(epcap_stderr).

-export([new/0]).
-export([open/1, open/2]).
-export([handle/2]).
-export([last_words/1]).
-export([await_end/2]).
-export([opened/1]).
-export([close/1]).
-export([sweep/2]).
-export([make_dir/1]).
-export([check_dir/1]).
-export([private_dir/0]).
-export([remove/1]).
-export([random/0]).

-export_type([state/0]).

-include_lib("kernel/include/file.hrl").

-define(LINE_MAX, 1024).
-define(KEEP, 8).  % lines kept for a start error's reason
-define(TRIES, 8).  % names tried for a private directory
%% More bytes a second than this and stderr is no longer read: the reader
%% (a port) reads without flow control, and each line is a log event, so a
%% port writing without end would otherwise fill the server's mailbox. The
%% reader's output comes as a stream (a message per read, not per line)
%% and is cut into lines here: a flood of short lines costs a message per
%% read until it is seen.
-define(BYTES_PER_SECOND, 262144).
%% ... or more lines than this (each is logged).
-define(LINES_PER_SECOND, 200).

-record(stderr, {
    reader = undefined :: undefined | port(),
    dir = undefined :: undefined | file:filename(),
    %% the port makes the FIFO (-2): the reader starts once it has spoken
    pending = undefined :: undefined | file:filename(),
    announced = true :: boolean(),  % false: the late reader's first line is due
    prog = undefined :: undefined | file:filename(),  % the port program (direct)
    partial = <<>> :: binary(),  % a line begun, at most ?LINE_MAX bytes
    last = [] :: [string()],  % newest first
    %% bytes and lines read in the current second: {Second, Bytes, Lines}
    window = {0, 0, 0} :: {integer(), non_neg_integer(), non_neg_integer()},
    %% a reader closed for flooding: what it had sent is dropped
    flooded = undefined :: undefined | port()
}).
-opaque state() :: #stderr{}.

%% @doc No reader (the port's stderr is not captured).
-spec new() -> state().
new() -> #stderr{}.

%% @doc Open the port for `[Exe | Args]' with its stderr captured; without
%% a FIFO (no `mkfifo', no temporary directory) stderr stays the VM's.
-spec open([string()]) -> {state(), port()}.
open(Cmd) -> open(Cmd, wrapped).

%% @doc As {@link open/1}; `direct' when `Exe' is the port program itself
%% (no wrapper): it then makes the FIFO with `-2'.
-spec open([string()], direct | wrapped) -> {state(), port()}.
open([Exe | Args], direct) ->
    Opts = [stream, binary, exit_status, use_stdio],
    case make_dir(base()) of
        {ok, Dir, Fifo} ->
            Port = open_port({spawn_executable, Exe}, [{args, ["-2", Fifo | Args]} | Opts]),
            {#stderr{dir = Dir, pending = Fifo, prog = Exe}, Port};
        error ->
            {new(), open_port({spawn_executable, Exe}, [{args, Args} | Opts])}
    end;
open([Exe | Args] = Cmd, wrapped) ->
    Opts = [stream, binary, exit_status, use_stdio],
    case make_fifo() of
        {ok, Dir, Fifo} ->
            Reader = reader(Fifo),
            Sh = [{args, ["-c", "exec \"$@\" 2>\"$0\"", Fifo | Cmd]} | Opts],
            {#stderr{reader = Reader, dir = Dir}, open_port({spawn_executable, "/bin/sh"}, Sh)};
        error ->
            {new(), open_port({spawn_executable, Exe}, [{args, Args} | Opts])}
    end.

%% `mkfifo' makes the name (it fails if anything is there) in our private
%% directory; what is there is then checked to be a FIFO of ours.
make_fifo() ->
    Mkfifo = os:find_executable("mkfifo"),
    case Mkfifo =/= false andalso make_dir(base()) of
        {ok, Dir, Fifo} ->
            case run(Mkfifo, ["-m", "600", Fifo]) andalso file:read_link_info(Fifo) of
                {ok, #file_info{type = other, uid = Uid}} ->
                    case file:read_link_info(Dir) of
                        {ok, #file_info{uid = Uid}} -> {ok, Dir, Fifo};
                        _ -> remove(Dir), error
                    end;
                _ ->
                    logger:warning("epcap: no FIFO for the port's stderr in ~ts", [Dir]),
                    remove(Dir),
                    error
            end;
        _ -> error
    end.

%% @private A private directory (make_dir/1) for another of the port's
%% channels (epcap_out: its output socket), under the same base and swept
%% the same way.
-spec private_dir() -> {ok, file:filename()} | error.
private_dir() ->
    case make_dir(base()) of
        {ok, Dir, _} -> {ok, Dir};
        error -> error
    end.

%% $TMPDIR if it is a directory that others may not write, or may write
%% only with the sticky bit (no one may rename or remove what is ours);
%% else /tmp.
base() ->
    case os:getenv("TMPDIR") of
        false -> "/tmp";
        T ->
            case file:read_link_info(T) of
                {ok, #file_info{type = directory, mode = M}}
                  when M band 8#002 =:= 0; M band 8#1000 =/= 0 -> T;
                _ -> "/tmp"
            end
    end.

%% @private A directory only we may enter, and the FIFO's name in it.
%% Erlang makes a directory with the VM's umask (with umask 000, 0777 until
%% the chmod): its name is random (128 bits), so no one can make it first
%% (a name taken is tried again), and after the chmod it must be ours,
%% 0700, and empty. From the chmod on, no other user can add an entry (a
%% directory's mode is checked at every lookup, even through a descriptor
%% opened before); anything planted before is seen, and the directory is
%% left as it is, never touched again. Failing all tries is logged: the
%% port's stderr then stays the VM's.
-spec make_dir(file:filename()) -> {ok, file:filename(), file:filename()} | error.
make_dir(Base) -> make_dir(Base, ?TRIES).

make_dir(Base, 0) ->
    logger:warning("epcap: no private directory for the port's stderr in ~ts", [Base]),
    error;
make_dir(Base, Tries) ->
    Dir = filename:join(Base, "epcap-" ++ integer_to_list(random()) ++ "-" ++ os:getpid()),
    case file:make_dir(Dir) of
        ok ->
            case file:change_mode(Dir, 8#700) =:= ok andalso check_dir(Dir) of
                ok ->
                    sweep_once(Base, Dir),
                    {ok, Dir, filename:join(Dir, "stderr")};
                _ ->
                    logger:warning("epcap: ~ts was not private once made (planted?); "
                                   "left as it is", [Dir]),
                    make_dir(Base, Tries - 1)
            end;
        {error, eexist} ->
            make_dir(Base, Tries - 1);
        {error, Why} ->
            logger:warning("epcap: no directory for the port's stderr in ~ts: ~p", [Base, Why]),
            error
    end.

%% @private `ok' for a directory (not a link), 0700, of the user who runs
%% us (Linux: the owner of /proc/self), and empty.
-spec check_dir(file:filename()) -> ok | error.
check_dir(Dir) ->
    Me = case file:read_file_info("/proc/self") of
             {ok, #file_info{uid = U}} -> U;
             _ -> any
         end,
    case {file:read_link_info(Dir), file:list_dir(Dir)} of
        {{ok, #file_info{type = directory, mode = M, uid = Uid}}, {ok, []}}
          when M band 8#7777 =:= 8#700, Me =:= any orelse Uid =:= Me -> ok;
        _ -> error
    end.

%% @private 128 bits from the OS, as a number (names stay `epcap-N-OsPid';
%% epcap_out's abstract names too).
-spec random() -> non_neg_integer().
random() ->
    Bytes = case file:open("/dev/urandom", [read, raw, binary]) of
                {ok, F} ->
                    R = file:read(F, 16),
                    ok = file:close(F),
                    case R of {ok, <<_:128>> = B} -> B; _ -> rand:bytes(16) end;
                {error, _} -> rand:bytes(16)
            end,
    binary:decode_unsigned(Bytes).

%% Once per VM, off the start's path: the first sweep can take tens of
%% milliseconds (a large $TMPDIR, modules still to load).
sweep_once(Base, Ours) ->
    case persistent_term:get({?MODULE, swept}, false) of
        true -> ok;
        false ->
            persistent_term:put({?MODULE, swept}, true),
            _ = spawn(fun() -> sweep(Base, Ours) end),
            ok
    end.

%% @private A VM killed outright (or a server killed before its reader
%% started) leaves its directory and FIFO behind: nothing of it runs, but
%% the name stays. The first directory a VM makes (`Ours', in `Base')
%% clears those of VMs that are gone: `epcap-N-OsPid' with no process
%% OsPid (Linux: /proc), a real directory (not a link) owned by the user
%% who owns `Ours'.
-spec sweep(file:filename(), file:filename()) -> ok.
sweep(Base, Ours) ->
    case {os:type(), file:read_link_info(Ours)} of
        {{unix, linux}, {ok, #file_info{uid = Uid}}} -> sweep(Base, Uid, os:getpid());
        _ -> ok
    end.

sweep(Base, Uid, Me) ->
    Names = case file:list_dir(Base) of {ok, Ns} -> Ns; {error, _} -> [] end,
    Stale = [filename:join(Base, Name)
             || Name <- Names, OsPid <- [stale_pid(Name)], OsPid =/= false, OsPid =/= Me,
                element(1, file:read_file_info("/proc/" ++ OsPid)) =:= error],
    lists:foreach(fun(Dir) ->
                          case file:read_link_info(Dir) of
                              {ok, #file_info{type = directory, uid = Uid}} -> remove(Dir);
                              _ -> ok
                          end
                  end, Stale).

%% @private Our directory and its FIFO (or epcap_out's socket): the names
%% we make, unlinked (never followed, a link included), then the directory
%% if it is empty (rmdir never follows a link either). Nothing else is
%% removed and nothing is descended into: a directory that holds more is
%% left.
-spec remove(file:filename()) -> ok.
remove(Dir) ->
    _ = file:delete(filename:join(Dir, "stderr")),
    _ = file:delete(filename:join(Dir, "out")),
    _ = file:del_dir(Dir),
    ok.

%% The VM's OS pid in one of our directory names (`epcap-N-OsPid', both
%% numbers), or false. Plain list code: nothing here may need a module
%% loaded (this runs beside a capture's start).
stale_pid("epcap-" ++ Rest) ->
    case lists:splitwith(fun is_digit/1, Rest) of
        {[_ | _], [$- | P]} when P =/= [] ->
            lists:all(fun is_digit/1, P) andalso P;
        _ -> false
    end;
stale_pid(_) -> false.

is_digit(C) -> C >= $0 andalso C =< $9.

reader(Fifo) ->
    open_port({spawn_executable, os:find_executable("cat")},
              [{args, [Fifo]}, stream, binary, exit_status]).

%% The reader of a FIFO the port has made: the port program itself, as a
%% relay (`-R'). It opens the FIFO without waiting for a writer (a port
%% that has already exited ends it at once: nothing waits for ever), says
%% when it has opened it (an empty line first; only then may the name go),
%% then copies the port's stderr until the port has gone.
late_reader(Prog, Fifo) ->
    {Exe, Args} = case relay(Prog) of
                      {ok, Relay} -> {Relay, [Fifo]};
                      error -> {Prog, ["-R", Fifo]}
                  end,
    open_port({spawn_executable, Exe},
              [{args, Args}, stream, binary, exit_status]).

%% The relay program next to the port program (`c_src/relay.c'): it loads
%% libc alone, where the port program, which can relay too (`-R'), is
%% larger and loads libseccomp (and, linked with a shared libpcap, a dozen
%% libraries: 6 ms of a capture's start). A port program without one
%% beside it (a copy, an older build) relays itself.
relay(Prog) ->
    Relay = filename:join(filename:dirname(Prog), "epcap_relay"),
    case file:read_file_info(Relay) of
        {ok, #file_info{type = regular, mode = Mode}} when Mode band 8#111 =/= 0 ->
            {ok, Relay};
        _ ->
            error
    end.

run(Exe, Args) ->
    P = open_port({spawn_executable, Exe}, [{args, Args}, exit_status]),
    receive {P, {exit_status, S}} -> S =:= 0 after 5000 -> false end.

%% @doc Take a message if it is the reader's: each line becomes a `logger'
%% notice with the capture's pid in its metadata.
-spec handle(term(), state()) -> {ok, state()} | unknown.
handle({R, {data, Bin}}, #stderr{reader = R, window = {Sec, N, L}} = S) when is_binary(Bin) ->
    Now = erlang:monotonic_time(second),
    W = case Now of Sec -> {Now, N + byte_size(Bin), L}; _ -> {Now, byte_size(Bin), 0} end,
    case element(2, W) > ?BYTES_PER_SECOND of
        false ->
            case lines(Bin, S#stderr{window = W}) of
                flood -> {ok, flooded(S)};
                S1 -> {ok, S1}
            end;
        true -> {ok, flooded(S)}
    end;
handle({R, {exit_status, _}}, #stderr{reader = R} = S) ->
    {ok, remove_dir(S#stderr{reader = undefined})};
handle({'EXIT', R, _}, #stderr{reader = R} = S) ->
    {ok, S};
handle({F, _}, #stderr{flooded = F} = S) when F =/= undefined ->
    {ok, S};
handle({'EXIT', F, _}, #stderr{flooded = F} = S) when F =/= undefined ->
    {ok, S};
handle(_, _) ->
    unknown.

%% The reader is closed: what the port writes on stderr from now on is
%% dropped by the port (its FIFO is non-blocking) or fails (EPIPE).
flooded(#stderr{reader = R} = S) ->
    catch port_close(R),
    logger:warning("epcap port: its stderr floods (over ~b bytes or ~b lines a second): "
                   "no longer read", [?BYTES_PER_SECOND, ?LINES_PER_SECOND],
                   #{capture => self(), domain => [epcap, port_stderr, flood]}),
    remove_dir(S#stderr{reader = undefined, flooded = R, partial = <<>>}).

%% Whole lines out of what was read; a line is cut at ?LINE_MAX bytes (a
%% port that never ends one costs no more than that).
lines(Bin, #stderr{partial = P, window = {Sec, N, L}} = S) ->
    case binary:split(Bin, <<"\n">>) of
        [Part] ->
            S#stderr{partial = cut(<<P/binary, (cut(Part))/binary>>)};
        [_, _] when L >= ?LINES_PER_SECOND ->
            flood;
        [Part, Rest] ->
            Line = cut(<<P/binary, (cut(Part))/binary>>),
            lines(Rest, line_read(Line, S#stderr{partial = <<>>, window = {Sec, N, L + 1}}))
    end.

cut(B) when byte_size(B) > ?LINE_MAX -> binary:part(B, 0, ?LINE_MAX);
cut(B) -> B.

%% The late reader's first line is empty: it has opened the FIFO.
line_read(<<>>, #stderr{announced = false} = S) ->
    remove_dir(S#stderr{announced = true});
line_read(B, #stderr{last = L} = S) ->
    Line = line(B),
    logger:notice("epcap port: ~ts", [Line],
                  #{capture => self(), domain => [epcap, port_stderr]}),
    S#stderr{last = lists:sublist([Line | L], ?KEEP)}.

%% At most ?LINE_MAX bytes, as text (bytes that are not UTF-8 as Latin-1).
line(Bin) ->
    B = binary:part(Bin, 0, min(byte_size(Bin), ?LINE_MAX)),
    case unicode:characters_to_list(B) of
        L when is_list(L) -> L;
        _ -> binary_to_list(B)
    end.

%% @doc What the port or its wrapper last wrote, oldest line first.
-spec last_words(state()) -> string().
last_words(#stderr{last = L}) -> lists:flatten(lists:join("\n", lists:reverse(L))).

%% @doc Read stderr until the reader ends (its writers exited) or `Ms'
%% pass: the port's exit status may arrive before its last line.
-spec await_end(state(), non_neg_integer()) -> state().
await_end(#stderr{reader = undefined} = S, _) -> S;
await_end(#stderr{reader = R} = S, Ms) ->
    receive
        {R, _} = Msg -> {ok, S1} = handle(Msg, S), await_end(S1, Ms)
    after Ms -> S
    end.

%% @doc The port has written on stdout. Through a shell: the shell had
%% opened the FIFO, which it could only do once `cat' had, so the name is
%% no longer needed, and goes now rather than at the end (a server killed
%% outright leaves none). Direct: the port has made the FIFO, and its
%% reader starts now; the name goes when the reader says it has opened it.
%% (The port writes its stderr without waiting: until a reader comes, or
%% if none ever does, what does not fit in the FIFO is dropped.)
-spec opened(state()) -> state().
opened(#stderr{pending = undefined, dir = undefined} = S) -> S;
opened(#stderr{pending = undefined} = S) -> remove_dir(S);
opened(#stderr{pending = Fifo, prog = Prog} = S) ->
    S#stderr{reader = late_reader(Prog, Fifo), pending = undefined, announced = false}.

%% @doc Stop reading. A `cat' still waiting for a writer gets one and
%% its end (opening a FIFO read-write never blocks), so that it exits.
-spec close(state()) -> ok.
close(#stderr{reader = undefined} = S) ->
    _ = remove_dir(S),
    ok;
close(#stderr{reader = R, dir = undefined}) ->
    catch port_close(R),
    ok;
close(#stderr{reader = R, dir = Dir} = S) ->
    catch port_close(R),
    %% Held open while the name goes: a reader already waiting in open()
    %% gets its writer (and then its end), one that comes later finds no
    %% name; none can be left waiting between the two.
    Held = file:open(filename:join(Dir, "stderr"), [read, write, raw]),
    _ = remove_dir(S),
    case Held of
        {ok, F} -> ok = file:close(F);
        {error, _} -> ok
    end.

remove_dir(#stderr{dir = undefined} = S) -> S;
remove_dir(#stderr{dir = Dir} = S) ->
    remove(Dir),
    S#stderr{dir = undefined}.
