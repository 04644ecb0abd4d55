%%% @doc A capture's lifecycle as structured `logger' events, and its
%%% periodic statistics (option `{stats_interval, Ms}').
%%%
%%% Every event is a report map with `event' naming it, logged with
%%% metadata `#{domain => [epcap, capture], capture => Pid}' (select them
%%% with a domain filter, e.g.
%%% `logger_filters:domain(Event, {log, sub, [epcap, capture]})'):
%%% <ul>
%%% <li>`started' (info): the port was spawned; `command' is its command
%%% line, wrapper first.</li>
%%% <li>`ready' (info): the port is capturing; `info' is what
%%% `epcap:info/1' gives (the options in force among it).</li>
%%% <li>`ended': `reason' `eof', `stopped' (`epcap:stop/1', the owner
%%% gone) or `{start_failed, Reason}' (the caller of `start' got the
%%% error) at info; `{error, Reason}', the failure the owner was told, at
%%% notice; `exit' is the server's exit reason.</li>
%%% <li>`restarted' (notice): a keeper (`epcap_keeper') started a new
%%% capture after one ended; `attempt' counts, `after_ms' is the wait.</li>
%%% </ul>
%%% @end
-module(epcap_events).

-export([started/1]).
-export([ready/1]).
-export([ended/2]).
-export([restarted/3]).
-export([stats_interval/1]).

-define(DOMAIN, [epcap, capture]).

%% @doc The port was spawned with `Command'.
-spec started([string()]) -> ok.
started(Command) ->
    log(info, #{event => started, command => Command}).

%% @doc The port said `ready'; `Info' as `epcap:info/1' gives it.
-spec ready(map()) -> ok.
ready(Info) ->
    log(info, #{event => ready, info => Info}).

%% @doc The capture ended: `eof', `stopped', `{error, Reason}' or
%% `{start_failed, Reason}'.
-spec ended(eof | stopped | {error, term()} | {start_failed, term()}, term()) -> ok.
ended(How, ExitReason) ->
    %% a start that failed was told to its caller: no louder than info
    Level = case How of
                {error, _} -> notice;
                _ -> info
            end,
    log(Level, #{event => ended, reason => How, exit => ExitReason}).

%% @doc A keeper started capture `Pid' again, the `Attempt'th time,
%% `AfterMs' after the last one ended.
-spec restarted(pid(), pos_integer(), non_neg_integer()) -> ok.
restarted(Pid, Attempt, AfterMs) ->
    logger:notice(#{event => restarted, attempt => Attempt, after_ms => AfterMs},
                  #{domain => ?DOMAIN, capture => Pid}).

%% @doc Arm the next `{stats_interval, Ms}' tick, if the option is set.
-spec stats_interval(undefined | pos_integer()) -> ok.
stats_interval(undefined) -> ok;
stats_interval(Ms) ->
    _ = erlang:send_after(Ms, self(), '$epcap_stats_tick'),
    ok.

log(Level, Report) ->
    logger:log(Level, Report, #{domain => ?DOMAIN, capture => self()}).
