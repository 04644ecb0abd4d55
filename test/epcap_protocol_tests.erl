%%% The protocol checked across the two sides: reads c_src/*.h and *.c and
%%% fails when a tag, a limit or a reason the port can send has no Erlang
%%% twin in include/epcap_protocol.hrl, epcap:error_reasons/0 or the
%%% epcap:reason() type.
-module(epcap_protocol_tests).
-include_lib("eunit/include/eunit.hrl").

%% The checkout epcap was compiled from (the build tree has no c_src/).
root() ->
    filename:dirname(filename:dirname(proplists:get_value(source, epcap:module_info(compile)))).
c_src() -> filename:join(root(), "c_src").
hrl() -> filename:join([root(), "include", "epcap_protocol.hrl"]).

read(Name) ->
    {ok, B} = file:read_file(filename:join(c_src(), Name)),
    binary_to_list(B).

%% #define NAME VALUE in the C headers, VALUE an integer expression.
c_defines(Header) ->
    {match, Ms} = re:run(read(Header), "^#define\\s+([A-Z_0-9]+)\\s+(.+)$",
                         [multiline, global, {capture, all_but_first, list}]),
    [{N, V} || [N, V0] <- Ms, {ok, V} <- [c_value(V0)]].

%% Strip comments and casts, then evaluate what is left as Erlang.
c_value(Text) ->
    S1 = re:replace(Text, "/\\*.*?\\*/", "", [global, {return, list}]),
    S2 = re:replace(S1, "\\((size_t|int|unsigned|uint32_t)\\)", "", [global, {return, list}]),
    S3 = re:replace(S2, "([0-9]+)u\\b", "\\1", [global, {return, list}]),
    case re:run(S3, "^[0-9 ()+*-]+$") of
        {match, _} ->
            {ok, Toks, _} = erl_scan:string(S3 ++ "."),
            {ok, [E]} = erl_parse:parse_exprs(Toks),
            {value, V, _} = erl_eval:expr(E, []),
            {ok, V};
        nomatch -> error
    end.

%% enum ctl_type { CTL_X = 1, ... } in control.h.
c_enum(Header, Enum) ->
    Src = read(Header),
    {match, [Body]} = re:run(Src, "enum " ++ Enum ++ "\\s*\\{(.*?)\\}",
                             [dotall, {capture, all_but_first, list}]),
    {match, Ms} = re:run(Body, "([A-Z_0-9]+)\\s*=\\s*([0-9]+)",
                         [global, {capture, all_but_first, list}]),
    [{N, list_to_integer(V)} || [N, V] <- Ms].

erl_defines() ->
    {ok, B} = file:read_file(hrl()),
    {match, Ms} = re:run(B, "^-define\\(([A-Z_0-9]+),\\s*([0-9]+)\\)\\.",
                         [multiline, global, {capture, all_but_first, list}]),
    maps:from_list([{N, list_to_integer(V)} || [N, V] <- Ms]).

%% The tags and limits both sides must agree on.
shared() ->
    Wire = [D || {N, _} = D <- c_defines("wire.h"),
                 lists:prefix("WIRE_TAG_", N) orelse N =:= "WIRE_PKT_HDR"
                     orelse N =:= "WIRE_BATCH_BYTES" orelse N =:= "WIRE_FRAME_CAP"],
    Ctl = c_enum("control.h", "ctl_type")
        ++ [D || {N, _} = D <- c_defines("control.h"), lists:prefix("CTL_", N)],
    Opts = [D || {N, _} = D <- c_defines("options.h"), lists:prefix("EPCAP_", N)],
    Save = [D || {"SAVER_FILES_MAX", _} = D <- c_defines("saveopts.h")],
    Wire ++ Ctl ++ Opts ++ Save.

tags_and_limits_test() ->
    Erl = erl_defines(),
    Shared = shared(),
    ?assert(length(Shared) >= 12),   % the parser found them
    Missing = [{N, V, maps:get(N, Erl, missing)} || {N, V} <- Shared, maps:get(N, Erl, missing) =/= V],
    ?assertEqual([], Missing).

%% Every reason the port can put in {error, {Reason, Msg}}: the second
%% argument of ep_fail/ep_fail_errno (string literals, also in a ?:), the
%% returns of the *_reason() helpers, and literal struct ep_error values.
c_reasons() ->
    {ok, Files} = file:list_dir(c_src()),
    Srcs = [read(F) || F <- Files, filename:extension(F) =:= ".c"],
    Found = lists:append([reasons_in(S) || S <- Srcs]),
    lists:usort([list_to_atom(R) || R <- Found]).

reasons_in(Src) ->
    Calls = matches(Src, "ep_fail(?:_errno)?\\(\\s*[^,]+,\\s*([^,]+),"),
    Helpers = matches_dotall(Src, "\\n[a-z ]*\\*?[a-z_]+_reason\\([^)]*\\)\\s*\\{(.*?)\\n\\}"),
    Returns = lists:append([matches(H, "return\\s+\"([a-z_]+)\";") || H <- Helpers]),
    Literal = matches(Src, "struct ep_error\\)\\s*\\{\\s*\"([a-z_]+)\""),
    lists:append([matches(A, "\"([a-z_]+)\"") || A <- Calls]) ++ Returns ++ Literal.

matches_dotall(S, Re) ->
    case re:run(S, Re, [global, dotall, {capture, all_but_first, list}]) of
        {match, Ms} -> [M || [M] <- Ms];
        nomatch -> []
    end.

matches(S, Re) ->
    case re:run(S, Re, [global, {capture, all_but_first, list}]) of
        {match, Ms} -> [M || [M] <- Ms];
        nomatch -> []
    end.

%% The first element of every tuple (or the atom itself) in reason().
type_reasons() ->
    {ok, {epcap, [{abstract_code, {raw_abstract_v1, Forms}}]}} =
        beam_lib:chunks(code:which(epcap), [abstract_code]),
    [Def] = [D || {attribute, _, type, {reason, D, []}} <- Forms],
    lists:usort(heads(Def)).

heads({type, _, union, Ts}) -> lists:append([heads(T) || T <- Ts]);
heads({type, _, tuple, [{atom, _, A} | _]}) -> [A];
heads({atom, _, A}) -> [A];
heads(_) -> [].

c_reasons_found_test() ->
    %% The parser sees the reasons of every kind of site.
    R = c_reasons(),
    [?assert(lists:member(A, R)) || A <- [filter, privdrop, permission_denied, signal, capture]].

c_reasons_in_error_reasons_test() ->
    ?assertEqual([], c_reasons() -- epcap:error_reasons()).

c_reasons_in_type_test() ->
    ?assertEqual([], c_reasons() -- type_reasons()).

error_reasons_in_type_test() ->
    ?assertEqual([], epcap:error_reasons() -- type_reasons()).

%% Every reason atom must exist before a port sends it: binary_to_term
%% with [safe] refuses atoms the VM does not know.
reasons_are_protocol_atoms_test() ->
    ?assertEqual([], c_reasons() -- epcap:protocol_atoms()).
