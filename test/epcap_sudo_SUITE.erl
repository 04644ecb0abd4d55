%%% The privileged binary does only capture work (issue 24, defect 1 and
%%% the relay of defect 7). Each case is an attacker: a user allowed the
%%% README's sudo rule for a root-owned copy of the port, or any user of a
%%% `make setcap' copy, passing the flags the VM alone should pass.
-module(epcap_sudo_SUITE).
-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").
-include_lib("kernel/include/file.hrl").

-export([all/0, init_per_suite/1, end_per_suite/1]).
-export([relay_reads_as_caller/0, relay_reads_as_caller/1,
         fifo_made_as_caller/0, fifo_made_as_caller/1,
         chroot_probe_as_caller/0, chroot_probe_as_caller/1,
         output_socket_as_caller/0, output_socket_as_caller/1,
         capture_still_works/0, capture_still_works/1,
         setcap_relay_sheds_capabilities/0, setcap_relay_sheds_capabilities/1,
         make_setcap_group_only/0, make_setcap_group_only/1]).

-define(SECRET, "epcap-secret-0123456789").

all() ->
    [relay_reads_as_caller, fifo_made_as_caller, chroot_probe_as_caller, output_socket_as_caller,
     capture_still_works, setcap_relay_sheds_capabilities, make_setcap_group_only].

init_per_suite(Config) ->
    Missing = [T || T <- ["useradd", "userdel", "groupadd", "groupdel", "usermod",
                          "runuser", "sudo", "setcap", "getcap", "setpriv", "install",
                          "make", "cc", "erl"],
                    os:find_executable(T) =:= false],
    case {epcap_test_lib:is_root(), Missing} of
        {false, _} -> {skip, "creating a user and a sudo rule needs root"};
        %% make deps-test installs them: a missing one is a failure.
        {true, [_ | _]} -> ct:fail({missing_tools, Missing});
        {true, []} -> setup(Config)
    end.

setup(Config) ->
    K = integer_to_list(epcap_test_lib:test_net_n()),
    User = "epcaps" ++ K,
    Dir = "/usr/local/libexec/epcap-sudotest" ++ K,
    Port = filename:join(Dir, "epcap"),
    Secret = "/var/tmp/epcap-secret" ++ K,
    Rule = "/etc/sudoers.d/epcap-sudotest" ++ K,
    _ = epcap_test_lib:cmd("userdel " ++ User),
    sh("useradd --system --no-create-home --shell /usr/sbin/nologin " ++ User),
    %% The README's rule, for a root-owned 0755 copy of the port.
    sh("rm -rf " ++ Dir ++ " && install -d -o root -g root -m 0755 " ++ Dir),
    sh("install -o root -g root -m 0755 " ++ epcap_test_lib:progname() ++ " " ++ Port),
    ok = file:write_file(Rule, User ++ " ALL=(root) NOPASSWD: " ++ Port ++ "\n"),
    ok = file:change_mode(Rule, 8#440),
    %% Something only root may read, in a directory only root may enter.
    sh("rm -rf " ++ Secret ++ " && install -d -o root -g root -m 0700 " ++ Secret),
    ok = file:write_file(filename:join(Secret, "secret"), ?SECRET),
    ok = file:change_mode(filename:join(Secret, "secret"), 8#600),
    [{user, User}, {dir, Dir}, {port, Port}, {secret, Secret}, {rule, Rule} | Config].

end_per_suite(Config) ->
    _ = file:delete(?config(rule, Config)),
    _ = epcap_test_lib:cmd("userdel " ++ ?config(user, Config)),
    _ = epcap_test_lib:cmd("rm -rf " ++ ?config(dir, Config) ++ " " ++ ?config(secret, Config)),
    ok.

%%====================================================================
%% Cases
%%====================================================================

relay_reads_as_caller() ->
    [{doc, "Ensure that `sudo -n PORT -R FILE', the relay flag through the "
      "documented sudo rule, neither prints a root-only file nor removes it "
      "or its directory."}].
relay_reads_as_caller(Config) ->
    Secret = ?config(secret, Config),
    File = filename:join(Secret, "secret"),
    {Status, Out} = as_user_sudo(Config, ["-R", File]),
    ct:log("exit ~p: ~ts", [Status, Out]),
    ?assertEqual(nomatch, string:find(Out, ?SECRET)),
    ?assertNotEqual(0, Status),
    ?assertEqual({ok, list_to_binary(?SECRET)}, file:read_file(File)),
    ?assert(filelib:is_dir(Secret)).

fifo_made_as_caller() ->
    [{doc, "Ensure that `sudo -n PORT -2 PATH', the stderr FIFO flag, makes "
      "nothing where the caller could not: no root-owned FIFO in /etc or in "
      "a root-only directory."}].
fifo_made_as_caller(Config) ->
    Names = ["/etc/epcap-probe-" ++ integer_to_list(erlang:unique_integer([positive])),
             filename:join(?config(secret, Config), "fifo")],
    [begin
         {Status, Out} = as_user_sudo(Config, ["-2", Path, "-Q"]),
         ct:log("~ts: exit ~p: ~ts", [Path, Status, Out]),
         Made = filelib:is_file(Path) orelse element(1, file:read_link_info(Path)) =:= ok,
         _ = file:delete(Path),
         ?assertNot(Made)
     end || Path <- Names].

chroot_probe_as_caller() ->
    [{doc, "Ensure that `sudo -n PORT -C PATH' cannot tell whether a path in a "
      "root-only directory exists: a missing name and a file give the same "
      "answer (the caller's EACCES)."}].
chroot_probe_as_caller(Config) ->
    Secret = ?config(secret, Config),
    Answers = [begin
                   {_, Out} = as_user_sudo(Config, ["-C", filename:join(Secret, Name),
                                                    "-r", "/nonexistent.pcap"]),
                   ct:log("~ts: ~ts", [Name, Out]),
                   Out
               end || Name <- ["missing", "secret"]],
    [?assertMatch({match, _}, re:run(A, "Permission denied")) || A <- Answers],
    [?assertEqual(nomatch, re:run(A, "No such file|not a directory|Not a directory"))
     || A <- Answers].

output_socket_as_caller() ->
    [{doc, "Ensure that `sudo -n PORT -O PATH', the output socket flag, cannot "
      "reach a socket in a root-only directory (it connects with the caller's "
      "ids), and that a socket it does reach sees the caller's credentials, "
      "not root's."}].
output_socket_as_caller(Config) ->
    Path = filename:join(?config(secret, Config), "out.sock"),
    _ = file:delete(Path),
    {ok, L} = gen_tcp:listen(0, [{ifaddr, {local, Path}}, binary, {active, false}]),
    Name = "epcap-sudotest-" ++ integer_to_list(erlang:unique_integer([positive])),
    {ok, A} = gen_tcp:listen(0, [{ifaddr, {local, list_to_binary([0 | Name])}}, binary,
                                 {active, false}]),
    try
        {Status, Out} = as_user_sudo(Config, ["-O", Path, "-Q"]),
        ct:log("exit ~p: ~ts", [Status, Out]),
        ?assertNotEqual(0, Status),
        ?assertMatch({match, _}, re:run(Out, "connect: Permission denied")),
        ?assertEqual({error, timeout}, gen_tcp:accept(L, 200)),
        %% An abstract name needs no rights: the peer is the caller.
        Self = self(),
        _ = spawn(fun() -> Self ! {sudo_done, as_user_sudo(Config, ["-O", [$@ | Name], "-Q"])} end),
        {ok, S} = gen_tcp:accept(A, 10000),
        {ok, [{raw, _, _, <<_:32, Uid:32/native, _:32>>}]} = inet:getopts(S, [{raw, 1, 17, 12}]),
        ?assertEqual(list_to_integer(string:trim(sh("id -u " ++ ?config(user, Config)))), Uid),
        gen_tcp:close(S),
        receive {sudo_done, Done} -> ct:log("abstract: ~p", [Done]) after 10000 -> ok end
    after
        gen_tcp:close(L),
        gen_tcp:close(A),
        _ = file:delete(Path)
    end.

capture_still_works() ->
    [{doc, "Ensure that the same sudo rule still does capture work: a file the "
      "user may read is captured, with the FIFO made as the user in the "
      "user's own directory."}].
capture_still_works(Config) ->
    User = ?config(user, Config),
    Dir = "/tmp/epcap-sudo-ok-" ++ integer_to_list(erlang:unique_integer([positive])),
    ok = file:make_dir(Dir),
    Pcap = filename:join(Dir, "in.pcap"),
    {ok, _} = file:copy(epcap_test_lib:data("veth_mixed.pcap"), Pcap),
    sh("chown -R " ++ User ++ " " ++ Dir ++ " && chmod 0700 " ++ Dir),
    Fifo = filename:join(Dir, "stderr"),
    try
        Wrapper = "runuser -u " ++ User ++ " -- sudo -n",
        {ok, _} = epcap:start([{file, Pcap}, {exec, Wrapper},
                               {progname, ?config(port, Config)}]),
        {Pkts, eof} = epcap_test_lib:collect_until(10000, []),
        ?assertEqual(40, length(Pkts)),
        %% stdin held open for a moment: the port makes its FIFO and reads
        %% the file, then ends when stdin closes.
        {Status, Out} = epcap_test_lib:cmd(
                          "sleep 1 | runuser -u " ++ User ++ " -- sudo -n "
                          ++ ?config(port, Config) ++ " -2 " ++ Fifo ++ " -r " ++ Pcap
                          ++ " >/dev/null"),
        ct:log("exit ~p: ~ts", [Status, Out]),
        ?assertEqual(0, Status),
        {ok, #{type := Type, uid := Uid}} = file_info(Fifo),
        ?assertEqual(other, Type),
        ?assertEqual(list_to_integer(string:trim(sh("id -u " ++ User))), Uid)
    after
        _ = epcap_test_lib:cmd("rm -rf " ++ Dir)
    end.

setcap_relay_sheds_capabilities() ->
    [{doc, "Ensure that a `make setcap' copy of the port run as a relay (-R) by "
      "an ordinary user holds no capability and has NO_NEW_PRIVS while it "
      "relays."}].
setcap_relay_sheds_capabilities(Config) ->
    Dir = ?config(dir, Config),
    Copy = filename:join(Dir, "epcap-caps"),
    sh("install -o root -g root -m 0755 " ++ epcap_test_lib:progname() ++ " " ++ Copy),
    sh("setcap cap_net_raw,cap_net_admin=ep " ++ Copy),
    %% The relay takes a FIFO only from a private directory of the user's
    %% (epcap_stderr makes one per capture).
    Private = "/tmp/epcap-capfifo-" ++ integer_to_list(erlang:unique_integer([positive])),
    Fifo = filename:join(Private, "stderr"),
    sh("install -d -o 65534 -m 0700 " ++ Private ++ " && mkfifo -m 0600 " ++ Fifo
       ++ " && chown 65534 " ++ Fifo),
    %% A writer holds the FIFO open, so the relay stays in its loop while
    %% its status is read.
    Script = "exec 3<>" ++ Fifo ++ "; setpriv --reuid=65534 --regid=65534 "
        "--clear-groups " ++ Copy ++ " -R " ++ Fifo ++ " >/dev/null & p=$!; "
        "sleep 0.5; grep -E '^(CapPrm|CapEff|NoNewPrivs|Uid):' /proc/$p/status; "
        "kill $p; wait $p 2>/dev/null; true",
    try
        Out = sh(Script),
        ct:log("~ts", [Out]),
        ?assertMatch({match, _}, re:run(Out, "CapPrm:\\s+0+\\n")),
        ?assertMatch({match, _}, re:run(Out, "CapEff:\\s+0+\\n")),
        ?assertMatch({match, _}, re:run(Out, "NoNewPrivs:\\s+1"))
    after
        _ = epcap_test_lib:cmd("rm -rf " ++ Private),
        _ = file:delete(Copy)
    end.

make_setcap_group_only() ->
    [{doc, "Ensure that `sudo make setcap' on a clone the user has not built "
      "builds as the user (no root-owned object: the user's next build "
      "works), and gives the capabilities to one group only: the port is "
      "root:GROUP 0750, the sudo user joins GROUP, another user can neither "
      "run it nor is told otherwise than to join the group."}].
make_setcap_group_only(Config) ->
    K = integer_to_list(epcap_test_lib:test_net_n()),
    User = ?config(user, Config),
    Other = "epcapo" ++ K,
    Group = "epcapg" ++ K,
    Dir = "/tmp/epcap-setcap-clone" ++ K,
    _ = epcap_test_lib:cmd("userdel " ++ Other ++ "; groupdel " ++ Group),
    sh("useradd --system --no-create-home --shell /usr/sbin/nologin " ++ Other),
    Src = epcap_test_lib:root_dir("c_src/Makefile"),
    sh("rm -rf " ++ Dir ++ " && mkdir -p " ++ Dir ++ "/priv && tar -C " ++ Src
       ++ " --exclude=obj -chf - c_src Makefile tools | tar -C " ++ Dir ++ " -xf - && chown -R "
       ++ User ++ " " ++ Dir),
    Uid = string:trim(sh("id -u " ++ User)),
    Gid = string:trim(sh("id -g " ++ User)),
    Port = filename:join(Dir, "priv/epcap"),
    try
        Out = sh("cd " ++ Dir ++ " && env SUDO_UID=" ++ Uid ++ " SUDO_GID=" ++ Gid
                 ++ " SUDO_USER=" ++ User ++ " make -s setcap SETCAP_GROUP=" ++ Group),
        ct:log("~ts", [Out]),
        %% Issue 25, item 5: nothing the user's build writes is root's.
        ?assertEqual("", sh("find " ++ Dir ++ "/c_src/obj ! -user " ++ User)),
        {ok, #file_info{uid = 0, gid = PortGid, mode = Mode}} = file:read_file_info(Port),
        ?assertEqual(8#750, Mode band 8#7777),
        ?assertEqual(Group, hd(string:split(sh("getent group " ++ integer_to_list(PortGid)), ":"))),
        ?assertMatch({match, _}, re:run(sh("getcap " ++ Port), "cap_net_admin,cap_net_raw")),
        ?assertMatch({match, _}, re:run(sh("id -nG " ++ User), "\\b" ++ Group ++ "\\b")),
        %% A member captures without root (runuser reads the groups anew).
        ?assertEqual("capabilities",
                     string:trim(sh("runuser -u " ++ User ++ " -- " ++ Port ++ " -Q"))),
        %% Anyone else cannot even run it, and is told to join the group.
        {S, Denied} = epcap_test_lib:cmd("runuser -u " ++ Other ++ " -- " ++ Port ++ " -Q"),
        ct:log("~s: exit ~p: ~ts", [Other, S, Denied]),
        ?assertNotEqual(0, S),
        ?assertMatch({match, _}, re:run(Denied, "Permission denied")),
        %% The ebin, copied where the other user may read it (the checkout
        %% may sit in a directory only root enters).
        Ebin = Dir ++ "-ebin",
        sh("rm -rf " ++ Ebin ++ " && cp -r " ++ filename:dirname(code:which(epcap_privilege))
           ++ " " ++ Ebin ++ " && chmod -R a+rX " ++ Ebin),
        Hint = sh("cd / && runuser -u " ++ Other ++ " -- env HOME=/tmp erl -noshell -pa "
                  ++ Ebin ++ " -eval 'io:format(\"~ts\", [epcap_privilege:permission_hint(\""
                  ++ Port ++ "\")]), halt().'"),
        ct:log("hint: ~ts", [Hint]),
        ?assertMatch({match, _}, re:run(Hint, "members of its group \\(" ++ Group ++ "\\)")),
        %% The user's next build after a change works (issue 25, item 5).
        sh("touch " ++ Dir ++ "/c_src/errors.c && chown " ++ User ++ " " ++ Dir ++ "/c_src/errors.c"),
        sh("cd " ++ Dir ++ " && runuser -u " ++ User ++ " -- env HOME=/tmp make -s -C c_src")
    after
        _ = epcap_test_lib:cmd("rm -rf " ++ Dir ++ " " ++ Dir ++ "-ebin; userdel " ++ Other ++ "; gpasswd -d "
                               ++ User ++ " " ++ Group ++ "; groupdel " ++ Group)
    end.

%%====================================================================
%% Helpers
%%====================================================================

%% The port through sudo, as the allowed user, stdin closed; its output
%% (frames and stderr alike) as text.
as_user_sudo(Config, Args) ->
    Cmd = "cd / && runuser -u " ++ ?config(user, Config) ++ " -- sudo -n "
        ++ ?config(port, Config) ++ " " ++ lists:join(" ", Args) ++ " </dev/null 2>&1",
    epcap_test_lib:cmd(Cmd).

file_info(Path) ->
    case file:read_link_info(Path, [{time, posix}]) of
        {ok, #file_info{type = T, uid = U}} -> {ok, #{type => T, uid => U}};
        E -> E
    end.

sh(Cmd) ->
    case epcap_test_lib:cmd(Cmd) of
        {0, Out} -> Out;
        Other -> ct:fail({Cmd, Other})
    end.
