%%% The port's stderr directory and FIFO against another local user (issue
%%% 24, defect 6, and defect 7's stale directories): names nobody can plant
%%% in advance, a FIFO used only if it is a FIFO of ours in a private
%%% directory, removal that never recurses nor follows a link.
-module(epcap_stderr_SUITE).
-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").
-include_lib("kernel/include/file.hrl").

-compile([export_all, nowarn_export_all]).

all() ->
    [precreated_names_keep_capture, relay_refuses_what_is_not_ours,
     port_refuses_unsafe_directory, stale_dirs_removed_without_recursion,
     planted_directory_abandoned].

init_per_suite(Config) ->
    case epcap_test_lib:is_root() of
        false -> {skip, "making files of another user (nobody) needs root"};
        true ->
            {ok, _} = application:ensure_all_started(epcap),
            Config
    end.
end_per_suite(_) -> ok.

init_per_testcase(_, Config) ->
    Base = filename:join(?config(priv_dir, Config), "tmp" ++ integer_to_list(
                                                              erlang:unique_integer([positive]))),
    ok = file:make_dir(Base),
    ok = file:change_mode(Base, 8#1777),
    [{base, Base} | Config].
end_per_testcase(_, _) -> epcap_test_lib:flush().

precreated_names_keep_capture() ->
    [{doc, "Ensure that names planted in $TMPDIR by another user (the names a "
      "VM would use next) do not turn the capture of the port's stderr off: "
      "the wrapper's line still arrives as a logger event"}].
precreated_names_keep_capture(Config) ->
    Base = ?config(base, Config),
    %% What a VM's next directories were called: epcap-N-OsPid, N counting up.
    U = erlang:unique_integer([positive]),
    [plant_dir(filename:join(Base, "epcap-" ++ integer_to_list(U + K) ++ "-" ++ os:getpid()))
     || K <- lists:seq(1, 3000)],
    Wrapper = script(Config, "chatty", "echo 'wrapper says hello' >&2\nexec \"$@\"\n"),
    Old = os:getenv("TMPDIR"),
    os:putenv("TMPDIR", Base),
    ok = logger:add_handler(epcap_stderr_handler, ?MODULE, #{config => #{pid => self()}}),
    try
        {ok, Pid} = epcap:start(epcap_test_lib:opts([{file, epcap_test_lib:data("veth_mixed.pcap")},
                                                     {exec, Wrapper}])),
        receive
            {logged, Pid, Line} -> ?assertEqual("epcap port: wrapper says hello", Line)
        after 3000 -> ct:fail(no_log_event)
        end
    after
        logger:remove_handler(epcap_stderr_handler),
        case Old of false -> os:unsetenv("TMPDIR"); _ -> os:putenv("TMPDIR", Old) end
    end.

log(#{meta := #{domain := [epcap, port_stderr], capture := Pid}, msg := {Fmt, Args}},
    #{config := #{pid := To}}) ->
    To ! {logged, Pid, lists:flatten(io_lib:format(Fmt, Args))};
log(_, _) ->
    ok.

relay_refuses_what_is_not_ours() ->
    [{doc, "Ensure that the relay (priv/epcap_relay, and the port program's -R) "
      "reads nothing from a FIFO of another user, a regular file, or a FIFO in "
      "a directory others may write: it exits 1 and writes nothing"}].
relay_refuses_what_is_not_ours(Config) ->
    Base = ?config(base, Config),
    Relay = filename:join(filename:dirname(epcap_test_lib:progname()), "epcap_relay"),
    Cases =
        [{fifo_of_nobody, fun(D) -> ok = private(D), mkfifo(D), chown_nobody(stderr(D)) end},
         {regular_file, fun(D) -> ok = private(D),
                                  ok = file:write_file(stderr(D), "planted line\n") end},
         {open_directory, fun(D) -> ok = private(D), mkfifo(D), ok = file:change_mode(D, 8#777) end},
         {symlink, fun(D) -> ok = private(D), Other = D ++ "-other", ok = file:make_dir(Other),
                             mkfifo(Other), ok = file:make_symlink(stderr(Other), stderr(D)) end}],
    Results = [{Name, Prog, relay(Prog, Args, Base, Name, Make)}
               || {Name, Make} <- Cases,
                  {Prog, Args} <- [{Relay, []}, {epcap_test_lib:progname(), ["-R"]}]],
    ct:log("~p", [Results]),
    ?assertEqual([], [R || {_, _, Got} = R <- Results, Got =/= {1, ""}]).

relay(Prog, Args, Base, Name, Make) ->
    D = filename:join(Base, atom_to_list(Name) ++ integer_to_list(length(Args))),
    Make(D),
    %% A writer holds the FIFO open (read-write: it never waits for a
    %% reader), as a port would: a relay that reads it would wait, so it is
    %% killed after a second.
    Cmd = lists:flatten(io_lib:format("(sleep 2 <> ~s >/dev/null 2>&1 &) ; timeout 1 ~s ~s ~s",
                                      [quote(stderr(D)), Prog, string:join(Args, " "),
                                       quote(stderr(D))])),
    case file:read_link_info(stderr(D)) of
        {ok, #file_info{type = other}} -> epcap_test_lib:cmd(Cmd);
        _ -> epcap_test_lib:cmd(lists:flatten(io_lib:format("~s ~s ~s", [Prog, string:join(Args, " "),
                                                                          quote(stderr(D))])))
    end.

port_refuses_unsafe_directory() ->
    [{doc, "Ensure that the port program (-2) makes its FIFO only in a directory "
      "of its user that no one else may enter, and never through a link"}].
port_refuses_unsafe_directory(Config) ->
    Base = ?config(base, Config),
    File = epcap_test_lib:data("veth_mixed.pcap"),
    Run = fun(Fifo) ->
                  epcap_test_lib:cmd(epcap_test_lib:progname() ++ " -2 " ++ quote(Fifo) ++ " -r "
                                     ++ quote(File) ++ " </dev/null >/dev/null")
          end,
    Open = filename:join(Base, "open"),
    ok = file:make_dir(Open),
    ok = file:change_mode(Open, 8#777),
    _ = Run(stderr(Open)),
    Nobodys = filename:join(Base, "nobodys"),
    ok = file:make_dir(Nobodys),
    ok = file:change_mode(Nobodys, 8#700),
    chown_nobody(Nobodys),
    _ = Run(stderr(Nobodys)),
    Target = filename:join(Base, "target"),
    ok = file:make_dir(Target),
    ok = file:change_mode(Target, 8#700),
    ok = file:make_symlink(Target, filename:join(Base, "link")),
    _ = Run(filename:join([Base, "link", "stderr"])),
    ?assertEqual({error, enoent}, file:read_link_info(stderr(Open))),
    ?assertEqual({error, enoent}, file:read_link_info(stderr(Nobodys))),
    ?assertEqual({error, enoent}, file:read_link_info(stderr(Target))),
    %% And in a good one it does.
    Good = filename:join(Base, "good"),
    ok = file:make_dir(Good),
    ok = file:change_mode(Good, 8#700),
    _ = Run(stderr(Good)),
    ?assertMatch({ok, #file_info{type = other}}, file:read_link_info(stderr(Good))).

stale_dirs_removed_without_recursion() ->
    [{doc, "Ensure that the directory and FIFO a VM killed outright leaves are "
      "removed by the next VM's sweep, and that the sweep removes nothing else: "
      "it never descends into a directory nor follows a link"}].
stale_dirs_removed_without_recursion(Config) ->
    Base = ?config(base, Config),
    Dead = string:trim(os:cmd("sh -c 'echo $$'")),
    D = fun(Name) -> filename:join(Base, Name) end,
    %% What a killed VM leaves: the directory and its FIFO.
    Killed = D("epcap-11-" ++ Dead),
    ok = private(Killed),
    mkfifo(Killed),
    %% A stale name with more in it than ours ever holds.
    Odd = D("epcap-12-" ++ Dead),
    ok = private(Odd),
    ok = file:make_dir(filename:join(Odd, "sub")),
    ok = file:write_file(filename:join([Odd, "sub", "keep"]), "x"),
    %% Its stderr a link to a directory with a file in it.
    Linked = D("epcap-13-" ++ Dead),
    ok = private(Linked),
    ok = file:make_dir(D("elsewhere")),
    ok = file:write_file(D("elsewhere/keep"), "x"),
    ok = file:make_symlink(D("elsewhere"), stderr(Linked)),
    ok = private(D("ours-" ++ os:getpid())),
    ok = epcap_stderr:sweep(Base, D("ours-" ++ os:getpid())),
    {ok, Left} = file:list_dir(Base),
    ?assertEqual(lists:sort(["epcap-12-" ++ Dead, "elsewhere", "ours-" ++ os:getpid()]),
                 lists:sort(Left)),
    ?assertEqual({ok, <<"x">>}, file:read_file(filename:join([Odd, "sub", "keep"]))),
    ?assertEqual({ok, <<"x">>}, file:read_file(D("elsewhere/keep"))).

planted_directory_abandoned() ->
    [{doc, "Ensure that a stderr directory with an entry in it when it has just "
      "been made private (planted while the VM's umask left it open) is not "
      "used: a new one is made, and the planted entry is never touched"}].
planted_directory_abandoned(Config) ->
    Base = ?config(base, Config),
    Planted = filename:join(Base, "planted"),
    ok = file:make_dir(Planted),
    ok = file:change_mode(Planted, 8#700),
    ok = file:write_file(filename:join(Planted, "stderr"), "not a FIFO"),
    ?assertEqual(error, epcap_stderr:check_dir(Planted)),
    ?assertEqual({ok, <<"not a FIFO">>}, file:read_file(filename:join(Planted, "stderr"))),
    Empty = filename:join(Base, "empty"),
    ok = private(Empty),
    ?assertEqual(ok, epcap_stderr:check_dir(Empty)),
    Open = filename:join(Base, "open"),
    ok = file:make_dir(Open),
    ok = file:change_mode(Open, 8#755),
    ?assertEqual(error, epcap_stderr:check_dir(Open)),
    {ok, Dir, Fifo} = epcap_stderr:make_dir(Base),
    ?assertEqual(filename:join(Dir, "stderr"), Fifo),
    ?assertMatch({ok, #file_info{type = directory, mode = M}} when M band 8#777 =:= 8#700,
                 file:read_link_info(Dir)),
    ?assertMatch("epcap-" ++ _, filename:basename(Dir)),
    %% The name is not a counter: 128 random bits.
    [_, N, _] = string:split(filename:basename(Dir), "-", all),
    ?assert(list_to_integer(N) > 1 bsl 64).

%%--------------------------------------------------------------------

stderr(D) -> filename:join(D, "stderr").

private(D) ->
    ok = file:make_dir(D),
    file:change_mode(D, 8#700).

plant_dir(D) ->
    ok = file:make_dir(D),
    ok = file:change_mode(D, 8#777),
    chown_nobody(D).

mkfifo(D) ->
    {0, _} = epcap_test_lib:cmd("mkfifo -m 600 " ++ quote(stderr(D))).

chown_nobody(Path) ->
    {0, _} = epcap_test_lib:cmd("chown -h nobody " ++ quote(Path)).

quote(S) -> "'" ++ S ++ "'".

script(Config, Name, Body) ->
    Path = filename:join(?config(priv_dir, Config), Name),
    ok = file:write_file(Path, ["#!/bin/sh\n", Body]),
    ok = file:change_mode(Path, 8#755),
    Path.
