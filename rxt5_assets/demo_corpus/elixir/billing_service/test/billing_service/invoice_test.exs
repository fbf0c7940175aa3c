defmodule BillingService.InvoiceTest do
  use ExUnit.Case, async: true

  alias BillingService.{Invoice, LineItem, Money}

  @paid_at ~U[2024-03-15 10:00:00Z]

  setup do
    {:ok, hosting} =
      LineItem.new("Hosting", Money.new(10_000, :EUR), quantity: 2, tax_rate_bps: 2000)

    {:ok, support} = LineItem.new("Support", Money.new(5_000, :EUR))

    invoice =
      Invoice.new("inv_1", "cus_1", :EUR)
      |> add!(hosting)
      |> add!(support)

    %{invoice: invoice}
  end

  defp add!(invoice, item) do
    {:ok, invoice} = Invoice.add_line_item(invoice, item)
    invoice
  end

  describe "total/1" do
    test "sums net and tax", %{invoice: invoice} do
      assert Invoice.subtotal(invoice) == Money.new(25_000, :EUR)
      assert Invoice.tax_total(invoice) == Money.new(4_000, :EUR)
      assert {:ok, %Money{amount: 29_000}} = Invoice.total(invoice)
    end

    test "is zero for an empty invoice" do
      assert {:ok, %Money{amount: 0, currency: :USD}} = Invoice.total(Invoice.new("i", "c", :USD))
    end
  end

  describe "apply_discount/2" do
    test "percentage discounts apply to the gross amount", %{invoice: invoice} do
      {:ok, invoice} = Invoice.apply_discount(invoice, {:percent, 10})
      assert {:ok, %Money{amount: 26_100}} = Invoice.total(invoice)
    end

    test "fixed discounts never make the total negative", %{invoice: invoice} do
      {:ok, invoice} = Invoice.apply_discount(invoice, {:fixed, Money.new(1_000_000, :EUR)})
      assert {:ok, %Money{amount: 0}} = Invoice.total(invoice)
    end

    test "rejects invalid discounts", %{invoice: invoice} do
      assert {:error, {:invalid_discount, {:percent, 150}}} =
               Invoice.apply_discount(invoice, {:percent, 150})

      assert {:error, {:invalid_discount, _}} =
               Invoice.apply_discount(invoice, {:fixed, Money.new(100, :USD)})
    end

    test "is not allowed once issued", %{invoice: invoice} do
      {:ok, issued} = Invoice.issue(invoice, ~D[2024-03-01])
      assert {:error, {:not_editable, :issued}} = Invoice.apply_discount(issued, {:percent, 5})
    end
  end

  describe "lifecycle" do
    test "issue -> mark_paid", %{invoice: invoice} do
      assert {:ok, issued} = Invoice.issue(invoice, ~D[2024-03-01], 14)
      assert issued.due_on == ~D[2024-03-15]
      assert {:ok, paid} = Invoice.mark_paid(issued, @paid_at)
      assert paid.status == :paid
      assert {:error, :already_paid} = Invoice.mark_paid(paid, @paid_at)
    end

    test "drafts cannot be paid", %{invoice: invoice} do
      assert {:error, {:invalid_transition, :draft, :paid}} = Invoice.mark_paid(invoice, @paid_at)
    end

    test "empty invoices cannot be issued" do
      assert {:error, :empty_invoice} = Invoice.issue(Invoice.new("i", "c", :EUR), ~D[2024-01-01])
    end

    test "overdue?/2 compares against the due date", %{invoice: invoice} do
      {:ok, issued} = Invoice.issue(invoice, ~D[2024-03-01], 10)
      refute Invoice.overdue?(issued, ~D[2024-03-11])
      assert Invoice.overdue?(issued, ~D[2024-03-12])
    end
  end

  test "line items must match the invoice currency", %{invoice: invoice} do
    {:ok, usd_item} = LineItem.new("Setup", Money.new(100, :USD))
    assert {:error, :currency_mismatch} = Invoice.add_line_item(invoice, usd_item)
  end

  test "formats with the Formattable protocol", %{invoice: invoice} do
    assert BillingService.format(invoice) == "Invoice inv_1 (draft) for cus_1: €290.00"
  end
end
