defmodule JobRunner.WorkerProcess do
  @moduledoc """
  A long-lived process that pulls jobs from a `JobRunner.JobQueue` and
  executes them one at a time.

  When the queue is empty the process sleeps for `:poll_interval_ms`
  before asking again; after a job it asks again immediately, so a busy
  queue is drained without delay. The job itself runs in a task (see
  `JobRunner.Worker.execute/3`), so a crashing job never takes the worker
  down.
  """

  use GenServer, restart: :temporary

  require Logger

  alias JobRunner.{Job, JobQueue, Metrics, Worker}

  @default_poll_ms 250

  @spec start_link(keyword()) :: GenServer.on_start()
  def start_link(opts) do
    GenServer.start_link(__MODULE__, opts)
  end

  @doc """
  Returns `:idle` or `{:busy, job_id}`.
  """
  @spec status(pid()) :: :idle | {:busy, String.t()}
  def status(pid), do: GenServer.call(pid, :status)

  @doc """
  Asks the worker to stop after the current job.
  """
  @spec drain(pid()) :: :ok
  def drain(pid), do: GenServer.cast(pid, :drain)

  @impl true
  def init(opts) do
    state = %{
      queue: Keyword.fetch!(opts, :queue),
      metrics: Keyword.get(opts, :metrics),
      poll_ms: Keyword.get(opts, :poll_interval_ms, @default_poll_ms),
      current: nil,
      draining: false
    }

    {:ok, state, {:continue, :poll}}
  end

  @impl true
  def handle_continue(:poll, state), do: poll(state)

  @impl true
  def handle_info(:poll, state), do: poll(state)

  @impl true
  def handle_call(:status, _from, %{current: nil} = state), do: {:reply, :idle, state}
  def handle_call(:status, _from, %{current: id} = state), do: {:reply, {:busy, id}, state}

  @impl true
  def handle_cast(:drain, state), do: {:stop, :normal, %{state | draining: true}}

  defp poll(state) do
    case JobQueue.dequeue(state.queue) do
      {:ok, job} ->
        run(job, %{state | current: job.id})
        {:noreply, %{state | current: nil}, {:continue, :poll}}

      :empty ->
        Process.send_after(self(), :poll, state.poll_ms)
        {:noreply, state}
    end
  end

  defp run(%Job{} = job, state) do
    started = System.monotonic_time(:millisecond)
    result = Worker.execute(job.worker, job.args)
    elapsed = System.monotonic_time(:millisecond) - started

    record(state.metrics, job, result, elapsed)
    report(state.queue, job, result)
  end

  defp report(queue, job, result) do
    case result do
      :ok -> JobQueue.ack(queue, job.id)
      {:ok, _value} -> JobQueue.ack(queue, job.id)
      {:error, reason} -> JobQueue.nack(queue, job.id, reason, :error)
      {:discard, reason} -> JobQueue.nack(queue, job.id, reason, :discard)
      {:snooze, ms} -> JobQueue.nack(queue, job.id, :snoozed, {:snooze, ms})
    end
  end

  defp record(nil, _job, _result, _elapsed), do: :ok

  defp record(metrics, job, result, elapsed) do
    outcome =
      case result do
        :ok -> :succeeded
        {:ok, _value} -> :succeeded
        {:snooze, _} -> :snoozed
        _failure -> :failed
      end

    Metrics.increment(metrics, {:jobs, outcome})
    Metrics.observe(metrics, {:job_duration_ms, inspect(job.worker)}, elapsed)
  end
end
