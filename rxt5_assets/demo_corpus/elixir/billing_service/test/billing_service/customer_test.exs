defmodule BillingService.CustomerTest do
  use ExUnit.Case, async: true

  alias BillingService.{Account, Customer, PaymentGateway, Tax}
  alias BillingService.Money

  doctest BillingService.Customer
  doctest BillingService.Currency

  describe "Schema-generated cast/1" do
    test "accepts string keys and applies defaults" do
      assert {:ok,
              %Customer{
                id: "c1",
                email: "a@b.io",
                currency: :USD,
                payment_terms_days: 30,
                tax_exempt: false
              }} = Customer.cast(%{"id" => "c1", "email" => " a@b.io "})
    end

    test "casts typed values" do
      params = %{
        id: "c2",
        email: "x@y.dev",
        currency: "gbp",
        payment_terms_days: "14",
        tax_exempt: "true"
      }

      assert {:ok, %Customer{currency: :GBP, payment_terms_days: 14, tax_exempt: true}} =
               Customer.cast(params)
    end

    test "collects every error" do
      assert {:error, errors} =
               Customer.cast(%{"currency" => "XXX", "payment_terms_days" => "soon"})

      assert {:id, :required} in errors
      assert {:email, :required} in errors
      assert {:currency, :unknown_currency} in errors
      assert {:payment_terms_days, :not_an_integer} in errors
    end

    test "exposes its fields" do
      assert {:email, :string, [required: true]} in Customer.__fields__()
    end
  end

  describe "build/1" do
    test "validates beyond types" do
      assert {:error, [email: :invalid_format, payment_terms_days: :out_of_range]} =
               Customer.build(%{"id" => "c3", "email" => "nope", "payment_terms_days" => "365"})
    end

    test "opens accounts and invoices in the customer currency" do
      {:ok, customer} =
        Customer.build(%{"id" => "c4", "email" => "eu@shop.de", "currency" => "EUR"})

      assert %Account{id: "acct_c4", currency: :EUR, owner: "eu@shop.de"} =
               Customer.open_account(customer)

      assert Customer.new_invoice(customer, "inv_9").currency == :EUR
    end
  end

  describe "Tax" do
    test "looks up rates by region and category" do
      assert {:ok, 1900} = Tax.rate({:eu, "DE"}, :standard)
      assert {:ok, 700} = Tax.rate({:eu, "DE"}, :reduced)
      assert {:ok, 0} = Tax.rate({:us, "CA"}, :digital)
      assert {:ok, 0} = Tax.rate(:uk, :exempt)
      assert {:error, {:unknown_jurisdiction, "PL"}} = Tax.rate({:eu, "PL"}, :standard)
    end

    test "splits tax-inclusive amounts" do
      assert {%Money{amount: 10_000}, %Money{amount: 2_000}} =
               Tax.split_gross(Money.new(12_000, :EUR), 2000)
    end

    test "parses regions" do
      assert {:ok, {:us, "NY"}} = Tax.parse_region("US-NY")
      assert {:ok, {:eu, "FR"}} = Tax.parse_region("FR")
      assert {:ok, :uk} = Tax.parse_region("GB")
      assert {:ok, :other} = Tax.parse_region("JP")
      assert {:error, :invalid_region} = Tax.parse_region("nowhere")
    end
  end

  describe "PaymentGateway with the sandbox adapter" do
    setup do
      {:ok, adapter} = PaymentGateway.adapter(:sandbox)
      %{adapter: adapter}
    end

    test "charges and refunds deterministically", %{adapter: adapter} do
      amount = Money.new(4_200, :USD)
      assert {:ok, "ch_" <> _ = charge} = PaymentGateway.charge(adapter, amount, "tok_visa")
      assert {:ok, ^charge} = PaymentGateway.charge(adapter, amount, "tok_visa")
      assert {:ok, "re_" <> _} = PaymentGateway.refund(adapter, charge, amount)
    end

    test "maps test tokens to failures", %{adapter: adapter} do
      assert {:error, :card_declined} =
               PaymentGateway.charge(adapter, Money.new(100, :USD), "tok_declined")

      assert {:error, :non_positive_amount} =
               PaymentGateway.charge(adapter, Money.new(0, :USD), "tok_visa")

      assert {:error, {:unsupported_currency, :JPY}} =
               PaymentGateway.charge(adapter, Money.new(100, :JPY), "tok_visa")
    end

    test "unknown adapters are reported" do
      assert {:error, {:unknown_adapter, :stripe}} = PaymentGateway.adapter(:stripe)
    end
  end
end
