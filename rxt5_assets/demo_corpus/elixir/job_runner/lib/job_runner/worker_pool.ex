defmodule JobRunner.WorkerPool do
  @moduledoc """
  Keeps a target number of `JobRunner.WorkerProcess`es alive.

  The pool starts workers through `JobRunner.WorkerSupervisor` and
  monitors them. When one exits abnormally the `JobRunner.RestartPolicy`
  decides whether to start a replacement and after which delay; if the
  policy gives up, the pool itself stops so that its supervisor can
  escalate.
  """

  use GenServer

  require Logger

  alias JobRunner.{RestartPolicy, WorkerSupervisor}

  @spec start_link(keyword()) :: GenServer.on_start()
  def start_link(opts) do
    {name, opts} = Keyword.pop(opts, :name, __MODULE__)
    GenServer.start_link(__MODULE__, opts, name: name)
  end

  @doc """
  Changes the number of workers. Extra workers are drained; missing ones
  are started immediately.
  """
  @spec resize(GenServer.server(), non_neg_integer()) :: :ok
  def resize(pool \\ __MODULE__, size) when is_integer(size) and size >= 0 do
    GenServer.call(pool, {:resize, size})
  end

  @spec info(GenServer.server()) :: %{
          size: non_neg_integer(),
          running: non_neg_integer(),
          restarts: non_neg_integer()
        }
  def info(pool \\ __MODULE__), do: GenServer.call(pool, :info)

  @impl true
  def init(opts) do
    {:ok, policy} =
      RestartPolicy.new(Keyword.merge([mode: :transient], Keyword.get(opts, :restart_policy, [])))

    state = %{
      supervisor: Keyword.get(opts, :supervisor, WorkerSupervisor),
      worker_opts: Keyword.fetch!(opts, :worker_opts),
      size: Keyword.get(opts, :size, System.schedulers_online()),
      policy: policy,
      workers: %{},
      history: [],
      restarts: 0
    }

    {:ok, state, {:continue, :fill}}
  end

  @impl true
  def handle_continue(:fill, state), do: {:noreply, fill(state)}

  @impl true
  def handle_call({:resize, size}, _from, state) do
    state = %{state | size: size}
    surplus = map_size(state.workers) - size

    state =
      if surplus > 0 do
        state.workers
        |> Map.keys()
        |> Enum.take(surplus)
        |> Enum.reduce(state, fn ref, acc ->
          {pid, workers} = Map.pop(acc.workers, ref)
          Process.demonitor(ref, [:flush])
          WorkerSupervisor.stop_worker(acc.supervisor, pid)
          %{acc | workers: workers}
        end)
      else
        fill(state)
      end

    {:reply, :ok, state}
  end

  def handle_call(:info, _from, state) do
    {:reply, %{size: state.size, running: map_size(state.workers), restarts: state.restarts},
     state}
  end

  @impl true
  def handle_info({:DOWN, ref, :process, _pid, reason}, %{workers: workers} = state)
      when is_map_key(workers, ref) do
    state = %{state | workers: Map.delete(workers, ref)}
    now = System.monotonic_time(:millisecond)

    case RestartPolicy.decide(state.policy, reason, state.history, now) do
      :ignore ->
        {:noreply, state}

      {:restart, delay, history} ->
        Logger.warning("worker exited with #{inspect(reason)}, restarting in #{delay}ms")
        Process.send_after(self(), :refill, delay)
        {:noreply, %{state | history: history, restarts: state.restarts + 1}}

      {:give_up, why} ->
        {:stop, {:shutdown, why}, state}
    end
  end

  def handle_info({:DOWN, _ref, :process, _pid, _reason}, state), do: {:noreply, state}

  def handle_info(:refill, state), do: {:noreply, fill(state)}

  defp fill(%{size: size, workers: workers} = state) when map_size(workers) >= size, do: state

  defp fill(state) do
    case WorkerSupervisor.start_worker(state.supervisor, state.worker_opts) do
      {:ok, pid} ->
        ref = Process.monitor(pid)
        fill(%{state | workers: Map.put(state.workers, ref, pid)})

      {:error, reason} ->
        Logger.error("could not start worker: #{inspect(reason)}")
        Process.send_after(self(), :refill, RestartPolicy.delay(state.policy, 0))
        state
    end
  end
end
