defmodule EdgeGateway.UpstreamError do
  @moduledoc """
  Raised (or returned inside `{:error, exception}`) when an upstream
  service misbehaves. `retryable` tells `EdgeGateway.Retry` whether
  trying again could help.
  """

  defexception [:upstream, :status, :reason, retryable: false]

  @type t :: %__MODULE__{
          upstream: String.t() | nil,
          status: non_neg_integer() | nil,
          reason: term(),
          retryable: boolean()
        }

  @impl true
  def exception(opts) do
    status = Keyword.get(opts, :status)

    %__MODULE__{
      upstream: Keyword.get(opts, :upstream),
      status: status,
      reason: Keyword.get(opts, :reason),
      retryable: Keyword.get_lazy(opts, :retryable, fn -> retryable_status?(status) end)
    }
  end

  @impl true
  def message(%__MODULE__{upstream: upstream, status: nil, reason: reason}) do
    "upstream #{upstream || "unknown"} failed: #{inspect(reason)}"
  end

  def message(%__MODULE__{upstream: upstream, status: status}) do
    "upstream #{upstream || "unknown"} responded with HTTP #{status}"
  end

  defp retryable_status?(status) when status in [502, 503, 504], do: true
  defp retryable_status?(_status), do: false
end
