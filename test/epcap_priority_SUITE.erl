%%% @doc Common Test suite: a live capture's port raises its scheduling
%%% priority before it drops root, so that the kernel's ring is drained
%%% while the VM is busy (bench/RESULTS.md, section 2); `{priority,
%%% normal}' keeps the VM's. A file capture never changes it.
-module(epcap_priority_SUITE).

-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").

-export([all/0, init_per_suite/1, end_per_suite/1]).
-export([live_raised/1, live_normal/1, file_unchanged/1]).

all() -> [live_raised, live_normal, file_unchanged].

init_per_suite(Config) ->
    case os:cmd("id -u") of
        "0\n" -> Config;
        _ -> {skip, "raising a priority needs root"}
    end.

end_per_suite(_Config) -> ok.

live_raised(_Config) ->
    ?assertEqual(-10, port_nice([{interface, "lo"}, {filter, "ether src 02:ba:ad:00:00:01"}])).

live_normal(_Config) ->
    ?assertEqual(vm_nice(), port_nice([{interface, "lo"}, {priority, normal},
                                       {filter, "ether src 02:ba:ad:00:00:01"}])).

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
    Nice = nice_of(Pid),
    ok = epcap:stop(Pid),
    ?assertEqual(vm_nice(), Nice).

port_nice(Options) ->
    {ok, Pid} = epcap:start(Options),
    Nice = nice_of(Pid),
    ok = epcap:stop(Pid),
    Nice.

nice_of(Pid) ->
    {ok, #{os_pid := OsPid}} = epcap:info(Pid),
    nice(integer_to_list(OsPid)).

vm_nice() -> nice(os:getpid()).

%% /proc/PID/stat: after "pid (comm) ", field 19 of the whole line is nice.
nice(OsPid) ->
    {ok, Stat} = file:read_file("/proc/" ++ OsPid ++ "/stat"),
    [_, Rest] = binary:split(Stat, <<") ">>),
    binary_to_integer(lists:nth(17, binary:split(Rest, <<" ">>, [global]))).
