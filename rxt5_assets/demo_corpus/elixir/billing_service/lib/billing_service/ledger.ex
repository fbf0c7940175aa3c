defmodule BillingService.Ledger do
  @moduledoc """
  A double-entry general ledger.

  Entries are appended through `post_entry/2`, which refuses anything that
  does not balance. Balances are maintained incrementally per account and
  currency so that `trial_balance/1` is cheap.
  """

  alias BillingService.Ledger.Entry
  alias BillingService.Money

  defstruct entries: [], balances: %{}, closed_through: nil

  @type account_key :: {String.t(), atom()}
  @type t :: %__MODULE__{
          entries: [Entry.t()],
          balances: %{account_key() => integer()},
          closed_through: DateTime.t() | nil
        }

  @type trial_balance :: %{
          debits: %{atom() => Money.t()},
          credits: %{atom() => Money.t()},
          balanced?: boolean()
        }

  @spec new() :: t()
  def new, do: %__MODULE__{}

  @doc """
  Posts a validated entry to the ledger.

  Entries dated on or before `closed_through` are rejected, as are
  duplicates (same id).
  """
  @spec post_entry(t(), Entry.t()) :: {:ok, t()} | {:error, term()}
  def post_entry(%__MODULE__{} = ledger, %Entry{} = entry) do
    with {:ok, entry} <- Entry.validate(entry),
         :ok <- check_period(ledger, entry),
         :ok <- check_duplicate(ledger, entry) do
      balances = Map.merge(ledger.balances, Entry.effects(entry), fn _key, a, b -> a + b end)
      {:ok, %{ledger | entries: [entry | ledger.entries], balances: balances}}
    end
  end

  @doc """
  Posts several entries, stopping at the first failure.
  """
  @spec post_entries(t(), [Entry.t()]) :: {:ok, t()} | {:error, {Entry.t(), term()}}
  def post_entries(ledger, entries) do
    Enum.reduce_while(entries, {:ok, ledger}, fn entry, {:ok, acc} ->
      case post_entry(acc, entry) do
        {:ok, acc} -> {:cont, {:ok, acc}}
        {:error, reason} -> {:halt, {:error, {entry, reason}}}
      end
    end)
  end

  @doc """
  Balance of a single account in `currency`; debits are positive.
  """
  @spec account_balance(t(), String.t(), atom()) :: Money.t()
  def account_balance(%__MODULE__{balances: balances}, account, currency) do
    balances
    |> Map.get({account, currency}, 0)
    |> Money.new(currency)
  end

  @doc """
  Computes the trial balance: total debit balances and total credit
  balances per currency. In a healthy ledger they are always equal.
  """
  @spec trial_balance(t()) :: trial_balance()
  def trial_balance(%__MODULE__{balances: balances}) do
    {debits, credits} =
      Enum.reduce(balances, {%{}, %{}}, fn
        {{_account, cur}, amount}, {dr, cr} when amount >= 0 ->
          {Map.update(dr, cur, amount, &(&1 + amount)), cr}

        {{_account, cur}, amount}, {dr, cr} ->
          {dr, Map.update(cr, cur, -amount, &(&1 - amount))}
      end)

    currencies = Enum.uniq(Map.keys(debits) ++ Map.keys(credits))

    %{
      debits: to_money_map(debits, currencies),
      credits: to_money_map(credits, currencies),
      balanced?: Enum.all?(currencies, &(Map.get(debits, &1, 0) == Map.get(credits, &1, 0)))
    }
  end

  @doc """
  Entries touching `account`, oldest first.
  """
  @spec entries_for(t(), String.t()) :: [Entry.t()]
  def entries_for(%__MODULE__{entries: entries}, account) do
    entries
    |> Enum.filter(fn %Entry{lines: lines} -> Enum.any?(lines, &match?({_, ^account, _}, &1)) end)
    |> Enum.reverse()
  end

  @spec close_period(t(), DateTime.t()) :: t()
  def close_period(%__MODULE__{} = ledger, %DateTime{} = through) do
    %{ledger | closed_through: through}
  end

  defp check_period(%__MODULE__{closed_through: nil}, _entry), do: :ok

  defp check_period(%__MODULE__{closed_through: closed}, %Entry{posted_at: posted_at}) do
    case DateTime.compare(posted_at, closed) do
      :gt -> :ok
      _ -> {:error, :period_closed}
    end
  end

  defp check_duplicate(%__MODULE__{entries: entries}, %Entry{id: id}) do
    if Enum.any?(entries, &(&1.id == id)), do: {:error, {:duplicate_entry, id}}, else: :ok
  end

  defp to_money_map(totals, currencies) do
    Map.new(currencies, fn cur -> {cur, Money.new(Map.get(totals, cur, 0), cur)} end)
  end
end
