defmodule BillingService.Ledger.Entry do
  @moduledoc """
  A journal entry: a set of debit and credit lines that must balance.

  Each line is `{:debit | :credit, account_name, %Money{}}`. An entry is
  only valid when, per currency, total debits equal total credits.
  """

  alias BillingService.Money

  @enforce_keys [:id, :description, :lines]
  defstruct [:id, :description, :lines, :posted_at, metadata: %{}]

  @type side :: :debit | :credit
  @type line :: {side(), String.t(), Money.t()}

  @type t :: %__MODULE__{
          id: String.t(),
          description: String.t(),
          lines: [line()],
          posted_at: DateTime.t() | nil,
          metadata: map()
        }

  @doc """
  Builds and validates an entry.

  ## Options

    * `:id` - explicit entry id (one is generated otherwise)
    * `:posted_at` - timestamp, defaults to now
    * `:metadata` - arbitrary map stored with the entry
  """
  @spec new(String.t(), [line()], keyword()) :: {:ok, t()} | {:error, term()}
  def new(description, lines, opts \\ []) do
    entry = %__MODULE__{
      id: Keyword.get_lazy(opts, :id, &generate_id/0),
      description: description,
      lines: lines,
      posted_at: Keyword.get_lazy(opts, :posted_at, &DateTime.utc_now/0),
      metadata: Keyword.get(opts, :metadata, %{})
    }

    validate(entry)
  end

  @doc """
  Checks that the entry has at least two lines, positive amounts and
  balances in every currency.
  """
  @spec validate(t()) :: {:ok, t()} | {:error, term()}
  def validate(%__MODULE__{lines: lines} = entry) do
    with :ok <- check_line_count(lines),
         :ok <- check_lines(lines),
         :ok <- check_balanced(lines) do
      {:ok, entry}
    end
  end

  @spec balanced?(t()) :: boolean()
  def balanced?(%__MODULE__{lines: lines}), do: check_balanced(lines) == :ok

  @doc """
  Signed effect of the entry on each account: debits positive, credits
  negative, grouped by `{account, currency}`.
  """
  @spec effects(t()) :: %{{String.t(), atom()} => integer()}
  def effects(%__MODULE__{lines: lines}) do
    Enum.reduce(lines, %{}, fn {side, account, %Money{amount: amount, currency: cur}}, acc ->
      Map.update(acc, {account, cur}, signed(side, amount), &(&1 + signed(side, amount)))
    end)
  end

  @doc """
  Returns the reversing entry, which swaps every debit and credit.
  """
  @spec reverse(t(), keyword()) :: {:ok, t()} | {:error, term()}
  def reverse(%__MODULE__{} = entry, opts \\ []) do
    lines = for {side, account, money} <- entry.lines, do: {flip(side), account, money}

    new(
      "reversal of #{entry.id}: #{entry.description}",
      lines,
      Keyword.put_new(opts, :metadata, %{reverses: entry.id})
    )
  end

  defp check_line_count(lines) when length(lines) >= 2, do: :ok
  defp check_line_count(_lines), do: {:error, :too_few_lines}

  defp check_lines(lines) do
    case Enum.find(lines, &(not valid_line?(&1))) do
      nil -> :ok
      line -> {:error, {:invalid_line, line}}
    end
  end

  defp valid_line?({side, account, %Money{amount: amount}})
       when side in [:debit, :credit] and is_binary(account) and amount > 0,
       do: true

  defp valid_line?(_line), do: false

  defp check_balanced(lines) do
    unbalanced =
      lines
      |> Enum.group_by(fn {_side, _account, money} -> money.currency end)
      |> Enum.map(fn {currency, group} ->
        {currency,
         Enum.reduce(group, 0, fn {side, _, money}, sum -> sum + signed(side, money.amount) end)}
      end)
      |> Enum.reject(fn {_currency, net} -> net == 0 end)

    case unbalanced do
      [] -> :ok
      _ -> {:error, {:unbalanced, Map.new(unbalanced)}}
    end
  end

  defp signed(:debit, amount), do: amount
  defp signed(:credit, amount), do: -amount

  defp flip(:debit), do: :credit
  defp flip(:credit), do: :debit

  defp generate_id do
    :crypto.strong_rand_bytes(6) |> Base.encode16(case: :lower) |> then(&("je_" <> &1))
  end
end
