defmodule EdgeGateway.Plug do
  @moduledoc """
  The behaviour every gateway middleware implements.

  It deliberately matches the shape of `Plug`: `init/1` runs once when the
  pipeline is built and its result is handed to every `call/2`.

      defmodule MyPlug do
        @behaviour EdgeGateway.Plug

        @impl true
        def init(opts), do: opts

        @impl true
        def call(conn, _opts), do: EdgeGateway.Conn.assign(conn, :seen, true)
      end
  """

  alias EdgeGateway.Conn

  @type opts :: term()
  @type spec :: module() | {module(), keyword()}

  @callback init(opts :: keyword()) :: opts()
  @callback call(conn :: Conn.t(), opts :: opts()) :: Conn.t()

  @doc """
  Initialises a list of plug specs, returning `{module, initialised_opts}`
  tuples ready for `run/2`.
  """
  @spec build([spec()]) :: [{module(), opts()}]
  def build(specs) do
    Enum.map(specs, fn
      {module, opts} when is_atom(module) -> {module, module.init(opts)}
      module when is_atom(module) -> {module, module.init([])}
    end)
  end

  @doc """
  Runs a built pipeline, stopping as soon as a plug halts the connection.
  """
  @spec run(Conn.t(), [{module(), opts()}]) :: Conn.t()
  def run(%Conn{} = conn, pipeline) do
    Enum.reduce_while(pipeline, conn, fn {module, opts}, conn ->
      case module.call(conn, opts) do
        %Conn{halted: true} = halted ->
          {:halt, halted}

        %Conn{} = next ->
          {:cont, next}

        other ->
          raise ArgumentError,
                "#{inspect(module)}.call/2 returned #{inspect(other)} instead of a Conn"
      end
    end)
  end
end
