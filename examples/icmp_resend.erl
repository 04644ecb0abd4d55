%%% @doc Example: capture ICMP echo requests arriving on an interface and
%%% inject a copy of each back onto it, with IPv4 and ICMP checksums
%%% computed afresh by `epcap_decode:encode/1'.
%%%
%%% ```
%%% {ok, Pid} = icmp_resend:start("eth0"),
%%% ...
%%% icmp_resend:resent(Pid),   % how many copies so far
%%% icmp_resend:stop(Pid).
%%% '''
%%%
%%% Only incoming requests are captured (`{direction, in}'), so the copies,
%%% which leave the interface, are never copied again.
%%% @end
-module(icmp_resend).

-behaviour(gen_server).

-export([start/1, start/2, start_link/1, stop/1, resent/1, copy/2]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2, terminate/2]).

-define(FILTER, "icmp and icmp[icmptype] = icmp-echo").

-record(state, {epcap :: pid(), resent = 0 :: non_neg_integer()}).

%%====================================================================
%% API
%%====================================================================

%% @equiv start(Interface, [])
-spec start(string()) -> {ok, pid()} | {error, term()}.
start(Interface) ->
    start(Interface, []).

%% @doc Start resending echo requests arriving on `Interface'; `Options'
%% are passed to `epcap:start/2' (the interface, filter, direction and
%% inject options are set here).
-spec start(string(), [epcap:option()]) -> {ok, pid()} | {error, term()}.
start(Interface, Options) ->
    gen_server:start(?MODULE, {Interface, Options}, []).

%% @doc As `start/1', linked to the caller.
-spec start_link(string()) -> {ok, pid()} | {error, term()}.
start_link(Interface) ->
    gen_server:start_link(?MODULE, {Interface, []}, []).

%% @doc Stop resending.
-spec stop(pid()) -> ok.
stop(Pid) ->
    gen_server:stop(Pid).

%% @doc How many copies have been injected.
-spec resent(pid()) -> non_neg_integer().
resent(Pid) ->
    gen_server:call(Pid, resent).

%% @doc The copy to inject for a captured frame: the same headers and
%% payload, with fresh IPv4 and ICMP checksums. `skip' for anything but a
%% completely decoded ICMP echo request over IPv4.
-spec copy(non_neg_integer(), binary()) -> {ok, binary()} | skip.
copy(DLT, Frame) ->
    case epcap_decode:decode(DLT, Frame) of
        {ok, [Link, #{proto := ipv4} = Ip, #{proto := icmp, type := 8} = Icmp, Payload]} ->
            {ok, epcap_decode:encode([Link, maps:remove(checksum, Ip),
                                      maps:remove(checksum, Icmp), Payload])};
        _ ->
            skip
    end.

%%====================================================================
%% gen_server callbacks
%%====================================================================

%% @private
-spec init({string(), [epcap:option()]}) -> {ok, #state{}} | {stop, term()}.
init({Interface, Options}) ->
    process_flag(trap_exit, true),
    Opts = [{interface, Interface}, {filter, ?FILTER}, {direction, in}, inject
            | Options],
    case epcap:start_link(self(), Opts) of
        {ok, Pid} -> {ok, #state{epcap = Pid}};
        {error, Reason} -> {stop, {epcap, Reason}}
    end.

%% @private
-spec handle_call(resent, gen_server:from(), #state{}) -> {reply, non_neg_integer(), #state{}}.
handle_call(resent, _From, #state{resent = N} = State) ->
    {reply, N, State}.

%% @private
-spec handle_cast(term(), #state{}) -> {noreply, #state{}}.
handle_cast(_Msg, State) ->
    {noreply, State}.

%% @private
-spec handle_info(term(), #state{}) -> {noreply, #state{}} | {stop, term(), #state{}}.
handle_info({packet, DLT, _Time, _Len, Frame}, State) ->
    {noreply, resend(copy(DLT, Frame), State)};
handle_info({epcap, {error, Reason}}, State) ->
    {stop, {shutdown, {epcap, Reason}}, State};
handle_info({epcap, eof}, State) ->
    {stop, normal, State};
handle_info({'EXIT', Pid, Reason}, #state{epcap = Pid} = State) ->
    {stop, {shutdown, {epcap, Reason}}, State};
handle_info(_Info, State) ->
    {noreply, State}.

%% @private
-spec terminate(term(), #state{}) -> ok.
terminate(_Reason, #state{epcap = Pid}) ->
    unlink(Pid),
    epcap:stop(Pid),
    ok.

resend(skip, State) ->
    State;
resend({ok, Copy}, #state{epcap = Pid, resent = N} = State) ->
    case epcap:send(Pid, Copy) of
        ok ->
            State#state{resent = N + 1};
        {error, Reason} ->
            logger:warning(#{icmp_resend => send_failed, reason => Reason}),
            State
    end.
