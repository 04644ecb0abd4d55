%%% @doc Capture groups: N captures of one interface that share its traffic
%%% through a kernel `PACKET_FANOUT' group (Linux), supervised together.
%%%
%%% Each member is an ordinary {@link epcap} capture, started with the
%%% same `{fanout, ...}' option, so the kernel gives each packet to exactly
%%% one member (with `hash', each flow to one member). Members may run on
%%% other nodes (Erlang distribution) and send to owners anywhere.
%%% ```
%%% {ok, G} = epcap_group:start(4, [{interface, "eth0"}, {fanout, {42, hash}}]),
%%% receive {epcap_packet, Member, _DLT, _Time, _Len, _Pkt} -> ok end,
%%% {ok, #{total := #{received := _}}} = epcap_group:stats(G),
%%% ok = epcap_group:stop(G).
%%% '''
%%% Members send in the `{tagged, true}' form (unless `{tagged, false}' is
%%% given), so one owner can tell them apart; {@link members/1} maps
%%% member numbers to their current pids. A member that fails is
%%% restarted into the same group under {@link epcap_group_sup}; while it
%%% is gone the kernel spreads its share over the others (with `hash' the
%%% flows move, and move back when it rejoins).
%%%
%%% Owners should outlive the group: a member whose owner exits stops,
%%% its restarts fail, and after 10 failures in 10 s the group stops.
%%% Stop the group with {@link stop/1}. A member stopped alone with
%%% epcap:stop/1 leaves the group for good (members are `transient'); a
%%% member that fails is restarted into it.
%%% @end
-module(epcap_group).

-export([start/2]).
-export([start_link/2]).
-export([stop/1]).
-export([members/1]).
-export([stats/1]).
-export([start_member/3]).

-export_type([group/0, member/0]).

-type group() :: pid().
-type member() :: #{node => node(), owner => pid(), options => [epcap:option()]}.
-type group_option() :: epcap:option() | {owner, pid()} | {owners, [pid(), ...]}
                      | {nodes, [node(), ...]}.
-type counts() :: epcap:stats().

%% @doc Start a group without a link to the caller; see {@link start_link/2}.
-spec start(pos_integer() | [member(), ...], [group_option()]) ->
          {ok, group()} | {error, term()}.
start(Members, Options) ->
    case start_link(Members, Options) of
        {ok, G} -> true = unlink(G), {ok, G};
        Error -> Error
    end.

%% @doc Start a group of `N' members (or one per `member()' map), linked
%% to the caller. `Options' are those of {@link epcap:start_link/2}, with:
%% <ul>
%% <li>`{fanout, {Id, Mode[, Flags]}}': the kernel group; by default a
%% random id and `hash'. Members on one kernel must agree on the mode,
%% flags and interface, or the later ones fail with `{fanout, Msg}'.</li>
%% <li>`{owner, Pid}': one owner for all (the caller by default), or
%% `{owners, Pids}': member I sends to the I-th, round robin.</li>
%% <li>`{nodes, Nodes}': member I runs on the I-th node, round robin
%% (this node by default). The nodes must have the epcap application's
%% code.</li>
%% </ul>
%% A `member()' map overrides node, owner and adds options for one member
%% (e.g. its own `{interface, If}'). Errors: `{error, {member, I, Reason}}'
%% for the first member that failed to start (none is left running),
%% or `{error, {badarg, ...}}'.
-spec start_link(pos_integer() | [member(), ...], [group_option()]) ->
          {ok, group()} | {error, term()}.
start_link(N, Options) when is_integer(N), N >= 1 ->
    start_link(lists:duplicate(N, #{}), Options);
start_link([_ | _] = Members, Options) when is_list(Options) ->
    case plan(Members, Options) of
        {ok, Plan} -> start_sup(Plan);
        {error, _} = E -> E
    end;
start_link(Members, Options) ->
    {error, {badarg, {group, {Members, Options}}}}.

%% @doc Stop every member, then the group.
-spec stop(group()) -> ok.
stop(G) ->
    try gen_server:stop(G) catch exit:_ -> ok end.

%% @doc The members' current pids by member number (1..N), in order; a
%% member being restarted is `undefined'.
-spec members(group()) -> [{pos_integer(), pid() | undefined}].
members(G) ->
    lists:sort([{I, pid_or_undefined(P)}
                || {I, P, _, _} <- supervisor:which_children(G)]).

%% @doc `pcap_stats' of every member and their sum. A member that cannot
%% answer (being restarted) is `{error, Reason}' and counts for nothing.
-spec stats(group()) -> {ok, #{members := [{pos_integer(), counts() | {error, term()}}],
                               total := counts()}}.
stats(G) ->
    Each = [{I, member_stats(P)} || {I, P} <- members(G)],
    Zero = #{received => 0, dropped => 0, if_dropped => 0, wakeups => 0, reads => 0,
             batches => 0, credit_wait_us => 0, pipe_wait_us => 0},
    Total = lists:foldl(fun({_, #{} = C}, Acc) ->
                                maps:map(fun(K, V) -> V + maps:get(K, C, 0) end, Acc);
                           (_, Acc) -> Acc
                        end, Zero, Each),
    {ok, #{members => Each, total => Total}}.

%% @private The supervisor's start function for one member: a linked
%% epcap server, here or on `Node'.
-spec start_member(node(), pid(), [epcap:option()]) -> {ok, pid()} | {error, term()}.
start_member(Node, Owner, Options) when Node =:= node() ->
    epcap:start_link(Owner, Options);
start_member(Node, Owner, Options) ->
    try erpc:call(Node, epcap, start, [Owner, Options]) of
        {ok, Pid} ->
            %% Linked from here: the supervisor hears of its death across
            %% the distribution, and epcap stops on our exit signal.
            true = link(Pid),
            {ok, Pid};
        {error, _} = E -> E
    catch
        Class:Reason -> {error, {Node, {Class, Reason}}}
    end.

%%====================================================================
%% Internal
%%====================================================================

-define(GROUP_KEYS, [owner, owners, nodes]).

plan(Members, Options) ->
    {Group, Capture} = lists:partition(
                         fun(O) -> is_tuple(O) andalso
                                       lists:member(element(1, O), ?GROUP_KEYS) end,
                         Options),
    Owners = owners(Group),
    Nodes = proplists:get_value(nodes, Group, [node()]),
    Common = defaults(Capture),
    case valid(Owners, Nodes, Members) of
        true ->
            {ok, [member_plan(I, M, Owners, Nodes, Common)
                  || {I, M} <- lists:enumerate(Members)]};
        false ->
            {error, {badarg, {group, Options}}}
    end.

owners(Group) ->
    case proplists:get_value(owners, Group) of
        undefined -> [proplists:get_value(owner, Group, self())];
        Pids -> Pids
    end.

valid(Owners, Nodes, Members) ->
    is_list(Owners) andalso Owners =/= [] andalso lists:all(fun is_pid/1, Owners)
        andalso is_list(Nodes) andalso Nodes =/= [] andalso lists:all(fun is_atom/1, Nodes)
        andalso lists:all(fun is_map/1, Members).

%% Every member gets the same group; and tagged messages unless told not.
defaults(Capture) ->
    Fanout = case lists:keymember(fanout, 1, Capture) of
                 true -> [];
                 false -> [{fanout, {rand:uniform(65536) - 1, hash}}]
             end,
    Tagged = case lists:keymember(tagged, 1, Capture) of
                 true -> [];
                 false -> [{tagged, true}]
             end,
    Capture ++ Fanout ++ Tagged.

member_plan(I, M, Owners, Nodes, Common) ->
    {I, maps:get(node, M, nth(I, Nodes)), maps:get(owner, M, nth(I, Owners)),
     merge(maps:get(options, M, []), Common)}.

nth(I, List) -> lists:nth((I - 1) rem length(List) + 1, List).

%% A member's own options replace the common ones of the same key.
merge(Own, Common) ->
    Keys = [element(1, O) || O <- Own, is_tuple(O)],
    Own ++ [O || O <- Common, not (is_tuple(O) andalso lists:member(element(1, O), Keys))].

start_sup(Plan) ->
    epcap_group_sup:start_link(Plan).

pid_or_undefined(P) when is_pid(P) -> P;
pid_or_undefined(_) -> undefined.

member_stats(undefined) -> {error, restarting};
member_stats(P) ->
    case epcap:stats(P) of
        {ok, C} -> C;
        {error, _} = E -> E
    end.
