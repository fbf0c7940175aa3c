defprotocol BillingService.Formattable do
  @moduledoc """
  Human-readable rendering for billing values, used in e-mails, PDFs and
  log lines.
  """

  @fallback_to_any true

  @doc "Returns a display string for `value`."
  @spec format(t()) :: String.t()
  def format(value)
end

defimpl BillingService.Formattable, for: BillingService.Money do
  alias BillingService.{Currency, Money}

  def format(%Money{currency: currency} = money) do
    decimal = money |> Money.abs_value() |> Money.to_decimal_string() |> group_thousands()
    sign = if Money.negative?(money), do: "-", else: ""
    sign <> Currency.symbol(currency) <> decimal
  end

  defp group_thousands(decimal) do
    {whole, fraction} =
      case String.split(decimal, ".", parts: 2) do
        [whole, fraction] -> {whole, "." <> fraction}
        [whole] -> {whole, ""}
      end

    grouped =
      whole
      |> String.graphemes()
      |> Enum.reverse()
      |> Enum.chunk_every(3)
      |> Enum.map_join(",", &Enum.join/1)
      |> String.reverse()

    grouped <> fraction
  end
end

defimpl BillingService.Formattable, for: BillingService.Invoice do
  alias BillingService.{Formattable, Invoice}

  def format(%Invoice{} = invoice) do
    total =
      case Invoice.total(invoice) do
        {:ok, money} -> Formattable.format(money)
        {:error, _} -> "n/a"
      end

    "Invoice #{invoice.id} (#{invoice.status}) for #{invoice.customer_id}: #{total}"
  end
end

defimpl BillingService.Formattable, for: Any do
  def format(value), do: inspect(value)
end
