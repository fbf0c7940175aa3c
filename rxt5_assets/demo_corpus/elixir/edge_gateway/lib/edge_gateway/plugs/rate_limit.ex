defmodule EdgeGateway.Plugs.RateLimit do
  @moduledoc """
  Applies `EdgeGateway.RateLimiter` to incoming requests.

  Clients are identified by the `:key` function, which defaults to the
  authenticated principal and falls back to the remote IP. Rejected
  requests get a `429` with a `retry-after` header in whole seconds.
  """

  @behaviour EdgeGateway.Plug

  alias EdgeGateway.{Conn, RateLimiter}

  @impl true
  def init(opts) do
    %{
      limiter: Keyword.get(opts, :limiter, RateLimiter),
      key: Keyword.get(opts, :key, &default_key/1),
      cost: Keyword.get(opts, :cost, 1)
    }
  end

  @impl true
  def call(%Conn{} = conn, %{limiter: limiter, key: key_fun, cost: cost}) do
    key = key_fun.(conn)

    case RateLimiter.try_acquire(limiter, key, cost) do
      :ok ->
        conn
        |> Conn.put_resp_header(
          "x-ratelimit-remaining",
          Integer.to_string(RateLimiter.remaining(limiter, key))
        )

      {:error, :rate_limited, retry_after_ms} ->
        conn
        |> Conn.put_resp_header(
          "retry-after",
          Integer.to_string(div(retry_after_ms + 999, 1_000))
        )
        |> Conn.halt(429, "too many requests")
    end
  end

  @doc false
  def default_key(%Conn{assigns: %{principal: principal}}), do: {:principal, principal}
  def default_key(%Conn{remote_ip: ip}) when ip != nil, do: {:ip, ip}
  def default_key(%Conn{}), do: :anonymous
end
