%%% @doc Whether the port needs a wrapper to capture (stub: the `pkg'
%%% engineer writes the real rule; this one is the seed's).
%%% @end
-module(epcap_privilege).

-export([default_exec/1]).
-export([permission_hint/1]).

%% @doc The wrapper a live capture runs the port under: none when the VM
%% runs as root, `sudo -n' otherwise.
-spec default_exec(Progname :: file:filename()) -> [string()].
default_exec(_Progname) ->
    case is_root() of
        true -> [];
        false -> ["sudo", "-n"]
    end.

%% @doc A sentence to add to `{permission_denied, Msg}', or `none'.
-spec permission_hint(Progname :: file:filename()) -> string() | none.
permission_hint(Progname) ->
    case is_root() of
        true -> none;
        false -> "run the VM as root, give " ++ Progname ++ " its capabilities "
                     "with `sudo make setcap', or use {exec, \"sudo -n\"}"
    end.

is_root() ->
    case file:read_file("/proc/self/status") of
        {ok, Status} ->
            case re:run(Status, "^Uid:\\s+\\d+\\s+(\\d+)",
                        [multiline, {capture, all_but_first, list}]) of
                {match, ["0"]} -> true;
                _ -> false
            end;
        {error, _} ->
            string:trim(os:cmd("id -u")) =:= "0"
    end.
