%%% A supervisor of one child, for epcap_tcp_SUITE.
-module(epcap_tcp_SUITE_sup).
-behaviour(supervisor).
-export([init/1]).

init(Child) ->
    {ok, {#{strategy => one_for_one, intensity => 5, period => 10}, [Child]}}.
