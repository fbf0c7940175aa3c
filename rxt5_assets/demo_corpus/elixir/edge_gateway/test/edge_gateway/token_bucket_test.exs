defmodule EdgeGateway.TokenBucketTest do
  use ExUnit.Case, async: true

  alias EdgeGateway.{RateLimiter, TokenBucket}

  doctest EdgeGateway.TokenBucket

  describe "try_acquire/3" do
    setup do
      %{bucket: TokenBucket.new(5, 2, 0)}
    end

    test "allows a burst up to capacity", %{bucket: bucket} do
      bucket =
        Enum.reduce(1..5, bucket, fn _, acc ->
          assert {:ok, acc} = TokenBucket.try_acquire(acc, 1, 0)
          acc
        end)

      assert {:error, 500, _bucket} = TokenBucket.try_acquire(bucket, 1, 0)
    end

    test "refills over time", %{bucket: bucket} do
      {:ok, empty} = TokenBucket.try_acquire(bucket, 5, 0)
      assert {:error, _, _} = TokenBucket.try_acquire(empty, 1, 100)
      assert {:ok, _} = TokenBucket.try_acquire(empty, 1, 500)
      assert TokenBucket.available(empty, 1_000) == 2
    end

    test "never exceeds capacity", %{bucket: bucket} do
      assert TokenBucket.available(bucket, 1_000_000) == 5
    end

    test "rejects costs larger than the bucket", %{bucket: bucket} do
      assert_raise ArgumentError, fn -> TokenBucket.try_acquire(bucket, 6, 0) end
    end
  end

  describe "refill/2" do
    test "ignores clocks that go backwards" do
      bucket = TokenBucket.new(3, 1, 1_000)
      {:ok, bucket} = TokenBucket.try_acquire(bucket, 3, 1_000)
      assert TokenBucket.refill(bucket, 500) == bucket
    end
  end

  describe "RateLimiter" do
    setup do
      {:ok, clock} = Agent.start_link(fn -> 0 end)

      limiter =
        start_supervised!(
          {RateLimiter,
           name: nil, capacity: 2, refill_rate: 1, clock: fn -> Agent.get(clock, & &1) end}
        )

      %{limiter: limiter, clock: clock}
    end

    test "limits each key independently", %{limiter: limiter} do
      assert :ok = RateLimiter.try_acquire(limiter, "alice")
      assert :ok = RateLimiter.try_acquire(limiter, "alice")
      assert {:error, :rate_limited, 1_000} = RateLimiter.try_acquire(limiter, "alice")
      assert :ok = RateLimiter.try_acquire(limiter, "bob")
    end

    test "recovers once time passes", %{limiter: limiter, clock: clock} do
      :ok = RateLimiter.try_acquire(limiter, "alice", 2)
      Agent.update(clock, &(&1 + 1_000))
      assert RateLimiter.remaining(limiter, "alice") == 1
      assert :ok = RateLimiter.try_acquire(limiter, "alice")
    end

    test "sweeps buckets that have fully refilled", %{limiter: limiter, clock: clock} do
      :ok = RateLimiter.try_acquire(limiter, "alice")
      assert RateLimiter.bucket_count(limiter) == 1
      Agent.update(clock, &(&1 + 10_000))
      send(limiter, :sweep)
      assert RateLimiter.bucket_count(limiter) == 0
    end
  end
end
