defmodule EdgeGateway.Retry do
  @moduledoc """
  Retrying of flaky operations.

  The operation is a zero-arity function returning `{:ok, value}` or
  `{:error, reason}` (anything else is treated as a success value). Errors
  are retried according to a delay stream from `EdgeGateway.Backoff`
  until attempts run out or the error is deemed permanent.
  """

  require Logger

  alias EdgeGateway.Backoff

  @type result :: {:ok, term()} | {:error, term()}

  @default_opts [
    max_attempts: 4,
    base_delay_ms: 50,
    max_delay_ms: 2_000,
    jitter: :full
  ]

  @doc """
  Runs `fun`, retrying failures with exponential backoff.

  ## Options

    * `:max_attempts` - total attempts including the first (default 4)
    * `:base_delay_ms` / `:max_delay_ms` - backoff bounds
    * `:jitter` - `:full`, `{:proportional, ratio}` or `false`
    * `:retry_if` - predicate on the error reason; defaults to
      `retryable?/1`
    * `:sleep` - function used to wait, injectable for tests

  Returns the last error wrapped as `{:error, {:retries_exhausted, n, reason}}`
  when every attempt failed.
  """
  @spec retry_with_backoff((() -> result()), keyword()) :: result()
  def retry_with_backoff(fun, opts \\ []) when is_function(fun, 0) do
    opts = Keyword.merge(@default_opts, opts)
    retry_if = Keyword.get(opts, :retry_if, &retryable?/1)
    sleep = Keyword.get(opts, :sleep, &Process.sleep/1)

    opts
    |> delays()
    |> Stream.take(opts[:max_attempts] - 1)
    |> Stream.concat([:last])
    |> Enum.reduce_while({:error, :not_attempted, 0}, fn delay, {_, _, attempt} ->
      attempt = attempt + 1

      case normalize(fun.()) do
        {:ok, value} ->
          {:halt, {:ok, value}}

        {:error, reason} when delay == :last ->
          {:halt, {:error, {:retries_exhausted, attempt, reason}}}

        {:error, reason} ->
          if retry_if.(reason) do
            Logger.debug(
              "attempt #{attempt} failed with #{inspect(reason)}, retrying in #{delay}ms"
            )

            sleep.(delay)
            {:cont, {:error, reason, attempt}}
          else
            {:halt, {:error, reason}}
          end
      end
    end)
  end

  @doc """
  Default classification of transient errors.
  """
  @spec retryable?(term()) :: boolean()
  def retryable?(:timeout), do: true
  def retryable?(:econnrefused), do: true
  def retryable?(:closed), do: true
  def retryable?({:http_status, status}) when status in [408, 429, 502, 503, 504], do: true
  def retryable?({:http_status, _status}), do: false
  def retryable?(%{__exception__: true} = exception), do: retryable_exception?(exception)
  def retryable?(_reason), do: false

  defp retryable_exception?(%EdgeGateway.UpstreamError{retryable: retryable}), do: retryable
  defp retryable_exception?(_exception), do: false

  defp delays(opts) do
    base = Backoff.exponential(opts[:base_delay_ms], max: opts[:max_delay_ms])

    case opts[:jitter] do
      false -> base
      mode -> Backoff.jitter(base, mode)
    end
  end

  defp normalize({:ok, _} = ok), do: ok
  defp normalize({:error, _} = error), do: error
  defp normalize(:ok), do: {:ok, :ok}
  defp normalize(other), do: {:ok, other}
end
