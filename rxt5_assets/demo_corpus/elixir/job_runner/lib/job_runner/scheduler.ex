defmodule JobRunner.Scheduler do
  @moduledoc """
  Enqueues jobs on a schedule.

  Three kinds of schedule are supported:

    * `{:cron, "*/5 * * * *"}` - see `JobRunner.CronExpression`
    * `{:every, milliseconds}` - fixed interval from the previous run
    * `{:at, %DateTime{}}` - once, then the entry is removed

  Every `:tick_ms` the scheduler enqueues whatever is due into its
  `JobRunner.JobQueue`. Missed runs (e.g. while the node was down) are
  not replayed: after a run the next time is always computed from "now".
  """

  use GenServer

  require Logger

  alias JobRunner.{CronExpression, Job, JobQueue}

  @type spec :: {:cron, String.t()} | {:every, pos_integer()} | {:at, DateTime.t()}
  @type entry :: %{
          name: term(),
          spec: spec(),
          worker: module(),
          args: map(),
          job_opts: keyword(),
          next_run: DateTime.t(),
          compiled: CronExpression.t() | nil
        }

  @spec start_link(keyword()) :: GenServer.on_start()
  def start_link(opts \\ []) do
    {name, opts} = Keyword.pop(opts, :name, __MODULE__)
    GenServer.start_link(__MODULE__, opts, name: name)
  end

  @doc """
  Adds or replaces the schedule called `name`. Returns the first run time.
  """
  @spec schedule(GenServer.server(), term(), spec(), module(), map(), keyword()) ::
          {:ok, DateTime.t()} | {:error, term()}
  def schedule(server \\ __MODULE__, name, spec, worker, args \\ %{}, job_opts \\ []) do
    GenServer.call(server, {:schedule, name, spec, worker, args, job_opts})
  end

  @spec unschedule(GenServer.server(), term()) :: :ok | {:error, :not_found}
  def unschedule(server \\ __MODULE__, name), do: GenServer.call(server, {:unschedule, name})

  @doc """
  The entry that will fire next, if any.
  """
  @spec next_due(GenServer.server()) :: {:ok, {term(), DateTime.t()}} | :none
  def next_due(server \\ __MODULE__), do: GenServer.call(server, :next_due)

  @doc """
  Enqueues everything due now. Called on every tick; exposed so tests
  and admin tooling can trigger it.
  """
  @spec run_due(GenServer.server()) :: {:ok, [term()]}
  def run_due(server \\ __MODULE__), do: GenServer.call(server, :run_due)

  @spec entries(GenServer.server()) :: [entry()]
  def entries(server \\ __MODULE__), do: GenServer.call(server, :entries)

  ## Callbacks

  @impl true
  def init(opts) do
    state = %{
      queue: Keyword.get(opts, :queue, JobQueue),
      tick_ms: Keyword.get(opts, :tick_ms, 1_000),
      clock: Keyword.get(opts, :clock, &DateTime.utc_now/0),
      entries: %{}
    }

    schedule_tick(state.tick_ms)
    {:ok, state}
  end

  @impl true
  def handle_call({:schedule, name, spec, worker, args, job_opts}, _from, state) do
    now = state.clock.()

    with {:ok, compiled} <- compile(spec),
         {:ok, next_run} <- first_run(spec, compiled, now) do
      entry = %{
        name: name,
        spec: spec,
        worker: worker,
        args: args,
        job_opts: job_opts,
        next_run: next_run,
        compiled: compiled
      }

      {:reply, {:ok, next_run}, put_in(state.entries[name], entry)}
    else
      {:error, _} = error -> {:reply, error, state}
    end
  end

  def handle_call({:unschedule, name}, _from, state) do
    if Map.has_key?(state.entries, name) do
      {:reply, :ok, %{state | entries: Map.delete(state.entries, name)}}
    else
      {:reply, {:error, :not_found}, state}
    end
  end

  def handle_call(:next_due, _from, %{entries: entries} = state) when map_size(entries) == 0 do
    {:reply, :none, state}
  end

  def handle_call(:next_due, _from, state) do
    %{name: name, next_run: at} =
      state.entries |> Map.values() |> Enum.min_by(& &1.next_run, DateTime)

    {:reply, {:ok, {name, at}}, state}
  end

  def handle_call(:run_due, _from, state) do
    {fired, state} = fire_due(state)
    {:reply, {:ok, fired}, state}
  end

  def handle_call(:entries, _from, state) do
    {:reply, state.entries |> Map.values() |> Enum.sort_by(& &1.next_run, DateTime), state}
  end

  @impl true
  def handle_info(:tick, state) do
    {_fired, state} = fire_due(state)
    schedule_tick(state.tick_ms)
    {:noreply, state}
  end

  defp fire_due(state) do
    now = state.clock.()

    due =
      state.entries
      |> Map.values()
      |> Enum.filter(&(DateTime.compare(&1.next_run, now) != :gt))
      |> Enum.sort_by(& &1.next_run, DateTime)

    entries =
      Enum.reduce(due, state.entries, fn entry, acc ->
        enqueue(state.queue, entry)

        case advance(entry, now) do
          {:ok, next_run} -> Map.put(acc, entry.name, %{entry | next_run: next_run})
          :done -> Map.delete(acc, entry.name)
        end
      end)

    {Enum.map(due, & &1.name), %{state | entries: entries}}
  end

  defp enqueue(queue, %{name: name, worker: worker, args: args, job_opts: opts}) do
    with {:ok, job} <- Job.new(worker, args, opts),
         {:ok, _job} <- JobQueue.enqueue(queue, job) do
      :ok
    else
      {:error, reason} ->
        Logger.error("schedule #{inspect(name)} could not enqueue: #{inspect(reason)}")
    end
  end

  defp compile({:cron, expression}), do: CronExpression.parse(expression)
  defp compile({:every, ms}) when is_integer(ms) and ms > 0, do: {:ok, nil}
  defp compile({:at, %DateTime{}}), do: {:ok, nil}
  defp compile(spec), do: {:error, {:invalid_spec, spec}}

  defp first_run({:cron, _}, compiled, now), do: CronExpression.next_after(compiled, now)
  defp first_run({:every, ms}, _compiled, now), do: {:ok, DateTime.add(now, ms, :millisecond)}
  defp first_run({:at, at}, _compiled, _now), do: {:ok, at}

  defp advance(%{spec: {:cron, _}, compiled: compiled}, now) do
    case CronExpression.next_after(compiled, now) do
      {:ok, next_run} -> {:ok, next_run}
      {:error, :no_match} -> :done
    end
  end

  defp advance(%{spec: {:every, ms}}, now), do: {:ok, DateTime.add(now, ms, :millisecond)}
  defp advance(%{spec: {:at, _}}, _now), do: :done

  defp schedule_tick(:manual), do: :ok
  defp schedule_tick(ms), do: Process.send_after(self(), :tick, ms)
end
