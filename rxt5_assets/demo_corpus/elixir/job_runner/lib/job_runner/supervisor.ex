defmodule JobRunner.Supervisor do
  @moduledoc """
  The root of a job runner instance.

      JobRunner.Supervisor
      ├── EventBus          (Registry)
      ├── Metrics           (Agent)
      ├── JobQueue          (GenServer)
      ├── WorkerSupervisor  (DynamicSupervisor)
      ├── WorkerPool        (GenServer)
      └── Scheduler         (GenServer)

  The strategy is `:rest_for_one`: if the queue crashes, everything
  started after it (workers, pool, scheduler) is restarted too, because
  they hold references to in-flight jobs that no longer exist.

  Several instances can run side by side by passing a different
  `:instance` prefix; process names are derived from it with `names/1`.
  """

  use Supervisor

  alias JobRunner.{EventBus, JobQueue, Metrics, Scheduler, WorkerPool, WorkerSupervisor}

  @type names :: %{
          supervisor: atom(),
          bus: atom(),
          metrics: atom(),
          queue: atom(),
          worker_supervisor: atom(),
          pool: atom(),
          scheduler: atom()
        }

  @spec start_link(keyword()) :: Supervisor.on_start()
  def start_link(opts \\ []) do
    names = opts |> Keyword.get(:instance, JobRunner) |> names()
    Supervisor.start_link(__MODULE__, Keyword.put(opts, :names, names), name: names.supervisor)
  end

  @doc """
  Registered names of the processes of an instance.

      iex> JobRunner.Supervisor.names(Billing).queue
      Billing.JobQueue
  """
  @spec names(atom()) :: names()
  def names(instance) do
    %{
      supervisor: Module.concat(instance, "Supervisor"),
      bus: Module.concat(instance, "EventBus"),
      metrics: Module.concat(instance, "Metrics"),
      queue: Module.concat(instance, "JobQueue"),
      worker_supervisor: Module.concat(instance, "WorkerSupervisor"),
      pool: Module.concat(instance, "WorkerPool"),
      scheduler: Module.concat(instance, "Scheduler")
    }
  end

  @impl true
  def init(opts) do
    names = Keyword.fetch!(opts, :names)

    worker_opts = [
      queue: names.queue,
      metrics: names.metrics,
      poll_interval_ms: Keyword.get(opts, :poll_interval_ms, 250)
    ]

    children = [
      {EventBus, name: names.bus},
      {Metrics, name: names.metrics},
      {JobQueue, name: names.queue, bus: names.bus},
      {WorkerSupervisor, name: names.worker_supervisor},
      {WorkerPool,
       name: names.pool,
       supervisor: names.worker_supervisor,
       size: Keyword.get(opts, :pool_size, System.schedulers_online()),
       restart_policy: Keyword.get(opts, :restart_policy, []),
       worker_opts: worker_opts},
      {Scheduler,
       name: names.scheduler,
       queue: names.queue,
       tick_ms: Keyword.get(opts, :scheduler_tick_ms, 1_000)}
    ]

    Supervisor.init(children, strategy: :rest_for_one, max_restarts: 5, max_seconds: 30)
  end
end
