defmodule BillingService.LedgerTest do
  use ExUnit.Case, async: true

  alias BillingService.{Account, Invoice, Ledger, LineItem, Money}
  alias BillingService.Ledger.Entry

  defp usd(amount), do: Money.new(amount, :USD)

  setup do
    {:ok, sale} =
      Entry.new(
        "card sale",
        [
          {:debit, "cash", usd(1_200)},
          {:credit, "revenue", usd(1_000)},
          {:credit, "tax_payable", usd(200)}
        ],
        id: "je_sale"
      )

    %{ledger: Ledger.new(), sale: sale}
  end

  describe "Entry.new/3" do
    test "rejects unbalanced entries" do
      assert {:error, {:unbalanced, %{USD: 100}}} =
               Entry.new("oops", [{:debit, "cash", usd(600)}, {:credit, "revenue", usd(500)}])
    end

    test "rejects single-line and zero-amount entries" do
      assert {:error, :too_few_lines} = Entry.new("one", [{:debit, "cash", usd(1)}])

      assert {:error, {:invalid_line, {:debit, "cash", _}}} =
               Entry.new("zero", [{:debit, "cash", usd(0)}, {:credit, "revenue", usd(0)}])
    end

    test "balances per currency" do
      lines = [
        {:debit, "cash", usd(100)},
        {:credit, "revenue", usd(100)},
        {:debit, "cash", Money.new(100, :EUR)},
        {:credit, "revenue", Money.new(90, :EUR)}
      ]

      assert {:error, {:unbalanced, %{EUR: 10}}} = Entry.new("mixed", lines)
    end
  end

  describe "post_entry/2" do
    test "updates account balances", %{ledger: ledger, sale: sale} do
      assert {:ok, ledger} = Ledger.post_entry(ledger, sale)
      assert Ledger.account_balance(ledger, "cash", :USD) == usd(1_200)
      assert Ledger.account_balance(ledger, "revenue", :USD) == usd(-1_000)
    end

    test "refuses duplicates", %{ledger: ledger, sale: sale} do
      {:ok, ledger} = Ledger.post_entry(ledger, sale)
      assert {:error, {:duplicate_entry, "je_sale"}} = Ledger.post_entry(ledger, sale)
    end

    test "refuses entries in a closed period", %{ledger: ledger, sale: sale} do
      ledger = Ledger.close_period(ledger, DateTime.add(sale.posted_at, 60, :second))
      assert {:error, :period_closed} = Ledger.post_entry(ledger, sale)
    end
  end

  describe "trial_balance/1" do
    test "debits equal credits after any sequence of postings", %{ledger: ledger, sale: sale} do
      {:ok, refund} =
        Entry.new("refund", [{:debit, "revenue", usd(300)}, {:credit, "cash", usd(300)}])

      {:ok, ledger} = Ledger.post_entries(ledger, [sale, refund])

      assert %{balanced?: true, debits: %{USD: debits}, credits: %{USD: credits}} =
               Ledger.trial_balance(ledger)

      assert debits == credits
      assert debits == usd(900)
    end

    test "is trivially balanced when empty", %{ledger: ledger} do
      assert %{balanced?: true, debits: %{}, credits: %{}} = Ledger.trial_balance(ledger)
    end
  end

  test "reversing an entry zeroes every account", %{ledger: ledger, sale: sale} do
    {:ok, reversal} = Entry.reverse(sale)
    {:ok, ledger} = Ledger.post_entries(ledger, [sale, reversal])

    for account <- ["cash", "revenue", "tax_payable"] do
      assert Money.zero?(Ledger.account_balance(ledger, account, :USD))
    end

    assert length(Ledger.entries_for(ledger, "cash")) == 2
  end

  describe "BillingService.settle/4" do
    setup do
      {:ok, item} = LineItem.new("Pro plan", usd(5_000))
      {:ok, invoice} = "inv_7" |> Invoice.new("cus_7", :USD) |> Invoice.add_line_item(item)
      {:ok, invoice} = Invoice.issue(invoice, ~D[2024-01-01])
      %{invoice: invoice}
    end

    test "pays the invoice and records it in the ledger", %{invoice: invoice, ledger: ledger} do
      {:ok, account} = "cus_7" |> Account.open(:USD) |> Account.deposit(usd(8_000))

      assert {:ok, {paid, account, ledger}} =
               BillingService.settle(invoice, account, ledger, ~U[2024-01-05 00:00:00Z])

      assert paid.status == :paid
      assert Account.balance(account) == usd(3_000)
      assert Ledger.account_balance(ledger, "cash", :USD) == usd(5_000)
      assert %{balanced?: true} = Ledger.trial_balance(ledger)
    end

    test "changes nothing when the account cannot pay", %{invoice: invoice, ledger: ledger} do
      account = Account.open("cus_7", :USD)

      assert {:error, {:insufficient_funds, _, _}} =
               BillingService.settle(invoice, account, ledger, DateTime.utc_now())
    end
  end

  test "BillingService.sum/2" do
    assert {:ok, %Money{amount: 600}} = BillingService.sum([usd(100), usd(200), usd(300)], :USD)
    assert {:error, :currency_mismatch} = BillingService.sum([usd(1), Money.new(1, :EUR)], :USD)
  end
end
