defmodule EdgeGateway.ProxyTest do
  use ExUnit.Case, async: true

  alias EdgeGateway.{CircuitBreaker, Conn, Proxy, TtlCache, Upstream}

  setup do
    unique = System.unique_integer([:positive])
    cache = :"proxy_cache_#{unique}"
    start_supervised!({TtlCache, name: cache, sweep_interval_ms: :never})
    breaker = start_supervised!({CircuitBreaker, failure_threshold: 2, reset_timeout_ms: 60_000})
    {:ok, calls} = Agent.start_link(fn -> 0 end)

    counted = fn response ->
      fn _request ->
        Agent.update(calls, &(&1 + 1))
        response
      end
    end

    responses = %{
      {"GET", "/ok"} =>
        counted.(%{status: 200, headers: [{"connection", "close"}], body: "hello"}),
      {"GET", "/down"} => counted.(%{status: 503, body: "maintenance"}),
      {"POST", "/ok"} => counted.(%{status: 201, body: "created"})
    }

    config =
      Proxy.init(
        upstream: Upstream.Static,
        upstream_opts: [name: "static", responses: responses],
        breaker: breaker,
        cache: cache,
        retry: [max_attempts: 2, sleep: fn _ -> :ok end]
      )

    %{config: config, calls: calls, breaker: breaker}
  end

  defp call_count(calls), do: Agent.get(calls, & &1)

  test "forwards and caches successful GETs", %{config: config, calls: calls} do
    first = Proxy.call(Conn.new("GET", "/ok"), config)
    second = Proxy.call(Conn.new("GET", "/ok"), config)

    assert {200, "hello"} = {first.status, first.resp_body}
    assert Conn.get_resp_header(first, "x-cache") == ["miss"]
    assert Conn.get_resp_header(second, "x-cache") == ["hit"]
    assert Conn.get_resp_header(first, "connection") == []
    assert call_count(calls) == 1
  end

  test "does not cache other methods", %{config: config, calls: calls} do
    conn = Proxy.call(Conn.new("POST", "/ok", body: "x"), config)
    assert conn.status == 201
    assert Conn.get_resp_header(conn, "x-cache") == []
    Proxy.call(Conn.new("POST", "/ok", body: "x"), config)
    assert call_count(calls) == 2
  end

  test "retries 5xx answers and then opens the breaker", %{
    config: config,
    calls: calls,
    breaker: breaker
  } do
    conn = Proxy.call(Conn.new("GET", "/down"), config)
    assert conn.status == 502
    assert IO.iodata_to_binary(conn.resp_body) =~ "upstream static failed"
    assert call_count(calls) == 2
    assert CircuitBreaker.state(breaker) == :open

    rejected = Proxy.call(Conn.new("GET", "/down"), config)
    assert rejected.status == 503
    assert call_count(calls) == 2
  end

  test "unknown paths fall back to a 404", %{config: config} do
    assert Proxy.call(Conn.new("GET", "/missing"), config).status == 404
  end
end
