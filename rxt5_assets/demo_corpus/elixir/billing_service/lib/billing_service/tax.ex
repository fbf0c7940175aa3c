defmodule BillingService.Tax do
  @moduledoc """
  Tax rate lookup by region and product category.

  Rates are in basis points. The table is intentionally small; real
  deployments load it from the tax provider at boot.
  """

  alias BillingService.{LineItem, Money}

  @type region :: {:eu, String.t()} | {:us, String.t()} | :uk | :other
  @type category :: :standard | :reduced | :digital | :exempt

  @eu_standard %{"DE" => 1900, "FR" => 2000, "NL" => 2100, "IE" => 2300, "ES" => 2100}
  @eu_reduced %{"DE" => 700, "FR" => 550, "NL" => 900, "IE" => 1350, "ES" => 1000}
  @us_sales %{"CA" => 725, "NY" => 400, "TX" => 625, "WA" => 650}

  @doc """
  Returns the tax rate (basis points) for a region and category.
  """
  @spec rate(region(), category()) :: {:ok, non_neg_integer()} | {:error, term()}
  def rate(_region, :exempt), do: {:ok, 0}

  def rate({:eu, country}, category) when category in [:standard, :digital] do
    lookup(@eu_standard, country)
  end

  def rate({:eu, country}, :reduced), do: lookup(@eu_reduced, country)

  def rate({:us, _state}, :digital), do: {:ok, 0}
  def rate({:us, state}, _category), do: lookup(@us_sales, state)

  def rate(:uk, :reduced), do: {:ok, 500}
  def rate(:uk, _category), do: {:ok, 2000}

  def rate(:other, _category), do: {:ok, 0}
  def rate(region, category), do: {:error, {:unsupported, region, category}}

  @doc """
  Sets the tax rate on each line item for the given region. Items are
  categorised by the `categorize` function, which defaults to `:standard`.
  """
  @spec apply_to_items([LineItem.t()], region(), (LineItem.t() -> category())) ::
          {:ok, [LineItem.t()]} | {:error, term()}
  def apply_to_items(items, region, categorize \\ fn _item -> :standard end) do
    items
    |> Enum.reduce_while({:ok, []}, fn item, {:ok, acc} ->
      case rate(region, categorize.(item)) do
        {:ok, bps} -> {:cont, {:ok, [%{item | tax_rate_bps: bps} | acc]}}
        {:error, _} = error -> {:halt, error}
      end
    end)
    |> case do
      {:ok, taxed} -> {:ok, Enum.reverse(taxed)}
      error -> error
    end
  end

  @doc """
  Splits a tax-inclusive gross amount into `{net, tax}`.
  """
  @spec split_gross(Money.t(), non_neg_integer()) :: {Money.t(), Money.t()}
  def split_gross(%Money{amount: gross} = money, bps) when bps >= 0 do
    net = div(gross * 10_000 + div(10_000 + bps, 2), 10_000 + bps)
    {%{money | amount: net}, %{money | amount: gross - net}}
  end

  @spec parse_region(String.t()) :: {:ok, region()} | {:error, :invalid_region}
  def parse_region("UK"), do: {:ok, :uk}
  def parse_region("GB"), do: {:ok, :uk}
  def parse_region("US-" <> state) when byte_size(state) == 2, do: {:ok, {:us, state}}

  def parse_region(<<country::binary-size(2)>>) do
    if Map.has_key?(@eu_standard, country), do: {:ok, {:eu, country}}, else: {:ok, :other}
  end

  def parse_region(_), do: {:error, :invalid_region}

  defp lookup(table, key) do
    case Map.fetch(table, key) do
      {:ok, bps} -> {:ok, bps}
      :error -> {:error, {:unknown_jurisdiction, key}}
    end
  end
end
