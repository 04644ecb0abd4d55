%%% @doc Common Test suite of capture without root: an ordinary user (one
%%% this suite creates and removes) captures live through a copy of the
%%% checkout built and granted capabilities as `make setcap' does; a
%%% rebuild that changes nothing keeps them; a relink drops them, and
%%% then epcap_privilege says so and falls back to `sudo -n'.
-module(epcap_privilege_SUITE).

-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").

-export([all/0, suite/0, groups/0, init_per_suite/1, end_per_suite/1]).
-export([root_vm_runs_directly/0, root_vm_runs_directly/1,
         user_captures_with_capabilities/0, user_captures_with_capabilities/1,
         rebuild_keeps_capabilities/0, rebuild_keeps_capabilities/1,
         sniff_script_without_sudo/0, sniff_script_without_sudo/1,
         relink_gives_hint/0, relink_gives_hint/1,
         default_sudo_gives_hint/0, default_sudo_gives_hint/1]).

-define(CAPS, "cap_net_raw,cap_net_admin=ep").
-define(HOST, 41).

suite() ->
    [{timetrap, {minutes, 5}}].

all() ->
    [root_vm_runs_directly, {group, user}].

groups() ->
    [{user, [sequence], [user_captures_with_capabilities, rebuild_keeps_capabilities,
                         sniff_script_without_sudo, relink_gives_hint,
                         default_sudo_gives_hint]}].

init_per_suite(Config) ->
    Missing = [T || T <- ["useradd", "userdel", "runuser", "setcap", "getcap", "ip",
                          "rebar3", "make", "timeout"], os:find_executable(T) =:= false],
    case {epcap_test_lib:is_root(), Missing} of
        {false, _} ->
            {skip, "creating a user and network namespaces needs root"};
        {true, [_ | _]} ->
            %% make deps-test installs them: a missing one is a failure.
            ct:fail({missing_tools, Missing});
        {true, []} ->
            User = "epcapu" ++ integer_to_list(epcap_test_lib:test_net_n()),
            Dir = "/tmp/epcap_priv_" ++ User,
            _ = epcap_test_lib:cmd("userdel " ++ User),
            sh("useradd --system --no-create-home --shell /usr/sbin/nologin " ++ User),
            build_copy(Dir),
            Host = epcap_test_lib:netns_up(?HOST),
            [{user, User}, {dir, Dir}, {host, Host},
             {prog, filename:join([Dir, "priv", "epcap"])} | Config]
    end.

end_per_suite(Config) ->
    _ = epcap_test_lib:netns_down(?config(host, Config)),
    _ = epcap_test_lib:cmd("userdel " ++ ?config(user, Config)),
    _ = epcap_test_lib:cmd("rm -rf " ++ ?config(dir, Config)),
    ok.

%%====================================================================
%% Cases
%%====================================================================

root_vm_runs_directly() ->
    [{doc, "Ensure that a VM running as root runs the port without a wrapper "
      "and needs no hint."}].
root_vm_runs_directly(_Config) ->
    Prog = epcap_test_lib:progname(),
    ?assertEqual([], epcap_privilege:default_exec(Prog)),
    ?assertEqual(none, epcap_privilege:permission_hint(Prog)),
    ?assertEqual(root, epcap_privilege:port_privilege(Prog)),
    ?assertMatch({error, {port_not_found, enoent}},
                 epcap_privilege:port_privilege("/nonexistent/epcap")).

user_captures_with_capabilities() ->
    [{doc, "Ensure that an ordinary user captures live, with the default exec "
      "(no sudo), from a port granted cap_net_raw,cap_net_admin."}].
user_captures_with_capabilities(Config) ->
    sh("setcap " ++ ?CAPS ++ " " ++ ?config(prog, Config)),
    Out = user_capture(Config),
    ?assertMatch({match, _}, re:run(Out, "exec \\[\\] hint none")),
    ?assertMatch({match, _}, re:run(Out, "captured icmp")).

rebuild_keeps_capabilities() ->
    [{doc, "Ensure that rebar3 compile and make on an unchanged tree do not relink "
      "the port, so the user still captures."}].
rebuild_keeps_capabilities(Config) ->
    Prog = ?config(prog, Config),
    {ok, Before} = file:read_file_info(Prog),
    sh("cd " ++ ?config(dir, Config) ++ " && rebar3 compile && make -C c_src"),
    ?assertEqual({ok, Before}, file:read_file_info(Prog)),
    ?assertMatch({match, _}, re:run(sh("getcap " ++ Prog), "cap_net_admin,cap_net_raw")),
    ?assertMatch({match, _}, re:run(user_capture(Config), "captured icmp")).

sniff_script_without_sudo() ->
    [{doc, "Ensure that bin/epcap-sniff -i captures as an ordinary user after setcap."}].
sniff_script_without_sudo(Config) ->
    #{a := If} = Host = ?config(host, Config),
    Pinger = spawn_link(fun() -> epcap_test_lib:ping_in(Host, 10) end),
    Cmd = "timeout 8 " ++ filename:join(?config(dir, Config), "bin/epcap-sniff")
        ++ " -v -i " ++ If ++ " icmp",
    {_, Out} = epcap_test_lib:cmd(as_user(Config, Cmd)),
    unlink(Pinger),
    ct:log("~ts", [Out]),
    ?assertMatch({match, _}, re:run(Out, "icmp: type=")),
    ?assertEqual(nomatch, re:run(Out, "sudo|permission")).

relink_gives_hint() ->
    [{doc, "Ensure that after a relink drops the capabilities the default exec is "
      "sudo -n, the hint names make setcap, a direct start is refused, and "
      "bin/epcap-sniff prints the hint."}].
relink_gives_hint(Config) ->
    Prog = ?config(prog, Config),
    sh("touch " ++ ?config(dir, Config) ++ "/c_src/privcheck.c && cd "
       ++ ?config(dir, Config) ++ " && rebar3 compile"),
    ?assertEqual("", string:trim(sh("getcap " ++ Prog))),
    Eval = "P = code:priv_dir(epcap) ++ \"/epcap\","
        "io:format(\"~p~n~ts~n\", [epcap_privilege:default_exec(P),"
        " epcap_privilege:permission_hint(P)]),"
        "io:format(\"~p~n\", [epcap:start([{interface, \"" ++ iface(Config)
        ++ "\"}, {exec, \"\"}])]), halt().",
    Out = user_erl(Config, Eval),
    ct:log("~ts", [Out]),
    ?assertMatch({match, _}, re:run(Out, "\\[\"sudo\",\"-n\"\\]")),
    ?assertMatch({match, _}, re:run(Out, "has no capabilities \\(a rebuild drops them\\)"
                                    ".*sudo make setcap")),
    ?assertMatch({match, _}, re:run(Out, "permission_denied")),
    Sniff = filename:join(?config(dir, Config), "bin/epcap-sniff") ++ " -i " ++ iface(Config),
    {Status, SniffOut} = epcap_test_lib:cmd(as_user(Config, Sniff)),
    ct:log("~p ~ts", [Status, SniffOut]),
    ?assertEqual(1, Status),
    ?assertMatch({match, _}, re:run(SniffOut, "epcap-sniff: .*has no capabilities")).

default_sudo_gives_hint() ->
    [{doc, "Ensure that when the default wrapper (sudo -n) cannot run the port, "
      "start/1 gives {permission_denied, Msg} with the hint, not {port_exit, _} "
      "(issue 25, item 2)."}].
default_sudo_gives_hint(Config) ->
    Eval = "io:format(\"~p~n\", [epcap:start([{interface, \"" ++ iface(Config)
        ++ "\"}])]), halt().",
    Out = user_erl(Config, Eval),
    ct:log("~ts", [Out]),
    ?assertMatch({match, _}, re:run(Out, "\\{error,\\{permission_denied,\"[^\"]*sudo -n could not "
                                    "run the port.*sudo make setcap", [dotall])),
    ?assertEqual(nomatch, re:run(Out, "port_exit")).

%%====================================================================
%% Helpers
%%====================================================================

%% The user's VM starts a capture with default options, reports the exec
%% it chose, then waits for the ICMP we send once it says it started.
user_capture(Config) ->
    Eval = "P = code:priv_dir(epcap) ++ \"/epcap\","
        "io:format(\"exec ~p hint ~p~n\", [epcap_privilege:default_exec(P),"
        " epcap_privilege:permission_hint(P)]),"
        "{ok, _} = epcap:start([{interface, \"" ++ iface(Config) ++ "\"},"
        " {filter, \"icmp\"}]),"
        "io:format(\"started~n\"),"
        "receive {packet, 1, _, _, <<_:23/binary, 1, _/binary>>} ->"
        " io:format(\"captured icmp~n\")"
        " after 10000 -> io:format(\"nothing~n\") end, halt().",
    Port = open_port({spawn_executable, "/bin/sh"},
                     [{args, ["-c", as_user(Config, erl_cmd(Config, Eval))]},
                      exit_status, stderr_to_stdout, binary]),
    Out = await_started(Port, <<>>, ?config(host, Config)),
    ct:log("~ts", [Out]),
    Out.

await_started(Port, Acc, Host) ->
    receive
        {Port, {data, D}} ->
            Acc1 = <<Acc/binary, D/binary>>,
            case binary:match(D, <<"started">>) of
                nomatch -> ok;
                _ -> _ = epcap_test_lib:ping_in(Host, 2)
            end,
            await_started(Port, Acc1, Host);
        {Port, {exit_status, _}} ->
            binary_to_list(Acc)
    after 60000 ->
        ct:fail({timeout, Acc})
    end.

user_erl(Config, Eval) ->
    {_, Out} = epcap_test_lib:cmd(as_user(Config, erl_cmd(Config, Eval))),
    Out.

erl_cmd(Config, Eval) ->
    Ebin = filename:join(?config(dir, Config), "_build/default/lib/epcap/ebin"),
    "erl -noshell -pa " ++ Ebin ++ " -eval '" ++ Eval ++ "'".

as_user(Config, Cmd) ->
    "cd / && runuser -u " ++ ?config(user, Config) ++ " -- env HOME=/tmp " ++ Cmd.

iface(Config) ->
    maps:get(a, ?config(host, Config)).

%% A copy of the checkout, built as `make' would, readable by the user.
build_copy(Dir) ->
    Root = root_dir(),
    sh("rm -rf " ++ Dir ++ " && mkdir -p " ++ Dir ++ " && tar -C " ++ Root
       ++ " --exclude=c_src/obj --exclude='priv/epcap*' -cf - c_src src include examples bin"
       " priv rebar.config Makefile | tar -C " ++ Dir ++ " -xf -"),
    sh("cd " ++ Dir ++ " && rebar3 compile && chmod -R a+rX " ++ Dir).

sh(Cmd) ->
    case epcap_test_lib:cmd(Cmd) of
        {0, Out} -> Out;
        Other -> ct:fail({Cmd, Other})
    end.

root_dir() ->
    Source = proplists:get_value(source, ?MODULE:module_info(compile), ""),
    Starts = [filename:dirname(Source), filename:dirname(code:which(epcap))],
    Candidates = [D || D <- [os:getenv("EPCAP_ROOT", "")], D =/= ""]
        ++ lists:append([ancestors(filename:absname(S)) || S <- Starts]),
    case [D || D <- Candidates, filelib:is_regular(filename:join([D, "c_src", "Makefile"])),
               filelib:is_regular(filename:join([D, "rebar.config"]))] of
        [Root | _] -> Root;
        [] -> ct:fail("repository root not found; set EPCAP_ROOT")
    end.

ancestors("/") -> [];
ancestors(Dir) -> [Dir | ancestors(filename:dirname(Dir))].
