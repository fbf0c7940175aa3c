defmodule EdgeGateway.Router.DSL do
  @moduledoc """
  Compile-time routing DSL.

      defmodule MyGateway.Routes do
        use EdgeGateway.Router.DSL

        plug EdgeGateway.Plugs.RequestId

        get "/health", MyGateway.Health, :show
        get "/users/:id", MyGateway.Users, :show
        post "/users", MyGateway.Users, :create
      end

  The module becomes an `EdgeGateway.Plug`: its `call/2` runs the declared
  plugs and then dispatches to the matching handler. Patterns are
  validated while compiling, so a typo in a route fails the build rather
  than the first request.
  """

  alias EdgeGateway.Router

  @doc false
  defmacro __using__(_opts) do
    quote do
      @behaviour EdgeGateway.Plug

      import EdgeGateway.Router.DSL,
        only: [plug: 1, plug: 2, get: 3, post: 3, put: 3, delete: 3, match: 4]

      Module.register_attribute(__MODULE__, :edge_routes, accumulate: true)
      Module.register_attribute(__MODULE__, :edge_plugs, accumulate: true)

      @before_compile EdgeGateway.Router.DSL
    end
  end

  @doc """
  Adds a plug that runs before routing, in declaration order.
  """
  defmacro plug(module, opts \\ []) do
    quote do
      @edge_plugs {unquote(module), unquote(opts)}
    end
  end

  @doc "Declares a `GET` route (which also answers `HEAD`)."
  defmacro get(path, module, action), do: route_ast("GET", path, module, action)

  @doc "Declares a `POST` route."
  defmacro post(path, module, action), do: route_ast("POST", path, module, action)

  @doc "Declares a `PUT` route."
  defmacro put(path, module, action), do: route_ast("PUT", path, module, action)

  @doc "Declares a `DELETE` route."
  defmacro delete(path, module, action), do: route_ast("DELETE", path, module, action)

  @doc """
  Declares a route for an arbitrary method.
  """
  defmacro match(method, path, module, action) do
    route_ast(method, path, module, action)
  end

  defmacro __before_compile__(env) do
    routes = env.module |> Module.get_attribute(:edge_routes) |> Enum.reverse()
    plugs = env.module |> Module.get_attribute(:edge_plugs) |> Enum.reverse()

    router =
      Enum.reduce(routes, Router.new(), fn {method, path, handler}, router ->
        case Router.add_route(router, method, path, handler) do
          {:ok, router} ->
            router

          {:error, reason} ->
            raise CompileError,
              file: env.file,
              line: env.line,
              description: "invalid route #{method} #{path}: #{inspect(reason)}"
        end
      end)

    quote do
      @edge_router unquote(Macro.escape(router))

      @doc false
      def __router__, do: @edge_router

      @doc false
      def __routes__, do: for(route <- @edge_router.routes, do: {route.method, route.pattern})

      @impl EdgeGateway.Plug
      def init(opts), do: opts

      @impl EdgeGateway.Plug
      def call(conn, _opts) do
        pipeline = EdgeGateway.Plug.build(unquote(Macro.escape(plugs)))

        case EdgeGateway.Plug.run(conn, pipeline) do
          %EdgeGateway.Conn{halted: true} = halted -> halted
          conn -> Router.dispatch(@edge_router, conn)
        end
      end
    end
  end

  defp route_ast(method, path, module, action) do
    quote do
      @edge_routes {unquote(method), unquote(path), {unquote(module), unquote(action)}}
    end
  end
end
