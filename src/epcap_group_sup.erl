%%% @doc The supervisor of one capture group: one child per member, each an
%%% `epcap' server that is restarted into the same fanout group when it
%%% fails. Started by {@link epcap_group}; not meant to be used alone.
%%% @end
-module(epcap_group_sup).
-behaviour(supervisor).

-export([start_link/1]).
-export([init/1]).

%% A member that keeps failing (an interface gone, an owner gone) stops
%% the group after this many restarts in this many seconds.
-define(INTENSITY, 10).
-define(PERIOD, 10).

%% @doc Start the supervisor, then its members one by one:
%% `{Index, Node, Owner, Options}', Options complete (fanout included).
%% Members are added after the supervisor is up, so that a member that
%% fails to start is an `{error, {member, Index, Reason}}' for the caller
%% rather than an exit signal from a supervisor that could not start.
-spec start_link([{pos_integer(), node(), pid(), [epcap:option()]}]) ->
          {ok, pid()} | {error, term()}.
start_link(Members) ->
    {ok, Sup} = supervisor:start_link(?MODULE, []),
    add(Sup, Members).

add(Sup, []) ->
    {ok, Sup};
add(Sup, [{Index, _, _, _} = M | Rest]) ->
    case supervisor:start_child(Sup, child(M)) of
        {ok, _} -> add(Sup, Rest);
        {error, Error} ->
            %% start_child says {Reason, ChildSpec}: the reason is enough.
            Reason = case Error of {R, {child, _, _, _, _, _, _, _, _}} -> R; R -> R end,
            true = unlink(Sup),
            ok = gen_server:stop(Sup),
            {error, {member, Index, Reason}}
    end.

%% @private
-spec init([]) -> {ok, {supervisor:sup_flags(), [supervisor:child_spec()]}}.
init([]) ->
    Flags = #{strategy => one_for_one, intensity => ?INTENSITY, period => ?PERIOD},
    {ok, {Flags, []}}.

%% transient: a member exits `normal' only at its end of file or when
%% stopped with epcap:stop/1; every failure (its port died, the interface
%% went away) exits with the reason, after the owner was told
%% {epcap_error, ...}, and is restarted into the group.
child({Index, Node, Owner, Options}) ->
    #{id => Index,
      start => {epcap_group, start_member, [Node, Owner, Options]},
      restart => transient,
      shutdown => 5000,
      type => worker,
      modules => [epcap]}.
