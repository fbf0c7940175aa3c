defmodule JobRunner.RestartPolicy do
  @moduledoc """
  Decides whether a crashed worker should be restarted, and after how
  long.

  It mirrors OTP's restart intensity (`max_restarts` within `window_ms`)
  but adds a backoff delay between restarts, which plain supervisors do
  not offer. The policy is pure: callers keep the restart history and
  pass the current time in.
  """

  @derive {JobRunner.Serializable,
           only: [:mode, :max_restarts, :window_ms, :base_delay_ms, :max_delay_ms]}

  defstruct mode: :permanent,
            max_restarts: 5,
            window_ms: 60_000,
            base_delay_ms: 100,
            max_delay_ms: 10_000

  @type mode :: :permanent | :transient | :temporary
  @type history :: [integer()]
  @type decision ::
          {:restart, non_neg_integer(), history()} | :ignore | {:give_up, :max_restarts_exceeded}

  @type t :: %__MODULE__{
          mode: mode(),
          max_restarts: non_neg_integer(),
          window_ms: pos_integer(),
          base_delay_ms: non_neg_integer(),
          max_delay_ms: non_neg_integer()
        }

  @doc """
  Builds a policy from options, rejecting nonsensical values.
  """
  @spec new(keyword()) :: {:ok, t()} | {:error, {:invalid_option, atom(), term()}}
  def new(opts \\ []) do
    policy = struct(__MODULE__, opts)

    Enum.find_value(
      [
        {:mode, policy.mode in [:permanent, :transient, :temporary]},
        {:max_restarts, is_integer(policy.max_restarts) and policy.max_restarts >= 0},
        {:window_ms, is_integer(policy.window_ms) and policy.window_ms > 0},
        {:base_delay_ms, is_integer(policy.base_delay_ms) and policy.base_delay_ms >= 0},
        {:max_delay_ms,
         is_integer(policy.max_delay_ms) and policy.max_delay_ms >= policy.base_delay_ms}
      ],
      {:ok, policy},
      fn
        {_key, true} -> nil
        {key, false} -> {:error, {:invalid_option, key, Map.fetch!(policy, key)}}
      end
    )
  end

  @doc """
  Decides what to do about a process that exited with `reason`.

  `history` holds the timestamps (ms) of previous restarts, newest first.
  On `{:restart, delay, history}` the returned history already includes
  the new restart.
  """
  @spec decide(t(), term(), history(), integer()) :: decision()
  def decide(%__MODULE__{mode: :temporary}, _reason, _history, _now), do: :ignore

  def decide(%__MODULE__{mode: :transient}, reason, _history, _now)
      when reason in [:normal, :shutdown] or (is_tuple(reason) and elem(reason, 0) == :shutdown),
      do: :ignore

  def decide(%__MODULE__{} = policy, _reason, history, now) do
    recent = Enum.take_while(history, &(now - &1 < policy.window_ms))

    if length(recent) >= policy.max_restarts do
      {:give_up, :max_restarts_exceeded}
    else
      {:restart, delay(policy, length(recent)), [now | recent]}
    end
  end

  @doc """
  Delay before the `n`-th consecutive restart (0-based): exponential from
  `base_delay_ms`, capped at `max_delay_ms`.

      iex> policy = %JobRunner.RestartPolicy{base_delay_ms: 100, max_delay_ms: 1_000}
      iex> Enum.map(0..5, &JobRunner.RestartPolicy.delay(policy, &1))
      [100, 200, 400, 800, 1000, 1000]
  """
  @spec delay(t(), non_neg_integer()) :: non_neg_integer()
  def delay(%__MODULE__{base_delay_ms: 0}, _n), do: 0

  def delay(%__MODULE__{base_delay_ms: base, max_delay_ms: max}, n) when n >= 0 do
    min(base * Integer.pow(2, n), max)
  end

  @doc """
  Translates the policy into the `restart` value of a child spec.
  """
  @spec child_restart(t()) :: mode()
  def child_restart(%__MODULE__{mode: mode}), do: mode
end
