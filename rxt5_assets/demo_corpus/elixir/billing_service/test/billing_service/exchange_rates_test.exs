defmodule BillingService.ExchangeRatesTest do
  use ExUnit.Case, async: true

  alias BillingService.{ExchangeRates, Money}

  setup do
    rates = %{{:EUR, :USD} => 1.25, {:USD, :JPY} => 150.0}
    agent = start_supervised!({ExchangeRates, name: nil, rates: rates, base: :USD})
    %{rates: agent}
  end

  test "uses direct and inverse rates", %{rates: rates} do
    assert {:ok, 1.25} = ExchangeRates.get_rate(rates, :EUR, :USD)
    assert {:ok, 0.8} = ExchangeRates.get_rate(rates, :USD, :EUR)
    assert {:ok, 1.0} = ExchangeRates.get_rate(rates, :GBP, :GBP)
  end

  test "derives cross rates through the base currency", %{rates: rates} do
    assert {:ok, rate} = ExchangeRates.get_rate(rates, :EUR, :JPY)
    assert_in_delta rate, 187.5, 1.0e-9
  end

  test "reports missing pairs", %{rates: rates} do
    assert {:error, {:no_rate, {:GBP, :EUR}}} = ExchangeRates.get_rate(rates, :GBP, :EUR)
  end

  test "convert/3 produces money in the target currency", %{rates: rates} do
    assert {:ok, %Money{amount: 2_500, currency: :USD}} =
             ExchangeRates.convert(rates, Money.new(2_000, :EUR), :USD)
  end

  test "put_rate/4 replaces a rate", %{rates: rates} do
    :ok = ExchangeRates.put_rate(rates, :EUR, :USD, 1.1)
    assert {:ok, 1.1} = ExchangeRates.get_rate(rates, :EUR, :USD)
  end
end
