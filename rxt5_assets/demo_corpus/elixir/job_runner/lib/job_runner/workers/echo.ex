defmodule JobRunner.Workers.Echo do
  @moduledoc """
  Sends its arguments back to a process. Used in tests and smoke checks
  to observe that the pipeline runs end to end.

  Recognised args:

    * `:reply_to` - pid that receives `{:echo, args}`
    * `:fail_times` - fail this many attempts before succeeding (requires
      an `:attempt_counter` Agent)
    * `:sleep_ms` - sleep before replying, to exercise timeouts
  """

  use JobRunner.Worker, max_attempts: 3, timeout_ms: 1_000

  @impl true
  def perform(%{reply_to: pid} = args) when is_pid(pid) do
    args |> Map.get(:sleep_ms, 0) |> Process.sleep()

    case maybe_fail(args) do
      :ok ->
        send(pid, {:echo, Map.drop(args, [:reply_to, :attempt_counter])})
        {:ok, :echoed}

      {:error, _} = error ->
        error
    end
  end

  def perform(args), do: {:discard, {:missing_reply_to, args}}

  @impl true
  def backoff_ms(_attempt), do: 0

  defp maybe_fail(%{fail_times: times, attempt_counter: counter}) do
    attempt = Agent.get_and_update(counter, fn n -> {n + 1, n + 1} end)
    if attempt <= times, do: {:error, {:planned_failure, attempt}}, else: :ok
  end

  defp maybe_fail(_args), do: :ok
end
