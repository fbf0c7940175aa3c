defmodule EdgeGateway.Plugs.Auth do
  @moduledoc """
  Bearer-token authentication.

  Tokens are checked by a verifier function so the plug stays agnostic of
  where tokens live. The verifier returns `{:ok, principal}` or
  `{:error, reason}`; the principal is stored in `conn.assigns.principal`.

      plug EdgeGateway.Plugs.Auth, verify: &MyApp.Tokens.verify/1, except: ["/health"]
  """

  @behaviour EdgeGateway.Plug

  alias EdgeGateway.{Conn, Headers}

  @impl true
  def init(opts) do
    %{
      verify: Keyword.fetch!(opts, :verify),
      except: opts |> Keyword.get(:except, []) |> MapSet.new(),
      realm: Keyword.get(opts, :realm, "edge")
    }
  end

  @impl true
  def call(%Conn{path: path} = conn, %{except: except} = config) do
    if MapSet.member?(except, path) do
      conn
    else
      authenticate(conn, config)
    end
  end

  defp authenticate(conn, %{verify: verify, realm: realm}) do
    with [header | _] <- Conn.get_req_header(conn, "authorization"),
         {:ok, {:bearer, token}} <- Headers.parse_authorization(header),
         {:ok, principal} <- verify.(token) do
      Conn.assign(conn, :principal, principal)
    else
      [] -> unauthorized(conn, realm, "missing_token")
      {:ok, {:basic, _user, _password}} -> unauthorized(conn, realm, "unsupported_scheme")
      {:error, reason} -> unauthorized(conn, realm, error_code(reason))
    end
  end

  defp unauthorized(conn, realm, code) do
    conn
    |> Conn.put_resp_header("www-authenticate", ~s(Bearer realm="#{realm}", error="#{code}"))
    |> Conn.halt(401, "unauthorized")
  end

  defp error_code(:expired), do: "invalid_token"
  defp error_code(:unsupported_scheme), do: "unsupported_scheme"
  defp error_code(reason) when is_atom(reason), do: Atom.to_string(reason)
  defp error_code(_reason), do: "invalid_token"
end
