defmodule JobRunner.MetricsTest do
  use ExUnit.Case, async: true

  alias JobRunner.Metrics

  setup do
    %{metrics: start_supervised!({Metrics, name: nil, buckets: [10, 100]})}
  end

  describe "increment/3" do
    test "starts counters at zero", %{metrics: metrics} do
      assert Metrics.counter(metrics, :jobs) == 0
      :ok = Metrics.increment(metrics, :jobs)
      :ok = Metrics.increment(metrics, :jobs, 4)
      assert Metrics.counter(metrics, :jobs) == 5
    end

    test "supports labelled names", %{metrics: metrics} do
      Metrics.increment(metrics, {:jobs, :failed})
      Metrics.increment(metrics, {:jobs, :succeeded}, 2)
      assert Metrics.counter(metrics, {:jobs, :succeeded}) == 2
    end
  end

  describe "observe/3" do
    test "tracks count, sum, extremes and buckets", %{metrics: metrics} do
      Enum.each([3, 50, 700, 8], &Metrics.observe(metrics, :latency, &1))

      assert %{count: 4, sum: 761, min: 3, max: 700, mean: mean, buckets: buckets} =
               Metrics.summary(metrics, :latency)

      assert mean == 190.25
      assert buckets == %{10 => 2, 100 => 1, :infinity => 1}
    end

    test "summary is nil before any observation", %{metrics: metrics} do
      assert Metrics.summary(metrics, :nothing) == nil
    end
  end

  test "measure/3 records elapsed time and returns the result", %{metrics: metrics} do
    assert :done = Metrics.measure(metrics, :work, fn -> :done end)
    assert %{count: 1} = Metrics.summary(metrics, :work)
  end

  test "measure/3 records even when the function raises", %{metrics: metrics} do
    assert_raise RuntimeError, fn -> Metrics.measure(metrics, :work, fn -> raise "boom" end) end
    assert %{count: 1} = Metrics.summary(metrics, :work)
  end

  test "to_prometheus/2 renders counters and histograms", %{metrics: metrics} do
    Metrics.increment(metrics, {:jobs, :succeeded}, 3)
    Metrics.observe(metrics, "duration ms", 12)

    assert Metrics.to_prometheus(metrics) ==
             """
             job_runner_jobs_succeeded 3
             job_runner_duration_ms_count 1
             job_runner_duration_ms_sum 12\
             """
  end

  test "reset/1 clears everything", %{metrics: metrics} do
    Metrics.increment(metrics, :a)
    :ok = Metrics.reset(metrics)
    assert Metrics.snapshot(metrics) == %{counters: %{}, histograms: %{}}
  end
end
