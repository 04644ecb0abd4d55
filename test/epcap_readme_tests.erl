%%% What the README, the CHANGELOG, the examples' READMEs and the edoc
%%% say, checked against what is there (issue 25, item 4): each test
%%% reads the text a user reads and runs or checks it.
-module(epcap_readme_tests).
-include_lib("eunit/include/eunit.hrl").

root() ->
    Src = proplists:get_value(source, ?MODULE:module_info(compile)),
    find_root(filename:dirname(filename:absname(Src))).

find_root("/") -> error(root_not_found);
find_root(D) ->
    case filelib:is_regular(filename:join(D, "CHANGELOG.md")) of
        true -> D;
        false -> find_root(filename:dirname(D))
    end.

read(Rel) ->
    {ok, B} = file:read_file(filename:join(root(), Rel)),
    binary_to_list(B).

%% "## Five lines": as many shell prompts as the heading says.
shell_lines_heading_test() ->
    Readme = read("README.md"),
    {match, [Word]} = re:run(Readme, "^## (\\w+) lines$", [multiline, {capture, all_but_first, list}]),
    [_, After] = string:split(Readme, "## " ++ Word ++ " lines"),
    [Block | _] = string:split(After, "\n```\n", leading),
    Prompts = length([L || L <- string:split(Block, "\n", all),
                           re:run(L, "^[0-9]+> ") =/= nomatch]),
    Words = ["One", "Two", "Three", "Four", "Five", "Six", "Seven", "Eight", "Nine", "Ten"],
    ?assertEqual(lists:nth(Prompts, Words), Word).

%% A dependency example names a tag only if the repository has it.
dependency_tags_exist_test() ->
    Readme = read("README.md"),
    Tags = case re:run(Readme, "(?:\\{tag, \"|tag: \")([^\"]+)\"",
                       [global, {capture, all_but_first, list}]) of
               {match, T} -> lists:append(T);
               nomatch -> []
           end,
    Known = string:lexemes(os:cmd("git -C " ++ root() ++ " tag 2>/dev/null"), "\n"),
    ?assertEqual([], [T || T <- Tags, not lists:member(T, Known)]).

%% The README's release path is the one epcap_consumer_SUITE finds.
release_path_test() ->
    Readme = read("README.md"),
    Suite = read("test/epcap_consumer_SUITE.erl"),
    ?assertNotEqual(nomatch, string:find(Suite, "/_build/default/rel/")),
    ?assertNotEqual(nomatch, string:find(Readme, "`_build/default/rel/<rel>/lib/epcap-<vsn>/priv/epcap`")),
    ?assertEqual(nomatch, re:run(Readme, "^\\s+_build/prod/rel/", [multiline])).

%% rebar.config's edoc dir is where the README says `make docs` writes.
edoc_location_test() ->
    {ok, Conf} = file:consult(filename:join(root(), "rebar.config")),
    Dir = proplists:get_value(dir, proplists:get_value(edoc_opts, Conf)),
    ?assertNotEqual(nomatch, string:find(read("README.md"), "`make docs` writes `" ++ Dir)).

%% One heading per kind in each release of the CHANGELOG.
changelog_headings_test() ->
    Releases = tl(string:split(read("CHANGELOG.md"), "\n## ", all)),
    [begin
         {match, H} = re:run(R, "^### (.*)$", [multiline, global, {capture, all_but_first, list}]),
         Hs = lists:append(H),
         ?assertEqual({R, lists:usort(Hs)}, {R, lists:sort(Hs)})
     end || R <- Releases, re:run(R, "^### ", [multiline]) =/= nomatch].

%% The CHANGELOG and the README agree on the default priority.
changelog_priority_test() ->
    Changelog = read("CHANGELOG.md"),
    ?assertEqual(nomatch, re:run(Changelog, "by default a live capture's port sets its nice value")),
    ?assertNotEqual(nomatch, string:find(read("README.md"), "| `{priority, P}` | `realtime` |")).

%% The edoc of each type of epcap is the comment after it.
edoc_type_texts_test_() ->
    {timeout, 60, fun() ->
        Dir = filename:join(["/tmp", "epcap_readme_tests_" ++ os:getpid()]),
        ok = edoc:files([filename:join([root(), "src", "epcap.erl"])],
                        [{dir, Dir}, {preprocess, true},
                         {includes, [filename:join(root(), "include")]}]),
        {ok, Html} = file:read_file(filename:join(Dir, "epcap.html")),
        _ = os:cmd("rm -rf " ++ Dir),
        Text = fun(T) ->
                   {match, [B]} = re:run(Html, "name=\"type-" ++ T ++ "\">.*?</tt></p>\\s*(.*?)<h3",
                                         [dotall, {capture, all_but_first, list}]),
                   B
               end,
        ?assertNotEqual(nomatch, string:find(Text("owner"), "A process")),
        ?assertNotEqual(nomatch, string:find(Text("stats"), "What stats/1 gives")),
        ?assertNotEqual(nomatch, string:find(Text("active"), "gen_tcp")),
        ?assertEqual(nomatch, string:find(Text("active"), "A process"))
    end}.

%% examples/capture_keeper/README.md's build commands (up to `erl`) run
%% as written, into a fresh directory.
capture_keeper_build_test_() ->
    {timeout, 60, fun() ->
        Readme = read("examples/capture_keeper/README.md"),
        [_, After] = string:split(Readme, "```sh\n"),
        [Block | _] = string:split(After, "\n```"),
        Lines = lists:takewhile(fun(L) -> not lists:prefix("erl ", L) end,
                                string:split(Block, "\n", all)),
        Dir = "/tmp/epcap_ck_" ++ os:getpid(),
        Cmds = [string:replace(L, "/tmp/ck", Dir, all) || L <- Lines, L =/= "rebar3 compile"],
        Script = lists:flatten(["set -e; cd ", root(), "; rm -rf ", Dir, "; ",
                                lists:join("; ", Cmds), "; echo done"]),
        Out = os:cmd("sh -c '" ++ Script ++ "' 2>&1"),
        Ok = filelib:is_regular(filename:join(Dir, "capture_keeper.app")),
        _ = os:cmd("rm -rf " ++ Dir),
        ?assertEqual({true, "done"}, {Ok, lists:last(string:lexemes(Out, "\n"))})
    end}.
