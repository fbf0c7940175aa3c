defmodule JobRunner.Job do
  @moduledoc """
  A unit of work: which worker module to run, with which arguments, and
  bookkeeping about previous attempts.

  Lower `priority` numbers run first (0 is the most urgent).
  """

  @enforce_keys [:id, :worker]
  defstruct [
    :id,
    :worker,
    :inserted_at,
    :scheduled_at,
    args: %{},
    queue: "default",
    priority: 5,
    attempt: 0,
    max_attempts: 3,
    state: :queued,
    errors: []
  ]

  @type state :: :queued | :running | :retrying | :succeeded | :dead | :cancelled
  @type error_entry :: %{attempt: pos_integer(), reason: term(), at: DateTime.t()}

  @type t :: %__MODULE__{
          id: String.t(),
          worker: module(),
          args: map(),
          queue: String.t(),
          priority: 0..9,
          attempt: non_neg_integer(),
          max_attempts: pos_integer(),
          state: state(),
          inserted_at: DateTime.t() | nil,
          scheduled_at: DateTime.t() | nil,
          errors: [error_entry()]
        }

  @doc """
  Builds a job for `worker`, validating options.

  `:max_attempts` defaults to the worker's own `max_attempts/0` when the
  worker defines one.
  """
  @spec new(module(), map(), keyword()) :: {:ok, t()} | {:error, term()}
  def new(worker, args \\ %{}, opts \\ []) do
    with :ok <- validate_worker(worker),
         :ok <- validate_args(args),
         {:ok, priority} <- validate_priority(Keyword.get(opts, :priority, 5)) do
      {:ok,
       %__MODULE__{
         id: Keyword.get_lazy(opts, :id, &generate_id/0),
         worker: worker,
         args: args,
         priority: priority,
         queue: Keyword.get(opts, :queue, "default"),
         max_attempts:
           Keyword.get_lazy(opts, :max_attempts, fn -> worker_max_attempts(worker) end),
         inserted_at: DateTime.utc_now(),
         scheduled_at: Keyword.get(opts, :scheduled_at)
       }}
    end
  end

  @doc """
  Records a failed attempt.
  """
  @spec record_error(t(), term(), DateTime.t()) :: t()
  def record_error(%__MODULE__{} = job, reason, at \\ DateTime.utc_now()) do
    %{job | errors: [%{attempt: job.attempt, reason: reason, at: at} | job.errors]}
  end

  @spec attempts_left?(t()) :: boolean()
  def attempts_left?(%__MODULE__{attempt: attempt, max_attempts: max}), do: attempt < max

  @spec due?(t(), DateTime.t()) :: boolean()
  def due?(%__MODULE__{scheduled_at: nil}, _now), do: true
  def due?(%__MODULE__{scheduled_at: at}, now), do: DateTime.compare(at, now) != :gt

  @spec last_error(t()) :: term() | nil
  def last_error(%__MODULE__{errors: [%{reason: reason} | _]}), do: reason
  def last_error(%__MODULE__{errors: []}), do: nil

  defp validate_worker(worker) when is_atom(worker) do
    if Code.ensure_loaded?(worker) and function_exported?(worker, :perform, 1) do
      :ok
    else
      {:error, {:invalid_worker, worker}}
    end
  end

  defp validate_worker(worker), do: {:error, {:invalid_worker, worker}}

  defp validate_args(args) when is_map(args), do: :ok
  defp validate_args(args), do: {:error, {:invalid_args, args}}

  defp validate_priority(priority) when priority in 0..9, do: {:ok, priority}
  defp validate_priority(priority), do: {:error, {:invalid_priority, priority}}

  defp worker_max_attempts(worker) do
    if function_exported?(worker, :max_attempts, 0), do: worker.max_attempts(), else: 3
  end

  defp generate_id do
    "job_" <> (:crypto.strong_rand_bytes(8) |> Base.encode32(case: :lower, padding: false))
  end
end
