defmodule BillingService.Account do
  @moduledoc """
  A customer account holding a balance in a single currency.

  Accounts are plain immutable structs; every operation returns a new
  account. Long-lived, concurrent access goes through
  `BillingService.AccountServer`.
  """

  alias BillingService.{InsufficientFundsError, Money}

  @enforce_keys [:id, :currency]
  defstruct [
    :id,
    :currency,
    :owner,
    balance: nil,
    overdraft_limit: 0,
    status: :active,
    history: []
  ]

  @type status :: :active | :frozen | :closed
  @type movement :: {:deposit | :withdrawal, Money.t()}

  @type t :: %__MODULE__{
          id: String.t(),
          currency: atom(),
          owner: String.t() | nil,
          balance: Money.t(),
          overdraft_limit: non_neg_integer(),
          status: status(),
          history: [movement()]
        }

  @doc """
  Opens a new, empty account.

  ## Options

    * `:owner` - free-form owner name
    * `:overdraft_limit` - how far (in minor units) the balance may go below zero
  """
  @spec open(String.t(), atom(), keyword()) :: t()
  def open(id, currency, opts \\ []) do
    %__MODULE__{
      id: id,
      currency: currency,
      owner: Keyword.get(opts, :owner),
      overdraft_limit: Keyword.get(opts, :overdraft_limit, 0),
      balance: Money.zero(currency)
    }
  end

  @doc """
  Current balance of the account.
  """
  @spec balance(t()) :: Money.t()
  def balance(%__MODULE__{balance: balance}), do: balance

  @doc """
  Amount that can still be withdrawn, including the overdraft allowance.
  """
  @spec available(t()) :: Money.t()
  def available(%__MODULE__{balance: balance, overdraft_limit: limit}) do
    %{balance | amount: balance.amount + limit}
  end

  @doc """
  Credits money to the account.
  """
  @spec deposit(t(), Money.t()) :: {:ok, t()} | {:error, term()}
  def deposit(%__MODULE__{status: :active} = account, %Money{amount: amount} = money)
      when amount > 0 do
    with {:ok, balance} <- Money.add(account.balance, money) do
      {:ok, record(account, balance, {:deposit, money})}
    end
  end

  def deposit(%__MODULE__{status: :active}, %Money{}), do: {:error, :non_positive_amount}
  def deposit(%__MODULE__{status: status}, _money), do: {:error, {:account_not_active, status}}

  @doc """
  Debits money from the account, honouring the overdraft limit.
  """
  @spec withdraw(t(), Money.t()) :: {:ok, t()} | {:error, term()}
  def withdraw(%__MODULE__{status: :active} = account, %Money{amount: amount} = money)
      when amount > 0 do
    available = available(account)

    with {:ok, balance} <- Money.subtract(account.balance, money),
         :ok <- ensure_covered(money, available) do
      {:ok, record(account, balance, {:withdrawal, money})}
    end
  end

  def withdraw(%__MODULE__{status: :active}, %Money{}), do: {:error, :non_positive_amount}
  def withdraw(%__MODULE__{status: status}, _money), do: {:error, {:account_not_active, status}}

  @doc """
  Same as `withdraw/2` but raises on failure.
  """
  @spec withdraw!(t(), Money.t()) :: t()
  def withdraw!(account, money) do
    case withdraw(account, money) do
      {:ok, account} ->
        account

      {:error, {:insufficient_funds, _, _} = reason} ->
        raise InsufficientFundsError.from_reason(account.id, reason)

      {:error, reason} ->
        raise ArgumentError, "withdrawal failed: #{inspect(reason)}"
    end
  end

  @spec freeze(t()) :: {:ok, t()} | {:error, :already_closed}
  def freeze(%__MODULE__{status: :closed}), do: {:error, :already_closed}
  def freeze(%__MODULE__{} = account), do: {:ok, %{account | status: :frozen}}

  @spec unfreeze(t()) :: {:ok, t()} | {:error, :not_frozen}
  def unfreeze(%__MODULE__{status: :frozen} = account), do: {:ok, %{account | status: :active}}
  def unfreeze(%__MODULE__{}), do: {:error, :not_frozen}

  @doc """
  Closes the account. Only accounts with a zero balance can be closed.
  """
  @spec close(t()) :: {:ok, t()} | {:error, :balance_not_zero}
  def close(%__MODULE__{balance: balance} = account) do
    if Money.zero?(balance) do
      {:ok, %{account | status: :closed}}
    else
      {:error, :balance_not_zero}
    end
  end

  @doc """
  Movements in chronological order (oldest first).
  """
  @spec statement(t()) :: [movement()]
  def statement(%__MODULE__{history: history}), do: Enum.reverse(history)

  @spec total_deposited(t()) :: Money.t()
  def total_deposited(%__MODULE__{history: history, currency: currency}) do
    history
    |> Enum.filter(&match?({:deposit, _}, &1))
    |> Enum.map(fn {:deposit, money} -> money.amount end)
    |> Enum.sum()
    |> Money.new(currency)
  end

  defp ensure_covered(%Money{amount: requested} = money, %Money{amount: available} = avail) do
    if requested <= available do
      :ok
    else
      {:error, {:insufficient_funds, money, avail}}
    end
  end

  defp record(account, balance, movement) do
    %{account | balance: balance, history: [movement | account.history]}
  end
end
