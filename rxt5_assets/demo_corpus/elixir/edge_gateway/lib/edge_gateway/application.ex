defmodule EdgeGateway.Application do
  @moduledoc """
  OTP application callback. Starts the shared rate limiter, the response
  cache and one circuit breaker per configured upstream.
  """

  use Application

  @impl true
  def start(_type, _args) do
    config = Application.get_all_env(:edge_gateway)

    children =
      [
        {EdgeGateway.RateLimiter, Keyword.get(config, :rate_limit, [])},
        {EdgeGateway.TtlCache, name: EdgeGateway.ResponseCache, default_ttl_ms: 5_000}
      ] ++ breaker_specs(Keyword.get(config, :upstreams, []))

    Supervisor.start_link(children, strategy: :one_for_one, name: EdgeGateway.Supervisor)
  end

  defp breaker_specs(upstreams) do
    for {name, opts} <- upstreams do
      breaker_opts = opts |> Keyword.get(:breaker, []) |> Keyword.put(:name, breaker_name(name))
      {EdgeGateway.CircuitBreaker, breaker_opts}
    end
  end

  @doc false
  def breaker_name(upstream), do: :"edge_breaker_#{upstream}"
end
