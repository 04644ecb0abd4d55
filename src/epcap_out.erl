%%% @doc The port's output channel: a Unix stream socket the server reads
%%% at its own pace (`-O Path', `c_src/outsock.h').
%%%
%%% An Erlang port's stdout is read by the runtime as fast as the port
%%% writes, with no flow control: a port that ignored its credit could put
%%% hundreds of MiB into the server's mailbox before the server reached the
%%% record that broke the credit (issue 24). The port connects instead to a
%%% socket the server listens on, and the server reads it with `{active,
%%% N}' kept at 32 (one more for each message taken): the runtime reads
%%% no more than 32 messages ahead of the server, and
%%% a port that writes faster waits in `write'. The port then closes its
%%% stdout pipe; the runtime still reads that for its end and the exit
%%% status, and the server accepts nothing on it but an error term (one the
%%% port reports before it could connect).
%%%
%%% The socket is in a private directory of the server's (`epcap_stderr'
%%% makes it: a random name of 128 bits, 0700 and empty when checked), then
%%% opened for the port: the directory 0711 (no one else may list or add to
%%% it) and the socket 0666, because the port may run as another user than
%%% the VM (sudo, a wrapper that drops privileges) and in another network
%%% namespace (`ip netns exec'), where an abstract name would not be found.
%%% Anyone who learns the name (it is on the port's command line) may
%%% connect, so a connection is kept only if the kernel's credentials for
%%% it (SO_PEERCRED) name the port's process or a descendant of it (the
%%% port under sudo is sudo's child); any other is closed and logged, and
%%% the server goes on waiting for its port. The name and the directory go
%%% once the port is connected. The port connects with its caller's ids
%%% (`c_src/caller.h'), so the peer never sees root's. Where no directory
%%% can be had, or its path would not fit a socket address, the socket is
%%% abstract (`-O @Name'). Elsewhere than on Linux the port's stdout is
%%% read, as before.
%%% @end
-module(epcap_out).

-export([open/2]).
-export([accept/2]).
-export([handle/2]).
-export([socket/1]).
-export([took/1]).
-export([ended/1]).
-export([close/1]).

-export_type([state/0, event/0]).

%% Messages the runtime reads ahead of the server, each at most ?BUFFER
%% bytes: at most 2 MiB of the port's output waits in the mailbox.
-define(ACTIVE, 32).
-define(BUFFER, 65536).
%% How far up from the peer its port may be: the port program under sudo,
%% under a wrapper or two (runuser, taskset...).
-define(DEPTH, 8).
-define(SOL_SOCKET, 1).
%% A Unix socket address holds at most 107 bytes of path (Linux).
-define(PATH_MAX, 107).
-define(SO_PEERCRED, 17).

-record(out, {
    dir = undefined :: undefined | file:filename(),
    listen = undefined :: undefined | gen_tcp:socket(),
    %% neither listening nor connected: the output has ended
    sock = undefined :: undefined | gen_tcp:socket()
}).
-opaque state() :: none | #out{}.
%% What a message of the channel means to the server.
-type event() :: {data, binary(), state()} | {ok, state()} | {ended, state()}.

%% @doc Listen for the output of `Cmd', whose port program is `Prog': the
%% command with `-O Path' after the program. `none' and the command as it
%% was (the port then writes on stdout, read without flow control) when
%% there is no abstract namespace or no socket can be had (logged).
-spec open([string()], string()) -> {state(), [string()]}.
open(Cmd, Prog) ->
    case {os:type(), lists:splitwith(fun(A) -> A =/= Prog end, Cmd)} of
        {{unix, linux}, {Pre, [Prog | Args]}} ->
            case listen() of
                {ok, Out, Address} -> {Out, Pre ++ [Prog, "-O", Address | Args]};
                error -> {none, Cmd}
            end;
        _ ->
            {none, Cmd}
    end.

%% A socket in a private directory of ours (epcap_stderr:private_dir/0),
%% which the port reaches whatever its user and its network namespace
%% (`ip netns exec' as a wrapper: abstract names are per namespace): the
%% directory is made searchable (0711: no one else may list or add to it)
%% and the socket connectable by all, since the port may run as another
%% user than the VM (sudo, a wrapper that drops privileges); who may keep
%% a connection is the peer check's to say. Without such a directory, or
%% where the path would not fit a socket address, an abstract name.
listen() ->
    case epcap_stderr:private_dir() of
        {ok, Dir} ->
            Path = filename:join(Dir, "out"),
            case byte_size(unicode:characters_to_binary(Path)) =< ?PATH_MAX andalso
                listen(unicode:characters_to_binary(Path)) of
                {ok, L} ->
                    case file:change_mode(Path, 8#666) =:= ok andalso
                        file:change_mode(Dir, 8#711) of
                        ok -> {ok, #out{listen = L, dir = Dir}, Path};
                        _ -> gen_tcp:close(L), epcap_stderr:remove(Dir), abstract()
                    end;
                _ ->
                    epcap_stderr:remove(Dir),
                    abstract()
            end;
        error ->
            abstract()
    end.

abstract() ->
    Name = "epcap-" ++ integer_to_list(epcap_stderr:random(), 36)
        ++ "-" ++ os:getpid(),
    case listen(list_to_binary([0 | Name])) of
        {ok, L} -> {ok, #out{listen = L}, [$@ | Name]};
        {error, Why} ->
            logger:warning("epcap: no socket for the port's output (~0p): its stdout "
                           "is read instead, without flow control", [Why]),
            error
    end.

listen(Address) ->
    gen_tcp:listen(0, [{ifaddr, {local, Address}}, binary, {packet, raw}, {active, false},
                       {backlog, 4}, {buffer, ?BUFFER}]).

%% @doc Accept the connection of `Port''s program, once it is running (its
%% OS pid is what a connection is checked against), in a process of its
%% own; the server gets `{epcap_out, Listen, Socket}'.
-spec accept(state(), port()) -> state().
accept(#out{listen = L} = Out, Port) ->
    case erlang:port_info(Port, os_pid) of
        {os_pid, OsPid} ->
            Server = self(),
            %% Not linked: the server traps exits; the listening socket is
            %% the server's and closes with it, which ends the accept.
            _ = spawn(fun() -> acceptor(L, integer_to_list(OsPid), Server) end),
            Out;
        undefined ->
            close(Out)
    end;
accept(none, _) ->
    none.

acceptor(L, OsPid, Server) ->
    case gen_tcp:accept(L) of
        {ok, S} ->
            case peer(S) of
                {ok, Pid} ->
                    case ours(Pid, OsPid, ?DEPTH) of
                        true -> hand_over(L, S, Server);
                        false -> refuse(S, Pid), acceptor(L, OsPid, Server)
                    end;
                error ->
                    refuse(S, unknown),
                    acceptor(L, OsPid, Server)
            end;
        {error, _} ->
            ok
    end.

hand_over(L, S, Server) ->
    case gen_tcp:controlling_process(S, Server) of
        ok -> Server ! {epcap_out, L, S};
        {error, _} -> gen_tcp:close(S)
    end.

refuse(S, Pid) ->
    logger:warning("epcap: a connection to the port's output socket from process ~p, "
                   "not the port: closed", [Pid]),
    gen_tcp:close(S).

%% The connecting process, as the kernel recorded it at connect().
peer(S) ->
    case inet:getopts(S, [{raw, ?SOL_SOCKET, ?SO_PEERCRED, 12}]) of
        {ok, [{raw, _, _, <<Pid:32/native, _Uid:32/native, _Gid:32/native>>}]} when Pid > 0 ->
            {ok, integer_to_list(Pid)};
        _ ->
            error
    end.

%% Pid is the port's process, or below it.
ours(OsPid, OsPid, _) -> true;
ours(_, _, 0) -> false;
ours(Pid, OsPid, Depth) ->
    case parent(Pid) of
        {ok, "0"} -> false;
        {ok, "1"} -> false;
        {ok, Parent} -> ours(Parent, OsPid, Depth - 1);
        error -> false
    end.

%% /proc/Pid/stat: "Pid (comm) State PPid ...", where comm may hold
%% anything, parentheses and spaces included: the fields after its last
%% ')' are read.
parent(Pid) ->
    case file:read_file("/proc/" ++ Pid ++ "/stat") of
        {ok, Stat} ->
            case string:split(Stat, ")", trailing) of
                [_, Rest] ->
                    case string:lexemes(Rest, " ") of
                        [_State, PPid | _] -> {ok, binary_to_list(PPid)};
                        _ -> error
                    end;
                _ -> error
            end;
        {error, _} ->
            error
    end.

%% @doc A message of the channel: the port has connected (listening ends,
%% reading starts), bytes it wrote (the runtime may then read one more
%% message: took/1), or the end of its output. Messages of a socket that
%% is no longer ours (closed by {@link close/1}) are taken and ignored; any
%% other message is `unknown'.
-spec handle(term(), state()) -> event() | unknown.
handle({epcap_out, L, S}, #out{listen = L} = Out0) ->
    Out = unlisten(Out0),
    case inet:setopts(S, [{active, ?ACTIVE}]) of
        ok -> {ok, Out#out{sock = S}};
        {error, _} ->
            _ = gen_tcp:close(S),
            {ended, Out}
    end;
handle({epcap_out, _, S}, Out) ->
    _ = gen_tcp:close(S),
    {ok, Out};
handle({tcp, S, Bin}, #out{sock = S} = Out) ->
    ok = took(Out),
    {data, Bin, Out};
handle({tcp_passive, S}, #out{sock = S} = Out) ->
    %% The runtime has ?ACTIVE messages waiting: each gives one back as
    %% it is taken.
    {ok, Out};
handle({tcp_closed, S}, #out{sock = S} = Out) ->
    {ended, Out#out{sock = undefined}};
handle({tcp_error, S, _}, #out{sock = S} = Out) ->
    _ = gen_tcp:close(S),
    {ended, Out#out{sock = undefined}};
handle(Msg, Out) when element(1, Msg) =:= tcp; element(1, Msg) =:= tcp_passive;
                      element(1, Msg) =:= tcp_closed; element(1, Msg) =:= tcp_error ->
    {ok, Out};
handle(_, _) ->
    unknown.

%% @doc The connected socket, if any.
-spec socket(state()) -> undefined | gen_tcp:socket().
socket(#out{sock = S}) -> S;
socket(none) -> undefined.

%% @doc A message taken: the runtime may read one more. The count of
%% messages read and not yet taken stays ?ACTIVE, so the runtime never
%% stops to wait for a re-arm (a fixed {active, 16} refilled at
%% `tcp_passive' cost a third of per-packet throughput), and never gets
%% further ahead.
-spec took(state()) -> ok.
took(#out{sock = S}) when S =/= undefined ->
    _ = inet:setopts(S, [{active, 1}]),  % closed: its tcp_closed follows
    ok;
took(_) ->
    ok.

%% @doc Whether all the port's output has been read: no socket (stdout is
%% read, and its end is the port's), or the socket's end has been seen.
-spec ended(state()) -> boolean().
ended(none) -> true;
ended(#out{listen = L, sock = S}) -> L =:= undefined andalso S =:= undefined.

%% @doc Stop listening or reading.
-spec close(state()) -> state().
close(none) -> none;
close(#out{sock = S} = Out) ->
    _ = [gen_tcp:close(S) || S =/= undefined],
    (unlisten(Out))#out{sock = undefined}.

%% The listening socket closed, its name and directory gone.
unlisten(#out{listen = L, dir = Dir} = Out) ->
    _ = [gen_tcp:close(L) || L =/= undefined],
    _ = [epcap_stderr:remove(Dir) || Dir =/= undefined],
    Out#out{listen = undefined, dir = undefined}.
