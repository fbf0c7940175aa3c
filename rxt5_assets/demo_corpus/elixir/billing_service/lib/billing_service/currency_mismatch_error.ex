defmodule BillingService.CurrencyMismatchError do
  @moduledoc """
  Raised by the bang variants of `BillingService.Money` when two amounts in
  different currencies are combined.
  """

  defexception [:left, :right, :operation]

  @type t :: %__MODULE__{left: atom(), right: atom(), operation: atom() | nil}

  @impl true
  def message(%__MODULE__{left: left, right: right, operation: nil}) do
    "cannot combine #{left} with #{right}"
  end

  def message(%__MODULE__{left: left, right: right, operation: operation}) do
    "cannot #{operation} #{left} and #{right}: convert one side first"
  end
end
