defmodule EdgeGateway.CircuitBreakerTest do
  use ExUnit.Case, async: true

  alias EdgeGateway.CircuitBreaker

  setup do
    breaker = start_supervised!({CircuitBreaker, failure_threshold: 3, reset_timeout_ms: 50})
    %{breaker: breaker}
  end

  defp fail(breaker), do: CircuitBreaker.call(breaker, fn -> {:error, :boom} end)
  defp succeed(breaker), do: CircuitBreaker.call(breaker, fn -> {:ok, :fine} end)

  # The reset timeout is short but not exact under load, so poll instead
  # of sleeping a fixed amount.
  defp await_state(breaker, expected, attempts \\ 50) do
    case CircuitBreaker.state(breaker) do
      ^expected ->
        :ok

      _other when attempts > 0 ->
        Process.sleep(10)
        await_state(breaker, expected, attempts - 1)

      other ->
        flunk("breaker stayed #{other}, expected #{expected}")
    end
  end

  test "starts closed and passes results through", %{breaker: breaker} do
    assert CircuitBreaker.state(breaker) == :closed
    assert {:ok, :fine} = succeed(breaker)
    assert {:error, :boom} = fail(breaker)
  end

  test "opens after consecutive failures", %{breaker: breaker} do
    for _ <- 1..3, do: fail(breaker)
    assert CircuitBreaker.state(breaker) == :open
    assert {:error, :circuit_open} = succeed(breaker)
  end

  test "a success resets the failure count", %{breaker: breaker} do
    fail(breaker)
    fail(breaker)
    succeed(breaker)
    fail(breaker)
    assert CircuitBreaker.state(breaker) == :closed
  end

  test "half-opens after the reset timeout and closes on success", %{breaker: breaker} do
    for _ <- 1..3, do: CircuitBreaker.record_failure(breaker)
    assert CircuitBreaker.state(breaker) == :open

    :ok = await_state(breaker, :half_open)
    assert {:ok, :fine} = succeed(breaker)
    assert CircuitBreaker.state(breaker) == :closed
  end

  test "a failed trial call re-opens the circuit", %{breaker: breaker} do
    for _ <- 1..3, do: fail(breaker)
    :ok = await_state(breaker, :half_open)
    assert {:error, :boom} = fail(breaker)
    assert CircuitBreaker.state(breaker) == :open
  end

  test "exceptions count as failures and are re-raised", %{breaker: breaker} do
    for _ <- 1..3 do
      assert_raise RuntimeError, fn -> CircuitBreaker.call(breaker, fn -> raise "kaput" end) end
    end

    assert CircuitBreaker.state(breaker) == :open
  end

  test "reset/1 closes the circuit immediately", %{breaker: breaker} do
    for _ <- 1..3, do: fail(breaker)
    assert :ok = CircuitBreaker.reset(breaker)
    assert CircuitBreaker.state(breaker) == :closed
  end
end
