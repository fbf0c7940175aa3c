defmodule JobRunner.CronExpression do
  @moduledoc """
  Parser and evaluator for five-field cron expressions (UTC only).

      minute hour day-of-month month day-of-week

  Each field accepts `*`, numbers, ranges (`1-5`), steps (`*/15`,
  `0-30/10`) and comma-separated lists. Day of week runs 0-6 with 0 as
  Sunday (7 is also accepted for Sunday). The usual `@hourly`, `@daily`,
  `@weekly`, `@monthly` and `@yearly` shortcuts are supported.
  """

  @enforce_keys [:minutes, :hours, :days, :months, :weekdays]
  defstruct [
    :minutes,
    :hours,
    :days,
    :months,
    :weekdays,
    :source,
    day_restricted: false,
    weekday_restricted: false
  ]

  @type t :: %__MODULE__{
          minutes: MapSet.t(0..59),
          hours: MapSet.t(0..23),
          days: MapSet.t(1..31),
          months: MapSet.t(1..12),
          weekdays: MapSet.t(0..6),
          source: String.t(),
          day_restricted: boolean(),
          weekday_restricted: boolean()
        }

  @aliases %{
    "@yearly" => "0 0 1 1 *",
    "@annually" => "0 0 1 1 *",
    "@monthly" => "0 0 1 * *",
    "@weekly" => "0 0 * * 0",
    "@daily" => "0 0 * * *",
    "@midnight" => "0 0 * * *",
    "@hourly" => "0 * * * *"
  }

  @fields [minutes: 0..59, hours: 0..23, days: 1..31, months: 1..12, weekdays: 0..7]

  # Four years of minutes is more than any valid expression needs.
  @max_iterations 4 * 366 * 24

  @doc """
  Parses an expression.

      iex> {:ok, cron} = JobRunner.CronExpression.parse("*/15 9-17 * * 1-5")
      iex> cron.minutes |> Enum.sort()
      [0, 15, 30, 45]
  """
  @spec parse(String.t()) :: {:ok, t()} | {:error, term()}
  def parse(expression) when is_binary(expression) do
    source = String.trim(expression)
    expanded = Map.get(@aliases, source, source)

    with {:ok, parts} <- split_fields(expanded),
         {:ok, sets} <- parse_fields(parts) do
      [_, _, day_part, _, weekday_part] = parts

      {:ok,
       struct!(
         __MODULE__,
         sets
         |> Keyword.update!(:weekdays, &normalize_sunday/1)
         |> Keyword.merge(
           source: source,
           day_restricted: day_part != "*",
           weekday_restricted: weekday_part != "*"
         )
       )}
    end
  end

  @spec parse!(String.t()) :: t()
  def parse!(expression) do
    case parse(expression) do
      {:ok, cron} ->
        cron

      {:error, reason} ->
        raise ArgumentError, "invalid cron expression #{inspect(expression)}: #{inspect(reason)}"
    end
  end

  @doc """
  The first matching minute strictly after `from`.
  """
  @spec next_after(t(), DateTime.t()) :: {:ok, DateTime.t()} | {:error, :no_match}
  def next_after(%__MODULE__{} = cron, %DateTime{} = from) do
    start =
      from
      |> DateTime.truncate(:second)
      |> Map.put(:second, 0)
      |> DateTime.add(60, :second)

    search(cron, start, 0)
  end

  @doc """
  Whether `datetime` (to the minute) matches the expression.
  """
  @spec matches?(t(), DateTime.t()) :: boolean()
  def matches?(%__MODULE__{} = cron, %DateTime{} = datetime) do
    day_matches?(cron, DateTime.to_date(datetime)) and
      MapSet.member?(cron.hours, datetime.hour) and
      MapSet.member?(cron.minutes, datetime.minute)
  end

  defp search(_cron, _at, iterations) when iterations > @max_iterations, do: {:error, :no_match}

  defp search(cron, at, iterations) do
    cond do
      not day_matches?(cron, DateTime.to_date(at)) ->
        search(cron, start_of_next_day(at), iterations + 1)

      not MapSet.member?(cron.hours, at.hour) ->
        search(cron, start_of_next_hour(at), iterations + 1)

      not MapSet.member?(cron.minutes, at.minute) ->
        search(cron, DateTime.add(at, 60, :second), iterations + 1)

      true ->
        {:ok, at}
    end
  end

  # Classic cron semantics: when both day-of-month and day-of-week are
  # restricted, a day matching either one is enough.
  defp day_matches?(cron, date) do
    month? = MapSet.member?(cron.months, date.month)
    day? = MapSet.member?(cron.days, date.day)
    weekday? = MapSet.member?(cron.weekdays, rem(Date.day_of_week(date), 7))

    day_ok? =
      if cron.day_restricted and cron.weekday_restricted,
        do: day? or weekday?,
        else: day? and weekday?

    month? and day_ok?
  end

  defp start_of_next_day(at) do
    at |> DateTime.to_date() |> Date.add(1) |> DateTime.new!(~T[00:00:00], "Etc/UTC")
  end

  defp start_of_next_hour(at), do: at |> Map.put(:minute, 0) |> DateTime.add(3_600, :second)

  defp split_fields(expression) do
    case String.split(expression, ~r/\s+/, trim: true) do
      [_, _, _, _, _] = parts -> {:ok, parts}
      parts -> {:error, {:expected_five_fields, length(parts)}}
    end
  end

  defp parse_fields(parts) do
    @fields
    |> Enum.zip(parts)
    |> Enum.reduce_while({:ok, []}, fn {{name, range}, part}, {:ok, acc} ->
      case parse_field(part, range) do
        {:ok, set} -> {:cont, {:ok, acc ++ [{name, set}]}}
        {:error, reason} -> {:halt, {:error, {name, reason}}}
      end
    end)
  end

  defp parse_field(part, range) do
    part
    |> String.split(",")
    |> Enum.reduce_while({:ok, MapSet.new()}, fn item, {:ok, acc} ->
      case parse_item(item, range) do
        {:ok, values} -> {:cont, {:ok, MapSet.union(acc, MapSet.new(values))}}
        error -> {:halt, error}
      end
    end)
  end

  defp parse_item(item, range) do
    first..last = range

    {base, step} =
      case String.split(item, "/", parts: 2) do
        [base, step] -> {base, Integer.parse(step)}
        [base] -> {base, {1, ""}}
      end

    with {step, ""} when step > 0 <- step,
         {:ok, low, high} <- parse_base(base, first, last),
         true <- low in range and high in range and low <= high do
      {:ok, Enum.take_every(low..high, step)}
    else
      _ -> {:error, {:invalid, item}}
    end
  end

  defp parse_base("*", first, last), do: {:ok, first, last}

  defp parse_base(base, _first, _last) do
    case String.split(base, "-", parts: 2) do
      [low, high] -> with {:ok, l} <- to_int(low), {:ok, h} <- to_int(high), do: {:ok, l, h}
      [single] -> with {:ok, v} <- to_int(single), do: {:ok, v, v}
    end
  end

  defp to_int(string) do
    case Integer.parse(string) do
      {value, ""} -> {:ok, value}
      _ -> :error
    end
  end

  defp normalize_sunday(weekdays) do
    if MapSet.member?(weekdays, 7),
      do: weekdays |> MapSet.delete(7) |> MapSet.put(0),
      else: weekdays
  end
end
