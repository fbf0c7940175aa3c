defmodule EdgeGateway.Upstream.Static do
  @moduledoc """
  An upstream that answers from a fixed table of responses.

  Useful for health checks, maintenance pages and tests:

      opts = [
        name: "maintenance",
        responses: %{
          {"GET", "/status"} => %{status: 200, headers: [], body: "ok"}
        },
        fallback: {:error, :timeout}
      ]

  A response value may also be a function of the request, which lets tests
  simulate flaky backends.
  """

  @behaviour EdgeGateway.Upstream

  @not_found %{status: 404, headers: [{"content-type", "text/plain"}], body: "no static route"}

  @impl true
  def request(%{method: method, path: path} = request, opts) do
    responses = Keyword.get(opts, :responses, %{})

    case Map.fetch(responses, {method, path}) do
      {:ok, fun} when is_function(fun, 1) -> normalize(fun.(request))
      {:ok, response} -> normalize(response)
      :error -> Keyword.get(opts, :fallback, {:ok, @not_found})
    end
  end

  @impl true
  def name(opts), do: Keyword.get(opts, :name, "static")

  defp normalize({:ok, %{status: _} = response}), do: {:ok, with_defaults(response)}
  defp normalize({:error, _reason} = error), do: error
  defp normalize(%{status: _} = response), do: {:ok, with_defaults(response)}

  defp with_defaults(response) do
    Map.merge(%{headers: [], body: ""}, response)
  end
end
