defmodule BillingService.PaymentGateway do
  @moduledoc """
  Behaviour for payment providers.

  The concrete adapter is chosen from configuration
  (`BillingService.Config.gateway_adapter`). Callers should use the
  functions in this module rather than calling an adapter directly, so
  that amounts are validated and results are normalised in one place.
  """

  alias BillingService.Money

  @type charge_id :: String.t()
  @type source :: String.t()
  @type failure :: :card_declined | :insufficient_funds | :timeout | {:gateway, term()}

  @doc """
  Charges `amount` to a tokenised payment `source`.
  """
  @callback charge(amount :: Money.t(), source :: source(), opts :: keyword()) ::
              {:ok, charge_id()} | {:error, failure()}

  @doc """
  Refunds all or part of an earlier charge.
  """
  @callback refund(charge_id :: charge_id(), amount :: Money.t()) ::
              {:ok, charge_id()} | {:error, failure()}

  @doc """
  Returns `true` if the adapter can process the given currency.
  """
  @callback supports_currency?(currency :: atom()) :: boolean()

  @optional_callbacks supports_currency?: 1

  @adapters %{sandbox: BillingService.PaymentGateway.Sandbox}

  @doc """
  Resolves the adapter module for a configured adapter name.
  """
  @spec adapter(atom()) :: {:ok, module()} | {:error, {:unknown_adapter, atom()}}
  def adapter(name) do
    case Map.fetch(@adapters, name) do
      {:ok, module} -> {:ok, module}
      :error -> {:error, {:unknown_adapter, name}}
    end
  end

  @doc """
  Charges through `adapter` after validating the amount.
  """
  @spec charge(module(), Money.t(), source(), keyword()) :: {:ok, charge_id()} | {:error, term()}
  def charge(adapter, %Money{} = amount, source, opts \\ []) do
    with :ok <- validate_amount(amount),
         :ok <- validate_currency(adapter, amount.currency) do
      adapter.charge(amount, source, opts)
    end
  end

  @spec refund(module(), charge_id(), Money.t()) :: {:ok, charge_id()} | {:error, term()}
  def refund(adapter, charge_id, %Money{} = amount) do
    with :ok <- validate_amount(amount) do
      adapter.refund(charge_id, amount)
    end
  end

  defp validate_amount(%Money{amount: amount}) when amount > 0, do: :ok
  defp validate_amount(%Money{}), do: {:error, :non_positive_amount}

  defp validate_currency(adapter, currency) do
    Code.ensure_loaded(adapter)

    cond do
      not function_exported?(adapter, :supports_currency?, 1) -> :ok
      adapter.supports_currency?(currency) -> :ok
      true -> {:error, {:unsupported_currency, currency}}
    end
  end
end
