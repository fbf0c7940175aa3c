defmodule EdgeGateway.Router do
  @moduledoc """
  A runtime routing table.

  Patterns are split into segments: literals (`"users"`), named params
  (`":id"`) and a trailing glob (`"*path"`). Routes are tried in insertion
  order, so register more specific routes first.

  For routers known at compile time prefer `EdgeGateway.Router.DSL`, which
  builds one of these tables once and embeds it in the module.
  """

  alias EdgeGateway.Conn

  @type segment :: {:literal, String.t()} | {:param, String.t()} | {:glob, String.t()}
  @type handler :: {module(), atom()} | (Conn.t(), map() -> Conn.t())
  @type route :: %{
          method: String.t(),
          pattern: String.t(),
          segments: [segment()],
          handler: handler()
        }
  @type t :: %__MODULE__{routes: [route()]}

  @methods ~w(GET HEAD POST PUT PATCH DELETE OPTIONS)

  defstruct routes: []

  @spec new() :: t()
  def new, do: %__MODULE__{}

  @doc """
  Adds a route. Returns an error for malformed patterns, unknown methods
  and exact duplicates.
  """
  @spec add_route(t(), String.t(), String.t(), handler()) :: {:ok, t()} | {:error, term()}
  def add_route(%__MODULE__{routes: routes} = router, method, pattern, handler) do
    method = String.upcase(method)

    with :ok <- validate_method(method),
         {:ok, segments} <- compile_pattern(pattern),
         :ok <- ensure_unique(routes, method, segments) do
      route = %{method: method, pattern: pattern, segments: segments, handler: handler}
      {:ok, %{router | routes: routes ++ [route]}}
    end
  end

  @spec add_route!(t(), String.t(), String.t(), handler()) :: t()
  def add_route!(router, method, pattern, handler) do
    case add_route(router, method, pattern, handler) do
      {:ok, router} ->
        router

      {:error, reason} ->
        raise ArgumentError, "cannot add #{method} #{pattern}: #{inspect(reason)}"
    end
  end

  @doc """
  Finds the handler for `method` and `path_info`.

  Returns `{:error, {:method_not_allowed, methods}}` when the path exists
  but not for this method, so callers can answer 405 with an `Allow`
  header.
  """
  @spec route(t(), String.t(), [String.t()]) ::
          {:ok, handler(), map()} | {:error, :not_found | {:method_not_allowed, [String.t()]}}
  def route(%__MODULE__{routes: routes}, method, path_info) do
    matches =
      for route <- routes,
          {:ok, params} <- [match_segments(route.segments, path_info, %{})],
          do: {route, params}

    case Enum.find(matches, fn {route, _} ->
           route.method == method or head_for_get?(route, method)
         end) do
      {route, params} ->
        {:ok, route.handler, params}

      nil when matches == [] ->
        {:error, :not_found}

      nil ->
        {:error,
         {:method_not_allowed, matches |> Enum.map(fn {r, _} -> r.method end) |> Enum.uniq()}}
    end
  end

  @doc """
  Routes a connection and invokes the handler.
  """
  @spec dispatch(t(), Conn.t()) :: Conn.t()
  def dispatch(%__MODULE__{} = router, %Conn{} = conn) do
    case route(router, conn.method, conn.path_info) do
      {:ok, handler, params} ->
        invoke(handler, %{conn | path_params: params}, params)

      {:error, :not_found} ->
        Conn.send_resp(conn, 404, "not found")

      {:error, {:method_not_allowed, allowed}} ->
        conn
        |> Conn.put_resp_header("allow", Enum.join(allowed, ", "))
        |> Conn.send_resp(405, "method not allowed")
    end
  end

  @doc """
  Compiles a path pattern into segments.

      iex> EdgeGateway.Router.compile_pattern("/files/:bucket/*key")
      {:ok, [{:literal, "files"}, {:param, "bucket"}, {:glob, "key"}]}
  """
  @spec compile_pattern(String.t()) :: {:ok, [segment()]} | {:error, term()}
  def compile_pattern("/" <> _ = pattern) do
    pattern
    |> String.split("/", trim: true)
    |> compile_segments([])
  end

  def compile_pattern(pattern), do: {:error, {:must_start_with_slash, pattern}}

  defp compile_segments([], acc), do: {:ok, Enum.reverse(acc)}

  defp compile_segments(["*" <> name], acc) when name != "",
    do: compile_segments([], [{:glob, name} | acc])

  defp compile_segments(["*" <> _ | _rest], _acc), do: {:error, :glob_must_be_last}

  defp compile_segments([":" <> name | rest], acc) when name != "",
    do: compile_segments(rest, [{:param, name} | acc])

  defp compile_segments([":" | _rest], _acc), do: {:error, :unnamed_param}

  defp compile_segments([literal | rest], acc),
    do: compile_segments(rest, [{:literal, literal} | acc])

  defp match_segments([], [], params), do: {:ok, params}
  defp match_segments([{:glob, name}], rest, params), do: {:ok, Map.put(params, name, rest)}

  defp match_segments([{:literal, same} | segs], [same | rest], params),
    do: match_segments(segs, rest, params)

  defp match_segments([{:param, name} | segs], [value | rest], params),
    do: match_segments(segs, rest, Map.put(params, name, value))

  defp match_segments(_segments, _path, _params), do: :nomatch

  defp head_for_get?(%{method: "GET"}, "HEAD"), do: true
  defp head_for_get?(_route, _method), do: false

  defp validate_method(method) when method in @methods, do: :ok
  defp validate_method(method), do: {:error, {:unknown_method, method}}

  # Two patterns that differ only in parameter names match the same paths.
  defp ensure_unique(routes, method, segments) do
    shape = shape(segments)

    if Enum.any?(routes, &(&1.method == method and shape(&1.segments) == shape)) do
      {:error, :duplicate_route}
    else
      :ok
    end
  end

  defp shape(segments) do
    Enum.map(segments, fn
      {:literal, value} -> value
      {kind, _name} -> kind
    end)
  end

  defp invoke({module, action}, conn, params), do: apply(module, action, [conn, params])
  defp invoke(fun, conn, params) when is_function(fun, 2), do: fun.(conn, params)
end
