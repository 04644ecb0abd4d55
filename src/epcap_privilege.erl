%%% @doc Whether the port program can capture by itself, and what to
%%% tell the user when it cannot.
%%%
%%% A live capture needs root or the capabilities `cap_net_raw' and
%%% `cap_net_admin'. When the VM runs as root, or the port file holds both
%%% (`make setcap'), the port runs directly; otherwise through `sudo -n'.
%%% The port itself answers the question (`epcap -Q' prints `root',
%%% `capabilities', `partial' or `none'): what counts is what the kernel
%%% grants it when it is executed, which also covers a `nosuid' mount or
%%% a file system without extended attributes. The answer is cached per
%%% file, keyed by its inode, mtime and ctime: a rebuild changes the
%%% mtime, `setcap' the ctime.
-module(epcap_privilege).

-export([default_exec/1]).
-export([permission_hint/1]).
-export([port_privilege/1]).

-include_lib("kernel/include/file.hrl").

-type privilege() :: root | capabilities | partial | none.
-export_type([privilege/0]).

%% The longest answer -Q gives is a word; a page is plenty.
-define(ANSWER_MAX, 4096).
-define(QUERY_TIMEOUT, 5000).

%% @doc The wrapper to run `Progname' with for a live capture: `[]' when
%% the VM runs as root or the file holds both capabilities, otherwise
%% `["sudo", "-n"]'.
-spec default_exec(Progname :: file:filename()) -> [string()].
default_exec(Progname) ->
    case vm_is_root() orelse port_privilege(Progname) =:= capabilities of
        true -> [];
        false -> ["sudo", "-n"]
    end.

%% @doc A sentence explaining why `Progname' cannot capture without a
%% wrapper and how to fix it, or `none' when it can (or runs as root).
-spec permission_hint(Progname :: file:filename()) -> string() | none.
permission_hint(Progname) ->
    case vm_is_root() of
        true -> none;
        false -> hint(Progname, port_privilege(Progname))
    end.

hint(_, capabilities) ->
    none;
hint(_, root) ->
    none;
hint(Prog, partial) ->
    lists:flatten(
      io_lib:format("~ts holds only one of cap_net_raw and cap_net_admin: run "
                    "`sudo setcap cap_net_raw,cap_net_admin=ep ~ts`", [Prog, Prog]));
hint(Prog, none) ->
    lists:flatten(
      io_lib:format("~ts has no capabilities (a rebuild drops them): run "
                    "`sudo make setcap` in the epcap checkout, or "
                    "`sudo setcap cap_net_raw,cap_net_admin=ep ~ts`", [Prog, Prog]));
hint(Prog, {error, eacces}) ->
    %% `make setcap' leaves the port root:pcap 0750 (issue 24, defect 5).
    lists:flatten(
      io_lib:format("~ts may be run only by root and the members of its group~ts: "
                    "`sudo usermod -aG GROUP $USER`, then log in again (or `newgrp "
                    "GROUP`)", [Prog, group_of(Prog)]));
hint(Prog, {error, Reason}) ->
    lists:flatten(io_lib:format("~ts cannot be run: ~p", [Prog, Reason])).

group_of(Prog) ->
    case file:read_file_info(Prog) of
        {ok, #file_info{gid = Gid}} ->
            case string:split(os:cmd("getent group " ++ integer_to_list(Gid)), ":") of
                [Name, _ | _] when Name =/= "" -> " (" ++ Name ++ ")";
                _ -> " (gid " ++ integer_to_list(Gid) ++ ")"
            end;
        {error, _} -> ""
    end.

%% @doc What `Progname -Q' says it holds when run as this VM's user,
%% cached until the file changes.
-spec port_privilege(Progname :: file:filename()) -> privilege() | {error, term()}.
port_privilege(Progname) ->
    Prog = filename:absname(Progname),
    case file:read_file_info(Prog, [{time, posix}]) of
        {ok, #file_info{inode = I, mtime = M, ctime = C}} ->
            cached(Prog, {I, M, C});
        {error, Reason} ->
            {error, {port_not_found, Reason}}
    end.

cached(Prog, Stamp) ->
    Key = {?MODULE, Prog},
    case persistent_term:get(Key, undefined) of
        {Stamp, Answer} ->
            Answer;
        _ ->
            Answer = query(Prog),
            is_tuple(Answer) orelse persistent_term:put(Key, {Stamp, Answer}),
            Answer
    end.

%% Asked from a process of its own: the port's link would leave
%% `{'EXIT', Port, normal}' in the mailbox of a caller that traps exits.
query(Prog) ->
    Self = self(),
    Tag = make_ref(),
    {Pid, Ref} = spawn_monitor(fun() -> Self ! {Tag, ask(Prog)} end),
    receive
        {Tag, Answer} ->
            erlang:demonitor(Ref, [flush]),
            Answer;
        {'DOWN', Ref, process, Pid, Reason} ->
            {error, Reason}
    end.

ask(Prog) ->
    try open_port({spawn_executable, Prog},
                  [{args, ["-Q"]}, exit_status, stderr_to_stdout, binary]) of
        Port -> collect(Port, <<>>)
    catch
        error:Reason -> {error, Reason}
    end.

collect(Port, Acc) when byte_size(Acc) > ?ANSWER_MAX ->
    %% The answer is one word: a port that says more is not ours.
    catch port_close(Port),
    {error, {unexpected, binary:part(Acc, 0, 64)}};
collect(Port, Acc) ->
    receive
        {Port, {data, D}} -> collect(Port, <<Acc/binary, D/binary>>);
        {Port, {exit_status, 0}} -> parse(string:trim(Acc));
        {Port, {exit_status, S}} -> {error, {port_exit, S}}
    after ?QUERY_TIMEOUT ->
        catch port_close(Port),
        {error, timeout}
    end.

parse(<<"root">>) -> root;
parse(<<"capabilities">>) -> capabilities;
parse(<<"partial">>) -> partial;
parse(<<"none">>) -> none;
parse(Other) -> {error, {unexpected, Other}}.

vm_is_root() ->
    case file:read_file("/proc/self/status") of
        {ok, Status} ->
            re:run(Status, "^Uid:\\s+\\d+\\s+0\\s", [multiline, {capture, none}])
                =:= match;
        {error, _} ->
            string:trim(os:cmd("id -u")) =:= "0"
    end.
