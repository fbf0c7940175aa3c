defmodule JobRunner.WorkerPoolTest do
  use ExUnit.Case, async: false

  alias JobRunner.{Job, Metrics, WorkerPool, WorkerSupervisor}
  alias JobRunner.Workers.{DigestReport, Echo}

  doctest JobRunner.Supervisor

  setup do
    instance = Module.concat(__MODULE__, "I#{System.unique_integer([:positive])}")

    start_supervised!(
      {JobRunner.Supervisor,
       instance: instance, pool_size: 2, poll_interval_ms: 10, scheduler_tick_ms: :manual}
    )

    names = JobRunner.Supervisor.names(instance)
    :ok = JobRunner.subscribe(instance: instance)
    %{instance: instance, names: names}
  end

  test "runs enqueued jobs end to end", %{instance: instance, names: names} do
    {:ok, job} = JobRunner.enqueue(Echo, %{reply_to: self(), n: 1}, instance: instance)

    assert_receive {:echo, %{n: 1}}, 1_000
    job_id = job.id
    assert_receive {:event, :jobs, {:succeeded, %Job{id: ^job_id}}}, 1_000
    assert Metrics.counter(names.metrics, {:jobs, :succeeded}) == 1
  end

  test "retries failing jobs", %{instance: instance} do
    {:ok, counter} = Agent.start_link(fn -> 0 end)
    args = %{reply_to: self(), fail_times: 2, attempt_counter: counter}
    {:ok, _job} = JobRunner.enqueue(Echo, args, instance: instance)

    assert_receive {:echo, %{fail_times: 2}}, 2_000
    assert Agent.get(counter, & &1) == 3
  end

  test "jobs that time out end up dead", %{instance: instance} do
    {:ok, _job} =
      JobRunner.enqueue(Echo, %{reply_to: self(), sleep_ms: 5_000},
        instance: instance,
        max_attempts: 1
      )

    assert_receive {:event, :jobs, {:dead, %Job{errors: [%{reason: :timeout}]}}}, 3_000
    assert [%{"state" => "dead"}] = JobRunner.dead_letters(instance: instance)
  end

  test "workers can return results", %{instance: instance} do
    events = [
      %{account: "a", kind: "api", units: 3},
      %{account: "a", kind: "ui", units: 1},
      :garbage
    ]

    {:ok, _} = JobRunner.enqueue(DigestReport, %{events: events}, instance: instance)
    assert_receive {:event, :jobs, {:succeeded, %Job{worker: DigestReport}}}, 1_000

    assert {:ok, %{"a" => %{total: 4, top_kinds: [{"api", 3}, {"ui", 1}]}}} =
             DigestReport.perform(%{events: events})
  end

  test "resize/2 grows and shrinks the pool", %{names: names} do
    assert %{size: 2, running: 2} = WorkerPool.info(names.pool)
    :ok = WorkerPool.resize(names.pool, 4)
    assert WorkerSupervisor.worker_count(names.worker_supervisor) == 4
    :ok = JobRunner.resize_pool(names.pool, 1)
    assert %{size: 1, running: 1} = WorkerPool.info(names.pool)
  end

  test "crashed workers are replaced", %{names: names} do
    [victim | _] = WorkerSupervisor.workers(names.worker_supervisor)
    Process.exit(victim, :kill)

    assert eventually(fn -> match?(%{running: 2, restarts: 1}, WorkerPool.info(names.pool)) end)
    refute victim in WorkerSupervisor.workers(names.worker_supervisor)
  end

  test "stats/1 aggregates queue, pool and metrics", %{instance: instance} do
    assert %{queue: %{queued: 0}, pool: %{size: 2}, metrics: %{counters: _}} =
             JobRunner.stats(instance: instance)
  end

  defp eventually(check, attempts \\ 100) do
    cond do
      check.() ->
        true

      attempts == 0 ->
        false

      true ->
        Process.sleep(10)
        eventually(check, attempts - 1)
    end
  end
end
