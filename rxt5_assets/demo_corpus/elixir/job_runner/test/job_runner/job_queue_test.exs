defmodule JobRunner.JobQueueTest do
  use ExUnit.Case, async: true

  alias JobRunner.{EventBus, Job, JobQueue, PriorityQueue}
  alias JobRunner.Workers.Echo

  setup do
    bus = :"bus_#{System.unique_integer([:positive])}"
    start_supervised!({EventBus, name: bus})
    queue = start_supervised!({JobQueue, name: nil, bus: bus})
    %{queue: queue, bus: bus}
  end

  defp job!(opts) do
    {:ok, job} = Job.new(Echo, %{reply_to: self()}, opts)
    job
  end

  describe "enqueue/2 and dequeue/1" do
    test "dequeues in priority order, FIFO within a priority", %{queue: queue} do
      for {id, priority} <- [{"low", 9}, {"first", 1}, {"second", 1}, {"urgent", 0}] do
        {:ok, _} = JobQueue.enqueue(queue, job!(id: id, priority: priority))
      end

      ids =
        Stream.repeatedly(fn -> JobQueue.dequeue(queue) end)
        |> Enum.take(4)
        |> Enum.map(fn {:ok, job} -> job.id end)

      assert ids == ["urgent", "first", "second", "low"]
      assert :empty = JobQueue.dequeue(queue)
    end

    test "marks dequeued jobs as running and counts attempts", %{queue: queue} do
      {:ok, _} = JobQueue.enqueue(queue, job!(id: "a"))
      assert {:ok, %Job{state: :running, attempt: 1}} = JobQueue.dequeue(queue)
      assert %{queued: 0, in_flight: 1} = JobQueue.counts(queue)
    end

    test "rejects duplicate ids", %{queue: queue} do
      {:ok, _} = JobQueue.enqueue(queue, job!(id: "dup"))
      assert {:error, :duplicate_job} = JobQueue.enqueue(queue, job!(id: "dup"))
    end

    test "holds back jobs scheduled in the future", %{queue: queue} do
      later = DateTime.add(DateTime.utc_now(), 3_600, :second)
      {:ok, _} = JobQueue.enqueue(queue, job!(scheduled_at: later))
      assert :empty = JobQueue.dequeue(queue)
      assert %{delayed: 1} = JobQueue.counts(queue)
    end
  end

  describe "ack/2 and nack/4" do
    setup %{queue: queue} do
      {:ok, _} = JobQueue.enqueue(queue, job!(id: "j1", max_attempts: 2))
      {:ok, job} = JobQueue.dequeue(queue)
      %{job: job}
    end

    test "ack completes the job", %{queue: queue, job: job} do
      assert :ok = JobQueue.ack(queue, job.id)
      assert {:error, :not_in_flight} = JobQueue.ack(queue, job.id)
    end

    test "failures are retried until attempts run out", %{queue: queue, job: job} do
      assert {:ok, :retrying} = JobQueue.nack(queue, job.id, :boom)
      assert {:ok, %Job{attempt: 2} = again} = JobQueue.dequeue(queue)
      assert {:ok, :dead} = JobQueue.nack(queue, again.id, :boom_again)

      assert [%Job{id: "j1", state: :dead, errors: errors}] = JobQueue.dead_letters(queue)
      assert Enum.map(errors, & &1.reason) == [:boom_again, :boom]
    end

    test "discarded jobs are never retried", %{queue: queue, job: job} do
      assert {:ok, :dead} = JobQueue.nack(queue, job.id, :bad_input, :discard)
      assert :empty = JobQueue.dequeue(queue)
    end

    test "snoozing does not use up an attempt", %{queue: queue, job: job} do
      assert {:ok, :queued} = JobQueue.nack(queue, job.id, :later, {:snooze, 1})
      Process.sleep(5)
      assert {:ok, %Job{attempt: 1}} = JobQueue.dequeue(queue)
    end

    test "dead jobs can be resurrected", %{queue: queue, job: job} do
      {:ok, :dead} = JobQueue.nack(queue, job.id, :bad, :discard)
      assert {:ok, %Job{state: :queued, attempt: 0}} = JobQueue.retry_dead(queue, "j1")
      assert %{queued: 1, dead: 0} = JobQueue.counts(queue)
    end
  end

  test "cancel/2 removes waiting jobs", %{queue: queue} do
    {:ok, _} = JobQueue.enqueue(queue, job!(id: "c1"))
    assert :ok = JobQueue.cancel(queue, "c1")
    assert {:error, :not_found} = JobQueue.cancel(queue, "c1")
    assert :empty = JobQueue.dequeue(queue)
  end

  test "publishes lifecycle events", %{queue: queue, bus: bus} do
    :ok = EventBus.subscribe(bus, :jobs)
    {:ok, _} = JobQueue.enqueue(queue, job!(id: "e1"))
    {:ok, _} = JobQueue.dequeue(queue)
    :ok = JobQueue.ack(queue, "e1")

    assert_receive {:event, :jobs, {:enqueued, %Job{id: "e1"}}}
    assert_receive {:event, :jobs, {:started, %Job{id: "e1"}}}
    assert_receive {:event, :jobs, {:succeeded, %Job{id: "e1", state: :succeeded}}}
  end

  describe "PriorityQueue" do
    test "push/pop round trip" do
      pq =
        Enum.reduce([{:b, 2}, {:a, 1}, {:c, 2}], PriorityQueue.new(), fn {x, p}, acc ->
          PriorityQueue.push(acc, x, p)
        end)

      assert PriorityQueue.to_list(pq) == [:a, :b, :c]
      assert {:ok, :a, rest} = PriorityQueue.pop(pq)
      assert PriorityQueue.size(rest) == 2
      assert PriorityQueue.reject(rest, &(&1 == :b)) |> PriorityQueue.to_list() == [:c]
    end
  end
end
