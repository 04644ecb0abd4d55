%%% The port as an attacker would find it: dropped, jailed, restricted, and
%%% never left behind. The same cases run once per restriction mode (each
%%% mode is its own build: priv/epcap, priv/epcap-rlimit, priv/epcap-null).
-module(epcap_security_SUITE).
-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").
-include_lib("kernel/include/file.hrl").

-compile([export_all, nowarn_export_all]).

-import(epcap_test_lib, [data/1, collect/2, collect_until/2]).

all() ->
    [{group, seccomp}, {group, rlimit}, {group, null}, {group, no_orphans},
     {group, bad_input}, {group, harden}, setcap_capture_as_nobody].

mode_cases() ->
    [dropped_and_jailed, restriction_in_force, captures_and_injects_restricted,
     setfilter_restricted, file_capture_restricted, few_libraries,
     huge_setfilter_stop_in_mode, huge_setfilter_bounded_in_mode].

groups() ->
    [{seccomp, [], mode_cases()},
     {rlimit, [], mode_cases()},
     {null, [], mode_cases()},
     {no_orphans, [], [owner_exit, server_killed, vm_killed, port_closed_by_hand]},
     {bad_input, [], [control_frames_direct, bad_user_group_chroot,
                      unsafe_chroot_refused]},
     %% Issue 15: one case (or more) per defect of the C side.
     {harden, [], [fifo_file_refused, sudo_file_user_rights,
                   huge_filter_start_bounded, huge_filter_setfilter_keeps_old,
                   huge_filter_setfilter_stop, chroot_root_refused,
                   default_chroot_run_epcap, env_flag_only_pcap,
                   affinity_flag, root_group_named]}].

init_per_suite(Config) ->
    {ok, _} = application:ensure_all_started(epcap),
    case epcap_test_lib:is_root() of
        true -> Config;
        false -> {skip, "the security cases need root"}
    end.
end_per_suite(_) -> ok.

init_per_group(Mode, Config) when Mode =:= seccomp; Mode =:= rlimit; Mode =:= null ->
    Prog = mode_progname(Mode),
    case filelib:is_regular(Prog) of
        true ->
            Host = epcap_test_lib:netns_up(200 + mode_index(Mode)),
            [{mode, Mode}, {prog, Prog}, {host, Host} | Config];
        false -> {skip, "not built: " ++ Prog ++ " (make modes)"}
    end;
init_per_group(harden, Config) ->
    Host = epcap_test_lib:netns_up(204),
    [{prog, epcap_test_lib:progname()}, {host, Host} | Config];
init_per_group(_, Config) ->
    [{prog, epcap_test_lib:progname()} | Config].

end_per_group(_, Config) ->
    case proplists:get_value(host, Config) of
        undefined -> ok;
        Host -> epcap_test_lib:netns_down(Host)
    end.

init_per_testcase(_, Config) -> Config.
end_per_testcase(_, _) -> epcap_test_lib:flush().

mode_index(seccomp) -> 1;
mode_index(rlimit) -> 2;
mode_index(null) -> 3.

mode_progname(seccomp) -> epcap_test_lib:progname();
mode_progname(Mode) ->
    filename:join(code:priv_dir(epcap), "epcap-" ++ atom_to_list(Mode)).

opts(Config, Extra) ->
    [{progname, ?config(prog, Config)}, {exec, ""} | Extra].

start_live(Config, Extra) ->
    #{a := If} = ?config(host, Config),
    {ok, Pid} = epcap:start(opts(Config, [{interface, If} | Extra])),
    Pid.


proc(OsPid, File) ->
    {ok, B} = file:read_file("/proc/" ++ integer_to_list(OsPid) ++ "/" ++ File),
    binary_to_list(B).

field(Status, Name) ->
    {match, [V]} = re:run(Status, "^" ++ Name ++ ":[ \\t]*([^\\n]*)$",
                          [multiline, {capture, all_but_first, list}]),
    string:trim(V).

nobody() ->
    {0, Out} = epcap_test_lib:cmd("id -u nobody"),
    string:trim(Out).

%%--------------------------------------------------------------------
%% Per mode
%%--------------------------------------------------------------------

dropped_and_jailed() ->
    [{doc, "Ensure that a live capture started as root runs as nobody, with "
      "no capabilities, NoNewPrivs, and its root directory in the chroot"}].
dropped_and_jailed(Config) ->
    Pid = start_live(Config, []),
    OsPid = epcap_test_lib:os_pid(Pid),
    Status = proc(OsPid, "status"),
    ct:log("~s", [Status]),
    Nobody = nobody(),
    ?assertEqual([Nobody, Nobody, Nobody, Nobody], string:lexemes(field(Status, "Uid"), "\t ")),
    ?assertEqual("1", field(Status, "NoNewPrivs")),
    [?assertEqual("0000000000000000", field(Status, C))
     || C <- ["CapEff", "CapPrm", "CapInh", "CapAmb"]],
    ?assertEqual("", field(Status, "Groups")),
    {ok, Root} = file:read_link("/proc/" ++ integer_to_list(OsPid) ++ "/root"),
    ?assertEqual(expected_jail(Config), Root),
    epcap:stop(Pid).

%% The -C the server passes (priv/tmp before issue 15), else the port's
%% own default, /run/epcap.
expected_jail(Config) ->
    #{a := If} = ?config(host, Config),
    case lists:dropwhile(fun(A) -> A =/= "-C" end,
                         epcap:getopts(opts(Config, [{interface, If}]))) of
        ["-C", Dir | _] ->
            {0, Jail} = epcap_test_lib:cmd("readlink -f " ++ Dir),
            string:trim(Jail);
        [] -> "/run/epcap"
    end.

restriction_in_force() ->
    [{doc, "Ensure that the mode's restriction shows in /proc: Seccomp 2 "
      "(seccomp), the rlimits (rlimit), none (null)"}].
restriction_in_force(Config) ->
    Pid = start_live(Config, []),
    OsPid = epcap_test_lib:os_pid(Pid),
    Status = proc(OsPid, "status"),
    Limits = proc(OsPid, "limits"),
    ct:log("~s~n~s", [Status, Limits]),
    case ?config(mode, Config) of
        seccomp ->
            ?assertEqual("2", field(Status, "Seccomp"));
        rlimit ->
            ?assertEqual("0", field(Status, "Seccomp")),
            ?assertMatch({match, _}, re:run(Limits, "Max processes\\s+0\\s+0")),
            ?assertMatch({match, _}, re:run(Limits, "Max file size\\s+0\\s+0")),
            {match, [Soft]} = re:run(Limits, "Max open files\\s+([0-9]+)",
                                     [{capture, all_but_first, list}]),
            {ok, Fds} = file:list_dir("/proc/" ++ integer_to_list(OsPid) ++ "/fd"),
            ?assert(list_to_integer(Soft) =< length(Fds) + 1);
        null ->
            ?assertEqual("0", field(Status, "Seccomp"))
    end,
    epcap:stop(Pid).

captures_and_injects_restricted() ->
    [{doc, "Ensure that under the restriction the port still captures, "
      "injects and answers stats"}].
captures_and_injects_restricted(Config) ->
    H = ?config(host, Config),
    Pid = start_live(Config, [inject, {filter, "udp port 7101 or ether proto 0x88b5"}]),
    epcap_test_lib:udp_out(H, 7101, <<"under restriction">>),
    ?assertMatch([{packet, 1, _, _, _}], collect(500, [])),
    ?assertEqual(ok, epcap:send(Pid, <<-1:48, 2, 0, 0, 0, 0, 9, 16#88b5:16, "x">>)),
    ?assertMatch({ok, #{received := R}} when R >= 1, epcap:stats(Pid)),
    OsPid = epcap_test_lib:os_pid(Pid),
    ?assert(epcap_test_lib:port_alive(OsPid)),
    epcap:stop(Pid).

setfilter_restricted() ->
    [{doc, "Ensure that setfilter/2 works under the restriction, and a filter "
      "naming a host fails cleanly instead of killing the port"}].
setfilter_restricted(Config) ->
    H = ?config(host, Config),
    Pid = start_live(Config, [{filter, "udp port 7102"}]),
    ok = epcap:setfilter(Pid, "udp port 7103"),
    R = epcap:setfilter(Pid, "host no-such-host.invalid"),
    ct:log("host filter: ~p", [R]),
    ?assertMatch({error, {filter, _}}, R),
    epcap_test_lib:udp_out(H, 7102, <<"old">>),
    epcap_test_lib:udp_out(H, 7103, <<"new">>),
    [{packet, 1, _, _, P}] = collect(500, []),
    ?assertMatch(<<_:42/binary, "new">>, P),
    epcap:stop(Pid).

file_capture_restricted() ->
    [{doc, "Ensure that a file capture under the restriction reads the whole "
      "file, as nobody"}].
file_capture_restricted(Config) ->
    %% More packets than the port may read ahead of a passive owner (its
    %% prefetch), so that it is still there to be looked at: a short file
    %% is read, and the port gone, before the test can look.
    File = many_packets(Config, 2000),
    {ok, Pid} = epcap:start(opts(Config, [{file, File}, {active, false}])),
    Status = proc(epcap_test_lib:os_pid(Pid), "status"),
    Nobody = nobody(),
    ?assertMatch([Nobody | _], string:lexemes(field(Status, "Uid"), "\t ")),
    ok = epcap:setopts(Pid, [{active, true}]),
    {Pkts, eof} = collect_until(5000, []),
    ?assertEqual(2000, length(Pkts)).

few_libraries() ->
    [{doc, "Ensure that where the system has libpcap.a the port maps neither "
      "libpcap.so nor what it brings (libdbus, libsystemd and seven more, "
      "in a process that starts as root), and that a D-Bus capture fails "
      "with a clear error"}].
few_libraries(Config) ->
    case epcap_test_lib:cmd("cc -print-file-name=libpcap.a") of
        {0, "/" ++ _} ->
            File = many_packets(Config, 2000),
            {ok, Pid} = epcap:start(opts(Config, [{file, File}, {active, false}])),
            Maps = proc(epcap_test_lib:os_pid(Pid), "maps"),
            Libs = lists:usort([filename:basename(F) || L <- string:lexemes(Maps, "\n"),
                                                         [_, _, _, _, _, F | _] <-
                                                             [string:lexemes(L, " ")],
                                                         string:find(F, ".so") =/= nomatch]),
            ct:log("mapped: ~p", [Libs]),
            ok = epcap:stop(Pid),
            ?assertEqual([], [L || L <- Libs, shared_pcap_lib(L)]),
            ?assertMatch({error, {pcap, "dbus-system: " ++ _}},
                         epcap:start(opts(Config, [{interface, "dbus-system"}]))),
            {error, {pcap, Msg}} = epcap:start(opts(Config, [{interface, "dbus-session"}])),
            ?assertNotEqual(nomatch, string:find(Msg, "built without D-Bus"));
        Other ->
            {skip, lists:flatten(io_lib:format("no libpcap.a here (~p): the port "
                                               "links libpcap.so", [Other]))}
    end.

%% libpcap.so and what it brings (the ASan build's runtime brings libm
%% and libgcc_s, which are not in question here).
shared_pcap_lib(L) ->
    lists:any(fun(P) -> lists:prefix(P, L) end,
              ["libpcap.", "libdbus-", "libsystemd.", "libgcrypt.", "libgpg-error.",
               "libcap.", "liblz4.", "liblzma.", "libzstd."]).

%% A pcap file of N 60-byte frames, in the case's private directory.
many_packets(Config, N) ->
    Path = filename:join(?config(priv_dir, Config), "many.pcap"),
    Header = <<16#a1b2c3d4:32/little, 2:16/little, 4:16/little, 0:32, 0:32,
               65535:32/little, 1:32/little>>,
    Recs = [<<I:32/little, 0:32, 60:32/little, 60:32/little, (binary:copy(<<(I rem 256)>>, 60))/binary>>
            || I <- lists:seq(1, N)],
    ok = file:write_file(Path, [Header | Recs]),
    ok = file:change_mode(Path, 8#644),
    Path.

setcap_capture_as_nobody() ->
    [{doc, "Ensure that with `make setcap' (cap_net_raw,cap_net_admin on the "
      "port) a VM running as nobody captures with no sudo, and the port "
      "holds no capability once ready"}].
setcap_capture_as_nobody(_Config) ->
    case {os:find_executable("setcap"), os:find_executable("runuser")} of
        {false, _} -> {skip, "setcap not installed (libcap2-bin)"};
        {_, false} -> {skip, "runuser not installed (util-linux)"};
        _ -> setcap_capture()
    end.

setcap_capture() ->
    %% A copy nobody can reach, so the tree's own binary stays as built.
    Dir = "/tmp/epcap_setcap_" ++ os:getpid(),
    ok = filelib:ensure_dir(filename:join(Dir, "x")),
    ok = file:change_mode(Dir, 8#755),
    Prog = filename:join(Dir, "epcap"),
    {ok, _} = file:copy(epcap_test_lib:progname(), Prog),
    ok = file:change_mode(Prog, 8#755),
    %% The code too: the checkout may be where nobody cannot go (/root).
    Ebin = filename:join(Dir, "ebin"),
    ok = filelib:ensure_dir(filename:join(Ebin, "x")),
    ok = file:change_mode(Ebin, 8#755),
    Src = filename:dirname(code:which(epcap)),
    [{ok, _} = file:copy(filename:join(Src, F), filename:join(Ebin, F))
     || F <- element(2, file:list_dir(Src))],
    try setcap_run(Prog, Ebin)
    after
        file:del_dir_r(Dir)
    end.

setcap_run(Prog, Ebin) ->
    {0, _} = epcap_test_lib:cmd("setcap cap_net_raw,cap_net_admin=ep " ++ Prog),
    Script = lists:flatten(io_lib:format(
        "{ok, P} = epcap:start([{interface, \"lo\"}, {exec, \"\"}, {progname, \"~s\"},"
        " {filter, \"udp dst port 7301\"}]),"
        "{ok, S} = gen_udp:open(0, [{ip, {127,0,0,1}}]),"
        "ok = gen_udp:send(S, {127,0,0,1}, 7301, <<\"setcap\">>),"
        "receive {packet, 1, _, _, _} -> ok after 2000 -> halt(3) end,"
        "{ok, St} = file:read_file(\"/proc/\" ++ integer_to_list(element(5, sys:get_state(P))) ++ \"/status\"),"
        "io:format(\"~~s~~n\", [St]), halt(0).", [Prog])),
    Cmd = "cd / && HOME=/tmp runuser -u nobody -- erl -noshell -pa " ++ Ebin
        ++ " -eval '" ++ Script ++ "'",
    {Status, Out} = epcap_test_lib:cmd(Cmd),
    ct:log("~s~n~s", [Cmd, Out]),
    ?assertEqual(0, Status),
    ?assertMatch({match, _}, re:run(Out, "CapEff:\\s+0000000000000000")),
    ?assertMatch({match, _}, re:run(Out, "NoNewPrivs:\\s+1")),
    Nobody = nobody(),
    ?assertMatch({match, _}, re:run(Out, "Uid:\\s+" ++ Nobody ++ "\\s")).

%%--------------------------------------------------------------------
%% No process left behind
%%--------------------------------------------------------------------

owner_exit() ->
    [{doc, "Ensure that the port exits within 1 s of its owner's exit"}].
owner_exit(Config) ->
    Self = self(),
    Owner = spawn(fun() ->
                          {ok, P} = epcap:start(opts(Config, [{interface, "lo"}])),
                          Self ! {pid, P},
                          receive stop -> ok end
                  end),
    Pid = receive {pid, P} -> P after 5000 -> ct:fail(no_start) end,
    OsPid = epcap_test_lib:os_pid(Pid),
    Owner ! stop,
    ?assert(epcap_test_lib:wait_gone(OsPid, 1000)).

server_killed() ->
    [{doc, "Ensure that the port exits within 1 s of the server being killed"}].
server_killed(Config) ->
    {ok, Pid} = epcap:start(opts(Config, [{interface, "lo"}])),
    OsPid = epcap_test_lib:os_pid(Pid),
    exit(Pid, kill),
    ?assert(epcap_test_lib:wait_gone(OsPid, 1000)).

vm_killed() ->
    [{doc, "Ensure that when the VM running a capture is killed with SIGKILL, "
      "no epcap process remains after 1 s"}].
vm_killed(Config) ->
    {ok, Peer, Node} = peer:start_link(#{name => peer:random_name(),
                                         args => ["-pa" | code:get_path()],
                                         connection => standard_io}),
    VmPid = list_to_integer(peer:call(Peer, os, getpid, [])),
    {ok, _} = peer:call(Peer, application, ensure_all_started, [epcap]),
    Owner = peer:call(Peer, erlang, spawn, [timer, sleep, [infinity]]),
    {ok, Pid} = peer:call(Peer, epcap, start, [Owner, opts(Config, [{interface, "lo"}])]),
    OsPid = element(5, peer:call(Peer, sys, get_state, [Pid])),
    ?assert(epcap_test_lib:port_alive(OsPid)),
    ct:log("node ~p vm ~b port ~b", [Node, VmPid, OsPid]),
    unlink(Peer),
    {0, _} = epcap_test_lib:cmd("kill -9 " ++ integer_to_list(VmPid)),
    ?assert(epcap_test_lib:wait_gone(OsPid, 1000)),
    {_, Left} = epcap_test_lib:cmd("pgrep -f " ++ ?config(prog, Config) ++ " -P " ++ integer_to_list(VmPid)),
    ?assertEqual("", string:trim(Left)).

port_closed_by_hand() ->
    [{doc, "Ensure that a port whose stdin closes (the VM side gone) exits at "
      "once with status 0"}].
port_closed_by_hand(Config) ->
    Port = open_raw(Config, ["-i", "lo"]),
    {ready, _} = raw_term(Port),
    port_close(Port),
    ok.

%%--------------------------------------------------------------------
%% Bad input (see the table in doc/security.md)
%%--------------------------------------------------------------------

open_raw(Config, Args) ->
    %% No -C: a root port jails itself in /run/epcap.
    open_port({spawn_executable, ?config(prog, Config)},
              [{args, Args}, {packet, 4}, binary, exit_status]).

raw_term(Port) ->
    receive
        {Port, {data, <<2, T/binary>>}} ->
            Term = binary_to_term(T),
            {element(1, Term), Term};
        {Port, {exit_status, S}} -> {exit, S}
    after 5000 -> timeout
    end.

raw_exit(Port, Ms) ->
    receive
        {Port, {data, _}} -> raw_exit(Port, Ms);
        {Port, {exit_status, S}} -> S
    after Ms -> timeout
    end.

control_frames_direct() ->
    [{doc, "Ensure that control frames with bad tags, bodies or lengths sent "
      "straight to the port end in {error, {protocol, _}} and exit status 1, "
      "never a crash"}].
control_frames_direct(Config) ->
    Bad = [{unknown_tag, <<99>>},
           {tag_zero, <<0>>},
           {credit_short, <<4, 1, 2>>},
           {credit_long, <<4, 0, 0, 0, 1, 0>>},
           {stats_with_body, <<2, 1>>},
           {inject_empty, <<1>>},
           {filter_with_nul, <<3, "tcp", 0, "x">>},
           {inject_too_big, <<1, 0:(65536 * 8)>>}],
    %% The last case: an empty frame ({packet, 4} with length 0).
    lists:foreach(
      fun({Name, Frame}) ->
              Port = open_raw(Config, ["-r", data("veth_mixed.pcap")]),
              {ready, {ready, _, OsPid, _, _, _, _}} = raw_term(Port),
              true = port_command(Port, Frame),
              R = raw_term(Port),
              ct:log("~p: ~p", [Name, R]),
              ?assertMatch({Name, {error, {error, {protocol, _}}}}, {Name, R}),
              %% Having said why, it waits for us to hang up, then exits.
              ?assert(epcap_test_lib:port_alive(OsPid)),
              port_close(Port),
              ?assertEqual({Name, true}, {Name, epcap_test_lib:wait_gone(OsPid, 1000)})
      end, Bad ++ [{empty_frame, <<>>}]),
    %% Nobody hangs up: it exits by itself, status 1.
    Port = open_raw(Config, ["-r", data("veth_mixed.pcap")]),
    {ready, _} = raw_term(Port),
    true = port_command(Port, <<99>>),
    ?assertMatch({error, {error, {protocol, _}}}, raw_term(Port)),
    ?assertEqual(1, raw_exit(Port, 10000)).

bad_user_group_chroot() ->
    [{doc, "Ensure that an unknown user or group, or a missing chroot "
      "directory, is {error, _} from start"}].
bad_user_group_chroot(Config) ->
    Opts = fun(E) -> opts(Config, [{interface, "lo"} | E]) end,
    ?assertMatch({error, {no_such_user, _}}, epcap:start(Opts([{user, "no_such_user_x"}]))),
    ?assertMatch({error, {no_such_group, _}}, epcap:start(Opts([{group, "no_such_group_x"}]))),
    ?assertMatch({error, {chroot, _}}, epcap:start(Opts([{chroot, "/nonexistent/dir"}]))).

unsafe_chroot_refused() ->
    [{doc, "Ensure that a chroot directory the dropped user could write to "
      "is refused"}].
unsafe_chroot_refused(Config) ->
    Dir = filename:join(?config(priv_dir, Config), "open_jail"),
    ok = filelib:ensure_dir(filename:join(Dir, "x")),
    ok = file:change_mode(Dir, 8#777),
    ?assertMatch({error, {chroot, _}},
                 epcap:start(opts(Config, [{interface, "lo"}, {chroot, Dir}]))).

%%--------------------------------------------------------------------
%% Issue 15 (C side): nothing root left behind, bounded work, the jail
%%--------------------------------------------------------------------

%% The OS pids of this tree's port program (and its filter-compile
%% children). "[/]" keeps the pattern from matching pgrep's own shell.
our_procs(Config) ->
    [$/ | Rest] = ?config(prog, Config),
    {_, Out} = epcap_test_lib:cmd("pgrep -f '[/]" ++ Rest ++ "'"),
    [list_to_integer(L) || L <- string:lexemes(Out, "\n"), L =/= ""].

%% true if none of this tree's port processes remain within Ms.
none_left(Config, Ms) when Ms =< 0 -> our_procs(Config) =:= [];
none_left(Config, Ms) ->
    case our_procs(Config) of
        [] -> true;
        _ -> timer:sleep(50), none_left(Config, Ms - 50)
    end.

%% "port 1 or port 2 or ...", up to the 8 192 bytes a filter may have.
huge_filter() -> huge_filter(1, "").
huge_filter(N, Acc) ->
    Next = case Acc of "" -> "port 1"; _ -> Acc ++ " or port " ++ integer_to_list(N) end,
    case length(Next) > 8192 of
        true -> Acc;
        false -> huge_filter(N + 1, Next)
    end.

timed(F) ->
    T0 = erlang:monotonic_time(millisecond),
    R = F(),
    {erlang:monotonic_time(millisecond) - T0, R}.

scratch_dir(Name) ->
    Dir = "/tmp/epcap_" ++ Name ++ "_" ++ os:getpid(),
    ok = filelib:ensure_dir(filename:join(Dir, "x")),
    ok = file:change_mode(Dir, 8#755),
    Dir.

fifo_file_refused() ->
    [{doc, "Ensure that a FIFO given as {file, _} is refused at once as "
      "{error, {file, _}}, and no port process remains (it used to block "
      "as root in fopen, then outlive the VM)"}].
fifo_file_refused(Config) ->
    Dir = scratch_dir("fifo"),
    Fifo = filename:join(Dir, "fifo"),
    {0, _} = epcap_test_lib:cmd("mkfifo " ++ Fifo),
    try
        {Ms, R} = timed(fun() -> epcap:start(opts(Config, [{file, Fifo}])) end),
        ct:log("~b ms: ~p", [Ms, R]),
        ?assertMatch({error, {file, _}}, R),
        ?assert(Ms < 5000),
        ?assert(none_left(Config, 1000))
    after
        file:delete(Fifo), file:del_dir(Dir)
    end.

sudo_file_user_rights() ->
    [{doc, "Ensure that a port run as root by sudo opens a capture file with "
      "the invoking user's rights: a file only root may read is refused, "
      "one the user may read is captured"}].
sudo_file_user_rights(Config) ->
    Dir = scratch_dir("sudo"),
    Secret = filename:join(Dir, "secret.pcap"),
    Public = filename:join(Dir, "public.pcap"),
    {ok, _} = file:copy(data("veth_mixed.pcap"), Secret),
    {ok, _} = file:copy(data("veth_mixed.pcap"), Public),
    ok = file:change_mode(Secret, 8#600),
    ok = file:change_mode(Public, 8#644),
    os:putenv("SUDO_UID", nobody()),
    try
        R = epcap:start(opts(Config, [{file, Secret}])),
        ct:log("root-only file: ~p", [R]),
        ?assertMatch({error, {file, _}}, R),
        {ok, _} = epcap:start(opts(Config, [{file, Public}])),
        {Pkts, eof} = collect_until(5000, []),
        ?assertEqual(40, length(Pkts))
    after
        os:unsetenv("SUDO_UID"),
        [file:delete(F) || F <- [Secret, Public]], file:del_dir(Dir)
    end.

huge_filter_start_bounded() ->
    [{doc, "Ensure that an 8 KiB filter that takes a minute to compile fails "
      "within seconds as {error, {filter, _}} at start, and no process "
      "remains"}].
huge_filter_start_bounded(Config) ->
    {Ms, R} = timed(fun() ->
                            epcap:start(opts(Config, [{interface, "lo"},
                                                      {filter, huge_filter()}]))
                    end),
    ct:log("~b ms: ~p", [Ms, R]),
    ?assertMatch({error, {filter, _}}, R),
    ?assert(Ms < 10000),
    ?assert(none_left(Config, 1000)).

huge_filter_setfilter_keeps_old() ->
    [{doc, "Ensure that setfilter/2 with a filter too costly to compile "
      "fails with {error, {filter, _}} and the old filter stays in force"}].
huge_filter_setfilter_keeps_old(Config) ->
    H = ?config(host, Config),
    Pid = start_live(Config, [{filter, "udp port 7104"}]),
    {Ms, R} = timed(fun() -> epcap:setfilter(Pid, huge_filter()) end),
    ct:log("~b ms: ~p", [Ms, R]),
    ?assertMatch({error, {filter, _}}, R),
    epcap_test_lib:udp_out(H, 7104, <<"still old">>),
    ?assertMatch([{packet, 1, _, _, _}], collect(1000, [])),
    epcap:stop(Pid).

huge_filter_setfilter_stop() ->
    [{doc, "Ensure that stop/1 during a long setfilter/2 compile ends the "
      "port within 1 s, and no process remains"}].
huge_filter_setfilter_stop(Config) ->
    {ok, Pid} = epcap:start(opts(Config, [{interface, "lo"}])),
    stop_during_huge_setfilter(Config, Pid).

stop_during_huge_setfilter(Config, Pid) ->
    OsPid = epcap_test_lib:os_pid(Pid),
    spawn(fun() -> catch epcap:setfilter(Pid, huge_filter()) end),
    timer:sleep(300),
    {Ms, ok} = timed(fun() -> epcap:stop(Pid) end),
    ct:log("stop took ~b ms", [Ms]),
    ?assert(epcap_test_lib:wait_gone(OsPid, 1000)),
    ?assert(none_left(Config, 1000)).

huge_setfilter_stop_in_mode() ->
    [{doc, "Ensure that in each restriction mode stop/1 during a run-time "
      "setfilter/2 of a filter that takes a minute to compile ends the port "
      "and any compile child within a second (rlimit mode, which cannot "
      "fork, compiled in the port until it was done: issue 24, defect 7)"}].
huge_setfilter_stop_in_mode(Config) ->
    stop_during_huge_setfilter(Config, start_live(Config, [])).

huge_setfilter_bounded_in_mode() ->
    [{doc, "Ensure that in each restriction mode a run-time setfilter/2 of a "
      "filter that takes a minute to compile answers within 10 s: an error "
      "with the capture going on where a child compiles it, the capture "
      "ended with the reason where the port itself must (rlimit)"}].
huge_setfilter_bounded_in_mode(Config) ->
    Pid = start_live(Config, []),
    MRef = monitor(process, Pid),
    {Ms, R} = timed(fun() -> catch epcap:setfilter(Pid, huge_filter()) end),
    ct:log("~b ms: ~p", [Ms, R]),
    ?assert(Ms < 10000),
    case ?config(mode, Config) of
        rlimit ->
            receive
                {'DOWN', MRef, process, Pid, Why} -> ct:log("ended: ~p", [Why])
            after 5000 -> ct:fail(still_running)
            end,
            receive {epcap, {error, E}} -> ct:log("owner told ~p", [E])
            after 1000 -> ct:fail(owner_not_told)
            end;
        _ ->
            ?assertMatch({error, {filter, _}}, R),
            ?assertEqual(ok, epcap:setfilter(Pid, "udp")),
            ok = epcap:stop(Pid)
    end,
    ?assert(none_left(Config, 1000)).

chroot_root_refused() ->
    [{doc, "Ensure that {chroot, \"/\"} is refused: it is no jail"}].
chroot_root_refused(Config) ->
    R = epcap:start(opts(Config, [{interface, "lo"}, {chroot, "/"}])),
    ct:log("~p", [R]),
    ?assertMatch({error, {chroot, _}}, R).

open_bare(Config, Args) ->
    open_port({spawn_executable, ?config(prog, Config)},
              [{args, Args}, {packet, 4}, binary, exit_status]).

default_chroot_run_epcap() ->
    [{doc, "Ensure that a port started as root without -C is jailed in "
      "/run/epcap, root-owned and 0755"}].
default_chroot_run_epcap(Config) ->
    Port = open_bare(Config, ["-r", data("veth_mixed.pcap")]),
    {ready, {ready, _, OsPid, _, _, _, _}} = raw_term(Port),
    {ok, Root} = file:read_link("/proc/" ++ integer_to_list(OsPid) ++ "/root"),
    ?assertEqual("/run/epcap", Root),
    {ok, #file_info{uid = 0, mode = Mode}} = file:read_file_info("/run/epcap"),
    ?assertEqual(8#755, Mode band 8#7777),
    port_close(Port).

env_flag_only_pcap() ->
    [{doc, "Ensure that -E sets PCAP_* variables in the port itself and "
      "refuses any other name (LD_PRELOAD would be root's)"}].
env_flag_only_pcap(Config) ->
    File = data("veth_mixed.pcap"),
    Bad = open_raw(Config, ["-r", File, "-E", "LD_PRELOAD=/tmp/x.so"]),
    ?assertMatch({error, {error, {badarg, _}}}, raw_term(Bad)),
    port_close(Bad),
    %% setenv does not show in /proc/PID/environ (the exec-time copy);
    %% c_src/test/test_procenv.c checks the value.
    Port = open_raw(Config, ["-r", File, "-E", "PCAP_EPCAP_TEST=yes"]),
    ?assertMatch({ready, _}, raw_term(Port)),
    port_close(Port).

affinity_flag() ->
    [{doc, "Ensure that -a pins the port to the CPU list itself (no taskset)"}].
affinity_flag(Config) ->
    Port = open_raw(Config, ["-r", data("veth_mixed.pcap"), "-a", "0"]),
    {ready, {ready, _, OsPid, _, _, _, _}} = raw_term(Port),
    ?assertEqual("0", field(proc(OsPid, "status"), "Cpus_allowed_list")),
    port_close(Port),
    Bad = open_raw(Config, ["-r", data("veth_mixed.pcap"), "-a", "3-1"]),
    ?assertMatch({error, {error, {badarg, _}}}, raw_term(Bad)),
    port_close(Bad).

root_group_named() ->
    [{doc, "Ensure that {group, \"root\"} is refused with a message naming "
      "the group, not the user"}].
root_group_named(Config) ->
    {error, {privdrop, Msg}} =
        epcap:start(opts(Config, [{interface, "lo"}, {group, "root"}])),
    ct:log("~s", [Msg]),
    ?assertNotEqual(nomatch, string:find(Msg, "group root")),
    ?assertEqual(nomatch, string:find(Msg, "nobody")).
