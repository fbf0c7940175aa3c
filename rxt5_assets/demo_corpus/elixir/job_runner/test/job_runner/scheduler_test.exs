defmodule JobRunner.SchedulerTest do
  use ExUnit.Case, async: true

  alias JobRunner.{CronExpression, JobQueue, Scheduler}
  alias JobRunner.Workers.Echo

  doctest JobRunner.CronExpression

  @t0 ~U[2024-05-06 08:59:30Z]

  setup do
    {:ok, clock} = Agent.start_link(fn -> @t0 end)
    queue = start_supervised!({JobQueue, name: nil})

    scheduler =
      start_supervised!(
        {Scheduler,
         name: nil, queue: queue, tick_ms: :manual, clock: fn -> Agent.get(clock, & &1) end}
      )

    %{scheduler: scheduler, queue: queue, clock: clock}
  end

  defp advance(clock, seconds), do: Agent.update(clock, &DateTime.add(&1, seconds, :second))

  describe "schedule/6" do
    test "computes the first run for each kind of spec", %{scheduler: scheduler} do
      assert {:ok, ~U[2024-05-06 09:00:00Z]} =
               Scheduler.schedule(scheduler, :cron, {:cron, "0 * * * *"}, Echo)

      assert {:ok, ~U[2024-05-06 09:00:00Z]} =
               Scheduler.schedule(scheduler, :every, {:every, 30_000}, Echo)

      assert {:ok, ~U[2024-06-01 00:00:00Z]} =
               Scheduler.schedule(scheduler, :once, {:at, ~U[2024-06-01 00:00:00Z]}, Echo)
    end

    test "rejects invalid specs", %{scheduler: scheduler} do
      assert {:error, {:invalid_spec, {:every, 0}}} =
               Scheduler.schedule(scheduler, :bad, {:every, 0}, Echo)

      assert {:error, {:minutes, {:invalid, "61"}}} =
               Scheduler.schedule(scheduler, :bad, {:cron, "61 * * * *"}, Echo)
    end
  end

  describe "next_due/1" do
    test "is :none when nothing is scheduled", %{scheduler: scheduler} do
      assert :none = Scheduler.next_due(scheduler)
    end

    test "returns the soonest entry", %{scheduler: scheduler} do
      {:ok, _} = Scheduler.schedule(scheduler, :hourly, {:cron, "@hourly"}, Echo)
      {:ok, _} = Scheduler.schedule(scheduler, :soon, {:every, 10_000}, Echo)
      assert {:ok, {:soon, ~U[2024-05-06 08:59:40Z]}} = Scheduler.next_due(scheduler)
    end
  end

  describe "run_due/1" do
    test "enqueues due jobs and reschedules them", %{
      scheduler: scheduler,
      queue: queue,
      clock: clock
    } do
      {:ok, _} =
        Scheduler.schedule(scheduler, :every_minute, {:cron, "* * * * *"}, Echo, %{
          reply_to: self()
        })

      {:ok, _} =
        Scheduler.schedule(scheduler, :once, {:at, ~U[2024-05-06 09:00:10Z]}, Echo, %{
          reply_to: self()
        })

      assert {:ok, []} = Scheduler.run_due(scheduler)

      advance(clock, 45)
      assert {:ok, [:every_minute, :once]} = Scheduler.run_due(scheduler)
      assert %{queued: 2} = JobQueue.counts(queue)

      assert [%{name: :every_minute, next_run: ~U[2024-05-06 09:01:00Z]}] =
               Scheduler.entries(scheduler)
    end

    test "unscheduled entries stop firing", %{scheduler: scheduler, clock: clock} do
      {:ok, _} = Scheduler.schedule(scheduler, :tmp, {:every, 1_000}, Echo)
      :ok = Scheduler.unschedule(scheduler, :tmp)
      advance(clock, 5)
      assert {:ok, []} = Scheduler.run_due(scheduler)
      assert {:error, :not_found} = Scheduler.unschedule(scheduler, :tmp)
    end
  end

  describe "CronExpression.next_after/2" do
    test "weekday ranges skip the weekend" do
      cron = CronExpression.parse!("30 9 * * 1-5")
      friday_evening = ~U[2024-05-10 18:00:00Z]
      assert {:ok, ~U[2024-05-13 09:30:00Z]} = CronExpression.next_after(cron, friday_evening)
    end

    test "day-of-month and day-of-week are ORed when both are restricted" do
      cron = CronExpression.parse!("0 0 13 * 5")

      assert {:ok, ~U[2024-05-10 00:00:00Z]} =
               CronExpression.next_after(cron, ~U[2024-05-06 00:00:00Z])
    end

    test "handles month boundaries and leap days" do
      assert {:ok, ~U[2028-02-29 12:00:00Z]} =
               "0 12 29 2 *"
               |> CronExpression.parse!()
               |> CronExpression.next_after(~U[2024-03-01 00:00:00Z])
    end

    test "impossible dates never match" do
      assert {:error, :no_match} =
               "0 0 31 2 *" |> CronExpression.parse!() |> CronExpression.next_after(@t0)
    end

    test "7 means Sunday" do
      {:ok, cron} = CronExpression.parse("0 0 * * 7")
      assert Enum.to_list(cron.weekdays) == [0]
      assert CronExpression.matches?(cron, ~U[2024-05-12 00:00:00Z])
    end

    test "reports malformed expressions" do
      assert {:error, {:expected_five_fields, 3}} = CronExpression.parse("* * *")
      assert {:error, {:hours, {:invalid, "5-2"}}} = CronExpression.parse("0 5-2 * * *")
      assert {:error, {:minutes, {:invalid, "*/0"}}} = CronExpression.parse("*/0 * * * *")
    end
  end
end
