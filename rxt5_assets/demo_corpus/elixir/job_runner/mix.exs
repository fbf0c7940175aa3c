defmodule JobRunner.MixProject do
  use Mix.Project

  @source_url "https://git.example.com/platform/job_runner"

  def project do
    [
      app: :job_runner,
      version: "0.9.1",
      elixir: "~> 1.14",
      start_permanent: Mix.env() == :prod,
      deps: deps(),
      source_url: @source_url,
      docs: [main: "JobRunner"]
    ]
  end

  def application do
    [
      mod: {JobRunner.Application, []},
      extra_applications: [:logger, :crypto]
    ]
  end

  defp deps, do: []
end
