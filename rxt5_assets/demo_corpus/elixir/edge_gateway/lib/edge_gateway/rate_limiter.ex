defmodule EdgeGateway.RateLimiter do
  @moduledoc """
  Per-key rate limiting with one `EdgeGateway.TokenBucket` per client.

  Buckets are created lazily on first use and swept away once they have
  refilled completely, so idle clients cost nothing. All bucket state is
  owned by this process; callers only see `:ok` or the retry delay.
  """

  use GenServer

  alias EdgeGateway.TokenBucket

  @default_sweep_ms 60_000

  @type key :: term()
  @type option ::
          {:name, GenServer.name() | nil}
          | {:capacity, pos_integer()}
          | {:refill_rate, number()}
          | {:sweep_interval_ms, pos_integer()}
          | {:clock, (() -> integer())}

  @doc """
  Starts a limiter.

  ## Options

    * `:capacity` - burst size per key (default 10)
    * `:refill_rate` - tokens per second (default 5)
    * `:sweep_interval_ms` - how often idle buckets are dropped
    * `:clock` - zero-arity function returning milliseconds; tests inject
      a fake clock here
  """
  @spec start_link([option()]) :: GenServer.on_start()
  def start_link(opts \\ []) do
    {name, opts} = Keyword.pop(opts, :name, __MODULE__)
    GenServer.start_link(__MODULE__, opts, name: name)
  end

  @doc """
  Takes `cost` tokens from the bucket for `key`.
  """
  @spec try_acquire(GenServer.server(), key(), pos_integer()) ::
          :ok | {:error, :rate_limited, non_neg_integer()}
  def try_acquire(server \\ __MODULE__, key, cost \\ 1) do
    GenServer.call(server, {:acquire, key, cost})
  end

  @doc """
  Tokens left for `key` without consuming any.
  """
  @spec remaining(GenServer.server(), key()) :: non_neg_integer()
  def remaining(server \\ __MODULE__, key), do: GenServer.call(server, {:remaining, key})

  @doc """
  Forgets the bucket of `key`, restoring its full burst.
  """
  @spec reset(GenServer.server(), key()) :: :ok
  def reset(server \\ __MODULE__, key), do: GenServer.cast(server, {:reset, key})

  @spec bucket_count(GenServer.server()) :: non_neg_integer()
  def bucket_count(server \\ __MODULE__), do: GenServer.call(server, :bucket_count)

  ## Callbacks

  @impl true
  def init(opts) do
    state = %{
      capacity: Keyword.get(opts, :capacity, 10),
      refill_rate: Keyword.get(opts, :refill_rate, 5),
      sweep_ms: Keyword.get(opts, :sweep_interval_ms, @default_sweep_ms),
      clock: Keyword.get(opts, :clock, fn -> System.monotonic_time(:millisecond) end),
      buckets: %{}
    }

    schedule_sweep(state.sweep_ms)
    {:ok, state}
  end

  @impl true
  def handle_call({:acquire, key, cost}, _from, state) do
    now = state.clock.()
    bucket = bucket_for(state, key, now)

    case TokenBucket.try_acquire(bucket, cost, now) do
      {:ok, bucket} ->
        {:reply, :ok, put_bucket(state, key, bucket)}

      {:error, retry_after, bucket} ->
        {:reply, {:error, :rate_limited, retry_after}, put_bucket(state, key, bucket)}
    end
  end

  def handle_call({:remaining, key}, _from, state) do
    now = state.clock.()
    {:reply, state |> bucket_for(key, now) |> TokenBucket.available(now), state}
  end

  def handle_call(:bucket_count, _from, state), do: {:reply, map_size(state.buckets), state}

  @impl true
  def handle_cast({:reset, key}, state) do
    {:noreply, %{state | buckets: Map.delete(state.buckets, key)}}
  end

  @impl true
  def handle_info(:sweep, state) do
    now = state.clock.()

    buckets =
      state.buckets
      |> Enum.reject(fn {_key, bucket} -> TokenBucket.full?(bucket, now) end)
      |> Map.new()

    schedule_sweep(state.sweep_ms)
    {:noreply, %{state | buckets: buckets}}
  end

  defp bucket_for(%{buckets: buckets} = state, key, now) do
    case buckets do
      %{^key => bucket} -> bucket
      _ -> TokenBucket.new(state.capacity, state.refill_rate, now)
    end
  end

  defp put_bucket(state, key, bucket), do: %{state | buckets: Map.put(state.buckets, key, bucket)}

  defp schedule_sweep(interval), do: Process.send_after(self(), :sweep, interval)
end
