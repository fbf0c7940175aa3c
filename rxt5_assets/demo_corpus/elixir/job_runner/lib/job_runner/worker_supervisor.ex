defmodule JobRunner.WorkerSupervisor do
  @moduledoc """
  Dynamic supervisor for `JobRunner.WorkerProcess` children.

  Workers are started as `:temporary` children: restarting them is the
  job of `JobRunner.WorkerPool`, which applies a `JobRunner.RestartPolicy`
  with backoff instead of restarting in a tight loop.
  """

  use DynamicSupervisor

  alias JobRunner.WorkerProcess

  @spec start_link(keyword()) :: Supervisor.on_start()
  def start_link(opts \\ []) do
    {name, opts} = Keyword.pop(opts, :name, __MODULE__)
    DynamicSupervisor.start_link(__MODULE__, opts, name: name)
  end

  @doc """
  Starts one worker with `worker_opts` (see `JobRunner.WorkerProcess`).
  """
  @spec start_worker(Supervisor.supervisor(), keyword()) :: DynamicSupervisor.on_start_child()
  def start_worker(supervisor \\ __MODULE__, worker_opts) do
    DynamicSupervisor.start_child(supervisor, {WorkerProcess, worker_opts})
  end

  @spec stop_worker(Supervisor.supervisor(), pid()) :: :ok | {:error, :not_found}
  def stop_worker(supervisor \\ __MODULE__, pid) do
    DynamicSupervisor.terminate_child(supervisor, pid)
  end

  @spec workers(Supervisor.supervisor()) :: [pid()]
  def workers(supervisor \\ __MODULE__) do
    for {_, pid, :worker, _} <- DynamicSupervisor.which_children(supervisor), is_pid(pid), do: pid
  end

  @spec worker_count(Supervisor.supervisor()) :: non_neg_integer()
  def worker_count(supervisor \\ __MODULE__) do
    supervisor |> DynamicSupervisor.count_children() |> Map.fetch!(:active)
  end

  @impl true
  def init(opts) do
    DynamicSupervisor.init(
      strategy: :one_for_one,
      max_children: Keyword.get(opts, :max_children, :infinity)
    )
  end
end
