defmodule EdgeGateway do
  @moduledoc """
  A small HTTP edge gateway: routing, authentication, rate limiting,
  caching and resilient forwarding to upstream services.

  The gateway is transport agnostic. An adapter (cowboy, bandit, a test)
  builds an `EdgeGateway.Conn`, hands it to `handle/2` together with a
  router module, and writes the resulting status, headers and body back
  to the socket.
  """

  require Logger

  alias EdgeGateway.{Conn, Headers}

  @doc """
  Builds a connection from raw request parts.
  """
  @spec build_conn(String.t(), String.t(), String.t(), binary()) ::
          {:ok, Conn.t()} | {:error, term()}
  def build_conn(method, target, raw_headers, body \\ "") do
    with {:ok, headers} <- Headers.parse_headers(raw_headers) do
      {:ok, Conn.new(method, target, headers: headers, body: body)}
    end
  end

  @doc """
  Runs `conn` through `router`, which must implement `EdgeGateway.Plug`.

  Unsent responses become a `500`, and exceptions raised by handlers are
  turned into a `500` so one bad request never takes the adapter down.
  """
  @spec handle(Conn.t(), module()) :: Conn.t()
  def handle(%Conn{} = conn, router) do
    conn
    |> router.call(router.init([]))
    |> ensure_sent()
  rescue
    exception ->
      Logger.error(Exception.format(:error, exception, __STACKTRACE__))
      Conn.send_resp(%{conn | state: :unset}, 500, "internal server error")
  end

  @doc """
  Renders a response head as a list of lines, useful for logging.
  """
  @spec response_head(Conn.t()) :: [String.t()]
  def response_head(%Conn{status: status, resp_headers: headers}) do
    ["HTTP/1.1 #{status}" | Enum.map(headers, fn {name, value} -> "#{name}: #{value}" end)]
  end

  defp ensure_sent(%Conn{state: :sent} = conn), do: conn

  defp ensure_sent(%Conn{status: status} = conn) when is_integer(status),
    do: Conn.send_resp(conn, status, conn.resp_body || "")

  defp ensure_sent(conn), do: Conn.send_resp(conn, 500, "no response")
end
