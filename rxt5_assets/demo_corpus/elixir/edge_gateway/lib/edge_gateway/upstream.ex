defmodule EdgeGateway.Upstream do
  @moduledoc """
  Behaviour for backends the gateway forwards requests to.

  An upstream receives a normalised request map rather than a full
  `EdgeGateway.Conn`, which keeps adapters independent of gateway
  internals (and easy to fake in tests).
  """

  alias EdgeGateway.Conn

  @type request :: %{
          method: String.t(),
          path: String.t(),
          query: String.t(),
          headers: Conn.headers(),
          body: binary()
        }

  @type response :: %{status: non_neg_integer(), headers: Conn.headers(), body: binary()}

  @doc """
  Performs the request. Implementations must not raise for ordinary
  network failures; return `{:error, reason}` instead.
  """
  @callback request(request(), opts :: keyword()) :: {:ok, response()} | {:error, term()}

  @doc """
  A short identifier used in logs and circuit breaker names.
  """
  @callback name(opts :: keyword()) :: String.t()

  @hop_by_hop ~w(connection keep-alive proxy-authenticate proxy-authorization te trailer transfer-encoding upgrade)

  @doc """
  Converts a connection into an upstream request, dropping hop-by-hop
  headers and adding `x-forwarded-for`.
  """
  @spec to_request(Conn.t()) :: request()
  def to_request(%Conn{} = conn) do
    headers =
      conn.req_headers
      |> Enum.reject(fn {name, _} -> name in @hop_by_hop end)
      |> add_forwarded_for(conn.remote_ip)

    %{
      method: conn.method,
      path: conn.path,
      query: conn.query_string,
      headers: headers,
      body: conn.body
    }
  end

  @doc """
  Copies an upstream response onto the connection.
  """
  @spec put_response(Conn.t(), response()) :: Conn.t()
  def put_response(%Conn{} = conn, %{status: status, headers: headers, body: body}) do
    headers
    |> Enum.reject(fn {name, _} -> name in @hop_by_hop end)
    |> Enum.reduce(conn, fn {name, value}, acc -> Conn.put_resp_header(acc, name, value) end)
    |> Conn.send_resp(status, body)
  end

  defp add_forwarded_for(headers, nil), do: headers

  defp add_forwarded_for(headers, ip) do
    address = ip |> :inet.ntoa() |> to_string()

    case List.keyfind(headers, "x-forwarded-for", 0) do
      {_, existing} ->
        List.keystore(
          headers,
          "x-forwarded-for",
          0,
          {"x-forwarded-for", existing <> ", " <> address}
        )

      nil ->
        headers ++ [{"x-forwarded-for", address}]
    end
  end
end
