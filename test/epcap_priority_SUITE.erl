%%% @doc Common Test suite: a live capture's port sets its scheduling
%%% priority before it drops root, so that the kernel's ring is drained
%%% while the VM or the traffic's source has the CPU (bench/RESULTS.md,
%%% sections 0.00000 and 2): by default SCHED_FIFO 1 over nice -10, with
%%% RLIMIT_RTTIME at 1 s (2 s hard); `{priority, raised}' nice -10 only;
%%% `{priority, normal}' keeps the VM's. A file capture never changes it.
-module(epcap_priority_SUITE).

-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").

-export([all/0, init_per_suite/1, end_per_suite/1]).
-export([live_realtime/1, live_raised/1, live_normal/1, file_unchanged/1]).

-define(SCHED_OTHER, 0).
-define(SCHED_FIFO, 1).
-define(QUIET, {filter, "ether src 02:ba:ad:00:00:01"}).

all() -> [live_realtime, live_raised, live_normal, file_unchanged].

init_per_suite(Config) ->
    case os:cmd("id -u") of
        "0\n" -> Config;
        _ -> {skip, "raising a priority needs root"}
    end.

end_per_suite(_Config) -> ok.

live_realtime(_Config) ->
    {ok, Pid} = epcap:start([{interface, "lo"}, ?QUIET]),
    Sched = sched_of(Pid),
    Limit = rttime_of(Pid),
    ok = epcap:stop(Pid),
    ?assertEqual(#{policy => ?SCHED_FIFO, rt_priority => 1, nice => -10}, Sched),
    ?assertEqual({1000000, 2000000}, Limit).

live_raised(_Config) ->
    ?assertEqual(#{policy => ?SCHED_OTHER, rt_priority => 0, nice => -10},
                 port_sched([{interface, "lo"}, {priority, raised}, ?QUIET])).

live_normal(_Config) ->
    ?assertEqual(#{policy => ?SCHED_OTHER, rt_priority => 0, nice => vm_nice()},
                 port_sched([{interface, "lo"}, {priority, normal}, ?QUIET])).

file_unchanged(Config) ->
    %% More packets than the port reads ahead of a passive owner: it is
    %% still there to be looked at (a short file may be read, and the port
    %% gone, first).
    File = filename:join(?config(priv_dir, Config), "many.pcap"),
    Header = <<16#a1b2c3d4:32/little, 2:16/little, 4:16/little, 0:32, 0:32,
               65535:32/little, 1:32/little>>,
    ok = file:write_file(File, [Header | [<<I:32/little, 0:32, 60:32/little, 60:32/little,
                                           0:480>> || I <- lists:seq(1, 2000)]]),
    {ok, Pid} = epcap:start([{file, File}, {active, false}]),
    Sched = sched_of(Pid),
    ok = epcap:stop(Pid),
    ?assertEqual(#{policy => ?SCHED_OTHER, rt_priority => 0, nice => vm_nice()}, Sched).

port_sched(Options) ->
    {ok, Pid} = epcap:start(Options),
    Sched = sched_of(Pid),
    ok = epcap:stop(Pid),
    Sched.

os_pid(Pid) ->
    {ok, #{os_pid := OsPid}} = epcap:info(Pid),
    integer_to_list(OsPid).

sched_of(Pid) ->
    F = stat_fields(os_pid(Pid)),
    #{nice => lists:nth(17, F), rt_priority => lists:nth(38, F), policy => lists:nth(39, F)}.

vm_nice() -> lists:nth(17, stat_fields(os:getpid())).

%% /proc/PID/stat after "pid (comm) ": field N of the whole line is
%% element N - 2 (19 nice, 40 rt_priority, 41 policy).
stat_fields(OsPid) ->
    {ok, Stat} = file:read_file("/proc/" ++ OsPid ++ "/stat"),
    [_, Rest] = binary:split(Stat, <<") ">>),
    [case re:run(X, "^-?[0-9]+$") of nomatch -> X; _ -> binary_to_integer(X) end
     || X <- binary:split(string:trim(Rest), <<" ">>, [global])].

%% /proc/PID/limits: "Max realtime timeout  Soft  Hard  us".
rttime_of(Pid) ->
    {ok, Limits} = file:read_file("/proc/" ++ os_pid(Pid) ++ "/limits"),
    {match, [Soft, Hard]} = re:run(Limits, "Max realtime timeout\\s+(\\S+)\\s+(\\S+)",
                                   [{capture, all_but_first, list}]),
    {list_to_integer(Soft), list_to_integer(Hard)}.
