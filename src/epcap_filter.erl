%%% @doc Check a filter without capturing: {@link epcap:compile_filter/2}.
%%%
%%% The port program compiles the filter in a mode of its own (`-K'): it
%%% drops its privileges, jails and restricts itself as a capture does
%%% before it compiles (the text is the caller's), compiles for a dead
%%% libpcap handle of the link type and snaplen asked for, bounded in CPU
%%% time and memory as every compile is (`c_src/filtercc.h'), and answers
%%% with the program as `tcpdump -d' prints it (one bpf_image(3PCAP) line
%%% an instruction). It runs as the VM's user, never through a wrapper:
%%% no privilege is needed. A filter compiles here exactly when a capture
%%% would take it (e.g. names such as `port http' are refused in both: the
%%% jail has no `/etc/services').
%%% @end
-module(epcap_filter).

-export([compile/2]).

-export_type([options/0]).

-type options() :: #{link_type => 0..65535, snaplen => 1..262144, progname => string()}.

-define(TIMEOUT, 30000).

%% @doc Compile `Filter' for `#{link_type => DLT, snaplen => N}' (by
%% default 1, Ethernet, and 65535; `progname' names the port program).
%% ```
%% {ok, ["(000) ldh      [12]", "(001) jeq      #0x806           jt 2\tjf 3",
%%       "(002) ret      #65535", "(003) ret      #0"]} =
%%     epcap_filter:compile("arp", #{}),
%% {error, {filter, _}} = epcap_filter:compile("tcp port", #{}).
%% '''
-spec compile(iodata(), options()) -> {ok, [string()]} | {error, epcap:reason()}.
compile(Filter, Options) when is_map(Options) ->
    case {epcap_options:check_filter(Filter), options(maps:to_list(Options), defaults())} of
        {error, _} -> {error, {badarg, {filter, Filter}}};
        {_, {error, _} = E} -> E;
        {{ok, F}, {ok, #{link_type := L, snaplen := S, progname := P}}} ->
            run(P, ["-K", "-f", F, "-y", integer_to_list(L), "-s", integer_to_list(S)])
    end;
compile(_Filter, Options) ->
    {error, {badarg, {options, Options}}}.

defaults() ->
    #{link_type => 1, snaplen => 65535, progname => epcap_options:default_progname()}.

options([], O) -> {ok, O};
options([{link_type, L} | Rest], O) when is_integer(L), L >= 0, L =< 65535 ->
    options(Rest, O#{link_type := L});
options([{snaplen, S} | Rest], O) when is_integer(S), S >= 1, S =< 262144 ->
    options(Rest, O#{snaplen := S});
options([{progname, P} | Rest], O) when is_list(P) ->
    options(Rest, O#{progname := filename:absname(P)});
options([{K, V} | _], _) when K =:= link_type; K =:= snaplen; K =:= progname ->
    {error, {badarg, {K, V}}};
options([{K, _} | _], _) ->
    {error, {bad_option, K}}.

%% One term, then the port exits (read as a stream, framed by epcap_frame:
%% no length prefix reserves memory). Its stdin stays open meanwhile: the
%% port takes its end as the VM's and stops.
run(Prog, Args) ->
    case filelib:is_regular(Prog) of
        false -> {error, {port_not_found, Prog}};
        true ->
            Port = open_port({spawn_executable, Prog}, [{args, Args}, stream, binary, exit_status]),
            try answer(Port, epcap_frame:new())
            after
                catch port_close(Port),
                receive {Port, {exit_status, _}} -> ok after 0 -> ok end
            end
    end.

answer(Port, F) ->
    receive
        {Port, {data, Bin}} ->
            case epcap_frame:feed(Bin, F) of
                {ok, [], F1} -> answer(Port, F1);
                {ok, [{term, {filter, {ok, Lines}}} | _], _} -> {ok, Lines};
                {ok, [{term, {error, Reason}} | _], _} -> {error, Reason};
                {ok, [Other | _], _} ->
                    {error, {protocol, {bad_term, epcap_control:summary(Other)}}};
                {error, Reason, _} -> {error, Reason}
            end;
        {Port, {exit_status, S}} ->
            {error, {port_exit, S}}
    after ?TIMEOUT ->
        {error, timeout}
    end.
