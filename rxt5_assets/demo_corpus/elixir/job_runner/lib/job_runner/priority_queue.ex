defmodule JobRunner.PriorityQueue do
  @moduledoc """
  A purely functional priority queue: FIFO within a priority, lowest
  priority number first.

  Internally a map of `priority => :queue`, which keeps pushes and pops
  O(1) amortised for the small fixed range of priorities jobs use.
  """

  defstruct queues: %{}, size: 0

  @type priority :: non_neg_integer()
  @type t :: %__MODULE__{queues: %{priority() => :queue.queue()}, size: non_neg_integer()}

  @spec new() :: t()
  def new, do: %__MODULE__{}

  @doc """
  Adds `item` with `priority`.
  """
  @spec push(t(), term(), priority()) :: t()
  def push(%__MODULE__{queues: queues, size: size}, item, priority)
      when is_integer(priority) and priority >= 0 do
    queues = Map.update(queues, priority, :queue.from_list([item]), &:queue.in(item, &1))
    %__MODULE__{queues: queues, size: size + 1}
  end

  @doc """
  Removes and returns the most urgent item.
  """
  @spec pop(t()) :: {:ok, term(), t()} | :empty
  def pop(%__MODULE__{size: 0}), do: :empty

  def pop(%__MODULE__{queues: queues, size: size}) do
    priority = queues |> Map.keys() |> Enum.min()
    {{:value, item}, rest} = :queue.out(Map.fetch!(queues, priority))

    queues =
      if :queue.is_empty(rest),
        do: Map.delete(queues, priority),
        else: Map.put(queues, priority, rest)

    {:ok, item, %__MODULE__{queues: queues, size: size - 1}}
  end

  @spec peek(t()) :: {:ok, term()} | :empty
  def peek(%__MODULE__{} = pq) do
    case pop(pq) do
      {:ok, item, _rest} -> {:ok, item}
      :empty -> :empty
    end
  end

  @spec size(t()) :: non_neg_integer()
  def size(%__MODULE__{size: size}), do: size

  @doc """
  Removes every item for which `fun` returns true.
  """
  @spec reject(t(), (term() -> boolean())) :: t()
  def reject(%__MODULE__{queues: queues}, fun) do
    queues =
      for {priority, queue} <- queues,
          filtered = :queue.filter(&(not fun.(&1)), queue),
          not :queue.is_empty(filtered),
          into: %{},
          do: {priority, filtered}

    %__MODULE__{
      queues: queues,
      size: queues |> Map.values() |> Enum.map(&:queue.len/1) |> Enum.sum()
    }
  end

  @doc """
  All items in pop order.
  """
  @spec to_list(t()) :: [term()]
  def to_list(%__MODULE__{queues: queues}) do
    queues
    |> Enum.sort_by(fn {priority, _} -> priority end)
    |> Enum.flat_map(fn {_priority, queue} -> :queue.to_list(queue) end)
  end
end
