defmodule BillingService.MoneyTest do
  use ExUnit.Case, async: true

  alias BillingService.{CurrencyMismatchError, Money}

  doctest BillingService.Money

  setup do
    %{
      ten_usd: Money.new(1_000, :USD),
      five_usd: Money.new(500, :USD),
      ten_eur: Money.new(1_000, :EUR)
    }
  end

  describe "add/2" do
    test "adds amounts in the same currency", %{ten_usd: ten, five_usd: five} do
      assert {:ok, %Money{amount: 1_500, currency: :USD}} = Money.add(ten, five)
    end

    test "refuses to mix currencies", %{ten_usd: usd, ten_eur: eur} do
      assert {:error, {:currency_mismatch, :USD, :EUR}} = Money.add(usd, eur)
    end

    test "add!/2 raises a descriptive error", %{ten_usd: usd, ten_eur: eur} do
      error = assert_raise CurrencyMismatchError, fn -> Money.add!(usd, eur) end
      assert Exception.message(error) =~ "USD"
    end
  end

  describe "subtract/2" do
    test "can go negative", %{ten_usd: ten, five_usd: five} do
      assert {:ok, result} = Money.subtract(five, ten)
      assert result.amount == -500
      assert Money.negative?(result)
    end
  end

  describe "parse/2" do
    test "parses whole and fractional amounts" do
      assert {:ok, %Money{amount: 1_230}} = Money.parse("12.3", :USD)
      assert {:ok, %Money{amount: 1_200}} = Money.parse("12", :USD)
      assert {:ok, %Money{amount: -5}} = Money.parse("-0.05", :EUR)
    end

    test "rejects too many decimals and garbage" do
      assert {:error, :too_many_decimals} = Money.parse("1.234", :USD)
      assert {:error, :invalid_amount} = Money.parse("twelve", :USD)
      assert {:error, :unknown_currency} = Money.parse("1.00", :XXX)
    end
  end

  describe "convert/3" do
    test "converts with a float rate and respects exponents" do
      usd = Money.new(1_000, :USD)
      assert {:ok, %Money{amount: 1_500, currency: :JPY}} = Money.convert(usd, :JPY, 150.0)
    end

    test "converts with an exact ratio" do
      eur = Money.new(300, :EUR)
      assert {:ok, %Money{amount: 325, currency: :USD}} = Money.convert(eur, :USD, {13, 12})
    end

    test "is the identity for the same currency", %{ten_usd: ten} do
      assert {:ok, ^ten} = Money.convert(ten, :USD, 2.0)
    end

    test "rejects non-positive rates", %{ten_usd: ten} do
      assert {:error, :invalid_rate} = Money.convert(ten, :EUR, -1.0)
    end
  end

  describe "allocate/2" do
    test "never loses a minor unit" do
      shares = Money.allocate(Money.new(1_001, :USD), [3, 2, 5])
      assert Enum.sum(Enum.map(shares, & &1.amount)) == 1_001
    end
  end

  test "to_decimal_string/1 pads fractional digits" do
    assert Money.to_decimal_string(Money.new(5, :USD)) == "0.05"
    assert Money.to_decimal_string(Money.new(-123_456, :KWD)) == "-123.456"
    assert Money.to_decimal_string(Money.new(900, :JPY)) == "900"
  end

  test "formats through the Formattable protocol" do
    assert BillingService.format(Money.new(123_456_789, :USD)) == "$1,234,567.89"
    assert BillingService.format(Money.new(-250, :EUR)) == "-€2.50"
  end
end
