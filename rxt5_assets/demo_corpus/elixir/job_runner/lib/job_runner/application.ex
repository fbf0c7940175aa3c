defmodule JobRunner.Application do
  @moduledoc """
  Starts the default `JobRunner` instance with settings from the
  `:job_runner` application environment.
  """

  use Application

  require Logger

  @impl true
  def start(_type, _args) do
    env = Application.get_all_env(:job_runner)

    opts = [
      instance: JobRunner,
      pool_size: Keyword.get(env, :pool_size, System.schedulers_online()),
      poll_interval_ms: Keyword.get(env, :poll_interval_ms, 250),
      scheduler_tick_ms: Keyword.get(env, :scheduler_tick_ms, 1_000)
    ]

    Logger.info("starting job runner with #{opts[:pool_size]} workers")
    JobRunner.Supervisor.start_link(opts)
  end

  @impl true
  def prep_stop(state) do
    Logger.info("job runner stopping; in-flight jobs will be retried on next start")
    state
  end
end
