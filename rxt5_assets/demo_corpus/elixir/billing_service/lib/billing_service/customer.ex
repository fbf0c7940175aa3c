defmodule BillingService.Customer do
  @moduledoc """
  A billable customer, declared with `BillingService.Schema`.

  Customers are usually created from signup payloads:

      iex> {:ok, customer} =
      ...>   BillingService.Customer.cast(%{"id" => "cus_1", "email" => "ada@example.com"})
      iex> customer.currency
      :USD
  """

  use BillingService.Schema

  alias BillingService.{Account, Invoice}

  schema do
    field :id, :string, required: true
    field :email, :string, required: true
    field :name, :string
    field :currency, :currency, default: :USD
    field :tax_region, :string, default: "other"
    field :payment_terms_days, :integer, default: 30
    field :tax_exempt, :boolean, default: false
  end

  @type t :: %__MODULE__{
          id: String.t(),
          email: String.t(),
          name: String.t() | nil,
          currency: atom(),
          tax_region: String.t(),
          payment_terms_days: non_neg_integer(),
          tax_exempt: boolean()
        }

  @doc """
  Validates a customer beyond what the schema types check.
  """
  @spec validate(t()) :: {:ok, t()} | {:error, [{atom(), atom()}]}
  def validate(%__MODULE__{} = customer) do
    errors =
      [
        {:email, valid_email?(customer.email), :invalid_format},
        {:payment_terms_days, customer.payment_terms_days in 0..120, :out_of_range}
      ]
      |> Enum.reject(fn {_field, ok?, _reason} -> ok? end)
      |> Enum.map(fn {field, _ok?, reason} -> {field, reason} end)

    if errors == [], do: {:ok, customer}, else: {:error, errors}
  end

  @doc """
  Casts and validates in one step.
  """
  @spec build(map()) :: {:ok, t()} | {:error, [{atom(), term()}]}
  def build(params) do
    with {:ok, customer} <- cast(params) do
      validate(customer)
    end
  end

  @spec open_account(t()) :: Account.t()
  def open_account(%__MODULE__{} = customer) do
    Account.open("acct_" <> customer.id, customer.currency, owner: customer.name || customer.email)
  end

  @spec new_invoice(t(), String.t()) :: Invoice.t()
  def new_invoice(%__MODULE__{} = customer, invoice_id) do
    Invoice.new(invoice_id, customer.id, customer.currency)
  end

  defp valid_email?(email) when is_binary(email) do
    Regex.match?(~r/^[^@\s]+@[^@\s]+\.[^@\s]+$/, email)
  end

  defp valid_email?(_), do: false
end
