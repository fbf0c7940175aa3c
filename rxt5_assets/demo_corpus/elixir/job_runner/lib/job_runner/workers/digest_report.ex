defmodule JobRunner.Workers.DigestReport do
  @moduledoc """
  Aggregates a batch of usage events into a per-account digest.

  The events arrive in the job args (already fetched by the enqueuer), so
  the worker is pure and deterministic; it returns the digest as its
  result for the caller to persist.
  """

  use JobRunner.Worker, max_attempts: 2

  @type event :: %{account: String.t(), kind: String.t(), units: non_neg_integer()}

  @impl true
  def perform(%{events: events} = args) when is_list(events) do
    top_n = Map.get(args, :top, 3)

    digest =
      events
      |> Stream.filter(&valid_event?/1)
      |> Enum.group_by(& &1.account)
      |> Map.new(fn {account, account_events} -> {account, summarize(account_events, top_n)} end)

    {:ok, digest}
  end

  def perform(_args), do: {:discard, :missing_events}

  @doc """
  Summarises one account's events: total units and the busiest kinds.
  """
  @spec summarize([event()], pos_integer()) :: %{
          total: non_neg_integer(),
          top_kinds: [{String.t(), non_neg_integer()}]
        }
  def summarize(events, top_n) do
    by_kind =
      Enum.reduce(events, %{}, fn %{kind: kind, units: units}, acc ->
        Map.update(acc, kind, units, &(&1 + units))
      end)

    %{
      total: by_kind |> Map.values() |> Enum.sum(),
      top_kinds:
        by_kind
        |> Enum.sort_by(fn {kind, units} -> {-units, kind} end)
        |> Enum.take(top_n)
    }
  end

  defp valid_event?(%{account: account, kind: kind, units: units})
       when is_binary(account) and is_binary(kind) and is_integer(units) and units >= 0,
       do: true

  defp valid_event?(_event), do: false
end
