defmodule EdgeGateway.TokenBucket do
  @moduledoc """
  A pure token bucket.

  The bucket holds up to `capacity` tokens and regains `refill_rate`
  tokens per second. Time is passed in explicitly (monotonic milliseconds)
  so the logic is deterministic and trivial to test; the stateful wrapper
  lives in `EdgeGateway.RateLimiter`.
  """

  @enforce_keys [:capacity, :refill_rate, :tokens, :updated_at]
  defstruct [:capacity, :refill_rate, :tokens, :updated_at]

  @type t :: %__MODULE__{
          capacity: pos_integer(),
          refill_rate: number(),
          tokens: float(),
          updated_at: integer()
        }

  @doc """
  Creates a full bucket.
  """
  @spec new(pos_integer(), number(), integer()) :: t()
  def new(capacity, refill_rate, now_ms \\ now())
      when is_integer(capacity) and capacity > 0 and is_number(refill_rate) and refill_rate > 0 do
    %__MODULE__{
      capacity: capacity,
      refill_rate: refill_rate,
      tokens: capacity * 1.0,
      updated_at: now_ms
    }
  end

  @doc """
  Adds the tokens accumulated since the last update, capped at capacity.
  Going back in time is treated as no time having passed.
  """
  @spec refill(t(), integer()) :: t()
  def refill(%__MODULE__{updated_at: last} = bucket, now_ms) when now_ms <= last, do: bucket

  def refill(%__MODULE__{} = bucket, now_ms) do
    elapsed_s = (now_ms - bucket.updated_at) / 1_000
    tokens = min(bucket.capacity * 1.0, bucket.tokens + elapsed_s * bucket.refill_rate)
    %{bucket | tokens: tokens, updated_at: now_ms}
  end

  @doc """
  Tries to take `cost` tokens.

  Returns `{:ok, bucket}` on success, or `{:error, retry_after_ms, bucket}`
  with the time until enough tokens will be available.

      iex> bucket = EdgeGateway.TokenBucket.new(2, 1, 0)
      iex> {:ok, bucket} = EdgeGateway.TokenBucket.try_acquire(bucket, 2, 0)
      iex> EdgeGateway.TokenBucket.try_acquire(bucket, 1, 0) |> elem(1)
      1000
  """
  @spec try_acquire(t(), pos_integer(), integer()) ::
          {:ok, t()} | {:error, non_neg_integer(), t()}
  def try_acquire(bucket, cost \\ 1, now_ms \\ now())

  def try_acquire(%__MODULE__{capacity: capacity}, cost, _now_ms) when cost > capacity do
    raise ArgumentError, "cost #{cost} exceeds bucket capacity #{capacity}"
  end

  def try_acquire(%__MODULE__{} = bucket, cost, now_ms) when is_integer(cost) and cost > 0 do
    bucket = refill(bucket, now_ms)

    if bucket.tokens >= cost do
      {:ok, %{bucket | tokens: bucket.tokens - cost}}
    else
      missing = cost - bucket.tokens
      {:error, ceil(missing / bucket.refill_rate * 1_000), bucket}
    end
  end

  @doc """
  Whole tokens currently available (after refilling to `now_ms`).
  """
  @spec available(t(), integer()) :: non_neg_integer()
  def available(%__MODULE__{} = bucket, now_ms \\ now()) do
    bucket |> refill(now_ms) |> Map.fetch!(:tokens) |> trunc()
  end

  @doc """
  True once the bucket has been idle long enough to be full again; such
  buckets can be dropped and recreated lazily.
  """
  @spec full?(t(), integer()) :: boolean()
  def full?(%__MODULE__{capacity: capacity} = bucket, now_ms) do
    refill(bucket, now_ms).tokens >= capacity
  end

  defp now, do: System.monotonic_time(:millisecond)
end
