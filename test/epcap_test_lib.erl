%%% Helpers shared by the Common Test suites: the port program under test,
%%% test hosts in network namespaces, traffic between them, collecting
%%% messages. Traffic goes only to loopback or to the test hosts' own
%%% addresses (10.215.X.1/2, or 10.<215+K>.X.1/2 with EPCAP_TEST_NET=K), never anywhere else.
-module(epcap_test_lib).

-export([progname/0, opts/1, data/1, is_root/0]).
-export([netns_up/1, netns_down/1, ns_exec/2]).
-export([udp_out/3, udp_in/3, ping_in/2]).
-export([collect/2, collect_until/2, flush/0, port_alive/1, wait_gone/2,
         wait_dead/2]).
-export([tcpdump/2, cmd/1, os_pid/1, test_net_n/0, run_program/2, root_dir/1]).
-export([fake_port/2, fake_port/3]).

%% The port program's own pid, as it said in `ready' (wrappers such as
%% sudo may sit between the VM and it).
os_pid(Pid) ->
    {ok, #{os_pid := OsPid}} = epcap:info(Pid),
    OsPid.

%% The port under test: EPCAP_PROGNAME (e.g. the ASan build) or priv/epcap.
progname() ->
    case os:getenv("EPCAP_PROGNAME") of
        false -> filename:join(code:priv_dir(epcap), "epcap");
        P -> P
    end.

%% Options for a test capture: this port, no sudo wrapper (tests run as root).
opts(Extra) ->
    [{progname, progname()}, {exec, ""} | Extra].

data(Name) ->
    filename:join([code:lib_dir(epcap), "test", "data", Name]).

is_root() ->
    string:trim(os:cmd("id -u")) =:= "0".

%% The repository root, holding Marker (a path relative to it):
%% $EPCAP_ROOT, or an ancestor of this module's source or beam, or of
%% epcap's beam.
root_dir(Marker) ->
    Source = proplists:get_value(source, ?MODULE:module_info(compile), ""),
    Starts = [filename:dirname(Source)]
        ++ [filename:dirname(code:which(M)) || M <- [?MODULE, epcap], is_list(code:which(M))],
    Candidates = [D || D <- [os:getenv("EPCAP_ROOT", "")], D =/= ""]
        ++ lists:append([ancestors(filename:absname(S)) || S <- Starts]),
    case [D || D <- Candidates, filelib:is_regular(filename:join(D, Marker))] of
        [Root | _] -> Root;
        [] -> ct:fail("repository root not found; set EPCAP_ROOT")
    end.

ancestors("/") -> ["/"];
ancestors(Dir) -> [Dir | ancestors(filename:dirname(Dir))].

%% Program (a path) with Args, no shell: {ExitStatus, Output}, stderr
%% included.
run_program(Program, Args) ->
    Port = open_port({spawn_executable, Program},
                     [{args, Args}, exit_status, stderr_to_stdout, binary]),
    run_output(Port, []).

run_output(Port, Acc) ->
    receive
        {Port, {data, Data}} -> run_output(Port, [Data | Acc]);
        {Port, {exit_status, Status}} ->
            {Status, unicode:characters_to_list(lists:reverse(Acc))}
    after 60000 ->
            ct:fail({timeout, Port})
    end.

cmd(Cmd) ->
    Port = open_port({spawn_executable, "/bin/sh"},
                     [{args, ["-c", Cmd]}, exit_status, stderr_to_stdout, binary]),
    cmd_loop(Port, <<>>).

cmd_loop(Port, Acc) ->
    receive
        {Port, {data, D}} -> cmd_loop(Port, <<Acc/binary, D/binary>>);
        {Port, {exit_status, S}} -> {S, binary_to_list(Acc)}
    after 60000 -> {timeout, binary_to_list(Acc)}
    end.

ok_cmd(Cmd) ->
    case cmd(Cmd) of
        {0, Out} -> Out;
        {S, Out} -> error({cmd_failed, Cmd, S, Out})
    end.

%% One test host: namespace epct<K>_<N> holding veth end epv<K>N_b
%% (10.<215+K>.N.2), joined to epv<K>N_a (10.<215+K>.N.1) in our namespace.
%% K is EPCAP_TEST_NET (0..9, default 0), so that test runs from several
%% work trees on one machine use disjoint names and subnets. Returns a map.
netns_up(N) when is_integer(N), N >= 1, N =< 250 ->
    K = test_net(),
    Ns = "epct" ++ K ++ "_" ++ integer_to_list(N),
    A = "epv" ++ K ++ integer_to_list(N) ++ "a",
    B = "epv" ++ K ++ integer_to_list(N) ++ "b",
    Net = "10." ++ integer_to_list(215 + test_net_n()) ++ "." ++ integer_to_list(N),
    _ = netns_down(#{ns => Ns, a => A}),
    _ = [ok_cmd(C) || C <- [
        "ip netns add " ++ Ns,
        "ip link add " ++ A ++ " type veth peer name " ++ B,
        "ip link set " ++ B ++ " netns " ++ Ns,
        "ip addr add " ++ Net ++ ".1/24 dev " ++ A,
        "ip link set " ++ A ++ " up",
        "ip netns exec " ++ Ns ++ " ip addr add " ++ Net ++ ".2/24 dev " ++ B,
        "ip netns exec " ++ Ns ++ " ip link set " ++ B ++ " up",
        "ip netns exec " ++ Ns ++ " ip link set lo up",
        %% No IPv6 chatter (router solicitations, DAD) to confuse counts.
        "sysctl -qw net.ipv6.conf." ++ A ++ ".disable_ipv6=1",
        "ip netns exec " ++ Ns ++ " sysctl -qw net.ipv6.conf." ++ B ++ ".disable_ipv6=1"]],
    Host = #{ns => Ns, a => A, b => B,
             local => ip(Net ++ ".1"), peer => ip(Net ++ ".2")},
    %% Resolve ARP both ways now, so tests see only their own traffic.
    _ = ping_in(Host, 1),
    timer:sleep(100),
    Host.

ip(S) -> {ok, A} = inet:parse_address(S), A.

%% EPCAP_TEST_NET: "" for 0 (the names CI has always used), else the digit.
test_net() ->
    case test_net_n() of
        0 -> "";
        K -> integer_to_list(K)
    end.

test_net_n() ->
    case os:getenv("EPCAP_TEST_NET") of
        [D] when D >= $0, D =< $9 -> D - $0;
        _ -> 0
    end.

netns_down(#{ns := Ns, a := A}) ->
    _ = cmd("ip link del " ++ A ++ " 2>/dev/null"),
    _ = cmd("ip netns del " ++ Ns ++ " 2>/dev/null"),
    ok.

ns_exec(#{ns := Ns}, Cmd) ->
    cmd("ip netns exec " ++ Ns ++ " " ++ Cmd).

%% UDP from us to the test host (leaves through epvNa: direction out).
udp_out(#{local := L, peer := P}, Port, Payload) ->
    {ok, S} = gen_udp:open(0, [binary, {ip, L}]),
    ok = gen_udp:send(S, P, Port, Payload),
    gen_udp:close(S).

%% UDP from the test host to us (arrives on epvNa: direction in).
udp_in(#{local := L} = H, Port, Payload) ->
    Cmd = lists:flatten(io_lib:format(
            "bash -c 'printf ~s > /dev/udp/~s/~b'",
            [binary_to_list(Payload), inet:ntoa(L), Port])),
    ns_exec(H, Cmd).

ping_in(#{local := L} = H, Count) ->
    ns_exec(H, "ping -c " ++ integer_to_list(Count) ++ " -i 0.2 -W 1 " ++ inet:ntoa(L)).

%% Packets received within Ms, as a list, in order.
collect(Ms, Acc) ->
    receive
        {packet, _, _, _, _} = P -> collect(Ms, [P | Acc])
    after Ms -> lists:reverse(Acc)
    end.

%% Packets until {epcap, End}: {Packets, End}.
collect_until(Ms, Acc) ->
    receive
        {packet, _, _, _, _} = P -> collect_until(Ms, [P | Acc]);
        {epcap, End} -> {lists:reverse(Acc), End}
    after Ms -> {lists:reverse(Acc), timeout}
    end.

flush() ->
    receive _ -> flush() after 0 -> ok end.

port_alive(OsPid) ->
    filelib:is_dir("/proc/" ++ integer_to_list(OsPid)) andalso
        not is_zombie(OsPid).

is_zombie(OsPid) ->
    case file:read_file("/proc/" ++ integer_to_list(OsPid) ++ "/stat") of
        {ok, Stat} -> binary:match(Stat, <<") Z ">>) =/= nomatch;
        _ -> true
    end.

%% true if OsPid is gone within Ms.
wait_gone(OsPid, Ms) when Ms =< 0 -> not port_alive(OsPid);
wait_gone(OsPid, Ms) ->
    case port_alive(OsPid) of
        false -> true;
        true -> timer:sleep(50), wait_gone(OsPid, Ms - 50)
    end.

%% Whether the process has exited within Ms. An owner is told of the end
%% just before the server exits, so the server may still be alive then.
wait_dead(Pid, Ms) ->
    Ref = monitor(process, Pid),
    receive {'DOWN', Ref, process, Pid, _} -> true
    after Ms -> demonitor(Ref, [flush]), false
    end.

%% tcpdump's view of a file: [{TimeString, OrigLen}] and its error line.
tcpdump(File, Nano) ->
    Flag = case Nano of true -> "--nano "; false -> "" end,
    {_, Out} = cmd("tcpdump " ++ Flag ++ "-r " ++ File ++ " -nn -tt -e 2>&1"),
    Lines = string:split(Out, "\n", all),
    Pkts = [{Ts, list_to_integer(Len)}
            || L <- Lines,
               {match, [Ts, Len]} <- [re:run(L, "^([0-9]+\\.[0-9]+) .*?, length ([0-9]+):",
                                             [{capture, all_but_first, list}])]],
    Errors = [L || L <- Lines, string:find(L, "tcpdump:") =/= nomatch,
                   string:find(L, "reading from") =:= nomatch],
    {Pkts, Errors}.

%% A fake port program at Path (a port program replaced by a script): it
%% connects to the output socket the server names (`-O', epcap_out), makes
%% it its stdout, keeps the port's real stdout (the pipe) as fd 3, and runs
%% the shell code Body with the port's arguments. Without `-O' (the stderr
%% relay, `-R') Body runs as it is.
fake_port(Path, Body) -> fake_port(Path, Body, "").

%% As fake_port/2, with the shell code Before run first ($out names the
%% socket).
fake_port(Path, Body, Before) ->
    BodyPath = Path ++ ".body",
    ok = file:write_file(BodyPath, Body),
    Connect = "import os,signal,socket,sys; os.dup2(1,3); signal.signal(signal.SIGPIPE,signal.SIG_DFL); s=socket.socket(socket.AF_UNIX); "
              "a=sys.argv[1]; s.connect(chr(0)+a[1:] if a[0]==chr(64) else a); os.dup2(s.fileno(),1); s.close(); "
              "os.execv(\"/bin/sh\",[\"sh\"]+sys.argv[2:])",
    ok = file:write_file(Path, ["#!/bin/sh\n",
                                "out=; prev=\n",
                                "for a; do [ \"$prev\" = -O ] && out=$a; prev=$a; done\n",
                                Before,
                                "[ -n \"$out\" ] || exec /bin/sh '", BodyPath, "' \"$@\"\n",
                                "exec python3 -c '", Connect, "' \"$out\" '", BodyPath,
                                "' \"$@\"\n"]),
    ok = file:change_mode(Path, 8#755),
    Path.
