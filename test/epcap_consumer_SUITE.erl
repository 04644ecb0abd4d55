%%% @doc Common Test suite of epcap as a dependency: small projects built
%%% in a temporary directory depend on this checkout through rebar3 (a git
%%% dependency on a file:// URL, `_checkouts'), a rebar3 release and its
%%% tarball, and Mix (path and git dependencies, no environment
%%% variables), and each reads test/data/veth_mixed.pcap through it. No
%%% network: the git URL is a local commit of the working tree.
-module(epcap_consumer_SUITE).

-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").

-export([all/0, suite/0, groups/0, init_per_suite/1, end_per_suite/1,
         init_per_group/2, end_per_group/2]).
-export([rebar3_git/0, rebar3_git/1,
         rebar3_release/0, rebar3_release/1,
         rebar3_tar/0, rebar3_tar/1,
         rebar3_checkouts/0, rebar3_checkouts/1,
         mix_path/0, mix_path/1,
         mix_git/0, mix_git/1]).

-define(PACKETS, "40").

suite() ->
    [{timetrap, {minutes, 5}}].

all() ->
    [{group, rebar3}, {group, mix}].

groups() ->
    [{rebar3, [sequence], [rebar3_git, rebar3_release, rebar3_tar, rebar3_checkouts]},
     {mix, [], [mix_path, mix_git]}].

init_per_suite(Config) ->
    Missing = [T || T <- ["git", "rebar3", "make", "tar"], os:find_executable(T) =:= false],
    case Missing of
        [] ->
            %% Not priv_dir: its '@' would read as user@host in a git URL.
            Tmp = "/tmp/epcap_consumers_" ++ integer_to_list(epcap_test_lib:test_net_n()),
            Src = filename:join(Tmp, "epcap"),
            export_checkout(root_dir(), Src),
            [{tmp, Tmp}, {src, Src},
             {pcap, filename:join(root_dir(), "test/data/veth_mixed.pcap")} | Config];
        _ ->
            ct:fail({missing_tools, Missing})
    end.

end_per_suite(Config) ->
    _ = epcap_test_lib:cmd("rm -rf " ++ ?config(tmp, Config)),
    ok.

init_per_group(mix, Config) ->
    case os:find_executable("mix") of
        false -> ct:fail("mix (Debian package elixir) not installed");
        _ -> Config
    end;
init_per_group(_, Config) ->
    Config.

end_per_group(_, _Config) ->
    ok.

%%====================================================================
%% rebar3
%%====================================================================

rebar3_git() ->
    [{doc, "Ensure that a rebar3 project with epcap as a git dependency builds the "
      "port and captures from a file."}].
rebar3_git(Config) ->
    Dir = rebar3_project(Config, "git_app",
                         "{deps, [{epcap, {git, \"file://" ++ ?config(src, Config)
                         ++ "\", {branch, \"main\"}}}]}.\n" ++ relx()),
    sh("cd " ++ Dir ++ " && rebar3 compile"),
    assert_count(run_erl(Config, Dir ++ "/_build/default/lib/*/ebin")).

rebar3_release() ->
    [{doc, "Ensure that rebar3 release copies the port into the release and the "
      "release's code captures from a file."}].
rebar3_release(Config) ->
    Dir = filename:join(?config(tmp, Config), "git_app"),
    sh("cd " ++ Dir ++ " && rebar3 release"),
    Rel = Dir ++ "/_build/default/rel/git_app",
    ?assert(filelib:is_regular(Rel ++ "/lib/epcap-1.0.0/priv/epcap")),
    assert_count(run_erl(Config, Rel ++ "/lib/*/ebin")).

rebar3_tar() ->
    [{doc, "Ensure that the tarball of rebar3 tar, unpacked elsewhere, captures "
      "from a file."}].
rebar3_tar(Config) ->
    Dir = filename:join(?config(tmp, Config), "git_app"),
    sh("cd " ++ Dir ++ " && rebar3 tar"),
    [Tar] = filelib:wildcard(Dir ++ "/_build/default/rel/git_app/git_app-*.tar.gz"),
    Unpacked = filename:join(?config(tmp, Config), "unpacked"),
    sh("mkdir -p " ++ Unpacked ++ " && tar -C " ++ Unpacked ++ " -xzf " ++ Tar),
    assert_count(run_erl(Config, Unpacked ++ "/lib/*/ebin")).

rebar3_checkouts() ->
    [{doc, "Ensure that epcap in _checkouts builds and captures from a file."}].
rebar3_checkouts(Config) ->
    Dir = rebar3_project(Config, "checkouts_app", "{deps, [epcap]}.\n"),
    sh("mkdir -p " ++ Dir ++ "/_checkouts && git clone -q " ++ ?config(src, Config)
       ++ " " ++ Dir ++ "/_checkouts/epcap"),
    sh("cd " ++ Dir ++ " && rebar3 compile"),
    Out = run_erl(Config, Dir ++ "/_build/default/checkouts/*/ebin "
                  ++ Dir ++ "/_build/default/lib/*/ebin"),
    ?assertMatch({match, _}, re:run(Out, "checkouts/epcap/priv: ")),
    assert_count(Out).

%%====================================================================
%% Mix
%%====================================================================

mix_path() ->
    [{doc, "Ensure that a Mix project with {:epcap, path: ...} builds without rebar3 "
      "or environment variables and captures from a file."}].
mix_path(Config) ->
    Clone = filename:join(?config(tmp, Config), "epcap_for_path"),
    sh("git clone -q " ++ ?config(src, Config) ++ " " ++ Clone),
    mix_capture(Config, "mix_path_app", "path: \"" ++ Clone ++ "\"").

mix_git() ->
    [{doc, "Ensure that a Mix project with {:epcap, git: \"file://...\"} builds and "
      "captures from a file."}].
mix_git(Config) ->
    mix_capture(Config, "mix_git_app",
                "git: \"file://" ++ ?config(src, Config) ++ "\", branch: \"main\"").

mix_capture(Config, Name, Dep) ->
    Dir = filename:join(?config(tmp, Config), Name),
    Module = string:titlecase(string:replace(Name, "_", "", all)),
    write(Dir, "mix.exs",
          ["defmodule ", Module, ".MixProject do\n"
           "  use Mix.Project\n"
           "  def project, do: [app: :", Name, ", version: \"0.1.0\", deps: deps()]\n"
           "  defp deps, do: [{:epcap, ", Dep, "}]\n"
           "end\n"]),
    Script = filename:join(root_dir(), "test/elixir/capture.exs"),
    Out = sh(clean_env() ++ "cd " ++ Dir ++ " && mix deps.get && mix compile && mix run "
             ++ Script ++ " " ++ ?config(pcap, Config)),
    ct:log("~ts", [Out]),
    ?assertMatch({match, _}, re:run(Out, "elixir: " ?PACKETS " packets")).

%%====================================================================
%% Helpers
%%====================================================================

%% A committed copy of the working tree (tracked and new files, no build
%% output), so that uncommitted changes are what the consumers get.
export_checkout(Root, Src) ->
    sh("rm -rf " ++ Src ++ " && mkdir -p " ++ Src ++ " && cd " ++ Root
       ++ " && git ls-files -co --exclude-standard -z | xargs -0 tar -cf - "
       "--ignore-failed-read | tar -C " ++ Src ++ " -xf -"),
    sh("cd " ++ Src ++ " && git init -q -b main && git add -A && git -c user.name=ct "
       "-c user.email=ct@localhost commit -qm export").

rebar3_project(Config, Name, RebarConfig) ->
    Dir = filename:join(?config(tmp, Config), Name),
    write(Dir, "rebar.config", RebarConfig),
    write(Dir, "src/" ++ Name ++ ".app.src",
          io_lib:format("{application, ~s, [{vsn, \"0.1.0\"}, {description, \"consumer\"},"
                        " {applications, [kernel, stdlib, epcap]}]}.~n", [Name])),
    Dir.

relx() ->
    "{relx, [{release, {git_app, \"0.1.0\"}, [git_app]}, {dev_mode, false},\n"
    "        {include_erts, false}, {include_src, false}]}.\n".

%% Counts the packets of the capture file through the epcap on the path.
run_erl(Config, Paths) ->
    Eval = "{ok, _} = epcap:start([{file, \"" ++ ?config(pcap, Config) ++ "\"}]),"
        "Count = fun C(N) -> receive {packet, _, _, _, _} -> C(N + 1);"
        " {epcap, eof} -> N after 10000 -> timeout end end,"
        "io:format(\"~ts: ~p packets~n\", [code:priv_dir(epcap), Count(0)]), halt().",
    Out = sh(clean_env() ++ "erl -noshell -pa " ++ Paths ++ " -eval '" ++ Eval ++ "'"),
    ct:log("~ts", [Out]),
    Out.

assert_count(Out) ->
    ?assertMatch({match, _}, re:run(Out, ": " ?PACKETS " packets")).

%% The consumers are separate projects: nothing of this test run's
%% rebar3 or code path may leak into them.
clean_env() ->
    "unset ERL_LIBS REBAR_PROFILE REBAR_CONFIG ERL_FLAGS MIX_EXS; export MIX_ENV=dev; ".

write(Dir, Name, Data) ->
    File = filename:join(Dir, Name),
    ok = filelib:ensure_dir(File),
    ok = file:write_file(File, Data).

%% Builds take minutes on a loaded machine: longer than epcap_test_lib:cmd/1
%% waits.
sh(Cmd) ->
    Port = open_port({spawn_executable, "/bin/sh"},
                     [{args, ["-c", Cmd]}, exit_status, stderr_to_stdout, binary]),
    case sh_loop(Port, <<>>) of
        {0, Out} -> Out;
        Other -> ct:fail({Cmd, Other})
    end.

sh_loop(Port, Acc) ->
    receive
        {Port, {data, D}} -> sh_loop(Port, <<Acc/binary, D/binary>>);
        {Port, {exit_status, S}} -> {S, unicode:characters_to_list(Acc)}
    after 240000 -> {timeout, unicode:characters_to_list(Acc)}
    end.

root_dir() ->
    Source = proplists:get_value(source, ?MODULE:module_info(compile), ""),
    Starts = [filename:dirname(Source), filename:dirname(code:which(epcap))],
    Candidates = [D || D <- [os:getenv("EPCAP_ROOT", "")], D =/= ""]
        ++ lists:append([ancestors(filename:absname(S)) || S <- Starts]),
    case [D || D <- Candidates, filelib:is_file(filename:join(D, ".git")),
               filelib:is_regular(filename:join(D, "rebar.config"))] of
        [Root | _] -> Root;
        [] -> ct:fail("repository root (a git checkout) not found; set EPCAP_ROOT")
    end.

ancestors("/") -> [];
ancestors(Dir) -> [Dir | ancestors(filename:dirname(Dir))].
