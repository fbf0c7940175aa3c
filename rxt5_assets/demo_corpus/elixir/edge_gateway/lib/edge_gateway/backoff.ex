defmodule EdgeGateway.Backoff do
  @moduledoc """
  Delay schedules for retries, expressed as lazy streams of milliseconds.

      iex> EdgeGateway.Backoff.exponential(100, max: 1_000) |> Enum.take(6)
      [100, 200, 400, 800, 1000, 1000]

  Streams compose with `Stream`/`Enum`, so callers can cap the number of
  attempts with `Enum.take/2` or add jitter with `jitter/2`.
  """

  @type delays :: Enumerable.t()
  @type strategy :: :constant | :linear | :exponential

  @doc """
  `base`, `base * factor`, `base * factor^2`, ... capped at `:max`.
  """
  @spec exponential(pos_integer(), keyword()) :: delays()
  def exponential(base, opts \\ []) when is_integer(base) and base > 0 do
    factor = Keyword.get(opts, :factor, 2)
    max = Keyword.get(opts, :max, :infinity)

    base
    |> Stream.iterate(&(&1 * factor))
    |> Stream.map(&cap(&1, max))
  end

  @doc """
  `base`, `2 * base`, `3 * base`, ... capped at `:max`.
  """
  @spec linear(pos_integer(), keyword()) :: delays()
  def linear(base, opts \\ []) do
    max = Keyword.get(opts, :max, :infinity)

    Stream.iterate(1, &(&1 + 1))
    |> Stream.map(&cap(&1 * base, max))
  end

  @spec constant(non_neg_integer()) :: delays()
  def constant(delay), do: Stream.repeatedly(fn -> delay end)

  @doc """
  Builds a stream from a strategy name, handy when the strategy comes
  from configuration.
  """
  @spec from_config(strategy(), pos_integer(), keyword()) :: delays()
  def from_config(:constant, base, _opts), do: constant(base)
  def from_config(:linear, base, opts), do: linear(base, opts)
  def from_config(:exponential, base, opts), do: exponential(base, opts)

  @doc """
  Randomises each delay.

    * `:full` - uniform in `0..delay` ("full jitter")
    * `{:proportional, ratio}` - uniform in `delay * (1 ± ratio)`
  """
  @spec jitter(delays(), :full | {:proportional, float()}) :: delays()
  def jitter(delays, :full), do: Stream.map(delays, &(:rand.uniform(&1 + 1) - 1))

  def jitter(delays, {:proportional, ratio}) when ratio >= 0 and ratio <= 1 do
    Stream.map(delays, fn delay ->
      spread = delay * ratio
      round(delay - spread + :rand.uniform() * 2 * spread)
    end)
  end

  @doc """
  "Decorrelated jitter" as described in the AWS architecture blog: each
  delay is random between `base` and three times the previous delay.
  """
  @spec decorrelated(pos_integer(), pos_integer()) :: delays()
  def decorrelated(base, cap_ms) do
    Stream.unfold(base, fn previous ->
      next = min(cap_ms, base + :rand.uniform(max(previous * 3 - base, 1)))
      {next, next}
    end)
  end

  defp cap(delay, :infinity), do: delay
  defp cap(delay, max), do: min(delay, max)
end
