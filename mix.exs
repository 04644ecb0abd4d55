# Mix builds epcap without rebar3: Mix's own Erlang compiler for src/,
# make for the port program (c_src/ -> priv/epcap). Name and version come
# from src/epcap.app.src, so the two build tools cannot disagree.
#   {:epcap, path: "../epcap"}  or  {:epcap, git: "https://...", tag: "v1.0.0"}
defmodule Mix.Tasks.Compile.EpcapPort do
  @moduledoc false
  use Mix.Task.Compiler

  # make relinks priv/epcap only when something changed, so the file
  # capabilities granted by `make setcap` survive `mix compile`.
  @impl true
  def run(_args) do
    c_src = Path.join(__DIR__, "c_src")

    case System.cmd("make", ["-s", "-C", c_src], stderr_to_stdout: true) do
      {out, 0} ->
        IO.write(out)
        {:ok, []}

      {out, status} ->
        Mix.raise("epcap: make -C #{c_src} failed (exit #{status}):\n#{out}")
    end
  end
end

defmodule Epcap.MixProject do
  use Mix.Project

  {:ok, [{:application, :epcap, app}]} =
    :file.consult(Path.join(__DIR__, "src/epcap.app.src"))

  @app app

  def project do
    [
      app: :epcap,
      version: to_string(@app[:vsn]),
      description: to_string(@app[:description]),
      language: :erlang,
      erlc_paths: ["src"],
      erlc_options: [:debug_info],
      compilers: [:epcap_port | Mix.compilers()],
      deps: []
    ]
  end

  def application do
    [applications: @app[:applications]]
  end
end
