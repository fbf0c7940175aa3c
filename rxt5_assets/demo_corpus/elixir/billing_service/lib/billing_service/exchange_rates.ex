defmodule BillingService.ExchangeRates do
  @moduledoc """
  An in-memory table of exchange rates backed by an `Agent`.

  Rates are stored one way (`{:EUR, :USD} => 1.08`); the inverse is derived
  on lookup. Converting between two currencies that are both quoted
  against a common base currency goes through that base.
  """

  use Agent

  alias BillingService.Money

  @type pair :: {atom(), atom()}
  @type rates :: %{pair() => float()}

  @doc """
  Starts the rate table.

  ## Options

    * `:name` - registered name, defaults to the module
    * `:rates` - initial rates map
    * `:base` - currency used for cross rates (default `:USD`)
  """
  @spec start_link(keyword()) :: Agent.on_start()
  def start_link(opts \\ []) do
    name = Keyword.get(opts, :name, __MODULE__)
    initial = %{rates: Keyword.get(opts, :rates, %{}), base: Keyword.get(opts, :base, :USD)}
    Agent.start_link(fn -> initial end, name: name)
  end

  @doc """
  Stores or replaces the rate for `from -> to`.
  """
  @spec put_rate(Agent.agent(), atom(), atom(), float()) :: :ok
  def put_rate(agent \\ __MODULE__, from, to, rate) when is_float(rate) and rate > 0 do
    Agent.update(agent, fn state -> put_in(state, [:rates, {from, to}], rate) end)
  end

  @doc """
  Looks up the rate for `from -> to`, trying the direct rate, the inverse
  and finally a cross rate through the base currency.
  """
  @spec get_rate(Agent.agent(), atom(), atom()) :: {:ok, float()} | {:error, {:no_rate, pair()}}
  def get_rate(agent \\ __MODULE__, from, to)

  def get_rate(_agent, same, same), do: {:ok, 1.0}

  def get_rate(agent, from, to) do
    Agent.get(agent, fn %{rates: rates, base: base} -> resolve(rates, base, from, to) end)
  end

  @doc """
  Converts `money` into `target` using the current table.
  """
  @spec convert(Agent.agent(), Money.t(), atom()) :: {:ok, Money.t()} | {:error, term()}
  def convert(agent \\ __MODULE__, %Money{} = money, target) do
    with {:ok, rate} <- get_rate(agent, money.currency, target) do
      Money.convert(money, target, rate)
    end
  end

  @spec all(Agent.agent()) :: rates()
  def all(agent \\ __MODULE__), do: Agent.get(agent, & &1.rates)

  @spec replace_all(Agent.agent(), rates()) :: :ok
  def replace_all(agent \\ __MODULE__, rates) when is_map(rates) do
    Agent.update(agent, &%{&1 | rates: rates})
  end

  defp resolve(rates, base, from, to) do
    case direct(rates, from, to) do
      {:ok, rate} -> {:ok, rate}
      :error -> cross(rates, base, from, to)
    end
  end

  defp cross(rates, base, from, to) do
    with {:ok, to_base} <- direct(rates, from, base),
         {:ok, from_base} <- direct(rates, base, to) do
      {:ok, to_base * from_base}
    else
      :error -> {:error, {:no_rate, {from, to}}}
    end
  end

  defp direct(_rates, same, same), do: {:ok, 1.0}

  defp direct(rates, from, to) do
    case rates do
      %{{^from, ^to} => rate} -> {:ok, rate}
      %{{^to, ^from} => rate} -> {:ok, 1.0 / rate}
      _ -> :error
    end
  end
end
