defmodule BillingService.LineItem do
  @moduledoc """
  A single billable line on an invoice.

  Tax rates are stored in basis points (`2000` is 20%) so that all
  arithmetic stays in integers.
  """

  alias BillingService.Money

  @enforce_keys [:description, :unit_price]
  defstruct [:description, :unit_price, :sku, quantity: 1, tax_rate_bps: 0]

  @type t :: %__MODULE__{
          description: String.t(),
          unit_price: Money.t(),
          sku: String.t() | nil,
          quantity: pos_integer(),
          tax_rate_bps: non_neg_integer()
        }

  @doc """
  Builds a line item, validating quantity and tax rate.
  """
  @spec new(String.t(), Money.t(), keyword()) :: {:ok, t()} | {:error, atom()}
  def new(description, %Money{} = unit_price, opts \\ []) do
    quantity = Keyword.get(opts, :quantity, 1)
    tax_rate = Keyword.get(opts, :tax_rate_bps, 0)

    cond do
      String.trim(description) == "" ->
        {:error, :blank_description}

      not (is_integer(quantity) and quantity > 0) ->
        {:error, :invalid_quantity}

      not (is_integer(tax_rate) and tax_rate in 0..10_000) ->
        {:error, :invalid_tax_rate}

      unit_price.amount < 0 ->
        {:error, :negative_price}

      true ->
        {:ok,
         %__MODULE__{
           description: description,
           unit_price: unit_price,
           quantity: quantity,
           tax_rate_bps: tax_rate,
           sku: opts[:sku]
         }}
    end
  end

  @doc """
  Price before tax: quantity times unit price.
  """
  @spec net(t()) :: Money.t()
  def net(%__MODULE__{unit_price: price, quantity: quantity}), do: Money.multiply(price, quantity)

  @doc """
  Tax owed on the line, rounded half up to the nearest minor unit.
  """
  @spec tax(t()) :: Money.t()
  def tax(%__MODULE__{tax_rate_bps: 0} = item), do: Money.zero(item.unit_price.currency)

  def tax(%__MODULE__{tax_rate_bps: bps} = item) do
    net = net(item)
    %{net | amount: div(net.amount * bps + 5_000, 10_000)}
  end

  @spec gross(t()) :: Money.t()
  def gross(%__MODULE__{} = item) do
    item |> net() |> Money.add!(tax(item))
  end

  @spec with_quantity(t(), pos_integer()) :: t()
  def with_quantity(%__MODULE__{} = item, quantity) when is_integer(quantity) and quantity > 0 do
    %{item | quantity: quantity}
  end
end
