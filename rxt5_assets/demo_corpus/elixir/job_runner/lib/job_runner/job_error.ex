defmodule JobRunner.JobError do
  @moduledoc """
  Describes why a job attempt failed. Workers may raise it directly, and
  the runner wraps non-exception failures in it for logging.
  """

  defexception [:job_id, :worker, :reason, attempt: 0]

  @type t :: %__MODULE__{
          job_id: String.t() | nil,
          worker: module() | nil,
          reason: term(),
          attempt: non_neg_integer()
        }

  @impl true
  def message(%__MODULE__{job_id: id, worker: worker, reason: reason, attempt: attempt}) do
    "job #{id || "?"} (#{inspect(worker)}) failed on attempt #{attempt}: #{format_reason(reason)}"
  end

  @doc """
  Wraps an arbitrary failure reason for a job.
  """
  @spec wrap(JobRunner.Job.t(), term()) :: t()
  def wrap(%JobRunner.Job{} = job, reason) do
    %__MODULE__{job_id: job.id, worker: job.worker, reason: reason, attempt: job.attempt}
  end

  defp format_reason(%{__exception__: true} = exception), do: Exception.message(exception)
  defp format_reason(:timeout), do: "timed out"
  defp format_reason(reason) when is_binary(reason), do: reason
  defp format_reason(reason), do: inspect(reason)
end
