defmodule BillingService.Money do
  @moduledoc """
  A monetary amount stored as an integer number of minor units.

  Amounts never use floats internally: `Money.new(1050, :USD)` is
  ten dollars and fifty cents. Arithmetic between different currencies is
  refused; use `convert/2` or `BillingService.ExchangeRates` first.
  """

  alias BillingService.{Currency, CurrencyMismatchError}

  @enforce_keys [:amount, :currency]
  defstruct [:amount, :currency]

  @type t :: %__MODULE__{amount: integer(), currency: Currency.code()}
  @type rate :: float() | {pos_integer(), pos_integer()}

  @doc """
  Builds a money value from minor units.

      iex> BillingService.Money.new(250, :EUR)
      %BillingService.Money{amount: 250, currency: :EUR}
  """
  @spec new(integer(), Currency.code()) :: t()
  def new(amount, currency) when is_integer(amount) and is_atom(currency) do
    %__MODULE__{amount: amount, currency: currency}
  end

  @spec zero(Currency.code()) :: t()
  def zero(currency), do: new(0, currency)

  @doc """
  Parses a decimal string such as `"12.30"` into money.

  The number of decimals may not exceed the currency exponent.
  """
  @spec parse(String.t(), Currency.code()) :: {:ok, t()} | {:error, atom()}
  def parse(string, currency) when is_binary(string) do
    with {:ok, exponent} <- Currency.fetch_exponent(currency),
         [_match | parts] <- Regex.run(~r/^(-)?(\d+)(?:\.(\d+))?$/, String.trim(string)) do
      build_from_parts(parts, exponent, currency)
    else
      nil -> {:error, :invalid_amount}
      {:error, _} = error -> error
    end
  end

  @doc """
  Adds two amounts in the same currency.
  """
  @spec add(t(), t()) :: {:ok, t()} | {:error, {:currency_mismatch, atom(), atom()}}
  def add(%__MODULE__{currency: cur} = a, %__MODULE__{currency: cur} = b) do
    {:ok, new(a.amount + b.amount, cur)}
  end

  def add(%__MODULE__{currency: left}, %__MODULE__{currency: right}) do
    {:error, {:currency_mismatch, left, right}}
  end

  @doc """
  Like `add/2` but raises `BillingService.CurrencyMismatchError`.
  """
  @spec add!(t(), t()) :: t()
  def add!(a, b) do
    case add(a, b) do
      {:ok, sum} ->
        sum

      {:error, {:currency_mismatch, left, right}} ->
        raise CurrencyMismatchError, left: left, right: right
    end
  end

  @doc """
  Subtracts `b` from `a`. The result may be negative.
  """
  @spec subtract(t(), t()) :: {:ok, t()} | {:error, {:currency_mismatch, atom(), atom()}}
  def subtract(%__MODULE__{currency: cur} = a, %__MODULE__{currency: cur} = b) do
    {:ok, new(a.amount - b.amount, cur)}
  end

  def subtract(%__MODULE__{currency: left}, %__MODULE__{currency: right}) do
    {:error, {:currency_mismatch, left, right}}
  end

  @doc """
  Multiplies an amount by an integer or a float factor, rounding half away
  from zero.
  """
  @spec multiply(t(), number()) :: t()
  def multiply(%__MODULE__{amount: amount} = money, factor) when is_integer(factor) do
    %{money | amount: amount * factor}
  end

  def multiply(%__MODULE__{amount: amount} = money, factor) when is_float(factor) do
    %{money | amount: round(amount * factor)}
  end

  @doc """
  Converts money into another currency using `rate`.

  The rate is either a float or an exact `{numerator, denominator}` ratio
  expressed in major units (1 `from` = rate `to`). Exponents are taken into
  account, so converting USD cents to JPY yen does the right thing.
  """
  @spec convert(t(), Currency.code(), rate()) :: {:ok, t()} | {:error, atom()}
  def convert(%__MODULE__{currency: cur} = money, cur, _rate), do: {:ok, money}

  def convert(%__MODULE__{} = money, target, rate) do
    with {:ok, from_exp} <- Currency.fetch_exponent(money.currency),
         {:ok, to_exp} <- Currency.fetch_exponent(target),
         {:ok, amount} <- scale(money.amount, rate, to_exp - from_exp) do
      {:ok, new(amount, target)}
    end
  end

  @doc """
  Splits an amount according to integer `ratios` without losing a cent.

  Remainders are handed out one minor unit at a time, starting with the
  first share.

      iex> BillingService.Money.new(100, :USD)
      ...> |> BillingService.Money.allocate([1, 1, 1])
      ...> |> Enum.map(& &1.amount)
      [34, 33, 33]
  """
  @spec allocate(t(), [pos_integer()]) :: [t()]
  def allocate(%__MODULE__{amount: amount, currency: cur}, ratios) when ratios != [] do
    total = Enum.sum(ratios)
    shares = Enum.map(ratios, fn ratio -> div(amount * ratio, total) end)
    remainder = amount - Enum.sum(shares)

    shares
    |> Enum.with_index()
    |> Enum.map(fn {share, index} ->
      bonus = if index < remainder, do: 1, else: 0
      new(share + bonus, cur)
    end)
  end

  @spec compare(t(), t()) :: :lt | :eq | :gt
  def compare(%__MODULE__{currency: cur, amount: a}, %__MODULE__{currency: cur, amount: b}) do
    cond do
      a < b -> :lt
      a > b -> :gt
      true -> :eq
    end
  end

  @spec negative?(t()) :: boolean()
  def negative?(%__MODULE__{amount: amount}), do: amount < 0

  @spec zero?(t()) :: boolean()
  def zero?(%__MODULE__{amount: 0}), do: true
  def zero?(%__MODULE__{}), do: false

  @spec negate(t()) :: t()
  def negate(%__MODULE__{amount: amount} = money), do: %{money | amount: -amount}

  @spec abs_value(t()) :: t()
  def abs_value(%__MODULE__{amount: amount} = money), do: %{money | amount: abs(amount)}

  @doc """
  Renders the amount as a plain decimal string, e.g. `"-12.05"`.
  """
  @spec to_decimal_string(t()) :: String.t()
  def to_decimal_string(%__MODULE__{amount: amount, currency: cur}) do
    exponent = Currency.exponent(cur)
    sign = if amount < 0, do: "-", else: ""
    digits = amount |> abs() |> Integer.to_string()

    case exponent do
      0 ->
        sign <> digits

      exp ->
        padded = String.pad_leading(digits, exp + 1, "0")
        {whole, fraction} = String.split_at(padded, -exp)
        sign <> whole <> "." <> fraction
    end
  end

  defp build_from_parts([sign, whole], exponent, currency),
    do: build_from_parts([sign, whole, ""], exponent, currency)

  defp build_from_parts([sign, whole, fraction], exponent, currency)
       when byte_size(fraction) <= exponent do
    units = String.to_integer(whole <> String.pad_trailing(fraction, exponent, "0"))
    amount = if sign == "-", do: -units, else: units
    {:ok, new(amount, currency)}
  end

  defp build_from_parts(_parts, _exponent, _currency), do: {:error, :too_many_decimals}

  defp scale(amount, rate, exp_diff) when is_float(rate) and rate > 0 do
    {:ok, round(amount * rate * :math.pow(10, exp_diff))}
  end

  defp scale(amount, {num, den}, exp_diff) when num > 0 and den > 0 do
    {num, den} =
      if exp_diff >= 0,
        do: {num * pow10(exp_diff), den},
        else: {num, den * pow10(-exp_diff)}

    {:ok, round_div(amount * num, den)}
  end

  defp scale(_amount, _rate, _exp_diff), do: {:error, :invalid_rate}

  defp pow10(n), do: Integer.pow(10, n)

  defp round_div(numerator, denominator) do
    quotient = div(numerator, denominator)
    remainder = rem(numerator, denominator)

    cond do
      abs(remainder) * 2 < denominator -> quotient
      numerator >= 0 -> quotient + 1
      true -> quotient - 1
    end
  end
end
