defmodule BillingService.Invoice do
  @moduledoc """
  Invoices move through a small lifecycle:

      :draft --issue--> :issued --mark_paid--> :paid
         \\                 \\
          `----void-------`-----void-----> :void

  Line items and discounts can only be changed while the invoice is a
  draft. Totals are always recomputed from the line items.
  """

  alias BillingService.{LineItem, Money}

  @enforce_keys [:id, :customer_id, :currency]
  defstruct [
    :id,
    :customer_id,
    :currency,
    :discount,
    :issued_on,
    :due_on,
    :paid_at,
    line_items: [],
    status: :draft
  ]

  @type status :: :draft | :issued | :paid | :void
  @type discount :: {:percent, 0..100} | {:fixed, Money.t()} | nil

  @type t :: %__MODULE__{
          id: String.t(),
          customer_id: String.t(),
          currency: atom(),
          discount: discount(),
          issued_on: Date.t() | nil,
          due_on: Date.t() | nil,
          paid_at: DateTime.t() | nil,
          line_items: [LineItem.t()],
          status: status()
        }

  @spec new(String.t(), String.t(), atom()) :: t()
  def new(id, customer_id, currency) do
    %__MODULE__{id: id, customer_id: customer_id, currency: currency}
  end

  @doc """
  Appends a line item. The item must be priced in the invoice currency.
  """
  @spec add_line_item(t(), LineItem.t()) :: {:ok, t()} | {:error, term()}
  def add_line_item(
        %__MODULE__{status: :draft, currency: cur} = invoice,
        %LineItem{unit_price: %Money{currency: cur}} = item
      ) do
    {:ok, %{invoice | line_items: invoice.line_items ++ [item]}}
  end

  def add_line_item(%__MODULE__{status: :draft}, %LineItem{}), do: {:error, :currency_mismatch}
  def add_line_item(%__MODULE__{status: status}, _item), do: {:error, {:not_editable, status}}

  @doc """
  Sum of the net (pre-tax) amounts of every line.
  """
  @spec subtotal(t()) :: Money.t()
  def subtotal(%__MODULE__{line_items: items, currency: cur}) do
    sum_lines(items, cur, &LineItem.net/1)
  end

  @spec tax_total(t()) :: Money.t()
  def tax_total(%__MODULE__{line_items: items, currency: cur}) do
    sum_lines(items, cur, &LineItem.tax/1)
  end

  @doc """
  Grand total: net plus tax, minus the discount, never below zero.
  """
  @spec total(t()) :: {:ok, Money.t()} | {:error, term()}
  def total(%__MODULE__{} = invoice) do
    with {:ok, gross} <- Money.add(subtotal(invoice), tax_total(invoice)),
         {:ok, discount} <- discount_amount(invoice.discount, gross),
         {:ok, total} <- Money.subtract(gross, discount) do
      {:ok, %{total | amount: max(total.amount, 0)}}
    end
  end

  @doc """
  Sets the discount on a draft invoice.

  Accepts `{:percent, 0..100}` or `{:fixed, money}`. A later call replaces
  the earlier discount instead of stacking.
  """
  @spec apply_discount(t(), discount()) :: {:ok, t()} | {:error, term()}
  def apply_discount(%__MODULE__{status: status}, _discount) when status != :draft do
    {:error, {:not_editable, status}}
  end

  def apply_discount(%__MODULE__{} = invoice, {:percent, pct} = discount)
      when is_integer(pct) and pct >= 0 and pct <= 100 do
    {:ok, %{invoice | discount: discount}}
  end

  def apply_discount(
        %__MODULE__{currency: cur} = invoice,
        {:fixed, %Money{currency: cur, amount: amount}} = discount
      )
      when amount >= 0 do
    {:ok, %{invoice | discount: discount}}
  end

  def apply_discount(%__MODULE__{}, nil = _clear), do: {:error, :use_clear_discount}
  def apply_discount(%__MODULE__{}, discount), do: {:error, {:invalid_discount, discount}}

  @spec clear_discount(t()) :: t()
  def clear_discount(%__MODULE__{status: :draft} = invoice), do: %{invoice | discount: nil}

  @doc """
  Issues a draft invoice with payment terms of `terms_days` days.
  """
  @spec issue(t(), Date.t(), non_neg_integer()) :: {:ok, t()} | {:error, term()}
  def issue(invoice, issued_on, terms_days \\ 30)

  def issue(%__MODULE__{status: :draft, line_items: []}, _issued_on, _terms),
    do: {:error, :empty_invoice}

  def issue(%__MODULE__{status: :draft} = invoice, %Date{} = issued_on, terms_days) do
    {:ok,
     %{invoice | status: :issued, issued_on: issued_on, due_on: Date.add(issued_on, terms_days)}}
  end

  def issue(%__MODULE__{status: status}, _issued_on, _terms),
    do: {:error, {:invalid_transition, status, :issued}}

  @doc """
  Marks an issued invoice as paid at `paid_at`.
  """
  @spec mark_paid(t(), DateTime.t()) :: {:ok, t()} | {:error, term()}
  def mark_paid(%__MODULE__{status: :issued} = invoice, %DateTime{} = paid_at) do
    {:ok, %{invoice | status: :paid, paid_at: paid_at}}
  end

  def mark_paid(%__MODULE__{status: :paid}, _paid_at), do: {:error, :already_paid}

  def mark_paid(%__MODULE__{status: status}, _paid_at),
    do: {:error, {:invalid_transition, status, :paid}}

  @spec void(t()) :: {:ok, t()} | {:error, term()}
  def void(%__MODULE__{status: status} = invoice) when status in [:draft, :issued] do
    {:ok, %{invoice | status: :void}}
  end

  def void(%__MODULE__{status: status}), do: {:error, {:invalid_transition, status, :void}}

  @doc """
  An invoice is overdue when it is issued, unpaid and past its due date.
  """
  @spec overdue?(t(), Date.t()) :: boolean()
  def overdue?(%__MODULE__{status: :issued, due_on: %Date{} = due_on}, %Date{} = today) do
    Date.compare(today, due_on) == :gt
  end

  def overdue?(%__MODULE__{}, _today), do: false

  defp discount_amount(nil, gross), do: {:ok, Money.zero(gross.currency)}
  defp discount_amount({:fixed, money}, _gross), do: {:ok, money}

  defp discount_amount({:percent, pct}, %Money{amount: amount} = gross) do
    {:ok, %{gross | amount: div(amount * pct, 100)}}
  end

  defp sum_lines(items, currency, fun) do
    items
    |> Enum.map(fun)
    |> Enum.reduce(Money.zero(currency), &Money.add!(&2, &1))
  end
end
