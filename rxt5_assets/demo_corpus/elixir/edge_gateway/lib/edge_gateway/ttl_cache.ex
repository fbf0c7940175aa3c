defmodule EdgeGateway.TtlCache do
  @moduledoc """
  A time-to-live cache backed by a named ETS table.

  Reads go straight to ETS from the calling process, so they never queue
  behind the owner. Writes and sweeps are serialised through the
  GenServer that owns the table. Expired entries are invisible to `get/2`
  immediately and are physically removed by a periodic sweep or an
  explicit `evict_expired/1`.
  """

  use GenServer

  @type cache :: atom()
  @type ttl :: pos_integer() | :infinity

  @default_ttl_ms 60_000
  @default_sweep_ms 5_000

  @doc """
  Starts a cache. `:name` is required and doubles as the ETS table name.

  ## Options

    * `:default_ttl_ms` - TTL used by `put/3` (default 60s)
    * `:sweep_interval_ms` - how often expired entries are evicted
  """
  @spec start_link(keyword()) :: GenServer.on_start()
  def start_link(opts) do
    name = Keyword.fetch!(opts, :name)
    GenServer.start_link(__MODULE__, opts, name: name)
  end

  @spec child_spec(keyword()) :: Supervisor.child_spec()
  def child_spec(opts) do
    %{id: {__MODULE__, Keyword.fetch!(opts, :name)}, start: {__MODULE__, :start_link, [opts]}}
  end

  @doc """
  Looks up `key`. Entries past their expiry are reported as `:miss`.
  """
  @spec get(cache(), term()) :: {:ok, term()} | :miss
  def get(cache, key) do
    now = now_ms()

    case :ets.lookup(cache, key) do
      [{^key, value, expires_at}] when expires_at == :infinity or expires_at > now -> {:ok, value}
      _ -> :miss
    end
  end

  @doc """
  Stores `value` under `key` for `ttl_ms` milliseconds (or `:infinity`).
  """
  @spec put(cache(), term(), term(), ttl() | nil) :: :ok
  def put(cache, key, value, ttl_ms \\ nil) do
    GenServer.call(cache, {:put, key, value, ttl_ms})
  end

  @spec delete(cache(), term()) :: :ok
  def delete(cache, key), do: GenServer.call(cache, {:delete, key})

  @doc """
  Returns the cached value or computes it with `fun`, caching only
  `{:ok, value}` results.
  """
  @spec fetch(cache(), term(), (() -> {:ok, term()} | {:error, term()}), keyword()) ::
          {:ok, term()} | {:error, term()}
  def fetch(cache, key, fun, opts \\ []) when is_function(fun, 0) do
    case get(cache, key) do
      {:ok, value} ->
        {:ok, value}

      :miss ->
        with {:ok, value} <- fun.() do
          :ok = put(cache, key, value, Keyword.get(opts, :ttl_ms))
          {:ok, value}
        end
    end
  end

  @doc """
  Removes every expired entry and returns how many were evicted.
  """
  @spec evict_expired(cache()) :: non_neg_integer()
  def evict_expired(cache), do: GenServer.call(cache, :evict_expired)

  @doc """
  Number of entries physically stored, including expired ones not yet
  swept.
  """
  @spec size(cache()) :: non_neg_integer()
  def size(cache), do: :ets.info(cache, :size)

  @spec clear(cache()) :: :ok
  def clear(cache), do: GenServer.call(cache, :clear)

  ## Callbacks

  @impl true
  def init(opts) do
    name = Keyword.fetch!(opts, :name)
    table = :ets.new(name, [:named_table, :set, :protected, read_concurrency: true])

    state = %{
      table: table,
      default_ttl: Keyword.get(opts, :default_ttl_ms, @default_ttl_ms),
      sweep_ms: Keyword.get(opts, :sweep_interval_ms, @default_sweep_ms)
    }

    schedule_sweep(state)
    {:ok, state}
  end

  @impl true
  def handle_call({:put, key, value, ttl}, _from, state) do
    true = :ets.insert(state.table, {key, value, expires_at(ttl || state.default_ttl)})
    {:reply, :ok, state}
  end

  def handle_call({:delete, key}, _from, state) do
    :ets.delete(state.table, key)
    {:reply, :ok, state}
  end

  def handle_call(:evict_expired, _from, state), do: {:reply, sweep(state.table), state}

  def handle_call(:clear, _from, state) do
    :ets.delete_all_objects(state.table)
    {:reply, :ok, state}
  end

  @impl true
  def handle_info(:sweep, state) do
    sweep(state.table)
    schedule_sweep(state)
    {:noreply, state}
  end

  defp sweep(table) do
    now = now_ms()
    # Atoms sort after numbers, so :infinity never matches `=< now`.
    :ets.select_delete(table, [{{:_, :_, :"$1"}, [{:"=<", :"$1", now}], [true]}])
  end

  defp expires_at(:infinity), do: :infinity
  defp expires_at(ttl) when is_integer(ttl) and ttl > 0, do: now_ms() + ttl

  defp schedule_sweep(%{sweep_ms: :never}), do: :ok
  defp schedule_sweep(%{sweep_ms: interval}), do: Process.send_after(self(), :sweep, interval)

  defp now_ms, do: System.monotonic_time(:millisecond)
end
