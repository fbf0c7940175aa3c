defmodule EdgeGateway.Proxy do
  @moduledoc """
  The terminal plug that forwards requests to an `EdgeGateway.Upstream`.

  Each forwarded request goes through three layers, from outside in:

    1. `EdgeGateway.TtlCache` for idempotent `GET` requests (optional)
    2. `EdgeGateway.Retry.retry_with_backoff/2` for transient failures
    3. `EdgeGateway.CircuitBreaker` to stop hammering a dead backend

  Upstream 5xx answers count as failures for both retrying and the
  breaker.
  """

  @behaviour EdgeGateway.Plug

  require Logger

  alias EdgeGateway.{CircuitBreaker, Conn, ResponseBody, Retry, TtlCache, Upstream, UpstreamError}

  @impl true
  def init(opts) do
    upstream = Keyword.fetch!(opts, :upstream)

    %{
      upstream: upstream,
      upstream_opts: Keyword.get(opts, :upstream_opts, []),
      breaker: Keyword.fetch!(opts, :breaker),
      cache: Keyword.get(opts, :cache),
      cache_ttl_ms: Keyword.get(opts, :cache_ttl_ms, 5_000),
      retry: Keyword.get(opts, :retry, [])
    }
  end

  @impl true
  def call(%Conn{} = conn, config) do
    request = Upstream.to_request(conn)

    {result, cache_status} = fetch(request, config)

    case result do
      {:ok, response} ->
        conn
        |> maybe_cache_header(cache_status)
        |> Upstream.put_response(response)

      {:error, :circuit_open} ->
        conn
        |> Conn.put_resp_header("retry-after", "5")
        |> Conn.send_resp(503, "upstream unavailable")

      {:error, reason} ->
        Logger.warning(
          "proxy to #{config.upstream.name(config.upstream_opts)} failed: #{inspect(reason)}"
        )

        error =
          UpstreamError.exception(
            upstream: config.upstream.name(config.upstream_opts),
            reason: reason
          )

        {content_type, body} = ResponseBody.encode(error)

        conn
        |> Conn.put_resp_header("content-type", content_type)
        |> Conn.send_resp(502, body)
    end
  end

  defp fetch(%{method: "GET"} = request, %{cache: cache} = config) when cache != nil do
    key = {request.path, request.query}

    case TtlCache.get(cache, key) do
      {:ok, response} ->
        {{:ok, response}, :hit}

      :miss ->
        result = forward(request, config)

        with {:ok, %{status: status} = response} when status in 200..299 <- result do
          TtlCache.put(cache, key, response, config.cache_ttl_ms)
        end

        {result, :miss}
    end
  end

  defp fetch(request, config), do: {forward(request, config), :bypass}

  defp forward(request, config) do
    retry_opts = Keyword.put_new(config.retry, :retry_if, &retry?/1)

    Retry.retry_with_backoff(
      fn -> CircuitBreaker.call(config.breaker, fn -> attempt(request, config) end) end,
      retry_opts
    )
    |> case do
      {:error, {:retries_exhausted, _attempts, :circuit_open}} -> {:error, :circuit_open}
      other -> other
    end
  end

  defp attempt(request, %{upstream: upstream, upstream_opts: opts}) do
    case upstream.request(request, opts) do
      {:ok, %{status: status}} when status >= 500 -> {:error, {:http_status, status}}
      other -> other
    end
  end

  defp retry?(:circuit_open), do: false
  defp retry?(reason), do: Retry.retryable?(reason)

  defp maybe_cache_header(conn, :bypass), do: conn

  defp maybe_cache_header(conn, status),
    do: Conn.put_resp_header(conn, "x-cache", Atom.to_string(status))
end
