defmodule BillingService.PaymentGateway.Sandbox do
  @moduledoc """
  Deterministic gateway for development and tests.

  The outcome depends only on the payment source token:

    * `"tok_visa"` and `"tok_mastercard"` always succeed
    * `"tok_declined"` fails with `:card_declined`
    * `"tok_no_funds"` fails with `:insufficient_funds`
    * `"tok_timeout"` fails with `:timeout`

  Charge ids are derived from a hash of the inputs so repeated calls with
  the same arguments yield the same id.
  """

  @behaviour BillingService.PaymentGateway

  alias BillingService.Money

  @failures %{
    "tok_declined" => :card_declined,
    "tok_no_funds" => :insufficient_funds,
    "tok_timeout" => :timeout
  }

  @supported [:USD, :EUR, :GBP, :CHF]

  @impl true
  def charge(%Money{} = amount, source, opts) do
    case Map.fetch(@failures, source) do
      {:ok, reason} ->
        {:error, reason}

      :error when source in ["tok_visa", "tok_mastercard"] ->
        {:ok, charge_id("ch", [amount, source, Keyword.get(opts, :idempotency_key)])}

      :error ->
        {:error, {:gateway, {:unknown_source, source}}}
    end
  end

  @impl true
  def refund("ch_" <> _ = charge_id, %Money{} = amount) do
    {:ok, charge_id("re", [charge_id, amount])}
  end

  def refund(charge_id, _amount), do: {:error, {:gateway, {:unknown_charge, charge_id}}}

  @impl true
  def supports_currency?(currency), do: currency in @supported

  defp charge_id(prefix, parts) do
    digest =
      parts
      |> :erlang.term_to_binary()
      |> then(&:crypto.hash(:sha256, &1))
      |> Base.encode16(case: :lower)
      |> binary_part(0, 16)

    prefix <> "_" <> digest
  end
end
