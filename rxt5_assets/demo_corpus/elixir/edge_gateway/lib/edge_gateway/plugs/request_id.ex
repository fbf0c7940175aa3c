defmodule EdgeGateway.Plugs.RequestId do
  @moduledoc """
  Ensures every request carries an `x-request-id`.

  A valid incoming id (20-200 printable characters) is kept so traces can
  span several services; otherwise a new one is generated. The id is
  echoed in the response and stored in `conn.assigns.request_id`.
  """

  @behaviour EdgeGateway.Plug

  require Logger

  alias EdgeGateway.Conn

  @impl true
  def init(opts), do: Keyword.get(opts, :header, "x-request-id")

  @impl true
  def call(%Conn{} = conn, header) do
    id =
      case Conn.get_req_header(conn, header) do
        [existing | _] -> if valid?(existing), do: existing, else: generate()
        [] -> generate()
      end

    Logger.metadata(request_id: id)

    conn
    |> Conn.put_req_header(header, id)
    |> Conn.put_resp_header(header, id)
    |> Conn.assign(:request_id, id)
  end

  @doc """
  Generates a URL-safe, 20-character random id.
  """
  @spec generate() :: String.t()
  def generate do
    15
    |> :crypto.strong_rand_bytes()
    |> Base.url_encode64(padding: false)
  end

  defp valid?(id), do: byte_size(id) in 20..200 and String.printable?(id)
end
