defmodule BillingService.InsufficientFundsError do
  @moduledoc """
  Raised by `BillingService.Account.withdraw!/2` when a withdrawal would push
  an account below its overdraft limit.
  """

  alias BillingService.Money

  defexception [:account_id, :requested, :available]

  @type t :: %__MODULE__{
          account_id: String.t(),
          requested: Money.t(),
          available: Money.t()
        }

  @impl true
  def message(%__MODULE__{} = error) do
    "account #{error.account_id} cannot cover #{Money.to_decimal_string(error.requested)} " <>
      "#{error.requested.currency} (available: #{Money.to_decimal_string(error.available)})"
  end

  @doc """
  Builds the exception from the `{:error, reason}` tuple returned by
  `BillingService.Account.withdraw/2`.
  """
  @spec from_reason(String.t(), {:insufficient_funds, Money.t(), Money.t()}) :: t()
  def from_reason(account_id, {:insufficient_funds, requested, available}) do
    %__MODULE__{account_id: account_id, requested: requested, available: available}
  end
end
