defmodule JobRunner.JobQueue do
  @moduledoc """
  The in-memory job queue.

  Jobs wait in a `JobRunner.PriorityQueue` until a worker calls
  `dequeue/1`. A dequeued job is "in flight" until the worker reports the
  outcome with `ack/2` (success) or `nack/3` (failure). Failed jobs with
  attempts left are parked with a backoff delay; the rest go to the dead
  letter list.

  Every state change is published on the event bus under the `:jobs`
  topic as `{event, job}`.
  """

  use GenServer

  require Logger

  alias JobRunner.{EventBus, Job, JobLifecycle, PriorityQueue, Worker}

  @type queue :: GenServer.server()
  @type counts :: %{
          queued: non_neg_integer(),
          delayed: non_neg_integer(),
          in_flight: non_neg_integer(),
          dead: non_neg_integer()
        }

  ## Client API

  @spec start_link(keyword()) :: GenServer.on_start()
  def start_link(opts \\ []) do
    {name, opts} = Keyword.pop(opts, :name, __MODULE__)
    GenServer.start_link(__MODULE__, opts, name: name)
  end

  @doc """
  Adds a job. Jobs with a future `scheduled_at` are held back until due.
  """
  @spec enqueue(queue(), Job.t()) :: {:ok, Job.t()} | {:error, :duplicate_job}
  def enqueue(queue \\ __MODULE__, %Job{} = job), do: GenServer.call(queue, {:enqueue, job})

  @doc """
  Takes the most urgent due job and marks it as running.
  """
  @spec dequeue(queue()) :: {:ok, Job.t()} | :empty
  def dequeue(queue \\ __MODULE__), do: GenServer.call(queue, :dequeue)

  @doc """
  Reports success for an in-flight job.
  """
  @spec ack(queue(), String.t()) :: :ok | {:error, :not_in_flight}
  def ack(queue \\ __MODULE__, job_id), do: GenServer.call(queue, {:ack, job_id})

  @doc """
  Reports failure for an in-flight job. `kind` is `:error` (retry if
  possible), `:discard` (never retry) or `{:snooze, ms}`.
  """
  @spec nack(queue(), String.t(), term(), :error | :discard | {:snooze, pos_integer()}) ::
          {:ok, Job.state()} | {:error, :not_in_flight}
  def nack(queue \\ __MODULE__, job_id, reason, kind \\ :error) do
    GenServer.call(queue, {:nack, job_id, reason, kind})
  end

  @spec cancel(queue(), String.t()) :: :ok | {:error, :not_found}
  def cancel(queue \\ __MODULE__, job_id), do: GenServer.call(queue, {:cancel, job_id})

  @spec counts(queue()) :: counts()
  def counts(queue \\ __MODULE__), do: GenServer.call(queue, :counts)

  @spec dead_letters(queue()) :: [Job.t()]
  def dead_letters(queue \\ __MODULE__), do: GenServer.call(queue, :dead_letters)

  @doc """
  Moves a dead job back to the queue with a fresh set of attempts.
  """
  @spec retry_dead(queue(), String.t()) :: {:ok, Job.t()} | {:error, :not_found}
  def retry_dead(queue \\ __MODULE__, job_id), do: GenServer.call(queue, {:retry_dead, job_id})

  ## Server

  @impl true
  def init(opts) do
    state = %{
      ready: PriorityQueue.new(),
      delayed: [],
      in_flight: %{},
      dead: [],
      bus: Keyword.get(opts, :bus),
      clock: Keyword.get(opts, :clock, &DateTime.utc_now/0)
    }

    {:ok, state}
  end

  @impl true
  def handle_call({:enqueue, job}, _from, state) do
    if known?(state, job.id) do
      {:reply, {:error, :duplicate_job}, state}
    else
      job = %{job | state: :queued}
      publish(state, :enqueued, job)
      {:reply, {:ok, job}, insert(state, job)}
    end
  end

  def handle_call(:dequeue, _from, state) do
    state = promote_due(state)

    case PriorityQueue.pop(state.ready) do
      {:ok, job, ready} ->
        {:ok, job} = JobLifecycle.advance(%{job | attempt: job.attempt + 1}, :start)
        publish(state, :started, job)

        {:reply, {:ok, job},
         %{state | ready: ready, in_flight: Map.put(state.in_flight, job.id, job)}}

      :empty ->
        {:reply, :empty, state}
    end
  end

  def handle_call({:ack, job_id}, _from, state) do
    case Map.pop(state.in_flight, job_id) do
      {nil, _} ->
        {:reply, {:error, :not_in_flight}, state}

      {job, in_flight} ->
        {:ok, job} = JobLifecycle.advance(job, :succeed)
        publish(state, :succeeded, job)
        {:reply, :ok, %{state | in_flight: in_flight}}
    end
  end

  def handle_call({:nack, job_id, reason, kind}, _from, state) do
    case Map.pop(state.in_flight, job_id) do
      {nil, _} ->
        {:reply, {:error, :not_in_flight}, state}

      {job, in_flight} ->
        state = %{state | in_flight: in_flight}
        {job, state} = handle_failure(job, reason, kind, state)
        {:reply, {:ok, job.state}, state}
    end
  end

  def handle_call({:cancel, job_id}, _from, state) do
    matches? = &(&1.id == job_id)

    cond do
      Enum.any?(PriorityQueue.to_list(state.ready), matches?) ->
        {:reply, :ok, %{state | ready: PriorityQueue.reject(state.ready, matches?)}}

      Enum.any?(state.delayed, matches?) ->
        {:reply, :ok, %{state | delayed: Enum.reject(state.delayed, matches?)}}

      true ->
        {:reply, {:error, :not_found}, state}
    end
  end

  def handle_call(:counts, _from, state) do
    counts = %{
      queued: PriorityQueue.size(state.ready),
      delayed: length(state.delayed),
      in_flight: map_size(state.in_flight),
      dead: length(state.dead)
    }

    {:reply, counts, state}
  end

  def handle_call(:dead_letters, _from, state), do: {:reply, Enum.reverse(state.dead), state}

  def handle_call({:retry_dead, job_id}, _from, state) do
    case Enum.split_with(state.dead, &(&1.id == job_id)) do
      {[job], rest} ->
        {:ok, job} = JobLifecycle.advance(%{job | attempt: 0, scheduled_at: nil}, :resurrect)
        publish(state, :enqueued, job)
        {:reply, {:ok, job}, insert(%{state | dead: rest}, job)}

      {[], _} ->
        {:reply, {:error, :not_found}, state}
    end
  end

  defp handle_failure(job, _reason, {:snooze, ms}, state) do
    {:ok, job} = JobLifecycle.advance(%{job | attempt: job.attempt - 1}, :snooze)
    job = %{job | scheduled_at: DateTime.add(state.clock.(), ms, :millisecond)}
    publish(state, :snoozed, job)
    {job, insert(state, job)}
  end

  defp handle_failure(job, reason, kind, state) do
    now = state.clock.()
    job = Job.record_error(job, reason, now)
    event = if kind == :discard, do: :discard, else: :fail
    {:ok, job} = JobLifecycle.advance(job, event)

    case job.state do
      :retrying ->
        delay = backoff_for(job)
        job = %{job | scheduled_at: DateTime.add(now, delay, :millisecond)}
        publish(state, :retrying, job)
        {job, insert(state, job)}

      :dead ->
        Logger.warning(
          "job #{job.id} is dead after #{job.attempt} attempt(s): #{inspect(reason)}"
        )

        publish(state, :dead, job)
        {job, %{state | dead: [job | state.dead]}}
    end
  end

  defp insert(state, %Job{} = job) do
    if Job.due?(job, state.clock.()) do
      %{state | ready: PriorityQueue.push(state.ready, job, job.priority)}
    else
      %{state | delayed: Enum.sort_by([job | state.delayed], & &1.scheduled_at, DateTime)}
    end
  end

  defp promote_due(%{delayed: []} = state), do: state

  defp promote_due(state) do
    now = state.clock.()
    {due, waiting} = Enum.split_with(state.delayed, &Job.due?(&1, now))
    ready = Enum.reduce(due, state.ready, &PriorityQueue.push(&2, &1, &1.priority))
    %{state | ready: ready, delayed: waiting}
  end

  defp known?(state, id) do
    Map.has_key?(state.in_flight, id) or
      Enum.any?(state.delayed, &(&1.id == id)) or
      Enum.any?(PriorityQueue.to_list(state.ready), &(&1.id == id))
  end

  defp backoff_for(%Job{worker: worker, attempt: attempt}) do
    if function_exported?(worker, :backoff_ms, 1),
      do: worker.backoff_ms(attempt),
      else: Worker.default_backoff(attempt)
  end

  defp publish(%{bus: nil}, _event, _job), do: :ok
  defp publish(%{bus: bus}, event, job), do: EventBus.publish(bus, :jobs, {event, job})
end
