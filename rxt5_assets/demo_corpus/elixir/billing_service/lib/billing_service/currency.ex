defmodule BillingService.Currency do
  @moduledoc """
  Static information about the currencies the service accepts.

  Only a handful of ISO 4217 currencies are supported; adding one is a
  matter of extending `@currencies`. Codes are represented as upper-case
  atoms (`:USD`, `:EUR`) throughout the code base.
  """

  @type code :: atom()

  @currencies %{
    USD: %{exponent: 2, symbol: "$", name: "US Dollar"},
    EUR: %{exponent: 2, symbol: "€", name: "Euro"},
    GBP: %{exponent: 2, symbol: "£", name: "Pound Sterling"},
    CHF: %{exponent: 2, symbol: "CHF", name: "Swiss Franc"},
    JPY: %{exponent: 0, symbol: "¥", name: "Japanese Yen"},
    KWD: %{exponent: 3, symbol: "KD", name: "Kuwaiti Dinar"}
  }

  @codes @currencies |> Map.keys() |> Enum.sort()

  @doc """
  All supported currency codes, sorted alphabetically.
  """
  @spec codes() :: [code()]
  def codes, do: @codes

  @doc """
  Returns `true` when `code` is a supported currency.
  """
  @spec valid?(term()) :: boolean()
  def valid?(code) when is_atom(code), do: Map.has_key?(@currencies, code)
  def valid?(_code), do: false

  @doc """
  Number of minor-unit digits for a currency (2 for cents).
  """
  @spec fetch_exponent(code()) :: {:ok, non_neg_integer()} | {:error, :unknown_currency}
  def fetch_exponent(code) do
    case Map.fetch(@currencies, code) do
      {:ok, %{exponent: exponent}} -> {:ok, exponent}
      :error -> {:error, :unknown_currency}
    end
  end

  @spec exponent(code()) :: non_neg_integer()
  def exponent(code) do
    case fetch_exponent(code) do
      {:ok, exponent} -> exponent
      {:error, :unknown_currency} -> raise ArgumentError, "unknown currency #{inspect(code)}"
    end
  end

  @spec symbol(code()) :: String.t()
  def symbol(code) do
    @currencies
    |> Map.get(code, %{symbol: Atom.to_string(code)})
    |> Map.fetch!(:symbol)
  end

  @spec name(code()) :: String.t() | nil
  def name(code), do: get_in(@currencies, [code, :name])

  @doc """
  Parses a currency code from user input without creating new atoms.

      iex> BillingService.Currency.parse_code(" eur ")
      {:ok, :EUR}

      iex> BillingService.Currency.parse_code("XYZ")
      {:error, {:unknown_currency, "XYZ"}}
  """
  @spec parse_code(String.t()) :: {:ok, code()} | {:error, {:unknown_currency, String.t()}}
  def parse_code(input) when is_binary(input) do
    normalized = input |> String.trim() |> String.upcase()

    case Enum.find(@codes, fn code -> Atom.to_string(code) == normalized end) do
      nil -> {:error, {:unknown_currency, normalized}}
      code -> {:ok, code}
    end
  end

  def parse_code(code) when is_atom(code) do
    if valid?(code), do: {:ok, code}, else: {:error, {:unknown_currency, inspect(code)}}
  end
end
