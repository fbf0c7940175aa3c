defmodule EdgeGateway.MixProject do
  use Mix.Project

  def project do
    [
      app: :edge_gateway,
      version: "1.2.0",
      elixir: "~> 1.14",
      start_permanent: Mix.env() == :prod,
      deps: deps(),
      aliases: aliases()
    ]
  end

  def application do
    [
      mod: {EdgeGateway.Application, []},
      extra_applications: [:logger, :crypto]
    ]
  end

  defp deps, do: []

  defp aliases do
    [
      check: ["format --check-formatted", "compile --warnings-as-errors", "test"]
    ]
  end
end
