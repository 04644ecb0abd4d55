%%% @doc The port's stderr, and its wrapper's (sudo, ...), as `logger'
%%% events of the capture's process.
%%%
%%% An Erlang port has one pipe each way; stderr would otherwise go to the
%%% VM's own. So the port is started as
%%% `/bin/sh -c 'exec "$@" 2>"$0"' Fifo Exe Args...': the shell sends stderr
%%% to a FIFO in a private directory and replaces itself with the command
%%% (no shell is left, and the port's OS pid is the command's). A second
%%% port, `cat Fifo', reads it line by line. `cat' ends when the last
%%% writer (the port program, its wrapper) exits; {@link close/1} unblocks
%%% a `cat' whose writer never came, so nothing is left running.
%%% @end
-module(epcap_stderr).

-export([new/0]).
-export([open/1]).
-export([handle/2]).
-export([last_words/1]).
-export([await_end/2]).
-export([opened/1]).
-export([close/1]).

-export_type([state/0]).

-define(LINE_MAX, 1024).
-define(KEEP, 8).  % lines kept for a start error's reason

-record(stderr, {
    reader = undefined :: undefined | port(),
    dir = undefined :: undefined | file:filename(),
    partial = [] :: iodata(),
    last = [] :: [string()]  % newest first
}).
-opaque state() :: #stderr{}.

%% @doc No reader (the port's stderr is not captured).
-spec new() -> state().
new() -> #stderr{}.

%% @doc Open the port for `[Exe | Args]' with its stderr captured; without
%% a FIFO (no `mkfifo', no temporary directory) stderr stays the VM's.
-spec open([string()]) -> {state(), port()}.
open([Exe | Args] = Cmd) ->
    Opts = [stream, binary, exit_status, use_stdio],
    case make_fifo() of
        {ok, Dir, Fifo} ->
            Reader = open_port({spawn_executable, os:find_executable("cat")},
                               [{args, [Fifo]}, {line, ?LINE_MAX}, binary, exit_status]),
            Sh = [{args, ["-c", "exec \"$@\" 2>\"$0\"", Fifo | Cmd]} | Opts],
            {#stderr{reader = Reader, dir = Dir}, open_port({spawn_executable, "/bin/sh"}, Sh)};
        error ->
            {new(), open_port({spawn_executable, Exe}, [{args, Args} | Opts])}
    end.

make_fifo() ->
    Base = case os:getenv("TMPDIR") of false -> "/tmp"; T -> T end,
    Dir = filename:join(Base, "epcap-" ++ integer_to_list(erlang:unique_integer([positive]))
                        ++ "-" ++ os:getpid()),
    Fifo = filename:join(Dir, "stderr"),
    Mkfifo = os:find_executable("mkfifo"),
    case Mkfifo =/= false andalso file:make_dir(Dir) of
        ok ->
            case run(Mkfifo, ["-m", "600", Fifo]) andalso file:change_mode(Dir, 8#700) =:= ok of
                true -> {ok, Dir, Fifo};
                false -> _ = file:del_dir_r(Dir), error
            end;
        _ -> error
    end.

run(Exe, Args) ->
    P = open_port({spawn_executable, Exe}, [{args, Args}, exit_status]),
    receive {P, {exit_status, S}} -> S =:= 0 after 5000 -> false end.

%% @doc Take a message if it is the reader's: each line becomes a `logger'
%% notice with the capture's pid in its metadata.
-spec handle(term(), state()) -> {ok, state()} | unknown.
handle({R, {data, {noeol, Part}}}, #stderr{reader = R, partial = P} = S) ->
    {ok, S#stderr{partial = [P, Part]}};
handle({R, {data, {eol, Part}}}, #stderr{reader = R, partial = P, last = L} = S) ->
    Line = unicode:characters_to_list(iolist_to_binary([P, Part])),
    logger:notice("epcap port: ~ts", [Line],
                  #{capture => self(), domain => [epcap, port_stderr]}),
    {ok, S#stderr{partial = [], last = lists:sublist([Line | L], ?KEEP)}};
handle({R, {exit_status, _}}, #stderr{reader = R} = S) ->
    {ok, remove_dir(S#stderr{reader = undefined})};
handle({'EXIT', R, _}, #stderr{reader = R} = S) ->
    {ok, S};
handle(_, _) ->
    unknown.

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

%% @doc The port has written on stdout, so its shell had opened the FIFO,
%% which it could only do once `cat' had: the name is no longer needed, and
%% goes now rather than at the end (a server killed outright leaves none).
-spec opened(state()) -> state().
opened(#stderr{dir = undefined} = S) -> S;
opened(S) -> remove_dir(S).

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
    case file:open(filename:join(Dir, "stderr"), [read, write, raw]) of
        {ok, F} -> ok = file:close(F);
        {error, _} -> ok
    end,
    _ = remove_dir(S),
    ok.

remove_dir(#stderr{dir = undefined} = S) -> S;
remove_dir(#stderr{dir = Dir} = S) ->
    _ = file:del_dir_r(Dir),
    S#stderr{dir = undefined}.
