defmodule BillingService do
  @moduledoc """
  Entry point for the billing service.

  The service is split into small, mostly pure modules:

    * `BillingService.Money` - integer-backed amounts in a single currency
    * `BillingService.Account` - customer balances with overdraft rules
    * `BillingService.Invoice` - line items, discounts and payment status
    * `BillingService.Ledger` - a double-entry journal with a trial balance
    * `BillingService.Config` - parsing of the `billing.conf` file

  Functions in this module are thin conveniences that wire those pieces
  together for callers that do not care about the details.
  """

  alias BillingService.{Account, Invoice, Ledger, Money}
  alias BillingService.Ledger.Entry

  @doc """
  Settles an invoice against an account.

  Withdraws the invoice total from the account, marks the invoice as paid
  and records the movement in the ledger. Either every step succeeds or
  nothing is returned but the error.
  """
  @spec settle(Invoice.t(), Account.t(), Ledger.t(), DateTime.t()) ::
          {:ok, {Invoice.t(), Account.t(), Ledger.t()}} | {:error, term()}
  def settle(%Invoice{} = invoice, %Account{} = account, %Ledger{} = ledger, now) do
    with {:ok, total} <- Invoice.total(invoice),
         {:ok, account} <- Account.withdraw(account, total),
         {:ok, invoice} <- Invoice.mark_paid(invoice, now),
         {:ok, entry} <- settlement_entry(invoice, account, total, now),
         {:ok, ledger} <- Ledger.post_entry(ledger, entry) do
      {:ok, {invoice, account, ledger}}
    end
  end

  @doc """
  Formats any value that implements `BillingService.Formattable`.
  """
  @spec format(BillingService.Formattable.t()) :: String.t()
  def format(value), do: BillingService.Formattable.format(value)

  @doc """
  Sums a list of money values, returning `{:error, :currency_mismatch}` if
  they are not all in the same currency.
  """
  @spec sum([Money.t()], atom()) :: {:ok, Money.t()} | {:error, :currency_mismatch}
  def sum(amounts, currency) do
    Enum.reduce_while(amounts, {:ok, Money.zero(currency)}, fn amount, {:ok, acc} ->
      case Money.add(acc, amount) do
        {:ok, total} -> {:cont, {:ok, total}}
        {:error, _reason} -> {:halt, {:error, :currency_mismatch}}
      end
    end)
  end

  defp settlement_entry(invoice, account, total, now) do
    Entry.new(
      "settle invoice #{invoice.id}",
      [
        {:debit, "cash", total},
        {:credit, "receivables:#{account.id}", total}
      ],
      posted_at: now
    )
  end
end
