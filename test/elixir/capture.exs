# Elixir using the compiled epcap application: read a capture, count packets.
#   elixir -pa _build/default/lib/epcap/ebin test/elixir/capture.exs FILE
[file] = System.argv()
{:ok, _pid} = :epcap.start([{:file, String.to_charlist(file)}, {:exec, ~c""}])

count = fn count, n, bytes ->
  receive do
    {:packet, _dlt, {_mega, _sec, _usec}, len, packet} when byte_size(packet) <= len ->
      count.(count, n + 1, bytes + byte_size(packet))

    {:epcap, :eof} ->
      {n, bytes}

    {:epcap, {:error, reason}} ->
      raise "capture failed: #{inspect(reason)}"
  after
    5000 -> raise "no eof"
  end
end

{n, bytes} = count.(count, 0, 0)
IO.puts("elixir: #{n} packets, #{bytes} bytes")
