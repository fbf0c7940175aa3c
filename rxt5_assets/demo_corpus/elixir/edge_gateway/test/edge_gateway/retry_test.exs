defmodule EdgeGateway.RetryTest do
  use ExUnit.Case, async: true

  alias EdgeGateway.{Backoff, Retry, UpstreamError}

  doctest EdgeGateway.Backoff

  setup do
    test_pid = self()
    %{sleep: fn ms -> send(test_pid, {:slept, ms}) end}
  end

  defp flaky(failures, error) do
    {:ok, counter} = Agent.start_link(fn -> 0 end)

    fn ->
      attempt = Agent.get_and_update(counter, &{&1 + 1, &1 + 1})
      if attempt <= failures, do: {:error, error}, else: {:ok, attempt}
    end
  end

  describe "retry_with_backoff/2" do
    test "returns the first success", %{sleep: sleep} do
      assert {:ok, 3} = Retry.retry_with_backoff(flaky(2, :timeout), sleep: sleep, jitter: false)
      assert_received {:slept, 50}
      assert_received {:slept, 100}
      refute_received {:slept, _}
    end

    test "gives up after max_attempts", %{sleep: sleep} do
      assert {:error, {:retries_exhausted, 3, :timeout}} =
               Retry.retry_with_backoff(flaky(10, :timeout), max_attempts: 3, sleep: sleep)
    end

    test "does not retry permanent errors", %{sleep: sleep} do
      assert {:error, {:http_status, 404}} =
               Retry.retry_with_backoff(flaky(1, {:http_status, 404}), sleep: sleep)

      refute_received {:slept, _}
    end

    test "honours a custom retry_if", %{sleep: sleep} do
      retry_if = fn reason -> reason == :busy end

      assert {:ok, 2} =
               Retry.retry_with_backoff(flaky(1, :busy), retry_if: retry_if, sleep: sleep)
    end

    test "treats bare values as success" do
      assert {:ok, :ok} = Retry.retry_with_backoff(fn -> :ok end)
      assert {:ok, 7} = Retry.retry_with_backoff(fn -> 7 end)
    end
  end

  describe "retryable?/1" do
    test "classifies HTTP statuses and exceptions" do
      assert Retry.retryable?({:http_status, 503})
      refute Retry.retryable?({:http_status, 400})
      assert Retry.retryable?(UpstreamError.exception(status: 502))
      refute Retry.retryable?(UpstreamError.exception(status: 500))
      refute Retry.retryable?(%RuntimeError{message: "nope"})
    end
  end

  describe "Backoff" do
    test "jitter stays within bounds" do
      delays = Backoff.exponential(100, max: 800) |> Backoff.jitter(:full) |> Enum.take(50)
      assert Enum.all?(delays, &(&1 in 0..800))
    end

    test "linear and constant schedules" do
      assert Backoff.linear(10, max: 25) |> Enum.take(4) == [10, 20, 25, 25]
      assert Backoff.constant(5) |> Enum.take(3) == [5, 5, 5]
    end

    test "decorrelated jitter respects the cap" do
      assert Backoff.decorrelated(10, 200) |> Enum.take(100) |> Enum.all?(&(&1 in 11..200))
    end
  end
end
