defmodule JobRunner.Metrics do
  @moduledoc """
  Counters and histograms kept in an `Agent`.

  This is deliberately simple: it is meant for a `/metrics` endpoint and
  for assertions in tests, not as a replacement for a telemetry
  pipeline. Histograms use fixed bucket boundaries (milliseconds by
  convention) and keep count, sum, min and max.
  """

  use Agent

  @default_buckets [5, 10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000]

  @type name :: atom() | String.t() | {atom(), term()}
  @type histogram :: %{
          count: non_neg_integer(),
          sum: number(),
          min: number() | nil,
          max: number() | nil,
          buckets: %{(number() | :infinity) => non_neg_integer()}
        }

  @doc """
  Starts the metrics agent. Options: `:name`, `:buckets`.
  """
  @spec start_link(keyword()) :: Agent.on_start()
  def start_link(opts \\ []) do
    buckets = opts |> Keyword.get(:buckets, @default_buckets) |> Enum.sort()
    state = %{counters: %{}, histograms: %{}, bounds: buckets ++ [:infinity]}
    Agent.start_link(fn -> state end, name: Keyword.get(opts, :name, __MODULE__))
  end

  @doc """
  Adds `by` to the counter `name`.
  """
  @spec increment(Agent.agent(), name(), integer()) :: :ok
  def increment(metrics, name, by \\ 1) when is_integer(by) do
    Agent.update(metrics, fn state ->
      update_in(state.counters, &Map.update(&1, name, by, fn current -> current + by end))
    end)
  end

  @doc """
  Records one observation in the histogram `name`.
  """
  @spec observe(Agent.agent(), name(), number()) :: :ok
  def observe(metrics, name, value) when is_number(value) do
    Agent.update(metrics, fn %{bounds: bounds} = state ->
      update_in(state.histograms, fn histograms ->
        histogram = Map.get_lazy(histograms, name, fn -> empty_histogram(bounds) end)
        Map.put(histograms, name, record(histogram, bounds, value))
      end)
    end)
  end

  @doc """
  Times `fun` and records its duration in milliseconds under `name`.
  Returns whatever `fun` returns.
  """
  @spec measure(Agent.agent(), name(), (() -> result)) :: result when result: term()
  def measure(metrics, name, fun) when is_function(fun, 0) do
    started = System.monotonic_time()

    try do
      fun.()
    after
      elapsed = System.convert_time_unit(System.monotonic_time() - started, :native, :millisecond)
      observe(metrics, name, elapsed)
    end
  end

  @spec counter(Agent.agent(), name()) :: integer()
  def counter(metrics, name), do: Agent.get(metrics, &Map.get(&1.counters, name, 0))

  @doc """
  Summary of a histogram including the mean, or `nil` if nothing was
  observed.
  """
  @spec summary(Agent.agent(), name()) :: map() | nil
  def summary(metrics, name) do
    Agent.get(metrics, fn state ->
      case Map.fetch(state.histograms, name) do
        {:ok, %{count: count, sum: sum} = histogram} when count > 0 ->
          Map.put(histogram, :mean, sum / count)

        _ ->
          nil
      end
    end)
  end

  @doc """
  Everything, for export.
  """
  @spec snapshot(Agent.agent()) :: %{counters: map(), histograms: map()}
  def snapshot(metrics), do: Agent.get(metrics, &Map.take(&1, [:counters, :histograms]))

  @spec reset(Agent.agent()) :: :ok
  def reset(metrics), do: Agent.update(metrics, &%{&1 | counters: %{}, histograms: %{}})

  @doc """
  Renders counters and histogram sums in the Prometheus text format.
  """
  @spec to_prometheus(Agent.agent(), String.t()) :: String.t()
  def to_prometheus(metrics, prefix \\ "job_runner") do
    %{counters: counters, histograms: histograms} = snapshot(metrics)

    counter_lines =
      for {name, value} <- Enum.sort(counters), do: "#{prefix}_#{metric_name(name)} #{value}"

    histogram_lines =
      for {name, %{count: count, sum: sum}} <- Enum.sort(histograms) do
        [
          "#{prefix}_#{metric_name(name)}_count #{count}",
          "#{prefix}_#{metric_name(name)}_sum #{sum}"
        ]
      end

    (counter_lines ++ List.flatten(histogram_lines)) |> Enum.join("\n")
  end

  defp empty_histogram(bounds) do
    %{count: 0, sum: 0, min: nil, max: nil, buckets: Map.new(bounds, &{&1, 0})}
  end

  defp record(histogram, bounds, value) do
    bucket = Enum.find(bounds, fn bound -> bound == :infinity or value <= bound end)

    %{
      histogram
      | count: histogram.count + 1,
        sum: histogram.sum + value,
        min: if(histogram.min, do: min(histogram.min, value), else: value),
        max: if(histogram.max, do: max(histogram.max, value), else: value),
        buckets: Map.update!(histogram.buckets, bucket, &(&1 + 1))
    }
  end

  defp metric_name({name, label}), do: "#{name}_#{label}" |> sanitize()
  defp metric_name(name), do: name |> to_string() |> sanitize()

  defp sanitize(name), do: String.replace(name, ~r/[^a-zA-Z0-9_]/, "_")
end
