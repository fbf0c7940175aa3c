defmodule EdgeGateway.Conn do
  @moduledoc """
  The request/response value threaded through every plug.

  It mirrors the parts of `Plug.Conn` the gateway needs without pulling in
  the dependency. Request headers are stored as a list of lower-cased
  `{name, value}` pairs, in the order they were received.
  """

  alias EdgeGateway.{Headers, QueryString}

  @enforce_keys [:method, :path]
  defstruct [
    :method,
    :path,
    :remote_ip,
    path_info: [],
    path_params: %{},
    query_string: "",
    query_params: %{},
    req_headers: [],
    body: "",
    status: nil,
    resp_headers: [],
    resp_body: nil,
    assigns: %{},
    halted: false,
    state: :unset
  ]

  @type method :: String.t()
  @type headers :: [{String.t(), String.t()}]

  @type t :: %__MODULE__{
          method: method(),
          path: String.t(),
          remote_ip: :inet.ip_address() | nil,
          path_info: [String.t()],
          path_params: %{optional(String.t()) => String.t()},
          query_string: String.t(),
          query_params: map(),
          req_headers: headers(),
          body: binary(),
          status: non_neg_integer() | nil,
          resp_headers: headers(),
          resp_body: iodata() | nil,
          assigns: map(),
          halted: boolean(),
          state: :unset | :set | :sent
        }

  @doc """
  Builds a connection from a method and a request target such as
  `"/users/42?expand=true"`.
  """
  @spec new(String.t(), String.t(), keyword()) :: t()
  def new(method, target, opts \\ []) do
    {path, query} =
      case String.split(target, "?", parts: 2) do
        [path, query] -> {path, query}
        [path] -> {path, ""}
      end

    %__MODULE__{
      method: String.upcase(method),
      path: path,
      path_info: split_path(path),
      query_string: query,
      query_params: QueryString.decode(query),
      req_headers:
        opts |> Keyword.get(:headers, []) |> Enum.map(fn {k, v} -> {String.downcase(k), v} end),
      body: Keyword.get(opts, :body, ""),
      remote_ip: Keyword.get(opts, :remote_ip)
    }
  end

  @doc """
  Returns all values for a request header (names are case-insensitive).
  """
  @spec get_req_header(t(), String.t()) :: [String.t()]
  def get_req_header(%__MODULE__{req_headers: headers}, name) do
    key = String.downcase(name)
    for {^key, value} <- headers, do: value
  end

  @spec put_req_header(t(), String.t(), String.t()) :: t()
  def put_req_header(%__MODULE__{} = conn, name, value) do
    key = String.downcase(name)
    %{conn | req_headers: List.keystore(conn.req_headers, key, 0, {key, value})}
  end

  @spec get_resp_header(t(), String.t()) :: [String.t()]
  def get_resp_header(%__MODULE__{resp_headers: headers}, name) do
    key = String.downcase(name)
    for {^key, value} <- headers, do: value
  end

  @spec put_resp_header(t(), String.t(), String.t()) :: t()
  def put_resp_header(%__MODULE__{state: :sent}, _name, _value),
    do: raise(ArgumentError, "response already sent")

  def put_resp_header(%__MODULE__{} = conn, name, value) do
    key = String.downcase(name)
    %{conn | resp_headers: List.keystore(conn.resp_headers, key, 0, {key, value})}
  end

  @spec put_status(t(), non_neg_integer()) :: t()
  def put_status(%__MODULE__{} = conn, status) when status in 100..599,
    do: %{conn | status: status}

  @doc """
  Sets status and body and marks the response as sent.
  """
  @spec send_resp(t(), non_neg_integer(), iodata()) :: t()
  def send_resp(%__MODULE__{state: :sent}, _status, _body) do
    raise ArgumentError, "response already sent"
  end

  def send_resp(%__MODULE__{} = conn, status, body) do
    %{conn | status: status, resp_body: body, state: :sent}
  end

  @doc """
  Convenience for plugs that short-circuit the pipeline.
  """
  @spec halt(t(), non_neg_integer(), iodata()) :: t()
  def halt(%__MODULE__{} = conn, status, body) do
    conn |> send_resp(status, body) |> halt()
  end

  @spec halt(t()) :: t()
  def halt(%__MODULE__{} = conn), do: %{conn | halted: true}

  @spec assign(t(), atom(), term()) :: t()
  def assign(%__MODULE__{assigns: assigns} = conn, key, value) when is_atom(key) do
    %{conn | assigns: Map.put(assigns, key, value)}
  end

  @spec content_type(t()) :: {:ok, Headers.media_type()} | :error
  def content_type(%__MODULE__{} = conn) do
    case get_req_header(conn, "content-type") do
      [value | _] -> Headers.parse_media_type(value)
      [] -> :error
    end
  end

  @spec split_path(String.t()) :: [String.t()]
  def split_path(path) do
    path
    |> String.split("/", trim: true)
    |> Enum.map(&URI.decode/1)
  end
end
