defmodule BillingService.MixProject do
  use Mix.Project

  @version "0.4.2"

  def project do
    [
      app: :billing_service,
      version: @version,
      elixir: "~> 1.14",
      start_permanent: Mix.env() == :prod,
      deps: deps(),
      description: "Money, accounts, invoices and a double-entry ledger"
    ]
  end

  def application do
    [
      extra_applications: [:logger, :crypto]
    ]
  end

  defp deps do
    []
  end
end
