defmodule EdgeGateway.CircuitBreaker do
  @moduledoc """
  A circuit breaker implemented as a `:gen_statem`.

  States:

    * `:closed` - calls flow; consecutive failures are counted and the
      breaker opens once `:failure_threshold` is reached
    * `:open` - calls are rejected immediately with
      `{:error, :circuit_open}` until `:reset_timeout_ms` has elapsed
    * `:half_open` - a limited number of trial calls are let through; one
      success closes the circuit, one failure opens it again

  The protected function runs in the caller's process, so a slow upstream
  never blocks the breaker itself.
  """

  @behaviour :gen_statem

  require Logger

  @type state :: :closed | :open | :half_open
  @type name :: :gen_statem.server_ref()

  @defaults [failure_threshold: 5, reset_timeout_ms: 30_000, half_open_max_calls: 1]

  ## Public API

  @spec child_spec(keyword()) :: Supervisor.child_spec()
  def child_spec(opts) do
    %{
      id: Keyword.get(opts, :name, __MODULE__),
      start: {__MODULE__, :start_link, [opts]},
      type: :worker
    }
  end

  @doc """
  Starts a breaker. Pass `:name` to register it.
  """
  @spec start_link(keyword()) :: :gen_statem.start_ret()
  def start_link(opts \\ []) do
    opts = Keyword.merge(@defaults, opts)

    case Keyword.get(opts, :name) do
      nil -> :gen_statem.start_link(__MODULE__, opts, [])
      name -> :gen_statem.start_link({:local, name}, __MODULE__, opts, [])
    end
  end

  @doc """
  Runs `fun` through the breaker.

  `fun` must return `{:ok, value}` or `{:error, reason}`; errors and
  raised exceptions count as failures. Exceptions are re-raised after
  being recorded.
  """
  @spec call(name(), (() -> {:ok, term()} | {:error, term()})) :: {:ok, term()} | {:error, term()}
  def call(breaker, fun) when is_function(fun, 0) do
    case :gen_statem.call(breaker, :ask) do
      :ok -> run_and_record(breaker, fun)
      {:error, :circuit_open} = rejected -> rejected
    end
  end

  @spec record_failure(name()) :: :ok
  def record_failure(breaker), do: :gen_statem.cast(breaker, :failure)

  @spec record_success(name()) :: :ok
  def record_success(breaker), do: :gen_statem.cast(breaker, :success)

  @doc """
  Current state name.
  """
  @spec state(name()) :: state()
  def state(breaker), do: :gen_statem.call(breaker, :state)

  @doc """
  Forces the breaker back to `:closed`, e.g. from an admin endpoint.
  """
  @spec reset(name()) :: :ok
  def reset(breaker), do: :gen_statem.call(breaker, :reset)

  ## :gen_statem callbacks

  @impl :gen_statem
  def callback_mode, do: :state_functions

  @impl :gen_statem
  def init(opts) do
    data = %{
      name: Keyword.get(opts, :name, self()),
      failures: 0,
      threshold: Keyword.fetch!(opts, :failure_threshold),
      reset_timeout: Keyword.fetch!(opts, :reset_timeout_ms),
      half_open_max: Keyword.fetch!(opts, :half_open_max_calls),
      trials: 0
    }

    {:ok, :closed, data}
  end

  @doc false
  def closed({:call, from}, :ask, _data), do: {:keep_state_and_data, [{:reply, from, :ok}]}

  def closed(:cast, :success, data), do: {:keep_state, %{data | failures: 0}}

  def closed(:cast, :failure, %{failures: failures, threshold: threshold} = data)
      when failures + 1 >= threshold do
    trip(data, :closed)
  end

  def closed(:cast, :failure, data), do: {:keep_state, %{data | failures: data.failures + 1}}

  def closed(event_type, event, data), do: handle_common(event_type, event, :closed, data)

  @doc false
  def open({:call, from}, :ask, _data),
    do: {:keep_state_and_data, [{:reply, from, {:error, :circuit_open}}]}

  def open(:state_timeout, :attempt_reset, data) do
    log_transition(data, :open, :half_open)
    {:next_state, :half_open, %{data | trials: 0}}
  end

  # Results of calls that started before the breaker opened are ignored.
  def open(:cast, result, _data) when result in [:success, :failure], do: :keep_state_and_data

  def open(event_type, event, data), do: handle_common(event_type, event, :open, data)

  @doc false
  def half_open({:call, from}, :ask, %{trials: trials, half_open_max: max} = data)
      when trials < max do
    {:keep_state, %{data | trials: trials + 1}, [{:reply, from, :ok}]}
  end

  def half_open({:call, from}, :ask, _data),
    do: {:keep_state_and_data, [{:reply, from, {:error, :circuit_open}}]}

  def half_open(:cast, :success, data) do
    log_transition(data, :half_open, :closed)
    {:next_state, :closed, %{data | failures: 0, trials: 0}}
  end

  def half_open(:cast, :failure, data), do: trip(data, :half_open)

  def half_open(event_type, event, data), do: handle_common(event_type, event, :half_open, data)

  defp handle_common({:call, from}, :state, state, _data),
    do: {:keep_state_and_data, [{:reply, from, state}]}

  defp handle_common({:call, from}, :reset, state, data) do
    log_transition(data, state, :closed)
    {:next_state, :closed, %{data | failures: 0, trials: 0}, [{:reply, from, :ok}]}
  end

  defp handle_common(event_type, event, state, _data) do
    Logger.warning(
      "circuit breaker in #{state} ignoring #{inspect(event_type)} #{inspect(event)}"
    )

    :keep_state_and_data
  end

  defp trip(data, from) do
    log_transition(data, from, :open)

    {:next_state, :open, %{data | failures: 0, trials: 0},
     [{:state_timeout, data.reset_timeout, :attempt_reset}]}
  end

  defp log_transition(%{name: name}, from, to) do
    Logger.info("circuit breaker #{inspect(name)}: #{from} -> #{to}")
  end

  defp run_and_record(breaker, fun) do
    case fun.() do
      {:ok, _} = ok ->
        record_success(breaker)
        ok

      {:error, _} = error ->
        record_failure(breaker)
        error
    end
  rescue
    exception ->
      record_failure(breaker)
      reraise exception, __STACKTRACE__
  end
end
