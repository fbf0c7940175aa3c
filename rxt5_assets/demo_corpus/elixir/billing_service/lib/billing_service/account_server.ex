defmodule BillingService.AccountServer do
  @moduledoc """
  Serialises access to a set of accounts.

  Each call is handled one at a time by the server process, which makes
  `transfer/4` atomic with respect to other callers without any locking.
  """

  use GenServer

  require Logger

  alias BillingService.{Account, Money}

  @type server :: GenServer.server()

  ## Client API

  @doc """
  Starts the server. Accepts `:name` and an optional list of `:accounts`.
  """
  @spec start_link(keyword()) :: GenServer.on_start()
  def start_link(opts \\ []) do
    {name, opts} = Keyword.pop(opts, :name, __MODULE__)
    GenServer.start_link(__MODULE__, opts, name: name)
  end

  @spec open_account(server(), String.t(), atom(), keyword()) ::
          {:ok, Account.t()} | {:error, :already_exists}
  def open_account(server, id, currency, opts \\ []) do
    GenServer.call(server, {:open, id, currency, opts})
  end

  @doc """
  Deposits into the account `id`.
  """
  @spec deposit(server(), String.t(), Money.t()) :: {:ok, Money.t()} | {:error, term()}
  def deposit(server \\ __MODULE__, id, money) do
    GenServer.call(server, {:deposit, id, money})
  end

  @doc """
  Withdraws from the account `id`.
  """
  @spec withdraw(server(), String.t(), Money.t()) :: {:ok, Money.t()} | {:error, term()}
  def withdraw(server \\ __MODULE__, id, money) do
    GenServer.call(server, {:withdraw, id, money})
  end

  @spec balance(server(), String.t()) :: {:ok, Money.t()} | {:error, :not_found}
  def balance(server \\ __MODULE__, id) do
    GenServer.call(server, {:balance, id})
  end

  @doc """
  Moves money between two accounts. Both accounts are updated or neither is.
  """
  @spec transfer(server(), String.t(), String.t(), Money.t()) :: :ok | {:error, term()}
  def transfer(server \\ __MODULE__, from_id, to_id, money) do
    GenServer.call(server, {:transfer, from_id, to_id, money})
  end

  ## Server callbacks

  @impl true
  def init(opts) do
    accounts =
      opts
      |> Keyword.get(:accounts, [])
      |> Map.new(fn %Account{id: id} = account -> {id, account} end)

    {:ok, %{accounts: accounts}}
  end

  @impl true
  def handle_call({:open, id, currency, opts}, _from, %{accounts: accounts} = state) do
    if Map.has_key?(accounts, id) do
      {:reply, {:error, :already_exists}, state}
    else
      account = Account.open(id, currency, opts)
      {:reply, {:ok, account}, put_in(state.accounts[id], account)}
    end
  end

  def handle_call({:deposit, id, money}, _from, state) do
    update_account(state, id, &Account.deposit(&1, money))
  end

  def handle_call({:withdraw, id, money}, _from, state) do
    update_account(state, id, &Account.withdraw(&1, money))
  end

  def handle_call({:balance, id}, _from, state) do
    reply =
      case Map.fetch(state.accounts, id) do
        {:ok, account} -> {:ok, Account.balance(account)}
        :error -> {:error, :not_found}
      end

    {:reply, reply, state}
  end

  def handle_call({:transfer, from_id, to_id, money}, _from, state) do
    with {:ok, from} <- fetch(state, from_id),
         {:ok, to} <- fetch(state, to_id),
         {:ok, from} <- Account.withdraw(from, money),
         {:ok, to} <- Account.deposit(to, money) do
      Logger.debug("transferred #{Money.to_decimal_string(money)} from #{from_id} to #{to_id}")
      accounts = state.accounts |> Map.put(from_id, from) |> Map.put(to_id, to)
      {:reply, :ok, %{state | accounts: accounts}}
    else
      {:error, reason} -> {:reply, {:error, reason}, state}
    end
  end

  @impl true
  def handle_info(message, state) do
    Logger.warning("#{inspect(__MODULE__)} ignoring unexpected message #{inspect(message)}")
    {:noreply, state}
  end

  defp fetch(%{accounts: accounts}, id) do
    case Map.fetch(accounts, id) do
      {:ok, account} -> {:ok, account}
      :error -> {:error, {:not_found, id}}
    end
  end

  defp update_account(state, id, fun) do
    with {:ok, account} <- fetch(state, id),
         {:ok, updated} <- fun.(account) do
      {:reply, {:ok, Account.balance(updated)}, put_in(state.accounts[id], updated)}
    else
      {:error, reason} -> {:reply, {:error, reason}, state}
    end
  end
end
