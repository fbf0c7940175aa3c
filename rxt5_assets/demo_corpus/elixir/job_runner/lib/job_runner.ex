defmodule JobRunner do
  @moduledoc """
  Background job processing.

      {:ok, job} = JobRunner.enqueue(MyApp.Workers.SendInvoice, %{invoice_id: 42})
      {:ok, _next} = JobRunner.schedule(:nightly_digest, {:cron, "@daily"}, MyApp.Workers.Digest)

  All functions act on the default instance started by the application.
  Pass `instance: SomeName` to target an instance started with
  `JobRunner.Supervisor.start_link(instance: SomeName)`.
  """

  alias JobRunner.{EventBus, Job, JobQueue, Metrics, Scheduler, Serializable, WorkerPool}
  alias JobRunner.Supervisor, as: RunnerSupervisor

  @doc """
  Builds and enqueues a job.

  Accepts the `JobRunner.Job.new/3` options plus `:instance`.
  """
  @spec enqueue(module(), map(), keyword()) :: {:ok, Job.t()} | {:error, term()}
  def enqueue(worker, args \\ %{}, opts \\ []) do
    {names, opts} = names(opts)

    with {:ok, job} <- Job.new(worker, args, opts) do
      JobQueue.enqueue(names.queue, job)
    end
  end

  @doc """
  Registers a recurring or one-off schedule; see `JobRunner.Scheduler`.
  """
  @spec schedule(term(), Scheduler.spec(), module(), map(), keyword()) ::
          {:ok, DateTime.t()} | {:error, term()}
  def schedule(name, spec, worker, args \\ %{}, opts \\ []) do
    {names, opts} = names(opts)
    Scheduler.schedule(names.scheduler, name, spec, worker, args, opts)
  end

  @doc """
  Subscribes the caller to job lifecycle events: messages of the form
  `{:event, :jobs, {event, %Job{}}}`.
  """
  @spec subscribe(keyword()) :: :ok
  def subscribe(opts \\ []) do
    {names, _opts} = names(opts)
    EventBus.subscribe(names.bus, :jobs)
  end

  @doc """
  Queue counts, pool information and metrics in one map.
  """
  @spec stats(keyword()) :: map()
  def stats(opts \\ []) do
    {names, _opts} = names(opts)

    %{
      queue: JobQueue.counts(names.queue),
      pool: WorkerPool.info(names.pool),
      metrics: Metrics.snapshot(names.metrics)
    }
  end

  @doc """
  Dead jobs as serialisable maps, for the admin API.
  """
  @spec dead_letters(keyword()) :: [map()]
  def dead_letters(opts \\ []) do
    {names, _opts} = names(opts)
    names.queue |> JobQueue.dead_letters() |> Enum.map(&Serializable.to_map/1)
  end

  defdelegate resize_pool(pool, size), to: WorkerPool, as: :resize

  defp names(opts) do
    {instance, opts} = Keyword.pop(opts, :instance, __MODULE__)
    {RunnerSupervisor.names(instance), opts}
  end
end
